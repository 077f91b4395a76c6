"""The categorical VAE task: hand == autograd for every estimator, finite differences, the bounds
against an exact enumeration, the batch stream, learning, resume, CLI."""
import importlib.util
import itertools
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from minigumbel.gradcheck import finite_difference_vjp
from minigumbel.train import TRAIN_ESTIMATORS, Run, TrainConfig, train
from minigumbel.tasks.vae import GRADCHECK_CASES, VAETask, _tiny_task, pixel_baseline_nll
from minigumbel_cli.main import main

# the digits data set needs scikit-learn (the 'data' extra, part of the test extra); the tests on
# the tiny in-memory task (_tiny_task: enumeration, bounds, batches, evaluation values) do not
needs_digits = pytest.mark.skipif(importlib.util.find_spec("sklearn") is None,
                                  reason="the digits data set needs scikit-learn (the 'data' extra)")

SMALL = dict(batch_size=8, latents=3, classes=4)


def _config(**kw):
    kw = {**SMALL, **kw}
    if kw.get("estimator") == "reinmax":
        kw.setdefault("tau_min", 1.0)
    return TrainConfig.for_task("vae", **kw)


def _step(grad, **kw):
    run = Run(_config(grad=grad, **kw))
    batch = run.task.batch(run.rng, run.config.batch_size)
    return (run.hand_step if grad == "hand" else run.autograd_step)(batch, run.config.tau)


def _rel(g1, g2):
    return max(np.max(np.abs(g1[k] - g2[k])) for k in g2) / max(np.max(np.abs(v)) for v in g2.values())


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=lambda c: getattr(c, "__name__", "half"))
def test_task_halves_three_way(case):
    r = case()
    assert r.ok, str(r)


@needs_digits
@pytest.mark.parametrize("extra", [{}, {"samples": 3}], ids=["S1", "S3"])
@pytest.mark.parametrize("estimator", TRAIN_ESTIMATORS)
def test_one_step_hand_gradients_equal_autograd(estimator, extra):
    kw = dict(estimator=estimator, tau=1.3, **extra)
    if estimator == "reinforce":
        kw["baseline"] = "loo" if extra else "running"
    loss_h, g_h = _step("hand", **kw)
    loss_a, g_a = _step("autograd", **kw)
    assert loss_h == loss_a and sorted(g_h) == sorted(g_a)
    assert _rel(g_h, g_a) < 1e-12            # float64 round-off (observed ≤ 4e-16)


@needs_digits
def test_negative_control_a_wrong_kl_gradient_is_caught(monkeypatch):
    _, g_a = _step("autograd", estimator="gumbel", tau=1.3)
    right = VAETask.logits_loss_backward
    monkeypatch.setattr(VAETask, "logits_loss_backward", lambda self, d, c: 1.01 * right(self, d, c))
    _, g_wrong = _step("hand", estimator="gumbel", tau=1.3)
    assert _rel(g_wrong, g_a) > 1e-5


@needs_digits
@pytest.mark.parametrize("estimator", ["softmax", "gumbel"])
def test_one_step_gradient_matches_finite_differences(estimator):
    """Noise fixed, the -ELBO estimate is smooth in the parameters: check both ends of the model."""
    run = Run(_config(estimator=estimator, tau=1.3))
    batch = run.task.batch(run.rng, 8)
    state = run.rng.bit_generator.state
    _, grads = run.hand_step(batch, 1.3)
    for name in ("enc.b2", "dec.b2"):
        base = run.params[name].copy()

        def loss_at(w):
            run.params[name] = w
            run.rng.bit_generator.state = state
            return np.asarray(run.hand_step(batch, 1.3)[0])
        fd = finite_difference_vjp(loss_at, base, np.array(1.0))
        run.params[name] = base
        assert np.allclose(grads[name], fd, rtol=1e-5, atol=1e-7), (name, np.max(np.abs(grads[name] - fd)))


def _exact_log_px(task, params, x):
    """log p(x) = log Σ_c p(x | c) p(c) over all K^L codes, written out with loops."""
    out = []
    for xi in x:
        terms = []
        for code in itertools.product(range(task.classes), repeat=task.latents):
            z = np.eye(task.classes)[list(code)][None]                          # (1, L, K)
            p = task.decode_probs(params, z)[0]
            terms.append(np.sum(xi * np.log(p) + (1 - xi) * np.log(1 - p)) - task.latents * math.log(task.classes))
        out.append(np.logaddexp.reduce(terms))
    return np.array(out)


