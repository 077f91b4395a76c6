"""The estimator lab on a real model: exact gradients of the digits VAE's expected reconstruction.

For a categorical VAE (minigumbel.tasks.vae) with a small code space (K^L ≤ 4096 codes) the expected
reconstruction term of image x,  R(θ) = E_{c~q_θ}[−log p(x | c)],  q_θ(c) = Π_l softmax(θ_l)_{c_l},
has an exact gradient wrt the encoder logits θ (L, K), by enumerating every code c:

    ∂R/∂θ_{l,k} = Σ_c q(c) R_c (1[c_l = k] − q_{l,k})       (∂ log q(c)/∂θ_{l,k} = 1[c_l = k] − q_{l,k}).

:func:`gradient_quality` trains a VAE (one training estimator, the reference setup of
``TrainConfig.for_task("vae")``) and at checkpoints along training measures every estimator's bias,
variance, MSE and cosine against this gradient on a fixed set of test images, like the lab's toy
problems (rows of :mod:`minigumbel.lab`'s format); the decoder is held fixed at each checkpoint. Several
training runs (seeds) show how much of a difference between estimators is the run's. This is the analysis
the ReinMax paper ran on MNIST (Liu et al. 2023), here for every estimator and τ.
"""
from __future__ import annotations

import zlib

import numpy as np

from .estimators import estimate_samples, get_estimator
from .functional import _log_softmax as log_softmax
from .lab import Moments, batches, label
from .tasks.vae import enumerate_codes

__all__ = ["CODE_LIMIT", "exact_reconstruction_grad", "estimator_grads", "gradient_quality"]

CODE_LIMIT = 4096          # K^L codes enumerated per image
CHUNK = 200                # at most this many estimates drawn at once (leave-one-out: within each batch)


def _codes(latents, classes):
    return enumerate_codes(latents, classes, CODE_LIMIT, "the exact gradient")     # (C, L, K)


def exact_reconstruction_grad(task, params, x, logits):
    """(R (B,), ∂R/∂θ (B, L, K)) for images x (B, D) at encoder logits θ (B, L, K), by enumeration."""
    xp = task.xp
    codes = task.backend.asarray(_codes(task.latents, task.classes), task.dtype)    # (C, L, K)
    recon, _ = task.reconstruction(params, x, codes[:, None])                  # (C, B) R_c per image
    logq = log_softmax(logits)                                                 # (B, L, K)
    q = xp.exp(logq)
    w = xp.exp(xp.sum(logq[None] * codes[:, None], axis=(-2, -1))) * recon    # (C, B) q(c) R_c
    value = xp.sum(w, axis=0)                                                 # (B,)
    # Σ_c q(c) R_c 1[c_l = k] − q_{l,k} Σ_c q(c) R_c
    grad = xp.einsum("cb,clk->blk", w, codes) - q * value[:, None, None]
    return value, grad


def estimator_grads(task, params, x, logits, name, tau, n, rng, **options):
    """n independent estimates (n, B, L, K) of ∂R/∂θ by estimator ``name`` (one code per image each)."""
    def f(z):                                      # z (n, B, L, K) -> (R (n, B, L), ∂R/∂z)
        losses, cache = task.reconstruction(params, x, z)                     # (n, B)
        _, dz = task.readout_backward(task.xp.ones_like(losses), cache)       # (n, B, L, K)
        return task.per_choice(losses), dz     # the L latents of one image share its loss (REINFORCE's f)
    _, grads = estimate_samples(name, logits, f, rng, tau, n, **options)
    return grads


def _rng(backend, seed, step, name, tau, k):
    key = [seed, step, zlib.crc32(name.encode()), int(round(tau * 1_000_000)), k or 0]
    return backend.rng(int(np.random.SeedSequence(key).generate_state(1, dtype=np.uint64)[0]))


