"""What the grader's report says in the cases a student meets first: the names of the
values a function should return, a gradient of the wrong shape, an exception without a
message, and a diagnosis in this package's own layout."""

from __future__ import annotations

import dataclasses
import importlib
import re
from pathlib import Path

import numpy as np
import pytest
from grading import reference_student

from verification.grade import CENTRAL_ENTRIES, Check, Diagnosis, GradeReport, grade
from verification.mistakes import Mistake

GRADE = importlib.import_module("verification.grade")  # the module; the package exports grade()

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


def test_a_forward_pass_that_returns_a_tuple_of_one_is_told_how_many_it_must_return(
    tmp_path: Path,
) -> None:
    path = _student(tmp_path, CS231N, "    return h, caches\n", "    return (h,)\n")
    text = str(grade(path, layout="cs231n", examples=1))
    assert "rnn_forward returned 1 value, expected 2: (h, cache)" in text, text


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
    report = grade(path, layout="cs231n", examples=1)
    # the first case has D = V = 5 and H = 4, so dWx is (D, H) = (5, 4)
    assert "case 1: dWx has shape (4, 5), expected (5, 4)" in report.checks[0].details
    check3 = "rnn_step_forward/rnn_step_backward: dWx has shape (4, 5), expected (5, 4) (case 1)"
    assert check3 in report.checks[2].details


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


def test_a_step_forward_of_the_rnn_without_its_cache_is_told_the_names_it_must_return(
    tmp_path: Path,
) -> None:
    path = _student(
        tmp_path, CS231N, "    return next_h, (x, prev_h, Wx, Wh, next_h)\n", "    return next_h\n"
    )
    text = str(grade(path, layout="cs231n", examples=1))
    assert "rnn_step_forward returned one ndarray, expected 2 values: (next_h, cache)" in text


def test_a_softmax_loss_that_changes_its_scores_and_mask_names_both(tmp_path: Path) -> None:
    """Shifting the scores in place is a common way to write a stable softmax."""
    path = _student(
        tmp_path,
        CS231N,
        "    N, T, V = x.shape\n",
        "    N, T, V = x.shape\n    x -= x.max()\n    mask[:] = True\n",
    )
    report = grade(path, layout="cs231n", examples=1)
    expected = "case 1: temporal_softmax_loss changed its arguments x, mask in place"
    assert expected in report.checks[0].details, report.checks[0].details


def test_a_reference_function_that_changes_its_targets_is_told_so(tmp_path: Path) -> None:
    path = tmp_path / "student.py"
    path.write_text(
        REFERENCE + "\ndef clears(params, inputs, targets, h0):\n"
        "    result = loss_and_gradients(params, inputs, targets, h0)\n"
        "    targets[:] = -1\n"
        "    return result\n",
        encoding="utf-8",
    )
    report = grade(f"{path}:clears", layout="reference", examples=1)
    assert report.checks[0].details == ("case 1: clears changed its argument targets in place",), (
        report.checks[0].details
    )


def test_the_lstm_s_final_cell_state_is_named_h_last_1(tmp_path: Path) -> None:
    path = tmp_path / "student.py"
    path.write_text(
        REFERENCE + "\ndef single(params, inputs, targets, h0):\n"
        "    loss, grads, (h, s) = wrapped(params, inputs, targets, h0)\n"
        "    return loss, grads, (h, (s + 1.0).astype(np.float32))\n",
        encoding="utf-8",
    )
    report = grade(f"{path}:single", layout="reference", cell="lstm", examples=1)
    assert report.checks[0].details == ("case 1: h_last[1] has dtype float32, expected float64",)
    (value,) = report.checks[1].details
    assert value.startswith("case 1, single: h_last[1] rel err "), value


def test_a_loss_returned_as_a_one_element_array_is_a_number(tmp_path: Path) -> None:
    path = tmp_path / "student.py"
    path.write_text(
        REFERENCE + "\ndef boxed(params, inputs, targets, h0):\n"
        "    loss, grads, h = loss_and_gradients(params, inputs, targets, h0)\n"
        "    return np.array([[loss]]), grads, h\n",
        encoding="utf-8",
    )
    report = grade(f"{path}:boxed", layout="reference", examples=2)
    assert report.passed, str(report)


