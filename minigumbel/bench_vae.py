"""The VAE part of ``minigumbel bench``: one training step of the reference categorical VAE.

Three implementations of the same step (batch 100 of the 8 × 8 digits, encoder 64-256-128-64, a
Gumbel-Softmax code of L = 8 latents × K = 8 classes at τ = 1, decoder 64-128-256-64, BCE + analytic
KL, Adam lr 1e-3 — ``TrainConfig.for_task("vae")`` with a constant τ):

    hand      minigumbel's hand-derived backward passes (what ``minigumbel train --task vae`` runs)
    autograd  autograd differentiating the same forward code (NumPy only)
    torch     the same model in PyTorch on the CPU (``torch.nn`` + ``F.gumbel_softmax`` + ``torch.optim.Adam``),
              in its own process (minigumbel.bench_workers), once with one intra-op thread (what the
              NumPy cases use: the vae runs NumPy's BLAS on one thread, see minigumbel.tasks.vae) and once
              with PyTorch's default thread count.

The NumPy cases are timed round-robin; PyTorch's after them in its subprocess.
"""
from __future__ import annotations

__all__ = ["bench_vae_step", "VAE_SPEC"]

VAE_SPEC = {"batch": 100, "dim": 64, "hidden": [256, 128], "latents": 8, "classes": 8, "tau": 1.0, "lr": 1e-3,
            "n_train": 1500}


def bench_vae_step(backend, dtype="float64", repeats=20, seed=0, libs=(), estimator="gumbel") -> dict:
    """Median step times of hand vs autograd (NumPy) vs PyTorch CPU for the reference VAE."""
    from .bench import round_robin, run_other
    from .train import Run, TrainConfig
    grads = ("hand", "autograd") if backend.name == "numpy" else ("hand",)
    runs = {g: Run(TrainConfig.for_task("vae", backend=backend.name, dtype=dtype, seed=seed, grad=g,
                                         estimator=estimator, anneal="constant")) for g in grads}
    with runs["hand"].task.threads_limit():
        cases = round_robin({g: r.train_step for g, r in runs.items()}, repeats, sync=backend.synchronize)
    spec = {**VAE_SPEC, "dim": runs["hand"].task.dim, "n_train": runs["hand"].task.n_train}
    for lib in libs:
        if lib != "torch":
            continue
        for threads, label in ((1, "torch (1 thread)"), (0, "torch (default threads)")):
            other = run_other("torch", [], dtype, spec["tau"], repeats, "cuda" if backend.name == "cupy" else "cpu",
                              what="vae", spec={**spec, "threads": threads})
            res = other.get("train", {"error": other.get("error", "no result")})
            cases[label] = {**res, "threads": other.get("threads")} if "error" not in res else res
    return {"task": "vae", "cases": cases,
            "config": (f"batch {spec['batch']}, encoder {spec['dim']}-256-128-{spec['latents'] * spec['classes']}, "
                       f"{estimator} code L={spec['latents']} x K={spec['classes']} (tau {spec['tau']:g}), decoder "
                       f"mirrored, BCE + KL, adam lr {spec['lr']:g}, {dtype}; NumPy BLAS on 1 thread")}
