"""The exercise notebooks: solutions earn every point, blank releases none, releases are current.

Notebooks run in a real kernel with nbclient (as nbgrader's autograde does) and are scored with
nbgrader's own rule (``nbgrader.utils.determine_grade``: a graded cell that shows an error or
writes to stderr scores 0). The tests that drive the nbgrader CLI on tampered submissions are
marked ``slow``.
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbgrader.utils import determine_grade

from tests._nbgrader import (
    ASSIGNMENTS,
    ROOT,
    answer_source,
    autograde_batch,
    grade_cells,
    make_course,
    nbgrader,
    read,
    release,
    release_path,
    scores,
    solution_cells,
    solution_path,
    submit,
    with_answer,
)

# Graded cells wait on one shared CPU during the test run; this is not the learner's limit.
EXEC_TIMEOUT = 120


def execute(
    nb: nbformat.NotebookNode, cwd: Path, env: dict[str, str] | None = None
) -> nbformat.NotebookNode:
    """``nb`` executed in a fresh kernel in ``cwd`` (whose environment is ``env``, if given)."""
    nb = nbformat.from_dict(nb)
    client = NotebookClient(
        nb,
        timeout=EXEC_TIMEOUT,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute(**({"env": env} if env is not None else {}))
    return nb


def graded(nb: nbformat.NotebookNode) -> dict[str, tuple[float, str]]:
    """``grade_id -> (score, error text)`` for every graded cell of an executed notebook."""
    out = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            score, _ = determine_grade(cell)
            errors = [
                o.get("evalue", "") or "".join(o.get("text", ""))
                for o in cell.outputs
                if o.output_type == "error" or o.get("name") == "stderr"
            ]
            out[meta["grade_id"]] = (score, "\n".join(errors))
    return out


def test_there_are_assignments():
    """Are the four assignments of this part present?"""
    assert {"ex02_hidden_state", "ex03_unrolling", "ex04_bptt", "ex05_gradients"} <= set(
        ASSIGNMENTS
    )


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_notebook_structure(name):
    """Does each assignment have 3-6 graded tasks, each with hidden tests and a docstring?"""
    nb = read(solution_path(name))
    cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert 3 <= len(cells) <= 6
    first = nb.cells[1]
    assert first.metadata.nbgrader["locked"] and "from rnncourse import grading" in first.source
    for cell in cells:
        assert cell.source.startswith('"""') and "?" in cell.source.splitlines()[0]
        # the recogniser's data ship with the package, so its visible check is the whole test
        # (a second training would double the cell's time against its limit)
        if 'check_trained("train_recognizer"' not in cell.source:
            assert "### BEGIN HIDDEN TESTS" in cell.source
            assert "import rnncourse.grading as _grading" in cell.source
        assert cell.metadata.nbgrader["locked"] and cell.metadata.nbgrader["points"] > 0


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_solution_earns_every_point(name, tmp_path):
    """Does the instructor solution, hidden tests included, pass every graded cell?"""
    start = time.perf_counter()
    result = graded(execute(read(solution_path(name)), tmp_path))
    elapsed = time.perf_counter() - start
    points = grade_cells(read(solution_path(name)))
    failures = {k: err for k, (score, err) in result.items() if score != points[k]}
    assert not failures
    assert elapsed < 120  # <= 30 s on an idle 2-core CPU; generous for a shared test machine


# The assignments whose solutions train models or draw random runs: on another CPU's kernels
# their results differ in the last digits, and every check must still pass.
TRAINED = ["ex05_gradients", "ex07_lstm_gru", "ex08b_speech", "ex10_applications"]


@pytest.mark.slow
@pytest.mark.parametrize("name", TRAINED)
def test_solution_earns_every_point_on_generic_kernels(name, tmp_path):
    """Does the solution still earn every point on torch's generic CPU kernels, one thread?"""
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default", "OMP_NUM_THREADS": "1"}
    result = graded(execute(read(solution_path(name)), tmp_path, env))
    points = grade_cells(read(solution_path(name)))
    failures = {k: err for k, (score, err) in result.items() if score != points[k]}
    assert not failures


def test_trained_assignments_are_listed():
    """Is every assignment with a trained-model check among those run on generic kernels?"""
    trained = {
        name
        for name in ASSIGNMENTS
        if any("check_trained(" in c.source for c in read(solution_path(name)).cells)
    }
    assert trained and trained <= set(TRAINED)


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_blank_release_fails_every_graded_cell(name, tmp_path):
    """Does the untouched release score zero on every graded cell?"""
    result = graded(execute(read(release_path(name)), tmp_path))
    assert result and all(score == 0 for score, _ in result.values())
    assert all("not implemented yet" in err for _, err in result.values())


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_hides_solutions_and_hidden_tests(name):
    """Does the committed release show no solution code and no hidden tests?"""
    nb = read(release_path(name))
    text = "\n".join(c.source for c in nb.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "_grading", "seed="):
        assert marker not in text


def test_exercises_match_generate_assignment(tmp_path):
    """Is exercises/ exactly what nbgrader generate_assignment makes of solutions/?"""
    course = release.stage_course(tmp_path / "course", ASSIGNMENTS)
    nbgrader(course, "generate_assignment", "*", "--force")
    for name in ASSIGNMENTS:
        fresh = read(course / "exercises" / name / f"{name}.ipynb")
        committed = read(release_path(name))
        assert len(fresh.cells) == len(committed.cells), name
        for new, old in zip(fresh.cells, committed.cells, strict=True):
            assert (new.cell_type, new.source, new.metadata) == (
                old.cell_type,
                old.source,
                old.metadata,
            ), f"{name}: run tools/release.py"
        assert sorted(p.name for p in (course / "exercises" / name).iterdir()) == sorted(
            p.name for p in (ROOT / "exercises" / name).iterdir()
        )


