"""Regrade preview: see what a changed test or tolerance does to every grade before it counts.

After an instructor changes a test (and runs ``nbgrader generate_assignment --force`` so that the
gradebook holds it) or a tolerance in :mod:`rnncourse.grading`, ``rnncourse autograde ASSIGNMENT
--force --preview`` grades every submission in a scratch copy of the course
(``regrade_preview/ASSIGNMENT/``: the configuration, a copy of ``gradebook.db``, the assignment's
source, release and submissions) and prints, per student, the old and the new score and the
tasks that changed. The real gradebook, ``autograded/`` and the status file are not written.

``rnncourse autograde ASSIGNMENT --apply`` then commits exactly what was previewed: it checks that
the real gradebook has not changed since (its SHA-256 is recorded), replaces it with the scratch
copy, moves the scratch ``autograded/<student>/ASSIGNMENT`` folders into place and merges the
status entries. Nothing is graded a second time, so the applied scores are the previewed ones.

With the gradebook on a database server (``CourseDirectory.db_url``) there is no file to copy:
the scratch course gets a SQLite gradebook of its own, recorded by ``nbgrader
generate_assignment`` from the source (it must hold the server's cells of the assignment, else
the changed test has not been recorded yet, and the preview says so); the preview records a
fingerprint of the assignment's rows on the server, and the apply writes the previewed
automatic scores, comments and late penalties into them as nbgrader's ``SaveAutoGrades`` would
(manual scores are kept, and flagged for review as there).

Examples::

    >>> from rnncourse.instructor import regrade  # doctest: +SKIP
    >>> changes, outcomes = regrade.preview(".", "ex02_hidden_state", jobs=4)  # doctest: +SKIP
    >>> regrade.apply(".", "ex02_hidden_state")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rnncourse.instructor import autograde_parallel as ag
from rnncourse.instructor.course import (
    GRADEBOOK,
    check_assignment,
    export_status,
    folder,
    gradebook_url,
    read_status,
    sqlite_path,
    submitted_students,
    write_status,
)

__all__ = [
    "PREVIEW_DIR",
    "Change",
    "PreviewError",
    "task_scores",
    "preview",
    "apply",
    "format_changes",
]

#: Where the scratch course of a preview lives, inside the course folder.
PREVIEW_DIR = "regrade_preview"
_RECORD = "preview.json"


class PreviewError(RuntimeError):
    """No preview to apply, or the gradebook changed since it was made."""


@dataclass(frozen=True)
class Change:
    """One student's grade before and after the regrade; ``tasks``: ``task -> (old, new)``."""

    student: str
    old: float | None
    new: float | None
    tasks: dict[str, tuple[float | None, float | None]]


def task_scores(course: str | Path, assignment: str) -> dict[str, dict[str, float]]:
    """``student -> {task: score}`` in a course's gradebook (manual overrides included)."""
    from nbgrader.api import Gradebook

    out: dict[str, dict[str, float]] = {}
    with Gradebook(gradebook_url(Path(course))) as gb:
        for submission in gb.assignment_submissions(assignment):
            out[submission.student_id] = {
                grade.name: float(grade.score)
                for notebook in submission.notebooks
                for grade in notebook.grades
            }
    return out


def _fingerprint(url: str, assignment: str) -> str:
    """SHA-256 of everything the gradebook at ``url`` holds about ``assignment``: its cells and
    every submission's grades, comments, penalties and timestamp. On a database server, where
    there is no file to hash, it tells whether anything changed since a preview."""
    from nbgrader.api import Gradebook

    rows: list[Any] = []
    with Gradebook(url) as gb:
        for notebook in gb.find_assignment(assignment).notebooks:
            rows.append(sorted((c.name, c.checksum) for c in notebook.source_cells))
            rows.append(sorted((c.name, c.max_score) for c in notebook.grade_cells))
        for submission in sorted(gb.assignment_submissions(assignment), key=lambda s: s.student_id):
            rows.append([submission.student_id, str(submission.timestamp)])
            for nb in submission.notebooks:
                rows.append([nb.name, nb.late_submission_penalty, nb.flagged])
                rows.append(sorted((g.name, g.auto_score, g.manual_score, g.extra_credit,
                                    g.needs_manual_grade) for g in nb.grades))  # fmt: skip
                rows.append(sorted((c.name, c.auto_comment, c.manual_comment)
                                   for c in nb.comments))  # fmt: skip
    return hashlib.sha256(json.dumps(rows, default=str).encode()).hexdigest()


