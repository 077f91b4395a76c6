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
