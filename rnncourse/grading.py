"""Autograding helpers for the exercises: compare a learner's function with the reference.

Every graded test cell in ``solutions/exNN_*/exNN_*.ipynb`` calls :func:`check` with the name
of a registered function and the learner's implementation. :func:`check` runs both on seeded
random inputs of several shapes (on CPU, and on CUDA when present), compares the outputs with
explicit tolerances and, when they differ, raises ``AssertionError`` with feedback that names
the function, the input shapes, the largest error and where it is, and, when it recognises
one, the likely mistake. Mistakes are recognised by running deliberately mistaken variants of
the reference ("hidden state ignored", "gates in the wrong order", ...) on the same inputs and
seeing which one the learner's output matches. Messages show shapes and errors, never the
reference code or the hidden tests' inputs.

Adding an assignment
--------------------
1. Reference: the function lives in ``rnncourse`` (or, if it is exercise-only, as a small
   private ``_ref_*`` function in this module), with the signature the learner will write.
2. Register it in the "specs" section at the bottom of this module::

       _register(Spec(
           name="gru_cell",                       # the name learners define
           reference="rnncourse.gru.gru_cell",    # dotted path, captured at import
           make_inputs=_cell_inputs(3),           # (rng, case) -> (args, kwargs) of NumPy values
           cases=({"N": 2, "H_in": 3, "H": 4},),  # default shapes
           backend="torch",                       # NumPy inputs become float64 tensors
           mistakes=(Mistake("reset-outside", "hint shown to the learner", variant_fn),),
       ))

   ``make_inputs`` draws from the NumPy generator it is given (never from torch's global
   RNG), so every call rebuilds identical inputs. A ``Mistake`` variant has the reference's
   signature and computes the mistaken answer. Specs may also live in their own module,
   ``rnncourse/_specs_<topic>.py``, that imports ``Spec``, ``Mistake`` (and helpers such as
   ``_cell_inputs``) from here and defines ``specs() -> list[Spec]``; this module registers
   every such module's specs at import, before it seals itself.
3. Notebook: copy an existing ``solutions/exNN_*/exNN_*.ipynb``. The first cell is a locked
   setup cell that runs ``from rnncourse import grading`` before any learner code. Solution
   cells hold ``### BEGIN SOLUTION`` / ``### END SOLUTION``; each graded test cell opens with
   a docstring question, calls ``grading.check("name", name, cases=[...])`` and ends with a
   ``### BEGIN HIDDEN TESTS`` block that re-imports the module
   (``import rnncourse.grading as _grading``) and checks other shapes and seeds.
   ``tools/nbcells.py`` builds cells with the right nbgrader metadata.
4. ``.venv/bin/ruff format solutions/`` then ``.venv/bin/python tools/release.py``
   regenerates ``exercises/`` (commit both). ``tests/test_assignments.py`` discovers the new
   assignment and checks that the solution passes every graded cell, the blank release fails
   every one and ``exercises/`` is current; ``tests/test_grading.py`` checks that every
   registered mistake is diagnosed with its own hint. Nothing else needs registering.

Tamper resistance
-----------------
The module captures, at import, the functions it compares with and the reference functions,
and snapshots the attributes of ``numpy``, ``torch``, ``torch.Tensor``,
``torch.nn.functional``, a few builtins and the ``rnncourse`` modules. Every :func:`check`
first verifies that none of them was rebound (``np.allclose = lambda *a: True``) and fails
with "the notebook rebinds numpy.allclose" if one was; assigning to this module's attributes
raises. Comparisons use the captured copies and ndarray arithmetic only. A call of the
reference from inside the learner's function is detected and refused. (Python offers no
sandbox: a determined learner who edits ``vars(grading)`` can still defeat it; graders should
read suspicious submissions.)
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import math
import sys
import types
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["Spec", "Mistake", "check", "check_mistake", "devices", "spec", "spec_names"]

# ---------------------------------------------------------------------------------------------
# tolerances (explicit; a spec may override them)
# ---------------------------------------------------------------------------------------------

#: Inputs are float64; these absorb round-off from a different order of operations.
ATOL = 1e-6
RTOL = 1e-5

# ---------------------------------------------------------------------------------------------
# private copies of everything the comparisons use, captured at import
# ---------------------------------------------------------------------------------------------

_TensorBase = getattr(torch._C, "TensorBase", None) or torch._C._TensorBase
_np_array = np.array
_np_float64 = np.float64
_np_bool = np.bool_
_np_unravel_index = np.unravel_index
_np_isfinite = np.isfinite
_default_rng = np.random.default_rng
_from_numpy = torch.from_numpy
_torch_float64 = torch.float64
_torch_int64 = torch.int64
_tb_detach = _TensorBase.detach
_tb_to = _TensorBase.to
_tb_numpy = _TensorBase.numpy
_tb_is_floating = _TensorBase.is_floating_point
_cuda_available = torch.cuda.is_available
_isinstance = builtins.isinstance
_type = builtins.type
_len = builtins.len
_repr = builtins.repr
_AssertionError = builtins.AssertionError
_setprofile = sys.setprofile
_getprofile = sys.getprofile
_getframe = sys._getframe
_catch_warnings = warnings.catch_warnings
_simplefilter = warnings.simplefilter
_Tensor = torch.Tensor
_Parameter = torch.nn.Parameter
_ndarray = np.ndarray

_REFERENCE_MODULES = (
    "rnncourse.rnn",
    "rnncourse.lstm",
    "rnncourse.gru",
    "rnncourse.bptt",
    "rnncourse.gradients",
)
_MODULES: dict[str, types.ModuleType] = {}
for _name in _REFERENCE_MODULES:
    try:
        _MODULES[_name] = importlib.import_module(_name)
    except ImportError:  # pragma: no cover - a module still being written
        pass

# Builtins the comparisons rely on; IPython swaps a few others (exit, get_ipython) per cell.
_WATCHED_BUILTINS = (
    "abs", "all", "any", "callable", "dict", "float", "getattr", "hasattr", "int", "isinstance",
    "len", "list", "max", "min", "range", "repr", "round", "sorted", "str", "sum", "tuple",
    "type", "zip", "AssertionError", "Exception", "NotImplementedError", "__import__",
)  # fmt: skip


def _namespaces() -> dict[str, Any]:
    """Label -> object whose attributes must keep their import-time values."""
    spaces: dict[str, Any] = {
        "numpy": np,
        "numpy.random": np.random,
        "numpy.linalg": np.linalg,
        "numpy.testing": np.testing,
        "torch": torch,
        "torch.Tensor": torch.Tensor,
        "torch.linalg": torch.linalg,
        "torch.testing": torch.testing,
        "torch.nn.functional": F,
        "torch.nn.utils": torch.nn.utils,
        "math": math,
        "rnncourse": sys.modules["rnncourse"],
    }
    spaces.update(_MODULES)
    return spaces


def _snapshot(space: Any) -> dict[str, Any]:
    return {
        key: value
        for key, value in vars(space).items()
        if callable(value) or _isinstance(value, types.ModuleType)
    }


_SNAPSHOTS: dict[str, dict[str, Any]] = {
    label: _snapshot(space) for label, space in _namespaces().items()
}
_SNAPSHOTS["builtins"] = {name: getattr(builtins, name) for name in _WATCHED_BUILTINS}
_SNAPSHOTS["sys"] = {"setprofile": sys.setprofile, "getprofile": sys.getprofile}
_SPACES: dict[str, Any] = {**_namespaces(), "builtins": builtins, "sys": sys}


def _is_foreign(value: Any) -> bool:
    """A callable defined in the notebook itself (``__main__``) posing as a library function."""
    return callable(value) and getattr(value, "__module__", None) == "__main__"


def _rebound() -> str | None:
    """The first watched name whose value changed since import, or ``None``."""
    for label, snapshot in _SNAPSHOTS.items():
        space = vars(_SPACES[label])
        for key, original in snapshot.items():
            if space.get(key, original) is not original or _is_foreign(original):
                return f"{label}.{key}"
    # a method added to torch.Tensor shadows the C implementation it inherits
    added = [key for key in vars(torch.Tensor) if key not in _SNAPSHOTS["torch.Tensor"]]
    for key in added:
        if callable(vars(torch.Tensor)[key]):
            return f"torch.Tensor.{key}"
    return None


# ---------------------------------------------------------------------------------------------
# specs and mistakes
# ---------------------------------------------------------------------------------------------

Case = Mapping[str, Any]
Inputs = tuple[tuple[Any, ...], dict[str, Any]]


@dataclass(frozen=True)
class Mistake:
    """A recognisable wrong answer.

    Args:
        name: a short id, used by the tests (``"no-bias"``).
        hint: what the learner is told ("the biases are missing: ...").
        variant: a function with the reference's signature that computes the mistaken answer;
            it may raise when the mistake is not expressible for some shapes.
    """

    name: str
    hint: str
    variant: Callable[..., Any]


@dataclass(frozen=True)
class Spec:
    """How to grade one learner function against its reference.

    Args:
        name: the function's name in the notebook.
        reference: dotted path of the reference (``"rnncourse.rnn.rnn_cell"``) or the
            reference itself.
        make_inputs: ``(rng, case) -> (args, kwargs)`` built from ``rng`` (a
            ``numpy.random.Generator``) only; NumPy float arrays become float64 tensors on
            each device when ``backend == "torch"``, integer arrays int64 tensors.
        cases: default cases (dicts of sizes) used when :func:`check` gets none.
        backend: ``"torch"`` (run on every device), ``"numpy"`` or ``"python"``.
        mistakes: recognisable mistakes, tried in order.
        forbidden: dotted paths of functions the learner's code may not call (the reference
            itself is always forbidden).
        atol, rtol: tolerances for this function.
    """

    name: str
    reference: str | Callable[..., Any]
    make_inputs: Callable[[np.random.Generator, Case], Inputs]
    cases: tuple[Case, ...]
    backend: str = "torch"
    mistakes: tuple[Mistake, ...] = ()
    forbidden: tuple[str, ...] = ()
    atol: float = ATOL
    rtol: float = RTOL
    # filled in at registration
    _reference: Callable[..., Any] | None = field(default=None, repr=False, compare=False)
    _forbidden_codes: frozenset = field(default=frozenset(), repr=False, compare=False)


_SPECS: dict[str, Spec] = {}


def _resolve(path: str | Callable[..., Any]) -> Callable[..., Any] | None:
    if callable(path):
        return path
    module_name, _, attr = path.rpartition(".")
    obj: Any = _MODULES.get(module_name) or sys.modules.get(module_name)
    if obj is None:  # a class attribute such as torch.nn.RNNCell.forward
        head, _, cls = module_name.rpartition(".")
        try:
            obj = getattr(importlib.import_module(head), cls)
        except (ImportError, AttributeError):
            return None
    return getattr(obj, attr, None)


def _register(s: Spec) -> None:
    ref = _resolve(s.reference)
    codes = set()
    for path in (s.reference, *s.forbidden):
        fn = _resolve(path)
        code = getattr(fn, "__code__", None)
        if code is not None:
            codes.add(code)
    object.__setattr__(s, "_reference", ref)
    object.__setattr__(s, "_forbidden_codes", frozenset(codes))
    _SPECS[s.name] = s


def spec(name: str) -> Spec:
    """The registered :class:`Spec` called ``name``."""
    if name not in _SPECS:
        raise KeyError(f"no graded function called {name!r}; known: {sorted(_SPECS)}")
    return _SPECS[name]


def spec_names() -> list[str]:
    """Names of every registered function."""
    return sorted(_SPECS)


def devices() -> list[str]:
    """Devices the torch checks run on: CPU, plus CUDA when present."""
    return ["cpu", "cuda"] if _cuda_available() else ["cpu"]


# ---------------------------------------------------------------------------------------------
# inputs and outputs
# ---------------------------------------------------------------------------------------------


def _to_backend(value: Any, backend: str, device: str) -> Any:
    if backend != "torch":
        return value
    if _isinstance(value, _ndarray):
        t = _from_numpy(_np_array(value))
        return _tb_to(t, device)
    if _isinstance(value, tuple):
        return tuple(_to_backend(v, backend, device) for v in value)
    if _isinstance(value, list):
        return [_to_backend(v, backend, device) for v in value]
    if _isinstance(value, dict):
        return {k: _to_backend(v, backend, device) for k, v in value.items()}
    return value


def _build(s: Spec, seed: int, index: int, case: Case, device: str) -> Inputs:
    """Fresh inputs for one call; identical on every call with the same arguments."""
    rng = _default_rng([seed, index])
    args, kwargs = s.make_inputs(rng, case)
    return _to_backend(args, s.backend, device), _to_backend(kwargs, s.backend, device)


def _shape_of(value: Any) -> str:
    if _isinstance(value, _Tensor | _ndarray):
        dims = tuple(value.shape)
        return "(" + ", ".join(str(d) for d in dims) + ("," if _len(dims) == 1 else "") + ")"
    if _isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_shape_of(v)}" for k, v in value.items()) + "}"
    if _isinstance(value, tuple | list):
        inner = ", ".join(_shape_of(v) for v in value)
        return f"({inner})" if _isinstance(value, tuple) else f"[{inner}]"
    if callable(value):
        return "a function"
    if value is None or _isinstance(value, bool | int | float | str):
        return _repr(value)
    return _type(value).__name__


def _describe(fn_name: str, args: tuple, kwargs: dict, device: str, backend: str) -> str:
    ref_params = []
    try:
        ref_params = list(inspect.signature(_SPECS[fn_name]._reference).parameters)
    except (TypeError, ValueError, KeyError):
        pass
    parts = []
    for i, value in enumerate(args):
        label = ref_params[i] if i < _len(ref_params) else f"arg{i}"
        parts.append(f"{label}={_shape_of(value)}")
    parts += [f"{k}={_shape_of(v)}" for k, v in kwargs.items()]
    where = f" on {device}" if backend == "torch" else ""
    return f"{fn_name}({', '.join(parts)}){where}"


def _as_array(value: Any) -> tuple[str, Any]:
    """(kind, NumPy array or Python value) for a learner's or reference output leaf."""
    if _isinstance(value, _Tensor):
        if _type(value) not in (_Tensor, _Parameter):
            return "unsupported", _type(value).__name__
        t = _tb_detach(value)
        device = str(value.device)
        t = _tb_to(t, "cpu", _torch_float64) if _tb_is_floating(t) else _tb_to(t, "cpu")
        return f"tensor:{device}", _np_array(_tb_numpy(t), copy=True)
    if _isinstance(value, _ndarray):
        return "ndarray", _np_array(value, copy=True, subok=False)
    if _isinstance(value, bool | _np_bool):
        return "bool", bool(value)
    if _isinstance(value, int | float | _np_float64) or _type(value).__module__ == "numpy":
        try:
            return "number", float(value)
        except (TypeError, ValueError):
            pass
    return "unsupported", _type(value).__name__


