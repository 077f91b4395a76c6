"""Property-based tests (Hypothesis) of the numerical guarantees in README.md ("Numerical guarantees").

The input space is the documented domain: logits finite or -inf (never a whole row of -inf),
|finite logits| up to 1e30 (the float32 value nearest 1e30 for float32), τ from 1e-4 to 1e4
(one number, or one per row), K from 1 to 100,000, float32 and float64, axis -1 or 0, every
backend (CuPy cases run on the strict CuPy stand-in without a GPU, tests/cupy_standin). Each test checks guarantees, never
values produced by the code under test. Tolerances are worst-case floating-point bounds with
ε = machine epsilon of the dtype (see ``sum_tol``).

Example counts: ``examples(n)`` runs n examples in the "ci" profile (derandomized) and scales
with the profile's ``max_examples`` (``pytest --hypothesis-profile=thorough``: ×33).
Estimators are covered in tests/test_properties_estimators.py.
"""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minigumbel import functional as F
from minigumbel.distributions import RelaxedOneHotCategorical

DTYPES = (np.float32, np.float64)
BIG = {np.float32: float(np.float32(1e30)), np.float64: 1e30}   # largest |finite logit| in the domain
TAU_MIN, TAU_MAX = 1e-4, 1e4


def examples(n):
    """n examples under the "ci" profile (max_examples 60); proportionally more under others."""
    return max(1, round(n * settings.default.max_examples / 60))


def prop(n):
    """@settings for a property: n ci examples; the ``backend`` fixture is a constant per param."""
    return settings(max_examples=examples(n), suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                     HealthCheck.too_slow])


def eps(dtype):
    return float(np.finfo(dtype).eps)


def sum_tol(k, dtype):
    """|Σ_i y_i − 1| bound: (K + 8)·ε. A sum of K terms in any order errs by ≤ (K−1)·ε/2 relative
    (Higham, γ_{K−1}); the division y_i = e_i/S adds ε/2 per term; exp(log_softmax) adds ≤ ε·(log K + 2)."""
    return (k + 8) * eps(dtype)


# ----------------------------------------------------------------------------- input space

taus = st.one_of(st.sampled_from([TAU_MIN, 1.0, TAU_MAX]), st.floats(-4, 4).map(lambda e: 10.0 ** e))
sizes = st.one_of(st.integers(1, 8), st.integers(9, 300), st.sampled_from([1000, 100_000]))


@st.composite
def logits_arrays(draw, dtype=None, k=sizes, axes=(-1, 0), max_batch=3):
    """(x, axis): logits in the domain with K categories along ``axis``.

    Small K: every entry drawn by Hypothesis (extremes ±1e30, 0, subnormals, -inf masks; it can
    shrink a failure to a readable array). Large K: a seeded NumPy draw at a drawn scale and mask
    rate. A row that came out all -inf gets one finite entry (that case is a ValueError, below).
    """
    dtype = draw(st.sampled_from(DTYPES)) if dtype is None else dtype
    k = draw(k)
    b = draw(st.integers(1, max_batch)) if k <= 1000 else 1
    big = BIG[dtype]
    if k <= 8:
        finite = st.floats(-big, big, width=32 if dtype == np.float32 else 64)
        x = draw(hnp.arrays(dtype, (b, k), elements=st.one_of(finite, st.sampled_from([-np.inf, 0.0, big, -big]))))
    else:
        r = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
        scale = draw(st.sampled_from([0.0, 1.0, 30.0, 1e4, 1e15, big]))
        x = np.clip(r.standard_normal((b, k)) * scale, -big, big)
        x[r.random((b, k)) < draw(st.sampled_from([0.0, 0.5, 0.99]))] = -np.inf
        x = x.astype(dtype)
    dead = np.all(x == -np.inf, axis=1)
    x[dead, draw(st.integers(0, k - 1))] = 0.0
    axis = draw(st.sampled_from(axes))
    if axis == 0:
        return np.ascontiguousarray(x.T), 0
    if b == 1 and draw(st.booleans()):
        return x[0], -1                                                # a single row, 1-D
    return x, -1


