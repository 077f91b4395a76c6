"""`minigumbel sample`: Gumbel-max is an exact sample of Cat(π); the relaxed mean is not π."""
from __future__ import annotations

import math

import click

from .common import TAU, backend_option, float_list, json_option, progress, quiet_option, report, seed_option, table

CHUNK = 1 << 18   # draws per batch: bounded memory for any -n


@click.command()
@click.option("--logits", required=True, help="Comma-separated logits θ (use -inf to mask a category), e.g. 1,2,3.")
@click.option("--tau", type=TAU, default=0.5, show_default=True, help="Temperature τ of the relaxed samples, 1e-4 ≤ τ ≤ 1e4.")
@click.option("-n", "--n", "n", type=click.IntRange(min=1), default=100_000, show_default=True,
              help="Number of samples.")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float64", show_default=True,
              help="Floating-point type of the logits and the samples.")
@seed_option
@backend_option
@json_option
@quiet_option
def sample(logits, tau, n, dtype, seed, backend, json_out, quiet):
    """Draw N Gumbel-max samples and N Gumbel-Softmax samples from one set of logits.

    Prints, per category: π = softmax(θ); the frequency of argmax(θ + g) with its standard
    error and a chi-square goodness-of-fit p-value (it is an exact sample of Cat(π)); and the
    mean of the relaxed samples softmax((θ + g)/τ), which is *not* π unless τ → 0.
    """
    import numpy as np

    from minigumbel import functional as F
    from minigumbel.backend import get_backend
    from minigumbel.stats import chisquare

    theta = float_list(logits, "--logits")
    # the documented domain: finite |θ| ≤ 1e30, or -inf (a mask); checked before any cast to float32
    if any(math.isnan(t) or t == math.inf or (math.isfinite(t) and abs(t) > 1e30) for t in theta):
        raise click.BadParameter("logits must be finite with |logit| <= 1e30, or -inf (a mask)",
                                 param_hint="--logits")
    F.check_tau(tau)
    be = get_backend(backend)
    xp = be.xp
    rng = be.rng(seed)
    th = be.asarray(theta, dtype=dtype)
    probs = be.to_numpy(F.softmax(th[None, :], 1.0))[0]
    k = len(theta)
    counts = np.zeros(k, dtype=np.int64)
    ysum = xp.zeros(k, dtype=dtype)
    chunks = [min(CHUNK, n - i) for i in range(0, n, CHUNK)]
    with progress(chunks, label="sampling", quiet=quiet or len(chunks) < 4) as bar:
        for m in bar:
            g = F.sample_gumbel(rng, (m, k), dtype)                   # (m, K)
            thm = xp.broadcast_to(th, (m, k))
            idx = F.gumbel_max(thm, g)                                 # (m,)
            counts += be.to_numpy(xp.bincount(idx, minlength=k))
            ysum += F.gumbel_softmax(thm, g, tau).sum(axis=0)
    freq = counts / n
    se = np.sqrt(probs * (1 - probs) / n)
    ymean = be.to_numpy(ysum) / n
    stat, df, p = chisquare(counts, probs)
    report(json_out, {"logits": theta, "tau": tau, "n": n, "seed": seed, "backend": be.name, "dtype": dtype,
                      "probs": probs.tolist(), "gumbel_max_freq": freq.tolist(), "freq_se": se.tolist(),
                      "relaxed_mean": ymean.tolist(), "chi2": stat, "df": df, "p_value": p},
           lambda: _print(theta, probs, freq, se, ymean, tau, stat, df, p, n, seed, be.name))


def _print(theta, probs, freq, se, ymean, tau, stat, df, p, n, seed, backend):
    k = len(theta)
    rows = [[i, f"{theta[i]:g}", f"{probs[i]:.5f}", f"{freq[i]:.5f} ± {se[i]:.5f}", f"{ymean[i]:.5f}"]
            for i in range(k)]
    click.echo(table(rows, ["k", "logit", "softmax π", "Gumbel-max freq ± s.e.", f"mean relaxed y (τ={tau:g})"]))
    click.echo(f"\nchi-square vs π: {stat:.2f} on {df} df, p = {p:.3g}  ({n} samples, seed {seed}, {backend})")
    click.echo("argmax(θ + g) is an exact sample of Cat(π); the relaxed mean approaches π only as τ → 0.")
