"""The command line: train with checkpoints, resume, sample; errors as one line."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rnn.__main__ as cli_module
from rnn import checkpoint as checkpoint_module
from rnn.__main__ import build_parser, main
from rnn.model import RecurrentModel
from rnn.training import Trainer, TrainingConfig

SMALL = ["--hidden-size", "8", "--sample-length", "20"]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    """The single line on standard error, without its prefix; nothing on standard output."""
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith("python -m rnn: error: "), err
    return err[len("python -m rnn: error: ") : -1]


def test_train_writes_a_checkpoint_that_holds_the_run(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", *SMALL, "--epochs", "2", "--checkpoint", "run.npz"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Number of characters : 559\nNumber of unique characters : 44\n")
    trainer = Trainer.load(folder / "run.npz")
    assert (trainer.epoch, trainer.config.hidden_size, trainer.config.sample_length) == (2, 8, 20)
    assert [f"Loss : {x:.6f}" in out for x in trainer.losses] == [True, True]
    assert sorted(p.name for p in folder.iterdir()) == ["run.npz"]  # no temporary file left


def test_checkpoint_every_n_epochs_and_at_the_end(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    epochs: list[int] = []
    real = checkpoint_module.save_checkpoint

    def spy(path: Any, ckpt: checkpoint_module.Checkpoint) -> None:
        epochs.append(ckpt.epoch)
        real(path, ckpt)

    monkeypatch.setattr("rnn.training.save_checkpoint", spy)
    argv = ["train", *SMALL, "--epochs", "5", "--checkpoint", "run.npz", "--checkpoint-every", "2"]
    assert main(argv) == 0
    assert epochs == [2, 4, 5]


def test_resuming_a_finished_run_trains_nothing(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", *SMALL, "--epochs", "1", "--checkpoint", "run.npz"]) == 0
    capsys.readouterr()
    before = (folder / "run.npz").read_bytes()
    assert main(["train", *SMALL, "--epochs", "1", "--checkpoint", "run.npz", "--resume"]) == 0
    assert capsys.readouterr() == ("", "")
    assert (folder / "run.npz").read_bytes() == before


def test_sample_prints_the_prime_and_the_generated_text(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", *SMALL, "--epochs", "1", "--checkpoint", "run.npz"]) == 0
    capsys.readouterr()
    argv = ["sample", "--checkpoint", "run.npz", "--prime", "Kedves", "--length", "40"]
    assert main([*argv, "--seed", "3", "--temperature", "0.5"]) == 0
    out = capsys.readouterr().out
    trainer = Trainer.load(folder / "run.npz")
    rng = np.random.default_rng(3)
    expected = trainer.model.sample(trainer.vocab, rng, "Kedves", 40, 0.5)
    assert out == "Kedves" + expected + "\n"
    assert main([*argv, "--seed", "3", "--temperature", "0.5"]) == 0
    assert capsys.readouterr().out == out
    assert main([*argv, "--seed", "4", "--temperature", "0.5"]) == 0
    assert capsys.readouterr().out != out


def test_sample_primes_with_the_corpus_first_character_by_default(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", *SMALL, "--epochs", "1", "--checkpoint", "run.npz"]) == 0
    capsys.readouterr()
    assert main(["sample", "--checkpoint", "run.npz", "--length", "0"]) == 0
    assert capsys.readouterr().out == "K\n"


def test_checkpoint_every_needs_a_checkpoint(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--checkpoint-every", "2"]) == 2
    assert _error(capsys) == "--checkpoint-every needs --checkpoint PATH"


def test_a_checkpoint_name_the_system_refuses_is_reported_before_training(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--checkpoint", "x" * 300 + ".npz"]) == 2
    assert _error(capsys).endswith(": File name too long")
    assert main(["train", "--checkpoint", "bad\0name.npz"]) == 2
    assert _error(capsys).endswith(": a path cannot hold a NUL character")
    assert main(["train", "--corpus", "bad\0name.txt"]) == 2
    assert _error(capsys).endswith(": a path cannot hold a NUL character")
    assert list(folder.iterdir()) == []
    (folder / "notes.txt").write_text("abc", encoding="utf-8")
    assert main(["train", "--corpus", "notes.txt/corpus.txt"]) == 2
    assert _error(capsys) == "cannot read corpus file 'notes.txt/corpus.txt': Not a directory"


def test_a_folder_that_cannot_be_written_is_reported_before_training(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """os.access is replaced: the tests may run as root, for whom every folder is writable."""
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert main(["train", "--checkpoint", "run.npz"]) == 2
    assert _error(capsys) == "cannot write checkpoint 'run.npz': its folder is not writable"


def test_an_argument_with_a_line_break_is_reported_on_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["train", "two\nlines"]) == 2
    assert _error(capsys) == "unrecognized arguments: two\\nlines"


@pytest.mark.parametrize(
    ("command", "target"),
    [
        (["train", *SMALL, "--epochs", "1"], "rnn.training.Trainer.step"),
        (
            ["sample", "--checkpoint", "run.npz", "--length", "5"],
            "rnn.model.RecurrentModel.generate",
        ),
    ],
)
def test_a_bug_after_the_checks_shows_its_traceback(
    folder: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], target: str
) -> None:
    """Only the checking phase turns ValueError into a usage error; later, it is a bug."""
    assert main(["train", *SMALL, "--epochs", "1", "--checkpoint", "run.npz"]) == 0

    def bug(*args: Any, **kwargs: Any) -> None:
        raise ValueError("an internal bug")

    monkeypatch.setattr(target, bug)
    with pytest.raises(ValueError, match="an internal bug"):
        main(command)


def test_help_lists_the_commands_and_the_checkpoint_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["train", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--checkpoint PATH", "--checkpoint-every N", "--resume"):
        assert option in out
    sample_help = build_parser().parse_args(["sample", "--checkpoint", "x"])
    assert (sample_help.length, sample_help.temperature, sample_help.seed) == (250, 1.0, 0)


def test_the_real_process_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "rnn", "train", "--learning-rate", "nan"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr == "python -m rnn: error: learning_rate must be finite and > 0, got nan\n"
    assert list(tmp_path.iterdir()) == []


def test_sampling_uses_the_model_class_of_the_checkpoint(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["train", "--cell", "gru", *SMALL, "--epochs", "1", "--checkpoint", "g.npz"]) == 0
    capsys.readouterr()
    seen: list[str] = []
    real = RecurrentModel.generate

    def spy(self: RecurrentModel, *args: Any, **kwargs: Any) -> Iterator[str]:
        seen.append(self.cell)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(RecurrentModel, "generate", spy)
    assert main(["sample", "--checkpoint", "g.npz", "--length", "10"]) == 0
    assert seen == ["gru"]
    assert len(capsys.readouterr().out) == 1 + 10 + 1


def test_python_dash_m_runs_main_and_exits_with_its_status(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["python -m rnn", "train", "--epochs", "0"])
    with pytest.raises(SystemExit) as info:
        runpy.run_path(str(Path(cli_module.__file__)), run_name="__main__")
    assert info.value.code == 2
    assert _error(capsys) == "epochs must be ≥ 1, got 0"


def test_a_closed_pipe_ends_the_cli_without_a_traceback() -> None:
    """``python -m rnn train | head -1``: the reader leaves after one line."""
    process = subprocess.Popen(
        [sys.executable, "-m", "rnn", "train", "--epochs", "50", "--hidden-size", "8"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read()
    process.stderr.close()
    assert process.wait(timeout=120) == 1
    assert b"Traceback" not in stderr


def test_no_command_prints_the_usage_and_every_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m rnn")
    for command in ("train", "sample", "gradcheck", "plot"):
        assert f"\n    {command}" in out, command


@pytest.mark.parametrize("command", ["train", "sample", "gradcheck", "plot"])
def test_help_shows_the_default_of_every_option_that_has_one(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for action in sub._actions:
        if action.default not in (None, False, "==SUPPRESS==") and action.option_strings:
            assert f"(default: {action.default})" in out, action.dest


def test_help_lists_the_training_options_for_real_text(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for option in (
        "--val-fraction",
        "--eval-every N",
        "--optimizer",
        "--beta1",
        "--beta2",
        "--alpha",
        "--eps",
        "--clip-mode {value,norm}",
        "--time-limit SECONDS",
        "--metrics PATH",
        "--best-checkpoint PATH",
        "--corpus NAME|PATH",
    ):
        assert option in out, option


def test_every_training_setting_is_a_train_option_that_reaches_the_config() -> None:
    """The CLI and the library stay in step: each field of TrainingConfig is an option of
    ``train`` whose default is the field's, and a value given reaches the run's config."""
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices["train"]  # type: ignore[union-attr]
    options = {a.dest: a for a in sub._actions if a.option_strings}
    defaults = TrainingConfig()
    for f in fields(TrainingConfig):
        assert f.name in options, f"train has no option for {f.name}"
        assert options[f.name].default == getattr(defaults, f.name), f.name
    args = parser.parse_args(["train", "--init-scale", "0.25", "--loss-reduction", "mean"])
    config = cli_module._config(args)
    assert (config.init_scale, config.loss_reduction) == (0.25, "mean")


def test_train_on_shakespeare_with_validation_writes_metrics_and_the_best_checkpoint(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--corpus", "shakespeare", "--cell", "lstm", "--hidden-size", "8"]
    argv += ["--batch-size", "50", "--sequence-length", "20", "--optimizer", "rmsprop"]
    argv += ["--learning-rate", "0.005", "--val-fraction", "0.002", "--eval-every", "1"]
    argv += ["--sample-length", "0", "--dtype", "float32", "--time-limit", "0.5"]
    argv += ["--checkpoint", "run.npz", "--metrics", "m.csv", "--best-checkpoint", "best.npz"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("Number of characters : 1115394\nNumber of unique characters : 65\n")
    assert "Stopped at the time limit of 0.5 s after update" in out
    trainer = Trainer.load(folder / "run.npz")
    assert trainer.config.optimizer == "rmsprop"
    assert trainer.epoch == 0
    assert trainer.position == trainer.updates >= 1
    evaluation_lines = [line for line in out.splitlines() if line.startswith("Update ")]
    assert len(evaluation_lines) == trainer.updates
    assert " nats (" in evaluation_lines[0]
    assert " bits) per char" in evaluation_lines[0]
    assert Trainer.load(folder / "best.npz").best_val_loss == trainer.best_val_loss


def test_metrics_and_best_checkpoint_folders_that_cannot_be_written_are_refused(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """os.access is replaced: the tests may run as root, for whom every folder is writable."""
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert main(["train", "--metrics", "m.csv"]) == 2
    assert _error(capsys) == "cannot write metrics file 'm.csv': its folder is not writable"
    assert main(["train", "--val-fraction", "0.1", "--best-checkpoint", "b.npz"]) == 2
    assert _error(capsys) == "cannot write best checkpoint 'b.npz': its folder is not writable"
    assert list(folder.iterdir()) == []


def test_a_progress_bar_appears_only_when_stderr_is_a_terminal(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["train", *SMALL, "--epochs", "2"]
    assert main(argv) == 0
    piped = capsys.readouterr()
    assert piped.err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(argv) == 0
    tty = capsys.readouterr()
    assert "char/s" in tty.err or "char]" in tty.err, tty.err
    assert tty.out == piped.out, "the log is the same with or without the bar"
    other = ["train", "--hidden-size", "4", "--epochs", "1", "--eval-every", "5"]
    assert main([*other, "--metrics", "other.csv"]) == 0
    assert main([*argv, "--checkpoint", "run.npz"]) == 0
    capsys.readouterr()
    # Refused by the trainer's own checks, after the bar was asked for: still one line.
    assert main([*argv, "--checkpoint", "run.npz", "--resume", "--metrics", "other.csv"]) == 2
    assert _error(capsys).startswith("metrics file 'other.csv' belongs to another run")


def test_progress_without_tqdm_is_silent(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm raises ImportError
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["train", *SMALL, "--epochs", "1"]) == 0
    assert capsys.readouterr().err == ""


def test_greedy_sampling_takes_the_most_probable_character_every_time(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", *SMALL, "--epochs", "3", "--checkpoint", "run.npz"]) == 0
    capsys.readouterr()
    argv = ["sample", "--checkpoint", "run.npz", "--prime", "Ked", "--length", "15"]
    assert main([*argv, "--temperature", "0", "--seed", "1"]) == 0
    first = capsys.readouterr().out
    assert main([*argv, "--temperature", "0", "--seed", "2"]) == 0
    assert capsys.readouterr().out == first, "greedy decoding uses no randomness"
    trainer = Trainer.load(folder / "run.npz")
    text = "Ked"
    for _ in range(15):  # argmax of the next-character distribution, recomputed from scratch
        probs = trainer.model.probabilities(trainer.vocab.encode(text))
        text += trainer.vocab.chars[int(np.argmax(probs[-1]))]
    assert first == text + "\n"


def test_sample_reads_the_prime_from_a_file_and_writes_to_an_output_file(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", *SMALL, "--epochs", "1", "--checkpoint", "run.npz"]) == 0
    capsys.readouterr()
    (folder / "prime.txt").write_text("Kedves,\n", encoding="utf-8")
    argv = ["sample", "--checkpoint", "run.npz", "--length", "30", "--seed", "5"]
    assert main([*argv, "--prime", "Kedves,\n"]) == 0
    printed = capsys.readouterr().out
    assert main([*argv, "--prime-file", "prime.txt", "--output", "out.txt"]) == 0
    assert capsys.readouterr() == ("", "")
    assert (folder / "out.txt").read_text(encoding="utf-8") == printed
    (folder / "empty.txt").write_text("", encoding="utf-8")
    assert main([*argv, "--prime-file", "empty.txt"]) == 2
    assert _error(capsys) == "priming file 'empty.txt' is empty"
    assert main([*argv, "--prime", "K", "--prime-file", "prime.txt"]) == 2
    assert "not allowed with argument" in _error(capsys)


def test_sampling_from_a_best_checkpoint_works_like_any_checkpoint(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", *SMALL, "--epochs", "2", "--val-fraction", "0.2", "--eval-every", "5"]
    assert main([*argv, "--best-checkpoint", "best.npz"]) == 0
    capsys.readouterr()
    assert main(["sample", "--checkpoint", "best.npz", "--length", "20", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    best = Trainer.load(folder / "best.npz")
    expected = best.model.sample(best.vocab, np.random.default_rng(3), "K", 20, 1.0)
    assert out == "K" + expected + "\n"


def test_plot_draws_a_png_from_a_metrics_file(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", *SMALL, "--epochs", "2", "--val-fraction", "0.2", "--eval-every", "5"]
    assert main([*argv, "--metrics", "m.csv"]) == 0
    capsys.readouterr()
    assert main(["plot", "m.csv", "--output", "curve.png"]) == 0
    assert (folder / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (folder / "header.csv").write_text(
        "run,update,epoch,elapsed_s,chars,train_loss,val_loss,val_bpc\n", encoding="utf-8"
    )
    assert main(["plot", "header.csv"]) == 2
    assert _error(capsys) == "metrics file 'header.csv' has no rows to plot"
    (folder / "bad.csv").write_text(
        "run,update,epoch,elapsed_s,chars,train_loss,val_loss,val_bpc\nx,1,0.1,1,10,abc,,\n",
        encoding="utf-8",
    )
    assert main(["plot", "bad.csv"]) == 2
    assert _error(capsys).startswith("'bad.csv' is not a metrics CSV: line 2:")


def test_plot_without_matplotlib_says_which_extra_to_install(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["train", *SMALL, "--epochs", "1", "--eval-every", "5", "--metrics", "m.csv"]) == 0
    capsys.readouterr()
    monkeypatch.setitem(sys.modules, "rnn.plot", None)
    assert main(["plot", "m.csv"]) == 2
    assert _error(capsys) == (
        "plot needs matplotlib, which is not installed; "
        "install it with pip install 'rnn-reference[plot]'"
    )
    assert sorted(p.name for p in folder.iterdir()) == ["m.csv"]


def test_a_named_corpus_and_a_file_of_that_name_are_told_apart(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "shakespeare").write_text("abcabcabcabcabcabc", encoding="utf-8")
    assert main(["train", "--corpus", "./shakespeare", *SMALL, "--epochs", "1"]) == 0
    assert capsys.readouterr().out.startswith("Number of characters : 18\n")


def test_sample_output_through_a_symlink_keeps_the_link(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", *SMALL, "--epochs", "1", "--checkpoint", "run.npz"]) == 0
    (folder / "store").mkdir()
    (folder / "out.txt").symlink_to(folder / "store" / "sample.txt")
    capsys.readouterr()
    argv = ["sample", "--checkpoint", "run.npz", "--length", "30", "--seed", "2"]
    assert main([*argv, "--output", "out.txt"]) == 0
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert (folder / "out.txt").is_symlink()
    assert (folder / "store" / "sample.txt").read_text(encoding="utf-8") == printed
    assert sorted(p.name for p in (folder / "store").iterdir()) == ["sample.txt"]


def test_a_priming_file_over_the_size_limit_is_refused_without_reading_it(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", *SMALL, "--epochs", "1", "--checkpoint", "run.npz"]) == 0
    capsys.readouterr()
    with open(folder / "huge.txt", "wb") as file:  # sparse: no disk blocks, nothing to read
        file.truncate(cli_module.MAX_CORPUS_BYTES + 1)
    assert main(["sample", "--checkpoint", "run.npz", "--prime-file", "huge.txt"]) == 2
    size = cli_module.MAX_CORPUS_BYTES + 1
    assert _error(capsys) == (
        f"priming file 'huge.txt' has {size} bytes, more than the limit of "
        f"{cli_module.MAX_CORPUS_BYTES} bytes"
    )
