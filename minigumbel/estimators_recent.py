"""Three more backward rules given the sample: GST (2022), decoupled ST-Gumbel (2024), and the
"total derivative" reading of Gumbel-Rao (2021). They join ``estimators.ESTIMATORS``.

- ``gst-1.0`` / ``gst-p``: Gapped Straight-Through (Fan, Chi, Rudnicky & Ramadge, ICML 2022).
  ST-Gumbel's backward, but the Gumbel-perturbed logits are replaced by a *deterministic*
  perturbation of θ built from the sample d alone: no noise in the backward, no extra f calls.
- ``decoupled``: ST-Gumbel-Softmax with separate temperatures (Shah, Yan, Mozer & Liu,
  arXiv 2410.13331): one Gumbel draw g; the forward sample argmax(θ/τ_f + g) ~ Cat(softmax(θ/τ_f))
  (``tau_forward``), the backward through softmax(θ/τ_b + g) at τ (= τ_b).
- ``gumbel-rao-total``: Gumbel-Rao (Paulus, Maddison & Krause 2021) with the gradient also flowing
  through the conditional Gumbel draws, which are functions of θ (see ``gumbel_rao_total_backward``).

Shapes as in :mod:`minigumbel.estimators`: logits θ, d, dd (..., K); conditional draws (k, ..., K).
"""
from __future__ import annotations

import numbers

import numpy as np

from ._inputs import as_arrays
from .backend import namespace
from .estimators import (ESTIMATORS, GRADCHECK_CASES, Draw, Estimator, _gradcheck_case, _hard_sample,
                         _logsumexp, check_k, conditional_logits, st_gumbel_backward)
from .functional import _same_shape, _value, check_tau, sample_gumbel
# values reaching these rules were checked where they entered: the unchecked variants (no host sync)
from .functional import _gumbel_max as gumbel_max, _one_hot as one_hot, _softmax as softmax, _softmax_vjp as softmax_vjp

__all__ = ["GAPS", "gst_shift", "gst_backward", "decoupled_st_gumbel_backward", "decoupled_sample", "conditional_logits",
           "gumbel_rao_total_backward", "check_gap", "RECENT"]

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
# (tests/test_estimators_recent.py), unlike ST at τ = 1.
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


# ----------------------------------------------------------------------------- Gumbel-Rao, total derivative

# The conditional draws s(θ, h) (estimators.conditional_logits, Paulus et al. 2021), given argmax = i:
#   s_i = log Z + h_i,   s_j = −log(a_j + b) (j ≠ i),   a_j = e^{−h_j − θ_j},  b = e^{−h_i − log Z}.
# As functions of θ (h fixed), with ∂ log Z/∂θ_k = π_k and w_j = a_j/(a_j + b) = σ(h_i + log Z − h_j − θ_j):
#   ∂s_i/∂θ_k = π_k,   ∂s_j/∂θ_k = w_j δ_jk + (1 − w_j) π_k.
# Total derivative of the Gumbel-Rao average (1/k) Σ_m softmax(s_m/τ): with u_m = softmax_vjp(dd, y_m, τ)
# the upstream on s_m, the chain rule through the Jacobian above gives, per draw m,
#   dθ = u ⊙ w + π ⟨u, 1 − w⟩     (w_i := 0 for the sampled i, so its whole u_i goes through log Z),
# averaged over m. The "current" reading (gumbel_rao_backward) keeps only the I in ∂s/∂θ: dθ = u.
def gumbel_rao_total_backward(logits, d, dd, h, tau=1.0):
    """Gumbel-Rao with the gradient also flowing through the conditional draws s(θ, h) (h: (k, ..., K))."""
    logits, d, dd, h = as_arrays(("logits", logits), ("d", d), ("dd", dd), ("h", h))
    if tuple(h.shape[1:]) != tuple(logits.shape):
        raise ValueError(f"h has shape {tuple(h.shape)} but logits have shape {tuple(logits.shape)}; "
                         f"h must be (k,) + the logits' shape")
    _same_shape(d, logits, "d", "logits")
    _same_shape(dd, logits, "dd", "logits")
    tau = check_tau(tau, logits.dtype)
    xp = namespace(logits, h)
    s = conditional_logits(logits, d, h)                                     # (k, ..., K)
    y = softmax(s, tau)
    u = softmax_vjp(xp.broadcast_to(dd, y.shape), y, tau)                    # (k, ..., K) upstream on s
    log_z = _logsumexp(xp, logits)
    h_i = xp.sum(d * h, axis=-1, keepdims=True)
    theta = xp.where(logits == -np.inf, 0.0, logits)
    w = (1.0 - d) * xp.exp(-xp.logaddexp(0.0, h + theta - h_i - log_z))     # σ(−x), x = h_j+θ_j−h_i−log Z
    grads = u * w + softmax(logits) * xp.sum(u * (1.0 - w), axis=-1, keepdims=True)
    return xp.mean(grads, axis=0)


# ----------------------------------------------------------------------------- registry entries

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


class _GumbelRaoTotal(Estimator):
    name, options, cite = "gumbel-rao-total", ("k",), "Paulus et al. 2021, gradient through the draws"

    def _sample(self, theta, rng, tau, k=10):
        d, _ = _hard_sample(theta, rng)
        h = sample_gumbel(rng, (check_k(k),) + tuple(theta.shape), theta.dtype)   # (k, ..., K)
        return Draw(z=d, d=d, logits=theta, tau=tau, g=h)

    def backward(self, draw, dd):
        return gumbel_rao_total_backward(draw.logits, draw.d, dd, draw.g, draw.tau)

    def relaxed(self, logits, draw):
        return namespace(logits).mean(softmax(conditional_logits(logits, draw.d, draw.g), draw.tau), axis=0)


RECENT = (_GST(1.0), _GST("p"), _Decoupled(), _GumbelRaoTotal())

ESTIMATORS.update({e.name: e for e in RECENT})
GRADCHECK_CASES.extend([_gradcheck_case(n) for n in ("gst-1.0", "gst-p", "decoupled")])
_case = _gradcheck_case("decoupled", tau_forward=0.6)         # τ_f ≠ τ_b = 1.5: a forward of its own
_case.__name__ += "_tau_forward"
GRADCHECK_CASES.append(_case)
GRADCHECK_CASES.extend([_gradcheck_case("gumbel-rao-total", k=4), _gradcheck_case("gumbel-rao-total", masked=True, k=4),
                        _gradcheck_case("gst-p", masked=True), _gradcheck_case("gst-1.0", masked=True)])
