"""Checkpoints: what they hold, that they round-trip exactly, atomic writes, clean refusals."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rnn import checkpoint as checkpoint_module
from rnn.checkpoint import FORMAT, FORMAT_VERSION, CheckpointError, load_checkpoint
from rnn.data import seed_corpus
from rnn.training import CELLS, Trainer, TrainingConfig, TrainingDiverged

TEXT = "the quick brown fox jumps over the lazy dog; " * 3


def _trainer(cell: str = "rnn", **changes: Any) -> Trainer:
    settings: dict[str, Any] = {
        "cell": cell,
        "hidden_size": 5,
        "sequence_length": 6,
        "epochs": 4,
        "sample_length": 12,
        "batch_size": 2,
    }
    settings.update(changes)
    return Trainer(TEXT, TrainingConfig(**settings))


def _assert_same_state(a: Trainer, b: Trainer) -> None:
    """Every part of the training state is equal bit for bit."""
    assert a.config == b.config
    assert a.text == b.text
    assert a.vocab == b.vocab
    assert type(a.model) is type(b.model)
    for name, p in a.model.params.items():
        assert p.dtype == b.model.params[name].dtype
        assert p.tobytes() == b.model.params[name].tobytes(), name
    ma, mb = a.optimizer.state_dict(), b.optimizer.state_dict()
    assert sorted(ma) == sorted(mb)
    for name in ma:
        assert ma[name].tobytes() == mb[name].tobytes(), name
    assert a.rng.bit_generator.state == b.rng.bit_generator.state
    assert (a.epoch, a.position, a.losses, a.epoch_loss) == (
        b.epoch,
        b.position,
        b.losses,
        b.epoch_loss,
    )
    sa = a.state if isinstance(a.state, tuple) else (a.state,)
    sb = b.state if isinstance(b.state, tuple) else (b.state,)
    assert len(sa) == len(sb)
    for x, y in zip(sa, sb, strict=True):
        assert (x is None and y is None) or x.tobytes() == y.tobytes()


def _rewrite(source: Path, target: Path, drop: tuple[str, ...] = (), **changes: Any) -> None:
    """Copy a checkpoint with entries replaced or dropped (the entry list kept consistent)."""
    with np.load(source, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files if key not in drop}
    arrays.update({k.replace("__", "/"): np.asarray(v) for k, v in changes.items()})
    arrays["entries"] = np.array(json.dumps(sorted(arrays)))
    np.savez(target, **arrays)


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Trainer, Path]:
    """An RNN trainer after one epoch and two windows, and its checkpoint."""
    trainer = _trainer()
    trainer.run_epoch()
    trainer.step()
    trainer.step()
    path = tmp_path / "run.npz"
    trainer.save(path)
    return trainer, path


# ------------------------------------------------------------------ contents


def test_checkpoint_holds_every_part_of_the_training_state(saved: tuple[Trainer, Path]) -> None:
    trainer, path = saved
    with np.load(path, allow_pickle=False) as npz:
        files = set(npz.files)
        assert str(npz["format"]) == FORMAT
        assert int(npz["format_version"]) == FORMAT_VERSION
        assert str(npz["cell"]) == "rnn"
        assert json.loads(str(npz["vocabulary"])) == list(trainer.vocab.chars)
        assert json.loads(str(npz["config"])) == trainer.config.to_dict()
        assert json.loads(str(npz["rng_state"])) == trainer.rng.bit_generator.state
        assert npz["rng_state"].dtype.kind == "U"  # JSON text, not a pickled dict
        assert (int(npz["epoch"]), int(npz["position"])) == (1, 2)
        assert npz["losses"].tolist() == trainer.losses
        assert float(npz["epoch_loss"]) == trainer.epoch_loss
        assert str(npz["state_kind"]) == "array"
        assert npz["state/0"].tobytes() == trainer.state.tobytes()
        assert trainer.vocab.decode(npz["corpus"].tolist()) == TEXT
        assert sorted(json.loads(str(npz["entries"]))) == sorted(files)
        assert all(not npz[key].dtype.hasobject for key in files)
    assert {f"params/{k}" for k in trainer.model.params} <= files
    assert {f"optimizer/{k}" for k in trainer.model.params} <= files


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_cell_round_trips_mid_epoch_exactly(cell: str, dtype: str, tmp_path: Path) -> None:
    trainer = _trainer(cell, dtype=dtype)
    trainer.run_epoch()
    trainer.step()
    trainer.save(tmp_path / "run.npz")
    loaded = Trainer.load(tmp_path / "run.npz", cell=cell)
    _assert_same_state(trainer, loaded)
    assert list(loaded.train()) == list(trainer.train())
    _assert_same_state(trainer, loaded)


def test_a_fresh_trainer_round_trips(tmp_path: Path) -> None:
    """Before the first step the optimizer has no memory and the state is None."""
    trainer = _trainer()
    trainer.save(tmp_path / "fresh.npz")
    loaded = Trainer.load(tmp_path / "fresh.npz")
    _assert_same_state(trainer, loaded)
    assert loaded.optimizer.state_dict() == {}


def test_unicode_corpus_and_unclipped_config_round_trip(tmp_path: Path) -> None:
    text = "ő\r\nø̈ 𝔸😀\ud800 Kedves, " * 4
    trainer = Trainer(text, TrainingConfig(hidden_size=3, sequence_length=5, clip=None))
    trainer.step()
    trainer.save(tmp_path / "u.npz")
    loaded = Trainer.load(tmp_path / "u.npz")
    assert loaded.text == text
    assert loaded.config.clip is None
    _assert_same_state(trainer, loaded)


def test_train_saves_every_n_epochs_and_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    epochs: list[int] = []
    real = checkpoint_module.save_checkpoint

    def spy(path: Any, ckpt: checkpoint_module.Checkpoint) -> None:
        epochs.append(ckpt.epoch)
        real(path, ckpt)

    monkeypatch.setattr("rnn.training.save_checkpoint", spy)
    trainer = _trainer(epochs=7)
    results = list(trainer.train(tmp_path / "run.npz", checkpoint_every=3))
    assert epochs == [3, 6, 7]
    assert len(results) == 7
    assert Trainer.load(tmp_path / "run.npz").epoch == 7


@pytest.mark.parametrize(("every", "error"), [(0, ValueError), (-1, ValueError), (1.5, TypeError)])
def test_train_refuses_a_bad_checkpoint_interval(every: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="checkpoint_every must be"):
        next(_trainer().train("unused.npz", checkpoint_every=every))


# ------------------------------------------------------------------ atomic writes


def test_a_failed_write_leaves_the_previous_checkpoint_and_no_temporary_file(
    saved: tuple[Trainer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    trainer, path = saved
    before = path.read_bytes()
    trainer.run_epoch()

    write_array = np.lib.format.write_array
    written = []

    def crash(member: Any, array: Any, **kwargs: Any) -> None:
        if len(written) == 3:  # the disk fills up in the middle of the fourth entry
            member.write(b"\x93NUMPY half an array")
            raise OSError(28, "No space left on device")
        written.append(array)
        write_array(member, array, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", crash)
    with pytest.raises(OSError, match="No space left"):
        trainer.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_a_folder_moved_during_a_write_keeps_no_temporary_file(tmp_path: Path) -> None:
    """The rename fails by the folder's old path, and the temporary file written into the
    folder is removed from where the folder went."""
    (tmp_path / "runs").mkdir()

    def write_while_the_folder_moves() -> None:
        with checkpoint_module.atomic_write(tmp_path / "runs" / "run.npz") as file:
            file.write(b"half a checkpoint")
            (tmp_path / "runs").rename(tmp_path / "moved")

    with pytest.raises(FileNotFoundError):
        write_while_the_folder_moves()
    assert list((tmp_path / "moved").iterdir()) == []


def test_an_interrupted_rename_leaves_the_previous_checkpoint(
    saved: tuple[Trainer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    trainer, path = saved
    before = path.read_bytes()

    def interrupted(src: Any, dst: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        trainer.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_the_file_is_synced_before_it_replaces_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, Any]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append(("fsync", os.fstat(fd).st_ino))
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        calls.append(("replace", (str(src), str(dst))))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    target = tmp_path / "run.npz"
    _trainer().save(target)
    (first, synced), (second, (src, dst)), (third, folder) = calls
    assert (first, second, third) == ("fsync", "replace", "fsync")
    assert Path(src).parent == tmp_path  # same folder, so the rename is atomic
    assert dst == str(target)
    assert synced == target.stat().st_ino  # the file synced is the one renamed into place
    assert folder == tmp_path.stat().st_ino
    assert load_checkpoint(target).epoch == 0


def test_saving_into_a_missing_folder_fails_without_writing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        _trainer().save(tmp_path / "missing" / "run.npz")
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_a_state_that_is_not_arrays(tmp_path: Path) -> None:
    trainer = _trainer()
    trainer.state = {"h": np.zeros((2, 5))}
    with pytest.raises(ValueError, match="state must be None, an array or a tuple"):
        checkpoint_module.save_checkpoint(tmp_path / "x.npz", trainer.to_checkpoint())
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ refusals


def test_files_that_are_not_checkpoints_are_refused(tmp_path: Path) -> None:
    cases = {
        "empty": (b"", "is an empty file"),
        "text": (b"hello", "is not a checkpoint: it is not an .npz"),
        "pickle": (b"\x80\x04K\x01.", "is a Python pickle"),
        "npy": (b"\x93NUMPY\x01\x00", "single .npy array"),
        "zip": (b"PK\x03\x04", "truncated or corrupted"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CheckpointError, match=message):
            load_checkpoint(tmp_path / name)
    with zipfile.ZipFile(tmp_path / "docs.zip", "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(CheckpointError, match=r"zip file but not a checkpoint \(it holds 'readme"):
        load_checkpoint(tmp_path / "docs.zip")
    with pytest.raises(CheckpointError, match="is a directory"):
        load_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint("a\0b")


def test_a_path_through_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    with pytest.raises(CheckpointError, match=r"cannot read checkpoint .*: Not a directory"):
        load_checkpoint(tmp_path / "notes.txt" / "run.npz")


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.999])
def test_truncated_checkpoints_are_refused(saved: tuple[Trainer, Path], fraction: float) -> None:
    _, path = saved
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        Trainer.load(path)


def test_a_changed_array_byte_is_caught_by_the_checksum(saved: tuple[Trainer, Path]) -> None:
    _, path = saved
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("params/V.npy")
    data[info.header_offset + 30 + len(info.filename) + len(info.extra) + 128 + 5] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"Bad CRC-32 for file 'params/V.npy'"):
        Trainer.load(path)


def test_a_header_that_lies_about_the_size_is_refused_before_reading(tmp_path: Path) -> None:
    """A member whose .npy header claims 10^12 entries must not be allocated."""
    header = {"descr": "<f8", "fortran_order": False, "shape": (10**12,)}
    with zipfile.ZipFile(tmp_path / "big.npz", "w") as zf, zf.open("format.npy", "w") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.write(b"\0" * 64)
    with pytest.raises(CheckpointError, match="bytes, but its header describes 8000000000"):
        load_checkpoint(tmp_path / "big.npz")


def test_npy_format_versions_other_than_1_and_2_are_refused(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "v3.npz", "w") as zf, zf.open("format.npy", "w") as f:
        f.write(np.lib.format.magic(3, 0) + b"\0" * 16)
    with pytest.raises(CheckpointError, match=r"\.npy version \(3, 0\)"):
        load_checkpoint(tmp_path / "v3.npz")


def test_an_archive_with_a_repeated_entry_is_refused(saved: tuple[Trainer, Path]) -> None:
    _, path = saved
    with (
        pytest.warns(UserWarning, match="Duplicate name"),
        zipfile.ZipFile(path, "a") as zf,
    ):
        zf.writestr("epoch.npy", b"")
    with pytest.raises(CheckpointError, match="an entry appears twice"):
        load_checkpoint(path)


def test_a_newer_format_version_is_refused_with_advice(saved: tuple[Trainer, Path]) -> None:
    _, path = saved
    _rewrite(path, path, format_version=FORMAT_VERSION + 1, cell="transformer")
    with pytest.raises(
        CheckpointError, match=rf"newer than the version {FORMAT_VERSION} .*upgrade rnn-reference"
    ):
        load_checkpoint(path)


def test_another_cell_type_is_refused(saved: tuple[Trainer, Path]) -> None:
    _, path = saved
    with pytest.raises(CheckpointError, match="holds a model of cell type 'rnn', not 'lstm'"):
        Trainer.load(path, cell="lstm")


def test_a_lost_entry_is_noticed(saved: tuple[Trainer, Path]) -> None:
    """The entry list catches a member that a corrupted zip directory no longer shows."""
    _, path = saved
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files if key != "optimizer/W"}
    np.savez(path, **arrays)
    with pytest.raises(CheckpointError, match="its entries are not the ones it lists"):
        load_checkpoint(path)


BAD_ENTRIES: list[tuple[dict[str, Any], tuple[str, ...], str]] = [
    ({"format_version": 0}, (), "'format_version' entry that is not an integer ≥ 1"),
    ({"format_version": 1.0}, (), "'format_version' entry that is not an integer"),
    ({"cell": 3}, (), "'cell' entry that is not a text"),
    ({}, ("cell",), "lacks the entry 'cell'"),
    ({"vocabulary": "[1, 2"}, (), "'vocabulary' entry that is not valid JSON"),
    ({"vocabulary": '"ab"'}, (), "'vocabulary' entry that is not a JSON list"),
    ({"vocabulary": '["a", "a"]'}, (), "invalid vocabulary: vocabulary characters must be"),
    ({"epoch": -1}, (), "'epoch' entry that is not an integer ≥ 0"),
    ({"losses": [1.0, 2.0]}, (), r"'losses' entry that is not finite float64 of shape \(1,\)"),
    ({"losses": [np.nan]}, (), "'losses' entry that is not finite float64"),
    ({"epoch_loss": np.float32(1)}, (), "'epoch_loss' entry that is not finite float64"),
    ({"corpus": np.array([0, 1])}, (), "'corpus' entry that is not a non-empty array"),
    ({"corpus": np.array([99], dtype=np.uint8)}, (), "corpus index ≥ the vocabulary size"),
    ({"params__U": np.array([["x"]])}, (), "non-float array params/U"),
    ({"state_kind": "dict"}, (), "invalid recurrent state"),
    ({"state_kind": "none"}, (), "'none' recurrent state of 1 arrays"),
    ({"state_kind": "tuple"}, ("state/0",), "'tuple' recurrent state of 0 arrays"),
    ({"state__1": np.zeros((2, 5))}, (), "'array' recurrent state of 2 arrays"),
    ({"rng_state": '{"bit_generator": "MT19937"}'}, (), "not a PCG64 generator state"),
]


@pytest.mark.parametrize(("changes", "drop", "message"), BAD_ENTRIES)
def test_malformed_entries_are_refused(
    saved: tuple[Trainer, Path], changes: dict[str, Any], drop: tuple[str, ...], message: str
) -> None:
    _, path = saved
    _rewrite(path, path, drop=drop, **changes)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def _state_json(**changes: Any) -> str:
    state = np.random.default_rng(0).bit_generator.state
    state.update(changes)
    return json.dumps(state)


@pytest.mark.parametrize(
    "rng_state",
    [
        _state_json(has_uint32=2),
        _state_json(uinteger=2**32),
        _state_json(uinteger=True),
        _state_json(state={"state": -1, "inc": 1}),
        _state_json(state={"state": 1}),
        _state_json(extra=1),
    ],
)
def test_a_malformed_generator_state_is_refused(
    saved: tuple[Trainer, Path], rng_state: str
) -> None:
    _, path = saved
    _rewrite(path, path, rng_state=rng_state)
    with pytest.raises(CheckpointError, match="not a PCG64 generator state"):
        load_checkpoint(path)


INCONSISTENT: list[tuple[dict[str, Any], tuple[str, ...], str]] = [
    ({"cell": "transformer"}, (), "cell type 'transformer' is not one of"),
    (
        {"config": json.dumps({"cell": "rnn", "depth": 3})},
        (),
        r"unknown hyperparameters \['depth'\]",
    ),
    ({"config": json.dumps({"cell": "rnn", "hidden_size": 0})}, (), "hidden_size must be ≥ 1"),
    ({"cell": "gru"}, (), "the hyperparameters name cell 'rnn', not 'gru'"),
    ({"vocabulary": json.dumps(list(" ;abcdefghijklmnopqrstuvwxyZ"))}, (), "vocabulary is not"),
    ({"params__W": np.zeros((4, 4))}, (), r"W must have shape \(5, 5\)"),
    ({"params__X": np.zeros(1)}, (), "its cell and hyperparameters have no params/X"),
    ({"params__b": np.full(5, np.inf)}, (), "parameter b must be finite"),
    ({}, ("optimizer/W",), r"cover the parameters .* got \['U', 'V', 'b', 'c'\]"),
    ({"optimizer__W": np.zeros((5, 4))}, (), r"optimizer/W must have shape \(5, 5\)"),
    ({"optimizer__W": -np.ones((5, 5))}, (), "AdaGrad memory W must be finite, real and ≥ 0"),
    ({"position": 99}, (), "position 99 is not a window of the"),
    ({"position": 0}, (), "an epoch that has not started must have no state"),
    ({"state__0": np.zeros((2, 4))}, (), r"state/0 must have shape \(2, 5\) and dtype float64"),
    ({"state__0": np.full((2, 5), np.nan)}, (), "recurrent state must be .* and finite"),
]


@pytest.mark.parametrize(("changes", "drop", "message"), INCONSISTENT)
def test_parts_that_do_not_fit_together_are_refused(
    saved: tuple[Trainer, Path], changes: dict[str, Any], drop: tuple[str, ...], message: str
) -> None:
    _, path = saved
    _rewrite(path, path, drop=drop, **changes)
    prefix = re.escape(f"checkpoint {str(path)!r} is inconsistent: ")
    with pytest.raises(CheckpointError, match=f"{prefix}.*{message}"):
        Trainer.load(path)


def test_a_loss_history_that_does_not_match_the_epoch_is_refused(
    saved: tuple[Trainer, Path],
) -> None:
    """The file format cannot express this; a Checkpoint built in code can."""
    trainer, _ = saved
    ckpt = dataclasses.replace(trainer.to_checkpoint(), losses=())
    with pytest.raises(ValueError, match="0 losses for 1 epochs"):
        Trainer.from_checkpoint(ckpt)


def test_a_tuple_state_where_the_cell_has_an_array_is_refused(
    saved: tuple[Trainer, Path],
) -> None:
    _, path = saved
    _rewrite(path, path, state_kind="tuple", state__1=np.zeros((2, 5)))
    with pytest.raises(CheckpointError, match="its cell and hyperparameters have no state/1"):
        Trainer.load(path)


def test_a_dtype_other_than_the_configs_is_refused(saved: tuple[Trainer, Path]) -> None:
    trainer, path = saved
    params = {f"params__{k}": v.astype(np.float32) for k, v in trainer.model.params.items()}
    _rewrite(path, path, **params)
    expected = r"params/U must have .* dtype float64 .* got \(5, 28\) and float32"
    with pytest.raises(CheckpointError, match=expected):
        Trainer.load(path)


def test_a_seed_corpus_checkpoint_stores_the_corpus_compactly(tmp_path: Path) -> None:
    """The corpus is stored as indices of the smallest unsigned type that holds V − 1."""
    trainer = Trainer(seed_corpus(), TrainingConfig(hidden_size=2, epochs=1))
    trainer.save(tmp_path / "seed.npz")
    with np.load(tmp_path / "seed.npz", allow_pickle=False) as npz:
        assert npz["corpus"].dtype == np.uint8
        assert npz["corpus"].shape == (559,)


def test_step_refuses_to_run_past_the_end_of_the_epoch() -> None:
    trainer = _trainer()
    for _ in range(trainer.windows_per_epoch):
        trainer.step()
    with pytest.raises(RuntimeError, match="all 11 windows of the epoch are done"):
        trainer.step()
    assert trainer.run_epoch().epoch == 1


# ------------------------------------------------------------------ numerical faults


def _one_window_trainer(learning_rate: float, **changes: Any) -> Trainer:
    """A corpus of 11 characters, so every epoch is a single window of 10."""
    config = TrainingConfig(
        hidden_size=4, sequence_length=10, epochs=5, sample_length=5, learning_rate=learning_rate
    )
    return Trainer("abcdefghijk", dataclasses.replace(config, **changes))


def test_an_overflowing_loss_stops_training_and_keeps_the_last_good_checkpoint(
    tmp_path: Path,
) -> None:
    trainer, path = _one_window_trainer(1e307), tmp_path / "run.npz"
    run = trainer.train(path)
    assert next(run).epoch == 1
    good = path.read_bytes()
    with pytest.raises(TrainingDiverged) as info:
        next(run)
    message = str(info.value)
    assert re.fullmatch(
        rf"the loss became (inf|nan) in epoch 2, window 1 of 1; "
        rf"checkpoint {re.escape(repr(str(path)))} keeps epoch 1",
        message,
    ), message
    assert (info.value.epoch, info.value.window) == (2, 1)
    assert path.read_bytes() == good
    # The fault was caught before the update: the trainer still holds the saved weights.
    for name, p in Trainer.load(path).model.params.items():
        assert p.tobytes() == trainer.model.params[name].tobytes()


def test_a_fault_without_checkpoint_names_the_epoch() -> None:
    with pytest.raises(TrainingDiverged, match=r"^the loss became \w+ in epoch 2, window 1 of 1$"):
        list(_one_window_trainer(1e307).train())


def test_a_fault_while_sampling_stops_training(tmp_path: Path) -> None:
    path = tmp_path / "run.npz"
    with pytest.raises(TrainingDiverged, match=r"while sampling after epoch 1 .* left unchanged"):
        list(_one_window_trainer(1e308).train(path))
    assert not path.exists()


def test_non_finite_parameters_stop_training() -> None:
    """An update that makes a weight infinite is caught right after the step."""
    trainer = _one_window_trainer(0.1)
    trainer.optimizer.learning_rate = float("inf")
    with pytest.raises(TrainingDiverged, match="parameter U became NaN or infinite in epoch 1"):
        trainer.run_epoch()


def test_entries_in_npy_format_2_are_read(saved: tuple[Trainer, Path], tmp_path: Path) -> None:
    """numpy writes format 2.0 for headers over 64 KiB; the loader reads both."""
    trainer, path = saved
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    target = tmp_path / "v2.npz"
    with zipfile.ZipFile(target, "w") as zf:
        for key, arr in arrays.items():
            with zf.open(f"{key}.npy", "w") as f:
                np.lib.format.write_array(f, arr, version=(2, 0))
    with zipfile.ZipFile(target) as zf, zf.open("params/W.npy") as f:
        assert np.lib.format.read_magic(f) == (2, 0)
    _assert_same_state(Trainer.load(target), trainer)


def test_a_version_1_checkpoint_still_loads_and_resumes(saved: tuple[Trainer, Path]) -> None:
    """Version 1 had no validation: its run resumes with no time spent and no best loss."""
    trainer, path = saved
    _rewrite(
        path,
        path,
        drop=("elapsed_s", "interval_loss", "best_val_loss"),
        format_version=np.array(1),
    )
    loaded = Trainer.load(path)
    assert (loaded.elapsed, loaded.interval_loss, loaded.best_val_loss) == (0.0, 0.0, None)
    assert loaded.run_epoch() == trainer.run_epoch()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"best_val_loss": np.zeros(2)},
            "'best_val_loss' entry that is not of shape (0,) or (1,)",
        ),
        ({"best_val_loss": np.array([np.nan])}, "'best_val_loss' entry that is not finite"),
        ({"elapsed_s": np.array(-1.0)}, "negative 'elapsed_s' entry"),
        ({"interval_loss": np.array(1)}, "'interval_loss' entry that is not finite float64"),
    ],
)
def test_broken_version_2_entries_are_refused(
    saved: tuple[Trainer, Path], changes: dict[str, Any], message: str
) -> None:
    _, path = saved
    _rewrite(path, path, **changes)
    with pytest.raises(CheckpointError, match=re.escape(message)):
        Trainer.load(path)


def test_adam_state_with_its_integer_step_count_round_trips(tmp_path: Path) -> None:
    trainer = Trainer(
        seed_corpus(), TrainingConfig(hidden_size=4, epochs=1, sample_length=0, optimizer="adam")
    )
    trainer.step()
    trainer.save(tmp_path / "adam.npz")
    state = Trainer.load(tmp_path / "adam.npz").optimizer.state_dict()
    assert state["step"].dtype == np.int64
    assert int(state["step"]) == 1
    assert sorted(state) == trainer.optimizer.state_keys(trainer.model.params)
