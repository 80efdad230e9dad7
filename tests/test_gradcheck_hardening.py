"""The checker's options, tolerances and report fields, each pinned by a value computed here.

Every expected number is computed in the test from the function's formula (a cubic, whose
central quotient is exactly 3x² + h²), not taken from the checker.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest
from numerics import RecordingLoss

from verification import METHODS, GradientReport, check_gradients, relative_error

Array = np.ndarray[Any, Any]
EPS = float(np.finfo(np.float64).eps)


def _cube(p: dict[str, Array]) -> Any:
    """f(x) = Σ x³, with ∇f = 3x² and central quotient 3x² + h² for every step h."""
    return np.sum(p["x"] ** 3)


# ------------------------------------------------------------------------------ step=


@pytest.mark.parametrize(
    ("method", "default"),
    [("central", EPS ** (1 / 3)), ("richardson", 1e-2)],
)
def test_the_largest_step_of_an_entrywise_method_is_step_times_max_1_x(
    method: str, default: float
) -> None:
    """The step of entry x_i is ``step · max(1, |x_i|)``; the default step when not given."""
    x = np.array([0.5, -3.0])
    for step, relative in [(None, default), (1e-3, 1e-3)]:
        loss = RecordingLoss(_cube)
        check_gradients(loss, {"x": x}, {"x": 3 * x**2}, method=method, step=step)
        for i, scale in enumerate([1.0, 3.0]):
            largest = max(np.abs(q[i] - x[i]) for q in loss.points)
            np.testing.assert_allclose(largest, relative * scale, rtol=1e-9)


def test_a_valid_step_changes_the_central_quotient_as_documented() -> None:
    """For Σ x³ the quotient is 3x² + h² exactly: step 1e-2 moves it by 1e-4 at |x| ≤ 1."""
    x = np.array([0.5])
    report = check_gradients(_cube, {"x": x}, {"x": 3 * x**2}, step=1e-2)
    row = report.rows[0]
    np.testing.assert_allclose(row.numeric, 3 * 0.25 + 1e-4, rtol=1e-10)
    assert not report.passed  # 1e-4 / 1.5 is above rtol 1e-6: the step is far too large
    default = check_gradients(_cube, {"x": x}, {"x": 3 * x**2}).rows[0]
    np.testing.assert_allclose(default.numeric, 0.75 + EPS ** (2 / 3), rtol=1e-9)


def test_a_valid_step_sets_the_imaginary_step_of_the_complex_method() -> None:
    """Im (x + ih)³ / h = 3x² − h²: the default 1e-20 leaves 3x², step 1e-3 takes 1e-6 off."""
    x = np.array([0.5])
    loss = RecordingLoss(_cube)
    row = check_gradients(loss, {"x": x}, {"x": 3 * x**2}, method="complex", step=1e-3).rows[0]
    np.testing.assert_allclose(row.numeric, 0.75 - 1e-6, rtol=1e-12)
    assert {float(q.imag[0]) for q in loss.points if np.iscomplexobj(q)} == {1e-3}
    default = check_gradients(_cube, {"x": x}, {"x": 3 * x**2}, method="complex").rows[0]
    assert default.numeric == 0.75


@pytest.mark.parametrize(
    ("method", "default"), [("directional", EPS ** (1 / 3)), ("taylor", 1e-2)]
)
def test_a_valid_step_scales_the_steps_along_each_direction(method: str, default: float) -> None:
    """Same seed, same directions: every move scales by step / default step."""
    x = np.array([0.5, -0.25, 0.75])
    moves = []
    for step in (None, 1e-3):
        loss = RecordingLoss(_cube)
        check_gradients(loss, {"x": x}, {"x": 3 * x**2}, method=method, step=step)
        moves.append(np.array([np.abs(q - x).max() for q in loss.points]))
    moved = moves[0] > 0  # not the calls at x itself
    assert moved.sum() >= 16
    np.testing.assert_allclose(moves[1][moved] / moves[0][moved], 1e-3 / default, rtol=1e-6)


# ------------------------------------------------------------------------------ atol=


def test_a_valid_atol_replaces_the_rounding_floor() -> None:
    """An entry off by 1e-4 fails by default and passes on ``atol=1e-3``, reported as such."""
    x = np.array([0.5, 2.0])
    claimed = {"x": 3 * x**2 + np.array([1e-4, 0.0])}
    failing = check_gradients(_cube, {"x": x}, claimed)
    assert [row.failures for row in failing.rows] == [1]
    loose = check_gradients(_cube, {"x": x}, claimed, atol=1e-3)
    row = loose.rows[0]
    assert loose.passed
    assert row.atol == 1e-3
    assert (row.passed_on, row.by_atol) == ("atol", 1)
    assert row.worst_index == (0,)  # the larger relative error
    expected = relative_error(0.75 + 1e-4, 0.75 + EPS ** (2 / 3))  # 3x² + h² at x = 0.5
    np.testing.assert_allclose(row.rel_error, expected, rtol=1e-6)


def test_atol_zero_fails_an_exact_gradient_measured_through_rounding() -> None:
    """∂/∂y of 1 + x² + 1e-12 y² is 2e-12 y, far below rounding: only the floor passes it."""

    def loss(p: dict[str, Array]) -> Any:
        return 1.0 + p["x"][0] ** 2 + 1e-12 * p["x"][1] ** 2

    x = np.array([0.5, 0.5])
    exact = {"x": np.array([1.0, 1e-12])}
    row = check_gradients(loss, {"x": x}, exact).rows[0]
    assert (row.passed, row.by_atol) == (True, 1)
    assert not check_gradients(loss, {"x": x}, exact, atol=0.0).passed


# ------------------------------------------------------------ the rounding floors


def test_the_central_floor_is_32_eps_times_the_loss_over_the_width() -> None:
    x = np.array([0.5])

    def loss(p: dict[str, Array]) -> Any:
        return 1e3 + np.sum(p["x"] ** 3)

    row = check_gradients(loss, {"x": x}, {"x": 3 * x**2}).rows[0]
    h = EPS ** (1 / 3)
    plus, minus = x[0] + h, x[0] - h
    floor = 32 * EPS * (abs(1e3 + plus**3) + abs(1e3 + minus**3)) / (plus - minus)
    np.testing.assert_allclose(row.atol, floor, rtol=1e-12)


def test_the_directional_floor_is_32_eps_times_the_loss_over_twice_the_step() -> None:
    x = np.array([0.5, -1.5])

    def loss(p: dict[str, Array]) -> Any:
        return 1e3 + np.sum(p["x"] ** 3)

    row = check_gradients(loss, {"x": x}, {"x": 3 * x**2}, method="directional").rows[0]
    assert row.probe is not None
    h = EPS ** (1 / 3) * 1.5  # step · max(1, max |x|)
    d = row.probe
    f_plus, f_minus = loss({"x": x + h * d}), loss({"x": x - h * d})
    np.testing.assert_allclose(row.atol, 32 * EPS * (abs(f_plus) + abs(f_minus)) / (2 * h))
    np.testing.assert_allclose(row.numeric, (f_plus - f_minus) / (2 * h), rtol=1e-12)


def test_the_complex_floor_is_1024_eps_times_the_largest_gradient_entry() -> None:
    x = np.array([0.5, -2.0])
    row = check_gradients(_cube, {"x": x}, {"x": 3 * x**2}, method="complex").rows[0]
    assert row.atol == 1024 * EPS * 12.0


def test_the_ridders_floor_is_at_least_four_times_its_error_estimate() -> None:
    x = np.array([0.5, -2.0])
    report = check_gradients(
        lambda p: np.sum(np.sin(p["x"])), {"x": x}, {"x": np.cos(x)}, method="richardson"
    )
    row = report.rows[0]
    assert row.error_estimate is not None
    assert row.atol >= 4 * row.error_estimate
    np.testing.assert_allclose(row.numeric, np.cos(x)[row.worst_index], rtol=1e-10)


# -------------------------------------------------- small wrong and near-zero entries


def _small_quadratic(p: dict[str, Array]) -> Any:
    """1 + 1e-6 y² + x₀² with y = p["x"][1]: ∂/∂y = 2e-6 y is small but not rounding."""
    return 1.0 + p["x"][0] ** 2 + 1e-6 * p["x"][1] ** 2


@pytest.mark.parametrize("method", ["central", "directional"])
def test_a_small_but_wrong_entry_fails(method: str) -> None:
    """A claim of 3e-6 for 2e-6 is off by 1e-6, some 800 times the central floor of 1.2e-9."""
    x = np.array([0.25, 1.0])
    wrong = {"x": np.array([0.5, 3e-6])}
    report = check_gradients(_small_quadratic, {"x": x}, wrong, method=method)
    assert not report.passed
    exact = {"x": np.array([0.5, 2e-6])}
    check_gradients(_small_quadratic, {"x": x}, exact, method=method).assert_passed()


@pytest.mark.parametrize("method", METHODS)
def test_a_near_zero_exact_entry_passes(method: str) -> None:
    """∂/∂y of 1 + x² + 1e-14 y² is 2e-14 y: below rounding, numerically zero or noise."""

    def loss(p: dict[str, Array]) -> Any:
        return 1.0 + p["x"][0] ** 2 + 1e-14 * p["x"][1] ** 2

    x = np.array([0.5, 0.5])
    check_gradients(loss, {"x": x}, {"x": np.array([1.0, 1e-14])}, method=method).assert_passed()


# ------------------------------------------------------------ worst entry and max


def test_the_worst_entry_is_the_failing_one_with_the_largest_relative_error() -> None:
    x = np.array([0.3, -0.7, 1.2])
    claimed = 3 * x**2 * np.array([1.0, 1 + 1e-3, 1 + 1e-4])
    report = check_gradients(_cube, {"x": x}, {"x": claimed})
    row = report.rows[0]
    h = EPS ** (1 / 3) * np.maximum(1.0, np.abs(x))
    numeric = 3 * x**2 + h**2  # the central quotient of a cubic, exactly
    expected = relative_error(claimed, numeric)
    assert (row.checked, row.failures, row.worst_index) == (3, 2, (1,))
    assert row.analytic == claimed[1]
    np.testing.assert_allclose(row.numeric, numeric[1], rtol=1e-9)
    np.testing.assert_allclose(row.abs_error, abs(claimed[1] - numeric[1]), rtol=1e-6)
    np.testing.assert_allclose(row.rel_error, expected[1], rtol=1e-6)
    np.testing.assert_allclose(report.max_relative_error, expected.max(), rtol=1e-6)
    assert (row.passed, row.passed_on, row.tolerance) == (False, "", 1e-6)


def test_max_relative_error_of_a_passing_check_is_its_largest_entry() -> None:
    """At step 1e-3 the quotient's h² (1e-6) dwarfs its rounding (about 1e-13)."""
    x = np.array([0.3, -0.7, 1.2])
    report = check_gradients(_cube, {"x": x}, {"x": 3 * x**2}, step=1e-3, rtol=1e-4)
    h = 1e-3 * np.maximum(1.0, np.abs(x))
    expected = relative_error(3 * x**2, 3 * x**2 + h**2)
    assert report.rows[0].worst_index == (int(np.argmax(expected)),)
    assert report.rows[0].passed_on == "rtol"
    np.testing.assert_allclose(report.max_relative_error, expected.max(), rtol=1e-6)


