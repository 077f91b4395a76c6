"""subsets.py: Gumbel-top-k against enumerated Plackett-Luce probabilities, the PL log-probability
and its VJP (hand vs autograd vs finite differences, with a negative control), masks, bad input."""
import itertools
import math

import numpy as np
import pytest

from minigumbel import functional as F
from minigumbel import subsets as S
from minigumbel.gradcheck import assert_three_way, three_way
from minigumbel.stats import chisquare


def pl_prob_by_formula(p, order):
    """P(o) = Π_i p_{o_i} / (1 − Σ_{j<i} p_{o_j}), written out independently of subsets.py."""
    out, used = 1.0, 0.0
    for i in order:
        out *= p[i] / (1.0 - used)
        used += p[i]
    return out


def ordered_prefixes(n, k):
    return list(itertools.permutations(range(n), k))


# ----------------------------------------------------------------------------- exactness

@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("masked", [False, True])
def test_pl_log_prob_matches_the_product_formula_and_sums_to_one(k, masked):
    theta = np.array([0.3, -1.2, 2.0, 0.5, -0.1])
    if masked:
        theta[1] = -np.inf
    p = np.exp(theta - theta.max())
    p /= p.sum()
    orders = ordered_prefixes(5, k)
    lp = S.plackett_luce_log_prob(theta, np.array(orders))           # all prefixes in one batch
    expected = np.array([pl_prob_by_formula(p, o) for o in orders])
    np.testing.assert_allclose(np.exp(lp), expected, rtol=1e-12, atol=0)
    assert np.all((lp == -np.inf) == (expected == 0))                 # a masked item: exactly −inf
    assert abs(np.exp(lp).sum() - 1.0) <= 1e-13                        # every prefix length sums to 1


def test_pl_log_prob_is_computed_in_log_space():
    # p of the last items ~ e^-800: 1 − Σp would round to 0 and log P to −inf or NaN
    theta = np.array([0.0, -800.0, -801.0, -802.0])
    lp = S.plackett_luce_log_prob(theta, [0, 1, 2, 3])
    # by hand: step 1 ~ 0 (item 0 has all the mass), then a 3-way softmax of (0, −1, −2), then 2-way
    want = (0.0 - np.logaddexp.reduce(theta)) + (-800 - np.logaddexp.reduce(theta[1:])) \
        + (-801 - np.logaddexp.reduce(theta[2:])) + 0.0
    assert np.isfinite(lp) and abs(lp - want) < 1e-12
    d = S.plackett_luce_log_prob_vjp(1.0, theta, [0, 1, 2, 3])
    assert np.all(np.isfinite(d))


def test_pl_log_prob_and_vjp_keep_float32():
    # float32 in, float32 out (the module's dtype rule), also for θ broadcast against the orders
    theta = np.array([0.1, 0.5, -1.0, 2.0], np.float32)
    orders = np.array([[1, 2], [3, 0]])
    lp = S.plackett_luce_log_prob(theta, orders)
    d = S.plackett_luce_log_prob_vjp(np.ones(2, np.float32), theta, orders)
    assert lp.dtype == np.float32 and d.dtype == np.float32, (lp.dtype, d.dtype)
    np.testing.assert_allclose(lp, S.plackett_luce_log_prob(theta.astype(np.float64), orders), rtol=1e-6)


N_DRAWS = 120_000


def _topk_counts(theta, k, seed):
    rng = np.random.default_rng(seed)
    g = F.sample_gumbel(rng, (N_DRAWS, theta.size))
    idx = S.gumbel_topk(theta, g, k)                                   # (N_DRAWS, k)
    cells = {o: i for i, o in enumerate(ordered_prefixes(theta.size, k))}
    counts = np.bincount([cells[tuple(r)] for r in idx.tolist()], minlength=len(cells))
    return counts, list(cells)


