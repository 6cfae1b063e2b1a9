"""Tests of :mod:`rnncourse.instructor.jobs`: grading jobs as data, with real files (no mocks).

Nothing here runs nbgrader: the tarballs, the course identity, the refusals of :func:`jobs.run`
(which come before any grading) and :func:`jobs.receive` are all plain file operations.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pytest

from rnncourse.instructor import jobs
from rnncourse.instructor.autograde_parallel import Outcome
from rnncourse.instructor.course import gradebook_url

CONFIG = 'c = get_config()\nc.CourseDirectory.source_directory = "solutions"\n'
NOTEBOOK = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n'


def _files(root: Path) -> dict[str, bytes]:
    """Every file below ``root``: its path relative to ``root`` (POSIX) and its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _tree(root: Path) -> dict[str, bytes]:
    """A folder with nested folders, text, an empty file and a binary file."""
    contents = {
        "top.txt": b"top level\n",
        "empty": b"",
        "a/b/c/deep.txt": b"three folders down\n",
        "a/blob.bin": bytes(range(256)) * 5 + b"\x00\xff\x00",
        "with space/name with space.ipynb": NOTEBOOK.encode(),
    }
    for name, data in contents.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return contents


def _checkout(root: Path) -> Path:
    """A minimal course checkout: the config, assignment ``ex`` and another one, ``other``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "nbgrader_config.py").write_text(CONFIG)
    (root / "solutions" / "ex").mkdir(parents=True)
    (root / "solutions" / "ex" / "ex.ipynb").write_text(NOTEBOOK)
    (root / "solutions" / "ex" / "data.txt").write_text("1 2 3\n")
    (root / "solutions" / "other").mkdir()
    (root / "solutions" / "other" / "other.ipynb").write_text(NOTEBOOK)
    return root


def _submission(course: Path, student: str = "s1", assignment: str = "ex") -> dict[str, bytes]:
    """``submitted/STUDENT/ASSIGNMENT/`` with a notebook, a data file and a nested binary file."""
    contents = {
        f"{assignment}.ipynb": NOTEBOOK.encode(),
        "data.txt": b"1 2 3\n",
        "extra/weights.bin": bytes(range(200)),
    }
    root = course / "submitted" / student / assignment
    for name, data in contents.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return contents


def _tarball(add) -> tuple[bytes, str]:
    """A gzipped tarball built by hand (``add(tar)`` adds its members) and its SHA-256."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        add(tar)
    data = buffer.getvalue()
    return data, hashlib.sha256(data).hexdigest()