@st.composite
def temperatures(draw, x, axis):
    """A number, or one τ per row (shape with 1 along ``axis``, e.g. (n, 1))."""
    if x.ndim == 1 or draw(st.booleans()):
        return draw(taus)
    shape = list(x.shape)
    shape[axis] = 1
    n = int(np.prod(shape))
    return np.array(draw(st.lists(taus, min_size=n, max_size=n)), dtype=x.dtype).reshape(shape)


@st.composite
def problems(draw, **kw):
    """(x, axis, tau, seed): logits, axis, temperature and a seed for noise / upstream gradients."""
    x, axis = draw(logits_arrays(**kw))
    return x, axis, draw(temperatures(x, axis)), draw(st.integers(0, 2 ** 32 - 1))


def to_dev(backend, *arrays):
    return [backend.asarray(a) if isinstance(a, np.ndarray) else a for a in arrays]


def host(backend, *arrays):
    return [backend.to_numpy(a) for a in arrays]


def upstream(seed, shape, dtype):
    """A finite upstream gradient with entries of order 1 (|dy| ≤ ~6)."""
    return np.random.default_rng(seed ^ 0x5EED).standard_normal(shape).astype(dtype)


def k_of(x, axis):
    return x.shape[axis]


def assert_simplex(y, x, axis, what):
    """Finite, in [0, 1], exactly 0 on masked entries, rows summing to 1 within sum_tol."""
    k = k_of(x, axis)
    assert y.shape == x.shape and y.dtype == x.dtype, (what, y.shape, y.dtype)
    assert np.all(np.isfinite(y)) and np.all((y >= 0) & (y <= 1)), (what, y)
    assert np.all(y[x == -np.inf] == 0.0), (what, "mass on a masked entry")
    err = np.max(np.abs(np.sum(y.astype(np.float64), axis=axis) - 1.0))
    assert err <= sum_tol(k, x.dtype), (what, f"|sum - 1| = {err:.3g} > {sum_tol(k, x.dtype):.3g} (K = {k})")


def assert_one_hot(y, x, axis, what):
    assert set(np.unique(y)) <= {0.0, 1.0} and np.all(np.sum(y, axis=axis) == 1.0), (what, y)
    assert np.all(y[x == -np.inf] == 0.0), (what, "a masked category was sampled")


def first_argmax(z, axis):
    """Index of the first maximum: the documented tie rule (the lowest index wins)."""
    return np.argmax(z == np.max(z, axis=axis, keepdims=True), axis=axis)


# ----------------------------------------------------------------------------- functional

@prop(60)
@given(p=problems())
def test_softmax_and_log_softmax(backend, p):
    x, axis, tau, seed = p
    k, tmin = k_of(x, axis), float(np.min(tau))
    X, T = to_dev(backend, x, tau)
    y, lp = host(backend, F.softmax(X, T, axis), F.log_softmax(X, T, axis))
    assert_simplex(y, x, axis, "softmax")
    masked = x == -np.inf
    assert lp.dtype == x.dtype and np.all(lp[masked] == -np.inf) and np.all(np.isfinite(lp[~masked]))
    assert np.all(lp <= 0)
    err = np.max(np.abs(np.sum(np.exp(lp.astype(np.float64)), axis=axis) - 1.0))
    assert err <= sum_tol(k, x.dtype), f"|sum exp(log_softmax) - 1| = {err:.3g}"
    # backward rules: |dθ| ≤ 2 max|dy| / τ (softmax); ≤ (K + 1) max|dl| / τ (log_softmax); 0 on masks
    dy = upstream(seed, x.shape, x.dtype)
    dy_, = to_dev(backend, dy)
    dx, dlx = host(backend, F.softmax_vjp(dy_, backend.asarray(y), T, axis),
                   F.log_softmax_vjp(dy_, backend.asarray(lp), T, axis))
    m = float(np.max(np.abs(dy)))
    for name, d, bound in (("softmax_vjp", dx, 2 * m / tmin), ("log_softmax_vjp", dlx, (k + 1) * m / tmin)):
        assert d.dtype == x.dtype and np.all(np.isfinite(d)), (name, d)
        assert np.all(d[masked] == 0.0), (name, "nonzero gradient on a masked entry")
        assert np.max(np.abs(d)) <= bound * (1 + 1e-3), (name, np.max(np.abs(d)), bound)
    # Σ_j dθ_j = ⟨dy, y⟩ (1 − Σ y) / τ up to rounding: softmax is invariant to a shift of θ
    drift = np.max(np.abs(np.sum(dx.astype(np.float64), axis=axis)))
    assert drift <= 4 * sum_tol(k, x.dtype) * m / tmin, ("softmax_vjp rows do not sum to 0", drift)


