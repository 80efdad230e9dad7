"""Training on real text: the validation split, evaluations, metrics, best checkpoint, time
limit."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rnn.data import corpus, seed_corpus
from rnn.metrics import COLUMNS, read_metrics
from rnn.training import EpochResult, Evaluation, Trainer, TrainingConfig, format_evaluation

SMALL: dict[str, Any] = {
    "cell": "lstm",
    "hidden_size": 8,
    "sequence_length": 10,
    "batch_size": 4,
    "epochs": 3,
    "sample_length": 0,
    "val_fraction": 0.2,
    "eval_every": 3,
    "optimizer": "adam",
    "learning_rate": 0.01,
}


def _trainer(**changes: Any) -> Trainer:
    return Trainer(seed_corpus(), TrainingConfig(**{**SMALL, **changes}))


def test_the_split_holds_out_the_last_fraction_like_nanogpt() -> None:
    trainer = _trainer(val_fraction=0.1)
    n = len(seed_corpus())
    assert len(trainer.train_data) == int(n * 0.9) == 503
    assert trainer.vocab.decode(trainer.val_data) == seed_corpus()[503:]
    assert trainer.windows_per_epoch == ((503 - 1) // 4) // 10
    x, y = trainer._window(trainer.windows_per_epoch - 1)
    assert int(max(x.max(), y.max())) < len(trainer.vocab)
    assert _trainer(val_fraction=0.0).val_data.size == 0


def test_validation_loss_is_the_mean_loss_per_character_of_whole_streams() -> None:
    """Reading a stream in windows with the state carried equals reading it in one pass."""
    trainer = _trainer()
    trainer.run_epoch()
    val, T = trainer.val_data.astype(np.intp), trainer.config.sequence_length
    B = min(trainer.config.batch_size, (len(val) - 1) // T)
    L = (len(val) - 1) // B
    total = sum(
        trainer.model.loss(val[b * L : (b + 1) * L], val[b * L + 1 : (b + 1) * L + 1])
        for b in range(B)
    )
    np.testing.assert_allclose(trainer.validation_loss(), total / (B * L), rtol=1e-12, atol=0)


def test_validation_loss_of_an_untrained_model_is_near_uniform_guessing() -> None:
    trainer = _trainer()
    np.testing.assert_allclose(
        trainer.validation_loss(), math.log(len(trainer.vocab)), rtol=1e-3, atol=0
    )


def test_no_validation_part_is_refused_by_validation_loss() -> None:
    with pytest.raises(ValueError, match="no validation part"):
        _trainer(val_fraction=0.0).validation_loss()


def test_evaluations_come_every_eval_every_updates_with_bits_per_char(tmp_path: Path) -> None:
    trainer = _trainer()
    items = list(trainer.train(metrics=tmp_path / "m.csv"))
    evaluations = [i for i in items if isinstance(i, Evaluation)]
    n = 3 * trainer.windows_per_epoch
    assert [e.update for e in evaluations] == list(range(3, n + 1, 3))
    assert sum(isinstance(i, EpochResult) for i in items) == 3
    for e in evaluations:
        assert e.val_loss is not None
        assert e.val_bpc is not None
        np.testing.assert_allclose(e.val_bpc * math.log(2), e.val_loss, rtol=1e-15)
        assert e.chars == e.update * 4 * 10
        assert e.epoch == pytest.approx(e.update / trainer.windows_per_epoch, rel=1e-15)
    rows = read_metrics(tmp_path / "m.csv")
    assert [r.update for r in rows] == [e.update for e in evaluations]
    assert {r.run for r in rows} == {trainer.run_id}
    for row, e in zip(rows, evaluations, strict=True):
        assert row.val_loss == pytest.approx(e.val_loss, rel=1e-8)
        assert row.train_loss == pytest.approx(e.train_loss, rel=1e-8)
    with open(tmp_path / "m.csv", encoding="utf-8") as file:
        header = next(csv.reader(file))
    assert tuple(header) == COLUMNS


def test_train_loss_of_an_evaluation_is_the_mean_per_character_since_the_last() -> None:
    trainer = _trainer(val_fraction=0.2, eval_every=2, epochs=1)
    reference = _trainer(val_fraction=0.2, eval_every=2, epochs=1)
    window_losses = [reference.step() for _ in range(4)]
    evaluations = [i for i in trainer.train() if isinstance(i, Evaluation)]
    np.testing.assert_allclose(
        [evaluations[0].train_loss, evaluations[1].train_loss],
        [sum(window_losses[:2]) / 20, sum(window_losses[2:4]) / 20],
        rtol=1e-12,
    )


def test_the_best_flag_marks_each_new_lowest_validation_loss() -> None:
    evaluations = [i for i in _trainer(epochs=4).train() if isinstance(i, Evaluation)]
    lowest = math.inf
    for e in evaluations:
        assert e.val_loss is not None
        assert e.best == (e.val_loss < lowest)
        lowest = min(lowest, e.val_loss)


def test_the_best_checkpoint_holds_the_model_of_the_lowest_validation_loss(
    tmp_path: Path,
) -> None:
    trainer = _trainer(epochs=4)
    best = tmp_path / "best.npz"
    evaluations = [i for i in trainer.train(best_checkpoint=best) if isinstance(i, Evaluation)]
    lowest = min(e.val_loss for e in evaluations if e.val_loss is not None)
    saved = Trainer.load(best)
    assert saved.best_val_loss == lowest == trainer.best_val_loss
    np.testing.assert_allclose(saved.validation_loss(), lowest, rtol=1e-12, atol=0)
    assert saved.updates == next(e.update for e in evaluations if e.val_loss == lowest)


def test_a_time_limit_stops_after_the_first_update_past_it_and_saves(tmp_path: Path) -> None:
    trainer = _trainer(epochs=1000)
    calls: list[int] = []
    items = list(
        trainer.train(
            tmp_path / "run.npz",
            time_limit=1e-9,
            on_update=lambda t, loss: calls.append(t.updates),
        )
    )
    assert calls == [1]
    assert items == []  # the first evaluation comes at update 3
    saved = Trainer.load(tmp_path / "run.npz")
    assert (saved.epoch, saved.position, saved.updates) == (0, 1, 1)
    assert saved.elapsed == trainer.elapsed > 0


def test_a_time_limit_at_the_end_of_an_epoch_saves_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trainer = _trainer(epochs=1000, val_fraction=0.0)
    saves: list[int] = []
    monkeypatch.setattr(Trainer, "save", lambda self, path: saves.append(self.updates))
    n = trainer.windows_per_epoch
    ticks = iter(range(10**6))
    monkeypatch.setattr("rnn.training.time.perf_counter", lambda: float(next(ticks)))
    results = list(trainer.train(tmp_path / "run.npz", 5, time_limit=n - 0.5))
    assert [type(r) for r in results] == [EpochResult]
    assert saves == [n]


def test_time_limits_that_are_not_positive_are_refused() -> None:
    trainer = _trainer()
    for bad in (0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="time_limit must be finite and > 0, got"):
            trainer.train(time_limit=bad)
    with pytest.raises(TypeError, match="time_limit must be a number, got str"):
        trainer.train(time_limit="10")  # type: ignore[arg-type]


def test_metrics_of_a_resumed_run_continue_the_file_of_the_run_straight_through(
    tmp_path: Path,
) -> None:
    """Everything but elapsed_s is equal, whether the run stopped and resumed or not."""
    straight = _trainer(epochs=4)
    list(straight.train(metrics=tmp_path / "straight.csv"))
    first = _trainer(epochs=2)
    list(first.train(tmp_path / "run.npz", metrics=tmp_path / "resumed.csv"))
    resumed = Trainer.load(tmp_path / "run.npz")
    resumed.config = TrainingConfig(**{**SMALL, "epochs": 4})
    list(resumed.train(metrics=tmp_path / "resumed.csv"))

    def without_time(path: Path) -> list[tuple[Any, ...]]:
        return [
            (r.run, r.update, r.epoch, r.chars, r.train_loss, r.val_loss)
            for r in read_metrics(path)
        ]

    assert without_time(tmp_path / "resumed.csv") == without_time(tmp_path / "straight.csv")
    times = [r.elapsed_s for r in read_metrics(tmp_path / "resumed.csv")]
    assert times == sorted(times), "elapsed_s continues across the resume"


def test_rows_written_after_the_last_checkpoint_are_dropped_on_resume(tmp_path: Path) -> None:
    """A run killed between checkpoints wrote rows that the resumed run writes again."""
    trainer = _trainer(epochs=2)
    list(trainer.train(tmp_path / "run.npz", metrics=tmp_path / "m.csv"))
    saved_rows = read_metrics(tmp_path / "m.csv")
    resumed = Trainer.load(tmp_path / "run.npz")
    resumed.config = TrainingConfig(**{**SMALL, "epochs": 3})
    run = resumed.train(metrics=tmp_path / "m.csv")
    for _ in run:  # one more epoch's rows, then "killed": back to the checkpoint
        pass
    again = Trainer.load(tmp_path / "run.npz")
    again.config = resumed.config
    list(again.train(metrics=tmp_path / "m.csv"))
    rows = read_metrics(tmp_path / "m.csv")
    assert [r.update for r in rows] == sorted({r.update for r in rows})
    assert rows[: len(saved_rows)] == saved_rows


def test_a_metrics_file_of_another_run_is_refused(tmp_path: Path) -> None:
    list(_trainer(epochs=1).train(metrics=tmp_path / "m.csv"))
    before = (tmp_path / "m.csv").read_bytes()
    other = _trainer(epochs=1, hidden_size=9)
    with pytest.raises(ValueError, match=r"metrics file '.*m.csv' belongs to another run"):
        other.train(metrics=tmp_path / "m.csv")
    assert (tmp_path / "m.csv").read_bytes() == before


def test_the_run_id_ignores_the_epoch_count_and_nothing_else() -> None:
    base = _trainer().run_id
    assert _trainer(epochs=7).run_id == base
    assert _trainer(seed=1).run_id != base
    assert _trainer(learning_rate=0.02).run_id != base
    other_text = Trainer(seed_corpus()[::-1], TrainingConfig(**SMALL))
    assert other_text.run_id != base


def test_a_best_checkpoint_needs_a_validation_part(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="best_checkpoint needs a validation part"):
        _trainer(val_fraction=0.0).train(best_checkpoint=tmp_path / "best.npz")


def test_norm_clipping_rescales_the_gradients_to_the_bound() -> None:
    from rnn.optim import clip_global_norm

    trainer = _trainer(clip=0.5, clip_mode="norm", optimizer="sgd", learning_rate=1.0)
    assert (trainer.optimizer.clip, trainer.optimizer.clip_norm) == (None, 0.5)
    before = {k: v.copy() for k, v in trainer.model.params.items()}
    x, y = trainer._window(0)
    _, grads, _ = trainer.model.loss_and_gradients(x, y)
    trainer.step()
    expected = clip_global_norm({k: g / 4 for k, g in grads.items()}, 0.5)
    for k, p in trainer.model.params.items():
        np.testing.assert_allclose(before[k] - p, expected[k], rtol=1e-12, atol=1e-15)


def test_format_evaluation_prints_nats_and_bits() -> None:
    e = Evaluation(200, 1.5, 12.25, 50_000, 2.5, 2.0, True)
    line = format_evaluation(e)
    assert line == (
        f"Update 200  epoch 1.50  12.2 s  train 2.5000  val 2.0000 nats "
        f"({2 / math.log(2):.4f} bits) per char  (best)"
    )
    assert "val" not in format_evaluation(Evaluation(3, 0.1, 1.0, 30, 2.5, None, False))


def test_shakespeare_trains_below_uniform_guessing_in_a_few_updates() -> None:
    text = corpus("shakespeare")[:200_000]
    config = TrainingConfig(
        cell="lstm",
        hidden_size=32,
        sequence_length=25,
        batch_size=16,
        optimizer="adam",
        learning_rate=0.01,
        clip=5.0,
        val_fraction=0.1,
        eval_every=100,
        dtype="float32",
        sample_length=0,
    )
    trainer = Trainer(text, config)
    evaluation = next(i for i in trainer.train() if isinstance(i, Evaluation))
    assert evaluation.val_loss is not None
    assert evaluation.val_loss < 0.8 * math.log(len(trainer.vocab)), evaluation
