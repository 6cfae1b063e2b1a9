"""Are honest notebooks graded fairly, and do Validate and autograde say the same thing?

The corpus (:mod:`tests.ordinary.corpus`) holds whole ex02 notebooks as learners leave them,
each with the score a fair human grader gives. They are graded three times, through the real
tools, sandbox and trusted checks on: plain ``nbgrader autograde``, ``rnncourse autograde``
(in a copy of the course), and nbgrader's ``Validator`` (what the Validate button and
``nbgrader validate`` run, the notebook's own test cells executed in the learner's kernel).
For every case and task: the score is the fair one under both autograders, the task fails
under Validate exactly when it loses points, and with the same words.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from rnncourse.instructor.cli import main
from tests import _nbgrader
from tests.ordinary.corpus import (
    ASSIGNMENT,
    CASES,
    CELL_TIMEOUT,
    POINTS,
    Case,
    add_written_question,
    notebook,
)

pytestmark = pytest.mark.slow

_ANSI = re.compile(r"\x1b\[[0-9;]*m")

# nbgrader's Validator as the Validate button runs it, over many notebooks in one process:
# prints one JSON line per notebook with the failed cells' source and error text.
_VALIDATE = """
import json, sys
from nbgrader.apps import ValidateApp
from nbgrader.validator import Validator
app = ValidateApp()
app.initialize([])
validator = Validator(parent=app)
for path in sys.argv[1:]:
    print(json.dumps({"path": path, "results": validator.validate(path)}), flush=True)
