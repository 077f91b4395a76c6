"""What produced a result (versions, BLAS and its kernels, CPU), and OpenBLAS's thread count.

Single training runs agree bit for bit only where the GEMM summation order is the same: same BLAS
build, same kernel family (OpenBLAS picks one per CPU: Haswell, SkylakeX, ...). Sweep records
carry :func:`versions` so a difference between two machines can be traced. OpenBLAS is reached
through ctypes (as threadpoolctl does), so nothing beyond NumPy is needed; elsewhere (MKL,
Accelerate) the functions return None and change nothing.
"""
from __future__ import annotations

import contextlib
import ctypes
import platform

__all__ = ["versions", "blas_build", "blas_core", "blas_thread_count", "blas_threads"]

_LIB = []          # [(ctypes library, symbol prefix, symbol suffix)] once found; [None] if none


def _openblas():
    if not _LIB:
        import numpy  # noqa: F401  (loads NumPy's BLAS)
        found = None
        try:
            with open("/proc/self/maps") as fh:
                paths = sorted({ln.split()[-1] for ln in fh if "openblas" in ln.lower() and ".so" in ln})
            for path in paths:
                lib = ctypes.CDLL(path)
                for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""), ("openblas", "64_"),
                                       ("openblas", "")):
                    if hasattr(lib, f"{prefix}_get_corename{suffix}"):
                        found = (lib, prefix, suffix)
                        break
                if found:
                    break
        except (OSError, AttributeError, ValueError):
            pass
        _LIB.append(found)
    return _LIB[0]


def _call(name, *args, restype=ctypes.c_int):
    lib = _openblas()
    if lib is None:
        return None
    fn = getattr(lib[0], f"{lib[1]}_{name}{lib[2]}", None)
    if fn is None:
        return None
    fn.restype = restype
    return fn(*args)


def blas_core():
    """The kernel family OpenBLAS picked for this CPU (e.g. "Haswell"), or None."""
    name = _call("get_corename", restype=ctypes.c_char_p)
    return name.decode() if name else None


@contextlib.contextmanager
def blas_threads(n: int):
    """Run the block with OpenBLAS on ``n`` threads, then restore the count (no-op without OpenBLAS)."""
    before = _call("get_num_threads")
    if before is not None:
        _call("set_num_threads", ctypes.c_int(n), restype=None)
    try:
        yield
    finally:
        if before is not None:
            _call("set_num_threads", ctypes.c_int(before), restype=None)


def blas_build() -> dict:
    """{"name", "version"} of the BLAS NumPy was built with (from numpy.show_config)."""
    import numpy as np
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return {"name": cfg.get("name"), "version": cfg.get("version")}
    except Exception:                                        # pragma: no cover - old NumPy
        return {"name": "unknown", "version": None}


def blas_thread_count():
    """OpenBLAS's current thread count, or None (another BLAS)."""
    return _call("get_num_threads")


_VERSIONS = {}


def versions() -> dict:
    """{minigumbel, python, numpy, blas, blas_core, blas_threads, machine, cpu} of this process."""
    if not _VERSIONS:
        import numpy as np
        from . import __version__
        build = blas_build()
        blas = f"{build['name']} {build['version'] or ''}".strip()
        _VERSIONS.update({"minigumbel": __version__, "python": platform.python_version(), "numpy": np.__version__,
                          "blas": blas, "blas_core": blas_core(), "machine": platform.machine(), "cpu": _cpu_model()})
    threads = blas_thread_count()
    return {**_VERSIONS, "blas_threads": threads if threads is not None else "unknown"}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
