"""NumPy broadcasting in minigumbel.functional (issue 12) and sum_to_shape, its VJP.

Gradient checks: hand rule (in the broadcast shape, reduced by sum_to_shape) vs autograd (which
unbroadcasts by itself) vs central finite differences, in float64, for θ of shape (K,), (1, K)
and (B, 1, K) against noise (B, N, K); plus a negative control (a rule that forgets to sum over
the broadcast axes, or sums over one axis too many, is rejected).
"""
import numpy as np
import pytest

from minigumbel import functional as F
from minigumbel import estimators as E
from minigumbel.gradcheck import assert_three_way, three_way

B, N, K = 2, 3, 4
THETA_SHAPES = [(K,), (1, K), (B, 1, K)]


def _theta(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape)


def _noise(seed=1):
    return F.sample_gumbel(np.random.default_rng(seed), (B, N, K))        # (B, N, K)


# ----------------------------------------------------------------------------- sum_to_shape

def test_sum_to_shape_sums_over_added_and_stretched_axes():
    dx = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)
    # expected values written out: sums over the axes that broadcasting added or stretched
    np.testing.assert_array_equal(F.sum_to_shape(dx, (4,)), dx[0].sum(0) + dx[1].sum(0))
    np.testing.assert_array_equal(F.sum_to_shape(dx, (1, 4)), (dx[0].sum(0) + dx[1].sum(0))[None])
    np.testing.assert_array_equal(F.sum_to_shape(dx, (2, 1, 4)), np.stack([dx[0].sum(0), dx[1].sum(0)])[:, None])
    np.testing.assert_array_equal(F.sum_to_shape(dx, (3, 1)), dx.sum(axis=(0, 2))[:, None])
    np.testing.assert_array_equal(F.sum_to_shape(dx, (2, 3, 4)), dx)
    assert F.sum_to_shape(dx, ()).shape == () and F.sum_to_shape(dx, ()) == dx.sum()


def test_sum_to_shape_is_the_vjp_of_broadcast_to():
    """Three ways: hand (sum_to_shape) vs autograd vs finite differences of broadcast_to."""
    for shape in THETA_SHAPES + [(B, N, 1), (1, 1, 1)]:
        x = _theta(shape)
        # t + zeros broadcasts t (autograd's own broadcast_to VJP refuses added leading axes)
        assert_three_way(f"sum_to_shape {shape}", lambda t: t + np.zeros((B, N, K)),
                         lambda d: F.sum_to_shape(d, shape), x)


@pytest.mark.parametrize("shape", [(3,), (N, 2), (B, N, K, 1)])
def test_sum_to_shape_refuses_a_shape_that_does_not_broadcast(shape):
    with pytest.raises(ValueError, match=r"shape .* does not broadcast to dx's shape \(2, 3, 4\)"):
        F.sum_to_shape(np.zeros((B, N, K)), shape)


@pytest.mark.parametrize("shape", [(1.5,), 4.0, "ab", None, (True, 4), (-1,)])
def test_sum_to_shape_refuses_a_shape_that_is_not_ints(shape):
    # (1.5,) was read as (1,) and summed silently
    with pytest.raises(TypeError, match="shape must be an int or a tuple of ints"):
        F.sum_to_shape(np.zeros((B, N, K)), shape)


# ----------------------------------------------------------------------------- forward values

@pytest.mark.parametrize("shape", THETA_SHAPES)
def test_broadcast_forward_equals_the_explicitly_tiled_call(shape):
    x, g = _theta(shape), _noise()
    xt = np.broadcast_to(x, g.shape).copy()                       # the tiled logits (B, N, K)
    for hard in (False, True):
        np.testing.assert_array_equal(F.gumbel_softmax(x, g, 0.5, hard), F.gumbel_softmax(xt, g, 0.5, hard))
    np.testing.assert_array_equal(F.gumbel_max(x, g), F.gumbel_max(xt, g))
    y = F.gumbel_softmax(x, g, 0.5)
    np.testing.assert_array_equal(F.concrete_log_prob(y, x, 0.5), F.concrete_log_prob(y, xt, 0.5))
    tau = np.array([[[0.5]], [[2.0]]])                            # (B, 1, 1): one τ per batch
    np.testing.assert_array_equal(np.broadcast_to(F.softmax(x, tau), g.shape), F.softmax(xt, tau))


def test_issue_examples_n_samples_of_one_distribution():
    """Issue 12: logits (K,) with g (N, K), and concrete_log_prob(y (N, K), logits (K,))."""
    theta = np.array([0.5, -1.0, 2.0, 0.0])
    g = F.sample_gumbel(np.random.default_rng(0), (6, 4))
    y = F.gumbel_softmax(theta, g, 0.5)
    assert y.shape == (6, 4) and F.gumbel_max(theta, g).shape == (6,)
    assert F.concrete_log_prob(y, theta, 0.5).shape == (6,)


def test_incompatible_shapes_name_both():
    with pytest.raises(ValueError, match=r"logits has shape \(4,\) and g has shape \(6, 5\)"):
        F.gumbel_softmax(np.zeros(4), np.zeros((6, 5)), 0.5)
    with pytest.raises(ValueError, match=r"y has shape \(6, 5\) and logits has shape \(4,\)"):
        F.concrete_log_prob(np.full((6, 5), 0.2), np.zeros(4), 0.5)
    with pytest.raises(ValueError, match=r"logits has shape \(2, 4\) and tau has shape \(3, 1\)"):
        F.softmax(np.zeros((2, 4)), np.ones((3, 1)))


