"""`minigumbel train`: a thin wrapper that builds a TrainConfig and calls train(); the training options
it shares with `sweep` and `compare` (cli/sweep_cmd.py)."""
from __future__ import annotations

import functools
import os
import time

import click

from minigumbel.schedules import SCHEDULES
from minigumbel.tasks import SELECT_DATASETS, TASKS
from minigumbel.nn import INITS
from minigumbel.optim import OPTIMIZERS
from minigumbel.data import DATASETS
from minigumbel.train import BASELINES, DTYPES, GRADS, SELECT_ESTIMATORS, TASK_DEFAULTS, TRAIN_ESTIMATORS, TrainConfig
from minigumbel.tasks.sort import SORT_ESTIMATORS

from .common import TAU, FilePath, backend_option, emit_json, human_output, json_option, progress, quiet_option, same_file, seed_option, table

# every estimator `train` accepts: the one-choice ones, and those of the sort task (TrainConfig pairs them)
ALL_ESTIMATORS = TRAIN_ESTIMATORS + tuple(e for e in SORT_ESTIMATORS if e not in TRAIN_ESTIMATORS)
ALL_ESTIMATORS += tuple(e for e in SELECT_ESTIMATORS if e not in ALL_ESTIMATORS)
POSITIVE = click.FloatRange(min=0.0, min_open=True)


def _default(defaults, key):
    """'[default: X; vae: Y; sort: Z]' for an option whose default depends on the task."""
    tasks = "".join(f"; {t}: {d[key]}" for t, d in TASK_DEFAULTS.items() if key in d)
    return f"[default: {defaults[key]}{tasks}]"


