"""The sorting task: a pointer network learns to sort N numbers with no permutation labels
(Mena, Belanger, Linderman & Snoek 2018, Sec. 5.1; its NeuralSort variants after Grover et al. 2019).

This exact setup is the default (so that independent implementations can be compared):

- Data: lists of N numbers iid U(0, 1) (float64), fresh every step; evaluation on 1000 fixed lists
  drawn from a separate seed (the world seed's held-out stream).
- Gumbel-Sinkhorn models (``gumbel-sinkhorn``, ``sinkhorn``): each number x_i alone goes through an
  MLP 1 → 32 (ReLU) → N giving row i of log α (row = item, column = position). P = Sinkhorn((log α +
  g)/τ), τ = 1, 20 rounds, 5 noise samples per list (``sinkhorn``: no noise, one P); the predicted
  ascending list y_j = Σ_i P_ij x_i; loss = mean over lists, samples and positions of (y_j − sort(x)_j)².
- NeuralSort models (``neuralsort``, ``stochastic-neuralsort``, ``reinforce-pl``): the MLP 1 → 32 → 1
  gives a score s_i; P̂ = NeuralSort(s, τ = 1) or NeuralSort(s + g, τ = 1) with 5 samples (or, for
  reinforce-pl, the exact Plackett-Luce permutation matrix of s + g, 5 samples, leave-one-out
  baseline over a list's samples); loss = mean (P̂x − sort_desc(x))².
- Initial weights and biases U(±1/√fan_in); Adam lr 0.1 (eps 1e-8), batch 10 lists, 500 steps
  (``train.TASK_DEFAULTS["sort"]``).
- Evaluation without noise: the hard order from ``matching(log α)`` (Sinkhorn models) or the argsort
  of s (NeuralSort models). Metrics: ``prop_wrong`` (proportion of positions holding the wrong item),
  ``prop_any_wrong`` (proportion of lists with any wrong position) and ``kendall_tau`` (Kendall's τ
  between the predicted and the true ranks, mean over lists); ``hard_loss`` the squared error of
  the hard-sorted list; ``soft_loss`` the training loss of the relaxed matrix on the held-out lists
  (one noise sample per list).

Mena et al.'s released code differs in three details: 10 Sinkhorn rounds (``sinkhorn_iters=10``),
Glorot-uniform weights with zero biases (``init="glorot"``) and float32 (``dtype="float32"``).
"""
from __future__ import annotations

import numpy as np

from ..backend import namespace
from ..estimators.order import ORDER_ESTIMATORS, SCORE_ESTIMATORS
from ..nn import mlp_backward, mlp_forward
from ..permutations import _check_iters, _matching
from .base import PointerTask, Target

__all__ = ["SortTask", "SORT_ESTIMATORS", "SORT_ORDER_ESTIMATORS", "sort_metrics"]

SORT_ESTIMATORS = ("gumbel-sinkhorn", "sinkhorn", "neuralsort", "stochastic-neuralsort", "reinforce-pl")


def sort_metrics(xp, pred_rank, true_rank):
    """(prop_wrong, prop_any_wrong, kendall_tau) of predicted vs true ascending ranks (B, N), 0-d arrays.
    Kendall's τ per list = Σ_{i<j} sgn(p_i − p_j) sgn(t_i − t_j) / (N(N−1)/2) (no ties: permutations)."""
    n = pred_rank.shape[-1]
    wrong = pred_rank != true_rank                                                   # (B, N)
    dt = np.float64
    conc = xp.sign(pred_rank[:, :, None] - pred_rank[:, None, :]) * xp.sign(
        true_rank[:, :, None] - true_rank[:, None, :])                              # (B, N, N), both triangles
    tau = xp.sum(conc, axis=(1, 2)).astype(dt) / (n * (n - 1))
    return (xp.mean(wrong.astype(dt)), xp.mean(xp.any(wrong, axis=-1).astype(dt)), xp.mean(tau))


