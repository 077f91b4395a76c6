"""Train a pointer task through a discrete choice: ``TrainConfig``, ``train()``, ``evaluate()``.

One training step (nanoGPT-style numbered):

1. τ = schedule(step); draw a batch from the run's Generator.
2. forward: logits = scores(params, batch); the estimator draws its sample at the logits and
   hands the pointer z to the readout, which gives one loss per example; loss = mean.
3. backward, two interchangeable sources of the *same* gradient:
   - ``grad="hand"``: readout_backward → the estimator's hand rule → scores_backward;
   - ``grad="autograd"``: autograd differentiates the very same forward code, with the
     estimator's surrogate in place of the sample (NumPy only).
4. optimizer step on the parameter dict.

Evaluation is hard (one-hot argmax pointer) on a fixed held-out set, next to the "soft" loss: the
loss of the estimator's own training-time pointer on the same held-out set (its noise from a fixed
Generator), so the two differ only in hard vs relaxed pointing. Checkpoints: see checkpoint.py.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from dataclasses import dataclass

import numpy as np

from .backend import BACKENDS, get_backend, to_numpy
from .checkpoint import CheckpointError, CheckpointLock, load_checkpoint, save_checkpoint
from .estimators import ESTIMATORS, SUBSET_ESTIMATORS, RunningMean, loo_baseline
from .functional import _value, check_tau
from .permutations import require_matching
from .nn import INITS
from .optim import OPTIMIZERS, make_optimizer
from .schedules import SCHEDULES, make_schedule
from .data import DATASETS
from .tasks import SELECT_DATASETS, TASKS, make_task
from .tasks.sort import SORT_ESTIMATORS, SORT_ORDER_ESTIMATORS

__all__ = ["TrainConfig", "TASK_DEFAULTS", "train", "prepare", "run_training", "evaluate", "TRAIN_ESTIMATORS",
           "SELECT_ESTIMATORS", "BASELINES", "NonFiniteLoss",
           "CheckpointError", "Run"]

TRAIN_ESTIMATORS = ("softmax", "gumbel", "st-gumbel", "st", "reinforce", "gumbel-rao", "reinmax", "gst-1.0", "gst-p",
                    "decoupled", "gumbel-rao-total")
# the select task chooses k features: the subset estimators (minigumbel.estimators.subset)
SELECT_ESTIMATORS = tuple(SUBSET_ESTIMATORS)
BASELINES = ("none", "loo", "running")
GRADS = ("hand", "autograd")
DTYPES = ("float32", "float64")
# fields that may change between a checkpoint and the run resuming it (they do not change the numbers;
# `steps` only with the constant and exp schedules, whose τ path does not depend on the run's length)
# fields added after checkpoints and results files were first written, with the value every run had
# before (a record or checkpoint without the field means this value)
ADDED_FIELDS = {"init": "he", "sinkhorn_iters": 20, "dataset": None}
RESUME_MAY_DIFFER = ("steps", "grad", "eval_every", "checkpoint", "checkpoint_every", "resume", "log_every")


# the reference setup of the categorical VAE (Jang et al. 2017 on the 8x8 digits; issue 13): Adam lr 1e-3,
# batch 100, 3000 steps, τ = max(0.5, exp(−3·10⁻⁴ t)) updated every step. TrainConfig.for_task uses it.
TASK_DEFAULTS = {"vae": dict(steps=3000, batch_size=100, lr=1e-3, tau=1.0, anneal="exp", tau_min=0.5,
                             anneal_rate=3e-4, anneal_every=1),
                 # Mena et al. 2018's sorting experiment (minigumbel.tasks.sort): Adam lr 0.1, batch 10 lists,
                 # 500 steps, τ = 1, 5 noise samples per list, leave-one-out baseline for reinforce-pl
                 "sort": dict(estimator="gumbel-sinkhorn", steps=500, batch_size=10, lr=0.1, tau=1.0,
                              anneal="constant", samples=5, baseline="loo", init="torch"),
                 # L2X feature selection (minigumbel.tasks.select): a subset estimator
                 "select": dict(estimator="relaxed-topk")}


class NonFiniteLoss(ValueError):
    """The training loss became NaN or infinite; the message names the step."""


@dataclass
class TrainConfig:
    """Everything that defines a training run (the CLI only builds one of these)."""
    task: str = "argmax"            # argmax | query | bottleneck
    estimator: str = "gumbel"       # see TRAIN_ESTIMATORS
    backend: str = "numpy"          # numpy | cupy | auto
    tau: float = 1.0                # τ0, the (initial) temperature
    anneal: str = "constant"        # constant | exp | linear | cosine
    tau_min: float = 0.5
    anneal_rate: float = 1e-3       # exp schedule: τ = max(τ_min, τ0 exp(−rate · t)) ...
    anneal_every: int = 100         # ... with t updated every this many steps
    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-2
    optimizer: str = "adam"
    hidden: int = 32
    init: str = "he"                # initial weights (nn.init_mlp): he | torch (PyTorch's nn.Linear default) | glorot
    n_items: int = 10
    seed: int = 0                   # initial parameters, batches and estimator noise
    world_seed: int = 0             # the task's data distribution and its held-out set
    grad: str = "hand"              # hand | autograd (NumPy only)
    dtype: str = "float64"
    eval_every: int = 100
    eval_size: int = 1000
    gr_k: int = 10                  # gumbel-rao(-total): conditional Gumbel vectors per sample
    tau_forward: float | None = None  # decoupled: forward temperature (None: τ); τ is the backward one
    baseline: str = "none"          # reinforce: none | loo (leave-one-out batch mean) | running
    checkpoint: str | None = None   # write checkpoints here (atomically)
    checkpoint_every: int | None = None   # default: eval_every
    resume: str | None = None       # continue from this checkpoint
    log_every: int = 10             # how often on_step is called (and losses read back)
    # the vae task (minigumbel.tasks.vae); hidden, n_items and eval_size do not apply to it
    latents: int = 8                # L categorical latents ...
    classes: int = 8                # ... of K classes each
    samples: int = 1                # codes per image (reinforce's loo baseline: over an image's codes)
    data: str = "digits"            # digits (scikit-learn) | mnist (IDX files in data_dir)
    data_dir: str | None = None
    # the sort task (minigumbel.tasks.sort); samples = noise samples per list there
    sinkhorn_iters: int = 20        # Sinkhorn rounds (Mena et al.'s released code: 10)
    # the select task (minigumbel.tasks.select): L2X's synthetic data; n_items is 10 there
    dataset: str | None = None      # xor | orange | additive | switch (None: xor)

    @classmethod
    def for_task(cls, task, **kw) -> "TrainConfig":
        """A config with the task's reference defaults (TASK_DEFAULTS), overridden by ``kw``."""
        return cls(task=task, **{**TASK_DEFAULTS.get(task, {}), **kw})

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        _choice(self.task, "task", TASKS)
        if self.task == "select":
            if self.estimator not in SELECT_ESTIMATORS:
                raise ValueError(f"estimator {self.estimator!r} does not choose k items; the select task takes "
                                 f"one of {', '.join(SELECT_ESTIMATORS)}")
            if self.dataset is not None:
                _choice(self.dataset, "dataset", SELECT_DATASETS)
        elif self.task == "sort" or self.estimator in SORT_ESTIMATORS:
            if self.task != "sort" and self.estimator not in TRAIN_ESTIMATORS:
                raise ValueError(f"estimator {self.estimator!r} trains the sort task only; the {self.task} task "
                                 f"takes one of {', '.join(TRAIN_ESTIMATORS)}")
            _choice(self.estimator, "estimator for the sort task", SORT_ESTIMATORS)
            if self.task == "sort" and SORT_ORDER_ESTIMATORS[self.estimator].layout == "item-position":
                require_matching(f"the sort task's evaluation of estimator {self.estimator!r}")
        else:
            if self.estimator in SELECT_ESTIMATORS:
                raise ValueError(f"estimator {self.estimator!r} chooses k items: it applies to the select task only")
            _choice(self.estimator, "estimator", TRAIN_ESTIMATORS)
        if self.task != "select" and self.dataset is not None:
            raise ValueError("dataset applies to the select task only")
        _choice(self.backend, "backend", BACKENDS)
        _choice(self.anneal, "anneal", SCHEDULES)
        _choice(self.optimizer, "optimizer", OPTIMIZERS)
        _choice(self.grad, "grad", GRADS)
        _choice(self.dtype, "dtype", DTYPES)
        _choice(self.baseline, "baseline", BASELINES)
        _choice(self.data, "data", DATASETS)
        _choice(self.init, "init", INITS)
        for name in ("tau", "tau_min"):           # the documented τ domain, [1e-4, 1e4]
            v = getattr(self, name)
            if not isinstance(v, (int, float)):
                raise ValueError(f"{name} must be a Python float or int in [1e-4, 1e4] (a config holds plain "
                                 f"numbers), got {v!r}")
            check_tau(v, name=name)
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not (_finite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if not (isinstance(self.anneal_rate, (int, float)) and not isinstance(self.anneal_rate, bool)
                and _finite(self.anneal_rate) and self.anneal_rate >= 0):
            raise ValueError(f"anneal_rate must be a finite number >= 0, got {self.anneal_rate!r}")
        for name in ("steps", "batch_size", "hidden", "eval_every", "eval_size", "gr_k", "log_every",
                     "anneal_every"):
            _count(getattr(self, name), name, 1)
        _count(self.n_items, "n_items", 2)
        _count(self.latents, "latents", 1)
        _count(self.classes, "classes", 2)
        _count(self.samples, "samples", 1)
        _count(self.sinkhorn_iters, "sinkhorn_iters", 1)
        _count(self.seed, "seed", 0)
        _count(self.world_seed, "world_seed", 0)
        if self.checkpoint_every is not None:
            _count(self.checkpoint_every, "checkpoint_every", 1)
        if self.data_dir is not None and not (isinstance(self.data_dir, str) and os.path.isdir(self.data_dir)):
            raise ValueError(f"data_dir: {self.data_dir!r} is not a folder (it should hold the MNIST IDX files)")
        if self.samples > 1 and self.task not in ("vae", "sort"):
            raise ValueError("samples > 1 applies to the vae task (codes per image) and the sort task "
                             "(noise samples per list) only")
        if self.task != "sort" and self.sinkhorn_iters != 20:
            raise ValueError("sinkhorn_iters applies to the sort task only")
        if self.task == "sort" and self.baseline == "loo" and self.estimator == "reinforce-pl" and self.samples < 2:
            raise ValueError("baseline 'loo' for reinforce-pl on the sort task is over a list's noise samples: "
                             "it needs samples >= 2")
        if self.task != "sort" and self.baseline == "loo" and self.batch_size < 2 and self.samples < 2:
            raise ValueError("baseline 'loo' (leave-one-out over the batch) needs batch_size >= 2")
        if self.grad == "autograd" and self.backend == "cupy":
            raise ValueError("grad='autograd' works on the numpy backend only (autograd traces NumPy); "
                             "use grad='hand' with the cupy backend")
        if self.checkpoint and not os.path.isdir(os.path.dirname(os.path.abspath(self.checkpoint))):
            raise ValueError(f"checkpoint: the folder of {self.checkpoint} does not exist")
        if self.checkpoint and os.path.exists(self.checkpoint) and not os.path.isfile(self.checkpoint):
            raise ValueError(f"checkpoint: {self.checkpoint} is not a regular file (a folder, a pipe or a "
                             "device): each save replaces the checkpoint's file")
        if self.backend == "cupy":
            _no_checkpoints_on_cupy(self, "cupy")
        if self.tau_forward is not None:
            if self.estimator != "decoupled":
                raise ValueError("tau_forward applies to the decoupled estimator only")
            if not isinstance(self.tau_forward, (int, float)):
                raise ValueError("tau_forward must be a Python float or int in [1e-4, 1e4] (a config holds plain "
                                 f"numbers), got {self.tau_forward!r}")
            check_tau(self.tau_forward, name="tau_forward")
        self.schedule()

    def schedule(self):
        return make_schedule(self.anneal, self.tau, self.tau_min, self.steps, self.anneal_rate,
                             self.anneal_every)

    def to_dict(self) -> dict:
        """The fields as plain Python values (a NumPy integer as an int): JSON for checkpoints and
        sweep records."""
        return {k: v.item() if isinstance(v, np.generic) else v for k, v in dataclasses.asdict(self).items()}


def _no_checkpoints_on_cupy(config, resolved):
    """Checkpoints hold the NumPy Generator's state; CuPy's cannot be saved or restored (its
    ``bit_generator.state`` is a method returning a device address), so a CuPy run refuses them."""
    if resolved == "cupy" and (config.checkpoint or config.resume):
        how = "" if config.backend == "cupy" else f" (backend {config.backend!r} resolved to 'cupy' here)"
        raise ValueError(f"checkpoints need the numpy backend{how}: CuPy's random generator state "
                         "cannot be saved or restored; use --backend numpy with --checkpoint/--resume")


def _finite(x) -> bool:
    try:
        return math.isfinite(x)
    except OverflowError:                       # a Python int beyond float's range
        return False


def _choice(value, name, options):
    if value not in options:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(options)}")


