"""An order: Gumbel-sort, NeuralSort, Sinkhorn and Gumbel-Sinkhorn, matching (+ their VJPs).

One noise, three readouts (DESIGN.md): the keys r = θ + g (g iid Gumbel) give a categorical
sample by argmax, k items by top-k and a whole Plackett-Luce permutation by argsort
(:func:`gumbel_sort`). Two relaxations of a permutation grew from the same idea:

- NeuralSort (Grover, Wang, Zweig & Ermon, ICLR 2019): a row-stochastic n×n matrix P̂(s, τ) whose
  row r is a softmax peaked on the item of rank r (decreasing order); NeuralSort(θ + g, τ) is its
  stochastic version (the relaxation of a Plackett-Luce sample).
- Gumbel-Sinkhorn (Mena, Belanger, Linderman & Snoek, ICLR 2018): Sinkhorn's alternating row and
  column normalisation of exp(X/τ), computed in log space, X = log α + g with n×n Gumbel noise;
  its τ → 0 limit is the permutation of the matching, argmax_π Σ_i X[i, π(i)] (:func:`matching`).

Conventions. An *order* o (..., n) lists items by position: o[r] is the item ranked r (decreasing
keys). NeuralSort's P̂ is (position, item): P̂[r, i] ≈ [o[r] = i], so P̂ @ x ≈ x sorted in
decreasing order and ``one_hot(o, n)`` is its hard twin. Sinkhorn's log α is (item, position), as
in Mena et al.: row i holds item i's scores for the positions, and ``matching`` returns, per row
(item), its column (position). Shapes (…, n) and (…, n, n) broadcast over leading axes.

Each public function converts and checks its input where it enters (one device→host transfer on
CuPy) and calls a private unchecked variant (``_neuralsort``, ``_sinkhorn`` …) used on the hot path.
"""
from __future__ import annotations

import numbers

import numpy as np

from ._inputs import _value, check_tau, enter
from .backend import namespace, to_numpy
from .functional import _softmax

__all__ = ["gumbel_sort", "neuralsort", "neuralsort_vjp", "sinkhorn", "sinkhorn_vjp", "gumbel_sinkhorn",
           "gumbel_sinkhorn_vjp", "matching", "require_matching", "sinkhorn_backward_bytes", "MATCHING_EXTRA", "GRADCHECK_CASES"]

MATCHING_EXTRA = "matching"      # pip install 'minigumbel[matching]' (SciPy's linear_sum_assignment)


# ----------------------------------------------------------------------------- Gumbel-sort

def gumbel_sort(logits, g, axis=-1):
    """The order of decreasing keys r = θ + g along ``axis``: o[..., r] is the item at position r.

    With g iid standard Gumbel this is an exact sample of the Plackett-Luce distribution
    PL(softmax θ) over permutations (Yellott 1977; Grover et al. 2019, Prop. 5): item i first with
    probability π_i, then the next among the rest with probability proportional to π, and so on.
    Masked items (θ = −inf) are never ranked before an unmasked one: they fill the last positions
    in increasing index order. Integer array of the broadcast shape of θ and g.
    """
    (logits, g), _, axis = enter([("logits", logits, "logits"), ("g", g, "noise")], axis=axis)
    return _gumbel_sort(logits, g, axis)


def _gumbel_sort(logits, g, axis=-1):
    xp = namespace(logits, g)
    neg = -(_value(logits) + _value(g))            # a masked item's key −inf becomes +inf: last
    if xp is np:
        return np.argsort(neg, axis=axis, kind="stable")
    return xp.argsort(neg, axis=axis)              # CuPy's sort is stable (its only kind)


# ----------------------------------------------------------------------------- NeuralSort

def _position_weights(xp, n, dtype):
    """c_r = n + 1 − 2r for the positions r = 1..n, shape (n,)."""
    return (n + 1 - 2 * xp.arange(1, n + 1)).astype(dtype)


def neuralsort(s, tau=1.0, axis=-1):
    """NeuralSort's relaxed sort P̂ (Grover et al. 2019, eq. 5), shape (…, n, n) (position, item):

        P̂[r, :] = softmax(((n + 1 − 2r) s − A_s 1) / τ),   (A_s 1)_i = Σ_j |s_i − s_j|,  r = 1..n.

    Row-stochastic; its row-wise argmax is exactly the order of decreasing s for every τ > 0 (ties
    aside) and P̂ tends to that permutation matrix as τ → 0. ``s`` (…, n) along ``axis`` (moved to
    the last axis; the leading axes of P̂ are the others), finite. τ a finite number > 0 or an
    array broadcasting against P̂. Stochastic NeuralSort is ``neuralsort(s + g, τ)``.
    """
    s, tau, axis = _enter_scores(s, tau, axis)
    return _neuralsort(namespace(s).moveaxis(s, axis, -1) if axis != -1 else s, tau)


