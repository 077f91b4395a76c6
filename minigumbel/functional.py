"""The relaxed-categorical math, each forward followed by its hand-derived backward (VJP).

Notation (STYLE.md): ``logits`` θ, ``probs`` π = softmax θ, ``tau`` τ, ``g`` Gumbel noise,
``y`` relaxed sample, ``d`` one-hot sample, and ``dx`` always means ∂L/∂x.

Every function reduces over ``axis`` (default -1) and keeps the input dtype. ``-inf`` logits are
masks: probability exactly 0, never sampled, zero gradient. τ may be a number or an array
broadcastable against the logits (e.g. one temperature per row, shape (n, 1)); finite and > 0.

Inputs are array_like and broadcast by NumPy's rules (logits against noise, y against logits,
τ against both); a backward rule returns its gradient in the broadcast shape, and
:func:`sum_to_shape` (the VJP of broadcasting) reduces it to an input's own shape. Each public
function converts and checks its input where it enters (one device→host transfer on CuPy:
NaN, +inf logits, K = 0, an all -inf row, |θ| > 1e30 are ValueErrors naming the argument and
the row; float16 is refused, see minigumbel._inputs), then calls a private unchecked variant
(``_softmax``, ...) — the one internal callers use on the hot path.

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

from ._inputs import _value, add_checked, as_arrays, fused_checked, check_rng, check_shape, check_tau, enter, float_dtype
from .backend import namespace, to_numpy

__all__ = [
    "sample_gumbel", "softmax", "softmax_vjp", "log_softmax", "log_softmax_vjp",
    "gumbel_max", "gumbel_softmax", "gumbel_softmax_vjp", "concrete_log_prob",
    "concrete_log_prob_vjp", "one_hot", "sum_to_shape", "check_tau",
]


# ----------------------------------------------------------------------------- helpers

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
    sync on the hot path): an all -inf row is refused where input enters (_inputs.check_values)."""
    return xp.max(_value(z), axis=axis, keepdims=True)


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
    dtype = float_dtype(dtype)                    # float16: refused (README, "Numerical guarantees")
    shape = check_shape(shape)
    xp = _rng_module(rng)
    u = rng.random(shape, dtype=dtype)
    xp.clip(u, *_uniform_bounds(dtype), out=u)    # u in (0, 1): both logs stay finite
    xp.log(u, out=u)                              # log u in [log tiny, -epsneg], < 0
    xp.negative(u, out=u)                         # E = -log u ~ Exp(1), > 0
    xp.log(u, out=u)
    xp.negative(u, out=u)                         # g = -log E ~ Gumbel(0, 1)
    return u


def _rng_module(rng):
    """The array module of ``rng``'s device; a TypeError unless ``rng`` is a Generator instance
    (the class itself, a RandomState or a seed would otherwise reach C code that crashes)."""
    return check_rng(rng)


# ----------------------------------------------------------------------------- softmax

def softmax(logits, tau=1.0, axis=-1):
    """y = softmax(θ/τ) along ``axis``: y_i = exp(θ_i/τ) / Σ_j exp(θ_j/τ).

    Guarantee: 0 ≤ y ≤ 1, finite, exactly 0 where θ = −inf, |Σ_i y_i − 1| ≤ (K + 8)·ε.
    """
    (logits,), tau, axis = enter([("logits", logits, "logits")], tau, axis)
    return _softmax(logits, tau, axis)


def _softmax(logits, tau=1.0, axis=-1):
    xp = namespace(logits, tau)
    z = logits / tau
    e = xp.exp(z - _row_max(xp, z, axis))   # shift by the row max: no overflow; -inf -> 0
    return e / xp.sum(e, axis=axis, keepdims=True)


# y = softmax(z), z = θ/τ.  ∂y_i/∂z_j = y_i (δ_ij − y_j), so for upstream dy
#   dz_j = Σ_i dy_i y_i (δ_ij − y_j) = y_j (dy_j − ⟨dy, y⟩)
#   dθ   = dz / τ.
# Masked entries have y_j = 0 and so receive exactly 0. The K×K Jacobian is never formed.
def softmax_vjp(dy, y, tau=1.0, axis=-1):
    """∂L/∂θ for y = softmax(θ/τ), given dy = ∂L/∂y and the forward output y (broadcast shape).

    Guarantee: finite for finite dy, |dθ| ≤ 2·max|dy|/τ, exactly 0 where y = 0 (masked).
    """
    (dy, y), tau, axis = enter([("dy", dy, "finite"), ("y", y, "finite")], tau, axis, defer=("dy", "y"))
    prod = fused_checked(np.multiply, (dy, "dy", "finite"), (y, "y", "finite"), axis)   # dy ⊙ y, both scanned
    return _softmax_vjp(dy, y, tau, axis, prod)


