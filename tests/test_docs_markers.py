"""The documentation cannot drift from the code: markers, named tests, examples, citation.

The derivation page shows each equation's code with ``literalinclude`` blocks that select
lines by their ``# eq. (n)`` marker, and names the tests that verify each equation. These
tests fail when a marker, an included function or a named test disappears, when a page's
examples stop running, or when CITATION.cff and the package disagree on the version.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import re
from pathlib import Path

import pytest

import rnn

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EQUATIONS = set(range(1, 16))
CODE = (
    ROOT / "rnn" / "model.py",
    ROOT / "rnn" / "loss.py",
    *sorted((ROOT / "rnn" / "layers").glob("*.py")),
)
"""The modules whose lines the derivation page shows: model, loss and layers."""

INCLUDE = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{literalinclude\}\s+(?P<path>\S+)[ \t]*\n"
    r"(?P<options>(?:[ \t]*:[\w-]+:.*\n)*)",
    re.MULTILINE,
)
OPTION = re.compile(r"^[ \t]*:(?P<key>[\w-]+):[ \t]*(?P<value>.*?)[ \t]*$", re.MULTILINE)
TEST_ID = re.compile(r"(tests/[\w/]+\.py)::(\w+)")
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
MARKER_KEYS = ("start-at", "end-at", "start-after", "end-before")


def _pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def _includes(page: Path) -> list[tuple[Path, dict[str, str]]]:
    """The (included file, options) of every literalinclude of a page, generated ones left out.

    Files under ``_generated/`` are written by the build and checked there.
    """
    found = []
    for match in INCLUDE.finditer(page.read_text(encoding="utf-8")):
        if match["path"].startswith("_generated/"):
            continue
        options = {m["key"]: _unquote(m["value"]) for m in OPTION.finditer(match["options"])}
        found.append(((page.parent / match["path"]).resolve(), options))
    return found


def _unquote(value: str) -> str:
    """An option value as MyST reads it: YAML quoting removed, with its escapes."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return str(json.loads(value))
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")
    return value


def _functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }


def test_the_derivation_shows_every_equation_from_its_marked_line() -> None:
    """Equations (1) to (15) each have a literalinclude that selects their `# eq. (n)` line."""
    shown = set()
    for path, options in _includes(DOCS / "derivation.md"):
        marker = re.fullmatch(r"# eq\. \((\d+)\)", options.get("start-at", ""))
        if marker and path in CODE:
            assert options.get("end-at") == options["start-at"], options
            shown.add(int(marker[1]))
    assert shown == EQUATIONS, f"equations without code on the page: {EQUATIONS - shown}"


def _qualnames(path: Path) -> dict[str, tuple[int, int]]:
    """The first and last line of every function and class of a module, by qualified name."""
    spans: dict[str, tuple[int, int]] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                spans[name] = (child.lineno, child.end_lineno or child.lineno)
                visit(child, name + ".")

    visit(ast.parse(path.read_text(encoding="utf-8")), "")
    return spans


def test_each_derivation_caption_names_the_function_around_its_line() -> None:
    """A caption ``rnn/layers/rnn.py: RNNLayer.step_backward`` must name where the line is."""
    for path, options in _includes(DOCS / "derivation.md"):
        if path not in CODE or "caption" not in options:
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        spans = _qualnames(path)
        file, _, qualname = options["caption"].partition(": ")
        assert file == path.relative_to(ROOT).as_posix(), options["caption"]
        assert qualname in spans, f"caption names {qualname}, which {file} lacks"
        first, last = spans[qualname]
        line = 1 + next(i for i, text in enumerate(lines) if options["start-at"] in text)
        assert first <= line <= last, (
            f"{options['start-at']!r} is on line {line}, outside {qualname} (lines {first}-{last})"
        )


