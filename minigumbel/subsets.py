"""Choosing k items: Gumbel-top-k, Plackett-Luce log-probabilities, the relaxed top-k (+ VJPs).

One noise, three readouts. The keys r = θ + g (g iid standard Gumbel) give a categorical sample
by argmax (functional.gumbel_max), **k items without replacement, in Plackett-Luce order, by
top-k** (here), and a whole Plackett-Luce permutation by argsort (k = K here; permutations).

Plackett-Luce with weights p = softmax θ picks o_1 with probability p_{o_1}, then o_2 among the
rest with probability p_{o_2} / (1 − p_{o_1}), and so on:

    P(o_1..o_k) = Π_i p_{o_i} / (1 − Σ_{j<i} p_{o_j})
    log P       = Σ_i [θ_{o_i} − logsumexp(θ over the items not yet chosen)]

and the top k of the keys θ + g, in decreasing order, are distributed exactly so (Yellott 1977;
Vieira 2014; Kool, van Hoof & Welling 2019, "Stochastic Beams and Where to Find Them", Sec. 2).
The log-probability here is computed in log space only (a suffix log-cumsum-exp; never 1 − Σ p).

The relaxed top-k is Xie & Ermon (2019, "Reparameterizable Subset Sampling via Continuous
Relaxations", Sec. 3.2, IJCAI): k softmaxes of the keys, each masking softly what the previous
ones chose, summed.

Conventions as in functional: array_like input, NumPy broadcasting of logits against noise,
``axis=-1`` the items' axis (indices and orders carry their k along the same axis), ``-inf``
logits are masks (never chosen, zero gradient), float32/float64 kept. Each public function checks
its input where it enters and calls an unchecked ``_`` variant, the one internal callers use.
"""
from __future__ import annotations

import numbers

import numpy as np

from ._inputs import _value, as_arrays, broadcast_shapes, check_axis, check_values, enter, float_dtype
from .backend import namespace, to_numpy
from .functional import _log_softmax, _straight_through

__all__ = ["gumbel_topk", "k_hot", "plackett_luce_log_prob", "plackett_luce_log_prob_vjp",
           "relaxed_topk", "relaxed_topk_vjp"]


# ----------------------------------------------------------------------------- front-door checks

def _check_k(k, name="k") -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"{name} (the number of items to choose) must be an integer >= 1, got {k!r}")
    return int(k)


def _check_enough_unmasked(logits, k, axis):
    """k ≤ the number of unmasked entries in every row (one device→host transfer)."""
    raw = _value(logits)
    if raw.size == 0:                                                   # no rows: only k ≤ n to check
        if k > raw.shape[axis]:
            raise ValueError(f"k = {k} is larger than the number of items ({raw.shape[axis]}) along axis {axis}")
        return
    xp = namespace(raw)
    fewest = int(to_numpy(xp.min(xp.sum(raw != -xp.inf, axis=axis))))
    if k > fewest:
        raise ValueError(f"k = {k} is larger than the number of unmasked items in a row of logits "
                         f"({fewest}): k items without replacement need at least k finite logits")


def _check_order(order, n, axis, name="order"):
    """Integer indices in [0, n), distinct along ``axis`` (one device→host transfer)."""
    raw = _value(order)
    xp = namespace(raw)
    o = xp.moveaxis(raw, axis, -1)
    srt = xp.sort(o, axis=-1)
    bad = xp.stack([xp.any((o < 0) | (o >= n)), xp.any(srt[..., 1:] == srt[..., :-1])])
    out_of_range, repeated = (bool(b) for b in to_numpy(bad))
    if out_of_range:
        raise ValueError(f"{name} must hold item indices in [0, {n}), got min {int(raw.min())}, max {int(raw.max())}")
    if repeated:
        raise ValueError(f"{name} repeats an item in a row: an order without replacement names each item at most once")


# ----------------------------------------------------------------------------- Gumbel-top-k

