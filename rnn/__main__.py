"""Command-line interface: ``python -m rnn {train,sample,gradcheck}``.

Errors in what the user gave (a bad value, a missing file) are reported as one line on
standard error with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from rnn.data import seed_corpus
from rnn.training import CELLS, Trainer, TrainingConfig, format_epoch, format_header

__all__ = ["main"]

USAGE_ERROR = 2


class UsageError(Exception):
    """A problem with the command line or its inputs; reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


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


def _positive_float(text: str) -> float:
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
        "--learning-rate", type=_positive_float, default=d.learning_rate, help="AdaGrad step size"
    )
    parser.add_argument("--batch-size", type=int, default=d.batch_size, help="B parallel streams")
    parser.add_argument(
        "--clip", type=_positive_float, default=d.clip, help="elementwise gradient clipping bound"
    )
    parser.add_argument("--seed", type=int, default=d.seed, help="seed of the random generator")
    parser.add_argument(
        "--sample-length", type=int, default=d.sample_length, help="characters sampled per epoch"
    )
    parser.add_argument(
        "--temperature", type=_positive_float, default=d.temperature, help="sampling temperature"
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


def _train(args: argparse.Namespace) -> int:
    text = read_corpus(args.corpus)
    trainer = Trainer(text, _config(args))
    print(format_header(text), flush=True)
    for result in trainer.train():
        print(format_epoch(result), flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        return int(_train(args))
    except (UsageError, ValueError, TypeError) as err:
        print(f"python -m rnn: error: {err}", file=sys.stderr)
        return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
