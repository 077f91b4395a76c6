"""Subset estimators (minigumbel.estimators.subset) and the subset lab (minigumbel.lab_subset):
each rule three ways (hand vs autograd vs finite differences) with a negative control, the exact
gradient against an independent autograd computation, REINFORCE-PL's unbiasedness (exactly, by
enumeration, and statistically), the CLI and the figure's data."""
import itertools
import json

import numpy as np
import pytest
from click.testing import CliRunner

from minigumbel.backend import get_backend
from minigumbel.estimators import SUBSET_ESTIMATORS, estimate_subset_samples
from minigumbel.gradcheck import assert_three_way, three_way
from minigumbel.lab import ROW_KEYS, Moments
from minigumbel.lab_subset import exact_subset_grad, make_subset_problem, subset_table
from minigumbel.subsets import k_hot, plackett_luce_log_prob_vjp

NAMES = tuple(SUBSET_ESTIMATORS)


def _draw(name, tau=0.7, k=2, seed=3):
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=(3, 6))
    return theta, SUBSET_ESTIMATORS[name].sample(theta, rng, tau, k)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("tau", [0.3, 1.0, 3.0])
def test_each_rule_three_ways(name, tau):
    est = SUBSET_ESTIMATORS[name]
    theta, draw = _draw(name, tau)
    if est.needs == "f":
        f_z, b = np.array([1.5, -0.3, 2.0]), 0.4
        assert_three_way(name, lambda t: est.relaxed(t, draw, f_z, b),
                         lambda d: est.backward(draw, d * f_z, d * b), theta)
    else:
        assert_three_way(name, lambda t: est.relaxed(t, draw), lambda d: est.backward(draw, d), theta)


def test_negative_control_l2x_spreading_the_max_is_rejected():
    # a wrong L2X rule: the max's gradient sent to every one of the k draws instead of the winner
    from minigumbel.functional import softmax, softmax_vjp
    est = SUBSET_ESTIMATORS["l2x"]
    theta, draw = _draw("l2x", 0.7, k=3)

    def wrong(dz):
        y = softmax(theta + draw.g, draw.tau)
        return softmax_vjp(np.broadcast_to(dz, y.shape), y, draw.tau).sum(0)
    r = three_way("l2x (wrong)", lambda t: est.relaxed(t, draw), wrong, theta)
    assert not r.ok, str(r)


def _product_formula_expectation(theta, f, k):
    """E[f(k_hot(S))] written with autograd.numpy from P(o) = Π p_{o_i} / (1 − Σ_{j<i} p_{o_j})."""
    import autograd.numpy as anp
    n = theta.shape[-1]
    p = anp.exp(theta - anp.max(theta))
    p = p / anp.sum(p)
    total = 0.0
    for o in itertools.permutations(range(n), k):
        prob, used = 1.0, 0.0
        for i in o:
            prob = prob * p[i] / (1.0 - used)
            used = used + p[i]
        total = total + prob * f(k_hot(list(o), n))[0]
    return total


@pytest.mark.parametrize("n,k", [(5, 2), (6, 3), (8, 1)])
def test_exact_gradient_against_autograd_of_the_product_formula(n, k):
    from autograd import grad
    theta, f, target = make_subset_problem(n, k, seed=4, xp=np)
    value, exact = exact_subset_grad(theta, f, k)
    np.testing.assert_allclose(value, _product_formula_expectation(theta, f, k), rtol=1e-12)
    np.testing.assert_allclose(exact, grad(lambda t: _product_formula_expectation(t, f, k))(theta),
                               rtol=1e-10, atol=1e-12)
    assert f(k_hot(target, n))[0] < 1e-24                  # the target set is f's minimiser (0)


def test_reinforce_pl_is_exactly_unbiased_by_enumeration():
    # the rule given the sample, averaged over every ordered prefix with its PL probability, is the
    # exact gradient for any constant baseline (Σ_o P(o) ∇ log P(o) = 0)
    n, k = 6, 3
    theta, f, _ = make_subset_problem(n, k, seed=5, xp=np)
    _, exact = exact_subset_grad(theta, f, k)
    orders = np.array(list(itertools.permutations(range(n), k)))
    from minigumbel.subsets import plackett_luce_log_prob
    prob = np.exp(plackett_luce_log_prob(theta, orders))
    fz = f(k_hot(orders, n))[0]
    for b in (0.0, 3.7):
        rules = plackett_luce_log_prob_vjp(fz - b, np.broadcast_to(theta, (len(orders), n)), orders)
        np.testing.assert_allclose(prob @ rules, exact, rtol=1e-11, atol=1e-13)


