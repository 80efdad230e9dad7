r"""The known mistakes of backpropagation through time, and the gradient each one gives.

A student's wrong gradient is diagnosed by computing the reference gradient again under
every mistake of :data:`CATALOGUE` and naming the one it equals. So each mistake is written
here as deliberately wrong BPTT code: :func:`rnn_backward` is the exact backward pass of the
vanilla RNN, and every mistake changes one line of it (or, for the last three, every
gradient after the pass).

The math is the derivation page's, in the package's convention, with the batch as rows:
the inputs ``x`` are dense, shape (T, B, D) (one-hot codes for a character model), the
states shape (T, B, H), and

.. math::

    a^{(t)} = b + W h^{(t-1)} + U x^{(t)}, \qquad h^{(t)} = \tanh a^{(t)},

with ``U`` (H, D), ``W`` (H, H), ``b`` (H,). ``dh`` (T, B, H) is the gradient that reaches
each :math:`h^{(t)}` from outside the recurrence: :math:`V^\top \nabla_{o^{(t)}} L` for the
character model, the upstream gradient for a layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "CATALOGUE",
    "Mistake",
    "RNNForward",
    "char_rnn_gradients",
    "rnn_backward",
    "rnn_forward",
]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Mistake:
    """One known mistake of a backward pass.

    Attributes
    ----------
    phrase : str
        The words a report uses for it.
    equation : str
        The equation of the derivation page it breaks, such as ``"(9)"``.
    breaks : str
        What that equation says and how the mistake departs from it.
    in_one_step : bool
        Whether it can happen in a single step of the recurrence (a step function's
        backward pass), not only in a pass over a sequence.
    """

    phrase: str
    equation: str
    breaks: str
    in_one_step: bool


TRUNCATED = Mistake(
    "truncated BPTT (k=1)",
    "(9)",
    "∇h(t) L = Vᵀ ∇o(t) L + Wᵀ δ(t+1): the Wᵀ δ(t+1) term, the gradient from later steps, "
    "is missing",
    in_one_step=False,
)
TRANSPOSED = Mistake(
    "transposed",
    "(12)",
    "∇W = Σ δ(t) h(t-1)ᵀ is an outer product δ hᵀ, not h δᵀ (likewise (8) for V and (13) for U)",
    in_one_step=True,
)
TANH_OF_PREACTIVATION = Mistake(
    "tanh derivative from the pre-activation",
    "(10)",
    "δ(t) = (1 - h(t)²) ⊙ ∇h(t) L takes tanh' = 1 - tanh² from h(t) = tanh a(t), not 1 - a(t)²",
    in_one_step=True,
)
W_NOT_TRANSPOSED = Mistake(
    "W instead of W transpose",
    "(9)",
    "∇h(t) L = Vᵀ ∇o(t) L + Wᵀ δ(t+1) carries δ back through Wᵀ, not W",
    in_one_step=True,
)
H_T_NOT_H_PREVIOUS = Mistake(
    "h(t) instead of h(t-1)",
    "(12)",
    "∇W = Σ δ(t) h(t-1)ᵀ pairs δ(t) with the state that entered step t, h(t-1)",
    in_one_step=True,
)
FIRST_STEP_MISSING = Mistake(
    "first step missing",
    "(11)",
    "the sums (7), (8) and (11)-(13) run over t = 1 … T; the backward loop stops before t = 1",
    in_one_step=False,
)
LAST_STEP_MISSING = Mistake(
    "last step missing",
    "(11)",
    "the sums (7), (8) and (11)-(13) run over t = 1 … T; the backward loop starts at T - 1",
    in_one_step=False,
)
MEAN_NOT_SUM = Mistake(
    "mean instead of sum",
    "(5)",
    "L = -Σ_t ln ŷ(t)[y(t)] is a sum over the steps (and sequences), not a mean",
    in_one_step=False,
)
SIGN_FLIPPED = Mistake(
    "sign flipped",
    "(6)",
    "∇o(t) L = ŷ(t) - onehot(y(t)), not onehot(y(t)) - ŷ(t): every gradient changes sign",
    in_one_step=True,
)

CATALOGUE: tuple[Mistake, ...] = (
    TRUNCATED,
    TRANSPOSED,
    TANH_OF_PREACTIVATION,
    W_NOT_TRANSPOSED,
    H_T_NOT_H_PREVIOUS,
    FIRST_STEP_MISSING,
    LAST_STEP_MISSING,
    MEAN_NOT_SUM,
    SIGN_FLIPPED,
)
"""Every known mistake, in the order the docs page lists them."""

TRANSPOSED_EQUATIONS = {"U": "(13)", "W": "(12)", "V": "(8)"}
"""The equation a transposed gradient breaks, by the package's name of its parameter."""


@dataclass(frozen=True)
class RNNForward:
    """What the forward pass keeps: inputs (T, B, D), h(0) (B, H), a and h (T, B, H)."""

    x: FloatArray
    h0: FloatArray
    a: FloatArray
    h: FloatArray


