"""`minigumbel estimators`: bias and variance of every gradient estimator against the exact gradient.

For one problem g(θ) = E_{d~Cat(softmax θ)}[f(d)] with K categories, draw --samples independent
estimates per estimator × τ and compare their mean with the exact gradient J(π)F (enumeration).
Every number except the timing is a function of --seed alone: each (estimator, τ, k) cell has its
own random stream, seeded from (seed, estimator name, τ, k), so choosing fewer estimators or
temperatures does not change the others.
"""
from __future__ import annotations

import time
import zlib

import click

from .common import backend_option, echo_json, float_list, json_flag, progress, quiet_option, seed_option, table

PROBLEMS = ("linear", "quadratic", "cubic", "pointer")
DEFAULT_ESTIMATORS = "reinforce,st,st-gumbel,gumbel-rao,reinmax,softmax,gumbel"
CHUNK = 2000     # estimates per batch (the progress bar ticks per batch)


def make_problem(kind, k, seed, xp):
    """(logits θ (K,), f) for a problem drawn from ``seed``; f(z) -> (value (...), ∂f/∂z (..., K)).

    linear: f = a·z.  quadratic: f = ½ zᵀAz + a·z (A symmetric).  cubic: f = (a·z)³.
    pointer: K items with payloads P (K, 4); f = ‖Pᵀz − P_t‖², the squared error of the payload
    read through the pointer z against the target item t's payload (quadratic in z).
    """
    import numpy as np
    rng = np.random.default_rng([seed, PROBLEMS.index(kind)])
    theta, a = rng.normal(size=k), rng.normal(size=k)
    A = rng.normal(size=(k, k)) / 2
    P, t = rng.normal(size=(k, 4)), int(rng.integers(k))
    theta, a, A, P = (xp.asarray(v) for v in (theta, a, A + A.T, P))
    if kind == "linear":
        return theta, lambda z: (z @ a, xp.broadcast_to(a, z.shape) + 0.0)
    if kind == "quadratic":
        return theta, lambda z: (0.5 * ((z @ A) * z).sum(-1) + z @ a, z @ A + a)
    if kind == "cubic":
        return theta, lambda z: ((z @ a) ** 3, 3.0 * (z @ a)[..., None] ** 2 * a)
    def pointer(z):
        r = z @ P - P[t]                                                   # (..., 4) residual
        return (r * r).sum(-1), 2.0 * r @ P.T
    return theta, pointer


def _seed_for(seed, name, tau, gr_k):
    """One integer seed per table cell (an int suits both NumPy's and CuPy's default_rng)."""
    import numpy as np
    key = [seed, zlib.crc32(name.encode()), int(round(tau * 1_000_000)), gr_k]
    return int(np.random.SeedSequence(key).generate_state(1, dtype=np.uint64)[0])


def measure(name, theta, f, exact, tau, samples, seed, be, gr_k=None, tick=None):
    """One table cell: statistics of ``samples`` estimates of ``name`` at τ against ``exact``."""
    import numpy as np
    from minigumbel.estimators import estimate_samples
    rng = be.rng(_seed_for(seed, name, tau, gr_k or 0))
    opts = {"k": gr_k} if gr_k else {}
    grads, elapsed = [], 0.0
    for start in range(0, samples, CHUNK):
        m = min(CHUNK, samples - start)
        be.synchronize()
        t0 = time.perf_counter()
        _, g = estimate_samples(name, theta, f, rng, tau, m, **opts)      # (m, K)
        be.synchronize()
        elapsed += time.perf_counter() - t0
        grads.append(be.to_numpy(g))
        if tick is not None:
            tick(m)
    g = np.concatenate(grads)                                             # (samples, K)
    mean = g.mean(0)
    # a deterministic estimator (softmax) repeats one vector: report 0, not the round-off of var()
    var = 0.0 if np.all(g == g[0]) else float(g.var(0, ddof=1).sum())
    denom = np.linalg.norm(mean) * np.linalg.norm(exact)
    return {"estimator": name if not gr_k else f"gumbel-rao(k={gr_k})", "tau": tau,
            "bias_norm": float(np.linalg.norm(mean - exact)), "bias_se": float(np.sqrt(var / samples)),
            "variance": float(var), "cosine": float(mean @ exact / denom) if denom > 0 else float("nan"),
            "time_us": 1e6 * elapsed / samples}


@click.command()
@click.option("--problem", type=click.Choice(PROBLEMS), default="quadratic", show_default=True,
              help="The function f of the one-hot sample (see the help text above).")
@click.option("--k", "k", type=click.IntRange(min=2, max=1000), default=5, show_default=True,
              help="Number of categories K.")
