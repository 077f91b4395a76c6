"""`minigumbel gradcheck`: every backward rule vs autograd and central differences (float64)."""
from __future__ import annotations

import importlib
import sys

import click

from .common import json_option, report, table

# modules that expose GRADCHECK_CASES: callables returning a GradCheck or a list of them
CASE_MODULES = ("minigumbel.gradcheck", "minigumbel.nn", "minigumbel.losses", "minigumbel.estimators",
                "minigumbel.tasks", "minigumbel.tasks.vae", "minigumbel.permutations")


def collect():
    """Run every registered check; returns {rule name: [GradCheck, ...]} in registration order."""
    rules: dict[str, list] = {}
    for name in CASE_MODULES:
        mod = importlib.import_module(name)      # a module that fails to import must fail loudly
        for case in mod.GRADCHECK_CASES:
            out = case()
            for r in (out if isinstance(out, (list, tuple)) else [out]):
                rules.setdefault(r.name, []).append(r)
    return rules


def negative_control():
    """The checker must reject a wrong rule: softmax's VJP with τ mis-scaled by 1%."""
    import numpy as np
    from minigumbel import functional as F
    from minigumbel.gradcheck import three_way
    x = np.random.default_rng(1).normal(size=(3, 5))
    r = three_way("wrong rule", lambda t: F.softmax(t, 0.5),
                  lambda d: F.softmax_vjp(d, F.softmax(x, 0.5), 0.5 * 1.01), x)
    return not r.ok


@click.command()
@json_option
def gradcheck(json_out):
    """Check every hand-derived backward rule against autograd and central finite differences.

    One row per rule (the max error over its variants: several τ, both axes of a 2-D input,
    hard and soft). Exits with status 1 if any rule fails its tolerance, or if the checker
    fails to reject a deliberately wrong rule (the negative control).
    """
    rules = collect()
    rows, out = [], []
    for name, rs in rules.items():
        rec = {
            "rule": name, "variants": len(rs),
            "abs_vs_autograd": max(r.abs_vs_autograd for r in rs),
            "rel_vs_autograd": max(r.rel_vs_autograd for r in rs),
            "abs_vs_fd": max(r.abs_vs_fd for r in rs),
            "rel_vs_fd": max(r.rel_vs_fd for r in rs),
            "ok": all(r.ok for r in rs),
        }
        out.append(rec)
        rows.append([name, rec["variants"], f"{rec['abs_vs_autograd']:.1e}", f"{rec['rel_vs_autograd']:.1e}",
                     f"{rec['abs_vs_fd']:.1e}", f"{rec['rel_vs_fd']:.1e}", "ok" if rec["ok"] else "FAIL"])
    rejected = negative_control()
    ok = all(r["ok"] for r in out) and rejected
    def show():
        click.echo(table(rows, ["rule", "variants", "abs vs autograd", "rel vs autograd",
                                "abs vs FD", "rel vs FD", "status"]))
        click.echo(f"\nnegative control (softmax VJP with τ off by 1%): "
                   f"{'rejected, as it must be' if rejected else 'NOT rejected: the checker is broken'}")
        click.echo("all rules pass" if ok else "SOME RULES FAIL")
    report(json_out, {"rules": out, "negative_control_rejected": rejected, "ok": ok}, show)
    sys.exit(0 if ok else 1)
