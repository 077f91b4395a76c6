"""Array backends: NumPy on the CPU, CuPy on a CUDA GPU.

A :class:`Backend` is an object you pass around (never a global you mutate). All math in
minigumbel asks :func:`namespace` which array module owns its inputs, so one forward function
runs on NumPy, on CuPy and under autograd's tracer without change.

Random numbers come only from explicit Generators (``backend.rng(seed)``). The same seed gives
the same stream run to run on one backend; NumPy's and CuPy's streams differ from each other.
"""
from __future__ import annotations

import sys

import numpy as np

__all__ = ["Backend", "BackendUnavailable", "get_backend", "namespace", "to_numpy", "BACKENDS"]

BACKENDS = ("numpy", "cupy", "auto")


class BackendUnavailable(RuntimeError):
    """The requested array backend cannot be used here (the message says why)."""


class Backend:
    """An array module plus the few operations the library needs around it."""

    def __init__(self, name: str, xp):
        self.name = name
        self.xp = xp

    def __repr__(self) -> str:
        return f"Backend({self.name!r})"

    def rng(self, seed=None):
        """A fresh random Generator of this backend (PCG64 on NumPy, XORWOW on CuPy)."""
        return self.xp.random.default_rng(seed)

    def asarray(self, a, dtype=None):
        return self.xp.asarray(a, dtype=dtype)

    def to_numpy(self, a):
        return to_numpy(a)

    def synchronize(self) -> None:
        """Wait for queued device work (a no-op on NumPy); call before reading a timer."""
        if self.name == "cupy":
            self.xp.cuda.get_current_stream().synchronize()


_NUMPY = Backend("numpy", np)
_CUPY: Backend | None = None


_CTK_FIX = ("CuPy 14 loads NVRTC (kernel compiler) and cuBLAS at run time: install the CuPy wheel with its "
            "CUDA libraries, pip install 'cupy-cuda12x[ctk]' (or 'minigumbel[cuda12]', which includes it; "
            "cupy-cuda13x[ctk] / [cuda13] for CUDA 13), or a CUDA toolkit; or use --backend numpy")


def _load_cupy() -> Backend:
    global _CUPY
    if _CUPY is not None:
        return _CUPY
    try:
        import cupy
    except ImportError as exc:
        raise BackendUnavailable(
            "the 'cupy' backend needs CuPy, which is not installed "
            f"({exc}). Install it with: pip install 'minigumbel[cuda12]' "
            "(or [cuda13] for CUDA 13 drivers)"
        ) from None
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError and friends when no driver is present
        raise BackendUnavailable(
            f"CuPy is installed but no CUDA device answered ({type(exc).__name__}: {exc}); "
            "check the NVIDIA driver or use --backend numpy"
        ) from None
    if n < 1:
        raise BackendUnavailable("CuPy is installed but found no CUDA device; use --backend numpy")
    try:
        _probe(cupy)
    except Exception as exc:  # a missing libnvrtc/libcublas surfaces here, not in the first real step
        raise BackendUnavailable(
            f"CuPy found {n} CUDA device(s) but cannot compute on them ({type(exc).__name__}: {exc}). "
            + _CTK_FIX) from None
    _CUPY = Backend("cupy", cupy)
    return _CUPY


def _probe(cupy) -> None:
    """Run what every training step needs once: elementwise kernels (CuPy compiles each with
    NVRTC on first use; its kernel cache is keyed by the NVRTC version, so NVRTC must load even
    when the kernel is cached) and a matmul (cuBLAS). One 0-d value is read back to make sure
    the work ran."""
    x = cupy.arange(4, dtype=cupy.float32).reshape(2, 2)       # (2, 2)
    y = cupy.exp(x) * 0.5 + x                                   # elementwise: NVRTC
    z = cupy.matmul(y, y)                                       # cuBLAS sgemm
    if not bool(cupy.isfinite(z).all()):
        raise RuntimeError("a 2x2 test matmul gave non-finite values")


def get_backend(name: str | Backend = "numpy") -> Backend:
    """Return the backend called ``name``: "numpy", "cupy" or "auto".

    "auto" is CuPy when it imports *and* a CUDA device answers, else NumPy.
    Raises :class:`BackendUnavailable` for "cupy" when that is not possible, and
    ``ValueError`` for an unknown name.
    """
    if isinstance(name, Backend):
        return name
    if name == "numpy":
        return _NUMPY
    if name == "cupy":
        return _load_cupy()
    if name == "auto":
        try:
            return _load_cupy()
        except BackendUnavailable:
            return _NUMPY
    raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")


def _is_cupy(a) -> bool:
    return type(a).__module__.startswith("cupy")


def namespace(*arrays):
    """The array module that owns ``arrays``: numpy, cupy or autograd.numpy.

    autograd.numpy is returned when any argument is an autograd box (we are being traced),
    so the very same forward code can be differentiated by autograd. Python scalars and
    ``None`` are ignored. Mixing NumPy and CuPy arrays is a ``TypeError``.
    """
    on_gpu = on_cpu = traced = False
    for a in arrays:
        if type(a) is np.ndarray:          # the common case first: this runs on every op
            on_cpu = True
            continue
        if a is None or isinstance(a, (int, float, bool, np.generic)):
            continue
        if _is_cupy(a):
            on_gpu = True
        elif isinstance(a, np.ndarray):
            on_cpu = True
        elif "autograd" in sys.modules and _is_box(a):
            traced = True
    if on_gpu and (on_cpu or traced):
        raise TypeError("cannot mix CuPy (GPU) arrays with NumPy/autograd (CPU) arrays; "
                        "move them to one backend first (Backend.asarray / to_numpy)")
    if traced:
        import autograd.numpy as anp
        return anp
    if on_gpu:
        import cupy
        return cupy
    return np


def _is_box(a) -> bool:
    from autograd.tracer import Box
    return isinstance(a, Box)


def to_numpy(a):
    """Copy ``a`` to a host NumPy array (an explicit, deliberate device->host transfer)."""
    if _is_cupy(a):
        return a.get()
    return np.asarray(a)
