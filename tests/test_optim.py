"""optim.py: updates against the formulas written out independently here, exact state round
trips, dtype preservation and bad input."""
import numpy as np
import pytest

from minigumbel.optim import SGD, Adam, make_optimizer


def _problem(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    params = {"W": rng.normal(size=(3, 2)).astype(dtype), "b": rng.normal(size=2).astype(dtype)}
    grads = [{k: rng.normal(size=v.shape).astype(dtype) for k, v in params.items()} for _ in range(6)]
    return params, grads


def test_adam_matches_kingma_ba_algorithm_1():
    params, grads = _problem()
    lr, b1, b2, eps = 0.01, 0.8, 0.99, 1e-6
    opt = Adam(lr, (b1, b2), eps)
    ref = {k: v.copy() for k, v in params.items()}
    m = {k: 0.0 for k in ref}
    v = {k: 0.0 for k in ref}
    for t, g in enumerate(grads, start=1):
        opt.step(params, g)
        for k in ref:                     # Algorithm 1, line by line
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            mhat = m[k] / (1 - b1 ** t)
            vhat = v[k] / (1 - b2 ** t)
            ref[k] = ref[k] - lr * mhat / (np.sqrt(vhat) + eps)
        for k in ref:
            np.testing.assert_allclose(params[k], ref[k], rtol=1e-13, atol=1e-15)
    assert opt.t == len(grads)


def test_adam_first_step_moves_each_coordinate_by_lr():
    # with bias correction, step 1 is lr · g / (|g| + eps): every coordinate moves by ≈ lr
    params, grads = _problem()
    before = {k: v.copy() for k, v in params.items()}
    Adam(0.05, eps=1e-12).step(params, grads[0])
    for k in params:
        np.testing.assert_allclose(before[k] - params[k], 0.05 * np.sign(grads[0][k]), rtol=1e-9)


@pytest.mark.parametrize("momentum,weight_decay", [(0.0, 0.0), (0.9, 0.0), (0.5, 0.1)])
def test_sgd_matches_formula(momentum, weight_decay):
    params, grads = _problem(1)
    lr = 0.1
    opt = SGD(lr, momentum, weight_decay)
    ref = {k: v.copy() for k, v in params.items()}
    vel = {k: None for k in ref}
    for g in grads:
        opt.step(params, g)
        for k in ref:
            d = g[k] + weight_decay * ref[k]
            vel[k] = d if vel[k] is None else momentum * vel[k] + d
            ref[k] = ref[k] - lr * vel[k]
            np.testing.assert_allclose(params[k], ref[k], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("make", [lambda: Adam(0.01), lambda: SGD(0.1, momentum=0.9, weight_decay=0.01)])
def test_state_dict_resume_is_bit_identical(make):
    params, grads = _problem(2)
    full = {k: v.copy() for k, v in params.items()}
    opt = make()
    for g in grads:
        opt.step(full, g)

    part = {k: v.copy() for k, v in params.items()}
    first = make()
    for g in grads[:3]:
        first.step(part, g)
    state = first.state_dict()
    first.step(part, grads[3])                 # keep stepping: the saved state must be a copy
    # rebuild the params at step 3 from scratch, then resume from the saved state
    part = {k: v.copy() for k, v in params.items()}
    replay = make()
    for g in grads[:3]:
        replay.step(part, g)
    resumed = make()
    resumed.load_state_dict(state)
    for g in grads[3:]:
        resumed.step(part, g)
    for k in full:
        assert np.array_equal(part[k], full[k]), k
    assert resumed.t == len(grads)


def test_state_dict_is_plain_and_round_trips_through_npz(tmp_path):
    params, grads = _problem(3)
    opt = Adam(0.02, betas=(0.85, 0.995))
    opt.step(params, grads[0])
    state = opt.state_dict()
    assert state["name"] == "adam" and state["step"] == 1 and set(state["m"]) == {"W", "b"}
    flat = {f"{b}.{k}": v for b in ("m", "v") for k, v in state[b].items()}
    np.savez(tmp_path / "s.npz", step=state["step"], lr=state["lr"], betas=state["betas"],
             eps=state["eps"], **flat)
    z = np.load(tmp_path / "s.npz")
    back = {"name": "adam", "step": z["step"], "lr": z["lr"], "betas": tuple(z["betas"]), "eps": z["eps"],
            "m": {k: z[f"m.{k}"] for k in ("W", "b")}, "v": {k: z[f"v.{k}"] for k in ("W", "b")}}
    other = Adam()
    other.load_state_dict(back)
    assert other.lr == 0.02 and other.betas == (0.85, 0.995) and other.t == 1
    p1 = {k: v.copy() for k, v in params.items()}
    opt.step(params, grads[1])
    other.step(p1, grads[1])
    assert all(np.array_equal(params[k], p1[k]) for k in params)


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_float32_stays_float32(name):
    params, grads = _problem(4, np.float32)
    opt = make_optimizer(name, 0.01, **({"momentum": 0.9} if name == "sgd" else {}))
    for g in grads:
        opt.step(params, g)
    assert all(v.dtype == np.float32 for v in params.values())
    assert all(v.dtype == np.float32 for b in ("m", "v") if name == "adam" for v in opt.state_dict()[b].values())


def test_step_updates_in_place():
    params, grads = _problem()
    w = params["W"]
    Adam(0.1).step(params, grads[0])
    assert params["W"] is w


def test_bad_arguments():
    for kw, word in [({"lr": 0.0}, "lr"), ({"lr": float("nan")}, "lr"), ({"lr": 0.1, "momentum": 1.0}, "momentum"),
                     ({"lr": 0.1, "weight_decay": -1.0}, "weight_decay")]:
        with pytest.raises(ValueError, match=word):
            SGD(**kw)
    with pytest.raises(ValueError, match="betas"):
        Adam(0.1, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="eps"):
        Adam(0.1, eps=0.0)
    with pytest.raises(ValueError, match="rmsprop"):
        make_optimizer("rmsprop", 0.1)
    params, grads = _problem()
    with pytest.raises(ValueError, match="shape"):
        SGD(0.1).step(params, {"W": np.ones(3)})
    with pytest.raises(ValueError, match="'c'"):
        SGD(0.1).step(params, {"c": np.ones(3)})
    with pytest.raises(ValueError, match="sgd"):
        Adam().load_state_dict(SGD(0.1).state_dict())
