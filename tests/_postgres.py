"""A real PostgreSQL server for the tests, started and stopped by them.

``initdb`` and ``pg_ctl`` refuse to run as root, so they run as the ``postgres`` account (Debian's
package creates it; ``.ci/run`` installs the package). The server listens on 127.0.0.1 at a free
port, with SCRAM password authentication only; the password is in a ``PGPASSFILE`` (mode 600),
never in a URL, as the instructor guide asks of a course.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Server", "available", "server"]

ROLE, DATABASE = "grader", "rnncourse"


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def available() -> str | None:
    """``None`` when a server can be started here, else why not."""
    if _bindir() is None:
        return "PostgreSQL is not installed (apt-get install postgresql; .ci/run does)"
    if os.geteuid() != 0:
        return "starting PostgreSQL as the postgres account needs root"
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        return "there is no postgres account"
    return None


@dataclass(frozen=True)
class Server:
    """A running server: ``url`` (SQLAlchemy, no password), ``passfile``, ``port``."""

    url: str
    passfile: Path
    port: int
    datadir: Path

    def psql(self, sql: str) -> str:
        """Run ``sql`` as the superuser over the server's socket; its output, tab-separated."""
        return _as_postgres(
            [str(_bindir() / "psql"), "-h", str(self.datadir.parent), "-p", str(self.port),
             "-U", "postgres", "-d", DATABASE, "-At", "-F", "\t", "-c", sql]
        )  # fmt: skip


def _as_postgres(args: list[str]) -> str:
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", *args],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server(*, statements: bool = False) -> Iterator[Server]:
    """Start a fresh server with role ``grader`` owning database ``rnncourse``; stop it after.

    ``statements``: load ``pg_stat_statements`` (the benchmark counts round trips with it).
    """
    bindir = _bindir()
    assert bindir is not None, available()
    root = Path(tempfile.mkdtemp(prefix="rnncourse-pg-"))
    os.chmod(root, 0o755)
    shutil.chown(root, "postgres", "postgres")
    datadir, port = root / "data", _free_port()
    password = secrets.token_hex(16)
    pwfile = root / "superuser"
    pwfile.write_text(secrets.token_hex(16))
    shutil.chown(pwfile, "postgres", "postgres")
    _as_postgres([str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres",
                  "--auth=scram-sha-256", "--auth-local=peer", f"--pwfile={pwfile}",
                  "--no-sync"])  # fmt: skip
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
    if statements:
        options += " -c shared_preload_libraries=pg_stat_statements"
    _as_postgres([str(bindir / "pg_ctl"), "-D", str(datadir), "-o", options,
                  "-l", str(root / "log"), "-w", "-t", "60", "start"])  # fmt: skip
    passfile = Path(tempfile.mkdtemp(prefix="rnncourse-pgpass-")) / "pgpass"
    passfile.write_text(f"127.0.0.1:{port}:*:{ROLE}:{password}\n")
    passfile.chmod(0o600)
    result = Server(
        f"postgresql+psycopg://{ROLE}@127.0.0.1:{port}/{DATABASE}", passfile, port, datadir
    )
    try:
        sql = [
            f"CREATE ROLE {ROLE} LOGIN PASSWORD '{password}'",
            f"CREATE DATABASE {DATABASE} OWNER {ROLE}",
        ]
        for statement in sql:
            _as_postgres([str(bindir / "psql"), "-h", str(root), "-p", str(port), "-U",
                          "postgres", "-d", "postgres", "-c", statement])  # fmt: skip
        if statements:
            result.psql("CREATE EXTENSION pg_stat_statements")
        yield result
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "immediate",
                          "-w", "stop"])  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(passfile.parent, ignore_errors=True)
