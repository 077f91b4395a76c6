"""`minigumbel bench`: time the sampler, a training step and start-up, optionally against PyTorch/JAX."""
from __future__ import annotations

import importlib.util
import sys

import click

from .common import TAU, backend_option, choice_list, human_output, json_option, quiet_option, report, seed_option, stderr_is_terminal, table

CPU_SIZES = "64x16,256x256,1024x1024,4096x1024"
GPU_SIZES = CPU_SIZES + ",16384x1024,65536x1024"
PARTS = ("gumbel", "train", "startup", "vae", "checks", "orders", "topk")
CHECKS_SIZES = "1024x1024,4096x1024"


def _ms(s: dict) -> tuple[str, str]:
    return f"{s['median_ms']:.3f}", f"{s['min_ms']:.3f}–{s['max_ms']:.3f}"


@click.command()
@backend_option
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True,
              help="Floating-point type of the timed arrays.")
@click.option("--sizes", default=None, metavar="RxK,...",
              help=f"Sizes of the gumbel and checks parts [default: gumbel {CPU_SIZES}, on cupy also "
                   f"16384x1024,65536x1024; checks {CHECKS_SIZES}].")
@click.option("--tau", type=TAU, default=1.0, show_default=True, help="Temperature τ, 1e-4 ≤ τ ≤ 1e4.")
@click.option("--against", default=None, metavar="torch[,jax]",
              help="Also time these libraries' Gumbel-Softmax fwd+bwd, each in its own process.")
@click.option("--repeats", type=click.IntRange(min=1), default=20, show_default=True,
              help="Timed runs per case (after 2 warm-up runs); medians and min–max are reported.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Threads of the fused NumPy helpers [default: $MINIGUMBEL_THREADS or the usable CPUs].")
@click.option("--parts", default="gumbel,train,startup", show_default=True,
              help="Which parts to run: gumbel (fwd+bwd), train (one training step), startup (--help), "
                   "vae (one step of the digits VAE: hand vs autograd vs PyTorch; needs the 'data' extra), "
                   "checks (each public function with its input checks vs without them), "
                   "orders (Gumbel-Sinkhorn and NeuralSort fwd+bwd, hand vs PyTorch autograd), "
                   "topk (relaxed top-k fwd+bwd, 1024x1000, k = 10: fast vs reference vs PyTorch).")
@seed_option
@json_option
@quiet_option
def bench(backend, dtype, sizes, tau, against, repeats, threads, parts, seed, json_out, quiet):
    """Time Gumbel-Softmax forward+backward (readable vs fused vs its unavoidable parts), one
    training step (hand vs autograd gradients), and `minigumbel --help`.

    Candidates of one size are timed round-robin, so compare the ratios printed here (within one
    invocation), not absolute times across runs. Other libraries run in their own processes.
    """
    from minigumbel import bench as B
    from minigumbel.backend import get_backend
    from minigumbel.functional import check_tau

    check_tau(tau)
    be = get_backend(backend)
    parts = choice_list(parts, "--parts", PARTS)
    if sizes is not None and not {"gumbel", "checks"} & set(parts):
        raise click.BadParameter("--sizes applies to the gumbel and checks parts only (add one to --parts)",
                                 param_hint="--sizes")
    libs = [] if against is None else choice_list(against, "--against", B.OTHER_LIBRARIES)
    missing = [lib for lib in libs if not _installed(lib)]
    if missing:      # before any timing: a table with the error in a timing column is no comparison
        raise click.BadParameter(f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed "
                                 f"in this Python ({sys.executable}); install {'it' if len(missing) == 1 else 'them'} "
                                 "or leave it out", param_hint="--against")
    try:
        shapes = B.parse_sizes(sizes if sizes is not None else (GPU_SIZES if be.name == "cupy" else CPU_SIZES))
        check_shapes = B.parse_sizes(sizes if sizes is not None else CHECKS_SIZES)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--sizes") from None
    timed = (shapes if "gumbel" in parts else []) + (check_shapes if "checks" in parts else [])
    if timed and be.name == "numpy":                       # about 10 arrays of R×K live while one size is timed
        from minigumbel.memory import check_fits
        rows, cols = max(timed, key=lambda s: s[0] * s[1])
        size = [("--sizes", rows * cols, 1, f"--sizes {rows}x{cols}")]
        check_fits([(10 * rows * cols * (4 if dtype == "float32" else 8), size)], "timing that size")
    # progress lines only on a terminal: a log file or a pipe gets the results alone
    say = (lambda msg: None) if (quiet or not stderr_is_terminal()) else (lambda msg: click.echo(msg, err=True))
    result = {"environment": B.environment(be),
              "config": {"backend": be.name, "dtype": dtype, "tau": tau, "repeats": repeats,
                         "seed": seed, "threads": threads, "against": libs}}
    with human_output(json_out):
        click.echo(B.describe_environment(result["environment"]))
    with B.BackgroundLoad() as load:
        _measure(result, be, B, parts, shapes, check_shapes, dtype, tau, repeats, seed, threads, libs, say)
    result["background_load_cpus"] = load.cores
    result["targets"] = B.check_targets(result)
    report(json_out, result, lambda: _print(result))


