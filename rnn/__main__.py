"""Command-line interface: ``python -m rnn {train,sample,gradcheck}``.

Errors in what the user gave (a bad value, a missing file, a broken checkpoint) are
reported as one line on standard error with exit status 2, never as a traceback. Each
command first checks everything it was given and only then starts work, so a refused
command writes nothing and leaves an existing checkpoint as it was. A training run whose
loss becomes NaN or infinite stops with one line on standard error and exit status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import stat
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from rnn.checks import check_int, check_positive_number, check_text
from rnn.data import Vocabulary, seed_corpus
from rnn.model import RecurrentModel
from rnn.training import (
    CELLS,
    Trainer,
    TrainingConfig,
    TrainingDiverged,
    format_epoch,
    format_header,
)

__all__ = ["main"]

USAGE_ERROR = 2
DIVERGED = 1


class UsageError(Exception):
    """A problem with the command line or its inputs; reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


@contextlib.contextmanager
def _user_input() -> Iterator[None]:
    """Report a ValueError or TypeError raised while checking the user's input as a
    UsageError. Only the checking phase of a command runs inside this, so the same
    exceptions raised later, by a bug, still show their traceback."""
    try:
        yield
    except (ValueError, TypeError) as err:
        raise UsageError(str(err)) from None


def read_corpus(path: str | None) -> str:
    """The text of ``path`` (UTF-8), or the embedded seed corpus when ``path`` is None."""
    if path is None:
        return seed_corpus()
    file = Path(path)
    if file.is_dir():
        raise UsageError(f"corpus {path!r} is a directory, not a text file")
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"corpus file {path!r} does not exist") from None
    except UnicodeDecodeError as err:
        raise UsageError(f"corpus file {path!r} is not UTF-8 text ({err.reason})") from None
    except OSError as err:
        raise UsageError(f"cannot read corpus file {path!r}: {err.strerror}") from None
    except ValueError:  # the only ValueError open() raises for a str path
        reason = "a path cannot hold a NUL character"
        raise UsageError(f"cannot read corpus file {path!r}: {reason}") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _add_training_options(parser: argparse.ArgumentParser) -> None:
    d = TrainingConfig()
    parser.add_argument(
        "--corpus", metavar="PATH", help="UTF-8 text to train on (default: the seed's text)"
    )
    parser.add_argument("--cell", choices=sorted(CELLS), default=d.cell, help="the cell type")
    parser.add_argument("--hidden-size", type=int, default=d.hidden_size, help="H, hidden units")
    parser.add_argument(
        "--sequence-length", type=int, default=d.sequence_length, help="T, characters per window"
    )
    parser.add_argument("--epochs", type=int, default=d.epochs, help="passes over the corpus")
    parser.add_argument(
        "--learning-rate", type=_number, default=d.learning_rate, help="AdaGrad step size"
    )
    parser.add_argument("--batch-size", type=int, default=d.batch_size, help="B parallel streams")
    parser.add_argument(
        "--clip", type=_number, default=d.clip, help="elementwise gradient clipping bound"
    )
    parser.add_argument("--seed", type=int, default=d.seed, help="seed of the random generator")
    parser.add_argument(
        "--sample-length", type=int, default=d.sample_length, help="characters sampled per epoch"
    )
    parser.add_argument(
        "--temperature", type=_number, default=d.temperature, help="sampling temperature"
    )
    parser.add_argument(
        "--dtype", choices=("float64", "float32"), default=d.dtype, help="training precision"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m rnn``."""
    parser = _Parser(
        prog="python -m rnn",
        description="A gradient-verified character-level recurrent network.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    train = commands.add_parser(
        "train",
        help="train on a corpus and print the loss and a sample after every epoch",
        description="Train on a corpus (default: the seed's Hungarian text) and print, after "
        "every epoch, the mean window loss and a sample, in the seed's format.",
    )
    _add_training_options(train)
    train.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="save the whole training state to this .npz file after every "
        "--checkpoint-every epochs and at the end (a new file, unless --resume)",
    )
    train.add_argument(
        "--checkpoint-every",
        metavar="N",
        type=int,
        help="epochs between checkpoints (default: 1)",
    )
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue the run saved in --checkpoint; give the options of the run that "
        "wrote it (only --epochs may change)",
    )
    sample = commands.add_parser(
        "sample",
        help="print text sampled from a trained model",
        description="Load a checkpoint written by 'train --checkpoint' and print the priming "
        "string followed by the characters the model generates after it.",
    )
    sample.add_argument("--checkpoint", metavar="PATH", required=True, help="the .npz file")
    sample.add_argument(
        "--prime",
        metavar="STR",
        help="priming text in the model's vocabulary (default: the corpus's first character)",
    )
    sample.add_argument("--length", type=int, default=250, help="characters to generate")
    sample.add_argument("--temperature", type=_number, default=1.0, help="sampling temperature")
    sample.add_argument("--seed", type=int, default=0, help="seed of the random generator")
    _add_gradcheck_command(commands)
    return parser


def _config(args: argparse.Namespace) -> TrainingConfig:
    return TrainingConfig(
        cell=args.cell,
        hidden_size=args.hidden_size,
        sequence_length=args.sequence_length,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        clip=args.clip,
        seed=args.seed,
        sample_length=args.sample_length,
        temperature=args.temperature,
        dtype=args.dtype,
    )


@dataclass(frozen=True)
class _TrainingRun:
    """A checked ``train`` command, ready to run."""

    trainer: Trainer
    checkpoint: str | None
    checkpoint_every: int
    resumed: bool


def _prepare_training(args: argparse.Namespace) -> _TrainingRun:
    """Check every input of ``train`` and build its trainer; writes nothing."""
    with _user_input():
        config = _config(args)
    text = read_corpus(args.corpus)
    path = args.checkpoint
    if path is None:
        if args.resume:
            raise UsageError("--resume needs --checkpoint PATH")
        if args.checkpoint_every is not None:
            raise UsageError("--checkpoint-every needs --checkpoint PATH")
        with _user_input():
            return _TrainingRun(Trainer(text, config), None, 1, resumed=False)
    every = 1 if args.checkpoint_every is None else args.checkpoint_every
    with _user_input():
        check_int("checkpoint_every", every, minimum=1)
    _check_checkpoint_path(path, args.resume)
    if not args.resume:
        with _user_input():
            return _TrainingRun(Trainer(text, config), path, every, resumed=False)
    with _user_input():
        trainer = Trainer.load(path, cell=config.cell)
    for field in fields(TrainingConfig):
        given, kept = getattr(config, field.name), getattr(trainer.config, field.name)
        if hasattr(args, field.name) and field.name != "epochs" and given != kept:
            raise UsageError(
                f"--{field.name.replace('_', '-')} is {given} but checkpoint {path!r} was "
                f"trained with {kept}; resume with the options of the run that wrote it"
            )
    if text != trainer.text:
        raise UsageError(f"the corpus is not the one checkpoint {path!r} was trained on")
    if config.epochs < trainer.epoch:
        raise UsageError(
            f"--epochs {config.epochs} is fewer than the {trainer.epoch} epochs "
            f"checkpoint {path!r} has completed"
        )
    trainer.config = replace(trainer.config, epochs=config.epochs)
    return _TrainingRun(trainer, path, every, resumed=True)


def _check_checkpoint_path(path: str, resume: bool) -> None:
    """Check that ``path`` can be written (and, to resume, exists) without writing."""
    try:
        exists, is_dir = True, stat.S_ISDIR(os.stat(path).st_mode)
    except FileNotFoundError:
        exists, is_dir = False, False
    except (OSError, ValueError) as err:
        reason = err.strerror if isinstance(err, OSError) else "a path cannot hold a NUL character"
        raise UsageError(f"cannot use checkpoint path {path!r}: {reason}") from None
    if is_dir:
        raise UsageError(f"checkpoint {path!r} is a directory, not a file")
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise UsageError(f"the folder of checkpoint {path!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write checkpoint {path!r}: its folder is not writable")
    if exists and not resume:
        raise UsageError(
            f"checkpoint {path!r} already exists; add --resume to continue it, "
            f"or choose another path"
        )
    if resume and not exists:
        raise UsageError(f"checkpoint {path!r} does not exist, so there is nothing to resume")


def _run_training(run: _TrainingRun) -> int:
    """Train, printing the log (the header only for a new run) and saving checkpoints."""
    if not run.resumed:
        print(format_header(run.trainer.text), flush=True)
    for result in run.trainer.train(run.checkpoint, run.checkpoint_every):
        print(format_epoch(result), flush=True)
    return 0


def _train(args: argparse.Namespace) -> int:
    return _run_training(_prepare_training(args))


@dataclass(frozen=True)
class _Sampling:
    """A checked ``sample`` command, ready to run."""

    model: RecurrentModel
    vocab: Vocabulary
    prime: str
    length: int
    temperature: float
    seed: int


def _prepare_sampling(args: argparse.Namespace) -> _Sampling:
    """Check every input of ``sample`` and load its model; writes nothing."""
    with _user_input():  # the library's own rules, checked before the file is read
        check_int("length", args.length, minimum=0)
        check_positive_number("temperature", args.temperature)
        check_int("seed", args.seed, minimum=0)
        if args.prime is not None:
            check_text("prime", args.prime)
        trainer = Trainer.load(args.checkpoint)
        prime = trainer.text[0] if args.prime is None else args.prime
        trainer.vocab.encode(prime)
    return _Sampling(trainer.model, trainer.vocab, prime, args.length, args.temperature, args.seed)


def _run_sampling(job: _Sampling) -> int:
    """Print the priming string and the generated text."""
    rng = np.random.default_rng(job.seed)
    text = job.model.sample(job.vocab, rng, job.prime, job.length, job.temperature)
    print(job.prime + text, flush=True)
    return 0


def _sample(args: argparse.Namespace) -> int:
    return _run_sampling(_prepare_sampling(args))


def _add_gradcheck_command(commands: argparse._SubParsersAction[Any]) -> None:
    from verification import METHODS

    check = commands.add_parser(
        "gradcheck",
        help="check a random model's analytic gradient against numeric derivatives",
        description="Build a random model, compute its analytic gradient on one window of "
        "text, compare it with numeric derivatives and print the verdict for every "
        "parameter. With --truncation 1 (the seed's formulas) W, U and b fail while V and "
        "c pass. Exit status 0 when the check passes, 1 when it fails.",
    )
    check.add_argument("--method", choices=METHODS, default="central", help="numeric method")
    check.add_argument("--cell", choices=sorted(CELLS), default="rnn", help="the cell type")
    check.add_argument("--hidden-size", type=int, default=16, help="H, hidden units")
    vocabulary = check.add_mutually_exclusive_group()
    vocabulary.add_argument(
        "--vocab-size", type=int, metavar="V", help="V random symbols instead of a corpus"
    )
    vocabulary.add_argument(
        "--corpus",
        metavar="PATH",
        help="UTF-8 text whose characters are the vocabulary and "
        "whose beginning is the window (default: the seed's text)",
    )
    check.add_argument(
        "--seq-length",
        "--sequence-length",
        dest="seq_length",
        type=int,
        default=10,
        help="T, characters in the window",
    )
    check.add_argument(
        "--truncation", type=int, metavar="K", help="truncated BPTT over K steps (1: the seed's)"
    )
    check.add_argument(
        "--scale", type=_number, default=0.1, help="standard deviation of the weights"
    )
    check.add_argument("--entries", type=int, metavar="N", help="check N random entries each")
    check.add_argument(
        "--directions", type=int, metavar="N", help="directions each (directional, taylor)"
    )
    check.add_argument("--seed", type=int, default=0, help="seed of the weights and entries")


@dataclass(frozen=True)
class _GradientCheck:
    model: RecurrentModel
    inputs: np.ndarray[Any, np.dtype[np.intp]]
    targets: np.ndarray[Any, np.dtype[np.intp]]
    truncation: int | None
    options: dict[str, Any]


def _prepare_gradcheck(args: argparse.Namespace) -> _GradientCheck:
    """Check every input of ``gradcheck`` and build its model and window."""
    with _user_input():
        for name in ("hidden_size", "seq_length", "vocab_size", "truncation", "entries"):
            if getattr(args, name) is not None:
                check_int(name, getattr(args, name), minimum=1)
        if args.directions is not None:
            check_int("directions", args.directions, minimum=1)
        check_int("seed", args.seed, minimum=0)
    if args.entries is not None and args.method in ("directional", "taylor"):
        raise UsageError(f"--entries applies to the entrywise methods, not to {args.method}")
    if args.directions is not None and args.method not in ("directional", "taylor"):
        raise UsageError(f"--directions applies to directional and taylor, not to {args.method}")
    T = args.seq_length
    rng = np.random.default_rng(args.seed)
    if args.vocab_size is not None:
        V = args.vocab_size
        codes = rng.integers(0, V, T + 1)
    else:
        text = read_corpus(args.corpus)
        if len(text) < T + 1:
            raise UsageError(
                f"the corpus has {len(text)} characters, fewer than --seq-length + 1 = {T + 1}"
            )
        vocab = Vocabulary.from_text(text)
        V, codes = len(vocab), vocab.encode(text[: T + 1])
    with _user_input():
        model = CELLS[args.cell].random(V, args.hidden_size, rng, scale=args.scale)
        model.loss_and_gradients(codes[:-1], codes[1:], truncation=args.truncation)
    options: dict[str, Any] = {"method": args.method, "seed": args.seed}
    if args.entries is not None:
        options["entries"] = args.entries
    if args.directions is not None:
        options["directions"] = args.directions
    return _GradientCheck(model, codes[:-1], codes[1:], args.truncation, options)


def _run_gradcheck(job: _GradientCheck) -> int:
    """Print the report; 0 if the check passed, 1 if it failed."""
    from verification import check_gradients

    model, x, y, truncation = job.model, job.inputs, job.targets, job.truncation

    def loss_fn(params: dict[str, Any]) -> Any:
        return model.with_params(params).loss(x, y)

    def grads() -> dict[str, Any]:
        return model.loss_and_gradients(x, y, truncation=truncation)[1]

    kind = (
        "exact BPTT"
        if truncation is None
        else f"BPTT truncated to {truncation} step{'s' if truncation > 1 else ''}"
    )
    print(
        f"{type(model).__name__} with V={model.vocab_size}, H={model.hidden_size}, "
        f"T={len(x)}; gradient by {kind}",
        flush=True,
    )
    report = check_gradients(loss_fn, model.params, grads, **job.options)
    print(report, flush=True)
    return 0 if report.passed else 1


def _gradcheck(args: argparse.Namespace) -> int:
    return _run_gradcheck(_prepare_gradcheck(args))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    0 on success; 2 for a bad command line or input, reported in one line on standard
    error; 1 if the training loss became NaN or infinite.
    """
    try:
        args = build_parser().parse_args(argv)
        if args.command == "sample":
            return _sample(args)
        if args.command == "gradcheck":
            return _gradcheck(args)
        return _train(args)
    except UsageError as err:
        print(f"python -m rnn: error: {_one_line(str(err))}", file=sys.stderr)
        return USAGE_ERROR
    except TrainingDiverged as err:
        print(f"python -m rnn: training stopped: {_one_line(str(err))}", file=sys.stderr)
        return DIVERGED


def _one_line(message: str) -> str:
    """The message with line breaks and other unprintable characters escaped.

    argparse quotes some arguments raw, and an argument can hold a newline.
    """
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


def _run_as_script() -> int:
    """``main()``, ending quietly when the reader of stdout goes away (``| head``)."""
    try:
        return main()
    except BrokenPipeError:
        # Point stdout at /dev/null so that the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(_run_as_script())
