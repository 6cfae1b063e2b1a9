"""Hostile submissions of ``ex02_hidden_state``: what each does and what it must score.

Each :class:`Hostile` writes one student's submission folder from the released notebook and the
instructor's answers, and states the exact score nbgrader must give each graded cell, how the
autograde run must end, and which audit categories must flag it. ``tests/test_hostile.py`` grades
them all in one parallel batch next to a good submission.

The batch runs with a short per-cell timeout (``--cell-timeout``), a wall-time limit per
submission and an address-space limit (see :data:`MEMORY_MB`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode

ASSIGNMENT = "ex02_hidden_state"
TASKS = (
    "test_rnn_cell_batch",
    "test_rnn_cell_unbatched",
    "test_output_layer",
    "test_count_parameters",
)
FULL = dict(zip(TASKS, (2.0, 1.0, 2.0, 2.0), strict=True))
ZERO = dict.fromkeys(TASKS, 0.0)
#: Address-space limit for the batch; a kernel with torch needs < 1 GiB of it.
MEMORY_MB = 1536


def scores(batch: float, unbatched: float, output: float, count: float) -> dict[str, float]:
    return dict(zip(TASKS, (batch, unbatched, output, count), strict=True))


Build = Callable[[NotebookNode, NotebookNode, Path], None]


@dataclass(frozen=True)
class Hostile:
    """One hostile submission.

    Args:
        student: the student id.
        what: what the submission does.
        build: ``(release, solution, folder) -> None`` writes the submission into ``folder``.
        expected: exact score per graded cell; ``None``: no submission in the gradebook.
        status: how ``rnncourse autograde`` must record the run.
        flags: audit categories that must flag it (others may too).
    """

    student: str
    what: str
    build: Build
    expected: dict[str, float] | None
    status: str = "graded"
    flags: frozenset[str] = field(default_factory=frozenset)


def _answers(release: NotebookNode, solution: NotebookNode, **sources: str) -> NotebookNode:
    """The release with every solution cell answered from ``solution``, then ``sources``
    (``grade_id -> source``; the text ``{solution}`` inside one stands for the correct answer).
    """
    nb = nbformat.from_dict(release)
    correct = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in solution.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in correct:
            cell.source = sources.get(gid, "{solution}").replace("{solution}", correct[gid])
    return nb


def _write(nb: NotebookNode, folder: Path, name: str = ASSIGNMENT) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{name}.ipynb")


def _notebook(**sources: str) -> Build:
    def build(release: NotebookNode, solution: NotebookNode, folder: Path) -> None:
        _write(_answers(release, solution, **sources), folder)

    return build


def _blank(release: NotebookNode, solution: NotebookNode, folder: Path) -> None:
    _write(release, folder)


def _edit_cell(grade_id: str, change: Callable[[NotebookNode], None], **sources: str) -> Build:
    def build(release: NotebookNode, solution: NotebookNode, folder: Path) -> None:
        nb = _answers(release, solution, **sources)
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
                change(cell)
        _write(nb, folder)

    return build


def _delete_cell(grade_id: str) -> Build:
    def build(release: NotebookNode, solution: NotebookNode, folder: Path) -> None:
        nb = _answers(release, solution)
        nb.cells = [
            c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != grade_id
        ]
        _write(nb, folder)

    return build


def _add_cells(sources: list[str]) -> Build:
    def build(release: NotebookNode, solution: NotebookNode, folder: Path) -> None:
        nb = _answers(release, solution)
        nb.cells += [nbformat.v4.new_code_cell(source) for source in sources]
        _write(nb, folder)

    return build


def _malformed(release: NotebookNode, solution: NotebookNode, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{ASSIGNMENT}.ipynb").write_text('{"cells": [{"cell_type": "code", "sour')


def _renamed(release: NotebookNode, solution: NotebookNode, folder: Path) -> None:
    _write(_answers(release, solution), folder, f"{ASSIGNMENT} (1)")


def _missing(release: NotebookNode, solution: NotebookNode, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.txt").write_text("I could not finish, sorry.\n")


def _set_points(cell: NotebookNode) -> None:
    cell.metadata["nbgrader"]["points"] = 100


def _gut(cell: NotebookNode) -> None:
    cell.source = '"""Does output_layer match the reference?"""\npass'


WRONG_COUNT = "def count_parameters(input_size, hidden_size, output_size):\n    return 0\n"
WRONG_RNN = "def rnn_cell(x, h, *args, **kwargs):\n    return h\n"

CORPUS: tuple[Hostile, ...] = (
    Hostile("good", "the instructor's answers", _notebook(), FULL),
    Hostile("blank", "the release, unanswered", _blank, ZERO),
    Hostile(
        "loop_and_hog",
        "an infinite loop (interrupted by the cell timeout) in task 1's cell; a 3 GiB "
        "allocation, over the address-space limit, in task 4's cell",
        _notebook(
            rnn_cell="while True:\n    pass\n{solution}",
            count_parameters="hog = b'x' * (3 * 2**30)\n{solution}",
        ),
        scores(0, 0, 2, 0),
    ),
    Hostile(
        "slow",
        "adds cells that each sleep under the per-cell timeout, 120 s in all: only the "
        "wall-time limit per submission stops it",
        _add_cells(["import time\ntime.sleep(8)"] * 15),
        ZERO,
        status="timed out",
    ),
    Hostile(
        "os_exit",
        "os._exit(1) kills the kernel in task 3's cell (before output_layer is defined); a fresh "
        "kernel replays the cells before it and grades the rest",
        _notebook(output_layer="import os\nos._exit(1)\n{solution}"),
        scores(2, 1, 0, 2),
        flags=frozenset({"exit"}),
    ),
    Hostile(
        "exits_and_raises",
        "an import error in task 3's cell; sys.exit() (SystemExit) in task 4's cell",
        _notebook(
            output_layer="import torchh\n{solution}",
            count_parameters="import sys\nsys.exit('bye')\n{solution}",
        ),
        scores(2, 1, 0, 0),
        flags=frozenset({"exit"}),
    ),
    Hostile(
        "deleted_test",
        "deletes the locked test cell of task 3",
        _delete_cell("test_output_layer"),
        scores(2, 1, 0, 2),
        flags=frozenset({"locked-cell"}),
    ),
    Hostile(
        "edited_test",
        "guts task 3's locked test cell (nbgrader restores it) and leaves task 3 blank",
        _edit_cell(
            "test_output_layer",
            _gut,
            output_layer="def output_layer(h, weight_hy, bias_y):\n    raise NotImplementedError()",
        ),
        scores(2, 1, 0, 2),
        flags=frozenset({"locked-cell"}),
    ),
    Hostile(
        "points_and_spam",
        "raises task 4's points to 100 (nbgrader restores them); prints 2.5 MB in task 1's cell",
        _edit_cell(
            "test_count_parameters", _set_points, rnn_cell="{solution}\nprint('spam\\n' * 500_000)"
        ),
        FULL,
        flags=frozenset({"locked-cell"}),
    ),
    Hostile(
        "malformed",
        "the notebook file is not JSON",
        _malformed,
        ZERO,
        status="failed",
        flags=frozenset({"unreadable"}),
    ),
    Hostile("renamed", "the notebook is saved under another name", _renamed, ZERO, status="failed"),
    Hostile("missing", "no notebook at all (nbgrader records nothing)", _missing, None, "failed"),
    Hostile(
        "patch_allclose",
        "rebinds np.allclose to always agree, with a wrong rnn_cell",
        _notebook(rnn_cell="np.allclose = lambda *a, **k: True\n" + WRONG_RNN),
        scores(0, 0, 2, 2),
        flags=frozenset({"rebinding"}),
    ),
    Hostile(
        "patch_reference",
        "replaces the reference rnncourse.rnn.rnn_cell with its own wrong function",
        _notebook(rnn_cell=WRONG_RNN + "import rnncourse.rnn\nrnncourse.rnn.rnn_cell = rnn_cell\n"),
        scores(0, 0, 2, 2),
        flags=frozenset({"rebinding", "imports-reference"}),
    ),
    Hostile(
        "sneaky",
        "task 1: imports the reference; task 3: reads /etc/hostname; task 4: a wrong answer "
        "and grading.check rebound (which raises)",
        _notebook(
            rnn_cell="from rnncourse.rnn import rnn_cell",
            output_layer="{solution}\nsecret = open('/etc/hostname').read()",
            count_parameters=WRONG_COUNT + "grading.check = lambda *a, **k: None\n",
        ),
        scores(0, 0, 2, 0),
        flags=frozenset({"imports-reference", "file-access", "rebinding"}),
    ),
    Hostile(
        "silent_errors",
        "disables IPython's traceback display, then answers nothing",
        _notebook(
            rnn_cell="get_ipython().showtraceback = lambda *a, **k: None\n"
            "def rnn_cell(*args, **kwargs):\n    raise NotImplementedError()",
            output_layer="def output_layer(*args):\n    raise NotImplementedError()",
            count_parameters="def count_parameters(*args):\n    raise NotImplementedError()",
        ),
        ZERO,
        flags=frozenset({"traceback"}),
    ),
)