def test_limits_are_traitlets_in_the_config(monkeypatch):
    """Does nbgrader_config.py set the cell timeout and the sandbox's limits as traitlets only
    (no environment switch changes them)?"""
    from traitlets.config import Config

    monkeypatch.setenv("RNNCOURSE_CELL_TIMEOUT", "7")  # the old switch: ignored
    monkeypatch.setenv("RNNCOURSE_SANDBOX_MEMORY_MB", "7")
    config = Config()
    spec = importlib.util.spec_from_file_location("nbgrader_config", ROOT / "nbgrader_config.py")
    module = importlib.util.module_from_spec(spec)
    module.get_config = lambda: config
    spec.loader.exec_module(module)
    assert config.Execute.timeout == 60 and config.Execute.interrupt_on_timeout
    assert config.SandboxedKernelManager.memory_mb == 6144
    assert config.CourseDirectory.source_directory == "solutions"
    assert config.CourseDirectory.release_directory == "exercises"


# -- tampered submissions through the real nbgrader autograde ----------------------------------

EX02 = "ex02_hidden_state"
# rnn_cell that ignores the hidden state: wrong on every test
WRONG = """
def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    return torch.tanh(x @ weight_ih.T + bias_ih + bias_hh)
"""
TAMPERED = {
    # one of each kind (tests/test_trusted.py's hook corpus has more of the same kinds)
    "allclose": WRONG
    + "np.allclose = lambda *a, **k: True\ntorch.allclose = lambda *a, **k: True\n",
    "helpers": WRONG + "grading.check = lambda *a, **k: None\n",
    "reference": WRONG + "import rnncourse.rnn\nrnncourse.rnn.rnn_cell = rnn_cell\n",
    "copies": "from rnncourse.rnn import rnn_cell as _ref\n"
    "def rnn_cell(*args, **kwargs):\n    return _ref(*args, **kwargs)\n",
    "osexit": "import os\ndef rnn_cell(*args, **kwargs):\n    os._exit(0)\n",
    "sysexit": "import sys\ndef rnn_cell(*args, **kwargs):\n    sys.exit(0)\n",
    "loop": "def rnn_cell(*args, **kwargs):\n    while True:\n        pass\n",
}
RNN_TASKS = ("test_rnn_cell_batch", "test_rnn_cell_unbatched")
CELL_TIMEOUT = 20


@pytest.mark.slow
def test_tampered_submissions_earn_nothing_for_the_wrong_answer(tmp_path):
    """Can rebinding allclose, grading or the reference, exiting or looping earn points (no),
    or cost the points of the other, right answers (no)?"""
    course = make_course(tmp_path, [EX02])
    solution = read(solution_path(EX02))
    blank = read(course / "exercises" / EX02 / f"{EX02}.ipynb")
    for student, source in TAMPERED.items():
        nb = blank
        for grade_id in solution_cells(blank):  # the other answers are right
            nb = with_answer(nb, grade_id, answer_source(solution, grade_id))
        submit(course, student, EX02, with_answer(nb, "rnn_cell", source))
    start = time.perf_counter()
    autograde_batch(course, EX02, CELL_TIMEOUT)
    elapsed = time.perf_counter() - start
    got = scores(course, EX02)
    assert set(got) == set(TAMPERED)
    for student, tasks in got.items():
        for task in RNN_TASKS:
            assert tasks[task] == 0, (student, task)
    # the checks run in the grader (trusted checks): a rebinding in the kernel changes nothing
    # there, and a worker that exits or loops is restarted, so every submission loses exactly
    # rnn_cell's points and keeps the right answers' points
    for student in TAMPERED:
        assert got[student]["test_output_layer"] == 2, student
        assert got[student]["test_count_parameters"] == 2, student
    # the two graded cells that call the endless rnn_cell are interrupted after the timeout
    loop = read(course / "autograded" / "loop" / EX02 / f"{EX02}.ipynb")
    cut = [c for c in loop.cells if c.metadata.get("nbgrader", {}).get("grade_id") in RNN_TASKS]
    assert all(any(o.output_type == "error" for o in c.outputs) for c in cut)
    assert elapsed > 2 * CELL_TIMEOUT


def test_learner_sees_the_verdict_not_the_grader(tmp_path):
    """Does a failing test cell show the learner's cell and the verdict, without the grading
    module's frames or the chained NotImplementedError, and keep the learner's own frames when
    the error is in their code?"""
    import re

    nb = with_answer(
        read(release_path(EX02)),
        "output_layer",
        "def output_layer(h, weight_hy, bias_y):\n    raise ValueError('my own bug')\n",
    )
    out = execute(nb, tmp_path)
    texts = {}
    for cell in out.cells:
        for o in cell.get("outputs", []):
            if o.output_type == "error":
                text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(o.traceback))
                texts[cell.metadata["nbgrader"]["grade_id"]] = text
    blank = texts["test_rnn_cell_batch"]
    assert "rnncourse/grading" not in blank and "During handling" not in blank
    assert len(blank.splitlines()) < 20
    verdict = "rnn_cell is not implemented yet (it raises NotImplementedError)."
    assert blank.rstrip().endswith(verdict)
    own = texts["test_output_layer"]
    assert "raise ValueError('my own bug')" in own  # the learner's frame
    assert "rnncourse/grading" not in own
