"""Every bad input gets a clear one-line error, and nothing is written.

The tables of ``docs/errors.md`` are the specification: each command-line row is run
in a folder holding the files the page lists, each library row is evaluated after the
page's setup, and the message must match the page's, where ``…`` stands for any text.
"""

from __future__ import annotations

import os
import pickle
import shlex
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hostile import deep_json, huge_member, page_pattern, page_table, variant, wide_config

from rnn import RNN, Trainer, TrainingConfig, Vocabulary
from rnn.__main__ import main
from rnn.checkpoint import FORMAT_VERSION, CheckpointError

PREFIX = "python -m rnn: error: "


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder`` with its bytes and modification time."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    } | {str(p.relative_to(folder)) + "/": (b"", 0) for p in folder.rglob("*") if p.is_dir()}


def _flip_bit_of_member(data: bytes, archive: Path, member: str) -> bytes:
    """``data`` (the bytes of ``archive``) with one bit of the array ``member`` flipped."""
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo(member)
    local_header = 30 + len(info.filename.encode()) + len(info.extra)
    with zipfile.ZipFile(archive) as zf, zf.open(member) as f:
        np.lib.format.read_magic(f)
        np.lib.format.read_array_header_1_0(f)
        npy_header = f.tell()
    offset = info.header_offset + local_header + npy_header + 3
    return data[:offset] + bytes([data[offset] ^ 0x04]) + data[offset + 1 :]