@prop(60)
@given(p=problems(), hard=st.booleans())
def test_gumbel_softmax_sampler(backend, p, hard):
    x, axis, tau, seed = p
    k, tmin = k_of(x, axis), float(np.min(tau))
    X, T = to_dev(backend, x, tau)
    g = F.sample_gumbel(backend.rng(seed), x.shape, x.dtype)
    y, y_soft = F.gumbel_softmax(X, g, T, hard=hard, axis=axis, return_soft=True)
    idx, = host(backend, F.gumbel_max(X, g, axis))
    y, y_soft, g = host(backend, y, y_soft, g)
    assert g.dtype == x.dtype and np.all(np.isfinite(g))
    assert_simplex(y_soft, x, axis, "gumbel_softmax soft")
    s = x + g                                                   # θ + g as the library computes it
    assert np.all(idx == first_argmax(s, axis)) and np.all(np.take_along_axis(
        x, np.expand_dims(idx, axis), axis) > -np.inf), "gumbel_max: not the first argmax, or a masked index"
    if hard:
        assert_one_hot(y, x, axis, "gumbel_softmax hard")
        assert np.all(np.argmax(y, axis=axis) == idx), "hard sample is not one-hot(gumbel_max)"
    # τ → 0: with δ = the gap between the two largest (θ+g)/τ, max|y_soft − one_hot| ≤ (K−1)e^(−δ)
    z = np.sort((s / np.asarray(tau, dtype=x.dtype)).astype(np.float64), axis=axis)
    if k > 1:
        gap = np.take(z, [-1], axis=axis) - np.take(z, [-2], axis=axis)
        with np.errstate(invalid="ignore"):          # a -inf runner-up: gap +inf, bound 0
            bound = (k - 1) * np.exp(-np.nan_to_num(gap, nan=np.inf)) * (1 + 1e-3) + sum_tol(k, x.dtype)
        y_hard = np.moveaxis(np.expand_dims(idx, -1) == np.arange(k), -1, axis).astype(x.dtype)
        assert np.all(np.abs(y_soft - y_hard) <= bound), "soft sample far from its τ → 0 limit"
    # the gradient (the same rule for hard and soft: straight-through) is finite and 0 on masks
    dy = upstream(seed, x.shape, x.dtype)
    dx, = host(backend, F.gumbel_softmax_vjp(backend.asarray(dy), backend.asarray(y_soft), T, axis))
    assert np.all(np.isfinite(dx)) and np.all(dx[x == -np.inf] == 0.0)
    assert np.max(np.abs(dx)) <= 2 * float(np.max(np.abs(dy))) / tmin * (1 + 1e-3)


@prop(40)
@given(data=st.data(), dtype=st.sampled_from(DTYPES), k=st.integers(1, 6))
def test_ties_go_to_the_lowest_index(data, dtype, k):
    x = data.draw(hnp.arrays(dtype, (4, k), elements=st.sampled_from([-1.0, 0.0, 2.0]))).copy()
    g = np.zeros_like(x)                                       # no noise: ties everywhere
    x[:, data.draw(st.integers(0, k - 1))] = 2.0                # some rows have several maxima
    expect = first_argmax(x, -1)
    assert np.all(F.gumbel_max(x, g) == expect)
    y = F.gumbel_softmax(x, g, data.draw(taus), hard=True)
    assert np.all(np.argmax(y, -1) == expect) and np.all(y.sum(-1) == 1.0)
    # a near-tie: θ_j one ulp above the rest. The relaxed y may round them equal (large τ), the
    # hard sample still follows argmax(θ + g) exactly
    v = data.draw(st.sampled_from([-1.0, 0.0, 1.0, 3.0e4]))
    j = data.draw(st.integers(0, k - 1))
    x = np.full((1, k), v, dtype)
    x[0, j] = np.nextafter(dtype(v), dtype(np.inf))
    y = F.gumbel_softmax(x, np.zeros_like(x), data.draw(taus), hard=True)
    assert np.argmax(y) == j and F.gumbel_max(x, np.zeros_like(x))[0] == j


