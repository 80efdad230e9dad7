"""Hypothesis profiles: ``ci`` (selected by CI=true), ``dev`` (default) and ``thorough``; the
number of entries check 4 of the grader compares in the grading tests."""

from __future__ import annotations

import importlib
import importlib.util
import os

import pytest
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


CHECK_4_ENTRIES = 3
"""Entries of each gradient that check 4 of :func:`verification.grade.grade` compares in the
grading tests (tests/test_grade*.py), instead of ``CENTRAL_ENTRIES``."""


@pytest.fixture(autouse=True)
def _check_4_compares_few_entries(request: pytest.FixtureRequest) -> object:
    """Grade with :data:`CHECK_4_ENTRIES` entries per gradient in check 4, except in tests
    marked ``check_4_in_full``.

    Check 4 takes central differences of the student's own loss, two calls of the student's
    code per entry: nearly all of a grade's time. The grading tests look at the other checks,
    the diagnosis and the report, for which a few entries run the same code; the tests of
    check 4's own verdicts and counts are marked and compare ``CENTRAL_ENTRIES``.
    """
    if not request.path.name.startswith("test_grade") or request.node.get_closest_marker(
        "check_4_in_full"
    ):
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        grade_module = importlib.import_module("verification.grade")  # the package exports grade()
        patch.setattr(grade_module, "CENTRAL_ENTRIES", CHECK_4_ENTRIES)
        yield
