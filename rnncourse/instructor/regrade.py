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
    check_assignment,
    export_status,
    folder,
    gradebook_url,
    sqlite_path,
    submitted_students,
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


def _needs_sqlite(course: Path) -> None:
    """Raise :class:`PreviewError` when the gradebook is on a database server: a preview grades
    into a copy of the SQLite file and an apply puts the copy in its place."""
    if sqlite_path(course) is None:
        raise PreviewError(
            "--preview and --apply work on a SQLite gradebook (they grade into a copy of the "
            "file); this course's gradebook is on a database server (CourseDirectory.db_url). "
            "Preview on a copy of the course with a SQLite gradebook instead"
        )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _scratch(course: Path, assignment: str) -> Path:
    return course / PREVIEW_DIR / assignment


def _copy_course(course: Path, scratch: Path, assignment: str) -> None:
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    shutil.copy2(course / "nbgrader_config.py", scratch / "nbgrader_config.py")
    shutil.copy2(course / "gradebook.db", scratch / "gradebook.db")
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
    _needs_sqlite(course)
    scratch = _scratch(course, assignment)
    _copy_course(course, scratch, assignment)
    outcomes = ag.autograde(scratch, assignment, force=True, **autograde_options)
    changes = _diff(task_scores(course, assignment), task_scores(scratch, assignment))
    record = {"gradebook_sha256": _sha256(course / "gradebook.db"),
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
    _needs_sqlite(course)
    scratch = _scratch(course, assignment)
    record_path = scratch / _RECORD
    if not record_path.is_file():
        raise PreviewError(
            f"no regrade preview of {assignment!r} to apply: run "
            f"`rnncourse autograde {assignment} --force --preview` first"
        )
    record = json.loads(record_path.read_text())
    if _sha256(course / "gradebook.db") != record["gradebook_sha256"]:
        raise PreviewError(
            "gradebook.db changed since the preview (another grading run or a manual grade); "
            f"preview again: `rnncourse autograde {assignment} --force --preview`"
        )
    staged = course / "gradebook.db.regrade"
    shutil.copy2(scratch / "gradebook.db", staged)
    os.replace(staged, course / "gradebook.db")
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
