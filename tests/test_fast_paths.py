"""The vectorised RNN against a step-by-step reference, its memory, and batched/float32 training.

The model computes every non-recurrent part (the input gather, the output layer, the
softmax, the loss and the gradient sums) for all steps at once and reuses buffers in
place. These tests check that this changed no result: against a plain loop written
from the derivation page one step at a time, against its own ``forward``/``backward``
and ``loss``, and in training (B = 1 is the plain single-stream run, bit for bit).
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from rnn import RNN, Trainer, TrainingConfig, fast, log_softmax, seed_corpus, softmax
from rnn.__main__ import main
from rnn.optim import AdaGrad
from verification import check_gradients


def _model(V: int, H: int, seed: int = 0, scale: float = 0.5) -> RNN:
    return RNN.random(V, H, np.random.default_rng(seed), scale=scale)


def _step_by_step(
    m: RNN, x: np.ndarray, y: np.ndarray, h0: np.ndarray, truncation: int | None
) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
    """Equations (1) to (15) one step and one sequence at a time, with one-hot vectors."""
    T, B = x.shape
    V, H = m.V.shape
    grads = {k: np.zeros_like(v) for k, v in m.params.items()}
    dh0 = np.zeros((B, H))
    loss = 0.0
    for b in range(B):
        hs, ps, xs = [h0[b]], [], []
        for t in range(T):
            onehot = np.zeros(V)
            onehot[x[t, b]] = 1.0
            xs.append(onehot)
            hs.append(np.tanh(m.b + m.W @ hs[-1] + m.U @ onehot))  # eqs. (1), (2)
            o = m.c + m.V @ hs[-1]  # eq. (3)
            p = np.exp(o - o.max()) / np.exp(o - o.max()).sum()  # eq. (4)
            ps.append(p)
            loss -= np.log(p[y[t, b]])  # eq. (5)
        for s in range(T):  # the loss at step s, backpropagated through at most k steps
            do = ps[s].copy()
            do[y[s, b]] -= 1.0  # eq. (6)
            grads["c"] += do  # eq. (7)
            grads["V"] += np.outer(do, hs[s + 1])  # eq. (8)
            dh = m.V.T @ do
            lowest = 0 if truncation is None else max(0, s - truncation + 1)
            for t in range(s, lowest - 1, -1):
                delta = (1.0 - hs[t + 1] ** 2) * dh  # eq. (10)
                grads["b"] += delta  # eq. (11)
                grads["W"] += np.outer(delta, hs[t])  # eq. (12)
                grads["U"] += np.outer(delta, xs[t])  # eq. (13)
                dh = m.W.T @ delta  # eq. (9), one step back
                if t == 0:
                    dh0[b] += dh  # eq. (14)
    return loss, grads, dh0


@st.composite
def _problems(draw: st.DrawFn) -> tuple[RNN, np.ndarray, np.ndarray, np.ndarray, int | None]:
    V, H = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    T, B = draw(st.integers(1, 6)), draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    m = _model(V, H, seed, scale=draw(st.sampled_from([0.1, 1.0, 3.0])))
    x, y = rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))
    h0 = rng.uniform(-1, 1, (B, H))
    truncation = draw(st.one_of(st.none(), st.integers(1, 7)))
    return m, x, y, h0, truncation


@given(_problems())
@example((_model(1, 1), np.zeros((1, 1), int), np.zeros((1, 1), int), np.zeros((1, 1)), None))
@example((_model(3, 2), np.array([[0, 0]]), np.array([[1, 2]]), np.ones((2, 2)) * 0.5, 1))
def test_vectorised_pass_equals_the_step_by_step_equations(
    problem: tuple[RNN, np.ndarray, np.ndarray, np.ndarray, int | None],
) -> None:
    """Gathers, all-steps products and np.add.at give the per-step, one-hot sums (eqs. 1-15)."""
    m, x, y, h0, truncation = problem
    loss, grads, _ = m.loss_and_gradients(x, y, h0, truncation)
    _, dh0 = m.backward(m.forward(x, h0), y, truncation)
    ref_loss, ref_grads, ref_dh0 = _step_by_step(m, x, y, h0, truncation)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-12)
    for name in m.param_names:
        np.testing.assert_allclose(grads[name], ref_grads[name], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dh0, ref_dh0, rtol=1e-10, atol=1e-12)


def test_loss_and_gradients_agrees_bit_for_bit_with_forward_backward_and_loss() -> None:
    """One implementation: the fused call and the separate passes do the same arithmetic."""
    m = _model(7, 5, seed=3)
    rng = np.random.default_rng(3)
    x, y, h0 = rng.integers(0, 7, (9, 4)), rng.integers(0, 7, (9, 4)), rng.uniform(-1, 1, (4, 5))
    loss, grads, h_last = m.loss_and_gradients(x, y, h0)
    cache = m.forward(x, h0)
    separate, _ = m.backward(cache, y)
    assert loss == m.loss(x, y, h0)
    np.testing.assert_array_equal(h_last, cache.last_state)
    for name in m.param_names:
        np.testing.assert_array_equal(grads[name], separate[name])


def test_backward_leaves_the_forward_cache_unchanged() -> None:
    """``backward`` works on copies; only ``loss_and_gradients`` reuses its own cache."""
    m = _model(6, 4, seed=4)
    x, y = np.array([[0, 1], [2, 3], [4, 5]]), np.array([[1, 2], [3, 4], [5, 0]])
    cache = m.forward(x)
    hs, logits = cache.hs.copy(), cache.logits.copy()
    first, _ = m.backward(cache, y)
    second, _ = m.backward(cache, y)
    np.testing.assert_array_equal(cache.hs, hs)
    np.testing.assert_array_equal(cache.logits, logits)
    for name in m.param_names:
        np.testing.assert_array_equal(first[name], second[name])


@pytest.mark.parametrize("function", [log_softmax, softmax])
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_softmax_out_may_be_its_input(function: Callable[..., np.ndarray], dtype: type) -> None:
    o = (np.arange(12.0).reshape(3, 4) * [1.0, -2.0, 0.5, 3.0]).astype(dtype)
    expected = function(o.copy())
    result = function(o, out=o)
    assert result is o
    np.testing.assert_array_equal(o, expected)


def _peak_bytes(call: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(("V", "H", "B"), [(2, 1, 1), (2, 3, 2), (5, 4, 3)])
def test_memory_per_step_is_a_few_floats_and_no_python_objects(V: int, H: int, B: int) -> None:
    """Peak memory grows by at most 5 floats per (sequence, unit) per step: O(T·B·(H + V)).

    At H = 1, V = 2 one step of data is a few dozen bytes, while a Python object per step
    (an ndarray header alone is over 100 bytes) would exceed the bound; the seed's loop,
    with its dicts of per-step vectors, takes over 500 bytes a step there.
    """
    m = _model(V, H)
    rng = np.random.default_rng(0)
    peaks = []
    for T in (500, 1000):
        x, y = rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))
        m.loss_and_gradients(x, y)
        peaks.append(_peak_bytes(lambda: m.loss_and_gradients(x, y)))  # noqa: B023
    per_step = (peaks[1] - peaks[0]) / 500
    assert per_step <= 5 * 8 * B * (H + V), per_step


def _plain_epoch(model: RNN, T: int, lr: float) -> tuple[list[float], np.ndarray]:
    """The seed's single stream: 1-D windows, the state carried, AdaGrad with clipping."""
    vocab = sorted(set(seed_corpus()))
    data = np.array([vocab.index(ch) for ch in seed_corpus()])
    optimizer, state, losses = AdaGrad(lr, clip=1.0), None, []
    for start in range(0, len(data) - 1 - T + 1, T):
        x, y = data[start : start + T], data[start + 1 : start + T + 1]
        loss, grads, state = fast.loss_and_gradients(model, x, y, state)  # as the trainer does
        optimizer.step(model.params, grads)
        losses.append(loss)
    assert state is not None
    return losses, state


