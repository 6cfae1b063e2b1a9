"""Every library module's docstring examples run and print what they claim (doctest).

The instructor tooling (the ``grading`` and ``instructor`` subpackages) is left out: its
examples need a course folder or nbgrader. A module listed in ``WITHOUT_EXAMPLES`` must
stay without examples, so that one added there is picked up here.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import rnncourse

INSTRUCTOR_TOOLING = {"grading", "instructor"}
# modules with no examples today (a test below fails when one gains some, so move it out)
WITHOUT_EXAMPLES = {"rnncourse", "_espeak_worker"}

LIBRARY_MODULES = sorted(
    ["rnncourse"]
    + [
        f"rnncourse.{info.name}"
        for info in pkgutil.iter_modules(rnncourse.__path__)
        if not info.ispkg and info.name not in INSTRUCTOR_TOOLING
    ]
)


def test_the_module_list_is_complete() -> None:
    """Are the chapter modules all collected (a rename would drop one silently)?"""
    expected = {"rnn", "lstm", "gru", "bptt", "gradients", "topologies", "bidirectional"}
    expected |= {"seq2seq", "scan", "data", "training", "plotting", "_checks", "_recurrent"}
    expected |= {"lstm_fused"}
    assert {f"rnncourse.{name}" for name in expected} <= set(LIBRARY_MODULES)


@pytest.mark.parametrize("name", LIBRARY_MODULES)
def test_docstring_examples_pass(name: str) -> None:
    """Do the module's Examples run without error and print what they claim?"""
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False, report=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
    short = name.removeprefix("rnncourse.")  # "rnncourse" itself stays "rnncourse"
    if short in WITHOUT_EXAMPLES:
        assert result.attempted == 0, f"{name} has examples now: remove it from WITHOUT_EXAMPLES"
    else:
        assert result.attempted > 0, f"{name} has no examples: add some, or list it"
