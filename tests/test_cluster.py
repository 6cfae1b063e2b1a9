"""Grading on several machines: a real Dask scheduler, two ``dask worker`` processes and a real
PostgreSQL gradebook, all started here and stopped after.

The two workers listen on separate loopback addresses (127.0.0.2, 127.0.0.3), each in its own
checkout of the course with its own scratch folder (``TMPDIR``), in a mount namespace where the
instructor's course folder is an empty tmpfs: they cannot read it, and nothing reaches them but
the jobs Dask carries. A mixed batch graded through them must leave the gradebook exactly as plain
``nbgrader autograde`` leaves a SQLite gradebook, one submission after another; a submission's
attacks on the scheduler, the database and the worker's secrets must fail; ``kill -9`` of a
worker in mid-batch must still end with every submission graded once; a re-run skips what is
graded.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from rnncourse.instructor import autograde_parallel as ag
from rnncourse.instructor.cluster import ClusterError
from rnncourse.instructor.course import read_status, tools_on_path
from tests import _nbgrader, _postgres
from tests._dask import Cluster
from tests.hostile.corpus import _answers

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(_postgres.available() is not None, reason=str(_postgres.available())),
]

NAME = "ex02_hidden_state"
#: Per-cell limit, and the wall-time limit per submission: above a normal run on a busy 2-core
#: machine, below the slow submission's 15 x 8 s of sleeping.
CELL_TIMEOUT, WALL_TIMEOUT = 10, 60
ORDINARY = ["alice", "bob", "carol", "dave"]


def _attack(ports: list[tuple[str, int]], passfile: Path) -> str:
    """A learner's cell that tries to reach the cluster and its secrets, and prints how far."""
    return f"""import os, socket
def _try(label, action):
    try:
        action()
        print("ATTACK", label, "SUCCEEDED")
    except Exception as error:
        print("ATTACK", label, "blocked", type(error).__name__)
for _host, _port in {ports!r}:
    _try(f"connect {{_host}}:{{_port}}",
         lambda h=_host, p=_port: socket.create_connection((h, p), timeout=3).close())
_try("read the password file", lambda: print(open({str(passfile)!r}).read()))
_try("read the parent's environment", lambda: print(open("/proc/1/environ").read()))
print("ATTACK environment", sorted(k for k in os.environ if "PG" in k or "DASK" in k))
{{solution}}"""


def _submissions(course: Path, attack: str) -> None:
    release = _nbgrader.read(course / "exercises" / NAME / f"{NAME}.ipynb")
    solution = _nbgrader.read(_nbgrader.solution_path(NAME))
    wrong = "def count_parameters(input_size, hidden_size, output_size):\n    return 0"
    notebooks = {
        "alice": _answers(release, solution),
        "bob": release,
        "carol": _answers(release, solution, count_parameters=wrong),
        "dave": _answers(release, solution, rnn_cell=attack),
    }
    slow = _answers(release, solution)
    for _ in range(15):  # each cell under the cell limit, all of them over the wall time
        slow.cells.append(nbformat.v4.new_code_cell("import time\ntime.sleep(8)"))
    notebooks["erin"] = slow
    for student, nb in notebooks.items():
        _nbgrader.submit(course, student, NAME, nb)


def _snapshot(url: str, students: list[str]) -> dict[str, object]:
    """Everything the gradebook says of each student's submission, backend-neutral."""
    from nbgrader.api import Gradebook

    tools_on_path()
    out: dict[str, object] = {}
    with Gradebook(url) as gb:
        for submission in gb.assignment_submissions(NAME):
            if submission.student_id not in students:
                continue
            notebook = submission.notebooks[0]
            grades = sorted(
                (g.name, g.auto_score, g.manual_score, g.extra_credit, g.needs_manual_grade)
                for g in notebook.grades
            )
            comments = sorted((c.name, c.auto_comment, c.manual_comment) for c in notebook.comments)
            out[submission.student_id] = {
                "grades": grades, "comments": comments, "score": submission.score,
                "late": submission.total_seconds_late, "flagged": notebook.flagged,
            }  # fmt: skip
    return out


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("cluster")
    hidden = root / "instructor"
    with _postgres.server() as pg, pytest.MonkeyPatch.context() as mp:
        mp.setenv("PGPASSFILE", str(pg.passfile))
        course = _nbgrader.release.stage_course(hidden / "course", [NAME])
        with open(course / "nbgrader_config.py", "a") as config:
            config.write(f"\nc.CourseDirectory.db_url = {pg.url!r}\n")
        checkout = root / "checkout"
        _nbgrader.release.stage_course(checkout, [NAME])
        shutil.copy(course / "nbgrader_config.py", checkout / "nbgrader_config.py")
        _nbgrader.release.generate(course, NAME)
        ports = [("127.0.0.1", pg.port)]
        env = _nbgrader.release.nbgrader_env()
        cluster = Cluster(root, hidden, checkout, env)
        ports += [("127.0.0.1", cluster.port), *cluster.worker_ports()]
        _submissions(course, _attack(ports, pg.passfile))
        try:
            yield {"course": course, "pg": pg, "cluster": cluster, "root": root}
        finally:
            cluster.stop()


