"""Checkpoints: a model and its whole training state in one ``.npz`` file.

A checkpoint is a NumPy ``.npz`` archive, a zip file of ``.npy`` arrays, and is read with
``allow_pickle=False``: it can hold plain arrays of numbers and text and nothing else, so
loading one, even one downloaded from a stranger, can never run code. Everything that is
not an array of numbers (the vocabulary, the hyperparameters, the random generator's
state) is stored as JSON text in a 0-d string array.

============================  ==========================================================
entry                         content
============================  ==========================================================
``format``                    the text ``"rnn-reference checkpoint"``
``format_version``            int, :data:`FORMAT_VERSION` of the writer
``entries``                   JSON list of the names of all entries, to detect a lost one
``cell``                      the cell type, a key of :data:`rnn.training.CELLS`
``vocabulary``                JSON list of the V characters, in index order
``config``                    JSON object of the hyperparameters (``TrainingConfig``)
``params/<name>``             one array per parameter
``optimizer/<key>``           the optimizer's state, :meth:`rnn.optim.Optimizer.state_dict`
``rng_state``                 JSON object, ``numpy.random.PCG64().state``
``epoch``                     epochs completed
``position``                  windows completed in the epoch under way
``epoch_loss``                sum of the per-stream losses of those windows
``state_kind``                ``"none"``, ``"array"`` or ``"tuple"``
``state/<i>``                 the recurrent state carried into the next window, (B, H)
``losses``                    the mean loss of each completed epoch, shape (epoch,)
``corpus``                    the whole text (training and validation parts) as
                              vocabulary indices, uint8 for up to 256 characters
``elapsed_s``                 training time so far, in seconds (version 2)
``interval_loss``             sum of the per-stream losses since the last evaluation
                              (version 2)
``best_val_loss``             the lowest validation loss so far, shape (1,), or shape
                              (0,) before the first evaluation (version 2)
============================  ==========================================================

A version-1 file (written before validation existed) reads with ``elapsed_s`` and
``interval_loss`` 0 and no best validation loss.

Writes are atomic: the archive goes to a temporary file in the target's folder, is
flushed to disk with ``fsync``, and then replaces the target with ``os.replace``. A crash
at any moment leaves either the previous checkpoint or the new one, never a mixture.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from rnn import memory
from rnn.data import MAX_CORPUS_BYTES, Vocabulary

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Checkpoint",
    "CheckpointError",
    "CheckpointInUse",
    "CheckpointWriteError",
    "atomic_write",
    "checkpoint_lock",
    "load_checkpoint",
    "save_checkpoint",
]

FORMAT = "rnn-reference checkpoint"
"""The text of every checkpoint's ``format`` entry."""

FORMAT_VERSION = 2
"""The version this code writes; it reads this version and older ones."""

Array = NDArray[Any]

_STATE_KINDS = ("none", "array", "tuple")
_DETAIL_CHARS = 200


class CheckpointError(ValueError):
    """A file that is not a checkpoint this version can load; the message says why."""


class CheckpointWriteError(OSError):
    """A checkpoint could not be saved (a full disk, a lost permission, a folder gone); the
    previous file is untouched and the message says what it holds."""


class CheckpointInUse(ValueError):
    """Another process holds the lock of a checkpoint; the message names its pid."""


@dataclass(frozen=True)
class Checkpoint:
    """Everything needed to continue a training run exactly where it stopped.

    Parameters
    ----------
    cell : str
        The cell type, a key of :data:`rnn.training.CELLS`.
    vocab : Vocabulary
        The V characters, in index order.
    text : str
        The training corpus.
    config : mapping of str to object
        The hyperparameters, ``TrainingConfig.to_dict()``.
    params : dict of str to ndarray
        The parameters by name.
    optimizer : dict of str to ndarray
        The optimizer's state, :meth:`rnn.optim.Optimizer.state_dict`.
    rng_state : dict
        ``bit_generator.state`` of the run's ``PCG64`` generator.
    epoch : int
        Epochs completed, ≥ 0.
    position : int
        Windows completed in the epoch under way, ≥ 0.
    epoch_loss : float
        Sum of the per-stream losses of those windows.
    state : None, ndarray or tuple of ndarray
        The recurrent state carried into the next window, each array of shape (B, H);
        None for the zero state an epoch starts from.
    losses : tuple of float
        The mean loss of each completed epoch.
    elapsed_s : float
        Seconds of training so far, over all sessions of the run.
    interval_loss : float
        Sum of the per-stream window losses since the last evaluation.
    best_val_loss : float or None
        The lowest validation loss per character so far; None before the first one.
    """

    cell: str
    vocab: Vocabulary
    text: str
    config: Mapping[str, Any]
    params: dict[str, Array]
    optimizer: dict[str, Array]
    rng_state: dict[str, Any]
    epoch: int
    position: int
    epoch_loss: float
    state: Any
    losses: tuple[float, ...]
    elapsed_s: float = 0.0
    interval_loss: float = 0.0
    best_val_loss: float | None = None


