"""Regenerate the learner notebooks in exercises/ from the instructor versions in solutions/.

Runs the real ``nbgrader generate_assignment`` for every assignment (or the ones named on the
command line) in a temporary copy of the course, so the repository gets no gradebook, then
replaces ``exercises/<assignment>/`` with the release. Usage::

    .venv/bin/python tools/release.py                      # every assignment
    .venv/bin/python tools/release.py ex02_hidden_state    # just one
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


def release(names: list[str], dest: Path = ROOT / "exercises") -> None:
    """Generate every named assignment and copy the releases into ``dest``."""
    with tempfile.TemporaryDirectory() as tmp:
        course = stage_course(Path(tmp), names)
        generate(course, "*")  # one nbgrader run for every staged assignment
        for name in names:
            shutil.rmtree(dest / name, ignore_errors=True)
            shutil.copytree(course / "exercises" / name, dest / name)
            print(f"released {name} -> {(dest / name).relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="assignment ids (default: all)")
    args = parser.parse_args(argv)
    release(args.names or assignments())


if __name__ == "__main__":
    main()
