"""Wall time of one sweep grid with --workers 1 and --workers N, in one invocation (ratios only
mean something within one invocation on a shared machine). Each arm is the real command in a
fresh process (start-up included), results kept nowhere; the arms alternate (1, N, N, 1, ...) so
a change in the machine's load hits both. Checks that both arms give the same numbers.

    python benchmarks/sweep_workers.py                    # the issue's grid: 3 estimators x 3 τ x 10 seeds
    python benchmarks/sweep_workers.py --rounds 2 --workers 2
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

GRID = ["--task", "bottleneck", "--grid", "estimator=softmax,gumbel,st-gumbel", "--grid", "tau=0.5,1,2",
        "--seeds", "10"]


def timed(workers, extra):
    cmd = [sys.executable, "-m", "minigumbel_cli.main", "sweep", *GRID, *extra, "--workers", str(workers),
           "--json", "-q"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - t0, json.loads(out)["results"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--rounds", type=int, default=1, help="pairs of runs per arm (order 1,N then N,1, ...)")
    p.add_argument("--steps", default=None, help="training steps per run [sweep's default: 1000]")
    a = p.parse_args()
    extra = ["--steps", a.steps] if a.steps else []
    times, results = {1: [], a.workers: []}, {}
    for r in range(a.rounds):
        order = (1, a.workers) if r % 2 == 0 else (a.workers, 1)
        for w in order:
            seconds, rows = timed(w, extra)
            times[w].append(seconds)
            results.setdefault(w, rows)
            print(f"round {r + 1}: --workers {w}: {seconds:.1f} s", flush=True)
    same = results[1] == results[a.workers]
    t1, tn = statistics.median(times[1]), statistics.median(times[a.workers])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"grid: {' '.join(GRID + extra)}")
    print(f"median wall time: --workers 1 {t1:.1f} s, --workers {a.workers} {tn:.1f} s; "
          f"ratio {tn / t1:.2f} (target <= 0.6 for 2 workers); same numbers: {same}; "
          f"1-min load average at the end: {load:.1f} on {os.cpu_count()} CPUs")
    if not same:
        sys.exit("the two arms gave different numbers")


if __name__ == "__main__":
    main()