def test_max_relative_error_is_the_largest_over_the_rows() -> None:
    x, y = np.array([0.5]), np.array([0.25])

    def loss(p: dict[str, Array]) -> Any:
        return np.sum(p["x"] ** 3) + np.sum(p["y"] ** 3)

    report = check_gradients(loss, {"x": x, "y": y}, {"x": 3 * x**2 * 1.01, "y": 3 * y**2 * 1.1})
    expected = relative_error(3 * y**2 * 1.1, 3 * y**2 + EPS ** (2 / 3))[0]
    np.testing.assert_allclose(report.max_relative_error, expected, rtol=1e-9)


# ------------------------------------------------------------------- the Taylor rows


def _taylor_expected(
    x: Array, g: Array, loss: RecordingLoss, k: int
) -> tuple[float, float, float]:
    """⟨g, d⟩, the forward quotient at the smallest step, and the fitted order, from scratch.

    The checker evaluates f twice (determinism), at x, then at x + h d for 16 halving
    steps from 1e-2 · max(1, max |x|) per direction: direction k's first point gives d."""
    h = 1e-2 * max(1.0, np.abs(x).max()) * 0.5 ** np.arange(16)
    d = (loss.points[3 + 16 * k] - x) / h[0]
    f0 = float(_cube({"x": x}))
    values = np.array([float(_cube({"x": x + s * d})) for s in h])
    remainder = np.abs(values - f0 - h * float(g @ d))
    order = np.polyfit(np.log(h[-4:]), np.log(remainder[-4:]), 1)[0]
    return float(g @ d), (values[-1] - f0) / h[-1], float(order)