def _file_member(tar: tarfile.TarFile, name: str, data: bytes = b"pwned\n") -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _symlink_member(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    tar.addfile(info)


# ---------------------------------------------------------------------------------------------
# pack / unpack
# ---------------------------------------------------------------------------------------------


def test_pack_unpack_round_trip(tmp_path: Path) -> None:
    """Does every file come back with its bytes and its relative path, and nothing else?"""
    contents = _tree(tmp_path / "src")
    data, sha256 = jobs.pack(tmp_path / "src")
    assert sha256 == hashlib.sha256(data).hexdigest()
    jobs.unpack(data, sha256, tmp_path / "dest")
    assert _files(tmp_path / "dest") == contents


def test_unpack_refuses_damaged_data(tmp_path: Path) -> None:
    """One flipped byte: JobError naming the SHA-256 mismatch, and nothing is written."""
    _tree(tmp_path / "src")
    data, sha256 = jobs.pack(tmp_path / "src")
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0x01
    dest = tmp_path / "dest"
    with pytest.raises(jobs.JobError, match="SHA-256 mismatch") as error:
        jobs.unpack(bytes(damaged), sha256, dest)
    assert sha256 in str(error.value)
    assert hashlib.sha256(bytes(damaged)).hexdigest() in str(error.value)
    assert not dest.exists()


def test_unpack_refuses_parent_path(tmp_path: Path) -> None:
    """A member named ``../escape.txt`` is refused; nothing appears next to ``dest``."""
    dest = tmp_path / "dest"
    data, sha256 = _tarball(lambda tar: _file_member(tar, "../escape.txt"))
    with pytest.raises(tarfile.FilterError):
        jobs.unpack(data, sha256, dest)
    assert not (tmp_path / "escape.txt").exists()


@pytest.mark.parametrize("target", ["outside", "absolute"])
def test_unpack_refuses_symlink_out(tmp_path: Path, target: str) -> None:
    """A symlink leading out of ``dest`` (relative or absolute), then a file written through it:
    refused at the link; nothing is written in the folder it points to."""
    dest = tmp_path / "dest"
    outside = tmp_path / "outside"
    outside.mkdir()
    linkname = "../outside" if target == "outside" else str(outside)

    def add(tar: tarfile.TarFile) -> None:
        _symlink_member(tar, "link", linkname)
        _file_member(tar, "link/escape.txt")

    data, sha256 = _tarball(add)
    with pytest.raises(tarfile.FilterError):
        jobs.unpack(data, sha256, dest)
    assert list(outside.iterdir()) == []
    assert not (dest / "link").is_symlink()


def test_unpack_keeps_absolute_path_inside(tmp_path: Path) -> None:
    """A member with an absolute path (``/tmp/...``) never reaches that path. tarfile's ``data``
    filter strips the leading ``/`` (it refuses only what stays absolute after that), so the
    member lands below ``dest``, not where it names."""
    dest = tmp_path / "dest"
    outside = tmp_path / "abs_escape.txt"
    assert outside.is_absolute()
    data, sha256 = _tarball(lambda tar: _file_member(tar, str(outside)))
    try:
        jobs.unpack(data, sha256, dest)
    except tarfile.FilterError:
        pass  # refusing it outright is as good
    else:
        assert (dest / str(outside).lstrip("/")).read_bytes() == b"pwned\n"
    assert not outside.exists()


# ---------------------------------------------------------------------------------------------
# identity
# ---------------------------------------------------------------------------------------------


def test_identity_is_stable(tmp_path: Path) -> None:
    checkout = _checkout(tmp_path / "course")
    first = jobs.identity(checkout, "ex")
    assert first == jobs.identity(checkout, "ex")
    assert len(first.digest) == 64 and int(first.digest, 16) >= 0


def _changed_source_byte(checkout: Path) -> None:
    path = checkout / "solutions" / "ex" / "data.txt"
    data = bytearray(path.read_bytes())
    data[0] ^= 0x01
    path.write_bytes(bytes(data))


def _added_source_file(checkout: Path) -> None:
    (checkout / "solutions" / "ex" / "more.txt").write_text("new\n")


def _changed_config(checkout: Path) -> None:
    (checkout / "nbgrader_config.py").write_text(CONFIG + "c.Execute.timeout = 30\n")


def _changed_other_assignment(checkout: Path) -> None:
    (checkout / "solutions" / "other" / "other.ipynb").write_text("{}")
    (checkout / "solutions" / "other" / "more.txt").write_text("new\n")


def _added_pycache(checkout: Path) -> None:
    cache = checkout / "solutions" / "ex" / "__pycache__"
    cache.mkdir()
    (cache / "mod.cpython-311.pyc").write_bytes(b"\x00compiled")


def _added_checkpoint(checkout: Path) -> None:
    checkpoints = checkout / "solutions" / "ex" / ".ipynb_checkpoints"
    checkpoints.mkdir()
    (checkpoints / "ex-checkpoint.ipynb").write_text(NOTEBOOK)


@pytest.mark.parametrize(
    "change", [_changed_source_byte, _added_source_file, _changed_config], ids=lambda f: f.__name__
)
def test_identity_follows_what_decides_a_grade(tmp_path: Path, change) -> None:
    checkout = _checkout(tmp_path / "course")
    before = jobs.identity(checkout, "ex").digest
    change(checkout)
    assert jobs.identity(checkout, "ex").digest != before


@pytest.mark.parametrize(
    "change",
    [_changed_other_assignment, _added_pycache, _added_checkpoint],
    ids=lambda f: f.__name__,
)
def test_identity_ignores_the_rest(tmp_path: Path, change) -> None:
    checkout = _checkout(tmp_path / "course")
    before = jobs.identity(checkout, "ex").digest
    change(checkout)
    assert jobs.identity(checkout, "ex").digest == before


def test_identity_commit(tmp_path: Path) -> None:
    """No commit outside git; ``git rev-parse HEAD`` inside; the digest does not depend on it."""
    checkout = _checkout(tmp_path / "course")
    outside = jobs.identity(checkout, "ex")
    assert outside.commit == ""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=checkout, capture_output=True, text=True, check=True
        ).stdout.strip()

    git("init", "-q")
    git("add", "-A")
    git("-c", "user.email=a@b", "-c", "user.name=n", "-c", "commit.gpgsign=false",
        "commit", "-qam", "x")  # fmt: skip
    inside = jobs.identity(checkout, "ex")
    assert inside.commit == git("rev-parse", "HEAD")
    assert len(inside.commit) == 40
    assert inside.digest == outside.digest


