"""``rnncourse``: the instructor's command line around nbgrader.

Run it in the course folder (the repository root, which holds ``nbgrader_config.py``) or pass
``--course DIR``. nbgrader does the grading and its ``gradebook.db`` stays the single source of
truth; these commands schedule, summarise and audit::

    rnncourse autograde ex02_hidden_state --jobs 8 --timeout 600   # every submitted/*/ex02_...
    rnncourse report ex02_hidden_state --out reports/ex02          # CSV + PNG + tables
    rnncourse audit ex02_hidden_state                              # suspicious code, with evidence
    rnncourse similarity ex02_hidden_state                         # copied answers, side by side
    rnncourse export --format canvas                               # grades for Canvas or Moodle

Exit status: 0 when the command ran (failed or flagged submissions are results, not errors),
1 for an unknown assignment or a missing submission, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rnncourse.instructor import autograde_parallel as ag
from rnncourse.instructor import commands as instructor
from rnncourse.instructor.course import (
    LOG_DIR,
    AssignmentError,
    check_assignment,
    folder,
    status_path,
)
from rnncourse.instructor.regrade import PreviewError

__all__ = ["main", "build_parser", "format_table"]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table with left-aligned text and right-aligned numbers.

    Examples::

        >>> print(format_table(["status", "n"], [["graded", 3]]))
        status  n
        ------  -
        graded  3
    """
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], int | float) for row in rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out = [line(list(headers)), line(["-" * w for w in widths])]
    out += [line(row) for row in cells]
    return "\n".join(out)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}" if value != int(value) or abs(value) >= 1e6 else f"{value:g}"
    return str(value)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnncourse",
        description="Instructor tools around nbgrader: parallel autograde, report, audit.",
    )
    parser.add_argument(
        "--course", type=Path, default=Path("."), help="the nbgrader course folder (default: .)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    grade = sub.add_parser(
        "autograde",
        help="autograde every submission, N at a time",
        description="Autograde submitted/*/ASSIGNMENT with nbgrader, one process per submission.",
    )
    grade.add_argument("assignment")
    grade.add_argument(
        "--jobs", "-j", type=_positive_int, default=os.cpu_count() or 1,
        help="submissions graded at once (default: the number of CPUs)",
    )  # fmt: skip
    grade.add_argument(
        "--student", action="append", default=None, metavar="ID",
        help="grade only this student (repeatable)",
    )  # fmt: skip
    grade.add_argument(
        "--timeout", type=_positive_float, default=600.0,
        help="wall-time limit per submission in seconds (default: 600)",
    )  # fmt: skip
    grade.add_argument(
        "--memory-mb", type=_positive_int, default=None,
        help="address-space limit of each grading kernel in MiB (SandboxedKernelManager."
        "memory_mb; default: nbgrader_config.py's, 6144)",
    )  # fmt: skip
    grade.add_argument(
        "--cell-timeout", type=_positive_float, default=None,
        help="seconds per cell (Execute.timeout; default: nbgrader_config.py's, 60)",
    )  # fmt: skip
    grade.add_argument("--force", action="store_true", help="re-grade graded submissions too")
    grade.add_argument(
        "--no-sandbox", action="store_true",
        help="grade without the bubblewrap sandbox (recorded in the status file and report)",
    )  # fmt: skip
    grade.add_argument("--no-progress", action="store_true", help="no progress bar")
    grade.add_argument(
        "--preview", action="store_true",
        help="grade into a scratch copy of the gradebook and print old and new scores per "
        "student; the real gradebook is not written",
    )  # fmt: skip
    grade.add_argument(
        "--apply", action="store_true",
        help="commit exactly the last --preview (refused if the gradebook changed since)",
    )  # fmt: skip

    rep = sub.add_parser("report", help="score distributions, hardest tasks, frequent mistakes")
    rep.add_argument("assignment")
    rep.add_argument("--out", type=Path, default=None, help="default: reports/ASSIGNMENT")
    rep.add_argument("--top", type=_positive_int, default=10, help="mistakes to print")

    aud = sub.add_parser("audit", help="flag submissions that look like cheating")
    aud.add_argument("assignment")
    aud.add_argument("--out", type=Path, default=None, help="default: reports/ASSIGNMENT/audit.csv")

    instructor.add_similarity_arguments(
        sub.add_parser("similarity", help="similar answers, with evidence")
    )
    instructor.add_export_arguments(
        sub.add_parser("export", help="grades as a Canvas or Moodle import CSV")
    )
    return parser


# ---------------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------------


def _regrade(args: argparse.Namespace) -> int:
    """``--preview``: grade a scratch copy and show the changes; ``--apply``: commit them."""
    from rnncourse.instructor import regrade

    if args.preview and args.apply:
        print("rnncourse: error: --preview and --apply go in two runs: preview first, then "
              "apply", file=sys.stderr)  # fmt: skip
        return 2
    if args.apply:
        changes = regrade.apply(args.course, args.assignment)
        moved = sum(1 for c in changes if c.tasks)
        print(f"applied the preview of {args.assignment}: {moved} of {len(changes)} students' "
              "grades changed")  # fmt: skip
        return 0
    changes, outcomes = regrade.preview(
        args.course, args.assignment, jobs=args.jobs, timeout=args.timeout,
        memory_mb=args.memory_mb, cell_timeout=args.cell_timeout, progress=not args.no_progress,
        sandbox=not args.no_sandbox,
    )  # fmt: skip
    print(format_table(["student", "old", "new", "changed tasks"], regrade.format_changes(changes)))
    trouble = [o for o in outcomes if o.status in (ag.FAILED, ag.TIMED_OUT)]
    for o in trouble:
        print(f"warning: {o.student} {o.status} in the preview: {o.reason}")
    moved = sum(1 for c in changes if c.tasks)
    print(f"preview only: {moved} of {len(changes)} students would change; gradebook.db is "
          f"untouched. Commit with: rnncourse autograde {args.assignment} --apply")  # fmt: skip
    return 0


