"""The source scanner of from-scratch tasks (:mod:`rnncourse.grading.static`), read directly.

Every delegation route of ``tests/delegation/corpus.py`` is refused, naming the cell, the line
and the construct, and each is shown to be a real delegation (with the grader's refusals off it
passes the task's check). Every honest alternative answer of ``tests/alternatives.py`` and every
instructor's answer of every assignment passes the scanner of its task.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap

import pytest

from rnncourse import grading
from rnncourse.grading import static
from rnncourse.grading.checks import forbidden_paths, task_findings
from rnncourse.instructor.trusted import cell_role
from tests import _nbgrader
from tests.alternatives import ALTERNATIVES
from tests.delegation import corpus
from tests.delegation.corpus import ROUTES, Route

_LABEL = re.compile(r'^(the cell that begins ".*"|an empty cell), line \d+: .+')


def _findings(cells: list[tuple[str, str]], task: str, roots: set[str]) -> list[str]:
    """What the grader finds in ``cells`` for ``task`` (its references and kernels)."""
    return task_findings(grading.spec(task), cells, roots)


def _task(name: str) -> dict:
    s = grading.spec(name)
    return {"reference": forbidden_paths(s), "library": s.forbidden_library}


def _learner_cells(nb) -> list[tuple[str, str]]:
    return [(static.cell_label(c.source), c.source) for c in nb.cells
            if c.cell_type == "code" and cell_role(c) == "learner"]  # fmt: skip


def _submission(route: Route):
    release = _nbgrader.read(_nbgrader.release_path(route.assignment))
    solution = _nbgrader.read(_nbgrader.solution_path(route.assignment))
    return corpus.notebook(route.assignment, release, solution, route)


# -- the delegation corpus ----------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.student)
def test_route_is_refused(route: Route) -> None:
    """Is each delegation refused, with the cell, the line and the construct named?"""
    cells = _learner_cells(_submission(route))
    problems = _findings(cells, route.task, {route.task})
    assert problems, route.what
    assert all(_LABEL.match(p) for p in problems), problems


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.student)
def test_route_spares_the_other_tasks(route: Route) -> None:
    """Does the delegation cost only its own task (the other answers are the instructor's)?"""
    cells = _learner_cells(_submission(route))
    others = {task for _, task in corpus.TESTS[route.assignment].values()} - {route.task}
    for task in others - set(corpus.BLANK[route.assignment]):
        if grading.spec(task).forbidden_library:
            assert _findings(cells, task, {task}) == [], task


def _setup(assignment: str) -> str:
    nb = _nbgrader.read(_nbgrader.solution_path(assignment))
    return next(c.source for c in nb.cells if c.cell_type == "code" and cell_role(c) == "setup")


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.student)
def test_route_is_a_real_delegation(route: Route) -> None:
    """Without the grader's refusals, does the route compute the right answer? (Then only the
    refusal stands between it and full marks.)"""
    import sys

    profiler = sys.getprofile()
    namespace: dict = {}
    try:
        exec(_setup(route.assignment), namespace)  # noqa: S102
        for source in (route.source, route.helper or ""):
            exec(source, namespace)  # noqa: S102
        grading._check(route.task, namespace[route.task])  # without reading the source
    finally:
        sys.setprofile(profiler)


def test_corpus_is_wide() -> None:
    """Ten routes at least, over the three cell tasks, to the reference and to torch."""
    assert len(ROUTES) >= 10
    assert {r.task for r in ROUTES} == {"rnn_cell", "lstm_cell", "gru_cell"}
    assert len({r.student for r in ROUTES}) == len(ROUTES)


# -- honest answers -----------------------------------------------------------------------------


