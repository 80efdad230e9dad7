"""The fast path, rnn/fast.py, computes the reference's math: equal results, checked gradients.

Two claims, each in one place:

- ``fast.loss_and_gradients`` returns what the model's own ``loss_and_gradients`` returns
  (loss, every gradient, the last state, the errors), to 1e-12 relative, for every cell,
  exact and truncated, on generated cases with the edge cases pinned.
- ``fast.forward_layer`` computes the cell's equations, and ``fast.backward_layer`` is the
  gradient of ⟨hs, dhs⟩ + ⟨state_T, dstate_T⟩ for any upstream gradients, with respect to
  every parameter, the initial state and dense inputs; truncated, it is eq. (15). Both
  are checked against a step-by-step evaluation written here from the derivation pages,
  differentiated entry by entry with the complex step (``verification.check_gradients``).

Equation numbers: (n) the derivation page, (L·) the LSTM page, (G·) the GRU page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numerics import assert_normwise_close, sigmoid

from rnn import fast
from rnn.training import CELLS
from verification import check_gradients
from verification.strategies import (
    EDGE_CASES,
    CaseSpec,
    batch_sizes,
    case_specs,
    hidden_sizes,
    map_state,
    sequence_lengths,
    state_arrays,
    weight_scales,
)

SIZES: dict[str, Any] = {"max_vocab": 10, "max_hidden": 5, "max_length": 8, "max_batch": 3}

_half = settings(max_examples=max(1, settings().max_examples // 2))
"""The entrywise complex-step checks cost about 0.1 s an example; they run half the profile's."""


# --------------------------------------------------------------- the whole model


@pytest.mark.parametrize("cell", sorted(CELLS))
@example(spec=EDGE_CASES[0], truncation=None)  # T = 1
@example(spec=EDGE_CASES[1], truncation=2)  # one character: every gradient is exactly 0
@example(spec=EDGE_CASES[2], truncation=1)  # h0 = 0, B = 2
@example(spec=EDGE_CASES[3], truncation=None)  # B = 1 without a batch axis
@given(spec=case_specs(**SIZES), truncation=st.one_of(st.none(), st.integers(1, 9)))
def test_loss_and_gradients_equal_the_models_own(
    cell: str, spec: CaseSpec, truncation: int | None
) -> None:
    """Loss, every gradient and the last state to 1e-12 relative; neither the model nor
    the arguments change."""
    model, x, y, h0 = spec.build(CELLS[cell])
    before = {k: v.copy() for k, v in model.params.items()}
    h0_before = map_state(np.copy, h0)
    loss, grads, last = fast.loss_and_gradients(model, x, y, h0, truncation)
    ref_loss, ref_grads, ref_last = model.loss_and_gradients(x, y, h0, truncation)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-12, atol=0)
    assert list(grads) == list(ref_grads)
    # Each entry sums T·B terms in another order: where they cancel, the rounding is
    # relative to the terms, so the floor is the model's largest gradient entry, not the
    # entry's own size (a cancelled b_q once differed by 2e-12 of its own largest entry).
    scale = max(float(np.max(np.abs(g), initial=0.0)) for g in ref_grads.values())
    for name, g in grads.items():
        assert g.shape == ref_grads[name].shape
        assert g.dtype == ref_grads[name].dtype
        np.testing.assert_allclose(g, ref_grads[name], rtol=1e-12, atol=1e-12 * scale)
    for k, a in state_arrays(last).items():
        assert_normwise_close(k, a, state_arrays(ref_last)[k], rtol=1e-12)
    for k, v in model.params.items():
        np.testing.assert_array_equal(v, before[k])
    for k, a in state_arrays(h0).items():
        np.testing.assert_array_equal(a, state_arrays(h0_before)[k])


