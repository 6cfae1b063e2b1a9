"""Exercise pages for the book, generated from the nbgrader assignments.

For every assignment notebook ``exercises/<name>/<name>.ipynb`` (``<name>`` like
``ex02_hidden_state``, or ``ex08b_speech`` for an inserted chapter; the nbgrader release
folder, see ``nbgrader_config.py``) this extension writes a page ``book/exercises/<name>.md``
(a MyST Markdown notebook, so that chapters can link to ``exercises/ex02_hidden_state.md``;
``ex`` is prefixed if the name lacks it) before Sphinx looks for sources. The page sits as deep
in the tree as the assignment, so relative links in the notebook
(``../../book/02_hidden_state.md``) still resolve. The page is the student notebook itself,
shown **without executing it**, preceded by a download link that returns the original
``.ipynb`` (Sphinx's ``{download}`` role copies it into ``_build/html/_downloads``).

Setting the environment variable ``RNNCOURSE_SHOW_SOLUTIONS=1`` (``make book-solutions``)
builds the self-learner edition: after every nbgrader solution cell the page shows the
worked solution from the instructor notebook ``solutions/<name>/<name>.ipynb`` (nbgrader
source; cells matched by ``grade_id``, solution markers dropped) in a collapsed block
(sphinx-togglebutton). It is off by default. Any ``### BEGIN SOLUTION`` region that
slipped into a student notebook is blanked out the way ``nbgrader generate_assignment``
does it, so solutions never leak into the student edition.

Generated pages carry ``rnncourse: generated: true`` in their front matter; they are rewritten
only when their content changes (Sphinx rebuilds only what changed) and removed when
their assignment disappears. ``book/exercises/.gitignore`` keeps them out of git.
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util import logging

logger = logging.getLogger(__name__)

SHOW_SOLUTIONS_ENV = "RNNCOURSE_SHOW_SOLUTIONS"
PAGE_DIR = Path("book") / "exercises"
GENERATED_KEY = "rnncourse"
_NAME = re.compile(r"^(ex)?\d\d[a-z]?_[A-Za-z0-9_]+$")  # ex08b_speech for chapter 08b
_MARKER_LINE = re.compile(r"^[ \t]*(?:#|%)+\s*(BEGIN|END) SOLUTION[^\n]*\n?", re.MULTILINE)
_SOLUTION_REGION = re.compile(
    r"^([ \t]*)(?:#|%)+\s*BEGIN SOLUTION.*?^[ \t]*(?:#|%)+\s*END SOLUTION[^\n]*\n?",
    re.MULTILINE | re.DOTALL,
)


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


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _nbgrader(cell: dict[str, Any]) -> dict[str, Any]:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def blank_solution_regions(text: str, cell_type: str) -> str:
    """Replace ``### BEGIN SOLUTION ... ### END SOLUTION`` the way nbgrader does."""
    if cell_type == "code":
        return _SOLUTION_REGION.sub(
            lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}raise NotImplementedError()\n",
            text,
        )
    return _SOLUTION_REGION.sub("YOUR ANSWER HERE\n", text)


def _fence(text: str, char: str = "`") -> str:
    """A code fence longer than any run of ``char`` inside ``text``."""
    longest = max((len(m) for m in re.findall(re.escape(char) + "+", text)), default=0)
    return char * max(3, longest + 1)


def solution_block(cell: dict[str, Any], language: str) -> dict[str, Any]:
    """A markdown cell holding a worked solution in a collapsed (toggle) admonition."""
    text = _MARKER_LINE.sub("", _source(cell)).strip("\n")
    if cell.get("cell_type") == "code":
        inner_fence = _fence(text)
        body = f"{inner_fence}{language}\n{text}\n{inner_fence}"
    else:
        body = text
    outer = _fence(body, ":")
    md = f"{outer}{{admonition}} Worked solution\n:class: dropdown tip\n\n{body}\n{outer}\n"
    return {"cell_type": "markdown", "metadata": {}, "source": md}


def _download_cell(name: str) -> dict[str, Any]:
    md = (
        ":::{admonition} Work on this exercise\n"
        ":class: note\n\n"
        f"{{download}}`Download the notebook {name}.ipynb </exercises/{name}/{name}.ipynb>`, "
        "open it in Jupyter with the course environment (`make setup`), replace every "
        "`raise NotImplementedError()` with your code, and run the checks in the notebook "
        "until they pass. The page below shows the same notebook without running it.\n"
        ":::\n"
    )
    return {"cell_type": "markdown", "metadata": {}, "source": md}


