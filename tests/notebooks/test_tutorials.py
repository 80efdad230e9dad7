"""The tutorial notebooks of docs/tutorials run from top to bottom (``nox -s notebooks``).

Each notebook asserts its own claims in its cells (the checker passes the exact gradient
and fails the seed's, the grader's verdicts, the validation loss falling), so a cell that
raises is a broken claim, not only broken code. The docs build runs the same notebooks.
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbclient
import pytest

TUTORIALS = Path(__file__).resolve().parents[2] / "docs" / "tutorials"


def _notebooks() -> list[Path]:
    """The text notebooks among docs/tutorials/*.md: the pages whose header names a kernel."""
    return [p for p in sorted(TUTORIALS.glob("*.md")) if "kernelspec" in jupytext.read(p).metadata]


def test_the_tutorials_folder_holds_notebooks() -> None:
    assert [p.name for p in _notebooks()], f"no text notebook found in {TUTORIALS}"


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.stem)
def test_tutorial_runs_from_top_to_bottom(path: Path, tmp_path: Path) -> None:
    notebook = jupytext.read(path)
    client = nbclient.NotebookClient(
        notebook,
        timeout=300,  # seconds per cell, as in docs/conf.py
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},  # files the notebook writes go here
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell raises
