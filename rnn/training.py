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
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rnn.data import Vocabulary
from rnn.model import RNN, RecurrentModel, State
from rnn.optim import AdaGrad

__all__ = ["CELLS", "EpochResult", "Trainer", "TrainingConfig", "format_epoch", "format_header"]

CELLS: dict[str, type[RecurrentModel]] = {"rnn": RNN}
"""The cells that ``--cell`` can name."""


@dataclass(frozen=True)
class TrainingConfig:
    """Hyperparameters of a training run; the defaults are the main job's.

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
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
            if value < 1:
                raise ValueError(f"{name} must be ≥ 1, got {value}")
        for name in ("sample_length", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
            if value < 0:
                raise ValueError(f"{name} must be ≥ 0, got {value}")
        for name in ("learning_rate", "temperature", "clip"):
            value = getattr(self, name)
            if value is None and name == "clip":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a number, got {type(value).__name__}")
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and > 0, got {value}")
        if not (isinstance(self.init_scale, (int, float)) and math.isfinite(self.init_scale)):
            raise ValueError(f"init_scale must be a finite number, got {self.init_scale!r}")
        if self.init_scale < 0:
            raise ValueError(f"init_scale must be ≥ 0, got {self.init_scale}")
        if self.dtype not in ("float64", "float32"):
            raise ValueError(f"dtype must be 'float64' or 'float32', got {self.dtype!r}")

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return asdict(self)


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
        Hyperparameters; the defaults are the main job's.

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
        T, B = self.config.sequence_length, self.config.batch_size
        L = (len(self.data) - 1) // B
        x = self.data[: B * L].reshape(B, L).T
        y = self.data[1 : B * L + 1].reshape(B, L).T
        for start in range(0, L - T + 1, T):
            yield x[start : start + T], y[start : start + T]

    def run_epoch(self) -> EpochResult:
        """Train one epoch, then sample; returns the epoch's result."""
        cfg = self.config
        state: State = None
        total, count = 0.0, 0
        for x, y in self.windows():
            loss, grads, state = self.model.loss_and_gradients(x, y, state)
            if cfg.batch_size > 1:
                grads = {k: g / cfg.batch_size for k, g in grads.items()}
            self.optimizer.step(self.model.params, grads)
            total += loss / cfg.batch_size
            count += 1
        self.epoch += 1
        mean = total / count
        self.losses.append(mean)
        sample = self.model.sample(
            self.vocab, self.rng, self.text[0], cfg.sample_length, cfg.temperature
        )
        return EpochResult(self.epoch, cfg.epochs, mean, sample)

    def train(self) -> Iterator[EpochResult]:
        """Run the remaining epochs, yielding each one's result."""
        while self.epoch < self.config.epochs:
            yield self.run_epoch()


def format_header(text: str) -> str:
    """The two lines the seed prints before training: the corpus's size and vocabulary."""
    return f"Number of characters : {len(text)}\nNumber of unique characters : {len(set(text))}"


def format_epoch(result: EpochResult) -> str:
    """One epoch of the log in the seed's format: the loss line, then the sample."""
    return f"Epoch : {result.epoch}/{result.epochs}  Loss : {result.loss:.6f}\n{result.sample}\n"
