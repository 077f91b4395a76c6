"""Estimators for an order (minigumbel.estimators.order), the order lab (lab_order) and the sort task
(minigumbel.tasks.sort): each rule three ways given its draw, hand == autograd for every estimator of the
task, REINFORCE-PL unbiased against the enumerated gradient, the task's metrics, CuPy on the stand-in."""
from __future__ import annotations

import dataclasses
import itertools
import json

import numpy as np
import pytest
from click.testing import CliRunner

from minigumbel.estimators.order import ORDER_ESTIMATORS
from minigumbel.gradcheck import assert_three_way, finite_difference_vjp, three_way
from minigumbel.lab_order import (ORDER_LAB_ESTIMATORS, exact_order_grad, make_order_problem, order_estimates,
                                  order_table)
from minigumbel.tasks.sort import SORT_ESTIMATORS, sort_metrics
from minigumbel.subsets import plackett_luce_log_prob
from minigumbel.functional import one_hot
from minigumbel.train import Run, TrainConfig, train
from minigumbel_cli.main import main


def _draw(name, samples=3, tau=0.7, seed=0):
    rng = np.random.default_rng(seed)
    est = ORDER_ESTIMATORS[name]
    if est.layout == "position-item":
        logits = rng.normal(size=(2, 4))
        draw = est.sample(logits, rng, tau, samples=samples)
    else:
        logits = rng.normal(size=(2, 4, 4))
        draw = est.sample(logits, rng, tau, samples=samples, n_iters=6)
    return est, logits, draw


# ----------------------------------------------------------------------------- each rule, three ways

@pytest.mark.parametrize("name", [n for n in ORDER_ESTIMATORS if ORDER_ESTIMATORS[n].needs == "dd"])
def test_relaxed_rules_three_way_given_the_draw(name):
    # hand backward vs autograd (through the surrogate: straight-through for st-gumbel-sinkhorn) vs
    # central differences of the relaxed path, the draw's noise held fixed
    est, logits, draw = _draw(name)
    assert_three_way(name, lambda t: est.relaxed(t, draw), lambda d: est.backward(draw, d), logits,
                     f_autograd=lambda t: est.surrogate(t, draw))


def test_reinforce_pl_three_way_given_the_draw():
    # the surrogate (f − b) log PL(o; s): its gradient is the rule; the draw (orders) held fixed
    est, logits, draw = _draw("reinforce-pl")
    f_d = np.random.default_rng(1).normal(size=draw.order.shape[:-1])          # (S, B)
    b = 0.3
    assert_three_way("reinforce-pl", lambda t: est.relaxed(t, draw, f_d, b),
                     lambda d: est.backward(draw, d * (f_d - b)), logits)


def test_reinforce_pl_rule_is_the_score_function_written_out():
    est, logits, draw = _draw("reinforce-pl", samples=2)
    f_d = np.array([[1.0, -2.0], [0.5, 3.0]])
    got = est.backward(draw, f_d, 0.25)
    want = np.zeros_like(logits)
    for s_, b_ in itertools.product(range(2), range(2)):
        g = finite_difference_vjp(lambda t: plackett_luce_log_prob(t, draw.order[s_, b_]), logits[b_], np.array(1.0))
        want[b_] += (f_d[s_, b_] - 0.25) * g
    assert np.allclose(got, want, atol=1e-8)


def test_negative_control_wrong_order_rule_is_rejected():
    est, logits, draw = _draw("stochastic-neuralsort")
    from minigumbel.permutations import _neuralsort_vjp
    wrong = lambda d: _neuralsort_vjp(d, logits + 0 * draw.g, draw.tau).sum(0)   # noqa: E731  (at s, not s + g)
    r = three_way("stochastic-neuralsort, wrong", lambda t: est.relaxed(t, draw), wrong, logits)
    assert not r.ok and r.rel_vs_fd > 1e-2


def test_samples_axis_and_shapes():
    for name in ORDER_ESTIMATORS:
        est, logits, draw = _draw(name, samples=3)
        stochastic = name not in ("neuralsort", "sinkhorn")
        expect = ((3,) if stochastic else ()) + (2, 4, 4)
        assert draw.z.shape == expect, name
        if est.hard:
            assert np.all(draw.z.sum(-1) == 1) and np.all(draw.z.sum(-2) == 1)      # permutation matrices


# ----------------------------------------------------------------------------- the lab

