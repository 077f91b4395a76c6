"""The CuPy paths end to end: every CLI command with --backend cupy, checkpoints decided on the
resolved backend, the fast_cupy routes that need no CUDA kernel, and the device->host transfers
per training step. On real CuPy with a GPU, or else on the strict stand-in (tests/cupy_standin),
which raises wherever real CuPy would (host arrays in device ops, implicit conversions, names
CuPy lacks), so a passing run here means the path is free of those mistakes.
"""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from minigumbel import checkpoint as ckpt
from minigumbel import fast
from minigumbel import functional as F
from minigumbel.tasks import TASKS
from minigumbel.train import TRAIN_ESTIMATORS, TrainConfig, prepare, run_training
from minigumbel_cli.main import main

pytestmark = pytest.mark.cupy
CATEGORICAL_TASKS = sorted(set(TASKS) - {"select", "sort"})   # their own estimators: tests/test_select.py, test_orders.py
POINTER_ONLY = ("--eval-size", "--hidden", "--n-items")
SHORT = ["--steps", "3", "--eval-every", "2", "--eval-size", "16", "--batch-size", "4", "--hidden", "8",
         "--n-items", "4", "--quiet"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _one_error_line(r, *needles):
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), r.output
    assert all(n in lines[0] for n in needles), r.output


# ----------------------------------------------------------------------------- the CLI on CuPy

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("estimator", TRAIN_ESTIMATORS)
@pytest.mark.parametrize("task", CATEGORICAL_TASKS)
def test_train_on_cupy(cupy_backend, task, estimator, dtype, tmp_path):
    out = tmp_path / "h.json"
    short = SHORT if task != "vae" else [a for i, a in enumerate(SHORT)     # pointer-only options are refused
                                         if a not in POINTER_ONLY and (i == 0 or SHORT[i - 1] not in POINTER_ONLY)]
    r = run("train", "--backend", "cupy", "--task", task, "--estimator", estimator, "--dtype", dtype,
            "--tau", "1", *short, "--json", out)        # τ = 1: reinmax's domain
    assert r.exit_code == 0, r.output
    h = json.loads(out.read_text())
    assert h["config"]["backend"] == "cupy" and h["steps_done"] == 3 and len(h["loss"]) == 3
    assert [e["step"] for e in h["eval"]] == [0, 2, 3]
    assert all(np.isfinite(h["loss"])) and all(np.isfinite(list(h["final"].values())))


@pytest.mark.parametrize("baseline", ["loo", "running"])
def test_train_reinforce_baselines_on_cupy(cupy_backend, baseline):
    r = run("train", "--backend", "cupy", "--estimator", "reinforce", "--baseline", baseline, *SHORT)
    assert r.exit_code == 0, r.output


def test_train_on_cupy_keeps_arrays_on_the_device_in_their_dtype(cupy_backend):
    run_ = prepare(TrainConfig(backend="cupy", dtype="float32", steps=2, batch_size=4, hidden=8, eval_size=8))
    run_training(run_)
    for name, p in run_.params.items():
        assert isinstance(p, cupy_backend.xp.ndarray) and p.dtype == np.float32, name


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sample_on_cupy(cupy_backend, dtype):
    r = run("sample", "--backend", "cupy", "--logits", "1,2,-inf", "-n", 2000, "--dtype", dtype, "--quiet", "--json", "-")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["gumbel_max_freq"][2] == 0 and out["relaxed_mean"][2] == 0      # a mask is never drawn
    assert abs(sum(out["gumbel_max_freq"]) - 1) < 1e-12


@pytest.mark.parametrize("problem", ["quadratic", "pointer"])
def test_estimators_on_cupy(cupy_backend, problem):
    r = run("estimators", "--backend", "cupy", "--problem", problem, "--k", 4, "--samples", 40,
            "--tau", "0.5,1", "--gr-k", "2", "--quiet", "--json", "-")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)["rows"]
    assert {row["estimator"] for row in rows} >= {"reinforce(loo)", "st", "st-gumbel", "gumbel-rao(k=2)", "gumbel"}
    assert all(np.isfinite(row["bias_norm"]) for row in rows)


