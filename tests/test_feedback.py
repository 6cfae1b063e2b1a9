"""Feedback pages: does each open with a per-task table, and load nothing from outside?

Three submissions of ``ex02_hidden_state`` (right, one diagnosable mistake, blank) go through real
``nbgrader autograde`` and ``nbgrader generate_feedback`` with the course's configuration; the
pages are then opened in headless Chromium, which records console errors and every request.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rnncourse.instructor.feedback import summary_rows
from tests import _nbgrader
from tests._site import CHROMIUM, launch_chromium
from tests.hostile import TRANSPOSED, submitted_course
from tests.hostile.corpus import ASSIGNMENT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def feedback(tmp_path_factory: pytest.TempPathFactory) -> Path:
    course = submitted_course(
        tmp_path_factory.mktemp("feedback") / "course",
        right={},
        transposed={"rnn_cell": TRANSPOSED},
        blank=None,
    )
    _nbgrader.nbgrader(course, "autograde", ASSIGNMENT)
    _nbgrader.nbgrader(course, "generate_feedback", ASSIGNMENT)
    return course


def _page(course: Path, student: str) -> Path:
    return course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"


def test_table_rows_name_points_result_and_diagnosis(feedback) -> None:
    """Does the mistaken submission's table give each task's points, result and diagnosis?"""
    nb = _nbgrader.read(feedback / "autograded" / "transposed" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    rows = {row["anchor"]: row for row in summary_rows(nb)}
    assert sorted(rows) == ["test_count_parameters", "test_output_layer",
                            "test_rnn_cell_batch", "test_rnn_cell_unbatched"]  # fmt: skip
    assert rows["test_rnn_cell_batch"]["task"].startswith("Does rnn_cell match the reference")
    assert rows["test_rnn_cell_batch"]["passed"] is False
    assert "W_hh is transposed" in rows["test_rnn_cell_batch"]["diagnosis"]
    assert rows["test_output_layer"]["passed"] is True
    html = _page(feedback, "transposed").read_text()
    assert html.index("rnncourse-summary") < html.index("Student's answer")
    assert "W_hh is transposed" in html and "_grading.check" not in html


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")
@pytest.mark.parametrize("student", ["right", "transposed", "blank"])
def test_page_opens_offline_without_console_errors(feedback, student) -> None:
    """In Chromium, does the page render its table with no console error and no request that
    leaves the page (no CDN script, font or style)?"""
    from playwright.sync_api import sync_playwright

    page_file = _page(feedback, student)
    errors: list[str] = []
    outside: list[str] = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("request", lambda r: None if r.url.startswith(("file:", "data:", "about:"))
                    else outside.append(r.url))  # fmt: skip
            page.goto(page_file.as_uri())
            page.wait_for_load_state("load")
            rows = page.locator("#rnncourse-summary tbody tr").count()
        finally:
            browser.close()
    assert errors == [] and outside == []
    assert rows == 4
