"""The check: a learner's function against the reference, on seeded inputs, with a diagnosis.

:func:`check` runs the learner's function and the reference on the same inputs of several
shapes (on CPU, and on CUDA when present), compares the outputs with explicit tolerances and,
when they differ, fails with a verdict that names the function, the input shapes, the largest
error and where it is and, when it recognises one, the likely mistake: deliberately mistaken
variants of the reference ("hidden state ignored", "gates in the wrong order") run on the same
inputs, and the one whose output the learner's matches names the mistake. Messages show
shapes and errors, never the reference code or the hidden tests' inputs.

The learner's function is called through :func:`invoke`, which has two implementations: in the
learner's own kernel (their self-check, ``nbgrader validate``) it is a plain call; in the
trusted grader the function is a :class:`~rnncourse.grading.remote.Remote` and the call runs in
the sandboxed worker. Either way a failure arrives as one :class:`CallFailed` with a kind, and
:func:`check` words it once. Only the trusted grader's verdicts become grades.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import sys
import types
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

import torch

from rnncourse.grading import static
from rnncourse.grading.channel import encode
from rnncourse.grading.compare import compare, leaves, name_outputs, shares, transformation
from rnncourse.grading.remote import Remote, RemoteError, WorkerFailure
from rnncourse.grading.specs import (
    Case,
    Inputs,
    Spec,
    build_inputs,
    describe_call,
    devices,
    spec,
)
from rnncourse.grading.verdict import fail, passed, refusal

__all__ = ["CallFailed", "check", "check_mistake", "invoke", "source_findings"]


class CallFailed(Exception):
    """A call of the learner's code that did not return.

    Attributes:
        kind: ``"not-implemented"``, ``"exit"`` (``sys.exit``), ``"raised"`` (the learner's
            own exception), ``"timed-out"`` or ``"crashed"`` (the worker).
        type_name: the learner's exception type, as they know it (``"ValueError"``).
        own: the learner's exception itself when it was raised in this process (its frames are
            shown under the verdict), else ``None``.
    """

    def __init__(
        self, kind: str, type_name: str, message: str, own: BaseException | None = None
    ) -> None:
        super().__init__(message)
        self.kind, self.type_name, self.own = kind, type_name, own


_KINDS = {"not-implemented": "not-implemented", "exit": "exit"}  # worker kind -> CallFailed kind


def _local(
    fn: Callable[..., Any],
    args: tuple,
    kwargs: dict,
    *,
    attr: str | None = None,
    seed: int | None = None,
    threads: int | None = None,
    no_grad: bool = False,
) -> Any:
    """Call ``fn`` (or its method ``attr``) here, warnings silenced (stderr zeroes an nbgrader
    cell); ``seed`` seeds torch first, ``threads`` limits torch's threads for the call."""
    __tracebackhide__ = True  # the learner's traceback starts in their own code
    previous = torch.get_num_threads()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if seed is not None:
            torch.manual_seed(seed)
        if threads:
            torch.set_num_threads(threads)
        try:
            with torch.no_grad() if no_grad else contextlib.nullcontext():
                return (getattr(fn, attr) if attr else fn)(*args, **kwargs)
        finally:
            torch.set_num_threads(previous)


