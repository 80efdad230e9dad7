r"""A gradient checker for any scalar function of named float64 arrays, and for backward passes.

The checker compares an analytic gradient with derivatives it computes from the loss alone.
It knows nothing of recurrent networks: it sees a function ``loss_fn`` that maps a dict of
arrays to a scalar, the dict of arrays, and the gradient that is claimed for each.
:func:`check_vjp` checks a layer's backward pass against an upstream gradient :math:`u`, as
the gradient of the scalar :math:`\langle u, f \rangle`.

Five methods are offered, because each has a blind spot the others cover:

``"central"``
    Central differences, entry by entry, with a step scaled to each entry. Costs two loss
    evaluations per entry. Its accuracy is limited by rounding, about
    :math:`\varepsilon |f| / h`, so tiny gradient entries are compared in absolute terms.
``"complex"``
    The complex step :math:`f'(x) \approx \operatorname{Im} f(x + ih) / h` (Squire and
    Trapp, 1998). There is no subtraction, so with :math:`h = 10^{-20}` it is exact to
    machine precision. ``loss_fn`` must accept complex arrays and be analytic in them.
``"richardson"``
    Ridders' extrapolation of central differences to a zero step (Ridders, 1982), with an
    estimate of its own error for every entry. Slow (up to 20 evaluations per entry) but it
    needs no choice of step.
``"directional"``
    Seeded Gaussian directions :math:`d`, comparing :math:`\langle g, d \rangle` with the
    central difference of :math:`f` along :math:`d`. Two evaluations per direction,
    whatever the size of the array.
``"taylor"``
    The Taylor test: the remainder :math:`r(h) = |f(x + h d) - f(x) - h \langle g, d
    \rangle|` falls as :math:`h^2` when :math:`g` is right and as :math:`h` when it is
    wrong. The check fits the slope of :math:`\log r` against :math:`\log h`, so no step
    has to be chosen.

Relative error
--------------
Everywhere in this package the relative error of an analytic value :math:`a` and a
numeric one :math:`n` is

.. math::

    \operatorname{rel}(a, n) = \frac{|a - n|}{\max(|a| + |n|, \text{tiny})},

with ``tiny`` the smallest normal float64. It lies in :math:`[0, 1]`; it is 1 when the
signs differ or one value is zero and the other is not, and 0 when both are zero. (It
avoids the flaw of dividing by :math:`|a + n|`, which explodes on a sign flip.)

An entry passes when its relative error is at most ``rtol`` **or** its absolute error
:math:`|a - n|` is at most ``atol``. The second clause is needed because a numeric
derivative of an entry whose true gradient is zero is rounding noise, whose relative error
is 1. Unless ``atol`` is given, it is an estimate of the numeric method's own error:

- central and directional: :math:`32 \varepsilon (|f(x + h)| + |f(x - h)|) / (2 h)`,
  the rounding error of the difference quotient when ``loss_fn`` carries a relative
  rounding error of up to :math:`32 \varepsilon` (for :func:`check_vjp`, :math:`|f|` is
  :math:`\sum_k |u_k f_k|`, the size of the terms of :math:`\langle u, f \rangle`). On
  random RNN, LSTM and GRU cases the central error never exceeded 5 of these
  :math:`\varepsilon` units, so 32 leaves a margin of 6;
- complex step: :math:`2^{10} \varepsilon G`, with :math:`G` the largest claimed gradient
  entry over all parameters (or the parameter's largest numeric derivative, if larger).
  The complex step is exact but for rounding, and its rounding, like that of the analytic
  gradient, is relative to the terms an entry is summed from, not to the entry: an entry
  built by cancellation can be far smaller than its terms. The terms are bounded by the
  model's gradient scale, not the parameter's own: an LSTM forget-gate gradient of
  :math:`1.1 \times 10^{-9}`, among gradients of order 1, was off by
  :math:`7 \times 10^{-21}`, 3e-12 of itself but :math:`3 \times 10^{-5} \varepsilon G`;
- Ridders: the larger of 4 times its error estimate and the central floor at its
  smallest step.

:attr:`GradientReport.max_relative_error` leaves out entries whose analytic and numeric
values both lie within ``atol`` of zero, for the same reason.

References
----------
.. [1] W. Squire and G. Trapp, "Using complex variables to estimate derivatives of real
   functions", SIAM Review 40(1), 1998.
.. [2] J. R. R. A. Martins, P. Sturdza and J. J. Alonso, "The complex-step derivative
   approximation", ACM TOMS 29(3), 2003.
.. [3] C. J. F. Ridders, "Accurate computation of F'(x) and F'(x) F''(x)", Advances in
   Engineering Software 4(2), 1982.
.. [4] P. E. Farrell, D. A. Ham, S. W. Funke and M. E. Rognes, "Automated derivation of
   the adjoint of high-level transient finite element programs", SIAM J. Sci. Comput.
   35(4), 2013 (the Taylor test).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "DEFAULT_MIN_ORDER",
    "DEFAULT_RTOL",
    "METHODS",
    "GradientReport",
    "ParameterCheck",
    "check_gradients",
    "check_vjp",
    "relative_error",
]

FloatArray = NDArray[np.float64]
LossFunction = Callable[[dict[str, NDArray[Any]]], Any]
"""Maps a dict of parameter arrays to a scalar loss (float, or complex for complex steps)."""
GradientSource = Mapping[str, ArrayLike] | Callable[[], Mapping[str, ArrayLike]]
"""The claimed gradients, or a function of no arguments that computes them."""

EPS = float(np.finfo(np.float64).eps)
TINY = float(np.finfo(np.float64).tiny)

METHODS = ("central", "complex", "richardson", "directional", "taylor")
"""The methods :func:`check_gradients` accepts."""

DEFAULT_RTOL: dict[str, float] = {
    "central": 1e-6,
    "complex": 1e-12,
    "richardson": 1e-9,
    "directional": 1e-5,
}
r"""Default relative tolerance of each method, and why:

- ``central`` 1e-6: with a step :math:`h = \varepsilon^{1/3}` the quotient's truncation
  and rounding errors are both about :math:`\varepsilon^{2/3} \approx 4 \times 10^{-11}`
  of the function's scale; a correct float64 gradient shows 1e-10 to 1e-8 on entries of
  ordinary size, so 1e-6 leaves two orders of margin and is 1000 times tighter than
  ``torch.autograd.gradcheck``'s rtol of 1e-3. A structural error (a missing term, a
  transposition, a sign) gives 1e-3 to 1.
- ``complex`` 1e-12: the complex step has no truncation or cancellation error, so a
  correct gradient agrees to a few :math:`\varepsilon`; 1e-12 still leaves more than
  three orders of margin and catches an entry off by a relative 1e-10.
- ``richardson`` 1e-9: Ridders' extrapolation reaches 1e-11 to 1e-13 on smooth
  functions; 1e-9 allows for the entries whose tableau stops early.
- ``directional`` 1e-5: a single central difference along a Gaussian direction sums the
  truncation error of every entry, so it is less accurate than ``central``.
