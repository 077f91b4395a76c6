"""How much memory a command's sizes ask for, checked before anything is allocated.

A few small option values (``--batch-size 10**9``, ``-L 1000 -K 1000``, ``--seeds 10**8``) ask for
more memory than any machine has. Where the size of the largest arrays follows from the options,
:func:`check_fits` compares an estimate with the memory this process can get and refuses with a
ValueError naming the option whose term is largest — before any computing. The estimates are upper
bounds of the same order as the peak measured with ``tracemalloc`` (``train`` on NumPy, float64):
a pointer task's step holds about 5 arrays of B × N × H, its evaluation about 4 of E × N × H, the
VAE's about 3 of its rows × (L·K + 512 + D), the sort task's N × N matrices per list (see
:func:`train_terms`); the constants below round those up. They catch values
that cannot fit by orders of magnitude; a run that fits only barely is left to the MemoryError
catch of the command line (one ``Error:`` line naming the size options given).
"""
from __future__ import annotations

__all__ = ["available_bytes", "check_fits", "train_terms", "grid_terms", "RUN_RECORD_BYTES", "fmt_bytes"]

# the memory one run of a sweep keeps until its table is printed: its config, record and key
# (measured with tracemalloc: about 2.4 KB per run on CPython 3.11; rounded up for the summary's copies)
RUN_RECORD_BYTES = 6_000


def available_bytes():
    """The memory this process can still allocate: the kernel's MemAvailable, or the address-space
    limit (``ulimit -v``) when that is lower; None where neither is known (not Linux)."""
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            avail = soft if avail is None else min(avail, soft)
    except (ImportError, OSError, ValueError):                 # pragma: no cover - not POSIX
        pass
    return avail


def fmt_bytes(n: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= size:
            return f"{n / size:,.0f} {unit}" if n >= 1000 * size else f"{n / size:.3g} {unit}"
    return f"{n / 1e3:.3g} KB"


def check_fits(terms, what="this run", available=None):
    """``terms``: [(bytes, factors)], factors [(option, value, its default[, text])] whose product makes the
    bytes. Raise ValueError when their sum exceeds the memory available (``available``: bytes,
    default :func:`available_bytes`; unknown: no check), naming the largest term's factor that is
    furthest above its default (and the others beside it)."""
    available = available_bytes() if available is None else available
    need = sum(int(b) for b, _ in terms)
    if available is None or need <= available:
        return need
    _, factors = max(terms, key=lambda t: t[0])
    first = max(factors, key=lambda f: f[1] / f[2])
    shown = [f[3] if len(f) > 3 else f"{f[0]} {f[1]}" for f in factors]      # (option, value, default[, text])
    rest = [t for f, t in zip(factors, shown) if f is not first]
    text = shown[factors.index(first)] + (f" (with {', '.join(rest)})" if rest else "")
    raise ValueError(f"{text} needs about {fmt_bytes(need)} of memory for {what}, and "
                     f"{fmt_bytes(available)} is available: make it smaller")


def _dims(config):
    """Integer sizes from a TrainConfig (or its dict); anything else is left to its own validation."""
    get = config.get if isinstance(config, dict) else lambda k, d=None: getattr(config, k, d)
    out = {}
    for key in ("batch_size", "n_items", "hidden", "eval_size", "gr_k", "latents", "classes", "samples"):
        v = get(key)
        out[key] = v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else 1
    return out, get


def train_terms(config):
    """[(bytes, factors)]: the estimate of one training run's largest arrays (see the module)."""
    d, get = _dims(config)
    item = 4 if get("dtype", "float64") == "float32" else 8
    gr = str(get("estimator", "")).startswith("gumbel-rao")
    B, k = d["batch_size"], d["gr_k"]
    if get("task") == "vae":
        L, K, S = d["latents"], d["classes"], d["samples"]
        mnist = get("data") == "mnist"
        D, rows_eval = (784, 10 * 10_000) if mnist else (64, 10 * 400)   # pixels; EVAL_SAMPLES × test images
        width = L * K + 512 + D
        batch, code = [("--batch-size", B, 100), ("--samples", S, 1)], [("-L", L, 8), ("-K", K, 8)]
        terms = [(6 * B * S * width * item, batch + code), (4 * rows_eval * width * item, code),
                 (6 * 128 * L * K * item, code)]
        if gr:
            terms.append((4 * max(B * S, rows_eval) * k * L * K * item, [("--gr-k", k, 10)] + code))
        return terms
    N, H, E = d["n_items"], d["hidden"], d["eval_size"]
    W = max(H, 16)                                                  # the widest activation per item
    items = [("--n-items", N, 10), ("--hidden", H, 32)]
    terms = [(6 * B * N * W * item, [("--batch-size", B, 64)] + items),
             (5 * E * N * W * item, [("--eval-size", E, 1000)] + items),
             (6 * H * H * item, [("--hidden", H, 32)])]
    if get("task") == "sort":
        # N × N matrices per list: its evaluation holds about 10 of E × N × N (measured 9.6 for
        # gumbel-sinkhorn); a step about (2 · Sinkhorn rounds + 6) of B × S × N × N (kept for the
        # backward pass: 45 measured at 20 rounds, 125 at 60), about 6 for the other estimators
        S, iters = d["samples"], get("sinkhorn_iters", 20)
        iters = iters if isinstance(iters, int) and iters > 0 else 1
        per_step = 2 * iters + 6 if "sinkhorn" in str(get("estimator", "")) else 6
        lists = [("--n-items", N, 10)]
        terms += [(10 * E * N * N * item, [("--eval-size", E, 1000)] + lists),
                  (per_step * B * S * N * N * item, [("--batch-size", B, 10), ("--samples", S, 5)] + lists
                   + ([("--sinkhorn-iters", iters, 20)] if per_step > 6 else []))]
    if gr:
        terms.append((6 * B * k * N * item, [("--gr-k", k, 10), ("--batch-size", B, 64), ("--n-items", N, 10)]))
    return terms


def grid_terms(runs: int, cells: int, seeds: int):
    """[(bytes, factors)] of a sweep's bookkeeping: every run's config and record stay in memory."""
    factors = [("--seeds", seeds, 10)] + ([("--grid", cells, 1, f"a --grid of {cells} cells")] if cells > 1 else [])
    return [(runs * RUN_RECORD_BYTES, factors)]
