"""Text data: the embedded corpora and the character vocabulary.

A corpus is encoded once into one compact integer array (:meth:`Vocabulary.encode_corpus`),
one byte per character for up to 256 distinct characters, never a list of Python ints: a
100 MB text costs 100 MB as indices.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["CORPORA", "MAX_CORPUS_BYTES", "Vocabulary", "corpus", "seed_corpus"]

CORPORA: dict[str, str] = {
    "seed": "seed_corpus.txt",
    "shakespeare": "corpora/tinyshakespeare.txt",
}
"""The texts that ship with the package, by the name ``--corpus`` accepts, and their files.

``shakespeare`` is char-rnn's tiny-shakespeare (1,115,394 characters, 65 distinct, public
domain); its provenance is in ``rnn/corpora/README.md``.
"""

_CHUNK = 1 << 20  # characters encoded or decoded at a time: bounded temporaries

MAX_CORPUS_BYTES = 2**30
"""The default limit on a corpus, 1 GiB: ten times the largest corpus the project trains."""


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
    return corpus("seed")


def corpus(name: str) -> str:
    """Return one of the texts that ship with the package.

    Parameters
    ----------
    name : str
        A key of :data:`CORPORA`: ``"seed"`` or ``"shakespeare"``.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If ``name`` is not a key of :data:`CORPORA`.

    Examples
    --------
    >>> text = corpus("shakespeare")
    >>> len(text), len(set(text)), text[:14]
    (1115394, 65, 'First Citizen:')
    """
    if name not in CORPORA:
        raise ValueError(f"corpus must be one of {sorted(CORPORA)}, got {name!r}")
    return resources.files("rnn").joinpath(CORPORA[name]).read_text(encoding="utf-8")


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

    @property
    def index_dtype(self) -> np.dtype[np.unsignedinteger[Any]]:
        """The smallest unsigned integer type that holds every index: uint8 for V ≤ 256."""
        dtype: np.dtype[np.unsignedinteger[Any]] = np.min_scalar_type(len(self) - 1)
        return dtype

    def encode_corpus(self, text: str) -> NDArray[np.unsignedinteger[Any]]:
        """Map a whole corpus to one compact array of indices, a chunk at a time.

        The result has :attr:`index_dtype`, so a text of N characters over at most 256
        distinct ones costs N bytes. Each chunk of characters becomes an array of code
        points (UTF-32) that a table indexed by code point maps to indices; no Python
        object is made per character.

        Parameters
        ----------
        text : str
            Characters that all belong to the vocabulary.

        Returns
        -------
        ndarray of uint8, uint16 or uint32, shape (len(text),)

        Raises
        ------
        TypeError
            If ``text`` is not a ``str``.
        ValueError
            If a character is not in the vocabulary; the message names the first one.

        Examples
        --------
        >>> codes = Vocabulary.from_text("hello").encode_corpus("hole")
        >>> codes.dtype.name, codes.tolist()
        ('uint8', [1, 3, 2, 0])
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        codes = [ord(ch) for ch in self.chars]
        table = np.full(max(codes) + 2, -1, dtype=np.int32)  # index of each code point
        table[codes] = np.arange(len(self), dtype=np.int32)  # the last entry stays -1
        out = np.empty(len(text), dtype=self.index_dtype)
        for start in range(0, len(text), _CHUNK):
            chunk = text[start : start + _CHUNK]
            code_points = np.frombuffer(chunk.encode("utf-32-le", "surrogatepass"), dtype="<u4")
            indices = table[np.minimum(code_points, len(table) - 1)]  # beyond the table: -1
            if indices.min() < 0:
                self.encode(chunk[int(np.argmax(indices < 0))])  # raises, naming the character
            out[start : start + len(chunk)] = indices
        return out

    def decode_corpus(self, indices: NDArray[np.integer[Any]]) -> str:
        """Map an array of indices back to text, a chunk at a time; the inverse of
        :meth:`encode_corpus`.

        Parameters
        ----------
        indices : ndarray of int, shape (N,)
            Each in ``0 .. len(self) - 1``.

        Returns
        -------
        str

        Raises
        ------
        ValueError
            If an index is out of range.
        """
        arr = np.asarray(indices)
        if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= len(self)):
            bad = int(arr.min()) if int(arr.min()) < 0 else int(arr.max())
            raise ValueError(f"index {bad} is out of range for a vocabulary of {len(self)}")
        code_points = np.array([ord(ch) for ch in self.chars], dtype="<u4")
        return "".join(
            code_points[arr[start : start + _CHUNK]].tobytes().decode("utf-32-le", "surrogatepass")
            for start in range(0, arr.size, _CHUNK)
        )

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
