"""Source checks of the learner's code cells, run by the trusted grader before a task's check.

A from-scratch task ("write the LSTM step yourself") cannot be policed from inside the learner's
process alone: code there can switch a tripwire off. So the trusted side also reads the source.
It fails a task whose code

- imports or names the task's reference (``from rnncourse.lstm import lstm_cell``) or the grader
  (``rnncourse.grading``),
- reaches torch's recurrent kernels (``torch.lstm_cell``, ``torch._VF``, ``torch.ops.aten``,
  ``nn.LSTM``, ``nn.LSTMCell``, ...), when the task forbids them, or
- uses a construct that can hide either from this check: ``exec``, ``eval``, ``compile``,
  ``__import__``, ``importlib``, ``get_ipython``, ``globals``/``vars``/``locals``,
  ``setattr``/``delattr``, ``getattr`` with a computed name, ``sys.modules``, dunder attributes
  that reach code and namespaces (``__dict__``, ``__globals__``, ``__subclasses__``, ...),
  ``ctypes``, ``builtins``, magics that run other languages, write files or load code.

**Only the code a task can reach is read.** A cell is read as the kernel runs it: IPython's own
input transformer turns magics into Python first (``%time stmt`` runs ``stmt``, which is read;
``%matplotlib`` and ``!pip`` run nothing of the answer's), and a cell that does not parse ran
nothing, so it defines nothing and breaks no rule (the task that needs what it should have
defined fails with Python's ``NameError``, as it would in Jupyter). From the names the test reads
(``rnn_cell``), the statements that bind or change those names are followed, then the names
*they* read, and so on: a scratch cell that compares the answer with ``torch.nn.RNNCell`` is
not reached, a helper the answer calls is. A statement that can rebind names out of sight
(``globals()``, ``exec``, a magic that loads code) is reached from everywhere.

**From-scratch tasks are read by construction, not by listing tricks.** For a task whose spec
forbids torch's recurrent kernels (``forbidden_library``) and whose test names are known
(``roots``), the code the task reaches must also keep to what an answer written from the
equations needs (:func:`findings` says which rule each finding breaks):

- it imports only the modules of :data:`ALLOWED_MODULES` (torch and its functional, linear
  algebra, init and device-query (``torch.cuda``) modules, NumPy, ``math``, ``warnings``,
  ``functools``, ``itertools``, ``collections``,
  ``typing``, ``dataclasses``, ``operator``, ...) and, of ``rnncourse``, only the constants of
  ``rnncourse.data`` (``BOS``, ``EOS``, ``PAD``);
- a path through a module (``torch.nn.functional.linear``) goes only through allowed modules,
  never through a private name (``torch._VF``, ``torch._C``), a name of :data:`DENIED_NAMES`
  (``torch.ops``, ``torch.load``, ``operator.attrgetter``, ...) or a recurrent kernel or layer
  the task forbids (``torch.lstm_cell``, ``nn.LSTMCell``, ``torch.quantized_gru_cell``,
  ``nn.RNNBase``, ...): any name with ``rnn``, ``lstm`` or ``gru`` in it, except the cells a
  layer-only task leaves allowed;
- a module is never a value (``T = torch``, ``f(torch)``, ``[np]``) and its attributes are never
  assigned, so every use of a module is a path the rule above reads;
- the names it reads that no cell defines are safe builtins (:data:`SAFE_BUILTINS`) or names the
  notebook's setup gives (:data:`PROVIDED`); ``getattr``/``hasattr`` only with a constant name;
  no other reflection (``vars``, ``globals``, ``eval``, ``dir``, ``__import__``, IPython's
  ``Out``/``_`` ...), no dunder attribute but ``__init__`` and no attribute of
  :data:`FRAME_ATTRS` (``gen.gi_frame.f_globals``), even through a constant ``getattr``.

What a task forbids by name (its reference, its ``forbidden`` list, torch's kernels, the
grader, the hooks) is found in every statement read, for every task; the table of those
targets is :data:`LIBRARY_CLASSES`, :data:`TORCH_INTERNALS` and :data:`TORCH_RECURRENT`, which
``rnncourse audit`` uses too.

Each finding names the cell, the line and the construct. Examples::

    >>> findings([("cell 3", "import importlib\\nx = 1")], reference=(), library=())
    ['cell 3, line 1: imports importlib']
    >>> findings([("cell 3", "def f(x):\\n    return torch.lstm_cell(x)")], reference=(),
    ...          library=("lstm_cell",))
    ['cell 3, line 2: uses torch.lstm_cell, a library implementation']
    >>> check = "ref = torch.lstm_cell\\ndef f(x):\\n    return x"
    >>> findings([("cell 3", check)], reference=(), library=("lstm_cell",), roots={"f"})
    []
    >>> unparsed("def f(x)\\n    return x")
    "line 1: expected ':'"
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType

__all__ = [
    "findings",
    "unparsed",
    "cell_label",
    "parse",
    "import_aliases",
    "path_of",
    "bound_names",
    "LIBRARY_CLASSES",
    "TORCH_INTERNALS",
    "TORCH_RECURRENT",
    "ALLOWED_MODULES",
    "DENIED_NAMES",
    "FRAME_ATTRS",
    "SAFE_BUILTINS",
    "PROVIDED",
]

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
#: torch's internals, through which every kernel can be reached by another name.
TORCH_INTERNALS = frozenset({"_VF", "_C", "ops", "_ops"})
#: torch's recurrent layers and ``_VF``: what ``rnncourse audit`` flags in a solution cell.
TORCH_RECURRENT = frozenset({c for classes in LIBRARY_CLASSES.values() for c in classes} | {"_VF"})

# -- what the code of a from-scratch task may reach ---------------------------------------------

#: Modules a from-scratch answer may import and reach (a module path must stay inside these).
ALLOWED_MODULES = frozenset(
    {
        "torch", "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.linalg",
        "torch.fft", "torch.special", "torch.autograd", "numpy", "numpy.linalg", "numpy.random",
        "math", "cmath", "functools", "itertools", "collections", "collections.abc", "typing",
        "dataclasses", "operator", "numbers", "enum", "abc", "copy", "heapq", "bisect",
        "statistics", "fractions", "random", "__future__", "rnncourse.data", "torch.cuda",
        "warnings",
    }
)  # fmt: skip
#: Modules of which only constants (``BOS``, ``EOS``, ``PAD``: upper-case names) may be used.
CONSTANTS_ONLY = frozenset({"rnncourse.data"})
#: Names that no path through an allowed module may take: torch's internals and operator
#: registries, loaders (a pickle runs code), and attribute access by a computed name.
DENIED_NAMES = TORCH_INTERNALS | frozenset(
    {
        "library", "classes", "hub", "load", "loads", "save", "compile", "fromfile", "memmap",
        "attrgetter", "methodcaller", "get_type_hints", "ForwardRef", "evaluate_forward_ref",
        "get_device_module",
    }
)  # fmt: skip
#: Attributes of any object that reach frames, code or raw memory, and through them every
#: global of the notebook (``gen.gi_frame.f_globals["torch"]``).
FRAME_ATTRS = frozenset(
    {
        "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "ag_frame",
        "ag_code", "tb_frame", "tb_next", "f_globals", "f_locals", "f_builtins", "f_back",
        "f_code", "co_consts", "co_names", "ctypes",
    }
)  # fmt: skip
#: A name of a recurrent kernel, layer or module (``lstm_cell``, ``GRU``, ``quantized_rnn_...``).
_RECURRENT = re.compile(r"rnn|lstm|gru", re.IGNORECASE)
#: Builtins a from-scratch answer may name. ``getattr`` and ``hasattr`` are read separately
#: (allowed with a constant name, as ``x.name`` is).
SAFE_BUILTINS = frozenset(
    {
        "abs", "all", "any", "bool", "callable", "chr", "classmethod", "complex", "dict",
        "divmod", "enumerate", "filter", "float", "format", "frozenset", "hash", "id", "int",
        "isinstance", "issubclass", "iter", "len", "list", "map", "max", "min", "next",
        "object", "ord", "pow", "print", "property", "range", "repr", "reversed", "round",
        "set", "slice", "sorted", "staticmethod", "str", "sum", "super", "tuple", "type", "zip",
        "NotImplemented", "Ellipsis", "Exception", "ArithmeticError", "AssertionError",
        "AttributeError", "IndexError", "KeyError", "LookupError", "NotImplementedError",
        "OverflowError", "RuntimeError", "StopIteration", "TypeError", "ValueError",
        "ZeroDivisionError",
    }
)  # fmt: skip
#: Names the course's setup cells give the notebooks, and the module each is (``None``: a
#: function or a constant the instructor gives).
PROVIDED: Mapping[str, str | None] = {
    "np": "numpy", "numpy": "numpy", "torch": "torch", "nn": "torch.nn",
    "F": "torch.nn.functional", "math": "math", "grading": "rnncourse.grading",
    "rnn_cell": None, "gru_cell": None, "init_params": None, "rnn_forward": None,
    "PAD": None, "BOS": None, "EOS": None,
}  # fmt: skip
_REFLECTIVE = {"getattr", "hasattr"}
_DUNDERS_OK = {"__init__"}
_DYNAMIC_CALLS = {"exec", "eval", "compile", "__import__", "get_ipython", "globals", "vars",
                  "locals", "setattr", "delattr", "breakpoint"}  # fmt: skip
_MODULES = {"importlib", "ctypes", "builtins", "gc", "marshal", "types", "inspect", "cffi"}
_SYS_ATTRS = {"modules", "settrace", "setprofile", "_getframe", "meta_path", "path_hooks",
              "addaudithook"}  # fmt: skip
_DUNDERS = {"__dict__", "__globals__", "__code__", "__closure__", "__builtins__",
            "__subclasses__", "__getattribute__", "__import__", "__loader__", "__spec__",
            "__self__", "__func__", "__wrapped__", "__reduce__", "__reduce_ex__", "__base__",
            "__bases__", "__mro__", "__class__", "__setattr__", "__delattr__"}  # fmt: skip
#: magics whose argument or body is Python that runs: it is read like the rest of the cell
_CODE_MAGICS = {"time", "timeit", "prun", "capture"}
#: line magics that run nothing of the answer's
_LINE_MAGICS_OK = {"matplotlib", "pip", "conda", "config", "autoreload", "who", "whos",
                   "who_ls", "pwd", "ls", "precision", "pprint", "xmode", "pinfo", "pinfo2",
                   "psearch", "lsmagic", "magic", "quickref", "history", "reset", "env",
                   "cd"}  # fmt: skip
_OPTIONS_WITH_VALUE = set("nrplsTD")
_WILD = "*"  # the effect of a statement that can rebind any name
_SYS_PATHS = {f"sys.{attr}" for attr in _SYS_ATTRS}
#: hooks that run on every call, every thread: a statement using one reaches every task
_HOOKS = {"threading.settrace", "threading.setprofile", "threading.settrace_all_threads",
          "threading.setprofile_all_threads"}  # fmt: skip


def cell_label(source: str, width: int = 40) -> str:
    """How a learner finds a cell: by its first line.

    >>> cell_label("# Try it yourself\\nx = 1")
    'the cell that begins "# Try it yourself"'
    """
    first = next((line.strip() for line in source.splitlines() if line.strip()), "")
    if len(first) > width:
        first = first[: width - 1].rstrip() + "…"
    return f'the cell that begins "{first}"' if first else "an empty cell"


def _transform(source: str) -> str:
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython comes with every kernel
        return source
    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - what IPython cannot transform, it cannot run either
        return source


def unparsed(source: str) -> str | None:
    """Why the kernel cannot run ``source`` at all (``"line 5: expected ':'"``), or ``None``."""
    try:
        ast.parse(_transform(source))
    except SyntaxError as error:
        return f"line {error.lineno}: {error.msg}"
    return None


def _magic(node: ast.AST) -> tuple[str, list[str]] | None:
    """``("run_line_magic", ["time", "x = 1"])`` for IPython's rewrite of a magic, or None."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return None
    owner = node.func.value
    if not (isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name)
            and owner.func.id == "get_ipython" and not owner.args):  # fmt: skip
        return None
    if node.func.attr not in ("run_line_magic", "run_cell_magic", "system", "getoutput"):
        return None
    if not all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args):
        return None
    return node.func.attr, [str(a.value) for a in node.args if isinstance(a, ast.Constant)]


