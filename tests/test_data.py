"""The embedded corpus and the vocabulary."""

from __future__ import annotations

import numpy as np
import pytest

from rnn import Vocabulary, seed_corpus


def test_seed_corpus_has_the_seeds_counts() -> None:
    text = seed_corpus()
    assert len(text) == 559
    assert len(set(text)) == 44
    assert text.startswith("Kedves,")
    assert text.endswith("ésatöbbiésatöbbi")


def test_vocabulary_is_sorted_and_deterministic() -> None:
    text = seed_corpus()
    vocab = Vocabulary.from_text(text)
    assert list(vocab.chars) == sorted(set(text))
    assert Vocabulary.from_text(text[::-1]) == vocab
    assert len(vocab) == 44


def test_seed_names_map_both_ways() -> None:
    vocab = Vocabulary.from_text("bca")
    assert vocab.char_to_idx == {"a": 0, "b": 1, "c": 2}
    assert vocab.idx_to_char == {0: "a", 1: "b", 2: "c"}


def test_encode_then_decode_returns_the_text() -> None:
    text = seed_corpus()
    vocab = Vocabulary.from_text(text)
    encoded = vocab.encode(text)
    assert encoded.dtype == np.intp
    assert encoded.shape == (559,)
    assert vocab.decode(encoded) == text


def test_encoding_an_unknown_character_names_it() -> None:
    with pytest.raises(ValueError, match=r"character 'z' \(U\+007A\) is not in the vocabulary"):
        Vocabulary.from_text("abc").encode("abz")


@pytest.mark.parametrize(
    ("indices", "error", "match"),
    [([0, 3], ValueError, "index 3 is out of range"), ([0.5], TypeError, "float")],
)
def test_decode_refuses_bad_indices(
    indices: list[float], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        Vocabulary.from_text("abc").decode(indices)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("chars", "match"),
    [((), "at least 1 character"), (("a", "a"), "distinct"), (("ab",), "single characters")],
)
def test_vocabulary_constructor_validates(chars: tuple[str, ...], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Vocabulary(chars)


def test_from_text_refuses_empty_and_non_str() -> None:
    with pytest.raises(ValueError, match="empty text"):
        Vocabulary.from_text("")
    with pytest.raises(TypeError, match="text must be a str, got bytes"):
        Vocabulary.from_text(b"abc")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="text must be a str, got int"):
        Vocabulary.from_text("abc").encode(3)  # type: ignore[arg-type]