def gumbel_topk(logits, g, k, axis=-1):
    """The indices of the k largest keys θ + g, in decreasing order of key, along ``axis``
    (θ and g broadcast; the k indices replace the items' axis).

    For g iid standard Gumbel this is an exact ordered sample of k items without replacement from
    softmax θ: the first k entries of a Plackett-Luce permutation (Kool et al. 2019, Sec. 2).
    Masked (−inf) items are never chosen; ties (probability 0) go to the lower index.
    k larger than the number of unmasked items in a row is a ValueError.
    """
    (logits, g), _, axis = enter([("logits", logits, "logits"), ("g", g, "noise")], axis=axis)
    k = _check_k(k)
    n = broadcast_shapes(("logits", _value(logits).shape), ("g", _value(g).shape))[axis]
    if k > n:
        raise ValueError(f"k = {k} is larger than the number of items ({n}) along axis {axis}")
    _check_enough_unmasked(logits + 0.0 * _value(g), k, axis)       # θ may broadcast along the items' axis
    return _gumbel_topk(logits, g, k, axis)


def _gumbel_topk(logits, g, k, axis=-1):
    xp = namespace(logits, g)
    neg = -xp.moveaxis(_value(logits) + _value(g), axis, -1)        # (..., n); a masked key: +inf, last
    # a stable sort: equal keys keep their index order (argpartition would not)
    idx = (np.argsort(neg, axis=-1, kind="stable") if isinstance(neg, np.ndarray)
           else xp.argsort(neg, axis=-1))                           # CuPy's sort is stable (its only kind)
    return xp.moveaxis(idx[..., :k], -1, axis)


