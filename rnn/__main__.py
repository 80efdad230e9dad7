"""Command-line interface: ``python -m rnn {train,sample,gradcheck,plot,grade}``.

Errors in what the user gave (a bad value, a missing file, a broken checkpoint) are
reported as one line on standard error with exit status 2, never as a traceback. Each
command first checks everything it was given and only then starts work, so a refused
command writes nothing and leaves an existing checkpoint as it was. A training run whose
loss becomes NaN or infinite, or whose checkpoint cannot be saved, stops with one line on
standard error and exit status 1; the previous checkpoint stays as it was. SIGINT (Ctrl-C)
and SIGTERM stop a training run before its next update and any command at once, with one
line and exit status 130 or 143. A run holds a lock on its checkpoint, so a second run on
the same file is refused with exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import signal
import stat
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from rnn import memory
from rnn.checkpoint import CheckpointInUse, CheckpointWriteError, atomic_write, checkpoint_lock
from rnn.checks import check_int, check_non_negative_number, check_text
from rnn.data import CORPORA, MAX_CORPUS_BYTES, Vocabulary, corpus
from rnn.model import RecurrentModel
from rnn.optim import OPTIMIZERS
from rnn.parallel import WorkerError
from rnn.training import (
    CELLS,
    EpochResult,
    Evaluation,
    Trainer,
    TrainingConfig,
    TrainingDiverged,
    TrainingInterrupted,
    format_epoch,
    format_evaluation,
    format_header,
)

__all__ = ["main"]

USAGE_ERROR = 2
FAILED = 1


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


def read_corpus(path: str | None, max_bytes: int = MAX_CORPUS_BYTES) -> str:
    """The text of ``path`` (UTF-8), of standard input for ``-``; a name of
    :data:`rnn.data.CORPORA` (``seed``, ``shakespeare``) or None is a corpus that ships
    with the package.

    A file whose name is one of those names is read as ``./NAME``. Only a regular file is
    opened: a device (``/dev/zero``) or a FIFO is refused after ``os.stat``, before
    anything reads it, and more than ``max_bytes`` bytes are refused without being held
    in memory.
    """
    if path is None or path in CORPORA:
        return corpus(path or "seed")
    with _user_input():
        check_int("max_corpus_bytes", max_bytes, minimum=1)
    limit = f"more than the limit of {max_bytes} bytes (--max-corpus-bytes)"
    if path == "-":
        data = _read_at_most(sys.stdin.buffer, max_bytes + 1)
        if len(data) > max_bytes:
            raise UsageError(f"the corpus on standard input has {limit}")
        return _decode_text(data, "corpus on standard input")
    return _read_text(path, "corpus", max_bytes, limit)


def _read_text(path: str, what: str, max_bytes: int, limit: str) -> str:
    """The UTF-8 text of the regular file ``path`` the user gave as ``what`` (``corpus``,
    ``priming file``), of at most ``max_bytes`` bytes, or a UsageError saying why not.

    A device or a FIFO is refused after ``os.stat``, before anything opens it; the bytes
    are read in chunks, so a file that grew past the limit is never held whole.
    """
    file = what if what.endswith("file") else f"{what} file"
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise UsageError(f"{file} {path!r} does not exist") from None
    except (OSError, ValueError) as err:  # the only ValueError stat() raises for a str path
        reason = err.strerror if isinstance(err, OSError) else "a path cannot hold a NUL character"
        raise UsageError(f"cannot read {file} {path!r}: {reason}") from None
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{what} {path!r} is a directory, not a text file")
    if not stat.S_ISREG(info.st_mode):
        stdin = ", or - to read standard input" if what == "corpus" else ""
        raise UsageError(
            f"{what} {path!r} is not a regular file (a device, a FIFO or a socket); "
            f"give a text file{stdin}"
        )
    if info.st_size > max_bytes:
        raise UsageError(f"{file} {path!r} has {info.st_size} bytes, {limit}")
    try:
        with open(path, "rb") as stream:
            data = _read_at_most(stream, max_bytes + 1)  # it may have grown since os.stat
    except OSError as err:
        raise UsageError(f"cannot read {file} {path!r}: {err.strerror}") from None
    if len(data) > max_bytes:
        raise UsageError(f"{file} {path!r} has {limit}")
    return _decode_text(data, f"{file} {path!r}")


def _read_at_most(stream: Any, limit: int) -> bytes:
    """Up to ``limit`` bytes of ``stream``, read in chunks: ``read(limit)`` would allocate
    ``limit`` bytes at once, however short the stream."""
    chunks, size = [], 0
    while size < limit:
        chunk = stream.read(min(2**20, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _decode_text(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UsageError(f"{what} is not UTF-8 text ({err.reason})") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every option's default, except for options whose default is "not given"."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False:
            return action.help or ""
        return super()._get_help_string(action) or ""


def _add_training_options(parser: argparse.ArgumentParser) -> None:
    d = TrainingConfig()
    parser.add_argument(
        "--corpus",
        metavar="NAME|PATH",
        default="seed",
        help=f"a corpus that ships with the package ({', '.join(CORPORA)}), a UTF-8 text "
        "file (write ./NAME for a file with one of those names), or - for standard input",
    )
    _add_max_corpus_bytes(parser)
    parser.add_argument("--cell", choices=sorted(CELLS), default=d.cell, help="the cell type")
    parser.add_argument("--hidden-size", type=int, default=d.hidden_size, help="H, hidden units")
    parser.add_argument(
        "--num-layers", type=int, default=d.num_layers, help="stacked recurrent layers"
    )
    parser.add_argument(
        "--sequence-length", type=int, default=d.sequence_length, help="T, characters per window"
    )
    parser.add_argument("--epochs", type=int, default=d.epochs, help="passes over the corpus")
    parser.add_argument(
        "--optimizer", default=d.optimizer, help=f"one of {', '.join(sorted(OPTIMIZERS))}"
    )
    parser.add_argument(
        "--learning-rate",
        type=_number,
        default=d.learning_rate,
        help="the optimizer's step size",
    )
    parser.add_argument("--beta1", type=_number, default=d.beta1, help="Adam's β₁")
    parser.add_argument("--beta2", type=_number, default=d.beta2, help="Adam's β₂")
    parser.add_argument("--alpha", type=_number, default=d.alpha, help="RMSprop's decay rate α")
    parser.add_argument(
        "--eps",
        type=_number,
        help="the optimizer's ε (default: 1e-12 for adagrad, 1e-8 for adam and rmsprop)",
    )
    parser.add_argument("--batch-size", type=int, default=d.batch_size, help="B parallel streams")
    parser.add_argument("--clip", type=_number, default=d.clip, help="gradient clipping bound")
    parser.add_argument(
        "--clip-mode",
        choices=("value", "norm"),
        default=d.clip_mode,
        help="clip every gradient entry to ±CLIP, or rescale all gradients to a global "
        "L2 norm ≤ CLIP",
    )
    parser.add_argument(
        "--loss-reduction",
        choices=("sum", "mean"),
        default=d.loss_reduction,
        help="the loss to descend: a window's loss summed over its steps, per stream (the "
        "seed's), or its mean per character (as in PyTorch; a gradient T times smaller)",
    )
    parser.add_argument(
        "--val-fraction",
        type=_number,
        default=d.val_fraction,
        help="the last fraction of the corpus, held out for validation",
    )
    parser.add_argument(
        "--eval-every",
        type=int,
        metavar="N",
        default=d.eval_every,
        help="updates between evaluations (with --val-fraction or --metrics)",
    )
    parser.add_argument("--seed", type=int, default=d.seed, help="seed of the random generator")
    parser.add_argument(
        "--init-scale",
        type=_number,
        default=d.init_scale,
        help="standard deviation of the initial weights (the biases start at 0)",
    )
    parser.add_argument(
        "--sample-length", type=int, default=d.sample_length, help="characters sampled per epoch"
    )
    parser.add_argument(
        "--temperature",
        type=_number,
        default=d.temperature,
        help="sampling temperature; 0 is greedy",
    )
    parser.add_argument(
        "--dtype", choices=("float64", "float32"), default=d.dtype, help="training precision"
    )


def _add_max_corpus_bytes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-corpus-bytes",
        metavar="N",
        type=int,
        default=MAX_CORPUS_BYTES,
        help=f"refuse a larger corpus (default: {MAX_CORPUS_BYTES}, 1 GiB)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m rnn``."""
    parser = _Parser(
        prog="python -m rnn",
        description="A gradient-verified character-level recurrent network.",
        formatter_class=_HelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    train = commands.add_parser(
        "train",
        formatter_class=_HelpFormatter,
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
    train.add_argument(
        "--time-limit",
        metavar="SECONDS",
        type=_number,
        help="stop at the first update after this many seconds, saving --checkpoint",
    )
    train.add_argument(
        "--metrics",
        metavar="PATH",
        help="write one CSV row per evaluation (update, epoch, elapsed_s, chars, train_loss, "
        "val_loss, val_bpc); appended to on --resume",
    )
    train.add_argument(
        "--best-checkpoint",
        metavar="PATH",
        help="save the run here whenever the validation loss is the lowest so far",
    )
    train.add_argument(
        "--workers",
        metavar="N",
        type=int,
        default=1,
        help="processes that share each window's --batch-size streams, one core and one "
        "BLAS thread each (at most the batch size); 1 trains in this process",
    )
    sample = commands.add_parser(
        "sample",
        formatter_class=_HelpFormatter,
        help="print text sampled from a trained model",
        description="Load a checkpoint written by 'train --checkpoint' and print the priming "
        "string followed by the characters the model generates after it.",
    )
    sample.add_argument("--checkpoint", metavar="PATH", required=True, help="the .npz file")
    priming = sample.add_mutually_exclusive_group()
    priming.add_argument(
        "--prime",
        metavar="STR",
        help="priming text in the model's vocabulary (default: the corpus's first character)",
    )
    priming.add_argument(
        "--prime-file", metavar="PATH", help="read the priming text from this UTF-8 file"
    )
    sample.add_argument("--length", type=int, default=250, help="characters to generate")
    sample.add_argument(
        "--temperature",
        type=_number,
        default=1.0,
        help="sampling temperature; 0 is greedy (always the most probable character)",
    )
    sample.add_argument("--seed", type=int, default=0, help="seed of the random generator")
    sample.add_argument(
        "--output", metavar="PATH", help="write the text to this file instead of printing it"
    )
    _add_gradcheck_command(commands)
    plot = commands.add_parser(
        "plot",
        formatter_class=_HelpFormatter,
        help="draw the loss curves of a metrics file (needs the plot extra)",
        description="Draw the training and validation loss of metrics files written by "
        "'train --metrics', against the characters seen and against time, into an image.",
    )
    plot.add_argument(
        "metrics", metavar="METRICS.csv", nargs="+", help="metrics files, drawn together"
    )
    plot.add_argument(
        "--output", metavar="PATH", default="curve.png", help="the image (.png, .svg, .pdf)"
    )
    _add_grade_command(commands)
    return parser


def _config(args: argparse.Namespace) -> TrainingConfig:
    return TrainingConfig(
        cell=args.cell,
        hidden_size=args.hidden_size,
        num_layers=args.num_layers,
        sequence_length=args.sequence_length,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        clip=args.clip,
        seed=args.seed,
        sample_length=args.sample_length,
        temperature=args.temperature,
        init_scale=args.init_scale,
        dtype=args.dtype,
        optimizer=args.optimizer,
        clip_mode=args.clip_mode,
        loss_reduction=args.loss_reduction,
        beta1=args.beta1,
        beta2=args.beta2,
        alpha=args.alpha,
        eps=args.eps,
        val_fraction=args.val_fraction,
        eval_every=args.eval_every,
    )


@dataclass(frozen=True)
class _TrainingRun:
    """A checked ``train`` command, ready to run."""

    trainer: Trainer
    run: Iterator[EpochResult | Evaluation]
    resumed: bool
    time_limit: float | None
    bar: _ProgressBar | None
    signals: list[int]


def _prepare_training(args: argparse.Namespace, held: contextlib.ExitStack) -> _TrainingRun:
    """Check every input of ``train`` and build its trainer; writes nothing but the lock
    files of its outputs, which ``held`` removes."""
    with _user_input():
        config = _config(args)
    text = read_corpus(args.corpus, args.max_corpus_bytes)
    path = args.checkpoint
    if path is None:
        if args.resume:
            raise UsageError("--resume needs --checkpoint PATH")
        if args.checkpoint_every is not None:
            raise UsageError("--checkpoint-every needs --checkpoint PATH")
    every = 1 if args.checkpoint_every is None else args.checkpoint_every
    with _user_input():
        check_int("checkpoint_every", every, minimum=1)
    if path is not None:
        _check_output_path(path, "checkpoint", args.resume, must_exist=args.resume)
    if args.best_checkpoint is not None:
        _check_output_path(args.best_checkpoint, "best checkpoint", args.resume)
    if args.metrics is not None:
        _check_output_path(args.metrics, "metrics file", args.resume)
    outputs = {
        "checkpoint": path,
        "best checkpoint": args.best_checkpoint,
        "metrics file": args.metrics,
    }
    for what, output in outputs.items():  # a second run on any of them is refused
        if output is not None:
            _lock(output, what, held)
    if not args.resume:
        with _user_input():
            trainer = Trainer(text, config)
    else:
        trainer = _resumed_trainer(path, config, text, args)
    bar = _ProgressBar() if _ProgressBar.wanted() else None
    received: list[int] = []  # the signals that arrived; _run_training records them
    with _user_input():
        run = trainer.train(
            path,
            every,
            time_limit=args.time_limit,
            metrics=args.metrics,
            best_checkpoint=args.best_checkpoint,
            should_stop=lambda: bool(received),
            on_update=bar,
            workers=args.workers,
        )
    return _TrainingRun(trainer, run, args.resume, args.time_limit, bar, received)


def _lock(path: str, what: str, held: contextlib.ExitStack) -> None:
    """Hold the lock of the run's output ``path`` (named ``what``) until ``held`` closes."""
    try:
        held.enter_context(checkpoint_lock(path, what))
    except CheckpointInUse as err:
        raise UsageError(str(err)) from None
    except OSError as err:
        raise UsageError(f"cannot lock {what} {path!r}: {err.strerror}") from None


def _resumed_trainer(
    path: str, config: TrainingConfig, text: str, args: argparse.Namespace
) -> Trainer:
    """The trainer saved in ``path``, checked against the command's options and corpus."""
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
    return trainer


def _check_output_path(path: str, what: str, resume: bool, must_exist: bool = False) -> None:
    """Check that ``path`` can be written (and, to resume, exists) without writing.

    A new run refuses to replace an existing file; a resumed run continues its files.
    """
    try:
        exists, is_dir = True, stat.S_ISDIR(os.stat(path).st_mode)
    except FileNotFoundError:
        exists, is_dir = False, False
    except (OSError, ValueError) as err:
        reason = err.strerror if isinstance(err, OSError) else "a path cannot hold a NUL character"
        raise UsageError(f"cannot use {what} path {path!r}: {reason}") from None
    if is_dir:
        raise UsageError(f"{what} {path!r} is a directory, not a file")
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise UsageError(f"the folder of {what} {path!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {what} {path!r}: its folder is not writable")
    if exists and not resume:
        raise UsageError(
            f"{what} {path!r} already exists; add --resume to continue it, or choose another path"
        )
    if must_exist and not exists:
        raise UsageError(f"{what} {path!r} does not exist, so there is nothing to resume")


class _ProgressBar:
    """Progress of a run on standard error: a tqdm bar over its characters (the rate in
    characters/s, the run's ETA), the epoch, the update and the last loss per character.

    The bar is made at the first update, so a command refused while its inputs are checked
    prints nothing but its one line.
    """

    def __init__(self) -> None:
        self.bar: Any = None

    @staticmethod
    def wanted() -> bool:
        """Whether standard error is a terminal and tqdm (the ``progress`` extra) is
        installed; pipes and logs get no bar."""
        if not sys.stderr.isatty():
            return False
        try:
            import tqdm  # noqa: F401
        except ImportError:
            return False
        return True

    def __call__(self, trainer: Trainer, loss: float) -> None:
        """The trainer's ``on_update``."""
        cfg = trainer.config
        chars = cfg.batch_size * cfg.sequence_length  # per update
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=cfg.epochs * trainer.windows_per_epoch * chars,
                initial=(trainer.updates - 1) * chars,
                unit="char",
                unit_scale=True,
                dynamic_ncols=True,
                leave=False,
            )
        self.bar.set_postfix_str(
            f"epoch {trainer.epoch + 1}/{cfg.epochs}, update {trainer.updates}, "
            f"loss/char {loss / cfg.sequence_length:.3f}",
            refresh=False,
        )
        self.bar.update(chars)

    def write(self, line: str) -> None:
        """Print a line of the log on standard output, above the bar."""
        if self.bar is None:
            print(line, flush=True)
        else:
            self.bar.write(line, file=sys.stdout)
            sys.stdout.flush()

    def close(self) -> None:
        """Remove the bar."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _run_training(job: _TrainingRun) -> int:
    """Train, printing the log (the header only for a new run); the trainer saves the
    checkpoints, the metrics and the best checkpoint.

    SIGINT and SIGTERM stop the run before the next update: one line says what the
    checkpoint holds, and the exit status is 128 + the signal's number (130, 143).
    """
    trainer = job.trainer
    if not job.resumed:
        print(format_header(trainer.text), flush=True)
    bar = job.bar or _ProgressBar()  # without a bar, it only prints
    with _deferred_signals(job.signals):
        try:
            for result in job.run:
                line = (
                    format_epoch(result)
                    if isinstance(result, EpochResult)
                    else format_evaluation(result)
                )
                bar.write(line)
        except TrainingInterrupted as err:
            bar.close()  # before the line on standard error
            name = signal.Signals(job.signals[0]).name
            print(f"python -m rnn: {name} received: {_one_line(str(err))}", file=sys.stderr)
            return 128 + job.signals[0]
        finally:
            bar.close()
    if trainer.epoch < trainer.config.epochs:
        print(
            f"Stopped at the time limit of {job.time_limit:g} s after update "
            f"{trainer.updates} (epoch {trainer.updates / trainer.windows_per_epoch:.2f}); "
            f"add --resume to continue",
            flush=True,
        )
    return 0


def _train(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as held:
        return _run_training(_prepare_training(args, held))


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Stopped(BaseException):
    """SIGINT or SIGTERM outside the training loop, or a second one inside it: stop now."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stop_now(signum: int, frame: object) -> None:
    raise _Stopped(signum)


def _deferred_signals(received: list[int]) -> contextlib.AbstractContextManager[None]:
    """Record SIGINT and SIGTERM in ``received`` instead of stopping at once; a second
    signal stops at once."""

    def defer(signum: int, frame: object) -> None:
        if received:
            raise _Stopped(signum)
        received.append(signum)

    return _handling_signals(defer)


@contextlib.contextmanager
def _handling_signals(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """``handler`` handles SIGINT and SIGTERM while the block runs, in the main thread;
    only it can set handlers, and a library caller in another thread keeps its own."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = [signal.signal(s, handler) for s in _STOP_SIGNALS]
    try:
        yield
    finally:
        for s, old in zip(_STOP_SIGNALS, previous, strict=True):
            signal.signal(s, old)


@dataclass(frozen=True)
class _Sampling:
    """A checked ``sample`` command, ready to run."""

    model: RecurrentModel
    vocab: Vocabulary
    prime: str
    length: int
    temperature: float
    seed: int
    output: str | None


def _prepare_sampling(args: argparse.Namespace) -> _Sampling:
    """Check every input of ``sample`` and load its model; writes nothing."""
    with _user_input():  # the library's own rules, checked before the file is read
        check_int("length", args.length, minimum=0)
        check_non_negative_number("temperature", args.temperature)  # 0 is greedy
        check_int("seed", args.seed, minimum=0)
        if args.prime is not None:
            check_text("prime", args.prime)
    prime = args.prime
    if args.prime_file is not None:
        limit = f"more than the limit of {MAX_CORPUS_BYTES} bytes"
        prime = _read_text(args.prime_file, "priming file", MAX_CORPUS_BYTES, limit)
        if not prime:
            raise UsageError(f"priming file {args.prime_file!r} is empty")
    if args.output is not None:
        _check_output_path(args.output, "output file", resume=True)
    with _user_input():
        trainer = Trainer.load(args.checkpoint)
        prime = trainer.text[0] if prime is None else prime
        trainer.vocab.encode(prime)
    unprintable = [c for c in trainer.vocab.chars if "\ud800" <= c <= "\udfff"]
    if unprintable:
        raise UsageError(
            f"checkpoint {args.checkpoint!r} has the lone surrogate U+{ord(unprintable[0]):04X} "
            f"in its vocabulary, which no text output can encode"
        )
    with _user_input():  # the priming text's forward pass, before it is allocated
        memory.check_call(trainer.model, (len(prime), 1))
    return _Sampling(
        trainer.model, trainer.vocab, prime, args.length, args.temperature, args.seed, args.output
    )


def _run_sampling(job: _Sampling) -> int:
    """Print the priming string and the generated text, or write them to the output file,
    each character as it comes."""
    rng = np.random.default_rng(job.seed)
    characters = itertools.islice(
        job.model.generate(job.vocab, rng, job.prime, job.temperature), job.length
    )
    if job.output is None:
        sys.stdout.write(job.prime)
        for char in characters:
            sys.stdout.write(char)
        sys.stdout.write("\n")
        sys.stdout.flush()
    else:
        with atomic_write(job.output) as file:
            file.write(job.prime.encode("utf-8"))
            for char in characters:
                file.write(char.encode("utf-8"))
            file.write(b"\n")
    return 0


def _sample(args: argparse.Namespace) -> int:
    return _run_sampling(_prepare_sampling(args))


def _plot(args: argparse.Namespace) -> int:
    """Check the metrics file and the output, then draw the curves."""
    from rnn.metrics import read_metrics

    runs = {}
    for path in args.metrics:
        with _user_input():
            rows = read_metrics(path)
        if not rows:
            raise UsageError(f"metrics file {path!r} has no rows to plot")
        runs[path if Path(path).stem in runs else Path(path).stem] = rows
    _check_output_path(args.output, "output file", resume=True)
    try:
        from rnn.plot import plot_metrics
    except ImportError:
        raise UsageError(
            "plot needs matplotlib, which is not installed; "
            "install it with pip install 'rnn-reference[plot]'"
        ) from None
    with _user_input():
        plot_metrics(runs, args.output)
    return 0


def _add_gradcheck_command(commands: argparse._SubParsersAction[Any]) -> None:
    from verification import METHODS

    check = commands.add_parser(
        "gradcheck",
        formatter_class=_HelpFormatter,
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
    _add_max_corpus_bytes(check)
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
        text = read_corpus(args.corpus, args.max_corpus_bytes)
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


def _add_grade_command(commands: argparse._SubParsersAction[Any]) -> None:
    from verification.grade import DEFAULT_TIMEOUT, LAYOUTS

    grade = commands.add_parser(
        "grade",
        formatter_class=_HelpFormatter,
        help="grade the backward pass in your own Python file and name the mistake",
        description="Call the functions of a student's Python file on generated cases, "
        "compare the loss and every gradient with this package's exact ones, check the "
        "gradients against central differences of the student's own loss, and name the "
        "known mistake a wrong gradient shows. Exit status 0 when every check passes, 1 "
        "when one fails, 2 when the file cannot be graded.",
    )
    grade.add_argument("target", metavar="PATH.py[:NAME]", help="the file, and its function")
    grade.add_argument("--layout", choices=LAYOUTS, required=True, help="how it is written")
    grade.add_argument("--cell", choices=sorted(CELLS), default="rnn", help="the cell type")
    grade.add_argument("--examples", type=int, default=5, metavar="N", help="generated cases")
    grade.add_argument("--seed", type=int, default=0, help="seed of the cases")
    grade.add_argument(
        "--timeout",
        type=_number,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="how long each call of the student's code may take",
    )


def _grade(args: argparse.Namespace) -> int:
    """Print the grade's report; 0 if every check passed, 1 if one failed."""
    from verification.grade import GradingError, grade

    try:
        report = grade(
            args.target,
            layout=args.layout,
            cell=args.cell,
            examples=args.examples,
            seed=args.seed,
            timeout=args.timeout,
        )
    except GradingError as err:
        raise UsageError(str(err)) from None
    print(report, flush=True)
    return 0 if report.passed else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    0 on success; 2 for a bad command line or input, reported in one line on standard
    error; 1 if the training loss became NaN or infinite, a checkpoint could not be
    saved or a worker process ended; 128 + the signal's number (130, 143) after SIGINT or SIGTERM.
    """
    try:
        with _handling_signals(_stop_now):  # no traceback, temporary files removed
            parser = build_parser()
            args = parser.parse_args(argv)
            if args.command is None:  # the same as --help: the usage and the commands
                parser.parse_args(["--help"])
            if args.command == "plot":
                return _plot(args)
            if args.command == "sample":
                return _sample(args)
            if args.command == "gradcheck":
                return _gradcheck(args)
            if args.command == "grade":
                return _grade(args)
            return _train(args)
    except UsageError as err:
        print(f"python -m rnn: error: {_one_line(str(err))}", file=sys.stderr)
        return USAGE_ERROR
    except (TrainingDiverged, CheckpointWriteError, WorkerError) as err:
        print(f"python -m rnn: training stopped: {_one_line(str(err))}", file=sys.stderr)
        return FAILED
    except _Stopped as stop:
        name = signal.Signals(stop.signum).name
        print(f"python -m rnn: {name} received: stopped", file=sys.stderr)
        return 128 + stop.signum


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
