"""Whatever the student's code does, the grader ends with a readable report and exit status
0, 1 or 2: exceptions, wrong return values, lists, NaN, changed inputs, endless loops,
floods of output, files that do not import."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from verification.grade import OUTPUT_LIMIT, GradingError, grade

GRADE = importlib.import_module("verification.grade")  # the module; the package exports grade()

STUDENTS = Path(__file__).resolve().parent / "students"
MIN_CHAR_RNN = (STUDENTS / "min_char_rnn.py").read_text(encoding="utf-8")
RETURN = "    return loss, dWxh, dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]"


def _write(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "student.py"
    path.write_text(source, encoding="utf-8")
    return path


def _with_return(tmp_path: Path, new_return: str) -> Path:
    assert MIN_CHAR_RNN.count(RETURN) == 1
    return _write(tmp_path, MIN_CHAR_RNN.replace(RETURN, new_return))


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rnn", "grade", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_an_exception_is_reported_as_the_student_s_with_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "def lossFun(inputs, targets, hprev):\n    return 1 / 0\n")
    report = grade(path, examples=2)
    text = str(report)
    assert report.checks[0].status == "FAILED"
    assert (
        "lossFun raised ZeroDivisionError: division by zero "
        f"({path}, line 2, in lossFun: return 1 / 0)" in text
    )
    assert [c.status for c in report.checks[1:]] == ["not run"] * 3
    assert "Traceback" not in text


def test_a_wrong_number_of_values_is_reported(tmp_path: Path) -> None:
    path = _with_return(tmp_path, "    return loss, dWxh, dWhh, dWhy, dbh, dby")
    report = grade(path, examples=2)
    assert not report.passed
    assert (
        "lossFun returned 6 values, expected 7: (loss, dWxh, dWhh, dWhy, dbh, dby, hlast)"
        in report.checks[0].details[0]
    )


def test_a_single_value_instead_of_a_tuple_is_reported(tmp_path: Path) -> None:
    path = _with_return(tmp_path, "    return loss")
    report = grade(path, examples=1)
    expected = "expected 7 values: (loss, dWxh, dWhh, dWhy, dbh, dby, hlast)"
    text = str(report)
    assert f"lossFun returned one float64, {expected}" in text or (
        f"lossFun returned one float, {expected}" in text
    )


def test_lists_instead_of_arrays_fail_the_first_check_and_are_still_compared(
    tmp_path: Path,
) -> None:
    path = _with_return(
        tmp_path,
        "    return loss, dWxh.tolist(), dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]",
    )
    report = grade(path, examples=2)
    assert report.checks[0].status == "FAILED"
    assert "dWxh is a list, expected a numpy array of shape (4, 5)" in report.checks[0].details[0]
    assert [c.status for c in report.checks[1:]] == ["passed"] * 3


def test_an_unpicklable_return_value_is_reported_by_its_type(tmp_path: Path) -> None:
    path = _with_return(
        tmp_path, "    return loss, (g for g in dWxh), dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]"
    )
    report = grade(path, examples=1)
    assert "dWxh is a generator, expected an array (4, 5)" in str(report)
    assert not report.passed


def test_nan_is_reported_as_not_finite(tmp_path: Path) -> None:
    path = _with_return(
        tmp_path, "    return np.nan, dWxh * np.nan, dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]"
    )
    report = grade(path, examples=2)
    assert report.checks[1].status == "FAILED"
    assert "loss is not finite (NaN or inf)" in report.checks[1].details[0]
    assert report.checks[2].details == ("lossFun: dWxh is not finite (NaN or inf) (case 1)",)
    assert [(d.mistake, d.gradients) for d in report.diagnoses] == [(None, ("dWxh",))]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("    hprev[:] = 0\n", "hprev"),
        ("    inputs[0] = -1\n", "inputs"),
        ("    inputs.reverse()\n    inputs.reverse()\n    targets.append(0)\n", "targets"),
        ("    Wxh[0, 0] = 1.0\n", "Wxh"),
    ],
)
def test_changed_inputs_are_named(tmp_path: Path, change: str, named: str) -> None:
    path = _write(tmp_path, MIN_CHAR_RNN.replace(RETURN, change + RETURN))
    report = grade(path, examples=1)
    assert report.checks[0].status == "FAILED"
    assert f"lossFun changed its argument {named} in place" in report.checks[0].details[0]


def test_an_endless_loop_is_stopped_by_the_per_call_timeout(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "def lossFun(inputs, targets, hprev):\n    while True:\n        pass\n"
    )
    start = time.perf_counter()
    report = grade(path, examples=3, timeout=1.0)
    assert time.perf_counter() - start < 60  # one timeout, not one per case
    text = str(report)
    assert "stopped after 1 s (per-call timeout)" in text
    assert "no answer after 1 s while running lossFun (per-call timeout); stopped" in text
    # the later cases are not run on a stopped process, and say why
    assert "not called: no answer after 1 s while running lossFun" in text, text
    assert not report.passed


def test_the_process_ending_is_reported(tmp_path: Path) -> None:
    path = _write(tmp_path, "import os\ndef lossFun(inputs, targets, hprev):\n    os._exit(3)\n")
    report = grade(path, examples=1)
    assert "the process ended while running lossFun (exit status 3)" in str(report)


def test_a_crash_of_the_student_s_process_is_reported(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "import ctypes\ndef lossFun(inputs, targets, hprev):\n    ctypes.string_at(0)\n"
    )
    report = grade(path, examples=1)
    assert "the process ended while running lossFun (exit status -11)" in str(report)


def test_what_a_student_s_code_changes_does_not_reach_the_next_grade(tmp_path: Path) -> None:
    """Each grade's process is forked from the same clean fork server, not from the last one."""
    vandal = _write(
        tmp_path,
        "import numpy as np\nnp.tanh = None\n" + MIN_CHAR_RNN,  # the next student uses np.tanh
    )
    assert not grade(vandal, examples=1).passed
    assert grade(STUDENTS / "min_char_rnn.py", examples=1).passed