def _rewrite(source: Path, target: Path, **changes: np.ndarray) -> None:
    """Copy the checkpoint ``source`` to ``target`` with some entries replaced."""
    with np.load(source, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    arrays.update(changes)
    np.savez(target, **arrays)


@pytest.fixture(scope="module")
def fixture_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder described at the top of the page's command-line section."""
    folder = tmp_path_factory.mktemp("bad-input")
    (folder / "empty.txt").write_text("", encoding="utf-8")
    (folder / "aaaa.txt").write_text("aaaa", encoding="utf-8")
    (folder / "short.txt").write_text("abcde", encoding="utf-8")
    (folder / "latin1.txt").write_bytes("café au lait".encode("latin-1"))
    (folder / "folder").mkdir()
    old = os.getcwd()
    os.chdir(folder)
    try:
        for command in page_table("file | content")[5:8]:
            argv = shlex.split(command[1].removeprefix("written by ").strip("`"))
            assert main(argv[3:]) == 0, command
    finally:
        os.chdir(old)
    model = folder / "model.npz"
    data = model.read_bytes()
    (folder / "truncated.npz").write_bytes(data[: len(data) // 2])
    (folder / "corrupted.npz").write_bytes(_flip_bit_of_member(data, model, "params/W.npy"))
    _rewrite(model, folder / "newer.npz", format_version=np.array(FORMAT_VERSION + 1))
    (folder / "model.pkl").write_bytes(pickle.dumps({"W": [[1.0]]}))
    np.save(folder / "weights.npy", np.ones(3))
    np.savez(folder / "other.npz", weights=np.ones(3))
    os.mkfifo(folder / "fifo")
    variant(model, folder / "huge.npz", params__W=huge_member())
    variant(model, folder / "wide.npz", config=wide_config(model))
    variant(model, folder / "deep.npz", config=deep_json(30_000))
    return folder


@pytest.fixture
def in_folder(fixture_folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(fixture_folder)
    return fixture_folder


CLI_ROWS = page_table("bad input | command")
LIBRARY_ROWS = page_table("bad input | call")


@pytest.mark.parametrize(("what", "command", "message"), CLI_ROWS, ids=[r[0] for r in CLI_ROWS])
def test_command_line_prints_the_documented_message_and_writes_nothing(
    what: str, command: str, message: str, in_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "rnn"]
    before = _snapshot(in_folder)
    status = main(argv[3:])
    out, err = capsys.readouterr()
    assert status == 2, f"{what}: exit status {status}, stderr {err!r}"
    assert out == ""
    assert err.endswith("\n"), err
    assert err.count("\n") == 1, err
    assert err.startswith(PREFIX), err
    assert page_pattern(message).fullmatch(err[len(PREFIX) : -1]), (err, message)
    assert _snapshot(in_folder) == before, "a refused command changed the folder"


@pytest.mark.parametrize(
    ("what", "call", "expected"), LIBRARY_ROWS, ids=[r[0] for r in LIBRARY_ROWS]
)
def test_library_raises_the_documented_exception(
    what: str, call: str, expected: str, in_folder: Path
) -> None:
    namespace = {
        "np": np,
        "RNN": RNN,
        "Trainer": Trainer,
        "TrainingConfig": TrainingConfig,
        "Vocabulary": Vocabulary,
        "model": RNN.random(4, 3, np.random.default_rng(0)),
        "vocab": Vocabulary.from_text("abcd"),
        "rng": np.random.default_rng(0),
    }
    kind, _, message = expected.partition(": ")
    with pytest.raises((ValueError, TypeError)) as info:
        eval(call, namespace)
    assert type(info.value).__name__ == kind, what
    assert page_pattern(message).fullmatch(str(info.value)), (str(info.value), message)


def test_the_page_covers_every_documented_bad_input() -> None:
    """Each known bad input has a row on the errors page; deleting one must fail this test."""
    cli = " / ".join(row[0] for row in CLI_ROWS)
    library = " / ".join(row[0] for row in LIBRARY_ROWS)
    for case in [
        "an empty corpus",
        "a corpus of one distinct character",
        "a corpus shorter than sequence_length + 1",
        "a missing file",
        "a directory",
        "a file that is not UTF-8",
        "a priming string with a character outside the vocabulary",
        "hidden_size 0",
        "sequence_length 0",
        "epochs 0",
        "batch_size < 0",
        "learning rate 0",
        "learning rate < 0",
        "learning rate NaN",
        "learning rate infinite",
        "temperature < 0",
        "a negative sample length",
        "a hidden size too big for memory",
        "a truncated checkpoint",
        "a corrupted checkpoint",
        "a checkpoint of a newer format version",
        "a checkpoint of another cell type",
        "a pickle",
        "an `.npz` file of something else",
        "a validation fraction of 1 or more",
        "a negative validation fraction",
        "a validation part shorter than one window",
        "evaluations every 0 updates",
        "a time limit of zero",
        "a negative time limit",
        "a metrics file in a missing folder",
        "a best checkpoint in a missing folder",
        "an unknown optimizer",
        "a metrics file from another run when resuming",
        "`plot` on a file that is not a metrics CSV",
    ]:
        assert case in cli, case
    for case in [
        "an input index out of range",
        "inputs of the wrong dtype",
        "targets of another shape",
    ]:
        assert case in library, case


def test_numerical_fault_row_stops_with_status_1_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ((command, message),) = page_table("command | message")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "k.txt").write_text("abcdefghijk", encoding="utf-8")
    saved: list[bytes] = []
    original = Trainer.save

    def spy(self: Trainer, path: str) -> None:
        original(self, path)
        saved.append(Path(path).read_bytes())

    monkeypatch.setattr(Trainer, "save", spy)
    assert main(shlex.split(command)[3:]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("Number of characters : 11\n")
    assert err.count("\n") == 1
    assert page_pattern(message).fullmatch(err[:-1]), (err, message)
    assert len(saved) == 1
    assert (tmp_path / "run.npz").read_bytes() == saved[0], "the good checkpoint was changed"
    assert Trainer.load(tmp_path / "run.npz").epoch == 1


def test_huge_hidden_size_is_refused_before_any_allocation() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="GiB of memory available"):
            Trainer("abcabcabcabc", TrainingConfig(hidden_size=10**7, sequence_length=3))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20, f"{peak} bytes were allocated before the refusal"


def test_a_refused_resume_leaves_the_checkpoint_untouched(
    in_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad values next to --resume are refused before the checkpoint is opened for writing."""
    before = _snapshot(in_folder)
    for bad in ["--learning-rate -1", "--hidden-size 0", "--corpus missing.txt", "--epochs 0"]:
        argv = f"train --checkpoint model.npz --resume --hidden-size 8 {bad}".split()
        assert main(argv) == 2, bad
    assert capsys.readouterr().err.count("\n") == 4
    assert _snapshot(in_folder) == before


def test_loading_a_pickle_never_runs_its_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (Path.touch, (str(marker),))

    (tmp_path / "evil.npz").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(CheckpointError, match="is a Python pickle"):
        Trainer.load(tmp_path / "evil.npz")
    pickled_array = tmp_path / "evil-array.npz"
    np.savez(pickled_array, format=np.array([Payload()], dtype=object), allow_pickle=True)
    with pytest.raises(CheckpointError, match="object array 'format'"):
        Trainer.load(pickled_array)
    assert not marker.exists()
