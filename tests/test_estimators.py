"""estimators.py: exact expectations by enumeration, rules vs independent formulas and autograd,
Monte-Carlo properties of Gumbel-Rao (fixed seeds, tolerances from standard errors), bad input."""
import numpy as np
import pytest
from autograd import grad
import autograd.numpy as anp

from minigumbel import estimators as E
from minigumbel.gradcheck import three_way

EULER_GAMMA = 0.5772156649015329


# ----------------------------------------------------------------------------- independent references

def _probs(theta, tau=1.0):
    e = np.exp((theta - theta.max(-1, keepdims=True)) / tau)
    return e / e.sum(-1, keepdims=True)


def _jac(p):
    """The full Jacobian diag(p) − p pᵀ per row (..., K, K): the tests may build it, the library never does."""
    return np.einsum("...i,ij->...ij", p, np.eye(p.shape[-1])) - p[..., :, None] * p[..., None, :]


def _exact_reference(theta, F):
    """∇θ Σ_k softmax(θ)_k F_k by autograd of the expectation written out directly."""
    def expectation(t):
        e = anp.exp(t - anp.max(t, axis=-1, keepdims=True))
        return anp.sum(e * F / anp.sum(e, axis=-1, keepdims=True))
    return grad(expectation)(theta)


def _enumerate(rule, theta):
    """Σ_k π_k rule(e_k): the exact expectation of a per-sample rule over d ~ Cat(softmax θ)."""
    K = theta.shape[-1]
    pi = _probs(theta)
    out = 0.0
    for k in range(K):
        d = np.broadcast_to(np.eye(K)[k], theta.shape).copy()
        out = out + pi[..., k:k + 1] * rule(d)
    return out


def _problem(kind, K, seed):
    """f(z) -> (value, ∂f/∂z) for batched z (..., K): linear, quadratic or cubic in z."""
    rng = np.random.default_rng(seed)
    a, A = rng.normal(size=K), rng.normal(size=(K, K))
    A = A + A.T
    if kind == "linear":
        return lambda z: (z @ a, np.broadcast_to(a, z.shape).copy())
    if kind == "quadratic":
        return lambda z: (0.5 * np.einsum("...i,ij,...j->...", z, A, z) + z @ a, z @ A + a)
    return lambda z: ((z @ a) ** 3, 3 * (z @ a)[..., None] ** 2 * a)


def _F(f, theta):
    K = theta.shape[-1]
    return np.stack([np.broadcast_to(f(np.eye(K)[k])[0], theta.shape[:-1]) for k in range(K)], -1)


THETA = np.random.default_rng(0).normal(size=(3, 5))   # (B, K)


# ----------------------------------------------------------------------------- exact expectations

def test_exact_grad_matches_autograd_of_the_expectation():
    F = np.random.default_rng(1).normal(size=THETA.shape)
    np.testing.assert_allclose(E.exact_grad(THETA, F), _exact_reference(THETA, F), atol=1e-14)
    value, g = E.estimate("exact", THETA, _problem("cubic", 5, 2), np.random.default_rng(0))
    F = _F(_problem("cubic", 5, 2), THETA)
    np.testing.assert_allclose(g, _exact_reference(THETA, F), atol=1e-13)
    np.testing.assert_allclose(value, (_probs(THETA) * F).sum(-1), atol=1e-13)


@pytest.mark.parametrize("baseline", [0.0, 1.7, np.array([0.3, -2.0, 5.0])])
def test_reinforce_is_unbiased_for_any_f_and_any_fixed_baseline(baseline):
    F = np.random.default_rng(3).normal(size=THETA.shape) * 4   # an arbitrary f on the K vertices
    mean = _enumerate(lambda d: E.reinforce_backward(THETA, d, (d * F).sum(-1), baseline), THETA)
    np.testing.assert_allclose(mean, _exact_reference(THETA, F), atol=1e-13)


@pytest.mark.parametrize("kind,exact", [("linear", True), ("quadratic", False), ("cubic", False)])
def test_straight_through_exact_for_linear_biased_otherwise(kind, exact):
    f = _problem(kind, 5, 4)
    mean = _enumerate(lambda d: E.st_backward(THETA, f(d)[1], 1.0), THETA)
    bias = np.abs(mean - _exact_reference(THETA, _F(f, THETA))).max()
    assert (bias < 1e-12) if exact else (bias > 1e-2), bias


