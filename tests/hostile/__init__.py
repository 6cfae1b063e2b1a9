"""Hostile submissions for the instructor CLI tests, and a released course to grade them in.

:func:`released_course` runs ``nbgrader generate_assignment`` once per test session (it takes
tens of seconds) and every test copies the result, gradebook included.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from tests import _nbgrader
from tests.hostile.corpus import ASSIGNMENT


@functools.cache
def _template() -> Path:
    tmp = Path(tempfile.mkdtemp(prefix="rnncourse-cli-"))
    atexit.register(shutil.rmtree, tmp, True)
    return _nbgrader.make_course(tmp, [ASSIGNMENT])


def released_course(dest: Path) -> Path:
    """A fresh copy, at ``dest``, of a course with ``ex02_hidden_state`` generated."""
    shutil.copytree(_template(), dest)
    return dest
