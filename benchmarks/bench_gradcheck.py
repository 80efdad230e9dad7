"""Cost of the gradient checker on a model of Karpathy's size, on one thread.

Run: ``nox -s bench`` (every ``benchmarks/bench_*.py``), or this script alone with
``python benchmarks/bench_gradcheck.py``.

The model is the vanilla RNN with V = 65, H = 100 and one window of T = 25 characters
(23,165 parameters, as in min-char-rnn), weights drawn at scale 0.1. Three checks of its
exact gradient are timed, each once (they take seconds, so one run's noise is small):

- the full central-difference check, two loss evaluations per parameter entry;
- the full complex-step check, one complex loss evaluation per entry;
- a 16-direction check (``method="directional"``), two loss evaluations per direction
  and parameter, whatever the model's size.

The budgets are 30 s, 30 s and 0.1 s. Wall and CPU seconds are printed, with the
number of loss evaluations and the time of one, so the figures can be read on a busier
machine too: the CPU time leaves out waiting for a core that other jobs hold.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported: BLAS on one thread

import time  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from rnn import RNN  # noqa: E402
from verification import check_gradients  # noqa: E402

V, H, T = 65, 100, 25
BUDGETS = {"central": 30.0, "complex": 30.0, "directional": 0.1}


def _setup() -> tuple[Any, dict[str, np.ndarray[Any, Any]], Any, list[int]]:
    rng = np.random.default_rng(0)
    model = RNN.random(V, H, rng, scale=0.1)
    x, y = rng.integers(0, V, T), rng.integers(0, V, T)
    calls = [0]

    def loss_fn(params: dict[str, np.ndarray[Any, Any]]) -> Any:
        calls[0] += 1
        return model.with_params(params).loss(x, y)

    def grads() -> dict[str, np.ndarray[Any, Any]]:
        return model.loss_and_gradients(x, y)[1]

    return loss_fn, model.params, grads, calls


def main() -> None:
    """Time the three checks and print one line each."""
    loss_fn, params, grads, calls = _setup()
    size = sum(p.size for p in params.values())
    print(f"gradient checker, RNN V={V} H={H} T={T} ({size} parameters), 1 thread")
    print(
        f"{'check':<28}{'wall s':>9}{'cpu s':>9}{'budget s':>10}{'loss calls':>12}{'per call':>12}"
    )
    for method, options in (
        ("central", {}),
        ("complex", {}),
        ("directional", {"directions": 16}),
    ):
        calls[0] = 0
        wall, cpu = time.perf_counter(), time.process_time()
        report = check_gradients(loss_fn, params, grads, method=method, **options)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if not report.passed:
            raise SystemExit(f"the {method} check failed:\n{report}")
        label = f"{method} x16 directions" if method == "directional" else f"{method}, all entries"
        verdict = "ok" if cpu <= BUDGETS[method] else "OVER BUDGET"
        print(
            f"{label:<28}{wall:>9.3f}{cpu:>9.3f}{BUDGETS[method]:>10g}{calls[0]:>12}"
            f"{1e3 * cpu / calls[0]:>9.3f} ms  {verdict}"
        )


if __name__ == "__main__":
    main()