def _strip_options(arg: str) -> str:
    """``"-n 3 -r 2 f(x)"`` -> ``"f(x)"``: the code of a %timeit or %prun line."""
    words = arg.split(" ")
    while words and words[0].startswith("-"):
        option = words.pop(0)
        if len(option) == 2 and option[1] in _OPTIONS_WITH_VALUE and words:
            words.pop(0)
    return " ".join(words)


class _Magics(ast.NodeTransformer):
    """Replace IPython's magic calls by the Python they run (or by ``None``), noting the rest."""

    def __init__(self) -> None:
        self.problems: list[tuple[int, str]] = []

    def _code(self, text: str, line: int) -> list[ast.stmt]:
        try:
            body = ast.parse(_transform(text)).body
        except SyntaxError:
            return []  # the magic raises when it runs: nothing of it runs
        module = ast.Module(body=body, type_ignores=[])
        ast.increment_lineno(module, line - 1)
        return [self.visit(stmt) for stmt in module.body]

    def _statements(self, node: ast.Call) -> list[ast.stmt] | None:
        kind, args = _magic(node) or ("", [])
        line = getattr(node, "lineno", 1)
        if kind in ("system", "getoutput"):
            return []
        if kind == "run_line_magic" and len(args) == 2:
            name, arg = args
            if name in _CODE_MAGICS:
                return self._code(_strip_options(arg), line)
            if name not in _LINE_MAGICS_OK:
                self.problems.append((line, f"uses the magic %{name}"))
            return []
        if kind == "run_cell_magic" and len(args) == 3:
            name, arg, body = args
            if name in _CODE_MAGICS:
                setup = self._code(_strip_options(arg), line) if name == "timeit" else []
                return setup + self._code(body, line + 1)
            self.problems.append((line, f"uses the cell magic %%{name}"))
            return []
        return None

    def visit_Expr(self, node: ast.Expr) -> ast.AST | list[ast.stmt]:
        call = node.value if isinstance(node.value, ast.Call) and _magic(node.value) else None
        statements = self._statements(call) if call else None
        if statements is None:
            return self.generic_visit(node)
        return statements or [ast.copy_location(ast.Pass(), node)]

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if not _magic(node):
            return self.generic_visit(node)
        statements = self._statements(node) or []
        if len(statements) == 1 and isinstance(statements[0], ast.Expr):
            return statements[0].value  # x = %time f(): x is what f() returns
        return ast.copy_location(ast.Constant(None), node)


