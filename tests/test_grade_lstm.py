"""The cs231n layout's LSTM functions: a correct file passes, each mistake of the LSTM's
catalogue gets exactly its phrase and the equation of the LSTM page it breaks, and
anything else gets ``no known mistake matches``.

The student files are tests/students/cs231n_rnn.py followed by cs231n_lstm.py, numpy
written in the assignment's style, with the lines a student gets wrong changed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnn.layers.lstm import LSTMLayer
from verification.grade import GradeReport, grade
from verification.mistakes import (
    CATALOGUE,
    LSTM_BREAKS,
    LSTM_CATALOGUE,
    LSTM_LEFT_OUT,
    TRUNCATED,
    lstm_backward,
)

STUDENTS = Path(__file__).resolve().parent / "students"
CS231N_RNN = (STUDENTS / "cs231n_rnn.py").read_text(encoding="utf-8")
CS231N_LSTM = (STUDENTS / "cs231n_lstm.py").read_text(encoding="utf-8")
STEP = "lstm_step_forward/lstm_step_backward"
SEQUENCE = "lstm_forward/lstm_backward"
ALL_STEP = ("dx", "dprev_h", "dprev_c", "dWx", "dWh", "db")
ALL_SEQUENCE = ("dx", "dh0", "dWx", "dWh", "db")


def _student(tmp_path: Path, edits: dict[str, str], lstm: str = CS231N_LSTM) -> Path:
    """The RNN file, then the LSTM file with each line ``old`` replaced by ``new``."""
    for old, new in edits.items():
        assert lstm.count(old) == 1, old
        lstm = lstm.replace(old, new)
    path = tmp_path / "rnn_layers.py"
    path.write_text(CS231N_RNN + "\n\n" + lstm, encoding="utf-8")
    return path


def _lstm_diagnoses(report: GradeReport) -> dict[str, tuple[str | None, tuple[str, ...], str]]:
    return {
        d.function: (None if d.mistake is None else d.mistake.phrase, d.gradients, d.equation)
        for d in report.diagnoses
        if d.function.startswith("lstm")
    }


def _without(source: str, *functions: str) -> str:
    """The source without the named top-level functions."""
    blocks = source.split("\n\n\n")
    return "\n\n\n".join(b for b in blocks if not any(f"def {f}(" in b for f in functions))


def test_the_lstm_loop_of_the_catalogue_is_the_layer_s_exact_and_truncated_pass() -> None:
    """The diagnosis compares with mistakes.py's loop, so with no mistake it must be
    LSTMLayer.backward, and truncated BPTT (k=1) must be its truncation (15) with k = 1."""
    rng = np.random.default_rng(5)
    T, B, D, H = 5, 3, 4, 2
    layer = LSTMLayer.random(D, H, rng, scale=0.7)
    x, dh = rng.standard_normal((T, B, D)), rng.standard_normal((T, B, H))
    start = (rng.standard_normal((B, H)), rng.standard_normal((B, H)))
    ds_last = rng.standard_normal((B, H))
    _, _, cache = layer.forward(x, start)
    for mistake, truncation, ds in ((None, None, ds_last), (TRUNCATED, 1, np.zeros((B, H)))):
        grads, dx, (dh0, ds0) = layer.backward(dh, cache, (np.zeros((B, H)), ds), truncation)
        got = lstm_backward(cache.steps, dh, ds, layer.params, mistake)
        for name, value in {**grads, "x": dx, "h0": dh0, "s0": ds0}.items():
            np.testing.assert_allclose(got[name], value, rtol=1e-12, atol=1e-14, err_msg=name)


def test_every_mistake_is_diagnosed_for_the_lstm_or_says_why_not() -> None:
    assert set(LSTM_BREAKS) == set(LSTM_CATALOGUE)
    assert set(LSTM_CATALOGUE).isdisjoint(LSTM_LEFT_OUT)
    assert set(LSTM_CATALOGUE) | set(LSTM_LEFT_OUT) == set(CATALOGUE)


def test_a_correct_cs231n_lstm_passes_every_check(tmp_path: Path) -> None:
    report = grade(_student(tmp_path, {}), layout="cs231n", examples=3)
    assert report.passed, str(report)
    assert report.diagnoses == ()
    assert report.notes == (
        "graded: rnn_step_forward/backward, rnn_forward/backward, temporal_softmax_loss, "
        "lstm_step_forward/backward, lstm_forward/backward",
    )


# Each mistake as the lines of cs231n_lstm.py a student gets wrong, and what it changes:
# {function: (phrase, gradients, equation of the LSTM page)}.
LSTM_MISTAKES = {
    "truncated BPTT (k=1)": (
        {"dh[:, t] + dprev_h, dprev_c, cache[t]": "dh[:, t], np.zeros((N, H)), cache[t]"},
        {SEQUENCE: ("truncated BPTT (k=1)", ALL_SEQUENCE, "(L7)")},
    ),
    "transposed": (
        {"dWh = prev_h.T @ da": "dWh = da.T @ prev_h"},
        {STEP: ("transposed", ("dWh",), "(L14)")},
    ),
    "h(t) instead of h(t-1)": (
        {"dWh = prev_h.T @ da": "dWh = (o * np.tanh(next_c)).T @ da"},
        {
            STEP: ("h(t) instead of h(t-1)", ("dWh",), "(L14)"),
            SEQUENCE: ("h(t) instead of h(t-1)", ("dWh",), "(L14)"),
        },
    ),
    "first step missing": (
        {"for t in reversed(range(T)):": "for t in reversed(range(1, T)):"},
        {SEQUENCE: ("first step missing", ALL_SEQUENCE, "(L13)")},
    ),
    "last step missing": (
        {"for t in reversed(range(T)):": "for t in reversed(range(T - 1)):"},
        {SEQUENCE: ("last step missing", ALL_SEQUENCE, "(L13)")},
    ),
    "sign flipped": (
        {"    N, T, H = dh.shape\n": "    N, T, H = dh.shape\n    dh = -dh\n"},
        {SEQUENCE: ("sign flipped", ALL_SEQUENCE, "(L7)")},
    ),
}


def test_every_lstm_mistake_has_a_test() -> None:
    assert set(LSTM_MISTAKES) == {m.phrase for m in LSTM_CATALOGUE}


@pytest.mark.parametrize("phrase", list(LSTM_MISTAKES))
def test_an_lstm_mistake_gets_exactly_its_phrase(tmp_path: Path, phrase: str) -> None:
    edits, expected = LSTM_MISTAKES[phrase]
    report = grade(_student(tmp_path, edits), layout="cs231n", examples=3)
    assert not report.passed
    assert _lstm_diagnoses(report) == expected, str(report)
    text = str(report)
    assert [m.phrase for m in CATALOGUE if m.phrase in text] == [phrase]
    assert "of the LSTM page" in text
    assert "rnn_forward/rnn_backward:" not in text  # the RNN's functions are untouched


def test_a_transposed_dwh_makes_the_sequence_pass_raise_in_the_student_s_line(
    tmp_path: Path,
) -> None:
    """cs231n's loop adds a (4H, H) dWh_t into an (H, 4H) dWh: the report says where."""
    report = grade(_student(tmp_path, {"dWh = prev_h.T @ da": "dWh = da.T @ prev_h"}), "cs231n")
    assert f"{SEQUENCE}: lstm_backward raised ValueError" in str(report)
    assert ", in lstm_backward: dWh += dWh_t)" in str(report)


