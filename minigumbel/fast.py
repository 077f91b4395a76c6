"""Fast, fused Gumbel-Softmax forward and backward: the same numbers as the readable rules, sooner.

The readable functions in :mod:`minigumbel.functional` are the source of truth. The two helpers
here compute what they compute, with the same use of the random Generator::

    y = fast.sample_gumbel_softmax(rng, logits, tau)
    #   == F.gumbel_softmax(logits, F.sample_gumbel(rng, logits.shape, logits.dtype), tau)
    dlogits = fast.gumbel_softmax_vjp(dy, y, tau)
    #   == F.gumbel_softmax_vjp(dy, y, tau)

On NumPy the results are bit-for-bit identical (tests/test_fast.py checks it): the arithmetic is the
same operations in the same order; only *where* it happens changes. One exception, on by default
and switched off by ``exact=True``: a soft sample at τ = 1 uses exp(θ + g) = exp(θ)/E and skips
one of the two logs; it agrees with the reference to float round-off (stated and tested).
On CuPy the helpers run fused kernels (:mod:`minigumbel.fast_cupy`, imported only then) whose
results agree with the reference to float round-off.

Why faster on the CPU (figures: ``minigumbel bench``; README.md, "Performance"):

1. Row blocks of about 1 MiB (BLOCK_BYTES). Every pass (clip, two logs, shift, exp, row sums) runs
   on one block while it sits in cache, instead of streaming whole arrays through memory a dozen
   times. On the 2-core machine this was tuned on (512 KiB L2 per core, 32 MiB L3), 1 MiB blocks
   beat 64-512 KiB ones (fewer Python calls per element) and 4 MiB ones (less cache reuse).
2. In place. Each ufunc writes with ``out=`` into the output block: no temporaries.
3. float32 end to end. The noise comes from a float32 uniform and two logs, as in
   :func:`~minigumbel.functional.sample_gumbel` (``Generator.gumbel`` only makes float64).
4. Threads. NumPy releases the GIL inside ufuncs and inside ``Generator.random``. The calling
   thread draws the uniforms block after block, in order, so the random stream is exactly the one
   ``sample_gumbel`` would use, while worker threads transform the blocks already drawn. The
   numbers do not depend on the thread count.

Only the last axis is supported (the reference's default). Autograd boxes are passed to the
readable functions unchanged, so these helpers are also safe to call inside a traced function.
"""
from __future__ import annotations

import functools
import numbers
import os
import queue
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import functional as F
from ._inputs import refuse_subclasses
from .backend import namespace

__all__ = ["sample_gumbel_softmax", "gumbel_softmax_vjp", "default_threads", "BLOCK_BYTES"]

BLOCK_BYTES = 1 << 20        # one block of one array (see "Why faster", point 1)
_MIN_THREADED = 1 << 17      # below this many elements, thread hand-offs cost more than they save


# ----------------------------------------------------------------------------- threads

def default_threads() -> int:
    """Threads the helpers use when ``threads=None``: $MINIGUMBEL_THREADS, else the usable CPUs (≤ 8)."""
    env = os.environ.get("MINIGUMBEL_THREADS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"MINIGUMBEL_THREADS must be a positive integer, got {env!r}") from None
        if n < 1:
            raise ValueError(f"MINIGUMBEL_THREADS must be a positive integer, got {env!r}")
        return n
    return _usable_cpus()


@functools.lru_cache(maxsize=1)
def _usable_cpus() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0


def _pool(workers: int) -> ThreadPoolExecutor:
    global _POOL, _POOL_SIZE
    if _POOL is None or _POOL_SIZE < workers:
        _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="minigumbel-fast")
        _POOL_SIZE = workers
    return _POOL


def _run_blocks(n_rows: int, rows: int, work, draw=None, threads: int = 1) -> None:
    """Call ``draw(r0, r1)`` on each row block in order, in this thread, and ``work(r0, r1)`` on
    each block once drawn, spread over ``threads`` threads (this one included)."""
    blocks = [(r0, min(r0 + rows, n_rows)) for r0 in range(0, n_rows, rows)]
    if threads <= 1 or len(blocks) < 2:
        for b in blocks:
            if draw is not None:
                draw(*b)
            work(*b)
        return
    todo: queue.SimpleQueue = queue.SimpleQueue()
    helpers = min(threads, len(blocks)) - 1

    def consume():
        while (b := todo.get()) is not None:
            work(*b)

    futures = [_pool(helpers).submit(consume) for _ in range(helpers)]
    try:
        for b in blocks:
            if draw is not None:
                draw(*b)
            todo.put(b)
    finally:
        for _ in range(helpers + 1):
            todo.put(None)          # one stop sign per consumer, queued after every block
        try:
            consume()               # this thread joins in on whatever is left
        finally:
            for f in futures:
                f.result()          # wait for the helpers; re-raise their errors here


