"""The data-only channel between the trusted grader and the sandboxed worker.

A message is JSON text. Arrays and tensors travel as ``.npy`` bytes (base64 in the JSON) and are
read back with ``numpy.load(allow_pickle=False)``, so nothing on the channel can run code when it
is decoded: no pickle, no classes named by the sender. What can cross:

- ``None``, ``bool``, ``int``, ``float`` (``nan`` and ``inf`` too), ``str``;
- tuples, lists and dicts with ``str`` or ``int`` keys, nested;
- NumPy arrays and torch tensors of bool, integer, float or complex dtype (``float16`` and
  ``bfloat16`` tensors are sent as ``float32`` with their dtype named);
- a **handle**: an object that stays in the worker (a learner's ``nn.Module``, a function), named
  by a number, its type's name and whether it is callable or a module;
- an **opaque** marker for what the worker could not send (its type's name), which the grader
  reports as "got an object of type ...".

The same array object reached twice is sent once and decoded as one object (``f`` and ``param``
in ``numerical_gradient(f, param)`` alias each other). :func:`decode` checks everything it reads
(types, sizes, depth) and raises :class:`ChannelError` for anything else: the worker is the
learner's process, and what it sends is untrusted.

Examples::

    >>> import numpy as np
    >>> a = np.arange(3.0)
    >>> text = encode({"x": a, "same": a, "n": 2})
    >>> back = decode(text)
    >>> back["x"] is back["same"], back["x"].tolist(), back["n"]
    (True, [0.0, 1.0, 2.0], 2)
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["ChannelError", "Handle", "Opaque", "encode", "decode", "MAX_BYTES", "MAX_DEPTH"]

#: The largest message decoded (bytes of JSON text); larger replies fail their task.
MAX_BYTES = 512 * 2**20
#: The deepest nesting decoded.
MAX_DEPTH = 32

_KINDS = "biufc"  # bool, signed, unsigned, float, complex: the dtypes an array may have
_HALF = {torch.float16: "float16", torch.bfloat16: "bfloat16"}
_TORCH_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


class ChannelError(Exception):
    """A message that is not what the protocol allows (malformed, too big, wrong types)."""


@dataclass(frozen=True)
class Handle:
    """An object that stays in the worker, addressed by ``id``."""

    id: int
    type_name: str
    callable: bool = False
    module: bool = False


@dataclass(frozen=True)
class Opaque:
    """Something the worker could not send: only its type's name crosses."""

    type_name: str


# ---------------------------------------------------------------------------------------------
# encoding (both sides)
# ---------------------------------------------------------------------------------------------