def save_checkpoint(path: str | os.PathLike[str], checkpoint: Checkpoint) -> None:
    """Write a checkpoint atomically.

    Parameters
    ----------
    path : str or path-like
        The file to write, usually ending in ``.npz``; its folder must exist. An existing
        file is replaced only once the new one is complete on disk.
    checkpoint : Checkpoint
        What to write.

    Raises
    ------
    ValueError
        If the corpus holds a character outside the vocabulary, or the state is not
        None, an array or a tuple of arrays.
    OSError
        If the folder does not exist or cannot be written, or a write fails; the target
        is then untouched.

    Notes
    -----
    See :func:`atomic_write`.
    """
    arrays = _to_arrays(checkpoint)
    with atomic_write(path) as file:
        _write_archive(file, arrays)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """A binary file that replaces ``path`` in one step when the ``with`` block ends.

    Every checkpoint write goes through this. The bytes go to a temporary file in the
    target's folder (so that the rename cannot cross file systems), are flushed with
    ``fsync``, and the file is renamed over the target with ``os.replace`` (atomic on POSIX
    and Windows); then the folder is synced so that the rename itself survives a power
    cut. A crash at any moment leaves either the previous file or the new one. If the
    block raises (a full disk, a lost permission, an interrupt), the temporary file is
    removed and the target is untouched.

    A symbolic link is written through: its target is replaced and the link stays. A
    replaced file keeps its permission bits; a new one gets those the umask allows.

    Parameters
    ----------
    path : str or path-like
        The file to write; its folder must exist.

    Raises
    ------
    OSError
        If the folder does not exist or cannot be written, or a write fails.
    """
    target = os.path.realpath(path)
    folder = os.path.dirname(target)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, temporary = tempfile.mkstemp(
        prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=folder
    )
    # the folder itself, so that a failed write removes its temporary file even when the
    # folder was moved meanwhile (the rename below then fails, by the folder's old path)
    folder_fd = _open_folder(folder)
    try:
        with os.fdopen(fd, "wb") as file:
            if hasattr(os, "fchmod"):  # pragma: no branch - POSIX
                os.fchmod(file.fileno(), mode)
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            if folder_fd is None:  # pragma: no cover - systems without unlinkat
                os.unlink(temporary)
            else:
                os.unlink(os.path.basename(temporary), dir_fd=folder_fd)
        raise
    finally:
        if folder_fd is not None:
            os.close(folder_fd)
    _sync_folder(folder)


