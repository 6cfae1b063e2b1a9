"""``rnncourse audit``: flag submissions that look like cheating, as a table and a CSV file. The
work is in :mod:`rnncourse.instructor.audit`."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from rnncourse.instructor.commands._common import format_table
from rnncourse.instructor.course import check_assignment

HELP = "flag submissions that look like cheating"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``rnncourse audit``."""
    parser.add_argument("assignment")
    parser.add_argument(
        "--out", type=Path, default=None, help="default: reports/ASSIGNMENT/audit.csv"
    )


def run(args: argparse.Namespace) -> int:
    """Print the flags as a table and write them to a CSV file."""
    from rnncourse.instructor import audit as audit_mod

    check_assignment(args.course, args.assignment)
    flags = audit_mod.audit_assignment(args.course, args.assignment)
    out = args.out or args.course / "reports" / args.assignment / "audit.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    header = ["student", "category", "file", "cell", "line", "evidence"]
    rows = [[f.student, f.category, f.file, f.cell, f.line, f.evidence] for f in flags]
    with open(out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    students = len({f.student for f in flags})
    if flags:
        short = [
            [*row[:5], f.evidence if len(f.evidence) <= 80 else f.evidence[:77] + "..."]
            for row, f in zip(rows, flags, strict=True)
        ]
        print(format_table(header, short))
        print()
    print(f"{len(flags)} flags on {students} submissions (a prompt to read them, not a verdict)")
    print(f"wrote {out}")
    return 0
