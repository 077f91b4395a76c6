"""The CuPy stand-in (tests/cupy_standin) refuses what real CuPy 14 refuses.

These tests check the stand-in itself, so they run only where it is the session's ``cupy``;
the names test compares names.json with the real package wherever CuPy 14.2 is installed.
"""
import inspect
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def cp(standin):
    return standin.module


def test_names_json_is_the_installed_cupy():
    """names.json lists exactly the real CuPy's names (rewrite it with make_names.py after an upgrade)."""
    r = subprocess.run([sys.executable, os.path.join(HERE, "cupy_standin", "make_names.py"), "--check"],
                       capture_output=True, text=True, cwd=HERE)
    if r.returncode in (3, 4):
        pytest.skip(r.stdout.strip())
    assert r.returncode == 0, r.stdout + r.stderr


def test_only_the_names_real_cupy_has(cp, standin):
    names = standin.NAMES
    assert {n for n in dir(cp) if not n.startswith("_")} == set(names["module"])
    assert {n for n in dir(cp.random) if not n.startswith("_")} == set(names["random"])
    numpy_only = {n for n in dir(np) if not n.startswith("_")} - set(names["module"])
    assert len(numpy_only) > 50 and not any(hasattr(cp, n) for n in numpy_only)
    x = cp.zeros(3)
    for numpy_only in ("setflags", "resize", "newbyteorder", "getfield", "to_device"):
        assert hasattr(np.zeros(3), numpy_only) or numpy_only == "newbyteorder"
        assert not hasattr(x, numpy_only), numpy_only
    g = cp.random.default_rng(0)
    for missing in ("normal", "choice", "gumbel", "permutation", "shuffle", "bytes"):
        assert not hasattr(g, missing), missing
    assert {n for n in dir(g) if not n.startswith("_")} == set(names["random.Generator"]) | {"bit_generator"}


def _signature(cls, name):
    def text(p):
        d = p.default
        if p.default is inspect.Parameter.empty:
            return p.name
        return f"{p.name}={'numpy.' + d.__name__ if isinstance(d, type) else repr(d)}"
    params = inspect.signature(getattr(cls, name)).parameters.values()
    return f"Generator.{name}({', '.join(text(p) for p in params)})"


@pytest.mark.parametrize("name", ["random", "standard_normal", "integers", "standard_exponential",
                                  "uniform", "exponential"])
def test_generator_signatures_are_cupys(cp, standin, name):
    assert _signature(cp.random.Generator, name) == standin.NAMES["random.Generator signatures"][name]


def test_device_arrays_are_not_numpy_arrays(cp):
    x = cp.arange(3.0)
    assert not isinstance(x, np.ndarray) and type(x).__module__.startswith("cupy")
    assert isinstance(x, cp.ndarray)
    for convert in (np.asarray, np.array, lambda a: np.add.reduce(np.asarray(a))):
        with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
            convert(x)


@pytest.mark.parametrize("op", [
    lambda x, h: x + h, lambda x, h: h + x, lambda x, h: x * h, lambda x, h: h < x,
    lambda x, h: __import__("cupy").exp(h), lambda x, h: __import__("cupy").maximum(x, h),
    lambda x, h: __import__("cupy").where(x > 0, h, 0.0), lambda x, h: __import__("cupy").concatenate([x, h]),
    lambda x, h: __import__("cupy").matmul(x, h), lambda x, h: x[h.astype(int)],
    lambda x, h: x.__setitem__(slice(None), h), lambda x, h: __import__("cupy").exp(x, out=h),
    lambda x, h: __import__("cupy").copyto(x, h), lambda x, h: np.add(x, h),
], ids=["add", "radd", "mul", "lt", "ufunc", "ufunc2", "where", "concatenate", "matmul", "index",
        "setitem", "out", "copyto", "numpy-ufunc"])
def test_host_arrays_in_device_operations_are_type_errors(cp, op):
    with pytest.raises(TypeError):
        op(cp.ones(3), np.ones(3))


def test_scalars_where_cupy_takes_them(cp):
    x = cp.ones(3, dtype=np.float32)
    assert (x * 2.0).dtype == np.float32 and (np.float32(2) * x).dtype == np.float32
    assert cp.where(x > 0, x, 0.0).dtype == np.float32 and isinstance(cp.maximum(x, 1e-3), cp.ndarray)
    for array_first in (lambda: cp.expand_dims(1.5, 0), lambda: cp.expand_dims(np.float64(1.5), 0),
                        lambda: cp.moveaxis(2.0, 0, 0), lambda: cp.sum(3.0), lambda: cp.broadcast_to(1.0, (2,))):
        with pytest.raises(TypeError, match="expected cupy.ndarray"):
            array_first()


def test_reductions_and_integer_indexing_give_0d_device_arrays(cp):
    x = cp.arange(6.0).reshape(2, 3)
    for r in (x.sum(), cp.max(x), cp.argmax(x), x[1, 2], x[0][1], cp.mean(x, axis=None)):
        assert isinstance(r, cp.ndarray) and r.ndim == 0


def test_out_returns_the_same_object(cp):
    x, out = cp.arange(4.0), cp.empty(4)
    assert cp.exp(x, out=out) is out and cp.sum(x, out=cp.empty(())) is not None
    r = cp.random.default_rng(0)
    assert r.random(out=out) is out and r.standard_normal(dtype=np.float64, out=out) is out
    y = x
    y += 1
    assert y is x


def test_transfers_are_counted(cp, standin):
    x = cp.arange(3.0)
    with standin.counting() as n:
        x.get(), cp.asnumpy(x), x[0].item(), float(x[1]), int(x[1]), bool(x[2] > 0), x.tolist()
        x + 1, cp.exp(x).sum(), x.reshape(3, 1)                      # device work: no transfer
    assert n() == 7


def test_cupys_generator(cp):
    g = cp.random.default_rng([3, 1])
    u = g.random((2, 3), dtype=np.float32)
    assert isinstance(u, cp.ndarray) and u.dtype == np.float32 and u.shape == (2, 3)
    assert g.random().ndim == 0 and g.integers(0, 5, size=4).dtype == np.int64
    with pytest.raises(TypeError):
        g.random(3, dtype=np.int32)
    assert callable(g.bit_generator.state) and not isinstance(g.bit_generator.state(), dict)
    a = cp.random.default_rng(7).random(4).get()
    assert np.array_equal(a, cp.random.default_rng(7).random(4).get())
    assert not np.array_equal(a, np.random.default_rng(7).random(4))     # not NumPy's stream


def test_cuda_runtime_streams_and_kernels(cp):
    assert cp.cuda.runtime.getDeviceCount() == 1
    cp.cuda.get_current_stream().synchronize()
    cp.cuda.Device().synchronize()
    for kernel in (lambda: cp.ElementwiseKernel("T x", "T y", "y = x", "k"), lambda: cp.RawKernel("", "k"),
                   lambda: cp.RawModule(code="")):
        with pytest.raises(NotImplementedError, match="needs CUDA"):
            kernel()


def test_the_library_never_imports_the_stand_in():
    root = os.path.dirname(HERE)
    for folder in ("minigumbel", "cli"):
        for name in os.listdir(os.path.join(root, folder)):
            if name.endswith(".py"):
                with open(os.path.join(root, folder, name), encoding="utf-8") as f:
                    assert "cupy_standin" not in f.read(), f"{folder}/{name}"