"""


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The corpus submitted to a course, graded by each tool; ``tool -> course``."""
    tmp = tmp_path_factory.mktemp("ordinary")
    course = _nbgrader.release.stage_course(tmp / "course", [ASSIGNMENT])
    source = _nbgrader.solution_path(ASSIGNMENT, course)
    solution = add_written_question(_nbgrader.read(source))
    nbformat.write(solution, source)
    _nbgrader.release.generate(course, ASSIGNMENT)
    release = _nbgrader.read(_nbgrader.release_path(ASSIGNMENT, course))
    for case in CASES:
        _nbgrader.submit(course, case.student, ASSIGNMENT, notebook(case, release, solution))
    with open(course / "nbgrader_config.py", "a") as config:  # the cell limit, the nbgrader way
        config.write(f"\nc.Execute.timeout = {CELL_TIMEOUT}\n")
    other = tmp / "course-rnncourse"
    shutil.copytree(course, other)

    # plain nbgrader grades one notebook at a time, Validate too: they run side by side, then
    # rnncourse autograde with two jobs
    env = _nbgrader.release.nbgrader_env()
    paths = [str(course / "submitted" / c.student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
             for c in CASES]  # fmt: skip
    validating = subprocess.Popen(
        [sys.executable, "-c", _VALIDATE, *paths], cwd=course, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    autograde = subprocess.run(
        [str(_nbgrader.release.NBGRADER), "autograde", ASSIGNMENT, "--log-level=WARN"],
        cwd=course, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    out, _ = validating.communicate(timeout=1800)
    assert autograde.returncode == 0 and validating.returncode == 0, autograde.stderr[-2000:]
    results = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    (tmp / "validate.json").write_text(json.dumps(results))
    argv = ["--course", str(other), "autograde", ASSIGNMENT, "--jobs", "2", "--no-progress"]
    assert main(argv) == 0
    return {"nbgrader": course, "rnncourse": other, "validate": tmp / "validate.json"}


def _grades(course: Path, student: str) -> dict[str, tuple[float, bool]]:
    """``grade_id -> (score, needs manual grading)`` from the course's gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        submission = gb.find_submission(ASSIGNMENT, student)
        return {g.name: (float(g.score), bool(g.needs_manual_grade))
                for g in submission.notebooks[0].grades}  # fmt: skip


def _autograded(course: Path, student: str):
    return _nbgrader.read(course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")


def _cell(nb, grade_id: str):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _error_text(cell) -> str:
    return "\n".join("\n".join(o.traceback) for o in cell.outputs if o.output_type == "error")


def _validate_failures(graded: dict[str, Path], case: Case) -> dict[str, str]:
    """``grade_id -> error text`` of the graded cells that fail under Validate."""
    path = str(graded["nbgrader"] / "submitted" / case.student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    result = next(r for r in json.loads(graded["validate"].read_text()) if r["path"] == path)
    assert set(result["results"]) <= {"failed"}, result["results"]  # no changed or retyped cells
    submitted = _nbgrader.read(Path(path))
    graded_cells = [c for c in submitted.cells if c.metadata.get("nbgrader", {}).get("grade")]
    by_source = {c.source.strip(): c.metadata.nbgrader.grade_id for c in graded_cells}
    return {by_source[f["source"]]: _ANSI.sub("", f["raw_error"])
            for f in result["results"].get("failed", [])}  # fmt: skip


@pytest.mark.parametrize("tool", ["nbgrader", "rnncourse"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.student)
def test_scores_what_a_fair_grader_gives(graded: dict[str, Path], case: Case, tool: str) -> None:
    """Does each notebook earn, per task, what a fair human grader gives it?"""
    grades = _grades(graded[tool], case.student)
    assert set(grades) == set(case.expect)
    for grade_id, expected in case.expect.items():
        score, manual = grades[grade_id]
        if expected is None:  # a written answer: left for a person, in the formgrader
            assert manual, (grade_id, case.why)
        else:
            assert score == expected, (grade_id, score, case.why)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.student)
def test_validate_agrees_with_autograde(graded: dict[str, Path], case: Case) -> None:
    """Does a task fail under Validate exactly when autograde takes its points, with the
    words the feedback shows?"""
    failures = _validate_failures(graded, case)
    autograded = _autograded(graded["nbgrader"], case.student)
    for grade_id, expected in case.expect.items():
        lost = expected is not None and expected < POINTS[grade_id]
        assert (grade_id in failures) == lost, (grade_id, failures.get(grade_id), case.why)
        cell = _cell(autograded, grade_id)
        if lost and cell.cell_type == "code":
            # a check's verdict comes first in the kernel, where the learner's own frames may
            # follow; Python's errors (a name not defined) come last, after the frames
            words, shown = _error_text(cell), failures[grade_id]
            verdict = words.startswith("AssertionError: ")
            assert words and (shown.startswith(words) if verdict else shown.endswith(words)), (
                shown, words)  # fmt: skip


def test_verdict_comes_first_and_whole(graded: dict[str, Path]) -> None:
    """Does Validate show a diagnosed mistake as the verdict itself, hint included, in lines
    of at most 80 characters, without the grader's frames?"""
    case = next(c for c in CASES if c.student == "transposed_w_hh")
    text = _validate_failures(graded, case)["test_rnn_cell_batch"]
    assert text.startswith("AssertionError: rnn_cell is wrong for"), text
    assert "Likely mistake:" in text and "Traceback" not in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_a_cell_that_does_not_parse_costs_only_its_tasks(graded: dict[str, Path]) -> None:
    """Does the missing colon fail rnn_cell's tasks with Python's own NameError (no talk of
    forbidden code), and does the verdict record which cell did not parse?"""
    nb = _autograded(graded["nbgrader"], "missing_colon")
    cell = _cell(nb, "test_rnn_cell_batch")
    assert _error_text(cell) == "NameError: name 'rnn_cell' is not defined"
    verdict = cell.metadata["rnncourse"]["verdict"]
    assert verdict["kind"] == "did-not-parse" and verdict["why"] == "line 1: expected ':'"
    assert verdict["cell"].startswith('the cell that begins "def rnn_cell(x, h,')
    for other in ("test_output_layer", "test_count_parameters"):
        assert _cell(nb, other).metadata["rnncourse"]["verdict"] == {"passed": True}


def test_a_passing_test_says_so_in_one_line(graded: dict[str, Path]) -> None:
    """Does every passing test cell print one line, the same under both autograders?"""
    for tool in ("nbgrader", "rnncourse"):
        nb = _autograded(graded[tool], "solution")
        for grade_id in ("test_rnn_cell_batch", "test_output_layer", "test_count_parameters"):
            text = "".join(o.text for o in _cell(nb, grade_id).outputs if o.output_type == "stream")
            assert text.count("\n") == 1 and " passes: " in text, (tool, grade_id, text)


def test_report_says_why_a_task_failed(
    graded: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Does ``rnncourse report`` list, per student, the tasks lost for a reason other than a
    wrong value (a cell that did not parse, the learner's own exception), with the cell?"""
    from rnncourse.instructor.report import build_report, write_report

    report = build_report(graded["nbgrader"], ASSIGNMENT)
    got = {(student, task): (kind, detail) for student, task, kind, detail in report.failures}
    kind, detail = got["missing_colon", "test_rnn_cell_batch"]
    assert kind == "did-not-parse" and "expected ':'" in detail
    assert detail.startswith('the cell that begins "def rnn_cell(x, h,')
    kind, detail = got["batched_only", "test_rnn_cell_unbatched"]
    assert kind == "raised" and "ValueError" in detail
    # wrong values are the mistakes table's business; everyone else lost nothing
    assert {student for student, _ in got} == {"missing_colon", "batched_only"}
    paths = write_report(report, tmp_path)
    assert "did-not-parse" in paths["failures.csv"].read_text()
    argv = ["--course", str(graded["nbgrader"]), "report", ASSIGNMENT, "--out", str(tmp_path)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    section = printed.split("Tasks lost for a reason other than a wrong value")[1]
    assert "missing_colon" in section and "did-not-parse" in section and "batched_only" in section
