"""Text data: the embedded seed corpus and the character vocabulary."""

from __future__ import annotations

import operator
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["Vocabulary", "seed_corpus"]


def seed_corpus() -> str:
    """Return the seed's Hungarian training text.

    The text runs from ``"Kedves,"`` to ``"ésatöbbiésatöbbi"``: 559 characters,
    44 of them distinct, the two counts the seed's training log prints.

    Returns
    -------
    str
        The corpus, read from the package data file ``seed_corpus.txt`` (UTF-8).

    Examples
    --------
    >>> text = seed_corpus()
    >>> len(text), len(set(text))
    (559, 44)
    """
    return resources.files("rnn").joinpath("seed_corpus.txt").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Vocabulary:
    """A bijection between characters and the integers ``0 .. V-1``.

    Parameters
    ----------
    chars : tuple of str
        The characters, one per index, each of length 1 and all distinct.

    Attributes
    ----------
    char_to_idx : dict of str to int
        Index of each character (the seed's name).
    idx_to_char : dict of int to str
        Character of each index (the seed's name).

    Raises
    ------
    ValueError
        If ``chars`` is empty, has repeats, or holds a string that is not one character.

    Examples
    --------
    >>> vocab = Vocabulary.from_text("hello")
    >>> vocab.chars
    ('e', 'h', 'l', 'o')
    >>> vocab.encode("hole").tolist()
    [1, 3, 2, 0]
    >>> vocab.decode([1, 0, 2, 2, 3])
    'hello'
    """

    chars: tuple[str, ...]
    char_to_idx: dict[str, int] = field(init=False, repr=False, compare=False)
    idx_to_char: dict[int, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        chars = tuple(self.chars)
        if not chars:
            raise ValueError("a vocabulary needs at least 1 character, got 0")
        for ch in chars:
            if not isinstance(ch, str) or len(ch) != 1:
                raise ValueError(f"vocabulary entries must be single characters, got {ch!r}")
        if len(set(chars)) != len(chars):
            raise ValueError(f"vocabulary characters must be distinct, got {''.join(chars)!r}")
        object.__setattr__(self, "chars", chars)
        object.__setattr__(self, "char_to_idx", {ch: i for i, ch in enumerate(chars)})
        object.__setattr__(self, "idx_to_char", dict(enumerate(chars)))

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        """Build the vocabulary of a text: its distinct characters, sorted.

        Sorting by code point makes the index of every character independent of
        the order of the text and of Python's hash seed.

        Parameters
        ----------
        text : str
            Any non-empty text.

        Returns
        -------
        Vocabulary

        Raises
        ------
        TypeError
            If ``text`` is not a ``str``.
        ValueError
            If ``text`` is empty.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if not text:
            raise ValueError("cannot build a vocabulary from an empty text")
        return cls(tuple(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> NDArray[np.intp]:
        """Map a string to its array of indices.

        Parameters
        ----------
        text : str
            Characters that all belong to the vocabulary.

        Returns
        -------
        ndarray of intp, shape (len(text),)

        Raises
        ------
        TypeError
            If ``text`` is not a ``str``.
        ValueError
            If a character is not in the vocabulary; the message names it.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        try:
            return np.fromiter((self.char_to_idx[ch] for ch in text), np.intp, len(text))
        except KeyError as err:
            ch = err.args[0]
            raise ValueError(
                f"character {ch!r} (U+{ord(ch):04X}) is not in the vocabulary "
                f"of {len(self)} characters"
            ) from None

    def decode(self, indices: Iterable[int | np.integer[Any]]) -> str:
        """Map indices back to a string.

        Parameters
        ----------
        indices : iterable of int
            Each in ``0 .. len(self) - 1``, for example an array of shape (T,).

        Returns
        -------
        str

        Raises
        ------
        TypeError
            If an index is not an integer.
        ValueError
            If an index is out of range.
        """
        out = []
        for i in indices:
            j = operator.index(i)
            if not 0 <= j < len(self):
                raise ValueError(f"index {j} is out of range for a vocabulary of {len(self)}")
            out.append(self.chars[j])
        return "".join(out)
