"""Trusted grading: the nbgrader preprocessor that keeps the checks out of the learner's process.

:class:`TrustedExecute` replaces nbgrader's ``Execute`` in ``Autograde.autograde_preprocessors``
(see ``nbgrader_config.py``), so plain ``nbgrader autograde`` and ``rnncourse autograde`` both
use it. It executes the notebook once, cell by cell:

- the learner's cells (answers, cells they added, unlocked cells) and the instructor's locked
  setup cells run in the **worker**: the sandboxed Jupyter kernel (see
  :mod:`rnncourse.instructor.sandbox`), whose outputs nbgrader records as usual;
- each graded test cell runs **here**, in the grader's process, which never executes learner
  code. nbgrader has restored the test cells (and every locked cell) from its gradebook before
  this runs, so their code is the instructor's. The locked setup cells run here too, so
  ``grading``, ``np`` and constants are the grader's own. Every other name a test cell reads
  (``rnn_cell``) is looked up in the worker (:mod:`rnncourse.grading.remote`): data comes back
  as data, a function or a model as a proxy whose calls travel over the data-only channel
  (:mod:`rnncourse.grading.channel`), each with the cell time limit;
- before a test cell runs, the source of the learner's cells that the tasks it checks can
  reach is read here (:func:`rnncourse.grading.static.findings`); a task whose code reaches
  what it may not is refused without running it.

The verdict goes into the test cell's outputs (an ``error`` output with the diagnosis, or no
error), which nbgrader's ``SaveAutoGrades`` scores and ``generate_feedback`` shows. A worker
that dies, hangs or answers garbage fails the task that was waiting for it; the worker is then
restarted and the learner's cells so far run again, so the next tasks are graded. Each test
cell records its verdict as data (``metadata.rnncourse.verdict``: passed, kind, and what the
kind needs), which ``rnncourse report`` and ``audit`` read.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import re
import secrets
import traceback
from typing import Any

import nbformat
from nbclient.exceptions import DeadKernelError

from rnncourse.grading import channel, remote, specs, static, verdict
from rnncourse.grading.checks import provided_names, task_findings
from rnncourse.grading.worker import MIME
from rnncourse.instructor.sandbox import SandboxedExecute

__all__ = ["TrustedExecute", "cell_role", "checked_tasks"]

_BUILTINS = frozenset(vars(builtins))


def cell_role(cell: Any) -> str:
    """``"test"``, ``"setup"`` (the instructor's locked code) or ``"learner"``.

    Only cells nbgrader vouches for count as the instructor's: a ``grade_id`` that its
    ``OverwriteCells`` kept (it drops ids the gradebook does not know) and ``locked``, which it
    resets to the gradebook's value, restoring the source of locked cells.
    """
    meta = cell.get("metadata", {}).get("nbgrader", {})
    if cell.get("cell_type") != "code" or not meta.get("grade_id") or not meta.get("locked"):
        return "learner"
    if meta.get("solution"):
        return "learner"
    return "test" if meta.get("grade") else "setup"


class _Namespace(dict):
    """The test cells' globals: the grader's names, then the worker's (looked up on demand)."""

    def __init__(self, link: _Link) -> None:
        super().__init__({"__name__": "__grading__", "__builtins__": builtins})
        self._link = link

    def __missing__(self, name: str) -> Any:
        if name in _BUILTINS or name.startswith("__"):
            raise KeyError(name)
        try:
            return self._link.get(name)
        except remote.RemoteError as error:
            if error.kind == "name":
                raise KeyError(name) from None
            raise


class _Link:
    """The grader's connection to the worker kernel, through the executing preprocessor."""

    def __init__(self, executor: TrustedExecute) -> None:
        self.executor = executor
        self.answers: list[tuple[str, str]] = []  # (how the learner finds it, source)
        self.unparsed: list[tuple[str, str, str]] = []  # (label, why, source): ran nothing
        self.roots: set[str] = set()  # the names the test cell being run reads
        self.dead: str | None = None

    # -- requests --------------------------------------------------------------------------

    def _request(self, message: dict[str, Any], what: str) -> Any:
        if self.dead is not None:
            raise remote.WorkerFailure(f"the worker is not running ({self.dead})")
        try:
            text = channel.encode(message)
        except TypeError as error:
            raise remote.WorkerFailure(f"{what}: the arguments cannot be sent ({error})") from None
        nonce = secrets.token_hex(8)
        code = (
            f"__import__('rnncourse.grading.worker', fromlist=['serve']).serve({text!r}, {nonce!r})"
        )
        limit = self.executor.timeout
        try:
            cell = self.executor.run_scratch(code)
        except DeadKernelError:
            self.executor.restart_worker(f"it died during {what}")
            raise remote.WorkerFailure(f"the worker died during {what}") from None
        except Exception as error:  # nbclient: a timeout with no reply, a lost channel
            self.executor.restart_worker(f"{type(error).__name__} during {what}")
            raise remote.WorkerFailure(
                f"{what} did not answer within {limit} s ({type(error).__name__})", "timed-out"
            ) from None
        replies = [
            o["data"][MIME]
            for o in cell.outputs
            if o.get("output_type") == "display_data" and MIME in o.get("data", {})
        ]
        replies = [r for r in replies if isinstance(r, dict) and r.get("nonce") == nonce]
        if not replies:
            errors = [o for o in cell.outputs if o.get("output_type") == "error"]
            if errors and errors[-1].get("ename") in ("CellTimeoutError", "KeyboardInterrupt"):
                self.executor.restart_worker(f"{what} ran out of time")
                raise remote.WorkerFailure(
                    f"{what} did not finish within {limit} s (an endless loop, or far too slow)",
                    "timed-out",
                )
            raise remote.WorkerFailure(f"{what}: the worker sent no answer")
        try:
            reply = channel.decode(replies[0].get("text"), device_ok=_device_ok)
        except channel.ChannelError as error:
            problem = f"{what}: the worker's answer is malformed ({error})"
            raise remote.WorkerFailure(problem) from None
        if type(reply) is not dict or len(reply) != 1:
            raise remote.WorkerFailure(f"{what}: the worker's answer is malformed")
        if "error" in reply:
            err = reply["error"]
            if type(err) is not dict or not all(
                type(err.get(k)) is str for k in ("kind", "type", "message")
            ):
                raise remote.WorkerFailure(f"{what}: the worker's answer is malformed")
            raise remote.RemoteError(err["kind"], err["type"][:100], err["message"][:4000])
        if "ok" not in reply:
            raise remote.WorkerFailure(f"{what}: the worker's answer is malformed")
        return self._wrap(reply["ok"], what)

    def _wrap(self, value: Any, label: str) -> Any:
        if type(value) is channel.Handle:
            return remote.Remote(self, value.id, label, value)
        return value

    def get(self, name: str) -> Any:
        value = self._request({"op": "get", "name": name}, name)
        if isinstance(value, remote.Remote):
            value._label = name
        return value

    def call(self, target: str | int, attr: str | None, args: tuple, kwargs: dict,
             **options: Any) -> Any:  # fmt: skip
        message = {"op": "call", "target": target, "attr": attr, "args": tuple(args),
                   "kwargs": dict(kwargs), **options}  # fmt: skip
        what = f"the call of {attr}" if attr else "the call"
        if options.get("build") is not None:
            message["args"], message["kwargs"] = (), {}
        return self._request(message, what)


def _device_ok(device: str) -> bool:
    import torch

    return device.startswith("cuda") and torch.cuda.is_available()


class TrustedExecute(SandboxedExecute):
    """nbgrader's ``Execute``, with learner code in the sandboxed worker and checks here."""

    def preprocess(self, nb: Any, resources: Any, *args: Any, **kwargs: Any) -> Any:
        self.start_grading()
        nb.metadata.setdefault("rnncourse", {})["trusted_checks"] = True
        return super().preprocess(nb, resources, *args, **kwargs)

    def start_grading(self) -> None:
        """Forget the previous notebook: a new link, namespace and record of learner cells."""
        self._link = _Link(self)
        self._namespace = _Namespace(self._link)
        self._replay: list[str] = []
        self._findings: list[str] = []

    def preprocess_cell(self, cell: Any, resources: Any, index: int) -> Any:
        if cell.cell_type != "code":
            return super().preprocess_cell(cell, resources, index)
        role = cell_role(cell)
        if role == "test":
            self._run_trusted(cell, index)
            return cell, resources
        if role == "setup":
            self._run_setup(cell)
        else:
            self._read_learner(cell)
        self._replay.append(cell.source)
        if self._link.dead is not None:
            cell.outputs = [_error_output("WorkerFailure", f"not run: {self._link.dead}")]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            cell.outputs = [_error_output("DeadKernelError", "the kernel died in this cell")]
            self._replay.pop()  # the cell that killed it is not run again
            self.restart_worker(f"the kernel died in cell {index + 1}")
            return cell, resources

    def _read_learner(self, cell: Any) -> None:
        """Keep a learner's cell for the source rules (and whether it parses)."""
        label = static.cell_label(cell.source)
        self._link.answers.append((label, cell.source))
        why = static.unparsed(cell.source)
        if why is not None:
            self._link.unparsed.append((label, why, cell.source))

    # -- the worker ------------------------------------------------------------------------

    def run_scratch(self, source: str) -> Any:
        """Execute ``source`` in the worker as a cell that is not part of the notebook."""
        cell = nbformat.v4.new_code_cell(source)
        self.nb.cells.append(cell)
        try:
            self.execute_cell(cell, len(self.nb.cells) - 1, store_history=False)
        finally:
            self.nb.cells.pop()
        return cell

    def restart_worker(self, why: str) -> None:
        """Start a fresh worker and run the learner's cells so far again (outputs dropped).

        If the worker does not come back, every later task fails with ``why``.
        """
        from jupyter_core.utils import run_sync

        self._link.dead = why
        try:
            run_sync(self.km.restart_kernel)(now=True)
            self.wait_for_reply(self.kc.kernel_info())
            for source in self._replay:
                self.run_scratch(source)
        except Exception as error:
            self.log.warning("the grading worker did not restart: %s", error)
            return
        self._link.dead = None

    def _run_setup(self, cell: Any) -> None:
        try:
            with (
                contextlib.redirect_stdout(io.StringIO()),
                contextlib.redirect_stderr(io.StringIO()),
            ):
                exec(compile(cell.source, "<setup>", "exec"), self._namespace)  # noqa: S102
        except Exception as error:  # the instructor's setup fails here: the tests will show it
            self.log.warning("trusted setup cell failed: %s: %s", type(error).__name__, error)

    def _run_trusted(self, cell: Any, index: int) -> None:
        out = io.StringIO()
        outputs = []
        record: dict[str, Any] = {"passed": True}
        try:
            code = compile(cell.source, f"<test cell {index + 1}>", "exec")
            self._link.roots = _reads(cell.source) - set(self._namespace) - _BUILTINS
            self._refuse(cell.source)
            verdict.LAST_PASS[0] = None  # a new cell: its passing checks say so again
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
                exec(code, self._namespace)  # noqa: S102
        except Exception as error:
            record = self._verdict(error)
            ename = "AssertionError" if isinstance(error, AssertionError) else type(error).__name__
            message = str(error) if isinstance(error, AssertionError | NameError) else (
                f"{remote.type_name(error)}: {error}")  # fmt: skip
            self.log.debug("test cell %d: %s", index + 1, traceback.format_exc())
            outputs.append(_error_output(ename, message))
        text = "".join(dict.fromkeys(out.getvalue().splitlines(keepends=True)))  # once each
        if text:
            outputs.insert(0, nbformat.v4.new_output("stream", name="stdout", text=text))
        cell.outputs = outputs
        cell.execution_count = None
        cell.metadata.setdefault("rnncourse", {})["verdict"] = record

    def _refuse(self, source: str) -> None:
        """Fail the cell, unrun, if a from-scratch task it checks reaches what it may not."""
        for name in checked_tasks(source):
            s = specs.spec(name)
            given = provided_names(dict(self._namespace))  # the setup cells' names
            problems = task_findings(s, self._link.answers, self._link.roots, given)
            if problems:
                self._findings = problems
                verdict.fail(verdict.refusal(name, problems), kind="refused", task=name)

    def _verdict(self, error: Exception) -> dict[str, Any]:
        """What the report reads of a failed test: why, and where in the learner's cells."""
        kind = getattr(error, "rnncourse_verdict", None)
        record: dict[str, Any] = {"passed": False, "kind": kind or "error"}
        if getattr(error, "rnncourse_task", None):
            record["task"] = error.rnncourse_task  # type: ignore[attr-defined]
        if getattr(error, "rnncourse_mistakes", ()):
            record["mistakes"] = list(error.rnncourse_mistakes)  # type: ignore[attr-defined]
        if isinstance(error, NameError):
            record["kind"] = "not-defined"
            name = getattr(error, "name", None) or ""
            record["name"] = name
            word = re.escape(name)
            defines = re.compile(rf"^\s*(def|class)\s+{word}\b|^\s*{word}\s*=", re.MULTILINE)
            for label, why, source in self._link.unparsed:
                if name and defines.search(source):
                    record.update(kind="did-not-parse", cell=label, why=why)
        elif kind == "refused":
            record["findings"] = self._findings
        return record


def checked_tasks(source: str) -> list[str]:
    """The registered tasks a test cell checks with :func:`rnncourse.grading.check`: the
    constant first argument of each ``check(...)`` call, in order, once each."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and node.args):
            continue
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        first = node.args[0]
        if (
            called == "check"
            and isinstance(first, ast.Constant)
            and first.value in specs.spec_names()
        ):
            names.append(first.value)
    return list(dict.fromkeys(names))


def _reads(source: str) -> set[str]:
    """The names a test cell reads and does not bind itself."""
    nodes = list(ast.walk(ast.parse(source)))
    loads = {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return loads - static.bound_names(nodes)


def _error_output(ename: str, evalue: str) -> Any:
    """An error output whose traceback is the verdict as the learner's kernel shows it."""
    return nbformat.v4.new_output(
        "error", ename=ename, evalue=evalue, traceback=verdict.verdict_lines(ename, evalue)
    )
