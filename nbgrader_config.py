"""nbgrader configuration for the course (the repository root is the course directory).

Instructor versions live in ``solutions/<assignment>/``; ``nbgrader generate_assignment``
writes the learner versions to ``exercises/<assignment>/`` (committed). See README.md.
"""

import os
import sys

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

# nbgrader's Gradebook runs `alembic` from PATH when it creates gradebook.db; without the
# environment activated (`.venv/bin/jupyter lab`, `.venv/bin/nbgrader ...`) that fails half-way
# and leaves a gradebook without its alembic version. Every nbgrader app and the formgrader load
# this file before they open the gradebook, so this interpreter's bin/ goes first on PATH here.
_bin = os.path.dirname(sys.executable)
if os.environ.get("PATH", "").split(os.pathsep)[0] != _bin:
    os.environ["PATH"] = os.pathsep.join([_bin, os.environ.get("PATH", "")])

c.CourseDirectory.course_id = "rnncourse"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"

# Per-cell execution limit (seconds) for autograde and validate. A learner's infinite loop is
# interrupted after this long, that cell records an error and scores 0, and grading goes on.
# One run can change it on the command line, as any setting here: `nbgrader autograde ex02
# --Execute.timeout=120` (`rnncourse autograde --cell-timeout 120` passes exactly that).
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True
# Kernel start-up and the last outputs of a cell can lag on a busy 2-core machine; nbgrader
# treats a late output as an error, so be generous (these are not the learner's time limit).
c.Execute.startup_timeout = 120
c.Execute.iopub_timeout = 30

# Grading sandbox: every kernel that autogrades a submission runs under bubblewrap (no network, no
# files but the submission's own copy, limits; see rnncourse/instructor/sandbox.py). nbgrader's
# Execute preprocessor is replaced by a subclass whose kernel manager starts the kernel in the
# sandbox; `nbgrader validate` keeps the ordinary kernel, so learners need no sandbox. Grading
# refuses when the sandbox cannot start; --SandboxedExecute.sandbox=False (`rnncourse autograde
# --no-sandbox`) grades unsandboxed, knowingly, and the notebook records it.
from nbgrader.converters import Autograde  # noqa: E402
from nbgrader.preprocessors import Execute  # noqa: E402

# Trusted checks: TrustedExecute (a SandboxedExecute) runs the learner's cells in the sandboxed
# kernel and every graded test cell in nbgrader's own process, calling the learner's functions
# over a data-only channel (rnncourse/instructor/trusted.py), so nothing in the notebook can
# change a score except what its functions return. It is the only way a score is made. It is
# named, not imported: nbconvert imports it when `nbgrader autograde` builds its preprocessors,
# so the commands that grade nothing (generate_assignment, validate, feedback, the formgrader,
# `rnncourse report`) do not load the checks and torch with this file.
TRUSTED_EXECUTE = "rnncourse.instructor.trusted.TrustedExecute"
c.Autograde.autograde_preprocessors = [
    TRUSTED_EXECUTE if pp is Execute else pp for pp in Autograde.autograde_preprocessors.default()
]
# Limits of each sandboxed kernel (per process), the same whichever command grades; raise them
# for heavier assignments (`rnncourse autograde --memory-mb` sets memory_mb for one run).
c.SandboxedKernelManager.memory_mb = 6144
c.SandboxedKernelManager.processes = 512
c.SandboxedKernelManager.file_size_mb = 256
c.SandboxedKernelManager.cpu_seconds = 3600
c.SandboxedKernelManager.disk_mb = 512

# What a blank answer looks like in the released notebooks.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Each feedback page opens with a per-task table (points, passed or failed, the diagnosis) and
# loads nothing from outside (rnncourse/instructor/feedback.py and its template). The template
# is FeedbackExporter's, for feedback only: HTMLExporter is left alone, because the formgrader
# renders its grading pages with HTMLExporter and its own template ("formgrade"), which a
# c.HTMLExporter.template_name here would replace (every grading page then fails). Another
# feedback template would go in c.FeedbackExporter.template_name, not c.HTMLExporter's.
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import ClearHiddenTests, GetGrades  # noqa: E402

from rnncourse.instructor.feedback import (  # noqa: E402
    FeedbackExporter,
    FeedbackSummary,
    HideTestCode,
)

c.GenerateFeedback.exporter_class = FeedbackExporter
c.GenerateFeedback.preprocessors = [
    GetGrades,
    ClearHiddenTests,
    HideTestCode,
    FeedbackSummary,
    CSSHTMLHeaderPreprocessor,
]

# `nbgrader validate` on the command line prints every line whole (nbgrader cuts them at 90
# columns, which loses the "Likely mistake" hint) and exits 1 when a test fails (nbgrader #1908):
# rnncourse/instructor/validator.py.
from rnncourse.instructor import validator  # noqa: E402

validator.install()
