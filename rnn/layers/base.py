r"""What every recurrent layer shares: parameters, the input term, and BPTT written once.

A layer maps a sequence of inputs :math:`x^{(1)}, \dots, x^{(T)}` and an initial state to
the hidden states :math:`h^{(1)}, \dots, h^{(T)}`. Each cell (``rnn.py``, ``lstm.py``,
``gru.py``) writes one step forward and one step backward, equation by equation. This
module runs those steps over a sequence: :meth:`Layer.forward` left to right, and
:meth:`Layer.backward` right to left, either exactly or truncated as equation (15) defines.

Sizes: ``D`` inputs, ``H`` hidden units, ``T`` steps, ``B`` sequences in a batch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from rnn.checks import check_int, check_names

__all__ = ["Array", "Layer", "SequenceCache", "State", "sigmoid"]

Array = NDArray[Any]
"""A float64 array in normal use; float32 for fast training; complex128 for complex-step checks."""

State = Any
"""A layer's recurrent state: h of shape (B, H), or the LSTM's pair (h, s) of such arrays."""

StepCache = TypeVar("StepCache")
"""A cell's step cache: a NamedTuple of arrays whose fields include ``x`` and ``h``."""
Self = TypeVar("Self", bound="Layer[Any]")

_ALLOWED_DTYPES = (np.dtype(np.float64), np.dtype(np.float32), np.dtype(np.complex128))


def sigmoid(a: Array) -> Array:
    r"""The logistic function :math:`\sigma(a) = 1 / (1 + e^{-a})`, elementwise.

    Parameters
    ----------
    a : ndarray
        Real or complex.

    Returns
    -------
    ndarray
        :math:`\sigma(a)`, computed as :math:`\tfrac12 (1 + \tanh \tfrac a2)`.

    Notes
    -----
    The tanh form is the same analytic function, so the complex-step check works through
    it, and unlike ``1 / (1 + exp(-a))`` it cannot overflow for large negative ``a``.
    Its derivative is :math:`\sigma'(a) = \sigma(a)\,(1 - \sigma(a))`.

    Examples
    --------
    >>> sigmoid(np.array([-1e4, 0.0, 1e4])).tolist()
    [0.0, 0.5, 1.0]
    """
    return 0.5 + 0.5 * np.tanh(0.5 * a)


def input_term(U: Array, x_t: Array) -> Array:
    r""":math:`U x^{(t)}` for a batch, shape (B, H).

    ``x_t`` is either integer indices of shape (B,), standing for one-hot vectors, whose
    product with U is column ``x_t`` of U (a gather), or dense inputs of shape (B, D).
    """
    if x_t.dtype.kind in "iu":
        gathered: Array = U.T[x_t]  # U x(t) for one-hot x(t): column x(t) of U
        return gathered
    product: Array = x_t @ U.T
    return product


def one_hot(x_t: Array, size: int, dtype: Any) -> Array:
    """The one-hot rows of indices ``x_t`` (B,), shape (B, ``size``)."""
    rows: Array = (x_t[:, None] == np.arange(size)).astype(dtype)
    return rows


def input_weight_gradient(U: Array, x: Array, delta: Array) -> Array:
    r""":math:`\nabla U = \sum \delta x^\top` over the rows of ``delta`` (N, H) and ``x``.

    ``x`` is (N,) indices of one-hot inputs, or (N, D) dense inputs; the rows are the
    sequences of one step, or every (step, sequence) pair of a window.
    """
    x_rows = one_hot(x, U.shape[1], delta.dtype) if x.dtype.kind in "iu" else x
    dU: Array = delta.T @ x_rows
    return dU


def input_gradient(U: Array, x_t: Array, delta: Array) -> Array | None:
    r""":math:`\nabla x^{(t)} = U^\top \delta`, (B, D); None for one-hot indices, which are
    not variables."""
    if x_t.dtype.kind in "iu":
        return None
    dx: Array = delta @ U
    return dx


def add_to_h(dstate: State, dh: Array) -> State:
    """A state gradient with ``dh`` added to its h part (the whole of it, or the pair's first)."""
    if isinstance(dstate, tuple):
        return (dstate[0] + dh, *dstate[1:])
    return dstate + dh


