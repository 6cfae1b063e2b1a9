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

Layout
------
This module is the engine: the captured copies and snapshots, :class:`Spec`, :class:`Mistake`,
:class:`Benchmark`, ``_register``, the diagnosis (registered mistakes, stated contracts, advice
for trained models), the tripwires, :func:`check`, :func:`check_trained`. ``compare`` holds the
comparison of outputs and its messages; ``answers`` the conceptual questions answered with one
number (:class:`~rnncourse.grading.answers.Answer`, :func:`check_answer`). ``trusted`` (the
nbgrader preprocessor), ``worker``, ``remote``, ``channel`` and ``static`` are the trusted
runner: graded test cells run in the grader's process and call the learner's functions in the
sandboxed kernel over a data-only channel (see ``trusted``'s docstring). Each assignment's specs
live in a module of this package named after its folder in ``solutions/``, with their inputs,
cases, exercise-only references and mistaken variants: ``ex02_hidden_state`` (``rnn_cell``,
``output_layer``, ``count_parameters``), ``ex03_unrolling``, ``ex04_bptt``, ``ex05_gradients``,
``ex06_topologies``, ``ex07_lstm_gru`` (``lstm_cell``, ``gru_cell``, the trained
``train_adding_model``), ``ex08_bidirectional``, ``ex08b_speech`` (CTC), ``ex09_seq2seq``
(``encode``, ..., ``additive_attention``, ``beam_search``), ``ex10_applications``
(``make_windows``, ``naive_forecast``, the trained ``train_forecaster``, ``tempered_probs``,
``sample_next``, ``perplexity``); four of them also register a conceptual question. ``_cells``
holds what several share (``_weights``, ``_cell_inputs``, the cells' default cases, the GRU
loops of exercises 6, 8 and 9). Importing this module imports them in the order of
``_ASSIGNMENTS``, each registering its specs, then registers those of the
``rnncourse/_specs_<topic>.py`` modules, and finally seals itself and the spec modules
read-only.

Adding an assignment
--------------------
1. Reference: the function lives in ``rnncourse`` (or, if it is exercise-only, as a small
   private ``_ref_*`` function in the assignment's spec module), with the signature the
   learner will write.
2. Register it in the assignment's spec module, ``rnncourse/grading/exNN_<topic>.py`` (a new
   assignment gets a new module, named after its folder in ``solutions/`` and added to
   ``_ASSIGNMENTS`` here; it imports ``Spec``, ``Mistake``, ``_register`` from
   ``rnncourse.grading`` and shared helpers from ``rnncourse.grading._cells``)::

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
   Specs may also live outside the package, in a module ``rnncourse/_specs_<topic>.py`` that
   imports ``Spec``, ``Mistake`` (and helpers such as ``_cell_inputs``) from here and defines
   ``specs() -> list[Spec]``; this module registers every such module's specs at import,
   after the assignments' modules and before it seals itself.
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
5. Conceptual questions: a number the learner works out by hand (a parameter count, a
   spectral radius) is an :class:`~rnncourse.grading.answers.Answer` registered with
   ``_add_answer(Answer(name, expected, atol=..., rtol=..., integer=..., mistakes=...))`` in
   the assignment's spec module: ``expected()`` computes the right number independently
   (counting a ``torch.nn`` module's parameters), each mistake's ``variant()`` returns a wrong
   number. The answer cell starts ``name = None``; the graded cell calls
   ``grading.check_answer("name", name)``, which never shows the right number (see
   ``answers``' docstring).
6. Trained models: a task graded by the test score of a model the learner trains is a
   :class:`Benchmark` registered with ``_add_benchmark(Benchmark(name, make_data, metric,
   baseline, baseline_label, target))``. ``make_data(seed)`` returns ``(train_args, x_test,
   y_test)``; the learner's ``fn(*train_args)`` returns a ``torch.nn.Module`` and the graded
   cell calls ``grading.check_trained("name", fn)``, which trains on CPU with torch's generator
   seeded, predicts ``x_test`` and fails unless the ``metric`` (``"mse"`` or ``"mae"``) lies
   below ``target(baseline(x_test, y_test))``, naming the score, the threshold and what
   ``baseline_label`` scores. ``benchmark_score(name, model)`` gives ``(score, baseline,
   threshold)`` for a trained model without asserting, e.g. to tune ``target`` in a test.
   The benchmark is registered in the assignment's spec module too (``ex07_lstm_gru``,
   ``ex10_applications``). Library modules (``torch.nn.LSTM``) are allowed here: training is
   the exercise.

Tamper resistance
-----------------
The module captures, at import, the functions it compares with and the reference functions,
and snapshots the attributes of ``numpy``, ``torch``, ``torch.Tensor``,
``torch.nn.functional``, a few builtins, the ``rnncourse`` modules, this module and the
assignments' spec modules (``rnncourse.grading.ex03_unrolling``, ...). Every :func:`check`
first verifies that none of them was rebound (``np.allclose = lambda *a: True``) and fails
with "the notebook rebinds numpy.allclose" if one was; assigning to the attributes of this
module or of a spec module raises (they are sealed read-only once all specs are registered).
Comparisons use the captured copies and ndarray arithmetic only. A call of the
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
import linecache
import math
import sys
import types
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn
from typing import cast as _cast

import numpy as np
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from rnncourse.grading import channel as _channel
from rnncourse.grading.compare import (  # and the private copies both capture at import
    ATOL,
    RTOL,
    _as_array,
    _compare,
    _isinstance,
    _kind_name,
    _leaves,
    _len,
    _name_outputs,
    _ndarray,
    _np_array,
    _np_isfinite,
    _shape_of,
    _shares,
    _tb_to,
    _transformation,
    _type,
)
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
    "Answer",
    "check_answer",
    "devices",
    "spec",
    "spec_names",
]

# ---------------------------------------------------------------------------------------------
# tolerances (explicit; a spec may override them)
# ---------------------------------------------------------------------------------------------

# ATOL and RTOL (explicit; a spec may override them) live in compare.py, with the comparison.

# ---------------------------------------------------------------------------------------------
# private copies of what the checks use beyond the comparison's, captured at import
# ---------------------------------------------------------------------------------------------

_np_float64 = np.float64
_default_rng = np.random.default_rng
_from_numpy = torch.from_numpy
_torch_float64 = torch.float64
_torch_int64 = torch.int64
_cuda_available = torch.cuda.is_available
_AssertionError = builtins.AssertionError
_setprofile = sys.setprofile
_getprofile = sys.getprofile
_getframe = sys._getframe
_catch_warnings = warnings.catch_warnings
_nullcontext = contextlib.nullcontext
_simplefilter = warnings.simplefilter
_Tensor = torch.Tensor
_Parameter = torch.nn.Parameter
_no_grad = torch.no_grad
_manual_seed = torch.manual_seed
_get_num_threads, _set_num_threads = torch.get_num_threads, torch.set_num_threads
_Module = torch.nn.Module

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
# The first optimizer step imports torch._dynamo, which rebinds torch.manual_seed to a wrapped
# copy of itself. That is not tampering, and no comparison uses torch.manual_seed.
_SNAPSHOTS["torch"].pop("manual_seed", None)


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
        contracts: what the task's text promises beyond the values, each checked on every
            case: ``"unchanged-inputs"`` (the function leaves its arguments exactly as it got
            them; nudging in place and putting back counts as unchanged), ``"new-output"`` (no
            returned array is one of the arguments or shares memory with one),
            ``"dtype:float64"`` (every returned array has that dtype).
        outputs: the names of a tuple's items in the task's words (``("h_next", "c_next")``),
            so that messages say "h_next (output 0)" rather than "[0]".
        boundary_cases: cases that the task's text singles out (the zero case, a value exactly
            on a threshold), checked after the given cases by every :func:`check`, so that a
            test cell with its own ``cases=`` checks them too.
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
    contracts: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    boundary_cases: tuple[Case, ...] = ()
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