@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("masked", [False, True])
def test_gumbel_topk_is_plackett_luce_chi_square(k, masked):
    # n = 4 weights: all 12 ordered pairs (k = 2) or all 24 orders (k = 4). Masked: the same four
    # plus a fifth item at −inf, so the cells are all ordered prefixes of 5 items and those naming
    # the masked one have probability 0 and must stay empty. Fixed seed; Pearson's χ² with
    # df = (cells with p > 0) − 1; the p-value of a correct sampler is U(0, 1), so p > 1e-3 fails a
    # correct sampler once in 1000 seeds (the tolerance).
    theta = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    if masked:
        theta = np.append(theta, -np.inf)
    counts, orders = _topk_counts(theta, k, seed=11)
    p = np.exp(theta)
    probs = np.array([pl_prob_by_formula(p, o) for o in orders])
    assert (probs > 0).sum() == {2: 12, 4: 24}[k]
    stat, df, pval = chisquare(counts, probs)
    assert pval > 1e-3, f"χ² = {stat:.1f} on {df} df, p = {pval:.2e}"
    assert counts[probs == 0].sum() == 0
    if masked:
        with pytest.raises(ValueError, match="larger than the number of unmasked"):
            S.gumbel_topk(theta, np.zeros(5), 5)


def test_chi_square_rejects_the_with_replacement_mistake():
    # negative control: "k independent categorical draws, kept when distinct" is not Plackett-Luce
    theta = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    counts, orders = _topk_counts(theta, 2, seed=11)
    p = np.exp(theta)
    wrong = np.array([p[a] * p[b] for a, b in orders])
    _, _, pval = chisquare(counts, wrong / wrong.sum())
    assert pval < 1e-6


def test_gumbel_topk_order_axis_and_broadcast():
    rng = np.random.default_rng(0)
    theta = rng.normal(size=6)
    g = F.sample_gumbel(rng, (3, 6))
    idx = S.gumbel_topk(theta, g, 3)                                   # θ (6,) against g (3, 6)
    keys = theta + g
    assert idx.shape == (3, 3)
    np.testing.assert_array_equal(idx, np.argsort(-keys, axis=-1)[:, :3])
    assert np.all(np.diff(np.take_along_axis(keys, idx, -1), axis=-1) < 0)   # decreasing keys
    np.testing.assert_array_equal(S.gumbel_topk(theta[:, None], g.T, 3, axis=0), idx.T)
    np.testing.assert_array_equal(S.gumbel_topk(theta, g, 6), np.argsort(-keys, axis=-1))
    # ties (probability 0 with Gumbel noise, but g = 0 is allowed) go to the lower index, as documented
    keys = np.random.default_rng(1).integers(0, 4, size=(20, 150)).astype(float)
    want = np.argsort(-keys, axis=-1, kind="stable")
    for k in (1, 7, 75, 149, 150):
        np.testing.assert_array_equal(S.gumbel_topk(keys, np.zeros_like(keys), k), want[:, :k])
    # θ of length 1 on the items' axis broadcasts against g's 6 items: 6 unmasked items, not 1
    np.testing.assert_array_equal(S.gumbel_topk(np.zeros(1), g, 3), np.argsort(-g, axis=-1)[:, :3])


def test_k_hot():
    out = S.k_hot([[2, 0], [1, 3]], 4)
    np.testing.assert_array_equal(out, [[1, 0, 1, 0], [0, 1, 0, 1]])
    assert out.dtype == np.float64 and S.k_hot([1], 3, dtype=np.float32).dtype == np.float32
    np.testing.assert_array_equal(S.k_hot(np.array([[2, 0]]).T, 4, axis=0), np.array([[1, 0, 1, 0]]).T)
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 4\)"):
        S.k_hot([4], 4)


# ----------------------------------------------------------------------------- gradients, three ways

