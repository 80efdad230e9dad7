"""The GRU: shapes, the forward pass, exact gradients, truncation, batching, training.

Equation numbers (G1)-(G14) are those of the GRU derivation page, docs/gru.md.
"""

from __future__ import annotations

import numpy as np
import pytest
from numerics import central, complex_step, relative_error, sigmoid

from rnn import CELLS, GRU, Vocabulary

V, H = 5, 4

CENTRAL_TOL = {"rtol": 1e-6, "atol": 1e-9}
"""Central differences with h = 1e-5 err by about h² (1e-10 relative) plus a rounding of about
ε·L/h ≈ 1e-10 absolute, so an entry near 1e-6 cannot meet a relative 1e-6 alone: the atol
covers the rounding. The complex-step test below checks every entry to a relative 1e-12."""


def _model(seed: int = 0, scale: float = 0.5) -> GRU:
    """A model whose biases are random too, so that no gate sits at its initial value."""
    rng = np.random.default_rng(seed)
    shapes = GRU.param_shapes(V, H)
    return GRU(**{name: rng.standard_normal(s) * scale for name, s in shapes.items()})


def _state(rng: np.random.Generator, B: int | None) -> np.ndarray:
    return rng.uniform(-1, 1, (H,) if B is None else (B, H))


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


def test_constructor_round_trips_its_parameters_by_keyword() -> None:
    m = _model()
    again = GRU(**m.params)
    for name in m.param_names:
        np.testing.assert_array_equal(again.params[name], m.params[name])
        assert again.params[name] is not m.params[name]


def test_constructor_rejects_mismatched_shapes() -> None:
    p = _model().params
    with pytest.raises(ValueError, match=r"W_n must have shape \(4, 4\)"):
        GRU(**{**p, "W_n": p["W_n"][:3]})
    with pytest.raises(ValueError, match=r"b_hn must have shape \(4,\)"):
        GRU(**{**p, "b_hn": np.zeros(5)})


def test_constructor_rejects_non_finite_values_and_mixed_dtypes() -> None:
    p = _model().params
    bad = p["U_z"].copy()
    bad[0, 2] = np.nan
    with pytest.raises(ValueError, match="parameter U_z must be finite"):
        GRU(**{**p, "U_z": bad})
    with pytest.raises(TypeError, match="all parameters must share one dtype"):
        GRU(**{**p, "b_hn": p["b_hn"].astype(np.complex128)})


def test_constructor_takes_keywords_only() -> None:
    with pytest.raises(TypeError):
        GRU(*_model().params.values())  # type: ignore[misc]


# ------------------------------------------------------------------------ forward pass


def test_two_steps_match_pytorchs_gru_equations_written_by_hand() -> None:
    """(G1)-(G5) as PyTorch documents nn.GRU, with b_ir + b_hr = b_r, b_iz + b_hz = b_z."""
    m = _model(seed=2)
    h = _state(np.random.default_rng(2), None)
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
    loss, _, h_last = m.loss_and_gradients(x, y, _state(np.random.default_rng(2), None))
    np.testing.assert_allclose(loss, expected, rtol=1e-14)
    np.testing.assert_allclose(h_last, h, rtol=1e-14)


def test_closed_update_gate_copies_the_state() -> None:
    """(G5) with z = 1 (a bias of 1e4 saturates the sigmoid exactly): h(t) = h(0)."""
    p = _model(seed=3).params
    m = GRU(**{**p, "b_z": np.full(H, 1e4)})
    h0 = _state(np.random.default_rng(3), None)
    _, _, h_last = m.loss_and_gradients([0, 1, 2, 3, 4], [1, 2, 3, 4, 0], h0)
    np.testing.assert_array_equal(h_last, h0)


def test_saturated_gates_give_finite_loss_and_gradients_without_warnings() -> None:
    """Pre-activations of ±1e4: σ and tanh saturate, nothing overflows (warnings are errors)."""
    m = _model(seed=4, scale=3e3)
    loss, grads, _ = m.loss_and_gradients([0, 1, 2, 3], [1, 2, 3, 4])
    assert np.isfinite(loss)
    assert all(np.all(np.isfinite(g)) for g in grads.values())


def test_float32_model_runs_in_float32() -> None:
    m = GRU.random(V, H, np.random.default_rng(5), dtype=np.float32)
    assert m.forward([0, 1, 2]).hs.dtype == np.float32
    _, grads, h = m.loss_and_gradients([0, 1, 2], [1, 2, 3])
    assert all(g.dtype == np.float32 for g in grads.values())
    assert h.dtype == np.float32


# ---------------------------------------------------------------------------- gradients


@pytest.mark.parametrize(("T", "B"), [(1, 1), (4, 1), (5, 3)])
def test_every_gradient_matches_central_differences(T: int, B: int) -> None:
    """Equations (G6)-(G14) and (6)-(8): each parameter and h0, within CENTRAL_TOL."""
    rng = np.random.default_rng(10 * T + B)
    m = _model(seed=T + B)
    x, y = rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))
    h0 = _state(rng, B)
    _, grads, _ = m.loss_and_gradients(x, y, h0)
    for name, p in m.params.items():

        def f(v: np.ndarray, name: str = name) -> float:
            return m.with_params({**m.params, name: v}).loss(x, y, h0)  # type: ignore[no-any-return]

        np.testing.assert_allclose(grads[name], central(f, p), **CENTRAL_TOL, err_msg=name)
    _, dh0 = m.backward(m.forward(x, h0), y)
    np.testing.assert_allclose(dh0, central(lambda v: m.loss(x, y, v), h0), **CENTRAL_TOL)


