"""How the last ``rnncourse autograde`` run of each submission ended, kept in the gradebook's own
database: graded, failed or timed out, the seconds, the reason, the worker, whether sandboxed.

On PostgreSQL the table is ``rnncourse.autograde_status`` (a schema of its own, beside nbgrader's
tables in ``public``); in a SQLite gradebook, which has no schemas, it is the table
``rnncourse_autograde_status`` of ``gradebook.db``. So the status and the grades are one database:
a regrade's ``--apply`` moves both, and every machine of a cluster sees the same. The file
``autograde_status.json`` in the course folder is an export of the table, rewritten after each
write, for people and scripts that read files.

Examples::

    >>> from rnncourse.instructor import status  # doctest: +SKIP
    >>> status.write(url, "ex02_hidden_state", "alice", {"status": "graded", "seconds": 3.2})
    >>> status.read(url, "ex02_hidden_state")["alice"]["status"]  # doctest: +SKIP
    'graded'
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["FIELDS", "read", "read_all", "write"]

#: The columns of a record besides assignment and student, in order.
FIELDS = ("status", "seconds", "reason", "returncode", "sandboxed", "worker", "finished")


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _table(url: str) -> tuple[Any, Any]:
    """An engine for the gradebook at ``url`` and its status table, created if missing.

    No connection is pooled (``NullPool``): a regrade's ``--apply`` replaces ``gradebook.db``,
    and a pooled SQLite connection would go on reading the old file.
    """
    from sqlalchemy import (
        Boolean,
        Column,
        Float,
        Integer,
        MetaData,
        String,
        Table,
        Text,
        create_engine,
        text,
    )
    from sqlalchemy.pool import NullPool

    sqlite = _is_sqlite(url)
    engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": 60} if sqlite else {})
    table = Table(
        "rnncourse_autograde_status" if sqlite else "autograde_status",
        MetaData(),
        Column("assignment", String(128), primary_key=True),
        Column("student", String(128), primary_key=True),
        Column("status", String(16), nullable=False),
        Column("seconds", Float, nullable=False, default=0.0),
        Column("reason", Text, nullable=False, default=""),
        Column("returncode", Integer),
        Column("sandboxed", Boolean, nullable=False, default=True),
        Column("worker", String(256), nullable=False, default=""),
        Column("finished", String(32), nullable=False),
        schema=None if sqlite else "rnncourse",
    )
    with _writing(url), engine.begin() as connection:
        if not sqlite:
            connection.execute(text("CREATE SCHEMA IF NOT EXISTS rnncourse"))
        table.create(connection, checkfirst=True)
    return engine, table


@contextlib.contextmanager
def _writing(url: str) -> Iterator[None]:
    """SQLite: hold the gradebook's file lock, as nbgrader's sessions do during a batch (one
    writer per file); a database server takes concurrent writers."""
    if not _is_sqlite(url):
        yield
        return
    from filelock import FileLock
    from sqlalchemy.engine import make_url

    with FileLock(f"{make_url(url).database}.lock", thread_local=False):
        yield


def write(url: str, assignment: str, student: str, record: dict[str, Any]) -> dict[str, Any]:
    """Record how the last run of ``student``'s ``assignment`` ended (replacing the previous
    record in one transaction). Returns the record as stored, with ``finished`` stamped."""
    engine, table = _table(url)
    row = {field: record.get(field) for field in FIELDS if field in record}
    row["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    with _writing(url), engine.begin() as connection:
        connection.execute(
            table.delete().where(table.c.assignment == assignment, table.c.student == student)
        )
        connection.execute(table.insert().values(assignment=assignment, student=student, **row))
    engine.dispose()
    return row


def read(url: str, assignment: str) -> dict[str, dict[str, Any]]:
    """``student -> record`` of ``assignment``."""
    return read_all(url).get(assignment, {})


def read_all(url: str) -> dict[str, dict[str, dict[str, Any]]]:
    """``assignment -> student -> record`` of every submission ever autograded."""
    engine, table = _table(url)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    with engine.connect() as connection:
        for row in connection.execute(table.select()).mappings():
            out.setdefault(row["assignment"], {})[row["student"]] = {
                field: row[field] for field in FIELDS
            }
    engine.dispose()
    return out
