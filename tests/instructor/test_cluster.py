"""The Dask side of ``rnncourse autograde`` on a real in-process ``LocalCluster``: the dashboard,
the workers' checks, and a batch whose every job fails on the worker (each failure is reported
for its own submission, the batch goes on). The multi-machine run is ``tests/test_cluster.py``."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from rnncourse.instructor import cluster, jobs

CONFIG = 'c = get_config()\nc.CourseDirectory.source_directory = "solutions"\n'


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    c = cluster.connect(None, 2)
    try:
        yield c
    finally:
        cluster.close(c)


@pytest.fixture
def course(tmp_path: Path) -> Path:
    (tmp_path / "nbgrader_config.py").write_text(CONFIG)
    (tmp_path / "solutions" / "ex").mkdir(parents=True)
    (tmp_path / "solutions" / "ex" / "ex.ipynb").write_text("{}")
    for student in ("s1", "s2", "s3", "s4", "s5"):
        folder = tmp_path / "submitted" / student / "ex"
        folder.mkdir(parents=True)
        (folder / "ex.ipynb").write_text(student)
    return tmp_path


def test_local_cluster_threads_and_dashboard(client) -> None:
    """Does the default cluster have ``--jobs`` threads in this process, and does Dask's
    dashboard answer?"""
    assert sum(client.nthreads().values()) == 2
    assert [address.split("://")[0] for address in client.nthreads()] == ["inproc"]
    with urllib.request.urlopen(client.dashboard_link, timeout=30) as page:
        assert page.status == 200
        assert b"Dask" in page.read()


def test_check_workers_accepts_the_same_course(client, course: Path) -> None:
    ident = jobs.identity(course, "ex")
    workers = cluster.check_workers(client, "ex", ident, sandbox=False, checkout=str(course))
    assert workers == sorted(client.nthreads())


def test_check_workers_refuses_another_version(client, course: Path) -> None:
    """Is a worker whose checkout differs named, with both digests, before anything runs?"""
    stale = jobs.Course("abc123", "f" * 64)
    with pytest.raises(cluster.ClusterError, match="another version of the course") as error:
        cluster.check_workers(client, "ex", stale, sandbox=False, checkout=str(course))
    assert next(iter(client.nthreads())) in str(error.value)
    assert "ffffffffffff" in str(error.value)


def test_check_workers_refuses_a_folder_that_is_no_checkout(client, tmp_path: Path) -> None:
    ident = jobs.Course("", "0" * 64)
    with pytest.raises(cluster.ClusterError, match="is not a course checkout"):
        cluster.check_workers(client, "ex", ident, sandbox=False, checkout=str(tmp_path))


def test_connect_to_nothing_is_a_clear_error() -> None:
    """Does a scheduler address where nothing listens give ClusterError naming it?"""
    with pytest.raises(cluster.ClusterError, match=r"--scheduler: no Dask scheduler .*:9"):
        cluster.connect("tcp://127.0.0.1:9", 1, timeout="2s")


def test_failing_jobs_are_reported_one_by_one(client, course: Path) -> None:
    """With every job refused on the worker (a stale course), does each submission come back
    failed, with its own reason and the worker's name, through a window smaller than the
    batch?"""
    stale = jobs.Course("", "e" * 64)
    made: list[str] = []

    def make_job(student: str) -> jobs.Job:
        made.append(student)
        return jobs.make(course, "ex", student, gradebook="sqlite:///unused", ident=stale)

    students = ["s1", "s2", "s3", "s4", "s5"]
    results = dict(cluster.grade(client, make_job, students, checkout=str(course), window=2))
    assert sorted(results) == students and sorted(made) == students
    worker = next(iter(client.nthreads()))
    for student, result in results.items():
        assert isinstance(result, jobs.Result) and result.autograded == b""
        assert (result.student, result.outcome.status, result.outcome.worker) == (
            student, "failed", worker,
        )  # fmt: skip
        assert f"refuses ex/{student}" in result.outcome.reason
        assert result.outcome.reason.startswith("JobError: ")