def k_hot(indices, n, dtype=np.float64, axis=-1):
    """The {0, 1} vector of the chosen items: out[..., i] = 1 where i is among ``indices`` along
    ``axis`` (length k; the output has length n there). Indices in [0, n); exact 0 and 1."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n (the number of items) must be an integer >= 1, got {n!r}")
    (indices,) = as_arrays(("indices", indices), integer=("indices",))
    dtype = float_dtype(dtype)
    axis = check_axis(_value(indices).shape, axis, "indices")
    raw = _value(indices)
    if bool(to_numpy(namespace(raw).any((raw < 0) | (raw >= n)))):      # one device→host transfer
        raise ValueError(f"indices must lie in [0, {n}), got min {int(raw.min())}, max {int(raw.max())}")
    return _k_hot(indices, int(n), dtype, axis)


def _k_hot(indices, n, dtype=np.float64, axis=-1):
    xp = namespace(indices)
    idx = xp.moveaxis(_value(indices), axis, -1)                                  # (..., k)
    hit = idx[..., :, None] == xp.arange(n).reshape((1,) * idx.ndim + (n,))      # (..., k, n)
    return xp.moveaxis(xp.any(hit, axis=-2).astype(dtype), -1, axis)


# ----------------------------------------------------------------------------- Plackett-Luce

def _pl_terms(logits, order):
    """Shared forward pieces, items on the last axis. Returns (E, chosen, θ_o, s):
    E (..., k, n) bool, E[m, j] = (o_m == j); chosen (..., n); θ_o (..., k) the chosen logits in
    order; s (..., k) with s_i = logsumexp(θ over the items still available at step i)."""
    xp = namespace(logits)
    n, k = _value(logits).shape[-1], _value(order).shape[-1]
    E = _value(order)[..., :, None] == xp.arange(n).reshape((1,) * _value(order).ndim + (n,))
    chosen = xp.any(E, axis=-2)
    wide = xp.expand_dims(logits, -2) + xp.zeros(E.shape, dtype=_value(logits).dtype)   # (..., k, n): autograd's where
    th_o = xp.sum(xp.where(E, wide, 0.0), axis=-1)                   # does not unbroadcast; (..., k)
    # the items never chosen: their logsumexp starts the suffix (−inf when none is left)
    rest = xp.where(chosen, -xp.inf, logits)
    m = xp.max(_value(rest), axis=-1, keepdims=True)
    m = xp.where(m == -xp.inf, 0.0, m)
    with np.errstate(divide="ignore"):
        tail = m[..., 0] + xp.log(xp.sum(xp.exp(rest - m), axis=-1))          # (...,)
    # suffix log-cumsum-exp over the chosen, from the last to the first: s_i = log(e^{s_{i+1}} + e^{θ_{o_i}})
    s = [None] * k
    acc = tail
    for i in range(k - 1, -1, -1):
        acc = xp.logaddexp(acc, th_o[..., i])
        s[i] = acc
    return E, chosen, th_o, xp.stack(s, axis=-1)


def plackett_luce_log_prob(logits, order, axis=-1):
    """log P(order) under Plackett-Luce with weights softmax θ, for an ordered prefix of any
    length k ≤ n along ``axis`` (k = n: a whole permutation):

        log P = Σ_i [θ_{o_i} − logsumexp(θ over the items not yet chosen)],

    computed in log space (a suffix log-cumsum-exp; never 1 − Σ p). θ and order broadcast over
    their leading axes; the result has the broadcast shape without ``axis``. −inf when the order
    names a masked item (probability 0); finite otherwise. ``order`` must hold distinct indices
    in [0, n) along the axis (ValueError otherwise).
    """
    (logits,), _, axis = enter([("logits", logits, "logits")], axis=axis)
    (order,) = as_arrays(("order", order), integer=("order",))
    logits, order = _pl_align(logits, order, axis)
    _check_order(order, _value(logits).shape[-1], -1)
    return _plackett_luce_log_prob(logits, order)


def _pl_align(logits, order, axis):
    """Items on the last axis; leading axes of θ and order broadcast (ValueError naming both)."""
    xp = namespace(logits, order)
    ov = _value(order)
    if ov.ndim == 0:
        raise ValueError("order is a scalar: it needs an axis of item indices, e.g. shape (k,) or (m, k)")
    ax_o = axis if ov.ndim >= -axis else -1
    logits, order = xp.moveaxis(logits, axis, -1), xp.moveaxis(order, ax_o, -1)
    n, k = _value(logits).shape[-1], _value(order).shape[-1]
    if k == 0:
        raise ValueError("order has 0 items along its axis: a prefix names at least one item")
    if k > n:
        raise ValueError(f"order has {k} items along its axis but logits have only {n}")
    lead = broadcast_shapes(("logits (without the items' axis)", _value(logits).shape[:-1]),
                            ("order (without the items' axis)", _value(order).shape[:-1]))
    if _value(logits).shape[:-1] != lead:
        logits = logits + xp.zeros(lead + (n,), dtype=_value(logits).dtype)
    if _value(order).shape[:-1] != lead:
        order = xp.broadcast_to(order, lead + (k,))
    return logits, order


def _plackett_luce_log_prob(logits, order):
    xp = namespace(logits)
    _, _, th_o, s = _pl_terms(logits, order)
    return xp.sum(th_o - s, axis=-1)


# log P = Σ_i (θ_{o_i} − s_i), s_i = logsumexp over R_i, the items available at step i
# (R_0 ⊃ R_1 ⊃ …; an item never chosen lies in every R_i, o_m lies in R_0..R_m). So
#   ∂logP/∂θ_j = [j chosen] − Σ_{i: j ∈ R_i} exp(θ_j − s_i) = [j chosen] − exp(θ_j − s_{m(j)}) c_{m(j)},
#   m(j) = the step j was chosen at (k − 1 if never), c_m = Σ_{i≤m} exp(s_m − s_i) = 1 + c_{m−1} e^{s_m − s_{m−1}}:
# s decreases along i, so every exponent is ≤ 0 and c_m ∈ [1, m + 1] (no overflow, no 1 − Σp).
# Masked items have exp(−inf) = 0; a row with log P = −inf (a masked item chosen) gets 0.
def plackett_luce_log_prob_vjp(dlp, logits, order, axis=-1):
    """∂L/∂θ for lp = plackett_luce_log_prob(θ, order), given dlp = ∂L/∂lp (the reduced shape or
    anything broadcasting to it), in the broadcast shape of θ (items along ``axis``).

    Guarantees: finite, |∂L/∂θ_j| ≤ k·|dlp| per entry, exactly 0 on masked items and on rows whose
    order names a masked item (log P = −inf there).
    """
    (logits,), _, axis = enter([("logits", logits, "logits")], axis=axis)
    (order, dlp) = as_arrays(("order", order), ("dlp", dlp), integer=("order",))
    logits, order = _pl_align(logits, order, axis)
    _check_order(order, _value(logits).shape[-1], -1)
    check_values(None, (dlp, "dlp", "finite"))
    lead = _value(logits).shape[:-1]                                       # the shape of log P
    if broadcast_shapes(("dlp", _value(dlp).shape), ("log P", lead)) != lead:
        raise ValueError(f"dlp has shape {_value(dlp).shape}; it must broadcast to the shape of log P, {lead}")
    return namespace(logits).moveaxis(_plackett_luce_log_prob_vjp(dlp, logits, order), -1, axis)


def _plackett_luce_log_prob_vjp(dlp, logits, order):
    xp = namespace(logits, order)
    E, chosen, th_o, s = _pl_terms(logits, order)
    k = s.shape[-1]
    c = [xp.ones_like(s[..., 0])]
    for m in range(1, k):
        c.append(1.0 + c[-1] * xp.exp(s[..., m] - s[..., m - 1]))
    w = xp.log(xp.stack(c, axis=-1)) - s                                     # (..., k): log c_m − s_m
    W = xp.sum(xp.where(E, w[..., :, None], 0.0), axis=-2) + xp.where(chosen, 0.0, w[..., k - 1:k])
    d = chosen.astype(logits.dtype) - xp.exp(logits + W)                     # exp(−inf) = 0 on masks
    dead = xp.sum(th_o, axis=-1, keepdims=True) == -xp.inf                   # a masked item chosen
    return xp.where(dead, 0.0, xp.asarray(dlp)[..., None] * d)


# ----------------------------------------------------------------------------- relaxed top-k

def _log1m_softmax(logp, axis):
    """u = log(1 − a) for a = exp(logp), a softmax output, computed without cancellation:
    log1p(−a_i) for every entry but the row's largest (those have a_i ≤ 1/2), and for the largest
    log Σ_{l≠i} a_l = logsumexp of the others' logp (finite while another entry is unmasked).
    Returns (u, top) with ``top`` the bool mask of the largest entry (the first on ties)."""
    xp = namespace(logp)
    lv = _value(logp)
    n = lv.shape[axis]
    shape = [1] * lv.ndim
    shape[axis] = n
    top = xp.expand_dims(xp.argmax(lv, axis=axis), axis) == xp.arange(n).reshape(tuple(shape))
    others = xp.where(top, -xp.inf, logp)
    m = xp.max(_value(others), axis=axis, keepdims=True)
    u_top = m + xp.log(xp.sum(xp.exp(others - m), axis=axis, keepdims=True))
    u = xp.where(top, u_top, xp.log1p(-xp.exp(xp.where(top, -xp.inf, logp))))
    return u, top


def relaxed_topk(logits, g, k, tau=1.0, hard=False, axis=-1, return_soft=False):
    """The relaxed k-hot vector of Xie & Ermon (2019, Sec. 3.2), along ``axis``:

        r_1 = θ + g;  a_j = softmax(r_j / τ);  r_{j+1} = r_j + log(1 − a_j);  y = Σ_{j=1..k} a_j.

    Each step softly removes what the previous one chose. Σ_i y_i = k exactly; every a_j lies in
    [0, 1], but y_i itself can exceed 1 (n = 2, k = 2, τ = 1: y = (p + ½, ½ + 1 − p)). As τ → 0, y
    tends to the exact k-hot of the keys' top k (:func:`gumbel_topk`). log(1 − a) is computed
    without cancellation (see _log1m_softmax), so y is finite for every input in the domain
    (finite or −inf logits, |θ| ≤ 1e30, 1e-4 ≤ τ ≤ 1e4, k ≤ the number of unmasked items).

    ``hard=True``: the forward value is the exact k-hot of :func:`gumbel_topk` on the same keys —
    the top k of θ + g, **not** the top k of y, which can differ at low τ — and its gradient is
    defined as the soft one (straight-through); :func:`relaxed_topk_vjp` is the rule for both.
    ``return_soft=True`` returns ``(y, y_soft)``.
    """
    (logits, g), tau, axis = enter([("logits", logits, "logits"), ("g", g, "noise")], tau, axis)
    k = _check_k(k)
    _check_enough_unmasked(logits + 0.0 * _value(g), k, axis)
    return _relaxed_topk(logits, g, k, tau, hard, axis, return_soft)


def _relaxed_topk_steps(logits, g, k, tau, axis):
    """The forward, keeping what the backward needs: per step the log-softmax l_j and (j < k)
    u_j = log(1 − a_j) with the mask of the row's largest a_j."""
    xp = namespace(logits, g, tau)
    r = logits + g
    y, steps = 0.0, []
    for j in range(k):
        logp = _log_softmax(r, tau, axis)                   # l_j = log a_j
        a = xp.exp(logp)
        y = y + a
        if j < k - 1:
            u, top = _log1m_softmax(logp, axis)
            r = r + u                                        # r_{j+1} = r_j + log(1 − a_j)
            steps.append((logp, a, u, top))
        else:
            steps.append((logp, a, None, None))
    return y, steps