@pytest.mark.parametrize("cell", sorted(CELLS))
@example(num_layers=2, T=1, B=1, truncation=None, seed=0)
@given(
    num_layers=st.integers(2, 3),
    T=sequence_lengths(max_value=6),
    B=batch_sizes(max_value=3),
    truncation=st.one_of(st.none(), st.integers(1, 4)),
    seed=st.integers(0, 2**32 - 1),
)
def test_stacked_models_equal_the_models_own(
    cell: str, num_layers: int, T: int, B: int, truncation: int | None, seed: int
) -> None:
    """Stacked layers: each layer's dx is the upstream gradient of the layer below, and a
    truncated model truncates every layer, as the reference does."""
    rng = np.random.default_rng(seed)
    model = CELLS[cell].random(6, 4, rng, num_layers=num_layers, scale=0.6)
    x, y = rng.integers(0, 6, (T, B)), rng.integers(0, 6, (T, B))
    h0 = map_state(lambda a: rng.standard_normal(a.shape), model.initial_state(B))
    loss, grads, last = fast.loss_and_gradients(model, x, y, h0, truncation)
    ref_loss, ref_grads, ref_last = model.loss_and_gradients(x, y, h0, truncation)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-12, atol=0)
    assert list(grads) == list(ref_grads) == list(model.param_names)
    scale = max(float(np.max(np.abs(g), initial=0.0)) for g in ref_grads.values())
    for name, g in grads.items():  # the floor as in the single-layer test above
        np.testing.assert_allclose(g, ref_grads[name], rtol=1e-12, atol=1e-12 * scale)
    for k, a in state_arrays(last).items():
        assert_normwise_close(k, a, state_arrays(ref_last)[k], rtol=1e-12)


@pytest.mark.parametrize("cell", sorted(CELLS))
@example(num_layers=1, T=1, batched=False, seed=0)
@example(num_layers=2, T=1, batched=True, seed=0)
@given(
    num_layers=st.integers(1, 3),
    T=sequence_lengths(max_value=6),
    batched=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_loss_equals_the_models_own_and_its_last_state(
    cell: str, num_layers: int, T: int, batched: bool, seed: int
) -> None:
    """``fast.loss`` is the forward half: the model's ``loss`` to 1e-12 relative, and the
    state after the last step that the model's forward pass ends in, shaped like h0."""
    rng = np.random.default_rng(seed)
    model = CELLS[cell].random(6, 4, rng, num_layers=num_layers, scale=0.6)
    shape = (T, 3) if batched else (T,)
    x, y = rng.integers(0, 6, shape), rng.integers(0, 6, shape)
    h0 = map_state(lambda a: rng.standard_normal(a.shape), model.initial_state(3))
    if not batched:
        h0 = map_state(lambda a: a[0], h0)
    value, last = fast.loss(model, x, y, h0)
    np.testing.assert_allclose(value, model.loss(x, y, h0), rtol=1e-12, atol=0)
    _, _, ref_last = model.loss_and_gradients(x, y, h0)
    assert set(state_arrays(last)) == set(state_arrays(ref_last))
    for k, a in state_arrays(last).items():
        assert a.shape == state_arrays(ref_last)[k].shape, k
        assert_normwise_close(k, a, state_arrays(ref_last)[k], rtol=1e-12)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_float32_parameters_give_float32_gradients_near_the_float64_ones(cell: str) -> None:
    model = CELLS[cell].random(7, 6, np.random.default_rng(5), scale=0.5, dtype=np.float32)
    model64 = model.with_params({k: v.astype(np.float64) for k, v in model.params.items()})
    rng = np.random.default_rng(6)
    x, y = rng.integers(0, 7, (9, 4)), rng.integers(0, 7, (9, 4))
    loss, grads, last = fast.loss_and_gradients(model, x, y)
    loss64, grads64, _ = fast.loss_and_gradients(model64, x, y)
    assert all(a.dtype == np.float32 for a in state_arrays(last).values())
    # float32 rounding (ε ≈ 1.2e-7) accumulated over T = 9 steps, B = 4 and H = 6 units
    np.testing.assert_allclose(loss, loss64, rtol=1e-5)
    for name, g in grads.items():
        assert g.dtype == np.float32, name
        assert_normwise_close(name, g.astype(np.float64), grads64[name], rtol=1e-4)


BAD_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("float inputs", {"inputs": np.zeros(3), "targets": np.zeros(3, int)}),
    ("index out of range", {"inputs": np.array([0, 9]), "targets": np.array([0, 1])}),
    ("targets of another shape", {"inputs": np.zeros(3, int), "targets": np.zeros(4, int)}),
    ("batched targets", {"inputs": np.zeros(3, int), "targets": np.zeros((3, 1), int)}),
    ("empty inputs", {"inputs": np.zeros(0, int), "targets": np.zeros(0, int)}),
    ("3-d inputs", {"inputs": np.zeros((2, 2, 2), int), "targets": np.zeros((2, 2, 2), int)}),
    ("truncation 0", {"truncation": 0}),
    ("truncation a float", {"truncation": 2.0}),
    ("h0 of the wrong shape", {"h0": np.zeros(3)}),
    ("h0 not finite", {"h0": np.full(4, np.nan)}),
]


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize(("case", "kwargs"), BAD_CALLS, ids=[c for c, _ in BAD_CALLS])
def test_bad_arguments_raise_the_models_error(
    cell: str, case: str, kwargs: dict[str, Any]
) -> None:
    model = CELLS[cell].random(5, 4, np.random.default_rng(0))
    call = {"inputs": np.array([0, 1, 2]), "targets": np.array([1, 2, 3]), **kwargs}
    if cell == "lstm" and "h0" in call:
        call["h0"] = (call["h0"], np.zeros(4))
    with pytest.raises((TypeError, ValueError)) as expected:
        model.loss_and_gradients(**call)
    with pytest.raises(expected.type, match=f"^{re.escape(str(expected.value))}$"):
        fast.loss_and_gradients(model, **call)
    if "truncation" not in call:  # fast.loss takes no truncation
        with pytest.raises(expected.type, match=f"^{re.escape(str(expected.value))}$"):
            fast.loss(model, **call)


