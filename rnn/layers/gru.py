r"""The gated recurrent unit layer (GRU), equations (G1) to (G14), one step each way.

The cell is the one of Cho et al. (2014) in the variant that PyTorch's ``torch.nn.GRU``
computes, where the reset gate multiplies the recurrent term *after* its matrix product.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from rnn.layers.base import (
    Array,
    Layer,
    input_gradient,
    input_term,
    input_weight_gradient,
    sigmoid,
)

__all__ = ["GATES", "GRUCache", "GRULayer"]

GATES = ("r", "z", "n")
"""The GRU's gates in PyTorch's stacking order: reset, update, candidate."""


class GRUCache(NamedTuple):
    """What one step of :class:`GRULayer` keeps for its backward step.

    Attributes
    ----------
    x : ndarray, shape (B,) of int or (B, D)
        The input x(t).
    h_prev : ndarray, shape (B, H)
        The state h(t−1) that entered the step.
    r, z : ndarray, shape (B, H)
        The reset and update gates, (G1) and (G2).
    m : ndarray, shape (B, H)
        The recurrent term of the candidate, (G3).
    n : ndarray, shape (B, H)
        The candidate, (G4).
    h : ndarray, shape (B, H)
        The state h(t) the step produced, (G5).
    """

    x: Array
    h_prev: Array
    r: Array
    z: Array
    m: Array
    n: Array
    h: Array


class GRULayer(Layer[GRUCache]):
    r"""The GRU layer as ``torch.nn.GRU`` computes it, with one weight matrix per gate.

    Parameters
    ----------
    U_r, U_z, U_n : array_like, shape (H, D)
        Input-to-hidden weights of the reset gate, the update gate and the candidate.
    W_r, W_z, W_n : array_like, shape (H, H)
        Hidden-to-hidden weights of the same three.
    b_r, b_z, b_n : array_like, shape (H,)
        Their biases; ``b_n`` is the candidate's input-side bias.
    b_hn : array_like, shape (H,)
        The candidate's recurrent bias, which the reset gate scales.

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

        r^{(t)} &= \sigma(b_r + W_r h^{(t-1)} + U_r x^{(t)}) && (G1) \\
        z^{(t)} &= \sigma(b_z + W_z h^{(t-1)} + U_z x^{(t)}) && (G2) \\
        m^{(t)} &= b_{hn} + W_n h^{(t-1)} && (G3) \\
        n^{(t)} &= \tanh(b_n + U_n x^{(t)} + r^{(t)} \odot m^{(t)}) && (G4) \\
        h^{(t)} &= (1 - z^{(t)}) \odot n^{(t)} + z^{(t)} \odot h^{(t-1)} && (G5)

    Backward, one step, from :math:`\nabla_{h^{(t)}} L` (G6):

    .. math::

        \delta_n^{(t)} &= \nabla_{h^{(t)}} L \odot (1 - z^{(t)})
            \odot (1 - n^{(t)} \odot n^{(t)}) && (G7) \\
        \delta_z^{(t)} &= \nabla_{h^{(t)}} L \odot (h^{(t-1)} - n^{(t)})
            \odot z^{(t)} \odot (1 - z^{(t)}) && (G8) \\
        \delta_m^{(t)} &= \delta_n^{(t)} \odot r^{(t)} && (G9) \\
        \delta_r^{(t)} &= \delta_n^{(t)} \odot m^{(t)} \odot r^{(t)} \odot (1 - r^{(t)})
            && (G10)

    then the step's shares of :math:`\nabla b_k, \nabla b_{hn}` (G11),
    :math:`\nabla W_k` (G12) and :math:`\nabla U_k` (G13), and what reaches
    :math:`h^{(t-1)}`: :math:`z^{(t)} \odot \nabla_{h^{(t)}} L + W_r^\top \delta_r^{(t)}
    + W_z^\top \delta_z^{(t)} + W_n^\top \delta_m^{(t)}` (G14).
    """

    param_names = (
        *(f"U_{k}" for k in GATES),
        *(f"W_{k}" for k in GATES),
        *(f"b_{k}" for k in GATES),
        "b_hn",
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

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)

    @classmethod
    def param_shapes(cls, input_size: int, hidden_size: int) -> dict[str, tuple[int, ...]]:
        """Shapes ``U_k (H, D)``, ``W_k (H, H)``, ``b_k (H,)`` for k in r, z, n; ``b_hn (H,)``."""
        H, D = hidden_size, input_size
        shapes: dict[str, tuple[int, ...]] = {}
        shapes.update({f"U_{k}": (H, D) for k in GATES})
        shapes.update({f"W_{k}": (H, H) for k in GATES})
        shapes.update({f"b_{k}": (H,) for k in GATES})
        return {**shapes, "b_hn": (H,)}

    def step_forward(self, x_t: Array, state: Array) -> tuple[Array, GRUCache]:
        """One step: h(t) from x(t) (B,) or (B, D) and h(t−1) (B, H)."""
        h_prev = state
        r = sigmoid(self.b_r + h_prev @ self.W_r.T + input_term(self.U_r, x_t))  # eq. (G1)
        z = sigmoid(self.b_z + h_prev @ self.W_z.T + input_term(self.U_z, x_t))  # eq. (G2)
        m = self.b_hn + h_prev @ self.W_n.T  # eq. (G3)
        n = np.tanh(self.b_n + input_term(self.U_n, x_t) + r * m)  # eq. (G4)
        h = (1.0 - z) * n + z * h_prev  # eq. (G5)
        return h, GRUCache(x_t, h_prev, r, z, m, n, h)

    def step_deltas(
        self, dstate: Array, cache: GRUCache
    ) -> tuple[Array, Array | None, tuple[Array, ...]]:
        """One step backwards: from ∇h(t) (B, H) to ∇h(t−1), ∇x(t) and the deltas
        (δ_r, δ_z, δ_n, δ_m)."""
        dh = dstate
        r, z, m, n = cache.r, cache.z, cache.m, cache.n
        d_n = dh * (1.0 - z) * (1.0 - n * n)  # eq. (G7)
        d_z = dh * (cache.h_prev - n) * z * (1.0 - z)  # eq. (G8)
        d_m = d_n * r  # eq. (G9)
        d_r = d_n * m * r * (1.0 - r)  # eq. (G10)
        dx_r = input_gradient(self.U_r, cache.x, d_r)
        dx_z = input_gradient(self.U_z, cache.x, d_z)
        dx_n = input_gradient(self.U_n, cache.x, d_n)
        dx = None if dx_r is None or dx_z is None or dx_n is None else dx_r + dx_z + dx_n
        dh_prev = z * dh + d_r @ self.W_r + d_z @ self.W_z + d_m @ self.W_n  # eq. (G14)
        return dh_prev, dx, (d_r, d_z, d_n, d_m)

    def param_gradients(self, deltas: tuple[Array, ...], cache: GRUCache) -> dict[str, Array]:
        """The gradients (G11) to (G13) from the deltas (N, H) and the cache's rows."""
        d_r, d_z, d_n, d_m = deltas
        return {
            "U_r": input_weight_gradient(self.U_r, cache.x, d_r),  # eq. (G13)
            "U_z": input_weight_gradient(self.U_z, cache.x, d_z),  # eq. (G13)
            "U_n": input_weight_gradient(self.U_n, cache.x, d_n),  # eq. (G13)
            "W_r": d_r.T @ cache.h_prev,  # eq. (G12)
            "W_z": d_z.T @ cache.h_prev,  # eq. (G12)
            "W_n": d_m.T @ cache.h_prev,  # eq. (G12)
            "b_r": d_r.sum(axis=0),  # eq. (G11)
            "b_z": d_z.sum(axis=0),  # eq. (G11)
            "b_n": d_n.sum(axis=0),  # eq. (G11)
            "b_hn": d_m.sum(axis=0),  # eq. (G11)
        }
