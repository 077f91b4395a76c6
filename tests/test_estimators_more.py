"""GST and decoupled straight-through (estimators/straight_through.py), the two readings of Gumbel-Rao
(estimators/gumbel_rao.py); ReinMax below τ = 1; and straight-through Gumbel's bias as τ → 0. Exact expectations by enumerating d; Monte Carlo with fixed
seeds and tolerances from standard errors (stated at each test)."""
import numpy as np
import pytest

from minigumbel import estimators as E
from minigumbel import estimators as R     # the rules below: all public in minigumbel.estimators
from minigumbel.estimators.gumbel_rao import _gumbel_rao_vjp
from minigumbel.functional import softmax, softmax_vjp
from minigumbel.gradcheck import three_way
from minigumbel.lab import make_problem

from test_estimators import THETA, _enumerate, _exact_reference, _F, _jac, _probs, _problem


def _jv(p, v):
    return np.einsum("...ij,...j->...i", _jac(p), v)


# ----------------------------------------------------------------------------- GST

def _gst_logits_by_hand(theta, i, gap):
    """s̃ for one row written out: θ_i lifted to max θ, every other entry capped at max θ − κ."""
    top, s = theta.max(), theta.copy()
    if gap == "p":
        p = _probs(theta)[i]
        gap = -np.log(1 - p) / p
    s[i] = top
    for j in range(theta.size):
        if j != i:
            s[j] = min(theta[j], top - gap)
    return s


@pytest.mark.parametrize("gap", R.GAPS)
def test_gst_logits_put_the_sample_on_top_by_the_gap(gap):
    rng = np.random.default_rng(1)
    theta = rng.normal(size=(6, 5)) * 2
    for i in range(5):
        d = np.broadcast_to(np.eye(5)[i], theta.shape)
        s = theta + R.gst_shift(theta, d, gap)
        assert np.all(np.argmax(s, -1) == i)
        for b in range(6):
            np.testing.assert_allclose(s[b], _gst_logits_by_hand(theta[b], i, gap), atol=1e-12)


def test_the_pi_gap_is_st_gumbels_mean_winning_gap():
    # Derivation in gst_shift: given argmax = i, s_i − max_{j≠i} s_j (s = θ + g) has mean −log(1 − π_i)/π_i.
    # Checked per class over n = 200,000 Gumbel draws; tolerance 4 standard errors of each class mean.
    theta, n = np.array([0.8, -0.3, 0.1, -1.2]), 200_000
    s = theta + -np.log(-np.log(np.random.default_rng(2).uniform(size=(n, 4))))
    win = np.argmax(s, -1)
    ss = np.sort(s, -1)
    gaps = ss[:, -1] - ss[:, -2]
    p = _probs(theta)
    for i in range(4):
        g = gaps[win == i]
        assert abs(g.mean() - (-np.log(1 - p[i]) / p[i])) < 4 * g.std() / np.sqrt(g.size), i


@pytest.mark.parametrize("gap", R.GAPS)
def test_gst_expectation_by_enumeration_and_what_it_is_exact_for(gap):
    # The rule is deterministic given d, so Σ_i π_i rule(e_i) is its exact expectation. It matches the
    # formula written with full Jacobians; and it is exact for no f: already a linear f is biased
    # (unlike ST at τ = 1), as are quadratic and cubic f, at τ = 0.5, 1 and 2.
    rng = np.random.default_rng(3)
    dd = rng.normal(size=THETA.shape)
    for tau in (0.5, 1.0, 2.0):
        got = _enumerate(lambda d: R.gst_backward(THETA, d, dd, tau, gap), THETA)
        want = 0.0
        for i in range(5):
            s = np.stack([_gst_logits_by_hand(row, i, gap) for row in THETA])
            want = want + _probs(THETA)[:, i:i + 1] * _jv(_probs(s, tau), dd) / tau
        np.testing.assert_allclose(got, want, atol=1e-13)
        for kind in ("linear", "quadratic", "cubic"):
            f = _problem(kind, 5, 4)
            mean = _enumerate(lambda d: R.gst_backward(THETA, d, f(d)[1], tau, gap), THETA)
            assert np.abs(mean - _exact_reference(THETA, _F(f, THETA))).max() > 1e-2, (kind, tau)