@pytest.mark.parametrize("seed", range(3))
def test_reinmax_exact_for_quadratic_at_tau_one(seed):
    f = _problem("quadratic", 5, seed)
    ref = _exact_reference(THETA, _F(f, THETA))
    mean = _enumerate(lambda d: E.reinmax_backward(THETA, d, f(d)[1], 1.0), THETA)
    np.testing.assert_allclose(mean, ref, atol=1e-12)
    # the same enumeration is *not* exact for a cubic f, nor at tau = 2: the test can fail
    f3 = _problem("cubic", 5, seed)
    cubic = _enumerate(lambda d: E.reinmax_backward(THETA, d, f3(d)[1], 1.0), THETA)
    assert np.abs(cubic - _exact_reference(THETA, _F(f3, THETA))).max() > 1e-2
    hot = _enumerate(lambda d: E.reinmax_backward(THETA, d, f(d)[1], 2.0), THETA)
    assert np.abs(hot - ref).max() > 1e-3


# ----------------------------------------------------------------------------- rules vs formulas

def test_rules_match_formulas_written_with_full_jacobians():
    rng = np.random.default_rng(5)
    d = np.eye(5)[rng.integers(0, 5, size=3)]
    dd, g, tau = rng.normal(size=(3, 5)), rng.normal(size=(3, 5)), 0.7
    jac_vec = lambda p, v: np.einsum("...ij,...j->...i", _jac(p), v)   # noqa: E731
    np.testing.assert_allclose(E.st_backward(THETA, dd, tau), jac_vec(_probs(THETA, tau), dd) / tau, atol=1e-14)
    np.testing.assert_allclose(E.st_gumbel_backward(THETA, g, dd, tau),
                               jac_vec(_probs(THETA + g, tau), dd) / tau, atol=1e-14)
    half = (_probs(THETA, 1.5) + d) / 2
    np.testing.assert_allclose(E.reinmax_backward(THETA, d, dd, 1.5),
                               2 * jac_vec(half, dd) - 0.5 * jac_vec(_probs(THETA), dd), atol=1e-14)
    fd = rng.normal(size=3)
    np.testing.assert_allclose(E.reinforce_backward(THETA, d, fd, 0.5),
                               (fd - 0.5)[:, None] * (d - _probs(THETA)), atol=1e-15)


def test_gumbel_rao_is_the_mean_st_gumbel_rule_over_its_conditional_noise():
    rng = np.random.default_rng(6)
    d = np.eye(5)[rng.integers(0, 5, size=3)]
    dd = rng.normal(size=(3, 5))
    noise = E.conditional_gumbel(THETA, d, np.random.default_rng(9), k=7)          # (k, B, K)
    expected = np.mean([E.st_gumbel_backward(THETA, noise[m], dd, 0.5) for m in range(7)], axis=0)
    got = E.gumbel_rao_backward(THETA, d, dd, 0.5, k=7, rng=np.random.default_rng(9))
    np.testing.assert_allclose(got, expected, atol=1e-14)


def test_conditional_gumbel_wins_where_told_and_has_the_right_law():
    # Given argmax = i, the winner θ_i + g_i is Gumbel(logsumexp θ) (mean logsumexp θ + γ), and
    # averaging over d ~ Cat(π) restores unconditional Gumbel noise (mean γ in every coordinate).
    rng = np.random.default_rng(10)
    theta, n = np.array([0.5, -1.0, 2.0, 0.0]), 40000
    d = np.eye(4)[rng.choice(4, size=n, p=_probs(theta))]                       # (n, K)
    g = E.conditional_gumbel(np.broadcast_to(theta, d.shape), d, rng, k=1)[0]   # (n, K)
    assert np.all(np.argmax(theta + g, -1) == np.argmax(d, -1))
    se = np.pi / np.sqrt(6 * n)       # standard error of a mean of Gumbel(·, 1) draws: tolerance 4 se
    np.testing.assert_allclose(g.mean(0), EULER_GAMMA, atol=4 * se)
    winner = ((theta + g) * d).sum(-1)
    lse = np.log(np.exp(theta).sum())
    assert abs(winner.mean() - (lse + EULER_GAMMA)) < 4 * se


