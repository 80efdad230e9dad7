"""Hostile and unlucky input: small files that declare huge arrays, devices, FIFOs, deep JSON,
signals, full disks, shared checkpoints. Each case builds its input here and runs the
command line in a child process under an address-space limit of 1 GiB, then checks the
exit status, that standard error is one line, the time taken and the peak memory.

With ``HOSTILE_REPORT=FILE`` set, each case appends ``name, seconds, peak MiB`` to FILE.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hostile import (
    deep_json,
    huge_member,
    npy_header,
    page_pattern,
    page_table,
    variant,
    wide_config,
    zeros_deflated,
)

from rnn import GRU, LSTM, RNN, Trainer, TrainingConfig, Vocabulary, fast
from rnn.checkpoint import atomic_write, checkpoint_lock
from rnn.metrics import read_metrics

ADDRESS_SPACE = 2**30
"""The children's RLIMIT_AS: a case that allocates more dies with MemoryError."""

SECONDS = 10.0
"""Most seconds a case may take, with the interpreter's start (≈ 0.5 s); each takes about 1 s
alone, and the machine that runs the suite is shared."""

PEAK_MIB = 400
"""Most resident memory of a case, in MiB; importing numpy and scipy takes about 60."""

SMALL = ["--hidden-size", "8", "--sample-length", "0"]


@dataclass(frozen=True)
class Outcome:
    status: int
    stdout: str
    stderr: str
    seconds: float
    peak_mib: float


def _limits(file_bytes: int | None) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
        if file_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))

    return apply


@dataclass(frozen=True)
class Child:
    proc: Any
    stdout: Any
    stderr: Any

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    def send_signal(self, sig: int) -> None:
        self.proc.send_signal(sig)


def _start(args: list[str], folder: Path, file_bytes: int | None = None, **kw: Any) -> Child:
    """Start ``python ARGS`` under the limits; its output goes to files (no pipe can fill)
    unless ``stdout=subprocess.PIPE``."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    out = kw.pop("stdout", None) or tempfile.TemporaryFile()  # noqa: SIM115 - closed in _finish
    err = tempfile.TemporaryFile()  # noqa: SIM115 - closed in _finish
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=folder,
        env=env,
        stdout=out,
        stderr=err,
        stdin=kw.pop("stdin", subprocess.DEVNULL),
        preexec_fn=_limits(file_bytes),  # the test process starts no threads
        **kw,
    )
    return Child(proc, proc.stdout if out == subprocess.PIPE else out, err)


def _finish(child: Child, started: float, case: str) -> Outcome:
    """Wait for the child with ``os.wait4``, which gives its own peak memory."""
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.monotonic() - started
    child.proc.returncode = os.waitstatus_to_exitcode(status)
    streams = []
    for stream in (child.stdout, child.stderr):
        if stream.seekable():
            stream.seek(0)
        streams.append(stream.read().decode("utf-8"))
        stream.close()
    outcome = Outcome(child.proc.returncode, *streams, seconds, usage.ru_maxrss / 1024)
    report = os.environ.get("HOSTILE_REPORT")
    if report:
        with open(report, "a", encoding="utf-8") as file:
            file.write(f"{case}\t{seconds:.2f}\t{outcome.peak_mib:.0f}\n")
    return outcome


def _run(case: str, args: list[str], folder: Path, **kw: Any) -> Outcome:
    started = time.monotonic()
    return _finish(_start(args, folder, **kw), started, case)


def _cli(case: str, folder: Path, *args: str, **kw: Any) -> Outcome:
    return _run(case, ["-m", "rnn", *args], folder, **kw)


def _assert_one_line(outcome: Outcome, status: int, message: str) -> None:
    assert outcome.status == status, outcome
    assert outcome.stderr.count("\n") == 1, outcome.stderr
    assert message in outcome.stderr, outcome.stderr
    assert outcome.seconds < SECONDS, outcome
    assert outcome.peak_mib < PEAK_MIB, outcome


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of an RNN with H = 8 on the seed's text after 1 epoch."""
    folder = tmp_path_factory.mktemp("hostile")
    from rnn.__main__ import main

    old = os.getcwd()
    os.chdir(folder)
    try:
        assert main(["train", *SMALL, "--epochs", "1", "--checkpoint", "model.npz"]) == 0
    finally:
        os.chdir(old)
    return folder / "model.npz"