def test_the_report_lists_each_case_with_the_fixed_first_case_first() -> None:
    report = grade(STUDENTS / "reference_rnn.py", layout="reference", examples=2)
    assert report.cases[0] == "V=5, H=4, T=4, B=2, weights N(0, 0.5²), h0 random"
    assert re.fullmatch(
        r"V=\d+, H=\d+, T=\d+, B=\d, weights N\(0, 0\.\d+²\), h0 (= 0|random)", report.cases[1]
    ), report.cases[1]
    assert "  1. V=5, H=4, T=4, B=2, weights N(0, 0.5²), h0 random" in str(report)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_a_case_says_whether_its_initial_state_is_zero(cell: str) -> None:
    """Half the drawn cases start from a zero state (for the LSTM, both h and c), and each
    says so; the others say random."""
    cases = GRADE._cases("reference", cell, 12, 0)
    said = {str(case).rpartition(", ")[2] for case in cases}
    assert said == {"h0 = 0", "h0 random"}
    for case in cases:
        zero = not any(np.any(part) for part in GRADE._parts(case.h0))
        assert str(case).endswith("h0 = 0" if zero else "h0 random"), str(case)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_drawn_cases_follow_the_distributions_of_the_module_notes(cell: str) -> None:
    """Over 100 cases of seed 0: every input and target lies in 0 … V-1, and 0 is among them;
    each weight divided by its case's s pools to a standard deviation near 1, and a random
    initial state to one near 0.5, N(0, 0.25)."""
    cases = GRADE._cases("reference", cell, 100, 0)
    for case in cases:
        for data in (case.inputs, case.targets):
            assert data.shape == (case.T, case.B)
            assert data.min() >= 0
            assert data.max() < case.V
    assert any((case.inputs == 0).any() for case in cases)
    assert any((case.targets == 0).any() for case in cases)
    weights = np.concatenate([p.ravel() / c.scale for c in cases for p in c.params.values()])
    assert 0.95 < weights.std() < 1.05, weights.std()
    states = [p.ravel() for c in cases for p in GRADE._parts(c.h0) if np.any(p)]
    pooled = np.concatenate(states)
    assert pooled.size > 300
    assert 0.45 < pooled.std() < 0.55, pooled.std()


@pytest.mark.parametrize(
    ("layout", "T", "B"), [("reference", (1, 20), (1, 4)), ("min-char-rnn", (1, 8), (1, 1))]
)
def test_drawn_sizes_span_the_ranges_of_the_module_notes(
    layout: str, T: tuple[int, int], B: tuple[int, int]
) -> None:
    """V from 1 to 30 and H from 1 to 8; T from 1 to 20 and B from 1 to 4, except that the
    gist's lossFun reads one stream of at most 8 steps; h(0) zero or not with even odds.
    300 drawn cases of seed 0 reach each end of each range; for V, each end is missed with
    odds (29/30)³⁰⁰ < 5e-5."""
    drawn = GRADE._cases(layout, "rnn", 301, 0)[1:]
    for name, (low, high) in {"V": (1, 30), "H": (1, 8), "T": T, "B": B}.items():
        sizes = [getattr(case, name) for case in drawn]
        assert (min(sizes), max(sizes)) == (low, high), name
    # h(0) is zero with even odds: 150 ± 8.7 of 300
    zero = sum(not np.any(case.h0) for case in drawn)
    assert 120 < zero < 180, zero


def test_the_same_seed_gives_the_same_report(tmp_path: Path) -> None:
    """Cases, upstream gradients and check 4's entries all follow the seed, so a student can
    rerun a grade and compare."""
    path = _student(tmp_path, CS231N, "    dWx = x.T @ dtanh\n", "    dWx = 2 * x.T @ dtanh\n")
    first, again = (str(grade(path, layout="cs231n", examples=2, seed=7)) for _ in range(2))
    assert "worst entry" in first, first  # the text holds the numbers of the cases
    assert first == again
    assert str(grade(path, layout="cs231n", examples=2, seed=8)) != first


def test_the_same_seed_gives_the_same_report_for_the_lstm(tmp_path: Path) -> None:
    """cs231n's LSTM pairs draw weights of their own, from the case's seed as well."""
    path = _student(
        tmp_path, CS231N_LSTM, "    db = da.sum(axis=0)\n", "    db = 2 * da.sum(axis=0)\n"
    )
    first, again = (str(grade(path, layout="cs231n", examples=1, seed=7)) for _ in range(2))
    assert "lstm_step_forward/lstm_step_backward: db" in first, first
    assert first == again


