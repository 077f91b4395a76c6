"""Optimizers on a parameter dict: SGD with momentum, and Adam.

``step(params, grads)`` updates the arrays of ``params`` in place (in-place ufuncs on whichever
backend owns them; the arrays keep their dtype). ``state_dict()`` is a plain nested dict of
numbers and arrays (copies), and ``load_state_dict`` restores it exactly, so a run stopped and
resumed from a checkpoint continues bit for bit like an uninterrupted one.
"""
from __future__ import annotations

import math
import numbers

from .backend import namespace

__all__ = ["SGD", "Adam", "make_optimizer", "OPTIMIZERS"]


def _check_number(value, name, low=0.0, low_open=False, high=None):
    if getattr(value, "ndim", None) == 0 and getattr(value, "dtype", None) is not None:
        value = value.item()                    # a 0-d array read back from a checkpoint
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and (high is None or value < high)
    if not ok:
        lo = f"> {low}" if low_open else f">= {low}"
        hi = f" and < {high}" if high is not None else ""
        raise ValueError(f"{name} must be a finite number {lo}{hi}, got {value!r}")
    return float(value)


def _check_grads(params, grads):
    for k, g in grads.items():
        if k not in params:
            raise ValueError(f"grads has key {k!r} that params does not have")
        if g.shape != params[k].shape:
            raise ValueError(f"grads[{k!r}] has shape {tuple(g.shape)} but params[{k!r}] has "
                             f"shape {tuple(params[k].shape)}")


def _copy(buffers):
    return {k: namespace(v).array(v, copy=True) for k, v in buffers.items()}


class _Optimizer:
    name = ""
    _hyper: tuple = ()          # names of the hyperparameters saved with the state
    _buffers: tuple = ()        # names of the per-parameter state buffers

    def __init__(self):
        self.t = 0
        for b in self._buffers:
            setattr(self, b, {})

    def __repr__(self):
        args = ", ".join(f"{h}={getattr(self, h)!r}" for h in self._hyper)
        return f"{type(self).__name__}({args})"

    def _buffer(self, which, key, like):
        buf, xp = getattr(self, which), namespace(like)
        if key not in buf:
            buf[key] = xp.zeros_like(like)
        elif namespace(buf[key]) is not xp:      # state loaded from host arrays onto a GPU run
            buf[key] = xp.asarray(buf[key])
        return buf[key]

    def buffers_in_use(self) -> tuple:
        """The buffers a step fills (one array per parameter from the first step on)."""
        return self._buffers

    def state_dict(self) -> dict:
        """{"name", "step", hyperparameters..., one dict of arrays per buffer} (copies)."""
        d = {"name": self.name, "step": self.t}
        d.update({h: getattr(self, h) for h in self._hyper})
        d.update({b: _copy(getattr(self, b)) for b in self._buffers})
        return d

    def load_state_dict(self, d: dict) -> None:
        """Restore a :meth:`state_dict` (hyperparameters included, as in PyTorch)."""
        if d.get("name") != self.name:
            raise ValueError(f"optimizer state is for {d.get('name')!r}, not {self.name!r}")
        missing = [k for k in ("step", *self._hyper, *self._buffers) if k not in d]
        if missing:
            raise ValueError(f"optimizer state is missing {', '.join(missing)}")
        fresh = type(self)(**{h: d[h] for h in self._hyper})     # validates the hyperparameters
        for h in self._hyper:
            setattr(self, h, getattr(fresh, h))
        self.t = int(d["step"])
        for b in self._buffers:
            setattr(self, b, _copy(d[b]))


class SGD(_Optimizer):
    """Stochastic gradient descent with (heavy-ball) momentum and L2 weight decay.

        g ← ∇ + λ p;   v ← μ v + g;   p ← p − lr · v

    (the PyTorch convention: on the first step v = g; μ = 0 is plain SGD). Polyak (1964).
    """
    name = "sgd"
    _hyper = ("lr", "momentum", "weight_decay")
    _buffers = ("velocity",)

    def __init__(self, lr, momentum=0.0, weight_decay=0.0):
        super().__init__()
        self.lr = _check_number(lr, "lr", low_open=True)
        self.momentum = _check_number(momentum, "momentum", high=1.0)
        self.weight_decay = _check_number(weight_decay, "weight_decay")

    def buffers_in_use(self) -> tuple:
        return self._buffers if self.momentum else ()

    def step(self, params, grads):
        _check_grads(params, grads)
        self.t += 1
        for k, g in grads.items():
            p = params[k]
            if self.weight_decay:
                g = g + self.weight_decay * p
            if self.momentum:
                v = self._buffer("velocity", k, p)
                v *= self.momentum
                v += g                                  # first step: 0·μ + g = g
                g = v
            p -= self.lr * g


class Adam(_Optimizer):
    """Adam (Kingma & Ba 2015, Algorithm 1), with bias-corrected moments:

        m ← β1 m + (1 − β1) g;   v ← β2 v + (1 − β2) g²
        m̂ = m / (1 − β1ᵗ);   v̂ = v / (1 − β2ᵗ);   p ← p − lr · m̂ / (√v̂ + ε)
    """
    name = "adam"
    _hyper = ("lr", "betas", "eps")
    _buffers = ("m", "v")

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__()
        self.lr = _check_number(lr, "lr", low_open=True)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = (_check_number(betas[0], "betas[0]", high=1.0),
                      _check_number(betas[1], "betas[1]", high=1.0))
        self.eps = _check_number(eps, "eps", low_open=True)

    def step(self, params, grads):
        _check_grads(params, grads)
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1.0 - b1 ** self.t, 1.0 - b2 ** self.t     # bias corrections
        # Kingma & Ba's reordering (end of their sec. 2): lr·m̂/(√v̂ + ε) = α_t·m/(√v + ε̂) with
        # α_t = lr·√c2/c1 and ε̂ = ε·√c2 — the same update, two fewer passes per tensor.
        root_c2 = c2 ** 0.5
        alpha_t, eps_hat = self.lr * root_c2 / c1, self.eps * root_c2
        for k, g in grads.items():
            p = params[k]
            xp = namespace(p, g)
            m, v = self._buffer("m", k, p), self._buffer("v", k, p)
            # in place, one scratch array per tensor: this runs every step for every parameter
            m *= b1
            m += (1.0 - b1) * g                         # m ← β1 m + (1 − β1) g
            tmp = xp.multiply(g, g)
            tmp *= 1.0 - b2
            v *= b2
            v += tmp                                    # v ← β2 v + (1 − β2) g²
            xp.sqrt(v, out=tmp)
            tmp += eps_hat
            xp.divide(m, tmp, out=tmp)
            tmp *= alpha_t
            p -= tmp


OPTIMIZERS = {"sgd": SGD, "adam": Adam}


def make_optimizer(name, lr, **kw):
    """``SGD(lr, **kw)`` or ``Adam(lr, **kw)`` by name ("sgd", "adam")."""
    try:
        cls = OPTIMIZERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}") from None
    return cls(lr, **kw)
