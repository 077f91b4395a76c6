"""nn.py: every backward rule hand vs autograd vs central differences (float64), negative
controls, forward values against independent formulas, dtypes, init scale and bad input."""
import numpy as np
import pytest

from minigumbel import nn
from minigumbel.gradcheck import assert_three_way, three_way


def _data(seed=1, shape=(2, 3, 4)):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape)
    x = np.sign(x) * (0.1 + np.abs(x))           # stay 0.1 away from relu's kink (fd step 1e-6)
    return rng, x


# ----------------------------------------------------------------------------- three-way checks

@pytest.mark.parametrize("wrt", ["x", "W", "b"])
def test_linear_three_way(wrt):
    rng, x = _data()
    args = {"x": x, "W": rng.normal(size=(4, 5)), "b": rng.normal(size=5)}
    _, cache = nn.linear(**args)
    i = "xWb".index(wrt)
    assert_three_way(f"linear d{wrt}", lambda v: nn.linear(**{**args, wrt: v})[0],
                     lambda d: nn.linear_backward(d, cache)[i], args[wrt])


@pytest.mark.parametrize("name", ["relu", "tanh"])
def test_activation_three_way(name):
    _, x = _data()
    fwd, bwd = getattr(nn, name), getattr(nn, name + "_backward")
    _, cache = fwd(x)
    assert_three_way(name, lambda v: fwd(v)[0], lambda d: bwd(d, cache), x)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_mlp_three_way_every_parameter_and_input(activation):
    rng, x = _data()
    params = nn.init_mlp(rng, (4, 7, 6, 3), prefix="enc_", activation=activation)
    out, cache = nn.mlp_forward(params, x, prefix="enc_", activation=activation)
    assert out.shape == (2, 3, 3)
    grads, dx = nn.mlp_backward(np.ones_like(out), cache)
    assert sorted(grads) == sorted(params)
    dout = rng.normal(size=out.shape)
    grads, _ = nn.mlp_backward(dout, cache)
    for key in params:
        f = lambda v, key=key: nn.mlp_forward({**params, key: v}, x, "enc_", activation)[0]
        assert_three_way(f"mlp d{key}", f, lambda d, key=key: nn.mlp_backward(d, cache)[0][key],
                         params[key], dout)
    assert_three_way("mlp dx", lambda v: nn.mlp_forward(params, v, "enc_", activation)[0],
                     lambda d: nn.mlp_backward(d, cache)[1], x, dout)


def test_mse_three_way():
    rng, x = _data()
    t = rng.normal(size=x.shape)
    _, cache = nn.mse(x, t)
    assert_three_way("mse", lambda p: nn.mse(p, t)[0], lambda d: nn.mse_backward(cache, d), x)


@pytest.mark.parametrize("axis", [-1, 1])
def test_cross_entropy_three_way(axis):
    rng, x = _data()
    shape = [s for i, s in enumerate(x.shape) if i != axis % x.ndim]
    labels = rng.integers(0, x.shape[axis], size=shape)
    _, cache = nn.cross_entropy(x, labels, axis=axis)
    assert_three_way("cross_entropy", lambda z: nn.cross_entropy(z, labels, axis=axis)[0],
                     lambda d: nn.cross_entropy_backward(cache, d), x)


def test_gradcheck_cases_all_pass():
    results = [case() for case in nn.GRADCHECK_CASES]
    assert len(results) >= 9
    assert all(r.ok for r in results), [str(r) for r in results if not r.ok]


# ----------------------------------------------------------------------------- negative controls

