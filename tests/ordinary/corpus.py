"""Notebooks as honest learners leave them, each with the score a fair human grader gives.

Every case starts from the released ``ex02_hidden_state`` with the instructor's answers and
changes what learners change: scratch lines left unfinished (before, between and after the
tests), cells added and deleted, cells run out of order, helpers of their own, prints, plots,
progress bars, warnings, magics, slow and endless scratch cells, a restarted kernel, answers
split over cells, a written answer left blank, and a few honest mistakes. ``expect`` is what a
fair grader gives per graded cell: a broken scratch cell costs nothing, a broken answer cell
costs the tasks that need what it defines.

The course used for the corpus adds one written question to ex02 (``written``, 1 point,
graded by hand) so that a blank markdown answer is part of it; see :func:`add_written_question`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import nbformat
from nbformat.notebooknode import NotebookNode

from tests.hostile.corpus import ASSIGNMENT, _answers

#: Points per graded cell of ex02 in the corpus course (its four tests and the written answer).
POINTS = {
    "test_rnn_cell_batch": 2.0,
    "test_rnn_cell_unbatched": 1.0,
    "test_output_layer": 2.0,
    "test_count_parameters": 2.0,
    "written": 1.0,
}
#: The autograded scores of a notebook with every function right. A written answer is graded
#: by a person (``None``: autograde leaves it for the formgrader); a blank one scores 0.
FULL: dict[str, float | None] = {**POINTS, "written": None}
#: What every learner but one writes as the written answer.
WRITTEN_ANSWER = "The hidden state carries what the sequence has shown so far."
#: The per-cell time limit the corpus is graded with (seconds): the endless loop meets it.
CELL_TIMEOUT = 10

Edit = Callable[[NotebookNode], NotebookNode]


@dataclass(frozen=True)
class Case:
    """One learner's notebook: ``edit`` turns the answered release into it."""

    student: str
    edit: Edit
    expect: dict[str, float | None] = field(default_factory=lambda: dict(FULL))
    why: str = ""
    written: str | None = WRITTEN_ANSWER  # None: left as released


def add_written_question(solution: NotebookNode) -> NotebookNode:
    """ex02's instructor notebook with a hand-graded written question at the end."""
    nb = copy.deepcopy(solution)
    meta = {"grade": True, "solution": True, "locked": False, "points": 1,
            "grade_id": "written", "schema_version": 3}  # fmt: skip
    question = nbformat.v4.new_markdown_cell(
        "## Task 5: in words (1 point, graded by hand)\n\nWhat does the hidden state carry?"
    )
    question.metadata["nbgrader"] = {
        "grade": False, "solution": False, "locked": True, "grade_id": "written_question",
        "schema_version": 3,
    }  # fmt: skip
    answer = nbformat.v4.new_markdown_cell(
        f"### BEGIN SOLUTION\n{WRITTEN_ANSWER}\n### END SOLUTION"
    )
    answer.metadata["nbgrader"] = meta
    nb.cells += [question, answer]
    return nb


# -- edits -------------------------------------------------------------------------------------


def _index(nb: NotebookNode, grade_id: str) -> int:
    for i, cell in enumerate(nb.cells):
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return i
    raise KeyError(grade_id)


def _scratch_index(nb: NotebookNode) -> int:
    """The "Try it yourself" cell after the rnn_cell answer."""
    return next(i for i, c in enumerate(nb.cells) if c.source.startswith("# Try it yourself"))


def _code(source: str) -> NotebookNode:
    return nbformat.v4.new_code_cell(source)


def _insert_after(grade_id: str, *sources: str) -> Edit:
    def edit(nb: NotebookNode) -> NotebookNode:
        at = _index(nb, grade_id) + 1
        nb.cells[at:at] = [_code(s) for s in sources]
        return nb

    return edit


def _replace_answer(grade_id: str, source: str) -> Edit:
    def edit(nb: NotebookNode) -> NotebookNode:
        nb.cells[_index(nb, grade_id)].source = source
        return nb

    return edit


def _scratch(source: str) -> Edit:
    def edit(nb: NotebookNode) -> NotebookNode:
        nb.cells[_scratch_index(nb)].source += "\n" + source
        return nb

    return edit


def _append(*sources: str) -> Edit:
    def edit(nb: NotebookNode) -> NotebookNode:
        nb.cells += [_code(s) for s in sources]
        return nb

    return edit


def _then(*edits: Edit) -> Edit:
    def edit(nb: NotebookNode) -> NotebookNode:
        for one in edits:
            nb = one(nb)
        return nb

    return edit


def _delete_scratch(nb: NotebookNode) -> NotebookNode:
    del nb.cells[_scratch_index(nb)]
    return nb


