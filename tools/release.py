"""Regenerate the learner notebooks in exercises/ from the instructor versions in solutions/.

Runs the real ``nbgrader generate_assignment`` for every assignment (or the ones named on the
command line) in a temporary copy of the course, so the repository gets no gradebook, then
replaces ``exercises/<assignment>/`` with the release. Usage::

    .venv/bin/python tools/release.py                      # every assignment
    .venv/bin/python tools/release.py ex02_hidden_state    # just one

It refuses (exit status 1, nothing written) when a file in ``exercises/<assignment>/`` differs
from what git has committed, or is not in git, and the release would change or delete it: a
learner who worked in ``exercises/`` would lose that work. Learners work on a copy in ``work/``
(git-ignored, touched by no tool; see README.md). ``--force`` overwrites anyway.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NBGRADER = BIN / "nbgrader"


def nbgrader_env(**extra: str) -> dict[str, str]:
    """The environment for the nbgrader CLI: it runs ``alembic`` from PATH, so put ours first."""
    env = dict(os.environ, **extra)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def assignments(root: Path = ROOT) -> list[str]:
    """Assignment ids: folders of ``solutions/`` holding a notebook of the same name."""
    return sorted(
        p.name for p in (root / "solutions").iterdir() if (p / f"{p.name}.ipynb").is_file()
    )


def stage_course(dest: Path, names: list[str], root: Path = ROOT) -> Path:
    """Copy the nbgrader config and the named ``solutions/`` folders into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(root / "nbgrader_config.py", dest / "nbgrader_config.py")
    for name in names:
        shutil.copytree(root / "solutions" / name, dest / "solutions" / name, dirs_exist_ok=True)
    return dest


def generate(course: Path, name: str) -> Path:
    """Run ``nbgrader generate_assignment`` in ``course`` (``name`` may be ``"*"``)."""
    subprocess.run(
        [str(NBGRADER), "generate_assignment", name, "--force", "--log-level=WARN"],
        cwd=course,
        env=nbgrader_env(),
        check=True,
    )
    return course / "exercises" / name


class LocalChanges(RuntimeError):
    """Files in exercises/ that differ from git and that a release would overwrite."""


def uncommitted(folder: Path, root: Path = ROOT) -> list[Path]:
    """Files under ``folder`` that differ from git's HEAD or are untracked (ignored ones aside).

    Raises :class:`LocalChanges` when git cannot tell (no git, or not a checkout).
    """
    try:
        done = subprocess.run(
            ["git", "status", "--porcelain", "-z", "--untracked-files=all", "--", str(folder)],
            cwd=root, capture_output=True, text=True, check=True,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as error:
        raise LocalChanges(
            f"cannot tell whether {folder} holds local changes (git status failed: "
            f"{getattr(error, 'stderr', '') or error}); rerun with --force to overwrite it"
        ) from None
    # -z: "XY path\0" relative to the repository's top level; a rename or copy adds "from\0"
    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=root, capture_output=True,
                         text=True, check=True).stdout.strip()  # fmt: skip
    entries, paths = iter(done.stdout.split("\0")), []
    for entry in entries:
        if entry:
            paths.append(Path(top) / entry[3:])
            if "R" in entry[:2] or "C" in entry[:2]:
                next(entries, None)
    return sorted(paths)


def at_risk(released: Path, dest: Path, root: Path = ROOT) -> list[Path]:
    """Files of ``dest`` with local changes that replacing it by ``released`` would lose."""
    lost = []
    for path in uncommitted(dest, root):
        new = released / path.relative_to(dest.resolve())
        if path.is_file() and not (new.is_file() and new.read_bytes() == path.read_bytes()):
            lost.append(path)
    return lost


def release(
    names: list[str], dest: Path = ROOT / "exercises", root: Path = ROOT, force: bool = False
) -> None:
    """Generate every named assignment and copy the releases into ``dest``.

    Raises:
        LocalChanges: unless ``force``, when a file in ``dest/<name>`` has changes that git has
            not committed and the release would overwrite or delete it; nothing is written then.
    """
    with tempfile.TemporaryDirectory() as tmp:
        course = stage_course(Path(tmp), names, root)
        generate(course, "*")  # one nbgrader run for every staged assignment
        if not force:
            lost = []
            for name in names:
                if (dest / name).exists():
                    lost += at_risk(course / "exercises" / name, (dest / name).resolve(), root)
            if lost:
                files = "\n".join(f"  {p.relative_to(root.resolve())}" for p in lost)
                raise LocalChanges(
                    f"not released: these files have changes that git has not committed, and "
                    f"the release would overwrite them:\n{files}\nIf they are a learner's work, "
                    "copy it to work/ first (mkdir -p work && cp -r exercises/NAME work/), where "
                    "no tool writes; then, or if they are an earlier release that you mean to "
                    "replace, rerun with --force."
                )
        for name in names:
            shutil.rmtree(dest / name, ignore_errors=True)
            shutil.copytree(course / "exercises" / name, dest / name)
            print(f"released {name} -> {dest / name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="assignment ids (default: all)")
    parser.add_argument(
        "--force", action="store_true", help="overwrite exercises/ even where git shows changes"
    )
    args = parser.parse_args(argv)
    try:
        release(args.names or assignments(), force=args.force)
    except LocalChanges as error:
        print(f"release.py: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
