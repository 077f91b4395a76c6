"""Where input enters: array_like conversion and the checks of minigumbel's public functions.

Each public function converts its array arguments once (NumPy's array_like: lists, tuples,
scalars, 0-d arrays), on the backend the other arguments live on — a list given with CuPy arrays
becomes a CuPy array — and checks their values with ONE device→host transfer, then calls a
private, unchecked variant. Internal callers (a training step, an estimator's own draw) call the
unchecked variants directly, so validation costs nothing on the hot path.

dtype policy (README, "Numerical guarantees"): float32 and float64 are computed in that dtype;
integer and bool input becomes float64, as in NumPy's own functions; **float16 is refused
everywhere** with :func:`float16_error`; complex, string and object input is a TypeError.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .backend import namespace, to_numpy

BIG = 1e30          # |finite logit| bound of the documented domain (README, "The domain")
TAU_MIN, TAU_MAX = 1e-4, 1e4    # the temperatures of the documented domain; others are refused
_TAU_LOW = float(np.float32(TAU_MIN))   # the float32 nearest 1e-4 (just below it) counts as 1e-4
TAU_DOMAIN = "a finite number in [1e-4, 1e4]"


def _value(x):
    """The plain array behind an autograd box (a stop-gradient); ``x`` itself otherwise."""
    while hasattr(x, "_value") and type(x).__module__.startswith("autograd"):
        x = x._value
    return x


def _is_array(x) -> bool:
    """A NumPy/CuPy array or an autograd box (not a list, tuple, Python or NumPy scalar)."""
    return isinstance(x, np.ndarray) or type(x).__module__.startswith(("cupy", "autograd"))


def float16_error(name: str) -> ValueError:
    """The one error for float16, wherever it enters (arrays, dtype= arguments)."""
    return ValueError(
        f"{name} is float16, which minigumbel does not support: with 11 significant bits the row sums, "
        "the Gumbel noise's tail and the gradients lose the guarantees stated for float32/float64 "
        f"(README, 'Numerical guarantees'); pass float32 instead, e.g. {name}.astype(numpy.float32)")


def float_dtype(dtype, name: str = "dtype") -> np.dtype:
    """``dtype`` as a NumPy dtype, if it is float32 or float64 (float16: :func:`float16_error`)."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"{name} must be float32 or float64, got {dtype!r}") from None
    if dt == np.float16:
        raise float16_error(name)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"{name} must be float32 or float64, got {dt}")
    return dt


def _refuse_subclass(name, v) -> None:
    """Masked arrays and ``numpy.matrix`` are refused (TypeError): their operations change what the
    numbers mean (a masked entry is skipped by some reductions and not by others; a matrix stays
    2-D under every reduction), so results would depend on which NumPy function a rule happens to
    use. Other ndarray subclasses (``numpy.memmap``, ...) compute as plain arrays and are accepted."""
    if isinstance(v, np.matrix):
        raise TypeError(f"{name} is a numpy.matrix, which minigumbel does not accept (its reductions keep "
                        f"two dimensions); pass numpy.asarray({name})")
    if isinstance(v, np.ma.MaskedArray):
        raise TypeError(f"{name} is a masked array (numpy.ma), which minigumbel does not accept: fill its "
                        f"masked entries with the values they stand for, {name}.filled(value) (for logits, "
                        f"-numpy.inf gives a category probability 0), or pass {name}.data for the raw values")


def refuse_subclasses(*named) -> None:
    """:func:`_refuse_subclass` for ``(name, value)`` pairs: for entry points that take NumPy arrays
    without :func:`as_arrays` (minigumbel.fast)."""
    for name, v in named:
        if type(v) is not np.ndarray and isinstance(v, np.ndarray):
            _refuse_subclass(name, v)


