"""Conceptual questions answered with one number: :class:`Answer` and :func:`check_answer`.

A question such as "how many parameters has ``torch.nn.GRU(64, 128)``?" is a name the learner
binds to a number they work out by hand (``encoder_params = 3 * (...)``). The grader computes
the right number itself, independently of the learner (counting the parameters of the
``torch.nn`` module, taking eigenvalues with ``torch.linalg``), accepts the learner's number
within the stated tolerance and, when it is wrong, names the mistake whose number it is (biases
forgotten, four gates instead of three, ``e`` for ``2``). Messages never show the right number,
only the learner's and the tolerance. A name still ``None`` (the released answer cell starts
``name = None``) is "not implemented yet".

In trusted grading (:mod:`rnncourse.instructor.trusted`) the test cell reads the name from the
learner's kernel over the data channel, so only the number crosses; a function or an object
bound to it arrives as a proxy and fails as "expected a number".

Registering one, in the assignment's spec module::

    register_answer(Answer(
        "rho",                                          # the name the learner binds
        lambda: float(torch.linalg.eigvals(W).abs().max()),  # the right value, computed here
        atol=0.005,                                     # accepted within +-0.005
        mistakes=(Mistake("largest-entry", "hint", lambda: 0.8),),  # the wrong numbers
    ))

and in the notebook's graded cell: ``grading.check_answer("rho", rho)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rnncourse.grading.specs import Mistake
from rnncourse.grading.verdict import fail, passed

__all__ = ["Answer", "answer", "answer_names", "check_answer", "register_answer"]


@dataclass(frozen=True)
class Answer:
    """A conceptual question whose answer is one number.

    Args:
        name: the name the learner binds in the notebook (``"encoder_params"``).
        expected: ``() -> float``, the right value, computed independently of the learner.
        atol, rtol: the learner's number is accepted when
            ``|answer - expected| <= atol + rtol * |expected|``; the task's text states it.
        integer: the answer is a count: a number with a fractional part is refused.
        mistakes: recognisable wrong answers; each ``variant`` takes no arguments and returns
            the mistaken number. A hint is given only when the learner's number matches one
            mistake alone (within the same tolerance); several matches give "one of: ...".
    """

    name: str
    expected: Callable[[], float]
    atol: float = 0.0
    rtol: float = 0.0
    integer: bool = False
    mistakes: tuple[Mistake, ...] = ()


_ANSWERS: dict[str, Answer] = {}


def register_answer(a: Answer) -> None:
    _ANSWERS[a.name] = a


def answer(name: str) -> Answer:
    """The registered :class:`Answer` called ``name``."""
    if name not in _ANSWERS:
        raise KeyError(f"no conceptual question called {name!r}; known: {sorted(_ANSWERS)}")
    return _ANSWERS[name]


def answer_names() -> list[str]:
    """Names of every registered conceptual question."""
    return sorted(_ANSWERS)


def _number(value: Any) -> float | str:
    """The learner's value as a float, or a description of why it is not a number."""
    if value is None:
        return "None"
    if isinstance(value, bool | np.bool_):
        return "a bool"
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, np.generic) and value.dtype.kind in "iuf":
        return float(value)
    if isinstance(value, torch.Tensor | np.ndarray) and type(value) in (torch.Tensor, np.ndarray):
        if value.dtype in (torch.bool, np.bool_) or tuple(value.shape) not in ((), (1,)):
            return f"an array of shape {tuple(value.shape)}"
        if isinstance(value, torch.Tensor):
            if value.is_complex():
                return "a complex tensor"
            return float(value.detach().cpu().reshape(()).item())
        if value.dtype.kind not in "iuf":
            return f"an array of dtype {value.dtype}"
        return float(value.reshape(()).item())
    kind = getattr(value, "type_name", None) or type(value).__name__  # a Remote names its type
    return f"an object of type {kind}"


def _close(a: float, b: float, atol: float, rtol: float) -> bool:
    return abs(a - b) <= atol + rtol * abs(b)


def _tolerance(a: Answer) -> str:
    if a.integer and a.atol < 1 and a.rtol == 0:
        return "it must be exact"
    if a.rtol == 0:
        return f"it is accepted within ±{a.atol:g}"
    if a.atol == 0:
        return f"it is accepted within {a.rtol * 100:g} %"
    return f"it is accepted within ±{a.atol:g} + {a.rtol * 100:g} %"


def check_answer(name: str, value: Any) -> None:
    """Check the learner's number ``value`` for the conceptual question ``name``.

    Raises:
        AssertionError: "not implemented yet" for ``None``; "expected a number" for anything
            that is not one real number (an int, a float, a NumPy scalar, a one-element array
            or tensor); otherwise says that the number is wrong, with the tolerance and, when
            the number singles one out, the likely mistake. The right number is never shown.

    Examples::

        >>> check_answer("ppl_from_bpc", 2**1.9)
        ppl_from_bpc passes: 3.73213 is right.
    """
    __tracebackhide__ = True
    a = answer(name)
    got = _number(value)
    if got == "None":
        fail(f"{name} is not implemented yet (it is None): set it to your number.",
              kind="not-implemented")  # fmt: skip
    if not isinstance(got, float):
        fail(f"{name}: expected a number, got {got}.")
    if not math.isfinite(got):
        fail(f"{name}: expected a finite number, got {got}.")
    if a.integer and got != int(got):
        fail(f"{name} is a count, a whole number; got {got:g}.")
    expected = float(a.expected())
    if _close(got, expected, a.atol, a.rtol):
        passed(f"{name} passes: {got:g} is right.")
        return
    hints = []
    for mistake in a.mistakes:
        if mistake.hint not in hints and _close(got, float(mistake.variant()), a.atol, a.rtol):
            hints.append(mistake.hint)
    message = f"{name} = {got:g} is not right ({_tolerance(a)})."
    if len(hints) == 1:
        message += f"\n  Likely mistake: {hints[0]}"
    elif hints:
        listed = " | ".join(f"({i + 1}) {hint}" for i, hint in enumerate(hints))
        message += f"\n  Likely mistake: one of: {listed}"  # as check words it
    fail(message)