@prop(60)
@given(p=problems(), tau_y=taus)
def test_concrete_log_prob(backend, p, tau_y):
    x, axis, tau, seed = p
    X, T = to_dev(backend, x, tau)
    masked = x == -np.inf
    y = F.gumbel_softmax(X, F.sample_gumbel(backend.rng(seed), x.shape, x.dtype), tau_y, axis=axis)
    lp, = host(backend, F.concrete_log_prob(y, X, T, axis))
    assert lp.dtype == x.dtype and lp.shape == np.sum(x, axis=axis).shape
    assert np.all(np.isfinite(lp)), f"log_prob not finite on the support: {lp}"
    one = np.sum(~masked, axis=axis) == 1                       # a point mass: y = e_i, log p = 0
    assert np.all(lp[one] == 0.0), lp[one]
    # gradients: dθ finite, 0 on masks, |dθ| ≤ K·|c|; dy is the exact −(τ+1)/y_i + Kτs_i/y_i, which
    # is finite whenever its bound (Kτ + τ + 1)/y_i is representable (it grows without limit as y_i → 0)
    c = upstream(seed, lp.shape, x.dtype) if lp.ndim else x.dtype.type(1.5)
    dy, dx = host(backend, *F.concrete_log_prob_vjp(backend.asarray(c) if lp.ndim else c, y, X, T, axis))
    k = k_of(x, axis)
    assert np.all(np.isfinite(dx)) and np.all(dx[masked] == 0.0) and np.all(dy[masked] == 0.0)
    assert np.max(np.abs(dx)) <= k * float(np.max(np.abs(c))) * (1 + 1e-3)
    yh = host(backend, y)[0].astype(np.float64)
    t = np.broadcast_to(np.asarray(tau, dtype=np.float64), x.shape)
    dy_bound = (k * t + t + 1) / np.maximum(yh, np.finfo(x.dtype).tiny) * float(np.max(np.abs(c)))
    ok = np.all(np.where(masked, 0, dy_bound) < np.finfo(x.dtype).max / 4, axis=axis, keepdims=True)
    assert np.all(np.isfinite(dy[np.broadcast_to(ok, x.shape)])), "dlog p/dy not finite"
    # off the support (mass on a masked category): exactly -inf, the other rows unchanged
    if masked.any():
        y_off = np.where(masked, 0.25, yh).astype(x.dtype)
        off = np.any(masked, axis=axis)
        lp_off, = host(backend, F.concrete_log_prob(backend.asarray(y_off), X, T, axis))
        assert np.all(lp_off[off] == -np.inf) and np.all(np.isfinite(lp_off[~off]))


@prop(30)
@given(dtype=st.sampled_from(DTYPES), k=st.integers(1, 100_000), n=st.integers(0, 5), seed=st.integers(0, 2 ** 16),
       axis=st.sampled_from([-1, 0, 1]))
def test_one_hot(dtype, k, n, seed, axis):
    idx = np.random.default_rng(seed).integers(0, k, size=(n, 2))
    out = F.one_hot(idx, k, dtype, axis=axis)
    assert out.dtype == dtype and out.shape[axis] == k
    assert np.all(out.sum(axis) == 1.0) and np.all(np.argmax(out, axis) == idx)


@prop(40)
@given(tau=taus, dtype=st.sampled_from(DTYPES))
def test_check_tau_accepts_the_domain_and_keeps_the_dtype(tau, dtype):
    x = np.zeros((2, 3), dtype)
    for t in (tau, np.float64(tau), np.float32(max(tau, 1e-4)), np.full((2, 1), tau)):
        assert F.softmax(x, t).dtype == dtype, (type(t), "changed the dtype")


BAD_TAUS = [0.0, -1.0, -0.0, np.nan, np.inf, -np.inf, True, "1.0", None, np.array([]),
            np.array([[1.0], [0.0]]), np.array([[1.0], [np.nan]]), np.float32(0.0)]