def _cells(url: str, assignment: str) -> list[Any]:
    from nbgrader.api import Gradebook

    with Gradebook(url) as gb:
        return [
            (nb.name, sorted((c.name, c.checksum) for c in nb.source_cells),
             sorted((c.name, c.max_score) for c in nb.grade_cells))
            for nb in sorted(gb.find_assignment(assignment).notebooks, key=lambda n: n.name)
        ]  # fmt: skip


def _scratch_gradebook(course: Path, scratch: Path, assignment: str) -> None:
    """The scratch course of a gradebook on a server: its own SQLite gradebook with the
    assignment as ``nbgrader generate_assignment`` records it (the due date copied), which
    must hold the same cells as the server's (else the server has not been given the changed
    test yet)."""
    import subprocess
    import sys

    from nbgrader.api import Gradebook

    url = gradebook_url(course)
    with Gradebook(url) as gb:
        duedate = gb.find_assignment(assignment).duedate
    with open(scratch / "nbgrader_config.py", "a") as config:
        config.write(f"\n# the preview's own gradebook\nc.CourseDirectory.db_url = "
                     f"{f'sqlite:///{scratch / GRADEBOOK}'!r}\n")  # fmt: skip
    nbgrader = str(Path(sys.executable).parent / "nbgrader")
    steps = [["db", "assignment", "add", assignment]
             + ([f"--duedate={duedate.isoformat()} UTC"] if duedate else []),
             ["generate_assignment", assignment, "--force"]]  # fmt: skip
    for step in steps:
        done = subprocess.run([nbgrader, *step, "--log-level=WARN"], cwd=scratch,
                              capture_output=True, text=True)  # fmt: skip
        if done.returncode != 0:
            raise PreviewError(f"nbgrader {' '.join(step)} failed in {scratch}: "
                               f"{done.stderr.strip()[-500:]}")  # fmt: skip
    if _cells(url, assignment) != _cells(gradebook_url(scratch), assignment):
        raise PreviewError(
            f"the gradebook's cells of {assignment!r} differ from {folder(course, 'source').name}/"
            f": record the changed test first with `nbgrader generate_assignment {assignment} "
            "--force`, then preview"
        )


def _apply_grades(scratch: Path, course: Path, assignment: str) -> None:
    """Write the preview's automatic grades into the server's gradebook as nbgrader's
    ``SaveAutoGrades`` and ``AssignLatePenalties`` would have (a manual score is kept and, as
    there, flagged for review), with the submission's timestamp."""
    from nbgrader.api import Gradebook

    with Gradebook(gradebook_url(scratch)) as new, Gradebook(gradebook_url(course)) as gb:
        for submission in new.assignment_submissions(assignment):
            student = submission.student_id
            gb.update_or_create_student(student)
            gb.update_or_create_submission(assignment, student, timestamp=submission.timestamp)
            for nb in submission.notebooks:
                target = gb.find_submission_notebook(nb.name, assignment, student)
                target.late_submission_penalty = nb.late_submission_penalty
                for grade in nb.grades:
                    mine = gb.find_grade(grade.name, nb.name, assignment, student)
                    mine.auto_score = grade.auto_score
                    mine.needs_manual_grade = (
                        mine.manual_score is not None or mine.auto_score is None
                    )
                for comment in nb.comments:
                    gb.find_comment(
                        comment.name, nb.name, assignment, student
                    ).auto_comment = comment.auto_comment
        gb.db.commit()
        for student, record in read_status(scratch, assignment).items():
            write_status(course, assignment, student, record)


def _state(course: Path, assignment: str) -> str:
    """What must not change between a preview and its apply: the SQLite file's SHA-256 (the
    apply replaces the whole file), or on a server the assignment's :func:`_fingerprint`."""
    path = sqlite_path(course)
    if path is None:
        return _fingerprint(gradebook_url(course), assignment)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _manual_scores(course: Path, assignment: str) -> dict[str, dict[str, float]]:
    """``student -> {task: manual score}`` of the grades a person overrode."""
    from nbgrader.api import Gradebook

    out: dict[str, dict[str, float]] = {}
    with Gradebook(gradebook_url(course)) as gb:
        for submission in gb.assignment_submissions(assignment):
            for nb in submission.notebooks:
                for grade in nb.grades:
                    if grade.manual_score is not None:
                        out.setdefault(submission.student_id, {})[grade.name] = float(grade.score)
    return out


def _scratch(course: Path, assignment: str) -> Path:
    return course / PREVIEW_DIR / assignment


