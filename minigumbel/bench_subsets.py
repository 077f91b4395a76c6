"""The relaxed top-k part of ``minigumbel bench`` (``--parts topk``): forward + backward of
:func:`minigumbel.subsets.relaxed_topk` (Xie & Ermon 2019) on 1024 rows × 1000 items, k = 10, τ = 0.5.

    fast       minigumbel.fast_subsets: row blocks in cache, fewer passes (forward keeps its steps,
               the backward uses them), the helpers' threads
    reference  subsets.relaxed_topk + subsets.relaxed_topk_vjp (the readable functions; the VJP
               recomputes the forward)
    torch      the same recursion in PyTorch with autograd on the CPU (``softmax``, ``log`` of
               ``1 − a`` clamped at the dtype's smallest normal number, as implementations of the
               paper write it), in its own process (minigumbel.bench_workers): once on one intra-op
               thread, once on PyTorch's default thread count

The noise g and the upstream gradient are drawn once; every case computes y and ∂L/∂θ from them.
"""
from __future__ import annotations

__all__ = ["TOPK_SPEC", "bench_topk"]

TOPK_SPEC = {"rows": 1024, "items": 1000, "k": 10, "tau": 0.5}


def bench_topk(backend, dtype="float32", repeats=20, seed=0, threads=None, libs=()) -> dict:
    """Median fwd+bwd times of the fast path, the reference and (``libs``) PyTorch CPU."""
    import numpy as np

    from . import subsets as S
    from .bench import round_robin, run_other
    from .functional import sample_gumbel
    spec = TOPK_SPEC
    shape, k, tau = (spec["rows"], spec["items"]), spec["k"], spec["tau"]
    rng = backend.rng(seed)
    logits = rng.standard_normal(shape, dtype=np.dtype(dtype))
    dy = rng.standard_normal(shape, dtype=np.dtype(dtype))
    g = sample_gumbel(rng, shape, dtype)

    def reference():
        S._relaxed_topk(logits, g, k, tau)
        S._relaxed_topk_vjp(dy, logits, g, k, tau)

    cases = {}
    if backend.name == "numpy":
        from .fast_subsets import fast_relaxed_topk, fast_relaxed_topk_vjp

        def fast():
            _, cache = fast_relaxed_topk(logits, g, k, tau, threads=threads, return_cache=True)
            fast_relaxed_topk_vjp(dy, logits, g, k, tau, threads=threads, cache=cache)
        cases["fast"] = fast
    cases["reference"] = reference
    res = round_robin(cases, repeats, sync=backend.synchronize)
    for lib in libs:
        if lib != "torch":
            continue
        for n, label in ((1, "torch (1 thread)"), (0, "torch (default threads)")):
            other = run_other("torch", [], dtype, tau, repeats, "cuda" if backend.name == "cupy" else "cpu",
                              what="topk", spec={**spec, "threads": n})
            res[label] = other.get("train", {"error": other.get("error", "no result")})
            if "threads" in other and "error" not in res[label]:
                res[label]["threads"] = other["threads"]
    return {"task": "relaxed top-k", "cases": res,
            "config": f"{shape[0]} x {shape[1]} items, k = {k}, tau {tau:g}, {dtype}, forward + backward wrt the logits"}
