r"""Weights to and from PyTorch, whose autograd serves as an independent oracle.

:func:`to_torch` turns a model into PyTorch modules that compute the same function, and
:func:`from_torch` maps such modules back. A model that leaves for PyTorch and comes back
is unchanged bit for bit.

PyTorch is optional. It is imported inside the two functions, so ``import rnn`` and
``import rnn.interop`` never need it. Install it with ``pip install torch==2.13.0``, or
with this package's ``torch`` extra, ``pip install "rnn-reference[torch]"``, which pins
the same version.

Notes
-----
**The mapping.** A vanilla RNN (``cell = "rnn"``) becomes a ``torch.nn.RNN`` with
``nonlinearity="tanh"`` and the model's ``num_layers``, followed by a ``torch.nn.Linear``
for the output layer. Layer 0 maps as below; layer l ≥ 1 maps the same way from
``weight_ih_l{l}`` and so on to the model's names with the suffix ``_l{l}`` (``U_l1``),
with U of shape (H, H). The state of a stacked model is a tuple of layer states, where
PyTorch stacks them along a first axis of length ``num_layers``.

==========================  =====================  ==========
PyTorch                     this package           shape
==========================  =====================  ==========
``rnn.weight_ih_l0``        :math:`U`              (H, V)
``rnn.weight_hh_l0``        :math:`W`              (H, H)
``rnn.bias_ih_l0``          :math:`b`              (H,)
``rnn.bias_hh_l0``          zeros, frozen          (H,)
``linear.weight``           :math:`V`              (V, H)
``linear.bias``             :math:`c`              (V,)
==========================  =====================  ==========

PyTorch reads the one-hot code :math:`x^{(t)}` of each character as a float vector of
length V, so ``input_size`` is V. Its arrays are time-major, ``(T, B, V)``, like this
package's ``(T, B)`` index arrays; a module built with ``batch_first=True`` is refused.

**Why PyTorch has two biases.** PyTorch computes

.. math::

    h^{(t)} = \tanh\bigl(W_{ih} x^{(t)} + b_{ih} + W_{hh} h^{(t-1)} + b_{hh}\bigr),

which is equation (1) with :math:`b = b_{ih} + b_{hh}`: the two biases only ever enter as
their sum, so one of them is redundant. PyTorch keeps both because cuDNN, NVIDIA's RNN
library, stores a bias for the input product and one for the recurrent product, and
PyTorch's parameters follow cuDNN's layout (pytorch/pytorch#15843). The redundancy is not
harmless in training: both biases receive the gradient :math:`\nabla_b L`, so one SGD step
moves their sum by twice the learning rate. :func:`to_torch` therefore puts all of
:math:`b` into ``bias_ih`` and makes ``bias_hh`` a zero with ``requires_grad=False``;
``torch.optim`` optimizers skip it, and a step in PyTorch is the same step as here.

**Importing a second bias.** :func:`from_torch` folds a nonzero ``bias_hh`` into
:math:`b = b_{ih} + b_{hh}`, because a network trained in PyTorch has one. The imported
model computes the same function, but the sum is rounded once, so it agrees with the
PyTorch module to rounding, not bit for bit, and exporting it again puts the whole sum in
``bias_ih``. Where ``bias_hh`` is zero, :math:`b` is ``bias_ih`` bit for bit.

**Cells.** The mapping of each cell is a pair of private functions, chosen by the model's
:attr:`~rnn.model.RecurrentModel.cell` on the way out and by the PyTorch module's ``mode``
(``"RNN_TANH"``, ``"LSTM"``, ``"GRU"``) on the way back: the tables ``_TO_TORCH`` and
``_FROM_TORCH`` at the end of this module. A new cell adds one entry to each; the checks
that every cell shares (one direction, time-major, biases present, dtype, sizes)
run before the table is consulted.

**The LSTM and the GRU.** :class:`~rnn.lstm.LSTM` becomes a ``torch.nn.LSTM`` and
:class:`~rnn.gru.GRU` a ``torch.nn.GRU``, each followed by the same ``torch.nn.Linear``.
PyTorch stacks one block per gate, in the order i, f, g, o for the LSTM (its o is our q,
its cell state c our s) and r, z, n for the GRU:

==================  ====================================  ==================================
PyTorch             LSTM                                  GRU
==================  ====================================  ==================================
``weight_ih_l0``    ``[U_i; U_f; U_g; U_q]``, (4H, V)     ``[U_r; U_z; U_n]``, (3H, V)
``weight_hh_l0``    ``[W_i; W_f; W_g; W_q]``, (4H, H)     ``[W_r; W_z; W_n]``, (3H, H)
``bias_ih_l0``      ``[b_i; b_f; b_g; b_q]``, (4H,)       ``[b_r; b_z; b_n]``, (3H,)
``bias_hh_l0``      zeros, frozen                         ``[0; 0; b_hn]``, (3H,)
==================  ====================================  ==================================

The LSTM's four gates and the GRU's r and z see only the sum of their two biases, so they
are exported as for the RNN. The GRU's candidate is different: its recurrent bias
:math:`b_{hn}` sits inside the reset gate's product, :math:`r \odot (W_{hn} h + b_{hn})`,
so it is a parameter of its own and goes to the last block of ``bias_hh``. That tensor
must then stay trainable; a gradient hook zeroes the gradient of its first two blocks, so
they stay zero and a step in PyTorch is again the same step as here. (The hook is not part
of a ``state_dict``: a module loaded from one trains ``b_hr`` and ``b_hz`` again.)
:func:`from_torch` folds the redundant pairs, :math:`b_r = b_{ir} + b_{hr}`,
:math:`b_z = b_{iz} + b_{hz}`, and each LSTM gate's :math:`b_k = b_{ik} + b_{hk}`.

Examples
--------
Export a model, run PyTorch on it, and bring the weights back (PyTorch must be installed):

.. code-block:: python

    import numpy as np
    import torch

    from rnn import RNN
    from rnn.interop import from_torch, to_torch

    model = RNN.random(vocab_size=5, hidden_size=4, rng=np.random.default_rng(0))
    recurrent, linear = to_torch(model)
    x = torch.nn.functional.one_hot(torch.tensor([0, 3, 1]), 5).double()  # (T, V)
    h, _ = recurrent(x)  # (T, H), batch axis omitted
    logits = linear(h)  # (T, V), eq. (3)
    assert np.allclose(logits.detach().numpy(), model.forward([0, 3, 1]).logits[:, 0])
    back = from_torch(recurrent, linear)
    assert all(np.array_equal(back.params[k], model.params[k]) for k in model.param_names)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rnn.gru import GRU
from rnn.lstm import LSTM
from rnn.model import RNN, RecurrentModel, layer_suffix

__all__ = ["from_torch", "to_torch"]

TORCH_REQUIREMENT = "torch==2.13.0"
"""The PyTorch release that the ``torch`` extra and ``nox -s crosscheck`` pin."""

_DTYPES = ("float64", "float32")


def to_torch(model: RecurrentModel) -> tuple[Any, Any]:
    """Export a model as PyTorch modules that compute the same function.

    Parameters
    ----------
    model : RecurrentModel
        A float64 (or float32) :class:`~rnn.model.RNN`, :class:`~rnn.lstm.LSTM` or
        :class:`~rnn.gru.GRU`.

    Returns
    -------
    recurrent : torch.nn.RNN, torch.nn.LSTM or torch.nn.GRU
        ``num_layers`` as the model's, ``batch_first=False``, ``input_size`` V (or the
        model's dense ``input_size``) and ``hidden_size`` H. Layer l's weights
        (``weight_ih_l{l}`` and so on) are the model's layer l, named with the suffix
        ``_l{l}`` for l ≥ 1. For the
        RNN, ``nonlinearity="tanh"``, ``weight_ih_l0 = U``, ``weight_hh_l0 = W``,
        ``bias_ih_l0 = b`` and ``bias_hh_l0 = 0`` (frozen: ``requires_grad=False``); for
        the LSTM and the GRU, the gate blocks of the module docstring's table.
    linear : torch.nn.Linear
        The output layer, eq. (3): ``weight = V`` of shape (V, H) and ``bias = c``.

    Both modules are on the CPU, in the model's dtype (float64 for a default model),
    and hold copies: training one side leaves the other unchanged.

    Raises
    ------
    ImportError
        If PyTorch is not installed; the message names the pinned requirement.
    TypeError
        If ``model`` is not a model of a cell that PyTorch has, or its dtype is neither
        float64 nor float32 (a complex-step model).

    Notes
    -----
    The module docstring of :mod:`rnn.interop` gives the full mapping and explains why
    ``bias_hh`` is a frozen zero.
    """
    torch = _import_torch()
    if not isinstance(model, RecurrentModel):
        raise TypeError(f"model must be a RecurrentModel, got {type(model).__name__}")
    export = _TO_TORCH.get(model.cell)
    if export is None:
        raise TypeError(
            f"to_torch supports the cells {sorted(_TO_TORCH)}, got {model.cell!r} "
            f"({type(model).__name__})"
        )
    if model.dtype.name not in _DTYPES:
        raise TypeError(f"to_torch needs a float64 or float32 model, got dtype {model.dtype}")
    return export(torch, model)


def from_torch(recurrent: Any, linear: Any) -> RecurrentModel:
    """Import a PyTorch recurrent module and its output layer as a model.

    Parameters
    ----------
    recurrent : torch.nn.RNN, torch.nn.LSTM or torch.nn.GRU
        Any ``num_layers``, unidirectional, ``batch_first=False``, with biases, ``input_size`` V
        (one-hot inputs) and ``hidden_size`` H; an RNN must have ``nonlinearity="tanh"``
        and an LSTM ``proj_size=0``.
    linear : torch.nn.Linear
        The output layer from H features to V logits, with a bias.

    Returns
    -------
    RecurrentModel
        A :class:`~rnn.model.RNN` with ``U = weight_ih_l0``, ``W = weight_hh_l0``,
        ``V = linear.weight``, ``c = linear.bias`` and ``b = bias_ih_l0 + bias_hh_l0``,
        copied, in the modules' dtype (float64 or float32); for an ``nn.LSTM`` or
        ``nn.GRU``, an :class:`~rnn.lstm.LSTM` or :class:`~rnn.gru.GRU` with the gate
        blocks of the module docstring's table.

    Raises
    ------
    ImportError
        If PyTorch is not installed.
    TypeError
        If ``recurrent`` is not a ``torch.nn.RNN`` (or a cell the table does not hold),
        ``linear`` is not a ``torch.nn.Linear``, or a weight is neither float64 nor
        float32, or the two modules differ in dtype.
    ValueError
        If the module cannot be represented: a ReLU nonlinearity, a bidirectional RNN,
        ``batch_first=True``, a missing bias, or sizes that do not fit
        (``linear.in_features`` must be H and ``linear.out_features`` must be
        ``input_size``).

    Notes
    -----
    A nonzero ``bias_hh`` is folded into :math:`b`; see the module docstring of
    :mod:`rnn.interop` for why PyTorch has it and what folding costs.
    """
    torch = _import_torch()
    nn = torch.nn
    if not isinstance(recurrent, nn.RNNBase):
        raise TypeError(
            f"recurrent must be a torch.nn.RNN, LSTM or GRU module, got {type(recurrent).__name__}"
        )
    if not isinstance(linear, nn.Linear):
        raise TypeError(f"linear must be a torch.nn.Linear, got {type(linear).__name__}")
    mode = recurrent.mode
    if mode == "RNN_RELU":
        raise ValueError(
            "nonlinearity must be 'tanh', got 'relu': this package's RNN uses tanh, eq. (2)"
        )
    importer = _FROM_TORCH.get(mode)
    if importer is None:
        raise TypeError(
            f"from_torch supports the torch modes {sorted(_FROM_TORCH)}, got {mode!r} "
            f"({type(recurrent).__name__})"
        )
    _check_shared_structure(recurrent, linear)
    return importer(recurrent, linear)


# ------------------------------------------------------------------------ shared parts


def _import_torch() -> Any:
    message = (
        f"rnn.interop needs PyTorch, which is not installed: run "
        f"`pip install {TORCH_REQUIREMENT}` or install the extra, "
        f'`pip install "rnn-reference[torch]"`'
    )
    try:
        import torch
    except ImportError as err:
        raise ImportError(message) from err
    return torch


def _check_shared_structure(recurrent: Any, linear: Any) -> None:
    """Refuse what no cell of this package can represent, whatever the cell."""
    if recurrent.bidirectional:
        raise ValueError(
            "bidirectional must be False, got True: the model reads left to right only"
        )
    if recurrent.batch_first:
        raise ValueError(
            "batch_first must be False, got True: this package is time-major, (T, B); the "
            "weights do not depend on the layout, so load the state_dict into a module "
            "built with batch_first=False"
        )
    if not recurrent.bias:
        raise ValueError(
            "the recurrent module must have biases (bias=True), got bias=False: the model has "
            "a hidden bias b; build it with bias=True and zero biases to import a bias-free net"
        )
    if linear.bias is None:
        raise ValueError(
            "the Linear layer must have a bias (bias=True), got bias=False: the model has an "
            "output bias c; build it with bias=True and a zero bias to import a bias-free layer"
        )
    if getattr(recurrent, "proj_size", 0) != 0:
        raise ValueError(f"proj_size must be 0, got {recurrent.proj_size}")
    if linear.in_features != recurrent.hidden_size:
        raise ValueError(
            f"linear.in_features must equal hidden_size={recurrent.hidden_size}, "
            f"got {linear.in_features}"
        )
    if linear.out_features != recurrent.input_size:
        raise ValueError(
            f"linear.out_features must equal input_size={recurrent.input_size} (both are the "
            f"vocabulary size V), got {linear.out_features}"
        )
    dtypes = {
        str(p.dtype).removeprefix("torch.") for p in (*recurrent.parameters(), linear.weight)
    }
    dtypes |= {str(linear.bias.dtype).removeprefix("torch.")}
    if len(dtypes) != 1 or not dtypes <= set(_DTYPES):
        raise TypeError(
            f"all weights must be float64 (or all float32), got {sorted(dtypes)}; "
            f"convert with module.double()"
        )


def _array(tensor: Any) -> Any:
    """A numpy copy of a tensor's values, detached from autograd and moved to the CPU."""
    return tensor.detach().cpu().numpy().copy()


