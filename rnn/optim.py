r"""Optimizers and gradient clipping.

The model's loss-and-gradient function is pure; everything that changes a gradient
before it is applied (clipping) or keeps state between steps (AdaGrad's memory) lives here.
An optimizer updates the parameter arrays in place.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rnn.checks import check_positive_number

__all__ = ["SGD", "AdaGrad", "Optimizer", "clip_elementwise", "clip_global_norm"]

Array = NDArray[Any]


def clip_elementwise(grads: Mapping[str, Array], limit: float) -> dict[str, Array]:
    """Clip every gradient entry to ``[-limit, limit]``, as the seed does with ``limit = 1``.

    Parameters
    ----------
    grads : mapping of str to ndarray
        Gradients by parameter name.
    limit : float
        Finite and > 0.

    Returns
    -------
    dict of str to ndarray
        New arrays; the inputs are unchanged.

    Examples
    --------
    >>> clip_elementwise({"b": np.array([-3.0, 0.5, 2.0])}, 1.0)["b"].tolist()
    [-1.0, 0.5, 1.0]
    """
    check_positive_number("limit", limit)
    return {name: np.clip(g, -limit, limit) for name, g in grads.items()}


def clip_global_norm(grads: Mapping[str, Array], max_norm: float) -> dict[str, Array]:
    r"""Rescale all gradients together so that their joint L2 norm is at most ``max_norm``.

    Parameters
    ----------
    grads : mapping of str to ndarray
        Gradients by parameter name.
    max_norm : float
        Finite and > 0.

    Returns
    -------
    dict of str to ndarray
        New arrays, all multiplied by :math:`\min(1, \text{max\_norm} / \lVert g \rVert_2)`.

    Examples
    --------
    >>> g = clip_global_norm({"a": np.array([3.0]), "b": np.array([4.0])}, 1.0)
    >>> g["a"].round(12).tolist(), g["b"].round(12).tolist()
    ([0.6], [0.8])
    """
    check_positive_number("max_norm", max_norm)
    norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))
    factor = min(1.0, max_norm / norm) if norm > 0 else 1.0
    return {name: g * factor for name, g in grads.items()}


class Optimizer(ABC):
    """Base class: optional clipping, then a subclass's update rule.

    Parameters
    ----------
    learning_rate : float
        Finite and > 0.
    clip : float or None
        Clip each gradient entry to ``[-clip, clip]`` first; None disables it.
    clip_norm : float or None
        Then rescale the gradients to a joint L2 norm of at most ``clip_norm``; None
        disables it.
    """

    def __init__(
        self, learning_rate: float, *, clip: float | None = None, clip_norm: float | None = None
    ) -> None:
        check_positive_number("learning_rate", learning_rate)
        if clip is not None:
            check_positive_number("clip", clip)
        if clip_norm is not None:
            check_positive_number("clip_norm", clip_norm)
        self.learning_rate = float(learning_rate)
        self.clip = None if clip is None else float(clip)
        self.clip_norm = None if clip_norm is None else float(clip_norm)

    def clip_gradients(self, grads: Mapping[str, Array]) -> dict[str, Array]:
        """Apply the configured clipping; returns new arrays."""
        out = dict(grads)
        if self.clip is not None:
            out = clip_elementwise(out, self.clip)
        if self.clip_norm is not None:
            out = clip_global_norm(out, self.clip_norm)
        return out

    def step(self, params: Mapping[str, Array], grads: Mapping[str, Array]) -> None:
        """Clip ``grads`` and update ``params`` in place.

        Parameters
        ----------
        params : mapping of str to ndarray
            The model's own arrays (``model.params``); they are modified.
        grads : mapping of str to ndarray
            Gradients with the same keys and shapes.

        Raises
        ------
        ValueError
            If the keys or shapes of ``params`` and ``grads`` differ.
        """
        if set(params) != set(grads):
            raise ValueError(
                "params and grads must have the same keys, "
                f"got {sorted(params)} and {sorted(grads)}"
            )
        for name, p in params.items():
            if p.shape != grads[name].shape:
                raise ValueError(
                    f"gradient {name} must have shape {p.shape}, got {grads[name].shape}"
                )
        clipped = self.clip_gradients(grads)
        for name, p in params.items():
            self._update(name, p, clipped[name])

    @abstractmethod
    def _update(self, name: str, param: Array, grad: Array) -> None:
        """Apply the update rule to one parameter, in place."""

    def state_dict(self) -> dict[str, Array]:
        """The optimizer's internal arrays by name (empty for stateless optimizers)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Array]) -> None:
        """Restore the arrays of :meth:`state_dict`."""
        if state:
            raise ValueError(f"{type(self).__name__} has no state, got keys {sorted(state)}")


