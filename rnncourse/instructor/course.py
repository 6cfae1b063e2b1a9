"""The course folder: where nbgrader keeps what the instructor commands read and write.

One place for the facts every command needs: the folders nbgrader's ``CourseDirectory`` names
(:func:`folder`, as the course's ``nbgrader_config.py`` sets them), the gradebook
(``gradebook.db``, its URL), the assignments it knows and the sources it could know, the students
who submitted, and the status file of ``rnncourse autograde`` (``autograde_status.json``) with its
per-submission logs.
"""

from __future__ import annotations

import difflib
import json
import os
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "GRADEBOOK",
    "LOG_DIR",
    "GradebookURLError",
    "STATUS_FILE",
    "AssignmentError",
    "check_assignment",
    "course_assignments",
    "folder",
    "gradebook_url",
    "has_gradebook",
    "known_assignments",
    "export_status",
    "read_status",
    "sqlite_path",
    "status_path",
    "submitted_students",
    "tools_on_path",
    "write_status",
]

STATUS_FILE = "autograde_status.json"
LOG_DIR = "autograde_logs"
GRADEBOOK = "gradebook.db"


class AssignmentError(ValueError):
    """The assignment is unknown to the gradebook, or has nothing to grade."""


def folder(course: str | Path, step: str) -> Path:
    """The course's folder for nbgrader's ``step`` (``"source"``, ``"release"``,
    ``"submitted"``, ``"autograded"``, ``"feedback"``): ``CourseDirectory.<step>_directory`` as
    the course's ``nbgrader_config.py`` sets it, else nbgrader's default. Here
    ``folder(".", "source")`` is ``solutions/`` and ``folder(".", "release")`` is ``exercises/``.
    """
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    root = Path(course)
    config = Config()
    if (root / "nbgrader_config.py").is_file():
        config = PyFileConfigLoader("nbgrader_config.py", str(root)).load_config()
    return root / getattr(CourseDirectory(config=config), f"{step}_directory")


class GradebookURLError(ValueError):
    """``CourseDirectory.db_url`` is not a gradebook this course can use."""


def _course_directory(course: str | Path) -> Any:
    """nbgrader's ``CourseDirectory`` configured by the course's ``nbgrader_config.py``."""
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    root = Path(course).resolve()
    config = Config()
    if (root / "nbgrader_config.py").is_file():
        config = PyFileConfigLoader("nbgrader_config.py", str(root)).load_config()
    return CourseDirectory(config=config, root=str(root))


def gradebook_url(course: str | Path) -> str:
    """The gradebook's SQLAlchemy URL: ``CourseDirectory.db_url`` when the course's
    ``nbgrader_config.py`` sets one (a PostgreSQL server, ``postgresql+psycopg://user@host/db``),
    else the SQLite file ``gradebook.db`` in the course folder, as nbgrader's default.

    Raises:
        GradebookURLError: the URL holds a password (it would be written to logs and task
            graphs; the password goes in a ``PGPASSFILE``), or is neither SQLite nor PostgreSQL.
    """
    from sqlalchemy.engine import make_url

    url = _course_directory(course).db_url  # nbgrader's default: sqlite:///ROOT/gradebook.db
    parsed = make_url(url)
    if parsed.password is not None:
        raise GradebookURLError(
            "CourseDirectory.db_url must not hold a password (it would reach logs and every "
            "worker's task): put it in a PGPASSFILE (host:port:database:user:password) instead"
        )
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise GradebookURLError(
            f"CourseDirectory.db_url: expected a sqlite:/// or postgresql+psycopg:// URL, "
            f"got backend {parsed.get_backend_name()!r}"
        )
    return url


def sqlite_path(course: str | Path) -> Path | None:
    """The gradebook's file when it is SQLite, ``None`` for a database server."""
    url = gradebook_url(course)
    if not url.startswith("sqlite"):
        return None
    from sqlalchemy.engine import make_url

    return Path(make_url(url).database or "").resolve()


