"""Checkpoints written by other numpy releases and by earlier versions of this package load.

The fixtures in tests/data were written by ``tests/data/write_checkpoints.py``: the same
two-epoch training run of every cell, once with numpy 1.25.0 (the oldest numpy this package
supports), once with numpy 2.4.6, and once by version 0.1.0 of this package, which wrote
through ``np.savez``. The ``lowest`` nox session runs these tests on numpy 1.25, the
``tests`` session on the newest numpy, so files cross between the two in both directions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnn.checkpoint import load_checkpoint
from rnn.training import Trainer

DATA = Path(__file__).parent / "data"
CELLS = ("rnn", "lstm", "gru")
WRITERS = ("numpy-1.25.0", "numpy-2.4.6", "release-0.1.0")


def _fixture(cell: str, writer: str) -> Path:
    return DATA / f"checkpoint-{cell}-{writer}.npz"


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("cell", CELLS)
def test_a_checkpoint_from_another_numpy_or_release_resumes_training(
    cell: str, writer: str, tmp_path: Path
) -> None:
    trainer = Trainer.load(_fixture(cell, writer), cell=cell)
    assert (trainer.epoch, trainer.position, len(trainer.losses)) == (2, 0, 2)
    result = trainer.run_epoch()
    assert np.isfinite(result.loss)
    assert result.loss < trainer.losses[0]  # the run goes on learning where it stopped
    trainer.save(tmp_path / "again.npz")
    assert Trainer.load(tmp_path / "again.npz").losses == trainer.losses


@pytest.mark.parametrize("cell", CELLS)
def test_the_same_run_written_by_two_numpy_releases_holds_the_same_state(cell: str) -> None:
    old = load_checkpoint(_fixture(cell, "numpy-1.25.0"))
    new = load_checkpoint(_fixture(cell, "numpy-2.4.6"))
    for part in ("cell", "vocab", "text", "config", "rng_state"):
        assert getattr(old, part) == getattr(new, part), part
    assert sorted(old.params) == sorted(new.params)
    # The two releases may round matrix products differently (their BLAS builds differ), so
    # after two epochs the parameters agree to rounding, not bit for bit.
    for name, value in new.params.items():
        np.testing.assert_allclose(old.params[name], value, rtol=1e-10, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(old.losses, new.losses, rtol=1e-12)