def test_every_gradient_matches_the_complex_step_to_rounding() -> None:
    """The forward pass is analytic, so the complex step gives each derivative to ~1e-15."""
    rng = np.random.default_rng(11)
    m = _model(seed=11)
    x, y = rng.integers(0, V, (6, 2)), rng.integers(0, V, (6, 2))
    h0 = _state(rng, 2)
    _, grads, _ = m.loss_and_gradients(x, y, h0)
    complex_params = {k: v.astype(np.complex128) for k, v in m.params.items()}
    for name, p in m.params.items():

        def f(v: np.ndarray, name: str = name) -> complex:
            return m.with_params({**complex_params, name: v}).loss(x, y, h0)  # type: ignore[no-any-return]

        assert relative_error(grads[name], complex_step(f, p)) < 1e-12, name
    mc = m.with_params(complex_params)
    _, dh0 = m.backward(m.forward(x, h0), y)
    assert relative_error(dh0, complex_step(lambda v: mc.loss(x, y, v), h0)) < 1e-12


def test_complex_parameters_give_a_complex_loss() -> None:
    m = _model()
    mc = m.with_params({k: v.astype(np.complex128) for k, v in m.params.items()})
    value = mc.loss([0, 1, 2], [1, 2, 3])
    assert isinstance(value, complex)
    np.testing.assert_allclose(value.real, m.loss([0, 1, 2], [1, 2, 3]), rtol=1e-15)


def _truncated_reference(m: GRU, x: np.ndarray, y: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Σ_t ∂L(t)/∂θ through steps t−k+1 .. t only, by complex step.

    The state that enters step t−k+1 is computed with the real parameters and held fixed,
    which is what "backpropagated through at most k steps" means, equation (15).
    """
    T = len(x)
    starts = [max(0, t - k + 1) for t in range(T)]
    states = [m.forward(x[:a]).last_state[0] if a > 0 else None for a in starts]
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
    """Equation (15) for the GRU, against the definition computed independently."""
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
    h0 = _state(rng, 2)
    exact, dh0 = m.backward(m.forward(x, h0), y)
    for k in (5, 6, 50):
        trunc, th0 = m.backward(m.forward(x, h0), y, truncation=k)
        for name in exact:
            np.testing.assert_allclose(trunc[name], exact[name], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(th0, dh0, rtol=1e-12, atol=1e-15)


def test_truncation_one_differs_from_the_exact_gradient_in_the_cell_only() -> None:
    rng = np.random.default_rng(7)
    m = _model(seed=7)
    x, y = rng.integers(0, V, 6), rng.integers(0, V, 6)
    _, exact, _ = m.loss_and_gradients(x, y)
    _, trunc, _ = m.loss_and_gradients(x, y, truncation=1)
    for name in ("V", "c"):
        np.testing.assert_array_equal(trunc[name], exact[name])
    for name in ("W_r", "W_z", "W_n", "U_n", "b_z", "b_hn"):
        assert relative_error(trunc[name], exact[name]) > 1e-2, name


# ---------------------------------------------------------------------- batches, windows


def test_batch_equals_the_sum_of_its_members() -> None:
    rng = np.random.default_rng(8)
    m = _model(seed=8)
    x, y = rng.integers(0, V, (5, 4)), rng.integers(0, V, (5, 4))
    h0 = _state(rng, 4)
    loss, grads, h_last = m.loss_and_gradients(x, y, h0)
    _, dh0 = m.backward(m.forward(x, h0), y)
    total, summed = 0.0, {k: np.zeros_like(v) for k, v in grads.items()}
    for b in range(4):
        lb, gb, hb = m.loss_and_gradients(x[:, b], y[:, b], h0[b])
        total += lb
        for k in summed:
            summed[k] += gb[k]
        np.testing.assert_allclose(h_last[b], hb, rtol=1e-14, atol=1e-15)
        _, dhb = m.backward(m.forward(x[:, b], h0[b]), y[:, b])
        np.testing.assert_allclose(dh0[b], dhb, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(loss, total, rtol=1e-13)
    for k in grads:
        np.testing.assert_allclose(grads[k], summed[k], rtol=1e-12, atol=1e-14)


def test_split_sequence_with_the_state_carried_equals_the_whole() -> None:
    rng = np.random.default_rng(9)
    m = _model(seed=9)
    x, y = rng.integers(0, V, (7, 2)), rng.integers(0, V, (7, 2))
    h0 = _state(rng, 2)
    loss, _, h = m.loss_and_gradients(x, y, h0)
    first, _, carried = m.loss_and_gradients(x[:3], y[:3], h0)
    second, _, h2 = m.loss_and_gradients(x[3:], y[3:], carried)
    np.testing.assert_allclose(first + second, loss, rtol=1e-14)
    np.testing.assert_allclose(h2, h, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(
        m.probabilities(x[3:], carried), m.probabilities(x, h0)[3:], rtol=1e-13
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


# --------------------------------------------------------------------- sampling, training


def test_sample_draws_from_the_vocabulary_reproducibly() -> None:
    vocab = Vocabulary.from_text("abcde")
    m = _model()
    first = m.sample(vocab, np.random.default_rng(0), prime="ab", length=40)
    again = m.sample(vocab, np.random.default_rng(0), prime="ab", length=40)
    assert first == again
    assert len(first) == 40
    assert set(first) <= set("abcde")
