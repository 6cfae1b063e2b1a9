"""Tests of :mod:`rnncourse.instructor.course`: the course folder's facts."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnncourse.instructor.course import (
    GradebookURLError,
    course_assignments,
    folder,
    gradebook_url,
    has_gradebook,
    sqlite_path,
    submitted_students,
)

ROOT = Path(__file__).resolve().parents[2]


def test_folder_reads_the_course_config() -> None:
    """Are the folders the ones this course's nbgrader_config.py names?"""
    assert folder(ROOT, "source") == ROOT / "solutions"
    assert folder(ROOT, "release") == ROOT / "exercises"
    assert folder(ROOT, "submitted") == ROOT / "submitted"  # nbgrader's default, not set here


def test_folder_defaults_and_other_names(tmp_path: Path) -> None:
    """Without a config nbgrader's defaults hold; a course that renames a folder is followed."""
    assert folder(tmp_path, "source") == tmp_path / "source"
    assert folder(tmp_path, "release") == tmp_path / "release"
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.source_directory = 'teacher'\n"
        "c.CourseDirectory.submitted_directory = 'handed_in'\n"
    )
    (tmp_path / "teacher" / "hw1").mkdir(parents=True)
    (tmp_path / "teacher" / "hw1" / "hw1.ipynb").write_text("{}")
    (tmp_path / "teacher" / "notes").mkdir()  # no notebook of its name: not an assignment
    (tmp_path / "handed_in" / "ann" / "hw1").mkdir(parents=True)
    (tmp_path / "handed_in" / "bob" / "hw2").mkdir(parents=True)
    assert folder(tmp_path, "source") == tmp_path / "teacher"
    assert course_assignments(tmp_path) == ["hw1"]
    assert submitted_students(tmp_path, "hw1") == ["ann"]


CONFIG = 'c = get_config()\nc.CourseDirectory.source_directory = "solutions"\n'


def _course(root: Path, db_url: str | None = None) -> Path:
    """A course folder with the minimal config, and ``CourseDirectory.db_url`` if given."""
    config = CONFIG if db_url is None else f"{CONFIG}c.CourseDirectory.db_url = {db_url!r}\n"
    (root / "nbgrader_config.py").write_text(config)
    return root


def test_gradebook_defaults_to_sqlite_in_the_course(tmp_path: Path) -> None:
    """No db_url: nbgrader's default, gradebook.db in the course folder (absolute path)."""
    course = _course(tmp_path)
    expected = tmp_path.resolve() / "gradebook.db"
    assert gradebook_url(course) == f"sqlite:///{expected}"
    assert sqlite_path(course) == expected
    assert not has_gradebook(course)
    expected.write_bytes(b"")
    assert has_gradebook(course)


def test_gradebook_url_of_a_relative_course(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A course named relatively (``"."``) still gets an absolute SQLite path."""
    _course(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert gradebook_url(".") == f"sqlite:///{tmp_path.resolve() / 'gradebook.db'}"
    assert sqlite_path(".") == tmp_path.resolve() / "gradebook.db"


def test_gradebook_on_a_postgresql_server(tmp_path: Path) -> None:
    """A PostgreSQL URL without a password is used as it is; there is no file to look for."""
    url = "postgresql+psycopg://grader@127.0.0.1:5432/rnncourse"
    course = _course(tmp_path, url)
    assert gradebook_url(course) == url
    assert sqlite_path(course) is None
    assert has_gradebook(course)


def test_gradebook_url_with_a_password_is_refused(tmp_path: Path) -> None:
    """The password would reach logs and task graphs: refused, pointing at PGPASSFILE, and the
    error does not repeat it."""
    course = _course(tmp_path, "postgresql+psycopg://grader:secret@host/db")
    for read in (gradebook_url, sqlite_path, has_gradebook):
        with pytest.raises(GradebookURLError, match="PGPASSFILE") as error:
            read(course)
        assert "secret" not in str(error.value)
        assert "secret" not in repr(error.value)


def test_gradebook_url_of_another_backend_is_refused(tmp_path: Path) -> None:
    course = _course(tmp_path, "mysql://u@h/db")
    with pytest.raises(GradebookURLError, match="mysql"):
        gradebook_url(course)
    assert issubclass(GradebookURLError, ValueError)
