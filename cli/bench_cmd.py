"""`minigumbel bench`: time the sampler, a training step and start-up, optionally against PyTorch/JAX."""
from __future__ import annotations

import click

from .common import TAU, FilePath, backend_option, choice_list, write_json, echo_json, json_flag, quiet_option, seed_option, table

CPU_SIZES = "64x16,256x256,1024x1024,4096x1024"
GPU_SIZES = CPU_SIZES + ",16384x1024,65536x1024"
PARTS = ("gumbel", "train", "startup", "vae", "topk")


def _ms(s: dict) -> tuple[str, str]:
    return f"{s['median_ms']:.3f}", f"{s['min_ms']:.3f}–{s['max_ms']:.3f}"


@click.command()
@backend_option
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True)
@click.option("--sizes", default=None, metavar="RxK,...",
              help=f"Gumbel-Softmax sizes [default: {CPU_SIZES}; on cupy also 16384x1024,65536x1024].")
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
                   "topk (relaxed top-k fwd+bwd, 1024x1000, k = 10: fast vs reference vs PyTorch).")
@click.option("--save", type=FilePath(writable=True), default=None,
              help="Also write the JSON result to this file.")
@seed_option
@json_flag
@quiet_option
def bench(backend, dtype, sizes, tau, against, repeats, threads, parts, save, seed, as_json, quiet):
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
    if sizes is not None and "gumbel" not in parts:
        raise click.BadParameter("--sizes applies to the gumbel part only (add it to --parts)", param_hint="--sizes")
    libs = [] if against is None else choice_list(against, "--against", B.OTHER_LIBRARIES)
    try:
        shapes = B.parse_sizes(sizes if sizes is not None else (GPU_SIZES if be.name == "cupy" else CPU_SIZES))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--sizes") from None
    say = (lambda msg: None) if (quiet or as_json) else (lambda msg: click.echo(msg, err=True))
    result = {"environment": B.environment(be),
              "config": {"backend": be.name, "dtype": dtype, "tau": tau, "repeats": repeats,
                         "seed": seed, "threads": threads, "against": libs}}
    if not as_json:
        click.echo(B.describe_environment(result["environment"]))
    with B.BackgroundLoad() as load:
        _measure(result, be, B, parts, shapes, dtype, tau, repeats, seed, threads, libs, say)
    result["background_load_cpus"] = load.cores
    result["targets"] = B.check_targets(result)
    if save is not None:
        write_json(save, result)
    if as_json:
        echo_json(result)
        return
    _print(result)


def _measure(result, be, B, parts, shapes, dtype, tau, repeats, seed, threads, libs, say) -> None:
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
        lines = []
        for name, s in row["cases"].items():
            if "error" in s:
                lines.append([name, "-", s["error"], "-"])
                continue
            med, rng = _ms(s)
            lines.append([name, med, rng, f"{s['median_ms'] / fused:.2f}"])
        click.echo(f"\nGumbel-Softmax fwd+bwd, {r}x{k} {result['config']['dtype']}, τ={result['config']['tau']:g}")
        click.echo(table(lines, ["case", "median ms", "min–max ms", "× fused"]))
        if "bandwidth" in row:
            bw = row["bandwidth"]
            peak = f"{100 * bw['fraction_of_peak']:.0f}% of peak" if bw["fraction_of_peak"] else "peak unknown"
            click.echo(f"fused: {bw['achieved_GBps']:.0f} GB/s over {bw['bytes'] / 1e6:.0f} MB read+written = "
                       f"{peak}, {100 * bw['fraction_of_copy']:.0f}% of a measured device copy "
                       f"({bw['copy_GBps']:.0f} GB/s)")
    for ts in (result.get("train_step"), result.get("vae_step"), result.get("topk")):
        if not ts:
            continue
        first = next(iter(ts["cases"]))                   # hand (training steps) or fast (top-k)
        what = "Relaxed top-k" if ts["task"] == "relaxed top-k" else f"One training step: task {ts['task']}"
        click.echo(f"\n{what}, {ts['config']}")
        base = ts["cases"][first]["median_ms"]
        lines = [[name, *_ms(s), f"{s['median_ms'] / base:.2f}"] if "error" not in s else [name, "-", s["error"], "-"]
                 for name, s in ts["cases"].items()]
        click.echo(table(lines, ["case", "median ms", "min–max ms", f"× {first}"]))
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
