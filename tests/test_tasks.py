"""Pointer tasks: each half's hand backward three ways, hard metrics against oracles, batches."""
import numpy as np
import pytest

from minigumbel.functional import one_hot
from minigumbel.gradcheck import three_way
from minigumbel.tasks import GRADCHECK_CASES, POINTER_TASKS, ArgmaxTask, BottleneckTask, QueryTask, make_task


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=lambda c: f"case{GRADCHECK_CASES.index(c)}")
def test_task_backward_hand_vs_autograd_vs_finite_differences(case):
    r = case()
    assert r.ok, str(r)


def test_gradcheck_rejects_a_wrong_readout_rule():
    # negative control: the query readout's dz with the sign of the error flipped must fail
    task = make_task("query", n_items=4, hidden=5)
    rng = np.random.default_rng(0)
    batch = task.batch(rng, 3)
    z = rng.dirichlet(np.ones(4), size=3)
    _, cache = task.readout({}, batch, z)
    wrong = three_way("query readout, wrong sign", lambda v: task.readout({}, batch, v)[0],
                      lambda d: -task.readout_backward(d, cache)[1], z)
    right = three_way("query readout", lambda v: task.readout({}, batch, v)[0],
                      lambda d: task.readout_backward(d, cache)[1], z)
    assert right.ok and not wrong.ok


def _oracle_argmax_params(task):
    """A 3-layer ReLU scorer computing exactly u·x: relu(u·x) − relu(−u·x) through an identity layer."""
    f, h = task.n_features, task.hidden
    W0 = np.zeros((f, h)); W0[:, 0], W0[:, 1] = task.u, -task.u
    W1 = np.zeros((h, h)); W1[0, 0] = W1[1, 1] = 1.0
    W2 = np.zeros((h, 1)); W2[0, 0], W2[1, 0] = 1.0, -1.0
    return {"score.W0": W0, "score.b0": np.zeros(h), "score.W1": W1, "score.b1": np.zeros(h),
            "score.W2": W2, "score.b2": np.zeros(1)}


def test_argmax_hard_metrics_of_an_oracle_scorer_are_perfect():
    task = ArgmaxTask(n_items=10, hidden=4)
    batch = task.batch(np.random.default_rng(1), 500)
    m = task.hard_metrics(_oracle_argmax_params(task), batch)
    assert float(m["accuracy"]) == 1.0 and float(m["hard_loss"]) == 0.0
    # and a scorer that ranks backwards picks the worst item: regret = max − min value
    anti = {k: -v if k == "score.W2" else v for k, v in _oracle_argmax_params(task).items()}
    m = task.hard_metrics(anti, batch)
    v = batch["value"]
    assert float(m["accuracy"]) == 0.0
    assert np.isclose(float(m["hard_loss"]), np.mean(v.max(1) - v.min(1)))


def test_argmax_regret_is_max_minus_pointed_value():
    task = ArgmaxTask(n_items=3, hidden=4)
    batch = {"value": np.array([[1.0, 3.0, 2.0]])}
    for z, regret in [([0, 1, 0], 0.0), ([1, 0, 0], 2.0), ([0.5, 0, 0.5], 1.5)]:
        losses, _ = task.readout({}, batch, np.array([z], float))
        assert losses[0] == regret


def test_query_batches_point_at_the_matching_key():
    task = QueryTask(n_items=6, hidden=4)
    batch = task.batch(np.random.default_rng(2), 400)
    keys, query = batch["pairs"][..., :task.key_dim], batch["pairs"][:, 0, task.key_dim:]
    nearest = np.argmin(np.sum((keys - query[:, None]) ** 2, -1), -1)
    # the query is the target key plus N(0, 0.1²) noise: nearly always nearest (random keys)
    assert np.mean(nearest == batch["target"]) > 0.97
    assert np.array_equal(batch["answer"], batch["payload"][np.arange(400), batch["target"]])
    # the right one-hot pointer outputs the answer exactly: zero loss
    losses, _ = task.readout({}, batch, one_hot(batch["target"], 6))
    assert np.all(losses == 0.0)


def test_bottleneck_hard_code_at_best_reaches_the_noise_floor():
    """A decoder that outputs the cluster centre has loss E‖σε‖²/D = σ² exactly in expectation."""
    task = BottleneckTask(n_items=5, hidden=4)
    batch = task.batch(np.random.default_rng(3), 4000)
    err = np.mean((batch["x"] - task.centres[batch["cluster"]]) ** 2, axis=1)      # (B,)
    # tolerance: 5 standard errors of the mean of (σ²/D)·χ²_D draws, se = σ² √(2/D) / √B
    se = task.noise ** 2 * np.sqrt(2 / task.dim) / np.sqrt(4000)
    assert abs(err.mean() - task.noise ** 2) < 5 * se


@pytest.mark.parametrize("name", list(POINTER_TASKS))  # the vae: tests/test_vae.py
def test_batches_are_deterministic_and_shapes_and_dtype_hold(name, backend):
    task = make_task(name, n_items=4, hidden=6, dtype="float32", backend=backend)
    params = task.init_params(np.random.default_rng(0))
    b1, b2 = task.batch(backend.rng(7), 5), task.batch(backend.rng(7), 5)
    for k in b1:
        assert np.array_equal(backend.to_numpy(b1[k]), backend.to_numpy(b2[k]))
    logits, _ = task.scores(params, b1)
    assert logits.shape == (5, 4) and logits.dtype == np.float32
    z = backend.asarray(np.full((5, 4), 0.25, np.float32))
    losses, cache = task.readout(params, b1, z)
    assert losses.shape == (5,) and losses.dtype == np.float32
    grads, dz = task.readout_backward(backend.xp.ones(5, dtype=np.float32), cache)
    assert dz.shape == (5, 4) and dz.dtype == np.float32
    assert set(task.hard_metrics(params, b1)) >= {"hard_loss"}


def test_world_is_fixed_by_world_seed_only():
    a, b, c = BottleneckTask(world_seed=0), BottleneckTask(world_seed=0), BottleneckTask(world_seed=1)
    assert np.array_equal(a.centres, b.centres) and not np.array_equal(a.centres, c.centres)


@pytest.mark.parametrize("kw,needle", [({"n_items": 1}, "n_items"), ({"hidden": 0}, "hidden"),
                                       ({"dtype": "float16"}, "dtype"), ({"n_items": 2.5}, "n_items")])
def test_bad_task_arguments(kw, needle):
    with pytest.raises(ValueError, match=needle):
        make_task("argmax", **kw)


def test_unknown_task():
    with pytest.raises(ValueError, match="unknown task 'nosuch'"):
        make_task("nosuch")
