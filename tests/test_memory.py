"""The memory guard's estimates against the peaks tracemalloc measures, for every cell."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from rnn import memory
from rnn.training import CELLS, Trainer, TrainingConfig

SIZES = [  # V, H, T, B: caches dominated by T·B·H, by T·B·V, and by the parameters
    (10, 10, 400, 50),
    (300, 10, 50, 40),
    (10, 60, 100, 30),
    (40, 500, 2, 2),
]


def _traced_peak(work: object) -> int:
    tracemalloc.start()
    try:
        work()  # type: ignore[operator]
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize(("V", "H", "T", "B"), SIZES)
def test_the_call_estimate_is_within_a_factor_of_2_of_the_measured_peak(
    cell: str, V: int, H: int, T: int, B: int
) -> None:
    model = CELLS[cell].random(V, H, np.random.default_rng(0))
    x = np.random.default_rng(1).integers(0, V, (T, B))
    measured = _traced_peak(lambda: model.loss_and_gradients(x, x))
    P = sum(p.size for p in model.params.values())
    estimate = memory.call_peak(cell, V, H, T, B, P, 8)
    assert measured / 2 <= estimate <= 2 * measured, (estimate, measured)


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("layers", [2, 3])
def test_the_call_estimate_of_a_stacked_model_is_within_a_factor_of_2(
    cell: str, layers: int
) -> None:
    """Each layer keeps its own caches: the estimate grows with the layers as the peak does."""
    V, H, T, B = 10, 60, 100, 30
    model = CELLS[cell].random(V, H, np.random.default_rng(0), num_layers=layers)
    x = np.random.default_rng(1).integers(0, V, (T, B))
    measured = _traced_peak(lambda: model.loss_and_gradients(x, x))
    P = sum(p.size for p in model.params.values())
    estimate = memory.call_peak(cell, V, H, T, B, P, 8, layers=layers)
    assert measured / 2 <= estimate <= 2 * measured, (estimate, measured)


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize(("V", "H", "T", "B"), SIZES)
def test_the_training_estimate_is_within_a_factor_of_2_of_the_measured_peak(
    cell: str, V: int, H: int, T: int, B: int
) -> None:
    """A trainer built and run for two updates (the second has the optimizer's state)."""
    _check_training_estimate(cell, V, H, T, B, "adagrad", slots=1)


def _check_training_estimate(
    cell: str, V: int, H: int, T: int, B: int, optimizer: str, slots: int
) -> None:
    text = "".join(chr(0x100 + i) for i in np.random.default_rng(2).integers(0, V, 2 * T * B + 1))
    text += "".join(chr(0x100 + i) for i in range(V))  # every character present
    config = TrainingConfig(
        cell=cell, hidden_size=H, sequence_length=T, batch_size=B, optimizer=optimizer
    )

    def train() -> None:
        trainer = Trainer(text, config)
        trainer.step()
        trainer.step()

    measured = _traced_peak(train)
    shapes = CELLS[cell].param_shapes(V, H)
    estimate = memory.training_peak(cell, shapes, T, B, 8, len(text), optimizer_slots=slots)
    assert measured / 2 <= estimate <= 2 * measured, (estimate, measured)


def test_a_call_that_does_not_fit_is_refused_before_allocating() -> None:
    model = CELLS["lstm"].random(10, 10, np.random.default_rng(0))
    x = np.broadcast_to(np.intp(1), (10**6, 10**4))  # no memory of its own

    def refused() -> None:
        with pytest.raises(ValueError, match="GiB at its peak"):
            model.loss_and_gradients(x, x)

    measured = _traced_peak(refused)
    assert measured < 2**20


def test_the_available_memory_honours_the_address_space_limit() -> None:
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (2**34, hard))
    try:
        assert memory.available_memory() < 2**34
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize(("V", "H", "T", "B"), [SIZES[0], SIZES[3]])
@pytest.mark.parametrize(("optimizer", "slots"), [("adam", 2), ("rmsprop", 1)])
def test_the_training_estimate_counts_the_optimizers_arrays(
    cell: str, V: int, H: int, T: int, B: int, optimizer: str, slots: int
) -> None:
    """Adam keeps two arrays per parameter, RMSprop one; with H = 500 they weigh most."""
    _check_training_estimate(cell, V, H, T, B, optimizer, slots)