def test_sys_exit_is_an_exception_like_any_other(tmp_path: Path) -> None:
    path = _write(tmp_path, "import sys\ndef lossFun(inputs, targets, hprev):\n    sys.exit(4)\n")
    report = grade(path, examples=1)
    assert "lossFun raised SystemExit: 4" in str(report)


def test_a_flood_of_output_is_captured_and_cut(tmp_path: Path) -> None:
    flood = '    print("x" * 100_000)\n    print("to stderr", file=__import__("sys").stderr)\n'
    path = _write(tmp_path, MIN_CHAR_RNN.replace(RETURN, flood + RETURN))
    report = grade(path, examples=1)
    assert report.passed  # printing is not a mistake
    assert len(report.output) == OUTPUT_LIMIT
    assert report.output_length > 100_000  # every call's output, counted
    assert (
        f"your code printed {report.output_length} characters; the first {OUTPUT_LIMIT}:"
        in str(report)
    )
    assert len(str(report)) < 10 * OUTPUT_LIMIT


def test_output_at_import_is_captured(tmp_path: Path) -> None:
    path = _write(tmp_path, 'print("hello from the import")\n' + MIN_CHAR_RNN)
    report = grade(path, examples=1)
    assert report.output == "hello from the import\n"
    assert "your code printed 22 characters:" in str(report)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def lossFun(:\n", "does not import: SyntaxError: invalid syntax ({path}, line 1)"),
        (
            "import numpy\nraise RuntimeError('no data file')\n",
            "does not import: RuntimeError: no data file "
            "({path}, line 2, in <module>: raise RuntimeError('no data file'))",
        ),
        ("x = 1\n", "{path} defines no function lossFun (the min-char-rnn layout needs lossFun)"),
    ],
)
def test_a_file_that_cannot_be_graded_is_a_grading_error(
    tmp_path: Path, source: str, message: str
) -> None:
    path = _write(tmp_path, source)
    with pytest.raises(GradingError) as info:
        grade(path, examples=1)
    assert message.format(path=path.resolve()) in str(info.value)


