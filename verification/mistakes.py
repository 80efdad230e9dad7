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

The LSTM (equations (L1) to (L16) of the LSTM page) has its own exact loop,
:func:`lstm_backward`, and the mistakes of :data:`LSTM_CATALOGUE`, each again one line away
from it; :data:`LSTM_LEFT_OUT` says why the others of :data:`CATALOGUE` are not diagnosed
for the LSTM.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "CATALOGUE",
    "LSTM_BREAKS",
    "LSTM_CATALOGUE",
    "LSTM_LEFT_OUT",
    "LSTM_TRANSPOSED_EQUATIONS",
    "Mistake",
    "RNNForward",
    "char_rnn_gradients",
    "lstm_backward",
    "rnn_backward",
    "rnn_forward",
]

if TYPE_CHECKING:
    from rnn.layers.lstm import LSTMCache

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


def _visited_steps(T: int, mistake: Mistake | None) -> range:
    """The steps 0 … T-1 a backward loop visits: all, or all but the first or the last."""
    if mistake is FIRST_STEP_MISSING:
        return range(1, T)
    if mistake is LAST_STEP_MISSING:
        return range(T - 1)
    return range(T)


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
    steps = _visited_steps(len(dh), mistake)
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


LSTM_CATALOGUE: tuple[Mistake, ...] = (
    TRUNCATED,
    TRANSPOSED,
    H_T_NOT_H_PREVIOUS,
    FIRST_STEP_MISSING,
    LAST_STEP_MISSING,
    SIGN_FLIPPED,
)
"""The mistakes diagnosed for the LSTM, with the same phrases as for the RNN."""

LSTM_BREAKS: dict[Mistake, tuple[str, str]] = {
    TRUNCATED: (
        "(L7)",
        "∇h(t) L = Vᵀ ∇o(t) L + Σ_k W_kᵀ δ_k(t+1), and (L8) adds f(t+1) ⊙ ∇s(t+1) L to ∇s(t) L: "
        "both recurrent terms, through h and through s, are missing (truncation (15) with k = 1)",
    ),
    TRANSPOSED: (
        "(L14)",
        "∇W_k = Σ δ_k(t) h(t-1)ᵀ is an outer product δ hᵀ; in cs231n's rows dWh = prev_hᵀ da "
        "is (H, 4H), not daᵀ prev_h (likewise (L15) for U, cs231n's dWx)",
    ),
    H_T_NOT_H_PREVIOUS: (
        "(L14)",
        "∇W_k = Σ δ_k(t) h(t-1)ᵀ pairs δ_k(t) with the state that entered step t, h(t-1)",
    ),
    FIRST_STEP_MISSING: (
        "(L13)",
        "the sums (L13)-(L15) run over t = 1 … T; the backward loop stops before t = 1",
    ),
    LAST_STEP_MISSING: (
        "(L13)",
        "the sums (L13)-(L15) run over t = 1 … T; the backward loop starts at T - 1",
    ),
    SIGN_FLIPPED: (
        "(L7)",
        "∇h(t) L starts from the gradient given from above (Vᵀ ∇o(t) L for the character "
        "model, the upstream dh for a layer), not its negative: every gradient changes sign",
    ),
}
"""For each mistake of :data:`LSTM_CATALOGUE`, the equation of the LSTM page it breaks and
what that equation says."""

LSTM_TRANSPOSED_EQUATIONS = {"U": "(L15)", "W": "(L14)"}
"""The LSTM page's equation a transposed gradient breaks, by the role of its parameter."""

LSTM_LEFT_OUT: dict[Mistake, str] = {
    TANH_OF_PREACTIVATION: (
        "the LSTM has two tanh's, the candidate g (L3) and tanh s(t) (L6); the slope of either "
        "taken from its pre-activation gives a different gradient, and naming one would guess"
    ),
    W_NOT_TRANSPOSED: (
        "in cs231n's rows the product da @ Wh of (N, 4H) and (H, 4H) does not conform: the "
        "mistake raises in the student's line instead of giving a gradient"
    ),
    MEAN_NOT_SUM: (
        "the layer's functions compute no loss, the upstream gradient is given; a mean is "
        "diagnosed where the loss is, in temporal_softmax_loss"
    ),
}
"""The mistakes of :data:`CATALOGUE` not diagnosed for the LSTM, and why."""


def lstm_backward(
    steps: LSTMCache,
    dh: FloatArray,
    ds_last: FloatArray,
    params: dict[str, FloatArray],
    mistake: Mistake | None = None,
) -> dict[str, FloatArray]:
    """The LSTM layer's gradients, exact or under one mistake of :data:`LSTM_CATALOGUE`.

    Parameters
    ----------
    steps : LSTMCache
        The forward pass of :class:`rnn.layers.lstm.LSTMLayer` on dense inputs, every field
        with a leading T axis (its ``SequenceCache.steps``): x (T, B, D), the rest (T, B, H).
    dh : ndarray, shape (T, B, H)
        The gradient reaching each h(t) from outside the recurrence.
    ds_last : ndarray, shape (B, H)
        The gradient reaching s(T) from outside (cs231n's ``dnext_c`` for one step).
    params : dict of str to ndarray
        The layer's ``U_k`` (H, D), ``W_k`` (H, H), ``b_k`` (H,) for k in i, f, g, q.
    mistake : Mistake, optional
        None for the exact gradient.

    Returns
    -------
    dict of str to ndarray
        Every parameter's gradient by its name, ``x`` (T, B, D), ``h0`` and ``s0`` (B, H).
    """
    from rnn.layers.lstm import GATES

    visited = _visited_steps(len(dh), mistake)
    grads = {name: np.zeros_like(p) for name, p in params.items()}
    dx = np.zeros_like(steps.x)
    carry_h, carry_s = np.zeros_like(ds_last), ds_last  # what reaches h(t) and s(t) from t + 1
    for t in reversed(visited):
        i, f, g, q, tanh_s = steps.i[t], steps.f[t], steps.g[t], steps.q[t], steps.tanh_s[t]
        recurrent = mistake is not TRUNCATED
        dh_t = dh[t] + carry_h if recurrent else dh[t]  # eq. (L7)
        ds = q * (1 - tanh_s**2) * dh_t + (carry_s if recurrent else 0)  # eq. (L8)
        deltas = {
            "q": dh_t * tanh_s * q * (1 - q),  # eq. (L9)
            "i": ds * g * i * (1 - i),  # eq. (L10)
            "f": ds * steps.s_prev[t] * f * (1 - f),  # eq. (L11)
            "g": ds * i * (1 - g**2),  # eq. (L12)
        }
        h_previous = steps.h[t] if mistake is H_T_NOT_H_PREVIOUS else steps.h_prev[t]
        carry_h = np.zeros_like(carry_h)
        for k in GATES:
            grads[f"b_{k}"] += deltas[k].sum(axis=0)  # eq. (L13)
            grads[f"W_{k}"] += deltas[k].T @ h_previous  # eq. (L14)
            grads[f"U_{k}"] += deltas[k].T @ steps.x[t]  # eq. (L15)
            dx[t] += deltas[k] @ params[f"U_{k}"]
            carry_h = carry_h + deltas[k] @ params[f"W_{k}"]  # eq. (L16) at t = 1
        carry_s = f * ds  # eq. (L16) at t = 1
    return {**grads, "x": dx, "h0": carry_h, "s0": carry_s}
