"""Check the built HTML pages for rendering defects a reader would see.

Usage: ``python docs/check_rendering.py [BUILD_DIR] [--width PX]`` (``nox -s docs`` runs it
on ``docs/_build/html`` after the build). It reads the HTML and the page's own stylesheets;
it needs no browser. Each page fails on:

``alt``
    An image in the content without an alt text, an alt text that stops mid-sentence or
    holds an unexpanded ``{{ substitution }}``, or a figure caption that begins
    mid-sentence. A multi-line ``:alt:`` option is cut after its first line and the rest
    shows on the page as a caption starting in lower case: both of the last two catch it.
``overflow``
    A code block (``pre``), display equation (``div.math``) or table that is not in a box
    of its own that scrolls sideways (CSS ``overflow-x: auto`` or ``scroll``), and, for a
    code block, does not wrap its lines either (``white-space: pre-wrap``). Whatever is
    wider than the content column then spills over it or, under ``overflow: hidden``, is
    cut off. The static HTML does not say how wide an equation will be, so every one is
    held to this; the stylesheets are evaluated as the cascade does, at a window ``--width``
    pixels wide (default 1200).
``constant``
    A number the prose gives for a constant of the code (``DEFAULT_MIN_ORDER (1.5)``,
    ``NAME = 1.5``, ``NAME is 1.5``) that disagrees with the installed package, to the
    digits written. A constant is any upper-case name the API pages document (an element
    whose id is ``module.NAME``).

``substitution``
    Text holding ``{{ name }}``: a MyST substitution that was not expanded.
``equation``
    A display equation with a ``\\tag`` inside the ``split`` environment Sphinx wraps
    around any equation with a line break ``\\\\``: MathJax shows an error in its place.
    Equations of several lines go in ``aligned`` inside ``equation*``, or in ``align*``.

Prints one line per defect and exits with status 1 if there is any, 0 otherwise; 2 on a
usage error.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, ClassVar

import soupsieve
from bs4 import BeautifulSoup, NavigableString, Tag

EM = 16.0  # pixels per em, the browsers' default font size
SCROLLS = {"auto", "scroll"}
CUTS = {"hidden", "clip"}
WRAPS = {"pre-wrap", "break-spaces", "pre-line", "normal"}
SUBSTITUTION = re.compile(r"\{\{\s*\w+\s*\}\}")
SENTENCE_END = re.compile(r"[.!?][\"')\]]?$")
NUMBER_AFTER_NAME = re.compile(
    r"^\s*(?:\(\s*|=\s*|is\s+|of\s+)(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
)
CONSTANT_ID = re.compile(r"^(?P<module>[A-Za-z_][\w.]*)\.(?P<name>[A-Z][A-Z0-9_]*)$")


@dataclass(frozen=True)
class Rule:
    """One CSS declaration block that applies at the checked width, in source order."""

    selector: str
    specificity: tuple[int, int, int]
    declarations: dict[str, tuple[str, bool]]  # property -> (value, !important)
    order: int


@dataclass(frozen=True)
class Defect:
    """A rendering defect: the page, the rule it breaks, and what is wrong."""

    page: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.page}: {self.rule}: {self.message}"


# --- CSS: just enough of the cascade for overflow-x and white-space ---------------------


def _split_top_level(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside parentheses and brackets (``:is(a, b)`` stays whole)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip()]


def _blocks(css: str) -> Iterator[tuple[str, str]]:
    """Yield ``(prelude, body)`` for each top-level block; statements such as @import skipped."""
    i, n = 0, len(css)
    while i < n:
        brace, semicolon = css.find("{", i), css.find(";", i)
        if brace < 0:
            return
        if 0 <= semicolon < brace:  # a statement at-rule: @import url(...);
            i = semicolon + 1
            continue
        depth, j = 1, brace + 1
        while j < n and depth:
            depth += {"{": 1, "}": -1}.get(css[j], 0)
            j += 1
        yield css[i:brace].strip(), css[brace + 1 : j - 1]
        i = j


def _length(value: str) -> float | None:
    """A CSS length in pixels (px, em, rem), or None if it is not one."""
    match = re.fullmatch(r"\s*([\d.]+)\s*(px|em|rem)\s*", value)
    if match is None:
        return None
    return float(match[1]) * (1.0 if match[2] == "px" else EM)


def media_applies(query: str, width: float) -> bool:
    """Whether an @media query holds on a screen ``width`` pixels wide, light colour scheme.

    >>> media_applies("(max-width: 82em)", 1200), media_applies("(min-width: 82em)", 1200)
    (True, False)
    >>> media_applies("print", 1200), media_applies("screen and (max-width: 1300px)", 1200)
    (False, True)
    """
    for alternative in _split_top_level(query, ","):
        words = alternative.lower()
        if words.startswith("not ") or re.search(r"\bprint\b", words):
            continue
        holds = True
        for feature, value in re.findall(r"\(\s*([\w-]+)\s*:\s*([^)]*)\)", words):
            length = _length(value)
            if feature == "min-width" and length is not None:
                holds &= width >= length
            elif feature == "max-width" and length is not None:
                holds &= width <= length
            elif feature == "prefers-color-scheme":
                holds &= value.strip() == "light"
            else:  # a feature this check does not model: do not count on the rule
                holds = False
        if holds:
            return True
    return False


def specificity(selector: str) -> tuple[int, int, int]:
    """(ids, classes and attributes and pseudo-classes, types and pseudo-elements).

    >>> specificity("div.wide-report pre"), specificity("#main .a:hover"), specificity("*")
    ((0, 1, 2), (1, 2, 0), (0, 0, 0))
    """
    text = re.sub(r"\"[^\"]*\"|'[^']*'", "", selector)
    ids = len(re.findall(r"#[\w-]+", text))
    pseudo_elements = len(re.findall(r"::[\w-]+", text))
    text = re.sub(r"::[\w-]+", "", text)
    classes = len(re.findall(r"\.[\w-]+|\[[^\]]*\]|:[\w-]+", text))
    text = re.sub(r"#[\w-]+|\.[\w-]+|\[[^\]]*\]|:[\w-]+(\([^)]*\))?", " ", text)
    types = len(re.findall(r"(?:^|[\s>+~])([A-Za-z][\w-]*)", text))
    return ids, classes, types + pseudo_elements


def parse_css(css: str, width: float, properties: set[str], start: int = 0) -> list[Rule]:
    """The rules of a stylesheet that set any of ``properties`` and apply at ``width``."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    rules: list[Rule] = []
    for prelude, body in _blocks(css):
        if prelude.startswith("@"):
            keyword = prelude.split(None, 1)[0].split("(", 1)[0].lower()
            condition = prelude[len(keyword) :]
            applies = keyword in ("@supports", "@layer") or (
                keyword == "@media" and media_applies(condition, width)
            )
            if applies:
                rules += parse_css(body, width, properties, start + len(rules))
            continue
        declarations = {}
        for declaration in _split_top_level(body, ";"):
            name, colon, value = declaration.partition(":")
            name = name.strip().lower()
            if colon and name in properties:
                value, important = re.subn(r"\s*!\s*important\s*$", "", value.strip())
                declarations[name] = (value.strip().lower(), bool(important))
        if declarations:
            for selector in _split_top_level(prelude, ","):
                rules.append(
                    Rule(selector, specificity(selector), declarations, start + len(rules))
                )
    return rules


