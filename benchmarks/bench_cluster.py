"""How fast do remote Dask workers grade, against stock nbgrader and the local Dask default?

Builds copies of one temporary course with the same K simulated submissions (a third correct, a
third with a diagnosable mistake, a third blank; see ``bench_autograde.make_submissions``) and
grades them, in one run, side by side:

1. stock nbgrader, sequential, SQLite: plain ``nbgrader autograde ASSIGNMENT`` on the whole batch
   (today's sequential engine, the peer);
2. ``rnncourse autograde`` on a local Dask cluster, SQLite, ``--jobs 1`` and ``--jobs 2``;
3. remote ``dask worker`` processes (as ``tests/_dask.py`` starts them: loopback addresses, one
   thread each, their own checkout, the instructor's folder hidden), gradebook on PostgreSQL:
   one worker, then two workers, each on a fresh server and course copy (first gradings, as
   the others).

It also counts the database round trips per submission of the remote batches
(``pg_stat_statements`` calls of the ``grader`` role, and the ``xact_commit`` delta of the
course database), and checks that every gradebook gives the same score per student and task.

Needs root (PostgreSQL runs as the ``postgres`` account, the workers in a mount namespace).

Usage::

    .venv/bin/python benchmarks/bench_cluster.py              # K = 12
    .venv/bin/python benchmarks/bench_cluster.py --n 4
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _load_bench_autograde():
    """``benchmarks/bench_autograde.py`` as a module (``benchmarks`` has no ``__init__.py``)."""
    if (ROOT / "benchmarks" / "__init__.py").is_file():
        from benchmarks import bench_autograde

        return bench_autograde
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_autograde", ROOT / "benchmarks" / "bench_autograde.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_autograde"] = module
    spec.loader.exec_module(module)
    return module


_bench = _load_bench_autograde()
make_submissions, timed_batch = _bench.make_submissions, _bench.timed_batch

from rnncourse.instructor import autograde_parallel as ag  # noqa: E402
from rnncourse.instructor.course import tools_on_path  # noqa: E402
from tests import _nbgrader, _postgres  # noqa: E402
from tests._dask import Cluster  # noqa: E402

Scores = dict[str, dict[str, float]]


def gradebook_scores(url: str, assignment: str) -> Scores:
    """``student -> {grade_name: score}`` from the gradebook at ``url`` (any backend)."""
    from nbgrader.api import Gradebook

    out: Scores = {}
    with Gradebook(url) as gb:
        for submission in gb.assignment_submissions(assignment):
            notebook = submission.notebooks[0]
            out[submission.student_id] = {g.name: g.score for g in notebook.grades}
    return out


def timed_remote(course: Path, assignment: str, scheduler: str, timeout: float) -> float:
    """Seconds to grade every submission through the Dask scheduler at ``scheduler``."""
    start = time.perf_counter()
    outcomes = ag.autograde(
        course, assignment, scheduler=scheduler, force=True, timeout=timeout, progress=True
    )
    wall = time.perf_counter() - start
    bad = [o for o in outcomes if o.status != ag.GRADED]
    if bad:
        print(f"  warning: {len(bad)} not graded: {bad[:3]}")
    workers = sorted({o.worker for o in outcomes if o.worker})
    print(f"  graded by {len(workers)} worker(s): {', '.join(workers)}")
    runs = [o.seconds for o in outcomes if o.status == ag.GRADED]
    if runs:
        print(
            f"  nbgrader run per submission on the worker: mean {sum(runs) / len(runs):.1f} s, "
            f"min {min(runs):.1f} s, max {max(runs):.1f} s"
        )
    return wall


def remote_batch(tmp: Path, assignment: str, n: int, hosts: tuple[str, ...], timeout: float):
    """Grade the batch on remote workers at ``hosts`` (one thread each) into a fresh PostgreSQL
    gradebook: every configuration's batch is a first grading, as the stock and local ones."""
    result: dict[str, object] = {}
    with _postgres.server(statements=True) as pg:
        os.environ["PGPASSFILE"] = str(pg.passfile)
        where = tmp / f"remote-{len(hosts)}"
        hidden = where / "instructor"
        course = _nbgrader.release.stage_course(hidden / "course", [assignment])
        with open(course / "nbgrader_config.py", "a") as config:
            config.write(f"\nc.CourseDirectory.db_url = {pg.url!r}\n")
        checkout = where / "checkout"
        _nbgrader.release.stage_course(checkout, [assignment])
        shutil.copy(course / "nbgrader_config.py", checkout / "nbgrader_config.py")
        _nbgrader.release.generate(course, assignment)
        make_submissions(course, assignment, n)
        print(f"remote, {len(hosts)} worker(s), PostgreSQL ...")
        start = time.perf_counter()
        cluster = Cluster(where, hidden, checkout, _nbgrader.release.nbgrader_env(), hosts=hosts)
        print(f"  cluster up in {time.perf_counter() - start:.1f} s")
        try:
            pg.psql("SELECT pg_stat_statements_reset()")
            commits_before = _xact_commit(pg)
            result["wall"] = timed_remote(course, assignment, cluster.address, timeout)
            time.sleep(1.5)  # let the backends' statistics reach the shared counters
            # the session that read commits_before commits once itself: not the batch's
            result["xact"] = _xact_commit(pg) - commits_before - 1
            result["calls"] = int(
                pg.psql(
                    "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s "
                    "JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = 'grader'"
                ).strip()
            )
            result["top"] = pg.psql(
                "SELECT s.calls, left(regexp_replace(s.query, '\\s+', ' ', 'g'), 90) "
                "FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid "
                "WHERE r.rolname = 'grader' ORDER BY s.calls DESC LIMIT 8"
            )
            result["scores"] = gradebook_scores(pg.url, assignment)
        finally:
            cluster.stop()
    return result


