"""Temperature schedules τ(step) for training with a relaxed categorical.

Each schedule is a pure function of the (0-based) step returning a Python float;
:func:`make_schedule` checks the arguments once and binds them into a ``callable(step)``.

- ``constant``: τ = τ0.
- ``exp``: Jang, Gu & Poole (2017, §4): τ = max(τ_min, τ0 · exp(−r · t)) where t is the step
  rounded down to a multiple of N, so τ changes only every N steps. They used τ_min = 0.5,
  r ∈ {1e-5, 1e-4}, N ∈ {500, 1000}.
- ``linear``: τ0 at step 0 down to τ_min at step ``total_steps``, then τ_min.
- ``cosine``: τ = τ_min + ½ (τ0 − τ_min)(1 + cos(π s / total_steps)), the same end points.
"""
from __future__ import annotations

import math
import numbers
from functools import partial

from ._inputs import check_tau

__all__ = ["constant", "exp", "linear", "cosine", "make_schedule", "SCHEDULES"]

SCHEDULES = ("constant", "exp", "linear", "cosine")


def _positive(value, name):
    """A temperature of the documented domain, 1e-4 <= τ <= 1e4 (see functional.check_tau)."""
    if not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite number in [1e-4, 1e4], got {value!r}")
    check_tau(value, name=name)


def _finite(x) -> bool:
    try:
        return math.isfinite(x)
    except OverflowError:                       # a Python int beyond float's range
        return False


def _count(value, name, low):
    if not (isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low):
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def _annealing(tau0, tau_min):
    _positive(tau0, "tau0")
    _positive(tau_min, "tau_min")
    if tau_min > tau0:
        raise ValueError(f"tau_min must be <= tau0 for an annealing schedule, got tau_min={tau_min!r} "
                         f"> tau0={tau0!r}")


def _fraction(step, total_steps):
    """step / total_steps clipped to [0, 1], after checking both."""
    _count(step, "step", 0)
    _count(total_steps, "total_steps", 1)
    return min(step / total_steps, 1.0)


def constant(step, tau0):
    """τ = τ0 at every step."""
    _count(step, "step", 0)
    _positive(tau0, "tau0")
    return float(tau0)


def exp(step, tau0, tau_min=0.5, rate=1e-4, every=500):
    """τ = max(τ_min, τ0 · exp(−rate · t)), t = ⌊step / every⌋ · every (Jang et al. 2017)."""
    _count(step, "step", 0)
    _annealing(tau0, tau_min)
    if not (isinstance(rate, numbers.Real) and not isinstance(rate, bool) and _finite(rate) and rate >= 0):
        raise ValueError(f"rate must be a finite number >= 0, got {rate!r}")
    _count(every, "every", 1)
    t = (step // every) * every
    return max(float(tau_min), tau0 * math.exp(-rate * t))


def linear(step, tau0, tau_min=0.5, total_steps=1000):
    """τ0 → τ_min in a straight line over ``total_steps`` steps, then τ_min."""
    _annealing(tau0, tau_min)
    return tau0 + (tau_min - tau0) * _fraction(step, total_steps)


def cosine(step, tau0, tau_min=0.5, total_steps=1000):
    """τ0 → τ_min along half a cosine over ``total_steps`` steps, then τ_min."""
    _annealing(tau0, tau_min)
    s = _fraction(step, total_steps)
    return tau_min + 0.5 * (tau0 - tau_min) * (1.0 + math.cos(math.pi * s))


def make_schedule(name, tau0, tau_min=0.5, total_steps=1000, rate=1e-4, every=500):
    """The schedule ``name`` with its arguments bound: a ``callable(step) -> float``.

    Arguments a schedule does not use are ignored (``constant`` uses only τ0). Bad arguments raise
    ``ValueError`` naming them here, not at the first step.
    """
    if name == "constant":
        fn = partial(constant, tau0=tau0)
    elif name == "exp":
        fn = partial(exp, tau0=tau0, tau_min=tau_min, rate=rate, every=every)
    elif name in ("linear", "cosine"):
        fn = partial(globals()[name], tau0=tau0, tau_min=tau_min, total_steps=total_steps)
    else:
        raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    fn(0)                                       # validates the arguments now
    return fn