def _empty(torch: Any, module: Any, *args: Any, **kwargs: Any) -> Any:
    """A module whose weights are uninitialised, so that building it draws no random numbers
    from PyTorch's global generator; the caller fills every weight."""
    return module(*args, **kwargs, device="meta").to_empty(device="cpu")


def _fill(torch: Any, parameter: Any, array: Any) -> None:
    """Copy ``array`` into ``parameter`` exactly (same dtype, so no rounding)."""
    with torch.no_grad():
        parameter.copy_(torch.from_numpy(np.ascontiguousarray(array)))


def _output_layer(torch: Any, model: RecurrentModel) -> Any:
    """``o = c + V h``, eq. (3), as a torch.nn.Linear."""
    dtype = _torch_dtype(torch, model.dtype)
    linear = _empty(torch, torch.nn.Linear, model.hidden_size, model.vocab_size, dtype=dtype)
    _fill(torch, linear.weight, model.params["V"])
    _fill(torch, linear.bias, model.params["c"])
    return linear


def _torch_dtype(torch: Any, dtype: np.dtype[Any]) -> Any:
    return getattr(torch, dtype.name)


def _folded(b_ih: Any, b_hh: Any) -> Any:
    """``b_ih + b_hh``, with ``b_ih`` kept bit for bit where ``b_hh`` is zero (−0.0 + 0 = 0)."""
    return np.where(b_hh == 0, b_ih, b_ih + b_hh)


