"""The instructor workflow, end to end, with the real nbgrader CLI and its SQLite gradebook.

generate_assignment -> submissions of four students -> autograde -> generate_feedback ->
export, in a temporary copy of the course, for ex02 (the fastest notebook); and the same CLI on
exercise 8b (CTC), whose diagnosed mistakes must reach the feedback.
"""

from __future__ import annotations

import csv
import html as htmllib
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from tests._nbgrader import (
    answer_source,
    make_course,
    nbgrader,
    read,
    release,
    scores,
    solution_cells,
    solution_path,
    submit,
    with_answer,
)
from tests.hostile.corpus import _answers

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

EX02 = "ex02_hidden_state"
MAX_SCORE = 7.0
# output_layer without its bias: wrong; count_parameters that forgets the output layer: wrong
WRONG = {
    "output_layer": "def output_layer(h, weight_hy, bias_y):\n    return h @ weight_hy.T\n",
    "count_parameters": "def count_parameters(input_size, hidden_size, output_size):\n"
    "    return hidden_size * (input_size + hidden_size + 2)\n",
}
RAISES = "def output_layer(h, weight_hy, bias_y):\n    raise ValueError('shapes?')\n"
EXPECTED = {
    "full": {
        "test_rnn_cell_batch": 2,
        "test_rnn_cell_unbatched": 1,
        "test_output_layer": 2,
        "test_count_parameters": 2,
    },
    "untouched": {
        "test_rnn_cell_batch": 0,
        "test_rnn_cell_unbatched": 0,
        "test_output_layer": 0,
        "test_count_parameters": 0,
    },
    "one_right": {  # rnn_cell right (both of its tasks), the other two wrong
        "test_rnn_cell_batch": 2,
        "test_rnn_cell_unbatched": 1,
        "test_output_layer": 0,
        "test_count_parameters": 0,
    },
    "raises": {  # all right except output_layer, which raises
        "test_rnn_cell_batch": 2,
        "test_rnn_cell_unbatched": 1,
        "test_output_layer": 0,
        "test_count_parameters": 2,
    },
}


def _submissions(blank, solution):
    full = blank
    for grade_id in solution_cells(blank):
        full = with_answer(full, grade_id, answer_source(solution, grade_id))
    one_right = full
    for grade_id, source in WRONG.items():
        one_right = with_answer(one_right, grade_id, source)
    return {
        "full": full,
        "untouched": blank,
        "one_right": one_right,
        "raises": with_answer(full, "output_layer", RAISES),
    }


def test_generate_autograde_feedback_export(tmp_path):
    """Does the CLI workflow give every student the exact score of every task, and safe feedback?"""
    course = make_course(tmp_path, [EX02])  # nbgrader generate_assignment
    blank = read(course / "exercises" / EX02 / f"{EX02}.ipynb")
    for student, nb in _submissions(blank, read(solution_path(EX02))).items():
        submit(course, student, EX02, nb)

    nbgrader(course, "autograde", EX02)
    assert scores(course, EX02) == EXPECTED

    nbgrader(course, "generate_feedback", EX02)
    hidden_source = [
        line.strip()
        for cell in read(solution_path(EX02)).cells
        if "### BEGIN HIDDEN TESTS" in cell.source
        for line in cell.source.split("### BEGIN HIDDEN TESTS")[1].splitlines()
        if len(line.strip()) > 12 and "END HIDDEN" not in line
    ]
    assert hidden_source
    for student in EXPECTED:
        html = htmllib.unescape((course / "feedback" / student / EX02 / f"{EX02}.html").read_text())
        assert "HIDDEN TESTS" not in html and "_grading" not in html
        assert "seed=" not in html and "seed=2026" not in html
        for line in hidden_source:
            assert line not in html, (student, line)
    feedback = htmllib.unescape(
        (course / "feedback" / "one_right" / EX02 / f"{EX02}.html").read_text()
    )
    assert "output_layer is wrong for" in feedback and "Likely mistake" in feedback

    nbgrader(course, "export", "--to", str(tmp_path / "grades.csv"))
    with open(tmp_path / "grades.csv", newline="") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    assert set(rows) == set(EXPECTED)
    for student, tasks in EXPECTED.items():
        assert float(rows[student]["score"]) == sum(tasks.values())
        assert float(rows[student]["max_score"]) == MAX_SCORE


# -- exercise 8b (CTC) through the same CLI: exact scores and the diagnosed mistakes -----------

