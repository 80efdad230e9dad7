"""The GRU's own tests: its parameters, a forward pass by hand, its gates, its state's errors.

The tests whose statement is the same for the LSTM (construction, saturation, float32,
exact gradients, truncation, batching, sampling) are in test_gated_cells.py, parametrized
over both cells.
Equation numbers (G1)-(G14) are those of the GRU derivation page, docs/gru.md.
"""

from __future__ import annotations

import numpy as np
import pytest
from numerics import sigmoid

from rnn import CELLS, GRU

V, H = 5, 4


def _model(seed: int = 0, scale: float = 0.5) -> GRU:
    """A model whose biases are random too, so that no gate sits at its initial value."""
    rng = np.random.default_rng(seed)
    shapes = GRU.param_shapes(V, H)
    return GRU(**{name: rng.standard_normal(s) * scale for name, s in shapes.items()})


def _state(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(-1, 1, H)


# ------------------------------------------------------------------------ construction


def test_parameters_are_one_matrix_per_gate_with_named_shapes() -> None:
    m = GRU.random(7, 3, np.random.default_rng(0))
    assert m.param_names == (
        *("U_r", "U_z", "U_n"),
        *("W_r", "W_z", "W_n"),
        *("b_r", "b_z", "b_n", "b_hn"),
        "V",
        "c",
    )
    for k in "rzn":
        assert m.params[f"U_{k}"].shape == (3, 7)
        assert m.params[f"W_{k}"].shape == (3, 3)
        assert m.params[f"b_{k}"].shape == (3,)
    assert m.b_hn.shape == (3,)
    assert m.V.shape == (7, 3)
    assert m.c.shape == (7,)
    assert all(p.dtype == np.float64 for p in m.params.values())
    assert CELLS["gru"] is GRU
    assert GRU.cell == "gru"


def test_random_sets_every_bias_to_zero() -> None:
    m = GRU.random(6, 5, np.random.default_rng(1), scale=0.1, dtype=np.float32)
    for name in ("b_r", "b_z", "b_n", "b_hn", "c"):
        np.testing.assert_array_equal(m.params[name], 0.0)
    assert m.dtype == np.float32
    assert 0.05 < float(np.std(m.W_n)) < 0.2


# ------------------------------------------------------------------------ forward pass


def test_two_steps_match_pytorchs_gru_equations_written_by_hand() -> None:
    """(G1)-(G5) as PyTorch documents nn.GRU, with b_ir + b_hr = b_r, b_iz + b_hz = b_z."""
    m = _model(seed=2)
    h = _state(np.random.default_rng(2))
    x, y = [3, 0], [1, 4]
    expected = 0.0
    for t in range(2):
        onehot = np.eye(V)[x[t]]
        r = sigmoid(m.U_r @ onehot + m.b_r + m.W_r @ h)
        z = sigmoid(m.U_z @ onehot + m.b_z + m.W_z @ h)
        n = np.tanh(m.U_n @ onehot + m.b_n + r * (m.W_n @ h + m.b_hn))
        h = (1 - z) * n + z * h
        o = m.c + m.V @ h
        expected -= o[y[t]] - np.log(np.sum(np.exp(o)))
    loss, _, h_last = m.loss_and_gradients(x, y, _state(np.random.default_rng(2)))
    np.testing.assert_allclose(loss, expected, rtol=1e-14)
    np.testing.assert_allclose(h_last, h, rtol=1e-14)


def test_closed_update_gate_copies_the_state() -> None:
    """(G5) with z = 1 (a bias of 1e4 saturates the sigmoid exactly): h(t) = h(0)."""
    p = _model(seed=3).params
    m = GRU(**{**p, "b_z": np.full(H, 1e4)})
    h0 = _state(np.random.default_rng(3))
    _, _, h_last = m.loss_and_gradients([0, 1, 2, 3, 4], [1, 2, 3, 4, 0], h0)
    np.testing.assert_array_equal(h_last, h0)


# ------------------------------------------------------------------------ initial state


@pytest.mark.parametrize(
    ("h0", "error", "match"),
    [
        (np.zeros(H + 1), ValueError, r"h0 must have shape \(4,\), got \(5,\)"),
        (np.zeros((2, H)), ValueError, r"h0 must have shape \(4,\), got \(2, 4\)"),
        (np.full(H, np.inf), ValueError, "h0 must be finite"),
        (np.array(["a"] * H), TypeError, "h0 must be a numeric array"),
    ],
)
def test_bad_initial_state_is_refused_with_a_clear_error(
    h0: object, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        _model().loss_and_gradients([0, 1], [1, 2], h0)