def _open_folder(folder: str) -> int | None:
    """A descriptor of ``folder`` for ``dir_fd`` arguments; None where they do not exist
    or the folder cannot be opened."""
    if os.unlink not in os.supports_dir_fd:  # pragma: no cover - not POSIX
        return None
    try:
        return os.open(folder, getattr(os, "O_PATH", os.O_RDONLY) | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - a folder that went away or cannot be opened
        return None


def _umask() -> int:
    """The process's umask (read by setting it and setting it back)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def checkpoint_lock(path: str | os.PathLike[str], what: str = "checkpoint") -> Iterator[None]:
    """Hold an exclusive lock on the checkpoint ``path`` while the ``with`` block runs.

    The lock is an ``fcntl`` lock on a file ``.NAME.lock`` next to the checkpoint (next to
    its target, if ``path`` is a symbolic link); the file holds the pid of the holder and
    is removed when the block ends. The system releases the lock when a process dies, so
    a killed run never leaves a stale lock behind. Where ``fcntl`` is missing (Windows)
    there is no lock. The run's other outputs (a best checkpoint, a metrics file) are
    locked the same way, ``what`` naming them in the message.

    Raises
    ------
    CheckpointInUse
        (a ``ValueError``) If another process holds the lock; the message names its pid.
    OSError
        If the lock file cannot be created.
    """
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    target = os.path.realpath(path)
    lock = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.lock")
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise CheckpointInUse(
                f"{what} {os.fspath(path)!r} is in use by another run (pid {holder}); "
                f"wait for it to end or choose another path"
            ) from None
        try:
            if os.path.samestat(os.fstat(fd), os.stat(lock)):
                break
        except FileNotFoundError:
            pass
        os.close(fd)  # the holder removed the file we locked: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(fd)


def load_checkpoint(
    path: str | os.PathLike[str], *, cell: str | None = None, layout: Layout | None = None
) -> Checkpoint:
    """Read a checkpoint, refusing anything that is not a well-formed one.

    Nothing large is read before it is known to fit: every entry's ``.npy`` header is
    read first; the text entries have size limits and their JSON a depth limit; then
    ``layout`` gives the shape and dtype that the cell, the hyperparameters and the
    vocabulary imply for every array, and each header must match before its data is
    read. The whole is refused if it does not fit in the memory available.

    Parameters
    ----------
    path : str or path-like
        The ``.npz`` file.
    cell : str, optional
        The cell type the caller expects; another one is an error.
    layout : callable, optional
        ``layout(cell, config, vocab_size)`` returns the expected ``(shape, dtype)`` of
        each ``params/``, ``optimizer/`` and ``state/`` entry, or raises ``ValueError``
        or ``TypeError`` for hyperparameters that are invalid or do not fit the cell
        (:func:`rnn.training.checkpoint_layout`). Without it only the sizes are bounded.

    Returns
    -------
    Checkpoint
        The checked contents. Whether the parameters fit the cell and the
        hyperparameters is checked by :meth:`rnn.training.Trainer.from_checkpoint`.

    Raises
    ------
    CheckpointError
        (a ``ValueError``) If the file is missing, a directory, empty, a pickle, a
        ``.npy`` array, not a zip archive, truncated or corrupted, an ``.npz`` file of
        something else, of a newer format version, of a cell type other than ``cell``,
        has an entry of the wrong type, shape, size or range, or needs more memory than
        is available. The message names the file.

    Examples
    --------
    >>> load_checkpoint("no-such-file.npz")
    Traceback (most recent call last):
    ...
    rnn.checkpoint.CheckpointError: checkpoint 'no-such-file.npz' does not exist
    """
    name = os.fspath(path)
    with _open_archive(name) as (archive, headers):
        reader = _Reader(name, _read_entries(name, archive, headers, _TEXT_LIMITS))
        if reader.arrays.get("format", np.array("")).tolist() != FORMAT:
            raise CheckpointError(
                f"{name!r} is an .npz file but not an rnn-reference checkpoint "
                f"(its 'format' entry is not {FORMAT!r})"
            )
        version = reader.integer("format_version", 1)
        if version > FORMAT_VERSION:
            raise CheckpointError(
                f"checkpoint {name!r} has format version {version}, newer than the version "
                f"{FORMAT_VERSION} that this rnn-reference reads; upgrade rnn-reference"
            )
        if sorted(reader.json("entries", list)) != sorted(headers):
            raise reader.error("is corrupted: its entries are not the ones it lists")
        stored_cell = reader.text("cell")
        if cell is not None and stored_cell != cell:
            raise CheckpointError(
                f"checkpoint {name!r} holds a model of cell type {stored_cell!r}, not {cell!r}"
            )
        try:
            vocab = Vocabulary(tuple(reader.json("vocabulary", list)))
        except (TypeError, ValueError) as err:
            raise reader.error(f"has an invalid vocabulary: {err}") from None
        config = reader.json("config", dict)
        epoch = reader.integer("epoch", 0)
        expected = _expected_arrays(reader, layout, stored_cell, config, len(vocab), epoch)
        _check_headers(reader, headers, expected, laid_out=layout is not None)
        reader.arrays.update(_read_entries(name, archive, headers, None))
    losses = reader.floats("losses", (epoch,))
    corpus = reader.array("corpus")
    if corpus.ndim != 1 or corpus.dtype.kind != "u" or not corpus.size:
        raise reader.error("has a 'corpus' entry that is not a non-empty array of indices")
    if int(corpus.max()) >= len(vocab):
        raise reader.error(f"has a corpus index ≥ the vocabulary size {len(vocab)}")
    return Checkpoint(
        cell=stored_cell,
        vocab=vocab,
        text=vocab.decode_corpus(corpus),
        config=config,
        params=reader.group("params"),
        optimizer=reader.group("optimizer", kinds="fiu"),  # Adam's step count is an integer
        rng_state=_check_rng_state(reader, reader.json("rng_state", dict)),
        epoch=epoch,
        position=reader.integer("position", 0),
        epoch_loss=float(reader.floats("epoch_loss", ())),
        state=reader.state(),
        losses=tuple(losses.tolist()),
        **_version_2_entries(reader, version),
    )


def _version_2_entries(reader: _Reader, version: int) -> dict[str, Any]:
    """The entries format version 2 added, or their values for a version-1 file."""
    if version < 2:
        return {}
    best = reader.array("best_val_loss")
    if best.shape not in ((0,), (1,)):
        raise reader.error("has a 'best_val_loss' entry that is not of shape (0,) or (1,)")
    best = reader.floats("best_val_loss", best.shape)
    elapsed = float(reader.floats("elapsed_s", ()))
    if elapsed < 0:
        raise reader.error("has a negative 'elapsed_s' entry")
    return {
        "elapsed_s": elapsed,
        "interval_loss": float(reader.floats("interval_loss", ())),
        "best_val_loss": float(best[0]) if best.size else None,
    }


# ---------------------------------------------------------------------- writing


def _to_arrays(ckpt: Checkpoint) -> dict[str, Array]:
    """The archive's entries; built completely before anything touches the disk."""
    if ckpt.state is None:
        kind, parts = "none", []
    elif isinstance(ckpt.state, tuple):
        kind, parts = "tuple", list(ckpt.state)
    elif isinstance(ckpt.state, np.ndarray):
        kind, parts = "array", [ckpt.state]
    else:
        raise ValueError(
            f"state must be None, an array or a tuple of arrays, got {type(ckpt.state).__name__}"
        )
    arrays: dict[str, Array] = {
        "format": np.array(FORMAT),
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "cell": np.array(ckpt.cell),
        "vocabulary": _json_array(list(ckpt.vocab.chars)),
        "config": _json_array(dict(ckpt.config)),
        "rng_state": _json_array(ckpt.rng_state),
        "epoch": np.array(ckpt.epoch, dtype=np.int64),
        "position": np.array(ckpt.position, dtype=np.int64),
        "epoch_loss": np.array(ckpt.epoch_loss, dtype=np.float64),
        "losses": np.array(ckpt.losses, dtype=np.float64).reshape(-1),
        "corpus": ckpt.vocab.encode_corpus(ckpt.text),
        "state_kind": np.array(kind),
        "elapsed_s": np.array(ckpt.elapsed_s, dtype=np.float64),
        "interval_loss": np.array(ckpt.interval_loss, dtype=np.float64),
        "best_val_loss": np.array(
            [] if ckpt.best_val_loss is None else [ckpt.best_val_loss], dtype=np.float64
        ),
    }
    arrays.update({f"params/{k}": np.asarray(v) for k, v in ckpt.params.items()})
    arrays.update({f"optimizer/{k}": np.asarray(v) for k, v in ckpt.optimizer.items()})
    arrays.update({f"state/{i}": np.asarray(part) for i, part in enumerate(parts)})
    arrays["entries"] = _json_array(sorted([*arrays, "entries"]))
    return arrays


def _write_archive(file: Any, arrays: Mapping[str, Array]) -> None:
    """Write ``arrays`` as an uncompressed ``.npz`` archive, one ``NAME.npy`` member each.

    This is what ``np.savez`` writes, done here so that the member headers are written with
    ``allow_pickle=False`` on every supported numpy: numpy 2.1 and earlier take no
    ``allow_pickle`` keyword in ``savez`` and would store it as an extra array named
    ``allow_pickle``, which makes the file fail its own list of entries.
    """
    with zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for name, value in arrays.items():
            with archive.open(f"{name}.npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


def _json_array(value: Any) -> Array:
    """JSON text (ASCII, so any character survives) in a 0-d string array."""
    return np.array(json.dumps(value, sort_keys=True, allow_nan=False))


def _sync_folder(folder: str) -> None:
    """Flush a folder's entries (the rename) to disk where the system allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows cannot open a folder
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on a folder
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------- reading


_KIB = 2**10
_TEXT_LIMITS = {
    "format": _KIB,
    "format_version": 8,
    "entries": 256 * _KIB,
    "cell": _KIB,
    "vocabulary": 32 * 2**20,  # JSON of V ≤ 2**20 escaped characters, 4 bytes per character
    "config": 256 * _KIB,
    "rng_state": 4 * _KIB,
    "epoch": 8,
    "position": 8,
    "epoch_loss": 8,
    "state_kind": _KIB,
    "elapsed_s": 8,
    "interval_loss": 8,
    "best_val_loss": 64,  # 8 bytes, or 0; a wrong shape is read and named
}
"""Most bytes each small entry may hold (a text of n characters takes 4n bytes)."""

_MAX_JSON_DEPTH = 16
"""Most levels of nesting a JSON entry may have; a checkpoint's own have 1 or 2."""

Shape = tuple[int, ...]
# layout(cell, config, vocab_size): the expected (shape, dtype) of each array entry
Layout = Callable[[str, Mapping[str, Any], int], Mapping[str, tuple[Shape, np.dtype[Any]]]]

_Header = tuple[Shape, np.dtype[Any], zipfile.ZipInfo]


@contextlib.contextmanager
def _open_archive(name: str) -> Iterator[tuple[zipfile.ZipFile, dict[str, _Header]]]:
    """The open ``.npz`` file ``name`` and its members' headers, or a CheckpointError."""
    _check_regular_file(name)
    try:
        file = open(name, "rb")  # noqa: SIM115 - closed below, after the archive
    except OSError as err:  # a permission, or the file gone since os.stat
        raise CheckpointError(f"cannot read checkpoint {name!r}: {err.strerror}") from None
    with file:
        head = file.read(8)
        if not head:
            raise CheckpointError(f"checkpoint {name!r} is an empty file")
        if head.startswith(b"\x80"):
            raise CheckpointError(
                f"{name!r} is a Python pickle, not a checkpoint; pickles are never loaded, "
                f"because loading one can run arbitrary code"
            )
        if head.startswith(b"\x93NUMPY"):
            raise CheckpointError(f"{name!r} is a single .npy array, not a checkpoint (.npz)")
        if not head.startswith(b"PK"):
            raise CheckpointError(f"{name!r} is not a checkpoint: it is not an .npz (zip) file")
        with _corrupted_as_error(name):
            file.seek(0)
            archive = zipfile.ZipFile(file)
        with archive:
            with _corrupted_as_error(name):
                headers = _read_headers(name, archive)
            yield archive, headers


def _check_regular_file(name: str) -> None:
    """Refuse a path that is missing or is not a regular file, without opening it."""
    try:
        mode = os.stat(name).st_mode
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {name!r} does not exist") from None
    except (OSError, ValueError) as err:  # the only ValueError stat() raises for a str path
        reason = err.strerror if isinstance(err, OSError) else "a path cannot hold a NUL character"
        raise CheckpointError(f"cannot read checkpoint {name!r}: {reason}") from None
    if stat.S_ISDIR(mode):
        raise CheckpointError(f"checkpoint {name!r} is a directory, not a file")
    if not stat.S_ISREG(mode):
        raise CheckpointError(
            f"checkpoint {name!r} is not a regular file (a device, a FIFO or a socket)"
        )


@contextlib.contextmanager
def _corrupted_as_error(name: str) -> Iterator[None]:
    """Report what a damaged zip archive or ``.npy`` member raises as a CheckpointError."""
    try:
        yield
    except CheckpointError:
        raise
    except (
        OSError,
        EOFError,
        ValueError,
        KeyError,
        zipfile.BadZipFile,
        zlib.error,
        NotImplementedError,  # a zip compression method that zipfile lacks
        RuntimeError,  # an encrypted zip member
    ) as err:
        detail = (str(err).splitlines() or [type(err).__name__])[0][:_DETAIL_CHARS]
        raise CheckpointError(
            f"checkpoint {name!r} is truncated or corrupted ({detail})"
        ) from None


def _read_headers(name: str, archive: zipfile.ZipFile) -> dict[str, _Header]:
    """Every member's ``.npy`` header, checked against its size; no array data is read.

    A corrupted header could otherwise ask for an array of any size before the read
    fails; an object array would need pickle.
    """
    names = archive.namelist()
    if len(set(names)) != len(names):
        raise ValueError("an entry appears twice")
    headers = {}
    for info in archive.infolist():
        if not info.filename.endswith(".npy"):
            raise CheckpointError(
                f"{name!r} is a zip file but not a checkpoint (it holds {info.filename!r})"
            )
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(member)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(member)
            else:
                raise ValueError(f"entry {info.filename!r} has .npy version {version}")
            if dtype.hasobject:
                raise CheckpointError(
                    f"checkpoint {name!r} holds the object array {info.filename[:-4]!r}, "
                    f"which only pickle could read; it is refused"
                )
            size = member.tell() + math.prod(shape) * dtype.itemsize
            if size != info.file_size:
                raise ValueError(
                    f"entry {info.filename!r} has {info.file_size} bytes, "
                    f"but its header describes {size}"
                )
        headers[info.filename[:-4]] = (tuple(shape), dtype, info)
    return headers


def _read_entries(
    name: str,
    archive: zipfile.ZipFile,
    headers: Mapping[str, _Header],
    only: Mapping[str, int] | None,
) -> dict[str, Array]:
    """Read the entries named in ``only`` (each at most its number of bytes), or all."""
    arrays = {}
    for key, (shape, dtype, info) in headers.items():
        if only is not None:
            if key not in only:
                continue
            if math.prod(shape) * dtype.itemsize > only[key]:
                raise CheckpointError(
                    f"checkpoint {name!r} has a {key!r} entry of "
                    f"{math.prod(shape) * dtype.itemsize} bytes, more than the {only[key]} "
                    f"such an entry can need"
                )
        with _corrupted_as_error(name), archive.open(info) as member:
            arrays[key] = np.lib.format.read_array(member, allow_pickle=False)
    return arrays


def _expected_arrays(
    reader: _Reader,
    layout: Layout | None,
    cell: str,
    config: Mapping[str, Any],
    vocab_size: int,
    epoch: int,
) -> dict[str, tuple[Shape, np.dtype[Any]] | None]:
    """The shape and dtype each large entry must have; None where only its kind is known."""
    expected: dict[str, tuple[Shape, np.dtype[Any]] | None] = {
        "losses": ((epoch,), np.dtype(np.float64)),
        "corpus": None,
    }
    if layout is not None:
        try:
            expected.update(layout(cell, config, vocab_size))
        except (TypeError, ValueError) as err:
            raise reader.error(f"is inconsistent: {err}") from None
    return expected


def _check_headers(
    reader: _Reader,
    headers: Mapping[str, _Header],
    expected: Mapping[str, tuple[Shape, np.dtype[Any]] | None],
    *,
    laid_out: bool,
) -> None:
    """Compare the large entries' headers with what the small entries imply, and their
    total size with the memory available, before any of their data is read."""
    total = 0
    for key, (shape, dtype, _) in headers.items():
        total += math.prod(shape) * dtype.itemsize
        if key in _TEXT_LIMITS:
            continue
        if laid_out and key not in expected and key.startswith(_LAID_OUT):
            raise reader.error(f"is inconsistent: its cell and hyperparameters have no {key}")
        want = expected.get(key)
        if key == "losses" and want is not None and shape != want[0]:
            expected_shape = want[0]
            raise reader.error(
                f"has a 'losses' entry that is not finite float64 of shape {expected_shape}"
            )
        if want is not None and (shape, dtype) != (tuple(want[0]), np.dtype(want[1])):
            raise reader.error(
                f"is inconsistent: {key} must have shape {tuple(want[0])} and dtype "
                f"{np.dtype(want[1])} for its cell, hyperparameters and vocabulary, "
                f"got {shape} and {dtype}"
            )
        if key == "corpus" and (len(shape) != 1 or shape[0] > MAX_CORPUS_BYTES):
            raise reader.error(
                f"has a corpus of shape {shape}; a corpus is a list of at most "
                f"{MAX_CORPUS_BYTES} characters"
            )
    try:
        memory.check_fits(f"checkpoint {reader.name!r}", 2 * total)  # the arrays and a copy
    except ValueError as err:
        raise CheckpointError(str(err)) from None


_LAID_OUT = ("params/", "optimizer/", "state/")
"""The groups of entries whose every member a layout describes."""


def _json_depth(text: str) -> int:
    """How deeply the arrays and objects of the JSON ``text`` nest, without parsing it."""
    outside = re.sub(r'"(?:[^"\\]|\\.)*"', "", text)  # drop strings, whose brackets do not count
    codes = np.frombuffer(outside.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    opening = (codes == ord("[")) | (codes == ord("{"))
    closing = (codes == ord("]")) | (codes == ord("}"))
    steps = opening.astype(np.int64) - closing
    return int(np.cumsum(steps).max(initial=0))


@dataclass(frozen=True)
class _Reader:
    """Typed access to the entries of a checkpoint, each failure a CheckpointError."""

    name: str
    arrays: dict[str, Array]

    def error(self, message: str) -> CheckpointError:
        return CheckpointError(f"checkpoint {self.name!r} {message}")

    def array(self, key: str) -> Array:
        try:
            return self.arrays[key]
        except KeyError:
            raise self.error(f"lacks the entry {key!r}") from None

    def text(self, key: str) -> str:
        arr = self.array(key)
        if arr.shape != () or arr.dtype.kind != "U":
            raise self.error(f"has a {key!r} entry that is not a text")
        return str(arr[()])

    def integer(self, key: str, minimum: int) -> int:
        arr = self.array(key)
        if arr.shape != () or arr.dtype.kind not in "iu" or int(arr) < minimum:
            raise self.error(f"has a {key!r} entry that is not an integer ≥ {minimum}")
        return int(arr)

    def floats(self, key: str, shape: tuple[int, ...]) -> NDArray[np.float64]:
        arr = self.array(key)
        if arr.shape != shape or arr.dtype != np.float64 or not np.all(np.isfinite(arr)):
            raise self.error(f"has a {key!r} entry that is not finite float64 of shape {shape}")
        return arr

    def json(self, key: str, kind: type) -> Any:
        text = self.text(key)
        if _json_depth(text) > _MAX_JSON_DEPTH:
            raise self.error(f"has a {key!r} entry nested more than {_MAX_JSON_DEPTH} levels deep")
        try:
            value = json.loads(text)
        except ValueError:
            raise self.error(f"has a {key!r} entry that is not valid JSON") from None
        if not isinstance(value, kind):
            raise self.error(f"has a {key!r} entry that is not a JSON {kind.__name__}")
        return value

    def group(self, prefix: str, kinds: str = "f") -> dict[str, Array]:
        """The entries ``prefix/<name>``, all arrays of the dtype kinds ``kinds``
        (real floating-point by default)."""
        out = {
            k.partition("/")[2]: v for k, v in self.arrays.items() if k.startswith(prefix + "/")
        }
        for key, arr in out.items():
            if arr.dtype.kind not in kinds:
                raise self.error(f"has a non-float array {prefix}/{key} ({arr.dtype})")
        return out

    def state(self) -> Any:
        kind = self.text("state_kind")
        parts = self.group("state")
        if kind not in _STATE_KINDS or sorted(parts) != [str(i) for i in range(len(parts))]:
            raise self.error(f"has an invalid recurrent state ({kind!r}, {sorted(parts)})")
        arrays = [parts[str(i)] for i in range(len(parts))]
        expected = {"none": 0, "array": 1}.get(kind, len(arrays))
        if len(arrays) != expected or (kind == "tuple" and not arrays):
            raise self.error(f"has a {kind!r} recurrent state of {len(arrays)} arrays")
        if kind == "none":
            return None
        return arrays[0] if kind == "array" else tuple(arrays)


def _check_rng_state(reader: _Reader, state: dict[str, Any]) -> dict[str, Any]:
    """Check the layout of a ``PCG64`` state, the generator the trainer uses."""

    def word(value: Any, bits: int) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**bits

    inner = state.get("state")
    valid = (
        set(state) == {"bit_generator", "state", "has_uint32", "uinteger"}
        and state["bit_generator"] == "PCG64"
        and word(state["has_uint32"], 1)
        and word(state["uinteger"], 32)
        and isinstance(inner, dict)
        and set(inner) == {"state", "inc"}
        and word(inner["state"], 128)
        and word(inner["inc"], 128)
    )
    if not valid:
        raise reader.error("has an 'rng_state' entry that is not a PCG64 generator state")
    return state
