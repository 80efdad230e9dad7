"""The streams of a window shared among worker processes (rnn/parallel.py).

The loss (5) and every gradient are sums over the B streams, so a pool of workers that
each take a slice of the streams and add their results must return what one call over
all streams returns, up to the order of the additions: 1e-12 relative in float64, here
for every cell, one and two layers, two and three workers, against both the fast path
and the reference model. The rest is the pool's life: errors raised in a worker come
back with their type and message, a worker that dies is reported and closes the pool,
the workers ignore Ctrl-C and end with the process that started them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numerics import normwise_error

from rnn import fast
from rnn.__main__ import main
from rnn.model import RecurrentModel
from rnn.parallel import StreamPool, WorkerError, placement
from rnn.training import CELLS, Trainer, TrainingConfig

V, H, T, B = 7, 5, 4, 5


def _model(cell: str, layers: int, seed: int = 0) -> RecurrentModel:
    return CELLS[cell].random(V, H, np.random.default_rng(seed), num_layers=layers, scale=0.5)


def _state(cell: str, layers: int, rng: np.random.Generator) -> Any:
    """A random initial state for B streams: (B, H), the LSTM's pair, one per layer."""

    def one() -> Any:
        h = rng.standard_normal((B, H))
        return (h, rng.standard_normal((B, H))) if cell == "lstm" else h

    return one() if layers == 1 else tuple(one() for _ in range(layers))


def _arrays(state: Any) -> list[np.ndarray]:
    if isinstance(state, tuple):
        return [a for part in state for a in _arrays(part)]
    return [state]


@pytest.fixture(scope="module", params=[(c, n) for c in sorted(CELLS) for n in (1, 2)])
def case(request: pytest.FixtureRequest) -> Iterator[tuple[RecurrentModel, StreamPool]]:
    """A model of each cell and depth with a pool of 3 workers: B = 5 splits as 1, 2, 2."""
    cell, layers = request.param
    model = _model(cell, layers)
    with StreamPool(model, workers=3) as pool:
        yield model, pool


@pytest.mark.parametrize("seed", range(3))
def test_pool_returns_what_one_call_over_all_streams_returns(
    case: tuple[RecurrentModel, StreamPool], seed: int
) -> None:
    model, pool = case
    rng = np.random.default_rng(seed)
    x, y = rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))
    h0 = None if seed == 0 else _state(model.cell, model.num_layers, rng)
    loss, grads, state = pool.loss_and_gradients(model, x, y, h0)
    one_loss, one_grads, one_state = fast.loss_and_gradients(model, x, y, h0)
    ref_loss, ref_grads, ref_state = model.loss_and_gradients(x, y, h0)
    for other_loss, other_grads, other_state in (
        (one_loss, one_grads, one_state),
        (ref_loss, ref_grads, ref_state),
    ):
        assert loss == pytest.approx(other_loss, rel=1e-12)
        assert list(grads) == list(other_grads) == list(model.param_names)
        for name in grads:
            assert normwise_error(grads[name], other_grads[name]) <= 1e-12, name
        ours, theirs = _arrays(state), _arrays(other_state)
        assert [a.shape for a in ours] == [a.shape for a in theirs]
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    # the forward half alike
    value, last = pool.loss(model, x, y, h0)
    assert value == pytest.approx(one_loss, rel=1e-12)
    for a, b in zip(_arrays(last), _arrays(one_state), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("window", [1, 3, 4, 10])
def test_windows_carry_the_state_and_add_up_to_the_whole(window: int) -> None:
    """Reading each stream in windows of any length, the state carried from one to the
    next, is the loss (5) of all steps at once: a sum over the steps."""
    model = _model("lstm", 2)
    rng = np.random.default_rng(6)
    steps = 7
    x, y = rng.integers(0, V, (steps, B)), rng.integers(0, V, (steps, B))
    h0 = _state("lstm", 2, rng)
    whole, last = fast.loss(model, x, y, h0)
    with StreamPool(model, workers=2) as pool:
        value, state = pool.loss(model, x, y, h0, window=window)
        with pytest.raises(ValueError, match=r"window must be ≥ 1, got 0"):
            pool.loss(model, x, y, window=0)
    assert value == pytest.approx(whole, rel=1e-12)
    for a, b in zip(_arrays(state), _arrays(last), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_pool_reads_the_models_parameters_at_every_call() -> None:
    model = _model("lstm", 1)
    rng = np.random.default_rng(4)
    x, y = rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))
    with StreamPool(model, workers=2) as pool:
        before, _ = pool.loss(model, x, y)
        model.params["W_f"][...] += 0.25  # in place, as the optimizers update
        after, _ = pool.loss(model, x, y)
    assert after != before
    assert after == pytest.approx(fast.loss(model, x, y)[0], rel=1e-12)


