"""`minigumbel plot FIGURE [--out PATH]`: draw one of the figures of minigumbel.figures.

The data come from minigumbel.figures (deterministic given --seed); the drawing from
minigumbel.plotting (matplotlib, the 'plot' extra, imported only when a figure is drawn).
"""
from __future__ import annotations

import os

import click

from minigumbel.lab import PROBLEMS

from .common import FilePath, backend_option, quiet_option, same_file, seed_option

FIGURES = ("temperature", "leakage", "estimators", "schedules", "training", "vae", "vae-gradients", "orders",
           "sort-matrices", "subset-estimators")
# the size options and the figures they apply to; KWARG: the data function's argument where it differs
SIZE_OPTIONS = {"--steps": ("leakage", "schedules", "vae", "sort-matrices"),
                "--samples": ("temperature", "estimators", "orders", "subset-estimators"),
                "--seeds": ("leakage",)}
KWARG = {("--samples", "temperature"): "n_samples", ("--seeds", "leakage"): "n_seeds"}


class MissingExtra(click.ClickException):
    """matplotlib is not installed: exit 2 with the command that installs it."""
    exit_code = 2


def _size(ctx, param, value):
    if value is None:
        return None
    from minigumbel.plotting import parse_size
    try:
        return parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.argument("figure", type=click.Choice(FIGURES), metavar="FIGURE")
@click.option("--out", type=FilePath(writable=True), default=None,
              help="Output file (PNG or SVG)  [default: FIGURE.png, or FIGURE.svg with --format svg, in the "
                   "current folder].")
@click.option("--format", "fmt", type=click.Choice(["png", "svg"]), default=None,
              help="Image format [default: from the --out suffix, else png].")
@click.option("--from", "run_json", type=click.Path(exists=True, dir_okay=False),
              help="training: the file written by `minigumbel train --json PATH`; vae-gradients: the "
                   "file written by `minigumbel estimators --problem vae --json PATH`.")
@click.option("--size", callback=_size, default=None, metavar="WxH",
              help="Image size in pixels, e.g. 1200x800 [default: per figure].")
@click.option("--dpi", type=click.IntRange(min=50, max=600), default=100, show_default=True,
              help="Dots per inch (text scale; --size stays the pixel size).")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Training steps per run (leakage, vae) or steps shown (schedules). [default: leakage 1500; schedules 3000; vae 3000]")
@click.option("--samples", type=click.IntRange(min=2), default=None,
              help="Samples per τ (temperature) or estimates per point (estimators). [default: temperature 20000; estimators 10000]")
@click.option("--seeds", "n_seeds", type=click.IntRange(min=1), default=None,
              help="leakage: number of runs per estimator, seeds --seed, --seed+1, …. [default: 10]")
@click.option("--problem", type=click.Choice(PROBLEMS), default=None,
              help="estimators: the lab problem [quadratic]; cubic shows ST-Gumbel's bias as τ → 0.")