def map_state(function: Any, *states: State) -> State:
    """Apply ``function`` to the arrays of states of one structure (pairs and stacks nest)."""
    if isinstance(states[0], tuple):
        return tuple(map_state(function, *parts) for parts in zip(*states, strict=True))
    return function(*states)


@dataclass(frozen=True)
class SequenceCache(Generic[StepCache]):
    """What :meth:`Layer.forward` keeps for :meth:`Layer.backward`.

    Attributes
    ----------
    steps : NamedTuple
        The layer's step cache with a leading T axis on every field: field ``f`` has shape
        (T, B, ...) where one step's cache has (B, ...). ``steps.x`` holds the inputs,
        (T, B) integers or (T, B, D) floats, and ``steps.h`` the hidden states (T, B, H).
    state0 : ndarray or tuple of ndarray
        The state that entered the first step, in (B, H) form.
    batched : bool
        Whether the caller passed a batch axis; results are squeezed back otherwise.
    """

    steps: StepCache
    state0: State
    batched: bool

    def step(self, t: int) -> StepCache:
        """The cache of step ``t`` alone (0-based), as :meth:`Layer.step_forward` returned it."""
        steps: Any = self.steps
        one: StepCache = type(steps)(*(field[t] for field in steps))
        return one

    @property
    def x(self) -> Array:
        """The inputs, (T, B) integers or (T, B, D) floats."""
        x: Array = getattr(self.steps, "x")  # noqa: B009 (every step cache has the field)
        return x

    @property
    def hs(self) -> Array:
        """The hidden states h(1) .. h(T), (T, B, H)."""
        hs: Array = getattr(self.steps, "h")  # noqa: B009 (every step cache has the field)
        return hs

    def rows(self) -> StepCache:
        """The cache with steps and sequences flattened: every field (T·B, ...), row t·B + b."""
        steps: Any = self.steps
        flat: StepCache = type(steps)(*(f.reshape(-1, *f.shape[2:]) for f in steps))
        return flat

    @property
    def length(self) -> int:
        """T, the number of steps."""
        return int(self.x.shape[0])


