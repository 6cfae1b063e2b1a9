"""Cells with nbgrader metadata, for writing instructor notebooks from a script.

Each helper returns an ``nbformat`` cell whose ``metadata["nbgrader"]`` marks it as a locked
text/setup cell, a solution cell or a graded test cell (schema version 3, as written by the
nbgrader "Create Assignment" toolbar). Example::

    from tools.nbcells import markdown, notebook, setup, solution, tests, write

    answer = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"
    check = '\"\"\"Does f double?\"\"\"\ngrading.check("f", f)'
    cells = [
        markdown("intro", "# Exercise"),
        setup("setup", "from rnncourse import grading"),
        solution("f", answer),
        tests("test_f", 2, check),
    ]
    write(notebook(cells), "solutions/exNN_topic/exNN_topic.ipynb")
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode


def _meta(grade_id: str, *, grade: bool, solution: bool, locked: bool, points: int = 0) -> dict:
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def markdown(grade_id: str, text: str) -> NotebookNode:
    """A read-only text cell."""
    cell = nbformat.v4.new_markdown_cell(text.strip("\n"))
    cell.metadata = _meta(grade_id, grade=False, solution=False, locked=True)
    return cell


def setup(grade_id: str, code: str) -> NotebookNode:
    """A read-only code cell run before the learner's code (imports, data)."""
    cell = nbformat.v4.new_code_cell(code.strip("\n"))
    cell.metadata = _meta(grade_id, grade=False, solution=False, locked=True)
    return cell


def solution(grade_id: str, code: str) -> NotebookNode:
    """An answer cell; ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` is blanked on release."""
    cell = nbformat.v4.new_code_cell(code.strip("\n"))
    cell.metadata = _meta(grade_id, grade=False, solution=True, locked=False)
    return cell


def tests(grade_id: str, points: int, code: str) -> NotebookNode:
    """A read-only graded test cell worth ``points``; it passes if it raises nothing."""
    cell = nbformat.v4.new_code_cell(code.strip("\n"))
    cell.metadata = _meta(grade_id, grade=True, solution=False, locked=True, points=points)
    return cell


def scratch(code: str) -> NotebookNode:
    """An ordinary, ungraded code cell for the learner's own experiments."""
    return nbformat.v4.new_code_cell(code.strip("\n"))


def notebook(cells: list[NotebookNode]) -> NotebookNode:
    """A notebook for the course's Python 3 kernel."""
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, cell in enumerate(nb.cells):  # stable ids keep the diffs small
        cell.id = f"cell-{i:02d}"
    return nb


def write(nb: NotebookNode, path: str | Path) -> None:
    """Validate and write ``nb`` to ``path``, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.validate(nb)
    nbformat.write(nb, path)
