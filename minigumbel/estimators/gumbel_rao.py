"""Gumbel-Rao (Paulus, Maddison & Krause 2021): the straight-through Gumbel rule averaged over
Gumbel noise drawn *conditionally* on the sample d, in its two readings:

- ``gumbel-rao``: the gradient stops at the conditional draws (held constant), as in the public
  implementations; its expectation is ST-Gumbel's for every k, and k = 1 has ST-Gumbel's distribution;
- ``gumbel-rao-total``: the total derivative, also through the draws s(θ, h), which are functions of θ:
  the paper's text taken literally (its estimator is written as the total derivative through θ).

Shapes: logits θ, d, dd (..., K); conditional draws (k, ..., K).
"""
from __future__ import annotations

import numpy as np

from ..backend import namespace
from .._inputs import as_arrays
# the unchecked variants: these rules run inside training steps (no device→host validation there;
# the rules convert array_like input and check shapes, estimate() also checks the logits' values)
from ..functional import _same_shape, _value, check_tau, sample_gumbel
from ..functional import (_softmax as softmax, _softmax_vjp as softmax_vjp)
from .base import Draw, Estimator, _hard_sample, check_k

__all__ = ["conditional_logits", "conditional_gumbel", "gumbel_rao_backward", "gumbel_rao_total_backward"]


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
    every k, bias included, and k = 1 has ST-GS's distribution: the reading of the public
    implementations. ``gumbel-rao-total`` is the paper's text taken literally (the total derivative,
    through the draws too): lower variance, another (much larger) bias."""
    logits, d, dd = as_arrays(("logits", logits), ("d", d), ("dd", dd))
    _same_shape(dd, logits, "dd", "logits")
    if rng is None:
        raise ValueError("rng is required: gumbel_rao_backward draws conditional Gumbel noise")
    tau = check_tau(tau, logits.dtype)
    return _gumbel_rao_vjp(logits, conditional_gumbel(logits, d, rng, k), dd, tau)



# ----------------------------------------------------------------------------- Gumbel-Rao, total derivative

# The conditional draws s(θ, h) (estimators.conditional_logits, Paulus et al. 2021), given argmax = i:
#   s_i = log Z + h_i,   s_j = −log(a_j + b) (j ≠ i),   a_j = e^{−h_j − θ_j},  b = e^{−h_i − log Z}.
# As functions of θ (h fixed), with ∂ log Z/∂θ_k = π_k and w_j = a_j/(a_j + b) = σ(h_i + log Z − h_j − θ_j):
#   ∂s_i/∂θ_k = π_k,   ∂s_j/∂θ_k = w_j δ_jk + (1 − w_j) π_k.
# Total derivative of the Gumbel-Rao average (1/k) Σ_m softmax(s_m/τ): with u_m = softmax_vjp(dd, y_m, τ)
# the upstream on s_m, the chain rule through the Jacobian above gives, per draw m,
#   dθ = u ⊙ w + π ⟨u, 1 − w⟩     (w_i := 0 for the sampled i, so its whole u_i goes through log Z),
# averaged over m. The stop-gradient reading (gumbel_rao_backward) keeps only the I in ∂s/∂θ: dθ = u.
def gumbel_rao_total_backward(logits, d, dd, h, tau=1.0):
    """Gumbel-Rao with the gradient also flowing through the conditional draws s(θ, h) (h: (k, ..., K))."""
    logits, d, dd, h = as_arrays(("logits", logits), ("d", d), ("dd", dd), ("h", h))
    if tuple(h.shape[1:]) != tuple(logits.shape):
        raise ValueError(f"h has shape {tuple(h.shape)} but logits have shape {tuple(logits.shape)}; "
                         f"h must be (k,) + the logits' shape")
    _same_shape(d, logits, "d", "logits")
    _same_shape(dd, logits, "dd", "logits")
    tau = check_tau(tau, logits.dtype)
    xp = namespace(logits, h)
    s = conditional_logits(logits, d, h)                                     # (k, ..., K)
    y = softmax(s, tau)
    u = softmax_vjp(xp.broadcast_to(dd, y.shape), y, tau)                    # (k, ..., K) upstream on s
    log_z = _logsumexp(xp, logits)
    h_i = xp.sum(d * h, axis=-1, keepdims=True)
    theta = xp.where(logits == -np.inf, 0.0, logits)
    w = (1.0 - d) * xp.exp(-xp.logaddexp(0.0, h + theta - h_i - log_z))     # σ(−x), x = h_j+θ_j−h_i−log Z
    grads = u * w + softmax(logits) * xp.sum(u * (1.0 - w), axis=-1, keepdims=True)
    return xp.mean(grads, axis=0)



# ----------------------------------------------------------------------------- the estimator objects

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



class _GumbelRaoTotal(Estimator):
    name, options, cite = "gumbel-rao-total", ("k",), "Paulus et al. 2021, total derivative (the paper's text)"

    def _sample(self, theta, rng, tau, k=10):
        d, _ = _hard_sample(theta, rng)
        h = sample_gumbel(rng, (check_k(k),) + tuple(theta.shape), theta.dtype)   # (k, ..., K)
        return Draw(z=d, d=d, logits=theta, tau=tau, g=h)

    def backward(self, draw, dd):
        return gumbel_rao_total_backward(draw.logits, draw.d, dd, draw.g, draw.tau)

    def relaxed(self, logits, draw):
        return namespace(logits).mean(softmax(conditional_logits(logits, draw.d, draw.g), draw.tau), axis=0)
