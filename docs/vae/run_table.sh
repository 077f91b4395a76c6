#!/bin/sh
# The runs behind the README's VAE table (3 seeds each, the reference setup; see README).
set -e
cd "$(dirname "$0")"
minigumbel compare --task vae --estimators softmax,gumbel,st-gumbel,st,gumbel-rao --seeds 3 -q --json > table_main.json
minigumbel compare --task vae --estimators reinforce --baseline running --seeds 3 -q --json > table_reinforce_running.json
minigumbel compare --task vae --estimators reinforce --baseline loo --samples 4 --seeds 3 -q --json > table_reinforce_loo.json
minigumbel compare --task vae --estimators reinmax --tau-min 1 --seeds 3 -q --json > table_reinmax.json
