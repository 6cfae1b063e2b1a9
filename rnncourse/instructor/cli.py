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
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from rnncourse.instructor.commands import COMMANDS
from rnncourse.instructor.course import AssignmentError, GradebookURLError
from rnncourse.instructor.regrade import PreviewError
from rnncourse.instructor.similarity import SimilarityError

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnncourse",
        description="Instructor tools around nbgrader: parallel autograde, report, audit, "
        "similarity, export.",
    )
    parser.add_argument(
        "--course", type=Path, default=Path("."), help="the nbgrader course folder (default: .)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        command.add_arguments(
            sub.add_parser(
                name, help=command.HELP, description=getattr(command, "DESCRIPTION", None)
            )
        )
    return parser


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
        return COMMANDS[args.command].run(args)
    except (AssignmentError, SimilarityError, GradebookURLError) as error:
        print(f"rnncourse: error: {error}", file=sys.stderr)
        return 1
    except RuntimeError as error:
        # the sandbox module loads nbgrader, so it is imported only when something failed
        from rnncourse.instructor.cluster import ClusterError
        from rnncourse.instructor.sandbox import SandboxUnavailable

        if not isinstance(error, PreviewError | SandboxUnavailable | ClusterError):
            raise
        print(f"rnncourse: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