def parse(source: str) -> tuple[ast.Module, list[tuple[int, str]]] | None:
    """The cell as the kernel runs it, and the magics it may not use; None if it cannot run."""
    try:
        tree = ast.parse(_transform(source))
    except SyntaxError:
        return None
    magics = _Magics()
    tree = ast.fix_missing_locations(magics.visit(tree))
    return tree, magics.problems


def _base(node: ast.AST) -> str | None:
    """The name at the root of ``a.b[0].c`` or ``a().b``: ``"a"``."""
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call | ast.Starred):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


# -- which statements a task can reach ---------------------------------------------------------

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _inner(node: ast.AST, *, into_functions: bool) -> Iterable[ast.AST]:
    """The nodes under ``node``; the bodies of functions (``node`` too) only if
    ``into_functions``: a def's decorators and defaults run where it stands, its body when it
    is called."""
    stack = [node]
    while stack:
        current = stack.pop()
        if current is not node:
            yield current
        if isinstance(current, _FUNCTIONS) and not into_functions:
            args = current.args
            stack.extend([*args.defaults, *[d for d in args.kw_defaults if d is not None]])
            stack.extend(getattr(current, "decorator_list", []))
            continue
        stack.extend(ast.iter_child_nodes(current))


def bound_names(nodes: Iterable[ast.AST]) -> set[str]:
    """Names that these nodes bind in their own scope."""
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def _declared_global(nodes: Iterable[ast.AST]) -> set[str]:
    """Names these nodes declare ``global``: the notebook's, wherever they are bound."""
    return {name for node in nodes if isinstance(node, ast.Global) for name in node.names}


