"""The grader: correct implementations pass in every layout, and each known mistake, made
in a student's file, gets exactly its phrase and the equation it breaks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from verification.grade import GradeReport, grade
from verification.mistakes import CATALOGUE, TRANSPOSED, after_the_pass, char_rnn_gradients

STUDENTS = Path(__file__).resolve().parent / "students"
MIN_CHAR_RNN = (STUDENTS / "min_char_rnn.py").read_text(encoding="utf-8")
CS231N = (STUDENTS / "cs231n_rnn.py").read_text(encoding="utf-8")


def _student(tmp_path: Path, source: str, edits: dict[str, str], name: str = "student.py") -> Path:
    """The source with each line ``old`` replaced by ``new``, written to a file."""
    for old, new in edits.items():
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    path = tmp_path / name
    path.write_text(source, encoding="utf-8")
    return path


def _phrases(report: GradeReport) -> list[tuple[str | None, tuple[str, ...], str]]:
    return [
        (None if d.mistake is None else d.mistake.phrase, d.gradients, d.equation)
        for d in report.diagnoses
    ]


def _named_in(text: str) -> list[str]:
    """The catalogue's phrases that occur in a report's text."""
    return [m.phrase for m in CATALOGUE if m.phrase in text]


@pytest.mark.check_4_in_full  # every entry check 4 compares by default must pass
@pytest.mark.parametrize(
    ("target", "layout", "cell"),
    [
        ("min_char_rnn.py", "min-char-rnn", "rnn"),
        ("cs231n_rnn.py", "cs231n", "rnn"),
        ("reference_rnn.py", "reference", "rnn"),
        ("reference_rnn.py:wrapped", "reference", "lstm"),
        ("reference_rnn.py:wrapped", "reference", "gru"),
    ],
)
def test_correct_implementations_pass_every_check(target: str, layout: str, cell: str) -> None:
    report = grade(STUDENTS / target, layout=layout, cell=cell, examples=3)
    assert report.passed, str(report)
    assert [c.status for c in report.checks] == ["passed"] * 4
    assert report.diagnoses == ()
    assert "result: passed" in str(report)


def test_the_catalogue_s_exact_gradient_is_the_model_s() -> None:
    """The diagnosis compares with mistakes.py's gradients, so its exact one must be rnn.RNN's."""
    import rnn

    rng = np.random.default_rng(3)
    model = rnn.RNN.random(6, 4, rng, scale=0.5)
    x, y, h0 = rng.integers(0, 6, (5, 3)), rng.integers(0, 6, (5, 3)), rng.standard_normal((3, 4))
    expected = model.loss_and_gradients(x, y, h0)[1]
    got = char_rnn_gradients(model.params, x, y, h0)
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-12, atol=1e-14)


def test_the_catalogue_s_exact_gradient_is_the_model_s_for_logits_a_thousand_apart() -> None:
    """exp overflows past about 709, so the softmax (4) is computed after subtracting a
    step's largest logit, which leaves it unchanged. Each step needs its own: here the
    first step's logits are (1000, 0) and the second's (-1000, 0), as the saturated h
    is +1 and then -1."""
    import rnn

    params = {
        "U": np.array([[50.0, -50.0]]),
        "W": np.zeros((1, 1)),
        "V": np.array([[1000.0], [0.0]]),
        "b": np.zeros(1),
        "c": np.zeros(2),
    }
    x, y, h0 = np.array([[0], [1]]), np.array([[1], [0]]), np.zeros((1, 1))
    loss, expected = rnn.RNN(**params).loss_and_gradients(x, y, h0)[:2]
    assert 1999 < loss < 2001  # about 1000 nats at each step
    got = char_rnn_gradients(params, x, y, h0)
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-12, atol=1e-14)


def test_transposed_transposes_only_the_weight_gradients() -> None:
    """ "transposed" is dW written as W's transpose: U, W and V. A state's or an input's
    gradient of the wrong orientation is a shape for check 1 to name, not this mistake."""
    rng = np.random.default_rng(0)
    shapes = {"U": (3, 5), "W": (3, 3), "V": (5, 3), "b": (3,), "c": (5,)}
    grads = {name: rng.standard_normal(shape) for name, shape in shapes.items()}
    grads |= {"x": rng.standard_normal((4, 2, 5)), "h0": rng.standard_normal((2, 3))}
    after = after_the_pass(grads, TRANSPOSED, terms=8)
    assert after.keys() == grads.keys()
    for name, g in grads.items():
        np.testing.assert_array_equal(
            after[name], g.T if name in ("U", "W", "V") else g, err_msg=name
        )


# Each mistake as the lines of Karpathy's lossFun that a student gets wrong (and, for the
# pre-activation, the lines that keep it).
MIN_CHAR_RNN_MISTAKES = {
    "truncated BPTT (k=1)": (
        {"dh = np.dot(Why.T, dy) + dhnext": "dh = np.dot(Why.T, dy)"},
        ("dWxh", "dWhh", "dbh"),
        "(9)",
    ),
    "transposed": (
        {"dWhh += np.dot(dhraw, hs[t - 1].T)": "dWhh += np.dot(hs[t - 1], dhraw.T)"},
        ("dWhh",),
        "(12)",
    ),
    "tanh derivative from the pre-activation": (
        {
            "xs, hs, ys, ps = {}, {}, {}, {}": "xs, hs, ys, ps, zs = {}, {}, {}, {}, {}",
            "hs[t] = np.tanh(np.dot(Wxh, xs[t]) + np.dot(Whh, hs[t - 1]) + bh)": (
                "zs[t] = np.dot(Wxh, xs[t]) + np.dot(Whh, hs[t - 1]) + bh\n"
                "        hs[t] = np.tanh(zs[t])"
            ),
            "dhraw = (1 - hs[t] * hs[t]) * dh": "dhraw = (1 - zs[t] * zs[t]) * dh",
        },
        ("dWxh", "dWhh", "dbh"),
        "(10)",
    ),
    "W instead of W transpose": (
        {"dhnext = np.dot(Whh.T, dhraw)": "dhnext = np.dot(Whh, dhraw)"},
        ("dWxh", "dWhh", "dbh"),
        "(9)",
    ),
    "h(t) instead of h(t-1)": (
        {"dWhh += np.dot(dhraw, hs[t - 1].T)": "dWhh += np.dot(dhraw, hs[t].T)"},
        ("dWhh",),
        "(12)",
    ),
    "first step missing": (
        {"for t in reversed(range(len(inputs))):": "for t in reversed(range(1, len(inputs))):"},
        ("dWxh", "dWhh", "dWhy", "dbh", "dby"),
        "(11)",
    ),
    "last step missing": (
        {"for t in reversed(range(len(inputs))):": "for t in reversed(range(len(inputs) - 1)):"},
        ("dWxh", "dWhh", "dWhy", "dbh", "dby"),
        "(11)",
    ),
    "mean instead of sum": (
        {
            "loss += -np.log(ps[t][targets[t], 0])": (
                "loss += -np.log(ps[t][targets[t], 0]) / len(inputs)"
            ),
            "dy[targets[t]] -= 1": "dy[targets[t]] -= 1\n        dy /= len(inputs)",
        },
        ("dWxh", "dWhh", "dWhy", "dbh", "dby"),
        "(5)",
    ),
    "sign flipped": (
        {"dy[targets[t]] -= 1": "dy[targets[t]] -= 1\n        dy = -dy"},
        ("dWxh", "dWhh", "dWhy", "dbh", "dby"),
        "(6)",
    ),
}


def test_every_mistake_of_the_catalogue_has_a_min_char_rnn_test() -> None:
    assert set(MIN_CHAR_RNN_MISTAKES) == {m.phrase for m in CATALOGUE}


@pytest.mark.parametrize("phrase", list(MIN_CHAR_RNN_MISTAKES))
def test_a_min_char_rnn_mistake_gets_exactly_its_phrase(tmp_path: Path, phrase: str) -> None:
    edits, gradients, equation = MIN_CHAR_RNN_MISTAKES[phrase]
    report = grade(_student(tmp_path, MIN_CHAR_RNN, edits), layout="min-char-rnn", examples=3)
    assert not report.passed
    assert report.checks[2].status == "FAILED"
    assert _phrases(report) == [(phrase, gradients, equation)]
    assert _named_in(str(report)) == [phrase]
    assert "no known mistake matches" not in str(report)


def test_two_mistakes_at_once_match_no_known_mistake(tmp_path: Path) -> None:
    """The grader never guesses: truncated and transposed together are neither."""
    edits = {
        "dh = np.dot(Why.T, dy) + dhnext": "dh = np.dot(Why.T, dy)",
        "dWhh += np.dot(dhraw, hs[t - 1].T)": "dWhh += np.dot(hs[t - 1], dhraw.T)",
    }
    report = grade(_student(tmp_path, MIN_CHAR_RNN, edits), layout="min-char-rnn", examples=3)
    assert _phrases(report) == [
        ("truncated BPTT (k=1)", ("dWxh", "dbh"), "(9)"),
        (None, ("dWhh",), ""),
    ]
    assert "lossFun: dWhh: no known mistake matches" in str(report)


def test_a_gradient_off_by_a_factor_matches_no_known_mistake(tmp_path: Path) -> None:
    edits = {"dbh += dhraw": "dbh += 2 * dhraw"}
    report = grade(_student(tmp_path, MIN_CHAR_RNN, edits), layout="min-char-rnn", examples=3)
    assert _phrases(report) == [(None, ("dbh",), "")]
    assert _named_in(str(report)) == []


CS231N_MISTAKES = {
    "truncated BPTT (k=1)": (
        {
            "rnn_step_backward(dh[:, t] + dprev_h, cache[t])": (
                "rnn_step_backward(dh[:, t], cache[t])"
            )
        },
        {"rnn_forward/rnn_backward": ("dx", "dh0", "dWx", "dWh", "db")},
    ),
    "transposed": (
        {"dWh = prev_h.T @ dtanh": "dWh = dtanh.T @ prev_h"},
        {f"{s}_forward/{s}_backward": ("dWh",) for s in ("rnn_step", "rnn")},
    ),
    "tanh derivative from the pre-activation": (
        {"dtanh = dnext_h * (1 - next_h**2)": "dtanh = dnext_h * (1 - np.arctanh(next_h) ** 2)"},
        {
            f"{s}_forward/{s}_backward": (
                "dx",
                "dprev_h" if s == "rnn_step" else "dh0",
                "dWx",
                "dWh",
                "db",
            )
            for s in ("rnn_step", "rnn")
        },
    ),
    "W instead of W transpose": (
        {"dprev_h = dtanh @ Wh.T": "dprev_h = dtanh @ Wh"},
        {
            "rnn_step_forward/rnn_step_backward": ("dprev_h",),
            "rnn_forward/rnn_backward": ("dx", "dh0", "dWx", "dWh", "db"),
        },
    ),
    "h(t) instead of h(t-1)": (
        {"dWh = prev_h.T @ dtanh": "dWh = next_h.T @ dtanh"},
        {f"{s}_forward/{s}_backward": ("dWh",) for s in ("rnn_step", "rnn")},
    ),
    "first step missing": (
        {"for t in reversed(range(T)):": "for t in reversed(range(1, T)):"},
        {"rnn_forward/rnn_backward": ("dx", "dh0", "dWx", "dWh", "db")},
    ),
    "last step missing": (
        {"for t in reversed(range(T)):": "for t in reversed(range(T - 1)):"},
        {"rnn_forward/rnn_backward": ("dx", "dh0", "dWx", "dWh", "db")},
    ),
    "mean instead of sum": (
        {"dx_flat /= N": "dx_flat /= N * T"},
        {"temporal_softmax_loss": ("dx",)},
    ),
    "sign flipped": (
        {
            "dx_flat[np.arange(N * T), y_flat] -= 1": (
                "dx_flat[np.arange(N * T), y_flat] -= 1\n    dx_flat *= -1"
            )
        },
        {"temporal_softmax_loss": ("dx",)},
    ),
}


@pytest.mark.parametrize("phrase", list(CS231N_MISTAKES))
def test_a_cs231n_mistake_gets_exactly_its_phrase(tmp_path: Path, phrase: str) -> None:
    edits, where = CS231N_MISTAKES[phrase]
    report = grade(_student(tmp_path, CS231N, edits), layout="cs231n", examples=3)
    assert not report.passed
    got = {d.function: d.gradients for d in report.diagnoses if d.mistake is not None}
    assert got == where, str(report)
    assert {d.mistake.phrase for d in report.diagnoses if d.mistake is not None} == {phrase}
    assert _named_in(str(report)) == [phrase]