def test_gradients_are_new_arrays_each_call() -> None:
    """A caller may keep (or change) the gradients of one call: the next does not touch them."""
    model = _model("gru", 1)
    rng = np.random.default_rng(5)
    x, y = rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))
    with StreamPool(model, workers=2) as pool:
        _, first, _ = pool.loss_and_gradients(model, x, y)
        kept = {k: g.copy() for k, g in first.items()}
        pool.loss_and_gradients(model, rng.integers(0, V, (T, B)), y)
    for name in kept:
        np.testing.assert_array_equal(first[name], kept[name])


def test_an_error_in_a_worker_comes_back_with_its_type_and_message() -> None:
    model = _model("rnn", 1)
    x = np.zeros((T, B), dtype=int)
    with StreamPool(model, workers=2) as pool:
        bad = x.copy()
        bad[1, 4] = V + 3  # in the second worker's streams
        with pytest.raises(ValueError, match=rf"^targets must lie in \[0, {V}\), got {V + 3}$"):
            pool.loss_and_gradients(model, x, bad)
        # the pool still works after an error of the caller's arguments
        assert pool.loss(model, x, x)[0] == pytest.approx(fast.loss(model, x, x)[0], rel=1e-12)


def test_arguments_the_pool_cannot_split_are_refused() -> None:
    model = _model("rnn", 1)
    with StreamPool(model, workers=3) as pool:
        with pytest.raises(
            ValueError, match=r"3 workers need at least as many streams, got B = 2"
        ):
            pool.loss(model, np.zeros((T, 2), int), np.zeros((T, 2), int))
        with pytest.raises(ValueError, match=r"must have shape \(T, B\), got \(4,\) and \(4,\)"):
            pool.loss(model, np.zeros(T, int), np.zeros(T, int))
        with pytest.raises(ValueError, match=r"must be a rnn with the pool's parameter shapes"):
            pool.loss(_model("rnn", 2), np.zeros((T, B), int), np.zeros((T, B), int))
        with pytest.raises(TypeError, match=r"model must be a RecurrentModel, got dict"):
            pool.loss({}, np.zeros((T, B), int), np.zeros((T, B), int))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"workers must be ≥ 1, got 0"):
        StreamPool(model, workers=0)
    with pytest.raises(TypeError, match=r"workers must be an int"):
        StreamPool(model, workers=2.0)  # type: ignore[arg-type]


def test_close_ends_the_workers_and_a_closed_pool_refuses_calls() -> None:
    model = _model("rnn", 1)
    pool = StreamPool(model, workers=2)
    processes = list(pool._processes)
    assert all(p.is_alive() for p in processes)
    pool.close()
    pool.close()  # a second close does nothing
    assert pool.closed
    assert not any(p.is_alive() for p in processes)
    assert [p.exitcode for p in processes] == [0, 0]  # they ended on request, not killed
    with pytest.raises(RuntimeError, match="the stream pool is closed"):
        pool.loss(model, np.zeros((T, B), int), np.zeros((T, B), int))


def test_a_killed_worker_is_reported_and_closes_the_pool() -> None:
    model = _model("lstm", 1)
    x = np.zeros((T, B), dtype=int)
    pool = StreamPool(model, workers=2)
    victim = pool._processes[1]
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(timeout=10)
    with pytest.raises(
        WorkerError, match=r"^stream worker 2 of 2 ended unexpectedly \(exit code -9\)"
    ):
        pool.loss_and_gradients(model, x, x)
    assert pool.closed
    assert not any(p.is_alive() for p in pool._processes)


