"""The tests whose statement is the same for the LSTM and the GRU, parametrized over the two.

Each test here was once two near-identical copies, one in test_lstm.py and one in
test_gru.py; it now runs once per cell, with the same seeds, sizes and tolerances as both
copies. The bodies differ only in the form of the state, a pair (h0, s0) for the LSTM and
one array h0 for the GRU, which ``map_state`` and ``state_arrays`` of
``verification.strategies`` handle, and in a few parameter names, which the per-cell tables
below hold. The tests that are specific to one cell (hand-written forward passes, gate
behaviour, initialisation, parameter shapes, the errors for a bad initial state) stay in
test_lstm.py and test_gru.py.

Equation numbers (L·) are those of the LSTM page, docs/lstm.md; (G·) those of the GRU
page, docs/gru.md; the others those of the derivation page, docs/derivation.md.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import Any

import numpy as np
import pytest
from numerics import central, complex_step, relative_error

from rnn import GRU, LSTM, Vocabulary
from verification.strategies import map_state, state_arrays

V, H = 5, 4

GATED = [pytest.param(LSTM, id="lstm"), pytest.param(GRU, id="gru")]
"""The cells every test of this module runs for."""

Cell = type[LSTM] | type[GRU]
Model = LSTM | GRU

CENTRAL_TOL = {"rtol": 1e-6, "atol": 1e-9}
"""Central differences with h = 1e-5 err by about h² (1e-10 relative) plus a rounding of about
ε·L/h ≈ 1e-10 absolute, so an entry near 1e-6 cannot meet a relative 1e-6 alone: the atol
covers the rounding. The complex-step test below checks every entry to a relative 1e-12."""

# ---------------------------------------------------------------------- per-cell tables

BAD_SHAPES: dict[Cell, list[tuple[str, Callable[[np.ndarray], np.ndarray], str]]] = {
    LSTM: [
        ("W_f", lambda p: p[:, :3], r"W_f must have shape \(4, 4\)"),
        ("U_q", lambda p: p.T, r"U_q must have shape \(4, 5\)"),
    ],
    GRU: [
        ("W_n", lambda p: p[:3], r"W_n must have shape \(4, 4\)"),
        ("b_hn", lambda p: np.zeros(5), r"b_hn must have shape \(4,\)"),
    ],
}
"""(parameter, a wrongly shaped replacement made from it, the error's message) per cell."""

NON_FINITE: dict[Cell, tuple[str, tuple[int, ...], float]] = {
    LSTM: ("b_g", (1,), np.inf),
    GRU: ("U_z", (0, 2), np.nan),
}
"""(parameter, entry, non-finite value written into it) per cell."""

OTHER_DTYPE: dict[Cell, tuple[str, type[np.generic]]] = {
    LSTM: ("W_i", np.float32),
    GRU: ("b_hn", np.complex128),
}
"""(parameter, a dtype other than the model's) per cell."""

CHANGED_BY_TRUNCATION: dict[Cell, tuple[str, ...]] = {
    LSTM: ("W_i", "W_f", "W_g", "W_q", "U_f", "b_f"),
    GRU: ("W_r", "W_z", "W_n", "U_n", "b_z", "b_hn"),
}
"""Parameters of the cell whose gradient truncation at one step changes by more than 1%."""

# ----------------------------------------------------------------------------- helpers


def _model(cell: Cell, seed: int = 0, scale: float = 0.5) -> Model:
    """A model whose biases are random too, so that no gate sits at its initial value."""
    rng = np.random.default_rng(seed)
    shapes = cell.param_shapes(V, H)
    return cell(**{name: rng.standard_normal(s) * scale for name, s in shapes.items()})


def _state(cell: Cell, rng: np.random.Generator, B: int) -> Any:
    """h0 ~ U(-1, 1) of shape (B, H); for the LSTM also s0 ~ N(0, 1), drawn after h0."""
    h0 = rng.uniform(-1, 1, (B, H))
    return (h0, rng.standard_normal((B, H))) if cell is LSTM else h0


def _arrays(m: Model, state: Any) -> dict[str, np.ndarray]:
    """``state_arrays(state)``, after checking that the state has the form of m's states."""
    arrays = state_arrays(state)
    assert arrays.keys() == state_arrays(m.initial_state(1)).keys(), type(state)
    return arrays


def _with_array(state: Any, k: int, value: np.ndarray) -> Any:
    """The state with its k-th array, in the order of ``state_arrays``, replaced by value."""
    if isinstance(state, tuple):
        return (*state[:k], value, *state[k + 1 :])
    return value


def _assert_states_close(m: Model, actual: Any, desired: Any, **tolerance: float) -> None:
    """Each array of ``actual`` against the same array of ``desired``, both of m's form."""
    desired_arrays = _arrays(m, desired)
    for name, a in _arrays(m, actual).items():
        np.testing.assert_allclose(a, desired_arrays[name], **tolerance, err_msg=name)


# ------------------------------------------------------------------------ construction


@pytest.mark.parametrize("cell", GATED)
def test_constructor_round_trips_its_parameters_by_keyword(cell: Cell) -> None:
    m = _model(cell)
    again = cell(**m.params)
    for name in m.param_names:
        np.testing.assert_array_equal(again.params[name], m.params[name])
        assert again.params[name] is not m.params[name]


@pytest.mark.parametrize("cell", GATED)
def test_constructor_rejects_mismatched_shapes(cell: Cell) -> None:
    p = _model(cell).params
    for name, reshape, message in BAD_SHAPES[cell]:
        with pytest.raises(ValueError, match=message):
            cell(**{**p, name: reshape(p[name])})


@pytest.mark.parametrize("cell", GATED)
def test_constructor_rejects_non_finite_values_and_mixed_dtypes(cell: Cell) -> None:
    p = _model(cell).params
    name, entry, value = NON_FINITE[cell]
    bad = p[name].copy()
    bad[entry] = value
    with pytest.raises(ValueError, match=f"parameter {name} must be finite"):
        cell(**{**p, name: bad})
    name, dtype = OTHER_DTYPE[cell]
    with pytest.raises(TypeError, match="all parameters must share one dtype"):
        cell(**{**p, name: p[name].astype(dtype)})


@pytest.mark.parametrize("cell", GATED)
def test_constructor_takes_keywords_only(cell: Cell) -> None:
    with pytest.raises(TypeError):
        cell(*_model(cell).params.values())  # type: ignore[misc]


# ------------------------------------------------------------------------ forward pass


@pytest.mark.parametrize("cell", GATED)
def test_saturated_gates_give_finite_loss_and_gradients_without_warnings(cell: Cell) -> None:
    """Pre-activations of ±1e4: σ and tanh saturate, nothing overflows (warnings are errors)."""
    m = _model(cell, seed=4, scale=3e3)
    loss, grads, _ = m.loss_and_gradients([0, 1, 2, 3], [1, 2, 3, 4])
    assert np.isfinite(loss)
    assert all(np.all(np.isfinite(g)) for g in grads.values())


@pytest.mark.parametrize("cell", GATED)
def test_float32_model_runs_in_float32(cell: Cell) -> None:
    m = cell.random(V, H, np.random.default_rng(5), dtype=np.float32)
    assert m.forward([0, 1, 2]).hs.dtype == np.float32
    _, grads, last = m.loss_and_gradients([0, 1, 2], [1, 2, 3])
    assert all(g.dtype == np.float32 for g in grads.values())
    assert all(a.dtype == np.float32 for a in _arrays(m, last).values())


# ---------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("cell", GATED)
@pytest.mark.parametrize(("T", "B"), [(1, 1), (4, 1), (5, 3)])
def test_every_gradient_matches_central_differences(cell: Cell, T: int, B: int) -> None:
    """Each parameter and each array of the initial state, within CENTRAL_TOL.

    Equations (L7)-(L16) of the LSTM or (G6)-(G14) of the GRU, and (6)-(8); the state is
    h0, and s0 too for the LSTM.
    """
    rng = np.random.default_rng(10 * T + B)
    m = _model(cell, seed=T + B)
    x, y = rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))
    state = _state(cell, rng, B)
    _, grads, _ = m.loss_and_gradients(x, y, state)
    for name, p in m.params.items():

        def f(v: np.ndarray, name: str = name) -> float:
            return m.with_params({**m.params, name: v}).loss(x, y, state)  # type: ignore[no-any-return]

        np.testing.assert_allclose(grads[name], central(f, p), **CENTRAL_TOL, err_msg=name)
    dstate = _arrays(m, m.backward(m.forward(x, state), y)[1])
    for k, (name, a) in enumerate(state_arrays(state).items()):

        def g(v: np.ndarray, k: int = k) -> float:
            return m.loss(x, y, _with_array(state, k, v))  # type: ignore[no-any-return]

        np.testing.assert_allclose(dstate[name], central(g, a), **CENTRAL_TOL, err_msg=name)


