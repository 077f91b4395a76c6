"""functional.py: three-way gradient checks, masks, hard samples, dtypes, bad input, noise edge cases."""
import numpy as np
import pytest

from minigumbel import functional as F
from minigumbel.gradcheck import assert_three_way, three_way

TAUS = (0.1, 0.5, 1.0, 5.0)
SHAPES = ((5,), (3, 4), (2, 3, 6))


def _theta(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape)


def _axes(shape):
    return (-1, 0) if len(shape) > 1 else (-1,)


# ----------------------------------------------------------------------------- gradients, three ways

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("tau", TAUS)
def test_softmax_and_log_softmax_vjp(shape, tau):
    x = _theta(shape)
    for axis in _axes(shape):
        assert_three_way("softmax", lambda t: F.softmax(t, tau, axis),
                         lambda d: F.softmax_vjp(d, F.softmax(x, tau, axis), tau, axis), x)
        assert_three_way("log_softmax", lambda t: F.log_softmax(t, tau, axis),
                         lambda d: F.log_softmax_vjp(d, F.log_softmax(x, tau, axis), tau, axis), x)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("tau", TAUS)
@pytest.mark.parametrize("hard", [False, True])
def test_gumbel_softmax_vjp(shape, tau, hard):
    x = _theta(shape)
    g = F.sample_gumbel(np.random.default_rng(1), shape)
    for axis in _axes(shape):
        _, y_soft = F.gumbel_softmax(x, g, tau, hard, axis, return_soft=True)
        # autograd differentiates gumbel_softmax itself (for hard=True: through the straight-through
        # primitive); finite differences see the soft path, which is what ST defines as the gradient.
        fd_target = lambda t: F.softmax(t + g, tau, axis)   # noqa: E731
        r = three_way("gumbel_softmax", fd_target, lambda d: F.gumbel_softmax_vjp(d, y_soft, tau, axis), x)
        assert r.ok, str(r)
        from autograd import grad
        import autograd.numpy as anp
        dy = np.random.default_rng(2).normal(size=shape)
        ag = grad(lambda t: anp.sum(dy * F.gumbel_softmax(t, g, tau, hard, axis)))(x)
        np.testing.assert_allclose(F.gumbel_softmax_vjp(dy, y_soft, tau, axis), ag, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("tau", TAUS)
@pytest.mark.parametrize("axis", [-1, 0])
def test_concrete_log_prob_vjp(tau, axis):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 4))
    y = F.softmax(rng.normal(scale=0.5, size=(3, 4)), 1.0, axis)    # interior points of the simplex
    assert_three_way("concrete wrt logits", lambda t: F.concrete_log_prob(y, t, tau, axis),
                     lambda d: F.concrete_log_prob_vjp(d, y, x, tau, axis)[1], x)
    assert_three_way("concrete wrt y", lambda yy: F.concrete_log_prob(yy, x, tau, axis),
                     lambda d: F.concrete_log_prob_vjp(d, y, x, tau, axis)[0], y)


@pytest.mark.parametrize("wrong", ["tau off by 1%", "sign flipped", "missing centring"])
def test_negative_control_wrong_rules_are_rejected(wrong):
    x = _theta((3, 4))
    y = F.softmax(x, 0.5)
    bad = {
        "tau off by 1%": lambda d: F.softmax_vjp(d, y, 0.505),
        "sign flipped": lambda d: -F.softmax_vjp(d, y, 0.5),
        "missing centring": lambda d: y * d / 0.5,
    }[wrong]
    r = three_way("softmax (wrong)", lambda t: F.softmax(t, 0.5), bad, x)
    assert not r.ok, f"the checker accepted a wrong rule ({wrong}): {r}"
    with pytest.raises(AssertionError, match="hand"):
        assert_three_way("softmax (wrong)", lambda t: F.softmax(t, 0.5), bad, x)


def test_gradcheck_cli_rules_all_pass():
    from minigumbel.gradcheck import run_functional_checks
    results = run_functional_checks()
    assert results and all(r.ok for r in results), [str(r) for r in results if not r.ok]


# ----------------------------------------------------------------------------- masks (-inf logits)

