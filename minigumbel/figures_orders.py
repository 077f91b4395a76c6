"""The data of the two figures of docs/orders.md (``minigumbel plot orders`` and ``sort-matrices``).

- ``orders``: bias norm, per-sample variance, MSE and cosine of each order estimator against the
  exact gradient (minigumbel.lab_order), across τ: the numbers of ``minigumbel estimators --problem
  order --k N --tau TAUS --samples S --seed SEED``.
- ``sort-matrices``: one sort-task run (``minigumbel train --task sort``) and, at a few steps, for
  one fixed held-out list: the soft matrix the model trains with (one noise sample) and the hard
  permutation it is evaluated with, rows = items in increasing order of value, columns =
  positions (ascending), so a perfect sorter shows the identity.
"""
from __future__ import annotations

import numpy as np

__all__ = ["ORDER_TAUS", "orders_data", "sort_matrices_data"]

ORDER_TAUS = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


def orders_data(seed=0, taus=ORDER_TAUS, samples=10_000, k=5, names=None, table=None):
    """{"k", "seed", "samples", "exact_norm", "series": {estimator: {"tau", "bias_norm", "bias_se",
    "variance", "mse", "cosine"} (arrays over τ)}}; ``table``: the parsed ``--json`` output instead."""
    from .lab_order import ORDER_LAB_ESTIMATORS, order_table
    if table is None:
        table = order_table(k, seed, list(names or ORDER_LAB_ESTIMATORS), [float(t) for t in taus], samples)
    series = {}
    for row in table["rows"]:
        s = series.setdefault(row["estimator"], {"tau": [], "bias_norm": [], "bias_se": [], "variance": [],
                                                 "mse": [], "cosine": []})
        for key in ("tau", "bias_norm", "bias_se", "variance", "mse", "cosine"):
            s[key].append(row[key])
    series = {n: {key: np.array(v, dtype=np.float64) for key, v in s.items()} for n, s in series.items()}
    return {"k": table["k"], "seed": table["seed"], "samples": table["samples"],
            "exact_norm": float(np.linalg.norm(table["exact_grad"])), "series": series}


def sort_matrices_data(seed=0, n_items=8, estimator="gumbel-sinkhorn", steps=500, at=(0, 20, 100, 500),
                       on_step=None):
    """Soft and hard permutation matrices of a sort-task run at the steps ``at`` (Mena et al.'s setup
    otherwise). Returns {"estimator", "n_items", "seed", "x" (N,) the list, "steps", "soft" (T, N, N),
    "hard" (T, N, N), "final" (the run's final metrics)}."""
    from .functional import _one_hot
    from .train import TrainConfig, prepare, run_training
    run = prepare(TrainConfig.for_task("sort", estimator=estimator, n_items=n_items, steps=steps, seed=seed,
                                       eval_every=steps))
    task = run.task
    batch = {k: v[:1] for k, v in run.eval_batch.items()}           # the first held-out list
    x = run.backend.to_numpy(batch["x"][0])
    by_value = np.argsort(x)                                         # rows: items in increasing value
    at = sorted({min(int(a), steps) for a in at})
    soft, hard = [], []

    def snapshot():
        logits, _ = task.scores(run.params, batch)
        noise = run.backend.rng([seed, 99])
        z = run.est.sample(logits, noise, run.config.tau, **task.soft_options(run.est, run.options)).z[0]
        rank = run.backend.to_numpy(task.hard_order(run.params, batch)[0])          # item -> ascending position
        h = np.asarray(_one_hot(rank, n_items, np.float64))                         # (item, position)
        z = run.backend.to_numpy(z)
        if task.scores_only:                 # NeuralSort's (position, decreasing) -> (item, ascending)
            z = z[::-1].T
        soft.append(z[by_value])
        hard.append(h[by_value])

    if 0 in at:
        snapshot()

    def record(rec):
        if on_step is not None:
            on_step(rec)
        if rec["step"] in at:
            snapshot()
    run.config.log_every = 1
    hist = run_training(run, record)
    return {"estimator": estimator, "n_items": n_items, "seed": seed, "x": x[by_value], "steps": at,
            "soft": np.array(soft), "hard": np.array(hard), "final": hist["final"]}
