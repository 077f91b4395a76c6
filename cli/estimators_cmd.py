"""`minigumbel estimators`: bias and variance of every gradient estimator against the exact gradient.

The computation lives in minigumbel/lab.py; every number except the timing is a function of --seed
alone (one random stream per estimator × τ × k cell), so choosing fewer estimators or temperatures
does not change the others.
"""
from __future__ import annotations

import click

from minigumbel.lab import PROBLEMS, plan
from minigumbel.lab import table as table_of

from .common import backend_option, choice_list, float_list, json_option, progress, quiet_option, report, seed_option, table

DEFAULT_ESTIMATORS = "reinforce,st,st-gumbel,gumbel-rao,reinmax,softmax,gumbel,gst-1.0,gst-p,decoupled"


@click.command()
@click.option("--problem", type=click.Choice(PROBLEMS + ("vae", "order", "subset")), default="quadratic", show_default=True,
              help="The function f of the one-hot sample, vae, order (a permutation) or subset (k items; see above).")
@click.option("--k", "k", type=click.IntRange(min=2, max=1000), default=5, show_default=True,
              help="Number of categories K.")
@click.option("--tau", "taus", default="0.1,0.5,1,2", show_default=True, help="Comma-separated temperatures τ, each in [1e-4, 1e4].")
@click.option("--samples", type=click.IntRange(min=2), default=None,
              help="Gradient estimates drawn per estimator and τ  [default: 10000; vae: 200].")
@click.option("--estimators", "names", default=DEFAULT_ESTIMATORS,
              help="Comma-separated estimators (see minigumbel.estimators.ESTIMATORS). "
                   f"[default: {DEFAULT_ESTIMATORS.replace(',', ', ')}]")     # spaces: wrapped between names
@click.option("--gr-k", "gr_k", default="1,10,100", show_default=True,
              help="Comma-separated numbers of conditional Gumbel samples for gumbel-rao and "
                   "gumbel-rao-total (one row each; vae: one value, default 10).")
@click.option("--baseline", type=click.Choice(["loo", "none"]), default="loo", show_default=True,
              help="REINFORCE's baseline: leave-one-out over each batch of estimates, or none (row label "
                   "reinforce(loo) or reinforce(b=0)).")
@click.option("--choose", type=click.IntRange(min=1), default=None,
              help="subset: the number k of items chosen out of --k [2]; k <= 4, --k <= 8.")
@click.option("--latents", type=click.IntRange(min=1), default=None, help="vae: latents L. [default: 2]")
@click.option("--classes", type=click.IntRange(min=2), default=None, help="vae: classes K [8]; K^L <= 4096.")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="vae: training steps. [default: 2000]")
@click.option("--every", type=click.IntRange(min=1), default=None, help="vae: measure every this many steps. [default: 500]")
@click.option("--images", type=click.IntRange(min=1), default=None, help="vae: test images measured on. [default: 32]")
@click.option("--train-estimator", default=None, help="vae: the estimator that trains the model. [default: st-gumbel]")
@click.option("--seeds", "n_seeds", type=click.IntRange(min=1), default=None,
              help="vae: training runs, with seeds --seed, --seed+1, …. [default: 1]")
