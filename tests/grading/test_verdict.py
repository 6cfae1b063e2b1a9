"""What a failed or passed check says (:mod:`rnncourse.grading.verdict`): the verdict's record,
its wrapping, the refusal's wording, the one pass line per cell and IPython's rendering."""

from __future__ import annotations

import sys
import types

import pytest

from rnncourse.grading import verdict
from rnncourse.grading.verdict import VERDICT_KINDS, fail, passed, refusal, verdict_lines


def _raised(*args, **kwargs) -> AssertionError:
    with pytest.raises(AssertionError) as info:
        fail(*args, **kwargs)
    return info.value


def test_the_kinds_are_the_documented_ones() -> None:
    assert VERDICT_KINDS == ("wrong", "raised", "not-implemented", "refused", "timed-out",
                             "crashed", "contract")  # fmt: skip


def test_fail_records_kind_task_and_mistakes() -> None:
    """Is a plain failure "wrong" with no task or mistakes, and are the given ones recorded?"""
    plain = _raised("f is wrong")
    assert str(plain) == "f is wrong" and type(plain) is AssertionError
    assert (plain.rnncourse_verdict, plain.rnncourse_task, plain.rnncourse_mistakes) == (
        "wrong",
        None,
        (),
    )
    named = _raised("f raised", None, "raised", task="f", mistakes=("no-bias",))
    assert (named.rnncourse_verdict, named.rnncourse_task, named.rnncourse_mistakes) == (
        "raised",
        "f",
        ("no-bias",),
    )


def test_fail_shows_the_learners_error_only_when_given() -> None:
    """Does a verdict hide the exception being handled (the grader's), but carry the learner's
    own error as its cause when given?"""
    try:
        raise KeyError("grader")
    except KeyError:
        hidden = _raised("f is wrong")
    assert hidden.__cause__ is None and hidden.__suppress_context__ is True
    own = ValueError("learner")
    assert _raised("f raised", own).__cause__ is own


def test_refusal_lists_at_most_five_problems() -> None:
    """Does the refusal name the task, list its first five problems one per line, and say how
    to write the answer instead?"""
    problems = [f"problem {i}" for i in range(1, 8)]
    text = refusal("rnn_cell", problems)
    assert text.startswith("rnn_cell cannot be graded as written: this task asks you to write")
    assert "the code rnn_cell runs reaches something the grader cannot accept for it:\n" in text
    assert "\n  problem 1\n  problem 2\n  problem 3\n  problem 4\n  problem 5\n" in text
    assert "problem 6" not in text
    assert text.endswith("not here.")
    assert "Write the steps with tensor operations" in text
    assert " ".join(text.split()).endswith(
        "torch's recurrent layers, the course's reference and code that hides what it calls are"
        " fine for checking your work in another notebook, not here."
    )


def test_verdict_lines_wrap_at_80_keeping_the_indent() -> None:
    """Are lines wrapped at 80 columns (or the width given), continuation lines indented two
    spaces more than their line, words never broken, hyphens kept, blank lines kept?"""
    text = "f is wrong:\n\n  Likely mistake: " + "word " * 30
    (joined,) = verdict_lines("AssertionError", text)
    lines = joined.split("\n")
    assert lines[0] == "AssertionError: f is wrong:" and lines[1] == ""
    assert all(len(line) <= 80 for line in lines)
    assert lines[2].startswith("  Likely mistake: word") and lines[3].startswith("    word")
    assert " ".join(joined.split()).endswith("word word")
    long = "x" * 100 + " tail-end-of-a-hyphenated-word " + "y" * 70
    lines = verdict_lines("E", long, width=40)[0].split("\n")
    assert lines[:2] == ["E:", "  " + "x" * 100]  # a long word is not broken
    assert "tail-end-of-a-hyphenated-word" in lines[2]
    assert verdict_lines("E", "a " * 30, width=20)[0].split("\n")[1] == "  a a a a a a a a a"
    # a hyphenated word that would straddle the width moves whole to the next line
    assert verdict_lines("E", "aaaa bbbb-cccc-dddd", width=14) == ["E: aaaa\n  bbbb-cccc-dddd"]


class _Shell:
    def __init__(self, count: int) -> None:
        self.execution_count = count


def test_a_pass_is_said_once_per_cell(monkeypatch, capsys) -> None:
    """Is a pass line printed once in a cell however often the check passes, again in the
    next cell, and a different line in the same cell too?"""
    shell = _Shell(1)
    monkeypatch.setattr(verdict, "_shell", lambda: shell)
    monkeypatch.setattr(verdict, "LAST_PASS", [None])
    passed("f passes.")
    passed("f passes.")
    passed("g passes.")
    shell.execution_count = 2
    passed("g passes.")
    assert capsys.readouterr().out == "f passes.\ng passes.\ng passes.\n"


def test_the_shell_is_ipythons_when_there_is_one(monkeypatch) -> None:
    fake = types.SimpleNamespace(get_ipython=lambda: "the shell")
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert verdict._shell() == "the shell"
    monkeypatch.delitem(sys.modules, "IPython")
    assert verdict._shell() is None


class _TB:
    def structured_traceback(self, etype, value, tb):
        return [f"frames of {etype.__name__}: {value}"]


def test_ipython_shows_the_verdict_then_the_learners_frames(monkeypatch) -> None:
    """Does IPython's rendering show the verdict's lines, then, under "Where it happened in
    your code:", the learner's own error; and the verdict alone without a cause or a shell?"""
    shell = types.SimpleNamespace(InteractiveTB=_TB())
    monkeypatch.setattr(verdict, "_shell", lambda: shell)
    caused = _raised("f raised ValueError: no", ValueError("no"))
    assert caused._render_traceback_() == [
        "AssertionError: f raised ValueError: no",
        "",
        "Where it happened in your code:",
        "frames of ValueError: no",
    ]
    assert _raised("f is wrong")._render_traceback_() == ["AssertionError: f is wrong"]
    monkeypatch.setattr(verdict, "_shell", lambda: None)
    assert caused._render_traceback_() == ["AssertionError: f raised ValueError: no"]
