"""minigumbel.permutations: Gumbel-sort (exact Plackett-Luce), NeuralSort, Sinkhorn, Gumbel-Sinkhorn,
matching — the hand VJPs three ways (hand vs autograd vs central differences, float64) with negative
controls, exactness by enumeration, limits in τ and rounds, and the front door."""
from __future__ import annotations

import itertools
import math
import sys

import numpy as np
import pytest

from minigumbel import permutations as PM
from minigumbel.functional import one_hot, sample_gumbel, sum_to_shape
from minigumbel.gradcheck import assert_three_way, three_way


def _pl_prob_direct(theta, order):
    """P(order) under PL(softmax θ) from its definition: Π_r π_{o_r} / (1 − Σ_{j<r} π_{o_j})."""
    p = np.exp(theta - np.max(theta))
    p = p / p.sum()
    out, left = 1.0, 1.0
    for i in order:
        if left <= 0:
            return 0.0 if p[i] > 0 else out
        out *= p[i] / left
        left -= p[i]
    return out


# ----------------------------------------------------------------------------- three-way checks

@pytest.mark.parametrize("tau", [0.05, 0.5, 1.0, 4.0])
@pytest.mark.parametrize("axis", [-1, 0])
def test_neuralsort_vjp_three_way(tau, axis):
    rng = np.random.default_rng(1)
    s = rng.normal(size=(3, 6)) if axis == -1 else rng.normal(size=(6, 3))
    assert_three_way("neuralsort_vjp", lambda t: PM.neuralsort(t, tau, axis),
                     lambda d: PM.neuralsort_vjp(d, s, tau, axis), s, atol_fd=1e-5)


@pytest.mark.parametrize("n_iters", [1, 3, 20])
def test_sinkhorn_vjp_three_way(n_iters):
    rng = np.random.default_rng(3)
    la = 2.0 * rng.normal(size=(2, 5, 5))
    assert_three_way("sinkhorn_vjp", lambda t: PM.sinkhorn(t, n_iters),
                     lambda d: PM.sinkhorn_vjp(d, la, n_iters), la)


@pytest.mark.parametrize("tau", [0.2, 1.0, 3.0])
def test_gumbel_sinkhorn_vjp_three_way_broadcast(tau):
    # log α (n, n) against noise (S, n, n): the VJP in the broadcast shape, reduced by sum_to_shape
    rng = np.random.default_rng(4)
    la = rng.normal(size=(4, 4))
    g = sample_gumbel(rng, (3, 4, 4))
    assert_three_way("gumbel_sinkhorn_vjp",
                     lambda t: PM.gumbel_sinkhorn(t, g, tau, 10),
                     lambda d: sum_to_shape(PM.gumbel_sinkhorn_vjp(d, la, g, tau, 10), la.shape), la)


def test_vjps_traced_by_autograd_give_the_jvp():
    # sinkhorn_vjp and neuralsort_vjp are linear in dP: d/d(dP) ⟨v, vjp(dP)⟩ = J v, the forward's
    # directional derivative, here by central differences. Autograd boxes take the traced branch
    # of _sinkhorn_vjp and NeuralSort's O(n²) backward, which plain NumPy arrays never reach
    import autograd
    rng = np.random.default_rng(15)
    la, s = rng.normal(size=(2, 4, 4)), rng.normal(size=(2, 5))
    for fwd, vjp, x in ((lambda t: PM.sinkhorn(t, 7), lambda d: PM.sinkhorn_vjp(d, la, 7), la),
                        (lambda t: PM.neuralsort(t, 0.6), lambda d: PM.neuralsort_vjp(d, s, 0.6), s)):
        v, h = rng.normal(size=x.shape), 1e-6
        fd = (fwd(x + h * v) - fwd(x - h * v)) / (2 * h)
        jv = autograd.grad(lambda d: (vjp(d) * v).sum())(rng.normal(size=fd.shape))
        assert np.abs(jv - fd).max() < 1e-7 * np.abs(fd).max(), np.abs(jv - fd).max()


def test_neuralsort_vjp_general_rule_with_ties_and_an_array_tau():
    # NumPy takes the O(n log n) sorted rule when the scores have no ties and τ is a float; tied
    # scores and an array τ take the O(n²) rule: both against autograd (|x|' = 0 at 0 in both) and,
    # for the array τ, central differences
    rng = np.random.default_rng(16)
    s = np.array([[0.3, 0.3, -1.0, 2.0, 2.0], [0.5, -0.2, 1.1, 0.0, 0.9]])
    dP = rng.normal(size=(2, 5, 5))
    import autograd
    auto = autograd.grad(lambda t: (PM.neuralsort(t, 0.7) * dP).sum())(s)
    assert np.allclose(PM.neuralsort_vjp(dP, s, 0.7), auto, atol=1e-12)
    tau = np.array(0.7)
    assert_three_way("neuralsort_vjp, array τ", lambda t: PM.neuralsort(t, tau),
                     lambda d: PM.neuralsort_vjp(d, s[1:], tau), s[1:], atol_fd=1e-5)


