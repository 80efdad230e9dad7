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
``optimizer/<name>``          the optimizer's state, one array per parameter
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
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from rnn.data import Vocabulary

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Checkpoint",
    "CheckpointError",
    "atomic_write",
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
        If the folder does not exist or cannot be written; the target is then untouched.

    Notes
    -----
    The archive is written by :func:`atomic_write`.
    """
    arrays = _to_arrays(checkpoint)

    def write(file: BinaryIO) -> None:
        _write_archive(file, arrays)

    atomic_write(path, write)


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> None:
    """Write a file so that a crash leaves either the old file or the new one, whole.

    Parameters
    ----------
    path : str or path-like
        The file; its folder must exist.
    write : callable
        Writes the whole content into the binary file object it is given.

    Raises
    ------
    OSError
        If the folder does not exist or cannot be written; the target is then untouched.

    Notes
    -----
    The content goes to a temporary file in the same folder (so that the rename cannot
    cross file systems), is flushed with ``fsync``, renamed over the target with
    ``os.replace`` (atomic on POSIX and Windows), and the folder is synced so that the
    rename itself survives a power cut. If anything fails, the temporary file is removed.
    """
    target = os.fspath(path)
    folder = os.path.dirname(target) or "."
    fd, temporary = tempfile.mkstemp(
        prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=folder
    )
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _sync_folder(folder)


def load_checkpoint(path: str | os.PathLike[str], *, cell: str | None = None) -> Checkpoint:
    """Read a checkpoint, refusing anything that is not a well-formed one.

    Parameters
    ----------
    path : str or path-like
        The ``.npz`` file.
    cell : str, optional
        The cell type the caller expects; another one is an error.

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
        or has an entry of the wrong type, shape or range. The message names the file.

    Examples
    --------
    >>> load_checkpoint("no-such-file.npz")
    Traceback (most recent call last):
    ...
    rnn.checkpoint.CheckpointError: checkpoint 'no-such-file.npz' does not exist
    """
    name = os.fspath(path)
    reader = _Reader(name, _read_archive(name))
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
    if sorted(reader.json("entries", list)) != sorted(reader.arrays):
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
    epoch = reader.integer("epoch", 0)
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
        config=reader.json("config", dict),
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


def _read_archive(name: str) -> dict[str, Array]:
    """The arrays of the ``.npz`` file ``name``, or a CheckpointError saying what it is."""
    try:
        with open(name, "rb") as file:
            head = file.read(8)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {name!r} does not exist") from None
    except IsADirectoryError:
        raise CheckpointError(f"checkpoint {name!r} is a directory, not a file") from None
    except (OSError, ValueError) as err:
        reason = err.strerror if isinstance(err, OSError) else "a path cannot hold a NUL character"
        raise CheckpointError(f"cannot read checkpoint {name!r}: {reason}") from None
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
    try:
        with zipfile.ZipFile(name) as archive:
            _check_members(name, archive)
        with np.load(name, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
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


def _check_members(name: str, archive: zipfile.ZipFile) -> None:
    """Check every member's ``.npy`` header against its size before numpy reads it.

    A corrupted header could otherwise ask for an array of any size before the read
    fails; an object array would need pickle.
    """
    names = archive.namelist()
    if len(set(names)) != len(names):
        raise ValueError("an entry appears twice")
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
        try:
            value = json.loads(self.text(key))
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
