"""Run `minigumbel bench` and print its figures as the markdown tables of the README's performance
section, each under the exact command that produced it.

    python benchmarks/performance_table.py                     # NumPy, against torch and jax if installed
    python benchmarks/performance_table.py --backend cupy      # on a GPU, against torch (CUDA)
    python benchmarks/performance_table.py --from-json a.json  # tables from a saved `bench --save` file

Figures from one invocation are comparable with each other (the bench interleaves its cases);
figures from different invocations, days or machines are not.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import subprocess
import sys
import tempfile


def run_bench(args: list[str]) -> tuple[str, dict]:
    with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
        cmd = ["minigumbel", "bench", *args]
        subprocess.run([sys.executable, "-m", "cli.main", "bench", *args, "--save", tmp.name, "--quiet"],
                       check=True, stdout=subprocess.DEVNULL)
        return " ".join(shlex.quote(c) for c in cmd), json.load(open(tmp.name))


def _cell(case: dict | None) -> str:
    if not case:
        return "–"
    if "error" in case:
        return "error"
    return f"{case['median_ms']:.3g} ({case['min_ms']:.3g}–{case['max_ms']:.3g})"


def tables(command: str, d: dict) -> str:
    env, cfg = d["environment"], d["config"]
    out = [f"`{command}`", "",
           f"{env['cpus']} CPUs, NumPy {env['numpy']}, BLAS {env['blas'].get('name')} "
           f"(threads: {env['blas'].get('threads')}), fused helpers on {env['fast_threads']} threads"
           + (f", GPU {env['gpu']['name']}" if "gpu" in env else "")
           + (f"; other processes kept {d['background_load_cpus']:.2f} CPUs busy on average." if d.get('background_load_cpus') is not None else "."), ""]
    rows = d.get("gumbel_softmax", [])
    if rows:
        names = [n for n in ("fused", "fused-exact", "fused-1t", "reference", "unavoidable", "torch", "jax")
                 if any(n in r["cases"] for r in rows)]
        out.append(f"Gumbel-Softmax forward + backward, {cfg['dtype']}, τ = {cfg['tau']:g}: median ms (min–max) "
                   f"of {cfg['repeats']} runs, and the ratio fused / other.")
        out.append("")
        out.append("| size | " + " | ".join(names) + " | " + " | ".join(f"fused / {n}" for n in names[1:]) + " |")
        out.append("|---" * (1 + 2 * len(names) - 1) + "|")
        for r in rows:
            c = r["cases"]
            ratios = [f"{c['fused']['median_ms'] / c[n]['median_ms']:.2f}" if "median_ms" in c.get(n, {}) else "–"
                      for n in names[1:]]
            out.append(f"| {r['shape'][0]}×{r['shape'][1]} | " + " | ".join(_cell(c.get(n)) for n in names)
                       + " | " + " | ".join(ratios) + " |")
        out.append("")
        for r in rows:
            if "bandwidth" in r:
                bw = r["bandwidth"]
                peak = f"{100 * bw['fraction_of_peak']:.0f}% of peak, " if bw.get("fraction_of_peak") else ""
                out.append(f"- {r['shape'][0]}×{r['shape'][1]}: fused moves {bw['bytes'] / 1e6:.0f} MB "
                           f"at {bw['achieved_GBps']:.0f} GB/s ({peak}{100 * bw['fraction_of_copy']:.0f}% "
                           f"of a device copy's {bw['copy_GBps']:.0f} GB/s)")
        out.append("")
    ts = d.get("train_step", {}).get("cases")
    if ts:
        out += [f"One training step ({d['train_step']['config']}): median ms (min–max).", "",
                "| " + " | ".join(ts) + " |", "|---" * len(ts) + "|",
                "| " + " | ".join(_cell(v) for v in ts.values()) + " |", ""]
    if d.get("startup"):
        st = d["startup"]
        out += [f"`minigumbel --help`: median {st['median_ms']:.0f} ms (min {st['min_ms']:.0f}, max {st['max_ms']:.0f}).", ""]
    if d.get("targets"):
        out += ["| target | measured | limit | |", "|---|---|---|---|"]
        out += [f"| {t['name']} | {t['value']:.3g} | {t['limit']} | {'met' if t['met'] else '**not met**'} |"
                for t in d["targets"]]
        out.append("")
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="numpy", choices=["numpy", "cupy"])
    p.add_argument("--repeats", default="20")
    p.add_argument("--from-json", nargs="*", default=None)
    a = p.parse_args()
    if a.from_json:
        for path in a.from_json:
            print(tables(f"(from {path})", json.load(open(path))), "\n")
        return
    libs = ["torch"] + (["jax"] if a.backend == "numpy" and importlib.util.find_spec("jax") else [])
    libs = [lib for lib in libs if importlib.util.find_spec(lib)]
    against = ["--against", ",".join(libs)] if libs else []
    runs = [["--backend", a.backend, *against, "--repeats", a.repeats],
            ["--backend", a.backend, "--parts", "gumbel", "--sizes", "4096x1024" if a.backend == "numpy" else "65536x1024",
             "--tau", "0.5", *against, "--repeats", a.repeats]]
    for args in runs:
        print(tables(*run_bench(args)), "\n")


if __name__ == "__main__":
    main()