def test_gradcheck_cases_pass():
    for r in PM.GRADCHECK_CASES[0]():
        assert r.ok, str(r)


def test_negative_controls_wrong_rules_are_rejected():
    rng = np.random.default_rng(5)
    s = rng.normal(size=(2, 5))
    la = rng.normal(size=(2, 4, 4))

    def neuralsort_without_sort_term(d):        # forgets ∂B/∂s (the A_s 1 term of NeuralSort)
        z, _, c = PM._neuralsort_logits(s, 1.0)
        P = PM._softmax(z, 1.0, -1)
        w = P * (d - (d * P).sum(-1, keepdims=True))
        return (c[:, None] * w).sum(-2)
    r = three_way("neuralsort, wrong", lambda t: PM._neuralsort(t, 1.0), neuralsort_without_sort_term, s)
    assert not r.ok and r.rel_vs_autograd > 1e-2 and r.rel_vs_fd > 1e-2

    def sinkhorn_one_round_short(d):            # the backward of the last round only (of two)
        _, states = PM._sinkhorn(la, 2, keep=True)
        return PM._sinkhorn_vjp(d, states[2:])
    r = three_way("sinkhorn, wrong", lambda t: PM._sinkhorn(t, 2)[0], sinkhorn_one_round_short, la)
    assert not r.ok and r.rel_vs_fd > 1e-2

    g = sample_gumbel(rng, la.shape)            # forgets the 1/τ of X = (log α + g)/τ
    r = three_way("gumbel_sinkhorn, wrong", lambda t: PM.gumbel_sinkhorn(t, g, 0.5, 5),
                  lambda d: PM.sinkhorn_vjp(d, (la + g) / 0.5, 5), la)
    assert not r.ok and r.rel_vs_autograd > 0.4


# ----------------------------------------------------------------------------- Gumbel-sort is exact PL

@pytest.mark.parametrize("theta", [[0.5, -0.3, 1.2, 0.0], [0.5, -np.inf, 1.2, 0.0], [-np.inf, 2.0, -np.inf, 0.0]])
def test_gumbel_sort_is_plackett_luce_chi2(theta):
    # χ² of 40,000 Gumbel-sorts against the 24 enumerated orders of n = 4 (seed 0). Orders that put a
    # masked item before an unmasked one, or masked items out of index order, have probability 0
    # and must never appear; the rest are tested by χ² at level 1e-3 (fixed seed: deterministic).
    from scipy.stats import chi2
    from minigumbel.subsets import plackett_luce_log_prob
    theta = np.array(theta)
    n, draws = 4, 40_000
    rng = np.random.default_rng(0)
    orders = PM.gumbel_sort(theta, sample_gumbel(rng, (draws, n)))              # (draws, n)
    perms = list(itertools.permutations(range(n)))
    index = {p: i for i, p in enumerate(perms)}
    counts = np.bincount([index[tuple(o)] for o in orders.tolist()], minlength=len(perms))
    masked = np.isinf(theta)
    unmasked_n = int((~masked).sum())
    probs = np.zeros(len(perms))
    for i, p in enumerate(perms):
        head, tail = p[:unmasked_n], p[unmasked_n:]
        if all(not masked[j] for j in head) and list(tail) == sorted(tail):
            lp = float(plackett_luce_log_prob(theta, np.array(head)))
            probs[i] = math.exp(lp)
            assert probs[i] == pytest.approx(_pl_prob_direct(theta, head), rel=1e-12)
    assert probs.sum() == pytest.approx(1.0, abs=1e-12)
    assert counts[probs == 0].sum() == 0
    seen = probs > 0
    expected = draws * probs[seen]
    stat = float(((counts[seen] - expected) ** 2 / expected).sum())
    assert chi2.sf(stat, seen.sum() - 1) > 1e-3, (stat, counts, expected)


def test_gumbel_sort_is_argsort_of_keys_decreasing():
    rng = np.random.default_rng(6)
    theta, g = rng.normal(size=(5, 7)), sample_gumbel(rng, (5, 7))
    o = PM.gumbel_sort(theta, g)
    keys = np.take_along_axis(theta + g, o, -1)
    assert np.all(np.diff(keys, axis=-1) < 0)
    assert np.array_equal(PM.gumbel_sort(theta.T, g.T, axis=0), o.T)


