"""Manual grading in nbgrader's formgrader, in a real browser, with the course's configuration.

Two submissions of ``ex02_hidden_state`` (right, and one with W_hh transposed) go through real
``nbgrader autograde``; a real Jupyter server with nbgrader's formgrader extension then serves the
course, and headless Chromium opens the mistaken submission's grading page, writes a comment on
an answer, overrides the score of a failed test cell and grades a written answer by hand (the
course here adds a hand-graded written question to ex02, as the ordinary-notebook corpus does).
The gradebook, ``nbgrader export`` and ``nbgrader generate_feedback`` must all see them, and so
must the formgrader's own "generate feedback" button. Two fast tests check the
configuration behind it: the course's feedback template reaches feedback pages only (through
``FeedbackExporter``), never the ``HTMLExporter`` that renders the formgrader's pages.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config, PyFileConfigLoader

from rnncourse.instructor.feedback import (
    TEMPLATE,
    TEMPLATE_DIR,
    FeedbackExporter,
    formgrader_templates,
)
from tests import _nbgrader
from tests._formgrader import Server, formgrader
from tests._site import CHROMIUM, launch_chromium
from tests.hostile import TRANSPOSED
from tests.hostile.corpus import ASSIGNMENT, _answers
from tests.ordinary.corpus import add_written_question


# The end-to-end tests (real nbgrader, server and browser); the configuration tests are fast.
def _end_to_end(test: Any) -> Any:
    test = pytest.mark.slow(test)
    return pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")(test)


STUDENT = "transposed"
COMMENT = "Mind which way the hidden-to-hidden weights go (formgrader comment 7f3a)."
GRADED_CELLS = ["test_count_parameters", "test_output_layer",
                "test_rnn_cell_batch", "test_rnn_cell_unbatched", "written"]  # fmt: skip
GRADED_CELL = "test_rnn_cell_batch"  # a test cell the transposed answer fails (0 of 2 points)
PARTIAL = 1.0  # the instructor's partial credit for it
WRITTEN = "written"  # the hand-graded written answer (1 point)
WRITTEN_SCORE = 0.5  # what the instructor gives it
# formgrade.js fetches the page's grades and comments, then binds the inputs to them.
LOADED = "() => window.formgrader?.grades?.loaded && formgrader.comments?.loaded"


def _course_config() -> Config:
    return PyFileConfigLoader("nbgrader_config.py", path=str(_nbgrader.ROOT)).load_config()


def test_course_config_leaves_the_formgrader_its_template() -> None:
    """Does the course's config give the formgrader's HTMLExporter its own template
    (``formgrade``), and feedback pages the course's, through FeedbackExporter?"""
    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader.formgrader import FormgradeExtension

    config = FormgradeExtension().build_extra_config()  # as the formgrader's server does
    config.merge(_course_config())
    assert HTMLExporter(config=config).template_name == "formgrade"
    assert config.GenerateFeedback.exporter_class is FeedbackExporter
    assert FeedbackExporter(config=config).template_name == TEMPLATE


def test_feedback_exporter_takes_its_template_from_its_own_section() -> None:
    """Does ``HTMLExporter`` config (nbgrader's ``feedback``) leave the feedback template alone,
    while ``FeedbackExporter`` config changes it, and is the config given left unchanged?"""
    config = Config()
    config.HTMLExporter.template_name = "feedback"
    config.HTMLExporter.extra_template_paths = ["/bootstrap/css"]
    exporter = FeedbackExporter(config=config)
    assert exporter.template_name == TEMPLATE
    assert exporter.extra_template_basedirs == [formgrader_templates(), TEMPLATE_DIR]
    assert exporter.extra_template_paths == ["/bootstrap/css"]  # the rest of HTMLExporter's
    assert "FeedbackExporter" not in config
    config.FeedbackExporter.template_name = "classic"
    assert FeedbackExporter(config=config).template_name == "classic"


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import nbformat

    course = _nbgrader.release.stage_course(tmp_path_factory.mktemp("formgrader") / "course",
                                            [ASSIGNMENT])  # fmt: skip
    source = _nbgrader.solution_path(ASSIGNMENT, course)
    solution = add_written_question(_nbgrader.read(source))
    nbformat.write(solution, source)
    _nbgrader.release.generate(course, ASSIGNMENT)
    release = _nbgrader.read(_nbgrader.release_path(ASSIGNMENT, course))
    for student, answers in {"right": {}, STUDENT: {"rnn_cell": TRANSPOSED}}.items():
        answers = {**answers, WRITTEN: "It carries a summary of the inputs so far."}
        _nbgrader.submit(course, student, ASSIGNMENT, _answers(release, solution, **answers))
    _nbgrader.nbgrader(course, "autograde", ASSIGNMENT)
    return course


