"""`minigumbel train`: a thin wrapper that builds a TrainConfig and calls train(); the training options
it shares with `sweep` and `compare` (cli/sweep_cmd.py)."""
from __future__ import annotations

import click

from minigumbel.schedules import SCHEDULES
from minigumbel.tasks import TASKS
from minigumbel.optim import OPTIMIZERS
from minigumbel.train import BASELINES, DTYPES, GRADS, TRAIN_ESTIMATORS, TrainConfig

from .common import FilePath, backend_option, write_json, progress, quiet_option, seed_option, table

POSITIVE = click.FloatRange(min=0.0, min_open=True)


def training_options(task, steps, tau, anneal):
    """The options train, sweep and compare share (their defaults differ only in task, steps, τ and anneal)."""
    opts = [
        click.option("--task", type=click.Choice(list(TASKS)), default=task, show_default=True, help="Pointer task."),
        click.option("--tau", type=POSITIVE, default=tau, show_default=True, help="(Initial) temperature τ > 0."),
        click.option("--anneal", type=click.Choice(SCHEDULES), default=anneal, show_default=True,
                     help="Temperature schedule (exp: Jang et al. 2017)."),
        click.option("--tau-min", type=POSITIVE, default=0.5, show_default=True, help="Final τ of an annealing schedule."),
        click.option("--anneal-rate", type=click.FloatRange(min=0.0), default=1e-3, show_default=True,
                     help="exp schedule: τ = max(τ_min, τ0·exp(−rate·t))."),
        click.option("--anneal-every", type=click.IntRange(min=1), default=100, show_default=True,
                     help="exp schedule: update τ every this many steps."),
        click.option("--steps", type=click.IntRange(min=1), default=steps, show_default=True),
        click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True),
        click.option("--lr", type=POSITIVE, default=1e-2, show_default=True, help="Learning rate of the optimizer."),
        click.option("--optimizer", type=click.Choice(list(OPTIMIZERS)), default="adam", show_default=True),
        click.option("--hidden", type=click.IntRange(min=1), default=32, show_default=True, help="MLP width."),
        click.option("--n-items", type=click.IntRange(min=2), default=10, show_default=True,
                     help="Items to point at (the code size K for bottleneck)."),
        click.option("--grad", type=click.Choice(GRADS), default="hand", show_default=True,
                     help="Gradient source: hand-derived backward passes or autograd (NumPy only)."),
        click.option("--dtype", type=click.Choice(DTYPES), default="float64", show_default=True),
        click.option("--eval-every", type=click.IntRange(min=1), default=100, show_default=True,
                     help="Hard evaluation on the held-out set every this many steps."),
        click.option("--eval-size", type=click.IntRange(min=1), default=1000, show_default=True,
                     help="Size of the fixed held-out set."),
        click.option("--gr-k", type=click.IntRange(min=1), default=10, show_default=True,
                     help="gumbel-rao: conditional Gumbel vectors per sample."),
        click.option("--baseline", type=click.Choice(BASELINES), default="none", show_default=True,
                     help="reinforce baseline: none, loo (leave-one-out batch mean) or running (mean)."),
        backend_option, seed_option, quiet_option,
    ]

    def decorate(f):
        for opt in reversed(opts):
            f = opt(f)
        return f
    return decorate


def _show(record):
    if record is None:
        return ""
    ev = record["eval"]
    key = "accuracy" if "accuracy" in ev else "hard_loss"
    label = "acc" if key == "accuracy" else "hard"
    return f"loss {record['loss']:.4g}  τ {record['tau']:.3g}  {label} {ev[key]:.4g}"


@click.command()
@click.option("--estimator", type=click.Choice(TRAIN_ESTIMATORS), default="gumbel", show_default=True,
              help="How the pointer is sampled and differentiated.")
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
    """Train a pointer task through a discrete choice and evaluate it with the hard pointer.

    A network scores N items and points at one through the estimator's relaxed or sampled
    pointer; evaluation always uses the hard one-hot argmax on a fixed held-out set. With no
    flags: the argmax task on NumPy (reaches ≥ 95% hard accuracy in seconds).

    \b
    On a GPU:  minigumbel train --backend cupy --tau 0.5
    Resume:    minigumbel train --checkpoint run.npz --resume run.npz
    """
    from minigumbel.train import prepare, run_training

    config = TrainConfig(**kw)
    run = prepare(config)                 # every input error is raised here, before the progress bar
    with progress(length=config.steps, label=f"{config.task}/{config.estimator}", quiet=quiet,
                  item_show_func=_show) as bar:
        done = [0]

        def on_step(record):
            bar.update(record["step"] - done[0], record)
            done[0] = record["step"]
        history = run_training(run, on_step=on_step)
    if json_path:
        write_json(json_path, history, indent=1)
    _summary(config, history, run.backend.name)


def _summary(config, history, backend_name):
    final = history["final"]
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
