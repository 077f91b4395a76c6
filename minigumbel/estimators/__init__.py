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
(2017); Maddison, Mnih & Teh (2017); Paulus, Maddison & Krause (2021); Liu et al. (2023);
Fan et al. (2022, GST); Shah et al. (2024, decoupled straight-through).

One file per family; a reader finds an estimator by its name:

    score_function.py    exact (enumeration), reinforce, and the baselines
    straight_through.py  st, st-gumbel, reinmax, gst-1.0, gst-p, decoupled
    relaxed.py           softmax (no noise), gumbel (Gumbel-Softmax)
    gumbel_rao.py        gumbel-rao, gumbel-rao-total
    order.py             for an order (a permutation): reinforce-pl, neuralsort, stochastic-neuralsort,
                         gumbel-sinkhorn, st-gumbel-sinkhorn, sinkhorn (registry ORDER_ESTIMATORS)
    base.py              Draw, Estimator, argument checks
    registry.py          ESTIMATORS, estimate, estimate_samples, GRADCHECK_CASES
    subset.py            k items: reinforce-pl, relaxed-topk, st-topk, l2x, soft-topk (SUBSET_ESTIMATORS)

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

from .base import Draw, Estimator, check_k, check_reinmax_tau
from .gumbel_rao import conditional_gumbel, conditional_logits, gumbel_rao_backward, gumbel_rao_total_backward
from .order import ORDER_ESTIMATORS, OrderDraw, get_order_estimator
from .registry import ESTIMATORS, GRADCHECK_CASES, estimate, estimate_samples, get_estimator
from .score_function import RunningMean, exact_grad, loo_baseline, reinforce_backward
from .straight_through import (GAPS, check_gap, decoupled_sample, decoupled_st_gumbel_backward, gst_backward, gst_shift,
                               reinmax_backward, st_backward, st_gumbel_backward)
from .subset import SUBSET_ESTIMATORS, SubsetDraw, estimate_subset_samples, get_subset_estimator

__all__ = [
    "exact_grad", "reinforce_backward", "st_backward", "st_gumbel_backward", "conditional_gumbel",
    "conditional_logits", "gumbel_rao_backward", "gumbel_rao_total_backward", "reinmax_backward", "gst_shift",
    "gst_backward", "decoupled_st_gumbel_backward", "decoupled_sample", "loo_baseline", "RunningMean", "Draw",
    "Estimator",
    "ESTIMATORS", "get_estimator", "estimate", "estimate_samples", "check_k", "check_reinmax_tau", "check_gap",
    "GAPS", "GRADCHECK_CASES", "ORDER_ESTIMATORS", "OrderDraw", "get_order_estimator",
    "SUBSET_ESTIMATORS", "SubsetDraw", "estimate_subset_samples", "get_subset_estimator",
]
