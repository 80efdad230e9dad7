"""The LSTM's own tests: its parameters, a forward pass by hand, its gates, its state's errors.

The tests whose statement is the same for the GRU (construction, saturation, float32,
exact gradients, truncation, batching, sampling) are in test_gated_cells.py, parametrized
over both cells.
Equation numbers (L1)-(L16) are those of the LSTM derivation page, docs/lstm.md.
"""

from __future__ import annotations

import numpy as np
import pytest
from numerics import sigmoid

from rnn import CELLS, LSTM

V, H = 5, 4


def _model(seed: int = 0, scale: float = 0.5) -> LSTM:
    """A model whose biases are random too, so that no gate sits at its initial value."""
    rng = np.random.default_rng(seed)
    shapes = LSTM.param_shapes(V, H)
    return LSTM(**{name: rng.standard_normal(s) * scale for name, s in shapes.items()})


def _state(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return rng.uniform(-1, 1, H), rng.standard_normal(H)


# ------------------------------------------------------------------------ construction


def test_parameters_are_one_matrix_per_gate_with_named_shapes() -> None:
    m = LSTM.random(7, 3, np.random.default_rng(0))
    assert m.param_names == (
        *("U_i", "U_f", "U_g", "U_q"),
        *("W_i", "W_f", "W_g", "W_q"),
        *("b_i", "b_f", "b_g", "b_q"),
        "V",
        "c",
    )
    for k in "ifgq":
        assert m.params[f"U_{k}"].shape == (3, 7)
        assert m.params[f"W_{k}"].shape == (3, 3)
        assert m.params[f"b_{k}"].shape == (3,)
    assert m.V.shape == (7, 3)
    assert m.c.shape == (7,)
    assert all(p.dtype == np.float64 for p in m.params.values())
    assert CELLS["lstm"] is LSTM
    assert LSTM.cell == "lstm"


def test_random_sets_the_forget_bias_to_one_and_the_other_biases_to_zero() -> None:
    m = LSTM.random(6, 5, np.random.default_rng(1), scale=0.1, dtype=np.float32)
    np.testing.assert_array_equal(m.b_f, np.ones(5, np.float32))
    for name in ("b_i", "b_g", "b_q", "c"):
        np.testing.assert_array_equal(m.params[name], 0.0)
    assert m.dtype == np.float32
    assert 0.05 < float(np.std(m.W_i)) < 0.2


# ------------------------------------------------------------------------ forward pass


def test_two_steps_match_a_hand_written_lstm() -> None:
    """Equations (L1)-(L6) and (3)-(5), one step at a time with one-hot vectors."""
    m = _model(seed=2)
    h, s = _state(np.random.default_rng(2))
    x, y = [3, 0], [1, 4]
    expected = 0.0
    for t in range(2):
        onehot = np.eye(V)[x[t]]
        i = sigmoid(m.b_i + m.W_i @ h + m.U_i @ onehot)
        f = sigmoid(m.b_f + m.W_f @ h + m.U_f @ onehot)
        g = np.tanh(m.b_g + m.W_g @ h + m.U_g @ onehot)
        q = sigmoid(m.b_q + m.W_q @ h + m.U_q @ onehot)
        s = f * s + i * g
        h = q * np.tanh(s)
        o = m.c + m.V @ h
        expected -= o[y[t]] - np.log(np.sum(np.exp(o)))
    loss, _, (h_last, s_last) = m.loss_and_gradients(x, y, _state(np.random.default_rng(2)))
    np.testing.assert_allclose(loss, expected, rtol=1e-14)
    np.testing.assert_allclose(h_last, h, rtol=1e-14)
    np.testing.assert_allclose(s_last, s, rtol=1e-14)


def test_open_forget_gate_and_closed_input_gate_keep_the_cell_state() -> None:
    """(L5) with f = 1 and i = 0 (biases ±1e4 saturate the sigmoids exactly): s(t) = s(0)."""
    p = _model(seed=3).params
    m = LSTM(**{**p, "b_f": np.full(H, 1e4), "b_i": np.full(H, -1e4)})
    h0, s0 = _state(np.random.default_rng(3))
    _, _, (_, s_last) = m.loss_and_gradients([0, 1, 2, 3, 4], [1, 2, 3, 4, 0], (h0, s0))
    np.testing.assert_array_equal(s_last, s0)


# ------------------------------------------------------------------------ initial state


@pytest.mark.parametrize(
    ("h0", "error", "match"),
    [
        (np.zeros(H), TypeError, r"LSTM must be a pair \(h0, s0\) of arrays, got ndarray$"),
        ((np.zeros(H),), TypeError, "got tuple of length 1$"),
        ((np.zeros(H), np.zeros(H + 1)), ValueError, r"s0 must have shape \(4,\), got \(5,\)"),
        ((np.zeros((2, H)), np.zeros(H)), ValueError, r"h0 must have shape \(4,\), got \(2, 4\)"),
        ((np.zeros(H), np.full(H, np.nan)), ValueError, "s0 must be finite"),
    ],
)
def test_bad_initial_state_is_refused_with_a_clear_error(
    h0: object, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        _model().loss_and_gradients([0, 1], [1, 2], h0)
