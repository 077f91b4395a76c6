"""The straight-through family: forward the exact one-hot sample d, backward through a relaxation.

- ``st`` (Bengio, Léonard & Courville 2013): through softmax(θ/τ).
- ``st-gumbel`` (Jang, Gu & Poole 2017): through softmax((θ + g)/τ), the noise that drew d.
- ``reinmax`` (Liu et al. 2023): a second-order (Heun) correction of ``st``.
- ``gst-1.0`` / ``gst-p``: Gapped Straight-Through (Fan, Chi, Rudnicky & Ramadge, ICML 2022):
  ST-Gumbel's backward with the Gumbel-perturbed logits replaced by a *deterministic*
  perturbation of θ built from the sample d alone: no noise in the backward, no extra f calls.
- ``decoupled``: decoupled straight-through Gumbel (Shah, Yan, Mozer & Liu, arXiv 2410.13331): one
  Gumbel draw g; the forward sample argmax(θ/τ_f + g) ~ Cat(softmax(θ/τ_f)) (option ``tau_forward``),
  the backward through softmax(θ/τ_b + g) at τ (= τ_b).

Shapes: logits θ, d, dd, g (..., K).
"""
from __future__ import annotations

import numbers

import numpy as np

from ..backend import namespace
from .._inputs import as_arrays
# the unchecked variants: these rules run inside training steps (no device→host validation there;
# the rules convert array_like input and check shapes, estimate() also checks the logits' values)
from ..functional import _same_shape, _value, check_tau, sample_gumbel
from ..functional import (_gumbel_max as gumbel_max, _one_hot as one_hot, _softmax as softmax,
                          _softmax_vjp as softmax_vjp)
from .base import Draw, Estimator, _hard_sample, check_reinmax_tau

__all__ = ["st_backward", "st_gumbel_backward", "reinmax_backward", "GAPS", "check_gap", "gst_shift",
           "gst_backward", "decoupled_st_gumbel_backward", "decoupled_sample"]


# Bengio et al. (2013) straight-through: forward the exact sample d, backward as if the output
# were y = softmax(θ/τ):  dθ = J(y) dd / τ = y ⊙ (dd − ⟨dd, y⟩) / τ  (the softmax VJP).
# For linear f, dd = a is constant and E[J(π) a] = J(π) a = J(π) F (F_k = a_k): exact at τ = 1.
def st_backward(logits, dd, tau=1.0):
    """Straight-through: the softmax(θ/τ) VJP applied to dd = ∂f/∂d at the sample.

    Exact in expectation for linear f at τ = 1 only; biased otherwise."""
    logits, dd = as_arrays(("logits", logits), ("dd", dd))
    _same_shape(dd, logits, "dd", "logits")
    tau = check_tau(tau, logits.dtype)
    return softmax_vjp(dd, softmax(logits, tau), tau)


# Jang et al. (2017) ST Gumbel-Softmax: d = one-hot(argmax(θ + g)), backward through the relaxed
# y = softmax((θ + g)/τ) with g held fixed; ∂(θ + g)/∂θ = I so dθ = y ⊙ (dd − ⟨dd, y⟩) / τ.
def st_gumbel_backward(logits, g, dd, tau=1.0):
    """Straight-through Gumbel-Softmax: the softmax((θ+g)/τ) VJP applied to dd.

    Biased, also as τ → 0: the limit of its expectation is exact for f of degree ≤ 2 in d only
    (on the lab's cubic problem its bias stays near half the gradient's norm at τ = 0.05)."""
    logits, g, dd = as_arrays(("logits", logits), ("g", g), ("dd", dd))
    _same_shape(g, logits, "g", "logits")
    _same_shape(dd, logits, "dd", "logits")
    tau = check_tau(tau, logits.dtype)
    return softmax_vjp(dd, softmax(logits + g, tau), tau)


# Liu et al. (2023) ReinMax (Heun's method): π = softmax θ, π½ = (softmax(θ/τ) + d)/2 and
#   dθ = 2 J(π½) dd − ½ J(π) dd,   J(p) = diag(p) − p pᵀ.
# It is the VJP of 2·softmax(θ + c) − ½·softmax(θ) with c = log π½ − θ held constant (so that
# softmax(θ + c) = π½). Its expectation equals J(π)F for quadratic f at τ = 1 (not at other τ, and
# not for cubic f). Defined for every τ > 0; the authors recommend τ ≥ 1 (see check_reinmax_tau).
def reinmax_backward(logits, d, dd, tau=1.0):
    """ReinMax: 2 J(π½) dd − ½ J(π) dd with π½ = (softmax(θ/τ) + d)/2; any τ > 0 (authors: τ ≥ 1).

    Biased in general: exact in expectation for quadratic f at τ = 1 only."""
    logits, d, dd = as_arrays(("logits", logits), ("d", d), ("dd", dd))
    _same_shape(d, logits, "d", "logits")
    _same_shape(dd, logits, "dd", "logits")
    tau = check_reinmax_tau(tau, logits.dtype)
    half = 0.5 * (softmax(logits, tau) + d)
    return 2.0 * softmax_vjp(dd, half, 1.0) - 0.5 * softmax_vjp(dd, softmax(logits), 1.0)


