"""Training throughput of the fast path (rnn/fast.py) against the reference, a seed-style loop
and PyTorch.

Run: ``nox -s bench`` (every ``benchmarks/bench_*.py``), or this script alone with
``python benchmarks/bench_training.py [--repeats 15] [--block 0.15] [--processes 3]
[--train-runs 3]``;
``--no-trim`` is a diagnostic run (see below), not one for the targets.

Two workloads, each timed in one run with its PyTorch counterpart:

**The vanilla RNN, float64, one thread.** One *training step* is
``rnn.fast.loss_and_gradients`` on a window of T characters in each of B streams, the
hidden state carried in from the previous step, then the AdaGrad step with elementwise
clipping (the library's :class:`rnn.optim.AdaGrad`). It is timed at V = 65, H = 100,
T = 25 for B = 1 and B = 64, with BLAS limited to one thread, and reported in characters
per second (T·B per step). Beside it, in the same rounds:

- ``reference``: the same step through the model's own ``loss_and_gradients``;
- ``seed-style``: the seed's way, kept here only: one-hot column vectors and ``np.dot`` at
  every step, per-step dicts, gradients accumulated inside the backward loop, and the
  exact gradient (the seed's missing ``Wᵀδ(t+1)`` term added, so that all rows compute the
  same thing);
- ``torch loop``: PyTorch eager on the CPU in float64, the recurrence written out as here;
- ``torch nn.RNN``: PyTorch's fused ``nn.RNN`` layer fed one-hot inputs, with ``nn.Linear``
  and ``cross_entropy``;
- the float64 matrix product of two 1000 × 1000 matrices, the machine's peak for the
  FLOP-rate figure. A step costs 6H² + 6VH FLOPs per character (2H² and 2VH forward, twice
  that backward); the input projection is a gather and costs none.

**The LSTM, float32, as many threads as cores**, at V = 65, H = 128, B = 50, T = 50, the
sizes of the tiny-shakespeare comparison. Ours is ``rnn.fast.loss_and_gradients`` plus the
library's Adam update (:class:`rnn.optim.Adam`) with clipping by value at 5;
PyTorch's is ``nn.LSTM`` + ``nn.Linear`` + ``cross_entropy``, forward and backward only
(``torch.set_num_threads`` = cores), so its optimizer step is not counted against it. Both
carry the state between steps. numpy's BLAS gets the same number of threads
(threadpoolctl), and the LSTM rows are timed in wall-clock seconds: CPU seconds would add
up the threads. A second row runs ours with numpy's BLAS on one thread: on a machine
shared with other jobs, threads that wait for each other at each of the 100 small
products of a step can lose more than the second core gains. ``reference`` (the model's
own ``loss_and_gradients`` plus the same update, on as many threads as cores) is shown
beside them.

Before timing, the gradients of every implementation are checked against ours.

Each implementation runs in worker processes of its own, so that one's memory traffic does
not change the allocator state of another: glibc raises its trim threshold after large
blocks are freed, and memory handed back to the system costs a page fault per 4 KiB to
touch again, which on these virtual machines is slow (the page faults per step are
printed). How much is handed back depends on where the allocations happened to land, and
that differs from one process to the next: the same step of the same code measured from
0 to about 950 page faults per step in different processes. So each implementation runs
in several processes (``--processes``, 3 by default), and every process's time is printed.
The workers take turns: every round times one block of steps of each, so that the noise
of a shared machine falls on all of them alike. Single-threaded times are the workers' CPU
seconds (user + system, so page faults count), which leave out the time a worker waits for
a core while other jobs run. A worker's figure is its median over the rounds, an
implementation's the median over its processes; ratios are ratios of those medians. The
AdaGrad step alone is timed too, to show its share of ours. With ``--no-trim`` the workers
start with glibc's trimming turned off through its environment variables, so that freed
memory stays mapped: the difference to a normal run is what the page faults cost each
implementation.

Then the peak memory of one call (tracemalloc) for several T and B: its growth per step
and sequence is a constant number of floats per hidden and output unit, the same at
B = 1 and B = 64, so a call takes O(T·B·(H + V) + parameters) and keeps no Python object
per step. Last, the wall and CPU time of the default training run, ``python -m rnn train``.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing as mp
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

ORIGINAL_ENVIRONMENT = dict(os.environ)  # the default training run runs as a user would start it
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported, here and in the workers

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

from rnn import LSTM, RNN, fast  # noqa: E402
from rnn.optim import AdaGrad, Adam  # noqa: E402

VOCAB, HIDDEN, STEPS = 65, 100, 25
BATCHES = (1, 64)
LEARNING_RATE, CLIP = 0.1, 1.0
FLOPS_PER_CHAR = 6 * HIDDEN**2 + 6 * VOCAB * HIDDEN
CORES = os.cpu_count() or 1
LSTM_VOCAB, LSTM_HIDDEN, LSTM_STEPS, LSTM_BATCH = 65, 128, 50, 50
ADAM_LR, ADAM_CLIP = 2e-3, 5.0
NO_TRIM = {"MALLOC_MMAP_THRESHOLD_": str(2**26), "MALLOC_TRIM_THRESHOLD_": str(2**28)}

Step = Callable[[], None]


# ----------------------------------------------------------------------- the workloads


def _data(batch: int) -> tuple[RNN, np.ndarray, np.ndarray]:
    """The shared starting point: a model and one window of random characters."""
    rng = np.random.default_rng(0)
    model = RNN.random(VOCAB, HIDDEN, rng, scale=0.01)
    x = rng.integers(0, VOCAB, (STEPS, batch))
    y = rng.integers(0, VOCAB, (STEPS, batch))
    return model, x, y


def ours(batch: int) -> Step:
    """One training step on the fast path, the hidden state carried between steps."""
    model, x, y = _data(batch)
    optimizer = AdaGrad(LEARNING_RATE, clip=CLIP)
    state: list[Any] = [None]

    def step() -> None:
        _, grads, state[0] = fast.loss_and_gradients(model, x, y, state[0])
        optimizer.step(model.params, grads)

    return step


def reference(batch: int) -> Step:
    """One training step through the model's own ``loss_and_gradients``."""
    model, x, y = _data(batch)
    optimizer = AdaGrad(LEARNING_RATE, clip=CLIP)
    state: list[Any] = [None]

    def step() -> None:
        _, grads, state[0] = model.loss_and_gradients(x, y, state[0])
        optimizer.step(model.params, grads)

    return step


