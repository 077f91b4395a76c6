"""Bad input at the front door (issue 16): property tests over the kinds of input a user passes.

Every public function gets logits as a list, a tuple, a 0-d array, a Python scalar, an integer
array, float16, float32, float64 or a backend array, holding finite values, −inf masks, NaN,
+inf, |θ| > 1e30, all-masked rows or K = 0. The expected outcome is derived from the input alone
(``expected_error``): either the documented ValueError — whose message names the argument (and
the row), raised by minigumbel's own code, never by NumPy's internals — or a result meeting the
function's guarantee (finite, on the simplex, on the backend of the array arguments). Never a NaN
without an error. The float16 policy (refused everywhere, one error) is checked function by function.
"""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minigumbel import estimators as E
from minigumbel.backend import get_backend
from minigumbel import fast
from minigumbel import functional as F
from minigumbel.distributions import RelaxedOneHotCategorical
from minigumbel.nn import init_mlp
from minigumbel.tasks import make_task

KINDS = ("list", "tuple", "float64", "float32", "float16", "int", "device")
BAD = (-np.inf, np.nan, np.inf, 1e31, -1e31)
prop = settings(max_examples=settings.default.max_examples,          # 60 in the "ci" profile
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@st.composite
def user_logits(draw):
    """(values as float64 (host), kind, the object a user would pass)."""
    nd = draw(st.sampled_from([0, 1, 2, 2]))
    k, b = draw(st.integers(0, 5)), draw(st.integers(1, 3))
    shape = {0: (), 1: (k,), 2: (b, k)}[nd]
    n = int(np.prod(shape))
    clean = draw(st.booleans())
    entry = st.floats(-30, 30) if clean else st.one_of(st.floats(-30, 30), st.sampled_from(BAD))
    values = np.array(draw(st.lists(entry, min_size=n, max_size=n)), dtype=np.float64).reshape(shape)
    kind = draw(st.sampled_from(KINDS))
    if kind == "int" and not np.all(np.abs(values) <= 30):     # (also excludes NaN)
        kind = "float64"
    return values, kind


def as_user(values, kind, backend):
    if kind == "list":
        return values.tolist()
    if kind == "tuple":
        return tuple(map(tuple, values)) if values.ndim == 2 else tuple(values) if values.ndim else float(values)
    if kind == "int":
        return np.round(values).astype(np.int64)
    if kind == "device":
        return backend.asarray(values)
    with np.errstate(over="ignore"):                 # ±1e31 -> ±inf in float16: refused anyway
        return values.astype(kind)


def expected_error(values, kind, alone=True):
    """The documented error for these logits (a regex on its message), or None if they are fine.
    ``alone``: the logits are the only array (a scalar then has no axis of categories; with noise
    or y of shape (..., K) it broadcasts, as in NumPy)."""
    if kind == "float16":
        return r"^logits is float16, which minigumbel does not support"
    if values.ndim == 0 and alone:
        return r"^logits is a scalar"
    if values.ndim and values.shape[-1] == 0:
        return r"^logits has shape .*: K = 0 categories"
    rows = np.atleast_2d(values)
    checks = ((np.isnan(rows), r"^logits contains NaN in row logits\[{}:\]"),
              (rows == np.inf, r"^logits has \+inf in row logits\[{}:\]"),
              (np.isfinite(rows) & (np.abs(rows) > 1e30), r"^logits has an entry with \|value\| > 1e30 in row logits\[{}:\]"),
              (np.all(rows == -np.inf, axis=-1, keepdims=True) & np.ones_like(rows, bool),
               r"^logits: row logits\[{}:\] has every entry -inf"))
    for mask, message in checks:
        if mask.any():
            row = int(np.argwhere(mask)[0][0])
            if values.ndim == 0:
                return message.split(" in row")[0].split(" row")[0]
            return message.format(f"{row}, " if values.ndim == 2 else "")
    return None


def raised_here(exc):
    """True when the exception was raised by minigumbel's code (not inside NumPy/CuPy)."""
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    path = tb.tb_frame.f_code.co_filename
    return f"{os.sep}minigumbel{os.sep}" in path and "site-packages" not in path


def home(kind, backend):
    """Where the result of logits of this kind lives when no other argument is an array: only a
    backend array stays on its backend; lists, scalars and NumPy arrays are NumPy."""
    return backend if kind == "device" else get_backend("numpy")


def on_backend(out, backend):
    return type(out).__module__.split(".")[0] == backend.xp.__name__.split(".")[0]


def check_call(call, error, backend, check):
    """Either the documented ValueError (raised by minigumbel) or a result passing ``check``."""
    if error is not None:
        with pytest.raises(ValueError, match=error) as info:
            call()
        assert raised_here(info.value), info.value
        return
    out = call()
    outs = out if isinstance(out, tuple) else (out,)
    for o in outs:
        assert on_backend(o, backend), type(o)
    check(*(backend.to_numpy(o) for o in outs))


def finite_simplex(values):
    def check(y):
        assert y.shape == values.shape and np.all(np.isfinite(y)) and np.all((y >= 0) & (y <= 1))
        assert np.all(y[values == -np.inf] == 0)
        np.testing.assert_allclose(y.sum(-1), 1.0, rtol=0, atol=1e-5)
    return check


# ----------------------------------------------------------------------------- functional

@prop
@given(p=user_logits(), tau=st.sampled_from([0.5, 1, 2.0]))
def test_softmax_and_log_softmax(backend, p, tau):
    values, kind = p
    x, err = as_user(values, kind, backend), expected_error(values, kind)
    backend = home(kind, backend)
    check_call(lambda: F.softmax(x, tau), err, backend, finite_simplex(values))

    def log_ok(lp):
        assert not np.any(np.isnan(lp)) and np.all(lp <= 0) and np.all(lp[values == -np.inf] == -np.inf)
    check_call(lambda: F.log_softmax(x, tau), err, backend, log_ok)
    if err is None:                                     # the VJPs take the same kinds of input
        y, lp = F.softmax(x, tau), F.log_softmax(x, tau)
        dy = np.ones(values.shape).tolist()             # a list upstream goes where y is
        for out in (F.softmax_vjp(dy, y, tau), F.log_softmax_vjp(dy, lp, tau)):
            assert on_backend(out, backend) and np.all(np.isfinite(backend.to_numpy(out)))


@prop
@given(p=user_logits(), hard=st.booleans(), n=st.integers(1, 3))
def test_gumbel_softmax_and_gumbel_max(backend, p, hard, n):
    values, kind = p
    x, err = as_user(values, kind, backend), expected_error(values, kind, alone=False)
    k = values.shape[-1] if values.ndim else 1
    if kind not in ("list", "tuple"):  # a NumPy array with a device g would be a mixing TypeError
        backend = home(kind, backend)  # (as in CuPy); a list goes to g's backend
    g = F.sample_gumbel(backend.rng(0), (n, 1, k) if values.ndim == 2 else (n, k))   # broadcasts with x
    shape = np.broadcast_shapes(values.shape, g.shape)

    def sample_ok(y):
        assert y.shape == shape and np.all(np.isfinite(y)) and np.all(y[np.broadcast_to(values == -np.inf, shape)] == 0)
        np.testing.assert_allclose(y.sum(-1), 1.0, rtol=0, atol=1e-5)
    check_call(lambda: F.gumbel_softmax(x, g, 0.5, hard), err, backend, sample_ok)

    def index_ok(i):
        assert i.shape == shape[:-1] and np.all((0 <= i) & (i < k))
        assert np.all(np.take_along_axis(np.broadcast_to(values, shape), i[..., None], -1) > -np.inf)
    check_call(lambda: F.gumbel_max(x, g), err, backend, index_ok)


@prop
@given(p=user_logits(), tau=st.sampled_from([0.3, 1.0, 3]))
def test_concrete_log_prob_and_vjp(backend, p, tau):
    values, kind = p
    x, err = as_user(values, kind, backend), expected_error(values, kind, alone=False)
    backend = home(kind, backend)                      # y is a list: it follows the logits
    k = values.shape[-1] if values.ndim else 1
    y = np.where(values == -np.inf, 0.0, 1.0) if values.ndim else np.ones(1)
    y = (y / np.maximum(y.sum(-1, keepdims=True), 1)).tolist() if k else y.tolist()   # a list y

    def lp_ok(lp):
        assert not np.any(np.isnan(lp)) and np.all(lp < np.inf)
    check_call(lambda: F.concrete_log_prob(y, x, tau), err, backend, lp_ok)

    def vjp_ok(dy, dth):
        assert np.all(np.isfinite(dth)) and np.all(dth[np.broadcast_to(values == -np.inf, dth.shape)] == 0)
        assert not np.any(np.isnan(dy))
    check_call(lambda: F.concrete_log_prob_vjp(1.0, y, x, tau), err, backend, vjp_ok)


@prop
@given(p=user_logits())
def test_distribution_and_estimate(backend, p):
    values, kind = p
    x, err = as_user(values, kind, backend), expected_error(values, kind)
    backend = home(kind, backend)                      # the Generator must be the logits' backend's

    def rsample_ok(y):
        assert np.all(np.isfinite(y)) and y.shape == (2,) + values.shape
    check_call(lambda: RelaxedOneHotCategorical(logits=x, tau=0.5).rsample(backend.rng(1), (2,)), err, backend,
               rsample_ok)

    def f(z):                                            # f(z) = Σ_k w_k z_k, w = 0, 1, ..., K−1
        w = backend.xp.arange(z.shape[-1], dtype=z.dtype)
        return (z * w).sum(-1), backend.xp.broadcast_to(w, z.shape)

    def grad_ok(value, grad):
        assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    for name in ("st-gumbel", "reinforce"):
        check_call(lambda: E.estimate(name, x, f, backend.rng(2), 1.0, 2), err, backend, grad_ok)


# ----------------------------------------------------------------------------- the rest

def test_noise_and_other_arguments_are_checked_with_their_names(backend):
    x = backend.asarray(np.zeros((2, 3)))
    for g, match in (([[0, np.nan, 0], [0, 0, 0]], r"^g contains NaN in row g\[0, :\]"),
                     ([[0, 0, 0], [0, -np.inf, 0]], r"^g must be finite, but row g\[1, :\] contains an infinity")):
        with pytest.raises(ValueError, match=match):
            F.gumbel_softmax(x, g, 0.5)
    with pytest.raises(ValueError, match=r"^dy contains NaN in row dy\[1, :\]"):
        F.softmax_vjp([[0, 0, 0], [0, np.nan, 0]], F.softmax(x))
    with pytest.raises(ValueError, match=r"^dlp contains NaN in entry dlp\[1\]"):
        F.concrete_log_prob_vjp([0.0, np.nan], F.softmax(x), x)
    with pytest.raises(ValueError, match=r"^dlp has shape \(3,\), which does not broadcast to the reduced shape \(2,\)"):
        F.concrete_log_prob_vjp([0.0, 1.0, 2.0], F.softmax(x), x)
    with pytest.raises(ValueError, match=r"^y must be finite"):
        F.concrete_log_prob([[0, 1, np.inf], [1, 0, 0]], x)
    with pytest.raises(TypeError, match=r"^logits must hold real numbers, got dtype <U"):
        F.softmax(["a", "b"])
    with pytest.raises(TypeError, match=r"^logits must hold real numbers, got dtype complex"):
        F.softmax(np.array([1j, 2]))
    with pytest.raises(ValueError, match=r"^axis 2 is out of range for logits of shape \(2, 3\)"):
        F.softmax(x, axis=2)
    with pytest.raises(ValueError, match=r"^probs has a negative entry in row probs\[1, :\]"):
        RelaxedOneHotCategorical(probs=[[0.5, 0.5], [1.5, -0.5]])
    with pytest.raises(ValueError, match=r"^probs: row probs\[0, :\] is all 0"):
        RelaxedOneHotCategorical(probs=[[0.0, 0.0], [1.0, 0.0]])


@pytest.mark.parametrize("index, k, match", [
    ([0, 3], 3, r"^index must lie in \[0, 3\), got min 0, max 3"), ([-1], 2, r"^index must lie in \[0, 2\)"),
    ([0.5], 2, r"^index must hold integers, got dtype float64"), ([1], 0, r"^k \(the number of categories\)"),
])
def test_one_hot_bad_input(index, k, match):
    with pytest.raises((ValueError, TypeError), match=match):
        F.one_hot(index, k)


def test_one_hot_and_sum_to_shape_take_array_like(backend):
    np.testing.assert_array_equal(backend.to_numpy(F.one_hot(backend.asarray(np.array([2, 0])), 3)),
                                  [[0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(F.one_hot([[1], [0]], 2, axis=0), [[[0], [1]], [[1], [0]]])
    np.testing.assert_array_equal(F.sum_to_shape([[1.0, 2.0], [3.0, 4.0]], (2,)), [4.0, 6.0])
    dx = backend.asarray(np.ones((3, 2)))
    assert on_backend(F.sum_to_shape(dx, (1, 2)), backend)


@pytest.mark.parametrize("shape", [-1, (2, -3), (2.5,), "3", None])
def test_sample_gumbel_bad_shape(shape):
    with pytest.raises(ValueError, match=r"^shape must be an int or a tuple of ints"):
        F.sample_gumbel(np.random.default_rng(0), shape)


def test_float16_is_refused_everywhere_with_one_error(backend):
    """The policy (README, "Numerical guarantees"): float16 is refused, by one error, wherever it
    enters — an array argument or a dtype= argument — on every backend."""
    h = np.array([[0.0, 1.0, 2.0]], np.float16)
    rng = np.random.default_rng(0)
    message = r"is float16, which minigumbel does not support.*float32"
    calls = {
        "softmax": lambda: F.softmax(h), "log_softmax": lambda: F.log_softmax(h),
        "gumbel_softmax (logits)": lambda: F.gumbel_softmax(h, np.zeros((1, 3)), 1.0),
        "gumbel_softmax (g)": lambda: F.gumbel_softmax(np.zeros((1, 3)), h, 1.0),
        "gumbel_max": lambda: F.gumbel_max(h, np.zeros((1, 3))),
        "softmax_vjp": lambda: F.softmax_vjp(h, np.full((1, 3), 1 / 3)),
        "concrete_log_prob": lambda: F.concrete_log_prob(np.full((1, 3), 1 / 3, np.float16), np.zeros((1, 3))),
        "sample_gumbel": lambda: F.sample_gumbel(rng, (2, 3), np.float16),
        "one_hot": lambda: F.one_hot([1, 2], 3, np.float16),
        "sum_to_shape": lambda: F.sum_to_shape(h, (3,)),
        "RelaxedOneHotCategorical": lambda: RelaxedOneHotCategorical(logits=h),
        "RelaxedOneHotCategorical(probs)": lambda: RelaxedOneHotCategorical(probs=h),
        "estimate": lambda: E.estimate("st", h, lambda z: (z.sum(-1), np.ones_like(z)), rng),
        "estimator draw": lambda: E.ESTIMATORS["gumbel"].sample(h, rng),
        "fast.sample_gumbel_softmax": lambda: fast.sample_gumbel_softmax(rng, h),
        "fast.gumbel_softmax_vjp": lambda: fast.gumbel_softmax_vjp(h, h),
        "nn.init_mlp": lambda: init_mlp(rng, (3, 4, 1), np.float16),
        "tasks (pointer)": lambda: make_task("argmax", dtype=np.float16),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=message):
            call()
    if backend.name != "numpy":      # the same error for a device float16 array
        with pytest.raises(ValueError, match=message):
            F.softmax(backend.asarray(h))


def test_validation_costs_one_transfer_at_the_front_door_and_none_inside(transfers, cupy_backend):
    """On the CuPy stand-in: every public function checks all of its arrays with ONE device→host
    transfer (a scalar τ adds none); the unchecked variants internal callers use make none."""
    be = cupy_backend
    x = be.asarray(np.random.default_rng(0).normal(size=(4, 5)))
    g = F.sample_gumbel(be.rng(0), (4, 5))
    y = F._softmax(x, 0.5)
    public = {
        "softmax": lambda: F.softmax(x, 0.5), "log_softmax": lambda: F.log_softmax(x, 0.5),
        "gumbel_softmax": lambda: F.gumbel_softmax(x, g, 0.5, hard=True), "gumbel_max": lambda: F.gumbel_max(x, g),
        "softmax_vjp": lambda: F.softmax_vjp(g, y, 0.5), "concrete_log_prob": lambda: F.concrete_log_prob(y, x, 0.5),
        "concrete_log_prob_vjp": lambda: F.concrete_log_prob_vjp(1.0, y, x, 0.5),
    }
    for name, call in public.items():
        with transfers() as n:
            call()
        assert n() == 1, f"{name}: {n()} transfers"
    unchecked = (lambda: F._softmax(x, 0.5), lambda: F._log_softmax(x, 0.5), lambda: F._gumbel_max(x, g),
                 lambda: F._gumbel_softmax(x, g, 0.5, hard=True), lambda: F._softmax_vjp(g, y, 0.5),
                 lambda: F._concrete_log_prob(y, x, 0.5), lambda: F._concrete_log_prob_vjp(1.0, y, x, 0.5))
    with transfers() as n:
        for call in unchecked:
            call()
    assert n() == 0, f"{n()} transfers in the unchecked variants"


def test_an_array_tau_is_checked_in_the_same_single_transfer(transfers, cupy_backend):
    x = cupy_backend.asarray(np.zeros((3, 4)))
    tau = cupy_backend.asarray(np.array([[0.5], [1.0], [2.0]]))
    with transfers() as n:
        F.softmax(x, tau)
    assert n() == 1, n()
    with pytest.raises(ValueError, match=r"^tau must be a finite number in \[1e-4, 1e4\] everywhere, but row tau\[1, :\] is not"):
        F.softmax(x, cupy_backend.asarray(np.array([[0.5], [0.0], [2.0]])))


def test_a_python_number_takes_the_arrays_dtype():
    """As NumPy's weak scalars (NEP 50): a Python float upstream gradient or noise keeps float32."""
    x = np.zeros((2, 3), np.float32)
    y = np.full((2, 3), 1 / 3, np.float32)
    assert all(a.dtype == np.float32 for a in F.concrete_log_prob_vjp(1.0, y, x, 0.5))
    assert F.gumbel_softmax(x, 0.0, 0.5).dtype == np.float32
    assert F.softmax_vjp(1.0, y).dtype == np.float32
    assert E.reinforce_backward(x[0], np.array([0, 1, 0], np.float32), 0.5).dtype == np.float32


def _entry_points(x, rng):
    """Every public function that takes an array, each called with ``x`` in the array's place."""
    z = np.zeros((1, 3))
    y = np.full((1, 3), 1 / 3)
    return {
        "softmax": lambda: F.softmax(x), "log_softmax": lambda: F.log_softmax(x),
        "gumbel_softmax (logits)": lambda: F.gumbel_softmax(x, z, 1.0),
        "gumbel_softmax hard (logits)": lambda: F.gumbel_softmax(x, z, 1.0, hard=True),
        "gumbel_softmax (g)": lambda: F.gumbel_softmax(z, x, 1.0),
        "gumbel_max": lambda: F.gumbel_max(x, z),
        "softmax_vjp (dy)": lambda: F.softmax_vjp(x, y), "softmax_vjp (y)": lambda: F.softmax_vjp(z, x),
        "log_softmax_vjp": lambda: F.log_softmax_vjp(x, z),
        "gumbel_softmax_vjp": lambda: F.gumbel_softmax_vjp(x, y, 0.5),
        "concrete_log_prob (y)": lambda: F.concrete_log_prob(x, z, 0.5),
        "concrete_log_prob (logits)": lambda: F.concrete_log_prob(y, x, 0.5),
        "concrete_log_prob_vjp": lambda: F.concrete_log_prob_vjp(1.0, y, x, 0.5),
        "sum_to_shape": lambda: F.sum_to_shape(x, (3,)),
        "RelaxedOneHotCategorical": lambda: RelaxedOneHotCategorical(logits=x),
        "RelaxedOneHotCategorical(probs)": lambda: RelaxedOneHotCategorical(probs=x),
        "estimate": lambda: E.estimate("st", x, lambda d: (d.sum(-1), np.ones_like(d)), rng),
        "estimator draw": lambda: E.ESTIMATORS["gumbel"].sample(x, rng),
        "fast.sample_gumbel_softmax": lambda: fast.sample_gumbel_softmax(rng, x),
        "fast.gumbel_softmax_vjp": lambda: fast.gumbel_softmax_vjp(x, y),
    }


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
@pytest.mark.parametrize("make, message", [
    (lambda v: np.ma.masked_array(v, mask=[[False, True, False]]), r"is a masked array \(numpy\.ma\).*\.filled\("),
    (lambda v: np.ma.masked_array(v), r"is a masked array \(numpy\.ma\)"),          # even with nothing masked
    (np.matrix, r"is a numpy\.matrix.*numpy\.asarray\("),
])
def test_masked_arrays_and_matrices_are_refused_at_every_entry_point(make, message):
    """One rule, everywhere: a masked array or an np.matrix is a TypeError naming the argument
    and the fix (before this rule, softmax dropped the masked entries, hard gumbel_softmax returned
    a plain array and concrete_log_prob gave 3.03 where the plain data give 2.01)."""
    x = make(np.array([[0.25, 0.5, 0.25]]))
    rng = np.random.default_rng(0)
    for name, call in _entry_points(x, rng).items():
        with pytest.raises(TypeError, match=message):
            call()
    plain = np.array([[0.25, 0.5, 0.25]])                  # the control: the same values as a plain array pass
    for name, call in _entry_points(plain, rng).items():
        call()


def test_other_ndarray_subclasses_compute_as_plain_arrays(tmp_path):
    """A numpy.memmap (an ndarray subclass that changes no operation) is accepted, same numbers."""
    m = np.memmap(tmp_path / "x.dat", dtype=np.float64, mode="w+", shape=(2, 3))
    m[:] = [[0.0, 1.0, 2.0], [3.0, -np.inf, 1.0]]
    np.testing.assert_array_equal(np.asarray(F.softmax(m, 0.5)), F.softmax(np.array(m), 0.5))


@pytest.mark.parametrize("rng", [np.random.Generator, np.random.RandomState(0), 0, None, "seed",
                                 np.random.PCG64(0)])
def test_rng_must_be_a_generator_instance(rng):
    """The class numpy.random.Generator (not an instance) crashed the interpreter (exit 139) inside
    NumPy's C code; every entry point that draws refuses anything but a Generator instance."""
    x = np.zeros((2, 3))
    message = r"^rng must be a numpy\.random\.Generator or cupy\.random\.Generator instance, got "
    calls = {
        "sample_gumbel": lambda: F.sample_gumbel(rng, (2, 3)),
        "RelaxedOneHotCategorical.sample": lambda: RelaxedOneHotCategorical(logits=x).sample(rng),
        "RelaxedOneHotCategorical.rsample": lambda: RelaxedOneHotCategorical(logits=x).rsample(rng),
        "fast.sample_gumbel_softmax": lambda: fast.sample_gumbel_softmax(rng, x),
        "estimator draw": lambda: E.ESTIMATORS["st-gumbel"].sample(x, rng),
        "estimate": lambda: E.estimate("st", x, lambda d: (d.sum(-1), np.ones_like(d)), rng),
        "nn.init_mlp": lambda: init_mlp(rng, (3, 4, 1)),
    }
    for name, call in calls.items():
        with pytest.raises(TypeError, match=message):
            call()
    if rng is np.random.Generator:
        with pytest.raises(TypeError, match=r"the class Generator itself; make an instance: numpy\.random\.default_rng"):
            F.sample_gumbel(rng, 3)


def test_a_cupy_generator_is_accepted_and_a_numpy_one_refused_for_cupy_logits(cupy_backend):
    x = cupy_backend.asarray(np.zeros((2, 3)))
    assert F.sample_gumbel(cupy_backend.rng(0), (2, 3)).shape == (2, 3)
    with pytest.raises(TypeError, match=r"rng must be a cupy\.random\.Generator for CuPy logits"):
        fast.sample_gumbel_softmax(np.random.default_rng(0), x)