class Layer(ABC, Generic[StepCache]):
    """A recurrent layer: its parameters, its two steps, and the sequence passes over them.

    A cell defines :attr:`param_names`, :meth:`param_shapes`, :meth:`zero_state`,
    :meth:`step_forward` and :meth:`step_backward`; the sequence passes are written here,
    once, for every cell.
    """

    param_names: ClassVar[tuple[str, ...]]
    """Names of the parameters, in a fixed order; ``U`` (or ``U_k``) first."""

    @classmethod
    def from_arrays(cls: type[Self], arrays: Mapping[str, Array]) -> Self:
        """A layer over these very arrays, already checked, without copying them.

        A model builds its layers this way, so that an optimizer updating the model's
        arrays in place updates its layers too.
        """
        layer = object.__new__(cls)
        for name in cls.param_names:
            setattr(layer, name, arrays[name])
        return layer

    def __init__(self, **params: Any) -> None:
        check_names(params, self.param_names)
        arrays = {name: as_param(name, params[name]) for name in self.param_names}
        first = arrays[self.param_names[0]]
        if first.ndim != 2:
            raise ValueError(
                f"{self.param_names[0]} must have shape (hidden_size, input_size), "
                f"got {first.shape}"
            )
        expected = self.param_shapes(first.shape[1], first.shape[0])
        for name, arr in arrays.items():
            if arr.shape != expected[name]:
                raise ValueError(
                    f"{name} must have shape {expected[name]} for input_size={first.shape[1]} "
                    f"and hidden_size={first.shape[0]}, got {arr.shape}"
                )
        for name, arr in arrays.items():
            setattr(self, name, arr)

    @classmethod
    @abstractmethod
    def param_shapes(cls, input_size: int, hidden_size: int) -> dict[str, tuple[int, ...]]:
        """Shape of each parameter for ``input_size`` inputs and ``hidden_size`` units."""

    @classmethod
    def initial_params(
        cls, input_size: int, hidden_size: int, rng: np.random.Generator, scale: float
    ) -> dict[str, Array]:
        r"""Weights drawn from :math:`\mathcal N(0, \text{scale}^2)`, biases zero.

        A cell may override this to start a bias elsewhere (the LSTM's forget gate).
        """
        return {
            name: (rng.standard_normal(shape) * scale if len(shape) == 2 else np.zeros(shape))
            for name, shape in cls.param_shapes(input_size, hidden_size).items()
        }

    @classmethod
    def random(
        cls: type[Self],
        input_size: int,
        hidden_size: int,
        rng: np.random.Generator,
        *,
        scale: float = 0.01,
    ) -> Self:
        r"""A layer with weights from :math:`\mathcal N(0, \text{scale}^2)` and zero biases.

        Parameters
        ----------
        input_size : int
            D ≥ 1: the size of a dense input, or the number of one-hot classes.
        hidden_size : int
            H ≥ 1.
        rng : numpy.random.Generator
            The only source of randomness.
        scale : float, optional
            Standard deviation of the weights.

        Returns
        -------
        Layer
        """
        check_int("input_size", input_size, minimum=1)
        check_int("hidden_size", hidden_size, minimum=1)
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        return cls(**cls.initial_params(input_size, hidden_size, rng, scale))

    @property
    def params(self) -> dict[str, Array]:
        """The parameter arrays by name (the layer's own arrays, not copies)."""
        return {name: getattr(self, name) for name in self.param_names}

    @property
    def input_size(self) -> int:
        """D, the size of one input vector (the number of classes for one-hot inputs)."""
        return int(getattr(self, self.param_names[0]).shape[1])

    @property
    def hidden_size(self) -> int:
        """H, the number of hidden units."""
        return int(getattr(self, self.param_names[0]).shape[0])

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(input_size={self.input_size}, hidden_size={self.hidden_size})"
        )

    # ------------------------------------------------------------------ the cell's steps

    def zero_state(self, batch_size: int, dtype: Any = np.float64) -> State:
        """Zeros of shape (B, H), the state of a cell whose state is h alone."""
        return np.zeros((batch_size, self.hidden_size), dtype)

    @abstractmethod
    def step_forward(self, x_t: Array, state: State) -> tuple[State, StepCache]:
        """One step: the state after input ``x_t`` (B,) or (B, D), and the step's cache."""

    @abstractmethod
    def step_deltas(
        self, dstate: State, cache: StepCache
    ) -> tuple[State, Array | None, tuple[Array, ...]]:
        """One step backwards through the recurrence: from the gradient at the state after
        the step to the gradient at the state before it, at the input (None for one-hot
        inputs), and at the step's pre-activations (the deltas)."""

    @abstractmethod
    def param_gradients(self, deltas: tuple[Array, ...], cache: StepCache) -> dict[str, Array]:
        """The parameter gradients from deltas and a cache whose fields have N rows: the
        batch of one step, or all T·B rows of a sequence, which sums over the steps."""

    def step_backward(
        self, dstate: State, cache: StepCache
    ) -> tuple[State, Array | None, dict[str, Array]]:
        """One step backwards: from the gradient at the state after the step to the gradient
        at the state before it, at the input (None for one-hot inputs), and at every
        parameter (this step's share of each sum over time)."""
        dstate_prev, dx_t, deltas = self.step_deltas(dstate, cache)
        return dstate_prev, dx_t, self.param_gradients(deltas, cache)

    # --------------------------------------------------------------- the sequence passes

    def forward(self, x: Any, state0: Any = None) -> tuple[Array, State, SequenceCache[StepCache]]:
        """Run :meth:`step_forward` over a sequence.

        Parameters
        ----------
        x : array_like, shape (T,) or (T, B) of int, or (T, D) or (T, B, D) of float
            Integers are one-hot inputs given by their indices in ``0 .. D-1``; floats are
            dense input vectors.
        state0 : array_like, shape (H,) or (B, H), optional
            The initial state (for the LSTM the pair ``(h0, s0)``); None means zeros.

        Returns
        -------
        hs : ndarray, shape (T, H) or (T, B, H)
            The hidden states h(1) .. h(T).
        state_T : ndarray or tuple of ndarray
            The state after the last step, shaped like ``state0``.
        cache : SequenceCache
            What :meth:`backward` needs.

        Raises
        ------
        TypeError, ValueError
            If ``x`` or ``state0`` has the wrong dtype, shape or values.
        """
        xs, batched = check_sequence("x", x, self.input_size)
        state = first = self.check_state(state0, xs.shape[1], batched, "state0")
        steps: Any = None
        for t in range(xs.shape[0]):
            state, step = self.step_forward(xs[t], state)
            named: Any = step  # a NamedTuple of arrays
            fields: tuple[Array, ...] = tuple(named)
            if steps is None:  # one (T, ...) array per field of the step cache
                floats = np.result_type(*(f for f in fields if f.dtype.kind not in "iu"))
                steps = type(step)(
                    *(
                        np.empty((len(xs), *f.shape), f.dtype if f.dtype.kind in "iu" else floats)
                        for f in fields
                    )
                )
            for buffer, value in zip(steps, fields, strict=True):
                buffer[t] = value
        cache: SequenceCache[StepCache] = SequenceCache(steps, first, batched)
        hs = steps.h if batched else steps.h[:, 0]
        return hs, state if batched else map_state(lambda a: a[0], state), cache

    def backward(
        self,
        dhs: Any,
        cache: SequenceCache[StepCache],
        dstate_T: Any = None,
        truncation: int | None = None,
    ) -> tuple[dict[str, Array], Array | None, State]:
        r"""Backpropagation through time from any upstream gradient.

        Parameters
        ----------
        dhs : array_like, shape (T, H) or (T, B, H)
            The gradient of a scalar loss with respect to every hidden state h(t), from
            what lies above the layer (the output layer, or the next layer).
        cache : SequenceCache
            The result of :meth:`forward`.
        dstate_T : array_like, optional
            The gradient with respect to the final state, shaped like it; None means zero.
        truncation : int ≥ 1, optional
            Backpropagate the gradient that enters at each step through at most this many
            steps, equation (15); ``dstate_T`` counts as entering at the last step. None
            gives the exact gradient.

        Returns
        -------
        grads : dict of str to ndarray
            The gradient of every parameter, keyed by :attr:`param_names`.
        dx : ndarray, shape like ``x``, or None
            The gradient with respect to dense inputs; None for one-hot inputs.
        dstate0 : ndarray or tuple of ndarray
            The gradient with respect to the initial state, shaped like it.

        Notes
        -----
        The exact pass runs the steps once, from T down to 1, carrying the state gradient
        from each step to the one before. The truncated pass is the definition of
        equation (15) itself: the gradient entering at step s is carried back through
        steps s, s − 1, ..., s − k + 1 and no further.
        """
        T, B = cache.length, cache.hs.shape[1]
        H = self.hidden_size
        up = np.asarray(dhs)
        expected = (T, B, H) if cache.batched else (T, H)
        if up.shape != expected:
            raise ValueError(f"dhs must have shape {expected}, got {up.shape}")
        up = up if cache.batched else up[:, None]
        zero = map_state(np.zeros_like, cache.state0)
        last = (
            zero if dstate_T is None else self.check_state(dstate_T, B, cache.batched, "dstate_T")
        )
        k = check_truncation(truncation)
        deltas: list[Array] = []  # each delta of every step, (T, B, H)
        dx: list[tuple[int, Array]] | None = None if cache.x.dtype.kind in "iu" else []

        def accumulate(t: int, dstate: State) -> State:
            dstate_prev, dx_t, step = self.step_deltas(dstate, cache.step(t))
            if not deltas:
                deltas.extend(np.zeros((T, *d.shape), np.result_type(d, up)) for d in step)
            for buffer, d in zip(deltas, step, strict=True):
                buffer[t] += d  # our own buffer: the deltas of step t, from every chain
            if dx is not None and dx_t is not None:
                dx.append((t, dx_t))
            return dstate_prev

        if k is None:
            dstate = last
            for t in reversed(range(T)):
                dstate = accumulate(t, add_to_h(dstate, up[t]))  # eq. (9), eq. (L7), eq. (G6)
            dstate0 = dstate
        else:
            dstate0 = zero
            for s in range(T):
                entering = add_to_h(last if s == T - 1 else zero, up[s])
                for t in range(s, max(s - k, -1), -1):  # eq. (15): at most k steps back
                    entering = accumulate(t, entering)
                if s < k:  # the chain from step s reached the initial state
                    dstate0 = map_state(np.add, dstate0, entering)
        dx_total = None
        if dx is not None:
            dx_total = np.zeros(cache.x.shape, np.result_type(*(d for _, d in dx)))
            for t, d in dx:
                dx_total[t] += d
            dx_total = dx_total if cache.batched else dx_total[:, 0]
        if not cache.batched:
            dstate0 = map_state(lambda a: a[0], dstate0)
        rows = tuple(d.reshape(T * B, *d.shape[2:]) for d in deltas)
        grads = self.param_gradients(rows, cache.rows())  # Σ over t as one product each
        return {name: grads[name] for name in self.param_names}, dx_total, dstate0

    # -------------------------------------------------------------------- validation

    def check_state(self, state: Any, batch_size: int, batched: bool, name: str) -> State:
        """Validate h, (H,) or (B, H), and return it as (B, H); None gives zeros.

        A cell whose state is more than h (the LSTM's pair) overrides this.
        """
        if state is None:
            return self.zero_state(batch_size, getattr(self, self.param_names[0]).dtype)
        return check_array_state(name, state, batch_size, self.hidden_size, batched)