def test_the_taylor_row_of_a_wrong_gradient_holds_every_direction_fitted_independently() -> None:
    x = np.array([0.5, -0.25, 0.75])
    g = 3 * x**2 + np.array([0.1, 0.0, 0.0])
    loss = RecordingLoss(_cube)
    report = check_gradients(loss, {"x": x}, {"x": g}, method="taylor", directions=3)
    row = report.rows[0]
    expected = [_taylor_expected(x, g, loss, k) for k in range(3)]
    worst = int(np.argmin([e[2] for e in expected]))
    analytic, numeric, order = expected[worst]
    assert (row.checked, row.failures, row.inconclusive, row.passed) == (3, 3, 0, False)
    assert row.worst_index == (worst,)
    np.testing.assert_allclose(row.analytic, analytic, rtol=1e-12)
    np.testing.assert_allclose(row.numeric, numeric, rtol=1e-9)
    np.testing.assert_allclose(row.order, order, rtol=1e-6)
    np.testing.assert_allclose(row.abs_error, abs(analytic - numeric), rtol=1e-6)
    np.testing.assert_allclose(row.rel_error, relative_error(analytic, numeric), rtol=1e-6)
    np.testing.assert_allclose(report.max_relative_error, row.rel_error, rtol=0)
    assert abs(order - 1.0) < 0.05
    assert (row.tolerance, math.isnan(row.atol), row.passed_on) == (1.5, True, "")
    assert "3 of 3 directions fail" in report.failure_message


