"""The rendering check of the built site (docs/check_rendering.py) on small synthetic pages.

Each rule is shown to pass on a good page and to fail on a page broken in the way a reader
would see: an alt text cut after its first line, a code block or equation with no box of
its own that scrolls, a constant retyped with the wrong value, a substitution left as
written. The sources of the pages are also held to one-line-or-YAML alt texts, so that the
cut cannot come back without a build.
"""

from __future__ import annotations

import doctest
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from verification.gradcheck import DEFAULT_MIN_ORDER

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _load_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_rendering", DOCS / "check_rendering.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


check = _load_check()

GOOD_CSS = """
/* furo's rules, reduced to what the check reads */
pre { overflow: auto }
.math-wrapper { overflow-x: auto; width: 100% }
.table-wrapper.container { overflow-x: auto }
@media (max-width: 48em) { .content { overflow-x: auto } }
"""

FIGURE = """
<figure><img alt="{alt}" src="_images/plot.png" />
<figcaption><p><span class="caption-text">{caption}</span></p></figcaption></figure>
"""

GOOD_BODY = f"""
<p>The Taylor test passes at
<a class="reference internal" href="api.html#verification.gradcheck.DEFAULT_MIN_ORDER"><code
class="xref py py-data docutils literal notranslate"><span class="pre">DEFAULT_MIN_ORDER</span>
</code></a> ({DEFAULT_MIN_ORDER}) or more.</p>
{FIGURE.format(alt="Loss per epoch, falling.", caption="The loss per epoch.")}
<div class="highlight-text notranslate"><div class="highlight">
<pre>a report, 116 columns wide</pre></div></div>
<div class="math-wrapper docutils container"><div class="math notranslate nohighlight">
\\[\\nabla_W L = \\sum_t \\delta^{{(t)}} {{h^{{(t-1)}}}}^\\top \\tag{{12}}\\]</div></div>
<div class="table-wrapper colwidths-auto docutils container"><table class="docutils">
<tr><td>1.1e-02</td></tr></table></div>
"""

API_PAGE = """<html><head><link rel="stylesheet" href="_static/custom.css?v=1"></head><body>
<article role="main"><dl class="py data"><dt class="sig sig-object py"
id="verification.gradcheck.DEFAULT_MIN_ORDER">DEFAULT_MIN_ORDER = 1.5</dt></dl></article>
</body></html>"""


def _site(tmp_path: Path, body: str, css: str = GOOD_CSS) -> Path:
    """A two-page build: the page under test, and an API page that documents a constant."""
    (tmp_path / "_static").mkdir(parents=True)
    (tmp_path / "_static" / "custom.css").write_text(css, encoding="utf-8")
    (tmp_path / "api.html").write_text(API_PAGE, encoding="utf-8")
    page = (
        '<html><head><link rel="stylesheet" type="text/css" href="_static/custom.css?v=1" />'
        f"</head><body><div class='sidebar'><img src='logo.png'></div>"
        f"<article role='main'>{body}</article></body></html>"
    )
    (tmp_path / "page.html").write_text(page, encoding="utf-8")
    return tmp_path


def _rules(build: Path) -> list[str]:
    return [defect.rule for defect in check.check_site(build)]


def test_a_good_page_has_no_defects(tmp_path: Path) -> None:
    assert check.check_site(_site(tmp_path, GOOD_BODY)) == []


def test_main_exits_0_on_a_good_build_1_on_a_defect_and_2_without_a_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _site(tmp_path / "good", GOOD_BODY)
    broken = _site(tmp_path / "broken", GOOD_BODY.replace("Loss per epoch, falling.", ""))
    assert check.main([str(good)]) == 0
    assert check.main([str(broken)]) == 1
    assert "page.html: alt: image _images/plot.png has no alt text" in capsys.readouterr().out
    assert check.main([str(tmp_path / "absent")]) == 2
    assert "no build directory" in capsys.readouterr().err


# An alt text written over two lines of an `:alt:` option: the first line becomes the alt,
# the second the start of the caption.
CUT_ALT = FIGURE.format(
    alt="Left, loss per epoch on a log scale for the exact and the seed's gradient, both",
    caption="falling. Right, the cosine between each update and the negative true gradient.",
)


@pytest.mark.parametrize(
    ("figure", "message"),
    [
        (CUT_ALT, "stops mid-sentence"),
        (CUT_ALT, "a caption begins mid-sentence: 'falling. Right"),
        (FIGURE.format(alt="", caption="The loss."), "has no alt text"),
        (FIGURE.format(alt="Best h = {{ best }}.", caption="The loss."), "is unexpanded"),
    ],
)
def test_an_alt_text_cut_missing_or_unexpanded_is_a_defect(
    tmp_path: Path, figure: str, message: str
) -> None:
    good_figure = FIGURE.format(alt="Loss per epoch, falling.", caption="The loss per epoch.")
    build = _site(tmp_path, GOOD_BODY.replace(good_figure, figure))
    messages = [d.message for d in check.check_site(build) if d.rule == "alt"]
    assert any(message in m for m in messages), messages


