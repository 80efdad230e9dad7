"""The student's side of the grader, run in this process with a stand-in for the pipe:
replies, captured output, changed arguments, stored results and opaque values."""

from __future__ import annotations

import collections
import importlib
import importlib.machinery
import io
import os
import pickle
import sys
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from verification.grade import (
    DEFINED,
    SENT_LIMIT,
    Diagnosis,
    GradingError,
    _Capture,
    _data,
    _DataUnpickler,
    _describe,
    _Opaque,
    _Ref,
    _Reply,
    _same,
    _serve,
    _Student,
)
from verification.mistakes import TRUNCATED

GRADE = importlib.import_module("verification.grade")  # the module; the package exports grade()


class _Pipe:
    """Hands ``_serve`` the requests one by one and keeps what it sends back."""

    def __init__(self, requests: list[tuple[Any, ...]]) -> None:
        self.requests = list(requests)
        self.sent: list[Any] = []

    def send(self, value: Any) -> None:
        self.sent.append(pickle.loads(pickle.dumps(value)))  # as the real pipe would

    def recv(self) -> Any:
        if not self.requests:
            raise EOFError
        return self.requests.pop(0)


SOURCE = """\
import numpy as np
print("imported")
scale = 1.0

def double(a):
    print("doubling")
    return 2 * scale * a, (lambda: None)

def grow(a, b):
    a += 1
    return a

def use(stored):
    return stored + 1,

def fail(a):
    return a[10]

def warn(a):
    import sys
    sys.stderr.write("careful\\n")
    return a,
"""


def _serve_requests(tmp_path: Path, requests: list[tuple[Any, ...]]) -> list[Any]:
    path = tmp_path / "student.py"
    path.write_text(SOURCE, encoding="utf-8")
    pipe = _Pipe(requests)
    _serve(pipe, str(path))
    return pipe.sent


def test_the_child_reports_start_import_output_and_each_call(tmp_path: Path) -> None:
    a = np.arange(3.0)
    sent = _serve_requests(
        tmp_path,
        [
            (DEFINED, [("double", "scale", "missing")], ["names"], {}, None, True),
            ("double", [a.copy()], ["a"], {"scale": 3.0}, "first", True),
            ("use", [_Ref("first", 0)], ["stored"], {}, None, True),
            ("grow", [a.copy(), a.copy()], ["a", "b"], {}, None, True),
            ("fail", [[1, 2]], ["a"], {}, None, True),
        ],
    )
    assert sent[0] == "started"
    assert sent[1] == _Reply(values=("imported\n", 9))
    assert sent[2].values == (("double",), ("", 0))
    (doubled, opaque), output = sent[3].values
    np.testing.assert_array_equal(doubled, 6 * a)  # the global set before the call
    assert opaque == _Opaque("function")
    assert output == ("doubling\n", 9)
    (used,), _ = sent[4].values
    np.testing.assert_array_equal(used, 6 * a + 1)  # the stored result, not a copy sent back
    assert sent[5].changed == ("a",)
    assert sent[6].problem.startswith("IndexError: list index out of range (")
    assert sent[6].problem.endswith("line 17, in fail: return a[10])")


def test_unwatched_calls_report_no_changes_and_send_values_as_they_are(tmp_path: Path) -> None:
    """Check 4's calls skip the comparison with a copy of the arguments; a value that is not
    data (a function) still arrives as its type, and the others as they were returned."""
    a = np.arange(3.0)
    sent = _serve_requests(
        tmp_path,
        [
            ("grow", [a.copy(), a.copy()], ["a", "b"], {"scale": 2.0}, None, False),
            ("grow", [a.copy(), a.copy()], ["a", "b"], {}, None, True),
            ("double", [a.copy()], ["a"], {}, None, False),
        ],
    )
    assert sent[2].changed == ()
    np.testing.assert_array_equal(sent[2].values[0], a + 1)
    assert sent[3].changed == ("a",)
    (doubled, opaque), output = sent[4].values
    np.testing.assert_array_equal(doubled, 4 * a)
    assert opaque == _Opaque("function")
    assert output == ("doubling\n", 9)


