"""Adam and RMSprop against ``torch.optim.Adam`` and ``torch.optim.RMSprop``.

Both sides start from the same float64 parameters and receive the same 50 gradients, drawn
at random (several scales, so that both the ε-dominated and the ε-negligible regimes
occur); after every step the parameters must agree within 1e-12, normwise. The two
implementations differ only in the order of their roundings (PyTorch divides by
√(1 − β₂ᵗ) after the root), which is about 1e-16 per step.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from numerics import assert_normwise_close

from rnn.optim import Adam, Optimizer, RMSprop

pytestmark = pytest.mark.torch

STEPS = 50
STEP_RTOL = 1e-12


def _run_both(ours: Optimizer, make_theirs: Any, seed: int, clip: float | None) -> None:
    rng = np.random.default_rng(seed)
    shapes = {"W": (6, 5), "b": (6,)}
    params = {k: rng.standard_normal(s) for k, s in shapes.items()}
    tensors = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    theirs = make_theirs(list(tensors.values()))
    for step in range(STEPS):
        scale = 10.0 ** rng.integers(-6, 2)  # gradients from 1e-6 to 10
        grads = {k: rng.standard_normal(s) * scale for k, s in shapes.items()}
        ours.step(params, grads)
        for k, t in tensors.items():
            g = torch.tensor(grads[k])
            t.grad = g
        if clip is not None:
            torch.nn.utils.clip_grad_value_(list(tensors.values()), clip)
        theirs.step()
        for k, t in tensors.items():
            assert_normwise_close(f"{k} at step {step}", params[k], t.detach().numpy(), STEP_RTOL)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("clip", [None, 5.0])
@pytest.mark.parametrize(
    ("lr", "beta1", "beta2", "eps"), [(2e-3, 0.9, 0.999, 1e-8), (0.05, 0.5, 0.9, 1e-3)]
)
def test_adam_steps_equal_torch_optim_adam(
    seed: int, clip: float | None, lr: float, beta1: float, beta2: float, eps: float
) -> None:
    ours = Adam(lr, beta1=beta1, beta2=beta2, eps=eps, clip=clip)
    _run_both(
        ours, lambda ps: torch.optim.Adam(ps, lr=lr, betas=(beta1, beta2), eps=eps), seed, clip
    )


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("clip", [None, 5.0])
@pytest.mark.parametrize(("lr", "alpha", "eps"), [(1e-2, 0.99, 1e-8), (2e-3, 0.5, 1e-3)])
def test_rmsprop_steps_equal_torch_optim_rmsprop(
    seed: int, clip: float | None, lr: float, alpha: float, eps: float
) -> None:
    ours = RMSprop(lr, alpha=alpha, eps=eps, clip=clip)
    _run_both(ours, lambda ps: torch.optim.RMSprop(ps, lr=lr, alpha=alpha, eps=eps), seed, clip)


def test_adam_resumed_from_its_state_dict_equals_torch_straight_through() -> None:
    """The step count travels in the state: a copy restored midway continues the same steps."""
    rng = np.random.default_rng(7)
    theta = rng.standard_normal(5)
    tensor = torch.tensor(theta.copy(), requires_grad=True)
    theirs = torch.optim.Adam([tensor], lr=0.01)
    first = Adam(0.01)
    grads = [rng.standard_normal(5) for _ in range(20)]
    for g in grads[:10]:
        first.step({"p": theta}, {"p": g})
    second = Adam(0.01)
    second.load_state_dict(first.state_dict(), {"p": theta})
    for g in grads[10:]:
        second.step({"p": theta}, {"p": g})
    for g in grads:
        tensor.grad = torch.tensor(g)
        theirs.step()
    assert_normwise_close("p after 20 steps", theta, tensor.detach().numpy(), STEP_RTOL)
