"""Property-based tests (Hypothesis) of every gradient estimator's guarantees (README.md, "Numerical guarantees").

Same input space as tests/test_properties.py (logits finite or -inf, |θ| ≤ 1e30, τ in [1e-4, 1e4]
for every estimator (ReinMax and decoupled's tau_forward included), K up to 100,000 — except "exact",
which enumerates K one-hots and is documented for small K — float32/float64, every backend) along the last axis, the estimators' axis.

Guarantees checked for each rule: the sample is an exact one-hot never on a masked category (a
point of the simplex for "softmax"/"gumbel"); the gradient is finite, exactly 0 on masked entries,
within its worst-case bound, and sums to 0 over the categories (every rule is J(p)·v for some
probability vector p, and Σ_j (J(p)v)_j = 0: softmax is invariant to a shift of θ).
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minigumbel import estimators as E
from minigumbel.estimators.base import _hard_sample
from test_properties import (TAU_MAX, assert_one_hot, assert_simplex, host, logits_arrays, prop, sum_tol,
                                   taus, to_dev, upstream)

NAMES = tuple(E.ESTIMATORS)


@st.composite
def estimator_problems(draw, name):
    """(x, tau, seed, options) for estimator ``name``."""
    k = st.integers(1, 300) if name == "exact" else st.one_of(st.integers(1, 300), st.sampled_from([1000, 100_000]))
    x, _ = draw(logits_arrays(k=k, axes=(-1,)))
    tau = draw(taus)
    opts = {"k": draw(st.integers(1, 4))} if name in ("gumbel-rao", "gumbel-rao-total") else {}
    if name == "decoupled":
        opts = {"tau_forward": draw(st.one_of(st.none(), taus))}
    return x, tau, draw(st.integers(0, 2 ** 32 - 1)), opts


def assert_gradient(grad, x, bound, what):
    """Finite, 0 on masked entries, |grad| ≤ bound, rows summing to 0 (to rounding)."""
    assert grad.shape == x.shape and np.all(np.isfinite(grad)), (what, grad)
    assert np.all(grad[x == -np.inf] == 0.0), (what, "nonzero gradient on a masked entry")
    assert np.max(np.abs(grad), initial=0.0) <= bound * (1 + 1e-3), (what, np.max(np.abs(grad)), bound)
    drift = np.max(np.abs(np.sum(grad.astype(np.float64), axis=-1)))
    assert drift <= 4 * sum_tol(x.shape[-1], x.dtype) * bound, (what, "rows do not sum to 0", drift, bound)


@pytest.mark.parametrize("name", NAMES)
@prop(25)
@given(data=st.data())
def test_estimator_sample_and_backward(backend, name, data):
    x, tau, seed, opts = data.draw(estimator_problems(name))
    _sample_and_backward(backend, name, x, tau, seed, opts, data.draw(st.sampled_from([0.0, 0.5])))


# The corners of the domain, each run for every estimator on every backend (the derandomized
# profile's 25 drawn examples reach |θ| ≥ 1e15 about once in 12): huge logits of both signs,
# huge spreads, −inf masks beside them, one category, float32 at the bound, both τ limits.
EXTREMES = {
    "1e30 spread": (np.array([[1e30, -1e30, 0.0], [-1e30, 1e30, 1e29]]), 1.0),
    "1e15 ties": (np.array([[1e15, 1e15, -1e15, 1e15]]), 0.5),
    "masks beside 1e30": (np.array([[-np.inf, 1e30, -np.inf, -1e30], [3.0, -np.inf, -np.inf, -np.inf]]), 2.0),
    "one category": (np.array([[5.0], [-1e30]]), 1.0),
    "float32 at the bound": (np.array([[1e30, -1e30, 0.0, 1e-30]], np.float32), 1.0),
    "tau 1e-4, near ties": (np.array([[0.0, 1e-12, -1e-12, 1e-4]]), 1e-4),
    "tau 1e4, 1e15 logits": (np.array([[1e15, -1e15, 0.0]]), 1e4),
    "one certain category": (np.array([[0.0, -800.0, -900.0, -1e15]]), 1.0),
}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("case", list(EXTREMES))
def test_estimator_sample_and_backward_at_the_extremes(backend, name, case):
    x, tau = EXTREMES[case]
    tau = max(tau, 1.0) if name == "reinmax" else tau           # ReinMax's domain: τ ≥ 1
    opts = {"k": 3} if name in ("gumbel-rao", "gumbel-rao-total") else {}
    if name == "decoupled":
        opts = {"tau_forward": min(2 * tau, 1e4)}                 # inside the domain [1e-4, 1e4]
    for seed in (0, 1, 2):
        _sample_and_backward(backend, name, x, tau, seed, opts, 0.5)


def _sample_and_backward(backend, name, x, tau, seed, opts, b):
    est = E.ESTIMATORS[name]
    X, = to_dev(backend, x)
    draw = est.sample(X, backend.rng(seed), tau, **opts)
    z, = host(backend, draw.z)
    if name == "exact":
        assert z.shape == (x.shape[-1],) + x.shape
    elif est.hard:
        assert_one_hot(z, x, -1, name)
    else:
        assert_simplex(z, x, -1, name)
    m = 1.0                                               # max |upstream| (dd, f(d) or F)
    if est.needs == "dd":
        dd = upstream(seed, x.shape, x.dtype)
        m = float(np.max(np.abs(dd)))
        grad, = host(backend, est.backward(draw, backend.asarray(dd)))
        # J(p)v is bounded by 2 max|v| entrywise; the relaxations scale it by 1/τ; ReinMax is 2J + ½J
        # (no 1/τ); gumbel-rao-total adds π_k Σ_j |u_j| ≤ 2 max|v|/τ to the 1/τ-scaled J(y)v
        bound = {"reinmax": 5 * m, "gumbel-rao-total": 4 * m / tau}.get(name, 2 * m / tau)
    elif est.needs == "f":
        f_d = upstream(seed, x.shape[:-1], x.dtype)
        grad, = host(backend, est.backward(draw, backend.asarray(f_d), b))
        bound = float(np.max(np.abs(f_d - b), initial=0.0))     # |(f − b)(d − π)| ≤ |f − b|
    else:
        f_values = upstream(seed, x.shape, x.dtype)
        grad, = host(backend, est.backward(draw, backend.asarray(f_values)))
        bound = 2 * float(np.max(np.abs(f_values)))
    assert grad.dtype == x.dtype, (name, grad.dtype)
    assert_gradient(grad, x, bound, name)


@pytest.mark.parametrize("name", NAMES)
@prop(15)
@given(data=st.data())
def test_surrogate_autograd_gradient_is_finite_and_zero_on_masks(name, data):
    import autograd
    import autograd.numpy as anp
    x, tau, seed, opts = data.draw(estimator_problems(name).filter(lambda p: p[0].shape[-1] <= 300))
    x = x.astype(np.float64)
    est = E.ESTIMATORS[name]
    draw = est.sample(x, np.random.default_rng(seed), tau, **opts)
    extra = {"dd": (), "f": (upstream(seed, x.shape[:-1], np.float64),), "all": (upstream(seed, x.shape, np.float64),)}
    w = upstream(seed + 1, draw.z.shape if est.needs == "dd" else x.shape[:-1], np.float64)
    grad = autograd.grad(lambda t: anp.sum(w * est.surrogate(t, draw, *extra[est.needs])))(x)
    assert np.all(np.isfinite(grad)) and np.all(grad[x == -np.inf] == 0.0), (name, grad)


def _linear_f(a):
    """f(z) = ⟨a, z⟩ per row: value (n, ...) and ∂f/∂z = a (n, ..., K)."""
    def f(z):
        xp = np if isinstance(z, np.ndarray) else __import__("cupy")
        a_ = xp.asarray(a)
        return xp.sum(z * a_, axis=-1), xp.broadcast_to(a_, z.shape)
    return f


@pytest.mark.parametrize("name", NAMES)
@prop(12)
@given(data=st.data(), n=st.integers(1, 4))
def test_estimate_value_and_gradient_are_finite(backend, name, data, n):
    x, tau, seed, opts = data.draw(estimator_problems(name).filter(lambda p: p[0].shape[-1] <= 1000))
    if name == "reinforce":
        opts = {"baseline": data.draw(st.sampled_from([0.0, "none"] + (["loo"] if n >= 2 else [])))}
    a = upstream(seed, x.shape[-1:], x.dtype)
    X, = to_dev(backend, x)
    value, grad = host(backend, *E.estimate(name, X, _linear_f(a), backend.rng(seed), tau, n, **opts))
    assert value.shape == x.shape[:-1] and np.all(np.isfinite(value))
    # f's values and gradients are bounded by max|a|; the bounds of the single rules carry over to their mean
    m = float(np.max(np.abs(a)))
    bound = {"reinmax": 5 * m, "exact": 2 * m, "reinforce": 2 * m, "gumbel-rao-total": 4 * m / tau}.get(name, 2 * m / tau)
    assert_gradient(grad, x, bound, name)


@prop(30)
@given(data=st.data(), k=st.integers(1, 6))
def test_conditional_gumbel_is_finite_and_wins_where_told(backend, data, k):
    x, _ = data.draw(logits_arrays(k=st.one_of(st.integers(1, 300), st.just(100_000)), axes=(-1,)))
    seed = data.draw(st.integers(0, 2 ** 32 - 1))
    X, = to_dev(backend, x)
    rng = backend.rng(seed)
    d, _ = _hard_sample(X, rng)
    g, d = host(backend, E.conditional_gumbel(X, d, rng, k), d)
    assert g.shape == (k,) + x.shape and g.dtype == x.dtype
    assert np.all(np.isfinite(g)) and np.all(g[:, x == -np.inf] == 0.0)
    # argmax(θ + g) = d exactly when the logits are moderate (|θ| ≤ 30: no cancellation in g = s − θ)
    moderate = np.all(np.abs(np.where(x == -np.inf, 0, x)) <= 30, axis=-1)
    s = np.where(x == -np.inf, -np.inf, x + g)
    assert np.all((np.argmax(s, -1) == np.argmax(d, -1))[:, moderate])


@prop(30)
@given(f=st.lists(st.floats(-1e30, 1e30), min_size=1, max_size=20), decay=st.floats(0, 1, exclude_max=True))
def test_baselines_are_finite_and_independent_of_their_own_sample(f, decay):
    f = np.array(f)
    if f.size >= 2:
        b = E.loo_baseline(f)
        assert np.all(np.isfinite(b))
        for i in range(f.size):               # b_i depends on the others only: changing f_i leaves it
            g = f.copy()
            g[i] = 0.0 if f[i] else 1.0
            # (Σf − f_i)/(n − 1) loses the bits of the other f below ε·max|f|: that is the tolerance
            scale = f.size * max(np.max(np.abs(f)), np.max(np.abs(g)))
            np.testing.assert_allclose(E.loo_baseline(g)[i], b[i], rtol=1e-9, atol=4 * np.finfo(float).eps * scale)
    else:
        with pytest.raises(ValueError, match="n_samples"):
            E.loo_baseline(f)
    rm = E.RunningMean(decay)                 # a convex combination of the past and the new mean
    for i, v in enumerate(f):
        before = rm.value
        rm.update(np.array([v]))
        lo, hi = (v, v) if i == 0 else (min(before, v), max(before, v))
        slack = 1e-12 * max(abs(lo), abs(hi))
        assert np.isfinite(rm.value) and lo - slack <= rm.value <= hi + slack, (before, v, rm.value)


@prop(30)
@given(k=st.one_of(st.integers(-5, 0), st.floats(-3, 3), st.sampled_from([True, "3", None])),
       tau=st.floats(1e-4, 1.0, exclude_max=True), bad_tau=st.sampled_from([0.0, -1.0, float("nan"), float("inf"), 1e-5, 2e4, 10 ** 400]))
def test_bad_k_and_bad_tau_are_value_errors_and_reinmax_takes_any_tau_of_the_domain(k, tau, bad_tau):
    with pytest.raises(ValueError, match="k"):
        E.check_k(k)
    with pytest.raises(ValueError, match="tau"):
        E.check_reinmax_tau(bad_tau)
    draw = E.ESTIMATORS["reinmax"].sample(np.zeros((2, 3)), np.random.default_rng(0), tau)   # τ < 1 is fine
    assert draw.tau == tau
