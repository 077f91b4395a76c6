"""Smoke tests of examples/polynomial_programming.py and examples/relax_toy.py at reduced size."""
import importlib.util
import math
import re
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _numbers(line):
    return [float(x) for x in re.findall(r"[-+]?\d+\.\d+", line)]


def test_polynomial_programming_runs_and_reports_every_estimator(capsys):
    mod = _load("polynomial_programming")
    mod.main(["--n", "4", "--steps", "40", "--seeds", "2", "--p", "2,3", "--gr-k", "2"])
    out = capsys.readouterr().out
    # the row without its name (gst-1.0 would read as a number)
    lines = {line.split()[0]: line.split(None, 1)[1] for line in out.splitlines() if len(line.split()) > 1}
    for method in mod.METHODS:
        assert len(_numbers(lines[method])) == 4, lines[method]       # mean ± s.d. for two p
    optimum, start = _numbers(lines["optimum"]), _numbers(lines["start"])
    assert optimum == pytest.approx([0.45 ** 2, 0.45 ** 3], abs=1e-5)
    for method in mod.METHODS:                                       # losses lie between optimum and 1
        means = _numbers(lines[method])[::2]
        assert all(o - 1e-9 <= m <= 1 for o, m in zip(optimum, means)), (method, means, start)


def test_polynomial_programming_exact_gradient_descends():
    mod = _load("polynomial_programming")
    start = (0.45 ** 2 + 0.55 ** 2) / 2
    losses = mod.train("exact", [2.0], 4, 300, 2, 1.0, 2)           # (P, S)
    assert losses.shape == (1, 2) and (losses < start - 0.005).all()


def test_polynomial_programming_rejects_unknown_method():
    with pytest.raises(SystemExit) as info:
        _load("polynomial_programming").main(["--methods", "nope"])
    assert info.value.code == 2


def test_relax_toy_reinforce_variance_matches_its_closed_form(capsys):
    mod = _load("relax_toy")
    mod.main(["--samples", "4000", "--steps", "20"])
    out = capsys.readouterr().out
    measured = next(line for line in out.splitlines() if line.startswith("reinforce"))
    closed = next(line for line in out.splitlines() if line.startswith("  closed"))
    t = 0.499
    var = ((1 - t) ** 4 + t ** 4) / 8 - (1 - 2 * t) ** 2 / 16
    assert _numbers(closed)[-1] == pytest.approx(math.log(var), abs=1e-4)
    # g² is almost constant ((1−t)⁴/4 or t⁴/4), so the sample variance is within ~0.1 % of Var g
    # at n = 4000; 1 % is a safe tolerance that still catches a wrong estimator or formula.
    assert _numbers(measured)[2] == pytest.approx(var, rel=1e-2)
    assert "training curves" in out and out.count("\n") > 15


def test_independent_st_gumbel_bias_agrees_with_the_library(capsys):
    # 200,000 draws at τ = 0.2: the example's ST-GS bias (NumPy only) and the library's (100,000
    # estimates, another stream) agree within 4 combined standard errors; soft Gumbel is far less biased.
    import numpy as np
    from minigumbel.estimators import estimate, estimate_samples
    from minigumbel.lab import make_problem
    _load("st_gumbel_bias_independent").main(["--draws", "200000", "--taus", "0.2"])
    out = capsys.readouterr().out
    st = _numbers(next(ln for ln in out.splitlines() if "st-gumbel" in ln))[-2:]
    soft = _numbers(next(ln for ln in out.splitlines() if " gumbel " in ln))[-2:]
    theta, f = make_problem("cubic", 5, 0, np)
    exact = estimate("exact", theta, f, np.random.default_rng(0))[1]
    _, g = estimate_samples("st-gumbel", theta, f, np.random.default_rng(1), 0.2, 100_000)
    lib, se = np.linalg.norm(g.mean(0) - exact), np.sqrt(g.var(0, ddof=1).sum() / 100_000)
    assert abs(st[0] - lib) < 4 * np.hypot(st[1], se), (st, lib, se)
    assert soft[0] < st[0] / 2
