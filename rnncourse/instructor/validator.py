"""``nbgrader validate`` for the course: every line whole, and exit status 1 when a test fails.

nbgrader's :class:`~nbgrader.validator.Validator` cuts every line of a failing cell's source and
error at ``Validator.width`` (90 columns), which loses the end of the grader's messages (the
"Likely mistake" hint), and ``nbgrader validate`` exits 0 whatever it found (nbgrader issue
#1908), so neither a learner's script nor a CI job can tell a failing notebook from a passing one.

:class:`CourseValidator` keeps nbgrader's output and layout (the ``=`` rules and the summary are
still ``width`` wide) with the lines whole, and makes the ``nbgrader validate`` run exit 1 after
its last notebook when any notebook failed a test (or, with ``--invert``, passed one), or had a
changed test cell or cell type. ``nbgrader_config.py`` installs it with :func:`install`:
``ValidateApp.start`` builds its validator by the module-level name ``Validator``, which is the
one place nbgrader lets a course change it. JupyterLab's *Validate* button uses nbgrader's own
class (it reads the results, not the printed lines) and is unaffected.

Examples::

    $ nbgrader validate exercises/ex02_hidden_state/ex02_hidden_state.ipynb; echo $?
    ...
    VALIDATION FAILED ON 2 CELL(S)! ...
    1
"""

from __future__ import annotations

import glob

from nbconvert.filters import strip_ansi
from nbgrader.validator import Validator

__all__ = ["CourseValidator", "install"]


class CourseValidator(Validator):
    """nbgrader's Validator with whole lines and a failing exit status (see the module)."""

    def _indent(self, val: str) -> str:
        # nbgrader's version also cuts each line at width - 3 with "..."
        return "\n".join(self.indent + strip_ansi(line) for line in val.split("\n"))

    def validate_and_print(self, filename: str) -> None:
        super().validate_and_print(filename)
        self._validated = getattr(self, "_validated", 0) + 1
        # the app validates the notebooks its arguments expand to, in one loop; after the last
        # one, the run's exit status says whether any failed
        app = self.parent
        args = getattr(app, "extra_args", None)
        if args is None or not self._failures:
            return
        if self._validated >= sum(len(glob.glob(arg)) for arg in args):
            app.exit(1)

    def validate(self, filename: str) -> dict:
        results = super().validate(filename)
        bad = ["type_changed", "passed" if self.invert else "failed"]
        if not self.ignore_checksums:
            bad.append("changed")
        self._failures = getattr(self, "_failures", 0) + sum(len(results.get(k, [])) for k in bad)
        return results


def install() -> None:
    """Make ``nbgrader validate`` use :class:`CourseValidator` (called by nbgrader_config.py)."""
    from nbgrader.apps import validateapp

    validateapp.Validator = CourseValidator
