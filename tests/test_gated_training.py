"""The gated cells through the trainer and the CLI, with the default settings."""

from __future__ import annotations

import pytest

from rnn import CELLS, Trainer, TrainingConfig, seed_corpus
from rnn.__main__ import main

GATED = ["lstm", "gru"]


@pytest.mark.parametrize("cell", GATED)
def test_training_lowers_the_loss(cell: str) -> None:
    config = TrainingConfig(cell=cell, hidden_size=16, epochs=4, sample_length=0)
    trainer = Trainer(seed_corpus(), config)
    losses = [r.loss for r in trainer.train()]
    assert isinstance(trainer.model, CELLS[cell])
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("cell", GATED)
def test_cli_trains_the_cell(cell: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["train", "--cell", cell, "--epochs", "1", "--hidden-size", "8"]
    assert main([*argv, "--sample-length", "5"]) == 0
    assert "Epoch : 1/1  Loss : " in capsys.readouterr().out


@pytest.mark.parametrize("cell", GATED)
@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow)])
def test_default_training_trains_the_cell_to_a_loss_of_at_most_two(cell: str, seed: int) -> None:
    """``python -m rnn train --cell lstm`` (or ``gru``) with the defaults ends at a loss ≤ 2.

    Sampling draws from the run's generator only after each epoch's updates, so turning it
    off (``sample_length=0``) leaves the losses unchanged and saves time.
    """
    trainer = Trainer(seed_corpus(), TrainingConfig(cell=cell, seed=seed, sample_length=0))
    losses = [r.loss for r in trainer.train()]
    assert 25 <= losses[0] <= 55
    assert losses[-1] <= 2.0
