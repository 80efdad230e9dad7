"""Figures of the gradient-checking page: error against step size, and Taylor remainders.

``main(outdir)`` writes

- ``step_size.png``: the relative error of central differences and of the complex step
  against the step h, for the gradient of the RNN's loss with respect to W;
- ``taylor.png``: the Taylor remainder against h for the exact gradient and for the seed's
  (``truncation=1``), with the fitted log-log slopes in the legend;
- ``taylor_slopes.txt``: those two slopes, for the page's text;
- ``gradient_checking.substitutions.json``: the numbers the figures' alt texts quote (the
  best central step, the complex step's floor, the two fitted slopes);
- ``methods_table.md``: every method of :func:`verification.check_gradients` run on the
  exact gradient and on the seed's, with its verdict, worst error and cost in loss
  evaluations.

Everything is computed from the packages: the model's ``loss``, its complex-step evaluation
through ``with_params``, ``loss_and_gradients`` and the verification package's checker.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from rnn import RNN, Vocabulary, seed_corpus
from verification import METHODS, check_gradients

HIDDEN = 12
STEPS = 10


def _problem() -> tuple[RNN, Any, Any]:
    """A small RNN on the first characters of the seed corpus, weights large enough to matter."""
    text = seed_corpus()
    vocab = Vocabulary.from_text(text)
    data = vocab.encode(text[: STEPS + 1])
    model = RNN.random(len(vocab), HIDDEN, np.random.default_rng(0), scale=0.3)
    return model, data[:-1], data[1:]


def _relative_error(a: Any, n: Any) -> float:
    """‖a − n‖ / (‖a‖ + ‖n‖) over the whole array, so that one small entry cannot dominate."""
    return float(np.linalg.norm(a - n) / (np.linalg.norm(a) + np.linalg.norm(n)))


def step_size_errors(steps: Any) -> tuple[Any, Any]:
    """Relative error of the central-difference and complex-step gradients of W, per step."""
    model, x, y = _problem()
    _, grads, _ = model.loss_and_gradients(x, y)
    W = model.W
    as_complex = {k: v.astype(np.complex128) for k, v in model.params.items()}
    central, complex_step = [], []
    for h in steps:
        num_c = np.zeros_like(W)
        num_i = np.zeros_like(W)
        for i in np.ndindex(W.shape):
            e = np.zeros_like(W)
            e[i] = h
            plus = model.with_params({**model.params, "W": W + e}).loss(x, y)
            minus = model.with_params({**model.params, "W": W - e}).loss(x, y)
            num_c[i] = (plus - minus) / (2 * h)
            shifted = model.with_params({**as_complex, "W": W + 1j * e})
            num_i[i] = shifted.loss(x, y).imag / h
        central.append(_relative_error(grads["W"], num_c))
        complex_step.append(_relative_error(grads["W"], num_i))
    return np.array(central), np.array(complex_step)


def taylor_remainders(steps: Any, truncation: int | None) -> Any:
    """|L(θ + h d) − L(θ) − h ⟨g, d⟩| for a seeded Gaussian direction d over all parameters."""
    model, x, y = _problem()
    loss, grads, _ = model.loss_and_gradients(x, y, truncation=truncation)
    rng = np.random.default_rng(1)
    direction = {k: rng.standard_normal(v.shape) for k, v in model.params.items()}
    slope = sum(float(np.sum(grads[k] * direction[k])) for k in grads)
    out = []
    for h in steps:
        moved = {k: v + h * direction[k] for k, v in model.params.items()}
        out.append(abs(model.with_params(moved).loss(x, y) - loss - h * slope))
    return np.array(out)


def fitted_slope(steps: Any, remainders: Any) -> float:
    """Least-squares slope of log(remainder) against log(h)."""
    return float(np.polyfit(np.log(steps), np.log(remainders), 1)[0])


def methods_table() -> str:
    """A Markdown table: each checker method on the exact gradient and on the seed's."""
    model, x, y = _problem()
    calls = [0]

    def loss_fn(params: dict[str, Any]) -> Any:
        calls[0] += 1
        return model.with_params(params).loss(x, y)

    rows = [
        "| method | exact gradient | seed's gradient (truncation=1) | loss evaluations |",
        "|---|---|---|---|",
    ]
    for method in METHODS:
        verdicts = []
        for truncation in (None, 1):
            _, grads, _ = model.loss_and_gradients(x, y, truncation=truncation)
            calls[0] = 0
            report = check_gradients(loss_fn, model.params, grads, method=method)
            cost = calls[0]
            if method == "taylor":
                orders = ", ".join(f"{r.name} {r.order:.2f}" for r in report.rows)
                detail = f"fitted orders: {orders}"
            else:
                worst = max(r.rel_error for r in report.rows)
                detail = f"worst relative error {worst:.0e}"
            failed = [r.name for r in report.rows if not r.passed]
            verdict = "passes" if report.passed else "fails on " + ", ".join(failed)
            verdicts.append(f"{verdict}; {detail}")
        rows.append(f"| `{method}` | {verdicts[0]} | {verdicts[1]} | {cost} |")
    return "\n".join(rows) + "\n"


