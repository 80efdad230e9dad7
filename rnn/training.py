"""Training: windows over the corpus, the hidden state carried between them, a log per epoch.

The loop follows the seed. Each epoch starts from a zero state, walks the corpus in
non-overlapping windows of ``sequence_length`` characters (the targets are the inputs
shifted by one), carries the hidden state from window to window, applies one optimizer
step per window, then draws a sample. With ``batch_size`` B > 1 the corpus is cut into B
contiguous streams that advance side by side, each with its own hidden state, as in
char-rnn; B = 1 is the seed's single stream.

On real text the last ``val_fraction`` of the corpus is held out, as nanoGPT and char-rnn
do, and every ``eval_every`` updates the run is evaluated on it: the loss per character
in nats and in bits. :meth:`Trainer.train` can write each evaluation to a metrics file
(:mod:`rnn.metrics`), keep the checkpoint of the best validation loss, and stop at a
time limit.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rnn import fast, memory
from rnn.checkpoint import (
    Checkpoint,
    CheckpointError,
    CheckpointWriteError,
    load_checkpoint,
    save_checkpoint,
)
from rnn.checks import (
    check_fraction,
    check_int,
    check_non_negative_number,
    check_positive_number,
)
from rnn.data import Vocabulary
from rnn.gru import GRU
from rnn.lstm import LSTM
from rnn.metrics import MetricsFile, MetricsRow
from rnn.model import RNN, RecurrentModel, State
from rnn.optim import OPTIMIZERS, Optimizer
from rnn.parallel import StreamPool, WorkerError

__all__ = [
    "CELLS",
    "EpochResult",
    "Evaluation",
    "Trainer",
    "TrainingConfig",
    "TrainingDiverged",
    "TrainingInterrupted",
    "checkpoint_layout",
    "format_epoch",
    "format_evaluation",
    "format_header",
]

CELLS: dict[str, type[RecurrentModel]] = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
"""The cells that ``--cell`` can name."""


@dataclass(frozen=True)
class TrainingConfig:
    """Hyperparameters of a training run; the defaults are the default training run's.

    Parameters
    ----------
    cell : str
        A key of :data:`CELLS`.
    hidden_size : int
        H ≥ 1; the seed's 100.
    num_layers : int
        Stacked recurrent layers, ≥ 1; the seed's 1.
    sequence_length : int
        T ≥ 1, the characters per window; the seed's 10.
    epochs : int
        Passes over the corpus, ≥ 1; the seed's 100.
    learning_rate : float
        The optimizer's step size, finite and > 0. The default 0.04 is below the seed's 0.1:
        the exact gradient is larger than the seed's truncated one, and with it 0.1
        stalls on some seeds while 0.04 trained all 16 seeds we measured
        (``benchmarks/learning_rate_sweep.py``; see the training page).
    batch_size : int
        B ≥ 1 streams trained side by side.
    clip : float or None
        Clipping bound (the seed's 1.0), applied as ``clip_mode`` says; None disables it.
    loss_reduction : str
        Which loss of a window the optimizer descends. ``"sum"``: the loss (5) summed over
        the window's T steps and averaged over its B streams, the seed's loss at B = 1.
        ``"mean"``: the mean over the window's T·B characters, what PyTorch's
        ``cross_entropy`` takes by default; its gradient is the sum's divided by T. Only
        the gradient changes: the losses reported are the same either way.
    seed : int
        Seed of the one random generator that draws the initial weights and the samples.
    sample_length : int
        Characters sampled after each epoch, ≥ 0; the seed's 250.
    temperature : float
        Sampling temperature, finite and ≥ 0; 0 is greedy.
    init_scale : float
        Standard deviation of the initial weights.
    dtype : str
        ``"float64"`` or ``"float32"``.
    optimizer : str
        A key of :data:`rnn.optim.OPTIMIZERS`: ``"adagrad"`` (the seed's), ``"sgd"``,
        ``"adam"`` or ``"rmsprop"``.
    clip_mode : str
        ``"value"``: every gradient entry is clipped to ``[-clip, clip]``, as in the seed;
        ``"norm"``: all gradients are rescaled together to a global L2 norm ≤ ``clip``.
    beta1, beta2 : float
        Adam's moment decay rates, each in [0, 1); PyTorch's 0.9 and 0.999.
    alpha : float
        RMSprop's decay rate, in [0, 1); PyTorch's 0.99.
    eps : float or None
        The optimizer's ε, finite and > 0; None is the optimizer's own default (1e-12 for
        AdaGrad as in the seed, 1e-8 for Adam and RMSprop as in PyTorch).
    val_fraction : float
        The fraction of the corpus, at its end, held out for validation, in [0, 1); 0 (no
        validation) by default.
    eval_every : int
        Updates between evaluations, ≥ 1.
    """

    cell: str = "rnn"
    hidden_size: int = 100
    num_layers: int = 1
    sequence_length: int = 10
    epochs: int = 100
    learning_rate: float = 0.04
    batch_size: int = 1
    clip: float | None = 1.0
    loss_reduction: str = "sum"
    seed: int = 0
    sample_length: int = 250
    temperature: float = 1.0
    init_scale: float = 0.01
    dtype: str = "float64"
    optimizer: str = "adagrad"
    clip_mode: str = "value"
    beta1: float = 0.9
    beta2: float = 0.999
    alpha: float = 0.99
    eps: float | None = None
    val_fraction: float = 0.0
    eval_every: int = 100

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {self.cell!r}")
        for name in (
            "hidden_size",
            "num_layers",
            "sequence_length",
            "epochs",
            "batch_size",
            "eval_every",
        ):
            check_int(name, getattr(self, name), minimum=1)
        for name in ("sample_length", "seed"):
            check_int(name, getattr(self, name), minimum=0)
        for name in ("learning_rate", "clip"):
            if not (name == "clip" and self.clip is None):
                check_positive_number(name, getattr(self, name))
        check_non_negative_number("temperature", self.temperature)  # 0 samples greedily
        check_fraction("val_fraction", self.val_fraction)
        if not (isinstance(self.init_scale, (int, float)) and math.isfinite(self.init_scale)):
            raise ValueError(f"init_scale must be a finite number, got {self.init_scale!r}")
        if self.init_scale < 0:
            raise ValueError(f"init_scale must be ≥ 0, got {self.init_scale}")
        if self.dtype not in ("float64", "float32"):
            raise ValueError(f"dtype must be 'float64' or 'float32', got {self.dtype!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {sorted(OPTIMIZERS)}, got {self.optimizer!r}"
            )
        if self.clip_mode not in ("value", "norm"):
            raise ValueError(f"clip_mode must be 'value' or 'norm', got {self.clip_mode!r}")
        if self.loss_reduction not in ("sum", "mean"):
            raise ValueError(
                f"loss_reduction must be 'sum' or 'mean', got {self.loss_reduction!r}"
            )
        if self.eps is not None and self.optimizer == "sgd":
            raise ValueError("eps applies to adagrad, adam and rmsprop, not to sgd")
        self.make_optimizer()  # the optimizer checks its own settings

    def make_optimizer(self) -> Optimizer:
        """A new optimizer with this run's settings.

        Raises
        ------
        TypeError, ValueError
            If a setting of the optimizer is not allowed (a β outside [0, 1), ...).
        """
        settings: dict[str, Any] = {
            "clip": self.clip if self.clip_mode == "value" else None,
            "clip_norm": self.clip if self.clip_mode == "norm" else None,
        }
        if self.optimizer == "adam":
            settings.update(beta1=self.beta1, beta2=self.beta2)
        if self.optimizer == "rmsprop":
            settings.update(alpha=self.alpha)
        if self.eps is not None:
            settings.update(eps=self.eps)
        return OPTIMIZERS[self.optimizer](self.learning_rate, **settings)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return asdict(self)


def checkpoint_layout(
    cell: str, config: Mapping[str, Any], vocab_size: int
) -> dict[str, tuple[tuple[int, ...], np.dtype[Any]]]:
    """The array entries a checkpoint of ``cell``, ``config`` and ``vocab_size`` holds.

    :func:`~rnn.checkpoint.load_checkpoint` compares every array's header with this
    before it reads the array, so a checkpoint cannot make the loader allocate more than
    the sizes it declares need, and hyperparameters that disagree with the parameters
    are refused before any model is built.

    Parameters
    ----------
    cell : str
        The stored cell type.
    config : mapping
        The stored hyperparameters, ``TrainingConfig.to_dict()``.
    vocab_size : int
        V, the size of the stored vocabulary.

    Returns
    -------
    dict of str to (shape, dtype)
        For every ``params/<name>``, ``optimizer/<key>`` (the keys of the configured
        optimizer's :meth:`~rnn.optim.Optimizer.state_dict`) and ``state/<i>`` entry.

    Raises
    ------
    ValueError, TypeError
        If the cell is unknown, or the hyperparameters are unknown, invalid or name
        another cell.
    """
    if cell not in CELLS:
        raise ValueError(f"the cell type {cell!r} is not one of {sorted(CELLS)}")
    unknown = set(config) - {f.name for f in fields(TrainingConfig)}
    if unknown:
        raise ValueError(f"unknown hyperparameters {sorted(unknown)}")
    cfg = TrainingConfig(**config)
    if cfg.cell != cell:
        raise ValueError(f"the hyperparameters name cell {cfg.cell!r}, not {cell!r}")
    model = CELLS[cell]
    dtype = np.dtype(cfg.dtype)
    shapes = model.param_shapes(vocab_size, cfg.hidden_size, cfg.num_layers)
    layout = {f"params/{name}": (shape, dtype) for name, shape in shapes.items()}
    for key in cfg.make_optimizer().state_keys(shapes):  # "W" (AdaGrad), "m/W", "step"
        if key == "step":  # Adam's count of updates
            layout["optimizer/step"] = ((), np.dtype(np.int64))
        else:
            layout[f"optimizer/{key}"] = (shapes[key.rpartition("/")[2]], dtype)
    tiny = model.random(1, 1, np.random.default_rng(0), num_layers=cfg.num_layers)
    template = _flatten_state(tiny.initial_state(1))  # as a checkpoint stores it
    parts = len(template) if isinstance(template, tuple) else 1
    for i in range(parts):
        layout[f"state/{i}"] = ((cfg.batch_size, cfg.hidden_size), dtype)
    return layout


class TrainingInterrupted(Exception):
    """Training was asked to stop (a signal, a time limit) and stopped between two updates.

    Parameters
    ----------
    message : str
        Names the epoch and the window that were about to run.
    epoch : int
        The 1-based epoch under way.
    window : int
        The 1-based window of that epoch that did not run.
    """

    def __init__(self, message: str, epoch: int, window: int) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.window = window


class TrainingDiverged(FloatingPointError):
    """The loss, a parameter or the sampler's state became NaN or infinite; training stopped.

    Nothing is saved after the fault, so a checkpoint file keeps the last good epoch.

    Parameters
    ----------
    message : str
        Names the epoch and the window where it happened.
    epoch : int
        The 1-based epoch under way.
    window : int
        The 1-based window of that epoch.
    """

    def __init__(self, message: str, epoch: int, window: int) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.window = window


@dataclass(frozen=True)
class EpochResult:
    """What one epoch produced.

    Attributes
    ----------
    epoch : int
        1-based epoch number.
    epochs : int
        Total epochs of the run.
    loss : float
        Mean over the epoch's windows of each window's summed loss (per stream).
    sample : str
        Text sampled after the epoch.
    """

    epoch: int
    epochs: int
    loss: float
    sample: str


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of the run: what a row of the metrics file holds.

    Attributes
    ----------
    update : int
        Optimizer steps taken so far.
    epoch : float
        ``update`` in epochs.
    elapsed_s : float
        Seconds of training so far, over every session of the run.
    chars : int
        Training characters seen, ``update · B · T``.
    train_loss : float
        Mean training loss per character since the previous evaluation, in nats.
    val_loss : float or None
        Loss per character on the validation part, in nats; None without one.
    best : bool
        Whether ``val_loss`` is the lowest so far.
    """

    update: int
    epoch: float
    elapsed_s: float
    chars: int
    train_loss: float
    val_loss: float | None
    best: bool

    @property
    def val_bpc(self) -> float | None:
        """The validation loss in bits per character, ``val_loss / ln 2``."""
        return None if self.val_loss is None else self.val_loss / math.log(2)

    def row(self, run: str) -> MetricsRow:
        """The evaluation as a row of the metrics file of run ``run``."""
        columns = {f.name: getattr(self, f.name) for f in fields(MetricsRow) if f.name != "run"}
        return MetricsRow(run=run, **columns)


@dataclass
class Trainer:
    """Train a character-level model on a text, epoch by epoch.

    Parameters
    ----------
    text : str
        The training corpus.
    config : TrainingConfig, optional
        Hyperparameters; the defaults are the default training run's.

    Attributes
    ----------
    vocab : Vocabulary
        Sorted distinct characters of ``text``.
    model : RecurrentModel
        The model being trained, initialised from ``config.seed``.
    optimizer : Optimizer
        The optimizer of ``config.optimizer``, with the model's parameters as its targets.
    rng : numpy.random.Generator
        The run's only random generator.
    epoch : int
        Epochs completed so far.
    losses : list of float
        The loss of each completed epoch.
    position : int
        Windows completed in the epoch under way.
    state : None, ndarray or tuple of ndarray
        The recurrent state carried into the next window of the epoch under way; None
        (zeros) at the start of an epoch.
    epoch_loss : float
        Sum of the per-stream losses of the windows completed in the epoch under way.
    elapsed : float
        Seconds spent in :meth:`train` so far, over every session of the run.
    interval_loss : float
        Sum of the per-stream losses of the windows since the last evaluation.
    best_val_loss : float or None
        The lowest validation loss per character so far.

    Raises
    ------
    TypeError
        If ``text`` is not a str.
    ValueError
        If the text is empty or has fewer than 2 distinct characters, its training part
        is shorter than ``batch_size * sequence_length + 1`` characters, or its
        validation part (if any) is shorter than ``sequence_length + 1``.

    Examples
    --------
    >>> trainer = Trainer("abcabcabcabc", TrainingConfig(hidden_size=4, sequence_length=3,
    ...                   epochs=2, sample_length=5))
    >>> [len(r.sample) for r in trainer.train()]
    [5, 5]

    Save the run with :meth:`save`; :meth:`load` continues it exactly, in any process.
    """

    text: str
    config: TrainingConfig = field(default_factory=TrainingConfig)
    vocab: Vocabulary = field(init=False)
    data: NDArray[np.unsignedinteger[Any]] = field(init=False, repr=False)
    model: RecurrentModel = field(init=False, repr=False)
    optimizer: Optimizer = field(init=False, repr=False)
    rng: np.random.Generator = field(init=False, repr=False)
    epoch: int = field(init=False, default=0)
    losses: list[float] = field(init=False, default_factory=list)
    position: int = field(init=False, default=0)
    state: State = field(init=False, default=None, repr=False)
    epoch_loss: float = field(init=False, default=0.0)
    elapsed: float = field(init=False, default=0.0)
    interval_loss: float = field(init=False, default=0.0)
    best_val_loss: float | None = field(init=False, default=None)
    _pool: StreamPool | None = field(init=False, default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        cfg = self.config
        if not isinstance(self.text, str):
            raise TypeError(f"text must be a str, got {type(self.text).__name__}")
        if not self.text:
            raise ValueError("the corpus is empty")
        self.vocab = Vocabulary.from_text(self.text)
        if len(self.vocab) < 2:
            raise ValueError(
                f"the corpus must have at least 2 distinct characters, "
                f"got 1 ({self.vocab.chars[0]!r})"
            )
        n, n_train = len(self.text), _training_length(len(self.text), cfg.val_fraction)
        needed = cfg.batch_size * cfg.sequence_length + 1
        part = "corpus" if n_train == n else f"training part ({1 - cfg.val_fraction:g})"
        if n_train < needed:
            raise ValueError(
                f"the {part} has {n_train} characters, fewer than "
                f"batch_size * sequence_length + 1 = {needed}"
            )
        if n_train < n and n - n_train < cfg.sequence_length + 1:
            raise ValueError(
                f"the validation part ({cfg.val_fraction:g}) has {n - n_train} characters, "
                f"fewer than sequence_length + 1 = {cfg.sequence_length + 1}"
            )
        shapes = CELLS[cfg.cell].param_shapes(len(self.vocab), cfg.hidden_size, cfg.num_layers)
        peak = memory.training_peak(
            cfg.cell,
            shapes,
            cfg.sequence_length,
            cfg.batch_size,
            np.dtype(cfg.dtype).itemsize,
            len(self.text),
            optimizer_slots=len(cfg.make_optimizer().slot_names),
            layers=cfg.num_layers,
        )
        memory.check_fits(
            f"training hidden_size={cfg.hidden_size} with vocab_size={len(self.vocab)}, "
            f"T={cfg.sequence_length}, B={cfg.batch_size} in {cfg.dtype}",
            peak,
        )
        self.data = self.vocab.encode_corpus(self.text)
        self.rng = np.random.default_rng(cfg.seed)
        self.model = CELLS[cfg.cell].random(
            len(self.vocab),
            cfg.hidden_size,
            self.rng,
            num_layers=cfg.num_layers,
            scale=cfg.init_scale,
            dtype=cfg.dtype,
        )
        self.optimizer = cfg.make_optimizer()

    @property
    def train_data(self) -> NDArray[np.unsignedinteger[Any]]:
        """The training part of the corpus as indices: all but the last ``val_fraction``."""
        return self.data[: _training_length(len(self.data), self.config.val_fraction)]

    @property
    def val_data(self) -> NDArray[np.unsignedinteger[Any]]:
        """The validation part: the last ``val_fraction`` of the corpus (maybe empty)."""
        return self.data[_training_length(len(self.data), self.config.val_fraction) :]

    @property
    def updates(self) -> int:
        """Optimizer steps taken so far, ``epoch · windows_per_epoch + position``."""
        return self.epoch * self.windows_per_epoch + self.position

    @property
    def run_id(self) -> str:
        """A short digest of the hyperparameters (but the epoch count) and the corpus.

        Training is deterministic, so these identify the run: the metrics file of a run
        carries it in every row, and resuming refuses a file of another run.
        """
        config = {k: v for k, v in self.config.to_dict().items() if k != "epochs"}
        if config["loss_reduction"] == "sum":  # the default, and the only loss at first:
            del config["loss_reduction"]  # runs saved before the choice keep their id
        digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
        digest.update(json.dumps(self.vocab.chars).encode())
        digest.update(np.ascontiguousarray(self.data).data)
        return digest.hexdigest()[:16]

    def windows(
        self,
    ) -> Iterator[tuple[NDArray[np.unsignedinteger[Any]], NDArray[np.unsignedinteger[Any]]]]:
        """The epoch's (inputs, targets) windows, each of shape (T, B), in order.

        The training part of N characters gives B streams of ``L = (N - 1) // B`` steps; stream
        b reads characters ``b L .. (b + 1) L``. Each stream yields ``L // T`` windows; the
        characters past the last full window are not used.
        """
        for i in range(self.windows_per_epoch):
            yield self._window(i)

    @property
    def windows_per_epoch(self) -> int:
        """The number of windows in an epoch, ``((N - 1) // B) // T``."""
        B = self.config.batch_size
        return ((len(self.train_data) - 1) // B) // self.config.sequence_length

    def _window(
        self, i: int
    ) -> tuple[NDArray[np.unsignedinteger[Any]], NDArray[np.unsignedinteger[Any]]]:
        return _stream_window(
            self.train_data, self.config.batch_size, self.config.sequence_length, i
        )

    def step(self) -> float:
        """Train on the next window of the epoch under way; returns its loss per stream.

        Returns
        -------
        float
            The window's summed loss (5) divided by B.

        Raises
        ------
        RuntimeError
            If the epoch's windows are all done; :meth:`run_epoch` then finishes it.
        TrainingDiverged
            If the loss or, after the update, a parameter is NaN or infinite. A non-finite
            loss is caught before the update, so the parameters stay as they were.
        """
        cfg, n = self.config, self.windows_per_epoch
        if self.position >= n:
            raise RuntimeError(f"all {n} windows of the epoch are done; call run_epoch()")
        x, y = self._window(self.position)
        # the fast path: the reference's math rearranged for speed, tested equal to it; in
        # train(workers=n), the streams shared among n processes, their sums added
        compute = fast.loss_and_gradients if self._pool is None else self._pool.loss_and_gradients
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # checked below
            loss, grads, state = compute(self.model, x, y, self.state)
        where = f"in epoch {self.epoch + 1}, window {self.position + 1} of {n}"
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"the loss became {loss} {where}", self.epoch + 1, self.position + 1
            )
        # the gradient of the loss the optimizer descends: per stream, or per character
        per = cfg.batch_size * (cfg.sequence_length if cfg.loss_reduction == "mean" else 1)
        if per > 1:
            grads = {k: g / per for k, g in grads.items()}
        with np.errstate(over="ignore", invalid="ignore"):  # checked below
            self.optimizer.step(self.model.params, grads)
        bad = [k for k, p in self.model.params.items() if not np.all(np.isfinite(p))]
        if bad:
            raise TrainingDiverged(
                f"parameter {bad[0]} became NaN or infinite {where} "
                f"(is the learning rate {cfg.learning_rate} too large?)",
                self.epoch + 1,
                self.position + 1,
            )
        self.state = state
        self.epoch_loss += loss / cfg.batch_size
        self.interval_loss += loss / cfg.batch_size
        self.position += 1
        return loss / cfg.batch_size

    def validation_loss(self) -> float:
        """The model's loss per character on the validation part, in nats.

        The validation part is cut into B streams, or fewer if it is short, read in windows
        of T characters with the state carried between them from zeros, like an epoch of
        training; every character but the first is predicted once.

        Raises
        ------
        ValueError
            If the run has no validation part (``val_fraction`` is 0).
        """
        data, T = self.val_data, self.config.sequence_length
        if not data.size:
            raise ValueError("the run has no validation part (val_fraction is 0)")
        B = max(1, min(self.config.batch_size, (len(data) - 1) // T))
        L = (len(data) - 1) // B  # steps per stream; the last window may be shorter
        pool = self._pool
        if pool is not None and pool.workers <= B:  # each worker reads its streams' windows
            x, y = _stream_window(data, B, L, 0)  # all L steps
            total, _ = pool.loss(self.model, x, y, window=T)
            return total / (B * L)
        total, state = 0.0, None
        for i in range(-(-L // T)):
            x, y = _stream_window(data, B, T, i)
            # the fast path's forward half, tested equal to the model's own loss (5)
            loss, state = fast.loss(self.model, x, y, state)
            total += loss  # eq. (5), summed over the streams
        return total / (B * L)

    def run_epoch(self, should_stop: Callable[[], bool] | None = None) -> EpochResult:
        """Train the rest of the epoch under way (all of it, unless it was resumed midway),
        then sample; returns the epoch's result.

        Parameters
        ----------
        should_stop : callable, optional
            Asked before every update; when it returns True the epoch stops there.

        Raises
        ------
        TrainingDiverged
            As :meth:`step`.
        TrainingInterrupted
            If ``should_stop`` returned True; the trainer is left between two updates.
        """
        while self.position < self.windows_per_epoch:
            if should_stop is not None and should_stop():
                raise self._interruption()
            self.step()
        return self._end_epoch()

    def _interruption(self) -> TrainingInterrupted:
        """The stop before the next update, naming it."""
        return TrainingInterrupted(
            f"stopped before window {self.position + 1} of "
            f"{self.windows_per_epoch} in epoch {self.epoch + 1}",
            self.epoch + 1,
            self.position + 1,
        )

    def _end_epoch(self) -> EpochResult:
        """Sample after the epoch's last window and start the next epoch."""
        cfg = self.config
        with np.errstate(over="ignore", invalid="ignore"):
            try:
                sample = self.model.sample(
                    self.vocab, self.rng, self.text[0], cfg.sample_length, cfg.temperature
                )
            except ValueError:  # the sampler's state overflowed to NaN: the weights are huge
                raise TrainingDiverged(
                    f"the hidden state became NaN or infinite while sampling after epoch "
                    f"{self.epoch + 1} (is the learning rate {cfg.learning_rate} too large?)",
                    self.epoch + 1,
                    self.position,
                ) from None
        mean = self.epoch_loss / self.position
        self.epoch += 1
        self.losses.append(mean)
        self.position, self.state, self.epoch_loss = 0, None, 0.0
        return EpochResult(self.epoch, cfg.epochs, mean, sample)

    def train(
        self,
        checkpoint: str | os.PathLike[str] | None = None,
        checkpoint_every: int = 1,
        *,
        should_stop: Callable[[], bool] | None = None,
        time_limit: float | None = None,
        metrics: str | os.PathLike[str] | None = None,
        best_checkpoint: str | os.PathLike[str] | None = None,
        on_update: Callable[[Trainer, float], None] | None = None,
        workers: int = 1,
    ) -> Iterator[EpochResult | Evaluation]:
        """Run the remaining epochs, yielding each evaluation and each epoch's result.

        The arguments are checked here, before anything is written or trained; the work
        happens as the returned iterator is consumed.

        Parameters
        ----------
        checkpoint : str or path-like, optional
            Save the run there (see :meth:`save`) after every ``checkpoint_every``-th
            epoch, after the last, and when the time limit stops the run, each time before
            yielding the epoch's result.
        checkpoint_every : int, optional
            Epochs between checkpoints, ≥ 1.
        time_limit : float, optional
            Seconds, finite and > 0: stop after the first update that ends past the limit
            (saving the checkpoint, if one is asked for). The run continues with
            :meth:`load` and :meth:`train`.
        metrics : str or path-like, optional
            A CSV file (:mod:`rnn.metrics`) that gets one row per evaluation; a resumed
            run appends to its own file and refuses another run's.
        best_checkpoint : str or path-like, optional
            Save the run there, atomically, whenever the validation loss is the lowest so
            far. Needs a validation part.
        should_stop : callable, optional
            Asked before every update; when it returns True the run stops there, raising
            :class:`TrainingInterrupted` (a signal handler sets it).
        on_update : callable, optional
            Called as ``on_update(trainer, loss)`` after every update, for progress.
        workers : int, optional
            Processes that share each window's B streams (:class:`rnn.parallel.StreamPool`),
            1 ≤ workers ≤ B, each with one BLAS thread; 1 (the default) computes in this
            process. The gradients are the same sums added in another order: the run
            differs from a run with another worker count only by rounding, and it keeps
            its :attr:`run_id`. The workers start when the iterator starts and end with it.

        Yields
        ------
        Evaluation
            Every ``eval_every`` updates, when the run has a validation part or a
            metrics file.
        EpochResult
            After every epoch.

        Raises
        ------
        TypeError, ValueError
            At the call, if an argument is not allowed, or the metrics file is not a
            metrics CSV, belongs to another run, or cannot be written.
        TrainingDiverged
            While iterating, if the loss or a parameter becomes NaN or infinite. The
            message names the epoch and the window; the checkpoint file keeps the last
            good epoch.
        TrainingInterrupted
            While iterating, if ``should_stop`` returned True. The message says what the
            checkpoint holds.
        WorkerError
            (a ``RuntimeError``) While iterating, if a worker process ended; the message
            says which epoch the checkpoint holds.
        CheckpointWriteError
            (an ``OSError``) While iterating, if a save of the checkpoint or the best
            checkpoint fails; the previous file stays as it was, and the message says
            which epoch the checkpoint holds.
        """
        check_int("checkpoint_every", checkpoint_every, minimum=1)
        if time_limit is not None:
            check_positive_number("time_limit", time_limit)
        if best_checkpoint is not None and not self.val_data.size:
            raise ValueError("best_checkpoint needs a validation part (val_fraction > 0)")
        check_int("workers", workers, minimum=1)
        if workers > self.config.batch_size:
            raise ValueError(
                f"workers must be ≤ batch_size = {self.config.batch_size}, got {workers}: "
                f"each worker takes at least one stream"
            )
        log = None if metrics is None else MetricsFile.check(metrics, self.run_id, self.updates)
        loop = self._train(
            checkpoint, checkpoint_every, time_limit, log, best_checkpoint, should_stop, on_update
        )
        return loop if workers == 1 else self._with_workers(loop, workers)

    def _with_workers(
        self, loop: Iterator[EpochResult | Evaluation], workers: int
    ) -> Iterator[EpochResult | Evaluation]:
        """``loop`` run with a pool of ``workers`` processes, ended when the loop ends."""
        with StreamPool(self.model, workers) as pool:
            self._pool = pool
            try:
                yield from loop
            finally:
                self._pool = None

    def _train(
        self,
        checkpoint: str | os.PathLike[str] | None,
        checkpoint_every: int,
        time_limit: float | None,
        log: MetricsFile | None,
        best_checkpoint: str | os.PathLike[str] | None,
        should_stop: Callable[[], bool] | None,
        on_update: Callable[[Trainer, float], None] | None,
    ) -> Iterator[EpochResult | Evaluation]:
        """The loop of :meth:`train`, whose arguments are checked."""
        cfg, saved = self.config, None

        def kept() -> str:
            if checkpoint is None:
                return "no checkpoint was asked for"
            name = os.fspath(checkpoint)
            if saved is None:
                return f"checkpoint {name!r} was left unchanged"
            return f"checkpoint {name!r} keeps epoch {saved}"

        def save(path: str | os.PathLike[str], what: str, when: str) -> None:
            try:
                self.save(path)
            except OSError as err:
                reason = err.strerror or str(err)
                raise CheckpointWriteError(
                    f"cannot save {what} {os.fspath(path)!r} {when}: {reason}; {kept()}"
                ) from None

        evaluates = log is not None or bool(self.val_data.size)
        if log is not None:
            log.start()
        start, elapsed_before = time.perf_counter(), self.elapsed
        while self.epoch < cfg.epochs:
            try:
                if self.position < self.windows_per_epoch:
                    if should_stop is not None and should_stop():
                        raise self._interruption()
                    loss = self.step()
                    self.elapsed = elapsed_before + time.perf_counter() - start
                    if on_update is not None:
                        on_update(self, loss)
                    if evaluates and self.updates % cfg.eval_every == 0:
                        evaluation = self._evaluate()
                        if evaluation.best and best_checkpoint is not None:
                            when = f"at update {self.updates}"
                            save(best_checkpoint, "best checkpoint", when)
                        if log is not None:
                            log.append(evaluation.row(log.run))
                        yield evaluation
                    out_of_time = (
                        time_limit is not None and self.elapsed - elapsed_before >= time_limit
                    )
                    if out_of_time and self.position < self.windows_per_epoch:
                        if checkpoint is not None:
                            save(checkpoint, "checkpoint", f"at update {self.updates}")
                        return
                    continue
                result = self._end_epoch()
            except TrainingDiverged as err:
                if checkpoint is None:
                    raise
                raise TrainingDiverged(f"{err}; {kept()}", err.epoch, err.window) from None
            except TrainingInterrupted as err:
                raise TrainingInterrupted(f"{err}; {kept()}", err.epoch, err.window) from None
            except WorkerError as err:
                raise WorkerError(f"{err}; {kept()}") from None
            out_of_time = time_limit is not None and self.elapsed - elapsed_before >= time_limit
            last = self.epoch == cfg.epochs
            if checkpoint is not None and (
                last or out_of_time or self.epoch % checkpoint_every == 0
            ):
                save(checkpoint, "checkpoint", f"after epoch {self.epoch}")
                saved = self.epoch
            yield result
            if out_of_time:
                return

    def _evaluate(self) -> Evaluation:
        """Evaluate on the validation part, note whether the loss is the best so far, and
        start a new interval of the training loss."""
        cfg = self.config
        val_loss = self.validation_loss() if self.val_data.size else None
        best = val_loss is not None and (
            self.best_val_loss is None or val_loss < self.best_val_loss
        )
        if best:
            self.best_val_loss = val_loss
        evaluation = Evaluation(
            update=self.updates,
            epoch=self.updates / self.windows_per_epoch,
            elapsed_s=self.elapsed,
            chars=self.updates * cfg.batch_size * cfg.sequence_length,
            train_loss=self.interval_loss / (cfg.eval_every * cfg.sequence_length),
            val_loss=val_loss,
            best=best,
        )
        self.interval_loss = 0.0
        return evaluation

    # ------------------------------------------------------------------ checkpoints

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the whole training state to one ``.npz`` file, atomically.

        The file holds the cell type, the vocabulary, the corpus, the hyperparameters,
        the parameters, AdaGrad's memory, the random generator's state, the epoch and
        the position in it, the recurrent state and the loss history: :meth:`load` then
        continues bit for bit as if the run had never stopped. See :mod:`rnn.checkpoint`.

        Parameters
        ----------
        path : str or path-like
            The file; its folder must exist. A previous file is replaced only once the
            new one is complete on disk.
        """
        save_checkpoint(path, self.to_checkpoint())

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, cell: str | None = None) -> Trainer:
        """Continue a run from a file written by :meth:`save`.

        Parameters
        ----------
        path : str or path-like
            The checkpoint.
        cell : str, optional
            The cell type expected; a checkpoint of another cell is refused.

        Returns
        -------
        Trainer
            In the state the run was saved in.

        Raises
        ------
        CheckpointError
            (a ``ValueError``) If the file is not a valid checkpoint of this format
            version (and of ``cell``), or its parts do not fit together.

        Examples
        --------
        >>> import os, tempfile
        >>> trainer = Trainer("abcabcabcabc", TrainingConfig(hidden_size=4, sequence_length=3,
        ...                   epochs=2, sample_length=5))
        >>> first = trainer.run_epoch()
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     trainer.save(os.path.join(folder, "run.npz"))
        ...     resumed = Trainer.load(os.path.join(folder, "run.npz"))
        >>> resumed.epoch, resumed.run_epoch() == trainer.run_epoch()
        (1, True)
        """
        ckpt = load_checkpoint(path, cell=cell, layout=checkpoint_layout)
        try:
            return cls.from_checkpoint(ckpt)
        except (TypeError, ValueError) as err:
            raise CheckpointError(
                f"checkpoint {os.fspath(path)!r} is inconsistent: {err}"
            ) from None

    def to_checkpoint(self) -> Checkpoint:
        """The training state as a :class:`~rnn.checkpoint.Checkpoint` (copies of arrays)."""
        state = self.state
        return Checkpoint(
            cell=self.config.cell,
            vocab=self.vocab,
            text=self.text,
            config=self.config.to_dict(),
            params={k: v.copy() for k, v in self.model.params.items()},
            optimizer=self.optimizer.state_dict(),
            rng_state=dict(self.rng.bit_generator.state),
            epoch=self.epoch,
            position=self.position,
            epoch_loss=self.epoch_loss,
            state=_flatten_state(state),
            losses=tuple(self.losses),
            elapsed_s=self.elapsed,
            interval_loss=self.interval_loss,
            best_val_loss=self.best_val_loss,
        )

    @classmethod
    def from_checkpoint(cls, ckpt: Checkpoint) -> Trainer:
        """Rebuild a trainer from a :class:`~rnn.checkpoint.Checkpoint`, checking that its
        parts fit together.

        Raises
        ------
        TypeError, ValueError
            If the cell is unknown, the hyperparameters are invalid, or the vocabulary,
            the parameters, the optimizer's state, the position or the recurrent state
            do not fit the cell, the corpus and the hyperparameters.
        """
        layout = checkpoint_layout(ckpt.cell, ckpt.config, len(ckpt.vocab))
        for name, param in ckpt.params.items():  # before a model of the config's size is built
            shape = layout.get(f"params/{name}", (np.shape(param),))[0]
            if np.shape(param) != shape:
                raise ValueError(
                    f"{name} must have shape {shape} for the hyperparameters, "
                    f"got {np.shape(param)}"
                )
        config = TrainingConfig(**ckpt.config)
        trainer = cls(ckpt.text, config)
        if trainer.vocab != ckpt.vocab:
            raise ValueError("the vocabulary is not the sorted characters of the corpus")
        model = trainer.model.with_params(ckpt.params)
        if model.dtype != np.dtype(config.dtype):
            raise ValueError(f"the parameters are {model.dtype}, not {config.dtype}")
        trainer.optimizer.load_state_dict(ckpt.optimizer, model.params)
        if not 0 <= ckpt.position < trainer.windows_per_epoch:
            raise ValueError(
                f"position {ckpt.position} is not a window of the {trainer.windows_per_epoch}"
            )
        if (ckpt.position == 0) != (ckpt.state is None):
            raise ValueError("an epoch that has not started must have no state, and vice versa")
        state = ckpt.state
        if state is not None:
            template = model.initial_state(config.batch_size)
            _check_state_like(state, _flatten_state(template))
            state = _nest_state(state, template)
        if len(ckpt.losses) != ckpt.epoch:
            raise ValueError(f"{len(ckpt.losses)} losses for {ckpt.epoch} epochs")
        trainer.model = model
        trainer.rng.bit_generator.state = ckpt.rng_state
        trainer.epoch, trainer.losses = ckpt.epoch, list(ckpt.losses)
        trainer.position, trainer.epoch_loss = ckpt.position, ckpt.epoch_loss
        trainer.state = state
        trainer.elapsed, trainer.interval_loss = ckpt.elapsed_s, ckpt.interval_loss
        trainer.best_val_loss = ckpt.best_val_loss
        return trainer


def _training_length(n: int, val_fraction: float) -> int:
    """Characters in the training part of a corpus of ``n``: the first ``1 − val_fraction``."""
    return int(n * (1 - val_fraction)) if val_fraction else n


def _stream_window(
    data: NDArray[np.unsignedinteger[Any]], B: int, T: int, i: int
) -> tuple[NDArray[np.unsignedinteger[Any]], NDArray[np.unsignedinteger[Any]]]:
    """Window ``i`` (inputs, targets), each (≤ T, B), of ``data`` cut into B streams.

    The N characters give B streams of ``L = (N − 1) // B`` steps; stream b reads
    characters ``b L .. (b + 1) L``, and the targets are the inputs shifted by one.
    """
    L = (len(data) - 1) // B
    x = data[: B * L].reshape(B, L).T
    y = data[1 : B * L + 1].reshape(B, L).T
    return x[i * T : (i + 1) * T], y[i * T : (i + 1) * T]


def _flatten_state(state: State) -> State:
    """A state as a checkpoint stores it: an array, or a flat tuple of arrays.

    One layer's state is unchanged (an array, or the LSTM's pair); the states of stacked
    layers are laid end to end, bottom layer first.
    """
    if not isinstance(state, (tuple, list)):
        return state
    return tuple(part for item in state for part in _as_tuple(_flatten_state(item)))


def _as_tuple(state: State) -> tuple[Any, ...]:
    return tuple(state) if isinstance(state, tuple) else (state,)


def _nest_state(flat: State, template: State) -> State:
    """Undo :func:`_flatten_state` after the structure of ``template``."""
    if not isinstance(template, tuple):
        return flat
    parts, nested = list(_as_tuple(flat)), []
    for item in template:
        size = len(_as_tuple(_flatten_state(item)))
        nested.append(
            _nest_state(
                parts[0] if size == 1 and not isinstance(item, tuple) else tuple(parts[:size]),
                item,
            )
        )
        del parts[:size]
    return tuple(nested)


def _check_state_like(state: State, template: State) -> None:
    """Check that a stored recurrent state has the structure, shapes and dtype of the cell's."""

    def describe(s: State) -> str:
        parts = s if isinstance(s, tuple) else (s,)
        shapes = ", ".join(f"{np.shape(p)} {getattr(p, 'dtype', type(p).__name__)}" for p in parts)
        return f"a tuple of ({shapes})" if isinstance(s, tuple) else f"an array {shapes}"

    parts = state if isinstance(state, tuple) else (state,)
    expected = template if isinstance(template, tuple) else (template,)
    fits = isinstance(state, tuple) == isinstance(template, tuple) and len(parts) == len(expected)
    fits = fits and all(
        p.shape == e.shape and p.dtype == e.dtype and bool(np.all(np.isfinite(p)))
        for p, e in zip(parts, expected, strict=True)
    )
    if not fits:
        raise ValueError(
            f"the recurrent state must be {describe(template)} and finite, got {describe(state)}"
        )


def format_header(text: str) -> str:
    """The two lines the seed prints before training: the corpus's size and vocabulary."""
    return f"Number of characters : {len(text)}\nNumber of unique characters : {len(set(text))}"


def format_evaluation(evaluation: Evaluation) -> str:
    """One evaluation in the log: the update, the training loss and the validation loss per
    character, in nats and in bits."""
    line = (
        f"Update {evaluation.update}  epoch {evaluation.epoch:.2f}  "
        f"{evaluation.elapsed_s:.1f} s  train {evaluation.train_loss:.4f}"
    )
    if evaluation.val_loss is not None:
        line += f"  val {evaluation.val_loss:.4f} nats ({evaluation.val_bpc:.4f} bits) per char"
    return line + ("  (best)" if evaluation.best else "")


def format_epoch(result: EpochResult) -> str:
    """One epoch of the log in the seed's format: the loss line, then the sample."""
    return f"Epoch : {result.epoch}/{result.epochs}  Loss : {result.loss:.6f}\n{result.sample}\n"
