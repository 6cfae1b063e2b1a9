"""Feedback a learner reads first: a per-task table above nbgrader's feedback notebook.

:class:`FeedbackSummary` (an nbconvert preprocessor, configured in ``nbgrader_config.py`` for
``GenerateFeedback``, after nbgrader's ``GetGrades``) collects, for every graded test cell, the
task (its docstring question), the points, passed or failed, and the verdict the grader wrote
(the diagnosis; never test code, which ``HideTestCode`` has already cut to its last line), and
puts them as a table in a cell at the top of the page. The template :data:`TEMPLATE`
(``rnncourse_feedback``: nbgrader's ``feedback`` with the MathJax macro emptied) makes the page
load nothing from outside it: math in the notebook's text shows as written.

:class:`FeedbackExporter` renders feedback pages, and only them, with that template
(``nbgrader_config.py`` sets it as ``GenerateFeedback.exporter_class``). Configuring
``HTMLExporter`` instead would also reach the formgrader, which renders its grading pages with an
``HTMLExporter`` and template ``formgrade``: every grading page then fails (HTTP 500).
"""

from __future__ import annotations

import ast
import copy
import html
from pathlib import Path
from typing import Any

import nbformat
from nbconvert.exporters import HTMLExporter
from nbconvert.preprocessors import Preprocessor
from traitlets.config import Config

__all__ = ["FeedbackExporter", "FeedbackSummary", "HideTestCode", "TEMPLATE", "TEMPLATE_DIR",
           "summary_rows"]  # fmt: skip

#: The feedback template's name and the folder that holds it.
TEMPLATE = "rnncourse_feedback"
TEMPLATE_DIR = str(Path(__file__).with_name("templates"))


def _question(source: str, fallback: str) -> str:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return fallback
    doc = ast.get_docstring(tree) if tree.body else None
    return doc.strip().splitlines()[0] if doc else fallback


def summary_rows(nb: Any) -> list[dict[str, Any]]:
    """One row per graded test cell: task, anchor, score, points, passed, diagnosis.

    Passed or failed is the verdict the trusted grader recorded on the cell
    (``metadata.rnncourse.verdict``) where there is one; the diagnosis is its message."""
    rows = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        verdict = cell.get("metadata", {}).get("rnncourse", {}).get("verdict")  # the grader's
        if verdict is not None:
            errors = errors if not verdict.get("passed") else []
        points = float(meta.get("points", 0) or 0)
        score = meta.get("score")  # nbgrader's GetGrades sets it for feedback; else: all or none
        score = float(score) if score is not None else (0.0 if errors else points)
        if errors:
            diagnosis = str(errors[-1].get("evalue", "")) or str(errors[-1].get("ename", ""))
        else:
            diagnosis = "correct on every case" if score >= points else ""
        rows.append({
            "task": _question(cell.get("source", ""), meta.get("grade_id", "")),
            "anchor": meta.get("grade_id", ""),
            "score": score,
            "points": points,
            "passed": not errors and score >= points,
            "diagnosis": diagnosis,
        })  # fmt: skip
    return rows


def summary_html(rows: list[dict[str, Any]]) -> str:
    """The rows as an HTML table (every text escaped)."""
    body = []
    for row in rows:
        style = "background:#dff0d8" if row["passed"] else "background:#f2dede"
        body.append(
            f'<tr style="{style}"><td><a href="#{html.escape(row["anchor"])}">'
            f"{html.escape(row['task'])}</a></td>"
            f'<td style="text-align:center">{row["score"]:g} / {row["points"]:g}</td>'
            f'<td style="text-align:center">{"passed" if row["passed"] else "failed"}</td>'
            f'<td><pre style="white-space:pre-wrap;margin:0;border:none;background:none;'
            f'padding:0">{html.escape(row["diagnosis"])}</pre></td></tr>'
        )
    return (
        '<div id="rnncourse-summary"><h3>Your results, task by task</h3>'
        '<table class="table table-condensed"><thead><tr><th>task</th><th>points</th>'
        "<th>result</th><th>what the grader saw</th></tr></thead><tbody>"
        + "".join(body)
        + "</tbody></table></div>"
    )


class HideTestCode(Preprocessor):
    """Replace the traceback of every error in a graded cell by ``ename: evalue``.

    Feedback shows results, not test code: tracebacks quote the failing source lines (nbgrader's
    ``ClearHiddenTests`` removes the hidden tests themselves).
    """

    enabled = True  # nbconvert preprocessors are off unless enabled

    def preprocess_cell(self, cell: Any, resources: Any, index: int) -> Any:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources


class FeedbackSummary(Preprocessor):
    """Insert the per-task table as the notebook's first cell (feedback only)."""

    enabled = True

    def preprocess(self, nb: Any, resources: Any) -> Any:
        rows = summary_rows(nb)
        if rows:
            nb.cells.insert(0, nbformat.v4.new_markdown_cell(summary_html(rows)))
        return nb, resources


def formgrader_templates() -> str:
    """nbgrader's template folder, which holds its ``feedback`` template (ours extends it)."""
    import nbgrader

    return str(Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "templates")


class FeedbackExporter(HTMLExporter):
    """The HTML exporter of feedback pages: template :data:`TEMPLATE`, looked up in
    :data:`TEMPLATE_DIR` and nbgrader's template folder.

    Only this class's own config section (``c.FeedbackExporter``) can change the template and its
    folders: ``HTMLExporter``'s section, which traitlets would apply to this subclass too, names
    nbgrader's choices (``GenerateFeedback`` and the formgrader's "generate feedback" button set
    ``HTMLExporter.template_name = "feedback"``; the formgrader's server sets ``"formgrade"``).
    Everything else in ``HTMLExporter``'s section (nbgrader's folder of ``bootstrap.min.css``)
    still applies.
    """

    def __init__(self, **kwargs: Any) -> None:
        parent = kwargs.get("parent")
        config = kwargs.get("config")
        if config is None and parent is not None:
            config = parent.config
        config = copy.deepcopy(config) if config is not None else Config()
        own = config.FeedbackExporter  # the subclass's section wins over HTMLExporter's
        if "template_name" not in own:
            own.template_name = TEMPLATE
        if "extra_template_basedirs" not in own:
            own.extra_template_basedirs = [formgrader_templates(), TEMPLATE_DIR]
        super().__init__(**{**kwargs, "config": config})
