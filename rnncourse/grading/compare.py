"""The comparison: a learner's output against the reference's, as one line that says why.

:func:`_compare` walks nested tuples, lists and dicts and compares the leaves (NumPy arrays,
torch tensors, numbers, booleans) with explicit tolerances, naming the first difference: a
missing key, a wrong length, type, device, shape or dtype, the largest error and where it is,
nan or inf where a number is expected. :func:`_transformation` says when a wrong output is a
plain transformation of the right one (all zeros, half, reversed in time, ...). Both run on the
trusted side (the grader's process) and in a learner's own kernel, so the two see the same
messages. Remote objects (:mod:`rnncourse.grading.remote`) and what the worker could not send
compare as "an object of type ...", never as data.

The names used here are captured at import, so that code in a learner's kernel that rebinds
``np.allclose`` or ``torch.Tensor.__eq__`` does not change what their self-check compares.
"""

from __future__ import annotations

import builtins
import math
from typing import Any

import numpy as np
import torch

from rnncourse.grading.channel import Handle as _Handle
from rnncourse.grading.channel import Opaque as _Opaque
from rnncourse.grading.remote import Remote as _Remote

__all__ = ["ATOL", "RTOL"]

#: Inputs are float64; these absorb round-off from a different order of operations.
ATOL = 1e-6
RTOL = 1e-5

_TensorBase = getattr(torch._C, "TensorBase", None) or torch._C._TensorBase
_np_array = np.array
_np_float64 = np.float64
_np_bool = np.bool_
_np_generic = np.generic
_np_unravel_index = np.unravel_index
_np_isfinite = np.isfinite
_np_isnan = np.isnan
_np_errstate = np.errstate
_np_concatenate = np.concatenate
_np_shares_memory = np.shares_memory
_torch_float64 = torch.float64
_tb_detach = _TensorBase.detach
_tb_to = _TensorBase.to
_tb_numpy = _TensorBase.numpy
_tb_is_floating = _TensorBase.is_floating_point
_isinstance = builtins.isinstance
_type = builtins.type
_len = builtins.len
_repr = builtins.repr
_Tensor = torch.Tensor
_Parameter = torch.nn.Parameter
_ndarray = np.ndarray


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
        if a == e or (math.isnan(a) and math.isnan(e)):  # also inf == inf
            return None
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
    # nan matches nan and an infinity the same infinity; nothing else that is not finite matches
    ok_e = e_bad & a_bad & ((_np_isnan(e) & _np_isnan(a)) | (a == e))
    with _np_errstate(invalid="ignore"):  # inf - inf is nan here; a warning would reach stderr
        diff = abs(a - e)
        diff[e_bad] = 0.0
        excess = diff - (atol + rtol * abs(e))
    excess[ok_e] = -1.0
    if (e_bad & ~ok_e).any():
        bad = _np_unravel_index(int((e_bad & ~ok_e).reshape(-1).argmax()), e.shape)
        index = tuple(int(i) for i in bad)
        return f"{label}: at index {index}: expected {e[bad]}, got {a[bad]:.6g}"
    if e.size == 0 or excess.max() <= 0:
        return None
    flat = int(diff.reshape(-1).argmax())
    at = tuple(int(i) for i in _np_unravel_index(flat, e.shape))
    return (
        f"{label}: largest error {diff[at]:.3g} at index {at}: expected "
        f"{e[at]:.6g}, got {a[at]:.6g} (tolerance atol={atol:g}, rtol={rtol:g})"
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


def _name_outputs(problem: str | None, names: tuple[str, ...]) -> str | None:
    """``"[1]: ..."`` as ``"c_next (output 1): ..."`` when the spec names its outputs."""
    if problem is None or not names or not problem.startswith("["):
        return problem
    close = problem.find("]")
    index = problem[1:close]
    if not index.isdigit() or int(index) >= _len(names):
        return problem
    return f"{names[int(index)]} (output {index})" + problem[close + 1 :]


def _transformation(expected: Any, actual: Any, names: tuple[str, ...] = ()) -> str | None:
    """How the first wrong array output relates to the expected one, when it is a plain
    transformation of it: all zeros, negated, half or twice, transposed, reversed in time,
    shifted by one step, its two halves swapped."""
    pairs = list(zip(_leaves(expected, "output"), _leaves(actual, "output"), strict=False))
    for (path, e_leaf), (_, a_leaf) in pairs:
        e_kind, e = _as_array(e_leaf)
        a_kind, a = _as_array(a_leaf)
        if a_kind == "unsupported" or not _isinstance(e, _ndarray) or e.dtype.kind != "f":
            continue
        a = _np_array(a, dtype=_np_float64)
        if a.shape != e.shape or e.size < 2 or _compare(e, a, "", ATOL, RTOL) is None:
            continue
        index = path[len("output") :]
        if index.startswith("[") and index[1:].split("]")[0].isdigit() and names:
            i = int(index[1:].split("]")[0])
            index = f"{names[i]}{index[index.index(']') + 1 :]}" if i < _len(names) else index
        what = f"your {index or 'output'}" if index else "your output"

        def same(candidate: Any, a: Any = a) -> bool:
            return (candidate.shape == a.shape
                    and _compare(candidate, a, "", ATOL, RTOL) is None)  # fmt: skip

        if not abs(e).max() > 0:
            return None
        if not abs(a).max() > 0:
            return f"{what} is all zeros"
        scaled = ((-1.0, "the expected values negated"), (0.5, "exactly half the expected values"),
                  (2.0, "exactly twice the expected values"))  # fmt: skip
        for factor, word in scaled:
            if same(e * factor):
                return f"{what} is {word}"
        if e.ndim >= 2 and e.shape[-1] == e.shape[-2] and same(_np_array(e.swapaxes(-1, -2))):
            return f"{what} is the expected one transposed"
        if e.ndim >= 2 and e.shape[0] > 1:
            if same(e[::-1].copy()):
                return f"{what} is the expected one reversed in time (along the first axis)"
            if same(_np_array(_np_concatenate([e[:1] * 0, e[:-1]]))) or (
                    abs(a[1:] - e[:-1]).max() <= ATOL + RTOL * abs(e[:-1]).max()):  # fmt: skip
                return f"{what} is the expected one shifted one step later in time"
            if abs(a[:-1] - e[1:]).max() <= ATOL + RTOL * abs(e[1:]).max():
                return f"{what} is the expected one shifted one step earlier in time"
        if e.shape[-1] % 2 == 0 and e.shape[-1] >= 2:
            half = e.shape[-1] // 2
            if same(_np_array(_np_concatenate([e[..., half:], e[..., :half]], axis=-1))):
                return f"{what} has the two halves of its last dimension swapped"
        return None
    return None


def _leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """``(path, leaf)`` for every array or tensor in a nested output or argument."""
    if _isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, f"{path}[{k!r}]")]
    if _isinstance(value, tuple | list):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, f"{path}[{i}]")]
    if _isinstance(value, _ndarray | _Tensor):
        return [(path, value)]
    return []


def _shares(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if _isinstance(a, _ndarray) and _isinstance(b, _ndarray):
        return bool(_np_shares_memory(a, b))
    if _isinstance(a, _Tensor) and _isinstance(b, _Tensor) and a.device == b.device:
        if a.numel() == 0 or b.numel() == 0:
            return False
        return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()
    return False
