"""The estimator lab: test problems with a known exact gradient, and bias/variance/MSE measurement.

For g(θ) = E_{d~Cat(softmax θ)}[f(d)] with K categories, :func:`measure` draws independent estimates
of one estimator at one τ and compares them with the exact gradient J(π)F (enumeration). The
estimates are folded into running sums (:class:`Moments`) batch by batch, so memory does not grow
with ``samples``. Used by ``minigumbel estimators`` and by the ``estimators`` figure (one
computation, one set of numbers). Every number except the timing is a function of the seed alone:
each (estimator, τ, k) cell has its own random stream, seeded from (seed, estimator name, τ, k).

A row (a dict; ``minigumbel estimators --json`` writes them; the problems of other modules reuse it):

- ``estimator``: the label: the name, with Gumbel-Rao's ``(k=…)`` or REINFORCE's baseline
  ``(loo)`` (leave-one-out over each batch of estimates) / ``(b=0)`` (none) appended;
- ``tau``: τ;
- ``bias_norm``: ‖mean estimate − exact‖;  ``bias_se``: sqrt(variance / samples), its Monte-Carlo
  standard error (a bias norm of at most 3 s.e. is *not detected*, which is not the same as 0);
- ``variance``: the per-sample total variance Σ_k Var[ĝ_k] (ddof 1);
- ``mse``: the single-sample mean squared error E‖ĝ − ∇‖² = bias_norm² + variance;
- ``cosine``: cos(mean estimate, exact);  ``norm_ratio``: ‖mean‖ / ‖exact‖ (near 0: a vanishing
  gradient, whatever its cosine);
- ``time_us``: microseconds per estimate (the only machine-dependent number).

ROW_KEYS lists them in this order. The VAE lab's rows (:mod:`minigumbel.lab_vae`) put ``seed`` and
``step`` first and have no ``time_us``. ``minigumbel_cli.estimators_cmd.lab_table`` prints rows of
this format (``lab_cells`` gives the bias, variance, MSE, cosine and norm-ratio cells of one row).
"""
from __future__ import annotations

import time
import zlib

import numpy as np

from .estimators import estimate_samples

__all__ = ["PROBLEMS", "ROW_KEYS", "Moments", "batches", "label", "make_problem", "measure", "plan", "summarize", "table"]

PROBLEMS = ("linear", "quadratic", "cubic", "pointer")
CHUNK = 2000     # at most this many estimates per batch (the progress bar ticks per batch)
ROW_KEYS = ("estimator", "tau", "bias_norm", "bias_se", "variance", "mse", "cosine", "norm_ratio", "time_us")


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


class Moments:
    """Running sums of gradient estimates (n, K) against an exact gradient ``exact`` (K,): constant memory.

    :meth:`add` folds in a batch (m, K) by Chan et al.'s pairwise update of the count, mean and sum
    of squared deviations (no cancellation as with Σx² − n·mean²). :meth:`stats` gives the row fields
    bias_norm, bias_se, variance, mse, cosine, norm_ratio (see the module docstring). An estimator
    that repeats one vector exactly (softmax) gets variance 0, not the round-off of the update.
    """

    def __init__(self, exact):
        self.exact = np.asarray(exact, dtype=np.float64).reshape(-1)
        self.n, self.mean, self.m2 = 0, np.zeros_like(self.exact), np.zeros_like(self.exact)
        self._first, self.constant = None, True

    def add(self, grads):
        g = np.asarray(grads, dtype=np.float64).reshape(len(grads), -1)        # (m, K)
        if g.shape[1] != self.exact.size:
            raise ValueError(f"estimates have {g.shape[1]} entries, the exact gradient {self.exact.size}")
        m = g.shape[0]
        if m == 0:
            return self
        if self._first is None:
            self._first = g[0].copy()
        self.constant = self.constant and bool(np.all(g == self._first))
        mean_b = g.mean(0)
        m2_b = ((g - mean_b) ** 2).sum(0)
        n = self.n + m
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (m / n)
        self.m2 = self.m2 + m2_b + delta ** 2 * (self.n * m / n)
        self.n = n
        return self

    def stats(self):
        if self.n < 2:
            raise ValueError(f"need at least 2 estimates, got {self.n}")
        var = 0.0 if self.constant else float(self.m2.sum() / (self.n - 1))
        bias = float(np.linalg.norm(self.mean - self.exact))
        norm_m, norm_e = np.linalg.norm(self.mean), np.linalg.norm(self.exact)
        return {"bias_norm": bias, "bias_se": float(np.sqrt(var / self.n)), "variance": var,
                "mse": bias ** 2 + var,
                "cosine": float(self.mean @ self.exact / (norm_m * norm_e)) if norm_m * norm_e > 0 else float("nan"),
                "norm_ratio": float(norm_m / norm_e) if norm_e > 0 else float("nan")}


