"""The ``rnncourse similarity`` and ``rnncourse export`` subcommands: options and output.

The work is in :mod:`rnncourse.instructor.similarity` and :mod:`rnncourse.instructor.lms`,
imported when a command runs, so that the parser stays light.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from rnncourse.instructor.similarity import (
    DEFAULT_GUARANTEE,
    DEFAULT_MIN_OVERLAP,
    DEFAULT_NOISE,
    DEFAULT_THRESHOLD,
    SimilarityError,
)

__all__ = [
    "add_similarity_arguments",
    "similarity_command",
    "add_export_arguments",
    "export_command",
    "SimilarityError",
]

FORMATS = ("canvas", "csv", "moodle")  # rnncourse.instructor.lms.FORMATS, without nbgrader


# ---------------------------------------------------------------------------------------------
# rnncourse similarity
# ---------------------------------------------------------------------------------------------


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1], got {text!r}") from None
    if math.isnan(value) or not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1], got {text!r}")
    return value


def _count(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {text!r}")
        return value

    return parse


def add_similarity_arguments(parser) -> None:
    """The options of ``rnncourse similarity``."""
    parser.add_argument("assignment")
    parser.add_argument(
        "--threshold",
        type=_share,
        default=DEFAULT_THRESHOLD,
        help=f"flag a pair from this score on (default: {DEFAULT_THRESHOLD})",
    )
    parser.add_argument(
        "--min-overlap",
        type=_count(0),
        default=DEFAULT_MIN_OVERLAP,
        metavar="N",
        help="an answer counts from N matched normalised "
        f"characters on (default: {DEFAULT_MIN_OVERLAP})",
    )
    parser.add_argument(
        "--noise",
        type=_count(1),
        default=DEFAULT_NOISE,
        metavar="K",
        help=f"k-gram length, copydetect's noise threshold (default: {DEFAULT_NOISE})",
    )
    parser.add_argument(
        "--guarantee",
        type=_count(1),
        default=DEFAULT_GUARANTEE,
        metavar="G",
        help=f"matches this long are always found (default {DEFAULT_GUARANTEE})",
    )
    parser.add_argument(
        "--book",
        type=Path,
        default=None,
        help="the book's folder (default: COURSE/book or the repository's)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="default: reports/ASSIGNMENT/similarity"
    )
    parser.add_argument("--top", type=_count(1), default=20, help="pairs to print (default: 20)")


def similarity_command(args) -> int:
    """``rnncourse similarity``: print the ranked pairs, write the CSV and the pages."""
    from rnncourse.instructor.cli import format_table
    from rnncourse.instructor.course import check_assignment
    from rnncourse.instructor.similarity import similarity, write_outputs

    check_assignment(args.course, args.assignment)
    if args.guarantee < args.noise:
        raise SimilarityError(
            f"--guarantee: must be at least --noise ({args.noise}), got {args.guarantee}"
        )
    if args.book is not None and not args.book.is_dir():
        raise SimilarityError(f"--book: {args.book} is not a folder")
    result = similarity(args.course, args.assignment, args.threshold, args.min_overlap,
                        args.book, args.noise, args.guarantee)  # fmt: skip
    out = args.out or Path(args.course) / "reports" / args.assignment / "similarity"
    paths = write_outputs(result, out)
    shown = result.pairs[: args.top]
    if shown:
        print(format_table(
            ["rank", "learner", "with", "kind", "score", "answer", "matched", "flagged"],
            [[i, p.a, p.b, p.kind, round(p.score, 2), p.best.task, p.best.overlap,
              "yes" if p.flagged else ""] for i, p in enumerate(shown, 1)],
        ))  # fmt: skip
        print()
    flagged = result.flagged
    print(
        f"{len(flagged)} flagged pairs among {result.learners} submissions and "
        f"{len(result.references)} references (threshold {args.threshold:g}, min overlap "
        f"{args.min_overlap}); a flag is a prompt to read both notebooks, not a verdict"
    )
    print(f"wrote {paths['csv']}, {paths['index']} and {len(flagged)} pages in {out / 'pairs'}")
    return 0


# ---------------------------------------------------------------------------------------------
# rnncourse export
# ---------------------------------------------------------------------------------------------


def _assignment_id(text: str) -> tuple[str, str]:
    name, sep, canvas_id = text.partition("=")
    if not sep or not name or not canvas_id:
        raise argparse.ArgumentTypeError(f"expected NAME=ID, got {text!r}")
    return name, canvas_id


def add_export_arguments(parser) -> None:
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


def export_command(args) -> int:
    """``rnncourse export``: run the exporter on the course's gradebook, print what it wrote."""
    from nbgrader.api import Gradebook
    from traitlets.utils.importstring import import_item

    from rnncourse.instructor.course import (
        GRADEBOOK,
        AssignmentError,
        check_assignment,
        gradebook_url,
        tools_on_path,
    )
    from rnncourse.instructor.lms import EXPORT_DIR, MissingLmsIds, grade_table
    from rnncourse.instructor.lms import FORMATS as EXPORTERS

    course = Path(args.course)
    if not (course / GRADEBOOK).is_file():
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
