"""PyTorch's own ModuleInfo inputs for RNN, GRU, LSTM and their cells, from the installed torch.

Provenance: ``torch/testing/_internal/common_modules.py`` of the installed torch (the wheel
pinned in ``requirements.lock``; torch 2.13.0, git ``cf30153c4c131c8164ee7798e5022d810682e2cb``
of pytorch/pytorch). Its ``module_db`` entries for ``torch.nn.RNNCell``, ``GRUCell``,
``LSTMCell``, ``RNN``, ``GRU`` and ``LSTM`` name the functions below as their
``module_inputs_func`` and ``module_error_inputs_func``; ``RNN``, ``GRU`` and ``LSTM`` set
``train_and_eval_differ=True``.

Importing ``common_modules`` runs ``common_utils``, which needs ``expecttest`` and, on import,
calls ``torch.backends.disable_global_flags()`` and patches ``torch._C.ScriptFunction``: side
effects the rest of this test session must not see. So the definitions are taken from the file's
source with :mod:`ast` and executed in a namespace of their own, unchanged; the registry entries
are checked against the source (:func:`_check_registry`), so a torch upgrade that changes them
fails here instead of silently testing something else. Nothing is downloaded.
"""

from __future__ import annotations

import ast
import enum
import functools
import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn.utils.rnn import pack_padded_sequence
from torch.testing import make_tensor
from torch.testing._utils import freeze_rng_state

SOURCE = Path(torch.__file__).parent / "testing" / "_internal" / "common_modules.py"

# the classes and functions the six entries use, by name in common_modules.py
_CLASSES = ("FunctionInput", "ModuleInput", "ModuleErrorEnum", "ErrorModuleInput")
_FUNCTIONS = (
    "no_batch_dim_reference_fn",
    "no_batch_dim_reference_rnn_gru",
    "no_batch_dim_reference_lstm",
    "no_batch_dim_reference_lstmcell",
    "make_packed_sequence",
    "module_inputs_torch_nn_RNN_GRU_Cell",
    "module_inputs_torch_nn_LSTMCell",
    "module_inputs_torch_nn_RNN_GRU",
    "module_inputs_torch_nn_LSTM",
    "module_error_inputs_torch_nn_RNN_GRU_Cell",
    "module_error_inputs_torch_nn_LSTMCell",
    "module_error_inputs_torch_nn_RNN_GRU",
)


@dataclass(frozen=True)
class Entry:
    """One ``module_db`` entry: the class name, its input functions, the keywords bound to them."""

    name: str
    inputs: str
    errors: str
    inputs_kwargs: tuple[tuple[str, Any], ...] = ()
    train_and_eval_differ: bool = False


ENTRIES = (
    Entry("RNNCell", "module_inputs_torch_nn_RNN_GRU_Cell",
          "module_error_inputs_torch_nn_RNN_GRU_Cell", (("is_rnn", True),)),
    Entry("GRUCell", "module_inputs_torch_nn_RNN_GRU_Cell",
          "module_error_inputs_torch_nn_RNN_GRU_Cell"),
    Entry("LSTMCell", "module_inputs_torch_nn_LSTMCell", "module_error_inputs_torch_nn_LSTMCell"),
    Entry("RNN", "module_inputs_torch_nn_RNN_GRU", "module_error_inputs_torch_nn_RNN_GRU",
          (("is_rnn", True),), True),
    Entry("GRU", "module_inputs_torch_nn_RNN_GRU", "module_error_inputs_torch_nn_RNN_GRU",
          (("is_rnn", False),), True),
    Entry("LSTM", "module_inputs_torch_nn_LSTM", "module_error_inputs_torch_nn_RNN_GRU", (), True),
)  # fmt: skip


def _load() -> dict[str, Any]:
    tree = ast.parse(SOURCE.read_text())
    wanted = set(_CLASSES) | set(_FUNCTIONS)
    nodes = [
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef | ast.FunctionDef) and node.name in wanted
    ]
    missing = wanted - {node.name for node in nodes}
    assert not missing, f"{SOURCE} no longer defines {sorted(missing)}"
    namespace: dict[str, Any] = {
        "torch": torch,
        "Enum": enum.Enum,
        "wraps": functools.wraps,
        "partial": functools.partial,
        "product": itertools.product,
        "chain": itertools.chain,
        "math": math,
        "deepcopy": __import__("copy").deepcopy,
        "make_tensor": make_tensor,
        "freeze_rng_state": freeze_rng_state,
        "pack_padded_sequence": pack_padded_sequence,
    }
    module = ast.Module(body=nodes, type_ignores=[])
    exec(compile(module, str(SOURCE), "exec"), namespace)  # noqa: S102 - torch's own test data
    _check_registry(tree)
    return namespace


def _check_registry(tree: ast.Module) -> None:
    """Each of the six ``ModuleInfo(torch.nn.X, ...)`` calls names the functions in ENTRIES."""
    found: dict[str, dict[str, str]] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "ModuleInfo"):
            continue
        if not node.args or not isinstance(node.args[0], ast.Attribute):
            continue
        name = node.args[0].attr
        found[name] = {kw.arg or "": ast.unparse(kw.value) for kw in node.keywords}
    for entry in ENTRIES:
        keywords = found.get(entry.name)
        assert keywords is not None, f"module_db has no entry for torch.nn.{entry.name}"
        assert entry.inputs in keywords["module_inputs_func"], (entry.name, keywords)
        for key, value in entry.inputs_kwargs:
            assert f"{key}={value}" in keywords["module_inputs_func"], (entry.name, keywords)
        assert keywords["module_error_inputs_func"] == entry.errors, (entry.name, keywords)
        assert (keywords.get("train_and_eval_differ") == "True") == entry.train_and_eval_differ


DB = _load()
ModuleErrorEnum = DB["ModuleErrorEnum"]


def module_inputs(
    entry: Entry, device: str, dtype: torch.dtype, requires_grad: bool, training: bool
) -> list[Any]:
    """``module_info.module_inputs_func(module_info, device=..., ...)`` for one entry."""
    fn = DB[entry.inputs]
    return list(
        fn(
            None,
            device=device,
            dtype=dtype,
            requires_grad=requires_grad,
            training=training,
            **dict(entry.inputs_kwargs),
        )
    )


def module_error_inputs(entry: Entry, device: str, dtype: torch.dtype) -> list[Any]:
    """``module_info.module_error_inputs_func(...)`` for one entry."""
    return list(
        DB[entry.errors](None, device=device, dtype=dtype, requires_grad=False, training=True)
    )