class Cascade:
    """Computed ``overflow-x`` and ``white-space`` of elements, from a page's stylesheets."""

    PROPERTIES: ClassVar[set[str]] = {"overflow", "overflow-x", "white-space"}

    def __init__(self, stylesheets: list[str], width: float) -> None:
        self.rules: list[tuple[Rule, Any]] = []
        for css in stylesheets:
            for rule in parse_css(css, width, self.PROPERTIES, len(self.rules)):
                if "::" in rule.selector:
                    continue  # pseudo-elements: generated content, not the element
                try:
                    compiled = soupsieve.compile(rule.selector)
                except (soupsieve.SelectorSyntaxError, NotImplementedError):
                    continue  # a pseudo-class soupsieve cannot evaluate on a static page
                self.rules.append((rule, compiled))

    def value(self, element: Tag, prop: str) -> str:
        """The winning value of ``overflow-x`` (or its shorthand) or ``white-space``."""
        candidates: list[tuple[bool, tuple[int, int, int], int, str]] = []
        for rule, compiled in self.rules:
            declared = dict(rule.declarations)
            if prop == "overflow-x" and "overflow" in declared:
                shorthand, important = declared["overflow"]
                declared.setdefault("overflow-x", (shorthand.split()[0], important))
            if prop in declared and compiled.match(element):
                value, important = declared[prop]
                candidates.append((important, rule.specificity, rule.order, value))
        inline = re.search(rf"(?:^|;)\s*{prop}\s*:\s*([^;]+)", str(element.get("style", "")))
        if inline:
            candidates.append((False, (9, 9, 9), 0, inline[1].strip().lower()))
        if not candidates:  # the browsers' own defaults
            if prop == "overflow-x":
                return "visible"
            return "pre" if element.name == "pre" else "normal"
        return max(candidates)[3]


