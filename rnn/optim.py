r"""Optimizers and gradient clipping.

The model's loss-and-gradient function is pure; everything that changes a gradient
before it is applied (clipping) or keeps state between steps (AdaGrad's memory, Adam's
moments) lives here. An optimizer updates the parameter arrays in place.

Every optimizer's state is a flat dict of arrays (:meth:`Optimizer.state_dict`), which a
checkpoint stores, so that a resumed run takes exactly the steps it would have taken.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from rnn.checks import check_fraction, check_positive_number

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "AdaGrad",
    "Adam",
    "Optimizer",
    "RMSprop",
    "clip_elementwise",
    "clip_global_norm",
]

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
        self.steps = 0
        self.slots: dict[str, dict[str, Array]] = {slot: {} for slot in self.slot_names}

    slot_names: ClassVar[tuple[str, ...]] = ()
    """Names of the per-parameter arrays the optimizer keeps, e.g. Adam's ``("m", "v")``."""

    counts_steps: ClassVar[bool] = False
    """Whether the step count is part of the state (Adam's bias correction needs it)."""

    def _slot(self, slot: str, name: str, param: Array) -> Array:
        """The array ``slot`` of parameter ``name``; zeros before the first step."""
        arrays = self.slots[slot]
        if name not in arrays:
            arrays[name] = np.zeros_like(param)
        return arrays[name]

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
        self.steps += 1
        for name, p in params.items():
            self._update(name, p, clipped[name])

    @abstractmethod
    def _update(self, name: str, param: Array, grad: Array) -> None:
        """Apply the update rule to one parameter, in place."""

    def _key(self, slot: str, name: str) -> str:
        """The state_dict key of slot ``slot`` of parameter ``name``: ``"m/W"``."""
        return f"{slot}/{name}"

    def state_keys(self, param_names: Iterable[str]) -> list[str]:
        """The keys :meth:`state_dict` has once every parameter has taken a step, sorted."""
        keys = [self._key(slot, name) for slot in self.slot_names for name in param_names]
        return sorted([*keys, "step"] if self.counts_steps else keys)

    def state_dict(self) -> dict[str, Array]:
        """The optimizer's internal arrays by name, copies (empty before the first step)."""
        out = {
            self._key(slot, name): arr.copy()
            for slot, arrays in self.slots.items()
            for name, arr in arrays.items()
        }
        if self.counts_steps and self.steps:
            out["step"] = np.array(self.steps, dtype=np.int64)
        return out

    def load_state_dict(
        self, state: Mapping[str, Array], params: Mapping[str, Array] | None = None
    ) -> None:
        """Restore copies of the arrays of :meth:`state_dict`.

        Parameters
        ----------
        state : mapping of str to ndarray
            What :meth:`state_dict` returned.
        params : mapping of str to ndarray, optional
            The parameters the state belongs to; then the state must be empty or hold
            every key of :meth:`state_keys`, each slot of its parameter's shape and dtype.

        Raises
        ------
        ValueError
            If the keys, shapes, dtypes or values do not fit.
        """
        if params is not None and state and sorted(state) != self.state_keys(params):
            raise ValueError(
                f"the {type(self).__name__} state must be empty or cover the parameters "
                f"{sorted(params)} (entries {self.state_keys(params)}), got {sorted(state)}"
            )
        slots: dict[str, dict[str, Array]] = {slot: {} for slot in self.slot_names}
        steps = 0
        for key, value in state.items():
            arr = np.asarray(value)
            if key == "step" and self.counts_steps:
                if arr.shape != () or arr.dtype.kind not in "iu" or int(arr) < 1:
                    raise ValueError(f"{type(self).__name__} step must be an integer ≥ 1")
                steps = int(arr)
                continue
            slot, name = self._split(key)
            if params is not None:
                param = params[name]
                if arr.shape != param.shape or arr.dtype != param.dtype:
                    raise ValueError(f"the optimizer state {name} does not fit parameter {name}")
            self._check_slot(slot, name, arr)
            slots[slot][name] = np.array(arr, copy=True)
        if self.counts_steps and any(slots.values()) and not steps:
            raise ValueError(f"{type(self).__name__} state needs its step count")
        self.slots, self.steps = slots, steps

    def _split(self, key: str) -> tuple[str, str]:
        """The slot and the parameter of a state_dict key."""
        slot, _, name = key.partition("/")
        if slot not in self.slot_names or not name:
            raise ValueError(f"{type(self).__name__} has no state entry {key!r}")
        return slot, name

    def _check_slot(self, slot: str, name: str, arr: Array) -> None:
        """Refuse a slot array that the update rule could not have produced."""
        if arr.dtype.kind != "f" or not np.all(np.isfinite(arr)):
            raise ValueError(f"{type(self).__name__} {slot} {name} must be finite and real")


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

    slot_names: ClassVar[tuple[str, ...]] = ("memory",)

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

    @property
    def memory(self) -> dict[str, Array]:
        """The running sum of squared gradients of each parameter, :math:`m`."""
        return self.slots["memory"]

    def _key(self, slot: str, name: str) -> str:
        return name  # AdaGrad's only slot is keyed by the parameter's name alone

    def _split(self, key: str) -> tuple[str, str]:
        return "memory", key

    def _update(self, name: str, param: Array, grad: Array) -> None:
        mem = self._slot("memory", name, param)
        mem += grad * grad
        step = self.learning_rate * grad
        step /= np.sqrt(mem + self.eps)
        param -= step  # θ ← θ − η g / √(m + ε), with one temporary fewer

    def _check_slot(self, slot: str, name: str, arr: Array) -> None:
        if arr.dtype.kind != "f" or not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError(f"AdaGrad memory {name} must be finite, real and ≥ 0")


