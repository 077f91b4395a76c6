"""Long run: ≥ 1e8 float32 Gumbel draws through sample_gumbel and every sampler, counting non-finite outputs.

    python scripts/long_gumbel_draws.py                      # 1e8 draws per sampler, NumPy
    python scripts/long_gumbel_draws.py --draws 1e9 --backend cupy

A float32 uniform generator returns exactly 0.0 about once in 2**24 ≈ 1.7e7 draws; -log(-log 0) is
+inf... or rather -inf, and NaN after a softmax — the bug other implementations shipped. This script
counts, for every sampler, the non-finite outputs (the guarantee: zero), the masked categories that
got mass or were sampled (zero), and how many of the uniforms were exactly 0.0 (the case the clip in
``sample_gumbel`` exists for), read from a twin Generator with the same seed. Not part of the test
suite (it takes a minute or more); the result is quoted in README.md ("Numerical guarantees").
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from minigumbel import fast
from minigumbel import functional as F
from minigumbel.backend import get_backend
from minigumbel.distributions import RelaxedOneHotCategorical
from minigumbel.estimators import conditional_gumbel
from minigumbel.estimators.base import _hard_sample

K = 16            # categories per row; rows = chunk / K
MASKED = 3        # this category has logit -inf in every row


def _logits(xp, rng, rows):
    """(rows, K) float32 logits with spread ~3 and one masked column."""
    x = (rng.standard_normal((rows, K), dtype=np.float32) * 3).astype(np.float32)
    x[:, MASKED] = -np.inf
    return x


def _tally(xp, out, masked_mass=None):
    """(non-finite count, count of masked entries with mass/sampled) as host ints."""
    bad = int(xp.count_nonzero(~xp.isfinite(out)))
    return bad, int(xp.count_nonzero(masked_mass)) if masked_mass is not None else 0


def run(draws: int, chunk: int, seed: int, backend: str, tau: float) -> dict:
    be = get_backend(backend)
    xp = be.xp
    rows = chunk // K
    n_chunks = -(-draws // (rows * K))
    samplers = ["sample_gumbel", "gumbel_max", "gumbel_softmax", "gumbel_softmax(hard)",
                "fast.sample_gumbel_softmax", "RelaxedOneHotCategorical.rsample",
                "RelaxedOneHotCategorical.sample", "hard sample (estimators)", "conditional_gumbel (gumbel-rao)"]
    res = {s: {"draws": 0, "non_finite": 0, "masked_hits": 0, "seconds": 0.0} for s in samplers}
    zeros, uniforms, g_min, g_max = 0, 0, np.inf, -np.inf
    rng, twin = be.rng(seed), be.rng(seed)            # twin: the same uniforms, to count exact zeros
    aux = be.rng(seed + 1)                             # logits
    g_zero = -np.log(-np.log(np.float32(np.finfo(np.float32).tiny)))   # the noise a clipped u = 0 gives
    direct_zeros = 0                                                    # seen in sample_gumbel's output
    for _ in range(n_chunks):
        x = xp.asarray(_logits(np, np.random.default_rng(int(aux.integers(2 ** 31))), rows))
        n = rows * K

        def timed(name, fn, fresh=True):
            """Run one sampler on this chunk; ``fresh``: it takes n uniforms from rng (the twin too)."""
            nonlocal zeros, uniforms
            be.synchronize()
            t = time.perf_counter()
            bad, hits = fn()
            be.synchronize()
            r = res[name]
            r["seconds"] += time.perf_counter() - t
            r["draws"] += n
            r["non_finite"] += bad
            r["masked_hits"] += hits
            if fresh:
                uniforms += n
                z = int(xp.count_nonzero(twin.random((rows, K), dtype=np.float32) == 0))
                zeros += z
                r["uniform_zeros"] = r.get("uniform_zeros", 0) + z

        def noise():
            nonlocal g_min, g_max, direct_zeros, g
            g = F.sample_gumbel(rng, (rows, K), np.float32)
            g_min, g_max = min(g_min, float(g.min())), max(g_max, float(g.max()))
            direct_zeros += int(xp.count_nonzero(g <= g_zero))
            return _tally(xp, g)

        def hard_sample():
            nonlocal d
            d, _ = _hard_sample(x, rng)
            return _tally(xp, d, d[:, MASKED] != 0)

        g = d = None
        timed("sample_gumbel", noise)                     # g: reused by the three samplers below
        timed("gumbel_max", lambda: (0, int(xp.count_nonzero(F.gumbel_max(x, g) == MASKED))), fresh=False)
        timed("gumbel_softmax", lambda: _tally(xp, y := F.gumbel_softmax(x, g, tau), y[:, MASKED] != 0), False)
        timed("gumbel_softmax(hard)", lambda: _tally(xp, y := F.gumbel_softmax(x, g, tau, hard=True),
                                                     y[:, MASKED] != 0), False)
        timed("fast.sample_gumbel_softmax", lambda: _tally(xp, y := fast.sample_gumbel_softmax(rng, x, tau),
                                                           y[:, MASKED] != 0))
        dist = RelaxedOneHotCategorical(logits=x, tau=tau)
        timed("RelaxedOneHotCategorical.rsample", lambda: _tally(xp, y := dist.rsample(rng), y[:, MASKED] != 0))
        timed("RelaxedOneHotCategorical.sample", lambda: _tally(xp, y := dist.sample(rng), y[:, MASKED] != 0))
        timed("hard sample (estimators)", hard_sample)
        timed("conditional_gumbel (gumbel-rao)",
              lambda: _tally(xp, gc := conditional_gumbel(x, d, rng, 1), gc[..., MASKED] != 0))
    return {"backend": be.name, "dtype": "float32", "tau": tau, "K": K, "seed": seed,
            "uniform_draws": uniforms, "uniform_exact_zeros": zeros,
            "expected_zeros": uniforms / 2 ** 24, "zeros_seen_in_sample_gumbel_output": direct_zeros,
            "gumbel_min": g_min, "gumbel_max": g_max,
            "samplers": res, "non_finite_total": sum(r["non_finite"] for r in res.values()),
            "masked_hits_total": sum(r["masked_hits"] for r in res.values())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=float, default=1e8,
                    help="float32 Gumbel values per sampler (default 1e8; gumbel_max and gumbel_softmax reuse "
                         "sample_gumbel's noise, the others draw their own)")
    ap.add_argument("--chunk", type=float, default=2 ** 22, help="draws per batch (default 2**22)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tau", type=float, default=0.1)
    ap.add_argument("--backend", default="numpy", choices=["numpy", "cupy"])
    ap.add_argument("--json", action="store_true", help="print the JSON result only")
    a = ap.parse_args(argv)
    t = time.perf_counter()
    r = run(int(a.draws), int(a.chunk), a.seed, a.backend, a.tau)
    r["wall_seconds"] = time.perf_counter() - t
    if a.json:
        print(json.dumps(r, indent=2))
    else:
        print(f"{r['backend']} float32, K={K} (one category masked), tau={a.tau}, seed={a.seed}")
        print(f"{'sampler':34s} {'values':>12s} {'u = 0.0':>8s} {'non-finite':>10s} {'masked hits':>11s} {'seconds':>8s}")
        for name, s in r["samplers"].items():
            z = s.get("uniform_zeros", "(reuse)")
            print(f"{name:34s} {s['draws']:12.4g} {z:>8} {s['non_finite']:10d} {s['masked_hits']:11d} {s['seconds']:8.1f}")
        print(f"uniform draws {r['uniform_draws']:.4g}: exactly 0.0 in {r['uniform_exact_zeros']} "
              f"(expected ~{r['expected_zeros']:.1f}), {r['zeros_seen_in_sample_gumbel_output']} of them in "
              "sample_gumbel's own output (clipped to tiny: g = -log(-log tiny) = -4.4697)")
        sync = r["samplers"]["sample_gumbel"].get("uniform_zeros", 0) == r["zeros_seen_in_sample_gumbel_output"]
        print(f"twin Generator in step with the samplers (sample_gumbel's zeros seen both ways): {sync}")
        print(f"sample_gumbel noise range: [{r['gumbel_min']:.4f}, {r['gumbel_max']:.4f}]")
        print(f"non-finite outputs: {r['non_finite_total']}; masked categories hit: {r['masked_hits_total']}; "
              f"wall {r['wall_seconds']:.1f} s")
    return 0 if r["non_finite_total"] == 0 and r["masked_hits_total"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
