#!/usr/bin/env bash
# Regenerate the committed figures under docs/figures/ (each deterministic given its seed).
#   scripts/make_figures.sh            # about 20 s on 2 idle CPU cores (the leakage runs dominate)
# Needs the plot extra: pip install -e '.[plot]'
set -euo pipefail
cd "$(dirname "$0")/.."
out=docs/figures
mkdir -p "$out"
minigumbel plot temperature --seed 0 --out "$out/temperature.png" --quiet
minigumbel plot leakage --seed 0 --seeds 10 --out "$out/leakage.png" --quiet      # 3 estimators x 10 seeds x 1500 steps
minigumbel plot estimators --seed 0 --out "$out/estimators.png" --quiet
minigumbel plot estimators --seed 0 --problem cubic --out "$out/estimators_cubic.png" --quiet
minigumbel plot schedules --out "$out/schedules.png" --quiet
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
minigumbel train --task argmax --estimator gumbel --tau 2 --anneal exp --eval-every 20 --seed 0 \
    --json "$tmp/run.json" --quiet > /dev/null
minigumbel plot training --from "$tmp/run.json" --out "$out/training.png" --quiet
# the VAE gradient-quality figures (each a VAE training run plus the estimators at 5 checkpoints: minutes)
for lk in "2 8" "4 4"; do
    set -- $lk
    minigumbel estimators --problem vae --latents "$1" --classes "$2" --tau 0.5,1 --seed 0 --json "$tmp/vae_$1x$2.json" --quiet > /dev/null
    minigumbel plot vae-gradients --from "$tmp/vae_$1x$2.json" --out "$out/vae_gradients_$1x$2.png" --quiet
done
ls -l "$out"
