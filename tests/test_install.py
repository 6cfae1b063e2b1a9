"""A learner's install: the wheel with only the declared base dependencies.

The package is built into a wheel, installed (``--no-deps``) into a fresh virtualenv, and that
virtualenv is given exactly the distributions that ``[project] dependencies`` in pyproject.toml
declare, with their own requirements resolved recursively from this environment's metadata (the
installed files are linked, nothing is downloaded). There, ``import rnncourse``, every chapter
module and the grading package (which the learners' self-checks import) must import without the
``instructor`` extra, and the ``rnncourse`` script must name that extra instead of failing with a
traceback. A chapter module that imports an undeclared dependency (nbgrader, scipy, ...) fails
here.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def base_requirements() -> list[str]:
    """``[project] dependencies`` of pyproject.toml."""
    with open(ROOT / "pyproject.toml", "rb") as file:
        return list(tomllib.load(file)["project"]["dependencies"])


def resolve(requirements: list[str]) -> dict[str, md.Distribution]:
    """The installed distributions that ``requirements`` need, recursively (extras left out)."""
    found: dict[str, md.Distribution] = {}
    todo = [Requirement(text) for text in requirements]
    while todo:
        requirement = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        try:
            dist = md.distribution(requirement.name)
        except md.PackageNotFoundError:
            pytest.fail(f"{requirement.name!r} is required but not installed in {sys.prefix}")
        found[name] = dist
        todo.extend(Requirement(text) for text in dist.requires or [])
    return found


def top_level_entries(dist: md.Distribution) -> set[str]:
    """The names directly in site-packages that ``dist`` installed (packages, modules, .pth)."""
    if dist.files is None:
        pytest.fail(f"{dist.metadata['Name']} records no files (no RECORD), so cannot be linked")
    entries = set()
    for file in dist.files:
        parts = file.parts
        if not parts or parts[0] in ("..", "__pycache__"):
            continue
        entries.add(parts[0])
    return entries


@pytest.fixture(scope="module")
def learner_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with the wheel and only the base dependencies; its ``bin`` directory."""
    tmp = tmp_path_factory.mktemp("install")
    # build from a copy: setuptools writes build/ and *.egg-info next to the sources
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "rnncourse", source / "rnncourse", ignore=shutil.ignore_patterns("__pycache__")
    )
    wheels = tmp / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    run = {"check": True, "cwd": tmp, "env": clean_env()}
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", wheels, source],
        **run,
    )
    (wheel,) = wheels.glob("rnncourse-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], **run)
    python = venv / "bin" / "python"
    subprocess.run([*pip, "--python", python, "install", "--no-deps", "--no-index", wheel], **run)

    purelib = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    here = Path(sysconfig.get_path("purelib"))
    for name, dist in resolve(base_requirements()).items():
        if name == "rnncourse":
            continue
        for entry in top_level_entries(dist):
            source = Path(dist.locate_file(entry))
            if not source.exists() or source.parent != here:
                continue  # an editable install's finder, or a file outside site-packages
            link = purelib / entry
            if not link.exists():
                link.symlink_to(source)
    return venv / "bin"


def clean_env() -> dict[str, str]:
    """This process's environment without what would let the venv see the course's packages."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["MPLBACKEND"] = "Agg"
    return env


def run_in(learner_env: Path, cwd: Path, program: str, *args: str, timeout: int = 300):
    """Run ``program`` of the learner's venv (``python``, ``rnncourse``) with ``args``."""
    return subprocess.run(
        [learner_env / program, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=clean_env(),
        timeout=timeout,
    )


IMPORT_EVERYTHING = """
import importlib, json, sys
import rnncourse
imported, failed = [], {}
for name in MODULES:
    try:
        importlib.import_module(name)
    except Exception as error:
        failed[name] = f"{type(error).__name__}: {error}"
    else:
        imported.append(name)
import rnncourse.instructor  # importable without the extra: it loads nothing from it
extra = sorted(m for m in rnncourse.instructor.EXTRA_MODULES if m in sys.modules)
report = {"file": rnncourse.__file__, "imported": imported, "failed": failed, "extra": extra}
print(json.dumps(report))
"""


def test_base_install_imports_every_chapter_module(learner_env: Path, tmp_path: Path) -> None:
    """Do rnncourse, its chapter modules and the grading package import with the base deps only?"""
    package = (
        learner_env.parent / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    )
    package = package / "site-packages" / "rnncourse"
    modules = sorted(
        ".".join(("rnncourse", *path.relative_to(package).with_suffix("").parts)).removesuffix(
            ".__init__"
        )
        for path in package.rglob("*.py")
    )
    modules = [name for name in modules if not name.startswith("rnncourse.instructor.")]
    script = f"MODULES = {modules!r}\n{IMPORT_EVERYTHING}"
    result = run_in(learner_env, tmp_path, "python", "-c", script)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # the installed wheel was imported, not the source tree
    assert Path(report["file"]).is_relative_to(learner_env.parent), report["file"]
    failed = "\n".join(f"  {name}: {error}" for name, error in report["failed"].items())
    assert not failed, f"modules that do not import with the base dependencies only:\n{failed}"
    imported = set(report["imported"])
    chapters = {"rnn", "lstm", "gru", "bptt", "gradients", "topologies", "bidirectional", "ctc"}
    chapters |= {"speech", "seq2seq", "scan", "data", "training", "plotting", "lstm_fused"}
    assert {f"rnncourse.{name}" for name in chapters} <= imported
    assert {"rnncourse.grading", "rnncourse.grading.ex02_hidden_state"} <= imported
    assert report["extra"] == [], "modules of the instructor extra loaded by a learner's import"


def test_base_install_lacks_the_instructor_extra(learner_env: Path, tmp_path: Path) -> None:
    """Is the venv really without nbgrader (else the test above proves nothing)?"""
    result = run_in(learner_env, tmp_path, "python", "-c", "import nbgrader")
    assert result.returncode != 0
    assert "No module named 'nbgrader'" in result.stderr


def test_script_without_the_extra_names_it(learner_env: Path, tmp_path: Path) -> None:
    """Does ``rnncourse autograde`` exit 2 with one line naming the extra, no traceback?"""
    result = run_in(
        learner_env, tmp_path, "rnncourse", "autograde", "ex02_hidden_state", timeout=120
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "rnncourse[instructor]" in lines[0]
    assert result.stdout == ""
    # the module it names is one that really is missing here
    named = re.search(r"'(\w+)' is not installed", lines[0])
    assert named, lines[0]
    probe = run_in(learner_env, tmp_path, "python", "-c", f"import {named[1]}")
    assert probe.returncode != 0, f"{named[1]} is installed, yet the script says it is missing"


# ---------------------------------------------------------------------------------------------
# the environment's tools without `source .venv/bin/activate`
# ---------------------------------------------------------------------------------------------


def test_nbgrader_runs_without_activation(tmp_path: Path) -> None:
    """With this environment's bin/ off PATH (`.venv/bin/nbgrader ...` without activating it),
    does the first gradebook command work and leave a whole gradebook (nbgrader runs `alembic`
    from PATH to stamp its version; without it, a half-made gradebook.db stays behind)?"""
    import sqlite3

    bindir = Path(sys.executable).parent
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    path = os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p) != bindir
    )
    assert shutil.which("alembic", path=path) is None, "alembic is on PATH elsewhere: no test"
    env = dict(os.environ, PATH=path or "/usr/bin:/bin", PYTHONPATH=str(ROOT))
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(
        [str(bindir / "nbgrader"), "db", "assignment", "list"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "There are 0 assignments in the database" in done.stdout
    with sqlite3.connect(tmp_path / "gradebook.db") as db:
        (version,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert re.fullmatch(r"[0-9a-f]{12}", version)


# ---------------------------------------------------------------------------------------------
# JupyterLab: the learner's tools for learners, the instructor's with `make instructor-lab`
# ---------------------------------------------------------------------------------------------

INSTRUCTOR_SERVER = {
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.course_list",
    "nbgrader.server_extensions.assignment_list",
}
INSTRUCTOR_LAB = {
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
    "@jupyter/nbgrader:assignment-list",
}
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def jupyter_prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv that sees this environment's packages and starts from a copy of its Jupyter
    configuration, after `make jupyter-roles` (what `make setup` runs); the course's own
    environment is left alone. Returns its bin/."""
    venv = tmp_path_factory.mktemp("jupyter") / "venv"
    base = (
        Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    )
    subprocess.run([str(base), "-m", "venv", "--without-pip", str(venv)], check=True)
    code = "import sysconfig; print(sysconfig.get_path('purelib'))"
    purelib = subprocess.run([str(venv / "bin" / "python"), "-c", code], check=True,
                             capture_output=True, text=True).stdout.strip()  # fmt: skip
    Path(purelib, "course.pth").write_text(sysconfig.get_path("purelib") + "\n")
    here = Path(sys.prefix)
    for script in ("jupyter", "jupyter-server", "jupyter-labextension", "jupyter-lab"):
        text = (here / "bin" / script).read_text().split("\n", 1)[1]
        (venv / "bin" / script).write_text(f"#!{venv / 'bin' / 'python'}\n{text}")
        (venv / "bin" / script).chmod(0o755)
    shutil.copytree(here / "etc" / "jupyter", venv / "etc" / "jupyter")
    (venv / "share").mkdir()
    (venv / "share" / "jupyter").symlink_to(here / "share" / "jupyter")
    done = subprocess.run(["make", "-s", f"VENV={venv}", "jupyter-roles"], cwd=ROOT,
                          capture_output=True, text=True, env=_jupyter_env(venv))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return venv / "bin"


def _jupyter_env(venv: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "VIRTUAL_ENV"))}
    home = venv.parent / "home"
    env.update(JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), PATH=f"{venv / 'bin'}:/usr/bin:/bin",
               PYTHONPATH=str(ROOT), **extra)  # fmt: skip
    return env


def _jupyter(bindir: Path, cwd: Path, *args: str, **extra: str) -> str:
    env = _jupyter_env(bindir.parent, **extra)
    done = subprocess.run([str(bindir / "jupyter"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env=env)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return ANSI.sub("", done.stdout + done.stderr)


def _disabled_lab_plugins(listing: str) -> set[str]:
    """The plugins under "Disabled extensions:" of `jupyter labextension list`."""
    _, _, tail = listing.partition("Disabled extensions:")
    return {line.split()[0] for line in tail.splitlines() if line.startswith("    ")}


def _server_extensions(config: str) -> dict[str, bool]:
    """``jpserver_extensions`` of nbgrader from `jupyter server --show-config`."""
    found = re.findall(r"'(nbgrader\.server_extensions\.\w+)': (True|False)", config)
    return {name: value == "True" for name, value in found}


def _instructor_config_path(bindir: Path) -> str:
    """JUPYTER_CONFIG_PATH as `make instructor-lab` sets it."""
    dry = subprocess.run(["make", "-n", f"VENV={bindir.parent}", "instructor-lab"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    line = next(line for line in dry.splitlines() if line.endswith("bin/jupyter lab"))
    return re.search(r"JUPYTER_CONFIG_PATH=([^$\s]+)", line)[1]


def test_learner_lab_shows_learner_tools(jupyter_prefix: Path, tmp_path: Path) -> None:
    """In a learner's folder, are nbgrader's instructor and exchange extensions (server and lab)
    off, and Validate on?"""
    listing = _jupyter(jupyter_prefix, tmp_path, "labextension", "list")
    assert _disabled_lab_plugins(listing) >= INSTRUCTOR_LAB
    assert "@jupyter/nbgrader:validate-assignment" not in _disabled_lab_plugins(listing)
    listed = _jupyter(jupyter_prefix, tmp_path, "server", "extension", "list")
    states = dict(re.findall(r"^\s+(nbgrader\.server_extensions\.\w+) (enabled|disabled)$",
                             listed, re.MULTILINE))  # fmt: skip
    assert states == {**dict.fromkeys(INSTRUCTOR_SERVER, "disabled"),
                      "nbgrader.server_extensions.validate_assignment": "enabled"}  # fmt: skip
    server = _server_extensions(_jupyter(jupyter_prefix, tmp_path, "server", "--show-config"))
    assert server == {**dict.fromkeys(INSTRUCTOR_SERVER, False),
                      "nbgrader.server_extensions.validate_assignment": True}  # fmt: skip


def test_instructor_lab_shows_instructor_tools(jupyter_prefix: Path) -> None:
    """With `make instructor-lab`'s configuration, in the course root, are the formgrader,
    create-assignment and list extensions on, server and lab?"""
    path = _instructor_config_path(jupyter_prefix)
    assert Path(path) == ROOT / "tools" / "jupyter-instructor"
    listing = _jupyter(jupyter_prefix, ROOT, "labextension", "list", JUPYTER_CONFIG_PATH=path)
    assert not {p for p in _disabled_lab_plugins(listing) if p.startswith("@jupyter/nbgrader")}
    config = _jupyter(jupyter_prefix, ROOT, "server", "--show-config", JUPYTER_CONFIG_PATH=path)
    assert _server_extensions(config) == dict.fromkeys(
        [*INSTRUCTOR_SERVER, "nbgrader.server_extensions.validate_assignment"], True
    )


@pytest.mark.slow
def test_formgrader_first_load_without_activation(tmp_path: Path) -> None:
    """`.venv/bin/jupyter server` (no activated environment, its bin/ off PATH) in a course
    without a gradebook: does the formgrader's first request answer 200 and leave a whole
    gradebook.db?"""
    import secrets
    import socket
    import sqlite3
    import time
    import urllib.error
    import urllib.request

    bindir = Path(sys.executable).parent
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    config = tmp_path / "config"
    config.mkdir()
    formgrader = "nbgrader.server_extensions.formgrader"
    (config / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {formgrader: True}}})
    )
    path = os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p) != bindir
    )
    env = dict(os.environ, PATH=path or "/usr/bin:/bin", PYTHONPATH=str(ROOT),
               JUPYTER_CONFIG_DIR=str(config), JUPYTER_DATA_DIR=str(tmp_path / "data"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))  # fmt: skip
    env.pop("VIRTUAL_ENV", None)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = secrets.token_hex(16)
    command = [str(bindir / "jupyter"), "server", "--no-browser", "--allow-root",
               "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={course}"]  # fmt: skip
    log = tmp_path / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(command, cwd=course, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                # the students API opens (and so creates) the gradebook
                url = f"http://127.0.0.1:{port}/formgrader/api/students?token={token}"
                with urllib.request.urlopen(url, timeout=60) as page:
                    status = page.status
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert status == 200, log.read_text()
    assert (course / "gradebook.db").is_file(), log.read_text()
    with sqlite3.connect(course / "gradebook.db") as db:
        (version,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert re.fullmatch(r"[0-9a-f]{12}", version)
