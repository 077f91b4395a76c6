"""A categorical VAE on binarized handwritten digits (Jang, Gu & Poole 2017, sec. 4.2).

The model, the reference setup of this project (``TrainConfig(task="vae")`` with the VAE defaults):

    encoder  x (B, D) -> MLP D → 256 → 128 → L·K (ReLU) -> logits θ (B, L, K)
    code     z (B, L, K): L categorical latents of K classes, drawn by the training estimator
    decoder  z (B, L·K) -> MLP L·K → 128 → 256 → D (ReLU) -> Bernoulli logits a (B, D)
    loss     −ELBO_b = Σ_d BCE(a_bd, x_bd) + Σ_l KL(q_bl ‖ Uniform(K)),  q_bl = softmax θ_bl

The task splits at the code like the pointer tasks (minigumbel.tasks): ``scores`` (the encoder),
``readout`` (decoder + reconstruction term, one loss per image, what the estimator differentiates
or, for REINFORCE, scores), plus the analytic KL on the logits (``logits_loss``, exact gradient for
every estimator). With ``samples`` S > 1 every image gets S codes: logits and losses gain a leading
axis (S, B, ...) and REINFORCE's leave-one-out baseline averages the other codes of the same image.

Evaluation on the test set (:meth:`VAETask.evaluate`, numbers in nats per image):
hard −ELBO (one-hot codes drawn from q, 10 per image, fixed seed); the training objective on the
test set (``test_nelbo_soft``: the reconstruction term with the estimator's own training-time code,
relaxed for softmax and gumbel, plus the categorical KL; a bound for neither the discrete nor the
relaxed model (Maddison et al. 2017), its gap to the hard −ELBO measures the leak); the KL; and at the end (:meth:`VAETask.final_metrics`)
the importance-weighted bound on −log p(x) with 100 samples (Burda, Grosse & Salakhutdinov 2016)
and the hard −ELBO on the training set. The independent-pixel baseline is the NLL of a per-pixel
Bernoulli fitted on the training images: a code that does not beat it carries nothing.
"""
from __future__ import annotations

import contextlib
import itertools
import math

import numpy as np

from ..backend import get_backend, namespace, to_numpy
from ..data import load_dataset
from .._inputs import float_dtype
from ..functional import (_gumbel_max as gumbel_max, _log_softmax as log_softmax, _one_hot as one_hot,
                         _softmax as softmax, sample_gumbel)
from ..losses import bce_with_logits, bce_with_logits_backward, categorical_kl_uniform, categorical_kl_uniform_backward
from ..nn import INITS, init_mlp, mlp_backward, mlp_forward
from ..provenance import blas_threads

__all__ = ["VAETask", "pixel_baseline_nll", "EVAL_SAMPLES", "IW_SAMPLES", "HIDDEN", "ENUMERATION_LIMIT",
           "enumerate_codes", "GRADCHECK_CASES"]

EVAL_SAMPLES = 10          # hard codes per test image for the −ELBO
IW_SAMPLES = 100           # importance samples per test image (Burda et al. 2016)
HIDDEN = (256, 128)        # encoder widths (the decoder mirrors them)
ENUMERATION_LIMIT = 1 << 16   # expected_reconstruction enumerates at most this many codes K^L


def enumerate_codes(latents, classes, limit=ENUMERATION_LIMIT, what="expected_reconstruction"):
    """Every code of L latents with K classes, one-hot: (K^L, L, K) float64 on the host.
    A ValueError naming ``what`` when K^L > ``limit``."""
    n = classes ** latents
    if n > limit:
        raise ValueError(f"{what} enumerates K^L = {classes}^{latents} = {n} codes; at most {limit} "
                         "(use fewer latents or classes)")
    idx = np.array(list(itertools.product(range(classes), repeat=latents)))     # (C, L)
    return np.eye(classes)[idx]                                                # (C, L, K)