def test_three_way_gradchecks_and_a_wrong_rule_is_rejected():
    for case in E.GRADCHECK_CASES:
        r = case()
        assert r.ok, str(r)
    # negative control: the ReinMax rule with the wrong weight on J(π) (−1 instead of −½)
    draw = E.ESTIMATORS["reinmax"].sample(THETA, np.random.default_rng(7), 1.0)
    wrong = lambda dd: E.reinmax_backward(THETA, draw.d, dd, 1.0) - 0.5 * E.exact_grad(THETA, dd)  # noqa: E731
    r = three_way("wrong reinmax", lambda t: E.ESTIMATORS["reinmax"].relaxed(t, draw), wrong, THETA)
    assert not r.ok


@pytest.mark.parametrize("name", sorted(E.ESTIMATORS))
def test_surrogate_value_is_the_sample_and_its_autograd_gradient_is_the_rule(name):
    rng = np.random.default_rng(8)
    est, tau = E.ESTIMATORS[name], 1.3
    draw = est.sample(THETA, rng, tau, **({"k": 3} if name.startswith("gumbel-rao") else {}))
    extra = {"dd": (), "f": (rng.normal(size=3), 0.4), "all": (rng.normal(size=(3, 5)),)}[est.needs]
    up = rng.normal(size=THETA.shape) if est.needs == "dd" else np.ones(3)
    seen = []

    def loss(t):
        out = est.surrogate(t, draw, *extra)
        seen.append(out._value)                    # the forward value while autograd traces
        return anp.sum(up * out)

    ag = grad(loss)(THETA)
    if est.needs == "dd":
        assert np.array_equal(seen[0], draw.z) and np.array_equal(est.surrogate(THETA, draw), draw.z)
        hand = est.backward(draw, up)
    else:
        assert np.array_equal(seen[0], np.zeros(3))
        hand = est.backward(draw, *extra)
    np.testing.assert_allclose(ag, hand, atol=1e-13)
    if est.hard:
        assert np.all(draw.z.sum(-1) == 1) and set(np.unique(draw.z)) == {0.0, 1.0}


# ----------------------------------------------------------------------------- Monte Carlo

def _gr_and_stgs(theta, f, k, n, seed):
    """n Gumbel-Rao(k) and n ST-GS estimates (n, ..., K), independent streams."""
    _, gr = E.estimate_samples("gumbel-rao", theta, f, np.random.default_rng(seed), 0.5, n, k=k)
    _, st = E.estimate_samples("st-gumbel", theta, f, np.random.default_rng(seed + 1), 0.5, n)
    return gr, st


def test_gumbel_rao_k1_matches_st_gumbel_in_distribution():
    # Both means and second moments agree within 4 standard errors of the difference of two
    # independent Monte-Carlo means (se from the sample standard deviations, n = 40000, fixed seeds).
    theta, f, n = THETA[0], _problem("quadratic", 5, 11), 40000
    gr, st = _gr_and_stgs(theta, f, 1, n, 20)
    for a, b in ((gr, st), (gr ** 2, st ** 2)):
        se = np.sqrt(a.var(0) / n + b.var(0) / n)
        assert np.all(np.abs(a.mean(0) - b.mean(0)) <= 4 * se + 1e-12), (a.mean(0), b.mean(0), se)
    # and Rao-Blackwellisation keeps the mean for k > 1 too
    gr10, st = _gr_and_stgs(theta, f, 10, n, 30)
    se = np.sqrt(gr10.var(0) / n + st.var(0) / n)
    assert np.all(np.abs(gr10.mean(0) - st.mean(0)) <= 4 * se)


def test_gumbel_rao_variance_does_not_increase_with_k():
    # Total variance tr Cov; its standard error from the per-draw squared deviations. Each step in
    # k must not increase it by more than 3 standard errors of the difference; the k=1 -> k=30 drop
    # must be real (more than 3 se).
    theta, f, n = THETA[1], _problem("quadratic", 5, 12), 20000
    out = []
    for i, k in enumerate((1, 3, 10, 30)):
        _, g = E.estimate_samples("gumbel-rao", theta, f, np.random.default_rng(40 + i), 0.5, n, k=k)
        sq = ((g - g.mean(0)) ** 2).sum(-1)
        out.append((sq.mean(), sq.std() / np.sqrt(n)))
    for (v0, s0), (v1, s1) in zip(out, out[1:]):
        assert v1 <= v0 + 3 * np.hypot(s0, s1), out
    assert out[-1][0] < out[0][0] - 3 * np.hypot(out[0][1], out[-1][1]), out