def test_exact_order_gradient_matches_finite_differences_of_the_enumeration():
    theta, f, _ = make_order_problem(4, 3)
    orders = np.array(list(itertools.permutations(range(4))))

    def expected_f(t):
        p = np.exp(plackett_luce_log_prob(np.broadcast_to(t, orders.shape), orders))
        return np.sum(p * f(one_hot(orders, 4))[0])
    fd = finite_difference_vjp(expected_f, theta, np.array(1.0))
    assert np.allclose(exact_order_grad(theta, f), fd, atol=1e-9)


def test_reinforce_pl_is_unbiased_and_neuralsort_is_not():
    # 20,000 estimates, seed 0: REINFORCE-PL's mean is within 4 standard errors of the exact gradient
    # (each coordinate); deterministic NeuralSort's error is a bias, many standard errors away (s.e. 0)
    t = order_table(4, 0, ["reinforce-pl", "neuralsort"], [1.0], 20_000)
    rf, ns = t["rows"]
    assert rf["bias_norm"] < 4 * rf["bias_se"], rf
    assert ns["variance"] == 0 and ns["bias_norm"] > 0.01, ns


def test_st_gumbel_sinkhorn_hard_forward_is_plackett_luce():
    # with the keys' noise (G = c gᵀ) matching(θ cᵀ + G) is the order of θ + g: its permutations are
    # exactly Gumbel-sort's (same g), so the forward is an exact Plackett-Luce sample
    theta, f, _ = make_order_problem(5, 1)
    rng = np.random.default_rng(2)
    est = ORDER_ESTIMATORS["st-gumbel-sinkhorn"]
    c = 5 + 1 - 2 * np.arange(1, 6.0)
    draw = est.sample(np.broadcast_to(theta[:, None] * c, (200, 5, 5)), rng, 1.0, key_weights=c)
    g = draw.g[..., 0] / c[0]                                                  # (200, 5): one key per item
    assert draw.g.shape == (200, 5, 5) and np.allclose(draw.g, g[..., None] * c, atol=1e-12)   # G[i, r] = c_r g_i
    assert np.unique(g).size == g.size                                          # n independent keys per draw
    keys = theta + g
    order = np.argsort(-keys, axis=-1)
    assert np.array_equal(np.swapaxes(draw.z, -1, -2), one_hot(order, 5))


@pytest.mark.parametrize("name", ["neuralsort", "stochastic-neuralsort", "gumbel-sinkhorn", "sinkhorn"])
def test_order_estimates_are_the_gradient_of_their_relaxed_values(name):
    # the noise does not depend on θ, so with the same seed the mean relaxed value is a smooth
    # function of θ, and the lab's mean estimate (its rule, then dθ_i = Σ_r c_r d log α[i, r] for
    # the Sinkhorn rules) must be its gradient: central differences, h = 1e-6
    theta, f, _ = make_order_problem(4, 2)
    mean_value = lambda t: order_estimates(name, t, f, np.random.default_rng(5), 0.7, 6, n_iters=8)[0].mean()  # noqa: E731
    grad = order_estimates(name, theta, f, np.random.default_rng(5), 0.7, 6, n_iters=8)[1].mean(0)
    fd = finite_difference_vjp(mean_value, theta, np.array(1.0))
    assert np.allclose(grad, fd, atol=1e-8), (grad, fd)


