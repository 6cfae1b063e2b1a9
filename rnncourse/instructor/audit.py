"""Flag submissions that look like cheating, with the line that raised the flag.

Instructor tooling behind ``rnncourse audit`` (see :mod:`rnncourse.instructor.cli`). A flag is a
prompt for a human to read the notebook, never a grade change. Each code cell a learner could have
written is read with the grader's own scanner (:mod:`rnncourse.grading.static`): as the kernel
runs it (``%time stmt`` is ``stmt``), with import aliases followed (``import numpy.testing as t``
makes ``t.assert_allclose = ...`` a rebinding of numpy); a cell that does not parse is searched
with regular expressions instead. Locked cells are compared with the
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
from rnncourse.instructor.course import folder

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

#: Modules whose attributes a learner has no business assigning, under any name they are imported
#: as (the scanner follows aliases: ``import numpy.testing as npt`` makes ``npt`` numpy's).
PROTECTED_MODULES = frozenset(
    {"numpy", "torch", "rnncourse", "builtins", "__builtins__", "math", "sys", "scipy"}
)
#: The names the notebooks' setup cell binds to modules (``np``, ``F``, ``grading``, ...).
SETUP = {name: module for name, module in static.PROVIDED.items() if module}
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
# code patterns, read with the grader's scanner (rnncourse.grading.static)
# ---------------------------------------------------------------------------------------------


def _suspicious(value: object) -> bool:
    return isinstance(value, str) and (
        value.startswith(("/", "~")) or "../" in value or value == ".."
    )


def _hits(tree: ast.Module, solution_cell: bool) -> Iterator[tuple[ast.AST, str]]:  # noqa: C901
    """``(node, category)`` for each suspicious construct of a parsed cell."""
    aliases = {**SETUP, **static.import_aliases(tree.body)}

    def path(node: ast.AST) -> str:
        return static.path_of(node, aliases) or ""

    def protected(node: ast.AST) -> bool:
        dotted = path(node)
        return dotted.split(".")[0] in PROTECTED_MODULES or dotted.endswith("__dict__")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            modules += [f"{node.module}.{a.name}" for a in getattr(node, "names", [])
                        if isinstance(node, ast.ImportFrom) and node.module]  # fmt: skip
            if solution_cell and any(m.split(".")[0] == "rnncourse" for m in modules):
                yield node, "imports-reference"
            if any(m.split(".")[0] == "builtins" for m in modules):
                yield node, "rebinding"
            if solution_cell and any(m.startswith("torch.") and m.rpartition(".")[2]
                                     in TORCH_RECURRENT for m in modules):  # fmt: skip
                yield node, "imports-reference"
        elif isinstance(node, ast.Attribute | ast.Subscript | ast.Name):
            store = isinstance(node.ctx, ast.Store | ast.Del)
            if store and not isinstance(node, ast.Name) and protected(node.value):
                yield node, "rebinding"
            if store and isinstance(node, ast.Name) and node.id == "__builtins__":
                yield node, "rebinding"
            if isinstance(node, ast.Attribute):
                if node.attr in TRACEBACK_ATTRS:
                    yield node, "traceback"
                if node.attr == "__dict__" and protected(node.value):
                    yield node, "rebinding"
                if (
                    solution_cell
                    and node.attr in TORCH_RECURRENT
                    and path(node).startswith("torch.")
                ):
                    yield node, "imports-reference"
        elif isinstance(node, ast.Call):
            dotted = path(node.func)
            name = dotted.rpartition(".")[2]
            first = node.args[0] if node.args else None
            if name in {"setattr", "delattr", "vars"} and first is not None and protected(first):
                yield node, "rebinding"
            if (solution_cell and name in {"import_module", "__import__"}
                    and isinstance(first, ast.Constant)
                    and str(first.value).split(".")[0] == "rnncourse"):  # fmt: skip
                yield node, "imports-reference"
            if name in FILE_CALLS and any(isinstance(a, ast.Constant) and _suspicious(a.value)
                                          for a in node.args):  # fmt: skip
                yield node, "file-access"
            if name in SHELL_CALLS and dotted.split(".")[0] in {"os", "subprocess"}:
                yield node, "file-access"
            if tuple(dotted.split("."))[-2:] in EXIT_CALLS or dotted in {"exit", "quit"}:
                yield node, "exit"
            if solution_cell and name in TORCH_RECURRENT and dotted.startswith("torch."):
                yield node, "imports-reference"  # getattr(torch.nn, "LSTM")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "../" in node.value:
            yield node, "file-access"


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
    parsed = static.parse(source)
    if parsed is None:
        hits = []
        for number, text in enumerate(lines, 1):
            for category, regex in _REGEXES.items():
                if category == "imports-reference" and not solution_cell:
                    continue
                if regex.search(text):
                    hits.append((number, category))
    else:
        hits = [
            (getattr(node, "lineno", 0), category)
            for node, category in _hits(parsed[0], solution_cell)
        ]
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
    releases = sorted((folder(course, "release") / assignment).glob("*.ipynb"))
    autograded = folder(course, "autograded")
    flags = []
    for submitted in sorted(folder(course, "submitted").glob(f"*/{assignment}")):
        student = submitted.parent.name
        for path in sorted(submitted.glob("*.ipynb")):
            same = [r for r in releases if r.name == path.name]
            # a renamed copy of a one-notebook assignment is still compared with its release
            release = same[0] if same else (releases[0] if len(releases) == 1 else None)
            label = str(path.relative_to(course))
            flags += audit_notebook(path, release, student, label)
            flags += _refusals(autograded / student / assignment / path.name, student, label)
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