def test_gst_and_total_gumbel_rao_three_way_and_wrong_rules_are_rejected():
    cases = [c for c in E.GRADCHECK_CASES if "gst" in c.__name__ or "total" in c.__name__]
    assert len(cases) == 6
    for case in cases:                     # hand rule vs autograd vs finite differences (float64)
        r = case()
        assert r.ok, str(r)
    rng = np.random.default_rng(4)
    # negative control 1: GST's rule without its perturbation c (plain ST at θ) against GST's relaxation
    gst = E.ESTIMATORS["gst-1.0"]
    draw = gst.sample(THETA, rng, 0.7)
    wrong = lambda dd: softmax_vjp(dd, softmax(THETA, 0.7), 0.7)          # noqa: E731
    assert not three_way("gst without c", lambda t: gst.relaxed(t, draw), wrong, THETA).ok
    # negative control 2: the stop-gradient reading's rule against the total-derivative relaxation
    tot = E.ESTIMATORS["gumbel-rao-total"]
    draw = tot.sample(THETA, rng, 0.7, k=3)
    cur = lambda dd: _gumbel_rao_vjp(THETA, R.conditional_logits(THETA, draw.d, draw.g) - THETA, dd, 0.7)  # noqa: E731
    assert not three_way("gumbel-rao, noise held", lambda t: tot.relaxed(t, draw), cur, THETA).ok


def test_bad_gap_and_tau_forward_are_value_errors():
    d = np.eye(5)[[0, 1, 2]]
    for gap in (0.0, -1.0, "q", True, float("nan")):
        with pytest.raises(ValueError, match="gap must be"):
            R.gst_shift(THETA, d, gap)
    with pytest.raises(ValueError, match="tau_forward"):
        E.estimate("decoupled", THETA, _problem("linear", 5, 0), np.random.default_rng(0), 1.0, tau_forward=0.0)
    with pytest.raises(ValueError, match="do not apply"):
        E.estimate("gst-p", THETA, _problem("linear", 5, 0), np.random.default_rng(0), 1.0, k=3)


# ----------------------------------------------------------------------------- decoupled
# Shah et al. (arXiv 2410.13331): one draw g; forward argmax(θ/τ_f + g) ~ Cat(softmax(θ/τ_f)),
# backward the VJP of softmax(θ/τ_b + g). τ (the schedule's) is τ_b, the option tau_forward τ_f.

def test_decoupled_three_way_and_a_wrong_rule_is_rejected():
    cases = [c for c in E.GRADCHECK_CASES if "decoupled" in c.__name__]
    assert len(cases) == 2                 # τ_f = τ_b = 1.5, and τ_f = 0.6 ≠ τ_b = 1.5
    for case in cases:                     # hand rule vs autograd vs finite differences (float64)
        r = case()
        assert r.ok, str(r)
    # negative control: the VJP of softmax((θ + g)/τ_b) (Jang et al.'s scaling of the noise) is a
    # different function's; against the paper's softmax(θ/τ_b + g) it must be caught
    est = E.ESTIMATORS["decoupled"]
    draw = est.sample(THETA, np.random.default_rng(4), 1.5, tau_forward=0.6)
    wrong = lambda dd: E.st_gumbel_backward(THETA, draw.g, dd, 1.5)          # noqa: E731
    assert not three_way("decoupled, noise scaled by 1/τ_b", lambda t: est.relaxed(t, draw), wrong, THETA).ok
    dd = np.random.default_rng(5).normal(size=THETA.shape)
    np.testing.assert_array_equal(est.backward(draw, dd), R.decoupled_st_gumbel_backward(THETA, draw.g, dd, 1.5))


@pytest.mark.parametrize("tau_forward", [None, 1.0])
def test_decoupled_at_tau_1_is_st_gumbel_bit_for_bit(tau_forward):
    # τ_f = τ_b = 1: argmax(θ/1 + g) and softmax(θ/1 + g) are ST-Gumbel's draw and relaxation at τ = 1.
    f = _problem("cubic", 5, 5)
    opts = {} if tau_forward is None else {"tau_forward": tau_forward}
    v1, g1 = E.estimate_samples("decoupled", THETA, f, np.random.default_rng(6), 1.0, 50, **opts)
    v2, g2 = E.estimate_samples("st-gumbel", THETA, f, np.random.default_rng(6), 1.0, 50)
    assert np.array_equal(v1, v2) and np.array_equal(g1, g2)


