"""Small statistics needed by the CLI, examples and tests, written out so scipy is not a dependency."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["chi2_sf", "chisquare", "EULER_GAMMA"]

EULER_GAMMA = 0.5772156649015329   # mean of the standard Gumbel distribution


def _gammainc_lower_series(a: float, x: float) -> float:
    # P(a, x) = e^{-x} x^a / Γ(a+1) · Σ_{n≥0} x^n / ((a+1)(a+2)…(a+n)); converges fast for x < a + 1
    term = total = 1.0 / a
    n = 0
    while abs(term) > abs(total) * 1e-16 and n < 10_000:
        n += 1
        term *= x / (a + n)
        total += term
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gammainc_upper_cf(a: float, x: float) -> float:
    # Q(a, x) = e^{-x} x^a / Γ(a) · 1/(x+1−a− 1·(1−a)/(x+3−a− 2·(2−a)/(x+5−a− …))), modified Lentz
    tiny = 1e-300
    b = x + 1.0 - a
    c, d = 1.0 / tiny, 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        h *= d * c
        if abs(d * c - 1.0) < 1e-16:
            break
    return h * math.exp(-x + a * math.log(x) - math.lgamma(a))


def chi2_sf(x: float, df: int) -> float:
    """P(X ≥ x) for X ~ χ²(df): the regularised upper incomplete gamma Q(df/2, x/2)."""
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}")
    if x <= 0:
        return 1.0
    a, h = df / 2.0, x / 2.0
    if h < a + 1.0:
        return max(0.0, 1.0 - _gammainc_lower_series(a, h))
    return min(1.0, _gammainc_upper_cf(a, h))


def chisquare(counts, probs):
    """Pearson's goodness-of-fit statistic and p-value of ``counts`` against ``probs``.

    Categories with probability 0 are left out (a count there is reported as p = 0: impossible).
    Returns (statistic, df, p_value).
    """
    counts = np.asarray(counts, dtype=np.float64)
    probs = np.asarray(probs, dtype=np.float64)
    n = counts.sum()
    support = probs > 0
    if np.any(counts[~support] > 0):
        return math.inf, int(support.sum()) - 1, 0.0
    expected = n * probs[support]
    stat = float(np.sum((counts[support] - expected) ** 2 / expected))
    df = int(support.sum()) - 1
    return stat, df, (chi2_sf(stat, df) if df >= 1 else 1.0)
