"""The select task (L2X feature selection, minigumbel.tasks.select): the generators against the
paper's formulas, the metrics, hand == autograd for every subset estimator, CLI, checkpoints, CuPy."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from minigumbel.tasks import make_task
from minigumbel.tasks.select import SELECT_DATASETS, SELECT_K, label_logit, median_rank
from minigumbel.train import SELECT_ESTIMATORS, Run, TrainConfig, train

SMALL = dict(task="select", batch_size=6, hidden=7, eval_size=50, eval_every=10)


def _sigmoid(s):
    return 1.0 / (1.0 + np.exp(-s))


# ----------------------------------------------------------------------------- the generators

def test_label_logits_are_the_papers_formulas():
    # Chen et al. (2018), Sec. 4.1, written out again here (features X1..X10 = columns 0..9)
    x = np.random.default_rng(0).normal(size=(200, 10))
    comp = np.arange(200) % 2 == 0
    want = {"xor": x[:, 0] * x[:, 1],
            "orange": (x[:, :4] ** 2).sum(1) - 4,
            "additive": -100 * np.sin(2 * x[:, 0]) + 2 * np.abs(x[:, 1]) + x[:, 2] + np.exp(-x[:, 3])}
    relevant = {"xor": {0, 1}, "orange": {0, 1, 2, 3}, "additive": {0, 1, 2, 3}}
    for ds, s in want.items():
        got, rel = label_logit(ds, x)
        np.testing.assert_allclose(got, s, rtol=1e-14)
        assert all(set(np.flatnonzero(r)) == relevant[ds] for r in rel)
    got, rel = label_logit("switch", x, comp)
    orange5 = (x[:, 1:5] ** 2).sum(1) - 4
    add5 = -100 * np.sin(2 * x[:, 5]) + 2 * np.abs(x[:, 6]) + x[:, 7] + np.exp(-x[:, 8])
    np.testing.assert_allclose(got, np.where(comp, orange5, add5), rtol=1e-14)
    assert all(set(np.flatnonzero(r)) == ({0, 1, 2, 3, 4} if c else {0, 5, 6, 7, 8}) for r, c in zip(rel, comp))
    assert all(rel.sum(1) == SELECT_K["switch"])


@pytest.mark.parametrize("dataset", SELECT_DATASETS)
def test_batches_follow_the_generator(dataset):
    # labels drawn from P(Y = 1 | X) = σ(s): with N = 20,000 (fixed seed) the label rate is within
    # 4 standard errors (√(Σ p(1 − p))/N) of the mean of p
    task = make_task("select", dataset=dataset)
    b = task.batch(np.random.default_rng(1), 20_000)
    x, y, p = b["x"], b["y"], b["p"]
    comp = b["relevant"][:, 1] if dataset == "switch" else None    # X2 relevant: X1 came from N(3, 1)
    s, rel = label_logit(dataset, x, comp)
    np.testing.assert_allclose(p, _sigmoid(s), rtol=1e-12, atol=1e-15)     # σ via tanh: exact 0 below ~1e-17
    se = np.sqrt(np.sum(p * (1 - p))) / len(p)
    assert abs(y.mean() - p.mean()) < 4 * se + 1e-12
    assert set(np.unique(y)) <= {0.0, 1.0} and b["relevant"].sum(1).min() == SELECT_K[dataset]
    if dataset == "switch":
        # X1 from ½ N(3, 1) + ½ N(−3, 1): both halves about half the time (4 s.e. = 4·√(¼/N))
        assert abs(np.mean(comp) - 0.5) < 4 * 0.5 / np.sqrt(len(x))
        # X1 − 3 (resp. + 3) is standard normal in each component: means within 4 s.e. = 4/√n of 0
        for part, shift in ((comp, 3.0), (~comp, -3.0)):
            assert abs(np.mean(x[part, 0] - shift)) < 4 / np.sqrt(part.sum())
        np.testing.assert_array_equal(b["relevant"], rel)


def test_median_rank_and_selected_of_a_perfect_and_a_wrong_selector():
    rel = np.zeros((3, 10), bool)
    rel[:, :4] = True
    perfect = np.array([[9, 8, 7, 6, 0, 0, 0, 0, 0, 0.5]] * 3, float)
    np.testing.assert_array_equal(median_rank(perfect, rel, 4), 2.5)
    worst = -perfect
    np.testing.assert_array_equal(median_rank(worst, rel, 4), 8.5)     # ranks 7..10 (ties broken by argsort)
    np.testing.assert_array_equal(median_rank(perfect[:, :], rel, 3), 2.0)   # odd k: the middle one
    task = make_task("select", dataset="orange")
    params = task.init_params(np.random.default_rng(0))
    batch = task.batch(np.random.default_rng(0), 64)
    m = task.hard_metrics(params, batch)
    assert 0 <= m["selected"] <= 1 and 2.5 <= m["median_rank"] <= 8.5 and 0.5 <= m["bayes_accuracy"] <= 1


# ----------------------------------------------------------------------------- gradients

def _step(grad, **kw):
    run = Run(TrainConfig(grad=grad, **{**SMALL, **kw}))
    batch = run.task.batch(run.rng, run.config.batch_size)
    return (run.hand_step if grad == "hand" else run.autograd_step)(batch, run.config.tau)


@pytest.mark.parametrize("estimator", SELECT_ESTIMATORS)
@pytest.mark.parametrize("dataset", ["xor", "switch"])
def test_one_step_hand_gradients_equal_autograd(dataset, estimator):
    kw = dict(dataset=dataset, estimator=estimator, tau=0.7, baseline="loo" if estimator == "reinforce-pl" else "none")
    loss_h, g_h = _step("hand", **kw)
    loss_a, g_a = _step("autograd", **kw)
    assert loss_h == loss_a and sorted(g_h) == sorted(g_a)
    scale = max(np.abs(v).max() for v in g_a.values())
    assert max(np.abs(g_h[k] - g_a[k]).max() for k in g_a) / scale < 1e-12     # float64 round-off


def test_negative_control_a_wrong_rule_is_caught(monkeypatch):
    from minigumbel.estimators import SUBSET_ESTIMATORS
    kw = dict(dataset="orange", estimator="relaxed-topk", tau=0.7)
    _, g_a = _step("autograd", **kw)
    cls = type(SUBSET_ESTIMATORS["relaxed-topk"])
    right = cls.backward
    monkeypatch.setattr(cls, "backward", lambda self, draw, dz: 1.01 * right(self, draw, dz))
    _, g_wrong = _step("hand", **kw)
    scale = max(np.abs(v).max() for v in g_a.values())
    assert max(np.abs(g_wrong[k] - g_a[k]).max() for k in g_a) / scale > 1e-4


@pytest.mark.parametrize("grad", ["hand", "autograd"])
@pytest.mark.parametrize("estimator", ["st-topk", "reinforce-pl"])
def test_float32_keeps_dtype(grad, estimator):
    run = Run(TrainConfig(dtype="float32", grad=grad, estimator=estimator, **SMALL))
    loss, grads = (run.hand_step if grad == "hand" else run.autograd_step)(run.task.batch(run.rng, 8), 1.0)
    assert np.asarray(loss).dtype == np.float32 and all(np.asarray(g).dtype == np.float32 for g in grads.values())


# ----------------------------------------------------------------------------- training, CLI, checkpoints

def test_reinforce_pl_learns_orange_skin():
    # 400 steps, seed 0: the selector finds the four relevant features (a run that could not learn
    # stays near the random-selector values 0.4 selected, median rank 5.5)
    h = train(TrainConfig(task="select", dataset="orange", estimator="reinforce-pl", baseline="loo", tau=0.5,
                          steps=400, eval_size=500, eval_every=400))
    assert h["final"]["selected"] > 0.9 and h["final"]["median_rank"] < 3.0, h["final"]


def test_bad_configs_name_the_problem():
    with pytest.raises(ValueError, match="does not choose k items"):
        TrainConfig(task="select", estimator="gumbel").validate()
    with pytest.raises(ValueError, match="applies to the select task only"):
        TrainConfig(task="argmax", estimator="l2x").validate()
    with pytest.raises(ValueError, match="dataset applies to the select task only"):
        TrainConfig(task="argmax", dataset="xor").validate()
    with pytest.raises(ValueError, match="unknown dataset"):
        TrainConfig(task="select", estimator="l2x", dataset="mnist").validate()


def test_cli_train_json_and_checkpoint_resume(tmp_path):
    from minigumbel_cli.main import main
    ck, out, out2 = tmp_path / "c.npz", tmp_path / "a.json", tmp_path / "b.json"
    args = ["train", "--task", "select", "--dataset", "switch", "--estimator", "l2x", "--steps", "20",
            "--eval-every", "10", "--eval-size", "40", "--batch-size", "8", "--hidden", "8", "--quiet"]
    r = CliRunner().invoke(main, args + ["--json", str(out)])
    assert r.exit_code == 0, r.output
    assert "relevant features selected (top-5 mask)" in r.output
    full = json.loads(out.read_text())
    # 10 steps, checkpoint, then resume to 20: the same numbers as the uninterrupted run
    r = CliRunner().invoke(main, [a if a != "20" else "10" for a in args] + ["--checkpoint", str(ck)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, args + ["--checkpoint", str(ck), "--resume", str(ck), "--json", str(out2)])
    assert r.exit_code == 0, r.output
    resumed = json.loads(out2.read_text())
    assert resumed["loss"] == full["loss"] and resumed["final"] == full["final"]
    for bad, needle in [(["--estimator", "gumbel"], "does not choose k items"), (["--n-items", "5"], "--n-items"),
                        (["--estimator", "l2x", "--baseline", "loo"], "--baseline")]:
        r = CliRunner().invoke(main, ["train", "--task", "select", *bad])
        lines = [ln for ln in r.output.splitlines() if ln.strip()]
        assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("Error:") and needle in lines[0], r.output


def test_compare_reports_the_select_metrics():
    from minigumbel_cli.main import main
    r = CliRunner().invoke(main, ["compare", "--task", "select", "--dataset", "orange", "--estimators",
                                  "soft-topk,st-topk", "--steps", "5", "--seeds", "2", "--eval-size", "20",
                                  "--hidden", "4", "--workers", "1", "--quiet", "--json", "-"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["metrics"][:5] == ["selected", "median_rank", "accuracy", "soft_accuracy", "bayes_accuracy"]


# ----------------------------------------------------------------------------- CuPy

@pytest.mark.parametrize("estimator", SELECT_ESTIMATORS)
def test_train_steps_on_cupy_make_no_host_transfer(transfers, estimator):
    from minigumbel.train import prepare, run_training
    c = dict(estimator=estimator, backend="cupy", tau=1.0, baseline="loo" if estimator == "reinforce-pl" else "none",
             **{**SMALL, "batch_size": 4, "eval_size": 16})
    run_ = prepare(TrainConfig(steps=10, **c))
    run_.train_step()                                     # first-call set-up is not a step
    with transfers() as n:
        for _ in range(5):
            run_.train_step()
    assert n() == 0, f"{n()} device->host transfers in 5 training steps"
    run_ = prepare(TrainConfig(steps=20, **{**c, "eval_every": 10, "log_every": 10}))
    with transfers() as n:
        h = run_training(run_)
    assert n() == 3 + 2, n()          # evaluations at 0, 10, 20 + the losses read back at 10 and 20
    assert all(np.isfinite(list(h["final"].values())))


def test_cli_defaults_to_the_subset_estimators():
    from minigumbel_cli.main import main
    r = CliRunner().invoke(main, ["train", "--task", "select", "--steps", "3", "--eval-size", "20", "--quiet"])
    assert r.exit_code == 0 and "estimator relaxed-topk" in r.output, r.output
    r = CliRunner().invoke(main, ["compare", "--task", "select", "--steps", "2", "--seeds", "1", "--eval-size", "20",
                                  "--hidden", "4", "--workers", "1", "--quiet", "--json", "-"])
    assert r.exit_code == 0, r.output
    assert [row["estimator"] for row in json.loads(r.stdout)["results"]] == list(SELECT_ESTIMATORS)
