"""Training: windows over the corpus, the hidden state carried between them, a log per epoch.

The loop follows the seed. Each epoch starts from a zero state, walks the corpus in
non-overlapping windows of ``sequence_length`` characters (the targets are the inputs
shifted by one), carries the hidden state from window to window, applies one optimizer
step per window, then draws a sample. With ``batch_size`` B > 1 the corpus is cut into B
contiguous streams that advance side by side, each with its own hidden state, as in
char-rnn; B = 1 is the seed's single stream.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rnn.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from rnn.checks import check_int, check_positive_number
from rnn.data import Vocabulary
from rnn.gru import GRU
from rnn.lstm import LSTM
from rnn.model import RNN, RecurrentModel, State
from rnn.optim import AdaGrad

__all__ = [
    "CELLS",
    "EpochResult",
    "Trainer",
    "TrainingConfig",
    "TrainingDiverged",
    "format_epoch",
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
    sequence_length : int
        T ≥ 1, the characters per window; the seed's 10.
    epochs : int
        Passes over the corpus, ≥ 1; the seed's 100.
    learning_rate : float
        AdaGrad's step size, finite and > 0. The default 0.04 is below the seed's 0.1:
        the exact gradient is larger than the seed's truncated one, and with it 0.1
        stalls on some seeds while 0.04 trained all 16 seeds we measured
        (``benchmarks/learning_rate_sweep.py``; see the training page).
    batch_size : int
        B ≥ 1 streams trained side by side.
    clip : float or None
        Elementwise clipping bound (the seed's 1.0); None disables it.
    seed : int
        Seed of the one random generator that draws the initial weights and the samples.
    sample_length : int
        Characters sampled after each epoch, ≥ 0; the seed's 250.
    temperature : float
        Sampling temperature, finite and > 0.
    init_scale : float
        Standard deviation of the initial weights.
    dtype : str
        ``"float64"`` or ``"float32"``.
    """

    cell: str = "rnn"
    hidden_size: int = 100
    sequence_length: int = 10
    epochs: int = 100
    learning_rate: float = 0.04
    batch_size: int = 1
    clip: float | None = 1.0
    seed: int = 0
    sample_length: int = 250
    temperature: float = 1.0
    init_scale: float = 0.01
    dtype: str = "float64"

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {self.cell!r}")
        for name in ("hidden_size", "sequence_length", "epochs", "batch_size"):
            check_int(name, getattr(self, name), minimum=1)
        for name in ("sample_length", "seed"):
            check_int(name, getattr(self, name), minimum=0)
        for name in ("learning_rate", "temperature", "clip"):
            if not (name == "clip" and self.clip is None):
                check_positive_number(name, getattr(self, name))
        if not (isinstance(self.init_scale, (int, float)) and math.isfinite(self.init_scale)):
            raise ValueError(f"init_scale must be a finite number, got {self.init_scale!r}")
        if self.init_scale < 0:
            raise ValueError(f"init_scale must be ≥ 0, got {self.init_scale}")
        if self.dtype not in ("float64", "float32"):
            raise ValueError(f"dtype must be 'float64' or 'float32', got {self.dtype!r}")

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return asdict(self)


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
    optimizer : AdaGrad
        The optimizer, with the model's parameters as its targets.
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

    Raises
    ------
    TypeError
        If ``text`` is not a str.
    ValueError
        If the text is empty, has fewer than 2 distinct characters, or is shorter than
        ``batch_size * sequence_length + 1`` characters.

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
    data: NDArray[np.intp] = field(init=False, repr=False)
    model: RecurrentModel = field(init=False, repr=False)
    optimizer: AdaGrad = field(init=False, repr=False)
    rng: np.random.Generator = field(init=False, repr=False)
    epoch: int = field(init=False, default=0)
    losses: list[float] = field(init=False, default_factory=list)
    position: int = field(init=False, default=0)
    state: State = field(init=False, default=None, repr=False)
    epoch_loss: float = field(init=False, default=0.0)

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
        needed = cfg.batch_size * cfg.sequence_length + 1
        if len(self.text) < needed:
            raise ValueError(
                f"the corpus has {len(self.text)} characters, fewer than "
                f"batch_size * sequence_length + 1 = {needed}"
            )
        self.data = self.vocab.encode(self.text)
        self.rng = np.random.default_rng(cfg.seed)
        self.model = CELLS[cfg.cell].random(
            len(self.vocab), cfg.hidden_size, self.rng, scale=cfg.init_scale, dtype=cfg.dtype
        )
        self.optimizer = AdaGrad(cfg.learning_rate, clip=cfg.clip)

    def windows(self) -> Iterator[tuple[NDArray[np.intp], NDArray[np.intp]]]:
        """The epoch's (inputs, targets) windows, each of shape (T, B), in order.

        The corpus of N characters gives B streams of ``L = (N - 1) // B`` steps; stream
        b reads characters ``b L .. (b + 1) L``. Each stream yields ``L // T`` windows; the
        characters past the last full window are not used.
        """
        for i in range(self.windows_per_epoch):
            yield self._window(i)

    @property
    def windows_per_epoch(self) -> int:
        """The number of windows in an epoch, ``((N - 1) // B) // T``."""
        B = self.config.batch_size
        return ((len(self.data) - 1) // B) // self.config.sequence_length

    def _window(self, i: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        T, B = self.config.sequence_length, self.config.batch_size
        L = (len(self.data) - 1) // B
        x = self.data[: B * L].reshape(B, L).T
        y = self.data[1 : B * L + 1].reshape(B, L).T
        return x[i * T : (i + 1) * T], y[i * T : (i + 1) * T]

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
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # checked below
            loss, grads, state = self.model.loss_and_gradients(x, y, self.state)
        where = f"in epoch {self.epoch + 1}, window {self.position + 1} of {n}"
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"the loss became {loss} {where}", self.epoch + 1, self.position + 1
            )
        if cfg.batch_size > 1:
            grads = {k: g / cfg.batch_size for k, g in grads.items()}
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
        self.position += 1
        return loss / cfg.batch_size

    def run_epoch(self) -> EpochResult:
        """Train the rest of the epoch under way (all of it, unless it was resumed midway),
        then sample; returns the epoch's result.

        Raises
        ------
        TrainingDiverged
            As :meth:`step`.
        """
        cfg = self.config
        while self.position < self.windows_per_epoch:
            self.step()
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
        self, checkpoint: str | os.PathLike[str] | None = None, checkpoint_every: int = 1
    ) -> Iterator[EpochResult]:
        """Run the remaining epochs, yielding each one's result.

        Parameters
        ----------
        checkpoint : str or path-like, optional
            Save the run there (see :meth:`save`) after every ``checkpoint_every``-th
            epoch and after the last, each time before yielding the epoch's result.
        checkpoint_every : int, optional
            Epochs between checkpoints, ≥ 1.

        Raises
        ------
        TrainingDiverged
            If the loss or a parameter becomes NaN or infinite. The message names the
            epoch and the window; the checkpoint file keeps the last good epoch.
        """
        check_int("checkpoint_every", checkpoint_every, minimum=1)
        saved: int | None = None
        while self.epoch < self.config.epochs:
            try:
                result = self.run_epoch()
            except TrainingDiverged as err:
                if checkpoint is None:
                    raise
                kept = (
                    f"checkpoint {os.fspath(checkpoint)!r} was left unchanged"
                    if saved is None
                    else f"checkpoint {os.fspath(checkpoint)!r} keeps epoch {saved}"
                )
                raise TrainingDiverged(f"{err}; {kept}", err.epoch, err.window) from None
            last = self.epoch == self.config.epochs
            if checkpoint is not None and (last or self.epoch % checkpoint_every == 0):
                self.save(checkpoint)
                saved = self.epoch
            yield result

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
        ckpt = load_checkpoint(path, cell=cell)
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
            state=tuple(state) if isinstance(state, (tuple, list)) else state,
            losses=tuple(self.losses),
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
        if ckpt.cell not in CELLS:
            raise ValueError(f"the cell type {ckpt.cell!r} is not one of {sorted(CELLS)}")
        unknown = set(ckpt.config) - {f.name for f in fields(TrainingConfig)}
        if unknown:
            raise ValueError(f"unknown hyperparameters {sorted(unknown)}")
        config = TrainingConfig(**ckpt.config)
        if config.cell != ckpt.cell:
            raise ValueError(f"the hyperparameters name cell {config.cell!r}, not {ckpt.cell!r}")
        trainer = cls(ckpt.text, config)
        if trainer.vocab != ckpt.vocab:
            raise ValueError("the vocabulary is not the sorted characters of the corpus")
        model = trainer.model.with_params(ckpt.params)
        if model.dtype != np.dtype(config.dtype):
            raise ValueError(f"the parameters are {model.dtype}, not {config.dtype}")
        if ckpt.optimizer and set(ckpt.optimizer) != set(model.params):
            raise ValueError(
                f"the optimizer state must be empty or cover the parameters "
                f"{sorted(model.params)}, got {sorted(ckpt.optimizer)}"
            )
        for name, memory in ckpt.optimizer.items():
            param = model.params[name]
            if memory.shape != param.shape or memory.dtype != param.dtype:
                raise ValueError(f"the optimizer state {name} does not fit parameter {name}")
        trainer.optimizer.load_state_dict(ckpt.optimizer)
        if not 0 <= ckpt.position < trainer.windows_per_epoch:
            raise ValueError(
                f"position {ckpt.position} is not a window of the {trainer.windows_per_epoch}"
            )
        if (ckpt.position == 0) != (ckpt.state is None):
            raise ValueError("an epoch that has not started must have no state, and vice versa")
        if ckpt.state is not None:
            _check_state_like(ckpt.state, model.initial_state(config.batch_size))
        if len(ckpt.losses) != ckpt.epoch:
            raise ValueError(f"{len(ckpt.losses)} losses for {ckpt.epoch} epochs")
        trainer.model = model
        trainer.rng.bit_generator.state = ckpt.rng_state
        trainer.epoch, trainer.losses = ckpt.epoch, list(ckpt.losses)
        trainer.position, trainer.epoch_loss = ckpt.position, ckpt.epoch_loss
        trainer.state = ckpt.state
        return trainer


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


def format_epoch(result: EpochResult) -> str:
    """One epoch of the log in the seed's format: the loss line, then the sample."""
    return f"Epoch : {result.epoch}/{result.epochs}  Loss : {result.loss:.6f}\n{result.sample}\n"
