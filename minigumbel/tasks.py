"""Toy *pointer* tasks: a network scores n items and points at one through a (relaxed) choice.

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

from .backend import get_backend, namespace
from .functional import _one_hot as one_hot    # unchecked: inside every training step
from .gradcheck import check_task_half
from ._inputs import float_dtype
from .nn import init_mlp, mlp_backward, mlp_forward

__all__ = ["Target", "PointerTask", "ArgmaxTask", "QueryTask", "BottleneckTask", "VAETask", "TASKS", "POINTER_TASKS", "make_task",
           "sq_error", "sq_error_backward", "GRADCHECK_CASES"]


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

    def __init__(self, n_items=10, hidden=32, dtype=np.float64, backend="numpy", world_seed=0):
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
        p = init_mlp(rng, sizes, self.dtype, prefix)
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
        """The estimator options of the held-out soft loss (evaluate); the training ones here."""
        return options

    def final_metrics(self, params, seed) -> dict:
        """Costlier end-of-run metrics (the vae: its importance-weighted bound); none here."""
        return {}

    def threads_limit(self):
        """A context for the training loop (the vae: one BLAS thread); none here."""
        return contextlib.nullcontext()

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

class ArgmaxTask(PointerTask):
    """Pick the most valuable of N items; the value is hidden, only the reward is seen.

    Items x_n ∈ R^F are standard normal. The hidden value is v(x) = u·x for a fixed unit vector u
    drawn from the world seed; the network never sees v, only the reward of what it points at.
    A shared MLP scores each item; the per-example loss is the regret of the pointer,
    L_b = max_n v_bn − Σ_n z_bn v_bn (≥ 0 on the simplex, 0 iff all weight is on the best item).
    Hard metrics: accuracy of argmax (the best item picked) and the mean regret (``hard_loss``).
    """
    name, loss_name, has_accuracy, world_id = "argmax", "regret", True, 1
    target = Target("accuracy", ">=", 0.95, "hard accuracy ≥ 0.95")
    n_features = 8

    def _draw_world(self, rng):
        u = rng.standard_normal(self.n_features)
        return {"u": u / np.linalg.norm(u)}

    def init_params(self, rng):
        return self._init(rng, (self.n_features, self.hidden, self.hidden, 1), "score.")

    def batch(self, rng, size):
        x = rng.standard_normal((size, self.n_items, self.n_features), dtype=self.dtype)  # (B, N, F)
        v = x @ self.u                                                                   # (B, N)
        return {"x": x, "value": v, "target": self.xp.argmax(v, axis=-1)}

    def scores(self, params, batch):
        return _item_scores(params, batch["x"])

    scores_backward = staticmethod(_item_scores_backward)

    def readout(self, params, batch, z):
        xp = namespace(z, batch["value"])
        v = batch["value"]
        return xp.max(v, axis=-1) - xp.sum(z * v, axis=-1), v

    # L_b = max_n v_bn − Σ_n z_bn v_bn is linear in z:  ∂L_b/∂z_bn = −v_bn, times dL_b.
    def readout_backward(self, dlosses, cache):
        return {}, -dlosses[:, None] * cache


# ----------------------------------------------------------------------------- query

class QueryTask(PointerTask):
    """Retrieve: point at the item whose key matches the query and output its payload.

    Each example has N items (key k_n ∈ R^Dk, payload p_n ∈ R^Dp, both standard normal) and a
    query q = k_t + 0.1 ε for a uniformly chosen target t. A shared MLP scores each item from
    [k_n, q]; the output is the pointed-at payload Σ_n z_n p_n and the per-example loss its squared
    error to p_t. Hard metrics: accuracy (argmax == t) and the payload error (``hard_loss``).
    """
    name, loss_name, has_accuracy, world_id = "query", "payload_mse", True, 2
    target = Target("accuracy", ">=", 0.95, "hard accuracy ≥ 0.95")
    key_dim, payload_dim, query_noise = 4, 4, 0.1

    def init_params(self, rng):
        return self._init(rng, (2 * self.key_dim, self.hidden, self.hidden, 1), "score.")

    def batch(self, rng, size):
        xp = self.xp
        n, dk = self.n_items, self.key_dim
        keys = rng.standard_normal((size, n, dk), dtype=self.dtype)                      # (B, N, Dk)
        payload = rng.standard_normal((size, n, self.payload_dim), dtype=self.dtype)     # (B, N, Dp)
        target = rng.integers(0, n, size=size)                                           # (B,)
        rows = xp.arange(size)
        query = keys[rows, target] + self.query_noise * rng.standard_normal((size, dk), dtype=self.dtype)
        pairs = xp.concatenate([keys, xp.broadcast_to(query[:, None, :], keys.shape)], axis=-1)
        return {"pairs": pairs, "payload": payload, "target": target, "answer": payload[rows, target]}

    def scores(self, params, batch):
        return _item_scores(params, batch["pairs"])

    scores_backward = staticmethod(_item_scores_backward)

    def readout(self, params, batch, z):
        xp = namespace(z, batch["payload"])
        out = xp.sum(z[..., None] * batch["payload"], axis=1)                           # (B, Dp)
        losses, diff = sq_error(out, batch["answer"])
        return losses, (diff, batch["payload"])

    # out_b = Σ_n z_bn p_bn  ⇒  ∂L/∂z_bn = ⟨∂L/∂out_b, p_bn⟩; no parameters after the pointer.
    def readout_backward(self, dlosses, cache):
        diff, payload = cache
        dout = sq_error_backward(dlosses, diff)                                         # (B, Dp)
        return {}, namespace(dout).sum(dout[:, None, :] * payload, axis=-1)


# ----------------------------------------------------------------------------- bottleneck

class BottleneckTask(PointerTask):
    """A categorical autoencoder: the pointer is a K-way code (K = n_items) a decoder must read.

    Inputs x ∈ R^D come from a mixture of K well-separated Gaussian clusters, x = μ_c + σ ε, with
    centres μ_c ~ N(0, I) drawn from the world seed and c uniform. An encoder MLP gives K logits,
    the code z (B, K) goes through a decoder MLP, and the per-example loss is the reconstruction
    error (1/D)‖dec(z) − x‖². With a hard code the best possible loss is σ² (the decoder can only
    output a cluster centre); a soft code is a K-dim *continuous* vector and can carry more than
    log K bits, which is exactly the leak that deterministic softmax training exploits.
    Hard metric: the reconstruction error with z = one-hot(argmax) (``hard_loss``).
    """
    name, loss_name, has_accuracy, world_id = "bottleneck", "recon_mse", False, 3
    dim, noise = 32, 0.5
    # σ² is the best a one-hot code can do; runs stuck where two clusters share a code sit ≥ 0.3
    target = Target("hard_loss", "<=", noise ** 2 + 0.01, "hard recon_mse within 0.01 of σ² = 0.25")

    def _draw_world(self, rng):
        return {"centres": rng.standard_normal((self.n_items, self.dim))}              # (K, D)

    def init_params(self, rng):
        enc = self._init(rng, (self.dim, self.hidden, self.n_items), "enc.")
        return {**enc, **self._init(rng, (self.n_items, self.hidden, self.dim), "dec.")}

    def batch(self, rng, size):
        c = rng.integers(0, self.n_items, size=size)                                   # (B,)
        x = self.centres[c] + self.noise * rng.standard_normal((size, self.dim), dtype=self.dtype)
        return {"x": x, "cluster": c}

    def scores(self, params, batch):
        return mlp_forward(params, batch["x"], "enc.")

    def scores_backward(self, dlogits, cache):
        return mlp_backward(dlogits, cache, need_dx=False)[0]

    def readout(self, params, batch, z):
        recon, dec_cache = mlp_forward(params, z, "dec.")                              # (B, D)
        losses, diff = sq_error(recon, batch["x"])
        return losses, (diff, dec_cache)

    def readout_backward(self, dlosses, cache):
        diff, dec_cache = cache
        return mlp_backward(sq_error_backward(dlosses, diff), dec_cache)


from .vae import VAETask  # noqa: E402  (the categorical VAE: same interface, its own module)
from .sorting import SortTask  # noqa: E402  (sorting through a relaxed permutation)

TASKS = {t.name: t for t in (ArgmaxTask, QueryTask, BottleneckTask, VAETask, SortTask)}
POINTER_TASKS = ("argmax", "query", "bottleneck")


def make_task(name, **kw) -> PointerTask:
    """The task ``name`` ("argmax", "query", "bottleneck", "vae") built with ``kw``."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[name](**kw)


# ----------------------------------------------------------------------------- gradient checks

def _check_half(task_name, half):
    """The hand backward of one half of a task wrt everything carrying gradient there (float64):
    the scorer's parameters, or the pointer z and the parameters after it."""
    def case():
        task = make_task(task_name, n_items=4, hidden=5)
        rng = np.random.default_rng(0)
        # nonzero biases: with zero biases a unit whose inputs are all 0 sits exactly on ReLU's kink
        params = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in task.init_params(rng).items()}
        batch = task.batch(rng, 3)
        params["z"] = rng.dirichlet(np.ones(task.n_items), size=3)              # (B, N) on the simplex
        return check_task_half(f"tasks.{task_name}.{half}", task, params, batch, half, ("score.", "enc."))
    return case


GRADCHECK_CASES = [_check_half(t, h) for t in POINTER_TASKS for h in ("scores", "readout")]