@seed_option
@backend_option
@quiet_option
def plot(figure, out, fmt, run_json, size, dpi, steps, samples, n_seeds, problem, seed, backend, quiet):
    """Draw FIGURE and save it to --out (default FIGURE.png in the current folder); the path written
    is printed (to stderr; --quiet: nothing).

    \b
    temperature  Gumbel-Softmax samples for π = (0.1, 0.2, 0.3, 0.4) at τ = 0.1, 0.5, 1, 10
    leakage      soft vs hard held-out loss on the bottleneck task: softmax, gumbel, st-gumbel
                 (the runs of `minigumbel compare`: 10 seeds x 1500 steps, about 15 s)
    estimators   bias (± s.e.), cosine, variance and MSE of each gradient estimator vs τ
                 (quadratic problem; --problem)
    schedules    the temperature schedules over training steps
    training     the curves of a run saved by `minigumbel train --json run.json` (--from)
    vae-gradients  cosine, bias, variance and MSE of each estimator vs the exact VAE gradient
                 along training, every training run (--from the file of `minigumbel
                 estimators --problem vae --seeds N --json PATH`)
    subset-estimators  bias and variance of the estimators for k = 3 of n = 8 items vs τ
                 (reinforce-pl, relaxed-topk, st-topk, l2x, soft-topk; `minigumbel estimators --problem subset`)
    vae          the categorical VAE on the 8x8 digits, trained by every estimator: test -ELBO
                 curves, reconstructions from hard and soft codes, prior samples (7 runs of
                 3000 steps: a few minutes on 2 cores; needs the 'data' extra)
    orders       bias, variance, MSE, cosine of the order estimators vs τ (n = 5 items; the
                 numbers of `minigumbel estimators --problem order`)
    sort-matrices  soft vs hard permutation matrices of a sort-task run (gumbel-sinkhorn, N = 8)
                 at steps 0, 20, 100, 500
    """
    try:
        import matplotlib  # noqa: F401  (only to fail early, before any computing)
    except ImportError:
        raise MissingExtra("the plot command needs matplotlib; install it with: "
                           "pip install 'minigumbel[plot]'") from None
    from minigumbel import figures, plotting

    if out is None:
        ctx = click.get_current_context()
        param = next(p for p in ctx.command.params if p.name == "out")
        out = param.type.convert(f"{figure}.{fmt or 'png'}", param, ctx)    # the same checks as a given --out
    if fmt is None:
        fmt = "svg" if os.fspath(out).lower().endswith(".svg") else "png"
    if figure == "training" and run_json is None:
        raise click.BadParameter("the training figure needs --from run.json "
                                 "(written by `minigumbel train --json run.json`)", param_hint="--from")
    if figure == "vae-gradients" and run_json is None:
        raise click.BadParameter("the vae-gradients figure needs --from FILE (written by "
                                 "`minigumbel estimators --problem vae --json FILE`)", param_hint="--from")
    if run_json is not None and same_file(out, run_json):
        raise click.UsageError(f"--out and --from name the same file {run_json}; the image would overwrite "
                               "the run it is drawn from: give --out its own path")
    if figure not in ("training", "vae-gradients") and run_json is not None:
        raise click.BadParameter("--from applies to the training and vae-gradients figures only", param_hint="--from")
    given = {"--steps": steps, "--samples": samples, "--seeds": n_seeds}
    for opt, value in given.items():
        if value is not None and figure not in SIZE_OPTIONS[opt]:
            raise click.BadParameter(f"{opt} applies to the {' and '.join(SIZE_OPTIONS[opt])} figures only",
                                     param_hint=opt)
    kw = {KWARG.get((opt, figure), opt[2:]): v for opt, v in given.items() if v is not None}
    if figure == "temperature" and samples is not None:     # the noise and ~5 arrays like it: (samples, 4)
        from minigumbel.memory import check_fits
        check_fits([(6 * samples * len(figures.PROBS) * 8, [("--samples", samples, 20_000)])], "the temperature figure")
    if problem is not None:
        if figure != "estimators":
            raise click.BadParameter("--problem applies to the estimators figure only", param_hint="--problem")
        kw["problem"] = problem
    if figure in ("leakage", "vae"):      # a missing backend fails before the progress bar
        from minigumbel.backend import get_backend
        get_backend(backend)
    if figure in ("training", "vae-gradients"):
        try:
            data = figures.figure_data(figure, run=run_json)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--from") from None
    elif figure == "leakage":
        data = _leakage_with_progress(seed, backend, quiet, {"n_seeds": 10, **kw})
    elif figure == "vae":
        data = _vae_with_progress(seed, backend, quiet, kw)
    elif figure in ("orders", "sort-matrices"):
        from minigumbel import figures_orders
        fn = figures_orders.orders_data if figure == "orders" else figures_orders.sort_matrices_data
        data = fn(seed=seed, **kw)
    else:
        data = figures.figure_data(figure, seed=seed, backend=backend, **kw)
    plotting.draw(figure, data, out, fmt=fmt, size=size, dpi=dpi)
    if not quiet:
        click.echo(f"wrote {out}", err=True)


def _leakage_with_progress(seed, backend, quiet, kw):
    from minigumbel import figures
    from .common import progress
    steps = kw.get("steps", figures.LEAKAGE_CONFIG["steps"])
    runs = len(figures.LEAKAGE_ESTIMATORS) * kw["n_seeds"]
    with progress(length=steps * runs, label="training", quiet=quiet) as bar:
        done = {}

        def on_step(name, seed, rec):
            bar.update(rec["step"] - done.get((name, seed), 0))
            done[(name, seed)] = rec["step"]
        from minigumbel.provenance import blas_threads
        with blas_threads(1):             # tiny matrices: one BLAS thread is ~3x faster here, same numbers
            return figures.leakage_data(seed=seed, backend=backend, on_step=on_step, **kw)


def _vae_with_progress(seed, backend, quiet, kw):
    from minigumbel import figures
    from .common import progress
    steps = kw.get("steps", 3000)
    with progress(length=steps * len(figures.VAE_RUNS), label="training", quiet=quiet) as bar:
        done = {}

        def on_step(name, seed, rec):
            bar.update(rec["step"] - done.get(name, 0))
            done[name] = rec["step"]
        return figures.vae_data(seed=seed, backend=backend, on_step=on_step, **kw)
