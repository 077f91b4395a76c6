#!/bin/sh
# Train the runs behind the VAE tables of docs/vae.md and print the tables.
#
#   sh docs/vae/run_table.sh OUT.jsonl              train every run from scratch into a new file
#   sh docs/vae/run_table.sh --continue OUT.jsonl   keep the runs already in OUT.jsonl and train
#                                                   only the missing ones (an interrupted run)
#
# The grid: 10 seeds x 2 inits (he, torch) x 9 estimator settings of the reference setup
# (docs/vae.md), 180 runs, each `minigumbel sweep` appending one JSON line per finished run.
# CPU time is about 11 s per run (gumbel-rao and reinforce with 4 codes: about twice that), so
# 20-25 minutes with --workers 2 on an otherwise idle 2-core machine; WORKERS=N changes it.
#
# To re-summarize existing runs without training:  python docs/vae/table.py docs/vae/runs.jsonl
set -e
case "$1" in
    -h|--help) sed -n '2,15p' "$0"; exit 0;;
    --continue) out=${2:?usage: sh docs/vae/run_table.sh --continue OUT.jsonl}
        [ -e "$out" ] || { echo "run_table.sh: $out does not exist" >&2; exit 2; }
        echo "run_table.sh: continuing $out: its $(grep -c . "$out") runs are kept, not retrained" >&2;;
    *) out=${1:?usage: sh docs/vae/run_table.sh OUT.jsonl (a new file)}
        if [ -e "$out" ]; then
            echo "run_table.sh: $out exists; give a new file to train from scratch," >&2
            echo "--continue $out to add the missing runs, or python docs/vae/table.py $out to summarize it" >&2
            exit 2
        fi;;
esac
grid="--task vae --grid init=he,torch --seeds 10 --workers ${WORKERS:-2} -q --out $out"
minigumbel sweep $grid --grid estimator=gumbel,st-gumbel > /dev/null
minigumbel sweep $grid --estimator reinforce --baseline running > /dev/null
minigumbel sweep $grid --estimator gumbel-rao --gr-k 10 > /dev/null
minigumbel sweep $grid --estimator reinmax --tau-min 1 > /dev/null     # τ = 1 throughout
minigumbel sweep $grid --estimator reinmax > /dev/null                 # τ = max(0.5, exp(−3e-4 t)), as the others
minigumbel sweep $grid --estimator st > /dev/null
minigumbel sweep $grid --estimator reinforce --baseline loo --samples 4 > /dev/null
minigumbel sweep $grid --estimator softmax > /dev/null
python "$(dirname "$0")/table.py" "$out"