def test_the_derivation_map_names_functions_that_exist() -> None:
    derivation = (DOCS / "derivation.md").read_text(encoding="utf-8")
    table = derivation[derivation.index("## The map at a glance") :]
    names = set(
        re.findall(
            r"`([\w.]+)`",
            "\n".join(row.split("|")[3] for row in table.splitlines() if row.startswith("| [")),
        )
    )
    assert names, "the map names no function"
    defined = set().union(*(_qualnames(path) for path in CODE))
    assert names <= defined, names - defined


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.name)
def test_every_included_marker_is_still_in_the_code(page: Path) -> None:
    for path, options in _includes(page):
        assert path.is_file(), f"{page.name} includes {path}, which does not exist"
        text = path.read_text(encoding="utf-8")
        for key in MARKER_KEYS:
            if key in options:
                assert options[key] in text, (
                    f"{page.name}: the {key} marker {options[key]!r} is no longer in "
                    f"{path.relative_to(ROOT)}"
                )
        if "pyobject" in options:
            assert options["pyobject"] in _functions(path), (
                f"{page.name}: {options['pyobject']} is no longer defined in "
                f"{path.relative_to(ROOT)}"
            )


def test_each_equation_marker_sits_on_a_line_of_code() -> None:
    """A marker in a comment-only line or a docstring would show the reader no code."""
    lines = [line for path in CODE for line in path.read_text(encoding="utf-8").splitlines()]
    for n in EQUATIONS:
        marked = [line for line in lines if f"# eq. ({n})" in line]
        assert marked, f"no line of the model, loss or layers carries '# eq. ({n})'"
        code = marked[0].split("#", 1)[0].strip()
        assert code, f"the first '# eq. ({n})' line has no code: {marked[0]!r}"


def test_every_test_named_in_the_docs_exists() -> None:
    named = {
        (file, name)
        for page in _pages()
        for file, name in TEST_ID.findall(page.read_text("utf-8"))
    }
    assert ("tests/test_model.py", "test_every_gradient_matches_central_differences") in named
    assert ("tests/test_model.py", "test_truncation_one_equals_the_seeds_formulas") in named
    for file, name in sorted(named):
        assert (ROOT / file).is_file(), f"the docs name {file}, which does not exist"
        assert name in _functions(ROOT / file), f"the docs name {file}::{name}, which is gone"


def test_every_test_the_derivation_links_to_is_on_the_tests_page() -> None:
    derivation = (DOCS / "derivation.md").read_text(encoding="utf-8")
    tests_page = (DOCS / "verification-tests.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"<(test-[\w-]+)>", derivation))
    defined = dict(re.findall(r"^\((test-[\w-]+)\)=\n## (tests/\S+::\w+)$", tests_page, re.M))
    assert linked, "the derivation links to no test"
    assert linked <= set(defined), f"undefined test targets: {linked - set(defined)}"
    shown = {o.get("pyobject") for _, o in _includes(DOCS / "verification-tests.md")}
    for target in linked:
        assert defined[target].split("::")[1] in shown, f"{target} does not show its test"


@pytest.mark.parametrize("page", ["getting-started.md", "gradient-checking.md"])
def test_the_python_examples_on_a_page_run(page: str) -> None:
    blocks = PYTHON_BLOCK.findall((DOCS / page).read_text(encoding="utf-8"))
    assert blocks, f"{page} has no python block"
    namespace: dict[str, object] = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for block in blocks:
            exec(compile(block, f"{page} example", "exec"), namespace)


def test_the_readme_example_runs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = PYTHON_BLOCK.findall(readme)
    assert blocks, "README.md has no python block"
    with contextlib.redirect_stdout(io.StringIO()):
        for block in blocks:
            exec(compile(block, "README example", "exec"), {})


def test_citation_and_readme_name_the_package_version() -> None:
    cff = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    version = re.search(r"^version: (\S+)$", cff, re.MULTILINE)
    title = re.search(r'^title: "(.+)"$', cff, re.MULTILINE)
    date = re.search(r'^date-released: "(\S+)"$', cff, re.MULTILINE)
    assert version, "CITATION.cff has no version"
    assert title, "CITATION.cff has no quoted title"
    assert date, "CITATION.cff has no quoted date-released"
    assert version[1] == rnn.__version__
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    cite = readme[readme.index("## How to cite") :]
    assert f"title = {{{title[1]}}}" in cite
    assert f"version = {{{rnn.__version__}}}" in cite
    assert f"released {date[1]}" in cite
