"""Exercise pages for the book, generated from the nbgrader assignments.

For every released assignment notebook ``exercises/<name>/<name>.ipynb`` (``<name>`` like
``ex02_hidden_state``, or ``ex08b_speech`` for an inserted chapter; the nbgrader release
folder, see ``nbgrader_config.py``) this extension writes a page ``book/exercises/<name>.md``
before Sphinx looks for sources (``ex`` is prefixed if the name lacks it), so that chapters
can link to ``exercises/ex02_hidden_state.md``. The page sits as deep in the tree as the
assignment, so relative links in the notebook (``../../book/02_hidden_state.md``) still
resolve.

The page is the released notebook as ``nbgrader generate_assignment`` made it (solutions
already blanked, hidden tests already removed; ``tests/test_assignments.py`` checks that
``exercises/`` is exactly that), written by jupytext in its MyST format
(``jupytext.writes(nb, "md:myst")``) with ``execution_mode: off``, so myst-nb shows it
**without executing it**. Only nbgrader's cell metadata is dropped. After the title comes a
download link to the original ``.ipynb`` (Sphinx's ``{download}`` role copies it into
``_build/html/_downloads``).

Setting the environment variable ``RNNCOURSE_SHOW_SOLUTIONS=1`` (``make book-solutions``)
builds the self-learner edition: after every nbgrader solution cell the page shows the
worked solution from the instructor notebook ``solutions/<name>/<name>.ipynb`` (the cell
with the same ``grade_id``, nbgrader's ``BEGIN/END SOLUTION`` marker lines dropped) in a
collapsed block (sphinx-togglebutton). Only solution cells are taken from there, never test
cells, so hidden tests are shown in neither edition.

Generated pages carry ``rnncourse: generated: true`` in their front matter; they are rewritten
only when their content changes (Sphinx rebuilds only what changed) and removed when
their assignment disappears. ``book/exercises/.gitignore`` keeps them out of git.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import jupytext
import nbformat
from nbformat import NotebookNode
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util import logging

logger = logging.getLogger(__name__)

SHOW_SOLUTIONS_ENV = "RNNCOURSE_SHOW_SOLUTIONS"
PAGE_DIR = Path("book") / "exercises"
GENERATED_KEY = "rnncourse"
PAGE_FORMAT = "md:myst"
_NAME = re.compile(r"^(ex)?\d\d[a-z]?_[A-Za-z0-9_]+$")  # ex08b_speech for chapter 08b
_MARKER_LINE = re.compile(r"^[ \t]*(?:#|%)+\s*(BEGIN|END) SOLUTION[^\n]*\n?", re.MULTILINE)
_DEFAULT_KERNEL = {"name": "python3", "display_name": "Python 3"}
_NEW_CELL = {
    "code": nbformat.v4.new_code_cell,
    "markdown": nbformat.v4.new_markdown_cell,
    "raw": nbformat.v4.new_raw_cell,
}


def show_solutions() -> bool:
    """Is the self-learner edition (worked solutions shown) requested?"""
    return os.environ.get(SHOW_SOLUTIONS_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def page_stem(name: str) -> str:
    """File stem of the exercise page for assignment ``name``: ``ex02_hidden_state``."""
    return name if name.startswith("ex") else f"ex{name}"


def find_assignments(root: Path) -> list[str]:
    """Names ``[ex]NN_slug`` (or ``ex08b_slug``) of the assignments
    ``exercises/<name>/<name>.ipynb``, sorted."""
    exercises = root / "exercises"
    if not exercises.is_dir():
        return []
    return sorted(
        d.name
        for d in exercises.iterdir()
        if d.is_dir() and _NAME.match(d.name) and (d / f"{d.name}.ipynb").is_file()
    )


def _nbgrader(cell: dict[str, Any]) -> dict[str, Any]:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _fence(text: str, char: str) -> str:
    """A fence of ``char`` longer than any run of it inside ``text``."""
    longest = max((len(m) for m in re.findall(re.escape(char) + "+", text)), default=0)
    return char * max(3, longest + 1)


def solution_block(cell: dict[str, Any], language: str) -> NotebookNode:
    """A markdown cell holding a worked solution in a collapsed (toggle) admonition."""
    text = _MARKER_LINE.sub("", cell["source"]).strip("\n")
    if cell["cell_type"] == "code":
        inner = _fence(text, "`")
        text = f"{inner}{language}\n{text}\n{inner}"
    outer = _fence(text, ":")
    return nbformat.v4.new_markdown_cell(
        f"{outer}{{admonition}} Worked solution\n:class: dropdown tip\n\n{text}\n{outer}"
    )


def _download_cell(name: str) -> NotebookNode:
    return nbformat.v4.new_markdown_cell(
        ":::{admonition} Work on this exercise\n"
        ":class: note\n\n"
        f"{{download}}`Download the notebook {name}.ipynb </exercises/{name}/{name}.ipynb>`, "
        "open it in Jupyter with the course environment (`make setup`), replace every "
        "`raise NotImplementedError()` with your code, and run the checks in the notebook "
        "until they pass. The page below shows the same notebook without running it.\n"
        ":::"
    )


def build_page(name: str, student: dict[str, Any], solution: dict[str, Any] | None) -> NotebookNode:
    """The page notebook for assignment ``name``: title, download link, then the cells.

    Args:
        name: assignment name ``NN_slug``.
        student: the released notebook (nbformat 4), shown as it is, without cell metadata
            or outputs.
        solution: the instructor notebook to take worked solutions from, or ``None``.
    """
    student = nbformat.from_dict(student)
    kernelspec = {**_DEFAULT_KERNEL, **student.metadata.get("kernelspec", {})}  # valid for myst-nb
    language = kernelspec.get("language", "python")
    worked = {}
    if solution is not None:
        worked = {
            _nbgrader(c)["grade_id"]: c
            for c in nbformat.from_dict(solution).cells
            if _nbgrader(c).get("solution") and _nbgrader(c).get("grade_id")
        }

    cells = []
    for cell in student.cells:
        cells.append(_NEW_CELL[cell.cell_type](cell.source))
        if _nbgrader(cell).get("solution") and _nbgrader(cell).get("grade_id") in worked:
            cells.append(solution_block(worked[_nbgrader(cell)["grade_id"]], language))

    # The page title is the notebook's first heading; the download box goes right after it.
    if not (
        cells and cells[0].cell_type == "markdown" and cells[0].source.lstrip().startswith("# ")
    ):
        title = name.split("_", 1)[1].replace("_", " ").capitalize()  # ex02_a_b -> A b
        cells.insert(0, nbformat.v4.new_markdown_cell(f"# Exercise: {title}"))
    cells.insert(1, _download_cell(name))

    page = nbformat.v4.new_notebook()  # (not validated: the kernelspec is the release's)
    page.cells = cells
    page.metadata = nbformat.from_dict(
        {
            "jupytext": {"notebook_metadata_filter": f"mystnb,{GENERATED_KEY}"},
            "kernelspec": kernelspec,
            "mystnb": {"execution_mode": "off"},  # show the notebook, never run it
            GENERATED_KEY: {"generated": True, "source": f"exercises/{name}/{name}.ipynb"},
        }
    )
    return page


def to_myst(nb: NotebookNode) -> str:
    """The page text: ``nb`` in jupytext's MyST Markdown notebook format."""
    return jupytext.writes(nb, fmt=PAGE_FORMAT)


