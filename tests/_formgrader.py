"""nbgrader's formgrader in a real ``jupyter server``, started for a test and stopped after."""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import _nbgrader

FORMGRADER = "nbgrader.server_extensions.formgrader"
JUPYTER = _nbgrader.release.BIN / "jupyter"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    token: str
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def request(self, path: str, method: str = "GET", body: Any = None) -> tuple[int, bytes]:
        """An authenticated request (the token in the header); ``(status, body)``."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}{path}", data=data, method=method,
            headers={"Authorization": f"token {self.token}"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


@contextlib.contextmanager
def formgrader(course: Path, home: Path) -> Iterator[Server]:
    """``jupyter server`` rooted at ``course`` with the formgrader enabled; ``home`` holds its
    configuration, runtime files and log."""
    (home / "config").mkdir()
    # A config folder of its own (~/.jupyter stays out) that enables the formgrader whatever
    # the venv's config says (nbgrader's install enables it there, with its other extensions).
    (home / "config" / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {FORMGRADER: True}}})
    )
    port, token = _free_port(), secrets.token_hex(16)
    env = _nbgrader.release.nbgrader_env(
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTER_DATA_DIR=str(home / "data"),
    )
    log = home / "server.log"
    command = [str(JUPYTER), "server", "--no-browser", "--allow-root", "--ip=127.0.0.1",
               f"--port={port}", "--port-retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={course}"]  # fmt: skip
    with log.open("w") as out:
        proc = subprocess.Popen(command, cwd=course, env=env, stdout=out, stderr=subprocess.STDOUT)
    srv = Server(f"http://127.0.0.1:{port}", token, log)
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter server exited with {proc.returncode}:\n{srv.tail()}")
            try:
                with urllib.request.urlopen(f"{srv.url}/api/status?token={token}", timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter server did not answer in 180 s:\n{srv.tail()}")
                time.sleep(0.5)
        yield srv
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
