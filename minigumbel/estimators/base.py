"""What every estimator shares: argument checks, the :class:`Draw` (all randomness of one estimate),
and the :class:`Estimator` interface (``sample`` / ``backward`` / ``surrogate``; see the package
docstring, :mod:`minigumbel.estimators`)."""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

from .._inputs import as_arrays
# the unchecked variants: these rules run inside training steps (no device→host validation there;
# the rules convert array_like input and check shapes, estimate() also checks the logits' values)
from ..functional import _straight_through, _value, check_tau, sample_gumbel
from ..functional import (_gumbel_max as gumbel_max, _one_hot as one_hot)

__all__ = ["check_k", "check_reinmax_tau", "Draw", "Estimator"]


# ----------------------------------------------------------------------------- validation

def check_k(k) -> int:
    """The number of conditional Gumbel vectors of Gumbel-Rao: an integer ≥ 1."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k (Gumbel-Rao samples) must be an integer >= 1, got {k!r}")
    return int(k)


def check_reinmax_tau(tau, dtype=None):
    """ReinMax's τ: any finite τ > 0 (the rule is defined for all of them). Liu et al. (2023)
    recommend τ ≥ 1: the Heun step that makes ReinMax second-order is derived with π½ the midpoint
    of π and d, i.e. softmax(θ/τ) = π at τ = 1 (exact for quadratic f there); for τ < 1 π½ leans
    towards argmax θ. ``minigumbel estimators --tau 0.5`` shows what that costs."""
    return check_tau(tau, dtype)


def _check_batch(f_d, logits, name="f_d"):
    if tuple(f_d.shape) != tuple(logits.shape[:-1]):
        raise ValueError(f"{name} has shape {tuple(f_d.shape)} but logits have shape {tuple(logits.shape)}; "
                         f"{name} must have the batch shape {tuple(logits.shape[:-1])}")


@dataclass
class Draw:
    """Everything random about one estimate, drawn once; backward/surrogate are deterministic given it."""
    z: Any               # (..., K) value handed to f: one-hot d, or relaxed y; (K, ..., K) for exact
    d: Any               # (..., K) one-hot hard sample (None for the relaxed softmax and gumbel)
    logits: Any          # (..., K) plain logits the draw was made at
    tau: Any = 1.0
    g: Any = None        # (..., K) Gumbel noise; (k, ..., K) conditional noise for gumbel-rao
    c: Any = None        # (..., K) ReinMax constant shift log π½ − θ


def _hard_sample(logits, rng):
    """d = one-hot(argmax(θ + g)) ~ Cat(softmax θ) and the noise g that made it."""
    g = sample_gumbel(rng, tuple(logits.shape), logits.dtype)
    return one_hot(gumbel_max(logits, g), logits.shape[-1], logits.dtype), g


class Estimator:
    """One estimator: ``sample`` draws, ``backward`` is the hand rule, ``surrogate`` the autograd
    route (see the module docstring). ``needs``: "dd" (∂f/∂z), "f" (f(d)) or "all" (f at every e_k).
    ``relaxed(logits, draw)`` is the differentiable function whose VJP ``backward`` is."""
    name, needs, hard, options, cite = "", "dd", True, (), ""

    def sample(self, logits, rng, tau=1.0, **options) -> Draw:
        bad = sorted(set(options) - set(self.options))
        if bad:
            raise ValueError(f"option(s) {', '.join(bad)} do not apply to estimator {self.name!r}")
        (theta,) = as_arrays(("logits", _value(logits)))      # array_like; no value scan (hot path)
        tau = self._tau(tau, theta.dtype)
        return self._sample(theta, rng, tau, **options)

    def _tau(self, tau, dtype):
        return check_tau(tau, dtype)

    def _sample(self, theta, rng, tau):
        d, g = _hard_sample(theta, rng)
        return Draw(z=d, d=d, logits=theta, tau=tau, g=g)

    def surrogate(self, logits, draw, *args, **kw):
        soft = self.relaxed(logits, draw, *args, **kw)
        if self.needs != "dd":
            return soft - _value(soft)        # value exactly 0, gradient that of `relaxed`
        return _straight_through(soft, draw.z) if self.hard else soft

    def __repr__(self):
        return f"<estimator {self.name}: {self.cite}>"
