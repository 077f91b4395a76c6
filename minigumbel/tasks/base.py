"""The pointer-task interface: the base class every task family builds on, and the shared pieces.


Every task is split at the pointer into two differentiable halves, each a forward with its
hand-derived backward right below it, so the training loop can put any gradient estimator between
them (minigumbel.estimators):

    scores(params, batch)      -> logits (B, N), cache      scores_backward(dlogits, cache) -> grads
    readout(params, batch, z)  -> losses (B,), cache        readout_backward(dlosses, cache) -> (grads, dz)

``z`` (B, N) is the pointer: soft weights on the simplex while training (softmax, Gumbel-Softmax)
or an exact one-hot vector (straight-through estimators, REINFORCE). ``losses`` is one loss per
example, because REINFORCE needs each example's loss L_b(d), not only their mean. Evaluation is
always *hard*: z = one-hot(argmax logits) on a fixed held-out set (:meth:`PointerTask.hard_metrics`).

The data distribution of a task (its "world": the hidden value direction, the cluster centres) is
drawn once from ``world_seed``; batches come from an explicit Generator of the backend.
"""
from __future__ import annotations

import contextlib

import numpy as np

from ..backend import get_backend, namespace
from ..functional import _one_hot as one_hot    # unchecked: inside every training step
from .._inputs import float_dtype
from ..nn import INITS, init_mlp, mlp_backward, mlp_forward

__all__ = ["Target", "PointerTask", "sq_error", "sq_error_backward"]


# ----------------------------------------------------------------------------- shared pieces

def sq_error(pred, target):
    """Per-example mean squared error over the last axis: L_b = (1/D) Σ_d (pred_bd − target_bd)²."""
    xp = namespace(pred, target)
    diff = pred - target                                            # (B, D)
    return xp.mean(diff * diff, axis=-1), diff


# L_b = (1/D) Σ_d (p_bd − t_bd)²  ⇒  ∂L_b/∂p_bd = 2 (p_bd − t_bd) / D, times the upstream dL_b.
def sq_error_backward(dlosses, diff):
    """dpred (B, D) for :func:`sq_error`, given dlosses (B,) and the cached difference."""
    return (2.0 / diff.shape[-1]) * dlosses[:, None] * diff


def _item_scores(params, items, prefix="score."):
    """A shared MLP scores each item: items (B, N, F) -> logits (B, N)."""
    out, cache = mlp_forward(params, items, prefix)                 # (B, N, 1)
    return out[..., 0], cache


def _item_scores_backward(dlogits, cache):
    grads, _ = mlp_backward(dlogits[..., None], cache, need_dx=False)   # items are data: no dx
    return grads


class Target:
    """What a good run of a task reaches, counted by sweep summaries ("8/10 seeds reach it"):
    the final ``metric`` (a key of train()'s ``history["final"]``) is ``<=`` or ``>=`` ``value``."""

    def __init__(self, metric: str, op: str, value: float, text: str):
        if op not in ("<=", ">="):
            raise ValueError(f"Target op must be '<=' or '>=', got {op!r}")
        self.metric, self.op, self.value, self.text = metric, op, float(value), text

    def reached(self, metrics: dict):
        """True/False, or None when ``metrics`` lacks the metric (a failed run)."""
        v = metrics.get(self.metric) if metrics else None
        if v is None:
            return None
        return v <= self.value if self.op == "<=" else v >= self.value

    def to_dict(self) -> dict:
        return {"metric": self.metric, "op": self.op, "value": self.value, "text": self.text}


class PointerTask:
    """Base class: the hard evaluation and the backend/world plumbing shared by the three tasks.

    Subclasses set ``name``, ``loss_name`` (what ``hard_loss`` measures) and ``has_accuracy``, and
    implement ``_world``, ``init_params``, ``batch``, ``scores``/``scores_backward`` and
    ``readout``/``readout_backward``.
    """
    name, loss_name, has_accuracy, world_id = "", "loss", False, 0
    target = None               # a Target: what a good run reaches (sweep summaries count the seeds)

    def __init__(self, n_items=10, hidden=32, dtype=np.float64, backend="numpy", world_seed=0, init="he"):
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
        self.init = init                                                     # he | torch (nn.init_mlp)
        if isinstance(n_items, bool) or not isinstance(n_items, (int, np.integer)) or n_items < 2:
            raise ValueError(f"n_items must be an integer >= 2, got {n_items!r}")
        if isinstance(hidden, bool) or not isinstance(hidden, (int, np.integer)) or hidden < 1:
            raise ValueError(f"hidden must be an integer >= 1, got {hidden!r}")
        self.dtype = float_dtype(dtype)                                      # float16: the one refusal
        self.n_items, self.hidden = int(n_items), int(hidden)
        self.backend = get_backend(backend)
        self.xp = self.backend.xp
        world = np.random.default_rng([int(world_seed), self.world_id])   # host, once per task
        self._world({k: self.backend.asarray(v, self.dtype) for k, v in self._draw_world(world).items()})

    def __repr__(self):
        return f"{type(self).__name__}(n_items={self.n_items}, hidden={self.hidden}, dtype={self.dtype.name})"

    def _draw_world(self, rng) -> dict:
        return {}

    def _world(self, arrays: dict) -> None:
        self.__dict__.update(arrays)

    def _init(self, rng, sizes, prefix):
        """MLP parameters drawn on the host (same initial values on every backend), then moved."""
        p = init_mlp(rng, sizes, self.dtype, prefix, init=self.init)
        return {k: self.backend.asarray(v) for k, v in p.items()}

    def logits_loss(self, logits):
        """A loss term on the logits themselves, with an exact gradient (the vae's KL); none here."""
        return None

    def per_choice(self, values):
        """A per-example value as the estimators see it (the vae repeats it per latent)."""
        return values

    def seek(self, step):
        """Continue the batch stream after ``step`` batches (a resumed run); batches here are drawn
        from the run's Generator, whose state the checkpoint restores: nothing to do."""

    def soft_options(self, est, options) -> dict:
        """The estimator options of the held-out soft loss (train.evaluate); the training ones here."""
        return options

    def final_metrics(self, params, seed) -> dict:
        """Costlier end-of-run metrics (the vae: its importance-weighted bound); none here."""
        return {}

    def threads_limit(self):
        """A context for the training loop (the vae: one BLAS thread); none here."""
        return contextlib.nullcontext()

    def soft_metrics(self, params, batch, z) -> dict:
        """Metrics of the training-time pointer ``z`` beside soft_loss (select: its accuracy); none here."""
        return {}

    def hard_metrics(self, params, batch) -> dict:
        """Hard evaluation: point with one-hot(argmax logits). Values are 0-d device arrays."""
        xp = self.xp
        logits, _ = self.scores(params, batch)
        idx = xp.argmax(logits, axis=-1)                                    # (B,)
        losses, _ = self.readout(params, batch, one_hot(idx, self.n_items, self.dtype))
        out = {"hard_loss": xp.mean(losses)}
        if self.has_accuracy:
            out["accuracy"] = xp.mean((idx == batch["target"]).astype(self.dtype))
        return out


# ----------------------------------------------------------------------------- argmax