def _count(value, name, low):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


# ----------------------------------------------------------------------------- one step

class Run:
    """The live state of a run: task, estimator, parameters, optimizer, Generator, history."""
    checkpoint_step = None      # the step the checkpoint file holds, as far as this run knows

    def __init__(self, config: TrainConfig):
        config.validate()
        self.config = c = config
        self.backend = get_backend(c.backend)
        _no_checkpoints_on_cupy(c, self.backend.name)       # decided on the resolved backend
        if c.grad == "autograd" and self.backend.name != "numpy":
            raise ValueError("grad='autograd' works on the numpy backend only; "
                             f"backend {c.backend!r} resolved to {self.backend.name!r}")
        if c.task == "vae":
            self.task = make_task("vae", latents=c.latents, classes=c.classes, samples=c.samples, data=c.data,
                                  data_dir=c.data_dir, dtype=c.dtype, backend=self.backend,
                                  world_seed=c.world_seed, seed=c.seed, init=c.init)
        elif c.task == "sort":
            self.task = make_task("sort", n_items=c.n_items, hidden=c.hidden, dtype=c.dtype, backend=self.backend,
                                  world_seed=c.world_seed, estimator=c.estimator, init=c.init,
                                  sinkhorn_iters=c.sinkhorn_iters)
        elif c.task == "select":
            self.task = make_task("select", dataset=c.dataset or "xor", hidden=c.hidden, dtype=c.dtype,
                                  backend=self.backend, world_seed=c.world_seed, init=c.init)
        else:
            self.task = make_task(c.task, n_items=c.n_items, hidden=c.hidden, dtype=c.dtype,
                                  backend=self.backend, world_seed=c.world_seed, init=c.init)
        if c.task == "sort":
            self.est = SORT_ORDER_ESTIMATORS[c.estimator]
            opts = {"samples": c.samples, "n_iters": c.sinkhorn_iters}
            self.options = {k: v for k, v in opts.items() if k in self.est.options}
        elif c.task == "select":
            self.est = SUBSET_ESTIMATORS[c.estimator]
            self.options = {"k": self.task.k}
        else:
            self.est = ESTIMATORS[c.estimator]
            self.options = ({"k": c.gr_k} if c.estimator in ("gumbel-rao", "gumbel-rao-total") else
                            {"tau_forward": c.tau_forward} if c.estimator == "decoupled" else {})
        self.schedule = c.schedule()
        self.params = self.task.init_params(np.random.default_rng([c.seed, 0]))
        self.optimizer = make_optimizer(c.optimizer, c.lr)
        self.rng = self.backend.rng([c.seed, 1])
        self.running = RunningMean() if c.baseline == "running" else None
        # the vae task evaluates on its fixed test set instead
        self.eval_batch = None if c.task == "vae" else self.task.batch(self.backend.rng([c.world_seed, 2]), c.eval_size)
        self.step = 0
        self.history = {"config": c.to_dict(), "loss": [], "tau": [], "eval": []}

    # -- the two gradient sources -------------------------------------------------------------
    def _baseline(self, losses):
        """REINFORCE baseline b from the losses' values (never differentiated)."""
        if self.config.baseline == "loo":
            return loo_baseline(_value(losses))
        if self.running is not None:
            b = self.running.value                       # from earlier steps only
            self.running.update(_value(losses))
            return b
        return 0.0

    def hand_step(self, batch, tau):
        """(loss, grads) with the hand-derived backward passes."""
        task, est, xp = self.task, self.est, self.backend.xp
        logits, scores_cache = task.scores(self.params, batch)          # (B, N); vae (B, L, K) or (S, B, L, K)
        draw = est.sample(logits, self.rng, tau, **self.options)
        losses, readout_cache = task.readout(self.params, batch, draw.z)  # (B,); vae (B,) or (S, B)
        weight = 1.0 / losses.size                                      # d mean / dL_b
        dlosses = xp.full(losses.shape, weight, dtype=losses.dtype)
        grads, dz = task.readout_backward(dlosses, readout_cache)
        if est.needs == "f":     # REINFORCE: (L_b − b)(d − π) per example (per latent), times dmean/dL_b
            b = self._baseline(losses)
            dlogits = est.backward(draw, task.per_choice(losses), task.per_choice(b)) * weight
        else:
            dlogits = est.backward(draw, dz)
        loss = xp.mean(losses)
        extra = task.logits_loss(logits)     # vae: the KL, with its exact gradient for every estimator
        if extra is not None:
            penalty, penalty_cache = extra
            dlogits = dlogits + task.logits_loss_backward(dlosses, penalty_cache)
            loss = loss + xp.mean(penalty)
        grads.update(task.scores_backward(dlogits, scores_cache))
        return loss, grads

    def autograd_step(self, batch, tau):
        """(loss, grads) from autograd through the same forward code (NumPy only)."""
        from autograd import value_and_grad
        import autograd.numpy as anp
        task, est = self.task, self.est

        def objective(params):
            logits, _ = task.scores(params, batch)
            draw = est.sample(logits, self.rng, tau, **self.options)
            z = draw.z if est.needs == "f" else est.surrogate(logits, draw)
            losses, _ = task.readout(params, batch, z)
            loss = anp.mean(losses)
            if est.needs == "f":   # a term of value exactly 0 whose gradient is the score function
                b = self._baseline(losses)
                term = est.surrogate(logits, draw, task.per_choice(losses), baseline=task.per_choice(b))
                loss = loss + anp.sum(term) / losses.size
            extra = task.logits_loss(logits)
            if extra is not None:
                loss = loss + anp.mean(extra[0])
            return loss
        return value_and_grad(objective)(self.params)

    def train_step(self):
        tau = self.schedule(self.step)
        batch = self.task.batch(self.rng, self.config.batch_size)
        step = self.hand_step if self.config.grad == "hand" else self.autograd_step
        loss, grads = step(batch, tau)
        self.optimizer.step(self.params, grads)
        self.step += 1
        return loss, tau

    # -- checkpoints ------------------------------------------------------------------------------
    def save(self, path):
        """Write a checkpoint of this run (refusing non-finite parameters: a broken run never
        overwrites a good checkpoint)."""
        xp = self.backend.xp
        bad = [k for k, v in self.params.items() if not bool(xp.all(xp.isfinite(v)))]
        if bad:
            raise NonFiniteLoss(f"parameters {', '.join(bad)} became non-finite by step {self.step}; "
                                f"the checkpoint {path} was not overwritten")
        extra = {"running": [float(self.running.value), self.running.count]} if self.running else {}
        save_checkpoint(path, config=self.config.to_dict(), step=self.step, params=self.params,
                        optimizer=self.optimizer.state_dict(), rng_state=self.rng.bit_generator.state,
                        history=self.history, extra=extra)

    def load(self, path):
        """Continue from the checkpoint ``path``: it must come from a run of the same config (up to
        RESUME_MAY_DIFFER) and be at a step <= ``config.steps``; every part is checked first
        (:class:`CheckpointError` naming the file)."""
        like = {k: (tuple(v.shape), np.dtype(self.task.dtype)) for k, v in self.params.items()}
        ck = load_checkpoint(path, like=like, check=lambda config, step: self._fits(path, config, step))
        if set(ck["params"]) != set(self.params):
            raise CheckpointError(f"checkpoint {path} holds parameters that do not fit this model")
        opt = ck["optimizer"]
        if opt.get("step") != ck["step"]:
            raise CheckpointError(f"checkpoint {path}: its optimizer is at step {opt.get('step')!r}, "
                                  f"the run at step {ck['step']}")
        for buf in self.optimizer._buffers:
            have = set(opt.get(buf, {}))
            want = set(self.params) if (buf in self.optimizer.buffers_in_use() and ck["step"] > 0) else set()
            if buf not in opt or have != want:
                raise CheckpointError(f"checkpoint {path}: optimizer buffer {buf!r} holds "
                                      f"{sorted(have) if buf in opt else 'nothing'}; expected {sorted(want)}")
            if buf == "v" and any(bool(np.any(v < 0)) for v in opt[buf].values()):
                raise CheckpointError(f"checkpoint {path}: Adam's second moment 'v' has a negative entry")
        unused = [b for b in opt if isinstance(opt[b], dict) and b not in self.optimizer._buffers]
        if unused:
            raise CheckpointError(f"checkpoint {path}: optimizer buffers {', '.join(unused)} are not "
                                  f"{self.optimizer.name}'s")
        if self.running is not None and ck["step"] > 0 and "running" not in ck["extra"]:
            raise CheckpointError(f"checkpoint {path}: the running-mean baseline's state is missing")
        try:
            self.optimizer.load_state_dict(opt)
            self.rng.bit_generator.state = ck["rng_state"]
        except (ValueError, TypeError, KeyError) as exc:
            raise CheckpointError(f"checkpoint {path}: cannot restore its state ({exc})") from None
        for k, v in ck["params"].items():
            self.params[k] = self.backend.asarray(v, self.task.dtype)
        if self.running is not None:
            self.running.value, self.running.count = ck["extra"].get("running", [0.0, 0])
        self.step = ck["step"]
        self.task.seek(self.step)           # the vae's epoch stream continues where it stopped
        self.history.update({k: ck["history"][k] for k in ("loss", "tau", "eval")})

    def _fits(self, path, config, step):
        """Refuse a checkpoint of another config, or one past ``steps`` (before reading its arrays)."""
        # linear and cosine schedules end at `steps`: there a new `steps` would bend the τ path
        may_differ = RESUME_MAY_DIFFER if self.config.anneal in ("constant", "exp") else \
            tuple(k for k in RESUME_MAY_DIFFER if k != "steps")
        # backend "auto" is kept as given; it resolved to this run's backend (checkpoints: numpy only)
        same = lambda k, a, b: a == b or (k == "backend" and {a, b} <= {"auto", self.backend.name})  # noqa: E731
        fields = self.config.to_dict()
        config = {**ADDED_FIELDS, **config}          # a checkpoint older than a field: its old meaning
        unknown = [k for k in config if k not in fields]
        missing = [k for k in fields if k not in config]
        if unknown or missing:
            raise CheckpointError(f"checkpoint {path}: its config " + "; ".join(
                ([f"has unknown fields {', '.join(unknown)}"] if unknown else [])
                + ([f"lacks {', '.join(missing)}"] if missing else [])))
        diff = [f"{k}: {config[k]!r} in the checkpoint, {v!r} now"
                for k, v in fields.items() if k not in may_differ and not same(k, config[k], v)]
        if diff:
            raise CheckpointError(f"checkpoint {path} was written by a run with a different config ("
                                  + "; ".join(diff) + ")")
        if step > self.config.steps:
            raise CheckpointError(f"checkpoint {path} is already at step {step}, past steps = "
                                  f"{self.config.steps} (--steps); give at least {step} to continue it")

    # -- the checkpoint's lock ----------------------------------------------------------------
    def lock(self):
        """Take the lock of ``config.checkpoint`` (held until :meth:`unlock`): refuses a checkpoint
        another run is writing, or one in a folder this process cannot write to."""
        if self.config.checkpoint and getattr(self, "_lock", None) is None:
            self._lock = CheckpointLock(self.config.checkpoint)

    def unlock(self):
        lock, self._lock = getattr(self, "_lock", None), None
        if lock is not None:
            lock.release()


