"""Gradient verification: a generic finite-difference checker, a grader and Hypothesis strategies.

:mod:`verification.gradcheck` knows nothing of recurrent networks: it checks the claimed
gradient of any scalar function of named float64 arrays (:func:`check_gradients`), and a
backward pass against an upstream gradient (:func:`check_vjp`). :mod:`verification.strategies`
(imported on its own, since it needs Hypothesis: the ``strategies`` extra) generates random
models of every cell in ``rnn.training.CELLS``. :func:`verification.grade` grades a
student's own backward pass and names the known mistake it shows (the catalogue is
:mod:`verification.mistakes`); on the package, ``grade`` is that function, so its module's
other names are imported with ``from verification.grade import ...``.
"""

from verification.gradcheck import (
    DEFAULT_MIN_ORDER,
    DEFAULT_RTOL,
    METHODS,
    GradientReport,
    ParameterCheck,
    check_gradients,
    check_vjp,
    relative_error,
)
from verification.grade import GradeReport, GradingError, grade

__all__ = [
    "DEFAULT_MIN_ORDER",
    "DEFAULT_RTOL",
    "METHODS",
    "GradeReport",
    "GradientReport",
    "GradingError",
    "ParameterCheck",
    "check_gradients",
    "check_vjp",
    "grade",
    "relative_error",
]
