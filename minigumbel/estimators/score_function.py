"""The score-function family: the exact gradient by enumeration, and REINFORCE (Williams 1992)
with its baselines (a constant, leave-one-out over the samples, a running mean)."""
from __future__ import annotations

from ..backend import namespace
from .._inputs import as_arrays
# the unchecked variants: these rules run inside training steps (no device→host validation there;
# the rules convert array_like input and check shapes, estimate() also checks the logits' values)
from ..functional import _same_shape, _value
from ..functional import (_log_softmax as log_softmax, _softmax as softmax, _softmax_vjp as softmax_vjp)
from .base import Draw, Estimator, _check_batch

__all__ = ["exact_grad", "reinforce_backward", "loo_baseline", "RunningMean"]


# g(θ) = Σ_k π_k F_k, π = softmax θ  ⇒  ∂g/∂θ_j = Σ_k π_k (δ_kj − π_j) F_k = π_j (F_j − ⟨π, F⟩),
# i.e. J(π) F with J(π) = diag(π) − π πᵀ: exactly the softmax VJP at τ = 1 with upstream F.
def exact_grad(logits, f_values):
    """The exact gradient J(π)F of E_{d~Cat(π)}[f(d)], F_k = f(e_k) given as ``f_values`` (..., K)."""
    logits, f_values = as_arrays(("logits", logits), ("f_values", f_values))
    _same_shape(f_values, logits, "f_values", "logits")
    return softmax_vjp(f_values, softmax(logits), 1.0)


# Williams (1992): ∇θ E[f(d)] = E[f(d) ∇θ log π_d] and ∇θ log π_d = ∇θ (θ_d − logsumexp θ) = d − π.
# E[b (d − π)] = b (π − π) = 0 for any b independent of d, so (f(d) − b)(d − π) stays unbiased.
# A leave-one-out baseline (mean of the other samples' f) is independent of the sample it serves.
def reinforce_backward(logits, d, f_d, baseline=0.0):
    """REINFORCE / score function: (f(d) − b)(d − π) with f_d = f(d) of shape (...)."""
    logits, d, f_d = as_arrays(("logits", logits), ("d", d), ("f_d", f_d))   # f_d may be a float
    _same_shape(d, logits, "d", "logits")
    _check_batch(f_d, logits)
    return (f_d - baseline)[..., None] * (d - softmax(logits))


def loo_baseline(f_d, axis=0):
    """Leave-one-out baseline b_i = mean_{j≠i} f_j over the sample ``axis`` (needs ≥ 2 samples)."""
    n = f_d.shape[axis]
    if n < 2:
        raise ValueError(f"baseline='loo' needs n_samples >= 2, got {n}")
    xp = namespace(f_d)
    return (xp.sum(f_d, axis=axis, keepdims=True) - f_d) / (n - 1)


class RunningMean:
    """An exponential running mean of f used as a REINFORCE baseline: read ``value`` (from past
    draws only, so independent of the current d), then ``update`` with the new f values."""

    def __init__(self, decay: float = 0.9):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay!r}")
        self.decay, self.value, self.count = decay, 0.0, 0

    def update(self, f_d):
        m = namespace(f_d).mean(_value(f_d))      # stays on the device: no host copy per step
        self.value = m if self.count == 0 else self.decay * self.value + (1 - self.decay) * m
        self.count += 1
        return self.value



class _Exact(Estimator):
    name, needs, hard, cite = "exact", "all", False, "enumeration, J(π)F"

    def _sample(self, theta, rng, tau):
        xp, k = namespace(theta), theta.shape[-1]
        eye = xp.eye(k, dtype=theta.dtype).reshape((k,) + (1,) * (theta.ndim - 1) + (k,))
        return Draw(z=xp.broadcast_to(eye, (k,) + tuple(theta.shape)), d=None, logits=theta, tau=tau)

    def backward(self, draw, f_values):
        return exact_grad(draw.logits, f_values)

    def relaxed(self, logits, draw, f_values):
        return namespace(logits).sum(softmax(logits) * f_values, axis=-1)


class _Reinforce(Estimator):
    name, needs, cite = "reinforce", "f", "Williams 1992"

    def backward(self, draw, f_d, baseline=0.0):
        return reinforce_backward(draw.logits, draw.d, f_d, baseline)

    def relaxed(self, logits, draw, f_d, baseline=0.0):
        xp = namespace(logits)
        logp_d = xp.sum(xp.where(draw.d > 0, log_softmax(logits), 0.0), axis=-1)   # log π_d, (...)
        return _value(f_d - baseline) * logp_d