def _enter_scores(s, tau, axis, dP=None):
    named = [("s", s, "noise")]
    (s,), _, axis = enter(named, axis=axis)
    tau = check_tau(tau, _value(s).dtype, xp=namespace(s))
    return s, tau, axis


def _neuralsort_logits(s, tau):
    """z[r, i] = (c_r s_i − B_i)/τ (…, n, n) and the pieces its VJP reuses."""
    xp = namespace(s, tau)
    n = s.shape[-1]
    diff = s[..., :, None] - s[..., None, :]                          # (…, n, n): s_i − s_j
    B = xp.sum(xp.abs(diff), axis=-1)                                 # (…, n): (A_s 1)_i
    c = _position_weights(xp, n, _value(s).dtype)                     # (n,)
    z = c[:, None] * s[..., None, :] - B[..., None, :]                # (…, n, n): (position, item)
    return z, diff, c


def _neuralsort(s, tau=1.0):
    z, _, _ = _neuralsort_logits(s, tau)
    return _softmax(z, tau, -1)


# P̂ = softmax_rows(z/τ), z[r, i] = c_r s_i − B_i, B_i = Σ_j |s_i − s_j|.  The softmax VJP gives
#   w[r, i] = P̂[r, i] (dP̂[r, i] − Σ_k dP̂[r, k] P̂[r, k]) / τ  (= ∂L/∂z), and U_i = Σ_r w[r, i];
#   ∂z[r, i]/∂s_k = c_r δ_ik − ∂B_i/∂s_k with ∂B_i/∂s_k = δ_ik Σ_j sgn(s_i − s_j) − sgn(s_i − s_k), so
#   ds_k = Σ_r c_r w[r, k] − U_k Σ_j sgn(s_k − s_j) + Σ_i U_i sgn(s_i − s_k)
#        = (cᵀ w)_k − Σ_j sgn(s_k − s_j) (U_k + U_j).
# |x|' at 0 is taken as 0 (ties; autograd does the same). O(n²) per list; no n×n×n Jacobian.
def neuralsort_vjp(dP, s, tau=1.0, axis=-1):
    """∂L/∂s for P̂ = neuralsort(s, τ, axis), given dP = ∂L/∂P̂ (…, n, n); the shape of ``s``.

    Guarantee: finite for finite dP and s; recomputes P̂ (O(n²) memory per list).
    """
    s, tau, axis = _enter_scores(s, tau, axis)
    xp = namespace(s)
    (dP,), _, _ = enter([("dP", dP, "finite")])
    moved = xp.moveaxis(s, axis, -1) if axis != -1 else s
    if _value(dP).shape[-2:] != (moved.shape[-1],) * 2:
        raise ValueError(f"dP has shape {tuple(_value(dP).shape)} but P̂ has shape "
                         f"{tuple(moved.shape) + (moved.shape[-1],)}")
    ds = _neuralsort_vjp(dP, moved, tau)
    return xp.moveaxis(ds, -1, axis) if axis != -1 else ds


def _neuralsort_fwd(s, tau=1.0):
    """(P̂, cache): the forward keeping what :func:`_neuralsort_bwd` needs (no recomputation).
    NumPy arrays without tied scores take :func:`_neuralsort_fwd_sorted` (O(n log n) for A_s 1)."""
    if namespace(s) is np and _value(s) is s and isinstance(tau, float):
        order = np.argsort(s, axis=-1)
        u = np.take_along_axis(s, order, axis=-1)                     # (…, n) ascending
        if not np.any(u[..., 1:] == u[..., :-1]):                     # ties: the O(n²) rule below
            return _neuralsort_fwd_sorted(s, tau, order, u)
    z, diff, c = _neuralsort_logits(s, tau)
    P = _softmax(z, tau, -1)
    return P, (P, diff, c, tau)


# With s sorted ascending, u_0 < … < u_{n−1}, and S_k = Σ_{j<k} u_j, T = Σ_j u_j:
#   B at rank k = Σ_{j<k} (u_k − u_j) + Σ_{j>k} (u_j − u_k) = (2k − n + 1) u_k + T − S_k − S_{k+1},
# and Σ_j sgn(s_k − s_j) = 2k − n + 1: the same numbers as the n×n |s_i − s_j| without forming it.
def _neuralsort_fwd_sorted(s, tau, order, u):
    n = s.shape[-1]
    rank_w = (2 * np.arange(n) - n + 1).astype(s.dtype)             # (n,) 2k − n + 1
    S = np.cumsum(u, axis=-1) - u                                     # (…, n) S_k
    B = np.empty_like(s)
    np.put_along_axis(B, order, rank_w * u + u.sum(-1, keepdims=True) - S - (S + u), axis=-1)
    c = _position_weights(np, n, s.dtype)
    z = np.multiply(c[:, None], s[..., None, :])                      # (…, n, n)
    z -= B[..., None, :]
    if tau != 1.0:
        z /= tau
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z, (z, (order, rank_w), c, tau)