@pytest.mark.check_4_in_full
def test_check_4_compares_at_most_central_entries_of_each_gradient(tmp_path: Path) -> None:
    """Each gradient costs check 4 two calls of the loss for each of at most CENTRAL_ENTRIES
    entries, so a grade of a large case takes about as long as one of a small case."""
    path = tmp_path / "student.py"
    path.write_text(
        MIN_CHAR_RNN.replace(
            "def lossFun(inputs, targets, hprev):\n",
            "def lossFun(inputs, targets, hprev):\n    print(end='.')\n",
        ),
        encoding="utf-8",
    )
    report = grade(path, layout="min-char-rnn", examples=3, seed=1)
    assert report.passed, str(report)
    calls = 0
    for V, H in _sizes(report.cases):
        sizes = (H * V, H * H, V * H, H, V)  # dWxh, dWhh, dWhy, dbh, dby
        # the graded call, two calls at the point (the loss must be deterministic), then a
        # central difference (two calls) at each compared entry
        calls += 1 + 2 + sum(2 * min(n, CENTRAL_ENTRIES) for n in sizes)
    assert any(V * H > CENTRAL_ENTRIES for V, H in _sizes(report.cases)), report.cases
    assert report.output_length == calls  # the student prints one character a call


def _sizes(cases: tuple[str, ...]) -> list[tuple[int, int]]:
    """(V, H) of each case's description."""
    pairs = (re.findall(r"[VH]=(\d+)", case) for case in cases)
    return [(int(V), int(H)) for V, H in pairs]


def test_a_reference_function_that_changes_every_argument_is_told_each_name(
    tmp_path: Path,
) -> None:
    """The report calls the arguments by the contract's names, in the contract's order."""
    path = reference_student(
        tmp_path,
        "    params['W'] += 1.0\n"
        "    inputs[:] = -1\n"
        "    targets[:] = -1\n"
        "    h0 += 1.0\n"
        "    return loss, grads, h\n",
    )
    report = grade(f"{path}:f", layout="reference", examples=1)
    assert report.checks[0].details == (
        "case 1: f changed its arguments params, inputs, targets, h0 in place",
    )


def test_a_reference_function_that_returns_one_value_is_told_the_three_it_must_return(
    tmp_path: Path,
) -> None:
    path = reference_student(tmp_path, "    return grads\n")
    report = grade(f"{path}:f", layout="reference", examples=1)
    assert report.checks[0].details == (
        "case 1, f: f returned one dict, expected 3 values: (loss, grads, h_last)",
    )


def test_a_loss_that_is_not_a_number_is_named_the_loss_in_checks_1_and_2(
    tmp_path: Path,
) -> None:
    """A loss the grader cannot read is a problem of check 1 and, in check 2, a value that
    could not be read (with no numbers to show)."""
    path = reference_student(tmp_path, "    return str(loss), grads, h\n")
    report = grade(f"{path}:f", layout="reference", examples=1)
    assert report.checks[0].details == ("case 1: the loss is a str, expected a float",)
    assert report.checks[1].details == ("case 1, f: loss could not be read",)


def test_an_rnn_s_final_state_in_a_tuple_is_not_taken_apart(tmp_path: Path) -> None:
    """Only the LSTM's final state is a tuple (h, s); an RNN's h_last is one array, so a tuple
    around it is a value of the wrong type and shape. The first case has B = 2, H = 4."""
    path = reference_student(tmp_path, "    return loss, grads, (h,)\n")
    report = grade(f"{path}:f", layout="reference", examples=1)
    assert report.checks[0].details == (
        "case 1: h_last is a tuple, expected a numpy array of shape (2, 4)",
        "case 1: h_last has shape (1, 2, 4), expected (2, 4)",
    )


def _failing_report() -> GradeReport:
    """Two cases; checks passed, FAILED (two details), FAILED (one) and not run; three
    diagnoses (the mistake's own words, the LSTM page's words, no known mistake); two notes;
    eight characters of output, all kept."""
    flipped = Mistake("sign flipped", "(7)", "W says +, not -", in_one_step=True)
    return GradeReport(
        target="student.py:f",
        layout="reference",
        cell="rnn",
        seed=3,
        timeout=10.0,
        cases=("V=5, H=4", "V=3, H=2"),
        checks=(
            Check("calls", "passed"),
            Check("values", "FAILED", ("case 1: loss rel err 0.5", "case 2: h_last bad")),
            Check("gradients", "FAILED", ("f: grads['W'] rel err 1",)),
            Check("central", "not run"),
        ),
        diagnoses=(
            Diagnosis(flipped, "f", ("grads['W']", "grads['U']"), "(7)"),
            Diagnosis(flipped, "f", ("grads['c']",), "(L3)", "LSTM", "c says once"),
            Diagnosis(None, "f", ("grads['b']",)),
        ),
        notes=("first note", "second note"),
        output="one\ntwo\n",
        output_length=8,
    )


