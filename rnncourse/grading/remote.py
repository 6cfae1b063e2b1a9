"""Trusted-side stand-ins for the learner's objects, which live in the sandboxed worker.

While a graded test cell runs in the trusted grader, every name it reads that the instructor's
code did not define (``rnn_cell``, ``train_adding_model``) is looked up in the worker: data
comes back as data, anything else as a :class:`Remote`, a proxy that forwards calls (and method
calls, ``model.eval()``) to the worker. Each call has a time limit. A worker that fails, hangs,
dies or answers with something the channel does not allow raises :class:`WorkerFailure`; an
exception in the learner's code raises :class:`RemoteError`, named after the learner's
exception type. :func:`rnncourse.grading.checks.invoke` turns both into one
:class:`~rnncourse.grading.checks.CallFailed`, which the check words once.
"""

from __future__ import annotations

from typing import Any, Protocol

from rnncourse.grading.channel import Handle

__all__ = ["Remote", "RemoteError", "WorkerFailure", "Link", "type_name"]


class WorkerFailure(Exception):
    """The worker did not answer properly: a timeout, a crash, a malformed reply.

    Attributes:
        kind: ``"timed-out"`` (no answer within the cell time limit) or ``"crashed"``.
    """

    def __init__(self, message: str, kind: str = "crashed") -> None:
        super().__init__(message)
        self.kind = kind


class RemoteError(Exception):
    """An exception raised by the learner's code in the worker.

    Attributes:
        kind: ``"error"``, ``"not-implemented"``, ``"exit"``, ``"name"`` or ``"unsendable"``.
        type_name: the learner's exception type (``"ValueError"``).
        message: its message.
    """

    def __init__(self, kind: str, type_name: str, message: str) -> None:
        super().__init__(message)
        self.kind, self.type_name, self.message = kind, type_name, message

    def __str__(self) -> str:
        return self.message


def type_name(error: BaseException) -> str:
    """The type of ``error`` as the learner knows it (remote errors keep their own type)."""
    return error.type_name if isinstance(error, RemoteError) else type(error).__name__


class Link(Protocol):
    """What a :class:`Remote` needs from the trusted side's connection to its worker."""

    def call(self, target: str | int, attr: str | None, args: tuple, kwargs: dict,
             **options: Any) -> Any: ...  # fmt: skip


class Remote:
    """A learner's object that stays in the worker (a function, an ``nn.Module``).

    Calling it, or one of its methods, runs the call in the worker with data arguments; the
    result comes back as data or as another :class:`Remote`.
    """

    __slots__ = ("_link", "_target", "_label", "_handle")

    def __init__(self, link: Link, target: str | int, label: str, handle: Handle) -> None:
        self._link, self._target, self._label, self._handle = link, target, label, handle

    @property
    def type_name(self) -> str:
        return self._handle.type_name

    @property
    def is_module(self) -> bool:
        return self._handle.module

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._link.call(self._target, None, args, kwargs)

    def call(self, args: tuple, kwargs: dict, **options: Any) -> Any:
        """Call with the worker's call options (``build``, ``seed``, ``threads``, ...)."""
        return self._link.call(self._target, None, args, kwargs, **options)

    def method(self, attr: str, *args: Any, **options: Any) -> Any:
        return self._link.call(self._target, attr, args, {}, **options)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return lambda *args, **kwargs: self._link.call(self._target, attr, args, kwargs)

    def __repr__(self) -> str:
        return f"<{self._handle.type_name} {self._label} in the grading worker>"