class SeedStyle:
    """The seed's loop: one-hot columns, ``np.dot`` per step, dicts of per-step arrays.

    Column vectors of shape (n, B), so that B = 1 is exactly the seed's layout. The
    backward loop carries ``dh_next`` (the exact gradient); the seed left it out.
    """

    def __init__(self, model: RNN) -> None:
        self.U, self.W, self.V = model.U.copy(), model.W.copy(), model.V.copy()
        self.b, self.c = model.b[:, None].copy(), model.c[:, None].copy()
        self.memory = {name: np.zeros_like(p) for name, p in self.params().items()}

    def params(self) -> dict[str, np.ndarray]:
        return {"U": self.U, "W": self.W, "V": self.V, "b": self.b, "c": self.c}

    def gradients(
        self, inputs: np.ndarray, targets: np.ndarray, h0: np.ndarray
    ) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
        T, B = inputs.shape
        cols = np.arange(B)
        xs: dict[int, np.ndarray] = {}
        hs: dict[int, np.ndarray] = {-1: h0}
        ps: dict[int, np.ndarray] = {}
        loss = 0.0
        for t in range(T):
            xs[t] = np.zeros((self.U.shape[1], B))
            xs[t][inputs[t], cols] = 1.0
            hs[t] = np.tanh(np.dot(self.U, xs[t]) + np.dot(self.W, hs[t - 1]) + self.b)
            o = np.dot(self.V, hs[t]) + self.c
            e = np.exp(o - o.max(axis=0))
            ps[t] = e / np.sum(e, axis=0)
            loss -= float(np.sum(np.log(ps[t][targets[t], cols])))
        dU, dW, dV = np.zeros_like(self.U), np.zeros_like(self.W), np.zeros_like(self.V)
        db, dc = np.zeros_like(self.b), np.zeros_like(self.c)
        dh_next = np.zeros_like(h0)
        for t in reversed(range(T)):
            do = ps[t].copy()
            do[targets[t], cols] -= 1.0
            dV += np.dot(do, hs[t].T)
            dc += np.sum(do, axis=1, keepdims=True)
            dh = np.dot(self.V.T, do) + dh_next
            da = (1 - hs[t] * hs[t]) * dh
            db += np.sum(da, axis=1, keepdims=True)
            dU += np.dot(da, xs[t].T)
            dW += np.dot(da, hs[t - 1].T)
            dh_next = np.dot(self.W.T, da)
        return loss, {"U": dU, "W": dW, "V": dV, "b": db, "c": dc}, hs[T - 1]

    def apply(self, grads: dict[str, np.ndarray]) -> None:
        for name, p in self.params().items():
            g, m = grads[name], self.memory[name]
            np.clip(g, -CLIP, CLIP, out=g)
            m += g * g
            p -= LEARNING_RATE * g / np.sqrt(m + 1e-12)


