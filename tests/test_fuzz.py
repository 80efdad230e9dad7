"""Fuzzing: arbitrary text, arbitrary command lines and arbitrary bytes get clean answers."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

import rnn.__main__ as cli
from rnn.checkpoint import CheckpointError, load_checkpoint
from rnn.data import Vocabulary
from rnn.training import Trainer, TrainingConfig

# Every code point, lone surrogates included: a Python str may hold them.
ANY_CHARACTER = st.characters()


@given(st.text(ANY_CHARACTER, min_size=1))
@example("\r\n")
@example("line one\r\nline two\n")
@example("e\u0301 a\u0308\u0323")  # combining marks stay separate characters
@example("😀𝔸\U0010ffff")  # astral plane
@example("\ud800x\udfff")  # lone surrogates
def test_vocabulary_round_trips_any_text(text: str) -> None:
    vocab = Vocabulary.from_text(text)
    codes = vocab.encode(text)
    assert codes.dtype == np.intp
    assert codes.shape == (len(text),)
    assert vocab.decode(codes) == text
    assert list(vocab.chars) == sorted(set(text))


@given(st.text(ANY_CHARACTER, min_size=1), st.text(ANY_CHARACTER))
def test_a_vocabulary_encodes_exactly_its_own_characters(known: str, other: str) -> None:
    vocab = Vocabulary.from_text(known)
    if set(other) <= set(known):
        assert vocab.decode(vocab.encode(other)) == other
    else:
        with pytest.raises(ValueError, match=r"is not in the vocabulary of \d+ characters"):
            vocab.encode(other)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scratch")


@given(text=st.text(ANY_CHARACTER, min_size=2, max_size=40).filter(lambda t: len(set(t)) >= 2))
@example(text="a\r\nb\r\n")
@example(text="x\u0301😀\ud800")
def test_any_corpus_survives_a_checkpoint(text: str, scratch: Path) -> None:
    trainer = Trainer(text, TrainingConfig(hidden_size=2, sequence_length=1, epochs=1))
    trainer.save(scratch / "u.npz")
    loaded = Trainer.load(scratch / "u.npz")
    assert loaded.text == text
    assert loaded.vocab == trainer.vocab


# ---------------------------------------------------------------- the command line


@pytest.fixture(scope="module")
def cli_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a corpus, a checkpoint and some bad files for the arguments to name."""
    folder = tmp_path_factory.mktemp("cli-fuzz")
    (folder / "corpus.txt").write_text("abcabcabcabcabcabcabcabcabcabc", encoding="utf-8")
    (folder / "empty.txt").write_text("", encoding="utf-8")
    (folder / "bad.bin").write_bytes(b"\xff\xfe\x00garbage")
    (folder / "folder").mkdir()
    trainer = Trainer("abcabcabcabcabcabc", TrainingConfig(hidden_size=3, epochs=1))
    trainer.save(folder / "model.npz")
    return folder