@pytest.mark.parametrize("tau", BAD_TAUS, ids=repr)
def test_bad_tau_is_rejected_by_every_function(tau):
    x = np.zeros((2, 3))
    y = F.softmax(x)
    d = RelaxedOneHotCategorical(logits=x)
    for call in (lambda: F.check_tau(tau), lambda: F.log_softmax_vjp(y, y, tau),
                 lambda: F.concrete_log_prob_vjp(np.ones(2), y, x, tau),
                 lambda: RelaxedOneHotCategorical(logits=x, tau=tau), lambda: F.softmax(x, tau)):
        with pytest.raises(ValueError, match="tau"):
            call()
    assert d.tau == 1.0


# ----------------------------------------------------------------------------- extreme uniforms

def _extreme_uniforms(dtype):
    fi = np.finfo(dtype)
    return [0.0, float(fi.smallest_subnormal), float(fi.tiny), float(np.nextafter(dtype(1), dtype(0))), 0.5]


class StubGenerator(np.random.Generator):
    """Returns the chosen uniforms (cycled): 0.0, subnormals, the largest float below 1.0, ...
    (a Generator subclass: the library accepts only Generator instances)."""

    def __init__(self, values):
        super().__init__(np.random.PCG64(0))
        self.values = values

    def random(self, shape, dtype=np.float64):
        return np.resize(np.asarray(self.values, dtype=dtype), shape)


@prop(40)
@given(data=st.data(), dtype=st.sampled_from(DTYPES))
def test_every_sampler_is_finite_for_extreme_uniform_draws(data, dtype):
    fi = np.finfo(dtype)
    special = st.sampled_from(_extreme_uniforms(dtype))
    sub = st.floats(0, float(fi.tiny), width=32 if dtype == np.float32 else 64, exclude_max=True)
    u = data.draw(st.lists(st.one_of(special, sub, st.floats(0, 1, exclude_max=True)), min_size=1, max_size=12))
    rng = StubGenerator(u)
    x, _ = data.draw(logits_arrays(dtype=dtype, axes=(-1,)))
    x = np.atleast_2d(x)
    g = F.sample_gumbel(rng, x.shape, dtype)
    lo, hi = -math.log(-math.log(float(fi.tiny))), -math.log(-math.log1p(-float(fi.epsneg)))
    assert g.dtype == dtype and np.all(np.isfinite(g)) and np.all((g >= lo * 1.001) & (g <= hi * 1.001)), g
    tau = data.draw(taus)
    for hard in (False, True):
        y = F.gumbel_softmax(x, g, tau, hard=hard)
        assert np.all(np.isfinite(y)) and np.all(y[x == -np.inf] == 0)
    dist = RelaxedOneHotCategorical(logits=x, tau=tau)
    for out in (dist.rsample(rng, (2,)), dist.rsample(rng, hard=True), dist.sample(rng, (2,))):
        assert np.all(np.isfinite(out)) and np.all(out[..., x == -np.inf] == 0)
    from minigumbel.estimators import ESTIMATORS
    for name, est in ESTIMATORS.items():
        if name == "exact" and x.shape[-1] > 1000:
            continue                                      # enumeration builds a (K, ..., K) array
        draw = est.sample(x, rng, max(tau, 1.0) if name == "reinmax" else tau)
        for field in ("z", "d", "g", "c"):
            v = getattr(draw, field)
            if v is not None and field != "c":            # c = log π½ − θ is −inf where π½ underflows
                assert np.all(np.isfinite(v)), (name, field, v)


# ----------------------------------------------------------------------------- distributions

@st.composite
def distributions(draw):
    """(dist, x, tau): built from logits, or from probs (0 = masked) normalised along the last axis."""
    x, _ = draw(logits_arrays(axes=(-1,)))
    tau = draw(temperatures(x, -1))
    if draw(st.booleans()):
        return RelaxedOneHotCategorical(logits=x, tau=tau), x, tau
    w = np.exp(x.astype(np.float64) - np.max(x, axis=-1, keepdims=True))     # a probs vector in the domain
    probs = (w / w.sum(-1, keepdims=True)).astype(x.dtype)
    return RelaxedOneHotCategorical(probs=probs, tau=tau), np.where(probs == 0, -np.inf, x), tau


