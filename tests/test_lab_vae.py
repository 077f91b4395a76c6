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
    assert a == b and a["steps"] == [0, 2, 4] and a["codes"] == 9
    assert [r["estimator"] for r in a["rows"][:3]] == ["st-gumbel", "gumbel-rao(k=2)", "reinforce"]
    assert all(np.isfinite(r["bias_norm"]) and -1 <= r["cosine"] <= 1 for r in a["rows"])
    with pytest.raises(ValueError, match="4096"):
        lab_vae.gradient_quality(["st"], [1.0], latents=5, classes=8)


def _cli(*args):
    return CliRunner().invoke(main, ["estimators", *args])


def test_cli_vae_json_and_figure_data():
    pytest.importorskip("sklearn")
    r = _cli("--problem", "vae", "--steps", "2", "--every", "1", "--samples", "4", "--images", "2",
             "--estimators", "st-gumbel,gst-p", "--tau", "1", "--json", "-q")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["steps"] == [0, 1, 2] and len(d["rows"]) == 6 and d["codes"] == 64
    from minigumbel.figures import vae_gradients_data
    fig = vae_gradients_data(d)
    assert set(fig["series"]) == {("st-gumbel", 1.0), ("gst-p", 1.0)}
    assert list(fig["series"][("gst-p", 1.0)]["step"]) == [0, 1, 2]


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
