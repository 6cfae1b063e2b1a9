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
        return {k: v for k, v in row.items() if k not in ("id", "timestamp", "index")}

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
    """Do ``rnncourse report``, ``similarity``, ``audit`` and ``export`` run on the PostgreSQL
    gradebook, and does export give the same grades as from SQLite?"""
    from rnncourse.instructor.cli import main

    course = setup["course"]
    for command in ("report", "similarity", "audit"):  # every command that reads the gradebook
        assert main(["--course", str(course), command, NAME]) == 0, command
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


def _neutral(value: object) -> object:
    """A formgrader API answer without what a database assigns (ids, timestamps) or the
    position in a list that has other students in it."""
    if isinstance(value, dict):
        return {
            k: _neutral(v)
            for k, v in sorted(value.items())
            if k not in ("id", "timestamp", "index")
        }
    if isinstance(value, list):
        items = [_neutral(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    return value


def test_formgrader_on_postgresql(
    graded: list[ag.Outcome], setup: dict, sequential: Path, tmp_path: Path
) -> None:
    """Does nbgrader's formgrader serve the PostgreSQL gradebook as it serves SQLite (its API
    for the assignment's pages, a grading page), and does a manual grade land in PostgreSQL?"""
    from tests._formgrader import formgrader

    (tmp_path / "pg").mkdir()
    (tmp_path / "sqlite").mkdir()

    def ordinary(rows: object) -> object:
        return [r for r in rows if r.get("student", r.get("id")) in ORDINARY]  # type: ignore[union-attr]

    pages = ["/formgrader/api/assignments", f"/formgrader/api/submissions/{NAME}",
             "/formgrader/api/students", f"/formgrader/api/submitted_notebooks/{NAME}/{NAME}",
             "/formgrader/api/student_submissions/carol"]  # fmt: skip
    pg = setup["pg"]
    with formgrader(setup["course"], tmp_path / "pg") as on_pg, \
            formgrader(sequential, tmp_path / "sqlite") as on_sqlite:  # fmt: skip
        for page in pages:
            answers = []
            for srv in (on_pg, on_sqlite):
                status, body = srv.request(page)
                assert status == 200, (page, body[:300])
                answers.append(json.loads(body))
            if page.endswith("/assignments"):  # the averages include the timed-out submission
                answers = [[{k: a[k] for k in ("name", "num_submissions") if k in a}
                            for a in answer] for answer in answers]  # fmt: skip
                assert answers[0][0]["num_submissions"] == len(ORDINARY) + 1
                answers[0][0]["num_submissions"] -= 1
            elif not page.endswith("/carol"):
                answers = [ordinary(answer) for answer in answers]
            assert _neutral(answers[0]) == _neutral(answers[1]), page
        # carol's grading page, and a manual grade through the formgrader's API
        from nbgrader.api import Gradebook

        with Gradebook(pg.url) as gb:
            notebook_id = gb.find_submission_notebook(NAME, NAME, "carol").id
            grade_id = gb.find_grade("test_count_parameters", NAME, NAME, "carol").id
        status, html = on_pg.request(f"/formgrader/submissions/{notebook_id}/")
        assert status == 200 and b"count_parameters" in html
        status, body = on_pg.request(f"/formgrader/api/grade/{grade_id}", "PUT",
                                     {"manual_score": 1.5})  # fmt: skip
        assert status == 200, body[:300]
        assert pg.psql(f"SELECT manual_score FROM grade WHERE id = '{grade_id}'").strip() == "1.5"
        status, _ = on_pg.request(
            f"/formgrader/api/grade/{grade_id}", "PUT", {"manual_score": None}
        )
        assert status == 200
    assert pg.psql(f"SELECT manual_score FROM grade WHERE id = '{grade_id}'").strip() == ""


def test_preview_and_apply_on_postgresql(graded: list[ag.Outcome], setup: dict) -> None:
    """With the gradebook on PostgreSQL: is a changed test refused until it is recorded, does the
    preview leave the server untouched, is an apply refused after a manual grade, and does it
    then write exactly the previewed scores? (Last in the module: it changes the course.)"""
    from nbgrader.api import Gradebook

    from rnncourse.instructor import regrade
    from tests.test_regrade import NEW_TEST

    course, pg = setup["course"], setup["pg"]
    path = course / "solutions" / NAME / f"{NAME}.ipynb"
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_count_parameters":
            cell.source = NEW_TEST
    nbformat.write(nb, path)
    options = {"jobs": 2, "timeout": 30, "cell_timeout": CELL_TIMEOUT, "progress": False}
    with pytest.raises(regrade.PreviewError, match="record the changed test first"):
        regrade.preview(course, NAME, **options)
    _nbgrader.nbgrader(course, "generate_assignment", NAME, "--force")
    before = pg.psql("SELECT id, auto_score, manual_score FROM grade ORDER BY id")
    changes, outcomes = regrade.preview(course, NAME, **options)
    assert pg.psql("SELECT id, auto_score, manual_score FROM grade ORDER BY id") == before
    assert {o.student: o.status for o in outcomes} == {
        **dict.fromkeys(ORDINARY, ag.GRADED), "erin": ag.TIMED_OUT,
    }  # fmt: skip
    moved = {c.student: c.tasks for c in changes if c.tasks}
    # the new test wants the recurrent layer only: right answers lose it, carol's 0 stays wrong
    assert moved == {s: {"test_count_parameters": (2.0, 0.0)} for s in ("alice", "dave")}

    def bob_grade(gb: Gradebook):
        return gb.find_grade("test_output_layer", NAME, NAME, "bob")

    with Gradebook(pg.url) as gb:  # a manual grade after the preview: the apply must refuse
        bob_grade(gb).manual_score = 1.0
        gb.db.commit()
    with pytest.raises(regrade.PreviewError, match="changed since the preview"):
        regrade.apply(course, NAME)
    with Gradebook(pg.url) as gb:
        bob_grade(gb).manual_score = None
        gb.db.commit()
    applied = regrade.apply(course, NAME)
    assert {c.student: c.tasks for c in applied if c.tasks} == moved
    scores = _snapshot(pg.url, ["alice", "carol", "dave"])
    for student in ("alice", "dave"):
        grades = {g[0]: g[1] for g in scores[student]["grades"]}  # name -> auto_score
        assert grades["test_count_parameters"] == 0.0 and grades["test_output_layer"] == 2.0
    graded_copy = course / "autograded" / "alice" / NAME / f"{NAME}.ipynb"
    assert "count the recurrent layer only" in graded_copy.read_text()
    assert not (course / regrade.PREVIEW_DIR / NAME).exists()