def test_bounds_against_exact_enumeration():
    task = _tiny_task()
    rng = np.random.default_rng(2)
    params = {k: v + 0.3 * rng.standard_normal(v.shape) for k, v in task.init_params(rng).items()}
    x = task.test_x
    nll = -np.mean(_exact_log_px(task, params, x))
    logits = task._encode(params, x)
    # the exact −ELBO: E_q[recon] by enumeration + KL; −ELBO ≥ −log p(x), with equality iff q = posterior
    nelbo = np.mean(task.expected_reconstruction(params, x, logits) + task.logits_loss(logits)[0])
    assert nelbo > nll
    # IW with S = 4000 converges to −log p(x) from above (gap here: −ELBO − NLL ≈ 0.73); over 5
    # seeds it gave 4.08–4.13 around NLL = 4.09 (sd ≈ 0.02): tolerance 0.1 = 5 sd, far below the gap
    iw = float(task.iw_nll(params, x, np.random.default_rng(0), 4000))
    assert nll - 0.1 < iw < nll + 0.1 and iw < nelbo - 0.5
    # the hard −ELBO estimate: sd 0.03 with 10 codes per image, so ≈ 0.002 with 2000; tolerance 0.02
    hard = float(task._nelbo(params, x, np.random.default_rng(1), 2000)[0])
    assert abs(hard - nelbo) < 0.02


def test_expected_reconstruction_refuses_huge_enumerations():
    task = _tiny_task()
    task.latents, task.classes = 8, 8
    with pytest.raises(ValueError, match="8\\^8"):
        task.expected_reconstruction({}, task.test_x, np.zeros((4, 8, 8)))


def test_pixel_baseline_formula():
    train = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    test = np.array([[1.0, 1.0]])
    p = np.array([2.5 / 4, 0.5 / 4])                       # add-½: (count + ½) / (N + 1)
    assert math.isclose(pixel_baseline_nll(train, test), -np.sum(np.log(p)))


def test_batches_walk_fresh_epoch_orders_and_seek_resumes():
    task = _tiny_task(seed=3)                              # 5 training images
    seen = np.concatenate([task.batch(size=2)["x"] for _ in range(5)])     # 10 rows = two epochs
    rows = lambda a: sorted(map(tuple, a))                 # noqa: E731
    assert rows(seen[:5]) == rows(task.train_x) and rows(seen[5:]) == rows(task.train_x)
    other = _tiny_task(seed=3)
    other.seek(3)
    assert np.array_equal(other.batch(size=2)["x"], seen[6:8])


@needs_digits
def test_softmax_leaks_gumbel_beats_the_pixel_baseline():
    """200 steps of the reference setup: the seed question on real data. Deterministic softmax's
    soft code is far better than its hard code; gumbel's hard code beats the pixel baseline."""
    soft = train(TrainConfig.for_task("vae", estimator="softmax", steps=200, eval_every=200))["final"]
    gum = train(TrainConfig.for_task("vae", estimator="gumbel", steps=200, eval_every=200))["final"]
    assert soft["test_nelbo_hard"] > soft["test_nelbo_soft"] + 5       # observed 40.1 vs 10.7
    assert gum["test_nelbo_hard"] < gum["pixel_baseline_nll"] - 1      # observed 23.3 vs 25.2
    assert gum["test_iw_nll"] < gum["test_nelbo_hard"]


@needs_digits
def test_stop_and_resume_equals_uninterrupted_run(tmp_path):
    kw = dict(estimator="reinforce", baseline="running", steps=24, eval_every=8)
    full = train(_config(**kw))
    ck = str(tmp_path / "run.npz")
    train(_config(**kw, checkpoint=ck), on_step=lambda r: r["step"] < 8)
    resumed = train(_config(**kw, checkpoint=ck, resume=ck))
    assert resumed["loss"] == full["loss"] and resumed["final"] == full["final"]


@needs_digits
def test_training_runs_on_every_backend(backend):
    hist = train(_config(backend=backend.name, steps=3, eval_every=3))
    assert np.isfinite(hist["final"]["test_nelbo_hard"])


@pytest.mark.parametrize("kw, needle", [(dict(task="argmax", samples=2), "applies to the vae task"),
                                        (dict(task="vae", data="cifar"), "unknown data"),
                                        (dict(task="vae", latents=0), "latents"),
                                        (dict(task="vae", classes=1), "classes")])
def test_bad_config(kw, needle):
    with pytest.raises(ValueError, match=needle):
        TrainConfig(**kw).validate()


