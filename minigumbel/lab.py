"""The estimator lab: test problems with a known exact gradient, and bias/variance measurement.

For g(θ) = E_{d~Cat(softmax θ)}[f(d)] with K categories, :func:`measure` draws independent estimates
of one estimator at one τ and compares their mean with the exact gradient J(π)F (enumeration).
Used by ``minigumbel estimators`` and by the ``estimators`` figure (one computation, one set of
numbers). Every number except the timing is a function of the seed alone: each (estimator, τ, k)
cell has its own random stream, seeded from (seed, estimator name, τ, k).
"""
from __future__ import annotations

import time
import zlib

import numpy as np

from .estimators import estimate_samples

__all__ = ["PROBLEMS", "Moments", "make_problem", "measure", "plan", "table"]

PROBLEMS = ("linear", "quadratic", "cubic", "pointer")
CHUNK = 2000     # estimates per batch (the progress bar ticks per batch)


def make_problem(kind, k, seed, xp):
    """(logits θ (K,), f) for a problem drawn from ``seed``; f(z) -> (value (...), ∂f/∂z (..., K)).

    linear: f = a·z.  quadratic: f = ½ zᵀAz + a·z (A symmetric).  cubic: f = (a·z)³.
    pointer: K items with payloads P (K, 4); f = ‖Pᵀz − P_t‖², the squared error of the payload
    read through the pointer z against the target item t's payload (quadratic in z).
    """
    rng = np.random.default_rng([seed, PROBLEMS.index(kind)])
    theta, a = rng.normal(size=k), rng.normal(size=k)
    A = rng.normal(size=(k, k)) / 2
    P, t = rng.normal(size=(k, 4)), int(rng.integers(k))
    theta, a, A, P = (xp.asarray(v) for v in (theta, a, A + A.T, P))
    if kind == "linear":
        return theta, lambda z: (z @ a, xp.broadcast_to(a, z.shape) + 0.0)
    if kind == "quadratic":
        return theta, lambda z: (0.5 * ((z @ A) * z).sum(-1) + z @ a, z @ A + a)
    if kind == "cubic":
        return theta, lambda z: ((z @ a) ** 3, 3.0 * (z @ a)[..., None] ** 2 * a)
    def pointer(z):
        r = z @ P - P[t]                                                   # (..., 4) residual
        return (r * r).sum(-1), 2.0 * r @ P.T
    return theta, pointer


def _seed_for(seed, name, tau, gr_k):
    """One integer seed per table cell (an int suits both NumPy's and CuPy's default_rng)."""
    key = [seed, zlib.crc32(name.encode()), int(round(tau * 1_000_000)), gr_k]
    return int(np.random.SeedSequence(key).generate_state(1, dtype=np.uint64)[0])


def measure(name, theta, f, exact, tau, samples, seed, be, gr_k=None, tick=None):
    """One table cell: statistics of ``samples`` estimates of ``name`` at τ against ``exact``."""
    rng = be.rng(_seed_for(seed, name, tau, gr_k or 0))
    opts = {"k": gr_k} if gr_k else {}
    grads, elapsed = [], 0.0
    for start in range(0, samples, CHUNK):
        m = min(CHUNK, samples - start)
        be.synchronize()
        t0 = time.perf_counter()
        _, grad = estimate_samples(name, theta, f, rng, tau, m, **opts)   # (m, K)
        be.synchronize()
        elapsed += time.perf_counter() - t0
        grads.append(be.to_numpy(grad))
        if tick is not None:
            tick(m)
    return summarize(name if not gr_k else f"{name}(k={gr_k})", tau, np.concatenate(grads), exact,
                     1e6 * elapsed / samples)


def summarize(label, tau, grads, exact, time_us=float("nan")):
    """Bias norm (± s.e.), total variance, cosine and norm ratio of estimates ``grads`` (n, K)."""
    samples = grads.shape[0]
    mean = grads.mean(0)
    # a deterministic estimator (softmax) repeats one vector: report 0, not the round-off of var()
    var = 0.0 if np.all(grads == grads[0]) else float(grads.var(0, ddof=1).sum())
    denom = np.linalg.norm(mean) * np.linalg.norm(exact)
    return {"estimator": label, "tau": tau,
            "bias_norm": float(np.linalg.norm(mean - exact)), "bias_se": float(np.sqrt(var / samples)),
            "variance": float(var), "cosine": float(mean @ exact / denom) if denom > 0 else float("nan"),
            "norm_ratio": float(np.linalg.norm(mean) / np.linalg.norm(exact)), "time_us": time_us}