# ----------------------------------------------------------------- one layer


def _step_by_step(
    cell: str, p: dict[str, Any], x: np.ndarray, state0: Any, start: int = 0, stop: int = -1
) -> tuple[list[Any], Any]:
    """The cell's equations one step at a time from ``state0``, for steps start .. stop − 1.

    x is indices (T, B), fed as columns of U, or dense (T, B, D). Written from the pages,
    with the sigmoid as 1 / (1 + e^−a): analytic, so complex parameters give the complex step.
    Returns the hidden states of the steps and the state after the last one.
    """
    stop = len(x) if stop < 0 else stop

    def inp(U: np.ndarray, t: int) -> np.ndarray:
        return U[:, x[t]].T if x.dtype.kind in "iu" else x[t] @ U.T  # U x(t), (B, H)

    hs, state = [], state0
    for t in range(start, stop):
        if cell == "rnn":
            state = np.tanh(p["b"] + state @ p["W"].T + inp(p["U"], t))  # eqs. (1), (2)
            h = state
        elif cell == "lstm":
            h_prev, s_prev = state
            a = {k: p[f"b_{k}"] + h_prev @ p[f"W_{k}"].T + inp(p[f"U_{k}"], t) for k in "ifgq"}
            i, f, q = sigmoid(a["i"]), sigmoid(a["f"]), sigmoid(a["q"])  # (L1), (L2), (L4)
            s = f * s_prev + i * np.tanh(a["g"])  # eqs. (L3), (L5)
            h = q * np.tanh(s)  # eq. (L6)
            state = (h, s)
        else:
            r = sigmoid(p["b_r"] + state @ p["W_r"].T + inp(p["U_r"], t))  # eq. (G1)
            z = sigmoid(p["b_z"] + state @ p["W_z"].T + inp(p["U_z"], t))  # eq. (G2)
            m = p["b_hn"] + state @ p["W_n"].T  # eq. (G3)
            n = np.tanh(p["b_n"] + inp(p["U_n"], t) + r * m)  # eq. (G4)
            h = state = (1 - z) * n + z * state  # eq. (G5)
        hs.append(h)
    return hs, state


