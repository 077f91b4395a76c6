"""The data behind each figure of ``minigumbel plot``, computed apart from any drawing.

Each ``*_data`` function returns a plain dict of NumPy arrays, lists and numbers — the numbers a
figure shows — so tests can check the property a figure illustrates without looking at pixels,
and :mod:`minigumbel.plotting` only draws. Nothing here imports matplotlib. Every function is
deterministic given its ``seed``.

- ``temperature``: the Gumbel-Softmax sample y = softmax((log π + g)/τ) for π = (0.1, 0.2, 0.3, 0.4)
  at τ ∈ {0.1, 0.5, 1, 10}: its mean over many draws and a few single draws (Jang, Gu & Poole
  2017, fig. 1; Maddison, Mnih & Teh 2017). Low τ: near one-hot draws whose mean is π; high τ:
  draws near uniform.
- ``leakage``: soft (training-time pointer) vs hard (argmax pointer) held-out loss over training on
  the ``bottleneck`` task for ``softmax``, ``gumbel`` and ``st-gumbel`` (the runs of ``minigumbel compare``).
- ``estimators``: bias norm (± s.e.), per-sample variance, MSE and cosine of each gradient estimator
  vs τ on a problem of the estimator lab (quadratic by default; ``problem="cubic"`` shows straight-through Gumbel's bias
  staying as τ → 0), the computation of ``minigumbel estimators``.
- ``schedules``: the temperature schedules of :mod:`minigumbel.schedules` over training steps.
- ``training``: the curves of one ``minigumbel train --json`` run.
- ``vae-gradients``: cosine, relative bias, variance and MSE of each estimator against the exact
  gradient of the digits VAE's expected reconstruction, at checkpoints along several training runs (``minigumbel estimators
  --problem vae --json``; minigumbel.lab_vae).
- ``subset-estimators``: bias and variance of the estimators for k items (reinforce-pl, relaxed-topk,
  st-topk, l2x, soft-topk) vs τ on the subset problem of minigumbel.lab_subset (``minigumbel
  estimators --problem subset``).
- ``vae``: the categorical VAE on the 8 × 8 digits (minigumbel.tasks.vae) trained by every estimator:
  test −ELBO curves, test digits beside their reconstructions from hard and soft codes, prior samples.
"""
from __future__ import annotations

import os

import numpy as np

from .backend import get_backend, to_numpy
from ._json import MAYBE_NUMBER, NUMBER
from .functional import check_tau, gumbel_softmax, sample_gumbel

__all__ = ["FIGURES", "PROBS", "TAUS", "LEAKAGE_ESTIMATORS", "LEAKAGE_CONFIG", "LAB_ESTIMATORS", "temperature_data",
           "leakage_data", "estimators_data", "schedules_data", "training_data", "vae_data", "VAE_RUNS",
           "vae_gradients_data", "subset_estimators_data", "figure_data"]

FIGURES = ("temperature", "leakage", "estimators", "schedules", "training", "vae", "vae-gradients", "subset-estimators")
PROBS = (0.1, 0.2, 0.3, 0.4)
TAUS = (0.1, 0.5, 1.0, 10.0)
LEAKAGE_ESTIMATORS = ("softmax", "gumbel", "st-gumbel")
LAB_ESTIMATORS = ("reinforce", "st", "st-gumbel", "gumbel-rao", "reinmax", "softmax", "gumbel", "gst-1.0", "gst-p",
                  "decoupled")
LAB_TAUS = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