def test_the_taylor_row_of_an_exact_gradient_has_order_two() -> None:
    x = np.array([0.5, -0.25, 0.75])
    loss = RecordingLoss(_cube)
    report = check_gradients(loss, {"x": x}, {"x": 3 * x**2}, method="taylor")
    row = report.rows[0]
    orders = [_taylor_expected(x, 3 * x**2, loss, k)[2] for k in range(2)]
    assert (row.checked, row.failures, row.passed, row.passed_on) == (2, 0, True, "order")
    assert row.worst_index == (int(np.argmin(orders)),)
    np.testing.assert_allclose(row.order, min(orders), rtol=1e-6)
    assert row.steps is not None
    assert row.remainders is not None
    np.testing.assert_allclose(row.steps, 1e-2 * 0.5 ** np.arange(16), rtol=1e-15)


def test_a_taylor_direction_without_usable_remainders_is_inconclusive_and_fails() -> None:
    """f = 10³ + Σ x is affine: r(h) is rounding at every step, too flat to fit an order."""

    def affine(p: dict[str, Array]) -> Any:
        return 1e3 + np.sum(p["x"])

    x = np.array([0.5, -0.25])
    report = check_gradients(affine, {"x": x}, {"x": np.ones(2)}, method="taylor")
    row = report.rows[0]
    assert not report.passed
    assert (row.failures, row.inconclusive, row.checked) == (0, 2, 2)
    assert math.isnan(row.order or 0.0)
    assert "2 of 2 directions inconclusive" in report.failure_message
    assert "method 'central' or 'complex'" in report.failure_message
    assert str(report).splitlines()[-1].endswith("FAIL (2/2)")