# --- the rules -----------------------------------------------------------------------------


def _content(soup: BeautifulSoup) -> Tag:
    """The page's content column: furo's ``article``, else the body."""
    found = soup.find("article") or soup.body or soup
    assert isinstance(found, Tag)
    return found


def check_alt_texts(page: str, content: Tag) -> list[Defect]:
    """Every image has a whole-sentence alt text; no caption starts mid-sentence."""
    defects = []
    for image in content.find_all("img"):
        alt = str(image.get("alt", "")).strip()
        source = image.get("src", "?")
        if not alt:
            defects.append(Defect(page, "alt", f"image {source} has no alt text"))
        elif SUBSTITUTION.search(alt):
            defects.append(Defect(page, "alt", f"alt text of {source} is unexpanded: {alt!r}"))
        elif not SENTENCE_END.search(alt):
            defects.append(
                Defect(page, "alt", f"alt text of {source} stops mid-sentence: {alt!r}")
            )
    for caption in content.select("figcaption .caption-text, figcaption > p:first-child"):
        first = next((c for c in caption.children if str(c).strip()), None)
        if isinstance(first, NavigableString) and str(first).lstrip()[:1].islower():
            text = " ".join(caption.get_text().split())
            defects.append(Defect(page, "alt", f"a caption begins mid-sentence: {text[:70]!r}"))
    return defects


def check_overflow(page: str, content: Tag, cascade: Cascade) -> list[Defect]:
    """Every code block, display equation and table scrolls (or wraps) in its own box."""
    defects = []
    for element in content.select("pre, div.math, table"):
        if element.name == "pre" and cascade.value(element, "white-space") in WRAPS:
            continue
        box: Tag | None = element
        verdict = "has no box of its own that scrolls sideways: it spills over"
        while box is not None and box is not content:
            overflow = cascade.value(box, "overflow-x")
            if overflow in SCROLLS:
                verdict = ""
                break
            if overflow in CUTS:
                verdict = (
                    f"is clipped by overflow-x: {overflow} on <{_describe(box)}>: it is cut off"
                )
                break
            box = box.parent
        if verdict:
            text = " ".join(element.get_text().split())[:50]
            kind = {"pre": "code block", "div": "equation", "table": "table"}[element.name]
            defects.append(
                Defect(
                    page,
                    "overflow",
                    f"{kind} {text!r} {verdict} where it is wider than the content column",
                )
            )
    return defects


def check_equations(page: str, content: Tag) -> list[Defect]:
    """No equation numbers itself with ``\\tag`` inside a ``split`` environment."""
    defects = []
    for math in content.select("div.math"):
        tex = math.get_text()
        for split in re.findall(r"\\begin\{split\}.*?\\end\{split\}", tex, flags=re.S):
            if "\\tag" in split:
                text = " ".join(split.split())[:60]
                defects.append(
                    Defect(page, "equation", f"\\tag inside a split environment: {text!r}")
                )
    return defects


def _describe(element: Tag) -> str:
    classes = ".".join(element.get("class") or [])
    return element.name + (f".{classes}" if classes else "")


def documented_constants(pages: list[BeautifulSoup]) -> dict[str, str]:
    """NAME -> module, for every upper-case name the pages document under an id."""
    constants = {}
    for soup in pages:
        for element in soup.find_all(id=CONSTANT_ID):
            match = CONSTANT_ID.match(str(element["id"]))
            assert match is not None
            constants[match["name"]] = match["module"]
    return constants


def agrees(written: str, value: float) -> bool:
    """Whether ``value`` rounds to ``written``, to the digits written.

    >>> agrees("1.5", 1.5), agrees("1.8", 1.5), agrees("6e-06", 6.06e-6), agrees("1e-20", 1e-20)
    (True, False, True, True)
    """
    try:
        number = Decimal(written)
    except InvalidOperation:
        return False
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)
    half_unit = 0.5 * 10.0**exponent
    return abs(value - float(number)) <= half_unit * (1 + 1e-9)


