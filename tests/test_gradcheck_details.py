"""The checker's finer contracts: Ridders' tableau, the Taylor test's choice of steps and of
its worst direction, the options check_vjp passes on, and the report's exact text."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from numerics import RecordingLoss

from verification import METHODS, GradientReport, check_gradients, check_vjp, relative_error

Array = np.ndarray[Any, Any]
EPS = float(np.finfo(np.float64).eps)


# ------------------------------------------------------------------ Ridders' tableau


def _ridders(f: Any, x: float, h: float) -> tuple[float, float]:
    """Ridders' extrapolation as in Numerical Recipes' ``dfridr``: steps shrink by 1.4, each
    new column cancels one more even power of h, the answer is the entry whose difference
    from its two parents is least, and the tableau stops when the diagonal's error exceeds
    twice the best error. Quotients divide by the rounded width (x + h) − (x − h)."""
    table: list[list[float]] = []
    best, error = math.nan, math.inf
    for m in range(10):
        step = h / 1.4**m
        plus, minus = x + step, x - step
        column = [(f(plus) - f(minus)) / (plus - minus)]
        factor = 1.4**2
        for k in range(1, m + 1):
            column.append((column[k - 1] * factor - table[m - 1][k - 1]) / (factor - 1))
            factor *= 1.4**2
            err = max(abs(column[k] - column[k - 1]), abs(column[k] - table[m - 1][k - 1]))
            if err <= error:
                best, error = column[k], err
        table.append(column)
        if m > 0 and abs(column[m] - table[m - 1][m - 1]) >= 2 * error:
            break
    return best, error


@pytest.mark.parametrize(
    "x0",
    [
        0.3,
        1.7,
        -4.0,
        -4.7,  # stops where the diagonal's error is between 2 and 3 times the best error
        1.26,  # two entries of the tableau tie for the least error: the later one is kept
        2.8,  # the same
    ],
)
def test_ridders_matches_the_textbook_tableau(x0: float) -> None:
    def f(v: float) -> float:
        return float(np.exp(np.sin(v)) + v**4 / 24)

    report = check_gradients(
        lambda p: f(p["x"][0]),
        {"x": np.array([x0])},
        {"x": np.array([np.cos(x0) * np.exp(np.sin(x0)) + x0**3 / 6])},
        method="richardson",
    )
    row = report.rows[0]
    best, error = _ridders(f, x0, 1e-2 * max(1.0, abs(x0)))
    assert row.numeric == best
    assert row.error_estimate == error
    report.assert_passed()


def test_ridders_stops_at_the_first_extrapolation_whose_error_is_exactly_zero() -> None:
    """For a parameter the loss ignores every quotient is exactly 0, so the first
    extrapolation has error 0 and the diagonal cannot do better: two levels, four
    evaluations per entry (after the two calls of the determinism check)."""
    x, b = np.array([0.5, -1.0]), np.array([0.25, 2.0, -3.0])
    calls = []

    def loss(p: dict[str, Array]) -> Any:
        calls.append(1)
        return _cube(p)

    claimed = {"x": 3 * x**2, "b": np.zeros(3)}
    report = check_gradients(loss, {"x": x, "b": b}, claimed, method="richardson", names=["b"])
    report.assert_passed()
    assert report.rows[0].error_estimate == 0.0
    assert len(calls) == 2 + 4 * 3


# ----------------------------------------------------------------- the Taylor test


def _cube(p: dict[str, Array]) -> Any:
    return np.sum(p["x"] ** 3)


def _taylor_curve(
    f: Any, x: Array, g: Array, d: Array, steps: Array
) -> tuple[Array, Array, Array]:
    """f(x + h d), the remainders and the documented floor 10 ε (|f(x)| + |f(x + h d)|)."""
    f0 = float(f({"x": x}))
    values = np.array([float(f({"x": x + h * d})) for h in steps])
    remainder = np.abs(values - f0 - steps * float(g @ d))
    return values, remainder, 10 * EPS * (abs(f0) + np.abs(values))


def test_the_largest_taylor_step_scales_with_the_largest_entry() -> None:
    """1e-2 · max(1, max |x|): for max |x| = 4 the first step is 0.04."""
    x = np.array([4.0, -0.5])
    row = check_gradients(_cube, {"x": x}, {"x": 3 * x**2}, method="taylor").rows[0]
    assert row.steps is not None
    np.testing.assert_allclose(row.steps, 0.04 * 0.5 ** np.arange(16), rtol=1e-15)


def test_the_worst_taylor_direction_is_the_lowest_order() -> None:
    """Five directions of an exact gradient: the worst is the one fitted lowest."""
    x = np.array([0.5, -0.25, 0.75])
    g = 3 * x**2
    loss = RecordingLoss(_cube)
    row = check_gradients(loss, {"x": x}, {"x": g}, method="taylor", directions=5).rows[0]
    steps = 1e-2 * 0.5 ** np.arange(16)
    orders, numerics = [], []
    for k in range(5):
        d = (loss.points[3 + 16 * k] - x) / steps[0]
        values, remainder, floor = _taylor_curve(_cube, x, g, d, steps)
        fit = np.flatnonzero(remainder > floor)[-4:]
        orders.append(np.polyfit(np.log(steps[fit]), np.log(remainder[fit]), 1)[0])
        numerics.append((values[fit[-1]] - float(_cube({"x": x}))) / steps[fit[-1]])
    worst = int(np.argmin(orders))
    assert worst != 0  # so that the choice is seen
    assert row.worst_index == (worst,)
    np.testing.assert_allclose(row.order, orders[worst], rtol=1e-9)
    # the forward quotient at the smallest step whose remainder is above rounding
    np.testing.assert_allclose(row.numeric, numerics[worst], rtol=1e-12)


def test_a_direction_affine_on_one_side_is_inconclusive_only_there() -> None:
    """f = 10³ + Σ x + max(x₀ − ½, 0)² at x₀ = ½: curved where d₀ > 0, affine where d₀ < 0.
    The claimed gradient (1, 1) is exact; the affine directions cannot be judged."""

    def loss(p: dict[str, Array]) -> Any:
        return 1e3 + np.sum(p["x"]) + max(p["x"][0] - 0.5, 0.0) ** 2

    x = np.array([0.5, 0.25])
    recording = RecordingLoss(loss)
    row = check_gradients(recording, {"x": x}, {"x": np.ones(2)}, method="taylor", directions=6)
    row = row.rows[0]
    signs, point = [], 3
    for _ in range(6):  # each direction: 16 steps, then up to 8 doublings while affine
        d = (recording.points[point] - x) / 1e-2
        signs.append(d[0] > 0)
        point += 16 + (0 if d[0] > 0 else 8)
    flat = [k for k, curved in enumerate(signs) if not curved]
    assert 0 < len(flat) < 6
    assert (row.failures, row.inconclusive, row.passed) == (0, len(flat), False)
    assert row.worst_index == (flat[0],)
    assert math.isnan(row.order or 0.0)


def test_an_inconclusive_direction_reports_the_quotient_at_its_smallest_step() -> None:
    def affine(p: dict[str, Array]) -> Any:
        return 3.0 + 2 * p["x"][0] - p["x"][1]

    x = np.array([0.5, -0.25])
    loss = RecordingLoss(affine)
    report = check_gradients(loss, {"x": x}, {"x": np.array([2.0, -1.0])}, method="taylor")
    row = report.rows[0]
    d = (loss.points[3] - x) / 1e-2
    smallest = 1e-2 * 0.5**15
    f0 = float(affine({"x": x}))
    np.testing.assert_allclose(row.numeric, (affine({"x": x + smallest * d}) - f0) / smallest)
    np.testing.assert_allclose(row.analytic, float(np.array([2.0, -1.0]) @ d), rtol=1e-12)
    assert row.steps is not None
    assert row.remainders is not None
    assert len(row.steps) == 24
    # the forward quotient at the smallest step: |numeric − ⟨g, d⟩| = r(h) / h there; the
    # quotient itself rounds by about ε |⟨g, d⟩| ≈ 5e-16, under 1e-6 of r(h) / h
    ratios = row.remainders / row.steps
    assert relative_error(ratios[-1], ratios[-2]) > 1e-2  # so that the step is seen
    np.testing.assert_allclose(row.abs_error, ratios[-1], rtol=1e-4)
    assert row.note == (
        "2 of 2 directions inconclusive: only 0 of 24 remainders rose above rounding, "
        "4 are needed to fit an order; check 'x' with method 'central' or 'complex'"
    )
    assert report.failure_message.endswith(f"\n  x: {row.note}")


def test_the_step_doubles_until_four_remainders_rise_above_rounding() -> None:
    """f = 10³ + Σ x + 1e-9 x₀²: the number of doublings is the least that gives four."""

    def loss(p: dict[str, Array]) -> Any:
        return 1e3 + np.sum(p["x"]) + 1e-9 * p["x"][0] ** 2

    x = np.array([0.5, -0.25])
    g = np.array([1 + 1e-9, 1.0])
    recording = RecordingLoss(loss)
    row = check_gradients(recording, {"x": x}, {"x": g}, method="taylor", directions=1).rows[0]
    d = (recording.points[3] - x) / 1e-2
    for doublings in range(9):
        steps = 1e-2 * 2.0 ** np.arange(doublings, -16, -1)
        _, remainder, floor = _taylor_curve(loss, x, g, d, steps)
        if np.sum(remainder > floor) >= 4:
            break
    assert 0 < doublings < 8
    assert row.steps is not None
    np.testing.assert_allclose(row.steps, steps, rtol=1e-15)
    assert row.passed


def test_a_zero_loss_passes_taylor_with_a_zero_claim() -> None:
    """Loss ≡ 0 (a vocabulary of one character): no remainder, and a floor of 0 too."""
    x = np.array([0.5, -0.25])
    report = check_gradients(lambda p: 0.0, {"x": x}, {"x": np.zeros(2)}, method="taylor")
    report.assert_passed()
    row = report.rows[0]
    assert (row.inconclusive, row.failures) == (0, 0)
    # no direction is worse than another: the first is reported
    assert row.worst_index == (0,)
    # a remainder of exactly 0 is not above a floor of 0: the step grows to its limit
    assert row.steps is not None
    assert len(row.steps) == 16 + 8


def test_the_taylor_quotient_is_taken_at_the_smallest_step_above_rounding() -> None:
    """f = 10⁶ + Σ x³: below h ≈ 10⁻⁴ the remainder sinks under the floor 10 ε · 2 · 10⁶, so
    the smallest steps do not count. The row's numeric value is the forward quotient at the
    smallest step that does: there, by the definition of the remainder,
    |numeric − ⟨g, d⟩| = r(h) / h."""

    def loss(p: dict[str, Array]) -> Any:
        return 1e6 + np.sum(p["x"] ** 3)

    x = np.array([0.5, 0.75])
    g = 3 * x**2
    recording = RecordingLoss(loss)
    row = check_gradients(recording, {"x": x}, {"x": g}, method="taylor", directions=1).rows[0]
    assert row.steps is not None
    assert row.remainders is not None
    d = (recording.points[3] - x) / 1e-2
    _, remainder, floor = _taylor_curve(loss, x, g, d, row.steps)
    assert np.all(np.abs(remainder / floor - 1) > 0.1)  # no step sits near the floor
    last = int(np.flatnonzero(remainder > floor)[-1])
    assert last < len(row.steps) - 1  # so that the choice of step is seen
    np.testing.assert_allclose(row.abs_error, row.remainders[last] / row.steps[last], rtol=1e-9)


def test_a_fitted_order_equal_to_min_order_passes() -> None:
    """The bar is "at least min_order": rerun with min_order set to the order just fitted."""
    x = np.array([0.5, 2.0])
    claimed = {"x": 3 * x**2}
    first = check_gradients(_cube, {"x": x}, claimed, method="taylor", directions=1).rows[0]
    assert first.order is not None
    assert math.isfinite(first.order)
    again = check_gradients(
        _cube, {"x": x}, claimed, method="taylor", directions=1, min_order=first.order
    ).rows[0]
    assert (again.passed, again.failures, again.order) == (True, 0, first.order)
    assert again.shape == (2,)


def test_a_low_fit_with_a_local_order_equal_to_min_order_is_not_judged() -> None:
    """A fit below min_order fails only if every local order is below it too; one local
    order exactly at min_order makes the direction unjudged (order NaN), which passes.
    Σ x³ at positive x: every remainder is far above rounding, so the fit uses the last
    four steps, and its slope lies below the largest of their three local orders."""
    x = np.array([0.5, 2.0])
    claimed = {"x": 3 * x**2}
    first = check_gradients(_cube, {"x": x}, claimed, method="taylor", directions=1).rows[0]
    assert first.steps is not None
    assert first.remainders is not None
    # |f| < 9 on every step, so every remainder is ten times above 10 ε (|f(x)| + |f(x + h d)|)
    assert np.all(first.remainders > 10 * (10 * EPS * 2 * 9.0))
    log_h, log_r = np.log(first.steps[-4:]), np.log(first.remainders[-4:])
    local = np.diff(log_r) / np.diff(log_h)
    assert first.order is not None
    assert first.order < local.max()
    again = check_gradients(
        _cube, {"x": x}, claimed, method="taylor", directions=1, min_order=float(local.max())
    )
    assert again.passed
    assert math.isnan(again.rows[0].order or 0.0)


def test_min_order_may_be_below_one() -> None:
    """Any positive bar is accepted: at 0.5 even a wrong gradient (order 1) passes."""
    x = np.array([0.5, -1.0])
    wrong = {"x": 3 * x**2 + 0.1}
    assert not check_gradients(_cube, {"x": x}, wrong, method="taylor").passed
    row = check_gradients(_cube, {"x": x}, wrong, method="taylor", min_order=0.5).rows[0]
    assert row.passed
    assert row.order is not None
    np.testing.assert_allclose(row.order, 1.0, atol=0.1)


def test_four_remainders_lifted_above_rounding_are_enough_to_fit_a_wrong_order() -> None:
    """f = 1 + x₀ + x₁ with a claim off by 10⁻¹³: at h = 10⁻² the remainder h ⟨δ, d⟩ is
    below the floor 10 ε (|f| + |f|); the step doubles until exactly four remainders rise
    above it, and those four fit order 1, so the claim fails."""

    def loss(p: dict[str, Array]) -> Any:
        return 1.0 + p["x"][0] + p["x"][1]

    x = np.array([0.5, -0.25])
    claimed = {"x": np.ones(2) + 1e-13}
    row = check_gradients(loss, {"x": x}, claimed, method="taylor", directions=1).rows[0]
    assert row.steps is not None
    assert len(row.steps) > 16  # the step had to grow
    assert (row.passed, row.failures, row.inconclusive) == (False, 1, 0)
    assert row.order is not None
    np.testing.assert_allclose(row.order, 1.0, atol=0.2)


def test_a_claim_of_ones_for_an_ignored_parameter_is_flagged_by_taylor() -> None:
    x, y = np.array([0.5, -1.0]), np.array([0.25, 2.0])
    claimed = {"x": 3 * x**2, "y": np.ones(2)}
    report = check_gradients(_cube, {"x": x, "y": y}, claimed, method="taylor")
    assert report.rows[1].note == (
        "every numeric derivative of 'y' is exactly 0 but the claimed gradient is not: "
        "loss_fn probably ignores 'y' (does it read p['y']?)"
    )


# ------------------------------------------------------------ options of check_vjp


def _layer() -> tuple[Any, dict[str, Array], Array, dict[str, Array]]:
    rng = np.random.default_rng(5)
    inputs = {"x": rng.standard_normal((3, 4)), "W": rng.standard_normal((4, 2))}
    dout = rng.standard_normal((3, 2))

    def f(p: dict[str, Array]) -> Any:
        return np.tanh(p["x"] @ p["W"])

    da = dout * (1 - f(inputs) ** 2)
    return f, inputs, dout, {"x": da @ inputs["W"].T, "W": inputs["x"].T @ da}


@pytest.mark.parametrize(
    "options",
    [
        {"names": ["W"]},
        {"entries": 2, "seed": 3},
        {"method": "directional", "directions": 3},
        {"method": "directional", "directions": 3, "seed": 0},
        {"rtol": 1e-3},
        {"atol": 0.5},
        {"method": "complex", "step": 1e-3},
        {"method": "taylor", "min_order": 1.9},
    ],
)
def test_check_vjp_passes_every_option_on(options: dict[str, Any]) -> None:
    """check_vjp with an option gives the rows of check_gradients on ⟨u, f⟩ with it."""
    f, inputs, dout, claimed = _layer()
    vjp = check_vjp(f, inputs, dout, claimed, **options)
    scalar = check_gradients(lambda p: np.sum(dout * f(p)), inputs, claimed, **options)
    keys = ["name", "checked", "worst_index", "numeric", "tolerance"]
    keys += [] if "atol" not in options else ["atol"]
    for a, b in zip(vjp.rows, scalar.rows, strict=True):
        assert [getattr(a, k) for k in keys] == [getattr(b, k) for k in keys]
    default = check_vjp(f, inputs, dout, claimed, method=options.get("method", "central"))
    assert vjp.rows != default.rows or options.get("seed") == 0


# --------------------------------------------------------------- the report's text


def test_the_report_of_a_complex_step_check_is_this_table() -> None:
    """Im (x + ih)³ / h = 3x² exactly at h = 1e-20, so every number is known: the claim 1.0
    for 3 · 0.5² = 0.75 has abs err 0.25 and rel err 0.25 / 1.75."""
    x = np.array([0.5, -1.0])
    report = check_gradients(_cube, {"x": x}, {"x": np.array([1.0, 3.0])}, method="complex")
    assert str(report) == "\n".join(
        [
            "gradient check: complex step: FAILED (1 of 1 parameters fail)",
            "max relative error 1.43e-01, where relative error = |a - n| / max(|a| + |n|, tiny)",
            "an entry passes when rel err <= rtol or abs err <= atol, the rounding floor",
            "",
            "parameter  shape  checked  worst      analytic       numeric  abs err  rel err"
            "   rtol     atol  passed on  result",
            "---------  -----  -------  -----  ------------  ------------  -------  -------"
            "  -----  -------  ---------  ----------",
            "x          (2,)         2   (0,)  1.000000e+00  7.500000e-01  2.5e-01  1.4e-01"
            "  1e-12  6.8e-13  -          FAIL (1/2)",
        ]
    )
    assert report.failure_message == (
        "gradient check (complex step) failed:\n"
        "  x: entry (0,): analytic 1.000000000e+00, numeric 7.500000000e-01 (relative error "
        "1.4e-01 > rtol 1e-12, absolute error 2.5e-01 > atol 6.8e-13); 1 of 2 entries fail"
    )
    np.testing.assert_allclose(report.max_relative_error, 0.25 / 1.75, rtol=1e-15)


def test_a_passing_report_says_passed_and_counts_no_failures() -> None:
    x = np.array([0.5, -1.0])
    report = check_gradients(_cube, {"x": x}, {"x": 3 * x**2}, method="complex")
    first, *_ = str(report).splitlines()
    assert first == "gradient check: complex step: passed"
    assert str(report).splitlines()[-1].endswith("  rtol       ok")


def test_directional_and_taylor_tables_name_directions() -> None:
    x = np.array([0.5, -1.0])
    for method, rule in [
        ("directional", "a direction d passes when the rel err of <g, d> <= rtol"),
        ("taylor", "a direction d passes when |f(x + h d) - f(x) - h <g, d>| falls as h^order"),
    ]:
        text = str(check_gradients(_cube, {"x": x}, {"x": 3 * x**2}, method=method))
        lines = text.splitlines()
        assert lines[2].startswith(rule)
        assert " dir " in lines[-1]
    taylor = str(check_gradients(_cube, {"x": x}, {"x": 3 * x**2}, method="taylor"))
    header = taylor.split("\n\n")[1].splitlines()[0]
    assert header.split() == [
        "parameter", "shape", "checked", "worst", "analytic", "numeric", "abs", "err",
        "rel", "err", "min", "order", "order", "passed", "on", "result",
    ]  # fmt: skip
    assert taylor.splitlines()[-1].split()[-3:] == ["2.00", "order", "ok"]


def test_the_ridders_table_has_the_error_estimate_column() -> None:
    x = np.array([0.5, -1.0])
    report = check_gradients(_cube, {"x": x}, {"x": 3 * x**2}, method="richardson")
    header, _, line = str(report).split("\n\n")[1].splitlines()
    assert header.split()[-5:] == ["est.", "err", "passed", "on", "result"]
    assert line.split()[-3] == f"{report.rows[0].error_estimate:.1e}"


@pytest.mark.parametrize("method", METHODS)
def test_a_parameter_without_entries_shows_dashes(method: str) -> None:
    """Its tolerance is the method's (min_order for Taylor); its Taylor order and Ridders
    error estimate do not exist, and print as dashes."""
    x, e = np.array([0.5]), np.zeros(0)

    def loss(p: dict[str, Array]) -> Any:
        return np.sum(p["x"] ** 3) + np.sum(p["e"])

    report = check_gradients(loss, {"x": x, "e": e}, {"x": 3 * x**2, "e": e}, method=method)
    cells = str(report).splitlines()[-1].split()
    assert cells[:4] == ["e", "(0,)", "0", "-"]
    assert cells[-2:] == ["-", "ok"]
    if method in ("richardson", "taylor"):
        assert cells[-3] == "-"  # est. err, or order
    row = report.rows[1]
    assert (row.worst_index, row.analytic, row.numeric, row.atol) == ((), 0.0, 0.0, 0.0)
    assert (row.abs_error, row.rel_error, row.tolerance) == (
        0.0,
        0.0,
        report.rows[0].tolerance,
    )


def test_the_complex_step_names_the_function_that_dropped_the_imaginary_part() -> None:
    x = np.array([0.5])
    expected = (
        "loss_fn returned a real value for complex parameters; the complex step needs a "
        "function that keeps the imaginary part (no abs, max, comparisons or real-typed buffers)"
    )
    with pytest.raises(TypeError, match="^" + re.escape(expected) + "$"):
        check_gradients(lambda p: float(np.sum(p["x"].real)), {"x": x}, {"x": x}, method="complex")


# ----------------------------------------------------------------------- the plot


def test_the_plot_quotient_uses_the_function_value_not_its_size() -> None:
    """A negative loss: |f| and f differ, and the plotted error must use f."""

    def loss(p: dict[str, Array]) -> Any:
        return -10.0 - np.sum(p["x"] ** 3)

    x = np.array([0.5, -1.0])
    report = check_gradients(loss, {"x": x}, {"x": -3 * x**2})
    assert report.quotient is not None
    d = np.array([1.0, 0.0])
    h = 1e-3
    expected = (loss({"x": x + h * d}) - loss({"x": x - h * d})) / (2 * h)
    np.testing.assert_allclose(report.quotient("x", d, h), expected, rtol=1e-12)
    (axes,) = report.plot().axes
    (line,) = axes.get_lines()
    row = report.rows[0]
    assert line.get_label() == f"x {row.worst_index}"
    assert min(line.get_ydata()) < 1e-9
    assert relative_error(row.analytic, expected) < 1e-5


def test_the_taylor_plot_labels_name_the_direction_and_its_order() -> None:
    x = np.array([0.5, -1.0])
    report = check_gradients(_cube, {"x": x}, {"x": 3 * x**2}, method="taylor")
    (axes,) = report.plot().axes
    row = report.rows[0]
    labels = [line.get_label() for line in axes.get_lines()]
    assert labels == [
        f"x dir {row.worst_index[0]}: order {row.order:.2f}",
        "slope 1: wrong gradient",
        "slope 2: right gradient",
    ]
    assert axes.get_title() == "gradient check: Taylor remainder order"
    assert axes.get_xlabel() == "step h"


def test_a_report_without_its_function_cannot_draw_the_step_plot() -> None:
    x = np.array([0.5, -1.0])
    report = check_gradients(_cube, {"x": x}, {"x": 3 * x**2})
    expected = (
        r"^the report has nothing to plot: it must come from check_gradients or check_vjp "
        r"and check a parameter with at least 1 entry$"
    )
    with pytest.raises(ValueError, match=expected):
        replace(report, quotient=None).plot()
    with pytest.raises(ValueError, match=expected):
        GradientReport("central", ()).plot()


# ------------------------------------------------------------- ties and worst entries


def test_an_entry_exactly_at_rtol_or_at_atol_passes() -> None:
    """The complex step of a cubic is exact: a claim of 1.0 for 0.75 is off by 0.25."""
    x = np.array([0.5])
    claimed = {"x": np.array([1.0])}
    at_rtol = check_gradients(_cube, {"x": x}, claimed, method="complex", rtol=0.25 / 1.75)
    assert (at_rtol.passed, at_rtol.rows[0].passed_on) == (True, "rtol")
    at_atol = check_gradients(_cube, {"x": x}, claimed, method="complex", atol=0.25)
    assert (at_atol.passed, at_atol.rows[0].passed_on) == (True, "atol")


def test_a_nan_entry_is_the_worst_among_failing_entries() -> None:
    x = np.array([0.5, -1.0, 0.25])
    claimed = {"x": np.array([np.nan, 2.0, 3 * 0.25**2])}
    row = check_gradients(_cube, {"x": x}, claimed, method="complex").rows[0]
    assert (row.worst_index, row.failures) == ((0,), 2)
    assert "max relative error nan" in str(check_gradients(_cube, {"x": x}, claimed))


def test_the_worst_entry_of_a_passing_row_has_the_largest_relative_error() -> None:
    """At step 1e-3 the quotient of a cubic is 3x² + h²: largest relative error at |x| = 0.3."""
    x = np.array([1.2, 0.3, -0.7])
    row = check_gradients(_cube, {"x": x}, {"x": 3 * x**2}, step=1e-3, rtol=1e-4).rows[0]
    assert row.worst_index == (1,)
    assert row.shape == (3,)


def test_the_worst_entry_of_a_row_at_zero_has_the_largest_absolute_error() -> None:
    """∂/∂x of 1 + 1e-14 Σ x² is lost in rounding: every numeric value is 0 or noise, and
    the worst entry is the one with the largest |a − n|, computed here from the quotients."""

    def loss(p: dict[str, Array]) -> Any:
        return 1.0 + 1e-14 * np.sum(p["x"] ** 2)

    x = np.array([0.1, 0.5, 0.3])
    claimed = 2e-14 * x
    row = check_gradients(loss, {"x": x}, {"x": claimed}).rows[0]
    h = EPS ** (1 / 3)
    errors = []
    for i in range(3):
        plus, minus = x.copy(), x.copy()
        plus[i], minus[i] = x[i] + h, x[i] - h
        numeric = (loss({"x": plus}) - loss({"x": minus})) / (plus[i] - minus[i])
        errors.append(abs(claimed[i] - numeric))
    assert row.passed
    assert row.at_zero
    assert row.worst_index == (int(np.argmax(errors)),)


def test_a_failing_row_whose_loss_moves_has_no_note() -> None:
    x = np.array([0.5, -1.0])
    row = check_gradients(_cube, {"x": x}, {"x": 2 * x**2}).rows[0]
    assert (row.passed, row.note) == (False, "")


def test_a_two_dimensional_nondeterministic_gradient_names_its_index() -> None:
    x = np.zeros((2, 3))
    calls = iter(range(10))

    def drifting() -> dict[str, Array]:
        g = np.zeros((2, 3))
        g[1, 2] = next(calls)
        return {"x": g}

    report = check_gradients(lambda p: 0.0, {"x": x}, drifting, names=["x"])
    (problem,) = report.problems
    assert problem == (
        "gradient of 'x' is not deterministic: two calls differ at index (1, 2): 0.0 vs 1.0"
    )


def test_one_entry_and_one_direction_are_allowed() -> None:
    x = np.array([0.5, -1.0])
    assert check_gradients(_cube, {"x": x}, {"x": 3 * x**2}, entries=1).rows[0].checked == 1
    report = check_gradients(_cube, {"x": x}, {"x": 3 * x**2}, method="directional", directions=1)
    assert report.rows[0].checked == 1


def test_a_seed_that_is_not_an_int_is_named_as_given() -> None:
    x = np.array([0.5])
    with pytest.raises(ValueError, match=r"^seed must be an int ≥ 0, got 'a'$"):
        check_gradients(_cube, {"x": x}, {"x": 3 * x**2}, seed="a")  # type: ignore[arg-type]


def test_the_passed_on_column_counts_atol_passes_of_the_whole_row() -> None:
    x = np.array([0.5, 2.0])
    claimed = {"x": 3 * x**2 + np.array([1e-4, 0.0])}
    report = check_gradients(_cube, {"x": x}, claimed, atol=1e-3)
    assert str(report).splitlines()[-1].endswith("  atol; 1 of 2 by atol  ok")


def test_the_slope_guides_pass_through_the_middle_of_the_remainders() -> None:
    x = np.array([0.5, -1.0])
    report = check_gradients(_cube, {"x": x}, {"x": 3 * x**2}, method="taylor")
    (axes,) = report.plot().axes
    curve, one, two = axes.get_lines()
    h, r = np.asarray(curve.get_xdata()), np.asarray(curve.get_ydata())
    h_mid, r_mid = np.exp(np.mean(np.log(h))), np.exp(np.mean(np.log(r)))
    for line, order in [(one, 1), (two, 2)]:
        ends = np.asarray(line.get_xdata())
        np.testing.assert_allclose(ends, [h.min(), h.max()])
        np.testing.assert_allclose(line.get_ydata(), r_mid * (ends / h_mid) ** order, rtol=1e-12)
    assert axes.get_ylabel() == "|f(x + h d) - f(x) - h <g, d>|"


def test_a_plot_of_exact_zeros_draws_no_points_and_no_guides() -> None:
    x = np.array([0.5, -1.0])
    report = check_gradients(lambda p: 0.0, {"x": x}, {"x": np.zeros(2)}, method="taylor")
    (axes,) = report.plot().axes
    (line,) = axes.get_lines()
    assert len(line.get_xdata()) == 0


def test_the_step_plot_names_its_axes() -> None:
    x = np.array([0.5, -1.0])
    (axes,) = check_gradients(_cube, {"x": x}, {"x": 3 * x**2}).plot().axes
    assert (axes.get_xlabel(), axes.get_ylabel()) == (
        "step h",
        "relative error, analytic vs central difference",
    )
    assert axes.get_title() == "gradient check: central differences"


ATOL = 2.0**-20
"""A power of two: with an imaginary step of 2⁻⁶⁰ the complex step of a linear loss gives
back its coefficients exactly, so entries can be placed exactly at atol = ATOL."""


@pytest.mark.parametrize(
    ("claimed", "slope", "worst", "largest"),
    [
        (0.5 * ATOL, ATOL, (0,), 0.0),  # numeric exactly at atol: both values are noise at zero
        (ATOL, 0.5 * ATOL, (0,), 0.0),  # analytic exactly at atol: the same
        (0.75 * ATOL, 1.25 * ATOL, (1,), 0.25),  # only the analytic value within atol: it counts
    ],
)
def test_an_entry_counts_toward_the_worst_unless_both_values_lie_within_atol(
    claimed: float, slope: float, worst: tuple[int], largest: float
) -> None:
    """f = x₀ + slope · x₁ with the claim (1, claimed): entry 0 is exact, entry 1 passes on
    atol; it is left out of the worst entry and of max_relative_error only when both its
    values lie within atol of zero (inclusive)."""

    def loss(p: dict[str, Array]) -> Any:
        return p["x"][0] + slope * p["x"][1]

    x = np.array([0.5, 0.25])
    report = check_gradients(
        loss, {"x": x}, {"x": np.array([1.0, claimed])}, method="complex", step=2.0**-60, atol=ATOL
    )
    row = report.rows[0]
    assert row.passed
    assert row.worst_index == worst
    assert report.max_relative_error == largest  # |a − n| / (|a| + |n|), exact here


def test_a_failing_entry_is_the_worst_even_beside_a_passing_one_of_larger_relative_error() -> None:
    """Entry 1 passes on atol with relative error 1 (0 against ATOL / 2); entry 0 fails with
    relative error 0.5 / 2.5 = 0.2, and is the one reported."""

    def loss(p: dict[str, Array]) -> Any:
        return p["x"][0] + 0.5 * ATOL * p["x"][1]

    x = np.array([0.5, 0.25])
    report = check_gradients(
        loss, {"x": x}, {"x": np.array([1.5, 0.0])}, method="complex", step=2.0**-60, atol=ATOL
    )
    row = report.rows[0]
    assert (row.failures, row.worst_index, row.rel_error) == (1, (0,), 0.2)


def test_an_empty_parameter_leaves_the_complex_floor_at_the_largest_claimed_entry() -> None:
    """The floor is 2¹⁰ ε G with G the largest claimed (and numeric) entry, 0.75 here: a
    parameter without entries adds nothing to G."""
    x, e = np.array([0.5, -0.25]), np.zeros(0)

    def loss(p: dict[str, Array]) -> Any:
        return np.sum(p["x"] ** 3) + np.sum(p["e"])

    report = check_gradients(loss, {"x": x, "e": e}, {"x": 3 * x**2, "e": e}, method="complex")
    np.testing.assert_allclose(report.rows[0].atol, 2**10 * EPS * 0.75, rtol=1e-15)


# ---------------------------------------------------------- what loss_fn is given


@pytest.mark.parametrize("method", METHODS)
def test_loss_fn_receives_the_keys_of_params_as_c_contiguous_arrays(method: str) -> None:
    """Every call sees exactly the keys of ``params``, in C order even when the caller's
    array is in Fortran order (a loss written against a C buffer sees the layout it
    expects)."""
    A = np.asfortranarray([[0.5, -1.0, 0.25], [0.75, 2.0, -0.5]])
    b = np.array([0.3, -0.2])
    seen: list[tuple[list[Any], bool]] = []

    def loss(p: dict[str, Array]) -> Any:
        seen.append((list(p), all(v.flags.c_contiguous for v in p.values())))
        return np.sum(p["A"] ** 3) + np.sum(p["b"] ** 2)

    report = check_gradients(loss, {"A": A, "b": b}, {"A": 3 * A**2, "b": 2 * b}, method=method)
    report.assert_passed()
    assert seen
    assert all(keys == ["A", "b"] and contiguous for keys, contiguous in seen)


def test_the_report_keeps_its_own_copy_of_the_point() -> None:
    """Changing the caller's array after the check does not move the plot's quotient,
    (f(x + h d) − f(x − h d)) / 2h = 3x₀² + h² along d = e₀ for Σ x³."""
    x = np.array([0.5, -1.0])
    report = check_gradients(_cube, {"x": x}, {"x": 3 * x**2})
    assert report.quotient is not None
    x[:] = [2.0, 3.0]
    h = 1e-3
    np.testing.assert_allclose(
        report.quotient("x", np.array([1.0, 0.0]), h), 3 * 0.5**2 + h**2, rtol=1e-9
    )


def test_a_gradient_function_that_refills_one_buffer_is_still_caught_drifting() -> None:
    """The first call's gradient is copied before the second call overwrites the buffer."""
    x = np.array([0.5, -1.0])
    buffer = np.empty(2)
    calls = iter(range(10))

    def into_buffer() -> dict[str, Array]:
        buffer[:] = 3 * x**2
        buffer[0] += next(calls)  # 0 on the first call, 1 on the second
        return {"x": buffer}

    report = check_gradients(_cube, {"x": x}, into_buffer)
    assert report.problems == (
        "gradient of 'x' is not deterministic: two calls differ at index (0,): 0.75 vs 1.75",
    )
    assert all(row.passed for row in report.rows)  # the first call's gradient is checked