def test_a_result_that_is_not_a_tuple_arrives_whole_or_as_its_type(tmp_path: Path) -> None:
    path = tmp_path / "student.py"
    path.write_text(
        "import threading\ndef lock():\n    return threading.Lock()\n"
        "def listed():\n    return [1.0, 2.0]\n",
        encoding="utf-8",
    )
    pipe = _Pipe([("lock", [], [], {}, None, False), ("listed", [], [], {}, None, True)])
    _serve(pipe, str(path))
    assert pipe.sent[2].values == (_Opaque("lock"), ("", 0))
    assert pipe.sent[3].values == ([1.0, 2.0], ("", 0))


def test_capture_keeps_the_first_characters_and_counts_all() -> None:
    capture = _Capture(5)
    capture.write("abc")
    capture.write("defgh")
    assert capture.take() == ("abcde", 8)
    capture.write("ij")
    assert capture.take() == ("", 2)
    assert capture.writable()


def test_same_compares_nested_arguments() -> None:
    a = np.array([1.0, np.nan])
    assert _same(a, a.copy())
    assert not _same(a, np.array([1.0, 2.0]))
    assert not _same(a, [1.0, np.nan])
    assert _same({"x": (a, [1, 2])}, {"x": (a.copy(), [1, 2])})
    assert not _same({"x": 1}, {"y": 1})
    assert not _same((1, 2), (1, 2, 3))
    assert _same(3, 3)
    assert not _same([1], "1")


def test_a_call_s_writes_to_stderr_are_captured_like_its_prints(tmp_path: Path) -> None:
    sent = _serve_requests(tmp_path, [("warn", [1.0], ["a"], {}, None, True)])
    assert sent[2].problem is None
    assert sent[2].values == ((1.0,), ("careful\n", 8))


def test_describe_gives_the_type_and_the_message_s_first_line(tmp_path: Path) -> None:
    path = str(tmp_path / "student.py")
    assert _describe(ValueError(), path) == "ValueError"
    assert _describe(ValueError("  "), path) == "ValueError"
    assert _describe(ValueError("bad value\nmore detail"), path) == "ValueError: bad value"


def test_describe_cites_the_student_s_innermost_line(tmp_path: Path) -> None:
    path = tmp_path / "student.py"
    path.write_text("def f(a):\n    return g(a)\ndef g(a):\n    return 1 / a\n")
    namespace: dict[str, Any] = {}
    exec(compile(path.read_bytes(), str(path), "exec"), namespace)
    try:
        namespace["f"](0)
    except ZeroDivisionError as err:
        described = _describe(err, str(path))
    assert described == f"ZeroDivisionError: division by zero ({path}, line 4, in g: return 1 / a)"


def test_describe_cites_a_syntax_error_s_line_only_in_the_student_s_file(tmp_path: Path) -> None:
    path = str(tmp_path / "student.py")
    errors = []
    for filename in (path, str(tmp_path / "helper.py")):
        try:
            compile("x = 1\ndef f(:\n", filename, "exec")
        except SyntaxError as err:
            errors.append(err)
    ours, theirs = errors
    assert _describe(ours, path) == f"SyntaxError: invalid syntax ({path}, line 2)"
    assert _describe(theirs, path) == "SyntaxError: invalid syntax"


def test_a_diagnosis_quotes_what_the_broken_equation_says() -> None:
    """An RNN diagnosis quotes the mistake's own words; an LSTM one, the LSTM page's."""
    rnn = Diagnosis(TRUNCATED, "lossFun", ("dWxh", "dWhh"), "(9)")
    assert str(rnn) == (
        f"lossFun: dWxh, dWhh: {TRUNCATED.phrase}; breaks eq. (9) of the derivation page: "
        f"{TRUNCATED.breaks}"
    )
    lstm = Diagnosis(TRUNCATED, "lstm_forward/lstm_backward", ("dWh",), "(L9)", "LSTM", "says")
    assert str(lstm).endswith("breaks eq. (L9) of the LSTM page: says")
    unknown = Diagnosis(None, "lossFun", ("dWxh",))
    assert str(unknown) == "lossFun: dWxh: no known mistake matches"


def _ends_before_it_starts(conn: Any, path: str) -> None:
    """A stand-in for the student's process that ends before its first message."""
    os._exit(5)


def _starts_late(conn: Any, path: str) -> None:
    """A stand-in for the student's process that sends nothing for 30 s."""
    time.sleep(30)


