"""Screenshots of three representative pages of the built site (``make screenshots``).

Usage: ``python -m tests.site_screenshots`` after ``make book``. Serves ``_build/html`` on
127.0.0.1, opens the pages in headless Chromium and writes full-page PNGs to
``_build/screenshots/``: the welcome page, chapter 1 (prose, math, a figure, code and
outputs) and an exercise page (or the LSTM chapter when no exercise exists yet).
"""

from __future__ import annotations

import functools
import http.server
import sys
import threading
from pathlib import Path

from tests._site import BOOK_ROOT, CHROMIUM, HTML_DIR, _QuietHandler, launch_chromium

OUT_DIR = BOOK_ROOT / "_build" / "screenshots"


def representative_pages(site: Path) -> list[str]:
    """Three page paths relative to the site root."""
    exercises = sorted((site / "book" / "exercises").glob("ex*.html"))
    third = exercises[0].relative_to(site).as_posix() if exercises else "book/07_lstm_gru.html"
    return ["book/intro.html", "book/01_sequences.html", third]


def take_screenshots(site: Path = HTML_DIR, out_dir: Path = OUT_DIR) -> list[Path]:
    """Write one full-page PNG per representative page; return their paths."""
    from playwright.sync_api import sync_playwright

    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            # Nothing outside the site is ever fetched.
            page.route(
                "**/*", lambda r: r.continue_() if r.request.url.startswith(base) else r.abort()
            )
            for path in representative_pages(site):
                page.goto(f"{base}/{path}", wait_until="load")
                page.evaluate("() => window.MathJax?.startup?.promise")
                target = out_dir / (path.replace("/", "_").removesuffix(".html") + ".png")
                page.screenshot(path=str(target), full_page=True)
                written.append(target)
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return written


def main() -> int:
    if not (HTML_DIR / "index.html").is_file():
        print(f"no site in {HTML_DIR}: run `make book` first", file=sys.stderr)
        return 1
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} not found: install Chromium (apt install chromium)", file=sys.stderr)
        return 1
    for path in take_screenshots():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
