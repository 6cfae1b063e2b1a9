"""Tests of the instructor command line (``rnncourse autograde | report | audit``).

The fast tests check argument parsing, error messages, the audit's patterns and the report's
files on hand-made inputs. The slow ones drive nbgrader: a parallel ``rnncourse autograde``
must leave the same gradebook as a sequential ``nbgrader autograde``, resume, and honour
``--force``; ``rnncourse report`` must then write the right rows.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import nbformat
import pytest

from rnncourse import grading
from rnncourse.instructor import audit, report
from rnncourse.instructor import autograde_parallel as ag
from rnncourse.instructor.cli import build_parser, main
from rnncourse.instructor.commands._common import format_table
from rnncourse.instructor.course import STATUS_FILE, gradebook_url, read_status, tools_on_path
from tests import _nbgrader
from tests.hostile import released_course
from tests.hostile.corpus import ASSIGNMENT, FULL, ZERO, _answers

ROOT = Path(__file__).resolve().parents[1]
RELEASE = ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def empty_course(tmp_path: Path) -> Path:
    """A course folder with a config and a gradebook that knows one assignment, ``ex99``."""
    from nbgrader.api import Gradebook

    tools_on_path()
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    with Gradebook(gradebook_url(tmp_path)) as gb:
        gb.add_assignment("ex99")
    return tmp_path


# ---------------------------------------------------------------------------------------------
# arguments and errors
# ---------------------------------------------------------------------------------------------


def test_defaults() -> None:
    """Are the documented defaults what the parser gives?"""
    import os

    args = build_parser().parse_args(["autograde", "ex02"])
    assert (args.jobs, args.timeout, args.memory_mb, args.cell_timeout, args.force) == (
        os.cpu_count(),
        600.0,
        None,  # nbgrader_config.py's, the same as plain nbgrader's
        None,
        False,
    )
    args = build_parser().parse_args(
        ["autograde", "ex02", "-j", "3", "--student", "a", "--student", "b"]
    )
    assert (args.jobs, args.student) == (3, ["a", "b"])


def test_limits_pass_through_as_nbgrader_traitlets() -> None:
    """Do --no-sandbox, --memory-mb and --cell-timeout become the traitlets nbgrader_config.py
    sets, given to nbgrader on its command line (nothing through the environment)?"""
    assert ag.nbgrader_options() == []
    options = ag.nbgrader_options(sandbox=False, memory_mb=2048, cell_timeout=8)
    assert options == [
        "--SandboxedExecute.sandbox=False",
        "--SandboxedKernelManager.memory_mb=2048",
        "--Execute.timeout=8",
    ]
    # nbgrader's own command line takes them, and its Execute the timeout (an integer trait)
    from nbgrader.apps.autogradeapp import AutogradeApp
    from nbgrader.preprocessors import Execute

    app = AutogradeApp()
    app.parse_command_line(options)
    assert Execute(config=app.config).timeout == 8


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["autograde"],
        ["autograde", "ex02", "--jobs", "0"],
        ["autograde", "ex02", "--timeout", "-1"],
        ["autograde", "ex02", "--memory-mb", "lots"],
        ["grade", "ex02"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    """Do malformed command lines stop with argparse's exit status 2 and a usage line?"""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage: rnncourse" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["autograde", "ex02", "--jobs", "0"], "argument --jobs/-j: must be at least 1, got '0'"),
        (["autograde", "ex02", "-j", "two"], "argument --jobs/-j: must be an integer, got 'two'"),
        (["autograde", "ex02", "--timeout", "nan"],
         "argument --timeout: must be a positive number, got 'nan'"),
        (["autograde", "ex02", "--cell-timeout", "0"],
         "argument --cell-timeout: must be at least 1, got '0'"),
        (["autograde", "ex02", "--cell-timeout", "7.5"],  # nbgrader's Execute.timeout is an int
         "argument --cell-timeout: must be an integer, got '7.5'"),
        (["autograde", "ex02", "--timeout", "ten"],
         "argument --timeout: must be a number, got 'ten'"),
        (["report", "ex02", "--top", "-3"], "argument --top: must be at least 1, got '-3'"),
        (["similarity", "ex02", "--min-overlap", "-1"],
         "argument --min-overlap: must be at least 0, got '-1'"),
    ],
)  # fmt: skip
def test_bad_numbers_are_named(argv: list[str], said: str, capsys: pytest.CaptureFixture) -> None:
    """Does a bad number name its option, what it must be and what was given?"""
    with pytest.raises(SystemExit):
        build_parser().parse_args(argv)
    assert capsys.readouterr().err.rstrip().endswith(f"error: {said}")