@pytest.mark.parametrize("tau_forward, tau", [(0.4, 1.0), (2.5, 1.0), (None, 0.5)])
def test_decoupled_forward_draws_follow_cat_softmax_theta_over_tau_f(tau_forward, tau):
    # n = 40,000 forward draws of one row (fixed seed), Pearson's χ² (3 degrees of freedom):
    # against Cat(softmax(θ/τ_f)) p must exceed 1e-3 (a false alarm 1 time in 1000); against
    # Cat(softmax θ) (the law of the draw when τ_f is ignored) p must be below 1e-12.
    from minigumbel.stats import chisquare
    theta, n = np.array([1.0, 0.2, -0.5, -1.5]), 40_000
    opts = {} if tau_forward is None else {"tau_forward": tau_forward}
    draw = E.ESTIMATORS["decoupled"].sample(np.broadcast_to(theta, (n, 4)), np.random.default_rng(10), tau, **opts)
    counts = draw.z.sum(axis=0)
    tau_f = tau if tau_forward is None else tau_forward
    assert chisquare(counts, _probs(theta, tau_f))[2] > 1e-3
    assert chisquare(counts, _probs(theta))[2] < 1e-12


def _decoupled_expectation_k2(theta, dd0, dd1, tau_f, tau_b, nodes=200):
    """E[rule] for K = 2 rows: enumerate the forward sample i ∈ {0, 1}, integrate the noise.

    With δ = g_1 − g_0 ~ Logistic(0, 1) and u = σ(δ) ~ U(0, 1): the forward picks 1 iff
    u > u* = σ((θ_0 − θ_1)/τ_f); the backward Jacobian is s(u)/τ_b · [[1, −1], [−1, 1]],
    s = y(1 − y), y = σ((θ_1 − θ_0)/τ_b + δ). So E[rule] = [[1, −1], [−1, 1]] (A_0 dd(e_0) + A_1 dd(e_1))/τ_b,
    A_0 = ∫_0^u* s du, A_1 = ∫_u*^1 s du (Gauss–Legendre on each piece; s is smooth in u)."""
    x, w = np.polynomial.legendre.leggauss(nodes)
    out = []
    for t, a0, a1 in zip(theta, dd0, dd1):
        u_star = 1.0 / (1.0 + np.exp(-(t[0] - t[1]) / tau_f))
        def integral(lo, hi):
            u = lo + (hi - lo) * (x + 1) / 2
            y = 1.0 / (1.0 + np.exp(-((t[1] - t[0]) / tau_b + np.log(u) - np.log1p(-u))))
            return (hi - lo) / 2 * np.sum(w * y * (1 - y))
        v = integral(0.0, u_star) * a0 + integral(u_star, 1.0) * a1
        out.append(np.array([v[0] - v[1], v[1] - v[0]]) / tau_b)
    return np.array(out)


@pytest.mark.parametrize("tau_forward, tau", [(0.5, 1.0), (2.0, 0.5), (1.0, 1.0)])
def test_decoupled_expectation_by_enumeration_and_quadrature(tau_forward, tau):
    # The rule's expectation for K = 2 (enumerate the forward sample, integrate the one-dimensional
    # noise exactly enough: 200-node Gauss–Legendre per piece) against the mean of n = 100,000
    # estimates of the library's decoupled (fixed seed) on a cubic f; tolerance 4 standard errors per
    # coordinate. Negative control: the same formula with τ_f replaced by τ_b (a forward that ignores
    # τ_f) is more than 10 standard errors off wherever τ_f ≠ τ_b.
    theta = np.array([[0.4, -0.3], [-1.0, 0.8], [1.5, 1.2]])
    f = _problem("cubic", 2, 11)
    dd0, dd1 = (np.broadcast_to(f(np.eye(2)[i])[1], theta.shape) for i in (0, 1))
    n = 100_000
    _, grads = E.estimate_samples("decoupled", theta, f, np.random.default_rng(12), tau, n, tau_forward=tau_forward)
    mean, se = grads.mean(0), grads.std(0) / np.sqrt(n)
    want = _decoupled_expectation_k2(theta, dd0, dd1, tau_forward, tau)
    assert np.all(np.abs(mean - want) < 4 * se + 1e-12), (mean, want, se)
    if tau_forward != tau:
        ignored = _decoupled_expectation_k2(theta, dd0, dd1, tau, tau)
        assert np.max(np.abs(mean - ignored) / se) > 10


