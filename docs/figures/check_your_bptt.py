"""Output for the page "Check your own BPTT": the grade of its worked example, and the catalogue.

``main(outdir)`` writes

- ``grade_my_lossfun.txt``: what ``python -m rnn grade examples/my_lossfun.py --layout
  min-char-rnn`` prints in ``docs/``, run in a subprocess on the installed package, and its
  exit status;
- ``mistake_catalogue.md``: the table of known mistakes, from ``verification.mistakes``;
- ``lstm_mistake_catalogue.md``: the same for the LSTM (cs231n's ``lstm_*`` functions), with
  the reason each mistake left out is not diagnosed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from verification.mistakes import (
    CATALOGUE,
    LSTM_BREAKS,
    LSTM_LEFT_OUT,
    LSTM_TRANSPOSED_EQUATIONS,
    TRANSPOSED,
    TRANSPOSED_EQUATIONS,
)

DOCS = Path(__file__).resolve().parents[1]
COMMAND = ["grade", "examples/my_lossfun.py", "--layout", "min-char-rnn", "--examples", "3"]


def grade_report() -> str:
    """The command's output, with the command line on top.

    Raises
    ------
    RuntimeError
        If the grade does not say what the page says: exit status 1 and the seed's
        mistake, ``truncated BPTT (k=1)``, named for dWxh, dWhh and dbh.
    """
    run = subprocess.run(
        [sys.executable, "-m", "rnn", *COMMAND],
        capture_output=True,
        text=True,
        check=False,
        cwd=DOCS,
    )
    expected = "lossFun: dWxh, dWhh, dbh: truncated BPTT (k=1); breaks eq. (9)"
    if run.returncode != 1 or run.stderr or expected not in run.stdout:
        raise RuntimeError(
            f"python -m rnn {' '.join(COMMAND)} no longer reports what "
            f"docs/check-your-bptt.md says (exit status {run.returncode}, "
            f"stderr {run.stderr!r}):\n{run.stdout}"
        )
    return f"$ python -m rnn {' '.join(COMMAND)}\n{run.stdout}$ echo $?\n{run.returncode}\n"


def catalogue_table() -> str:
    """The catalogue as a Markdown table: phrase, equation, what the equation says."""
    rows = ["| the report says | equation | what the equation says |", "|---|---|---|"]
    for m in CATALOGUE:
        equation = _ref(m.equation)
        if m is TRANSPOSED:
            equation = ", ".join(
                f"{_ref(eq)} for {name}"
                for name, eq in sorted(
                    TRANSPOSED_EQUATIONS.items(), key=lambda item: int(item[1].strip("()"))
                )
            )
        rows.append(f"| `{m.phrase}` | {equation} | {m.breaks} |")
    return "\n".join(rows) + "\n"


def _ref(equation: str) -> str:
    """A link to the equation's section of the derivation page."""
    return f"{{ref}}`{equation} <eq-{equation.strip('()')}>`"


def lstm_catalogue_table() -> str:
    """The LSTM's catalogue as a Markdown table, every mistake of the RNN's in its order:
    the equation of the LSTM page it breaks, or why it is not diagnosed."""
    rows = ["| the report says | equation | what the equation says |", "|---|---|---|"]
    for m in CATALOGUE:
        if m in LSTM_LEFT_OUT:
            rows.append(f"| `{m.phrase}` | not diagnosed | {LSTM_LEFT_OUT[m]} |")
            continue
        equation, says = LSTM_BREAKS[m]
        shown = _lstm_ref(equation)
        if m is TRANSPOSED:
            shown = ", ".join(
                f"{_lstm_ref(eq)} for cs231n's {'dWx' if role == 'U' else 'dWh'}"
                for role, eq in sorted(LSTM_TRANSPOSED_EQUATIONS.items(), key=lambda i: i[1])
            )
        rows.append(f"| `{m.phrase}` | {shown} | {says} |")
    return "\n".join(rows) + "\n"


def _lstm_ref(equation: str) -> str:
    """A link to the equation's section of the LSTM page ((L13) to (L15) share one)."""
    number = int(equation.strip("(L)"))
    return f"{{ref}}`{equation} <lstm-eq-{13 if 13 <= number <= 15 else number}>`"


def main(outdir: Path) -> None:
    """Write the three files into ``outdir``."""
    (outdir / "grade_my_lossfun.txt").write_text(grade_report(), encoding="utf-8")
    (outdir / "mistake_catalogue.md").write_text(catalogue_table(), encoding="utf-8")
    (outdir / "lstm_mistake_catalogue.md").write_text(lstm_catalogue_table(), encoding="utf-8")
