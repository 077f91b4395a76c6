"""Drawing the figures of :mod:`minigumbel.figures` with matplotlib (the ``plot`` extra).

matplotlib is imported only inside :func:`draw`, and no pyplot state is touched: each figure is a
``matplotlib.figure.Figure`` rendered by the Agg canvas (PNG) or the SVG backend, so calling this
from a notebook changes nothing there. Every series has its own colour, line style and marker
(and bars their own hatch), so a figure reads on screen and in a grayscale print alike. The saved
PNG has exactly the requested size in pixels (no tight bounding box); the output is the same bytes
for the same data.
"""
from __future__ import annotations

import os

import numpy as np

__all__ = ["draw", "parse_size", "DEFAULT_SIZES", "FORMATS", "INSTALL_HINT"]

FORMATS = ("png", "svg")
INSTALL_HINT = "pip install 'minigumbel[plot]'"
DEFAULT_SIZES = {"temperature": (1400, 700), "leakage": (1500, 550), "estimators": (1500, 900),
                 "schedules": (900, 550), "training": (1400, 500), "vae": (1600, 560),
                 "vae-gradients": (1500, 1300), "subset-estimators": (1500, 900)}

# one entry per series: a colour (matplotlib's tab10 set, softmax black), a line style and a marker, so
# that ten series can be told apart on screen, and still in a grayscale print or by a colour-blind reader
_STYLE = {
    "softmax":    dict(color="#000000", ls="-", marker="o"),
    "gumbel":     dict(color="#e377c2", ls="--", marker="s"),
    "st-gumbel":  dict(color="#2ca02c", ls=":", marker="^"),
    "reinforce":  dict(color="#1f77b4", ls="-.", marker="D"),
    "st":         dict(color="#ff7f0e", ls=(0, (6, 2)), marker="v"),
    "gumbel-rao": dict(color="#d62728", ls=(0, (3, 1, 1, 1, 1, 1)), marker="P"),
    "reinmax":    dict(color="#9467bd", ls="-", marker="X"),
    "gst-1.0":    dict(color="#7f7f7f", ls=(0, (8, 2, 1, 2)), marker="<"),
    "gst-p":      dict(color="#bcbd22", ls=(0, (2, 2)), marker=">"),
    "decoupled":  dict(color="#17becf", ls="-", marker="*"),
    "gumbel-rao-total": dict(color="#8c564b", ls=(0, (5, 1)), marker="h"),
    "reinforce-pl": dict(color="#1f77b4", ls="-.", marker="D"),
    "relaxed-topk": dict(color="#e377c2", ls="--", marker="s"),
    "st-topk":    dict(color="#2ca02c", ls=":", marker="^"),
    "l2x":        dict(color="#d62728", ls=(0, (3, 1, 1, 1, 1, 1)), marker="P"),
    "soft-topk":  dict(color="#000000", ls="-", marker="o"),
    "constant":   dict(color="#000000", ls="-", marker="o"),
    "exp":        dict(color="#1f77b4", ls="--", marker="s"),
    "linear":     dict(color="#ff7f0e", ls=":", marker="^"),
    "cosine":     dict(color="#2ca02c", ls="-.", marker="D"),
}
_HATCHES = ("", "///", "...", "xx", "\\\\")
_RC = {"svg.hashsalt": "minigumbel", "font.size": 10, "axes.grid": True, "grid.color": "0.85",
       "grid.linewidth": 0.6, "legend.framealpha": 0.9, "hatch.linewidth": 0.8}


def parse_size(text):
    """'WxH' (pixels) -> (W, H), each an integer in [100, 10000]."""
    try:
        w, h = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise ValueError(f"size must look like WIDTHxHEIGHT in pixels, e.g. 1200x800, got {text!r}") from None
    if not (100 <= w <= 10_000 and 100 <= h <= 10_000):
        raise ValueError(f"size must be between 100x100 and 10000x10000 pixels, got {text!r}")
    return w, h


def _style(name):
    return _STYLE.get(name.split("(")[0], dict(color="0.3", ls="-", marker="o"))