def test_compare_on_cupy(cupy_backend):
    r = run("compare", "--backend", "cupy", "--seeds", 2, "--estimators", "softmax,st-gumbel,reinmax",
            "--tau", 2, "--tau-min", 1, "--steps", 4, "--eval-every", 2, "--eval-size", 16, "--batch-size", 4,
            "--hidden", 8, "--quiet", "--json", "-")
    assert r.exit_code == 0, r.output
    assert "softmax" in r.output and "reinmax" in r.output


def test_cupy_without_nvrtc_is_exit_2_naming_the_fix(cupy_backend, monkeypatch):
    import minigumbel.backend as B

    def no_nvrtc(*args, **kwargs):
        raise RuntimeError("CuPy failed to load libnvrtc.so.12")
    monkeypatch.setattr(B, "_CUPY", None)
    monkeypatch.setattr(cupy_backend.xp, "exp", no_nvrtc)
    _one_error_line(run("train", "--backend", "cupy", *SHORT), "libnvrtc", "cupy-cuda12x[ctk]", "CUDA toolkit")
    r = run("train", "--backend", "auto", *SHORT)
    assert r.exit_code == 0 and "numpy float64" in r.output, r.output     # auto falls back to NumPy


# ----------------------------------------------------------------------------- checkpoints

@pytest.mark.parametrize("flag", ["--checkpoint", "--resume"])
@pytest.mark.parametrize("how", [["--backend", "auto"], ["--backend", "cupy"]])
def test_checkpoints_are_refused_on_the_resolved_cupy_backend(cupy_backend, tmp_path, flag, how):
    """Issue 10 item 1: `auto` that resolves to CuPy used to pass the check (it looked at the
    literal name) and then failed with a traceback while saving CuPy's generator state."""
    path = tmp_path / "run.npz"
    if flag == "--resume":
        assert run("train", "--backend", "numpy", *SHORT, "--checkpoint", path).exit_code == 0
    r = run("train", *how, *SHORT, flag, path)
    _one_error_line(r, "checkpoints need the numpy backend", "CuPy")
    if how[1] == "auto":
        assert "resolved to 'cupy'" in r.output
    with pytest.raises(ValueError, match="checkpoints need the numpy backend"):
        prepare(TrainConfig(backend=how[1], steps=2, **{flag[2:]: str(path)}))


def test_auto_without_cupy_checkpoints_on_numpy(no_cupy, tmp_path):
    path = tmp_path / "run.npz"
    r = run("train", "--backend", "auto", *SHORT, "--checkpoint", path)
    assert r.exit_code == 0, r.output
    assert ckpt.load_checkpoint(path)["step"] == 3


def test_saving_a_cupy_generator_state_is_a_type_error(cupy_backend, tmp_path):
    state = cupy_backend.rng(0).bit_generator.state       # CuPy: a method, not a state
    with pytest.raises(TypeError, match="rng_state must be a NumPy bit_generator.state dict"):
        ckpt.save_checkpoint(tmp_path / "x.npz", config={}, step=0, params={}, optimizer={},
                             rng_state=state, history={})
    assert not (tmp_path / "x.npz").exists()


# ----------------------------------------------------------------------------- host transfers

@pytest.mark.parametrize("task", CATEGORICAL_TASKS)
@pytest.mark.parametrize("estimator,baseline", [(e, "none") for e in TRAIN_ESTIMATORS]
                         + [("reinforce", "loo"), ("reinforce", "running")])
def test_at_most_one_host_transfer_per_training_step(transfers, task, estimator, baseline):
    """A training step queues its work on the device: the loss stays there until the loop reads
    a batch of losses back (every log_every steps) and each evaluation reads its metrics in one
    transfer. Issue 10 item 4: every softmax used to read a flag back (1-4 syncs per step)."""
    c = dict(task=task, estimator=estimator, baseline=baseline, backend="cupy", tau=1.0, batch_size=4,
             hidden=8, n_items=4, eval_size=16)
    run_ = prepare(TrainConfig(steps=10, **c))
    run_.train_step()                                     # first-call set-up is not a step
    with transfers() as n:
        for _ in range(5):
            run_.train_step()
    assert n() == 0, f"{n()} device->host transfers in 5 training steps"
    steps, every = 20, 10
    run_ = prepare(TrainConfig(steps=steps, eval_every=every, log_every=every, **c))
    with transfers() as n:
        run_training(run_)
    # evaluations at steps 0, 10, 20 (one transfer each) + the losses read back at 10 and 20,
    # + for the VAE one more at the end (its importance-weighted bound and train -ELBO, once a run)
    final = 1 if task == "vae" else 0
    assert n() == 3 + 2 + final <= steps, n()