class SortTask(PointerTask):
    """Sort N numbers through a relaxed permutation (the module docstring gives the setup)."""
    name, loss_name, has_accuracy, world_id = "sort", "sort_mse", False, 5
    target = Target("kendall_tau", ">=", 0.9, "Kendall's τ ≥ 0.9")
    summary_metrics = {"prop_wrong": "prop. wrong", "prop_any_wrong": "prop. any wrong", "kendall_tau": "Kendall τ"}
    summary_footnote = ("hard order, without noise: matching(log α) (gumbel-sinkhorn, sinkhorn) or the argsort of the "
                        "scores (the others); prop. wrong: positions holding the wrong item; prop. any wrong: lists "
                        "with any; Kendall τ: mean over the lists.")

    def __init__(self, n_items=10, hidden=32, dtype=np.float64, backend="numpy", world_seed=0,
                 estimator="gumbel-sinkhorn", init="torch", sinkhorn_iters=20):
        if estimator not in SORT_ESTIMATORS:
            raise ValueError(f"estimator {estimator!r} does not train the sort task; choose one of "
                             f"{', '.join(SORT_ESTIMATORS)}")
        self.estimator = estimator
        self.sinkhorn_iters = _check_iters(sinkhorn_iters)
        self.scores_only = estimator in SCORE_ESTIMATORS          # s (B, N), else log α (B, N, N)
        super().__init__(n_items, hidden, dtype, backend, world_seed, init)

    def __repr__(self):
        return (f"SortTask(n_items={self.n_items}, estimator={self.estimator!r}, hidden={self.hidden}, "
                f"dtype={self.dtype.name})")

    def init_params(self, rng):
        """MLP 1 → hidden (ReLU) → N (or 1), drawn on the host by nn.init_mlp with the task's ``init``:
        the reference setup uses ``torch`` (weights and biases U(±1/√fan_in)); ``glorot`` is Mena
        et al.'s released code (Glorot-uniform weights, zero biases)."""
        return self._init(rng, (1, self.hidden, 1 if self.scores_only else self.n_items), "score.")

    def batch(self, rng, size):
        xp = self.xp
        x = rng.random((size, self.n_items), dtype=self.dtype)                        # (B, N) U(0, 1)
        asc = xp.sort(x, axis=-1)
        return {"x": x, "asc": asc, "desc": asc[:, ::-1], "rank": xp.argsort(xp.argsort(x, axis=-1), axis=-1)}

    def scores(self, params, batch):
        """s (B, N) for the NeuralSort models; log α (B, N, N) (item, position) for the Sinkhorn ones."""
        out, cache = mlp_forward(params, batch["x"][..., None], "score.")             # (B, N, 1 or N)
        return (out[..., 0] if self.scores_only else out), cache

    def scores_backward(self, dlogits, cache):
        d = dlogits[..., None] if self.scores_only else dlogits
        return mlp_backward(d, cache, need_dx=False)[0]                               # x is data: no dx

    def readout(self, params, batch, z):
        """One loss per (sample, list): z (S?, B, N, N) → losses (S?, B)."""
        xp = namespace(z, batch["x"])
        x = batch["x"]
        if self.scores_only:                     # (position, item): y = P̂ x, decreasing
            y, t = xp.sum(z * x[..., None, :], axis=-1), batch["desc"]
        else:                                    # (item, position): y_j = Σ_i P_ij x_i, increasing
            y, t = xp.sum(z * x[..., :, None], axis=-2), batch["asc"]
        diff = y - t                                                                  # (S?, B, N)
        return xp.mean(diff * diff, axis=-1), (diff, x)

    # L = (1/N) Σ_j (y_j − t_j)²  ⇒  dy_j = (2/N)(y_j − t_j) dL;  y = P̂x: dP̂[r, i] = dy_r x_i;
    # y_j = Σ_i P_ij x_i: dP[i, j] = x_i dy_j.
    def readout_backward(self, dlosses, cache):
        diff, x = cache
        dy = (2.0 / diff.shape[-1]) * dlosses[..., None] * diff                       # (S?, B, N)
        if self.scores_only:
            return {}, dy[..., :, None] * x[..., None, :]
        return {}, x[..., :, None] * dy[..., None, :]

    def soft_options(self, est, options) -> dict:
        """The held-out soft loss draws one noise sample per list and keeps nothing for a backward
        (1000 lists × N² × 2·rounds would be GBs at N = 100)."""
        out = {k: v for k, v in options.items() if k != "samples"}
        return {**out, "grad": False} if "grad" in est.options else out

    def hard_order(self, params, batch):
        """The ascending rank the model gives each item (B, N), without noise."""
        xp = self.xp
        logits, _ = self.scores(params, batch)
        if self.scores_only:                     # decreasing order of s → ascending ranks
            n = self.n_items
            return n - 1 - xp.argsort(xp.argsort(-logits, axis=-1), axis=-1)
        return _matching(logits)                 # item i → position π(i) (host: SciPy)

    def hard_metrics(self, params, batch) -> dict:
        xp = self.xp
        pred = self.hard_order(params, batch)                                          # (B, N)
        wrong, any_wrong, ktau = sort_metrics(xp, pred, batch["rank"])
        hard = xp.take_along_axis(batch["x"], xp.argsort(pred, axis=-1), axis=-1) - batch["asc"]
        return {"hard_loss": xp.mean(hard * hard), "prop_wrong": wrong, "prop_any_wrong": any_wrong,
                "kendall_tau": ktau}


SORT_ORDER_ESTIMATORS = {name: ORDER_ESTIMATORS[name] for name in SORT_ESTIMATORS}