def import_aliases(stmts: Iterable[ast.AST]) -> dict[str, str]:
    """``name -> module path`` of every import that binds a name: ``import sys as s`` gives
    ``{"s": "sys"}``, ``from rnncourse import rnn as R`` gives ``{"R": "rnncourse.rnn"}``."""
    found: dict[str, str] = {}
    for stmt in stmts:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        found[a.asname] = a.name
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    found[a.asname or a.name] = f"{node.module}.{a.name}"
    return found


def path_of(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """The dotted path ``node`` reaches, through import aliases and ``getattr(x, "name")``."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "getattr" and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)):  # fmt: skip
        owner = path_of(node.args[0], aliases)
        return f"{owner}.{node.args[1].value}" if owner else None
    if isinstance(node, ast.Attribute):
        owner = path_of(node.value, aliases)
        return f"{owner}.{node.attr}" if owner else None
    if isinstance(node, ast.Name):
        return aliases.get(node.id, node.id)
    return None


def _hiding(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """What ``node`` uses that can rebind names, hook every call or reach code out of this
    check's sight, or ``None``."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id in _DYNAMIC_CALLS:
            return f"uses {node.func.id}"
        if node.func.id == "getattr" and len(node.args) >= 2:
            if not isinstance(node.args[1], ast.Constant):
                return "uses getattr with a computed name"
    if isinstance(node, ast.Attribute | ast.Call):
        path = path_of(node, aliases) or ""
        head, _, attr = path.rpartition(".")
        owner = head.rpartition(".")[2]  # sys, also as another module's (typing.sys, os.sys)
        if (owner == "sys" and attr in _SYS_ATTRS) or f"{owner}.{attr}" in _HOOKS:
            return f"uses {path}"
    if isinstance(node, ast.Attribute) and node.attr in _DUNDERS:
        return f"uses the attribute {node.attr}"
    if isinstance(node, ast.Name) and node.id == "__builtins__":
        return "uses __builtins__"
    if isinstance(node, ast.Import | ast.ImportFrom):
        modules = [a.name for a in node.names]
        if isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module, *modules]
            if node.module == "sys":
                modules += [f"sys.{a.name}" for a in node.names]
        for module in modules:
            if module.split(".")[0] in _MODULES or module in _SYS_PATHS:
                return f"imports {module}"
    return None


@dataclass
class _Statement:
    label: str
    node: ast.stmt
    magics: list[tuple[int, str]] = field(default_factory=list)
    effects: set[str] = field(default_factory=set)  # names it may bind or change
    reads: set[str] = field(default_factory=set)  # names it reads, now or in its functions


