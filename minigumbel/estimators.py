"""Gradient estimators of ∇θ E_{d~Cat(softmax θ)}[f(d)], each a backward rule *given the sample*.

Because every rule is a deterministic function of an explicit draw, its expectation can be
computed exactly by enumerating the K one-hot vectors (weights π) — that is how the tests check
unbiasedness (REINFORCE), exactness for linear f (ST) and quadratic f (ReinMax at τ = 1).
Every estimator here except ``exact`` and ``reinforce`` is biased. Straight-through Gumbel-Softmax
(st-gumbel, and so gumbel-rao and decoupled, which share its expectation) stays biased as τ → 0:
its expectation tends to a trapezoid rule across each decision boundary, exact for f of degree ≤ 2
and not otherwise (``minigumbel estimators --problem cubic --tau 0.2,0.05,0.02``).
Shapes: ``logits`` (..., K); ``d``, ``dd``, ``g`` (..., K); ``f_d`` (...). ``dd`` is ∂f/∂z at the
point z handed to f. Papers: Williams (1992); Bengio, Léonard & Courville (2013); Jang, Gu & Poole
(2017); Maddison, Mnih & Teh (2017); Paulus, Maddison & Krause (2021); Liu et al. (2023); and in
estimators_recent.py Fan et al. (2022, GST) and Shah et al. (2024, decoupled ST-Gumbel).

How a training loop uses an estimator ``est = ESTIMATORS[name]`` (the interface):

    draw = est.sample(logits, rng, tau, **options)   # all randomness, once; logits may be a box
    z = draw.z                                       # forward value: the one-hot d for hard
                                                     # estimators, the relaxed y for softmax/gumbel
    # est.needs == "dd" (st, st-gumbel, gumbel-rao, reinmax, softmax, gumbel):
    dlogits = est.backward(draw, dz)                 # hand rule: dz = ∂L/∂z  -> ∂L/∂logits
    z_ag = est.surrogate(logits, draw)               # autograd route: value == draw.z exactly,
                                                     # autograd VJP == est.backward
    # est.needs == "f" (reinforce): the rule needs the loss value at d, not its gradient:
    dlogits = est.backward(draw, f_d, baseline=b)    # (f(d) − b)(d − π); f_d (...), b scalar or (...)
    term = est.surrogate(logits, draw, f_d, baseline=b)  # (...) value exactly 0, autograd grad
                                                     # == est.backward: add it to the loss
    # est.needs == "all" (exact): draw.z holds all K one-hots, (K, ..., K); evaluate f on each:
    dlogits = est.backward(draw, f_values)           # f_values (..., K) -> J(π) F
    term = est.surrogate(logits, draw, f_values)     # (...) value 0, gradient J(π) F

``draw`` is a :class:`Draw`; the surrogate must be given logits with the value ``sample`` saw.
``estimate(name, logits, f, rng, tau, n_samples, **options)`` wraps all this for a function
``f(z) -> (value (n, ...), dvalue_dz (n, ..., K))`` evaluated on a leading sample axis n.
Options: ``k`` (gumbel-rao, gumbel-rao-total; default 10); ``tau_forward`` (decoupled);
``baseline`` (reinforce): a number, ``"none"``,
``"loo"`` (leave-one-out over the n_samples) or a :class:`RunningMean`.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backend import namespace
from ._inputs import as_arrays, enter
# the unchecked variants: these rules run inside training steps (no device→host validation there;
# the rules convert array_like input and check shapes, estimate() also checks the logits' values)
from .functional import _same_shape, _straight_through, _value, check_tau, sample_gumbel
from .functional import (_gumbel_max as gumbel_max, _log_softmax as log_softmax, _one_hot as one_hot,
                         _softmax as softmax, _softmax_vjp as softmax_vjp)

__all__ = [
    "exact_grad", "reinforce_backward", "st_backward", "st_gumbel_backward", "conditional_gumbel",
    "gumbel_rao_backward", "reinmax_backward", "loo_baseline", "RunningMean", "Draw", "Estimator",
    "ESTIMATORS", "get_estimator", "estimate", "estimate_samples", "check_k", "check_reinmax_tau",
    "GRADCHECK_CASES",
]


# ----------------------------------------------------------------------------- validation

def check_k(k) -> int:
    """The number of conditional Gumbel vectors of Gumbel-Rao: an integer ≥ 1."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k (Gumbel-Rao samples) must be an integer >= 1, got {k!r}")
    return int(k)