def _installed(lib) -> bool:
    """Whether ``lib`` can be imported by the worker process (it runs this same Python)."""
    try:
        return importlib.util.find_spec(lib) is not None
    except (ImportError, ValueError):
        return False


def _measure(result, be, B, parts, shapes, check_shapes, dtype, tau, repeats, seed, threads, libs, say) -> None:
    if "gumbel" in parts:
        say(f"timing Gumbel-Softmax fwd+bwd at {len(shapes)} sizes ...")
        rows = B.bench_gumbel_softmax(be, shapes, dtype, tau, repeats, seed, threads,
                                      progress=lambda s: say(f"  {s[0]}x{s[1]} done"))
        for lib in libs:
            say(f"timing {lib} in its own process ...")
            other = B.run_other(lib, shapes, dtype, tau, repeats, device="cuda" if be.name == "cupy" else "cpu")
            B.merge_other(rows, other)
            result.setdefault("others", []).append({k: v for k, v in other.items() if k != "results"})
        result["gumbel_softmax"] = rows
    if "train" in parts:
        say("timing one training step ...")
        result["train_step"] = B.bench_train_step(be, dtype, repeats, seed, libs)
    if "vae" in parts:
        from minigumbel.bench_vae import bench_vae_step
        say("timing one VAE training step ...")
        result["vae_step"] = bench_vae_step(be, dtype, repeats, seed, libs)
    if "checks" in parts:
        say(f"timing the input checks at {len(check_shapes)} sizes ...")
        result["checks"] = B.bench_checks(be, check_shapes, dtype, tau, repeats, seed,
                                          progress=lambda s: say(f"  {s[0]}x{s[1]} done"))
    if "orders" in parts:
        from minigumbel.bench_orders import bench_orders
        say("timing Gumbel-Sinkhorn and NeuralSort fwd+bwd ...")
        result["orders"] = bench_orders(be, dtype, repeats, seed, libs)
    if "topk" in parts:
        from minigumbel.bench_subsets import bench_topk
        say("timing the relaxed top-k fwd+bwd ...")
        result["topk"] = bench_topk(be, dtype, repeats, seed, threads, libs)
    if "startup" in parts:
        say("timing minigumbel --help ...")
        result["startup"] = B.bench_startup(min(repeats, 10))