EX08B = "ex08b_speech"
# right on short inputs, -inf once the probabilities underflow (the 600-frame visible case)
PROBABILITY_SPACE = """
def ctc_forward_np(log_probs, target, blank=0):
    y = np.exp(log_probs)
    ext = np.full(2 * len(target) + 1, blank)
    ext[1::2] = target
    T, L = y.shape[0], ext.size
    alpha = np.zeros((T, L))
    alpha[0, :2] = y[0, ext[:2]]
    for t in range(1, T):
        for s in range(L):
            total = alpha[t - 1, s]
            if s >= 1:
                total += alpha[t - 1, s - 1]
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                total += alpha[t - 1, s - 2]
            alpha[t, s] = total * y[t, ext[s]]
    return np.log(alpha)
"""
# drops the blanks, then merges: k - k becomes one k
BLANKS_FIRST = """
def greedy_decode(log_probs, input_lengths=None, blank=0):
    lp = log_probs[:, None] if log_probs.ndim == 2 else log_probs
    T, N, _ = lp.shape
    lengths = [T] * N if input_lengths is None else input_lengths
    out = []
    for n in range(N):
        path = [int(k) for k in lp[: lengths[n], n].argmax(-1) if k != blank]
        out.append([k for i, k in enumerate(path) if i == 0 or k != path[i - 1]])
    return out[0] if log_probs.ndim == 2 else out
"""
CALLS_REFERENCE = """
import rnncourse.ctc

def greedy_decode(log_probs, input_lengths=None, blank=0):
    return rnncourse.ctc.greedy_decode(log_probs, input_lengths, blank)
"""
EX08B_TASKS = (
    "test_ctc_forward_np",
    "test_ctc_loss",
    "test_greedy_decode",
    "test_edit_distance_error_rate",
    "test_train_recognizer",
)
EX08B_EXPECTED = {
    "full": dict(zip(EX08B_TASKS, (3, 2, 2, 2, 3), strict=True)),
    "untouched": dict(zip(EX08B_TASKS, (0, 0, 0, 0, 0), strict=True)),
    # the loss tests are short, so the probability-space recursion still gives the right loss;
    # these two leave the recogniser blank (one training in the batch is enough)
    "mistakes": dict(zip(EX08B_TASKS, (0, 2, 0, 2, 0), strict=True)),
    "reference": dict(zip(EX08B_TASKS, (3, 2, 0, 2, 0), strict=True)),
}


def test_ex08b_autograde_scores_and_diagnoses(tmp_path):
    """Does autograde give exercise 8b's exact scores, name the CTC mistakes in the feedback
    and refuse a call of rnncourse.ctc, within its time budget?"""
    course = make_course(tmp_path, [EX08B])
    blank = read(course / "exercises" / EX08B / f"{EX08B}.ipynb")
    full = blank
    for grade_id in solution_cells(blank):
        full = with_answer(full, grade_id, answer_source(read(solution_path(EX08B)), grade_id))
    untrained = with_answer(full, "train_recognizer", answer_source(blank, "train_recognizer"))
    mistakes = with_answer(untrained, "ctc_forward_np", PROBABILITY_SPACE)
    submissions = {
        "full": full,
        "untouched": blank,
        "mistakes": with_answer(mistakes, "greedy_decode", BLANKS_FIRST),
        "reference": with_answer(untrained, "greedy_decode", CALLS_REFERENCE),
    }
    for student, nb in submissions.items():
        submit(course, student, EX08B, nb)

    start = time.perf_counter()
    nbgrader(course, "autograde", EX08B)
    per_notebook = (time.perf_counter() - start) / len(submissions)
    assert scores(course, EX08B) == EX08B_EXPECTED
    assert per_notebook < 60  # about 10 s each on an idle 2-core CPU, kernel start included

    nbgrader(course, "generate_feedback", EX08B)

    def feedback(student):
        path = course / "feedback" / student / EX08B / f"{EX08B}.html"
        return htmllib.unescape(path.read_text())

    wrong = feedback("mistakes")
    assert "ctc_forward_np is wrong for" in wrong and "underflows to 0" in wrong
    assert "greedy_decode is wrong for" in wrong and "dropped before the repeats" in wrong
    # the grader reads the answer's source before it calls anything: the reference is named
    assert "greedy_decode cannot be graded as written" in feedback("reference")
    assert "uses rnncourse.ctc.greedy_decode, the reference" in feedback("reference")
    # the refusal is in the audit, read from the recorded verdict, and nowhere else
    from rnncourse.instructor.audit import audit_assignment

    refused = [f for f in audit_assignment(course, EX08B) if f.category == "refused"]
    assert {f.student for f in refused} == {"reference"}
    assert any("greedy_decode, the reference" in f.evidence for f in refused)
    for student in EX08B_EXPECTED:
        assert "HIDDEN TESTS" not in feedback(student) and "seed=" not in feedback(student)


