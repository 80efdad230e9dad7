"""Properties of the checker on generated functions: exact gradients pass, perturbed ones fail.

The function is f(A, x) = Σ tanh(A x) + ½ |x|², with A square (n × n, n ≤ 4) so that its
gradient ∇A f = s xᵀ, s = 1 − tanh²(A x), can be transposed, and ∇x f = Aᵀ s + x. Entries
are drawn away from zero, so that every gradient has a scale the perturbations are measured
against. Each perturbation is a structural one: it changes the gradient by at least 5% of
its largest entry, which every method can see:

- one entry moved by δ ≥ 0.05 max|g|: a relative error of at least 0.05 / 2.05 at that
  entry, against rtol ≤ 1e-5; along 16 Gaussian directions, δ |d_i| against
  |⟨g, d⟩| ≲ 4 max|g| |d|; and a remainder δ |d_i| h that dominates h² |f''| at the small
  steps of the Taylor test;
- the whole gradient scaled by 1 ± s with 0.05 ≤ s ≤ 2 (zero and a sign flip included);
- ∇A transposed, where it differs from its transpose by at least 5% of its largest entry.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from verification import METHODS, check_gradients

Array = np.ndarray[Any, Any]


def _loss(p: dict[str, Array]) -> Any:
    return np.sum(np.tanh(p["A"] @ p["x"])) + 0.5 * np.sum(p["x"] ** 2)


def _gradient(A: Array, x: Array) -> dict[str, Array]:
    s = 1 - np.tanh(A @ x) ** 2
    return {"A": np.outer(s, x), "x": A.T @ s + x}


_magnitudes = st.floats(0.1, 1.5)
_signs = st.sampled_from([-1.0, 1.0])


@st.composite
def _points(draw: st.DrawFn) -> dict[str, Array]:
    """A square A and an x, every entry of magnitude 0.1 to 1.5 with either sign."""
    n = draw(st.integers(2, 4))

    def entries(count: int) -> Array:
        values = draw(st.lists(_magnitudes, min_size=count, max_size=count))
        signs = draw(st.lists(_signs, min_size=count, max_size=count))
        return np.array(values) * np.array(signs)

    return {"A": entries(n * n).reshape(n, n), "x": entries(n)}


_FIXED = {"A": np.array([[0.5, -1.0], [0.25, 0.75]]), "x": np.array([1.0, -0.5])}


@pytest.mark.parametrize("method", METHODS)
@example(point=_FIXED)
@given(point=_points())
def test_exact_gradients_pass(method: str, point: dict[str, Array]) -> None:
    check_gradients(_loss, point, _gradient(**point), method=method).assert_passed()


@pytest.mark.parametrize("method", METHODS)
@example(point=_FIXED, name="A", flat=0, size=0.05, sign=1.0)
@given(
    point=_points(),
    name=st.sampled_from(["A", "x"]),
    flat=st.integers(0, 15),
    size=st.floats(0.05, 1.0),
    sign=_signs,
)
def test_one_perturbed_entry_fails(
    method: str, point: dict[str, Array], name: str, flat: int, size: float, sign: float
) -> None:
    grads = _gradient(**point)
    g = grads[name].copy()
    index = np.unravel_index(flat % g.size, g.shape)
    g[index] += sign * size * np.abs(g).max()
    report = check_gradients(_loss, point, {**grads, name: g}, method=method)
    assert [row.name for row in report.rows if not row.passed] == [name]


@pytest.mark.parametrize("method", METHODS)
@example(point=_FIXED, name="x", size=1.0, sign=-1.0)  # the zero gradient
@example(point=_FIXED, name="A", size=2.0, sign=-1.0)  # a sign flip
@given(
    point=_points(),
    name=st.sampled_from(["A", "x"]),
    size=st.floats(0.05, 2.0),
    sign=_signs,
)
def test_a_scaled_gradient_fails(
    method: str, point: dict[str, Array], name: str, size: float, sign: float
) -> None:
    grads = _gradient(**point)
    scaled = (1 + sign * size) * grads[name]
    report = check_gradients(_loss, point, {**grads, name: scaled}, method=method)
    assert [row.name for row in report.rows if not row.passed] == [name]


@pytest.mark.parametrize("method", METHODS)
@example(point=_FIXED)
@given(point=_points())
def test_a_transposed_gradient_fails(method: str, point: dict[str, Array]) -> None:
    grads = _gradient(**point)
    g = grads["A"]
    assume(np.abs(g - g.T).max() >= 0.05 * np.abs(g).max())
    report = check_gradients(_loss, point, {**grads, "A": g.T.copy()}, method=method)
    assert [row.name for row in report.rows if not row.passed] == ["A"]