@needs_digits
def test_cli_train_json_and_compare_columns(tmp_path):
    out = tmp_path / "run.json"
    r = CliRunner().invoke(main, ["train", "--task", "vae", "--steps", "4", "--eval-every", "2", "-L", "2", "-K", "3",
                                  "--json", str(out), "-q"])
    assert r.exit_code == 0, r.output
    hist = json.loads(out.read_text())
    assert hist["config"]["lr"] == 1e-3 and hist["config"]["batch_size"] == 100 and hist["config"]["anneal_every"] == 1
    assert {"test_nelbo_hard", "test_nelbo_soft", "test_iw_nll", "train_nelbo", "kl"} <= set(hist["final"])
    r = CliRunner().invoke(main, ["compare", "--task", "vae", "--steps", "2", "--seeds", "1", "-L", "2", "-K", "3",
                                  "--estimators", "softmax,st", "-q"])
    assert r.exit_code == 0, r.output
    for col in ("test -ELBO hard", "test objective", "test IW (S=100)", "train -ELBO", "KL", "seconds",
                "independent-pixel baseline"):
        assert col in r.output


@needs_digits
def test_figure_data_and_drawing(tmp_path):
    pytest.importorskip("matplotlib")
    from minigumbel import figures, plotting
    d = figures.vae_data(steps=3, eval_every=3, runs=(("softmax", {}), ("gumbel", {})), n_show=4)
    assert set(d["curves"]) == {"softmax", "gumbel"} and d["side"] == 8
    assert list(d["curves"]["gumbel"]["step"]) == [0, 3]
    assert len(d["images"]) == 5 and all(v.shape == (4, 64) for v in d["images"].values())
    assert all(0 <= v.min() and v.max() <= 1 for v in d["images"].values())
    assert np.array_equal(d["images"]["test digits"], VAETask().test_x[:4])
    # the hard-code row decodes codes drawn from q, not the soft code softmax(θ/τ)
    assert not np.allclose(d["images"]["softmax-trained, hard code d ~ q"],
                           d["images"]["softmax-trained, soft code softmax(θ/τ)"])
    out = plotting.draw("vae", d, tmp_path / "vae.png")
    assert out.stat().st_size > 1000


@needs_digits
def test_bench_vae_part_times_hand_and_autograd():
    r = CliRunner().invoke(main, ["bench", "--parts", "vae", "--repeats", "2", "--json", "-", "--dtype", "float64"])
    assert r.exit_code == 0, r.output
    cases = json.loads(r.stdout)["vae_step"]["cases"]
    assert set(cases) == {"hand", "autograd"} and all(c["median_ms"] > 0 for c in cases.values())


def test_reinforce_per_latent_score_function_is_unbiased_for_the_exact_gradient():
    """REINFORCE as the training step applies it to the VAE (the image's loss repeated per latent,
    est.backward on (N, B, L, K)) averages to the exact ∇θ E_q[recon] from enumerating all K^L codes."""
    import autograd.numpy as anp
    from autograd import grad
    from minigumbel.estimators import ESTIMATORS
    task = _tiny_task()
    rng = np.random.default_rng(5)
    params = {k: v + 0.3 * rng.standard_normal(v.shape) for k, v in task.init_params(rng).items()}
    params["dec.W0"] = 4.0 * params["dec.W0"]                  # a decoder that reads the code strongly
    x = task.test_x
    logits = rng.normal(size=(4, 2, 3))                                        # (B, L, K)
    # autograd's own sum: np.sum on a traced value passes out=None, which autograd 1.7 refuses
    exact = grad(lambda t: anp.sum(task.expected_reconstruction(params, x, t)))(logits)
    b = task.per_choice(task.expected_reconstruction(params, x, logits))       # a constant baseline (B, L)
    n = 40_000
    est = ESTIMATORS["reinforce"]
    draw = est.sample(np.broadcast_to(logits, (n,) + logits.shape), np.random.default_rng(0))
    f = task.per_choice(task.reconstruction(params, x, draw.z)[0])             # (n, B, L)
    per_draw = est.backward(draw, f, b)                                        # (n, B, L, K)
    mean, se = per_draw.mean(0), per_draw.std(0, ddof=1) / np.sqrt(n)
    # unbiased: every entry within 4 standard errors (a false alarm in 24 entries: p ≈ 1.5e-3)
    assert np.all(np.abs(mean - exact) < 4 * se + 1e-12), np.max(np.abs(mean - exact) / se)
    # negative control: averaging the latents' scores instead of summing them halves the gradient
    assert np.max(np.abs(mean / 2 - exact) / se) > 10


def _tiny_params(seed):
    task = _tiny_task()
    rng = np.random.default_rng(seed)
    return task, {k: v + 0.3 * rng.standard_normal(v.shape) for k, v in task.init_params(rng).items()}


def _bce(task, params, x, z):
    """−log p(x | z) per image written out: Σ_d log(1 + e^a) − x_d a, a = decoder(z)."""
    from minigumbel.nn import mlp_forward
    a, _ = mlp_forward(params, z.reshape(z.shape[:-2] + (task.latents * task.classes,)), "dec.")
    return np.sum(np.logaddexp(0.0, a) - x * a, axis=-1)


