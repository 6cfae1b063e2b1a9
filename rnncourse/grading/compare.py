"""The comparison: a learner's output against the reference's, as one line that says why.

:func:`compare` walks nested tuples, lists and dicts and compares the leaves (NumPy arrays,
torch tensors, numbers, booleans) with explicit tolerances, naming the first difference: a
missing key, a wrong length, type, device, shape or dtype, the largest error and where it is,
nan or inf where a number is expected. :func:`transformation` says when a wrong output is a
plain transformation of the right one (all zeros, half, reversed in time, ...). Remote objects
(:mod:`rnncourse.grading.remote`) and what the worker could not send compare as "an object of
type ...", never as data.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from rnncourse.grading.channel import Handle, Opaque
from rnncourse.grading.remote import Remote

__all__ = ["ATOL", "RTOL", "as_array", "compare", "kind_name", "leaves", "name_outputs",
           "shape_of", "shares", "transformation"]  # fmt: skip

#: Inputs are float64; these absorb round-off from a different order of operations.
ATOL = 1e-6
RTOL = 1e-5


def shape_of(value: Any) -> str:
    if isinstance(value, torch.Tensor | np.ndarray):
        dims = tuple(value.shape)
        return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {shape_of(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple | list):
        inner = ", ".join(shape_of(v) for v in value)
        return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    if callable(value):
        return "a function"
    if value is None or isinstance(value, bool | int | float | str):
        return repr(value)
    return type(value).__name__


def as_array(value: Any) -> tuple[str, Any]:
    """(kind, NumPy array or Python value) for a learner's or reference output leaf."""
    if isinstance(value, Remote | Handle | Opaque):  # an object the worker kept or withheld
        return "unsupported", value.type_name
    if isinstance(value, torch.Tensor):
        if type(value) not in (torch.Tensor, torch.nn.Parameter):
            return "unsupported", type(value).__name__
        t = value.detach()
        device = str(value.device)
        t = t.to("cpu", torch.float64) if t.is_floating_point() else t.to("cpu")
        return f"tensor:{device}", np.array(t.numpy(), copy=True)
    if isinstance(value, np.ndarray):
        return "ndarray", np.array(value, copy=True, subok=False)
    if isinstance(value, bool | np.bool_):
        return "bool", bool(value)
    if isinstance(value, int | float | np.float64) or type(value).__module__ == "numpy":
        try:
            return "number", float(value)
        except (TypeError, ValueError):
            pass
    return "unsupported", type(value).__name__


def compare(expected: Any, actual: Any, path: str, atol: float, rtol: float) -> str | None:
    """``None`` if ``actual`` matches ``expected``, else a one-line description."""
    label = path or "output"
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            kind = type(actual).__name__
            return f"{label}: expected a dict with keys {sorted(expected)}, got {kind}"
        missing = [k for k in expected if k not in actual]
        if missing:
            return f"{label}: missing keys {missing}"
        for key in expected:
            problem = compare(expected[key], actual[key], f"{path}[{key!r}]", atol, rtol)
            if problem:
                return problem
        return None
    if isinstance(expected, tuple | list):
        if not isinstance(actual, tuple | list):
            return (
                f"{label}: expected a {type(expected).__name__} of {len(expected)} items, "
                f"got {type(actual).__name__}"
            )
        if len(actual) != len(expected):
            return f"{label}: expected {len(expected)} items, got {len(actual)}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            problem = compare(e, a, f"{path}[{i}]", atol, rtol)
            if problem:
                return problem
        return None
    e_kind, e = as_array(expected)
    a_kind, a = as_array(actual)
    if a_kind == "unsupported":
        return f"{label}: expected {kind_name(e_kind)}, got an object of type {a}"
    if e_kind.startswith("tensor") and a_kind != e_kind:
        return f"{label}: expected {kind_name(e_kind)}, got {kind_name(a_kind)}"
    if e_kind == "ndarray" and a_kind.startswith("tensor"):
        return f"{label}: expected a NumPy array, got {kind_name(a_kind)}"
    if e_kind in ("bool", "number"):
        if a_kind not in ("bool", "number") and not (isinstance(a, np.ndarray) and a.ndim == 0):
            return f"{label}: expected a single number, got {kind_name(a_kind)} {shape_of(a)}"
        a = float(a)
        e = float(e)
        if e_kind == "bool" or isinstance(expected, int):
            if a == e:
                return None
            return f"{label}: expected {_plain(expected)!r}, got {_plain(actual)!r}"
        if a == e or (math.isnan(a) and math.isnan(e)):  # also inf == inf
            return None
        if not (math.isfinite(a) and math.isfinite(e)):  # an infinity matches only itself
            return f"{label}: expected {e:.6g}, got {a}"
        if abs(a - e) <= atol + rtol * abs(e):
            return None
        return f"{label}: expected {e:.6g}, got {a:.6g} (tolerance atol={atol:g}, rtol={rtol:g})"
    # arrays
    a = np.array(a, subok=False)
    if a.shape != e.shape:
        return f"{label}: expected shape {shape_of(e)}, got shape {shape_of(a)}"
    if e.dtype == np.bool_ or e.dtype.kind in "iu":
        if a.dtype.kind not in "biuf":
            return f"{label}: expected numbers, got dtype {a.dtype}"
        wrong = (a != e).reshape(-1)
        if not wrong.any():
            return None
        where = np.unravel_index(int(wrong.argmax()), e.shape)
        return (
            f"{label}: {int(wrong.sum())} of {e.size} entries differ; first at index "
            f"{tuple(int(i) for i in where)}: expected {_plain(e[where])!r}, "
            f"got {_plain(a[where])!r}"
        )
    a = a.astype(np.float64)
    a_bad, e_bad = ~np.isfinite(a), ~np.isfinite(e)
    if (a_bad & ~e_bad).any():
        where = np.unravel_index(int((a_bad & ~e_bad).reshape(-1).argmax()), e.shape)
        return f"{label}: contains nan/inf, first at index {tuple(int(i) for i in where)}"
    # nan matches nan and an infinity the same infinity; nothing else that is not finite matches
    ok_e = e_bad & a_bad & ((np.isnan(e) & np.isnan(a)) | (a == e))
    with np.errstate(invalid="ignore"):  # inf - inf is nan here; a warning would reach stderr
        diff = abs(a - e)
        diff[e_bad] = 0.0
        excess = diff - (atol + rtol * abs(e))
    excess[ok_e] = -1.0
    if (e_bad & ~ok_e).any():
        bad = np.unravel_index(int((e_bad & ~ok_e).reshape(-1).argmax()), e.shape)
        index = tuple(int(i) for i in bad)
        return f"{label}: at index {index}: expected {e[bad]}, got {a[bad]:.6g}"
    if e.size == 0 or excess.max() <= 0:
        return None
    flat = int(diff.reshape(-1).argmax())
    at = tuple(int(i) for i in np.unravel_index(flat, e.shape))
    return (
        f"{label}: largest error {diff[at]:.3g} at index {at}: expected "
        f"{e[at]:.6g}, got {a[at]:.6g} (tolerance atol={atol:g}, rtol={rtol:g})"
    )