"""

DEFAULT_MIN_ORDER = 1.5
"""The Taylor test passes when the fitted order is at least this, the midpoint of the two
outcomes: a correct gradient gives 2 (or 3 where the curvature along the direction
vanishes), a wrong one 1. Near-linear directions of gated cells at weight scale 0.01 fit
orders as low as 1.7 with a correct gradient, where the h³ term is still fading, so a bar
at 1.8 raised false alarms; see also ``TAYLOR_FIT_POINTS``."""

CENTRAL_STEP = EPS ** (1 / 3)
r"""Relative step of central differences, :math:`\varepsilon^{1/3} \approx 6 \times 10^{-6}`:
it balances the :math:`h^2` truncation error against the :math:`\varepsilon / h` rounding
error. The step of an entry :math:`x` is this times :math:`\max(1, |x|)`."""
COMPLEX_STEP = 1e-20
"""Imaginary step of the complex-step method. Any value far below √ε works; the real part
then changes by h² ≈ 1e-40, nothing in float64."""
RIDDERS_STEP = 1e-2
"""First (largest) step of Ridders' tableau, relative to max(1, |x|)."""
RIDDERS_SHRINK = 1.4
RIDDERS_LEVELS = 10
TAYLOR_STEP = 1e-2
"""Largest step of the Taylor test, relative to max(1, max |x|); the steps halve from it."""
TAYLOR_STEPS = 16
TAYLOR_FIT_POINTS = 4
"""The slope is fitted to this many of the smallest steps whose remainder lies above the
rounding floor: the asymptotic regime, where r(h) ∝ h² or ∝ h. A low fitted order fails
only if it is consistently low: each of the three local orders between neighbouring fitted
steps is below ``min_order``. Where the h² and h³ terms of the remainder have opposite
signs they cancel at some step h*, and the local orders just below h* dip under 1.5 for
one or two halvings (we saw 4.6, 1.3, 1.1 on a correct LSTM gradient) before they return
to 2; a wrong gradient gives local orders near 1 all the way down. A direction whose fit
is low but not consistently so is reported with order NaN and does not fail."""
TAYLOR_GROWTH = 8
"""Where fewer than ``TAYLOR_FIT_POINTS`` remainders rise above rounding, ``loss_fn`` is nearly
affine along d over the steps tried, and the step doubles, up to this many times (256 times
the largest step), until enough remainders do. Gated cells at weight scale 0.01 need up to
four doublings for their biases. A direction still short of them is inconclusive."""
TAYLOR_FLOOR = 10.0
"""A remainder counts only above ``TAYLOR_FLOOR * ε * (|f(x)| + |f(x + h d)|)``. The rounding
error of the remainder is at most about ε |f| (we measured 0.1 to 1 ε |f| on random RNNs),
so above this floor it moves each log r by at most about 5%; below it, noise flattens the
slope towards 0."""
ROUNDING_FACTOR = 32.0
COMPLEX_ROUNDING_FACTOR = 2.0**10
RIDDERS_SAFETY = 4.0
DEFAULT_DIRECTIONS = {"directional": 16, "taylor": 2}


def relative_error(analytic: ArrayLike, numeric: ArrayLike) -> NDArray[np.float64]:
    r"""Elementwise relative error :math:`|a - n| / \max(|a| + |n|, \text{tiny})`.

    Parameters
    ----------
    analytic, numeric : array_like
        Values of the same shape (or broadcastable).

    Returns
    -------
    ndarray of float64
        Values in [0, 1]; NaN where an input is NaN.

    Examples
    --------
    >>> relative_error([1.0, 1.0, 0.0, 0.0], [1.0, -1.0, 1e-300, 0.0]).tolist()
    [0.0, 1.0, 1.0, 0.0]
    >>> float(relative_error(1.0, 1.0 + 2e-6))
    9.99999...e-07
    """
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    return np.asarray(np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), TINY), dtype=np.float64)


@dataclass(frozen=True)
class ParameterCheck:
    """The verdict for one parameter: one row of the report.

    Attributes
    ----------
    name : str
        The parameter's key.
    shape : tuple of int
        Its shape.
    checked : int
        Entries compared (central, complex, richardson) or directions tried
        (directional, taylor).
    failures : int
        How many of them failed.
    worst_index : tuple of int
        The worst entry's index, or ``(k,)`` for direction ``k``. The worst entry is the
        failing one with the largest relative error; if none fails, the one with the
        largest relative error among those not :attr:`at_zero`; failing that, the one with
        the largest absolute error. For the Taylor test it is the direction of lowest
        order.
    analytic, numeric : float
        The two values at the worst entry (for directions: ⟨g, d⟩ and the difference
        quotient along d).
    abs_error, rel_error : float
        :math:`|a - n|` and :func:`relative_error` there.
    tolerance : float
        ``rtol``, or for the Taylor test the least order that passes.
    atol : float
        The absolute tolerance at the worst entry (see the module notes); NaN for Taylor.
    passed : bool
        Whether every entry or direction passed.
    error_estimate : float or None
        Ridders' own error estimate at the worst entry.
    order : float or None
        Taylor test: the fitted order of the remainder at the worst direction. NaN when
        the test cannot judge that direction: fewer than ``TAYLOR_FIT_POINTS`` remainders
        rose above rounding (counted in ``inconclusive``, which fails), or the fitted
        order is low but not consistently so (see ``TAYLOR_FIT_POINTS``), which passes.
    passed_on : {"rtol", "atol", "order", ""}
        The tolerance the worst entry passed on: ``"rtol"`` when its relative error is
        within ``rtol``, ``"atol"`` when only its absolute error is within ``atol`` (a
        gradient near zero, measured through rounding), ``"order"`` for a Taylor row that
        passed, ``""`` when the row fails or has no entries.
    by_atol : int
        How many entries or directions passed on ``atol`` alone.
    inconclusive : int
        Taylor test: directions with too few remainders above rounding to fit an order.
        Such a direction is not a pass.
    note : str
        A hint printed with the failure, such as that ``loss_fn`` ignores the parameter.
    probe : ndarray or None
        The worst entry's unit vector, or the worst direction, in the parameter's shape:
        where :meth:`GradientReport.plot` sweeps the step. None for Taylor rows and for
        parameters without entries.
    steps, remainders : ndarray or None
        Taylor test: the steps h and the remainders r(h) of the worst direction.
    """

    name: str
    shape: tuple[int, ...]
    checked: int
    failures: int
    worst_index: tuple[int, ...]
    analytic: float
    numeric: float
    abs_error: float
    rel_error: float
    tolerance: float
    atol: float
    passed: bool
    error_estimate: float | None = None
    order: float | None = None
    passed_on: str = ""
    by_atol: int = 0
    inconclusive: int = 0
    note: str = ""
    probe: FloatArray | None = field(default=None, compare=False, repr=False)
    steps: FloatArray | None = field(default=None, compare=False, repr=False)
    remainders: FloatArray | None = field(default=None, compare=False, repr=False)

    @property
    def at_zero(self) -> bool:
        """Whether the worst entry's analytic and numeric values both lie within ``atol``
        of zero: a zero gradient measured through rounding noise."""
        return bool(abs(self.analytic) <= self.atol and abs(self.numeric) <= self.atol)


