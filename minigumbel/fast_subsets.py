"""A fast NumPy path for the relaxed top-k (subsets.relaxed_topk / relaxed_topk_vjp), tested equal
to the readable reference (tests/test_fast_subsets.py).

Two changes, no new math:

* **row blocks in cache**: the k-step recursion runs on a block of rows small enough that its k
  softmaxes stay in the CPU cache (the reference streams the whole array through memory some 25
  times per step); blocks are spread over threads (minigumbel.fast's pool; NumPy's ufuncs release
  the GIL);
* **fewer passes per step**, from the same algebra: with e = exp(z − max z) and the row's largest
  entry t (e_t = 1), s_ex = Σ_{l≠t} e_l, the forward is a = e/(1 + s_ex), and
  u = log(1 − a) = log1p(−a) off t, log s_ex − log(1 + s_ex) at t (exact: no 1 − a_t formed). The
  backward needs only a per step: b = a/(1 − a) (b_t := 0) and a_m/(1 − a_t) = e_m/s_ex, so
  (subsets.py's derivation, with du = ∂L/∂r_{j+1} and κ = du_t/s_ex)

      dz_m = a_m (dy_m − ⟨dy, a⟩ + Σ_i du_i b_i − du_m − du_m b_m + [m ≠ t] κ),

  entry t written without κ (adding κ there and subtracting κ a_t after would cancel the other
  terms' digits when one key leads and κ is large).

A block in which some row has s_ex below the smallest normal number (the others' mass underflowed;
only at extreme logits or τ), or κ overflows, is computed by the reference instead, so the result is
the reference's everywhere. 2-D NumPy float32/float64 rows on the last axis; checked at the front door
like the reference.
"""
from __future__ import annotations

import numpy as np

from ._inputs import enter
from .fast import _pool, _threads
from .subsets import _check_enough_unmasked, _check_k, _relaxed_topk, _relaxed_topk_vjp

__all__ = ["fast_relaxed_topk", "fast_relaxed_topk_vjp", "BLOCK_BYTES"]

BLOCK_BYTES = 1 << 17          # one step's array of a block: 128 KiB (k of them live in the backward)


def _rows2d(a, shape):
    return np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(-1, shape[-1])


def _steps(th, g, k, inv_tau, keep):
    """Forward on a block (b, n): y, and per step (a, t, s_ex) when ``keep``; None when some row's
    s_ex is subnormal or 0 (the caller falls back to the reference for this block)."""
    b, n = th.shape
    rows = np.arange(b)
    tiny = np.finfo(th.dtype).tiny
    r = th + g
    z = np.empty_like(r)
    y = np.zeros_like(r)
    kept = []
    a = np.empty_like(r)
    for j in range(k):
        if keep and j:
            a = np.empty_like(r)                           # a new array per step: kept without a copy
        t = r.argmax(axis=1)                               # τ > 0: the argmax of z = r/τ
        np.subtract(r, r[rows, t][:, None], out=z)
        z *= inv_tau
        np.exp(z, out=a)                                   # e; e_t = 1; masked entries 0
        a[rows, t] = 0.0
        s_ex = a.sum(axis=1)
        if j < k - 1 and not np.all(s_ex >= tiny):
            return None, None
        inv_s = 1.0 / (1.0 + s_ex)
        a *= inv_s[:, None]
        a[rows, t] = inv_s                                 # a_t = 1 / (1 + s_ex)
        y += a
        if keep:
            kept.append((a, t, s_ex))
        if j < k - 1:
            np.negative(a, out=z)
            with np.errstate(divide="ignore"):             # at t (overwritten below) a_t may round to 1
                np.log1p(z, out=z)                         # u = log(1 − a) off t (a ≤ ½ there)
            z[rows, t] = np.log(s_ex) - np.log1p(s_ex)     # u_t = log(s_ex / (1 + s_ex))
            r += z
    return y, kept


def _forward_block(th, g, k, tau, out, cache=None, key=None):
    y, kept = _steps(th, g, k, th.dtype.type(1.0 / tau), keep=cache is not None)
    out[...] = _relaxed_topk(th, g, k, tau) if y is None else y
    if cache is not None:
        cache[key] = kept