def check_reinmax_tau(tau, dtype=None):
    """ReinMax's τ: any finite τ > 0 (the rule is defined for all of them). Liu et al. (2023)
    recommend τ ≥ 1: the Heun step that makes ReinMax second-order is derived with π½ the midpoint
    of π and d, i.e. softmax(θ/τ) = π at τ = 1 (exact for quadratic f there); for τ < 1 π½ leans
    towards argmax θ. ``minigumbel estimators --tau 0.5`` shows what that costs."""
    return check_tau(tau, dtype)


def _check_batch(f_d, logits, name="f_d"):
    if tuple(f_d.shape) != tuple(logits.shape[:-1]):
        raise ValueError(f"{name} has shape {tuple(f_d.shape)} but logits have shape {tuple(logits.shape)}; "
                         f"{name} must have the batch shape {tuple(logits.shape[:-1])}")


# ----------------------------------------------------------------------------- the rules

# g(θ) = Σ_k π_k F_k, π = softmax θ  ⇒  ∂g/∂θ_j = Σ_k π_k (δ_kj − π_j) F_k = π_j (F_j − ⟨π, F⟩),
# i.e. J(π) F with J(π) = diag(π) − π πᵀ: exactly the softmax VJP at τ = 1 with upstream F.
def exact_grad(logits, f_values):
    """The exact gradient J(π)F of E_{d~Cat(π)}[f(d)], F_k = f(e_k) given as ``f_values`` (..., K)."""
    logits, f_values = as_arrays(("logits", logits), ("f_values", f_values))
    _same_shape(f_values, logits, "f_values", "logits")
    return softmax_vjp(f_values, softmax(logits), 1.0)


# Williams (1992): ∇θ E[f(d)] = E[f(d) ∇θ log π_d] and ∇θ log π_d = ∇θ (θ_d − logsumexp θ) = d − π.
# E[b (d − π)] = b (π − π) = 0 for any b independent of d, so (f(d) − b)(d − π) stays unbiased.
# A leave-one-out baseline (mean of the other samples' f) is independent of the sample it serves.
def reinforce_backward(logits, d, f_d, baseline=0.0):
    """REINFORCE / score function: (f(d) − b)(d − π) with f_d = f(d) of shape (...)."""
    logits, d, f_d = as_arrays(("logits", logits), ("d", d), ("f_d", f_d))   # f_d may be a float
    _same_shape(d, logits, "d", "logits")
    _check_batch(f_d, logits)
    return (f_d - baseline)[..., None] * (d - softmax(logits))


def loo_baseline(f_d, axis=0):
    """Leave-one-out baseline b_i = mean_{j≠i} f_j over the sample ``axis`` (needs ≥ 2 samples)."""
    n = f_d.shape[axis]
    if n < 2:
        raise ValueError(f"baseline='loo' needs n_samples >= 2, got {n}")
    xp = namespace(f_d)
    return (xp.sum(f_d, axis=axis, keepdims=True) - f_d) / (n - 1)


class RunningMean:
    """An exponential running mean of f used as a REINFORCE baseline: read ``value`` (from past
    draws only, so independent of the current d), then ``update`` with the new f values."""

    def __init__(self, decay: float = 0.9):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay!r}")
        self.decay, self.value, self.count = decay, 0.0, 0

    def update(self, f_d):
        m = namespace(f_d).mean(_value(f_d))      # stays on the device: no host copy per step
        self.value = m if self.count == 0 else self.decay * self.value + (1 - self.decay) * m
        self.count += 1
        return self.value


