"""The temperature trade-off of the Gumbel-Softmax sample y = softmax((log π + g)/τ).

For π = (0.1, 0.2, 0.3, 0.4) and a sweep of τ, with one set of Gumbel noise reused at every τ,
print how one-hot the samples are (mean of max_k y_k: 1 for one-hot, 1/K for uniform), how far their
mean is from π and from uniform (total variation), and the spread of y_k. Low τ: near one-hot samples
whose mean is π (a good stand-in for the discrete sample, but the gradient scales like 1/τ);
high τ: samples near uniform, smooth but far from any category (Jang, Gu & Poole 2017;
Maddison, Mnih & Teh 2017).

    python examples/temperature_sweep.py            # 200,000 samples per τ
    python examples/temperature_sweep.py --quick    # 5,000 (smoke test)
"""
from __future__ import annotations

import argparse

import numpy as np

from minigumbel.functional import gumbel_softmax, sample_gumbel

PROBS = (0.1, 0.2, 0.3, 0.4)
TAUS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200_000, help="samples per temperature")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="5,000 samples (for the smoke test)")
    args = ap.parse_args(argv)
    n = 5_000 if args.quick else args.n
    p = np.array(PROBS)
    uniform = np.full_like(p, 1 / p.size)
    g = sample_gumbel(np.random.default_rng(args.seed), (n, p.size))    # (N, K), shared by every τ
    logits = np.broadcast_to(np.log(p), g.shape)
    print(f"π = {PROBS}, {n:,} Gumbel-Softmax samples per τ (the same noise at every τ), seed {args.seed}\n")
    print(f"{'τ':>5}  {'E[max_k y_k]':>12}  {'TV(E[y], π)':>11}  {'TV(E[y], 1/K)':>13}  {'mean s.d. of y_k':>16}  closer to")
    for tau in TAUS:
        y = gumbel_softmax(logits, g, tau)                               # (N, K)
        m = y.mean(0)
        tv_pi, tv_u = 0.5 * np.abs(m - p).sum(), 0.5 * np.abs(m - uniform).sum()
        closer = "π" if tv_pi < tv_u else "uniform"
        print(f"{tau:>5g}  {y.max(1).mean():>12.4f}  {tv_pi:>11.4f}  {tv_u:>13.4f}  {y.std(0).mean():>16.4f}  {closer}")
    print(f"\n(TV(π, 1/K) = {0.5 * np.abs(p - uniform).sum():.4f}; Monte-Carlo s.e. of each mean entry "
          f"≤ {0.5 / np.sqrt(n):.4f})")


if __name__ == "__main__":
    main()