def training_options(task, steps, tau, anneal):
    """The options train, sweep and compare share (their defaults differ only in task, steps, τ and anneal).

    Options listed in TASK_DEFAULTS take the task's reference default when not given (the vae
    task: Adam lr 1e-3, batch 100, 3000 steps, τ = max(0.5, exp(−3e-4·t)) every step)."""
    defaults = {"steps": steps, "tau": tau, "anneal": anneal, "tau_min": 0.5, "anneal_rate": 1e-3,
                "anneal_every": 100, "batch_size": 64, "lr": 1e-2, "samples": 1, "baseline": "none", "init": "he",
                "estimator": "gumbel"}
    d = functools.partial(_default, defaults)
    opts = [
        click.option("--task", type=click.Choice(list(TASKS)), default=task, show_default=True,
                     help="Pointer task, or vae (a categorical VAE on handwritten digits)."),
        click.option("--tau", type=TAU, default=None, help=f"(Initial) temperature τ, 1e-4 ≤ τ ≤ 1e4. {d('tau')}"),
        click.option("--anneal", type=click.Choice(SCHEDULES), default=None,
                     help=f"Temperature schedule (exp: Jang et al. 2017). {d('anneal')}"),
        click.option("--tau-min", type=TAU, default=None, help=f"Final τ of an annealing schedule. {d('tau_min')}"),
        click.option("--anneal-rate", type=click.FloatRange(min=0.0), default=None,
                     help=f"exp schedule: τ = max(τ_min, τ0·exp(−rate·t)). {d('anneal_rate')}"),
        click.option("--anneal-every", type=click.IntRange(min=1), default=None,
                     help=f"exp schedule: update τ every this many steps. {d('anneal_every')}"),
        click.option("--steps", type=click.IntRange(min=1), default=None,
                     help=f"Training steps (optimizer updates). {d('steps')}"),
        click.option("--batch-size", type=click.IntRange(min=1), default=None,
                     help=f"Examples per training step (vae: images). {d('batch_size')}"),
        click.option("--lr", type=POSITIVE, default=None, help=f"Learning rate of the optimizer. {d('lr')}"),
        click.option("--optimizer", type=click.Choice(list(OPTIMIZERS)), default="adam", show_default=True,
                     help="Update rule of the parameters (minigumbel.optim)."),
        click.option("--hidden", type=click.IntRange(min=1), default=32, show_default=True,
                     help="MLP width (pointer tasks; the vae's widths are fixed: 256, 128)."),
        click.option("--init", type=click.Choice(INITS), default=None,
                     help="Initial weights: he (Gaussian, std √(2/fan_in), zero biases), torch "
                          "(PyTorch's nn.Linear default: weights and biases uniform on ±1/√fan_in) or glorot "
                          f"(Glorot-uniform weights, zero biases; Mena et al.'s released code). {d('init')}"),
        click.option("--n-items", type=click.IntRange(min=2), default=10, show_default=True,
                     help="Items to point at (the code size K for bottleneck; vae: see -K)."),
        click.option("--latents", "-L", type=click.IntRange(min=1), default=8, show_default=True,
                     help="vae: number of categorical latent variables L."),
        click.option("--classes", "-K", type=click.IntRange(min=2), default=8, show_default=True,
                     help="vae: classes K of each latent."),
        click.option("--samples", type=click.IntRange(min=1), default=None,
                     help="vae: codes drawn per image per step (reinforce --baseline loo averages the "
                          "other codes of the same image when ≥ 2); sort: noise samples per list "
                          f"(reinforce-pl's loo baseline: over them). {d('samples')}"),
        click.option("--sinkhorn-iters", type=click.IntRange(min=1), default=20, show_default=True,
                     help="sort: Sinkhorn rounds (Mena et al.'s released code: 10)."),
        click.option("--data", type=click.Choice(DATASETS), default="digits", show_default=True,
                     help="vae: scikit-learn's 8x8 digits (the 'data' extra) or MNIST IDX files in --data-dir."),
        click.option("--data-dir", default=None, metavar="DIR",
                     help="vae --data mnist: folder with train-images-idx3-ubyte and t10k-images-idx3-ubyte (.gz ok)."),
        click.option("--dataset", type=click.Choice(SELECT_DATASETS), default=None,
                     help="select: L2X's synthetic data (Chen et al. 2018, Sec. 4.1). [default: xor]"),
        click.option("--grad", type=click.Choice(GRADS), default="hand", show_default=True,
                     help="Gradient source: hand-derived backward passes or autograd (NumPy only)."),
        click.option("--dtype", type=click.Choice(DTYPES), default="float64", show_default=True,
                     help="Floating-point type of the parameters and the computation."),
        click.option("--eval-every", type=click.IntRange(min=1), default=100, show_default=True,
                     help="Hard evaluation on the held-out set every this many steps."),
        click.option("--eval-size", type=click.IntRange(min=1), default=1000, show_default=True,
                     help="Size of the fixed held-out set (pointer tasks; the vae uses its test set)."),
        click.option("--gr-k", type=click.IntRange(min=1), default=10, show_default=True,
                     help="gumbel-rao, gumbel-rao-total: conditional Gumbel vectors per sample."),
        click.option("--tau-forward", type=TAU, default=None,
                     help="decoupled: forward temperature τ_f (default: τ); --tau is the backward τ_b. "
                          "The forward draws argmax(θ/τ_f + g) ~ Cat(softmax(θ/τ_f)) (Shah et al.)."),
        click.option("--baseline", type=click.Choice(BASELINES), default=None,
                     help="reinforce baseline: none, loo (leave-one-out batch mean) or running (mean); "
                          f"reinforce-pl (sort): loo is over a list's noise samples. {d('baseline')}"),
        backend_option, seed_option, quiet_option,
    ]

    def decorate(f):
        @functools.wraps(f)
        def with_task_defaults(**kw):
            task_defaults = TASK_DEFAULTS.get(kw["task"], {})
            left = [key for key in defaults if key in kw and kw[key] is None]   # compare has no --estimator
            # per task, the defaults of the options not given (sweep/compare --grid task=... cells)
            click.get_current_context().meta["minigumbel.task_defaults"] = {
                t: {key: TASK_DEFAULTS.get(t, {}).get(key, defaults[key]) for key in left} for t in TASKS}
            for key in left:
                kw[key] = task_defaults.get(key, defaults[key])
            return f(**kw)
        for opt in reversed(opts):
            with_task_defaults = opt(with_task_defaults)
        return with_task_defaults
    return decorate


# options read by the pointer tasks only, and by the vae only (TrainConfig keeps both sets); samples:
# the vae and sort; sinkhorn_iters: sort only
POINTER_ONLY, VAE_ONLY = ("hidden", "n_items", "eval_size"), ("latents", "classes", "data", "data_dir")
OWNED = {"samples": ("vae", "sort"), "sinkhorn_iters": ("sort",), "dataset": ("select",)}