def _is_generated(path: Path) -> bool:
    """Was this page written by :func:`generate_pages` (and not by a person)?"""
    meta = jupytext.read(path, fmt=PAGE_FORMAT).metadata.get(GENERATED_KEY)
    return isinstance(meta, dict) and meta.get("generated") is True


def generate_pages(root: Path, with_solutions: bool) -> list[Path]:
    """Write ``book/exercises/<page_stem(name)>.md`` for every assignment; return the pages.

    Pages generated earlier whose assignment is gone are removed; files not written by
    this function are never touched.
    """
    page_dir = root / PAGE_DIR
    page_dir.mkdir(parents=True, exist_ok=True)
    wanted: list[Path] = []
    for name in find_assignments(root):
        student = nbformat.read(root / "exercises" / name / f"{name}.ipynb", as_version=4)
        solution = None
        if with_solutions:
            sol_path = root / "solutions" / name / f"{name}.ipynb"
            if sol_path.is_file():
                solution = nbformat.read(sol_path, as_version=4)
            else:
                logger.warning(
                    "%s=1 but %s is missing", SHOW_SOLUTIONS_ENV, sol_path.relative_to(root)
                )
        page = page_dir / f"{page_stem(name)}.md"
        text = to_myst(build_page(name, student, solution))
        if not page.is_file() or page.read_text(encoding="utf-8") != text:
            page.write_text(text, encoding="utf-8")
        wanted.append(page)

    for old in page_dir.glob("ex*.md"):
        if old not in wanted and _is_generated(old):
            old.unlink()
    return wanted


def _on_config_inited(app: Sphinx, config: Config) -> None:
    pages = generate_pages(Path(app.srcdir), show_solutions())
    edition = "with worked solutions" if show_solutions() else "student edition"
    logger.info("[rnncourse] %d exercise page(s), %s", len(pages), edition)


def setup(app: Sphinx) -> dict[str, Any]:
    # Before sphinx-external-toc (priority 900) scans the source tree for the toc globs.
    app.connect("config-inited", _on_config_inited, priority=100)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
