"""The three synthetic pointer tasks (argmax, query, bottleneck); see :mod:`minigumbel.tasks.base`
for the interface they share."""
from __future__ import annotations

import numpy as np

from ..backend import namespace
from ..nn import mlp_backward, mlp_forward
from .base import PointerTask, Target, _item_scores, _item_scores_backward, sq_error, sq_error_backward

__all__ = ["ArgmaxTask", "QueryTask", "BottleneckTask"]


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
