"""The fast paths equal the readable reference in minigumbel.functional.

NumPy: bit for bit (the same operations in the same order, only blocked and threaded), with the
same draws taken from the Generator. CuPy (skipped, and reported so, without a GPU): the fused
kernels agree with the NumPy reference to a tolerance derived from float round-off (see below).
"""
import numpy as np
import pytest

from minigumbel import fast
from minigumbel import functional as F
from minigumbel.backend import to_numpy

SHAPES = [(1, 1), (7,), (3, 5), (4, 3, 6), (300, 1000), (2000, 70), (1565, 335)]


@pytest.fixture(params=["default-blocks", "small-blocks"])
def blocks(request, monkeypatch):
    """Run a test with the tuned block size, and with 8 KiB blocks and threading from 1024
    elements, so that even small arrays go through many blocks on several threads."""
    if request.param == "small-blocks":
        monkeypatch.setattr(fast, "BLOCK_BYTES", 8192)
        monkeypatch.setattr(fast, "_MIN_THREADED", 1024)
    return request.param


def reference(seed, logits, tau, hard=False):
    rng = np.random.default_rng(seed)
    g = F.sample_gumbel(rng, logits.shape, logits.dtype)
    return F.gumbel_softmax(logits, g, tau, hard, return_soft=True), rng


def logits_of(shape, dtype, seed=0):
    return np.random.default_rng(seed).normal(0, 2, shape).astype(dtype)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 3])
def test_forward_is_the_reference_bit_for_bit(shape, dtype, threads, blocks):
    x = logits_of(shape, dtype)
    for tau, exact in ((1.0, True), (0.37, True), (0.37, False)):   # exact=False differs at τ = 1 only
        (y_ref, _), rng_ref = reference(11, x, tau)
        rng = np.random.default_rng(11)
        y = fast.sample_gumbel_softmax(rng, x, tau, threads=threads, exact=exact)
        assert y.dtype == dtype and y.shape == x.shape
        assert np.array_equal(y, y_ref), f"max |diff| {np.max(np.abs(y - y_ref))}"
        # the same number of draws was taken from the Generator
        assert rng.random() == rng_ref.random()
    if x.shape[-1] > 1:   # the comparison is not vacuous: another seed gives another sample
        assert not np.array_equal(y, fast.sample_gumbel_softmax(np.random.default_rng(12), x, tau))


# τ = 1, exact=False: exp(θ + g) = exp(θ)/E, one log fewer (fast._soft_sample_tau1). The reference
# rounds z = θ + g, |z| < 32 here (|θ| < 15, |g| ≤ 17), to within ulp(32)/2: 1.9e-6 absolute in z,
# so 1.9e-6 relative in exp(z); both add ≈ log2(K)/2 ulp in their row sums and a few ulp in exp,
# the divisions and 1/log u: ≈ 1.5e-6 more. Bound 3.4e-6 → rtol 4e-6 (float32); the same
# count with ulp(32)/2 = 3.6e-15 and ulp 1.1e-16 gives 1e-14 (float64). atol only for
# denormal outputs (their relative precision is lower).
TAU1_TOL = {np.float32: dict(rtol=4e-6, atol=1e-37), np.float64: dict(rtol=1e-14, atol=1e-300)}


