r"""The measured case for the gates: how far back the gradient of one step's loss reaches.

For each cell (RNN, LSTM, GRU), at initialisation and after the default training run
(``TrainingConfig(cell=...)`` with every default, 100 epochs), ``main(outdir)`` takes
windows of ``STEPS`` characters of the seed corpus, runs the model over each from a zero
state, and computes the gradient of the loss of the *last* step alone, :math:`L^{(T)}`,
with respect to every earlier hidden state :math:`h^{(t)}` (for the LSTM also with respect
to the cell state :math:`s^{(t)}`). It writes

- ``gradient_flow.png``: the median over the windows of
  :math:`\lVert \partial L^{(T)} / \partial h^{(t)} \rVert_2` against the distance
  :math:`T - t`, one panel at initialisation and one after training;
- ``gradient_flow.csv``: the same medians, one row per distance;
- ``gradient_flow.md``: a table of them at a few distances, and the training losses.

How the gradient is obtained: the state :math:`h^{(t)}` is treated as the initial state
of the window's remaining steps ``t + 1 .. T``, and the layer's own backward pass
(``Layer.backward``, the code that training uses) is fed the output-layer gradient of
step T only. What it returns for the initial state is :math:`\partial L^{(T)} / \partial
h^{(t)}` exactly: there is no subtraction of two larger gradients, so values far below
rounding of the total gradient are still measured correctly.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from rnn import Trainer, TrainingConfig, seed_corpus, softmax
from rnn.model import RecurrentModel

STEPS = 50
"""T, the window length: the largest distance measured."""

WINDOWS = 10
"""Windows per model, starting every ``STEPS`` characters from the corpus's beginning."""

CELL_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}

TABLE_DISTANCES = (1, 2, 5, 10, 20, 30, 50)

FIT_FROM = 10
"""The table's factor per step is fitted from this distance on, past the first steps' transient."""


def state_gradients(model: RecurrentModel, x: Any, y: Any) -> list[Any]:
    r"""The gradient of the last step's loss with respect to the state entering each step.

    Parameters
    ----------
    model : RecurrentModel
        Any cell.
    x, y : ndarray of int, shape (T,)
        Inputs and targets of one window.

    Returns
    -------
    list
        Entry ``t`` (0-based) is :math:`\partial L^{(T)} / \partial \text{state}^{(t)}`,
        the state after step t (the zero initial state for t = 0), so that the distance
        to the loss is ``T - t``. It is an array (1, H), or for the LSTM the pair
        ``(dh, ds)``.
    """
    T = len(x)
    xs = np.asarray(x)[:, None]
    states = [model.initial_state(1)]
    for t in range(T - 1):
        states.append(model.forward(xs[t : t + 1], states[t]).last_state)
    V = model.params["V"]
    grads = []
    for t in range(T):
        cache = model.forward(xs[t:], states[t])
        do = softmax(cache.logits[-1])  # eq. (6) at step T: ŷ(T) − onehot(y(T))
        do[0, y[-1]] -= 1.0
        dhs = np.zeros(cache.hs.shape, dtype=cache.hs.dtype)
        dhs[-1] = do @ V  # only L(T) contributes
        _, _, dstate = model.layers[0].backward(dhs, cache.layers[0])
        grads.append(dstate)
    return grads


def profile(model: RecurrentModel, data: Any) -> dict[str, Any]:
    """Median norms over the windows, indexed by distance 1 .. STEPS.

    Returns ``{"h": array (STEPS,)}``, plus ``"s"`` for the LSTM's cell state.
    """
    norms: dict[str, list[Any]] = {"h": []}
    for w in range(WINDOWS):
        start = w * STEPS
        x, y = data[start : start + STEPS], data[start + 1 : start + STEPS + 1]
        grads = state_gradients(model, x, y)[::-1]  # reversed: index d − 1 is distance d
        parts = [g if isinstance(g, tuple) else (g,) for g in grads]
        norms["h"].append([np.linalg.norm(p[0]) for p in parts])
        if len(parts[0]) == 2:
            norms.setdefault("s", []).append([np.linalg.norm(p[1]) for p in parts])
    return {k: np.median(np.array(v), axis=0) for k, v in norms.items()}


def measure() -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
    """Profiles of every cell at initialisation and after training, and the final losses."""
    text = seed_corpus()
    profiles: dict[str, dict[str, Any]] = {}
    losses: dict[str, float] = {}
    for cell in CELL_NAMES:
        trainer = Trainer(text, TrainingConfig(cell=cell, sample_length=0))
        data = trainer.data
        profiles[f"{cell} init"] = profile(trainer.model, data)
        for _ in trainer.train():
            pass
        losses[cell] = trainer.losses[-1]
        profiles[f"{cell} trained"] = profile(trainer.model, data)
    return profiles, losses


