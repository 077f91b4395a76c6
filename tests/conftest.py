"""Shared fixtures: the ``backend`` fixture runs a test on NumPy and on CuPy.

The CuPy case runs on real CuPy where a CUDA device answers, else on the strict CuPy stand-in
(tests/cupy_standin), installed as ``cupy`` for this test session only. MINIGUMBEL_TEST_CUPY
chooses by hand: ``auto`` (default), ``standin`` (even with a GPU), ``real`` (fail without one).
Every test that touches the CuPy path gets the ``cupy`` marker: ``python -m pytest -m cupy``.
Hypothesis profiles: "ci" (default; derandomized, bounded) and "thorough" (by hand).
"""
import importlib.util
import os
import sys

import numpy as np
import pytest

import cupy_standin
from minigumbel.backend import BackendUnavailable, get_backend

try:
    from hypothesis import HealthCheck, settings
    settings.register_profile("ci", max_examples=60, derandomize=True, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("thorough", max_examples=2000, deadline=None)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # pragma: no cover
    settings = None


def _real_cupy_answers() -> bool:
    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:            # no driver, no device: CuPy imports but its first CUDA call fails
        return False


CUPY_MODE = os.environ.get("MINIGUMBEL_TEST_CUPY", "auto")
if CUPY_MODE not in ("auto", "standin", "real"):
    raise pytest.UsageError(f"MINIGUMBEL_TEST_CUPY must be auto, standin or real, not {CUPY_MODE!r}")
USE_STANDIN = CUPY_MODE == "standin" or (CUPY_MODE == "auto" and not _real_cupy_answers())
if CUPY_MODE == "real" and not _real_cupy_answers():
    raise pytest.UsageError("MINIGUMBEL_TEST_CUPY=real but no CuPy with a CUDA device is available")
if USE_STANDIN:
    cupy_standin.install()


def pytest_configure(config):
    """`pytest --hypothesis-profile=NAME` wins over the default above, even when this conftest is
    imported after Hypothesis's own plugin has applied the option (then the line above undid it).
    tests/test_properties.py::test_the_profile_asked_for_is_the_one_loaded checks the outcome."""
    name = config.getoption("hypothesis_profile", None) if settings is not None else None
    if name:
        settings.load_profile(name)


def pytest_report_header(config):
    return f"cupy: {'the strict stand-in (tests/cupy_standin)' if USE_STANDIN else 'real CuPy on a GPU'}"


_CUPY_FIXTURES = {"cupy_backend", "standin", "transfers"}


def pytest_collection_modifyitems(config, items):
    """Mark every test that runs a CuPy path with ``cupy``."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if (params.get("backend") == "cupy" or _CUPY_FIXTURES & set(item.fixturenames)
                or any(isinstance(v, str) and v == "cupy" for v in params.values())):
            item.add_marker(pytest.mark.cupy)


def cupy_backend_or_fail():
    """The CuPy backend: real CuPy or the stand-in. Failing (not skipping) where a device answers
    but CuPy cannot use it: a skipped CuPy test proves nothing."""
    try:
        return get_backend("cupy")
    except BackendUnavailable as exc:
        pytest.fail(f"CuPy backend unavailable: {exc}")


@pytest.fixture(params=["numpy", "cupy"])
def backend(request):
    if request.param == "cupy":
        return cupy_backend_or_fail()
    return get_backend("numpy")


@pytest.fixture
def cupy_backend():
    return cupy_backend_or_fail()


@pytest.fixture
def standin():
    """The stand-in package (for tests of what only it can show, e.g. counted transfers)."""
    if not USE_STANDIN:
        pytest.skip("runs on the CuPy stand-in only (real CuPy here)")
    return cupy_standin


@pytest.fixture
def transfers(standin):
    """``with transfers() as n: ...; n()`` counts device->host transfers on the stand-in."""
    return standin.counting


@pytest.fixture
def no_cupy(monkeypatch):
    """As on a machine without CuPy: ``import cupy`` raises ImportError (and the backend forgets
    a CuPy it loaded earlier)."""
    import minigumbel.backend as B
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setattr(B, "_CUPY", None)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
