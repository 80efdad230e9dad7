"""The metrics file: one CSV row per evaluation of a training run.

===============  ==============================================================
column           content
===============  ==============================================================
``run``          the run's identity, :attr:`rnn.training.Trainer.run_id`
``update``       optimizer steps taken so far
``epoch``        ``update`` in epochs (fractional)
``elapsed_s``    seconds of training so far, over every session of the run
``chars``        training characters seen, ``update · B · T``
``train_loss``   mean training loss per character since the previous row, nats
``val_loss``     loss per character on the validation part, nats (empty without one)
``val_bpc``      the same in bits per character, ``val_loss / ln 2``
===============  ==============================================================

A resumed run appends to its file. A file whose rows name another run is refused, and
rows written after the checkpoint the run resumes from (by a run killed between two
checkpoints) are dropped, so that the file reads as one uninterrupted run.
"""

from __future__ import annotations

import csv
import io
import math
import os
import stat
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields

from rnn.checkpoint import atomic_write

__all__ = ["COLUMNS", "MetricsFile", "MetricsRow", "read_metrics"]


@dataclass(frozen=True)
class MetricsRow:
    """One evaluation; the attributes are the columns of the file, in order."""

    run: str
    update: int
    epoch: float
    elapsed_s: float
    chars: int
    train_loss: float
    val_loss: float | None
    val_bpc: float | None

    def cells(self) -> list[str]:
        """The row as CSV cells: integers as such, floats to 9 significant digits."""
        return [
            "" if v is None else str(v) if isinstance(v, (str, int)) else f"{v:.9g}"
            for v in astuple(self)
        ]


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(MetricsRow))
"""The header of every metrics file."""


def read_metrics(path: str | os.PathLike[str]) -> list[MetricsRow]:
    """Read a metrics file.

    Parameters
    ----------
    path : str or path-like
        A CSV file written by :class:`MetricsFile`.

    Returns
    -------
    list of MetricsRow

    Raises
    ------
    ValueError
        If the file cannot be read or is not a regular file, or is not a metrics CSV:
        its header is not :data:`COLUMNS`, or a row has another number of cells or a
        value that is not a number. The message names the file and the line.
    """
    name = os.fspath(path)
    try:
        if not stat.S_ISREG(os.stat(name).st_mode):  # a FIFO or a device is never opened
            raise ValueError(f"metrics file {name!r} is not a regular file")
        with open(name, encoding="utf-8", newline="") as file:
            lines = list(csv.reader(file))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        reason = err.strerror if isinstance(err, OSError) else str(err)
        raise ValueError(f"cannot read metrics file {name!r}: {reason}") from None
    if not lines or tuple(lines[0]) != COLUMNS:
        raise ValueError(f"{name!r} is not a metrics CSV: its header must be {','.join(COLUMNS)}")
    rows = []
    for number, cells in enumerate(lines[1:], start=2):
        try:
            rows.append(_parse(cells))
        except ValueError as err:
            raise ValueError(f"{name!r} is not a metrics CSV: line {number}: {err}") from None
    return rows


def _parse(cells: Sequence[str]) -> MetricsRow:
    if len(cells) != len(COLUMNS):
        raise ValueError(f"{len(cells)} cells, not {len(COLUMNS)}")

    def number(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(f"{text!r} is not a finite number")
        return value

    run, update, epoch, elapsed, chars, train, val, bpc = cells
    return MetricsRow(
        run,
        int(update),
        number(epoch),
        number(elapsed),
        int(chars),
        number(train),
        number(val) if val else None,
        number(bpc) if bpc else None,
    )


@dataclass(frozen=True)
class MetricsFile:
    """A metrics file checked for a run, ready to be continued.

    Build it with :meth:`check`, which reads and writes nothing but the existing file's
    rows, then call :meth:`start` before the first :meth:`append`.

    Attributes
    ----------
    path : str
        The file.
    run : str
        The run's identity, written in every row.
    kept : tuple of MetricsRow
        The rows of an existing file that the run keeps: those up to its current update.
    dropped : int
        Rows of the existing file past the run's current update, dropped by :meth:`start`.
    exists : bool
        Whether the file existed.
    """

    path: str
    run: str
    kept: tuple[MetricsRow, ...]
    dropped: int
    exists: bool

    @classmethod
    def check(cls, path: str | os.PathLike[str], run: str, update: int) -> MetricsFile:
        """Check that ``path`` can hold the metrics of ``run``, now at update ``update``.

        Raises
        ------
        ValueError
            If ``path`` is a directory, its folder is missing or not writable, it is not a
            metrics CSV, or it holds rows of another run.
        """
        name = os.fspath(path)
        folder = os.path.dirname(name) or "."
        if os.path.isdir(name):
            raise ValueError(f"metrics file {name!r} is a directory, not a file")
        if not os.path.isdir(folder):
            raise ValueError(f"the folder of metrics file {name!r} does not exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ValueError(f"cannot write metrics file {name!r}: its folder is not writable")
        if not os.path.exists(name):
            return cls(name, run, (), 0, exists=False)
        rows = read_metrics(name)
        other = next((r.run for r in rows if r.run != run), None)
        if other is not None:
            raise ValueError(
                f"metrics file {name!r} belongs to another run ({other}, not {run}); "
                f"choose another file"
            )
        kept = tuple(r for r in rows if r.update <= update)
        return cls(name, run, kept, len(rows) - len(kept), exists=True)

    def start(self) -> None:
        """Create the file with its header, or drop the rows past the run's update."""
        if self.exists and not self.dropped:
            return
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(row.cells() for row in self.kept)
        with atomic_write(self.path) as file:
            file.write(text.getvalue().encode("utf-8"))

    def append(self, row: MetricsRow) -> None:
        """Add one row at the end of the file and flush it to disk."""
        with open(self.path, "a", encoding="utf-8", newline="") as file:
            csv.writer(file, lineterminator="\n").writerow(row.cells())
            file.flush()
            os.fsync(file.fileno())
