r"""The vanilla (Elman) recurrent layer, equations (1), (2) and (9) to (14), one step each way.

Notation follows Goodfellow, Bengio and Courville, *Deep Learning* (2016), section 10.2, and
the derivation page, whose equation numbers appear as ``# eq. (n)`` on the line computing
them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from rnn.layers.base import Array, Layer, input_gradient, input_term, input_weight_gradient

__all__ = ["RNNCache", "RNNLayer"]


class RNNCache(NamedTuple):
    """What one step of :class:`RNNLayer` keeps for its backward step.

    Attributes
    ----------
    x : ndarray, shape (B,) of int or (B, D)
        The input x(t): indices of one-hot vectors, or dense vectors.
    h_prev : ndarray, shape (B, H)
        The state that entered the step, h(t−1).
    h : ndarray, shape (B, H)
        The state it produced, h(t) = tanh a(t).
    """

    x: Array
    h_prev: Array
    h: Array


class RNNLayer(Layer[RNNCache]):
    r"""The vanilla recurrent layer :math:`h^{(t)} = \tanh(b + W h^{(t-1)} + U x^{(t)})`.

    Parameters
    ----------
    U : array_like, shape (H, D)
        Input-to-hidden weights; D is the number of classes for one-hot inputs.
    W : array_like, shape (H, H)
        Hidden-to-hidden weights.
    b : array_like, shape (H,)
        Hidden bias.

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

        a^{(t)} &= b + W h^{(t-1)} + U x^{(t)} && (1) \\
        h^{(t)} &= \tanh a^{(t)} && (2)

    Backward, one step, from :math:`\nabla_{h^{(t)}} L` (eq. 9, the upstream gradient
    plus what came back from step t + 1):

    .. math::

        \delta^{(t)} &= (1 - h^{(t)} \odot h^{(t)}) \odot \nabla_{h^{(t)}} L && (10) \\
        \nabla b &\mathrel{+}= \delta^{(t)}, \quad
        \nabla W \mathrel{+}= \delta^{(t)} h^{(t-1)\top}, \quad
        \nabla U \mathrel{+}= \delta^{(t)} x^{(t)\top} && (11)-(13) \\
        \nabla_{h^{(t-1)}} L &\mathrel{+}= W^\top \delta^{(t)} && (14)

    - :math:`\delta^{(t)} = \nabla_{a^{(t)}} L`, the gradient at the pre-activation.
    - For one-hot inputs :math:`U x^{(t)}` is column :math:`x^{(t)}` of U, a gather.

    Examples
    --------
    >>> layer = RNNLayer.random(input_size=3, hidden_size=4, rng=np.random.default_rng(0))
    >>> hs, h_T, cache = layer.forward(np.ones((5, 2, 3)))
    >>> grads, dx, dh0 = layer.backward(np.ones_like(hs), cache)
    >>> hs.shape, grads["W"].shape, dx.shape, dh0.shape
    ((5, 2, 4), (4, 4), (5, 2, 3), (2, 4))
    """

    param_names = ("U", "W", "b")

    U: Array
    W: Array
    b: Array

    def __init__(self, U: Any, W: Any, b: Any) -> None:
        super().__init__(U=U, W=W, b=b)

    @classmethod
    def param_shapes(cls, input_size: int, hidden_size: int) -> dict[str, tuple[int, ...]]:
        """Shapes ``U (H, D)``, ``W (H, H)``, ``b (H,)``."""
        H, D = hidden_size, input_size
        return {"U": (H, D), "W": (H, H), "b": (H,)}

    def step_forward(self, x_t: Array, state: Array) -> tuple[Array, RNNCache]:
        """One step: h(t) from x(t) (B,) or (B, D) and h(t−1) (B, H)."""
        h_prev = state
        a = self.b + h_prev @ self.W.T + input_term(self.U, x_t)  # eq. (1)
        h = np.tanh(a)  # eq. (2)
        return h, RNNCache(x_t, h_prev, h)

    def step_deltas(
        self, dstate: Array, cache: RNNCache
    ) -> tuple[Array, Array | None, tuple[Array, ...]]:
        """One step backwards: from ∇h(t) (B, H) to ∇h(t−1), ∇x(t) and δ(t)."""
        dh = dstate
        delta = (1.0 - cache.h * cache.h) * dh  # eq. (10)
        dx = input_gradient(self.U, cache.x, delta)
        dh_prev = delta @ self.W  # eq. (14): the Wᵀ δ(t) that reaches h(t−1)
        return dh_prev, dx, (delta,)

    def param_gradients(self, deltas: tuple[Array, ...], cache: RNNCache) -> dict[str, Array]:
        """∇b, ∇W, ∇U from δ (N, H) and the cache's rows: one step, or a whole sequence."""
        (delta,) = deltas
        db = delta.sum(axis=0)  # eq. (11)
        dW = delta.T @ cache.h_prev  # eq. (12)
        dU = input_weight_gradient(self.U, cache.x, delta)  # eq. (13)
        return {"U": dU, "W": dW, "b": db}