def _softmax_vjp(dy, y, tau=1.0, axis=-1, prod=None):
    xp = namespace(dy, y, tau)
    prod = dy * y if prod is None else prod                  # prod: dy ⊙ y made by the caller
    return y * (dy - xp.sum(prod, axis=axis, keepdims=True)) / tau


def log_softmax(logits, tau=1.0, axis=-1):
    """log softmax(θ/τ) = z − logsumexp(z), z = θ/τ, computed in log space (no underflow).

    Guarantee: finite and ≤ 0 where θ is finite, exactly −inf where θ = −inf.
    """
    (logits,), tau, axis = enter([("logits", logits, "logits")], tau, axis)
    return _log_softmax(logits, tau, axis)


def _log_softmax(logits, tau=1.0, axis=-1):
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
    (dlogp, logp), tau, axis = enter([("dlogp", dlogp, "finite"), ("logp", logp, "logp")], tau, axis)
    return _log_softmax_vjp(dlogp, logp, tau, axis)


def _log_softmax_vjp(dlogp, logp, tau=1.0, axis=-1):
    xp = namespace(dlogp, logp, tau)
    y = xp.exp(logp)
    dz = dlogp - y * xp.sum(dlogp, axis=axis, keepdims=True)
    return xp.where(logp == -xp.inf, 0, dz / tau)


# ----------------------------------------------------------------------------- broadcasting

# b = broadcast_to(x, B) copies x_j to every b_i whose index maps to j (added leading axes
# dropped, axes where x has length 1 set to 0). L sees x only through b, so
#   ∂L/∂x_j = Σ_{i ↦ j} ∂L/∂b_i:  the sum of db over the added axes and (kept) over x's 1-axes.
def sum_to_shape(dx, shape):
    """The VJP of broadcasting: reduce a gradient ``dx`` taken in the broadcast shape to ``shape``,
    the shape of the input that was broadcast (e.g. θ of shape (K,) against noise (B, N, K)).

    ``shape`` must broadcast to ``dx.shape``; ValueError naming both shapes otherwise (TypeError
    for a shape that is not ints >= 0).
    """
    (dx,) = as_arrays(("dx", dx))
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    try:
        items = tuple(shape)
    except TypeError:
        items = None
    if items is None or isinstance(shape, str) or not all(
            isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 0 for n in items):
        raise TypeError(f"shape must be an int or a tuple of ints >= 0, got {shape!r}")
    shape = tuple(int(n) for n in items)
    raw = _value(dx)
    lead = raw.ndim - len(shape)
    if lead < 0 or any(n not in (1, m) for n, m in zip(shape, raw.shape[lead:])):
        raise ValueError(f"shape {shape} does not broadcast to dx's shape {tuple(raw.shape)}: "
                         "sum_to_shape reduces a gradient to the shape of an input that was broadcast")
    xp = namespace(dx)
    if lead:
        dx = xp.sum(dx, axis=tuple(range(lead)))
    ones = tuple(i for i, n in enumerate(shape) if n == 1 and raw.shape[lead + i] != 1)
    return xp.sum(dx, axis=ones, keepdims=True) if ones else dx


# ----------------------------------------------------------------------------- samplers

