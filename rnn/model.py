r"""The character-level models: recurrent layers, then the output layer, then the loss.

Notation follows Goodfellow, Bengio and Courville, *Deep Learning* (2016), section 10.2,
and the derivation page of the documentation, whose equation numbers appear as
``# eq. (n)`` on the line that computes them.

Sizes: ``V`` characters in the vocabulary, ``H`` hidden units, ``T`` steps, ``B``
sequences in a batch. Arrays of a sequence are indexed ``[t, b, ...]``, so the hidden
states of a batch have shape ``(T, B, H)``.

A model is one or more layers of :mod:`rnn.layers` (``num_layers``; layer l ≥ 1 reads
the hidden states of layer l − 1), the output layer :math:`o = c + V h` (eq. 3) on the
top layer's states, and :func:`rnn.loss.softmax_cross_entropy`. :class:`RecurrentModel`
holds all of that once; :class:`RNN` here and :class:`~rnn.lstm.LSTM` and
:class:`~rnn.gru.GRU` only name their layer type.

**Parameter names.** Layer 0 uses the layer's own names (``U, W, b`` for the RNN); layer
l ≥ 1 the same names with the suffix ``_l{l}`` (``U_l1``, ``W_i_l2``). ``V`` and ``c``
belong to the output layer.

**State.** With one layer, the state is the layer's: an array (B, H), or the LSTM's pair
(h, s). With ``num_layers`` > 1 it is a tuple holding one such state per layer, bottom first.
"""

from __future__ import annotations

import itertools
import math
from abc import ABC
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np
from numpy.typing import NDArray

from rnn import memory
from rnn.checks import (
    check_castable,
    check_int,
    check_names,
    check_non_negative_number,
    check_text,
)
from rnn.data import Vocabulary
from rnn.layers import Layer, RNNLayer, SequenceCache
from rnn.layers.base import as_param, check_sequence, check_truncation, map_state
from rnn.loss import log_softmax, softmax, softmax_cross_entropy

__all__ = ["RNN", "ForwardCache", "RecurrentModel", "log_softmax", "softmax"]

Array = NDArray[Any]
"""A float64 array in normal use; float32 for fast training; complex128 for complex-step checks."""

State = Any
"""A model's recurrent state: (B, H), the LSTM's pair, or a tuple of those, one per layer."""

Model = TypeVar("Model", bound="RecurrentModel")

_ALLOWED_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def layer_suffix(layer: int) -> str:
    """The suffix of layer ``layer``'s parameter names: ``""`` for layer 0, else ``_l{layer}``."""
    return "" if layer == 0 else f"_l{layer}"


@dataclass(frozen=True)
class ForwardCache:
    """What the forward pass keeps for the backward pass.

    Attributes
    ----------
    inputs : ndarray, shape (T, B) of intp or (T, B, D)
        Input character indices, or dense input vectors.
    hs : ndarray, shape (T, B, H)
        Hidden states ``h(1) .. h(T)`` of the top layer.
    logits : ndarray, shape (T, B, V)
        Output-layer activations ``o(t)``.
    state : object
        The state that entered the first step, in (B, H) form.
    last_state : object
        The state after the last step, in (B, H) form.
    batched : bool
        Whether the caller passed a batch axis; results are squeezed back otherwise.
    layers : tuple of SequenceCache
        Each layer's own cache, bottom first.
    """

    inputs: Array
    hs: Array
    logits: Array
    state: State
    last_state: State
    batched: bool
    layers: tuple[SequenceCache[Any], ...]