def test_order_estimates_shapes_and_cli(tmp_path):
    theta, f, _ = make_order_problem(4, 0)
    for name in ORDER_LAB_ESTIMATORS:
        v, g = order_estimates(name, theta, f, np.random.default_rng(0), 0.5, 7)
        assert v.shape == (7,) and g.shape == (7, 4) and np.all(np.isfinite(g)), name
    r = CliRunner().invoke(main, ["estimators", "--problem", "order", "--k", "4", "--samples", "200",
                                  "--tau", "0.5,1", "--json", "-", "--quiet"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    from minigumbel.lab import ROW_KEYS
    assert {row["estimator"] for row in out["rows"]} == {"reinforce-pl(loo)", *ORDER_LAB_ESTIMATORS[1:]}
    assert all(tuple(row) == ROW_KEYS for row in out["rows"])
    r = CliRunner().invoke(main, ["estimators", "--problem", "order", "--k", "8"])
    assert r.exit_code == 2 and "Error:" in r.output and "--k" in r.output


# ----------------------------------------------------------------------------- the sort task

SMALL = dict(n_items=4, hidden=5, batch_size=3, eval_size=20, eval_every=5, steps=5)


def _step(grad, **kw):
    run = Run(TrainConfig.for_task("sort", grad=grad, **{**SMALL, **kw}))
    # nonzero hidden pre-activations away from ReLU's kink are guaranteed by U(±1) biases already
    batch = run.task.batch(run.rng, run.config.batch_size)
    return (run.hand_step if grad == "hand" else run.autograd_step)(batch, run.config.tau)


@pytest.mark.parametrize("estimator", SORT_ESTIMATORS)
def test_sort_task_hand_gradients_equal_autograd(estimator):
    loss_h, g_h = _step("hand", estimator=estimator, tau=0.8)
    loss_a, g_a = _step("autograd", estimator=estimator, tau=0.8)
    assert loss_h == pytest.approx(float(loss_a), rel=1e-13)
    scale = max(np.abs(v).max() for v in g_a.values())
    assert max(np.abs(g_h[k] - g_a[k]).max() for k in g_a) < 1e-12 * scale


def test_sort_task_negative_control(monkeypatch):
    est = ORDER_ESTIMATORS["gumbel-sinkhorn"]
    right = type(est).backward
    _, g_a = _step("autograd", estimator="gumbel-sinkhorn")
    monkeypatch.setattr(type(est), "backward", lambda self, draw, dz: 1.01 * right(self, draw, dz))
    _, g_h = _step("hand", estimator="gumbel-sinkhorn")
    assert max(np.abs(g_h[k] - g_a[k]).max() / np.abs(g_a[k]).max() for k in g_a) > 1e-3


@pytest.mark.parametrize("layout", ["gumbel-sinkhorn", "neuralsort"])
def test_sort_task_readout_three_way(layout):
    run = Run(TrainConfig.for_task("sort", estimator=layout, **SMALL))
    batch = run.task.batch(run.rng, 3)
    z0 = np.random.default_rng(0).dirichlet(np.ones(4), size=(2, 3, 4))          # (S, B, N, N)
    task = run.task
    assert_three_way("sort readout", lambda z: task.readout(run.params, batch, z)[0],
                     lambda d: task.readout_backward(d, task.readout(run.params, batch, z0)[1])[1], z0)


def test_sort_metrics_by_hand():
    true = np.array([[0, 1, 2, 3], [0, 1, 2, 3]])
    pred = np.array([[0, 1, 2, 3], [1, 0, 2, 3]])       # one adjacent swap in the second list
    wrong, any_wrong, tau = sort_metrics(np, pred, true)
    assert wrong == pytest.approx(2 / 8) and any_wrong == pytest.approx(0.5)
    assert tau == pytest.approx((1.0 + (5 - 1) / 6) / 2)     # Kendall τ = (C − D)/6 = 4/6 for one swap


def test_sort_hard_metrics_by_hand(monkeypatch):
    # x = (0.1, 0.5, 0.3), true ascending ranks (0, 2, 1); the model puts item 0 at position 1, item 1
    # at 2, item 2 at 0 (a 3-cycle, not its own inverse): the hard list (0.3, 0.1, 0.5) against
    # (0.1, 0.3, 0.5), 2 of 3 positions wrong, Kendall τ = (2 − 1)/3
    task = Run(TrainConfig.for_task("sort", n_items=3)).task
    x = np.array([[0.1, 0.5, 0.3]])
    batch = {"x": x, "asc": np.sort(x), "desc": np.sort(x)[:, ::-1], "rank": np.array([[0, 2, 1]])}
    monkeypatch.setattr(task, "hard_order", lambda params, batch: np.array([[1, 2, 0]]))
    m = task.hard_metrics(None, batch)
    assert m["hard_loss"] == pytest.approx((0.2 ** 2 + 0.2 ** 2) / 3, abs=1e-15)
    assert (m["prop_wrong"], m["prop_any_wrong"]) == (pytest.approx(2 / 3), 1.0)
    assert m["kendall_tau"] == pytest.approx(1 / 3, abs=1e-15)
    assert np.array_equal(task.batch(np.random.default_rng(0), 4)["rank"][0],
                          np.argsort(np.argsort(task.batch(np.random.default_rng(0), 4)["x"][0])))


def test_sort_metrics_against_scipy_kendalltau():
    # an independent Kendall τ (SciPy's), per list, on random permutations of n = 7; a reversed list is −1
    from scipy.stats import kendalltau
    rng = np.random.default_rng(0)
    true = np.argsort(rng.random((50, 7)), axis=-1)
    pred = np.argsort(rng.random((50, 7)), axis=-1)
    pred[0] = 6 - true[0]
    want = np.mean([kendalltau(p, t)[0] for p, t in zip(pred, true)])
    wrong, any_wrong, tau = sort_metrics(np, pred, true)
    assert tau == pytest.approx(want, abs=1e-14) and sort_metrics(np, pred[:1], true[:1])[2] == -1.0
    assert wrong == pytest.approx(np.mean(pred != true)) and any_wrong == pytest.approx(np.mean((pred != true).any(-1)))


def test_sort_defaults_are_mena_et_al():
    c = TrainConfig.for_task("sort")
    assert (c.steps, c.batch_size, c.lr, c.tau, c.samples, c.sinkhorn_iters, c.init, c.dtype, c.eval_size) == \
        (500, 10, 0.1, 1.0, 5, 20, "torch", "float64", 1000)
    run = Run(TrainConfig.for_task("sort", n_items=7))
    assert {k: v.shape for k, v in run.params.items()} == {"score.W0": (1, 32), "score.b0": (32,),
                                                           "score.W1": (32, 7), "score.b1": (7,)}
    assert all(np.abs(v).max() <= 1 / np.sqrt(w) for k, v in run.params.items()
               for w in [1 if k.endswith("0") else 32])
    assert np.abs(run.params["score.b0"]).max() > 0.5        # biases U(±1), not zero
    g = Run(TrainConfig.for_task("sort", n_items=7, init="glorot"))
    assert np.all(g.params["score.b1"] == 0) and np.abs(g.params["score.W1"]).max() <= np.sqrt(6 / 39)


def test_sort_setup_details_are_the_reference_ones():
    # the parts of the reference setup (minigumbel.tasks.sort's docstring) that hand == autograd
    # cannot see: Adam's constants, the held-out lists' own seed, n×n noise, the loss's normalisation
    run = Run(TrainConfig.for_task("sort", n_items=6, eval_size=1000))
    opt = run.optimizer
    assert (opt.name, opt.lr, opt.betas, opt.eps) == ("adam", 0.1, (0.9, 0.999), 1e-8)
    ev = run.eval_batch["x"]
    assert ev.shape == (1000, 6) and ev.dtype == np.float64 and 0 <= ev.min() and ev.max() < 1
    assert np.array_equal(Run(TrainConfig.for_task("sort", n_items=6, seed=3)).eval_batch["x"], ev)   # not the run's seed
    assert not np.array_equal(Run(TrainConfig.for_task("sort", n_items=6, world_seed=3)).eval_batch["x"], ev)
    assert not np.any(np.isin(run.task.batch(run.rng, 10)["x"], ev))            # not the training stream
    # Gumbel-Sinkhorn: n² independent draws per matrix, S = 5 per list
    logits, _ = run.task.scores(run.params, run.eval_batch)
    draw = run.est.sample(logits[:10], np.random.default_rng(0), 1.0, **run.options)
    assert run.options == {"samples": 5, "n_iters": 20} and draw.g.shape == (5, 10, 6, 6)
    assert len(np.unique(draw.g)) == draw.g.size
    # the loss of a matrix, by hand: y_j = Σ_i P_ij x_i against x sorted ascending, mean over positions
    x = np.array([[0.7, 0.1, 0.4]])
    batch = {"x": x, "asc": np.sort(x), "desc": np.sort(x)[:, ::-1]}
    task = Run(TrainConfig.for_task("sort", n_items=3)).task
    P = np.array([[0.0, 0.2, 0.8], [1.0, 0.0, 0.0], [0.0, 0.8, 0.2]])        # (item, position)
    y = [0.1, 0.2 * 0.7 + 0.8 * 0.4, 0.8 * 0.7 + 0.2 * 0.4]
    want = ((y[0] - 0.1) ** 2 + (y[1] - 0.4) ** 2 + (y[2] - 0.7) ** 2) / 3
    assert task.readout(None, batch, P[None])[0] == pytest.approx([want], abs=1e-15)
    ns = Run(TrainConfig.for_task("sort", n_items=3, estimator="neuralsort")).task    # (position, item), decreasing
    assert ns.readout(None, batch, P.T[::-1][None])[0] == pytest.approx([want], abs=1e-15)


@pytest.mark.parametrize("estimator", SORT_ESTIMATORS)
def test_sort_task_learns_n5(estimator):
    h = train(TrainConfig.for_task("sort", estimator=estimator, n_items=5, steps=150, eval_every=150, eval_size=200))
    assert h["final"]["kendall_tau"] > 0.9 and h["final"]["prop_wrong"] < 0.1, h["final"]


def test_sort_cli_json_and_errors(tmp_path):
    out = tmp_path / "h.json"
    r = CliRunner().invoke(main, ["train", "--task", "sort", "--estimator", "neuralsort", "--n-items", "5", "--steps", "20",
                                  "--eval-every", "20", "--eval-size", "50", "--json", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    final = json.loads(out.read_text())["final"]
    assert {"prop_wrong", "prop_any_wrong", "kendall_tau"} <= set(final)
    for args, what in ((["--task", "sort", "--estimator", "gumbel"], "sort"),
                       (["--task", "argmax", "--estimator", "neuralsort"], "sort task only"),
                       (["--task", "argmax", "--sinkhorn-iters", "10"], "sort only"),
                       (["--task", "sort", "--estimator", "reinforce-pl", "--samples", "1"], "samples")):
        r = CliRunner().invoke(main, ["train", *args])
        assert r.exit_code == 2 and what in r.output and "Traceback" not in r.output, r.output


def test_sort_checkpoint_resume_gives_the_same_numbers(tmp_path):
    kw = dict(estimator="stochastic-neuralsort", **{**SMALL, "steps": 8, "eval_every": 4})
    whole = train(TrainConfig.for_task("sort", **kw))
    ck = str(tmp_path / "c.npz")
    train(TrainConfig.for_task("sort", **{**kw, "steps": 4}, checkpoint=ck))
    rest = train(TrainConfig.for_task("sort", **kw, checkpoint=ck, resume=ck))
    assert rest["loss"] == whole["loss"] and rest["final"] == whole["final"]


@pytest.mark.parametrize("estimator", SORT_ESTIMATORS)
def test_sort_task_on_cupy_no_host_transfer_in_a_step(estimator, transfers, cupy_backend):
    run = Run(TrainConfig.for_task("sort", estimator=estimator, backend="cupy", **SMALL))
    run.train_step()                                 # warm up (first-use conversions)
    with transfers() as n:
        for _ in range(2):
            run.train_step()
    assert n() == 0
    h = train(TrainConfig.for_task("sort", estimator=estimator, backend="cupy", **SMALL))
    ref = train(dataclasses.replace(TrainConfig.for_task("sort", estimator=estimator, **SMALL)))
    assert np.isfinite(h["final"]["kendall_tau"]) and set(h["final"]) == set(ref["final"])


# ----------------------------------------------------------------------------- bench part

@pytest.mark.slow
def test_bench_orders_part_small(monkeypatch):
    # the part at toy sizes: every case times, the kept bytes are what sinkhorn_backward_bytes says,
    # and PyTorch's worker (its own process) computes the same two cases
    import minigumbel.bench_orders as BO
    from minigumbel.backend import get_backend
    monkeypatch.setattr(BO, "ORDERS_SPEC", {"sinkhorn": {"lists": 2, "n": 5, "n_iters": 3, "tau": 1.0},
                                            "neuralsort": {"lists": 3, "n": 6, "tau": 1.0}})
    import importlib.util
    has_torch = importlib.util.find_spec("torch") is not None     # PyTorch is an optional reference
    r = BO.bench_orders(get_backend("numpy"), "float64", repeats=1, libs=("torch",) if has_torch else ())
    assert r["memory"]["kept_bytes"] == r["memory"]["predicted_bytes"] == 2 * 25 * 3 * 2 * 8
    for name in ("gumbel_sinkhorn", "neuralsort"):
        assert r["cases"][name]["hand"]["median_ms"] > 0
        if has_torch:
            assert r["cases"][name]["torch (1 thread)"]["median_ms"] > 0, r["cases"][name]



def test_sort_without_scipy_is_one_error_line_before_any_step(monkeypatch):
    # the Sinkhorn models evaluate with matching (SciPy, the 'matching' extra): without it, `train`
    # and `estimators --problem order` stop at the front door (exit 2, one Error line naming the
    # extra), not with an ImportError traceback after the first eval_every steps were trained
    monkeypatch.setitem(__import__("sys").modules, "scipy.optimize", None)
    steps = []
    monkeypatch.setattr(Run, "train_step", lambda self: steps.append(1) or (0.0, 1.0))
    for args in (["train", "--task", "sort", "--estimator", "sinkhorn", "--n-items", "4", "--steps", "3"],
                 ["train", "--task", "sort", "--n-items", "4", "--steps", "3"],
                 ["estimators", "--problem", "order", "--k", "4", "--samples", "20", "--tau", "1"]):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 2, (args, r.output, r.exception)
        lines = r.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error:") and "minigumbel[matching]" in lines[0], r.output
    assert steps == []
    r = CliRunner().invoke(main, ["estimators", "--problem", "order", "--k", "4", "--samples", "20", "--tau", "1",
                                  "--estimators", "neuralsort,reinforce-pl", "--quiet"])
    assert r.exit_code == 0, r.output                   # the rules that need no matching still run