def test_the_report_text_lists_cases_checks_diagnoses_notes_and_output() -> None:
    """Each check's details are indented under it; the diagnoses, notes and output each
    follow a blank line and a heading; the verdict comes last."""
    assert str(_failing_report()) == (
        "grading student.py:f (layout reference, cell rnn, seed 3)\n"
        "each call runs in a separate process, stopped after 10 s (per-call timeout)\n"
        "2 cases:\n"
        "  1. V=5, H=4\n"
        "  2. V=3, H=2\n"
        "\n"
        "1. calls: passed\n"
        "2. values: FAILED\n"
        "     case 1: loss rel err 0.5\n"
        "     case 2: h_last bad\n"
        "3. gradients: FAILED\n"
        "     f: grads['W'] rel err 1\n"
        "4. central: not run\n"
        "\n"
        "diagnosis:\n"
        "  f: grads['W'], grads['U']: sign flipped; breaks eq. (7) of the derivation page: "
        "W says +, not -\n"
        "  f: grads['c']: sign flipped; breaks eq. (L3) of the LSTM page: c says once\n"
        "  f: grads['b']: no known mistake matches\n"
        "\n"
        "notes:\n"
        "  first note\n"
        "  second note\n"
        "\n"
        "your code printed 8 characters:\n"
        "  | one\n"
        "  | two\n"
        "\n"
        "result: FAILED"
    )


def test_output_cut_at_its_limit_is_introduced_by_how_much_of_it_is_shown() -> None:
    """The same report, but the code printed 20 characters of which the 8 were kept: only
    the output's heading differs."""
    whole = str(_failing_report())
    cut = str(dataclasses.replace(_failing_report(), output_length=20))
    heading = "your code printed 8 characters:\n"
    assert whole.count(heading) == 1
    assert cut == whole.replace(heading, "your code printed 20 characters; the first 8:\n")


def test_a_report_without_diagnoses_notes_or_output_has_none_of_their_sections() -> None:
    report = GradeReport(
        target="s.py",
        layout="min-char-rnn",
        cell="rnn",
        seed=0,
        timeout=0.5,
        cases=("V=5",),
        checks=tuple(Check(title, "passed") for title in "abcd"),
    )
    assert str(report) == (
        "grading s.py (layout min-char-rnn, cell rnn, seed 0)\n"
        "each call runs in a separate process, stopped after 0.5 s (per-call timeout)\n"
        "1 case:\n"
        "  1. V=5\n"
        "\n"
        "1. a: passed\n"
        "2. b: passed\n"
        "3. c: passed\n"
        "4. d: passed\n"
        "\n"
        "result: passed"
    )


def test_a_report_passes_only_when_every_check_passed() -> None:
    passing = GradeReport("s.py", "cs231n", "rnn", 0, 1.0, (), (Check("a", "passed"),) * 4)
    assert passing.passed
    for status in ("FAILED", "not run"):
        checks = (*passing.checks[:3], Check("d", status))
        assert not dataclasses.replace(passing, checks=checks).passed, status


def test_short_shows_one_number_in_full_and_an_array_by_shape_and_largest_magnitude() -> None:
    """A value of check 2 is shown to 10 significant digits when it is one number, in any
    shape; an array is shown by its shape and its largest |entry| to 4 digits, which is 0
    for an empty array. Magnitudes are taken in float64, so an int8 entry -128 is 128."""
    short = GRADE._short
    assert short(1 / 3) == "0.3333333333"
    assert short(np.array([[2.5]])) == "2.5"
    assert short(np.array([1.23456, -7.654321])) == "array (2,) with max |entry| 7.654"
    assert short(np.zeros((0, 3))) == "array (0, 3) with max |entry| 0"
    assert short(np.array([-128, 5], dtype=np.int8)) == "array (2,) with max |entry| 128"


