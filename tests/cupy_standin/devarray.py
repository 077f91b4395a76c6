"""The stand-in's device array: a wrapper around a private NumPy buffer that is *not* an ndarray.

Everything that would cross the device/host boundary in real CuPy goes through three helpers:
``unwrap`` (device array -> its buffer; a host ``numpy.ndarray`` is a TypeError, as CuPy's
"Unsupported type"), ``wrap`` (buffer -> device array; NumPy scalars become 0-d device arrays, as
CuPy's reductions and integer indexing return) and ``_transfer`` (counts device->host copies).
"""
from __future__ import annotations

import numpy as np

# device->host transfers so far (.get(), asnumpy, item, tolist, float/int/bool/complex, repr, and
# the syncs CuPy makes to size an output: boolean-mask indexing, nonzero, unique...)
TRANSFERS = [0]
NAMES: dict = {}          # filled by the package from names.json before the class is finished


SYNCING = {"nonzero", "argwhere", "flatnonzero", "unique", "extract", "compress", "unique_values",
           "unique_counts", "unique_inverse", "unique_all", "trim_zeros"}


def _transfer():
    TRANSFERS[0] += 1


def host_array_error(where: str) -> TypeError:
    return TypeError(f"Unsupported type <class 'numpy.ndarray'> in {where}: a host NumPy array cannot "
                     "enter a CuPy operation (CuPy stand-in); move it with cupy.asarray first")


def unwrap(x, where: str):
    """The NumPy buffer behind a device array; scalars, dtypes, slices... pass through unchanged.
    Host arrays anywhere (also inside lists/tuples) are a TypeError."""
    if type(x) is ndarray:
        return x._a
    if isinstance(x, np.ndarray):
        raise host_array_error(where)
    if isinstance(x, (list, tuple)):
        return type(x)(unwrap(v, where) for v in x)
    if isinstance(x, dict):
        return {k: unwrap(v, where) for k, v in x.items()}
    return x


def wrap(r):
    """NumPy result -> device result (0-d device arrays for NumPy scalars)."""
    if isinstance(r, np.ndarray):
        return _new(r)
    if isinstance(r, np.generic):
        return _new(np.asarray(r))
    if isinstance(r, tuple):
        return tuple(wrap(v) for v in r)
    if isinstance(r, list):
        return [wrap(v) for v in r]
    return r


def _new(a: np.ndarray) -> "ndarray":
    obj = object.__new__(ndarray)
    obj._a = a
    return obj


def call(fn, args, kwargs, where):
    """Run NumPy's ``fn`` on unwrapped arguments; ``out=`` returns the very object passed."""
    out = kwargs.get("out")
    a = unwrap(args, where)
    kw = unwrap(kwargs, where)
    with np.errstate(all="ignore"):          # CuPy's kernels never warn about overflow or 0/0
        r = fn(*a, **kw)
    if out is not None:
        return out
    return wrap(r)


class ndarray:
    """A CuPy array on the stand-in's "device" (host memory that NumPy cannot see)."""
    __slots__ = ("_a",)
    __array_priority__ = 100.0
    __hash__ = None

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        if memptr is not None or strides is not None:
            raise NotImplementedError("CuPy stand-in: ndarray(memptr=, strides=) needs device memory")
        self._a = np.empty(shape, dtype, order=order)

    # -- what NumPy must not do implicitly --------------------------------------------------
    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        from . import functions as _functions
        f = _functions.UFUNCS.get(ufunc.__name__)
        if method != "__call__" or f is None:
            return NotImplemented
        return f(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        from . import functions as _functions
        f = _functions.lookup(func)
        if f is None:
            return NotImplemented
        return f(*args, **kwargs)

    # -- explicit device->host transfers (counted) ----------------------------------------
    def get(self, stream=None, order="C", out=None, blocking=True):
        _transfer()
        if out is not None:
            np.copyto(out, self._a)
            return out
        return np.array(self._a, order=order, copy=True)

    def set(self, arr, stream=None):
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"Only numpy.ndarray can be set to cupy.ndarray, got {type(arr).__name__}")
        if arr.shape != self._a.shape:
            raise ValueError(f"Shape mismatch: {arr.shape} vs {self._a.shape}")
        np.copyto(self._a, arr)

    def item(self, *args):
        _transfer()
        return self._a.item(*args)

    def tolist(self):
        _transfer()
        return self._a.tolist()

    def __float__(self):
        _transfer()
        return float(self._a)

    def __int__(self):
        _transfer()
        return int(self._a)

    def __complex__(self):
        _transfer()
        return complex(self._a)

    def __bool__(self):
        _transfer()
        return bool(self._a)

    def __repr__(self):
        _transfer()
        return repr(self._a)

    def __str__(self):
        _transfer()
        return str(self._a)

    def __format__(self, spec):
        _transfer()
        return format(self._a if self._a.ndim else self._a[()], spec)

    # -- shape and dtype ---------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: _new(self._a.T))
    mT = property(lambda self: _new(self._a.mT))
    real = property(lambda self: _new(self._a.real))
    imag = property(lambda self: _new(self._a.imag))
    base = property(lambda self: None if self._a.base is None else _new(self._a.base))

    @property
    def device(self):
        from . import cudart as _cuda
        return _cuda.Device(0)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (_new(self._a[i]) for i in range(len(self._a)))

    def __getitem__(self, key):
        key = unwrap(key, "an index")
        if any(isinstance(k, np.ndarray) and k.dtype == bool and k.ndim
               for k in (key if isinstance(key, tuple) else (key,))):
            _transfer()               # CuPy reads the mask's count back to size the result
        return wrap(self._a[key])

    def __setitem__(self, key, value):
        self._a[unwrap(key, "an index")] = unwrap(value, "__setitem__")

    def __copy__(self):
        return _new(self._a.copy())

    def __deepcopy__(self, memo):
        return _new(self._a.copy())

    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        kw = {} if casting is None else {"casting": casting}
        r = self._a.astype(dtype, order=order, copy=copy, **kw)
        return self if r is self._a else _new(r)

    def copy(self, order="C"):
        return _new(self._a.copy(order=order))

    def view(self, dtype=None, array_class=None):
        return _new(self._a.view() if dtype is None else self._a.view(dtype))

    def fill(self, value):
        self._a.fill(unwrap(value, "fill"))