def _effects(
    nodes: list[ast.AST], local: set[str], mutable: set[str], aliases: dict[str, str]
) -> tuple[set, set]:
    """``(effects, calls)`` of running ``nodes`` in a scope whose own names are ``local``.

    Effects: names bound (outside functions, ``local`` is empty: every binding counts), names
    declared ``global``, names whose object is changed (``a.x = ...``, ``a[0] = ...``) and,
    for the ``mutable`` names (those the cells assign, not modules), ``a.append(...)`` and
    ``f(a)``; ``*`` for a construct that can rebind anything. Calls: names of the functions,
    classes and methods run, whose own effects add up (see :func:`_reachable`).
    """
    effects: set[str] = set()
    calls: set[str] = set()
    for node in nodes:
        if _hiding(node, aliases):
            effects.add(_WILD)
        if isinstance(node, ast.Global):
            effects.update(node.names)
        elif isinstance(node, ast.Name | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
                        | ast.Import | ast.ImportFrom | ast.ExceptHandler):  # fmt: skip
            effects |= bound_names([node]) - local
        elif isinstance(node, ast.Attribute | ast.Subscript) and isinstance(
            node.ctx, ast.Store | ast.Del
        ):
            base = _base(node)
            if base and base not in local:
                effects.add(base)
        elif isinstance(node, ast.Call):
            base = _base(node.func)
            if base:
                calls.add(base)
            if isinstance(node.func, ast.Attribute):
                calls.add(node.func.attr)  # a method: any learner class's method of that name
                if base in mutable and base not in local:
                    effects.add(base)
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                name = _base(arg) if isinstance(arg, ast.Name | ast.Starred) else None
                if name in mutable and name not in local:
                    effects.add(name)
    return effects, calls


