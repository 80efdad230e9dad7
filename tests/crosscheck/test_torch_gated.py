"""PyTorch autograd as an independent oracle for the LSTM and the GRU.

Each case exports a random model with :func:`rnn.interop.to_torch`, runs ``nn.LSTM`` or
``nn.GRU`` and ``nn.Linear`` on one-hot inputs in float64, and compares with this package:
the loss (equations (3) to (5) after (L1)-(L6) or (G1)-(G5)), the last state, and every
gradient ((L7)-(L16), (G6)-(G14)), including those of the initial state.

Tolerances. Float64 parity means a relative 1e-12 on the loss and 1e-10 on the gradients
(the accumulated rounding of two differently ordered float64 computations of this size);
the gradients are held to 1e-12 here. The loss and the last state are compared entry by
entry; a gradient by its normwise relative error, ``max|ours − torch| / max|torch|``,
because an entry that cancels to rounding noise has an entrywise relative error that
measures only the order of summation (see tests/crosscheck/test_torch_parity.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numerics import assert_normwise_close

from rnn import GRU, LSTM, SGD
from rnn.interop import from_torch, to_torch
from rnn.model import RecurrentModel
from verification.strategies import EDGE_CASES, Case, model_cases

pytestmark = pytest.mark.torch

F = torch.nn.functional

LOSS_RTOL = 1e-12
GRAD_RTOL = 1e-12  # parity asks for 1e-10 or tighter; the worst of 300 random cases was 3e-14
STEP_RTOL = 1e-12

CELLS: dict[str, type[RecurrentModel]] = {"lstm": LSTM, "gru": GRU}


def cases(cell: str) -> st.SearchStrategy[Case]:
    """V ≤ 8, H ≤ 8, T ≤ 6, B ≤ 4, zero or random initial state, scale up to 1."""
    return model_cases(CELLS[cell], max_vocab=8, max_hidden=8, max_length=6, max_batch=4)


def gated_cases() -> st.SearchStrategy[Case]:
    return st.sampled_from(sorted(CELLS)).flatmap(cases)


def with_edge_cases(**others: Any) -> Any:
    """Pin the shared edge cases, built for both cells, with @example."""

    def decorate(test: Any) -> Any:
        for spec in EDGE_CASES:
            for cell in CELLS.values():
                test = example(case=spec.build(cell), **others)(test)
        return test

    return decorate


def _batched(a: np.ndarray, case: Case) -> np.ndarray:
    """An array of a state, (H,) or (B, H), as PyTorch's (1, B, H)."""
    return a.reshape(1, -1, a.shape[-1]) if case.inputs.ndim == 2 else a.reshape(1, 1, -1)


def torch_state(case: Case) -> tuple[torch.Tensor, ...]:
    """Leaf tensors of the initial state, (1, B, H) each: (h0,) or (h0, c0)."""
    parts = case.h0 if isinstance(case.h0, tuple) else (case.h0,)
    return tuple(
        torch.from_numpy(_batched(np.asarray(p, np.float64), case).copy()).requires_grad_(True)
        for p in parts
    )


def torch_loss(
    case: Case, recurrent: Any, linear: Any, state: tuple[torch.Tensor, ...]
) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
    """The summed cross-entropy, the logits (T, B, V) and the last state, in PyTorch."""
    V = case.model.vocab_size
    inputs = case.inputs if case.inputs.ndim == 2 else case.inputs[:, None]
    targets = case.targets if case.targets.ndim == 2 else case.targets[:, None]
    x = F.one_hot(torch.from_numpy(inputs), V).to(torch.float64)
    hx = state if len(state) == 2 else state[0]
    out, last = recurrent(x, hx)
    logits = linear(out)
    loss = F.cross_entropy(
        logits.reshape(-1, V), torch.from_numpy(targets).reshape(-1), reduction="sum"
    )
    return loss, logits, last if isinstance(last, tuple) else (last,)


def oracle_gradients(
    case: Case, recurrent: Any, linear: Any
) -> tuple[dict[str, np.ndarray], tuple[np.ndarray, ...]]:
    """Run loss.backward(); return the gradients named as in this package and those of the
    initial state, (1, B, H) each."""
    state = torch_state(case)
    torch_loss(case, recurrent, linear, state)[0].backward()
    H = case.model.hidden_size
    g_ih = recurrent.weight_ih_l0.grad.numpy()
    g_hh = recurrent.weight_hh_l0.grad.numpy()
    g_b = recurrent.bias_ih_l0.grad.numpy()
    grads = {"V": linear.weight.grad.numpy(), "c": linear.bias.grad.numpy()}
    if isinstance(case.model, LSTM):
        assert recurrent.bias_hh_l0.grad is None  # frozen: every bias lives in bias_ih
        for n, k in enumerate("ifgq"):
            block = slice(n * H, (n + 1) * H)
            grads.update({f"U_{k}": g_ih[block], f"W_{k}": g_hh[block], f"b_{k}": g_b[block]})
    else:
        g_bh = recurrent.bias_hh_l0.grad.numpy()
        assert not np.any(g_bh[: 2 * H])  # the hook keeps b_hr and b_hz at zero
        for n, k in enumerate("rzn"):
            block = slice(n * H, (n + 1) * H)
            grads.update({f"U_{k}": g_ih[block], f"W_{k}": g_hh[block], f"b_{k}": g_b[block]})
        grads["b_hn"] = g_bh[2 * H :]
    dstate = []
    for s in state:
        assert s.grad is not None
        dstate.append(s.grad.numpy().copy())
    return {k: v.copy() for k, v in grads.items()}, tuple(dstate)