# ----------------------------------------------------------------------------- gradients, three ways

@pytest.mark.parametrize("shape", THETA_SHAPES)
@pytest.mark.parametrize("hard", [False, True])
def test_gumbel_softmax_vjp_with_broadcast_logits(shape, hard):
    x, g, tau = _theta(shape), _noise(), 0.7
    _, y_soft = F.gumbel_softmax(x, g, tau, hard, return_soft=True)
    assert y_soft.shape == (B, N, K)
    assert_three_way(f"gumbel_softmax_vjp θ{shape}", lambda t: F.softmax(t + g, tau),
                     lambda d: F.sum_to_shape(F.gumbel_softmax_vjp(d, y_soft, tau), shape), x,
                     f_autograd=lambda t: F.gumbel_softmax(t, g, tau, hard))


@pytest.mark.parametrize("shape", THETA_SHAPES)
def test_softmax_and_log_softmax_vjp_with_broadcast_tau(shape):
    x = _theta(shape)
    tau = np.array([[[0.5]], [[2.0]]]) * np.ones((B, N, 1))       # (B, N, 1): τ stretches θ to (B, N, K)
    y, lp = F.softmax(x, tau), F.log_softmax(x, tau)
    assert y.shape == lp.shape == (B, N, K)
    assert_three_way(f"softmax_vjp θ{shape}", lambda t: F.softmax(t, tau),
                     lambda d: F.sum_to_shape(F.softmax_vjp(d, y, tau), shape), x)
    assert_three_way(f"log_softmax_vjp θ{shape}", lambda t: F.log_softmax(t, tau),
                     lambda d: F.sum_to_shape(F.log_softmax_vjp(d, lp, tau), shape), x)


@pytest.mark.parametrize("shape", THETA_SHAPES)
def test_concrete_log_prob_vjp_with_broadcast_logits(shape):
    x = _theta(shape)
    y = F.gumbel_softmax(_theta((B, N, K), 5), _noise(), 1.0)      # interior points, (B, N, K)
    assert_three_way(f"concrete wrt θ{shape}", lambda t: F.concrete_log_prob(y, t, 0.6),
                     lambda d: F.sum_to_shape(F.concrete_log_prob_vjp(d, y, x, 0.6)[1], shape), x)
    # and y broadcast against logits of the full shape: dy reduced to y's own shape
    xf, yk = _theta((B, N, K), 3), y[0, :1]                          # y (1, K)
    assert_three_way("concrete wrt y (1, K)", lambda yy: F.concrete_log_prob(yy, xf, 0.6),
                     lambda d: F.sum_to_shape(F.concrete_log_prob_vjp(d, yk, xf, 0.6)[0], yk.shape), yk)


def test_negative_control_a_rule_that_does_not_reduce_correctly_is_rejected():
    x, g, tau = _theta((1, K)), _noise(), 0.7
    y_soft = F.gumbel_softmax(x, g, tau)
    wrong = {
        "one slice only": lambda d: F.gumbel_softmax_vjp(d, y_soft, tau)[0, :1],
        "mean, not sum": lambda d: F.sum_to_shape(F.gumbel_softmax_vjp(d, y_soft, tau), (1, K)) / (B * N),
    }
    for name, rule in wrong.items():
        r = three_way(name, lambda t: F.softmax(t + g, tau), rule, x)
        assert not r.ok, f"the checker accepted a wrong reduction ({name}): {r}"


def test_readme_example_dtheta_for_a_broadcast_theta():
    """The README's example: ∂L/∂θ for θ (K,) shared by N samples, checked against autograd."""
    from autograd import grad
    import autograd.numpy as anp
    rng = np.random.default_rng(0)
    theta = np.array([0.5, -1.0, 2.0, 0.0])                      # (K,)
    g = F.sample_gumbel(rng, (1000, 4))                          # (N, K)
    w = np.array([1.0, 2.0, 3.0, 4.0])                           # L = mean_n ⟨w, y_n⟩
    y = F.gumbel_softmax(theta, g, 0.5)                          # (N, K)
    dy = np.broadcast_to(w / len(g), y.shape)                    # ∂L/∂y
    dtheta = F.sum_to_shape(F.gumbel_softmax_vjp(dy, y, 0.5), theta.shape)   # (K,)
    ag = grad(lambda t: anp.mean(anp.sum(w * F.gumbel_softmax(t, g, 0.5), axis=-1)))(theta)
    np.testing.assert_allclose(dtheta, ag, rtol=1e-10, atol=1e-13)


# ----------------------------------------------------------------------------- estimators, unbatched

def test_estimators_accept_one_unbatched_sample_and_a_float_f_d():
    theta = np.array([0.2, -0.3, 1.0])
    d = np.array([0.0, 1.0, 0.0])
    pi = np.exp(theta) / np.exp(theta).sum()
    for f_d in (0.75, np.float64(0.75), np.array(0.75), 1):        # Python float, NumPy scalar, 0-d, int
        np.testing.assert_allclose(E.reinforce_backward(theta, d, f_d), float(f_d) * (d - pi), rtol=1e-14)
    np.testing.assert_allclose(E.reinforce_backward(list(theta), [0, 1, 0], 0.75, baseline=0.25),
                               0.5 * (d - pi), rtol=1e-14)
    dd = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(E.st_backward(list(theta), list(dd), 1.0), pi * (dd - pi @ dd), rtol=1e-14)
    with pytest.raises(ValueError, match=r"f_d has shape \(2,\).*batch shape \(\)"):
        E.reinforce_backward(theta, d, [0.5, 0.5])