def _free(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> set[str]:
    """The names a function reads from outside itself (its globals)."""
    inside = list(_inner(node, into_functions=True))
    loads = {n.id for n in inside if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    declared = _declared_global(inside)
    args = node.args
    defaults = {n.id for d in [*args.defaults, *args.kw_defaults] if d is not None
                for n in ast.walk(d) if isinstance(n, ast.Name)}  # fmt: skip
    return (loads - (bound_names(inside) - declared)) | declared | defaults


def _reads(node: ast.AST) -> set[str]:
    """The global names a top-level statement reads, now or when its functions run."""
    names: set[str] = set()
    for child in [node, *_inner(node, into_functions=False)]:
        if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Load):
            names.add(child.id)
        elif isinstance(child, _FUNCTIONS):
            names |= _free(child)
    return names


def _definitions(
    stmts: list[_Statement], mutable: set[str], aliases: dict[str, str]
) -> dict[str, tuple[set, set]]:
    """``name -> (effects, calls)`` of calling each function, class or method the cells define."""
    found: dict[str, tuple[set, set]] = {}

    def add(name: str, effects: set, calls: set) -> None:
        old = found.get(name, (set(), set()))
        found[name] = (old[0] | effects, old[1] | calls)

    for stmt in stmts:
        for node in [stmt.node, *_inner(stmt.node, into_functions=True)]:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                inside = list(_inner(node, into_functions=True))
                declared = _declared_global(inside)
                local = bound_names(inside) - declared
                add(node.name, *_effects(inside, local, mutable, aliases))
            elif isinstance(node, ast.ClassDef):
                # making an instance runs its methods (__init__, and any later call)
                methods = {n.name for n in node.body if isinstance(n, _FUNCTIONS[:2])}
                add(node.name, set(), methods)
    return found


def _reachable(
    stmts: list[_Statement], roots: set[str], aliases: dict[str, str]
) -> list[_Statement]:
    """The statements that can change what the names in ``roots`` are, transitively."""
    outer = {id(s): [s.node, *_inner(s.node, into_functions=False)] for s in stmts}
    imports = (ast.Import, ast.ImportFrom)
    mutable = {
        n for s in stmts for n in bound_names(x for x in outer[id(s)] if not isinstance(x, imports))
    }
    defs = _definitions(stmts, mutable, aliases)
    # calling a definition has its effects, and those of what it calls in turn
    closed: dict[str, set[str]] = {}
    for name, (effects, calls) in defs.items():
        total, todo, seen = set(effects), set(calls), {name}
        while todo:
            callee = todo.pop()
            if callee not in seen and callee in defs:
                seen.add(callee)
                total |= defs[callee][0]
                todo |= defs[callee][1]
        closed[name] = total
    for stmt in stmts:
        effects, calls = _effects(outer[id(stmt)], set(), mutable, aliases)
        for callee in calls:
            effects |= closed.get(callee, set())
        stmt.effects = effects | ({_WILD} if stmt.magics else set())
        stmt.reads = _reads(stmt.node)

    reached = set(roots)
    chosen: set[int] = set()
    grew = True
    while grew:
        grew = False
        for stmt in stmts:
            if id(stmt) not in chosen and (_WILD in stmt.effects or stmt.effects & reached):
                chosen.add(id(stmt))
                reached |= stmt.reads
                grew = True
    return [s for s in stmts if id(s) in chosen]


def findings(
    cells: Iterable[tuple[str, str]],
    *,
    reference: Sequence[str],
    library: Sequence[str],
    roots: Iterable[str] | None = None,
    provided: Mapping[str, str | None] | None = None,
) -> list[str]:
    """What the code a task runs does that the task does not allow.

    Args:
        cells: the learner's code cells (answers and any cells they added), in order, as
            ``(label, source)`` pairs; a cell that does not parse ran nothing and is skipped
            (see :func:`unparsed`).
        reference: dotted paths of functions the task may not call (its reference, its
            ``forbidden`` list), e.g. ``("rnncourse.lstm.lstm_cell",)``.
        library: torch's recurrent kernels the task forbids (``"lstm_cell"``, ...).
        roots: the names the task's test reads (``{"rnn_cell"}``); only the statements that
            can change what they are are read. ``None`` reads every statement (the audit).
        provided: the names the notebook's setup binds and the module each is (``None``: not
            a module); :data:`PROVIDED` by default.

    With ``library`` (a from-scratch task) and ``roots`` both given, the statements read must
    also keep to the allowlist of the module docstring; its findings come after those that
    name the reference, a kernel or a construct that hides them, and a line found by both is
    reported once.
    """
    names = {path.rpartition(".")[2] for path in reference}
    modules = {path.rpartition(".")[0] for path in reference}
    classes = {c for kernel in library for c in LIBRARY_CLASSES.get(kernel, ())}
    stmts: list[_Statement] = []
    for label, source in cells:
        parsed = parse(source)
        if parsed is None:
            continue
        tree, magics = parsed
        for node in tree.body:
            end = node.end_lineno or node.lineno
            own = [(line, p) for line, p in magics if node.lineno <= line <= end]
            stmts.append(_Statement(label, node, own))
    aliases = import_aliases(s.node for s in stmts)
    chosen = stmts if roots is None else _reachable(stmts, set(roots), aliases)
    found: list[str] = []
    seen: set[tuple[str, int]] = set()
    for stmt in chosen:
        problems = [(line, p) for line, p in stmt.magics]
        for child in ast.walk(stmt.node):
            problem = _problem(child, names, modules, set(library), classes, aliases)
            if problem:
                problems.append((getattr(child, "lineno", 0), problem))
        found += [f"{stmt.label}, line {line}: {p}" for line, p in sorted(problems)]
        seen |= {(stmt.label, line) for line, _ in problems}
    if library and roots is not None:
        policy = _Policy(chosen, set(library), aliases, PROVIDED if provided is None else provided)
        for stmt, line, problem in policy.findings():
            if (stmt.label, line) not in seen:
                seen.add((stmt.label, line))
                found.append(f"{stmt.label}, line {line}: {problem}")
    return found


def _problem(
    node: ast.AST, names: set, modules: set, library: set, classes: set, aliases: dict[str, str]
) -> str | None:
    hidden = _hiding(node, aliases)
    if hidden or isinstance(node, ast.Name):
        return hidden or (f"uses {node.id}" if node.id == "_VF" else None)  # type: ignore[attr-defined]
    if isinstance(node, ast.Import | ast.ImportFrom):
        targets = [a.name for a in node.names]
        module = node.module if isinstance(node, ast.ImportFrom) else None
        for name in [module, *targets] if module else targets:
            if name and name.startswith("rnncourse.grading"):
                return f"imports {name}"
        if module is not None:
            if module in modules and set(targets) & names:
                return f"imports {module}.{sorted(set(targets) & names)[0]}, the reference"
            if module == "rnncourse" and "grading" in targets:
                return "imports rnncourse.grading"
            if module.startswith("torch") and set(targets) & (library | classes | {"_VF"}):
                return f"imports {module}.{sorted(set(targets) & (library | classes | {'_VF'}))[0]}"
        return None
    if isinstance(node, ast.Attribute):  # `[torch][0].lstm_cell` has no path, but an attr
        path = path_of(node, aliases) or ""
        return _reaches(path, node.attr, names, modules, library, classes)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr":
        dotted = path_of(node, aliases)
        return (
            _reaches(dotted, dotted.rpartition(".")[2], names, modules, library, classes)
            if dotted
            else None
        )
    return None


def _reaches(
    path: str, attr: str, names: set, modules: set, library: set, classes: set
) -> str | None:
    """What a use of ``path`` (ending in ``attr``) reaches that the task does not allow."""
    if path.endswith(".grading") and "rnncourse" in path:
        return f"uses {path}"
    if attr == "_VF" or path.startswith(("torch.ops", "torch._C")):
        return f"uses {path or attr}, torch's internals"
    if attr in library:
        return f"uses {path or attr}, a library implementation"
    if attr in classes and path.split(".")[0] in ("nn", "torch"):
        return f"uses {path}, a library implementation"
    if attr in names and any(path == f"{m}.{attr}" or path.endswith(
            f"{m.rpartition('.')[2]}.{attr}") for m in modules):  # fmt: skip
        return f"uses {path}, the reference"
    return None


# -- the allowlist of a from-scratch task ------------------------------------------------------


def _module(path: str) -> ModuleType | None:
    """The module ``path`` names, if it is one that the allowlist can start from."""
    if path in sys.modules:
        return sys.modules[path]
    if path in ALLOWED_MODULES or any(m.startswith(f"{path}.") for m in ALLOWED_MODULES):
        try:
            return importlib.import_module(path)
        except ImportError:
            return None
    return None


def _allowed_module(name: str) -> bool:
    """Whether the module ``name`` is allowed, or holds allowed ones (``rnncourse``)."""
    return name in ALLOWED_MODULES or any(m.startswith(f"{name}.") for m in ALLOWED_MODULES)


class _Policy:
    """What the statements a from-scratch task reaches use beyond its allowlist."""

    def __init__(
        self,
        stmts: list[_Statement],
        library: set[str],
        aliases: dict[str, str],
        provided: Mapping[str, str | None],
    ) -> None:
        self.stmts = stmts
        kernels = set(LIBRARY_CLASSES) - library
        self.permitted = kernels | {
            c for k, classes in LIBRARY_CLASSES.items() for c in classes
            if not any(c in LIBRARY_CLASSES[f] for f in library)
        }  # fmt: skip
        outer = [n for s in stmts for n in [s.node, *_inner(s.node, into_functions=False)]]
        imports = (ast.Import, ast.ImportFrom)
        self.bound = bound_names(outer)
        assigned = bound_names(n for n in outer if not isinstance(n, imports))
        # the names that are modules: imported ones and, if no cell binds them, the setup's
        self.modules: dict[str, str] = {
            k: v for k, v in provided.items() if v and k not in self.bound
        }
        for node in outer:
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname is None:
                        root = a.name.split(".")[0]
                        self.modules[root] = root
        self.modules.update(aliases)
        for name in assigned:
            if name not in aliases:
                self.modules.pop(name, None)
        self.provided = provided
        # a name a function declares global is the notebook's once the function has run
        self.defined = self.bound | _declared_global(n for s in stmts for n in ast.walk(s.node))

    def findings(self) -> list[tuple[_Statement, int, str]]:
        found = []
        for stmt in self.stmts:
            problems = self._statement(stmt)
            found += [(stmt, line, p) for line, p in sorted(set(problems))]
        return found

    def _statement(self, stmt: _Statement) -> list[tuple[int, str]]:
        problems: list[tuple[int, str]] = []
        parents = {id(c): n for n in ast.walk(stmt.node) for c in ast.iter_child_nodes(n)}
        for name in sorted(stmt.reads - self.defined):
            if name in SAFE_BUILTINS or name in _REFLECTIVE or name in self.provided:
                continue
            lines = [n.lineno for n in ast.walk(stmt.node)
                     if isinstance(n, ast.Name) and n.id == name]  # fmt: skip
            problems.append((min(lines, default=stmt.node.lineno), self._unknown(name)))
        for node in ast.walk(stmt.node):
            line = getattr(node, "lineno", stmt.node.lineno)
            problem = self._node(node, parents)
            if problem:
                problems.append((line, problem))
        return problems

    @staticmethod
    def _unknown(name: str) -> str:
        if name == "__import__":  # (``__builtins__`` is refused before, as hiding the rest)
            return f"uses {name}, which reaches every builtin"
        if name in ("Out", "_", "__", "___", "In") or name.startswith(("_i", "_o")):
            return f"uses {name}, IPython's record of other cells"
        return (
            f"uses {name}, which none of your cells defines and which is not among the "
            "builtins a from-scratch answer may use"
        )

    def _node(self, node: ast.AST, parents: dict[int, ast.AST]) -> str | None:
        if isinstance(node, ast.Import):
            for a in node.names:
                problem = self._path(a.name, imported=True)
                if problem:
                    return problem
            return None
        if isinstance(node, ast.ImportFrom):
            if node.level or not node.module:
                return "a relative import, which a from-scratch answer may not use"
            if not _allowed_module(node.module):
                return f"imports from {node.module}, a module a from-scratch answer may not use"
            for a in node.names:
                if a.name == "*":
                    return f"imports * from {node.module}: name what you import"
                problem = self._path(f"{node.module}.{a.name}", imported=True)
                if problem:
                    return problem
            return None
        if isinstance(node, ast.Attribute) and _hidden(node.attr):
            return f"uses the attribute {node.attr}"
        if isinstance(node, ast.Name) and node.id in _REFLECTIVE and node.id not in self.bound:
            call = parents.get(id(node))
            if not (isinstance(call, ast.Call) and call.func is node and _constant_name(call)):
                return f"{node.id} with a computed name"
            name = call.args[1].value  # type: ignore[attr-defined]
            return f"uses the attribute {name}, through {node.id}" if _hidden(name) else None
        if isinstance(node, ast.Name | ast.Attribute | ast.Call) and not self._continues(
            node, parents
        ):
            path = self._resolve(node, parents)
            if path is None:
                return None
            if isinstance(node.ctx if hasattr(node, "ctx") else None, ast.Store | ast.Del):
                return f"changes {path}, an attribute of a module"
            problem = self._path(path, imported=False)
            if problem:
                return problem
            if isinstance(self._object(path), ModuleType):
                return f"uses the module {path} as a value; write {path}.<name> where you need it"
        return None

    def _continues(self, node: ast.AST, parents: dict[int, ast.AST]) -> bool:
        """Whether ``node`` is the owner in a longer path (``torch`` in ``torch.nn``)."""
        parent = parents.get(id(node))
        if isinstance(parent, ast.Attribute) and parent.value is node:
            return True
        return (
            isinstance(parent, ast.Call)
            and isinstance(parent.func, ast.Name)
            and parent.func.id in _REFLECTIVE
            and bool(parent.args)
            and parent.args[0] is node
            and _constant_name(parent)
        )

    def _resolve(self, node: ast.AST, parents: dict[int, ast.AST]) -> str | None:
        """The dotted path ``node`` names if it starts at a module, else None."""
        if isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in _REFLECTIVE
                    and node.args and _constant_name(node)):  # fmt: skip
                return None
            owner = self._resolve(node.args[0], parents)
            return f"{owner}.{node.args[1].value}" if owner else None  # type: ignore[attr-defined]
        if isinstance(node, ast.Attribute):
            owner = self._resolve(node.value, parents)
            return f"{owner}.{node.attr}" if owner else None
        if isinstance(node, ast.Name) and not _local(node, parents):
            return self.modules.get(node.id)
        return None

    def _object(self, path: str) -> object:
        parts = path.split(".")
        obj: object = _module(parts[0])
        for part in parts[1:]:
            if not isinstance(obj, ModuleType):
                return None
            try:
                obj = inspect.getattr_static(obj, part)
            except AttributeError:
                return None
        return obj

    def _path(self, path: str, *, imported: bool) -> str | None:  # noqa: C901
        """What ``path`` (``torch.nn.functional.linear``) goes through that is not allowed."""
        verb = "imports" if imported else "uses"
        parts = path.split(".")
        obj: object = _module(parts[0])
        if not _allowed_module(parts[0]) or obj is None:
            return f"{verb} {path}: {parts[0]} is not a module a from-scratch answer may use"
        here = parts[0]
        for part in parts[1:]:
            owner, here = here, f"{here}.{part}"
            if part.startswith("_"):
                return f"{verb} {here}, a private name of {owner}"
            if part in DENIED_NAMES:
                return f"{verb} {here}, which a from-scratch answer may not use"
            if not isinstance(obj, ModuleType):
                if _RECURRENT.search(part) and part not in self.permitted:
                    return f"{verb} {here}, a recurrent kernel or layer"
                return None  # an attribute of a class or function: the dunder rule reads it
            if obj.__name__ in CONSTANTS_ONLY and not part.isupper():
                return f"{verb} {here}: only the constants of {owner} may be used"
            home = obj.__name__
            try:
                obj = inspect.getattr_static(obj, part)
            except AttributeError:  # a submodule not imported yet, a lazy name, or no name
                obj = _module(here) if _allowed_module(here) else None
                if obj is None and _submodule(here):
                    return f"{verb} {here}, a module a from-scratch answer may not use"
                if obj is None and home in ALLOWED_MODULES:  # else the rule below says why
                    return f"{verb} {here}, which {owner} does not define"
            if isinstance(obj, ModuleType):
                if not _allowed_module(obj.__name__):
                    return f"{verb} {here}, a module a from-scratch answer may not use"
            elif home not in ALLOWED_MODULES:
                return f"{verb} {here}: {owner} is not a module a from-scratch answer may use"
            elif _RECURRENT.search(part) and part not in self.permitted:
                return f"{verb} {here}, a recurrent kernel or layer this task asks you to write"
        return None


