"""Shared helpers and fixtures for the book tests (``test_book.py``, ``test_site.py``).

The book is built once per test session by the ``book_build`` fixture
(``jupyter-book build . -W -n --keep-going --all``; the execution cache makes it cheap),
and the built site is served on ``127.0.0.1`` by ``site_server`` for the browser tests.
Import the fixtures into a test module with ``from tests._site import book_build, ...``.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# Another checkout of the book may be tested by pointing this variable at it.
BOOK_ROOT = Path(os.environ.get("RNNCOURSE_BOOK_ROOT", ROOT)).resolve()
HTML_DIR = BOOK_ROOT / "_build" / "html"
EXECUTION_REPORT = HTML_DIR / "reports" / "execution.json"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Sphinx warnings look like "path:line: WARNING: ..." or "WARNING: ...".
_SPHINX_WARNING = re.compile(r"(^|: )(WARNING|ERROR|CRITICAL):", re.MULTILINE)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _toc_files(entries: list[dict]) -> Iterator[str]:
    for entry in entries:
        if "file" in entry:
            yield entry["file"]
        if "glob" in entry:
            yield from sorted(_glob_docnames(entry["glob"]))
        for key in ("chapters", "sections", "parts"):
            yield from _toc_files(entry.get(key, []))


def _glob_docnames(pattern: str) -> list[str]:
    """Docnames matching a toc glob; exercise pages are generated from exercises/*/."""
    if pattern == "book/exercises/ex*":
        return [f"book/exercises/{exercise_page_stem(n)}" for n in assignment_names()]
    return [
        str(p.relative_to(BOOK_ROOT).with_suffix(""))
        for p in BOOK_ROOT.glob(pattern + ".*")
        if p.suffix in {".md", ".ipynb"}
    ]


def toc_docnames() -> list[str]:
    """Every page of the book in table-of-contents order, e.g. ``book/01_sequences``."""
    toc = yaml.safe_load((BOOK_ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return [toc["root"], *_toc_files(toc.get("parts", []) + toc.get("chapters", []))]


def exercise_page_stem(name: str) -> str:
    """Page of an assignment: ``ex02_hidden_state`` (as ``book/_ext/rnncourse_exercises.py``)."""
    return name if name.startswith("ex") else f"ex{name}"


def assignment_names() -> list[str]:
    """Assignments ``[ex]NN_slug`` that have ``exercises/<name>/<name>.ipynb``."""
    folder = BOOK_ROOT / "exercises"
    if not folder.is_dir():
        return []
    return sorted(
        d.name for d in folder.iterdir() if d.is_dir() and (d / f"{d.name}.ipynb").is_file()
    )


def chapter_sources() -> list[Path]:
    """The chapter notebooks ``book/NN_*.md`` (and inserted ones such as ``book/08b_*.md``)."""
    return sorted((BOOK_ROOT / "book").glob("[0-9][0-9]*_*.md"))


@dataclass(frozen=True)
class BuildResult:
    """Outcome of one ``jupyter-book build``."""

    returncode: int
    output: str  # stdout and stderr, ANSI colours removed
    seconds: float

    @property
    def warnings(self) -> list[str]:
        return [line for line in self.output.splitlines() if _SPHINX_WARNING.search(line)]


def build_book() -> BuildResult:
    """Run ``jupyter-book build . -W -n --keep-going --all`` in the book's root.

    ``--all`` re-reads every page, so the warnings of pages that did not change are reported
    again (an incremental build stays silent about them); notebooks are still not re-run
    unless their code changed, thanks to the execution cache.
    """
    jb = Path(sys.executable).with_name("jupyter-book")
    start = time.perf_counter()
    proc = subprocess.run(
        [str(jb), "build", ".", "-W", "-n", "--keep-going", "--all"],
        cwd=BOOK_ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    output = _ANSI.sub("", proc.stdout + proc.stderr)
    return BuildResult(proc.returncode, output, time.perf_counter() - start)


@functools.cache
def _build_once() -> BuildResult:
    # Each test module that imports the fixture gets its own copy of it; the build must not
    # run once per module.
    return build_book()


@pytest.fixture(scope="session")
def book_build() -> BuildResult:
    """The book, built once per session (however many modules use this fixture)."""
    return _build_once()


@pytest.fixture(scope="session")
def built_site(book_build: BuildResult) -> Path:
    """``_build/html`` after the build (warnings are test_book's business, not the site's)."""
    if not (HTML_DIR / "index.html").is_file():
        tail = "\n".join(book_build.output.splitlines()[-40:])
        pytest.fail(f"the book did not build (exit {book_build.returncode}):\n{tail}")
    return HTML_DIR


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="session")
def site_server(built_site: Path) -> Iterator[str]:
    """Serve the built site on 127.0.0.1 at a free port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def launch_chromium(playwright):  # noqa: ANN001, ANN201 - playwright types are optional
    """Headless Chromium from the system package, with no background network traffic."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )


def read_execution_report() -> dict[str, dict]:
    """``docname -> {runtime_s, method, succeeded}`` written by ``book/_ext/rnncourse_site.py``."""
    return json.loads(EXECUTION_REPORT.read_text(encoding="utf-8"))
