"""Statistical properties of the samplers, with fixed seeds and tolerances from the standard error.

Each tolerance is Z standard errors with Z = 5 (a false alarm once in ~1.7 million runs under the
null; with fixed seeds a test is deterministic anyway, the margin only guards honest re-seeding).
"""
import math

import numpy as np
import pytest

from minigumbel import functional as F
from minigumbel.stats import EULER_GAMMA, chisquare

Z = 5.0


def test_gumbel_mean_and_variance():
    n = 2_000_000
    g = F.sample_gumbel(np.random.default_rng(0), (n,))
    var = math.pi ** 2 / 6
    se_mean = math.sqrt(var / n)
    # Var of the sample variance ≈ (μ4 − σ⁴)/n; the Gumbel excess kurtosis is 12/5, so μ4 = 5.4 σ⁴
    se_var = var * math.sqrt(4.4 / n)
    assert abs(g.mean() - EULER_GAMMA) < Z * se_mean, (g.mean(), se_mean)
    assert abs(g.var() - var) < Z * se_var, (g.var(), se_var)
    # median −log log 2; s.e. of a sample median = 1 / (2 f(m) √n), the density at the median
    # f(m) = e^{−m − e^{−m}} = (log 2)/2 for the standard Gumbel
    se_median = 1.0 / (2 * (math.log(2) / 2) * math.sqrt(n))
    assert abs(np.median(g) + math.log(math.log(2))) < Z * se_median


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gumbel_max_frequencies_match_softmax(dtype):
    rng = np.random.default_rng(1)
    theta = np.array([1.0, 2.0, 3.0, -1.0, 0.0], dtype=dtype)
    n = 500_000
    idx = F.gumbel_max(np.broadcast_to(theta, (n, 5)), F.sample_gumbel(rng, (n, 5), dtype))
    counts = np.bincount(idx, minlength=5)
    probs = np.exp(theta.astype(np.float64)) / np.exp(theta.astype(np.float64)).sum()   # written out here
    stat, df, p = chisquare(counts, probs)
    assert p > 1e-4, (counts / n, probs, stat, p)   # a fixed seed; p ~ U(0, 1) under exactness
    se = np.sqrt(probs * (1 - probs) / n)
    assert np.all(np.abs(counts / n - probs) < Z * se)


def test_chisquare_rejects_a_wrong_distribution():
    # negative control: samples from softmax(θ) tested against softmax(θ + small shift) must fail
    rng = np.random.default_rng(1)
    theta = np.array([1.0, 2.0, 3.0])
    n = 500_000
    idx = F.gumbel_max(np.broadcast_to(theta, (n, 3)), F.sample_gumbel(rng, (n, 3)))
    _, _, p = chisquare(np.bincount(idx, minlength=3), F.softmax(theta + np.array([0.02, 0, 0])))
    assert p < 1e-4


def test_expected_max_is_logsumexp_plus_gamma_and_independent_of_the_winner():
    rng = np.random.default_rng(2)
    theta = np.array([0.5, -1.0, 2.0, 0.0])
    n = 1_000_000
    z = theta + F.sample_gumbel(rng, (n, 4))
    m = z.max(-1)
    lse = np.log(np.exp(theta).sum())
    se = math.sqrt(math.pi ** 2 / 6 / n)           # the max is Gumbel(lse, 1): same variance
    assert abs(m.mean() - (lse + EULER_GAMMA)) < Z * se
    win = z.argmax(-1)
    for k in range(4):                                # E[max | argmax = k] is the same for every k
        mk = m[win == k]
        assert abs(mk.mean() - (lse + EULER_GAMMA)) < Z * math.sqrt(math.pi ** 2 / 6 / mk.size)


