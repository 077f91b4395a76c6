"""A tiny multilayer perceptron and two losses, each forward followed by its hand-derived backward.

Parameters live in a plain dict of arrays (``{"W0": (F, H), "b0": (H,), "W1": ...}``) so they are
easy to checkpoint and to hand to autograd. Forward functions return ``(out, cache)``; backward
functions take the upstream gradient and that cache. ``dx`` always means ∂L/∂x.

Every forward gets its array module from :func:`namespace`, so it runs on NumPy, on CuPy and
under autograd's tracer unchanged (``grad="autograd"`` differentiates this very code): no in-place
writes into arrays that may be autograd boxes. Inputs may carry any leading batch axes — an
``x`` of shape (B, N, F) is N items per example, and the MLP acts on the last axis.
"""
from __future__ import annotations

import numpy as np

from .backend import namespace
from ._inputs import check_rng, float_dtype
# the unchecked variants: these run inside every training step (no validation on the hot path)
from .functional import _log_softmax as log_softmax, _log_softmax_vjp as log_softmax_vjp, _one_hot as one_hot, _value
from .gradcheck import three_way

__all__ = [
    "linear", "linear_backward", "relu", "relu_backward", "tanh", "tanh_backward",
    "ACTIVATIONS", "INITS", "init_mlp", "mlp_forward", "mlp_backward", "MLP",
    "mse", "mse_backward", "cross_entropy", "cross_entropy_backward", "GRADCHECK_CASES",
]


# ----------------------------------------------------------------------------- linear

def linear(x, W, b):
    """out = x W + b on the last axis: x (..., F_in), W (F_in, F_out), b (F_out,) -> (..., F_out)."""
    if W.ndim != 2 or b.shape != (W.shape[1],) or x.shape[-1:] != W.shape[:1]:
        raise ValueError(f"linear: x has shape {tuple(x.shape)}, W {tuple(W.shape)}, b {tuple(b.shape)}; "
                         "need x (..., F_in), W (F_in, F_out), b (F_out,)")
    xp = namespace(x, W, b)
    # one (R, F_in) @ (F_in, F_out) product over all rows: matmul on a 3-D x would run one small
    # GEMM per leading index instead (measured 2x slower for x (64, 10, 32))
    out = xp.matmul(x.reshape(-1, W.shape[0]), W) + b                    # (R, F_out)
    return out.reshape(x.shape[:-1] + (W.shape[1],)), (x, W)


# out = x W + b with rows x_r (all leading axes flattened into r):
#   ∂L/∂x_r = dout_r Wᵀ                       (each row sees W linearly)
#   ∂L/∂W   = Σ_r x_rᵀ dout_r = Xᵀ dOut      (W is shared by every row)
#   ∂L/∂b   = Σ_r dout_r                      (b is broadcast to every row)
def linear_backward(dout, cache, need_dx=True):
    """(dx, dW, db) for :func:`linear`; dW and db are summed over every leading axis.
    ``need_dx=False`` returns None for dx (x is data: its gradient would be thrown away)."""
    x, W = cache
    xp = namespace(dout, x, W)
    x2 = x.reshape(-1, x.shape[-1])           # (R, F_in)
    d2 = dout.reshape(-1, dout.shape[-1])     # (R, F_out)
    dx = xp.matmul(d2, W.T).reshape(x.shape) if need_dx else None
    return dx, _xt_dot(xp, x2, d2), d2.sum(axis=0)


# OpenBLAS runs a GEMM with M·N·K ≤ 2^18 on one thread and wakes its thread pool above that. For
# the small products of this MLP the wake-up costs milliseconds whenever the other core is busy
# (measured on the 2-core dev machine: Xᵀ dOut for X (640, 32) took 0.07 ms median but 1.7 ms mean
# under load), so on NumPy Xᵀ dOut is summed over row blocks that each stay on one thread.
_ONE_THREAD_MNK = 1 << 18


def _xt_dot(xp, x2, d2):
    """Xᵀ D for X (R, F), D (R, H): one GEMM, or a sum over row blocks of ≤ 2^18 / (F·H) rows."""
    rows = _ONE_THREAD_MNK // max(1, x2.shape[1] * d2.shape[1])
    if xp is not np or x2.shape[0] <= rows or rows < 16:
        return xp.matmul(x2.T, d2)
    out = x2[:rows].T @ d2[:rows]
    for start in range(rows, x2.shape[0], rows):
        out += x2[start:start + rows].T @ d2[start:start + rows]
    return out


