"""The VAE's losses (minigumbel.losses): forwards against formulas written out, backwards three ways,
and negative controls showing the checker rejects a wrong rule."""
import math

import numpy as np
import pytest

from minigumbel import losses as Lo
from minigumbel.functional import softmax_vjp
from minigumbel.gradcheck import three_way


@pytest.mark.parametrize("case", Lo.GRADCHECK_CASES, ids=lambda c: c.__name__)
def test_backward_hand_vs_autograd_vs_finite_differences(case):
    r = case()
    assert r.ok, str(r)


def test_bce_with_logits_is_the_bernoulli_nll():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 5))
    x = (rng.random((3, 5)) < 0.5).astype(float)
    p = 1.0 / (1.0 + np.exp(-a))
    expect = -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=-1)
    assert np.allclose(Lo.bce_with_logits(a, x)[0], expect, rtol=1e-13)


def test_bce_with_logits_stays_finite_for_huge_logits():
    a = np.array([[800.0, -800.0, 800.0, -800.0]])
    x = np.array([[1.0, 0.0, 0.0, 1.0]])
    loss, cache = Lo.bce_with_logits(a, x)
    assert np.allclose(loss, [1600.0])           # the two wrong pixels cost |a| each, the right ones 0
    assert np.allclose(Lo.bce_with_logits_backward(np.ones(1), cache), [[0.0, 0.0, 1.0, -1.0]])


def test_kl_to_uniform_formula_and_limits():
    theta = np.array([[0.3, -1.2, 2.0], [0.0, 0.0, 0.0], [50.0, 0.0, 0.0]])
    q = np.exp(theta) / np.exp(theta).sum(-1, keepdims=True)
    expect = np.sum(q * np.log(np.maximum(q, 1e-300)), -1) + math.log(3)
    kl, _ = Lo.categorical_kl_uniform(theta)
    assert np.allclose(kl, expect, rtol=1e-12, atol=1e-15)
    assert abs(kl[1]) < 1e-15 and abs(kl[2] - math.log(3)) < 1e-12     # uniform: 0; one-hot: log K


def test_grouped_softmax_normalises_each_group():
    h = np.random.default_rng(1).normal(size=(2, 12))
    q = Lo.grouped_softmax(h, 4)                                          # (B, 3, 4)
    assert q.shape == (2, 3, 4) and np.allclose(q.sum(-1), 1.0)
    assert np.allclose(q[:, 1], np.exp(h[:, 4:8]) / np.exp(h[:, 4:8]).sum(-1, keepdims=True))
    with pytest.raises(ValueError, match="groups of k"):
        Lo.grouped_softmax(h, 5)
    with pytest.raises(ValueError, match="dq has shape"):
        Lo.grouped_softmax_vjp(np.ones((2, 12)), q)


# negative controls: plausible mistakes must be rejected by the same checker
def test_negative_control_bce_without_the_target_term():
    rng = np.random.default_rng(3)
    a, x = rng.normal(size=(4, 6)), (rng.random((4, 6)) < 0.5).astype(float)
    wrong = lambda d: d[:, None] * (1 / (1 + np.exp(-a)))                 # noqa: E731  forgot − x
    assert not three_way("bce wrong", lambda v: Lo.bce_with_logits(v, x)[0], wrong, a).ok


def test_negative_control_kl_without_the_centering_term():
    theta = np.random.default_rng(5).normal(size=(3, 4, 5))
    _, (q, logq, _) = Lo.categorical_kl_uniform(theta)
    wrong = lambda d: d[..., None] * q * logq                             # noqa: E731  forgot − Σ q log q
    assert not three_way("kl wrong", lambda t: Lo.categorical_kl_uniform(t)[0], wrong, theta).ok


def test_negative_control_softmax_over_all_groups_at_once():
    h = np.random.default_rng(4).normal(size=(3, 20))
    q = Lo.grouped_softmax(h, 5)
    flat = q.reshape(3, 20) / 4.0                                          # one softmax over all L·K
    wrong = lambda d: softmax_vjp(d.reshape(3, 20), flat)                 # noqa: E731
    assert not three_way("grouped wrong", lambda v: Lo.grouped_softmax(v, 5), wrong, h).ok
