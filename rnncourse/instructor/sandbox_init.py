"""First program inside the grading sandbox: set limits, copy the submission in, exec the kernel.

Run by :func:`rnncourse.instructor.sandbox.sandbox_command` as
``python -m rnncourse.instructor.sandbox_init --memory-mb=... --copy-from=DIR -- CMD...``.
It lives in the read-only package, so a notebook cannot change it.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys

MB = 1024 * 1024


def _limit(kind: int, value: int) -> None:
    """Lower limit ``kind`` to ``value`` (never above a hard limit set outside the sandbox)."""
    if value <= 0:
        return
    _, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="sandbox_init")
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--processes", type=int, default=0)
    parser.add_argument("--file-size-mb", type=int, default=0)
    parser.add_argument("--cpu-seconds", type=int, default=0)
    parser.add_argument("--copy-from", default=None)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.copy_from and os.path.isdir(args.copy_from):
        # not the notebooks: nbgrader's copy has the hidden tests restored, and the kernel gets
        # its cells over the wire, so a learner's code never needs to read it
        skip = shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints")
        shutil.copytree(args.copy_from, os.getcwd(), symlinks=True, dirs_exist_ok=True, ignore=skip)
    _limit(resource.RLIMIT_AS, args.memory_mb * MB)
    _limit(resource.RLIMIT_NPROC, args.processes)
    _limit(resource.RLIMIT_FSIZE, args.file_size_mb * MB)
    _limit(resource.RLIMIT_CPU, args.cpu_seconds)
    # ipykernel exits when JPY_PARENT_PID names a process that is gone: here it never existed
    os.environ.pop("JPY_PARENT_PID", None)
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
