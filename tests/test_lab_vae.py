"""lab_vae.py: the exact gradient of the VAE's expected reconstruction (three ways, with a negative
control), REINFORCE unbiased against it (tolerance from standard errors), the lab's run and CLI."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from minigumbel import lab_vae
from minigumbel.gradcheck import three_way
from minigumbel.tasks.vae import VAETask
from minigumbel_cli.main import main


def _task(latents=2, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    images = ((rng.uniform(size=(40, 12)) > 0.5).astype(float), (rng.uniform(size=(10, 12)) > 0.5).astype(float))
    task = VAETask(latents=latents, classes=classes, images=images, hidden=(8,))
    return task, task.init_params(np.random.default_rng(seed + 1)), task.test_x[:5]


def test_exact_gradient_three_ways_and_a_wrong_rule_is_rejected():
    # hand formula Σ_c q(c) R_c (1[c_l = k] − q_lk) vs autograd of vae.expected_reconstruction (written
    # apart, by another engineer) vs finite differences, wrt the encoder logits θ (B, L, K)
    task, params, x = _task()
    theta = np.random.default_rng(2).normal(size=(5, 2, 3))
    value, grad = lab_vae.exact_reconstruction_grad(task, params, x, theta)
    np.testing.assert_allclose(value, task.expected_reconstruction(params, x, theta), rtol=1e-13)
    f = lambda t: task.expected_reconstruction(params, x, t)                   # noqa: E731
    r = three_way("vae expected reconstruction", f, lambda dout: dout[:, None, None] * grad, theta)
    assert r.ok, str(r)
    q = np.exp(theta) / np.exp(theta).sum(-1, keepdims=True)
    wrong = lambda dout: dout[:, None, None] * (grad + q * value[:, None, None])   # noqa: E731  (no −q·R term)
    assert not three_way("wrong", f, wrong, theta).ok


def test_reinforce_is_unbiased_against_the_exact_vae_gradient():
    # 20,000 REINFORCE estimates (one code per image each); every coordinate of the mean within 4 of
    # its standard errors of the exact gradient. ST-Gumbel at τ = 0.5 is measurably biased (> 6 s.e.).
    task, params, x = _task()
    theta = np.random.default_rng(3).normal(size=(5, 2, 3))
    exact = lab_vae.exact_reconstruction_grad(task, params, x, theta)[1]
    n = 20_000
    g = lab_vae.estimator_grads(task, params, x, theta, "reinforce", 1.0, n, np.random.default_rng(4))
    se = g.std(0) / np.sqrt(n)
    assert np.all(np.abs(g.mean(0) - exact) <= 4 * se + 1e-12)
    s = lab_vae.estimator_grads(task, params, x, theta, "st-gumbel", 0.5, n, np.random.default_rng(5))
    bias = np.linalg.norm(s.mean(0) - exact)
    assert bias > 6 * np.sqrt(s.var(0, ddof=1).sum() / n), bias


def test_gradient_quality_rows_and_seed_reproducibility(monkeypatch):
    task_images = _task()[0]
    kw = dict(names=["st-gumbel", "gumbel-rao", "reinforce"], taus=[1.0], latents=2, classes=3, steps=4, every=2,
              images=5, samples=10, gr_k=2, lr=1e-3, seed=3)
    # small random images instead of the digits (no scikit-learn needed, fast)
    monkeypatch.setattr("minigumbel.tasks.vae.load_dataset", lambda *a: (task_images.train_x, task_images.test_x))
    a, b = lab_vae.gradient_quality(**kw), lab_vae.gradient_quality(**kw)
    assert a == b and a["steps"] == [0, 2, 4] and a["codes"] == 9 and a["seeds"] == [3]
    assert [r["estimator"] for r in a["rows"][:3]] == ["st-gumbel", "gumbel-rao(k=2)", "reinforce(loo)"]
    assert all(np.isfinite(r["bias_norm"]) and -1 <= r["cosine"] <= 1 for r in a["rows"])
    assert all(r["mse"] == pytest.approx(r["bias_norm"] ** 2 + r["variance"], rel=1e-12) for r in a["rows"])
    # several training runs: seeds 3 and 4; the seed-4 run is the run of seed=4 alone
    two = lab_vae.gradient_quality(**{**kw, "seeds": 2})
    four = lab_vae.gradient_quality(**{**kw, "seed": 4})
    assert two["seeds"] == [3, 4] and [r["seed"] for r in two["runs"]] == [3, 4]
    assert [r for r in two["rows"] if r["seed"] == 3] == a["rows"]
    assert [r for r in two["rows"] if r["seed"] == 4] == four["rows"] and two["runs"][1] == four["runs"][0]
    assert two["rows"][0] != four["rows"][0]                  # another run, other numbers
    with pytest.raises(ValueError, match="4096"):
        lab_vae.gradient_quality(["st"], [1.0], latents=5, classes=8)
    with pytest.raises(ValueError, match="seeds"):
        lab_vae.gradient_quality(["st"], [1.0], seeds=0)


def test_vae_rows_are_the_statistics_of_the_estimates(monkeypatch):
    # one checkpoint (steps = every = 1 → steps 0 and 1); the step-0 rows recomputed here from the same
    # streams by a two-pass NumPy computation, REINFORCE with its leave-one-out baseline written out
    # the 50 estimates in two batches of 25 (CHUNK made small): the leave-one-out baseline is per batch
    task, params, x = _task()
    monkeypatch.setattr("minigumbel.tasks.vae.load_dataset", lambda *a: (task.train_x, task.test_x))
    monkeypatch.setattr(lab_vae, "CHUNK", 25)
    r = lab_vae.gradient_quality(["reinforce", "st"], [0.5], latents=2, classes=3, steps=1, every=1, images=5,
                                 samples=50, seed=0, hidden=8)
    from minigumbel.train import Run, TrainConfig
    run = Run(TrainConfig.for_task("vae", latents=2, classes=3, steps=1, seed=0, estimator="st-gumbel", hidden=8))
    xs = run.task.test_x[:5]
    logits, _ = run.task.scores(run.params, {"x": xs})
    _, exact = lab_vae.exact_reconstruction_grad(run.task, run.params, xs, logits)
    exact = exact.reshape(-1)
    rows = {row["estimator"]: row for row in r["rows"] if row["step"] == 0}
    for name, label, opts in (("reinforce", "reinforce(loo)", {"baseline": "loo"}), ("st", "st", {})):
        rng = lab_vae._rng(run.backend, 0, 0, name, 0.5, None)
        g = np.concatenate([lab_vae.estimator_grads(run.task, run.params, xs, logits, name, 0.5, 25, rng,
                                                    **opts).reshape(25, -1) for _ in range(2)])
        mean, var = g.mean(0), g.var(0, ddof=1).sum()
        row = rows[label]
        assert row["bias_norm"] == pytest.approx(np.linalg.norm(mean - exact), rel=1e-10)
        assert row["variance"] == pytest.approx(var, rel=1e-10)
        assert row["mse"] == pytest.approx(np.linalg.norm(mean - exact) ** 2 + var, rel=1e-10)
        assert row["cosine"] == pytest.approx(mean @ exact / np.linalg.norm(mean) / np.linalg.norm(exact), rel=1e-10)
    assert r["runs"][0]["exact_norm"][0] == pytest.approx(np.linalg.norm(exact), rel=1e-12)


def test_images_default_agrees_with_the_help():
    import inspect
    from minigumbel_cli.estimators_cmd import estimators
    default = inspect.signature(lab_vae.gradient_quality).parameters["images"].default
    help_text = next(p.help for p in estimators.params if p.name == "images")
    assert default == 32 and f"[default: {default}]" in help_text


def _cli(*args):
    return CliRunner().invoke(main, ["estimators", *args])


def test_cli_vae_json_and_figure_data():
    pytest.importorskip("sklearn")
    r = _cli("--problem", "vae", "--steps", "2", "--every", "1", "--samples", "4", "--images", "2",
             "--estimators", "st-gumbel,gst-p", "--tau", "1", "--json", "-", "-q")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["steps"] == [0, 1, 2] and len(d["rows"]) == 6 and d["codes"] == 64
    from minigumbel.figures import vae_gradients_data
    fig = vae_gradients_data(d)
    assert set(fig["series"]) == {("st-gumbel", 1.0), ("gst-p", 1.0)}
    assert list(fig["steps"]) == [0, 1, 2] and fig["series"][("gst-p", 1.0)]["rel_mse"].shape == (1, 3)


@pytest.mark.parametrize("args,needle", [
    (["--latents", "3"], "--latents"), (["--problem", "vae", "--latents", "5", "--classes", "8"], "4096"),
    (["--problem", "vae", "--estimators", "exact,st"], "--estimators"),
    (["--problem", "vae", "--train-estimator", "nope"], "--train-estimator"),
    (["--problem", "vae", "--gr-k", "1,2"], "--gr-k"),
    (["--problem", "vae", "--k", "3"], "--k"), (["--every", "3"], "--every applies"),
])
def test_cli_vae_bad_input_is_one_error_line(args, needle):
    # without -q too: nothing (no progress bar label) before the Error line
    r = _cli(*args, "--steps", "1") if "--problem" in args else _cli(*args)
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("Error:") and needle in lines[0], r.output
    r = _cli(*args, "--steps", "1", "-q") if "--problem" in args else _cli(*args, "-q")
    assert r.exit_code == 2, r.output
    assert needle in r.output and "Traceback" not in r.output


def test_cli_vae_without_cupy_is_one_error_line_before_any_progress(no_cupy):
    r = _cli("--problem", "vae", "--backend", "cupy", "--steps", "1")
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("Error:") and "pip install" in lines[0], r.output


def test_vae_gradient_summary_example_against_hand_computed_numbers(tmp_path):
    # two runs × two checkpoints from step 500; numbers chosen here: reinmax's variance is 4× st's in
    # every cell, its squared bias (less variance/samples) 0.25 lower, so n* = (4v − v) / 0.25 = 12v
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).parent.parent / "examples" / "vae_gradient_summary.py"
    spec = importlib.util.spec_from_file_location("vae_gradient_summary", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows, samples = [], 100
    for seed in (0, 1):
        for step, v in ((0, 9.0), (500, 1.0), (1000, 2.0)):
            for name, var, b2 in (("st", v, 0.5), ("reinmax", 4 * v, 0.25), ("softmax", 0.0, 1.0)):
                bias = np.sqrt(b2 + var / samples)                 # so that bias² − var/samples = b2
                rows.append({"seed": seed, "step": step, "estimator": name, "tau": 1.0, "bias_norm": bias,
                             "bias_se": np.sqrt(var / samples), "variance": var, "mse": bias ** 2 + var,
                             "cosine": 0.5, "norm_ratio": 1.0})
    result = {"seeds": [0, 1], "steps": [0, 500, 1000], "samples": samples, "latents": 2, "classes": 8,
              "train_estimator": "st-gumbel", "rows": rows,
              "runs": [{"seed": s, "exact_norm": [1.0, 1.0, 1.0]} for s in (0, 1)]}
    s = mod.summarize(result)[1.0]
    assert s["ratio"] == {"st": (4.0, 4.0, 4.0)}                  # softmax (variance 0) is left out
    med, lo, hi = s["break_even"]["st"]
    assert (lo, hi) == pytest.approx((12.0, 24.0)) and med == pytest.approx(18.0)
    assert s["mse_rank"]["softmax"] == [1] * 4 and s["mse_rank"]["reinmax"] == [3] * 4
    assert s["wins"]["st"] == (0, 4, 0)        # equal cosines; smaller bias norm in all 4 cells; larger MSE in all
    q = dict((name, q) for name, q, _, _ in s["rows"])
    assert q["reinmax"]["variance/‖∇‖²"] == pytest.approx((6.0, 4.0, 8.0))    # median, min, max over 4 cells
    f = tmp_path / "r.json"
    f.write_text(json.dumps(result))
    mod.main([str(f)])