@prop(50)
@given(p=distributions(), seed=st.integers(0, 2 ** 32 - 1), n=st.integers(1, 3))
def test_relaxed_one_hot_categorical(p, seed, n):
    dist, x, tau = p
    rng = np.random.default_rng(seed)
    assert_simplex(dist.probs, x, -1, "probs")
    assert np.all(dist.logits[x == -np.inf] == -np.inf) and np.all(np.isfinite(dist.logits[x > -np.inf]))
    xs = np.broadcast_to(x, (n,) + x.shape)
    y = dist.rsample(rng, (n,))
    assert_simplex(y, xs, -1, "rsample")
    assert_one_hot(dist.rsample(rng, (n,), hard=True), xs, -1, "rsample(hard=True)")
    assert_one_hot(dist.sample(rng, (n,)), xs, -1, "sample")
    lp = dist.log_prob(y)
    assert lp.shape == xs.shape[:-1] and np.all(np.isfinite(lp)), lp
    masked = x == -np.inf
    if masked.any():                                              # off the support: -inf exactly
        off = np.where(masked, 0.5, y)
        assert np.all(dist.log_prob(off)[:, np.any(masked, axis=-1)] == -np.inf)


@prop(30)
@given(p=problems(dtype=np.float64, k=st.integers(1, 300), axes=(-1,)), n=st.integers(1, 2))
def test_autograd_through_the_distribution_is_finite_and_zero_on_masks(p, n):
    import autograd
    import autograd.numpy as anp
    x, _, tau, seed = p
    masked = x == -np.inf
    y = RelaxedOneHotCategorical(logits=x, tau=tau).rsample(np.random.default_rng(seed), (n,))
    w = upstream(seed, y.shape, np.float64)

    def loss(t):
        d = RelaxedOneHotCategorical(logits=t, tau=tau)
        return anp.sum(d.log_prob(y)) + anp.sum(w * d.rsample(np.random.default_rng(seed), (n,)))

    grad = autograd.grad(loss)(x)
    assert np.all(np.isfinite(grad)) and np.all(grad[masked] == 0.0), grad


@pytest.mark.parametrize("bad", ["nan", "+inf", "all masked"])
@prop(20)
@given(xa=logits_arrays(k=st.integers(1, 300), axes=(-1,), max_batch=3), pos=st.integers(0, 10 ** 6))
def test_out_of_domain_logits(bad, xa, pos):
    x = np.atleast_2d(xa[0]).copy()
    row, col = divmod(pos % x.size, x.shape[-1])
    x[row, :] = -np.inf if bad == "all masked" else x[row, :]
    x[row, col] = {"nan": np.nan, "+inf": np.inf, "all masked": -np.inf}[bad]
    with pytest.raises(ValueError, match="NaN|inf"):
        RelaxedOneHotCategorical(logits=x)           # validate_args: checked once, at construction
    # every public function refuses the row where input enters, naming the argument and the row
    # (issue 16: before, the functional layer returned that row all NaN)
    zeros = np.zeros_like(x)
    calls = (lambda: F.softmax(x), lambda: F.log_softmax(x), lambda: F.gumbel_softmax(x, zeros, 0.5),
             lambda: F.gumbel_max(x, zeros), lambda: F.concrete_log_prob(np.full_like(x, 0.5), x, 0.5),
             lambda: F.concrete_log_prob_vjp(1.0, np.full_like(x, 0.5), x, 0.5))
    word = {"nan": "NaN", "+inf": r"\+inf", "all masked": "every entry -inf"}[bad]
    for call in calls:
        with pytest.raises(ValueError, match=rf"^logits.*{word}|^logits.*row logits\[{row}, :\]"):
            call()
        with pytest.raises(ValueError, match=rf"row logits\[{row}, :\]"):
            call()


def test_the_profile_asked_for_is_the_one_loaded(pytestconfig):
    import os
    wanted = pytestconfig.getoption("hypothesis_profile", None) or os.environ.get("HYPOTHESIS_PROFILE", "ci")
    # (Hypothesis derives "<name>-with-...-verbosity" profiles from --hypothesis-verbosity)
    assert settings.get_current_profile_name().split("-with-")[0] == wanted
    expected = {"ci": (60, True), "thorough": (2000, False)}.get(wanted)
    if expected:
        assert (settings.default.max_examples, settings.default.derandomize) == expected
