"""RelaxedOneHotCategorical (the Concrete / Gumbel-Softmax distribution) and PlackettLuce as objects.

Names follow ``torch.distributions`` (``probs``, ``logits``, ``rsample``, ``sample``,
``log_prob``) so PyTorch users feel at home; unlike there, every sampler takes an explicit
random Generator. Maddison, Mnih & Teh (2017); Jang, Gu & Poole (2017).
"""
from __future__ import annotations

import numpy as np

from . import functional as F
from ._inputs import as_arrays, check_axis, check_values
from .backend import namespace, to_numpy

__all__ = ["RelaxedOneHotCategorical", "PlackettLuce"]


class RelaxedOneHotCategorical:
    """Concrete(π, τ) over the last axis of ``logits`` (or ``probs``).

    Exactly one of ``logits`` (θ, unnormalised log-probabilities; −inf masks a category) and
    ``probs`` (π ≥ 0, normalised along the last axis; 0 masks a category) is given.
    ``tau`` is a number or an array broadcastable to the batch shape plus a trailing 1
    (e.g. shape (n, 1) for one temperature per row). Inputs are array_like; with ``validate_args``
    (the default) NaN, +inf logits, |θ| > 1e30, negative or non-finite probs, K = 0 and an all-masked
    row are ValueErrors naming the argument and the row, checked once here: the samplers then
    run the unchecked functions.
    """

    def __init__(self, logits=None, probs=None, tau=1.0, validate_args=True):
        if (logits is None) == (probs is None):
            raise ValueError("give exactly one of logits= or probs=")
        if logits is None:
            (probs,) = as_arrays(("probs", probs))
            xp = namespace(probs)
            if validate_args:
                check_axis(F._value(probs).shape, -1, "probs")
                check_values(-1, (probs, "probs", "probs"))
            # 0 -> -inf, a mask. The inner where keeps log away from 0 so that autograd's gradient
            # (1/p times a zero upstream) is 0 there, not 0/0 = NaN.
            positive = F._value(probs) > 0
            logits = xp.where(positive, xp.log(xp.where(positive, probs, 1.0)), -xp.inf)
        (logits,) = as_arrays(("logits", logits))
        if validate_args and probs is None:                  # (probs were checked above)
            check_axis(F._value(logits).shape, -1, "logits")
            check_values(-1, (logits, "logits", "logits"))
        self.tau = F.check_tau(tau, F._value(logits).dtype, xp=namespace(logits))
        self.validate_args = validate_args
        self.logits = F._log_softmax(logits, 1.0)  # normalised: log π, so exp(logits) sums to 1

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
        return F._gumbel_softmax(self._expand(g.shape), g, self.tau, hard=hard)

    def sample(self, rng, sample_shape=()):
        """An exact one-hot sample of Cat(π) by Gumbel-max (no relaxation)."""
        g = self._noise(rng, sample_shape)
        idx = F._gumbel_max(self._expand(g.shape), g)
        return F._one_hot(idx, self.logits.shape[-1], dtype=self.logits.dtype)

    def log_prob(self, y):
        """Concrete log-density of y (reduced over the last axis); −inf off the support.

        With ``validate_args`` (the default) the support is the simplex: rows with a negative
        entry or a sum off 1 by more than 1e3·K·ε are −inf. (``functional.concrete_log_prob``
        itself evaluates the formula for any positive y, as gradient checks wrt y need.)"""
        y = as_arrays(("y", y), ("logits", self.logits))[0]      # a list goes where the logits live
        if self.validate_args:
            check_values(-1, (y, "y", "finite"))
        if y.shape[-1:] != self.logits.shape[-1:]:
            raise ValueError(f"y has {y.shape[-1:]} categories on its last axis, logits have "
                             f"{self.logits.shape[-1:]}")
        lp = F._concrete_log_prob(y, self._expand(y.shape), self.tau)
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


class PlackettLuce:
    """Plackett-Luce orders of the items on the last axis of ``logits`` (θ; −inf masks an item):
    item o_1 with probability p_{o_1}, then o_2 among the rest with p_{o_2} / (1 − p_{o_1}), ...,
    p = softmax θ. ``sample`` draws by Gumbel-top-k (Kool, van Hoof & Welling 2019); ``log_prob``
    scores an ordered prefix of any length (:func:`minigumbel.subsets.plackett_luce_log_prob`).
    Inputs are array_like; with ``validate_args`` NaN, +inf, |θ| > 1e30, K = 0 and an all-masked
    row are ValueErrors naming the row, checked once here.
    """

    def __init__(self, logits, validate_args=True):
        (logits,) = as_arrays(("logits", logits))
        if validate_args:
            check_axis(F._value(logits).shape, -1, "logits")
            check_values(-1, (logits, "logits", "logits"))
        self.validate_args = validate_args
        self.logits = F._log_softmax(logits, 1.0)        # log p: normalised, masks stay −inf

    @property
    def probs(self):
        return namespace(self.logits).exp(self.logits)

    @property
    def batch_shape(self):
        return self.logits.shape[:-1]

    @property
    def event_shape(self):
        return self.logits.shape[-1:]

    def sample(self, rng, k=None, sample_shape=()):
        """Integer indices of shape sample_shape + batch_shape + (k,): the first k items of a PL
        order (k = None: the whole order of the unmasked items, i.e. k = their fewest per row)."""
        from . import subsets as S
        xp = namespace(self.logits)
        if k is None:                                     # a batch of 0 rows: the n items' whole order
            lv = F._value(self.logits)
            k = int(to_numpy(xp.min(xp.sum(lv != -xp.inf, axis=-1)))) if lv.size else lv.shape[-1]
        else:
            k = S._check_k(k)
            S._check_enough_unmasked(self.logits, k, -1)
        g = F.sample_gumbel(rng, tuple(sample_shape) + tuple(self.logits.shape), F._value(self.logits).dtype)
        return S._gumbel_topk(self.logits, g, k, -1)

    def log_prob(self, order):
        """log P(order) for ordered prefixes on the last axis of ``order`` (integers, distinct)."""
        from . import subsets as S
        if self.validate_args:
            return S.plackett_luce_log_prob(self.logits, order)
        order = as_arrays(("order", order), ("logits", self.logits), integer=("order",))[0]   # where θ lives
        return S._plackett_luce_log_prob(*S._pl_align(self.logits, order, -1))

    def __repr__(self) -> str:
        return f"PlackettLuce(batch_shape={self.batch_shape}, K={self.logits.shape[-1]})"