# ----------------------------------------------------------------------------- the Gumbel-Rao question

def test_only_the_stop_gradient_reading_of_gumbel_rao_has_k1_equal_to_st_gumbel():
    # Enumerate d = e_i; for each, E[ST-GS | argmax = i] by rejection from n = 200,000 unconditional draws,
    # against k = 1 Gumbel-Rao estimates given d (as many as accepted draws) in both readings.
    # Tolerance: 4 standard errors of the difference of the two means, per coordinate.
    theta, tau, n = np.array([0.3, -0.2, 0.5, -0.6]), 0.5, 200_000
    dd = np.array([1.0, -2.0, 0.5, 3.0])
    rng = np.random.default_rng(9)
    g = -np.log(-np.log(rng.uniform(size=(n, 4))))
    win = np.argmax(theta + g, -1)
    st = E.st_gumbel_backward(np.broadcast_to(theta, g.shape), g, np.broadcast_to(dd, g.shape), tau)
    far = 0.0
    for i in range(4):
        ref = st[win == i]
        m = ref.shape[0]
        th, d = np.broadcast_to(theta, (m, 4)), np.broadcast_to(np.eye(4)[i], (m, 4))
        cur = E.gumbel_rao_backward(th, d, np.broadcast_to(dd, (m, 4)), tau, k=1, rng=rng)
        h = -np.log(-np.log(rng.uniform(size=(1, m, 4))))
        tot = R.gumbel_rao_total_backward(th, d, np.broadcast_to(dd, (m, 4)), h, tau)
        se = lambda a: np.sqrt(a.var(0) / m + ref.var(0) / m)               # noqa: E731
        assert np.all(np.abs(cur.mean(0) - ref.mean(0)) <= 4 * se(cur)), i
        far = max(far, np.max(np.abs(tot.mean(0) - ref.mean(0)) / se(tot)))
    assert far > 10, far           # the total-derivative reading is another estimator


def test_total_derivative_reading_has_lower_variance_and_larger_bias_on_the_lab_problems():
    # 20,000 estimates each, k = 1 and 10, τ = 0.5, lab problems (seed 0): the total reading's variance is
    # lower, and its bias norm exceeds the stop-gradient reading's by more than 10 combined s.e.
    exact_of = lambda th, f: E.estimate("exact", th, f, np.random.default_rng(0))[1]   # noqa: E731
    for problem in ("quadratic", "cubic", "pointer"):
        theta, f = make_problem(problem, 5, 0, np)
        exact = exact_of(theta, f)
        for k in (1, 10):
            stats = {}
            for name in ("gumbel-rao", "gumbel-rao-total"):
                _, g = E.estimate_samples(name, theta, f, np.random.default_rng(10), 0.5, 20_000, k=k)
                var = g.var(0, ddof=1).sum()
                stats[name] = (np.linalg.norm(g.mean(0) - exact), np.sqrt(var / 20_000), var)
            (b0, s0, v0), (b1, s1, v1) = stats["gumbel-rao"], stats["gumbel-rao-total"]
            assert v1 < v0 and b1 > b0 + 10 * np.hypot(s0, s1), (problem, k, stats)


# ----------------------------------------------------------------------------- ReinMax below τ = 1

