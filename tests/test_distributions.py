"""RelaxedOneHotCategorical: parameters, samplers, log_prob, validation."""
import math

import numpy as np
import pytest

from minigumbel import functional as F
from minigumbel.distributions import RelaxedOneHotCategorical


def test_logits_and_probs_give_the_same_distribution():
    probs = np.array([0.1, 0.2, 0.0, 0.7])
    a = RelaxedOneHotCategorical(probs=probs, tau=0.5)
    b = RelaxedOneHotCategorical(logits=np.log(np.array([1.0, 2.0, 1e-300, 7.0]) * 3), tau=0.5)
    np.testing.assert_allclose(a.probs, probs, atol=1e-15)
    assert a.probs[2] == 0.0 and a.logits[2] == -np.inf
    np.testing.assert_allclose(a.probs, b.probs, atol=1e-15)


def _direct_log_density(y, probs, tau):
    """log of Γ(K) τ^(K−1) (Σ π_i y_i^(−τ))^(−K) Π π_i y_i^(−τ−1), row by row, straight from the paper."""
    k = y.shape[-1]
    return np.log(math.gamma(k) * tau ** (k - 1) * np.sum(probs * y ** -tau, -1) ** -k
                  * np.prod(probs * y ** (-tau - 1), -1))


def test_rsample_sample_and_log_prob_shapes(rng):
    d = RelaxedOneHotCategorical(logits=rng.normal(size=(2, 5)), tau=np.array([[0.5], [2.0]]))
    assert d.batch_shape == (2,) and d.event_shape == (5,)
    y = d.rsample(rng, (7,))
    assert y.shape == (7, 2, 5) and np.allclose(y.sum(-1), 1)
    h = d.rsample(rng, (7,), hard=True)
    assert set(np.unique(h)) <= {0.0, 1.0}
    s = d.sample(rng, (3,))
    assert s.shape == (3, 2, 5) and np.all(s.sum(-1) == 1)
    lp = d.log_prob(y)
    assert lp.shape == (7, 2) and np.all(np.isfinite(lp))
    # per-row τ: row i uses τ_i — checked against the density written out directly
    for i, tau in ((0, 0.5), (1, 2.0)):
        np.testing.assert_allclose(lp[:, i], _direct_log_density(y[:, i], d.probs[i], tau), rtol=1e-9)


def test_sample_is_exact_categorical(rng):
    probs = np.array([0.5, 0.3, 0.2])
    d = RelaxedOneHotCategorical(probs=probs, tau=1.0)
    n = 200_000
    freq = d.sample(np.random.default_rng(0), (n,)).mean(0)
    se = np.sqrt(probs * (1 - probs) / n)
    assert np.all(np.abs(freq - probs) < 5 * se)       # 5 standard errors, fixed seed


def test_log_prob_matches_the_closed_form_density():
    # p(y) = Γ(K) τ^(K−1) (Σ π_i y_i^(−τ))^(−K) Π π_i y_i^(−τ−1), written out directly here
    probs = np.array([0.2, 0.5, 0.3])
    tau = 0.7
    y = np.array([0.1, 0.6, 0.3])
    direct = (math.gamma(3) * tau ** 2 * np.sum(probs * y ** -tau) ** -3 * np.prod(probs * y ** (-tau - 1)))
    lp = RelaxedOneHotCategorical(probs=probs, tau=tau).log_prob(y)
    assert abs(lp - math.log(direct)) < 1e-12


def test_log_prob_is_differentiable_by_autograd_through_the_constructor():
    import autograd
    import autograd.numpy as anp
    y = np.array([[0.2, 0.3, 0.5]])
    g = autograd.grad(lambda t: anp.sum(RelaxedOneHotCategorical(logits=t, tau=0.5).log_prob(y)))(np.zeros((1, 3)))
    _, dlogits = F.concrete_log_prob_vjp(np.ones(1), y, np.zeros((1, 3)), 0.5)
    np.testing.assert_allclose(g, dlogits, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kwargs,match", [
    (dict(logits=np.array([np.nan, 1.0])), "NaN"),
    (dict(logits=np.array([1.0, np.inf])), r"\+inf"),
    (dict(logits=np.array([[0.0, 1.0], [-np.inf, -np.inf]])), "-inf"),
    (dict(logits=np.array([1.0, 2.0]), tau=0.0), "tau"),
    (dict(logits=np.array([1.0, 2.0]), tau=float("nan")), "tau"),
    (dict(probs=np.array([0.5, -0.1])), "probs"),
    (dict(), "exactly one"),
    (dict(logits=np.zeros((2, 0))), "at least one category"),
])
def test_bad_arguments_are_value_errors_naming_them(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RelaxedOneHotCategorical(**kwargs)


def test_log_prob_rejects_wrong_event_size():
    with pytest.raises(ValueError, match="categories"):
        RelaxedOneHotCategorical(logits=np.zeros(3)).log_prob(np.ones(4) / 4)


def test_zero_prob_is_a_mask_with_zero_gradient_under_autograd():
    import autograd
    import autograd.numpy as anp
    y = np.array([[0.3, 0.0, 0.7]])
    g = autograd.grad(lambda p: anp.sum(RelaxedOneHotCategorical(probs=p, tau=0.5).log_prob(y)))(
        np.array([0.2, 0.0, 0.8]))
    assert np.all(np.isfinite(g)) and g[1] == 0.0


def test_log_prob_is_minus_inf_off_the_simplex():
    d = RelaxedOneHotCategorical(probs=np.array([0.2, 0.3, 0.5]), tau=0.7)
    lp = d.log_prob(np.array([[0.2, 0.3, 0.5], [0.5, 0.0, 0.7], [0.6, -0.1, 0.5]]))
    assert np.isfinite(lp[0]) and lp[1] == -np.inf and lp[2] == -np.inf
    raw = RelaxedOneHotCategorical(probs=np.array([0.2, 0.3, 0.5]), tau=0.7, validate_args=False)
    assert np.isfinite(raw.log_prob(np.array([0.5, 0.1, 0.7])))     # the formula, unconstrained