def seed_style(batch: int) -> Step:
    """One training step of the seed-style loop."""
    model, x, y = _data(batch)
    net = SeedStyle(model)
    state = [np.zeros((HIDDEN, batch))]

    def step() -> None:
        _, grads, state[0] = net.gradients(x, y, state[0])
        net.apply(grads)

    return step


def _torch_loop(batch: int) -> tuple[Any, Step]:
    """PyTorch eager, the recurrence written out; returns (gradient function, step)."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    model, x, y = _data(batch)
    p = {k: torch.tensor(v, requires_grad=True) for k, v in model.params.items()}
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).reshape(-1)
    optimizer = torch.optim.Adagrad(p.values(), lr=LEARNING_RATE, eps=1e-12)
    state = [torch.zeros(batch, HIDDEN, dtype=torch.float64)]

    def loss_backward(h0: Any) -> Any:
        xu = F.embedding(xt, p["U"].T)  # U x(t) for every t: (T, B, H)
        h, hs = h0, []
        for t in range(STEPS):
            h = torch.tanh(torch.addmm(p["b"], h, p["W"].T) + xu[t])
            hs.append(h)
        logits = F.linear(torch.stack(hs), p["V"], p["c"]).reshape(-1, VOCAB)
        F.cross_entropy(logits, yt, reduction="sum").backward()
        return h.detach()

    def grads() -> dict[str, np.ndarray]:
        loss_backward(state[0])
        out = {k: v.grad.numpy().copy() for k, v in p.items()}
        optimizer.zero_grad()
        return out

    def step() -> None:
        optimizer.zero_grad()
        state[0] = loss_backward(state[0])
        torch.nn.utils.clip_grad_value_(p.values(), CLIP)
        optimizer.step()

    return grads, step


def _torch_rnn(batch: int) -> tuple[Any, Step]:
    """PyTorch's fused ``nn.RNN`` on one-hot inputs; returns (gradient function, step)."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    model, x, y = _data(batch)
    rnn = torch.nn.RNN(VOCAB, HIDDEN, nonlinearity="tanh", dtype=torch.float64)
    out = torch.nn.Linear(HIDDEN, VOCAB, dtype=torch.float64)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(model.U))
        rnn.weight_hh_l0.copy_(torch.from_numpy(model.W))
        rnn.bias_ih_l0.copy_(torch.from_numpy(model.b))
        rnn.bias_hh_l0.zero_()
        out.weight.copy_(torch.from_numpy(model.V))
        out.bias.copy_(torch.from_numpy(model.c))
    params = [*rnn.parameters(), *out.parameters()]
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).reshape(-1)
    optimizer = torch.optim.Adagrad(params, lr=LEARNING_RATE, eps=1e-12)
    state = [torch.zeros(1, batch, HIDDEN, dtype=torch.float64)]

    def loss_backward(h0: Any) -> Any:
        hs, h = rnn(F.one_hot(xt, VOCAB).to(torch.float64), h0)
        logits = out(hs).reshape(-1, VOCAB)
        F.cross_entropy(logits, yt, reduction="sum").backward()
        return h.detach()

    def grads() -> dict[str, np.ndarray]:
        loss_backward(state[0])
        g = {
            "U": rnn.weight_ih_l0.grad,
            "W": rnn.weight_hh_l0.grad,
            "V": out.weight.grad,
            "b": rnn.bias_ih_l0.grad,
            "c": out.bias.grad,
        }
        result = {k: v.numpy().copy() for k, v in g.items()}
        optimizer.zero_grad()
        return result

    def step() -> None:
        optimizer.zero_grad()
        state[0] = loss_backward(state[0])
        torch.nn.utils.clip_grad_value_(params, CLIP)
        optimizer.step()

    return grads, step


