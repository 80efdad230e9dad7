"""GradientReport.plot: the Taylor remainders with their guides, or the error against h."""

from __future__ import annotations

import math
import sys
from dataclasses import replace
from typing import Any

import matplotlib
import numpy as np
import pytest

from verification import GradientReport, ParameterCheck, check_gradients, relative_error

matplotlib.use("Agg")

Array = np.ndarray[Any, Any]


def _loss(p: dict[str, Array]) -> Any:
    return np.sum(np.sin(p["x"])) + np.sum(p["y"] ** 3)


def _params() -> dict[str, Array]:
    return {"x": np.array([0.5, -1.0, 2.0]), "y": np.array([0.25, 0.75])}


def _grads(p: dict[str, Array]) -> dict[str, Array]:
    return {"x": np.cos(p["x"]), "y": 3 * p["y"] ** 2}


def _slope(line: Any) -> float:
    h, r = line.get_xdata(), line.get_ydata()
    return float(np.log(r[-1] / r[0]) / np.log(h[-1] / h[0]))


def test_the_taylor_plot_draws_each_rows_remainders_and_slope_one_and_two_guides() -> None:
    params = _params()
    report = check_gradients(_loss, params, _grads(params), method="taylor")
    figure = report.plot()
    (axes,) = figure.axes
    *curves, slope_one, slope_two = axes.get_lines()
    assert len(curves) == 2
    for row, line in zip(report.rows, curves, strict=True):
        assert row.steps is not None
        assert row.remainders is not None
        positive = row.remainders > 0
        np.testing.assert_array_equal(line.get_xdata(), row.steps[positive])
        np.testing.assert_array_equal(line.get_ydata(), row.remainders[positive])
        assert row.name in str(line.get_label())
    np.testing.assert_allclose([_slope(slope_one), _slope(slope_two)], [1.0, 2.0], rtol=1e-12)
    assert (axes.get_xscale(), axes.get_yscale()) == ("log", "log")


def _taylor_row(name: str) -> ParameterCheck:
    """A passing Taylor row written by hand, without steps or remainders yet."""
    return ParameterCheck(
        name=name,
        shape=(2,),
        checked=1,
        failures=0,
        worst_index=(0,),
        analytic=1.0,
        numeric=1.0,
        abs_error=0.0,
        rel_error=0.0,
        tolerance=1.5,
        atol=math.nan,
        passed=True,
    )


def test_a_taylor_curve_needs_steps_and_remainders_and_names_an_order_only_if_fitted() -> None:
    steps = np.array([1.0, 0.5, 0.25])
    drawn = replace(_taylor_row("x"), steps=steps, remainders=np.array([1.0, 0.25, 0.0625]))
    half = replace(_taylor_row("y"), steps=steps)  # no remainders: nothing to draw
    (axes,) = GradientReport("taylor", (drawn, half)).plot().axes
    labels = [line.get_label() for line in axes.get_lines()]
    assert labels == ["x dir 0", "slope 1: wrong gradient", "slope 2: right gradient"]


def test_the_slope_guides_pass_through_the_positive_remainders_only() -> None:
    """Remainders 1, 0, 1/16 at h = 1, 1/2, 1/4: the guides go through the geometric mean of
    (1, 1) and (1/4, 1/16), which is (1/2, 1/4), and span h from 1/4 to 1."""
    row = replace(
        _taylor_row("x"),
        steps=np.array([1.0, 0.5, 0.25]),
        remainders=np.array([1.0, 0.0, 0.0625]),
    )
    (axes,) = GradientReport("taylor", (row,)).plot().axes
    _, one, two = axes.get_lines()
    np.testing.assert_allclose(one.get_xdata(), [0.25, 1.0], rtol=1e-15)
    np.testing.assert_allclose(one.get_ydata(), [0.125, 0.5], rtol=1e-15)  # 1/4 · (h / ½)
    np.testing.assert_allclose(two.get_ydata(), [0.0625, 1.0], rtol=1e-15)  # 1/4 · (h / ½)²


@pytest.mark.parametrize("method", ["central", "complex", "richardson", "directional"])
def test_the_step_plot_draws_the_relative_error_against_the_central_quotient(method: str) -> None:
    params = _params()
    report = check_gradients(_loss, params, _grads(params), method=method)
    (axes,) = report.plot().axes
    lines = axes.get_lines()
    assert len(lines) == len(report.rows)
    for row, line in zip(report.rows, lines, strict=True):
        assert row.probe is not None
        steps = np.logspace(-1, -13, 37)
        x = params[row.name]
        numeric = [
            (
                _loss({**params, row.name: x + h * row.probe})
                - _loss({**params, row.name: x - h * row.probe})
            )
            / (2 * h)
            for h in steps
        ]
        errors = relative_error(row.analytic, numeric)
        np.testing.assert_array_equal(line.get_xdata(), steps[errors > 0])
        np.testing.assert_allclose(line.get_ydata(), errors[errors > 0], rtol=1e-12)
        # a right gradient draws a V: truncation at large h, rounding at small h
        ys = np.asarray(line.get_ydata())
        assert ys.min() < 1e-9 < min(ys[0], ys[-1])


def test_a_wrong_gradient_levels_off_at_its_relative_error() -> None:
    params = _params()
    grads = {**_grads(params), "y": 2 * _grads(params)["y"]}
    report = check_gradients(_loss, params, grads)
    (axes,) = report.plot().axes
    ys = np.asarray(axes.get_lines()[1].get_ydata())
    np.testing.assert_allclose(np.median(ys), 1 / 3, rtol=1e-6)  # |2g − g| / (2g + g)


def test_a_report_without_data_cannot_be_plotted() -> None:
    with pytest.raises(ValueError, match="the report has nothing to plot"):
        GradientReport("central", ()).plot()


def test_without_matplotlib_the_error_names_the_plot_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    params = _params()
    report = check_gradients(_loss, params, _grads(params))
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import then raises
    expected = (
        r"^GradientReport.plot needs matplotlib, from the plot extra: "
        r"pip install 'rnn-reference\[plot\]'$"
    )
    with pytest.raises(ImportError, match=expected):
        report.plot()
