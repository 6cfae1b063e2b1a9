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
           forbidden=("rnncourse.gru.gru_step",), # other functions the learner may not call
           forbidden_library=(*LIBRARY_CELLS, *LIBRARY_LAYERS),  # torch's C cells and layers
       ))

   ``make_inputs`` draws from the NumPy generator it is given (never from torch's global
   RNG), so every call rebuilds identical inputs. A ``Mistake`` variant has the reference's
   signature and computes the mistaken answer. ``forbidden_library`` names torch's C-level
   recurrent functions that would do the exercise for the learner: ``LIBRARY_CELLS``
   (``rnn_tanh_cell``, ``rnn_relu_cell``, ``lstm_cell``, ``gru_cell``) where the task is a
   cell's equations, ``LIBRARY_LAYERS`` (``rnn_tanh``, ``rnn_relu``, ``lstm``, ``gru``) where it
   is the loop over time; calling one through ``torch``, ``torch._VF``, ``torch.ops.aten`` or a
   ``torch.nn`` module fails with "lstm_cell calls torch.lstm_cell, a library implementation:
   write the equations yourself" (``torch.nn.functional`` has no recurrent functions).
   Specs may also live in their own module, ``rnncourse/_specs_<topic>.py``, that imports
   ``Spec``, ``Mistake`` (and helpers such as ``_cell_inputs``) from here and defines
   ``specs() -> list[Spec]``; this module registers every such module's specs at import,
   before it seals itself.
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
5. Trained models: a task graded by the test score of a model the learner trains is a
   :class:`Benchmark` registered with ``_add_benchmark(Benchmark(name, make_data, metric,
   baseline, baseline_label, target))``. ``make_data(seed)`` returns ``(train_args, x_test,
   y_test)``; the learner's ``fn(*train_args)`` returns a ``torch.nn.Module`` and the graded
   cell calls ``grading.check_trained("name", fn)``, which trains on CPU with torch's generator
   seeded, predicts ``x_test`` and fails unless the ``metric`` (``"mse"`` or ``"mae"``) lies
   below ``target(baseline(x_test, y_test))``, naming the score, the threshold and what
   ``baseline_label`` scores. ``benchmark_score(name, model)`` gives ``(score, baseline,
   threshold)`` for a trained model without asserting, e.g. to tune ``target`` in a test.
   Library modules (``torch.nn.LSTM``) are allowed here: training is the exercise.

Tamper resistance
-----------------
The module captures, at import, the functions it compares with and the reference functions,
and snapshots the attributes of ``numpy``, ``torch``, ``torch.Tensor``,
``torch.nn.functional``, a few builtins and the ``rnncourse`` modules. Every :func:`check`
first verifies that none of them was rebound (``np.allclose = lambda *a: True``) and fails
with "the notebook rebinds numpy.allclose" if one was; assigning to this module's attributes
raises. Comparisons use the captured copies and ndarray arithmetic only. A call of the
reference from inside the learner's function is detected and refused, and so is a call of a
spec's ``forbidden_library`` functions: while the learner's function runs, ``torch.X``,
``torch._VF.X`` and ``torch.ops.aten.X`` are tripwires (put back in a ``finally``, so the
reference and everything after the check see the originals), and the profiler and a torch
function mode watch the C function itself, however it is reached. (Python offers no sandbox:
a determined learner who edits ``vars(grading)`` can still defeat it; graders should read
suspicious submissions.)
"""

from __future__ import annotations

import builtins
import contextlib
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
from torch.overrides import TorchFunctionMode

from rnncourse.grading import channel as _channel
from rnncourse.grading.channel import Handle as _Handle
from rnncourse.grading.channel import Opaque as _Opaque
from rnncourse.grading.remote import Remote as _Remote
from rnncourse.grading.remote import RemoteError as _RemoteError
from rnncourse.grading.remote import WorkerFailure as _WorkerFailure
from rnncourse.grading.remote import type_name as _error_type

__all__ = [
    "Spec",
    "Mistake",
    "Benchmark",
    "LIBRARY_CELLS",
    "LIBRARY_LAYERS",
    "check",
    "check_mistake",
    "check_trained",
    "benchmark_score",
    "devices",
    "spec",
    "spec_names",
]

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
_np_generic = np.generic
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
_nullcontext = contextlib.nullcontext
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
        forbidden_library: torch's C-level recurrent functions the learner's code may not call,
            by name: :data:`LIBRARY_CELLS` (``"lstm_cell"``, ...) for a task that writes a
            cell's equations, :data:`LIBRARY_LAYERS` (``"lstm"``, ...) for one that writes the
            loop over time. Each is refused by every route: ``torch.lstm_cell``,
            ``torch._VF.lstm_cell``, ``torch.ops.aten.lstm_cell``, ``torch.nn.LSTMCell``, a
            name bound to it before the check.
        atol, rtol: tolerances for this function.
    """

    name: str
    reference: str | Callable[..., Any]
    make_inputs: Callable[[np.random.Generator, Case], Inputs]
    cases: tuple[Case, ...]
    backend: str = "torch"
    mistakes: tuple[Mistake, ...] = ()
    forbidden: tuple[str, ...] = ()
    forbidden_library: tuple[str, ...] = ()
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
    unknown = sorted(set(s.forbidden_library) - set(LIBRARY_CELLS) - set(LIBRARY_LAYERS))
    if unknown:
        raise ValueError(f"{s.name}: forbidden_library names unknown functions {unknown}")
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
    if _isinstance(value, _Remote | _Handle | _Opaque):  # an object the worker kept or withheld
        return "unsupported", value.type_name
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
            if a == e:
                return None
            return f"{label}: expected {_plain(expected)!r}, got {_plain(actual)!r}"
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
            f"{tuple(int(i) for i in where)}: expected {_plain(e[where])!r}, "
            f"got {_plain(a[where])!r}"
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


def _plain(value: Any) -> Any:
    """A NumPy scalar, 0-d array or 0-d tensor as the Python number it holds, for messages
    (``5``, not ``np.int64(5)``); anything else unchanged."""
    if _isinstance(value, _Tensor) and value.ndim == 0:
        value = _as_array(value)[1]
    if _isinstance(value, _np_generic | _ndarray) and value.ndim == 0:
        return value.item()
    return value


def _kind_name(kind: str) -> str:
    if kind.startswith("tensor:"):
        return f"a torch tensor on {kind[7:]}"
    return {"ndarray": "a NumPy array", "number": "a number", "bool": "a bool"}.get(kind, kind)


# ---------------------------------------------------------------------------------------------
# calling the learner's code
# ---------------------------------------------------------------------------------------------


class _CallsReference(Exception):
    pass


class _CallsLibrary(Exception):
    """Raised by a library tripwire; ``args[0]`` names the library function that was called."""


#: torch's C-level recurrent cells and layers, by their name in ``torch._C._VariableFunctions``.
LIBRARY_CELLS = ("rnn_tanh_cell", "rnn_relu_cell", "lstm_cell", "gru_cell")
LIBRARY_LAYERS = ("rnn_tanh", "rnn_relu", "lstm", "gru")
_LIBRARY_MODULES = {  # the torch.nn modules whose forward calls them
    "rnn_tanh_cell": torch.nn.RNNCell,
    "rnn_relu_cell": torch.nn.RNNCell,
    "lstm_cell": torch.nn.LSTMCell,
    "gru_cell": torch.nn.GRUCell,
    "rnn_tanh": torch.nn.RNN,
    "rnn_relu": torch.nn.RNN,
    "lstm": torch.nn.LSTM,
    "gru": torch.nn.GRU,
}
_torch_rnn_module = sys.modules["torch.nn.modules.rnn"]
_VF = importlib.import_module("torch._VF")
_aten = torch.ops.aten
_builtin_function = _type(len)
_LIBRARY_BUILTINS: dict[str, tuple[Any, ...]] = {}  # name -> every C callable that runs it
for _name in (*LIBRARY_CELLS, *LIBRARY_LAYERS):
    _packet = getattr(_aten, _name)
    _overloads = [getattr(_packet, overload)._op for overload in _packet.overloads()]
    _candidates = (getattr(torch._C._VariableFunctions, _name), _packet._op, *_overloads)
    _LIBRARY_BUILTINS[_name] = tuple(fn for fn in _candidates if _type(fn) is _builtin_function)