def cmd_autograde(args: argparse.Namespace) -> int:
    """Grade the batch; print the failed / timed-out runs and a summary table."""
    if args.preview or args.apply:
        return _regrade(args)
    start = time.perf_counter()
    outcomes = ag.autograde(
        args.course,
        args.assignment,
        jobs=args.jobs,
        students=args.student,
        timeout=args.timeout,
        memory_mb=args.memory_mb,
        cell_timeout=args.cell_timeout,
        force=args.force,
        progress=not args.no_progress,
        sandbox=not args.no_sandbox,
    )
    wall = time.perf_counter() - start
    if not outcomes:
        print(f"no submissions of {args.assignment} in {folder(args.course, 'submitted')}")
        return 0
    trouble = [o for o in outcomes if o.status in (ag.FAILED, ag.TIMED_OUT)]
    if trouble:
        print(format_table(
            ["student", "status", "seconds", "reason"],
            [[o.student, o.status, round(o.seconds, 1), o.reason] for o in trouble],
        ))  # fmt: skip
        print()
    counts = ag.summarize(outcomes)
    print(format_table(
        ["graded", "failed", "timed out", "skipped", "seconds", "wall seconds", "jobs"],
        [[counts[ag.GRADED], counts[ag.FAILED], counts[ag.TIMED_OUT], counts[ag.SKIPPED],
          round(counts["seconds"], 1), round(wall, 1), args.jobs]],
    ))  # fmt: skip
    if args.no_sandbox:
        print("warning: graded WITHOUT the sandbox (--no-sandbox); the status file records it")
    print(f"status: {status_path(args.course)}  logs: {args.course / LOG_DIR}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write the report files; print the tasks, the frequent mistakes and the problem runs."""
    from rnncourse.instructor import report as report_mod

    report = report_mod.build_report(args.course, args.assignment)
    out = args.out or args.course / "reports" / args.assignment
    paths = report_mod.write_report(report, out)
    print(f"Tasks of {args.assignment}, hardest first ({len(report.rows)} grades):")
    print(format_table(
        ["task", "max", "mean", "mean %", "full", "zero", "n"],
        [[t.name, t.max_score, round(t.mean_fraction * t.max_score, 2),
          round(100 * t.mean_fraction, 1), t.full, t.zero, len(t.scores)] for t in report.tasks],
    ))  # fmt: skip
    print("\nMost frequent diagnosed mistakes:")
    if report.mistakes:
        print(format_table(
            ["count", "task", "function", "likely mistake"],
            [[n, task, fn, hint] for (task, fn, hint), n in report.mistakes.most_common(args.top)],
        ))  # fmt: skip
    else:
        print("(none)")
    print("\nTasks lost for a reason other than a wrong value (did not parse, not defined, "
          "raised, timed out, refused):")  # fmt: skip
    if report.failures:
        print(format_table(["student", "task", "why", "detail"], report.failures))
    else:
        print("(none)")
    print("\nSubmissions that failed or timed out:")
    if report.problems:
        print(format_table(["student", "status", "seconds", "reason"], report.problems))
    else:
        print("(none)")
    if report.unsandboxed:
        print(f"\nGraded WITHOUT the sandbox: {', '.join(report.unsandboxed)}")
    print("\nwrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
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


COMMANDS = {
    "autograde": cmd_autograde,
    "report": cmd_report,
    "audit": cmd_audit,
    "similarity": instructor.similarity_command,
    "export": instructor.export_command,
}


def _require_extra() -> None:
    """Raise :class:`ModuleNotFoundError` for a missing dependency of the ``instructor`` extra.

    The commands import their dependencies when they run (so that ``--help`` stays fast); this
    finds the modules without importing them, so that a missing extra is named before any work.
    """
    from rnncourse.instructor import EXTRA_MODULES

    for name in sorted(EXTRA_MODULES):
        if importlib.util.find_spec(name) is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rnncourse`` script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _require_extra()
    if not (args.course / "nbgrader_config.py").is_file():
        print(
            f"rnncourse: error: {args.course.resolve()} is not an nbgrader course folder "
            "(no nbgrader_config.py); run it there or pass --course DIR",
            file=sys.stderr,
        )
        return 1
    try:
        return COMMANDS[args.command](args)
    except (AssignmentError, instructor.SimilarityError) as error:
        print(f"rnncourse: error: {error}", file=sys.stderr)
        return 1
    except RuntimeError as error:
        # the sandbox module loads nbgrader, so it is imported only when something failed
        from rnncourse.instructor.sandbox import SandboxUnavailable

        if not isinstance(error, PreviewError | SandboxUnavailable):
            raise
        print(f"rnncourse: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