def test_batch_size_one_reproduces_the_plain_run_bit_for_bit() -> None:
    cfg = TrainingConfig(hidden_size=12, epochs=1, sample_length=0, batch_size=1)
    trainer = Trainer(seed_corpus(), cfg)
    plain = trainer.model.copy()
    losses, h_last = _plain_epoch(plain, cfg.sequence_length, cfg.learning_rate)
    result = trainer.run_epoch()
    running = 0.0
    for loss in losses:  # left to right, as the trainer adds (Python 3.12's sum() compensates)
        running += loss
    assert result.loss == running / len(losses)
    for name in plain.param_names:
        np.testing.assert_array_equal(trainer.model.params[name], plain.params[name])
    final = Trainer(seed_corpus(), cfg)
    for _ in range(final.windows_per_epoch):
        final.step()
    np.testing.assert_array_equal(final.state[0], h_last)


def test_batched_streams_are_contiguous_and_carry_their_own_state() -> None:
    cfg = TrainingConfig(hidden_size=6, sequence_length=5, epochs=1, sample_length=0, batch_size=3)
    trainer = Trainer(seed_corpus(), cfg)
    data, L = trainer.data, (len(trainer.data) - 1) // 3
    windows = list(trainer.windows())
    assert len(windows) == trainer.windows_per_epoch == L // 5
    for i, (x, y) in enumerate(windows):
        for b in range(3):
            np.testing.assert_array_equal(x[:, b], data[b * L + 5 * i : b * L + 5 * i + 5])
            np.testing.assert_array_equal(y[:, b], data[b * L + 5 * i + 1 : b * L + 5 * i + 6])
    before = trainer.model.copy()
    trainer.step()
    for b in range(3):  # each stream's state is that of its own sequence alone
        alone = before.forward(windows[0][0][:, b]).last_state[0]
        np.testing.assert_allclose(trainer.state[b], alone, rtol=1e-14, atol=1e-15)


