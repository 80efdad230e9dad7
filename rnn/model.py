r"""The vanilla recurrent network: forward pass, loss and backpropagation through time.

Notation follows Goodfellow, Bengio and Courville, *Deep Learning* (2016), section 10.2,
and the derivation page of the documentation, whose equation numbers appear as
``# eq. (n)`` on the line that computes them.

Sizes: ``V`` characters in the vocabulary, ``H`` hidden units, ``T`` steps, ``B``
sequences in a batch. Arrays of a sequence are indexed ``[t, b, ...]``, so the hidden
states of a batch have shape ``(T, B, H)``.

This module also holds what every cell shares: the output layer, the softmax, the loss
(equations 3 to 8) and :class:`RecurrentModel`, the base class whose ``loss_and_gradients``
and ``sample`` the gated cells reuse.
"""

from __future__ import annotations

import math
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np
import scipy.sparse
from numpy.typing import NDArray

from rnn.checks import check_int, check_non_negative_number, check_text
from rnn.data import Vocabulary

__all__ = ["RNN", "ForwardCache", "RecurrentModel", "log_softmax", "softmax"]

Array = NDArray[Any]
"""A float64 array in normal use; float32 for fast training; complex128 for complex-step checks."""

State = Any
"""A cell's recurrent state: an array of shape (B, H) for the RNN and GRU, a tuple for the LSTM."""

Model = TypeVar("Model", bound="RecurrentModel")

_ALLOWED_DTYPES = (np.dtype(np.float64), np.dtype(np.float32), np.dtype(np.complex128))


def log_softmax(o: Array, out: Array | None = None) -> Array:
    r"""Log-probabilities of logits along the last axis.

    Parameters
    ----------
    o : ndarray, shape (..., V)
        Logits. Real or complex.
    out : ndarray, shape (..., V), optional
        Where to write the result; it may be ``o`` itself. None allocates a new array.

    Returns
    -------
    ndarray, shape (..., V)
        :math:`\ln \operatorname{softmax}(o)`.

    Notes
    -----
    The shift by the maximum makes logits of :math:`\pm 10^4` safe. It is taken from the real
    part, so for complex input (the complex-step check) the function stays analytic: the
    shift cancels exactly and only adds a constant to every entry.
    """
    logp: Array = np.subtract(o, o.real.max(axis=-1, keepdims=True), out=out)
    logp -= np.log(np.exp(logp).sum(axis=-1, keepdims=True))
    return logp


def softmax(o: Array, out: Array | None = None) -> Array:
    r"""Probabilities of logits along the last axis, eq. (4).

    Parameters
    ----------
    o : ndarray, shape (..., V)
        Logits. Real or complex.
    out : ndarray, shape (..., V), optional
        Where to write the result; it may be ``o`` itself. None allocates a new array.

    Returns
    -------
    ndarray, shape (..., V)
        :math:`\hat y = e^{o} / \sum_k e^{o_k}`.

    Notes
    -----
    The logits are shifted by their maximum first, as in :func:`log_softmax`, so that no
    exponential overflows. The model's own passes call ``_softmax_and_loss``, the same
    computation, which also returns the loss.

    Examples
    --------
    >>> softmax(np.array([0.0, np.log(3.0)])).round(12).tolist()
    [0.25, 0.75]
    """
    y_hat, _ = _softmax_and_loss(o, None, out)
    return y_hat


