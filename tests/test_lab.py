"""lab.py: running sums against a two-pass NumPy computation, constant memory, the leave-one-out
REINFORCE against its variance by enumeration, the row format, and the `estimators` table's columns."""
import json
import re
import tracemalloc

import numpy as np
import pytest
from click.testing import CliRunner

from minigumbel import lab
from minigumbel.backend import get_backend
from minigumbel_cli.main import main


def _direct(g, exact):
    """The row's statistics from all estimates in memory, two-pass (written apart from Moments)."""
    mean = g.mean(0)
    var = g.var(0, ddof=1).sum()
    bias = np.linalg.norm(mean - exact)
    return {"bias_norm": bias, "bias_se": np.sqrt(var / len(g)), "variance": var,
            "mse": bias ** 2 + var, "cosine": mean @ exact / np.linalg.norm(mean) / np.linalg.norm(exact),
            "norm_ratio": np.linalg.norm(mean) / np.linalg.norm(exact)}


@pytest.mark.parametrize("sizes", [[1000], [1, 999], [7, 300, 2, 691], [500, 500]])
def test_moments_equal_the_two_pass_statistics_for_any_batching(sizes):
    rng = np.random.default_rng(0)
    x = 1e6 + rng.normal(size=(sum(sizes), 5)) * np.arange(1, 6)   # a large offset: Σx² − n·mean² would cancel
    exact = 1e6 + rng.normal(size=5)
    m, start = lab.Moments(exact), 0
    for s in sizes:
        m.add(x[start:start + s])
        start += s
    r = m.stats()
    mean, var = x.mean(0), x.var(0, ddof=1).sum()
    bias = np.linalg.norm(mean - exact)
    assert r["variance"] == pytest.approx(var, rel=1e-10)
    assert r["bias_norm"] == pytest.approx(bias, rel=1e-9)
    assert r["bias_se"] == pytest.approx(np.sqrt(var / len(x)), rel=1e-10)
    assert r["mse"] == pytest.approx(bias ** 2 + var, rel=1e-10)
    # mse is the mean squared error of one estimate: E‖x − ∇‖² = ‖bias‖² + tr Cov (up to n/(n−1))
    assert r["mse"] == pytest.approx(((x - exact) ** 2).sum(1).mean(), rel=2 / len(x))
    assert r["cosine"] == pytest.approx(mean @ exact / np.linalg.norm(mean) / np.linalg.norm(exact), rel=1e-12)
    assert r["norm_ratio"] == pytest.approx(np.linalg.norm(mean) / np.linalg.norm(exact), rel=1e-12)


def test_a_constant_estimator_has_variance_exactly_zero_and_a_varying_one_does_not():
    v = np.array([0.1, 1 / 3, -2.0])
    m = lab.Moments(np.zeros(3)).add(np.tile(v, (3, 1))).add(np.tile(v, (4, 1)))
    assert m.stats()["variance"] == 0.0
    m.add(v[None] + 1e-12)
    assert m.stats()["variance"] > 0.0


def test_moments_in_uneven_batches_equal_the_two_pass_statistics():
    rng = np.random.default_rng(0)
    g = rng.normal(loc=[1.0, -2.0, 0.5], scale=[0.3, 2.0, 1.0], size=(1001, 3))
    exact = np.array([0.9, -2.2, 0.4])
    m = lab.Moments(exact)
    for part in np.split(g, [1, 7, 500, 501]):              # batches of 1, 6, 493, 1 and 500
        m.add(part)
    got, want = m.stats(), _direct(g, exact)
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-12), key
    # the MSE of one estimate, mean_i ‖g_i − exact‖², differs from bias² + variance only by variance / n
    direct_mse = np.mean(np.sum((g - exact) ** 2, axis=1))
    assert got["mse"] - direct_mse == pytest.approx(got["variance"] / len(g), rel=1e-9)