@pytest.mark.parametrize("wrong_call", [0, 1])
def test_a_gradient_function_with_other_keys_is_refused_on_either_call(wrong_call: int) -> None:
    x = np.array([0.5])
    answers = [{"x": 3 * x**2}, {"x": 3 * x**2}]
    answers[wrong_call] = {"y": 3 * x**2}
    calls = iter(answers)
    expected = "grads must have the keys of params ['x'], missing ['x'], unexpected ['y']"
    with pytest.raises(ValueError, match="^" + re.escape(expected) + "$"):
        check_gradients(_cube, {"x": x}, lambda: next(calls))


# ------------------------------------------------------------------- more messages


def test_a_failing_direction_is_described_in_full() -> None:
    x = np.array([0.5])
    report = check_gradients(
        _cube, {"x": x}, {"x": np.array([1.0])}, method="directional", directions=1
    )
    row = report.rows[0]
    assert report.failure_message == (
        "gradient check (random directions) failed:\n"
        f"  x: direction 0 (⟨g, d⟩): analytic {row.analytic:.9e}, numeric {row.numeric:.9e} "
        f"(relative error {row.rel_error:.1e} > rtol 1e-05, absolute error "
        f"{row.abs_error:.1e} > atol {row.atol:.1e}); 1 of 1 directions fail"
    )