@pytest.fixture(scope="module")
def sequential(tmp_path_factory: pytest.TempPathFactory, setup: dict) -> Path:
    """Today's sequential run: plain ``nbgrader autograde`` on a SQLite course, same files."""
    course = _nbgrader.make_course(tmp_path_factory.mktemp("sequential"), [NAME])
    for student in ORDINARY:
        shutil.copytree(setup["course"] / "submitted" / student, course / "submitted" / student)
    _nbgrader.nbgrader(course, "autograde", NAME, f"--Execute.timeout={CELL_TIMEOUT}")
    return course


@pytest.fixture(scope="module")
def reference(sequential: Path) -> dict[str, object]:
    return _snapshot(f"sqlite:///{sequential / 'gradebook.db'}", ORDINARY)


@pytest.fixture(scope="module")
def graded(setup: dict) -> list[ag.Outcome]:
    start = time.perf_counter()
    outcomes = ag.autograde(
        setup["course"], NAME, scheduler=setup["cluster"].address, timeout=WALL_TIMEOUT,
        cell_timeout=CELL_TIMEOUT, progress=False,
    )  # fmt: skip
    print(f"cluster batch: {time.perf_counter() - start:.1f} s")
    return outcomes


def test_every_submission_graded_by_the_remote_workers(graded: list[ag.Outcome]) -> None:
    """Is each submission graded (the slow one timed out) on one of the two workers?"""
    status = {o.student: o.status for o in graded}
    assert status == {**dict.fromkeys(ORDINARY, ag.GRADED), "erin": ag.TIMED_OUT}
    assert {o.worker.split("://")[1].rsplit(":", 1)[0] for o in graded} <= {
        "127.0.0.2", "127.0.0.3",
    }  # fmt: skip
    assert all(o.sandboxed for o in graded)


def test_gradebook_identical_to_sequential_sqlite(
    graded: list[ag.Outcome], setup: dict, reference: dict[str, object]
) -> None:
    """Does PostgreSQL hold exactly what plain nbgrader wrote to SQLite, task by task?"""
    got = _snapshot(setup["pg"].url, ORDINARY)
    assert got == reference
    # and the reference is not trivial: full marks, zero and partial scores all occur
    scores = sorted({entry["score"] for entry in reference.values()})
    assert len(scores) >= 3, scores


def test_results_reach_the_course_folder(graded: list[ag.Outcome], setup: dict) -> None:
    """Are each graded notebook and its nbgrader log in the instructor's folder, and the
    status file with the worker of each?"""
    course = setup["course"]
    for student in ORDINARY:
        assert (course / "autograded" / student / NAME / f"{NAME}.ipynb").is_file()
        assert "[AutogradeApp" in (course / "autograde_logs" / NAME / f"{student}.log").read_text()
    status = read_status(course, NAME)
    assert {s: r["status"] for s, r in status.items()} == {o.student: o.status for o in graded}
    assert all(r["worker"].startswith("tcp://127.0.0.") for r in status.values())
    # the status lives in the gradebook's database, in a schema of its own; the file exports it
    rows = setup["pg"].psql("SELECT student, status, worker FROM rnncourse.autograde_status")
    assert sorted(tuple(line.split("\t")) for line in rows.splitlines()) == sorted(
        (o.student, o.status, o.worker) for o in graded
    )
    exported = json.loads((course / "autograde_status.json").read_text())[NAME]
    assert {s: r["status"] for s, r in exported.items()} == {o.student: o.status for o in graded}