def check_sequence(name: str, value: Any, input_size: int) -> tuple[Array, bool]:
    """Validate a sequence of inputs and return it with a batch axis, and whether it had one.

    Integers of shape (T,) or (T, B) are one-hot inputs by index, in ``0 .. input_size-1``;
    floats of shape (T, D) or (T, B, D) are dense, with D = ``input_size``.
    """
    arr = np.asarray(value)
    if arr.dtype.kind in "iu":
        if arr.ndim not in (1, 2):
            raise ValueError(f"{name} must have shape (T,) or (T, B), got {arr.shape}")
        if arr.size == 0:
            raise ValueError(
                f"{name} must hold at least 1 step and 1 sequence, got shape {arr.shape}"
            )
        low, high = int(arr.min()), int(arr.max())
        if low < 0 or high >= input_size:
            raise ValueError(
                f"{name} must lie in [0, {input_size}), got {low if low < 0 else high}"
            )
        batched = arr.ndim == 2
        return (arr if batched else arr[:, None]).astype(np.intp, copy=False), batched
    if arr.dtype.kind not in "fc" or arr.ndim < 2:  # not dense vectors: indices expected
        raise TypeError(f"{name} must be an integer array, got dtype {arr.dtype}")
    if arr.ndim > 3:
        raise ValueError(f"{name} of floats must have shape (T, D) or (T, B, D), got {arr.shape}")
    if arr.shape[-1] != input_size:
        raise ValueError(f"{name} must have D = {input_size} features, got shape {arr.shape}")
    if 0 in arr.shape:
        raise ValueError(f"{name} must hold at least 1 step and 1 sequence, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got a NaN or infinite entry")
    batched = arr.ndim == 3
    return (arr if batched else arr[:, None]), batched


