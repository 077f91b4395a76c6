"""Polynomial programming (Liu et al. 2023, *Bridging Discrete and Backpropagation: Straight-Through
and Beyond*, the toy of their public code): n independent 2-way categorical variables with logits
θ (n, 2) initialised U(−0.01, 0.01); z₀ is the indicator of category 0 and the loss is

    L(z) = (1/n) Σ_v |z_v0 − 0.45|^p,    p ∈ {1.5, 2, 3},

averaged over a batch of 64 samples per step and minimised with Adam (lr 1e-3). The optimum puts
every variable on category 1 (z₀ = 0): loss 0.45^p. We report the mean training loss over the
last epoch (200 steps, as in the paper's code) per estimator, mean ± s.d. over seeds. As in that
code, REINFORCE has no baseline and weights every variable's score by the *total* loss of its
sample, and "exact" follows the exact gradient of the expected loss.

The paper's setup is --n 128 --steps 8000 --seeds 10 (several minutes); the defaults here are a
reduced run that finishes in well under a minute on 2 cores:

    python examples/polynomial_programming.py
    python examples/polynomial_programming.py --n 128 --steps 8000 --seeds 10 --gr-k 100    # the paper's size
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from minigumbel.estimators import ESTIMATORS, exact_grad
from minigumbel.functional import softmax
from minigumbel.optim import Adam

TARGET, BATCH, EPOCH = 0.45, 64, 200
# new methods go at the end: each method's random stream is seeded by its index here
METHODS = ("exact", "reinforce", "st", "st-gumbel", "gumbel-rao", "reinmax", "gst-1.0", "gst-p")


def loss_and_grad(z, p):
    """Per-sample loss (B, P, S) and ∂loss/∂z (B, P, S, n, 2) for one-hot z (B, P, S, n, 2);
    p (P, 1, 1) holds one exponent per row of the (P, S) grid of independent runs."""
    n = z.shape[-2]
    r = z[..., 0] - TARGET                                               # (B, P, S, n)
    dz = np.zeros_like(z)
    dz[..., 0] = p * np.abs(r) ** (p - 1) * np.sign(r) / n
    return (np.abs(r) ** p).sum(-1) / n, dz


def train(method, ps, n, steps, seeds, tau, gr_k, seed=0, lr=1e-3):
    """Train len(ps) × seeds independent copies of θ at once (Adam is elementwise, so a stacked
    run is exactly a set of separate runs); return their last-epoch mean training losses (P, S)."""
    rng = np.random.default_rng([seed, METHODS.index(method)])
    p = np.asarray(ps, dtype=np.float64)[:, None, None]                  # (P, 1, 1)
    params = {"theta": rng.uniform(-0.01, 0.01, size=(len(ps), seeds, n, 2))}   # (P, S, n, 2)
    opt, est = Adam(lr), ESTIMATORS[method]
    per_category = np.abs(np.array([1.0, 0.0]) - TARGET) ** p[..., None] / n   # F_k, (P, 1, 1, 2)
    opts = {"k": gr_k} if method == "gumbel-rao" else {}
    losses = []
    for _ in range(steps):
        theta = params["theta"]
        if method == "exact":
            grad = exact_grad(theta, np.broadcast_to(per_category, theta.shape))
            losses.append((softmax(theta) * per_category).sum((-1, -2)))     # expected loss (P, S)
        else:
            draw = est.sample(np.broadcast_to(theta, (BATCH,) + theta.shape), rng, tau, **opts)
            value, dz = loss_and_grad(draw.z, p)                          # (B, P, S), (B, P, S, n, 2)
            if method == "reinforce":     # every variable's score weighted by its sample's total loss
                grad = est.backward(draw, np.broadcast_to(value[..., None], value.shape + (n,))).mean(0)
            else:
                grad = est.backward(draw, dz).mean(0)
            losses.append(value.mean(0))
        opt.step(params, {"theta": grad})
    return np.mean(losses[-min(EPOCH, steps):], axis=0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=8, help="number of binary variables (paper: 128)")
    ap.add_argument("--steps", type=int, default=1000, help="Adam steps (paper: 8000)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per cell (paper: 10)")
    ap.add_argument("--p", default="1.5,2,3", help="comma-separated exponents p")
    ap.add_argument("--tau", type=float, default=1.0, help="temperature of ST, ST-GS, Gumbel-Rao, ReinMax, GST (> 0; ReinMax's authors use >= 1)")
    ap.add_argument("--gr-k", type=int, default=10, help="Gumbel-Rao conditional samples (paper code: 100)")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--seed", type=int, default=0, help="seed of the whole run")
    a = ap.parse_args(argv)
    ps = [float(v) for v in a.p.split(",")]
    methods = [m for m in a.methods.split(",") if m]
    bad = [m for m in methods if m not in METHODS]
    if bad or a.n < 1 or a.steps < 1 or a.seeds < 1:
        ap.error(f"bad arguments: methods must be among {', '.join(METHODS)}; n, steps, seeds >= 1")
    t0 = time.perf_counter()
    print(f"polynomial programming: n = {a.n}, {a.steps} steps, batch {BATCH}, Adam lr 1e-3, tau = {a.tau:g}, "
          f"gumbel-rao k = {a.gr_k}, {a.seeds} seeds; last-epoch mean training loss (mean ± s.d. over seeds)")
    header = f"{'estimator':<11}" + "".join(f"{'p = ' + format(p, 'g'):>20}" for p in ps)
    print(header + "\n" + "-" * len(header))
    for method in methods:
        runs = train(method, ps, a.n, a.steps, a.seeds, a.tau, a.gr_k, a.seed)      # (P, S)
        print(f"{method:<11}" + "".join(f"{m:.5f} ± {s:.5f}".rjust(20) for m, s in zip(runs.mean(1), runs.std(1))),
              flush=True)
    print(f"{'optimum':<11}" + "".join(f"{TARGET ** p:>20.5f}" for p in ps) + "   (every z₀ = 0)")
    print(f"{'start':<11}" + "".join(f"{(TARGET ** p + (1 - TARGET) ** p) / 2:>20.5f}" for p in ps)
          + "   (π = ½)")
    print(f"({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
