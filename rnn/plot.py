"""Loss curves from metrics files (``python -m rnn plot``); needs the ``plot`` extra.

Importing this module imports matplotlib, with the Agg backend, which needs no display.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from rnn.metrics import MetricsRow

__all__ = ["plot_metrics"]


def plot_metrics(
    runs: Mapping[str, Sequence[MetricsRow]],
    path: str | os.PathLike[str],
    title: str | None = None,
) -> None:
    """Draw the training and validation loss per character of one or more runs against the
    characters seen (left) and against the training time (right), and save the figure.

    Parameters
    ----------
    runs : mapping of str to sequence of MetricsRow
        Each run's label and the rows :func:`rnn.metrics.read_metrics` returned for it, at
        least one row each.
    path : str or path-like
        The image; its extension (``.png``, ``.svg``, ``.pdf``) chooses the format.
    title : str, optional
        The figure's title; by default the number of updates of each run.

    Raises
    ------
    ValueError
        If a run has no rows, or matplotlib cannot write that format.
    """
    empty = [label for label, rows in runs.items() if not rows]
    if not runs or empty:
        raise ValueError(f"there are no metrics rows to plot for {empty or 'any run'}")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for (label, rows), color in zip(runs.items(), colors, strict=False):
        chars = [r.chars / 1e6 for r in rows]
        seconds = [r.elapsed_s for r in rows]
        val = [(i, r.val_loss) for i, r in enumerate(rows) if r.val_loss is not None]
        for ax, xs in ((axes[0], chars), (axes[1], seconds)):
            train = [r.train_loss for r in rows]
            ax.plot(xs, train, color=color, alpha=0.5, linewidth=1, label=f"{label}: training")
            if val:
                ax.plot(
                    [xs[i] for i, _ in val],
                    [v for _, v in val],
                    color=color,
                    marker=".",
                    label=f"{label}: validation",
                )
    axes[0].set_xlabel("training characters seen (millions)")
    axes[1].set_xlabel("training time (s)")
    axes[0].set_ylabel("loss per character (nats)")
    for ax in axes:
        ax.grid(True, alpha=0.3)
    axes[1].legend()
    fig.suptitle(
        title or ", ".join(f"{label}: {rows[-1].update} updates" for label, rows in runs.items())
    )
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)
