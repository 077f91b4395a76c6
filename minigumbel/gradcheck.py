"""Three-way gradient checks: hand-derived VJP vs autograd vs central finite differences.

Used by the test suite and by ``minigumbel gradcheck``. In the spirit of early tinygrad: the
same checker must also *reject* a deliberately wrong rule (the tests do that negative control).

The checked quantity is the scalar L(x) = ⟨dout, f(x)⟩ for a fixed random upstream ``dout``; its
gradient is exactly the VJP of f at x with dout. All checks run in float64.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["GradCheck", "three_way", "assert_three_way", "finite_difference_vjp"]


@dataclass
class GradCheck:
    """Errors of one check (max over entries); ``ok`` when both are within tolerance."""
    name: str   # errors: max abs difference, and that over the reference's max |entry|
    abs_vs_autograd: float
    rel_vs_autograd: float
    abs_vs_fd: float
    rel_vs_fd: float
    ok: bool
    hand: np.ndarray
    autograd: np.ndarray
    fd: np.ndarray

    def __str__(self) -> str:
        return (f"{self.name}: vs autograd abs {self.abs_vs_autograd:.2e} rel {self.rel_vs_autograd:.2e}; "
                f"vs finite differences abs {self.abs_vs_fd:.2e} rel {self.rel_vs_fd:.2e}")


def finite_difference_vjp(f, x, dout, eps=1e-6):
    """Central differences of L(x) = ⟨dout, f(x)⟩, one coordinate at a time (O(eps²) error)."""
    x = np.array(x, dtype=np.float64)
    dx = np.zeros_like(x)
    used = dout != 0          # outputs with zero weight drop out (so 0 · (−inf) never enters L)
    flat, dflat = x.reshape(-1), dx.reshape(-1)
    for i in range(flat.size):
        if not np.isfinite(flat[i]):
            continue                       # a masked (-inf) entry is a constant: gradient 0
        old = flat[i]
        flat[i] = old + eps
        up = np.sum(dout[used] * np.asarray(f(x))[used])
        flat[i] = old - eps
        down = np.sum(dout[used] * np.asarray(f(x))[used])
        flat[i] = old
        dflat[i] = (up - down) / (2 * eps)
    return dx


def _autograd_vjp(f, x, dout):
    from autograd import grad
    import autograd.numpy as anp
    used = dout != 0
    with np.errstate(invalid="ignore"):   # 0 · (−inf) in the value; its gradient is unaffected
        return grad(lambda z: anp.sum(dout[used] * f(z)[used]))(np.array(x, dtype=np.float64))


def _errors(a, b):
    """(max |a − b|, max |a − b| / max |b|): the relative error is against the gradient's scale,
    since entry-wise relative errors of entries that are 0 up to round-off mean nothing."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    diff = float(np.abs(a - b).max(initial=0.0))
    scale = float(np.abs(b).max(initial=0.0))
    return diff, (diff / scale if scale > 0 else diff)