def _validate(course, *notebooks: str) -> subprocess.CompletedProcess:
    """Plain `nbgrader validate` (it takes no --log-level) in ``course``."""
    return subprocess.run(
        [str(release.NBGRADER), "validate", *notebooks], cwd=course, env=release.nbgrader_env(),
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_validate_command_line(tmp_path):
    """Does `nbgrader validate` print the grader's message whole (the "Likely mistake" hint,
    past nbgrader's 90 columns) and exit 1 for a wrong answer, 0 for the solution, and 1 when
    the last of several notebooks passes but an earlier one failed?"""
    course = make_course(tmp_path, [EX02])
    release = read(course / "exercises" / EX02 / f"{EX02}.ipynb")
    solution = read(solution_path(EX02))
    work = course / "work"  # where the README tells learners to work
    work.mkdir()
    right = _answers(release, solution)
    wrong = _answers(release, solution, output_layer=WRONG["output_layer"])
    nbformat.write(right, work / "right.ipynb")
    nbformat.write(wrong, work / "wrong.ipynb")

    done = _validate(course, "work/right.ipynb")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success! Your notebook passes all the tests." in done.stdout

    done = _validate(course, "work/wrong.ipynb", "work/right.ipynb")
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "VALIDATION FAILED ON 1 CELL(S)!" in out
    assert out.rstrip().endswith("Success! Your notebook passes all the tests.")
    lines = [line.strip() for line in out.splitlines()]
    first = next(i for i, line in enumerate(lines) if "output_layer is wrong for" in line)
    assert lines[first].startswith("AssertionError: output_layer is wrong for")  # verdict first
    assert "Likely mistake: the bias b_y is missing." in lines[first:]  # the hint, whole
    assert not any(line.endswith("...") for line in out.splitlines())


def _git(course, *args: str) -> str:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    return subprocess.run([*git, *args], cwd=course, check=True, capture_output=True,
                          text=True).stdout  # fmt: skip


def test_release_keeps_local_changes(tmp_path):
    """Does tools/release.py refuse (exit 1, nothing written) to overwrite a notebook in
    exercises/ that differs from git, or delete a file git does not know, naming both and
    the way on; and with --force, restore the release and leave work/ alone?"""
    course = tmp_path / "course"
    for part in ("tools/release.py", "nbgrader_config.py", ".gitignore"):
        (course / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / part, course / part)
    for folder in ("solutions", "exercises"):
        shutil.copytree(ROOT / folder / EX02, course / folder / EX02)
    _git(course, "init", "-q")
    _git(course, "add", "-A")
    _git(course, "commit", "-qm", "course")
    notebook = course / "exercises" / EX02 / f"{EX02}.ipynb"
    committed = notebook.read_bytes()
    answered = _answers(read(notebook), read(solution_path(EX02)))
    nbformat.write(answered, notebook)
    notes = notebook.parent / "notes.txt"
    notes.write_text("my notes\n")
    mine = notebook.read_bytes()

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "tools/release.py", EX02, *args], cwd=course, capture_output=True,
            text=True, timeout=600, env=release.nbgrader_env(PYTHONPATH=str(ROOT)),
        )  # fmt: skip

    done = run()
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"exercises/{EX02}/{EX02}.ipynb" in done.stderr
    assert f"exercises/{EX02}/notes.txt" in done.stderr
    assert "--force" in done.stderr and "work/" in done.stderr
    assert notebook.read_bytes() == mine and notes.is_file()

    # the README's way: a copy in work/ (git-ignored), then the release may replace exercises/
    shutil.copytree(course / "exercises" / EX02, course / "work" / EX02)
    assert _git(course, "status", "--porcelain", "--", "work") == ""
    done = run("--force")
    assert done.returncode == 0, done.stdout + done.stderr
    assert notebook.read_bytes() == committed and not notes.exists()
    assert (course / "work" / EX02 / f"{EX02}.ipynb").read_bytes() == mine
    done = run()  # nothing uncommitted left: no refusal
    assert done.returncode == 0, done.stdout + done.stderr


# ---------------------------------------------------------------------------------------------
# the instructor's commands, exactly as README.md and the instructor guide spell them
# ---------------------------------------------------------------------------------------------