@pytest.mark.parametrize("k", [1, 2, 4, 5])
@pytest.mark.parametrize("axis", [-1, 0])
def test_pl_log_prob_vjp_three_way(k, axis):
    rng = np.random.default_rng(k)
    theta = rng.normal(size=(3, 5))
    order = np.stack([rng.permutation(5)[:k] for _ in range(3)])      # (3, k)
    if axis == 0:      # C-contiguous copies: gradcheck's finite differences edit x through a flat view
        theta, order = np.ascontiguousarray(theta.T), np.ascontiguousarray(order.T)
    assert_three_way(f"plackett_luce_log_prob k={k} axis={axis}",
                     lambda t: S.plackett_luce_log_prob(t, order, axis),
                     lambda d: S.plackett_luce_log_prob_vjp(d, theta, order, axis), theta)


def test_pl_log_prob_vjp_broadcast_theta_and_masks():
    rng = np.random.default_rng(5)
    theta = rng.normal(size=6)
    theta[4] = -np.inf
    orders = np.stack([rng.choice([0, 1, 2, 3, 5], size=3, replace=False) for _ in range(4)])   # (4, 3)
    # broadcast θ (6,) against orders (4, 3): the VJP is in the broadcast shape (4, 6); sum_to_shape reduces
    assert_three_way("plackett_luce_log_prob (θ broadcast, a mask)",
                     lambda t: S.plackett_luce_log_prob(t, orders),
                     lambda d: F.sum_to_shape(S.plackett_luce_log_prob_vjp(d, theta, orders), theta.shape),
                     theta, autograd_mask=np.isfinite(theta))
    d = S.plackett_luce_log_prob_vjp(np.ones(4), theta, orders)
    assert d.shape == (4, 6) and np.all(d[:, 4] == 0.0)
    # an order naming the masked item: log P = −inf, gradient exactly 0
    assert S.plackett_luce_log_prob(theta, [4, 0]) == -np.inf
    assert np.all(S.plackett_luce_log_prob_vjp(1.0, theta, [4, 0]) == 0.0)


@pytest.mark.parametrize("wrong", ["the last step's normaliser dropped", "sign flipped", "chosen term missing"])
def test_negative_control_wrong_pl_rules_are_rejected(wrong):
    rng = np.random.default_rng(0)
    theta = rng.normal(size=(2, 5))
    order = np.array([[1, 3, 0], [4, 2, 1]])
    right = lambda d: S.plackett_luce_log_prob_vjp(d, theta, order)      # noqa: E731
    chosen = S.k_hot(order, 5)
    bad = {
        "the last step's normaliser dropped": lambda d: right(d) - d[:, None] * (1 - chosen) * 0.01,
        "sign flipped": lambda d: -right(d),
        "chosen term missing": lambda d: right(d) - d[:, None] * chosen,
    }[wrong]
    r = three_way("plackett_luce_log_prob (wrong)", lambda t: S.plackett_luce_log_prob(t, order), bad, theta)
    assert not r.ok, f"the checker accepted a wrong rule ({wrong}): {r}"


# ----------------------------------------------------------------------------- bad input

def test_bad_input_is_a_value_error_naming_it():
    theta = np.zeros(4)
    with pytest.raises(ValueError, match="k .* must be an integer >= 1"):
        S.gumbel_topk(theta, theta, 0)
    with pytest.raises(ValueError, match="larger than the number of items"):
        S.gumbel_topk(theta, theta, 5)
    with pytest.raises(ValueError, match="repeats an item"):
        S.plackett_luce_log_prob(theta, [1, 1])
    with pytest.raises(ValueError, match=r"order must hold item indices in \[0, 4\)"):
        S.plackett_luce_log_prob(theta, [1, 4])
    with pytest.raises(TypeError, match="order must hold integers"):
        S.plackett_luce_log_prob(theta, [1.0, 2.0])
    with pytest.raises(ValueError, match="order has 5 items along its axis but logits have only 4"):
        S.plackett_luce_log_prob(theta, [0, 1, 2, 3, 0])
    with pytest.raises(ValueError, match="NaN"):
        S.plackett_luce_log_prob([0.0, math.nan], [0])
    # dlp must broadcast to the shape of log P, here (3,): a ValueError naming dlp, not NumPy's message
    with pytest.raises(ValueError, match=r"dlp has shape \(2,\).*log P has shape \(3,\)"):
        S.plackett_luce_log_prob_vjp(np.ones(2), theta, [[0, 1], [1, 2], [2, 3]])
    with pytest.raises(ValueError, match=r"dlp has shape \(2, 3\); it must broadcast to the shape of log P, \(3,\)"):
        S.plackett_luce_log_prob_vjp(np.ones((2, 3)), theta, [[0, 1], [1, 2], [2, 3]])


