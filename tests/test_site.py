"""The built site works in a real browser, offline (issue 5).

Every HTML page of ``_build/html`` is opened once in headless Chromium, served from
``127.0.0.1``; requests to any other host are blocked and recorded. Each test then checks
one property on all pages: HTTP 200, no console errors (a failed load, a missing favicon, a
JavaScript error), a favicon, nothing loaded from outside,
images load, math typeset by the site's own MathJax, internal links and their ``#fragment``
targets exist, exercise downloads are notebooks, and search finds the LSTM chapter.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest

from tests._site import (
    CHROMIUM,
    book_build,  # noqa: F401 - fixture
    built_site,  # noqa: F401 - fixture
    launch_chromium,
    site_server,  # noqa: F401 - fixture
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} absent (apt install chromium)"),
]

# Folders of the build that hold assets, not pages.
ASSET_DIRS = {"_static", "_sources", "_downloads", "_images", "reports"}

# After load: wait for MathJax's first typeset, then report what the page shows.
_INSPECT = """
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const images = Array.from(document.images);
  await Promise.all(images.map(img => img.complete ? null : new Promise(r => {
    img.addEventListener('load', r); img.addEventListener('error', r);
  })));
  const main = document.querySelector('main') || document.body;
  const clone = main.cloneNode(true);
  clone.querySelectorAll('pre, code, script, style, mjx-container, mjx-assistive-mml')
       .forEach(el => el.remove());
  const math = Array.from(document.querySelectorAll('.math'));
  return {
    brokenImages: images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
    mathCount: math.length,
    untypeset: math.filter(m => !m.querySelector('mjx-container'))
                   .map(m => m.textContent.slice(0, 60)),
    mathErrors: Array.from(document.querySelectorAll('mjx-merror'))
                     .map(e => e.getAttribute('data-mjx-error') || e.textContent),
    text: clone.innerText,
    links: Array.from(document.querySelectorAll('a[href]'))
                .filter(a => !a.getAttribute('href').startsWith('#') ||
                             a.getAttribute('href').length > 1)
                .map(a => a.href),
    icons: Array.from(document.querySelectorAll('link[rel~="icon"]')).map(l => l.href),
  };
}
"""
_RAW_MATH = ("$$", "\\(", "\\)", "\\[", "\\]", "\\begin{")
# The root index.html only redirects to the first page.
_REDIRECT = re.compile(r'<meta http-equiv="refresh" content="\d+;\s*url=([^"]+)"', re.IGNORECASE)


@dataclass
class PageReport:
    """What opening one page in the browser showed."""

    status: int | None = None
    console_errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    broken_images: list[str] = field(default_factory=list)
    math_count: int = 0
    untypeset: list[str] = field(default_factory=list)
    math_errors: list[str] = field(default_factory=list)
    raw_math: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    icons: list[str] = field(default_factory=list)


class _IdCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key in ("id", "name") and value:
                self.ids.add(value)


def _pages(site: Path) -> list[str]:
    """Every HTML page of the build, as a URL path relative to the site root."""
    return sorted(
        p.relative_to(site).as_posix()
        for p in site.rglob("*.html")
        if not (set(p.relative_to(site).parts[:-1]) & ASSET_DIRS)
    )


def _fetch(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - local only
            return response.status, response.read(), response.headers.get_content_type()
    except urllib.error.HTTPError as err:
        return err.code, b"", ""


@pytest.fixture(scope="module")
def browser():
    """Headless system Chromium (Playwright), closed at the end of the module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def crawl(built_site: Path, site_server: str, browser) -> dict[str, PageReport]:  # noqa: F811
    """Open every page once; return a report per page path."""
    origin = urlsplit(site_server).netloc
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    reports: dict[str, PageReport] = {}
    current: list[PageReport] = []

    def route(r) -> None:  # noqa: ANN001
        if urlsplit(r.request.url).netloc == origin or r.request.url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            current[-1].external_requests.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on(  # every console error counts: a missing favicon logs "404 (File not found)"
        "console",
        lambda msg: (
            current[-1].console_errors.append(f"{msg.text} [{msg.location.get('url')}]")
            if msg.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda exc: current[-1].console_errors.append(str(exc)))

    for path in _pages(built_site):
        report = PageReport()
        current.append(report)
        url = f"{site_server}/{path}"
        response = page.goto(url, wait_until="load")
        report.status = response.status if response else None
        redirect = _REDIRECT.search((built_site / path).read_text(encoding="utf-8"))
        if redirect:
            page.wait_for_url(urljoin(url, redirect.group(1)), wait_until="load")
            report.links = [urljoin(url, redirect.group(1))]
        info = page.evaluate(_INSPECT)
        report.broken_images = info["brokenImages"]
        report.math_count = info["mathCount"]
        report.untypeset = info["untypeset"]
        report.math_errors = info["mathErrors"]
        report.raw_math = [m for m in _RAW_MATH if m in info["text"]]
        report.links += info["links"]
        report.icons = info["icons"]
        reports[path] = report
    context.close()
    return reports


def _failures(crawl: dict[str, PageReport], attr: str) -> dict[str, list]:
    return {path: getattr(r, attr) for path, r in crawl.items() if getattr(r, attr)}


def test_every_page_is_crawled(crawl: dict[str, PageReport]) -> None:
    """Are the chapter pages, the exercise index and search among the pages opened?"""
    for path in ("book/intro.html", "book/01_sequences.html", "search.html"):
        assert path in crawl, f"{path} was not crawled"
    assert "book/exercises/index.html" in crawl


def test_pages_answer_200(crawl: dict[str, PageReport]) -> None:
    """Does every page load with HTTP 200?"""
    bad = {path: r.status for path, r in crawl.items() if r.status != 200}
    assert not bad, bad


def test_no_console_errors(crawl: dict[str, PageReport]) -> None:
    """Does every page run without JavaScript errors?"""
    assert not _failures(crawl, "console_errors")


def test_every_page_has_a_favicon(crawl: dict[str, PageReport]) -> None:
    """Does every page declare an icon that loads (else browsers ask for /favicon.ico)?"""
    missing = [path for path, report in crawl.items() if not report.icons]
    assert not missing, f"pages without <link rel=icon>: {missing}"
    for icon in {icon for report in crawl.values() for icon in report.icons}:
        status, body, ctype = _fetch(icon)
        assert status == 200 and ctype.startswith("image/") and body, f"{icon}: {status} {ctype}"


def test_nothing_loads_from_outside(crawl: dict[str, PageReport]) -> None:
    """Does no page request anything from a host other than the site's own?"""
    assert not _failures(crawl, "external_requests")


def test_images_load(crawl: dict[str, PageReport]) -> None:
    """Does every image on every page load (naturalWidth > 0)?"""
    assert not _failures(crawl, "broken_images")


def test_math_is_typeset(crawl: dict[str, PageReport]) -> None:
    """Is every equation rendered by MathJax, with no raw TeX and no MathJax error left?"""
    assert not _failures(crawl, "untypeset"), "math elements without MathJax output"
    assert not _failures(crawl, "math_errors"), "MathJax errors"
    assert not _failures(crawl, "raw_math"), "raw TeX delimiters in the visible text"
    assert crawl["book/01_sequences.html"].math_count > 0, "chapter 1 shows no math"


def test_internal_links_resolve(crawl: dict[str, PageReport], site_server: str) -> None:  # noqa: F811
    """Does every same-site link reach a 200 target, and its #fragment an existing id?"""
    targets: dict[str, tuple[int, set[str] | None]] = {}
    broken = []
    for path, report in crawl.items():
        for link in report.links:
            if not link.startswith(site_server + "/"):
                continue
            url, fragment = urldefrag(link)
            if url not in targets:
                status, body, ctype = _fetch(url)
                ids = None
                if status == 200 and ctype == "text/html":
                    parser = _IdCollector()
                    parser.feed(body.decode("utf-8", "replace"))
                    ids = parser.ids
                targets[url] = (status, ids)
            status, ids = targets[url]
            if status != 200:
                broken.append(f"{path}: {link} -> {status}")
            elif fragment and ids is not None and fragment not in ids:
                broken.append(f"{path}: {link} -> no id '{fragment}'")
    assert targets, "no internal links found"
    assert not broken, "\n".join(broken)


def test_exercise_downloads_are_notebooks(
    crawl: dict[str, PageReport],
    site_server: str,  # noqa: F811
) -> None:
    """Does each exercise page's download link return a valid notebook?"""
    exercise_pages = [p for p in crawl if p.startswith("book/exercises/ex")]
    for path in exercise_pages:
        downloads = [link for link in crawl[path].links if link.endswith(".ipynb")]
        assert downloads, f"{path}: no notebook download link"
        for link in downloads:
            status, body, _ = _fetch(link)
            assert status == 200, f"{link} -> {status}"
            nb = json.loads(body)
            assert nb["nbformat"] == 4 and isinstance(nb["cells"], list) and nb["cells"]


def test_search_finds_the_forget_gate(site_server: str, browser) -> None:  # noqa: F811
    """Does typing "forget gate" in the search box list the LSTM chapter?"""
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{site_server}/book/intro.html", wait_until="load")
    page.keyboard.press("Control+k")  # opens the theme's search dialog
    box = page.locator("#pst-search-dialog input[name='q']")
    box.fill("forget gate")
    box.press("Enter")
    page.wait_for_url("**/search.html?q=forget*")
    page.wait_for_function(
        "() => document.querySelectorAll('#search-results ul.search li').length > 0"
        " || /did not match|found no/i.test(document.querySelector('#search-results')"
        "?.innerText || '')",
        timeout=20_000,
    )
    hrefs = page.eval_on_selector_all(
        "#search-results ul.search li a", "els => els.map(a => a.getAttribute('href'))"
    )
    context.close()
    assert any("07_lstm_gru" in h for h in hrefs), f"search results: {hrefs}"
