#!/bin/sh
# Train the runs behind the VAE tables of docs/vae.md and print the tables.
#
#   sh docs/vae/run_table.sh OUT.jsonl
#
# trains every run (10 seeds x 2 inits x 9 estimator rows, the reference setup of docs/vae.md) into
# OUT.jsonl, which must not exist yet: the runs start from scratch. (A run of `minigumbel sweep`
# appends one line per finished run, so after Ctrl-C the same sweep commands resume the file; this
# script refuses an existing file so that it never merely re-summarizes old runs.) 180 runs, about
# 10 s each on one core: roughly 15-20 minutes with --workers 2.
#
# To re-summarize the committed runs without training:  python docs/vae/table.py docs/vae/runs.jsonl
set -e
out=${1:?usage: sh docs/vae/run_table.sh OUT.jsonl (a new file)}
case "$out" in -h|--help) sed -n '2,13p' "$0"; exit 0;; esac
if [ -e "$out" ]; then
    echo "run_table.sh: $out exists; give a new file to train from scratch" >&2
    echo "(to re-summarize existing runs: python docs/vae/table.py $out)" >&2
    exit 2
fi
w=${WORKERS:-2}
grid="--task vae --grid init=he,torch --seeds 10 --workers $w -q --out $out"
minigumbel sweep $grid --grid estimator=gumbel,st-gumbel > /dev/null
minigumbel sweep $grid --estimator reinforce --baseline running > /dev/null
minigumbel sweep $grid --grid estimator=st,gumbel-rao --gr-k 10 > /dev/null
minigumbel sweep $grid --estimator reinmax --tau-min 1 > /dev/null
minigumbel sweep $grid --estimator reinmax > /dev/null
minigumbel sweep $grid --estimator reinforce --baseline loo --samples 4 > /dev/null
minigumbel sweep $grid --estimator softmax > /dev/null
python "$(dirname "$0")/table.py" "$out"