# Bengio et al. (2013) straight-through: forward the exact sample d, backward as if the output
# were y = softmax(θ/τ):  dθ = J(y) dd / τ = y ⊙ (dd − ⟨dd, y⟩) / τ  (the softmax VJP).
# For linear f, dd = a is constant and E[J(π) a] = J(π) a = J(π) F (F_k = a_k): exact at τ = 1.
def st_backward(logits, dd, tau=1.0):
    """Straight-through: the softmax(θ/τ) VJP applied to dd = ∂f/∂d at the sample.

    Exact in expectation for linear f at τ = 1 only; biased otherwise."""
    logits, dd = as_arrays(("logits", logits), ("dd", dd))
    _same_shape(dd, logits, "dd", "logits")
    tau = check_tau(tau, logits.dtype)
    return softmax_vjp(dd, softmax(logits, tau), tau)


# Jang et al. (2017) ST Gumbel-Softmax: d = one-hot(argmax(θ + g)), backward through the relaxed
# y = softmax((θ + g)/τ) with g held fixed; ∂(θ + g)/∂θ = I so dθ = y ⊙ (dd − ⟨dd, y⟩) / τ.
def st_gumbel_backward(logits, g, dd, tau=1.0):
    """Straight-through Gumbel-Softmax: the softmax((θ+g)/τ) VJP applied to dd.

    Biased, also as τ → 0: the limit of its expectation is exact for f of degree ≤ 2 in d only
    (on the lab's cubic problem its bias stays near half the gradient's norm at τ = 0.05)."""
    logits, g, dd = as_arrays(("logits", logits), ("g", g), ("dd", dd))
    _same_shape(g, logits, "g", "logits")
    _same_shape(dd, logits, "dd", "logits")
    tau = check_tau(tau, logits.dtype)
    return softmax_vjp(dd, softmax(logits + g, tau), tau)


# Paulus et al. (2021), Gumbel-Rao: with E_j ~ Exp(1), Z = Σ_j e^{θ_j}, the perturbed logits given
# argmax = i are s_i = log Z − log E_i and s_j = −log(E_j e^{−θ_j} + E_i / Z) (j ≠ i). In log space
# with log E = −h, h ~ Gumbel(0, 1): s_j = −logaddexp(−h_j − θ_j, −h_i − log Z). Noise g = s − θ.
def conditional_logits(logits, d, h):
    """Perturbed logits s(θ, h) (k, ..., K) with argmax s = d, from Gumbel draws h (k, ..., K);
    written with ``namespace`` so that autograd differentiates it in θ (gumbel-rao-total)."""
    xp = namespace(logits, h)
    log_z = _logsumexp(xp, logits)                                           # (..., 1)
    h_i = xp.sum(d * h, axis=-1, keepdims=True)                              # (k, ..., 1)
    masked = _value(logits) == -np.inf
    theta = xp.where(masked, 0.0, logits)
    with np.errstate(over="ignore"):
        other = -xp.logaddexp(-h - theta, -h_i - log_z)
    return xp.where(masked, -np.inf, xp.where(d > 0, log_z + h_i, other))


def _logsumexp(xp, theta):
    m = _value(xp.max(theta, axis=-1, keepdims=True))                       # a constant shift
    return m + xp.log(xp.sum(xp.exp(theta - m), axis=-1, keepdims=True))


def conditional_gumbel(logits, d, rng, k=10):
    """k Gumbel vectors g (k, ..., K) drawn given argmax(θ + g) = d; a constant (no gradient)."""
    logits, d = as_arrays(("logits", logits), ("d", d))
    _same_shape(d, logits, "d", "logits")
    k = check_k(k)
    xp = namespace(logits, d)
    theta, d = _value(logits), _value(d)
    h = sample_gumbel(rng, (k,) + tuple(theta.shape), theta.dtype)           # (k, ..., K)
    masked = theta == -xp.inf
    return xp.where(masked, 0.0, conditional_logits(theta, d, h) - xp.where(masked, 0.0, theta))


