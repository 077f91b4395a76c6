"""Gradient estimators for an order (a permutation), each a backward rule *given the draw*.

The same interface as the other estimators (minigumbel.estimators.base: ``sample`` → :class:`OrderDraw`, ``backward`` the hand
rule, ``surrogate`` the autograd route), over two parametrisations:

- scores s (…, n) and the (position, item) matrix Q with Q[r, i] ≈ [item i is ranked r] (decreasing):
  ``neuralsort`` (deterministic, Grover et al. 2019), ``stochastic-neuralsort`` (NeuralSort of the
  Gumbel keys s + g), ``reinforce-pl`` (the exact Plackett-Luce order of s + g, whole permutations,
  score function ∇ log PL from minigumbel.subsets; Williams 1992);
- log α (…, n, n) and the (item, position) matrix P of Mena et al. (2018): ``gumbel-sinkhorn``
  (Sinkhorn of (log α + g)/τ, n×n Gumbel noise), ``st-gumbel-sinkhorn`` (forward: the hard
  permutation of ``matching(log α + g)``, backward: Gumbel-Sinkhorn's), ``sinkhorn`` (no noise: the
  deterministic twin, which can leak through soft weights).

Options: ``grad`` (Sinkhorn family; default True): False draws without keeping what the VJP
needs (an evaluation: 2·n_iters fewer (…, n, n) arrays); ``samples`` S (draws per list: a leading axis of length S on z, summed over by backward,
so ``dlogits`` has the logits' shape); ``n_iters`` (Sinkhorn rounds, default 20); ``key_weights``
c (n,) (Sinkhorn family): instead of n×n noise use the Plackett-Luce keys, G[i, r] = c_r g_i with
g (…, n) Gumbel — with log α = θ cᵀ and c decreasing, matching(log α + G) is then exactly the
order of θ + g, a Plackett-Luce sample (the estimator lab uses this, so that every rule targets
the same ∇ E_PL[f]).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..backend import namespace
from ..functional import _one_hot, _value, sample_gumbel
from ..permutations import (_check_iters, _gumbel_sort, _matching, _neuralsort, _neuralsort_bwd, _neuralsort_fwd,
                           _sinkhorn, _sinkhorn_vjp)
from .base import Draw, Estimator
from ..subsets import _plackett_luce_log_prob, _plackett_luce_log_prob_vjp

__all__ = ["OrderDraw", "ORDER_ESTIMATORS", "SCORE_ESTIMATORS", "MATRIX_ESTIMATORS", "get_order_estimator"]


@dataclass
class OrderDraw(Draw):
    """A :class:`Draw` plus what the order rules keep: the Sinkhorn half-steps (for the VJP), the
    sampled order, the rounds and whether z carries a leading samples axis."""
    states: Any = None       # Sinkhorn: 2·n_iters (…, n, n) matrices (exp of each half-step); NeuralSort: its cache
    order: Any = None        # (…, n) items by position (reinforce-pl)
    n_iters: int = 20
    samples: bool = False


def _noise(rng, theta, samples, shape=None):
    shape = tuple(theta.shape) if shape is None else shape
    return sample_gumbel(rng, ((samples,) if samples else ()) + shape, theta.dtype)


def _sum_samples(d, draw):
    return namespace(d).sum(d, axis=0) if draw.samples else d


class _OrderEstimator(Estimator):
    layout = "position-item"      # or "item-position" (the Sinkhorn family)
    options = ("samples",)

    def _check_samples(self, samples):
        if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int) or samples < 1):
            raise ValueError(f"samples must be an integer >= 1, got {samples!r}")
        return samples


# ----------------------------------------------------------------------------- NeuralSort

class _NeuralSort(_OrderEstimator):
    name, hard, cite = "neuralsort", False, "Grover et al. 2019 (deterministic)"

    def _sample(self, theta, rng, tau, samples=None):       # deterministic: one z, no samples axis
        z, cache = _neuralsort_fwd(theta, tau)
        return OrderDraw(z=z, d=None, logits=theta, tau=tau, states=cache)

    def backward(self, draw, dz):
        return _neuralsort_bwd(dz, draw.states)

    def relaxed(self, logits, draw):
        return _neuralsort(logits, draw.tau)


# Q = NeuralSort(s + g, τ) with ∂(s + g)/∂s = I: the NeuralSort VJP at the keys is the rule, summed
# over the samples axis (s is broadcast over it).
class _StochasticNeuralSort(_OrderEstimator):
    name, hard, cite = "stochastic-neuralsort", False, "Grover et al. 2019 (NeuralSort of s + g)"

    def _sample(self, theta, rng, tau, samples=None):
        g = _noise(rng, theta, self._check_samples(samples))
        z, cache = _neuralsort_fwd(theta + g, tau)
        return OrderDraw(z=z, d=None, logits=theta, tau=tau, g=g, samples=bool(samples), states=cache)

    def backward(self, draw, dz):
        return _sum_samples(_neuralsort_bwd(dz, draw.states), draw)

    def relaxed(self, logits, draw):
        return _neuralsort(logits + draw.g, draw.tau)


# REINFORCE over whole permutations: E[f] = Σ_o PL(o; s) f(o), so ∇_s E[f] = E[(f(o) − b) ∇_s log PL(o; s)]
# for any b independent of o; ∇ log PL is subsets.plackett_luce_log_prob_vjp (its derivation is there).
class _ReinforcePL(_OrderEstimator):
    name, needs, cite = "reinforce-pl", "f", "Williams 1992, over Plackett-Luce orders"

    def _sample(self, theta, rng, tau, samples=None):
        g = _noise(rng, theta, self._check_samples(samples))
        order = _gumbel_sort(theta, g)                                          # (S?, …, n)
        d = _one_hot(order, theta.shape[-1], theta.dtype)                       # (S?, …, n, n)
        return OrderDraw(z=d, d=d, logits=theta, tau=tau, g=g, order=order, samples=bool(samples))

    def backward(self, draw, f_d, baseline=0.0):
        xp = namespace(draw.order)
        theta = draw.logits + xp.zeros(draw.order.shape, dtype=draw.logits.dtype)    # (S?, …, n)
        return _sum_samples(_plackett_luce_log_prob_vjp(f_d - baseline, theta, draw.order), draw)

    def relaxed(self, logits, draw, f_d, baseline=0.0):
        xp = namespace(logits)
        theta = logits + xp.zeros(draw.order.shape)
        return _value(f_d - baseline) * _plackett_luce_log_prob(theta, draw.order)


# ----------------------------------------------------------------------------- the Sinkhorn family

class _GumbelSinkhorn(_OrderEstimator):
    name, hard, cite = "gumbel-sinkhorn", False, "Mena et al. 2018"
    layout, options, noisy = "item-position", ("samples", "n_iters", "key_weights", "grad"), True

    def _draw_noise(self, theta, rng, samples, key_weights):
        if not self.noisy:
            return None
        if key_weights is None:
            return _noise(rng, theta, samples)                                  # n² draws per matrix
        g = _noise(rng, theta, samples, tuple(theta.shape[:-1]))                # (S?, …, n): keys
        return g[..., :, None] * key_weights                                    # G[i, r] = c_r g_i

    def _sample(self, theta, rng, tau, samples=None, n_iters=20, key_weights=None, grad=True):
        samples = None if not self.noisy else self._check_samples(samples)
        g = self._draw_noise(theta, rng, samples, key_weights)
        x = theta if g is None else theta + g
        # grad=False (an evaluation): the 2·n_iters half-steps the VJP needs are not kept
        z, states = _sinkhorn(x / tau, _check_iters(n_iters), keep=grad)
        return OrderDraw(z=z, d=None, logits=theta, tau=tau, g=g, states=states, n_iters=n_iters,
                         samples=bool(samples))

    # P = sinkhorn(X), X = (log α + g)/τ: sinkhorn_vjp at X, times ∂X/∂log α = I/τ, summed over samples
    def backward(self, draw, dz):
        return _sum_samples(_sinkhorn_vjp(dz, draw.states) / draw.tau, draw)

    def relaxed(self, logits, draw):
        x = logits if draw.g is None else logits + draw.g
        return _sinkhorn(x / draw.tau, draw.n_iters)[0]


class _Sinkhorn(_GumbelSinkhorn):
    name, noisy, cite = "sinkhorn", False, "Adams & Zemel 2011; Mena et al. 2018 (no noise)"


class _STGumbelSinkhorn(_GumbelSinkhorn):
    """Forward: the permutation matrix of matching(log α + g) (host: SciPy); backward: Gumbel-Sinkhorn's."""
    name, hard, cite = "st-gumbel-sinkhorn", True, "Mena et al. 2018, straight-through"

    def _sample(self, theta, rng, tau, samples=None, n_iters=20, key_weights=None, grad=True):
        draw = super()._sample(theta, rng, tau, samples, n_iters, key_weights, grad)
        n = theta.shape[-1]
        draw.d = _one_hot(_matching(theta + draw.g), n, theta.dtype)            # (…, n, n) item × position
        draw.z = draw.d
        return draw


ORDER_ESTIMATORS = {e.name: e for e in (_ReinforcePL(), _NeuralSort(), _StochasticNeuralSort(), _GumbelSinkhorn(),
                                        _STGumbelSinkhorn(), _Sinkhorn())}
SCORE_ESTIMATORS = tuple(n for n, e in ORDER_ESTIMATORS.items() if e.layout == "position-item")
MATRIX_ESTIMATORS = tuple(n for n, e in ORDER_ESTIMATORS.items() if e.layout == "item-position")


def get_order_estimator(name):
    if name not in ORDER_ESTIMATORS:
        raise ValueError(f"unknown order estimator {name!r}; choose one of {', '.join(ORDER_ESTIMATORS)}")
    return ORDER_ESTIMATORS[name]
