"""Hypothesis strategies for random character-level models of every cell.

A generated case is first a :class:`CaseSpec`: plain data (the vocabulary's characters,
the text of each stream, the sizes, a weight scale and a seed) that Hypothesis can shrink
and print. :meth:`CaseSpec.build` turns it into a :class:`Case` ``(model, inputs, targets,
h0)`` for any cell class, using only the contract every cell shares (``param_shapes``,
``random``, ``with_params``, ``initial_state``), so a new cell in ``rnn.training.CELLS``
is covered without changes here.

The module needs Hypothesis, which the ``strategies`` extra installs:
``pip install "rnn-reference[strategies]"``.

Every strategy is built with ``@composite`` and bounded draws, never with filters: no
predicate rejects a draw. :data:`EDGE_CASES` lists the specs that tests pin with ``@example``.

Examples
--------
>>> from hypothesis import given, settings
>>> @settings(max_examples=5)
... @given(rnn_cases(max_length=3))
... def test_loss_is_finite(case):
...     assert np.isfinite(case.model.loss(case.inputs, case.targets, case.h0))
>>> test_loss_is_finite()
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

try:
    from hypothesis import strategies as st
except ModuleNotFoundError as err:  # the package itself needs only numpy and scipy
    raise ModuleNotFoundError(
        'verification.strategies needs Hypothesis: pip install "rnn-reference[strategies]"',
        name=err.name,
    ) from err

from rnn.data import Vocabulary
from rnn.model import RNN, RecurrentModel, State

__all__ = [
    "CHARACTER_POOL",
    "EDGE_CASES",
    "Case",
    "CaseSpec",
    "GradientProblem",
    "batch_sizes",
    "case_specs",
    "characters",
    "gradient_problem",
    "hidden_sizes",
    "map_state",
    "model_cases",
    "permute_vocabulary",
    "rnn_cases",
    "sequence_lengths",
    "state_arrays",
    "vocabularies",
    "vocabulary_axes",
    "weight_scales",
]

CHARACTER_POOL = (
    "ab xyz.,!?\n\t09"  # ASCII letters, digits, whitespace, punctuation
    "áéíóöőúüűÁÉŐŰ"  # Hungarian, as in the seed's corpus: 2 bytes in UTF-8
    "ñçßøåæœ"  # more Latin letters with diacritics
    "αβγΩжЯש"  # Greek, Cyrillic, Hebrew
    "中文字€"  # CJK and the euro sign: 3 bytes
    "😀🎉𝄞"  # outside the Basic Multilingual Plane: 4 bytes
    "\u0301\u200b"  # a combining acute accent and a zero-width space, one code point each
)
"""Characters that stress a vocabulary: accented, multi-byte and invisible ones."""


def characters(exclude: str = "") -> st.SearchStrategy[str]:
    """Single Unicode code points encodable in UTF-8, none of them in ``exclude``."""
    return st.characters(codec="utf-8", exclude_characters=exclude)


@st.composite
def vocabularies(draw: st.DrawFn, min_size: int = 1, max_size: int = 30) -> Vocabulary:
    """Vocabularies of ``min_size`` to ``max_size`` distinct characters, sorted.

    Some characters come from :data:`CHARACTER_POOL`, the rest from all of Unicode. Each
    draw excludes the characters already chosen, so no draw is ever rejected (a list with
    ``unique=True`` would retry duplicates).
    """
    size = draw(st.integers(min_size, max_size))
    from_pool = draw(st.integers(0, min(size, len(CHARACTER_POOL))))
    chars = draw(st.permutations(CHARACTER_POOL))[:from_pool]
    for _ in range(size - from_pool):
        chars.append(draw(characters(exclude="".join(chars))))
    return Vocabulary.from_text("".join(chars))


def hidden_sizes(min_value: int = 1, max_value: int = 8) -> st.SearchStrategy[int]:
    """H, the number of hidden units."""
    return st.integers(min_value, max_value)


def sequence_lengths(min_value: int = 1, max_value: int = 20) -> st.SearchStrategy[int]:
    """T, the number of steps."""
    return st.integers(min_value, max_value)


def batch_sizes(min_value: int = 1, max_value: int = 4) -> st.SearchStrategy[int]:
    """B, the number of sequences in a batch."""
    return st.integers(min_value, max_value)


def weight_scales(min_value: float = 0.01, max_value: float = 1.0) -> st.SearchStrategy[float]:
    """Standard deviations of the random weights.

    0.01 is Karpathy's initialisation (near-uniform predictions); 1 drives tanh units
    close to saturation. Far beyond 1 every unit saturates to exactly ±1 in float64 and
    every gradient through the recurrence vanishes, which no check can tell from a bug.
    """
    return st.floats(min_value, max_value, allow_nan=False, allow_infinity=False)


class Case(NamedTuple):
    """A model and the data of one call: ``model.loss(inputs, targets, h0)``."""

    model: RecurrentModel
    inputs: NDArray[np.intp]
    targets: NDArray[np.intp]
    h0: State


@dataclass(frozen=True)
class CaseSpec:
    """The drawn description of a case, independent of the cell.

    Attributes
    ----------
    chars : tuple of str
        The vocabulary's characters, sorted.
    streams : tuple of str
        One text of T + 1 characters per sequence; inputs are ``text[:-1]``, targets
        ``text[1:]``.
    hidden_size : int
        H.
    scale : float
        Standard deviation of every parameter, biases included.
    seed : int
        Seed of the weights and the initial state.
    zero_state : bool
        Whether h0 is zero.
    batched : bool
        Whether the arrays have a batch axis, (T, B); only B = 1 can be unbatched, (T,).
    """

    chars: tuple[str, ...]
    streams: tuple[str, ...]
    hidden_size: int
    scale: float
    seed: int
    zero_state: bool
    batched: bool

    @property
    def vocabulary(self) -> Vocabulary:
        """The vocabulary of :attr:`chars`."""
        return Vocabulary(self.chars)

    @property
    def length(self) -> int:
        """T, the number of steps."""
        return len(self.streams[0]) - 1

    def build(self, cell: type[RecurrentModel] = RNN) -> Case:
        """The case for ``cell``: random parameters, encoded streams and an initial state.

        Every parameter, biases included, is drawn from N(0, scale²), so no entry of the
        gradient is special by construction.
        """
        vocab = self.vocabulary
        V, H, B = len(vocab), self.hidden_size, len(self.streams)
        codes = np.stack([vocab.encode(text) for text in self.streams], axis=1)  # (T + 1, B)
        inputs, targets = codes[:-1], codes[1:]
        rng = np.random.default_rng(self.seed)
        model = cell.random(V, H, rng, scale=self.scale)
        shapes = cell.param_shapes(V, H)
        model = model.with_params(
            {name: rng.standard_normal(shape) * self.scale for name, shape in shapes.items()}
        )
        if self.zero_state:
            h0 = map_state(np.zeros_like, model.initial_state(B))
        else:
            h0 = map_state(lambda a: rng.standard_normal(a.shape) * 0.5, model.initial_state(B))
        if not self.batched:
            inputs, targets = inputs[:, 0], targets[:, 0]
            h0 = map_state(lambda a: a[0], h0)
        return Case(model, inputs, targets, h0)


@st.composite
def case_specs(
    draw: st.DrawFn,
    *,
    max_vocab: int = 30,
    max_hidden: int = 8,
    min_length: int = 1,
    max_length: int = 20,
    max_batch: int = 4,
    batched: bool | None = None,
    scales: st.SearchStrategy[float] | None = None,
) -> CaseSpec:
    """Draw a :class:`CaseSpec`.

    Parameters
    ----------
    max_vocab, max_hidden, max_batch : int, optional
        Upper bounds of V, H and B (each at least 1).
    min_length, max_length : int, optional
        Bounds of T.
    batched : bool, optional
        Force a batch axis (True) or its absence (False, which means B = 1); by default
        B = 1 is drawn either way.
    scales : strategy of float, optional
        Weight scales; default :func:`weight_scales`.
    """
    vocab = draw(vocabularies(1, max_vocab))
    V = len(vocab)
    T = draw(sequence_lengths(min_length, max_length))
    B = 1 if batched is False else draw(batch_sizes(1, max_batch))
    with_axis = True if B > 1 or batched else draw(st.booleans())
    streams = tuple(
        vocab.decode(draw(st.lists(st.integers(0, V - 1), min_size=T + 1, max_size=T + 1)))
        for _ in range(B)
    )
    return CaseSpec(
        chars=vocab.chars,
        streams=streams,
        hidden_size=draw(hidden_sizes(1, max_hidden)),
        scale=draw(scales if scales is not None else weight_scales()),
        seed=draw(st.integers(0, 2**32 - 1)),
        zero_state=draw(st.booleans()),
        batched=with_axis,
    )


def model_cases(cell: type[RecurrentModel] = RNN, **bounds: Any) -> st.SearchStrategy[Case]:
    """Cases ``(model, inputs, targets, h0)`` of ``cell``; ``bounds`` go to :func:`case_specs`."""
    return case_specs(**bounds).map(lambda spec: spec.build(cell))


def rnn_cases(**bounds: Any) -> st.SearchStrategy[Case]:
    """Cases ``(model, inputs, targets, h0)`` of the vanilla :class:`~rnn.model.RNN`."""
    return model_cases(RNN, **bounds)


EDGE_CASES: tuple[CaseSpec, ...] = (
    # T = 1: no recurrence at all; truncated and exact BPTT coincide
    CaseSpec(("a", "é"), ("aé",), 3, 0.5, 1, False, True),
    # a vocabulary of one character: the loss is identically 0, every gradient is 0
    CaseSpec(("ő",), ("őőőő",), 2, 0.5, 2, False, True),
    # h0 = 0: the first step's ∇W term vanishes
    CaseSpec(("x", "y", "€"), ("xy€x€y", "€€yxyx"), 4, 0.3, 3, True, True),
    # B = 1 without a batch axis, multi-byte characters, Karpathy's small scale
    CaseSpec(("a", "ű", "中", "😀"), ("a中😀űa😀中",), 5, 0.01, 4, False, False),
)
"""Edge cases that property tests pin with ``@example``."""


# ------------------------------------------------------------------- helpers


def map_state(fn: Callable[[NDArray[Any]], NDArray[Any]], state: State) -> State:
    """Apply ``fn`` to each array of a state: an array (RNN, GRU) or a tuple (LSTM)."""
    if isinstance(state, (tuple, list)):
        return tuple(map_state(fn, part) for part in state)
    return fn(np.asarray(state))


def state_arrays(state: State, name: str = "h0") -> dict[str, NDArray[Any]]:
    """The arrays of a state by name: ``{"h0": h0}``, or ``{"h0[0]": h0, "h0[1]": s0}``.

    Stacked layers nest: ``"h0[1][0]"`` is h of layer 1 of a stacked LSTM.
    """
    if isinstance(state, (tuple, list)):
        named: dict[str, NDArray[Any]] = {}
        for k, part in enumerate(state):
            named.update(state_arrays(part, f"{name}[{k}]"))
        return named
    return {name: np.asarray(state)}


def _state_from(arrays: Mapping[str, NDArray[Any]], like: State, name: str = "h0") -> State:
    if isinstance(like, (tuple, list)):
        return tuple(_state_from(arrays, part, f"{name}[{k}]") for k, part in enumerate(like))
    return arrays[name]


class GradientProblem(NamedTuple):
    """The three arguments of :func:`verification.check_gradients` for a case."""

    loss_fn: Callable[[dict[str, NDArray[Any]]], Any]
    params: dict[str, NDArray[Any]]
    grads: Callable[[], dict[str, NDArray[Any]]]


def gradient_problem(
    case: Case, truncation: int | None = None, *, with_state: bool = True
) -> GradientProblem:
    """The loss of a case as a function of its parameters and its initial state.

    Parameters
    ----------
    case : Case
        A model and its data.
    truncation : int, optional
        Passed to ``model.backward``; None gives the exact gradient.
    with_state : bool, optional
        Whether the initial state is checked too (default). If not, it stays fixed and
        real, also when the complex step makes the parameters complex.

    Returns
    -------
    GradientProblem
        ``params`` holds the model's parameters and, with ``with_state``, the state's
        arrays (see :func:`state_arrays`); ``grads`` computes their claimed gradients
        afresh on every call, so the checker also tests that they are deterministic.
    """
    model, x, y, h0 = case
    names = model.param_names

    def loss_fn(p: dict[str, NDArray[Any]]) -> Any:
        state = _state_from(p, h0) if with_state else h0
        return model.with_params({n: p[n] for n in names}).loss(x, y, state)

    def grads() -> dict[str, NDArray[Any]]:
        g, dh0 = model.backward(model.forward(x, h0), y, truncation)
        return {**g, **state_arrays(dh0)} if with_state else g

    params = {**model.params, **state_arrays(h0)} if with_state else dict(model.params)
    return GradientProblem(loss_fn, params, grads)


def vocabulary_axes(cell: type[RecurrentModel]) -> dict[str, tuple[int, ...]]:
    """The axes of each parameter whose length is V, found by comparing two vocabularies.

    Raises
    ------
    ValueError
        If an axis grows with V without being of length V (it could not be permuted).
    """
    small, large = cell.param_shapes(2, 7), cell.param_shapes(3, 7)
    axes: dict[str, tuple[int, ...]] = {}
    for name, shape in small.items():
        pairs = zip(shape, large[name], strict=True)
        changed = tuple(k for k, (a, b) in enumerate(pairs) if a != b)
        if any((shape[k], large[name][k]) != (2, 3) for k in changed):
            raise ValueError(f"parameter {name} has an axis that grows with V but is not V")
        if changed:
            axes[name] = changed
    return axes


def permute_vocabulary(case: Case, permutation: NDArray[np.intp]) -> Case:
    """The same case with character ``i`` renamed ``permutation[i]``.

    The inputs and targets are relabelled, and every parameter axis of length V is
    reordered to match, so the model computes the same function of the text.
    """
    model, x, y, h0 = case
    inverse = np.argsort(permutation)  # new index j holds old character inverse[j]
    params = dict(model.params)
    for name, axes in vocabulary_axes(type(model)).items():
        for axis in axes:
            params[name] = np.take(params[name], inverse, axis=axis)
    return Case(model.with_params(params), permutation[x], permutation[y], h0)
