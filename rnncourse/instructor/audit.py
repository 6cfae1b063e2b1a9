"""Flag submissions that look like cheating, with the line that raised the flag.

Instructor tooling behind ``rnncourse audit`` (see :mod:`rnncourse.instructor.cli`). A flag is a
prompt for a human to read the notebook, never a grade change. Each code cell a learner could have
written is parsed with :mod:`ast` (IPython ``%magic`` / ``!shell`` lines are blanked first); a cell
that does not parse is searched with regular expressions instead. Locked cells are compared with the
released notebook through nbgrader's own checksums (:func:`nbgrader.utils.compute_checksum`).

Categories:

==================== =================================================================
``rebinding``        assigns to, ``setattr``s or ``del``s an attribute of numpy, torch,
                     ``grading``, ``rnncourse``, ``builtins``, ... (``np.allclose = ...``)
``imports-reference`` imports ``rnncourse`` in a solution cell, or uses ``torch.nn.RNN`` and
                     friends or ``torch._VF`` where the task is to write them
``file-access``      opens or lists a path that is absolute or climbs out (``'/...'``,
                     ``'../'``), or runs a shell command
``traceback``        touches ``showtraceback``, ``sys.excepthook``, ``set_custom_exc``
``exit``             ``os._exit``, ``sys.exit``, ``exit()``, ``quit()``, ``os.kill``
``locked-cell``      a locked cell was deleted, or its source or metadata edited
``unreadable``       the notebook is not valid JSON (nbgrader cannot grade it either)
``refused``          the grader refused a from-scratch task (a source rule: the code the
                     task runs reaches its reference, a library kernel or code that hides
                     what it calls), read from the autograded notebook's recorded verdict
==================== =================================================================

Examples::

    >>> from rnncourse.instructor.audit import audit_assignment  # doctest: +SKIP
    >>> for flag in audit_assignment(".", "ex02_hidden_state"):  # doctest: +SKIP
    ...     print(flag.student, flag.category, flag.evidence)
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnncourse.grading import static

__all__ = ["Flag", "audit_notebook", "audit_assignment", "CATEGORIES"]

CATEGORIES = (
    "rebinding",
    "imports-reference",
    "file-access",
    "traceback",
    "exit",
    "locked-cell",
    "unreadable",
    "refused",
)

#: Names whose attributes a learner has no business assigning (module aliases the notebooks use).
PROTECTED = frozenset(
    {
        "np", "numpy", "torch", "F", "nn", "grading", "_grading", "rnncourse", "builtins",
        "__builtins__", "math", "sys", "scipy", "testing",
    }
)  # fmt: skip
#: Modules whose submodules, imported under any alias, are protected too.
PROTECTED_MODULES = frozenset({"numpy", "torch", "rnncourse", "builtins", "math", "sys", "scipy"})
#: Attribute names that rebind error display.
TRACEBACK_ATTRS = frozenset({"showtraceback", "showsyntaxerror", "excepthook", "set_custom_exc"})
#: torch's own recurrent layers, the references the exercises compare with: the grader's table
#: (:data:`rnncourse.grading.static.TORCH_RECURRENT`), so that the two never disagree.
TORCH_RECURRENT = static.TORCH_RECURRENT
#: Calls that read or list files; their path argument is checked.
FILE_CALLS = frozenset(
    {
        "open", "Path", "load", "loadtxt", "genfromtxt", "fromfile", "read_csv", "listdir",
        "scandir", "walk", "glob", "iglob", "read_text", "read_bytes", "copy", "copyfile",
    }
)  # fmt: skip
SHELL_CALLS = frozenset({"system", "popen", "run", "Popen", "call", "check_output", "check_call"})
EXIT_CALLS = {("os", "_exit"), ("sys", "exit"), ("os", "kill"), ("os", "abort")}


@dataclass(frozen=True)
class Flag:
    """One piece of evidence.

    Args:
        student: the student id.
        file: the notebook, relative to the course folder.
        cell: the cell's index in the submitted notebook and its nbgrader ``grade_id`` if any
            (``"3 (rnn_cell)"``).
        line: 1-based line in the cell (0 for a whole-cell finding).
        category: one of :data:`CATEGORIES`.
        evidence: the line of code, or what changed.
    """

    student: str
    file: str
    cell: str
    line: int
    category: str
    evidence: str


# ---------------------------------------------------------------------------------------------
# code patterns
# ---------------------------------------------------------------------------------------------


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a Name/Attribute chain (calls in between give ``a.b().c``), else None."""
    parts = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            parts.append("()")
            node = node.func
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            return ".".join(reversed(parts)).replace(".()", "()")
        else:
            return None


