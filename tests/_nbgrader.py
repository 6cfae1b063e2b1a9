"""Shared helpers for the tests that drive nbgrader and execute exercise notebooks."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode

ROOT = Path(__file__).resolve().parents[1]

_spec = importlib.util.spec_from_file_location("_release", ROOT / "tools" / "release.py")
release = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(release)

ASSIGNMENTS = release.assignments()
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"


def solution_path(name: str, root: Path = ROOT) -> Path:
    return root / "solutions" / name / f"{name}.ipynb"


def release_path(name: str, root: Path = ROOT) -> Path:
    return root / "exercises" / name / f"{name}.ipynb"


def read(path: Path) -> NotebookNode:
    return nbformat.read(path, as_version=4)


def nbgrader(course: Path, *args: str, timeout: int | None = None, check: bool = True, **env):
    """Run the nbgrader CLI in ``course``; ``env`` adds environment variables."""
    return subprocess.run(
        [str(release.NBGRADER), *args, "--log-level=WARN"],
        cwd=course,
        env=release.nbgrader_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def autograde_batch(course: Path, name: str, cell_timeout: int) -> None:
    """Autograde every submission of ``name`` in ``course``, two at a time.

    ``rnncourse autograde --jobs 2``: each submission gets the same ``nbgrader autograde
    --student`` run (the course's configuration: sandbox, trusted checks) that plain nbgrader's
    batch gives it one after the other; on two cores the batch takes about half the time.
    """
    from rnncourse.instructor import autograde_parallel as ag

    ag.autograde(course, name, jobs=2, cell_timeout=cell_timeout, progress=False)


def make_course(tmp: Path, names: list[str]) -> Path:
    """A temporary course with the config and the named assignments, released."""
    course = release.stage_course(tmp / "course", names)
    release.generate(course, "*")
    return course


def grade_cells(nb: NotebookNode) -> dict[str, float]:
    """``grade_id -> points`` of every graded cell."""
    return {
        cell.metadata.nbgrader["grade_id"]: float(cell.metadata.nbgrader["points"])
        for cell in nb.cells
        if cell.metadata.get("nbgrader", {}).get("grade")
    }


def solution_cells(nb: NotebookNode) -> list[str]:
    return [
        cell.metadata.nbgrader["grade_id"]
        for cell in nb.cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    ]


def with_answer(nb: NotebookNode, grade_id: str, source: str) -> NotebookNode:
    """A copy of ``nb`` whose solution cell ``grade_id`` holds ``source``."""
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
            return nb
    raise KeyError(grade_id)


def answer_source(nb: NotebookNode, grade_id: str) -> str:
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return cell.source
    raise KeyError(grade_id)


def submit(course: Path, student: str, name: str, nb: NotebookNode) -> None:
    """Place ``nb`` as ``student``'s submission of assignment ``name``."""
    folder = course / "submitted" / student / name
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{name}.ipynb")


def scores(course: Path, name: str) -> dict[str, dict[str, float]]:
    """``student -> {grade_id: score}`` from the course's gradebook (missing -> no entry)."""
    from nbgrader.api import Gradebook

    out: dict[str, dict[str, float]] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for submission in gb.assignment_submissions(name):
            notebook = submission.notebooks[0]
            out[submission.student_id] = {g.name: g.score for g in notebook.grades}
    return out


def grade_one_wrong_answer(
    tmp: Path, name: str, grade_id: str, source: str
) -> tuple[dict[str, dict[str, float]], dict[str, float], str]:
    """Autograde two submissions of ``name`` with plain ``nbgrader autograde``: ``right`` (the
    instructor's answers) and ``wrong`` (the same, with ``source`` in the cell ``grade_id``).

    Returns the gradebook's scores, the full marks per graded cell and the text of the wrong
    submission's autograded cells (for the verdict it shows).
    """
    from tests.hostile.corpus import _answers

    course = make_course(tmp, [name])
    solution = read(solution_path(name))
    release = read(release_path(name))
    submit(course, "right", name, _answers(release, solution))
    submit(course, "wrong", name, _answers(release, solution, **{grade_id: source}))
    nbgrader(course, "autograde", name)
    graded = read(course / "autograded" / "wrong" / name / f"{name}.ipynb")
    return scores(course, name), grade_cells(solution), json.dumps(graded.cells)


def copy_tree(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest, dirs_exist_ok=True)