# ------------------------------------------------------------------ checkpoints


def test_a_deflated_member_declaring_a_huge_shape_is_refused_before_it_is_read(
    model_file: Path, tmp_path: Path
) -> None:
    """2 GiB of zeros deflate to 2 MiB; the header declares (16384, 16384) float64."""
    path = variant(model_file, tmp_path / "hostile.npz", params__W=huge_member())
    assert path.stat().st_size < 4 * 2**20
    outcome = _cli("huge W header", tmp_path, "sample", "--checkpoint", str(path))
    _assert_one_line(outcome, 2, "params/W must have shape (8, 8) and dtype float64")


def test_an_adam_moment_declaring_a_huge_shape_is_refused_before_it_is_read(
    tmp_path: Path,
) -> None:
    """Adam keeps two arrays per parameter and a step count; each header is checked."""
    from rnn.__main__ import main

    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        argv = ["train", *SMALL, "--epochs", "1", "--optimizer", "adam", "--checkpoint", "a.npz"]
        assert main(argv) == 0
    finally:
        os.chdir(old)
    path = variant(tmp_path / "a.npz", tmp_path / "hostile.npz", optimizer__v__W=huge_member())
    outcome = _cli("huge Adam v/W header", tmp_path, "sample", "--checkpoint", str(path))
    _assert_one_line(outcome, 2, "optimizer/v/W must have shape (8, 8) and dtype float64")
    step = (npy_header((1000,), "<i8") + bytes(8000), b"", 0)
    path = variant(tmp_path / "a.npz", tmp_path / "steps.npz", optimizer__step=step)
    outcome = _cli("Adam step of shape (1000,)", tmp_path, "sample", "--checkpoint", str(path))
    _assert_one_line(outcome, 2, "optimizer/step must have shape () and dtype int64")


def test_a_config_whose_hidden_size_disagrees_with_the_parameters_is_refused(
    model_file: Path, tmp_path: Path
) -> None:
    path = variant(model_file, tmp_path / "hostile.npz", config=wide_config(model_file))
    for command in (["sample"], ["train", *SMALL, "--resume"]):
        args = [*command, "--checkpoint", str(path)]
        if command[0] == "train":
            args[args.index("8")] = "15000"  # the config's hidden size, so only the file is wrong
        outcome = _cli(f"config hidden_size 15000 ({command[0]})", tmp_path, *args)
        _assert_one_line(outcome, 2, "params/U must have shape (15000, 44)")


def test_an_rng_state_that_deflates_to_300_mb_is_refused_before_it_is_read(
    model_file: Path, tmp_path: Path
) -> None:
    chars = 76 * 2**20  # 304 MiB of UTF-32
    head = npy_header((), f"<U{chars}")
    bomb = (head, zeros_deflated(4 * chars), 4 * chars)
    path = variant(model_file, tmp_path / "hostile.npz", rng_state=bomb)
    outcome = _cli("rng_state of 300 MB", tmp_path, "sample", "--checkpoint", str(path))
    _assert_one_line(outcome, 2, "has a 'rng_state' entry of 318767104 bytes, more than the 4096")


@pytest.mark.parametrize(
    ("entry", "depth", "message"),
    [
        ("config", 100_000, "has a 'config' entry of 800000 bytes, more than the 262144"),
        ("rng_state", 100_000, "has a 'rng_state' entry of 800000 bytes, more than the 4096"),
        ("config", 30_000, "has a 'config' entry nested more than 16 levels deep"),
    ],
)
def test_deeply_nested_json_is_refused_before_it_is_parsed(
    model_file: Path, tmp_path: Path, entry: str, depth: int, message: str
) -> None:
    """100,000 levels exceed the size limit; 30,000 levels fit it and are refused by depth."""
    path = variant(model_file, tmp_path / "hostile.npz", **{entry: deep_json(depth)})
    case = f"JSON {depth} deep in {entry}"
    outcome = _cli(case, tmp_path, "sample", "--checkpoint", str(path))
    _assert_one_line(outcome, 2, message)