def encode(value: Any, *, keep: Callable[[Any], Handle | None] | None = None) -> str:
    """``value`` as a JSON message.

    Args:
        value: the data to send.
        keep: for the worker: called with an object that is not data (a module, a function);
            returns the :class:`Handle` it is stored under, or ``None`` to send it as
            :class:`Opaque`. Without ``keep`` such objects raise ``TypeError``.
    """
    arrays: list[str] = []
    memo: dict[int, int] = {}
    alive: list[Any] = []  # keeps ids in memo unique while encoding

    def array_leaf(obj: Any, kind: str, extra: dict[str, Any]) -> dict[str, Any]:
        key = id(obj)
        if key in memo:
            return {"$ref": memo[key]}
        alive.append(obj)
        memo[key] = len(arrays)
        buffer = io.BytesIO()
        np.save(buffer, extra.pop("data"), allow_pickle=False)
        arrays.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
        return {"$array": memo[key], "kind": kind, **extra}

    def walk(obj: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise TypeError(f"nested more than {MAX_DEPTH} levels deep")
        if obj is None or type(obj) in (bool, int, str):
            return obj
        if type(obj) is float:
            return obj if math.isfinite(obj) else {"$float": repr(obj)}
        if type(obj) in (tuple, list):
            items = [walk(item, depth + 1) for item in obj]
            return {"$tuple": items} if type(obj) is tuple else items
        if type(obj) is dict:
            pairs = []
            for k, v in obj.items():
                if type(k) not in (str, int):
                    raise TypeError(f"dict keys must be str or int, got {type(k).__name__}")
                pairs.append([k, walk(v, depth + 1)])
            return {"$dict": pairs}
        if type(obj) in (torch.Tensor, torch.nn.Parameter):
            t = obj.detach()
            extra: dict[str, Any] = {"device": str(t.device), "requires_grad": obj.requires_grad}
            if t.dtype in _HALF:
                extra["dtype"] = _HALF[t.dtype]
                t = t.float()
            data = t.cpu().resolve_conj().resolve_neg().numpy()
            if data.dtype.kind not in _KINDS:
                raise TypeError(f"tensors of dtype {t.dtype} cannot be sent")
            return array_leaf(obj, "tensor", {**extra, "data": data})
        if type(obj) is np.ndarray:
            if obj.dtype.kind not in _KINDS or obj.dtype.fields is not None:
                raise TypeError(f"arrays of dtype {obj.dtype} cannot be sent")
            return array_leaf(obj, "ndarray", {"data": obj})
        if isinstance(obj, np.generic) and type(obj).__module__ == "numpy":
            if obj.dtype.kind not in _KINDS:
                raise TypeError(f"NumPy scalars of dtype {obj.dtype} cannot be sent")
            return {"$scalar": array_leaf(obj, "ndarray", {"data": np.asarray(obj)})}
        if type(obj) is Handle:
            return {"$handle": obj.id, "type": obj.type_name, "callable": obj.callable,
                    "module": obj.module}  # fmt: skip
        if keep is not None:
            handle = keep(obj)
            if handle is not None:
                return walk(handle, depth)
            return {"$opaque": type(obj).__name__}
        raise TypeError(f"{type(obj).__name__} objects cannot be sent to the worker")

    body = walk(value, 0)
    return json.dumps({"body": body, "arrays": arrays}, allow_nan=False)


# ---------------------------------------------------------------------------------------------
# decoding (what the trusted side reads is checked at every step)
# ---------------------------------------------------------------------------------------------


def _decode_array(text: Any) -> np.ndarray:
    if type(text) is not str:
        raise ChannelError("an array payload is not text")
    try:
        raw = base64.b64decode(text, validate=True)
        array = np.load(io.BytesIO(raw), allow_pickle=False)
    except Exception as error:  # ValueError for pickled/object arrays, binascii.Error, ...
        raise ChannelError(f"an array payload cannot be read ({type(error).__name__})") from None
    if type(array) is not np.ndarray or array.dtype.kind not in _KINDS:
        raise ChannelError("an array payload has a dtype that is not numeric")
    return array


def decode(text: Any, *, device_ok: Callable[[str], bool] | None = None) -> Any:
    """The value in a JSON message made by :func:`encode`, built from plain types only.

    Args:
        text: the message.
        device_ok: whether a tensor may be placed on a device named by the sender; tensors for
            other devices (and all of them when ``None``, except ``"cpu"``) land on the CPU.

    Raises:
        ChannelError: for anything :func:`encode` does not make.
    """
    if type(text) is not str:
        raise ChannelError(f"expected a text message, got {type(text).__name__}")
    if len(text) > MAX_BYTES:
        raise ChannelError(f"the reply is larger than {MAX_BYTES // 2**20} MiB")
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        raise ChannelError("the reply is not valid JSON") from None
    if type(message) is not dict or set(message) != {"body", "arrays"}:
        raise ChannelError("the reply does not have the protocol's fields")
    payloads = message["arrays"]
    if type(payloads) is not list:
        raise ChannelError("the reply's arrays are not a list")
    built: dict[int, Any] = {}

    def leaf(node: dict[str, Any]) -> Any:
        index = node.get("$array")
        if type(index) is not int or not 0 <= index < len(payloads) or index in built:
            raise ChannelError("an array reference is out of range")
        array = _decode_array(payloads[index])
        kind = node.get("kind")
        if kind == "ndarray":
            value: Any = array
        elif kind == "tensor":
            value = torch.from_numpy(array.copy())
            dtype = node.get("dtype")
            if dtype is not None:
                if dtype not in _TORCH_DTYPES:
                    raise ChannelError("a tensor names an unknown dtype")
                value = value.to(_TORCH_DTYPES[dtype])
            device = node.get("device", "cpu")
            if type(device) is not str:
                raise ChannelError("a tensor's device is not text")
            if device != "cpu" and device_ok is not None and device_ok(device):
                value = value.to(device)
            if node.get("requires_grad") is True and value.is_floating_point():
                value.requires_grad_(True)
        else:
            raise ChannelError("an array has an unknown kind")
        built[index] = value
        return value

    def walk(node: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise ChannelError(f"the reply is nested more than {MAX_DEPTH} levels deep")
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is list:
            return [walk(item, depth + 1) for item in node]
        if type(node) is not dict or len(node) == 0:
            raise ChannelError("the reply holds a value the protocol does not allow")
        if "$tuple" in node and len(node) == 1 and type(node["$tuple"]) is list:
            return tuple(walk(item, depth + 1) for item in node["$tuple"])
        if "$dict" in node and len(node) == 1 and type(node["$dict"]) is list:
            out = {}
            for pair in node["$dict"]:
                if type(pair) is not list or len(pair) != 2 or type(pair[0]) not in (str, int):
                    raise ChannelError("a dict entry is malformed")
                out[pair[0]] = walk(pair[1], depth + 1)
            return out
        if "$float" in node and len(node) == 1:
            if node["$float"] not in ("nan", "inf", "-inf"):
                raise ChannelError("a float is malformed")
            return float(node["$float"])
        if "$array" in node:
            return leaf(node)
        if "$ref" in node and len(node) == 1:
            index = node["$ref"]
            if type(index) is not int or index not in built:
                raise ChannelError("an array reference points nowhere")
            return built[index]
        if "$scalar" in node and len(node) == 1 and type(node["$scalar"]) is dict:
            array = walk(node["$scalar"], depth + 1)
            if type(array) is not np.ndarray or array.ndim != 0:
                raise ChannelError("a scalar is malformed")
            return array[()]
        if "$handle" in node:
            ident, name = node.get("$handle"), node.get("type")
            is_callable, is_module = node.get("callable"), node.get("module")
            if (
                type(ident) is not int
                or type(name) is not str
                or type(is_callable) is not bool
                or type(is_module) is not bool
            ):
                raise ChannelError("a handle is malformed")  # fmt: skip
            return Handle(ident, name[:200], is_callable, is_module)
        if "$opaque" in node and len(node) == 1 and type(node["$opaque"]) is str:
            return Opaque(node["$opaque"][:200])
        raise ChannelError("the reply holds a value the protocol does not allow")

    return walk(message["body"], 0)
