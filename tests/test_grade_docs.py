"""The page "Check your own BPTT": its worked example gets the diagnosis the page shows,
and its teacher's recipe passes a right file and fails a wrong one with the report."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "check-your-bptt.md"
EXAMPLE = ROOT / "docs" / "examples" / "my_lossfun.py"
RECIPE = ROOT / "docs" / "examples" / "test_bptt_assignment.py"
STUDENTS = Path(__file__).resolve().parent / "students"


def test_the_page_shows_the_example_and_the_recipe_it_tests() -> None:
    page = PAGE.read_text(encoding="utf-8")
    assert "```{literalinclude} examples/my_lossfun.py" in page
    assert "```{literalinclude} examples/test_bptt_assignment.py" in page
    assert "check-your-bptt" in (ROOT / "docs" / "index.md").read_text(encoding="utf-8")


def test_python_m_rnn_grade_on_the_page_s_example_prints_the_diagnosis() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "rnn", "grade", str(EXAMPLE), "--layout", "min-char-rnn"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 1
    assert run.stderr == ""
    assert (
        "diagnosis:\n  lossFun: dWxh, dWhh, dbh: truncated BPTT (k=1); breaks eq. (9)"
        in run.stdout
    )


@pytest.mark.parametrize(
    ("student", "passes"), [(STUDENTS / "min_char_rnn.py", True), (EXAMPLE, False)]
)
def test_the_teacher_s_recipe_grades_the_file_named_by_student(
    student: Path, passes: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STUDENT", os.fspath(student))
    test = runpy.run_path(os.fspath(RECIPE))["test_the_backward_pass_is_the_exact_gradient"]
    if passes:
        test()
    else:
        with pytest.raises(AssertionError, match=r"truncated BPTT \(k=1\)"):
            test()
