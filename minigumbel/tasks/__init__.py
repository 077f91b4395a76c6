"""Pointer tasks: a network scores items and points at one (or k, or an order) through a choice.

One module per task family, all on the interface of :class:`~minigumbel.tasks.base.PointerTask`
(``scores`` → the choice → ``readout``, each half with its hand backward):

    base.py     the interface and the shared pieces (squared error, item scorer)
    pointer.py  argmax, query, bottleneck: one choice of N items (synthetic)
    vae.py      a categorical VAE on handwritten digits (Jang, Gu & Poole 2017)
    select.py   L2X feature selection: point at k of 10 features (Chen et al. 2018)

``TASKS`` maps a task's name to its class; :func:`make_task` builds one. Imports run one way:
the family modules import ``base``, this file imports the families.
"""
from __future__ import annotations

import numpy as np

from ..gradcheck import check_task_half
from .base import PointerTask, Target, sq_error, sq_error_backward
from .pointer import ArgmaxTask, BottleneckTask, QueryTask
from .select import SELECT_DATASETS, SelectTask
from .sort import SortTask
from .vae import VAETask

__all__ = ["Target", "PointerTask", "ArgmaxTask", "QueryTask", "BottleneckTask", "VAETask", "SortTask", "SelectTask",
           "SELECT_DATASETS", "TASKS", "POINTER_TASKS", "make_task", "sq_error", "sq_error_backward", "GRADCHECK_CASES"]

TASKS = {t.name: t for t in (ArgmaxTask, QueryTask, BottleneckTask, VAETask, SortTask, SelectTask)}
POINTER_TASKS = ("argmax", "query", "bottleneck")


def make_task(name, **kw) -> PointerTask:
    """The task ``name`` (a key of ``TASKS``) built with ``kw``."""
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
