"""Resuming: a run saved and continued in a new process is the run that never stopped.

Each test trains straight through in this process and compares, bit for bit, with a run
that was saved and then continued by a fresh Python process (``subprocess``), so nothing
can leak between the two halves except the checkpoint file.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rnn.data import seed_corpus
from rnn.metrics import read_metrics
from rnn.training import CELLS, Trainer, TrainingConfig, format_epoch, format_header

CONTINUE = """
import sys
from rnn.training import Trainer, format_epoch

trainer = Trainer.load(sys.argv[1])
for result in trainer.train():
    sys.stdout.write(format_epoch(result))
trainer.save(sys.argv[2])
"""


def _python(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a fresh interpreter; its output is decoded as UTF-8."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
    )


def _assert_identical(a: Trainer, b: Trainer) -> None:
    """Parameters, optimizer state, losses, generator and position are equal bit for bit."""
    assert a.config == b.config
    assert a.model.params.keys() == b.model.params.keys()
    for name, p in a.model.params.items():
        assert p.dtype == b.model.params[name].dtype
        assert p.tobytes() == b.model.params[name].tobytes(), f"parameter {name}"
    ma, mb = a.optimizer.state_dict(), b.optimizer.state_dict()
    assert ma.keys() == mb.keys()
    for name in ma:
        assert ma[name].tobytes() == mb[name].tobytes(), f"optimizer state {name}"
    assert a.losses == b.losses
    assert [x.hex() for x in a.losses] == [x.hex() for x in b.losses]
    assert a.rng.bit_generator.state == b.rng.bit_generator.state
    assert (a.epoch, a.position, a.epoch_loss) == (b.epoch, b.position, b.epoch_loss)
    assert (a.interval_loss, a.best_val_loss) == (b.interval_loss, b.best_val_loss)


def _kill_mid_run(options: list[str], folder: Path) -> float:
    """Start ``python -m rnn`` with ``options`` and a million epochs, and SIGKILL it at a
    random moment after its first checkpoint ``run.npz`` appeared; returns the delay."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    delay = random.SystemRandom().uniform(0.0, 0.6)
    process = subprocess.Popen(
        [sys.executable, "-m", "rnn", *options, "--epochs", "1000000"],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not (folder / "run.npz").exists():
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "no checkpoint after 60 s"
            time.sleep(0.005)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
        if process.stderr:
            process.stderr.close()
    assert process.returncode == -signal.SIGKILL, f"the run ended first (delay {delay:.3f} s)"
    return delay


def _assert_same_best(path_a: Path, path_b: Path) -> None:
    """Two best checkpoints hold the same model at the same update with the same loss (the
    epoch count in their hyperparameters is that of the session that wrote them)."""
    a, b = Trainer.load(path_a), Trainer.load(path_b)
    assert (a.updates, a.best_val_loss) == (b.updates, b.best_val_loss)
    for name, p in a.model.params.items():
        assert p.tobytes() == b.model.params[name].tobytes(), f"parameter {name}"


def _rows_without_time(path: Path) -> list[tuple[Any, ...]]:
    """The metrics rows with every column but elapsed_s, which no two runs share."""
    return [
        (r.run, r.update, r.epoch, r.chars, r.train_loss, r.val_loss, r.val_bpc)
        for r in read_metrics(path)
    ]


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("windows", [0, 7], ids=["at-epoch-end", "mid-epoch"])
def test_resuming_in_a_new_process_equals_training_straight_through(
    cell: str, windows: int, tmp_path: Path
) -> None:
    config = TrainingConfig(
        cell=cell, hidden_size=8, sequence_length=10, epochs=4, sample_length=30, batch_size=2
    )
    text = seed_corpus()
    straight = Trainer(text, config)
    straight_log = "".join(format_epoch(r) for r in straight.train())

    first = Trainer(text, config)
    log = "".join(format_epoch(first.run_epoch()) for _ in range(2))
    for _ in range(windows):
        first.step()
    first.save(tmp_path / "half.npz")
    child = _python("-c", CONTINUE, "half.npz", "end.npz", cwd=tmp_path)
    assert child.returncode == 0, child.stderr
    assert log + child.stdout == straight_log
    _assert_identical(Trainer.load(tmp_path / "end.npz"), straight)


def test_cli_resume_continues_the_log_and_the_weights_exactly(tmp_path: Path) -> None:
    options = ["-m", "rnn", "train", "--hidden-size", "12", "--sample-length", "40"]
    straight = _python(*options, "--epochs", "4", "--checkpoint", "a.npz", cwd=tmp_path)
    half = _python(*options, "--epochs", "2", "--checkpoint", "b.npz", cwd=tmp_path)
    rest = _python(*options, "--epochs", "4", "--checkpoint", "b.npz", "--resume", cwd=tmp_path)
    for run in (straight, half, rest):
        assert run.returncode == 0, run.stderr
        assert run.stderr == ""
    assert rest.stdout.startswith("Epoch : 3/4  Loss : ")
    assert straight.stdout.endswith(rest.stdout)
    # The first half's log differs only in the epoch count it prints ("1/2" for "1/4").
    head = straight.stdout[: -len(rest.stdout)]
    assert half.stdout == head.replace("/4  Loss", "/2  Loss")
    a, b = Trainer.load(tmp_path / "a.npz"), Trainer.load(tmp_path / "b.npz")
    _assert_identical(a, b)
    with np.load(tmp_path / "a.npz") as na, np.load(tmp_path / "b.npz") as nb:
        assert na.files == nb.files
        for key in set(na.files) - {"elapsed_s"}:  # the wall-clock time differs
            assert na[key].tobytes() == nb[key].tobytes(), key


def test_a_run_killed_at_a_random_moment_resumes_from_its_last_checkpoint(
    tmp_path: Path,
) -> None:
    """SIGKILL gives the run no chance to clean up; the checkpoint must still be whole.

    The run asks for far more epochs than it can finish before the kill, so the kill always
    lands mid-run; the resumed run then asks for two epochs more than were saved.
    """
    options = ["train", "--hidden-size", "16", "--sample-length", "20"]
    options += ["--checkpoint", "run.npz"]
    delay = _kill_mid_run(options, tmp_path)

    killed = Trainer.load(tmp_path / "run.npz")
    assert killed.epoch >= 1, f"delay {delay:.3f} s"
    assert killed.position == 0
    assert len(killed.losses) == killed.epoch

    epochs = killed.epoch + 2
    resumed = _python("-m", "rnn", *options, "--epochs", str(epochs), "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    lines = [ln for ln in resumed.stdout.splitlines() if ln.startswith("Epoch : ")]
    assert len(lines) == 2
    assert lines[0].startswith(f"Epoch : {killed.epoch + 1}/{epochs}  Loss : ")

    straight = Trainer(seed_corpus(), Trainer.load(tmp_path / "run.npz").config)
    for _ in straight.train():
        pass
    _assert_identical(Trainer.load(tmp_path / "run.npz"), straight)


def test_same_seed_gives_byte_identical_logs_across_processes(tmp_path: Path) -> None:
    def log(seed: str, hash_seed: str) -> bytes:
        env: dict[str, Any] = {**os.environ, "PYTHONHASHSEED": hash_seed}
        command = [sys.executable, "-m", "rnn", "train", "--epochs", "3", "--hidden-size", "8"]
        command += ["--sample-length", "60", "--seed", seed, "--cell", "lstm"]
        done = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, timeout=120, check=True
        )
        return done.stdout

    first = log("7", "1")
    assert log("7", "2") == first
    assert log("8", "1") != first
    config = TrainingConfig(cell="lstm", hidden_size=8, epochs=3, sample_length=60, seed=7)
    straight = Trainer(seed_corpus(), config)
    expected = format_header(seed_corpus()) + "\n"
    expected += "".join(format_epoch(r) + "\n" for r in straight.train())
    assert first.decode("utf-8") == expected


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_a_run_with_validation_resumed_mid_epoch_in_a_new_process_is_exact(
    optimizer: str, tmp_path: Path
) -> None:
    """Adam's step count and moments, the best loss and the loss since the last evaluation
    all travel in the checkpoint."""
    config = TrainingConfig(
        cell="lstm",
        hidden_size=8,
        epochs=3,
        sample_length=10,
        batch_size=2,
        optimizer=optimizer,
        learning_rate=0.01,
        val_fraction=0.2,
        eval_every=4,
    )
    straight = Trainer(seed_corpus(), config)
    list(straight.train(metrics=tmp_path / "straight.csv"))
    first = Trainer(seed_corpus(), config)
    run = first.train(metrics=tmp_path / "resumed.csv")
    while first.updates < 30:  # mid-epoch, between two evaluations
        next(run)
    first.save(tmp_path / "half.npz")
    child = _python("-c", CONTINUE_WITH_METRICS, "half.npz", "end.npz", cwd=tmp_path)
    assert child.returncode == 0, child.stderr
    _assert_identical(Trainer.load(tmp_path / "end.npz"), straight)
    resumed_rows = _rows_without_time(tmp_path / "resumed.csv")
    assert resumed_rows == _rows_without_time(tmp_path / "straight.csv")


CONTINUE_WITH_METRICS = """
import sys
from rnn.training import Trainer

trainer = Trainer.load(sys.argv[1])
for _ in trainer.train(metrics="resumed.csv"):
    pass
trainer.save(sys.argv[2])
"""


def test_cli_resume_with_metrics_and_a_best_checkpoint_equals_training_straight_through(
    tmp_path: Path,
) -> None:
    options = ["-m", "rnn", "train", "--hidden-size", "8", "--sample-length", "0"]
    options += ["--val-fraction", "0.2", "--eval-every", "7", "--optimizer", "adam"]
    options += ["--learning-rate", "0.01"]
    straight = _python(
        *options,
        "--epochs",
        "4",
        "--checkpoint",
        "a.npz",
        "--metrics",
        "a.csv",
        "--best-checkpoint",
        "a-best.npz",
        cwd=tmp_path,
    )
    resumed = ["--checkpoint", "b.npz", "--metrics", "b.csv", "--best-checkpoint", "b-best.npz"]
    half = _python(*options, "--epochs", "2", *resumed, cwd=tmp_path)
    rest = _python(*options, "--epochs", "4", *resumed, "--resume", cwd=tmp_path)
    for run in (straight, half, rest):
        assert run.returncode == 0, run.stderr

    def untimed(log: str) -> str:  # the evaluation lines' seconds differ from run to run
        return re.sub(r"  [0-9.]+ s  ", "  ", log)

    assert untimed(straight.stdout).endswith(untimed(rest.stdout))
    assert _rows_without_time(tmp_path / "a.csv") == _rows_without_time(tmp_path / "b.csv")
    _assert_identical(Trainer.load(tmp_path / "a.npz"), Trainer.load(tmp_path / "b.npz"))
    _assert_identical(Trainer.load(tmp_path / "a-best.npz"), Trainer.load(tmp_path / "b-best.npz"))


def test_a_run_with_validation_killed_at_a_random_moment_resumes_exactly(
    tmp_path: Path,
) -> None:
    """SIGKILL between checkpoints: the checkpoint, the best checkpoint and the metrics file
    are whole, and resuming drops the rows written after the checkpoint and writes them
    again, so that the file equals the one of a run that was never killed."""
    options = ["train", "--hidden-size", "16", "--sample-length", "0", "--val-fraction", "0.1"]
    options += ["--eval-every", "5", "--checkpoint", "run.npz", "--metrics", "m.csv"]
    options += ["--best-checkpoint", "best.npz"]
    delay = _kill_mid_run(options, tmp_path)

    killed = Trainer.load(tmp_path / "run.npz")
    assert killed.epoch >= 1, f"delay {delay:.3f} s"
    Trainer.load(tmp_path / "best.npz")  # whole, whatever the moment of the kill
    epochs = killed.epoch + 2
    resumed = _python("-m", "rnn", *options, "--epochs", str(epochs), "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr

    straight = Trainer(seed_corpus(), Trainer.load(tmp_path / "run.npz").config)
    list(straight.train(metrics=tmp_path / "straight.csv", best_checkpoint=tmp_path / "s.npz"))
    _assert_identical(Trainer.load(tmp_path / "run.npz"), straight)
    assert _rows_without_time(tmp_path / "m.csv") == _rows_without_time(tmp_path / "straight.csv")
    _assert_same_best(tmp_path / "best.npz", tmp_path / "s.npz")
