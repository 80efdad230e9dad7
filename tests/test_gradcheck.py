"""The gradient checker itself: it passes exact gradients and catches each kind of bug."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from rnn import RNN
from verification import METHODS, GradientReport, check_gradients, relative_error
from verification.gradcheck import _taylor_order
from verification.strategies import Case, GradientProblem, gradient_problem

Array = np.ndarray[Any, Any]
TINY = np.finfo(np.float64).tiny


def _problem(truncation: int | None = None) -> GradientProblem:
    """A small RNN with every parameter and h0 drawn from N(0, 0.5²): T = 6, B = 2."""
    rng = np.random.default_rng(7)
    model = RNN.random(5, 4, rng, scale=0.5)
    model = model.with_params(
        {k: rng.standard_normal(v.shape) * 0.5 for k, v in model.params.items()}
    )
    x, y = rng.integers(0, 5, (6, 2)), rng.integers(0, 5, (6, 2))
    h0 = rng.standard_normal((2, 4)) * 0.5
    return gradient_problem(Case(model, x, y, h0), truncation)


def _exact() -> tuple[GradientProblem, dict[str, Array]]:
    problem = _problem()
    return problem, problem.grads()


def _failing(report: GradientReport) -> set[str]:
    return {row.name for row in report.rows if not row.passed}


# --------------------------------------------------------------------- relative error


def test_relative_error_is_the_documented_formula() -> None:
    a = np.array([3.0, 1.0, 0.0, 0.0, 1e-320, -2.0])
    n = np.array([1.0, -1.0, 0.0, 5.0, 0.0, -2.0])
    expected = np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), TINY)
    np.testing.assert_array_equal(relative_error(a, n), expected)
    # by hand: |3 − 1| / 4, a sign flip gives 1 (not ∞ as with |a + n|), 0/0 counts as 0
    np.testing.assert_array_equal(relative_error(a, n)[:4], [0.5, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(relative_error(a, n), relative_error(n, a))


@example(a=-128, n=0)  # |−128| overflows in int8
@example(a=0, n=-128)
@given(a=st.integers(-128, 127), n=st.integers(-128, 127))
def test_relative_error_of_integers_is_that_of_their_float64_values(a: int, n: int) -> None:
    """Integer inputs are converted to float64 before any arithmetic: in int8, |−128| is −128."""
    expected = abs(a - n) / max(abs(a) + abs(n), TINY)  # Python ints, exact until the division
    for analytic, numeric in [(np.int8(a), float(n)), (float(a), np.int8(n))]:
        np.testing.assert_allclose(relative_error(analytic, numeric), expected, rtol=1e-15, atol=0)


# ----------------------------------------------------------------- exact gradients


@pytest.mark.parametrize("method", METHODS)
def test_exact_rnn_gradients_pass_every_method(method: str) -> None:
    problem = _problem()
    report = check_gradients(*problem, method=method)
    report.assert_passed()
    assert [row.name for row in report.rows] == ["U", "W", "V", "b", "c", "h0"]
    assert report.failure_message == ""
    if method != "taylor":
        assert report.max_relative_error <= report.rows[0].tolerance


def test_a_generic_function_of_two_arrays_is_checked() -> None:
    """The checker knows no RNN: f(A, x) = sum(tanh(A x)) with ∇A = s xᵀ, ∇x = Aᵀ s."""
    rng = np.random.default_rng(1)
    A, x = rng.standard_normal((3, 4)), rng.standard_normal(4)

    def f(p: dict[str, Array]) -> Any:
        return np.sum(np.tanh(p["A"] @ p["x"]))

    s = 1 - np.tanh(A @ x) ** 2
    grads = {"A": np.outer(s, x), "x": A.T @ s}
    for method in METHODS:
        check_gradients(f, {"A": A, "x": x}, grads, method=method).assert_passed()
    wrong = {"A": np.outer(s, x), "x": -(A.T @ s)}
    assert _failing(check_gradients(f, {"A": A, "x": x}, wrong)) == {"x"}


def test_the_parameters_passed_in_are_not_modified() -> None:
    problem, grads = _exact()
    before = {k: v.copy() for k, v in problem.params.items()}
    for method in METHODS:
        check_gradients(problem.loss_fn, problem.params, grads, method=method)
    for k, v in before.items():
        np.testing.assert_array_equal(problem.params[k], v)


# ----------------------------------------------------------------- wrong gradients


def _sign_flip(g: dict[str, Array]) -> dict[str, Array]:
    return {**g, "V": -g["V"]}


def _transpose(g: dict[str, Array]) -> dict[str, Array]:
    return {**g, "W": g["W"].T.copy()}


def _double(g: dict[str, Array]) -> dict[str, Array]:
    return {**g, "U": 2 * g["U"]}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("mutate", "culprit"), [(_sign_flip, "V"), (_transpose, "W"), (_double, "U")]
)
def test_a_structural_error_fails_every_method_and_names_its_parameter(
    method: str, mutate: Callable[[dict[str, Array]], dict[str, Array]], culprit: str
) -> None:
    problem, grads = _exact()
    report = check_gradients(problem.loss_fn, problem.params, mutate(grads), method=method)
    assert not report.passed
    assert _failing(report) == {culprit}
    assert report.failure_message.count("\n") == 1
    assert f"  {culprit}: " in report.failure_message


@pytest.mark.parametrize("method", METHODS)
def test_the_missing_recurrent_term_fails_w_u_b_and_h0_but_not_v_and_c(method: str) -> None:
    """The seed's formulas, eq. (15) with k = 1: no Wᵀ δ(t+1) in eq. (9)."""
    report = check_gradients(*_problem(truncation=1), method=method)
    assert _failing(report) == {"U", "W", "b", "h0"}


