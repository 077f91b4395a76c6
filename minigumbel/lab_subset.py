"""The estimator lab for k items: ∇θ E_{S~PL_k(θ)}[f(k_hot(S))], exact by enumeration.

The problem ("subset"): n items with payloads P (n, 4) drawn from the seed, a target set T of k
items, and f(z) = ‖Pᵀz − Σ_{i∈T} P_i‖², the squared error of the payloads read through the
pointer z (a k-hot for the hard estimators) against the target's — quadratic in z, 0 at z = k_hot(T).
The exact gradient enumerates the n!/(n − k)! ordered prefixes o (1,680 for n = 8, k = 4):

    ∇θ E[f] = Σ_o P(o) f(k_hot(o)) ∇θ log P(o)       (Σ_o P(o) ∇ log P(o) = 0),

with log P and its gradient from minigumbel.subsets. Rows carry minigumbel.lab's row keys
(:data:`minigumbel.lab.ROW_KEYS`), accumulated by :class:`minigumbel.lab.Moments`.
"""
from __future__ import annotations

import itertools
import math
import time
import zlib

import numpy as np

from .estimators.subset import SUBSET_ESTIMATORS, estimate_subset_samples
from .lab import Moments, batches, label
from .subsets import _k_hot, _plackett_luce_log_prob, _plackett_luce_log_prob_vjp

__all__ = ["ORDER_LIMIT", "SUBSET_ESTIMATOR_NAMES", "check_sizes", "make_subset_problem", "exact_subset_grad",
           "subset_table"]

ORDER_LIMIT = 1680           # n!/(n − k)! ordered prefixes enumerated: n ≤ 8, k ≤ 4
SUBSET_ESTIMATOR_NAMES = tuple(SUBSET_ESTIMATORS)


def check_sizes(n, k):
    """n items, k chosen: 2 ≤ n ≤ 8, 1 ≤ k ≤ min(4, n − 1) (ValueError naming both otherwise)."""
    if not (2 <= n <= 8 and 1 <= k <= min(4, n - 1)):
        raise ValueError(f"the subset problem needs 2 <= n <= 8 items and 1 <= k <= min(4, n - 1) chosen "
                         f"(the exact gradient enumerates n!/(n-k)! orders), got n = {n}, k = {k}")


def make_subset_problem(n, k, seed, xp):
    """(logits θ (n,), f, target (k,)) drawn from ``seed``; f(z) -> (value (...), ∂f/∂z (..., n))."""
    check_sizes(n, k)
    rng = np.random.default_rng([seed, 7919, n, k])
    theta, P = rng.normal(size=n), rng.normal(size=(n, 4))
    target = np.sort(rng.permutation(n)[:k])
    goal = P[target].sum(0)
    theta, P, goal = (xp.asarray(v) for v in (theta, P, goal))

    def f(z):
        r = z @ P - goal                                               # (..., 4) residual
        return (r * r).sum(-1), 2.0 * r @ P.T
    return theta, f, target


def exact_subset_grad(theta, f, k):
    """(E[f], ∇θ E[f]) by enumerating every ordered prefix of length k (host NumPy)."""
    xp_theta = np.asarray(theta, dtype=np.float64)
    n = xp_theta.shape[-1]
    orders = np.array(list(itertools.permutations(range(n), k)))      # (O, k)
    lp = _plackett_luce_log_prob(xp_theta + np.zeros((len(orders), n)), orders)   # (O,)
    fz, _ = f(_k_hot(orders, n, np.float64))
    fz = np.asarray(fz)
    w = np.exp(lp) * fz                                                # P(o) f(o)
    grad = _plackett_luce_log_prob_vjp(w, xp_theta + np.zeros((len(orders), n)), orders).sum(0)
    return float(w.sum()), grad


def _seed_for(seed, name, tau):
    key = [seed, zlib.crc32(name.encode()), int(round(tau * 1_000_000)), 21]
    return int(np.random.SeedSequence(key).generate_state(1, dtype=np.uint64)[0])


def subset_measure(name, theta, f, exact, tau, k, samples, seed, be, tick=None, baseline="loo"):
    """One row: statistics of ``samples`` estimates of ``name`` at τ (running sums)."""
    rng = be.rng(_seed_for(seed, name, tau))
    sums, elapsed = Moments(exact), 0.0
    for m in batches(samples):
        be.synchronize()
        t0 = time.perf_counter()
        _, grad = estimate_subset_samples(name, theta, f, rng, tau, k, m, baseline)   # (m, n)
        be.synchronize()
        elapsed += time.perf_counter() - t0
        sums.add(be.to_numpy(grad))
        if tick is not None:
            tick(m)
    row_label = label(name, baseline=baseline) if name == "reinforce-pl" else name
    return {"estimator": row_label, "tau": tau, **sums.stats(), "time_us": 1e6 * elapsed / samples}


def subset_table(n, k, seed, names, taus, samples, be, tick=None, baseline="loo"):
    """Every number of ``minigumbel estimators --problem subset --json``."""
    check_sizes(n, k)
    unknown = [m for m in names if m not in SUBSET_ESTIMATORS]
    if unknown:
        raise ValueError(f"unknown subset estimator(s) {', '.join(unknown)}; choose from {', '.join(SUBSET_ESTIMATORS)}")
    theta, f, target = make_subset_problem(n, k, seed, be.xp)
    value, exact = exact_subset_grad(be.to_numpy(theta), make_subset_problem(n, k, seed, np)[1], k)
    rows = [subset_measure(name, theta, f, exact, tau, k, samples, seed, be, tick, baseline)
            for tau in taus for name in names]
    return {"problem": "subset", "n": n, "k": k, "seed": seed, "samples": samples, "backend": be.name,
            "baseline": baseline, "orders": math.perm(n, k), "logits": be.to_numpy(theta).tolist(),
            "target": target.tolist(), "expected_f": value, "exact_grad": exact.tolist(), "rows": rows}
