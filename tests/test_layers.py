"""The layers in paper form: vector-Jacobian products, truncation, dense and one-hot inputs.

Each layer's ``backward`` claims the gradient of ⟨hs, dhs⟩ + ⟨state_T, dstate_T⟩ with
respect to its inputs, its initial state and every parameter, for any upstream ``dhs`` and
``dstate_T``. These tests check that claim against the complex step and central differences
of that scalar, on Hypothesis-generated sizes (T = 1 and B = 1 included), and check the
truncated pass against a direct implementation of equation (15).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import rnn
from rnn.layers import GRULayer, Layer, LSTMLayer, RNNLayer
from verification import check_gradients

LAYERS: tuple[type[Layer[Any]], ...] = (RNNLayer, LSTMLayer, GRULayer)
STATE_NAMES = {RNNLayer: ("h0",), LSTMLayer: ("h0", "s0"), GRULayer: ("h0",)}


@dataclass(frozen=True)
class Problem:
    """A layer, its inputs and initial state, and upstream gradients, all float64."""

    layer: Layer[Any]
    x: np.ndarray
    state0: Any
    dhs: np.ndarray
    dstate_T: Any

    @property
    def dense(self) -> bool:
        return self.x.dtype.kind == "f"

    def point(self) -> dict[str, np.ndarray]:
        """Every variable of the VJP by name: parameters, dense x, and the initial state."""
        point = dict(self.layer.params)
        if self.dense:
            point["x"] = self.x
        names = STATE_NAMES[type(self.layer)]
        point.update(zip(names, _parts(self.state0), strict=True))
        return point

    def vjp_scalar(self, p: dict[str, np.ndarray]) -> Any:
        """⟨hs, dhs⟩ + ⟨state_T, dstate_T⟩ at the variables ``p``."""
        layer = type(self.layer).from_arrays(p)
        names = STATE_NAMES[type(self.layer)]
        state0 = _state(type(self.layer), [p[n] for n in names])
        hs, state_T, _ = layer.forward(p["x"] if self.dense else self.x, state0)
        value = np.sum(hs * self.dhs)
        for a, d in zip(_parts(state_T), _parts(self.dstate_T), strict=True):
            value = value + np.sum(a * d)
        return value

    def claimed(self, truncation: int | None = None) -> dict[str, np.ndarray]:
        _, _, cache = self.layer.forward(self.x, self.state0)
        grads, dx, dstate0 = self.layer.backward(self.dhs, cache, self.dstate_T, truncation)
        claimed = dict(grads)
        if self.dense:
            claimed["x"] = dx
        else:
            assert dx is None
        claimed.update(zip(STATE_NAMES[type(self.layer)], _parts(dstate0), strict=True))
        return claimed


def _check(
    scalar: Any,
    point: dict[str, np.ndarray],
    claimed: dict[str, np.ndarray],
    method: str = "complex",
) -> None:
    """check_gradients, with the complex step's floor set by the gradients' own scale.

    The complex step is exact to rounding, but the analytic gradient is a sum of terms
    rounded at ε relative to their size, which is that of the largest gradient entry: an
    entry that cancels to 1e-4 of it carries an absolute error near 1e-16 times the largest.
    Central differences keep the method's own error estimate.
    """
    largest = max(float(np.max(np.abs(g))) for g in claimed.values())
    atol = 1e-13 * largest if method == "complex" else None
    report = check_gradients(scalar, point, claimed, method=method, atol=atol)
    assert report.passed, str(report)


def _parts(state: Any) -> tuple[np.ndarray, ...]:
    return tuple(state) if isinstance(state, tuple) else (state,)


def _state(cls: type[Layer[Any]], parts: list[np.ndarray]) -> Any:
    return tuple(parts) if cls is LSTMLayer else parts[0]


def make_problem(
    cls: type[Layer[Any]], D: int, H: int, T: int, B: int, dense: bool, scale: float, seed: int
) -> Problem:
    """A layer of weights N(0, scale²), inputs, an initial state and upstream gradients."""
    rng = np.random.default_rng(seed)
    layer = cls.from_arrays(
        {n: rng.standard_normal(s) * scale for n, s in cls.param_shapes(D, H).items()}
    )
    x = rng.standard_normal((T, B, D)) if dense else rng.integers(0, D, (T, B))
    state0 = _state(cls, [rng.standard_normal((B, H)) * 0.5 for _ in STATE_NAMES[cls]])
    dstate_T = _state(cls, [rng.standard_normal((B, H)) for _ in STATE_NAMES[cls]])
    return Problem(layer, x, state0, rng.standard_normal((T, B, H)), dstate_T)


@st.composite
def problems(draw: st.DrawFn, max_steps: int = 6, dense: bool | None = None) -> Problem:
    """A random layer (any cell), sizes D, H, T, B, inputs, state and upstream gradients."""
    return make_problem(
        draw(st.sampled_from(LAYERS)),
        D=draw(st.integers(1, 4)),
        H=draw(st.integers(1, 4)),
        T=draw(st.integers(1, max_steps)),
        B=draw(st.integers(1, 3)),
        dense=draw(st.booleans()) if dense is None else dense,
        scale=draw(st.floats(0.1, 1.5)),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


# T = 1 and B = 1 for every cell, dense and one-hot
EDGES = [make_problem(cls, 2, 3, 1, 1, dense, 0.7, 1) for cls in LAYERS for dense in (True, False)]


@given(problems(), st.sampled_from(["complex", "central"]))
@example(EDGES[0], "complex")
@example(EDGES[3], "central")
def test_backward_is_the_vjp_of_the_hidden_states_and_final_state(
    problem: Problem, method: str
) -> None:
    _check(problem.vjp_scalar, problem.point(), problem.claimed(), method)


@given(problems(max_steps=1))
@example(EDGES[1])
@example(EDGES[2])
@example(EDGES[5])
def test_step_backward_is_the_vjp_of_one_step(problem: Problem) -> None:
    """One ``step_backward`` from the gradient at the new state, against the complex step."""
    layer, x_t = problem.layer, problem.x[0]
    new_state, cache = layer.step_forward(x_t, problem.state0)
    dstate = _state(type(layer), [a + 0 for a in _parts(problem.dstate_T)])
    dstate_prev, dx_t, grads = layer.step_backward(dstate, cache)

    def scalar(p: dict[str, np.ndarray]) -> Any:
        stepped = type(layer).from_arrays(p)
        state = _state(type(layer), [p[n] for n in STATE_NAMES[type(layer)]])
        after, _ = stepped.step_forward(p["x"] if problem.dense else x_t, state)
        return sum(np.sum(a * d) for a, d in zip(_parts(after), _parts(dstate), strict=True))

    claimed = dict(grads)
    claimed.update(zip(STATE_NAMES[type(layer)], _parts(dstate_prev), strict=True))
    point = problem.point()
    if problem.dense:
        point["x"], claimed["x"] = x_t, dx_t
    else:
        assert dx_t is None
    _check(scalar, point, claimed)
    np.testing.assert_array_equal(_parts(new_state)[0], cache.h)  # the cache holds h(t)


def _truncated_by_definition(problem: Problem, k: int) -> dict[str, np.ndarray]:
    """Equation (15) computed directly from the exact backward pass on short windows.

    The gradient that enters at step s reaches steps s − k + 1 .. s only: run the layer
    exactly over that window, starting from the state the full forward pass had there
    (a constant), with the upstream gradient of step s alone, and add up.
    """
    layer, T = problem.layer, problem.x.shape[0]
    _, _, cache = layer.forward(problem.x, problem.state0)
    states = [problem.state0] + [
        _state(type(layer), [getattr(cache.step(t), n) for n in _state_fields(layer)])
        for t in range(T)
    ]
    total: dict[str, np.ndarray] = {}
    for s in range(T):
        start = max(0, s - k + 1)
        dhs = np.zeros_like(problem.dhs[start : s + 1])
        dhs[-1] = problem.dhs[s]
        zero = _state(type(layer), [np.zeros_like(a) for a in _parts(problem.dstate_T)])
        dstate_T = problem.dstate_T if s == T - 1 else zero
        _, _, window = layer.forward(problem.x[start : s + 1], states[start])
        grads, dx, dstate0 = layer.backward(dhs, window, dstate_T)
        parts = dict(grads)
        if problem.dense:
            full = np.zeros_like(problem.x)
            full[start : s + 1] = dx
            parts["x"] = full
        for n, d in zip(STATE_NAMES[type(layer)], _parts(dstate0), strict=True):
            parts[n] = d if start == 0 else np.zeros_like(d)
        total = {n: total.get(n, 0) + g for n, g in parts.items()}
    return total


def _state_fields(layer: Layer[Any]) -> tuple[str, ...]:
    return ("h", "s") if isinstance(layer, LSTMLayer) else ("h",)


@given(problems(max_steps=7), st.integers(1, 8))
@example(EDGES[4], 1)
def test_truncated_backward_is_the_definition_of_eq_15(problem: Problem, k: int) -> None:
    claimed, expected = problem.claimed(truncation=k), _truncated_by_definition(problem, k)
    assert claimed.keys() == expected.keys()
    for name, value in expected.items():
        scale = max(1.0, float(np.max(np.abs(value))))
        np.testing.assert_allclose(
            claimed[name], value, rtol=1e-12, atol=1e-13 * scale, err_msg=name
        )


@given(problems(dense=False))
def test_one_hot_indices_and_their_dense_encoding_agree(problem: Problem) -> None:
    layer, D = problem.layer, problem.layer.input_size
    dense = np.eye(D)[problem.x]
    hs_i, last_i, cache_i = layer.forward(problem.x, problem.state0)
    hs_d, last_d, cache_d = layer.forward(dense, problem.state0)
    np.testing.assert_allclose(hs_i, hs_d, rtol=1e-13, atol=1e-15)
    for a, b in zip(_parts(last_i), _parts(last_d), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    g_i, dx_i, ds_i = layer.backward(problem.dhs, cache_i, problem.dstate_T)
    g_d, dx_d, ds_d = layer.backward(problem.dhs, cache_d, problem.dstate_T)
    assert dx_i is None
    assert dx_d.shape == dense.shape
    for name in layer.param_names:
        np.testing.assert_allclose(g_i[name], g_d[name], rtol=1e-12, atol=1e-14, err_msg=name)
    for a, b in zip(_parts(ds_i), _parts(ds_d), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@given(problems())
def test_a_sequence_without_batch_axis_is_a_batch_of_one(problem: Problem) -> None:
    cls = type(problem.layer)

    def first(a: np.ndarray, axis: int) -> np.ndarray:
        return a.take(0, axis=axis)

    unbatched = Problem(
        problem.layer,
        first(problem.x, 1),
        _state(cls, [first(a, 0) for a in _parts(problem.state0)]),
        first(problem.dhs, 1),
        _state(cls, [first(a, 0) for a in _parts(problem.dstate_T)]),
    ).claimed()
    batch_of_one = Problem(
        problem.layer,
        problem.x[:, :1],
        _state(cls, [a[:1] for a in _parts(problem.state0)]),
        problem.dhs[:, :1],
        _state(cls, [a[:1] for a in _parts(problem.dstate_T)]),
    ).claimed()
    for name, value in batch_of_one.items():
        expected = (
            first(value, 1) if name == "x" else first(value, 0) if name in ("h0", "s0") else value
        )
        np.testing.assert_array_equal(unbatched[name], expected, err_msg=name)


def test_the_layers_are_public_names_of_the_package() -> None:
    assert (rnn.RNNLayer, rnn.LSTMLayer, rnn.GRULayer) == LAYERS


@pytest.mark.parametrize("cls", LAYERS)
def test_step_functions_write_into_no_array_they_were_given(cls: type[Layer[Any]]) -> None:
    layer = cls.random(3, 4, np.random.default_rng(1), scale=0.8)
    rng = np.random.default_rng(2)
    x_t = rng.standard_normal((2, 3))
    state = _state(cls, [rng.standard_normal((2, 4)) for _ in STATE_NAMES[cls]])
    before = [a.copy() for a in (x_t, *_parts(state), *layer.params.values())]
    _new_state, cache = layer.step_forward(x_t, state)
    dstate = _state(cls, [rng.standard_normal((2, 4)) for _ in STATE_NAMES[cls]])
    frozen = [a.copy() for a in (*_parts(dstate), *cache)]
    layer.step_backward(dstate, cache)
    for a, b in zip((x_t, *_parts(state), *layer.params.values()), before, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip((*_parts(dstate), *cache), frozen, strict=True):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------- hard numerical regimes


@pytest.mark.parametrize("cls", LAYERS)
def test_saturated_units_get_the_complex_step_gradient(cls: type[Layer[Any]]) -> None:
    """Weights of scale 6 drive most pre-activations beyond |a| > 5, where tanh′ ≈ 1e-4."""
    rng = np.random.default_rng(5)
    D, H, T, B = 6, 8, 12, 2
    layer = cls.from_arrays(
        {n: rng.standard_normal(s) * 6.0 for n, s in cls.param_shapes(D, H).items()}
    )
    x = rng.standard_normal((T, B, D))
    a = x @ layer.params[cls.param_names[0]].T  # the input part of the first pre-activation
    assert np.mean(np.abs(a) > 5) > 0.5
    state0 = _state(cls, [rng.standard_normal((B, H)) for _ in STATE_NAMES[cls]])
    problem = Problem(
        layer,
        x,
        state0,
        rng.standard_normal((T, B, H)),
        _state(cls, [rng.standard_normal((B, H)) for _ in STATE_NAMES[cls]]),
    )
    _check(problem.vjp_scalar, problem.point(), problem.claimed())


@pytest.mark.parametrize("cls", LAYERS)
def test_a_long_sequence_gets_the_complex_step_gradient(cls: type[Layer[Any]]) -> None:
    """T = 100: most of the gradient that reaches the early steps has decayed toward zero."""
    rng = np.random.default_rng(6)
    D, H, T, B = 3, 4, 100, 1
    layer = cls.from_arrays(
        {n: rng.standard_normal(s) * 0.5 for n, s in cls.param_shapes(D, H).items()}
    )
    x = rng.integers(0, D, (T, B))
    state0 = _state(cls, [rng.standard_normal((B, H)) for _ in STATE_NAMES[cls]])
    dhs = np.zeros((T, B, H))
    dhs[-1] = rng.standard_normal((B, H))  # the gradient enters at the end only
    zero = _state(cls, [np.zeros((B, H)) for _ in STATE_NAMES[cls]])
    problem = Problem(layer, x, state0, dhs, zero)
    claimed = problem.claimed()
    h0 = claimed["h0"]
    assert np.max(np.abs(h0)) < 1e-3 * np.max(np.abs(dhs))  # it did decay
    _check(problem.vjp_scalar, problem.point(), claimed)


# ------------------------------------------------------------------------- errors


def test_a_wrong_upstream_gradient_is_refused_with_its_shape() -> None:
    layer = RNNLayer.random(3, 4, np.random.default_rng(0))
    hs, _, cache = layer.forward(np.zeros((5, 2), int))
    with pytest.raises(ValueError, match=r"dhs must have shape \(5, 2, 4\), got \(5, 4\)"):
        layer.backward(hs[:, 0], cache)
    with pytest.raises(ValueError, match=r"dstate_T must have shape \(2, 4\), got \(4,\)"):
        layer.backward(hs, cache, np.zeros(4))
    with pytest.raises(ValueError, match="truncation must be ≥ 1 or None, got 0"):
        layer.backward(hs, cache, truncation=0)


def test_dense_inputs_of_the_wrong_size_are_refused() -> None:
    layer = GRULayer.random(3, 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"x must have D = 3 features, got shape \(5, 2, 4\)"):
        layer.forward(np.zeros((5, 2, 4)))
    with pytest.raises(ValueError, match=r"x must lie in \[0, 3\), got 3"):
        layer.forward(np.array([0, 3]))
