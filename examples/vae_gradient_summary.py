"""Summarize the VAE gradient lab: each estimator's cosine, bias, variance and MSE over training runs.

Reads the output of ``minigumbel estimators --problem vae --json PATH`` (several training runs: ``--seeds``)
and prints, per τ and estimator, the median and the range (min–max) over every (run, checkpoint)
from ``--from-step`` on (default 500: the trained model) of

- cos(mean estimate, exact ∇);
- bias/‖∇‖, and in how many of those cells the bias is detected (> 3 s.e.);
- variance/‖∇‖² and MSE/‖∇‖² of one estimate (MSE = bias² + variance);

then, per τ, the ratio of ``--focus``'s per-sample variance (default reinmax) to each other
noisy biased estimator's (not reinforce, unbiased; not softmax, variance 0) in the same cell, and the
estimator ranks by MSE in each cell, and in how many cells ``--focus`` has the higher cosine, the
lower bias and the lower MSE than each other (a paired comparison: same run, checkpoint and images).
Only ratios whose whole range is on one side of 1 say which is larger.
Last, the number n of estimates that must be averaged before ``--focus``'s MSE, bias² + variance/n,
falls below the other's: n* = (var_f − var_o) / (b²_o − b²_f), with b² = bias_norm² − variance/samples
(the squared bias norm of a mean of ``samples`` estimates carries variance/samples of noise).

    minigumbel estimators --problem vae --latents 2 --classes 8 --tau 0.5,1 --seeds 5 --json vae_2x8.json -q
    python examples/vae_gradient_summary.py vae_2x8.json
"""
from __future__ import annotations

import argparse
import json

import numpy as np


def summarize(result, from_step=500, focus="reinmax"):
    """{τ: {"rows": [(estimator, {quantity: (median, min, max)}, detected, cells)], "ratio": {other:
    (median, min, max)}, "mse_rank": {estimator: [ranks]}}} from an ``estimators --problem vae --json PATH`` result."""
    norm = {(run["seed"], s): n for run in result["runs"] for s, n in zip(result["steps"], run["exact_norm"])}
    cells = {}                                           # (τ, estimator) -> {(seed, step): row}
    for row in result["rows"]:
        if row["step"] >= from_step:
            cells.setdefault((row["tau"], row["estimator"]), {})[(row["seed"], row["step"])] = row
    out = {}
    for tau in sorted({t for t, _ in cells}):
        names = [e for t, e in cells if t == tau]
        rows = []
        for name in names:
            c = cells[(tau, name)]
            n = np.array([norm[key] for key in c])
            vals = {"cosine": np.array([r["cosine"] for r in c.values()]),
                    "bias/‖∇‖": np.array([r["bias_norm"] for r in c.values()]) / n,
                    "variance/‖∇‖²": np.array([r["variance"] for r in c.values()]) / n ** 2,
                    "MSE/‖∇‖²": np.array([r["mse"] for r in c.values()]) / n ** 2}
            detected = sum(r["bias_norm"] > 3 * r["bias_se"] for r in c.values())
            rows.append((name, {k: (np.median(v), v.min(), v.max()) for k, v in vals.items()}, detected, len(c)))
        ratio, break_even, wins = {}, {}, {}
        mine = cells.get((tau, focus))
        b2 = lambda r: r["bias_norm"] ** 2 - r["variance"] / result["samples"]     # noqa: E731
        if mine:
            for name in names:
                if name == focus or name.startswith(("reinforce", "softmax")):
                    continue
                other = cells[(tau, name)]
                r = np.array([mine[key]["variance"] / other[key]["variance"] for key in mine])
                ratio[name] = (np.median(r), r.min(), r.max())
                gain = np.array([b2(other[key]) - b2(mine[key]) for key in mine])
                cost = np.array([mine[key]["variance"] - other[key]["variance"] for key in mine])
                n_star = np.where(gain > 0, cost / np.where(gain > 0, gain, 1.0), np.inf)
                break_even[name] = (np.median(n_star), n_star.min(), n_star.max())
                wins[name] = tuple(sum(better(mine[key], other[key]) for key in mine) for better in (
                    lambda a, b: a["cosine"] > b["cosine"], lambda a, b: a["bias_norm"] < b["bias_norm"],
                    lambda a, b: a["mse"] < b["mse"]))
        keys = sorted(cells[(tau, names[0])])
        ranks = {name: [] for name in names}
        for key in keys:
            order = sorted(names, key=lambda e: cells[(tau, e)][key]["mse"])
            for i, name in enumerate(order):
                ranks[name].append(i + 1)
        out[tau] = {"rows": rows, "ratio": ratio, "break_even": break_even, "wins": wins, "mse_rank": ranks,
                    "cells": len(keys)}
    return out


def _n(v):
    return "never" if not np.isfinite(v) else f"{max(v, 0):.0f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("result", help="the output of `minigumbel estimators --problem vae --json PATH`")
    ap.add_argument("--from-step", type=int, default=500, help="only checkpoints from this step on")
    ap.add_argument("--focus", default="reinmax", help="the estimator whose variance is compared")
    args = ap.parse_args(argv)
    with open(args.result, encoding="utf-8") as fh:
        result = json.load(fh)
    seeds = result["seeds"]
    steps = [s for s in result["steps"] if s >= args.from_step]
    print(f"L = {result['latents']} × K = {result['classes']}, trained by {result['train_estimator']}, "
          f"{len(seeds)} runs (seeds {seeds[0]}–{seeds[-1]}), checkpoints {', '.join(map(str, steps))}: "
          f"median [min, max] over the {len(seeds) * len(steps)} (run, checkpoint) cells")
    for tau, s in summarize(result, args.from_step, args.focus).items():
        print(f"\nτ = {tau:g}")
        head = f"{'estimator':<17}{'cosine':>20}{'bias/‖∇‖':>20}{'detected':>10}{'variance/‖∇‖²':>22}{'MSE/‖∇‖²':>22}" \
               f"{'MSE rank':>10}"
        print(head)
        for name, q, detected, n in s["rows"]:
            cells = []
            for key, width, fmt in (("cosine", 20, ".2f"), ("bias/‖∇‖", 20, ".2f")):
                med, lo, hi = q[key]
                cells.append(f"{f'{med:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]':>{width}}")
            cells.append(f"{f'{detected}/{n}':>10}")
            for key in ("variance/‖∇‖²", "MSE/‖∇‖²"):
                med, lo, hi = q[key]
                cells.append(f"{f'{med:.3g} [{lo:.3g}, {hi:.3g}]':>22}")
            ranks = s["mse_rank"][name]
            cells.append(f"{f'{min(ranks)}–{max(ranks)}' if min(ranks) != max(ranks) else str(ranks[0]):>10}")
            print(f"{name:<17}" + "".join(cells))
        if s["ratio"]:
            print(f"{args.focus}'s variance / each other's, same cell: " + "; ".join(
                f"{name} {m:.1f} [{lo:.1f}, {hi:.1f}]" for name, (m, lo, hi) in s["ratio"].items()))
            print(f"cells where {args.focus} has the higher cosine / lower bias / lower MSE (of {s['cells']}): "
                  + "; ".join(f"{name} {c}/{b}/{m}" for name, (c, b, m) in s["wins"].items()))
            print(f"estimates to average before {args.focus}'s MSE is the lower, n*: " + "; ".join(
                f"{name} {_n(m)} [{_n(lo)}, {_n(hi)}]" for name, (m, lo, hi) in s["break_even"].items()))
    print("\nMSE rank: 1 = smallest MSE of one estimate in a cell (range over the cells).")


if __name__ == "__main__":
    main()