def as_arrays(*named, integer=()):
    """Convert ``(name, value)`` pairs to arrays of one backend: the arrays' (a list goes where
    the arrays are; NumPy when there are none). Integer/bool become float64 except for the names
    in ``integer`` (which must hold integers). Autograd boxes pass through unchanged."""
    xp = namespace(*(v for _, v in named))    # lists, tuples and scalars do not vote
    out, weak = [], []
    for name, v in named:
        weak.append(isinstance(v, (int, float)))   # a Python number takes the arrays' dtype (NEP 50)
        if type(v) is not np.ndarray and isinstance(v, np.ndarray):
            _refuse_subclass(name, v)
        if not _is_array(v):
            try:
                v = xp.asarray(v)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{name} must be array_like of real numbers, got {type(v).__name__}: {exc}") from None
        dt = _value(v).dtype
        if name in integer:
            if dt.kind not in "iu":
                raise TypeError(f"{name} must hold integers, got dtype {dt}")
        elif dt == np.float16:
            raise float16_error(name)
        elif dt.kind in "biu":
            v = v.astype(np.float64)
        elif dt.kind != "f":
            raise TypeError(f"{name} must hold real numbers, got dtype {dt}")
        out.append(v)
    strong = [_value(v).dtype for v, w in zip(out, weak) if not w and _value(v).dtype.kind == "f"]
    if strong and any(weak):
        dt = np.result_type(*strong)
        out = [v.astype(dt) if w and _value(v).dtype.kind == "f" else v for v, w in zip(out, weak)]
    return out


def check_rng(rng):
    """The array module (numpy or cupy) of a random Generator *instance*; TypeError otherwise.

    One isinstance test: the class ``numpy.random.Generator`` itself, a ``RandomState``, a seed or
    ``None`` are refused here (the class reached NumPy's C code and crashed the interpreter)."""
    if isinstance(rng, np.random.Generator):
        return np
    if type(rng).__module__.startswith("cupy"):
        import cupy
        if isinstance(rng, cupy.random.Generator):
            return cupy
    what = f"the class {rng.__name__} itself" if isinstance(rng, type) else type(rng).__name__
    hint = ("; make an instance: numpy.random.default_rng(seed)" if rng is np.random.Generator
            or isinstance(rng, np.random.RandomState) or isinstance(rng, numbers.Integral) or rng is None else "")
    raise TypeError(f"rng must be a numpy.random.Generator or cupy.random.Generator instance, got {what}{hint}")


def check_tau(tau, dtype=None, name: str = "tau", xp=None, scan=True):
    """Validate a temperature and return it ready to broadcast (cast to ``dtype`` if an array).

    The domain is 1e-4 <= τ <= 1e4 (README, "The domain"): below it the parameters of a training
    run stop moving (θ/τ saturates the softmax; 1e-300 underflows its gradient), above it every
    sample is uniform (the float32 nearest 1e-4, just below it, counts as 1e-4). A Python/NumPy number must lie in it (returned as a Python float, so it
    never changes the logits' dtype; an integer too large for a float is refused, not an
    OverflowError); an array (or list, converted on ``xp``) must lie in it everywhere. Anything
    else is a ValueError naming ``name``. ``scan=False`` leaves an array's values to the caller
    (:func:`enter` checks them with the other arguments, in its one device→host transfer).
    """
    if isinstance(tau, numbers.Real) and not isinstance(tau, bool):
        try:
            t = float(tau)
        except OverflowError:                     # a Python int beyond float's range
            raise ValueError(f"{name} must be {TAU_DOMAIN}, got an integer of {tau.bit_length()} bits, "
                             "too large for a float") from None
        if not (math.isfinite(t) and _TAU_LOW <= t <= TAU_MAX):
            raise ValueError(f"{name} must be {TAU_DOMAIN}, got {tau!r}")
        # A plain Python float: a NumPy scalar such as np.float64(0.5) is not "weak" under NEP 50
        # and would turn float32 logits into float64 (tests/test_properties.py found it).
        return t
    if tau is None or isinstance(tau, (bool, str)):
        raise ValueError(f"{name} must be {TAU_DOMAIN}, got {tau!r}")
    if isinstance(tau, (list, tuple)):
        try:
            tau = (xp or np).asarray(tau, dtype=dtype or np.float64)
        except OverflowError:
            raise ValueError(f"{name} must be {TAU_DOMAIN} everywhere, got an integer too large for a float") from None
    t = _value(tau)
    if not hasattr(t, "dtype") or t.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be {TAU_DOMAIN} or an array of them, got {type(tau).__name__}")
    if t.size == 0:
        raise ValueError(f"{name} must be {TAU_DOMAIN}, got an empty array")
    if scan and bool(_SUMMARY["tau"](namespace(t), t, None)[0]):   # explicit host check
        raise ValueError(f"{name} must be {TAU_DOMAIN} everywhere, got values from {float(t.min())!r} "
                         f"to {float(t.max())!r}")
    if dtype is not None and t is tau and tau.dtype != dtype:
        tau = tau.astype(dtype)
    return tau


