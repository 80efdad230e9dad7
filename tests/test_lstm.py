"""The LSTM: shapes, the forward pass, exact gradients, truncation, batching, training.

Equation numbers (L1)-(L16) are those of the LSTM derivation page, docs/lstm.md.
"""

from __future__ import annotations

import numpy as np
import pytest
from numerics import central, complex_step, relative_error, sigmoid

from rnn import CELLS, LSTM, Vocabulary

V, H = 5, 4

CENTRAL_TOL = {"rtol": 1e-6, "atol": 1e-9}
"""Central differences with h = 1e-5 err by about h² (1e-10 relative) plus a rounding of about
ε·L/h ≈ 1e-10 absolute, so an entry near 1e-6 cannot meet a relative 1e-6 alone: the atol
covers the rounding. The complex-step test below checks every entry to a relative 1e-12."""


def _model(seed: int = 0, scale: float = 0.5) -> LSTM:
    """A model whose biases are random too, so that no gate sits at its initial value."""
    rng = np.random.default_rng(seed)
    shapes = LSTM.param_shapes(V, H)
    return LSTM(**{name: rng.standard_normal(s) * scale for name, s in shapes.items()})


def _state(rng: np.random.Generator, B: int | None) -> tuple[np.ndarray, np.ndarray]:
    shape = (H,) if B is None else (B, H)
    return rng.uniform(-1, 1, shape), rng.standard_normal(shape)


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


def test_constructor_round_trips_its_parameters_by_keyword() -> None:
    m = _model()
    again = LSTM(**m.params)
    for name in m.param_names:
        np.testing.assert_array_equal(again.params[name], m.params[name])
        assert again.params[name] is not m.params[name]


def test_constructor_rejects_mismatched_shapes() -> None:
    p = _model().params
    with pytest.raises(ValueError, match=r"W_f must have shape \(4, 4\)"):
        LSTM(**{**p, "W_f": p["W_f"][:, :3]})
    with pytest.raises(ValueError, match=r"U_q must have shape \(4, 5\)"):
        LSTM(**{**p, "U_q": p["U_q"].T})


def test_constructor_rejects_non_finite_values_and_mixed_dtypes() -> None:
    p = _model().params
    bad = p["b_g"].copy()
    bad[1] = np.inf
    with pytest.raises(ValueError, match="parameter b_g must be finite"):
        LSTM(**{**p, "b_g": bad})
    with pytest.raises(TypeError, match="all parameters must share one dtype"):
        LSTM(**{**p, "W_i": p["W_i"].astype(np.float32)})


def test_constructor_takes_keywords_only() -> None:
    with pytest.raises(TypeError):
        LSTM(*_model().params.values())  # type: ignore[misc]


# ------------------------------------------------------------------------ forward pass


def test_two_steps_match_a_hand_written_lstm() -> None:
    """Equations (L1)-(L6) and (3)-(5), one step at a time with one-hot vectors."""
    m = _model(seed=2)
    h, s = _state(np.random.default_rng(2), None)
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
    loss, _, (h_last, s_last) = m.loss_and_gradients(x, y, _state(np.random.default_rng(2), None))
    np.testing.assert_allclose(loss, expected, rtol=1e-14)
    np.testing.assert_allclose(h_last, h, rtol=1e-14)
    np.testing.assert_allclose(s_last, s, rtol=1e-14)


def test_open_forget_gate_and_closed_input_gate_keep_the_cell_state() -> None:
    """(L5) with f = 1 and i = 0 (biases ±1e4 saturate the sigmoids exactly): s(t) = s(0)."""
    p = _model(seed=3).params
    m = LSTM(**{**p, "b_f": np.full(H, 1e4), "b_i": np.full(H, -1e4)})
    h0, s0 = _state(np.random.default_rng(3), None)
    _, _, (_, s_last) = m.loss_and_gradients([0, 1, 2, 3, 4], [1, 2, 3, 4, 0], (h0, s0))
    np.testing.assert_array_equal(s_last, s0)


def test_saturated_gates_give_finite_loss_and_gradients_without_warnings() -> None:
    """Pre-activations of ±1e4: σ and tanh saturate, nothing overflows (warnings are errors)."""
    m = _model(seed=4, scale=3e3)
    loss, grads, _ = m.loss_and_gradients([0, 1, 2, 3], [1, 2, 3, 4])
    assert np.isfinite(loss)
    assert all(np.all(np.isfinite(g)) for g in grads.values())