def _source_of(fn) -> list[tuple[str, str]]:
    """``fn`` and the module-level helpers of tests/alternatives.py it calls, as cells."""
    import tests.alternatives as module

    cells, todo, seen = [], [fn.__name__], set()
    while todo:
        name = todo.pop()
        if name in seen or not inspect.isfunction(getattr(module, name, None)):
            continue
        seen.add(name)
        source = textwrap.dedent(inspect.getsource(getattr(module, name)))
        cells.insert(0, (f"cell {name}", source))
        todo += [n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)]
    header = "from rnncourse.data import BOS, EOS, PAD\nimport torch.nn.functional as F"
    return [("cell imports", header), *cells]


_FROM_SCRATCH = sorted(n for n in ALTERNATIVES if grading.spec(n).forbidden_library)


@pytest.mark.parametrize("name", _FROM_SCRATCH)
def test_alternatives_pass(name: str) -> None:
    """Does every honest alternative answer of a from-scratch task pass its scanner?"""
    for fn in ALTERNATIVES[name]:
        cells = _source_of(fn)
        cells.append(("cell answer", f"{name} = {fn.__name__}"))
        assert static.findings(cells, roots={name}, **_task(name)) == [], fn.__name__


def _roots(test_source: str, setup: set[str]) -> set[str]:
    from rnncourse.instructor.trusted import _reads

    return _reads(test_source) - setup - set(dir(__builtins__))


@pytest.mark.parametrize("assignment", _nbgrader.ASSIGNMENTS)
def test_solutions_pass(assignment: str) -> None:
    """Does every instructor's answer pass the scanner of every task, read as the grader reads
    it (the names its test cell reads)?"""
    nb = _nbgrader.read(_nbgrader.solution_path(assignment))
    setup: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type == "code" and cell_role(cell) == "setup":
            setup |= {t for n in ast.walk(ast.parse(cell.source)) for t in _bound(n)}
    answers = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        role = cell_role(cell)
        if role == "learner":
            answers.append((static.cell_label(cell.source), cell.source))
        elif role == "test":
            for name in set(re.findall(r'check\(\s*"(\w+)"', cell.source)):
                problems = static.findings(answers, roots=_roots(cell.source, setup), **_task(name))
                assert problems == [], f"{assignment}: {name}"