def test_moments_do_not_cancel_on_a_large_offset_and_a_repeated_vector_has_variance_0():
    rng = np.random.default_rng(1)
    g = 1e8 + rng.normal(size=(4000, 2))                        # Σx² − n·mean² would lose every digit here
    m = lab.Moments(np.array([1e8, 1e8]))
    for part in np.split(g, 8):
        m.add(part)
    assert m.stats()["variance"] == pytest.approx(g.var(0, ddof=1).sum(), rel=1e-6)
    const = lab.Moments(np.ones(3)).add(np.tile([0.1, 0.2, 0.3], (50, 1))).add(np.tile([0.1, 0.2, 0.3], (7, 1)))
    assert const.stats()["variance"] == 0.0 and const.stats()["bias_se"] == 0.0
    with pytest.raises(ValueError, match="entries"):
        lab.Moments(np.ones(3)).add(np.ones((2, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        lab.Moments(np.ones(3)).add(np.ones((1, 3))).stats()


def test_measure_equals_summarize_of_the_same_estimates():
    # the running sums see the very estimates that summarize() sees in one array
    be = get_backend("numpy")
    theta, f = lab.make_problem("pointer", 4, 3, np)
    exact = np.array(lab.table("pointer", 4, 3, ["st"], [1.0], 2, be)["exact_grad"])
    row = lab.measure("st-gumbel", theta, f, exact, 0.5, 5000, 3, be)
    from minigumbel.estimators import estimate_samples
    rng = be.rng(lab._seed_for(3, "st-gumbel", 0.5, 0))
    g = np.concatenate([estimate_samples("st-gumbel", theta, f, rng, 0.5, m)[1] for m in lab.batches(5000)])
    want = _direct(g, exact)
    for key in want:
        assert row[key] == pytest.approx(want[key], rel=1e-10), key


def test_batches_cover_the_samples_and_never_leave_one_estimate_alone():
    for samples in (2, 3, 1999, 2000, 2001, 4001, 10_000, 123_457):
        sizes = lab.batches(samples)
        assert sum(sizes) == samples and max(sizes) <= lab.CHUNK and min(sizes) >= 2, samples
        assert max(sizes) - min(sizes) <= 1
    assert lab.batches(2001) == [1001, 1000]


def test_measure_memory_does_not_grow_with_the_number_of_estimates():
    # keeping every estimate of 400,000 × K = 5 float64 would take 16 MB; the running sums need a batch
    be = get_backend("numpy")
    theta, f = lab.make_problem("linear", 5, 0, np)
    exact = np.zeros(5)
    peaks = []
    for samples in (40_000, 400_000):
        tracemalloc.start()
        lab.measure("st", theta, f, exact, 1.0, samples, 0, be)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 1.5 * peaks[0] and peaks[1] < 4_000_000, peaks


def _reinforce_variances(problem, k, seed):
    """Exact per-sample total variances of REINFORCE by enumeration: no baseline, and the baseline
    E[f] (the limit of leave-one-out), plus the spread of the latter's squared error (for its s.e.)."""
    theta, f = lab.make_problem(problem, k, seed, np)
    pi = np.exp(theta - theta.max())
    pi /= pi.sum()
    F = f(np.eye(k))[0]                                        # f(e_d) for every d
    s = np.eye(k) - pi                                         # e_d − π, row d
    grad = (pi * F) @ s                                        # E[f(d)(e_d − π)] = J(π)F
    out = {}
    for name, b in (("none", 0.0), ("mean", pi @ F)):
        err2 = np.sum(((F - b)[:, None] * s - grad) ** 2, axis=1)     # ‖ĝ_d − ∇‖² per d
        out[name] = (pi @ err2, np.sqrt(pi @ err2 ** 2 - (pi @ err2) ** 2))
    var_f = pi @ F ** 2 - (pi @ F) ** 2
    return out, var_f, pi @ np.sum(s ** 2, axis=1), grad


def test_reinforce_rows_variance_matches_enumeration_for_both_baselines():
    # leave-one-out over a batch of m: b_i = E f + noise of variance Var f/(m − 1), independent of
    # sample i, adding Var f/(m − 1) · E‖e_d − π‖² to the variance of E[f]'s baseline. Tolerance: 4 s.e.
    # of the variance estimate, from the enumerated spread of ‖ĝ − ∇‖² (n = 100,000, seed 0).
    be, n = get_backend("numpy"), 100_000
    exact_vars, var_f, e_s2, grad = _reinforce_variances("quadratic", 5, 0)
    result = lab.table("quadratic", 5, 0, ["reinforce"], [1.0], n, be, baseline="loo")
    loo = result["rows"][0]
    np.testing.assert_allclose(result["exact_grad"], grad, rtol=1e-12)
    assert loo["estimator"] == "reinforce(loo)"
    want, spread = exact_vars["mean"]
    want += var_f / (lab.CHUNK - 1) * e_s2
    assert abs(loo["variance"] - want) < 4 * spread / np.sqrt(n), (loo["variance"], want)
    none = lab.table("quadratic", 5, 0, ["reinforce"], [1.0], n, be, baseline="none")["rows"][0]
    assert none["estimator"] == "reinforce(b=0)"
    want, spread = exact_vars["none"]
    assert abs(none["variance"] - want) < 4 * spread / np.sqrt(n), (none["variance"], want)
    assert loo["variance"] < none["variance"]
    for row in (loo, none):                                    # unbiased either way: within 4 s.e.
        assert row["bias_norm"] < 4 * row["bias_se"]


def test_table_rows_have_the_documented_keys_and_labels():
    be = get_backend("numpy")
    t = lab.table("cubic", 3, 0, ["reinforce", "gumbel-rao", "st"], [0.5], 10, be, gr_ks=(1, 4))
    assert [r["estimator"] for r in t["rows"]] == ["reinforce(loo)", "gumbel-rao(k=1)", "gumbel-rao(k=4)", "st"]
    assert all(tuple(r) == lab.ROW_KEYS for r in t["rows"])
    for r in t["rows"]:
        assert r["mse"] == pytest.approx(r["bias_norm"] ** 2 + r["variance"], rel=1e-12)
    for key in lab.ROW_KEYS:                                   # the module docstring documents every key
        assert f"``{key}``" in lab.__doc__


def _cli(*args):
    return CliRunner().invoke(main, ["estimators", *args])


def test_cli_table_shows_variance_mse_and_not_detected_from_the_json_numbers():
    args = ["--tau", "0.1,1", "--samples", "3000", "--estimators", "reinforce,st,reinmax,softmax", "--seed", "2", "-q"]
    text, js = _cli(*args), _cli(*args, "--json", "-")
    assert text.exit_code == 0 and js.exit_code == 0, text.output + js.output
    rows = json.loads(js.stdout)["rows"]
    assert "MSE" in text.output and "variance" in text.output and "n.d.: not detected" in text.output
    lines = [ln for ln in text.output.splitlines() if re.match(r"^(reinforce|st|reinmax|softmax)", ln)]
    assert len(lines) == len(rows) == 8
    for ln, row in zip(lines, rows):
        assert ln.split()[0] == row["estimator"]
        nums = re.findall(r"[-+]?\d+\.?\d*(?:e[-+]?\d+)?", ln.split(None, 1)[1])
        tau, bias, se, var, mse = (float(v) for v in nums[:5])
        assert tau == row["tau"] and bias == pytest.approx(row["bias_norm"], abs=6e-5)
        assert var == pytest.approx(row["variance"], rel=1e-3, abs=1e-12)
        assert mse == pytest.approx(bias ** 2 + var, rel=2e-3, abs=1e-4)      # MSE = bias² + variance
        assert ("n.d." in ln) == (row["bias_norm"] <= 3 * row["bias_se"])
    assert any("n.d." in ln for ln in lines) and not all("n.d." in ln for ln in lines)


def test_cli_baseline_option_changes_only_reinforce():
    a = json.loads(_cli("--tau", "1", "--samples", "500", "--estimators", "reinforce,st", "--json", "-", "-q").stdout)
    b = json.loads(_cli("--tau", "1", "--samples", "500", "--estimators", "reinforce,st", "--json", "-", "-q",
                        "--baseline", "none").stdout)
    assert a["baseline"] == "loo" and b["baseline"] == "none"
    assert [r["estimator"] for r in b["rows"]] == ["reinforce(b=0)", "st"]
    assert a["rows"][1] | {"time_us": 0} == b["rows"][1] | {"time_us": 0}
    assert a["rows"][0]["variance"] != b["rows"][0]["variance"]


def test_cli_seeds_applies_to_the_vae_problem_only():
    r = _cli("--seeds", "2", "--samples", "10")
    assert r.exit_code == 2 and r.output.startswith("Error:") and "--seeds" in r.output, r.output