# ------------------------------------------------------------- the three cells, per layer


def _module(torch: Any, cls: Any, model: RecurrentModel, **kwargs: Any) -> Any:
    """An empty ``nn.RNN``/``nn.LSTM``/``nn.GRU`` of the model's sizes, layers and dtype."""
    return _empty(
        torch,
        cls,
        input_size=model.input_size,
        hidden_size=model.hidden_size,
        num_layers=model.num_layers,
        dtype=_torch_dtype(torch, model.dtype),
        **kwargs,
    )


def _layer_params(model: RecurrentModel, layer: int) -> dict[str, Any]:
    """Layer ``layer``'s parameters under the unsuffixed names of the layer type."""
    return dict(model.layers[layer].params)


def _suffixed(params: dict[str, Any], layer: int) -> dict[str, Any]:
    return {name + layer_suffix(layer): value for name, value in params.items()}


def _rnn_to_torch(torch: Any, model: RecurrentModel) -> tuple[Any, Any]:
    recurrent = _module(torch, torch.nn.RNN, model, nonlinearity="tanh")
    for layer in range(model.num_layers):
        p, tag = _layer_params(model, layer), f"l{layer}"
        _fill(torch, getattr(recurrent, f"weight_ih_{tag}"), p["U"])
        _fill(torch, getattr(recurrent, f"weight_hh_{tag}"), p["W"])
        _fill(torch, getattr(recurrent, f"bias_ih_{tag}"), p["b"])
        _fill(torch, getattr(recurrent, f"bias_hh_{tag}"), np.zeros_like(p["b"]))
        getattr(recurrent, f"bias_hh_{tag}").requires_grad_(False)  # b lives in bias_ih alone
    return recurrent, _output_layer(torch, model)


