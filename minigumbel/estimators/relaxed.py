"""The relaxed (soft) estimators: f is evaluated at a point inside the simplex, not at a one-hot.

- ``softmax``: y = softmax(θ/τ), no noise: deterministic (the seed question's alternative).
- ``gumbel``: the Gumbel-Softmax / Concrete sample y = softmax((θ + g)/τ) (Jang, Gu & Poole 2017;
  Maddison, Mnih & Teh 2017).
"""
from __future__ import annotations

# the unchecked variants: these rules run inside training steps (no device→host validation there;
# the rules convert array_like input and check shapes, estimate() also checks the logits' values)
from ..functional import _same_shape, sample_gumbel
from ..functional import (_softmax as softmax, _softmax_vjp as softmax_vjp)
from .base import Draw, Estimator
from .straight_through import _ST, _STGumbel


class _Softmax(Estimator):
    name, hard, cite = "softmax", False, "deterministic relaxation, no noise"

    def _sample(self, theta, rng, tau):
        return Draw(z=softmax(theta, tau), d=None, logits=theta, tau=tau)

    def backward(self, draw, dz):
        _same_shape(dz, draw.z, "dz", "z")
        return softmax_vjp(dz, draw.z, draw.tau)

    relaxed = _ST.relaxed


class _Gumbel(_STGumbel):
    name, hard, cite = "gumbel", False, "Jang et al. 2017; Maddison et al. 2017"

    def _sample(self, theta, rng, tau):
        # the soft sample needs only the noise; its argmax (the exact sample) is not formed here
        g = sample_gumbel(rng, tuple(theta.shape), theta.dtype)
        return Draw(z=softmax(theta + g, tau), d=None, logits=theta, tau=tau, g=g)

    def backward(self, draw, dz):
        # the ST-GS rule at the soft sample, which the draw already holds (no second softmax)
        _same_shape(dz, draw.z, "dz", "z")
        return softmax_vjp(dz, draw.z, draw.tau)