# ----------------------------------------------------------------------------- argument checks

def _as_rows(a, name: str):
    """``a`` as a C-contiguous (rows, K) view (a copy only when ``a`` is not contiguous)."""
    if a.ndim == 0:
        raise ValueError(f"{name} must have at least one axis (the categories), got a scalar")
    F.float_dtype(a.dtype, name)                 # float32/float64; float16: the library's one error
    if a.shape[-1] == 0:
        raise ValueError(f"{name} has an empty last axis (no categories): shape {a.shape}")
    return np.ascontiguousarray(a).reshape(-1, a.shape[-1])


def _out_rows(out, like, name: str, avoid=()):
    if out is None:
        return np.empty(like.shape, like.dtype).reshape(-1, like.shape[-1]), None
    if not isinstance(out, np.ndarray) or out.shape != like.shape or out.dtype != like.dtype \
            or not out.flags.c_contiguous:
        raise ValueError(f"{name} must be a C-contiguous {like.dtype} array of shape {like.shape}")
    for other, other_name in avoid:
        if np.may_share_memory(out, other):
            raise ValueError(f"{name} must not share memory with {other_name}")
    return out.reshape(-1, like.shape[-1]), out


def _tau_rows(tau, like, rows2d):
    """τ checked as the reference checks it; a scalar stays a Python float (no dtype promotion),
    an array is broadcast to the logits and viewed as rows."""
    tau = F.check_tau(tau, like.dtype)
    if isinstance(tau, numbers.Real):
        return float(tau)
    return np.broadcast_to(tau, like.shape).reshape(rows2d.shape)


_LOCAL = threading.local()


def _scratch(shape, dtype):
    """A work array of this thread, kept between calls (no allocation in the block loop)."""
    buf = getattr(_LOCAL, "buf", None)
    size = int(np.prod(shape))
    if buf is None or buf.dtype != dtype or buf.size < size:
        buf = _LOCAL.buf = np.empty(size, dtype)
    return buf[:size].reshape(shape)


