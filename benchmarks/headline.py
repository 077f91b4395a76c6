"""The headline ratios, over several separate invocations of `minigumbel bench` (this machine is
noisy: one invocation's ratios can be off by 10-20%). Prints each run's ratios and their median.

    python benchmarks/headline.py --runs 5                       # NumPy, 4096x1024 float32, τ = 1
    python benchmarks/headline.py --runs 5 --tau 0.5
    python benchmarks/headline.py --runs 3 --backend cupy --size 65536x1024
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--backend", default="numpy")
    p.add_argument("--size", default="4096x1024")
    p.add_argument("--tau", default="1.0")
    p.add_argument("--repeats", default="20")
    a = p.parse_args()
    libs = [lib for lib in ("torch", "jax") if importlib.util.find_spec(lib)]
    if a.backend == "cupy":
        libs = [lib for lib in libs if lib == "torch"]
    args = ["bench", "--backend", a.backend, "--parts", "gumbel", "--sizes", a.size, "--tau", a.tau,
            "--repeats", a.repeats, "--json", "-"] + (["--against", ",".join(libs)] if libs else [])
    print("command: minigumbel " + " ".join(args))
    per_target: dict[str, list[float]] = {}
    for i in range(a.runs):
        out = subprocess.run([sys.executable, "-m", "minigumbel_cli.main", *args], check=True,
                             capture_output=True, text=True).stdout
        d = json.loads(out)
        row = {t["name"]: t["value"] for t in d["targets"]}
        for k, v in row.items():
            per_target.setdefault(k, []).append(v)
        cases = d["gumbel_softmax"][0]["cases"]
        times = ", ".join(f"{k} {v['median_ms']:.1f}" for k, v in cases.items() if "median_ms" in v)
        print(f"run {i + 1}: medians ms: {times}; other load {d['background_load_cpus']:.2f} CPUs")
    print("\n| target | " + " | ".join(f"run {i + 1}" for i in range(a.runs)) + " | median |")
    print("|---" * (a.runs + 2) + "|")
    for k, vals in per_target.items():
        print(f"| {k} | " + " | ".join(f"{v:.3g}" for v in vals) + f" | {statistics.median(vals):.3g} |")


if __name__ == "__main__":
    main()
