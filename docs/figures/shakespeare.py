"""The training page's tiny-shakespeare curve and table, from the benchmark's metrics files.

``benchmarks/bench_shakespeare.py`` wrote ``benchmarks/results/shakespeare-numpy.csv`` and
``shakespeare-torch.csv`` (committed; the page says with which command). ``main(outdir)``

- runs ``python -m rnn plot`` on both, in a subprocess on the installed package, into
  ``shakespeare_curve.png``;
- writes ``shakespeare_table.md``: for each side, the time at which the validation loss
  first reached 2.0, 1.88 and 1.75 nats, and the last evaluation's loss and bits per
  character, read from the same files.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rnn.metrics import read_metrics

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
SIDES = {"shakespeare-numpy": "this package (numpy)", "shakespeare-torch": "PyTorch"}
THRESHOLDS = (2.0, 1.88, 1.75)


def table() -> str:
    """The Markdown table of the two runs."""
    head = ["", *SIDES.values()]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows = {name: read_metrics(RESULTS / f"{name}.csv") for name in SIDES}
    evaluated = {n: [r for r in rs if r.val_loss is not None] for n, rs in rows.items()}
    for threshold in THRESHOLDS:
        cells = []
        for name in SIDES:
            hit = next((r for r in evaluated[name] if (r.val_loss or 0.0) <= threshold), None)
            cells.append("not reached" if hit is None else f"{hit.elapsed_s:.0f} s")
        lines.append(
            f"| time to a validation loss of {threshold} nats | " + " | ".join(cells) + " |"
        )
    last = {n: rs[-1] for n, rs in evaluated.items()}
    lines.append(
        "| last validation loss, nats (bits per char) | "
        + " | ".join(f"{r.val_loss:.3f} ({r.val_bpc:.3f})" for r in last.values())
        + " |"
    )
    lines.append(
        "| updates, characters, seconds | "
        + " | ".join(
            f"{r.update}, {r.chars / 1e6:.1f} M, {r.elapsed_s:.0f} s" for r in last.values()
        )
        + " |"
    )
    return "\n".join(lines) + "\n"


def main(outdir: Path) -> None:
    """Write shakespeare_curve.png and shakespeare_table.md into ``outdir``."""
    files = [str(RESULTS / f"{name}.csv") for name in SIDES]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "rnn",
            "plot",
            *files,
            "--output",
            str(outdir / "shakespeare_curve.png"),
        ],
        check=True,
    )
    (outdir / "shakespeare_table.md").write_text(table(), encoding="utf-8")