def test_masked_entries_have_zero_probability_and_zero_gradient():
    x = np.array([[1.0, -np.inf, 0.5, -np.inf], [-np.inf, 2.0, 0.0, 1.0]])
    for tau in TAUS:
        y = F.softmax(x, tau)
        assert np.all(y[np.isinf(x)] == 0.0) and np.allclose(y.sum(-1), 1.0)
        dy = np.random.default_rng(0).normal(size=x.shape)
        dy[np.isinf(x)] = 0.0          # log_softmax is −inf there: no upstream weight on those outputs
        dx = F.softmax_vjp(dy, y, tau)
        assert np.all(np.isfinite(dx)) and np.all(dx[np.isinf(x)] == 0.0)
        lp = F.log_softmax(x, tau)
        dlx = F.log_softmax_vjp(dy, lp, tau)
        assert np.all(np.isfinite(dlx)) and np.all(dlx[np.isinf(x)] == 0.0)
        # hand vs finite differences on the masked input (a -inf entry is a constant: FD gives 0),
        # and vs autograd on the unmasked entries
        assert_three_way("masked log_softmax", lambda t: F.log_softmax(t, tau),
                         lambda d: F.log_softmax_vjp(d, lp, tau), x, dy, autograd_mask=np.isfinite(x))
        assert_three_way("masked softmax", lambda t: F.softmax(t, tau),
                         lambda d: F.softmax_vjp(d, y, tau), x, dy)


def test_masked_category_never_sampled_in_a_million_draws():
    rng = np.random.default_rng(7)
    x = np.array([0.0, -np.inf, 3.0, -np.inf, -2.0])
    n = 1_000_000
    g = F.sample_gumbel(rng, (n, 5), np.float32)
    idx = F.gumbel_max(np.broadcast_to(x.astype(np.float32), (n, 5)), g)
    counts = np.bincount(idx, minlength=5)
    assert counts[1] == 0 and counts[3] == 0
    y = F.gumbel_softmax(np.broadcast_to(x, (1000, 5)), g[:1000].astype(np.float64), 0.1, hard=True)
    assert np.all(y[:, [1, 3]] == 0)


def test_concrete_log_prob_finite_on_support_and_minus_inf_off_it():
    x = np.array([[0.3, -np.inf, 1.0], [0.0, 0.0, -np.inf]])
    rng = np.random.default_rng(0)
    for tau in TAUS:
        y = F.gumbel_softmax(x, F.sample_gumbel(rng, x.shape), tau)
        lp = F.concrete_log_prob(y, x, tau)
        assert np.all(np.isfinite(lp)), lp
        dy, dx = F.concrete_log_prob_vjp(np.ones(2), y, x, tau)
        assert np.all(np.isfinite(dx)) and np.all(dx[np.isinf(x)] == 0)
        assert np.all(np.isfinite(dy)) and np.all(dy[np.isinf(x)] == 0)
    y_off = np.array([[0.5, 0.25, 0.25], [0.2, 0.3, 0.5]])        # mass on masked categories
    assert np.all(F.concrete_log_prob(y_off, x, 1.0) == -np.inf)


def test_concrete_log_prob_stays_finite_at_small_tau_with_many_classes():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 1000))
    y = F.gumbel_softmax(x, F.sample_gumbel(rng, x.shape), 0.01)   # most entries underflow to 0
    assert np.mean(y == 0) > 0.5
    assert np.all(np.isfinite(F.concrete_log_prob(y, x, 0.01)))


# ----------------------------------------------------------------------------- hard samples

@pytest.mark.parametrize("axis", [-1, 0])
def test_hard_is_exact_one_hot_of_gumbel_max_with_the_soft_gradient(axis):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(6, 5))
    g = F.sample_gumbel(rng, x.shape)
    y, y_soft = F.gumbel_softmax(x, g, 0.5, hard=True, axis=axis, return_soft=True)
    assert set(np.unique(y)) <= {0.0, 1.0} and np.all(y.sum(axis) == 1.0)
    np.testing.assert_array_equal(np.argmax(y, axis), F.gumbel_max(x, g, axis))
    np.testing.assert_array_equal(y_soft, F.gumbel_softmax(x, g, 0.5, axis=axis))
    # the gradient of hard=True under autograd is exactly the soft one (straight-through)
    from autograd import grad
    import autograd.numpy as anp
    dy = rng.normal(size=x.shape)
    g_hard = grad(lambda t: anp.sum(dy * F.gumbel_softmax(t, g, 0.5, True, axis)))(x)
    g_soft = grad(lambda t: anp.sum(dy * F.gumbel_softmax(t, g, 0.5, False, axis)))(x)
    np.testing.assert_array_equal(g_hard, g_soft)