@pytest.mark.parametrize(
    ("css", "kind", "verdict"),
    [
        (GOOD_CSS.replace("pre { overflow: auto }", ""), "code block", "spills over"),
        (GOOD_CSS + "article pre { overflow: visible }", "code block", "spills over"),
        (GOOD_CSS.replace(".math-wrapper {", ".unused {"), "equation", "spills over"),
        (  # a scroll rule only for narrow windows: it does not apply at 1200 px
            GOOD_CSS.replace(".math-wrapper {", ".unused {")
            + "@media (max-width: 40em) { .math-wrapper { overflow-x: auto } }",
            "equation",
            "spills over",
        ),
        (GOOD_CSS + ".math-wrapper { overflow-x: hidden }", "equation", "cut off"),
        (GOOD_CSS.replace(".table-wrapper.container", ".nothing"), "table", "spills over"),
    ],
)
def test_a_block_without_its_own_scroll_is_a_defect(
    tmp_path: Path, css: str, kind: str, verdict: str
) -> None:
    defects = check.check_site(_site(tmp_path, GOOD_BODY, css))
    assert [d.rule for d in defects] == ["overflow"]
    assert defects[0].message.startswith(kind)
    assert verdict in defects[0].message


def test_a_code_block_that_wraps_its_lines_needs_no_scroll(tmp_path: Path) -> None:
    css = GOOD_CSS.replace("pre { overflow: auto }", "div.highlight pre { white-space: pre-wrap }")
    assert _rules(_site(tmp_path, GOOD_BODY, css)) == []


def test_a_scroll_rule_wins_or_loses_by_specificity_and_order(tmp_path: Path) -> None:
    later_but_weaker = (
        GOOD_CSS.replace("pre {", "div.highlight pre {") + "pre { overflow: visible }"
    )
    important = GOOD_CSS + "pre { overflow: visible !important }"
    assert _rules(_site(tmp_path / "a", GOOD_BODY, later_but_weaker)) == []
    assert _rules(_site(tmp_path / "b", GOOD_BODY, important)) == ["overflow"]


def test_a_retyped_constant_that_disagrees_with_the_code_is_a_defect(tmp_path: Path) -> None:
    wrong = round(DEFAULT_MIN_ORDER + 0.3, 1)
    body = GOOD_BODY.replace(f"({DEFAULT_MIN_ORDER})", f"({wrong})")
    defects = check.check_site(_site(tmp_path, body))
    assert [str(d) for d in defects] == [
        f"page.html: constant: the text gives DEFAULT_MIN_ORDER as {wrong}, the code has "
        f"{DEFAULT_MIN_ORDER!r} (verification.gradcheck.DEFAULT_MIN_ORDER)"
    ]


def test_an_unexpanded_substitution_in_the_text_is_a_defect(tmp_path: Path) -> None:
    body = GOOD_BODY.replace(f"({DEFAULT_MIN_ORDER})", "({{ DEFAULT_MIN_ORDER }})")
    assert _rules(_site(tmp_path, body)) == ["substitution"]


@given(
    value=st.floats(min_value=1e-300, max_value=1e300),
    digits=st.integers(min_value=0, max_value=12),
)
@example(value=1.5, digits=1)  # DEFAULT_MIN_ORDER as the page writes it
@example(value=0.95, digits=0)  # written 9e-01: rounding half to even still agrees
def test_a_value_agrees_with_itself_rounded_and_not_two_units_off(
    value: float, digits: int
) -> None:
    written = f"{value:.{digits}e}"
    assert check.agrees(written, value)
    unit = 10.0 ** (int(written.split("e")[1]) - digits)
    assert not check.agrees(written, float(written) + 2 * unit)


ALT_OPTION = re.compile(r"^:alt:.*\n(?P<next>[ \t]+\S.*)?$", re.MULTILINE)


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_every_alt_option_in_the_sources_is_one_line(page: Path) -> None:
    """A continued `:alt:` option is cut at its first line; longer alt texts use YAML."""
    text = page.read_text(encoding="utf-8")
    continued = [m[0] for m in ALT_OPTION.finditer(text) if m["next"]]
    assert continued == []


def test_the_examples_in_the_checks_docstrings_hold() -> None:
    """The media-query, specificity and rounding examples of docs/check_rendering.py."""
    results = doctest.testmod(check)
    assert results.attempted >= 4
    assert results.failed == 0


def test_an_equation_numbered_inside_a_split_environment_is_a_defect(tmp_path: Path) -> None:
    """Sphinx wraps an equation with a line break in split, where MathJax rejects a tag."""
    good = r"\[\nabla_W L = \sum_t \delta^{(t)} {h^{(t-1)}}^\top \tag{12}\]"
    split = r"\[\begin{split}a &= b \\ c &= d \tag{15}\end{split}\]"
    body = GOOD_BODY.replace(good, split)
    assert body != GOOD_BODY
    assert _rules(_site(tmp_path, body)) == ["equation"]
