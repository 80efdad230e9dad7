r"""The LSTM model: LSTM layers, then the output layer and the loss every model shares.

The layers (:class:`rnn.layers.lstm.LSTMLayer`) replace the vanilla recurrence (equations 1 and
2 of the RNN page) with equations (L1) to (L6) of the LSTM derivation page, and their
backward step is (L7) to (L16), written as ``# eq. (Ln)`` on the line that computes each;
the output layer, the softmax and the loss, equations (3) to (8), are the ones
:class:`rnn.model.RecurrentModel` shares with every cell.

Notation follows Goodfellow, Bengio and Courville, *Deep Learning* (2016), section 10.10,
where the cell state is :math:`s` and the output gate :math:`q`: in this package
:math:`c` is the output bias and :math:`o` the output layer's logits, so neither letter
is free for the LSTM.

The model is :class:`rnn.layers.lstm.LSTMLayer` layers under the output layer and loss of
:class:`rnn.model.RecurrentModel`; this module only names them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rnn.layers import Layer, LSTMLayer
from rnn.layers.base import sigmoid
from rnn.layers.lstm import GATES
from rnn.model import Array, RecurrentModel

__all__ = ["LSTM", "sigmoid"]


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
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> model = LSTM.random(vocab_size=5, hidden_size=3, rng=rng)
    >>> model.U_i.shape, model.W_f.shape, model.b_f.tolist(), model.V.shape
    ((3, 5), (3, 3), [1.0, 1.0, 1.0], (5, 3))
    >>> loss, grads, (h, s) = model.loss_and_gradients([0, 1, 2], [1, 2, 3])
    >>> grads["W_f"].shape, h.shape, s.shape
    ((3, 3), (3,), (3,))
    """

    cell: ClassVar[str] = "lstm"
    layer_type: ClassVar[type[Layer[Any]]] = LSTMLayer
    param_names: tuple[str, ...] = (
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
        **upper: Any,
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
                **upper,
            }
        )
