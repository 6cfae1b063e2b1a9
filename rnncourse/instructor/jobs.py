"""A grading job is data: one submission's files and the course's identity, graded anywhere.

``rnncourse autograde`` turns each submission into a :class:`Job` (:func:`make`): the files of
``submitted/STUDENT/ASSIGNMENT/`` as a gzipped tarball with its SHA-256, the course's identity
(:func:`identity`: the git commit, and a digest of everything that decides a grade), the gradebook's
URL and the nbgrader options of the run. A worker, on this machine or another, grades it with
:func:`run` in a scratch copy of its own checkout of the course: the unmodified ``nbgrader
autograde ASSIGNMENT --student STUDENT`` in the sandbox, writing the gradebook whose URL the job
names. It refuses a job made from another version of the course (no one is graded by stale hidden
tests or checks), and returns a :class:`Result`: the autograded files, nbgrader's log and the
:class:`~rnncourse.instructor.autograde_parallel.Outcome`. :func:`receive` puts them into the
instructor's course folder. No filesystem is shared; only these two dataclasses travel.

Examples::

    >>> from rnncourse.instructor import jobs  # doctest: +SKIP
    >>> job = jobs.make(".", "ex02_hidden_state", "alice", gradebook=url, options=[])
    >>> outcome = jobs.receive(".", jobs.run(job, checkout=Path(".")))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnncourse.instructor.course import LOG_DIR, folder

if TYPE_CHECKING:  # autograde_parallel imports this module
    from rnncourse.instructor.autograde_parallel import Outcome

__all__ = ["Course", "Job", "JobError", "Result", "identity", "make", "pack", "receive", "run",
           "unpack"]  # fmt: skip


class JobError(RuntimeError):
    """A job that must not be graded here: its files are corrupt, or its course differs."""


@dataclass(frozen=True)
class Course:
    """Which course a job belongs to.

    Args:
        commit: ``git rev-parse HEAD`` of the checkout (``""`` outside git); informative only.
        digest: SHA-256 over what decides a grade: the assignment's source folder (notebooks
            with their hidden tests, data files), ``nbgrader_config.py`` and the ``rnncourse``
            package that holds the checks. Workers refuse a job whose digest is not theirs.
    """

    commit: str
    digest: str


@dataclass(frozen=True)
class Job:
    """One submission to grade, self-contained.

    Args:
        assignment, student: what nbgrader grades (``nbgrader autograde ASSIGNMENT --student``).
        course: the identity of the course the job was made from.
        submission: ``submitted/STUDENT/ASSIGNMENT/`` as a gzipped tarball.
        sha256: the SHA-256 of ``submission``.
        gradebook: the gradebook's SQLAlchemy URL (no password: see ``PGPASSFILE``).
        options: nbgrader command-line options for this run (``--Execute.timeout=...``).
        timeout: wall-time limit of the run in seconds (``None``: none).
        sandbox: whether the kernel runs in the grading sandbox.
    """

    assignment: str
    student: str
    course: Course
    submission: bytes
    sha256: str
    gradebook: str
    options: tuple[str, ...] = ()
    timeout: float | None = 600.0
    sandbox: bool = True


@dataclass(frozen=True)
class Result:
    """What a worker sends back: the outcome, the autograded files and nbgrader's log.

    Args:
        assignment, student: the job's.
        outcome: how the run ended (its ``worker`` field names the worker).
        autograded: ``autograded/STUDENT/ASSIGNMENT/`` as a gzipped tarball (``b""`` if nbgrader
            wrote none).
        sha256: the SHA-256 of ``autograded``.
        log: nbgrader's output for this submission.
    """

    assignment: str
    student: str
    outcome: Outcome
    autograded: bytes
    sha256: str
    log: str


_SKIP = {"__pycache__", ".ipynb_checkpoints"}


def _digest_files(digest: Any, root: Path, label: str) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file() and not _SKIP.intersection(path.relative_to(root).parts):
            digest.update(f"{label}/{path.relative_to(root).as_posix()}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())


_PACKAGE: list[str] = []  # the digest of the rnncourse this process loaded, once computed


def _package_digest() -> str:
    """SHA-256 of the ``rnncourse`` package's files, read once per process: a worker keeps
    the code it loaded (its fork server preloads the checks), so a checkout updated under a
    running worker must not pass for the new version."""
    if not _PACKAGE:
        import rnncourse

        digest = hashlib.sha256()
        _digest_files(digest, Path(rnncourse.__file__).parent, "rnncourse")
        _PACKAGE.append(digest.hexdigest())
    return _PACKAGE[0]


def identity(checkout: str | Path, assignment: str) -> Course:
    """The identity of ``assignment`` in the course checkout ``checkout`` (see :class:`Course`).

    The package digested is the ``rnncourse`` this interpreter imports, the one that grades, as
    it was when this process first asked (:func:`_package_digest`).
    """
    checkout = Path(checkout).resolve()
    digest = hashlib.sha256()
    _digest_files(digest, folder(checkout, "source") / assignment, "source")
    digest.update(hashlib.sha256((checkout / "nbgrader_config.py").read_bytes()).digest())
    digest.update(_package_digest().encode())
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=checkout, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = ""
    return Course(commit, digest.hexdigest())


def pack(root: str | Path) -> tuple[bytes, str]:
    """``root``'s files as a gzipped tarball (paths relative to ``root``) and its SHA-256."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(str(root), arcname=".")
    data = buffer.getvalue()
    return data, hashlib.sha256(data).hexdigest()