@seed_option
@backend_option
@json_option
@quiet_option
def estimators(problem, k, taus, samples, names, gr_k, baseline, choose, latents, classes, steps, every, images,
               train_estimator, n_seeds, seed, backend, json_out, quiet):
    """Bias norm (± its Monte-Carlo standard error), per-sample variance, mean squared error
    (MSE = bias² + variance), cosine of the mean estimate to the exact gradient, and time per
    estimate, for each estimator × τ. Estimates are summed as they are drawn (memory does not
    grow with --samples).

    Problems: linear f = a·z; quadratic f = ½zᵀAz + a·z; cubic f = (a·z)³; pointer f = ‖Pᵀz − P_t‖²,
    with θ, a, A, P drawn from --seed. The s.e. is sqrt(variance / samples): a bias norm within
    3 s.e. of 0 is marked "n.d." (not detected; it may still be biased by less). ‖mean‖/‖∇‖ near 0 is a vanishing gradient (softmax
    at small τ), whatever its cosine. Straight-through Gumbel (st-gumbel, gumbel-rao)
    stays biased as τ → 0 unless f is linear or quadratic: try --problem cubic --tau 0.2,0.05,0.02.
    ReinMax is computed at every τ; its authors recommend τ ≥ 1 (it is second-order, and exact for
    quadratic f, at τ = 1).

    --problem order: ∇θ E_{o~PL(θ)}[f(o)] for a Plackett-Luce order of --k ≤ 6 items, exact by
    enumerating the k! orders (f: the sorting loss; docs/orders.md), for reinforce-pl, neuralsort,
    stochastic-neuralsort, gumbel-sinkhorn, st-gumbel-sinkhorn, sinkhorn (20 Sinkhorn rounds).

    --problem vae: train the digits VAE (L latents of K classes) with --train-estimator and, every
    --every steps, compare each estimator with the exact gradient of the expected reconstruction wrt
    the encoder logits on --images test images (all K^L codes enumerated). Rows per checkpoint step;
    bias is shown relative to ‖∇‖.

    --problem subset: k = --choose items out of n = --k without replacement (Plackett-Luce), f the
    payload error ‖Pᵀz − Σ_T P‖² of a target set T; the exact gradient enumerates every ordered
    prefix. Estimators (default all): reinforce-pl, relaxed-topk, st-topk, l2x, soft-topk.
    """
    from minigumbel.backend import get_backend
    from minigumbel.estimators import ESTIMATORS, check_k

    tau_list = float_list(taus, "--tau")
    from minigumbel.functional import check_tau
    try:
        for t in tau_list:
            check_tau(t)
    except ValueError as exc:
        raise click.BadParameter(str(exc).replace("tau must", "each temperature must"), param_hint="--tau") from None
    if problem == "order":
        return _order(k, tau_list, samples or 10_000, names, seed, backend, json_out, quiet)
    if problem == "subset":
        return _subset(k, choose, tau_list, names, samples or 10_000, seed, backend, json_out, quiet, baseline,
                       {"--latents": latents, "--classes": classes, "--steps": steps, "--every": every,
                        "--images": images, "--train-estimator": train_estimator, "--seeds": n_seeds})
    if choose is not None:
        raise click.BadParameter("--choose applies to --problem subset only", param_hint="--choose")
    chosen = choice_list(names, "--estimators", list(ESTIMATORS))
    try:
        ks = [check_k(int(v)) for v in gr_k.split(",")]     # an empty item is an error too
    except ValueError:
        ks = []
    if not ks:
        raise click.BadParameter(f"expected comma-separated integers >= 1, got {gr_k!r}", param_hint="--gr-k")

    vae_opts = {"latents": latents, "classes": classes, "steps": steps, "every": every, "images": images,
                "train_estimator": train_estimator, "seeds": n_seeds}
    if problem == "vae":
        if click.get_current_context().get_parameter_source("k").name in ("COMMANDLINE", "ENVIRONMENT"):
            raise click.BadParameter("--k does not apply to --problem vae (its categories: --classes)", param_hint="--k")
        return _vae(chosen, tau_list, ks, samples or 200, seed, backend, json_out, quiet, baseline,
                    **{key: v for key, v in vae_opts.items() if v is not None})
    given = [f"--{key.replace('_', '-')}" for key, v in vae_opts.items() if v is not None]
    if given:
        raise click.BadParameter(f"{', '.join(given)} appl{'y' if len(given) > 1 else 'ies'} to --problem vae only",
                                 param_hint=given[0])
    samples = samples or 10_000
    be = get_backend(backend)
    cells, _ = plan(chosen, tau_list, ks)
    with progress(length=len(cells) * samples, label="estimating", quiet=quiet) as bar:
        result = table_of(problem, k, seed, chosen, tau_list, samples, be, ks, bar.update, baseline)
    report(json_out, result, lambda: _print(result, problem, k, seed, samples, be.name))


def _print(result, problem, k, seed, samples, backend):
    import numpy as np
    rows, exact = result["rows"], np.array(result["exact_grad"])
    click.echo(f"problem {problem}, K = {k}, seed {seed}, {samples} estimates per row, backend {backend}")
    click.echo(f"logits θ      = [{', '.join(f'{v:+.3f}' for v in result['logits'])}]")
    click.echo(f"exact ∇θ E[f] = [{', '.join(f'{v:+.3f}' for v in exact)}]   (‖∇‖ = {np.linalg.norm(exact):.4f})\n")
    click.echo(lab_table(rows))
    click.echo("\n" + LAB_NOTE + " Only µs/estimate depends on the machine.")


LAB_NOTE = ("bias = ‖mean estimate − exact‖ ± its s.e. = sqrt(variance / samples); n.d.: not detected (within 3 s.e. "
            "of 0;\nsmaller biases are possible). variance = Σ_k Var[ĝ_k] and MSE = E‖ĝ − ∇‖² = bias² + variance, "
            "both of one estimate.")


