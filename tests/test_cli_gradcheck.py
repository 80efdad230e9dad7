"""``python -m rnn gradcheck``: the report, the exit status, and refused arguments."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from rnn.__main__ import main
from rnn.training import CELLS
from verification import METHODS

SMALL = ["--hidden-size", "4", "--seq-length", "5"]


def _rows(output: str) -> dict[str, str]:
    """The table's rows by parameter name."""
    table = output.split("\n\n", 1)[1].splitlines()[2:]
    return {line.split()[0]: line for line in table}


def test_the_exact_gradient_passes_with_exit_status_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gradcheck"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("RNN with V=44, H=16, T=10; gradient by exact BPTT\n")
    assert "gradient check: central differences: passed" in out
    rows = _rows(out)
    assert list(rows) == ["U", "W", "V", "b", "c"]
    assert all(line.endswith("ok") for line in rows.values())


@pytest.mark.parametrize("method", METHODS)
def test_the_seeds_formulas_fail_w_u_and_b_and_pass_v_and_c(
    method: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The classroom demonstration: eq. (15) with k = 1 is not the gradient of L."""
    assert main(["gradcheck", "--truncation", "1", "--method", method, *SMALL]) == 1
    out = capsys.readouterr().out
    assert "gradient by BPTT truncated to 1 step\n" in out
    assert "FAILED (3 of 5 parameters fail)" in out
    rows = _rows(out)
    for name in ("W", "U", "b"):
        assert "FAIL (" in rows[name]
    for name in ("V", "c"):
        assert rows[name].endswith("ok")


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_every_cell_passes_the_complex_step_check(
    cell: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gradcheck", "--cell", cell, "--method", "complex", *SMALL]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{CELLS[cell].__name__} with V=44, H=4, T=5")
    assert list(_rows(out)) == list(CELLS[cell].param_names)


def test_a_vocabulary_of_random_symbols(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gradcheck", "--vocab-size", "3", *SMALL]) == 0
    assert "V=3, H=4, T=5" in capsys.readouterr().out


def test_a_corpus_gives_the_vocabulary_and_the_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "text.txt"
    text = "árvíztűrő tükörfúrógép"
    corpus.write_text(text, encoding="utf-8")
    assert main(["gradcheck", "--corpus", str(corpus), *SMALL]) == 0
    assert f"V={len(set(text))}, H=4, T=5" in capsys.readouterr().out


def test_entries_limits_the_check_to_a_random_subset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gradcheck", "--entries", "2", "--seed", "3", *SMALL]) == 0
    for line in _rows(capsys.readouterr().out).values():
        assert re.search(r"\)\s+2\s+\(", line), line  # shape, then 2 checked, then an index


def test_directions_sets_the_directions_of_each_parameter(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["gradcheck", "--method", "directional", "--directions", "3", *SMALL]) == 0
    out = capsys.readouterr().out
    assert "random directions: passed" in out
    assert all(" 3  dir " in line for line in _rows(out).values())


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--hidden-size", "0"], "hidden_size must be ≥ 1, got 0"),
        (["--seq-length", "0"], "seq_length must be ≥ 1, got 0"),
        (["--truncation", "0"], "truncation must be ≥ 1, got 0"),
        (["--vocab-size", "0"], "vocab_size must be ≥ 1, got 0"),
        (["--entries", "0"], "entries must be ≥ 1, got 0"),
        (["--seed", "-1"], "seed must be ≥ 0, got -1"),
        (["--scale", "nan"], "scale must be a finite number ≥ 0, got nan"),
        (["--method", "forward"], "argument --method: invalid choice: 'forward'"),
        (["--cell", "transformer"], "argument --cell: invalid choice: 'transformer'"),
        (["--vocab-size", "3", "--corpus", "x.txt"], "not allowed with argument"),
        (["--method", "taylor", "--entries", "3"], "--entries applies to the entrywise"),
        (["--directions", "3"], "--directions applies to directional and taylor"),
        (["--corpus", "/nonexistent/corpus.txt"], "does not exist"),
        (["--seq-length", "600"], "the corpus has 559 characters, fewer than"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gradcheck", *arguments]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("python -m rnn: error: ")
    assert message in captured.err
    assert captured.err.count("\n") == 1


def test_the_module_exits_1_when_the_check_fails() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rnn", "gradcheck", "--truncation", "1", *SMALL],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "W          (4, 4)" in result.stdout
