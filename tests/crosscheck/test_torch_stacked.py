"""PyTorch autograd as an oracle for stacked layers: nn.RNN, nn.LSTM and nn.GRU, 2 and 3 layers.

Each case exports a random stacked model with :func:`rnn.interop.to_torch`, runs the torch
modules on one-hot inputs in float64 with the summed cross-entropy, and compares the loss,
the last state of every layer, and the gradient of every parameter of every layer and of
every layer's initial state.

Tolerances: float64 parity asks for gradients within 1e-10 (normwise relative, as in
tests/crosscheck/test_torch_parity.py, because an entry that cancels to rounding noise has
an entrywise relative error that measures only the order of summation); the loss and the
states are compared entry by entry to 1e-12.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st
from numerics import assert_normwise_close

from rnn import CELLS
from rnn.interop import from_torch, to_torch
from rnn.model import RecurrentModel

pytestmark = pytest.mark.torch

GRAD_RTOL = 1e-10


def _layer_states(model: RecurrentModel, state: Any) -> list[tuple[np.ndarray, ...]]:
    """Each layer's state as a tuple of (B, H) arrays: (h,) or (h, s)."""
    return [s if isinstance(s, tuple) else (s,) for s in state]


def _torch_state(model: RecurrentModel, state: Any) -> tuple[torch.Tensor, ...]:
    """PyTorch's initial state: (h0,) or (h0, c0), each (num_layers, B, H), as leaves."""
    layers = _layer_states(model, state)
    return tuple(
        torch.from_numpy(np.stack([layer[k] for layer in layers])).requires_grad_(True)
        for k in range(len(layers[0]))
    )


def _grads_by_our_names(recurrent: Any, linear: Any) -> dict[str, np.ndarray]:
    """The torch gradients, mapped to this package's names the way from_torch maps weights."""
    grad_recurrent, grad_linear = copy.deepcopy(recurrent), copy.deepcopy(linear)
    with torch.no_grad():
        for source, target in ((recurrent, grad_recurrent), (linear, grad_linear)):
            for p, q in zip(source.parameters(), target.parameters(), strict=True):
                q.copy_(p.grad if p.grad is not None else torch.zeros_like(p))
    return from_torch(grad_recurrent, grad_linear).params


@given(
    cell=st.sampled_from(sorted(CELLS)),
    num_layers=st.sampled_from([2, 3]),
    V=st.integers(1, 6),
    H=st.integers(1, 6),
    T=st.integers(1, 6),
    B=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
@example(cell="lstm", num_layers=3, V=1, H=1, T=1, B=1, seed=0)
@example(cell="gru", num_layers=2, V=5, H=4, T=6, B=1, seed=1)
def test_stacked_models_match_torch_loss_states_and_gradients(
    cell: str, num_layers: int, V: int, H: int, T: int, B: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    model = CELLS[cell].random(V, H, rng, num_layers=num_layers, scale=0.6)
    x, y = rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))
    h0 = model.initial_state(B)
    h0 = tuple(
        tuple(rng.standard_normal(a.shape) * 0.5 for a in s)
        if isinstance(s, tuple)
        else rng.standard_normal(s.shape) * 0.5
        for s in h0
    )
    loss, grads, last = model.loss_and_gradients(x, y, h0)
    _, dh0 = model.backward(model.forward(x, h0), y)

    recurrent, linear = to_torch(model)
    state = _torch_state(model, h0)
    onehot = torch.nn.functional.one_hot(torch.from_numpy(x), V).to(torch.float64)
    out, final = recurrent(onehot, state if cell == "lstm" else state[0])
    logits = linear(out)
    torch_loss = torch.nn.functional.cross_entropy(
        logits.reshape(T * B, V), torch.from_numpy(y).reshape(-1), reduction="sum"
    )
    torch_loss.backward()

    np.testing.assert_allclose(loss, torch_loss.item(), rtol=1e-12)
    final = final if isinstance(final, tuple) else (final,)
    for layer, ours in enumerate(_layer_states(model, last)):
        for k, part in enumerate(ours):
            np.testing.assert_allclose(
                part, final[k][layer].detach().numpy(), rtol=1e-12, atol=1e-14
            )
    expected = _grads_by_our_names(recurrent, linear)
    assert expected.keys() == grads.keys()
    for name, g in grads.items():
        assert_normwise_close(name, g, expected[name], GRAD_RTOL)
    for layer, ours in enumerate(_layer_states(model, dh0)):
        for k, part in enumerate(ours):
            assert state[k].grad is not None
            assert_normwise_close(
                f"state {k} of layer {layer}", part, state[k].grad[layer].numpy(), GRAD_RTOL
            )


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("num_layers", [2, 3])
def test_stacked_models_round_trip_through_torch_exactly(cell: str, num_layers: int) -> None:
    model = CELLS[cell].random(5, 4, np.random.default_rng(num_layers), num_layers=num_layers)
    recurrent, linear = to_torch(model)
    assert recurrent.num_layers == num_layers
    back = from_torch(recurrent, linear)
    assert back.param_names == model.param_names
    for name, value in model.params.items():
        np.testing.assert_array_equal(back.params[name], value, err_msg=name)
