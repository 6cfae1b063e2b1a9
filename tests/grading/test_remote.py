"""The trusted side's stand-ins for the learner's objects (:mod:`rnncourse.grading.remote`):
what a :class:`Remote` forwards to its link, and the two failures a call can end in."""

from __future__ import annotations

import pytest

from rnncourse.grading.channel import Handle
from rnncourse.grading.remote import Remote, RemoteError, WorkerFailure, type_name


class _Recorder:
    """A link that records each call and answers with what it got."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def call(self, target, attr, args, kwargs, **options):
        self.calls.append((target, attr, args, kwargs, options))
        return "answer"


def _remote(module: bool = False) -> tuple[Remote, _Recorder]:
    link = _Recorder()
    return Remote(link, 5, "model", Handle(5, "Net", True, module)), link


def test_calling_a_remote_forwards_the_call() -> None:
    """Do a call, a call with options and a method call reach the link with the target, the
    method's name, the arguments and the options, and return the link's answer?"""
    r, link = _remote()
    assert r(1, k=2) == "answer"
    assert r.call((3,), {"k": 4}, seed=1, threads=2) == "answer"
    assert r.method("eval", 6, no_grad=True) == "answer"
    assert link.calls == [
        (5, None, (1,), {"k": 2}, {}),
        (5, None, (3,), {"k": 4}, {"seed": 1, "threads": 2}),
        (5, "eval", (6,), {}, {"no_grad": True}),
    ]


def test_attributes_are_methods_in_the_worker_but_dunders_are_not() -> None:
    """Is ``model.train(False)`` a call of the method in the worker, while a special name such
    as ``__array__`` is missing (so NumPy and copy do not treat a proxy as data)?"""
    r, link = _remote()
    assert r.train(False, mode=1) == "answer"
    assert link.calls == [(5, "train", (False,), {"mode": 1}, {})]
    with pytest.raises(AttributeError, match="__array__"):
        r.__array__  # noqa: B018
    assert not hasattr(r, "__len__")


def test_a_remote_names_its_type_and_kind() -> None:
    """Does a proxy say what type it stands for, whether it is a module, and where it lives?"""
    r, _ = _remote(module=True)
    assert r.type_name == "Net" and r.is_module is True
    assert _remote(module=False)[0].is_module is False
    assert repr(r) == "<Net model in the grading worker>"


def test_the_two_failures_keep_what_the_check_words() -> None:
    """Does a worker failure default to "crashed", and a remote error keep its kind, the
    learner's type name and message (its str is the message alone)?"""
    assert WorkerFailure("gone").kind == "crashed" and str(WorkerFailure("gone")) == "gone"
    assert WorkerFailure("slow", "timed-out").kind == "timed-out"
    error = RemoteError("error", "ValueError", "bad shape")
    assert (error.kind, error.type_name, error.message, str(error)) == (
        "error",
        "ValueError",
        "bad shape",
        "bad shape",
    )
    assert type_name(error) == "ValueError" and type_name(KeyError("k")) == "KeyError"
