"""Gradient estimators for a subset: ∇θ E_{S~PL_k(θ)}[f(k_hot(S))], each a backward rule given the sample.

S is k items drawn without replacement from softmax θ (Plackett-Luce, by Gumbel-top-k; see
minigumbel.subsets); z = k_hot(S) ∈ {0, 1}^n is what f sees for the hard estimators. The rules:

- ``reinforce-pl``: (f(z) − b) ∇θ log P(o), o the *ordered* sample (the score function of the order
  is a valid one for any f of the set: E_o[(f − b) ∇ log P(o)] = ∇ E[f]); b a leave-one-out baseline
  over the samples. Unbiased (Williams 1992; Kool et al. 2019 use the same PL score).
- ``relaxed-topk``: f at y = relaxed_topk(θ, g, k, τ), gradient through it (Xie & Ermon 2019):
  the pathwise gradient of E[f(y)], a biased estimate of ∇E[f(z)].
- ``st-topk``: f at the exact k-hot z of the keys' top k; the relaxed gradient (straight-through).
- ``l2x``: Chen et al. (2018, Sec. 3): k independent Concrete draws y_j = softmax((θ + g_j)/τ),
  combined by an elementwise max, z_i = max_j y_{j,i}: k draws *with* replacement.
- ``soft-topk``: relaxed_topk with no noise (g = 0): deterministic, the seed question again.

The interface mirrors minigumbel.estimators' categorical one: ``draw = est.sample(logits, rng, tau,
k)``; ``draw.z`` the point handed to f; ``est.backward(draw, dz)`` (needs "dd") or
``est.backward(draw, f_z, baseline)`` (needs "f"); ``est.relaxed(logits, draw, ...)`` the
autograd-traceable function whose VJP ``backward`` is (the gradient tests use it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._inputs import _value, as_arrays
from ..backend import namespace
from ..functional import _softmax as softmax
from ..functional import _softmax_vjp as softmax_vjp
from ..functional import check_tau, sample_gumbel
from ..subsets import (_check_k, _gumbel_topk, _k_hot, _plackett_luce_log_prob, _plackett_luce_log_prob_vjp,
                       _relaxed_topk, _relaxed_topk_vjp)
from .base import Estimator
from .score_function import loo_baseline

__all__ = ["SubsetDraw", "SUBSET_ESTIMATORS", "get_subset_estimator", "estimate_subset_samples"]


@dataclass
class SubsetDraw:
    """All randomness of one subset estimate; backward/relaxed are deterministic given it."""
    z: Any              # (..., n) the point handed to f: the k-hot (hard rules) or the relaxed vector
    logits: Any         # (..., n) the logits the draw was made at
    k: int
    tau: Any = 1.0
    order: Any = None   # (..., k) the ordered sample (Gumbel-top-k), hard rules
    g: Any = None       # (..., n) Gumbel noise; (k, ..., n) for l2x; zeros for soft-topk


class _SubsetEstimator(Estimator):
    """An estimator of ∇θ E_{S ~ PL_k(θ)}[f(k_hot(S))]: the categorical interface
    (:class:`~minigumbel.estimators.base.Estimator`: ``backward``, ``relaxed``, ``surrogate``), with
    the subset size ``k`` as a required argument of ``sample``."""
    name, needs, hard, cite = "", "dd", False, ""

    def sample(self, logits, rng, tau, k):
        (theta,) = as_arrays(("logits", _value(logits)))
        return self._sample(theta, rng, check_tau(tau, theta.dtype), _check_k(k))

    def _noise(self, theta, rng):
        return sample_gumbel(rng, tuple(theta.shape), theta.dtype)

    def __repr__(self):
        return f"<subset estimator {self.name}: {self.cite}>"


class _ReinforcePL(_SubsetEstimator):
    name, needs, hard, cite = "reinforce-pl", "f", True, "Williams 1992; Plackett-Luce score"

    def _sample(self, theta, rng, tau, k):
        g = self._noise(theta, rng)
        order = _gumbel_topk(theta, g, k)
        return SubsetDraw(z=_k_hot(order, theta.shape[-1], theta.dtype), logits=theta, k=k, tau=tau, order=order, g=g)

    # ∇θ (f − b) log P(o) with f, b held constant: (f − b) times the PL score (subsets.py's VJP)
    def backward(self, draw, f_z, baseline=0.0):
        return _plackett_luce_log_prob_vjp(f_z - baseline, draw.logits, draw.order)

    def relaxed(self, logits, draw, f_z, baseline=0.0):
        return _value(f_z - baseline) * _plackett_luce_log_prob(logits, draw.order)   # f, b: constants


class _RelaxedTopK(_SubsetEstimator):
    name, cite = "relaxed-topk", "Xie & Ermon 2019"

    def _sample(self, theta, rng, tau, k):
        g = self._noise(theta, rng)
        return SubsetDraw(z=_relaxed_topk(theta, g, k, tau), logits=theta, k=k, tau=tau, g=g)

    # y = relaxed_topk(θ + g): its hand VJP (subsets.relaxed_topk_vjp) is the whole rule
    def backward(self, draw, dz):
        return _relaxed_topk_vjp(dz, draw.logits, draw.g, draw.k, draw.tau)

    def relaxed(self, logits, draw):
        return _relaxed_topk(logits, draw.g, draw.k, draw.tau)


class _STTopK(_RelaxedTopK):
    name, hard, cite = "st-topk", True, "straight-through on Xie & Ermon 2019"

    def _sample(self, theta, rng, tau, k):
        g = self._noise(theta, rng)
        order = _gumbel_topk(theta, g, k)
        return SubsetDraw(z=_k_hot(order, theta.shape[-1], theta.dtype), logits=theta, k=k, tau=tau, order=order, g=g)


class _SoftTopK(_RelaxedTopK):
    name, cite = "soft-topk", "Xie & Ermon 2019 without noise"

    def _sample(self, theta, rng, tau, k):
        g = namespace(theta).zeros_like(theta)
        return SubsetDraw(z=_relaxed_topk(theta, g, k, tau), logits=theta, k=k, tau=tau, g=g)


class _L2X(_SubsetEstimator):
    name, cite = "l2x", "Chen, Song, Wainwright & Jordan 2018"

    def _sample(self, theta, rng, tau, k):
        xp = namespace(theta)
        g = sample_gumbel(rng, (k,) + tuple(theta.shape), theta.dtype)          # (k, ..., n)
        y = softmax(theta + g, tau)                                              # k Concrete draws
        return SubsetDraw(z=xp.max(y, axis=0), logits=theta, k=k, tau=tau, g=g)

    # z_i = max_j y_{j,i}: dz_i goes to the draw j that attains the max (the first on ties), and each
    # y_j = softmax((θ + g_j)/τ) passes it back by the softmax VJP:  dθ = Σ_j y_j ⊙ (dy_j − ⟨dy_j, y_j⟩)/τ.
    def backward(self, draw, dz):
        xp = namespace(draw.logits, dz)
        y = softmax(draw.logits + draw.g, draw.tau)                              # (k, ..., n)
        kk = y.shape[0]
        win = xp.argmax(y, axis=0)[None] == xp.arange(kk).reshape((kk,) + (1,) * (y.ndim - 1))
        return xp.sum(softmax_vjp(xp.where(win, dz[None], 0.0), y, draw.tau), axis=0)

    def relaxed(self, logits, draw):
        return namespace(logits).max(softmax(logits + draw.g, draw.tau), axis=0)


SUBSET_ESTIMATORS = {e.name: e for e in (_ReinforcePL(), _RelaxedTopK(), _STTopK(), _L2X(), _SoftTopK())}


def get_subset_estimator(name):
    if name not in SUBSET_ESTIMATORS:
        raise ValueError(f"unknown subset estimator {name!r}; choose one of {', '.join(SUBSET_ESTIMATORS)}")
    return SUBSET_ESTIMATORS[name]


def estimate_subset_samples(name, logits, f, rng, tau, k, n, baseline="loo"):
    """n independent estimates at once: (values (n, ...), grads (n, ..., n_items)).

    ``f(z) -> (value (n, ...), ∂value/∂z (n, ..., n_items))`` on a leading sample axis. ``baseline``
    (reinforce-pl): "loo" (leave-one-out over the n samples), "none", or a number.
    """
    est = get_subset_estimator(name)
    xp = namespace(logits)
    draw = est.sample(xp.broadcast_to(logits, (int(n),) + tuple(logits.shape)), rng, tau, k)
    value, dz = f(draw.z)
    if est.needs == "dd":
        return value, est.backward(draw, dz)
    b = loo_baseline(value) if baseline == "loo" else 0.0 if baseline == "none" else baseline
    return value, est.backward(draw, value, b)
