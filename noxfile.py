"""Sessions of the project: ``nox`` runs tests, lint and typecheck; the rest on request."""

from __future__ import annotations

import glob
import json
import os
import shutil

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.error_on_external_run = True
nox.options.reuse_existing_virtualenvs = True

PYPROJECT = nox.project.load_toml("pyproject.toml")
TORCH = "torch==2.13.0"  # the CPU build on disk; an open range would pull a CUDA build
IGNORED = ["--ignore=tests/crosscheck", "--ignore=tests/notebooks"]
"""Tests that need more than the test group: PyTorch (``crosscheck``), Jupyter (``notebooks``)."""


def _group(name: str) -> list[str]:
    return list(nox.project.dependency_groups(PYPROJECT, name))


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite and the doctests against the installed package; coverage ≥ 95%.

    The package is installed with its ``plot`` and ``progress`` extras, which the tests of
    ``python -m rnn plot``, of ``GradientReport.plot`` (matplotlib's Agg backend) and of the
    progress bar use (and replace, to test without them).
    """
    session.install(".[plot,progress]", *_group("test"))
    session.run(
        "pytest",
        "--doctest-modules",
        "--pyargs",
        "rnn",
        "verification",
        "tests",
        *IGNORED,
        "--cov",  # of the installed packages named by source_pkgs in pyproject.toml
        "--cov-branch",
        "--cov-report=term-missing:skip-covered",
        "--cov-fail-under=95",  # line and branch coverage; rnn/interop.py is omitted in pyproject
        *session.posargs,
    )


PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
"""The interpreters ``requires-python`` and the classifiers in pyproject.toml promise.

``tests`` runs on the interpreter that runs nox (3.11 on the project's machines),
``interpreters`` on the others, ``lowest`` on the oldest.
"""


def _lowest(requirements: list[str]) -> list[str]:
    """Pin each ``name>=version`` requirement to exactly its declared minimum.

    >>> _lowest(["numpy>=1.25", "pytest-cov>=5"])
    ['numpy==1.25', 'pytest-cov==5']
    """
    pins = []
    for requirement in requirements:
        name, sep, version = requirement.partition(">=")
        if not sep or "," in version:
            raise ValueError(f"cannot pin {requirement!r}: expected the form name>=version")
        pins.append(f"{name}=={version}")
    return pins


@nox.session(python=PYTHONS[0])
def lowest(session: nox.Session) -> None:
    """Run the test suite on the oldest supported stack: every lower bound, exactly.

    The runtime dependencies (numpy, scipy), the plot and progress extras that the tests
    use, and the test tools are installed at exactly the minimums that pyproject.toml
    declares, on the oldest supported Python, so a lower bound there is a tested promise
    rather than a guess.
    """
    extras = PYPROJECT["project"]["optional-dependencies"]  # the tests use plot and progress
    runtime = [*PYPROJECT["project"]["dependencies"], *extras["plot"], *extras["progress"]]
    pins = _lowest([*runtime, *_group("test")])
    session.install(*pins)
    session.install("--no-deps", ".")
    session.run("python", "-m", "pip", "list", "--format=freeze")
    session.run("pytest", "tests", *IGNORED, "-p", "no:cacheprovider")


@nox.session(python=[version for version in PYTHONS if version != "3.11"])
def interpreters(session: nox.Session) -> None:
    """Run the test suite on the other supported Pythons, with the newest dependencies."""
    session.install(".[plot,progress]", *_group("test"))
    session.run("pytest", "tests", *IGNORED, *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff, and CITATION.cff against its schema."""
    session.install(*_group("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("cffconvert", "--validate", "--infile", "CITATION.cff")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check both packages with mypy --strict."""
    session.install(".", *_group("typecheck"))
    session.run("mypy", "--strict", "rnn", "verification")


@nox.session
def crosscheck(session: nox.Session) -> None:
    """Check the model against PyTorch autograd in float64: the tests marked ``torch``.

    Installs the pinned CPU build of PyTorch (a file on disk on these machines).
    """
    session.install(".", TORCH, *_group("test"))
    session.run("pytest", "tests/crosscheck", "-m", "torch", *session.posargs)


ONE_BLAS_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""The environment of the notebook kernels. Their products are small, where a second BLAS
thread gains little, and on a machine busy with other work OpenBLAS's threads wait for
each other at every product: the Shakespeare tutorial took 209 s with two threads and
24 s with one, measured side by side on a loaded 2-core machine."""


@nox.session
def notebooks(session: nox.Session) -> None:
    """Run every tutorial notebook of docs/tutorials from top to bottom, as pytest tests.

    The notebooks run in a Jupyter kernel of this session's environment, with one BLAS
    thread (``ONE_BLAS_THREAD``), each in a temporary folder; the docs build runs the same
    notebooks again.
    """
    session.install(".[plot]", *_group("test"), *_group("notebooks"))
    session.run("pytest", "tests/notebooks", *session.posargs, env=ONE_BLAS_THREAD)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation offline, warnings as errors, into docs/_build/html; then
    check the built pages for rendering defects (docs/check_rendering.py)."""
    session.install(".[docs]")
    session.run(
        "sphinx-build",
        "-W",
        "--keep-going",
        "-n",
        "-b",
        "html",
        "docs",
        "docs/_build/html",
        *session.posargs,
        env=ONE_BLAS_THREAD,  # the tutorials run in the build
    )
    session.run("python", "docs/check_rendering.py", "docs/_build/html")


@nox.session
def demo(session: nox.Session) -> None:
    """Train on the embedded corpus with the default settings (`python -m rnn train`)."""
    session.install(".")
    session.run("python", "-m", "rnn", "train", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Run every ``benchmarks/bench_*.py`` in turn (or the scripts named after ``--``).

    Arguments after ``--`` that are not ``.py`` files go to every script run, e.g.
    ``nox -s bench -- benchmarks/bench_shakespeare.py --rounds=3``. The benchmarks set
    their BLAS threads themselves (one, except bench_shakespeare.py, which gives both
    sides the machine's cores); PyTorch is the pinned CPU build.
    """
    session.install(".", "threadpoolctl", TORCH)
    named = [arg for arg in session.posargs if arg.endswith(".py")]
    options = [arg for arg in session.posargs if not arg.endswith(".py")]
    scripts = named or sorted(
        os.path.join("benchmarks", name)
        for name in os.listdir("benchmarks")
        if name.startswith("bench_") and name.endswith(".py")
    )
    for script in scripts:
        session.run("python", script, *options)


@nox.session
def thorough(session: nox.Session) -> None:
    """Run the Hypothesis property tests with the ``thorough`` profile (many examples)."""
    session.install(".", *_group("test"))
    session.run(
        "pytest",
        "tests/test_properties.py",
        *session.posargs,
        env={"HYPOTHESIS_PROFILE": "thorough"},
    )


MUTMUT = "mutmut==3.8.1"
CHECKER_MUTATION = {
    "only_mutate": ["verification/gradcheck.py"],
    "pytest_add_cli_args_test_selection": [
        "tests/test_gradcheck.py",
        "tests/test_gradcheck_hardening.py",
        "tests/test_gradcheck_properties.py",
        "tests/test_gradcheck_details.py",
        "tests/test_check_vjp.py",
        "tests/test_gradcheck_plot.py",
    ],
}
"""``nox -s mutation -- checker``: the checker's mutants against the checker's own tests.

The checker must be pinned by its own tests; the rest of the suite calls it too (the
property tests of every cell), which makes each surviving mutant cost minutes there."""

GRADER_MUTATION = {
    "only_mutate": ["verification/grade.py", "verification/mistakes.py"],
    "pytest_add_cli_args_test_selection": [
        *sorted(glob.glob("tests/test_grade*.py")),
        # runs python -m rnn in another directory, where mutmut's trampolines cannot find
        # their configuration; the command line's checks are not among the mutated files
        "--deselect=tests/test_grade_bad_input.py::test_cli_exit_status_2_in_one_line",
    ],
}
"""``nox -s mutation -- grader``: the grader's and the catalogue's mutants against their tests.

A surviving mutant of a function every grade calls runs every grading test (a few minutes
on two cores), so a full run takes hours: to estimate the kill rate in less time, run a
random sample of the mutants by name (``-- grader run NAME ...``)."""

MUTATION_MODES = {"checker": CHECKER_MUTATION, "grader": GRADER_MUTATION}


@nox.session
def mutation(session: nox.Session) -> None:
    """Mutation-test the cells, the gradient checker and the grader with mutmut (not in CI).

    mutmut is configured in pyproject.toml. ``nox -s mutation -- checker`` mutates only
    verification/gradcheck.py and runs only the checker's test files on each mutant;
    ``-- grader`` mutates verification/grade.py and verification/mistakes.py against the
    grading tests (``MUTATION_MODES``).

    Runs in a copy of the project under the session's tmp directory, so the mutants never
    touch the work tree, and resumes where an interrupted run stopped. Prints every
    mutant's status; ``nox -s mutation -- show NAME`` (or ``-- checker show NAME``) shows
    one mutant's diff, and ``-- checker run NAME ...`` runs only the mutants named.

    A run's verdicts outlive the copy: when the session ends, however it ends, mutmut's
    ``.meta`` files (each mutant's verdict, and a hash of each function) are saved to
    tests/mutation/MODE/, and a later session on a fresh checkout starts from them. mutmut
    tests again the mutants of every function whose code changed since. A run too long for
    one sitting (the grader's takes hours) can so be finished over several, with the
    verdicts so far committed.
    """
    session.install(*PYPROJECT["project"]["dependencies"], *_group("test"), MUTMUT)
    session.install(*PYPROJECT["project"]["optional-dependencies"]["plot"])
    args = list(session.posargs)
    mode = args.pop(0) if args and args[0] in MUTATION_MODES else "project"
    # a copy per configuration, so their mutants and results never mix; each keeps mutants/
    work = os.path.abspath(os.path.join(session.create_tmp(), mode))
    # mutmut puts mutants/ on sys.path only if it exists when it starts: without this, the
    # first run in a fresh copy cannot import the package.
    os.makedirs(os.path.join(work, "mutants"), exist_ok=True)
    skip = shutil.ignore_patterns(".*", "__pycache__", "*.egg-info", "build", "mutants")
    for name in sorted(set(os.listdir(".")) - set(skip(".", os.listdir(".")))):
        target = os.path.join(work, name)
        if os.path.isdir(name):
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(name, target, ignore=skip)
        else:
            shutil.copy2(name, target)
    if mode in MUTATION_MODES:
        _configure_mutmut(os.path.join(work, "pyproject.toml"), MUTATION_MODES[mode])
    session.chdir(work)
    env = {
        "HYPOTHESIS_PROFILE": "ci",  # derandomised, so a mutant's verdict is repeatable
        "PYTHONPATH": os.path.join(work, "mutants"),  # for tests that run python -m rnn
        "MPLBACKEND": "Agg",
        # Each mutant's grading tests start a fork server, a new Python that imports the
        # mutated grade.py (about 100,000 lines with its mutants): with bytecode written the
        # first time, each later start reads it (0.3 s) instead of compiling again (2 s).
        "PYTHONDONTWRITEBYTECODE": "",
    }
    saved = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tests", "mutation", mode)
    _copy_verdicts(saved, os.path.join(work, "mutants"), replace=False)
    try:
        if args:
            session.run("mutmut", *args, env=env)
            return
        session.run("mutmut", "run", env=env)
        session.run("mutmut", "results", "--all", "true", env=env)
    finally:
        _copy_verdicts(os.path.join(work, "mutants"), saved, replace=True)


def _copy_verdicts(source: str, target: str, *, replace: bool) -> None:
    """Copy mutmut's ``.meta`` files (a verdict per mutant) from one folder tree to another;
    with ``replace`` False, a file the target already has is kept."""
    for folder, _, files in os.walk(source):
        for name in files:
            if not name.endswith(".meta"):
                continue
            relative = os.path.relpath(os.path.join(folder, name), source)
            destination = os.path.join(target, relative)
            if replace or not os.path.exists(destination):
                os.makedirs(os.path.dirname(destination), exist_ok=True)
                shutil.copy2(os.path.join(folder, name), destination)


def _configure_mutmut(path: str, overrides: dict[str, list[str]]) -> None:
    """Rewrite the [tool.mutmut] table, the last of ``path``, with ``overrides`` applied."""
    with open(path, encoding="utf-8") as file:
        text = file.read()
    head, found, rest = text.partition("[tool.mutmut]\n")
    if not found or "\n[" in rest:
        raise RuntimeError(f"{path}: [tool.mutmut] must be its last table")
    table = {**nox.project.load_toml(path)["tool"]["mutmut"], **overrides}
    lines = [f"{key} = {json.dumps(value)}" for key, value in table.items()]  # TOML arrays
    with open(path, "w", encoding="utf-8") as file:
        file.write(head + found + "\n".join(lines) + "\n")