def check_constants(page: str, content: Tag, constants: dict[str, str]) -> list[Defect]:
    """A number written right after a constant's name is the constant's value."""
    defects = []
    for code in content.find_all("code"):
        if code.find_parent("pre") is not None:
            continue
        name = code.get_text().strip().lstrip("~").rsplit(".", 1)[-1]
        if name not in constants:
            continue
        anchor = code.parent if code.parent is not None and code.parent.name == "a" else code
        following = ""
        for sibling in anchor.next_siblings:
            following += sibling.get_text() if isinstance(sibling, Tag) else str(sibling)
            if len(following) > 40:
                break
        match = NUMBER_AFTER_NAME.match(following)
        if match is None:
            continue
        module = constants[name]
        try:
            value = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as error:
            defects.append(Defect(page, "constant", f"cannot read {module}.{name}: {error}"))
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not agrees(match["number"], float(value)):
            defects.append(
                Defect(
                    page,
                    "constant",
                    f"the text gives {name} as {match['number']}, the code has {value!r} "
                    f"({module}.{name})",
                )
            )
    return defects


def check_substitutions(page: str, content: Tag) -> list[Defect]:
    """No ``{{ name }}`` is left in the text (code blocks and literals aside)."""
    defects = []
    for text in content.find_all(string=SUBSTITUTION):
        if text.find_parent(["pre", "code", "script", "style"]) is None:
            found = SUBSTITUTION.search(str(text))
            assert found is not None
            defects.append(Defect(page, "substitution", f"unexpanded {found[0]}"))
    return defects


def _stylesheets(soup: BeautifulSoup, html_path: Path) -> list[str]:
    sheets = []
    for element in soup.find_all(["link", "style"]):
        if element.name == "style":
            sheets.append(element.get_text())
        elif "stylesheet" in (element.get("rel") or []):
            href = str(element.get("href", "")).split("?", 1)[0]
            path = (html_path.parent / href).resolve()
            if not href.startswith(("http:", "https:", "//")) and path.is_file():
                sheets.append(path.read_text(encoding="utf-8"))
    return sheets


SPHINX_PAGES = {"genindex.html", "py-modindex.html", "search.html"}
"""Pages Sphinx writes itself, with its own tables and icons: not checked."""


def _pages(build_dir: Path) -> list[Path]:
    """The site's pages: every ``*.html`` but Sphinx's own and the static files."""
    return sorted(
        path
        for path in build_dir.rglob("*.html")
        if "_static" not in path.parts and path.name not in SPHINX_PAGES
    )


def check_site(build_dir: Path, width: float = 1200.0) -> list[Defect]:
    """Every defect on every page under ``build_dir`` (Sphinx's index pages aside)."""
    paths = _pages(build_dir)
    soups = {
        path: BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser") for path in paths
    }
    constants = documented_constants(list(soups.values()))
    cascades: dict[tuple[str, ...], Cascade] = {}
    defects = []
    for path, soup in soups.items():
        page = path.relative_to(build_dir).as_posix()
        content = _content(soup)
        sheets = tuple(_stylesheets(soup, path))
        if sheets not in cascades:
            cascades[sheets] = Cascade(list(sheets), width)
        defects += check_alt_texts(page, content)
        defects += check_overflow(page, content, cascades[sheets])
        defects += check_constants(page, content, constants)
        defects += check_substitutions(page, content)
        defects += check_equations(page, content)
    return defects


def main(argv: list[str] | None = None) -> int:
    """Run the checks on a build directory; print the defects; 0 if none, 1 otherwise."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("build_dir", nargs="?", default="docs/_build/html", type=Path)
    parser.add_argument("--width", type=float, default=1200.0, help="window width in px")
    args = parser.parse_args(argv)
    if not args.build_dir.is_dir():
        print(f"check_rendering: no build directory {args.build_dir}", file=sys.stderr)
        return 2
    defects = check_site(args.build_dir, args.width)
    for defect in defects:
        print(defect)
    print(f"check_rendering: {len(_pages(args.build_dir))} pages, {len(defects)} defects")
    return 1 if defects else 0


if __name__ == "__main__":
    sys.exit(main())