def _paired(
    cell: str,
    p: dict[str, np.ndarray],
    x: np.ndarray,
    state0: Any,
    dhs: np.ndarray,
    dstate_T: Any,
    truncation: int | None,
) -> Callable[[dict[str, np.ndarray]], Any]:
    """⟨hs, dhs⟩ + ⟨state_T, dstate_T⟩ as a function of the parameters, the initial state
    and dense inputs, evaluated step by step. Truncated, eq. (15), the term of step t (the
    final state's counts as step T's) sees them only through its last ``truncation`` steps:
    the state those start from is the one computed at ``p``, held fixed."""
    T = len(x)
    fixed = [state0]  # the states at p, s(0) .. s(T)
    for t in range(T):
        fixed.append(_step_by_step(cell, p, x, fixed[-1], t, t + 1)[1])

    def value(v: dict[str, np.ndarray]) -> Any:
        params = {n: v[n] for n in fast.PARAM_NAMES[cell]}
        xs = v.get("x", x)
        s0 = (v["h0[0]"], v["h0[1]"]) if cell == "lstm" else v["h0"]
        if truncation is None:
            hs, last = _step_by_step(cell, params, xs, s0)
            return sum((h * d).sum() for h, d in zip(hs, dhs, strict=True)) + _dot(last, dstate_T)
        total: Any = 0.0
        for t in range(T):
            start = max(0, t + 1 - truncation)
            hs, last = _step_by_step(
                cell, params, xs, s0 if start == 0 else fixed[start], start, t + 1
            )
            total += (hs[-1] * dhs[t]).sum()
        return total + _dot(last, dstate_T)

    return value


def _dot(state: Any, dstate: Any) -> Any:
    if isinstance(state, tuple):
        return sum((a * b).sum() for a, b in zip(state, dstate, strict=True))
    return (state * dstate).sum()


class LayerSpec(NamedTuple):
    """A generated layer problem, independent of the cell: sizes, input kind, scale, seed."""

    D: int
    H: int
    T: int
    B: int
    dense: bool
    scale: float
    seed: int
    truncation: int | None


@st.composite
def layer_specs(draw: st.DrawFn) -> LayerSpec:
    T = draw(sequence_lengths(1, 6))
    return LayerSpec(
        D=draw(st.integers(1, 5)),
        H=draw(hidden_sizes(1, 4)),
        T=T,
        B=draw(batch_sizes(1, 3)),
        dense=draw(st.booleans()),
        scale=draw(weight_scales(0.1, 1.5)),
        seed=draw(st.integers(0, 2**32 - 1)),
        truncation=draw(st.one_of(st.none(), st.integers(1, T + 1))),
    )


def _build(
    cell: str, spec: LayerSpec
) -> tuple[dict[str, np.ndarray], np.ndarray, Any, np.ndarray, Any]:
    """Parameters, inputs, initial state, dhs and dstate_T of a spec, all N(0, ·) draws."""
    D, H, T, B = spec.D, spec.H, spec.T, spec.B
    rng = np.random.default_rng(spec.seed)
    shapes = {"U": (H, D), "W": (H, H), "b": (H,)}
    p = {n: rng.standard_normal(shapes[n[0]]) * spec.scale for n in fast.PARAM_NAMES[cell]}
    x = rng.standard_normal((T, B, D)) if spec.dense else rng.integers(0, D, (T, B))
    parts = 2 if cell == "lstm" else 1
    state0 = tuple(rng.standard_normal((B, H)) * 0.5 for _ in range(parts))
    dstate_T = tuple(rng.standard_normal((B, H)) for _ in range(parts))
    dhs = rng.standard_normal((T, B, H))
    if parts == 1:
        return p, x, state0[0], dhs, dstate_T[0]
    return p, x, state0, dhs, dstate_T