def test_evaluate_values_match_an_independent_computation():
    """evaluate's four numbers, recomputed here from the same seeded noise: EVAL_SAMPLES = 10 hard
    codes d ~ q per image for the hard −ELBO, then 10 of the estimator's own codes for the soft one
    (a planted evaluate that used 1 code per image passed every earlier test)."""
    from minigumbel.functional import sample_gumbel
    from minigumbel.estimators import ESTIMATORS
    from minigumbel.tasks.vae import EVAL_SAMPLES
    task, params = _tiny_params(3)
    tau, seed = 0.7, 4
    got = task.evaluate(params, ESTIMATORS["gumbel"], tau, {}, seed)
    x, L, K = task.test_x, task.latents, task.classes
    logits = task._encode(params, x)                                          # (B, L, K)
    rng = np.random.default_rng([seed, 3])                                    # evaluate's own seed
    g = sample_gumbel(rng, (EVAL_SAMPLES,) + logits.shape)                   # (10, B, L, K)
    d = np.eye(K)[np.argmax(logits + g, axis=-1)]                             # one-hot codes d ~ q
    q = np.exp(logits - logits.max(-1, keepdims=True))
    q /= q.sum(-1, keepdims=True)
    kl = np.sum(q * np.log(q), axis=(-2, -1)) + L * math.log(K)              # KL(q || uniform) per image
    recon = _bce(task, params, x, d)                                          # (10, B)
    g2 = sample_gumbel(rng, (EVAL_SAMPLES,) + logits.shape)                  # the next draws: soft codes
    s = (logits + g2) / tau
    z = np.exp(s - s.max(-1, keepdims=True))
    z /= z.sum(-1, keepdims=True)
    want = {"test_nelbo_hard": recon.mean() + kl.mean(), "test_recon_hard": recon.mean(), "kl": kl.mean(),
            "test_nelbo_soft": _bce(task, params, x, z).mean() + kl.mean()}
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12), (key, got[key], value)
    assert got["hard_loss"] == got["test_nelbo_hard"] and got["soft_loss"] == got["test_nelbo_soft"]


def test_iw_nll_counts_every_image_across_chunk_boundaries():
    """A posterior q that is one-hot to 1e-26 makes the IW bound deterministic: every code drawn is d*,
    so −log p̂(x) = −log p(x | d*) + L log K per image, exactly. 7 images in chunks of 1, 2, 3, 7 and
    one chunk of all: each must give the mean over all 7 (dropping an image at a chunk boundary, or
    counting one twice, changes it by ~1 nat here)."""
    task, params = _tiny_params(6)
    rng = np.random.default_rng(1)
    x = (rng.random((7, task.test_x.shape[1])) < 0.4).astype(float)          # 7 distinct images
    assert len({tuple(r) for r in x}) == 7
    last = max(int(k[len("enc.W"):]) for k in params if k.startswith("enc.W"))
    code = rng.integers(task.classes, size=task.latents)                     # d*: one class per latent
    params[f"enc.W{last}"] = np.zeros_like(params[f"enc.W{last}"])
    params[f"enc.b{last}"] = 60.0 * np.eye(task.classes)[code].reshape(-1)   # logits: 60 on d*, 0 elsewhere
    d_star = np.eye(task.classes)[code]                                       # (L, K)
    exact = np.mean(_bce(task, params, x, np.broadcast_to(d_star, (7,) + d_star.shape))
                    + task.latents * math.log(task.classes))
    per_image = _bce(task, params, x, np.broadcast_to(d_star, (7,) + d_star.shape))
    assert np.ptp(per_image) > 0.5                                           # images differ: a drop shows
    for chunk in (1, 2, 3, 7, None):
        iw = float(task.iw_nll(params, x, np.random.default_rng(0), n_samples=5, chunk=chunk))
        assert iw == pytest.approx(exact, rel=1e-12), (chunk, iw, exact)


def test_init_torch_gives_other_weights_and_unknown_inits_are_refused():
    # init="torch": PyTorch's nn.Linear default (uniform ±1/√fan_in weights and biases) on every layer
    task = _tiny_task(init="torch")
    he, torch_ = _tiny_task().init_params(np.random.default_rng(0)), task.init_params(np.random.default_rng(0))
    assert sorted(he) == sorted(torch_) and "init='torch'" in repr(task)
    for k, v in torch_.items():
        fan_in = v.shape[0] if k.split(".")[1].startswith("W") else torch_[k.replace(".b", ".W")].shape[0]
        assert np.abs(v).max() <= 1 / np.sqrt(fan_in) and not np.array_equal(v, he[k]), k
    with pytest.raises(ValueError, match="unknown init 'xavier'"):
        _tiny_task(init="xavier")
