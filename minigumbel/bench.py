"""Timing behind ``minigumbel bench``: medians, min–max, and ratios measured within one invocation.

The machine this was written on is noisy (other processes share its two cores), so:

* the candidates of one size are timed **round-robin** (a, b, c, a, b, c, ...): a slow spell
  hits all of them alike, and their ratios are more stable than their absolute times;
* every figure is a median with its min–max over ``repeats`` runs, after warm-up runs;
* other libraries (PyTorch, JAX) run in **their own subprocess** (``python -m
  minigumbel.bench_workers torch ...``, see bench_workers.py): importing torch beside NumPy makes
  their thread pools fight on a small machine.

The "unavoidable parts" of one Gumbel-Softmax draw are timed alone, each as one whole-array pass:
a uniform draw, two logs and one exp. Every sampler has to do at least these.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

__all__ = ["summarize", "round_robin", "environment", "describe_environment", "gumbel_softmax_cases",
           "bench_gumbel_softmax", "run_other", "merge_other", "bench_train_step", "bench_startup",
           "check_targets", "parse_sizes", "bench_checks", "checks_cases", "BackgroundLoad", "gpu_peak_bandwidth", "OTHER_LIBRARIES"]

OTHER_LIBRARIES = ("torch", "jax")


# ----------------------------------------------------------------------------- timing

def summarize(seconds: list[float]) -> dict:
    """Median and min–max of run times, in milliseconds."""
    return {"median_ms": 1e3 * statistics.median(seconds), "min_ms": 1e3 * min(seconds),
            "max_ms": 1e3 * max(seconds), "runs": len(seconds)}


def round_robin(cases: dict, repeats: int, warmup: int = 2, sync=None, clock=time.perf_counter) -> dict:
    """Time each callable in ``cases`` ``repeats`` times, interleaved, the starting case rotating
    round by round (so no case always runs after the same one, whose cache traces it would
    inherit); ``sync()`` runs before each clock read (GPU work is asynchronous). ``clock``:
    wall time by default; ``time.thread_time`` for single-threaded host work on a shared machine
    (the time other processes hold the CPU is then not counted). Returns name -> summary."""
    sync = sync or (lambda: None)
    for fn in cases.values():
        for _ in range(warmup):
            fn()
        sync()
    times: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:   # rotate: no fixed neighbour
            fn = cases[name]
            sync()
            t0 = clock()
            fn()
            sync()
            times[name].append(clock() - t0)
    return {name: summarize(ts) for name, ts in times.items()}


# ----------------------------------------------------------------------------- environment

def _blas() -> dict:
    from .provenance import blas_build, blas_thread_count
    info, threads = blas_build(), blas_thread_count()
    if threads is None:                  # not OpenBLAS: what the environment asks for, if anything
        env = [os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")]
        threads = next((int(v) for v in env if v and v.isdigit()), f"default (all {os.cpu_count()} CPUs)")
    return {**info, "threads": threads}


def gpu_peak_bandwidth(cupy) -> float | None:
    """Theoretical memory bandwidth in bytes/s from the device: 2 × memory clock × bus width."""
    rt = cupy.cuda.runtime
    dev = cupy.cuda.Device().id
    try:
        props = rt.getDeviceProperties(dev)
        clock_khz, bus_bits = props["memoryClockRate"], props["memoryBusWidth"]
    except Exception:  # newer CUDA drops these fields: ask for the attributes instead
        try:
            clock_khz, bus_bits = rt.deviceGetAttribute(36, dev), rt.deviceGetAttribute(37, dev)
        except Exception:  # pragma: no cover
            return None
    return 2.0 * clock_khz * 1e3 * bus_bits / 8.0 if clock_khz and bus_bits else None


def copy_bandwidth(backend, nbytes: int = 1 << 30, repeats: int = 10) -> float:
    """Measured device-to-device copy bandwidth in bytes/s (read + write counted)."""
    xp = backend.xp
    a = xp.ones(nbytes // 4, np.float32)
    b = xp.empty_like(a)
    res = round_robin({"copy": lambda: xp.copyto(b, a)}, repeats, sync=backend.synchronize)["copy"]
    return 2 * a.nbytes / (res["median_ms"] / 1e3)


def environment(backend) -> dict:
    """What the figures were measured on: Python, NumPy, BLAS and its threads, the fast-path
    threads, and the GPU when the backend is CuPy."""
    from .fast import default_threads
    env = {"python": platform.python_version(), "machine": platform.machine(),
           "cpus": os.cpu_count(), "numpy": np.__version__, "blas": _blas(),
           "fast_threads": default_threads()}
    if backend.name == "cupy":
        cp = backend.xp
        props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
        name = props["name"]
        env["gpu"] = {"name": name.decode() if isinstance(name, bytes) else str(name),
                      "cupy": cp.__version__, "cuda_runtime": cp.cuda.runtime.runtimeGetVersion(),
                      "peak_bandwidth_GBps": (gpu_peak_bandwidth(cp) or float("nan")) / 1e9}
    return env


class BackgroundLoad:
    """How many CPUs *other* processes kept busy while we measured (Linux: /proc/stat minus our
    own CPU time, children included). Figures taken beside a busy neighbour are not comparable."""

    def __enter__(self):
        self.start = (_proc_stat_busy(), _own_cpu(), time.perf_counter())
        return self

    def __exit__(self, *exc):
        busy0, own0, t0 = self.start
        busy1, own1, t1 = _proc_stat_busy(), _own_cpu(), time.perf_counter()
        self.cores = None if busy0 is None or busy1 is None else max(0.0, (busy1 - busy0 - (own1 - own0)) / (t1 - t0))
        return False


def _proc_stat_busy():
    try:
        with open("/proc/stat") as fh:
            f = [int(v) for v in fh.readline().split()[1:]]
        return (sum(f) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")     # all but idle and iowait, s
    except (OSError, ValueError, IndexError):
        return None


def _own_cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def describe_environment(env: dict) -> str:
    """Two or three human lines: versions, BLAS and threads, GPU."""
    blas = env["blas"]
    lines = [f"Python {env['python']} ({env['machine']}, {env['cpus']} CPUs), NumPy {env['numpy']}",
             f"BLAS: {blas.get('name')} {blas.get('version') or ''}, threads: {blas.get('threads')}; "
             f"fused helpers: {env['fast_threads']} threads"]
    if "gpu" in env:
        g = env["gpu"]
        lines.append(f"GPU: {g['name']}, CuPy {g['cupy']}, CUDA runtime {g['cuda_runtime']}, "
                     f"peak memory bandwidth {g['peak_bandwidth_GBps']:.0f} GB/s (2 x clock x bus width)")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- part (a)

def gumbel_softmax_cases(backend, shape, dtype="float32", tau=1.0, seed=0, threads=None) -> dict:
    """Callables, each one Gumbel-Softmax forward + backward wrt the logits (noise drawn inside):

    reference    sample_gumbel -> gumbel_softmax -> gumbel_softmax_vjp (the readable functions)
    fused        fast.sample_gumbel_softmax + fast.gumbel_softmax_vjp, reusing output buffers
    fused-exact  the same with exact=True (NumPy, τ = 1 only: elsewhere it is the same code)
    fused-1t     fused on one thread (NumPy only, when more are in use)
    unavoidable  a uniform draw, two logs and one exp, each one pass over the whole array (the
                 draw by the same fast exact method the fused helper uses, in the same blocks)
    """
    from . import fast
    from . import functional as F
    xp = backend.xp
    dt = np.dtype(dtype)
    rng = backend.rng(seed)
    logits = rng.standard_normal(shape, dtype=dt)                 # (n, K)
    dy = rng.standard_normal(shape, dtype=dt)                     # (n, K) upstream gradient
    y, dx = xp.empty(shape, dt), xp.empty(shape, dt)
    u = xp.empty(shape, dt) if backend.name == "numpy" else None
    e_in = -xp.log(rng.random(shape, dtype=dt) * dt.type(0.5) + dt.type(0.25))   # log input in (0.29, 1.4)
    s_in = -e_in                                                  # valid exp input, <= 0

    def reference():
        g = F.sample_gumbel(rng, shape, dt)
        y_ref = F.gumbel_softmax(logits, g, tau)
        F.gumbel_softmax_vjp(dy, y_ref, tau)

    def fused(th=threads, exact=False):
        fast.sample_gumbel_softmax(rng, logits, tau, out=y, threads=th, exact=exact)
        fast.gumbel_softmax_vjp(dy, y, tau, out=dx, threads=th)

    if backend.name == "numpy":   # the fastest exact draw we have (the one the fused helper uses)
        rows = fast._block_rows(shape[-1], dt.itemsize)

        def draw():
            d = fast._uniform_drawer(rng, u)
            for r0 in range(0, shape[0], rows):
                d(r0, min(r0 + rows, shape[0]))
            return u
    else:                         # CuPy: the draw sample_gumbel makes
        def draw():
            return rng.random(shape, dtype=dt)

    def unavoidable():
        uniforms = draw()
        with np.errstate(divide="ignore"):    # u = 0 is possible here: no clip in this baseline
            xp.log(uniforms, out=dx)
        xp.log(e_in, out=dx)
        xp.exp(s_in, out=dx)

    cases = {"fused": fused}
    if backend.name == "numpy" and tau == 1.0:
        cases["fused-exact"] = lambda: fused(exact=True)
    if backend.name == "numpy" and (threads or fast.default_threads()) > 1:
        cases["fused-1t"] = lambda: fused(1)
    cases["reference"] = reference
    cases["unavoidable"] = unavoidable
    return cases


def moved_bytes(shape, dtype) -> int:
    """Bytes the fused GPU fwd+bwd reads and writes in DRAM: the uniform draw writes u; the forward
    kernel reads θ and u and writes y; the backward kernel reads dy and y and writes dθ."""
    return 7 * int(np.prod(shape)) * np.dtype(dtype).itemsize


def bench_gumbel_softmax(backend, sizes, dtype="float32", tau=1.0, repeats=20, seed=0, threads=None,
                         progress=None) -> list[dict]:
    """Part (a): one row per size with every case's summary and its ratio to the fused figure."""
    rows = []
    sync = backend.synchronize
    peak = gpu_peak_bandwidth(backend.xp) if backend.name == "cupy" else None
    copy_bw = copy_bandwidth(backend) if backend.name == "cupy" else None
    for shape in sizes:
        cases = gumbel_softmax_cases(backend, shape, dtype, tau, seed, threads)
        res = round_robin(cases, repeats, sync=sync)
        row = {"shape": list(shape), "cases": res}
        if copy_bw:
            bw = moved_bytes(shape, dtype) / (res["fused"]["median_ms"] / 1e3)
            row["bandwidth"] = {"bytes": moved_bytes(shape, dtype), "achieved_GBps": bw / 1e9,
                                "peak_GBps": peak / 1e9 if peak else None,
                                "fraction_of_peak": bw / peak if peak else None,
                                "copy_GBps": copy_bw / 1e9, "fraction_of_copy": bw / copy_bw}
        rows.append(row)
        if progress:
            progress(shape)
    return rows


