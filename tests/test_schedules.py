"""schedules.py: values at chosen steps worked out by hand here, and bad arguments."""
import math

import numpy as np
import pytest

from minigumbel import schedules
from minigumbel.schedules import SCHEDULES, make_schedule


def test_names():
    assert SCHEDULES == ("constant", "exp", "linear", "cosine")


def test_constant():
    s = make_schedule("constant", 0.7)
    assert [s(0), s(1), s(10 ** 6)] == [0.7, 0.7, 0.7]
    assert make_schedule("constant", 0.2)(5) == 0.2      # tau_min (0.5 default) is ignored


def test_exp_is_jang_et_al_stepped_every_n():
    s = make_schedule("exp", 1.0, tau_min=0.5, rate=1e-3, every=100)
    # τ is held on [0, 100), then τ0·e^{-0.1}, then τ0·e^{-0.2} ...
    assert s(0) == 1.0 and s(99) == 1.0
    assert s(100) == pytest.approx(0.904837418, rel=1e-9)       # e^{-0.1}
    assert s(250) == pytest.approx(0.818730753, rel=1e-9)       # t = 200: e^{-0.2}
    # e^{-r t} < 0.5 once t > ln 2 / r = 693.1, i.e. from t = 700 on: clamped to τ_min
    assert s(699) == pytest.approx(0.548811636, rel=1e-9)       # t = 600: e^{-0.6}
    assert s(700) == 0.5 and s(10 ** 6) == 0.5


def test_linear_and_cosine_end_points_and_midpoint():
    lin = make_schedule("linear", 2.0, tau_min=0.5, total_steps=100)
    cos = make_schedule("cosine", 2.0, tau_min=0.5, total_steps=100)
    assert lin(0) == 2.0 and cos(0) == 2.0
    assert lin(50) == pytest.approx(1.25) and cos(50) == pytest.approx(1.25)
    assert lin(25) == pytest.approx(1.625)                      # 2 − 1.5 · 0.25
    assert cos(25) == pytest.approx(0.5 + 0.75 * (1 + math.sqrt(0.5)))
    assert lin(100) == pytest.approx(0.5) and cos(100) == pytest.approx(0.5)
    assert lin(1000) == 0.5 and cos(1000) == 0.5


def test_annealing_is_monotone():
    for name in ("exp", "linear", "cosine"):
        s = make_schedule(name, 1.0, tau_min=0.1, total_steps=50, rate=0.05, every=5)
        vals = np.array([s(t) for t in range(80)])
        assert np.all(np.diff(vals) <= 0) and vals[-1] == pytest.approx(0.1), name


def test_pure_functions_match_factory():
    assert schedules.exp(1500, 1.0, 0.5, 1e-4, 500) == make_schedule("exp", 1.0, rate=1e-4, every=500)(1500)
    assert schedules.cosine(3, 1.0, 0.5, 10) == make_schedule("cosine", 1.0, total_steps=10)(3)


@pytest.mark.parametrize("kwargs,word", [
    (dict(name="warm", tau0=1.0), "schedule"),
    (dict(name="constant", tau0=0.0), "tau0"),
    (dict(name="constant", tau0=float("nan")), "tau0"),
    (dict(name="exp", tau0=-1.0), "tau0"),
    (dict(name="exp", tau0=1.0, tau_min=0.0), "tau_min"),
    (dict(name="linear", tau0=1.0, tau_min=2.0), "tau_min"),
    (dict(name="cosine", tau0=0.3), "tau_min"),                # default tau_min 0.5 > tau0
    (dict(name="linear", tau0=1.0, total_steps=0), "total_steps"),
    (dict(name="exp", tau0=1.0, rate=-1e-4), "rate"),
    (dict(name="exp", tau0=1.0, every=0), "every"),
])
def test_bad_arguments_name_themselves(kwargs, word):
    with pytest.raises(ValueError, match=word):
        make_schedule(**kwargs)


def test_negative_step_is_rejected():
    with pytest.raises(ValueError, match="step"):
        make_schedule("linear", 1.0)(-1)