class RecurrentModel(ABC):
    """Base class of the character-level models: layers, output layer, loss, sampling.

    A subclass names its :attr:`cell`, its :attr:`layer_type` and the one-layer
    :attr:`param_names`; everything else is shared.
    """

    cell: ClassVar[str]
    """Short name of the cell, as the CLI's ``--cell`` spells it."""

    layer_type: ClassVar[type[Layer[Any]]]
    """The recurrent layer the model stacks."""

    param_names: tuple[str, ...]
    """Names of the parameters, in a fixed order. On the class, those of one layer."""

    layers: tuple[Layer[Any], ...]
    """The recurrent layers, bottom first. They share the model's parameter arrays."""

    # ----------------------------------------------------------------- parameters

    @classmethod
    def param_shapes(
        cls, vocab_size: int, hidden_size: int, num_layers: int = 1, input_size: int | None = None
    ) -> dict[str, tuple[int, ...]]:
        """Shape of each parameter, in :attr:`param_names` order.

        Parameters
        ----------
        vocab_size : int
            V, the number of output classes.
        hidden_size : int
            H, the hidden units of every layer.
        num_layers : int, optional
            The number of stacked layers.
        input_size : int, optional
            D, the size of a dense input vector; None means one-hot inputs over V classes.
        """
        D = vocab_size if input_size is None else input_size
        H = hidden_size
        first = cls.layer_type.param_shapes(D, H)
        output = {"V": (vocab_size, H), "c": (vocab_size,)}
        shapes = {name: {**first, **output}[name] for name in cls.param_names}
        for layer in range(1, num_layers):
            upper = cls.layer_type.param_shapes(H, H)
            shapes.update({name + layer_suffix(layer): shape for name, shape in upper.items()})
        return shapes

    def _set_params(self, params: Mapping[str, Any]) -> None:
        first = self.layer_type.param_names[0]
        num_layers = 1
        while f"{first}{layer_suffix(num_layers)}" in params:
            num_layers += 1
        names = [name for name in params if name in type(self).param_names] + [
            name for name in params if name not in type(self).param_names
        ]
        arrays = {name: as_param(name, params[name]) for name in names}
        dtypes = {a.dtype for a in arrays.values()}
        if len(dtypes) > 1:
            found = ", ".join(f"{k}: {a.dtype}" for k, a in arrays.items())
            raise TypeError(f"all parameters must share one dtype, got {found}")
        out, inputs = arrays.get("V"), arrays.get(first)
        if out is None or out.ndim != 2 or out.shape[0] < 1 or out.shape[1] < 1:
            shape = None if out is None else out.shape
            raise ValueError(f"V must have shape (vocab_size, hidden_size), got {shape}")
        V, H = out.shape
        D = inputs.shape[1] if inputs is not None and inputs.ndim == 2 else V
        expected = self.param_shapes(V, H, num_layers, D)
        missing, extra = set(expected) - set(arrays), set(arrays) - set(expected)
        if missing or extra:
            raise ValueError(
                f"parameters must be exactly {list(expected)}, "
                f"missing {sorted(missing)}, unexpected {sorted(extra)}"
            )
        for name, arr in arrays.items():
            if arr.shape != expected[name]:
                raise ValueError(
                    f"{name} must have shape {expected[name]} for vocab_size={V} "
                    f"and hidden_size={H}, got {arr.shape}"
                )
        self.param_names = tuple(expected)
        for name in self.param_names:
            setattr(self, name, arrays[name])
        self.layers = tuple(
            self.layer_type.from_arrays(
                {n: arrays[n + layer_suffix(layer)] for n in self.layer_type.param_names}
            )
            for layer in range(num_layers)
        )

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
        """H, the number of hidden units of each layer."""
        return int(self.params["V"].shape[1])

    @property
    def input_size(self) -> int:
        """D, the size of a dense input; for one-hot inputs the number of classes, V."""
        return self.layers[0].input_size

    @property
    def num_layers(self) -> int:
        """The number of stacked recurrent layers."""
        return len(self.layers)

    @property
    def dtype(self) -> np.dtype[Any]:
        """The dtype shared by all parameters."""
        return self.params["V"].dtype

    def with_params(self: Model, params: Mapping[str, Any]) -> Model:
        """Return a model of the same cell and layout with other parameter values.

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
        check_names(params, self.param_names)
        new = object.__new__(type(self))
        new._set_params({name: params[name] for name in self.param_names})
        return new

    def copy(self: Model) -> Model:
        """Return a deep copy of the model."""
        return self.with_params({k: v.copy() for k, v in self.params.items()})

    def __repr__(self) -> str:
        layers = f"num_layers={self.num_layers}, " if self.num_layers > 1 else ""
        dense = f"input_size={self.input_size}, " if self.input_size != self.vocab_size else ""
        return (
            f"{type(self).__name__}(vocab_size={self.vocab_size}, {dense}"
            f"hidden_size={self.hidden_size}, {layers}dtype={self.dtype})"
        )

    @classmethod
    def random(
        cls: type[Model],
        vocab_size: int,
        hidden_size: int,
        rng: np.random.Generator,
        *,
        num_layers: int = 1,
        input_size: int | None = None,
        scale: float = 0.01,
        dtype: Any = np.float64,
    ) -> Model:
        r"""A model with small random weights.

        Every weight matrix is drawn from :math:`\mathcal N(0, \text{scale}^2)` and every bias
        starts at zero (a cell may start one elsewhere, as the LSTM's forget gate), as in
        Karpathy's min-char-rnn. With ``scale = 0.01`` the first predictions are close to
        uniform, so the first window's loss is close to :math:`T \ln V`. The draws are made
        in the order layer 0, V, then layers 1 and up, so a one-layer model is the same
        whatever layers could follow.

        Parameters
        ----------
        vocab_size : int
            V ≥ 1.
        hidden_size : int
            H ≥ 1.
        rng : numpy.random.Generator
            The only source of randomness.
        num_layers : int, optional
            The number of stacked layers, ≥ 1.
        input_size : int, optional
            D ≥ 1 for dense inputs of shape (T, B, D); None (the default) means one-hot
            inputs over the V characters.
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
            would not fit in the memory available (checked before any allocation).
        """
        check_int("vocab_size", vocab_size, minimum=1)
        check_int("hidden_size", hidden_size, minimum=1)
        check_int("num_layers", num_layers, minimum=1)
        D = vocab_size if input_size is None else check_int("input_size", input_size, minimum=1)
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale >= 0):
            raise ValueError(f"scale must be a finite number ≥ 0, got {scale!r}")
        dt = np.dtype(dtype)
        if dt not in _ALLOWED_DTYPES:
            raise TypeError(f"dtype must be float64 or float32, got {dt}")
        shapes = cls.param_shapes(vocab_size, hidden_size, num_layers, D)
        nbytes = sum(math.prod(s) for s in shapes.values()) * dt.itemsize
        memory.check_fits(f"hidden_size={hidden_size} with vocab_size={vocab_size}", nbytes)
        params = dict(cls.layer_type.initial_params(D, hidden_size, rng, scale))
        params["V"] = rng.standard_normal((vocab_size, hidden_size)) * scale
        params["c"] = np.zeros(vocab_size)
        for layer in range(1, num_layers):
            upper = cls.layer_type.initial_params(hidden_size, hidden_size, rng, scale)
            params.update({name + layer_suffix(layer): p for name, p in upper.items()})
        model = object.__new__(cls)
        model._set_params({name: params[name].astype(dt) for name in shapes})
        return model

    # ---------------------------------------------------------------------- state

    def initial_state(self, batch_size: int) -> State:
        """The zero state for ``batch_size`` sequences, in (B, H) form."""
        states = tuple(layer.zero_state(batch_size, self.dtype) for layer in self.layers)
        return states[0] if self.num_layers == 1 else states

    def _check_state(self, state: Any, batch_size: int, batched: bool) -> State:
        """Validate a user-supplied state (None means zeros) and return it in (B, H) form."""
        if self.num_layers == 1:
            return self.layers[0].check_state(state, batch_size, batched, "h0")
        if state is None:
            return tuple(
                layer.check_state(None, batch_size, batched, "h0") for layer in self.layers
            )
        if not (isinstance(state, (tuple, list)) and len(state) == self.num_layers):
            raise TypeError(
                f"h0 of a model with {self.num_layers} layers must be a tuple of "
                f"{self.num_layers} layer states, got {type(state).__name__}"
            )
        return tuple(
            layer.check_state(part, batch_size, batched, f"h0[{n}]")
            for n, (layer, part) in enumerate(zip(self.layers, state, strict=True))
        )

    def _unbatch_state(self, state: State) -> State:
        """Drop the batch axis of a state whose B is 1."""
        return map_state(lambda a: a[0], state)

    # ------------------------------------------------------------------- passes

    def forward(self, inputs: Any, h0: Any = None) -> ForwardCache:
        """Run the forward pass: every layer, then the output layer, eq. (3).

        Parameters
        ----------
        inputs : array_like, shape (T,) or (T, B) of int, or (T, D) or (T, B, D) of float
            Input character indices in ``0 .. V-1``, or dense inputs of the model's
            ``input_size`` D.
        h0 : array_like, shape (H,) or (B, H), optional
            The initial state (for the LSTM a pair, for stacked layers a tuple with one
            state per layer). None means zeros.

        Returns
        -------
        ForwardCache
            Everything :meth:`backward` needs, including the logits.
        """
        x, batched = check_sequence("inputs", inputs, self.input_size)
        state = self._check_state(h0, x.shape[1], batched)
        layer_states = (state,) if self.num_layers == 1 else state
        for layer_state in layer_states:
            parts = layer_state if isinstance(layer_state, tuple) else (layer_state,)
            for name, part in zip(("h0", "s0"), parts, strict=False):  # the LSTM's pair, or h
                check_castable(name, part, self.dtype)
        hs, caches, last = x, [], []
        for layer, state0 in zip(self.layers, layer_states, strict=True):
            hs, state_T, cache = layer.forward(hs, state0)  # each layer reads the one below
            caches.append(cache)
            last.append(state_T)
        logits = hs @ self.params["V"].T + self.params["c"]  # eq. (3): o(t) = c + V h(t)
        last_state = last[0] if self.num_layers == 1 else tuple(last)
        return ForwardCache(x, hs, logits, state, last_state, batched, tuple(caches))

    def backward(
        self, cache: ForwardCache, targets: Any, truncation: int | None = None, mask: Any = None
    ) -> tuple[dict[str, Array], State]:
        """Gradients of the summed loss (5) from a forward pass.

        Parameters
        ----------
        cache : ForwardCache
            The result of :meth:`forward`.
        targets : array_like of int, shape (T,) or (T, B) like the inputs
            Target indices ``y(t)``.
        truncation : int, optional
            Backpropagate each step's loss through at most this many steps of each layer
            (truncated BPTT, eq. 15). None gives the exact gradient.
        mask : array_like of bool, shape like ``targets``, optional
            False leaves a step out of the loss; None counts every step.

        Returns
        -------
        grads : dict of str to ndarray
            One array per parameter, each of its parameter's shape.
        dh0 : ndarray or tuple
            Gradient with respect to the initial state, shaped like ``h0``.
        """
        _, grads, dstate = self._loss_and_gradients(cache, targets, truncation, mask)
        return grads, (dstate if cache.batched else self._unbatch_state(dstate))

    def _loss_and_gradients(
        self, cache: ForwardCache, targets: Any, truncation: Any, mask: Any
    ) -> tuple[Any, dict[str, Array], State]:
        """The loss, eqs. (6) to (8) for the output layer, then each layer's BPTT, top first."""
        y = self._check_targets(cache, targets)
        k = check_truncation(truncation)
        loss, do = softmax_cross_entropy(cache.logits, y, self._check_mask(cache, mask))
        T, B, V = do.shape
        rows, hs = do.reshape(T * B, V), cache.hs.reshape(T * B, -1)  # row t·B + b: step t, seq. b
        grads = {
            "c": rows.sum(axis=0),  # eq. (7): ∇c = Σ ∇o(t)
            "V": rows.T @ hs,  # eq. (8): ∇V = Σ ∇o(t) h(t)ᵀ
        }
        dhs: Any = do @ self.params["V"]  # the Vᵀ ∇o(t) term of eq. (9), for every step
        dstates: list[State] = []
        for layer in reversed(range(self.num_layers)):
            layer_grads, dx, dstate0 = self.layers[layer].backward(
                dhs, cache.layers[layer], None, k
            )
            grads.update({n + layer_suffix(layer): g for n, g in layer_grads.items()})
            dstates.insert(0, dstate0)
            dhs = dx  # what reaches the hidden states of the layer below
        dstate = dstates[0] if self.num_layers == 1 else tuple(dstates)
        return loss, {name: grads[name] for name in self.param_names}, dstate

    def loss_and_gradients(
        self,
        inputs: Any,
        targets: Any,
        h0: Any = None,
        truncation: int | None = None,
        mask: Any = None,
    ) -> tuple[float, dict[str, Array], State]:
        r"""The summed negative log-likelihood, its gradients and the last hidden state.

        A pure function of the parameters and the arguments: no clipping, no state,
        no randomness.

        Parameters
        ----------
        inputs : array_like, shape (T,) or (T, B) of int, or (T, D) or (T, B, D) of float
            Input character indices ``x(t)`` in ``0 .. V-1``, or dense inputs.
        targets : array_like of int, shape (T,) or (T, B)
            Target indices ``y(t)``, usually the inputs shifted by one.
        h0 : array_like, shape (H,) or (B, H), optional
            Initial hidden state (for the LSTM the pair ``(h0, s0)``, for stacked layers a
            tuple of one state per layer); None means zeros.
        truncation : int ≥ 1, optional
            Truncated BPTT: each step's loss is backpropagated through at most this many
            steps. ``truncation=1`` is the seed's published gradient; None (the default)
            is the exact gradient.
        mask : array_like of bool, shape like ``targets``, optional
            False leaves a step out: it adds nothing to the loss or the gradients (padding
            in a batch of unequal sequences). None counts every step.

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
            If shapes disagree, an index is out of range, ``truncation`` < 1, or the
            call's estimated peak memory (:func:`rnn.memory.call_peak`) exceeds the
            memory available.

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
        memory.check_call(self, np.shape(inputs))  # before the caches are allocated
        cache = self.forward(inputs, h0)
        loss, grads, _ = self._loss_and_gradients(cache, targets, truncation, mask)
        last = cache.last_state if cache.batched else self._unbatch_state(cache.last_state)
        return float(loss.real), grads, last

    def loss(self, inputs: Any, targets: Any, h0: Any = None, mask: Any = None) -> Any:
        """The summed negative log-likelihood (5) alone.

        Returns a Python ``float`` for real parameters and a ``complex`` for complex ones,
        which is what the complex-step check differentiates.
        """
        cache = self.forward(inputs, h0)
        y = self._check_targets(cache, targets)
        value, _ = softmax_cross_entropy(cache.logits, y, self._check_mask(cache, mask))
        return complex(value) if np.iscomplexobj(value) else float(value)

    def probabilities(self, inputs: Any, h0: Any = None) -> Array:
        """Predicted next-character distributions ŷ(t), eq. (4), of shape (T, V) or (T, B, V)."""
        cache = self.forward(inputs, h0)
        probs = softmax(cache.logits)
        return probs if cache.batched else probs[:, 0]

    def _check_targets(self, cache: ForwardCache, targets: Any) -> NDArray[np.intp]:
        y = np.asarray(targets)
        if y.dtype.kind not in "iu":
            raise TypeError(f"targets must be an integer array, got dtype {y.dtype}")
        y, batched = check_sequence("targets", y, self.vocab_size)
        if y.shape != cache.inputs.shape[:2] or batched != cache.batched:
            shape = cache.inputs.shape[:2] if cache.batched else cache.inputs.shape[:1]
            given = y.shape if batched else y.shape[:1]
            raise ValueError(f"targets must have the inputs' shape {shape}, got {given}")
        return y

    def _check_mask(self, cache: ForwardCache, mask: Any) -> Any:
        if mask is None:
            return None
        keep = np.asarray(mask)
        if keep.dtype != bool:
            raise TypeError(f"mask must be a boolean array, got dtype {keep.dtype}")
        shape = cache.inputs.shape[:2] if cache.batched else cache.inputs.shape[:1]
        if keep.shape != shape:
            raise ValueError(f"mask must have the targets' shape {shape}, got {keep.shape}")
        return keep if cache.batched else keep[:, None]

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
        and ``rng`` is not used. This is the first ``length`` characters of
        :meth:`generate`.

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
        check_int("length", length, minimum=0)
        characters = self.generate(vocab, rng, prime, temperature)
        return "".join(itertools.islice(characters, int(length)))

    def generate(
        self,
        vocab: Vocabulary,
        rng: np.random.Generator,
        prime: str | None = None,
        temperature: float = 1.0,
    ) -> Iterator[str]:
        """The generated characters one at a time, without end; long samples stream.

        The arguments are those of :meth:`sample` and are checked when this is called,
        before the first character is asked for. Temperature 0 is greedy: the most
        probable character, the first of any tie, without using ``rng``. A positive
        temperature so small that the scaled logits overflow gives the limit of the
        distribution as the temperature falls to 0: all the probability on the most
        likely character (ties share it).

        Returns
        -------
        iterator of str
            Single characters of the vocabulary.
        """
        if not isinstance(vocab, Vocabulary):
            raise TypeError(f"vocab must be a Vocabulary, got {type(vocab).__name__}")
        if self.input_size != self.vocab_size:
            raise ValueError(
                f"sampling feeds characters back as inputs, so it needs one-hot inputs over "
                f"the vocabulary; this model reads dense inputs of size {self.input_size}"
            )
        if len(vocab) != self.vocab_size:
            raise ValueError(
                f"the vocabulary has {len(vocab)} characters but the model has {self.vocab_size}"
            )
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        check_non_negative_number("temperature", temperature)
        if prime is None:
            prime = vocab.chars[0]
        check_text("prime", prime)
        x = vocab.encode(prime)[:, None]
        return self._generate(vocab, rng, x, float(temperature))

    def _generate(
        self, vocab: Vocabulary, rng: np.random.Generator, x: NDArray[np.intp], temperature: float
    ) -> Iterator[str]:
        cache = self.forward(x)
        while True:
            o = cache.logits[-1, 0].real.astype(np.float64)
            if temperature == 0:
                nxt = int(np.argmax(o))  # greedy: the most probable character
            else:
                with np.errstate(over="ignore"):  # overflow gives −inf: probability 0, the limit
                    z = (o - o.max()) / temperature
                p = softmax(z)
                nxt = min(int(np.searchsorted(np.cumsum(p), rng.random() * p.sum())), len(p) - 1)
            yield vocab.chars[nxt]
            cache = self.forward(np.array([[nxt]]), cache.last_state)


class RNN(RecurrentModel):
    r"""The vanilla (Elman) recurrent network of the seed, with the exact gradient.

    Parameters
    ----------
    U : array_like, shape (H, V)
        Input-to-hidden weights; (H, D) for dense inputs of size D.
    W : array_like, shape (H, H)
        Hidden-to-hidden weights.
    V : array_like, shape (V, H)
        Hidden-to-output weights.
    b : array_like, shape (H,)
        Hidden bias.
    c : array_like, shape (V,)
        Output bias.
    **upper : array_like
        The parameters of layers 1 and up of a stacked model, ``U_l1, W_l1, b_l1`` and so
        on, U of shape (H, H).

    Raises
    ------
    TypeError
        If an array is not numeric, or the arrays have different dtypes.
    ValueError
        If the shapes do not fit together, a name is unknown, or a value is not finite.

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

    - The recurrence is :class:`rnn.layers.rnn.RNNLayer`: (1), (2) in its ``step_forward`` and
      (10) to (14) in its ``step_backward``; the sum (9) is in
      :meth:`rnn.layers.base.Layer.backward`.
    - The output layer, the softmax and the loss, (3) to (8), are each one operation over
      all steps.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> model = RNN.random(vocab_size=5, hidden_size=8, rng=rng)
    >>> model.U.shape, model.W.shape, model.V.shape, model.b.shape, model.c.shape
    ((8, 5), (8, 8), (5, 8), (8,), (5,))
    >>> RNN.random(5, 8, rng, num_layers=2).param_names
    ('U', 'W', 'V', 'b', 'c', 'U_l1', 'W_l1', 'b_l1')
    """

    cell: ClassVar[str] = "rnn"
    layer_type: ClassVar[type[Layer[Any]]] = RNNLayer
    param_names: tuple[str, ...] = ("U", "W", "V", "b", "c")

    U: Array
    W: Array
    V: Array
    b: Array
    c: Array

    def __init__(self, U: Any, W: Any, V: Any, b: Any, c: Any, **upper: Any) -> None:
        self._set_params({"U": U, "W": W, "V": V, "b": b, "c": c, **upper})