# ----------------------------------------------------------------------------- part (b)

def bench_train_step(backend, dtype="float32", repeats=20, seed=0, libs=()) -> dict:
    """Part (b): one training step of the default ``argmax`` pointer task (TrainConfig defaults
    but ``dtype``): grad="hand" vs grad="autograd" (NumPy only), and the same MLP step in PyTorch."""
    from .tasks import ArgmaxTask
    from .train import Run, TrainConfig
    base = TrainConfig(backend=backend.name, dtype=dtype, seed=seed)
    spec = {"batch": base.batch_size, "items": base.n_items, "features": ArgmaxTask.n_features,
            "hidden": base.hidden, "tau": base.tau, "lr": base.lr}
    grads = ("hand", "autograd") if backend.name == "numpy" else ("hand",)
    runs = {g: Run(TrainConfig(backend=backend.name, dtype=dtype, seed=seed, grad=g)) for g in grads}
    cases = round_robin({g: r.train_step for g, r in runs.items()}, repeats, sync=backend.synchronize)
    for lib in libs:
        if lib != "torch":
            continue
        other = run_other("torch", [], dtype, base.tau, repeats, "cuda" if backend.name == "cupy" else "cpu",
                          what="train", spec=spec)
        cases["torch"] = other.get("train", {"error": other.get("error", "no result")})
    return {"task": "argmax", "cases": cases,
            "config": (f"batch {spec['batch']} x {spec['items']} items, MLP {spec['features']}-{spec['hidden']}-"
                       f"{spec['hidden']}-1 ReLU, estimator {base.estimator} (tau {base.tau:g}), "
                       f"{base.optimizer} lr {base.lr:g}, {dtype}")}


