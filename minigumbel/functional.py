"""The relaxed-categorical math, each forward followed by its hand-derived backward (VJP).

Notation (STYLE.md): ``logits`` θ, ``probs`` π = softmax θ, ``tau`` τ, ``g`` Gumbel noise,
``y`` relaxed sample, ``d`` one-hot sample, and ``dx`` always means ∂L/∂x.

Every function reduces over ``axis`` (default -1) and keeps the input dtype. ``-inf`` logits are
masks: probability exactly 0, never sampled, zero gradient. A row whose every logit is ``-inf``
is a ``ValueError``. τ may be a number or an array broadcastable against the logits (e.g. one
temperature per row, shape (n, 1)); it must be finite and > 0.

Numerical guarantees (README.md; enforced by tests/test_properties*.py): for
logits finite or −inf (not a whole row −inf), |θ| ≤ 1e30, 1e-4 ≤ τ ≤ 1e4, K ≤ 100,000, float32
and float64, every backend — outputs are finite where stated, masked entries get exactly 0 mass
and exactly 0 gradient, and rows sum to 1 within (K + 8)·ε (ε = the dtype's machine epsilon).

Papers: Gumbel-max and the Concrete density, Maddison, Mnih & Teh (2017), *The Concrete
Distribution*; Gumbel-Softmax and straight-through, Jang, Gu & Poole (2017), *Categorical
Reparameterization with Gumbel-Softmax*; Bengio, Léonard & Courville (2013).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .backend import namespace

__all__ = [
    "sample_gumbel", "softmax", "softmax_vjp", "log_softmax", "log_softmax_vjp",
    "gumbel_max", "gumbel_softmax", "gumbel_softmax_vjp", "concrete_log_prob",
    "concrete_log_prob_vjp", "one_hot", "check_tau",
]


# ----------------------------------------------------------------------------- helpers

def _value(x):
    """The plain array behind an autograd box (a stop-gradient); ``x`` itself otherwise."""
    while hasattr(x, "_value") and type(x).__module__.startswith("autograd"):
        x = x._value
    return x


def check_tau(tau, dtype=None, name: str = "tau"):
    """Validate a temperature and return it ready to broadcast (cast to ``dtype`` if an array).

    A Python/NumPy number must be finite and > 0 (returned as a Python float, so it never changes
    the logits' dtype); an array must be so everywhere. Anything else is a ValueError naming ``name``.
    """
    if isinstance(tau, numbers.Real) and not isinstance(tau, bool):
        t = float(tau)
        if not (math.isfinite(t) and t > 0.0):
            raise ValueError(f"{name} must be a finite number > 0, got {tau!r}")
        # A plain Python float: a NumPy scalar such as np.float64(0.5) is not "weak" under NEP 50
        # and would turn float32 logits into float64 (tests/test_properties.py found it).
        return t
    if tau is None or isinstance(tau, (bool, str)):
        raise ValueError(f"{name} must be a finite number > 0, got {tau!r}")
    xp = namespace(tau)
    t = _value(tau)
    if getattr(t, "size", 1) == 0:
        raise ValueError(f"{name} must be a finite number > 0, got an empty array")
    if not bool(xp.all(xp.isfinite(t) & (t > 0))):  # explicit host check: validation only
        raise ValueError(f"{name} must be finite and > 0 everywhere, got min {float(t.min())!r}")
    if dtype is not None and t is tau and tau.dtype != dtype:
        tau = tau.astype(dtype)
    return tau


def _same_shape(a, b, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name_a} has shape {tuple(a.shape)} but {name_b} has shape {tuple(b.shape)}; "
                         "they must match")


def _all_masked():
    """The error for a row of logits that are all −inf (also raised by the fast paths)."""
    return ValueError("logits: a row has every entry -inf (all categories masked); "
                      "at least one category needs a finite logit")


def _row_max(xp, z, axis):
    """max over ``axis`` (keepdims), held constant for autograd. No check here (no device→host
    sync on the hot path): an all-masked row is rejected where input enters (_check_masked)."""
    return xp.max(_value(z), axis=axis, keepdims=True)


def _check_masked(logits, axis, name="logits"):
    """ValueError when a row of ``logits`` is all −inf: one explicit host check, at the entry."""
    xp = namespace(logits)
    m = xp.max(_value(logits), axis=axis, keepdims=True)
    if bool(xp.any(m == -xp.inf)):
        raise _all_masked()


def _uniform_bounds(dtype):
    """[tiny, 1 − epsneg]: where a uniform draw is clipped before −log(−log u) (both logs finite).
    The fast paths use the same bounds, so their noise is bit-for-bit the reference's."""
    fi = np.finfo(dtype)
    return fi.tiny, 1.0 - fi.epsneg


# ----------------------------------------------------------------------------- noise

def sample_gumbel(rng, shape, dtype=np.float64):
    """Standard Gumbel noise g = -log(-log u), u ~ U(0, 1), of the given shape and dtype.

    ``rng`` is an explicit NumPy or CuPy ``Generator`` (noise is created on its device).
    The uniform draw is clipped into [tiny, 1 - ulp/2] before any log, so a draw of exactly 0
    (which a float32 generator returns about once in 2**24 draws) or 1 cannot make ±inf:
    the output lies in [-log(-log tiny), -log(-log(1 - ulp/2))] ≈ [-4.5, 16.6] in float32
    and [-6.6, 36.7] in float64. Its mean is γ ≈ 0.5772 and its variance π²/6.
    Guarantee: finite for *any* uniform the Generator returns (0.0, subnormals, 1 − ulp, even 1.0).
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    xp = _rng_module(rng)
    u = rng.random(shape, dtype=dtype)
    xp.clip(u, *_uniform_bounds(dtype), out=u)    # u in (0, 1): both logs stay finite
    xp.log(u, out=u)                              # log u in [log tiny, -epsneg], < 0
    xp.negative(u, out=u)                         # E = -log u ~ Exp(1), > 0
    xp.log(u, out=u)
    xp.negative(u, out=u)                         # g = -log E ~ Gumbel(0, 1)
    return u


def _rng_module(rng):
    mod = type(rng).__module__
    if mod.startswith("cupy"):
        import cupy
        return cupy
    if not hasattr(rng, "random"):
        raise TypeError(f"rng must be a numpy.random.Generator or cupy.random.Generator, got {type(rng).__name__}")
    return np


# ----------------------------------------------------------------------------- softmax

def softmax(logits, tau=1.0, axis=-1):
    """y = softmax(θ/τ) along ``axis``: y_i = exp(θ_i/τ) / Σ_j exp(θ_j/τ).

    Guarantee: 0 ≤ y ≤ 1, finite, exactly 0 where θ = −inf, |Σ_i y_i − 1| ≤ (K + 8)·ε.
    """
    _check_masked(logits, axis)
    return _softmax(logits, check_tau(tau, logits.dtype), axis)


def _softmax(logits, tau=1.0, axis=-1):
    """:func:`softmax` without input checks (internal callers, already validated)."""
    xp = namespace(logits, tau)
    z = logits / tau
    e = xp.exp(z - _row_max(xp, z, axis))   # shift by the row max: no overflow; -inf -> 0
    return e / xp.sum(e, axis=axis, keepdims=True)


# y = softmax(z), z = θ/τ.  ∂y_i/∂z_j = y_i (δ_ij − y_j), so for upstream dy
#   dz_j = Σ_i dy_i y_i (δ_ij − y_j) = y_j (dy_j − ⟨dy, y⟩)
#   dθ   = dz / τ.
# Masked entries have y_j = 0 and so receive exactly 0. The K×K Jacobian is never formed.
def softmax_vjp(dy, y, tau=1.0, axis=-1):
    """∂L/∂θ for y = softmax(θ/τ), given dy = ∂L/∂y and the forward output y.

    Guarantee: finite for finite dy, |dθ| ≤ 2·max|dy|/τ, exactly 0 where y = 0 (masked).
    """
    xp = namespace(dy, y, tau)
    _same_shape(dy, y, "dy", "y")
    tau = check_tau(tau, y.dtype)
    return y * (dy - xp.sum(dy * y, axis=axis, keepdims=True)) / tau


def log_softmax(logits, tau=1.0, axis=-1):
    """log softmax(θ/τ) = z − logsumexp(z), z = θ/τ, computed in log space (no underflow).

    Guarantee: finite and ≤ 0 where θ is finite, exactly −inf where θ = −inf.
    """
    _check_masked(logits, axis)
    return _log_softmax(logits, check_tau(tau, logits.dtype), axis)


def _log_softmax(logits, tau=1.0, axis=-1):
    """:func:`log_softmax` without input checks."""
    xp = namespace(logits, tau)
    z = logits / tau
    s = z - _row_max(xp, z, axis)
    return s - xp.log(xp.sum(xp.exp(s), axis=axis, keepdims=True))


# l = z − logsumexp(z), z = θ/τ.  ∂l_i/∂z_j = δ_ij − y_j with y = exp(l) = softmax(z), so
#   dz_j = dl_j − y_j Σ_i dl_i
#   dθ   = dz / τ.
# A masked θ_j = −inf is a constant: its gradient is defined as 0 (finite differences agree).
def log_softmax_vjp(dlogp, logp, tau=1.0, axis=-1):
    """∂L/∂θ for l = log_softmax(θ/τ), given dlogp = ∂L/∂l and the forward output l.

    Guarantee: finite for finite dlogp, |dθ| ≤ (K + 1)·max|dlogp|/τ, exactly 0 where l = −inf.
    """
    xp = namespace(dlogp, logp, tau)
    _same_shape(dlogp, logp, "dlogp", "logp")
    tau = check_tau(tau, logp.dtype)
    y = xp.exp(logp)
    dz = dlogp - y * xp.sum(dlogp, axis=axis, keepdims=True)
    return xp.where(logp == -xp.inf, 0, dz / tau)


# ----------------------------------------------------------------------------- samplers

def one_hot(index, k: int, dtype=np.float64, axis: int = -1):
    """One-hot vectors: out[..., i, ...] = (index == i), the new axis of length k at ``axis``.

    Entries are exactly 0.0 and 1.0 in ``dtype``; each vector sums to exactly 1.
    """
    xp = namespace(index)
    index = _value(index)
    shape = (1,) * index.ndim + (int(k),)
    out = (index[..., None] == xp.arange(int(k)).reshape(shape)).astype(dtype)
    return out if axis in (-1, index.ndim) else xp.moveaxis(out, -1, axis)


def gumbel_max(logits, g, axis=-1):
    """index = argmax(θ + g) along ``axis``: an exact sample of Cat(softmax θ) (Gumbel 1954;
    Maddison et al. 2017). Ties go to the lowest index; masked (-inf) entries never win.
    NaN is not checked here (hot path): like ``argmax``, a NaN entry would win — validate first
    (``RelaxedOneHotCategorical`` does)."""
    _same_shape(logits, g, "logits", "g")
    _check_masked(logits, axis)
    return _gumbel_max(logits, g, axis)


def _gumbel_max(logits, g, axis=-1):
    """:func:`gumbel_max` without input checks."""
    return namespace(logits, g).argmax(_value(logits) + _value(g), axis=axis)


def gumbel_softmax(logits, g, tau=1.0, hard=False, axis=-1, return_soft=False):
    """Relaxed sample y = softmax((θ + g)/τ) (Jang et al. 2017; Maddison et al. 2017).

    ``hard=True`` returns the exact one-hot vector of argmax(θ + g) — a true sample of
    Cat(softmax θ) — whose *gradient* is defined to be the soft one (straight-through):
    :func:`gumbel_softmax_vjp` is the same rule for both. ``return_soft=True`` also returns
    the soft sample, which that VJP needs: ``(y, y_soft)``.

    Guarantees: soft y as :func:`softmax`; hard y exactly one-hot at :func:`gumbel_max`'s index
    (lowest index on ties, never masked, even when y_soft rounds two entries equal). τ → 0 limit:
    max|y_soft − y_hard| ≤ (K − 1)·exp(−δ/τ), δ = the gap between the two largest θ + g. K = 1 gives 1.
    """
    _same_shape(logits, g, "logits", "g")
    _check_masked(logits, axis)
    y_soft = _softmax(logits + g, check_tau(tau, _value(logits).dtype), axis)
    if not hard:
        return (y_soft, y_soft) if return_soft else y_soft
    xp = namespace(logits, g)
    idx = xp.argmax(_value(logits) + _value(g), axis=axis)
    y_hard = one_hot(idx, logits.shape[axis], dtype=_value(y_soft).dtype, axis=axis)
    y = _straight_through(y_soft, y_hard)
    return (y, y_soft) if return_soft else y


def _straight_through(y_soft, y_hard):
    """Forward value ``y_hard`` exactly; gradient passed to ``y_soft`` unchanged."""
    if _value(y_soft) is y_soft:
        return y_hard
    return _st_primitive()(y_soft, y_hard)


_ST = None


def _st_primitive():
    global _ST
    if _ST is None:
        from autograd.extend import defvjp, primitive

        @primitive
        def straight_through(y_soft, y_hard):
            return y_hard

        defvjp(straight_through, lambda ans, y_soft, y_hard: lambda dy: dy, None)
        _ST = straight_through
    return _ST


# y = softmax(s/τ), s = θ + g, and ∂s/∂θ = I: the softmax VJP is the whole rule,
#   dθ_j = y_j (dy_j − ⟨dy, y⟩) / τ      (and dg = dθ).
# For hard=True the forward value is one-hot(argmax y) but the backward is defined as this same
# rule evaluated at the soft y: that *is* the straight-through Gumbel-Softmax estimator.
def gumbel_softmax_vjp(dy, y_soft, tau=1.0, axis=-1):
    """∂L/∂θ for y = gumbel_softmax(θ, g, τ, hard) (either value of ``hard``), given the soft y.

    Guarantee: as :func:`softmax_vjp` — finite, |dθ| ≤ 2·max|dy|/τ, exactly 0 on masked entries.
    """
    return softmax_vjp(dy, y_soft, tau, axis)


# ----------------------------------------------------------------------------- Concrete density

def _lgamma_int(xp, k, kmax):
    """lgamma(k) = log((k − 1)!) for an integer array 1 ≤ k ≤ kmax, without scipy. ``kmax`` is the
    row length (a shape, known on the host): no device→host read of max(k)."""
    table = xp.concatenate([xp.zeros(1), xp.cumsum(xp.log(xp.arange(1, max(kmax, 1), dtype=np.float64)))])
    return table[k - 1]


def _concrete_terms(y, logits, tau, axis):
    """Shared forward pieces of the Concrete log-density (see concrete_log_prob)."""
    xp = namespace(y, logits, tau)
    _same_shape(y, logits, "y", "logits")
    tau = check_tau(tau, logits.dtype)
    logp = _log_softmax(logits, 1.0, axis)                      # log π
    mask = _value(logits) == -xp.inf                            # masked categories
    tiny = np.finfo(_value(y).dtype).tiny
    # log y on the support; y underflowed to 0 is read as the smallest normal number, masked
    # entries get log y = 0 so that 0 · (−inf) never appears (their terms are removed below).
    logy = xp.log(xp.where(mask, 1.0, xp.maximum(y, tiny)))
    a = xp.where(mask, -xp.inf, logp - tau * logy)              # a_i = log π_i − τ log y_i
    k = xp.sum(~mask, axis=axis, keepdims=True)                 # K on the support, per row
    return xp, tau, logp, mask, logy, a, k


def concrete_log_prob(y, logits, tau=1.0, axis=-1):
    """log density of y under Concrete(π = softmax θ, τ) (Maddison et al. 2017, eq. 1).

        log p(y) = lgamma(K) + (K−1) log τ + Σ_i [log π_i − (τ+1) log y_i] − K logsumexp_i(a_i),
        a_i = log π_i − τ log y_i.

    Computed in log space throughout. Masked categories (θ_i = −inf) are left out and K counts
    the rest. The result is reduced over ``axis``; it is −inf when y puts mass on a masked
    category (off the support).

    Guarantees: finite for every y on the support (y ≥ 0, 0 on masked entries; an entry that
    underflowed to 0 is read as the smallest normal number), exactly −inf off it, exactly 0 when a
    single category is unmasked (the point mass y = e_i).
    """
    _check_masked(logits, axis)
    xp, tau, logp, mask, logy, a, k = _concrete_terms(y, logits, tau, axis)
    am = xp.max(_value(a), axis=axis, keepdims=True)
    lse = am + xp.log(xp.sum(xp.exp(a - am), axis=axis, keepdims=True))
    body = xp.where(mask, 0.0, logp - (tau + 1.0) * logy)
    kf = k.astype(_value(y).dtype)
    # a float τ stays a Python float (math.log): a NumPy float64 scalar would upcast float32 rows
    log_tau = math.log(tau) if isinstance(tau, float) else xp.log(tau)
    out = (_lgamma_int(xp, k, _value(y).shape[axis]).astype(kf.dtype) + (kf - 1.0) * log_tau
           + xp.sum(body, axis=axis, keepdims=True) - kf * lse)
    off = xp.any(mask & (_value(y) > 0), axis=axis, keepdims=True)
    out = xp.where(off, -xp.inf, out)
    return xp.squeeze(out, axis=axis)


# With s = softmax(a) over the support and a_i = log π_i − τ log y_i:
#   ∂/∂log π_i = 1 − K s_i,  and through π = softmax θ:  dθ = v − π Σ_i v_i with v = 1 − K s;
#   Σ_i v_i = K − K = 0, so dθ_i = c (1 − K s_i)  (c = upstream gradient of the row).
#   ∂/∂y_i = −(τ+1)/y_i + K s_i τ / y_i = (K τ s_i − τ − 1) / y_i.
# Masked categories get 0 in both.
def concrete_log_prob_vjp(dlp, y, logits, tau=1.0, axis=-1):
    """(∂L/∂y, ∂L/∂θ) for lp = concrete_log_prob(y, θ, τ), given dlp = ∂L/∂lp (reduced shape).

    Guarantees: ∂L/∂θ finite, |∂L/∂θ| ≤ K·|dlp|, both exactly 0 on masked entries. ∂L/∂y is the
    exact (Kτs_i − τ − 1)/y_i: finite while (Kτ + τ + 1)·|dlp|/y_i is representable; it grows
    without bound as y_i → 0 (a property of the density) and may overflow for underflowed y_i.
    """
    xp, tau, logp, mask, logy, a, k = _concrete_terms(y, logits, tau, axis)
    s = _softmax(a, 1.0, axis)                                  # masked a_i = −inf -> s_i = 0
    c = xp.expand_dims(xp.asarray(dlp), axis)    # asarray: cupy.expand_dims refuses a scalar
    kf = k.astype(y.dtype)
    dlogits = xp.where(mask, 0.0, c * (1.0 - kf * s))
    dy = xp.where(mask, 0.0, c * (kf * tau * s - tau - 1.0) / xp.exp(logy))
    return dy, dlogits