@pytest.mark.parametrize("baseline", ["none", "loo", 0.5])
def test_estimate_reinforce_mean_within_standard_error(baseline):
    theta, f, n = THETA, _problem("cubic", 5, 13), 20000
    _, g = E.estimate_samples("reinforce", theta, f, np.random.default_rng(50), 1.0, n, baseline=baseline)
    ref = _exact_reference(theta, _F(f, theta))
    se = g.std(0) / np.sqrt(n)       # the loo baseline couples draws weakly (O(1/n)); 4 se covers it
    assert np.all(np.abs(g.mean(0) - ref) <= 4 * se + 1e-12)


def test_running_mean_baseline_uses_only_past_values_and_cuts_variance():
    f, theta = _problem("linear", 5, 14), THETA[0]
    f_shift = lambda z: (f(z)[0] + 50.0, f(z)[1])      # noqa: E731  a large offset: a baseline matters
    rm = E.RunningMean(0.5)
    first_value, _ = E.estimate("reinforce", theta, f_shift, np.random.default_rng(1), n_samples=64, baseline=rm)
    assert rm.count == 1 and rm.value == pytest.approx(float(first_value))
    _, plain = E.estimate_samples("reinforce", theta, f_shift, np.random.default_rng(2), 1.0, 2000)
    _, based = E.estimate_samples("reinforce", theta, f_shift, np.random.default_rng(2), 1.0, 2000, baseline=rm)
    assert based.var(0).sum() < 0.1 * plain.var(0).sum()


def test_batched_shapes_and_seed_reproducibility():
    theta = np.random.default_rng(3).normal(size=(2, 3, 4))
    f = _problem("quadratic", 4, 15)
    for name in E.ESTIMATORS:
        opts = {"k": 2} if name.startswith("gumbel-rao") else {}
        v1, g1 = E.estimate(name, theta, f, np.random.default_rng(5), 1.0, 3, **opts)
        v2, g2 = E.estimate(name, theta, f, np.random.default_rng(5), 1.0, 3, **opts)
        assert v1.shape == (2, 3) and g1.shape == (2, 3, 4)
        assert np.array_equal(g1, g2) and np.array_equal(v1, v2)
        np.testing.assert_allclose(g1.sum(-1), 0.0, atol=1e-12)   # softmax is shift-invariant


def test_masked_categories_are_never_sampled_and_get_zero_gradient():
    theta = np.array([[0.2, -np.inf, 1.0, -0.5]] * 4)
    f = _problem("quadratic", 4, 16)
    for name in E.ESTIMATORS:
        opts = {"k": 3} if name.startswith("gumbel-rao") else {}
        _, g = E.estimate_samples(name, theta, f, np.random.default_rng(0), 1.0, 50, **opts)
        assert np.all(np.isfinite(g)) and np.all(g[..., 1] == 0), name


def test_cupy_backend_runs_the_same_rules(backend):
    xp = backend.xp
    theta = backend.asarray(THETA)
    f = lambda z: ((z * z).sum(-1), 2 * z)        # noqa: E731
    for name in E.ESTIMATORS:
        opts = {"k": 2} if name.startswith("gumbel-rao") else {}
        v, g = E.estimate(name, theta, f, backend.rng(0), 1.0, 4, **opts)
        assert type(g) is type(theta) and bool(xp.all(xp.isfinite(g)))


# ----------------------------------------------------------------------------- bad input

