"""Tests of the Canvas and Moodle exporters (``rnncourse/instructor/lms.py``).

One course, graded once per module by a real ``nbgrader autograde`` (sandboxed, as in the
course): ``ex02_hidden_state`` released, a roster of four added with ``nbgrader db student add``,
submissions from three of them (``ann`` complete, ``bob`` with a diagnosable mistake, ``dee``
the untouched release), none from ``cid``; a second assignment, ``ex03_unrolling``, recorded
with a later due date and no submissions at all. The exporters run through nbgrader's own
``nbgrader export --exporter ...`` and through ``rnncourse export``, and every number they
write must be the gradebook's.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import pytest

from rnncourse.instructor.cli import main
from rnncourse.instructor.course import gradebook_url, tools_on_path
from tests import _nbgrader
from tests.hostile import released_course
from tests.hostile.corpus import ASSIGNMENT, _answers

ROOT = Path(__file__).resolve().parents[1]
SECOND = "ex03_unrolling"
NO_BIAS_HH = (
    "def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity='tanh'):\n"
    "    pre = x @ weight_ih.T + h @ weight_hh.T\n"
    "    if bias_ih is not None:\n"
    "        pre = pre + bias_ih\n"
    "    return torch.tanh(pre)\n"
)
ROSTER = {  # id: (first, last, email, lms user id)
    "ann": ("Alice", "Liddell", "alice@example.org", "1001"),
    "bob": ("Bob", "Lowe", "bob@example.org", "1002"),
    "cid": ("Cid", "Moss", "cid@example.org", "1003"),
    "dee": ("Dee", "Nash", "", ""),  # no e-mail, no LMS id
}
#: what autograde must give ex02 (out of 7): ann full, bob without the rnn_cell tests, dee zero
EX02 = {"ann": 7.0, "bob": 4.0, "dee": 0.0}
CANVAS_HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", ASSIGNMENT, SECOND]
MOODLE_HEADER = ["Username", "ID number", "First name", "Last name", "Email address"]


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tools_on_path()
    course = released_course(tmp_path_factory.mktemp("lms") / "course")
    for student, (first, last, email, lms_id) in ROSTER.items():
        args = ["db", "student", "add", student, f"--first-name={first}", f"--last-name={last}"]
        args += [f"--email={email}"] * bool(email) + [f"--lms-user-id={lms_id}"] * bool(lms_id)
        _nbgrader.nbgrader(course, *args)
    _nbgrader.nbgrader(course, "db", "assignment", "add", SECOND, "--duedate=2031-01-01 12:00:00")
    release = _nbgrader.read(course / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    solution = _nbgrader.read(_nbgrader.solution_path(ASSIGNMENT))
    _nbgrader.submit(course, "ann", ASSIGNMENT, _answers(release, solution))
    _nbgrader.submit(course, "bob", ASSIGNMENT, _answers(release, solution, rnn_cell=NO_BIAS_HH))
    _nbgrader.submit(course, "dee", ASSIGNMENT, release)
    _nbgrader.nbgrader(course, "autograde", ASSIGNMENT, timeout=900)
    return course


@pytest.mark.slow
def test_gradebook_as_expected(course: Path) -> None:
    """Did autograde give the scores the exports are checked against (cid never submitted)?"""
    totals = {s: sum(grades.values()) for s, grades in _nbgrader.scores(course, ASSIGNMENT).items()}
    assert totals == EX02


# ---------------------------------------------------------------------------------------------
# Canvas
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_canvas_through_nbgrader_export(course: Path) -> None:
    """Does `nbgrader export --exporter ...CanvasExportPlugin` write Canvas's import layout:
    the five identifier columns, a Points Possible row, one row per student, an empty cell for
    a missing submission and 0 for a submitted blank?"""
    out = course / "canvas.csv"
    _nbgrader.nbgrader(course, "export", "--exporter=rnncourse.instructor.lms.CanvasExportPlugin",
                       f"--to={out}", "--CanvasExportPlugin.allow_missing_ids=True")  # fmt: skip
    rows = _rows(out)
    assert rows[0] == CANVAS_HEADER
    assert rows[1] == ["Points Possible", "", "", "", "", "7", "0"]
    assert rows[2:] == [
        ["Liddell, Alice", "1001", "", "ann", "", "7", ""],
        ["Lowe, Bob", "1002", "", "bob", "", "4", ""],
        ["Moss, Cid", "1003", "", "cid", "", "", ""],
        ["Nash, Dee", "", "", "dee", "", "0", ""],
    ]


@pytest.mark.slow
def test_canvas_missing_zero(course: Path) -> None:
    """Does `--CanvasExportPlugin.missing=zero` write 0 for every missing submission?"""
    out = course / "canvas-zero.csv"
    _nbgrader.nbgrader(course, "export", "--exporter=rnncourse.instructor.lms.CanvasExportPlugin",
                       f"--to={out}", "--CanvasExportPlugin.missing=zero",
                       "--CanvasExportPlugin.allow_missing_ids=True")  # fmt: skip
    by_id = {row[3]: row[5:] for row in _rows(out)[2:]}
    assert by_id == {"ann": ["7", "0"], "bob": ["4", "0"], "cid": ["0", "0"], "dee": ["0", "0"]}


@pytest.mark.slow
def test_canvas_command_ids_and_section(course: Path, capsys: pytest.CaptureFixture) -> None:
    """Does `rnncourse export --format canvas` title a column `Name (id)` for a known Canvas
    assignment, fill the Section, keep only the asked assignment, and say what it wrote?"""
    out = course / "canvas-ids.csv"
    argv = ["--course", str(course), "export", "--format", "canvas", "--to", str(out),
            "--assignment", ASSIGNMENT, "--canvas-id", f"{ASSIGNMENT}=5531",
            "--section", "A1", "--allow-missing-id"]  # fmt: skip
    assert main(argv) == 0
    rows = _rows(out)
    assert rows[0] == [*CANVAS_HEADER[:5], f"{ASSIGNMENT} (5531)"]
    assert rows[2] == ["Liddell, Alice", "1001", "", "ann", "A1", "7"]
    text = capsys.readouterr().out
    assert f"wrote {out} (canvas): 4 students, 1 assignments, 1 missing submissions" in text
    assert "WARNING: dee has no Canvas user id" in text


MAP_HINT = "nbgrader db student import FILE.csv"


@pytest.mark.slow
def test_canvas_refuses_without_ids(course: Path, capsys: pytest.CaptureFixture) -> None:
    """Without a Canvas user id for dee, do `rnncourse export` and `nbgrader export` refuse
    (non-zero exit, no file), naming dee and saying how to map students?"""
    out = course / "canvas-refused.csv"
    assert main(["--course", str(course), "export", "--format", "canvas", "--to", str(out)]) == 1
    err = capsys.readouterr().err
    assert "1 student has none: dee" in err and MAP_HINT in err and "--allow-missing-id" in err
    exporter = "--exporter=rnncourse.instructor.lms.CanvasExportPlugin"
    done = _nbgrader.nbgrader(course, "export", exporter, f"--to={out}", check=False)
    assert done.returncode != 0
    text = done.stdout + done.stderr
    assert "none: dee" in text and MAP_HINT in text
    assert "--CanvasExportPlugin.allow_missing_ids=True" in text
    assert "Traceback" not in text  # nbgrader's own error exit, one log line
    assert not out.exists()
    # exporting only students who have an id needs no override
    argv = ["--course", str(course), "export", "--format", "canvas", "--to", str(out),
            "--student", "ann", "--student", "bob"]  # fmt: skip
    assert main(argv) == 0
    assert [r[1] for r in _rows(out)[2:]] == ["1001", "1002"]


@pytest.mark.slow
def test_canvas_after_mapping(course: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """After the mapping the refusal advises (`nbgrader db student import` of id,lms_user_id),
    does the export fill every ID and keep the names?"""
    copy = tmp_path / "course"
    shutil.copytree(course, copy)
    (copy / "ids.csv").write_text("id,lms_user_id\ndee,1004\n")
    _nbgrader.nbgrader(copy, "db", "student", "import", "ids.csv")
    assert main(["--course", str(copy), "export", "--format", "canvas"]) == 0
    rows = _rows(copy / "exports" / "grades-canvas.csv")
    assert rows[-1] == ["Nash, Dee", "1004", "", "dee", "", "0", ""]
    assert all(row[1] for row in rows[2:])
    assert "WARNING" not in capsys.readouterr().out


@pytest.mark.slow
def test_default_destination_is_ignored(
    course: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """In a course that is a git checkout with the repository's .gitignore, do the exports'
    default destinations (exports/, for rnncourse export and the plugins under plain
    nbgrader export) leave `git status` clean?"""
    copy = tmp_path / "course"
    shutil.copytree(course, copy)
    shutil.copy(ROOT / ".gitignore", copy / ".gitignore")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "course"]):
        subprocess.run([*git, *args], cwd=copy, check=True, capture_output=True)
    assert main(["--course", str(copy), "export", "--format", "canvas", "--allow-missing-id"]) == 0
    assert main(["--course", str(copy), "export", "--format", "moodle"]) == 0
    assert main(["--course", str(copy), "export", "--format", "csv"]) == 0
    for plugin in ("CanvasExportPlugin", "MoodleExportPlugin"):
        _nbgrader.nbgrader(copy, "export", f"--exporter=rnncourse.instructor.lms.{plugin}",
                           "--CanvasExportPlugin.allow_missing_ids=True")  # fmt: skip
    _nbgrader.nbgrader(copy, "export")  # nbgrader's own CSV: grades.csv in the course root
    written = sorted(p.name for p in (copy / "exports").iterdir())
    assert written == ["grades-canvas.csv", "grades-moodle.csv", "grades.csv"]
    assert (copy / "grades.csv").is_file()
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=copy,
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert status.stdout == ""
    capsys.readouterr()


# ---------------------------------------------------------------------------------------------
# Moodle
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_moodle_through_nbgrader_export(course: Path) -> None:
    """Does `nbgrader export --exporter ...MoodleExportPlugin` write a username column and one
    grade column per assignment, with '-' (Moodle's no grade) for a missing submission?"""
    out = course / "moodle.csv"
    _nbgrader.nbgrader(course, "export", "--exporter=rnncourse.instructor.lms.MoodleExportPlugin",
                       f"--to={out}")  # fmt: skip
    rows = _rows(out)
    assert rows[0] == [*MOODLE_HEADER, ASSIGNMENT, SECOND]
    assert rows[1:] == [
        ["ann", "1001", "Alice", "Liddell", "alice@example.org", "7", "-"],
        ["bob", "1002", "Bob", "Lowe", "bob@example.org", "4", "-"],
        ["cid", "1003", "Cid", "Moss", "cid@example.org", "-", "-"],
        ["dee", "", "Dee", "Nash", "", "0", "-"],
    ]


@pytest.mark.slow
@pytest.mark.parametrize(("identifier", "left_out"), [("email", "dee"), ("idnumber", "dee")])
def test_moodle_identifier_leaves_out_unknown(
    course: Path, identifier: str, left_out: str, capsys: pytest.CaptureFixture
) -> None:
    """Is a learner without the identifier Moodle maps on left out (one unknown user aborts a
    Moodle import), and named?"""
    out = course / f"moodle-{identifier}.csv"
    argv = ["--course", str(course), "export", "--format", "moodle", "--to", str(out),
            "--identifier", identifier, "--missing", "zero"]  # fmt: skip
    assert main(argv) == 0
    rows = _rows(out)
    assert [r[0] for r in rows[1:]] == ["ann", "bob", "cid"]
    assert rows[3][5:] == ["0", "0"]  # cid, --missing zero
    assert f"left out {left_out}: no {identifier}" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# nbgrader's own CSV and errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_csv_is_nbgraders(course: Path, capsys: pytest.CaptureFixture) -> None:
    """Is `rnncourse export --format csv` exactly what `nbgrader export` writes?"""
    ours, theirs = course / "ours.csv", course / "theirs.csv"
    assert main(["--course", str(course), "export", "--format", "csv", "--to", str(ours)]) == 0
    _nbgrader.nbgrader(course, "export", f"--to={theirs}")
    assert ours.read_text() == theirs.read_text()
    capsys.readouterr()


@pytest.mark.slow
def test_unknown_assignment(course: Path, capsys: pytest.CaptureFixture) -> None:
    """Does `--assignment` with a name the gradebook lacks exit 1, naming it?"""
    argv = ["--course", str(course), "export", "--format", "canvas", "--assignment", "ex99"]
    assert main(argv) == 1
    assert "unknown assignment 'ex99'" in capsys.readouterr().err


def test_unknown_student_and_empty_gradebook(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Does `--student` with an id the gradebook lacks exit 1, naming it, and does a gradebook
    without assignments say so?"""
    from nbgrader.api import Gradebook

    tools_on_path()
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    with Gradebook(gradebook_url(tmp_path)) as gb:
        gb.add_student("ann")
    assert main(["--course", str(tmp_path), "export", "--format", "canvas"]) == 1
    assert "has no assignment" in capsys.readouterr().err
    with Gradebook(gradebook_url(tmp_path)) as gb:
        gb.add_assignment("ex02")
    assert (
        main(["--course", str(tmp_path), "export", "--format", "canvas", "--student", "zed"]) == 1
    )
    assert "--student: unknown student 'zed'" in capsys.readouterr().err


def test_no_gradebook(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Does a course without a gradebook exit 1 and say so?"""
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    assert main(["--course", str(tmp_path), "export", "--format", "moodle"]) == 1
    assert "there is no gradebook.db" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--format", "blackboard"], "argument --format: invalid choice: 'blackboard'"),
        (["--format", "canvas", "--canvas-id", "ex02"], "--canvas-id: expected NAME=ID"),
        (["--format", "canvas", "--missing", "none"], "argument --missing: invalid choice"),
        ([], "the following arguments are required: --format"),
    ],
)
def test_bad_arguments_exit_2(argv: list[str], needle: str, capsys, tmp_path: Path) -> None:
    """Does a bad option stop the parser (exit 2) with a message naming it?"""
    with pytest.raises(SystemExit) as stop:
        main(["--course", str(tmp_path), "export", *argv])
    assert stop.value.code == 2
    assert needle in capsys.readouterr().err
