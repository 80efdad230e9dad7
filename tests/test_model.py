"""The vanilla RNN: shapes, probabilities, loss, exact gradients, truncation, batching."""

from __future__ import annotations

import numpy as np
import pytest
from numerics import central, relative_error

from rnn import RNN, log_softmax, softmax


def _model(V: int = 6, H: int = 5, seed: int = 0, scale: float = 0.5) -> RNN:
    return RNN.random(V, H, np.random.default_rng(seed), scale=scale)


def test_parameter_shapes_follow_u_w_v_b_c() -> None:
    m = _model(V=7, H=3)
    assert m.U.shape == (3, 7)
    assert m.W.shape == (3, 3)
    assert m.V.shape == (7, 3)
    assert m.b.shape == (3,)
    assert m.c.shape == (7,)
    assert all(p.dtype == np.float64 for p in m.params.values())


def test_constructor_rejects_mismatched_shapes() -> None:
    m = _model()
    with pytest.raises(ValueError, match=r"W must have shape \(5, 5\)"):
        RNN(m.U, m.W[:, :4], m.V, m.b, m.c)


def test_constructor_rejects_non_finite_values() -> None:
    m = _model()
    W = m.W.copy()
    W[0, 0] = np.nan
    with pytest.raises(ValueError, match="parameter W must be finite"):
        RNN(m.U, W, m.V, m.b, m.c)


def test_constructor_rejects_non_numeric_dtype() -> None:
    m = _model()
    with pytest.raises(TypeError, match="parameter b must be a float64"):
        RNN(m.U, m.W, m.V, m.b.astype(str), m.c)


def test_probabilities_are_positive_and_sum_to_one() -> None:
    m = _model()
    x = np.random.default_rng(1).integers(0, 6, size=(8, 3))
    p = m.probabilities(x)
    assert p.shape == (8, 3, 6)
    assert np.all(p > 0)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=0, atol=1e-14)


def test_softmax_survives_logits_of_ten_thousand() -> None:
    o = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]])
    p = softmax(o)
    assert np.all(np.isfinite(log_softmax(o)))
    np.testing.assert_allclose(p[0], [1.0, 0.0, 0.0], rtol=0, atol=1e-300)
    np.testing.assert_allclose(p[1], [1 / 3] * 3, rtol=1e-15)