def one_hot(index, k: int, dtype=np.float64, axis: int = -1):
    """One-hot vectors: out[..., i, ...] = (index == i), the new axis of length k at ``axis``.

    ``index`` holds integers in [0, k); ``dtype`` any NumPy dtype but float16. Entries are exactly
    0 and 1 in ``dtype``; each vector sums to exactly 1.
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k (the number of categories) must be an integer >= 1, got {k!r}")
    (index,) = as_arrays(("index", index), integer=("index",))
    if np.dtype(dtype) == np.float16:
        float_dtype(dtype)                                     # the one float16 error
    nd = _value(index).ndim
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) or not -nd - 1 <= axis <= nd:
        raise ValueError(f"axis {axis!r} is out of range for one-hot vectors of {nd + 1} dimensions")
    raw = _value(index)
    xp = namespace(raw)
    if bool(to_numpy(xp.any((raw < 0) | (raw >= k)))):         # one device→host transfer
        raise ValueError(f"index must lie in [0, {k}), got min {int(raw.min())}, max {int(raw.max())}")
    return _one_hot(index, int(k), dtype, axis)


def _one_hot(index, k, dtype=np.float64, axis=-1):
    xp = namespace(index)
    index = _value(index)
    shape = (1,) * index.ndim + (k,)
    out = (index[..., None] == xp.arange(k).reshape(shape)).astype(dtype)
    return out if axis in (-1, index.ndim) else xp.moveaxis(out, -1, axis)


def gumbel_max(logits, g, axis=-1):
    """index = argmax(θ + g) along ``axis`` (θ and g broadcast): an exact sample of
    Cat(softmax θ) (Gumbel 1954; Maddison et al. 2017). Ties go to the lowest index; masked
    (-inf) entries never win. Integer indices of the broadcast shape without ``axis``."""
    (logits, g), _, axis = enter([("logits", logits, "logits"), ("g", g, "noise")], axis=axis)
    return _gumbel_max(logits, g, axis)


def _gumbel_max(logits, g, axis=-1):
    return namespace(logits, g).argmax(_value(logits) + _value(g), axis=axis)


def gumbel_softmax(logits, g, tau=1.0, hard=False, axis=-1, return_soft=False):
    """Relaxed sample y = softmax((θ + g)/τ) (Jang et al. 2017; Maddison et al. 2017); θ, g and τ
    broadcast (θ of shape (K,) against g of shape (N, K) gives N samples of one distribution).

    ``hard=True`` returns the exact one-hot vector of argmax(θ + g) — a true sample of
    Cat(softmax θ) — whose *gradient* is defined to be the soft one (straight-through):
    :func:`gumbel_softmax_vjp` is the same rule for both. ``return_soft=True`` also returns
    the soft sample, which that VJP needs: ``(y, y_soft)``.

    That straight-through gradient is a *biased* estimate of ∇ E[f(y_hard)], also as τ → 0: its
    expectation then tends to a trapezoid rule across each decision boundary, exact only for f of
    degree ≤ 2 in y (on the estimator lab's cubic problem its bias stays near half the gradient's
    norm: ``minigumbel estimators --problem cubic --tau 0.2,0.05,0.02``). The soft sample's own
    gradient (hard=False) is a pathwise gradient of E[f(y_soft)], which tends to E[f(y_hard)] as τ → 0.

    Guarantees: soft y as :func:`softmax`; hard y exactly one-hot at :func:`gumbel_max`'s index
    (lowest index on ties, never masked, even when y_soft rounds two entries equal). τ → 0 limit:
    max|y_soft − y_hard| ≤ (K − 1)·exp(−δ/τ), δ = the gap between the two largest θ + g. K = 1 gives 1.
    """
    (logits, g), tau, axis = enter([("logits", logits, "logits"), ("g", g, "noise")], tau, axis,
                                   defer=("logits", "g"))
    s = add_checked(logits, g, axis)             # θ + g, θ and g scanned on the way (or None)
    return _gumbel_softmax(logits, g, tau, hard, axis, return_soft, s)


def _gumbel_softmax(logits, g, tau=1.0, hard=False, axis=-1, return_soft=False, s=None):
    y_soft = _softmax(logits + g if s is None else s, tau, axis)         # s: θ + g made by the caller
    if not hard:
        return (y_soft, y_soft) if return_soft else y_soft
    idx = _gumbel_max(logits, g, axis)
    y_hard = _one_hot(idx, _value(y_soft).shape[axis], dtype=_value(y_soft).dtype, axis=axis)
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
#   dθ_j = y_j (dy_j − ⟨dy, y⟩) / τ      (and dg = dθ), in the broadcast shape of θ and g.
# For hard=True the forward value is one-hot(argmax y) but the backward is defined as this same
# rule evaluated at the soft y: that *is* the straight-through Gumbel-Softmax estimator.
def gumbel_softmax_vjp(dy, y_soft, tau=1.0, axis=-1):
    """∂L/∂θ for y = gumbel_softmax(θ, g, τ, hard) (either value of ``hard``), given the soft y,
    in the broadcast shape of θ and g: ``sum_to_shape(dθ, θ.shape)`` for a broadcast θ.

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
    logp = _log_softmax(logits, 1.0, axis)                      # log π
    mask = _value(logits) == -xp.inf                            # masked categories
    tiny = np.finfo(_value(y).dtype).tiny
    # log y on the support; y underflowed to 0 is read as the smallest normal number, masked
    # entries get log y = 0 so that 0 · (−inf) never appears (their terms are removed below).
    logy = xp.log(xp.where(mask, 1.0, xp.maximum(y, tiny)))    # (broadcast shape)
    a = xp.where(mask, -xp.inf, logp - tau * logy)              # a_i = log π_i − τ log y_i
    k = xp.sum(~mask, axis=axis, keepdims=True)                 # K on the support, per row
    return xp, logp, mask, logy, a, k