def test_an_import_that_never_ends_is_a_grading_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "while True:\n    pass\n")
    with pytest.raises(
        GradingError, match=r"does not import: no answer after 1 s while importing student.py"
    ):
        grade(path, examples=1, timeout=1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"layout": "keras"},
            "layout must be one of min-char-rnn, cs231n, reference, got 'keras'",
        ),
        ({"cell": "lstm"}, "the min-char-rnn layout has the cell rnn, got 'lstm'"),
        ({"examples": 0}, "examples must be ≥ 1, got 0"),
        ({"seed": -1}, "seed must be ≥ 0, got -1"),
        ({"timeout": 0.0}, "timeout must be finite and > 0, got 0.0"),
    ],
)
def test_bad_arguments_are_grading_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(GradingError, match=message):
        grade(STUDENTS / "min_char_rnn.py", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("layout", "cell", "message"),
    [
        (
            "cs231n",
            "lstm",
            "the cs231n layout has the cell rnn, got 'lstm' (its LSTM functions are graded "
            "with the RNN's when the file defines them)",
        ),
        ("cs231n", "gru", "the cs231n layout has the cell rnn, got 'gru'"),
        ("min-char-rnn", "lstm", "the min-char-rnn layout has the cell rnn, got 'lstm'"),
        (
            "reference",
            "elman",
            "the reference layout has the cell rnn or lstm or gru, got 'elman'",
        ),
    ],
)
def test_a_cell_the_layout_lacks_is_refused_in_words(layout: str, cell: str, message: str) -> None:
    """Only cs231n's LSTM has a home elsewhere in its layout, and only its message says where."""
    with pytest.raises(GradingError) as info:
        grade(STUDENTS / "cs231n_rnn.py", layout=layout, cell=cell)
    assert str(info.value) == message


def test_a_missing_file_and_a_name_for_cs231n_are_grading_errors(tmp_path: Path) -> None:
    with pytest.raises(GradingError, match=r"student file '.*missing\.py' does not exist"):
        grade(tmp_path / "missing.py")
    with pytest.raises(GradingError, match="is a directory, not a Python file"):
        grade(tmp_path)
    with pytest.raises(GradingError, match="the cs231n layout grades fixed function names"):
        grade(f"{STUDENTS / 'cs231n_rnn.py'}:rnn_forward", layout="cs231n")


def test_cli_exit_status_0_for_a_correct_file() -> None:
    result = _cli(STUDENTS / "min_char_rnn.py", "--layout", "min-char-rnn", "--examples", "2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("result: passed")
    assert result.stderr == ""


def test_cli_exit_status_1_with_the_report_of_a_failing_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "def lossFun(inputs, targets, hprev):\n    raise KeyError('Wxh')\n")
    result = _cli(f"{path}:lossFun", "--layout", "min-char-rnn", "--examples", "1")
    assert result.returncode == 1
    assert "lossFun raised KeyError: 'Wxh'" in result.stdout
    assert result.stdout.rstrip().endswith("result: FAILED")
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.py", "--layout", "min-char-rnn"], "student file 'missing.py' does not exist"),
        (
            ["broken.py", "--layout", "min-char-rnn"],
            "broken.py does not import: NameError: name 'undefined' is not defined",
        ),
        (
            ["broken.py:lossFun", "--layout", "cs231n"],
            "the cs231n layout grades fixed function names",
        ),
        (["fine.py:nothing", "--layout", "reference"], "defines no function nothing"),
        (["fine.py", "--layout", "keras"], "argument --layout: invalid choice: 'keras'"),
        (["fine.py"], "the following arguments are required: --layout"),
        (
            ["fine.py", "--layout", "cs231n", "--cell", "gru"],
            "the cs231n layout has the cell rnn, got 'gru'",
        ),
        (["fine.py", "--layout", "reference", "--examples", "0"], "examples must be ≥ 1, got 0"),
    ],
)
def test_cli_exit_status_2_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "broken.py").write_text("x = undefined\n", encoding="utf-8")
    (tmp_path / "fine.py").write_text("x = 1\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "rnn", "grade", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("python -m rnn: error: "), result.stderr
    assert message in lines[0]


def test_a_transposed_input_gradient_fails_its_shape_and_is_diagnosed(tmp_path: Path) -> None:
    path = _with_return(
        tmp_path, "    return loss, dWxh.T, dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]"
    )
    report = grade(path, examples=2)
    assert "case 1: dWxh has shape (5, 4), expected (4, 5)" in report.checks[0].details
    assert report.checks[2].details == (
        "lossFun: dWxh has shape (5, 4), expected (4, 5) (case 1)",
    )
    assert [
        (d.mistake and d.mistake.phrase, d.gradients, d.equation) for d in report.diagnoses
    ] == [("transposed", ("dWxh",), "(13)")]
    assert report.checks[3].status == "not run"


def test_other_dtypes_are_named(tmp_path: Path) -> None:
    path = _with_return(
        tmp_path,
        "    return loss, dWxh, dWhh, dWhy.astype(np.float32), dbh, dby.astype(complex), "
        "hs[len(inputs) - 1]",
    )
    report = grade(path, examples=1)
    details = report.checks[0].details
    assert "case 1: dWhy has dtype float32, expected float64" in details
    assert "case 1: dby has dtype complex128, expected float64" in details
    assert "lossFun: dby could not be read (case 1)" in report.checks[2].details


def test_a_loss_that_is_not_a_number_is_named(tmp_path: Path) -> None:
    path = _with_return(tmp_path, '    return {"loss": loss}, dWxh, dWhh, dWhy, dbh, dby, hs[-1]')
    report = grade(path, examples=1)
    assert "case 1: the loss is a dict, expected a float" in report.checks[0].details
    assert report.checks[3].details == ("case 1, lossFun: the loss is a dict, not a number",)


def test_reference_layout_return_values_are_checked(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "import rnn\n"
        "def listed(params, inputs, targets, h0):\n"
        "    loss, grads, h = rnn.LSTM(**params).loss_and_gradients(inputs, targets, h0)\n"
        "    return loss, list(grads.values()), h\n"
        "def half_state(params, inputs, targets, h0):\n"
        "    loss, grads, h = rnn.LSTM(**params).loss_and_gradients(inputs, targets, h0)\n"
        "    return loss, grads, h[:1]\n",
    )
    listed = grade(f"{path}:listed", layout="reference", cell="lstm", examples=1)
    assert (
        listed.checks[0].details[0].startswith("case 1: grads is list, expected a dict with keys")
    )
    half = grade(f"{path}:half_state", layout="reference", cell="lstm", examples=1)
    assert half.checks[0].details == ("case 1: h_last has 1 parts, expected 2",)


def test_arguments_of_the_wrong_type_are_type_errors() -> None:
    with pytest.raises(TypeError, match="examples must be an int, got str"):
        grade(STUDENTS / "min_char_rnn.py", examples="3")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="timeout must be a number, got str"):
        grade(STUDENTS / "min_char_rnn.py", timeout="1")  # type: ignore[arg-type]
    with pytest.raises(GradingError, match=r"NAME in PATH\.py:NAME must be a Python identifier"):
        grade(f"{STUDENTS / 'min_char_rnn.py'}:1st", layout="min-char-rnn")