def three_way(name, f, vjp, x, dout=None, *, seed=0, eps=1e-6, atol_ad=1e-10, rtol_ad=1e-8,
              atol_fd=1e-6, rtol_fd=1e-5, autograd_mask=None, f_autograd=None):
    """Compare ``vjp(dout)`` (the hand rule) with autograd and finite differences of ``f`` at ``x``.

    ``f`` maps a float64 array to an array and must be written with ``namespace`` so autograd
    can trace it. ``vjp(dout)`` returns ∂⟨dout, f(x)⟩/∂x. An entry passes when it is within
    ``atol`` *or* ``rtol`` of the reference (relative error is unstable near 0, absolute error
    near large values). ``autograd_mask`` (bool, x's shape) restricts the autograd comparison,
    e.g. to unmasked logits where autograd's formal derivative of a −inf constant is not 0.
    ``f_autograd`` (default ``f``) is what autograd differentiates when it differs from what finite
    differences can see: for straight-through, autograd traces the hard sample (whose gradient is
    *defined* as the soft one) while finite differences perturb the soft path.
    """
    x = np.array(x, dtype=np.float64)
    out = np.asarray(f(x))
    if dout is None:
        dout = np.random.default_rng(seed).normal(size=out.shape)
    hand = np.asarray(vjp(dout), dtype=np.float64)
    if hand.shape != x.shape:
        raise AssertionError(f"{name}: hand gradient has shape {hand.shape}, input has {x.shape}")
    ag = np.asarray(_autograd_vjp(f_autograd or f, x, dout), dtype=np.float64)
    fd = finite_difference_vjp(f, x, dout, eps)
    sel = np.ones(x.shape, bool) if autograd_mask is None else np.asarray(autograd_mask, bool)
    a_abs, a_rel = _errors(hand[sel], ag[sel])
    f_abs, f_rel = _errors(hand, fd)
    ok_ad = np.all((np.abs(hand - ag) <= atol_ad) | (np.abs(hand - ag) <= rtol_ad * np.abs(ag))
                   | ~sel)
    ok_fd = np.all((np.abs(hand - fd) <= atol_fd) | (np.abs(hand - fd) <= rtol_fd * np.abs(fd)))
    finite = bool(np.all(np.isfinite(hand)))
    return GradCheck(name, a_abs, a_rel, f_abs, f_rel, bool(ok_ad and ok_fd and finite), hand, ag, fd)


def check_task_half(name, task, params, batch, half, score_prefixes):
    """Three-way check of one half of a task (float64): ``half="scores"``: the scorer's backward wrt
    the parameters named with ``score_prefixes``; ``"readout"``: the readout's backward wrt the
    parameters after the pointer ("dec.*") and the pointer itself, ``params["z"]``."""
    if half == "scores":
        keys = [k for k in sorted(params) if k.startswith(score_prefixes)]
        fwd, bwd = (lambda p: task.scores(p, batch)), task.scores_backward
    else:
        keys = [k for k in sorted(params) if k.startswith("dec.")] + ["z"]
        fwd = lambda p: task.readout(p, batch, p["z"])                      # noqa: E731

        def bwd(dlosses, cache):
            grads, dz = task.readout_backward(dlosses, cache)
            return {**grads, "z": dz}
    sizes = np.cumsum([params[k].size for k in keys])[:-1]

    def unflat(theta):                     # the flat vector of the checked arrays -> a params dict
        return {**params, **{k: a.reshape(params[k].shape) for k, a in zip(keys, np.split(theta, sizes))}}
    cache = fwd(params)[1]
    flat = np.concatenate([params[k].ravel() for k in keys])
    return three_way(name, lambda t: fwd(unflat(t))[0],
                     lambda d: np.concatenate([bwd(d, cache)[k].ravel() for k in keys]), flat)


def assert_three_way(name, f, vjp, x, dout=None, **kw) -> GradCheck:
    """:func:`three_way`, raising AssertionError (with both numbers) when the check fails."""
    r = three_way(name, f, vjp, x, dout, **kw)
    if not r.ok:
        i = np.unravel_index(np.argmax(np.abs(r.hand - r.fd) + np.abs(r.hand - r.autograd)), r.hand.shape)
        raise AssertionError(f"{r}\n  worst entry {i}: hand {r.hand[i]!r}, autograd {r.autograd[i]!r}, "
                             f"finite differences {r.fd[i]!r}")
    return r


# ----------------------------------------------------------------------------- the library's rules