def _rnn_from_torch(recurrent: Any, linear: Any) -> RecurrentModel:
    params: dict[str, Any] = {"V": _array(linear.weight), "c": _array(linear.bias)}
    for layer in range(recurrent.num_layers):
        tag = f"l{layer}"
        b_ih, b_hh = (_array(getattr(recurrent, f"bias_{k}_{tag}")) for k in ("ih", "hh"))
        layer_params = {
            "U": _array(getattr(recurrent, f"weight_ih_{tag}")),
            "W": _array(getattr(recurrent, f"weight_hh_{tag}")),
            "b": _folded(b_ih, b_hh),
        }
        params.update(_suffixed(layer_params, layer))
    return RNN(**params)


_LSTM_GATES = ("i", "f", "g", "q")  # PyTorch's order i, f, g, o


def _lstm_to_torch(torch: Any, model: RecurrentModel) -> tuple[Any, Any]:
    recurrent = _module(torch, torch.nn.LSTM, model)
    for layer in range(model.num_layers):
        p, tag = _layer_params(model, layer), f"l{layer}"
        for kind, prefix in (("weight_ih", "U"), ("weight_hh", "W"), ("bias_ih", "b")):
            blocks = np.concatenate([p[f"{prefix}_{k}"] for k in _LSTM_GATES])
            _fill(torch, getattr(recurrent, f"{kind}_{tag}"), blocks)
        _fill(
            torch,
            getattr(recurrent, f"bias_hh_{tag}"),
            np.zeros(4 * model.hidden_size, model.dtype),
        )
        getattr(recurrent, f"bias_hh_{tag}").requires_grad_(False)  # the biases live in bias_ih
    return recurrent, _output_layer(torch, model)