def gradient_quality(names, taus, latents=2, classes=8, steps=2000, every=500, train_estimator="st-gumbel",
                     images=32, samples=200, gr_k=10, seed=0, seeds=1, baseline="loo", backend="numpy",
                     tick=None, **config):
    """Train the VAE ``seeds`` times (seeds ``seed``, ``seed + 1``, …) and measure each estimator against
    the exact gradient at steps 0, every, 2·every, … of each run.

    Returns {"latents", "classes", "codes", "images", "samples", "train_estimator", "seed", "seeds"
    [the training seeds], "baseline", "backend", "steps" [checkpoint steps], "runs": [{"seed",
    "exact_norm" [per checkpoint], "recon" [mean R per checkpoint]} per seed], "rows": [{"seed", "step",
    and the keys of a lab row (minigumbel.lab) but time_us}]}. Estimates are of ∂(Σ_b R_b)/∂θ over the
    ``images`` first test images (flattened), one code per image per estimate, drawn in batches of at
    most CHUNK (200) and folded into running sums (:class:`minigumbel.lab.Moments`); REINFORCE's
    ``baseline`` ("loo": leave-one-out within each batch, per image; "none") shows in its label.
    ``config`` goes to the TrainConfig (e.g. ``lr``, ``data``). ``tick(n)`` counts estimates.
    """
    for value, what in ((steps, "steps"), (every, "every"), (images, "images"), (samples, "samples"), (seeds, "seeds")):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (2 if what == "samples" else 1):
            raise ValueError(f"{what} must be an integer >= {2 if what == 'samples' else 1}, got {value!r}")
    if baseline not in ("loo", "none"):
        raise ValueError(f"baseline must be 'loo' or 'none', got {baseline!r}")
    _codes(latents, classes)
    for name in names:
        get_estimator(name)
    out = None
    for s in range(int(seed), int(seed) + seeds):
        run_out = _one_run(names, taus, latents, classes, steps, every, train_estimator, images, samples, gr_k,
                           s, baseline, backend, tick, config)
        if out is None:
            out = {k: run_out[k] for k in ("latents", "classes", "codes", "images", "samples", "train_estimator",
                                           "backend", "steps")}
            out.update(seed=int(seed), seeds=[], baseline=baseline, runs=[], rows=[])
        out["seeds"].append(s)
        out["runs"].append({"seed": s, "exact_norm": run_out["exact_norm"], "recon": run_out["recon"]})
        out["rows"] += run_out["rows"]
    return out


def _one_run(names, taus, latents, classes, steps, every, train_estimator, images, samples, gr_k, seed, baseline,
             backend, tick, config):
    from .train import Run, TrainConfig
    run = Run(TrainConfig.for_task("vae", latents=latents, classes=classes, steps=steps, seed=seed,
                                   estimator=train_estimator, backend=backend, **config))
    task, be = run.task, run.backend
    x = task.test_x[:images]                                                  # (B, D) fixed images
    out = {"latents": latents, "classes": classes, "codes": classes ** latents, "images": int(x.shape[0]),
           "samples": samples, "train_estimator": train_estimator, "backend": be.name,
           "steps": [], "exact_norm": [], "recon": [], "rows": []}
    while True:
        logits, _ = task.scores(run.params, {"x": x})                         # (B, L, K): samples = 1
        value, exact = exact_reconstruction_grad(task, run.params, x, logits)
        exact = be.to_numpy(exact).reshape(-1)
        out["steps"].append(run.step)
        out["exact_norm"].append(float(np.linalg.norm(exact)))
        out["recon"].append(float(be.to_numpy(value).mean()))
        for tau in taus:
            for name in names:
                for k in (gr_k,) if name.startswith("gumbel-rao") else (None,):
                    opts = {"k": k} if k else {"baseline": baseline} if name == "reinforce" else {}
                    rng = _rng(be, seed, run.step, name, tau, k)
                    sums = Moments(exact)
                    for m in batches(samples, CHUNK):      # running sums: memory bounded whatever --samples
                        g = be.to_numpy(estimator_grads(task, run.params, x, logits, name, tau, m, rng, **opts))
                        sums.add(g.reshape(m, -1))
                        if tick is not None:
                            tick(m)
                    out["rows"].append({"seed": seed, "step": run.step, "estimator": label(name, k, opts.get("baseline")),
                                        "tau": tau, **sums.stats()})
        if run.step >= steps:
            return out
        for _ in range(min(every, steps - run.step)):
            run.train_step()