def _describe(fn_name: str, args: tuple, kwargs: dict, device: str, backend: str) -> str:
    ref_params = []
    try:
        ref_params = list(inspect.signature(_cast(Callable, _SPECS[fn_name]._reference)).parameters)
    except (TypeError, ValueError, KeyError):
        pass
    parts = []
    for i, value in enumerate(args):
        label = ref_params[i] if i < _len(ref_params) else f"arg{i}"
        parts.append(f"{label}={_shape_of(value)}")
    parts += [f"{k}={_shape_of(v)}" for k, v in kwargs.items()]
    where = f" on {device}" if backend == "torch" else ""
    return f"{fn_name}({', '.join(parts)}){where}"


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
_LIBRARY_MODULES: dict[str, Any] = {  # the torch.nn modules whose forward calls them
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
    __tracebackhide__ = True
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
    recipe: dict | None = None, return_args: bool = False, **options: Any,
) -> Any:  # fmt: skip
    """Call a learner's function in the grading worker, raising what :func:`_call_guarded`
    raises for the same behaviour. Inputs that cannot travel as data (a closure ``f`` over the
    array it nudges) are rebuilt in the worker from ``recipe``."""
    __tracebackhide__ = True
    if recipe is not None:
        try:
            _channel.encode((args, kwargs))
            recipe = None
        except TypeError:
            pass
    try:
        if attr is not None:
            return fn.method(attr, *args, **options)
        if not return_args:
            return fn.call(args, kwargs, build=recipe, **options)
        reply = fn.call(args, kwargs, build=recipe, return_args=True, **options)
        if not (
            _isinstance(reply, dict)
            and set(reply) == {"result", "args", "kwargs"}
            and _isinstance(reply["args"], tuple)
            and _isinstance(reply["kwargs"], dict)
        ):
            raise _WorkerFailure("the worker's answer is malformed (no arguments returned)")
        return reply["result"], reply["args"], reply["kwargs"]  # fmt: skip
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