def _softmax_and_loss(
    o: Array, y: NDArray[np.intp] | None, out: Array | None
) -> tuple[Array, Any]:
    r"""ŷ = softmax(o), eq. (4), and, given targets, the summed loss L of eq. (5).

    ``o`` has shape (..., V) and ``y`` the shape (...) or is None, which gives None for the
    loss. ŷ is written to ``out``, which may be ``o``. One exponential per entry serves
    both: with :math:`z = o - \max o`, :math:`\ln \hat y_y = z_y - \ln \sum_k e^{z_k}`,
    so the loss needs ``z`` at the targets only, read before ``z`` is overwritten by ŷ.
    It stays finite where ŷ at a target underflows to zero.
    """
    z: Array = np.subtract(o, o.real.max(axis=-1, keepdims=True), out=out)  # e^z ≤ 1: no overflow
    rows = z.reshape(-1, z.shape[-1])  # one row per step (and sequence)
    z_y = None if y is None else rows[np.arange(len(rows)), y.reshape(-1)]  # z at the targets
    y_hat = np.exp(z, out=z)
    total = y_hat.sum(axis=-1, keepdims=True)  # Σ_k e^(z_k)
    y_hat /= total  # eq. (4): ŷ(t) = e^o(t) / Σ_k e^o_k(t)
    loss = None if z_y is None else -(z_y - np.log(total.reshape(-1))).sum()  # eq. (5)
    return y_hat, loss


@dataclass(frozen=True)
class ForwardCache:
    """What the forward pass keeps for the backward pass.

    Attributes
    ----------
    inputs : ndarray of intp, shape (T, B)
        Input character indices.
    hs : ndarray, shape (T, B, H)
        Hidden states ``h(1) .. h(T)``.
    logits : ndarray, shape (T, B, V)
        Output-layer activations ``o(t)``.
    state : object
        The state that entered the first step (``h(0)`` for the RNN).
    last_state : object
        The state after the last step.
    batched : bool
        Whether the caller passed (T, B) arrays; results are squeezed back otherwise.
    extra : dict
        Cell-specific intermediate values (gate activations for the LSTM and GRU).
    """

    inputs: NDArray[np.intp]
    hs: Array
    logits: Array
    state: State
    last_state: State
    batched: bool
    extra: Mapping[str, Any]


