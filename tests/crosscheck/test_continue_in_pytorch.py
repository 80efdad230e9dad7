"""The recipe of docs/continue-in-pytorch.md runs as written, with shorter durations.

Its shell commands run through ``python -m rnn`` in a fresh process and its Python block is
executed, in that order, in a temporary folder; only the time limit and the number of
PyTorch steps are made smaller.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnn.training import Trainer

pytestmark = pytest.mark.torch

PAGE = Path(__file__).resolve().parents[2] / "docs" / "continue-in-pytorch.md"
BLOCK = re.compile(r"^```(bash|python)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _run(command: str, cwd: Path) -> str:
    argv = shlex.split(command.replace("\\\n", " "))
    assert argv[:3] == ["python", "-m", "rnn"], argv
    done = subprocess.run(
        [sys.executable, *argv[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_continue_in_pytorch_recipe_runs_and_its_model_samples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = BLOCK.findall(PAGE.read_text(encoding="utf-8"))
    assert [kind for kind, _ in blocks] == ["bash", "python", "bash"]
    (_, train), (_, recipe), (_, sample) = blocks
    assert "--time-limit 60" in train
    assert "STEPS = 300" in recipe
    _run(train.replace("--time-limit 60", "--time-limit 2"), tmp_path)
    before = Trainer.load(tmp_path / "run.npz")

    monkeypatch.chdir(tmp_path)
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(recipe.replace("STEPS = 300", "STEPS = 20"), str(PAGE), "exec"), {})
    assert re.fullmatch(r"validation loss \d\.\d{3} nats per character\n", output.getvalue())

    after = Trainer.load(tmp_path / "continued.npz")
    assert after.config == before.config
    assert after.model.dtype == np.float32
    moved = [
        k for k, p in after.model.params.items() if not np.array_equal(p, before.model.params[k])
    ]
    assert sorted(moved) == sorted(before.model.params), "PyTorch trained every parameter"
    text = _run(sample, tmp_path)
    assert text.startswith("ROMEO:")
    assert len(text) == len("ROMEO:") + 300 + 1
