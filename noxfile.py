"""Sessions of the project: ``nox`` runs tests, lint and typecheck; the rest on request."""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.error_on_external_run = True
nox.options.reuse_existing_virtualenvs = True

PYPROJECT = nox.project.load_toml("pyproject.toml")
TORCH = "torch==2.13.0"  # the CPU build on disk; an open range would pull a CUDA build


def _group(name: str) -> list[str]:
    return list(nox.project.dependency_groups(PYPROJECT, name))


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite and the doctests against the installed package, with coverage."""
    session.install(".", *_group("test"))
    session.run(
        "pytest",
        "--doctest-modules",
        "--pyargs",
        "rnn",
        "verification",
        "tests",
        "--ignore=tests/torch",
        "--cov=rnn",
        "--cov=verification",
        "--cov-report=term-missing:skip-covered",
        *session.posargs,
    )


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff."""
    session.install(*_group("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check both packages with mypy --strict."""
    session.install(".", *_group("typecheck"))
    session.run("mypy", "--strict", "rnn", "verification")


@nox.session
def demo(session: nox.Session) -> None:
    """Run the main job: train on the embedded corpus with the default settings."""
    session.install(".")
    session.run("python", "-m", "rnn", "train", *session.posargs)