def _copy_course(course: Path, scratch: Path, assignment: str) -> None:
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    shutil.copy2(course / "nbgrader_config.py", scratch / "nbgrader_config.py")
    if sqlite_path(course) is not None:
        shutil.copy2(course / GRADEBOOK, scratch / GRADEBOOK)
    for step in ("source", "release"):
        if (folder(course, step) / assignment).is_dir():
            top = folder(course, step).name
            shutil.copytree(course / top / assignment, scratch / top / assignment)
    submitted = folder(course, "submitted").name
    for student in submitted_students(course, assignment):
        shutil.copytree(course / submitted / student / assignment,
                        scratch / submitted / student / assignment)  # fmt: skip


def _diff(old: dict[str, dict[str, float]], new: dict[str, dict[str, float]]) -> list[Change]:
    changes = []
    for student in sorted(set(old) | set(new)):
        before, after = old.get(student, {}), new.get(student, {})
        tasks = {
            task: (before.get(task), after.get(task))
            for task in sorted(set(before) | set(after))
            if before.get(task) != after.get(task)
        }
        total_old = sum(before.values()) if student in old else None
        total_new = sum(after.values()) if student in new else None
        changes.append(Change(student, total_old, total_new, tasks))
    return changes


def preview(
    course: str | Path, assignment: str, **autograde_options: Any
) -> tuple[list[Change], list]:
    """Grade every submission of ``assignment`` in a scratch copy and compare with the gradebook.

    Args:
        course: the nbgrader course folder.
        assignment: an assignment in the gradebook.
        autograde_options: passed to :func:`rnncourse.instructor.autograde_parallel.autograde`
            (``jobs``, ``timeout``, ``memory_mb``, ``sandbox``, ``progress``); every submission is
            graded.

    Outputs:
        ``(changes, outcomes)``: one :class:`Change` per student (also those unchanged), and the
        scratch run's outcomes. The real gradebook is not written.
    """
    course = Path(course).resolve()
    check_assignment(course, assignment)
    scratch = _scratch(course, assignment)
    _copy_course(course, scratch, assignment)
    on_server = sqlite_path(course) is None
    if on_server:
        _scratch_gradebook(course, scratch, assignment)
    outcomes = ag.autograde(scratch, assignment, force=True, **autograde_options)
    new = task_scores(scratch, assignment)
    if on_server:  # a manual score stays what counts, as in a copy of the gradebook
        for student, tasks in _manual_scores(course, assignment).items():
            new.setdefault(student, {}).update(tasks)
    changes = _diff(task_scores(course, assignment), new)
    record = {"gradebook_sha256": _state(course, assignment),
              "changes": [asdict(c) for c in changes]}  # fmt: skip
    (scratch / _RECORD).write_text(json.dumps(record, indent=1))
    return changes, outcomes


def apply(course: str | Path, assignment: str) -> list[Change]:
    """Commit the preview of ``assignment``: its gradebook, autograded folders and statuses.

    Raises:
        PreviewError: there is no preview, or ``gradebook.db`` changed since it was made.
    """
    course = Path(course).resolve()
    check_assignment(course, assignment)
    scratch = _scratch(course, assignment)
    record_path = scratch / _RECORD
    if not record_path.is_file():
        raise PreviewError(
            f"no regrade preview of {assignment!r} to apply: run "
            f"`rnncourse autograde {assignment} --force --preview` first"
        )
    record = json.loads(record_path.read_text())
    if _state(course, assignment) != record["gradebook_sha256"]:
        raise PreviewError(
            "the gradebook changed since the preview (another grading run or a manual grade); "
            f"preview again: `rnncourse autograde {assignment} --force --preview`"
        )
    if sqlite_path(course) is None:
        _apply_grades(scratch, course, assignment)
    else:
        staged = course / f"{GRADEBOOK}.regrade"
        shutil.copy2(scratch / GRADEBOOK, staged)
        os.replace(staged, course / GRADEBOOK)
    autograded = folder(course, "autograded").name
    for graded in sorted((scratch / autograded).glob(f"*/{assignment}")):
        target = course / autograded / graded.parent.name / assignment
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(graded), str(target))
    export_status(course)  # the statuses came with the scratch gradebook
    changes = [
        Change(c["student"], c["old"], c["new"], {k: tuple(v) for k, v in c["tasks"].items()})
        for c in record["changes"]
    ]
    shutil.rmtree(scratch, ignore_errors=True)
    return changes


def format_changes(changes: list[Change]) -> list[list[Any]]:
    """Table rows ``[student, old, new, changed tasks]`` for the CLI."""

    def score(value: float | None) -> str:
        return "-" if value is None else f"{value:g}"

    rows = []
    for c in changes:
        tasks = ", ".join(f"{t} {score(a)}->{score(b)}" for t, (a, b) in c.tasks.items())
        rows.append([c.student, score(c.old), score(c.new), tasks or "unchanged"])
    return rows