def _root(dotted: str) -> str:
    return dotted.split(".")[0].split("(")[0]


def _is_suspicious_path(value: str) -> bool:
    return value.startswith(("/", "~")) or "../" in value or value == ".."


class _Finder(ast.NodeVisitor):
    """Collects ``(line, category)`` pairs for one cell."""

    def __init__(self, solution_cell: bool, protected: set[str]) -> None:
        self.solution_cell = solution_cell
        self.protected = protected
        self.hits: list[tuple[int, str]] = []

    def hit(self, node: ast.AST, category: str) -> None:
        self.hits.append((getattr(node, "lineno", 0), category))

    # rebinding: np.allclose = ..., del torch.x, torch.testing.assert_close += ...
    def _target(self, target: ast.AST) -> None:
        if isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self._target(element)
            return
        if isinstance(target, ast.Attribute | ast.Subscript):
            dotted = _dotted(target.value if isinstance(target, ast.Subscript) else target)
            if dotted is None:
                return
            if _root(dotted) in self.protected or dotted.endswith("__dict__"):
                self.hit(target, "rebinding")
            if isinstance(target, ast.Attribute) and target.attr in TRACEBACK_ATTRS:
                self.hit(target, "traceback")
        elif isinstance(target, ast.Name) and target.id in {"__builtins__"}:
            self.hit(target, "rebinding")

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._target(target)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._target(node.target)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._target(node.target)
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self._target(target)
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._import(node, alias.name)
            if alias.name.split(".")[0] in PROTECTED_MODULES:
                # `import numpy.testing as npt` protects npt; `import torch.nn` protects torch
                self.protected.add(alias.asname or alias.name.split(".")[0])
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        self._import(node, module)
        if module.split(".")[0] in PROTECTED_MODULES:
            # `from torch import testing`: a module (or function) that grading relies on
            self.protected.update(alias.asname or alias.name for alias in node.names)
        self.generic_visit(node)

    def _import(self, node: ast.AST, module: str) -> None:
        if self.solution_cell and (module == "rnncourse" or module.startswith("rnncourse.")):
            self.hit(node, "imports-reference")
        if module == "builtins":
            self.hit(node, "rebinding")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in TRACEBACK_ATTRS:
            self.hit(node, "traceback")
        if node.attr in TORCH_RECURRENT and self.solution_cell:
            dotted = _dotted(node) or ""
            if _root(dotted) in {"torch", "nn"}:
                self.hit(node, "imports-reference")
        if node.attr == "__dict__":
            dotted = _dotted(node.value) or ""
            if _root(dotted) in self.protected:
                self.hit(node, "rebinding")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        dotted = _dotted(node.func) or ""
        name = dotted.rsplit(".", 1)[-1]
        first = node.args[0] if node.args else None
        first_root = _root(_dotted(first) or "") if first is not None else ""
        if name in {"setattr", "delattr"} and first_root in self.protected:
            self.hit(node, "rebinding")
        if name == "vars" and first_root in self.protected:
            self.hit(node, "rebinding")
        if name in {"import_module", "__import__"} and isinstance(first, ast.Constant):
            if str(first.value).split(".")[0] == "rnncourse" and self.solution_cell:
                self.hit(node, "imports-reference")
        if name in FILE_CALLS and any(
            isinstance(a, ast.Constant)
            and isinstance(a.value, str)
            and _is_suspicious_path(a.value)
            for a in node.args
        ):
            self.hit(node, "file-access")
        if name in SHELL_CALLS and _root(dotted) in {"os", "subprocess"}:
            self.hit(node, "file-access")
        parts = tuple(dotted.split("."))
        if parts[-2:] in EXIT_CALLS or dotted in {"exit", "quit"}:
            self.hit(node, "exit")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and "../" in node.value:
            self.hit(node, "file-access")