def unpack(data: bytes, sha256: str, dest: str | Path) -> None:
    """Extract a tarball made by :func:`pack` into ``dest``, after checking its SHA-256.

    tarfile's ``data`` filter refuses ``..`` members, links that point out of ``dest`` and
    device files, and strips the leading ``/`` of absolute names: nothing is written outside
    ``dest``.

    Raises:
        JobError: the SHA-256 differs (the data was damaged on the way).
    """
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise JobError(f"tarball SHA-256 mismatch: expected {sha256}, got {got}")
    Path(dest).mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(dest, filter="data")


def make(
    course: str | Path,
    assignment: str,
    student: str,
    *,
    gradebook: str,
    options: Sequence[str] = (),
    timeout: float | None = 600.0,
    sandbox: bool = True,
    ident: Course | None = None,
) -> Job:
    """The job that grades ``student``'s submission of ``assignment`` in ``course``.

    ``ident``: the course's :func:`identity`, when the caller computed it once for a batch.
    """
    course = Path(course).resolve()
    data, sha256 = pack(folder(course, "submitted") / student / assignment)
    return Job(
        assignment, student, ident or identity(course, assignment), data, sha256, gradebook,
        tuple(options), timeout, sandbox,
    )  # fmt: skip


def _scratch_course(checkout: Path, job: Job) -> Path:
    """A course folder under ``$TMPDIR`` with the checkout's configuration and the assignment's
    source (nbgrader copies its data files over the submission's) and the job's submission."""
    scratch = Path(tempfile.mkdtemp(prefix=f"rnncourse-{job.assignment}-{job.student}-"))
    shutil.copy2(checkout / "nbgrader_config.py", scratch / "nbgrader_config.py")
    source = folder(checkout, "source")
    shutil.copytree(source / job.assignment, scratch / source.name / job.assignment)
    submitted = scratch / folder(checkout, "submitted").name / job.student / job.assignment
    unpack(job.submission, job.sha256, submitted)
    return scratch


def run(job: Job, checkout: str | Path, worker: str = "") -> Result:
    """Grade ``job`` in a scratch copy of the course ``checkout``; the scratch is removed after.

    Args:
        job: made by :func:`make`.
        checkout: this worker's copy of the course (``nbgrader_config.py``, ``solutions/``).
        worker: the worker's name, recorded in the outcome.

    Raises:
        JobError: ``checkout`` is another version of the course than the job's, or the job's
            tarball is damaged. Nothing is graded.
    """
    from rnncourse.instructor.autograde_parallel import grade_one

    checkout = Path(checkout).resolve()
    if not (checkout / "nbgrader_config.py").is_file():
        raise JobError(f"{checkout} is not a course checkout (no nbgrader_config.py)")
    mine = identity(checkout, job.assignment)
    if mine.digest != job.course.digest:
        raise JobError(
            f"worker {worker or checkout} refuses {job.assignment}/{job.student}: its course "
            f"checkout differs from the instructor's (digest {mine.digest[:12]} at commit "
            f"{mine.commit[:12] or '?'}, the job's {job.course.digest[:12]} at commit "
            f"{job.course.commit[:12] or '?'}); update the worker's checkout"
        )
    scratch = _scratch_course(checkout, job)
    try:
        outcome = grade_one(
            scratch, job.assignment, job.student, timeout=job.timeout, gradebook=job.gradebook,
            options=job.options, sandbox=job.sandbox,
        )  # fmt: skip
        outcome = replace(outcome, worker=worker)
        graded = folder(scratch, "autograded") / job.student / job.assignment
        data, sha256 = pack(graded) if graded.is_dir() else (b"", "")
        logfile = scratch / LOG_DIR / job.assignment / f"{job.student}.log"
        log = logfile.read_text(errors="replace") if logfile.is_file() else ""
        return Result(job.assignment, job.student, outcome, data, sha256, log)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def receive(course: str | Path, result: Result) -> Outcome:
    """Put a worker's result into the instructor's ``course``: the autograded folder (replacing
    the previous one) and nbgrader's log. Returns the result's outcome."""
    student, assignment = result.student, result.assignment
    course = Path(course).resolve()
    if result.autograded:
        target = folder(course, "autograded") / student / assignment
        staged = target.with_name(f".{assignment}.incoming")
        shutil.rmtree(staged, ignore_errors=True)
        unpack(result.autograded, result.sha256, staged)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staged, target)
    if result.log:  # a job the worker refused ran no nbgrader: the last run's log stays
        logfile = course / LOG_DIR / assignment / f"{student}.log"
        logfile.parent.mkdir(parents=True, exist_ok=True)
        logfile.write_text(result.log)
    return result.outcome