def _neuralsort_vjp(dP, s, tau=1.0):
    if _value(dP) is not dP:                    # dP traced by autograd: the O(n²) rule (the sorted
        z, diff, c = _neuralsort_logits(s, tau)  # one writes into NumPy arrays in place)
        return _neuralsort_bwd(dP, (_softmax(z, tau, -1), diff, c, tau))
    return _neuralsort_bwd(dP, _neuralsort_fwd(s, tau)[1])


def _neuralsort_bwd(dP, cache):
    P, diff, c, tau = cache
    if isinstance(diff, tuple):                 # from _neuralsort_fwd_sorted: no n×n sign matrix
        return _neuralsort_bwd_sorted(dP, P, diff, c, tau)
    xp = namespace(dP, P)
    w = P * (dP - xp.sum(dP * P, axis=-1, keepdims=True)) / tau       # (…, n, n) = ∂L/∂z
    U = xp.sum(w, axis=-2)                                            # (…, n)
    sg = xp.sign(diff)                                                # (…, n, n): sgn(s_k − s_j)
    return (xp.sum(c[:, None] * w, axis=-2) - U * xp.sum(sg, axis=-1)
            - xp.sum(sg * U[..., None, :], axis=-1))


# The same rule as _neuralsort_bwd, with the sums over sgn(s_k − s_j) taken in sorted order
# (V = U by rank, prefix sums Q_k = Σ_{j<k} V_j):  Σ_j sgn(s_k − s_j) = 2k − n + 1 and
#   Σ_j sgn(s_j − s_k) U_j = (Σ_j V_j − Q_{k+1}) − Q_k   at rank k;  ds = (cᵀw − U (2k − n + 1) + that).
# cᵀw and U = 1ᵀw come from one matrix product; 1/τ is applied to the (…, n) result.
def _neuralsort_bwd_sorted(dP, P, sorted_by, c, tau):
    order, rank_w = sorted_by
    w = dP - np.einsum("...ij,...ij->...i", dP, P)[..., None]         # (…, n, n)
    w *= P
    cw, U = np.moveaxis(np.stack([c, np.ones_like(c)]) @ w, -2, 0)   # (…, n) each
    V = np.take_along_axis(U, order, axis=-1)
    Q = np.cumsum(V, axis=-1) - V
    ds = np.empty_like(U)
    np.put_along_axis(ds, order, -V * rank_w + V.sum(-1, keepdims=True) - Q - (Q + V), axis=-1)
    ds += cw
    if tau != 1.0:
        ds /= tau
    return ds


# ----------------------------------------------------------------------------- Sinkhorn

def _check_iters(n_iters):
    if isinstance(n_iters, bool) or not isinstance(n_iters, numbers.Integral) or n_iters < 1:
        raise ValueError(f"n_iters (Sinkhorn rounds) must be an integer >= 1, got {n_iters!r}")
    return int(n_iters)


def _enter_square(log_alpha, name="log_alpha", extra=()):
    """Convert and check (…, n, n) finite matrices (with ``extra`` (name, value, kind) triples)."""
    arrays, _, _ = enter([(name, log_alpha, "noise"), *extra])
    la = _value(arrays[0])
    if la.ndim < 2 or la.shape[-1] != la.shape[-2]:
        raise ValueError(f"{name} must be square matrices (…, n, n), got shape {tuple(la.shape)}")
    return arrays


def _lse(xp, L, axis):
    """logsumexp over ``axis`` (keepdims), shifted by the (constant) max: no overflow."""
    m = xp.max(_value(L), axis=axis, keepdims=True)
    return m + xp.log(xp.sum(xp.exp(L - m), axis=axis, keepdims=True))