class RecurrentModel(ABC):
    """Base class of the character-level cells: parameters, loss, gradients, sampling.

    A subclass defines its parameter shapes, its hidden-state recurrence
    (:meth:`_hidden_forward`) and the backward pass of that recurrence
    (:meth:`_hidden_backward`). The output layer ``o = c + V h`` and the loss are shared.
    """

    cell: ClassVar[str]
    """Short name of the cell, as the CLI's ``--cell`` spells it."""

    param_names: ClassVar[tuple[str, ...]]
    """Names of the parameters, in a fixed order."""

    # ----------------------------------------------------------------- parameters

    @classmethod
    @abstractmethod
    def param_shapes(cls, vocab_size: int, hidden_size: int) -> dict[str, tuple[int, ...]]:
        """Shape of each parameter for a vocabulary of ``vocab_size`` and ``hidden_size`` units."""

    def _set_params(self, params: Mapping[str, Any]) -> None:
        arrays = {name: _as_param(name, params[name]) for name in self.param_names}
        dtypes = {a.dtype for a in arrays.values()}
        if len(dtypes) > 1:
            found = ", ".join(f"{k}: {a.dtype}" for k, a in arrays.items())
            raise TypeError(f"all parameters must share one dtype, got {found}")
        out = arrays["V"]
        if out.ndim != 2 or out.shape[0] < 1 or out.shape[1] < 1:
            raise ValueError(f"V must have shape (vocab_size, hidden_size), got {out.shape}")
        expected = self.param_shapes(out.shape[0], out.shape[1])
        for name, arr in arrays.items():
            if arr.shape != expected[name]:
                raise ValueError(
                    f"{name} must have shape {expected[name]} for vocab_size={out.shape[0]} "
                    f"and hidden_size={out.shape[1]}, got {arr.shape}"
                )
        for name, arr in arrays.items():
            setattr(self, name, arr)

    @property
    def params(self) -> dict[str, Array]:
        """The parameter arrays by name. They are the model's own arrays, not copies."""
        return {name: getattr(self, name) for name in self.param_names}

    @property
    def vocab_size(self) -> int:
        """V, the number of characters."""
        return int(self.params["V"].shape[0])

    @property
    def hidden_size(self) -> int:
        """H, the number of hidden units."""
        return int(self.params["V"].shape[1])

    @property
    def dtype(self) -> np.dtype[Any]:
        """The dtype shared by all parameters."""
        return self.params["V"].dtype

    def with_params(self: Model, params: Mapping[str, Any]) -> Model:
        """Return a model of the same cell with other parameter values.

        Parameters
        ----------
        params : mapping of str to array_like
            One array per name in :attr:`param_names`; complex arrays are allowed, which
            is how the complex-step check evaluates the loss.

        Returns
        -------
        RecurrentModel
            A new model of the same class; ``self`` is unchanged.
        """
        missing = set(self.param_names) - set(params)
        extra = set(params) - set(self.param_names)
        if missing or extra:
            raise ValueError(
                f"parameters must be exactly {list(self.param_names)}, "
                f"missing {sorted(missing)}, unexpected {sorted(extra)}"
            )
        new = object.__new__(type(self))
        new._set_params(params)
        return new

    def copy(self: Model) -> Model:
        """Return a deep copy of the model."""
        return self.with_params({k: v.copy() for k, v in self.params.items()})

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(vocab_size={self.vocab_size}, "
            f"hidden_size={self.hidden_size}, dtype={self.dtype})"
        )

    @classmethod
    def random(
        cls: type[Model],
        vocab_size: int,
        hidden_size: int,
        rng: np.random.Generator,
        *,
        scale: float = 0.01,
        dtype: Any = np.float64,
    ) -> Model:
        r"""A model with small random weights.

        Every weight matrix is drawn from :math:`\mathcal N(0, \text{scale}^2)` and every bias
        starts at zero, as in Karpathy's min-char-rnn. With ``scale = 0.01`` the
        first predictions are close to uniform, so the first window's loss is close to
        :math:`T \ln V`.

        Parameters
        ----------
        vocab_size : int
            V ≥ 1.
        hidden_size : int
            H ≥ 1.
        rng : numpy.random.Generator
            The only source of randomness.
        scale : float, optional
            Standard deviation of the weights, finite and ≥ 0.
        dtype : dtype, optional
            ``float64`` (default) or ``float32``.

        Returns
        -------
        RecurrentModel

        Raises
        ------
        TypeError
            If a size is not an int, ``rng`` is not a Generator, or the dtype is not allowed.
        ValueError
            If a size is below 1, ``scale`` is negative or not finite, or the parameters
            would not fit in this machine's memory (checked before any allocation).
        """
        check_int("vocab_size", vocab_size, minimum=1)
        check_int("hidden_size", hidden_size, minimum=1)
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale >= 0):
            raise ValueError(f"scale must be a finite number ≥ 0, got {scale!r}")
        dt = np.dtype(dtype)
        if dt not in _ALLOWED_DTYPES[:2]:
            raise TypeError(f"dtype must be float64 or float32, got {dt}")
        shapes = cls.param_shapes(vocab_size, hidden_size)
        nbytes = sum(math.prod(s) for s in shapes.values()) * dt.itemsize
        available = _physical_memory()
        if nbytes > available:
            raise ValueError(
                f"hidden_size={hidden_size} with vocab_size={vocab_size} needs "
                f"{nbytes / 2**30:.1f} GiB of parameters, more than this machine's "
                f"{available / 2**30:.1f} GiB of memory"
            )
        params = {
            name: (rng.standard_normal(shape) * scale if len(shape) == 2 else np.zeros(shape))
            for name, shape in shapes.items()
        }
        model = object.__new__(cls)
        model._set_params({k: v.astype(dt) for k, v in cls._initial_biases(params).items()})
        return model

    @classmethod
    def _initial_biases(cls, params: dict[str, Array]) -> dict[str, Array]:
        """Adjust freshly drawn parameters; a cell may override this (e.g. a forget bias)."""
        return params

    # ---------------------------------------------------------------- recurrence

    @abstractmethod
    def initial_state(self, batch_size: int) -> State:
        """The zero state for ``batch_size`` sequences."""

    @abstractmethod
    def _check_state(self, state: Any, batch_size: int, batched: bool) -> State:
        """Validate a user-supplied state and return it in (B, H) form."""

    @abstractmethod
    def _unbatch_state(self, state: State) -> State:
        """Drop the batch axis of a state whose B is 1."""

    @abstractmethod
    def _hidden_forward(
        self, x: NDArray[np.intp], state: State
    ) -> tuple[Array, State, dict[str, Any]]:
        """Run the recurrence over inputs ``x`` of shape (T, B).

        Returns the hidden states (T, B, H), the last state and the cell's cache.
        """

    @abstractmethod
    def _hidden_backward(
        self, cache: ForwardCache, dhs: Array, truncation: int | None
    ) -> tuple[dict[str, Array], State]:
        """Backpropagate ``dhs`` (T, B, H), the loss gradient that reaches each h(t) from the
        output layer of its own step, through the recurrence.

        Returns the gradients of the cell's own parameters and of the initial state.
        ``dhs`` is a fresh array of the call; the cell may overwrite it.
        """

    # ------------------------------------------------------------ shared passes

    def forward(self, inputs: Any, h0: Any = None) -> ForwardCache:
        """Run the forward pass, equations (1) to (3) of the cell and the output layer.

        Parameters
        ----------
        inputs : array_like of int, shape (T,) or (T, B)
            Input character indices in ``0 .. V-1``.
        h0 : array_like, shape (H,) or (B, H), optional
            The initial state (for the LSTM a pair). None means zeros.

        Returns
        -------
        ForwardCache
            Everything :meth:`backward` needs, including the logits.
        """
        x, batched = _check_inputs("inputs", inputs, self.vocab_size)
        state = self._check_state(h0, x.shape[1], batched)
        hs, last_state, extra = self._hidden_forward(x, state)
        T, B, H = hs.shape
        V, c = self.params["V"], self.params["c"]
        Vh = hs.reshape(T * B, H) @ V.T  # V h(t) for every step and sequence: one product
        logits = np.add(Vh, c, out=Vh).reshape(T, B, -1)  # eq. (3): o(t) = c + V h(t)
        return ForwardCache(x, hs, logits, state, last_state, batched, extra)

    def backward(
        self, cache: ForwardCache, targets: Any, truncation: int | None = None
    ) -> tuple[dict[str, Array], State]:
        """Gradients of the summed loss (5) from a forward pass.

        Parameters
        ----------
        cache : ForwardCache
            The result of :meth:`forward`.
        targets : array_like of int, shape like the inputs
            Target indices ``y(t)``.
        truncation : int, optional
            Backpropagate each step's loss through at most this many steps
            (truncated BPTT). None gives the exact gradient.

        Returns
        -------
        grads : dict of str to ndarray
            One array per parameter, each of its parameter's shape.
        dh0 : ndarray or tuple
            Gradient with respect to the initial state, shaped like ``h0``.
        """
        y = self._check_targets(cache, targets)
        truncation = _check_truncation(truncation)
        y_hat, _ = _softmax_and_loss(cache.logits, None, out=None)  # keeps the caller's cache
        grads, dstate = self._gradients(cache, y, y_hat, truncation)
        return grads, (dstate if cache.batched else self._unbatch_state(dstate))

    def _gradients(
        self, cache: ForwardCache, y: NDArray[np.intp], y_hat: Array, truncation: int | None
    ) -> tuple[dict[str, Array], State]:
        """Equations (6) to (8) for all steps at once, then the cell's backward recurrence.

        ``y_hat`` (T, B, V) holds ŷ(t) and is overwritten with ∇o(t) L.
        """
        T, B, V = y_hat.shape
        do = y_hat.reshape(T * B, V)  # row t·B + b holds step t of sequence b
        do[np.arange(T * B), y.reshape(-1)] -= 1.0  # eq. (6): ∇o(t) L = ŷ(t) − onehot(y(t))
        hs = cache.hs.reshape(T * B, -1)
        grads = {
            "c": do.sum(axis=0),  # eq. (7)
            "V": do.T @ hs,  # eq. (8)
        }
        dhs = (do @ self.params["V"]).reshape(T, B, -1)  # the Vᵀ ∇o(t) term of eq. (9)
        cell_grads, dstate = self._hidden_backward(cache, dhs, truncation)
        grads.update(cell_grads)
        return {name: grads[name] for name in self.param_names}, dstate

    def loss_and_gradients(
        self, inputs: Any, targets: Any, h0: Any = None, truncation: int | None = None
    ) -> tuple[float, dict[str, Array], State]:
        r"""The summed negative log-likelihood, its gradients and the last hidden state.

        A pure function of the parameters and the arguments: no clipping, no state,
        no randomness.

        Parameters
        ----------
        inputs : array_like of int, shape (T,) or (T, B)
            Input character indices ``x(t)`` in ``0 .. V-1``.
        targets : array_like of int, same shape as ``inputs``
            Target indices ``y(t)``, usually the inputs shifted by one.
        h0 : array_like, shape (H,) or (B, H), optional
            Initial hidden state (for the LSTM the pair ``(h0, s0)``); None means zeros.
        truncation : int ≥ 1, optional
            Truncated BPTT: each step's loss is backpropagated through at most this many
            steps. ``truncation=1`` is the seed's published gradient; None (the default)
            is the exact gradient.

        Returns
        -------
        loss : float
            :math:`L = -\sum_t \sum_b \ln \hat y^{(t)}_b[y^{(t)}_b]`, eq. (5).
        grads : dict of str to ndarray
            :math:`\partial L / \partial \theta` for each parameter, keyed by
            :attr:`param_names`, each of its parameter's shape and dtype.
        h_last : ndarray, shape (H,) or (B, H)
            The hidden state after the last step, to carry into the next window.

        Raises
        ------
        TypeError
            If the inputs or targets are not integer arrays.
        ValueError
            If shapes disagree, an index is out of range, or ``truncation`` < 1.

        See Also
        --------
        forward, backward : the two halves, which also give the gradient of ``h0``.

        Examples
        --------
        >>> model = RNN.random(vocab_size=4, hidden_size=3, rng=np.random.default_rng(0))
        >>> loss, grads, h = model.loss_and_gradients([0, 1, 2], [1, 2, 3])
        >>> bool(abs(loss - 3 * np.log(4)) < 0.01)  # near-uniform predictions at initialisation
        True
        >>> sorted(grads), grads["W"].shape, h.shape
        (['U', 'V', 'W', 'b', 'c'], (3, 3), (3,))
        """
        cache = self.forward(inputs, h0)
        y = self._check_targets(cache, targets)
        truncation = _check_truncation(truncation)
        y_hat, loss = _softmax_and_loss(cache.logits, y, out=cache.logits)  # o(t) is ours to reuse
        grads, _ = self._gradients(cache, y, y_hat, truncation)
        last = cache.last_state if cache.batched else self._unbatch_state(cache.last_state)
        return float(loss.real), grads, last

    def loss(self, inputs: Any, targets: Any, h0: Any = None) -> Any:
        """The summed negative log-likelihood (5) alone.

        Returns a Python ``float`` for real parameters and a ``complex`` for complex ones,
        which is what the complex-step check differentiates.
        """
        value = self._loss(self.forward(inputs, h0), targets)
        return complex(value) if np.iscomplexobj(value) else float(value)

    def probabilities(self, inputs: Any, h0: Any = None) -> Array:
        """Predicted next-character distributions ŷ(t), eq. (4), of shape (T, V) or (T, B, V)."""
        cache = self.forward(inputs, h0)
        probs = softmax(cache.logits)
        return probs if cache.batched else probs[:, 0]

    def _loss(self, cache: ForwardCache, targets: Any) -> Any:
        y = self._check_targets(cache, targets)
        return _softmax_and_loss(cache.logits, y, out=cache.logits)[1]  # o(t) is ours to reuse

    def _check_targets(self, cache: ForwardCache, targets: Any) -> NDArray[np.intp]:
        y, batched = _check_inputs("targets", targets, self.vocab_size)
        if y.shape != cache.inputs.shape or batched != cache.batched:
            shape = cache.inputs.shape if cache.batched else cache.inputs.shape[:1]
            given = y.shape if batched else y.shape[:1]
            raise ValueError(f"targets must have the inputs' shape {shape}, got {given}")
        return y

    # ------------------------------------------------------------------ sampling

    def sample(
        self,
        vocab: Vocabulary,
        rng: np.random.Generator,
        prime: str | None = None,
        length: int = 250,
        temperature: float = 1.0,
    ) -> str:
        """Generate text one character at a time.

        The model reads the priming string from a zero state, then repeatedly draws the
        next character from ``softmax(o / temperature)`` and feeds it back in. At
        temperature 0 it takes the most probable character instead (greedy decoding),
        and ``rng`` is not used.

        Parameters
        ----------
        vocab : Vocabulary
            The vocabulary the model was trained with; its size must be V.
        rng : numpy.random.Generator
            The only source of randomness.
        prime : str, optional
            A seed character or priming string, all in the vocabulary. None means the
            vocabulary's first character.
        length : int, optional
            Number of characters to generate, ≥ 0. Default 250, as in the seed.
        temperature : float, optional
            Finite and ≥ 0. Below 1 sharpens the distribution, above 1 flattens it; 0 is
            greedy.

        Returns
        -------
        str
            The ``length`` generated characters, without the priming string.

        Raises
        ------
        TypeError
            If ``rng`` is not a Generator or ``vocab`` is not a Vocabulary.
        ValueError
            If the vocabulary size is not V, ``prime`` is empty or has a character outside
            the vocabulary, ``length`` < 0, or ``temperature`` < 0 or not finite.
        """
        if not isinstance(vocab, Vocabulary):
            raise TypeError(f"vocab must be a Vocabulary, got {type(vocab).__name__}")
        if len(vocab) != self.vocab_size:
            raise ValueError(
                f"the vocabulary has {len(vocab)} characters but the model has {self.vocab_size}"
            )
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        check_int("length", length, minimum=0)
        check_non_negative_number("temperature", temperature)
        if prime is None:
            prime = vocab.chars[0]
        check_text("prime", prime)
        x = vocab.encode(prime)[:, None]
        cache = self.forward(x)
        out = []
        for _ in range(int(length)):
            o = cache.logits[-1, 0].real.astype(np.float64)
            if temperature == 0:
                nxt = int(np.argmax(o))  # greedy: the most probable character
            else:
                p = softmax(o / temperature)
                nxt = min(int(np.searchsorted(np.cumsum(p), rng.random() * p.sum())), len(p) - 1)
            out.append(nxt)
            cache = self.forward(np.array([[nxt]]), cache.last_state)
        return vocab.decode(out)


