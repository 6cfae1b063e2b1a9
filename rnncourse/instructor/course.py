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
import time
from pathlib import Path
from typing import Any

__all__ = [
    "GRADEBOOK",
    "LOG_DIR",
    "STATUS_FILE",
    "AssignmentError",
    "check_assignment",
    "course_assignments",
    "folder",
    "gradebook_url",
    "known_assignments",
    "read_status",
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


def gradebook_url(course: Path) -> str:
    return f"sqlite:///{Path(course).resolve() / GRADEBOOK}"


def tools_on_path() -> None:
    """Put this interpreter's ``bin`` first on PATH: nbgrader's gradebook runs ``alembic``."""
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != bindir:
        os.environ["PATH"] = f"{bindir}{os.pathsep}{path}"


def known_assignments(course: str | Path) -> list[str]:
    """Assignments in the course's gradebook (``[]`` when there is no gradebook yet)."""
    path = Path(course) / GRADEBOOK
    if not path.is_file():
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
    if not (Path(course) / GRADEBOOK).is_file():
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
    return Path(course) / STATUS_FILE


def read_status(course: str | Path, assignment: str) -> dict[str, dict]:
    """``student -> record`` of the last autograde run of each submission of ``assignment``."""
    path = status_path(course)
    if not path.is_file():
        return {}
    return json.loads(path.read_text()).get(assignment, {})


def write_status(course: str | Path, assignment: str, student: str, record: dict[str, Any]) -> None:
    """Record how the last autograde run of one submission ended (atomically)."""
    path = status_path(course)
    data = json.loads(path.read_text()) if path.is_file() else {}
    record = {**record, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    data.setdefault(assignment, {})[student] = record
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)  # readers never see half a file