def check_task_options(tasks, grid=()):
    """Refuse an option given (command line, environment or --grid) that none of ``tasks`` reads."""
    ctx = click.get_current_context()
    for key in POINTER_ONLY + VAE_ONLY:
        given = _given(ctx, key, grid)
        # the select task reads hidden and eval_size but has 10 features (n_items does not apply)
        if given and all((task == "vae") == (key in POINTER_ONLY) or (task == "select" and key == "n_items")
                         for task in tasks):
            option = "--" + key.replace("_", "-")
            where = "--grid" if key in grid else option
            raise click.BadParameter(("--grid " + option[2:] + " " if key in grid else "")
                                     + f"does not apply to the {'/'.join(tasks)} task "
                                     f"({'pointer tasks' if key in POINTER_ONLY else 'vae'} only)", param_hint=where)
    for key, owners in OWNED.items():
        given = _given(ctx, key, grid)
        if given and not set(tasks) & set(owners):
            option = "--" + key.replace("_", "-")
            raise click.BadParameter(("--grid " + option[2:] + " " if key in grid else "")
                                     + f"does not apply to the {'/'.join(tasks)} task ({'/'.join(owners)} only)",
                                     param_hint="--grid" if key in grid else option)
    if _given(ctx, "data_dir", grid) and "mnist" not in (grid["data"] if "data" in grid else [ctx.params.get("data")]):
        raise click.BadParameter("applies to --data mnist only (the digits come with scikit-learn)",
                                 param_hint="--grid" if "data_dir" in grid else "--data-dir")


def _given(ctx, key, grid=()):
    """Whether the user gave option ``key``: on the command line, in the environment or in --grid."""
    source = ctx.get_parameter_source(key)
    return key in grid or (source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT"))


# options read by some estimators only (--tau-forward: TrainConfig refuses it for the others)
ESTIMATOR_ONLY = {"gr_k": ("gumbel-rao", "gumbel-rao-total"), "baseline": ("reinforce", "reinforce-pl")}


def check_estimator_options(estimators, grid=()):
    """Refuse --gr-k or --baseline given (command line, environment or --grid) when no estimator reads it."""
    ctx = click.get_current_context()
    for key, owners in ESTIMATOR_ONLY.items():
        given = _given(ctx, key, grid)
        if given and not set(estimators) & set(owners):
            option = "--" + key.replace("_", "-")
            raise click.BadParameter(("--grid " + option[2:] + " " if key in grid else "")
                                     + f"applies to {' and '.join(owners)} only, not {'/'.join(estimators)}",
                                     param_hint="--grid" if key in grid else option)


def _show(record):
    if record is None:
        return ""
    ev = record["eval"]
    if "test_nelbo_hard" in ev:
        return f"-ELBO {record['loss']:.4g}  τ {record['tau']:.3g}  test hard {ev['test_nelbo_hard']:.4g}"
    key = "accuracy" if "accuracy" in ev else "hard_loss"
    label = "acc" if key == "accuracy" else "hard"
    return f"loss {record['loss']:.4g}  τ {record['tau']:.3g}  {label} {ev[key]:.4g}"


@click.command()
@click.option("--estimator", type=click.Choice(ALL_ESTIMATORS), default=None,
              help="How the pointer is sampled and differentiated (the sort task: gumbel-sinkhorn, "
                   "sinkhorn, neuralsort, stochastic-neuralsort, reinforce-pl; the select task: reinforce-pl, "
                   "relaxed-topk, st-topk, l2x, soft-topk).  [default: gumbel; sort: gumbel-sinkhorn; "
                   "select: relaxed-topk]")
@training_options(task="argmax", steps=1000, tau=1.0, anneal="constant")
@click.option("--checkpoint", type=FilePath(writable=True), default=None,
              help="Write checkpoints here (atomically, every --checkpoint-every steps and at the end).")
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=None,
              help="Steps between checkpoints [default: --eval-every].")
@click.option("--resume", type=FilePath(), default=None,
              help="Continue from this checkpoint (same config; --steps may grow).")
