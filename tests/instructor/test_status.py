"""The autograde status table in a real SQLite gradebook (the PostgreSQL one is exercised by
tests/test_cluster.py): records written, replaced, read back, exported as JSON."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from rnncourse.instructor import status
from rnncourse.instructor.course import export_status, read_status, write_status

CONFIG = 'c = get_config()\nc.CourseDirectory.source_directory = "solutions"\n'


def _course(tmp_path: Path) -> Path:
    (tmp_path / "nbgrader_config.py").write_text(CONFIG)
    sqlite3.connect(tmp_path / "gradebook.db").close()  # an (empty) gradebook file exists
    return tmp_path


def test_write_read_replace(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gb.db'}"
    failed = {"status": "failed", "seconds": 2.5, "reason": "boom", "returncode": 1,
              "sandboxed": True, "worker": "w1"}  # fmt: skip
    status.write(url, "ex", "alice", failed)
    status.write(url, "ex", "bob", {"status": "graded", "seconds": 1.0})
    status.write(url, "other", "alice", {"status": "timed out"})
    first = status.read(url, "ex")
    assert first["alice"]["reason"] == "boom" and first["alice"]["returncode"] == 1
    assert first["bob"] == {**first["bob"], "status": "graded", "seconds": 1.0, "reason": "",
                            "returncode": None, "sandboxed": True, "worker": ""}  # fmt: skip
    # a new run of alice replaces her record, the others stay
    status.write(url, "ex", "alice", {"status": "graded", "seconds": 3.0, "worker": "w2"})
    second = status.read(url, "ex")
    assert (second["alice"]["status"], second["alice"]["reason"], second["alice"]["worker"]) == (
        "graded", "", "w2",
    )  # fmt: skip
    assert second["bob"] == first["bob"]
    assert set(status.read_all(url)) == {"ex", "other"}
    # one row per submission, in the gradebook file's own table
    with sqlite3.connect(tmp_path / "gb.db") as db:
        rows = db.execute("SELECT assignment, student FROM rnncourse_autograde_status").fetchall()
    assert sorted(rows) == [("ex", "alice"), ("ex", "bob"), ("other", "alice")]


def test_course_status_is_exported(tmp_path: Path) -> None:
    """Does the course's status file mirror the table after an export?"""
    course = _course(tmp_path)
    assert read_status(course, "ex") == {}
    write_status(course, "ex", "alice", {"status": "graded", "seconds": 1.5})
    write_status(course, "ex", "bob", {"status": "failed", "reason": "DeadKernelError"})
    assert not (course / "autograde_status.json").exists()  # written per batch, not per row
    path = export_status(course)
    data = json.loads(path.read_text())
    assert data == {"ex": read_status(course, "ex")}
    assert data["ex"]["bob"]["reason"] == "DeadKernelError"


def test_no_gradebook_no_status(tmp_path: Path) -> None:
    (tmp_path / "nbgrader_config.py").write_text(CONFIG)
    assert read_status(tmp_path, "ex") == {}
    assert not (tmp_path / "gradebook.db").exists()