# ----------------------------------------------------------------------------- activations

def relu(x):
    """out = max(x, 0) elementwise."""
    mask = _value(x) > 0                      # plain bool array even under autograd
    return x * mask, mask                     # one pass; a NaN input stays NaN (not hidden as 0)


# relu'(x) = 1 for x > 0 and 0 for x < 0 (at x = 0 we take the subgradient 0), so
#   dx = dout ⊙ 1[x > 0].
def relu_backward(dout, cache):
    """dx for :func:`relu`, given the cache (the mask x > 0)."""
    return dout * cache


def tanh(x):
    """out = tanh(x) elementwise."""
    out = namespace(x).tanh(x)
    return out, out


# tanh'(x) = 1 − tanh(x)², and the forward output is cached, so
#   dx = dout ⊙ (1 − out²).
def tanh_backward(dout, cache):
    """dx for :func:`tanh`, given the cache (the forward output)."""
    return dout * (1.0 - cache * cache)


ACTIVATIONS = {"relu": (relu, relu_backward), "tanh": (tanh, tanh_backward)}


def _activation(name):
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}") from None


# ----------------------------------------------------------------------------- MLP

_TANH_GAIN = 5.0 / 3.0
INITS = ("he", "torch", "glorot")


def init_mlp(rng, sizes, dtype=np.float64, prefix="", activation="relu", init="he"):
    """Parameters of an MLP with layer widths ``sizes`` = (F_in, H_1, ..., F_out).

    ``init="he"`` (the default): Gaussian weights with zero biases. For ``activation="relu"`` the
    scale is He et al. (2015), std = √(2 / fan_in), which keeps the mean square of ReLU activations
    constant layer to layer. For ``"tanh"`` it is Glorot & Bengio (2010), std = √(2 / (fan_in + fan_out)),
    times a gain 5/3 that offsets tanh's contraction: with gain 1 the mean square of the hidden
    activations shrinks layer by layer (0.24 → 0.07 over 6 layers of width 256), with 5/3 it
    stays ≈ 0.42 (tests/test_nn.py measures this).
    ``init="torch"``: PyTorch's default for ``nn.Linear``, weights and biases both uniform on
    ±1/√fan_in whatever the activation (std 1/√(3·fan_in): √6 ≈ 2.4 times smaller than He's
    weights), drawn weights first, then biases, layer by layer.
    ``init="glorot"``: Glorot & Bengio (2010)'s uniform weights on ±√(6/(fan_in + fan_out)) with zero
    biases (TensorFlow's default for dense layers).
    ``rng`` is an explicit NumPy or CuPy Generator; the arrays are created on its device.
    Keys are f"{prefix}W{i}" (fan_in, fan_out) and f"{prefix}b{i}" (fan_out,).
    """
    sizes = tuple(sizes)
    if len(sizes) < 2 or not all(isinstance(s, (int, np.integer)) and s > 0 for s in sizes):
        raise ValueError(f"sizes must be at least two positive integers (input, ..., output), got {sizes!r}")
    dtype = float_dtype(dtype)                                               # float16: the one refusal
    _activation(activation)
    check_rng(rng)
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
    params = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if init == "torch":
            bound = 1.0 / np.sqrt(fan_in)
            W = rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype, copy=False)
            b = rng.uniform(-bound, bound, (fan_out,)).astype(dtype, copy=False)
        elif init == "glorot":
            bound = np.sqrt(6.0 / (fan_in + fan_out))
            W = rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype, copy=False)
            b = namespace(W).zeros(fan_out, dtype=dtype)
        else:
            W = rng.standard_normal((fan_in, fan_out), dtype=dtype)
            W *= np.sqrt(2.0 / fan_in) if activation == "relu" else _TANH_GAIN * np.sqrt(2.0 / (fan_in + fan_out))
            b = namespace(W).zeros(fan_out, dtype=dtype)
        params[f"{prefix}W{i}"] = W
        params[f"{prefix}b{i}"] = b
    return params


def _n_layers(params, prefix):
    n = 0
    while f"{prefix}W{n}" in params:
        n += 1
    if n == 0:
        raise ValueError(f"params has no key {prefix}W0; expected keys {prefix}W0, {prefix}b0, ...")
    return n