def test_a_nearly_affine_direction_doubles_the_step_until_the_remainder_shows() -> None:
    """f = Σ x + 1e-9 x₀²: its curvature shows above rounding only at steps beyond 1e-2."""

    def loss(p: dict[str, Array]) -> Any:
        return 1e3 + np.sum(p["x"]) + 1e-9 * p["x"][0] ** 2

    x = np.array([0.5, -0.25])
    report = check_gradients(loss, {"x": x}, {"x": np.array([1 + 1e-9, 1.0])}, method="taylor")
    row = report.rows[0]
    report.assert_passed()
    assert row.steps is not None
    assert 16 < len(row.steps) <= 24
    np.testing.assert_allclose(row.steps[0], 1e-2 * 2 ** (len(row.steps) - 16), rtol=1e-15)


def test_a_loss_constant_along_a_direction_with_a_zero_claim_passes_taylor() -> None:
    """No remainder at all, not even rounding: f is affine along d with the claimed slope."""
    x = np.array([0.5, -0.25])
    report = check_gradients(lambda p: 2.0, {"x": x}, {"x": np.zeros(2)}, method="taylor")
    assert report.passed
    assert report.rows[0].inconclusive == 0


# --------------------------------------------------------------- zero-size parameters


@pytest.mark.parametrize("method", METHODS)
def test_a_parameter_without_entries_is_checked_trivially(method: str) -> None:
    x, empty = np.array([0.5, -1.0]), np.zeros((0, 3))

    def loss(p: dict[str, Array]) -> Any:
        return np.sum(p["x"] ** 3) + np.sum(p["e"])

    report = check_gradients(
        loss, {"x": x, "e": empty}, {"x": 3 * x**2, "e": empty}, method=method
    )
    report.assert_passed()
    row = report.rows[1]
    assert (row.name, row.shape, row.checked, row.failures, row.passed) == (
        "e",
        (0, 3),
        0,
        0,
        True,
    )
    assert "(0, 3)" in str(report)
    assert report.max_relative_error < 1e-5


# ------------------------------------------------------------ an ignored parameter


@pytest.mark.parametrize("method", METHODS)
def test_a_parameter_the_loss_ignores_is_named_in_the_message(method: str) -> None:
    x, y = np.array([0.5, -1.0]), np.array([0.25, 2.0])
    claimed = {"x": 3 * x**2, "y": 3 * y**2}
    report = check_gradients(_cube, {"x": x, "y": y}, claimed, method=method)
    assert [row.name for row in report.rows if not row.passed] == ["y"]
    assert report.rows[0].note == ""
    assert "loss_fn probably ignores 'y' (does it read p['y']?)" in report.failure_message


def test_a_zero_claim_for_an_ignored_parameter_is_not_flagged() -> None:
    x, y = np.array([0.5, -1.0]), np.array([0.25, 2.0])
    report = check_gradients(_cube, {"x": x, "y": y}, {"x": 3 * x**2, "y": np.zeros(2)})
    report.assert_passed()
    assert report.rows[1].note == ""


# ------------------------------------------------------------- the tolerance used