def test_negative_controls_wrong_rules_are_rejected():
    rng, x = _data()
    W, b = rng.normal(size=(4, 5)), rng.normal(size=5)
    _, cache = nn.linear(x, W, b)
    # dW without summing over the batch axes of a leading dim: use only the first example
    wrong_dw = lambda d: nn.linear_backward(d[:1], (x[:1], W))[1]
    assert not three_way("linear dW (first example only)", lambda v: nn.linear(x, v, b)[0],
                         wrong_dw, W).ok
    _, tcache = nn.tanh(x)
    assert not three_way("tanh with 1 - out", lambda v: nn.tanh(v)[0],
                         lambda d: d * (1 - tcache), x).ok
    t = rng.normal(size=x.shape)
    _, mcache = nn.mse(x, t)
    assert not three_way("mse without the factor 2", lambda p: nn.mse(p, t)[0],
                         lambda d: nn.mse_backward(mcache, d) / 2, x).ok
    labels = rng.integers(0, 4, size=(2, 3))
    _, ccache = nn.cross_entropy(x, labels)
    assert not three_way("cross_entropy with sum instead of mean", lambda z: nn.cross_entropy(z, labels)[0],
                         lambda d: nn.cross_entropy_backward(ccache, d) * 6, x).ok


# ----------------------------------------------------------------------------- forward values

def test_losses_match_independent_formulas():
    rng, x = _data()
    t = rng.normal(size=x.shape)
    assert float(nn.mse(x, t)[0]) == pytest.approx(((x - t) ** 2).sum() / x.size, rel=1e-14)
    logits = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, np.log(2.0)]])
    labels = np.array([2, 0])
    # row 0: -log(e^3 / (e + e^2 + e^3)); row 1: -log(1 / (1 + 1 + 2)) = log 4
    want = (-(3 - np.log(np.e + np.e ** 2 + np.e ** 3)) + np.log(4.0)) / 2
    assert float(nn.cross_entropy(logits, labels)[0]) == pytest.approx(want, rel=1e-14)