def test_a_process_that_ends_before_it_starts_is_a_grading_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(GRADE, "_child", _ends_before_it_starts)
    monkeypatch.setattr(GRADE, "_script_hint", lambda: "; the hint")  # however pytest was run
    path = tmp_path / "student.py"
    path.write_text("", encoding="utf-8")
    with pytest.raises(GradingError) as info:
        _Student(path, 1.0)
    # only exit status 1, an uncaught exception, adds _script_hint's advice
    assert str(info.value) == (
        "the grader's process did not start: "
        "the process ended while starting Python and numpy (exit status 5)"
    )


def _ends_with_an_exception(conn: Any, path: str) -> None:
    """A stand-in for the student's process that raises before its first message."""
    raise RuntimeError("refused")


def test_a_process_that_raises_as_it_starts_gets_the_script_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(GRADE, "_child", _ends_with_an_exception)
    monkeypatch.setattr(GRADE, "_script_hint", lambda: "; the hint")
    path = tmp_path / "student.py"
    path.write_text("", encoding="utf-8")
    with pytest.raises(GradingError) as info:
        _Student(path, 1.0)
    assert str(info.value) == (
        "the grader's process did not start: "
        "the process ended while starting Python and numpy (exit status 1); the hint"
    )


def test_the_script_hint_names_a_script_run_as_main(monkeypatch: pytest.MonkeyPatch) -> None:
    """A script's __main__ runs again in the student's process; a module's (-m) does not."""
    script = types.ModuleType("__main__")
    script.__file__ = "/course/grade_all.py"
    script.__spec__ = None
    monkeypatch.setitem(sys.modules, "__main__", script)
    assert GRADE._script_hint() == (
        "; /course/grade_all.py runs again in that process, so a script must call grade() "
        'under `if __name__ == "__main__":`'
    )
    module = types.ModuleType("__main__")
    module.__file__ = "/site-packages/rnn/__main__.py"
    module.__spec__ = importlib.machinery.ModuleSpec("rnn.__main__", None)
    monkeypatch.setitem(sys.modules, "__main__", module)
    assert GRADE._script_hint() == ""
    interactive = types.ModuleType("__main__")
    interactive.__spec__ = None
    monkeypatch.setitem(sys.modules, "__main__", interactive)
    assert GRADE._script_hint() == ""


def test_a_process_that_does_not_start_in_time_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wait for the start is bounded too, so that a grade never hangs."""
    monkeypatch.setattr(GRADE, "_child", _starts_late)
    monkeypatch.setattr(GRADE, "STARTUP_TIMEOUT", 0.5)
    monkeypatch.setattr(GRADE, "_script_hint", lambda: "; the hint")  # not for a stopped process
    path = tmp_path / "student.py"
    path.write_text("", encoding="utf-8")
    start = time.perf_counter()
    with pytest.raises(GradingError) as info:
        _Student(path, 1.0)
    assert time.perf_counter() - start < 20  # not the 30 s the process sleeps
    assert str(info.value) == (
        "the grader's process did not start: "
        "no answer after 0.5 s while starting Python and numpy (startup timeout); stopped"
    )


def test_the_student_s_descriptors_1_and_2_lead_nowhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a file writes past sys.stdout and sys.stderr, straight to descriptors 1 and 2,
    reaches neither the grader's terminal nor the report: the student's process points both
    at the null device before it imports the file, and then serves as ``_serve`` does."""
    path = tmp_path / "student.py"
    path.write_text(
        "import os\n"
        "os.write(1, b'import to 1\\n')\n"
        "os.write(2, b'import to 2\\n')\n"
        "print('printed')\n"
        "def f():\n"
        "    os.write(1, b'call to 1\\n')\n"
        "    os.write(2, b'call to 2\\n')\n"
        "    return 1.0,\n",
        encoding="utf-8",
    )
    pipe = _Pipe([("f", [], [], {}, None, True)])
    opened: list[int] = []  # the null device's descriptor, closed here afterwards
    real_open = os.open

    def recording_open(*args: Any, **kwargs: Any) -> int:
        fd = real_open(*args, **kwargs)
        opened.append(fd)
        return fd

    monkeypatch.setattr(os, "open", recording_open)
    outs = [tmp_path / "descriptor-1", tmp_path / "descriptor-2"]
    saved = [os.dup(1), os.dup(2)]  # pytest's own capture, put back whatever happens
    try:
        for fd, out in zip((1, 2), outs, strict=True):
            target = real_open(out, os.O_WRONLY | os.O_CREAT)
            os.dup2(target, fd)
            os.close(target)
        GRADE._child(pipe, str(path))
    finally:
        for fd, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)
        for fd in opened:
            os.close(fd)
    assert [out.read_bytes() for out in outs] == [b"", b""]
    assert pipe.sent == [
        "started",
        _Reply(values=("printed\n", 8)),
        _Reply(values=((1.0,), ("", 0))),
    ]