def test_log_softmax_is_the_log_of_softmax_row_by_row() -> None:
    """Along the last axis only: every row of a (2, 3, 4) array, each at its own offset."""
    rng = np.random.default_rng(3)
    o = rng.normal(size=(2, 3, 4)) + rng.uniform(-50, 50, size=(2, 3, 1))
    logp = log_softmax(o)
    np.testing.assert_allclose(logp, np.log(softmax(o)), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(np.exp(logp).sum(axis=-1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(logp, log_softmax(o - o[..., :1]), rtol=1e-13, atol=1e-13)


def test_loss_is_finite_with_huge_logits() -> None:
    m = _model(V=3, H=2)
    big = m.with_params({**m.params, "V": np.zeros((3, 2)), "c": np.array([1e4, -1e4, 0.0])})
    loss = big.loss([0, 1], [1, 0])  # o = c at every step: −ln ŷ = 2e4, then ≈ 0
    assert np.isfinite(loss)
    np.testing.assert_allclose(loss, 2e4, rtol=1e-15)


def test_loss_for_one_step_matches_hand_computation() -> None:
    m = _model(V=4, H=3)
    h0 = np.array([0.1, -0.2, 0.3])
    x, y = 2, 1
    a = m.b + m.W @ h0 + m.U[:, x]
    h = np.tanh(a)
    o = m.c + m.V @ h
    expected = -(o[y] - np.log(np.sum(np.exp(o))))
    loss, _, h_last = m.loss_and_gradients([x], [y], h0)
    assert loss >= 0
    np.testing.assert_allclose(loss, expected, rtol=1e-14)
    np.testing.assert_allclose(h_last, h, rtol=1e-15)


@pytest.mark.parametrize(("T", "B"), [(1, 1), (4, 1), (7, 3)])
def test_every_gradient_matches_central_differences(T: int, B: int) -> None:
    """Equations (6)-(14): each parameter's gradient and h0's, to a relative 1e-6."""
    rng = np.random.default_rng(T * 10 + B)
    m = _model(V=5, H=4, seed=T + B)
    x, y = rng.integers(0, 5, (T, B)), rng.integers(0, 5, (T, B))
    h0 = rng.standard_normal((B, 4)) * 0.5
    _, grads, _ = m.loss_and_gradients(x, y, h0)
    for name, p in m.params.items():

        def f(v: np.ndarray, name: str = name) -> float:
            return m.with_params({**m.params, name: v}).loss(x, y, h0)  # type: ignore[no-any-return]

        assert relative_error(grads[name], central(f, p)) < 1e-6, name
    _, dh0 = m.backward(m.forward(x, h0), y)
    assert relative_error(dh0, central(lambda v: m.loss(x, y, v), h0)) < 1e-6


def test_truncation_one_equals_the_seeds_formulas() -> None:
    """Eq. (15) with k = 1: the seed's db(t) = (Vᵀ ∇o(t)) ⊙ (1 − h(t)²), written out here."""
    rng = np.random.default_rng(3)
    m = _model(V=6, H=4, seed=3)
    x, y = rng.integers(0, 6, 9), rng.integers(0, 6, 9)
    h0 = rng.standard_normal(4) * 0.3
    # The seed's forward and backward loops, one step at a time with one-hot vectors.
    hs, ps, h = {-1: h0}, {}, h0
    for t in range(9):
        onehot = np.zeros(6)
        onehot[x[t]] = 1.0
        h = np.tanh(m.b + np.dot(m.W, h) + np.dot(m.U, onehot))
        o = m.c + np.dot(m.V, h)
        hs[t], ps[t] = h, np.exp(o) / np.sum(np.exp(o))
    dU, dW, dV = np.zeros_like(m.U), np.zeros_like(m.W), np.zeros_like(m.V)
    db, dc = np.zeros_like(m.b), np.zeros_like(m.c)
    for t in reversed(range(9)):
        dout = ps[t].copy()
        dout[y[t]] -= 1
        dV += np.outer(dout, hs[t])
        dc += dout
        dbt = np.dot(dout, m.V) * (1 - hs[t] ** 2)
        db += dbt
        onehot = np.zeros(6)
        onehot[x[t]] = 1.0
        dU += np.outer(dbt, onehot)
        dW += np.outer(dbt, hs[t - 1])
    _, grads, _ = m.loss_and_gradients(x, y, h0, truncation=1)
    expected = {"U": dU, "W": dW, "V": dV, "b": db, "c": dc}
    for name in expected:
        np.testing.assert_allclose(grads[name], expected[name], rtol=1e-12, atol=1e-14)


def test_truncation_at_least_t_equals_the_exact_gradient() -> None:
    rng = np.random.default_rng(4)
    m = _model(seed=4)
    x, y = rng.integers(0, 6, (5, 2)), rng.integers(0, 6, (5, 2))
    _, exact, _ = m.loss_and_gradients(x, y)
    for k in (5, 6, 50):
        _, trunc, _ = m.loss_and_gradients(x, y, truncation=k)
        for name in exact:
            np.testing.assert_allclose(trunc[name], exact[name], rtol=1e-12, atol=1e-15)


def test_truncation_one_differs_from_the_exact_gradient_in_w_u_b_only() -> None:
    rng = np.random.default_rng(5)
    m = _model(seed=5)
    x, y = rng.integers(0, 6, 6), rng.integers(0, 6, 6)
    _, exact, _ = m.loss_and_gradients(x, y)
    _, seed, _ = m.loss_and_gradients(x, y, truncation=1)
    for name in ("V", "c"):
        np.testing.assert_array_equal(seed[name], exact[name])
    for name in ("W", "U", "b"):
        assert relative_error(seed[name], exact[name]) > 1e-2, name


def test_batch_equals_the_sum_of_its_members() -> None:
    rng = np.random.default_rng(6)
    m = _model(seed=6)
    x, y = rng.integers(0, 6, (5, 4)), rng.integers(0, 6, (5, 4))
    h0 = rng.standard_normal((4, 5)) * 0.5
    loss, grads, h_last = m.loss_and_gradients(x, y, h0)
    total, summed = 0.0, {k: np.zeros_like(v) for k, v in grads.items()}
    for b in range(4):
        lb, gb, hb = m.loss_and_gradients(x[:, b], y[:, b], h0[b])
        total += lb
        for k in summed:
            summed[k] += gb[k]
        np.testing.assert_allclose(h_last[b], hb, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(loss, total, rtol=1e-13)
    for k in grads:
        np.testing.assert_allclose(grads[k], summed[k], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    ("inputs", "targets", "error", "match"),
    [
        ([0.0, 1.0], [1, 2], TypeError, "inputs must be an integer array"),
        ([0, 1], [1, 2, 3], ValueError, "targets must have the inputs' shape"),
        ([0, 6], [1, 2], ValueError, r"inputs must lie in \[0, 6\), got 6"),
        ([0, 1], [-1, 2], ValueError, r"targets must lie in \[0, 6\), got -1"),
        ([], [], TypeError, "inputs must be an integer array"),
        (np.zeros(0, int), np.zeros(0, int), ValueError, "at least 1 step"),
        (np.zeros((2, 2, 2), int), np.zeros((2, 2, 2), int), ValueError, r"shape \(T,\)"),
    ],
)
def test_bad_sequences_are_refused_with_a_clear_error(
    inputs: object, targets: object, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        _model().loss_and_gradients(inputs, targets)


def test_bad_h0_shape_is_refused() -> None:
    with pytest.raises(ValueError, match=r"h0 must have shape \(2, 5\), got \(5,\)"):
        _model().loss_and_gradients(np.zeros((3, 2), int), np.zeros((3, 2), int), np.zeros(5))


def test_truncation_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="truncation must be ≥ 1 or None, got 0"):
        _model().loss_and_gradients([0], [1], truncation=0)


def test_random_refuses_parameters_larger_than_memory() -> None:
    with pytest.raises(ValueError, match="GiB at its peak, more than the"):
        RNN.random(10, 10**7, np.random.default_rng(0))


@pytest.mark.parametrize(("value", "kind"), [(True, "bool"), (2.5, "float")])
def test_truncation_must_be_an_int(value: object, kind: str) -> None:
    with pytest.raises(TypeError, match=f"truncation must be an int or None, got {kind}"):
        _model().loss_and_gradients([0], [1], truncation=value)  # type: ignore[arg-type]


def test_batched_target_shape_mismatch_names_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"inputs' shape \(3, 2\), got \(3, 1\)"):
        _model().loss_and_gradients(np.zeros((3, 2), int), np.zeros((3, 1), int))


def test_repr_names_the_cell_and_its_sizes() -> None:
    assert repr(_model(V=7, H=3)) == "RNN(vocab_size=7, hidden_size=3, dtype=float64)"
