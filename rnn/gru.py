r"""The gated recurrent unit (GRU): forward pass and backpropagation through time.

The cell replaces the vanilla recurrence (equations 1 and 2 of the RNN page) with
equations (G1) to (G5) of the GRU derivation page; the output layer, the softmax and the
loss, equations (3) to (8), are the ones :class:`rnn.model.RecurrentModel` shares with
every cell. The backward pass is equations (G6) to (G14), written as ``# eq. (Gn)`` on the
line that computes each.

The cell is the one of Cho et al. (2014) in the variant that PyTorch's ``torch.nn.GRU``
computes, where the reset gate multiplies the recurrent term *after* its matrix product.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from rnn.lstm import sigmoid
from rnn.model import Array, ForwardCache, RecurrentModel, _check_array_state, _one_hot_columns

__all__ = ["GRU"]

GATES = ("r", "z", "n")
"""The GRU's gates in PyTorch's stacking order: reset, update, candidate."""


class GRU(RecurrentModel):
    r"""The GRU cell as ``torch.nn.GRU`` computes it, with one weight matrix per gate.

    Parameters
    ----------
    U_r, U_z, U_n : array_like, shape (H, V)
        Input-to-hidden weights of the reset gate, the update gate and the candidate.
    W_r, W_z, W_n : array_like, shape (H, H)
        Hidden-to-hidden weights of the same three.
    b_r, b_z, b_n : array_like, shape (H,)
        Their biases; ``b_n`` is the candidate's input-side bias.
    b_hn : array_like, shape (H,)
        The candidate's recurrent bias, which the reset gate scales.
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
    :math:`t`:

    .. math::

        r^{(t)} &= \sigma(b_r + W_r h^{(t-1)} + U_r x^{(t)}) && (G1) \\
        z^{(t)} &= \sigma(b_z + W_z h^{(t-1)} + U_z x^{(t)}) && (G2) \\
        m^{(t)} &= b_{hn} + W_n h^{(t-1)} && (G3) \\
        n^{(t)} &= \tanh(b_n + U_n x^{(t)} + r^{(t)} \odot m^{(t)}) && (G4) \\
        h^{(t)} &= (1 - z^{(t)}) \odot n^{(t)} + z^{(t)} \odot h^{(t-1)} && (G5)

    then the shared output layer and loss, equations (3) to (5). The gradient runs
    backwards in time from :math:`\nabla_{h^{(T+1)}} L = 0` and
    :math:`\delta_k^{(T+1)} = 0`:

    .. math::

        \nabla_{h^{(t)}} L &= V^\top \nabla_{o^{(t)}} L
            + z^{(t+1)} \odot \nabla_{h^{(t+1)}} L
            + W_r^\top \delta_r^{(t+1)} + W_z^\top \delta_z^{(t+1)}
            + W_n^\top \delta_m^{(t+1)} && (G6) \\
        \delta_n^{(t)} &= \nabla_{h^{(t)}} L \odot (1 - z^{(t)})
            \odot (1 - n^{(t)} \odot n^{(t)}) && (G7) \\
        \delta_z^{(t)} &= \nabla_{h^{(t)}} L \odot (h^{(t-1)} - n^{(t)})
            \odot z^{(t)} \odot (1 - z^{(t)}) && (G8) \\
        \delta_m^{(t)} &= \delta_n^{(t)} \odot r^{(t)} && (G9) \\
        \delta_r^{(t)} &= \delta_n^{(t)} \odot m^{(t)} \odot r^{(t)} \odot (1 - r^{(t)})
            && (G10)

    and, with :math:`k \in \{r, z, n\}`, :math:`\nabla b_k = \sum_t \delta_k^{(t)}`,
    :math:`\nabla b_{hn} = \sum_t \delta_m^{(t)}` (G11);
    :math:`\nabla W_r = \sum_t \delta_r^{(t)} h^{(t-1)\top}`, likewise
    :math:`W_z`, and :math:`\nabla W_n = \sum_t \delta_m^{(t)} h^{(t-1)\top}` (G12);
    :math:`\nabla U_k = \sum_t \delta_k^{(t)} x^{(t)\top}` (G13);
    :math:`\nabla_{h^{(0)}} L` is the recurrent part of (G6) at :math:`t = 0` (G14).

    - :math:`\delta_k^{(t)}` is the gradient at the pre-activation of gate :math:`k`, and
      :math:`\delta_m^{(t)}` the gradient at :math:`m^{(t)}`.
    - The term :math:`z^{(t+1)} \odot \nabla_{h^{(t+1)}} L` of (G6) passes the gradient
      back without any matrix product or squashing derivative when :math:`z \approx 1`.
    - ``truncation=k`` is implemented as for the RNN, equation (15): each step's loss is
      backpropagated through at most k steps, each step being one application of
      (G1) to (G5).

    **Initialisation.** :meth:`random` draws every weight matrix from
    :math:`\mathcal N(0, \text{scale}^2)` and sets every bias to zero, as for the RNN: the
    update gate then starts at :math:`z = 1/2`, halfway between copying the state and
    replacing it.

    **PyTorch.** ``torch.nn.GRU(V, H)`` fed one-hot inputs computes exactly this cell:
    its :math:`n = \tanh(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn}))` and
    :math:`h' = (1 - z) \odot n + z \odot h` are (G3) to (G5). It stacks the gates in the
    order r, z, n:

    - ``weight_ih_l0`` (3H, V) is ``[U_r; U_z; U_n]``;
    - ``weight_hh_l0`` (3H, H) is ``[W_r; W_z; W_n]``;
    - ``bias_ih_l0`` is ``[b_ir; b_iz; b_in]`` and ``bias_hh_l0`` is ``[b_hr; b_hz; b_hn]``,
      so ``b_r = b_ir + b_hr``, ``b_z = b_iz + b_hz``, ``b_n = b_in`` and ``b_hn = b_hn``
      (the reset and update gates see only the sum of their two biases);
    - the output layer ``torch.nn.Linear(H, V)`` has ``weight`` V and ``bias`` c.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> model = GRU.random(vocab_size=5, hidden_size=3, rng=rng)
    >>> model.U_r.shape, model.W_n.shape, model.b_hn.shape, model.V.shape
    ((3, 5), (3, 3), (3,), (5, 3))
    >>> loss, grads, h = model.loss_and_gradients([0, 1, 2], [1, 2, 3])
    >>> grads["W_z"].shape, h.shape
    ((3, 3), (3,))
    """

    cell: ClassVar[str] = "gru"
    param_names: ClassVar[tuple[str, ...]] = (
        *(f"U_{k}" for k in GATES),
        *(f"W_{k}" for k in GATES),
        *(f"b_{k}" for k in GATES),
        "b_hn",
        "V",
        "c",
    )

    U_r: Array
    U_z: Array
    U_n: Array
    W_r: Array
    W_z: Array
    W_n: Array
    b_r: Array
    b_z: Array
    b_n: Array
    b_hn: Array
    V: Array
    c: Array

    def __init__(
        self,
        *,
        U_r: Any,
        U_z: Any,
        U_n: Any,
        W_r: Any,
        W_z: Any,
        W_n: Any,
        b_r: Any,
        b_z: Any,
        b_n: Any,
        b_hn: Any,
        V: Any,
        c: Any,
    ) -> None:
        self._set_params(
            {
                "U_r": U_r,
                "U_z": U_z,
                "U_n": U_n,
                "W_r": W_r,
                "W_z": W_z,
                "W_n": W_n,
                "b_r": b_r,
                "b_z": b_z,
                "b_n": b_n,
                "b_hn": b_hn,
                "V": V,
                "c": c,
            }
        )

    @classmethod
    def param_shapes(cls, vocab_size: int, hidden_size: int) -> dict[str, tuple[int, ...]]:
        """Shapes ``U_k (H, V)``, ``W_k (H, H)``, ``b_k (H,)``; ``b_hn (H,)``, ``V``, ``c``."""
        H, V = hidden_size, vocab_size
        shapes: dict[str, tuple[int, ...]] = {}
        shapes.update({f"U_{k}": (H, V) for k in GATES})
        shapes.update({f"W_{k}": (H, H) for k in GATES})
        shapes.update({f"b_{k}": (H,) for k in GATES})
        return {**shapes, "b_hn": (H,), "V": (V, H), "c": (V,)}

    def initial_state(self, batch_size: int) -> Array:
        """Zeros of shape (B, H)."""
        return np.zeros((batch_size, self.hidden_size), dtype=self.dtype)

    def _check_state(self, state: Any, batch_size: int, batched: bool) -> Array:
        if state is None:
            return self.initial_state(batch_size)
        return _check_array_state("h0", state, batch_size, self.hidden_size, batched)

    def _unbatch_state(self, state: Array) -> Array:
        first: Array = state[0]
        return first

    def _hidden_forward(
        self, x: NDArray[np.intp], state: Array
    ) -> tuple[Array, Array, dict[str, Any]]:
        T, B = x.shape
        # U_k x(t) for every t and gate: gathers of columns, (T, B, H) each
        Ux_r, Ux_z, Ux_n = self.U_r.T[x], self.U_z.T[x], self.U_n.T[x]
        dtype = np.result_type(self.W_r, state)
        r, z, m, n, hs = (np.empty((T, B, self.hidden_size), dtype) for _ in range(5))
        h = state
        for t in range(T):
            r[t] = sigmoid(self.b_r + h @ self.W_r.T + Ux_r[t])  # eq. (G1)
            z[t] = sigmoid(self.b_z + h @ self.W_z.T + Ux_z[t])  # eq. (G2)
            m[t] = self.b_hn + h @ self.W_n.T  # eq. (G3)
            n[t] = np.tanh(self.b_n + Ux_n[t] + r[t] * m[t])  # eq. (G4)
            h = hs[t] = (1.0 - z[t]) * n[t] + z[t] * h  # eq. (G5)
        h_prev = np.concatenate([np.asarray(state, dtype)[None], hs[:-1]])  # h(t−1) for every t
        return hs, h, {"r": r, "z": z, "m": m, "n": n, "h_prev": h_prev}

    def _step_backward(
        self, e: dict[str, Array], t: int | slice, dh: Array
    ) -> tuple[tuple[Array, Array, Array, Array], Array]:
        r"""Backpropagate through step(s) ``t``, one application of (G1) to (G5).

        ``dh`` is :math:`\nabla_{h^{(t)}} L`. Returns the deltas (r, z, n, m) and the
        gradient that reaches :math:`h^{(t-1)}` through this step.
        """
        r, z, m, n = e["r"][t], e["z"][t], e["m"][t], e["n"][t]
        d_n = dh * (1.0 - z) * (1.0 - n * n)  # eq. (G7)
        d_z = dh * (e["h_prev"][t] - n) * z * (1.0 - z)  # eq. (G8)
        d_m = d_n * r  # eq. (G9)
        d_r = d_n * m * r * (1.0 - r)  # eq. (G10)
        # what reaches h(t−1) through this step: the recurrent terms of (G6) one step
        # earlier, or (G14) at the first step
        dh_prev = z * dh + d_r @ self.W_r + d_z @ self.W_z + d_m @ self.W_n
        return (d_r, d_z, d_n, d_m), dh_prev

    def _hidden_backward(
        self, cache: ForwardCache, dhs: Array, truncation: int | None
    ) -> tuple[dict[str, Array], Array]:
        T, B, H = dhs.shape
        e = dict(cache.extra)
        deltas = np.zeros((4, T, B, H), dtype=dhs.dtype)  # δ_r, δ_z, δ_n, δ_m for every t
        dh0 = np.zeros((B, H), dhs.dtype)
        if truncation is None:
            dh_next = dh0  # the recurrent part of (G6); zero at T + 1
            for t in reversed(range(T)):
                dh = dhs[t] + dh_next  # eq. (G6)
                deltas[:, t], dh_next = self._step_backward(e, t, dh)
            dh0 = dh_next  # eq. (G14)
        else:
            grad = dhs  # lag j: the gradient at h(t) from the loss at t + j alone, indexed by t
            for j in range(min(truncation, T)):
                part, dh_prev = self._step_backward(e, slice(0, T - j), grad)
                deltas[:, : T - j] += part  # eq. (15)
                dh0 += dh_prev[0]
                grad = dh_prev[1:]
        d_r, d_z, d_n, d_m = deltas.reshape(4, T * B, H)
        h_prev = e["h_prev"].reshape(T * B, H)
        X = _one_hot_columns(cache.inputs, self.vocab_size, dhs.dtype)  # x(t) as sparse columns
        grads = {
            "b_r": d_r.sum(axis=0),  # eq. (G11)
            "b_z": d_z.sum(axis=0),  # eq. (G11)
            "b_n": d_n.sum(axis=0),  # eq. (G11)
            "b_hn": d_m.sum(axis=0),  # eq. (G11)
            "W_r": d_r.T @ h_prev,  # eq. (G12)
            "W_z": d_z.T @ h_prev,  # eq. (G12)
            "W_n": d_m.T @ h_prev,  # eq. (G12)
            "U_r": (X @ d_r).T,  # eq. (G13): each δ_r(t) added into column x(t)
            "U_z": (X @ d_z).T,  # eq. (G13)
            "U_n": (X @ d_n).T,  # eq. (G13)
        }
        return grads, dh0