# IPython hides the frames that set __tracebackhide__, except the last one: the verdict is raised
# from a frame of its own, so that a learner's traceback shows their test cell, then the verdict.
_VERDICT_SOURCE = "raise verdict from cause  # the check failed: its message is below\n"
_VERDICT_FILE = "<rnncourse.grading>"
_RAISE_VERDICT = compile(_VERDICT_SOURCE, _VERDICT_FILE, "exec")
linecache.cache[_VERDICT_FILE] = (len(_VERDICT_SOURCE), None, [_VERDICT_SOURCE], _VERDICT_FILE)


#: Why a check failed, beyond its message: the answer's values are ``"wrong"``; it
#: ``"raised"`` an exception of its own, is ``"not-implemented"``, was ``"refused"`` (a
#: from-scratch task that reaches the reference or a library kernel), ``"timed-out"`` or
#: ``"crashed"`` its kernel, or broke the task's ``"contract"``. The trusted grader records it
#: on the test cell (``metadata.rnncourse.verdict``), adding ``"not-defined"`` and
#: ``"did-not-parse"`` (a name the test reads is missing, and the cell that should have
#: defined it does not parse); ``rnncourse report`` and ``audit`` read the record.
VERDICT_KINDS = ("wrong", "raised", "not-implemented", "refused", "timed-out", "crashed",
                 "contract")  # fmt: skip


def _fail(message: str, cause: BaseException | None = None, kind: str = "wrong") -> NoReturn:
    """Raise the verdict, an ``AssertionError`` whose ``rnncourse_verdict`` is ``kind``.

    Without ``cause`` the exception being handled is not shown (the learner sees the verdict,
    not the grader); with it, the learner's own error and frames, after the verdict."""
    __tracebackhide__ = True
    verdict = _AssertionError(message)
    verdict.rnncourse_verdict = kind  # type: ignore[attr-defined]
    verdict._render_traceback_ = lambda: _render_verdict(verdict)  # type: ignore[attr-defined]
    exec(_RAISE_VERDICT, {"verdict": verdict, "cause": cause})  # noqa: S102
    raise verdict  # not reached: the line above raises the verdict


def verdict_lines(ename: str, message: str, width: int = 80) -> list[str]:
    """A failed check as the learner reads it: ``ename: message``, wrapped at word boundaries.

    The in-notebook test cell (:func:`_render_verdict`) and the trusted grader both show exactly
    this, so Validate and the feedback print the same words. Continuation lines keep the
    line's indent plus two spaces::

        >>> text = "f is wrong:\\n  Likely mistake: " + "ab " * 30
        >>> print(verdict_lines("AssertionError", text)[0])
        AssertionError: f is wrong:
          Likely mistake: ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab
            ab ab ab ab ab ab ab ab ab
    """
    import textwrap

    lines: list[str] = []
    for line in f"{ename}: {message}".split("\n"):
        indent = line[: len(line) - len(line.lstrip())]
        lines += textwrap.wrap(line, width, subsequent_indent=indent + "  ",
                               break_long_words=False, break_on_hyphens=False) or [""]  # fmt: skip
    return ["\n".join(lines)]


def _passed(line: str) -> None:
    """Say that a check passed, once per cell (a test cell checks visible and hidden cases)."""
    shell = sys.modules["IPython"].get_ipython() if "IPython" in sys.modules else None
    key = (getattr(shell, "execution_count", None), line)
    if key != _LAST_PASS[0]:
        _LAST_PASS[0] = key
        print(line)  # noqa: T201 - the learner's one line


_LAST_PASS: list[Any] = [None]