@pytest.mark.parametrize("cell", GATED)
def test_every_gradient_matches_the_complex_step_to_rounding(cell: Cell) -> None:
    """The forward pass is analytic, so the complex step gives each derivative to ~1e-15."""
    rng = np.random.default_rng(11)
    m = _model(cell, seed=11)
    x, y = rng.integers(0, V, (6, 2)), rng.integers(0, V, (6, 2))
    state = _state(cell, rng, 2)
    _, grads, _ = m.loss_and_gradients(x, y, state)
    complex_params = {k: v.astype(np.complex128) for k, v in m.params.items()}
    for name, p in m.params.items():

        def f(v: np.ndarray, name: str = name) -> complex:
            return m.with_params({**complex_params, name: v}).loss(x, y, state)  # type: ignore[no-any-return]

        assert relative_error(grads[name], complex_step(f, p)) < 1e-12, name
    mc = m.with_params(complex_params)
    dstate = _arrays(m, m.backward(m.forward(x, state), y)[1])
    for k, (name, a) in enumerate(state_arrays(state).items()):

        def g(v: np.ndarray, k: int = k) -> complex:
            return mc.loss(x, y, _with_array(state, k, v))  # type: ignore[no-any-return]

        assert relative_error(dstate[name], complex_step(g, a)) < 1e-12, name


