"""`minigumbel sweep` (grids of training runs) and `minigumbel compare` (a preset of it).

Both build configs with minigumbel.sweep.expand, run them with minigumbel.sweep.run_grid (this
process, local worker processes, or a Dask cluster) and print minigumbel.sweep_summary's table.
"""
from __future__ import annotations

import math

import click

from .common import FilePath, choice_list, json_option, progress, report, same_file, table
from .train_cmd import check_estimator_options, check_task_options, training_options


def _estimators():
    from .train_cmd import ALL_ESTIMATORS                # the library's lists, read at run time
    return ALL_ESTIMATORS


def grid_options(f):
    opts = [
        click.option("--grid", "grid_items", multiple=True, metavar="KEY=V1,V2,...",
                     help="Vary a training option over these values (repeatable; the grid is the product). "
                          "KEY is an option name, e.g. estimator, tau, lr, n-items."),
        click.option("--seeds", type=click.IntRange(min=1), default=10, show_default=True,
                     help="Seeds per grid cell: --seed, --seed+1, ..."),
        click.option("--out", type=FilePath(writable=True), default=None,
                     help="Append one JSON line per run here; running the same command again skips the "
                          "runs already in the file (resume after Ctrl-C or kill -9)."),
        click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Local worker processes, BLAS pinned to one thread each [default: the usable CPUs]."),
        click.option("--scheduler", default=None, metavar="ADDRESS",
                     help="Run on an existing Dask distributed cluster, e.g. tcp://host:8786 "
                          "(needs the 'cluster' extra)."),
        click.option("--scheduler-timeout", type=click.FloatRange(min=0.0, min_open=True, max=3600.0), default=10.0,
                     show_default=True, metavar="SECONDS",
                     help="Seconds to wait for the --scheduler to answer before giving up."),
        click.option("--retry-failed", is_flag=True, help="Run again the runs recorded with an error in --out."),
        click.option("--metrics", default=None, metavar="M1,M2",
                     help="Columns of the table [default: every metric the runs return]."),
        json_option,
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


@click.command()
@click.option("--estimator", default=None,
              help="Estimator of every run (or vary it: --grid estimator=softmax,gumbel).  [default: gumbel; "
                   "sort: gumbel-sinkhorn]")
@training_options(task="argmax", steps=1000, tau=1.0, anneal="constant")
@grid_options
@click.pass_context
def sweep(ctx, **kw):
    """Run a grid of training runs and summarize each cell over seeds.

    Every run appends one JSON line to --out (config, final metrics, wall time, versions); the
    same command again runs only what is missing. Per cell: the median of each metric with a 95%
    interval for the median, and how many seeds reach the task's target.

    \b
    minigumbel sweep --task bottleneck --grid estimator=softmax,gumbel,st-gumbel \\
        --grid tau=0.5,1,2 --seeds 10 --out runs.jsonl
    """
    _choice(kw["estimator"], "--estimator", _estimators())
    _run(ctx, "sweep", kw, {})


@click.command()
@click.option("--estimators", default="softmax,gumbel,st-gumbel", show_default=True,
              help="Comma-separated estimators (see `minigumbel train --help`; --task select: all five "
                   "subset estimators by default).")
@training_options(task="bottleneck", steps=1500, tau=2.0, anneal="linear")
@grid_options
@click.pass_context
def compare(ctx, estimators, **kw):
    """Each estimator over seeds: soft-train loss next to hard-eval loss (a preset of `sweep`).

    "soft" is the loss of the estimator's own training-time pointer (softmax weights, a
    Gumbel-Softmax sample, ...) and "hard" the loss of the one-hot argmax pointer, both on the same
    held-out set. Deterministic softmax can pass information through the soft weights that the
    hard pointer cannot carry (ratio >> 1); Gumbel noise at a low enough τ prevents it (ratio ≈ 1).
    """
    if kw["task"] == "select" and ctx.get_parameter_source("estimators").name == "DEFAULT":
        from minigumbel.train import SELECT_ESTIMATORS
        estimators = ",".join(SELECT_ESTIMATORS)
    names = choice_list(estimators, "--estimators", _estimators())
    _run(ctx, "compare", {**kw, "estimator": names[0]}, {"estimator": names})


def _choice(value, name, choices):
    if value not in choices:
        raise click.BadParameter(f"unknown {value!r}; choose from {', '.join(choices)}", param_hint=name)


def _grid(ctx, kw, preset):
    from minigumbel.sweep import parse_grid
    try:
        grid = parse_grid(kw["grid_items"])
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--grid") from None
    for key in grid:
        if key in preset:
            raise click.BadParameter(f"{key!r} is already varied by --{key}s", param_hint="--grid")
        source = ctx.get_parameter_source(key)
        if source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT"):
            raise click.BadParameter(f"{key!r} is given both as --{key.replace('_', '-')} and in --grid",
                                     param_hint="--grid")
    return {**preset, **grid}


def _run(ctx, command, kw, preset):
    from minigumbel.sweep import expand, run_grid
    from minigumbel.tasks import TASKS
    from minigumbel.train import TrainConfig

    grid = _grid(ctx, kw, preset)
    check_task_options(grid.get("task", [kw["task"]]), grid)
    check_estimator_options(grid.get("estimator", [kw["estimator"]]), grid)
    tau_f = kw.get("tau_forward")
    if tau_f is not None and (not math.isfinite(tau_f) or "decoupled" not in grid.get("estimator", [kw["estimator"]])):
        raise click.BadParameter(f"must be finite, and applies to the decoupled estimator only (got {tau_f!r})",
                                 param_hint="--tau-forward")
    if kw["metrics"] is not None:                  # the names are checked against the runs' metrics later
        items = [t.strip() for t in kw["metrics"].split(",")]
        if "" in items:
            raise click.BadParameter(f"expected comma-separated metric names, got {kw['metrics']!r}",
                                     param_hint="--metrics")
    json_out = kw.get("json_out")
    if kw["out"] and json_out and json_out != "-" and same_file(json_out, kw["out"]):
        raise click.UsageError(f"--json and --out name the same file {json_out}; the summary would overwrite "
                               "the runs recorded there: give --json its own path")
    if kw["scheduler"] is not None and ctx.get_parameter_source("workers").name == "COMMANDLINE":
        raise click.BadParameter("give --workers or --scheduler, not both", param_hint="--scheduler")
    if kw["scheduler"] is not None and not kw["scheduler"].strip():
        raise click.BadParameter("an address is required, e.g. tcp://host:8786", param_hint="--scheduler")
    if kw["scheduler"] is None and ctx.get_parameter_source("scheduler_timeout").name == "COMMANDLINE":
        raise click.BadParameter("applies with --scheduler only", param_hint="--scheduler-timeout")
    fields = set(TrainConfig.__dataclass_fields__)
    base = {k: v for k, v in kw.items() if k in fields}
    from minigumbel.memory import available_bytes, check_fits, grid_terms, train_terms
    from minigumbel.sweep import default_workers
    n_cells = math.prod(len(v) for v in grid.values())
    available = available_bytes()
    # every run's config and record stay in memory until the table: count them before building any
    check_fits(grid_terms(n_cells * kw["seeds"], n_cells, kw["seeds"]), "the sweep's configs and records", available)
    workers = kw["workers"] or default_workers()
    if kw["scheduler"] is None and workers > default_workers():
        if not kw["quiet"]:
            click.echo(f"--workers {workers} is more than the {default_workers()} CPUs this process may use; "
                       f"running {default_workers()} worker processes", err=True)
        workers = default_workers()
    seeds = range(kw["seed"], kw["seed"] + kw["seeds"])
    try:
        configs = expand(base, grid, seeds, ctx.meta.get("minigumbel.task_defaults"))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--grid" if grid else "--estimator") from None
    seeds = list(seeds)
    if kw["scheduler"] is None and available is not None:     # each local worker runs one config at a time
        for c in configs[::kw["seeds"]]:                         # one per cell: the seed changes no size
            check_fits(train_terms(c), f"one run on each of {workers} workers" if workers > 1 else "one run",
                       available // max(1, min(workers, len(configs))))
    from minigumbel.backend import get_backend
    # a missing backend fails before the progress bar (on a Dask cluster the workers' own matters)
    for name in grid.get("backend", [kw["backend"]]) if kw["scheduler"] is None else []:
        get_backend(name)
    # so does a data set the vae runs cannot load (scikit-learn missing, no MNIST files), as in train
    if "vae" in grid.get("task", [kw["task"]]) and kw["scheduler"] is None:
        from minigumbel.data import load_dataset
        for data in grid.get("data", [kw["data"]]):
            for folder in grid.get("data_dir", [kw["data_dir"]]) if data == "mnist" else [None]:
                load_dataset(data, folder)
    cells = " × ".join(f"{len(v)} {k}" for k, v in grid.items())
    label = f"{command}: {cells + ' × ' if cells else ''}{len(seeds)} seeds"
    with progress(length=len(configs), label=label, quiet=kw["quiet"],
                  item_show_func=lambda r: r and _describe(r, grid)) as bar:
        started = []

        def on_result(record, done_before):
            if not started:
                started.append(1)
                bar.update(done_before)
            bar.update(1, record)
        counts = {"ran": 0}

        def count(record, done_before):
            counts["ran"] += 1
            on_result(record, done_before)
        try:
            records, info = run_grid(configs, out=kw["out"], workers=workers, scheduler=kw["scheduler"],
                                     on_result=count, retry_failed=kw["retry_failed"],
                                     scheduler_timeout=kw["scheduler_timeout"])
        except KeyboardInterrupt as exc:
            interrupted = exc
        else:
            interrupted = None
    if interrupted is not None:       # Ctrl-C or SIGTERM: the workers are stopped, the file closed
        _interrupted(kw["out"], configs, counts, interrupted)
    if not kw["quiet"] and kw["out"]:
        click.echo(f"{kw['out']}: {info['done_before']} of {len(configs)} runs were already there, "
                   f"{info['ran']} ran now" + (", a torn last line was cut and its run redone" if info["torn"] else "")
                   + (f", {info['retried']} failed runs retried" if info["retried"] else ""), err=True)
    _report(command, kw, grid, seeds, records, TASKS)


def _interrupted(out, configs, counts, exc):
    """One line saying what was kept, then exit 128 + the signal (130 SIGINT, 143 SIGTERM)."""
    import sys
    ran, total = counts["ran"], len(configs)
    if out:
        from minigumbel.sweep import ResultsFile, run_key
        try:                              # what the file holds now (a record may land just before the stop)
            store = ResultsFile(out)
            held = len({run_key(c) for c in configs} & set(store.records))
            store.close()
            what = f"{out} holds {held} of {total} runs"
        except (OSError, ValueError) as err:
            what = f"{out} could not be read back ({err})"
        line = f"interrupted; {what}; run the same command again to run the rest"
    else:
        line = f"interrupted after {ran} of {total} runs; nothing was kept (--out FILE keeps finished runs)"
    click.echo(line, err=True)
    sys.exit(128 + getattr(exc, "signum", 2))


def _describe(record, grid):
    c = record["config"]
    where = " ".join(f"{k}={c[k]:g}" if isinstance(c[k], float) else f"{k}={c[k]}" for k in grid)
    return f"{where} seed {c['seed']}" + (" FAILED" if record.get("error") else "")


def _report(command, kw, grid, seeds, records, tasks):
    from minigumbel.sweep_summary import metric_names, summarize
    names_of_tasks = grid.get("task", [kw["task"]])
    targets = {t: getattr(tasks[t], "target", None) for t in names_of_tasks}
    # a task may name its own columns (metric -> label); "seconds" is the run's wall time
    preset = getattr(tasks[names_of_tasks[0]], "summary_metrics", None) if len(names_of_tasks) == 1 else None
    if preset and "seconds" in preset:
        records = [{**r, "metrics": {**r["metrics"], "seconds": r["seconds"]}} if r.get("metrics") else r
                   for r in records]
    rows = summarize(records, list(grid), targets)
    texts = list(dict.fromkeys(t.text for t in targets.values() if t is not None))
    names = metric_names(records)
    if kw["metrics"] is not None:
        names = choice_list(kw["metrics"], "--metrics", names)
    elif preset:
        names = [n for n in preset if n in names]
    base = {k: v for k, v in records[0]["config"].items()       # what every run shares (tasks may differ)
            if k not in grid and k != "seed" and all(r["config"].get(k) == v for r in records)}
    target = targets.get(kw["task"]) if "task" not in grid else None
    report(kw["json_out"], {"command": command, "task": kw["task"], "seeds": seeds, "grid": grid, "config": base,
                            "target": target.to_dict() if target else None, "out": kw["out"], "metrics": names,
                            "results": rows},
           lambda: _print_report(command, kw, grid, seeds, records, tasks, rows, names, names_of_tasks, texts, preset))


def _print_report(command, kw, grid, seeds, records, tasks, rows, names, names_of_tasks, texts, preset):
    soft, hard = ("soft-train", "hard-eval") if command == "compare" else ("soft", "hard")
    loss_name = getattr(tasks[names_of_tasks[0]], "loss_name", "loss") if len(names_of_tasks) == 1 else "loss"
    labels = {"soft_loss": f"{soft} {loss_name}", "hard_loss": f"{hard} {loss_name}",
              "hard_loss/soft_loss": "hard / soft", **(preset or {})}
    headers = list(grid) + [labels.get(n, n) for n in names]
    failed = any(r["failed"] for r in rows)
    headers += ["failed"] if failed else []
    headers += ["reach target"] if texts else []
    body = []
    for r in rows:
        line = [f"{r[k]:g}" if isinstance(r[k], float) else str(r[k]) for k in grid]
        line += [_cell(r[n]) for n in names]
        line += [str(r["failed"])] if failed else []
        line += [(f"{r['reach']['count']}/{r['reach']['of']}" if r["reach"] else "—")] if texts else []
        body.append(line)
    sched = f"τ {kw['tau']:g}" + (f" → {kw['tau_min']:g} ({kw['anneal']})" if kw["anneal"] != "constant" else "")
    if "tau" in grid:
        sched = "τ from the grid" + (f" → {kw['tau_min']:g} ({kw['anneal']})" if kw["anneal"] != "constant" else "")
    cov = rows[0][names[0]]["coverage"] if names and rows[0][names[0]]["n"] else None
    what = "tasks from the grid" if "task" in grid else f"{kw['task']} task"
    steps = "steps from the grid" if "steps" in grid else f"{kw['steps']} steps"
    if "task" in grid:                 # options left at their default take each task's own default
        per_task = click.get_current_context().meta.get("minigumbel.task_defaults", {})
        differ = {k for k in ("steps", "tau", "anneal", "tau_min") if k not in grid
                  and len({repr(per_task.get(t, {}).get(k, kw[k])) for t in names_of_tasks}) > 1}
        steps = "each task's default steps" if "steps" in differ else steps
        sched = "each task's default τ schedule" if differ - {"steps"} else sched
    click.echo(f"minigumbel {command}: {what}, {steps}, {sched}, seeds "
               f"{seeds[0]}..{seeds[-1]} per cell; median [{_pct(cov)} interval for the median] over seeds, "
               + ("the task's test set" if "vae" in names_of_tasks else f"held-out set of {kw['eval_size']}"))
    click.echo(table(body, headers))
    if texts:
        click.echo(f"reach target: seeds that end with {'; '.join(texts)} (a failed run counts as not reaching it)")
    footnote = getattr(tasks[names_of_tasks[0]], "summary_footnote", None) if len(names_of_tasks) == 1 else None
    done = [r["metrics"] for r in records if r.get("metrics")]
    if footnote and done:
        click.echo(footnote.format(**done[0]))
    elif command == "compare":
        click.echo("soft = the estimator's own training-time pointer; hard = one-hot argmax, as used at test time.")
    for rec in records:
        if rec.get("error"):
            click.echo(f"failed: {_describe(rec, grid).removesuffix(' FAILED')}: {rec['error']}")


def _pct(coverage):
    return "95%" if coverage is None or coverage >= 0.95 else f"{100 * coverage:.0f}% (few seeds)"


def _cell(s):
    if not s["n"]:
        return "—"
    return f"{s['median']:#.4g} [{s['lo']:#.4g}, {s['hi']:#.4g}]"
