"""minigumbel.lab.Moments: the running statistics behind every lab table, against numpy on all the
estimates at once (an independent computation), whatever the batching."""
import numpy as np
import pytest

from minigumbel.lab import Moments


@pytest.mark.parametrize("sizes", [[1000], [1, 999], [7, 300, 2, 691], [500, 500]])
def test_moments_equal_the_two_pass_statistics_for_any_batching(sizes):
    rng = np.random.default_rng(0)
    x = 1e6 + rng.normal(size=(sum(sizes), 5)) * np.arange(1, 6)   # a large offset: Σx² − n·mean² would cancel
    exact = 1e6 + rng.normal(size=5)
    m, start = Moments(exact), 0
    for s in sizes:
        m.add(x[start:start + s])
        start += s
    r = m.stats()
    mean, var = x.mean(0), x.var(0, ddof=1).sum()
    bias = np.linalg.norm(mean - exact)
    assert r["variance"] == pytest.approx(var, rel=1e-10)
    assert r["bias_norm"] == pytest.approx(bias, rel=1e-9)
    assert r["bias_se"] == pytest.approx(np.sqrt(var / len(x)), rel=1e-10)
    assert r["mse"] == pytest.approx(bias ** 2 + var, rel=1e-10)
    # mse is the mean squared error of one estimate: E‖x − ∇‖² = ‖bias‖² + tr Cov (up to n/(n−1))
    assert r["mse"] == pytest.approx(((x - exact) ** 2).sum(1).mean(), rel=2 / len(x))
    assert r["cosine"] == pytest.approx(mean @ exact / np.linalg.norm(mean) / np.linalg.norm(exact), rel=1e-12)
    assert r["norm_ratio"] == pytest.approx(np.linalg.norm(mean) / np.linalg.norm(exact), rel=1e-12)


def test_a_constant_estimator_has_variance_exactly_zero_and_a_varying_one_does_not():
    v = np.array([0.1, 1 / 3, -2.0])
    m = Moments(np.zeros(3)).add(np.tile(v, (3, 1))).add(np.tile(v, (4, 1)))
    assert m.stats()["variance"] == 0.0
    m.add(v[None] + 1e-12)
    assert m.stats()["variance"] > 0.0


def test_fewer_than_two_estimates_is_an_error():
    with pytest.raises(ValueError, match="at least 2"):
        Moments(np.zeros(3)).add(np.ones((1, 3))).stats()