def lab_cells(row, scale=1.0, digits=4):
    """The bias, variance, MSE, cosine and norm-ratio cells of a lab row (minigumbel.lab's keys);
    ``scale`` divides bias (and s.e.) by it and variance and MSE by its square (relative to ‖∇‖)."""
    b, se = row["bias_norm"] / scale, row["bias_se"] / scale
    mark = " n.d." if row["bias_norm"] <= 3 * row["bias_se"] else "     "
    return [f"{b:.{digits}f} ± {se:.{digits}f}{mark}", f"{row['variance'] / scale ** 2:.4g}",
            f"{row['mse'] / scale ** 2:.4g}", f"{row['cosine']:+.{digits}f}", f"{row['norm_ratio']:.3f}"]


LAB_HEADERS = ["bias ± s.e.", "variance", "MSE", "cos(mean, exact)", "‖mean‖/‖∇‖"]


def lab_table(rows):
    """The table of ``minigumbel estimators`` for lab rows (minigumbel.lab's row keys)."""
    body = [[r["estimator"], f"{r['tau']:g}", *lab_cells(r), f"{r['time_us']:.2f}"] for r in rows]
    return table(body, ["estimator", "τ", *LAB_HEADERS, "µs/estimate"])


def _vae(names, taus, ks, samples, seed, backend, json_out, quiet, baseline, **kw):
    """`--problem vae`: the gradient quality of each estimator along a VAE's training (lab_vae)."""
    from minigumbel.lab_vae import gradient_quality
    from minigumbel.train import TRAIN_ESTIMATORS
    if kw.get("train_estimator", "st-gumbel") not in TRAIN_ESTIMATORS:
        raise click.BadParameter(f"choose one of {', '.join(TRAIN_ESTIMATORS)}", param_hint="--train-estimator")
    if click.get_current_context().get_parameter_source("gr_k") == click.core.ParameterSource.DEFAULT:
        ks = [10]                          # the toy problems' default 1,10,100 is three full VAE runs' worth
    if len(ks) > 1:
        raise click.BadParameter("--problem vae takes one k", param_hint="--gr-k")
    if "exact" in names:
        raise click.BadParameter("exact is what the vae rows are measured against", param_hint="--estimators")
    from minigumbel.backend import get_backend
    from minigumbel.lab_vae import _codes
    get_backend(backend)                   # a missing backend, and K^L too large: before the progress bar
    try:
        _codes(kw.get("latents", 2), kw.get("classes", 8))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--problem vae") from None
    steps, every = kw.get("steps", 2000), kw.get("every", 500)
    kw.setdefault("images", 32)
    cells = len(names) * len(taus) * (steps // every + 1 + (steps % every > 0)) * kw.get("seeds", 1)
    try:
        with progress(length=cells * samples, label="vae gradients", quiet=quiet) as bar:
            r = gradient_quality(names, taus, samples=samples, gr_k=ks[0], seed=seed, backend=backend,
                                 baseline=baseline, tick=bar.update, **kw)
    except ValueError as exc:              # K^L too large, data missing: one Error line
        raise click.BadParameter(str(exc), param_hint="--problem vae") from None
    report(json_out, r, lambda: _print_vae(r, samples))


def _print_vae(r, samples):
    seeds = r["seeds"]
    which = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}–{seeds[-1]}"
    click.echo(f"vae: L = {r['latents']} latents × K = {r['classes']} classes ({r['codes']} codes enumerated), "
               f"trained by {r['train_estimator']}, {which}; {r['images']} test images, {samples} estimates "
               f"per row of ∂E[−log p(x|z)]/∂θ (all images' encoder logits)")
    norm = {(run["seed"], s): n for run in r["runs"] for s, n in zip(r["steps"], run["exact_norm"])}
    body = [[row["seed"], row["step"], row["estimator"], f"{row['tau']:g}",
             *lab_cells(row, norm[(row["seed"], row["step"])], digits=3)] for row in r["rows"]]
    click.echo(table(body, ["seed", "step", "estimator", "τ", "bias/‖∇‖ ± s.e.", "variance/‖∇‖²", "MSE/‖∇‖²",
                            "cos(mean, exact)", "‖mean‖/‖∇‖"]))
    click.echo("\n" + LAB_NOTE + "\nBias and its s.e. are relative to ‖∇‖ (per seed and step), variance and MSE to ‖∇‖².")
    for run in r["runs"]:
        click.echo(f"seed {run['seed']}: ‖∇‖ per step: " + ", ".join(f"{s}: {n:.3f}" for s, n in zip(r["steps"], run["exact_norm"]))
                   + "; mean E[−log p(x|z)] per image: " + ", ".join(f"{v:.2f}" for v in run["recon"]))