LAYER_EDGE_CASES = [
    LayerSpec(3, 2, 1, 3, False, 0.8, 1, None),  # T = 1, one-hot
    LayerSpec(3, 2, 1, 3, True, 0.8, 2, 1),  # T = 1, dense, truncated
    LayerSpec(3, 2, 4, 1, False, 0.8, 3, 2),  # B = 1, one-hot, truncated
    LayerSpec(3, 2, 4, 1, True, 0.8, 4, None),  # B = 1, dense
]


def _pinned_layers(test: Any) -> Any:
    for spec in LAYER_EDGE_CASES:
        test = example(spec=spec)(test)
    return test


@pytest.mark.parametrize("cell", sorted(fast.CELLS))
@_half
@_pinned_layers
@given(spec=layer_specs())
def test_backward_layer_is_the_complex_step_gradient_of_the_paired_outputs(
    cell: str, spec: LayerSpec
) -> None:
    """For any dhs and dstate_T: every parameter, the initial state and dense x, to the
    complex step's 1e-12; truncated, the same of eq. (15)'s definition. Neither pass
    changes its arguments, the cache included."""
    p, x, state0, dhs, dstate_T = _build(cell, spec)
    hs, state_T, cache = fast.forward_layer(cell, p, x, state0)
    given = [*p.values(), x, *state_arrays(state0).values(), dhs, *vars(cache).values()]
    copies = [np.copy(a) for a in given]
    ref_hs, ref_state = _step_by_step(cell, p, x, state0)
    assert_normwise_close("hs", hs, np.stack(ref_hs), rtol=1e-12)
    for k, a in state_arrays(state_T).items():
        assert_normwise_close(k, a, state_arrays(ref_state)[k], rtol=1e-12)

    def grads() -> dict[str, np.ndarray]:
        g, dx, dstate0 = fast.backward_layer(cell, p, dhs, cache, dstate_T, spec.truncation)
        assert (dx is None) == (not spec.dense)
        return {**g, **state_arrays(dstate0), **({"x": dx} if dx is not None else {})}

    point = {**p, **state_arrays(state0), **({"x": x} if spec.dense else {})}
    value = _paired(cell, p, x, state0, dhs, dstate_T, spec.truncation)
    check_gradients(value, point, grads, method="complex").assert_passed()
    for before, now in zip(copies, given, strict=True):
        np.testing.assert_array_equal(now, before)


@pytest.mark.parametrize("cell", sorted(fast.CELLS))
@pytest.mark.parametrize("truncation", [None, 2])
def test_dense_one_hot_inputs_give_what_their_indices_give(
    cell: str, truncation: int | None
) -> None:
    """The gather and the sparse sums of one-hot inputs are the dense products, to 1e-12."""
    p, x, state0, dhs, dstate_T = _build(cell, LayerSpec(4, 3, 5, 2, False, 0.8, 7, truncation))
    dense = np.eye(4)[x]
    hs, _, cache = fast.forward_layer(cell, p, x, state0)
    hs_dense, _, cache_dense = fast.forward_layer(cell, p, dense, state0)
    assert_normwise_close("hs", hs, hs_dense, rtol=1e-12)
    g, dx, _ = fast.backward_layer(cell, p, dhs, cache, dstate_T, truncation)
    g_dense, dx_dense, _ = fast.backward_layer(cell, p, dhs, cache_dense, dstate_T, truncation)
    assert dx is None
    assert dx_dense is not None
    assert dx_dense.shape == dense.shape
    for name in g:
        assert_normwise_close(name, g[name], g_dense[name], rtol=1e-12)