# The Gumbel-Rao estimator is E[ST-GS backward | d], estimated by averaging the ST-GS rule
#   dθ = (1/k) Σ_m y_m ⊙ (dd − ⟨dd, y_m⟩) / τ,   y_m = softmax((θ + g_m)/τ),
# over k conditional noise vectors g_m (held constant: no gradient flows through the noise).
def _gumbel_rao_vjp(logits, g_cond, dd, tau):
    y = softmax(logits + g_cond, tau)                                         # (k, ..., K)
    xp = namespace(y)
    return xp.mean(softmax_vjp(xp.broadcast_to(dd, y.shape), y, tau), axis=0)


def gumbel_rao_backward(logits, d, dd, tau=1.0, k=10, rng=None):
    """Gumbel-Rao (Paulus et al. 2021): ST-GS backward averaged over k conditional Gumbels.

    The conditional noise is a constant (no gradient through it): so E[estimate] = E[ST-GS] for
    every k, bias included, and k = 1 has ST-GS's distribution. ``gumbel-rao-total`` is the other
    reading (gradient through the draws): lower variance, another (much larger) bias."""
    logits, d, dd = as_arrays(("logits", logits), ("d", d), ("dd", dd))
    _same_shape(dd, logits, "dd", "logits")
    if rng is None:
        raise ValueError("rng is required: gumbel_rao_backward draws conditional Gumbel noise")
    tau = check_tau(tau, logits.dtype)
    return _gumbel_rao_vjp(logits, conditional_gumbel(logits, d, rng, k), dd, tau)


# Liu et al. (2023) ReinMax (Heun's method): π = softmax θ, π½ = (softmax(θ/τ) + d)/2 and
#   dθ = 2 J(π½) dd − ½ J(π) dd,   J(p) = diag(p) − p pᵀ.
# It is the VJP of 2·softmax(θ + c) − ½·softmax(θ) with c = log π½ − θ held constant (so that
# softmax(θ + c) = π½). Its expectation equals J(π)F for quadratic f at τ = 1 (not at other τ, and
# not for cubic f). Defined for every τ > 0; the authors recommend τ ≥ 1 (see check_reinmax_tau).
def reinmax_backward(logits, d, dd, tau=1.0):
    """ReinMax: 2 J(π½) dd − ½ J(π) dd with π½ = (softmax(θ/τ) + d)/2; any τ > 0 (authors: τ ≥ 1).

    Biased in general: exact in expectation for quadratic f at τ = 1 only."""
    logits, d, dd = as_arrays(("logits", logits), ("d", d), ("dd", dd))
    _same_shape(d, logits, "d", "logits")
    _same_shape(dd, logits, "dd", "logits")
    tau = check_reinmax_tau(tau, logits.dtype)
    half = 0.5 * (softmax(logits, tau) + d)
    return 2.0 * softmax_vjp(dd, half, 1.0) - 0.5 * softmax_vjp(dd, softmax(logits), 1.0)


def _reinmax_shift(logits, d, tau):
    """c = log π½ − θ as a constant (0 on masked entries, −inf where π½ underflows to 0)."""
    xp = namespace(logits)
    theta = _value(logits)
    half = 0.5 * (softmax(theta, tau) + d)
    masked = theta == -xp.inf
    with np.errstate(divide="ignore"):
        return xp.where(masked, 0.0, xp.log(half) - xp.where(masked, 0.0, theta))


# ----------------------------------------------------------------------------- registry