def test_timeout_may_be_infinite() -> None:
    """``--timeout inf`` is no wall-time limit per submission (a wait without end)."""
    assert build_parser().parse_args(["autograde", "ex02", "--timeout", "inf"]).timeout == float(
        "inf"
    )


def test_not_a_course(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Does running outside a course folder say so and exit 1?"""
    assert main(["--course", str(tmp_path), "report", "ex02"]) == 1
    assert "no nbgrader_config.py" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["autograde", "report", "audit"])
def test_unknown_assignment(
    empty_course: Path, command: str, capsys: pytest.CaptureFixture
) -> None:
    """Does an unknown assignment give a clear message, naming the known ones, and exit 1?"""
    assert main(["--course", str(empty_course), command, "ex42_nothing"]) == 1
    err = capsys.readouterr().err
    assert "unknown assignment 'ex42_nothing'" in err
    assert "ex99" in err and "solutions/ has no ex42_nothing/ex42_nothing.ipynb" in err
    assert "generate_assignment" not in err  # no advice to create the misspelt one


@pytest.fixture
def typo_course(empty_course: Path) -> Path:
    """``empty_course`` with ex02's sources in ``solutions/`` and ex02 in the gradebook."""
    from nbgrader.api import Gradebook

    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, empty_course / "solutions" / ASSIGNMENT)
    with Gradebook(gradebook_url(empty_course)) as gb:
        gb.add_assignment(ASSIGNMENT)
    return empty_course


TYPO = "ex02_hiden_state"


@pytest.mark.parametrize(
    "argv",
    [
        ["autograde", TYPO, "--no-progress"],
        ["autograde", TYPO, "--force", "--preview", "--no-progress"],
        ["autograde", TYPO, "--apply"],
        ["report", TYPO],
        ["audit", TYPO],
        ["similarity", TYPO],
        ["export", "--format", "canvas", "--assignment", TYPO],
    ],
    ids=lambda argv: " ".join(argv[:1] + [a for a in argv[2:] if a.startswith("--")][:2]),
)
def test_misspelt_assignment(
    typo_course: Path, argv: list[str], capsys: pytest.CaptureFixture
) -> None:
    """Does every command that takes an assignment answer a misspelt one with "did you mean
    ex02_hidden_state?" and exit 1, writing nothing?"""
    before = sorted(typo_course.rglob("*"))
    assert main(["--course", str(typo_course), *argv]) == 1
    err = capsys.readouterr().err
    assert f"unknown assignment {TYPO!r}: did you mean {ASSIGNMENT}?" in err
    assert "generate_assignment" not in err
    assert sorted(typo_course.rglob("*")) == before


def test_assignment_not_yet_generated(empty_course: Path, capsys: pytest.CaptureFixture) -> None:
    """An assignment with sources but not in the gradebook: is the advice the
    generate_assignment that records it?"""
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, empty_course / "solutions" / ASSIGNMENT)
    assert main(["--course", str(empty_course), "report", ASSIGNMENT]) == 1
    err = capsys.readouterr().err
    assert f"Run `nbgrader generate_assignment {ASSIGNMENT}` in the course folder" in err
    assert "did you mean" not in err


