"""The one-pass value scan of host arrays (minigumbel._inputs): the same verdict as the plain
NumPy checks for every kind, at sizes that take the blocked paths (several 512 KiB blocks), with
the bad entry anywhere (first block, a block boundary, the last entry), masked or not; and the
fused θ + g of gumbel_softmax is bit for bit the sum."""
import numpy as np
import pytest

from minigumbel import _inputs as I
from minigumbel import functional as F

N, K = 600, 512                                   # 307,200 entries: 2.3 MB in float64, several blocks
SPOTS = [(0, 0), (255, 511), (256, 0), (299, 300), (N - 1, K - 1)]


def _base(dtype, masked):
    x = np.random.default_rng(0).standard_normal((N, K)).astype(dtype)
    if masked:
        x[:, 3] = -np.inf
        x[7, :] = np.where(np.arange(K) % 2 == 0, -np.inf, x[7, :])      # a row half masked
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("bad", [np.nan, np.inf, 2e30, -2e30, "row"])
@pytest.mark.parametrize("spot", SPOTS)
def test_gumbel_softmax_refuses_every_bad_logit_wherever_it_is(dtype, masked, bad, spot):
    x = _base(dtype, masked)
    g = F.sample_gumbel(np.random.default_rng(1), x.shape, dtype)
    if bad == "row":
        x[spot[0], :] = -np.inf
        message = "every entry -inf"
    else:
        x[spot] = bad
        message = {"nan": "NaN", "inf": r"\+inf", "2e+30": r"\|value\| > 1e30", "-2e+30": r"\|value\| > 1e30"}[str(bad)]
    with pytest.raises(ValueError, match=message):
        F.gumbel_softmax(x, g, 0.5)
    with pytest.raises(ValueError, match=message):
        F.softmax(x, 0.5)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 2e30, -2e30])
@pytest.mark.parametrize("spot", SPOTS)
def test_gumbel_softmax_refuses_every_bad_noise_value(bad, spot):
    x = _base(np.float64, True)
    g = F.sample_gumbel(np.random.default_rng(1), x.shape)
    g[spot] = bad
    with pytest.raises(ValueError, match=r"^g "):
        F.gumbel_softmax(x, g, 0.5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("masked", [False, True])
def test_clean_input_passes_and_the_fused_sum_is_the_sum(dtype, masked):
    x = _base(dtype, masked)
    g = F.sample_gumbel(np.random.default_rng(1), x.shape, dtype)
    s = I.add_checked(x, g, -1)
    assert s.dtype == dtype and np.array_equal(s, x + g)
    for hard in (False, True):
        np.testing.assert_array_equal(F.gumbel_softmax(x, g, 0.5, hard=hard), F._gumbel_softmax(x, g, 0.5, hard=hard))


@pytest.mark.parametrize("kind, bad, masked_value", [("logp", np.nan, -np.inf), ("logp", np.inf, -np.inf),
                                                     ("probs", -1e-3, 0.0), ("probs", np.inf, 0.0),
                                                     ("finite", -np.inf, None), ("noise", 2e30, None)])
@pytest.mark.parametrize("spot", SPOTS)
def test_every_kind_flags_its_bad_values_in_any_block(kind, bad, masked_value, spot):
    x = np.abs(_base(np.float64, False)) + 0.1
    if masked_value is not None:
        x[:, 5] = masked_value                    # masked entries: the row-level pass runs
    assert not I._host_flag(kind, x, -1)
    x[spot] = bad
    assert I._host_flag(kind, x, -1)
    if masked_value is not None:                  # a whole row masked
        y = np.abs(_base(np.float64, False)) + 0.1
        y[spot[0], :] = masked_value
        assert I._host_flag(kind, y, -1)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["dy", "y", "dy where y = 0"])
@pytest.mark.parametrize("spot", SPOTS)
def test_softmax_vjp_refuses_a_non_finite_argument_wherever_it_is(bad, where, spot):
    dy = np.random.default_rng(2).standard_normal((N, K))
    y = F._softmax(_base(np.float64, True), 1.0)                      # zeros in the masked column
    if where == "dy where y = 0":
        spot = (spot[0], 3)
        assert y[spot] == 0
    (y if where == "y" else dy)[spot] = bad
    with pytest.raises(ValueError, match=("^y " if where == "y" else "^dy ")):
        F.softmax_vjp(dy, y)


def test_softmax_vjp_fused_product_gives_the_same_bits_and_tolerates_overflowing_sums():
    dy = np.random.default_rng(2).standard_normal((N, K))
    y = F._softmax(_base(np.float64, True), 0.7)
    np.testing.assert_array_equal(F.softmax_vjp(dy, y, 0.7), F._softmax_vjp(dy, y, 0.7))
    big = np.full((N, K), 1e300)                                       # finite, but their products overflow:
    with np.errstate(over="ignore", invalid="ignore"):                 # the scan's sum is inf, check_values
        F.softmax_vjp(big, big)                                        # then finds nothing wrong: no error


@pytest.mark.parametrize("layout", ["transposed, axis 0", "Fortran order, axis -1"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -2e30, "row"])
@pytest.mark.parametrize("spot", SPOTS)
def test_logits_reduced_along_a_non_contiguous_axis_are_scanned_in_every_block(layout, bad, spot):
    """The other pass of _host_flag (not C-contiguous along the reduced axis, masked entries
    present): the blocked search for a finite entry below −1e30 and the per-row maxima."""
    x = _base(np.float64, True)
    if bad == "row":
        x[spot[0], :] = -np.inf
        message = "every entry -inf"
    else:
        x[spot] = bad
        message = {"nan": "NaN", "inf": r"\+inf", "-2e+30": r"\|value\| > 1e30"}[str(bad)]
    a, axis = (x.T, 0) if layout.startswith("transposed") else (np.asfortranarray(x), -1)
    assert I._host_flag("logits", a, axis)
    with pytest.raises(ValueError, match=message):
        F.softmax(a, 0.5, axis=axis)
    clean = _base(np.float64, True)
    assert not I._host_flag("logits", clean.T, 0) and not I._host_flag("logits", np.asfortranarray(clean), -1)


@pytest.mark.parametrize("kind", ["logits", "logp", "finite", "noise"])
@pytest.mark.parametrize("layout", ["C order", "Fortran order", "transposed"])
def test_the_scan_makes_no_full_size_copy_in_either_memory_order(kind, layout):
    """The blocked scan reads a contiguous array in place whatever its memory order (a C-order
    reshape of a Fortran-order array would copy all of it first). NumPy reports its allocations to
    tracemalloc; the bound, a quarter of the array, is far above a block (512 KiB) plus row maxima."""
    import tracemalloc
    x = _base(np.float64, kind in ("logits", "logp"))
    a, axis = {"C order": (x, -1), "Fortran order": (np.asfortranarray(x), -1), "transposed": (x.T, 0)}[layout]
    tracemalloc.start()
    try:
        assert not I._host_flag(kind, a, axis)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < a.nbytes / 4, (peak, a.nbytes)