@pytest.mark.parametrize("method", ["complex", "richardson"])
def test_one_entry_off_by_a_relative_1e_5_is_caught(method: str) -> None:
    problem, grads = _exact()
    W = grads["W"].copy()
    i = (2, 1)
    W[i] *= 1 + 1e-5
    report = check_gradients(problem.loss_fn, problem.params, {**grads, "W": W}, method=method)
    assert _failing(report) == {"W"}
    row = report.rows[1]
    assert (row.worst_index, row.failures) == (i, 1)
    assert row.analytic == W[i]
    np.testing.assert_allclose(row.numeric, grads["W"][i], rtol=1e-11)


def test_a_nan_in_the_gradient_fails() -> None:
    problem, grads = _exact()
    c = grads["c"].copy()
    c[3] = np.nan
    report = check_gradients(problem.loss_fn, problem.params, {**grads, "c": c})
    assert _failing(report) == {"c"}
    assert report.rows[4].worst_index == (3,)
    assert np.isnan(report.max_relative_error)


# ----------------------------------------------------------------- Taylor and Ridders


def test_taylor_orders_are_two_for_exact_and_one_for_truncated_gradients() -> None:
    exact = check_gradients(*_problem(), method="taylor", directions=3)
    for row in exact.rows:
        assert row.order is not None
        assert 1.9 <= row.order <= 2.1, row
    truncated = check_gradients(*_problem(truncation=1), method="taylor", directions=3)
    for row in truncated.rows:
        assert row.order is not None
        expected = 2.0 if row.name in ("V", "c") else 1.0
        assert abs(row.order - expected) <= 0.1, row


def _orders(remainder: Callable[[Array], Array], floor: float) -> float:
    steps = 1e-2 * 0.5 ** np.arange(16)
    return _taylor_order(steps, remainder(steps), np.full(16, floor), 1.5)


def test_the_taylor_order_is_the_slope_over_the_smallest_steps_above_the_floor() -> None:
    assert _orders(lambda h: 3 * h**2, 1e-20) == pytest.approx(2.0, abs=1e-12)
    assert _orders(lambda h: 0.5 * h, 1e-20) == pytest.approx(1.0, abs=1e-12)
    # r = 7h + h²: the smallest steps show the first-order error of a wrong gradient
    assert _orders(lambda h: 7 * h + h**2, 1e-20) == pytest.approx(1.0, abs=1e-3)
    # r = h² + 100 h³: the smallest steps above a floor of 1e-9 are h² already
    assert _orders(lambda h: h**2 + 100 * h**3, 1e-9) == pytest.approx(2.0, abs=0.05)


