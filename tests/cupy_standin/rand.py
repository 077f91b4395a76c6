"""``cupy.random`` of the stand-in: CuPy's Generator API over a NumPy Philox stream.

Like CuPy's: ``default_rng(seed)`` is ``Generator(XORWOW(seed))``; the Generator has ``random``,
``standard_normal``, ``integers`` (and the other methods real CuPy's has) with CuPy's signatures,
returns device arrays (0-d for ``size=None``), and has no ``normal``/``choice``/``gumbel``/
``permutation``; ``bit_generator.state`` is a *method*. The stream is deliberately not NumPy's
PCG64 stream for the same seed (real CuPy's XORWOW stream differs from NumPy's too).
"""
from __future__ import annotations

import itertools

import numpy as np

from .devarray import ndarray, unwrap, wrap
from .functions import unsupported

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_ADDRESS = itertools.count(0x7F0000000000, 0x100000)


class BitGenerator:
    """Generic BitGenerator (seed: None, int, array_like[ints] or numpy.random.SeedSequence)."""

    def __init__(self, seed=None):
        if isinstance(seed, ndarray):
            raise TypeError("seed must be an int, array_like[ints] or SeedSequence, not cupy.ndarray")
        seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        self._numpy = np.random.Generator(np.random.Philox(seq))
        self._address = next(_ADDRESS)

    def random_raw(self, size=None, output=True):
        raw = wrap(self._numpy.integers(0, 2 ** 32, size=size, dtype=np.uint64))
        return raw if output else None

    def state(self):
        """CuPy returns the device address of the cuRAND states: an int, not a restorable state."""
        return self._address


class XORWOW(BitGenerator):
    def __init__(self, seed=None, *, size=-1):
        super().__init__(seed)


class MRG32k3a(XORWOW):
    pass


class Philox4x3210(XORWOW):
    pass


def _float_dtype(dtype, method):
    dtype = np.dtype(dtype)
    if dtype not in _FLOATS:
        raise TypeError(f"Generator.{method}: dtype {dtype} is not supported; use float32 or float64")
    return dtype


def _fill(out, values, method):
    if out is None:
        return wrap(values)
    if type(out) is not ndarray:
        raise TypeError(f"Generator.{method}: out must be a cupy.ndarray, got {type(out).__name__}")
    if out.shape != np.shape(values) or out.dtype != values.dtype:
        raise ValueError(f"Generator.{method}: out has shape {out.shape} and dtype {out.dtype}; "
                         f"expected {np.shape(values)} and {values.dtype}")
    out._a[...] = values
    return out


class Generator:
    """Container for the BitGenerators (CuPy's API)."""

    def __init__(self, bit_generator):
        if not isinstance(bit_generator, BitGenerator):
            raise TypeError("Generator needs a cupy.random.BitGenerator")
        self.bit_generator = bit_generator

    @property
    def _np(self):
        return self.bit_generator._numpy

    def random(self, size=None, dtype=np.float64, out=None):
        dtype = _float_dtype(dtype, "random")
        if out is not None:
            size = out.shape
        return _fill(out, np.asarray(self._np.random(size, dtype=dtype)), "random")

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        dtype = _float_dtype(dtype, "standard_normal")
        if out is not None:
            size = out.shape
        return _fill(out, np.asarray(self._np.standard_normal(size, dtype=dtype)), "standard_normal")

    def standard_exponential(self, size=None, dtype=np.float64, method="inv", out=None):
        dtype = _float_dtype(dtype, "standard_exponential")
        if out is not None:
            size = out.shape
        values = np.asarray(self._np.standard_exponential(size, dtype=dtype, method="inv"))
        return _fill(out, values, "standard_exponential")

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        low, high = unwrap(low, "Generator.integers"), unwrap(high, "Generator.integers")
        return wrap(np.asarray(self._np.integers(low, high, size, dtype=dtype, endpoint=endpoint)))

    def uniform(self, low=0.0, high=1.0, size=None, dtype=np.float64):
        low, high = unwrap(low, "Generator.uniform"), unwrap(high, "Generator.uniform")
        return wrap(np.asarray(self._np.uniform(low, high, size)).astype(dtype, copy=False))

    def exponential(self, scale=1.0, size=None):
        return wrap(np.asarray(self._np.exponential(unwrap(scale, "Generator.exponential"), size)))


def _delegate(name):
    def method(self, *args, **kwargs):
        return wrap(np.asarray(getattr(self._np, name)(*unwrap(args, f"Generator.{name}"),
                                                       **unwrap(kwargs, f"Generator.{name}"))))
    method.__name__ = name
    return method


def default_rng(seed=None):
    """Generator(XORWOW(seed)); a Generator is returned as is, a BitGenerator wrapped."""
    if isinstance(seed, Generator):
        return seed
    if isinstance(seed, BitGenerator):
        return Generator(seed)
    return Generator(XORWOW(seed))


def build(module, names):
    for name in names["random.Generator"]:
        if name not in Generator.__dict__:
            setattr(Generator, name, _delegate(name))
    extra = [n for n in Generator.__dict__ if not n.startswith("_") and n not in names["random.Generator"]]
    assert not extra, f"stand-in Generator has names CuPy's lacks: {extra}"
    own = {"default_rng": default_rng, "Generator": Generator, "BitGenerator": BitGenerator,
           "XORWOW": XORWOW, "MRG32k3a": MRG32k3a, "Philox4x3210": Philox4x3210}
    for name in names["random"]:
        # the legacy global-state functions (cupy.random.normal, seed, ...) are not mimicked
        setattr(module, name, own.get(name) or unsupported(f"cupy.random.{name}"))
    for cls in (Generator, BitGenerator, XORWOW, MRG32k3a, Philox4x3210):
        cls.__module__ = "cupy.random"