def _rnncourse(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """The installed ``rnncourse`` console script, importing this checkout's package."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    script = Path(sys.executable).parent / "rnncourse"
    return subprocess.run(
        [str(script), *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_help_script() -> None:
    """Does the installed script answer --help, and a bad argument with exit status 2?"""
    done = _rnncourse("--help")
    assert done.returncode == 0, done.stderr
    assert "autograde" in done.stdout and "export" in done.stdout
    done = _rnncourse("autograde", "ex02_hidden_state", "--jobs", "0")
    assert done.returncode == 2 and "--jobs/-j: must be at least 1" in done.stderr


LIGHT = """
import sys
from rnncourse.instructor import cli
for argv in {argv!r}:
    try:
        cli.main(argv)
    except SystemExit:
        pass
print(sorted(m for m in ("torch", "nbgrader", "nbformat", "traitlets", "copydetect")
             if m in sys.modules))
"""


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["autograde", "--help"], ["export", "--help"], ["autograde", "x", "-j", "0"]],
)
def test_help_imports_nothing_heavy(argv: list[str]) -> None:
    """Do --help and argument errors answer without importing torch or nbgrader (the ~5 s
    that `rnncourse --help` used to take)?"""
    code = LIGHT.format(argv=[argv])
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


def test_no_gradebook(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Without a gradebook, does the message say there is none?"""
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    assert main(["--course", str(tmp_path), "autograde", "ex02"]) == 1
    assert "there is no gradebook.db" in capsys.readouterr().err


def test_unknown_student(empty_course: Path, capsys: pytest.CaptureFixture) -> None:
    """Does --student for someone who submitted nothing exit 1 and name them?"""
    (empty_course / "submitted" / "ann" / "ex99").mkdir(parents=True)
    assert main(["--course", str(empty_course), "autograde", "ex99", "--student", "bob"]) == 1
    assert "no submission of 'ex99' from bob" in capsys.readouterr().err


def test_nothing_submitted(empty_course: Path, capsys: pytest.CaptureFixture) -> None:
    """With no submissions, does autograde say so and succeed without touching anything?"""
    assert main(["--course", str(empty_course), "autograde", "ex99", "--no-progress"]) == 0
    assert "no submissions of ex99" in capsys.readouterr().out
    assert not (empty_course / STATUS_FILE).exists()


def test_format_table() -> None:
    """Are text columns left-aligned and number columns right-aligned?"""
    table = format_table(["who", "score"], [["ann", 2.0], ["bartholomew", 10.5]])
    assert table.splitlines() == [
        "who          score",
        "-----------  -----",
        "ann              2",
        "bartholomew  10.50",
    ]


# ---------------------------------------------------------------------------------------------
# audit
# ---------------------------------------------------------------------------------------------

PATTERNS = [
    ("np.allclose = lambda *a, **k: True", "rebinding"),
    ("import numpy\nnumpy.allclose = lambda *a, **k: True", "rebinding"),
    ("torch.allclose = lambda *a, **k: True", "rebinding"),
    ("torch.testing.assert_close = lambda *a, **k: None", "rebinding"),
    ("import numpy.testing as npt\nnpt.assert_allclose = print", "rebinding"),
    ("setattr(torch, 'allclose', lambda *a, **k: True)", "rebinding"),
    ("grading.check = lambda *a, **k: None", "rebinding"),
    ("import rnncourse.grading as g\ng._compare = print", "rebinding"),
    ("rnncourse.rnn.rnn_cell = my_cell", "rebinding"),
    ("vars(grading)['check'] = print", "rebinding"),
    ("import builtins\nbuiltins.isinstance = lambda *a: True", "rebinding"),
    ("from rnncourse.lstm import lstm_cell", "imports-reference"),
    ("import rnncourse", "imports-reference"),
    ("cell = torch.nn.RNNCell(3, 4)", "imports-reference"),
    ("text = open('/home/teacher/solutions.py').read()", "file-access"),
    (
        "from pathlib import Path\nsrc = Path('../../solutions/ex02.ipynb').read_text()",
        "file-access",
    ),
    ("import os\nos.system('cat /etc/passwd')", "file-access"),
    ("get_ipython().showtraceback = lambda *a, **k: None", "traceback"),
    ("import sys\nsys.excepthook = print", "traceback"),
    ("import os\nos._exit(0)", "exit"),
    ("def rnn_cell(x, h:\n    np.allclose = 1", "rebinding"),  # does not parse: regex
    ("%%time\nget_ipython().showtraceback = None", "traceback"),  # read as the kernel runs it
    ("%time np.allclose = print", "rebinding"),
    # aliases are followed, as the grader's scanner follows them
    ("import subprocess as sp\nsp.run(['cat', '/etc/passwd'])", "file-access"),
    ("from os import system as run\nrun('ls')", "file-access"),
    ("from torch import nn as layers\ncell = layers.LSTMCell(3, 4)", "imports-reference"),
    ("from torch.nn import GRU", "imports-reference"),
    ("cell = getattr(torch.nn, 'LSTM')(3, 4)", "imports-reference"),
    ("from torch import testing as t\nt.assert_close = print", "rebinding"),
]


@pytest.mark.parametrize(("source", "category"), PATTERNS)
def test_audit_pattern(source: str, category: str) -> None:
    """Is each cheating pattern flagged, with its own line as the evidence?"""
    hits = [(line, text) for line, cat, text in audit.scan_source(source) if cat == category]
    assert hits, audit.scan_source(source)
    line, text = hits[0]
    assert text == source.splitlines()[line - 1].strip()


@pytest.mark.parametrize(
    "source",
    [
        "import numpy as np\nx = np.allclose(a, b)",
        "h = torch.tanh(x @ weight_ih.T)  # (N, H)",
        "cell = {}\ncell['allclose'] = 1",
        "data = open('data.txt').read()",
        "from rnncourse import grading",
    ],
)
def test_audit_innocent_code(source: str) -> None:
    """Is ordinary code (reading, not rebinding; relative paths) left alone?"""
    flags = audit.scan_source(source, solution_cell=not source.startswith("from rnncourse"))
    assert flags == []


def _audit(tmp_path: Path, nb: nbformat.NotebookNode) -> list[audit.Flag]:
    path = tmp_path / f"{ASSIGNMENT}.ipynb"
    nbformat.write(nb, path)
    return audit.audit_notebook(path, RELEASE, "ann", path.name)


def _release_and_solution() -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    return _nbgrader.read(RELEASE), _nbgrader.read(_nbgrader.solution_path(ASSIGNMENT))


def test_audit_clean_solution(tmp_path: Path) -> None:
    """Is the release answered with the instructor's solution left unflagged?"""
    assert _audit(tmp_path, _answers(*_release_and_solution())) == []


def test_audit_import_in_solution_cell(tmp_path: Path) -> None:
    """Does importing the reference in an answer give file, cell and line as evidence?"""
    nb = _answers(
        *_release_and_solution(), rnn_cell="import math\nfrom rnncourse.rnn import rnn_cell"
    )
    (flag,) = _audit(tmp_path, nb)
    index = next(
        i
        for i, c in enumerate(nb.cells)
        if c.metadata.get("nbgrader", {}).get("grade_id") == "rnn_cell"
    )
    assert (flag.category, flag.cell, flag.line) == ("imports-reference", f"{index} (rnn_cell)", 2)
    assert flag.evidence == "from rnncourse.rnn import rnn_cell"
    assert flag.file == f"{ASSIGNMENT}.ipynb"


def test_audit_locked_cells(tmp_path: Path) -> None:
    """Are a deleted test cell, an edited test cell and changed points each flagged?"""
    nb = _answers(*_release_and_solution())
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    by_id["test_rnn_cell_batch"].source += "\nprint('edited')"
    by_id["test_count_parameters"].metadata["nbgrader"]["points"] = 100
    nb.cells.remove(by_id["test_output_layer"])
    evidence = {
        f.cell.split(" ")[-1]: f.evidence
        for f in _audit(tmp_path, nb)
        if f.category == "locked-cell"
    }
    assert evidence == {
        "(test_rnn_cell_batch)": "locked source edited: added \"print('edited')\"",
        "(test_output_layer)": "locked cell 'test_output_layer' deleted",
        "(test_count_parameters)": "locked metadata edited: points: 2 -> 100",
    }


def test_audit_command_writes_csv(empty_course: Path, capsys: pytest.CaptureFixture) -> None:
    """Does `rnncourse audit` print the table and write one CSV row per flag?"""
    release, solution = _release_and_solution()
    (empty_course / "exercises" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(release, empty_course / "exercises" / ASSIGNMENT / RELEASE.name)
    for student, nb in [
        ("clean", _answers(release, solution)),
        ("cheat", _answers(release, solution, output_layer="{solution}\nnp.allclose = print")),
    ]:
        _nbgrader.submit(empty_course, student, ASSIGNMENT, nb)
    from nbgrader.api import Gradebook

    with Gradebook(gradebook_url(empty_course)) as gb:
        gb.add_assignment(ASSIGNMENT)
    assert main(["--course", str(empty_course), "audit", ASSIGNMENT]) == 0
    assert "np.allclose = print" in capsys.readouterr().out
    rows = _rows(empty_course / "reports" / ASSIGNMENT / "audit.csv")
    assert [(r["student"], r["category"], r["evidence"]) for r in rows] == [
        ("cheat", "rebinding", "np.allclose = print")
    ]


# ---------------------------------------------------------------------------------------------
# report on hand-made inputs
# ---------------------------------------------------------------------------------------------


def test_parse_mistakes() -> None:
    """Are recognised mistakes read from the verdict recorded on graded cells, and only there,
    with the hint the task registers for each id (whatever the message's words)?"""
    graded = nbformat.v4.new_code_cell("grading.check(...)")
    graded.metadata["nbgrader"] = {"grade": True, "grade_id": "test_a", "points": 1}
    verdict = {"passed": False, "kind": "wrong", "task": "rnn_cell", "mistakes": ["hidden-ignored"]}
    graded.metadata["rnncourse"] = {"verdict": verdict}
    graded.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="reworded")]
    ungraded = nbformat.v4.new_code_cell("x")
    ungraded.metadata["rnncourse"] = graded.metadata["rnncourse"]
    nb = nbformat.v4.new_notebook(cells=[graded, ungraded])
    hint = next(m.hint for m in grading.spec("rnn_cell").mistakes if m.name == "hidden-ignored")
    assert report.parse_mistakes(nb) == [("test_a", "rnn_cell", hint)]


