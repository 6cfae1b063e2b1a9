"""Grades from nbgrader's gradebook into Canvas and Moodle, as nbgrader export plugins.

Both are nbgrader :class:`~nbgrader.plugins.export.ExportPlugin` subclasses, so plain nbgrader
runs them::

    nbgrader export --exporter rnncourse.instructor.lms.CanvasExportPlugin --to exports/canvas.csv
    nbgrader export --exporter rnncourse.instructor.lms.MoodleExportPlugin \\
        --to exports/moodle.csv --MoodleExportPlugin.identifier=email

and ``rnncourse export --format canvas|moodle|csv`` runs the same classes (``csv`` is nbgrader's
own :class:`~nbgrader.plugins.export.CsvExportPlugin`, one row per student and assignment).
Both LMS files are wide: one row per student of the gradebook, one column per assignment, the
score as nbgrader's CSV export computes it (the submission's score less its late penalty, at
least 0). A student in the gradebook with no submission of an assignment is **missing**:
``missing = "blank"`` (the default) writes the LMS's "no grade" (so its own missing-submission
policy applies and no zero lands by accident), ``missing = "zero"`` writes 0, as nbgrader's CSV
does.

**Canvas** (``CanvasExportPlugin``): the Gradebook's *Import* takes a CSV in the layout of its
own *Export* (Canvas Instructor Guide, "How do I import grades in the Gradebook?" and "How do I
export grades in the Gradebook?"): the columns ``Student`` (``Last, First``), ``ID`` (the Canvas
user id), ``SIS User ID``, ``SIS Login ID`` and ``Section``, then one column per assignment,
titled ``Name (assignment id)`` to update an existing Canvas assignment or ``Name`` alone to
create a new one; a second row whose ``Student`` cell reads ``Points Possible`` holds each
assignment's maximum. Canvas matches a row to a learner by any of the identifier columns, so
``ID`` is nbgrader's ``lms_user_id`` (set by LTI or ``nbgrader db student import``) and ``SIS
Login ID`` the nbgrader student id (the hub user name). A missing submission is an empty cell.
A student without ``lms_user_id`` would get an empty ``ID``, which Canvas can match only when
the institution's SIS login happens to be the nbgrader id, so the export **refuses**
(:class:`MissingLmsIds`, naming them and how to map them: ``nbgrader db student import`` of a CSV
with the columns ``id,lms_user_id``) unless ``allow_missing_ids`` is set, and then it warns.

**Moodle** (``MoodleExportPlugin``): *Grades > Import > CSV file* maps one column (*Map from*)
to one user field (*Map to*: ``userid``, ``username``, ``useridnumber`` or ``useremail``) and
each remaining column to a grade item (Moodle Docs, "Grade import"; ``grade/import/csv`` in
Moodle's source). The columns are ``Username`` (the nbgrader student id), ``ID number``
(``lms_user_id``), ``First name``, ``Last name``, ``Email address``, then one column per
assignment. Moodle reads an empty cell or ``-`` as "no grade" (``-`` is what its own export
writes) and **aborts the whole import** when a row's identifier matches no user, so learners
without the field named by ``identifier`` are left out of the file, with a warning.
"""

from __future__ import annotations

import csv
import os
from typing import Any

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins.export import ExportPlugin
from traitlets import Bool, Dict, Enum, Unicode

__all__ = ["CanvasExportPlugin", "MoodleExportPlugin", "MissingLmsIds", "grade_table", "FORMATS"]

#: where the exports go when no ``to`` is given (git-ignored: a class's grades are never committed)
EXPORT_DIR = "exports"


class MissingLmsIds(ValueError):
    """Students without the LMS user id that the export needs; the message says how to map them."""


def grade_table(
    gradebook: Gradebook, assignments: list[str] | None = None, students: list[str] | None = None
) -> tuple[list[Any], list[tuple[Any, dict[str, float | None]]]]:
    """``(assignments, rows)``: the gradebook's assignments and per student ``(student,
    {assignment: score or None when not submitted})``, in nbgrader's order (assignments by due
    date, then name; students by last name, then first name).

    The score is nbgrader's export score: ``max(0, score - late_submission_penalty)``. The
    assignments and students are nbgrader's ORM objects (untyped, hence ``Any``).
    """
    wanted, who = set(map(str, assignments or [])), set(map(str, students or []))
    chosen = [a for a in gradebook.assignments if not wanted or a.name in wanted]
    rows = []
    for student in gradebook.students:
        if who and student.id not in who:
            continue
        scores: dict[str, float | None] = {}
        for assignment in chosen:
            try:
                submission = gradebook.find_submission(assignment.name, student.id)
            except MissingEntry:
                scores[assignment.name] = None
            else:
                scores[assignment.name] = max(
                    0.0, submission.score - submission.late_submission_penalty
                )
        rows.append((student, scores))
    return chosen, rows


def _number(value: float) -> str:
    """A score as a plain decimal, at most 4 places: ``7``, ``4.5`` (never ``1e+06``)."""
    return f"{value:.4f}".rstrip("0").rstrip(".")