def _reinmax_shift(logits, d, tau):
    """c = log π½ − θ as a constant (0 on masked entries, −inf where π½ underflows to 0)."""
    xp = namespace(logits)
    theta = _value(logits)
    half = 0.5 * (softmax(theta, tau) + d)
    masked = theta == -xp.inf
    with np.errstate(divide="ignore"):
        return xp.where(masked, 0.0, xp.log(half) - xp.where(masked, 0.0, theta))



GAPS = (1.0, "p")


def check_gap(gap):
    """GST's gap κ: a finite number > 0, or "p" for the π-dependent gap −log(1 − π_d)/π_d."""
    if gap == "p":
        return gap
    if isinstance(gap, numbers.Real) and not isinstance(gap, bool) and np.isfinite(gap) and gap > 0:
        return float(gap)
    raise ValueError(f"gap must be a finite number > 0 or 'p', got {gap!r}")


# ----------------------------------------------------------------------------- GST

# Fan et al. (2022) keep two properties of ST-Gumbel's perturbed logits s = θ + g and drop the noise:
# (1) the sampled category i is the argmax of s; (2) it wins by a gap. Deterministic version:
#   m1 = (max θ − θ_i) e_i           raises θ_i to the current maximum,
#   m2_j = max(0, θ_j − max θ + κ)    (j ≠ i) pushes every other logit to at most max θ − κ,
# and s̃ = θ + c, c = m1 − m2 held constant. The π-dependent gap κ(π_i) = −log(1 − π_i)/π_i is
# ST-GS's own mean gap: s_i − max_{j≠i} s_j ~ Logistic(logit π_i), and E[X | X > 0] for that law is
# ∫₀^∞ σ(logit π_i − x) dx / π_i = log(1 + π_i/(1 − π_i)) / π_i = −log(1 − π_i)/π_i (≥ 1, → 1 as π_i → 0).
def gst_shift(logits, d, gap=1.0):
    """The constant c (..., K) with s̃ = θ + c: θ_d raised to max θ, the others ≥ κ below it."""
    logits, d = as_arrays(("logits", logits), ("d", d))
    _same_shape(d, logits, "d", "logits")
    gap = check_gap(gap)
    xp = namespace(logits, d)
    theta, d = _value(logits), _value(d)
    masked = theta == -xp.inf
    safe = xp.where(masked, 0.0, theta)                                      # (..., K) no inf·0
    top = xp.max(theta, axis=-1, keepdims=True)                              # (..., 1)
    if gap == "p":
        pi_d = xp.sum(d * softmax(theta), axis=-1, keepdims=True)            # (..., 1) π of the sample
        pi_d = xp.minimum(pi_d, 1.0 - 1e-6)                                  # κ → ∞ as π_d → 1: cap ≈ 13.8
        small = pi_d < 1e-5                                                  # κ = 1 + π/2 + O(π²) there
        gap = xp.where(small, 1.0 + 0.5 * pi_d, -xp.log1p(-pi_d) / xp.where(small, 1.0, pi_d))
    m1 = d * (top - safe)
    m2 = (1.0 - d) * xp.maximum(safe - top + gap, 0.0)
    return xp.where(masked, 0.0, m1 - m2)


# The rule is the softmax(s̃/τ) VJP: ∂s̃/∂θ = I because c is a constant, so
#   dθ = ỹ ⊙ (dd − ⟨dd, ỹ⟩)/τ,  ỹ = softmax((θ + c)/τ)   (ST-Gumbel's rule with g replaced by c).
# Its expectation Σ_i π_i rule(e_i) is a finite sum (enumeration): not exact even for linear f
# (tests/test_estimators_more.py), unlike ST at τ = 1.
def gst_backward(logits, d, dd, tau=1.0, gap=1.0):
    """Gapped straight-through: the softmax((θ + c)/τ) VJP applied to dd, c = :func:`gst_shift`."""
    logits, d, dd = as_arrays(("logits", logits), ("d", d), ("dd", dd))
    _same_shape(dd, logits, "dd", "logits")
    tau = check_tau(tau, logits.dtype)
    return softmax_vjp(dd, softmax(logits + gst_shift(logits, d, gap), tau), tau)


# ----------------------------------------------------------------------------- decoupled ST-GS

