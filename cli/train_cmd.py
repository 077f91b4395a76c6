"""`minigumbel train`: a thin wrapper that builds a TrainConfig and calls train(); the training options
it shares with `sweep` and `compare` (cli/sweep_cmd.py)."""
from __future__ import annotations

import functools

import click

from minigumbel.schedules import SCHEDULES
from minigumbel.tasks import SELECT_DATASETS, TASKS
from minigumbel.nn import INITS
from minigumbel.optim import OPTIMIZERS
from minigumbel.data import DATASETS
from minigumbel.train import BASELINES, DTYPES, GRADS, SELECT_ESTIMATORS, TASK_DEFAULTS, TRAIN_ESTIMATORS, TrainConfig

from .common import TAU, FilePath, backend_option, same_file, write_json, progress, quiet_option, seed_option, table

POSITIVE = click.FloatRange(min=0.0, min_open=True)


def _default(defaults, key):
    """'[default: X; vae: Y]' for an option whose default depends on the task."""
    vae = TASK_DEFAULTS["vae"][key]
    return f"[default: {defaults[key]}; vae: {vae}]"


def training_options(task, steps, tau, anneal):
    """The options train, sweep and compare share (their defaults differ only in task, steps, τ and anneal).

    Options listed in TASK_DEFAULTS take the task's reference default when not given (the vae
    task: Adam lr 1e-3, batch 100, 3000 steps, τ = max(0.5, exp(−3e-4·t)) every step)."""
    defaults = {"steps": steps, "tau": tau, "anneal": anneal, "tau_min": 0.5, "anneal_rate": 1e-3,
                "anneal_every": 100, "batch_size": 64, "lr": 1e-2}
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
        click.option("--steps", type=click.IntRange(min=1), default=None, help=d("steps")),
        click.option("--batch-size", type=click.IntRange(min=1), default=None, help=d("batch_size")),
        click.option("--lr", type=POSITIVE, default=None, help=f"Learning rate of the optimizer. {d('lr')}"),
        click.option("--optimizer", type=click.Choice(list(OPTIMIZERS)), default="adam", show_default=True),
        click.option("--hidden", type=click.IntRange(min=1), default=32, show_default=True,
                     help="MLP width (pointer tasks; the vae's widths are fixed: 256, 128)."),
        click.option("--init", type=click.Choice(INITS), default="he", show_default=True,
                     help="Initial weights: he (Gaussian, std √(2/fan_in), zero biases) or torch "
                          "(PyTorch's nn.Linear default: weights and biases uniform on ±1/√fan_in)."),
        click.option("--n-items", type=click.IntRange(min=2), default=10, show_default=True,
                     help="Items to point at (the code size K for bottleneck; vae: see -K)."),
        click.option("--latents", "-L", type=click.IntRange(min=1), default=8, show_default=True,
                     help="vae: number of categorical latent variables L."),
        click.option("--classes", "-K", type=click.IntRange(min=2), default=8, show_default=True,
                     help="vae: classes K of each latent."),
        click.option("--samples", type=click.IntRange(min=1), default=1, show_default=True,
                     help="vae: codes drawn per image per step (reinforce --baseline loo averages the "
                          "other codes of the same image when ≥ 2)."),
        click.option("--data", type=click.Choice(DATASETS), default="digits", show_default=True,
                     help="vae: scikit-learn's 8x8 digits (the 'data' extra) or MNIST IDX files in --data-dir."),
        click.option("--data-dir", default=None, metavar="DIR",
                     help="vae --data mnist: folder with train-images-idx3-ubyte and t10k-images-idx3-ubyte (.gz ok)."),
        click.option("--dataset", type=click.Choice(SELECT_DATASETS), default=None,
                     help="select: L2X's synthetic data (Chen et al. 2018, Sec. 4.1) [xor]."),
        click.option("--grad", type=click.Choice(GRADS), default="hand", show_default=True,
                     help="Gradient source: hand-derived backward passes or autograd (NumPy only)."),
        click.option("--dtype", type=click.Choice(DTYPES), default="float64", show_default=True),
        click.option("--eval-every", type=click.IntRange(min=1), default=100, show_default=True,
                     help="Hard evaluation on the held-out set every this many steps."),
        click.option("--eval-size", type=click.IntRange(min=1), default=1000, show_default=True,
                     help="Size of the fixed held-out set (pointer tasks; the vae uses its test set)."),
        click.option("--gr-k", type=click.IntRange(min=1), default=10, show_default=True,
                     help="gumbel-rao, gumbel-rao-total: conditional Gumbel vectors per sample."),
        click.option("--tau-forward", type=TAU, default=None,
                     help="decoupled: forward temperature τ_f (default: τ); --tau is the backward τ_b. "
                          "The forward draws argmax(θ/τ_f + g) ~ Cat(softmax(θ/τ_f)) (Shah et al.)."),
        click.option("--baseline", type=click.Choice(BASELINES), default="none", show_default=True,
                     help="reinforce baseline: none, loo (leave-one-out batch mean) or running (mean)."),
        backend_option, seed_option, quiet_option,
    ]

    def decorate(f):
        @functools.wraps(f)
        def with_task_defaults(**kw):
            task_defaults = TASK_DEFAULTS.get(kw["task"], {})
            left = [key for key in defaults if kw.get(key) is None]
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