# ----------------------------------------------------------------------------- part (c): input checks

CHECKS_SIZES = ((1024, 1024), (4096, 1024))      # ≥ 1M elements: where the 10% target applies
CHECKS_LIMIT = 1.10


def checks_cases(backend, shape, dtype="float32", tau=1.0, seed=0) -> dict:
    """function -> (checked, unchecked) callables: each public function of minigumbel.functional
    (its front door converts and scans every argument: minigumbel._inputs) and the private variant
    that internal callers use. "masked" logits hold a −inf column (the scan takes extra passes)."""
    from . import functional as F
    xp = backend.xp
    dt = np.dtype(dtype)
    rng = backend.rng(seed)
    x = rng.standard_normal(shape, dtype=dt)                    # (n, K) logits
    g = F.sample_gumbel(rng, shape, dt)                         # (n, K) noise
    y = F._softmax(x, tau)                                      # (n, K) on the simplex
    dy = rng.standard_normal(shape, dtype=dt)                   # (n, K) upstream gradient
    masked = x.copy()
    masked[:, 0] = -xp.inf
    return {
        "softmax": (lambda: F.softmax(x, tau), lambda: F._softmax(x, tau)),
        "log_softmax": (lambda: F.log_softmax(x, tau), lambda: F._log_softmax(x, tau)),
        "gumbel_softmax": (lambda: F.gumbel_softmax(x, g, tau), lambda: F._gumbel_softmax(x, g, tau)),
        "gumbel_softmax, masked logits": (lambda: F.gumbel_softmax(masked, g, tau),
                                          lambda: F._gumbel_softmax(masked, g, tau)),
        "gumbel_softmax_vjp": (lambda: F.gumbel_softmax_vjp(dy, y, tau), lambda: F._softmax_vjp(dy, y, tau)),
        "concrete_log_prob": (lambda: F.concrete_log_prob(y, x, tau), lambda: F._concrete_log_prob(y, x, tau)),
    }