def torch_loop(batch: int) -> Step:
    """One training step of PyTorch eager, the loop written out."""
    return _torch_loop(batch)[1]


def torch_rnn(batch: int) -> Step:
    """One training step of PyTorch's ``nn.RNN``."""
    return _torch_rnn(batch)[1]


def adagrad(_: int) -> Step:
    """The AdaGrad step alone (clipping included), on the gradients of one B = 1 window."""
    model, x, y = _data(1)
    _, grads, _ = model.loss_and_gradients(x, y)
    optimizer = AdaGrad(LEARNING_RATE, clip=CLIP)

    def step() -> None:
        optimizer.step(model.params, grads)

    return step


def matmul(_: int) -> Step:
    """One 1000 × 1000 float64 matrix product into a preallocated result."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((1000, 1000)), rng.standard_normal((1000, 1000))
    c = np.empty((1000, 1000))

    def step() -> None:
        np.matmul(a, b, out=c)

    return step


def _lstm_data() -> tuple[LSTM, np.ndarray, np.ndarray]:
    """A float32 LSTM at the tiny-shakespeare sizes and one window of random characters."""
    rng = np.random.default_rng(0)
    model = LSTM.random(LSTM_VOCAB, LSTM_HIDDEN, rng, scale=0.1, dtype=np.float32)
    x = rng.integers(0, LSTM_VOCAB, (LSTM_STEPS, LSTM_BATCH))
    y = rng.integers(0, LSTM_VOCAB, (LSTM_STEPS, LSTM_BATCH))
    return model, x, y


def _lstm_step(loss_and_gradients: Callable[..., Any]) -> Step:
    model, x, y = _lstm_data()
    optimizer = Adam(ADAM_LR, clip=ADAM_CLIP)
    state: list[Any] = [None]

    def step() -> None:
        _, grads, state[0] = loss_and_gradients(model, x, y, state[0])
        optimizer.step(model.params, grads)

    return step


def lstm_fast(_: int) -> Step:
    """One LSTM training step on the fast path, Adam included."""
    return _lstm_step(fast.loss_and_gradients)


def lstm_reference(_: int) -> Step:
    """One LSTM training step through the model's own ``loss_and_gradients``, Adam included."""
    return _lstm_step(lambda model, *args: model.loss_and_gradients(*args))


