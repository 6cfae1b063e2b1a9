"""``rnncourse report``: write an assignment's report files and print its hardest tasks, frequent
mistakes and problem runs. The work is in :mod:`rnncourse.instructor.report`."""

from __future__ import annotations

import argparse
from pathlib import Path

from rnncourse.instructor.commands._common import at_least, format_table

HELP = "score distributions, hardest tasks, frequent mistakes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``rnncourse report``."""
    parser.add_argument("assignment")
    parser.add_argument("--out", type=Path, default=None, help="default: reports/ASSIGNMENT")
    parser.add_argument("--top", type=at_least(1), default=10, help="mistakes to print")


def run(args: argparse.Namespace) -> int:
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
