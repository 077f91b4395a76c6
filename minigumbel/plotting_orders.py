"""Drawing the figures of minigumbel.figures_orders (registered in minigumbel.plotting)."""
from __future__ import annotations

import numpy as np

__all__ = ["draw_orders", "draw_sort_matrices", "SIZES"]

SIZES = {"orders": (1500, 900), "sort-matrices": (1500, 650)}
_STYLE = {"reinforce-pl": dict(color="0.2", ls="-.", marker="D"), "neuralsort": dict(color="0.0", ls="-", marker="o"),
          "stochastic-neuralsort": dict(color="0.35", ls="--", marker="s"),
          "gumbel-sinkhorn": dict(color="0.55", ls=":", marker="^"),
          "st-gumbel-sinkhorn": dict(color="0.45", ls=(0, (6, 2)), marker="v"),
          "sinkhorn": dict(color="0.7", ls="-", marker="*")}


def draw_orders(fig, d):
    from matplotlib.ticker import NullLocator
    axes = fig.subplots(2, 3, gridspec_kw={"width_ratios": [1, 1, 0.45]})
    panels = [(axes[0, 0], "bias_norm", "bias norm ‖E[ĝ] − ∇‖", True), (axes[0, 1], "variance", "per-sample variance", True),
              (axes[1, 0], "mse", "MSE of one estimate = bias² + variance", True),
              (axes[1, 1], "cosine", "cos(E[ĝ], ∇)", False)]
    for name, s in d["series"].items():
        st = _STYLE.get(name.split("(")[0], dict(color="0.3", ls="-", marker="o"))
        for ax, key, _, log in panels:
            y = s[key]
            keep = y > 0 if log else np.isfinite(y)
            ax.plot(s["tau"][keep], y[keep], color=st["color"], ls=st["ls"], marker=st["marker"], ms=6, label=name)
    taus = sorted({t for s in d["series"].values() for t in s["tau"]})
    for ax, key, label, log in panels:
        ax.set_xscale("log")
        if log:
            ax.set_yscale("log")
        ax.set_xticks(taus, [f"{t:g}" for t in taus])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("temperature τ (log scale)")
        ax.set_title(label + (" (log scale; 0 not drawn)" if log else ""), fontsize=10)
    for ax in axes[:, 2]:
        ax.axis("off")
    axes[0, 2].legend(*axes[0, 0].get_legend_handles_labels(), loc="center left", fontsize=9, title="estimator")
    fig.suptitle(f"Estimators of ∇θ E_(o~PL(θ))[f(o)], n = {d['k']} items (exact ‖∇‖ = {d['exact_norm']:.4f} by "
                 f"enumerating the {int(np.prod(np.arange(1, d['k'] + 1)))} orders; {d['samples']:,} estimates per point, "
                 f"seed {d['seed']})")


def draw_sort_matrices(fig, d):
    steps = d["steps"]
    axes = fig.subplots(2, len(steps), squeeze=False)
    n = d["n_items"]
    for j, step in enumerate(steps):
        for i, (key, what) in enumerate((("soft", "soft (training, one noise sample)"), ("hard", "hard (evaluation)"))):
            ax = axes[i, j]
            ax.imshow(d[key][j], cmap="Greys", vmin=0.0, vmax=1.0)
            ax.set_xticks(range(n), [str(k + 1) for k in range(n)], fontsize=7)
            ax.set_yticks(range(n), [f"{v:.2f}" for v in d["x"]], fontsize=7)
            ax.grid(False)
            ax.set_title(f"step {step}: {what}", fontsize=9)
            if j == 0:
                ax.set_ylabel("item (its value, increasing)")
            if i == 1:
                ax.set_xlabel("position (ascending)")
    f = d["final"]
    fig.suptitle(f"Sorting {n} numbers with {d['estimator']} (Mena et al.'s setup, seed {d['seed']}): soft matrices "
                 f"beside the hard permutations of one held-out list; final prop. wrong {f['prop_wrong']:.3f}, "
                 f"Kendall τ {f['kendall_tau']:.3f}", fontsize=10)