def test_bad_input_raises_clear_value_errors():
    rng, f = np.random.default_rng(0), _problem("linear", 5, 0)
    d = np.eye(5)[[0, 1, 2]]
    cases = [
        (lambda: E.estimate("nope", THETA, f, rng), "unknown estimator 'nope'"),
        (lambda: E.reinmax_backward(THETA, d, d, 0.0), "tau must be"),
        (lambda: E.estimate("reinmax", THETA, f, rng, tau=-0.9), "tau must be"),
        (lambda: E.estimate("st", THETA, f, rng, tau=0.0), "tau must be"),
        (lambda: E.estimate("gumbel-rao", THETA, f, rng, k=0), "k (Gumbel-Rao samples)"),
        (lambda: E.gumbel_rao_backward(THETA, d, d, k=2.5, rng=rng), "k (Gumbel-Rao samples)"),
        (lambda: E.gumbel_rao_backward(THETA, d, d, k=True, rng=rng), "k (Gumbel-Rao samples)"),
        (lambda: E.gumbel_rao_backward(THETA, d, d, k=2), "rng is required"),
        (lambda: E.st_backward(THETA, d[:2]), "dd has shape (2, 5)"),
        (lambda: E.reinmax_backward(THETA, d[:, :4], d, 1.0), "d has shape (3, 4)"),
        (lambda: E.reinforce_backward(THETA, d, np.zeros(4)), "f_d has shape (4,)"),
        (lambda: E.exact_grad(THETA, np.zeros(5)), "f_values has shape (5,)"),
        (lambda: E.estimate("st", THETA, lambda z: (z, z), rng), "f must return"),
        (lambda: E.estimate("st", THETA, f, rng, n_samples=0), "n_samples"),
        (lambda: E.estimate("st", THETA, f, rng, k=3), "do not apply to estimator 'st'"),
        (lambda: E.estimate("reinforce", THETA, f, rng, baseline="loo"), "n_samples >= 2"),
        (lambda: E.estimate("reinforce", THETA, f, rng, n_samples=2, baseline="avg"), "baseline must be"),
        (lambda: E.RunningMean(1.0), "decay"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError) as info:
            call()
        assert message in str(info.value), (message, str(info.value))


# ----------------------------------------------------------------------------- CLI

def _cli(args):
    from click.testing import CliRunner
    from minigumbel_cli.main import main
    return CliRunner().invoke(main, ["estimators", *args])


def test_cli_json_is_reproducible_with_the_seed_and_shows_the_known_facts():
    import json
    args = ["--problem", "quadratic", "--tau", "0.5,1", "--samples", "4000", "--gr-k", "1,10", "--json", "-", "-q"]
    first, again = _cli(args + ["--seed", "3"]), _cli(args + ["--seed", "3"])
    assert first.exit_code == 0, first.output
    strip = lambda out: [{k: v for k, v in r.items() if k != "time_us"} for r in json.loads(out)["rows"]]  # noqa: E731
    assert strip(first.stdout) == strip(again.stdout)
    assert strip(_cli(args + ["--seed", "4"]).stdout) != strip(first.stdout)
    rows = {(r["estimator"], r["tau"]): r for r in json.loads(first.stdout)["rows"]}
    assert ("reinmax", 0.5) in rows                              # computed below τ = 1 too
    # ReinMax at τ = 1 is exact for a quadratic f: its bias is within 4 s.e. of 0; ST's is not.
    assert rows[("reinmax", 1.0)]["bias_norm"] < 4 * rows[("reinmax", 1.0)]["bias_se"]
    assert rows[("st", 1.0)]["bias_norm"] > 4 * rows[("st", 1.0)]["bias_se"]
    assert rows[("gumbel-rao(k=10)", 1.0)]["variance"] < rows[("gumbel-rao(k=1)", 1.0)]["variance"]
    assert rows[("softmax", 1.0)]["variance"] == 0.0
    # a cell's numbers do not depend on which other estimators were asked for
    one = _cli(["--problem", "quadratic", "--tau", "1", "--samples", "4000", "--estimators", "st", "--json", "-",
                "-q", "--seed", "3"])
    assert strip(one.stdout)[0] == {k: v for k, v in rows[("st", 1.0)].items() if k != "time_us"}


@pytest.mark.parametrize("problem", ["linear", "cubic", "pointer"])
def test_cli_table_for_each_problem(problem):
    r = _cli(["--problem", problem, "--k", "3", "--tau", "1", "--samples", "200", "--gr-k", "2", "-q"])
    assert r.exit_code == 0, r.output
    assert "bias ± s.e." in r.output and "MSE" in r.output and "gumbel-rao(k=2)" in r.output


@pytest.mark.parametrize("args", [["--tau", "0"], ["--tau", "a"], ["--estimators", "st,nope"], ["--gr-k", "0"],
                                  ["--gr-k", "2.5"], ["--problem", "quartic"], ["--samples", "1"], ["--k", "1"]])
def test_cli_bad_input_exits_2_with_one_error_line(args):
    r = _cli(args + ["--samples", "10"] if "--samples" not in args else args)
    assert r.exit_code == 2, r.output
    assert "Error" in r.output and "Traceback" not in r.output


def _kappa(pi):
    """GST-p's gap −log(1 − π)/π in double precision from Python's log1p (accurate for tiny π)."""
    import math
    return -math.log1p(-pi) / pi


@pytest.mark.parametrize("theta_d", [-15.0, -40.0, np.log(0.9e-5 / 2), np.log(1.1e-5 / 2)],
                         ids=["pi1.5e-7", "pi2e-18", "pi0.9e-5", "pi1.1e-5"])
def test_gst_p_shift_when_the_sampled_category_is_very_unlikely(theta_d):
    """The branch of gst_shift for π_d < 1e-5 (the gap's series 1 + π/2 there): the sampled
    category d = 1 is raised to max θ and the others pushed κ(π_d) below it, with κ from an
    independent formula, on both sides of the branch point (π = 0.9e-5 and 1.1e-5). A wrong series
    coefficient changes κ by ~π/2 (7e-8 at π = 1.5e-7, 4e-6 near the branch point): rtol 1e-10."""
    theta = np.array([0.0, theta_d, 0.0])
    d = np.array([0.0, 1.0, 0.0])
    e = np.exp(theta - theta.max())
    pi_d = e[1] / e.sum()
    c = E.gst_shift(theta, d, "p")
    k = _kappa(pi_d)
    # the series' own error, π²/3, is below 4e-11 here (π < 1.1e-5): inside the tolerance
    np.testing.assert_allclose(c, [-k, -theta_d, -k], rtol=1e-10, atol=0)
    s = theta + c
    assert np.argmax(s) == 1 and s[1] - np.max(np.delete(s, 1)) == pytest.approx(k, rel=1e-10)


def test_gst_p_small_pi_branch_has_the_right_coefficient():
    """Where the branch is taken the gap's deviation from 1 is tiny (π/2): test it directly, in
    units of π, so a coefficient 1 or −1/2 instead of +1/2 is caught (they give 1.0 or −0.5 here)."""
    for theta_d in (-13.0, -15.0, -18.0):
        theta, d = np.array([0.0, theta_d]), np.array([0.0, 1.0])
        pi_d = np.exp(theta_d) / (1.0 + np.exp(theta_d))
        assert pi_d < 1e-5
        k = -E.gst_shift(theta, d, "p")[0]
        assert (k - 1.0) / pi_d == pytest.approx(0.5, abs=1e-3), ((k - 1.0) / pi_d, pi_d)


def test_running_mean_after_several_updates_is_the_hand_computed_average():
    """b_1 = m_1, b_t = ρ·b_{t−1} + (1 − ρ)·m_t with m_t the batch mean: four updates by hand
    (swapping the two weights gives 8.4 instead of 3.6 at the second update)."""
    rm = E.RunningMean(0.8)
    batches = [np.array([1.0, 3.0]), np.array([10.0]), np.array([4.0, 4.0, 4.0]), np.array([-6.0, -6.0])]
    want = [2.0, 0.8 * 2.0 + 0.2 * 10.0, None, None]
    want[2] = 0.8 * want[1] + 0.2 * 4.0
    want[3] = 0.8 * want[2] + 0.2 * -6.0
    for batch, w in zip(batches, want):
        assert float(rm.update(batch)) == pytest.approx(w, rel=1e-15)
    assert [round(v, 12) for v in want] == [2.0, 3.6, 3.68, 1.744] and rm.count == 4


def test_training_baseline_is_the_running_mean_of_earlier_steps_only():
    """train's REINFORCE 'running' baseline: the value used at step t is the running mean of the
    losses of steps 1..t−1 (0 at the first step), computed here by hand from the losses it saw."""
    from minigumbel.train import Run, TrainConfig
    run = Run(TrainConfig(estimator="reinforce", baseline="running", batch_size=4, hidden=4, n_items=3))
    rho = run.running.decay
    seen, used = [], []
    for losses in ([3.0, 1.0, 2.0, 6.0], [0.0, 0.0, 4.0, 4.0], [9.0, 9.0, 9.0, 9.0], [1.0, 2.0, 3.0, 4.0]):
        used.append(float(run._baseline(np.array(losses))))
        seen.append(np.mean(losses))
    hand = [0.0, seen[0]]
    for m in seen[1:3]:
        hand.append(rho * hand[-1] + (1 - rho) * m)
    np.testing.assert_allclose(used, hand, rtol=1e-15)
