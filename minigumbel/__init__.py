"""minigumbel: the relaxed categorical (Gumbel-Softmax / Concrete) sampler from scratch.

Jang, Gu & Poole (2017); Maddison, Mnih & Teh (2017). NumPy first, CuPy on a GPU, every
gradient derived by hand and checked against autograd and finite differences.

The names below are loaded on first use (PEP 562), so ``import minigumbel`` — and with it
``minigumbel --help`` — does not pay for importing NumPy until something needs it.
"""
__version__ = "0.1.0"

_LAZY = {
    **dict.fromkeys(("Backend", "BackendUnavailable", "get_backend", "namespace", "to_numpy"), "backend"),
    **dict.fromkeys(("concrete_log_prob", "concrete_log_prob_vjp", "gumbel_max", "gumbel_softmax",
                     "gumbel_softmax_vjp", "log_softmax", "log_softmax_vjp", "one_hot", "sample_gumbel", "sum_to_shape",
                     "softmax", "softmax_vjp"), "functional"),
    **dict.fromkeys(("RelaxedOneHotCategorical", "PlackettLuce"), "distributions"),
    **dict.fromkeys(("gumbel_topk", "k_hot", "plackett_luce_log_prob", "plackett_luce_log_prob_vjp",
                     "relaxed_topk", "relaxed_topk_vjp"), "subsets"),
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'minigumbel' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
