"""check_vjp: a layer's backward pass checked against an upstream gradient."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from verification import METHODS, check_gradients, check_vjp

Array = np.ndarray[Any, Any]


def _layer() -> tuple[dict[str, Array], Array]:
    rng = np.random.default_rng(3)
    inputs = {
        "x": rng.standard_normal((4, 5)),
        "W": rng.standard_normal((5, 3)) * 0.5,
        "b": rng.standard_normal(3),
    }
    return inputs, rng.standard_normal((4, 3))


def _forward(p: dict[str, Array]) -> Any:
    """y = tanh(x W + b), cs231n's row convention."""
    return np.tanh(p["x"] @ p["W"] + p["b"])


def _backward(
    dout: Array, p: dict[str, Array], *, preactivation: bool = False
) -> dict[str, Array]:
    a = p["x"] @ p["W"] + p["b"]
    local = 1 - a**2 if preactivation else 1 - np.tanh(a) ** 2  # tanh'(a) = 1 − tanh(a)²
    da = dout * local
    return {"x": da @ p["W"].T, "W": p["x"].T @ da, "b": da.sum(axis=0)}


@pytest.mark.parametrize("method", METHODS)
def test_the_exact_backward_pass_of_a_tanh_affine_layer_passes_every_method(method: str) -> None:
    inputs, dout = _layer()
    report = check_vjp(_forward, inputs, dout, _backward(dout, inputs), method=method)
    report.assert_passed()
    assert [row.name for row in report.rows] == ["x", "W", "b"]


@pytest.mark.parametrize("method", METHODS)
def test_tanh_derivative_from_the_preactivation_fails_every_input(method: str) -> None:
    inputs, dout = _layer()
    wrong = _backward(dout, inputs, preactivation=True)
    report = check_vjp(_forward, inputs, dout, wrong, method=method)
    assert [row.name for row in report.rows if not row.passed] == ["x", "W", "b"]


def test_the_numeric_derivatives_are_those_of_the_scalar_upstream_dot_output() -> None:
    """A VJP check is the gradient check of ⟨u, f⟩: the complex step sees the same numbers."""
    inputs, dout = _layer()
    claimed = _backward(dout, inputs)
    vjp = check_vjp(_forward, inputs, dout, claimed, method="complex")
    scalar = check_gradients(
        lambda p: np.sum(dout * _forward(p)), inputs, claimed, method="complex"
    )
    assert [r.numeric for r in vjp.rows] == [r.numeric for r in scalar.rows]
    assert [r.worst_index for r in vjp.rows] == [r.worst_index for r in scalar.rows]


def test_the_rounding_floor_follows_the_size_of_the_terms_not_their_cancelled_sum() -> None:
    """f = (10⁸ + x², 10⁸) and u = (1, −1): ⟨u, f⟩ = x² is small, but each output carries
    the rounding of 10⁸ (about 1e-8), which puts an error of about 1e-3 into the quotient.
    The floor must come from Σ|u f| ≈ 2e8, not from |⟨u, f⟩| = 0.25."""
    x = np.array([0.5])
    u = np.array([1.0, -1.0])

    def f(p: dict[str, Array]) -> Any:
        return np.array([1e8 + p["x"][0] ** 2, 1e8 + 0 * p["x"][0]])

    claimed = {"x": 2 * x}
    report = check_vjp(f, {"x": x}, u, claimed)
    report.assert_passed()
    assert report.rows[0].passed_on == "atol"
    eps = np.finfo(np.float64).eps
    h = eps ** (1 / 3)
    width = (x[0] + h) - (x[0] - h)
    terms = 2 * 2e8 + (x[0] + h) ** 2 + (x[0] - h) ** 2  # Σ|u f| at x + h and at x − h
    np.testing.assert_allclose(report.rows[0].atol, 32 * eps * terms / width, rtol=1e-12)
    # the same scalar through check_gradients has only |⟨u, f⟩| to go by, and fails
    assert not check_gradients(lambda p: np.sum(u * f(p)), {"x": x}, claimed).passed


def test_a_vjp_that_ignores_an_input_is_named_with_f() -> None:
    inputs, dout = _layer()
    without_b = _backward(dout, {**inputs, "b": np.zeros(3)})  # x and W right for f below
    claimed = {**without_b, "b": _backward(dout, inputs)["b"]}
    report = check_vjp(lambda p: np.tanh(p["x"] @ p["W"]), inputs, dout, claimed)
    assert [row.name for row in report.rows if not row.passed] == ["b"]
    assert "f probably ignores 'b'" in report.failure_message


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"upstream": np.ones((3, 4))}, ValueError, r"upstream must have the shape of f's "),
        ({"upstream": np.ones((4, 3), np.float32)}, TypeError, "upstream is float32"),
        (
            {"upstream": np.full((4, 3), np.nan)},
            ValueError,
            "^upstream must be finite, got a NaN or infinite entry$",
        ),
        ({"f": 3.0}, TypeError, "f must be callable, got float"),
        ({"f": lambda p: np.ones((4, 3), int)}, TypeError, "f must return a float or complex"),
        ({"inputs": []}, TypeError, "inputs must be a mapping of names to arrays, got list"),
        (
            {"claimed": {"x": np.zeros((4, 5))}},
            ValueError,
            r"claimed must have the keys of inputs",
        ),
    ],
)
def test_bad_arguments_are_refused(
    change: dict[str, Any], error: type[Exception], match: str
) -> None:
    inputs, dout = _layer()
    arguments: dict[str, Any] = {
        "f": _forward,
        "inputs": inputs,
        "upstream": dout,
        "claimed": _backward(dout, inputs),
    }
    arguments.update(change)
    with pytest.raises(error, match=match):
        check_vjp(arguments["f"], arguments["inputs"], arguments["upstream"], arguments["claimed"])


def test_a_complex_output_for_real_inputs_is_refused_naming_f() -> None:
    inputs, dout = _layer()
    with pytest.raises(TypeError, match=r"f returned the complex .* for real parameters"):
        check_vjp(lambda p: _forward(p) + 1j, inputs, dout, _backward(dout, inputs))