def draw(name, data, out, fmt="png", size=None, dpi=100):
    """Draw figure ``name`` from its ``data`` (see minigumbel.figures) and save it to ``out``.

    ``size`` is (width, height) in pixels (default: DEFAULT_SIZES[name]); ``fmt`` "png" or "svg".
    Raises ImportError when matplotlib is missing (the message names INSTALL_HINT).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if name not in _DRAW:
        raise ValueError(f"unknown figure {name!r}; choose one of {', '.join(_DRAW)}")
    w, h = size or DEFAULT_SIZES[name]
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(f"plotting needs matplotlib: {INSTALL_HINT}") from exc
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(w / dpi, h / dpi), dpi=dpi, layout="constrained")
        _DRAW[name](fig, data)
        meta = {"Date": None} if fmt == "svg" else {"Software": None}
        fig.savefig(os.fspath(out), format=fmt, dpi=dpi, metadata=meta)
    return out


# ----------------------------------------------------------------------------- the figures

def _temperature(fig, d):
    p, taus, n = d["probs"], d["taus"], d["n_samples"]
    k = np.arange(p.size)                    # categories 0 … K−1, as NumPy indexes them (and `minigumbel sample`)
    axes = fig.subplots(2, len(taus), sharey=True, squeeze=False)
    for j, tau in enumerate(taus):
        top, bottom = axes[0, j], axes[1, j]
        top.bar(k, d["mean"][j], width=0.6, color="0.75", edgecolor="0.0", label=f"mean of {n:,} samples")
        top.errorbar(k, d["mean"][j], yerr=2 * d["se"][j], fmt="none", ecolor="0.0", capsize=3,
                     label="± 2 s.e.")
        top.plot(k, p, ls="none", marker="_", markersize=22, mew=2.5, color="0.0", label="π (target)")
        top.axhline(1 / p.size, color="0.3", ls=":", lw=1.2, label="uniform 1/K")
        top.set_title(f"τ = {tau:g}")
        m = len(d["samples"][j])
        for i, y in enumerate(d["samples"][j]):
            bottom.bar(k + (i - (m - 1) / 2) * 0.8 / m, y, width=0.8 / m, color=f"{0.95 - 0.3 * i:.2f}",
                       edgecolor="0.0", hatch=_HATCHES[i % len(_HATCHES)], label=f"sample {i + 1}")
        for ax in (top, bottom):
            ax.set_xticks(k)
            ax.set_ylim(0, 1.02)
            ax.set_xlabel("category k")
        if j == 0:
            top.set_ylabel("E[y_k] (probability)")
            bottom.set_ylabel("single sample y_k (unitless)")
    # legends in the high-τ column: its bars stay near 1/K, so the top of the panel is always empty
    axes[0, -1].legend(loc="upper right", fontsize=8)
    axes[1, -1].legend(loc="upper right", fontsize=8)
    pi = ", ".join(f"{v:g}" for v in p)
    fig.suptitle(f"Gumbel-Softmax samples y = softmax((log π + g)/τ) for π = ({pi}), seed {d['seed']}\n"
                 "low τ: near one-hot samples whose mean is π;  high τ: samples near uniform, mean near 1/K")


HARD, SOFT = "#1f77b4", "#d62728"        # the leakage figure's hard and soft losses


def signed(value, digits=2):
    """``value`` with its sign at ``digits`` decimals, but 0 for what rounds to zero ("0.00", never "-0.00")."""
    text = f"{value:+.{digits}f}"
    return text[1:] if float(text) == 0 else text


def _leakage(fig, d):
    runs = d["runs"]
    axes = fig.subplots(1, len(runs), sharey=True, squeeze=False)[0]
    n = len(d["seeds"])
    target = d["noise_var"] + 0.01          # the bottleneck task's target (minigumbel.tasks.BottleneckTask)
    for ax, (name, r) in zip(axes, runs.items()):
        every = max(1, len(r["step"]) // 12)
        for i in range(n if n > 1 else 0):                   # every seed, thin and unmarked
            ax.plot(r["step"], r["hard_loss"][i], color=HARD, ls="-", lw=0.9, alpha=0.5)
            ax.plot(r["step"], r["soft_loss"][i], color=SOFT, ls="--", lw=0.9, alpha=0.5)
        ax.plot(r["step"], np.median(r["hard_loss"], axis=0), color=HARD, ls="-", lw=2.2, marker="o", ms=5,
                markevery=every, label="hard eval (argmax one-hot code)" + (": median; thin: each seed" if n > 1 else ""))
        ax.plot(r["step"], np.median(r["soft_loss"], axis=0), color=SOFT, ls="--", lw=2.2, marker="s", ms=5,
                mfc="white", markevery=every, label="soft (the training-time code)" + (": median; thin: each seed" if n > 1 else ""))
        ax.axhline(d["noise_var"], color="0.3", ls=":", lw=1.2,
                   label=f"σ² = {d['noise_var']:g}: the best any one-hot code can do")
        gap = np.median(r["hard_loss"][:, -1] - r["soft_loss"][:, -1])
        reach = int(np.sum(r["hard_loss"][:, -1] <= target))
        ax.set_title(f"{name}: final hard − soft {signed(gap)} (median);\n{reach}/{n} seeds end within 0.01 of σ²")
        ax.set_xlabel("training step")
    axes[0].set_ylabel("held-out reconstruction MSE per dimension (log scale)")
    axes[-1].legend(loc="upper right", fontsize=8)   # the panels after softmax end low: top right is free
    seeds, c = d["seeds"], d["config"]
    which = f"seed {seeds[0]}" if n == 1 else f"seeds {seeds[0]}–{seeds[-1]}"
    sched = f"τ = {c['tau']:g}" + (f" → {c['tau_min']:g} ({c['anneal']})" if c.get("anneal", "constant") != "constant" else "")
    axes[0].set_yscale("log")                 # softmax's hard loss grows far above the rest
    _plain_log_labels(axes[0])
    fig.suptitle(f"Leakage on the bottleneck task (K = 10, {sched}, {c['steps']} steps, {which}): "
                 "a soft code carries more than a K-way choice,\nso softmax's soft loss falls below σ² "
                 "while its hard (argmax) loss rises; with Gumbel noise, hard and soft meet as τ anneals")


def _plain_log_labels(ax):
    """y tick labels 0.2, 0.5, 2 … instead of 2×10⁻¹ on a log axis; minor ticks (2, 3, 5 × 10ⁿ)
    are labelled only when the axis spans few decades (else they would overlap)."""
    from matplotlib.ticker import FuncFormatter
    if ax.get_yscale() != "log":
        return

    def minor(v, _):
        lo, hi = ax.get_ylim()
        decades = np.log10(hi / lo)
        mantissa = round(v / 10 ** np.floor(np.log10(v)), 6)
        shown = (2, 3, 5) if decades < 1.6 else (2, 5) if decades < 2.6 else ()
        return f"{v:g}" if mantissa in shown else ""
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(minor))


NOT_DETECTED = "hollow: bias not detected (≤ 3 s.e.); bars: ± 1 s.e."


def _bias_points(ax, x, bias, se, st, ms=7):
    """Bias with ± 1 s.e. bars; a hollow marker where it is not detected (bias ≤ 3 s.e.: it may be 0,
    or a bias smaller than the noise can show). On the log axis a bar reaching 0 runs off the bottom
    (the axis ends below the smallest bias: :func:`_bias_floor`)."""
    lo = np.minimum(se, bias * (1 - 1e-9))
    ax.errorbar(x, bias, yerr=[lo, se], fmt="none", ecolor=st["color"], elinewidth=1.0, capsize=2, alpha=0.8)
    nd = bias <= 3 * se
    ax.plot(x[nd], bias[nd], ls="none", marker=st["marker"], ms=ms, mfc="white", mec=st["color"], mew=1.5)


def _bias_floor(ax, biases):
    """End a log bias axis at half the smallest positive bias, so bars down to 0 run off its bottom."""
    b = np.concatenate([np.ravel(v) for v in biases])
    b = b[np.isfinite(b) & (b > 0)]
    if b.size:
        ax.set_ylim(bottom=0.5 * b.min())


def _key_axis(fig, spec):
    ax = fig.add_subplot(spec)
    ax.axis("off")                          # the legend gets its own column: no data hidden under it
    return ax


def _estimators(fig, d):
    from matplotlib.ticker import NullLocator
    gs = fig.add_gridspec(2, 3, width_ratios=[1, 1, 0.36])
    ax_b, ax_c = fig.add_subplot(gs[0, 0]), fig.add_subplot(gs[0, 1])
    ax_v, ax_m = fig.add_subplot(gs[1, 0], sharex=ax_b), fig.add_subplot(gs[1, 1], sharex=ax_b)
    zero_var = []
    for name, s in d["series"].items():
        st = _style(name)
        line = dict(color=st["color"], ls=st["ls"], marker=st["marker"], ms=7, lw=1.6, label=name)
        ax_b.plot(s["tau"], s["bias_norm"], **line)
        _bias_points(ax_b, s["tau"], s["bias_norm"], s["bias_se"], st)
        ax_c.plot(s["tau"], s["cosine"], **line)
        ax_m.plot(s["tau"], s["mse"], **line)
        if np.all(s["variance"] == 0):
            zero_var.append(name)
            continue
        ax_v.plot(s["tau"], s["variance"], **line)
    _bias_floor(ax_b, [s["bias_norm"] for s in d["series"].values()])
    taus = sorted({t for s in d["series"].values() for t in s["tau"]})
    for ax in (ax_b, ax_c, ax_v, ax_m):
        ax.set_xscale("log")
        if ax is not ax_c:
            ax.set_yscale("log")
            _plain_log_labels(ax)
        ax.set_xticks(taus, [f"{t:g}" for t in taus])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("temperature τ (log scale)")
    ax_b.set_ylabel("bias norm ‖E[ĝ] − ∇‖ (log scale)")
    ax_c.set_ylabel("cos(E[ĝ], ∇)")
    ax_v.set_ylabel("variance of one estimate Σ_k Var[ĝ_k] (log)")
    ax_m.set_ylabel("MSE of one estimate E‖ĝ − ∇‖² (log)")
    ax_b.set_title(f"bias (exact ‖∇‖ = {d['exact_norm']:.3f})")
    ax_c.set_title("direction of the mean estimate")
    ax_v.set_title("variance" + (f" ({', '.join(zero_var)}: 0, not drawn)" if zero_var else ""))
    ax_m.set_title("mean squared error = bias² + variance")
    handles, labels = ax_b.get_legend_handles_labels()
    key = _key_axis(fig, gs[:, 2])
    from matplotlib.lines import Line2D
    handles.append(Line2D([], [], ls="none", marker="o", mfc="white", mec="0.0"))
    labels.append(NOT_DETECTED.replace("; ", ";\n"))
    key.legend(handles, labels, loc="center left", fontsize=9, title="estimator")
    fig.suptitle(f"Gradient estimators of ∇θ E[f(d)] on the {d['problem']} problem (K = {d['k']}, "
                 f"{d['samples']:,} estimates per point, seed {d['seed']})")


def _subset_estimators(fig, d):
    _estimators(fig, d)
    fig.suptitle(f"Gradient estimators of ∇θ E[f(k_hot(S))], S = {d['k']} of {d['n']} items without replacement "
                 f"({d['samples']:,} estimates per point, seed {d['seed']})")


def _vae_gradients(fig, d):
    from matplotlib.lines import Line2D
    taus = sorted({t for _, t in d["series"]})
    panels = (("cosine", "cos(mean estimate, exact ∇)", False), ("rel_bias", "bias norm / ‖∇‖ (log)", True),
              ("rel_variance", "variance / ‖∇‖² (log)", True), ("rel_mse", "MSE / ‖∇‖² (log)", True))
    gs = fig.add_gridspec(len(panels), len(taus) + 1, width_ratios=[1] * len(taus) + [0.4])
    steps, n_seeds = d["steps"], len(d["seeds"])
    axes = np.empty((len(panels), len(taus)), dtype=object)
    for col, tau in enumerate(taus):
        for row, (key, ylabel, log) in enumerate(panels):
            ax = axes[row, col] = fig.add_subplot(gs[row, col], sharex=axes[0, 0] if row or col else None)
            for (name, t), s in d["series"].items():
                if t != tau:
                    continue
                st = _style(name)
                for i in range(n_seeds if n_seeds > 1 else 0):          # each training run, thin
                    ax.plot(steps, s[key][i], color=st["color"], ls="-", lw=0.7, alpha=0.45)
                med = np.median(s[key], axis=0)
                ax.plot(steps, med, color=st["color"], ls=st["ls"], marker=st["marker"], ms=6, lw=1.8, label=name)
                if key == "rel_bias":
                    _bias_points(ax, steps, med, np.median(s["rel_se"], axis=0), st, ms=6)
            if key == "rel_bias":
                _bias_floor(ax, [np.median(s["rel_bias"], axis=0) for (_, t), s in d["series"].items() if t == tau])
            if log:
                ax.set_yscale("log")
                _plain_log_labels(ax)
            if row == 0:
                ax.set_title(f"τ = {tau:g}")
            if col == 0:
                ax.set_ylabel(ylabel)
            ax.set_xticks(steps)
            if row == len(panels) - 1:
                ax.set_xlabel("training step")
            else:
                ax.tick_params(labelbottom=False)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    handles.append(Line2D([], [], ls="none", marker="o", mfc="white", mec="0.0"))
    labels.append(NOT_DETECTED.replace("; ", ";\n"))
    if n_seeds > 1:
        handles.append(Line2D([], [], color="0.3", lw=0.7, alpha=0.6))
        labels.append("thin: each training run\n(bold: median over runs)")
    _key_axis(fig, gs[:, -1]).legend(handles, labels, loc="center left", fontsize=9, title="estimator")
    m, seeds = d["meta"], d["seeds"]
    runs = f"seed {seeds[0]}" if n_seeds == 1 else f"{n_seeds} training runs (seeds {seeds[0]}–{seeds[-1]})"
    fig.suptitle(f"Digits VAE, L = {m['latents']} × K = {m['classes']} ({m['codes']} codes enumerated), trained by "
                 f"{m['train_estimator']}, {runs}: each estimator of ∂E[−log p(x|z)]/∂θ vs the exact gradient\n"
                 f"({m['images']} test images, {m['samples']} estimates per point; reinforce(loo): leave-one-out "
                 "baseline; bias, variance and MSE of one estimate, relative to the exact gradient ‖∇‖)",
                 fontsize=10)


def _schedules(fig, d):
    ax = fig.subplots()
    step = d["step"]
    for name, tau in d["tau"].items():
        st = _style(name)
        ax.plot(step, tau, color=st["color"], ls=st["ls"], marker=st["marker"], markevery=max(1, len(step) // 10),
                lw=1.8, label=name)
    ax.axhline(d["tau_min"], color="0.6", lw=0.8)
    ax.set_xlabel("training step")
    ax.set_ylabel("temperature τ (unitless)")
    ax.set_ylim(0, d["tau0"] * 1.1)
    ax.legend(loc="lower left")             # below τ_min nothing is drawn
    ax.set_title(f"Temperature schedules: τ0 = {d['tau0']:g} → τ_min = {d['tau_min']:g} "
                 f"(exp: rate {d['rate']:g}, updated every {d['every']} steps)")


def _training(fig, d):
    panels = 3 if d["accuracy"] is not None else 2
    axes = fig.subplots(1, panels)
    ax = axes[0]
    ax.plot(d["step"], d["loss"], color="0.75", lw=0.8, label="training loss (per step)")
    ax.plot(d["eval_step"], d["soft_loss"], color="0.35", ls="--", marker="s", mfc="white", label="held-out soft")
    ax.plot(d["eval_step"], d["hard_loss"], color="0.0", ls="-", marker="o", label="held-out hard (argmax)")
    ax.set_xlabel("training step")
    low = min(d["loss"].min(), d["soft_loss"].min(), d["hard_loss"].min())
    if low > 0:                               # losses fall by orders of magnitude: log scale
        ax.set_yscale("log")
    else:                                     # a loss of exactly 0 (e.g. zero regret): linear near 0
        ax.set_yscale("symlog", linthresh=1e-3)
    _plain_log_labels(ax)
    scale = "log scale" if low > 0 else "symlog scale, linear below 0.001"
    ax.set_ylabel(f"{d['loss_name']} per example ({scale})")
    ax.set_title("losses")
    ax.legend(fontsize=8)
    axes[1].plot(d["step"], d["tau"], color="0.0")
    axes[1].set_xlabel("training step")
    axes[1].set_ylabel("temperature τ (unitless)")
    axes[1].set_ylim(0, max(d["tau"].max() * 1.1, 1e-3))
    axes[1].set_title("temperature")
    if panels == 3:
        axes[2].plot(d["eval_step"], 100 * d["accuracy"], color="0.0", marker="o")
        axes[2].set_xlabel("training step")
        axes[2].set_ylabel("held-out hard accuracy (%)")
        axes[2].set_ylim(0, 100)
        axes[2].set_title("accuracy")
    c = d["config"]
    shown = {"task": "task {}", "estimator": "estimator {}", "tau": "τ0 = {:g}", "anneal": "schedule {}",
             "steps": "{} steps", "seed": "seed {}"}
    fig.suptitle("Training run: " + ", ".join(fmt.format(c[k]) for k, fmt in shown.items() if k in c))


def _vae(fig, d):
    # the digit grid (5 rows x 10 digits, about 2:1) fills its panel's height: no empty band above and below
    ax_img, ax_c = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.55, 1.0]})
    side, rows = d["side"], list(d["images"].items())
    n = rows[0][1].shape[0]
    pad = 1
    grid = np.ones((len(rows) * (side + pad) - pad, n * (side + pad) - pad))  # white gaps between digits
    for i, (_, imgs) in enumerate(rows):
        for j in range(n):
            grid[i * (side + pad):i * (side + pad) + side, j * (side + pad):j * (side + pad) + side] = \
                1.0 - imgs[j].reshape(side, side)                                # dark ink on white
    ax_img.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax_img.set_yticks([i * (side + pad) + side / 2 for i in range(len(rows))],
                      [label.replace(", ", ",\n") for label, _ in rows], fontsize=9)
    ax_img.set_xticks([])
    ax_img.grid(False)
    ax_img.set_title("test digits, and decoder outputs (pixel probabilities) for their codes")
    for name, c in d["curves"].items():
        st = _style(name)
        ax_c.plot(c["step"], c["hard"], color=st["color"], ls=st["ls"], marker=st["marker"],
                  markevery=max(1, len(c["step"]) // 8), ms=5, lw=1.4, label=f"{name}: {c['hard'][-1]:.1f}")
    if "softmax" in d["curves"]:
        c = d["curves"]["softmax"]
        ax_c.plot(c["step"], c["soft"], color="0.0", ls=(0, (1, 2)), lw=1.2,
                  label=f"softmax, its soft code: {c['soft'][-1]:.1f}")
    ax_c.axhline(d["pixel_baseline"], color="0.5", lw=2.0, alpha=0.6,
                 label=f"independent pixels: {d['pixel_baseline']:.1f}")
    ax_c.set_ylim(0, min(45.0, ax_c.get_ylim()[1]))
    ax_c.set_xlabel("training step")
    ax_c.set_ylabel("test −ELBO with hard codes d ~ q (nats per image)")
    ax_c.legend(fontsize=8, loc="upper right", title="estimator: final value")
    ax_c.set_title("test −ELBO over training (10 hard codes per image)")
    fig.suptitle(f"Categorical VAE (L = 8 × K = 8) on the 8 × 8 digits, {d['steps']} steps, seed {d['seed']}; "
                 "reinforce: running-mean baseline, reinmax: τ = 1")


_DRAW = {"temperature": _temperature, "leakage": _leakage, "estimators": _estimators,
         "schedules": _schedules, "training": _training, "vae": _vae, "vae-gradients": _vae_gradients,
         "subset-estimators": _subset_estimators}

from .plotting_orders import SIZES as _ORDER_SIZES, draw_orders, draw_sort_matrices  # noqa: E402  (docs/orders.md)

_DRAW.update({"orders": draw_orders, "sort-matrices": draw_sort_matrices})
DEFAULT_SIZES.update(_ORDER_SIZES)
