"""The losses of the categorical VAE, each forward followed by its hand-derived backward.

- :func:`bce_with_logits`: Bernoulli negative log-likelihood of binary pixels x given logits a,
  summed over the last axis (one number per image).
- :func:`grouped_softmax`: the encoder's flat output (..., L·K) read as L groups of K logits and
  normalised per group, q (..., L, K).
- :func:`categorical_kl_uniform`: KL(Cat(softmax θ) ‖ Uniform(K)) in closed form, wrt the logits.

Like :mod:`minigumbel.nn`, every forward takes its array module from :func:`namespace`, so the
same code runs on NumPy, CuPy and under autograd's tracer (``grad="autograd"``).
"""
from __future__ import annotations

import math

import numpy as np

from .backend import namespace
# internal callers: the unchecked variants (inputs were checked where they entered; no host sync)
from .functional import _log_softmax as log_softmax, _softmax as softmax, _softmax_vjp as softmax_vjp
from .gradcheck import three_way

__all__ = ["bce_with_logits", "bce_with_logits_backward", "grouped_softmax", "grouped_softmax_vjp",
           "categorical_kl_uniform", "categorical_kl_uniform_backward", "GRADCHECK_CASES"]


# ----------------------------------------------------------------------------- BCE with logits

def bce_with_logits(logits, x):
    """L = Σ_d [softplus(a_d) − x_d a_d] over the last axis, for logits a (..., D), targets x ∈ [0, 1].

    This is −log Bernoulli(x | sigmoid a) written without forming sigmoid(a), so it stays finite for
    any finite a: softplus(a) = max(a, 0) + log1p(exp(−|a|)). Returns (losses (...), cache).
    """
    xp = namespace(logits, x)
    per_pixel = xp.maximum(logits, 0.0) - x * logits + xp.log1p(xp.exp(-xp.abs(logits)))   # (..., D)
    return xp.sum(per_pixel, axis=-1), (logits, x)


# ℓ(a) = softplus(a) − x a with softplus'(a) = e^a / (1 + e^a) = σ(a), so
#   ∂ℓ/∂a = σ(a) − x,
# and the sum over pixels passes each image's upstream dL_b unchanged to its pixels:
#   da_bd = dL_b (σ(a_bd) − x_bd).   σ(a) = (1 + tanh(a/2))/2 never overflows.
def bce_with_logits_backward(dlosses, cache):
    """dlogits (..., D) for :func:`bce_with_logits`, given dlosses (...)."""
    a, x = cache
    xp = namespace(a, x)
    return dlosses[..., None] * (0.5 + 0.5 * xp.tanh(0.5 * a) - x)


# ----------------------------------------------------------------------------- grouped softmax

def grouped_softmax(h, k):
    """q (..., L, K): the flat scores h (..., L·K) split into L groups of K, softmax per group."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 or h.shape[-1] % k:
        raise ValueError(f"grouped_softmax: the last axis of h ({h.shape[-1]}) must split into groups of k, "
                         f"got k={k!r}")
    return softmax(h.reshape(h.shape[:-1] + (h.shape[-1] // k, k)))


# The groups do not interact, and inside group l: q_lk = e^{h_lk} / Σ_j e^{h_lj} has
#   ∂q_lk/∂h_lj = q_lk (δ_kj − q_lj),
# so for an upstream dq:  dh_lj = Σ_k dq_lk q_lk (δ_kj − q_lj) = q_lj (dq_lj − ⟨dq_l, q_l⟩),
# one softmax VJP per group; the reshape (..., L, K) -> (..., L·K) is its own VJP's inverse.
def grouped_softmax_vjp(dq, q):
    """dh (..., L·K) for :func:`grouped_softmax`, given dq and q (..., L, K)."""
    if dq.shape != q.shape:
        raise ValueError(f"grouped_softmax_vjp: dq has shape {tuple(dq.shape)} but q has {tuple(q.shape)}")
    dh = softmax_vjp(dq, q)                                                   # (..., L, K)
    return dh.reshape(q.shape[:-2] + (q.shape[-2] * q.shape[-1],))


# ----------------------------------------------------------------------------- KL to uniform

def categorical_kl_uniform(logits):
    """KL(q ‖ Uniform(K)) = Σ_k q_k log q_k + log K per row, q = softmax(logits) on the last axis.

    Returns (kl (...), cache). log q comes from log_softmax (no log 0 for tiny q); kl ≥ 0 always
    (up to round-off), 0 exactly when q is uniform and log K when q is one-hot.
    """
    xp = namespace(logits)
    logq = log_softmax(logits)                                                # (..., K)
    q = xp.exp(logq)
    neg_entropy = xp.sum(q * logq, axis=-1)                                   # (...)
    return neg_entropy + math.log(logits.shape[-1]), (q, logq, neg_entropy)


# KL(θ) = Σ_k q_k log q_k + log K with ∂q_k/∂θ_j = q_k (δ_kj − q_j):
#   ∂KL/∂θ_j = Σ_k q_k (δ_kj − q_j)(log q_k + 1) = q_j (log q_j + 1) − q_j Σ_k q_k (log q_k + 1)
#            = q_j (log q_j − Σ_k q_k log q_k)        (the +1 terms cancel since Σ_k q_k = 1),
# times the row's upstream dKL.
def categorical_kl_uniform_backward(dkl, cache):
    """dlogits (..., K) for :func:`categorical_kl_uniform`, given dkl (...)."""
    q, logq, neg_entropy = cache
    return dkl[..., None] * q * (logq - neg_entropy[..., None])


# ----------------------------------------------------------------------------- gradient checks

def _check_bce():
    rng = np.random.default_rng(3)
    a = 3.0 * rng.normal(size=(4, 6))                       # (B, D) logits, some large
    x = (rng.random(size=(4, 6)) < 0.5).astype(np.float64)  # binary pixels
    _, cache = bce_with_logits(a, x)
    return three_way("losses.bce_with_logits", lambda v: bce_with_logits(v, x)[0],
                     lambda d: bce_with_logits_backward(d, cache), a)


def _check_grouped_softmax():
    h = np.random.default_rng(4).normal(size=(3, 4 * 5))    # (B, L·K), L = 4 groups of K = 5
    q = grouped_softmax(h, 5)
    return three_way("losses.grouped_softmax", lambda v: grouped_softmax(v, 5),
                     lambda d: grouped_softmax_vjp(d, q), h)


def _check_kl():
    theta = 2.0 * np.random.default_rng(5).normal(size=(3, 4, 5))   # (B, L, K)
    _, cache = categorical_kl_uniform(theta)
    return three_way("losses.categorical_kl_uniform", lambda t: categorical_kl_uniform(t)[0],
                     lambda d: categorical_kl_uniform_backward(d, cache), theta)


# Zero-argument callables returning a GradCheck (float64, fixed seed); ``minigumbel gradcheck`` runs them.
GRADCHECK_CASES = [_check_bce, _check_grouped_softmax, _check_kl]