def _block_rows(k: int, itemsize: int) -> int:
    return max(1, BLOCK_BYTES // (k * itemsize))


def _threads(threads, size: int) -> int:
    if threads is not None and (isinstance(threads, bool) or int(threads) < 1):
        raise ValueError(f"threads must be >= 1, got {threads!r}")
    if size < _MIN_THREADED:
        return 1
    return default_threads() if threads is None else int(threads)


def _is_plain_numpy(*arrays) -> bool:
    return namespace(*arrays) is np


def _is_cupy(*arrays) -> bool:
    return any(type(a).__module__.startswith("cupy") for a in arrays)


# ----------------------------------------------------------------------------- uniforms

_SPLIT32 = (np.random.PCG64, np.random.PCG64DXSM, np.random.SFC64, np.random.Philox)
_TWO_M24 = np.float32(2.0 ** -24)


def _uniform_drawer(rng, y):
    """``draw(r0, r1)`` that fills rows y[r0:r1] with exactly what ``rng.random(dtype=y.dtype)``
    would put there, continuing the stream block after block.

    float32 shortcut: Generator.random(dtype=float32) makes each number from one 32-bit word x as
    (x >> 8) · 2⁻²⁴, and for the bit generators in _SPLIT32 the words are the low then the high
    half of each 64-bit output. So taking the 64-bit outputs in bulk (``random_raw``) and splitting
    them (a little-endian uint32 view) gives the same numbers without the per-number loop (1.0–1.4×
    faster at 4096×1024 here, noisy) — provided no half-word
    is waiting in the generator's buffer (checked) and each block takes an even count.
    """
    bg = rng.bit_generator
    split = (y.dtype == np.float32 and isinstance(bg, _SPLIT32) and np.little_endian
             and y.size >= _MIN_THREADED and not bg.state.get("has_uint32", 1))
    state = {"split": split}

    def draw(r0, r1):
        block = y[r0:r1]                                      # (b, K)
        if state["split"] and block.size % 2 == 0:
            words = bg.random_raw(block.size // 2).view(np.uint32).reshape(block.shape)
            np.right_shift(words, 8, out=words)
            np.multiply(words, _TWO_M24, out=block, dtype=np.float32, casting="unsafe")  # exact
        else:
            rng.random(dtype=y.dtype, out=block)
            state["split"] = False                            # a half-word may now be buffered
    return draw


# ----------------------------------------------------------------------------- forward

def sample_gumbel_softmax(rng, logits, tau=1.0, hard=False, return_soft=False, out=None, threads=None,
                          exact=False):
    """Draw a Gumbel-Softmax sample y = softmax((θ + g)/τ) along the last axis, noise drawn inside.

    The same as ``F.gumbel_softmax(logits, F.sample_gumbel(rng, logits.shape, logits.dtype), tau,
    hard, return_soft=return_soft)`` — same draws taken from ``rng`` (Jang, Gu & Poole 2017;
    Maddison, Mnih & Teh 2017) — computed in cache-sized row blocks, in place, over ``threads``
    threads (None: :func:`default_threads`). The numbers are bit-for-bit the reference's, except
    for a soft sample at τ = 1 with ``exact=False`` (the default): that one takes a cheaper route
    with one log fewer (see :func:`_soft_sample_tau1`), equal to the reference within 4e-6
    relative in float32 (1e-14 in float64). ``exact=True`` always gives the reference's bits.

    ``out``: an optional C-contiguous array like ``logits`` that receives the soft sample (reuse it
    across steps to skip the allocation). ``hard=True`` returns the one-hot argmax(θ + g) whose
    gradient is the soft one (straight-through; see F.gumbel_softmax_vjp), and
    ``return_soft=True`` returns ``(y, y_soft)``. On CuPy arrays this runs one fused kernel per
    call (minigumbel.fast_cupy).
    """
    if _is_cupy(logits):
        from . import fast_cupy
        return fast_cupy.sample_gumbel_softmax(rng, logits, tau, hard, return_soft, out)
    if not _is_plain_numpy(logits, tau):   # autograd tracing: the readable path, same numbers
        g = F.sample_gumbel(rng, tuple(logits.shape), F._value(logits).dtype)
        return F.gumbel_softmax(logits, g, tau, hard, return_soft=return_soft)
    if F._rng_module(rng) is not np:
        raise TypeError("rng must be a numpy.random.Generator for NumPy logits")
    refuse_subclasses(("logits", logits), ("out", out))
    logits = np.asarray(logits)
    theta = _as_rows(logits, "logits")                        # (n, K)
    tau_r = _tau_rows(tau, logits, theta)
    y, out_arr = _out_rows(out, logits, "out", [(logits, "logits")])   # (n, K): u, then y
    n, k = theta.shape
    idx = np.empty(n, np.intp) if hard else None
    draw = _uniform_drawer(rng, y)                            # u ~ U[0, 1), in stream order
    if not (exact or hard) and isinstance(tau_r, float) and tau_r == 1.0:
        work = _soft_sample_tau1(theta, y)
    else:
        work = _sample_exact(theta, y, tau_r, idx)
    _run_blocks(n, _block_rows(k, theta.dtype.itemsize), work, draw, _threads(threads, theta.size))
    y_soft = out_arr if out_arr is not None else y.reshape(logits.shape)
    return _finish(np, y_soft, idx, hard, return_soft)


def _finish(xp, y_soft, idx, hard, return_soft):
    """The return value: y_soft, or the one-hot rows of ``idx`` (hard), with y_soft if asked."""
    if not hard:
        return (y_soft, y_soft) if return_soft else y_soft
    k = y_soft.shape[-1]
    y_hard = xp.zeros((idx.size, k), y_soft.dtype)                # (n, K)
    y_hard[xp.arange(idx.size), idx] = 1
    y_hard = y_hard.reshape(y_soft.shape)
    return (y_hard, y_soft) if return_soft else y_hard


def _sample_exact(theta, y, tau_r, idx):
    """The reference's operations, in its order, on one row block: y[r0:r1] holds u on entry."""
    lo, hi = F._uniform_bounds(theta.dtype)                   # the reference's clip bounds

    def work(r0, r1):
        s = y[r0:r1]                                          # (b, K), u on entry
        np.clip(s, lo, hi, out=s)                             # u in (0, 1): both logs finite
        np.log(s, out=s)
        np.negative(s, out=s)                                 # E = -log u ~ Exp(1)
        np.log(s, out=s)                                      # log E = -g
        np.subtract(theta[r0:r1], s, out=s)                   # θ + g
        if idx is not None:
            idx[r0:r1] = np.argmax(s, axis=-1)                # the reference's argmax(θ + g)
        t = tau_r if isinstance(tau_r, float) else tau_r[r0:r1]
        if not (isinstance(t, float) and t == 1.0):           # x / 1 == x: skipping is exact
            np.divide(s, t, out=s)                            # z = (θ + g)/τ
        m = np.maximum.reduce(s, axis=-1, keepdims=True)      # (b, 1), as np.max
        if (m == -np.inf).any():
            raise F._all_masked()
        np.subtract(s, m, out=s)
        np.exp(s, out=s)                                      # -inf (masked) -> 0
        np.divide(s, np.add.reduce(s, axis=-1, keepdims=True), out=s)   # as np.sum
    return work


# At τ = 1, with E = −log u and g = −log E:  exp(θ_j + g_j) = exp(θ_j) / E_j, so
#   y_j = [exp(θ_j − max θ) / E_j] / Σ_i [exp(θ_i − max θ) / E_i]
# needs one log instead of two. The signs cancel, so w_j = exp(θ_j − max θ) / log u_j (< 0)
# gives the same y without negating. Range: e ≤ 1 and |1/log u| ≤ 1/(ulp/2) ≈ 1.7e7 (float32),
# and the largest θ gives e = 1, |w| ≥ 1/87.4: no overflow, no zero sum. Round-off: the
# reference rounds θ + g (|θ + g| < 32 → abs. error ≤ 1.9e-6, so relative 1.9e-6 in y);
# this route rounds only e, 1/log u and the sums: the two agree to ~4e-6 (float32).
def _soft_sample_tau1(theta, y):
    lo, hi = F._uniform_bounds(theta.dtype)

    def work(r0, r1):
        s, th = y[r0:r1], theta[r0:r1]                        # (b, K): u on entry
        np.clip(s, lo, hi, out=s)
        np.log(s, out=s)                                      # log u = −E < 0
        m = np.maximum.reduce(th, axis=-1, keepdims=True)     # (b, 1): max θ (max of θ + g is
        if (m == -np.inf).any():                              #  −inf iff this is)
            raise F._all_masked()
        e = np.subtract(th, m, out=_scratch(th.shape, th.dtype))   # (b, K)
        np.exp(e, out=e)                                      # exp(θ − max θ); masked -> 0
        np.divide(e, s, out=s)                                # w = −exp(θ − max θ)/E
        np.divide(s, np.add.reduce(s, axis=-1, keepdims=True), out=s)
    return work


# ----------------------------------------------------------------------------- backward

# The rule is F.gumbel_softmax_vjp's (the softmax VJP), unchanged, row block by row block:
#   dθ_j = y_j (dy_j − ⟨dy, y⟩) / τ
# evaluated as y * (dy − Σ dy·y) / τ in that order, so the numbers match the reference exactly.
def gumbel_softmax_vjp(dy, y_soft, tau=1.0, out=None, threads=None):
    """∂L/∂θ for y = gumbel_softmax(θ, g, τ, hard), given dy = ∂L/∂y and the soft sample.

    Exactly ``F.gumbel_softmax_vjp(dy, y_soft, tau)`` along the last axis, in cache-sized row
    blocks over ``threads`` threads. ``out`` may be ``dy`` itself (the gradient overwrites it)
    but must not overlap ``y_soft``.
    """
    if _is_cupy(dy, y_soft):
        from . import fast_cupy
        return fast_cupy.gumbel_softmax_vjp(dy, y_soft, tau, out)
    if not _is_plain_numpy(dy, y_soft, tau):
        return F.gumbel_softmax_vjp(dy, y_soft, tau)
    refuse_subclasses(("dy", dy), ("y_soft", y_soft), ("out", out))
    dy, y_soft = np.asarray(dy), np.asarray(y_soft)
    F._same_shape(dy, y_soft, "dy", "y_soft")
    d2 = _as_rows(dy, "dy")                                   # (n, K)
    y2 = _as_rows(y_soft, "y_soft")                           # (n, K)
    if d2.dtype != y2.dtype:
        raise ValueError(f"dy is {d2.dtype} but y_soft is {y2.dtype}; they must match")
    tau_r = _tau_rows(tau, y_soft, y2)
    dx, out_arr = _out_rows(out, y_soft, "out", [(y_soft, "y_soft")])
    n, k = y2.shape
    in_place = np.may_share_memory(dx, d2)                    # out is dy: keep dy until dy − c

    def work(r0, r1):
        o, yb, db = dx[r0:r1], y2[r0:r1], d2[r0:r1]          # (b, K) each
        prod = np.multiply(db, yb, out=None if in_place else o)
        c = np.add.reduce(prod, axis=-1, keepdims=True)       # ⟨dy, y⟩ per row, (b, 1)
        np.subtract(db, c, out=o)
        np.multiply(yb, o, out=o)
        t = tau_r if isinstance(tau_r, float) else tau_r[r0:r1]
        if not (isinstance(t, float) and t == 1.0):
            np.divide(o, t, out=o)

    _run_blocks(n, _block_rows(k, y2.dtype.itemsize), work, None, _threads(threads, y2.size))
    return out_arr if out_arr is not None else dx.reshape(y_soft.shape)