def sinkhorn(log_alpha, n_iters=20):
    """Sinkhorn's normalisation in log space (Sinkhorn 1964; Mena et al. 2018, eq. 2):
    ``n_iters`` rounds of L ← L − logsumexp over each row (rows sum to 1), then
    L ← L − logsumexp over each column (columns sum to 1); returns exp(L), shape (…, n, n).

    After the last half-step every column sums to 1 within round-off; the rows only approach 1 as
    the rounds go on (a truncated Sinkhorn is not exactly doubly stochastic: docs/orders.md
    measures how far). Finite for any finite log α (no exp-space overflow, e.g. at
    |log α| = 1e6 or log α = X/τ with τ = 1e-2). ``log_alpha`` finite (masks are not supported).
    """
    (log_alpha,) = _enter_square(log_alpha)
    return _sinkhorn(log_alpha, _check_iters(n_iters))[0]


def _sinkhorn(log_alpha, n_iters=20, keep=False):
    """(P, states): ``states`` holds exp of every half-step's output (for the VJP) when ``keep``."""
    xp = namespace(log_alpha)
    if _value(log_alpha) is log_alpha:          # plain arrays: the same steps, in place (faster)
        return _sinkhorn_inplace(xp, log_alpha, n_iters, keep)
    L, states = log_alpha, []                   # autograd traces this readable version
    for _ in range(n_iters):
        for axis in (-1, -2):                   # rows, then columns: each a log-softmax
            L = L - _lse(xp, L, axis)
            if keep:
                states.append(xp.exp(L))
    return (states[-1] if keep else xp.exp(L)), states


def _sinkhorn_inplace(xp, log_alpha, n_iters, keep):
    """:func:`_sinkhorn` on plain arrays: one exp per half-step, whose normalised value is the
    state the VJP keeps (exp(L − lse) = e / Σe), and no temporary (…, n, n) array but e."""
    L, states = log_alpha.copy(), []
    numpy = xp is np
    for _ in range(n_iters):
        for axis in (-1, -2):
            m = xp.max(L, axis=axis, keepdims=True)
            if numpy:                           # one new (…, n, n) array per half-step, exp in place
                e = np.subtract(L, m)
                np.exp(e, out=e)                # in (0, 1]
            else:
                e = xp.exp(L - m)
            s = xp.sum(e, axis=axis, keepdims=True)
            L -= m + xp.log(s)
            if keep:
                e /= s
                states.append(e)
    return (states[-1] if keep else xp.exp(L)), states


def sinkhorn_backward_bytes(n, n_iters=20, batch=1, dtype=np.float64) -> int:
    """Bytes the unrolled backward keeps: 2 n² entries per round per matrix (one per half-step)."""
    return 2 * n * n * int(n_iters) * int(batch) * np.dtype(dtype).itemsize


# Each half-step is a log-softmax, y = x − logsumexp_a(x) along axis a (rows: a = −1, columns:
# a = −2), whose VJP is dx = dy − exp(y) Σ_a dy (exp(y) = softmax(x) along a). The output is
# P = exp(L_2T), so dL_2T = dP ⊙ P; then, for k = 2T … 1 in reverse,
#   dL_{k−1} = dL_k − E_k ⊙ Σ_{a_k} dL_k,   E_k = exp(L_k) (the k-th half-step's output).
# dL_0 = ∂L/∂log α: the exact gradient of the unrolled computation (not of the fixed point).
# Memory: the 2T matrices E_k, 2 n² entries per round (sinkhorn_backward_bytes).
def sinkhorn_vjp(dP, log_alpha, n_iters=20):
    """∂L/∂log α for P = sinkhorn(log α, n_iters), given dP = ∂L/∂P (…, n, n): the exact gradient
    of the ``n_iters`` unrolled rounds (recomputed here, keeping 2·n_iters matrices)."""
    log_alpha, dP = _enter_square(log_alpha, extra=[("dP", dP, "finite")])
    n_iters = _check_iters(n_iters)
    if _value(dP).shape[-2:] != _value(log_alpha).shape[-2:]:
        raise ValueError(f"dP has shape {tuple(_value(dP).shape)} but P has shape {tuple(_value(log_alpha).shape)}")
    _, states = _sinkhorn(log_alpha, n_iters, keep=True)
    return _sinkhorn_vjp(dP, states)


def _sinkhorn_vjp(dP, states):
    xp = namespace(dP, states[-1])
    dL = dP * states[-1]
    plain = _value(dL) is dL
    tmp = xp.empty_like(dL) if plain and xp is np else None
    for k in range(len(states) - 1, -1, -1):
        axis = -1 if k % 2 == 0 else -2        # states[0] is a row half-step, states[1] a column one
        if tmp is not None:                     # the same step in place, one scratch array
            dL -= np.multiply(states[k], np.sum(dL, axis=axis, keepdims=True), out=tmp)
        elif plain:
            dL -= xp.multiply(states[k], xp.sum(dL, axis=axis, keepdims=True))
        else:
            dL = dL - states[k] * xp.sum(dL, axis=axis, keepdims=True)
    return dL


