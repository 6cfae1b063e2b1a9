"""Autograde every submission of an assignment in parallel, with per-submission limits.

Instructor tooling behind ``rnncourse autograde`` (see :mod:`rnncourse.instructor.cli`). nbgrader
does all the grading: each submission is one ``nbgrader autograde ASSIGNMENT --student ID`` run in
its own process, N at a time, and nbgrader's SQLite gradebook stays the single source of truth. This
module only schedules those runs, limits them and records how each one ended.

Each run is a fork of a server process that has already imported nbgrader and the course's
checks (:data:`PRELOAD`, Python's ``forkserver``): the seconds of imports a new interpreter would
spend are paid once per batch, not once per submission.

Three things are added around nbgrader:

* **One writer at a time.** Several nbgrader processes writing one SQLite file can fail with
  "database is locked" (SQLite gives up at once on a lock upgrade it would deadlock on). Each
  worker therefore wraps nbgrader's :class:`nbgrader.api.Gradebook` sessions in an inter-process
  file lock (``gradebook.db.lock``). nbgrader opens a gradebook only for short reads and writes
  (before and after running the notebook, never while it executes), so the kernels still run in
  parallel and the rows written are exactly those of a sequential ``nbgrader autograde``.
* **Limits.** Wall time per submission (the worker and its kernel are killed, their whole process
  trees), so a looping notebook cannot starve the machine. The kernel's own limits (address
  space, processes, ...) are the sandbox's traitlets, the same under plain ``nbgrader
  autograde``; nbgrader's per-cell timeout (``Execute.timeout``) interrupts ordinary loops
  first, and the wall time catches what ignores the interrupt.
* **A status file.** ``autograde_status.json`` next to the gradebook records, per assignment and
  student, ``graded`` / ``failed`` / ``timed out``, the seconds taken and the reason; nbgrader's log
  of each run goes to ``autograde_logs/ASSIGNMENT/STUDENT.log``. A re-run skips submissions already
  graded (unless ``force``) and retries the others.

Examples::

    >>> from rnncourse.instructor.autograde_parallel import autograde  # doctest: +SKIP
    >>> outcomes = autograde(".", "ex02_hidden_state", jobs=4, timeout=600)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rnncourse.instructor.course import (
    GRADEBOOK,
    LOG_DIR,
    AssignmentError,
    check_assignment,
    folder,
    read_status,
    submitted_students,
    tools_on_path,
    write_status,
)

__all__ = ["FAILED", "GRADED", "SKIPPED", "TIMED_OUT", "Outcome", "autograde", "grade_one",
           "nbgrader_options", "summarize"]  # fmt: skip

GRADED, FAILED, TIMED_OUT, SKIPPED = "graded", "failed", "timed out", "skipped"


@dataclass
class Outcome:
    """How the autograding of one submission ended.

    Args:
        student: the student id (the folder name under ``submitted/``).
        status: ``"graded"``, ``"failed"``, ``"timed out"`` or ``"skipped"`` (already graded).
        seconds: wall time of the nbgrader run.
        reason: for failures, the last error line of nbgrader's log; empty otherwise.
        returncode: the worker's exit status (``None`` when skipped or killed).
        sandboxed: whether the submission's kernel ran in the grading sandbox.
    """

    student: str
    status: str
    seconds: float = 0.0
    reason: str = ""
    returncode: int | None = None
    sandboxed: bool = True


def _write_status(course: Path, assignment: str, outcome: Outcome) -> None:
    record = {k: v for k, v in asdict(outcome).items() if k != "student"}
    write_status(course, assignment, outcome.student, record)


def _already_graded(course: Path, assignment: str, student: str, status: dict) -> bool:
    """nbgrader's autograded copy exists and no recorded run of ours failed since."""
    if not (folder(course, "autograded") / student / assignment).is_dir():
        return False
    return status.get(student, {}).get("status", GRADED) == GRADED


# ---------------------------------------------------------------------------------------------
# one submission: a worker process running nbgrader, with limits
# ---------------------------------------------------------------------------------------------


def nbgrader_options(
    *, sandbox: bool = True, memory_mb: int | None = None, cell_timeout: int | None = None
) -> list[str]:
    """The traitlets ``rnncourse autograde``'s options set, as nbgrader command-line options:
    they override ``nbgrader_config.py`` for this run only, exactly as typing them after
    ``nbgrader autograde`` would."""
    options = [] if sandbox else ["--SandboxedExecute.sandbox=False"]
    if memory_mb:
        options.append(f"--SandboxedKernelManager.memory_mb={memory_mb}")
    if cell_timeout:
        options.append(f"--Execute.timeout={cell_timeout}")
    return options