def _torch_lstm() -> tuple[Any, Step]:
    """PyTorch's ``nn.LSTM`` + ``nn.Linear``, float32: (gradient function, forward+backward)."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(CORES)
    model, x, y = _lstm_data()
    p = model.params
    lstm = torch.nn.LSTM(LSTM_VOCAB, LSTM_HIDDEN)
    out = torch.nn.Linear(LSTM_HIDDEN, LSTM_VOCAB)
    with torch.no_grad():
        for name, part in (("weight_ih_l0", "U"), ("weight_hh_l0", "W"), ("bias_ih_l0", "b")):
            stacked = np.concatenate([p[f"{part}_{k}"] for k in "ifgq"])
            getattr(lstm, name).copy_(torch.from_numpy(stacked))
        lstm.bias_hh_l0.zero_()
        out.weight.copy_(torch.from_numpy(p["V"]))
        out.bias.copy_(torch.from_numpy(p["c"]))
    params = [*lstm.parameters(), *out.parameters()]
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).reshape(-1)
    state: list[Any] = [None]

    def loss_backward() -> None:
        for q in params:
            q.grad = None
        hs, (h, c) = lstm(F.one_hot(xt, LSTM_VOCAB).to(torch.float32), state[0])
        loss = F.cross_entropy(out(hs).reshape(-1, LSTM_VOCAB), yt, reduction="sum")
        loss.backward()
        state[0] = (h.detach(), c.detach())

    def grads() -> dict[str, np.ndarray]:
        loss_backward()
        H = LSTM_HIDDEN
        result = {"V": out.weight.grad.numpy(), "c": out.bias.grad.numpy()}
        for name, part in (("weight_ih_l0", "U"), ("weight_hh_l0", "W"), ("bias_ih_l0", "b")):
            g = getattr(lstm, name).grad.numpy()
            result.update({f"{part}_{k}": g[n * H : (n + 1) * H] for n, k in enumerate("ifgq")})
        return {k: v.copy() for k, v in result.items()}

    return grads, loss_backward


def torch_lstm(_: int) -> Step:
    """PyTorch's LSTM step: forward and backward, no optimizer."""
    return _torch_lstm()[1]


WORKLOADS: dict[str, Callable[[int], Step]] = {
    "ours": ours,
    "reference": reference,
    "seed-style": seed_style,
    "torch loop": torch_loop,
    "torch nn.RNN": torch_rnn,
    "adagrad": adagrad,
    "matmul": matmul,
    "lstm fast": lstm_fast,
    "lstm fast, 1 thread": lstm_fast,
    "lstm reference": lstm_reference,
    "torch nn.LSTM": torch_lstm,
}

THREADS = {"lstm fast": CORES, "lstm reference": CORES, "torch nn.LSTM": CORES}
"""BLAS (and PyTorch) threads of the workloads that do not run on one thread."""

WALL_CLOCK = {*THREADS, "lstm fast, 1 thread"}
"""The workloads timed in wall-clock seconds: the multi-threaded ones and what they are
compared with."""


# ------------------------------------------------------------------- workers and rounds


def _worker(conn: Connection, name: str, batch: int, block: float) -> None:
    """Build one workload, then answer commands: calibrate a block, time a block, or stop.

    Times of the one-thread RNN workloads are CPU seconds of this process
    (``time.process_time``): on a machine shared with other jobs they exclude the time the
    worker waits for a core, and they include the kernel's time for page faults. The LSTM
    workloads are timed in wall-clock seconds (:data:`WALL_CLOCK`), since the CPU seconds
    of a multi-threaded one add up its threads. Each timed block reports (seconds, page
    faults) per step.
    """
    clock = time.perf_counter if name in WALL_CLOCK else time.process_time
    with threadpool_limits(limits=THREADS.get(name, 1)):
        step = WORKLOADS[name](batch)
        for _ in range(3):
            step()
        conn.send("ready")
        n = 1
        while (command := conn.recv()) is not None:
            if command == "calibrate":
                n, elapsed = 1, 0.0
                while elapsed < block / 4:
                    n *= 2
                    start = clock()
                    for _ in range(n):
                        step()
                    elapsed = clock() - start
                n = max(1, round(n * block / elapsed))
                conn.send(n)
                continue
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            start = clock()
            for _ in range(n):
                step()
            seconds = clock() - start
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
            conn.send((seconds / n, faults / n))