def test_attacks_from_a_submission_fail(graded: list[ag.Outcome], setup: dict) -> None:
    """Can the hostile submission reach the scheduler, the database or the worker's secrets?"""
    path = setup["course"] / "autograded" / "dave" / NAME / f"{NAME}.ipynb"
    text = "".join(
        out.get("text", "")
        for cell in _nbgrader.read(path).cells
        for out in cell.get("outputs", [])
    )
    lines = [line for line in text.splitlines() if line.startswith("ATTACK")]
    assert len(lines) == 7, text  # 4 ports, the file, /proc/1/environ, the environment
    assert not [line for line in lines if "SUCCEEDED" in line and "environ" not in line], lines
    # /proc/1 is the sandbox's own init, started with an empty environment
    assert (
        "PGPASSFILE" not in text
        and setup["pg"].passfile.read_text().split(":")[-1].strip() not in text
    )
    assert "ATTACK environment []" in lines
    # nothing left behind: only nbgrader's tables in the database
    tables = set(setup["pg"].psql("SELECT tablename FROM pg_tables WHERE schemaname='public'")
                 .split())  # fmt: skip
    from nbgrader.api import Base

    assert tables == set(Base.metadata.tables) | {"alembic_version"}


def _summaries(url: str) -> dict[str, object]:
    """nbgrader's grade-summary queries (what the formgrader's pages and export show) for the
    ordinary students, without the row ids a database assigns."""
    from nbgrader.api import Gradebook

    def neutral(row: dict) -> dict:
        return {k: v for k, v in row.items() if k not in ("id", "timestamp")}

    tools_on_path()
    with Gradebook(url) as gb:
        return {
            "submissions": sorted(
                (d["student"], sorted(neutral(d).items()))
                for d in gb.submission_dicts(NAME) if d["student"] in ORDINARY
            ),
            "notebooks": sorted(
                (d["student"], sorted(neutral(d).items()))
                for d in gb.notebook_submission_dicts(NAME, NAME) if d["student"] in ORDINARY
            ),
            "students": sorted(
                sorted(d.items()) for d in gb.student_dicts() if d["id"] in ORDINARY
            ),
        }  # fmt: skip


def test_summary_queries_on_postgresql(
    graded: list[ag.Outcome], setup: dict, sequential: Path
) -> None:
    """Do nbgrader's summary queries, which its own tests run on SQLite only, give on
    PostgreSQL what they give on SQLite, and its averages what the raw rows say?"""
    from nbgrader.api import Gradebook

    pg = setup["pg"]
    expected = _summaries(f"sqlite:///{sequential / 'gradebook.db'}")
    assert len(expected["submissions"]) == len(ORDINARY)
    assert _summaries(pg.url) == expected
    # the averages include the timed-out submission: checked against SQL over the raw rows
    per_submission = pg.psql(
        "SELECT sum(coalesce(g.manual_score, g.auto_score, 0) + coalesce(g.extra_credit, 0)) "
        "FROM submitted_assignment sa "
        "LEFT JOIN submitted_notebook sn ON sn.assignment_id = sa.id "
        "LEFT JOIN grade g ON g.notebook_id = sn.id GROUP BY sa.id"
    ).split()
    raw_mean = sum(float(x or 0) for x in per_submission) / len(per_submission)
    with Gradebook(pg.url) as gb:
        assert gb.average_assignment_score(NAME) == pytest.approx(raw_mean, abs=1e-9)


def test_report_and_export_on_postgresql(
    graded: list[ag.Outcome], setup: dict, sequential: Path, tmp_path: Path
) -> None:
    """Do ``rnncourse report`` and ``rnncourse export`` run on the PostgreSQL gradebook, and
    export the same grades as from SQLite?"""
    from rnncourse.instructor.cli import main

    course = setup["course"]
    assert main(["--course", str(course), "report", NAME]) == 0
    assert (course / "reports" / NAME).is_dir()
    only = [arg for student in ORDINARY for arg in ("--student", student)]
    for name, where in (("pg", course), ("sqlite", sequential)):
        argv = ["--course", str(where), "export", "--format", "csv"]
        assert main([*argv, "--to", str(tmp_path / f"{name}.csv"), *only]) == 0
    pg_rows = (tmp_path / "pg.csv").read_text().splitlines()
    assert len(pg_rows) == 1 + len(ORDINARY)
    assert pg_rows == (tmp_path / "sqlite.csv").read_text().splitlines()


def test_workers_cannot_see_the_course(setup: dict) -> None:
    """Is the instructor's folder empty from inside a worker's namespace?"""
    from distributed import Client

    with Client(setup["cluster"].address, timeout="30s") as client:
        seen = client.run(os.listdir, str(setup["course"].parent))
    assert seen and all(listing == [] for listing in seen.values()), seen


