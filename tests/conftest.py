"""Shared fixtures: the ``backend`` fixture runs a test on NumPy and, where a GPU answers, on CuPy.

Without CuPy or a CUDA device the CuPy case is *skipped* (and reported as such), never passed.
Hypothesis profiles: "ci" (default; derandomized, bounded) and "thorough" (by hand).
"""
import os

import numpy as np
import pytest

from minigumbel.backend import BackendUnavailable, get_backend

try:
    from hypothesis import HealthCheck, settings
    settings.register_profile("ci", max_examples=60, derandomize=True, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("thorough", max_examples=2000, deadline=None)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # pragma: no cover
    settings = None


def pytest_configure(config):
    """`pytest --hypothesis-profile=NAME` wins over the default above, even when this conftest is
    imported after Hypothesis's own plugin has applied the option (then the line above undid it).
    tests/test_properties.py::test_the_profile_asked_for_is_the_one_loaded checks the outcome."""
    name = config.getoption("hypothesis_profile", None) if settings is not None else None
    if name:
        settings.load_profile(name)


def _cupy_or_skip():
    try:
        return get_backend("cupy")
    except BackendUnavailable as exc:
        pytest.skip(f"CuPy backend unavailable: {exc}")


@pytest.fixture(params=["numpy", "cupy"])
def backend(request):
    if request.param == "cupy":
        return _cupy_or_skip()
    return get_backend("numpy")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