def test_one_hot_axis_and_dtype():
    idx = np.array([[0, 2], [1, 1]])
    out = F.one_hot(idx, 3, np.float32, axis=0)
    assert out.shape == (3, 2, 2) and out.dtype == np.float32
    np.testing.assert_array_equal(np.argmax(out, 0), idx)


# ----------------------------------------------------------------------------- dtypes, backends

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(backend, dtype):
    xp = backend.xp
    rng = backend.rng(0)
    x = xp.asarray(_theta((4, 7)), dtype=dtype)
    g = F.sample_gumbel(rng, x.shape, dtype)
    assert g.dtype == dtype
    y = F.gumbel_softmax(x, g, 0.5)
    outs = [y, F.softmax(x, 0.5), F.log_softmax(x, 2.0), F.softmax_vjp(y, y, 0.5),
            F.log_softmax_vjp(y, F.log_softmax(x), 1.0), F.concrete_log_prob(y, x, 0.5),
            *F.concrete_log_prob_vjp(xp.ones(4, dtype=dtype), y, x, 0.5),
            F.gumbel_softmax(x, g, 0.5, hard=True)]
    for o in outs:
        assert o.dtype == dtype


def test_backends_agree_given_the_same_noise(backend):
    x = _theta((5, 6))
    g = F.sample_gumbel(np.random.default_rng(0), x.shape)
    y_np = F.gumbel_softmax(x, g, 0.3)
    y = backend.to_numpy(F.gumbel_softmax(backend.asarray(x), backend.asarray(g), 0.3))
    np.testing.assert_allclose(y, y_np, rtol=1e-12, atol=1e-15)


def test_per_row_temperature_broadcasts():
    x = _theta((3, 4))
    tau = np.array([[0.1], [1.0], [5.0]])
    y = F.softmax(x, tau)
    for i in range(3):
        np.testing.assert_allclose(y[i], F.softmax(x[i], float(tau[i, 0])), rtol=1e-13)
    lp = F.concrete_log_prob(y, x, tau)
    assert lp.shape == (3,)
    for i in range(3):
        np.testing.assert_allclose(lp[i], F.concrete_log_prob(y[i], x[i], float(tau[i, 0])), rtol=1e-12)


# ----------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("tau", [0.0, -1.0, np.nan, np.inf, -np.inf, np.array([[1.0], [0.0]])])
def test_bad_tau_is_a_value_error_naming_tau(tau):
    x = _theta((2, 3))
    g = np.zeros_like(x)
    for call in (lambda: F.softmax(x, tau), lambda: F.log_softmax(x, tau),
                 lambda: F.gumbel_softmax(x, g, tau), lambda: F.concrete_log_prob(F.softmax(x), x, tau),
                 lambda: F.softmax_vjp(x, x, tau)):
        with pytest.raises(ValueError, match="tau"):
            call()


def test_all_masked_row_is_a_value_error():
    x = np.array([[0.0, 1.0], [-np.inf, -np.inf]])
    for call in (lambda: F.softmax(x), lambda: F.log_softmax(x), lambda: F.gumbel_max(x, np.zeros_like(x)),
                 lambda: F.gumbel_softmax(x, np.zeros_like(x), 0.5)):
        with pytest.raises(ValueError, match="-inf"):
            call()


def test_shape_mismatches_name_both_shapes():
    x = _theta((2, 3))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        F.gumbel_softmax(x, np.zeros((3, 2)), 1.0)
    with pytest.raises(ValueError, match="dy"):
        F.softmax_vjp(np.zeros((2, 4)), F.softmax(x))
    with pytest.raises(ValueError, match="y"):
        F.concrete_log_prob(np.zeros((2, 4)), x, 1.0)


def test_sample_gumbel_rejects_integer_dtype():
    with pytest.raises(ValueError, match="dtype"):
        F.sample_gumbel(np.random.default_rng(0), (2,), np.int64)


# ----------------------------------------------------------------------------- noise edge cases

class StubGenerator(np.random.Generator):
    """A Generator that returns chosen uniform values: the worst cases for -log(-log u)."""

    def __init__(self, values):
        super().__init__(np.random.PCG64(0))
        self.values = values

    def random(self, shape, dtype=np.float64):
        return np.resize(np.asarray(self.values, dtype=dtype), shape)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sample_gumbel_never_returns_inf_for_extreme_uniforms(dtype):
    fi = np.finfo(dtype)
    one_below = np.nextafter(dtype(1), dtype(0))
    extremes = [0.0, fi.smallest_subnormal, fi.tiny, one_below, 1.0, 0.5]
    g = F.sample_gumbel(StubGenerator(extremes), (len(extremes),), dtype)
    assert g.dtype == dtype and np.all(np.isfinite(g)), g
    assert np.all(np.diff(g[:4]) >= 0)     # monotone in u (0.0 and the subnormal both clip to tiny)
    y = F.gumbel_softmax(np.zeros((1, 6), dtype), g[None, :], 0.1)
    assert np.all(np.isfinite(y))