# ----------------------------------------------------------------------------- evaluation

def evaluate(run: Run, tau: float) -> dict:
    """Hard metrics (one-hot argmax pointer) and the soft loss on the fixed held-out set, as floats."""
    task, est, batch = run.task, run.est, run.eval_batch
    if hasattr(task, "evaluate"):          # the vae: its own test-set metrics (minigumbel.tasks.vae)
        return task.evaluate(run.params, est, tau, run.options, run.config.world_seed)
    logits, _ = task.scores(run.params, batch)
    noise = run.backend.rng([run.config.world_seed, 3])                # the same noise every time
    draw = est.sample(logits, noise, tau, **task.soft_options(est, run.options))
    soft, _ = task.readout(run.params, batch, draw.z)
    xp = run.backend.xp
    metrics = {"soft_loss": xp.mean(soft), **task.soft_metrics(run.params, batch, draw.z),
               **task.hard_metrics(run.params, batch)}                         # 0-d device arrays
    values = to_numpy(xp.stack([xp.asarray(v, dtype=xp.float64) for v in metrics.values()]))
    return dict(zip(metrics, values.tolist()))                         # the one host transfer


# ----------------------------------------------------------------------------- the loop

def prepare(config: TrainConfig) -> Run:
    """Build a run from ``config``, loading ``config.resume`` if set: every input error surfaces
    here (bad config, missing backend, unreadable or mismatched checkpoint, a checkpoint path that
    cannot be written or that another run is writing), before any training. With
    ``config.checkpoint`` the run holds the checkpoint's lock until :func:`run_training` ends."""
    run = Run(config)
    run.lock()                          # the checkpoint: writable, and no other run writing it
    try:
        if config.resume:
            run.load(config.resume)
    except BaseException:
        run.unlock()
        raise
    return run