def _gradebook(course: Path) -> Any:
    from nbgrader.api import Gradebook

    return Gradebook(f"sqlite:///{course / 'gradebook.db'}")


def _feedback_page(course: Path) -> Path:
    return course / "feedback" / STUDENT / ASSIGNMENT / f"{ASSIGNMENT}.html"


def _loads_from_outside(html: str) -> list[str]:
    """Scripts, styles and images the page would fetch from another host."""
    return re.findall(r'<(?:script|link|img)[^>]*(?:src|href)="(?:https?:)?//[^"]*"', html)


@pytest.fixture(scope="module")
def server(course: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``jupyter server`` rooted at the course, formgrader enabled, stopped after the module."""
    with formgrader(course, tmp_path_factory.mktemp("jupyter")) as srv:
        yield srv


@dataclass
class Visit:
    """What the browser saw on the grading page, and what it saved."""

    status: int
    graded_inputs: list[str] = field(default_factory=list)
    text: str = ""
    saves: list[tuple[str, int]] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    reloaded_score: str = ""
    reloaded_written: str = ""
    reloaded_comment: str = ""
    feedback_made: tuple[int, bool] = (0, False)  # by the formgrader: HTTP status, success
    feedback: str = ""  # the page it wrote


@pytest.fixture(scope="module")
def visit(course: Path, server: Server) -> Visit:
    """Log in, open the transposed submission's grading page; if it opens, comment on the
    ``rnn_cell`` answer and give partial credit on a failed test cell, then reload the page."""
    from playwright.sync_api import sync_playwright

    with _gradebook(course) as gb:
        submission_id = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, STUDENT).id
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page()
            # Nothing but the server, so the run is the same online and offline (nbgrader's
            # formgrade template asks a CDN for MathJax: see the page-error check).
            page.route(re.compile(r"^(?!" + re.escape(server.url) + r"/)"), lambda r: r.abort())
            seen = Visit(0)
            page.on("pageerror", lambda exc: seen.page_errors.append(str(exc)))
            page.on("response", lambda r: seen.server_errors.append(f"{r.status} {r.url}")
                    if r.url.startswith(server.url) and r.status >= 400 else None)  # fmt: skip
            # The instructor logs in with the server's token (a session cookie for the API).
            page.goto(f"{server.url}/login")
            page.fill("#password_input", server.token)
            with page.expect_navigation():
                page.click("#login_submit")
            response = page.goto(f"{server.url}/formgrader/submissions/{submission_id}/")
            assert response is not None
            seen.status = response.status
            if response.status != 200:
                return seen
            page.wait_for_function(LOADED)
            seen.graded_inputs = page.locator(".nbgrader_cell input.score").evaluate_all(
                "inputs => inputs.map(i => i.id)"
            )
            seen.text = page.inner_text("#notebook")
            saves = [("#rnn_cell-comment", COMMENT, "/api/comment/"),
                     (f"#{GRADED_CELL}", f"{PARTIAL:g}", "/api/grade/"),
                     (f"#{WRITTEN}", f"{WRITTEN_SCORE:g}", "/api/grade/")]  # fmt: skip
            for selector, value, api in saves:
                box = page.locator(selector)
                with page.expect_response(
                    lambda r, api=api: api in r.url and r.request.method == "PUT"
                ) as saved:
                    box.fill(value)
                    box.blur()  # the formgrader saves on "change"
                seen.saves.append((api, saved.value.status))
            page.reload()
            page.wait_for_function(LOADED)
            seen.reloaded_score = page.input_value(f"#{GRADED_CELL}")
            seen.reloaded_written = page.input_value(f"#{WRITTEN}")
            seen.reloaded_comment = page.input_value("#rnn_cell-comment")
            # The formgrader's own "generate feedback" button, on the submissions page.
            page.goto(f"{server.url}/formgrader/manage_submissions/{ASSIGNMENT}/")
            page.wait_for_function("() => window.models?.loaded")
            row = page.locator("#main-table tr").filter(
                has=page.locator("td.student-id", has_text=STUDENT)
            )
            with page.expect_response(
                lambda r: r.url.endswith(f"/{STUDENT}/generate_feedback"), timeout=180_000
            ) as made:
                row.locator(".generate-feedback a").click()
            seen.feedback_made = (made.value.status, bool(json.loads(made.value.text())["success"]))
            seen.feedback = _feedback_page(course).read_text()
        finally:
            browser.close()
    return seen


@_end_to_end
def test_grading_page_opens_with_autograded_cells(visit: Visit, server: Server) -> None:
    """Does the formgrader's page for a submission open (HTTP 200), with a score input for every
    graded cell and the autograder's verdict, and every request to the server answered?"""
    assert visit.status == 200, f"grading page: HTTP {visit.status}\n{server.tail()}"
    assert sorted(visit.graded_inputs) == GRADED_CELLS
    assert "W_hh is transposed" in visit.text
    assert visit.server_errors == []
    # nbgrader's formgrade template calls MathJax, which it loads from a CDN (blocked here).
    assert [e for e in visit.page_errors if "MathJax" not in e] == []


@_end_to_end
def test_comment_and_partial_credit_reach_the_gradebook(visit: Visit, course: Path) -> None:
    """Are the comment, the overridden score and the hand grade of the written answer saved
    (HTTP 200), shown again after a reload, and in the gradebook, counting in the total?"""
    assert visit.saves == [("/api/comment/", 200), ("/api/grade/", 200), ("/api/grade/", 200)]
    assert float(visit.reloaded_score) == PARTIAL
    assert float(visit.reloaded_written) == WRITTEN_SCORE
    assert visit.reloaded_comment == COMMENT
    with _gradebook(course) as gb:
        grade = gb.find_grade(GRADED_CELL, ASSIGNMENT, ASSIGNMENT, STUDENT)
        assert grade.auto_score == 0 and grade.manual_score == PARTIAL and grade.score == PARTIAL
        written = gb.find_grade(WRITTEN, ASSIGNMENT, ASSIGNMENT, STUDENT)
        assert written.auto_score is None and written.manual_score == WRITTEN_SCORE
        assert not written.needs_manual_grade
        comment = gb.find_comment("rnn_cell", ASSIGNMENT, ASSIGNMENT, STUDENT)
        assert comment.comment == COMMENT
        notebook = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, STUDENT)
        auto_total = sum(g.auto_score or 0 for g in notebook.grades)
        assert notebook.score == auto_total + PARTIAL + WRITTEN_SCORE