def _render_verdict(verdict: BaseException) -> list[str]:
    """How IPython shows a failed check (its ``_render_traceback_`` hook): the verdict first,
    in full, without the grader's frames; then the learner's own error, if one caused it."""
    lines = verdict_lines(_type(verdict).__name__, str(verdict))
    cause = verdict.__cause__
    shell = sys.modules["IPython"].get_ipython() if "IPython" in sys.modules else None
    if cause is not None and shell is not None:
        lines += ["", "Where it happened in your code:"]
        lines += shell.InteractiveTB.structured_traceback(_type(cause), cause, cause.__traceback__)
    return lines


def _verify_namespace(caller_globals: Mapping[str, Any] | None) -> None:
    __tracebackhide__ = True
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
    """The hint of the mistake whose variant reproduces ``actual``; when several do (the case
    cannot tell them apart), "one of: ..." with their hints in registered order."""
    hints: list[str] = []
    for mistake in s.mistakes:
        if mistake.hint in hints:
            continue
        args, kwargs = _build(s, seed, index, case, device)
        try:
            with _catch_warnings():
                _simplefilter("ignore")
                wrong = mistake.variant(*args, **kwargs)
        except Exception:
            continue
        if _compare(wrong, actual, "", s.atol, s.rtol) is None:
            hints.append(mistake.hint)
    if not hints:
        return None
    if _len(hints) == 1:
        return hints[0]
    return "one of: " + " | ".join(f"({i + 1}) {hint}" for i, hint in enumerate(hints))


_SHAPE_ERRORS = ("shapes cannot be multiplied", "mat1 and mat2", "size mismatch", "not aligned")


