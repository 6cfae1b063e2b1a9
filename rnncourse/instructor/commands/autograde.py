"""``rnncourse autograde``: grade every submission of an assignment, N at a time, or preview and
apply a regrade. The work is in :mod:`rnncourse.instructor.autograde_parallel` and
:mod:`rnncourse.instructor.regrade`."""

from __future__ import annotations

import argparse
import os
import sys
import time

from rnncourse.instructor import autograde_parallel as ag
from rnncourse.instructor.commands._common import at_least, format_table, positive_float
from rnncourse.instructor.course import LOG_DIR, folder, status_path

HELP = "autograde every submission, N at a time, here or on a Dask cluster"
DESCRIPTION = (
    "Autograde submitted/*/ASSIGNMENT with nbgrader, one task per submission on a Dask cluster: "
    "a LocalCluster on this machine (--jobs threads), or the workers of --scheduler."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``rnncourse autograde``."""
    parser.add_argument("assignment")
    parser.add_argument(
        "--jobs", "-j", type=at_least(1), default=os.cpu_count() or 1,
        help="submissions graded at once on this machine (default: the number of CPUs); "
        "with --scheduler, the workers' threads decide",
    )  # fmt: skip
    parser.add_argument(
        "--scheduler", default=None, metavar="ADDRESS",
        help="a Dask scheduler (tcp://HOST:8786) whose workers grade, each in its checkout of "
        "the course; needs the gradebook on PostgreSQL (CourseDirectory.db_url)",
    )  # fmt: skip
    parser.add_argument(
        "--student", action="append", default=None, metavar="ID",
        help="grade only this student (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=positive_float, default=600.0,
        help="wall-time limit per submission in seconds (default: 600)",
    )  # fmt: skip
    parser.add_argument(
        "--memory-mb", type=at_least(1), default=None,
        help="address-space limit of each grading kernel in MiB (SandboxedKernelManager."
        "memory_mb; default: nbgrader_config.py's, 6144)",
    )  # fmt: skip
    parser.add_argument(
        "--cell-timeout", type=at_least(1), default=None,
        help="whole seconds per cell (Execute.timeout; default: nbgrader_config.py's, 60)",
    )  # fmt: skip
    parser.add_argument("--force", action="store_true", help="re-grade graded submissions too")
    parser.add_argument(
        "--no-sandbox", action="store_true",
        help="grade without the bubblewrap sandbox (recorded in the status file and report)",
    )  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--preview", action="store_true",
        help="grade into a scratch copy of the gradebook and print old and new scores per "
        "student; the real gradebook is not written",
    )  # fmt: skip
    parser.add_argument(
        "--apply", action="store_true",
        help="commit exactly the last --preview (refused if the gradebook changed since)",
    )  # fmt: skip


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


def run(args: argparse.Namespace) -> int:
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
        scheduler=args.scheduler,
    )
    wall = time.perf_counter() - start
    if not outcomes:
        print(f"no submissions of {args.assignment} in {folder(args.course, 'submitted')}")
        return 0
    trouble = [o for o in outcomes if o.status in (ag.FAILED, ag.TIMED_OUT)]
    if trouble:
        print(format_table(
            ["student", "status", "seconds", "worker", "reason"],
            [[o.student, o.status, round(o.seconds, 1), o.worker or "-", o.reason]
             for o in trouble],
        ))  # fmt: skip
        print()
    counts = ag.summarize(outcomes)
    print(format_table(
        ["graded", "failed", "timed out", "skipped", "seconds", "wall seconds",
         "scheduler" if args.scheduler else "jobs"],
        [[counts[ag.GRADED], counts[ag.FAILED], counts[ag.TIMED_OUT], counts[ag.SKIPPED],
          round(counts["seconds"], 1), round(wall, 1),
          args.scheduler or args.jobs]],
    ))  # fmt: skip
    if args.no_sandbox:
        print("warning: graded WITHOUT the sandbox (--no-sandbox); the status file records it")
    print(f"status: {status_path(args.course)}  logs: {args.course / LOG_DIR}")
    return 0
