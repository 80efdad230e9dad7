"""Time to quality on tiny-shakespeare: this package against PyTorch on the CPU, float32.

Run: ``nox -s bench -- benchmarks/bench_shakespeare.py`` (or ``nox -s bench`` for every
benchmark), or ``python benchmarks/bench_shakespeare.py [--budget 180] [--out-dir DIR]``.

Both sides train the same network with the same settings, one after the other, each in a
fresh process:

- char-rnn's tiny-shakespeare (shipped with the package), the first 90% for training and
  the last 10% for validation;
- an LSTM with one layer, H = 128, B = 50 streams of T = 50 characters, the state carried
  from window to window and reset at each epoch;
- the same initial weights: PyTorch's modules are this package's initial model exported
  with :func:`rnn.interop.to_torch`, drawn with ``init_scale`` 0.1 (as in the tutorial);
  from the default 0.01 the first thousand updates learn more slowly, alike on both sides
  (validation loss 2.25 against 2.02 nats at update 800);
- the same loss, the mean per character of the window's T·B characters: PyTorch's
  ``cross_entropy`` default and ``loss_reduction="mean"`` here, so that clipping each
  gradient entry to ±5 clips the same gradients, as in a plain PyTorch training loop;
- Adam at learning rate 2e-3 with PyTorch's β and ε;
- float32 throughout;
- the machine's cores, used as each side uses them best: PyTorch with as many threads,
  this package with as many worker processes (``train(workers=...)``, ``--workers``) of
  one BLAS thread each, which share each window's streams (:mod:`rnn.parallel`);
- every 100 updates, the loss per character on the whole validation part, read by both in
  the same B streams of T-character windows;
- the same wall-clock budget (``--budget``, 180 s): each stops after the first update that
  ends past it. The time includes the evaluations, alike for both.

It prints for each: the training throughput in characters per second (the evaluations'
time left out), the time at which the validation loss first reached 2.0, 1.88 and 1.75
nats, and the final validation loss in nats and bits per character. Each side's metrics go
to ``DIR/shakespeare-numpy.csv`` and ``DIR/shakespeare-torch.csv`` (the columns of
:mod:`rnn.metrics`), which ``python -m rnn plot`` draws; the printed report also goes to
``DIR/shakespeare-summary.txt``.

With ``--rounds N`` both sides run N times, alternating which goes first, and the ratios
reported against the targets are the medians of the rounds' ratios: on a shared virtual
machine one side's speed can drift by a fifth between minutes. Round k > 1 writes its
metrics to ``shakespeare-SIDE-roundk.csv``.

Last, the peak memory of training on a 100 MB corpus (tiny-shakespeare repeated) with the
benchmark's workers: the largest sum of the resident sets of a ``python -m rnn train``
process and its workers, read from ``/proc`` every 20 ms. It must stay under 1 GiB: the
corpus is held once as text and once as one byte per character, in the training process
only (the workers receive one window at a time). Pages shared between the processes
count once per process, so the sum is an upper bound.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

THRESHOLDS = (2.0, 1.88, 1.75)
SETTINGS = {
    "cell": "lstm",
    "hidden_size": 128,
    "batch_size": 50,
    "sequence_length": 50,
    "optimizer": "adam",
    "learning_rate": 2e-3,
    "clip": 5.0,
    "clip_mode": "value",
    "loss_reduction": "mean",
    "init_scale": 0.1,
    "val_fraction": 0.1,
    "eval_every": 100,
    "dtype": "float32",
    "sample_length": 0,
    "epochs": 10_000,  # the budget ends the run
}
MEMORY_LIMIT = 2**30


def _threads() -> int:
    """The threads each side uses: ``BENCH_THREADS``, or the machine's cores."""
    return int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1))


def run_numpy(budget: float, metrics: Path) -> float:
    """Train this package for ``budget`` seconds; returns training chars/s (evaluations out)."""
    from rnn.data import corpus
    from rnn.training import Evaluation, Trainer, TrainingConfig

    trainer = Trainer(corpus("shakespeare"), TrainingConfig(**SETTINGS))  # type: ignore[arg-type]
    last_update = [0.0]

    def on_update(trainer: Trainer, loss: float) -> None:
        last_update[0] = time.perf_counter()

    evaluating = 0.0
    start = time.perf_counter()
    workers = min(_threads(), trainer.config.batch_size)
    run = trainer.train(time_limit=budget, metrics=metrics, on_update=on_update, workers=workers)
    for item in run:
        if isinstance(item, Evaluation):
            evaluating += time.perf_counter() - last_update[0]
    training = time.perf_counter() - start - evaluating
    return trainer.updates * trainer.config.batch_size * trainer.config.sequence_length / training