def test_the_transfer_counter_counts(transfers, cupy_backend):
    """Negative control: an explicit read-back in a step is seen."""
    xp = cupy_backend.xp
    with transfers() as n:
        float(xp.ones(())), bool(xp.ones(()) > 0), cupy_backend.to_numpy(xp.ones(2)), xp.ones(2)[0].item()
        xp.ones(3)[xp.ones(3) > 0]                        # a boolean mask: CuPy syncs to size it
    assert n() == 5


# ----------------------------------------------------------------------------- fast_cupy routes

def _row_tau(shape, xp):
    return xp.asarray(np.linspace(0.5, 2.0, shape[0]).reshape(-1, 1))     # (n, 1): per-row τ


@pytest.mark.parametrize("hard", [False, True])
def test_fast_cupy_per_row_tau_writes_out(cupy_backend, hard):
    """Issue 10 item 5: with a per-row τ, the readable fallback ignored ``out=``."""
    xp = cupy_backend.xp
    logits = xp.asarray(np.random.default_rng(0).normal(size=(6, 5)))
    tau = _row_tau(logits.shape, xp)
    out = xp.zeros(logits.shape)
    y, y_soft = fast.sample_gumbel_softmax(cupy_backend.rng(3), logits, tau, hard, return_soft=True, out=out)
    assert y_soft is out and (y is out) == (not hard)
    g = F.sample_gumbel(cupy_backend.rng(3), logits.shape, logits.dtype)     # the same draw
    ref, ref_soft = F.gumbel_softmax(logits, g, tau, hard, return_soft=True)
    np.testing.assert_array_equal(cupy_backend.to_numpy(out), cupy_backend.to_numpy(ref_soft))
    np.testing.assert_array_equal(cupy_backend.to_numpy(y), cupy_backend.to_numpy(ref))


def test_fast_cupy_vjp_per_row_tau_writes_out(cupy_backend):
    xp = cupy_backend.xp
    r = np.random.default_rng(1)
    y = xp.asarray(r.dirichlet(np.ones(5), size=6))
    dy = xp.asarray(r.normal(size=(6, 5)))
    tau = _row_tau(y.shape, xp)
    ref = cupy_backend.to_numpy(F.gumbel_softmax_vjp(dy, y, tau))
    out = xp.empty(y.shape)
    assert fast.gumbel_softmax_vjp(dy, y, tau, out=out) is out
    np.testing.assert_array_equal(cupy_backend.to_numpy(out), ref)
    assert fast.gumbel_softmax_vjp(dy, y, tau, out=dy) is dy                # in place over dy
    np.testing.assert_array_equal(cupy_backend.to_numpy(dy), ref)


def test_fast_cupy_rejects_a_numpy_generator(cupy_backend):
    logits = cupy_backend.xp.zeros((2, 3))
    with pytest.raises(TypeError, match="rng must be a cupy.random.Generator for CuPy logits"):
        fast.sample_gumbel_softmax(np.random.default_rng(0), logits, 1.0)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator for NumPy logits"):
        fast.sample_gumbel_softmax(cupy_backend.rng(0), np.zeros((2, 3)), 1.0)


def test_fast_cupy_out_of_the_wrong_kind_is_a_value_error(cupy_backend):
    xp = cupy_backend.xp
    logits = xp.zeros((2, 3))
    for bad in (np.zeros((2, 3)), xp.zeros((3, 2)), xp.zeros((2, 3), dtype=np.float32)):
        with pytest.raises(ValueError, match="out must be a C-contiguous CuPy float64 array"):
            fast.sample_gumbel_softmax(cupy_backend.rng(0), logits, _row_tau((2, 3), xp), out=bad)