#: What every nbgrader run imports before it grades a notebook (nbgrader, its converters, the
#: course's preprocessors with the checks and torch): the fork server imports them once, and each
#: submission's run is a fork of it, so no submission pays them again.
PRELOAD = ["nbgrader.apps.nbgraderapp", "rnncourse.instructor.trusted", __name__]


def _runner() -> Any:
    """The ``forkserver`` multiprocessing context whose server has imported :data:`PRELOAD`.

    The server is a single-threaded process started once (per grading process) from this
    interpreter, with this environment; it imports the modules but runs nothing, so a fork of it
    is a clean start of nbgrader without the imports.
    """
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def _run_nbgrader(args: list[str], cwd: str, env: dict[str, str], log: str, lock: str) -> None:
    """The child of :func:`grade_one`: ``nbgrader ARGS`` in ``cwd``, its output in ``log``, each
    gradebook session holding ``lock``.

    It leads a session of its own, so that a timeout kills it and everything it started.
    """
    os.setsid()
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    from filelock import FileLock
    from nbgrader.apps.nbgraderapp import NbGraderApp

    _serialize_gradebook(FileLock(lock, thread_local=False))  # re-entrant: nbgrader nests them
    sys.argv = ["nbgrader", *args]
    NbGraderApp.launch_instance(argv=args)


def _kill_tree(pid: int) -> None:
    """SIGKILL a process and every descendant, kernels included.

    jupyter_client starts each kernel in a session of its own, so killing the worker's process
    group would leave the kernel looping; the tree is collected before anything dies.
    """
    import psutil

    try:
        parent = psutil.Process(pid)
        victims = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for proc in victims:
        with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError, PermissionError):
            if os.getpgid(proc.pid) == proc.pid:  # a group leader (worker, kernel): whole group
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
    psutil.wait_procs(victims, timeout=10)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EXCEPTION = re.compile(r"^\s*(?:[\w]+\.)*(\w+(?:Error|Exception|Exit)\b.*)$")
_BOILERPLATE = ("There was an error processing", "Please see the", "Traceback", "Did you mean")


def _failure_reason(log: str) -> str:
    """The most telling line of a failed nbgrader run's log.

    The last exception line of a traceback (``DeadKernelError: Kernel died``), else the first
    ERROR line that is not boilerplate (``No notebooks were matched by ...``).
    """
    lines = [_ANSI.sub("", line).rstrip() for line in log.splitlines()]
    for line in reversed(lines):
        match = _EXCEPTION.match(line)
        if match and not line.lstrip().startswith(("File ", "raise ")):
            return match.group(1)[:300]
    for line in lines:
        if "| ERROR]" in line and not any(b in line for b in _BOILERPLATE):
            return line.split("| ERROR]", 1)[1].strip()[:300]
    tail = [line for line in lines if line.strip()]
    return tail[-1].strip()[:300] if tail else ""


def grade_one(
    course: Path,
    assignment: str,
    student: str,
    *,
    timeout: float | None,
    memory_mb: int | None = None,
    sandbox: bool = True,
    cell_timeout: int | None = None,
) -> Outcome:
    """Autograde one submission in a child process; never raises for the learner's sake."""
    logfile = course / LOG_DIR / assignment / f"{student}.log"
    logfile.parent.mkdir(parents=True, exist_ok=True)
    tools_on_path()
    options = nbgrader_options(sandbox=sandbox, memory_mb=memory_mb, cell_timeout=cell_timeout)
    args = ["autograde", assignment, "--student", student, "--force", *options]
    lock = str(course / f"{GRADEBOOK}.lock")
    child = _runner().Process(
        target=_run_nbgrader, args=(args, str(course), dict(os.environ), str(logfile), lock),
        name=f"autograde {assignment} {student}",
    )  # fmt: skip
    start = time.perf_counter()
    child.start()
    child.join(timeout)
    seconds = time.perf_counter() - start
    if child.exitcode is None:  # still running after the wall-time limit
        _kill_tree(child.pid)
        child.join()
        return Outcome(student, TIMED_OUT, seconds, f"killed after {timeout:g} s", None, sandbox)
    if child.exitcode == 0:
        return Outcome(student, GRADED, seconds, "", 0, sandbox)
    reason = _failure_reason(logfile.read_text())
    return Outcome(student, FAILED, seconds, reason, child.exitcode, sandbox)


# ---------------------------------------------------------------------------------------------
# the batch
# ---------------------------------------------------------------------------------------------