def mlp_forward(params, x, prefix="", activation="relu"):
    """Apply the MLP in ``params`` to the last axis of x (..., F_in) -> (..., F_out).

    Linear layers alternate with ``activation``; the last layer is linear (no activation).
    """
    act, _ = _activation(activation)
    n = _n_layers(params, prefix)
    h, caches = x, []
    for i in range(n):
        h, lin_cache = linear(h, params[f"{prefix}W{i}"], params[f"{prefix}b{i}"])
        act_cache = None
        if i < n - 1:
            h, act_cache = act(h)
        caches.append((lin_cache, act_cache))
    return h, (prefix, activation, caches)


# The MLP is a composition h_{i+1} = act(h_i W_i + b_i): backpropagate layer by layer in reverse,
# each step the chain rule through the activation's rule then linear_backward's
#   dh_i = (dh_{i+1} ⊙ act'(·)) W_iᵀ,  dW_i = h_iᵀ (dh_{i+1} ⊙ act'(·)),  db_i = Σ_rows (…),
# with act' = 1 for the last layer (it has no activation).
def mlp_backward(dout, cache, need_dx=True):
    """(grads, dx) for :func:`mlp_forward`: grads has the same keys as the params used.

    ``need_dx=False`` skips the input gradient (returns None for it) when x is data, not a parameter.
    """
    prefix, activation, caches = cache
    _, act_backward = _activation(activation)
    grads, dh = {}, dout
    for i in reversed(range(len(caches))):
        lin_cache, act_cache = caches[i]
        if act_cache is not None:
            dh = act_backward(dh, act_cache)
        dh, grads[f"{prefix}W{i}"], grads[f"{prefix}b{i}"] = linear_backward(dh, lin_cache, need_dx or i > 0)
    return grads, dh


class MLP:
    """An MLP with widths ``sizes`` = (F_in, H_1, ..., F_out); parameters stay in a dict you own."""

    def __init__(self, sizes, activation="relu", prefix=""):
        self.sizes, self.activation, self.prefix = tuple(sizes), activation, prefix
        _activation(activation)

    def __repr__(self):
        return f"MLP({list(self.sizes)}, activation={self.activation!r}, prefix={self.prefix!r})"

    def init(self, rng, dtype=np.float64):
        return init_mlp(rng, self.sizes, dtype, self.prefix, self.activation)

    def forward(self, params, x):
        return mlp_forward(params, x, self.prefix, self.activation)

    def backward(self, dout, cache):
        return mlp_backward(dout, cache)


# ----------------------------------------------------------------------------- losses

def mse(pred, target):
    """Mean squared error over every entry: L = (1/n) Σ (pred − target)², a 0-d array."""
    if pred.shape != target.shape:
        raise ValueError(f"pred has shape {tuple(pred.shape)} but target has shape {tuple(target.shape)}")
    xp = namespace(pred, target)
    diff = pred - target
    return xp.mean(diff * diff), (diff, diff.size)


# L = (1/n) Σ_i (p_i − t_i)²  ⇒  ∂L/∂p_i = 2 (p_i − t_i) / n, times the upstream dloss.
def mse_backward(cache, dloss=1.0):
    """dpred for :func:`mse`."""
    diff, n = cache
    return (2.0 / n) * dloss * diff


def cross_entropy(logits, labels, axis=-1, check=True):
    """Mean negative log-likelihood: L = −(1/n) Σ_b log softmax(θ_b)[label_b], a 0-d array.

    ``logits`` (..., K) (classes on ``axis``), ``labels`` integer class indices with the logits'
    shape minus ``axis``; n = labels.size. ``check=False`` skips the label-range check (it reads
    one boolean back from the device).
    """
    xp = namespace(logits, labels)
    lab = _value(labels)
    k = logits.shape[axis]
    expect = tuple(s for i, s in enumerate(logits.shape) if i != axis % logits.ndim)
    if tuple(lab.shape) != expect or lab.dtype.kind not in "iu":
        raise ValueError(f"labels must be integers of shape {expect} for logits of shape "
                         f"{tuple(logits.shape)}, got {lab.dtype} {tuple(lab.shape)}")
    if check and lab.size and bool(xp.any((lab < 0) | (lab >= k))):
        raise ValueError(f"labels must lie in [0, {k}), got values from {int(lab.min())} to {int(lab.max())}")
    logp = log_softmax(logits, 1.0, axis)
    onehot = one_hot(lab, k, dtype=bool, axis=axis)
    n = max(lab.size, 1)
    return -xp.sum(xp.where(onehot, logp, 0.0)) / n, (logp, onehot, n, axis)