def test_each_row_says_which_tolerance_its_worst_entry_passed_on() -> None:
    """x passes on rtol; z, whose gradient 2e-14 z is lost in rounding, on atol."""

    def loss(p: dict[str, Array]) -> Any:
        return 1e3 + np.sum(p["x"] ** 3) + 1e-14 * np.sum(p["z"] ** 2)

    x, z = np.array([0.5, -1.0]), np.array([0.3, 0.4, 0.5])
    report = check_gradients(loss, {"x": x, "z": z}, {"x": 3 * x**2, "z": 2e-14 * z})
    rows = {row.name: row for row in report.rows}
    assert (rows["x"].passed_on, rows["x"].by_atol) == ("rtol", 0)
    assert (rows["z"].passed_on, rows["z"].by_atol) == ("atol", 3)
    table = str(report).split("\n\n")[1].splitlines()
    assert "passed on" in table[0]
    assert re.search(r"\s+rtol\s+ok$", table[2])
    assert re.search(r"\s+atol\s+ok$", table[3])


def test_a_row_counts_the_entries_that_passed_on_atol_alone() -> None:
    def loss(p: dict[str, Array]) -> Any:
        return 1e3 + p["x"][0] ** 3 + 1e-14 * p["x"][1] ** 2

    x = np.array([0.5, 0.7])
    report = check_gradients(loss, {"x": x}, {"x": np.array([0.75, 1.4e-14])})
    assert (report.rows[0].passed_on, report.rows[0].by_atol) == ("rtol", 1)
    assert str(report).splitlines()[-1].endswith("  rtol; 1 of 2 by atol  ok")


# ------------------------------------------------------------------ plain numbers


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"step": np.float64(-1.0)}, "step must be finite and > 0, got -1.0"),
        ({"rtol": np.float64(0.0)}, "rtol must be finite and > 0, got 0.0"),
        ({"atol": np.float64(-2.0)}, "atol must be a finite number ≥ 0, got -2.0"),
        ({"min_order": np.float64(-1.5)}, "min_order must be finite and > 0, got -1.5"),
        ({"seed": np.int64(-3)}, "seed must be an int ≥ 0, got -3"),
    ],
)
def test_messages_print_numpy_numbers_as_plain_numbers(
    options: dict[str, Any], match: str
) -> None:
    x = np.array([0.5])
    with pytest.raises((ValueError, TypeError), match=re.escape(match) + "$"):
        check_gradients(_cube, {"x": x}, {"x": 3 * x**2}, **options)


def test_determinism_problems_print_plain_numbers() -> None:
    x = np.array([0.5])
    calls = iter(range(100))

    def drifting_loss(p: dict[str, Array]) -> Any:
        return np.float64(0.25) if next(calls) % 2 else np.float64(0.5)

    def drifting_grad() -> dict[str, Array]:
        return {"x": np.array([0.75 if next(calls) % 2 else 0.5])}

    report = check_gradients(drifting_loss, {"x": x}, drifting_grad)
    text = report.failure_message + str(report)
    assert "np.float64" not in text
    assert "gradient of 'x' is not deterministic: two calls differ at index (0,): " in text
    assert re.search(r"two calls differ at index \(0,\): 0\.\d+ vs 0\.\d+", text)
    assert re.search(r"loss_fn is not deterministic: two calls gave 0\.\d+ and 0\.\d+", text)


def test_a_report_built_by_hand_is_a_gradient_report() -> None:
    """The new fields have defaults, so a row can still be written out by hand."""
    report = GradientReport("central", ())
    assert report.passed
    assert report.max_relative_error == 0.0


def test_a_valid_atol_replaces_the_floor_of_every_direction() -> None:
    """A claim off by 1e-4 fails the default floor and passes atol=1e-2, on every direction."""
    x = np.array([0.5, 2.0])
    claimed = {"x": 3 * x**2 + np.array([1e-4, 0.0])}
    assert not check_gradients(_cube, {"x": x}, claimed, method="directional").passed
    report = check_gradients(_cube, {"x": x}, claimed, method="directional", atol=1e-2)
    row = report.rows[0]
    assert (report.passed, row.atol, row.checked) == (True, 1e-2, 16)