def test_error_is_the_largest_difference_over_the_largest_magnitude() -> None:
    """max |g - r| / max(max |g|, max |r|), computed in float64; 0 when both are empty or
    zero; inf when the student's value is missing, of another shape or not finite."""
    error = GRADE._error
    assert error(np.array([1.0, -4.0]), np.array([1.0, -3.0])) == 0.25  # 1 / max(4, 3)
    assert error(np.array([1.0, 2.0]), np.array([1.0, 5.0])) == 0.6  # 3 / max(2, 5)
    assert error(3.0, 3.5) == 0.5 / 3.5
    assert error(np.zeros(2), np.zeros(2)) == 0.0
    assert error(np.zeros((0, 2)), np.zeros((0, 2))) == 0.0
    assert error(None, 1.0) == np.inf
    assert error(np.zeros(2), np.zeros(3)) == np.inf
    assert error(np.array([1.0, np.nan]), np.ones(2)) == np.inf
    assert error(np.array([-np.inf, 1.0]), np.ones(2)) == np.inf
    # in float64 whatever the dtypes: |-128| in int8 would be -128, and the scale 127
    int8 = np.array([-128, 1], dtype=np.int8)
    assert error(int8, np.array([-127.0, 1.0])) == 1 / 128
    assert error(np.array([-127.0, 1.0]), int8) == 1 / 128


def test_discrepancy_says_why_two_values_differ_or_how_much() -> None:
    discrepancy = GRADE._discrepancy
    assert discrepancy(None, np.ones(2)) == "could not be read"
    assert discrepancy(np.ones((2, 1)), np.ones(2)) == "has shape (2, 1), expected (2,)"
    assert discrepancy(np.array([np.inf, 1.0]), np.ones(2)) == "is not finite (NaN or inf)"
    assert discrepancy(np.array([6.0, 1.0]), np.array([7.0, 1.0])) == "rel err 0.14"  # 1/7


def test_a_check_that_ran_on_no_trial_is_not_run() -> None:
    status, trial = GRADE._status, GRADE._Trial("f", 0)
    assert status([], []) == "not run"
    assert status([trial], []) == "passed"
    assert status([trial], ["case 1: wrong"]) == "FAILED"


def test_check_1_lists_failed_calls_and_then_problems_of_values() -> None:
    Trial = GRADE._Trial
    trials = [
        Trial("f", 0, shape_problems=["grads is list, expected a dict"]),
        Trial("f", 1, failure="f raised ValueError"),
        Trial("g", 2, shape_problems=["h has shape (2,), expected (3,)", "h has dtype int64"]),
    ]
    check = GRADE._check_calls(trials)
    assert check == Check(
        "calls return values of the right count, shapes and dtypes",
        "FAILED",
        (
            "case 2, f: f raised ValueError",
            "case 1: grads is list, expected a dict",
            "case 3: h has shape (2,), expected (3,)",
            "case 3: h has dtype int64",
        ),
    )
    assert GRADE._check_calls([Trial("f", 0)]) == Check(check.title, "passed")


def test_check_2_shows_each_value_beyond_the_tolerance_with_both_sides() -> None:
    """A value within GRADIENT_RTOL (1e-10) passes, also at exactly the tolerance; a trial
    whose call failed is left to check 1; a value that could not be read shows no numbers."""
    Trial = GRADE._Trial
    at_tolerance = (np.array([1.0, 0.0]), np.array([1.0, 1e-10]))  # error 1e-10 / 1
    trials = [
        Trial("f", 0, values=[("loss", 2.0, 2.0), ("h", *at_tolerance)]),
        Trial("f", 1, values=[("h_last", np.array([1.0, -4.0]), np.array([1.0, -3.0]))]),
        Trial("f", 2, failure="f raised ValueError", values=[("loss", 1.0, 5.0)]),
        Trial("g", 3, values=[("loss", None, 1.0), ("next_h", 0.5, 0.25)]),
    ]
    check = GRADE._check_values(trials)
    assert check == Check(
        "loss and forward outputs against the reference (rel err ≤ 1e-10)",
        "FAILED",
        (
            "case 2, f: h_last rel err 0.25: yours array (2,) with max |entry| 4, reference "
            "array (2,) with max |entry| 3",
            "case 4, g: loss could not be read",
            "case 4, g: next_h rel err 0.5: yours 0.5, reference 0.25",
        ),
    )
    assert GRADE._check_values(trials[:1]).status == "passed"
    assert GRADE._check_values(trials[2:3]).status == "not run"


def test_min_char_rnn_s_globals_hold_the_sizes_of_each_case(tmp_path: Path) -> None:
    """Karpathy's lossFun may read vocab_size, hidden_size and seq_length from its module
    (the file sets them before training), so the grader sets all three for each case."""
    path = _student(
        tmp_path,
        MIN_CHAR_RNN,
        "def lossFun(inputs, targets, hprev):\n",
        "def lossFun(inputs, targets, hprev):\n"
        "    assert (vocab_size, hidden_size, seq_length) == (*Wxh.T.shape, len(inputs))\n",
    )
    report = grade(path, layout="min-char-rnn", examples=1)
    assert report.checks[0] == Check(
        "calls return values of the right count, shapes and dtypes", "passed"
    )