def check(
    name: str,
    fn: Callable[..., Any],
    cases: Sequence[Case] | None = None,
    *,
    seed: int = 0,
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
    __tracebackhide__ = True
    _run_check(_getframe(1), name, fn, cases, seed, forbid_reference=True)


def _check(
    name: str,
    fn: Callable[..., Any],
    cases: Sequence[Case] | None = None,
    *,
    seed: int = 0,
    forbid_reference: bool = True,
) -> None:
    """:func:`check`, for the course's own tests: ``forbid_reference=False`` turns the call
    tripwires off (calls of the reference, of the spec's ``forbidden`` functions and of its
    ``forbidden_library``), so that an independent implementation built on ``torch.nn.GRU`` or
    ``torch.lstm_cell`` can be checked."""
    __tracebackhide__ = True
    _run_check(_getframe(1), name, fn, cases, seed, forbid_reference=forbid_reference)


def _run_check(
    frame: Any,
    name: str,
    fn: Callable[..., Any],
    cases: Sequence[Case] | None,
    seed: int,
    *,
    forbid_reference: bool,
) -> None:
    """The body of :func:`check`; ``frame`` is its caller's, whose namespace is verified."""
    __tracebackhide__ = True
    _verify_namespace(frame.f_globals if frame is not None else None)
    s = spec(name)
    if s._reference is None:
        _fail(f"grading: the reference for {name} is not available ({s.reference})")
    if not callable(fn):
        _fail(f"{name}: expected a function, got {_type(fn).__name__}")
    if _isinstance(fn, _Remote) and forbid_reference:  # graded: read the answers' source too
        problems = _cast(_Remote, fn)._link.findings(name)
        if problems:
            listed = "\n  ".join(problems[:5])
            _fail(
                f"{name} cannot be graded as written: this task asks you to write the "
                f"computation yourself, and the code {name} runs reaches something the "
                f"grader cannot accept for it:\n  {listed}\n  Write the steps with tensor "
                "operations; torch's recurrent layers, the course's reference and code that "
                "hides what it calls are fine for checking your work in another notebook, "
                "not here.",
                kind="refused",
            )
    run_on = devices() if s.backend == "torch" else ["cpu"]
    every = [*(cases if cases is not None else s.cases), *s.boundary_cases]
    for device in run_on:
        for index, case in enumerate(every):
            _check_case(s, fn, seed, index, case, device, forbid_reference)
    _passed(f"{name} passes: it matches the reference on every test input.")


def _check_case(
    s: Spec,
    fn: Callable[..., Any],
    seed: int,
    index: int,
    case: Case,
    dev: str,
    forbidden: bool = True,
) -> None:
    __tracebackhide__ = True
    args, kwargs = _build(s, seed, index, case, dev)
    where = _describe(s.name, args, kwargs, dev, s.backend)
    ref_args, ref_kwargs = _build(s, seed, index, case, dev)
    with _catch_warnings():
        _simplefilter("ignore")
        expected = _cast(Callable, s._reference)(*ref_args, **ref_kwargs)
    try:
        if _isinstance(fn, _Remote):
            recipe = {"spec": s.name, "seed": seed, "index": index, "case": dict(case),
                      "device": dev}  # fmt: skip
            guard = s.name if forbidden else None
            if s.contracts:  # the arguments come back too, as the call left them
                actual, args, kwargs = _call_remote(_cast(_Remote, fn), args, kwargs, guard=guard,
                                                    recipe=recipe, return_args=True)  # fmt: skip
            else:
                actual = _call_remote(_cast(_Remote, fn), args, kwargs, guard=guard, recipe=recipe)
        else:
            actual = _call_guarded(
                fn,
                args,
                kwargs,
                s._forbidden_codes if forbidden else frozenset(),
                s.forbidden_library if forbidden else (),
            )
    except _WorkerFailure as error:
        _fail(f"{s.name}: {error} (for {where}).", kind=error.kind)
    except NotImplementedError:
        _fail(f"{s.name} is not implemented yet (it raises NotImplementedError).",
              kind="not-implemented")  # fmt: skip
    except _CallsLibrary as error:
        task = (
            "write the equations yourself"
            if set(s.forbidden_library) & set(LIBRARY_CELLS)
            else "write the loop over time yourself"
        )
        _fail(f"{s.name} calls {error.args[0]}, a library implementation: {task} (for {where}).",
              kind="refused")  # fmt: skip
    except _CallsReference:
        _fail(
            f"{s.name} calls the reference implementation; write the computation yourself "
            f"(for {where}).",
            kind="refused",
        )
    except SystemExit:
        _fail(f"{s.name} tried to exit the interpreter (sys.exit) for {where}.", kind="raised")
    except Exception as error:  # the learner's own error, reported with the input shapes
        hint = ""
        if any(text in str(error) for text in _SHAPE_ERRORS):
            hint = (
                "\n  Hint: a matrix product got incompatible shapes. With row vectors the "
                "book's W x is written x @ W.T; check which weight multiplies what."
            )
        own = None if _isinstance(error, _RemoteError) else error  # keep the learner's frames
        _fail(f"{s.name} raised {_error_type(error)}: {error}\n  for {where}{hint}", own, "raised")
    problem = _name_outputs(_compare(expected, actual, "", s.atol, s.rtol), s.outputs)
    broken = _broken_contract(s, actual, (args, kwargs), _build(s, seed, index, case, dev))
    if problem is None:
        if broken:
            _fail(f"{s.name} gives the right values but {broken} (for {where}).", kind="contract")
        return
    _verify_namespace(None)  # the learner's function may have rebound something while running
    message = f"{s.name} is wrong for {where}:\n  {problem}"
    diagnosis = _diagnose(s, actual, seed, index, case, dev)
    if diagnosis:
        message += f"\n  Likely mistake: {diagnosis}"
    else:
        shape = _transformation(expected, actual, s.outputs)
        if shape:
            message += f"\n  What it looks like: {shape}."
    if broken:
        message += f"\n  Also: it {broken}."
    _fail(message)


def _broken_contract(s: Spec, actual: Any, after: Inputs, before: Inputs) -> str | None:
    """What the learner's call broke of the spec's stated contracts, or ``None``."""
    if not s.contracts:
        return None
    names: list[str] = []
    try:
        names = list(inspect.signature(_cast(Callable, s._reference)).parameters)
    except (TypeError, ValueError):
        pass

    def label(i: int) -> str:
        return names[i] if i < _len(names) else f"argument {i}"

    pairs = [(label(i), b, a) for i, (b, a) in enumerate(zip(before[0], after[0], strict=False))]
    pairs += [(k, before[1][k], after[1].get(k)) for k in before[1]]
    if "unchanged-inputs" in s.contracts:
        for name, old, new in pairs:
            if callable(old) or new is None:  # a function argument, or one the worker kept
                continue
            if _compare(old, new, name, 0.0, 0.0) is not None:
                return (f"changes its input {name}; it must leave it exactly as it was (copy "
                        "it, or put back what you change)")  # fmt: skip
    if "new-output" in s.contracts:
        inputs = [leaf for name, _, new in pairs for leaf in _leaves(new, name)]
        for out_path, out in _leaves(actual, "output"):
            for in_path, leaf in inputs:
                if _shares(out, leaf):
                    return (f"returns {in_path} itself in {out_path} (or an array sharing its "
                            "memory); return new arrays")  # fmt: skip
    for contract in s.contracts:
        if contract.startswith("dtype:"):
            want = contract[6:]
            for out_path, out in _leaves(actual, "output"):
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
        # variants may use other references (e.g. full BPTT), so the call tripwire is off
        _check(name, chosen.variant, forbid_reference=False)
    except AssertionError as error:
        if chosen.hint not in str(error):
            raise AssertionError(f"{name}/{mistake}: wrong diagnosis:\n{error}") from None
        return
    raise AssertionError(f"{name}/{mistake}: the mistaken variant passes the check")


# -- trained models: "does it beat the baseline on a test set it never saw?" ------------------


@dataclass(frozen=True)
class Benchmark:
    """How to grade a learner's training function by its model's score on held-out data.

    Args:
        name: the learner's function name.
        make_data: ``seed -> (train_args, x_test, y_test)``; the learner's function is called
            as ``fn(*train_args)`` and must return a ``torch.nn.Module`` mapping ``x_test`` to
            predictions shaped like ``y_test``. A tuple ``x_test`` is the model's arguments,
            ``model(*x_test)`` (the first is the input sequence the probes vary).
        metric: ``"mse"`` or ``"mae"`` (of the predictions against ``y_test``), or the name of
            what ``evaluate`` computes (``"ler"``); lower is better for every metric.
        baseline: ``(x_test, y_test) -> score`` of the baseline the model must beat.
        baseline_label: what the baseline is ("always predicting 1").
        target: ``baseline_score -> threshold``; the model's score must lie below it.
        evaluate: ``(predictions, x_test, y_test) -> score`` where the predictions are not
            compared with ``y_test`` element by element (a CTC recogniser's log-probabilities,
            decoded first); ``None`` for ``metric``.
        output_shape: ``(x_test, y_test) -> shape`` the predictions must have, where it is
            not ``y_test``'s.
        advice: ``predictions -> hint or None``, advice that only this task can give (a
            recogniser that outputs only blanks), tried after the nan check.
    """

    name: str
    make_data: Callable[[int], tuple[tuple, Any, Any]]
    metric: str
    baseline: Callable[[Any, Any], float]
    baseline_label: str
    target: Callable[[float], float]
    evaluate: Callable[[Any, Any, Any], float] | None = None
    output_shape: Callable[[Any, Any], tuple[int, ...]] | None = None
    advice: Callable[[Any], str | None] | None = None


_BENCHMARKS: dict[str, Benchmark] = {}


def _score(metric: str, pred: np.ndarray, target: np.ndarray) -> float:
    err = pred - target
    return float((err * err).mean()) if metric == "mse" else float(abs(err).mean())


def _model_args(x_test: Any) -> tuple:
    """A benchmark's test inputs as the model's positional arguments."""
    return tuple(x_test) if _isinstance(x_test, tuple) else (x_test,)


def _benchmark_score(b: Benchmark, p: np.ndarray, x_test: Any, y_test: Any) -> float:
    if b.evaluate is not None:
        return float(b.evaluate(p, x_test, y_test))
    return _score(b.metric, p, _as_array(y_test)[1])


def benchmark_score(name: str, model: Any, *, seed: int = 0) -> tuple[float, float, float]:
    """``(score, baseline, threshold)`` of a trained ``model`` on benchmark ``name``'s test set."""
    b = _BENCHMARKS[name]
    _, x_test, y_test = b.make_data(seed)
    with _no_grad():
        pred = model(*_model_args(x_test))
    kind, p = _as_array(pred)
    shape = (
        tuple(b.output_shape(x_test, y_test))
        if b.output_shape
        else tuple(_as_array(y_test)[1].shape)
    )
    if not kind.startswith("tensor") or tuple(p.shape) != shape:
        return math.nan, math.nan, math.nan
    baseline = b.baseline(x_test, y_test)
    return _benchmark_score(b, p, x_test, y_test), baseline, b.target(baseline)


def check_trained(name: str, fn: Callable[..., Any], *, seed: int = 0) -> None:
    """Train with the learner's ``fn`` and check that its model beats the benchmark's baseline.

    The training data and a held-out test set are built here from ``seed``; the learner's
    function only sees the training data. Runs on CPU; torch's generator is seeded first so
    that the result does not depend on what ran before.

    Raises:
        AssertionError: with the model's test score, the threshold and the baseline's score.
    """
    __tracebackhide__ = True
    frame = _getframe(1)
    _verify_namespace(frame.f_globals if frame is not None else None)
    if name not in _BENCHMARKS:
        raise KeyError(f"no trained task called {name!r}; known: {sorted(_BENCHMARKS)}")
    b = _BENCHMARKS[name]
    if not callable(fn):
        _fail(f"{name}: expected a function, got {_type(fn).__name__}")
    train_args, x_test, y_test = b.make_data(seed)
    test_args = _model_args(x_test)
    where = ", ".join(_shape_of(a) for a in train_args)
    _manual_seed(seed)
    threads = _get_num_threads()
    _set_num_threads(1)  # tiny models train faster on one thread, also on a busy machine
    try:
        if _isinstance(fn, _Remote):
            model = _call_remote(_cast(_Remote, fn), train_args, {}, seed=seed, threads=1)
        else:
            model = _call_guarded(fn, train_args, {}, frozenset())
    except _WorkerFailure as error:
        _fail(f"{name}: {error} (for {name}({where})).", kind=error.kind)
    except NotImplementedError:
        _fail(f"{name} is not implemented yet (it raises NotImplementedError).",
              kind="not-implemented")  # fmt: skip
    except SystemExit:
        _fail(f"{name} tried to exit the interpreter (sys.exit).", kind="raised")
    except Exception as error:
        own = None if _isinstance(error, _RemoteError) else error
        _fail(f"{name} raised {_error_type(error)}: {error}\n  for {name}({where})", own, "raised")
    finally:
        _set_num_threads(threads)
    remote = _isinstance(model, _Remote)
    if not (model.is_module if remote else _isinstance(model, _Module)):
        _fail(f"{name} must return the trained torch.nn.Module, got {_type(model).__name__}")
    try:
        _call_remote(model, (), {}, attr="eval") if remote else model.eval()
    except (_WorkerFailure, _RemoteError) as error:
        _fail(f"{name}: the returned model's eval() failed: {_error_type(error)}: {error}",
              kind="raised")  # fmt: skip
    try:
        with _no_grad():
            if remote:
                pred = _call_remote(model, test_args, {}, no_grad=True)
            else:
                pred = _call_guarded(model, test_args, {}, frozenset())
    except _WorkerFailure as error:
        _fail(f"{name}: {error} (the model on the test inputs {_shape_of(x_test)}).",
              kind=error.kind)  # fmt: skip
    except Exception as error:
        _fail(
            f"{name}: the returned model raised {_error_type(error)} on the test inputs "
            f"{_shape_of(x_test)}: {error}",
            kind="raised",
        )
    problem = None
    kind, p = _as_array(pred)
    y = _as_array(y_test)[1] if b.output_shape is None else None
    shape = (
        tuple(b.output_shape(x_test, y_test))
        if b.output_shape
        else tuple(_as_array(y_test)[1].shape)
    )
    if not kind.startswith("tensor"):
        problem = f"expected a torch tensor of predictions, got {_kind_name(kind)}"
    elif tuple(p.shape) != shape:
        problem = f"expected predictions of shape {_shape_of(shape)}, got shape {_shape_of(p)}"
    if problem:
        _fail(f"{name}: for test inputs of shape {_shape_of(x_test)} the model's output is wrong: "
              f"{problem}")  # fmt: skip
    _verify_namespace(None)
    score = _benchmark_score(b, p, x_test, y_test)
    baseline = b.baseline(x_test, y_test)
    threshold = b.target(baseline)
    if not (score < threshold):  # also catches nan

        def predict(x: Any) -> Any:
            args = (x, *test_args[1:])
            with _no_grad():
                out = _call_remote(model, args, {}, no_grad=True) if remote else model(*args)
            return _as_array(out)[1]

        try:
            advice = _trained_advice(predict, test_args[0], p, y, score, baseline, b.advice)
        except Exception:  # a probe the model cannot take: give the general advice
            advice = _TRAIN_MORE
        _fail(
            f"{name}: the trained model's test {b.metric.upper()} is {score:.4g}; it must be "
            f"below {threshold:.4g}. For comparison, {b.baseline_label} scores {baseline:.4g}. "
            + advice
        )
    _passed(
        f"{name} passes: the trained model's test {b.metric.upper()} is {score:.4g}, below "
        f"{threshold:.4g} ({b.baseline_label} scores {baseline:.4g})."
    )


_TRAIN_MORE = (
    "It has learned part of the task: train longer, with a larger learning rate or a larger "
    "hidden size."
)


def _trained_advice(
    predict: Callable[[Any], Any],
    x_test: Any,
    p: Any,
    y: Any,
    score: float,
    baseline: float,
    specific: Callable[[Any], str | None] | None = None,
) -> str:
    """Advice that fits what the trained model's predictions show, most telling first.

    ``y`` is ``None`` where the predictions are not shaped like the targets (a recogniser's
    log-probabilities); then "the same for every sequence" compares the sequences'
    predictions with each other.
    """
    if not _np_isfinite(p).all():
        return ("Its predictions contain nan or inf: training diverged. Lower the learning "
                "rate, or clip the gradient norm (chapter 5).")  # fmt: skip
    if specific is not None:
        hint = specific(p)
        if hint:
            return hint
    if y is None:  # (T, N, ...): compare the N sequences' predictions with each other
        same = p.std(axis=1).mean() < 1e-3 * (abs(p).max() + 1e-12)
    else:
        same = p.std() < 0.05 * y.std()
    if same:
        return ("Its predictions are nearly the same for every test sequence, so it has not "
                "learned to read its input: check that each batch calls loss.backward() and "
                "optimizer.step() (after optimizer.zero_grad()), and that the loss compares the "
                "model's output with the targets.")  # fmt: skip
    T, N = x_test.shape[0], x_test.shape[1]
    if T > 1 and N > 1:
        other = torch.roll(torch.arange(N), 1)  # every sequence's steps from another sequence
        scale = 1e-4 * (abs(p).max() + 1e-12)
        first_only = x_test.clone()
        first_only[1:] = x_test[1:, other]
        if abs(predict(first_only) - p).max() <= scale:
            return ("Its predictions depend only on the first time step: read the state after "
                    "the last step (output[-1] or h_n), not output[0].")  # fmt: skip
        last_only = x_test.clone()
        last_only[:-1] = x_test[:-1, other]
        if abs(predict(last_only) - p).max() <= scale:
            return (
                "Its predictions depend only on the last time step: the recurrence carries "
                "nothing from the earlier steps (is the state passed from step to step?)."
            )
    if score > 0.9 * baseline:
        return ("It does hardly better than the baseline: it may not be training (check "
                "zero_grad, backward and optimizer.step() in every batch), or the learning rate "
                "is far too small for the number of steps.")  # fmt: skip
    return _TRAIN_MORE


def _add_benchmark(b: Benchmark) -> None:
    _BENCHMARKS[b.name] = b


# ---------------------------------------------------------------------------------------------
# specs: one module per assignment, with its inputs, exercise-only references and mistakes
# ---------------------------------------------------------------------------------------------

#: The assignments' spec modules, ``rnncourse/grading/<assignment>.py`` named after the folders
#: in ``solutions/``; each registers its specs when imported, in this order (which is the order
#: of ``_SPECS``). ``_cells`` holds what several of them share.
_ASSIGNMENTS = (
    "ex02_hidden_state",
    "ex03_unrolling",
    "ex04_bptt",
    "ex05_gradients",
    "ex06_topologies",
    "ex07_lstm_gru",
    "ex08_bidirectional",
    "ex08b_speech",
    "ex09_seq2seq",
    "ex10_applications",
)
_cells = importlib.import_module(f"{__name__}._cells")
# conceptual questions answered with one number (Answer, check_answer), which the spec modules add
_answers = importlib.import_module(f"{__name__}.answers")
Answer, check_answer, _add_answer = _answers.Answer, _answers.check_answer, _answers._add_answer
_SPEC_MODULES = (
    _cells,
    _answers,
    *(importlib.import_module(f"{__name__}.{n}") for n in _ASSIGNMENTS),
)
_weights, _cell_inputs = _cells._weights, _cells._cell_inputs  # for rnncourse/_specs_*.py

# -- the references of exercises 6-10 live in these modules and classes: watch them too -------

_topo = importlib.import_module("rnncourse.topologies")
_bidir = importlib.import_module("rnncourse.bidirectional")
_s2s = importlib.import_module("rnncourse.seq2seq")
_data = importlib.import_module("rnncourse.data")
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
        if _isinstance(value, types.ModuleType) and value.__name__ == f"{self.__name__}.{name}":
            types.ModuleType.__setattr__(self, name, value)
            return
        raise AttributeError(f"{self.__name__} is read-only; the notebook may not rebind {name}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{self.__name__} is read-only; the notebook may not delete {name}")


# the assignments' modules hold references, inputs and variants that the checks call: sealed and
# watched like this module (`grading.ex03_unrolling._ref_rnn_forward = ...` raises)
for _module in _SPEC_MODULES:
    _module.__class__ = _ReadOnlyModule
    _SNAPSHOTS[_module.__name__] = {
        key: value for key, value in vars(_module).items() if not key.startswith("__")
    }
    _SPACES[_module.__name__] = _module
sys.modules[__name__].__class__ = _ReadOnlyModule
_SNAPSHOTS["rnncourse.grading"] = {
    key: value for key, value in _OWN_SNAPSHOT.items() if not key.startswith("__")
}
_SPACES["rnncourse.grading"] = sys.modules[__name__]
