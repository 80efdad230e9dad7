"""PyTorch autograd as an independent oracle: loss, gradients, probabilities and optimizer steps.

Each case exports a random model with :func:`rnn.interop.to_torch`, runs PyTorch's
``nn.RNN`` and ``nn.Linear`` on one-hot inputs in float64, and compares with this package.

Tolerances. The loss and the probabilities are compared entry by entry. A gradient or an
updated parameter array is compared by its normwise relative error,
``max|ours − torch| / max|torch|``: an entry such as ``dc[k] = Σ_t (ŷ_k(t) − [y(t) = k])``
can cancel to rounding noise (about 1e-17), where an entrywise relative error measures
nothing but the order of summation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numerics import assert_normwise_close

from rnn import RNN, SGD, AdaGrad, softmax
from rnn.interop import from_torch, to_torch
from verification.strategies import EDGE_CASES, Case, rnn_cases

pytestmark = pytest.mark.torch

F = torch.nn.functional

LOSS_RTOL = 1e-12  # float64 rounding of a sum over T·B terms, with a wide margin
GRAD_RTOL = 1e-10  # float64 parity; worst measured: 4e-14 in 1000 cases, 6e-13 at scale 1.5
PROB_RTOL = 1e-12
STEP_RTOL = 1e-14  # both sides apply the same rule to the same gradients


def cases() -> st.SearchStrategy[Case]:
    """Random vocabularies (V ≤ 8), hidden sizes (H ≤ 8), lengths (T ≤ 6), batches (B ≤ 4),
    zero or random h0, every parameter drawn from N(0, scale²) with scale up to 1."""
    return rnn_cases(max_vocab=8, max_hidden=8, max_length=6, max_batch=4)


EDGE = [spec.build(RNN) for spec in EDGE_CASES]
"""T = 1; a vocabulary of one (the loss is exactly 0); h0 = 0; B = 1 without a batch axis."""


def with_edge_cases(**others: Any) -> Any:
    """Pin the edge cases with @example; ``others`` fixes the test's other arguments."""

    def decorate(test: Any) -> Any:
        for case in EDGE:
            test = example(case=case, **others)(test)
        return test

    return decorate


# ------------------------------------------------------------------------- helpers


def torch_tensors(case: Case) -> tuple[torch.Tensor, torch.Tensor]:
    """One-hot inputs, (T, V) or (T, B, V), and a leaf h0 of shape (1, H) or (1, B, H)."""
    V, H = case.model.vocab_size, case.model.hidden_size
    x = F.one_hot(torch.from_numpy(case.inputs), V).to(torch.float64)
    state_shape = (1, H) if case.inputs.ndim == 1 else (1, case.inputs.shape[1], H)
    h0 = torch.from_numpy(np.array(case.h0, dtype=np.float64)).reshape(state_shape)
    return x, h0.requires_grad_(True)