def test_rerun_skips_graded(graded: list[ag.Outcome], setup: dict) -> None:
    """Does a second run grade only what did not end graded (the timed-out one)?"""
    again = ag.autograde(
        setup["course"], NAME, scheduler=setup["cluster"].address, timeout=5,
        cell_timeout=CELL_TIMEOUT, progress=False, students=ORDINARY,
    )  # fmt: skip
    assert {o.student: o.status for o in again} == dict.fromkeys(ORDINARY, ag.SKIPPED)


def test_sqlite_refused_with_a_remote_scheduler(tmp_path: Path, setup: dict) -> None:
    """Is a remote scheduler refused for a SQLite gradebook, before anything is graded?"""
    course = _nbgrader.make_course(tmp_path, [NAME])
    _nbgrader.submit(course, "x", NAME, _nbgrader.read(_nbgrader.release_path(NAME)))
    with pytest.raises(ClusterError, match="cannot share the SQLite gradebook"):
        ag.autograde(course, NAME, scheduler=setup["cluster"].address, progress=False)
    assert not (course / "autograded").exists()


def test_stale_worker_checkout_refused(setup: dict) -> None:
    """Does a worker whose checkout differs (a changed hidden test) stop the batch by name?"""
    from distributed import Client

    cluster = setup["cluster"]
    extra = cluster.root / "checkout-w2" / "solutions" / NAME / "extra.txt"
    extra.write_text("a file the instructor's course does not have")
    try:
        with pytest.raises(ClusterError, match=r"w2|127\.0\.0\.3") as error:
            ag.autograde(setup["course"], NAME, scheduler=cluster.address, force=True,
                         students=["alice"], progress=False)  # fmt: skip
        assert "another version of the course" in str(error.value)
        assert "127.0.0.2" not in str(error.value)
    finally:
        extra.unlink()
    with Client(cluster.address, timeout="30s") as client:
        assert len(client.scheduler_info()["workers"]) == 2


def test_kill_9_of_a_worker_mid_batch(setup: dict, reference: dict[str, object]) -> None:
    """After ``kill -9`` of a worker that is grading, is every submission graded exactly once,
    with the scores of the sequential run, and does nothing of the killed worker keep running?"""
    import psutil

    course, cluster = setup["course"], setup["cluster"]
    result: dict[str, object] = {}

    def batch() -> None:
        result["outcomes"] = ag.autograde(
            course, NAME, scheduler=cluster.address, timeout=WALL_TIMEOUT,
            cell_timeout=CELL_TIMEOUT, progress=False, force=True, students=ORDINARY,
        )  # fmt: skip

    runner = threading.Thread(target=batch)
    runner.start()
    victim, scratch = cluster.workers["w1"], cluster.scratch["w1"]
    deadline = time.monotonic() + 120
    while not list(scratch.glob(f"rnncourse-{NAME}-*")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert list(scratch.glob(f"rnncourse-{NAME}-*")), "w1 never started a job"
    time.sleep(3)  # well inside nbgrader's run: the kernel is up
    victim.send_signal(signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL
    runner.join(timeout=600)
    assert not runner.is_alive()
    outcomes = result["outcomes"]
    assert {o.student: o.status for o in outcomes} == dict.fromkeys(ORDINARY, ag.GRADED)
    # w1 died in its first job of the batch: Dask re-ran that job, and all the others, on w2
    assert {o.worker.split("://")[1].rsplit(":", 1)[0] for o in outcomes} == {"127.0.0.3"}
    assert _snapshot(setup["pg"].url, ORDINARY) == reference
    counts = setup["pg"].psql(
        "SELECT student.id, count(*) FROM submitted_assignment JOIN student "
        "ON student.id = submitted_assignment.student_id GROUP BY student.id"
    )
    assert dict(line.split("\t") for line in counts.splitlines()) == {
        **dict.fromkeys(ORDINARY, "1"), "erin": "1",
    }  # fmt: skip

    def in_scratch(proc: psutil.Process) -> bool:
        try:
            return proc.cwd().startswith(str(scratch))
        except (psutil.Error, OSError):
            return False

    time.sleep(2)
    assert [p.info for p in psutil.process_iter(["pid", "cmdline"]) if in_scratch(p)] == []
    cluster.start_worker("w1", "127.0.0.2")  # back to two workers for anything after
    cluster.wait_for(2)


def test_status_file_is_json(setup: dict) -> None:
    """The status file stays readable JSON after every run above."""
    data = json.loads((setup["course"] / "autograde_status.json").read_text())
    assert set(data[NAME]) == {*ORDINARY, "erin"}
