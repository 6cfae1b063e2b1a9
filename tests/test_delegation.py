"""From-scratch tasks handed to the reference or to torch's kernels score nothing.

Every route of ``tests/delegation/corpus.py`` is graded by ``nbgrader autograde`` with the
course's configuration (trusted checks, the source scanner of
:mod:`rnncourse.grading.static`), one batch per assignment (two submissions at a time), beside
an honest submission (the instructor's answers) and a blank one (the release): the delegated
task scores what the blank scores (0), every other task what the honest answers score (full
marks).
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from tests import _nbgrader
from tests.delegation import corpus
from tests.delegation.corpus import EX02, EX07, ROUTES, Route

CELL_TIMEOUT = 10  # seconds
BLANK = "blank"


def _graded(tmp: Path, assignment: str) -> tuple[Path, dict[str, dict[str, float]]]:
    course = _nbgrader.make_course(tmp, [assignment])
    release = _nbgrader.read(_nbgrader.release_path(assignment, course))
    solution = _nbgrader.read(_nbgrader.solution_path(assignment))
    routes: list[Route | None] = [r for r in ROUTES if r.assignment == assignment]
    for route in [*routes, None]:
        nb = corpus.notebook(assignment, release, solution, route)
        _nbgrader.submit(course, route.student if route else corpus.HONEST, assignment, nb)
    _nbgrader.submit(course, BLANK, assignment, release)
    _nbgrader.autograde_batch(course, assignment, CELL_TIMEOUT)
    return course, _nbgrader.scores(course, assignment)


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict]]:
    return {a: _graded(tmp_path_factory.mktemp(a), a) for a in (EX02, EX07)}


@pytest.mark.slow
@pytest.mark.parametrize("assignment", [EX02, EX07])
def test_honest_and_blank(graded, assignment: str) -> None:
    """Does the batch grade: full marks for the instructor's answers, nothing for the blank?"""
    _, scores = graded[assignment]
    assert scores[corpus.HONEST] == corpus.expected_honest(assignment)
    assert set(scores[BLANK].values()) == {0.0}


@pytest.mark.slow
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.student)
def test_route_scores_what_the_blank_scores(graded, route: Route) -> None:
    """Does each delegation score 0 on its task, like the blank, and full marks elsewhere?"""
    course, scores = graded[route.assignment]
    assert scores[route.student] == route.expected(), route.what
    delegated = [t for t, (_, task) in corpus.TESTS[route.assignment].items() if task == route.task]
    assert all(scores[route.student][t] == scores[BLANK][t] == 0.0 for t in delegated)
    path = course / "autograded" / route.student / route.assignment / f"{route.assignment}.ipynb"
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    outputs = json.dumps(
        [c.outputs for c in cells if c.metadata.get("nbgrader", {}).get("grade_id") in delegated]
    )
    assert "cannot be graded as written" in outputs, outputs[:2000]