def _print(result: dict) -> None:
    for row in result.get("gumbel_softmax", []):
        r, k = row["shape"]
        fused = row["cases"]["fused"]["median_ms"]
        lines, notes = [], []
        for name, s in row["cases"].items():
            if "error" in s:              # a library's worker failed: a marked row, the reason below
                lines.append([name, "FAILED", "-", "-"])
                notes.append(f"{name} FAILED: {s['error']}")
                continue
            med, rng = _ms(s)
            lines.append([name, med, rng, f"{s['median_ms'] / fused:.2f}"])
        click.echo(f"\nGumbel-Softmax fwd+bwd, {r}x{k} {result['config']['dtype']}, τ={result['config']['tau']:g}")
        click.echo(table(lines, ["case", "median ms", "min–max ms", "× fused"]))
        for note in notes:
            click.echo(note)
        if "bandwidth" in row:
            bw = row["bandwidth"]
            peak = f"{100 * bw['fraction_of_peak']:.0f}% of peak" if bw["fraction_of_peak"] else "peak unknown"
            click.echo(f"fused: {bw['achieved_GBps']:.0f} GB/s over {bw['bytes'] / 1e6:.0f} MB read+written = "
                       f"{peak}, {100 * bw['fraction_of_copy']:.0f}% of a measured device copy "
                       f"({bw['copy_GBps']:.0f} GB/s)")
    if result.get("checks"):
        what = "thread CPU time" if result["config"]["backend"] == "numpy" else "wall time"
        click.echo(f"\nInput checks: each public function (checked) vs its private variant (unchecked), "
                   f"{result['config']['dtype']}, τ={result['config']['tau']:g}, {what}")
        lines = [[f"{r['shape'][0]}x{r['shape'][1]}", r["function"], *_ms(r["checked"]), *_ms(r["unchecked"]),
                  f"{r['ratio']:.3f}"] for r in result["checks"]]
        click.echo(table(lines, ["size", "function", "checked ms", "min–max", "unchecked ms", "min–max",
                                 "checked / unchecked"]))
    for ts in (result.get("train_step"), result.get("vae_step")):
        if not ts:
            continue
        click.echo(f"\nOne training step: task {ts['task']}, {ts['config']}")
        hand = ts["cases"]["hand"]["median_ms"]
        lines = [[name, *_ms(s), f"{s['median_ms'] / hand:.2f}"] if "error" not in s else [name, "FAILED", "-", "-"]
                 for name, s in ts["cases"].items()]
        click.echo(table(lines, ["case", "median ms", "min–max ms", "× hand"]))
        for name, s in ts["cases"].items():
            if "error" in s:
                click.echo(f"{name} FAILED: {s['error']}")
    orders = result.get("orders")
    if orders:
        for name, cases in orders["cases"].items():
            click.echo(f"\n{name} fwd+bwd, {orders['config'][name]}, {orders['dtype']}")
            hand = cases["hand"]["median_ms"]
            lines = [[case, *_ms(s), f"{s['median_ms'] / hand:.2f}"] if "error" not in s else [case, "FAILED", "-", "-"]
                     for case, s in cases.items()]
            click.echo(table(lines, ["case", "median ms", "min–max ms", "× hand"]))
        m = orders["memory"]
        click.echo(f"Sinkhorn backward keeps {m['kept_bytes'] / 1e6:.2f} MB = {m['bytes_per_round'] / 1e6:.3f} MB per round "
                   f"({m['bytes_per_round_per_list']} bytes per list per round: 2 n² entries)")
    tk = result.get("topk")
    if tk:
        click.echo(f"\nRelaxed top-k, {tk['config']}")
        fast = next(iter(tk["cases"]))                    # fast (NumPy) or reference (CuPy)
        base = tk["cases"][fast]["median_ms"]
        lines = [[name, *_ms(s), f"{s['median_ms'] / base:.2f}"] if "error" not in s else [name, "FAILED", "-", "-"]
                 for name, s in tk["cases"].items()]
        click.echo(table(lines, ["case", "median ms", "min–max ms", f"× {fast}"]))
    st = result.get("startup")
    if st:
        click.echo(f"\n`{st['command']}`: median {st['median_ms']:.0f} ms (min {st['min_ms']:.0f}, "
                   f"max {st['max_ms']:.0f}) over {st['runs']} runs")
    load = result.get("background_load_cpus")
    if load is not None:
        warn = "  <- figures disturbed: rerun on a quiet machine" if load > 0.25 else ""
        click.echo(f"\nOther processes kept {load:.2f} CPUs busy on average during the run{warn}")
    if result["targets"]:
        click.echo("\nTargets (ratios from this run):")
        lines = [[t["name"], f"{t['value']:.3g}", t["limit"], "met" if t["met"] else "NOT met"]
                 for t in result["targets"]]
        click.echo(table(lines, ["target", "measured", "limit", ""]))