def pixel_baseline_nll(train, test):
    """Test NLL (nats per image) of independent Bernoulli pixels fitted on ``train``.

    p_d = (Σ_n x_nd + ½) / (N + 1) (add-½, Krichevsky–Trofimov): a pixel never on in training
    still gets a finite cost when it is on in a test image.
    """
    p = (train.sum(axis=0) + 0.5) / (len(train) + 1.0)                      # (D,)
    return float(-np.mean(test @ np.log(p) + (1.0 - test) @ np.log1p(-p)))


class VAETask:
    """The categorical VAE as a task of minigumbel.train (same interface as the pointer tasks)."""
    name, loss_name, has_accuracy = "vae", "-ELBO", False
    target = None
    # the columns of `minigumbel compare`/`sweep` for this task (metric -> label); "seconds" is each
    # run's wall time. The footnote names the independent-pixel baseline a useful code must beat.
    summary_metrics = {"test_nelbo_hard": "test -ELBO hard", "test_nelbo_soft": "test objective",
                       "test_iw_nll": "test IW (S=100)", "train_nelbo": "train -ELBO", "kl": "KL",
                       "seconds": "seconds"}
    summary_footnote = ("independent-pixel baseline (test NLL): {pixel_baseline_nll:.2f}. hard = codes d ~ q "
                        "(10 per image); objective = the training loss on the test set (the estimator's own "
                        "training-time code + KL: a bound for neither model); IW = importance-"
                        "weighted bound on -log p(x).")
    # OpenBLAS threads its GEMMs above M·N·K = 2^18 (here: every layer at batch 100). On the 2-core
    # dev machine shared with other jobs, a step with its default 2 threads took 10.9 ms median and
    # 32 ms mean, with one BLAS thread 5.7 and 6.4 ms (benchmarks/vae_blas_threads.py, load ≈ 4.3).
    # minigumbel.train runs the vae under threads_limit(): OpenBLAS on this many threads.
    blas_threads = 1

    def __init__(self, latents=8, classes=8, samples=1, data="digits", data_dir=None, dtype=np.float64,
                 backend="numpy", world_seed=0, seed=0, hidden=HIDDEN, images=None, init="he"):
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
        self.init = init
        for value, name, low in ((latents, "latents", 1), (classes, "classes", 2), (samples, "samples", 1),
                                 (world_seed, "world_seed", 0), (seed, "seed", 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        self.dtype = float_dtype(dtype)                                      # float16: the one refusal
        self.latents, self.classes, self.samples = int(latents), int(classes), int(samples)
        self.hidden, self.data, self.seed, self.world_seed = tuple(hidden), data, int(seed), int(world_seed)
        self.backend = get_backend(backend)
        self.xp = self.backend.xp
        train, test = load_dataset(data, data_dir) if images is None else images    # host float64 0/1
        self.n_train, self.dim = train.shape
        self.baseline_nll = pixel_baseline_nll(train, test)
        self.train_x = self.backend.asarray(train, self.dtype)               # (N, D)
        self.test_x = self.backend.asarray(test, self.dtype)                 # (N_test, D)
        self.batches_drawn, self._epoch = 0, (-1, None)

    def __repr__(self):
        return (f"VAETask(latents={self.latents}, classes={self.classes}, samples={self.samples}, "
                f"data={self.data!r}, dtype={self.dtype.name}, init={self.init!r})")

    def threads_limit(self):
        """A context running NumPy's OpenBLAS on ``blas_threads`` threads (minigumbel.provenance);
        a no-op on CuPy or with another BLAS."""
        if self.backend.name != "numpy":
            return contextlib.nullcontext()
        return blas_threads(self.blas_threads)

    @property
    def code_size(self):
        return self.latents * self.classes

    def init_params(self, rng):
        """Encoder "enc." (D → 256 → 128 → L·K) and decoder "dec." (L·K → 128 → 256 → D), initialised
        by ``init`` (nn.init_mlp): "he" (Gaussian, zero biases; the default) or "torch" (PyTorch's
        nn.Linear default, uniform ±1/√fan_in weights and biases)."""
        enc = init_mlp(rng, (self.dim, *self.hidden, self.code_size), self.dtype, "enc.", init=self.init)
        dec = init_mlp(rng, (self.code_size, *self.hidden[::-1], self.dim), self.dtype, "dec.", init=self.init)
        return {k: self.backend.asarray(v) for k, v in {**enc, **dec}.items()}

    # -- data ----------------------------------------------------------------------------------
    def _order(self, epoch):
        """The epoch's random order of the training images (a device index array), cached."""
        if self._epoch[0] != epoch:
            perm = np.random.default_rng([self.seed, 4, epoch]).permutation(self.n_train)
            self._epoch = (epoch, self.backend.asarray(perm))
        return self._epoch[1]

    def batch(self, rng=None, size=100):
        """The next ``size`` training images of an endless stream of epochs, each epoch a fresh
        random order (drawn from the task's ``seed`` and the epoch number, so a run resumed at step t
        (``seek(t)``) sees the same batches). ``rng`` is unused: the order does not consume it."""
        xp, n = self.xp, self.n_train
        start = self.batches_drawn * size
        self.batches_drawn += 1
        parts, pos = [], start
        while pos < start + size:
            epoch, offset = divmod(pos, n)
            take = min(n - offset, start + size - pos)
            parts.append(self._order(epoch)[offset:offset + take])
            pos += take
        idx = parts[0] if len(parts) == 1 else xp.concatenate(parts)
        return {"x": self.train_x[idx]}                                       # (B, D)

    def seek(self, step):
        """Continue the batch stream after ``step`` batches (a resumed run)."""
        self.batches_drawn = int(step)

    # -- the two halves --------------------------------------------------------------------------
    def scores(self, params, batch):
        """Encoder: logits (B, L, K), or (S, B, L, K) with S = ``samples`` > 1 (one code per copy)."""
        h, cache = mlp_forward(params, batch["x"], "enc.")                    # (B, L·K)
        logits = h.reshape(h.shape[:-1] + (self.latents, self.classes))       # (B, L, K)
        if self.samples > 1:
            logits = namespace(logits).broadcast_to(logits[None], (self.samples,) + logits.shape)
        return logits, cache

    # the S copies share the encoder's output, so their gradients add up (the VJP of the broadcast)
    def scores_backward(self, dlogits, cache):
        if self.samples > 1:
            dlogits = dlogits.sum(axis=0)
        dh = dlogits.reshape(dlogits.shape[:-2] + (self.code_size,))           # (B, L·K)
        return mlp_backward(dh, cache, need_dx=False)[0]

    def readout(self, params, batch, z):
        """Decoder and reconstruction term: z (..., B, L, K) -> losses (..., B) = Σ_d BCE."""
        return self.reconstruction(params, batch["x"], z)

    def reconstruction(self, params, x, z):
        """−log p(x | z) per image: x (B, D), z (..., B, L, K) -> (losses (..., B), cache)."""
        a, dec_cache = mlp_forward(params, z.reshape(z.shape[:-2] + (self.code_size,)), "dec.")  # (..., B, D)
        losses, bce_cache = bce_with_logits(a, x)
        return losses, (dec_cache, bce_cache, z.shape)

    def readout_backward(self, dlosses, cache):
        dec_cache, bce_cache, z_shape = cache
        grads, dz = mlp_backward(bce_with_logits_backward(dlosses, bce_cache), dec_cache)
        return grads, dz.reshape(z_shape)

    # -- the KL term, differentiated analytically by every estimator --------------------------------
    def logits_loss(self, logits):
        """Σ_l KL(q_l ‖ Uniform(K)) per image: logits (..., B, L, K) -> (kl (..., B), cache)."""
        kl, cache = categorical_kl_uniform(logits)                            # (..., B, L)
        return namespace(kl).sum(kl, axis=-1), cache

    def logits_loss_backward(self, dkl, cache):
        return categorical_kl_uniform_backward(namespace(dkl).broadcast_to(dkl[..., None], cache[2].shape), cache)

    def per_choice(self, values):
        """A per-image value (..., B) repeated for each of the L latents (..., B, L): REINFORCE's
        score function of the joint code is the sum of the L latents' scores. Scalars pass through."""
        if getattr(values, "ndim", 0) == 0:
            return values
        return namespace(values).broadcast_to(values[..., None], values.shape + (self.latents,))

    # -- exact expectation (small codes) ------------------------------------------------------------
    def expected_reconstruction(self, params, x, logits):
        """E_{z~q}[−log p(x | z)] per image by enumerating all K^L codes: logits (B, L, K) -> (B,).

        Written with ``namespace`` so autograd differentiates it wrt ``logits`` and the decoder's
        parameters: the exact gradient the estimators approximate (K^L ≤ ENUMERATION_LIMIT).
        """
        xp = namespace(logits, x)
        codes = self.backend.asarray(enumerate_codes(self.latents, self.classes), self.dtype)   # (C, L, K)
        recon, _ = self.reconstruction(params, x, codes[:, None])             # (C, B): code c, image b
        logq = log_softmax(logits)                                            # (B, L, K)
        log_prob = xp.sum(logq[None] * codes[:, None], axis=(-2, -1))         # (C, B) log q(code | x_b)
        return xp.sum(xp.exp(log_prob) * recon, axis=0)

    # -- evaluation ---------------------------------------------------------------------------------
    def _hard_codes(self, logits, rng, n):
        """n exact samples d ~ q per row by Gumbel-max: (n, ..., L, K) one-hot."""
        g = sample_gumbel(rng, (n,) + tuple(logits.shape), self.dtype)
        return one_hot(gumbel_max(logits, g), self.classes, self.dtype)

    def _encode(self, params, x):
        h, _ = mlp_forward(params, x, "enc.")
        return h.reshape(h.shape[:-1] + (self.latents, self.classes))         # (B, L, K)

    def _nelbo(self, params, x, rng, n, est=None, tau=1.0, options=None):
        """Mean −ELBO, reconstruction and KL over n codes per image: hard codes d ~ q, or with ``est``
        the estimator's own training-time code z."""
        logits = self._encode(params, x)
        kl = self.logits_loss(logits)[0]                                      # (B,)
        if est is None:
            z = self._hard_codes(logits, rng, n)
        else:
            z = est.sample(self.xp.broadcast_to(logits[None], (n,) + logits.shape), rng, tau, **(options or {})).z
        recon = self.reconstruction(params, x, z)[0]                          # (n, B)
        return self.xp.mean(recon) + self.xp.mean(kl), self.xp.mean(recon), self.xp.mean(kl)

    def evaluate(self, params, est, tau, options, seed):
        """Test-set metrics (floats, nats per image); the noise comes from Generators seeded by
        ``seed`` alone, so every evaluation of a run (and every run) uses the same noise."""
        rng = self.backend.rng([seed, 3])
        hard, recon, kl = self._nelbo(params, self.test_x, rng, EVAL_SAMPLES)
        soft = self._nelbo(params, self.test_x, rng, EVAL_SAMPLES, est, tau, options)[0]
        values = to_numpy(self.xp.stack([hard, soft, recon, kl])).tolist()  # the one host transfer
        out = dict(zip(("test_nelbo_hard", "test_nelbo_soft", "test_recon_hard", "kl"), values))
        # the names the pointer tasks use, so task-generic consumers (compare, figures) read them too
        return {**out, "hard_loss": out["test_nelbo_hard"], "soft_loss": out["test_nelbo_soft"]}

    def final_metrics(self, params, seed):
        """The costlier end-of-run numbers: the IW bound on the test set (S = IW_SAMPLES), the hard
        −ELBO on the training set (EVAL_SAMPLES codes per image) and the pixel baseline."""
        rng = self.backend.rng([seed, 5])
        iw = self.iw_nll(params, self.test_x, rng, IW_SAMPLES)
        train = self._nelbo(params, self.train_x, rng, EVAL_SAMPLES)[0]
        iw, train = to_numpy(self.xp.stack([iw, train])).tolist()
        return {"test_iw_nll": iw, "train_nelbo": train, "pixel_baseline_nll": self.baseline_nll}

    def iw_nll(self, params, x, rng, n_samples=IW_SAMPLES, chunk=None):
        """Mean over images of −log (1/S Σ_s p(x|d_s) p(d_s) / q(d_s|x)), d_s ~ q (Burda et al. 2016).

        log p(d) = −L log K (uniform prior); log q(d|x) = Σ_l log q_l(d_l). Images are processed in
        chunks so that the (S, chunk, D) arrays stay small (MNIST: 10,000 test images).
        """
        xp = self.xp
        chunk = chunk or max(1, 20_000 // n_samples)
        total = xp.zeros((), self.dtype)
        for start in range(0, x.shape[0], chunk):
            xb = x[start:start + chunk]                                        # (b, D)
            logq = log_softmax(self._encode(params, xb))                       # (b, L, K)
            d = self._hard_codes(logq, rng, n_samples)                         # (S, b, L, K)
            log_w = (-self.reconstruction(params, xb, d)[0]                    # log p(x | d), (S, b)
                     - self.latents * math.log(self.classes)                   # log p(d)
                     - xp.sum(d * logq, axis=(-2, -1)))                        # − log q(d | x)
            m = xp.max(log_w, axis=0)
            log_mean_w = m + xp.log(xp.mean(xp.exp(log_w - m), axis=0))        # (b,) stable log-mean-exp
            total = total - xp.sum(log_mean_w)
        return total / x.shape[0]

    def decode_probs(self, params, z):
        """Pixel probabilities σ(decoder(z)) for codes z (..., L, K)."""
        a, _ = mlp_forward(params, z.reshape(z.shape[:-2] + (self.code_size,)), "dec.")
        return 0.5 + 0.5 * self.xp.tanh(0.5 * a)

    def posterior(self, params, x):
        """q(z | x) (B, L, K)."""
        return softmax(self._encode(params, x))


# ----------------------------------------------------------------------------- gradient checks

def _tiny_task(**kw):
    """L = 2 latents of K = 3 on 5 random 6-pixel binary images (train) and 4 (test), widths (5, 4)."""
    rng = np.random.default_rng(11)
    images = ((rng.random((5, 6)) < 0.4).astype(float), (rng.random((4, 6)) < 0.4).astype(float))
    return VAETask(latents=2, classes=3, hidden=(5, 4), images=images, **kw)


def _check_half(half):
    """Hand backward of the encoder (wrt its parameters) or of the decoder + reconstruction term
    (wrt its parameters and the code z), float64, against autograd and finite differences."""
    def case():
        from ..gradcheck import check_task_half
        task = _tiny_task()
        rng = np.random.default_rng(0)
        # nonzero biases: with zero biases a unit whose inputs are all 0 sits exactly on ReLU's kink
        params = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in task.init_params(rng).items()}
        params["z"] = rng.dirichlet(np.ones(3), size=(4, 2))                     # (B, L, K) relaxed codes
        return check_task_half(f"vae.{half}", task, params, task.batch(size=4), half, ("enc.",))
    return case


def _check_kl_term():
    from ..gradcheck import three_way
    task = _tiny_task(samples=3)
    theta = np.random.default_rng(1).normal(size=(3, 4, 2, 3))                   # (S, B, L, K)
    cache = task.logits_loss(theta)[1]
    return three_way("vae.logits_loss (KL per image)", lambda t: task.logits_loss(t)[0],
                     lambda d: task.logits_loss_backward(d, cache), theta)


GRADCHECK_CASES = [_check_half("scores"), _check_half("readout"), _check_kl_term]
