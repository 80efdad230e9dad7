"""Gradient verification: a generic finite-difference checker and Hypothesis strategies.

:mod:`verification.gradcheck` knows nothing of recurrent networks: it checks the claimed
gradient of any scalar function of named float64 arrays (:func:`check_gradients`), and a
backward pass against an upstream gradient (:func:`check_vjp`). :mod:`verification.strategies`
(imported on its own, since it needs Hypothesis: the ``strategies`` extra) generates random
models of every cell in ``rnn.training.CELLS``.
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