def _columns(profiles: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Flat columns: ``"RNN init"``, ``"LSTM init"``, ``"LSTM s init"``, ..."""
    columns = {}
    for stage in ("init", "trained"):
        for cell, name in CELL_NAMES.items():
            p = profiles[f"{cell} {stage}"]
            columns[f"{name} {stage}"] = p["h"]
            if "s" in p:
                columns[f"{name} s {stage}"] = p["s"]
    return columns


def factor_per_step(norms: Any) -> float:
    """The geometric rate at which a norm changes per step: exp of the least-squares slope of
    its logarithm against the distance, over distances ``FIT_FROM .. STEPS``."""
    d = np.arange(FIT_FROM, STEPS + 1)
    slope = np.polyfit(d, np.log(norms[FIT_FROM - 1 :]), 1)[0]
    return float(np.exp(slope))


def write_csv(path: Path, columns: dict[str, Any]) -> None:
    """One row per distance T − t, one column per cell and stage."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["distance", *columns])
        for d in range(STEPS):
            writer.writerow([d + 1, *(f"{c[d]:.6e}" for c in columns.values())])


def write_table(path: Path, columns: dict[str, Any], losses: dict[str, float]) -> None:
    """A Markdown table at ``TABLE_DISTANCES``, and the training losses."""
    names = list(columns)
    lines = [
        ":::{table}",
        ":class: numeric",  # numbers do not break across lines (docs/_static/custom.css)
        "",
        "| T − t | " + " | ".join(names) + " |",
        "|---:|" + "---:|" * len(names),
    ]
    for d in TABLE_DISTANCES:
        lines.append(f"| {d} | " + " | ".join(f"{columns[n][d - 1]:.1e}" for n in names) + " |")
    rates = " | ".join(f"{factor_per_step(columns[n]):.2f}" for n in names)
    lines.append(f"| factor per step, {FIT_FROM}..{STEPS} | {rates} |")
    lines.append(":::")
    final = ", ".join(f"{CELL_NAMES[c]} {loss:.2f}" for c, loss in losses.items())
    config = TrainingConfig()
    lines += [
        "",
        f"Median of $\\lVert \\partial L^{{(T)}} / \\partial h^{{(t)}} \\rVert_2$ over "
        f"{WINDOWS} windows of T = {STEPS} characters of the seed corpus (columns *s*: the "
        f"LSTM's cell state $s^{{(t)}}$). *trained*: after the default training run's "
        f"{config.epochs} epochs (H = {config.hidden_size}, windows of "
        f"{config.sequence_length}, AdaGrad at {config.learning_rate}); final mean window "
        f"losses {final}. Last row: the geometric mean factor by which the norm changes "
        f"per step of distance, fitted from T − t = {FIT_FROM} to {STEPS}.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def plot(path: Path, profiles: dict[str, dict[str, Any]]) -> None:
    """Two panels, initialisation and trained, with a log scale for the norm.

    The page shows the figure at the content column's width, about 7.5 in at 96 dpi, so at
    that size 12 pt text reads as 12 pt.
    """
    distance = np.arange(1, STEPS + 1)
    colors = {"rnn": "tab:red", "lstm": "tab:blue", "gru": "tab:green"}
    with plt.rc_context({"font.size": 12, "legend.fontsize": 11}):
        fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.6))  # own scales: ranges differ by 1e40
        for ax, stage, title in zip(
            axes, ("init", "trained"), ("at initialisation", "trained"), strict=True
        ):
            for cell, name in CELL_NAMES.items():
                p = profiles[f"{cell} {stage}"]
                ax.semilogy(distance, p["h"], "-", color=colors[cell], label=f"{name}: h(t)")
                if "s" in p:
                    ax.semilogy(distance, p["s"], "--", color=colors[cell], label=f"{name}: s(t)")
            ax.set_title(title)
            ax.set_xlabel("distance T − t (steps)")
            ax.grid(True, which="both", alpha=0.3)
            ax.set_ylabel("median ‖∂L(T)/∂h(t)‖₂")
        axes[0].legend()
        fig.tight_layout()
        fig.savefig(path, dpi=192)  # twice the page's resolution: sharp on dense screens
        plt.close(fig)


def main(outdir: Path) -> None:
    """Write gradient_flow.png, gradient_flow.csv and gradient_flow.md into ``outdir``."""
    profiles, losses = measure()
    columns = _columns(profiles)
    write_csv(outdir / "gradient_flow.csv", columns)
    write_table(outdir / "gradient_flow.md", columns, losses)
    plot(outdir / "gradient_flow.png", profiles)