def test_batched_update_uses_the_mean_gradient_over_streams() -> None:
    cfg = TrainingConfig(hidden_size=6, sequence_length=5, epochs=1, sample_length=0, batch_size=4)
    trainer = Trainer(seed_corpus(), cfg)
    replay, optimizer = trainer.model.copy(), AdaGrad(cfg.learning_rate, clip=cfg.clip)
    x, y = next(iter(trainer.windows()))
    loss, grads, _ = fast.loss_and_gradients(replay, x, y)  # the trainer's gradient
    optimizer.step(replay.params, {k: g / 4 for k, g in grads.items()})
    assert trainer.step() == loss / 4
    for name in replay.param_names:
        np.testing.assert_array_equal(trainer.model.params[name], replay.params[name])


def test_float32_training_stays_float32_and_follows_the_float64_run() -> None:
    cfg = TrainingConfig(hidden_size=16, epochs=10, sample_length=0, dtype="float32")
    trainer = Trainer(seed_corpus(), cfg)
    trainer.step()
    assert trainer.state.dtype == np.float32
    losses = [r.loss for r in trainer.train()]
    assert all(p.dtype == np.float32 for p in trainer.model.params.values())
    reference = Trainer(seed_corpus(), TrainingConfig(**{**cfg.to_dict(), "dtype": "float64"}))
    # ten epochs of float32 rounding (ε ≈ 1.2e-7) move the epoch losses by about 1e-6
    np.testing.assert_allclose(losses, [r.loss for r in reference.train()], rtol=1e-4)
    assert losses[-1] < 0.85 * losses[0]


def test_gradient_checks_run_in_float64_even_for_a_float32_model() -> None:
    """float32 gradients track float64 ones; the checker refuses float32 and takes float64."""
    m32 = RNN.random(6, 5, np.random.default_rng(9), scale=0.5, dtype=np.float32)
    m64 = m32.with_params({k: v.astype(np.float64) for k, v in m32.params.items()})
    x, y = np.array([0, 1, 2, 3, 4, 5]), np.array([1, 2, 3, 4, 5, 0])
    _, g32, _ = m32.loss_and_gradients(x, y)
    _, g64, _ = m64.loss_and_gradients(x, y)
    for name in m32.param_names:
        assert g32[name].dtype == np.float32
        # float32 rounding (ε ≈ 1.2e-7) accumulated over T = 6 steps and H = 5 units
        np.testing.assert_allclose(g32[name], g64[name], rtol=1e-4, atol=1e-5)
    with pytest.raises(TypeError, match="float32"):
        check_gradients(lambda p: m32.with_params(p).loss(x, y), m32.params, g32)
    report = check_gradients(
        lambda p: m64.with_params(p).loss(x, y), m64.params, g64, method="complex"
    )
    assert report.passed, str(report)


def test_cli_trains_batched_in_float32(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["train", "--epochs", "2", "--hidden-size", "8", "--batch-size", "4"]
    assert main([*argv, "--dtype", "float32", "--sample-length", "5"]) == 0
    out = capsys.readouterr().out
    assert "Epoch : 1/2" in out
    assert "Epoch : 2/2" in out