def test_the_file_is_imported_as_student_from_its_own_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file may import a module beside it, as when it is run from its folder, which comes
    first on sys.path; it is imported under the name ``student``, so that its
    ``if __name__ == "__main__":`` block (a demo, a training run) does not run, and with
    ``__file__`` its path."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "beside_the_student_file.py").write_text("FACTOR = 7\n", encoding="utf-8")
    path = tmp_path / "student.py"
    path.write_text(
        "import sys\n"
        "from beside_the_student_file import FACTOR\n"
        "first = sys.path[0]\n"
        "def where():\n"
        "    return __name__, __file__, first, FACTOR\n"
        'if __name__ == "__main__":\n'
        '    print("the demo ran")\n',
        encoding="utf-8",
    )
    pipe = _Pipe([("where", [], [], {}, None, True)])
    try:
        _serve(pipe, str(path))
    finally:
        sys.modules.pop("beside_the_student_file", None)
    assert pipe.sent == [
        "started",
        _Reply(values=("", 0)),
        _Reply(values=(("student", str(path), str(tmp_path), 7), ("", 0))),
    ]


def test_a_file_that_does_not_import_is_reported_with_what_it_wrote(tmp_path: Path) -> None:
    """The reply names the error at the file's line and carries what the file wrote before
    it, to stdout and to stderr; the process then serves no call."""
    path = tmp_path / "student.py"
    path.write_text(
        'import sys\nprint("loading")\nsys.stderr.write("warning\\n")\nvalue = undefined_name\n',
        encoding="utf-8",
    )
    request = ("value", [], [], {}, None, True)
    pipe = _Pipe([request])
    _serve(pipe, str(path))
    assert pipe.sent == [
        "started",
        _Reply(
            problem=(
                "NameError: name 'undefined_name' is not defined "
                f"({path}, line 4, in <module>: value = undefined_name)"
            ),
            values=("loading\nwarning\n", 16),
        ),
    ]
    assert pipe.requests == [request]


def test_a_call_that_raises_sends_its_output_and_the_next_call_is_served(
    tmp_path: Path,
) -> None:
    """A call's exception is reported with what the call printed before it, and the process
    goes on serving: one failing case does not end the grade's other calls."""
    path = tmp_path / "student.py"
    path.write_text(
        "def fail(a):\n"
        '    print("before the error")\n'
        "    return a[10]\n"
        "def ok(a):\n"
        "    return a,\n",
        encoding="utf-8",
    )
    pipe = _Pipe([("fail", [[1, 2]], ["a"], {}, None, True), ("ok", [1.0], ["a"], {}, None, True)])
    _serve(pipe, str(path))
    assert pipe.sent[2:] == [
        _Reply(
            problem=f"IndexError: list index out of range ({path}, line 3, in fail: return a[10])",
            values=("before the error\n", 17),
        ),
        _Reply(values=((1.0,), ("", 0))),
    ]


def test_globals_a_call_changes_in_place_are_reported_when_watched(tmp_path: Path) -> None:
    """min-char-rnn's lossFun reads its weights from module globals, which the grader sets
    before each call: one that the call changes in place is reported after the changed
    arguments, like them, and one left as it was is not. Check 4's unwatched calls skip the
    comparison and report nothing."""
    path = tmp_path / "student.py"
    path.write_text(
        "def step(a, b):\n    a[0] = 5.0\n    W[0] += 1.0\n    return 0.0,\n",
        encoding="utf-8",
    )

    def request(watch: bool) -> tuple[Any, ...]:
        names = {"W": np.zeros(2), "bias": np.ones(2)}
        return ("step", [np.zeros(2), np.zeros(2)], ["a", "b"], names, None, watch)

    pipe = _Pipe([request(True), request(False)])
    _serve(pipe, str(path))
    assert pipe.sent[2:] == [
        _Reply(values=((0.0,), ("", 0)), changed=("a", "W")),
        _Reply(values=((0.0,), ("", 0)), changed=()),
    ]