@pytest.mark.parametrize("guarded", [False, True])
def test_a_grading_script_learns_to_guard_its_top_level(tmp_path: Path, guarded: bool) -> None:
    """multiprocessing runs a script's top level again in the student's process; unguarded,
    the grade there is refused, and the error says how to fix the script."""
    call = f"print(grade({str(STUDENTS / 'min_char_rnn.py')!r}, examples=1).passed)"
    body = f'if __name__ == "__main__":\n    {call}\n' if guarded else f"{call}\n"
    script = tmp_path / "grade_all.py"
    script.write_text(f"from verification import grade\n{body}", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    if guarded:
        assert (result.returncode, result.stdout) == (0, "True\n"), result.stderr
    else:
        assert result.returncode == 1
        assert result.stderr.splitlines()[-1] == (
            "verification.grade.GradingError: the grader's process did not start: "
            "the process ended while starting Python and numpy (exit status 1); "
            f"{script} runs again in that process, so a script must call grade() "
            'under `if __name__ == "__main__":`'
        )


def test_a_target_splits_at_its_last_colon_unless_it_ends_in_py(tmp_path: Path) -> None:
    """A folder's name may hold a colon: only a colon after the file's name starts NAME, and
    a layout's default NAME stands in when there is none (the cs231n layout has none)."""
    path = tmp_path / "a:b" / "student.py"
    path.parent.mkdir()
    path.write_text("", encoding="utf-8")
    parse = GRADE._parse_target
    assert parse(f"{path}:f", "reference", "rnn") == (path.resolve(), "f", str(path))
    assert parse(path, "reference", "rnn") == (path.resolve(), "loss_and_gradients", str(path))
    assert parse(str(path), "min-char-rnn", "rnn") == (path.resolve(), "lossFun", str(path))
    assert parse(path, "cs231n", "rnn") == (path.resolve(), "", str(path))


def test_a_target_that_cannot_be_graded_is_told_why_in_full(tmp_path: Path) -> None:
    parse = GRADE._parse_target
    with pytest.raises(GradingError) as info:
        parse(f"{tmp_path / 'student.py'}:rnn_forward", "cs231n", "rnn")
    assert str(info.value) == (
        "the cs231n layout grades fixed function names; give PATH.py without :NAME"
    )
    with pytest.raises(GradingError) as info:
        parse(tmp_path, "reference", "rnn")
    assert str(info.value) == f"student file {str(tmp_path)!r} is a directory, not a Python file"


def test_counts_are_checked_by_type_and_range_with_their_names() -> None:
    """Any positive timeout is allowed, also one below a second."""
    check = GRADE._check_counts
    assert check(1, 0, 0.5) is None
    with pytest.raises(TypeError) as info:
        check(1, 1.5, 1.0)
    assert str(info.value) == "seed must be an int, got float"
    with pytest.raises(TypeError) as info:
        check(True, 0, 1.0)
    assert str(info.value) == "examples must be an int, got bool"


def test_a_cs231n_file_without_the_sequence_functions_is_told_all_it_needs(
    tmp_path: Path,
) -> None:
    """The message names every missing function, then every function the layout needs."""
    path = _write(
        tmp_path,
        "def rnn_step_forward(x, prev_h, Wx, Wh, b):\n    pass\n\n\n"
        "def rnn_step_backward(dnext_h, cache):\n    pass\n",
    )
    with pytest.raises(GradingError) as info:
        grade(path, layout="cs231n", examples=1)
    assert str(info.value) == (
        f"{path.resolve()} defines no function rnn_forward, rnn_backward (the cs231n layout "
        "needs rnn_step_forward, rnn_step_backward, rnn_forward, rnn_backward)"
    )


class _Ended:
    """A student's process that answers no request: it ended after its import."""

    def call(self, name: str, args: object, arg_names: object) -> object:
        return GRADE._Reply(problem=f"{name}: the process ended")


def test_a_process_that_cannot_say_which_functions_it_defines_defines_none() -> None:
    path = STUDENTS / "min_char_rnn.py"
    with pytest.raises(GradingError) as info:
        GRADE._functions(_Ended(), path, "min-char-rnn", "lossFun")
    assert str(info.value) == (
        f"{path} defines no function lossFun (the min-char-rnn layout needs lossFun)"
    )


def test_a_flat_last_hidden_state_is_named_hlast_in_checks_1_and_2(tmp_path: Path) -> None:
    """min-char-rnn's hprev is a column (H, 1), and so must its returned hlast be; the first
    case has H = 4."""
    path = _with_return(
        tmp_path, "    return loss, dWxh, dWhh, dWhy, dbh, dby, hs[len(inputs) - 1].ravel()"
    )
    report = grade(path, examples=1)
    assert report.checks[0].details == ("case 1: hlast has shape (4,), expected (4, 1)",)
    (value,) = report.checks[1].details
    shown = "case 1, lossFun: hlast has shape (4,), expected (4, 1): yours array (4,) with max "
    assert value.startswith(shown), value


def test_a_named_tuple_from_a_module_beside_the_file_is_graded_as_a_tuple(
    tmp_path: Path,
) -> None:
    """cs231n students often keep a cache in a named tuple of a helper module. The replies
    reach the grader as data, so the grader's process, which cannot import that module (it
    is not on the grader's path), still reads them, and the correct file passes."""
    (tmp_path / "layer_cache.py").write_text(
        "import collections\nCache = collections.namedtuple('Cache', 'x prev_h Wx Wh next_h')\n",
        encoding="utf-8",
    )
    source = (STUDENTS / "cs231n_rnn.py").read_text(encoding="utf-8")
    old = "    return next_h, (x, prev_h, Wx, Wh, next_h)\n"
    assert source.count(old) == 1
    path = _write(
        tmp_path,
        "from layer_cache import Cache\n"
        + source.replace(old, "    return next_h, Cache(x, prev_h, Wx, Wh, next_h)\n"),
    )
    assert "layer_cache" not in sys.modules
    report = grade(path, layout="cs231n", examples=2)
    assert report.passed, str(report)
    assert "layer_cache" not in sys.modules


def test_a_huge_returned_array_is_named_by_its_shape_not_sent(tmp_path: Path) -> None:
    """An array of more than SENT_LIMIT entries stays in the student's process: the report
    names its shape, and the grade does not copy it back for each call of check 4."""
    path = _with_return(
        tmp_path, "    return loss, dWxh, dWhh, dWhy, dbh, dby, np.zeros((1001, 1000))"
    )
    report = grade(path, layout="min-char-rnn", examples=1)
    assert "case 1: hlast is a ndarray of shape (1001, 1000), expected an array (4, 1)" in (
        report.checks[0].details
    ), str(report)
    assert report.checks[3].status == "passed", str(report)


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("lambda: 0.0", "function"),
        ("threading.Lock()", "lock"),
        ("(x for x in [1.0])", "generator"),
    ],
)
def test_a_loss_that_cannot_be_sent_is_named_by_its_own_type(
    tmp_path: Path, value: str, name: str
) -> None:
    """Checks 1 and 4 name the type the student's code returned."""
    path = _with_return(
        tmp_path,
        f"    import threading\n"
        f"    return {value}, dWxh, dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]",
    )
    report = grade(path, layout="min-char-rnn", examples=1)
    assert f"case 1: the loss is a {name}, expected a float" in report.checks[0].details
    assert f"case 1, lossFun: the loss is a {name}, not a number" in report.checks[3].details, str(
        report
    )