def _plain(value: Any) -> Any:
    """A NumPy scalar, 0-d array or 0-d tensor as the Python number it holds, for messages
    (``5``, not ``np.int64(5)``); anything else unchanged."""
    if isinstance(value, torch.Tensor) and value.ndim == 0:
        value = as_array(value)[1]
    if isinstance(value, np.generic | np.ndarray) and value.ndim == 0:
        return value.item()
    return value


def kind_name(kind: str) -> str:
    if kind.startswith("tensor:"):
        return f"a torch tensor on {kind[7:]}"
    return {"ndarray": "a NumPy array", "number": "a number", "bool": "a bool"}.get(kind, kind)


def name_outputs(problem: str | None, names: tuple[str, ...]) -> str | None:
    """``"[1]: ..."`` as ``"c_next (output 1): ..."`` when the spec names its outputs."""
    if problem is None or not names or not problem.startswith("["):
        return problem
    close = problem.find("]")
    index = problem[1:close]
    if not index.isdigit() or int(index) >= len(names):
        return problem
    return f"{names[int(index)]} (output {index})" + problem[close + 1 :]


def transformation(expected: Any, actual: Any, names: tuple[str, ...] = ()) -> str | None:
    """How the first wrong array output relates to the expected one, when it is a plain
    transformation of it: all zeros, negated, half or twice, transposed, reversed in time,
    shifted by one step, its two halves swapped."""
    for (index, e_leaf), (_, a_leaf) in zip(leaves(expected), leaves(actual), strict=False):
        e_kind, e = as_array(e_leaf)
        a_kind, a = as_array(a_leaf)
        if a_kind == "unsupported" or not isinstance(e, np.ndarray) or e.dtype.kind != "f":
            continue
        a = np.array(a, dtype=np.float64)
        if a.shape != e.shape or e.size < 2 or compare(e, a, "", ATOL, RTOL) is None:
            continue
        if index.startswith("[") and index[1:].split("]")[0].isdigit() and names:
            i = int(index[1:].split("]")[0])
            index = f"{names[i]}{index[index.index(']') + 1 :]}" if i < len(names) else index
        what = f"your {index}" if index else "your output"

        def same(candidate: Any, a: Any = a) -> bool:
            return (candidate.shape == a.shape
                    and compare(candidate, a, "", ATOL, RTOL) is None)  # fmt: skip

        if not abs(e).max() > 0:
            return None
        if not abs(a).max() > 0:
            return f"{what} is all zeros"
        scaled = ((-1.0, "the expected values negated"), (0.5, "exactly half the expected values"),
                  (2.0, "exactly twice the expected values"))  # fmt: skip
        for factor, word in scaled:
            if same(e * factor):
                return f"{what} is {word}"
        if e.ndim >= 2 and same(np.array(e.swapaxes(-1, -2))):  # same() compares shapes too
            return f"{what} is the expected one transposed"
        if e.ndim >= 2 and e.shape[0] > 1:
            if same(e[::-1].copy()):
                return f"{what} is the expected one reversed in time (along the first axis)"
            if abs(a[1:] - e[:-1]).max() <= ATOL + RTOL * abs(e[:-1]).max():
                return f"{what} is the expected one shifted one step later in time"
            if abs(a[:-1] - e[1:]).max() <= ATOL + RTOL * abs(e[1:]).max():
                return f"{what} is the expected one shifted one step earlier in time"
        if e.shape[-1] % 2 == 0:  # of a size >= 2, so at least two columns
            half = e.shape[-1] // 2
            if same(np.array(np.concatenate([e[..., half:], e[..., :half]], axis=-1))):
                return f"{what} has the two halves of its last dimension swapped"
        return None
    return None


def leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """``(path, leaf)`` for every array or tensor in a nested output or argument."""
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in leaves(v, f"{path}[{k!r}]")]
    if isinstance(value, tuple | list):
        return [leaf for i, v in enumerate(value) for leaf in leaves(v, f"{path}[{i}]")]
    if isinstance(value, np.ndarray | torch.Tensor):
        return [(path, value)]
    return []


def shares(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return bool(np.shares_memory(a, b))
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.device == b.device:
        if a.numel() == 0 or b.numel() == 0:
            return False
        return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()
    return False