def time_rounds(
    jobs: list[tuple[str, int]], repeats: int, block: float, processes: int
) -> dict[tuple[str, int], list[tuple[float, float]]]:
    """(CPU seconds, page faults) per step of each (workload, B), one pair per process.

    Each job runs in ``processes`` worker processes; every round times one block of each
    worker in turn. A worker's figures are its medians over the rounds; the allocator's
    state, and with it the page faults, differs from process to process, so each job is
    sampled in several.
    """
    ctx = mp.get_context("spawn")
    workers = []
    for job in jobs:
        for _ in range(processes):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, *job, block), daemon=True)
            proc.start()
            workers.append((job, parent, proc))
    results: list[list[tuple[float, float]]] = [[] for _ in workers]
    try:
        for _, conn, _ in workers:
            conn.recv()  # built and warmed up
        for _, conn, _ in workers:
            conn.send("calibrate")  # one at a time, so that none is calibrated under load
            conn.recv()
        for _ in range(repeats):
            for (_, conn, _), rounds in zip(workers, results, strict=True):
                conn.send("time")
                rounds.append(conn.recv())
    finally:
        for _, conn, proc in workers:
            conn.send(None)
            proc.join()
    medians: dict[tuple[str, int], list[tuple[float, float]]] = {job: [] for job in jobs}
    for (job, _, _), rounds in zip(workers, results, strict=True):
        medians[job].append(
            (statistics.median(r[0] for r in rounds), statistics.median(r[1] for r in rounds))
        )
    return medians


# ------------------------------------------------------------------------- the checks


def check_gradients(batch: int, with_torch: bool) -> str:
    """Largest relative difference between our gradients and each other implementation's."""
    model, x, y = _data(batch)
    _, ref, _ = fast.loss_and_gradients(model, x, y)
    others = {
        "reference": model.loss_and_gradients(x, y)[1],
        "seed-style": SeedStyle(model).gradients(x, y, np.zeros((HIDDEN, batch)))[1],
    }
    if with_torch:
        others["torch loop"] = _torch_loop(batch)[0]()
        others["torch nn.RNN"] = _torch_rnn(batch)[0]()
    worst = []
    for name, grads in others.items():
        err = max(
            float(np.max(np.abs(grads[k].reshape(ref[k].shape) - ref[k])))
            / float(np.max(np.abs(ref[k])))
            for k in ref
        )
        if err > 1e-9:
            raise AssertionError(f"{name} gradients differ from ours at B={batch}: {err:.1e}")
        worst.append(f"{name} {err:.0e}")
    return ", ".join(worst)


def check_lstm_gradients() -> str:
    """Largest relative difference between PyTorch's float32 LSTM gradients and ours."""
    model, x, y = _lstm_data()
    _, ours, _ = fast.loss_and_gradients(model, x, y)
    theirs = _torch_lstm()[0]()
    err = max(float(np.max(np.abs(theirs[k] - g)) / np.max(np.abs(g))) for k, g in ours.items())
    if err > 1e-4:  # float32: ε ≈ 1.2e-7, summed over T·B = 2500 terms per entry
        raise AssertionError(f"PyTorch's LSTM gradients differ from ours: {err:.1e}")
    return f"torch nn.LSTM {err:.0e}"


