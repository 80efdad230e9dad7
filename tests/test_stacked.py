"""Models on layers: stacked layers, dense inputs, the masked loss and its loss layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from rnn import (
    CELLS,
    GRU,
    LSTM,
    RNN,
    Trainer,
    TrainingConfig,
    Vocabulary,
    seed_corpus,
    softmax_cross_entropy,
)
from rnn.__main__ import main
from rnn.model import RecurrentModel
from verification import check_gradients
from verification.strategies import Case, gradient_problem, map_state, state_arrays


def _stacked(
    cell: type[RecurrentModel], V: int, H: int, L: int, D: int | None, seed: int
) -> RecurrentModel:
    return cell.random(V, H, np.random.default_rng(seed), num_layers=L, input_size=D, scale=0.7)


def _inputs(model: RecurrentModel, T: int, B: int, dense: bool, rng: np.random.Generator) -> Any:
    if dense:
        return rng.standard_normal((T, B, model.input_size))
    return rng.integers(0, model.input_size, (T, B))


@given(
    cell=st.sampled_from(sorted(CELLS)),
    V=st.integers(1, 4),
    H=st.integers(1, 4),
    L=st.integers(2, 3),
    T=st.integers(1, 5),
    B=st.integers(1, 3),
    dense=st.booleans(),
    seed=st.integers(0, 2**16),
)
@example(cell="lstm", V=2, H=3, L=3, T=1, B=1, dense=True, seed=0)
def test_stacked_models_get_the_complex_step_gradient(
    cell: str, V: int, H: int, L: int, T: int, B: int, dense: bool, seed: int
) -> None:
    """Every parameter of every layer, and the initial state of every layer."""
    rng = np.random.default_rng(seed)
    model = _stacked(CELLS[cell], V, H, L, 3 if dense else None, seed)
    x, y = _inputs(model, T, B, dense, rng), rng.integers(0, V, (T, B))
    h0 = map_state(lambda a: rng.standard_normal(a.shape) * 0.5, model.initial_state(B))
    loss, grads, _ = model.loss_and_gradients(x, y, h0)
    assert loss == pytest.approx(model.loss(x, y, h0), rel=1e-14)
    problem = gradient_problem(Case(model, x, y, h0))
    claimed = problem.grads()
    # The analytic side rounds at ε relative to the terms it sums (of the size of the
    # largest gradient entry); the complex step itself is exact.
    largest = max(float(np.max(np.abs(g))) for g in claimed.values())
    report = check_gradients(
        problem.loss_fn, problem.params, claimed, method="complex", atol=1e-13 * largest
    )
    assert report.passed, str(report)
    for name in model.param_names:
        np.testing.assert_array_equal(grads[name], claimed[name])


@pytest.mark.parametrize("cell", [RNN, LSTM, GRU])
def test_one_layer_parameters_draws_and_names_are_unchanged_by_stacking(
    cell: type[RecurrentModel],
) -> None:
    """Layer 0 and the output layer are drawn first, so a stacked model extends a flat one."""
    flat = cell.random(5, 4, np.random.default_rng(3))
    stacked = cell.random(5, 4, np.random.default_rng(3), num_layers=3)
    assert flat.param_names == cell.param_names
    assert stacked.param_names[: len(flat.param_names)] == flat.param_names
    for name in flat.param_names:
        np.testing.assert_array_equal(stacked.params[name], flat.params[name])
    first = cell.layer_type.param_names[0]
    assert stacked.params[f"{first}_l2"].shape == (4, 4)
    assert stacked.num_layers == len(stacked.layers) == 3
    rebuilt = cell(**stacked.params)
    assert rebuilt.param_names == stacked.param_names


def test_layers_share_the_model_arrays_so_an_update_reaches_them() -> None:
    model = LSTM.random(4, 3, np.random.default_rng(0), num_layers=2)
    model.params["W_f_l1"][0, 0] += 1.0
    assert model.layers[1].W_f is model.params["W_f_l1"]


@given(
    cell=st.sampled_from(sorted(CELLS)),
    T=st.integers(1, 6),
    lengths=st.lists(st.integers(1, 6), min_size=1, max_size=3),
    seed=st.integers(0, 2**16),
)
@example(cell="rnn", T=1, lengths=[1], seed=0)
def test_a_masked_batch_scores_each_sequence_as_if_alone(
    cell: str, T: int, lengths: list[int], seed: int
) -> None:
    """Padding past a sequence's end, masked out, changes neither its loss nor the gradients."""
    rng = np.random.default_rng(seed)
    lengths = [min(n, T) for n in lengths]
    model = CELLS[cell].random(4, 3, rng, num_layers=2, scale=0.8)
    x, y = rng.integers(0, 4, (T, len(lengths))), rng.integers(0, 4, (T, len(lengths)))
    mask = np.arange(T)[:, None] < np.array(lengths)[None, :]
    loss, grads, _ = model.loss_and_gradients(x, y, mask=mask)
    total, summed = 0.0, {k: np.zeros_like(v) for k, v in grads.items()}
    for b, n in enumerate(lengths):
        alone, part, _ = model.loss_and_gradients(x[:n, b], y[:n, b])
        total += alone
        summed = {k: summed[k] + part[k] for k in summed}
    np.testing.assert_allclose(loss, total, rtol=1e-12)
    for name, g in grads.items():
        scale = max(1.0, float(np.max(np.abs(g))))
        np.testing.assert_allclose(g, summed[name], rtol=1e-11, atol=1e-13 * scale, err_msg=name)