def _compare(expected: Any, actual: Any, path: str, atol: float, rtol: float) -> str | None:
    """``None`` if ``actual`` matches ``expected``, else a one-line description."""
    label = path or "output"
    if _isinstance(expected, dict):
        if not _isinstance(actual, dict):
            kind = _type(actual).__name__
            return f"{label}: expected a dict with keys {sorted(expected)}, got {kind}"
        missing = [k for k in expected if k not in actual]
        if missing:
            return f"{label}: missing keys {missing}"
        for key in expected:
            problem = _compare(expected[key], actual[key], f"{path}[{key!r}]", atol, rtol)
            if problem:
                return problem
        return None
    if _isinstance(expected, tuple | list):
        if not _isinstance(actual, tuple | list):
            return (
                f"{label}: expected a {_type(expected).__name__} of {_len(expected)} items, "
                f"got {_type(actual).__name__}"
            )
        if _len(actual) != _len(expected):
            return f"{label}: expected {_len(expected)} items, got {_len(actual)}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            problem = _compare(e, a, f"{path}[{i}]", atol, rtol)
            if problem:
                return problem
        return None
    e_kind, e = _as_array(expected)
    a_kind, a = _as_array(actual)
    if a_kind == "unsupported":
        return f"{label}: expected {_kind_name(e_kind)}, got an object of type {a}"
    if e_kind.startswith("tensor") and a_kind != e_kind:
        return f"{label}: expected {_kind_name(e_kind)}, got {_kind_name(a_kind)}"
    if e_kind == "ndarray" and a_kind.startswith("tensor"):
        return f"{label}: expected a NumPy array, got {_kind_name(a_kind)}"
    if e_kind in ("bool", "number"):
        if a_kind not in ("bool", "number") and not (_isinstance(a, _ndarray) and a.ndim == 0):
            return f"{label}: expected a single number, got {_kind_name(a_kind)} {_shape_of(a)}"
        a = float(a)
        e = float(e)
        if e_kind == "bool" or _isinstance(expected, int):
            return None if a == e else f"{label}: expected {expected!r}, got {actual!r}"
        if not math.isfinite(a) and math.isfinite(e):
            return f"{label}: expected {e:.6g}, got {a}"
        if abs(a - e) <= atol + rtol * abs(e):
            return None
        return f"{label}: expected {e:.6g}, got {a:.6g} (tolerance atol={atol:g}, rtol={rtol:g})"
    # arrays
    a = _np_array(a, subok=False)
    if a.shape != e.shape:
        return f"{label}: expected shape {_shape_of(e)}, got shape {_shape_of(a)}"
    if e.dtype == _np_bool or e.dtype.kind in "iu":
        if a.dtype.kind not in "biuf":
            return f"{label}: expected numbers, got dtype {a.dtype}"
        wrong = (a != e).reshape(-1)
        if not wrong.any():
            return None
        where = _np_unravel_index(int(wrong.argmax()), e.shape)
        return (
            f"{label}: {int(wrong.sum())} of {e.size} entries differ; first at index "
            f"{tuple(int(i) for i in where)}: expected {e[where]!r}, got {a[where]!r}"
        )
    a = a.astype(_np_float64)
    a_bad, e_bad = ~_np_isfinite(a), ~_np_isfinite(e)
    if (a_bad & ~e_bad).any():
        where = _np_unravel_index(int((a_bad & ~e_bad).reshape(-1).argmax()), e.shape)
        return f"{label}: contains nan/inf, first at index {tuple(int(i) for i in where)}"
    ok_e = e_bad & (a_bad)
    diff = abs(a - e)
    diff[ok_e] = 0.0
    excess = diff - (atol + rtol * abs(e))
    excess[ok_e] = -1.0
    if e.size == 0 or excess.max() <= 0:
        return None
    flat = int(diff.reshape(-1).argmax())
    where = tuple(int(i) for i in _np_unravel_index(flat, e.shape))
    return (
        f"{label}: largest error {diff[where]:.3g} at index {where}: expected "
        f"{e[where]:.6g}, got {a[where]:.6g} (tolerance atol={atol:g}, rtol={rtol:g})"
    )