def _functional_cases():
    """One check per (rule, τ, axis, hard) for every backward rule in minigumbel.functional."""
    from . import functional as F

    rng = np.random.default_rng(0)
    theta = rng.normal(size=(3, 5))                       # (rows, K) on axis -1; (K, rows) on axis 0
    g = F.sample_gumbel(rng, theta.shape)
    y_in = F.softmax(rng.normal(scale=0.5, size=theta.shape), 1.0, -1)   # interior simplex points
    cases = []
    for tau in (0.1, 0.5, 1.0, 5.0):
        for axis in (-1, 0):
            y_ax = F.softmax(np.log(y_in), 1.0, axis)
            cases += [
                ("softmax_vjp", lambda t, tau=tau, axis=axis: F.softmax(t, tau, axis),
                 lambda d, tau=tau, axis=axis: F.softmax_vjp(d, F.softmax(theta, tau, axis), tau, axis), theta),
                ("log_softmax_vjp", lambda t, tau=tau, axis=axis: F.log_softmax(t, tau, axis),
                 lambda d, tau=tau, axis=axis: F.log_softmax_vjp(d, F.log_softmax(theta, tau, axis), tau, axis), theta),
            ]
            for hard in (False, True):
                cases.append((
                    "gumbel_softmax_vjp" + (" (hard, straight-through)" if hard else ""),
                    lambda t, tau=tau, axis=axis: F.softmax(t + g, tau, axis),   # the soft path ST differentiates
                    lambda d, tau=tau, axis=axis, hard=hard: F.gumbel_softmax_vjp(
                        d, F.gumbel_softmax(theta, g, tau, hard, axis, return_soft=True)[1], tau, axis),
                    theta,
                    # autograd traces gumbel_softmax itself: for hard=True, its straight-through primitive
                    {"f_autograd": lambda t, tau=tau, axis=axis, hard=hard: F.gumbel_softmax(t, g, tau, hard, axis)}))
            cases += [
                ("concrete_log_prob_vjp (wrt logits)",
                 lambda t, tau=tau, axis=axis, y=y_ax: F.concrete_log_prob(y, t, tau, axis),
                 lambda d, tau=tau, axis=axis, y=y_ax: F.concrete_log_prob_vjp(d, y, theta, tau, axis)[1], theta),
                ("concrete_log_prob_vjp (wrt y)",
                 lambda yy, tau=tau, axis=axis: F.concrete_log_prob(yy, theta, tau, axis),
                 lambda d, tau=tau, axis=axis, y=y_ax: F.concrete_log_prob_vjp(d, y, theta, tau, axis)[0], y_ax),
            ]
    return cases + _broadcast_cases(F, rng)


def _broadcast_cases(F, rng):
    """Broadcast θ — (K,), (1, K), (B, 1, K) against noise (B, N, K) — reduced by sum_to_shape."""
    g = F.sample_gumbel(rng, (2, 3, 5))                                       # (B, N, K)
    y = F.softmax(rng.normal(scale=0.5, size=g.shape), 1.0)                   # interior points
    cases = []
    for shape in ((5,), (1, 5), (2, 1, 5)):
        theta = rng.normal(size=shape)
        cases += [
            (f"sum_to_shape {shape} <- (2, 3, 5)", lambda t: t + np.zeros(g.shape),
             lambda d, shape=shape: F.sum_to_shape(d, shape), theta),
            (f"gumbel_softmax_vjp, θ {shape} broadcast", lambda t: F.gumbel_softmax(t, g, 0.5),
             lambda d, theta=theta: F.sum_to_shape(F.gumbel_softmax_vjp(d, F.gumbel_softmax(theta, g, 0.5), 0.5),
                                                   theta.shape), theta),
            (f"concrete_log_prob_vjp (wrt logits), θ {shape} broadcast", lambda t: F.concrete_log_prob(y, t, 0.5),
             lambda d, theta=theta: F.sum_to_shape(F.concrete_log_prob_vjp(d, y, theta, 0.5)[1], theta.shape),
             theta),
        ]
    return cases


def run_functional_checks():
    """Every functional backward rule: a list of GradCheck (several τ and both axes per rule)."""
    return [three_way(name, f, vjp, x, **(kw[0] if kw else {})) for name, f, vjp, x, *kw in _functional_cases()]


GRADCHECK_CASES = [run_functional_checks]