def test_empty_batches_and_empty_orders():
    # a batch of 0 rows gives 0 results, as gumbel_max and softmax do; an empty prefix is refused clearly
    th = np.zeros((0, 4))
    assert S.gumbel_topk(th, th, 2).shape == (0, 2)
    assert S.relaxed_topk(th, th, 2, 0.5).shape == (0, 4)
    assert S.relaxed_topk(th, th, 2, 0.5, hard=True).shape == (0, 4)
    assert S.relaxed_topk_vjp(th, th, th, 2, 0.5).shape == (0, 4)
    with pytest.raises(ValueError, match="larger than the number of items"):
        S.relaxed_topk(th, th, 5, 0.5)
    with pytest.raises(ValueError, match="order has 0 items along its axis"):
        S.plackett_luce_log_prob(np.zeros(4), np.array([], int))
    with pytest.raises(ValueError, match="order has 0 items along its axis"):
        S.plackett_luce_log_prob_vjp(1.0, np.zeros(4), np.array([], int))


# ----------------------------------------------------------------------------- relaxed top-k

TAUS = (0.1, 0.5, 1.0, 5.0)


@pytest.mark.parametrize("tau", TAUS)
@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("hard", [False, True])
def test_relaxed_topk_vjp_three_way(tau, k, hard):
    rng = np.random.default_rng(7)
    theta = rng.normal(size=(3, 5))
    g = F.sample_gumbel(rng, (3, 5))
    # finite differences see the soft path (what straight-through defines as the gradient); autograd
    # traces relaxed_topk itself (for hard=True: through the straight-through primitive)
    assert_three_way(f"relaxed_topk k={k} tau={tau} hard={hard}",
                     lambda t: S.relaxed_topk(t, g, k, tau),
                     lambda d: S.relaxed_topk_vjp(d, theta, g, k, tau), theta,
                     f_autograd=lambda t: S.relaxed_topk(t, g, k, tau, hard))


def test_relaxed_topk_vjp_axis_broadcast_and_masks():
    rng = np.random.default_rng(8)
    theta = rng.normal(size=6)
    theta[2] = -np.inf
    g = F.sample_gumbel(rng, (4, 6))
    assert_three_way("relaxed_topk (θ broadcast, a mask)", lambda t: S.relaxed_topk(t, g, 3, 0.5),
                     lambda d: F.sum_to_shape(S.relaxed_topk_vjp(d, theta, g, 3, 0.5), theta.shape),
                     theta, autograd_mask=np.isfinite(theta))
    d = S.relaxed_topk_vjp(np.ones((4, 6)), theta, g, 3, 0.5)
    assert np.all(d[:, 2] == 0.0) and np.all(S.relaxed_topk(theta, g, 3, 0.5)[:, 2] == 0.0)
    th2 = np.ascontiguousarray(rng.normal(size=(5, 3)))
    g2 = F.sample_gumbel(rng, (5, 3))
    assert_three_way("relaxed_topk axis=0", lambda t: S.relaxed_topk(t, g2, 2, 0.7, axis=0),
                     lambda d: S.relaxed_topk_vjp(d, th2, g2, 2, 0.7, axis=0), th2)