def _bound(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
        return [node.id]
    if isinstance(node, ast.Import | ast.ImportFrom):
        return [(a.asname or a.name).split(".")[0] for a in node.names]
    return []


# -- the rules, one by one ----------------------------------------------------------------------

_OK = "def rnn_cell(x, h, *w):\n    return {}\n"


@pytest.mark.parametrize(
    ("body", "found"),
    [
        ("typing.sys.modules['x']", "typing.sys, a module"),
        ("grading.spec('rnn_cell')", "rnncourse.grading, a module"),
        ("functools.reduce(getattr, ['rnn_tanh_cell'], torch)", "getattr with a computed name"),
        ("[torch][0]", "module torch as a value"),
        ("Out[3](x)", "IPython's record"),
        ("dir(torch)", "uses dir"),
        ("torch.nn.functional._in_projection(x)", "a private name"),
        ("torch.quantized_rnn_tanh_cell(x)", "a recurrent kernel or layer"),
        ("nn.RNNBase('RNN_TANH', 3, 4)", "a recurrent kernel or layer"),
        ("torch.load('w.pt')", "may not use"),
        ("x.__class__", "uses the attribute __class__"),
        ("hasattr(torch, 'rnn' + '_tanh_cell')", "hasattr with a computed name"),
        ("operator.methodcaller('rnn_tanh_cell')(torch)", "may not use"),
        ("np.ctypeslib", "numpy.ctypeslib"),
        ("getattr(rnn_cell, '__globals__')", "__globals__, through getattr"),
        ("(lambda: (yield))().gi_frame", "uses the attribute gi_frame"),
        ("torch.get_device_module('cpu')", "may not use"),
        ("x.numpy().ctypes", "uses the attribute ctypes"),
    ],
)
def test_allowlist_names_the_construct(body: str, found: str) -> None:
    """Is each construct outside the allowlist refused, by cell and line?"""
    cells = [("cell 1", "import typing, functools, operator"), ("cell 2", _OK.format(body))]
    problems = static.findings(cells, roots={"rnn_cell"}, **_task("rnn_cell"))
    assert any(found in p and p.startswith("cell 2, line 2: ") for p in problems), problems


@pytest.mark.parametrize(
    ("source", "use"),
    [
        ("import sys", "sys.float_info.eps"),
        ("import rnncourse.rnn", "rnncourse"),
        ("from rnncourse.data import sliding_windows", "sliding_windows"),
        ("from torch.nn.modules import rnn", "rnn"),
        ("from torch import *", "tanh(x)"),
        ("from . import helpers", "helpers"),
        ("import torch.nn.modules.rnn as m", "m"),
        ("import inspect", "inspect"),
        ("import torch.cuda.jiterator as jit", "jit"),  # compiles kernels from strings
    ],
)
def test_allowlist_refuses_imports(source: str, use: str) -> None:
    """Are imports outside the allowed modules (and of non-constants of rnncourse.data) that
    the task reaches refused, at the import?"""
    cells = [("cell 1", source + "\n" + _OK.format(use))]
    problems = static.findings(cells, roots={"rnn_cell"}, **_task("rnn_cell"))
    assert any(p.startswith("cell 1, line 1: ") for p in problems), problems


def test_unused_import_is_not_read() -> None:
    """An import the task never reads is not the task's (it changes nothing it runs)."""
    cells = [("cell 1", "import rnncourse.rnn\n" + _OK.format("x"))]
    assert static.findings(cells, roots={"rnn_cell"}, **_task("rnn_cell")) == []


@pytest.mark.parametrize(
    "source",
    [
        "from rnncourse.data import BOS, EOS, PAD\n" + _OK.format("x + BOS"),
        "import torch.nn.functional as G\n" + _OK.format("G.linear(x, w[0])"),
        "from torch import nn\n" + _OK.format("nn.Linear(3, 4).weight @ x"),
        "import numpy as np\nimport math\n" + _OK.format("np.tanh(x) * math.pi"),
        _OK.format("getattr(x, 'shape')[0] + hasattr(x, 'grad')"),
        "class M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        + _OK.format("M()(x)"),
        # a device check, a warning, an identity test: honest code that reaches no kernel
        _OK.format("x.cuda() if torch.cuda.is_available() else x"),
        "import warnings\n" + _OK.format("warnings.warn('slow') or x"),
        _OK.format("x if id(x) == id(h) else h"),
    ],
)
def test_allowlist_allows_ordinary_code(source: str) -> None:
    """Are the usual ways of writing an answer from its equations allowed?"""
    cells = [("cell 1", source)]
    assert static.findings(cells, roots={"rnn_cell"}, **_task("rnn_cell")) == []


def test_layer_tasks_may_use_cells() -> None:
    """A task that forbids the layers only (a GRU over a sequence) may use torch.gru_cell."""
    cells = [("cell 1", "def reverse_gru(x, h, p):\n    return torch.gru_cell(x[0], h, *p)\n")]
    assert static.findings(cells, roots={"reverse_gru"}, **_task("reverse_gru")) == []
    cells = [("cell 1", "def reverse_gru(x, h, p):\n    return torch.gru(x, h, *p)\n")]
    assert static.findings(cells, roots={"reverse_gru"}, **_task("reverse_gru"))


def test_scratch_code_is_not_read() -> None:
    """Is code the task does not reach (a comparison with torch's cell) still left alone?"""
    cells = [
        ("cell 1", _OK.format("torch.tanh(x)")),
        ("cell 2", "import sys\nref = torch.nn.RNNCell(3, 4)\nprint(Out, dir(torch))"),
    ]
    assert static.findings(cells, roots={"rnn_cell"}, **_task("rnn_cell")) == []


def test_audit_shares_the_table() -> None:
    """Does `rnncourse audit` flag what the scanner's table names?"""
    from rnncourse.instructor import audit

    assert audit.TORCH_RECURRENT is static.TORCH_RECURRENT