def test_a_loss_too_large_for_a_float_is_named_in_checks_1_and_4(tmp_path: Path) -> None:
    path = _with_return(
        tmp_path, "    return 10**400, dWxh, dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]"
    )
    report = grade(path, layout="min-char-rnn", examples=1)
    assert "case 1: the loss is a int too large for a float" in report.checks[0].details
    assert "case 1, lossFun: the loss is a int, not a number" in report.checks[3].details


@pytest.mark.parametrize(
    ("loss", "name"), [("np.array('21.3')", "ndarray"), ("np.array(True)", "ndarray")]
)
def test_a_loss_array_of_text_or_truth_is_not_a_number(
    tmp_path: Path, loss: str, name: str
) -> None:
    path = _with_return(
        tmp_path, f"    return {loss}, dWxh, dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]"
    )
    report = grade(path, layout="min-char-rnn", examples=1)
    assert f"case 1: the loss is a {name}, expected a float" in report.checks[0].details


def test_a_gradient_of_numbers_too_large_for_floats_is_named(tmp_path: Path) -> None:
    path = _with_return(
        tmp_path, "    return loss, [[10**400]], dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]"
    )
    report = grade(path, layout="min-char-rnn", examples=1)
    assert "case 1: dWxh is a list, expected a numpy array of shape (4, 5)" in (
        report.checks[0].details
    )
    assert "lossFun: dWxh could not be read (case 1)" in report.checks[2].details, str(report)


