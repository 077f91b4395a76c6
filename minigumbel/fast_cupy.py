"""Fused CuPy kernels for the Gumbel-Softmax forward and its VJP (imported only for CuPy arrays).

:mod:`minigumbel.fast` sends CuPy arrays here. The readable rules in :mod:`minigumbel.functional`
stay the source of truth; tests/test_fast.py compares these kernels with them (on a GPU).

Forward — one CUDA block per row, after ``u = rng.random(shape, dtype)`` (the very draw that
``sample_gumbel`` makes, so the same Generator state gives the same noise):

1. s_j = (θ_j − log(−log clip(u_j)))/τ, written over u; block max m (and argmax of θ + g for hard);
2. e_j = exp(s_j − m), written over s; block sum Z;
3. y_j = e_j / Z.

DRAM traffic: the draw writes u; the kernel reads θ and u and writes y once (passes 2 and 3 find
the row in L2). Backward — one block per row: c = ⟨dy, y⟩ by block reduction, then
dθ_j = y_j (dy_j − c)/τ: it reads dy and y and writes dθ. Results differ from the NumPy reference
only by round-off: the row sums are added in a different order and CUDA's log/exp are not libm's.

A per-row τ array is not fused: such calls run the readable functions (same numbers, slower) and
write into ``out`` as the fused route does. A NumPy Generator with CuPy logits is a TypeError.
"""
from __future__ import annotations

import numbers

import cupy as cp
import numpy as np

from . import functional as F
from .fast import _finish
from .functional import _all_masked, _uniform_bounds

__all__ = ["sample_gumbel_softmax", "gumbel_softmax_vjp", "SOURCE"]

SOURCE = r"""
// T is float or double (a typedef put in front of this source).
__device__ __forceinline__ T warp_max(T v) {
    for (int o = 16; o > 0; o >>= 1) { T w = __shfl_xor_sync(0xffffffffu, v, o); v = w > v ? w : v; }
    return v;
}
__device__ __forceinline__ T warp_sum(T v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
// block-wide reductions; every thread gets the result. blockDim.x is a multiple of 32.
__device__ T block_max(T v, T ninf, T* sh) {
    v = warp_max(v);
    __syncthreads();                                 // sh may still be read by a previous call
    if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
    __syncthreads();
    v = (threadIdx.x & 31) < (blockDim.x >> 5) ? sh[threadIdx.x & 31] : ninf;
    return warp_max(v);
}
__device__ T block_sum(T v, T* sh) {
    v = warp_sum(v);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
    __syncthreads();
    v = (threadIdx.x & 31) < (blockDim.x >> 5) ? sh[threadIdx.x & 31] : (T)0;
    return warp_sum(v);
}
// argmax with ties to the lowest index (as numpy.argmax)
__device__ void block_argmax(T* v, int* i, T ninf, T* shv, int* shi) {
    for (int o = 16; o > 0; o >>= 1) {
        T w = __shfl_xor_sync(0xffffffffu, *v, o); int j = __shfl_xor_sync(0xffffffffu, *i, o);
        if (w > *v || (w == *v && j < *i)) { *v = w; *i = j; }
    }
    __syncthreads();
    if ((threadIdx.x & 31) == 0) { shv[threadIdx.x >> 5] = *v; shi[threadIdx.x >> 5] = *i; }
    __syncthreads();
    bool live = (threadIdx.x & 31) < (blockDim.x >> 5);
    *v = live ? shv[threadIdx.x & 31] : ninf;
    *i = live ? shi[threadIdx.x & 31] : 0x7fffffff;
    for (int o = 16; o > 0; o >>= 1) {
        T w = __shfl_xor_sync(0xffffffffu, *v, o); int j = __shfl_xor_sync(0xffffffffu, *i, o);
        if (w > *v || (w == *v && j < *i)) { *v = w; *i = j; }
    }
}

// y may be u itself (the sample is written over the uniforms).
extern "C" __global__ void gumbel_softmax_fwd(const T* theta, const T* u, T* y,
        const int k, const T tau, const T lo, const T hi, const T ninf,
        const int hard, long long* __restrict__ idx, int* __restrict__ bad) {
    __shared__ T sh[32];
    __shared__ int shi[32];
    const long long base = (long long)blockIdx.x * k;
    T m = ninf, hv = ninf;
    int hi_idx = 0x7fffffff;
    for (int j = threadIdx.x; j < k; j += blockDim.x) {
        T uj = u[base + j];
        uj = uj < lo ? lo : (uj > hi ? hi : uj);     // u in (0, 1): both logs finite
        T z = theta[base + j] - log(-log(uj));       // θ + g
        if (hard && z > hv) { hv = z; hi_idx = j; }  // j increases: strict > keeps the lowest
        T s = z / tau;
        y[base + j] = s;
        m = s > m ? s : m;
    }
    m = block_max(m, ninf, sh);
    if (hard) {
        block_argmax(&hv, &hi_idx, ninf, sh, shi);
        if (threadIdx.x == 0) idx[blockIdx.x] = hi_idx;
    }
    if (m == ninf && threadIdx.x == 0) *bad = 1;     // every category masked: the caller raises
    T z_sum = 0;
    for (int j = threadIdx.x; j < k; j += blockDim.x) {
        T e = exp(y[base + j] - m);
        y[base + j] = e;
        z_sum += e;
    }
    z_sum = block_sum(z_sum, sh);
    for (int j = threadIdx.x; j < k; j += blockDim.x) y[base + j] = y[base + j] / z_sum;
}

// dθ_j = y_j (dy_j − ⟨dy, y⟩)/τ; dx may be dy itself.
extern "C" __global__ void gumbel_softmax_bwd(const T* dy, const T* __restrict__ y, T* dx,
        const int k, const T tau) {
    __shared__ T sh[32];
    const long long base = (long long)blockIdx.x * k;
    T c = 0;
    for (int j = threadIdx.x; j < k; j += blockDim.x) c += dy[base + j] * y[base + j];
    c = block_sum(c, sh);
    for (int j = threadIdx.x; j < k; j += blockDim.x) dx[base + j] = y[base + j] * (dy[base + j] - c) / tau;
}
"""

_CTYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
_MODULES: dict = {}


def _function(name: str, dtype):
    dtype = np.dtype(dtype)
    if dtype not in _MODULES:
        _MODULES[dtype] = cp.RawModule(code=f"typedef {_CTYPE[dtype]} T;\n" + SOURCE)
    return _MODULES[dtype].get_function(name)


def _block(k: int) -> int:
    """Threads per row: about four elements each, a multiple of 32, at most 1024."""
    return int(min(1024, max(32, 32 * -(-k // 128))))


def _rows(a, name):
    if a.ndim == 0 or a.dtype not in _CTYPE or a.shape[-1] == 0:
        raise ValueError(f"{name} must be a float32/float64 array with a non-empty last axis, "
                         f"got {a.dtype} of shape {a.shape}")
    return cp.ascontiguousarray(a).reshape(-1, a.shape[-1])


def _check_out(out, like, name):
    if out is None:
        return None
    if not isinstance(out, cp.ndarray) or out.shape != like.shape or out.dtype != like.dtype \
            or not out.flags.c_contiguous:
        raise ValueError(f"{name} must be a C-contiguous CuPy {like.dtype} array of shape {like.shape}")
    return out


def _check_rng(rng):
    if F._rng_module(rng) is not cp:
        raise TypeError(f"rng must be a cupy.random.Generator for CuPy logits, got {type(rng).__module__}."
                        f"{type(rng).__name__}; make one with get_backend('cupy').rng(seed)")


def sample_gumbel_softmax(rng, logits, tau=1.0, hard=False, return_soft=False, out=None):
    """CuPy version of :func:`minigumbel.fast.sample_gumbel_softmax` (one fused kernel)."""
    _check_rng(rng)
    tau = F.check_tau(tau, logits.dtype)
    out = _check_out(out, logits, "out")
    if not isinstance(tau, numbers.Real):          # per-row τ: the readable path, its soft y into out
        g = F.sample_gumbel(rng, tuple(logits.shape), logits.dtype)
        y, y_soft = F.gumbel_softmax(logits, g, tau, hard, return_soft=True)
        if out is not None:
            out[...] = y_soft
            y, y_soft = (y, out) if hard else (out, out)
        return (y, y_soft) if return_soft else y
    theta = _rows(logits, "logits")                                 # (n, K)
    n, k = theta.shape
    u = rng.random(logits.shape, dtype=logits.dtype)               # sample_gumbel's draw
    y = u if out is None else out
    lo, hi = _uniform_bounds(logits.dtype)
    t = logits.dtype.type
    idx = cp.empty(n if hard else 1, cp.int64)
    bad = cp.zeros(1, cp.int32)
    if n:
        _function("gumbel_softmax_fwd", logits.dtype)(
            (n,), (_block(k),),
            (theta, u, y, np.int32(k), t(tau), t(lo), t(hi), t(-np.inf),
             np.int32(bool(hard)), idx, bad))
        if int(bad.get()[0]):                     # the reference raises here too (a host check)
            raise _all_masked()
    y_soft = out if out is not None else y.reshape(logits.shape)
    return _finish(cp, y_soft, idx[:n] if hard else None, hard, return_soft)


def gumbel_softmax_vjp(dy, y_soft, tau=1.0, out=None):
    """CuPy version of :func:`minigumbel.fast.gumbel_softmax_vjp` (one fused kernel)."""
    F._same_shape(dy, y_soft, "dy", "y_soft")
    if dy.dtype != y_soft.dtype:
        raise ValueError(f"dy is {dy.dtype} but y_soft is {y_soft.dtype}; they must match")
    tau = F.check_tau(tau, y_soft.dtype)
    out = _check_out(out, y_soft, "out")
    if not isinstance(tau, numbers.Real):          # per-row τ: the readable rule, written into out
        dx = F.gumbel_softmax_vjp(dy, y_soft, tau)
        if out is None:
            return dx
        out[...] = dx
        return out
    d2, y2 = _rows(dy, "dy"), _rows(y_soft, "y_soft")
    n, k = y2.shape
    dx = cp.empty_like(y2) if out is None else out.reshape(n, k)
    if n:
        _function("gumbel_softmax_bwd", y_soft.dtype)(
            (n,), (_block(k),), (d2, y2, dx, np.int32(k), y_soft.dtype.type(tau)))
    return out if out is not None else dx.reshape(y_soft.shape)
