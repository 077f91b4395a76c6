#!/bin/sh
# The runs behind the README's VAE table (3 seeds each, the reference setup; see README). Every run
# appends one JSON line to runs.jsonl; the same script again runs only what is missing.
set -e
cd "$(dirname "$0")"
minigumbel compare --task vae --estimators softmax,gumbel,st-gumbel,st,gumbel-rao --seeds 3 -q --out runs.jsonl
minigumbel compare --task vae --estimators reinforce --baseline running --seeds 3 -q --out runs.jsonl
minigumbel compare --task vae --estimators reinforce --baseline loo --samples 4 --seeds 3 -q --out runs.jsonl
minigumbel compare --task vae --estimators reinmax --tau-min 1 --seeds 3 -q --out runs.jsonl
