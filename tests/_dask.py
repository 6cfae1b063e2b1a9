"""A real Dask scheduler and two workers for the tests and the benchmark, as an instructor
starts them: ``dask scheduler`` and ``dask worker --no-nanny`` processes on loopback addresses,
each worker in its own checkout of the course with its own scratch folder (``TMPDIR``), in a
mount namespace where the instructor's folder (``hidden``) is an empty tmpfs."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Cluster:
    """A Dask scheduler and two workers, as an instructor would start them."""

    def __init__(
        self,
        root: Path,
        hidden: Path,
        checkout: Path,
        env: dict[str, str],
        hosts: tuple[str, ...] = ("127.0.0.2", "127.0.0.3"),
        nthreads: int = 1,
    ) -> None:
        self.nthreads = nthreads
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.root, self.hidden, self.checkout, self.env = root, hidden, checkout, env
        self.scheduler = subprocess.Popen(
            [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
             "--no-dashboard"],
            env=env, stdout=subprocess.DEVNULL, stderr=open(root / "scheduler.log", "w"),
        )  # fmt: skip
        self.workers: dict[str, subprocess.Popen] = {}
        self.scratch: dict[str, Path] = {}
        for i, host in enumerate(hosts, 1):
            self.start_worker(f"w{i}", host)
        self.wait_for(len(hosts))

    def start_worker(self, name: str, host: str) -> None:
        checkout = self.root / f"checkout-{name}"
        if not checkout.exists():
            shutil.copytree(self.checkout, checkout)
        scratch = self.root / f"scratch-{name}"
        scratch.mkdir(exist_ok=True)
        env = dict(self.env, TMPDIR=str(scratch))
        worker = [str(BIN / "dask"), "worker", self.address, "--host", host, "--name", name,
                  "--no-nanny", "--nthreads", str(self.nthreads), "--no-dashboard",
                  "--local-directory", str(scratch / "dask")]  # fmt: skip
        # the instructor's folder is an empty tmpfs in the worker's mount namespace
        hide = 'mount -t tmpfs -o size=1m,mode=0755 none "$0" && exec "$@"'
        self.workers[name] = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", hide,
             str(self.hidden), *worker],
            cwd=checkout, env=env, stdout=subprocess.DEVNULL,
            stderr=open(self.root / f"{name}.log", "a"),
        )  # fmt: skip
        self.scratch[name] = scratch

    def worker_ports(self) -> list[tuple[str, int]]:
        from distributed import Client

        with Client(self.address, timeout="60s") as client:
            addresses = sorted(client.scheduler_info()["workers"])
        return [(a.split("://")[1].rsplit(":", 1)[0], int(a.rsplit(":", 1)[1])) for a in addresses]

    def wait_for(self, n: int) -> None:
        from distributed import Client

        with Client(self.address, timeout="60s") as client:
            client.wait_for_workers(n, timeout=120)

    def stop(self) -> None:
        for proc in [*self.workers.values(), self.scheduler]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers.values(), self.scheduler]:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
