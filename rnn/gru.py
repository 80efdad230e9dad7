r"""The GRU model: GRU layers, then the output layer and the loss every model shares.

The layers (:class:`rnn.layers.gru.GRULayer`) replace the vanilla recurrence (equations 1 and
2 of the RNN page) with equations (G1) to (G5) of the GRU derivation page, and their
backward step is (G6) to (G14), written as ``# eq. (Gn)`` on the line that computes each;
the output layer, the softmax and the loss, equations (3) to (8), are the ones
:class:`rnn.model.RecurrentModel` shares with every cell.

The cell is the one of Cho et al. (2014) in the variant that PyTorch's ``torch.nn.GRU``
computes, where the reset gate multiplies the recurrent term *after* its matrix product.

The model is :class:`rnn.layers.gru.GRULayer` layers under the output layer and loss of
:class:`rnn.model.RecurrentModel`; this module only names them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rnn.layers import GRULayer, Layer
from rnn.layers.gru import GATES
from rnn.model import Array, RecurrentModel

__all__ = ["GRU"]


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
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> model = GRU.random(vocab_size=5, hidden_size=3, rng=rng)
    >>> model.U_r.shape, model.W_n.shape, model.b_hn.shape, model.V.shape
    ((3, 5), (3, 3), (3,), (5, 3))
    >>> loss, grads, h = model.loss_and_gradients([0, 1, 2], [1, 2, 3])
    >>> grads["W_z"].shape, h.shape
    ((3, 3), (3,))
    """

    cell: ClassVar[str] = "gru"
    layer_type: ClassVar[type[Layer[Any]]] = GRULayer
    param_names: tuple[str, ...] = (
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
        **upper: Any,
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
                **upper,
            }
        )