def bench_checks(backend, sizes=CHECKS_SIZES, dtype="float32", tau=1.0, repeats=20, seed=0, progress=None):
    """Part (c): the cost of the front-door checks, one row per size and function: the checked
    public call and the unchecked private one timed round-robin, and their ratio. On NumPy both are
    single-threaded, so they are timed by the thread's CPU time (a neighbour's load does not enter);
    on CuPy by wall time after a device synchronize."""
    clock = time.thread_time if backend.name == "numpy" else time.perf_counter
    rows = []
    for shape in sizes:
        for name, (checked, unchecked) in checks_cases(backend, shape, dtype, tau, seed).items():
            res = round_robin({"checked": checked, "unchecked": unchecked}, repeats, sync=backend.synchronize,
                              clock=clock)
            rows.append({"shape": list(shape), "function": name, **res,
                         "ratio": res["checked"]["median_ms"] / res["unchecked"]["median_ms"]})
        if progress:
            progress(shape)
    return rows


# ----------------------------------------------------------------------------- other libraries

def run_other(library: str, sizes, dtype="float32", tau=1.0, repeats=20, device="cpu", timeout=600,
              what="gumbel", spec=None) -> dict:
    """Time ``library``'s Gumbel-Softmax fwd+bwd (``what="gumbel"``) or its training step
    (``what="train"``, PyTorch only) in a fresh subprocess; return its parsed JSON."""
    if library not in OTHER_LIBRARIES:
        raise ValueError(f"--against: unknown library {library!r}; choose from {', '.join(OTHER_LIBRARIES)}")
    cmd = [sys.executable, "-m", "minigumbel.bench_workers", library, "--sizes",
           ",".join(f"{r}x{c}" for r, c in sizes), "--dtype", dtype, "--tau", repr(float(tau)),
           "--repeats", str(repeats), "--device", device, "--what", what, "--spec", json.dumps(spec or {})]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"library": library, "error": f"exit {proc.returncode}: {tail[0]}"}
    return json.loads(proc.stdout)


def merge_other(rows: list[dict], other: dict) -> None:
    """Put another library's figures into the part (a) rows of the same shape (or its error)."""
    lib = other["library"]
    found = {tuple(r["shape"]): r for r in other.get("results", [])}
    for row in rows:
        res = found.get(tuple(row["shape"]))
        if res is not None:
            row["cases"][lib] = {k: v for k, v in res.items() if k != "shape"}
        elif "error" in other:
            row["cases"][lib] = {"error": other["error"]}


# ----------------------------------------------------------------------------- start-up, targets

def bench_startup(repeats: int = 10) -> dict:
    """Wall time of ``minigumbel --help`` in a fresh process (the console script next to this Python)."""
    from pathlib import Path
    script = Path(sys.executable).with_name("minigumbel")
    cmd = [str(script), "--help"] if script.exists() else [sys.executable, "-m", "minigumbel_cli.main", "--help"]
    times = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return {"command": " ".join(cmd), **summarize(times[1:])}   # the first run warms the disk cache


