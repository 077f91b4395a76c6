"""minigumbel: the relaxed categorical (Gumbel-Softmax / Concrete) sampler from scratch.

Jang, Gu & Poole (2017); Maddison, Mnih & Teh (2017). NumPy first, CuPy on a GPU, every
gradient derived by hand and checked against autograd and finite differences.
"""
__version__ = "0.1.0"

from .backend import Backend, BackendUnavailable, get_backend, namespace, to_numpy  # noqa: E402,F401
from .functional import (  # noqa: E402,F401
    concrete_log_prob, concrete_log_prob_vjp, gumbel_max, gumbel_softmax, gumbel_softmax_vjp,
    log_softmax, log_softmax_vjp, one_hot, sample_gumbel, softmax, softmax_vjp,
)