def test_masked_logit_gets_zero_gradient():
    logits = np.array([[0.5, -np.inf, 1.0]])
    loss, cache = nn.cross_entropy(logits, np.array([0]))
    d = nn.cross_entropy_backward(cache)
    assert np.isfinite(float(loss)) and d[0, 1] == 0.0 and np.all(np.isfinite(d))
    p = np.exp([0.5, 1.0]) / np.exp([0.5, 1.0]).sum()
    np.testing.assert_allclose(d[0, [0, 2]], p - [1.0, 0.0], rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_preserved(dtype):
    rng = np.random.default_rng(0)
    model = nn.MLP((5, 8, 3), activation="tanh")
    params = model.init(rng, dtype)
    assert all(p.dtype == dtype for p in params.values())
    x = rng.standard_normal((4, 6, 5)).astype(dtype)
    out, cache = model.forward(params, x)
    grads, dx = model.backward(np.ones_like(out), cache)
    assert out.dtype == dtype and dx.dtype == dtype and all(g.dtype == dtype for g in grads.values())
    loss, c = nn.cross_entropy(out, np.zeros((4, 6), dtype=np.int64))
    assert loss.dtype == dtype and nn.cross_entropy_backward(c).dtype == dtype
    loss, c = nn.mse(out, np.zeros_like(out))
    assert loss.dtype == dtype and nn.mse_backward(c).dtype == dtype


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_init_keeps_activations_well_scaled(activation):
    # 6 hidden layers of width 256 on unit-variance input: with He (relu) / Glorot·5/3 (tanh)
    # scaling the last hidden layer's mean square stays O(1) — neither vanishing (< 0.2) nor
    # exploding (> 5). Plain Glorot on tanh gives 0.074 here (fails); std = 1 on relu gives ~1e14.
    # Width 256 × 2048 samples: the sampling spread of the mean square is a few %.
    rng = np.random.default_rng(3)
    sizes = (64,) + (256,) * 6 + (1,)
    params = nn.init_mlp(rng, sizes, activation=activation)
    x = rng.standard_normal((2048, 64))
    _, cache = nn.mlp_forward(params, x, activation=activation)
    last_hidden = cache[2][-1][0][0]              # input of the last linear layer
    ms = float(np.mean(last_hidden ** 2))
    assert 0.2 < ms < 5, ms
    assert np.all(params["b0"] == 0)
    np.testing.assert_allclose(params["W3"].std(), np.sqrt(2 / 256) if activation == "relu" else 5 / 3 * np.sqrt(1 / 256),
                               rtol=0.02)        # 65536 draws: std's relative s.e. ≈ 0.3 %


def test_init_is_deterministic_given_the_rng():
    a = nn.init_mlp(np.random.default_rng(5), (3, 4, 2))
    b = nn.init_mlp(np.random.default_rng(5), (3, 4, 2))
    assert all(np.array_equal(a[k], b[k]) for k in a) and sorted(a) == ["W0", "W1", "b0", "b1"]


def test_torch_init_is_pytorchs_nn_linear_default():
    # PyTorch's nn.Linear: kaiming_uniform_(a=√5) weights, i.e. U(±gain·√(3/fan_in)) with gain √(2/6),
    # = U(±1/√fan_in), and U(±1/√fan_in) biases. Here: bounds, std 1/√(3·fan_in) (65,536 weights: the
    # std's relative s.e. ≈ 0.3 %, tolerance 2 %), nonzero biases; PyTorch's own layer has the same bound.
    rng = np.random.default_rng(4)
    p = nn.init_mlp(rng, (256, 256, 3), init="torch")
    bound = 1 / np.sqrt(256)
    for k in ("W0", "b0", "W1", "b1"):
        assert np.abs(p[k]).max() <= bound, k
    for k in ("W0", "b0", "W1"):          # ≥ 256 draws each: the largest is within 10 % of the bound
        assert np.abs(p[k]).max() > 0.9 * bound, k
    np.testing.assert_allclose(p["W0"].std(), bound / np.sqrt(3), rtol=0.02)
    assert np.all(p["b0"] != 0) and p["W0"].dtype == np.float64
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    layer = torch.nn.Linear(256, 256)
    for t in (layer.weight, layer.bias):
        m = float(t.detach().abs().max())
        assert 0.9 * bound < m <= bound, m
    assert nn.init_mlp(np.random.default_rng(4), (3, 2), np.float32, init="torch")["W0"].dtype == np.float32
    with pytest.raises(ValueError, match="unknown init 'xavier'; choose one of he, torch"):
        nn.init_mlp(rng, (3, 2), init="xavier")


# ----------------------------------------------------------------------------- bad input

def test_bad_input_raises_value_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="linear"):
        nn.linear(np.ones((2, 3)), np.ones((4, 5)), np.ones(5))
    with pytest.raises(ValueError, match="sizes"):
        nn.init_mlp(rng, (3,))
    with pytest.raises(ValueError, match="sizes"):
        nn.init_mlp(rng, (3, 0, 2))
    with pytest.raises(ValueError, match="dtype"):
        nn.init_mlp(rng, (3, 2), dtype=np.int32)
    with pytest.raises(ValueError, match="activation"):
        nn.MLP((3, 2), activation="gelu")
    with pytest.raises(ValueError, match="W0"):
        nn.mlp_forward({}, np.ones((2, 3)))
    with pytest.raises(ValueError, match="target"):
        nn.mse(np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="labels"):
        nn.cross_entropy(np.ones((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="labels"):
        nn.cross_entropy(np.ones((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="labels"):
        nn.cross_entropy(np.ones((2, 3)), np.array([0, 1, 2]))


def test_autograd_differentiates_the_param_dict_like_the_hand_chain():
    # the train loop's grad="autograd" path: autograd.grad over the whole dict, MLP → cross-entropy
    from autograd import grad
    rng, x = _data(shape=(5, 4))
    model = nn.MLP((4, 8, 3))
    params = model.init(rng)
    labels = rng.integers(0, 3, size=5)
    ag = grad(lambda p: nn.cross_entropy(model.forward(p, x)[0], labels)[0])(params)
    out, cache = model.forward(params, x)
    _, lcache = nn.cross_entropy(out, labels)
    hand, _ = model.backward(nn.cross_entropy_backward(lcache), cache)
    assert sorted(ag) == sorted(hand)
    for k in hand:
        np.testing.assert_allclose(hand[k], ag[k], rtol=1e-12, atol=1e-15)