def autograde(
    course: str | Path,
    assignment: str,
    *,
    jobs: int | None = None,
    students: Sequence[str] | None = None,
    timeout: float | None = 600.0,
    memory_mb: int | None = None,
    cell_timeout: int | None = None,
    force: bool = False,
    progress: bool = True,
    sandbox: bool = True,
) -> list[Outcome]:
    """Autograde the submissions of ``assignment``, ``jobs`` at a time.

    Args:
        course: the nbgrader course folder (holds ``nbgrader_config.py`` and ``gradebook.db``).
        assignment: an assignment already in the gradebook (``nbgrader generate_assignment``).
        jobs: submissions graded at once; ``os.cpu_count()`` if ``None``.
        students: only these students (default: every ``submitted/*/<assignment>``).
        timeout: wall-time limit per submission, in seconds (``None``: no limit).
        memory_mb: address-space limit of each grading kernel in MiB
            (``SandboxedKernelManager.memory_mb``; ``None``: the configured one, which
            ``nbgrader autograde`` uses too).
        cell_timeout: whole seconds per cell (``Execute.timeout``, an integer trait; ``None``:
            the configured one).
        force: re-grade submissions that are already graded.
        progress: show a tqdm progress bar on stderr.
        sandbox: run every kernel in the grading sandbox (see
            :mod:`rnncourse.instructor.sandbox`); ``False`` grades unsandboxed, and the status
            file records it.

    Outputs:
        One :class:`Outcome` per submission, sorted by student; also written to the status file.

    Raises:
        AssignmentError: the assignment is not in the gradebook, or a named student submitted
            nothing.
        SandboxUnavailable: ``sandbox`` is on and the sandbox cannot start here (the message
            says why and what to install); nothing is graded.
    """
    from tqdm.auto import tqdm

    from rnncourse.instructor.sandbox import SandboxUnavailable, unavailable_reason

    course = Path(course).resolve()
    check_assignment(course, assignment)
    available = submitted_students(course, assignment)
    if students:
        missing = sorted(set(students) - set(available))
        if missing:
            raise AssignmentError(
                f"no submission of {assignment!r} from {', '.join(missing)} "
                f"(expected submitted/<student>/{assignment}/)"
            )
        chosen = sorted(set(students))
    else:
        chosen = available
    status = read_status(course, assignment)
    outcomes, todo = [], []
    for student in chosen:
        if not force and _already_graded(course, assignment, student, status):
            outcomes.append(Outcome(student, SKIPPED))
        else:
            todo.append(student)
    if todo and sandbox:  # after the argument checks: a wrong name is reported as such
        reason = unavailable_reason()
        if reason is not None:
            raise SandboxUnavailable(f"refusing to grade without the sandbox: {reason}")
    jobs = max(1, jobs or os.cpu_count() or 1)
    write_lock = threading.Lock()
    bar = tqdm(total=len(todo), desc=f"autograde {assignment}", unit="sub", disable=not progress)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [
            pool.submit(
                grade_one,
                course,
                assignment,
                s,
                timeout=timeout,
                memory_mb=memory_mb,
                sandbox=sandbox,
                cell_timeout=cell_timeout,
            )
            for s in todo
        ]
        for future in as_completed(futures):
            outcome = future.result()
            with write_lock:
                _write_status(course, assignment, outcome)
            outcomes.append(outcome)
            bar.set_postfix_str(f"{outcome.student}: {outcome.status}")
            bar.update()
    bar.close()
    return sorted(outcomes, key=lambda o: o.student)


def summarize(outcomes: Iterable[Outcome]) -> dict[str, float]:
    """Counts per status and the summed grading seconds."""
    outcomes = list(outcomes)
    counts = {s: sum(o.status == s for o in outcomes) for s in (GRADED, FAILED, TIMED_OUT, SKIPPED)}
    return {**counts, "seconds": sum(o.seconds for o in outcomes)}


# ---------------------------------------------------------------------------------------------
# the child: nbgrader's gradebook sessions serialized
# ---------------------------------------------------------------------------------------------


def _serialize_gradebook(lock: Any) -> None:
    """Hold ``lock`` (a re-entrant :class:`filelock.FileLock` shared by every worker) from the
    opening of each nbgrader Gradebook session until its close."""
    from nbgrader import api

    original_init, original_close = api.Gradebook.__init__, api.Gradebook.close

    def __init__(self, *args, **kwargs):  # noqa: N807 - replaces a dunder
        lock.acquire()
        self._rnncourse_locked = True
        try:
            original_init(self, *args, **kwargs)
        except BaseException:
            self._rnncourse_locked = False
            lock.release()
            raise

    def close(self):
        try:
            original_close(self)
        finally:
            if getattr(self, "_rnncourse_locked", False):
                self._rnncourse_locked = False
                lock.release()

    api.Gradebook.__init__ = __init__
    api.Gradebook.close = close