def test_workers_ignore_ctrl_c() -> None:
    """Ctrl-C reaches every process of the terminal's group; the caller decides to stop."""
    model = _model("rnn", 1)
    x = np.zeros((T, B), dtype=int)
    with StreamPool(model, workers=2) as pool:
        for process in pool._processes:
            os.kill(process.pid, signal.SIGINT)
            os.kill(process.pid, signal.SIGTERM)
        time.sleep(0.2)
        assert all(p.is_alive() for p in pool._processes)
        assert pool.loss(model, x, x)[0] == pytest.approx(fast.loss(model, x, x)[0], rel=1e-12)


def test_workers_end_when_the_process_that_started_them_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "starter.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, time
            import numpy as np
            from rnn import RNN
            from rnn.parallel import StreamPool

            if __name__ == "__main__":
                model = RNN.random(vocab_size=3, hidden_size=2, rng=np.random.default_rng(0))
                pool = StreamPool(model, workers=2)
                print(*(p.pid for p in pool._processes), flush=True)
                time.sleep(60)
            """
        ),
        encoding="utf-8",
    )
    with subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True
    ) as starter:
        assert starter.stdout is not None
        pids = [int(p) for p in starter.stdout.readline().split()]
        assert len(pids) == 2
        assert all(_running(p) for p in pids)
        starter.kill()  # SIGKILL: no clean-up code runs in the starter
        starter.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_running(p) for p in pids):
        time.sleep(0.05)
    assert not any(_running(p) for p in pids)


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie waiting for its parent."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as file:
            return file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_placement_keeps_workers_in_place_only_when_they_fill_the_cpus() -> None:
    assert placement(3, [2, 5, 7]) == [2, 5, 7]
    assert placement(1, [4]) == [4]
    assert placement(2, [0, 1, 2]) == [None, None]  # a CPU is left for other work
    assert placement(3, [0, 1]) == [None, None, None]
    assert placement(2, None) == [None, None]  # the system does not say


def test_workers_that_fill_the_cpus_each_stay_on_one() -> None:
    allowed = sorted(os.sched_getaffinity(0))
    chosen = allowed[:2]
    model = _model("rnn", 1)
    os.sched_setaffinity(0, chosen)  # the workers inherit this process's CPUs
    try:
        x = np.zeros((T, B), dtype=int)
        with StreamPool(model, workers=len(chosen)) as pool:
            pool.loss(model, x, x)  # an answer: each worker has settled
            kept = [os.sched_getaffinity(p.pid) for p in pool._processes]
        with StreamPool(model, workers=1) as pool:
            pool.loss(model, x, x)
            free = os.sched_getaffinity(pool._processes[0].pid)
    finally:
        os.sched_setaffinity(0, allowed)
    assert kept == [{cpu} for cpu in chosen]
    assert free == ({chosen[0]} if len(chosen) == 1 else set(chosen))


# ------------------------------------------------------------------ in training


def _config(**changes: Any) -> TrainingConfig:
    settings: dict[str, Any] = {
        "cell": "lstm",
        "hidden_size": 6,
        "sequence_length": 5,
        "batch_size": 4,
        "epochs": 2,
        "optimizer": "adam",
        "learning_rate": 0.01,
        "val_fraction": 0.2,
        "eval_every": 3,
        "sample_length": 5,
    }
    return TrainingConfig(**{**settings, **changes})


TEXT = "the quick brown fox jumps over the lazy dog; " * 6


def test_training_with_workers_follows_the_run_in_one_process() -> None:
    """Every update, evaluation and epoch of the run, in float64, to rounding."""
    alone, shared = Trainer(TEXT, _config()), Trainer(TEXT, _config())
    results_alone = list(alone.train())
    results_shared = list(shared.train(workers=3))
    assert len(results_alone) == len(results_shared) > 4
    for a, b in zip(results_alone, results_shared, strict=True):
        assert type(a) is type(b)
    assert shared.run_id == alone.run_id  # the worker count does not change the run
    assert shared.losses == pytest.approx(alone.losses, rel=1e-10)
    assert shared.best_val_loss == pytest.approx(alone.best_val_loss, rel=1e-10)
    for name, p in alone.model.params.items():
        assert normwise_error(shared.model.params[name], p) <= 1e-9, name
    assert shared._pool is None  # the workers ended with the run


def test_validation_with_fewer_streams_than_workers_runs_in_this_process() -> None:
    """A validation part too short for a stream per worker is evaluated without them."""
    trainer = Trainer(TEXT, _config(val_fraction=0.05, eval_every=2))
    assert (len(trainer.val_data) - 1) // 5 == 2  # two validation streams, three workers
    evaluations = [r for r in trainer.train(workers=3) if hasattr(r, "val_loss")]
    assert evaluations
    assert all(r.val_loss is not None for r in evaluations)


def test_workers_outside_one_to_the_batch_size_are_refused() -> None:
    trainer = Trainer(TEXT, _config())
    with pytest.raises(ValueError, match=r"workers must be ≤ batch_size = 4, got 5"):
        trainer.train(workers=5)
    with pytest.raises(ValueError, match=r"workers must be ≥ 1, got 0"):
        trainer.train(workers=0)
    with pytest.raises(TypeError, match=r"workers must be an int"):
        trainer.train(workers="2")  # type: ignore[arg-type]


def test_a_lost_worker_stops_training_and_says_what_the_checkpoint_keeps(
    tmp_path: Path,
) -> None:
    trainer = Trainer(TEXT, _config(epochs=3))
    run = trainer.train(tmp_path / "run.npz", workers=2)
    for _ in run:
        if trainer.epoch == 1:  # the first epoch's checkpoint is written
            break
    assert trainer._pool is not None
    os.kill(trainer._pool._processes[0].pid, signal.SIGKILL)
    with pytest.raises(
        WorkerError,
        match=r"stream worker 1 of 2 ended unexpectedly.*"
        r"checkpoint '.*run.npz' keeps epoch 1$",
    ):
        next(run)
    assert Trainer.load(tmp_path / "run.npz").epoch == 1


def test_cli_trains_with_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = [
        "train",
        "--hidden-size",
        "8",
        "--sample-length",
        "0",
        "--epochs",
        "2",
        "--batch-size",
        "3",
        "--checkpoint",
        "run.npz",
    ]
    assert main([*argv, "--workers", "2"]) == 0
    shared = capsys.readouterr().out
    Path("run.npz").rename("shared.npz")
    assert main(argv) == 0
    alone = capsys.readouterr().out
    assert shared.splitlines()[:2] == alone.splitlines()[:2]  # the header
    losses = [Trainer.load(p).losses for p in ("shared.npz", "run.npz")]
    assert losses[0] == pytest.approx(losses[1], rel=1e-10)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--workers", "0"], "workers must be ≥ 1, got 0"),
        (["--workers", "3", "--batch-size", "2"], "workers must be ≤ batch_size = 2, got 3"),
    ],
)
def test_cli_refuses_workers_it_cannot_use(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--epochs", "1", "--checkpoint", "run.npz", *options]) == 2
    _, err = capsys.readouterr()
    assert err.startswith("python -m rnn: error: " + message)
    assert err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # nothing written, no lock left


def test_cli_reports_a_lost_worker_in_one_line_with_status_1(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "rnn",
        "train",
        "--hidden-size",
        "8",
        "--epochs",
        "500",
        "--sample-length",
        "0",
        "--batch-size",
        "2",
        "--workers",
        "2",
        "--eval-every",
        "5",
        "--metrics",
        "metrics.csv",
        "--checkpoint",
        "run.npz",
    ]
    with subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as run:
        assert run.stdout is not None
        assert run.stderr is not None
        while "Update" not in run.stdout.readline():  # the workers have computed
            assert run.poll() is None, run.stderr.read()
        workers = _children(run.pid)
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)
        _, err = run.communicate(timeout=60)
    assert run.returncode == 1, err
    assert err.count("\n") == 1, err
    assert re.fullmatch(
        r"python -m rnn: training stopped: stream worker [12] of 2 ended unexpectedly "
        r"\(exit code -9\); the pool is closed; checkpoint 'run.npz' "
        r"(was left unchanged|keeps epoch \d+)\n",
        err,
    ), err
    assert not any(_running(p) for p in workers)


def _children(pid: int) -> list[int]:
    """The worker processes started by ``pid``: its children running multiprocessing's
    spawn entry point."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as file:
                parent = int(file.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as file:
                spawned = b"spawn_main" in file.read()
        except OSError:
            continue
        if parent == pid and spawned:
            found.append(int(entry))
    return sorted(found)