_REGEXES = {
    "rebinding": re.compile(
        r"\b(np|numpy|torch|F|grading|rnncourse|builtins|math)(\.\w+)+\s*(=[^=]|\+=)"
        r"|\b(setattr|delattr)\s*\(\s*(np|numpy|torch|grading|rnncourse|builtins)\b"
        r"|\bimport\s+builtins\b|__builtins__"
    ),
    "imports-reference": re.compile(r"^\s*(from\s+rnncourse\b|import\s+rnncourse\b)"),
    "file-access": re.compile(r"open\s*\(\s*['\"](/|~|\.\./)|\.\./|os\.system|subprocess\."),
    "traceback": re.compile(r"showtraceback|showsyntaxerror|excepthook|set_custom_exc"),
    "exit": re.compile(r"\bos\._exit\b|\bsys\.exit\b|^\s*(exit|quit)\s*\("),
}


def _blank_magics(source: str) -> str:
    """IPython-only lines (``%time``, ``!ls``) become ``pass`` so the cell parses as Python."""
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            lines.append(line[: len(line) - len(stripped)] + "pass")
        else:
            lines.append(line)
    return "\n".join(lines)


def scan_source(source: str, solution_cell: bool = True) -> list[tuple[int, str, str]]:
    """``(line, category, line text)`` for every suspicious line of one code cell.

    Args:
        source: the cell's source.
        solution_cell: whether the cell is a learner's answer (importing ``rnncourse`` there
            is flagged; elsewhere it is not).

    Examples::

        >>> scan_source("np.allclose = lambda *a, **k: True")
        [(1, 'rebinding', 'np.allclose = lambda *a, **k: True')]
    """
    lines = source.splitlines()
    try:
        tree = ast.parse(_blank_magics(source))
    except SyntaxError:
        hits = []
        for number, text in enumerate(lines, 1):
            for category, regex in _REGEXES.items():
                if category == "imports-reference" and not solution_cell:
                    continue
                if regex.search(text):
                    hits.append((number, category))
    else:
        finder = _Finder(solution_cell, set(PROTECTED))
        finder.visit(tree)
        hits = finder.hits
    out = []
    for number, category in sorted(set(hits)):
        text = lines[number - 1].strip() if 0 < number <= len(lines) else ""
        out.append((number, category, text))
    return out


# ---------------------------------------------------------------------------------------------
# locked cells
# ---------------------------------------------------------------------------------------------


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _first_difference(old: str, new: str) -> tuple[int, str]:
    old_lines, new_lines = old.splitlines(), new.splitlines()
    for number, (a, b) in enumerate(zip(old_lines, new_lines, strict=False), 1):
        if a != b:
            return number, f"{a.strip()!r} -> {b.strip()!r}"
    number = min(len(old_lines), len(new_lines)) + 1
    extra = new_lines[number - 1] if len(new_lines) >= number else "(lines removed)"
    return number, f"added {extra.strip()!r}" if len(new_lines) >= number else extra


