r"""The long short-term memory layer (LSTM), equations (L1) to (L16), one step each way.

Notation follows Goodfellow, Bengio and Courville, *Deep Learning* (2016), section 10.10,
where the cell state is :math:`s` and the output gate :math:`q` (the package's ``c`` is
the output bias and ``o`` the logits). The gates are stacked in PyTorch's order i, f, g, q.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from rnn.layers.base import (
    Array,
    Layer,
    check_array_state,
    input_gradient,
    input_term,
    input_weight_gradient,
    sigmoid,
)

__all__ = ["GATES", "LSTMCache", "LSTMLayer"]

GATES = ("i", "f", "g", "q")
"""The LSTM's gates in PyTorch's stacking order: input, forget, candidate, output."""


class LSTMCache(NamedTuple):
    """What one step of :class:`LSTMLayer` keeps for its backward step.

    Attributes
    ----------
    x : ndarray, shape (B,) of int or (B, D)
        The input x(t).
    h_prev, s_prev : ndarray, shape (B, H)
        The state (h(t−1), s(t−1)) that entered the step.
    i, f, g, q : ndarray, shape (B, H)
        The gates and the candidate, (L1) to (L4).
    tanh_s : ndarray, shape (B, H)
        tanh s(t).
    s, h : ndarray, shape (B, H)
        The state (h(t), s(t)) the step produced.
    """

    x: Array
    h_prev: Array
    s_prev: Array
    i: Array
    f: Array
    g: Array
    q: Array
    tanh_s: Array
    s: Array
    h: Array


class LSTMLayer(Layer[LSTMCache]):
    r"""The LSTM layer with one weight matrix per gate; its state is the pair (h, s).

    Parameters
    ----------
    U_i, U_f, U_g, U_q : array_like, shape (H, D)
        Input-to-hidden weights of the input gate, forget gate, candidate and output gate.
    W_i, W_f, W_g, W_q : array_like, shape (H, H)
        Hidden-to-hidden weights of the same four.
    b_i, b_f, b_g, b_q : array_like, shape (H,)
        Their biases.

    Raises
    ------
    TypeError
        If an array is not numeric.
    ValueError
        If the shapes do not fit together or a value is not finite.

    Notes
    -----
    Forward, for :math:`t = 1, \dots, T`:

    .. math::

        i^{(t)} &= \sigma(b_i + W_i h^{(t-1)} + U_i x^{(t)}) && (L1) \\
        f^{(t)} &= \sigma(b_f + W_f h^{(t-1)} + U_f x^{(t)}) && (L2) \\
        g^{(t)} &= \tanh(b_g + W_g h^{(t-1)} + U_g x^{(t)}) && (L3) \\
        q^{(t)} &= \sigma(b_q + W_q h^{(t-1)} + U_q x^{(t)}) && (L4) \\
        s^{(t)} &= f^{(t)} \odot s^{(t-1)} + i^{(t)} \odot g^{(t)} && (L5) \\
        h^{(t)} &= q^{(t)} \odot \tanh s^{(t)} && (L6)

    Backward, one step, from :math:`\nabla_{h^{(t)}} L` (L7) and the part of
    :math:`\nabla_{s^{(t)}} L` that came back through :math:`s^{(t+1)}`:

    .. math::

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

    then :math:`\nabla b_k \mathrel{+}= \delta_k^{(t)}` (L13),
    :math:`\nabla W_k \mathrel{+}= \delta_k^{(t)} h^{(t-1)\top}` (L14),
    :math:`\nabla U_k \mathrel{+}= \delta_k^{(t)} x^{(t)\top}` (L15), and what reaches the
    state before the step, :math:`\sum_k W_k^\top \delta_k^{(t)}` and
    :math:`f^{(t)} \odot \nabla_{s^{(t)}} L` (L16).

    **Initialisation.** :meth:`~rnn.layers.base.Layer.random` sets the forget-gate bias to 1
    (Gers, Schmidhuber and Cummins 2000; Jozefowicz, Zaremba and Sutskever 2015); the other
    biases start at zero.
    """

    param_names = (
        *(f"U_{k}" for k in GATES),
        *(f"W_{k}" for k in GATES),
        *(f"b_{k}" for k in GATES),
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

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)

    @classmethod
    def param_shapes(cls, input_size: int, hidden_size: int) -> dict[str, tuple[int, ...]]:
        """Shapes ``U_k (H, D)``, ``W_k (H, H)``, ``b_k (H,)`` for k in i, f, g, q."""
        H, D = hidden_size, input_size
        shapes: dict[str, tuple[int, ...]] = {}
        shapes.update({f"U_{k}": (H, D) for k in GATES})
        shapes.update({f"W_{k}": (H, H) for k in GATES})
        shapes.update({f"b_{k}": (H,) for k in GATES})
        return shapes

    @classmethod
    def initial_params(
        cls, input_size: int, hidden_size: int, rng: np.random.Generator, scale: float
    ) -> dict[str, Array]:
        """Random weights and zero biases, except the forget gate's bias, which is 1."""
        params = super().initial_params(input_size, hidden_size, rng, scale)
        return {**params, "b_f": np.ones_like(params["b_f"])}

    def zero_state(self, batch_size: int, dtype: Any = np.float64) -> tuple[Array, Array]:
        """The pair of zeros ``(h, s)``, each of shape (B, H)."""
        shape = (batch_size, self.hidden_size)
        return np.zeros(shape, dtype), np.zeros(shape, dtype)

    def check_state(
        self, state: Any, batch_size: int, batched: bool, name: str
    ) -> tuple[Array, Array]:
        """Validate a pair (h, s), each (H,) or (B, H); None gives zeros. Returns (B, H) each."""
        if state is None:
            return self.zero_state(batch_size, self.U_i.dtype)
        if not (isinstance(state, (tuple, list)) and len(state) == 2):
            raise TypeError(
                f"{name} of an LSTM must be a pair (h0, s0) of arrays, got {type(state).__name__}"
                + (f" of length {len(state)}" if isinstance(state, (tuple, list)) else "")
            )
        first, second = ("h0", "s0") if name in ("h0", "state0") else (f"{name}[0]", f"{name}[1]")
        H = self.hidden_size
        h = check_array_state(first, state[0], batch_size, H, batched)
        s = check_array_state(second, state[1], batch_size, H, batched)
        return h, s

    def step_forward(
        self, x_t: Array, state: tuple[Array, Array]
    ) -> tuple[tuple[Array, Array], LSTMCache]:
        """One step: (h(t), s(t)) from x(t) (B,) or (B, D) and (h(t−1), s(t−1)), (B, H) each."""
        h_prev, s_prev = state
        i = sigmoid(self.b_i + h_prev @ self.W_i.T + input_term(self.U_i, x_t))  # eq. (L1)
        f = sigmoid(self.b_f + h_prev @ self.W_f.T + input_term(self.U_f, x_t))  # eq. (L2)
        g = np.tanh(self.b_g + h_prev @ self.W_g.T + input_term(self.U_g, x_t))  # eq. (L3)
        q = sigmoid(self.b_q + h_prev @ self.W_q.T + input_term(self.U_q, x_t))  # eq. (L4)
        s = f * s_prev + i * g  # eq. (L5)
        tanh_s = np.tanh(s)
        h = q * tanh_s  # eq. (L6)
        return (h, s), LSTMCache(x_t, h_prev, s_prev, i, f, g, q, tanh_s, s, h)

    def step_deltas(
        self, dstate: tuple[Array, Array], cache: LSTMCache
    ) -> tuple[tuple[Array, Array], Array | None, tuple[Array, ...]]:
        """One step backwards: from (∇h(t), the part of ∇s(t) from step t + 1), each (B, H),
        to the same pair one step earlier, ∇x(t), and the deltas (δ_i, δ_f, δ_g, δ_q)."""
        dh, ds_next = dstate
        i, f, g, q, tanh_s = cache.i, cache.f, cache.g, cache.q, cache.tanh_s
        ds = q * (1.0 - tanh_s * tanh_s) * dh + ds_next  # eq. (L8)
        d_q = dh * tanh_s * q * (1.0 - q)  # eq. (L9)
        d_i = ds * g * i * (1.0 - i)  # eq. (L10)
        d_f = ds * cache.s_prev * f * (1.0 - f)  # eq. (L11)
        d_g = ds * i * (1.0 - g * g)  # eq. (L12)
        deltas = (d_i, d_f, d_g, d_q)  # in the order of GATES
        dh_prev = np.zeros_like(dh)
        dx: Array | None = None
        for k, d in zip(GATES, deltas, strict=True):
            dh_prev = dh_prev + d @ getattr(self, f"W_{k}")  # eq. (L16): Σ_k W_kᵀ δ_k(t)
            dx_k = input_gradient(getattr(self, f"U_{k}"), cache.x, d)
            dx = dx_k if dx is None or dx_k is None else dx + dx_k
        ds_prev = f * ds  # eq. (L16): f(t) ⊙ ∇s(t) reaches s(t−1)
        return (dh_prev, ds_prev), dx, deltas

    def param_gradients(self, deltas: tuple[Array, ...], cache: LSTMCache) -> dict[str, Array]:
        """∇b_k, ∇W_k, ∇U_k from the deltas (N, H) and the cache's rows."""
        grads: dict[str, Array] = {}
        for k, d in zip(GATES, deltas, strict=True):
            grads[f"b_{k}"] = d.sum(axis=0)  # eq. (L13)
            grads[f"W_{k}"] = d.T @ cache.h_prev  # eq. (L14)
            grads[f"U_{k}"] = input_weight_gradient(
                getattr(self, f"U_{k}"), cache.x, d
            )  # eq. (L15)
        return grads