def test_depth_is_counted_outside_strings_only(model_file: Path, tmp_path: Path) -> None:
    """Brackets inside JSON strings are text, not nesting: a vocabulary of brackets loads."""
    text = "[[[{{{" * 20 + "]]]}}}" * 20 + 'a"\\'
    folder = tmp_path / "brackets"
    folder.mkdir()
    trainer = Trainer(text, TrainingConfig(hidden_size=3, sequence_length=5, epochs=1))
    trainer.save(folder / "b.npz")
    assert Trainer.load(folder / "b.npz").vocab == trainer.vocab


def test_a_lone_surrogate_in_the_vocabulary_is_refused_before_sampling(tmp_path: Path) -> None:
    text = "ab\ud800cd" * 10
    Trainer(text, TrainingConfig(hidden_size=3, sequence_length=5, epochs=1)).save(
        tmp_path / "s.npz"
    )
    outcome = _cli("lone surrogate", tmp_path, "sample", "--checkpoint", "s.npz", "--prime", "a")
    _assert_one_line(outcome, 2, "has the lone surrogate U+D800 in its vocabulary")
    assert outcome.stdout == ""


@pytest.mark.parametrize("command", ["sample", "resume"])
def test_a_fifo_as_checkpoint_is_refused_without_opening_it(tmp_path: Path, command: str) -> None:
    os.mkfifo(tmp_path / "fifo.npz")
    args = ["sample"] if command == "sample" else ["train", *SMALL, "--resume"]
    outcome = _cli(f"FIFO as checkpoint ({command})", tmp_path, *args, "--checkpoint", "fifo.npz")
    _assert_one_line(outcome, 2, "is not a regular file (a device, a FIFO or a socket)")


# ------------------------------------------------------------------ corpus and memory


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "fifo"])
def test_a_device_or_fifo_as_corpus_is_refused_without_reading_it(
    tmp_path: Path, device: str
) -> None:
    if device == "fifo":
        os.mkfifo(tmp_path / "fifo")
    outcome = _cli(f"--corpus {device}", tmp_path, "train", "--corpus", device)
    _assert_one_line(outcome, 2, f"corpus {device!r} is not a regular file")