def gumbel_sinkhorn(log_alpha, g, tau=1.0, n_iters=20):
    """The Gumbel-Sinkhorn relaxation of a permutation (Mena et al. 2018): sinkhorn((log α + g)/τ)
    with g of shape (…, n, n) (iid Gumbel: n² draws per matrix; log α broadcasts against it, e.g.
    (n, n) against (S, n, n)). Its τ → 0 limit (with enough rounds) is ``matching(log α + g)``."""
    (log_alpha, g) = _enter_square(log_alpha, extra=[("g", g, "noise")])
    tau = check_tau(tau, _value(log_alpha).dtype, xp=namespace(log_alpha))
    return _sinkhorn((log_alpha + g) / tau, _check_iters(n_iters))[0]


# X = (log α + g)/τ, so ∂X/∂log α = I/τ: d log α = sinkhorn_vjp(dP, X) / τ (and dg the same),
# in the broadcast shape of log α and g (sum_to_shape reduces it to log α's own shape).
def gumbel_sinkhorn_vjp(dP, log_alpha, g, tau=1.0, n_iters=20):
    """∂L/∂log α for P = gumbel_sinkhorn(log α, g, τ, n_iters), in the broadcast shape of log α
    and g: ``sum_to_shape(d, log_alpha.shape)`` for a broadcast log α."""
    (log_alpha, g, dP) = _enter_square(log_alpha, extra=[("g", g, "noise"), ("dP", dP, "finite")])
    tau = check_tau(tau, _value(log_alpha).dtype, xp=namespace(log_alpha))
    _, states = _sinkhorn((log_alpha + g) / tau, _check_iters(n_iters), keep=True)
    return _sinkhorn_vjp(dP, states) / tau


# ----------------------------------------------------------------------------- matching

def _linear_sum_assignment():
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError:
        raise ImportError(f"matching needs SciPy (scipy.optimize.linear_sum_assignment), which is not "
                          f"installed: pip install 'minigumbel[{MATCHING_EXTRA}]'") from None
    return linear_sum_assignment


def require_matching(what):
    """Raise ValueError (one line naming the extra) unless SciPy's assignment solver imports: the
    front-door check of whatever calls :func:`matching` later (``what`` names it)."""
    try:
        _linear_sum_assignment()
    except ImportError as exc:
        raise ValueError(f"{what} uses matching: {exc}") from None


def matching(log_alpha):
    """The permutation maximising Σ_i log α[i, π(i)] (the assignment problem, solved by SciPy's
    ``linear_sum_assignment``, Crouse 2016): an integer array (…, n), π[…, i] = the column (position)
    of row (item) i, on log α's backend (computed on the host: one transfer each way).
    ``one_hot(π, n)`` is the permutation matrix, the τ → 0 limit of Gumbel-Sinkhorn.
    Needs the optional extra ``matching`` (SciPy); ImportError naming it otherwise."""
    (log_alpha,) = _enter_square(log_alpha)
    return _matching(log_alpha)


def _matching(log_alpha):
    solve = _linear_sum_assignment()
    xp = namespace(log_alpha)
    la = to_numpy(_value(log_alpha))
    flat = la.reshape((-1,) + la.shape[-2:])
    out = np.empty(flat.shape[:2], dtype=np.int64)
    for b, m in enumerate(flat):
        rows, cols = solve(m, maximize=True)
        out[b, rows] = cols
    out = out.reshape(la.shape[:-1])
    return out if xp is np else xp.asarray(out)


# ----------------------------------------------------------------------------- gradient checks

def _gradcheck_cases():
    from .gradcheck import three_way
    rng = np.random.default_rng(7)
    s = rng.normal(size=(2, 5))
    la = rng.normal(size=(2, 4, 4))
    g = -np.log(-np.log(rng.uniform(size=la.shape)))
    out = []
    for tau in (0.3, 1.0, 3.0):
        out.append(three_way("neuralsort_vjp", lambda t, tau=tau: _neuralsort(t, tau),
                             lambda d, tau=tau: neuralsort_vjp(d, s, tau), s))
        out.append(three_way("gumbel_sinkhorn_vjp",
                             lambda t, tau=tau: _sinkhorn((t + g) / tau, 5)[0],
                             lambda d, tau=tau: gumbel_sinkhorn_vjp(d, la, g, tau, 5), la))
    out.append(three_way("sinkhorn_vjp", lambda t: _sinkhorn(t, 20)[0],
                         lambda d: sinkhorn_vjp(d, la, 20), la))
    return out


GRADCHECK_CASES = [_gradcheck_cases]