class Adam(Optimizer):
    r"""Adam (Kingma and Ba, 2015), as ``torch.optim.Adam`` computes it.

    Parameters
    ----------
    learning_rate : float
        :math:`\eta`, finite and > 0.
    beta1, beta2 : float, optional
        Decay rates of the first and second moments, each in [0, 1); 0.9 and 0.999.
    eps : float, optional
        :math:`\epsilon`, added to :math:`\sqrt{\hat v}` (outside the root, as PyTorch
        does); 1e-8.
    clip, clip_norm : float or None, optional
        See :class:`Optimizer`. Both off by default.

    Notes
    -----
    With :math:`g` the clipped gradient, :math:`t` the step count (1 at the first step) and
    the moments :math:`m, v` starting at zero:

    .. math::

        m &\leftarrow \beta_1 m + (1 - \beta_1)\, g \\
        v &\leftarrow \beta_2 v + (1 - \beta_2)\, g \odot g \\
        \hat m &= m / (1 - \beta_1^t) \\
        \hat v &= v / (1 - \beta_2^t) \\
        \theta &\leftarrow \theta - \eta\, \hat m / (\sqrt{\hat v} + \epsilon)

    ``torch.optim.Adam`` (no weight decay, no AMSGrad) places :math:`\epsilon` the same
    way; it divides by :math:`\sqrt{1 - \beta_2^t}` after the root rather than before,
    which changes only the rounding. The step count is part of
    :meth:`Optimizer.state_dict`.

    Examples
    --------
    >>> w = np.array([1.0])
    >>> Adam(0.1).step({"w": w}, {"w": np.array([5.0])})  # the first step moves by ≈ η
    >>> w.round(6).tolist()
    [0.9]
    """

    slot_names: ClassVar[tuple[str, ...]] = ("m", "v")
    counts_steps: ClassVar[bool] = True

    def __init__(
        self,
        learning_rate: float,
        *,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        clip: float | None = None,
        clip_norm: float | None = None,
    ) -> None:
        super().__init__(learning_rate, clip=clip, clip_norm=clip_norm)
        check_fraction("beta1", beta1)
        check_fraction("beta2", beta2)
        check_positive_number("eps", eps)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)

    def _update(self, name: str, param: Array, grad: Array) -> None:
        beta1, beta2, t = self.beta1, self.beta2, self.steps
        m = self._slot("m", name, param)
        v = self._slot("v", name, param)
        m *= beta1
        m += (1 - beta1) * grad  # m ← β₁ m + (1 − β₁) g
        v *= beta2
        v += (1 - beta2) * (grad * grad)  # v ← β₂ v + (1 − β₂) g²
        m_hat = m / (1 - beta1**t)  # m̂ = m / (1 − β₁ᵗ)
        v_hat = v / (1 - beta2**t)  # v̂ = v / (1 − β₂ᵗ)
        param -= self.learning_rate * m_hat / (np.sqrt(v_hat) + self.eps)  # θ ← θ − η m̂/(√v̂ + ε)

    def _check_slot(self, slot: str, name: str, arr: Array) -> None:
        super()._check_slot(slot, name, arr)
        if slot == "v" and np.any(arr < 0):
            raise ValueError(f"Adam v {name} must be ≥ 0")


