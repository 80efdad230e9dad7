"""What the grader's report says in the cases a student meets first: the names of the
values a function should return, a gradient of the wrong shape, an exception without a
message, and a diagnosis in this package's own layout."""

from __future__ import annotations

from pathlib import Path

from verification.grade import grade

STUDENTS = Path(__file__).resolve().parent / "students"
CS231N = (STUDENTS / "cs231n_rnn.py").read_text(encoding="utf-8")
CS231N_LSTM = CS231N + (STUDENTS / "cs231n_lstm.py").read_text(encoding="utf-8")
MIN_CHAR_RNN = (STUDENTS / "min_char_rnn.py").read_text(encoding="utf-8")
REFERENCE = (STUDENTS / "reference_rnn.py").read_text(encoding="utf-8")


def _student(tmp_path: Path, source: str, old: str, new: str) -> Path:
    """The source with its one line ``old`` replaced by ``new``, written to a file."""
    assert source.count(old) == 1, old
    path = tmp_path / "student.py"
    path.write_text(source.replace(old, new), encoding="utf-8")
    return path


def test_a_forward_pass_without_its_cache_is_told_the_names_it_must_return(
    tmp_path: Path,
) -> None:
    path = _student(tmp_path, CS231N, "    return h, caches\n", "    return h\n")
    text = str(grade(path, layout="cs231n", examples=1))
    assert "rnn_forward returned one ndarray, expected 2 values: (h, cache)" in text, text


def test_a_step_forward_without_its_cache_is_told_the_names_it_must_return(
    tmp_path: Path,
) -> None:
    path = _student(
        tmp_path, CS231N_LSTM, "    return next_h, next_c, cache\n", "    return next_h, next_c\n"
    )
    text = str(grade(path, layout="cs231n", examples=1))
    assert "lstm_step_forward returned 2 values, expected 3: (next_h, next_c, cache)" in text


def test_a_wrong_cell_state_is_named_next_c(tmp_path: Path) -> None:
    path = _student(
        tmp_path, CS231N_LSTM, "    next_c = f * prev_c + i * g\n", "    next_c = prev_c + i * g\n"
    )
    values = grade(path, layout="cs231n", examples=1).checks[1]  # against the reference
    assert values.status == "FAILED"
    assert any("next_c" in line for line in values.details), values.details


def test_a_gradient_of_the_wrong_shape_is_named(tmp_path: Path) -> None:
    path = _student(tmp_path, CS231N, "    dWx = x.T @ dtanh\n", "    dWx = (x.T @ dtanh).T\n")
    text = str(grade(path, layout="cs231n", examples=1))
    assert "dWx has shape (" in text, text


def test_an_exception_without_a_message_is_shown_by_its_type_and_line(tmp_path: Path) -> None:
    path = _student(
        tmp_path,
        MIN_CHAR_RNN,
        "def lossFun(inputs, targets, hprev):\n",
        "def lossFun(inputs, targets, hprev):\n    raise ValueError\n",
    )
    text = str(grade(path, layout="min-char-rnn", examples=1))
    assert f"ValueError ({path}, line " in text, text


def test_the_reference_layout_names_the_post_s_mistake(tmp_path: Path) -> None:
    """This package's own contract gets the same diagnosis: the recurrent term left out."""
    path = _student(
        tmp_path,
        REFERENCE,
        "        delta = (1 - hs[t] ** 2) * (do @ V + dh_next)\n",
        "        delta = (1 - hs[t] ** 2) * (do @ V)\n",
    )
    report = grade(path, layout="reference", examples=2)
    assert not report.passed
    phrases = {d.mistake.phrase for d in report.diagnoses if d.mistake is not None}
    assert phrases == {"truncated BPTT (k=1)"}, str(report)