def broadcast_shapes(*named) -> tuple:
    """NumPy's broadcast shape of ``(name, shape)`` pairs; a ValueError naming every shape if none."""
    shapes = [tuple(s) for _, s in named]
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        pass
    listed = " and ".join(f"{n} has shape {s}" for n, s in zip((n for n, _ in named), shapes))
    raise ValueError(f"{listed}; they do not broadcast (NumPy's rule: trailing axes equal, or 1)")


def check_shape(shape):
    """A shape as a tuple of ints ≥ 0 (an int is a 1-D shape); ValueError naming it otherwise."""
    dims = (shape,) if isinstance(shape, numbers.Integral) else shape
    try:
        dims = tuple(dims)
    except TypeError:
        raise ValueError(f"shape must be an int or a tuple of ints, got {shape!r}") from None
    if not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 0 for n in dims):
        raise ValueError(f"shape must be an int or a tuple of ints >= 0, got {shape!r}")
    return tuple(int(n) for n in dims)


def check_axis(shape, axis, name: str = "logits") -> int:
    """``axis`` as a negative index into ``shape``; ValueError for a scalar, a bad axis or K = 0."""
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"axis must be an integer, got {axis!r}")
    nd = len(shape)
    if nd == 0:
        raise ValueError(f"{name} is a scalar: it needs an axis of categories, e.g. shape (K,) or (n, K)")
    if not -nd <= axis < nd:
        raise ValueError(f"axis {axis} is out of range for {name} of shape {tuple(shape)}")
    axis = int(axis) - nd if axis >= 0 else int(axis)
    if shape[axis] == 0:
        raise ValueError(f"{name} has shape {tuple(shape)}: K = 0 categories along axis {axis}; "
                         "at least one category is needed")
    return axis


# What each kind of argument may not hold: (test, message) pairs. A test maps the plain array
# (and its axis) to a bool mask; the message gets the argument's name and the row.
_NAN = (lambda xp, a, ax: xp.isnan(a), "{name} contains NaN in {row}")
_POSINF = (lambda xp, a, ax: a == xp.inf,
           "{name} has +inf in {row}: an infinite logit cannot make a category certain here; use "
           "finite logits (|θ| <= 1e30), and -inf to mask a category (probability exactly 0)")
_INF = (lambda xp, a, ax: xp.isinf(a), "{name} must be finite, but {row} contains an infinity")
_BIG = (lambda xp, a, ax: xp.isfinite(a) & (xp.abs(a) > BIG),
        "{name} has an entry with |value| > 1e30 in {row}, outside the domain where the guarantees "
        "hold (README, 'The domain'): rescale it")
_MASKED = (lambda xp, a, ax: xp.all(a == -xp.inf, axis=ax, keepdims=True) if ax is not None else a == -xp.inf,
           "{name}: {row} has every entry -inf (all categories masked); at least one category needs "
           "a finite logit")
_NEG = (lambda xp, a, ax: a < 0, "{name} has a negative entry in {row}; probabilities must be >= 0")
_ZERO_ROW = (lambda xp, a, ax: xp.all(a == 0, axis=ax, keepdims=True),
             "{name}: {row} is all 0 (every category masked); at least one category needs mass")
_LOGP_POSINF = (lambda xp, a, ax: a == xp.inf, "{name} has +inf in {row}; log-probabilities are <= 0")

KINDS = {
    "logits": (_NAN, _POSINF, _BIG, _MASKED),     # finite or -inf (the mask); not a whole row -inf
    "noise": (_NAN, _INF, _BIG),                  # Gumbel noise g: finite
    "finite": (_NAN, _INF),                       # upstream gradients, samples
    "logp": (_NAN, _LOGP_POSINF, _MASKED),        # log-probabilities: -inf allowed (masked)
    "probs": (_NAN, _INF, _NEG, _ZERO_ROW),       # probabilities: >= 0, 0 masks; not a whole row 0
    "tau": ((lambda xp, a, ax: ~((a >= _TAU_LOW) & (a <= TAU_MAX)),      # NaN fails both
             "{name} must be " + TAU_DOMAIN + " everywhere, but {row} is not"),),
}


def _rowmax(xp, a, ax):
    return xp.max(a, axis=ax, keepdims=True) if ax is not None else a