class RNN(RecurrentModel):
    r"""The vanilla (Elman) recurrent network of the seed, with the exact gradient.

    Parameters
    ----------
    U : array_like, shape (H, V)
        Input-to-hidden weights.
    W : array_like, shape (H, H)
        Hidden-to-hidden weights.
    V : array_like, shape (V, H)
        Hidden-to-output weights.
    b : array_like, shape (H,)
        Hidden bias.
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

        a^{(t)} &= b + W h^{(t-1)} + U x^{(t)} && (1) \\
        h^{(t)} &= \tanh a^{(t)} && (2) \\
        o^{(t)} &= c + V h^{(t)} && (3) \\
        \hat y^{(t)} &= \operatorname{softmax} o^{(t)} && (4) \\
        L &= -\textstyle\sum_t \ln \hat y^{(t)}_{y^{(t)}} && (5)

    The gradient (equations 6 to 14 of the derivation page) runs backwards in time with
    :math:`\delta^{(T+1)} = 0`:

    .. math::

        \nabla_{h^{(t)}} L &= V^\top \nabla_{o^{(t)}} L + W^\top \delta^{(t+1)} && (9) \\
        \delta^{(t)} &= (1 - h^{(t)} \odot h^{(t)}) \odot \nabla_{h^{(t)}} L && (10)

    The seed dropped the :math:`W^\top \delta^{(t+1)}` term; ``truncation=1`` reproduces
    that, equation (15).

    - :math:`U x^{(t)}` is column :math:`x^{(t)}` of U, computed as a gather, not a product.
    - :math:`\delta^{(t)} = \nabla_{a^{(t)}} L`, the gradient at the pre-activation.
    - Only the recurrence steps through time: (1)-(2) forward and (9)-(10) backward, in
      place in (T, B, H) arrays allocated once per call. The output layer, the softmax,
      the loss and the sums (7), (8), (11)-(13) are each one operation over all steps.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> model = RNN.random(vocab_size=5, hidden_size=8, rng=rng)
    >>> model.U.shape, model.W.shape, model.V.shape, model.b.shape, model.c.shape
    ((8, 5), (8, 8), (5, 8), (8,), (5,))
    """

    cell: ClassVar[str] = "rnn"
    param_names: ClassVar[tuple[str, ...]] = ("U", "W", "V", "b", "c")

    U: Array
    W: Array
    V: Array
    b: Array
    c: Array

    def __init__(self, U: Any, W: Any, V: Any, b: Any, c: Any) -> None:
        self._set_params({"U": U, "W": W, "V": V, "b": b, "c": c})

    @classmethod
    def param_shapes(cls, vocab_size: int, hidden_size: int) -> dict[str, tuple[int, ...]]:
        """Shapes ``U (H, V)``, ``W (H, H)``, ``V (V, H)``, ``b (H,)``, ``c (V,)``."""
        H, V = hidden_size, vocab_size
        return {"U": (H, V), "W": (H, H), "V": (V, H), "b": (H,), "c": (V,)}

    def initial_state(self, batch_size: int) -> Array:
        """Zeros of shape (B, H)."""
        return np.zeros((batch_size, self.hidden_size), dtype=self.dtype)

    def _check_state(self, state: Any, batch_size: int, batched: bool) -> Array:
        if state is None:
            return self.initial_state(batch_size)
        return _check_array_state("h0", state, batch_size, self.hidden_size, batched)

    def _unbatch_state(self, state: Array) -> Array:
        first: Array = state[0]
        return first

    def _hidden_forward(
        self, x: NDArray[np.intp], state: Array
    ) -> tuple[Array, Array, dict[str, Any]]:
        Ub = self.U.T + self.b  # row v is U x + b for the one-hot x of character v
        # U x(t) + b for every t at once, a gather, into the buffer that will hold h(t)
        hs = Ub[x].astype(np.result_type(self.W, state), copy=False)  # (T, B, H)
        W_T = np.ascontiguousarray(self.W.T)  # Wᵀ in row-major order: the faster product
        h = state
        for t in range(x.shape[0]):
            a = hs[t]
            a += np.dot(h, W_T)  # eq. (1): a(t) = b + W h(t−1) + U x(t)
            h = np.tanh(a, out=a)  # eq. (2)
        return hs, h, {}

    def _hidden_backward(
        self, cache: ForwardCache, dhs: Array, truncation: int | None
    ) -> tuple[dict[str, Array], Array]:
        T, B, H = dhs.shape
        delta = _tanh_deltas(dhs, cache.hs, self.W, truncation)  # δ(t) for every t: (T, B, H)
        d, h = delta.reshape(T * B, H), cache.hs.reshape(T * B, H)  # row t·B + b: step t, seq. b
        X = _one_hot_columns(cache.inputs, self.vocab_size, d.dtype)  # x(t) as sparse columns
        grads = {
            "b": d.sum(axis=0),  # eq. (11)
            "W": np.dot(d[B:].T, h[:-B]) + np.dot(delta[0].T, cache.state),  # eq. (12), h(0) apart
            "U": (X @ d).T,  # eq. (13): Σ δ(t) x(t)ᵀ, each δ(t) added into column x(t)
        }
        dh0 = delta[0] @ self.W  # eq. (14): ∇h(0) = Wᵀ δ(1)
        return grads, dh0