def _ratio(cases: dict, a: str, b: str):
    if a in cases and b in cases and "median_ms" in cases[a] and "median_ms" in cases[b]:
        return cases[a]["median_ms"] / cases[b]["median_ms"]
    return None


def check_targets(result: dict) -> list[dict]:
    """The issue's targets that this run measured, each with its value, limit and verdict."""
    out = []

    def add(name, value, limit, ok):
        if value is not None:
            out.append({"name": name, "value": value, "limit": limit, "met": bool(ok(value))})

    cfg = result["config"]
    for row in result.get("gumbel_softmax", []):
        c, shape = row["cases"], tuple(row["shape"])
        if cfg["dtype"] != "float32":
            continue
        if cfg["backend"] == "numpy" and shape == (4096, 1024):
            for mine in ("fused", "fused-exact"):
                add(f"{mine} fwd+bwd / torch CPU", _ratio(c, mine, "torch"), "<= 0.25", lambda v: v <= 0.25)
                add(f"{mine} fwd+bwd / jax jit CPU", _ratio(c, mine, "jax"), "<= 0.5", lambda v: v <= 0.5)
            one = "fused-1t" if "fused-1t" in c else "fused"
            add(f"{one} fwd+bwd / unavoidable parts (1 thread each)", _ratio(c, one, "unavoidable"),
                "<= 1.5", lambda v: v <= 1.5)
        if cfg["backend"] == "cupy" and shape == (65536, 1024):
            bw = row.get("bandwidth", {})
            if bw.get("fraction_of_peak") is not None:
                add("fused fwd+bwd bandwidth / peak", bw["fraction_of_peak"], ">= 0.5", lambda v: v >= 0.5)
            else:   # the device did not say its peak: the measured copy bandwidth stands in
                add("fused fwd+bwd bandwidth / device copy", bw.get("fraction_of_copy"), ">= 0.5",
                    lambda v: v >= 0.5)
            add("fused fwd+bwd / torch CUDA", _ratio(c, "fused", "torch"), "< 1", lambda v: v < 1)
    big = [r for r in result.get("checks", []) if np.prod(r["shape"]) >= 1 << 20]
    if big:
        worst = max(big, key=lambda r: r["ratio"])
        add(f"checked / unchecked, >= 1M elements (worst: {worst['function']} "
            f"{worst['shape'][0]}x{worst['shape'][1]})", worst["ratio"], f"<= {CHECKS_LIMIT:.2f}",
            lambda v: v <= CHECKS_LIMIT)
    ts = result.get("train_step", {}).get("cases", {})
    add("train step: autograd / hand", _ratio(ts, "autograd", "hand"), ">= 3", lambda v: v >= 3)
    add("train step: hand / torch CPU", _ratio(ts, "hand", "torch"), "<= 1.5", lambda v: v <= 1.5)
    vs = result.get("vae_step", {}).get("cases", {})
    for label in ("torch (1 thread)", "torch (default threads)"):
        add(f"vae step: hand / {label} CPU", _ratio(vs, "hand", label), "<= 1.5", lambda v: v <= 1.5)
    for name, cases in (result.get("orders", {}).get("cases", {}) if cfg["backend"] == "numpy" else {}).items():
        for label in ("torch (1 thread)", "torch (default threads)"):
            add(f"{name} fwd+bwd: hand / {label} CPU", _ratio(cases, "hand", label), "<= 1.0", lambda v: v <= 1.0)
    tk = result.get("topk", {}).get("cases", {})
    for label in ("torch (1 thread)", "torch (default threads)"):
        add(f"relaxed top-k fwd+bwd: fast / {label} CPU", _ratio(tk, "fast", label), "<= 1.0", lambda v: v <= 1.0)
    st = result.get("startup")
    if st:
        add("minigumbel --help wall time (s)", st["median_ms"] / 1e3, "<= 0.3", lambda v: v <= 0.3)
    return out


def parse_sizes(text: str, allow_empty: bool = False) -> list[tuple[int, int]]:
    """'64x16,4096x1024' -> [(64, 16), (4096, 1024)]; ValueError naming the bad item."""
    sizes = []
    for item in text.split(","):
        item = item.strip().lower()
        if not item:
            continue
        parts = item.split("x")
        if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise ValueError(f"sizes: expected ROWSxCOLS with positive integers, got {item!r}")
        sizes.append((int(parts[0]), int(parts[1])))
    if not sizes and not allow_empty:
        raise ValueError("sizes: expected at least one ROWSxCOLS")
    return sizes