def _library_watch(names: Sequence[str]) -> tuple[dict, dict]:
    """``(C callable -> label, torch.nn forward code -> label)`` for the library ``names``."""
    builtins_seen = {fn: f"torch.{name}" for name in names for fn in _LIBRARY_BUILTINS[name]}
    codes = {}
    for name in names:
        cls = _LIBRARY_MODULES[name]
        codes[cls.forward.__code__] = f"torch.nn.{cls.__name__}"
    return builtins_seen, codes


class _LibraryMode(TorchFunctionMode):
    """Sees every torch function call, also those made from C (``functools.partial``, ``map``)
    that the profiler misses; records and refuses the watched library functions."""

    def __init__(self, watched: Mapping[Any, str], hits: list[str]) -> None:
        super().__init__()
        self.watched, self.hits = watched, hits

    def __torch_function__(
        self, func: Callable[..., Any], classes: Any, args: tuple = (), kwargs: dict | None = None
    ) -> Any:
        try:  # torch.ops.aten.X arrives as an OpOverload(Packet) wrapping the C function
            label = self.watched.get(getattr(func, "_op", func))
        except TypeError:  # an unhashable callable: not one of ours
            label = None
        if label is not None:
            self.hits.append(label)
            raise _CallsLibrary(label)
        return func(*args, **(kwargs or {}))


def _library_tripwire(label: str, hits: list[str]) -> Callable[..., Any]:
    def tripwire(*args: Any, **kwargs: Any) -> Any:
        hits.append(label)
        raise _CallsLibrary(label)

    return tripwire


def _install_library_tripwires(names: Sequence[str], hits: list[str]) -> list[tuple]:
    """Replace ``torch.X``, ``torch._VF.X``, ``torch.ops.aten.X`` (and torch.nn.RNN's table of
    implementations) by tripwires for every ``X`` in ``names``; returns what
    :func:`_restore_library` needs to undo it."""
    undo: list[tuple] = []
    try:
        for name in names:
            for owner, label in ((torch, "torch"), (_VF, "torch._VF"), (_aten, "torch.ops.aten")):
                had = name in vars(owner)
                undo.append((owner, name, had, vars(owner).get(name)))
                setattr(owner, name, _library_tripwire(f"{label}.{name}", hits))
        impls = getattr(_torch_rnn_module, "_rnn_impls", {})
        for key, fn in list(impls.items()):
            if getattr(fn, "__name__", None) in names:
                undo.append((impls, key, True, fn))
                impls[key] = _library_tripwire(f"torch._VF.{fn.__name__}", hits)
    except BaseException:
        _restore_library(undo)
        raise
    return undo


def _restore_library(undo: list[tuple]) -> None:
    """Put back every attribute :func:`_install_library_tripwires` replaced, newest first."""
    for owner, name, had, original in reversed(undo):
        if _isinstance(owner, dict):
            owner[name] = original
        elif had:
            setattr(owner, name, original)
        else:
            delattr(owner, name)