@json_option
def train(quiet, json_out, **kw):
    """Train a pointer task (or the digits VAE) through a discrete choice; evaluate it hard.

    A network scores N items and points at one through the estimator's relaxed or sampled
    pointer; evaluation always uses the hard one-hot argmax on a fixed held-out set. With no
    flags: the argmax task on NumPy (reaches ≥ 95% hard accuracy in seconds). --task vae: a
    categorical VAE on 8x8 digits (L latents of K classes), evaluated with hard codes d ~ q.
    --task select: L2X feature selection (pick k of 10 features, --dataset), evaluated with the
    top-k mask of the selector's scores.

    \b
    On a GPU:  minigumbel train --backend cupy --tau 0.5
    Resume:    minigumbel train --checkpoint run.npz --resume run.npz
    """
    from minigumbel.train import prepare, run_training

    check_task_options([kw["task"]])
    check_estimator_options([kw["estimator"]])
    _distinct_outputs(None if json_out == "-" else json_out, kw["checkpoint"], kw["resume"])
    config = TrainConfig(**kw)
    from minigumbel.memory import check_fits, train_terms
    check_fits(train_terms(config), "one training run")      # sizes that cannot fit: before allocating
    run = prepare(config)                 # every input error is raised here, before the progress bar
    interrupted, started = None, time.time()
    with progress(length=config.steps, label=f"{config.task}/{config.estimator}", quiet=quiet,
                  item_show_func=_show) as bar:
        done = [0]

        def on_step(record):
            bar.update(record["step"] - done[0], record)
            done[0] = record["step"]
        try:
            history = run_training(run, on_step=on_step)
        except KeyboardInterrupt as exc:
            interrupted = exc
    if interrupted is not None:           # after the progress bar has ended its line
        _interrupted(config, run, json_out, interrupted, started)
    with human_output(json_out):
        _summary(config, history, run.backend.name)
    emit_json(json_out, history, indent=1)      # the full history: losses, τ, evaluations


def _interrupted(config, run, json_out, exc, started):
    """Ctrl-C or SIGTERM: write the history so far to --json, say in one line where the run stands
    and how to resume it, and exit 128 + the signal (130 for SIGINT, 143 for SIGTERM)."""
    import sys
    hist = run.history
    line = f"interrupted at step {hist.get('steps_done', run.step)}"
    ck, at = config.checkpoint, run.checkpoint_step
    # the file says which step it holds: a save may have ended just before the signal arrived
    # (its step not yet noted); a file older than this run is not this run's
    if ck and (at is not None or (os.path.exists(ck) and os.path.getmtime(ck) >= started)):
        from minigumbel.checkpoint import load_checkpoint
        try:
            at = load_checkpoint(ck)["step"]
        except (OSError, ValueError):
            pass
    if ck and at is not None:
        line += f"; checkpoint {ck} holds step {at}; resume with `--resume {ck}`"
    elif ck:
        line += f"; no checkpoint written yet ({ck} is written every {config.checkpoint_every or config.eval_every} steps)"
    else:
        line += "; no checkpoint (--checkpoint FILE makes a run resumable)"
    if json_out is not None:
        try:
            emit_json(json_out, hist, indent=1)
        except OSError as err:            # a full disk: still say where the run stands, and exit 128 + signal
            line += f"; the history so far could not be written: {err}"
        else:
            line += "; the history so far is in " + ("standard output" if json_out == "-" else str(json_out))
    click.echo(line, err=True)
    sys.exit(128 + getattr(exc, "signum", 2))


def _distinct_outputs(json_path, checkpoint, resume):
    """--json must not name the file of --checkpoint or --resume (it would overwrite a checkpoint);
    --checkpoint and --resume may be one file (continue a run in place)."""
    for option, other in (("--checkpoint", checkpoint), ("--resume", resume)):
        if json_path and other and same_file(json_path, other):
            raise click.UsageError(f"--json and {option} name the same file {json_path}; the history "
                                   "would overwrite the checkpoint: give --json its own path")


def _summary(config, history, backend_name):
    final = history["final"]
    if config.task == "vae":
        return _vae_summary(config, history, backend_name)
    if config.task == "sort":
        return _sort_summary(config, history, backend_name)
    if config.task == "select":
        return _select_summary(config, history, backend_name)
    task = TASKS[config.task]
    loss_name = task.loss_name
    tail = history["loss"][-100:]
    rows = []
    if "accuracy" in final:
        rows.append(["hard accuracy (argmax pointer)", f"{final['accuracy']:.4f}"])
    rows += [[f"hard {loss_name} (argmax pointer)", f"{final['hard_loss']:.5g}"],
             [f"soft {loss_name} ({config.estimator} pointer)", f"{final['soft_loss']:.5g}"],
             [f"training loss (mean of last {len(tail)} steps)", f"{sum(tail) / len(tail):.5g}"],
             ["final τ", f"{history['tau'][-1]:.4g}"]]
    steps = len(history["loss"])
    click.echo(f"minigumbel train: {config.task} task, estimator {config.estimator}, {steps} steps, "
               f"{backend_name} {config.dtype}, grad {config.grad}, {history['seconds']:.1f} s")
    click.echo(table(rows, ["metric (held-out set of %d)" % config.eval_size, "value"]))