@dataclass
class Draw:
    """Everything random about one estimate, drawn once; backward/surrogate are deterministic given it."""
    z: Any               # (..., K) value handed to f: one-hot d, or relaxed y; (K, ..., K) for exact
    d: Any               # (..., K) one-hot hard sample (None for the relaxed softmax and gumbel)
    logits: Any          # (..., K) plain logits the draw was made at
    tau: Any = 1.0
    g: Any = None        # (..., K) Gumbel noise; (k, ..., K) conditional noise for gumbel-rao
    c: Any = None        # (..., K) ReinMax constant shift log π½ − θ


def _hard_sample(logits, rng):
    """d = one-hot(argmax(θ + g)) ~ Cat(softmax θ) and the noise g that made it."""
    g = sample_gumbel(rng, tuple(logits.shape), logits.dtype)
    return one_hot(gumbel_max(logits, g), logits.shape[-1], logits.dtype), g


class Estimator:
    """One estimator: ``sample`` draws, ``backward`` is the hand rule, ``surrogate`` the autograd
    route (see the module docstring). ``needs``: "dd" (∂f/∂z), "f" (f(d)) or "all" (f at every e_k).
    ``relaxed(logits, draw)`` is the differentiable function whose VJP ``backward`` is."""
    name, needs, hard, options, cite = "", "dd", True, (), ""

    def sample(self, logits, rng, tau=1.0, **options) -> Draw:
        bad = sorted(set(options) - set(self.options))
        if bad:
            raise ValueError(f"option(s) {', '.join(bad)} do not apply to estimator {self.name!r}")
        (theta,) = as_arrays(("logits", _value(logits)))      # array_like; no value scan (hot path)
        tau = self._tau(tau, theta.dtype)
        return self._sample(theta, rng, tau, **options)

    def _tau(self, tau, dtype):
        return check_tau(tau, dtype)

    def _sample(self, theta, rng, tau):
        d, g = _hard_sample(theta, rng)
        return Draw(z=d, d=d, logits=theta, tau=tau, g=g)

    def surrogate(self, logits, draw, *args, **kw):
        soft = self.relaxed(logits, draw, *args, **kw)
        if self.needs != "dd":
            return soft - _value(soft)        # value exactly 0, gradient that of `relaxed`
        return _straight_through(soft, draw.z) if self.hard else soft

    def __repr__(self):
        return f"<estimator {self.name}: {self.cite}>"


class _Exact(Estimator):
    name, needs, hard, cite = "exact", "all", False, "enumeration, J(π)F"

    def _sample(self, theta, rng, tau):
        xp, k = namespace(theta), theta.shape[-1]
        eye = xp.eye(k, dtype=theta.dtype).reshape((k,) + (1,) * (theta.ndim - 1) + (k,))
        return Draw(z=xp.broadcast_to(eye, (k,) + tuple(theta.shape)), d=None, logits=theta, tau=tau)

    def backward(self, draw, f_values):
        return exact_grad(draw.logits, f_values)

    def relaxed(self, logits, draw, f_values):
        return namespace(logits).sum(softmax(logits) * f_values, axis=-1)


class _Reinforce(Estimator):
    name, needs, cite = "reinforce", "f", "Williams 1992"

    def backward(self, draw, f_d, baseline=0.0):
        return reinforce_backward(draw.logits, draw.d, f_d, baseline)

    def relaxed(self, logits, draw, f_d, baseline=0.0):
        xp = namespace(logits)
        logp_d = xp.sum(xp.where(draw.d > 0, log_softmax(logits), 0.0), axis=-1)   # log π_d, (...)
        return _value(f_d - baseline) * logp_d


class _ST(Estimator):
    name, cite = "st", "Bengio et al. 2013"

    def backward(self, draw, dd):
        return st_backward(draw.logits, dd, draw.tau)

    def relaxed(self, logits, draw):
        return softmax(logits, draw.tau)


class _STGumbel(Estimator):
    name, cite = "st-gumbel", "Jang et al. 2017"

    def backward(self, draw, dd):
        return st_gumbel_backward(draw.logits, draw.g, dd, draw.tau)

    def relaxed(self, logits, draw):
        return softmax(logits + draw.g, draw.tau)