@_end_to_end
def test_export_has_the_partial_credit(visit: Visit, course: Path) -> None:
    """Does ``nbgrader export`` write the total with the instructor's partial credit?"""
    assert visit.status == 200
    with _gradebook(course) as gb:
        notebook = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, STUDENT)
        expected = sum(g.auto_score or 0 for g in notebook.grades) + PARTIAL + WRITTEN_SCORE
    _nbgrader.nbgrader(course, "export", "--to", "grades.csv")
    with (course / "grades.csv").open(newline="") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    assert float(rows[STUDENT]["score"]) == expected
    # the right answers: every test passed; the written answer is not graded yet
    assert float(rows["right"]["score"]) == 7 and float(rows["right"]["max_score"]) == 8


@_end_to_end
def test_formgrader_generates_the_course_feedback(visit: Visit) -> None:
    """Does the formgrader's "generate feedback" button write the course's feedback page (per-task
    table, nothing loaded from outside), with the comment and the partial credit?"""
    assert visit.feedback_made == (200, True)
    assert "rnncourse-summary" in visit.feedback
    assert _loads_from_outside(visit.feedback) == []
    assert COMMENT in visit.feedback and f"{PARTIAL:g} / 2" in visit.feedback


@_end_to_end
def test_feedback_shows_comment_and_partial_credit(visit: Visit, course: Path) -> None:
    """Does ``nbgrader generate_feedback`` (the course's template) show the comment and the
    partial credit in the learner's per-task table, and load nothing from outside?"""
    assert visit.status == 200
    _nbgrader.nbgrader(course, "generate_feedback", ASSIGNMENT, "--force")
    html = _feedback_page(course).read_text()
    assert "rnncourse-summary" in html
    assert _loads_from_outside(html) == []
    assert COMMENT in html
    assert f"{PARTIAL:g} / 2" in html