def test_float32_is_refused_with_the_reason() -> None:
    x = np.array([0.5], dtype=np.float32)
    with pytest.raises(TypeError) as error:
        check_gradients(_cube, {"x": x}, {"x": x})
    assert str(error.value) == (
        "parameter 'x' is float32; the checker needs float64: with float32's ε ≈ 1.2e-7 a "
        "central difference keeps about 2 digits and correct gradients fail"
    )


def test_gradients_in_fortran_order_are_compared_entry_by_entry() -> None:
    """A transposed view is not C-contiguous; the determinism check compares its bytes."""
    A = np.array([[0.5, -1.0, 0.25], [0.75, 2.0, -0.5]])

    def loss(p: dict[str, Array]) -> Any:
        return np.sum(p["A"] ** 3)

    gradient = np.asfortranarray(3 * A**2)
    assert not gradient.flags.c_contiguous
    report = check_gradients(loss, {"A": A}, lambda: {"A": gradient})
    report.assert_passed()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"names": []}, "names must hold at least 1 name, got none"),
        (
            {"method": "directional", "entries": 2},
            "entries applies to the entrywise methods, not to 'directional'; "
            "use directions instead",
        ),
        ({"method": "directional", "directions": 0}, "directions must be ≥ 1, got 0"),
        (
            {"method": "taylor", "atol": 1.0},
            "rtol and atol do not apply to 'taylor', whose verdict is min_order",
        ),
    ],
)
def test_options_are_refused_with_the_whole_message(options: dict[str, Any], message: str) -> None:
    x = np.array([0.5])
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        check_gradients(_cube, {"x": x}, {"x": 3 * x**2}, **options)


def test_a_loss_of_the_wrong_shape_is_refused_naming_the_shape() -> None:
    x = np.array([0.5])
    with pytest.raises(TypeError) as error:
        check_gradients(lambda p: p["x"] * 2, {"x": x}, {"x": x})
    assert (
        str(error.value)
        == "loss_fn must return a real or complex scalar, got ndarray of shape (1,)"
    )
    with pytest.raises(TypeError) as error:
        check_gradients(lambda p: "a", {"x": x}, {"x": x})
    assert str(error.value) == "loss_fn must return a real or complex scalar, got str"
