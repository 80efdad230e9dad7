"""Hypothesis profiles: ``ci`` (selected by CI=true), ``dev`` (default) and ``thorough``."""

from __future__ import annotations

import importlib.util
import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=50,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.register_profile(
    "thorough",
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

_default = "ci" if os.environ.get("CI", "").lower() == "true" else "dev"
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", _default))


def pytest_report_header() -> str:
    """Say whether the PyTorch cross-checks in tests/crosscheck can be collected."""
    if importlib.util.find_spec("torch") is None:
        return "crosscheck: PyTorch not installed, tests/crosscheck not collected"
    return "crosscheck: PyTorch installed"