def _lstm_from_torch(recurrent: Any, linear: Any) -> RecurrentModel:
    params: dict[str, Any] = {"V": _array(linear.weight), "c": _array(linear.bias)}
    for layer in range(recurrent.num_layers):
        tag = f"l{layer}"
        U = np.split(_array(getattr(recurrent, f"weight_ih_{tag}")), 4)
        W = np.split(_array(getattr(recurrent, f"weight_hh_{tag}")), 4)
        b_ih, b_hh = (_array(getattr(recurrent, f"bias_{k}_{tag}")) for k in ("ih", "hh"))
        b = np.split(_folded(b_ih, b_hh), 4)
        layer_params: dict[str, Any] = {}
        for n, k in enumerate(_LSTM_GATES):
            layer_params.update({f"U_{k}": U[n], f"W_{k}": W[n], f"b_{k}": b[n]})
        params.update(_suffixed(layer_params, layer))
    return LSTM(**params)


def _gru_to_torch(torch: Any, model: RecurrentModel) -> tuple[Any, Any]:
    H = model.hidden_size
    recurrent = _module(torch, torch.nn.GRU, model)
    for layer in range(model.num_layers):
        p, tag = _layer_params(model, layer), f"l{layer}"
        _fill(
            torch,
            getattr(recurrent, f"weight_ih_{tag}"),
            np.concatenate([p["U_r"], p["U_z"], p["U_n"]]),
        )
        _fill(
            torch,
            getattr(recurrent, f"weight_hh_{tag}"),
            np.concatenate([p["W_r"], p["W_z"], p["W_n"]]),
        )
        _fill(
            torch,
            getattr(recurrent, f"bias_ih_{tag}"),
            np.concatenate([p["b_r"], p["b_z"], p["b_n"]]),
        )
        bias_hh = getattr(recurrent, f"bias_hh_{tag}")
        _fill(torch, bias_hh, np.concatenate([np.zeros(2 * H, model.dtype), p["b_hn"]]))
        keep = torch.cat([torch.zeros(2 * H), torch.ones(H)]).to(bias_hh.dtype)
        # b_hr and b_hz stay zero: only b_hn, the last block, is a parameter here; see Notes
        bias_hh.register_hook(lambda grad, keep=keep: grad * keep)
    return recurrent, _output_layer(torch, model)


