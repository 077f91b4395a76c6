"""Wall time of one sweep grid with --workers 1 and --workers N, in one invocation (ratios only
mean something within one invocation on a shared machine). Each arm is the real command in a
fresh process (start-up included), results kept nowhere; the arms alternate (1, N, N, 1, ...) so
a change in the machine's load hits both. Checks that both arms give the same numbers.

    python benchmarks/sweep_workers.py                    # the issue's grid: 3 estimators x 3 τ x 10 seeds
    python benchmarks/sweep_workers.py --rounds 2 --workers 2
    python benchmarks/sweep_workers.py --pinned     # a third arm: --workers 1 with BLAS on one thread

`--workers 1` runs in this process with NumPy's default BLAS threads; the workers of `--workers N`
are pinned to one thread each. `--pinned` adds `--workers 1` under OPENBLAS_NUM_THREADS=1 etc.,
to tell the gain of N processes from the loss of BLAS threads on tiny matrices.
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


def timed(workers, extra, pinned=False):
    cmd = [sys.executable, "-m", "minigumbel_cli.main", "sweep", *GRID, *extra, "--workers", str(workers),
           "--json", "-q"]
    env = dict(os.environ)
    if pinned:
        from minigumbel.sweep import BLAS_VARS
        env.update({v: "1" for v in BLAS_VARS})
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return time.perf_counter() - t0, json.loads(out)["results"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--rounds", type=int, default=1, help="pairs of runs per arm (order 1,N then N,1, ...)")
    p.add_argument("--steps", default=None, help="training steps per run [sweep's default: 1000]")
    p.add_argument("--pinned", action="store_true", help="add the arm --workers 1 with BLAS on one thread")
    a = p.parse_args()
    extra = ["--steps", a.steps] if a.steps else []
    arms = [1, a.workers] + (["1 pinned"] if a.pinned else [])
    times, results = {arm: [] for arm in arms}, {}
    for r in range(a.rounds):
        for arm in (arms if r % 2 == 0 else arms[::-1]):
            w = 1 if arm == "1 pinned" else arm
            seconds, rows = timed(w, extra, pinned=arm == "1 pinned")
            times[arm].append(seconds)
            results.setdefault(arm, rows)
            print(f"round {r + 1}: --workers {arm}: {seconds:.1f} s", flush=True)
    same = all(results[arm] == results[1] for arm in arms)
    t1, tn = statistics.median(times[1]), statistics.median(times[a.workers])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"grid: {' '.join(GRID + extra)}")
    print(f"median wall time: --workers 1 {t1:.1f} s, --workers {a.workers} {tn:.1f} s; "
          f"ratio {tn / t1:.2f} (target <= 0.6 for 2 workers); same numbers: {same}; "
          f"1-min load average at the end: {load:.1f} on {os.cpu_count()} CPUs")
    if a.pinned:
        tp = statistics.median(times["1 pinned"])
        print(f"--workers 1 with BLAS on one thread: {tp:.1f} s; --workers {a.workers} / that: {tn / tp:.2f}")
    if not same:
        sys.exit("the two arms gave different numbers")


if __name__ == "__main__":
    main()
