"""Source checks of the learner's answer cells, run by the trusted grader before a task's check.

A from-scratch task ("write the LSTM step yourself") cannot be policed from inside the learner's
process alone: code there can switch a tripwire off. So the trusted side also reads the source.
It fails a task whose answers

- import or name the task's reference (``from rnncourse.lstm import lstm_cell``) or the grader
  (``rnncourse.grading``),
- reach torch's recurrent kernels (``torch.lstm_cell``, ``torch._VF``, ``torch.ops.aten``,
  ``nn.LSTM``, ``nn.LSTMCell``, ...), when the task forbids them, or
- use a construct that can hide either from this check: ``exec``, ``eval``, ``compile``,
  ``__import__``, ``importlib``, ``get_ipython``, ``globals``/``vars``/``locals``,
  ``setattr``/``delattr``, ``getattr`` with a computed name, ``sys.modules``, dunder attributes
  that reach code and namespaces (``__dict__``, ``__globals__``, ``__subclasses__``, ...),
  ``ctypes``, ``builtins``, cell magics that run other languages or write files.

Each finding names the construct, the cell and the line. Examples::

    >>> findings([("cell 3", "import importlib\\nx = 1")], reference=(), library=())
    ['cell 3, line 1: imports importlib']
    >>> findings([("cell 3", "def f(x):\\n    return torch.lstm_cell(x)")], reference=(),
    ...          library=("lstm_cell",))
    ['cell 3, line 2: uses torch.lstm_cell, a library implementation']
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence

__all__ = ["findings", "LIBRARY_CLASSES"]

#: torch.nn classes whose forward runs torch's recurrent kernels, per kernel name.
LIBRARY_CLASSES = {
    "rnn_tanh_cell": ("RNNCell",),
    "rnn_relu_cell": ("RNNCell",),
    "lstm_cell": ("LSTMCell",),
    "gru_cell": ("GRUCell",),
    "rnn_tanh": ("RNN",),
    "rnn_relu": ("RNN",),
    "lstm": ("LSTM",),
    "gru": ("GRU",),
}
_DYNAMIC_CALLS = {"exec", "eval", "compile", "__import__", "get_ipython", "globals", "vars",
                  "locals", "setattr", "delattr", "breakpoint"}  # fmt: skip
_MODULES = {"importlib", "ctypes", "builtins", "gc", "marshal", "types", "inspect", "cffi"}
_SYS_ATTRS = {"modules", "settrace", "setprofile", "_getframe", "meta_path", "path_hooks",
              "addaudithook"}  # fmt: skip
_DUNDERS = {"__dict__", "__globals__", "__code__", "__closure__", "__builtins__",
            "__subclasses__", "__getattribute__", "__import__", "__loader__", "__spec__",
            "__self__", "__func__", "__wrapped__", "__reduce__", "__reduce_ex__", "__base__",
            "__bases__", "__mro__", "__class__", "__setattr__", "__delattr__"}  # fmt: skip
_CELL_MAGICS_OK = {"time", "timeit", "capture"}


def _parse(source: str) -> ast.Module | str:
    """The cell's code with IPython line magics blanked, or a finding if it cannot be read."""
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        magic = lines[0].lstrip()[2:].split()[0] if lines[0].strip() != "%%" else ""
        if magic not in _CELL_MAGICS_OK:
            return f"line 1: uses the cell magic %%{magic}"
        lines[0] = ""
    kept = ["" if line.lstrip().startswith(("%", "!")) else line for line in lines]
    try:
        return ast.parse("\n".join(kept))
    except SyntaxError as error:
        return f"line {error.lineno}: cannot be parsed ({error.msg})"


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def findings(
    cells: Iterable[tuple[str, str]],
    *,
    reference: Sequence[str],
    library: Sequence[str],
) -> list[str]:
    """What the answer ``cells`` (``(label, source)`` pairs) do that the task does not allow.

    Args:
        cells: the learner's code cells (answers and any cells they added), in order.
        reference: dotted paths of functions the task may not call (its reference, its
            ``forbidden`` list), e.g. ``("rnncourse.lstm.lstm_cell",)``.
        library: torch's recurrent kernels the task forbids (``"lstm_cell"``, ...).
    """
    names = {path.rpartition(".")[2] for path in reference}
    modules = {path.rpartition(".")[0] for path in reference}
    classes = {c for kernel in library for c in LIBRARY_CLASSES.get(kernel, ())}
    found: list[str] = []
    for label, source in cells:
        tree = _parse(source)
        if isinstance(tree, str):
            found.append(f"{label}, {tree}")
            continue
        for node in ast.walk(tree):
            problem = _problem(node, names, modules, set(library), classes)
            if problem:
                found.append(f"{label}, line {getattr(node, 'lineno', '?')}: {problem}")
    return found


def _problem(node: ast.AST, names: set, modules: set, library: set, classes: set) -> str | None:
    if isinstance(node, ast.Import | ast.ImportFrom):
        targets = [a.name for a in node.names]
        module = node.module if isinstance(node, ast.ImportFrom) else None
        for name in [module, *targets] if module else targets:
            if name and (name.split(".")[0] in _MODULES or name.startswith("rnncourse.grading")):
                return f"imports {name}"
        if module is not None:
            if module in modules and set(targets) & names:
                return f"imports {module}.{sorted(set(targets) & names)[0]}, the reference"
            if module == "rnncourse" and "grading" in targets:
                return "imports rnncourse.grading"
            if module.startswith("torch") and set(targets) & (library | classes | {"_VF"}):
                return f"imports {module}.{sorted(set(targets) & (library | classes | {'_VF'}))[0]}"
        return None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id in _DYNAMIC_CALLS:
            return f"uses {node.func.id}"
        if node.func.id == "getattr" and len(node.args) >= 2:
            if not isinstance(node.args[1], ast.Constant):
                return "uses getattr with a computed name"
    if isinstance(node, ast.Name) and node.id in ("__builtins__", "_VF"):
        return f"uses {node.id}"
    if isinstance(node, ast.Attribute):
        path = _dotted(node) or ""
        if node.attr in _DUNDERS:
            return f"uses the attribute {node.attr}"
        if path.startswith("sys.") and node.attr in _SYS_ATTRS:
            return f"uses {path}"
        if path.endswith(".grading") and "rnncourse" in path:
            return f"uses {path}"
        if node.attr == "_VF" or path.startswith(("torch.ops", "torch._C")):
            return f"uses {path or node.attr}, torch's internals"
        if node.attr in library:
            return f"uses {path or node.attr}, a library implementation"
        if node.attr in classes and path.split(".")[0] in ("nn", "torch"):
            return f"uses {path}, a library implementation"
        if node.attr in names and any(path == f"{m}.{node.attr}" or path.endswith(
                f"{m.rpartition('.')[2]}.{node.attr}") for m in modules):  # fmt: skip
            return f"uses {path}, the reference"
    return None