def _relaxed_topk(logits, g, k, tau=1.0, hard=False, axis=-1, return_soft=False):
    y_soft, _ = _relaxed_topk_steps(logits, g, k, tau, axis)
    if not hard:
        return (y_soft, y_soft) if return_soft else y_soft
    idx = _gumbel_topk(logits, g, k, axis)
    y_hard = _k_hot(idx, _value(y_soft).shape[axis], _value(y_soft).dtype, axis)
    y = _straight_through(y_soft, y_hard)
    return (y, y_soft) if return_soft else y


# Backward, step j = k..1, carrying dr = ∂L/∂r_{j+1} (0 after the last step). r_{j+1} = r_j + u_j
# passes dr to r_j unchanged and to u_j; a_j gets dy. Through z = r_j/τ, a = softmax z, u = log(1 − a):
#   ∂a_i/∂z_m = a_i(δ_im − a_m),  ∂u_i/∂z_m = −a_i(δ_im − a_m)/(1 − a_i), so with du = dr and b = a/(1 − a):
#   dz_m = a_m(dy_m − ⟨dy, a⟩) + a_m Σ_{i≠m} du_i b_i − a_m du_m.
# b_i ≤ 1 except at the row's largest entry t; there a_m b_t = a_t e^{l_m − u_t} ≤ a_t (l = log a), so
#   dz_m = a_m(dy_m − ⟨dy, a⟩ + B − du_m − [m≠t] du_m b_m) + [m≠t] du_t a_t e^{l_m − u_t},  B = Σ_{i≠t} du_i b_i.
# Then dr_j = dr + dz/τ, and dθ = dg = dr_1. Masked entries have a = 0 and l = −inf: exactly 0.
def relaxed_topk_vjp(dy, logits, g, k, tau=1.0, axis=-1):
    """∂L/∂θ for y = relaxed_topk(θ, g, k, τ, hard) (either value of ``hard``: straight-through),
    given dy = ∂L/∂y, in the broadcast shape of θ and g (``sum_to_shape`` for a broadcast θ).
    Recomputes the forward. Guarantee: finite for finite dy in the domain; exactly 0 on masks.
    """
    (dy, logits, g), tau, axis = enter([("dy", dy, "finite"), ("logits", logits, "logits"),
                                        ("g", g, "noise")], tau, axis)
    k = _check_k(k)
    _check_enough_unmasked(logits + 0.0 * _value(g), k, axis)
    return _relaxed_topk_vjp(dy, logits, g, k, tau, axis)


def _relaxed_topk_vjp(dy, logits, g, k, tau=1.0, axis=-1):
    xp = namespace(dy, logits, g, tau)
    _, steps = _relaxed_topk_steps(logits, g, k, tau, axis)
    dr = 0.0
    for logp, a, u, top in reversed(steps):
        dz = a * (dy - xp.sum(dy * a, axis=axis, keepdims=True))
        if u is not None:
            du = dr
            lo = xp.where(top, -xp.inf, logp)                               # l with t removed
            b = xp.exp(lo - u)                                              # a/(1 − a), 0 at t
            B = xp.sum(du * b, axis=axis, keepdims=True)
            du_t = xp.sum(xp.where(top, du, 0.0), axis=axis, keepdims=True)
            a_t = xp.sum(xp.where(top, a, 0.0), axis=axis, keepdims=True)
            u_t = xp.sum(xp.where(top, u, 0.0), axis=axis, keepdims=True)
            dz = dz + a * (B - du - du * b) + du_t * a_t * xp.exp(lo - u_t)
        dr = dr + dz / tau
    return dr + xp.zeros_like(dy) if isinstance(dr, float) else dr