def has_gradebook(course: str | Path) -> bool:
    """Whether the gradebook exists: the SQLite file is there, or a server is configured."""
    path = sqlite_path(course)
    return path is None or path.is_file()


def tools_on_path() -> None:
    """Put this interpreter's ``bin`` first on PATH: nbgrader's gradebook runs ``alembic``."""
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != bindir:
        os.environ["PATH"] = f"{bindir}{os.pathsep}{path}"


def known_assignments(course: str | Path) -> list[str]:
    """Assignments in the course's gradebook (``[]`` when there is no gradebook yet)."""
    if not has_gradebook(course):
        return []
    tools_on_path()
    from nbgrader.api import Gradebook

    with Gradebook(gradebook_url(Path(course))) as gb:
        return sorted(a.name for a in gb.assignments)


def course_assignments(course: str | Path) -> list[str]:
    """Assignment ids the course has sources for: folders of its source folder (``solutions/``)
    holding a notebook of the same name."""
    source = folder(course, "source")
    if not source.is_dir():
        return []
    return sorted(p.name for p in source.iterdir() if (p / f"{p.name}.ipynb").is_file())


def check_assignment(course: str | Path, assignment: str) -> None:
    """Raise :class:`AssignmentError`, saying what to do, if the gradebook lacks ``assignment``.

    A near miss of an assignment in the gradebook or in the source folder gets "did you mean ...?"
    (difflib's closest matches); an assignment with sources but not yet in the gradebook gets
    the ``nbgrader generate_assignment`` that records it.
    """
    known = known_assignments(course)
    if assignment in known:
        return
    if not has_gradebook(course):
        where = f"there is no {GRADEBOOK} in {Path(course).resolve()}"
    else:
        where = f"the gradebook knows {', '.join(known) or 'no assignment'}"
    sources = course_assignments(course)
    close = difflib.get_close_matches(assignment, sorted({*known, *sources}), n=3, cutoff=0.6)
    if assignment in sources:
        message = (
            f"{where}. Run `nbgrader generate_assignment {assignment}` in the course folder "
            "first (it records the assignment in the gradebook)."
        )
    elif close:
        message = f"did you mean {' or '.join(close)}? ({where})"
    else:
        source = folder(course, "source").name
        message = f"{where}, and {source}/ has no {assignment}/{assignment}.ipynb"
    raise AssignmentError(f"unknown assignment {assignment!r}: {message}")


def submitted_students(course: str | Path, assignment: str) -> list[str]:
    """Students with a folder ``submitted/<student>/<assignment>``, sorted."""
    root = folder(course, "submitted")
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / assignment).is_dir())


def status_path(course: str | Path) -> Path:
    """The course's ``autograde_status.json``: an export of the status table
    (:mod:`rnncourse.instructor.status`), rewritten after each write."""
    return Path(course) / STATUS_FILE


def read_status(course: str | Path, assignment: str) -> dict[str, dict]:
    """``student -> record`` of the last autograde run of each submission of ``assignment``,
    from the gradebook's status table (``{}`` when there is no gradebook yet)."""
    from rnncourse.instructor import status

    if not has_gradebook(course):
        return {}
    tools_on_path()
    return status.read(gradebook_url(course), assignment)


def write_status(course: str | Path, assignment: str, student: str, record: dict[str, Any]) -> None:
    """Record how the last autograde run of one submission ended, in the gradebook's status
    table (:func:`export_status` writes the file after a batch)."""
    from rnncourse.instructor import status

    status.write(gradebook_url(course), assignment, student, record)


def export_status(course: str | Path) -> Path:
    """Write the whole status table to ``autograde_status.json``; readers never see half a
    file."""
    from rnncourse.instructor import status

    path = status_path(course)
    data = status.read_all(gradebook_url(course))
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)
    return path