def test_write_report_files(tmp_path: Path) -> None:
    """Does write_report write every file, tasks hardest first?"""
    tasks = [report.TaskStats("hard", 2.0, [0.0, 1.0]), report.TaskStats("easy", 1.0, [1.0, 1.0])]
    rep = report.Report(
        "ex", [("a", "hard", 0.0, 2.0, "graded")], tasks,
        Counter({("hard", "f", "a hint"): 3}), [("b", "failed", 1.0, "Boom")],
    )  # fmt: skip
    paths = report.write_report(rep, tmp_path)
    assert paths["scores.png"].read_bytes()[:4] == b"\x89PNG"
    assert [(r["task"], r["mean_fraction"], r["zero"]) for r in _rows(paths["tasks.csv"])] == [
        ("hard", "0.25", "1"),
        ("easy", "1.0", "0"),
    ]
    assert _rows(paths["mistakes.csv"]) == [
        {"task": "hard", "function": "f", "mistake": "a hint", "count": "3"}
    ]
    assert _rows(paths["problems.csv"])[0]["reason"] == "Boom"


# ---------------------------------------------------------------------------------------------
# against nbgrader (slow)
# ---------------------------------------------------------------------------------------------

NO_BIAS_HH = (
    "def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity='tanh'):\n"
    "    pre = x @ weight_ih.T + h @ weight_hh.T\n"
    "    if bias_ih is not None:\n"
    "        pre = pre + bias_ih\n"
    "    return torch.tanh(pre)\n"
)
STUDENTS = {
    "ann": ({}, FULL),
    "bob": (
        {"rnn_cell": NO_BIAS_HH},
        {**FULL, "test_rnn_cell_batch": 0.0, "test_rnn_cell_unbatched": 0.0},
    ),
    "cid": (None, ZERO),  # the blank release
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two copies of one course with the same submissions, plus a malformed one: the first
    autograded by plain sequential nbgrader, the second by `rnncourse autograde --jobs 3`."""
    root = tmp_path_factory.mktemp("cli")
    sequential = released_course(root / "sequential")
    release = _nbgrader.read(sequential / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    solution = _nbgrader.read(_nbgrader.solution_path(ASSIGNMENT))
    for student, (answers, _) in STUDENTS.items():
        nb = release if answers is None else _answers(release, solution, **answers)
        _nbgrader.submit(sequential, student, ASSIGNMENT, nb)
    (sequential / "submitted" / "dan" / ASSIGNMENT).mkdir(parents=True)
    (sequential / "submitted" / "dan" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").write_text("{oops")
    parallel = root / "parallel"
    shutil.copytree(sequential, parallel)
    _nbgrader.nbgrader(sequential, "autograde", ASSIGNMENT, check=False)
    argv = ["--course", str(parallel), "autograde", ASSIGNMENT, "--jobs", "3", "--no-progress"]
    assert main(argv) == 0
    return sequential, parallel


def _gradebook(course: Path) -> dict:
    """Every grade and comment row of the gradebook that autograde writes, by student."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(gradebook_url(course)) as gb:
        for sub in gb.assignment_submissions(ASSIGNMENT):
            notebook = sub.notebooks[0]
            out[sub.student_id] = {
                "grades": sorted(
                    (g.name, g.auto_score, g.manual_score, g.needs_manual_grade, g.max_score)
                    for g in notebook.grades
                ),
                "comments": sorted((c.name, c.auto_comment) for c in notebook.comments),
                "flagged": notebook.flagged,
            }
    return out


@pytest.mark.slow
def test_parallel_equals_sequential(graded: tuple[Path, Path]) -> None:
    """Does the parallel run leave the same grades, per cell and student, as nbgrader's own?"""
    sequential, parallel = graded
    expected = {s: scores for s, (_, scores) in STUDENTS.items()}
    assert {
        s: v for s, v in _nbgrader.scores(sequential, ASSIGNMENT).items() if s != "dan"
    } == expected
    assert _gradebook(parallel) == _gradebook(sequential)
    assert _nbgrader.scores(parallel, ASSIGNMENT) == _nbgrader.scores(sequential, ASSIGNMENT)


@pytest.mark.slow
def test_status_file(graded: tuple[Path, Path]) -> None:
    """Are the three good runs graded and the malformed notebook recorded as failed?"""
    status = read_status(graded[1], ASSIGNMENT)
    assert {s: r["status"] for s, r in status.items()} == {
        "ann": "graded", "bob": "graded", "cid": "graded", "dan": "failed"
    }  # fmt: skip
    assert status["dan"]["reason"].startswith("NotJSONError")


@pytest.mark.slow
def test_report_rows(graded: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    """Does the report write one score row per student and task, the hardest task first, the
    diagnosed mistake and the failed run?"""
    course = graded[1]
    assert main(["--course", str(course), "report", ASSIGNMENT, "--out", str(course / "rep")]) == 0
    out = capsys.readouterr().out
    rows = _rows(course / "rep" / "scores.csv")
    got = {(r["student"], r["task"]): float(r["score"]) for r in rows}
    want = {(s, t): v for s, (_, scores) in STUDENTS.items() for t, v in scores.items()}
    want.update({("dan", t): 0.0 for t in FULL})
    assert got == want
    assert {r["status"] for r in rows if r["student"] == "dan"} == {"failed"}
    tasks = _rows(course / "rep" / "tasks.csv")
    assert [t["task"] for t in tasks[:2]] == ["test_rnn_cell_batch", "test_rnn_cell_unbatched"]
    assert float(tasks[0]["mean_fraction"]) == pytest.approx(1 / 4)
    mistakes = _rows(course / "rep" / "mistakes.csv")
    assert {(m["task"], m["function"]) for m in mistakes} == {
        ("test_rnn_cell_batch", "rnn_cell"), ("test_rnn_cell_unbatched", "rnn_cell")
    }  # fmt: skip
    assert all("bias" in m["mistake"] for m in mistakes)
    assert [p["student"] for p in _rows(course / "rep" / "problems.csv")] == ["dan"]
    assert (course / "rep" / "scores.png").stat().st_size > 1000
    assert "bias" in out


@pytest.mark.slow
def test_resume_and_force(graded: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    """Does a re-run skip graded submissions and retry the failed one, and does --force
    re-grade a named student to the same scores?"""
    course = graded[1]
    before = _gradebook(course)
    base = ["--course", str(course), "autograde", ASSIGNMENT, "--no-progress", "--jobs", "2"]
    assert main(base) == 0
    # dan's malformed notebook is retried (and fails again); the graded three are skipped
    assert _summary(capsys.readouterr().out)[:4] == [0, 1, 0, 3]
    assert _gradebook(course) == before
    stamp = read_status(course, ASSIGNMENT)["bob"]["finished"]
    assert main([*base, "--student", "bob", "--force"]) == 0
    assert _summary(capsys.readouterr().out)[:4] == [1, 0, 0, 0]
    assert read_status(course, ASSIGNMENT)["bob"]["finished"] > stamp
    assert _gradebook(course) == before


def _summary(out: str) -> list[int]:
    """graded, failed, timed out, skipped from the summary table that autograde prints."""
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("graded"))
    return [int(v) for v in lines[header + 2].split()[:4]]
