"""The student's side of the grader, run in this process with a stand-in for the pipe:
replies, captured output, changed arguments, stored results and opaque values."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from verification.grade import DEFINED, _Capture, _Opaque, _Ref, _Reply, _same, _serve


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
            (DEFINED, [("double", "scale", "missing")], ["names"], {}, None),
            ("double", [a.copy()], ["a"], {"scale": 3.0}, "first"),
            ("use", [_Ref("first", 0)], ["stored"], {}, None),
            ("grow", [a.copy(), a.copy()], ["a", "b"], {}, None),
            ("fail", [[1, 2]], ["a"], {}, None),
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