def _vjp_block(dy, th, g, k, tau, out, kept=None):
    inv_tau = th.dtype.type(1.0 / tau)
    if kept is None:
        _, kept = _steps(th, g, k, inv_tau, keep=True)
    if kept is None:
        out[...] = _relaxed_topk_vjp(dy, th, g, k, tau)
        return
    rows = np.arange(th.shape[0])
    dr = np.zeros_like(th)
    coef, v = np.empty_like(th), np.empty_like(th)
    for j in range(k - 1, -1, -1):
        a, t, s_ex = kept[j]
        if j < k - 1:
            # with v = du/(1 − a) (v_t := du_t): du ⊙ b = v − du, so with σ = Σv − Σdu − ⟨dy, a⟩
            # dz = a ⊙ (dy − v + σ + κ) off t, and dz_t = a_t (dy_t − du_t + σ) written directly:
            # κ = du_t/s_ex is large when one key leads (s_ex small), and adding it at t only to
            # subtract κ a_t again would cancel σ's digits away
            du_t = dr[rows, t]
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                kappa = du_t / s_ex
            if not np.all(np.isfinite(kappa)):                       # κ overflows: the reference
                out[...] = _relaxed_topk_vjp(dy, th, g, k, tau)
                return
            np.subtract(1.0, a, out=v)
            with np.errstate(divide="ignore", invalid="ignore"):      # at t, overwritten below
                np.divide(dr, v, out=v)
            v[rows, t] = du_t
            sigma = v.sum(axis=1) - dr.sum(axis=1) - np.einsum("ij,ij->i", dy, a)
            np.subtract(dy, v, out=coef)
            coef += (sigma + kappa)[:, None]
            coef *= a
            coef[rows, t] = a[rows, t] * (dy[rows, t] - du_t + sigma)
        else:
            np.subtract(dy, np.einsum("ij,ij->i", dy, a)[:, None], out=coef)
            coef *= a
        coef *= inv_tau
        dr += coef
    out[...] = dr


def _run(work, n_rows, n, itemsize, threads):
    per = max(1, BLOCK_BYTES // (n * itemsize))
    blocks = [(r0, min(r0 + per, n_rows)) for r0 in range(0, n_rows, per)]
    threads = _threads(threads, n_rows * n)
    if threads <= 1 or len(blocks) < 2:
        for r0, r1 in blocks:
            work(r0, r1)
        return
    futures = [_pool(threads).submit(work, r0, r1) for r0, r1 in blocks]
    for f in futures:
        f.result()


def _prepare(named, tau, axis, k, logits_at):
    arrays, tau, axis = enter(named, tau, axis)
    raw = [np.asarray(a) for a in arrays]
    if not all(type(a) is np.ndarray for a in arrays):
        raise TypeError("the fast relaxed top-k takes NumPy arrays (CuPy and autograd: use minigumbel.subsets)")
    if not isinstance(tau, float):
        raise ValueError("the fast relaxed top-k takes one temperature (a number); per-row τ: minigumbel.subsets")
    k = _check_k(k)
    shape = np.broadcast_shapes(*(a.shape for a in raw))
    moved = [np.moveaxis(np.broadcast_to(a, shape), axis, -1) for a in raw]
    _check_enough_unmasked(moved[logits_at], k, -1)
    return moved, tau, axis, k


def fast_relaxed_topk(logits, g, k, tau=1.0, axis=-1, threads=None, return_cache=False):
    """:func:`minigumbel.subsets.relaxed_topk` (hard=False) by row blocks: the same values up to
    rounding (tests/test_fast_subsets.py states the bound). ``threads``: default
    minigumbel.fast.default_threads(). ``return_cache=True`` returns ``(y, cache)``: the k steps of
    every block (k arrays of y's size), which :func:`fast_relaxed_topk_vjp` then uses instead of
    recomputing the forward."""
    (th, gg), tau, axis, k = _prepare([("logits", logits, "logits"), ("g", g, "noise")], tau, axis, k, 0)
    shape = th.shape
    th2, g2 = _rows2d(th, shape), _rows2d(gg, shape)
    out = np.empty_like(th2)
    cache = {} if return_cache else None
    _run(lambda r0, r1: _forward_block(th2[r0:r1], g2[r0:r1], k, tau, out[r0:r1], cache, (r0, r1)),
         th2.shape[0], shape[-1], th2.itemsize, threads)
    y = np.moveaxis(out.reshape(shape), -1, axis)
    return (y, {"blocks": cache, "shape": shape, "k": k, "tau": tau}) if return_cache else y


def fast_relaxed_topk_vjp(dy, logits, g, k, tau=1.0, axis=-1, threads=None, cache=None):
    """:func:`minigumbel.subsets.relaxed_topk_vjp` by row blocks, in the broadcast shape: from the
    ``cache`` of :func:`fast_relaxed_topk` (same logits, g, k, τ, threads), else recomputing the
    forward per block (in cache)."""
    (d, th, gg), tau, axis, k = _prepare([("dy", dy, "finite"), ("logits", logits, "logits"), ("g", g, "noise")],
                                         tau, axis, k, 1)
    shape = th.shape
    d2, th2, g2 = _rows2d(d, shape), _rows2d(th, shape), _rows2d(gg, shape)
    out = np.empty_like(th2)
    if cache is not None and (cache["shape"] != shape or cache["k"] != k or cache["tau"] != tau):
        raise ValueError("cache: written by fast_relaxed_topk for another shape, k or tau")
    blocks = cache["blocks"] if cache is not None else {}
    _run(lambda r0, r1: _vjp_block(d2[r0:r1], th2[r0:r1], g2[r0:r1], k, tau, out[r0:r1], blocks.get((r0, r1))),
         th2.shape[0], shape[-1], th2.itemsize, threads)
    return np.moveaxis(out.reshape(shape), -1, axis)