def test_a_result_that_cannot_be_sent_still_reports_the_changed_arguments(
    tmp_path: Path,
) -> None:
    """The reply that sends a result that is not data (a function) as its type keeps the
    names of the arguments the call changed, whether the result is a tuple or not."""
    path = tmp_path / "student.py"
    path.write_text(
        "def whole(a):\n"
        "    a[0] = 5.0\n"
        "    return lambda: None\n"
        "def parts(a):\n"
        "    a[0] = 5.0\n"
        "    return 1.0, lambda: None\n",
        encoding="utf-8",
    )
    pipe = _Pipe(
        [
            ("whole", [np.zeros(2)], ["a"], {}, None, True),
            ("parts", [np.zeros(2)], ["a"], {}, None, True),
        ]
    )
    _serve(pipe, str(path))
    assert pipe.sent[2:] == [
        _Reply(values=(_Opaque("function"), ("", 0)), changed=("a",)),
        _Reply(values=((1.0, _Opaque("function")), ("", 0)), changed=("a",)),
    ]


def test_a_request_whose_names_do_not_match_its_arguments_stops_the_process(
    tmp_path: Path,
) -> None:
    """The names of the changed arguments are paired with the arguments one by one; a request
    with one name too few is the grader's own error, and ends the student's process (which
    the grader reports as ended) rather than leaving an argument unnamed."""
    path = tmp_path / "student.py"
    path.write_text("def f(a, b):\n    return a,\n", encoding="utf-8")
    pipe = _Pipe([("f", [1.0, 2.0], ["a"], {}, None, True)])
    with pytest.raises(ValueError, match=r"^zip\(\) argument 2 is longer than argument 1$"):
        _serve(pipe, str(path))
    assert pipe.sent == ["started", _Reply(values=("", 0))]  # and no reply to the call


def test_capture_keeps_a_write_s_first_character_when_one_is_left() -> None:
    capture = _Capture(4)
    capture.write("abc")
    capture.write("de")
    assert capture.take() == ("abcd", 5)


def test_describe_cites_a_line_whose_source_cannot_be_read(tmp_path: Path) -> None:
    """A file changed or removed during the grade still gets its file, line and function;
    the source after the colon is then empty."""
    path = tmp_path / "student.py"  # never written: its lines cannot be read back
    namespace: dict[str, Any] = {}
    exec(compile("def f(a):\n    return 1 / a\n", str(path), "exec"), namespace)
    try:
        namespace["f"](0)
    except ZeroDivisionError as err:
        described = _describe(err, str(path))
    assert described == f"ZeroDivisionError: division by zero ({path}, line 2, in f: )"


def test_the_script_hint_reads_a_main_that_is_not_a_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``sys.modules["__main__"]`` may hold an object other than a module, with no
    ``__spec__`` at all: nothing says it was run with -m, so the file it names gets the
    hint, and the hint itself raises nothing."""
    monkeypatch.setitem(sys.modules, "__main__", types.SimpleNamespace(__file__="/course/run.py"))
    assert GRADE._script_hint() == (
        "; /course/run.py runs again in that process, so a script must call grade() "
        'under `if __name__ == "__main__":`'
    )


def test_the_student_s_process_starts_no_process_of_its_own(tmp_path: Path) -> None:
    """The student's process is a daemon, so that it never outlives the grader; a file that
    starts a process of its own (a pool to train in parallel) is told so at its line."""
    path = tmp_path / "student.py"
    path.write_text(
        "import multiprocessing\nmultiprocessing.Process(target=print).start()\n",
        encoding="utf-8",
    )
    with pytest.raises(GradingError) as info:
        _Student(path, 10.0)
    assert str(info.value) == (
        f"{path} does not import: AssertionError: daemonic processes are not allowed to have "
        f"children ({path}, line 2, in <module>: multiprocessing.Process(target=print).start())"
    )


def test_a_named_tuple_of_the_student_s_module_arrives_as_a_plain_tuple(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replies carry data only: a named tuple from a module beside the student's file
    arrives as the tuple of its values, so the grader's process never imports that module
    (which it could not find, or would run) to read the reply."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "named_results_beside.py").write_text(
        "import collections\nResult = collections.namedtuple('Result', 'loss h')\n",
        encoding="utf-8",
    )
    path = tmp_path / "student.py"
    path.write_text(
        "from named_results_beside import Result\ndef f():\n    return Result(1.0, 2.0)\n",
        encoding="utf-8",
    )
    pipe = _Pipe([("f", [], [], {}, None, True)])
    try:
        _serve(pipe, str(path))
    finally:
        sys.modules.pop("named_results_beside", None)
    result, output = pipe.sent[2].values
    assert (type(result), result, output) == (tuple, (1.0, 2.0), ("", 0))


class _Loud(float):
    """A float subclass, as a student's code might define one."""