def missing_ids_message(students: list[str]) -> str:
    """Which students lack a Canvas user id, and how to map them."""
    shown = ", ".join(students[:10]) + (
        f" and {len(students) - 10} more" if len(students) > 10 else ""
    )
    return (
        f"Canvas's ID column needs each student's Canvas user id (nbgrader's lms_user_id), and "
        f"{len(students)} student{'s have' if len(students) > 1 else ' has'} none: {shown}. "
        "Map them: write a CSV with the columns id,lms_user_id (the nbgrader id, the Canvas "
        "user id, as in Canvas's own grade export) and run `nbgrader db student import "
        "FILE.csv` in the course folder (it updates those two fields only); or export anyway "
        "with --allow-missing-id (rnncourse export) or "
        "--CanvasExportPlugin.allow_missing_ids=True (nbgrader export)"
    )


class _LmsExportPlugin(ExportPlugin):
    """Shared options of the LMS exporters: missing submissions, destination."""

    missing = Enum(
        ["blank", "zero"],
        default_value="blank",
        help="a missing submission: 'blank' (the LMS's no grade) or 'zero'",
    ).tag(config=True)

    default_to = f"{EXPORT_DIR}/grades.csv"
    no_grade = ""

    def cell(self, score: float | None) -> str:
        if score is None:
            return "0" if self.missing == "zero" else self.no_grade
        return _number(score)

    def write(self, header: list[str], rows: list[list[str]]) -> str:
        dest = self.to or self.default_to
        os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
        with open(dest, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
        self.log.info("Exported %d rows to %s", len(rows), dest)
        return dest


class CanvasExportPlugin(_LmsExportPlugin):
    """A Canvas Gradebook import CSV (see the module docstring for the format's source)."""

    section = Unicode("", help="the Section column (empty: Canvas keeps the enrolment's)").tag(
        config=True
    )
    assignment_ids = Dict(
        {},
        help="Canvas assignment id by nbgrader assignment name: the column 'Name (id)' updates "
        "that assignment; without one, Canvas creates a new assignment 'Name'",
    ).tag(config=True)
    points_possible = Bool(True, help="write the 'Points Possible' row").tag(config=True)
    allow_missing_ids = Bool(
        False,
        help="write students without an lms_user_id with an empty ID (Canvas then matches them "
        "by SIS Login ID, the nbgrader id, alone) instead of refusing",
    ).tag(config=True)

    default_to = f"{EXPORT_DIR}/grades-canvas.csv"

    def export(self, gradebook: Gradebook) -> None:
        assignments, table = grade_table(gradebook, self.assignment, self.student)
        self.missing_ids = [student.id for student, _ in table if not student.lms_user_id]
        if self.missing_ids:
            message = missing_ids_message(self.missing_ids)
            if not self.allow_missing_ids:
                # under `nbgrader export`, nbgrader's own error exit (a log line, status 1)
                fail = getattr(self.parent, "fail", None)
                if fail is not None:
                    fail("%s", message)
                raise MissingLmsIds(message)
            self.log.warning("%s; writing them with an empty ID (allow_missing_ids)", message)
        header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
        for a in assignments:
            canvas_id = self.assignment_ids.get(a.name)
            header.append(f"{a.name} ({canvas_id})" if canvas_id else a.name)
        rows = []
        if self.points_possible:
            maxima = [_number(a.max_score) for a in assignments]
            rows.append(["Points Possible", "", "", "", "", *maxima])
        for student, scores in table:
            name = ", ".join(n for n in (student.last_name, student.first_name) if n) or student.id
            rows.append(
                [name, student.lms_user_id or "", "", student.id, self.section,
                 *(self.cell(scores[a.name]) for a in assignments)]
            )  # fmt: skip
        self.write(header, rows)


class MoodleExportPlugin(_LmsExportPlugin):
    """A Moodle grade import CSV (see the module docstring for the format's source)."""

    identifier = Enum(
        ["username", "email", "idnumber"],
        default_value="username",
        help="the column to map to a Moodle user field: 'username' (nbgrader's student id) "
        "-> username, 'email' -> useremail, 'idnumber' (lms_user_id) -> useridnumber; learners "
        "without it are left out",
    ).tag(config=True)

    default_to = f"{EXPORT_DIR}/grades-moodle.csv"
    no_grade = "-"

    def export(self, gradebook: Gradebook) -> None:
        assignments, table = grade_table(gradebook, self.assignment, self.student)
        header = ["Username", "ID number", "First name", "Last name", "Email address"]
        header += [a.name for a in assignments]
        field = {"username": "id", "email": "email", "idnumber": "lms_user_id"}[self.identifier]
        rows, skipped = [], []
        for student, scores in table:
            if not getattr(student, field):
                skipped.append(student.id)
                continue
            rows.append(
                [student.id, student.lms_user_id or "", student.first_name or "",
                 student.last_name or "", student.email or "",
                 *(self.cell(scores[a.name]) for a in assignments)]
            )  # fmt: skip
        if skipped:
            self.log.warning(
                "Left out %d students without %s (Moodle aborts an import on an unknown user): %s",
                len(skipped),
                self.identifier,
                ", ".join(skipped),
            )
        self.skipped = skipped
        self.write(header, rows)


#: ``rnncourse export --format`` -> exporter class (``csv`` is nbgrader's own).
FORMATS = {
    "canvas": "rnncourse.instructor.lms.CanvasExportPlugin",
    "moodle": "rnncourse.instructor.lms.MoodleExportPlugin",
    "csv": "nbgrader.plugins.export.CsvExportPlugin",
}