def _tanh_deltas(dhs: Array, hs: Array, W: Array, truncation: int | None) -> Array:
    """δ(t) = ∇a(t) L for t = 1 .. T, the one backward pass that steps through time.

    ``dhs`` (T, B, H) is Vᵀ∇o(t), what reaches h(t) from the output of its own step; the
    exact gradient overwrites it with δ(t). ``hs`` (T, B, H) holds h(t) = tanh a(t) and W
    the recurrent weights.
    """
    T = hs.shape[0]
    dtanh = hs * hs
    np.subtract(1.0, dtanh, out=dtanh)  # 1 − h(t)² = ∂h(t)/∂a(t) for every t, eq. (10)'s factor
    if truncation is None:
        delta = dhs  # δ(t) overwrites Vᵀ∇o(t), from t = T down
        d_next = delta[-1]
        d_next *= dtanh[-1]  # eqs. (9) and (10) at t = T, where δ(T+1) = 0
        for t in reversed(range(T - 1)):
            d = delta[t]
            d += np.dot(d_next, W)  # eq. (9)
            d *= dtanh[t]  # eq. (10)
            d_next = d
        return delta
    delta = np.zeros_like(dhs)
    grad = dhs  # lag j: the gradient at h(s) from the loss at s + j, indexed by s
    for j in range(min(truncation, T)):
        part = dtanh[: T - j] * grad  # eq. (15)
        delta[: T - j] += part
        grad = (part @ W)[1:]
    return delta