# ----------------------------------------------------------------------------- NeuralSort

@pytest.mark.parametrize("tau", [1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0])
def test_neuralsort_row_argmax_is_the_sort_for_every_tau(tau):
    # Grover et al. 2019, Thm. 4 (unimodal rows): argmax of row r is the item of rank r, at every τ
    s = np.random.default_rng(7).normal(size=(500, 9))
    P = PM.neuralsort(s, tau)
    assert np.allclose(P.sum(-1), 1.0, atol=1e-12)
    assert np.array_equal(P.argmax(-1), np.argsort(-s, axis=-1))


def test_neuralsort_tends_to_the_permutation_matrix():
    # scores at least 0.3 apart: max|P̂ − P| ≤ (n − 1) exp(−gap/τ) falls below round-off by τ = 1e-4
    rng = np.random.default_rng(8)
    s = 0.4 * rng.permuted(np.tile(np.arange(6.0), (50, 1)), axis=1) + rng.uniform(-0.05, 0.05, (50, 6))
    hard = one_hot(np.argsort(-s, axis=-1), 6)
    errs = [np.abs(PM.neuralsort(s, tau) - hard).max() for tau in (1.0, 0.1, 0.01, 1e-4)]
    assert all(a > b for a, b in zip(errs, errs[1:])), errs
    assert errs[-1] < 1e-12
    assert np.array_equal(PM.neuralsort(s, 1e-4) @ s[..., None], np.sort(s, -1)[:, ::-1, None])


def test_neuralsort_matches_the_formula_written_out():
    # row r (1-based) = softmax(((n + 1 − 2r) s − A_s 1)/τ), written entry by entry
    s = np.array([0.3, -1.2, 2.0, 0.7])
    n, tau = 4, 0.8
    P = PM.neuralsort(s, tau)
    for r in range(1, n + 1):
        z = [((n + 1 - 2 * r) * s[i] - sum(abs(s[i] - s[j]) for j in range(n))) / tau for i in range(n)]
        e = np.exp(np.array(z) - max(z))
        assert np.allclose(P[r - 1], e / e.sum(), atol=1e-15)


# ----------------------------------------------------------------------------- Sinkhorn

def _sinkhorn_exp_space(la, n_iters):
    """An independent reference for moderate log α: exp, then divide by row and column sums."""
    A = np.exp(la)
    for _ in range(n_iters):
        A = A / A.sum(-1, keepdims=True)
        A = A / A.sum(-2, keepdims=True)
    return A


def test_sinkhorn_equals_exp_space_reference():
    la = np.random.default_rng(9).normal(size=(3, 6, 6))
    for n_iters in (1, 5, 20):
        assert np.allclose(PM.sinkhorn(la, n_iters), _sinkhorn_exp_space(la, n_iters), atol=1e-13)


@pytest.mark.parametrize("tau", [1.0, 0.3, 0.1])
def test_sinkhorn_row_and_column_sums_converge(tau):
    # columns sum to 1 after the last (column) half-step; the rows' distance from 1 shrinks with
    # the rounds (truncated Sinkhorn is not doubly stochastic), more slowly at small τ
    la = np.random.default_rng(10).normal(size=(20, 8, 8)) / tau
    dev = {}
    for n_iters in (1, 5, 20, 200, 2000):
        P = PM.sinkhorn(la, n_iters)
        assert np.abs(P.sum(-2) - 1).max() < 1e-12
        dev[n_iters] = np.abs(P.sum(-1) - 1).max()
    assert dev[1] > dev[5] > dev[20] > dev[200] >= dev[2000], dev
    # measured (seed 10): after 2000 rounds 2.2e-16 at τ = 1 and 0.3, but 3.8e-4 at τ = 0.1
    assert dev[2000] < {1.0: 1e-12, 0.3: 1e-12, 0.1: 1e-3}[tau], dev


def test_sinkhorn_finite_at_small_tau_and_large_log_alpha():
    rng = np.random.default_rng(11)
    la = rng.normal(size=(4, 6, 6))
    g = sample_gumbel(rng, la.shape)
    for x, tau in ((la, 1e-2), (1e6 * la, 1.0), (1e30 * np.sign(la), 1.0), (la, 1e-4)):
        with np.errstate(over="raise", invalid="raise"):
            P = PM.gumbel_sinkhorn(x, g, tau, 20)
            d = PM.gumbel_sinkhorn_vjp(np.ones_like(P), x, g, tau, 20)
        assert np.all(np.isfinite(P)) and np.all(np.isfinite(d))
        assert np.abs(P.sum(-2) - 1).max() < 1e-12
    with np.errstate(over="ignore", invalid="ignore"):    # the pitfall avoided: exp space overflows
        assert not np.all(np.isfinite(_sinkhorn_exp_space(1e6 * la, 20)))