def _kind_name(kind: str) -> str:
    if kind.startswith("tensor:"):
        return f"a torch tensor on {kind[7:]}"
    return {"ndarray": "a NumPy array", "number": "a number", "bool": "a bool"}.get(kind, kind)


# ---------------------------------------------------------------------------------------------
# calling the learner's code
# ---------------------------------------------------------------------------------------------


class _CallsReference(Exception):
    pass


def _call_guarded(fn: Callable[..., Any], args: tuple, kwargs: dict, forbidden: frozenset) -> Any:
    """Call ``fn`` with warnings silenced (stderr zeroes an nbgrader cell) and no reference."""
    hits: list[str] = []

    def tripwire(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code in forbidden:
            hits.append(frame.f_code.co_qualname)

    previous = _getprofile()
    with _catch_warnings():
        _simplefilter("ignore")
        _setprofile(tripwire)
        try:
            result = fn(*args, **kwargs)
        finally:
            _setprofile(previous)
    if hits:
        raise _CallsReference(hits[0])
    return result


def _fail(message: str) -> None:
    raise _AssertionError(message)


def _verify_namespace(caller_globals: Mapping[str, Any] | None) -> None:
    name = _rebound()
    if name is not None:
        _fail(
            f"the notebook rebinds {name}; grading needs the original. Remove that line, "
            "restart the kernel and run all cells again."
        )
    if caller_globals is None:
        return
    expected = {"np": np, "numpy": np, "torch": torch, "grading": sys.modules[__name__]}
    for key, module in expected.items():
        if caller_globals.get(key, module) is not module:
            _fail(f"the notebook rebinds {key}; restart the kernel and run all cells again.")


def _diagnose(s: Spec, actual: Any, seed: int, index: int, case: Case, device: str) -> str | None:
    """The hint of the first mistake whose variant reproduces ``actual``."""
    for mistake in s.mistakes:
        args, kwargs = _build(s, seed, index, case, device)
        try:
            with _catch_warnings():
                _simplefilter("ignore")
                wrong = mistake.variant(*args, **kwargs)
        except Exception:
            continue
        if _compare(wrong, actual, "", s.atol, s.rtol) is None:
            return mistake.hint
    return None


_SHAPE_ERRORS = ("shapes cannot be multiplied", "mat1 and mat2", "size mismatch", "not aligned")


def check(
    name: str,
    fn: Callable[..., Any],
    cases: Sequence[Case] | None = None,
    *,
    seed: int = 0,
    _forbid_reference: bool = True,
) -> None:
    """Check a learner's function against the reference on every case and device.

    Args:
        name: a registered function name (see :func:`spec_names`).
        fn: the learner's implementation, with the reference's signature.
        cases: dicts of sizes, e.g. ``[{"N": 2, "H_in": 3, "H": 4}]``; the spec's defaults
            if ``None``.
        seed: seeds the inputs; hidden tests use other seeds than the visible ones.

    Raises:
        AssertionError: with feedback on the first failing case.

    Examples::

        >>> from rnncourse.rnn import rnn_cell
        >>> check("rnn_cell", lambda *a: rnn_cell(*a) + 1)  # doctest: +SKIP
        AssertionError: rnn_cell is wrong for rnn_cell(x=(2, 3), ...) on cpu: ...
    """
    frame = _getframe(1)
    _verify_namespace(frame.f_globals if frame is not None else None)
    s = spec(name)
    if s._reference is None:
        _fail(f"grading: the reference for {name} is not available ({s.reference})")
    if not callable(fn):
        _fail(f"{name}: expected a function, got {_type(fn).__name__}")
    run_on = devices() if s.backend == "torch" else ["cpu"]
    for device in run_on:
        for index, case in enumerate(cases if cases is not None else s.cases):
            _check_case(s, fn, seed, index, case, device, _forbid_reference)


def _check_case(
    s: Spec,
    fn: Callable[..., Any],
    seed: int,
    index: int,
    case: Case,
    dev: str,
    forbidden: bool = True,
) -> None:
    args, kwargs = _build(s, seed, index, case, dev)
    where = _describe(s.name, args, kwargs, dev, s.backend)
    ref_args, ref_kwargs = _build(s, seed, index, case, dev)
    with _catch_warnings():
        _simplefilter("ignore")
        expected = s._reference(*ref_args, **ref_kwargs)
    try:
        actual = _call_guarded(fn, args, kwargs, s._forbidden_codes if forbidden else frozenset())
    except NotImplementedError:
        _fail(f"{s.name} is not implemented yet (it raises NotImplementedError).")
    except _CallsReference:
        _fail(
            f"{s.name} calls the reference implementation; write the computation yourself "
            f"(for {where})."
        )
    except SystemExit:
        _fail(f"{s.name} tried to exit the interpreter (sys.exit) for {where}.")
    except Exception as error:  # the learner's own error, reported with the input shapes
        hint = ""
        if any(text in str(error) for text in _SHAPE_ERRORS):
            hint = (
                "\n  Hint: a matrix product got incompatible shapes. With row vectors the "
                "book's W x is written x @ W.T; check which weight multiplies what."
            )
        _fail(f"{s.name} raised {_type(error).__name__}: {error}\n  for {where}{hint}")
    problem = _compare(expected, actual, "", s.atol, s.rtol)
    if problem is None:
        return
    _verify_namespace(None)  # the learner's function may have rebound something while running
    message = f"{s.name} is wrong for {where}:\n  {problem}"
    hint = _diagnose(s, actual, seed, index, case, dev)
    if hint:
        message += f"\n  Likely mistake: {hint}"
    _fail(message)


def check_mistake(name: str, mistake: str) -> None:
    """Assert that the registered mistake ``mistake`` of ``name`` is caught and diagnosed.

    Used by the tests: the variant must fail :func:`check` with its own hint.
    """
    s = spec(name)
    chosen = next((m for m in s.mistakes if m.name == mistake), None)
    if chosen is None:
        raise KeyError(f"{name} has no mistake {mistake!r}")
    try:
        # variants may use other references (e.g. full BPTT), so the call tripwire is off
        check(name, chosen.variant, _forbid_reference=False)
    except AssertionError as error:
        if chosen.hint not in str(error):
            raise AssertionError(f"{name}/{mistake}: wrong diagnosis:\n{error}") from None
        return
    raise AssertionError(f"{name}/{mistake}: the mistaken variant passes the check")


# ---------------------------------------------------------------------------------------------
# specs: inputs, exercise-only references and mistaken variants
# ---------------------------------------------------------------------------------------------

_rnn = _MODULES.get("rnncourse.rnn")
_bptt = _MODULES.get("rnncourse.bptt")
_linear = F.linear
_tanh, _sigmoid, _relu = torch.tanh, torch.sigmoid, torch.relu


def _weights(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    # U(-s, s) with s = 1/sqrt(H) as in torch, but wider so that mistakes move the output
    return rng.uniform(-1.0, 1.0, size=(rows, cols)) / math.sqrt(max(cols, 1)) * 1.5


def _cell_inputs(gates: int, with_cell_state: bool = False) -> Callable[..., Inputs]:
    """Inputs for ``cell(x, h or (h, c), weight_ih, weight_hh, bias_ih, bias_hh)``.

    ``case`` keys: ``N`` (``None`` for unbatched), ``H_in``, ``H``, ``bias`` (default True).
    """

    def make(rng: np.random.Generator, case: Case) -> Inputs:
        N, H_in, H = case.get("N"), case["H_in"], case["H"]
        batch = () if N is None else (N,)
        x = rng.normal(size=(*batch, H_in))
        h = rng.normal(size=(*batch, H)) * 0.5
        weight_ih = _weights(rng, gates * H, H_in)
        weight_hh = _weights(rng, gates * H, H)
        bias = case.get("bias", True)
        bias_ih = rng.normal(size=(gates * H,)) * 0.5 if bias else None
        bias_hh = rng.normal(size=(gates * H,)) * 0.5 if bias else None
        state: Any = (h, rng.normal(size=(*batch, H))) if with_cell_state else h
        return (x, state, weight_ih, weight_hh, bias_ih, bias_hh), {}

    return make


# -- vanilla RNN cell ---------------------------------------------------------------------------


def _rnn_variant(
    act: Callable = _tanh,
    transpose: str = "",
    biases: str = "ih+hh",
    use_h: bool = True,
    swap: bool = False,
) -> Callable[..., Any]:
    """A mistaken ``rnn_cell``; ``biases`` spells which biases are added (``"ih+ih"``...)."""

    def variant(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
        W_ih, W_hh = (weight_hh, weight_ih) if swap else (weight_ih, weight_hh)
        W_ih = W_ih.T if "ih" in transpose else W_ih
        W_hh = W_hh.T if "hh" in transpose else W_hh
        pre = x @ W_ih.T + (h @ W_hh.T if use_h else 0.0)
        named = {"ih": bias_ih, "hh": bias_hh}
        for part in biases.split("+") if biases else ():
            if named[part] is not None:
                pre = pre + named[part]
        return act(pre)

    return variant


def _identity(t: Any) -> Any:
    return t


_BIAS_MISSING = "a bias is missing: the step adds both b_ih and b_hh."
_RNN_MISTAKES = (
    Mistake("transposed-weights", "the weights are transposed: with row vectors the book's "
            "W_ih x_t is x @ W_ih.T (W_ih has shape (H, H_in)).",
            _rnn_variant(transpose="ih+hh")),
    Mistake("transposed-weight-hh", "W_hh is transposed: the recurrent term is h @ W_hh.T.",
            _rnn_variant(transpose="hh")),
    Mistake("swapped-weights", "W_ih and W_hh are swapped: W_ih multiplies the input x_t and "
            "W_hh the previous state h_{t-1}.", _rnn_variant(swap=True)),
    Mistake("no-bias", "the biases are missing: add b_ih and b_hh.", _rnn_variant(biases="")),
    Mistake("missing-bias-hh", _BIAS_MISSING, _rnn_variant(biases="ih")),
    Mistake("missing-bias-ih", _BIAS_MISSING, _rnn_variant(biases="hh")),
    Mistake("bias-ih-twice", "b_ih is added twice and b_hh not at all.",
            _rnn_variant(biases="ih+ih")),
    Mistake("doubled-bias", "the biases are added twice: each of b_ih and b_hh appears once.",
            _rnn_variant(biases="ih+hh+ih+hh")),
    Mistake("hidden-ignored", "the previous hidden state h_{t-1} is not used: add W_hh h_{t-1}.",
            _rnn_variant(use_h=False)),
    Mistake("sigmoid", "sigmoid where tanh belongs: h_t = tanh(...).",
            _rnn_variant(act=_sigmoid)),
    Mistake("relu", "relu where tanh belongs: h_t = tanh(...).", _rnn_variant(act=_relu)),
    Mistake("no-tanh", "the tanh is missing: h_t = tanh(pre-activation).",
            _rnn_variant(act=_identity)),
)  # fmt: skip

_CELL_CASES = (
    {"N": 3, "H_in": 4, "H": 4},  # square first, so that transposed weights are diagnosable
    {"N": 2, "H_in": 3, "H": 5},
    {"N": 1, "H_in": 2, "H": 1},
)

# -- LSTM and GRU cells (chapter 7) ----------------------------------------------------------------


def _lstm_variant(
    order: str = "ifgo",
    act_g: Callable = _tanh,
    act_c: Callable = _tanh,
    forget: bool = True,
    old_c_out: bool = False,
    biases: bool = True,
) -> Callable[..., Any]:
    """A mistaken ``lstm_cell``: ``order`` names the gate each chunk is read as."""

    def variant(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
        h, c = state
        gates = _linear(x, weight_ih, bias_ih if biases else None) + _linear(
            h, weight_hh, bias_hh if biases else None
        )
        chunks = dict(zip(order, gates.chunk(4, dim=-1), strict=True))
        i, f, o = _sigmoid(chunks["i"]), _sigmoid(chunks["f"]), _sigmoid(chunks["o"])
        g = act_g(chunks["g"])
        c_new = (f * c if forget else c) + i * g
        h_new = o * act_c(c if old_c_out else c_new)
        return h_new, c_new

    return variant


def _lstm_mistakes() -> tuple[Mistake, ...]:
    import itertools

    found = []
    for perm in itertools.permutations("ifgo"):
        order = "".join(perm)
        if order == "ifgo":
            continue
        found.append(
            Mistake(
                f"gate-order-{order}",
                f"the gates are in the wrong order: your code reads the four chunks of the "
                f"stacked weights as {', '.join(order)}; PyTorch's order is i, f, g, o.",
                _lstm_variant(order=order),
            )
        )
    found += [
        Mistake("g-sigmoid", "sigmoid and tanh are swapped: the candidate g_t uses tanh, the "
                "gates i, f, o use sigmoid.", _lstm_variant(act_g=_sigmoid)),
        Mistake("h-no-tanh", "h_t = o_t ⊙ tanh(c_t): the tanh of the cell state is missing.",
                _lstm_variant(act_c=_identity)),
        Mistake("no-forget", "the forget gate is not applied: c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t.",
                _lstm_variant(forget=False)),
        Mistake("old-cell-state", "h_t must use the new cell state c_t, not c_{t-1}.",
                _lstm_variant(old_c_out=True)),
        Mistake("no-bias", "the biases are missing: add b_ih and b_hh.",
                _lstm_variant(biases=False)),
    ]  # fmt: skip
    return tuple(found)


def _gru_variant(
    order: str = "rzn",
    reset: str = "inside",
    update_flipped: bool = False,
    act_n: Callable = _tanh,
) -> Callable[..., Any]:
    """A mistaken ``gru_cell``; ``reset`` is where r_t is applied."""

    def variant(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
        xw = dict(zip(order, _linear(x, weight_ih, bias_ih).chunk(3, dim=-1), strict=True))
        W = dict(zip(order, weight_hh.chunk(3, dim=0), strict=True))
        b = dict(zip(order, bias_hh.chunk(3) if bias_hh is not None else (None,) * 3, strict=True))
        r = _sigmoid(xw["r"] + _linear(h, W["r"], b["r"]))
        z = _sigmoid(xw["z"] + _linear(h, W["z"], b["z"]))
        b_n = b["n"] if b["n"] is not None else 0.0
        if reset == "inside":  # PyTorch: r ⊙ (W_hn h + b_hn)
            n = act_n(xw["n"] + r * (_linear(h, W["n"]) + b_n))
        elif reset == "outside-bias":  # r ⊙ (W_hn h) + b_hn
            n = act_n(xw["n"] + r * _linear(h, W["n"]) + b_n)
        elif reset == "before":  # Cho et al.: W_hn (r ⊙ h) + b_hn
            n = act_n(xw["n"] + _linear(r * h, W["n"]) + b_n)
        else:  # no reset at all
            n = act_n(xw["n"] + _linear(h, W["n"]) + b_n)
        return z * n + (1 - z) * h if update_flipped else (1 - z) * n + z * h

    return variant


def _gru_mistakes() -> tuple[Mistake, ...]:
    import itertools

    found = [
        Mistake("reset-outside-bias", "the reset gate is applied in the wrong place: PyTorch "
                "computes n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn)); your b_hn "
                "is outside the product with r_t.", _gru_variant(reset="outside-bias")),
        Mistake("reset-before", "the reset gate is applied in the wrong place: you reset h_{t-1} "
                "before multiplying by W_hn (Cho et al.'s version); PyTorch multiplies r_t with "
                "(W_hn h_{t-1} + b_hn).", _gru_variant(reset="before")),
        Mistake("no-reset", "the reset gate r_t is not used in the candidate n_t.",
                _gru_variant(reset="none")),
        Mistake("update-flipped", "the update gate is flipped: h_t = (1 - z_t) ⊙ n_t + "
                "z_t ⊙ h_{t-1}.", _gru_variant(update_flipped=True)),
        Mistake("n-sigmoid", "sigmoid and tanh are swapped: the candidate n_t uses tanh.",
                _gru_variant(act_n=_sigmoid)),
    ]  # fmt: skip
    for perm in itertools.permutations("rzn"):
        order = "".join(perm)
        if order != "rzn":
            found.append(
                Mistake(
                    f"gate-order-{order}",
                    f"the gates are in the wrong order: your code reads the three chunks as "
                    f"{', '.join(order)}; PyTorch's order is r, z, n.",
                    _gru_variant(order=order),
                )
            )
    return tuple(found)


# -- ex02: output layer and parameter count ---------------------------------------------------


def _ref_output_layer(h: torch.Tensor, weight_hy: torch.Tensor, bias_y: torch.Tensor):
    # y = W_hy h + b_y, for any leading shape of h
    return _linear(h, weight_hy, bias_y)


def _output_layer_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    lead = tuple(case.get("lead", (2,)))
    H, H_out = case["H"], case["H_out"]
    h = np.tanh(rng.normal(size=(*lead, H)))
    return (h, _weights(rng, H_out, H), rng.normal(size=(H_out,))), {}


def _ref_count_parameters(input_size: int, hidden_size: int, output_size: int) -> int:
    # W_ih, W_hh, b_ih, b_hh, then W_hy, b_y
    H = hidden_size
    return H * input_size + H * H + 2 * H + output_size * H + output_size


def _count_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    return (int(case["H_in"]), int(case["H"]), int(case["H_out"])), {}


def _count_variant(drop: str) -> Callable[..., int]:
    def variant(input_size: int, hidden_size: int, output_size: int) -> int:
        H = hidden_size
        parts = {
            "W_ih": H * input_size,
            "W_hh": H * H,
            "b_ih": H,
            "b_hh": H,
            "W_hy": output_size * H,
            "b_y": output_size,
        }
        for name in drop.split("+"):
            parts.pop(name)
        return sum(parts.values())

    return variant


# -- ex03: unrolling ---------------------------------------------------------------------------


def _ref_rnn_forward(x: torch.Tensor, h_0: torch.Tensor | None, params: dict):
    # h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) for t = 1..T
    cell = _rnn.rnn_cell
    h = x.new_zeros(x.shape[1], params["weight_hh"].shape[0]) if h_0 is None else h_0
    outputs = []
    for t in range(x.shape[0]):
        h = cell(x[t], h, params["weight_ih"], params["weight_hh"],
                 params.get("bias_ih"), params.get("bias_hh"))  # fmt: skip
        outputs.append(h)
    return torch.stack(outputs), h  # (T, N, H), (N, H)


def _forward_variant(kind: str) -> Callable[..., Any]:
    def variant(x, h_0, params):
        cell = _rnn.rnn_cell
        W = (params["weight_ih"], params["weight_hh"], params.get("bias_ih"), params.get("bias_hh"))
        start = x.new_zeros(x.shape[1], W[1].shape[0]) if h_0 is None else h_0
        h, outputs = start, []
        steps = range(x.shape[0] - 1, -1, -1) if kind == "reversed" else range(x.shape[0])
        for t in steps:
            new = cell(x[t], start if kind == "not-carried" else h, *W)
            outputs.append(h if kind == "shifted" else new)
            h = new
        output = torch.stack(outputs)
        return output, (output[0] if kind == "h_n-first" else h)

    return variant


def _sequence_inputs(rng: np.random.Generator, case: Case) -> tuple[np.ndarray, ...]:
    T, N, H_in, H = case["T"], case["N"], case["H_in"], case["H"]
    x = rng.normal(size=(T, N, H_in))
    h_0 = None if case.get("h_0") is False else rng.normal(size=(N, H)) * 0.5
    params = {
        "weight_ih": _weights(rng, H, H_in),
        "weight_hh": _weights(rng, H, H),
        "bias_ih": rng.normal(size=(H,)) * 0.5,
        "bias_hh": rng.normal(size=(H,)) * 0.5,
    }
    return x, h_0, params


def _rnn_forward_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    return _sequence_inputs(rng, case), {}


def _ref_many_to_one(x, h_0, params, weight_hy, bias_y):
    # y = W_hy h_T + b_y
    _, h_n = _ref_rnn_forward(x, h_0, params)
    return _linear(h_n, weight_hy, bias_y)  # (N, H_out)


def _many_to_one_variant(kind: str) -> Callable[..., Any]:
    def variant(x, h_0, params, weight_hy, bias_y):
        output, h_n = _ref_rnn_forward(x, h_0, params)
        h = {"first": output[0], "mean": output.mean(0), "no-bias": h_n}[kind]
        return _linear(h, weight_hy, None if kind == "no-bias" else bias_y)

    return variant


def _many_to_one_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    x, h_0, params = _sequence_inputs(rng, case)
    H_out = case["H_out"]
    return (x, h_0, params, _weights(rng, H_out, case["H"]), rng.normal(size=(H_out,))), {}


def _ref_last_hidden(output: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    # h_last[n] = output[lengths[n] - 1, n]
    batch = torch.arange(output.shape[1], device=output.device)
    return output[lengths - 1, batch]  # (N, H)


def _last_hidden_variant(kind: str) -> Callable[..., Any]:
    def variant(output, lengths):
        batch = torch.arange(output.shape[1], device=output.device)
        if kind == "ignored":
            return output[-1]
        if kind == "first":
            return output[0]
        return output[lengths.clamp(max=output.shape[0] - 1), batch]  # off by one

    return variant


def _last_hidden_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    T, N, H = case["T"], case["N"], case["H"]
    output = np.tanh(rng.normal(size=(T, N, H)))
    lengths = rng.integers(1, T + 1, size=N)
    lengths[0] = T  # one full-length sequence and, if possible, one of length 1
    if N > 1:
        lengths[-1] = 1
    return (output, lengths.astype(np.int64)), {}


# -- ex04: BPTT in NumPy -------------------------------------------------------------------------


def _bptt_problem(rng: np.random.Generator, case: Case) -> tuple[dict, dict]:
    T, N, H_in, H, H_out = case["T"], case["N"], case["H_in"], case["H"], case["H_out"]
    params = {
        "weight_ih": _weights(rng, H, H_in),
        "weight_hh": _weights(rng, H, H),
        "bias_ih": rng.normal(size=(H,)) * 0.3,
        "bias_hh": rng.normal(size=(H,)) * 0.3,
        "weight_hy": _weights(rng, H_out, H),
        "bias_y": rng.normal(size=(H_out,)) * 0.3,
    }
    x = rng.normal(size=(T, N, H_in))
    h_0 = rng.normal(size=(N, H)) * 0.5
    targets = rng.normal(size=(T, N, H_out))
    _, cache = _bptt.rnn_forward(params, x, h_0, targets, "mse")
    return params, cache


def _rnn_backward_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    params, cache = _bptt_problem(rng, case)
    T, N = case["T"], case["N"]
    kwargs: dict[str, Any] = {}
    if case.get("dy"):
        kwargs["dy"] = rng.normal(size=(T, N, case["H_out"]))
    if case.get("dh_T"):
        kwargs["dh_T"] = rng.normal(size=(N, case["H"]))
    return (params, cache), kwargs


def _bptt_variant(kind: str) -> Callable[..., Any]:
    """A mistaken ``rnn_backward`` (mse loss or given ``dy``)."""

    def variant(params, cache, dy=None, dh_T=None):
        x, h_0, h, pre = cache["x"], cache["h_0"], cache["h"], cache["pre"]
        dy = cache["y"] - cache["targets"] if dy is None else dy
        W_hh, W_hy = params["weight_hh"], params["weight_hy"]
        T, N, H = h.shape
        grads = {name: np.zeros_like(value) for name, value in params.items()}
        grads["weight_hy"] = np.einsum("tno,tnh->oh", dy, h)
        grads["bias_y"] = dy.sum(axis=(0, 1))
        dh = np.zeros_like(h)
        dh_next = np.zeros((N, H)) if dh_T is None else dh_T
        for t in reversed(range(T)):
            h_prev = h[t - 1] if t > 0 else h_0
            dh[t] = dy[t] @ W_hy + (0.0 if kind == "no-recurrence" else dh_next)
            local = 1 - (pre[t] ** 2 if kind == "tanh-of-pre" else h[t] ** 2)
            dpre = local * dh[t]
            paired = h[t] if kind == "h-not-h-prev" else h_prev
            terms = {
                "weight_ih": dpre.T @ x[t],
                "weight_hh": dpre.T @ paired,
                "bias_ih": dpre.sum(axis=0),
                "bias_hh": dpre.sum(axis=0),
            }
            for name, term in terms.items():
                grads[name] = term if kind == "not-accumulated" else grads[name] + term
            dh_next = dpre @ W_hh
        grads["h_0"] = dh_next
        return grads, dh

    return variant


def _truncated_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    params, cache = _bptt_problem(rng, case)
    return (params, cache, int(case["k"])), {}


def _truncated_variant(kind: str) -> Callable[..., Any]:
    def variant(params, cache, k, dy=None):
        if kind == "full":
            grads, _ = _bptt.rnn_backward(params, cache, dy)
            return grads
        if kind == "chunked":
            targets = cache["targets"]
            h_0 = cache["h_0"]
            _, grads, _ = _bptt.chunked_bptt_grads(params, cache["x"], targets, k, h_0)
            return grads
        shift = 1 if kind == "k+1" else -1
        return _bptt.truncated_bptt_grads(params, cache, k + shift, dy)

    return variant


def _numgrad_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    param = rng.normal(size=tuple(case["shape"]))
    M = rng.normal(size=(3, param.size))

    def f() -> float:
        # a smooth scalar function of param that couples its entries, with sizeable curvature
        p = param.reshape(-1)
        return float(np.tanh(M @ p).sum() + 0.5 * (p**3).sum())

    return (f, param), {"eps": case.get("eps", 1e-4)}


def _numgrad_variant(kind: str) -> Callable[..., Any]:
    def variant(f, param, eps=1e-6):
        grad = np.zeros_like(param)
        for idx in np.ndindex(param.shape):
            old = param[idx]
            param[idx] = old + eps
            f_plus = f()
            param[idx] = old if kind == "forward" else old - eps
            f_minus = f()
            if kind != "no-restore":
                param[idx] = old
            grad[idx] = (f_plus - f_minus) / (eps if kind in ("forward", "one-eps") else 2 * eps)
        return grad

    return variant


def _rel_error_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    a = rng.normal(size=tuple(case["shape"]))
    b = a + rng.normal(size=a.shape) * case.get("noise", 1e-3)
    return (a, b), {}


def _rel_error_variant(kind: str) -> Callable[..., float]:
    def variant(a, b):
        if kind == "elementwise":
            return float((abs(a - b) / (abs(a) + abs(b) + 1e-300)).max())
        return float(abs(a - b).max() / abs(a).max())

    return variant


# -- ex05: gradients --------------------------------------------------------------------------


def _jacobian_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    T, H = case["T"], case["H"]
    h = np.tanh(rng.normal(size=(T, H)))
    weight_hh = rng.normal(size=(H, H)) * case.get("scale", 1.0) / math.sqrt(H)
    return (h, weight_hh, int(case["t"]), int(case["k"])), {}


def _jacobian_variant(kind: str) -> Callable[..., Any]:
    def variant(h, weight_hh, t, k):
        J = torch.eye(weight_hh.shape[0], dtype=weight_hh.dtype, device=weight_hh.device)
        for j in range(k + 1, t + 1):
            d = 1 - h[j - 1] ** 2  # (H,)
            if kind == "no-derivative":
                step = weight_hh
            elif kind == "transposed":
                step = d[:, None] * weight_hh.T
            elif kind == "diag-right":
                step = weight_hh * d[None, :]
            else:
                step = d[:, None] * weight_hh
            J = J @ step if kind == "reversed" else step @ J
        return J

    return variant


def _jacobian_norms_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    t = case.get("t")
    (h, weight_hh, _, _), _ = _jacobian_inputs(rng, {**case, "t": case["T"], "k": 0})
    kwargs = {} if case.get("ord") is None else {"ord": case["ord"]}
    return (h, weight_hh, t), kwargs


def _jacobian_norms_variant(kind: str) -> Callable[..., Any]:
    def variant(h, weight_hh, t=None, ord=2):
        t = h.shape[0] if t is None else t
        step = _jacobian_variant("")
        norms = [
            float(
                torch.linalg.matrix_norm(
                    step(h, weight_hh, t, k), ord="fro" if kind == "frobenius" else ord
                )
            )
            for k in range(t + 1)
        ]
        return np.array(norms[::-1] if kind == "reversed" else norms)

    return variant


def _grads_inputs(rng: np.random.Generator, case: Case) -> dict[str, np.ndarray]:
    scale = case.get("scale", 1.0)
    return {
        "weight_ih": rng.normal(size=(4, 3)) * scale,
        "weight_hh": rng.normal(size=(4, 4)) * scale,
        "bias": rng.normal(size=(4,)) * scale,
    }


def _clip_norm_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    kwargs = {} if case.get("norm_type") is None else {"norm_type": case["norm_type"]}
    return (_grads_inputs(rng, case), float(case["max_norm"])), kwargs


def _joint_norm(arrays: list[np.ndarray], p: float) -> float:
    flat = np.concatenate([a.ravel() for a in arrays])
    return float(abs(flat).max()) if p == math.inf else float((abs(flat) ** p).sum() ** (1 / p))


def _clip_norm_variant(kind: str) -> Callable[..., Any]:
    def variant(grads, max_norm, norm_type=2.0):
        total = _joint_norm(list(grads.values()), float(norm_type))
        clipped = {}
        for name, g in grads.items():
            if kind == "by-value":
                clipped[name] = np.clip(g, -max_norm, max_norm)
            elif kind == "per-tensor":
                own = _joint_norm([g], float(norm_type))
                clipped[name] = g * min(1.0, max_norm / (own + 1e-6))
            else:  # always rescale
                clipped[name] = g * max_norm / (total + 1e-6)
        return clipped, total

    return variant


def _clip_value_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    return (_grads_inputs(rng, case), float(case["clip_value"])), {}


def _clip_value_variant(kind: str) -> Callable[..., Any]:
    def variant(grads, clip_value):
        if kind == "one-sided":
            return {name: np.minimum(g, clip_value) for name, g in grads.items()}
        total = _joint_norm(list(grads.values()), 2.0)
        coef = min(1.0, clip_value / (total + 1e-6))
        return {name: g * coef for name, g in grads.items()}

    return variant


def _ref_flag_exploding(grad_norms: np.ndarray, threshold: float) -> np.ndarray:
    # a run explodes if some step's norm is above the threshold or not finite (nan, inf)
    bad = ~np.isfinite(grad_norms) | (grad_norms > threshold)  # (R, T)
    return bad.any(axis=1)  # (R,)


def _flag_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    R, T = case["R"], case["T"]
    norms = np.exp(rng.normal(size=(R, T)))  # well-behaved runs around 1
    growth = np.exp(np.linspace(0.0, 8.0, T))  # an exploding run grows ~e^8 ≈ 3000×
    norms[0] *= growth  # explodes
    if R > 1:
        norms[1, T // 2 :] = np.nan  # blew up to nan half-way
    if R > 2:
        norms[2, T // 2] *= growth[-1]  # one spike, then recovers
    if R > 3:
        norms[3, -2:] = np.inf
    return (norms, float(case.get("threshold", 100.0))), {}


def _flag_variant(kind: str) -> Callable[..., Any]:
    def variant(grad_norms, threshold):
        if kind == "nan-missed":
            return (grad_norms > threshold).any(axis=1)
        last = grad_norms[:, -1]
        return ~np.isfinite(last) | (last > threshold)

    return variant


# -- the registry ------------------------------------------------------------------------------

_register(
    Spec(
        "rnn_cell",
        "rnncourse.rnn.rnn_cell",
        _cell_inputs(1),
        _CELL_CASES,
        mistakes=_RNN_MISTAKES,
        forbidden=("rnncourse.rnn.rnn_step", "torch.nn.RNNCell.forward"),
    )
)
_register(
    Spec(
        "lstm_cell",
        "rnncourse.lstm.lstm_cell",
        _cell_inputs(4, True),
        _CELL_CASES,
        mistakes=_lstm_mistakes(),
        forbidden=("rnncourse.lstm.lstm_step", "torch.nn.LSTMCell.forward"),
    )
)
_register(
    Spec(
        "gru_cell",
        "rnncourse.gru.gru_cell",
        _cell_inputs(3),
        _CELL_CASES,
        mistakes=_gru_mistakes(),
        forbidden=("rnncourse.gru.gru_step", "torch.nn.GRUCell.forward"),
    )
)
_register(
    Spec(
        "output_layer",
        _ref_output_layer,
        _output_layer_inputs,
        ({"lead": (3,), "H": 4, "H_out": 4}, {"lead": (5, 2), "H": 3, "H_out": 2}),
        mistakes=(
            Mistake(
                "transposed", "W_hy is transposed: y = h @ W_hy.T + b_y.", lambda h, w, b: h @ w + b
            ),
            Mistake("no-bias", "the bias b_y is missing.", lambda h, w, b: h @ w.T),
            Mistake(
                "tanh",
                "the output layer is linear: y = W_hy h + b_y, no tanh.",
                lambda h, w, b: _tanh(h @ w.T + b),
            ),
        ),
    )
)
_register(
    Spec(
        "count_parameters",
        _ref_count_parameters,
        _count_inputs,
        ({"H_in": 3, "H": 4, "H_out": 3}, {"H_in": 10, "H": 20, "H_out": 4}),
        backend="python",
        mistakes=(
            Mistake(
                "one-bias", "count both biases b_ih and b_hh (H each).", _count_variant("b_hh")
            ),
            Mistake(
                "no-biases",
                "the biases are parameters too (b_ih, b_hh, b_y).",
                _count_variant("b_ih+b_hh+b_y"),
            ),
            Mistake(
                "no-output-layer",
                "count the output layer too (W_hy and b_y).",
                _count_variant("W_hy+b_y"),
            ),
            Mistake(
                "no-recurrent", "count the recurrent weights W_hh (H × H).", _count_variant("W_hh")
            ),
        ),
    )
)
_register(
    Spec(
        "rnn_forward",
        _ref_rnn_forward,
        _rnn_forward_inputs,
        ({"T": 4, "N": 2, "H_in": 3, "H": 5}, {"T": 1, "N": 1, "H_in": 2, "H": 3}),
        mistakes=(
            Mistake(
                "not-carried",
                "the hidden state is not carried between steps: "
                "step t must start from h_{t-1}, not from h_0.",
                _forward_variant("not-carried"),
            ),
            Mistake(
                "shifted",
                "output is shifted by one step: output[t] is the state "
                "*after* reading x[t] (h_1..h_T), not before.",
                _forward_variant("shifted"),
            ),
            Mistake(
                "h_n-first",
                "h_n is the state after the *last* step.",
                _forward_variant("h_n-first"),
            ),
            Mistake(
                "reversed",
                "the sequence is read backwards: t runs 0, 1, ..., T-1.",
                _forward_variant("reversed"),
            ),
        ),
        forbidden=("rnncourse.rnn.RNN.forward", "torch.nn.RNN.forward"),
    )
)
_register(
    Spec(
        "many_to_one",
        _ref_many_to_one,
        _many_to_one_inputs,
        ({"T": 4, "N": 3, "H_in": 3, "H": 5, "H_out": 2},),
        mistakes=(
            Mistake(
                "first",
                "the readout uses the first hidden state; many-to-one reads the last one, h_T.",
                _many_to_one_variant("first"),
            ),
            Mistake(
                "mean",
                "the readout averages the hidden states; it reads h_T only.",
                _many_to_one_variant("mean"),
            ),
            Mistake("no-bias", "the bias b_y is missing.", _many_to_one_variant("no-bias")),
        ),
        forbidden=("rnncourse.rnn.RNN.forward", "torch.nn.RNN.forward"),
    )
)
_register(
    Spec(
        "last_hidden",
        _ref_last_hidden,
        _last_hidden_inputs,
        ({"T": 5, "N": 4, "H": 3}, {"T": 3, "N": 2, "H": 2}),
        mistakes=(
            Mistake(
                "ignored",
                "the lengths are ignored: a sequence of length L ends at "
                "output[L - 1], not at the last padded step.",
                _last_hidden_variant("ignored"),
            ),
            Mistake(
                "off-by-one",
                "off by one: a sequence of length L ends at index L - 1.",
                _last_hidden_variant("off-by-one"),
            ),
            Mistake(
                "first",
                "this is the first step; take the last *valid* step.",
                _last_hidden_variant("first"),
            ),
        ),
    )
)
_register(
    Spec(
        "numerical_gradient",
        "rnncourse.bptt.numerical_gradient",
        _numgrad_inputs,
        ({"shape": (3, 2)}, {"shape": (4,), "eps": 1e-3}),
        backend="numpy",
        atol=1e-7,
        rtol=1e-6,
        mistakes=(
            Mistake(
                "forward",
                "this is a forward difference (f(θ+ε) - f(θ))/ε; the "
                "central difference (f(θ+ε) - f(θ-ε))/(2ε) is much more accurate.",
                _numgrad_variant("forward"),
            ),
            Mistake(
                "one-eps",
                "divide the central difference by 2ε, not ε.",
                _numgrad_variant("one-eps"),
            ),
            Mistake(
                "no-restore",
                "each entry must be restored to its old value after nudging it.",
                _numgrad_variant("no-restore"),
            ),
        ),
    )
)
_register(
    Spec(
        "rel_error",
        "rnncourse.bptt.rel_error",
        _rel_error_inputs,
        ({"shape": (3, 4)}, {"shape": (5,), "noise": 1e-7}),
        backend="numpy",
        atol=1e-12,
        rtol=1e-6,
        mistakes=(
            Mistake(
                "elementwise",
                "use one scale for the whole array: max|a - b| "
                "divided by max(|a| + |b|), not an element-wise ratio.",
                _rel_error_variant("elementwise"),
            ),
            Mistake(
                "scale-a", "the scale is max(|a| + |b|), not max|a|.", _rel_error_variant("scale-a")
            ),
        ),
    )
)
_BPTT_CASES = (
    {"T": 4, "N": 2, "H_in": 3, "H": 4, "H_out": 2},
    {"T": 1, "N": 1, "H_in": 2, "H": 3, "H_out": 1},
)
_register(
    Spec(
        "rnn_backward",
        "rnncourse.bptt.rnn_backward",
        _rnn_backward_inputs,
        _BPTT_CASES,
        backend="numpy",
        mistakes=(
            Mistake(
                "not-accumulated",
                "gradients are not accumulated over time: the "
                "weights are shared by every step, so dL/dW sums the contributions "
                "of all steps (+=, not =).",
                _bptt_variant("not-accumulated"),
            ),
            Mistake(
                "no-recurrence",
                "the gradient does not flow back through time: "
                "dL/dh_t also receives W_hhᵀ dL/da_{t+1} from the next step.",
                _bptt_variant("no-recurrence"),
            ),
            Mistake(
                "tanh-of-pre",
                "the tanh derivative is 1 - h_t² (h_t = tanh(a_t)), not 1 - a_t².",
                _bptt_variant("tanh-of-pre"),
            ),
            Mistake(
                "h-not-h-prev",
                "dL/dW_hh pairs dL/da_t with the previous state h_{t-1}, not h_t.",
                _bptt_variant("h-not-h-prev"),
            ),
        ),
        forbidden=("rnncourse.bptt.truncated_bptt_grads",),
    )
)
_register(
    Spec(
        "truncated_bptt_grads",
        "rnncourse.bptt.truncated_bptt_grads",
        _truncated_inputs,
        (
            {"T": 5, "N": 2, "H_in": 2, "H": 3, "H_out": 2, "k": 2},
            {"T": 4, "N": 1, "H_in": 2, "H": 2, "H_out": 1, "k": 3},
        ),
        backend="numpy",
        mistakes=(
            Mistake(
                "full",
                "the truncation is ignored: each L_t may flow back through at "
                "most k hidden states.",
                _truncated_variant("full"),
            ),
            Mistake(
                "k+1",
                "off by one: L_t reaches h_t, ..., h_{t-k+1}, which is k hidden states, not k + 1.",
                _truncated_variant("k+1"),
            ),
            Mistake(
                "k-1",
                "off by one: L_t reaches h_t, ..., h_{t-k+1}, which is k hidden states, not k - 1.",
                _truncated_variant("k-1"),
            ),
            Mistake(
                "chunked",
                "this cuts the sequence into chunks of k steps; here every "
                "L_t looks back k steps from its own t.",
                _truncated_variant("chunked"),
            ),
        ),
        forbidden=("rnncourse.bptt.rnn_backward", "rnncourse.bptt.chunked_bptt_grads"),
    )
)
_register(
    Spec(
        "jacobian_product",
        "rnncourse.gradients.jacobian_product",
        _jacobian_inputs,
        (
            {"T": 5, "H": 3, "t": 4, "k": 1},
            {"T": 3, "H": 2, "t": 3, "k": 0},
            {"T": 2, "H": 2, "t": 1, "k": 1},
        ),
        mistakes=(
            Mistake(
                "no-derivative",
                "the tanh derivative is missing: each step "
                "contributes diag(1 - h_j²) W_hh, not W_hh alone.",
                _jacobian_variant("no-derivative"),
            ),
            Mistake(
                "reversed",
                "the product is in the wrong order: the latest step is on "
                "the left, D_t W_hh ... D_{k+1} W_hh.",
                _jacobian_variant("reversed"),
            ),
            Mistake(
                "transposed",
                "W_hh is transposed: ∂h_j/∂h_{j-1} = diag(1 - h_j²) W_hh.",
                _jacobian_variant("transposed"),
            ),
            Mistake(
                "diag-right",
                "diag(1 - h_j²) multiplies W_hh from the left (it scales rows, not columns).",
                _jacobian_variant("diag-right"),
            ),
        ),
    )
)
_register(
    Spec(
        "jacobian_norms",
        "rnncourse.gradients.jacobian_norms",
        _jacobian_norms_inputs,
        ({"T": 5, "H": 3, "t": 4}, {"T": 3, "H": 2, "t": None, "ord": "fro"}),
        mistakes=(
            Mistake(
                "frobenius",
                "ord=2 is the spectral norm (largest singular value), not the Frobenius norm.",
                _jacobian_norms_variant("frobenius"),
            ),
            Mistake(
                "reversed",
                "entry k is ‖∂h_t/∂h_k‖, so norms[t] is the identity's "
                "norm; yours are in reverse order.",
                _jacobian_norms_variant("reversed"),
            ),
        ),
        forbidden=("rnncourse.gradients.jacobian_product",),
    )
)
_register(
    Spec(
        "clip_grad_norm_np",
        "rnncourse.gradients.clip_grad_norm_np",
        _clip_norm_inputs,
        ({"max_norm": 1.0}, {"max_norm": 100.0}, {"max_norm": 0.5, "norm_type": math.inf}),
        backend="numpy",
        mistakes=(
            Mistake(
                "by-value",
                "this clips by value instead of by norm: scale every "
                "gradient by the same factor min(1, max_norm / ‖g‖) so the direction "
                "is kept.",
                _clip_norm_variant("by-value"),
            ),
            Mistake(
                "per-tensor",
                "each gradient is clipped by its own norm; use the joint "
                "norm of all gradients together.",
                _clip_norm_variant("per-tensor"),
            ),
            Mistake(
                "always",
                "gradients whose joint norm is already below max_norm must "
                "stay unchanged: the factor is min(1, max_norm / ‖g‖).",
                _clip_norm_variant("always"),
            ),
        ),
    )
)
_register(
    Spec(
        "clip_grad_value_np",
        "rnncourse.gradients.clip_grad_value_np",
        _clip_value_inputs,
        ({"clip_value": 0.5}, {"clip_value": 10.0, "scale": 0.1}),
        backend="numpy",
        mistakes=(
            Mistake(
                "by-norm",
                "this clips by norm instead of by value: clamp every entry "
                "into [-c, c] on its own.",
                _clip_value_variant("by-norm"),
            ),
            Mistake(
                "one-sided",
                "only the upper side is clamped; entries below -c must become -c.",
                _clip_value_variant("one-sided"),
            ),
        ),
    )
)
_register(
    Spec(
        "flag_exploding",
        _ref_flag_exploding,
        _flag_inputs,
        ({"R": 5, "T": 8}, {"R": 2, "T": 4, "threshold": 10.0}),
        backend="numpy",
        mistakes=(
            Mistake(
                "nan-missed",
                "runs whose norms became nan are not flagged: "
                "nan > threshold is False, so test np.isfinite too.",
                _flag_variant("nan-missed"),
            ),
            Mistake(
                "last-only",
                "only the last step is examined; a run explodes if any "
                "step's norm is too large or not finite.",
                _flag_variant("last-only"),
            ),
        ),
    )
)


# -- specs kept in other modules: rnncourse/_specs_<topic>.py with `specs() -> list[Spec]` ------


def _load_spec_modules() -> None:
    """Register the specs of every ``rnncourse._specs_*`` module (before the module is sealed)."""
    import pkgutil

    package = sys.modules["rnncourse"]
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_specs_"):
            module = importlib.import_module(f"rnncourse.{info.name}")
            for extra in module.specs():
                _register(extra)
            _SNAPSHOTS[module.__name__] = _snapshot(module)
            _SPACES[module.__name__] = module


_load_spec_modules()


# ---------------------------------------------------------------------------------------------
# read-only module: `grading.check = lambda *a: None` raises
# ---------------------------------------------------------------------------------------------

_OWN_SNAPSHOT = dict(vars(sys.modules[__name__]))


class _ReadOnlyModule(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"rnncourse.grading is read-only; the notebook may not rebind {name}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"rnncourse.grading is read-only; the notebook may not delete {name}")


sys.modules[__name__].__class__ = _ReadOnlyModule
_SNAPSHOTS["rnncourse.grading"] = {
    key: value for key, value in _OWN_SNAPSHOT.items() if not key.startswith("__")
}
_SPACES["rnncourse.grading"] = sys.modules[__name__]
