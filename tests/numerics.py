"""Small numerical helpers shared by the tests: entrywise reference derivatives, and the
error measures of the cell tests and of the PyTorch parity tests (tests/crosscheck).

The derivatives are deliberately naive loops, independent of the ``verification``
package, so the cell tests do not depend on the checker they help to validate.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def relative_error(a: np.ndarray, n: np.ndarray) -> float:
    """max |a − n| / max(|a| + |n|, tiny), the definition the docs state."""
    tiny = np.finfo(np.float64).tiny
    return float(np.max(np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), tiny)))


def central(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central differences of scalar f at x, entry by entry, with a step scaled to each entry."""
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = h * max(1.0, abs(x[i]))
        xp, xm = x.copy(), x.copy()
        xp[i] += step
        xm[i] -= step
        out[i] = (f(xp) - f(xm)) / (2 * step)
    return out


def complex_step(f: Callable[[np.ndarray], complex], x: np.ndarray) -> np.ndarray:
    """Im f(x + i h e_k) / h for every entry k, with h = 1e-30: no subtraction, no rounding."""
    out = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        xc = x.astype(np.complex128)
        xc[i] += 1e-30j
        out[i] = f(xc).imag / 1e-30
    return out


def sigmoid(a: np.ndarray) -> np.ndarray:
    """The logistic function, written out for the hand-computed forward passes."""
    return 1.0 / (1.0 + np.exp(-a))


def normwise_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    """max|ours − theirs| / max|theirs|; 0 only when both are exactly equal.

    The error of a whole array relative to its largest entry, as the PyTorch parity tests
    state it: an entry far smaller than the rest may differ by rounding of the rest."""
    diff = float(np.max(np.abs(ours - theirs), initial=0.0))
    size = float(np.max(np.abs(theirs), initial=0.0))
    return diff / max(size, np.finfo(np.float64).tiny)


def assert_normwise_close(name: str, ours: np.ndarray, theirs: np.ndarray, rtol: float) -> None:
    assert ours.shape == theirs.shape, f"{name}: shapes {ours.shape} and {theirs.shape}"
    err = normwise_error(ours, theirs)
    assert err <= rtol, (
        f"{name}: relative error {err:.3e} > {rtol:.0e}\nours={ours}\ntorch={theirs}"
    )


class RecordingLoss:
    """Wraps a loss of a dict ``p``; records a copy of ``p["x"]`` at every call, so that
    tests can read back the points (steps, directions) a checker evaluated."""

    def __init__(self, loss: Callable[[dict[str, np.ndarray]], object]) -> None:
        self.loss = loss
        self.points: list[np.ndarray] = []

    def __call__(self, p: dict[str, np.ndarray]) -> object:
        self.points.append(np.array(p["x"], copy=True))
        return self.loss(p)