def test_a_corpus_over_the_limit_is_refused_naming_it(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("ab" * 600, encoding="utf-8")
    outcome = _cli(
        "corpus over --max-corpus-bytes",
        tmp_path,
        "train",
        "--corpus",
        "big.txt",
        "--max-corpus-bytes",
        "1000",
    )
    limit = "more than the limit of 1000 bytes (--max-corpus-bytes)"
    _assert_one_line(outcome, 2, f"'big.txt' has 1200 bytes, {limit}")


def test_standard_input_is_read_when_asked_for_and_limited(tmp_path: Path) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("abcdefghij" * 30, encoding="utf-8")
    with open(corpus, encoding="utf-8") as stdin:
        outcome = _cli(
            "--corpus - over the limit",
            tmp_path,
            "train",
            "--corpus",
            "-",
            "--max-corpus-bytes",
            "100",
            stdin=stdin,
        )
    _assert_one_line(outcome, 2, "the corpus on standard input has more than the limit of 100")
    with open(corpus, encoding="utf-8") as stdin:
        outcome = _cli(
            "--corpus -", tmp_path, "train", "--corpus", "-", *SMALL, "--epochs", "1", stdin=stdin
        )
    assert outcome.status == 0, outcome
    assert outcome.stdout.startswith("Number of characters : 300\n")


@pytest.mark.parametrize(("hidden", "dtype"), [(30000, "float64"), (20000, "float32")])
def test_a_hidden_size_whose_training_peak_does_not_fit_is_refused(
    tmp_path: Path, hidden: int, dtype: str
) -> None:
    outcome = _cli(
        f"train --hidden-size {hidden} {dtype}",
        tmp_path,
        "train",
        "--hidden-size",
        str(hidden),
        "--dtype",
        dtype,
    )
    _assert_one_line(outcome, 2, "GiB at its peak, more than the")


@pytest.mark.parametrize(
    "call", ["model.loss_and_gradients(x, x)", "fast.loss_and_gradients(model, x, x)"]
)
def test_loss_and_gradients_refuses_a_batch_that_does_not_fit(tmp_path: Path, call: str) -> None:
    script = (
        "import numpy as np\n"
        "from rnn import RNN, fast\n"
        "model = RNN.random(10, 10, np.random.default_rng(0))\n"
        "x = np.broadcast_to(np.intp(1), (20000, 10000))\n"
        f"call = {call!r}\n"
        "try:\n"
        "    eval(call)\n"
        "except ValueError as err:\n"
        "    raise SystemExit(str(err))\n"
    )
    outcome = _run(f"{call} on (20000, 10000)", ["-c", script], tmp_path)
    _assert_one_line(
        outcome, 1, "loss_and_gradients on T=20000 steps of B=10000 sequences with H=10, V=10"
    )


# ------------------------------------------------------------------ signals, saves, locks

PAGE = {row[0]: (int(row[2]), row[3]) for row in page_table("situation | command")}
"""The errors page's table of interruptions and failures: situation → (status, message)."""


def _as_on_the_page(situation: str, outcome: Outcome) -> None:
    status, message = PAGE[situation]
    assert outcome.status == status, outcome
    assert outcome.stderr.count("\n") == 1, outcome.stderr
    assert page_pattern(message).fullmatch(outcome.stderr[:-1]), (outcome.stderr, message)


def _wait_for(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _long_run(folder: Path, path: str = "run.npz", *extra: str, **kw: Any) -> Child:
    args = ["-m", "rnn", "train", *SMALL, "--epochs", "100000", "--checkpoint", path, *extra]
    return _start(args, folder, **kw)


def _no_temporary_files(folder: Path) -> None:
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize(
    ("sig", "situation", "status"),
    [(signal.SIGINT, "Ctrl-C", 130), (signal.SIGTERM, "SIGTERM", 143)],
)
def test_a_signal_stops_at_the_next_update_and_says_what_the_checkpoint_holds(
    tmp_path: Path, sig: signal.Signals, situation: str, status: int
) -> None:
    started = time.monotonic()
    proc = _long_run(tmp_path)
    _wait_for(lambda: (tmp_path / "run.npz").exists())
    proc.send_signal(sig)
    outcome = _finish(proc, started, f"{sig.name} during training")
    _as_on_the_page(f"{situation} during training", outcome)
    assert outcome.status == status
    epoch = Trainer.load(tmp_path / "run.npz").epoch
    assert f"checkpoint 'run.npz' keeps epoch {epoch}" in outcome.stderr
    _no_temporary_files(tmp_path)


def test_a_second_run_on_the_same_checkpoint_is_refused_naming_the_first(
    tmp_path: Path,
) -> None:
    first = _long_run(tmp_path)
    _wait_for(lambda: (tmp_path / "run.npz").exists())
    second = _cli(
        "second run on a locked checkpoint",
        tmp_path,
        "train",
        *SMALL,
        "--epochs",
        "100000",
        "--checkpoint",
        "run.npz",
        "--resume",
    )
    _as_on_the_page("a second run on a checkpoint in use", second)
    assert f"(pid {first.pid})" in second.stderr
    assert second.seconds < SECONDS
    first.send_signal(signal.SIGTERM)
    assert _finish(first, time.monotonic(), "first run, stopped").status == 143
    Trainer.load(tmp_path / "run.npz")


def test_a_save_that_exceeds_the_file_size_limit_keeps_the_previous_checkpoint(
    model_file: Path, tmp_path: Path
) -> None:
    (tmp_path / "run.npz").write_bytes(model_file.read_bytes())
    before = (tmp_path / "run.npz").read_bytes()
    outcome = _cli(
        "save over RLIMIT_FSIZE (ulimit -f)",
        tmp_path,
        "train",
        *SMALL,
        "--epochs",
        "2",
        "--checkpoint",
        "run.npz",
        "--resume",
        file_bytes=4096,
    )
    _as_on_the_page("a save beyond the file size limit (`ulimit -f 4`)", outcome)
    assert outcome.seconds < SECONDS
    assert (tmp_path / "run.npz").read_bytes() == before
    assert Trainer.load(tmp_path / "run.npz").epoch == 1
    _no_temporary_files(tmp_path)


def test_a_best_checkpoint_that_cannot_be_saved_ends_the_run_with_one_line(
    tmp_path: Path,
) -> None:
    """The first evaluation is always the best so far, so its save is the run's first write."""
    outcome = _cli(
        "best checkpoint over RLIMIT_FSIZE (ulimit -f)",
        tmp_path,
        "train",
        *SMALL,
        "--checkpoint",
        "run.npz",
        "--val-fraction",
        "0.1",
        "--eval-every",
        "5",
        "--best-checkpoint",
        "best.npz",
        file_bytes=4096,
    )
    _as_on_the_page("a best checkpoint beyond the file size limit (`ulimit -f 4`)", outcome)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no file, no temporary, no lock


@pytest.mark.parametrize(
    ("situation", "option", "name"),
    [
        ("a second run on a best checkpoint in use", "--best-checkpoint", "best.npz"),
        ("a second run on a metrics file in use", "--metrics", "metrics.csv"),
    ],
)
def test_a_second_run_on_an_output_in_use_is_refused_naming_the_holder(
    tmp_path: Path, situation: str, option: str, name: str
) -> None:
    with checkpoint_lock(tmp_path / name):  # held by this process, as a first run would
        outcome = _cli(situation, tmp_path, "train", *SMALL, "--val-fraction", "0.1", option, name)
    _as_on_the_page(situation, outcome)
    assert f"(pid {os.getpid()})" in outcome.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_signal_during_a_run_with_validation_keeps_every_output_readable(
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    extra = ["--val-fraction", "0.1", "--eval-every", "3", "--optimizer", "adam"]
    outputs = ["--metrics", "metrics.csv", "--best-checkpoint", "best.npz"]
    proc = _long_run(tmp_path, "run.npz", *extra, *outputs)
    _wait_for(lambda: (tmp_path / "run.npz").exists())
    proc.send_signal(signal.SIGTERM)
    outcome = _finish(proc, started, "SIGTERM with validation, metrics and best checkpoint")
    assert outcome.status == 143, outcome
    assert outcome.stderr.count("\n") == 1, outcome.stderr
    assert "checkpoint 'run.npz' keeps epoch" in outcome.stderr
    rows = read_metrics(tmp_path / "metrics.csv")
    assert rows
    assert [r.update for r in rows] == list(range(3, 3 * len(rows) + 1, 3))
    best = Trainer.load(tmp_path / "best.npz")
    lowest = min(r.val_loss for r in rows if r.val_loss is not None)
    assert best.best_val_loss is not None
    np.testing.assert_allclose(best.best_val_loss, lowest, rtol=1e-8, atol=0)  # CSV: 8 decimals
    assert Trainer.load(tmp_path / "run.npz").config.optimizer == "adam"
    _no_temporary_files(tmp_path)


def test_a_checkpoint_folder_that_goes_away_ends_the_run_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    started = time.monotonic()
    proc = _long_run(tmp_path, "runs/run.npz")
    _wait_for(lambda: (tmp_path / "runs" / "run.npz").exists())
    (tmp_path / "runs").rename(tmp_path / "moved")
    outcome = _finish(proc, started, "checkpoint folder gone")
    _as_on_the_page("the checkpoint's folder moved away", outcome)
    assert Trainer.load(tmp_path / "moved" / "run.npz").epoch >= 1
    # the lock file stays behind (its path is gone for the run), unlocked; no temporary file
    assert sorted(p.name for p in (tmp_path / "moved").iterdir()) == [".run.npz.lock", "run.npz"]


def test_a_long_sample_streams_and_stops_on_sigterm(model_file: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    proc = _start(
        ["-m", "rnn", "sample", "--checkpoint", str(model_file), "--length", str(10**9)],
        tmp_path,
        stdout=subprocess.PIPE,
    )
    first = b""
    while len(first) < 5000:  # arrives long before 10**9 characters could be generated
        first += proc.stdout.read1(5000 - len(first))
    proc.send_signal(signal.SIGTERM)
    outcome = _finish(proc, started, "sample --length 10**9 (first 5000, then SIGTERM)")
    assert len(first) == 5000
    assert outcome.seconds < SECONDS
    _as_on_the_page("SIGTERM while sampling", outcome)
    assert outcome.peak_mib < PEAK_MIB


def test_every_row_of_the_page_is_checked_here() -> None:
    """Each situation of the page's table is named by a test above (the signal tests name
    theirs by their first word); deleting a test or renaming a row must fail this."""
    source = Path(__file__).read_text(encoding="utf-8")
    for situation in PAGE:
        assert f'"{situation.split(" during ")[0]}' in source, situation


# ------------------------------------------------------------------ files kept as they were


def test_a_symlinked_checkpoint_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    link = tmp_path / "run.npz"
    link.symlink_to(tmp_path / "store" / "real.npz")  # dangling until the first save
    trainer = Trainer("abcabcabcabc", TrainingConfig(hidden_size=3, sequence_length=3, epochs=2))
    for _ in trainer.train(link):
        assert link.is_symlink()
        assert Trainer.load(link).epoch == trainer.epoch
    assert os.readlink(link) == str(tmp_path / "store" / "real.npz")
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["real.npz"]


def test_new_checkpoints_follow_the_umask_and_replaced_ones_keep_their_mode(
    tmp_path: Path,
) -> None:
    old = os.umask(0o027)
    try:
        with atomic_write(tmp_path / "new.bin") as file:
            file.write(b"1")
    finally:
        os.umask(old)
    assert (tmp_path / "new.bin").stat().st_mode & 0o777 == 0o640
    (tmp_path / "new.bin").chmod(0o604)
    with atomic_write(tmp_path / "new.bin") as file:
        file.write(b"2")
    assert (tmp_path / "new.bin").stat().st_mode & 0o777 == 0o604
    assert (tmp_path / "new.bin").read_bytes() == b"2"


def test_the_lock_file_is_removed_and_the_lock_can_be_taken_again(tmp_path: Path) -> None:
    with checkpoint_lock(tmp_path / "run.npz"):
        assert (tmp_path / ".run.npz.lock").read_text() == f"{os.getpid()}\n"
    assert list(tmp_path.iterdir()) == []
    with checkpoint_lock(tmp_path / "run.npz"):
        pass


# ------------------------------------------------------------------ library edges


@pytest.mark.parametrize("cell", [RNN, LSTM, GRU])
@pytest.mark.parametrize("dtype", [np.complex128, np.longdouble])
def test_an_initial_state_that_would_change_the_result_dtype_is_refused(
    cell: Any, dtype: Any
) -> None:
    model = cell.random(4, 3, np.random.default_rng(0))
    h0 = np.zeros(3, dtype=dtype)
    state = (h0, np.zeros(3)) if cell is LSTM else h0
    message = (
        f"h0 must have the model's dtype float64 or one that casts to it safely, "
        f"got {np.dtype(dtype)}"
    )
    with pytest.raises(TypeError, match=message):
        model.loss([0, 1], [1, 2], state)
    with pytest.raises(TypeError, match=message):  # the trainer's fast path, the same
        fast.loss_and_gradients(model, [0, 1], [1, 2], state)


def test_a_complex_model_takes_a_complex_initial_state() -> None:
    model = RNN.random(4, 3, np.random.default_rng(0))
    complex_model = model.with_params({k: v + 0j for k, v in model.params.items()})
    value = complex_model.loss([0, 1], [1, 2], np.zeros(3, complex))
    np.testing.assert_allclose(value, model.loss([0, 1], [1, 2]), rtol=1e-15, atol=0)


@pytest.mark.parametrize("temperature", [5e-324, 1e-300])
def test_a_temperature_whose_scaled_logits_overflow_samples_greedily(temperature: float) -> None:
    model = RNN.random(5, 6, np.random.default_rng(1), scale=1.0)
    vocab = Vocabulary.from_text("abcde")
    expected, state, x = [], None, 0  # the argmax of ŷ at every step, fed back
    for _ in range(30):
        cache = model.forward(np.array([x]), state)
        x = int(np.argmax(model.probabilities(np.array([x]), state)[-1]))
        expected.append(vocab.chars[x])
        state = cache.last_state[0]
    sample = model.sample(vocab, np.random.default_rng(0), "a", 30, temperature)  # no warning
    assert sample == "".join(expected)