def test_a_gradient_the_reference_layout_cannot_use_is_named_by_its_key(tmp_path: Path) -> None:
    """The first case has H = 4 and V = 5, so grads['U'] is (4, 5)."""
    body = "    grads['U'] = grads['U'].T\n    return loss, grads, h\n"
    path = reference_student(tmp_path, body)
    report = grade(f"{path}:f", layout="reference", examples=1)
    assert report.checks[0].details == ("case 1: grads['U'] has shape (5, 4), expected (4, 5)",)
    assert "f: grads['U'] has shape (5, 4), expected (4, 5) (case 1)" in report.checks[2].details


def test_grads_without_a_key_is_told_the_keys_it_has_and_needs(tmp_path: Path) -> None:
    path = reference_student(tmp_path, "    del grads['c']\n    return loss, grads, h\n")
    report = grade(f"{path}:f", layout="reference", examples=1)
    assert report.checks[0].details == (
        "case 1: grads is ['U', 'V', 'W', 'b'], expected a dict with keys "
        "['U', 'V', 'W', 'b', 'c']",
    )


def test_grads_with_keys_of_other_types_is_told_each_key(tmp_path: Path) -> None:
    """Keys that Python cannot sort together (an int among the strs) are listed by their
    reprs, sorted, rather than ending the grade."""
    path = reference_student(tmp_path, "    grads[0] = grads['c']\n    return loss, grads, h\n")
    report = grade(f"{path}:f", layout="reference", examples=1)
    assert report.checks[0].details == (
        "case 1: grads is ['U', 'V', 'W', 'b', 'c', 0], expected a dict with keys "
        "['U', 'V', 'W', 'b', 'c']",
    )


def test_unpack_names_what_a_function_returned_and_what_it_should_have() -> None:
    Trial, Reply, unpack = GRADE._Trial, GRADE._Reply, GRADE._unpack
    names = ("h", "cache")

    trial = Trial("f", 0)
    assert unpack(trial, Reply(values=(1, 2), changed=("x",)), names) == [1, 2]
    assert trial.shape_problems == ["f changed its argument x in place"]
    assert trial.failure is None

    trial = Trial("f", 0)
    assert unpack(trial, Reply(values=(1, 2), changed=("x", "w")), names, "g") == [1, 2]
    assert trial.shape_problems == ["g changed its arguments x, w in place"]

    trial = Trial("f", 0)
    assert unpack(trial, Reply(values=[1, 2]), names) is None
    assert trial.failure == "f returned one list, expected 2 values: (h, cache)"

    trial = Trial("f", 0)
    assert unpack(trial, Reply(values=(1,)), names, "g") is None
    assert trial.failure == "g returned 1 value, expected 2: (h, cache)"

    trial = Trial("f", 0)
    assert unpack(trial, Reply(values=(1, 2, 3)), names) is None
    assert trial.failure == "f returned 3 values, expected 2: (h, cache)"

    trial = Trial("f", 0)
    assert unpack(trial, Reply(problem="f raised ValueError", changed=("x",)), names) is None
    assert (trial.failure, trial.shape_problems) == ("f raised ValueError", [])


def test_real_reads_numbers_and_their_text_and_refuses_the_rest() -> None:
    real = GRADE._real
    assert real([1, 2.5]).tolist() == [1.0, 2.5]
    assert real(np.array(["21.5"])).tolist() == [21.5]
    assert real(b"3").tolist() == 3.0
    for refused in (1j, [1j], "abc", [[1.0], [1.0, 2.0]], [10**400], np.zeros(1, "M8[s]")):
        assert real(refused) is None, refused
    # a long double beyond float64 (x86's is wider) becomes inf, without a warning
    assert real([np.longdouble("1e4000")]).tolist() == [np.inf]


