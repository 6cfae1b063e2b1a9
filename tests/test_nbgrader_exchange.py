"""The JupyterHub-style exchange cycle with the real nbgrader CLI and two real student accounts.

release_assignment -> fetch_assignment -> submit (as two different OS users) -> collect ->
autograde, through a temporary exchange directory. nbgrader names a submission after the OS
user that ran ``submit`` (``pwd.getpwuid(os.getuid())``), so the students are real accounts,
created for the test and removed after it; that needs root, and the test is skipped otherwise.
Each student command runs nbgrader's own entry point with the real uid of that account.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
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
    with_answer,
)

pytestmark = pytest.mark.slow

EX02 = "ex02_hidden_state"
COURSE_ID = "rnncourse"


def _can_make_users() -> bool:
    return os.geteuid() == 0 and shutil.which("useradd") and shutil.which("userdel")


@pytest.fixture
def students():
    """Two throwaway OS accounts (alice, bob), deleted afterwards."""
    if not _can_make_users():
        pytest.skip("needs root and useradd to create the two student accounts")
    tag = uuid.uuid4().hex[:6]
    names = [f"rnnalice{tag}", f"rnnbob{tag}"]
    for name in names:
        subprocess.run(["useradd", "--no-create-home", name], check=True)
    try:
        yield names
    finally:
        for name in names:
            subprocess.run(["userdel", name], check=False)


# nbgrader's console script, run with the *real* uid set to the student's account. The
# effective uid stays root because this machine's Python lives in root's home, which other
# accounts cannot read; nbgrader identifies the student by the real uid alone.
_STUDENT_NBGRADER = (
    "import os, sys, pwd; "
    "os.setresuid(pwd.getpwnam(sys.argv[1]).pw_uid, 0, 0); "
    "sys.argv = ['nbgrader'] + sys.argv[2:]; "
    "from nbgrader.apps.nbgraderapp import main; main()"
)


def _as_student(user: str, home: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` as ``user`` in ``home`` (no config file, like a student's server)."""
    env = release.nbgrader_env(HOME=str(home), USER=user, LOGNAME=user)
    return subprocess.run(
        [sys.executable, "-c", _STUDENT_NBGRADER, user, *args, "--log-level=WARN"],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_release_fetch_submit_collect_autograde(tmp_path, students):
    """Do two students' submissions travel through the exchange and get graded as theirs?"""
    course = make_course(tmp_path, [EX02])
    # The exchange and the students' homes must be reachable by the student accounts;
    # pytest's tmp_path is private to root, so they live in a world-traversable folder.
    shared = Path(tempfile.mkdtemp(prefix="rnncourse-exchange-"))
    try:
        shared.chmod(0o755)
        exchange = shared / "exchange"
        exchange.mkdir()
        exchange.chmod(0o777)  # as nbgrader's docs ask of a shared exchange
        root_opt = f"--Exchange.root={exchange}"

        done = nbgrader(course, "release_assignment", EX02, root_opt, check=False)
        assert done.returncode == 0, done.stderr
        assert (exchange / COURSE_ID / "outbound" / EX02 / f"{EX02}.ipynb").is_file()

        blank = read(course / "exercises" / EX02 / f"{EX02}.ipynb")
        solution = read(solution_path(EX02))
        alice, bob = students
        for user in students:
            home = shared / user
            home.mkdir()
            fetched = _as_student(
                user, home, "fetch_assignment", EX02, "--course", COURSE_ID, root_opt
            )
            assert fetched.returncode == 0, fetched.stderr
            notebook = home / EX02 / f"{EX02}.ipynb"
            assert read(notebook).cells[0].source == blank.cells[0].source
            if user == alice:  # alice answers every task; bob submits the release untouched
                answered = blank
                for grade_id in solution_cells(blank):
                    answered = with_answer(answered, grade_id, answer_source(solution, grade_id))
                nbformat.write(answered, notebook)
            submitted = _as_student(user, home, "submit", EX02, "--course", COURSE_ID, root_opt)
            assert submitted.returncode == 0, submitted.stderr

        inbound = sorted(p.name.split("+")[0] for p in (exchange / COURSE_ID / "inbound").iterdir())
        assert inbound == sorted(students)

        for user in students:  # the instructor's gradebook must know the students
            nbgrader(course, "db", "student", "add", user)
        done = nbgrader(course, "collect", EX02, root_opt, check=False)
        assert done.returncode == 0, done.stderr
        for user in students:
            assert (course / "submitted" / user / EX02 / f"{EX02}.ipynb").is_file()

        nbgrader(course, "autograde", EX02, timeout=600)
        got = scores(course, EX02)
        assert sum(got[alice].values()) == 7.0  # ex02 is worth 7 points
        assert sum(got[bob].values()) == 0.0
    finally:
        shutil.rmtree(shared, ignore_errors=True)
