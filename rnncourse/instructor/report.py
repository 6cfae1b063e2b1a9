"""Summarise an autograded assignment: score distributions, hardest tasks, frequent mistakes.

Instructor tooling behind ``rnncourse report`` (see :mod:`rnncourse.instructor.cli`). Scores come
from nbgrader's gradebook (the single source of truth); the diagnosed mistakes from the
verdict the trusted grader records on each failing test cell of the autograded notebooks
(``metadata.rnncourse.verdict``: the task and the ids of its recognised mistakes, whose hints
come from the task's registered :class:`~rnncourse.grading.Mistake`); the failed and
timed-out runs from the status file written by :mod:`rnncourse.instructor.autograde_parallel`.

Files written to ``out`` (default ``reports/<assignment>/``):

============== ==================================================================
``scores.csv``   one row per student and task: score, max score, autograde status
``tasks.csv``    one row per task, hardest (lowest mean fraction) first
``scores.png``   a histogram of the scores of every task
``mistakes.csv`` diagnosed mistakes per task and function, most frequent first
``problems.csv`` submissions whose autograde run failed or timed out, with the reason
``failures.csv`` per student, tasks failed for a reason other than a wrong value (the cell
                 did not parse, a name not defined, an exception, a time-out, a refusal by a
                 source rule, not implemented), with the cell and the detail
============== ==================================================================

The failures come from the verdict the trusted grader records on each test cell
(``metadata.rnncourse.verdict``: ``passed``, ``kind`` and, for a cell that did not parse, the
cell's first line and Python's reason), not from the words of the message.

Examples::

    >>> from rnncourse.instructor.report import build_report  # doctest: +SKIP
    >>> report = build_report(".", "ex02_hidden_state")  # doctest: +SKIP
    >>> report.tasks[0].name  # the hardest task  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rnncourse.instructor.autograde_parallel import FAILED, GRADED, TIMED_OUT
from rnncourse.instructor.course import check_assignment, folder, gradebook_url, read_status

__all__ = ["TaskStats", "Report", "build_report", "write_report", "parse_mistakes", "failures"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class TaskStats:
    """Score statistics of one graded cell over all submissions.

    Args:
        name: the graded cell's ``grade_id`` (prefixed by the notebook when there are several).
        max_score: the points it is worth.
        scores: every submission's score.
    """

    name: str
    max_score: float
    scores: list[float] = field(default_factory=list)

    @property
    def mean_fraction(self) -> float:
        """Mean of score / max_score (0 for an empty task)."""
        if not self.scores or not self.max_score:
            return 0.0
        return sum(self.scores) / (len(self.scores) * self.max_score)

    @property
    def full(self) -> int:
        return sum(s >= self.max_score for s in self.scores)

    @property
    def zero(self) -> int:
        return sum(s == 0 for s in self.scores)


@dataclass
class Report:
    """Everything ``rnncourse report`` prints and writes."""

    assignment: str
    rows: list[tuple[str, str, float, float, str]]  # student, task, score, max, status
    tasks: list[TaskStats]  # hardest first
    mistakes: Counter  # (task, function, hint) -> count
    problems: list[tuple[str, str, float, str]]  # student, status, seconds, reason
    unsandboxed: list[str] = field(default_factory=list)  # graded without the sandbox
    failures: list[tuple[str, str, str, str]] = field(default_factory=list)  # see failures()


def parse_mistakes(notebook) -> list[tuple[str, str, str]]:
    """``(grade_id, function, hint)`` for each recognised mistake a graded cell's verdict names.

    Args:
        notebook: an autograded notebook (an ``nbformat`` node or a dict).
    """
    from rnncourse.grading import spec

    found = []
    for cell in notebook["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not meta.get("grade") or cell.get("cell_type") != "code":
            continue
        verdict = cell.get("metadata", {}).get("rnncourse", {}).get("verdict", {})
        task = verdict.get("task")
        try:
            hints = {m.name: m.hint for m in spec(task).mistakes} if task else {}
        except KeyError:  # a task this version of the course no longer registers
            hints = {}
        for mistake in verdict.get("mistakes", []):
            found.append((meta["grade_id"], task, hints.get(mistake, mistake)))
    return found


#: Verdict kinds that say the answer's values were checked and found wrong; every other kind
#: is a reason an instructor wants to see at once (see rnncourse.grading.VERDICT_KINDS).
_VALUE_KINDS = frozenset({"wrong", "contract"})


def _first_line(cell) -> str:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            text = _ANSI.sub("", "\n".join(output.get("traceback", [])) or output.get("evalue", ""))
            return " ".join(text.split())[:200]
    return ""


def failures(notebook) -> list[tuple[str, str, str]]:
    """``(grade_id, kind, detail)`` for each test cell that failed for a reason other than a
    wrong value, from the verdicts the trusted grader recorded.

    Args:
        notebook: an autograded notebook (an ``nbformat`` node or a dict).
    """
    found = []
    for cell in notebook["cells"]:
        meta = cell.get("metadata", {})
        verdict = meta.get("rnncourse", {}).get("verdict")
        grade_id = meta.get("nbgrader", {}).get("grade_id")
        if not verdict or verdict.get("passed") or verdict.get("kind") in _VALUE_KINDS:
            continue
        kind = verdict.get("kind", "error")
        if kind == "did-not-parse":
            detail = f"{verdict.get('cell', 'a cell')} did not parse ({verdict.get('why', '')})"
        elif kind == "refused":
            detail = "; ".join(verdict.get("findings", [])[:3]) or _first_line(cell)
        else:
            detail = _first_line(cell)
        found.append((grade_id, kind, detail))
    return found


def _gradebook_rows(course: Path, assignment: str, status: dict) -> tuple[list, list[TaskStats]]:
    from nbgrader.api import Gradebook

    with Gradebook(gradebook_url(course)) as gb:
        spec = gb.find_assignment(assignment)
        several = len(spec.notebooks) > 1
        tasks: dict[tuple[str, str], TaskStats] = {}
        for notebook in spec.notebooks:
            for cell in notebook.grade_cells:
                label = f"{notebook.name}/{cell.name}" if several else cell.name
                tasks[notebook.name, cell.name] = TaskStats(label, float(cell.max_score))
        rows = []
        for submission in sorted(gb.assignment_submissions(assignment), key=lambda s: s.student_id):
            run = status.get(submission.student_id, {}).get("status", GRADED)
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    stats = tasks[notebook.name, grade.name]
                    stats.scores.append(float(grade.score))
                    rows.append((submission.student_id, stats.name, float(grade.score),
                                 stats.max_score, run))  # fmt: skip
    ordered = sorted(tasks.values(), key=lambda t: (t.mean_fraction, t.name))
    return rows, ordered


def build_report(course: str | Path, assignment: str) -> Report:
    """Collect the report of ``assignment`` from the gradebook, the autograded notebooks and
    the autograde status file.

    Raises:
        AssignmentError: the gradebook does not know ``assignment``.
    """
    import nbformat

    course = Path(course)
    check_assignment(course, assignment)
    status = read_status(course, assignment)
    rows, tasks = _gradebook_rows(course, assignment, status)
    mistakes: Counter = Counter()
    failed: list[tuple[str, str, str, str]] = []
    # the status file (rnncourse autograde) or the notebook (plain nbgrader) says so
    unsandboxed = {s for s, rec in status.items() if rec.get("sandboxed") is False}
    for path in sorted(folder(course, "autograded").glob(f"*/{assignment}/*.ipynb")):
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception:  # noqa: BLE001 - a damaged file is not the report's business
            continue
        mistakes.update(parse_mistakes(nb))
        student = path.parent.parent.name
        failed += [(student, *failure) for failure in failures(nb)]
        if nb.metadata.get("rnncourse", {}).get("sandboxed") is False:
            unsandboxed.add(path.parent.parent.name)
    problems = [
        (student, rec["status"], float(rec.get("seconds", 0.0)), rec.get("reason", ""))
        for student, rec in sorted(status.items())
        if rec.get("status") in (FAILED, TIMED_OUT)
    ]
    return Report(assignment, rows, tasks, mistakes, problems, sorted(unsandboxed), failed)


def _write_csv(path: Path, header: list[str], rows) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def _plot(tasks: list[TaskStats], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(3, max(1, len(tasks)))
    rows = -(-len(tasks) // columns) or 1
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), squeeze=False)
    for ax in axes.flat[len(tasks) :]:
        ax.set_visible(False)
    for ax, task in zip(axes.flat, tasks, strict=False):
        # one bin per half point, centred on the possible scores
        edges = [x / 2 - 0.25 for x in range(int(task.max_score * 2) + 2)]
        ax.hist(task.scores, bins=edges, color="tab:blue", edgecolor="white")
        ax.set_xticks([edge + 0.25 for edge in edges[:-1]])
        ax.set_title(
            f"{task.name}\nmean {task.mean_fraction:.0%} of {task.max_score:g}", fontsize=9
        )
        ax.set_xlabel("score")
        ax.set_ylabel("submissions")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(report: Report, out: str | Path) -> dict[str, Path]:
    """Write the CSV files and the PNG of ``report`` into ``out``; return ``name -> path``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = ("scores.csv", "tasks.csv", "scores.png", "mistakes.csv", "problems.csv",
             "failures.csv")  # fmt: skip
    paths = {name: out / name for name in names}
    _write_csv(
        paths["scores.csv"], ["student", "task", "score", "max_score", "status"], report.rows
    )
    _write_csv(
        paths["tasks.csv"],
        ["task", "max_score", "submissions", "mean_score", "mean_fraction", "full", "zero"],
        [
            (t.name, t.max_score, len(t.scores), round(t.mean_fraction * t.max_score, 4),
             round(t.mean_fraction, 4), t.full, t.zero)
            for t in report.tasks
        ],
    )  # fmt: skip
    _write_csv(
        paths["mistakes.csv"],
        ["task", "function", "mistake", "count"],
        [(*key, count) for key, count in report.mistakes.most_common()],
    )
    _write_csv(paths["problems.csv"], ["student", "status", "seconds", "reason"], report.problems)
    _write_csv(paths["failures.csv"], ["student", "task", "kind", "detail"], report.failures)
    _plot(report.tasks, paths["scores.png"])
    return paths