def test_an_upstream_negated_in_each_step_is_sign_flipped_only_for_the_step(
    tmp_path: Path,
) -> None:
    """Negated inside the step, the sign alternates along the sequence: not a known mistake."""
    edits = {
        "    dc = dnext_c + ": "    dnext_h, dnext_c = -dnext_h, -dnext_c\n    dc = dnext_c + "
    }
    report = grade(_student(tmp_path, edits), layout="cs231n", examples=3)
    assert _lstm_diagnoses(report) == {
        STEP: ("sign flipped", ALL_STEP, "(L7)"),
        SEQUENCE: (None, ALL_SEQUENCE, ""),
    }


@pytest.mark.parametrize(
    "edits",
    [
        {"db = da.sum(axis=0)": "db = 2 * da.sum(axis=0)"},
        {"1 - np.tanh(next_c) ** 2": "1 - next_c**2"},  # the tanh slope from s(t): left out
    ],
    ids=["a factor of 2", "tanh derivative from the cell state"],
)
def test_an_unknown_lstm_gradient_matches_no_known_mistake(
    tmp_path: Path, edits: dict[str, str]
) -> None:
    report = grade(_student(tmp_path, edits), layout="cs231n", examples=3)
    assert not report.passed
    diagnoses = _lstm_diagnoses(report)
    assert set(diagnoses) == {STEP, SEQUENCE}
    assert all(phrase is None for phrase, _, _ in diagnoses.values())
    assert "no known mistake matches" in str(report)
    assert [m.phrase for m in CATALOGUE if m.phrase in str(report)] == []


def test_an_lstm_function_that_raises_is_reported_with_the_student_s_line(
    tmp_path: Path,
) -> None:
    path = _student(tmp_path, {"dprev_c = dc * f": "dprev_c = dc * forget"})
    line = path.read_text(encoding="utf-8").splitlines().index("    dprev_c = dc * forget") + 1
    report = grade(path, layout="cs231n", examples=2)
    assert not report.passed
    assert (
        f"case 1, {STEP}: lstm_step_backward raised NameError: name 'forget' is not defined "
        f"({path}, line {line}, in lstm_step_backward: dprev_c = dc * forget)"
    ) in str(report)
    assert report.checks[0].status == "FAILED"


def test_a_file_with_the_step_functions_only_grades_the_step(tmp_path: Path) -> None:
    lstm = _without(CS231N_LSTM, "lstm_forward", "lstm_backward")
    edits = {"dWh = prev_h.T @ da": "dWh = (o * np.tanh(next_c)).T @ da"}
    report = grade(_student(tmp_path, edits, lstm), layout="cs231n", examples=2)
    assert report.notes == (
        "graded: rnn_step_forward/backward, rnn_forward/backward, temporal_softmax_loss, "
        "lstm_step_forward/backward",
    )
    assert _lstm_diagnoses(report) == {STEP: ("h(t) instead of h(t-1)", ("dWh",), "(L14)")}


def test_half_an_lstm_pair_is_named_and_not_graded(tmp_path: Path) -> None:
    lstm = _without(CS231N_LSTM, "lstm_step_backward", "lstm_backward")
    report = grade(_student(tmp_path, {}, lstm), layout="cs231n", examples=2)
    assert report.passed, str(report)
    assert report.notes == (
        "graded: rnn_step_forward/backward, rnn_forward/backward, temporal_softmax_loss",
        "lstm_step_forward is not graded: the file defines no lstm_step_backward",
        "lstm_forward is not graded: the file defines no lstm_backward",
    )


def test_a_file_without_the_lstm_grades_only_the_rnn(tmp_path: Path) -> None:
    path = tmp_path / "rnn_layers.py"
    path.write_text(CS231N_RNN, encoding="utf-8")
    report = grade(path, layout="cs231n", examples=2)
    assert report.passed
    assert report.notes == (
        "graded: rnn_step_forward/backward, rnn_forward/backward, temporal_softmax_loss",
    )
    assert "lstm" not in str(report).split("\n", 1)[1]  # below the line naming the file
