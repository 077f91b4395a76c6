"""A strict CuPy stand-in, so that every CuPy path of minigumbel runs in CI without a GPU.

``install()`` puts a module object named ``cupy`` into ``sys.modules`` for the test session
(tests/conftest.py does it when no real CuPy with a working device is there); minigumbel's
``import cupy`` then gets it exactly as it would get real CuPy. The library never imports this
package. ``uninstall()`` undoes it.

What it mimics (and checks, so that it fails wherever real CuPy 14 fails):
- device arrays are ``cupy.ndarray``, a wrapper type (class module ``cupy``), *not* a
  ``numpy.ndarray`` subclass; ``np.asarray(x)``/``__array__`` raise TypeError as CuPy does;
  ``.get()``, ``cupy.asnumpy``, ``.item()``, ``.tolist()``, ``float()``, ``int()``, ``bool()``
  and ``repr`` work and are counted as device->host transfers (``transfers()``, ``counting()``);
- a host ``numpy.ndarray`` in any device operation (operators, ufuncs, functions, indexing,
  ``__setitem__``, ``out=``) is a TypeError; Python/NumPy scalars are fine in ufuncs and
  operators; array-first functions (``expand_dims``, ``moveaxis``, ``sum``...) reject scalars;
- only the names real CuPy 14 has, at module, ``random``, ``random.Generator``, ``ndarray``,
  ``cuda`` and ``cuda.runtime`` level (names.json, written by make_names.py from the real
  package; tests/test_cupy_standin.py compares it with the installed CuPy);
- CuPy's Generator: ``default_rng(seed)`` = ``Generator(XORWOW(seed))``, ``random``,
  ``standard_normal``, ``integers`` with CuPy's signatures and dtypes, no ``normal``/``choice``/
  ``gumbel``/``permutation``, ``bit_generator.state`` a method; a stream different from NumPy's;
- reductions and integer indexing return 0-d device arrays; ``out=`` returns the same object;
- ``cuda.runtime.getDeviceCount()`` (1), ``getDeviceProperties``, ``Device``, streams, events,
  ``synchronize`` (no-ops: work is eager).

What it cannot do:
- run CUDA: ``ElementwiseKernel``, ``RawKernel``, ``RawModule``, ``ReductionKernel``, ``fuse``,
  DLPack and raw device memory raise NotImplementedError (the fused-kernel tests stay GPU-only);
- reproduce CuPy's numbers: arithmetic is NumPy's (same IEEE results for +, *, /; CUDA's
  exp/log differ by a few ulp), reductions are summed in NumPy's order, and the random streams are
  not XORWOW's; tests must not expect CuPy's exact random numbers;
- be asynchronous or measure GPU time; mimic CuPy's legacy global random functions (they raise);
- check every signature of every function: arguments are passed on to NumPy's implementation.
"""
from __future__ import annotations

import contextlib
import importlib.machinery
import json
import os
import sys
import types

from . import cudart, devarray, functions, rand

__all__ = ["install", "uninstall", "module", "transfers", "counting", "NAMES"]

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "names.json")) as _f:
    NAMES = json.load(_f)

devarray.finish_class(NAMES["ndarray"])


def _build() -> types.ModuleType:
    cupy = types.ModuleType("cupy", "CuPy stand-in (tests/cupy_standin): NumPy behind CuPy's API")
    random = types.ModuleType("cupy.random")
    rand.build(random, NAMES)
    cuda = cudart.build(NAMES)
    functions.build(cupy, NAMES, {"random": random, "cuda": cuda})
    for name, mod in (("cupy", cupy), ("cupy.random", random), ("cupy.cuda", cuda),
                      ("cupy.cuda.runtime", cuda.runtime)):
        mod.__spec__ = importlib.machinery.ModuleSpec(name, None)    # importlib.util.find_spec works
    cupy.__version__ = NAMES["cupy_version"]
    cupy.__standin__ = True
    return cupy


module = _build()
_SUBMODULES = {"cupy": module, "cupy.random": module.random, "cupy.cuda": module.cuda,
               "cupy.cuda.runtime": module.cuda.runtime}
_saved: dict = {}


def install() -> types.ModuleType:
    """Make ``import cupy`` (and cupy.random, cupy.cuda, cupy.cuda.runtime) give the stand-in.
    Any real CuPy already imported is removed from sys.modules for the time being."""
    if sys.modules.get("cupy") is module:
        return module
    for name in [n for n in sys.modules if n == "cupy" or n.startswith(("cupy.", "cupyx"))]:
        _saved[name] = sys.modules.pop(name)
    sys.modules.update(_SUBMODULES)
    return module


def uninstall() -> None:
    for name in _SUBMODULES:
        if sys.modules.get(name) is _SUBMODULES[name]:
            del sys.modules[name]
    sys.modules.update(_saved)
    _saved.clear()


def transfers() -> int:
    """Device->host transfers made so far (a running count)."""
    return devarray.TRANSFERS[0]


@contextlib.contextmanager
def counting():
    """``with counting() as n: ...`` then ``n()`` is the transfers made inside the block."""
    start = transfers()
    end = []
    try:
        yield lambda: (end[0] if end else transfers()) - start
    finally:
        end.append(transfers())