@pytest.mark.parametrize("wrong", ["no log(1 - a) path", "tau off by 1%", "sign flipped"])
def test_negative_control_wrong_relaxed_rules_are_rejected(wrong):
    rng = np.random.default_rng(9)
    theta = rng.normal(size=(3, 5))
    g = F.sample_gumbel(rng, (3, 5))
    soft_sum = lambda d: sum(F.softmax_vjp(d, a, 0.5) for a in _steps(theta, g, 3, 0.5))   # noqa: E731
    bad = {
        "no log(1 - a) path": soft_sum,           # each softmax's own VJP, the r-updates ignored
        "tau off by 1%": lambda d: S.relaxed_topk_vjp(d, theta, g, 3, 0.505),
        "sign flipped": lambda d: -S.relaxed_topk_vjp(d, theta, g, 3, 0.5),
    }[wrong]
    r = three_way("relaxed_topk (wrong)", lambda t: S.relaxed_topk(t, g, 3, 0.5), bad, theta)
    assert not r.ok, f"the checker accepted a wrong rule ({wrong}): {r}"


def _steps(theta, g, k, tau):
    """a_1..a_k of Xie & Ermon written out naively (1 − a in plain arithmetic), for comparison."""
    r, out = theta + g, []
    for _ in range(k):
        a = np.exp(r / tau - np.logaddexp.reduce(r / tau, axis=-1, keepdims=True))
        out.append(a)
        r = r + np.log(1 - a)
    return out