@dataclass(frozen=True)
class GradientReport:
    """The outcome of :func:`check_gradients`.

    Attributes
    ----------
    method : str
        One of :data:`METHODS`.
    rows : tuple of ParameterCheck
        One per checked parameter, in the order of ``params``.
    problems : tuple of str
        Structural failures found before any comparison, such as a gradient that differs
        between two calls.
    quotient : callable or None
        ``quotient(name, d, h)``: the central difference quotient
        :math:`(f(x + h d) - f(x - h d)) / 2h` of the checked function along ``d`` in the
        parameter ``name``, for :meth:`plot`; None for a report built by hand.

    Examples
    --------
    >>> x = np.array([1.0, 2.0])
    >>> report = check_gradients(lambda p: float(np.sum(p["x"] ** 3)), {"x": x}, {"x": 3 * x**2})
    >>> report.passed, report.max_relative_error < 1e-9
    (True, True)
    >>> print(report.rows[0].name, report.rows[0].checked)
    x 2
    """

    method: str
    rows: tuple[ParameterCheck, ...]
    problems: tuple[str, ...] = ()
    quotient: Callable[[str, FloatArray, float], float] | None = field(
        default=None, compare=False, repr=False
    )

    @property
    def passed(self) -> bool:
        """True when no structural problem was found and every row passed."""
        return not self.problems and all(row.passed for row in self.rows)

    @property
    def max_relative_error(self) -> float:
        """The largest relative error of the rows' worst entries.

        Entries whose analytic and numeric values both lie within ``atol`` of zero do not
        count: they are zero gradients measured through rounding noise, and their relative
        error (1 for 0 against 1e-12) says nothing. 0.0 when every entry is such;
        NaN when a value is NaN.
        """
        values = [row.rel_error for row in self.rows if not row.at_zero]
        if any(math.isnan(v) for v in values):
            return math.nan
        return max(values, default=0.0)

    @property
    def failure_message(self) -> str:
        """What failed, naming each parameter, the index and both values; empty if passed."""
        if self.passed:
            return ""
        lines = [f"gradient check ({_TITLES[self.method]}) failed:"]
        lines += [f"  {problem}" for problem in self.problems]
        failing = [row for row in self.rows if not row.passed]
        lines += [f"  {_describe_failure(self.method, row)}" for row in failing]
        return "\n".join(lines)

    def assert_passed(self) -> None:
        """Raise AssertionError with :attr:`failure_message` unless the check passed."""
        if not self.passed:
            raise AssertionError(self.failure_message)

    def plot(self) -> Figure:
        r"""Draw the evidence behind the verdict, one line per parameter.

        For the Taylor test: the remainder :math:`r(h)` of each parameter's worst direction
        against :math:`h`, log-log, with guides of slope 1 (a wrong gradient) and slope 2
        (a right one). For the other methods: the relative error of the worst entry's (or
        direction's) analytic value against the central difference quotient of the
        checked function, over steps from :math:`10^{-1}` to :math:`10^{-13}`. A right
        gradient draws a V, falling as :math:`h^2` until rounding takes over near
        :math:`h \approx 10^{-5}`; a wrong one levels off at its own relative error.

        Returns
        -------
        matplotlib.figure.Figure
            A new figure, not attached to pyplot; ``fig.savefig(path)`` writes it.

        Raises
        ------
        ImportError
            If matplotlib (the ``plot`` extra) is not installed.
        ValueError
            If the report holds no data to draw: built by hand, or no parameter has entries.

        Examples
        --------
        >>> x = np.array([0.5, -1.0])
        >>> report = check_gradients(lambda p: np.sum(p["x"] ** 3), {"x": x}, {"x": 3 * x**2})
        >>> figure = report.plot()  # doctest: +SKIP
        >>> figure.savefig("gradient-check.png")  # doctest: +SKIP
        """
        try:
            from matplotlib.figure import Figure
        except ImportError as error:
            raise ImportError(
                "GradientReport.plot needs matplotlib, from the plot extra: "
                "pip install 'rnn-reference[plot]'"
            ) from error
        curves = self._curves()
        if not curves:
            raise ValueError(
                "the report has nothing to plot: it must come from check_gradients or "
                "check_vjp and check a parameter with at least 1 entry"
            )
        figure = Figure(figsize=(6.4, 4.8), layout="constrained")  # pragma: no mutate
        axes = figure.subplots()
        axes.set_xscale("log")
        axes.set_yscale("log")
        for label, steps, values in curves:
            shown = values > 0  # an exact zero has no logarithm
            line = axes.plot(steps[shown], values[shown], label=label)[0]
            line.set(marker="o", markersize=3)  # pragma: no mutate
        axes.set_xlabel("step h")
        if self.method == "taylor":
            axes.set_ylabel("|f(x + h d) - f(x) - h <g, d>|")
            _slope_guides(axes, curves)
        else:
            axes.set_ylabel("relative error, analytic vs central difference")
        axes.set_title(f"gradient check: {_TITLES[self.method]}")
        axes.legend(fontsize="small")  # pragma: no mutate
        return figure

    def _curves(self) -> list[tuple[str, FloatArray, FloatArray]]:
        """(label, steps, values) per row: Taylor remainders, or errors against the step."""
        curves = []
        for row in self.rows:
            where = f"{row.name} {_index(self.method, row.worst_index)}"
            if row.steps is not None and row.remainders is not None:
                order = f": order {row.order:.2f}" if row.order is not None else ""
                curves.append((where + order, row.steps, row.remainders))
            elif row.probe is not None and self.quotient is not None:
                numeric = [self.quotient(row.name, row.probe, h) for h in PLOT_STEPS]
                curves.append((where, PLOT_STEPS, relative_error(row.analytic, numeric)))
        return curves

    def __str__(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        failed = sum(not row.passed for row in self.rows)
        head = [
            f"gradient check: {_TITLES[self.method]}: {verdict}"
            + (f" ({failed} of {len(self.rows)} parameters fail)" if failed else ""),
            f"max relative error {_fmt(self.max_relative_error, 2)}, "
            "where relative error = |a - n| / max(|a| + |n|, tiny)",
            _RULES[self.method],
        ]
        head += [f"problem: {problem}" for problem in self.problems]
        return "\n".join([*head, "", _table(self.method, self.rows)])


PLOT_STEPS: FloatArray = np.logspace(-1, -13, 37)
"""Steps of the error-against-step plot: 3 a decade, over both branches of the V."""


def _slope_guides(axes: Any, curves: Sequence[tuple[str, FloatArray, FloatArray]]) -> None:
    """Lines of slope 1 (a wrong gradient) and 2 (a right one) through the curves' middle."""
    h = np.concatenate([steps[values > 0] for _, steps, values in curves])
    r = np.concatenate([values[values > 0] for _, _, values in curves])
    if not h.size:
        return
    h_mid, r_mid = np.exp(np.mean(np.log(h))), np.exp(np.mean(np.log(r)))
    ends = np.array([h.min(), h.max()])
    for order, style in [(1, "--"), (2, ":")]:
        label = f"slope {order}: {'wrong' if order == 1 else 'right'} gradient"
        line = axes.plot(ends, r_mid * (ends / h_mid) ** order, label=label)[0]
        line.set(color="black", linestyle=style, linewidth=0.8)  # pragma: no mutate


_RULES = {
    "central": "an entry passes when rel err <= rtol or abs err <= atol, the rounding floor",
    "complex": "an entry passes when rel err <= rtol or abs err <= atol, the rounding floor",
    "richardson": "an entry passes when rel err <= rtol or abs err <= atol, "
    "the larger of 4 x est. err and the rounding floor",
    "directional": "a direction d passes when the rel err of <g, d> <= rtol "
    "or its abs err <= atol, the rounding floor",
    "taylor": "a direction d passes when |f(x + h d) - f(x) - h <g, d>| falls as h^order "
    "with order >= min order (nan: too flat to judge)",
}

_TITLES = {
    "central": "central differences",
    "complex": "complex step",
    "richardson": "Ridders extrapolation",
    "directional": "random directions",
    "taylor": "Taylor remainder order",
}


def check_gradients(
    loss_fn: LossFunction,
    params: Mapping[str, ArrayLike],
    grads: GradientSource,
    *,
    method: str = "central",
    names: Sequence[str] | None = None,
    entries: int | None = None,
    directions: int | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    min_order: float = DEFAULT_MIN_ORDER,
    step: float | None = None,
    seed: int = 0,
) -> GradientReport:
    r"""Compare claimed gradients of a scalar function with numeric derivatives.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(p) -> float`` for a dict ``p`` with the keys of ``params``. It must not
        keep or modify the arrays it is given. For ``method="complex"`` it receives
        complex128 arrays and must return a complex value, analytic in them.
    params : mapping of str to ndarray of float64
        The point at which to check. Not modified.
    grads : mapping of str to ndarray of float64, or callable
        The claimed gradient of each parameter, with the parameter's shape and dtype; or
        a function of no arguments returning that mapping, which is then called twice to
        check that the gradient is deterministic (bit for bit).
    method : {"central", "complex", "richardson", "directional", "taylor"}, optional
        How to compute the numeric derivatives; see the module notes.
    names : sequence of str, optional
        Check only these parameters (default: all, in the order of ``params``).
    entries : int, optional
        For entrywise methods, check only this many entries of each parameter, drawn
        without replacement from ``seed`` and the parameter's name (default: all).
    directions : int, optional
        Directions per parameter for ``directional`` (default 16) and ``taylor``
        (default 2).
    rtol : float, optional
        Relative tolerance; the default depends on the method, see :data:`DEFAULT_RTOL`.
    atol : float, optional
        Absolute tolerance. The default is the method's own error estimate (module notes).
    min_order : float, optional
        Least fitted order that passes the Taylor test (default 1.5).
    step : float, optional
        Overrides the method's step: the relative step of ``central`` and ``directional``
        (default ε^(1/3)), the imaginary step of ``complex`` (1e-20), the first step of
        ``richardson`` and the largest of ``taylor`` (1e-2).
    seed : int, optional
        Seed of the entry subsets and the random directions.

    Returns
    -------
    GradientReport
        ``report.passed`` is the verdict; ``str(report)`` is a table.

    Raises
    ------
    TypeError
        If an array is not float64 (float32 in particular), a gradient's dtype differs
        from its parameter's, ``loss_fn`` does not return a scalar, or returns a real value
        to the complex step.
    ValueError
        If the keys or shapes of ``params`` and ``grads`` differ, a parameter is not
        finite, or an option is out of range.

    Notes
    -----
    float32 is refused: with :math:`\varepsilon \approx 1.2 \times 10^{-7}` a central
    difference keeps about 2 significant digits, and a correct gradient then "fails" —
    the most common false alarm reported by users of other checkers.

    Examples
    --------
    A quadratic form and its gradient :math:`(A + A^\top) x = (1, -5)`:

    >>> A = np.array([[2.0, 1.0], [0.0, 3.0]])
    >>> x = np.array([0.5, -1.0])
    >>> f = lambda p: p["x"] @ A @ p["x"]
    >>> check_gradients(f, {"x": x}, {"x": (A + A.T) @ x}, method="complex").passed
    True
    >>> report = check_gradients(f, {"x": x}, {"x": A @ x})  # half the gradient is missing
    >>> report.passed
    False
    >>> print(report.failure_message)  # doctest: +NORMALIZE_WHITESPACE
    gradient check (central differences) failed:
      x: entry (0,): analytic 0.000000000e+00, numeric 1.000000000e+00 (relative error
      1.0e+00 > rtol 1e-06, absolute error 1.0e+00 > atol 3.5e-09); 2 of 2 entries fail
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")

    def objective(p: dict[str, NDArray[Any]]) -> tuple[Any, float]:
        value = _scalar("loss_fn", loss_fn(p))
        return value, abs(value)

    options = _Options(method, names, entries, directions, rtol, atol, min_order, step, seed)
    return _check(objective, "loss_fn", ("params", "grads"), params, grads, options)


def check_vjp(
    f: Callable[[dict[str, NDArray[Any]]], ArrayLike],
    inputs: Mapping[str, ArrayLike],
    upstream: ArrayLike,
    claimed: GradientSource,
    *,
    method: str = "central",
    names: Sequence[str] | None = None,
    entries: int | None = None,
    directions: int | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    min_order: float = DEFAULT_MIN_ORDER,
    step: float | None = None,
    seed: int = 0,
) -> GradientReport:
    r"""Check a backward pass against an upstream gradient: a vector-Jacobian product.

    A layer's backward pass takes the gradient :math:`u` of the loss with respect to the
    layer's output and returns, for each input :math:`x`, the vector-Jacobian product
    :math:`u^\top \partial f / \partial x`. That is the gradient of the scalar
    :math:`\langle u, f(x) \rangle = \sum_k u_k f_k(x)`, so this is
    :func:`check_gradients` applied to that scalar, with every method and option.

    Parameters
    ----------
    f : callable
        ``f(p) -> ndarray`` for a dict ``p`` with the keys of ``inputs``: the layer's
        forward pass. It must not keep or modify the arrays it is given. For
        ``method="complex"`` it receives complex128 arrays and must return a complex
        array, analytic in them.
    inputs : mapping of str to ndarray of float64
        The point at which to check: the layer's inputs and weights. Not modified.
    upstream : ndarray of float64
        The upstream gradient :math:`u`, with the shape of ``f(inputs)``.
    claimed : mapping of str to ndarray of float64, or callable
        The claimed vector-Jacobian product for each input, with that input's shape; or a
        function of no arguments returning that mapping (then called twice, to check that
        it is deterministic).
    method, names, entries, directions, rtol, atol, min_order, step, seed
        As for :func:`check_gradients`. The rounding floor of central and directional
        differences is taken relative to :math:`\sum_k |u_k f_k|`, the size of the terms
        of the scalar, not to the scalar, which can be far smaller by cancellation.

    Returns
    -------
    GradientReport
        ``report.passed`` is the verdict; ``str(report)`` is a table.

    Raises
    ------
    TypeError
        If ``f`` is not callable, an array is not float64, or ``f`` returns a complex array
        for real inputs or a real one to the complex step.
    ValueError
        If ``upstream`` is not finite or its shape is not that of ``f(inputs)``, the keys or
        shapes of ``inputs`` and ``claimed`` differ, or an option is out of range.

    Examples
    --------
    cs231n's ``eval_numerical_gradient_array(f, x, dout)`` workflow: a layer
    :math:`y = \tanh(x W + b)` and a student's backward pass, checked against an upstream
    gradient ``dout``.

    >>> rng = np.random.default_rng(0)
    >>> x, W, b = rng.normal(size=(4, 5)), rng.normal(size=(5, 3)), rng.normal(size=3)
    >>> def tanh_affine_forward(p):
    ...     return np.tanh(p["x"] @ p["W"] + p["b"])
    >>> def tanh_affine_backward(dout, x, W, b):
    ...     y = np.tanh(x @ W + b)
    ...     da = dout * (1 - y**2)  # through tanh
    ...     return {"x": da @ W.T, "W": x.T @ da, "b": da.sum(axis=0)}
    >>> dout = rng.normal(size=(4, 3))
    >>> inputs = {"x": x, "W": W, "b": b}
    >>> report = check_vjp(tanh_affine_forward, inputs, dout, tanh_affine_backward(dout, x, W, b))
    >>> report.passed
    True

    A backward pass that takes tanh' from the pre-activation, ``1 - (x W + b)**2``:

    >>> def wrong_backward(dout, x, W, b):
    ...     a = x @ W + b
    ...     da = dout * (1 - a**2)
    ...     return {"x": da @ W.T, "W": x.T @ da, "b": da.sum(axis=0)}
    >>> report = check_vjp(tanh_affine_forward, inputs, dout, wrong_backward(dout, x, W, b))
    >>> report.passed, [row.name for row in report.rows if not row.passed]
    (False, ['x', 'W', 'b'])
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    u = np.asarray(upstream)
    _require_float64("upstream", u)
    if not np.all(np.isfinite(u)):
        raise ValueError("upstream must be finite, got a NaN or infinite entry")

    def objective(p: dict[str, NDArray[Any]]) -> tuple[Any, float]:
        out = np.asarray(f(p))
        if out.shape != u.shape:
            raise ValueError(
                f"upstream must have the shape of f's output {out.shape}, got {u.shape}"
            )
        if out.dtype.kind not in "fc":
            raise TypeError(f"f must return a float or complex array, got dtype {out.dtype}")
        terms = u * out
        return np.sum(terms), float(np.sum(np.abs(terms)))  # ⟨u, f⟩ and its terms' size

    options = _Options(method, names, entries, directions, rtol, atol, min_order, step, seed)
    return _check(objective, "f", ("inputs", "claimed"), inputs, claimed, options)


Objective = Callable[[dict[str, NDArray[Any]]], tuple[Any, float]]
"""The checked scalar and the size of its terms, which sets its rounding error."""


@dataclass(frozen=True)
class _Options:
    method: str
    names: Sequence[str] | None
    entries: int | None
    directions: int | None
    rtol: float | None
    atol: float | None
    min_order: float
    step: float | None
    seed: int


def _check(
    objective: Objective,
    what: str,
    labels: tuple[str, str],
    params: Mapping[str, ArrayLike],
    grads: GradientSource,
    options: _Options,
) -> GradientReport:
    """check_gradients and check_vjp: validate, then judge each chosen parameter."""
    method = options.method
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    point = _check_params(params, labels[0])
    chosen = _check_names(options.names, point)
    if callable(grads):
        grad_fn: Callable[[], Mapping[str, ArrayLike]] | None = grads
        claimed = _check_grads(grads(), point, labels)
    else:
        grad_fn = None
        claimed = _check_grads(grads, point, labels)
    rtol, atol = options.rtol, options.atol
    if method == "taylor" and (rtol is not None or atol is not None):
        raise ValueError("rtol and atol do not apply to 'taylor', whose verdict is min_order")
    rtol = DEFAULT_RTOL.get(method, math.nan) if rtol is None else _positive("rtol", rtol)
    if atol is not None and not (math.isfinite(atol) and atol >= 0):
        raise ValueError(f"atol must be a finite number ≥ 0, got {_plain(atol)}")
    if options.step is not None:
        _positive("step", options.step)
    min_order = options.min_order
    if not (math.isfinite(min_order) and min_order > 0):
        raise ValueError(f"min_order must be finite and > 0, got {_plain(min_order)}")
    entries, directions, seed = options.entries, options.directions, options.seed
    if entries is not None:
        if method in ("directional", "taylor"):
            raise ValueError(
                f"entries applies to the entrywise methods, not to {method!r}; "
                "use directions instead"
            )
        _positive_int("entries", entries)
    if directions is not None:
        if method not in ("directional", "taylor"):
            raise ValueError(
                f"directions applies to 'directional' and 'taylor', not to {method!r}"
            )
        _positive_int("directions", directions)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int ≥ 0, got {_plain(seed)}")

    problems: list[str] = []
    if grad_fn is not None:
        problems += _determinism_problems(claimed, _check_grads(grad_fn(), point, labels))
    first, second = objective(dict(point))[0], objective(dict(point))[0]
    if _bits(first) != _bits(second):
        problems.append(
            f"{what} is not deterministic: two calls gave {_plain(first)} and {_plain(second)}"
        )

    scale = max((_max_abs(g[np.isfinite(g)]) for g in claimed.values()), default=0.0)
    context = _Context(objective, what, point, int(seed), options.step, atol, scale)
    rows = []
    for name in chosen:
        g = claimed[name]
        if g.size == 0:
            rows.append(_empty_row(name, g.shape, min_order if method == "taylor" else rtol))
        elif method == "directional":
            count = directions or DEFAULT_DIRECTIONS[method]
            rows.append(context.directional(name, g, count, rtol))
        elif method == "taylor":
            count = directions or DEFAULT_DIRECTIONS[method]
            rows.append(context.taylor(name, g, count, min_order))
        else:
            rows.append(context.entrywise(method, name, g, entries, rtol))
    return GradientReport(method, tuple(rows), tuple(problems), context.quotient)


# ------------------------------------------------------------------------ the methods


@dataclass(frozen=True)
class _Context:
    objective: Objective
    what: str
    """The name of the checked function in messages: ``loss_fn`` or ``f``."""
    point: dict[str, FloatArray]
    seed: int
    step: float | None
    atol: float | None
    gradient_scale: float
    """The largest finite claimed gradient entry over all parameters."""

    def rng(self, name: str, salt: int) -> np.random.Generator:
        """A generator that depends only on the seed, the parameter's name and the use."""
        return np.random.default_rng([self.seed, salt, *name.encode("utf-8")])

    def real_loss(self, name: str, value: FloatArray) -> tuple[float, float]:
        """The checked scalar with ``name`` set to ``value``, and the size of its terms."""
        scalar, size = self.objective({**self.point, name: value})
        return _real_scalar(self.what, scalar), size

    def quotient(self, name: str, d: FloatArray, h: float) -> float:
        """The central difference quotient along ``d``, for plots."""
        x = self.point[name]
        plus, minus = x + h * d, x - h * d
        return (self.real_loss(name, plus)[0] - self.real_loss(name, minus)[0]) / (2 * h)

    def entrywise(
        self, method: str, name: str, grad: FloatArray, entries: int | None, rtol: float
    ) -> ParameterCheck:
        x = self.point[name]
        indices = list(_entry_indices(x.shape, entries, self.rng(name, 0)))
        analytic = np.array([grad[i] for i in indices], dtype=np.float64)
        if method == "central":
            numeric, noise = self._central(name, indices)
            estimate = None
        elif method == "complex":
            numeric = self._complex(name, indices)
            scale = max(self.gradient_scale, _max_abs(numeric))
            noise = np.full(len(indices), COMPLEX_ROUNDING_FACTOR * EPS * scale)
            estimate = None
        else:
            numeric, noise, estimate = self._ridders(name, indices)
        floor = noise if self.atol is None else np.full(len(indices), self.atol)
        row = _row(self.what, name, x.shape, indices, analytic, numeric, rtol, floor, estimate)
        probe = np.zeros(x.shape)
        probe[row.worst_index] = 1.0
        return replace(row, probe=probe)

    def _central(self, name: str, indices: list[tuple[int, ...]]) -> tuple[FloatArray, FloatArray]:
        x = self.point[name].copy()
        relative = CENTRAL_STEP if self.step is None else self.step
        numeric = np.empty(len(indices))
        noise = np.empty(len(indices))
        for j, i in enumerate(indices):
            numeric[j], noise[j] = self._quotient(name, x, i, relative * max(1.0, abs(x[i])))
        return numeric, noise

    def _quotient(
        self, name: str, x: FloatArray, i: tuple[int, ...], h: float
    ) -> tuple[float, float]:
        """The central quotient at entry i with step h, and its rounding floor."""
        original = x[i]
        x[i] = original + h
        plus_arg = x[i]
        f_plus, size_plus = self.real_loss(name, x)
        x[i] = original - h
        minus_arg = x[i]
        f_minus, size_minus = self.real_loss(name, x)
        x[i] = original
        width = plus_arg - minus_arg  # the step actually taken, exact in floating point
        noise = ROUNDING_FACTOR * EPS * (size_plus + size_minus) / width
        return (f_plus - f_minus) / width, noise

    def _complex(self, name: str, indices: list[tuple[int, ...]]) -> FloatArray:
        point = {k: v.astype(np.complex128) for k, v in self.point.items()}
        z = point[name]
        h = COMPLEX_STEP if self.step is None else self.step
        numeric = np.empty(len(indices))
        for j, i in enumerate(indices):
            original = z[i]
            z[i] = original + 1j * h
            value = self.objective({**point, name: z})[0]
            z[i] = original
            numeric[j] = _complex_scalar(self.what, value).imag / h
        return numeric

    def _ridders(
        self, name: str, indices: list[tuple[int, ...]]
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        x = self.point[name].copy()
        first = RIDDERS_STEP if self.step is None else self.step
        numeric = np.empty(len(indices))
        noise = np.empty(len(indices))
        estimate = np.empty(len(indices))
        for j, i in enumerate(indices):
            numeric[j], estimate[j], floor = self._ridders_entry(
                name, x, i, first * max(1.0, abs(x[i]))
            )
            noise[j] = max(RIDDERS_SAFETY * estimate[j], floor)
        return numeric, noise, estimate

    def _ridders_entry(
        self, name: str, x: FloatArray, i: tuple[int, ...], h: float
    ) -> tuple[float, float, float]:
        r"""Ridders' tableau: central quotients at steps h, h/1.4, ..., extrapolated to 0.

        Column k of row m cancels the :math:`h^{2k}` error term of the quotients
        (Neville's algorithm); the estimate's error is the larger of its differences from
        its two parents. The tableau stops when the diagonal's error grows again.
        """
        shrink2 = RIDDERS_SHRINK**2
        rows: list[list[float]] = []
        best, error, floor = math.nan, math.inf, math.nan
        for m in range(RIDDERS_LEVELS):
            quotient, floor = self._quotient(name, x, i, h / RIDDERS_SHRINK**m)
            row = [quotient]
            factor = shrink2
            for k in range(1, m + 1):
                row.append((row[k - 1] * factor - rows[m - 1][k - 1]) / (factor - 1.0))
                factor *= shrink2
                err = max(abs(row[k] - row[k - 1]), abs(row[k] - rows[m - 1][k - 1]))
                if err <= error:
                    best, error = row[k], err
            rows.append(row)
            if m > 0 and abs(row[m] - rows[m - 1][m - 1]) >= 2.0 * error:
                break
        return best, error, floor

    def directional(self, name: str, grad: FloatArray, count: int, rtol: float) -> ParameterCheck:
        x = self.point[name]
        h = (CENTRAL_STEP if self.step is None else self.step) * max(1.0, _max_abs(x))
        rng = self.rng(name, 1)
        directions = np.empty((count, *x.shape))
        analytic, numeric, noise = np.empty(count), np.empty(count), np.empty(count)
        for k in range(count):
            d = directions[k] = rng.standard_normal(x.shape)
            plus, minus = x + h * d, x - h * d
            (f_plus, size_plus), (f_minus, size_minus) = (
                self.real_loss(name, plus),
                self.real_loss(name, minus),
            )
            # ⟨g, d̃⟩ with d̃ = (plus − minus) / 2h, the direction the rounded points span
            analytic[k] = float(np.sum(grad * (plus - minus))) / (2 * h)
            numeric[k] = (f_plus - f_minus) / (2 * h)
            noise[k] = ROUNDING_FACTOR * EPS * (size_plus + size_minus) / (2 * h)
        floor = noise if self.atol is None else np.full(count, self.atol)
        indices: list[tuple[int, ...]] = [(k,) for k in range(count)]
        row = _row(self.what, name, x.shape, indices, analytic, numeric, rtol, floor, None)
        return replace(row, probe=directions[row.worst_index[0]])

    def taylor(self, name: str, grad: FloatArray, count: int, min_order: float) -> ParameterCheck:
        x = self.point[name]
        f0, size0 = self.real_loss(name, x)
        h_max = (TAYLOR_STEP if self.step is None else self.step) * max(1.0, _max_abs(x))
        rng = self.rng(name, 2)
        orders, analytic, numeric = np.empty(count), np.empty(count), np.empty(count)
        usable = np.empty(count, dtype=np.int64)
        curves = []
        unchanged = True  # every f(x + h d) equals f(x) exactly
        for k in range(count):
            d = rng.standard_normal(x.shape)
            slope = float(np.sum(grad * d))
            steps: FloatArray = h_max * 0.5 ** np.arange(TAYLOR_STEPS, dtype=np.float64)
            evaluated = [self.real_loss(name, x + h * d) for h in steps]
            while True:
                values = np.array([value for value, _ in evaluated])
                sizes = np.array([size for _, size in evaluated])
                remainder = np.abs(values - f0 - steps * slope)
                floor = TAYLOR_FLOOR * EPS * (size0 + sizes)
                above = np.flatnonzero(remainder > floor)
                if len(above) >= TAYLOR_FIT_POINTS or len(steps) == TAYLOR_STEPS + TAYLOR_GROWTH:
                    break
                # nearly affine along d: the remainder needs a larger step to rise above rounding
                steps = np.concatenate([[2 * steps[0]], steps], dtype=np.float64)
                evaluated.insert(0, self.real_loss(name, x + steps[0] * d))
            unchanged = unchanged and bool(np.all(values == f0))
            curves.append((steps, remainder))
            # no remainder at all: f is affine along d with exactly the claimed slope
            usable[k] = TAYLOR_FIT_POINTS if not remainder.any() else len(above)
            orders[k] = _taylor_order(steps, remainder, floor, min_order)
            last = above[-1] if len(above) else len(steps) - 1
            analytic[k], numeric[k] = slope, (values[last] - f0) / steps[last]
        judged = ~np.isnan(orders)
        failing = judged & (orders < min_order)
        inconclusive = usable < TAYLOR_FIT_POINTS
        if failing.any() or not inconclusive.any():
            k = int(np.nanargmin(orders)) if judged.any() else 0
        else:
            k = int(np.argmax(inconclusive))
        passed = not failing.any() and not inconclusive.any()
        note = ""
        if inconclusive.any():
            note = (
                f"{int(inconclusive.sum())} of {count} directions inconclusive: only "
                f"{usable[inconclusive].min()} of {TAYLOR_STEPS + TAYLOR_GROWTH} remainders rose "
                "above rounding, "
                f"{TAYLOR_FIT_POINTS} are needed to fit an order; check {name!r} with "
                "method 'central' or 'complex'"
            )
        if unchanged and not passed and np.any(grad != 0):
            note = _ignored_note(self.what, name)
        return ParameterCheck(
            name=name,
            shape=x.shape,
            checked=count,
            failures=int(failing.sum()),
            worst_index=(k,),
            analytic=float(analytic[k]),
            numeric=float(numeric[k]),
            abs_error=abs(float(analytic[k] - numeric[k])),
            rel_error=float(relative_error(analytic[k], numeric[k])),
            tolerance=min_order,
            atol=math.nan,
            passed=passed,
            order=float(orders[k]),
            passed_on="order" if passed else "",
            inconclusive=int(inconclusive.sum()),
            note=note,
            steps=curves[k][0],
            remainders=curves[k][1],
        )


def _ignored_note(what: str, name: str) -> str:
    return (
        f"every numeric derivative of {name!r} is exactly 0 but the claimed gradient is not: "
        f"{what} probably ignores {name!r} (does it read p[{name!r}]?)"
    )


def _empty_row(name: str, shape: tuple[int, ...], tolerance: float) -> ParameterCheck:
    """A parameter without entries: nothing to compare, so it passes trivially."""
    return ParameterCheck(
        name=name,
        shape=tuple(shape),
        checked=0,
        failures=0,
        worst_index=(),
        analytic=0.0,
        numeric=0.0,
        abs_error=0.0,
        rel_error=0.0,
        tolerance=tolerance,
        atol=0.0,
        passed=True,
    )


def _taylor_order(
    steps: NDArray[Any], remainder: NDArray[Any], floor: NDArray[Any], min_order: float
) -> float:
    r"""The order of the Taylor remainder: the log-log slope over its smallest steps.

    Parameters
    ----------
    steps : ndarray, shape (n,)
        Decreasing steps h.
    remainder : ndarray, shape (n,)
        :math:`|f(x + h d) - f(x) - h \langle g, d \rangle|` at each step.
    floor : ndarray, shape (n,)
        The rounding floor at each step; remainders at or below it are left out.
    min_order : float
        The order below which the test fails.

    Returns
    -------
    float
        The slope fitted to the last ``TAYLOR_FIT_POINTS`` remainders above the floor, or
        NaN when there are fewer of them, or when the slope is below ``min_order`` but a
        local order between neighbouring steps is not.
    """
    above = np.flatnonzero(remainder > floor)
    if len(above) < TAYLOR_FIT_POINTS:
        return math.nan  # too few remainders above rounding to judge
    fit = above[-TAYLOR_FIT_POINTS:]
    log_h, log_r = np.log(steps[fit]), np.log(remainder[fit])
    order = float(np.polyfit(log_h, log_r, 1)[0])
    local = np.diff(log_r) / np.diff(log_h)  # orders between neighbouring steps
    if order < min_order and np.any(local >= min_order):
        return math.nan  # low, but not consistently: cannot judge
    return order


def _row(
    what: str,
    name: str,
    shape: tuple[int, ...],
    indices: list[tuple[int, ...]],
    analytic: FloatArray,
    numeric: FloatArray,
    rtol: float,
    atol: FloatArray,
    estimate: FloatArray | None,
) -> ParameterCheck:
    """Judge every entry and summarise the parameter by its worst one."""
    abs_err = np.abs(analytic - numeric)
    rel = relative_error(analytic, numeric)
    by_rel, by_abs = rel <= rtol, abs_err <= atol  # NaN fails both
    ok = by_rel | by_abs
    counted = ~((np.abs(analytic) <= atol) & (np.abs(numeric) <= atol))  # not noise at zero
    if not ok.all():
        key = np.where(ok, -1.0, np.nan_to_num(rel, nan=2.0))
    elif counted.any():
        key = np.where(counted, rel, -1.0)
    else:
        key = abs_err
    w = int(np.argmax(key))
    passed_on = "rtol" if by_rel[w] else "atol" if by_abs[w] else ""
    ignored = not ok.all() and not numeric.any() and analytic.any()
    return ParameterCheck(
        name=name,
        shape=tuple(shape),
        checked=len(indices),
        failures=int((~ok).sum()),
        worst_index=tuple(int(i) for i in indices[w]),
        analytic=float(analytic[w]),
        numeric=float(numeric[w]),
        abs_error=float(abs_err[w]),
        rel_error=float(rel[w]),
        tolerance=rtol,
        atol=float(atol[w]),
        passed=bool(ok.all()),
        error_estimate=None if estimate is None else float(estimate[w]),
        passed_on=passed_on,
        by_atol=int((by_abs & ~by_rel).sum()),
        note=_ignored_note(what, name) if ignored else "",
    )


# ----------------------------------------------------------------------- validation


def _check_params(params: Mapping[str, ArrayLike], label: str) -> dict[str, FloatArray]:
    if not isinstance(params, Mapping):
        kind = type(params).__name__
        raise TypeError(f"{label} must be a mapping of names to arrays, got {kind}")
    if not params:
        raise ValueError(f"{label} must hold at least 1 array, got an empty mapping")
    point = {}
    for name, value in params.items():
        if not isinstance(name, str):
            raise TypeError(f"names in {label} must be str, got {name!r}")
        arr = np.array(value, copy=True, order="C")
        _require_float64(f"parameter {name!r}", arr)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"parameter {name!r} must be finite, got a NaN or infinite entry")
        point[name] = arr
    return point


def _check_grads(
    grads: Mapping[str, ArrayLike], point: dict[str, FloatArray], labels: tuple[str, str]
) -> dict[str, FloatArray]:
    if not isinstance(grads, Mapping):
        kind = type(grads).__name__
        raise TypeError(f"{labels[1]} must be a mapping of names to arrays, got {kind}")
    if set(grads) != set(point):
        missing, unexpected = sorted(set(point) - set(grads)), sorted(set(grads) - set(point))
        raise ValueError(
            f"{labels[1]} must have the keys of {labels[0]} {sorted(point)}, "
            f"missing {missing}, unexpected {unexpected}"
        )
    claimed = {}
    for name, value in grads.items():
        arr = np.array(value, copy=True, order="C")
        if arr.shape != point[name].shape:
            raise ValueError(
                f"gradient of {name!r} must have its parameter's shape "
                f"{point[name].shape}, got {arr.shape}"
            )
        if arr.dtype != point[name].dtype:
            _require_float64(f"gradient of {name!r}", arr)
        claimed[name] = arr
    return claimed


def _require_float64(what: str, arr: NDArray[Any]) -> None:
    if arr.dtype == np.float32:
        raise TypeError(
            f"{what} is float32; the checker needs float64: with float32's ε ≈ 1.2e-7 a "
            "central difference keeps about 2 digits and correct gradients fail"
        )
    if arr.dtype != np.float64:
        raise TypeError(f"{what} must be a float64 array, got dtype {arr.dtype}")


def _check_names(names: Sequence[str] | None, point: dict[str, FloatArray]) -> list[str]:
    if names is None:
        return list(point)
    if isinstance(names, str):
        raise TypeError(f"names must be a sequence of str, got the str {names!r}")
    unknown = [n for n in names if n not in point]
    if unknown:
        raise ValueError(f"names must be among {list(point)}, got {unknown}")
    if not names:
        raise ValueError("names must hold at least 1 name, got none")
    return [n for n in point if n in names]


def _determinism_problems(
    first: dict[str, FloatArray], second: dict[str, FloatArray]
) -> list[str]:
    problems = []
    for name, a in first.items():
        b = second[name]
        differs = a.view(np.uint8).reshape((*a.shape, -1)) != b.view(np.uint8).reshape(
            (*b.shape, -1)
        )
        if differs.any():
            i = tuple(int(v) for v in np.argwhere(differs.any(axis=-1))[0])
            problems.append(
                f"gradient of {name!r} is not deterministic: two calls differ at index {i}: "
                f"{_plain(a[i])} vs {_plain(b[i])}"
            )
    return problems


def _entry_indices(
    shape: tuple[int, ...], entries: int | None, rng: np.random.Generator
) -> Iterator[tuple[int, ...]]:
    size = math.prod(shape)
    if entries is None or entries >= size:
        yield from np.ndindex(*shape)
        return
    for flat in np.sort(rng.choice(size, size=entries, replace=False)):
        yield tuple(int(i) for i in np.unravel_index(flat, shape))


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be finite and > 0, got {_plain(value)}")
    return float(value)


def _positive_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be ≥ 1, got {value}")


def _scalar(what: str, value: Any) -> Any:
    arr = np.asarray(value)
    if arr.shape != () or arr.dtype.kind not in "iufc":
        raise TypeError(
            f"{what} must return a real or complex scalar, got {type(value).__name__}"
            + (f" of shape {arr.shape}" if arr.shape else "")
        )
    return arr[()]


def _real_scalar(what: str, value: Any) -> float:
    """The real value of the scalar ``value``; a complex one must have a zero imaginary part."""
    if np.imag(value) != 0:
        raise TypeError(f"{what} returned the complex {_plain(value)} for real parameters")
    return float(np.real(value))


def _complex_scalar(what: str, value: Any) -> complex:
    """The scalar ``value``, which must be complex: the complex step reads its imaginary part."""
    if not np.iscomplexobj(value):
        raise TypeError(
            f"{what} returned a real value for complex parameters; the complex step needs a "
            "function that keeps the imaginary part (no abs, max, comparisons or real-typed "
            "buffers)"
        )
    return complex(value)


def _bits(value: Any) -> bytes:
    return np.asarray(value).tobytes()


def _plain(value: Any) -> str:
    """A number as Python prints it: ``0.5``, not numpy 2's ``np.float64(0.5)``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    if np.iscomplexobj(value):
        return repr(complex(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return repr(value)


def _max_abs(values: NDArray[Any]) -> float:
    return float(np.max(np.abs(values))) if values.size else 0.0


# ----------------------------------------------------------------------- formatting


def _fmt(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}e}"  # nan and inf print as such


def _index(method: str, index: tuple[int, ...]) -> str:
    if not index:
        return "-"
    if method in ("directional", "taylor"):
        return f"dir {index[0]}"
    return str(index)


def _passed_on(row: ParameterCheck) -> str:
    """The tolerance the worst entry passed on, and how many entries passed on atol alone."""
    if not row.passed_on:
        return "-"
    if row.by_atol:
        return f"{row.passed_on}; {row.by_atol} of {row.checked} by atol"
    return row.passed_on


def _table(method: str, rows: Sequence[ParameterCheck]) -> str:
    taylor = method == "taylor"
    ridders = method == "richardson"
    headers = ["parameter", "shape", "checked", "worst", "analytic", "numeric", "abs err"]
    headers += ["rel err", "min order" if taylor else "rtol"]
    headers += ["order"] if taylor else ["atol"]
    headers += ["est. err"] if ridders else []
    headers += ["passed on", "result"]
    body = []
    for row in rows:
        cells = [row.name, str(row.shape), str(row.checked), _index(method, row.worst_index)]
        cells += [_fmt(row.analytic, 6), _fmt(row.numeric, 6), _fmt(row.abs_error, 1)]
        cells += [_fmt(row.rel_error, 1)]
        if taylor:
            cells += [f"{row.tolerance:g}", "-" if row.order is None else f"{row.order:.2f}"]
        else:
            cells += [f"{row.tolerance:.0e}", _fmt(row.atol, 1)]
        if ridders:
            cells += ["-" if row.error_estimate is None else _fmt(row.error_estimate, 1)]
        cells += [_passed_on(row)]
        cells += [
            "ok" if row.passed else f"FAIL ({row.failures + row.inconclusive}/{row.checked})"
        ]
        body.append(cells)
    widths = [max(len(r[c]) for r in [headers, *body]) for c in range(len(headers))]
    numeric_columns = set(range(2, len(headers) - 2))

    def line(cells: list[str]) -> str:
        out = [
            cell.rjust(w) if c in numeric_columns else cell.ljust(w)
            for c, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(cells) for cells in body)])


def _describe_failure(method: str, row: ParameterCheck) -> str:
    values = f"analytic {row.analytic:.9e}, numeric {row.numeric:.9e}"
    count = f"{row.failures} of {row.checked}"
    note = f"; {row.note}" if row.note else ""
    if method == "taylor":
        if not row.failures:
            return f"{row.name}: {row.note}"
        return (
            f"{row.name}: direction {row.worst_index[0]}: the Taylor remainder falls with order "
            f"{row.order:.2f} < {row.tolerance:g} (⟨g, d⟩: {values}); "
            f"{count} directions fail{note}"
        )
    where = (
        f"direction {row.worst_index[0]} (⟨g, d⟩)"
        if method == "directional"
        else f"entry {row.worst_index}"
    )
    return (
        f"{row.name}: {where}: {values} (relative error {row.rel_error:.1e} > rtol "
        f"{row.tolerance:.0e}, absolute error {row.abs_error:.1e} > atol {row.atol:.1e}); "
        f"{count} {'directions' if method == 'directional' else 'entries'} fail{note}"
    )