# ---------------------------------------------------------------------------------------------
# make / run / receive
# ---------------------------------------------------------------------------------------------


def test_make_packs_the_submission(tmp_path: Path) -> None:
    course = _checkout(tmp_path / "course")
    contents = _submission(course, "s1")
    _submission(course, "s2")  # another student's files stay out
    ident = jobs.Course("abc", "0" * 64)
    job = jobs.make(
        course, "ex", "s1", gradebook="sqlite:////nowhere/gradebook.db",
        options=["--Execute.timeout=30"], timeout=12.0, sandbox=False, ident=ident,
    )  # fmt: skip
    assert (job.assignment, job.student, job.course) == ("ex", "s1", ident)
    assert job.sha256 == hashlib.sha256(job.submission).hexdigest()
    assert isinstance(job.options, tuple) and job.options == ("--Execute.timeout=30",)
    assert job.gradebook == "sqlite:////nowhere/gradebook.db"
    assert (job.timeout, job.sandbox) == (12.0, False)
    jobs.unpack(job.submission, job.sha256, tmp_path / "dest")
    assert _files(tmp_path / "dest") == contents


def test_make_computes_the_identity(tmp_path: Path) -> None:
    """Without ``ident`` the job carries the course's :func:`jobs.identity`."""
    course = _checkout(tmp_path / "course")
    _submission(course)
    job = jobs.make(course, "ex", "s1", gradebook=gradebook_url(course))
    assert job.course == jobs.identity(course, "ex")
    assert job.options == ()


