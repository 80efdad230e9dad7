"""Clipping, SGD, AdaGrad, Adam and RMSprop against their formulas written out by hand."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rnn import SGD, AdaGrad, clip_elementwise, clip_global_norm
from rnn.optim import Adam, RMSprop


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


def test_adam_follows_its_equations_written_out_by_hand() -> None:
    rng = np.random.default_rng(1)
    theta = rng.standard_normal(4)
    expected, m, v = theta.copy(), np.zeros(4), np.zeros(4)
    opt = Adam(0.01, beta1=0.8, beta2=0.95, eps=1e-6)
    for t in range(1, 8):
        g = rng.standard_normal(4)
        opt.step({"p": theta}, {"p": g})
        m = 0.8 * m + 0.2 * g
        v = 0.95 * v + 0.05 * g**2
        expected = expected - 0.01 * (m / (1 - 0.8**t)) / (np.sqrt(v / (1 - 0.95**t)) + 1e-6)
    np.testing.assert_allclose(theta, expected, rtol=1e-14, atol=1e-15)
    state = opt.state_dict()
    assert sorted(state) == ["m/p", "step", "v/p"] == opt.state_keys(["p"])
    assert int(state["step"]) == 7
    np.testing.assert_allclose(state["v/p"], v, rtol=1e-14)


def test_rmsprop_follows_its_equations_written_out_by_hand() -> None:
    rng = np.random.default_rng(2)
    theta = rng.standard_normal(4)
    expected, s = theta.copy(), np.zeros(4)
    opt = RMSprop(0.01, alpha=0.9, eps=1e-6)
    for _ in range(7):
        g = rng.standard_normal(4)
        opt.step({"p": theta}, {"p": g})
        s = 0.9 * s + 0.1 * g**2
        expected = expected - 0.01 * g / (np.sqrt(s) + 1e-6)
    np.testing.assert_allclose(theta, expected, rtol=1e-14, atol=1e-15)
    assert sorted(opt.state_dict()) == ["square_avg/p"]


@pytest.mark.parametrize("make", [lambda: Adam(0.01), lambda: RMSprop(0.01), lambda: AdaGrad(0.1)])
def test_an_optimizer_restored_from_its_state_continues_bit_for_bit(make: Any) -> None:
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal(3) for _ in range(6)]
    straight, theta = make(), np.ones(3)
    for g in grads:
        straight.step({"p": theta}, {"p": g})
    first, resumed_theta = make(), np.ones(3)
    for g in grads[:3]:
        first.step({"p": resumed_theta}, {"p": g})
    second = make()
    second.load_state_dict(first.state_dict(), {"p": resumed_theta})
    for g in grads[3:]:
        second.step({"p": resumed_theta}, {"p": g})
    assert resumed_theta.tobytes() == theta.tobytes()


@pytest.mark.parametrize(
    ("state", "match"),
    [
        ({"m/p": np.zeros(3), "v/p": np.zeros(3)}, "must be empty or cover the parameters"),
        ({"step": np.array(2), "m/p": np.zeros(3), "v/p": -np.ones(3)}, "Adam v p must be ≥ 0"),
        ({"step": np.array(0), "m/p": np.zeros(3), "v/p": np.zeros(3)}, "step must be an integer"),
        ({"step": np.array(1), "m/p": np.zeros(2), "v/p": np.zeros(3)}, "state p does not fit"),
        (
            {"step": np.array(1), "m/p": np.full(3, np.nan), "v/p": np.zeros(3)},
            "Adam m p must be finite and real",
        ),
    ],
)
def test_adam_refuses_a_state_that_does_not_fit(state: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Adam(0.01).load_state_dict(state, {"p": np.zeros(3)})


def test_optimizer_states_without_params_are_checked_entry_by_entry() -> None:
    with pytest.raises(ValueError, match="Adam state needs its step count"):
        Adam(0.01).load_state_dict({"m/p": np.zeros(1), "v/p": np.zeros(1)})
    with pytest.raises(ValueError, match="RMSprop has no state entry 'm/p'"):
        RMSprop(0.01).load_state_dict({"m/p": np.zeros(1)})
    with pytest.raises(ValueError, match="RMSprop square_avg p must be ≥ 0"):
        RMSprop(0.01).load_state_dict({"square_avg/p": -np.ones(1)})


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Adam(0.01, beta1=1.0), r"beta1 must lie in \[0, 1\), got 1.0"),
        (lambda: Adam(0.01, beta2=-0.1), r"beta2 must lie in \[0, 1\), got -0.1"),
        (lambda: RMSprop(0.01, alpha=1.5), r"alpha must lie in \[0, 1\), got 1.5"),
        (lambda: Adam(0.01, eps=0.0), "eps must be finite and > 0, got 0.0"),
    ],
)
def test_optimizer_settings_out_of_range_are_refused(make: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()
    with pytest.raises(TypeError, match="beta1 must be a number, got str"):
        Adam(0.01, beta1="0.9")  # type: ignore[arg-type]
