"""The stand-in's module-level functions, built from names.json over NumPy's implementations.

Each CuPy name falls in one class (see ``build``):
- NumPy's very object in CuPy too (dtypes, ``inf``, ``finfo``...): NumPy's object;
- a ufunc (``exp``, ``add``, ``maximum``...): device arrays and Python/NumPy scalars, ``out=``;
- array creation (``asarray``, ``zeros``, ``arange``...): host data allowed, copied to the device;
- everything else is "array-first": its first argument must be a device array (CuPy raises
  TypeError/AttributeError for a scalar there, e.g. ``expand_dims(1.0, 0)``), or for
  ``concatenate``/``stack``... a sequence of them. Host arrays anywhere are a TypeError.
- names only CuPy has: implemented where CPU semantics exist (``asnumpy``, ``get_array_module``),
  else a callable that raises NotImplementedError (``ElementwiseKernel``, ``RawKernel``...).
"""
from __future__ import annotations

import types

import numpy as np

from .devarray import SYNCING, _transfer, call, ndarray, wrap

UFUNCS: dict = {}
FUNCTIONS: dict = {}       # name -> stand-in implementation (what __array_function__ may call)

CREATION = {"array", "asarray", "asanyarray", "zeros", "ones", "empty", "full", "arange", "linspace",
            "logspace", "geomspace", "eye", "identity", "tri", "fromfunction", "frombuffer", "fromiter",
            "fromstring", "fromfile", "loadtxt", "genfromtxt", "load", "diagflat", "asfortranarray"}
PASS_THROUGH = {"result_type", "can_cast", "min_scalar_type", "common_type", "isscalar", "ndim", "shape",
                "size", "einsum", "broadcast_arrays", "meshgrid", "ix_", "atleast_1d", "atleast_2d",
                "atleast_3d", "nested_iters", "base_repr", "binary_repr", "savez", "save",
                "savez_compressed", "savetxt", "require", "select", "piecewise", "choose"}
SEQUENCE_FIRST = {"concatenate", "stack", "hstack", "vstack", "dstack", "column_stack", "row_stack",
                  "block", "lexsort"}
REMOVED_FROM_NUMPY = {"Inf": np.inf, "Infinity": np.inf, "infty": np.inf, "PINF": np.inf, "NINF": -np.inf,
                      "NAN": np.nan, "NaN": np.nan, "PZERO": 0.0, "NZERO": -0.0}
ARRAY_KEYWORDS = ("a", "array", "x", "ary", "arr", "m", "x1")


def unsupported(qualname: str):
    def f(*args, **kwargs):
        raise NotImplementedError(f"{qualname} cannot run in the CuPy stand-in (tests/cupy_standin): "
                                  "it needs CUDA on a real GPU")
    f.__name__ = qualname.rsplit(".", 1)[-1]
    f.__qualname__ = qualname
    return f


def _ufunc(name, np_ufunc):
    def f(*args, out=None, **kwargs):
        for a in args:
            if isinstance(a, (list, tuple)):
                raise TypeError(f"Unsupported type {type(a)} (cupy.{name} takes cupy.ndarray or scalars)")
        if out is not None:
            outs = out if isinstance(out, tuple) else (out,)
            if any(type(o) is not ndarray for o in outs):
                raise TypeError(f"cupy.{name}: out must be a cupy.ndarray, got {type(outs[0]).__name__}")
            kwargs["out"] = out
        return call(np_ufunc, args, kwargs, f"cupy.{name}")
    f.__name__ = name
    f.nin, f.nout = np_ufunc.nin, np_ufunc.nout
    return f


def _array_first(name, np_func):
    def f(*args, **kwargs):
        first = args[0] if args else next((kwargs[k] for k in ARRAY_KEYWORDS if k in kwargs), None)
        if type(first) is not ndarray:
            raise TypeError(f"cupy.{name}: argument 'a' has incorrect type (expected cupy.ndarray, "
                            f"got {type(first).__name__})")
        if name in SYNCING:
            _transfer()                            # the output's size is read back to the host
        return call(np_func, args, kwargs, f"cupy.{name}")
    f.__name__ = name
    return f


