"""minigumbel.fast_subsets against the readable reference (subsets.relaxed_topk and its VJP)."""
import numpy as np
import pytest

from minigumbel import subsets as S
from minigumbel.fast_subsets import fast_relaxed_topk, fast_relaxed_topk_vjp


def _data(dtype, shape=(70, 40), seed=0, masked=True):
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(shape).astype(dtype)
    if masked:
        theta[:, 5] = -np.inf
    g = rng.gumbel(size=shape).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    return theta, g, dy


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tau", [0.05, 0.5, 3.0])
@pytest.mark.parametrize("threads", [1, 2])
def test_equal_to_the_reference(dtype, tau, threads):
    # the same algebra in another order of operations: the difference is round-off amplified by 1/τ
    # (z = r/τ), bounded here by 1e3·ε·(1 + 1/τ) relative to the largest entry (observed ≤ 3e3·ε at τ = 0.05)
    theta, g, dy = _data(dtype)
    eps = np.finfo(dtype).eps
    tol = 1e3 * eps * (1 + 1 / tau)
    y_ref, d_ref = S.relaxed_topk(theta, g, 6, tau), S.relaxed_topk_vjp(dy, theta, g, 6, tau)
    y, cache = fast_relaxed_topk(theta, g, 6, tau, threads=threads, return_cache=True)
    assert y.dtype == dtype
    assert np.abs(y - y_ref).max() <= tol * np.abs(y_ref).max()
    for d in (fast_relaxed_topk_vjp(dy, theta, g, 6, tau, threads=threads, cache=cache),
              fast_relaxed_topk_vjp(dy, theta, g, 6, tau, threads=threads)):
        assert d.dtype == dtype
        assert np.abs(d - d_ref).max() <= tol * np.abs(d_ref).max()
        assert np.all(d[:, 5] == 0) and np.all(y[:, 5] == 0)


def test_negative_control_the_tolerance_sees_a_wrong_tau():
    theta, g, dy = _data(np.float64)
    d_ref = S.relaxed_topk_vjp(dy, theta, g, 6, 0.5)
    d = fast_relaxed_topk_vjp(dy, theta, g, 6, 0.505)
    assert np.abs(d - d_ref).max() > 1e3 * np.finfo(np.float64).eps * 3 * np.abs(d_ref).max()


def test_underflow_rows_fall_back_to_the_reference():
    # the others' mass underflows (logits 1e4 apart at τ = 1): the block is computed by the reference
    theta = np.array([[1e4, 0.0, -1.0, 2.0], [0.0, 1.0, 2.0, 3.0]])
    g = np.zeros_like(theta)
    dy = np.array([[1.0, -2.0, 0.5, 0.3], [0.2, 0.1, -1.0, 2.0]])
    np.testing.assert_array_equal(fast_relaxed_topk(theta, g, 3, 1.0), S.relaxed_topk(theta, g, 3, 1.0))
    np.testing.assert_array_equal(fast_relaxed_topk_vjp(dy, theta, g, 3, 1.0), S.relaxed_topk_vjp(dy, theta, g, 3, 1.0))


def test_axis_broadcast_and_bad_input():
    theta, g, dy = _data(np.float64, masked=False)
    np.testing.assert_allclose(fast_relaxed_topk(theta[0], g, 3, 0.7), S.relaxed_topk(theta[0], g, 3, 0.7),
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(fast_relaxed_topk_vjp(dy.T, theta.T, g.T, 3, 0.7, axis=0),
                               S.relaxed_topk_vjp(dy, theta, g, 3, 0.7).T, rtol=1e-11, atol=1e-14)
    with pytest.raises(ValueError, match="larger than the number of unmasked"):
        fast_relaxed_topk([0.0, -np.inf], [0.0, 0.0], 2, 1.0)
    with pytest.raises(ValueError, match="one temperature"):
        fast_relaxed_topk(theta, g, 2, np.full((70, 1), 0.5))
    _, cache = fast_relaxed_topk(theta, g, 3, 0.7, return_cache=True)
    with pytest.raises(ValueError, match="another shape, k or tau"):
        fast_relaxed_topk_vjp(dy, theta, g, 4, 0.7, cache=cache)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_clear_leader_keeps_the_gradient_accurate(dtype):
    # one key leads the others by `gap` (in units of τ): the others' mass s_ex = Σ_{l≠t} e^{z_l − z_t}
    # is small but normal, so the fast path runs (no fallback). Its rule has a term du_t/s_ex at every
    # entry but t; it must not be added to entry t and then subtracted again (cancellation). Gaps up
    # to the underflow of s_ex, dy up to 1e3 (du_t/s_ex must not overflow either); the tolerance is
    # test_equal_to_the_reference's at τ = 1 (θ, dy exact in both dtypes: the reference in float64)
    eps = np.finfo(dtype).eps
    top = {np.float32: 85, np.float64: 705}[dtype]
    for gap in np.linspace(1, top, 40):
        for scale in (1.0, 1e3):
            theta = np.array([[gap, 0.0, -0.5, 0.25, -1.0, -np.inf]])
            dy = scale * np.array([[1.0, -2.0, 0.5, 0.25, 0.75, 0.0]])
            g = np.zeros_like(theta)
            ref = S.relaxed_topk_vjp(dy, theta, g, 3, 1.0)
            d = fast_relaxed_topk_vjp(dy.astype(dtype), theta.astype(dtype), g.astype(dtype), 3, 1.0)
            assert np.all(np.isfinite(d)), (gap, scale, d)
            assert np.abs(d - ref).max() <= 2e3 * eps * np.abs(ref).max(), (gap, scale, d, ref)