def check_array_state(name: str, value: Any, batch_size: int, hidden: int, batched: bool) -> Array:
    """Validate one (H,) or (B, H) state array and return it in (B, H) form."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "fciu":
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    expected = (batch_size, hidden) if batched else (hidden,)
    if arr.shape != expected:
        raise ValueError(f"{name} must have shape {expected}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got a NaN or infinite entry")
    return arr if batched else arr[None, :]


def check_truncation(truncation: Any) -> int | None:
    """Return ``truncation`` if it is None or an int ≥ 1."""
    if truncation is None:
        return None
    if isinstance(truncation, bool) or not isinstance(truncation, (int, np.integer)):
        raise TypeError(f"truncation must be an int or None, got {type(truncation).__name__}")
    if truncation < 1:
        raise ValueError(f"truncation must be ≥ 1 or None, got {truncation}")
    return int(truncation)


def as_param(name: str, value: Any) -> Array:
    """A parameter as a float64, float32 or complex128 array of finite values (a copy)."""
    arr = np.array(value, copy=True)
    if arr.dtype.kind in "iu":
        arr = arr.astype(np.float64)
    if arr.dtype.kind == "c" and arr.dtype != np.complex128:
        arr = arr.astype(np.complex128)
    if arr.dtype not in _ALLOWED_DTYPES:
        raise TypeError(
            f"parameter {name} must be a float64, float32 or complex128 array, "
            f"got dtype {arr.dtype}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"parameter {name} must be finite, got a NaN or infinite entry")
    return arr
