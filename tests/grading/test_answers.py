"""Conceptual questions answered with one number (:mod:`rnncourse.grading.answers`), on toy
questions registered here: what counts as a number, the tolerance and its wording, the hints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnncourse.grading import answers, verdict
from rnncourse.grading.answers import Answer, answer, answer_names, check_answer, register_answer
from rnncourse.grading.specs import Mistake


@pytest.fixture
def register(monkeypatch: pytest.MonkeyPatch):
    """Register toy questions for one test only (each test's pass lines printed anew)."""
    monkeypatch.setattr(answers, "_ANSWERS", dict(answers._ANSWERS))
    monkeypatch.setattr(verdict, "LAST_PASS", [None])
    return register_answer


def _verdict(name: str, value) -> AssertionError:
    with pytest.raises(AssertionError) as info:
        check_answer(name, value)
    return info.value


def test_the_registry_names_and_refuses_unknown_questions(register) -> None:
    register(Answer("toy_b", lambda: 1.0))
    register(Answer("toy_a", lambda: 2.0))
    assert answer("toy_a").expected() == 2.0
    names = answer_names()
    assert names == sorted(names) and {"toy_a", "toy_b"} <= set(names)
    with pytest.raises(KeyError, match="no conceptual question called 'toy_c'; known: \\["):
        answer("toy_c")


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (True, "a bool"),
        (np.bool_(False), "a bool"),
        ("3", "an object of type str"),
        (np.arange(2.0), "an array of shape (2,)"),
        (torch.zeros(1, 1), "an array of shape (1, 1)"),
        (np.array([True]), "an array of shape (1,)"),
        (torch.tensor(True), "an array of shape ()"),
        (torch.tensor(1j), "a complex tensor"),
        (np.array(1j), "an array of dtype complex128"),
        (np.complex128(1j), "an object of type complex128"),
        (torch.nn.Parameter(torch.tensor(3.0)), "an object of type Parameter"),
        (type("Proxy", (), {"type_name": "Net"})(), "an object of type Net"),
    ],
    ids=lambda v: repr(v)[:20],
)
def test_only_one_real_number_is_a_number(register, value, said) -> None:
    """Is anything but one real number refused as "expected a number, got ...", saying what
    it got?"""
    register(Answer("toy", lambda: 3.0))
    verdict = _verdict("toy", value)
    assert str(verdict) == f"toy: expected a number, got {said}."
    assert verdict.rnncourse_verdict == "wrong"


@pytest.mark.parametrize(
    "value",
    [
        3,
        3.0,
        np.int64(3),
        np.float32(3.0),
        np.array(3),
        np.array([3.0]),
        torch.tensor([3]),
        torch.tensor(3.0, requires_grad=True),
    ],  # fmt: skip
    ids=lambda v: repr(v)[:20],
)
def test_every_kind_of_number_is_read(register, value, capsys) -> None:
    """Do an int, a float, NumPy scalars and one-element arrays and tensors all pass?"""
    register(Answer("toy", lambda: 3.0, integer=True))
    check_answer("toy", value)
    assert capsys.readouterr().out == "toy passes: 3 is right.\n"


def test_none_is_not_implemented(register) -> None:
    register(Answer("toy", lambda: 3.0))
    verdict = _verdict("toy", None)
    assert str(verdict) == "toy is not implemented yet (it is None): set it to your number."
    assert verdict.rnncourse_verdict == "not-implemented"


def test_infinite_and_fractional_counts_are_refused(register) -> None:
    register(Answer("toy", lambda: 3.0, integer=True, atol=5))
    assert str(_verdict("toy", float("inf"))) == "toy: expected a finite number, got inf."
    assert str(_verdict("toy", float("nan"))) == "toy: expected a finite number, got nan."
    assert str(_verdict("toy", 2.5)) == "toy is a count, a whole number; got 2.5."


@pytest.mark.parametrize(
    ("atol", "rtol", "integer", "inside", "outside", "wording"),
    [
        (0.0, 0.0, True, 7, 8, "it must be exact"),
        (0.5, 0.0, True, 7.0, 8.0, "it must be exact"),
        (1.0, 0.0, True, 8, 9, "it is accepted within ±1"),
        (0.25, 0.0, False, 7.25, 7.26, "it is accepted within ±0.25"),
        (0.0, 0.5, False, 10.5, 10.51, "it is accepted within 50 %"),
        (0.5, 0.5, False, 11.0, 11.01, "it is accepted within ±0.5 + 50 %"),
    ],
)
def test_tolerance_accepts_its_edge_and_says_it(register, capsys, atol, rtol, integer, inside,
                                                 outside, wording) -> None:  # fmt: skip
    """With the right answer 7, is ``|answer - 7| <= atol + rtol * 7`` accepted at its edge,
    just beyond refused, and the tolerance worded as the task states it, the number shown
    but never the right one?"""
    register(Answer("toy", lambda: 7.0, atol=atol, rtol=rtol, integer=integer))
    check_answer("toy", inside)
    assert capsys.readouterr().out == f"toy passes: {inside:g} is right.\n"
    message = str(_verdict("toy", outside))
    assert message == f"toy = {outside:g} is not right ({wording})."


def test_a_number_below_the_answer_is_refused_too(register) -> None:
    register(Answer("toy", lambda: 7.0, atol=0.5))
    assert str(_verdict("toy", 6.4)) == "toy = 6.4 is not right (it is accepted within ±0.5)."


def test_the_mistake_whose_number_it_is_is_named(register) -> None:
    """Is the hint given for the one mistake the number matches (within the tolerance), "one
    of" for two different hints that match, a repeated hint once, and none for no match?"""
    mistakes = (
        Mistake("double", "twice the answer", lambda: 14.0),
        Mistake("half", "half the answer", lambda: 3.5),
        Mistake("half-again", "half the answer", lambda: 3.6),
        Mistake("also-double", "doubled somewhere", lambda: 14.1),
    )
    register(Answer("toy", lambda: 7.0, atol=0.2, mistakes=mistakes))
    assert str(_verdict("toy", 3.55)) == (
        "toy = 3.55 is not right (it is accepted within ±0.2).\n  Likely mistake: half the answer"
    )
    assert str(_verdict("toy", 14.05)) == (
        "toy = 14.05 is not right (it is accepted within ±0.2)."
        "\n  Likely mistake: one of: (1) twice the answer | (2) doubled somewhere"
    )
    assert "Likely mistake" not in str(_verdict("toy", 10.0))
