"""The registry ``ESTIMATORS`` (name → estimator object), the sampling wrappers ``estimate`` /
``estimate_samples``, and the table of gradient checks. Imports run one way: the rule modules
know nothing of this file."""
from __future__ import annotations

import numbers

import numpy as np

from ..backend import namespace
from .._inputs import enter
from .base import Estimator
from .gumbel_rao import _GumbelRao, _GumbelRaoTotal
from .relaxed import _Gumbel, _Softmax
from .score_function import RunningMean, _Exact, _Reinforce, loo_baseline
from .straight_through import _GST, _ST, _Decoupled, _ReinMax, _STGumbel

__all__ = ["ESTIMATORS", "get_estimator", "estimate", "estimate_samples", "GRADCHECK_CASES"]

ESTIMATORS = {e.name: e for e in (_Exact(), _Reinforce(), _ST(), _STGumbel(), _GumbelRao(), _ReinMax(),
                                  _Softmax(), _Gumbel(), _GST(1.0), _GST("p"), _Decoupled(), _GumbelRaoTotal())}


def get_estimator(name) -> Estimator:
    if name not in ESTIMATORS:
        raise ValueError(f"unknown estimator {name!r}; choose one of {', '.join(ESTIMATORS)}")
    return ESTIMATORS[name]


def _call_f(f, z):
    value, dz = f(z)
    if tuple(value.shape) != tuple(z.shape[:-1]) or tuple(dz.shape) != tuple(z.shape):
        raise ValueError(f"f must return (value, dvalue_dz) of shapes {tuple(z.shape[:-1])} and "
                         f"{tuple(z.shape)}; got {tuple(value.shape)} and {tuple(dz.shape)}")
    return value, dz


def estimate_samples(name, logits, f, rng, tau=1.0, n=1, **options):
    """n independent estimates at once: (values (n, ...), grads (n, ..., K)). See :func:`estimate`."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n_samples must be an integer >= 1, got {n!r}")
    (logits,), _, _ = enter([("logits", logits, "logits")])    # the front door: values checked here
    est, xp = get_estimator(name), namespace(logits)
    baseline = options.pop("baseline", 0.0) if est.needs == "f" else 0.0
    if est.needs == "all":
        draw = est.sample(logits, rng, tau, **options)
        value, _ = _call_f(f, draw.z)                                   # (K, ...)
        f_values = xp.moveaxis(value, 0, -1)                            # (..., K)
        v = est.relaxed(logits, draw, f_values)                         # E_π[f] = Σ_k π_k F_k
        grad = est.backward(draw, f_values)
        return xp.broadcast_to(v, (n,) + v.shape), xp.broadcast_to(grad, (n,) + grad.shape)
    draw = est.sample(xp.broadcast_to(logits, (int(n),) + tuple(logits.shape)), rng, tau, **options)
    value, dz = _call_f(f, draw.z)                                      # (n, ...), (n, ..., K)
    if est.needs == "dd":
        return value, est.backward(draw, dz)
    if isinstance(baseline, RunningMean):
        b = baseline.value
        baseline.update(value)
    elif isinstance(baseline, str):
        if baseline not in ("none", "loo"):
            raise ValueError(f"baseline must be a number, 'none', 'loo' or a RunningMean, got {baseline!r}")
        b = loo_baseline(value) if baseline == "loo" else 0.0
    else:
        b = baseline
    return value, est.backward(draw, value, b)


def estimate(name, logits, f, rng, tau=1.0, n_samples=1, **options):
    """(value, grad): the mean of f and of the ``name`` gradient estimate over ``n_samples`` draws.

    ``f(z)`` takes points z (n, ..., K) and returns (value (n, ...), ∂value/∂z (n, ..., K)); for
    "exact", n = K and z holds the K one-hot vectors. ``grad`` has the logits' shape.
    """
    value, grads = estimate_samples(name, logits, f, rng, tau, n_samples, **options)
    xp = namespace(grads)
    return xp.mean(value, axis=0), xp.mean(grads, axis=0)


# ----------------------------------------------------------------------------- gradcheck table

def _gradcheck_case(name, tau=1.5, masked=False, **options):
    """A callable returning the three-way GradCheck of ``name``'s rule: hand ``backward`` vs the
    autograd and finite-difference VJPs of ``relaxed`` (the function the rule differentiates)."""
    def run():
        from ..gradcheck import three_way
        rng = np.random.default_rng(7)
        est = ESTIMATORS[name]
        theta = rng.normal(size=(3, 5))                                  # (B, K)
        if masked:
            theta[:, 1] = -np.inf                                       # a masked category
        draw = est.sample(theta, rng, tau, **options)
        extra = {"dd": (), "f": (rng.normal(size=3), 0.25), "all": (rng.normal(size=(3, 5)),)}[est.needs]
        if est.needs == "dd":
            vjp = lambda dout: est.backward(draw, dout)                    # noqa: E731
        else:   # a scalar per row: dout (B,) scales the rule
            vjp = lambda dout: dout[..., None] * est.backward(draw, *extra)  # noqa: E731
        label = f"estimators.{name}" + (" (masked)" if masked else "")
        return three_way(label, lambda t: est.relaxed(t, draw, *extra), vjp, theta,
                         autograd_mask=np.isfinite(theta))
    run.__name__ = f"gradcheck_{name.replace('-', '_')}" + ("_masked" if masked else "")
    return run


GRADCHECK_CASES = [_gradcheck_case(n) for n in ("exact", "reinforce", "st", "st-gumbel", "reinmax")]
GRADCHECK_CASES += [_gradcheck_case("gumbel-rao", k=4), _gradcheck_case("gumbel-rao", masked=True, k=4),
                    _gradcheck_case("reinmax", masked=True), _gradcheck_case("reinforce", masked=True)]
GRADCHECK_CASES += [_gradcheck_case(n) for n in ("gst-1.0", "gst-p", "decoupled")]
_case = _gradcheck_case("decoupled", tau_forward=0.6)         # τ_f ≠ τ_b = 1.5: a forward of its own
_case.__name__ += "_tau_forward"
GRADCHECK_CASES.append(_case)
GRADCHECK_CASES += [_gradcheck_case("gumbel-rao-total", k=4), _gradcheck_case("gumbel-rao-total", masked=True, k=4),
                    _gradcheck_case("gst-p", masked=True), _gradcheck_case("gst-1.0", masked=True)]
