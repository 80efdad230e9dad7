r"""The long short-term memory cell (LSTM): forward pass and backpropagation through time.

The cell replaces the vanilla recurrence (equations 1 and 2 of the RNN page) with
equations (L1) to (L6) of the LSTM derivation page; the output layer, the softmax and
the loss, equations (3) to (8), are the ones :class:`rnn.model.RecurrentModel` shares
with every cell. The backward pass is equations (L7) to (L16), written as ``# eq. (Ln)``
on the line that computes each.

Notation follows Goodfellow, Bengio and Courville, *Deep Learning* (2016), section 10.10,
where the cell state is :math:`s` and the output gate :math:`q`: in this package
:math:`c` is the output bias and :math:`o` the output layer's logits, so neither letter
is free for the LSTM.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from rnn.model import Array, ForwardCache, RecurrentModel, _check_array_state, _one_hot_columns

__all__ = ["LSTM", "sigmoid"]

GATES = ("i", "f", "g", "q")
"""The LSTM's gates in PyTorch's stacking order: input, forget, candidate, output."""


def sigmoid(a: Array) -> Array:
    r"""The logistic function :math:`\sigma(a) = 1 / (1 + e^{-a})`, elementwise.

    Parameters
    ----------
    a : ndarray
        Real or complex.

    Returns
    -------
    ndarray
        :math:`\sigma(a)`, computed as :math:`\tfrac12 (1 + \tanh \tfrac a2)`.

    Notes
    -----
    The tanh form is the same analytic function, so the complex-step check works through
    it, and unlike ``1 / (1 + exp(-a))`` it cannot overflow for large negative ``a``.
    Its derivative is :math:`\sigma'(a) = \sigma(a)\,(1 - \sigma(a))`.

    Examples
    --------
    >>> sigmoid(np.array([-1e4, 0.0, 1e4])).tolist()
    [0.0, 0.5, 1.0]
    """
    return 0.5 + 0.5 * np.tanh(0.5 * a)


class LSTM(RecurrentModel):
    r"""The LSTM cell with one weight matrix per gate, and the exact gradient.

    Parameters
    ----------
    U_i, U_f, U_g, U_q : array_like, shape (H, V)
        Input-to-hidden weights of the input gate, the forget gate, the candidate and the
        output gate.
    W_i, W_f, W_g, W_q : array_like, shape (H, H)
        Hidden-to-hidden weights of the same four.
    b_i, b_f, b_g, b_q : array_like, shape (H,)
        Their biases.
    V : array_like, shape (V, H)
        Hidden-to-output weights.
    c : array_like, shape (V,)
        Output bias.

    Raises
    ------
    TypeError
        If an array is not numeric, or the arrays have different dtypes.
    ValueError
        If the shapes do not fit together or a value is not finite.

    Notes
    -----
    For :math:`t = 1, \dots, T`, with :math:`x^{(t)}` the one-hot code of input character
    :math:`t` and the state :math:`(h^{(t)}, s^{(t)})`:

    .. math::

        i^{(t)} &= \sigma(b_i + W_i h^{(t-1)} + U_i x^{(t)}) && (L1) \\
        f^{(t)} &= \sigma(b_f + W_f h^{(t-1)} + U_f x^{(t)}) && (L2) \\
        g^{(t)} &= \tanh(b_g + W_g h^{(t-1)} + U_g x^{(t)}) && (L3) \\
        q^{(t)} &= \sigma(b_q + W_q h^{(t-1)} + U_q x^{(t)}) && (L4) \\
        s^{(t)} &= f^{(t)} \odot s^{(t-1)} + i^{(t)} \odot g^{(t)} && (L5) \\
        h^{(t)} &= q^{(t)} \odot \tanh s^{(t)} && (L6)

    then the shared output layer and loss, equations (3) to (5). The gradient runs
    backwards in time from :math:`\delta_k^{(T+1)} = 0` and
    :math:`\nabla_{s^{(T+1)}} L = 0`, with :math:`k \in \{i, f, g, q\}`:

    .. math::

        \nabla_{h^{(t)}} L &= V^\top \nabla_{o^{(t)}} L
            + \textstyle\sum_k W_k^\top \delta_k^{(t+1)} && (L7) \\
        \nabla_{s^{(t)}} L &= q^{(t)} \odot (1 - \tanh^2 s^{(t)}) \odot \nabla_{h^{(t)}} L
            + f^{(t+1)} \odot \nabla_{s^{(t+1)}} L && (L8) \\
        \delta_q^{(t)} &= \nabla_{h^{(t)}} L \odot \tanh s^{(t)}
            \odot q^{(t)} \odot (1 - q^{(t)}) && (L9) \\
        \delta_i^{(t)} &= \nabla_{s^{(t)}} L \odot g^{(t)} \odot i^{(t)} \odot (1 - i^{(t)})
            && (L10) \\
        \delta_f^{(t)} &= \nabla_{s^{(t)}} L \odot s^{(t-1)} \odot f^{(t)} \odot (1 - f^{(t)})
            && (L11) \\
        \delta_g^{(t)} &= \nabla_{s^{(t)}} L \odot i^{(t)} \odot (1 - g^{(t)} \odot g^{(t)})
            && (L12)

    and :math:`\nabla b_k = \sum_t \delta_k^{(t)}` (L13),
    :math:`\nabla W_k = \sum_t \delta_k^{(t)} h^{(t-1)\top}` (L14),
    :math:`\nabla U_k = \sum_t \delta_k^{(t)} x^{(t)\top}` (L15),
    :math:`\nabla_{h^{(0)}} L = \sum_k W_k^\top \delta_k^{(1)}` and
    :math:`\nabla_{s^{(0)}} L = f^{(1)} \odot \nabla_{s^{(1)}} L` (L16).

    - :math:`\delta_k^{(t)}` is the gradient at the pre-activation of gate :math:`k`.
    - The second term of (L8), the gradient that reaches :math:`s^{(t)}` through
      :math:`s^{(t+1)}`, is the one that lets the error travel far back in time.
    - The state is the pair :math:`(h, s)`: ``h0`` must be given as a pair of arrays
      ``(h0, s0)``, and ``loss_and_gradients`` returns the last state as a pair.
    - ``truncation=k`` is implemented as for the RNN, equation (15): each step's loss is
      backpropagated through at most k steps, each step being one application of
      (L1) to (L6).

    **Initialisation.** :meth:`random` draws every weight matrix from
    :math:`\mathcal N(0, \text{scale}^2)` and sets every bias to zero except the forget
    gate's, :math:`b_f = 1`, so that a fresh cell keeps about 73 % of its state per step
    instead of half (Gers, Schmidhuber and Cummins 2000; Jozefowicz, Zaremba and
    Sutskever 2015).

    **PyTorch.** ``torch.nn.LSTM(V, H)`` fed one-hot inputs computes the same cell. It
    stacks the gates in the order i, f, g, o, where its o is our q:

    - ``weight_ih_l0`` (4H, V) is ``[U_i; U_f; U_g; U_q]``;
    - ``weight_hh_l0`` (4H, H) is ``[W_i; W_f; W_g; W_q]``;
    - ``bias_ih_l0 + bias_hh_l0`` (4H,) is ``[b_i; b_f; b_g; b_q]``: PyTorch's two bias
      vectors act only through their sum;
    - its cell state ``c`` is our ``s``; the output layer ``torch.nn.Linear(H, V)`` has
      ``weight`` V and ``bias`` c.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> model = LSTM.random(vocab_size=5, hidden_size=3, rng=rng)
    >>> model.U_i.shape, model.W_f.shape, model.b_f.tolist(), model.V.shape
    ((3, 5), (3, 3), [1.0, 1.0, 1.0], (5, 3))
    >>> loss, grads, (h, s) = model.loss_and_gradients([0, 1, 2], [1, 2, 3])
    >>> grads["W_f"].shape, h.shape, s.shape
    ((3, 3), (3,), (3,))
    """

    cell: ClassVar[str] = "lstm"
    param_names: ClassVar[tuple[str, ...]] = (
        *(f"U_{k}" for k in GATES),
        *(f"W_{k}" for k in GATES),
        *(f"b_{k}" for k in GATES),
        "V",
        "c",
    )

    U_i: Array
    U_f: Array
    U_g: Array
    U_q: Array
    W_i: Array
    W_f: Array
    W_g: Array
    W_q: Array
    b_i: Array
    b_f: Array
    b_g: Array
    b_q: Array
    V: Array
    c: Array

    def __init__(
        self,
        *,
        U_i: Any,
        U_f: Any,
        U_g: Any,
        U_q: Any,
        W_i: Any,
        W_f: Any,
        W_g: Any,
        W_q: Any,
        b_i: Any,
        b_f: Any,
        b_g: Any,
        b_q: Any,
        V: Any,
        c: Any,
    ) -> None:
        self._set_params(
            {
                "U_i": U_i,
                "U_f": U_f,
                "U_g": U_g,
                "U_q": U_q,
                "W_i": W_i,
                "W_f": W_f,
                "W_g": W_g,
                "W_q": W_q,
                "b_i": b_i,
                "b_f": b_f,
                "b_g": b_g,
                "b_q": b_q,
                "V": V,
                "c": c,
            }
        )

    @classmethod
    def param_shapes(cls, vocab_size: int, hidden_size: int) -> dict[str, tuple[int, ...]]:
        """Shapes ``U_k (H, V)``, ``W_k (H, H)``, ``b_k (H,)``; ``V (V, H)``, ``c (V,)``."""
        H, V = hidden_size, vocab_size
        shapes: dict[str, tuple[int, ...]] = {}
        shapes.update({f"U_{k}": (H, V) for k in GATES})
        shapes.update({f"W_{k}": (H, H) for k in GATES})
        shapes.update({f"b_{k}": (H,) for k in GATES})
        return {**shapes, "V": (V, H), "c": (V,)}

    @classmethod
    def _initial_biases(cls, params: dict[str, Array]) -> dict[str, Array]:
        """Set the forget-gate bias to 1; the other biases stay at zero."""
        return {**params, "b_f": np.ones_like(params["b_f"])}

    def initial_state(self, batch_size: int) -> tuple[Array, Array]:
        """The pair of zeros ``(h0, s0)``, each of shape (B, H)."""
        shape = (batch_size, self.hidden_size)
        return np.zeros(shape, dtype=self.dtype), np.zeros(shape, dtype=self.dtype)

    def _check_state(self, state: Any, batch_size: int, batched: bool) -> tuple[Array, Array]:
        if state is None:
            return self.initial_state(batch_size)
        if not (isinstance(state, (tuple, list)) and len(state) == 2):
            raise TypeError(
                f"h0 of an LSTM must be a pair (h0, s0) of arrays, got {type(state).__name__}"
                + (f" of length {len(state)}" if isinstance(state, (tuple, list)) else "")
            )
        H = self.hidden_size
        h = _check_array_state("h0", state[0], batch_size, H, batched)
        s = _check_array_state("s0", state[1], batch_size, H, batched)
        return h, s

    def _unbatch_state(self, state: tuple[Array, Array]) -> tuple[Array, Array]:
        return state[0][0], state[1][0]

    def _hidden_forward(
        self, x: NDArray[np.intp], state: tuple[Array, Array]
    ) -> tuple[Array, tuple[Array, Array], dict[str, Any]]:
        T, B = x.shape
        h, s = state
        # U_k x(t) for every t and gate: gathers of columns, (T, B, H) each
        Ux_i, Ux_f, Ux_g, Ux_q = self.U_i.T[x], self.U_f.T[x], self.U_g.T[x], self.U_q.T[x]
        dtype = np.result_type(self.W_i, h, s)
        i, f, g, q, hs, tanh_s = (np.empty((T, B, self.hidden_size), dtype) for _ in range(6))
        ss = np.empty((T + 1, B, self.hidden_size), dtype)  # s(0) .. s(T)
        ss[0] = s
        for t in range(T):
            i[t] = sigmoid(self.b_i + h @ self.W_i.T + Ux_i[t])  # eq. (L1)
            f[t] = sigmoid(self.b_f + h @ self.W_f.T + Ux_f[t])  # eq. (L2)
            g[t] = np.tanh(self.b_g + h @ self.W_g.T + Ux_g[t])  # eq. (L3)
            q[t] = sigmoid(self.b_q + h @ self.W_q.T + Ux_q[t])  # eq. (L4)
            ss[t + 1] = f[t] * ss[t] + i[t] * g[t]  # eq. (L5)
            tanh_s[t] = np.tanh(ss[t + 1])
            h = hs[t] = q[t] * tanh_s[t]  # eq. (L6)
        extra = {"i": i, "f": f, "g": g, "q": q, "s_prev": ss[:-1], "tanh_s": tanh_s}
        return hs, (h, ss[T]), extra

    def _step_backward(
        self, e: dict[str, Array], t: int | slice, dh: Array, ds_next: Array
    ) -> tuple[tuple[Array, Array, Array, Array], Array, Array]:
        r"""Backpropagate through step(s) ``t``, one application of (L1) to (L6).

        ``dh`` is :math:`\nabla_{h^{(t)}} L` and ``ds_next`` the part of
        :math:`\nabla_{s^{(t)}} L` that comes through :math:`s^{(t+1)}`. Returns the gate
        deltas (i, f, g, q) and the gradients that reach :math:`h^{(t-1)}` and
        :math:`s^{(t-1)}` through this step.
        """
        i, f, g, q, tanh_s = e["i"][t], e["f"][t], e["g"][t], e["q"][t], e["tanh_s"][t]
        ds = q * (1.0 - tanh_s * tanh_s) * dh + ds_next  # eq. (L8)
        d_q = dh * tanh_s * q * (1.0 - q)  # eq. (L9)
        d_i = ds * g * i * (1.0 - i)  # eq. (L10)
        d_f = ds * e["s_prev"][t] * f * (1.0 - f)  # eq. (L11)
        d_g = ds * i * (1.0 - g * g)  # eq. (L12)
        # what reaches h(t−1) and s(t−1) through this step: the recurrent terms of (L7) and
        # (L8) one step earlier, or (L16) at the first step
        dh_prev = d_i @ self.W_i + d_f @ self.W_f + d_g @ self.W_g + d_q @ self.W_q
        ds_prev = f * ds
        return (d_i, d_f, d_g, d_q), dh_prev, ds_prev

    def _hidden_backward(
        self, cache: ForwardCache, dhs: Array, truncation: int | None
    ) -> tuple[dict[str, Array], tuple[Array, Array]]:
        T, B, H = dhs.shape
        e = dict(cache.extra)
        deltas = np.zeros((len(GATES), T, B, H), dtype=dhs.dtype)  # δ_k(t) for each gate k
        dh0, ds0 = np.zeros((B, H), dhs.dtype), np.zeros((B, H), dhs.dtype)
        if truncation is None:
            dh_next, ds_next = dh0, ds0  # the recurrent terms of (L7) and (L8); zero at T + 1
            for t in reversed(range(T)):
                dh = dhs[t] + dh_next  # eq. (L7)
                deltas[:, t], dh_next, ds_next = self._step_backward(e, t, dh, ds_next)
            dh0, ds0 = dh_next, ds_next  # eq. (L16)
        else:
            # lag j: the gradients at h(t), s(t) from the loss at t + j alone, indexed by t
            grad_h, grad_s = dhs, np.zeros_like(dhs)
            for j in range(min(truncation, T)):
                part, dh_prev, ds_prev = self._step_backward(e, slice(0, T - j), grad_h, grad_s)
                deltas[:, : T - j] += part  # eq. (15)
                dh0 += dh_prev[0]
                ds0 += ds_prev[0]
                grad_h, grad_s = dh_prev[1:], ds_prev[1:]
        h_prev = np.concatenate([cache.state[0][None], cache.hs[:-1]]).reshape(T * B, H)
        d = deltas.reshape(len(GATES), T * B, H)
        X = _one_hot_columns(cache.inputs, self.vocab_size, dhs.dtype)  # x(t) as sparse columns
        grads: dict[str, Array] = {}
        for n, k in enumerate(GATES):
            grads[f"b_{k}"] = d[n].sum(axis=0)  # eq. (L13)
            grads[f"W_{k}"] = d[n].T @ h_prev  # eq. (L14)
            grads[f"U_{k}"] = (X @ d[n]).T  # eq. (L15): each δ(t) added into column x(t)
        return grads, (dh0, ds0)