GUIDE = ROOT / "book" / "instructors.md"
#: sections whose commands need a shared exchange and a hub (tests/test_nbgrader_exchange.py
#: runs release/fetch/submit/collect against a real exchange), or a database server, a scheduler
#: and workers on other machines (tests/test_cluster.py starts each of them for real)
NOT_HERE = ("A large class on JupyterHub", "Grading on several machines")
#: what the commands' placeholders become in the test course
FILL = {"ex07_lstm_gru": EX02}
NOT_A_COMMAND = ("No command given", "List of subcommands", "invalid choice",
                 "command not found", "unrecognized arguments", "No such file")  # fmt: skip


def documented_commands(path: Path, sections: str = "") -> list[tuple[str, str]]:
    """``(section, command)`` for every line of the fenced bash blocks of ``path`` under a
    heading that contains ``sections``; continued lines joined, comments dropped."""
    found, heading, fence, pending = [], "", None, ""
    for line in path.read_text().splitlines():
        if fence is None and line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.strip().startswith("```"):
            fence = None if fence is not None else line.strip()[3:].strip()
        elif fence == "bash" and sections.lower() in heading.lower():
            code = (pending + " " + line.split(" #")[0].split("#", 1)[0]).strip()
            if code.endswith("\\"):
                pending = code[:-1]
                continue
            pending = ""
            if code and not any(heading.startswith(skip) for skip in NOT_HERE):
                found.append((heading, code))
    return found


def test_documented_commands_extracted():
    """Does the extraction find the commands the docs show (so the test below runs them)?"""
    readme = [c for _, c in documented_commands(ROOT / "README.md", "instructors")]
    guide = [c for _, c in documented_commands(GUIDE)]
    assert "python tools/release.py" in readme and "nbgrader autograde ex02_hidden_state" in readme
    assert "rnncourse autograde ex02_hidden_state --apply" in guide
    assert any(
        c.startswith("nbgrader export --exporter") and "identifier=email" in c for c in guide
    )
    assert not any("/srv/nbgrader" in c or "fetch_assignment" in c for c in guide)


def test_documented_commands_run(tmp_path):
    """Does every fenced command of README.md's instructor sections and of the instructor
    guide run as written (the similarity example on ex02, the only assignment here) in a
    course that is a git checkout, exit 0, print no "not a command" answer, and leave
    `git status` clean (everything the tools write by default is git-ignored)?"""
    course = tmp_path / "course"
    for part in ("tools/release.py", "nbgrader_config.py", ".gitignore", "pyproject.toml"):
        (course / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / part, course / part)
    for folder in ("solutions", "exercises"):
        shutil.copytree(ROOT / folder / EX02, course / folder / EX02)
    (course / "roster.csv").write_text(
        "id,first_name,last_name,email,lms_user_id\n"
        "alice,Alice,Liddell,alice@example.org,1001\nbob,Bob,Lowe,bob@example.org,1002\n"
    )
    _git(course, "init", "-q")
    _git(course, "add", "-A")
    _git(course, "commit", "-qm", "course")
    release_nb = read(course / "exercises" / EX02 / f"{EX02}.ipynb")
    submit(course, "alice", EX02, _answers(release_nb, read(solution_path(EX02))))

    # the guide first: its `nbgrader db student add alice` (nbgrader's update) would clear the
    # lms_user_id that the README's roster import gives alice before the README's Canvas export
    commands = documented_commands(GUIDE) + documented_commands(ROOT / "README.md", "instructors")
    seen, ran = set(), []
    for section, command in commands:
        for placeholder, value in FILL.items():
            command = command.replace(placeholder, value)
        if command in seen:
            continue
        seen.add(command)
        done = subprocess.run(
            ["bash", "-c", command], cwd=course, capture_output=True, text=True, timeout=900,
            env=release.nbgrader_env(PYTHONPATH=str(ROOT)),
        )  # fmt: skip
        out = done.stdout + done.stderr
        assert done.returncode == 0, f"{section}: `{command}` exited {done.returncode}:\n{out}"
        assert not [s for s in NOT_A_COMMAND if s in out], f"{section}: `{command}`:\n{out}"
        ran.append(command)
    assert {"rnncourse report ex02_hidden_state", "rnncourse audit ex02_hidden_state"} <= seen
    assert len(ran) >= 20, ran
    assert sum(scores(course, EX02)["alice"].values()) == MAX_SCORE
    status = _git(course, "status", "--porcelain", "--untracked-files=all")
    assert status == "", f"files the documented commands left outside .gitignore:\n{status}"