def _sequence_first(name, np_func):
    def f(arrays, *args, **kwargs):
        if isinstance(arrays, ndarray):
            arrays = list(arrays)
        return call(np_func, (list(arrays),) + args, kwargs, f"cupy.{name}")
    f.__name__ = name
    return f


def _pass_through(name, np_func):
    def f(*args, **kwargs):
        return call(np_func, args, kwargs, f"cupy.{name}")
    f.__name__ = name
    return f


def _to_device(obj, dtype=None, copy=True, **kwargs):
    if type(obj) is ndarray:
        if (dtype is None or np.dtype(dtype) == obj.dtype) and not copy:
            return obj
        return wrap(np.array(obj._a, dtype=dtype, copy=True, **kwargs))
    host = _host_data(obj)
    return wrap(np.array(host, dtype=dtype, copy=True, **kwargs))    # a host->device copy


def _host_data(obj):
    """Host data for array creation: device arrays nested in lists are taken as their buffers."""
    if type(obj) is ndarray:
        return obj._a
    if isinstance(obj, (list, tuple)):
        return [_host_data(v) for v in obj]
    return obj


def asarray(a, dtype=None, order=None, *, blocking=False):
    return _to_device(a, dtype, copy=False, **({} if order is None else {"order": order}))


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    r = _to_device(obj, dtype, copy=copy, order=order)
    while r.ndim < ndmin:
        r = r[None]
    return r


def _creation(name, np_func):
    def f(*args, **kwargs):
        kwargs = {k: v for k, v in kwargs.items() if k != "blocking"}
        return wrap(np_func(*_host_data(list(args)), **{k: _host_data(v) for k, v in kwargs.items()}))
    f.__name__ = name
    return f


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    if type(a) is ndarray:
        return a.get(stream, order=order, out=out, blocking=blocking)
    r = np.asarray(a, order=order)
    if out is not None:
        np.copyto(out, r)
        return out
    return r


def build(module: types.ModuleType, names: dict, submodules: dict) -> None:
    """Fill ``module`` (the stand-in ``cupy``) with exactly the module-level names of real CuPy."""
    special = {"ndarray": ndarray, "asarray": asarray, "array": array, "asnumpy": asnumpy,
               "is_available": lambda: True, **submodules}
    special["get_array_module"] = lambda *args: module if any(type(a) is ndarray for a in args) else np
    for kernel in ("ElementwiseKernel", "RawKernel", "RawModule", "ReductionKernel", "fuse", "fromDlpack",
                   "from_dlpack", "get_default_memory_pool", "get_default_pinned_memory_pool"):
        special[kernel] = unsupported(f"cupy.{kernel}")
    numpy_objects = set(names["numpy_objects"])
    for name in names["module"]:
        obj = getattr(np, name, None)
        if name in special:
            value = special[name]
        elif name in numpy_objects:
            value = obj
        elif name in REMOVED_FROM_NUMPY:
            value = REMOVED_FROM_NUMPY[name]
        elif isinstance(obj, np.ufunc):
            value = UFUNCS[name] = _ufunc(name, obj)
        elif obj is None or isinstance(obj, (type, types.ModuleType)) or not callable(obj):
            value = unsupported(f"cupy.{name}")          # submodules, classes, CuPy-only helpers
        elif name in CREATION:
            value = _creation(name, obj)
        elif name in SEQUENCE_FIRST:
            value = _sequence_first(name, obj)
        elif name in PASS_THROUGH:
            value = _pass_through(name, obj)
        else:
            value = _array_first(name, obj)
        if callable(value) and not isinstance(value, (type, types.ModuleType)):
            FUNCTIONS[name] = value
        setattr(module, name, value)
    # aliases NumPy's ufunc machinery asks for by their NumPy 2 names
    for alias, name in (("divide", "true_divide"), ("absolute", "abs"), ("conjugate", "conj")):
        if alias in UFUNCS and name not in UFUNCS:
            UFUNCS[name] = UFUNCS[alias]
        elif name in UFUNCS and alias not in UFUNCS:
            UFUNCS[alias] = UFUNCS[name]


def lookup(func):
    """The stand-in implementation for a NumPy function (``__array_function__``), or None."""
    mod = getattr(func, "__module__", None) or ""
    if not mod.startswith("numpy") or any(sub in mod for sub in ("linalg", "fft", "random")):
        return None
    return FUNCTIONS.get(func.__name__)
