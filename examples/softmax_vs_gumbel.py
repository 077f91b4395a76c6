"""Softmax with temperature or Gumbel-Softmax? The leakage experiment on the bottleneck task.

A categorical autoencoder (minigumbel.tasks.BottleneckTask): an encoder picks one of K = 10 codes
for x, a decoder reconstructs x from the code. At test time the code is hard (one-hot argmax), so
the best reachable loss is the within-cluster noise σ² = 0.25. Trained through a deterministic
softmax, the code is a continuous K-vector that carries more than a K-way choice: its *soft* loss
falls below σ² while the *hard* loss it is judged by gets worse. With Gumbel noise (soft or
straight-through) the code must survive the noise, and soft and hard losses agree.

Prints, per estimator, the final held-out soft and hard losses and their gap, mean ± s.d. over seeds.
The runs are those of ``minigumbel compare`` (τ = 2 → 0.5 linearly, 1500 steps, Adam lr 1e-2) and of
the ``leakage`` figure.

    python examples/softmax_vs_gumbel.py                 # seeds 0, 1, 2 (about 40 s on 2 cores)
    python examples/softmax_vs_gumbel.py --tau 0.5       # a constant-schedule start at another τ0
    python examples/softmax_vs_gumbel.py --quick         # 100 steps, one seed (smoke test)
"""
from __future__ import annotations

import argparse
import time

from minigumbel.figures import LEAKAGE_CONFIG, LEAKAGE_ESTIMATORS, leakage_data


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=LEAKAGE_CONFIG["steps"])
    ap.add_argument("--seed", type=int, default=0, help="first seed")
    ap.add_argument("--seeds", type=int, default=3, help="number of seeds: --seed, --seed + 1, …")
    ap.add_argument("--tau", type=float, default=LEAKAGE_CONFIG["tau"], help="initial temperature τ0")
    ap.add_argument("--quick", action="store_true", help="100 steps, seed 0 (for the smoke test)")
    args = ap.parse_args(argv)
    steps, seeds = (100, [0]) if args.quick else (args.steps, [args.seed + i for i in range(args.seeds)])
    t0 = time.perf_counter()
    d = leakage_data(seed=seeds[0], n_seeds=len(seeds), steps=steps, tau=args.tau, eval_every=max(1, steps // 10))
    c = d["config"]
    print(f"bottleneck task, K = 10, τ = {c['tau']:g} → {c['tau_min']:g} ({c['anneal']}), {steps} steps, "
          f"seeds {d['seeds']};\n"
          f"held-out reconstruction MSE, best hard loss σ² = {d['noise_var']:g}\n")
    print(f"{'estimator':<10}  {'soft (training code)':>20}  {'hard (argmax code)':>18}  {'hard − soft':>15}  "
          "hard − soft per seed")
    for name in LEAKAGE_ESTIMATORS:
        r = d["runs"][name]
        soft, hard = r["soft_loss"][:, -1], r["hard_loss"][:, -1]                    # (seeds,)
        cells = "  ".join(f"{c.mean():>{w - 8}.3f} ± {c.std(ddof=1) if c.size > 1 else 0.0:.3f}"
                          for c, w in zip((soft, hard, hard - soft), (20, 18, 15)))
        print(f"{name:<10}  {cells}  " + " ".join(f"{v:+.3f}" for v in hard - soft))
    print(f"\n(± is the s.d. over {len(seeds)} seed(s), the final evaluation of each run; {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
