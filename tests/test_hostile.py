"""Does a batch of hostile submissions grade exactly as expected, without stopping the batch?

One ``rnncourse autograde --jobs 2`` batch grades every submission of ``tests/hostile/corpus.py``
(infinite loop, memory hog, os._exit, SystemExit, import error, deleted / edited locked cells,
changed points, malformed JSON, renamed and missing notebooks, huge output, rebound comparators,
grading helpers and references, disabled tracebacks, a submission too slow for the wall-time
limit) next to a good one, with a short per-cell timeout.
"""

from __future__ import annotations

import glob
import json
import os
import sqlite3
from pathlib import Path

import pytest

from rnncourse.instructor import autograde_parallel as ag
from rnncourse.instructor.audit import audit_assignment
from rnncourse.instructor.cli import main
from rnncourse.instructor.course import STATUS_FILE, gradebook_url, read_status
from tests import _nbgrader
from tests.hostile import released_course
from tests.hostile.corpus import ASSIGNMENT, CORPUS, FULL, MEMORY_MB

pytestmark = pytest.mark.slow

#: Per-cell limit inside nbgrader (interrupts the plain infinite loop).
CELL_TIMEOUT = "10"
#: Wall-time limit per submission: well above a normal run on a busy 2-core machine, below the
#: slow submission's 120 s of sleeping.
WALL_TIMEOUT = "90"


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module) -> Path:
    course = released_course(tmp_path_factory.mktemp("hostile") / "course")
    release = _nbgrader.read(course / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    solution = _nbgrader.read(_nbgrader.solution_path(ASSIGNMENT))
    for hostile in CORPUS:
        hostile.build(release, solution, course / "submitted" / hostile.student / ASSIGNMENT)
    argv = ["--course", str(course), "autograde", ASSIGNMENT, "--jobs", "2", "--no-progress"]
    argv += ["--cell-timeout", CELL_TIMEOUT]
    argv += ["--timeout", WALL_TIMEOUT, "--memory-mb", str(MEMORY_MB)]
    assert main(argv) == 0
    return course


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.mark.parametrize("hostile", CORPUS, ids=lambda h: h.student)
def test_scores_exact(batch: Path, hostile) -> None:
    """Does each hostile submission get exactly its expected score per task?"""
    assert _nbgrader.scores(batch, ASSIGNMENT).get(hostile.student) == hostile.expected


@pytest.mark.parametrize("hostile", CORPUS, ids=lambda h: h.student)
def test_run_status(batch: Path, hostile) -> None:
    """Is each run recorded as graded, failed or timed out, as expected, with a reason?"""
    record = read_status(batch, ASSIGNMENT)[hostile.student]
    assert record["status"] == hostile.status
    assert bool(record["reason"]) == (hostile.status != ag.GRADED)


def test_batch_completes_and_good_untouched(batch: Path) -> None:
    """Did every submission get a status, and does the good one keep full marks?"""
    status = read_status(batch, ASSIGNMENT)
    assert sorted(status) == sorted(h.student for h in CORPUS)
    assert _nbgrader.scores(batch, ASSIGNMENT)["good"] == FULL


def test_memory_limit_applied(batch: Path) -> None:
    """Did the 3 GiB allocation fail with MemoryError under the limit, not eat the machine?"""
    nb = _nbgrader.read(batch / "autograded" / "loop_and_hog" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    cell = next(
        c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "count_parameters"
    )
    assert [o.get("ename") for o in cell.outputs if o.output_type == "error"] == ["MemoryError"]


def test_no_kernel_left_running(batch: Path) -> None:
    """Were the timed-out submission's worker and kernel killed, and every scratch course
    removed (nothing runs in the course or in a job's scratch copy of it)?"""
    import tempfile

    import psutil

    tmp = tempfile.gettempdir()
    scratch = tuple(os.path.join(tmp, f"rnncourse-{ASSIGNMENT}-{h.student}-") for h in CORPUS)

    def inside(proc: psutil.Process) -> bool:
        try:
            return proc.cwd().startswith((str(batch), *scratch))  # kernels run in the scratch
        except (psutil.Error, OSError):
            return False

    assert [p.info for p in psutil.process_iter(["pid", "cmdline"]) if inside(p)] == []
    assert [path for prefix in scratch for path in glob.glob(f"{prefix}*")] == []


def test_gradebook_consistent(batch: Path) -> None:
    """Is the gradebook intact, with one grade per graded cell and the release's max scores?"""
    from nbgrader.api import Gradebook

    with sqlite3.connect(batch / "gradebook.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with Gradebook(gradebook_url(batch)) as gb:
        assignment = gb.find_assignment(ASSIGNMENT)
        assert {c.name: c.max_score for c in assignment.notebooks[0].grade_cells} == FULL
        for submission in gb.assignment_submissions(ASSIGNMENT):
            grades = submission.notebooks[0].grades
            assert sorted(g.name for g in grades) == sorted(FULL)
            assert all(g.score <= g.max_score for g in grades)
    assert json.loads((batch / STATUS_FILE).read_text())  # the status file parses


@pytest.mark.parametrize("hostile", [h for h in CORPUS if h.flags], ids=lambda h: h.student)
def test_audit_flags_hostile(batch: Path, hostile) -> None:
    """Does the audit raise each expected category on the hostile submission?"""
    found = {
        f.category for f in audit_assignment(batch, ASSIGNMENT) if f.student == hostile.student
    }
    assert hostile.flags <= found


def test_audit_spares_good(batch: Path) -> None:
    """Is the good submission left unflagged?"""
    assert [f for f in audit_assignment(batch, ASSIGNMENT) if f.student == "good"] == []