def main(outdir: Path) -> None:
    """Write step_size.png, taylor.png, taylor_slopes.txt, methods_table.md and the
    numbers the alt texts quote."""
    steps = np.logspace(-1, -16, 31)
    central, complex_step = step_size_errors(steps)
    best = int(np.argmin(central))
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.loglog(steps, central, "o-", label="central difference")
    ax.loglog(steps, complex_step, "s-", label="complex step")
    ax.loglog(
        steps[best],
        central[best],
        "k*",
        markersize=12,
        label=f"best central h = {steps[best]:.0e}",
    )
    ax.axhline(np.finfo(np.float64).eps, color="grey", linestyle=":", label="machine epsilon")
    ax.invert_xaxis()
    ax.set_xlabel("step size h")
    ax.set_ylabel("relative error ‖g − ĝ‖ / (‖g‖ + ‖ĝ‖) of ∂L/∂W")
    ax.set_title(f"RNN, H = {HIDDEN}, T = {STEPS}, seed corpus")
    ax.legend()
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(outdir / "step_size.png", dpi=120)
    plt.close(fig)
    numbers = {
        "step_size_best_central": f"{steps[best]:.0e}",
        "step_size_complex_floor": f"{complex_step[steps <= 1e-8].max():.0e}",
    }

    steps = np.logspace(-1, -4, 13)
    exact = taylor_remainders(steps, None)
    seed = taylor_remainders(steps, 1)
    slope_exact, slope_seed = fitted_slope(steps, exact), fitted_slope(steps, seed)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.loglog(steps, exact, "o-", label=f"exact gradient: slope {slope_exact:.2f}")
    ax.loglog(steps, seed, "s-", label=f"seed's gradient (truncation=1): slope {slope_seed:.2f}")
    ax.invert_xaxis()
    ax.set_xlabel("step size h along a random direction d")
    ax.set_ylabel("|L(θ + h d) − L(θ) − h ⟨g, d⟩|")
    ax.set_title("Taylor test")
    ax.legend()
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(outdir / "taylor.png", dpi=120)
    plt.close(fig)
    (outdir / "taylor_slopes.txt").write_text(
        f"exact gradient: {slope_exact:.2f}\nseed's gradient (truncation=1): {slope_seed:.2f}\n",
        encoding="utf-8",
    )
    (outdir / "methods_table.md").write_text(methods_table(), encoding="utf-8")
    numbers["taylor_slope_exact"] = f"{slope_exact:.2f}"
    numbers["taylor_slope_seed"] = f"{slope_seed:.2f}"
    (outdir / "gradient_checking.substitutions.json").write_text(
        json.dumps(numbers, indent=2) + "\n", encoding="utf-8"
    )