def torch_loss(
    case: Case, recurrent: Any, linear: Any, h0: torch.Tensor, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The summed cross-entropy of the output layer, the logits and the last hidden state."""
    hs, h_last = recurrent(x, h0)
    logits = linear(hs)
    V = case.model.vocab_size
    y = torch.from_numpy(case.targets).reshape(-1)
    loss = F.cross_entropy(logits.reshape(-1, V), y, reduction="sum")
    return loss, logits, h_last


def backward_in_torch(
    case: Case, recurrent: Any, linear: Any
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Run loss.backward() in torch; return the oracle's gradients, named as in this package,
    and the gradient of h0, of shape (1, H) or (1, B, H).

    bias_hh has no gradient: to_torch freezes it, and its gradient would equal db.
    """
    x, h0 = torch_tensors(case)
    torch_loss(case, recurrent, linear, h0, x)[0].backward()
    oracle = {
        "U": recurrent.weight_ih_l0.grad,
        "W": recurrent.weight_hh_l0.grad,
        "V": linear.weight.grad,
        "b": recurrent.bias_ih_l0.grad,
        "c": linear.bias.grad,
    }
    assert recurrent.bias_hh_l0.grad is None
    assert h0.grad is not None
    return {name: g.numpy().copy() for name, g in oracle.items()}, h0.grad.numpy().copy()


# --------------------------------------------------------------------------- tests


@settings(max_examples=60)
@with_edge_cases()
@given(case=cases())
def test_loss_and_last_state_equal_torch_cross_entropy_summed(case: Case) -> None:
    """Equations (1) to (5) against nn.RNN, nn.Linear and F.cross_entropy(reduction='sum')."""
    recurrent, linear = to_torch(case.model)
    x, h0 = torch_tensors(case)
    loss_t, _, h_last_t = torch_loss(case, recurrent, linear, h0, x)
    loss, _, h_last = case.model.loss_and_gradients(case.inputs, case.targets, case.h0)
    np.testing.assert_allclose(loss, loss_t.item(), rtol=LOSS_RTOL, atol=0)
    np.testing.assert_allclose(
        h_last, h_last_t.detach().numpy().reshape(h_last.shape), rtol=1e-12, atol=1e-15
    )


@settings(max_examples=80)
@with_edge_cases()
@given(case=cases())
def test_every_gradient_equals_torch_autograd(case: Case) -> None:
    """Equations (6) to (14): dU, dW, dV, db, dc and dh0 against loss.backward()."""
    recurrent, linear = to_torch(case.model)
    oracle, dh0_t = backward_in_torch(case, recurrent, linear)
    cache = case.model.forward(case.inputs, case.h0)
    grads, dh0 = case.model.backward(cache, case.targets)
    for name in case.model.param_names:
        assert_normwise_close(f"d{name}", grads[name], oracle[name], GRAD_RTOL)
    assert_normwise_close("dh0", dh0, dh0_t.reshape(dh0.shape), GRAD_RTOL)


@settings(max_examples=30)
@with_edge_cases(temperature=0.5)
@given(case=cases(), temperature=st.floats(0.1, 5.0))
def test_sampling_probabilities_equal_torch_softmax(case: Case, temperature: float) -> None:
    """ŷ(t), eq. (4), and the tempered softmax(o / τ) that sample() draws from."""
    recurrent, linear = to_torch(case.model)
    x, h0 = torch_tensors(case)
    _, logits_t, _ = torch_loss(case, recurrent, linear, h0, x)
    probs_t = torch.softmax(logits_t, dim=-1).detach().numpy()
    probs = case.model.probabilities(case.inputs, case.h0)
    np.testing.assert_allclose(probs, probs_t, rtol=PROB_RTOL, atol=0)
    logits = case.model.forward(case.inputs, case.h0).logits
    tempered_t = torch.softmax(torch.from_numpy(logits) / temperature, dim=-1).numpy()
    np.testing.assert_allclose(softmax(logits / temperature), tempered_t, rtol=PROB_RTOL, atol=0)


@settings(max_examples=30)
@with_edge_cases(learning_rate=0.1, clip=1.0, steps=2)
@given(
    case=cases(),
    learning_rate=st.floats(1e-3, 1.0),
    clip=st.none() | st.floats(0.05, 5.0),
    steps=st.integers(1, 3),
)
def test_sgd_steps_equal_torch_optim_sgd(
    case: Case, learning_rate: float, clip: float | None, steps: int
) -> None:
    """rnn.SGD, with optional elementwise clipping, against clip_grad_value_ + optim.SGD.

    Both sides step on the oracle's gradients, so the test checks the update rule and the
    frozen bias_hh (were it trainable, optim.SGD would move b twice), not the gradients
    again. optim.SGD optimises every trainable parameter of the exported modules.
    """
    model = case.model.copy()
    ours = SGD(learning_rate, clip=clip)
    recurrent, linear = to_torch(case.model)
    params_t = [*recurrent.parameters(), *linear.parameters()]
    theirs = torch.optim.SGD(params_t, lr=learning_rate)
    for _ in range(steps):
        theirs.zero_grad()
        grads, _ = backward_in_torch(case, recurrent, linear)
        ours.step(model.params, grads)
        if clip is not None:
            torch.nn.utils.clip_grad_value_(params_t, clip)
        theirs.step()
    back = from_torch(recurrent, linear)
    for name in model.param_names:
        assert_normwise_close(name, model.params[name], back.params[name], STEP_RTOL)


@settings(max_examples=30)
@with_edge_cases(learning_rate=0.1, clip=1.0, eps=1e-12, steps=2)
@given(
    case=cases(),
    learning_rate=st.floats(1e-3, 1.0),
    clip=st.none() | st.floats(0.05, 5.0),
    eps=st.sampled_from([1e-12, 1e-8]),
    steps=st.integers(1, 3),
)
def test_adagrad_steps_equal_a_torch_reference_with_eps_inside_the_root(
    case: Case, learning_rate: float, clip: float | None, eps: float, steps: int
) -> None:
    """rnn.AdaGrad against the seed's rule, mem += g², θ −= η g / sqrt(mem + eps), in torch.

    torch.optim.Adagrad cannot be the oracle: it divides by sqrt(mem) + eps, with eps
    outside the root (see the next test). Both sides step on the oracle's gradients: where
    mem is near zero the update's sensitivity to g is η / sqrt(eps), up to 1e6, which would
    turn the 1e-13 rounding differences of two gradient computations into 1e-7.
    """
    model = case.model.copy()
    ours = AdaGrad(learning_rate, clip=clip, eps=eps)
    recurrent, linear = to_torch(case.model)
    params_t = [p for p in (*recurrent.parameters(), *linear.parameters()) if p.requires_grad]
    memory = [torch.zeros_like(p) for p in params_t]
    for _ in range(steps):
        for p in params_t:
            p.grad = None
        grads, _ = backward_in_torch(case, recurrent, linear)
        ours.step(model.params, grads)
        with torch.no_grad():
            for p, mem in zip(params_t, memory, strict=True):
                assert p.grad is not None
                g = p.grad if clip is None else p.grad.clamp(-clip, clip)
                mem += g * g
                p -= learning_rate * g / torch.sqrt(mem + eps)
    back = from_torch(recurrent, linear)
    for name in model.param_names:
        assert_normwise_close(name, model.params[name], back.params[name], STEP_RTOL)


def test_torch_adagrad_puts_eps_outside_the_root() -> None:
    """The documented difference: torch.optim.Adagrad steps by g / (sqrt(mem) + eps).

    For a gradient whose square is small next to eps the two rules part: here g² = 1e-14
    and eps = 1e-12, so the seed's rule takes a tenth of the step that PyTorch's takes.
    """
    g, eps, lr = 1e-7, 1e-12, 0.1
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    p.grad = torch.full((1,), g, dtype=torch.float64)
    torch.optim.Adagrad([p], lr=lr, eps=eps).step()
    theta = np.zeros(1)
    AdaGrad(lr, clip=None, eps=eps).step({"p": theta}, {"p": np.array([g])})
    outside = -lr * g / (np.sqrt(g * g) + eps)
    inside = -lr * g / np.sqrt(g * g + eps)
    np.testing.assert_allclose(p.detach().numpy(), [outside], rtol=1e-12)
    np.testing.assert_allclose(theta, [inside], rtol=1e-12)
    assert abs(theta[0]) < 0.11 * abs(p.item())


@settings(max_examples=20)
@given(case=cases())
def test_from_torch_folds_a_second_bias_into_b(case: Case) -> None:
    """A torch-initialised nn.RNN has a nonzero bias_hh; the imported model folds it into b."""
    V, H = case.model.vocab_size, case.model.hidden_size
    torch.manual_seed(int(case.inputs.sum()) + V * H)
    recurrent = torch.nn.RNN(V, H, dtype=torch.float64)
    linear = torch.nn.Linear(H, V, dtype=torch.float64)
    assert torch.count_nonzero(recurrent.bias_hh_l0) > 0
    model = from_torch(recurrent, linear)
    x, h0 = torch_tensors(case)
    loss_t, logits_t, _ = torch_loss(case, recurrent, linear, h0, x)
    logits = model.forward(case.inputs, case.h0).logits
    np.testing.assert_allclose(
        logits.reshape(logits_t.shape), logits_t.detach().numpy(), rtol=1e-12, atol=1e-14
    )
    np.testing.assert_allclose(
        model.loss(case.inputs, case.targets, case.h0), loss_t.item(), rtol=LOSS_RTOL
    )