def batches(samples, chunk=None):
    """Sizes of the batches ``samples`` estimates are drawn in: as equal as possible, each ≤ ``chunk``
    (CHUNK), so none is a lone estimate (a leave-one-out baseline needs 2)."""
    chunk = chunk or CHUNK
    count = -(-samples // chunk)
    return [samples // count + (i < samples % count) for i in range(count)]


def label(name, gr_k=None, baseline=None):
    """The row label: the estimator's name with Gumbel-Rao's k or REINFORCE's baseline."""
    if gr_k:
        return f"{name}(k={gr_k})"
    if baseline is not None:
        return f"{name}({'b=0' if baseline == 'none' else baseline})"
    return name


def measure(name, theta, f, exact, tau, samples, seed, be, gr_k=None, tick=None, baseline="loo"):
    """One table cell: statistics of ``samples`` estimates of ``name`` at τ against ``exact``.

    ``baseline`` is REINFORCE's ("loo": leave-one-out over each batch; "none"), ignored otherwise.
    """
    rng = be.rng(_seed_for(seed, name, tau, gr_k or 0))
    opts = {"k": gr_k} if gr_k else {"baseline": baseline} if name == "reinforce" else {}
    sums, elapsed = Moments(exact), 0.0
    for m in batches(samples):
        be.synchronize()
        t0 = time.perf_counter()
        _, grad = estimate_samples(name, theta, f, rng, tau, m, **opts)    # (m, K)
        be.synchronize()
        elapsed += time.perf_counter() - t0
        sums.add(be.to_numpy(grad))
        if tick is not None:
            tick(m)
    return {"estimator": label(name, gr_k, opts.get("baseline")), "tau": tau, **sums.stats(),
            "time_us": 1e6 * elapsed / samples}


def summarize(row_label, tau, grads, exact, time_us=float("nan")):
    """The row of estimates ``grads`` (n, K) held in memory (:class:`Moments` in one batch)."""
    return {"estimator": row_label, "tau": tau, **Moments(exact).add(grads).stats(), "time_us": time_us}


K_ESTIMATORS = ("gumbel-rao", "gumbel-rao-total")    # take Gumbel-Rao's k: one row per value


def plan(names, taus, gr_ks=(10,)):
    """The (estimator, τ, k) cells of a table, in table order, and the skipped ones (none since
    ReinMax is computed at every τ > 0). ``k`` is Gumbel-Rao's sample count, else None."""
    cells = []
    for tau in taus:
        for name in names:
            cells += [(name, tau, k) for k in (gr_ks if name in K_ESTIMATORS else [None])]
    return cells, []


def table(problem, k, seed, names, taus, samples, be, gr_ks=(10,), tick=None, baseline="loo"):
    """Every number of ``minigumbel estimators --json``: the exact gradient and one :func:`measure`
    row per cell of :func:`plan`. ``tick(n)`` is called as estimates are drawn (a progress bar);
    ``baseline`` is REINFORCE's."""
    from .estimators import estimate
    theta, f = make_problem(problem, k, seed, be.xp)
    exact = be.to_numpy(estimate("exact", theta, f, be.rng(seed))[1])    # J(π)F by enumeration
    cells, skipped = plan(names, taus, gr_ks)
    rows = [measure(name, theta, f, exact, tau, samples, seed, be, kk, tick, baseline) for name, tau, kk in cells]
    return {"problem": problem, "k": k, "seed": seed, "samples": samples, "backend": be.name, "baseline": baseline,
            "logits": be.to_numpy(theta).tolist(), "exact_grad": exact.tolist(),
            "rows": rows, "skipped": skipped}