def test_run_refuses_another_course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A job made from another version of the course: refused before anything is graded."""
    course = _checkout(tmp_path / "course")
    _submission(course)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where run's scratch course would go
    job = jobs.make(course, "ex", "s1", gradebook=gradebook_url(course),
                    ident=jobs.Course("abc", "0" * 64))  # fmt: skip
    start = time.monotonic()
    with pytest.raises(jobs.JobError, match="differs") as error:
        jobs.run(job, course, worker="w1")
    assert time.monotonic() - start < 5
    message = str(error.value)
    assert "s1" in message and "ex" in message
    assert "000000000000" in message  # the job's digest, shown next to the worker's
    assert not (course / "gradebook.db").exists()
    assert not (course / "autograded").exists()
    assert not (course / "autograde_logs").exists()
    assert list(scratch.iterdir()) == []  # no scratch course was made


def test_run_refuses_a_folder_that_is_no_checkout(tmp_path: Path) -> None:
    course = _checkout(tmp_path / "course")
    _submission(course)
    job = jobs.make(course, "ex", "s1", gradebook=gradebook_url(course))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(jobs.JobError, match="nbgrader_config.py"):
        jobs.run(job, empty)
    assert list(empty.iterdir()) == []


def _result(tmp_path: Path, notebook: str = NOTEBOOK, log: str = "graded s1\n") -> jobs.Result:
    graded = tmp_path / "worker_autograded"
    graded.mkdir()
    (graded / "ex.ipynb").write_text(notebook)
    data, sha256 = jobs.pack(graded)
    outcome = Outcome("s1", "graded", seconds=1.5, returncode=0, worker="w1")
    return jobs.Result("ex", "s1", outcome, data, sha256, log)


def test_receive_replaces_the_autograded_folder(tmp_path: Path) -> None:
    course = tmp_path / "course"
    course.mkdir()
    (course / "nbgrader_config.py").write_text(CONFIG)
    previous = course / "autograded" / "s1" / "ex"
    previous.mkdir(parents=True)
    (previous / "stale.txt").write_text("from an earlier run\n")
    (previous / "ex.ipynb").write_text("old")
    result = _result(tmp_path, notebook=NOTEBOOK, log="nbgrader said this\n")

    outcome = jobs.receive(course, result)

    assert outcome is result.outcome
    assert _files(previous) == {"ex.ipynb": NOTEBOOK.encode()}
    assert (course / "autograde_logs" / "ex" / "s1.log").read_text() == "nbgrader said this\n"
    assert sorted(p.name for p in (course / "autograded" / "s1").iterdir()) == ["ex"]


def test_receive_into_a_fresh_course(tmp_path: Path) -> None:
    """The first result: the autograded and log folders are created."""
    course = tmp_path / "course"
    course.mkdir()
    (course / "nbgrader_config.py").write_text(CONFIG)
    jobs.receive(course, _result(tmp_path))
    assert _files(course / "autograded" / "s1" / "ex") == {"ex.ipynb": NOTEBOOK.encode()}
    assert (course / "autograde_logs" / "ex" / "s1.log").read_text() == "graded s1\n"
    assert not (course / "autograded" / "s1" / ".ex.incoming").exists()


def test_receive_without_autograded_files(tmp_path: Path) -> None:
    """``autograded=b""`` (nbgrader wrote none): the log is written, the folder left alone."""
    course = tmp_path / "course"
    course.mkdir()
    (course / "nbgrader_config.py").write_text(CONFIG)
    previous = course / "autograded" / "s1" / "ex"
    previous.mkdir(parents=True)
    (previous / "ex.ipynb").write_text("kept")
    outcome = Outcome("s1", "failed", reason="kernel died")
    result = jobs.Result("ex", "s1", outcome, b"", "", "it failed\n")

    assert jobs.receive(course, result) is outcome
    assert _files(previous) == {"ex.ipynb": b"kept"}
    assert (course / "autograde_logs" / "ex" / "s1.log").read_text() == "it failed\n"


def test_receive_refuses_a_damaged_result(tmp_path: Path) -> None:
    """A result whose tarball was damaged on the way: JobError, the previous folder kept."""
    course = tmp_path / "course"
    course.mkdir()
    (course / "nbgrader_config.py").write_text(CONFIG)
    previous = course / "autograded" / "s1" / "ex"
    previous.mkdir(parents=True)
    (previous / "ex.ipynb").write_text("kept")
    result = _result(tmp_path)
    damaged = bytearray(result.autograded)
    damaged[-1] ^= 0x01
    with pytest.raises(jobs.JobError, match="SHA-256"):
        jobs.receive(course, replace(result, autograded=bytes(damaged)))
    assert _files(previous) == {"ex.ipynb": b"kept"}
    assert not (course / "autograded" / "s1" / ".ex.incoming").exists()


def test_identity_keeps_the_package_this_process_loaded(tmp_path: Path) -> None:
    """Is the package part of the digest the code this process loaded, not the files now on
    disk (a worker updated without a restart must refuse the new version's jobs)?"""
    before = jobs._package_digest()
    assert jobs._PACKAGE == [before]
    jobs._PACKAGE.clear()  # a fresh process reads the files again, and finds the same
    try:
        assert jobs._package_digest() == before
    finally:
        jobs._PACKAGE[:] = [before]


def test_receive_of_a_refused_job_keeps_the_last_log(tmp_path: Path) -> None:
    """A job the worker refused (no nbgrader run, no log) leaves the previous run's log."""
    course = tmp_path / "course"
    course.mkdir()
    (course / "nbgrader_config.py").write_text(CONFIG)
    log = course / "autograde_logs" / "ex" / "s1.log"
    log.parent.mkdir(parents=True)
    log.write_text("the last real run")
    outcome = Outcome("s1", "failed", 0.0, "JobError: refused", None, True, "tcp://w")
    assert jobs.receive(course, jobs.Result("ex", "s1", outcome, b"", "", "")) is outcome
    assert log.read_text() == "the last real run"