def _method(name):
    def m(self, *args, **kwargs):
        if name in SYNCING:
            _transfer()
        return call(getattr(self._a, name), args, kwargs, f"ndarray.{name}")
    m.__name__ = name
    return m


def _binary(ufunc_name, reflected=False, inplace=False):
    def op(self, other):
        from . import functions as _functions
        f = _functions.UFUNCS[ufunc_name]
        if isinstance(other, (list, tuple)):
            raise TypeError(f"Unsupported type {type(other)} (CuPy stand-in)")
        if inplace:
            return f(self, other, out=self)
        return f(other, self) if reflected else f(self, other)
    return op


def _unary(ufunc_name):
    def op(self):
        from . import functions as _functions
        return _functions.UFUNCS[ufunc_name](self)
    return op


_OPERATORS = {"add": "add", "sub": "subtract", "mul": "multiply", "truediv": "true_divide",
              "floordiv": "floor_divide", "mod": "remainder", "pow": "power", "matmul": "matmul",
              "and": "bitwise_and", "or": "bitwise_or", "xor": "bitwise_xor",
              "lshift": "left_shift", "rshift": "right_shift", "divmod": "divmod"}
_COMPARE = {"eq": "equal", "ne": "not_equal", "lt": "less", "le": "less_equal", "gt": "greater",
            "ge": "greater_equal"}
_UNARY = {"neg": "negative", "pos": "positive", "abs": "absolute", "invert": "invert"}
# attributes CuPy's ndarray has that need device memory, CUDA or a file: unavailable here
_UNSUPPORTED = ("data", "cstruct", "mdspan", "reduced_view", "toDlpack", "__dlpack__", "__dlpack_device__",
                "__cuda_array_interface__", "dump", "dumps", "tofile", "tobytes", "__bytes__", "flat",
                "scatter_add", "scatter_max", "scatter_min", "byteswap", "__hex__", "__oct__")


def _unsupported(name):
    def m(self, *args, **kwargs):
        raise NotImplementedError(f"cupy.ndarray.{name} needs a GPU; the CuPy stand-in cannot run it")
    return property(m) if name in ("data", "cstruct", "mdspan", "flat", "__cuda_array_interface__") else m


def finish_class(names):
    """Give ``ndarray`` exactly the attributes real CuPy's ndarray has (names.json)."""
    have = set(names)
    for short, uf in _OPERATORS.items():
        for dunder, kw in ((f"__{short}__", {}), (f"__r{short}__", {"reflected": True}),
                           (f"__i{short}__", {"inplace": True})):
            if dunder in have and uf != "divmod":
                setattr(ndarray, dunder, _binary(uf, **kw))
    for short, uf in _COMPARE.items():
        setattr(ndarray, f"__{short}__", _binary(uf))
    for short, uf in _UNARY.items():
        if f"__{short}__" in have:
            setattr(ndarray, f"__{short}__", _unary(uf))
    for name in _UNSUPPORTED:
        if name in have:
            setattr(ndarray, name, _unsupported(name))
    for name in names:
        if name.startswith("_") or name in ndarray.__dict__:
            continue
        if callable(getattr(np.ndarray, name, None)):
            setattr(ndarray, name, _method(name))
        else:
            setattr(ndarray, name, _unsupported(name))
    # nothing NumPy's ndarray has and CuPy's lacks
    extra = [n for n in ndarray.__dict__ if not n.startswith("_") and n not in have]
    assert not extra, f"stand-in ndarray has names CuPy lacks: {extra}"
    ndarray.__module__ = "cupy"