def train(config: TrainConfig, on_step=None) -> dict:
    """Train ``config`` and return its history: ``run_training(prepare(config), on_step)``."""
    return run_training(prepare(config), on_step)


def run_training(run: Run, on_step=None) -> dict:
    """Train a prepared run to ``config.steps`` and return its history.

    history = {"config", "loss": [per step], "tau": [per step], "eval": [{"step", metrics...}],
    "final": last eval, "steps_done", "seconds"}. ``on_step(record)`` is called every ``log_every``
    steps and after each evaluation with {"step", "steps", "loss", "tau", "eval"}; returning
    ``False`` stops the run there (a checkpoint is written first when ``config.checkpoint`` is set).
    A NaN/inf loss raises :class:`NonFiniteLoss` naming the step; checkpoints are written only
    after the losses up to them were checked, so the last checkpoint on disk is a good one.
    """
    # overflow in a diverging run is reported once, as NonFiniteLoss, not as a stream of warnings
    run.lock()
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"), run.task.threads_limit():   # vae: 1 BLAS thread
            return _loop(run, on_step)
    finally:
        run.unlock()


def _loop(run: Run, on_step) -> dict:
    c, hist = run.config, run.history
    ckpt_every = c.checkpoint_every or c.eval_every
    pending = []                                    # device scalars not yet read back
    last_ckpt = run.step if c.resume and c.resume == c.checkpoint else None
    start = time.perf_counter()

    def flush():
        if not pending:
            return
        values = to_numpy(run.backend.xp.stack(pending)).tolist()
        first = run.step - len(pending)
        pending.clear()
        for i, v in enumerate(values):
            if not math.isfinite(v):
                kept = f"; the last good checkpoint (step {last_ckpt}) is kept at {c.checkpoint}" if last_ckpt else ""
                raise NonFiniteLoss(f"the training loss became {v} at step {first + i + 1} "
                                    f"(try a smaller lr than {c.lr}){kept}")
        hist["loss"].extend(values)

    run.checkpoint_step = last_ckpt
    try:
        if not hist["eval"]:
            hist["eval"].append({"step": 0, **evaluate(run, run.schedule(0))})
        while run.step < c.steps:
            loss, tau = run.train_step()
            pending.append(loss)
            hist["tau"].append(tau)
            s = run.step
            event = s % c.eval_every == 0 or s == c.steps
            if event:
                flush()
                hist["eval"].append({"step": s, **evaluate(run, tau)})
            if c.checkpoint and (s % ckpt_every == 0 or s == c.steps):
                flush()
                run.save(c.checkpoint)
                last_ckpt = run.checkpoint_step = s
            if on_step is not None and (event or s % c.log_every == 0):
                flush()
                record = {"step": s, "steps": c.steps, "loss": hist["loss"][-1], "tau": tau,
                          "eval": hist["eval"][-1]}
                if on_step(record) is False:
                    if c.checkpoint and last_ckpt != s:
                        run.save(c.checkpoint)
                    break
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM (the CLI raises KeyboardInterrupt for both): keep the losses read so far
        # (unchecked: the run stops here anyway), cut the per-step lists to the steps that have
        # both, and leave the step the checkpoint file holds on the run; the caller reports it
        with contextlib.suppress(Exception):
            hist["loss"].extend(to_numpy(run.backend.xp.stack(pending)).tolist() if pending else [])
        n = min(len(hist["loss"]), len(hist["tau"]))
        del hist["loss"][n:], hist["tau"][n:]
        hist.update(steps_done=n, seconds=time.perf_counter() - start, interrupted=True)
        raise
    flush()
    hist["final"] = hist["eval"][-1]
    # the vae: IW bound, train −ELBO, pixel baseline (once, at the end); nothing for the pointer tasks
    hist["final"] = {**hist["final"], **run.task.final_metrics(run.params, c.world_seed)}
    hist["steps_done"] = run.step
    hist["seconds"] = time.perf_counter() - start
    return hist