def test_check_4_says_when_the_loss_function_later_returns_an_empty_tuple(tmp_path: Path) -> None:
    """Check 4 calls lossFun again; this one answers the first call only."""
    path = _write(
        tmp_path,
        MIN_CHAR_RNN.replace("def lossFun(", "CALLS = []\n\n\ndef lossFun(", 1).replace(
            RETURN, "    CALLS.append(1)\n    if len(CALLS) > 1:\n        return ()\n" + RETURN
        ),
    )
    report = grade(path, layout="min-char-rnn", examples=1)
    assert [c.status for c in report.checks[:3]] == ["passed"] * 3, str(report)
    assert report.checks[3].details == ("case 1, lossFun: it returned an empty tuple, not a loss",)


def test_complex_values_are_never_read_as_their_real_part(tmp_path: Path) -> None:
    """numpy would keep a complex number's real part, with a warning, and the grade would
    pass on it; the grader refuses it instead: a complex loss in checks 1 and 4, a list of
    complex gradient entries in checks 1 and 3."""
    path = _with_return(
        tmp_path, "    return loss + 0j, dWxh, dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]"
    )
    report = grade(path, layout="min-char-rnn", examples=1)
    assert report.checks[0].details == ("case 1: the loss is a complex128, expected a float",)
    assert report.checks[3].details == ("case 1, lossFun: the loss is a complex128, not a number",)
    path = _with_return(
        tmp_path,
        "    return loss, (dWxh + 1j).tolist(), dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]",
    )
    report = grade(path, layout="min-char-rnn", examples=1)
    assert report.checks[0].details == (
        "case 1: dWxh is a list, expected a numpy array of shape (4, 5)",
    )
    assert "lossFun: dWxh could not be read (case 1)" in report.checks[2].details
