"""What an installed copy promises: its version, its extras, and a message when one is missing."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import rnn


def test_the_installed_distribution_has_the_package_version() -> None:
    assert metadata.version("rnn-reference") == rnn.__version__


def test_the_strategies_extra_brings_hypothesis() -> None:
    requirements = metadata.requires("rnn-reference") or []
    extra = [r for r in requirements if 'extra == "strategies"' in r]
    assert any(r.startswith("hypothesis") for r in extra), requirements


def test_strategies_without_hypothesis_name_the_extra_to_install() -> None:
    code = (
        "import sys; sys.modules['hypothesis'] = None\n"  # as if Hypothesis were not installed
        "import verification.strategies"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        "ModuleNotFoundError: verification.strategies needs Hypothesis: "
        'pip install "rnn-reference[strategies]"'
    )