@pytest.mark.parametrize("shape", [(3, 5), (300, 1000), (1565, 335)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tau_one_route_agrees_with_the_reference_to_round_off(shape, dtype, blocks):
    x = np.clip(logits_of(shape, dtype), -14.9, 14.9)
    x[..., 1::7] = -np.inf                                           # masks stay exact zeros
    (y_ref, _), rng_ref = reference(6, x, 1.0)
    rng = np.random.default_rng(6)
    y = fast.sample_gumbel_softmax(rng, x, 1.0, threads=2)
    np.testing.assert_allclose(y, y_ref, **TAU1_TOL[dtype])
    assert np.all(y[..., 1::7] == 0) and rng.random() == rng_ref.random()
    if dtype == np.float32:   # not the reference's bits: the tolerance above is really needed
        assert not np.array_equal(y, y_ref)
    x[..., :] = -np.inf
    with pytest.raises(ValueError, match="every entry -inf"):
        fast.sample_gumbel_softmax(rng, x, 1.0)


@pytest.mark.parametrize("bit_generator", ["PCG64", "PCG64DXSM", "SFC64", "Philox", "MT19937"])
@pytest.mark.parametrize("shape,predraw", [((2000, 300), 0), ((2000, 300), 1), ((513, 301), 0), ((1565, 335), 0)])
def test_uniforms_are_the_generators_stream_for_any_bit_generator(bit_generator, shape, predraw, blocks):
    # the float32 draw may split 64-bit outputs itself (fast._uniform_drawer): it must give the
    # numbers Generator.random gives, and leave the Generator where it would be, also when a
    # half-word is already buffered (predraw = 1) or a block takes an odd count (K odd: with
    # default blocks, (1565, 335) has two blocks of 782 rows, even counts, and a last odd one)
    make = lambda: np.random.Generator(getattr(np.random, bit_generator)(17))
    r_ref, r_fast = make(), make()
    r_ref.random(predraw, dtype=np.float32), r_fast.random(predraw, dtype=np.float32)
    x = logits_of(shape, np.float32)
    g = F.sample_gumbel(r_ref, shape, np.float32)
    y = fast.sample_gumbel_softmax(r_fast, x, 0.5, threads=2)
    assert np.array_equal(y, F.gumbel_softmax(x, g, 0.5))
    assert np.array_equal(r_ref.random(3, dtype=np.float32), r_fast.random(3, dtype=np.float32))


@pytest.mark.parametrize("threads", [1, 2])
def test_hard_per_row_tau_and_out_buffer(threads, blocks):
    x = logits_of((600, 300), np.float32, seed=1)
    tau = np.linspace(0.2, 3.0, 600, dtype=np.float32)[:, None]          # (n, 1): one τ per row
    (y_ref, soft_ref), _ = reference(5, x, tau, hard=True)
    out = np.full_like(x, np.nan)
    y, soft = fast.sample_gumbel_softmax(np.random.default_rng(5), x, tau, hard=True, return_soft=True,
                                         out=out, threads=threads)
    assert soft is out
    assert np.array_equal(soft, soft_ref) and np.array_equal(y, y_ref)
    assert np.all(y.sum(-1) == 1)


def test_masked_categories_and_all_masked_rows(blocks):
    x = logits_of((1000, 400), np.float64, seed=2)
    x[:, ::3] = -np.inf
    (y_ref, _), _ = reference(3, x, 0.5)
    y = fast.sample_gumbel_softmax(np.random.default_rng(3), x, 0.5, threads=2)
    assert np.array_equal(y, y_ref) and np.all(y[:, ::3] == 0)
    x[700] = -np.inf                                 # one row, in a later block
    for threads in (1, 2):
        with pytest.raises(ValueError, match="every entry -inf"):
            fast.sample_gumbel_softmax(np.random.default_rng(3), x, 0.5, threads=threads)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vjp_is_the_reference_bit_for_bit(shape, dtype, blocks):
    x = logits_of(shape, dtype)
    dy = logits_of(shape, dtype, seed=9)
    (y, _), _ = reference(4, x, 0.7)
    for tau in (1.0, 0.7, np.full(shape[:-1] + (1,), 0.3, dtype)):
        ref = F.gumbel_softmax_vjp(dy, y, tau)
        for threads in (1, 3):
            assert np.array_equal(fast.gumbel_softmax_vjp(dy, y, tau, threads=threads), ref)
        d2 = dy.copy()
        assert fast.gumbel_softmax_vjp(d2, y, tau, out=d2) is d2       # in place over dy
        assert np.array_equal(d2, ref)


def test_fast_vjp_is_the_gradient_of_the_fast_forward_under_autograd():
    from autograd import grad
    x = logits_of((6, 9), np.float64, seed=3)
    w = logits_of((6, 9), np.float64, seed=4)
    loss = lambda th: (w * fast.sample_gumbel_softmax(np.random.default_rng(8), th, 0.6)).sum()
    auto = grad(loss)(x)
    y = fast.sample_gumbel_softmax(np.random.default_rng(8), x, 0.6)
    np.testing.assert_allclose(fast.gumbel_softmax_vjp(w, y, 0.6), auto, rtol=1e-12, atol=1e-14)
    # negative control: a gradient missing the 1/τ factor is told apart at this tolerance
    assert not np.allclose(F.gumbel_softmax_vjp(w, y, 1.0), auto, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("call,match", [
    (lambda x, r: fast.sample_gumbel_softmax(r, x, 0.0), "tau"),
    (lambda x, r: fast.sample_gumbel_softmax(r, x, float("nan")), "tau"),
    (lambda x, r: fast.sample_gumbel_softmax(r, x.astype(np.int64), 1.0), "logits"),
    (lambda x, r: fast.sample_gumbel_softmax(r, x[:, :0], 1.0), "logits"),
    (lambda x, r: fast.sample_gumbel_softmax(r, x, 1.0, out=np.empty((3, 4))), "out"),
    (lambda x, r: fast.sample_gumbel_softmax(r, x, 1.0, out=x), "out"),
    (lambda x, r: fast.sample_gumbel_softmax(r, x, 1.0, threads=0), "threads"),
    (lambda x, r: fast.gumbel_softmax_vjp(x, x[:2], 1.0), "shape"),
    (lambda x, r: fast.gumbel_softmax_vjp(x, x.astype(np.float32), 1.0), "dy"),
    (lambda x, r: fast.gumbel_softmax_vjp(x, x, -1.0), "tau"),
    (lambda x, r: fast.gumbel_softmax_vjp(x.copy(), x, 1.0, out=x), "out"),
])
def test_bad_input_is_a_value_error_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call(logits_of((4, 5), np.float64), np.random.default_rng(0))


def test_threads_from_the_environment(monkeypatch):
    monkeypatch.setenv("MINIGUMBEL_THREADS", "3")
    assert fast.default_threads() == 3
    monkeypatch.setenv("MINIGUMBEL_THREADS", "many")
    with pytest.raises(ValueError, match="MINIGUMBEL_THREADS"):
        fast.default_threads()


# ----------------------------------------------------------------------------- CuPy kernels
# Tolerance: the kernels use CUDA's log/exp (≤ 2 ulp) and add the row sums in a different order.
# In float32, |log E| ≤ 17 gives an absolute error in (θ + g)/τ of about 2 ulp · 17/τ ≈ 4e-6/τ,
# which becomes a relative error of y of the same size, plus ≈ log2(K) ulp ≈ 1e-6 from the sums.
# At τ ≥ 0.5 that is < 1e-5; we allow rtol 5e-5 (float32) and 1e-11 (float64, same bound with
# ulp 1.1e-16 and a margin), atol a thousand times smaller.
TOL = {np.float32: dict(rtol=5e-5, atol=5e-8), np.float64: dict(rtol=1e-11, atol=1e-14)}


@pytest.fixture
def cupy_kernels(cupy_backend):
    """The CuPy backend where its CUDA kernels can run: these tests skip on the stand-in."""
    if getattr(cupy_backend.xp, "__standin__", False):
        pytest.skip("fused CUDA kernels need a GPU (the CuPy stand-in cannot run RawModule)")
    return cupy_backend


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (257, 1000), (64, 3000), (2, 3, 33)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("hard", [False, True])
def test_cupy_forward_kernel_matches_the_numpy_reference(cupy_kernels, shape, dtype, hard):
    cp = cupy_kernels.xp
    x = logits_of(shape, dtype)
    if shape[-1] > 4:
        x[..., ::4] = -np.inf                                        # masked categories
    for tau in (1.0, 0.5):
        u = to_numpy(cupy_kernels.rng(21).random(shape, dtype=dtype))  # the draw the kernel gets
        fi = np.finfo(dtype)
        g = -np.log(-np.log(np.clip(u, fi.tiny, 1.0 - fi.epsneg)))     # sample_gumbel's transform
        y_ref, soft_ref = F.gumbel_softmax(x, g, tau, hard, return_soft=True)
        y, soft = fast.sample_gumbel_softmax(cupy_kernels.rng(21), cp.asarray(x), tau, hard, return_soft=True)
        assert isinstance(y, cp.ndarray) and y.dtype == dtype and y.shape == shape
        np.testing.assert_allclose(to_numpy(soft), soft_ref, **TOL[dtype])
        if hard:
            assert np.array_equal(to_numpy(y), y_ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cupy_vjp_kernel_matches_the_numpy_reference(cupy_kernels, dtype):
    cp = cupy_kernels.xp
    x, dy = logits_of((300, 700), dtype), logits_of((300, 700), dtype, seed=5)
    (y, _), _ = reference(2, x, 0.8)
    ref = F.gumbel_softmax_vjp(dy, y, 0.8)
    got = to_numpy(fast.gumbel_softmax_vjp(cp.asarray(dy), cp.asarray(y), 0.8))
    # dθ_j = y_j (dy_j − c)/τ: the only new round-off is in c = ⟨dy, y⟩ (order of the sum)
    scale = np.abs(y).max(-1, keepdims=True) * np.abs(dy).max(-1, keepdims=True)
    np.testing.assert_allclose(got, ref, rtol=TOL[dtype]["rtol"], atol=TOL[dtype]["rtol"] * scale.max())
    d2 = cp.asarray(dy)
    assert fast.gumbel_softmax_vjp(d2, cp.asarray(y), 0.8, out=d2) is d2
    np.testing.assert_allclose(to_numpy(d2), got, rtol=0, atol=0)


def test_cupy_all_masked_row_is_a_value_error(cupy_kernels):
    cp = cupy_kernels.xp
    x = logits_of((5, 8), np.float32)
    x[2] = -np.inf
    with pytest.raises(ValueError, match="every entry -inf"):
        fast.sample_gumbel_softmax(cupy_kernels.rng(0), cp.asarray(x), 1.0)