@click.option("--tau", "taus", default="0.1,0.5,1,2", show_default=True, help="Comma-separated temperatures τ > 0.")
@click.option("--samples", type=click.IntRange(min=2), default=10_000, show_default=True,
              help="Gradient estimates drawn per estimator and τ.")
@click.option("--estimators", "names", default=DEFAULT_ESTIMATORS, show_default=True,
              help="Comma-separated estimators (see minigumbel.estimators.ESTIMATORS).")
@click.option("--gr-k", "gr_k", default="1,10,100", show_default=True,
              help="Comma-separated numbers of conditional Gumbel samples for gumbel-rao (one row each).")
@seed_option
@backend_option
@json_flag
@quiet_option
def estimators(problem, k, taus, samples, names, gr_k, seed, backend, as_json, quiet):
    """Bias norm (± its Monte-Carlo standard error), total variance, cosine of the mean estimate
    to the exact gradient, and time per estimate, for each estimator × τ.

    Problems: linear f = a·z; quadratic f = ½zᵀAz + a·z; cubic f = (a·z)³; pointer f = ‖Pᵀz − P_t‖²,
    with θ, a, A, P drawn from --seed. The s.e. is sqrt(total variance / samples): a bias norm
    of that size is indistinguishable from 0. ReinMax is defined for τ ≥ 1 only (rows skipped).
    """
    import numpy as np
    from minigumbel.backend import get_backend
    from minigumbel.estimators import ESTIMATORS, check_k, estimate

    tau_list = float_list(taus, "--tau")
    if any(not (np.isfinite(t) and t > 0) for t in tau_list):
        raise click.BadParameter(f"temperatures must be finite and > 0, got {taus!r}", param_hint="--tau")
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in ESTIMATORS]
    if unknown or not chosen:
        raise click.BadParameter(f"unknown estimator(s) {', '.join(unknown) or '(none given)'}; choose from "
                                 f"{', '.join(ESTIMATORS)}", param_hint="--estimators")
    try:
        ks = [check_k(int(v)) for v in gr_k.split(",") if v.strip()]
    except ValueError:
        ks = []
    if not ks:
        raise click.BadParameter(f"expected comma-separated integers >= 1, got {gr_k!r}", param_hint="--gr-k")

    be = get_backend(backend)
    theta, f = make_problem(problem, k, seed, be.xp)
    exact = be.to_numpy(estimate("exact", theta, f, be.rng(seed))[1])    # J(π)F by enumeration

    cells, skipped = [], []
    for tau in tau_list:
        for name in chosen:
            if name == "reinmax" and tau < 1:
                skipped.append({"estimator": name, "tau": tau, "reason": "reinmax is defined for tau >= 1"})
                continue
            for kk in (ks if name == "gumbel-rao" else [None]):
                cells.append((name, tau, kk))
    rows = []
    with progress(length=len(cells) * samples, label="estimating", quiet=quiet) as bar:
        for name, tau, kk in cells:
            rows.append(measure(name, theta, f, exact, tau, samples, seed, be, kk, getattr(bar, "update", None)))

    if as_json:
        echo_json({"problem": problem, "k": k, "seed": seed, "samples": samples, "backend": be.name,
                   "logits": be.to_numpy(theta).tolist(), "exact_grad": exact.tolist(),
                   "rows": rows, "skipped": skipped})
        return
    click.echo(f"problem {problem}, K = {k}, seed {seed}, {samples} estimates per row, backend {be.name}")
    click.echo(f"logits θ      = [{', '.join(f'{v:+.3f}' for v in be.to_numpy(theta))}]")
    click.echo(f"exact ∇θ E[f] = [{', '.join(f'{v:+.3f}' for v in exact)}]   (‖∇‖ = {np.linalg.norm(exact):.4f})\n")
    body = [[r["estimator"], f"{r['tau']:g}", f"{r['bias_norm']:.4f} ± {r['bias_se']:.4f}", f"{r['variance']:.4g}",
             f"{r['cosine']:+.4f}", f"{r['time_us']:.2f}"] for r in rows]
    click.echo(table(body, ["estimator", "τ", "bias norm ± s.e.", "total variance", "cos(mean, exact)", "µs/estimate"]))
    if skipped:
        click.echo("\nskipped: reinmax at τ < 1 (the rule is defined for τ ≥ 1)")
    click.echo("\nbias norm = ‖mean estimate − exact‖; s.e. = sqrt(total variance / samples) is the size of the "
               "Monte-Carlo error of the mean:\na bias norm of about that size is indistinguishable from 0. "
               "Only µs/estimate depends on the machine.")
