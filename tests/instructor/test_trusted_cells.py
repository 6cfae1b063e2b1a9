"""The trusted preprocessor, cell by cell, in memory (as nbgrader tests its preprocessors).

No kernel runs here: the link to the worker hands over the learner's functions themselves
(where the worker would hand over proxies), so each test sees one role's handling. The same paths
through a real sandboxed kernel are graded end to end by ``tests/test_trusted.py`` and the
corpora.
"""

from __future__ import annotations

import nbformat
import pytest
import torch

from rnncourse.grading import verdict_lines
from rnncourse.instructor.trusted import TrustedExecute, cell_role, checked_tasks

SETUP = "from rnncourse import grading"
TEST = '"""Does rnn_cell match the reference?"""\ngrading.check("rnn_cell", rnn_cell)'


def _cell(source: str, *, grade: bool = False, solution: bool = False, locked: bool = True,
          grade_id: str = "cell") -> nbformat.NotebookNode:  # fmt: skip
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": grade, "solution": solution, "locked": locked,
                                 "grade_id": grade_id, "points": 1 if grade else 0}  # fmt: skip
    return cell


def scratch_rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    pre = x @ weight_ih.T + h @ weight_hh.T
    pre = pre + (0 if bias_ih is None else bias_ih) + (0 if bias_hh is None else bias_hh)
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


def forgets_h(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    return scratch_rnn_cell(x, 0 * h, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity)


@pytest.fixture
def grader() -> TrustedExecute:
    """A preprocessor ready for one notebook, its setup cell run in the grader."""
    ex = TrustedExecute()
    ex.start_grading()
    ex._run_setup(_cell(SETUP))
    return ex


def _run_test(ex: TrustedExecute, answer: object, learner_source: str = "") -> dict:
    if learner_source:
        ex._read_learner(_cell(learner_source, solution=True, locked=False))
    ex._link.get = {"rnn_cell": answer}.__getitem__  # the worker would hand over a proxy
    cell = _cell(TEST, grade=True, grade_id="test_rnn_cell")
    cell.execution_count = 7
    cell, _ = ex.preprocess_cell(cell, {}, 3)
    return cell


def test_roles_follow_what_nbgrader_vouches_for() -> None:
    """Is a locked graded cell a test, a locked ungraded one setup, and everything else
    (answers, unlocked cells, cells without a grade_id) the learner's?"""
    assert cell_role(_cell(TEST, grade=True)) == "test"
    assert cell_role(_cell(SETUP)) == "setup"
    assert cell_role(_cell("x = 1", solution=True, locked=False)) == "learner"
    assert cell_role(_cell(TEST, grade=True, locked=False)) == "learner"
    assert cell_role(_cell(TEST, grade=True, grade_id="")) == "learner"
    assert cell_role(_cell(TEST, grade=True, solution=True)) == "learner"
    assert cell_role(nbformat.v4.new_code_cell(TEST)) == "learner"


def test_a_passing_test_cell_records_its_verdict(grader: TrustedExecute) -> None:
    """Does a passing test cell print its one pass line, record passed, and drop the
    learner's execution count?"""
    cell = _run_test(grader, scratch_rnn_cell)
    assert cell.metadata["rnncourse"]["verdict"] == {"passed": True}
    assert [o.output_type for o in cell.outputs] == ["stream"]
    line = "rnn_cell passes: it matches the reference on every test input.\n"
    assert cell.outputs[0].text == line
    assert cell.execution_count is None


def test_a_wrong_answer_records_task_kind_and_mistake(grader: TrustedExecute) -> None:
    """Does a wrong answer's verdict name the task, the kind and the recognised mistake as
    data, with the message shown exactly as the learner's kernel shows it?"""
    cell = _run_test(grader, forgets_h)
    verdict = cell.metadata["rnncourse"]["verdict"]
    assert verdict == {"passed": False, "kind": "wrong", "task": "rnn_cell",
                       "mistakes": ["hidden-ignored"]}  # fmt: skip
    (error,) = cell.outputs
    assert error.ename == "AssertionError" and "Likely mistake" in error.evalue
    assert error.traceback == verdict_lines("AssertionError", error.evalue)


def test_a_refused_answer_is_not_run(grader: TrustedExecute) -> None:
    """Does a test cell whose task's code reaches torch's cell fail as refused, naming the
    construct, without calling the learner's function at all?"""
    calls = []

    def delegates(*args, **kwargs):
        calls.append(args)
        return torch.rnn_tanh_cell(*args[:6])

    source = "import torch\ndef rnn_cell(x, h, *w):\n    return torch.rnn_tanh_cell(x, h, *w)"
    cell = _run_test(grader, delegates, learner_source=source)
    verdict = cell.metadata["rnncourse"]["verdict"]
    assert verdict["kind"] == "refused" and verdict["task"] == "rnn_cell"
    assert any("torch.rnn_tanh_cell" in finding for finding in verdict["findings"])
    assert "rnn_cell cannot be graded as written" in cell.outputs[-1].evalue
    assert calls == []


def test_a_first_try_replaced_below_costs_nothing(grader: TrustedExecute) -> None:
    """Is an answer cell that compared with torch, then replaced by a from-scratch one before
    anything used it, no reason to refuse the task?"""
    grader._read_learner(_cell("import torch\ndef rnn_cell(x, h, *w):\n"
                               "    return torch.rnn_tanh_cell(x, h, *w)"))  # fmt: skip
    own = "def rnn_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):\n    return torch.tanh(x)"
    cell = _run_test(grader, scratch_rnn_cell, learner_source=own)
    assert cell.metadata["rnncourse"]["verdict"] == {"passed": True}


def test_checked_tasks_are_the_constant_names_of_check_calls() -> None:
    """Are the tasks a test cell checks read from its grading.check calls, hidden ones too?"""
    source = (
        'grading.check("rnn_cell", rnn_cell)\nimport rnncourse.grading as _grading\n'
        '_grading.check("rnn_cell", rnn_cell, seed=3)\ngrading.check_answer("rho", rho)\n'
        'grading.check(name, f)\ngrading.check("not_a_task", f)'
    )
    assert checked_tasks(source) == ["rnn_cell"]
