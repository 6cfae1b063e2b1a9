"""``rnncourse export``: the gradebook's grades as a Canvas or Moodle import file (or nbgrader's own
CSV). The exporters are in :mod:`rnncourse.instructor.lms`, imported when the command runs (they
load nbgrader)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "grades as a Canvas or Moodle import CSV"
FORMATS = ("canvas", "csv", "moodle")  # rnncourse.instructor.lms.FORMATS, without nbgrader


def _assignment_id(text: str) -> tuple[str, str]:
    name, sep, canvas_id = text.partition("=")
    if not sep or not name or not canvas_id:
        raise argparse.ArgumentTypeError(f"expected NAME=ID, got {text!r}")
    return name, canvas_id


def add_arguments(parser) -> None:
    """The options of ``rnncourse export``."""
    parser.add_argument(
        "--format",
        choices=FORMATS,
        required=True,
        help="canvas or moodle import CSV, or nbgrader's own csv",
    )
    parser.add_argument(
        "--to",
        default=None,
        metavar="FILE",
        help="default: COURSE/exports/grades-FORMAT.csv (grades.csv for csv); exports/ is "
        "git-ignored",
    )
    parser.add_argument(
        "--assignment",
        action="append",
        default=None,
        metavar="NAME",
        help="export only this assignment (repeatable)",
    )
    parser.add_argument(
        "--student",
        action="append",
        default=None,
        metavar="ID",
        help="export only this student (repeatable)",
    )
    parser.add_argument(
        "--missing",
        choices=["blank", "zero"],
        default="blank",
        help="a missing submission: the LMS's no grade (default) or 0",
    )
    parser.add_argument("--section", default="", help="canvas: the Section column")
    parser.add_argument(
        "--canvas-id",
        type=_assignment_id,
        action="append",
        default=[],
        metavar="NAME=ID",
        help="canvas: the Canvas id of an assignment (repeatable)",
    )
    parser.add_argument(
        "--allow-missing-id",
        action="store_true",
        help="canvas: write students without a Canvas user id (lms_user_id) with an empty ID "
        "instead of refusing",
    )
    parser.add_argument(
        "--identifier",
        choices=["username", "email", "idnumber"],
        default="username",
        help="moodle: the column to map to a user",
    )


def run(args) -> int:
    """``rnncourse export``: run the exporter on the course's gradebook, print what it wrote."""
    from nbgrader.api import Gradebook
    from traitlets.utils.importstring import import_item

    from rnncourse.instructor.course import (
        GRADEBOOK,
        AssignmentError,
        check_assignment,
        gradebook_url,
        has_gradebook,
        tools_on_path,
    )
    from rnncourse.instructor.lms import EXPORT_DIR, MissingLmsIds, grade_table
    from rnncourse.instructor.lms import FORMATS as EXPORTERS

    course = Path(args.course)
    if not has_gradebook(course):
        raise AssignmentError(f"there is no {GRADEBOOK} in {course.resolve()}: nothing to export")
    for name in args.assignment or []:
        check_assignment(course, name)
    default = "grades.csv" if args.format == "csv" else f"grades-{args.format}.csv"
    dest = Path(args.to) if args.to else course / EXPORT_DIR / default
    options = {"to": str(dest), "assignment": args.assignment or [], "student": args.student or []}
    if args.format in ("canvas", "moodle"):
        options["missing"] = args.missing
    if args.format == "canvas":
        options.update(
            section=args.section,
            assignment_ids=dict(args.canvas_id),
            allow_missing_ids=args.allow_missing_id,
        )
    if args.format == "moodle":
        options["identifier"] = args.identifier
    plugin = import_item(EXPORTERS[args.format])(**options)
    tools_on_path()  # opening a gradebook may run alembic
    with Gradebook(gradebook_url(course)) as gb:
        if not gb.assignments:
            raise AssignmentError(f"the gradebook in {course.resolve()} has no assignment")
        known = {s.id for s in gb.students}
        for student in args.student or []:
            if student not in known:
                raise AssignmentError(f"--student: unknown student {student!r} in the gradebook")
        assignments, table = grade_table(gb, args.assignment, args.student)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            plugin.export(gb)
        except MissingLmsIds as error:
            print(f"rnncourse: error: {error}; nothing written", file=sys.stderr)
            return 1
    missing = sum(score is None for _, scores in table for score in scores.values())
    print(
        f"wrote {dest} ({args.format}): {len(table)} students, {len(assignments)} assignments, "
        f"{missing} missing submissions ({'0' if args.format == 'csv' else args.missing})"
    )
    for student in getattr(plugin, "missing_ids", []):
        print(f"WARNING: {student} has no Canvas user id: an empty ID (--allow-missing-id)")
    for student in getattr(plugin, "skipped", []):
        print(f"left out {student}: no {args.identifier} (Moodle aborts on an unknown user)")
    return 0