@given(
    shape=st.lists(st.integers(1, 3), min_size=0, max_size=3),
    V=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_softmax_cross_entropy_counts_the_unmasked_entries_alone(
    shape: list[int], V: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((*shape, V)) * 3
    targets = rng.integers(0, V, shape)
    mask = rng.random(shape) < 0.6
    loss, dlogits = softmax_cross_entropy(logits, targets, mask)
    rows, labels, keep = logits.reshape(-1, V), targets.reshape(-1), mask.reshape(-1)
    expected = sum(
        -(row[label] - np.log(np.sum(np.exp(row))))
        for row, label, kept in zip(rows, labels, keep, strict=True)
        if kept
    )
    np.testing.assert_allclose(loss, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(dlogits[~mask], 0.0)
    report = check_gradients(
        lambda p: softmax_cross_entropy(p["o"], targets, mask)[0],
        {"o": logits},
        {"o": dlogits},
        method="complex",
    )
    assert report.passed, str(report)


def test_softmax_cross_entropy_refuses_a_mask_that_is_not_boolean() -> None:
    with pytest.raises(TypeError, match="mask must be a boolean array, got dtype int64"):
        softmax_cross_entropy(np.zeros((2, 3)), [0, 1], mask=np.array([1, 0]))
    with pytest.raises(ValueError, match=r"targets must have the logits' leading shape \(2,\)"):
        softmax_cross_entropy(np.zeros((2, 3)), [0, 1, 2])
    with pytest.raises(ValueError, match=r"mask must have the targets' shape \(3,\), got \(2,\)"):
        RNN.random(3, 2, np.random.default_rng(0)).loss([0, 1, 2], [1, 2, 0], mask=[True, False])


def test_a_dense_input_model_predicts_over_the_vocabulary_and_does_not_sample() -> None:
    model = GRU.random(5, 3, np.random.default_rng(0), input_size=7, num_layers=2)
    x = np.random.default_rng(1).standard_normal((4, 2, 7))
    assert model.probabilities(x).shape == (4, 2, 5)
    assert model.input_size == 7
    assert "input_size=7" in repr(model)
    with pytest.raises(ValueError, match="needs one-hot inputs over the vocabulary"):
        model.sample(Vocabulary.from_text("abcde"), np.random.default_rng(0))


def test_a_stacked_state_must_hold_one_state_per_layer() -> None:
    model = RNN.random(3, 2, np.random.default_rng(0), num_layers=2)
    with pytest.raises(TypeError, match="h0 of a model with 2 layers must be a tuple of 2"):
        model.loss([0, 1], [1, 2], np.zeros(2))
    with pytest.raises(ValueError, match=r"h0\[1\] must have shape \(2,\), got \(3,\)"):
        model.loss([0, 1], [1, 2], (np.zeros(2), np.zeros(3)))


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_a_stacked_run_resumes_from_its_checkpoint_exactly(cell: str, tmp_path: Path) -> None:
    cfg = TrainingConfig(
        cell=cell,
        hidden_size=5,
        num_layers=2,
        sequence_length=5,
        epochs=2,
        sample_length=5,
        batch_size=2,
    )
    trainer = Trainer(seed_corpus(), cfg)
    trainer.step()
    trainer.save(tmp_path / "run.npz")
    resumed = Trainer.load(tmp_path / "run.npz")
    for a, b in zip(
        state_arrays(trainer.state).values(), state_arrays(resumed.state).values(), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    assert trainer.step() == resumed.step()


def test_the_cli_trains_stacked_layers(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "train",
            "--cell",
            "gru",
            "--num-layers",
            "2",
            "--hidden-size",
            "6",
            "--epochs",
            "1",
            "--sample-length",
            "0",
        ]
    )
    assert code == 0
    assert "Epoch : 1/1" in capsys.readouterr().out
    assert main(["train", "--num-layers", "0", "--epochs", "1"]) == 2
    assert capsys.readouterr().err.strip().endswith("num_layers must be ≥ 1, got 0")