# options read by the pointer tasks only, and by the vae only (TrainConfig keeps both sets)
POINTER_ONLY, VAE_ONLY = ("hidden", "n_items", "eval_size"), ("latents", "classes", "samples", "data", "data_dir")


def check_task_options(tasks, grid=()):
    """Refuse an option given (command line, environment or --grid) that none of ``tasks`` reads."""
    ctx = click.get_current_context()
    for key in POINTER_ONLY + VAE_ONLY:
        source = ctx.get_parameter_source(key)
        given = key in grid or (source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT"))
        # the select task reads hidden and eval_size but has 10 features (n_items does not apply)
        if given and all((task == "vae") == (key in POINTER_ONLY) or (task == "select" and key == "n_items")
                         for task in tasks):
            option = "--" + key.replace("_", "-")
            where = "--grid" if key in grid else option
            raise click.BadParameter(("--grid " + option[2:] + " " if key in grid else "")
                                     + f"does not apply to the {'/'.join(tasks)} task "
                                     f"({'pointer tasks' if key in POINTER_ONLY else 'vae'} only)", param_hint=where)
    source = ctx.get_parameter_source("dataset")
    if ("dataset" in grid or (source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT"))) \
            and "select" not in tasks:
        raise click.BadParameter("applies to --task select only", param_hint="--grid" if "dataset" in grid else "--dataset")
    source = ctx.get_parameter_source("data_dir")
    if ("data_dir" in grid or (source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT"))) \
            and "mnist" not in (grid["data"] if "data" in grid else [ctx.params.get("data")]):
        raise click.BadParameter("applies to --data mnist only (the digits come with scikit-learn)",
                                 param_hint="--grid" if "data_dir" in grid else "--data-dir")


# options read by some estimators only (--tau-forward: TrainConfig refuses it for the others)
ESTIMATOR_ONLY = {"gr_k": ("gumbel-rao", "gumbel-rao-total"), "baseline": ("reinforce", "reinforce-pl")}


def check_estimator_options(estimators, grid=()):
    """Refuse --gr-k or --baseline given (command line, environment or --grid) when no estimator reads it."""
    ctx = click.get_current_context()
    for key, owners in ESTIMATOR_ONLY.items():
        source = ctx.get_parameter_source(key)
        given = key in grid or (source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT"))
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
@click.option("--estimator", type=click.Choice(TRAIN_ESTIMATORS + SELECT_ESTIMATORS), default="gumbel", show_default=True,
              help="How the pointer is sampled and differentiated (--task select: the subset estimators "
                   "reinforce-pl, relaxed-topk (its default), st-topk, l2x, soft-topk).")
@training_options(task="argmax", steps=1000, tau=1.0, anneal="constant")
@click.option("--checkpoint", type=FilePath(writable=True), default=None,
              help="Write checkpoints here (atomically, every --checkpoint-every steps and at the end).")
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=None,
              help="Steps between checkpoints [default: --eval-every].")
@click.option("--resume", type=FilePath(), default=None,
              help="Continue from this checkpoint (same config; --steps may grow).")
@click.option("--json", "json_path", type=FilePath(writable=True), default=None,
              help="Write the full history (losses, τ, evaluations) as JSON to this file.")
def train(quiet, json_path, **kw):
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

    if kw["task"] == "select" and click.get_current_context().get_parameter_source("estimator").name == "DEFAULT":
        kw["estimator"] = "relaxed-topk"        # the select task's default: a subset estimator
    check_task_options([kw["task"]])
    check_estimator_options([kw["estimator"]])
    _distinct_outputs(json_path, kw["checkpoint"], kw["resume"])
    config = TrainConfig(**kw)
    run = prepare(config)                 # every input error is raised here, before the progress bar
    with progress(length=config.steps, label=f"{config.task}/{config.estimator}", quiet=quiet,
                  item_show_func=_show) as bar:
        done = [0]

        def on_step(record):
            bar.update(record["step"] - done[0], record)
            done[0] = record["step"]
        history = run_training(run, on_step=on_step)
    _summary(config, history, run.backend.name)        # first: a failed write below does not lose it
    if json_path:
        write_json(json_path, history, indent=1)


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
