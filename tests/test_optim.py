"""Clipping, SGD and AdaGrad against their formulas written out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from rnn import SGD, AdaGrad, clip_elementwise, clip_global_norm


def test_adagrad_follows_the_seeds_rule_over_several_steps() -> None:
    rng = np.random.default_rng(0)
    theta = rng.standard_normal((3, 4))
    expected, mem = theta.copy(), np.zeros_like(theta)
    opt = AdaGrad(0.1)
    for _ in range(5):
        g = rng.standard_normal((3, 4)) * 2
        opt.step({"W": theta}, {"W": g})
        clipped = np.minimum(np.maximum(g, -1.0), 1.0)
        mem = mem + clipped**2
        expected = expected - 0.1 * clipped / np.sqrt(mem + 1e-12)
    np.testing.assert_allclose(theta, expected, rtol=1e-15, atol=0)
    np.testing.assert_allclose(opt.state_dict()["W"], mem, rtol=1e-15)


def test_adagrad_without_clipping_uses_the_raw_gradient() -> None:
    theta = np.array([0.0])
    AdaGrad(1.0, clip=None).step({"p": theta}, {"p": np.array([4.0])})
    np.testing.assert_allclose(theta, [-4.0 / np.sqrt(16.0 + 1e-12)], rtol=1e-15)


def test_sgd_is_plain_gradient_descent() -> None:
    theta = np.array([1.0, -1.0])
    SGD(0.25).step({"p": theta}, {"p": np.array([2.0, 8.0])})
    np.testing.assert_array_equal(theta, [0.5, -3.0])


def test_global_norm_clipping_keeps_the_direction() -> None:
    g = {"a": np.array([6.0, 8.0]), "b": np.array([0.0])}
    out = clip_global_norm(g, 5.0)
    np.testing.assert_allclose(out["a"], [3.0, 4.0], rtol=1e-15)
    small = clip_global_norm(g, 100.0)
    np.testing.assert_array_equal(small["a"], g["a"])
    zero = clip_global_norm({"a": np.zeros(2)}, 1.0)
    np.testing.assert_array_equal(zero["a"], [0.0, 0.0])


def test_optimizer_applies_elementwise_then_norm_clipping() -> None:
    theta = np.zeros(2)
    SGD(1.0, clip=1.0, clip_norm=1.0).step({"p": theta}, {"p": np.array([5.0, 5.0])})
    np.testing.assert_allclose(theta, [-(0.5**0.5), -(0.5**0.5)], rtol=1e-15)


def test_clip_elementwise_does_not_modify_its_input() -> None:
    g = {"p": np.array([-2.0, 2.0])}
    assert clip_elementwise(g, 1.0)["p"].tolist() == [-1.0, 1.0]
    assert g["p"].tolist() == [-2.0, 2.0]


@pytest.mark.parametrize("lr", [0.0, -0.1, float("nan"), float("inf")])
def test_bad_learning_rates_are_refused(lr: float) -> None:
    with pytest.raises(ValueError, match=f"learning_rate must be finite and > 0, got {lr}"):
        AdaGrad(lr)


def test_non_numeric_settings_are_refused() -> None:
    with pytest.raises(TypeError, match="learning_rate must be a number, got str"):
        SGD("0.1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="clip must be finite and > 0, got -1"):
        AdaGrad(0.1, clip=-1)
    with pytest.raises(ValueError, match="clip_norm must be finite and > 0, got 0"):
        AdaGrad(0.1, clip_norm=0)


def test_step_refuses_mismatched_gradients() -> None:
    opt = SGD(0.1)
    with pytest.raises(ValueError, match="same keys"):
        opt.step({"a": np.zeros(2)}, {"b": np.zeros(2)})
    with pytest.raises(ValueError, match=r"gradient a must have shape \(2,\), got \(3,\)"):
        opt.step({"a": np.zeros(2)}, {"a": np.zeros(3)})


def test_state_dict_round_trip() -> None:
    opt = AdaGrad(0.1)
    opt.step({"a": np.zeros(2)}, {"a": np.array([0.5, -0.25])})
    other = AdaGrad(0.1)
    other.load_state_dict(opt.state_dict())
    np.testing.assert_array_equal(other.memory["a"], [0.25, 0.0625])
    with pytest.raises(ValueError, match="finite, real and ≥ 0"):
        other.load_state_dict({"a": np.array([-1.0])})
    with pytest.raises(ValueError, match="SGD has no state"):
        SGD(0.1).load_state_dict({"a": np.zeros(1)})
    assert SGD(0.1).state_dict() == {}