# Shah, Yan, Mozer & Liu (arXiv 2410.13331) write the Gumbel-Softmax sample as softmax(θ/τ + g) (the
# temperature scales the logits, not the noise; their footnote marks the difference from Jang et al.)
# and use one draw g at two temperatures: forward  z = one-hot(argmax(θ/τ_f + g)) ~ Cat(softmax(θ/τ_f)),
# backward through  ẑ^b = softmax(θ/τ_b + g)  with g held:  ∂ẑ^b/∂θ = J_softmax(ẑ^b)/τ_b, so
#   dθ = ẑ^b ⊙ (dd − ⟨dd, ẑ^b⟩) / τ_b.
# τ_f sets how often the forward explores (τ_f > 1 flattens Cat(softmax(θ/τ_f))), τ_b how the gradient
# spreads. At τ_f = τ_b = 1 both are ST-Gumbel's at τ = 1; at τ ≠ 1 ST-Gumbel (Jang et al.) keeps the
# forward law Cat(softmax θ) and divides the noise by τ too.
def decoupled_st_gumbel_backward(logits, g, dd, tau_backward=1.0):
    """Decoupled ST-Gumbel's rule: the VJP of ẑ^b = softmax(θ/τ_b + g) applied to dd (Shah et al.)."""
    logits, g, dd = as_arrays(("logits", logits), ("g", g), ("dd", dd))
    _same_shape(g, logits, "g", "logits")
    _same_shape(dd, logits, "dd", "logits")
    tau_backward = check_tau(tau_backward, logits.dtype, "tau_backward")
    return softmax_vjp(dd, softmax(logits / tau_backward + g), tau_backward)


def decoupled_sample(logits, g, tau_forward=1.0):
    """Decoupled ST-Gumbel's forward: the index argmax(θ/τ_f + g), a draw of Cat(softmax(θ/τ_f))."""
    logits, g = as_arrays(("logits", logits), ("g", g))
    _same_shape(g, logits, "g", "logits")
    tau_forward = check_tau(tau_forward, logits.dtype, "tau_forward")
    return gumbel_max(logits / tau_forward, g)


# ----------------------------------------------------------------------------- the estimator objects

class _ST(Estimator):
    name, cite = "st", "Bengio et al. 2013"

    def backward(self, draw, dd):
        return st_backward(draw.logits, dd, draw.tau)

    def relaxed(self, logits, draw):
        return softmax(logits, draw.tau)


class _STGumbel(Estimator):
    name, cite = "st-gumbel", "Jang et al. 2017"

    def backward(self, draw, dd):
        return st_gumbel_backward(draw.logits, draw.g, dd, draw.tau)

    def relaxed(self, logits, draw):
        return softmax(logits + draw.g, draw.tau)



class _ReinMax(Estimator):
    name, cite = "reinmax", "Liu et al. 2023"

    def _tau(self, tau, dtype):
        return check_reinmax_tau(tau, dtype)

    def _sample(self, theta, rng, tau):
        d, _ = _hard_sample(theta, rng)
        return Draw(z=d, d=d, logits=theta, tau=tau, c=_reinmax_shift(theta, d, tau))

    def backward(self, draw, dd):
        return reinmax_backward(draw.logits, draw.d, dd, draw.tau)

    def relaxed(self, logits, draw):
        return 2.0 * softmax(logits + draw.c) - 0.5 * softmax(logits)



class _GST(Estimator):
    cite = "Fan et al. 2022"

    def __init__(self, gap):
        self.gap = gap
        self.name = f"gst-{gap}" if gap == "p" else f"gst-{gap:.1f}"

    def _sample(self, theta, rng, tau):
        d, _ = _hard_sample(theta, rng)
        return Draw(z=d, d=d, logits=theta, tau=tau, c=gst_shift(theta, d, self.gap))

    def backward(self, draw, dd):
        _same_shape(dd, draw.logits, "dd", "logits")
        return softmax_vjp(dd, softmax(draw.logits + draw.c, draw.tau), draw.tau)

    def relaxed(self, logits, draw):
        return softmax(logits + draw.c, draw.tau)


class _Decoupled(Estimator):
    """Decoupled ST-Gumbel (Shah et al.): τ (the ``tau`` argument, the schedule's) is τ_b; option
    ``tau_forward`` τ_f (default: τ, the paper's single-temperature ST-GS)."""
    name, options, cite = "decoupled", ("tau_forward",), "Shah et al. 2024 (arXiv 2410.13331)"

    def _sample(self, theta, rng, tau, tau_forward=None):
        tau_f = tau if tau_forward is None else check_tau(tau_forward, theta.dtype, "tau_forward")
        g = sample_gumbel(rng, tuple(theta.shape), theta.dtype)
        d = one_hot(gumbel_max(theta / tau_f, g), theta.shape[-1], theta.dtype)
        return Draw(z=d, d=d, logits=theta, tau=tau, g=g)

    def backward(self, draw, dd):
        _same_shape(dd, draw.logits, "dd", "logits")
        return softmax_vjp(dd, softmax(draw.logits / draw.tau + draw.g), draw.tau)

    def relaxed(self, logits, draw):
        return softmax(logits / draw.tau + draw.g)
