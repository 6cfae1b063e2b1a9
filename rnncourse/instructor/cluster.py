"""Dask distributed runs the grading jobs, on this machine or on many.

``rnncourse autograde`` submits one task per submission (a :class:`~rnncourse.instructor.jobs.Job`)
to a Dask cluster and collects the :class:`~rnncourse.instructor.jobs.Result` of each as it
arrives. By default the cluster is a ``LocalCluster`` started for the batch: one in-process worker
with ``--jobs`` threads, each thread running one submission's nbgrader child at a time. With
``--scheduler tcp://HOST:8786`` the tasks go to an existing scheduler whose workers, started in
their own checkout of the course (``dask worker tcp://HOST:8786 --no-nanny --nthreads N``), may be
on other machines; they write the gradebook on the PostgreSQL server the job names.

Dask re-runs the task of a worker that dies; the gradebook's per-submission lock
(:func:`rnncourse.instructor.autograde_parallel._hold`) makes the re-run converge on one set of
rows. Before grading, :func:`check_workers` asks every worker whether it can grade at all (a
checkout of the same course, the sandbox, a process that may start children), so that a
misconfigured machine fails the batch at once, by name, instead of failing every submission sent
to it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from rnncourse.instructor import jobs

__all__ = ["ClusterError", "check_workers", "connect", "grade"]


class ClusterError(RuntimeError):
    """The cluster cannot grade: no scheduler at the address, no worker, or a worker that would
    fail every job (another version of the course, no sandbox, a daemonic process)."""


def connect(scheduler: str | None, threads: int, *, timeout: str = "30s") -> Any:
    """A Dask client: of a new ``LocalCluster`` (one in-process worker with ``threads``
    threads) when ``scheduler`` is ``None``, else of the scheduler at that address (TLS when
    Dask's configuration names certificates, ``distributed.comm.tls``), waiting up to
    ``timeout`` for it to answer.

    Raises:
        ClusterError: no scheduler answers at ``scheduler``.
    """
    from distributed import Client, LocalCluster

    if scheduler is None:
        cluster = LocalCluster(
            n_workers=1, threads_per_worker=threads, processes=False,
            dashboard_address=":0" if _has_dashboard() else None,
        )  # fmt: skip
        return Client(cluster, set_as_default=False)
    try:
        return Client(scheduler, timeout=timeout, set_as_default=False)
    except OSError as error:
        message = f"--scheduler: no Dask scheduler answers at {scheduler}: {error}"
        raise ClusterError(message) from None


def close(client: Any) -> None:
    """Close the client and, when it started it, its ``LocalCluster``."""
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def _has_dashboard() -> bool:
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None


def _report(assignment: str, checkout: str | None) -> dict[str, Any]:
    """Run on each worker: what :func:`check_workers` needs to know about it."""
    import multiprocessing

    from rnncourse.instructor.sandbox import unavailable_reason

    root = Path(checkout or os.getcwd())
    report: dict[str, Any] = {
        "daemon": multiprocessing.current_process().daemon,
        "checkout": str(root),
        "sandbox": unavailable_reason(),
        "digest": None,
    }
    if (root / "nbgrader_config.py").is_file():
        try:
            report["digest"] = jobs.identity(root, assignment).digest
        except OSError as error:
            report["digest"] = f"unreadable: {error}"
    return report


def check_workers(
    client: Any, assignment: str, course: jobs.Course, *, sandbox: bool, checkout: str | None
) -> list[str]:
    """The workers' addresses, after checking that each can grade ``assignment``.

    Raises:
        ClusterError: there is no worker, or one cannot grade (what is wrong, and where).
    """
    reports = client.run(_report, assignment, checkout)
    if not reports:
        raise ClusterError("the Dask scheduler has no workers: start `dask worker` in a checkout")
    problems = []
    for address, report in sorted(reports.items()):
        if report["daemon"]:
            problems.append(
                f"{address} runs in a daemonic process, which may not start the grading "
                "processes: start it with `dask worker --no-nanny`, or set "
                "DASK_DISTRIBUTED__WORKER__DAEMON=False"
            )
        if report["digest"] is None:
            problems.append(
                f"{address}: {report['checkout']} is not a course checkout (no "
                "nbgrader_config.py): start the worker in its checkout of the course"
            )
        elif report["digest"] != course.digest:
            problems.append(
                f"{address}: its checkout {report['checkout']} is another version of the course "
                f"(digest {report['digest'][:12]}, the instructor's {course.digest[:12]} at "
                f"commit {course.commit[:12] or '?'}): update it"
            )
        if sandbox and report["sandbox"]:
            problems.append(f"{address} cannot start the grading sandbox: {report['sandbox']}")
    if problems:
        raise ClusterError("these workers cannot grade:\n  " + "\n  ".join(problems))
    return sorted(reports)


def _grade(job: jobs.Job, checkout: str | None) -> jobs.Result:
    """The task: grade ``job`` on this worker, in ``checkout`` (default: the worker's cwd).

    A job the worker refuses (:class:`~rnncourse.instructor.jobs.JobError`) comes back as a
    failed outcome that names the worker, so that the status says where it failed.
    """
    from distributed import get_worker

    from rnncourse.instructor.autograde_parallel import FAILED, Outcome

    worker = get_worker().address
    try:
        return jobs.run(job, Path(checkout or os.getcwd()), worker=worker)
    except jobs.JobError as error:
        outcome = Outcome(job.student, FAILED, 0.0, f"JobError: {error}"[:300], None,
                          job.sandbox, worker)  # fmt: skip
        return jobs.Result(job.assignment, job.student, outcome, b"", "", "")


def grade(
    client: Any,
    make_job: Callable[[str], jobs.Job],
    students: Iterable[str],
    *,
    checkout: str | None,
    window: int,
) -> Iterator[tuple[str, jobs.Result | BaseException]]:
    """Grade each student's job on the cluster; yield ``(student, result)`` as each finishes.

    At most ``window`` jobs are in flight (their tarballs held in memory), so a batch of
    thousands does not load every submission at once. A job the worker refuses yields a failed
    outcome; a task that raises (a job Dask gave up on after losing the workers it ran on)
    yields its exception instead of a result; the others go on.
    """
    from distributed import as_completed

    pending = iter(students)
    owner: dict[str, str] = {}
    batch = uuid.uuid4().hex[:8]

    def submit(student: str) -> Any:
        job = make_job(student)
        key = f"autograde-{job.assignment}-{student}-{batch}"
        owner[key] = student
        return client.submit(_grade, job, checkout, key=key, pure=False)

    first = [submit(s) for _, s in zip(range(window), pending, strict=False)]
    running = as_completed(first, with_results=False, loop=client.loop)
    for future in running:
        student = owner.pop(future.key)
        try:
            yield student, future.result()
        except Exception as error:  # the worker's failure, reported for this submission only
            yield student, error
        finally:
            future.release()
        following = next(pending, None)
        if following is not None:
            running.add(submit(following))