def invoke(
    fn: Any,
    args: tuple,
    kwargs: dict,
    *,
    attr: str | None = None,
    recipe: dict | None = None,
    return_args: bool = False,
    **options: Any,
) -> Any:
    """Call the learner's ``fn`` here or in the worker; raise :class:`CallFailed` if it fails.

    ``options`` are :func:`_local`'s (``seed``, ``threads``, ``no_grad``). With
    ``return_args`` the answer is ``(result, args, kwargs)``, the arguments as the call left
    them. Inputs that cannot travel as data (a closure ``f`` over the array it nudges) are
    rebuilt in the worker from ``recipe`` (:func:`~rnncourse.grading.specs.build_inputs`'s
    arguments).
    """
    __tracebackhide__ = True
    try:
        if not isinstance(fn, Remote):
            result = _local(fn, args, kwargs, attr=attr, **options)
            return (result, args, kwargs) if return_args else result
        if recipe is not None:
            try:
                encode((args, kwargs))
                recipe = None
            except TypeError:
                pass
        if attr is not None:
            return fn.method(attr, *args, **options)
        if not return_args:
            return fn.call(args, kwargs, build=recipe, **options)
        reply = fn.call(args, kwargs, build=recipe, return_args=True, **options)
        if not (
            isinstance(reply, dict)
            and set(reply) == {"result", "args", "kwargs"}
            and isinstance(reply["args"], tuple)
            and isinstance(reply["kwargs"], dict)
        ):
            raise WorkerFailure("the worker's answer is malformed (no arguments returned)")
        return reply["result"], reply["args"], reply["kwargs"]
    except WorkerFailure as error:
        raise CallFailed(error.kind, "WorkerFailure", str(error)) from None
    except RemoteError as error:
        kind = _KINDS.get(error.kind, "raised")
        raise CallFailed(kind, error.type_name, error.message) from None
    except NotImplementedError as error:
        raise CallFailed("not-implemented", "NotImplementedError", str(error), error) from None
    except SystemExit as error:
        raise CallFailed("exit", "SystemExit", str(error), error) from None
    except Exception as error:  # the learner's own error, with its frames
        raise CallFailed("raised", type(error).__name__, str(error), error) from None


def failed_call(task: str, error: CallFailed, where: str) -> str:
    """The verdict's words for a call of ``task`` that did not return (``where``: the call)."""
    if error.kind == "not-implemented":
        return f"{task} is not implemented yet (it raises NotImplementedError)."
    if error.kind == "exit":
        return f"{task} tried to exit the interpreter (sys.exit) for {where}."
    if error.kind in ("timed-out", "crashed"):
        return f"{task}: {error} (for {where})."
    hint = ""
    if any(text in str(error) for text in _SHAPE_ERRORS):
        hint = (
            "\n  Hint: a matrix product got incompatible shapes. With row vectors the book's "
            "W x is written x @ W.T; check which weight multiplies what."
        )
    return f"{task} raised {error.type_name}: {error}\n  for {where}{hint}"


def fail_call(task: str, error: CallFailed, where: str) -> NoReturn:
    """Fail with :func:`failed_call`'s verdict, its kind, and the learner's frames if here."""
    __tracebackhide__ = True
    kind = {"exit": "raised"}.get(error.kind, error.kind)
    own = error.own if kind == "raised" and error.kind != "exit" else None
    fail(failed_call(task, error, where), own, kind, task=task)


_SHAPE_ERRORS = ("shapes cannot be multiplied", "mat1 and mat2", "size mismatch", "not aligned")


def source_findings(s: Spec, fn: Any) -> list[str]:
    """What the learner's own cells do that task ``s`` does not allow, read in their kernel.

    The cells are the kernel's history (IPython's ``In``), read by :func:`task_findings` from
    the names bound to ``fn``. The setup cell (the one that imports ``grading``) is the
    instructor's: its names count as given, as the trusted grader, which knows the setup cells
    from nbgrader, counts them. Outside IPython (a test calling :func:`check` on a module's
    function) there are no cells and no findings.
    """
    shell = sys.modules["IPython"].get_ipython() if "IPython" in sys.modules else None
    namespace: dict[str, Any] = getattr(shell, "user_ns", None) or {}
    history = namespace.get("In")
    if not history:
        return []
    roots = {k for k, v in namespace.items() if v is fn and not k.startswith("_")}
    cells, given = [], set()
    for source in history:
        if not source:
            continue
        if _is_setup(source):
            given |= static.bound_names(ast.walk(ast.parse(source)))
        else:
            cells.append((static.cell_label(source), source))
    provided = {name: _module_name(namespace.get(name)) for name in given}
    return task_findings(s, cells, roots or {s.name}, provided)


def provided_names(namespace: Mapping[str, Any]) -> dict[str, str | None]:
    """``name -> module`` (``None``: not a module) of what the instructor's setup bound."""
    return {k: _module_name(v) for k, v in namespace.items() if not k.startswith("__")}