def test_float32_model_runs_in_float32() -> None:
    m = LSTM.random(V, H, np.random.default_rng(5), dtype=np.float32)
    cache = m.forward([0, 1, 2])
    assert cache.hs.dtype == np.float32
    _, grads, (h, s) = m.loss_and_gradients([0, 1, 2], [1, 2, 3])
    assert all(g.dtype == np.float32 for g in grads.values())
    assert h.dtype == s.dtype == np.float32


# ---------------------------------------------------------------------------- gradients


@pytest.mark.parametrize(("T", "B"), [(1, 1), (4, 1), (5, 3)])
def test_every_gradient_matches_central_differences(T: int, B: int) -> None:
    """Equations (L7)-(L16) and (6)-(8): each parameter, h0 and s0, within CENTRAL_TOL."""
    rng = np.random.default_rng(10 * T + B)
    m = _model(seed=T + B)
    x, y = rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))
    h0, s0 = _state(rng, B)
    _, grads, _ = m.loss_and_gradients(x, y, (h0, s0))
    for name, p in m.params.items():

        def f(v: np.ndarray, name: str = name) -> float:
            return m.with_params({**m.params, name: v}).loss(x, y, (h0, s0))  # type: ignore[no-any-return]

        np.testing.assert_allclose(grads[name], central(f, p), **CENTRAL_TOL, err_msg=name)
    _, (dh0, ds0) = m.backward(m.forward(x, (h0, s0)), y)
    np.testing.assert_allclose(dh0, central(lambda v: m.loss(x, y, (v, s0)), h0), **CENTRAL_TOL)
    np.testing.assert_allclose(ds0, central(lambda v: m.loss(x, y, (h0, v)), s0), **CENTRAL_TOL)


def test_every_gradient_matches_the_complex_step_to_rounding() -> None:
    """The forward pass is analytic, so the complex step gives each derivative to ~1e-15."""
    rng = np.random.default_rng(11)
    m = _model(seed=11)
    x, y = rng.integers(0, V, (6, 2)), rng.integers(0, V, (6, 2))
    h0, s0 = _state(rng, 2)
    _, grads, _ = m.loss_and_gradients(x, y, (h0, s0))
    complex_params = {k: v.astype(np.complex128) for k, v in m.params.items()}
    for name, p in m.params.items():

        def f(v: np.ndarray, name: str = name) -> complex:
            return m.with_params({**complex_params, name: v}).loss(x, y, (h0, s0))  # type: ignore[no-any-return]

        assert relative_error(grads[name], complex_step(f, p)) < 1e-12, name
    mc = m.with_params(complex_params)
    _, (dh0, ds0) = m.backward(m.forward(x, (h0, s0)), y)
    assert relative_error(dh0, complex_step(lambda v: mc.loss(x, y, (v, s0)), h0)) < 1e-12
    assert relative_error(ds0, complex_step(lambda v: mc.loss(x, y, (h0, v)), s0)) < 1e-12


def test_complex_parameters_give_a_complex_loss() -> None:
    m = _model()
    mc = m.with_params({k: v.astype(np.complex128) for k, v in m.params.items()})
    value = mc.loss([0, 1, 2], [1, 2, 3])
    assert isinstance(value, complex)
    np.testing.assert_allclose(value.real, m.loss([0, 1, 2], [1, 2, 3]), rtol=1e-15)