def _parts(state: Any) -> tuple[np.ndarray, ...]:
    return state if isinstance(state, tuple) else (state,)


# --------------------------------------------------------------------------- tests


@settings(max_examples=60)
@with_edge_cases()
@given(case=gated_cases())
def test_loss_probabilities_and_last_state_equal_torch(case: Case) -> None:
    """(L1)-(L6) or (G1)-(G5), then (3)-(5), against nn.LSTM / nn.GRU and cross_entropy."""
    recurrent, linear = to_torch(case.model)
    loss_t, logits_t, last_t = torch_loss(case, recurrent, linear, torch_state(case))
    loss, _, last = case.model.loss_and_gradients(case.inputs, case.targets, case.h0)
    np.testing.assert_allclose(loss, loss_t.item(), rtol=LOSS_RTOL, atol=0)
    probs = case.model.probabilities(case.inputs, case.h0)
    probs_t = torch.softmax(logits_t, dim=-1).detach().numpy().reshape(probs.shape)
    np.testing.assert_allclose(probs, probs_t, rtol=1e-12, atol=0)
    for ours, theirs in zip(_parts(last), last_t, strict=True):
        theirs_np = theirs.detach().numpy()
        np.testing.assert_allclose(_batched(ours, case), theirs_np, rtol=1e-12, atol=1e-15)


@settings(max_examples=80)
@with_edge_cases()
@given(case=gated_cases())
def test_every_gradient_equals_torch_autograd(case: Case) -> None:
    """(L7)-(L16) or (G6)-(G14), and (6)-(8): every parameter and the initial state."""
    recurrent, linear = to_torch(case.model)
    oracle, dstate_t = oracle_gradients(case, recurrent, linear)
    grads, dstate = case.model.backward(case.model.forward(case.inputs, case.h0), case.targets)
    for name in case.model.param_names:
        assert_normwise_close(f"d{name}", grads[name], oracle[name], GRAD_RTOL)
    for k, (ours, theirs) in enumerate(zip(_parts(dstate), dstate_t, strict=True)):
        assert_normwise_close(f"dstate[{k}]", _batched(ours, case), theirs, GRAD_RTOL)


@settings(max_examples=20)
@with_edge_cases(learning_rate=0.1)
@given(case=gated_cases(), learning_rate=st.floats(1e-3, 1.0))
def test_an_sgd_step_equals_torch_optim_sgd(case: Case, learning_rate: float) -> None:
    """optim.SGD over every trainable tensor of the exported modules takes our step.

    This checks the bias layout: were the LSTM's bias_hh trainable, or the GRU's b_hr and
    b_hz not held at zero by the hook, PyTorch would move those biases twice.
    """
    model = case.model.copy()
    recurrent, linear = to_torch(case.model)
    params_t = [p for p in (*recurrent.parameters(), *linear.parameters()) if p.requires_grad]
    grads, _ = oracle_gradients(case, recurrent, linear)
    SGD(learning_rate).step(model.params, grads)
    torch.optim.SGD(params_t, lr=learning_rate).step()
    back = from_torch(recurrent, linear)
    for name in model.param_names:
        assert_normwise_close(name, model.params[name], back.params[name], STEP_RTOL)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_a_torch_initialised_module_imports_with_its_biases_folded(cell: str) -> None:
    """nn.LSTM / nn.GRU as PyTorch initialises them, with two nonzero biases per gate."""
    V, H, T, B = 6, 5, 7, 3
    torch.manual_seed(0)
    module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    recurrent = module(V, H, dtype=torch.float64)
    linear = torch.nn.Linear(H, V, dtype=torch.float64)
    assert torch.count_nonzero(recurrent.bias_hh_l0) > 0
    model = from_torch(recurrent, linear)
    assert isinstance(model, CELLS[cell])
    rng = np.random.default_rng(0)
    inputs, targets = rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))
    case = Case(model, inputs, targets, model.initial_state(B))
    loss_t, logits_t, _ = torch_loss(case, recurrent, linear, torch_state(case))
    logits = model.forward(inputs).logits
    np.testing.assert_allclose(logits, logits_t.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(model.loss(inputs, targets), loss_t.item(), rtol=LOSS_RTOL)


def test_a_projected_lstm_is_refused() -> None:
    recurrent = torch.nn.LSTM(4, 3, proj_size=2, dtype=torch.float64)
    with pytest.raises(ValueError, match="proj_size must be 0, got 2"):
        from_torch(recurrent, torch.nn.Linear(3, 4, dtype=torch.float64))
