"""The training page's log and loss curve, from the default training run.

``main(outdir)`` runs ``python -m rnn train`` (the README's command, all defaults) in a
subprocess on the installed package and writes

- ``train_log.txt``: everything it printed;
- ``train_log_excerpt.txt``: the header, the first three epochs and the last;
- ``loss_curve.png``: the loss of every epoch, read back from the log.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from rnn import TrainingConfig

EPOCH_LINE = re.compile(r"^Epoch : (\d+)/(\d+)  Loss : ([0-9.]+)$")


def run_default_training() -> str:
    """What ``python -m rnn train`` prints."""
    run = subprocess.run(
        [sys.executable, "-m", "rnn", "train"], capture_output=True, text=True, check=True
    )
    return run.stdout


def epoch_losses(log: str) -> list[float]:
    """The loss of each epoch, in order, from the lines ``Epoch : i/n  Loss : x``."""
    return [float(m.group(3)) for m in map(EPOCH_LINE.match, log.splitlines()) if m]


def excerpt(log: str, first: int = 3) -> str:
    """The two header lines, the first ``first`` epochs and the last epoch of a log."""
    lines = log.splitlines()
    starts = [i for i, line in enumerate(lines) if EPOCH_LINE.match(line)]
    head = lines[: starts[first]]
    tail = lines[starts[-1] :]
    return "\n".join([*head, "...", "", *tail]) + "\n"


def main(outdir: Path) -> None:
    """Write train_log.txt, train_log_excerpt.txt and loss_curve.png into ``outdir``."""
    log = run_default_training()
    (outdir / "train_log.txt").write_text(log, encoding="utf-8")
    (outdir / "train_log_excerpt.txt").write_text(excerpt(log), encoding="utf-8")
    losses = epoch_losses(log)
    config = TrainingConfig()
    fig, ax = plt.subplots(figsize=(6.4, 4))
    ax.semilogy(range(1, len(losses) + 1), losses, "-", marker=".")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"mean loss of a window of {config.sequence_length} characters (nats)")
    ax.set_title(
        f"python -m rnn train: H = {config.hidden_size}, T = {config.sequence_length}, "
        f"lr = {config.learning_rate}"
    )
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(outdir / "loss_curve.png", dpi=120)
    plt.close(fig)