def test_gradcheck_hard_rows_exercise_the_straight_through_primitive(monkeypatch):
    # negative control: a straight-through primitive passing 2·dy must fail exactly the hard rows
    from autograd.extend import defvjp, primitive

    from minigumbel.gradcheck import run_functional_checks

    @primitive
    def wrong_st(y_soft, y_hard):
        return y_hard

    defvjp(wrong_st, lambda ans, y_soft, y_hard: lambda dy: 2 * dy, None)
    monkeypatch.setattr(F, "_ST", wrong_st)
    ok = {}
    for r in run_functional_checks():
        ok.setdefault(r.name, []).append(r.ok)
    assert all(ok["gumbel_softmax_vjp"]) and not any(ok["gumbel_softmax_vjp (hard, straight-through)"])


def test_scalar_upstream_and_no_check_inside_internal_calls():
    """Issue 10: a Python-float dlp for one unbatched row works (converted with asarray first, the
    call CuPy accepts too); the internal unchecked softmax does no all-masked check (no host sync),
    while the public function still refuses the row at its entry."""
    y = np.array([0.2, 0.3, 0.5])
    logits = np.array([0.1, -0.4, 1.0])
    dy, dth = F.concrete_log_prob_vjp(1.0, y, logits, 0.7)
    dy2, dth2 = F.concrete_log_prob_vjp(np.array([1.0]), y[None], logits[None], 0.7)
    np.testing.assert_array_equal(dy, dy2[0])
    np.testing.assert_array_equal(dth, dth2[0])
    masked = np.full((2, 3), -np.inf)
    masked[0] = 0.0
    with np.errstate(invalid="ignore"):
        out = F._softmax(masked, 1.0)                  # no check: the all-masked row is NaN
    assert np.isnan(out[1]).all() and np.allclose(out[0], 1 / 3)
    with pytest.raises(ValueError, match="every entry -inf"):
        F.softmax(masked)


def test_concrete_dy_is_an_ambient_gradient_and_its_projection_is_the_simplex_gradient():
    """concrete_log_prob_vjp's ∂/∂y (docstring): Σ_i y_i ∂_i lp = −K (the formula is homogeneous of
    degree −K in y: lp(c·y) = lp(y) − K log c), so it is no gradient along the simplex; projected
    onto the tangent space (dy − mean over unmasked entries) it gives the directional derivative
    along every tangent direction v (Σ v = 0), checked by central differences."""
    rng = np.random.default_rng(4)
    theta = np.array([0.3, -np.inf, 1.2, -0.5, 0.0])            # one masked category: K = 4
    y = np.array([0.1, 0.0, 0.5, 0.15, 0.25])                    # on the simplex, 0 where masked
    tau = 0.7
    dy, _ = F.concrete_log_prob_vjp(1.0, y, theta, tau)
    live = np.isfinite(theta)
    assert abs(np.sum(y * dy) - (-4.0)) < 1e-12                  # Euler: Σ y_i ∂_i = −K, K = 4
    c = 1.3                                                      # and lp(c·y) = lp(y) − K log c
    np.testing.assert_allclose(F.concrete_log_prob(c * y, theta, tau),
                               F.concrete_log_prob(y, theta, tau) - 4 * np.log(c), rtol=1e-12)
    proj = np.where(live, dy - dy[live].mean(), 0.0)             # the projection the docstring gives
    assert abs(proj.sum()) < 1e-12
    for _ in range(3):
        v = np.where(live, rng.normal(size=5), 0.0)
        v[live] -= v[live].mean()                                # a tangent direction: Σ v = 0
        h = 1e-6
        fd = (F.concrete_log_prob(y + h * v, theta, tau) - F.concrete_log_prob(y - h * v, theta, tau)) / (2 * h)
        np.testing.assert_allclose(proj @ v, fd, rtol=1e-6)
        np.testing.assert_allclose(dy @ v, fd, rtol=1e-6)        # (ambient and projected agree on v)