def run_torch(budget: float, metrics: Path) -> float:
    """Train the PyTorch twin for ``budget`` seconds; returns training chars/s."""
    import numpy as np
    import torch

    from rnn.data import corpus
    from rnn.interop import to_torch
    from rnn.metrics import MetricsFile, MetricsRow
    from rnn.training import Trainer, TrainingConfig

    torch.set_num_threads(_threads())
    config = TrainingConfig(**SETTINGS)  # type: ignore[arg-type]
    twin = Trainer(corpus("shakespeare"), config)  # the same data, split and initial model
    lstm, linear = to_torch(twin.model)
    params = [p for p in [*lstm.parameters(), *linear.parameters()] if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=config.learning_rate)
    B, T, V = config.batch_size, config.sequence_length, twin.model.vocab_size
    eye = torch.eye(V, dtype=torch.float32)

    def streams(data: np.ndarray, b: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        L = (len(data) - 1) // b
        x = torch.from_numpy(data[: b * L].astype(np.int64).reshape(b, L).T.copy())
        y = torch.from_numpy(data[1 : b * L + 1].astype(np.int64).reshape(b, L).T.copy())
        return x, y, L

    xs, ys, L = streams(twin.train_data, B)
    vb = max(1, min(B, (len(twin.val_data) - 1) // T))
    vx, vy, vl = streams(twin.val_data, vb)
    windows = L // T

    def validation_loss() -> float:
        total, state = 0.0, None
        with torch.no_grad():
            for i in range(-(-vl // T)):
                out, state = lstm(eye[vx[i * T : (i + 1) * T]], state)
                logits = linear(out)
                total += float(
                    torch.nn.functional.cross_entropy(
                        logits.reshape(-1, V), vy[i * T : (i + 1) * T].reshape(-1), reduction="sum"
                    )
                )
        return total / (vb * vl)

    log = MetricsFile.check(metrics, "torch", 0)
    log.start()
    updates, interval, evaluating, state = 0, 0.0, 0.0, None
    start = time.perf_counter()
    while True:
        i = updates % windows
        if i == 0:
            state = None
        out, state = lstm(eye[xs[i * T : (i + 1) * T]], state)
        logits = linear(out)
        loss = torch.nn.functional.cross_entropy(  # the mean over the T·B characters
            logits.reshape(-1, V), ys[i * T : (i + 1) * T].reshape(-1)
        )
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_value_(params, config.clip)
        optimizer.step()
        state = tuple(s.detach() for s in state)
        updates += 1
        interval += float(loss)
        if updates % config.eval_every == 0:
            before = time.perf_counter()
            val = validation_loss()
            evaluating += time.perf_counter() - before
            log.append(
                MetricsRow(
                    "torch",
                    updates,
                    updates / windows,
                    time.perf_counter() - start,
                    updates * B * T,
                    interval / config.eval_every,  # the mean loss per character
                    val,
                    val / math.log(2),
                )
            )
            interval = 0.0
        if time.perf_counter() - start >= budget:
            break
    return updates * B * T / (time.perf_counter() - start - evaluating)


def peak_memory_mb(size_mb: int, seconds: float) -> float:
    """The largest summed resident set, in MiB, of ``python -m rnn train`` and its workers
    on a corpus of ``size_mb`` MB (tiny-shakespeare repeated), trained for ``seconds``."""
    from rnn.data import corpus

    with tempfile.TemporaryDirectory() as folder:
        big = Path(folder) / "big.txt"
        text = corpus("shakespeare")
        with open(big, "w", encoding="utf-8") as file:
            for _ in range(-(-size_mb * 10**6 // len(text))):
                file.write(text)
        del text
        options = [f"--{k.replace('_', '-')}={v}" for k, v in SETTINGS.items()]
        options += ["--val-fraction=0.001", "--eval-every=50", f"--time-limit={seconds}"]
        options += [f"--workers={min(_threads(), int(SETTINGS['batch_size']))}"]
        command = [sys.executable, "-m", "rnn", "train", f"--corpus={big}", *options]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        peak = 0
        while process.poll() is None:
            peak = max(peak, _tree_rss_kib(process.pid))
            time.sleep(0.02)
        if process.returncode != 0:
            assert process.stderr is not None
            raise RuntimeError(f"the memory run failed:\n{process.stderr.read().decode()}")
        return peak / 1024


def _tree_rss_kib(root: int) -> int:
    """The summed resident set, in KiB, of process ``root`` and its descendants (Linux)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as file:
                    stat = file.read()
            except OSError:  # ended meanwhile
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    total = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as file:
                total += next(int(line.split()[1]) for line in file if line.startswith("VmRSS:"))
        except (OSError, StopIteration):  # ended meanwhile, or a zombie without VmRSS
            continue
    return total


def _summary(metrics: Path) -> dict[str, float | None]:
    from rnn.metrics import read_metrics

    rows = [r for r in read_metrics(metrics) if r.val_loss is not None]
    out: dict[str, float | None] = {}
    for threshold in THRESHOLDS:
        hit = next(
            (r.elapsed_s for r in rows if r.val_loss is not None and r.val_loss <= threshold), None
        )
        out[f"time to {threshold}"] = hit
    out["final val loss"] = rows[-1].val_loss if rows else None
    out["final val bpc"] = rows[-1].val_bpc if rows else None
    out["updates"] = float(rows[-1].update) if rows else None
    return out


def _worker(side: str, budget: float, metrics: Path) -> None:
    rate = (run_numpy if side == "numpy" else run_torch)(budget, metrics)
    print(rate)


def _spawn(side: str, budget: float, metrics: Path) -> float:
    env = {
        **os.environ,
        **{
            k: str(_threads())
            for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
        },
    }
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--worker",
            side,
            "--budget",
            str(budget),
            "--metrics",
            str(metrics),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {side} worker failed:\n{done.stderr}")
    return float(done.stdout.strip().splitlines()[-1])


def _report_round(
    report: Callable[[str], None],
    rates: dict[str, float],
    summaries: dict[str, dict[str, float | None]],
) -> None:
    """The table of one round: each side's throughput and the figures of its metrics."""
    names = {"numpy": "this package", "torch": "PyTorch"}
    report(f"{'':28}{names['numpy']:>16}{names['torch']:>16}")
    report(f"{'training chars/s':28}{rates['numpy']:>16,.0f}{rates['torch']:>16,.0f}")
    for key in summaries["numpy"]:
        cells = []
        for side in ("numpy", "torch"):
            value = summaries[side][key]
            unit = " s" if key.startswith("time") else ""
            cells.append(
                "not reached"
                if value is None
                else f"{value:.3f}{unit}"
                if not key.startswith("updates")
                else f"{value:.0f}"
            )
        report(f"{key:28}{cells[0]:>16}{cells[1]:>16}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=180.0, help="seconds per side")
    parser.add_argument(
        "--out-dir", type=Path, default=Path("benchmarks/results"), help="metrics CSVs"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="runs of both sides, alternating which goes first; the ratios are the medians",
    )
    parser.add_argument("--memory-mb", type=int, default=100, help="corpus size for memory")
    parser.add_argument("--memory-seconds", type=float, default=10.0, help="training time")
    parser.add_argument(
        "--threads", type=int, default=_threads(), help="BLAS and torch threads per side"
    )
    parser.add_argument("--worker", choices=("numpy", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--metrics", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["BENCH_THREADS"] = str(args.threads)  # the workers inherit it
    if args.worker:
        _worker(args.worker, args.budget, args.metrics)
        return
    args.out_dir.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []

    def report(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    report(
        f"tiny-shakespeare, LSTM H=128, B=50, T=50, Adam lr 2e-3, clip value 5, 90/10 split, "
        f"float32, budget {args.budget:g} s per side, {_threads()} cores: PyTorch "
        f"{_threads()} threads, this package {min(_threads(), int(SETTINGS['batch_size']))} "
        f"worker processes"
    )
    throughput, to_quality, finals = [], [], []
    for round_ in range(1, args.rounds + 1):
        # the sides alternate which goes first, so that a slow drift of the machine's
        # speed does not favour one of them
        order = ("numpy", "torch") if round_ % 2 else ("torch", "numpy")
        rates, summaries = {}, {}
        for side in order:
            suffix = "" if round_ == 1 else f"-round{round_}"
            path = args.out_dir / f"shakespeare-{side}{suffix}.csv"
            path.unlink(missing_ok=True)
            rates[side] = _spawn(side, args.budget, path)
            summaries[side] = _summary(path)
        if args.rounds > 1:
            names = {"numpy": "this package", "torch": "PyTorch"}
            report(f"round {round_} of {args.rounds}: {names[order[0]]} ran first")
        _report_round(report, rates, summaries)
        throughput.append(rates["numpy"] / rates["torch"])
        ours, theirs = summaries["numpy"]["time to 1.88"], summaries["torch"]["time to 1.88"]
        to_quality.append(math.inf if ours is None or theirs is None else ours / theirs)
        finals.append(summaries["numpy"]["final val loss"])
    what = "" if args.rounds == 1 else f", median of {args.rounds} rounds"
    report(
        f"throughput ratio (this package / PyTorch{what}): "
        f"{statistics.median(throughput):.2f}; target ≥ 1.0"
    )
    if math.isfinite(statistics.median(to_quality)):
        report(
            f"time-to-1.88 ratio (this package / PyTorch{what}): "
            f"{statistics.median(to_quality):.2f}; target ≤ 1.0"
        )
    else:
        report("time-to-1.88 ratio: a side did not reach 1.88 within the budget")
    reached = [f for f in finals if f is not None]
    report(
        f"quality: final validation loss {max(reached):.3f} nats (the worst round); "
        f"target ≤ 1.88 within the budget"
        if len(reached) == len(finals)
        else "quality: a round had no evaluation within the budget"
    )
    peak = peak_memory_mb(args.memory_mb, args.memory_seconds)
    report(
        f"peak memory training on a {args.memory_mb} MB corpus: {peak:.0f} MiB; "
        f"target < {MEMORY_LIMIT / 2**20:.0f} MiB"
    )
    (args.out_dir / "shakespeare-summary.txt").write_text("\n".join(lines) + "\n", "utf-8")


if __name__ == "__main__":
    main()
