"""The downloadable ``.ipynb`` of each tutorial, from the text notebook its page is built from.

``main(outdir)`` writes ``tutorials/NAME.ipynb`` for every ``docs/tutorials/NAME.md`` that
is a notebook (its header names a kernel), without outputs: a student runs it. Cells tagged
``docs-only`` (the download link itself) are left out.
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"
DOCS_ONLY = "docs-only"


def notebooks() -> list[Path]:
    """The text notebooks among ``docs/tutorials/*.md``, in name order."""
    return [
        path
        for path in sorted(TUTORIALS.glob("*.md"))
        if "kernelspec" in jupytext.read(path).metadata
    ]


def main(outdir: Path) -> None:
    """Write ``outdir/tutorials/NAME.ipynb`` for each tutorial notebook."""
    folder = outdir / "tutorials"
    folder.mkdir(parents=True, exist_ok=True)
    for path in notebooks():
        notebook = jupytext.read(path)
        notebook.cells = [
            cell for cell in notebook.cells if DOCS_ONLY not in cell.metadata.get("tags", [])
        ]
        nbformat.validate(notebook)
        nbformat.write(notebook, folder / f"{path.stem}.ipynb")
