"""Tests of :mod:`rnncourse.instructor.course`: the course folder's facts."""

from __future__ import annotations

from pathlib import Path

from rnncourse.instructor.course import course_assignments, folder, submitted_students

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