def test_reinforce_pl_with_loo_is_unbiased_statistically():
    # fixed seed, 40,000 estimates: an unbiased estimator has E‖mean − ∇‖² = variance/N = s.e.²;
    # the tolerance is 3 s.e. (the lab's "not detected" line)
    be = get_backend("numpy")
    theta, f, _ = make_subset_problem(7, 3, seed=6, xp=np)
    _, exact = exact_subset_grad(theta, f, 3)
    rng = np.random.default_rng(0)
    m = Moments(exact)
    for _ in range(20):
        m.add(estimate_subset_samples("reinforce-pl", theta, f, rng, 1.0, 3, 2000)[1])
    s = m.stats()
    assert s["bias_norm"] <= 3 * s["bias_se"], s
    # and the lab sees the biased ones as biased: soft-topk at τ = 0.5 (deterministic, so s.e. 0)
    row = subset_table(7, 3, 6, ["soft-topk", "st-topk"], [0.5], 4000, be)["rows"]
    assert row[0]["variance"] == 0 and row[0]["bias_norm"] > 0.1
    assert row[1]["bias_norm"] > 3 * row[1]["bias_se"]


def test_draw_values():
    theta, d = _draw("st-topk")
    assert set(np.unique(d.z)) == {0.0, 1.0} and np.all(d.z.sum(-1) == 2)
    theta, d = _draw("l2x", k=3)
    assert d.g.shape == (3, 3, 6) and np.all(d.z <= 1) and np.all(d.z > 0)
    _, d1 = _draw("soft-topk", seed=1)
    _, d2 = _draw("soft-topk", seed=1)
    np.testing.assert_array_equal(d1.z, d2.z)
    np.testing.assert_allclose(d1.z.sum(-1), 2.0)


def test_lab_rows_have_the_lab_row_keys_and_are_a_function_of_the_seed():
    be = get_backend("numpy")
    a = subset_table(5, 2, 0, NAMES, [0.5, 1.0], 300, be)
    b = subset_table(5, 2, 0, NAMES[::-1], [1.0], 300, be)
    assert all(tuple(r) == ROW_KEYS for r in a["rows"])
    strip = lambda r: {k: v for k, v in r.items() if k != "time_us"}          # noqa: E731
    by_label = {(r["estimator"], r["tau"]): strip(r) for r in a["rows"]}
    for r in b["rows"]:                         # fewer estimators or temperatures: the same numbers
        assert by_label[(r["estimator"], r["tau"])] == strip(r)
    with pytest.raises(ValueError, match="2 <= n <= 8"):
        subset_table(9, 2, 0, NAMES, [1.0], 10, be)


def test_cli_estimators_subset():
    from minigumbel_cli.main import main as cli
    r = CliRunner().invoke(cli, ["estimators", "--problem", "subset", "--k", "5", "--choose", "2", "--tau", "0.5",
                                 "--samples", "200", "--json", "-", "--quiet"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert [row["estimator"] for row in out["rows"]] == ["reinforce-pl(loo)", *NAMES[1:]] and out["orders"] == 20
    for args, opt in [(["--k", "9"], "--k/--choose"), (["--gr-k", "3"], "--gr-k"), (["--latents", "2"], "--latents"),
                      (["--estimators", "st"], "--estimators")]:
        r = CliRunner().invoke(cli, ["estimators", "--problem", "subset", *args])
        assert r.exit_code == 2 and "Error:" in r.output and opt in r.output, r.output
    r = CliRunner().invoke(cli, ["estimators", "--choose", "2"])
    assert r.exit_code == 2 and "--choose applies to --problem subset only" in r.output


def test_figure_data():
    from minigumbel.figures import figure_data
    d = figure_data("subset-estimators", samples=200, taus=(0.5, 2.0), n=5, k=2)
    assert set(d["series"]) == {"reinforce-pl(loo)", *NAMES[1:]} and d["n"] == 5 and d["k"] == 2
    assert all(len(s["tau"]) == 2 for s in d["series"].values())


def test_estimates_on_cupy_make_no_host_transfer(transfers, cupy_backend):
    theta, f, _ = make_subset_problem(6, 2, seed=0, xp=cupy_backend.xp)
    rng = cupy_backend.rng(0)
    with transfers() as n:
        for name in NAMES:
            estimate_subset_samples(name, theta, f, rng, 0.5, 2, 16)
    assert n() == 0