@pytest.mark.parametrize("tau", [0.5, 1.0, 2.0])
def test_concrete_density_integrates_to_one_k2(tau):
    quad = pytest.importorskip("scipy.integrate").quad
    theta = np.array([0.7, -0.4])
    # integrate over the free coordinate in logit space, u ↦ y = softmax([u, 0]);
    # the Jacobian |dy_1/du| = y_1 y_2 turns the simplex density into a smooth one on R
    def integrand(u):
        y = F.softmax(np.array([u, 0.0]))
        return math.exp(F.concrete_log_prob(y, theta, tau)) * y[0] * y[1]
    total, err = quad(integrand, -200, 200, limit=400, points=[0.0])
    assert abs(total - 1.0) < 1e-6, (total, err)


@pytest.mark.parametrize("tau", [0.5, 1.0, 2.0])
def test_concrete_density_integrates_to_one_k3(tau):
    theta = np.array([0.3, -0.5, 0.9])
    # y = softmax([u1, u2, 0]); the Jacobian determinant of (u1, u2) ↦ (y1, y2) is y1 y2 y3, so the
    # integrand on R² is smooth and decays exponentially: the trapezoid rule on a uniform grid
    # converges exponentially fast there (600 intervals give ~1e-14 here; 1e-9 is the tolerance).
    lim = 40.0 / tau
    u = np.linspace(-lim, lim, 601)
    u1, u2 = np.meshgrid(u, u, indexing="ij")
    logits_u = np.stack([u1, u2, np.zeros_like(u1)], -1).reshape(-1, 3)        # (601², 3)
    log_y = F.log_softmax(logits_u)
    lp = F.concrete_log_prob(np.exp(log_y), np.broadcast_to(theta, log_y.shape), tau)
    total = np.exp(lp + log_y.sum(-1)).sum() * (u[1] - u[0]) ** 2
    assert abs(total - 1.0) < 1e-9, total


def test_concrete_density_with_a_wrong_normaliser_fails_the_integral():
    # negative control for the quadrature tests: dropping the (K−1) log τ term breaks the integral
    tau, theta = 0.5, np.array([0.3, -0.5, 0.9])
    u = np.linspace(-80, 80, 601)
    u1, u2 = np.meshgrid(u, u, indexing="ij")
    log_y = F.log_softmax(np.stack([u1, u2, np.zeros_like(u1)], -1).reshape(-1, 3))
    lp = F.concrete_log_prob(np.exp(log_y), np.broadcast_to(theta, log_y.shape), tau) - 2 * math.log(tau)
    total = np.exp(lp + log_y.sum(-1)).sum() * (u[1] - u[0]) ** 2
    assert abs(total - 1.0) > 0.1


@pytest.mark.parametrize("tau,alpha", [(1.0, 1.0), (0.5, 3.0), (2.0, 0.25)])
def test_binary_concrete_cdf(tau, alpha):
    # P(y_1 ≤ x) = 1 / (1 + α ((1 − x)/x)^τ), α = π_1/π_2 (Maddison et al. 2017); α = τ = 1: uniform
    n = 400_000
    theta = np.array([math.log(alpha), 0.0])
    y1 = F.gumbel_softmax(np.broadcast_to(theta, (n, 2)), F.sample_gumbel(np.random.default_rng(3), (n, 2)), tau)[:, 0]
    for x in (0.05, 0.2, 0.5, 0.8, 0.95):
        cdf = 1.0 / (1.0 + alpha * ((1 - x) / x) ** tau)
        se = math.sqrt(cdf * (1 - cdf) / n)
        assert abs(np.mean(y1 <= x) - cdf) < Z * se, (x, np.mean(y1 <= x), cdf)


def test_relaxed_mean_is_not_pi_but_hard_mean_is():
    rng = np.random.default_rng(5)
    theta = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    n = 200_000
    g = F.sample_gumbel(rng, (n, 4))
    th = np.broadcast_to(theta, (n, 4))
    pi = np.exp(theta)
    se = np.sqrt(pi * (1 - pi) / n)
    hard = F.gumbel_softmax(th, g, 1.0, hard=True).mean(0)
    soft = F.gumbel_softmax(th, g, 1.0).mean(0)
    assert np.all(np.abs(hard - pi) < Z * se)
    assert np.max(np.abs(soft - pi)) > 20 * se.max()       # the relaxation is biased towards uniform