def test_as_array_converts_what_it_can_to_float64_and_names_each_problem() -> None:
    Trial, as_array = GRADE._Trial, GRADE._as_array

    trial = Trial("f", 0)
    got = as_array(trial, "dW", [1, 2], (2,))
    assert (got.dtype, got.tolist()) == (np.float64, [1.0, 2.0])
    assert trial.shape_problems == ["dW is a list, expected a numpy array of shape (2,)"]

    trial = Trial("f", 0)
    got = as_array(trial, "dW", np.array([[1, 2, 3]], dtype=np.float32), (3,))
    assert (got.dtype, got.tolist()) == (np.float64, [[1.0, 2.0, 3.0]])
    assert trial.shape_problems == [
        "dW has dtype float32, expected float64",
        "dW has shape (1, 3), expected (3,)",
    ]

    # a wider float (x86's long double) is cast down like float32 is cast up, and an entry
    # beyond float64's range becomes inf without a warning, which the later checks report
    wide = np.array([0.5, 2.0, np.longdouble("1e4000")], dtype=np.longdouble)
    got = as_array(Trial("f", 0), "dW", wide, (3,))
    assert (got.dtype, got.tolist()) == (np.float64, [0.5, 2.0, np.inf])

    trial = Trial("f", 0)
    assert as_array(trial, "dW", np.array([1j, 2]), (2,)) is None
    assert trial.shape_problems == ["dW has dtype complex128, expected float64"]

    trial = Trial("f", 0)
    assert as_array(trial, "dW", ["a", "b"], (2,)) is None
    assert trial.shape_problems == ["dW is a list, expected a numpy array of shape (2,)"]

    trial = Trial("f", 0)
    assert as_array(trial, "dW", GRADE._Opaque("generator"), (2,)) is None
    assert trial.shape_problems == ["dW is a generator, expected an array (2,)"]

    trial = Trial("f", 0)
    value = np.ones(2)
    assert as_array(trial, "dW", value, (2,)) is value
    assert trial.shape_problems == []


def test_as_loss_takes_a_number_or_an_array_of_one_and_refuses_the_rest() -> None:
    Trial, as_loss = GRADE._Trial, GRADE._as_loss
    trial = Trial("f", 0)
    for value in (2, 2.0, np.float32(2.0), np.int64(2), np.array([[2.0]])):
        got = as_loss(trial, value)
        assert (type(got), got) == (float, 2.0), value
    assert trial.shape_problems == []
    for value in (True, np.ones(2), None):
        assert as_loss(trial, value) is None
    assert trial.shape_problems == [
        "the loss is a bool, expected a float",
        "the loss is a ndarray, expected a float",
        "the loss is a NoneType, expected a float",
    ]


def test_the_cs231n_notes_list_what_was_graded_and_each_lstm_half_left_out() -> None:
    rnn = {"rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward"}
    notes = GRADE._cs231n_notes
    assert notes(rnn) == ["graded: rnn_step_forward/backward, rnn_forward/backward"]
    lstm = {"temporal_softmax_loss", "lstm_step_forward", "lstm_step_backward", "lstm_forward"}
    assert notes(rnn | lstm) == [
        "graded: rnn_step_forward/backward, rnn_forward/backward, temporal_softmax_loss, "
        "lstm_step_forward/backward",
        "lstm_forward is not graded: the file defines no lstm_backward",
    ]
    assert notes(rnn | {"lstm_step_backward", "lstm_forward", "lstm_backward"}) == [
        "graded: rnn_step_forward/backward, rnn_forward/backward, lstm_forward/backward",
        "lstm_step_backward is not graded: the file defines no lstm_step_forward",
    ]


def test_a_gradient_clipped_by_lossfun_is_noted_for_each_case_it_happened_on(
    tmp_path: Path,
) -> None:
    """The gist's lossFun clips its gradients to ±5; every exact entry of the grader's cases
    is below 4, so entries at exactly ±5 were wrong before the clipping, and the report says
    so, naming the gradient and the case."""
    path = _student(
        tmp_path,
        MIN_CHAR_RNN,
        "        dWxh += np.dot(dhraw, xs[t].T)",
        "        dWxh += 1000 * np.dot(dhraw, xs[t].T)",
    )
    report = grade(path, examples=2)
    assert report.notes == tuple(
        f"dWxh has entries of exactly ±5 on case {k}: lossFun clips its gradients, and here "
        "that clipping triggered; every exact entry of these cases is below 4 in magnitude, "
        "so the clipped entries were wrong"
        for k in (1, 2)
    )
    correct = grade(STUDENTS / "min_char_rnn.py", examples=2)
    assert correct.notes == ()


def test_an_lstm_forward_pass_without_its_cache_is_told_the_names_it_must_return(
    tmp_path: Path,
) -> None:
    rnn_part, lstm_forward = CS231N_LSTM.split("def lstm_forward(")
    end = "    return h, caches\n"  # the first in lstm_forward (rnn_forward's is in rnn_part)
    source = rnn_part + "def lstm_forward(" + lstm_forward.replace(end, "    return h\n", 1)
    path = tmp_path / "rnn_layers.py"
    path.write_text(source, encoding="utf-8")
    report = grade(path, layout="cs231n", examples=1)
    assert report.checks[0].details == (
        "case 1, lstm_forward/lstm_backward: lstm_forward returned one ndarray, "
        "expected 2 values: (h, cache)",
    )