def _local(name: ast.Name, parents: dict[int, ast.AST]) -> bool:
    """Whether ``name`` is a variable of a function it is in (``F = x @ w`` in a def), not the
    notebook's global of that name. (A module is never a value, so no variable holds one.)"""
    child: ast.AST = name
    scope = parents.get(id(name))
    while scope is not None:
        # a def's defaults and decorators run where the def stands, not in its scope
        if (
            isinstance(scope, _FUNCTIONS)
            and child is not scope.args
            and child not in getattr(scope, "decorator_list", ())
        ):
            body = scope.body if isinstance(scope.body, list) else [scope.body]
            own = [scope.args, *ast.walk(scope.args)]
            own += [n for stmt in body for n in [stmt, *_inner(stmt, into_functions=False)]]
            declared = _declared_global(own)
            if name.id in declared:
                return False
            if name.id in bound_names(own):
                return True
        child, scope = scope, parents.get(id(scope))
    return False


def _hidden(attr: str) -> bool:
    """Whether an attribute reaches what a from-scratch answer may not: a dunder (but
    ``__init__``), a frame, code or raw memory."""
    dunder = attr.startswith("__") and attr.endswith("__") and attr not in _DUNDERS_OK
    return dunder or attr in FRAME_ATTRS


def _submodule(path: str) -> bool:
    """Whether ``path`` is a module that exists, imported or not (``numpy.f2py``)."""
    try:
        return importlib.util.find_spec(path) is not None
    except (ImportError, ValueError):
        return False


def _constant_name(call: ast.Call) -> bool:
    """Whether ``getattr(x, "name")`` (with or without a default) or ``hasattr(x, "name")``
    has a constant name; the default is read as any other expression is."""
    most = 3 if isinstance(call.func, ast.Name) and call.func.id == "getattr" else 2
    return (
        2 <= len(call.args) <= most
        and not call.keywords
        and isinstance(call.args[1], ast.Constant)
        and isinstance(call.args[1].value, str)
    )
