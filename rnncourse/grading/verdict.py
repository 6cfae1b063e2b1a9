"""Verdicts: what a failed or passed check says, in the learner's kernel and in the grader.

A failed check raises an ``AssertionError`` built by :func:`fail`; its ``rnncourse_verdict``
attribute is the kind (:data:`VERDICT_KINDS`), and IPython shows it through the
``_render_traceback_`` hook as :func:`verdict_lines`, the same lines the trusted grader writes
into the test cell's outputs, so Validate, the test cell and the feedback say the same words.
"""

from __future__ import annotations

import sys
import textwrap
from typing import Any, NoReturn

__all__ = ["VERDICT_KINDS", "fail", "passed", "refusal", "verdict_lines"]

#: Why a check failed, beyond its message: the answer's values are ``"wrong"``; it
#: ``"raised"`` an exception of its own, is ``"not-implemented"``, was ``"refused"`` (a
#: from-scratch task whose code reaches what it may not), ``"timed-out"`` or ``"crashed"``
#: its kernel, or broke the task's ``"contract"``. The trusted grader records it on the test
#: cell (``metadata.rnncourse.verdict``), adding ``"not-defined"`` and ``"did-not-parse"`` (a
#: name the test reads is missing, and the cell that should have defined it does not parse);
#: ``rnncourse report`` and ``audit`` read the record.
VERDICT_KINDS = (
    "wrong",
    "raised",
    "not-implemented",
    "refused",
    "timed-out",
    "crashed",
    "contract",
)


def fail(
    message: str,
    cause: BaseException | None = None,
    kind: str = "wrong",
    *,
    task: str | None = None,
    mistakes: tuple[str, ...] = (),
) -> NoReturn:
    """Raise the verdict, an ``AssertionError`` whose ``rnncourse_verdict`` is ``kind``.

    Without ``cause`` the exception being handled is not shown (the learner sees the verdict,
    not the grader); with it, the learner's own error and frames, after the verdict. ``task``
    and ``mistakes`` (the ids of the recognised mistakes) are recorded with the kind."""
    __tracebackhide__ = True
    verdict = AssertionError(message)
    verdict.rnncourse_verdict = kind  # type: ignore[attr-defined]
    verdict.rnncourse_task = task  # type: ignore[attr-defined]
    verdict.rnncourse_mistakes = mistakes  # type: ignore[attr-defined]
    verdict._render_traceback_ = lambda: _render(verdict)  # type: ignore[attr-defined]
    raise verdict from cause


def refusal(name: str, problems: list[str]) -> str:
    """The verdict on a from-scratch task whose code reaches what it may not."""
    listed = "\n  ".join(problems[:5])
    return (
        f"{name} cannot be graded as written: this task asks you to write the computation "
        f"yourself, and the code {name} runs reaches something the grader cannot accept for "
        f"it:\n  {listed}\n  Write the steps with tensor operations; torch's recurrent layers, "
        "the course's reference and code that hides what it calls are fine for checking your "
        "work in another notebook, not here."
    )


def verdict_lines(ename: str, message: str, width: int = 80) -> list[str]:
    """A failed check as the learner reads it: ``ename: message``, wrapped at word boundaries.

    The in-notebook test cell and the trusted grader both show exactly this, so Validate and
    the feedback print the same words. Continuation lines keep the line's indent plus two
    spaces::

        >>> text = "f is wrong:\\n  Likely mistake: " + "ab " * 30
        >>> print(verdict_lines("AssertionError", text)[0])
        AssertionError: f is wrong:
          Likely mistake: ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab
            ab ab ab ab ab ab ab ab ab
    """
    lines: list[str] = []
    for line in f"{ename}: {message}".split("\n"):
        indent = line[: len(line) - len(line.lstrip())]
        lines += textwrap.wrap(
            line,
            width,
            subsequent_indent=indent + "  ",
            break_long_words=False,
            break_on_hyphens=False,
        ) or [""]
    return ["\n".join(lines)]


def _shell() -> Any:
    return sys.modules["IPython"].get_ipython() if "IPython" in sys.modules else None


#: The last pass line printed, with the execution count of the cell that printed it.
LAST_PASS: list[Any] = [None]


def passed(line: str) -> None:
    """Say that a check passed, once per cell (a test cell checks visible and hidden cases)."""
    key = (getattr(_shell(), "execution_count", None), line)
    if key != LAST_PASS[0]:
        LAST_PASS[0] = key
        print(line)  # noqa: T201 - the learner's one line


def _render(verdict: BaseException) -> list[str]:
    """How IPython shows a failed check (its ``_render_traceback_`` hook): the verdict first,
    in full, without the grader's frames; then the learner's own error, if one caused it."""
    lines = verdict_lines(type(verdict).__name__, str(verdict))
    cause, shell = verdict.__cause__, _shell()
    if cause is not None and shell is not None:
        lines += ["", "Where it happened in your code:"]
        lines += shell.InteractiveTB.structured_traceback(type(cause), cause, cause.__traceback__)
    return lines