# A cheap summary per kind for device arrays: a few 0-d "something is wrong" flags, read back in one
# transfer (max propagates NaN; a row max of −inf is an all-masked row). Host arrays take
# _host_flag (one pass over memory when nothing is masked). Only when a flag is set are the tests
# above run, to name what and where.
_SUMMARY = {
    "logits": lambda xp, a, ax: (xp.any(~(xp.abs(_rowmax(xp, a, ax)) <= BIG)),          # NaN, ±inf, big max
                                 xp.count_nonzero(a < -BIG) != xp.count_nonzero(a == -xp.inf)),  # < −1e30
    "noise": lambda xp, a, ax: (~(xp.max(a) <= BIG), ~(xp.min(a) >= -BIG)),
    "finite": lambda xp, a, ax: (~(xp.max(a) < xp.inf), ~(xp.min(a) > -xp.inf)),
    "logp": lambda xp, a, ax: (xp.any(~(xp.abs(_rowmax(xp, a, ax)) < xp.inf)),),       # NaN, +inf, all −inf
    "probs": lambda xp, a, ax: (xp.any(~((_rowmax(xp, a, ax) > 0) & (_rowmax(xp, a, ax) < xp.inf))),
                                xp.min(a) < 0),
    "tau": lambda xp, a, ax: (~(xp.min(a) >= _TAU_LOW), ~(xp.max(a) <= TAU_MAX)),      # NaN fails them
}


_BLOCK_BYTES = 1 << 19     # 512 KiB: a block stays in a core's L2 cache between its max and its min


