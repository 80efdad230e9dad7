"""Student files for the grading tests, shared by more than one test file."""

from __future__ import annotations

from pathlib import Path

STUDENTS = Path(__file__).resolve().parent / "students"
REFERENCE = (STUDENTS / "reference_rnn.py").read_text(encoding="utf-8")


def reference_student(tmp_path: Path, body: str) -> Path:
    """A reference-layout file whose function ``f`` runs ``body`` after the contract's own
    ``loss, grads, h = loss_and_gradients(params, inputs, targets, h0)``."""
    path = tmp_path / "student.py"
    path.write_text(
        REFERENCE + "\ndef f(params, inputs, targets, h0):\n"
        "    loss, grads, h = loss_and_gradients(params, inputs, targets, h0)\n" + body,
        encoding="utf-8",
    )
    return path
