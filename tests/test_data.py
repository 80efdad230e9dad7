"""The embedded corpus and the vocabulary."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

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


def test_tiny_shakespeare_ships_unchanged() -> None:
    """The counts and the SHA-256 that rnn/corpora/README.md records."""
    import hashlib

    from rnn.data import corpus

    text = corpus("shakespeare")
    assert (len(text), len(set(text))) == (1_115_394, 65)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert digest == "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
    with pytest.raises(ValueError, match=r"corpus must be one of \['seed', 'shakespeare'\]"):
        corpus("hamlet")


@given(st.text(min_size=1, max_size=200))
@example("a")
@example("\ud800x")  # a lone surrogate, which a Python str can hold
@example("".join(chr(c) for c in range(300)))  # more than 256 characters: uint16
def test_encode_corpus_equals_encode_in_a_compact_dtype_and_decodes_back(text: str) -> None:
    vocab = Vocabulary.from_text(text)
    codes = vocab.encode_corpus(text)
    assert codes.dtype == (np.uint8 if len(vocab) <= 256 else np.uint16)
    np.testing.assert_array_equal(codes, vocab.encode(text))
    assert vocab.decode_corpus(codes) == text


def test_encode_corpus_works_in_chunks_across_their_borders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("rnn.data._CHUNK", 7)
    text = seed_corpus()
    vocab = Vocabulary.from_text(text)
    np.testing.assert_array_equal(vocab.encode_corpus(text), vocab.encode(text))
    assert vocab.decode_corpus(vocab.encode_corpus(text)) == text
    with pytest.raises(ValueError, match=r"character 'q' \(U\+0071\) is not in the vocabulary"):
        vocab.encode_corpus(text[:20] + "q")
    with pytest.raises(ValueError, match=r"character '→' \(U\+2192\) is not in the vocabulary"):
        vocab.encode_corpus("→")  # above every code point of the vocabulary


def test_decode_corpus_refuses_indices_out_of_range() -> None:
    vocab = Vocabulary.from_text("abc")
    with pytest.raises(ValueError, match="index 3 is out of range for a vocabulary of 3"):
        vocab.decode_corpus(np.array([0, 3]))
    with pytest.raises(ValueError, match="index -1 is out of range"):
        vocab.decode_corpus(np.array([-1, 2]))
    with pytest.raises(TypeError, match="text must be a str, got bytes"):
        vocab.encode_corpus(b"abc")  # type: ignore[arg-type]