def _extremes(a):
    """(max, min) of a host array in ONE pass over memory, without full-size temporaries: the array
    is read in cache-sized blocks, each reduced twice while it is in cache. NaN propagates into both."""
    # ravel(order="K") is a view of any contiguous array, Fortran order included (reshape(-1) copies it)
    flat = a.ravel(order="K") if a.flags.c_contiguous or a.flags.f_contiguous else None
    if flat is None or flat.size * flat.itemsize <= _BLOCK_BYTES:
        return np.max(a), np.min(a)
    step = max(1, _BLOCK_BYTES // flat.itemsize)
    hi = lo = flat[0]
    for i in range(0, flat.size, step):
        blk = flat[i:i + step]
        hi = np.maximum(hi, np.maximum.reduce(blk))
        lo = np.minimum(lo, np.minimum.reduce(blk))
    return hi, lo


def _any_row_max(a, ax, test) -> bool:
    """``test(row max)`` for some row (a second pass, taken only when masked entries exist)."""
    return bool(test(np.max(a, axis=ax) if ax is not None else a).any())


def _finite_below(a, bound) -> bool:
    """Whether some finite entry is < ``bound`` (block by block: no full-size temporary)."""
    flat = a.ravel(order="K")       # (n,): a view when a is contiguous in either order, else a copy
    step = max(1, _BLOCK_BYTES // flat.itemsize)
    for i in range(0, flat.size, step):
        blk = flat[i:i + step]
        if ((blk < bound) & (blk > -np.inf)).any():
            return True
    return False


def _rows_flag(kind, a) -> bool:
    """:func:`_host_flag`'s row-level pass for a C-contiguous array reduced along its last axis (taken
    when masked entries exist): row blocks of cache size; per block the row maxima (NaN propagates)
    and, while the block is in cache, its minimum and (−inf present) its finite entries below −1e30."""
    k = a.shape[-1]
    rows = a.reshape(-1, k)                                              # (n, K), a view
    step = max(1, _BLOCK_BYTES // (k * a.itemsize))
    for i in range(0, rows.shape[0], step):
        blk = rows[i:i + step]                                           # (b, K)
        top = np.maximum.reduce(blk, axis=-1)                            # (b,) row maxima
        if kind == "logp":                                               # NaN, +inf, a row all −inf
            if not np.all((top < np.inf) & (top > -np.inf)):
                return True
            continue
        lo = np.minimum.reduce(blk, axis=None)
        if kind == "probs":                                              # NaN, inf, a row all 0, < 0
            if not (np.all((top > 0) & (top < np.inf)) and lo >= 0):
                return True
            continue
        if not np.all(np.abs(top) <= BIG):                               # NaN, +inf, big, a row all −inf
            return True
        if lo < -BIG and (lo > -np.inf or ((blk < -BIG) & (blk > -np.inf)).any()):   # finite < −1e30
            return True
    return False


def fused_checked(op, first, second, axis):
    """``op(a, b)`` (a NumPy ufunc) with the values of both arguments checked on the way; ``first``
    and ``second`` are ``(array, name, kind)``. For host arrays of one shape, C-contiguous, reduced
    along the last axis, the result is made in blocks of rows and each block of a and b is scanned
    while it is in cache (masked rows of logits included), so the check adds almost no memory
    traffic to the operation's own. Elsewhere: :func:`check_values`, then None (the caller
    computes). On a problem, :func:`check_values` names what and where."""
    (a0, _, ka), (b0, _, kb) = first, second
    a, b = _value(a0), _value(b0)
    if not (axis == -1 and type(a) is np.ndarray and type(b) is np.ndarray and a is a0 and b is b0
            and a.shape == b.shape and a.dtype == b.dtype and a.ndim >= 1 and a.size
            and a.flags.c_contiguous and b.flags.c_contiguous):
        check_values(axis, first, second)
        return None
    k = a.shape[-1]
    out = np.empty_like(a)
    ra, rb, ro = a.reshape(-1, k), b.reshape(-1, k), out.reshape(-1, k)      # (n, K) views
    step = max(1, (_BLOCK_BYTES // 2) // (k * a.itemsize))                    # a, b and the result in cache
    bad = False
    if op is np.multiply and ka == kb == "finite":
        # a ⊙ b is finite wherever a and b are (a ±inf or NaN in either makes a product ±inf or NaN,
        # 0·inf included), so one sum of the product tells; an overflow of finite values only sends
        # the arrays to check_values, which then finds nothing
        total = ra[0, 0] * 0
        for i in range(0, ra.shape[0], step):
            total = total + np.add.reduce(op(ra[i:i + step], rb[i:i + step], out=ro[i:i + step]), axis=None)
        if not np.isfinite(total):
            check_values(axis, first, second)
        return out
    ext = [[ra[0, 0], ra[0, 0]], [rb[0, 0], rb[0, 0]]]                       # (max, min) of a and of b
    for i in range(0, ra.shape[0], step):
        blocks = ra[i:i + step], rb[i:i + step]                               # (b, K) each
        op(*blocks, out=ro[i:i + step])
        for (hi_lo, blk, kind) in zip(ext, blocks, (ka, kb)):
            lo = np.minimum.reduce(blk, axis=None)
            hi_lo[0] = np.maximum(hi_lo[0], np.maximum.reduce(blk, axis=None))   # NaN propagates
            hi_lo[1] = np.minimum(hi_lo[1], lo)
            if kind == "logits" and not bad and lo < -BIG:                   # −inf masks, or an entry < −1e30
                bad = (lo > -np.inf or not np.all(np.maximum.reduce(blk, axis=-1) > -np.inf)
                       or bool(((blk < -BIG) & (blk > -np.inf)).any()))
    for (hi, lo), arr, kind in zip(ext, (a, b), (ka, kb)):
        if kind == "logits":
            bad = bad or not (hi <= BIG) or lo != lo
        else:
            bad = bad or _host_flag(kind, arr, axis, (hi, lo))
    if bad:
        check_values(axis, first, second)
    return out


def add_checked(logits, g, axis):
    """θ + g, θ (kind "logits") and g (kind "noise") checked on the way (:func:`fused_checked`)."""
    return fused_checked(np.add, (logits, "logits", "logits"), (g, "g", "noise"), axis)


def _host_flag(kind, a, ax, extremes=None) -> bool:
    """Whether a host array may break the rules of ``kind``: the :data:`_SUMMARY` test in one pass
    over memory for arrays without masked entries (−inf; 0 for probs), two with them (three when the
    array is not reduced along a contiguous last axis), with no full-size temporary. It may flag
    only what the checks of KINDS then name."""
    if kind == "tau":
        return bool(_SUMMARY[kind](np, a, ax)[0])
    hi, lo = extremes if extremes is not None else _extremes(a)
    masked = lo == 0 if kind == "probs" else lo == -np.inf      # row-level questions only then
    if masked and kind in ("logits", "logp", "probs") and ax == -1 and a.flags.c_contiguous and hi == hi:
        return _rows_flag(kind, a)                                # the second pass, one for all of them
    if kind == "noise":
        return not (hi <= BIG and lo >= -BIG)
    if kind == "finite":
        return not (hi < np.inf and lo > -np.inf)
    if kind == "logits":
        if not (hi <= BIG) or lo != lo:                          # NaN, +inf, a big entry
            return True
        if lo >= -BIG:
            return False
        if lo > -np.inf:                                         # a finite entry < −1e30
            return True
        return _any_row_max(a, ax, lambda m: m == -np.inf) or _finite_below(a, -BIG)
    if kind == "logp":
        if not (hi < np.inf) or lo != lo:
            return True
        return lo == -np.inf and _any_row_max(a, ax, lambda m: m == -np.inf)
    if kind == "probs":
        if not (hi < np.inf) or not (lo >= 0):
            return True
        return lo == 0 and _any_row_max(a, ax, lambda m: m == 0)
    raise AssertionError(kind)                                   # pragma: no cover


def _row(name, idx, ax):
    """'row logits[1, :]' for the entry ``idx`` of an array reduced along ``ax``."""
    if ax is None:
        return f"entry {name}[{', '.join(map(str, idx))}]" if idx else f"{name} (a scalar)"
    cells = [str(i) for i in idx]
    cells[ax] = ":"
    return f"row {name}[{', '.join(cells)}]"


def check_values(axis, *checks) -> None:
    """Check ``(array, name, kind[, own axis])`` (kinds in :data:`KINDS`) with ONE device→host
    transfer for all of them; on failure, a ValueError naming the argument and its first bad row."""
    items, flags = [], []                         # (raw, name, kind, axis of this array), summary flags
    for a, name, kind, *own in checks:
        raw = _value(a)
        if raw.size == 0:
            continue
        xp = namespace(raw)
        ax = axis if axis is not None and raw.ndim >= -axis else None   # a broadcast arg may lack it
        ax = own[0] if own else ax
        items.append((raw, name, kind, ax))
        if xp is np:                              # host arrays: no transfer to save; fewest passes
            flags.append((_host_flag(kind, raw, ax),))
        else:
            flags.append(_SUMMARY[kind](xp, raw, ax))
    if not items:
        return
    flags = [f for fs in flags for f in fs]
    xp = namespace(items[0][0])
    if xp is np:
        if not any(flags):
            return
    elif not to_numpy(xp.stack(flags)).any():     # the one device→host transfer
        return
    for raw, name, kind, ax in items:             # the error path: find what and where
        for test, message in KINDS[kind]:
            mask = to_numpy(test(namespace(raw), raw, ax))
            if mask.any():
                idx = tuple(int(i) for i in np.argwhere(mask)[0])
                raise ValueError(message.format(name=name, row=_row(name, idx, ax)))
    raise AssertionError("input summary flagged a problem that no check names")   # pragma: no cover


NO_TAU = object()     # enter(): the function takes no temperature


def enter(named, tau=NO_TAU, axis=-1, reduced=None, defer=()):
    """The front door of a function reducing over ``axis``: ``named`` is ``(name, value, kind)``
    triples (the values of those named in ``defer`` are left to the caller, e.g. :func:`add_checked`). Converts (:func:`as_arrays`), broadcasts the shapes with τ's (ValueError naming both
    shapes), checks the axis, K ≥ 1 and the values. Returns (arrays, τ, axis as a negative index).
    ``reduced`` = (name, value): an upstream gradient of the reduced shape (the broadcast shape
    without ``axis``, or anything broadcasting to it), converted, checked finite, appended."""
    extra = [reduced] if reduced is not None else []
    arrays = as_arrays(*((n, v) for n, v, _ in named), *extra)
    xp = namespace(*arrays)
    dtype = np.result_type(*(_value(a).dtype for a in arrays))
    if tau is not NO_TAU:
        tau = check_tau(tau, dtype, xp=xp, scan=False)
    shapes = [(n, _value(a).shape) for (n, _, _), a in zip(named, arrays)]
    if tau is not NO_TAU and not isinstance(tau, float):
        shapes.append(("tau", _value(tau).shape))
    main = next((n for n, _, k in named if k == "logits"), named[0][0])    # named in a K = 0 error
    ax = check_axis(broadcast_shapes(*shapes), axis, main)
    checks = [(a, n, k) for (n, _, k), a in zip(named, arrays)]
    if tau is not NO_TAU and not isinstance(tau, float):
        checks.append((tau, "tau", "tau"))
    if reduced is not None:
        full = broadcast_shapes(*shapes)
        batch = full[:len(full) + ax] + full[len(full) + ax + 1:]
        try:
            fits = np.broadcast_shapes(_value(arrays[-1]).shape, batch) == batch
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"{reduced[0]} has shape {tuple(_value(arrays[-1]).shape)}, which does not "
                             f"broadcast to the reduced shape {batch}")
        checks.append((arrays[-1], reduced[0], "finite", None))
    check_values(ax, *(c for c in checks if c[1] not in defer))     # ``defer``: the caller scans those
    return arrays, tau, ax