class RMSprop(Optimizer):
    r"""RMSprop (Tieleman and Hinton, 2012), as ``torch.optim.RMSprop`` computes it.

    Parameters
    ----------
    learning_rate : float
        :math:`\eta`, finite and > 0.
    alpha : float, optional
        Decay rate of the mean square, in [0, 1); 0.99 as in PyTorch.
    eps : float, optional
        :math:`\epsilon`, added to :math:`\sqrt{s}` (outside the root, as PyTorch does);
        1e-8.
    clip, clip_norm : float or None, optional
        See :class:`Optimizer`. Both off by default.

    Notes
    -----
    With :math:`g` the clipped gradient and the mean square :math:`s` starting at zero:

    .. math::

        s &\leftarrow \alpha s + (1 - \alpha)\, g \odot g \\
        \theta &\leftarrow \theta - \eta\, g / (\sqrt{s} + \epsilon)

    This is ``torch.optim.RMSprop`` without momentum, centring or weight decay, with
    :math:`\epsilon` in the same place. Unlike Adam there is no bias correction, so the
    first steps are larger than :math:`\eta` (about :math:`\eta / \sqrt{1 - \alpha}`).

    Examples
    --------
    >>> w = np.array([1.0])
    >>> RMSprop(0.01, alpha=0.75).step({"w": w}, {"w": np.array([3.0])})  # s = 0.25 · 9
    >>> w.round(6).tolist()
    [0.98]
    """

    slot_names: ClassVar[tuple[str, ...]] = ("square_avg",)

    def __init__(
        self,
        learning_rate: float,
        *,
        alpha: float = 0.99,
        eps: float = 1e-8,
        clip: float | None = None,
        clip_norm: float | None = None,
    ) -> None:
        super().__init__(learning_rate, clip=clip, clip_norm=clip_norm)
        check_fraction("alpha", alpha)
        check_positive_number("eps", eps)
        self.alpha, self.eps = float(alpha), float(eps)

    def _update(self, name: str, param: Array, grad: Array) -> None:
        s = self._slot("square_avg", name, param)
        s *= self.alpha
        s += (1 - self.alpha) * (grad * grad)  # s ← α s + (1 − α) g²
        param -= self.learning_rate * grad / (np.sqrt(s) + self.eps)  # θ ← θ − η g / (√s + ε)

    def _check_slot(self, slot: str, name: str, arr: Array) -> None:
        super()._check_slot(slot, name, arr)
        if np.any(arr < 0):
            raise ValueError(f"RMSprop square_avg {name} must be ≥ 0")


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "adagrad": AdaGrad,
    "adam": Adam,
    "rmsprop": RMSprop,
    "sgd": SGD,
}
"""The optimizers that ``--optimizer`` can name."""