def _gru_from_torch(recurrent: Any, linear: Any) -> RecurrentModel:
    params: dict[str, Any] = {"V": _array(linear.weight), "c": _array(linear.bias)}
    for layer in range(recurrent.num_layers):
        tag = f"l{layer}"
        U_r, U_z, U_n = np.split(_array(getattr(recurrent, f"weight_ih_{tag}")), 3)
        W_r, W_z, W_n = np.split(_array(getattr(recurrent, f"weight_hh_{tag}")), 3)
        b_ir, b_iz, b_in = np.split(_array(getattr(recurrent, f"bias_ih_{tag}")), 3)
        b_hr, b_hz, b_hn = np.split(_array(getattr(recurrent, f"bias_hh_{tag}")), 3)
        layer_params = {
            "U_r": U_r,
            "U_z": U_z,
            "U_n": U_n,
            "W_r": W_r,
            "W_z": W_z,
            "W_n": W_n,
            "b_r": _folded(b_ir, b_hr),
            "b_z": _folded(b_iz, b_hz),
            "b_n": b_in,
            "b_hn": b_hn,
        }
        params.update(_suffixed(layer_params, layer))
    return GRU(**params)


# ------------------------------------------------------------------- dispatch tables

_TO_TORCH: dict[str, Callable[[Any, RecurrentModel], tuple[Any, Any]]] = {
    "rnn": _rnn_to_torch,
    "lstm": _lstm_to_torch,
    "gru": _gru_to_torch,
}
"""Exporters by :attr:`RecurrentModel.cell`."""

_FROM_TORCH: dict[str, Callable[[Any, Any], RecurrentModel]] = {
    "RNN_TANH": _rnn_from_torch,
    "LSTM": _lstm_from_torch,
    "GRU": _gru_from_torch,
}
"""Importers by the PyTorch module's ``mode``."""
