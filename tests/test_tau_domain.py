"""The temperature's domain, 1e-4 <= τ <= 1e4 (README, "The domain"): every place τ enters refuses
a value outside it with a ValueError naming the argument — a huge Python int included (not an
OverflowError) — and the CLI with exit 2 and one `Error:` line. The ends of the domain are accepted.

Why refuse rather than warn: at τ = 1e-300 a training run's parameters never move (θ/τ saturates
the softmax, its gradient underflows to 0) and the run still exits 0; above 1e4 every relaxed
sample is uniform to within float64 rounding for any |θ| the tasks produce.
"""
import numpy as np
import pytest
from click.testing import CliRunner

import minigumbel.functional as F
from minigumbel import estimators as E
from minigumbel import fast
from minigumbel import schedules as S
from minigumbel.distributions import RelaxedOneHotCategorical
from minigumbel.train import TrainConfig
from minigumbel_cli.main import main

X = np.array([[0.5, -1.0, 2.0], [0.0, 0.0, 1.0]])
G = np.array([[0.1, 0.2, -0.3], [1.0, 0.0, -1.0]])


def _f(z):
    return z.sum(-1), np.ones_like(z)


# every public way a τ enters the library (name -> callable of τ)
ENTRIES = {
    "softmax": lambda t: F.softmax(X, t),
    "log_softmax": lambda t: F.log_softmax(X, t),
    "softmax_vjp": lambda t: F.softmax_vjp(G, F.softmax(X), t),
    "gumbel_softmax": lambda t: F.gumbel_softmax(X, G, t),
    "concrete_log_prob": lambda t: F.concrete_log_prob(F.softmax(X), X, t),
    "check_tau": lambda t: F.check_tau(t),
    "RelaxedOneHotCategorical": lambda t: RelaxedOneHotCategorical(logits=X, tau=t),
    "estimate": lambda t: E.estimate("gumbel", X, _f, np.random.default_rng(0), tau=t),
    "estimate-reinmax": lambda t: E.estimate("reinmax", X, _f, np.random.default_rng(0), tau=t),
    "st_backward": lambda t: E.st_backward(X, G, t),
    "fast.sample_gumbel_softmax": lambda t: fast.sample_gumbel_softmax(np.random.default_rng(0), X, t),
    "make_schedule-constant": lambda t: S.make_schedule("constant", t),
    "make_schedule-exp-tau_min": lambda t: S.make_schedule("exp", 1e4, tau_min=t),
    "TrainConfig.tau": lambda t: TrainConfig(tau=t).validate(),
    "TrainConfig.tau_min": lambda t: TrainConfig(tau=1e4, tau_min=t, anneal="exp").validate(),
    "TrainConfig.tau_forward": lambda t: TrainConfig(estimator="decoupled", tau_forward=t).validate(),
}
OUTSIDE = {"1e-300": 1e-300, "9.9e-5": 9.9e-5, "1.01e4": 1.01e4, "1e300": 1e300, "int-10**400": 10 ** 400,
           "int--10**400": -(10 ** 400), "inf": float("inf"), "nan": float("nan"), "0": 0.0,
           "array-with-1e-5": np.array([[1.0], [1e-5]])}


@pytest.mark.parametrize("value", OUTSIDE)
@pytest.mark.parametrize("entry", ENTRIES)
def test_a_tau_outside_the_domain_is_a_value_error_naming_it(entry, value):
    t = OUTSIDE[value]
    if isinstance(t, np.ndarray) and entry.startswith(("make_schedule", "TrainConfig")):
        pytest.skip("a schedule and a config take one number")
    with pytest.raises(ValueError, match=r"tau\w* must be a finite number in \[1e-4, 1e4\]"):
        ENTRIES[entry](t)


@pytest.mark.parametrize("value", [1e-4, 1e4, 1, np.float32(1e-4), np.float64(1e4), np.array([[1e-4], [1e4]])])
@pytest.mark.parametrize("entry", ENTRIES)
def test_the_ends_of_the_domain_are_accepted(entry, value):
    if isinstance(value, np.ndarray) and entry.startswith(("make_schedule", "TrainConfig")):
        pytest.skip("a schedule and a config take one number")
    if entry.startswith("TrainConfig") and isinstance(value, np.floating):
        pytest.skip("a config takes Python numbers")
    ENTRIES[entry](value)


@pytest.mark.parametrize("field", ["tau", "tau_min", "tau_forward"])
def test_a_config_refuses_a_numpy_scalar_tau_saying_why(field):
    """A config holds Python numbers; a NumPy scalar inside the domain is refused for its type,
    not as a value outside the domain."""
    kw = {"estimator": "decoupled"} if field == "tau_forward" else {}
    with pytest.raises(ValueError, match=f"^{field} must be a Python float or int .*got np.float32\\(0.5\\)"):
        TrainConfig(**kw, **{field: np.float32(0.5)}).validate()


CLI = {
    "train --tau": ["train", "--steps", "2", "--quiet", "--tau"],
    "train --tau-min": ["train", "--steps", "2", "--quiet", "--anneal", "exp", "--tau", "2", "--tau-min"],
    "train --tau-forward": ["train", "--steps", "2", "--quiet", "--estimator", "decoupled", "--tau-forward"],
    "sample --tau": ["sample", "--logits", "0,1", "--n", "10", "--tau"],
    "estimators --tau": ["estimators", "--samples", "10", "--quiet", "--tau"],
    "bench --tau": ["bench", "--sizes", "4x3", "--repeats", "1", "--quiet", "--tau"],
}


@pytest.mark.parametrize("value", ["1e-300", "1e400", "2e4", str(10 ** 400)], ids=["1e-300", "1e400", "2e4", "10**400"])
@pytest.mark.parametrize("cmd", CLI)
def test_the_cli_refuses_a_tau_outside_the_domain_with_one_error_line(cmd, value):
    r = CliRunner().invoke(main, [*CLI[cmd], value])
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == 2 and isinstance(r.exception, SystemExit), (r.output, r.exception)
    assert len(lines) == 1 and lines[0].startswith("Error:") and "--tau" in lines[0], r.output
    assert ("1e-4" in lines[0] or "0.0001" in lines[0]) and "Traceback" not in r.output, r.output


def test_a_sweep_grid_with_a_tau_outside_the_domain_is_refused():
    r = CliRunner().invoke(main, ["sweep", "--steps", "2", "--quiet", "--grid", "tau=1,1e-300"])
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and "[1e-4, 1e4]" in lines[0], r.output
