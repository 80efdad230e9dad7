"""Evidence for the erratum page: the checker's report on the seed's gradient, and its training.

``main(outdir)`` writes

- ``gradcheck_truncation1.txt``: what ``python -m rnn gradcheck --truncation 1`` prints, run
  in a subprocess on the installed package, and its exit status;
- ``seed_gradient_training.png``: the per-epoch loss of the default training run (exact
  gradient) and of the same loop driven by the seed's gradient (``truncation=1``), and,
  for each window of both runs, the cosine between the step AdaGrad took and the exact
  descent direction −∇L;
- ``seed_gradient_training.txt``: the numbers the page quotes from that run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from rnn import Trainer, TrainingConfig, seed_corpus

COMMAND = ["gradcheck", "--truncation", "1"]


def gradcheck_report() -> str:
    """The output of ``python -m rnn gradcheck --truncation 1``, with the command line on top.

    Raises
    ------
    RuntimeError
        If the report does not say what the erratum page says: the check fails (exit
        status 1) on W, U and b and passes on V and c.
    """
    run = subprocess.run(
        [sys.executable, "-m", "rnn", *COMMAND], capture_output=True, text=True, check=False
    )
    verdicts = {
        m["name"]: m["verdict"]
        for m in re.finditer(r"^(?P<name>[UWVbc]) .*  (?P<verdict>ok|FAIL.*)$", run.stdout, re.M)
    }
    expected = {"U": "FAIL", "W": "FAIL", "b": "FAIL", "V": "ok", "c": "ok"}
    found = {name: verdict.split(" ")[0] for name, verdict in verdicts.items()}
    if run.returncode != 1 or run.stderr or found != expected:
        raise RuntimeError(
            f"python -m rnn {' '.join(COMMAND)} no longer reports what docs/erratum.md says "
            f"(exit status {run.returncode}, verdicts {found}, stderr {run.stderr!r})"
        )
    return f"$ python -m rnn {' '.join(COMMAND)}\n{run.stdout}$ echo $?\n{run.returncode}\n"


def _flat(grads: dict[str, Any]) -> Any:
    return np.concatenate([g.ravel() for g in grads.values()])


def _cosine(a: Any, b: Any) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def instrumented_run(learning_rate: float, truncation: int | None) -> tuple[list[float], Any, Any]:
    """Train the default training run's loop with the given gradient; losses and cosines.

    The loop is :meth:`rnn.Trainer.run_epoch` without the samples. Returns the loss of each
    epoch and, for each window, the cosine between the parameter change AdaGrad made (after
    clipping) and −∇L, the exact gradient of that window's loss (positive means the step
    went downhill), and the cosine between the gradient used and the exact one.
    """
    trainer = Trainer(seed_corpus(), TrainingConfig(learning_rate=learning_rate, sample_length=0))
    model = trainer.model
    losses, cosines, agreement = [], [], []
    for _ in range(trainer.config.epochs):
        state: Any = None
        total, count = 0.0, 0
        for x, y in trainer.windows():
            _, exact, _ = model.loss_and_gradients(x, y, state)
            loss, grads, new_state = model.loss_and_gradients(x, y, state, truncation=truncation)
            before = _flat(model.params)
            trainer.optimizer.step(model.params, grads)
            move = _flat(model.params) - before
            cosines.append(_cosine(move, -_flat(exact)))
            agreement.append(_cosine(_flat(grads), _flat(exact)))
            state = new_state
            total += loss
            count += 1
        losses.append(total / count)
    return losses, np.array(cosines), np.array(agreement)


def _smooth(values: Any, width: int = 50) -> Any:
    return np.convolve(values, np.ones(width) / width, mode="valid")


def main(outdir: Path) -> None:
    """Write the gradcheck report and the seed-gradient training figure into ``outdir``."""
    (outdir / "gradcheck_truncation1.txt").write_text(gradcheck_report(), encoding="utf-8")

    main_lr, seed_lr = TrainingConfig().learning_rate, 0.1
    exact, exact_cos, _ = instrumented_run(main_lr, None)
    seed, seed_cos, seed_agreement = instrumented_run(seed_lr, 1)
    epochs = np.arange(1, len(exact) + 1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.semilogy(epochs, exact, label=f"exact gradient, lr {main_lr} (default training run)")
    ax1.semilogy(epochs, seed, label=f"seed's gradient (truncation=1), lr {seed_lr}")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("mean window loss")
    ax1.set_title("Both gradients train")
    ax1.legend()
    ax1.grid(True, which="major", alpha=0.3)
    steps = np.arange(1, len(seed_cos) + 1)
    ax2.plot(steps, seed_cos, ".", color="C1", markersize=2, alpha=0.3)
    ax2.plot(steps[49:], _smooth(exact_cos), "C0-", label="exact gradient, mean of 50")
    ax2.plot(steps[49:], _smooth(seed_cos), "k-", label="seed's gradient, mean of 50")
    ax2.axhline(0.0, color="grey", linewidth=0.8)
    ax2.set_xlabel("update")
    ax2.set_ylabel("cos(AdaGrad step, −∇L)")
    ax2.set_title("Each step against the true descent direction")
    ax2.set_ylim(-1, 1)
    ax2.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(outdir / "seed_gradient_training.png", dpi=110)
    plt.close(fig)

    (outdir / "seed_gradient_training.txt").write_text(
        f"updates per run: {seed_cos.size}\n"
        f"seed's gradient: steps that went downhill (cosine > 0): {np.mean(seed_cos > 0):.1%}; "
        f"median cosine {np.median(seed_cos):.2f}\n"
        f"exact gradient: steps that went downhill (cosine > 0): {np.mean(exact_cos > 0):.1%}; "
        f"median cosine {np.median(exact_cos):.2f}\n"
        f"cosine between the seed's gradient and the exact one: {seed_agreement[0]:.3f} "
        f"at the first update, median {np.median(seed_agreement):.2f} over the run\n"
        f"first epoch's loss: exact gradient {exact[0]:.2f}, seed's {seed[0]:.2f}\n"
        f"last epoch's loss: exact gradient {exact[-1]:.2f}, seed's {seed[-1]:.2f}\n",
        encoding="utf-8",
    )
