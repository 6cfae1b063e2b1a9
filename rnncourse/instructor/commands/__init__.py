"""The ``rnncourse`` subcommands, one module each, in the order ``rnncourse --help`` lists them.

Each module has ``HELP`` (and may have ``DESCRIPTION``), ``add_arguments(parser)``, which declares
its options, and ``run(args)``, which does the work and returns the exit status. A command
imports what loads nbgrader when it runs, so that the parser and ``--help`` stay light.
"""

from __future__ import annotations

from rnncourse.instructor.commands import audit, autograde, export, report, similarity

COMMANDS = {
    "autograde": autograde,
    "report": report,
    "audit": audit,
    "similarity": similarity,
    "export": export,
}

__all__ = ["COMMANDS"]