class SGD(Optimizer):
    r"""Plain gradient descent, the seed's first attempt.

    The update is :math:`\theta \leftarrow \theta - \eta g`.

    Parameters
    ----------
    learning_rate : float
        :math:`\eta`, finite and > 0.
    clip, clip_norm : float or None, optional
        See :class:`Optimizer`. Both off by default.

    Examples
    --------
    >>> w = np.array([1.0, 2.0])
    >>> SGD(0.5).step({"w": w}, {"w": np.array([1.0, -1.0])})
    >>> w.tolist()
    [0.5, 2.5]
    """

    def _update(self, name: str, param: Array, grad: Array) -> None:
        param -= self.learning_rate * grad


class AdaGrad(Optimizer):
    r"""AdaGrad with the seed's elementwise clipping.

    Parameters
    ----------
    learning_rate : float
        :math:`\eta`, finite and > 0. The seed used 0.1 with its truncated gradient.
    clip : float or None, optional
        Elementwise clipping bound, 1.0 by default as in the seed; None disables it.
    clip_norm : float or None, optional
        Global-norm clipping bound, off by default.
    eps : float, optional
        Added inside the square root, 1e-12 as in the seed.

    Notes
    -----
    With :math:`g` the clipped gradient and :math:`m` the memory, which starts at zero:

    .. math::

        m &\leftarrow m + g \odot g \\
        \theta &\leftarrow \theta - \eta\, g / \sqrt{m + \epsilon}

    PyTorch's ``torch.optim.Adagrad`` puts :math:`\epsilon` outside the root,
    :math:`g / (\sqrt m + \epsilon)`; the two differ only where :math:`m` is tiny.

    Examples
    --------
    >>> w = np.array([1.0])
    >>> opt = AdaGrad(0.1)
    >>> opt.step({"w": w}, {"w": np.array([5.0])})  # clipped to 1, then a full step
    >>> w.round(12).tolist()
    [0.9]
    """

    def __init__(
        self,
        learning_rate: float,
        *,
        clip: float | None = 1.0,
        clip_norm: float | None = None,
        eps: float = 1e-12,
    ) -> None:
        super().__init__(learning_rate, clip=clip, clip_norm=clip_norm)
        check_positive_number("eps", eps)
        self.eps = float(eps)
        self.memory: dict[str, Array] = {}

    def _update(self, name: str, param: Array, grad: Array) -> None:
        mem = self.memory.get(name)
        if mem is None:  # the first step: the memory starts at zero
            mem = self.memory[name] = np.zeros_like(param)
        mem += grad * grad
        step = self.learning_rate * grad
        step /= np.sqrt(mem + self.eps)
        param -= step  # θ ← θ − η g / √(m + ε), with one temporary fewer

    def state_dict(self) -> dict[str, Array]:
        """AdaGrad's memory, one array per parameter (copies)."""
        return {name: m.copy() for name, m in self.memory.items()}

    def load_state_dict(self, state: Mapping[str, Array]) -> None:
        """Replace the memory with copies of ``state``."""
        for name, m in state.items():
            arr = np.asarray(m)
            if arr.dtype.kind != "f" or not np.all(np.isfinite(arr)) or np.any(arr < 0):
                raise ValueError(f"AdaGrad memory {name} must be finite, real and ≥ 0")
        self.memory = {name: np.array(m, copy=True) for name, m in state.items()}