def _xact_commit(pg: _postgres.Server) -> int:
    return int(
        pg.psql("SELECT xact_commit FROM pg_stat_database WHERE datname = 'rnncourse'").strip()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=12, help="simulated submissions (default 12)")
    parser.add_argument("--assignment", default="ex02_hidden_state")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per submission")
    args = parser.parse_args()
    reason = _postgres.available()
    if reason is not None:
        sys.exit(f"cannot start PostgreSQL: {reason}")
    tools_on_path()
    name, n = args.assignment, args.n

    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp_name:
        tmp = Path(tmp_name)
        print(f"generating {name} and {n} submissions ...")
        base = _nbgrader.make_course(tmp / "stock", [name])
        make_submissions(base, name, n)
        copies = {}
        for label in ("jobs1", "jobs2"):
            copies[label] = tmp / label
            shutil.copytree(base, copies[label])

        print("stock nbgrader autograde, sequential, SQLite ...")
        start = time.perf_counter()
        _nbgrader.nbgrader(base, "autograde", name, timeout=int(args.timeout * n))
        stock = time.perf_counter() - start
        print("local Dask, --jobs 1, SQLite ...")
        jobs1 = timed_batch(copies["jobs1"], name, 1, args.timeout)
        print("local Dask, --jobs 2, SQLite ...")
        jobs2 = timed_batch(copies["jobs2"], name, 2, args.timeout)
        one = remote_batch(tmp, name, n, ("127.0.0.2",), args.timeout)
        two = remote_batch(tmp, name, n, ("127.0.0.2", "127.0.0.3"), args.timeout)

        reference = _nbgrader.scores(base, name)
        compared = {
            "local --jobs 1": _nbgrader.scores(copies["jobs1"], name),
            "local --jobs 2": _nbgrader.scores(copies["jobs2"], name),
            "remote, 1 worker": one["scores"],
            "remote, 2 workers": two["scores"],
        }

    rows = [
        ("stock nbgrader, sequential, SQLite", stock),
        ("local Dask --jobs 1, SQLite", jobs1),
        ("local Dask --jobs 2, SQLite", jobs2),
        ("remote, 1 worker x 1 thread, PostgreSQL", one["wall"]),
        ("remote, 2 workers x 1 thread, PostgreSQL", two["wall"]),
    ]
    print()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load}; K = {n} submissions of {name}")
    print(f"{'configuration':42} {'wall s':>8} {'s/sub':>7} {'sub/min':>8} {'speed-up':>9}")
    for label, wall in rows:
        print(f"{label:42} {wall:8.1f} {wall / n:7.2f} {60 * n / wall:8.1f} {stock / wall:8.2f}x")
    print(f"speed-up 1 -> 2 remote workers: {one['wall'] / two['wall']:.2f}x (aim >= 1.8x)")
    for label, run in (("1 worker", one), ("2 workers", two)):
        print(
            f"database round trips per submission ({label}): {run['calls'] / n:.1f} statements "
            f"(pg_stat_statements, role grader, the batch's setup included), "
            f"{run['xact'] / n:.1f} commits (pg_stat_database.xact_commit)"
        )
    print("most frequent statements, 2 workers (calls, query):")
    for line in two["top"].splitlines():
        print(f"  {line}")
    differ = [label for label, got in compared.items() if got != reference]
    print(f"students graded: {len(reference)} of {n}")
    print(f"same scores: {not differ}" + (f" (differ: {', '.join(differ)})" if differ else ""))


if __name__ == "__main__":
    main()
