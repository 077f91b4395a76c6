"""The orders part of ``minigumbel bench``: forward + backward of the two permutation relaxations.

    gumbel_sinkhorn   64 lists, N = 50, 20 rounds: noise g drawn, P = Sinkhorn((log α + g)/τ) in log
                      space, then ∂⟨dP, P⟩/∂log α (sinkhorn's unrolled VJP, minigumbel.permutations)
    neuralsort        256 lists, N = 100: P̂ = NeuralSort(s, τ), then ∂⟨dP̂, P̂⟩/∂s

against the same computation in PyTorch on the CPU, differentiated by autograd, in its own process
(minigumbel.bench_workers, ``--what orders``), with one intra-op thread (NumPy's elementwise work
runs on one) and with PyTorch's default thread count. Also the memory the unrolled Sinkhorn
backward keeps: 2 n² entries per list per round (one per half-step), counted from the arrays
themselves and predicted by :func:`minigumbel.permutations.sinkhorn_backward_bytes`.
"""
from __future__ import annotations

import numpy as np

__all__ = ["bench_orders", "ORDERS_SPEC"]

ORDERS_SPEC = {"sinkhorn": {"lists": 64, "n": 50, "n_iters": 20, "tau": 1.0},
               "neuralsort": {"lists": 256, "n": 100, "tau": 1.0}}


def orders_cases(backend, dtype="float32", seed=0) -> tuple[dict, dict]:
    """({name: callable}, memory info) for the two NumPy/CuPy fwd+bwd cases."""
    from .functional import sample_gumbel
    from .permutations import _neuralsort_bwd, _neuralsort_fwd, _sinkhorn, _sinkhorn_vjp, sinkhorn_backward_bytes
    dt = np.dtype(dtype)
    rng = backend.rng(seed)
    sk, ns = ORDERS_SPEC["sinkhorn"], ORDERS_SPEC["neuralsort"]
    la = rng.standard_normal((sk["lists"], sk["n"], sk["n"]), dtype=dt)         # (64, 50, 50)
    dP = rng.standard_normal(la.shape, dtype=dt)
    s = rng.standard_normal((ns["lists"], ns["n"]), dtype=dt)                   # (256, 100)
    dQ = rng.standard_normal((ns["lists"], ns["n"], ns["n"]), dtype=dt)
    kept = {}

    def gumbel_sinkhorn():
        g = sample_gumbel(rng, la.shape, dt)
        _, states = _sinkhorn((la + g) / sk["tau"], sk["n_iters"], keep=True)
        kept["bytes"] = sum(int(x.nbytes) for x in states)
        return _sinkhorn_vjp(dP, states) / sk["tau"]

    def neuralsort():
        _, cache = _neuralsort_fwd(s, ns["tau"])
        return _neuralsort_bwd(dQ, cache)

    gumbel_sinkhorn()
    memory = {"kept_bytes": kept["bytes"], "predicted_bytes": sinkhorn_backward_bytes(sk["n"], sk["n_iters"], sk["lists"], dt),
              "bytes_per_round": kept["bytes"] // sk["n_iters"],
              "bytes_per_round_per_list": kept["bytes"] // (sk["n_iters"] * sk["lists"])}
    return {"gumbel_sinkhorn": gumbel_sinkhorn, "neuralsort": neuralsort}, memory


def bench_orders(backend, dtype="float32", repeats=20, seed=0, libs=()) -> dict:
    """Medians of the hand fwd+bwd cases and (``libs`` has torch) PyTorch autograd's, CPU or CUDA."""
    from .bench import round_robin, run_other
    cases, memory = orders_cases(backend, dtype, seed)
    res = round_robin(cases, repeats, sync=backend.synchronize)
    out = {name: {"hand": r} for name, r in res.items()}
    if "torch" in libs:
        for threads, label in ((1, "torch (1 thread)"), (0, "torch (default threads)")):
            other = run_other("torch", [], dtype, 1.0, repeats, "cuda" if backend.name == "cupy" else "cpu",
                              what="orders", spec={**ORDERS_SPEC, "threads": threads})
            for name in out:
                r = other.get("orders", {}).get(name)
                out[name][label] = {**r, "threads": other.get("threads")} if r else \
                    {"error": other.get("error", "no result")}
    sk, ns = ORDERS_SPEC["sinkhorn"], ORDERS_SPEC["neuralsort"]
    return {"cases": out, "memory": memory, "dtype": dtype,
            "config": {"gumbel_sinkhorn": f"{sk['lists']} lists, N = {sk['n']}, {sk['n_iters']} rounds, tau {sk['tau']:g}",
                       "neuralsort": f"{ns['lists']} lists, N = {ns['n']}, tau {ns['tau']:g}"}}