def to_myst(nb: dict[str, Any]) -> str:
    """A MyST Markdown notebook (jupytext ``myst`` format) with the cells of ``nb``.

    Cell metadata (nbgrader's) is dropped: the page only shows the cells.
    """
    meta = nb.get("metadata", {})
    front = {
        "jupytext": {"text_representation": {"extension": ".md", "format_name": "myst"}},
        "kernelspec": meta.get("kernelspec", {}),
        "mystnb": meta.get("mystnb", {}),
        GENERATED_KEY: meta.get(GENERATED_KEY, {}),
    }
    parts = ["---\n" + json.dumps(front, indent=1) + "\n---\n"]
    previous = None
    for cell in nb.get("cells", []):
        text = _source(cell).strip("\n")
        if cell.get("cell_type") == "code":
            fence = _fence(text)
            parts.append(f"{fence}{{code-cell}} ipython3\n{text}\n{fence}\n")
        elif cell.get("cell_type") == "markdown":
            if previous == "markdown":
                parts.append("+++\n")  # keeps consecutive markdown cells apart
            parts.append(text + "\n")
        previous = cell.get("cell_type")
    return "\n".join(parts)


def build_page(name: str, student: dict[str, Any], solution: dict[str, Any] | None) -> dict:
    """The page notebook for assignment ``name``: title, download link, then the cells.

    Args:
        name: assignment name ``NN_slug``.
        student: the student notebook (nbformat 4 JSON).
        solution: the instructor notebook to take worked solutions from, or ``None``.
    """
    nb = copy.deepcopy(student)
    language = nb.get("metadata", {}).get("kernelspec", {}).get("language", "python")
    by_id = {}
    if solution is not None:
        by_id = {
            _nbgrader(c)["grade_id"]: c
            for c in solution.get("cells", [])
            if _nbgrader(c).get("solution") and _nbgrader(c).get("grade_id")
        }

    cells: list[dict[str, Any]] = []
    for cell in nb.get("cells", []):
        cell = copy.deepcopy(cell)
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        text = _source(cell)
        blanked = blank_solution_regions(text, cell.get("cell_type", ""))
        if blanked != text:
            cell["source"] = blanked
        cells.append(cell)
        grade_id = _nbgrader(cell).get("grade_id")
        if solution is not None and _nbgrader(cell).get("solution") and grade_id in by_id:
            cells.append(solution_block(by_id[grade_id], language))

    # The page title is the notebook's first heading; the download box goes right after it.
    first = cells[0] if cells else None
    has_title = (
        first is not None
        and first.get("cell_type") == "markdown"
        and _source(first).lstrip().startswith("# ")
    )
    if not has_title:
        title = name.split("_", 1)[1].replace("_", " ").capitalize()  # ex02_a_b -> A b
        heading = {"cell_type": "markdown", "metadata": {}, "source": f"# Exercise: {title}\n"}
        cells.insert(0, heading)
    cells.insert(1, _download_cell(name))

    nb["cells"] = cells
    nb["nbformat"], nb["nbformat_minor"] = 4, 5
    meta = nb.setdefault("metadata", {})
    meta.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3"})
    meta["mystnb"] = {"execution_mode": "off"}  # show the notebook, never run it
    meta[GENERATED_KEY] = {"generated": True, "source": f"exercises/{name}/{name}.ipynb"}
    return nb


def _is_generated(path: Path) -> bool:
    """Was this page written by :func:`generate_pages` (and not by a person)?"""
    head = path.read_text(encoding="utf-8")[:2000]
    return head.startswith("---\n") and f'"{GENERATED_KEY}": {{\n  "generated": true' in head


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def generate_pages(root: Path, with_solutions: bool) -> list[Path]:
    """Write ``book/exercises/<page_stem(name)>.md`` for every assignment; return the pages.

    Pages generated earlier whose assignment is gone are removed; files not written by
    this function are never touched.
    """
    page_dir = root / PAGE_DIR
    page_dir.mkdir(parents=True, exist_ok=True)
    wanted: list[Path] = []
    for name in find_assignments(root):
        student = _read(root / "exercises" / name / f"{name}.ipynb")
        solution = None
        if with_solutions:
            sol_path = root / "solutions" / name / f"{name}.ipynb"
            if sol_path.is_file():
                solution = _read(sol_path)
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
