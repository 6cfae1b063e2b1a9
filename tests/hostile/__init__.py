"""Hostile submissions for the instructor CLI tests, and a released course to grade them in.

:func:`released_course` runs ``nbgrader generate_assignment`` once per test session (it takes
tens of seconds) and every test copies the result, gradebook included.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from tests import _nbgrader
from tests.hostile.corpus import ASSIGNMENT, _answers

# A diagnosable mistake: W_hh used untransposed (the feedback and formgrader tests grade it).
TRANSPOSED = (
    "def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity='tanh'):\n"
    "    return torch.tanh(x @ weight_ih.T + bias_ih + h @ weight_hh + bias_hh)\n"
)


@functools.cache
def _template() -> Path:
    tmp = Path(tempfile.mkdtemp(prefix="rnncourse-cli-"))
    atexit.register(shutil.rmtree, tmp, True)
    return _nbgrader.make_course(tmp, [ASSIGNMENT])


def released_course(dest: Path) -> Path:
    """A fresh copy, at ``dest``, of a course with ``ex02_hidden_state`` generated."""
    shutil.copytree(_template(), dest)
    return dest


def submitted_course(dest: Path, **students: dict[str, str] | None) -> Path:
    """:func:`released_course` with one ``ex02_hidden_state`` submission per student.

    Each student submits the solution with the answer cells they name replaced
    (``grade_id -> source``); ``None`` submits the untouched release (a blank submission).
    """
    course = released_course(dest)
    release = _nbgrader.read(course / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    solution = _nbgrader.read(_nbgrader.solution_path(ASSIGNMENT))
    for student, sources in students.items():
        nb = release if sources is None else _answers(release, solution, **sources)
        _nbgrader.submit(course, student, ASSIGNMENT, nb)
    return course