def peak_memory(steps: int, batch: int, seed: bool = False) -> int:
    """Peak bytes traced during one call of ``fast.loss_and_gradients`` (or the seed-style one)."""
    model, _, _ = _data(1)
    rng = np.random.default_rng(1)
    x = rng.integers(0, VOCAB, (steps, batch))
    y = rng.integers(0, VOCAB, (steps, batch))
    net = SeedStyle(model) if seed else None
    h0 = np.zeros((HIDDEN, batch))
    tracemalloc.start()
    if net is not None:
        net.gradients(x, y, h0)
    else:
        fast.loss_and_gradients(model, x, y)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def default_run_seconds(runs: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds of the default training run, ``python -m rnn train``, each in a
    fresh process.

    It runs with the environment this script started with, as a user would run it.
    """
    out = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "rnn", "train"],
            check=True,
            stdout=subprocess.DEVNULL,
            env=ORIGINAL_ENVIRONMENT,
        )
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        out.append((wall, cpu))
    return out


# ------------------------------------------------------------------------------- report


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15, help="rounds (medians are taken)")
    parser.add_argument("--block", type=float, default=0.15, help="CPU seconds per timed block")
    parser.add_argument("--train-runs", type=int, default=3, help="default training runs timed")
    parser.add_argument(
        "--processes", type=int, default=3, help="worker processes per workload (medians)"
    )
    parser.add_argument(
        "--no-trim",
        action="store_true",
        help="diagnostic, not for the targets: start the workers with glibc's trimming off "
        f"({', '.join(NO_TRIM)}), to show what the page faults cost",
    )
    args = parser.parse_args()
    if args.no_trim:
        os.environ.update(NO_TRIM)  # read by glibc when each worker process starts
    have_torch = importlib.util.find_spec("torch") is not None

    blas = threadpool_info()
    print(
        f"Training throughput: the RNN at V={VOCAB}, H={HIDDEN}, T={STEPS}, float64, one thread; "
        f"the LSTM at V={LSTM_VOCAB}, H={LSTM_HIDDEN}, B={LSTM_BATCH}, T={LSTM_STEPS}, float32, "
        f"{CORES} threads (numpy's BLAS and PyTorch)"
    )
    print(
        f"numpy {np.__version__}; BLAS "
        + ", ".join(f"{b['internal_api']} {b['version']} ({b['architecture']})" for b in blas)
        + f"; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}"
    )
    if have_torch:
        import torch

        print(f"torch {torch.__version__}")
    else:
        print("torch is not installed: the PyTorch rows are skipped")
    print(f"load average before timing: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.no_trim:
        print("DIAGNOSTIC RUN: glibc's trimming is off in the workers; targets do not apply")
    for batch in BATCHES:
        print(f"gradients agree with ours at B={batch}: {check_gradients(batch, have_torch)}")
    if have_torch:
        print(f"LSTM gradients agree with ours: {check_lstm_gradients()}")

    names = ["ours", "reference", "seed-style"]
    names += ["torch loop", "torch nn.RNN"] if have_torch else []
    lstm_names = ["lstm fast", "lstm fast, 1 thread", "lstm reference"]
    lstm_names += ["torch nn.LSTM"] if have_torch else []
    jobs = [(name, batch) for batch in BATCHES for name in names]
    jobs += [("adagrad", 0), ("matmul", 0)] + [(name, LSTM_BATCH) for name in lstm_names]
    print(
        f"\ntiming {len(jobs)} workloads in {args.processes} worker processes each, in turns: "
        f"{args.repeats} rounds of ~{args.block} CPU s each ..."
    )
    per_process = time_rounds(jobs, args.repeats, args.block, args.processes)
    timed = {
        job: (statistics.median(p[0] for p in per), statistics.median(p[1] for p in per))
        for job, per in per_process.items()
    }
    peak = 2 * 1000**3 / timed[("matmul", 0)][0] / 1e9
    print(f"\nfloat64 matmul 1000x1000, one thread: {peak:.1f} GFLOP/s (the peak)")

    targets = []
    for batch in BATCHES:
        rate = {name: STEPS * batch / timed[(name, batch)][0] for name in names}
        print(
            f"\nB = {batch}: one training step, medians of {args.repeats} rounds in each of "
            f"{args.processes} processes, then over the processes (us/step of each process)"
        )
        for name in names:
            seconds, faults = timed[(name, batch)]
            gflops = rate[name] * FLOPS_PER_CHAR / 1e9
            spread = ", ".join(f"{1e6 * p[0]:.0f}" for p in sorted(per_process[(name, batch)]))
            print(
                f"  {name:12s} {rate[name]:>9,.0f} chars/s {1e6 * seconds:>7.0f} us/step"
                f" {gflops:5.1f} GFLOP/s = {100 * gflops / peak:4.1f}% of peak"
                f" {faults:6.0f} page faults/step   ours/this {rate['ours'] / rate[name]:5.2f}x"
                f"   ({spread})"
            )
        share = timed[("adagrad", 0)][0] / timed[("ours", batch)][0]
        print(f"  (ours includes the AdaGrad step, {100 * share:.0f}% of its time)")
        if batch == 1:
            targets.append(("B=1 ours ≥ 3x seed-style", rate["ours"] / rate["seed-style"], 3.0))
        if have_torch:
            best = max(rate["torch loop"], rate["torch nn.RNN"])
            need = 3.0 if batch == 1 else 1.5
            label = f"B={batch} ours ≥ {need:.1f}x PyTorch (the faster of two)"
            targets.append((label, rate["ours"] / best, need))
        if batch == 64:
            fraction = rate["ours"] * FLOPS_PER_CHAR / 1e9 / peak
            targets.append(("B=64 ours ≥ 40% of the matmul peak", fraction, 0.40))

    chars = LSTM_STEPS * LSTM_BATCH
    lstm_rate = {name: chars / timed[(name, LSTM_BATCH)][0] for name in lstm_names}
    print(
        f"\nLSTM, H={LSTM_HIDDEN}, B={LSTM_BATCH}, T={LSTM_STEPS}, float32, {CORES} threads: one "
        "training step (ours with Adam; PyTorch forward + backward), wall-clock medians "
        f"(us/step of each process)"
    )
    for name in lstm_names:
        seconds, faults = timed[(name, LSTM_BATCH)]
        spread = ", ".join(f"{1e6 * p[0]:.0f}" for p in sorted(per_process[(name, LSTM_BATCH)]))
        print(
            f"  {name:20s} {lstm_rate[name]:>9,.0f} chars/s {1e6 * seconds:>7.0f} us/step"
            f" {faults:6.0f} page faults/step   fast/this "
            f"{lstm_rate['lstm fast'] / lstm_rate[name]:5.2f}x   ({spread})"
        )
    if have_torch:
        torch_rate = lstm_rate["torch nn.LSTM"]
        for name, label in (("lstm fast", f"{CORES} threads"), ("lstm fast, 1 thread", "1")):
            targets.append(
                (
                    f"LSTM ours ({label}) ≥ 1.0x PyTorch ({CORES})",
                    lstm_rate[name] / torch_rate,
                    1.0,
                )
            )

    lengths = (25, 100, 400)
    params = sum(p.nbytes for p in _data(1)[0].params.values())
    print(f"\nPeak memory of one call (tracemalloc), bytes; the parameters take {params:,}")
    print(
        f"  {'':10s} {'B':>3} "
        + " ".join(f"{f'T={T}':>11s}" for T in lengths)
        + "   per step and sequence"
    )
    for seed in (False, True):
        for batch in BATCHES:
            peaks = [peak_memory(T, batch, seed) for T in lengths]
            per = (peaks[-1] - peaks[-2]) / (lengths[-1] - lengths[-2]) / batch
            print(
                f"  {'seed-style' if seed else 'ours':10s} {batch:>3} "
                + " ".join(f"{p:>11,}" for p in peaks)
                + f"   {per:6.0f} = {per / 8 / (HIDDEN + VOCAB):.2f} floats per unit of H + V"
            )

    if args.train_runs:
        runs = default_run_seconds(args.train_runs)
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        print(
            f"\npython -m rnn train (defaults): median {wall:.2f} s wall, {cpu:.2f} s CPU, "
            f"over {len(runs)} runs (wall: {', '.join(f'{r[0]:.2f}' for r in runs)})"
        )
        targets.append(("default training run < 5 s wall", 5.0 / wall, 1.0))

    if args.no_trim:
        return
    print(
        "\nTargets (ratios from the same rounds; the default training run as 5 s / its wall "
        "time; the margin is how far the ratio is above or below what is needed)"
    )
    for label, value, need in targets:
        margin = 100 * (value / need - 1)
        print(
            f"  {label:46s} {value:6.3f} (need {need:.2f})  {_verdict(value >= need)}, "
            f"margin {margin:+.0f}%"
        )


if __name__ == "__main__":
    main()
