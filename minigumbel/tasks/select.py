"""Instance-wise feature selection (L2X): a selector points at k of 10 features, a predictor reads them.

Chen, Song, Wainwright & Jordan (2018), "Learning to Explain: An Information-Theoretic Perspective
on Model Interpretation", ICML, Sec. 4.1 ("Synthetic data"). X ∈ R^10 is standard normal and the
label Y ∈ {0, 1} is drawn from P(Y = 1 | X) = σ(s(X)), a logistic model whose logit s uses a few
of the features (the paper writes P(Y = 1 | X) ∝ exp{s(X)}):

    xor       s = X1 X2                                            relevant {1, 2},        k = 2
    orange    s = Σ_{i=1..4} X_i² − 4  ("orange skin")             relevant {1, 2, 3, 4},  k = 4
    additive  s = −100 sin(2 X1) + 2|X2| + X3 + exp(−X4)           relevant {1, 2, 3, 4},  k = 4
    switch    X1 ~ ½ N(3, 1) + ½ N(−3, 1); from N(3, 1): s = orange(X2..X5), relevant {1, ..., 5};
              from N(−3, 1): s = additive(X6..X9), relevant {1, 6, 7, 8, 9};            k = 5

(features numbered from 1 as in the paper; arrays index from 0). The authors' code
(github.com/Jianbo-Lab/L2X, synthetic/make_data.py) differs from the paper's text in places:
its additive logit is −100 sin(0.2 X1) + |X2| + X3 + exp(−X4) − 2.4, its switch is the last
feature, and it trains on P(Y | X) as a soft target; this module follows the paper.

The model (the paper's Sec. 3 with small MLPs): a selector MLP maps x to 10 scores (the logits of
the subset), an estimator of minigumbel.estimators.subset draws the mask z (a k-hot, a relaxed
top-k, L2X's max of k Concrete draws, ...), and a predictor MLP sees x ⊙ z and outputs the logit of
Y; the loss is the cross-entropy. Every step draws a fresh batch. Evaluation on a fixed test set
uses the **hard** mask, the top k of the selector's scores: the fraction of truly relevant
features selected, the median rank of the relevant features among the 10 scores (the paper's
metric, Fig. 2: best possible 1.5 / 2.5 / 2.5 / 3), and the predictor's accuracy with the hard mask
beside its accuracy with the training-time mask (``soft_accuracy``): the gap is what the training
mask leaks beyond the k chosen features. ``bayes_accuracy`` = mean of max(p, 1 − p) on the test set,
the best any predictor can do.
"""
from __future__ import annotations

import numpy as np

from ..backend import namespace
from ..losses import bce_with_logits, bce_with_logits_backward
from ..nn import mlp_backward, mlp_forward
from ..subsets import _gumbel_topk, _k_hot
from .base import PointerTask, Target

__all__ = ["SelectTask", "SELECT_DATASETS", "SELECT_K", "label_logit", "median_rank"]

SELECT_DATASETS = ("xor", "orange", "additive", "switch")
SELECT_K = {"xor": 2, "orange": 4, "additive": 4, "switch": 5}     # the number of true features
N_FEATURES = 10


def _orange(xp, x4):
    return xp.sum(x4 * x4, axis=-1) - 4.0


def _additive(xp, x4):
    return -100.0 * xp.sin(2.0 * x4[:, 0]) + 2.0 * xp.abs(x4[:, 1]) + x4[:, 2] + xp.exp(-x4[:, 3])


def label_logit(dataset, x, component=None):
    """The logit s(X) of P(Y = 1 | X) (B,), and the bool mask (B, 10) of the relevant features.
    ``component`` (switch only): bool (B,), True where X1 came from N(3, 1)."""
    xp = namespace(x)
    size = x.shape[0]
    cols = xp.arange(N_FEATURES)
    if dataset == "xor":
        s, rel = x[:, 0] * x[:, 1], cols < 2
    elif dataset == "orange":
        s, rel = _orange(xp, x[:, :4]), cols < 4
    elif dataset == "additive":
        s, rel = _additive(xp, x[:, :4]), cols < 4
    elif dataset == "switch":
        s = xp.where(component, _orange(xp, x[:, 1:5]), _additive(xp, x[:, 5:9]))
        rel = xp.where(component[:, None], cols < 5, (cols == 0) | ((cols >= 5) & (cols < 9)))
        return s, rel
    else:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(SELECT_DATASETS)}")
    return s, xp.broadcast_to(rel, (size, N_FEATURES))