class _GumbelRao(Estimator):
    name, options, cite = "gumbel-rao", ("k",), "Paulus et al. 2021"

    def _sample(self, theta, rng, tau, k=10):
        d, _ = _hard_sample(theta, rng)
        return Draw(z=d, d=d, logits=theta, tau=tau, g=conditional_gumbel(theta, d, rng, k))

    def backward(self, draw, dd):
        _same_shape(dd, draw.logits, "dd", "logits")
        return _gumbel_rao_vjp(draw.logits, draw.g, dd, draw.tau)

    def relaxed(self, logits, draw):
        return namespace(logits).mean(softmax(logits + draw.g, draw.tau), axis=0)


class _ReinMax(Estimator):
    name, cite = "reinmax", "Liu et al. 2023"

    def _tau(self, tau, dtype):
        return check_reinmax_tau(tau, dtype)

    def _sample(self, theta, rng, tau):
        d, _ = _hard_sample(theta, rng)
        return Draw(z=d, d=d, logits=theta, tau=tau, c=_reinmax_shift(theta, d, tau))

    def backward(self, draw, dd):
        return reinmax_backward(draw.logits, draw.d, dd, draw.tau)

    def relaxed(self, logits, draw):
        return 2.0 * softmax(logits + draw.c) - 0.5 * softmax(logits)


class _Softmax(Estimator):
    name, hard, cite = "softmax", False, "deterministic relaxation, no noise"

    def _sample(self, theta, rng, tau):
        return Draw(z=softmax(theta, tau), d=None, logits=theta, tau=tau)

    def backward(self, draw, dz):
        _same_shape(dz, draw.z, "dz", "z")
        return softmax_vjp(dz, draw.z, draw.tau)

    relaxed = _ST.relaxed


class _Gumbel(_STGumbel):
    name, hard, cite = "gumbel", False, "Jang et al. 2017; Maddison et al. 2017"

    def _sample(self, theta, rng, tau):
        # the soft sample needs only the noise; its argmax (the exact sample) is not formed here
        g = sample_gumbel(rng, tuple(theta.shape), theta.dtype)
        return Draw(z=softmax(theta + g, tau), d=None, logits=theta, tau=tau, g=g)

    def backward(self, draw, dz):
        # the ST-GS rule at the soft sample, which the draw already holds (no second softmax)
        _same_shape(dz, draw.z, "dz", "z")
        return softmax_vjp(dz, draw.z, draw.tau)


ESTIMATORS = {e.name: e for e in (_Exact(), _Reinforce(), _ST(), _STGumbel(), _GumbelRao(), _ReinMax(),
                                  _Softmax(), _Gumbel())}


def get_estimator(name) -> Estimator:
    if name not in ESTIMATORS:
        raise ValueError(f"unknown estimator {name!r}; choose one of {', '.join(ESTIMATORS)}")
    return ESTIMATORS[name]


def _call_f(f, z):
    value, dz = f(z)
    if tuple(value.shape) != tuple(z.shape[:-1]) or tuple(dz.shape) != tuple(z.shape):
        raise ValueError(f"f must return (value, dvalue_dz) of shapes {tuple(z.shape[:-1])} and "
                         f"{tuple(z.shape)}; got {tuple(value.shape)} and {tuple(dz.shape)}")
    return value, dz


