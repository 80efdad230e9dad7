"""Sphinx configuration: MyST pages, numpydoc API pages, offline MathJax, generated figures.

Every module in ``docs/figures/`` exposes ``main(outdir: pathlib.Path) -> None``. Each build
runs all of them on the installed package, with matplotlib's Agg backend, writing into
``docs/_generated/`` (not under version control); the pages include what they wrote. No
number or figure on the site is typed in by hand.

Numbers inside prose are MyST substitutions, ``{{ name }}``: the constants of the code
(``CONSTANTS`` below, read from the installed package) and the figures' measurements (the
``*.substitutions.json`` files a figure module may write). Substitutions also work inside a
figure's ``alt`` option, where MyST itself does not expand them. ``docs/check_rendering.py``
then checks the built pages, after ``nox -s docs`` builds them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

# One BLAS thread: the figures use small matrices, for which threads on a shared 2-core
# machine only add contention. Set before numpy is imported; subprocesses inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import matplotlib
import yaml  # a dependency of myst-parser
from docutils import nodes

matplotlib.use("Agg")

import rnn
from verification import gradcheck

HERE = Path(__file__).resolve().parent
GENERATED = HERE / "_generated"

project = "rnn-reference"
author = "The rnn-reference developers"
copyright = f"2026, {author}"
release = rnn.__version__
version = release

extensions = [
    "myst_nb",  # MyST pages and the executable notebooks of docs/tutorials (includes myst_parser)
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",
]

source_suffix = {".md": "myst-nb"}  # a page with a kernelspec in its header is a notebook
exclude_patterns = ["_build", "_generated", "figures", "Thumbs.db", ".DS_Store"]
root_doc = "index"

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "substitution"]
myst_heading_anchors = 3

# The tutorials are text notebooks: every build runs each from a fresh kernel (the docs
# environment's python), in a temporary folder, and a cell that raises fails the build.
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_in_temp = True
nb_execution_timeout = 300  # seconds per cell; the longest cell trains for well under 60 s

# The numpydoc docstrings already state every type; annotations such as NDArray[Any] would
# only add cross-references that cannot resolve offline.
autodoc_typehints = "none"
autodoc_member_order = "bysource"
autosummary_generate = False
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = True  # typed caches list their fields like parameters

html_theme = "furo"
html_title = f"rnn-reference {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]

# No intersphinx: the build must pass with no network.
nitpicky = True
# numpydoc "References" sections list sources that the text need not cite by number.
suppress_warnings = ["ref.citation"]


def _run_figure_modules() -> None:
    """Run ``main(GENERATED)`` of every ``docs/figures/*.py`` module, in name order."""
    GENERATED.mkdir(exist_ok=True)
    for path in sorted((HERE / "figures").glob("*.py")):
        if path.name.startswith("_"):
            continue
        spec = importlib.util.spec_from_file_location(f"docs_figures_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load figure module {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        start = time.perf_counter()
        module.main(GENERATED)
        print(f"docs/figures/{path.name}: {time.perf_counter() - start:.1f} s")


def _write_citation() -> None:
    """Write the citing page's text and BibTeX from CITATION.cff, the one source of both."""
    cff = yaml.safe_load((HERE.parent / "CITATION.cff").read_text(encoding="utf-8"))
    if str(cff["version"]) != release:
        raise ValueError(
            f"CITATION.cff says version {cff['version']}, the package is {release}: "
            "update CITATION.cff (version and date-released) with each release"
        )
    authors = " and ".join(
        a["name"] if "name" in a else f"{a['family-names']}, {a['given-names']}"
        for a in cff["authors"]
    )
    date = str(cff["date-released"])
    year = date[:4]
    (GENERATED / "citation.md").write_text(
        f"{authors.replace(' and ', ', ')} ({year}). *{cff['title']}* "
        f"(version {cff['version']}, released {date}). Licence: {cff['license']}.\n",
        encoding="utf-8",
    )
    fields = {
        "author": "{" + authors + "}",
        "title": cff["title"],
        "year": year,
        "version": cff["version"],
        "note": f"Version {cff['version']}, released {date}",
    }
    if "repository-code" in cff:
        fields["url"] = cff["repository-code"]
    body = ",\n".join(f"  {key} = {{{value}}}" for key, value in fields.items())
    bibtex = f"@misc{{rnn_reference_{year},\n{body}\n}}\n"
    (GENERATED / "citation.bib").write_text(bibtex, encoding="utf-8")
    readme = (HERE.parent / "README.md").read_text(encoding="utf-8")
    if f"```bibtex\n{bibtex}```" not in readme:
        raise ValueError(
            "the BibTeX entry in README.md's 'How to cite' differs from the one generated "
            f"from CITATION.cff; it should read:\n{bibtex}"
        )


CONSTANTS = {
    "DEFAULT_MIN_ORDER": gradcheck.DEFAULT_MIN_ORDER,
    "TAYLOR_FIT_POINTS": gradcheck.TAYLOR_FIT_POINTS,
    "TAYLOR_GROWTH": gradcheck.TAYLOR_GROWTH,
}
"""Constants of the code that the prose quotes, as ``{{ DEFAULT_MIN_ORDER }}``."""


def _substitutions() -> dict[str, str]:
    """The code's constants and every ``_generated/*.substitutions.json``, as page text."""
    values = {name: str(value) for name, value in CONSTANTS.items()}
    for path in sorted(GENERATED.glob("*.substitutions.json")):
        for name, text in json.loads(path.read_text(encoding="utf-8")).items():
            if name in values:
                raise ValueError(f"substitution {name!r} is defined twice (again in {path.name})")
            values[name] = str(text)
    return values


_run_figure_modules()
_write_citation()
myst_substitutions = _substitutions()
_SUBSTITUTION = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def _substitute_in_alt_texts(app: Any, doctree: Any) -> None:
    """Expand ``{{ name }}`` in image alt texts, which MyST leaves as written."""

    def value(match: re.Match[str]) -> str:
        if match[1] not in myst_substitutions:
            raise ValueError(
                f"alt text {image['alt']!r} uses {{{{ {match[1]} }}}}, which is not one of "
                f"the substitutions {sorted(myst_substitutions)}"
            )
        return myst_substitutions[match[1]]

    for image in doctree.findall(nodes.image):
        if "alt" in image:
            image["alt"] = _SUBSTITUTION.sub(value, image["alt"])


def setup(app: Any) -> None:
    """Serve MathJax's SVG output, which needs no font files (pages also open from file://);
    expand substitutions in alt texts."""
    app.config.mathjax_path = "mathjax/tex-svg.js"
    app.connect("doctree-read", _substitute_in_alt_texts)