def _truncated_reference(m: LSTM, x: np.ndarray, y: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Σ_t ∂L(t)/∂θ through steps t−k+1 .. t only, by complex step.

    The state that enters step t−k+1 is computed with the real parameters and held fixed,
    which is what "backpropagated through at most k steps" means, equation (15).
    """
    T = len(x)
    starts = [max(0, t - k + 1) for t in range(T)]
    states = [m.forward(x[:a]).last_state if a > 0 else None for a in starts]
    states = [None if s is None else (s[0][0], s[1][0]) for s in states]
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


@pytest.mark.parametrize("k", [1, 2, 3])
def test_truncation_backpropagates_each_loss_through_k_steps(k: int) -> None:
    """Equation (15) for the LSTM, against the definition computed independently."""
    rng = np.random.default_rng(20 + k)
    m = _model(seed=20 + k)
    x, y = rng.integers(0, V, 5), rng.integers(0, V, 5)
    _, grads, _ = m.loss_and_gradients(x, y, truncation=k)
    expected = _truncated_reference(m, x, y, k)
    for name in m.param_names:
        assert relative_error(grads[name], expected[name]) < 1e-12, name


def test_truncation_at_least_t_equals_the_exact_gradient() -> None:
    rng = np.random.default_rng(6)
    m = _model(seed=6)
    x, y = rng.integers(0, V, (5, 2)), rng.integers(0, V, (5, 2))
    state = _state(rng, 2)
    exact, (dh0, ds0) = m.backward(m.forward(x, state), y)
    for k in (5, 6, 50):
        trunc, (th0, ts0) = m.backward(m.forward(x, state), y, truncation=k)
        for name in exact:
            np.testing.assert_allclose(trunc[name], exact[name], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(th0, dh0, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(ts0, ds0, rtol=1e-12, atol=1e-15)


def test_truncation_one_differs_from_the_exact_gradient_in_the_cell_only() -> None:
    rng = np.random.default_rng(7)
    m = _model(seed=7)
    x, y = rng.integers(0, V, 6), rng.integers(0, V, 6)
    _, exact, _ = m.loss_and_gradients(x, y)
    _, trunc, _ = m.loss_and_gradients(x, y, truncation=1)
    for name in ("V", "c"):
        np.testing.assert_array_equal(trunc[name], exact[name])
    for name in ("W_i", "W_f", "W_g", "W_q", "U_f", "b_f"):
        assert relative_error(trunc[name], exact[name]) > 1e-2, name


# ---------------------------------------------------------------------- batches, windows


def test_batch_equals_the_sum_of_its_members() -> None:
    rng = np.random.default_rng(8)
    m = _model(seed=8)
    x, y = rng.integers(0, V, (5, 4)), rng.integers(0, V, (5, 4))
    h0, s0 = _state(rng, 4)
    loss, grads, (h_last, s_last) = m.loss_and_gradients(x, y, (h0, s0))
    _, (dh0, ds0) = m.backward(m.forward(x, (h0, s0)), y)
    total, summed = 0.0, {k: np.zeros_like(v) for k, v in grads.items()}
    for b in range(4):
        lb, gb, (hb, sb) = m.loss_and_gradients(x[:, b], y[:, b], (h0[b], s0[b]))
        total += lb
        for k in summed:
            summed[k] += gb[k]
        np.testing.assert_allclose(h_last[b], hb, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(s_last[b], sb, rtol=1e-14, atol=1e-15)
        _, (dhb, dsb) = m.backward(m.forward(x[:, b], (h0[b], s0[b])), y[:, b])
        np.testing.assert_allclose(dh0[b], dhb, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(ds0[b], dsb, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(loss, total, rtol=1e-13)
    for k in grads:
        np.testing.assert_allclose(grads[k], summed[k], rtol=1e-12, atol=1e-14)


def test_split_sequence_with_the_state_carried_equals_the_whole() -> None:
    rng = np.random.default_rng(9)
    m = _model(seed=9)
    x, y = rng.integers(0, V, (7, 2)), rng.integers(0, V, (7, 2))
    state = _state(rng, 2)
    loss, _, (h, s) = m.loss_and_gradients(x, y, state)
    first, _, carried = m.loss_and_gradients(x[:3], y[:3], state)
    second, _, (h2, s2) = m.loss_and_gradients(x[3:], y[3:], carried)
    np.testing.assert_allclose(first + second, loss, rtol=1e-14)
    np.testing.assert_allclose(h2, h, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(s2, s, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(
        m.probabilities(x[3:], carried), m.probabilities(x, state)[3:], rtol=1e-13
    )


def test_loss_and_gradients_is_pure() -> None:
    m = _model()
    before = {k: v.copy() for k, v in m.params.items()}
    x, y = np.array([0, 1, 2, 3]), np.array([1, 2, 3, 4])
    first = m.loss_and_gradients(x, y)
    second = m.loss_and_gradients(x, y)
    assert first[0] == second[0]
    for k in before:
        np.testing.assert_array_equal(m.params[k], before[k])
        np.testing.assert_array_equal(first[1][k], second[1][k])


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


# --------------------------------------------------------------------- sampling, training


def test_sample_draws_from_the_vocabulary_reproducibly() -> None:
    vocab = Vocabulary.from_text("abcde")
    m = _model()
    first = m.sample(vocab, np.random.default_rng(0), prime="ab", length=40)
    again = m.sample(vocab, np.random.default_rng(0), prime="ab", length=40)
    assert first == again
    assert len(first) == 40
    assert set(first) <= set("abcde")