def _vae_summary(config, history, backend_name):
    from minigumbel.tasks.vae import EVAL_SAMPLES, IW_SAMPLES
    f = history["final"]
    tail = history["loss"][-100:]
    rows = [[f"test -ELBO, hard codes d ~ q ({EVAL_SAMPLES} per image)", f"{f['test_nelbo_hard']:.3f}"],
            [f"test objective ({config.estimator}'s training code + KL; not a bound)", f"{f['test_nelbo_soft']:.3f}"],
            [f"test -log p(x), importance-weighted (S = {IW_SAMPLES})", f"{f['test_iw_nll']:.3f}"],
            ["train -ELBO, hard codes", f"{f['train_nelbo']:.3f}"],
            ["test KL(q || uniform)", f"{f['kl']:.3f}"],
            ["test reconstruction term, hard codes", f"{f['test_recon_hard']:.3f}"],
            ["independent-pixel baseline (test NLL)", f"{f['pixel_baseline_nll']:.3f}"],
            [f"training loss (mean of last {len(tail)} steps)", f"{sum(tail) / len(tail):.3f}"],
            ["final τ", f"{history['tau'][-1]:.4g}"]]
    click.echo(f"minigumbel train: vae on {config.data} (L = {config.latents}, K = {config.classes}), estimator "
               f"{config.estimator}, {len(history['loss'])} steps, {backend_name} {config.dtype}, grad {config.grad}, "
               f"{history['seconds']:.1f} s")
    click.echo(table(rows, ["metric (nats per image)", "value"]))


def _sort_summary(config, history, backend_name):
    f = history["final"]
    tail = history["loss"][-100:]
    hard = "matching(log α)" if config.estimator in ("gumbel-sinkhorn", "sinkhorn") else "argsort of the scores"
    rows = [[f"proportion of wrong positions (hard: {hard})", f"{f['prop_wrong']:.4f}"],
            ["proportion of lists with any wrong position", f"{f['prop_any_wrong']:.4f}"],
            ["Kendall's τ, predicted vs true ranks (mean over lists)", f"{f['kendall_tau']:.4f}"],
            ["hard sort_mse (the list sorted by the hard order)", f"{f['hard_loss']:.5g}"],
            [f"soft sort_mse ({config.estimator} matrix, one noise sample)", f"{f['soft_loss']:.5g}"],
            [f"training loss (mean of last {len(tail)} steps)", f"{sum(tail) / len(tail):.5g}"]]
    click.echo(f"minigumbel train: sort task (N = {config.n_items}), estimator {config.estimator}, "
               f"{len(history['loss'])} steps, {backend_name} {config.dtype}, grad {config.grad}, "
               f"{history['seconds']:.1f} s")
    click.echo(table(rows, ["metric (held-out set of %d lists)" % config.eval_size, "value"]))


def _select_summary(config, history, backend_name):
    from minigumbel.tasks.select import SELECT_K
    f, dataset = history["final"], config.dataset or "xor"
    k = SELECT_K[dataset]
    tail = history["loss"][-100:]
    rows = [[f"relevant features selected (top-{k} mask)", f"{f['selected']:.4f}"],
            ["median rank of the relevant features (of 10)", f"{f['median_rank']:.3f}"],
            [f"predictor accuracy, hard top-{k} mask", f"{f['accuracy']:.4f}"],
            [f"predictor accuracy, {config.estimator}'s training mask", f"{f['soft_accuracy']:.4f}"],
            ["Bayes accuracy (max(p, 1 - p))", f"{f['bayes_accuracy']:.4f}"],
            ["hard bce / soft bce", f"{f['hard_loss']:.4f} / {f['soft_loss']:.4f}"],
            [f"training loss (mean of last {len(tail)} steps)", f"{sum(tail) / len(tail):.4f}"],
            ["final τ", f"{history['tau'][-1]:.4g}"]]
    click.echo(f"minigumbel train: select task ({dataset}, k = {k} of 10 features), estimator {config.estimator}, "
               f"{len(history['loss'])} steps, {backend_name} {config.dtype}, grad {config.grad}, {history['seconds']:.1f} s")
    click.echo(table(rows, ["metric (held-out set of %d)" % config.eval_size, "value"]))