def _count(value, name, low=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


# ----------------------------------------------------------------------------- temperature

def temperature_data(seed=0, probs=PROBS, taus=TAUS, n_samples=20_000, n_show=3, backend="numpy"):
    """Mean and a few single Gumbel-Softmax draws of Cat(``probs``) at each τ in ``taus``.

    Returns {"probs" (K,), "taus" (T,), "mean" (T, K), "se" (T, K) the Monte-Carlo standard error
    of each mean entry (sample std / √n), "samples" (T, n_show, K), "n_samples", "seed"}.
    The same Gumbel noise g (n, K) is used at every τ, so the columns differ only by τ.
    """
    n_samples, n_show = _count(n_samples, "n_samples", 2), _count(n_show, "n_show", 0)
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 1 or p.size < 2 or not np.all(np.isfinite(p)) or np.any(p <= 0) or abs(p.sum() - 1) > 1e-9:
        raise ValueError(f"probs must be K >= 2 positive numbers summing to 1, got {probs!r}")
    taus = [float(check_tau(t)) for t in taus]
    be = get_backend(backend)
    g = sample_gumbel(be.rng(seed), (n_samples, p.size))                     # (n, K)
    logits = be.xp.broadcast_to(be.asarray(np.log(p)), g.shape)              # (n, K)
    means, ses, shown = [], [], []
    for tau in taus:
        y = gumbel_softmax(logits, g, tau)                                   # (n, K)
        means.append(to_numpy(y.mean(axis=0)))
        ses.append(to_numpy(y.std(axis=0, ddof=1)) / np.sqrt(n_samples))
        shown.append(to_numpy(y[:n_show]))
    return {"probs": p, "taus": np.array(taus), "mean": np.stack(means), "se": np.stack(ses),
            "samples": np.stack(shown), "n_samples": n_samples, "seed": seed}


# ----------------------------------------------------------------------------- leakage

# the training setup of `minigumbel compare` (its defaults): the figure shows the runs behind its table
LEAKAGE_CONFIG = dict(task="bottleneck", steps=1500, tau=2.0, anneal="linear", tau_min=0.5, lr=1e-2)


def leakage_data(seed=0, n_seeds=3, estimators=LEAKAGE_ESTIMATORS, eval_every=50, backend="numpy",
                 on_step=None, **config):
    """Train the ``bottleneck`` task per estimator and seed; record soft and hard held-out losses.

    Soft loss: the estimator's own training-time pointer (soft weights for softmax/gumbel) on the
    held-out set; hard loss: the one-hot argmax pointer, as at test time (minigumbel.train.evaluate).
    Seeds are ``seed, seed + 1, …`` (``n_seeds`` of them); the runs are those of ``minigumbel
    compare`` (LEAKAGE_CONFIG, overridable by ``config``: TrainConfig fields such as ``steps``, ``tau``),
    so their final evaluations are that table's numbers. Returns {"config" (the TrainConfig fields
    used), "seeds", "noise_var" (σ², the best loss a hard code can reach), "runs": {estimator:
    {"step" (E,), "soft_loss" (S, E), "hard_loss" (S, E), "train_loss" (S, steps)}}}.
    ``on_step(name, seed, record)`` is forwarded to :func:`minigumbel.train.train` (a progress bar).
    """
    from .tasks import BottleneckTask
    from .train import TrainConfig, train
    config = {**LEAKAGE_CONFIG, **config}
    steps = _count(config["steps"], "steps")
    seeds = [int(seed) + i for i in range(_count(n_seeds, "n_seeds"))]
    eval_every = min(_count(eval_every, "eval_every"), steps)
    runs = {}
    for name in estimators:
        hists = []
        for s in seeds:
            c = TrainConfig(**config, estimator=name, seed=s, eval_every=eval_every, backend=backend)
            cb = None if on_step is None else (lambda rec, name=name, s=s: on_step(name, s, rec))
            hists.append(train(c, cb))
        col = lambda key: np.array([[e[key] for e in h["eval"]] for h in hists])   # noqa: E731  (S, E)
        runs[name] = {"step": col("step")[0], "soft_loss": col("soft_loss"), "hard_loss": col("hard_loss"),
                      "train_loss": np.array([h["loss"] for h in hists])}
    return {"config": config, "seeds": seeds, "noise_var": BottleneckTask.noise ** 2, "runs": runs}


# ----------------------------------------------------------------------------- estimators

def estimators_data(seed=0, taus=LAB_TAUS, samples=10_000, names=LAB_ESTIMATORS, problem="quadratic",
                    k=5, gr_k=10, backend="numpy", table=None):
    """Bias norm (± s.e.), per-sample variance, MSE and cosine of each estimator at each τ.

    The numbers are those of ``minigumbel estimators --problem PROBLEM --k K --tau TAUS --samples
    SAMPLES --gr-k GR_K --seed SEED`` (same computation, same random streams; REINFORCE with its
    leave-one-out baseline). Alternatively pass ``table``, the parsed output of that command with
    ``--json``. Returns {"problem", "k", "seed", "samples", "exact_norm", "series": {row label:
    {"tau", "bias_norm", "bias_se", "variance", "mse", "cosine"} (arrays over τ)}}.
    """
    if table is None:
        table = _lab_table(seed, taus, samples, names, problem, k, gr_k, backend)
    series = {}
    for row in table["rows"]:
        s = series.setdefault(row["estimator"], {key: [] for key in LAB_SERIES_KEYS})
        for key in s:
            s[key].append(row[key])
    series = {name: {key: np.array(v, dtype=np.float64) for key, v in s.items()} for name, s in series.items()}
    return {"problem": table["problem"], "k": table["k"], "seed": table["seed"], "samples": table["samples"],
            "exact_norm": float(np.linalg.norm(table["exact_grad"])), "series": series}


LAB_SERIES_KEYS = ("tau", "bias_norm", "bias_se", "variance", "mse", "cosine")


def _lab_table(seed, taus, samples, names, problem, k, gr_k, backend):
    """The rows of ``minigumbel estimators --json`` for these arguments (the same computation)."""
    from .estimators import ESTIMATORS
    from .lab import table
    _count(samples, "samples", 2)
    taus = [float(check_tau(t)) for t in taus]
    from .lab import PROBLEMS
    if problem not in PROBLEMS:
        raise ValueError(f"problem must be one of {', '.join(PROBLEMS)}, got {problem!r}")
    unknown = [n for n in names if n not in ESTIMATORS or n == "exact"]
    if unknown:
        raise ValueError(f"names: unknown estimator(s) {', '.join(unknown)}")
    return table(problem, k, seed, names, taus, samples, get_backend(backend), (gr_k,))


def subset_estimators_data(seed=0, taus=LAB_TAUS, samples=10_000, n=8, k=3, backend="numpy", table=None):
    """:func:`estimators_data` for the subset problem: the numbers of ``minigumbel estimators
    --problem subset --k N --choose K --tau TAUS --samples SAMPLES --seed SEED`` (or its parsed
    ``--json`` output as ``table``)."""
    if table is None:
        from .lab_subset import SUBSET_ESTIMATOR_NAMES, subset_table
        _count(samples, "samples", 2)
        taus = [float(check_tau(t)) for t in taus]
        table = subset_table(n, k, seed, SUBSET_ESTIMATOR_NAMES, taus, samples, get_backend(backend))
    data = estimators_data(table={**table, "k": table["k"]})
    return {**data, "n": table["n"]}


# ----------------------------------------------------------------------------- schedules

def schedules_data(steps=3000, tau0=2.0, tau_min=0.5, rate=1e-3, every=100, names=None):
    """τ(step) of every schedule for steps 0 … ``steps``, built as :class:`TrainConfig` builds
    them for a run of ``steps`` steps (``linear``/``cosine`` reach τ_min at ``steps``; ``exp`` is
    Jang et al.'s decay, updated every ``every`` steps and floored at τ_min).

    Returns {"step" (S+1,), "tau": {name: (S+1,)}, "tau0", "tau_min", "rate", "every"}.
    """
    from .schedules import SCHEDULES, make_schedule
    steps = _count(steps, "steps")
    curves = {}
    for name in names or SCHEDULES:
        fn = make_schedule(name, tau0, tau_min, total_steps=steps, rate=rate, every=every)
        curves[name] = np.array([fn(s) for s in range(steps + 1)])
    return {"step": np.arange(steps + 1), "tau": curves, "tau0": tau0, "tau_min": tau_min, "rate": rate,
            "every": every}


# ----------------------------------------------------------------------------- training

def _json(obj):
    """``obj`` itself, or the JSON in the file it names (ValueError naming the file if it is not JSON)."""
    from ._json import load
    return load(obj) if isinstance(obj, (str, os.PathLike)) else obj


def _checked(doc, schema, name):
    """``doc`` when it fits ``schema`` (minigumbel._json), else ValueError "NAME: where: what is wrong"."""
    from ._json import check
    try:
        return check(doc, schema, "")
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


# what the training figure reads of a ``minigumbel train --json`` file (minigumbel._json schema)
TRAIN_RUN_SCHEMA = {"loss": [NUMBER], "tau": [NUMBER], "eval": [{"step": int, "soft_loss": NUMBER, "hard_loss": NUMBER,
                                                                 "accuracy?": NUMBER}],
                    "config?": {"task?": str, "estimator?": str, "tau?": NUMBER, "anneal?": str, "steps?": int,
                                "seed?": int}}


def training_data(run):
    """The curves of a ``minigumbel train --json run.json`` run (a path or the parsed dict).

    Returns {"config", "step" (S,) 1…S, "loss" (S,), "tau" (S,), "eval_step" (E,), "soft_loss" (E,),
    "hard_loss" (E,), "accuracy" (E,) or None, "loss_name"}. A file that is not such a run is a
    ValueError naming the file and what in it is wrong.
    """
    name = os.fspath(run) if isinstance(run, (str, os.PathLike)) else "run"
    run = _json(run)
    hist = run.get("history", run) if isinstance(run, dict) else run
    if isinstance(hist, dict) and not all(k in hist for k in ("loss", "tau", "eval")):
        raise ValueError(f"{name}: expected the JSON written by `minigumbel train --json PATH` "
                         "(keys 'loss', 'tau' and 'eval')")
    if isinstance(hist, dict) and isinstance(hist.get("config"), dict) and hist["config"].get("task") == "vae":
        raise ValueError(f"{name}: the training figure draws pointer-task runs; this is a vae run "
                         "(`minigumbel plot vae` draws the VAE)")
    hist = _checked(hist, TRAIN_RUN_SCHEMA, name)
    loss, tau, evals = np.array(hist["loss"], float), np.array(hist["tau"], float), hist["eval"]
    if loss.shape != tau.shape:
        raise ValueError(f"{name}: 'loss' ({loss.size}) and 'tau' ({tau.size}) must have one entry per step")
    col = lambda key: np.array([e[key] for e in evals], float)             # noqa: E731
    config = hist.get("config", {})
    return {"config": config, "step": np.arange(1, loss.size + 1), "loss": loss, "tau": tau,
            "eval_step": col("step"), "soft_loss": col("soft_loss"), "hard_loss": col("hard_loss"),
            "accuracy": col("accuracy") if all("accuracy" in e for e in evals) else None,
            "loss_name": _LOSS_NAMES.get(config.get("task"), "loss")}


_LOSS_NAMES = {"argmax": "regret", "query": "payload MSE", "bottleneck": "reconstruction MSE",
               "vae": "−ELBO (nats per image)"}


# ----------------------------------------------------------------------------- vae gradients

def vae_gradients_data(result):
    """Series per (estimator, τ) from ``minigumbel estimators --problem vae --json PATH`` (a path or the
    parsed dict): {"meta": the run's settings, "seeds" (S,), "steps" (C,), "exact_norm" (S, C),
    "series": {(estimator, τ): {"cosine", "rel_bias" (bias norm / ‖∇‖), "rel_se", "rel_variance"
    (variance / ‖∇‖²), "rel_mse" (MSE / ‖∇‖²), "norm_ratio"}: arrays (S, C), one row per training
    run (seed), one column per checkpoint step}}."""
    result = _json(result)
    keys = ("rows", "steps", "runs", "seeds", "codes")
    if not isinstance(result, dict) or not all(k in result for k in keys):
        raise ValueError("expected the JSON written by `minigumbel estimators --problem vae --json PATH` "
                         f"(keys {', '.join(keys)})")
    seeds, steps = list(result["seeds"]), list(result["steps"])
    norm = {(run["seed"], s): n for run in result["runs"] for s, n in zip(steps, run["exact_norm"])}
    series = {}
    for row in result["rows"]:
        s = series.setdefault((row["estimator"], row["tau"]),
                              {k: np.full((len(seeds), len(steps)), np.nan) for k in VAE_SERIES_KEYS})
        i, j, n = seeds.index(row["seed"]), steps.index(row["step"]), norm[(row["seed"], row["step"])]
        for key, value in (("cosine", row["cosine"]), ("rel_bias", row["bias_norm"] / n), ("rel_se", row["bias_se"] / n),
                           ("rel_variance", row["variance"] / n ** 2), ("rel_mse", row["mse"] / n ** 2),
                           ("norm_ratio", row["norm_ratio"])):
            s[key][i, j] = value
    meta = {k: result.get(k) for k in ("latents", "classes", "codes", "images", "samples", "train_estimator",
                                       "seed", "baseline")}
    return {"meta": meta, "series": series, "seeds": np.array(seeds), "steps": np.array(steps),
            "exact_norm": np.array([run["exact_norm"] for run in result["runs"]], dtype=np.float64)}


VAE_SERIES_KEYS = ("cosine", "rel_bias", "rel_se", "rel_variance", "rel_mse", "norm_ratio")


# ----------------------------------------------------------------------------- vae

# (estimator, TrainConfig overrides of the reference setup): reinforce with its running-mean
# baseline; reinmax at τ ≥ 1 (its authors' recommendation, so the schedule is floored at 1)
VAE_RUNS = (("softmax", {}), ("gumbel", {}), ("st-gumbel", {}), ("st", {}),
            ("reinforce", {"baseline": "running"}), ("gumbel-rao", {}), ("reinmax", {"tau_min": 1.0}))


def vae_data(seed=0, steps=3000, eval_every=100, runs=VAE_RUNS, n_show=10, backend="numpy", on_step=None):
    """Train the reference VAE (``TrainConfig.for_task("vae")``) once per entry of ``runs``.

    Returns {"steps", "seed", "pixel_baseline" (test NLL), "curves": {estimator: {"step" (E,),
    "hard" (E,), "soft" (E,) test −ELBO}}, "final": {estimator: final metrics}, "side" (image side),
    "images": {row label: (n_show, D) pixel values in [0, 1]}}. The image rows: ``n_show`` test digits;
    their reconstructions (decoder probabilities) by the softmax-trained model from a hard code d ~ q
    and from its soft training-time code softmax(θ/τ); by the gumbel-trained model from a hard code;
    and decoder probabilities of codes drawn from the uniform prior (gumbel model).
    """
    from .functional import one_hot, softmax
    from .train import TrainConfig, prepare, run_training
    steps = _count(steps, "steps")
    curves, finals, models = {}, {}, {}
    for name, extra in runs:
        c = TrainConfig.for_task("vae", estimator=name, seed=seed, steps=steps, backend=backend,
                                 eval_every=min(_count(eval_every, "eval_every"), steps), **extra)
        run = prepare(c)
        cb = None if on_step is None else (lambda rec, name=name: on_step(name, seed, rec))
        hist = run_training(run, cb)
        curves[name] = {k: np.array([e[key] for e in hist["eval"]]) for k, key in
                        (("step", "step"), ("hard", "test_nelbo_hard"), ("soft", "test_nelbo_soft"))}
        finals[name] = hist["final"]
        models[name] = (run, hist["tau"][-1])
    images = {}
    any_run = next(iter(models.values()))[0]
    task = any_run.task
    x = task.test_x[:n_show]
    images["test digits"] = x
    rng = task.backend.rng([seed, 7])
    for name, soft, label in (("softmax", False, "softmax-trained, hard code d ~ q"),
                              ("softmax", True, "softmax-trained, soft code softmax(θ/τ)"),
                              ("gumbel", False, "gumbel-trained, hard code d ~ q")):
        if name not in models:
            continue
        run, tau = models[name]
        logits = task._encode(run.params, x)                                   # (n, L, K)
        z = softmax(logits, tau) if soft else task._hard_codes(logits, rng, 1)[0]
        images[label] = task.decode_probs(run.params, z)
    if "gumbel" in models:
        prior = one_hot(rng.integers(0, task.classes, size=(n_show, task.latents)), task.classes, task.dtype)
        images["gumbel-trained, codes from the uniform prior"] = task.decode_probs(models["gumbel"][0].params, prior)
    return {"steps": steps, "seed": seed, "pixel_baseline": task.baseline_nll, "curves": curves, "final": finals,
            "side": int(round(task.dim ** 0.5)), "images": {k: to_numpy(v) for k, v in images.items()}}


def figure_data(name, seed=0, backend="numpy", run=None, **kw):
    """The data of figure ``name`` (one of FIGURES); ``kw`` go to its ``*_data`` function and
    ``run`` (a path or dict of a ``minigumbel train --json`` run) to the training figure's."""
    if name == "temperature":
        return temperature_data(seed=seed, backend=backend, **kw)
    if name == "leakage":
        return leakage_data(seed=seed, backend=backend, **kw)
    if name == "estimators":
        return estimators_data(seed=seed, backend=backend, **kw)
    if name == "schedules":
        return schedules_data(**kw)
    if name == "training":
        return training_data(run)
    if name == "vae-gradients":
        return vae_gradients_data(_vae_gradients_file(run))
    if name == "vae":
        return vae_data(seed=seed, backend=backend, **kw)
    if name == "subset-estimators":
        return subset_estimators_data(seed=seed, backend=backend, **kw)
    raise ValueError(f"unknown figure {name!r}; choose one of {', '.join(FIGURES)}")


# what the vae-gradients figure reads of ``minigumbel estimators --problem vae --json`` (minigumbel._json)
VAE_GRADIENTS_SCHEMA = {
    "codes": int, "seeds": [int], "steps": [int], "runs": [{"seed": int, "exact_norm": [NUMBER]}],
    "rows": [{"seed": int, "step": int, "estimator": str, "tau": NUMBER, "cosine": MAYBE_NUMBER,
              "bias_norm": NUMBER, "bias_se": NUMBER, "variance": NUMBER, "mse": NUMBER,
              "norm_ratio": MAYBE_NUMBER}]}


def _vae_gradients_file(result):
    """The gradients document checked: its schema, then that rows, runs, seeds and steps agree."""
    name = os.fspath(result) if isinstance(result, (str, os.PathLike)) else "result"
    doc = _checked(_json(result), VAE_GRADIENTS_SCHEMA, name)
    steps, seeds = doc["steps"], doc["seeds"]
    for i, r in enumerate(doc["runs"]):
        if r["seed"] not in seeds or len(r["exact_norm"]) != len(steps):
            raise ValueError(f"{name}: runs[{i}] must be for one of the seeds, with one exact_norm entry per step")
        for j, n in enumerate(r["exact_norm"]):
            if n <= 0:
                raise ValueError(f"{name}: runs[{i}].exact_norm[{j}] must be positive, got {n!r}")
    for i, row in enumerate(doc["rows"]):
        for what, value, known in (("step", row["step"], steps), ("seed", row["seed"], seeds)):
            if value not in known:
                raise ValueError(f"{name}: rows[{i}] is for {what} {value}, which is not in {what}s")
    return doc