def test_the_taylor_order_cannot_judge_a_flat_or_cancelling_remainder() -> None:
    """NaN, which passes: below the floor, or low only where h² and h³ terms cancel."""
    assert np.isnan(_orders(lambda h: np.full_like(h, 1e-16), 1e-15))
    assert np.isnan(_orders(lambda h: h**2, 3e-6))  # 3 steps above the floor: too few
    # r = h² |1 − h/h*| with h* = 1.5e-3: local orders 0.2, 1.6, 1.8 over the last four
    # steps above the floor (the fit alone, 1.2, would fail a correct gradient)
    assert np.isnan(_orders(lambda h: h**2 * np.abs(1 - h / 1.5e-3), 1e-8))


def test_ridders_reports_an_error_estimate_below_the_error_it_allows() -> None:
    report = check_gradients(*_problem(), method="richardson")
    for row in report.rows:
        assert row.error_estimate is not None
        assert 0 <= row.error_estimate <= 1e-9
        assert row.atol >= 4 * row.error_estimate


# ------------------------------------------------------------------ what it costs


class _Counting:
    """Wraps a loss function; counts calls and records which entries each call moved."""

    def __init__(self, problem: GradientProblem) -> None:
        self.problem = problem
        self.calls = 0
        self.moved: set[tuple[str, tuple[int, ...]]] = set()

    def __call__(self, p: dict[str, Array]) -> Any:
        self.calls += 1
        for name, value in p.items():
            for i in np.argwhere(value != self.problem.params[name]):
                self.moved.add((name, tuple(int(k) for k in i)))
        return self.problem.loss_fn(p)


def test_central_costs_two_evaluations_per_entry_of_the_chosen_parameter() -> None:
    problem, grads = _exact()
    loss = _Counting(problem)
    report = check_gradients(loss, problem.params, grads, names=["W"])
    assert [row.name for row in report.rows] == ["W"]
    assert report.rows[0].checked == 16
    assert loss.calls == 2 + 2 * 16  # two calls test that the loss is deterministic
    assert {name for name, _ in loss.moved} == {"W"}


def test_directional_costs_two_evaluations_per_direction() -> None:
    problem, grads = _exact()
    loss = _Counting(problem)
    report = check_gradients(loss, problem.params, grads, method="directional", directions=5)
    assert loss.calls == 2 + 2 * 5 * len(report.rows)
    assert all(row.checked == 5 for row in report.rows)


def test_a_random_subset_of_entries_is_reproducible_from_the_seed() -> None:
    problem, grads = _exact()

    def moved(seed: int) -> set[tuple[str, tuple[int, ...]]]:
        loss = _Counting(problem)
        report = check_gradients(loss, problem.params, grads, entries=3, seed=seed)
        assert all(row.checked == min(3, problem.params[row.name].size) for row in report.rows)
        return loss.moved

    first, again, other = moved(0), moved(0), moved(1)
    assert first == again
    assert first != other
    assert len(first) == 3 * 6


# ----------------------------------------------------------------- structural checks


def test_float32_parameters_are_refused() -> None:
    problem, grads = _exact()
    params = {**problem.params, "W": problem.params["W"].astype(np.float32)}
    with pytest.raises(TypeError, match=r"parameter 'W' is float32; the checker needs float64"):
        check_gradients(problem.loss_fn, params, grads)


def test_float32_gradients_are_refused() -> None:
    problem, grads = _exact()
    with pytest.raises(TypeError, match=r"gradient of 'b' is float32"):
        check_gradients(problem.loss_fn, problem.params, {**grads, "b": grads["b"].astype("f4")})


def test_a_gradient_of_the_wrong_shape_is_refused() -> None:
    problem, grads = _exact()
    with pytest.raises(
        ValueError, match=r"gradient of 'U' must have .* shape \(4, 5\), got \(5, 4\)"
    ):
        check_gradients(problem.loss_fn, problem.params, {**grads, "U": grads["U"].T})