def test_data_keeps_numbers_text_arrays_and_containers_and_names_the_rest() -> None:
    subclass = np.eye(2).view(type("Sub", (np.ndarray,), {}))
    masked = np.ma.masked_array([1.0, 2.0], mask=[False, True])
    kept = _data((1, 2.5, 1j, "s", b"b", None, True, [np.float32(1)], {"k": np.arange(3)}))
    assert kept == (1, 2.5, 1j, "s", b"b", None, True, [np.float32(1)], {"k": kept[-1]["k"]})
    assert type(kept[7][0]) is np.float32
    np.testing.assert_array_equal(kept[-1]["k"], np.arange(3))
    sent_subclass, sent_masked = _data((subclass, masked))
    assert type(sent_subclass) is np.ndarray
    assert type(sent_masked) is np.ndarray
    np.testing.assert_array_equal(sent_subclass, np.eye(2))
    np.testing.assert_array_equal(sent_masked, [1.0, 2.0])
    assert type(_data(np.array(2.0))) is np.ndarray  # a 0-d array stays one, not a scalar
    nested = {(1, 2): [1.0], "k": {"j": (2.0,)}}
    assert _data(nested) == nested
    assert _data(_Loud(1.0)) == _Opaque("_Loud")
    assert _data(np.array([None, 1.0])) == _Opaque("ndarray")
    assert _data(np.zeros(1, dtype=[("a", "f8"), ("b", object)])) == _Opaque("ndarray")
    assert _data((1.0, {1, 2})) == (1.0, _Opaque("set"))
    assert _data(np.zeros(SENT_LIMIT + 1)) == _Opaque(f"ndarray of shape ({SENT_LIMIT + 1},)")
    assert _data(np.zeros(SENT_LIMIT)).shape == (SENT_LIMIT,)
    looped: list[Any] = [1.0]
    looped.append(looped)
    assert _data(looped) == [1.0, _Opaque("list that holds itself")]


def test_data_names_a_container_it_cannot_take_apart() -> None:
    class Broken(tuple):  # type: ignore[type-arg]
        def __iter__(self) -> Any:
            raise RuntimeError("no")

    assert _data(Broken((1, 2))) == _Opaque("Broken")


def test_the_grader_unpickles_what_data_sends_and_refuses_any_other_global() -> None:
    """A reply forged by the student's code cannot run code in the grader's process."""
    reply = _Reply(values=(_data((np.arange(3.0), np.float64(2), 1j, b"x")), ("", 0)))
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        back = _DataUnpickler(io.BytesIO(pickle.dumps(reply, protocol=protocol))).load()
        (array, *rest), _ = back.values
        np.testing.assert_array_equal(array, np.arange(3.0))
        assert rest == [np.float64(2), 1j, b"x"]
        assert type(rest[0]) is np.float64
    forged = pickle.dumps(_Reply(values=(collections.OrderedDict(), ("", 0))))
    with pytest.raises(pickle.UnpicklingError, match=r"collections\.OrderedDict is not one"):
        _DataUnpickler(io.BytesIO(forged)).load()


def test_a_number_the_student_replaces_by_an_array_is_a_change() -> None:
    assert not _same(3, np.zeros(3))
    assert not _same(3.0, np.zeros((2, 2)))
    assert _same(3, 3.0)


def test_a_global_replaced_by_an_array_is_reported_and_the_process_goes_on(
    tmp_path: Path,
) -> None:
    """Comparing the number the grader set with the array the call left raises in numpy;
    the reply names the global instead, and the next call is served."""
    path = tmp_path / "student.py"
    path.write_text(
        "import numpy as np\nvocab_size = 0\n"
        "def resize():\n    global vocab_size\n    vocab_size = np.zeros(3)\n    return 1.0,\n",
        encoding="utf-8",
    )
    pipe = _Pipe(
        [
            ("resize", [], [], {"vocab_size": 5}, None, True),
            ("resize", [], [], {"vocab_size": 5}, None, True),
        ]
    )
    _serve(pipe, str(path))
    assert [reply.changed for reply in pipe.sent[2:]] == [("vocab_size",), ("vocab_size",)]
