"""Autograde every submission of an assignment in parallel, with per-submission limits.

Instructor tooling behind ``rnncourse autograde`` (see :mod:`rnncourse.instructor.cli`). nbgrader
does all the grading: each submission is one ``nbgrader autograde ASSIGNMENT --student ID`` run in
its own process, and nbgrader's gradebook (SQLite, or PostgreSQL through
``CourseDirectory.db_url``) stays the single source of truth. This module only schedules those
runs, limits them and records how each one ended. Each submission is one Dask task carrying a
:class:`~rnncourse.instructor.jobs.Job` (:mod:`rnncourse.instructor.cluster`): on a
``LocalCluster`` in this process by default, or on the workers of a scheduler on other machines.

Each run is a fork of a server process that has already imported nbgrader and the course's
checks (:data:`PRELOAD`, Python's ``forkserver``): the seconds of imports a new interpreter would
spend are paid once per worker, not once per submission.

Three things are added around nbgrader:

* **One writer per submission** (:func:`_hold`). Several nbgrader processes writing one SQLite
  file can fail with "database is locked" (SQLite gives up at once on a lock upgrade it would
  deadlock on), so with SQLite every :class:`nbgrader.api.Gradebook` session holds an
  inter-process file lock (``gradebook.db.lock``). nbgrader opens a gradebook only for short reads
  and writes (before and after running the notebook, never while it executes), so the kernels
  still run in parallel and the rows written are exactly those of a sequential ``nbgrader
  autograde``. PostgreSQL takes concurrent writers; each run holds an advisory lock on its
  submission for its whole life, so that a task Dask re-runs after losing a worker writes after
  the dead run, never interleaved with it.
* **Limits.** Wall time per submission (the run and its kernel are killed, their whole process
  trees), so a looping notebook cannot starve the machine. The kernel's own limits (address
  space, processes, ...) are the sandbox's traitlets, the same under plain ``nbgrader
  autograde``; nbgrader's per-cell timeout (``Execute.timeout``) interrupts ordinary loops
  first, and the wall time catches what ignores the interrupt.
* **A status per submission** (:mod:`rnncourse.instructor.status`): ``graded`` / ``failed`` /
  ``timed out``, the seconds, the reason and the worker, in a table of the gradebook's database,
  exported to ``autograde_status.json`` after each batch; nbgrader's log of each run goes to
  ``autograde_logs/ASSIGNMENT/STUDENT.log``. A re-run skips submissions already graded (unless
  ``force``) and retries the others.

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
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rnncourse.instructor.course import (
    LOG_DIR,
    AssignmentError,
    check_assignment,
    export_status,
    folder,
    gradebook_url,
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
        worker: the Dask worker that graded it (its address).
    """

    student: str
    status: str
    seconds: float = 0.0
    reason: str = ""
    returncode: int | None = None
    sandboxed: bool = True
    worker: str = ""


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


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent (the fork server) dies.

    A Dask worker killed with ``kill -9`` takes its fork server with it; its running nbgrader
    children then die too (their kernels are sandboxed with ``--die-with-parent``), so the
    gradebook lock they hold is released and nothing of theirs writes after the task is re-run.
    """
    import ctypes

    PR_SET_PDEATHSIG = 1  # noqa: N806 - <sys/prctl.h>
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _hold(gradebook: str, key: str) -> None:
    """Make this nbgrader run the only writer it must be.

    SQLite: every gradebook session holds the file lock ``<gradebook>.lock`` (one writer per
    file; nbgrader opens sessions only before and after it runs the notebook). PostgreSQL: the
    server takes concurrent writers; one session-level advisory lock on ``key`` (the
    submission), held on a connection of this process for its whole life and released by the
    server when the process ends however it ends, so that two runs of one submission (a task
    Dask re-runs after losing a worker) write one after the other, never interleaved.
    """
    if gradebook.startswith("sqlite"):
        from filelock import FileLock
        from sqlalchemy.engine import make_url

        path = make_url(gradebook).database
        _serialize_gradebook(FileLock(f"{path}.lock", thread_local=False))  # re-entrant
        return
    import psycopg
    from sqlalchemy.engine import make_url

    conninfo = make_url(gradebook).set(drivername="postgresql").render_as_string(False)
    connection = psycopg.connect(conninfo, autocommit=True)
    connection.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (key,))
    _HELD.append(connection)


_HELD: list[Any] = []  # the child's lock connection lives as long as the child


def _run_nbgrader(
    args: list[str], cwd: str, env: dict[str, str], log: str, gradebook: str, key: str
) -> None:
    """The child of :func:`grade_one`: ``nbgrader ARGS`` in ``cwd``, its output in ``log``, as
    the one writer of submission ``key`` (:func:`_hold`).

    It leads a session of its own, so that a timeout kills it and everything it started.
    """
    os.setsid()
    _die_with_parent()
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    from nbgrader.apps.nbgraderapp import NbGraderApp

    _hold(gradebook, key)
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
    gradebook: str | None = None,
    options: Sequence[str] = (),
    sandbox: bool = True,
) -> Outcome:
    """Autograde one submission in a child process; never raises for the learner's sake.

    Args:
        course: the course folder holding ``submitted/STUDENT/ASSIGNMENT`` (on a worker, the
            job's scratch course).
        timeout: wall-time limit in seconds (``None``: none); the run's whole process tree is
            killed after it.
        gradebook: the gradebook's URL (default: the course's, :func:`gradebook_url`).
        options: more nbgrader options (:func:`nbgrader_options`).
        sandbox: recorded in the outcome; ``options`` turn the sandbox off.
    """
    gradebook = gradebook or gradebook_url(course)
    logfile = course / LOG_DIR / assignment / f"{student}.log"
    logfile.parent.mkdir(parents=True, exist_ok=True)
    tools_on_path()
    args = ["autograde", assignment, "--student", student, "--force",
            f"--CourseDirectory.db_url={gradebook}", *options]  # fmt: skip
    key = f"rnncourse autograde {assignment}/{student}"
    child = _runner().Process(
        target=_run_nbgrader,
        args=(args, str(course), dict(os.environ), str(logfile), gradebook, key),
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
    reason = _failure_reason(logfile.read_text(errors="replace"))
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
    scheduler: str | None = None,
) -> list[Outcome]:
    """Autograde the submissions of ``assignment`` on a Dask cluster, one task per submission.

    Args:
        course: the nbgrader course folder (holds ``nbgrader_config.py`` and the gradebook).
        assignment: an assignment already in the gradebook (``nbgrader generate_assignment``).
        jobs: submissions graded at once on this machine (the ``LocalCluster``'s threads);
            ``os.cpu_count()`` if ``None``. With ``scheduler``, the workers' threads decide.
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
        scheduler: the address of a Dask scheduler (``tcp://host:8786``) whose workers grade;
            ``None``: a ``LocalCluster`` on this machine. A remote cluster needs the gradebook
            on a database server (``CourseDirectory.db_url``).

    Outputs:
        One :class:`Outcome` per submission, sorted by student; also written to the status file.

    Raises:
        AssignmentError: the assignment is not in the gradebook, or a named student submitted
            nothing.
        SandboxUnavailable: ``sandbox`` is on and the sandbox cannot start here (the message
            says why and what to install); nothing is graded.
        ClusterError: the scheduler or a worker cannot grade (nothing is graded), or a remote
            scheduler was given with a SQLite gradebook.
    """
    from tqdm.auto import tqdm

    from rnncourse.instructor import cluster
    from rnncourse.instructor import jobs as job_data
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
    gradebook = gradebook_url(course)
    if scheduler is not None and gradebook.startswith("sqlite"):
        raise cluster.ClusterError(
            "--scheduler: workers on other machines cannot share the SQLite gradebook "
            f"({gradebook}); put the gradebook on PostgreSQL (CourseDirectory.db_url = "
            "'postgresql+psycopg://USER@HOST/DB' in nbgrader_config.py)"
        )
    status = read_status(course, assignment)
    outcomes, todo = [], []
    for student in chosen:
        if not force and _already_graded(course, assignment, student, status):
            outcomes.append(Outcome(student, SKIPPED))
        else:
            todo.append(student)
    if not todo:
        return sorted(outcomes, key=lambda o: o.student)
    if sandbox and scheduler is None:  # after the argument checks: a wrong name is reported
        reason = unavailable_reason()
        if reason is not None:
            raise SandboxUnavailable(f"refusing to grade without the sandbox: {reason}")
    threads = max(1, jobs or os.cpu_count() or 1)
    ident = job_data.identity(course, assignment)
    options = nbgrader_options(sandbox=sandbox, memory_mb=memory_mb, cell_timeout=cell_timeout)
    checkout = None if scheduler else str(course)

    def make_job(student: str) -> job_data.Job:
        return job_data.make(
            course, assignment, student, gradebook=gradebook, options=options, timeout=timeout,
            sandbox=sandbox, ident=ident,
        )  # fmt: skip

    client = cluster.connect(scheduler, threads)
    try:
        workers = cluster.check_workers(
            client, assignment, ident, sandbox=sandbox and scheduler is not None,
            checkout=checkout,
        )  # fmt: skip
        _create_students(gradebook, todo)  # before fan-out: no two runs race to create one
        if progress and scheduler is None and client.dashboard_link:
            print(f"Dask dashboard: {client.dashboard_link}", file=sys.stderr)
        window = 4 * max(1, sum(client.nthreads().values()), len(workers))
        bar = tqdm(total=len(todo), desc=f"autograde {assignment}", unit="sub",
                   disable=not progress)  # fmt: skip
        for student, result in cluster.grade(
            client, make_job, todo, checkout=checkout, window=window
        ):
            if isinstance(result, BaseException):
                reason = f"{type(result).__name__}: {result}".splitlines()[0][:300]
                outcome = Outcome(student, FAILED, 0.0, reason, None, sandbox)
            else:
                outcome = job_data.receive(course, result)
            _write_status(course, assignment, outcome)
            outcomes.append(outcome)
            bar.set_postfix_str(f"{outcome.student}: {outcome.status}")
            bar.update()
        bar.close()
    finally:
        cluster.close(client)
        export_status(course)  # the file follows the table, also after an interrupted batch
    return sorted(outcomes, key=lambda o: o.student)


def _create_students(gradebook: str, students: Sequence[str]) -> None:
    """Add the students the gradebook lacks, in one session, before any run starts."""
    from nbgrader.api import Gradebook, MissingEntry

    tools_on_path()
    with Gradebook(gradebook) as gb:
        for student in students:
            try:
                gb.find_student(student)
            except MissingEntry:
                gb.add_student(student)


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