def _locked_changes(release, submitted) -> Iterator[tuple[str, int, str]]:
    """``(cell label, line, evidence)`` for each locked release cell deleted or changed."""
    from nbgrader.utils import compute_checksum

    by_id: dict[str, tuple[int, Any]] = {}
    for index, cell in enumerate(submitted.cells):
        gid = _meta(cell).get("grade_id")
        if gid is not None:
            by_id.setdefault(gid, (index, cell))
    for cell in release.cells:
        meta = _meta(cell)
        if not (meta.get("locked") or meta.get("grade")) or meta.get("solution"):
            continue
        gid = meta["grade_id"]
        if gid not in by_id:
            yield f"- ({gid})", 0, f"locked cell {gid!r} deleted"
            continue
        index, mine = by_id[gid]
        label = f"{index} ({gid})"
        if mine.source != cell.source:
            number, change = _first_difference(cell.source, mine.source)
            yield label, number, f"locked source edited: {change}"
            continue
        expected = meta.get("checksum") or compute_checksum(cell)
        mine_meta = _meta(mine)
        if compute_checksum(mine) != expected:
            changed = sorted(
                key
                for key in set(meta) | set(mine_meta)
                if key != "checksum" and meta.get(key) != mine_meta.get(key)
            )
            what = ", ".join(f"{k}: {meta.get(k)!r} -> {mine_meta.get(k)!r}" for k in changed)
            yield label, 0, f"locked metadata edited: {what or 'checksum differs'}"


# ---------------------------------------------------------------------------------------------
# notebooks and assignments
# ---------------------------------------------------------------------------------------------


def audit_notebook(path: Path, release_path: Path | None, student: str, label: str) -> list[Flag]:
    """Every flag for one submitted notebook (``label`` names it in the evidence)."""
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
    except (json.JSONDecodeError, nbformat.reader.NotJSONError, UnicodeDecodeError) as error:
        return [Flag(student, label, "-", 0, "unreadable", f"not a notebook: {error}")]
    release = nbformat.read(release_path, as_version=4) if release_path else None
    untouched = set()
    flags = []
    if release is not None:
        released = {
            _meta(c).get("grade_id"): c.source for c in release.cells if _meta(c).get("locked")
        }
        untouched = {
            i
            for i, c in enumerate(nb.cells)
            if _meta(c).get("grade_id") in released and released[_meta(c)["grade_id"]] == c.source
        }
        for cell_label, line, evidence in _locked_changes(release, nb):
            flags.append(Flag(student, label, cell_label, line, "locked-cell", evidence))
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or index in untouched:
            continue
        meta = _meta(cell)
        cell_label = f"{index} ({meta['grade_id']})" if meta.get("grade_id") else str(index)
        # Unmarked cells a learner adds count as answers too: imports there reach the tests.
        answer = bool(meta.get("solution")) or not meta
        for line, category, text in scan_source(cell.source, solution_cell=answer):
            flags.append(Flag(student, label, cell_label, line, category, text))
    return flags


def audit_assignment(course: str | Path, assignment: str) -> list[Flag]:
    """Flags for every ``submitted/*/<assignment>/*.ipynb``, sorted by student and cell.

    Notebooks are compared with the release ``<release_directory>/<assignment>/`` (``exercises/``
    in this course) when it holds a notebook of the same name.
    """
    course = Path(course)
    releases = sorted((course / "exercises" / assignment).glob("*.ipynb"))
    flags = []
    for folder in sorted((course / "submitted").glob(f"*/{assignment}")):
        student = folder.parent.name
        for path in sorted(folder.glob("*.ipynb")):
            same = [r for r in releases if r.name == path.name]
            # a renamed copy of a one-notebook assignment is still compared with its release
            release = same[0] if same else (releases[0] if len(releases) == 1 else None)
            label = str(path.relative_to(course))
            flags += audit_notebook(path, release, student, label)
            flags += _refusals(course / "autograded" / student / assignment / path.name,
                               student, label)  # fmt: skip
    return flags


def _refusals(graded: Path, student: str, label: str) -> list[Flag]:
    """The source-rule refusals the trusted grader recorded in an autograded notebook."""
    try:
        cells = json.loads(graded.read_text())["cells"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    flags = []
    for cell in cells:
        meta = cell.get("metadata", {})
        verdict = meta.get("rnncourse", {}).get("verdict", {})
        if verdict.get("kind") == "refused":
            task = meta.get("nbgrader", {}).get("grade_id", "?")
            for finding in verdict.get("findings", []) or ["(see the feedback)"]:
                flags.append(Flag(student, label, task, 0, "refused", finding))
    return flags