class Moments:
    """Running mean and covariance trace of gradient estimates, in constant memory.

    ``add(batch)`` takes estimates (m, D) (any m ≥ 1); batches are merged with Chan, Golub &
    LeVeque's (1979) update of (n, mean, M2), M2 = Σ (x − mean)² per coordinate, which stays exact
    in float64 where Σx² − n·mean² would cancel. ``summary(exact)`` gives, against the exact
    gradient ∇ (D,):

        bias_norm  ‖mean − ∇‖            bias_se  sqrt(variance / n): its Monte-Carlo error
        variance   tr Cov = Σ_j Var(x_j)  per-sample (one estimate), unbiased (n − 1)
        mse        bias_norm² + variance: E‖x − ∇‖² of a single estimate
        cosine     cos(mean, ∇)           norm_ratio  ‖mean‖ / ‖∇‖

    A deterministic estimator (every estimate the same vector) reports variance 0 exactly, not
    the round-off of the update.
    """

    def __init__(self):
        self.n, self.mean, self.m2, self.first, self.constant = 0, None, None, None, True

    def add(self, batch):
        batch = np.asarray(batch, dtype=np.float64)
        batch = batch.reshape(batch.shape[0], -1)
        m = batch.shape[0]
        if m == 0:
            return self
        b_mean = batch.mean(0)
        b_m2 = ((batch - b_mean) ** 2).sum(0)
        if self.n == 0:
            self.first = batch[0].copy()
            self.n, self.mean, self.m2 = m, b_mean, b_m2
        else:
            n = self.n + m
            delta = b_mean - self.mean
            self.mean = self.mean + delta * (m / n)
            self.m2 = self.m2 + b_m2 + delta ** 2 * (self.n * m / n)
            self.n = n
        self.constant = self.constant and bool(np.all(batch == self.first))
        return self

    def summary(self, exact):
        if self.n < 2:
            raise ValueError(f"Moments needs at least 2 estimates, got {self.n}")
        exact = np.asarray(exact, dtype=np.float64).ravel()
        var = 0.0 if self.constant else float(self.m2.sum() / (self.n - 1))
        bias = float(np.linalg.norm(self.mean - exact))
        norm = np.linalg.norm(exact)
        denom = np.linalg.norm(self.mean) * norm
        return {"bias_norm": bias, "bias_se": float(np.sqrt(var / self.n)), "variance": var,
                "mse": bias ** 2 + var, "cosine": float(self.mean @ exact / denom) if denom > 0 else float("nan"),
                "norm_ratio": float(np.linalg.norm(self.mean) / norm) if norm > 0 else float("nan")}


K_ESTIMATORS = ("gumbel-rao", "gumbel-rao-total")    # take Gumbel-Rao's k: one row per value


def plan(names, taus, gr_ks=(10,)):
    """The (estimator, τ, k) cells of a table, in table order, and the skipped ones (none since
    ReinMax is computed at every τ > 0). ``k`` is Gumbel-Rao's sample count, else None."""
    cells = []
    for tau in taus:
        for name in names:
            cells += [(name, tau, k) for k in (gr_ks if name in K_ESTIMATORS else [None])]
    return cells, []


def table(problem, k, seed, names, taus, samples, be, gr_ks=(10,), tick=None):
    """Every number of ``minigumbel estimators --json``: the exact gradient and one :func:`measure`
    row per cell of :func:`plan`. ``tick(n)`` is called as estimates are drawn (a progress bar)."""
    from .estimators import estimate
    theta, f = make_problem(problem, k, seed, be.xp)
    exact = be.to_numpy(estimate("exact", theta, f, be.rng(seed))[1])    # J(π)F by enumeration
    cells, skipped = plan(names, taus, gr_ks)
    rows = [measure(name, theta, f, exact, tau, samples, seed, be, kk, tick) for name, tau, kk in cells]
    return {"problem": problem, "k": k, "seed": seed, "samples": samples, "backend": be.name,
            "logits": be.to_numpy(theta).tolist(), "exact_grad": exact.tolist(),
            "rows": rows, "skipped": skipped}