def concrete_log_prob(y, logits, tau=1.0, axis=-1):
    """log density of y under Concrete(π = softmax θ, τ) (Maddison et al. 2017, eq. 1).

        log p(y) = lgamma(K) + (K−1) log τ + Σ_i [log π_i − (τ+1) log y_i] − K logsumexp_i(a_i),
        a_i = log π_i − τ log y_i.

    y, θ and τ broadcast (y of shape (N, K) against θ of shape (K,)). Computed in log space.
    Masked categories (θ_i = −inf) are left out and K counts the rest. The result is reduced over
    ``axis``; it is −inf when y puts mass on a masked category or has a negative entry.

    Guarantees: finite for every y on the support (y ≥ 0, 0 on masked entries; an entry that
    underflowed to 0 is read as the smallest normal number), exactly −inf off it, exactly 0 when a
    single category is unmasked (the point mass y = e_i).
    """
    (y, logits), tau, axis = enter([("y", y, "finite"), ("logits", logits, "logits")], tau, axis)
    return _concrete_log_prob(y, logits, tau, axis)


def _concrete_log_prob(y, logits, tau=1.0, axis=-1):
    xp, logp, mask, logy, a, k = _concrete_terms(y, logits, tau, axis)
    am = xp.max(_value(a), axis=axis, keepdims=True)
    lse = am + xp.log(xp.sum(xp.exp(a - am), axis=axis, keepdims=True))
    body = xp.where(mask, 0.0, logp - (tau + 1.0) * logy)
    kf = k.astype(_value(logy).dtype)
    # a float τ stays a Python float (math.log): a NumPy float64 scalar would upcast float32 rows
    log_tau = math.log(tau) if isinstance(tau, float) else xp.log(tau)
    out = (_lgamma_int(xp, k, _value(logy).shape[axis]).astype(kf.dtype) + (kf - 1.0) * log_tau
           + xp.sum(body, axis=axis, keepdims=True) - kf * lse)
    yv = _value(y)
    off = xp.any((mask & (yv > 0)) | (yv < 0), axis=axis, keepdims=True)
    out = xp.where(off, -xp.inf, out)
    return xp.squeeze(out, axis=axis)


# With s = softmax(a) over the support and a_i = log π_i − τ log y_i:
#   ∂/∂log π_i = 1 − K s_i,  and through π = softmax θ:  dθ = v − π Σ_i v_i with v = 1 − K s;
#   Σ_i v_i = K − K = 0, so dθ_i = c (1 − K s_i)  (c = upstream gradient of the row).
#   ∂/∂y_i = −(τ+1)/y_i + K s_i τ / y_i = (K τ s_i − τ − 1) / y_i.
# Masked categories get 0 in both.
def concrete_log_prob_vjp(dlp, y, logits, tau=1.0, axis=-1):
    """(∂L/∂y, ∂L/∂θ) for lp = concrete_log_prob(y, θ, τ), given dlp = ∂L/∂lp (the reduced shape,
    or anything that broadcasts to it, e.g. a Python float); both in the broadcast shape of y, θ.

    ∂L/∂y is the ambient gradient of one extension of the density off the simplex (the formula,
    defined for any positive y, homogeneous of degree −K: Σ_i y_i ∂lp/∂y_i = −K), not a gradient
    along the simplex; another extension would give another ∂/∂y. Only its tangent part is
    intrinsic: project onto {v: Σ_i v_i = 0} as dy − mean(dy), the mean over unmasked entries
    (masked stay 0), e.g. before a gradient step on y that must stay on the simplex.

    Guarantees: ∂L/∂θ finite, |∂L/∂θ| ≤ K·|dlp|, both exactly 0 on masked entries. ∂L/∂y is the
    exact (Kτs_i − τ − 1)/y_i: finite while (Kτ + τ + 1)·|dlp|/y_i is representable; it grows
    without bound as y_i → 0 (a property of the density) and may overflow for underflowed y_i.
    """
    (y, logits, dlp), tau, axis = enter([("y", y, "finite"), ("logits", logits, "logits")], tau, axis,
                                        reduced=("dlp", dlp))
    return _concrete_log_prob_vjp(dlp, y, logits, tau, axis)


def _concrete_log_prob_vjp(dlp, y, logits, tau=1.0, axis=-1):
    xp, logp, mask, logy, a, k = _concrete_terms(y, logits, tau, axis)
    s = _softmax(a, 1.0, axis)                                  # masked a_i = −inf -> s_i = 0
    c = xp.expand_dims(xp.asarray(dlp), axis)    # asarray: cupy.expand_dims refuses a scalar
    kf = k.astype(_value(logy).dtype)
    dlogits = xp.where(mask, 0.0, c * (1.0 - kf * s))
    dy = xp.where(mask, 0.0, c * (kf * tau * s - tau - 1.0) / xp.exp(logy))
    return dy, dlogits