def test_gumbel_sinkhorn_tends_to_the_matching():
    # as τ falls (with rounds enough for Sinkhorn to converge there) P = gumbel_sinkhorn(log α, g, τ)
    # approaches the permutation matrix of matching(log α + g). Measured (seed 12, 30 matrices of
    # n = 5): the median over matrices of max|P − hard| is 0.66, 0.38, 0.067, 4.9e-4 at the four τ
    rng = np.random.default_rng(12)
    la = rng.normal(size=(30, 5, 5))
    g = sample_gumbel(rng, la.shape)
    perm = PM.matching(la + g)
    hard = one_hot(perm, 5)
    errs = []
    for tau, rounds in ((1.0, 20), (0.3, 200), (0.1, 1000), (0.03, 3000)):
        P = PM.gumbel_sinkhorn(la, g, tau, rounds)
        errs.append(np.median(np.abs(P - hard).max(axis=(-2, -1))))
    assert all(a > b for a, b in zip(errs, errs[1:])) and errs[-1] < 1e-3, errs
    assert np.array_equal(P.argmax(-1), perm)


def test_sinkhorn_backward_bytes():
    assert PM.sinkhorn_backward_bytes(50, 20, 64) == 2 * 50 * 50 * 20 * 64 * 8
    _, states = PM._sinkhorn(np.zeros((64, 50, 50)), 20, keep=True)
    assert sum(s.nbytes for s in states) == PM.sinkhorn_backward_bytes(50, 20, 64)


# ----------------------------------------------------------------------------- matching

def test_matching_is_the_best_assignment_by_enumeration():
    rng = np.random.default_rng(13)
    la = rng.normal(size=(30, 5, 5))
    perm = PM.matching(la)
    rows = np.arange(5)
    for b in range(30):
        best = max(itertools.permutations(range(5)), key=lambda p: la[b, rows, list(p)].sum())
        assert list(perm[b]) == list(best)


def test_matching_without_scipy_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)
    with pytest.raises(ImportError, match=r"minigumbel\[matching\]"):
        PM.matching(np.zeros((3, 3)))


# ----------------------------------------------------------------------------- front door

@pytest.mark.parametrize("call, match", [
    (lambda: PM.sinkhorn(np.zeros((3, 4))), "square"),
    (lambda: PM.sinkhorn(np.zeros((3, 3)), 0), "n_iters"),
    (lambda: PM.sinkhorn(np.full((3, 3), np.nan)), "NaN"),
    (lambda: PM.sinkhorn(np.full((3, 3), -np.inf)), "finite"),
    (lambda: PM.gumbel_sinkhorn(np.zeros((3, 3)), np.zeros((3, 3)), 0.0), "tau"),
    (lambda: PM.neuralsort(np.zeros(3), -1.0), "tau"),
    (lambda: PM.neuralsort([1.0, np.nan], 1.0), "NaN"),
    (lambda: PM.neuralsort_vjp(np.zeros((2, 3)), np.zeros(3), 1.0), "dP"),
    (lambda: PM.gumbel_sort([1.0, 2.0], [0.0, np.inf]), "g"),
    (lambda: PM.matching(np.zeros(3)), "square"),
])
def test_bad_input_is_a_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----------------------------------------------------------------------------- CuPy

def test_cupy_paths_equal_numpy(backend):
    rng = np.random.default_rng(14)
    s, la = rng.normal(size=(3, 5)), rng.normal(size=(3, 5, 5))
    g = sample_gumbel(rng, la.shape)
    dev = lambda a: backend.asarray(a)                        # noqa: E731
    host = backend.to_numpy
    assert np.allclose(host(PM.neuralsort(dev(s), 0.5)), PM.neuralsort(s, 0.5), atol=1e-13)
    assert np.allclose(host(PM.neuralsort_vjp(dev(la), dev(s), 0.5)), PM.neuralsort_vjp(la, s, 0.5), atol=1e-12)
    assert np.allclose(host(PM.gumbel_sinkhorn(dev(la), dev(g), 0.5)), PM.gumbel_sinkhorn(la, g, 0.5), atol=1e-13)
    assert np.allclose(host(PM.gumbel_sinkhorn_vjp(dev(s[:, None, :] * 0 + la), dev(la), dev(g), 0.5)),
                       PM.gumbel_sinkhorn_vjp(la, la, g, 0.5), atol=1e-12)
    assert np.array_equal(host(PM.gumbel_sort(dev(s), dev(g[:, 0]))), PM.gumbel_sort(s, g[:, 0]))
    assert np.array_equal(host(PM.matching(dev(la))), PM.matching(la))