def _one_hot_columns(
    inputs: NDArray[np.intp], vocab_size: int, dtype: np.dtype[Any]
) -> scipy.sparse.csc_array:
    r"""The one-hot inputs x(t) of all steps as the columns of a sparse (V, T·B) matrix X.

    Column ``t·B + b`` holds a single 1, in row ``inputs[t, b]``. For per-step gradients
    ``D`` of shape (T·B, K), ``(X @ D).T`` is :math:`\sum_t D^{(t)} {x^{(t)}}^\top`, the
    gradient of an input weight matrix (eq. 13): each row of ``D`` is added into the column
    of its input character. That is T·B·K additions, and no dense one-hot array is formed.
    """
    n = inputs.size
    ones = np.ones(n, dtype=dtype)
    return scipy.sparse.csc_array((ones, inputs.reshape(-1), np.arange(n + 1)), (vocab_size, n))


# ---------------------------------------------------------------------- validation


def _as_param(name: str, value: Any) -> Array:
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


def _check_inputs(name: str, value: Any, vocab_size: int) -> tuple[NDArray[np.intp], bool]:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array, got dtype {arr.dtype}")
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name} must have shape (T,) or (T, B), got {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must hold at least 1 step and 1 sequence, got shape {arr.shape}")
    low, high = int(arr.min()), int(arr.max())
    if low < 0 or high >= vocab_size:
        bad = low if low < 0 else high
        raise ValueError(f"{name} must lie in [0, {vocab_size}), got {bad}")
    batched = arr.ndim == 2
    return (arr if batched else arr[:, None]).astype(np.intp), batched


def _check_array_state(
    name: str, value: Any, batch_size: int, hidden: int, batched: bool
) -> Array:
    arr = np.asarray(value)
    if arr.dtype.kind not in "fc" and arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    expected = (batch_size, hidden) if batched else (hidden,)
    if arr.shape != expected:
        raise ValueError(f"{name} must have shape {expected}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got a NaN or infinite entry")
    return arr if batched else arr[None, :]


def _check_truncation(truncation: Any) -> int | None:
    if truncation is None:
        return None
    if isinstance(truncation, bool) or not isinstance(truncation, (int, np.integer)):
        raise TypeError(f"truncation must be an int or None, got {type(truncation).__name__}")
    if truncation < 1:
        raise ValueError(f"truncation must be ≥ 1 or None, got {truncation}")
    return int(truncation)


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX systems
        return 2**63 - 1
