"""RelaxedOneHotCategorical: the Concrete / Gumbel-Softmax distribution as an object.

Names follow ``torch.distributions`` (``probs``, ``logits``, ``rsample``, ``sample``,
``log_prob``) so PyTorch users feel at home; unlike there, every sampler takes an explicit
random Generator. Maddison, Mnih & Teh (2017); Jang, Gu & Poole (2017).
"""
from __future__ import annotations

import numpy as np

from . import functional as F
from .backend import namespace

__all__ = ["RelaxedOneHotCategorical"]


def _as_float(xp, a):
    """An array of a floating dtype (autograd boxes pass through untouched)."""
    if F._value(a) is not a:
        return a
    a = xp.asarray(a)
    return a if xp.issubdtype(a.dtype, xp.floating) else a.astype(np.float64)


class RelaxedOneHotCategorical:
    """Concrete(π, τ) over the last axis of ``logits`` (or ``probs``).

    Exactly one of ``logits`` (θ, unnormalised log-probabilities; −inf masks a category) and
    ``probs`` (π ≥ 0, normalised along the last axis; 0 masks a category) is given.
    ``tau`` is a number or an array broadcastable to the batch shape plus a trailing 1
    (e.g. shape (n, 1) for one temperature per row).
    """

    def __init__(self, logits=None, probs=None, tau=1.0, validate_args=True):
        if (logits is None) == (probs is None):
            raise ValueError("give exactly one of logits= or probs=")
        xp = namespace(logits if logits is not None else probs)
        if logits is None:
            probs = _as_float(xp, probs)
            if validate_args:
                self._validate(xp, probs, "probs")
                if bool(xp.any(F._value(probs) < 0)):
                    raise ValueError("probs must be >= 0")
            # 0 -> -inf, a mask. The inner where keeps log away from 0 so that autograd's gradient
            # (1/p times a zero upstream) is 0 there, not 0/0 = NaN.
            positive = F._value(probs) > 0
            logits = xp.where(positive, xp.log(xp.where(positive, probs, 1.0)), -xp.inf)
        logits = _as_float(xp, logits)
        if validate_args:
            self._validate(xp, logits, "logits")
            raw = F._value(logits)
            if bool(xp.any(raw == xp.inf)):
                raise ValueError("logits must not contain +inf")
            if bool(xp.any(xp.all(raw == -xp.inf, axis=-1))):
                raise ValueError("logits: a row has every entry -inf (all categories masked)")
        self.tau = F.check_tau(tau, F._value(logits).dtype)
        self.validate_args = validate_args
        self.logits = F.log_softmax(logits, 1.0)   # normalised: log π, so exp(logits) sums to 1

    @staticmethod
    def _validate(xp, a, name):
        a = F._value(a)
        if a.ndim < 1 or a.shape[-1] < 1:
            raise ValueError(f"{name} must have at least one category on the last axis, got shape {tuple(a.shape)}")
        if bool(xp.any(xp.isnan(a))):
            raise ValueError(f"{name} contains NaN")

    @property
    def probs(self):
        """π = softmax(θ): exactly 0 on masked categories."""
        return namespace(self.logits).exp(self.logits)

    @property
    def event_shape(self):
        return self.logits.shape[-1:]

    @property
    def batch_shape(self):
        return self.logits.shape[:-1]

    def _noise(self, rng, shape):
        shape = tuple(shape) + tuple(self.logits.shape)
        return F.sample_gumbel(rng, shape, self.logits.dtype)

    def _expand(self, shape):
        """The logits broadcast to ``shape`` (adding zeros keeps −inf masks; autograd-friendly)."""
        if tuple(shape) == tuple(self.logits.shape):
            return self.logits
        xp = namespace(self.logits)
        return self.logits + xp.zeros(tuple(shape), dtype=F._value(self.logits).dtype)

    def rsample(self, rng, sample_shape=(), hard=False):
        """A reparameterised relaxed sample y = softmax((θ + g)/τ) (Gumbel-Softmax).

        ``hard=True`` returns the exact one-hot sample instead (its gradient, via
        :func:`minigumbel.functional.gumbel_softmax_vjp`, is the soft one: straight-through).
        """
        g = self._noise(rng, sample_shape)
        return F.gumbel_softmax(self._expand(g.shape), g, self.tau, hard=hard)

    def sample(self, rng, sample_shape=()):
        """An exact one-hot sample of Cat(π) by Gumbel-max (no relaxation)."""
        g = self._noise(rng, sample_shape)
        idx = F.gumbel_max(self._expand(g.shape), g)
        return F.one_hot(idx, self.logits.shape[-1], dtype=self.logits.dtype)

    def log_prob(self, y):
        """Concrete log-density of y (reduced over the last axis); −inf off the support.

        With ``validate_args`` (the default) the support is the simplex: rows with a negative
        entry or a sum off 1 by more than 1e3·K·ε are −inf. (``functional.concrete_log_prob``
        itself evaluates the formula for any positive y, as gradient checks wrt y need.)"""
        if y.shape[-1:] != self.logits.shape[-1:]:
            raise ValueError(f"y has {y.shape[-1:]} categories on its last axis, logits have "
                             f"{self.logits.shape[-1:]}")
        lp = F.concrete_log_prob(y, self._expand(y.shape), self.tau)
        if not self.validate_args:
            return lp
        # the density lives on the simplex: a row with a negative entry or not summing to 1 is off
        # the support (−inf), as is mass on a masked category (concrete_log_prob's own rule)
        yv = F._value(y)
        xp = namespace(yv)
        tol = 1e3 * np.finfo(yv.dtype).eps * max(1, yv.shape[-1])
        off = xp.any(yv < 0, axis=-1) | (xp.abs(xp.sum(yv, axis=-1) - 1) > tol)
        return xp.where(off, -xp.inf, lp)

    def __repr__(self) -> str:
        return f"RelaxedOneHotCategorical(batch_shape={self.batch_shape}, K={self.logits.shape[-1]}, tau={self.tau!r})"
