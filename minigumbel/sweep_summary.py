"""Robust summaries of a sweep, per grid cell: median, a distribution-free 95% interval for the
median, min–max, and how many seeds reach the task's target.

Why robust: a training run of the bottleneck task either finds the σ² floor or sits on a plateau
(two clusters sharing a code), and which seeds plateau depends on floating-point round-off
(GEMM summation order differs between CPUs and BLAS builds). A mean ± sd over 3 seeds moves with
one seed; the median over ≥ 10 seeds and the *count* of seeds reaching the target do not move much.

The interval for the median is the order-statistic (sign-test) interval [x_(j), x_(n+1−j)], with
j the largest index such that P(Bin(n, ½) < j) ≤ 2.5%; its coverage 1 − 2·P(Bin(n, ½) < j) is
≥ 95% for any continuous distribution (n = 10: [x_(2), x_(9)], 97.9%). Below n = 6 no such
interval exists, and [min, max] is given with its (lower) coverage.
"""
from __future__ import annotations

import math

__all__ = ["median_ci", "summarize", "metric_names"]


def median_ci(values, level=0.95) -> dict:
    """{"median", "lo", "hi", "coverage", "min", "max", "n", "values"} of finite numbers."""
    xs = sorted(float(v) for v in values)
    n = len(xs)
    if n == 0:
        return {"median": None, "lo": None, "hi": None, "coverage": None, "min": None, "max": None,
                "n": 0, "values": []}
    mid = n // 2
    median = xs[mid] if n % 2 else 0.5 * (xs[mid - 1] + xs[mid])
    tail = (1 - level) / 2
    below, j = 0.0, 0                       # below = P(Bin(n, ½) < j + 1) as j grows
    while j < n // 2:
        nxt = below + math.comb(n, j) / 2 ** n
        if nxt > tail:
            break
        below, j = nxt, j + 1
    j = max(j, 1)                           # j = 1: [min, max] (coverage 1 − 2^(1−n) when n < 6)
    coverage = 1 - 2 * sum(math.comb(n, i) for i in range(j)) / 2 ** n
    return {"median": median, "lo": xs[j - 1], "hi": xs[n - j], "coverage": coverage,
            "min": xs[0], "max": xs[-1], "n": n, "values": list(values)}


def _number(v):
    if isinstance(v, str):                  # non-finite numbers are stored as "inf", "-inf", "nan"
        return float(v)
    return v


def metric_names(records) -> list[str]:
    """The metrics the runs returned (first-seen order), then hard/soft ratios where a metric
    named with 'hard' has a twin named with 'soft' (hard_loss/soft_loss; test_nelbo_hard/..._soft)."""
    names = []
    for r in records:
        for k in r.get("metrics") or {}:
            if k not in names:
                names.append(k)
    ratios = [f"{k}/{k.replace('hard', 'soft')}" for k in names
              if "hard" in k and k.replace("hard", "soft") in names]
    return names + ratios


def _value(metrics, name):
    if "/" in name:
        a, b = (_number(metrics[k]) for k in name.split("/"))
        return a / b if b else math.inf
    return _number(metrics[name])


def summarize(records, vary, target=None) -> list[dict]:
    """One summary per cell (the values of the ``vary`` fields), in first-seen order. ``target``:
    a Target (minigumbel.tasks), or {task name: Target or None} when the task varies.

    Each: {**cell, "cell": cell, "runs" (n), "failed" (n), "errors" [str], "seeds" [int],
    <metric>: median_ci(...) for every metric, "reach": {"count", "of", "text"} or None}.
    Values inside a cell keep the records' order (seeds ascending for a grid from ``expand``).
    """
    cells = {}
    for r in records:
        cell = tuple((k, r["config"][k]) for k in vary)
        cells.setdefault(cell, []).append(r)
    names = metric_names(records)
    out = []
    for cell, recs in cells.items():
        ok = [r for r in recs if not r.get("error")]
        row = {**dict(cell), "cell": dict(cell), "runs": len(recs), "failed": len(recs) - len(ok),
               "errors": [r["error"] for r in recs if r.get("error")],
               "seeds": [r["config"]["seed"] for r in recs]}
        for name in names:
            vals = [_value(r["metrics"], name) for r in ok if all(k in r["metrics"] for k in name.split("/"))]
            row[name] = median_ci([v for v in vals if math.isfinite(v)])
            row[name]["values"] = vals
        t = target.get(recs[0]["config"].get("task")) if isinstance(target, dict) else target
        if t is not None:
            hits = sum(bool(t.reached({k: _number(v) for k, v in r["metrics"].items()})) for r in ok)
            row["reach"] = {"count": hits, "of": len(recs), "text": t.text}
        else:
            row["reach"] = None
        out.append(row)
    return out