def test_a_step_forward_output_of_the_wrong_dtype_is_named_by_its_output(tmp_path: Path) -> None:
    """next_h in float32 is converted and graded, and check 1 names it by cs231n's name."""
    path = _student(
        tmp_path,
        CS231N,
        "    return next_h, (x, prev_h, Wx, Wh, next_h)\n",
        "    return next_h.astype(np.float32), (x, prev_h, Wx, Wh, next_h)\n",
    )
    report = grade(path, layout="cs231n", examples=1)
    assert "case 1: next_h has dtype float32, expected float64" in report.checks[0].details


def test_a_backward_pass_that_returns_too_few_gradients_is_named_not_its_forward(
    tmp_path: Path,
) -> None:
    """A pair's forward returned what it should; the count that is wrong is the backward's."""
    path = _student(
        tmp_path,
        CS231N,
        "    db = dtanh.sum(axis=0)\n    return dx, dprev_h, dWx, dWh, db\n",
        "    return dx, dprev_h, dWx, dWh\n",
    )
    details = grade(path, layout="cs231n", examples=1).checks[0].details
    assert details[0] == (
        "case 1, rnn_step_forward/rnn_step_backward: rnn_step_backward returned 4 values, "
        "expected 5: (dx, dprev_h, dWx, dWh, db)"
    )


def test_a_softmax_loss_s_problems_are_each_named_by_its_own_value(tmp_path: Path) -> None:
    """A temporal_softmax_loss that changes its targets y, returns the loss in a list and dx
    in float32: check 1 names each problem, and check 2 names the loss it could not read."""
    path = _student(
        tmp_path,
        CS231N,
        "    return loss, dx_flat.reshape(N, T, V)\n",
        "    y[0, 0] = (y[0, 0] + 1) % V\n"
        "    return [loss], dx_flat.reshape(N, T, V).astype(np.float32)\n",
    )
    report = grade(path, layout="cs231n", examples=1)
    assert report.checks[0].details[-3:] == (
        "case 1: temporal_softmax_loss changed its argument y in place",
        "case 1: the loss is a list, expected a float",
        "case 1: dx has dtype float32, expected float64",
    ), report.checks[0].details
    assert report.checks[1].details[0].startswith("case 1, temporal_softmax_loss: loss "), str(
        report
    )


def test_a_softmax_loss_that_returns_only_the_loss_is_told_both_names(tmp_path: Path) -> None:
    path = _student(
        tmp_path, CS231N, "    return loss, dx_flat.reshape(N, T, V)\n", "    return loss\n"
    )
    text = str(grade(path, layout="cs231n", examples=1))
    assert "temporal_softmax_loss returned one float64, expected 2 values: (loss, dx)" in text


def test_grade_s_defaults_are_the_documented_ones() -> None:
    """Without options, grade() draws 5 cases of the RNN from seed 0 in the min-char-rnn
    layout, with the default timeout per call, as its docstring says."""
    report = grade(STUDENTS / "min_char_rnn.py")
    assert report.target == f"{STUDENTS / 'min_char_rnn.py'}:lossFun"
    assert len(report.cases) == 5, str(report)
    assert (report.layout, report.cell, report.seed) == ("min-char-rnn", "rnn", 0)
    assert report.timeout == GRADE.DEFAULT_TIMEOUT
    assert all(check.status == "passed" for check in report.checks), str(report)


@pytest.mark.parametrize(
    ("given", "layout", "shown"),
    [
        ("cs231n_rnn.py", "cs231n", "cs231n_rnn.py"),  # fixed function names: the path alone
        ("reference_rnn.py", "reference", "reference_rnn.py:loss_and_gradients"),
        ("reference_rnn.py:wrapped", "reference", "reference_rnn.py:wrapped"),
    ],
)
def test_the_report_names_the_file_as_given_and_the_function_graded(
    given: str, layout: str, shown: str
) -> None:
    """The report's target is the path as the caller wrote it, with the function graded
    after a colon (the layout's default name when none was given); the cs231n layout grades
    fixed names, so its target is the path alone."""
    report = grade(f"{STUDENTS}/{given}", layout=layout, examples=1)
    assert report.target == f"{STUDENTS}/{shown}"
    assert str(report).splitlines()[0].startswith(f"grading {STUDENTS}/{shown} (layout {layout},")
