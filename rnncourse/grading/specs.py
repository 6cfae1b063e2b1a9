"""What is graded: :class:`Spec` (one learner function and its reference), :class:`Mistake`,
the registry, and the seeded inputs every check builds.

Each assignment's module (``rnncourse/grading/exNN_<topic>.py``) registers its specs with
:func:`register` when it is imported; ``rnncourse.grading`` imports them all.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from rnncourse.grading.compare import ATOL, RTOL, shape_of

__all__ = [
    "LIBRARY_CELLS",
    "LIBRARY_LAYERS",
    "Case",
    "Inputs",
    "Mistake",
    "mistakes",
    "Spec",
    "build_inputs",
    "describe_call",
    "devices",
    "register",
    "resolve",
    "spec",
    "spec_names",
]

Case = Mapping[str, Any]
Inputs = tuple[tuple[Any, ...], dict[str, Any]]

#: torch's C-level recurrent cells and layers, by their name in ``torch._C._VariableFunctions``.
LIBRARY_CELLS = ("rnn_tanh_cell", "rnn_relu_cell", "lstm_cell", "gru_cell")
LIBRARY_LAYERS = ("rnn_tanh", "rnn_relu", "lstm", "gru")


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


def mistakes(variant: Callable[[str], Callable[..., Any]], hints: dict[str, str]) -> tuple:
    """One :class:`Mistake` per ``name: hint``, in order, its variant ``variant(name)``.

    >>> [m.name for m in mistakes(lambda name: print, {"no-bias": "b is missing."})]
    ['no-bias']
    """
    return tuple(Mistake(name, hint, variant(name)) for name, hint in hints.items())


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
        cases: default cases (dicts of sizes) used when ``check`` gets none.
        backend: ``"torch"`` (run on every device), ``"numpy"`` or ``"python"``.
        mistakes: recognisable mistakes, tried in order.
        forbidden: dotted paths of other functions an answer may not reach (the reference
            itself always is).
        forbidden_library: torch's C-level recurrent functions an answer may not reach, by
            name: :data:`LIBRARY_CELLS` (``"lstm_cell"``, ...) for a task that writes a cell's
            equations, :data:`LIBRARY_LAYERS` (``"lstm"``, ...) for one that writes the loop
            over time. The grader reads the answer's source
            (:func:`rnncourse.grading.static.findings`) and refuses every route to them:
            ``torch.lstm_cell``, ``torch._VF``, ``torch.ops``, ``torch.nn.LSTMCell``, aliases.
        atol, rtol: tolerances for this function.
        contracts: what the task's text promises beyond the values, each checked on every
            case: ``"unchanged-inputs"`` (the function leaves its arguments exactly as it got
            them; nudging in place and putting back counts as unchanged), ``"new-output"`` (no
            returned array is one of the arguments or shares memory with one),
            ``"dtype:float64"`` (every returned array has that dtype).
        outputs: the names of a tuple's items in the task's words (``("h_next", "c_next")``),
            so that messages say "h_next (output 0)" rather than "[0]".
        boundary_cases: cases that the task's text singles out (the zero case, a value exactly
            on a threshold), checked after the given cases by every ``check``, so that a
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


_SPECS: dict[str, Spec] = {}


def resolve(path: str | Callable[..., Any]) -> Callable[..., Any] | None:
    """The function at dotted ``path`` (a module attribute or a class attribute)."""
    if callable(path):
        return path
    module_name, _, attr = path.rpartition(".")
    obj: Any = sys.modules.get(module_name)
    if obj is None:
        try:
            obj = importlib.import_module(module_name)
        except ImportError:  # a class attribute such as torch.nn.RNNCell.forward
            head, _, cls = module_name.rpartition(".")
            try:
                obj = getattr(importlib.import_module(head), cls)
            except (ImportError, AttributeError):
                return None
    return getattr(obj, attr, None)


def register(s: Spec) -> None:
    """Add ``s`` to the registry (an assignment module calls this at import)."""
    unknown = sorted(set(s.forbidden_library) - set(LIBRARY_CELLS) - set(LIBRARY_LAYERS))
    if unknown:
        raise ValueError(f"{s.name}: forbidden_library names unknown functions {unknown}")
    object.__setattr__(s, "_reference", resolve(s.reference))
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
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def _to_backend(value: Any, backend: str, device: str) -> Any:
    if backend != "torch":
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value)).to(device)
    if isinstance(value, tuple | list):
        return type(value)(_to_backend(v, backend, device) for v in value)
    if isinstance(value, dict):
        return {k: _to_backend(v, backend, device) for k, v in value.items()}
    return value


def build_inputs(s: Spec, seed: int, index: int, case: Case, device: str) -> Inputs:
    """Fresh inputs for one call; identical on every call with the same arguments."""
    rng = np.random.default_rng([seed, index])
    args, kwargs = s.make_inputs(rng, case)
    return _to_backend(args, s.backend, device), _to_backend(kwargs, s.backend, device)


def describe_call(s: Spec, args: tuple, kwargs: dict, device: str) -> str:
    """``rnn_cell(x=(2, 3), h=(2, 4), ...) on cpu``: the call, by shapes, for messages."""
    params: list[str] = []
    try:
        params = list(inspect.signature(s._reference).parameters) if s._reference else []
    except (TypeError, ValueError):
        pass
    parts = [
        f"{params[i] if i < len(params) else f'arg{i}'}={shape_of(value)}"
        for i, value in enumerate(args)
    ]
    parts += [f"{k}={shape_of(v)}" for k, v in kwargs.items()]
    where = f" on {device}" if s.backend == "torch" else ""
    return f"{s.name}({', '.join(parts)}){where}"
