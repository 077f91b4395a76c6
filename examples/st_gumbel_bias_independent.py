"""ST-Gumbel's bias as τ → 0 on the lab's cubic problem, computed without the library.

An independent check of ``minigumbel estimators --problem cubic``: the same θ and a (the lab's
problem for seed 0, K = 5: NumPy's Generator seeded [0, 2]), f(z) = (a·z)³, exact gradient
J(π)F with F_k = a_k³. Straight-through Gumbel-Softmax: d = one-hot(argmax(θ + g)), gradient
y ⊙ (∂f(d) − ⟨∂f(d), y⟩)/τ with y = softmax((θ + g)/τ); soft Gumbel-Softmax: the same at f's
gradient at y. Written here with NumPy alone, so the library's code is not its own referee.

    python examples/st_gumbel_bias_independent.py              # 5,000,000 draws per τ (~1 min)
    python examples/st_gumbel_bias_independent.py --quick      # 200,000 draws per τ
"""
from __future__ import annotations

import argparse

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--draws", type=int, default=5_000_000, help="Gumbel draws per τ")
    ap.add_argument("--taus", default="0.2,0.05,0.02")
    ap.add_argument("--quick", action="store_true", help="200,000 draws per τ (a smoke test)")
    args = ap.parse_args(argv)
    if args.quick:
        args.draws = 200_000
    rng0 = np.random.default_rng([0, 2])             # minigumbel.lab.make_problem("cubic", 5, seed=0)
    theta, a = rng0.normal(size=5), rng0.normal(size=5)
    pi = np.exp(theta - theta.max())
    pi /= pi.sum()
    F = a ** 3                                       # f(e_k) = a_k³
    exact = pi * (F - pi @ F)                        # J(π) F
    print(f"cubic problem, K = 5: exact ‖∇‖ = {np.linalg.norm(exact):.4f}; {args.draws:,} draws per τ")
    rng = np.random.default_rng(12345)
    chunk = min(args.draws, 200_000)
    for tau in (float(t) for t in args.taus.split(",")):
        sums = {"st-gumbel": [np.zeros(5), np.zeros(5)], "gumbel": [np.zeros(5), np.zeros(5)]}
        done = 0
        while done < args.draws:
            n = min(chunk, args.draws - done)
            g = -np.log(-np.log(rng.uniform(size=(n, 5))))
            s = (theta + g) / tau
            y = np.exp(s - s.max(1, keepdims=True))
            y /= y.sum(1, keepdims=True)                                  # (n, K) relaxed sample
            d = np.eye(5)[np.argmax(theta + g, 1)]                        # (n, K) exact sample
            for name, z in (("st-gumbel", d), ("gumbel", y)):
                dz = 3 * (z @ a)[:, None] ** 2 * a                        # ∂f at the point f is evaluated
                est = y * (dz - (dz * y).sum(1, keepdims=True)) / tau
                sums[name][0] += est.sum(0)
                sums[name][1] += (est ** 2).sum(0)
            done += n
        for name, (s1, s2) in sums.items():
            mean = s1 / done
            var = (s2 / done - mean ** 2).sum()
            print(f"τ = {tau:<5g} {name:<10} bias norm {np.linalg.norm(mean - exact):.3f} ± {np.sqrt(var / done):.3f}")


if __name__ == "__main__":
    main()