def median_rank(scores, relevant, k):
    """Per example (B,): the median, over its k relevant features, of their ranks among the scores
    (rank 1 = the highest score), the metric of Chen et al. (2018, Fig. 2)."""
    xp = namespace(scores)
    n = scores.shape[-1]
    rank = xp.argsort(xp.argsort(-scores, axis=-1), axis=-1) + 1                       # (B, n)
    rel_ranks = xp.sort(xp.where(relevant, rank, n + 1), axis=-1)[:, :k]               # (B, k) ascending
    mid = k // 2
    return rel_ranks[:, mid] if k % 2 else 0.5 * (rel_ranks[:, mid - 1] + rel_ranks[:, mid])


class SelectTask(PointerTask):
    """L2X feature selection on one of the paper's synthetic datasets (see the module docstring)."""
    name, loss_name, has_accuracy, world_id = "select", "bce", True, 5
    target = Target("selected", ">=", 0.9, "≥ 90% of the relevant features selected (hard top-k)")
    summary_metrics = {"selected": "relevant selected", "median_rank": "median rank", "accuracy": "hard accuracy",
                       "soft_accuracy": "soft accuracy", "bayes_accuracy": "Bayes accuracy"}
    summary_footnote = ("hard = the selector's top-k mask (test time); soft = the estimator's training-time mask; "
                        "best median rank: xor 1.5, orange/additive 2.5, switch 3.")

    def __init__(self, dataset="xor", hidden=32, dtype=np.float64, backend="numpy", world_seed=0, init="he"):
        if dataset not in SELECT_DATASETS:
            raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(SELECT_DATASETS)}")
        self.dataset, self.k = dataset, SELECT_K[dataset]
        super().__init__(N_FEATURES, hidden, dtype, backend, world_seed, init)

    def __repr__(self):
        return f"SelectTask(dataset={self.dataset!r}, k={self.k}, hidden={self.hidden}, dtype={self.dtype.name})"

    def init_params(self, rng):
        sel = self._init(rng, (N_FEATURES, self.hidden, self.hidden, N_FEATURES), "score.")
        return {**sel, **self._init(rng, (N_FEATURES, self.hidden, self.hidden, 1), "dec.")}

    def batch(self, rng, size):
        x = rng.standard_normal((size, N_FEATURES), dtype=self.dtype)               # (B, 10)
        component = None
        if self.dataset == "switch":
            component = rng.random(size, dtype=self.dtype) < 0.5                       # X1 from N(3, 1)?
            x[:, 0] += self.xp.where(component, 3.0, -3.0)
        s, relevant = label_logit(self.dataset, x, component)
        p = 0.5 + 0.5 * self.xp.tanh(0.5 * s)                                          # σ(s), no overflow
        y = (rng.random(size, dtype=self.dtype) < p).astype(self.dtype)                # Y ~ Bernoulli(p)
        return {"x": x, "y": y, "p": p, "relevant": relevant}

    def scores(self, params, batch):
        return mlp_forward(params, batch["x"], "score.")

    def scores_backward(self, dlogits, cache):
        return mlp_backward(dlogits, cache, need_dx=False)[0]

    def readout(self, params, batch, z):
        a, cache = mlp_forward(params, batch["x"] * z, "dec.")                        # (B, 1) logit of Y
        losses, bce_cache = bce_with_logits(a, batch["y"][:, None])
        return losses, (cache, bce_cache, batch["x"])

    # input u = x ⊙ z, so du from the predictor's backward gives dz = du ⊙ x (x is data)
    def readout_backward(self, dlosses, cache):
        mlp_cache, bce_cache, x = cache
        grads, du = mlp_backward(bce_with_logits_backward(dlosses, bce_cache), mlp_cache)
        return grads, du * x

    def _accuracy(self, params, batch, z):
        a, _ = mlp_forward(params, batch["x"] * z, "dec.")
        return self.xp.mean(((a[:, 0] > 0) == (batch["y"] > 0.5)).astype(self.dtype))

    def soft_metrics(self, params, batch, z) -> dict:
        """The predictor's accuracy with the training-time mask ``z`` (the leakage's other half)."""
        return {"soft_accuracy": self._accuracy(params, batch, z)}

    def hard_metrics(self, params, batch) -> dict:
        """Top-k mask of the scores: loss, accuracy, relevant features selected, median rank."""
        xp = self.xp
        logits, _ = self.scores(params, batch)                                          # (B, 10)
        mask = _k_hot(_gumbel_topk(logits, xp.zeros_like(logits), self.k), N_FEATURES, self.dtype)
        losses, _ = self.readout(params, batch, mask)
        rel = batch["relevant"]
        p = batch["p"]
        return {"hard_loss": xp.mean(losses), "accuracy": self._accuracy(params, batch, mask),
                "selected": xp.mean(xp.sum(mask * rel, axis=-1) / self.k),
                "median_rank": xp.mean(median_rank(logits, rel, self.k).astype(self.dtype)),
                "bayes_accuracy": xp.mean(xp.maximum(p, 1.0 - p))}