def _run_out_of_order(nb: NotebookNode) -> NotebookNode:
    """Execution counts as a learner who jumped around leaves them, with stale outputs."""
    counts = [7, 3, 12, 5, 1, 9, 2, 14, 4]
    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell, count in zip(code, counts * 3, strict=False):
        cell.execution_count = count
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="stale\n")]
    code[-1].outputs = [nbformat.v4.new_output(
        "error", ename="NameError", evalue="name 'count_parameters' is not defined",
        traceback=["NameError: name 'count_parameters' is not defined"])]  # fmt: skip
    return nb


def _restarted_kernel(nb: NotebookNode) -> NotebookNode:
    """Counts that start again at 1 half-way: the learner restarted the kernel there."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    half = len(code) // 2
    for i, cell in enumerate(code):
        cell.execution_count = i + 1 if i < half else i - half + 1
    return nb


def _written(text: str) -> Edit:
    return _replace_answer("written", text)


MISSING_COLON = (
    "def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity='tanh')\n"
    "    return torch.tanh(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh)\n"
)
TRANSPOSED = (
    "def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity='tanh'):\n"
    "    return torch.tanh(x @ weight_ih.T + bias_ih + h @ weight_hh + bias_hh)\n"
)
BATCHED_ONLY = (
    "def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity='tanh'):\n"
    "    if x.dim() != 2:\n"
    "        raise ValueError(f'expected a batch (N, H_in), got shape {tuple(x.shape)}')\n"
    "    b = 0 if bias_ih is None else bias_ih + bias_hh\n"
    "    return torch.tanh(x @ weight_ih.T + h @ weight_hh.T + b)\n"
)
WITH_HELPERS = (
    "def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity='tanh'):\n"
    "    pre = affine(x, weight_ih, bias_ih) + affine(h, weight_hh, bias_hh)\n"
    "    return Activation(nonlinearity)(pre)\n"
)
HELPERS = (
    "def affine(v, W, b=None):\n"
    "    # W v + b for row vectors\n"
    "    out = v @ W.T\n"
    "    return out if b is None else out + b\n"
    "\n"
    "class Activation:\n"
    "    def __init__(self, name):\n"
    "        self.fn = torch.tanh if name == 'tanh' else torch.relu\n"
    "    def __call__(self, z):\n"
    "        return self.fn(z)\n"
)
COMPARE_WITH_TORCH = (
    "# does mine agree with torch's?\n"
    "ref = torch.nn.RNNCell(3, 4)\n"
    "x, h = torch.randn(2, 3), torch.zeros(2, 4)\n"
    "mine = rnn_cell(x, h, ref.weight_ih, ref.weight_hh, ref.bias_ih, ref.bias_hh)\n"
    "print(torch.allclose(mine, ref(x, h)), torch.allclose(mine, torch.rnn_tanh_cell(\n"
    "    x, h, ref.weight_ih, ref.weight_hh, ref.bias_ih, ref.bias_hh)))\n"
)
NOISE = (
    "import warnings\n"
    "import matplotlib.pyplot as plt\n"
    "from tqdm.auto import tqdm\n"
    "hs = []\n"
    "h = torch.zeros(2, 4)\n"
    "W, U = torch.randn(4, 3), torch.randn(4, 4)\n"
    "for t in tqdm(range(20), desc='steps'):\n"
    "    h = rnn_cell(torch.randn(2, 3), h, W, U, torch.zeros(4), torch.zeros(4))\n"
    "    hs.append(h.norm().item())\n"
    "print('norms', [round(v, 2) for v in hs[:3]])\n"
    "warnings.warn('just a warning')\n"
    "plt.plot(hs)\n"
    "plt.title('|h_t|')\n"
    "plt.show()\n"
)
MAGICS = (
    "%matplotlib inline\n"
    "x, h = torch.randn(2, 3), torch.zeros(2, 4)\n"
    "%time h1 = rnn_cell(x, h, torch.randn(4, 3), torch.randn(4, 4))\n"
    "!pip list 2>/dev/null | head -n 3\n"
)
CELL_MAGIC = "%%time\nsteps = [count_parameters(3, h, 2) for h in range(1, 5)]\nprint(steps)"


CASES = [
    Case("solution", lambda nb: nb, why="the instructor's answers"),
    Case(
        "blank_written",
        lambda nb: nb,
        {**FULL, "written": 0.0},
        "every function right, the written answer left as released",
        written=None,
    ),  # fmt: skip
    Case(
        "unfinished_scratch_line",
        _scratch("rnn_cell(x, h, torch.randn(4, 3),"),
        why="an unfinished line in the 'Try it yourself' cell, before the tests",
    ),  # fmt: skip
    Case(
        "unfinished_between_tests",
        _insert_after("test_rnn_cell_unbatched", "y = output_layer(h, "),
        why="an unfinished scratch cell between two tests",
    ),  # fmt: skip
    Case(
        "broken_after_last_test",
        _append("print(count_parameters(3, 5, 2)"),
        why="a cell that does not parse after the last test",
    ),  # fmt: skip
    Case(
        "missing_colon",
        _replace_answer("rnn_cell", MISSING_COLON),
        {**FULL, "test_rnn_cell_batch": 0.0, "test_rnn_cell_unbatched": 0.0},
        "rnn_cell's cell does not parse: only its two tasks fail",
    ),  # fmt: skip
    Case(
        "runtime_error_in_scratch",
        _scratch("print(1 / 0)"),
        why="a scratch cell that raises when it runs",
    ),  # fmt: skip
    Case(
        "compares_with_torch",
        _insert_after("rnn_cell", COMPARE_WITH_TORCH),
        why="a scratch cell that checks rnn_cell against torch.nn.RNNCell and torch's kernel",
    ),
    Case(
        "helpers_of_their_own",
        _then(_replace_answer("rnn_cell", WITH_HELPERS), _insert_after("setup", HELPERS)),
        why="rnn_cell built on a helper function and a class of the learner's own",
    ),  # fmt: skip
    Case(
        "helper_below_answer",
        _then(_replace_answer("rnn_cell", WITH_HELPERS), _insert_after("rnn_cell", HELPERS)),
        why="the helpers defined in a cell below the answer, above its test",
    ),  # fmt: skip
    Case("scratch_deleted", _delete_scratch, why="the 'Try it yourself' cell deleted"),
    Case(
        "out_of_order",
        _run_out_of_order,
        why="cells run out of order, stale outputs and errors saved with the notebook",
    ),
    Case("restarted_kernel", _restarted_kernel, why="the kernel restarted half-way"),
    Case(
        "prints_plots_progress_warnings",
        _scratch(NOISE),
        why="prints, a tqdm progress bar, a warning and a plot in a scratch cell",
    ),  # fmt: skip
    Case(
        "magics",
        _then(_insert_after("rnn_cell", MAGICS), _append(CELL_MAGIC)),
        why="%matplotlib, %time, !pip and a %%time cell",
    ),  # fmt: skip
    Case(
        "slow_scratch_cell",
        _scratch("import time\ntime.sleep(4)"),
        why="a scratch cell that takes a few seconds",
    ),  # fmt: skip
    Case(
        "endless_scratch_cell",
        _insert_after("test_output_layer", "while True:\n    pass"),
        why="a scratch cell that never ends: interrupted at the cell limit, graded on",
    ),
    Case(
        "answer_split_over_cells",
        _then(
            _replace_answer("rnn_cell", "import math  # the function is in the next cell"),
            _insert_after(
                "rnn_cell",
                WITH_HELPERS.replace("affine(", "_aff("),
                "def _aff(v, W, b=None):\n    return v @ W.T + (0 if b is None else b)",
                "class Activation:\n    def __init__(self, name):\n"
                "        self.name = name\n"
                "    def __call__(self, z):\n        return torch.tanh(z)",
            ),
        ),
        why="rnn_cell and its helpers written in cells of their own below the answer cell",
    ),
    Case(
        "answer_corrected_below",
        _then(
            _replace_answer(
                "output_layer",
                "def output_layer(h, weight_hy, bias_y):\n"
                "    return h @ weight_hy + bias_y  # first try",
            ),
            _insert_after(
                "output_layer",
                "def output_layer(h, weight_hy, bias_y):\n    return h @ weight_hy.T + bias_y",
            ),
        ),
        why="a first try left in the answer cell, the fix in a cell below it",
    ),
    Case(
        "transposed_w_hh",
        _replace_answer("rnn_cell", TRANSPOSED),
        {**FULL, "test_rnn_cell_batch": 0.0, "test_rnn_cell_unbatched": 0.0},
        "an honest mistake the checks diagnose",
    ),  # fmt: skip
    Case(
        "batched_only",
        _replace_answer("rnn_cell", BATCHED_ONLY),
        {**FULL, "test_rnn_cell_unbatched": 0.0},
        "rnn_cell raises for an unbatched input: that task alone fails",
    ),  # fmt: skip
]


def notebook(case: Case, release: NotebookNode, solution: NotebookNode) -> NotebookNode:
    """``case``'s notebook: the release answered with the instructor's code, then edited."""
    nb = _answers(release, solution)
    as_released = release.cells[_index(release, "written")].source
    nb = _written(as_released if case.written is None else case.written)(nb)
    return case.edit(nb)


__all__ = ["ASSIGNMENT", "CASES", "CELL_TIMEOUT", "Case", "FULL", "POINTS",
           "add_written_question", "notebook"]  # fmt: skip