def rnn_forward(
    x: FloatArray, h0: FloatArray, U: FloatArray, W: FloatArray, b: FloatArray
) -> RNNForward:
    """The recurrence over a sequence, in float64.

    Parameters
    ----------
    x : ndarray, shape (T, B, D)
        Inputs, dense.
    h0 : ndarray, shape (B, H)
        Initial state.
    U : ndarray, shape (H, D)
    W : ndarray, shape (H, H)
    b : ndarray, shape (H,)

    Returns
    -------
    RNNForward
    """
    T, B = x.shape[:2]
    a = np.empty((T, B, W.shape[0]))
    h = np.empty_like(a)
    h_previous = h0
    for t in range(T):
        a[t] = x[t] @ U.T + h_previous @ W.T + b  # eq. (1)
        h[t] = np.tanh(a[t])  # eq. (2)
        h_previous = h[t]
    return RNNForward(x, h0, a, h)


def rnn_backward(
    fw: RNNForward, dh: FloatArray, U: FloatArray, W: FloatArray, mistake: Mistake | None = None
) -> dict[str, FloatArray]:
    """The gradients of the recurrence, exact or under one mistake of :data:`CATALOGUE`.

    Parameters
    ----------
    fw : RNNForward
        The forward pass.
    dh : ndarray, shape (T, B, H)
        The gradient reaching each h(t) from outside the recurrence.
    U, W : ndarray
        The weights of the forward pass, (H, D) and (H, H).
    mistake : Mistake, optional
        None for the exact gradient.

    Returns
    -------
    dict of str to ndarray
        ``U`` (H, D), ``W`` (H, H), ``b`` (H,), ``x`` (T, B, D) and ``h0`` (B, H).
    """
    T = len(dh)
    steps = range(T)
    if mistake is FIRST_STEP_MISSING:
        steps = range(1, T)
    if mistake is LAST_STEP_MISSING:
        steps = range(T - 1)
    dU, dW, db = np.zeros_like(U), np.zeros_like(W), np.zeros(W.shape[0])
    dx = np.zeros_like(fw.x)
    carry = np.zeros_like(fw.h0)  # Wᵀ δ(t+1), as a row: δ(t+1) W
    for t in reversed(steps):
        g = dh[t] if mistake is TRUNCATED else dh[t] + carry  # eq. (9)
        tanh_slope = 1 - (fw.a[t] if mistake is TANH_OF_PREACTIVATION else fw.h[t]) ** 2
        delta = tanh_slope * g  # eq. (10)
        h_previous = fw.h0 if t == 0 else fw.h[t - 1]
        db += delta.sum(axis=0)  # eq. (11)
        dW += delta.T @ (fw.h[t] if mistake is H_T_NOT_H_PREVIOUS else h_previous)  # eq. (12)
        dU += delta.T @ fw.x[t]  # eq. (13)
        dx[t] = delta @ U
        carry = delta @ (W.T if mistake is W_NOT_TRANSPOSED else W)  # eq. (14) at t = 1
    return {"U": dU, "W": dW, "b": db, "x": dx, "h0": carry}


def char_rnn_gradients(
    params: dict[str, FloatArray],
    inputs: NDArray[np.intp],
    targets: NDArray[np.intp],
    h0: FloatArray,
    mistake: Mistake | None = None,
) -> dict[str, FloatArray]:
    """The character RNN's gradients (U, W, V, b, c and h0), exact or under one mistake.

    Parameters
    ----------
    params : dict of str to ndarray
        ``U`` (H, V), ``W`` (H, H), ``V`` (V, H), ``b`` (H,), ``c`` (V,).
    inputs, targets : ndarray of int, shape (T, B)
    h0 : ndarray, shape (B, H)
    mistake : Mistake, optional
        None for the exact gradient of the summed loss (5).

    Returns
    -------
    dict of str to ndarray
    """
    U, W, V, c = params["U"], params["W"], params["V"], params["c"]
    eye = np.eye(V.shape[0])
    fw = rnn_forward(eye[inputs], h0, U, W, params["b"])
    o = fw.h @ V.T + c  # eq. (3)
    y_hat = np.exp(o - o.max(axis=-1, keepdims=True))
    y_hat /= y_hat.sum(axis=-1, keepdims=True)  # eq. (4)
    do = y_hat - eye[targets]  # eq. (6)
    steps = np.ones(len(inputs), dtype=bool)
    if mistake is FIRST_STEP_MISSING:
        steps[0] = False
    if mistake is LAST_STEP_MISSING:
        steps[-1] = False
    do *= steps[:, None, None]  # the output layer's terms of the steps the loop visits
    grads = rnn_backward(fw, do @ V, U, W, mistake)
    grads["c"] = do.sum(axis=(0, 1))  # eq. (7)
    grads["V"] = np.einsum("tbv,tbh->vh", do, fw.h)  # eq. (8)
    del grads["x"]
    return after_the_pass(grads, mistake, terms=inputs.size)


def after_the_pass(
    grads: dict[str, FloatArray], mistake: Mistake | None, terms: int
) -> dict[str, FloatArray]:
    """The gradients as the last three mistakes leave them: weights transposed, averaged, negated.

    ``terms`` is the number of terms of the summed loss (T·B), by which a mean divides.
    """
    if mistake is TRANSPOSED:
        return {name: g.T if name in TRANSPOSED_EQUATIONS else g for name, g in grads.items()}
    if mistake is MEAN_NOT_SUM:
        return {name: g / terms for name, g in grads.items()}
    if mistake is SIGN_FLIPPED:
        return {name: -g for name, g in grads.items()}
    return grads