def _order(k, taus, samples, names, seed, backend, json_out, quiet):
    """`--problem order`: estimators of the gradient of an expectation over Plackett-Luce orders (lab_order)."""
    import numpy as np
    from minigumbel.lab_order import MAX_N, ORDER_LAB_ESTIMATORS, order_table
    ctx = click.get_current_context()
    for key in ("latents", "classes", "steps", "every", "images", "train_estimator", "gr_k", "n_seeds", "baseline"):
        if ctx.get_parameter_source(key).name in ("COMMANDLINE", "ENVIRONMENT"):
            raise click.BadParameter("does not apply to --problem order", param_hint="--" + key.replace("_", "-"))
    if backend not in ("numpy", "auto"):
        raise click.BadParameter("--problem order runs on numpy only", param_hint="--backend")
    if not 2 <= k <= MAX_N:
        raise click.BadParameter(f"--problem order enumerates the k! orders: k must be in [2, {MAX_N}], got {k}",
                                 param_hint="--k")
    given = ctx.get_parameter_source("names").name in ("COMMANDLINE", "ENVIRONMENT")
    chosen = choice_list(names, "--estimators", list(ORDER_LAB_ESTIMATORS)) if given else list(ORDER_LAB_ESTIMATORS)
    with progress(length=len(chosen) * len(taus) * samples, label="estimating", quiet=quiet) as bar:
        result = order_table(k, seed, chosen, taus, samples, tick=bar.update)
    def show():
        exact = np.array(result["exact_grad"])
        click.echo(f"problem order, n = {k} items ({k}! orders enumerated), seed {seed}, "
                   f"{samples} estimates per row, {result['n_iters']} Sinkhorn rounds")
        click.echo(f"logits θ      = [{', '.join(f'{v:+.3f}' for v in result['logits'])}]")
        click.echo(f"values x      = [{', '.join(f'{v:.3f}' for v in result['values'])}]")
        click.echo(f"exact ∇θ E[f] = [{', '.join(f'{v:+.4f}' for v in exact)}]   (‖∇‖ = {np.linalg.norm(exact):.4f})\n")
        click.echo(lab_table(result["rows"]))
        click.echo("\nf(o) = mean_r ((Q_o x)_r − sort_desc(x)_r)². " + LAB_NOTE + " Only µs/estimate depends on "
                   "the machine.")
    report(json_out, result, show)


def _subset(n, choose, taus, names, samples, seed, backend, json_out, quiet, baseline, others):
    """`--problem subset`: the subset estimators against the exact gradient (minigumbel.lab_subset)."""
    from minigumbel.backend import get_backend
    from minigumbel.lab_subset import SUBSET_ESTIMATOR_NAMES, check_sizes, subset_table

    given = [opt for opt, v in others.items() if v is not None]
    ctx = click.get_current_context()
    if ctx.get_parameter_source("gr_k").name in ("COMMANDLINE", "ENVIRONMENT"):
        given.insert(0, "--gr-k")
    if given:
        raise click.BadParameter(f"{given[0]} does not apply to --problem subset", param_hint=given[0])
    k = choose or 2
    try:
        check_sizes(n, k)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--k/--choose") from None
    default = ctx.get_parameter_source("names").name == "DEFAULT"
    chosen = list(SUBSET_ESTIMATOR_NAMES) if default else choice_list(names, "--estimators", list(SUBSET_ESTIMATOR_NAMES))
    be = get_backend(backend)
    with progress(length=len(chosen) * len(taus) * samples, label="estimating", quiet=quiet) as bar:
        result = subset_table(n, k, seed, chosen, taus, samples, be, bar.update, baseline)
    report(json_out, result, lambda: _subset_text(result, n, k, seed, samples, be.name))


def _subset_text(result, n, k, seed, samples, backend_name):
    import numpy as np
    exact = np.array(result["exact_grad"])
    click.echo(f"problem subset, k = {k} of n = {n} items ({result['orders']} ordered prefixes enumerated), "
               f"seed {seed}, {samples} estimates per row, backend {backend_name}")
    click.echo(f"logits θ      = [{', '.join(f'{v:+.3f}' for v in result['logits'])}]; target set "
               f"{{{', '.join(map(str, result['target']))}}}; E[f] = {result['expected_f']:.4f}")
    click.echo(f"exact ∇θ E[f] = [{', '.join(f'{v:+.3f}' for v in exact)}]   (‖∇‖ = {np.linalg.norm(exact):.4f})\n")
    click.echo(lab_table(result["rows"]))
    click.echo("\n" + LAB_NOTE + " Only µs/estimate depends on the machine.")