NAMES = st.sampled_from(
    ["corpus.txt", "empty.txt", "bad.bin", "folder", "model.npz", "missing.txt", "new.npz"]
)
NUMBERS = st.one_of(
    st.integers(-3, 30).map(str),
    st.sampled_from(["10000000", "1e308", "0", "-0", "nan", "inf", "-inf", "0.05", "1.5", "0x10"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
OPTIONS = st.sampled_from(
    [
        "--corpus",
        "--cell",
        "--hidden-size",
        "--hidden",  # argparse accepts unambiguous prefixes
        "--sequence-length",
        "--epochs",
        "--learning-rate",
        "--batch-size",
        "--clip",
        "--seed",
        "--sample-length",
        "--temperature",
        "--dtype",
        "--checkpoint",
        "--checkpoint-every",
        "--resume",
        "--prime",
        "--length",
        "--help",
        "-h",
        "--",
        "-",
    ]
)
# Free text without digits, so that no hidden size large enough to allocate gigabytes (but
# not large enough to be refused) can appear, and without "/", so no path leaves the folder.
JUNK = st.text(st.characters(codec=None, exclude_categories=["Nd"], exclude_characters="/"))
TOKENS = st.one_of(
    st.sampled_from(["train", "sample", "rnn", "lstm", "gru", "float32", "float64"]),
    OPTIONS,
    NUMBERS,
    NAMES,
    JUNK,
)
PAIRS = st.lists(st.tuples(OPTIONS, st.one_of(NUMBERS, NAMES, TOKENS)), max_size=6)
ARGUMENTS = st.one_of(
    st.lists(TOKENS, max_size=12),
    st.tuples(st.sampled_from(["train", "sample"]), st.lists(TOKENS, max_size=12)).map(
        lambda t: [t[0], *t[1]]
    ),
    st.tuples(st.sampled_from(["train", "sample"]), PAIRS).map(
        lambda t: [t[0], *(token for pair in t[1] for token in pair)]
    ),
)


def _listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@given(argv=ARGUMENTS)
@example(argv=["train"])
@example(argv=["sample", "--checkpoint", "model.npz", "--prime", "abc"])
@example(argv=["train", "--checkpoint", "model.npz", "--resume", "--hidden-size", "3"])
@example(argv=["train", "--hidden-size", "10000000"])
@example(argv=["train", "two\nlines", "\x00"])
@example(argv=["--help"])
def test_any_command_line_exits_0_or_2_without_a_traceback(
    argv: list[str], cli_folder: Path
) -> None:
    """Arbitrary argument lists, run in-process in a scratch folder.

    The work a valid command would do (training, sampling) is replaced by a stub, so the
    property covers parsing and every check, and no run can take long or write a file.
    """
    ran: list[object] = []
    before = _listing(cli_folder)
    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(cli_folder)
    try:
        with (
            mock.patch.object(cli, "_run_training", lambda job: ran.append(job) or 0),
            mock.patch.object(cli, "_run_sampling", lambda job: ran.append(job) or 0),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            try:
                status = cli.main(argv)
            except SystemExit as exit_:  # --help
                status = exit_.code if isinstance(exit_.code, int) else -1
                assert status == 0
                assert "usage:" in out.getvalue()
                return
    finally:
        os.chdir(old)
    event(f"exit status {status}")
    assert status in (0, 2)
    assert _listing(cli_folder) == before, "checking the arguments wrote a file"
    if status == 0:
        assert len(ran) == 1
        assert err.getvalue() == ""
    else:
        assert ran == []
        message = err.getvalue()
        assert message.startswith("python -m rnn: error: ")
        assert message.count("\n") == 1
        assert message.endswith("\n")


# ---------------------------------------------------------------- checkpoints


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Trainer]:
    folder = tmp_path_factory.mktemp("checkpoint-fuzz")
    trainer = Trainer(
        "hello world, hello there",
        TrainingConfig(cell="lstm", hidden_size=3, sequence_length=4, batch_size=2, epochs=3),
    )
    trainer.run_epoch()
    trainer.step()
    trainer.save(folder / "good.npz")
    return folder / "good.npz", trainer


PREFIXES = st.sampled_from([b"", b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY\x01\x00", b"\x80\x04"])


@given(prefix=PREFIXES, data=st.binary(max_size=400))
@example(prefix=b"", data=b"")
@example(prefix=b"PK\x05\x06", data=b"\x00" * 18)  # an empty zip archive
def test_random_bytes_are_never_loaded_and_always_get_a_clean_error(
    prefix: bytes, data: bytes, good_checkpoint: tuple[Path, Trainer]
) -> None:
    path = good_checkpoint[0].parent / "random.npz"
    path.write_bytes(prefix + data)
    with pytest.raises(CheckpointError, match=r"random\.npz"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match=r"random\.npz"):
        Trainer.load(path)


@given(position=st.integers(0, 10**9), mask=st.integers(1, 255), cut=st.booleans())
def test_a_damaged_checkpoint_loads_exactly_or_gets_a_clean_error(
    position: int, mask: int, cut: bool, good_checkpoint: tuple[Path, Trainer]
) -> None:
    """One byte changed (or the file cut there): the result is the saved run or an error."""
    source, trainer = good_checkpoint
    data = bytearray(source.read_bytes())
    position %= len(data)
    if cut:
        del data[position:]
    else:
        data[position] ^= mask
    path = source.parent / "damaged.npz"
    path.write_bytes(bytes(data))
    try:
        loaded = Trainer.load(path)
    except CheckpointError as err:
        event("refused")
        error = str(err)
    else:
        event("loaded")
        error = ""
    if error:
        assert "damaged.npz" in error
        return
    assert loaded.epoch == trainer.epoch
    assert loaded.position == trainer.position
    assert loaded.losses == trainer.losses
    assert loaded.text == trainer.text
    assert loaded.rng.bit_generator.state == trainer.rng.bit_generator.state
    for name, p in trainer.model.params.items():
        assert loaded.model.params[name].tobytes() == p.tobytes()
    for name, m in trainer.optimizer.state_dict().items():
        assert loaded.optimizer.memory[name].tobytes() == m.tobytes()
    for a, b in zip(loaded.state, trainer.state, strict=True):
        assert a.tobytes() == b.tobytes()
