"""Keep the book self-contained, and record how long each chapter took to execute.

* **MathJax from the site itself.** Sphinx loads MathJax 3 from a CDN by default. This
  extension points ``mathjax_path`` at ``_static/mathjax/tex-chtml.js`` and, when the HTML
  build finishes, copies the part of MathJax 3 that the pages use (the TeX-to-CHTML bundle,
  the autoloaded TeX extensions, the CHTML web fonts and the accessibility menu pieces)
  into ``_build/html/_static/mathjax``. The files come from the pinned PyPI package
  ``sphinx-mathjax-offline`` (MathJax 3.2.2); ``RNNCOURSE_MATHJAX_DIR`` may name another
  MathJax 3 ``es5`` folder instead. Without either the build stops rather than fall back
  to a CDN.
* **No live-code (Thebe) scripts.** Jupyter Book always loads sphinx-thebe, which adds
  its loader (with a CDN address) to every page, twice on notebook pages, which is a
  JavaScript error. The book has launch buttons and Thebe off, so those scripts are removed.
* **TeX errors are visible.** MathJax's ``noundefined`` package is dropped, so an undefined
  macro is typeset as an error box that ``tests/test_site.py`` detects.
* **A valid theme mode.** pydata-sphinx-theme logs an error when no ``default_mode`` is
  set; the book uses ``auto`` (follow the reader's system setting).
* **Execution report.** ``_build/html/reports/execution.json`` maps every executed page to
  its run time in seconds (from myst-nb, cached runs report the time of the run that
  filled the cache); ``tests/test_book.py`` checks the per-chapter budget against it.
"""

from __future__ import annotations

import json
import os
import shutil
from importlib import metadata
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

MATHJAX_ENV = "RNNCOURSE_MATHJAX_DIR"
MATHJAX_PACKAGE = "sphinx-mathjax-offline"
MATHJAX_ENTRY = "tex-chtml.js"
# Relative to the MathJax es5 folder: what tex-chtml.js loads, now or on demand.
MATHJAX_PARTS = (
    MATHJAX_ENTRY,
    "input/tex/extensions",
    "output/chtml/fonts/woff-v2",
    "a11y",
    "ui",
    "sre/mathmaps/base.json",
    "sre/mathmaps/en.json",
    "sre/mathmaps/nemeth.json",
)
REPORT = Path("reports") / "execution.json"


def find_mathjax() -> Path:
    """The MathJax 3 ``es5`` folder to copy from.

    Raises:
        ExtensionError: when neither ``RNNCOURSE_MATHJAX_DIR`` nor the package has it.
    """
    candidates = []
    if os.environ.get(MATHJAX_ENV):
        candidates.append(Path(os.environ[MATHJAX_ENV]))
    try:
        dist = metadata.distribution(MATHJAX_PACKAGE)
        candidates.append(Path(dist.locate_file("sphinx-mathjax-offline/static/mathjax")))
    except metadata.PackageNotFoundError:
        pass
    for folder in candidates:
        if (folder / MATHJAX_ENTRY).is_file():
            return folder
    raise ExtensionError(
        f"MathJax 3 not found: install the pinned '{MATHJAX_PACKAGE}' (make setup) or set "
        f"{MATHJAX_ENV} to a MathJax 3 es5 folder. The book never loads MathJax from a CDN."
    )


def _on_config_inited(app: Sphinx, config: Config) -> None:
    find_mathjax()  # fail early, before anything is built
    # A relative mathjax_path is served from _static/.
    config.mathjax_path = f"mathjax/{MATHJAX_ENTRY}"
    config.html_context = {"default_mode": "auto", **config.html_context}
    # An undefined macro becomes a visible MathJax error (merror) instead of red text,
    # so the browser tests catch it.
    mj = dict(config.mathjax3_config or {})
    mj["tex"] = {**mj.get("tex", {}), "packages": {"[-]": ["noundefined"]}}
    config.mathjax3_config = mj


def _is_thebe(asset: Any) -> bool:
    name = getattr(asset, "filename", None) or str(asset)
    body = getattr(asset, "attributes", {}).get("body", "") if hasattr(asset, "attributes") else ""
    return "thebe" in (name or "").lower() or "THEBE_JS_URL" in (body or "")


def _on_html_page_context(
    app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any
) -> None:
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [a for a in context[key] if not _is_thebe(a)]


def copy_mathjax(outdir: Path) -> None:
    """Copy the MathJax parts the pages need into ``outdir/_static/mathjax``."""
    src = find_mathjax()
    dest = outdir / "_static" / "mathjax"
    for part in MATHJAX_PARTS:
        s, d = src / part, dest / part
        if s.is_dir():
            shutil.copytree(s, d, dirs_exist_ok=True)
        elif s.is_file():
            d.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(s, d)


def write_execution_report(app: Sphinx) -> None:
    """Write ``reports/execution.json``: docname -> run time, method, success."""
    try:
        from myst_nb.sphinx_ import NbMetadataCollector
    except ImportError:  # pragma: no cover - myst-nb always comes with jupyter-book
        return
    data = NbMetadataCollector.get_doc_data(app.env)
    report = {
        docname: {
            "runtime_s": meta["exec_data"].get("runtime"),
            "method": meta["exec_data"].get("method"),
            "succeeded": meta["exec_data"].get("succeeded"),
        }
        for docname, meta in sorted(data.items())
        if meta.get("exec_data") and docname in app.env.found_docs
    }
    path = Path(app.outdir) / REPORT
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def _on_build_finished(app: Sphinx, exception: Exception | None) -> None:
    if app.builder.format != "html":
        return
    copy_mathjax(Path(app.outdir))
    write_execution_report(app)


def setup(app: Sphinx) -> dict[str, Any]:
    # After jupyter-book / myst-parser have set their own MathJax defaults.
    app.connect("config-inited", _on_config_inited, priority=800)
    # After sphinx-thebe (default priority) has added its scripts to the page.
    app.connect("html-page-context", _on_html_page_context, priority=900)
    app.connect("build-finished", _on_build_finished)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