def _module_name(value: Any) -> str | None:
    return value.__name__ if isinstance(value, types.ModuleType) else None


def _is_setup(source: str) -> bool:
    """The course's setup cell: it imports ``grading`` at top level."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    return any(
        isinstance(node, ast.ImportFrom) and node.module == "rnncourse"
        and any(a.name == "grading" and a.asname is None for a in node.names)
        for node in body
    )  # fmt: skip


def task_findings(s: Spec, cells: Sequence[tuple[str, str]], roots: set[str],
                  provided: Mapping[str, str | None] | None = None) -> list[str]:  # fmt: skip
    """What the code that task ``s``'s names (``roots``) reach in ``cells`` does that ``s``
    does not allow (:func:`rnncourse.grading.static.findings`), leaving out definitions that a
    later cell replaced before anything used them (a first try corrected below). ``provided``:
    the names the instructor's setup binds (:func:`provided_names`)."""
    return static.findings(current(cells), reference=forbidden_paths(s),
                           library=s.forbidden_library, roots=roots, provided=provided)  # fmt: skip


def current(cells: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    r"""``cells`` with each top-level ``def``, ``class`` or ``name = ...`` blanked out when a
    later top-level statement rebinds what it binds before anything mentions it (it can no
    longer run), and the checks themselves (``grading.check(...)`` in a test cell run in the
    kernel). Cells that ``ast`` cannot parse (magics) are left as they are.

    >>> current([("a", "def f():\n    return 1"), ("b", "def f():\n    return 2")])
    [('a', ''), ('b', 'def f():\n    return 2')]
    >>> current([("a", "def f():\n    return 1\ng = f"), ("b", "def f():\n    return 2")])[0]
    ('a', 'def f():\n    return 1\ng = f')
    """
    parsed: list[tuple[int, ast.stmt]] = []
    for i, (_, source) in enumerate(cells):
        try:
            parsed += [(i, node) for node in ast.parse(source).body]
        except SyntaxError:
            continue
    dead: dict[int, list[ast.stmt]] = {}
    for k, (i, node) in enumerate(parsed):
        names = _binds(node)
        if names and all(_replaced(name, [n for _, n in parsed[k + 1 :]]) for name in names):
            dead.setdefault(i, []).append(node)
        elif _only_looks(node) and not isinstance(node.value.func, ast.Name):  # type: ignore[attr-defined]
            dead.setdefault(i, []).append(node)  # a check: it changes nothing of the answer's
    result = []
    for i, (label, source) in enumerate(cells):
        if i not in dead:
            result.append((label, source))
            continue
        lines = source.split("\n")
        for node in dead[i]:
            first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
            lines[first - 1 : node.end_lineno] = [""] * ((node.end_lineno or first) - first + 1)
        result.append((label, "\n".join(lines).strip("\n")))
    return result


def _binds(node: ast.stmt) -> set[str]:
    """The names a ``def``, ``class`` or plain ``name = ...`` statement binds, else none."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
        return {t.id for t in node.targets if isinstance(t, ast.Name)}
    return set()


def _mentions(nodes: Sequence[ast.AST], name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for node in nodes for n in ast.walk(node))


def _replaced(name: str, later: Sequence[ast.stmt]) -> bool:
    """Whether a statement of ``later`` rebinds ``name`` before any mentions its old value."""
    for node in later:
        if name in _binds(node):
            if isinstance(node, ast.Assign):  # f = g(f) uses the old f
                return not _mentions([node.value], name)
            assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            evaluated_now: list[Any] = [*node.decorator_list]  # a def's body runs later
            if isinstance(node, ast.ClassDef):
                evaluated_now += [*node.bases, *node.keywords, *node.body]
            else:
                evaluated_now += [*node.args.defaults, *node.args.kw_defaults]
            return not _mentions([n for n in evaluated_now if n is not None], name)
        if _mentions([node], name) and not _only_looks(node):
            return False
    return False


def _only_looks(node: ast.stmt) -> bool:
    """A statement that uses values without keeping them: a test cell's
    ``grading.check("f", f)``, a scratch ``print(f(x))``."""
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return False
    func = node.value.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.value.id in ("grading", "_grading") and func.attr.startswith("check")
    return isinstance(func, ast.Name) and func.id in ("print", "display")


def forbidden_paths(s: Spec) -> list[str]:
    """The dotted paths task ``s``'s answer may not reach: its reference (by its path, or the
    module and name of the function given) and ``forbidden``."""
    paths = []
    for target in (s.reference, *s.forbidden):
        if isinstance(target, str):
            paths.append(target)
        elif getattr(target, "__module__", "").startswith("rnncourse.") and not getattr(
            target, "__module__", ""
        ).startswith("rnncourse.grading"):
            paths.append(f"{target.__module__}.{target.__qualname__}")
    return paths


def check(
    name: str,
    fn: Callable[..., Any],
    cases: Sequence[Case] | None = None,
    *,
    seed: int = 0,
) -> None:
    """Check a learner's function against the reference on every case and device.

    Args:
        name: a registered function name (see :func:`~rnncourse.grading.spec_names`).
        fn: the learner's implementation, with the reference's signature.
        cases: dicts of sizes, e.g. ``[{"N": 2, "H_in": 3, "H": 4}]``; the spec's defaults
            if ``None``.
        seed: seeds the inputs; hidden tests use other seeds than the visible ones.

    Raises:
        AssertionError: with feedback on the first failing case.

    Examples::

        >>> from rnncourse.rnn import rnn_cell
        >>> check("rnn_cell", lambda *a: rnn_cell(*a) + 1)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        AssertionError: rnn_cell is wrong for rnn_cell(x=(3, 4), ...) on cpu:
          output: largest error 1 at index (0, 0): ...
    """
    __tracebackhide__ = True
    _check(name, fn, cases, seed=seed, read_source=True)


def _check(
    name: str,
    fn: Callable[..., Any],
    cases: Sequence[Case] | None = None,
    *,
    seed: int = 0,
    read_source: bool = False,
) -> None:
    """:func:`check`; ``read_source`` reads the learner's cells in their kernel first (the
    course's own tests check functions from modules, and mistaken variants that call the
    reference, without it)."""
    __tracebackhide__ = True
    s = spec(name)
    if s._reference is None:
        fail(f"grading: the reference for {name} is not available ({s.reference})")
    if not callable(fn):
        fail(f"{name}: expected a function, got {type(fn).__name__}")
    if read_source and not isinstance(fn, Remote):  # the trusted grader reads them itself
        problems = source_findings(s, fn)
        if problems:
            fail(refusal(name, problems), kind="refused", task=name)
    run_on = devices() if s.backend == "torch" else ["cpu"]
    every = [*(cases if cases is not None else s.cases), *s.boundary_cases]
    for device in run_on:
        for index, case in enumerate(every):
            _check_case(s, fn, seed, index, case, device)
    passed(f"{name} passes: it matches the reference on every test input.")


def _check_case(
    s: Spec, fn: Callable[..., Any], seed: int, index: int, case: Case, dev: str
) -> None:
    __tracebackhide__ = True
    args, kwargs = build_inputs(s, seed, index, case, dev)
    where = describe_call(s, args, kwargs, dev)
    expected = _local(s._reference, *build_inputs(s, seed, index, case, dev))  # type: ignore[arg-type]
    recipe = {"spec": s.name, "seed": seed, "index": index, "case": dict(case), "device": dev}
    try:
        if s.contracts:  # the arguments come back too, as the call left them
            actual, args, kwargs = invoke(fn, args, kwargs, recipe=recipe, return_args=True)
        else:
            actual = invoke(fn, args, kwargs, recipe=recipe)
    except CallFailed as error:
        fail_call(s.name, error, where)
    problem = name_outputs(compare(expected, actual, "", s.atol, s.rtol), s.outputs)
    broken = _broken_contract(s, actual, (args, kwargs), build_inputs(s, seed, index, case, dev))
    if problem is None:
        if broken:
            fail(
                f"{s.name} gives the right values but {broken} (for {where}).",
                kind="contract",
                task=s.name,
            )
        return
    message = f"{s.name} is wrong for {where}:\n  {problem}"
    diagnosis, ids = _diagnose(s, actual, seed, index, case, dev)
    if diagnosis:
        message += f"\n  Likely mistake: {diagnosis}"
    else:
        shape = transformation(expected, actual, s.outputs)
        if shape:
            message += f"\n  What it looks like: {shape}."
    if broken:
        message += f"\n  Also: it {broken}."
    fail(message, task=s.name, mistakes=ids)


def _diagnose(
    s: Spec, actual: Any, seed: int, index: int, case: Case, device: str
) -> tuple[str | None, tuple[str, ...]]:
    """The hint of the mistake whose variant reproduces ``actual``, and its id; when several do
    (the case cannot tell them apart), "one of: ..." with their hints in registered order."""
    hints: list[str] = []
    ids: list[str] = []
    for mistake in s.mistakes:
        if mistake.hint in hints:
            continue
        try:
            wrong = _local(mistake.variant, *build_inputs(s, seed, index, case, device))
        except Exception:
            continue
        if compare(wrong, actual, "", s.atol, s.rtol) is None:
            hints.append(mistake.hint)
            ids.append(mistake.name)
    if not hints:
        return None, ()
    if len(hints) == 1:
        return hints[0], tuple(ids)
    return "one of: " + " | ".join(f"({i + 1}) {h}" for i, h in enumerate(hints)), tuple(ids)


def _broken_contract(s: Spec, actual: Any, after: Inputs, before: Inputs) -> str | None:
    """What the learner's call broke of the spec's stated contracts, or ``None``."""
    if not s.contracts:
        return None
    names: list[str] = []
    try:
        names = list(inspect.signature(s._reference).parameters) if s._reference else []
    except (TypeError, ValueError):
        pass

    def label(i: int) -> str:
        return names[i] if i < len(names) else f"argument {i}"

    pairs = [(label(i), b, a) for i, (b, a) in enumerate(zip(before[0], after[0], strict=False))]
    pairs += [(k, before[1][k], after[1].get(k)) for k in before[1]]
    if "unchanged-inputs" in s.contracts:
        for name, old, new in pairs:
            if callable(old) or new is None:  # a function argument, or one the worker kept
                continue
            if compare(old, new, name, 0.0, 0.0) is not None:
                return (
                    f"changes its input {name}; it must leave it exactly as it was (copy "
                    "it, or put back what you change)"
                )
    if "new-output" in s.contracts:
        inputs = [leaf for name, _, new in pairs for leaf in leaves(new, name)]
        for out_path, out in leaves(actual, "output"):
            for in_path, leaf in inputs:
                if shares(out, leaf):
                    return (
                        f"returns {in_path} itself in {out_path} (or an array sharing its "
                        "memory); return new arrays"
                    )
    for contract in s.contracts:
        if contract.startswith("dtype:"):
            want = contract[6:]
            for out_path, out in leaves(actual, "output"):
                got = str(out.dtype).replace("torch.", "")
                if got != want:
                    return f"returns {out_path} of dtype {got}; the task asks for {want}"
    return None


def check_mistake(name: str, mistake: str) -> None:
    """Assert that the registered mistake ``mistake`` of ``name`` is caught and diagnosed.

    Used by the tests: the variant must fail :func:`check` with its own hint.
    """
    s = spec(name)
    chosen = next((m for m in s.mistakes if m.name == mistake), None)
    if chosen is None:
        raise KeyError(f"{name} has no mistake {mistake!r}")
    try:
        _check(name, chosen.variant)
    except AssertionError as error:
        if chosen.hint not in str(error):
            raise AssertionError(f"{name}/{mistake}: wrong diagnosis:\n{error}") from None
        return
    raise AssertionError(f"{name}/{mistake}: the mistaken variant passes the check")