def test_relaxed_topk_matches_the_naive_recursion_and_sums_to_k():
    rng = np.random.default_rng(10)
    theta = rng.normal(size=(50, 7))
    g = F.sample_gumbel(rng, (50, 7))
    for k in (1, 3, 7):
        y = S.relaxed_topk(theta, g, k, 0.8)
        np.testing.assert_allclose(y, sum(_steps(theta, g, k, 0.8)), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(y.sum(-1), k, rtol=1e-13)
    # entries can exceed 1 (n = 2, k = 2, τ = 1: y = (p + 1/2, 1/2 + 1 − p))
    y = S.relaxed_topk([np.log(0.8), np.log(0.2)], [0.0, 0.0], 2, 1.0)
    np.testing.assert_allclose(y, [1.3, 0.7], rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tau", [1e-4, 1e-2, 1.0, 1e4])
def test_relaxed_topk_is_finite_on_the_whole_domain(dtype, tau):
    # extremes of the domain: |θ| up to 1e30, masks, every k up to the number of unmasked items
    rng = np.random.default_rng(12)
    values = np.array([1e30, -1e30, 0.0, 1e-30, -np.inf, 3.0, -2e29, 1e29])
    for _ in range(20):
        theta = rng.choice(values, size=(4, 6)).astype(dtype)
        theta[:, :2] = rng.choice([1e30, -1e30, 0.0], size=2)
        g = F.sample_gumbel(rng, (4, 6), dtype)
        dy = rng.normal(size=(4, 6)).astype(dtype)
        for k in range(1, int(np.isfinite(theta).sum(-1).min()) + 1):
            with np.errstate(over="raise", invalid="raise", divide="raise"):   # underflow is fine
                y = S.relaxed_topk(theta, g, k, tau)
                d = S.relaxed_topk_vjp(dy, theta, g, k, tau)
            assert y.dtype == dtype and d.dtype == dtype
            assert np.all(np.isfinite(y)) and np.all(np.isfinite(d))
            assert np.all(y[np.isneginf(theta)] == 0) and np.all(d[np.isneginf(theta)] == 0)
            np.testing.assert_allclose(y.sum(-1), k, rtol=50 * np.finfo(dtype).eps * 6)


def test_hard_is_the_k_hot_of_the_keys_top_k_with_the_soft_gradient():
    rng = np.random.default_rng(13)
    theta = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    g = F.sample_gumbel(rng, (20_000, 4))
    y, y_soft = S.relaxed_topk(theta, g, 2, 0.1, hard=True, return_soft=True)
    keys_top = S.k_hot(S.gumbel_topk(theta, g, 2), 4)
    np.testing.assert_array_equal(y, keys_top)
    # the top 2 of the relaxed vector is not always that of the keys at low τ: a few % of draws
    # (2.7% at this seed), which is why the hard sample comes from the keys. Fixed seed; with
    # N = 20,000 the rate's s.e. is √(0.027·0.973/N) ≈ 0.0011, so the bounds (0.01, 0.05) sit over
    # 14 s.e. away from it: they check "a few percent, not 0", not the sampling noise
    soft_top = S.k_hot(np.argsort(-y_soft, axis=-1)[:, :2], 4)
    differ = np.mean(np.any(soft_top != keys_top, axis=-1))
    assert 0.01 < differ < 0.05, differ


@pytest.mark.parametrize("tau", [0.1, 1.0, 10.0])
def test_xie_ermon_subset_distribution_within_tv_0016(tau):
    # Xie & Ermon (2019), Sec. 4.1: weights [.1, .2, .3, .4], k = 2; the subset read from the relaxed
    # sample (its top 2 entries) is within total variation 0.016 of the exact distribution of
    # unordered pairs. N = 100,000 draws, fixed seed: sampling alone adds E[TV] ≈ ½ Σ_S √(2/π)·SE_S
    # ≈ 0.0026 (SE_S = √(p(1 − p)/N) ≤ 0.0016), far below 0.016, so the test measures the relaxation.
    w = np.array([0.1, 0.2, 0.3, 0.4])
    pairs = list(itertools.combinations(range(4), 2))
    exact = np.array([pl_prob_by_formula(w, (a, b)) + pl_prob_by_formula(w, (b, a)) for a, b in pairs])
    g = F.sample_gumbel(np.random.default_rng(14), (100_000, 4))
    y = S.relaxed_topk(np.log(w), g, 2, tau)
    top = np.sort(np.argsort(-y, axis=-1)[:, :2], axis=-1)
    freq = np.array([np.mean((top[:, 0] == a) & (top[:, 1] == b)) for a, b in pairs])
    tv = 0.5 * np.abs(freq - exact).sum()
    assert tv <= 0.016, tv


def test_relaxed_topk_tends_to_the_exact_k_hot_as_tau_goes_to_zero():
    rng = np.random.default_rng(15)
    theta = rng.normal(size=8)
    g = F.sample_gumbel(rng, (2000, 8))
    exact = S.k_hot(S.gumbel_topk(theta, g, 3), 8)
    errs = [np.abs(S.relaxed_topk(theta, g, 3, tau) - exact).max(-1).mean() for tau in (1.0, 0.1, 0.01, 0.001)]
    assert all(a > b for a, b in zip(errs, errs[1:])), errs
    assert errs[-1] < 0.01, errs
    # and per draw: once the keys' gaps around the top 3 exceed 20τ, y is within 1e-6 of the k-hot
    srt = -np.sort(-(theta + g), axis=-1)
    gap = np.min(srt[:, :3] - srt[:, 1:4], axis=-1)
    far = gap > 20 * 0.001
    assert np.abs(S.relaxed_topk(theta, g[far], 3, 0.001) - exact[far]).max() < 1e-6


def test_relaxed_topk_bad_input():
    with pytest.raises(ValueError, match="tau must be"):
        S.relaxed_topk([0.0, 1.0], [0.0, 0.0], 1, 0.0)
    with pytest.raises(ValueError, match="larger than the number of unmasked"):
        S.relaxed_topk([0.0, -np.inf, 1.0], [0.0, 0.0, 0.0], 3, 1.0)
    with pytest.raises(ValueError, match="k .* must be an integer >= 1"):
        S.relaxed_topk_vjp([1.0, 1.0], [0.0, 1.0], [0.0, 0.0], 1.5, 1.0)


# ----------------------------------------------------------------------------- the distribution

def test_plackett_luce_distribution():
    from minigumbel.distributions import PlackettLuce
    theta = np.array([[0.5, -np.inf, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    d = PlackettLuce(theta)
    o = d.sample(np.random.default_rng(0), sample_shape=(5,))
    assert o.shape == (5, 2, 3) and not np.any(o[:, 0] == 1)        # k = None: the 3 unmasked of row 0
    assert d.sample(np.random.default_rng(0), k=2).shape == (2, 2)
    lp = d.log_prob([[2, 0], [3, 1]])
    p0 = np.exp(theta[0] - np.logaddexp.reduce(theta[0]))
    np.testing.assert_allclose(lp, [np.log(pl_prob_by_formula(p0, (2, 0))), np.log(1 / 4 * 1 / 3)], rtol=1e-12)
    with pytest.raises(ValueError, match="larger than the number of unmasked"):
        d.sample(np.random.default_rng(0), k=4)
    with pytest.raises(ValueError, match="NaN"):
        PlackettLuce([0.0, np.nan])
    # a batch of 0 rows: 0 samples (k = None: the whole order of the n items)
    assert PlackettLuce(np.zeros((0, 4))).sample(np.random.default_rng(0)).shape == (0, 4)
    # validate_args=False skips the value checks, not the array_like conversion
    fast = PlackettLuce(theta, validate_args=False)
    np.testing.assert_allclose(fast.log_prob([[2, 0], [3, 1]]), lp, rtol=1e-15)


# ----------------------------------------------------------------------------- backends

def test_backends_agree_given_the_same_noise(backend):
    rng = np.random.default_rng(16)
    theta = rng.normal(size=(3, 6))
    theta[1, 2] = -np.inf
    g = F.sample_gumbel(rng, (3, 6))
    order = np.array([[0, 4], [5, 1], [3, 2]])
    dy = rng.normal(size=(3, 6))
    on = [backend.asarray(a) for a in (theta, g, dy)]
    o = backend.asarray(order)
    np.testing.assert_array_equal(backend.to_numpy(S.gumbel_topk(on[0], on[1], 3)), S.gumbel_topk(theta, g, 3))
    for got, want in [
        (S.relaxed_topk(on[0], on[1], 3, 0.5, hard=True), S.relaxed_topk(theta, g, 3, 0.5, hard=True)),
        (S.relaxed_topk_vjp(on[2], on[0], on[1], 3, 0.5), S.relaxed_topk_vjp(dy, theta, g, 3, 0.5)),
        (S.plackett_luce_log_prob(on[0], o), S.plackett_luce_log_prob(theta, order)),
        (S.plackett_luce_log_prob_vjp(backend.asarray(np.ones(3)), on[0], o),
         S.plackett_luce_log_prob_vjp(np.ones(3), theta, order)),
    ]:
        np.testing.assert_allclose(backend.to_numpy(got), want, rtol=1e-12, atol=1e-15)


def test_the_unchecked_variants_make_no_host_transfer(transfers, cupy_backend):
    xp = cupy_backend.xp
    rng = cupy_backend.rng(0)
    theta = xp.asarray(np.random.default_rng(0).normal(size=(4, 6)))
    g = F.sample_gumbel(rng, (4, 6))
    with transfers() as n:
        idx = S._gumbel_topk(theta, g, 3)
        y = S._relaxed_topk(theta, g, 3, 0.5, hard=True)
        S._relaxed_topk_vjp(y, theta, g, 3, 0.5)
        S._plackett_luce_log_prob_vjp(xp.ones(4), theta, idx)
        S._plackett_luce_log_prob(theta, idx)
        S._k_hot(idx, 6)
    assert n() == 0