def _call_guarded(
    fn: Callable[..., Any],
    args: tuple,
    kwargs: dict,
    forbidden: frozenset,
    library: Sequence[str] = (),
) -> Any:
    """Call ``fn`` with warnings silenced (stderr zeroes an nbgrader cell), refusing calls of
    the reference (code objects in ``forbidden``) and of torch's C-level ``library`` functions.

    A library function is refused whichever route reaches it: the attributes ``torch.X``,
    ``torch._VF.X`` and ``torch.ops.aten.X`` are tripwires while ``fn`` runs (restored
    afterwards, also when ``fn`` raises); the profiler sees calls of ``torch.nn`` modules and of
    the C function through a name bound before the check (``from torch import lstm_cell``), and
    a torch function mode sees the calls made from C (``functools.partial(torch.lstm_cell)``).
    """
    hits: list[str] = []
    library_hits: list[str] = []
    watched_builtins, library_codes = _library_watch(library)

    def tripwire(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            code = frame.f_code
            if code in library_codes:  # torch.nn.LSTMCell.forward may also be in forbidden
                library_hits.append(library_codes[code])
            elif code in forbidden:
                hits.append(code.co_qualname)
        elif event == "c_call" and _type(arg) is _builtin_function and arg in watched_builtins:
            library_hits.append(watched_builtins[arg])

    previous = _getprofile()
    mode = _LibraryMode(watched_builtins, library_hits) if library else _nullcontext()
    undo = _install_library_tripwires(library, library_hits)
    try:
        with _catch_warnings(), mode:
            _simplefilter("ignore")
            _setprofile(tripwire)
            try:
                result = fn(*args, **kwargs)
            except Exception:
                if library_hits:  # the tripwire's error, perhaps caught and replaced by another
                    raise _CallsLibrary(library_hits[0]) from None
                raise
            finally:
                _setprofile(previous)
    finally:
        _restore_library(undo)
    if library_hits:
        raise _CallsLibrary(library_hits[0])
    if hits:
        raise _CallsReference(hits[0])
    return result


def _call_remote(
    fn: _Remote, args: tuple, kwargs: dict, *, attr: str | None = None,
    recipe: dict | None = None, **options: Any,
) -> Any:  # fmt: skip
    """Call a learner's function in the grading worker, raising what :func:`_call_guarded`
    raises for the same behaviour. Inputs that cannot travel as data (a closure ``f`` over the
    array it nudges) are rebuilt in the worker from ``recipe``."""
    if recipe is not None:
        try:
            _channel.encode((args, kwargs))
            recipe = None
        except TypeError:
            pass
    try:
        if attr is not None:
            return fn.method(attr, *args, **options)
        return fn.call(args, kwargs, build=recipe, **options)
    except _RemoteError as error:
        translated: dict[str, type[BaseException]] = {
            "not-implemented": NotImplementedError,
            "calls-library": _CallsLibrary,
            "calls-reference": _CallsReference,
            "exit": SystemExit,
        }
        if error.kind in translated:
            raise translated[error.kind](error.message) from None
        raise


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
        _forbid_reference: for the course's own tests only: ``False`` turns the call
            tripwires off (calls of the reference, of the spec's ``forbidden`` functions and of
            its ``forbidden_library``), so that an independent implementation built on
            ``torch.nn.GRU`` or ``torch.lstm_cell`` can be checked.

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
    if _isinstance(fn, _Remote) and _forbid_reference:  # graded: read the answers' source too
        problems = fn._link.findings(name)
        if problems:
            listed = "\n  ".join(problems[:5])
            _fail(
                f"{name}: the answer cells do something this task does not allow:\n  {listed}\n"
                "  Compute the result directly, without the reference, torch's recurrent "
                "kernels or code that hides what it calls."
            )
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
        if _isinstance(fn, _Remote):
            recipe = {"spec": s.name, "seed": seed, "index": index, "case": dict(case),
                      "device": dev}  # fmt: skip
            actual = _call_remote(fn, args, kwargs, guard=s.name if forbidden else None,
                                  recipe=recipe)  # fmt: skip
        else:
            actual = _call_guarded(
                fn,
                args,
                kwargs,
                s._forbidden_codes if forbidden else frozenset(),
                s.forbidden_library if forbidden else (),
            )
    except _WorkerFailure as error:
        _fail(f"{s.name}: {error} (for {where}).")
    except NotImplementedError:
        _fail(f"{s.name} is not implemented yet (it raises NotImplementedError).")
    except _CallsLibrary as error:
        task = (
            "write the equations yourself"
            if set(s.forbidden_library) & set(LIBRARY_CELLS)
            else "write the loop over time yourself"
        )
        _fail(f"{s.name} calls {error.args[0]}, a library implementation: {task} (for {where}).")
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
        _fail(f"{s.name} raised {_error_type(error)}: {error}\n  for {where}{hint}")
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
        forbidden_library=(*LIBRARY_CELLS, *LIBRARY_LAYERS),
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
        forbidden_library=(*LIBRARY_CELLS, *LIBRARY_LAYERS),
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
        forbidden_library=(*LIBRARY_CELLS, *LIBRARY_LAYERS),
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
        forbidden_library=LIBRARY_LAYERS,
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
        forbidden_library=LIBRARY_LAYERS,
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


# =============================================================================================
# exercises 6-10: topologies, LSTM/GRU, bidirectional, seq2seq, applications
# =============================================================================================

_gru_cell_fn = _MODULES["rnncourse.gru"].gru_cell
_lstm_cell_fn = _MODULES["rnncourse.lstm"].lstm_cell
_topo = importlib.import_module("rnncourse.topologies")
_bidir = importlib.import_module("rnncourse.bidirectional")
_s2s = importlib.import_module("rnncourse.seq2seq")
_data = importlib.import_module("rnncourse.data")
_no_grad = torch.no_grad
_manual_seed = torch.manual_seed
_get_num_threads, _set_num_threads = torch.get_num_threads, torch.set_num_threads
_Module = torch.nn.Module
# The first optimizer step imports torch._dynamo, which rebinds torch.manual_seed to a wrapped
# copy of itself. That is not tampering, and no comparison uses torch.manual_seed.
_SNAPSHOTS["torch"].pop("manual_seed", None)


def _gru_params(rng: np.random.Generator, H_in: int, H: int, suffix: str = "") -> dict:
    """GRU weights ``weight_ih (3H, H_in)``, ``weight_hh (3H, H)`` and biases ``(3H,)``."""
    return {
        f"weight_ih{suffix}": _weights(rng, 3 * H, H_in),
        f"weight_hh{suffix}": _weights(rng, 3 * H, H),
        f"bias_ih{suffix}": rng.normal(size=(3 * H,)) * 0.5,
        f"bias_hh{suffix}": rng.normal(size=(3 * H,)) * 0.5,
    }


def _cell_args(params: dict, suffix: str = "") -> tuple:
    return tuple(params[f"{k}{suffix}"] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


def _strip(params: dict, suffix: str) -> dict:
    """One direction's cell weights, without the name suffix (``"_l0_reverse"``)."""
    return {k: params[f"{k}{suffix}"] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}


def _load(module: Any, values: Mapping[str, Any]) -> Any:
    """Copy ``values`` (parameter name -> tensor) into ``module``'s parameters."""
    with _no_grad():
        for name, value in values.items():
            module.get_parameter(name).copy_(value)
    return module


def _like(x: torch.Tensor) -> dict:
    """Keyword arguments that build a reference module on ``x``'s device, in its dtype."""
    return {"device": x.device, "dtype": x.dtype}


def _gru_loop(x, h, params, steps=None):
    """Run the GRU cell over ``x`` in the order ``steps``; (outputs in time order, h)."""
    order = range(x.shape[0]) if steps is None else steps
    outputs = [None] * x.shape[0]
    for t in order:
        h = _gru_cell_fn(x[t], h, *_cell_args(params))
        outputs[t] = h
    return torch.stack(outputs), h


# -- ex06: topologies -------------------------------------------------------------------------


def _readout(params: dict) -> dict:
    return {"readout.weight_hy": params["weight_hy"], "readout.bias_y": params["bias_y"]}


def _cell_values(params: dict, prefix: str = "cell.") -> dict:
    keys = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    return {f"{prefix}{k}": params[k] for k in keys}


def _ref_tag_sequence(x: torch.Tensor, params: dict) -> torch.Tensor:
    # y_t = W_hy h_t + b_y with h_t = GRU(x_t, h_{t-1}), h_0 = 0
    H, H_in = params["weight_hh"].shape[1], x.shape[-1]
    model = _topo.ManyToManyAligned(H_in, H, params["weight_hy"].shape[0], "gru", **_like(x))
    return _load(model, {**_cell_values(params), **_readout(params)})(x)  # (T, N, H_out)


def _ref_classify_sequences(x: torch.Tensor, lengths: torch.Tensor, params: dict) -> torch.Tensor:
    # y = W_hy h_ℓ + b_y, ℓ = lengths[n]
    H, H_in = params["weight_hh"].shape[1], x.shape[-1]
    model = _topo.ManyToOne(H_in, H, params["weight_hy"].shape[0], "gru", **_like(x))
    return _load(model, {**_cell_values(params), **_readout(params)})(x, lengths)  # (N, H_out)


def _ref_generate(x: torch.Tensor, steps: int, params: dict, y_teacher=None) -> torch.Tensor:
    # h_0 = tanh(W_xh x + b_xh), y_0 = 0, h_t = GRU(y_{t-1}, h_{t-1}), y_t = W_hy h_t + b_y
    H, H_out = params["weight_hh"].shape[1], params["weight_hy"].shape[0]
    model = _topo.OneToMany(x.shape[-1], H, H_out, "gru", "output", **_like(x))
    values = {"to_h0.weight": params["weight_xh"], "to_h0.bias": params["bias_xh"]}
    _load(model, {**_cell_values(params), **_readout(params), **values})
    return model(x, steps, y_teacher)  # (steps, N, H_out)


def _topology_params(rng: np.random.Generator, case: Case, H_cell_in: int) -> dict:
    H, H_out = case["H"], case["H_out"]
    params = _gru_params(rng, H_cell_in, H)
    params["weight_hy"] = _weights(rng, H_out, H)
    params["bias_y"] = rng.normal(size=(H_out,)) * 0.5
    return params


def _tag_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    x = rng.normal(size=(case["T"], case["N"], case["H_in"]))
    return (x, _topology_params(rng, case, case["H_in"])), {}


def _classify_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    T, N = case["T"], case["N"]
    x = rng.normal(size=(T, N, case["H_in"]))
    lengths = rng.integers(1, T + 1, size=N)
    lengths[0] = T  # one full-length sequence and, if there is room, one of length 1
    if N > 2:
        lengths[1] = 1
    x[lengths[None, :] <= np.arange(T)[:, None]] = 0.0  # padding reads as zeros
    return (x, lengths.astype(np.int64), _topology_params(rng, case, case["H_in"])), {}


def _generate_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    N, H_in, H, H_out, steps = case["N"], case["H_in"], case["H"], case["H_out"], case["steps"]
    x = rng.normal(size=(N, H_in))
    params = _topology_params(rng, case, H_out)  # the cell reads the previous output
    params["weight_xh"] = _weights(rng, H, H_in)
    params["bias_xh"] = rng.normal(size=(H,)) * 0.5
    kwargs = {}
    if case.get("teacher"):
        kwargs["y_teacher"] = rng.normal(size=(steps, N, H_out))
    return (x, int(steps), params), kwargs


def _tag_variant(kind: str) -> Callable[..., Any]:
    def variant(x, params):
        T, N = x.shape[0], x.shape[1]
        h_0 = x.new_zeros(N, params["weight_hh"].shape[1])
        if kind == "not-carried":
            h = torch.stack([_gru_cell_fn(x[t], h_0, *_cell_args(params)) for t in range(T)])
        elif kind == "reversed":
            h, _ = _gru_loop(x, h_0, params, range(T - 1, -1, -1))
        else:
            h, _ = _gru_loop(x, h_0, params)
            if kind == "shifted":
                h = torch.cat([h_0[None], h[:-1]])
        bias = None if kind == "no-bias" else params["bias_y"]
        return _linear(h, params["weight_hy"], bias)

    return variant


def _classify_variant(kind: str) -> Callable[..., Any]:
    def variant(x, lengths, params):
        T, N = x.shape[0], x.shape[1]
        h, h_T = _gru_loop(x, x.new_zeros(N, params["weight_hh"].shape[1]), params)
        batch = torch.arange(N, device=x.device)
        valid = (torch.arange(T, device=x.device)[:, None] < lengths[None, :])[..., None]
        picked = {
            "ignored": lambda: h_T,
            "off-by-one": lambda: h[lengths.clamp(max=T - 1), batch],
            "mean": lambda: (h * valid).sum(0) / lengths[:, None],
            "first": lambda: h[0],
        }[kind]()
        return _linear(picked, params["weight_hy"], params["bias_y"])

    return variant


def _generate_variant(kind: str) -> Callable[..., Any]:
    def variant(x, steps, params, y_teacher=None):
        pre = _linear(x, params["weight_xh"], params["bias_xh"])
        h = pre if kind == "h0-no-tanh" else _tanh(pre)
        y = x.new_zeros(x.shape[0], params["weight_hy"].shape[0])
        ys = []
        for t in range(steps):
            if kind == "teacher-leak" and y_teacher is not None:
                y = y_teacher[t]  # reads the answer of its own step
            h = _gru_cell_fn(y, h, *_cell_args(params))
            out = _linear(h, params["weight_hy"], params["bias_y"])
            ys.append(out)
            y = y * 0 if kind == "no-feedback" else out
            if y_teacher is not None and kind not in ("teacher-ignored", "teacher-leak"):
                y = y_teacher[t]
        return torch.stack(ys)

    return variant


_TOPO_FORBIDDEN = (
    "rnncourse.topologies.unroll",
    "rnncourse.topologies._generate",
    "rnncourse.topologies.ManyToManyAligned.forward",
    "rnncourse.topologies.ManyToOne.forward",
    "rnncourse.topologies.OneToMany.forward",
    "rnncourse.topologies.EncoderDecoder.forward",
    "rnncourse.gru.GRU.forward",
    "torch.nn.GRU.forward",
)

_register(
    Spec(
        "tag_sequence",
        _ref_tag_sequence,
        _tag_inputs,
        (
            {"T": 5, "N": 3, "H_in": 3, "H": 4, "H_out": 2},
            {"T": 1, "N": 1, "H_in": 2, "H": 3, "H_out": 3},
        ),
        mistakes=(
            Mistake("shifted", "the outputs are shifted by one step: y_t reads h_t, the state "
                    "*after* x_t, so y_1 already depends on x_1.", _tag_variant("shifted")),
            Mistake("not-carried", "the hidden state is not carried: step t starts from "
                    "h_{t-1}, not from h_0 = 0.", _tag_variant("not-carried")),
            Mistake("reversed", "the sequence is read backwards; an aligned many-to-many "
                    "network is causal and reads x_1, ..., x_T in order.",
                    _tag_variant("reversed")),
            Mistake("no-bias", "the readout bias b_y is missing.", _tag_variant("no-bias")),
        ),
        forbidden=_TOPO_FORBIDDEN,
        forbidden_library=LIBRARY_LAYERS,
    )
)  # fmt: skip
_register(
    Spec(
        "classify_sequences",
        _ref_classify_sequences,
        _classify_inputs,
        (
            {"T": 6, "N": 4, "H_in": 3, "H": 4, "H_out": 2},
            {"T": 3, "N": 2, "H_in": 2, "H": 3, "H_out": 3},
        ),
        mistakes=(
            Mistake("ignored", "the lengths are ignored: a sequence of length L is classified "
                    "from h_L, not from the state after the padding.",
                    _classify_variant("ignored")),
            Mistake("off-by-one", "off by one: the state after the last real step of a sequence "
                    "of length L is output[L - 1].", _classify_variant("off-by-one")),
            Mistake("mean", "the readout averages the hidden states; many-to-one reads the "
                    "last valid one, h_L.", _classify_variant("mean")),
            Mistake("first", "this reads the first hidden state; many-to-one reads the last "
                    "valid one, h_L.", _classify_variant("first")),
        ),
        forbidden=_TOPO_FORBIDDEN,
        forbidden_library=LIBRARY_LAYERS,
    )
)  # fmt: skip
_register(
    Spec(
        "generate",
        _ref_generate,
        _generate_inputs,
        (
            {"steps": 4, "N": 2, "H_in": 3, "H": 4, "H_out": 2},
            {"steps": 1, "N": 1, "H_in": 2, "H": 3, "H_out": 1},
            {"steps": 3, "N": 2, "H_in": 2, "H": 3, "H_out": 2, "teacher": True},
        ),
        mistakes=(
            Mistake("h0-no-tanh", "the initial state is h_0 = tanh(W_xh x + b_xh): the tanh is "
                    "missing.", _generate_variant("h0-no-tanh")),
            Mistake("no-feedback", "the outputs are not fed back: the input at step t is the "
                    "previous output y_{t-1} (y_0 = 0).", _generate_variant("no-feedback")),
            Mistake("teacher-ignored", "y_teacher is ignored: with teacher forcing the input at "
                    "step t is y_teacher[t-1], not the model's own output.",
                    _generate_variant("teacher-ignored")),
            Mistake("teacher-leak", "step t reads y_teacher[t], the answer it must predict; it "
                    "reads y_teacher[t-1] (and y_0 = 0 at the first step).",
                    _generate_variant("teacher-leak")),
        ),
        forbidden=_TOPO_FORBIDDEN,
        forbidden_library=LIBRARY_LAYERS,
    )
)  # fmt: skip


# -- ex07: more LSTM and GRU cell mistakes ----------------------------------------------------


def _cell_bias_variant(cell: Callable[..., Any], kind: str) -> Callable[..., Any]:
    """``cell`` with one bias dropped (``"ih"``/``"hh"``) or both counted twice (``"double"``)."""

    def variant(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
        if kind == "ih":
            return cell(x, state, weight_ih, weight_hh, None, bias_hh)
        if kind == "hh":
            return cell(x, state, weight_ih, weight_hh, bias_ih, None)
        return cell(x, state, weight_ih, weight_hh, 2 * bias_ih, 2 * bias_hh)

    return variant


def _lstm_all_swapped(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    # gates i, f, o through tanh and the candidate g through sigmoid
    h, c = state
    gates = _linear(x, weight_ih, bias_ih) + _linear(h, weight_hh, bias_hh)
    i, f, g, o = gates.chunk(4, dim=-1)
    c_new = _tanh(f) * c + _tanh(i) * _sigmoid(g)
    return _tanh(o) * _tanh(c_new), c_new


def _with_more_mistakes(name: str, extra: tuple[Mistake, ...]) -> None:
    import dataclasses

    old = spec(name)
    known = {m.name for m in old.mistakes}
    added = tuple(m for m in extra if m.name not in known)
    _register(dataclasses.replace(old, mistakes=old.mistakes + added))


_with_more_mistakes(
    "lstm_cell",
    (
        Mistake("all-activations-swapped", "sigmoid and tanh are swapped: the gates i, f, o use "
                "sigmoid (values in (0, 1)), the candidate g uses tanh.", _lstm_all_swapped),
        Mistake("missing-bias-hh", _BIAS_MISSING, _cell_bias_variant(_lstm_cell_fn, "hh")),
        Mistake("missing-bias-ih", _BIAS_MISSING, _cell_bias_variant(_lstm_cell_fn, "ih")),
        Mistake("doubled-bias", "the biases are added twice: each of b_ih and b_hh appears "
                "once.", _cell_bias_variant(_lstm_cell_fn, "double")),
    ),
)  # fmt: skip
_with_more_mistakes(
    "gru_cell",
    (
        Mistake("missing-bias-hh", _BIAS_MISSING + " (In the GRU, b_hn sits inside r_t ⊙ (...).)",
                _cell_bias_variant(_gru_cell_fn, "hh")),
        Mistake("missing-bias-ih", _BIAS_MISSING, _cell_bias_variant(_gru_cell_fn, "ih")),
        Mistake("doubled-bias", "the biases are added twice: each of b_ih and b_hh appears "
                "once.", _cell_bias_variant(_gru_cell_fn, "double")),
    ),
)  # fmt: skip


# -- trained models: "does it beat the baseline on a test set it never saw?" ------------------


@dataclass(frozen=True)
class Benchmark:
    """How to grade a learner's training function by its model's score on held-out data.

    Args:
        name: the learner's function name.
        make_data: ``seed -> (train_args, x_test, y_test)``; the learner's function is called
            as ``fn(*train_args)`` and must return a ``torch.nn.Module`` mapping ``x_test`` to
            predictions shaped like ``y_test``.
        metric: ``"mse"`` or ``"mae"``.
        baseline: ``(x_test, y_test) -> score`` of the baseline the model must beat.
        baseline_label: what the baseline is ("always predicting 1").
        target: ``baseline_score -> threshold``; the model's score must lie below it.
    """

    name: str
    make_data: Callable[[int], tuple[tuple, torch.Tensor, torch.Tensor]]
    metric: str
    baseline: Callable[[torch.Tensor, torch.Tensor], float]
    baseline_label: str
    target: Callable[[float], float]


_BENCHMARKS: dict[str, Benchmark] = {}


def _score(metric: str, pred: np.ndarray, target: np.ndarray) -> float:
    err = pred - target
    return float((err * err).mean()) if metric == "mse" else float(abs(err).mean())


def benchmark_score(name: str, model: Any, *, seed: int = 0) -> tuple[float, float, float]:
    """``(score, baseline, threshold)`` of a trained ``model`` on benchmark ``name``'s test set."""
    b = _BENCHMARKS[name]
    _, x_test, y_test = b.make_data(seed)
    with _no_grad():
        pred = model(x_test)
    kind, p = _as_array(pred)
    _, y = _as_array(y_test)
    if not kind.startswith("tensor") or p.shape != y.shape:
        return math.nan, math.nan, math.nan
    baseline = b.baseline(x_test, y_test)
    return _score(b.metric, p, y), baseline, b.target(baseline)


def check_trained(name: str, fn: Callable[..., Any], *, seed: int = 0) -> None:
    """Train with the learner's ``fn`` and check that its model beats the benchmark's baseline.

    The training data and a held-out test set are built here from ``seed``; the learner's
    function only sees the training data. Runs on CPU; torch's generator is seeded first so
    that the result does not depend on what ran before.

    Raises:
        AssertionError: with the model's test score, the threshold and the baseline's score.
    """
    frame = _getframe(1)
    _verify_namespace(frame.f_globals if frame is not None else None)
    if name not in _BENCHMARKS:
        raise KeyError(f"no trained task called {name!r}; known: {sorted(_BENCHMARKS)}")
    b = _BENCHMARKS[name]
    if not callable(fn):
        _fail(f"{name}: expected a function, got {_type(fn).__name__}")
    train_args, x_test, y_test = b.make_data(seed)
    where = ", ".join(_shape_of(a) for a in train_args)
    _manual_seed(seed)
    threads = _get_num_threads()
    _set_num_threads(1)  # tiny models train faster on one thread, also on a busy machine
    try:
        if _isinstance(fn, _Remote):
            model = _call_remote(fn, train_args, {}, seed=seed, threads=1)
        else:
            model = _call_guarded(fn, train_args, {}, frozenset())
    except _WorkerFailure as error:
        _fail(f"{name}: {error} (for {name}({where})).")
    except NotImplementedError:
        _fail(f"{name} is not implemented yet (it raises NotImplementedError).")
    except SystemExit:
        _fail(f"{name} tried to exit the interpreter (sys.exit).")
    except Exception as error:
        _fail(f"{name} raised {_error_type(error)}: {error}\n  for {name}({where})")
    finally:
        _set_num_threads(threads)
    remote = _isinstance(model, _Remote)
    if not (model.is_module if remote else _isinstance(model, _Module)):
        _fail(f"{name} must return the trained torch.nn.Module, got {_type(model).__name__}")
    try:
        _call_remote(model, (), {}, attr="eval") if remote else model.eval()
    except (_WorkerFailure, _RemoteError) as error:
        _fail(f"{name}: the returned model's eval() failed: {_error_type(error)}: {error}")
    try:
        with _no_grad():
            if remote:
                pred = _call_remote(model, (x_test,), {}, no_grad=True)
            else:
                pred = _call_guarded(model, (x_test,), {}, frozenset())
    except _WorkerFailure as error:
        _fail(f"{name}: {error} (the model on the test inputs {_shape_of(x_test)}).")
    except Exception as error:
        _fail(
            f"{name}: the returned model raised {_error_type(error)} on the test inputs "
            f"{_shape_of(x_test)}: {error}"
        )
    problem = None
    kind, p = _as_array(pred)
    _, y = _as_array(y_test)
    if not kind.startswith("tensor"):
        problem = f"expected a torch tensor of predictions, got {_kind_name(kind)}"
    elif p.shape != y.shape:
        problem = f"expected predictions of shape {_shape_of(y)}, got shape {_shape_of(p)}"
    if problem:
        _fail(f"{name}: for test inputs of shape {_shape_of(x_test)} the model's output is wrong: "
              f"{problem}")  # fmt: skip
    _verify_namespace(None)
    score = _score(b.metric, p, y)
    baseline = b.baseline(x_test, y_test)
    threshold = b.target(baseline)
    if not (score < threshold):  # also catches nan
        _fail(
            f"{name}: the trained model's test {b.metric.upper()} is {score:.4g}; it must be "
            f"below {threshold:.4g}. For comparison, {b.baseline_label} scores {baseline:.4g}. "
            "Train longer, with a larger learning rate or a larger hidden size."
        )


def _add_benchmark(b: Benchmark) -> None:
    _BENCHMARKS[b.name] = b


# ex07: the adding problem with T = 10
_ADDING_T = 10


def _adding_data(seed: int) -> tuple[tuple, torch.Tensor, torch.Tensor]:
    x, y = _data.adding_problem(2000, _ADDING_T, seed=_default_rng([seed, 1]))
    x_test, y_test = _data.adding_problem(1000, _ADDING_T, seed=_default_rng([seed, 2]))
    return (x, y), x_test, y_test


def _always_one(x_test: torch.Tensor, y_test: torch.Tensor) -> float:
    _, y = _as_array(y_test)
    return _score("mse", y * 0 + 1.0, y)


_add_benchmark(
    Benchmark(
        "train_adding_model",
        _adding_data,
        "mse",
        _always_one,
        "always predicting 1 (the mean of y)",
        lambda baseline: 0.05,
    )
)


# ex10: one-step-ahead forecasts of the yearly sunspot numbers
_SUNSPOT_WINDOW = 12


def _sunspot_data(seed: int) -> tuple[tuple, torch.Tensor, torch.Tensor]:
    # standardised with the training part's statistics; the test part is the last 20 %
    _, counts = _data.load_sunspots(torch.float32)
    train, test = _data.train_test_split_series(counts, 0.2)
    mean, std = train.mean(), train.std()
    z_train, z_all = (train - mean) / std, (counts - mean) / std
    X, y = _data.sliding_windows(z_train, _SUNSPOT_WINDOW)
    # test windows: inputs may reach back into the training years, targets are test years
    start = z_all.shape[0] - test.shape[0] - _SUNSPOT_WINDOW
    X_test, y_test = _data.sliding_windows(z_all[start:], _SUNSPOT_WINDOW)
    return (X, y), X_test, y_test


def _naive_mae(x_test: torch.Tensor, y_test: torch.Tensor) -> float:
    _, x = _as_array(x_test)
    _, y = _as_array(y_test)
    return _score("mae", x[-1, :, 0][:, None] + y * 0, y)  # last value, repeated


_add_benchmark(
    Benchmark(
        "train_forecaster",
        _sunspot_data,
        "mae",
        _naive_mae,
        "the naive forecast (repeat the last value)",
        lambda baseline: 0.8 * baseline,
    )
)


# -- ex08: bidirectional ----------------------------------------------------------------------


def _ref_reverse_gru(x: torch.Tensor, h_0: torch.Tensor, params: dict):
    # ←h_t = GRU(x_t, ←h_{t+1}) for t = T..1; output[t] = ←h_t, final state after x_1
    step = lambda x_t, h: _gru_cell_fn(x_t, h, *_cell_args(params))  # noqa: E731
    return _bidir.unroll(step, x, h_0, reverse=True)


def _reverse_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    T, N, H_in, H = case["T"], case["N"], case["H_in"], case["H"]
    x = rng.normal(size=(T, N, H_in))
    h_0 = rng.normal(size=(N, H)) * 0.5
    return (x, h_0, _gru_params(rng, H_in, H)), {}


def _reverse_variant(kind: str) -> Callable[..., Any]:
    def variant(x, h_0, params):
        T = x.shape[0]
        if kind == "forward":
            return _gru_loop(x, h_0, params)
        out, h = _gru_loop(x, h_0, params, range(T - 1, -1, -1))
        if kind == "not-realigned":
            return out.flip(0), h
        return out, out[-1]  # "h_n-last-step"

    return variant


def _bidir_params(rng: np.random.Generator, H_in: int, H: int) -> dict:
    return {**_gru_params(rng, H_in, H, "_l0"), **_gru_params(rng, H_in, H, "_l0_reverse")}


def _ref_bidirectional_gru(x: torch.Tensor, params: dict):
    # y_t = [→h_t; ←h_t]; h_n = (→h_T, ←h_1)
    N, H = x.shape[1], params["weight_hh_l0"].shape[1]
    zeros = x.new_zeros(N, H)
    fwd, bwd = _cell_args(params, "_l0"), _cell_args(params, "_l0_reverse")
    output, (h_f, h_b) = _bidir.bidirectional(_gru_cell_fn, x, fwd, bwd, zeros, zeros)
    return output, torch.stack([h_f, h_b])  # (T, N, 2H), (2, N, H)


def _bidir_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    x = rng.normal(size=(case["T"], case["N"], case["H_in"]))
    return (x, _bidir_params(rng, case["H_in"], case["H"])), {}


def _bidir_variant(kind: str) -> Callable[..., Any]:
    def variant(x, params):
        T, N, H = x.shape[0], x.shape[1], params["weight_hh_l0"].shape[1]
        zeros = x.new_zeros(N, H)
        fwd, bwd = _strip(params, "_l0"), _strip(params, "_l0_reverse")
        if kind == "shared-weights":
            bwd = fwd
        out_f, h_f = _gru_loop(x, zeros, fwd)
        steps = range(T) if kind == "bwd-forwards" else range(T - 1, -1, -1)
        out_b, h_b = _gru_loop(x, zeros, bwd, steps)
        if kind == "not-realigned":
            out_b = out_b.flip(0)
        if kind == "h_n-last-step":
            h_b = out_b[-1]
        parts = [out_b, out_f] if kind == "bwd-first" else [out_f, out_b]
        h_n = [h_b, h_f] if kind in ("bwd-first", "h_n-swapped") else [h_f, h_b]
        return torch.cat(parts, dim=-1), torch.stack(h_n)

    return variant


def _ref_bidirectional_gru_padded(x: torch.Tensor, lengths: torch.Tensor, params: dict):
    # each sequence on its own: the backward direction starts at its last real step x_L
    T, N, H = x.shape[0], x.shape[1], params["weight_hh_l0"].shape[1]
    output = x.new_zeros(T, N, 2 * H)  # (T, N, 2H), zero at padding
    h_n = x.new_zeros(2, N, H)  # (2, N, H)
    for n in range(N):
        L = int(lengths[n])
        out, h = _ref_bidirectional_gru(x[:L, n : n + 1], params)
        output[:L, n] = out[:, 0]
        h_n[:, n] = h[:, 0]
    return output, h_n


def _padded_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    (x, lengths, _), _ = _classify_inputs(rng, {**case, "H": 1, "H_out": 1})
    return (x, lengths, _bidir_params(rng, case["H_in"], case["H"])), {}


def _padded_variant(kind: str) -> Callable[..., Any]:
    def variant(x, lengths, params):
        T, N, H = x.shape[0], x.shape[1], params["weight_hh_l0"].shape[1]
        if kind == "ignored":
            return _ref_bidirectional_gru(x, params)
        output, h_n = _ref_bidirectional_gru_padded(x, lengths, params)
        if kind == "not-zeroed":  # padding steps keep the last forward state / zero backward
            for n in range(N):
                L = int(lengths[n])
                output[L:, n, :H] = output[L - 1, n, :H]
            return output, h_n
        # "bwd-from-padding": the backward cell starts at step T, reading the padding
        out_b, h_b = _gru_loop(x, x.new_zeros(N, H), _strip(params, "_l0_reverse"),
                               range(T - 1, -1, -1))  # fmt: skip
        valid = (torch.arange(T, device=x.device)[:, None] < lengths[None, :])[..., None]
        output = torch.cat([output[..., :H], out_b * valid], dim=-1)
        return output, torch.stack([h_n[0], h_b])

    return variant


_BIDIR_FORBIDDEN = (
    "rnncourse.bidirectional.bidirectional",
    "rnncourse.bidirectional.unroll",
    "rnncourse.bidirectional.Bidirectional.forward",
    "rnncourse.topologies.unroll",
    "rnncourse.gru.GRU.forward",
    "torch.nn.GRU.forward",
)

_register(
    Spec(
        "reverse_gru",
        _ref_reverse_gru,
        _reverse_inputs,
        ({"T": 5, "N": 3, "H_in": 3, "H": 4}, {"T": 2, "N": 1, "H_in": 2, "H": 3}),
        mistakes=(
            Mistake("forward", "the sequence is read forwards; the backward cell reads x_T "
                    "first and x_1 last.", _reverse_variant("forward")),
            Mistake("not-realigned", "the outputs are in the order they were computed; store "
                    "←h_t at position t, so output[0] is the state after reading x_1 (the last "
                    "step computed).", _reverse_variant("not-realigned")),
            Mistake("h_n-last-step", "the final state is the state after the *last step "
                    "processed*, x_1, which sits at output[0], not output[-1].",
                    _reverse_variant("h_n-last-step")),
        ),
        forbidden=_BIDIR_FORBIDDEN,
        forbidden_library=LIBRARY_LAYERS,
    )
)  # fmt: skip
_BIDIR_MISTAKES = (
    Mistake("bwd-first", "the directions are in the wrong order: torch puts the forward "
            "states first, y_t = [→h_t; ←h_t], and h_n[0] is the forward one.",
            _bidir_variant("bwd-first")),
    Mistake("h_n-swapped", "h_n is in the wrong order: h_n[0] is the forward final state, "
            "h_n[1] the backward one.", _bidir_variant("h_n-swapped")),
    Mistake("h_n-last-step", "h_n[1] is the backward state after reading x_1 (output[0, :, H:]),"
            " not output[-1, :, H:].", _bidir_variant("h_n-last-step")),
    Mistake("not-realigned", "the backward outputs are in the order they were computed; "
            "←h_t belongs at position t.", _bidir_variant("not-realigned")),
    Mistake("shared-weights", "both directions use the forward weights; the backward cell has "
            "its own (the *_reverse parameters).", _bidir_variant("shared-weights")),
    Mistake("bwd-forwards", "the backward cell reads the sequence forwards; it starts at x_T.",
            _bidir_variant("bwd-forwards")),
)  # fmt: skip
_register(
    Spec(
        "bidirectional_gru",
        _ref_bidirectional_gru,
        _bidir_inputs,
        ({"T": 5, "N": 3, "H_in": 3, "H": 4}, {"T": 1, "N": 2, "H_in": 2, "H": 3}),
        mistakes=_BIDIR_MISTAKES,
        forbidden=_BIDIR_FORBIDDEN,
        forbidden_library=LIBRARY_LAYERS,
    )
)
_register(
    Spec(
        "bidirectional_gru_padded",
        _ref_bidirectional_gru_padded,
        _padded_inputs,
        ({"T": 5, "N": 4, "H_in": 3, "H": 4}, {"T": 3, "N": 2, "H_in": 2, "H": 2}),
        mistakes=(
            Mistake("ignored", "the lengths are ignored: padding must neither reach a state nor "
                    "appear in the output (zeros there).", _padded_variant("ignored")),
            Mistake("bwd-from-padding", "the backward direction starts at the padded end; for a "
                    "sequence of length L it must start at x_L, its last real step.",
                    _padded_variant("bwd-from-padding")),
            Mistake("not-zeroed", "the outputs at padded steps must be zero (as "
                    "pack_padded_sequence gives).", _padded_variant("not-zeroed")),
        ),
        forbidden=_BIDIR_FORBIDDEN,
        forbidden_library=LIBRARY_LAYERS,
    )
)  # fmt: skip


# -- ex09: sequence to sequence ---------------------------------------------------------------

_BOS, _EOS, _PAD = _data.BOS, _data.EOS, _data.PAD


def _encoder_values(enc: dict) -> dict:
    return {"embedding.weight": enc["embedding"], **_cell_values(enc)}


def _decoder_values(dec: dict) -> dict:
    return {
        "embedding.weight": dec["embedding"],
        **_cell_values(dec),
        "out.weight": dec["weight_out"],
        "out.bias": dec["bias_out"],
    }


def _encoder(enc: dict, like: torch.Tensor) -> Any:
    V, E = enc["embedding"].shape
    model = _s2s.Encoder(V, E, enc["weight_hh"].shape[1], "gru", **_like(like))
    return _load(model, _encoder_values(enc))


def _decoder(dec: dict, like: torch.Tensor) -> Any:
    V, E = dec["embedding"].shape
    model = _s2s.Decoder(V, E, dec["weight_hh"].shape[1], "gru", **_like(like))
    return _load(model, _decoder_values(dec))


def _ref_encode(src: torch.Tensor, lengths: torch.Tensor, enc: dict):
    # h_j = GRU(E x_j, h_{j-1}), frozen after each source's length; memory zero at padding
    return _encoder(enc, enc["embedding"])(src, lengths)  # (S, N, H), (N, H)


def _ref_decode_teacher_forced(tgt: torch.Tensor, state: torch.Tensor, dec: dict):
    # input BOS, tgt[0], ..., tgt[T-2]; logits_t = W_out s_t + b_out predicts tgt[t]
    decoder = _decoder(dec, state)
    y = tgt.new_full((tgt.shape[1],), _BOS)  # (N,)
    logits = []
    for t in range(tgt.shape[0]):
        out, state, _ = decoder(y, state)
        logits.append(out)
        y = tgt[t]
    return torch.stack(logits)  # (T, N, V)


def _ref_greedy_translate(src: torch.Tensor, lengths: torch.Tensor, params: dict, max_len: int):
    # ŷ_t = argmax logits_t, fed back; EOS is written, PAD after it
    enc, dec = params["encoder"], params["decoder"]
    model = _s2s.Seq2Seq(_encoder(enc, enc["embedding"]), _decoder(dec, enc["embedding"]),
                         _BOS, _EOS, _PAD)  # fmt: skip
    return _s2s.greedy_decode(model, src, max_len, src_lengths=lengths)  # (max_len, N)


def _gru_embed_params(rng: np.random.Generator, V: int, E: int, H: int) -> dict:
    return {"embedding": rng.normal(size=(V, E)), **_gru_params(rng, E, H)}


def _tokens(rng: np.random.Generator, S: int, N: int, V: int) -> tuple[np.ndarray, np.ndarray]:
    lengths = rng.integers(1, S + 1, size=N)
    lengths[0] = S
    if N > 2:
        lengths[1] = 1
    src = rng.integers(_data.FIRST_SYMBOL, V, size=(S, N))
    src[lengths[None, :] <= np.arange(S)[:, None]] = _PAD
    return src.astype(np.int64), lengths.astype(np.int64)


def _encode_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    src, lengths = _tokens(rng, case["S"], case["N"], case["V"])
    return (src, lengths, _gru_embed_params(rng, case["V"], case["E"], case["H"])), {}


def _decoder_params(rng: np.random.Generator, case: Case) -> dict:
    V, H = case["V"], case["H"]
    dec = _gru_embed_params(rng, V, case["E"], H)
    dec["embedding"] *= 3.0  # large weights: the next token depends on the state and input
    dec["weight_out"] = _weights(rng, V, H) * 6.0
    dec["bias_out"] = rng.normal(size=(V,)) * 0.5
    return dec


def _decode_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    T, N, V = case["T"], case["N"], case["V"]
    tgt = rng.integers(_data.FIRST_SYMBOL, V, size=(T, N))
    tgt[-1] = _EOS
    state = np.tanh(rng.normal(size=(N, case["H"])))
    return (tgt.astype(np.int64), state, _decoder_params(rng, case)), {}


def _greedy_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    src, lengths = _tokens(rng, case["S"], case["N"], case["V"])
    enc = _gru_embed_params(rng, case["V"], case["E"], case["H"])
    dec = _decoder_params(rng, case)
    dec["bias_out"][_EOS] += case.get("eos_bias", 0.0)
    for special in (_PAD, _BOS, _data.UNK):  # never predicted
        dec["bias_out"][special] -= 20.0
    return (src, lengths, {"encoder": enc, "decoder": dec}, int(case["max_len"])), {}


def _encode_variant(kind: str) -> Callable[..., Any]:
    def variant(src, lengths, enc):
        memory, h = _ref_encode(src, lengths, enc)
        full_memory, h_S = _ref_encode(src, None, enc)
        if kind == "ignored":
            return full_memory, h_S
        if kind == "final-last-step":
            return memory, h_S
        # "not-zeroed": padded steps hold the frozen state
        S = src.shape[0]
        valid = (torch.arange(S, device=src.device)[:, None] < lengths[None, :])[..., None]
        return torch.where(valid, memory, h[None]), h

    return variant


def _decode_no_shift(tgt, state, dec):
    decoder = _decoder(dec, state)
    logits = []
    for t in range(tgt.shape[0]):
        out, state, _ = decoder(tgt[t], state)
        logits.append(out)
    return torch.stack(logits)


def _decode_zero_state(tgt, state, dec):
    return _ref_decode_teacher_forced(tgt, state * 0, dec)


def _greedy_variant(kind: str) -> Callable[..., Any]:
    def variant(src, lengths, params, max_len):
        enc, dec = params["encoder"], params["decoder"]
        _, state = _ref_encode(src, None if kind == "ignored" else lengths, enc)
        decoder = _decoder(dec, state)
        y = src.new_full((src.shape[1],), _BOS)  # (N,)
        out = []
        for _ in range(max_len):
            logits, state, _ = decoder(y, state)
            y = logits.argmax(-1)  # (N,)
            out.append(y)
        tokens = torch.stack(out)  # (max_len, N), not stopped at EOS
        if kind == "no-stop":
            return tokens
        ended = (tokens == _EOS).long().cumsum(0) > 0  # at or after the first EOS
        after = torch.cat([torch.zeros_like(ended[:1]), ended[:-1]])  # strictly after it
        if kind == "eos-dropped":
            return tokens.masked_fill(ended, _PAD)
        return tokens.masked_fill(after, _EOS if kind == "eos-fill" else _PAD)

    return variant


_S2S_FORBIDDEN = (
    "rnncourse.seq2seq.Encoder.forward",
    "rnncourse.seq2seq.Decoder.forward",
    "rnncourse.seq2seq.AttentionDecoder.forward",
    "rnncourse.seq2seq.Seq2Seq.forward",
    "rnncourse.seq2seq.Seq2Seq.encode",
    "rnncourse.seq2seq.greedy_decode",
    "rnncourse.seq2seq.beam_search",
    "rnncourse.topologies.unroll",
    "rnncourse.gru.GRU.forward",
    "torch.nn.GRU.forward",
)

_register(
    Spec(
        "encode",
        _ref_encode,
        _encode_inputs,
        ({"S": 5, "N": 4, "V": 9, "E": 3, "H": 4}, {"S": 2, "N": 2, "V": 6, "E": 2, "H": 3}),
        mistakes=(
            Mistake("ignored", "the lengths are ignored: a source of length L ends at step L; the "
                    "padding after it must not change the state.", _encode_variant("ignored")),
            Mistake("final-last-step", "the final state must be each source's state after its "
                    "last real token (step L), not after the padding.",
                    _encode_variant("final-last-step")),
            Mistake("not-zeroed", "memory must be zero at padded steps.",
                    _encode_variant("not-zeroed")),
        ),
        forbidden=_S2S_FORBIDDEN,
        forbidden_library=LIBRARY_LAYERS,
    )
)  # fmt: skip
_register(
    Spec(
        "decode_teacher_forced",
        _ref_decode_teacher_forced,
        _decode_inputs,
        ({"T": 4, "N": 3, "V": 9, "E": 3, "H": 4}, {"T": 1, "N": 2, "V": 6, "E": 2, "H": 3}),
        mistakes=(
            Mistake("no-shift", "the inputs are not shifted: step t reads the token it must "
                    "predict. The input at step 0 is BOS, at step t > 0 it is tgt[t-1].",
                    _decode_no_shift),
            Mistake("zero-state", "the decoder starts from zeros; its first state s_0 is the "
                    "encoder's final state `state`.", _decode_zero_state),
        ),
        forbidden=_S2S_FORBIDDEN,
        forbidden_library=LIBRARY_LAYERS,
    )
)  # fmt: skip
_register(
    Spec(
        "greedy_translate",
        _ref_greedy_translate,
        _greedy_inputs,
        ({"S": 5, "N": 6, "V": 9, "E": 3, "H": 4, "max_len": 7},
         {"S": 3, "N": 2, "V": 6, "E": 2, "H": 3, "max_len": 4}),
        mistakes=(
            Mistake("ignored", "the source lengths are ignored: encode with them, so that the "
                    "padding does not reach the encoder's final state.",
                    _greedy_variant("ignored")),
            Mistake("no-stop", "a sequence does not stop at its EOS: after EOS every position "
                    "holds PAD (= 0).", _greedy_variant("no-stop")),
            Mistake("eos-dropped", "the EOS token itself is part of the output; PAD comes "
                    "after it.",
                    _greedy_variant("eos-dropped")),
            Mistake("eos-fill", "after EOS the positions hold PAD (= 0), not EOS.",
                    _greedy_variant("eos-fill")),
        ),
        forbidden=_S2S_FORBIDDEN,
        forbidden_library=LIBRARY_LAYERS,
    )
)  # fmt: skip


# -- ex10: forecasting ------------------------------------------------------------------------


def _ref_make_windows(series: torch.Tensor, window: int, horizon: int):
    # X^(m) = (s_m, ..., s_{m+w-1}), y^(m) = (s_{m+w}, ..., s_{m+w+h-1})
    return _data.sliding_windows(series, window, horizon)  # (w, M, 1), (M, h)


def _windows_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    series = np.cumsum(rng.normal(size=case["T"]))
    return (series, int(case["window"]), int(case["horizon"])), {}


def _windows_variant(kind: str) -> Callable[..., Any]:
    def variant(series, window, horizon):
        if kind == "batch-first":
            return _data.sliding_windows(series, window, horizon, batch_first=True)
        X, y = _data.sliding_windows(series, window, horizon)
        if kind == "overlap":  # y^(m) = (s_{m+w-1}, ...): starts at the window's last value
            M = X.shape[1]
            steps = torch.arange(M)[:, None] + torch.arange(horizon)  # (M, h)
            return X, series[steps.to(series.device) + window - 1]
        return X[:, :-1], y[:-1]  # "one-short"

    return variant


def _ref_naive_forecast(X: torch.Tensor, horizon: int) -> torch.Tensor:
    # ŷ_{t+k} = s_t for k = 1..h: the last value of each window, repeated
    return X[-1, :, 0, None].expand(-1, horizon).clone()  # (M, h)


def _naive_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    w, M = case["window"], case["M"]
    X = np.cumsum(rng.normal(size=(w, M, 1)), axis=0)
    return (X, int(case["horizon"])), {}


def _naive_variant(kind: str) -> Callable[..., Any]:
    def variant(X, horizon):
        value = {"first": X[0, :, 0], "mean": X[:, :, 0].mean(0)}[kind]
        return value[:, None].expand(-1, horizon).clone()

    return variant


_register(
    Spec(
        "make_windows",
        _ref_make_windows,
        _windows_inputs,
        ({"T": 10, "window": 3, "horizon": 1}, {"T": 12, "window": 4, "horizon": 3}),
        mistakes=(
            Mistake("batch-first", "X is time-major: shape (window, M, 1), window steps first "
                    "(an RNN reads X[t]); yours is (M, window, 1).",
                    _windows_variant("batch-first")),
            Mistake("overlap", "the target starts one step too early: the first value to "
                    "predict, s_{m+w}, comes right *after* the window's last value s_{m+w-1}.",
                    _windows_variant("overlap")),
            Mistake("one-short", "the last window is missing: a series of length T gives "
                    "M = T - window - horizon + 1 windows.", _windows_variant("one-short")),
        ),
        forbidden=("rnncourse.data.sliding_windows",),
    )
)  # fmt: skip
_register(
    Spec(
        "naive_forecast",
        _ref_naive_forecast,
        _naive_inputs,
        ({"window": 4, "M": 5, "horizon": 1}, {"window": 3, "M": 2, "horizon": 3}),
        mistakes=(
            Mistake("first", "this repeats the window's first value; the naive forecast repeats "
                    "the last one, X[-1].", _naive_variant("first")),
            Mistake("mean", "this is the window's mean; the naive forecast repeats its last "
                    "value, X[-1].", _naive_variant("mean")),
        ),
    )
)  # fmt: skip


# -- the references of exercises 6-10 live in these modules and classes: watch them too -------

for _space in (_topo, _bidir, _s2s, _data, _MODULES["rnncourse.gru"]):
    _SNAPSHOTS[_space.__name__] = _snapshot(_space)
    _SPACES[_space.__name__] = _space
for _cls in (
    _topo.ManyToManyAligned, _topo.ManyToOne, _topo.OneToMany, _topo.Readout,
    _s2s.Encoder, _s2s.Decoder, _s2s.Seq2Seq, _MODULES["rnncourse.gru"].GRUCell,
):  # fmt: skip
    _label = f"{_cls.__module__}.{_cls.__qualname__}"
    _SNAPSHOTS[_label] = _snapshot(_cls)
    _SPACES[_label] = _cls


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
        # the import system binds a submodule on its package (rnncourse.grading.trusted)
        if _isinstance(value, types.ModuleType) and value.__name__ == f"{__name__}.{name}":
            types.ModuleType.__setattr__(self, name, value)
            return
        raise AttributeError(f"rnncourse.grading is read-only; the notebook may not rebind {name}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"rnncourse.grading is read-only; the notebook may not delete {name}")


sys.modules[__name__].__class__ = _ReadOnlyModule
_SNAPSHOTS["rnncourse.grading"] = {
    key: value for key, value in _OWN_SNAPSHOT.items() if not key.startswith("__")
}
_SPACES["rnncourse.grading"] = sys.modules[__name__]