def test_a_gradient_of_another_dtype_is_refused() -> None:
    problem, grads = _exact()
    with pytest.raises(
        TypeError, match=r"gradient of 'c' must be a float64 array, got dtype int64"
    ):
        check_gradients(problem.loss_fn, problem.params, {**grads, "c": np.zeros(5, np.int64)})


def test_missing_and_unexpected_gradients_are_named() -> None:
    problem, grads = _exact()
    del grads["b"]
    grads["z"] = np.zeros(1)
    with pytest.raises(ValueError, match=r"missing \['b'\], unexpected \['z'\]"):
        check_gradients(problem.loss_fn, problem.params, grads)


def test_a_nondeterministic_gradient_is_caught() -> None:
    problem, grads = _exact()
    calls = iter(range(100))

    def drifting() -> dict[str, Array]:
        b = grads["b"].copy()
        b[2] = np.nextafter(b[2], np.inf) if next(calls) % 2 else b[2]  # one ulp on odd calls
        return {**grads, "b": b}

    report = check_gradients(problem.loss_fn, problem.params, drifting)
    assert not report.passed
    assert all(row.passed for row in report.rows)
    (problem_text,) = report.problems
    assert problem_text.startswith("gradient of 'b' is not deterministic: two calls differ")
    assert "(2,)" in problem_text
    assert "problem: gradient of 'b'" in str(report)
    assert problem_text in report.failure_message


def test_a_deterministic_gradient_function_passes_the_determinism_check() -> None:
    report = check_gradients(*_problem())
    assert report.problems == ()


def test_a_nondeterministic_loss_is_caught() -> None:
    problem, grads = _exact()
    calls = iter(range(1000))

    def noisy(p: dict[str, Array]) -> float:
        value = float(problem.loss_fn(p))
        return float(np.nextafter(value, np.inf)) if next(calls) % 2 else value

    report = check_gradients(noisy, problem.params, grads, names=["c"])
    assert any(p.startswith("loss_fn is not deterministic") for p in report.problems)
    assert not report.passed