# L = −(1/n) Σ_b l_b[y_b] with l = log_softmax(θ): the upstream of l is dl = −dloss · onehot / n,
# and log_softmax_vjp gives dθ = dl − softmax(θ) Σ_j dl_j. Since Σ_j onehot_j = 1 this is the
# closed form dθ = dloss · (softmax(θ) − onehot) / n (masked −inf logits get 0).
def cross_entropy_backward(cache, dloss=1.0):
    """dlogits for :func:`cross_entropy`."""
    logp, onehot, n, axis = cache
    dlogp = (-dloss / n) * onehot.astype(logp.dtype)
    return log_softmax_vjp(dlogp, logp, 1.0, axis)


# ----------------------------------------------------------------------------- gradient checks

def _case_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 3, 4))                           # (B, N, F): leading batch axes
    x = np.sign(x) * (0.1 + np.abs(x))                       # away from relu's kink at 0
    W, b = rng.normal(size=(4, 5)), rng.normal(size=5)
    return rng, x, W, b


def _check_linear(wrt):
    def case():
        _, x, W, b = _case_data()
        args = {"x": x, "W": W, "b": b}
        _, cache = linear(x, W, b)
        idx = "xWb".index(wrt)

        def f(v):
            return linear(*[v if k == wrt else a for k, a in args.items()])[0]
        return three_way(f"nn.linear d{wrt}", f, lambda d: linear_backward(d, cache)[idx], args[wrt])
    return case


def _check_activation(name):
    def case():
        _, x, _, _ = _case_data()
        fwd, bwd = ACTIVATIONS[name]
        _, cache = fwd(x)
        return three_way(f"nn.{name}", lambda v: fwd(v)[0], lambda d: bwd(d, cache), x)
    return case


def _check_mlp(activation):
    """All MLP parameters at once, flattened into one vector θ."""
    def case():
        rng, x, _, _ = _case_data()
        params = init_mlp(rng, (4, 6, 5, 3), activation=activation)
        keys = list(params)
        flat = np.concatenate([params[k].ravel() for k in keys])

        def unflat(theta):
            out, i = {}, 0
            for k in keys:
                out[k] = theta[i:i + params[k].size].reshape(params[k].shape)
                i += params[k].size
            return out
        _, cache = mlp_forward(params, x, activation=activation)

        def vjp(dout):
            grads = mlp_backward(dout, cache)[0]
            return np.concatenate([grads[k].ravel() for k in keys])
        return three_way(f"nn.mlp[{activation}] dparams", lambda t: mlp_forward(unflat(t), x, activation=activation)[0],
                         vjp, flat)
    return case


def _check_mlp_input():
    rng, x, _, _ = _case_data()
    params = init_mlp(rng, (4, 6, 3))
    _, cache = mlp_forward(params, x)
    return three_way("nn.mlp dx", lambda v: mlp_forward(params, v)[0],
                     lambda d: mlp_backward(d, cache)[1], x)


def _check_mse():
    rng, x, _, _ = _case_data()
    t = rng.normal(size=x.shape)
    _, cache = mse(x, t)
    return three_way("nn.mse", lambda p: mse(p, t)[0], lambda d: mse_backward(cache, d), x)


def _check_cross_entropy():
    rng, x, _, _ = _case_data()
    labels = rng.integers(0, x.shape[-1], size=x.shape[:-1])
    _, cache = cross_entropy(x, labels)
    return three_way("nn.cross_entropy", lambda z: cross_entropy(z, labels)[0],
                     lambda d: cross_entropy_backward(cache, d), x)


# Zero-argument callables, each returning a GradCheck (float64, fixed seed); collected by
# ``minigumbel gradcheck``.
GRADCHECK_CASES = [
    _check_linear("x"), _check_linear("W"), _check_linear("b"),
    _check_activation("relu"), _check_activation("tanh"),
    _check_mlp("relu"), _check_mlp("tanh"), _check_mlp_input, _check_mse, _check_cross_entropy,
]
