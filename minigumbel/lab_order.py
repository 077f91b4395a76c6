"""The estimator lab for an order: ∇θ E_{o ~ PL(θ)}[f(Q_o)], exact by enumerating the n! orders.

Problem (``make_order_problem``): n items with values x (n,) and Plackett-Luce logits θ (n,) drawn
from the seed; Q (…, n, n) is a (position, item) matrix, the permutation matrix of the order o
(Q[r, o_r] = 1, decreasing keys) or a relaxation of it, and

    f(Q) = (1/n) Σ_r ((Q x)_r − t_r)²,   t = x sorted in decreasing order,

the sorting loss (0 exactly when o sorts x). Exact gradient: Σ_o PL(o; θ) f(Q_o) ∇θ log PL(o; θ)
(subsets.plackett_luce_log_prob and its VJP over the n! ≤ 720 orders).

How each rule sees θ: ``reinforce-pl``, ``neuralsort``, ``stochastic-neuralsort`` take θ as their
scores. The Sinkhorn family takes log α[i, r] = c_r θ_i (item i, position r) with c_r = n + 1 − 2r
(NeuralSort's weights: matching(θ cᵀ) is the order of decreasing θ, by the rearrangement inequality),
and its noise is the Plackett-Luce keys, G[i, r] = c_r g_i, so that the hard forward of
``st-gumbel-sinkhorn`` is exactly a PL sample and every rule targets the same gradient; its P
(item, position) is read as Q = Pᵀ and dθ_i = Σ_r c_r d log α[i, r]. (With Mena et al.'s n×n
noise the hard forward is another distribution than PL(θ), so its gradient another target.)

Rows have the keys of minigumbel.lab (lab.ROW_KEYS: estimator, tau, bias_norm, bias_se, variance,
mse, cosine, norm_ratio, time_us); REINFORCE-PL's label is ``reinforce-pl(loo)``: its baseline is the
leave-one-out mean of f over the other estimates of its batch (lab.batches), so it stays unbiased. Each (estimator, τ) cell has its own random stream from (seed, name, τ).
"""
from __future__ import annotations

import itertools
import time

import numpy as np

from .estimators.order import ORDER_ESTIMATORS, get_order_estimator
from .functional import _one_hot
from .lab import Moments, _seed_for, batches, label
from .permutations import require_matching
from .subsets import _plackett_luce_log_prob, _plackett_luce_log_prob_vjp

__all__ = ["ORDER_LAB_ESTIMATORS", "make_order_problem", "exact_order_grad", "order_estimates", "order_table",
           "MAX_N"]

ORDER_LAB_ESTIMATORS = ("reinforce-pl", "neuralsort", "stochastic-neuralsort", "gumbel-sinkhorn",
                        "st-gumbel-sinkhorn", "sinkhorn")
MAX_N = 6           # 720 orders


def make_order_problem(n, seed, xp=np):
    """(θ (n,), f, x): f(Q) -> (value (…), ∂f/∂Q (…, n, n)) for Q (…, n, n) (position, item)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 2 <= n <= MAX_N:
        raise ValueError(f"n (items) must be an integer in [2, {MAX_N}] (the exact gradient enumerates n! orders), "
                         f"got {n!r}")
    rng = np.random.default_rng([seed, 23])
    theta, x = rng.normal(size=n), rng.uniform(size=n)
    theta, x, t = xp.asarray(theta), xp.asarray(x), xp.asarray(np.sort(x)[::-1].copy())

    # f = (1/n) Σ_r (y_r − t_r)², y = Q x  ⇒  ∂f/∂Q[r, i] = (2/n) (y_r − t_r) x_i
    def f(Q):
        r = Q @ x - t                                                           # (…, n)
        return (r * r).mean(-1), (2.0 / n) * r[..., :, None] * x
    return theta, f, x


def exact_order_grad(theta, f):
    """Σ_o PL(o; θ) f(Q_o) ∇θ log PL(o; θ) over all n! orders (NumPy)."""
    n = theta.shape[-1]
    orders = np.array(list(itertools.permutations(range(n))))                 # (n!, n)
    thetas = np.broadcast_to(theta, orders.shape)
    p = np.exp(_plackett_luce_log_prob(thetas, orders))                        # (n!,)
    values, _ = f(_one_hot(orders, n, theta.dtype))                            # (n!,)
    return (_plackett_luce_log_prob_vjp(p * values, thetas, orders)).sum(0)


def _weights(xp, n, dtype):
    return (n + 1 - 2 * xp.arange(1, n + 1)).astype(dtype)                    # c_r, (n,)


def order_estimates(name, theta, f, rng, tau, m, n_iters=20):
    """m independent estimates of ∇θ E[f] by rule ``name``: (values (m,), grads (m, n))."""
    est = get_order_estimator(name)
    xp = np
    thetas = xp.broadcast_to(theta, (m,) + theta.shape)                        # (m, n)
    if est.layout == "position-item":
        draw = est.sample(thetas, rng, tau)
        values, dQ = f(draw.z)
        if est.needs == "f":
            b = (values.sum() - values) / (m - 1)                              # leave-one-out over the m draws
            return values, est.backward(draw, values, b)
        return values, est.backward(draw, dQ)
    c = _weights(xp, theta.shape[-1], theta.dtype)
    log_alpha = thetas[..., :, None] * c                                       # (m, n, n): c_r θ_i
    draw = est.sample(log_alpha, rng, tau, n_iters=n_iters, key_weights=c)
    values, dQ = f(xp.swapaxes(draw.z, -1, -2))                                # Q = Pᵀ
    dlog_alpha = est.backward(draw, xp.swapaxes(dQ, -1, -2))
    return values, dlog_alpha @ c                                              # dθ_i = Σ_r c_r d log α[i, r]


def order_table(n, seed, names, taus, samples, n_iters=20, tick=None):
    """Every number of ``minigumbel estimators --problem order --json``: one row per (τ, estimator)
    with minigumbel.lab's keys, from running sums (lab.Moments) over batches of estimates."""
    unknown = [x for x in names if x not in ORDER_ESTIMATORS]
    if unknown:
        raise ValueError(f"unknown order estimator(s) {', '.join(unknown)}; choose from {', '.join(ORDER_LAB_ESTIMATORS)}")
    if "st-gumbel-sinkhorn" in names:
        require_matching("estimator 'st-gumbel-sinkhorn' (its forward)")
    theta, f, x = make_order_problem(n, seed)
    exact = exact_order_grad(theta, f)
    rows = []
    for tau in taus:
        for name in names:
            rng = np.random.default_rng(_seed_for(seed, name, tau, n_iters))
            sums, elapsed = Moments(exact), 0.0
            for m in batches(samples):
                t0 = time.perf_counter()
                sums.add(order_estimates(name, theta, f, rng, tau, m, n_iters)[1])
                elapsed += time.perf_counter() - t0
                if tick is not None:
                    tick(m)
            lab_label = label(name, baseline="loo") if name == "reinforce-pl" else name
            rows.append({"estimator": lab_label, "tau": tau, **sums.stats(), "time_us": 1e6 * elapsed / samples})
    return {"problem": "order", "k": n, "seed": seed, "samples": samples, "backend": "numpy",
            "n_iters": n_iters, "logits": theta.tolist(), "values": x.tolist(), "exact_grad": exact.tolist(),
            "rows": rows, "skipped": []}