def test_the_complex_step_refuses_a_loss_that_drops_the_imaginary_part() -> None:
    problem, grads = _exact()
    with pytest.raises(TypeError, match="keeps the imaginary part"):
        check_gradients(lambda p: problem.loss_fn(p).real, problem.params, grads, method="complex")


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"method": "forward"}, ValueError, r"method must be one of \['central'"),
        ({"names": ["Q"]}, ValueError, r"names must be among .* got \['Q'\]"),
        ({"names": "W"}, TypeError, "names must be a sequence of str"),
        ({"rtol": 0.0}, ValueError, "rtol must be finite and > 0, got 0.0"),
        ({"atol": -1.0}, ValueError, "atol must be a finite number ≥ 0"),
        ({"entries": 0}, ValueError, "entries must be ≥ 1, got 0"),
        ({"method": "taylor", "entries": 3}, ValueError, "entries applies to the entrywise"),
        ({"directions": 3}, ValueError, "directions applies to 'directional' and 'taylor'"),
        ({"method": "taylor", "rtol": 1e-3}, ValueError, "do not apply to 'taylor'"),
        ({"seed": -1}, ValueError, "seed must be an int ≥ 0"),
        ({"step": -1e-3}, ValueError, "step must be finite and > 0, got -0.001"),
        ({"step": "small"}, TypeError, "step must be a number, got str"),
        ({"min_order": 0.0}, ValueError, "min_order must be finite and > 0, got 0.0"),
        ({"names": []}, ValueError, "names must hold at least 1 name, got none"),
        ({"entries": 2.5}, TypeError, "entries must be an int, got float"),
    ],
)
def test_bad_options_are_refused(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    problem, grads = _exact()
    with pytest.raises(error, match=match):
        check_gradients(problem.loss_fn, problem.params, grads, **options)


def test_a_loss_function_that_is_not_callable_is_refused() -> None:
    problem, grads = _exact()
    with pytest.raises(TypeError, match="loss_fn must be callable, got float"):
        check_gradients(1.0, problem.params, grads)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ([1.0], TypeError, "params must be a mapping of names to arrays, got list"),
        ({}, ValueError, "params must hold at least 1 array, got an empty mapping"),
        ({1: np.zeros(2)}, TypeError, "names in params must be str, got 1"),
        ({"x": np.array([0.0, np.inf])}, ValueError, "parameter 'x' must be finite"),
    ],
)
def test_bad_parameters_are_refused(params: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        check_gradients(lambda p: 0.0, params, {"x": np.zeros(2)})


def test_gradients_that_are_not_a_mapping_are_refused() -> None:
    with pytest.raises(TypeError, match="grads must be a mapping of names to arrays, got list"):
        check_gradients(lambda p: 0.0, {"x": np.zeros(2)}, [np.zeros(2)])  # type: ignore[arg-type]


def test_a_complex_loss_for_real_parameters_is_refused() -> None:
    with pytest.raises(TypeError, match=r"loss_fn returned the complex 1j for real parameters"):
        check_gradients(lambda p: 1j, {"x": np.zeros(2)}, {"x": np.zeros(2)})


def test_a_loss_that_is_not_a_scalar_is_refused() -> None:
    problem, grads = _exact()
    with pytest.raises(
        TypeError, match=r"loss_fn must return a real or complex scalar, got .* \(2,\)"
    ):
        check_gradients(lambda p: np.ones(2), problem.params, grads)


# ------------------------------------------------------------------------ the report


def test_the_report_is_an_aligned_table_with_one_row_per_parameter() -> None:
    report = check_gradients(*_problem(truncation=1), method="central")
    summary, table = str(report).split("\n\n")
    lines = summary.splitlines()
    assert lines[0] == "gradient check: central differences: FAILED (4 of 6 parameters fail)"
    assert lines[1].startswith("max relative error 1.00e+00, where relative error = |a - n|")
    assert "rel err <= rtol or abs err <= atol" in lines[2]
    header, rule, *body = table.splitlines()
    for column in ("parameter", "shape", "checked", "worst", "analytic", "numeric", "abs err"):
        assert column in header
    assert [line.split()[0] for line in body] == ["U", "W", "V", "b", "c", "h0"]
    # every column boundary of the rule (two spaces) is blank in every row
    gaps = [m.start() for m in re.finditer("  ", rule)]
    assert len(gaps) == len(rule.split()) - 1
    for line in [header, *body]:
        for g in gaps:
            assert line[g : g + 2].strip() == "", (line, g)
    assert body[2].endswith("ok")
    assert body[1].endswith("FAIL (16/16)")


def test_the_failure_message_names_the_parameter_the_index_and_both_values() -> None:
    problem, grads = _exact()
    report = check_gradients(problem.loss_fn, problem.params, _double(grads))
    row = report.rows[0]
    assert row.name == "U"
    assert row.analytic == 2 * grads["U"][row.worst_index]
    np.testing.assert_allclose(row.numeric, grads["U"][row.worst_index], rtol=1e-6)
    message = report.failure_message
    assert message.startswith("gradient check (central differences) failed:\n")
    assert f"U: entry {row.worst_index}: " in message
    assert f"analytic {row.analytic:.9e}, numeric {row.numeric:.9e}" in message
    with pytest.raises(AssertionError, match=re.escape(message)):
        report.assert_passed()


def test_max_relative_error_ignores_entries_within_the_noise_floor() -> None:
    """An entry whose gradient is exactly 0 gets a numeric value of pure rounding noise."""
    A = np.array([[1.0, 0.0], [0.0, 0.0]])

    def f(p: dict[str, Array]) -> Any:
        return 1e3 + np.sum(A * p["x"] ** 2)  # 1e3 makes rounding visible

    x = np.array([[0.7, 0.2], [0.3, 0.9]])
    report = check_gradients(f, {"x": x}, {"x": 2 * A * x})
    assert report.passed
    assert report.max_relative_error < 1e-6