@pytest.mark.parametrize("cell", GATED)
def test_complex_parameters_give_a_complex_loss(cell: Cell) -> None:
    m = _model(cell)
    mc = m.with_params({k: v.astype(np.complex128) for k, v in m.params.items()})
    value = mc.loss([0, 1, 2], [1, 2, 3])
    assert isinstance(value, complex)
    np.testing.assert_allclose(value.real, m.loss([0, 1, 2], [1, 2, 3]), rtol=1e-15)


def _truncated_reference(m: Model, x: np.ndarray, y: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Σ_t ∂L(t)/∂θ through steps t−k+1 .. t only, by complex step.

    The state that enters step t−k+1 is computed with the real parameters and held fixed,
    which is what "backpropagated through at most k steps" means, equation (15).
    """
    T = len(x)
    starts = [max(0, t - k + 1) for t in range(T)]
    first = itemgetter(0)  # the only sequence of the batch that forward adds
    states = [map_state(first, m.forward(x[:a]).last_state) if a > 0 else None for a in starts]
    complex_params = {n: v.astype(np.complex128) for n, v in m.params.items()}

    def summed(name: str, value: np.ndarray) -> complex:
        mc = m.with_params({**complex_params, name: value})
        total = 0j
        for t in range(T):
            p = mc.probabilities(x[starts[t] : t + 1], states[t])
            total -= np.log(p[-1, y[t]])
        return total

    return {
        name: complex_step(lambda v, name=name: summed(name, v), p)  # type: ignore[misc]
        for name, p in m.params.items()
    }


@pytest.mark.parametrize("cell", GATED)
@pytest.mark.parametrize("k", [1, 2, 3])
def test_truncation_backpropagates_each_loss_through_k_steps(cell: Cell, k: int) -> None:
    """Equation (15) for each gated cell, against the definition computed independently."""
    rng = np.random.default_rng(20 + k)
    m = _model(cell, seed=20 + k)
    x, y = rng.integers(0, V, 5), rng.integers(0, V, 5)
    _, grads, _ = m.loss_and_gradients(x, y, truncation=k)
    expected = _truncated_reference(m, x, y, k)
    for name in m.param_names:
        assert relative_error(grads[name], expected[name]) < 1e-12, name


@pytest.mark.parametrize("cell", GATED)
def test_truncation_at_least_t_equals_the_exact_gradient(cell: Cell) -> None:
    rng = np.random.default_rng(6)
    m = _model(cell, seed=6)
    x, y = rng.integers(0, V, (5, 2)), rng.integers(0, V, (5, 2))
    state = _state(cell, rng, 2)
    exact, dstate = m.backward(m.forward(x, state), y)
    for k in (5, 6, 50):
        trunc, tstate = m.backward(m.forward(x, state), y, truncation=k)
        for name in exact:
            np.testing.assert_allclose(trunc[name], exact[name], rtol=1e-12, atol=1e-15)
        _assert_states_close(m, tstate, dstate, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("cell", GATED)
def test_truncation_one_differs_from_the_exact_gradient_in_the_cell_only(cell: Cell) -> None:
    rng = np.random.default_rng(7)
    m = _model(cell, seed=7)
    x, y = rng.integers(0, V, 6), rng.integers(0, V, 6)
    _, exact, _ = m.loss_and_gradients(x, y)
    _, trunc, _ = m.loss_and_gradients(x, y, truncation=1)
    for name in ("V", "c"):
        np.testing.assert_array_equal(trunc[name], exact[name])
    for name in CHANGED_BY_TRUNCATION[cell]:
        assert relative_error(trunc[name], exact[name]) > 1e-2, name


# ---------------------------------------------------------------------- batches, windows


@pytest.mark.parametrize("cell", GATED)
def test_batch_equals_the_sum_of_its_members(cell: Cell) -> None:
    rng = np.random.default_rng(8)
    m = _model(cell, seed=8)
    x, y = rng.integers(0, V, (5, 4)), rng.integers(0, V, (5, 4))
    state = _state(cell, rng, 4)
    loss, grads, last = m.loss_and_gradients(x, y, state)
    _, dstate = m.backward(m.forward(x, state), y)
    total, summed = 0.0, {k: np.zeros_like(v) for k, v in grads.items()}
    for b in range(4):
        member = map_state(itemgetter(b), state)
        lb, gb, last_b = m.loss_and_gradients(x[:, b], y[:, b], member)
        total += lb
        for k in summed:
            summed[k] += gb[k]
        _assert_states_close(m, map_state(itemgetter(b), last), last_b, rtol=1e-14, atol=1e-15)
        _, dmember = m.backward(m.forward(x[:, b], member), y[:, b])
        _assert_states_close(m, map_state(itemgetter(b), dstate), dmember, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(loss, total, rtol=1e-13)
    for k in grads:
        np.testing.assert_allclose(grads[k], summed[k], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cell", GATED)
def test_split_sequence_with_the_state_carried_equals_the_whole(cell: Cell) -> None:
    rng = np.random.default_rng(9)
    m = _model(cell, seed=9)
    x, y = rng.integers(0, V, (7, 2)), rng.integers(0, V, (7, 2))
    state = _state(cell, rng, 2)
    loss, _, last = m.loss_and_gradients(x, y, state)
    first, _, carried = m.loss_and_gradients(x[:3], y[:3], state)
    second, _, last2 = m.loss_and_gradients(x[3:], y[3:], carried)
    np.testing.assert_allclose(first + second, loss, rtol=1e-14)
    _assert_states_close(m, last2, last, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(
        m.probabilities(x[3:], carried), m.probabilities(x, state)[3:], rtol=1e-13
    )


# ----------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("cell", GATED)
def test_sample_draws_from_the_vocabulary_reproducibly(cell: Cell) -> None:
    vocab = Vocabulary.from_text("abcde")
    m = _model(cell)
    first = m.sample(vocab, np.random.default_rng(0), prime="ab", length=40)
    again = m.sample(vocab, np.random.default_rng(0), prime="ab", length=40)
    assert first == again
    assert len(first) == 40
    assert set(first) <= set("abcde")