def estimate_samples(name, logits, f, rng, tau=1.0, n=1, **options):
    """n independent estimates at once: (values (n, ...), grads (n, ..., K)). See :func:`estimate`."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n_samples must be an integer >= 1, got {n!r}")
    (logits,), _, _ = enter([("logits", logits, "logits")])    # the front door: values checked here
    est, xp = get_estimator(name), namespace(logits)
    baseline = options.pop("baseline", 0.0) if est.needs == "f" else 0.0
    if est.needs == "all":
        draw = est.sample(logits, rng, tau, **options)
        value, _ = _call_f(f, draw.z)                                   # (K, ...)
        f_values = xp.moveaxis(value, 0, -1)                            # (..., K)
        v = est.relaxed(logits, draw, f_values)                         # E_π[f] = Σ_k π_k F_k
        grad = est.backward(draw, f_values)
        return xp.broadcast_to(v, (n,) + v.shape), xp.broadcast_to(grad, (n,) + grad.shape)
    draw = est.sample(xp.broadcast_to(logits, (int(n),) + tuple(logits.shape)), rng, tau, **options)
    value, dz = _call_f(f, draw.z)                                      # (n, ...), (n, ..., K)
    if est.needs == "dd":
        return value, est.backward(draw, dz)
    if isinstance(baseline, RunningMean):
        b = baseline.value
        baseline.update(value)
    elif isinstance(baseline, str):
        if baseline not in ("none", "loo"):
            raise ValueError(f"baseline must be a number, 'none', 'loo' or a RunningMean, got {baseline!r}")
        b = loo_baseline(value) if baseline == "loo" else 0.0
    else:
        b = baseline
    return value, est.backward(draw, value, b)


def estimate(name, logits, f, rng, tau=1.0, n_samples=1, **options):
    """(value, grad): the mean of f and of the ``name`` gradient estimate over ``n_samples`` draws.

    ``f(z)`` takes points z (n, ..., K) and returns (value (n, ...), ∂value/∂z (n, ..., K)); for
    "exact", n = K and z holds the K one-hot vectors. ``grad`` has the logits' shape.
    """
    value, grads = estimate_samples(name, logits, f, rng, tau, n_samples, **options)
    xp = namespace(grads)
    return xp.mean(value, axis=0), xp.mean(grads, axis=0)


# ----------------------------------------------------------------------------- gradcheck table

def _gradcheck_case(name, tau=1.5, masked=False, **options):
    """A callable returning the three-way GradCheck of ``name``'s rule: hand ``backward`` vs the
    autograd and finite-difference VJPs of ``relaxed`` (the function the rule differentiates)."""
    def run():
        from .gradcheck import three_way
        rng = np.random.default_rng(7)
        est = ESTIMATORS[name]
        theta = rng.normal(size=(3, 5))                                  # (B, K)
        if masked:
            theta[:, 1] = -np.inf                                       # a masked category
        draw = est.sample(theta, rng, tau, **options)
        extra = {"dd": (), "f": (rng.normal(size=3), 0.25), "all": (rng.normal(size=(3, 5)),)}[est.needs]
        if est.needs == "dd":
            vjp = lambda dout: est.backward(draw, dout)                    # noqa: E731
        else:   # a scalar per row: dout (B,) scales the rule
            vjp = lambda dout: dout[..., None] * est.backward(draw, *extra)  # noqa: E731
        label = f"estimators.{name}" + (" (masked)" if masked else "")
        return three_way(label, lambda t: est.relaxed(t, draw, *extra), vjp, theta,
                         autograd_mask=np.isfinite(theta))
    run.__name__ = f"gradcheck_{name.replace('-', '_')}" + ("_masked" if masked else "")
    return run


GRADCHECK_CASES = [_gradcheck_case(n) for n in ("exact", "reinforce", "st", "st-gumbel", "reinmax")]
GRADCHECK_CASES += [_gradcheck_case("gumbel-rao", k=4), _gradcheck_case("gumbel-rao", masked=True, k=4),
                    _gradcheck_case("reinmax", masked=True), _gradcheck_case("reinforce", masked=True)]


# ----------------------------------------------------------------------------- 2021-2024 estimators

# estimators_recent subclasses Estimator (defined above) and registers its estimators and gradient
# checks at its end, so importing either module first works (no circular-import error)
from . import estimators_recent  # noqa: E402,F401