def test_reinmax_is_computed_below_tau_one_and_is_exact_only_at_one():
    rng = np.random.default_rng(11)
    d, dd = np.eye(5)[rng.integers(0, 5, size=3)], rng.normal(size=(3, 5))
    half = (_probs(THETA, 0.5) + d) / 2
    np.testing.assert_allclose(E.reinmax_backward(THETA, d, dd, 0.5),
                               2 * _jv(half, dd) - 0.5 * _jv(_probs(THETA), dd), atol=1e-14)
    f = _problem("quadratic", 5, 12)
    ref = _exact_reference(THETA, _F(f, THETA))
    for tau, exact in ((0.5, False), (0.9, False), (1.0, True)):
        mean = _enumerate(lambda d: E.reinmax_backward(THETA, d, f(d)[1], tau), THETA)
        err = np.abs(mean - ref).max()
        assert (err < 1e-12) if exact else (err > 1e-3), (tau, err)


# ----------------------------------------------------------------------------- ST-Gumbel's bias as τ → 0

def test_st_gumbel_stays_biased_on_the_cubic_problem_as_tau_falls_soft_gumbel_does_not():
    # Lab cubic problem (K = 5, seed 0, ‖∇‖ = 2.60), 40,000 estimates per cell. ST-Gumbel's bias at
    # τ = 0.2 and 0.05 exceeds 0.8 and 6 s.e. (a trapezoid rule across the decision boundaries in the
    # limit, exact only for f of degree ≤ 2); Gumbel-Rao inherits it; at τ = 0.05 soft Gumbel's bias is
    # below ST-Gumbel's by more than 6 combined s.e. (an independent Monte Carlo gave 1.26 vs 0.08).
    theta, f = make_problem("cubic", 5, 0, np)
    exact = E.estimate("exact", theta, f, np.random.default_rng(0))[1]
    assert np.linalg.norm(exact) == pytest.approx(2.5998, abs=1e-4)
    for tau in (0.2, 0.05):
        out = {}
        for name, opts in (("st-gumbel", {}), ("gumbel-rao", {"k": 10}), ("gumbel", {})):
            _, g = E.estimate_samples(name, theta, f, np.random.default_rng(13), tau, 40_000, **opts)
            out[name] = (np.linalg.norm(g.mean(0) - exact), np.sqrt(g.var(0, ddof=1).sum() / 40_000))
        for name in ("st-gumbel", "gumbel-rao"):
            b, se = out[name]
            assert b > 0.8 and b > 6 * se, (tau, name, out)
        if tau == 0.05:
            (b0, s0), (b1, s1) = out["st-gumbel"], out["gumbel"]
            assert b0 - b1 > 6 * np.hypot(s0, s1), out


@pytest.mark.parametrize("module", ["base", "score_function", "straight_through", "relaxed", "gumbel_rao", "registry"])
def test_each_estimator_module_imports_on_its_own_in_a_fresh_interpreter(module):
    # imports run one way (rules <- registry): any family module imported first works, and the
    # package's registry is complete whichever module was imported first
    import subprocess
    import sys
    code = (f"import minigumbel.estimators.{module}; import minigumbel.estimators as E; "
            "print(len(E.ESTIMATORS), len(E.GRADCHECK_CASES))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == [str(len(E.ESTIMATORS)), str(len(E.GRADCHECK_CASES))]


def test_the_rules_take_array_likes_and_refuse_a_bad_h():
    # like the older rules (st_gumbel_backward, reinmax_backward): lists are arrays, not AttributeErrors
    theta, d, dd = [[0.2, -0.4, 1.0]], [[0.0, 1.0, 0.0]], [[1.0, -2.0, 0.5]]
    a = lambda x: np.array(x, dtype=float)                                  # noqa: E731
    np.testing.assert_array_equal(R.gst_backward(theta, d, dd, 0.7, "p"), R.gst_backward(a(theta), a(d), a(dd), 0.7, "p"))
    np.testing.assert_array_equal(R.decoupled_st_gumbel_backward(theta, dd, dd, 0.7),
                                  R.decoupled_st_gumbel_backward(a(theta), a(dd), a(dd), 0.7))
    h = np.random.default_rng(0).gumbel(size=(2, 1, 3))
    np.testing.assert_array_equal(R.gumbel_rao_total_backward(theta, d, dd, h.tolist(), 0.7),
                                  R.gumbel_rao_total_backward(a(theta), a(d), a(dd), h, 0.7))
    with pytest.raises(ValueError, match=r"h must be \(k,\)"):
        R.gumbel_rao_total_backward(a(theta), a(d), a(dd), np.zeros((2, 1, 4)))
