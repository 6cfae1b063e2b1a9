"""Autograding for the exercises: a learner's function against the reference, with a diagnosis.

Every graded test cell in ``solutions/exNN_*/exNN_*.ipynb`` calls :func:`check` (or
:func:`check_trained`, :func:`check_answer`) with a registered name and the learner's answer.
In the learner's kernel (their self-check, ``nbgrader validate``) the check runs there and grades
nothing; under ``nbgrader autograde`` the test cell runs in the trusted grader
(:mod:`rnncourse.instructor.trusted`) and the learner's functions in the sandboxed kernel, and
that verdict is the score. Both say the same words.

The package, one concept per module:

- :mod:`~rnncourse.grading.specs`: :class:`Spec`, :class:`Mistake`, the registry, the inputs;
- :mod:`~rnncourse.grading.checks`: :func:`check`, the diagnosis, the one call path
  (:func:`~rnncourse.grading.checks.invoke`);
- :mod:`~rnncourse.grading.trained`: :class:`Benchmark`, :func:`check_trained`;
- :mod:`~rnncourse.grading.answers`: numbers worked out by hand, :func:`check_answer`;
- :mod:`~rnncourse.grading.compare`: the comparison of outputs and its messages;
- :mod:`~rnncourse.grading.verdict`: what a failed or passed check says;
- :mod:`~rnncourse.grading.static`: what a from-scratch answer may reach, read from its source;
- :mod:`~rnncourse.grading.channel`, :mod:`~rnncourse.grading.remote`,
  :mod:`~rnncourse.grading.worker`: the data-only link between grader and kernel;
- one module per assignment (``ex02_hidden_state``, ..., ``ex10_applications``, named after its
  folder in ``solutions/``) registers its specs, with their inputs, exercise-only references and
  mistaken variants; ``_cells`` holds what several share.

How to add an assignment is in ``CONTRIBUTING.md``.
"""

from __future__ import annotations

# The assignments' modules register their specs when imported.
from rnncourse.grading import (
    ex02_hidden_state,
    ex03_unrolling,
    ex04_bptt,
    ex05_gradients,
    ex06_topologies,
    ex07_lstm_gru,
    ex08_bidirectional,
    ex08b_speech,
    ex09_seq2seq,
    ex10_applications,
)
from rnncourse.grading.answers import Answer, check_answer
from rnncourse.grading.checks import _check, check, check_mistake
from rnncourse.grading.specs import (
    LIBRARY_CELLS,
    LIBRARY_LAYERS,
    Mistake,
    Spec,
    devices,
    spec,
    spec_names,
)
from rnncourse.grading.trained import Benchmark, benchmark_score, check_trained
from rnncourse.grading.verdict import VERDICT_KINDS, verdict_lines

#: The assignments, by their folder in ``solutions/``: the modules imported above.
ASSIGNMENTS = tuple(sorted(name for name in dir() if name.startswith("ex")))

__all__ = [
    "ASSIGNMENTS",
    "LIBRARY_CELLS",
    "LIBRARY_LAYERS",
    "VERDICT_KINDS",
    "Answer",
    "Benchmark",
    "Mistake",
    "Spec",
    "_check",
    "benchmark_score",
    "check",
    "check_answer",
    "check_mistake",
    "check_trained",
    "devices",
    "spec",
    "spec_names",
    "verdict_lines",
]