BAD_LAYER_CALLS: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    (
        "unknown cell",
        {"cell": "lru"},
        ValueError,
        r"cell must be one of \['rnn', 'lstm', 'gru'\], got 'lru'",
    ),
    ("missing parameter", {"p": {}}, ValueError, r"must include"),
    ("misshapen parameter", {"W": np.zeros((2, 3))}, ValueError, r"W must have shape \(3, 3\)"),
    ("1-d index inputs", {"x": np.zeros(4, int)}, ValueError, r"must have shape \(T, B\)"),
    (
        "index out of range",
        {"x": np.full((2, 2), 4)},
        ValueError,
        r"x must lie in \[0, 4\), got 4",
    ),
    ("dense inputs of another size", {"x": np.zeros((2, 2, 3))}, ValueError, r"\(T, B, 4\)"),
    ("string inputs", {"x": np.array([["a"]])}, TypeError, r"integer or floating-point"),
    (
        "state of another batch",
        {"state0": np.zeros((3, 3))},
        ValueError,
        r"state0 must have shape \(2, 3\)",
    ),
]


@pytest.mark.parametrize(
    ("case", "change", "error", "message"), BAD_LAYER_CALLS, ids=[c[0] for c in BAD_LAYER_CALLS]
)
def test_forward_layer_names_the_bad_argument(
    case: str, change: dict[str, Any], error: type[Exception], message: str
) -> None:
    p = {"U": np.zeros((3, 4)), "W": np.zeros((3, 3)), "b": np.zeros(3)}
    call: dict[str, Any] = {
        "cell": "rnn",
        "p": p,
        "x": np.zeros((2, 2), int),
        "state0": np.zeros((2, 3)),
    }
    if "W" in change:
        call["p"] = {**p, "W": change["W"]}
    else:
        call.update(change)
    with pytest.raises(error, match=message):
        fast.forward_layer(**call)


def test_the_lstm_state_is_a_pair_in_both_directions() -> None:
    p, x, state0, dhs, dstate_T = _build("lstm", LayerSpec(4, 3, 2, 2, False, 0.5, 0, None))
    with pytest.raises(TypeError, match=r"state0 of an LSTM must be a pair \(h0, s0\)"):
        fast.forward_layer("lstm", p, x, state0[0])
    _, _, cache = fast.forward_layer("lstm", p, x, state0)
    with pytest.raises(ValueError, match=r"dstate_T of an LSTM must be a pair"):
        fast.backward_layer("lstm", p, dhs, cache, (dstate_T[0],))


def test_backward_layer_names_a_mismatched_cache_or_gradient() -> None:
    p, x, state0, dhs, dstate_T = _build("gru", LayerSpec(4, 3, 2, 2, False, 0.5, 0, None))
    _, _, cache = fast.forward_layer("gru", p, x, state0)
    with pytest.raises(
        ValueError, match=r"cache must be the RNNCache of a rnn forward pass, got GRUCache"
    ):
        fast.backward_layer("rnn", p, dhs, cache)
    with pytest.raises(ValueError, match=r"cell must be one of"):
        fast.backward_layer("lru", p, dhs, cache)
    with pytest.raises(ValueError, match=r"dhs must have shape \(2, 2, 3\), got \(2, 3\)"):
        fast.backward_layer("gru", p, dhs[0], cache)
    with pytest.raises(ValueError, match=r"dstate_T must have shape \(2, 3\), got \(3,\)"):
        fast.backward_layer("gru", p, dhs, cache, dstate_T[0])


@pytest.mark.parametrize("cell", sorted(fast.CELLS))
def test_no_final_state_gradient_means_a_zero_one(cell: str) -> None:
    p, x, state0, dhs, dstate_T = _build(cell, LayerSpec(4, 3, 3, 2, False, 0.5, 9, None))
    _, _, cache = fast.forward_layer(cell, p, x, state0)
    zero = map_state(np.zeros_like, dstate_T)
    g, _, d0 = fast.backward_layer(cell, p, dhs, cache)
    g_zero, _, d0_zero = fast.backward_layer(cell, p, dhs, cache, zero)
    for name in g:
        np.testing.assert_array_equal(g[name], g_zero[name])
    for k, a in state_arrays(d0).items():
        np.testing.assert_array_equal(a, state_arrays(d0_zero)[k])
