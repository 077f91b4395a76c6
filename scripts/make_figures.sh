#!/usr/bin/env bash
# Regenerate the committed figures under docs/figures/ (each deterministic given its seed).
#
#   scripts/make_figures.sh          # fast: temperature, leakage, estimators, estimators_cubic,
#                                    #   schedules, training, orders, sort_matrices, subset-estimators:
#                                    #   about 65 s of CPU (measured: 40 s user for the first six, 4.5 min
#                                    #   wall on a 2-core machine shared with other jobs; orders 14 s,
#                                    #   sort_matrices 6 s, subset-estimators 5 s)
#   scripts/make_figures.sh --all    # also vae_gradients_2x8 and vae_gradients_4x4 (5 VAE training
#                                    #   runs each plus every estimator at 5 checkpoints: 120 s of CPU
#                                    #   each) and vae (7 VAE runs of 3000 steps: 177 s of CPU);
#                                    #   about 7 min of CPU more (23-25 min wall each on the loaded machine)
#
# Needs the plot extra (pip install -e '.[plot]'); --all also the data extra (scikit-learn's digits).
# Each step prints the figure it wrote and how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
    "") all=0 ;;
    --all) all=1 ;;
    *) echo "usage: scripts/make_figures.sh [--all]" >&2; exit 2 ;;
esac
out=docs/figures
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
step() {                                  # step NAME COMMAND...: run, then report NAME and seconds
    local name=$1 t0=$SECONDS
    shift
    "$@"
    echo "$out/$name  ($((SECONDS - t0)) s)"
}

step temperature.png minigumbel plot temperature --seed 0 --out "$out/temperature.png" --quiet
step leakage.png minigumbel plot leakage --seed 0 --seeds 10 --out "$out/leakage.png" --quiet   # 3 estimators x 10 seeds x 1500 steps
step estimators.png minigumbel plot estimators --seed 0 --out "$out/estimators.png" --quiet
step estimators_cubic.png minigumbel plot estimators --seed 0 --problem cubic --out "$out/estimators_cubic.png" --quiet
step schedules.png minigumbel plot schedules --out "$out/schedules.png" --quiet
training() {
    minigumbel train --task argmax --estimator gumbel --tau 2 --anneal exp --eval-every 20 --seed 0 \
        --json "$tmp/run.json" --quiet > /dev/null
    minigumbel plot training --from "$tmp/run.json" --out "$out/training.png" --quiet
}
step training.png training
step orders.png minigumbel plot orders --seed 0 --out "$out/orders.png" --quiet                 # docs/orders.md
step sort_matrices.png minigumbel plot sort-matrices --seed 0 --out "$out/sort_matrices.png" --quiet
step subset-estimators.png minigumbel plot subset-estimators --seed 0 --out "$out/subset-estimators.png" --quiet  # docs/subsets.md
if [ "$all" = 1 ]; then
    vae_gradients() {                     # L latents, K classes: 5 training runs (seeds 0-4)
        minigumbel estimators --problem vae --latents "$1" --classes "$2" --tau 0.5,1 --seeds 5 --seed 0 \
            --json "$tmp/vae_$1x$2.json" --quiet > /dev/null
        minigumbel plot vae-gradients --from "$tmp/vae_$1x$2.json" --out "$out/vae_gradients_$1x$2.png" --quiet
    }
    step vae_gradients_2x8.png vae_gradients 2 8
    step vae_gradients_4x4.png vae_gradients 4 4
    step vae.png minigumbel plot vae --seed 0 --out "$out/vae.png" --quiet
fi
