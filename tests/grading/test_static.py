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
import sys
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
        ("typing.sys.float_info", "typing.sys, a module"),
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


# What the learner reads, word for word: each rule's refusal names the construct and the rule.
_UNDEFINED = "which none of your cells defines and which is not among the builtins a from-scratch answer may use"  # noqa: E501
_NOT_ALLOWED = "a module a from-scratch answer may not use"
_WRITE = "a recurrent kernel or layer this task asks you to write"


@pytest.mark.parametrize(
    ("cell", "said"),
    [
        # names no cell defines
        (_OK.format("helper(x)"), [f"line 2: uses helper, {_UNDEFINED}"]),
        (_OK.format("_helper(x)"), [f"line 2: uses _helper, {_UNDEFINED}"]),
        ("f = __import__\n" + _OK.format("f('os')"),
         ["line 1: uses __import__, which reaches every builtin"]),
        (_OK.format("__builtins__"), ["line 2: uses __builtins__"]),
        *[(_OK.format(name), [f"line 2: uses {name}, IPython's record of other cells"])
          for name in ("Out", "_", "__", "___", "In", "_i3", "_oh")],
        # imports
        ("from . import helpers\n" + _OK.format("helpers.f(x)"),
         ["line 1: a relative import, which a from-scratch answer may not use"]),
        ("from os import sep\n" + _OK.format("sep"),
         [f"line 1: imports from os, {_NOT_ALLOWED}",
          "line 3: uses os.sep: os is not a module a from-scratch answer may use"]),
        ("from torch import *\n" + _OK.format("tanh(x)"),
         ["line 1: imports * from torch: name what you import",
          f"line 3: uses tanh, {_UNDEFINED}"]),
        ("import scipy\n" + _OK.format("scipy.special"),
         ["line 1: imports scipy: scipy is not a module a from-scratch answer may use",
          "line 3: uses scipy.special: scipy is not a module a from-scratch answer may use"]),
        ("import torch.cuda.jiterator as jit\n" + _OK.format("jit"),
         [f"line 1: imports torch.cuda.jiterator, {_NOT_ALLOWED}",
          f"line 3: uses torch.cuda.jiterator, {_NOT_ALLOWED}"]),
        ("from rnncourse.data import sliding_windows\n" + _OK.format("sliding_windows"),
         [f"line {n}: {v} rnncourse.data.sliding_windows: only the constants of rnncourse.data "
          "may be used" for n, v in ((1, "imports"), (3, "uses"))]),
        ("import rnncourse\n" + _OK.format("rnncourse.RNN"),  # a lazy name of the package
         ["line 3: uses rnncourse.RNN: rnncourse is not a module a from-scratch answer may use"]),
        # paths through allowed modules
        (_OK.format("np.f2py"), [f"line 2: uses numpy.f2py, {_NOT_ALLOWED}"]),  # lazy submodule
        (_OK.format("torch.no_such_function(x)"),
         ["line 2: uses torch.no_such_function, which torch does not define"]),
        (_OK.format("math.no_such_function(x)"),  # math is a module, not a package
         ["line 2: uses math.no_such_function, which math does not define"]),
        (_OK.format("torch.nn.functional._in_projection(x)"),
         ["line 2: uses torch.nn.functional._in_projection, a private name of "
          "torch.nn.functional"]),
        (_OK.format("torch.load('w.pt')"),
         ["line 2: uses torch.load, which a from-scratch answer may not use"]),
        ("from torch import quantized_rnn_tanh_cell as q\n" + _OK.format("q(x)"),
         [f"line 1: imports torch.quantized_rnn_tanh_cell, {_WRITE}",
          f"line 3: uses torch.quantized_rnn_tanh_cell, {_WRITE}"]),
        (_OK.format("np.ndarray.rnn_step"),
         ["line 2: uses numpy.ndarray.rnn_step, a recurrent kernel or layer"]),
        # modules as values and their attributes
        (_OK.format("[torch][0]"),
         ["line 2: uses the module torch as a value; write torch.<name> where you need it"]),
        (_OK.format("[F][0]"), ["line 2: uses the module torch.nn.functional as a value; write "
                                "torch.nn.functional.<name> where you need it"]),
        (_OK.format("F.torch"),  # a module held by another under a name of its own
         ["line 2: uses the module torch.nn.functional.torch as a value; write "
          "torch.nn.functional.torch.<name> where you need it"]),
        ("torch.tanh = abs\n" + _OK.format("torch.tanh(x)"),
         ["line 1: changes torch.tanh, an attribute of a module"]),
        ("del torch.tanh\n" + _OK.format("torch.tanh(x)"),
         ["line 1: changes torch.tanh, an attribute of a module"]),
        # reflection
        (_OK.format("x.__len__()"), ["line 2: uses the attribute __len__"]),
        (_OK.format("getattr(x, '__len__')()"),
         ["line 2: uses the attribute __len__, through getattr"]),
        (_OK.format("hasattr(x, h)"), ["line 2: hasattr with a computed name"]),
        (_OK.format("hasattr(x, 'shape', 0)"), ["line 2: hasattr with a computed name"]),
        (_OK.format("getattr(x, name='shape')"), ["line 2: getattr with a computed name"]),
        (_OK.format("getattr(torch, 'load', None)"),
         ["line 2: uses torch.load, which a from-scratch answer may not use"]),
        (_OK.format("getattr(x, 'bias', torch)"),
         ["line 2: uses the module torch as a value; write torch.<name> where you need it"]),
        # what every task refuses: the grader, the reference, torch's kernels and internals
        ("from rnncourse import grading as g\n" + _OK.format("g"),
         ["line 1: imports rnncourse.grading", f"line 3: uses rnncourse.grading, {_NOT_ALLOWED}"]),
        ("from rnncourse.rnn import rnn_cell as f\n" + _OK.format("f(x, h, *w)"),
         ["line 1: imports rnncourse.rnn.rnn_cell, the reference",
          f"line 3: uses rnncourse.rnn, {_NOT_ALLOWED}"]),
        ("import rnncourse.rnn as R\n" + _OK.format("R.rnn_cell(x, h, *w)"),
         ["line 3: uses rnncourse.rnn.rnn_cell, the reference",  # the named targets come first
          f"line 1: imports rnncourse.rnn, {_NOT_ALLOWED}"]),
        ("from torch import rnn_tanh_cell as f\n" + _OK.format("f(x)"),
         ["line 1: imports torch.rnn_tanh_cell", f"line 3: uses torch.rnn_tanh_cell, {_WRITE}"]),
        (_OK.format("torch._VF.rnn_tanh_cell(x)"),
         ["line 2: uses torch._VF, torch's internals",
          "line 2: uses torch._VF.rnn_tanh_cell, a library implementation"]),
        (_OK.format("_VF.rnn_tanh_cell(x)"),
         ["line 2: uses _VF", "line 2: uses _VF.rnn_tanh_cell, a library implementation"]),
        (_OK.format("torch.ops.aten.rnn_tanh_cell(x)"),
         [f"line 2: uses {p}, torch's internals"
          for p in ("torch.ops", "torch.ops.aten", "torch.ops.aten.rnn_tanh_cell")]),
        (_OK.format("getattr(torch, 'rnn_tanh_cell')(x)"),
         ["line 2: uses torch.rnn_tanh_cell, a library implementation"]),
        (_OK.format("torch.nn.RNNCell(3, 4)(x)"),
         ["line 2: uses torch.nn.RNNCell, a library implementation"]),
        (_OK.format("nn.RNNCell.forward(x)"),
         ["line 2: uses nn.RNNCell, a library implementation",
          "line 2: uses nn.RNNCell.forward, the reference"]),
    ],
)  # fmt: skip
def test_refusal_words(cell: str, said: list[str]) -> None:
    """Does each refusal say, in full, what the cell does and which rule it breaks (and
    nothing twice)? The learner reads these words in the test cell, Validate and feedback."""
    found = static.findings([("cell 1", cell)], roots={"rnn_cell"}, **_task("rnn_cell"))
    assert found == [f"cell 1, {s}" for s in said]


def test_allowed_module_not_imported_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    """An allowed module the grader has not imported (``statistics``), or one its package
    holds only lazily (as NumPy 2 does some), is allowed as any other."""
    import numpy

    monkeypatch.delitem(sys.modules, "statistics", raising=False)
    monkeypatch.delattr(numpy, "random")
    cells = [
        ("cell 1", "import statistics\n" + _OK.format("statistics.fmean(x) + np.random.rand()"))
    ]
    assert static.findings(cells, roots={"rnn_cell"}, **_task("rnn_cell")) == []


@pytest.mark.parametrize(
    "body", ["getattr(x, 'shape', None)", "getattr(w[0], 'bias', None) is None and x"]
)
def test_getattr_with_a_default_is_allowed(body: str) -> None:
    """``getattr(obj, "name", default)`` is ordinary code; its default is read as any other
    expression (a module there is refused, above)."""
    assert static.findings([("cell 1", _OK.format(body))], roots={"rnn_cell"},
                           **_task("rnn_cell")) == []  # fmt: skip


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


# -- what a task reaches: the statements that can change what its names are ----------------------

_KERNEL = "uses torch.rnn_tanh_cell, a library implementation"
_USES_REF = "def rnn_cell(x, h, *w):\n    return ref(x, h, *w)\n"


@pytest.mark.parametrize(
    ("cells", "line"),
    [
        # a function whose call sets a global through a function it calls, after effects of its own
        ("def b():\n    global g\n    g = 1\ndef a():\n    global ref\n"
         "    ref = torch.rnn_tanh_cell\n    b()\na()\n" + _USES_REF, 6),
        # a function that fills a list it is given
        ("def fill(p):\n    p[0] = torch.rnn_tanh_cell\nparams = [None]\nfill(params)\n"
         "def rnn_cell(x, h, *w):\n    return params[0](x, h, *w)\n", 2),
        # a default value, read when the function is defined
        ("ref = torch.rnn_tanh_cell\ndef rnn_cell(x, h, *w, f=ref):\n    return f(x, h, *w)\n", 1),
        # the first of two definitions of a name, called before the second
        ("def arm():\n    global ref\n    ref = torch.rnn_tanh_cell\ndef setup():\n    arm()\n"
         "setup()\ndef setup():\n    pass\n" + _USES_REF, 3),
        # making an instance runs its __init__
        ("class Model:\n    def __init__(self):\n        global ref\n"
         "        ref = torch.rnn_tanh_cell\nModel()\n" + _USES_REF, 4),
        # the first of two functions in one statement
        ("ref = torch.rnn_tanh_cell\n"
         "rnn_cell = [lambda x, h, *w: ref(x, h, *w), lambda x, h, *w: x][0]\n", 1),
    ],
)  # fmt: skip
def test_reaches_what_changes_the_answer(cells: str, line: int) -> None:
    """Is a statement that changes what the answer runs read, however it is reached?"""
    found = static.findings([("cell 1", cells)], roots={"rnn_cell"}, **_task("rnn_cell"))
    assert found == [f"cell 1, line {line}: {_KERNEL}"]


@pytest.mark.parametrize(
    ("cells", "said"),
    [
        # a cell that does not parse ran nothing, and the cells after it are read
        ([("cell 1", "def (:"), ("cell 2", _OK.format("torch.rnn_tanh_cell(x)"))],
         [f"cell 2, line 2: {_KERNEL}"]),
        # one finding a line, the first in order (a name safe to use comes first in the walk)
        ([("cell 1", _OK.format("Out[0] + abs(helper(x))"))],
         ["cell 1, line 2: uses Out, IPython's record of other cells"]),
        ([("cell 1", _OK.format("abs(helper(x))"))],
         [f"cell 1, line 2: uses helper, {_UNDEFINED}"]),
        ([("cell 1", "import collections.abc\n" + _OK.format("[collections][0]"))],
         ["cell 1, line 3: uses the module collections as a value; write collections.<name> "
          "where you need it"]),
        ([("cell 1", "from .helpers import f\n" + _OK.format("f(x)"))],
         ["cell 1, line 1: a relative import, which a from-scratch answer may not use"]),
    ],
)  # fmt: skip
def test_findings_across_cells(cells: list[tuple[str, str]], said: list[str]) -> None:
    assert static.findings(cells, roots={"rnn_cell"}, **_task("rnn_cell")) == said


def test_a_local_name_leaves_the_module_alone() -> None:
    """A function's own ``np`` does not stop ``np`` elsewhere from being numpy."""
    cell = "def helper():\n    np = None\n    return np\n" + _OK.format("helper() or np.f2py")
    found = static.findings([("cell 1", cell)], roots={"rnn_cell"}, **_task("rnn_cell"))
    assert found == ["cell 1, line 5: uses numpy.f2py, a module a from-scratch answer may not use"]


@pytest.mark.parametrize(
    "source",
    [
        # a forget gate called F, a local np: a function's variables are not the modules
        "def rnn_cell(x, h, *w):\n    I, F = x @ w[0].T, h @ w[1].T\n    np = I + F\n"
        "    return torch.tanh(np)\n",
        # an argument named like a module: an activation passed in
        "def rnn_cell(x, h, w_ih, w_hh, F=torch.tanh):\n    return F(x @ w_ih.T + h @ w_hh.T)\n",
        # a variable of the function around it (a closure)
        "def outer():\n    F = 2.0\n    def rnn_cell(x, h, *w):\n        return F * x\n"
        "    return rnn_cell\nrnn_cell = outer()\n",
    ],
)
def test_function_variables_are_not_modules(source: str) -> None:
    assert static.findings([("cell 1", source)], roots={"rnn_cell"}, **_task("rnn_cell")) == []


@pytest.mark.parametrize(
    ("source", "said"),
    [
        # a default runs where the def stands: there torch is the module, as a value
        ("def rnn_cell(x, h, *w, t=torch):\n    return t.tanh(x)\n",
         "line 1: uses the module torch as a value; write torch.<name> where you need it"),
        # a name the function declares global is the notebook's
        ("def rnn_cell(x, h, *w):\n    global np\n    return np.f2py\n",
         "line 3: uses numpy.f2py, a module a from-scratch answer may not use"),
        # a name a function inside binds is that function's, not the answer's
        ("def rnn_cell(x, h, *w):\n    def g():\n        np = 1\n        return np\n"
         "    return g() + np.f2py\n",
         "line 5: uses numpy.f2py, a module a from-scratch answer may not use"),
        # a decorator runs where the def stands, even if the def has an argument of its name
        ("@np.f2py\ndef rnn_cell(x, h, np, *w):\n    return x\n",
         "line 1: uses numpy.f2py, a module a from-scratch answer may not use"),
        # a function inside the answer reads the module as the answer would
        ("def rnn_cell(x, h, *w):\n    def g():\n        return np.f2py\n    return g()\n",
         "line 3: uses numpy.f2py, a module a from-scratch answer may not use"),
    ],
)  # fmt: skip
def test_modules_inside_functions_are_read(source: str, said: str) -> None:
    found = static.findings([("cell 1", source)], roots={"rnn_cell"}, **_task("rnn_cell"))
    assert found == [f"cell 1, {said}"]


@pytest.mark.parametrize(
    "source",
    [
        # a module name rebound to a number is a number
        "import math\nmath = 2.0\n" + _OK.format("math * x"),
        # methods of a class reached through a path are not modules' names
        _OK.format("torch.Tensor.tanh(x) + torch.Tensor.matmul(h, w[0])"),
    ],
)
def test_allowlist_allows_rebinding_and_methods(source: str) -> None:
    assert static.findings([("cell 1", source)], roots={"rnn_cell"}, **_task("rnn_cell")) == []


def test_layer_task_may_use_torchs_cell_classes() -> None:
    """A task that forbids the layer (a GRU over a sequence) allows nn.GRUCell, not nn.GRU."""
    cell = "def reverse_gru(x, h, p):\n    return {}(3, 4)(x[0], h)\n"
    task = _task("reverse_gru")
    assert static.findings([("c", cell.format("nn.GRUCell"))], roots={"reverse_gru"}, **task) == []
    assert static.findings([("c", cell.format("nn.GRU"))], roots={"reverse_gru"}, **task) == [
        "c, line 2: uses nn.GRU, a library implementation"
    ]


def test_every_task_refuses_the_grader_and_the_reference() -> None:
    """Without the allowlist (a task that is not from scratch, or the audit), the grader and the
    reference are still refused, by any name that leads to them."""
    cells = [
        ("cell 1", "from rnncourse.grading import check"),
        ("cell 2", "m = torch.nn\nm.RNNCell.forward(x)"),
        ("cell 3", "!!ls\nfiles = !ls"),  # shell lines run nothing of the answer's
    ]
    assert static.findings(cells, reference=("torch.nn.RNNCell.forward",), library=()) == [
        "cell 1, line 1: imports rnncourse.grading",
        "cell 2, line 2: uses m.RNNCell.forward, the reference",
    ]


# -- the scanner's helpers, read directly ---------------------------------------------------------


def test_cell_label_is_the_first_line_cut_at_the_width() -> None:
    assert static.cell_label("\n  \n  x = 1  \ny = 2") == 'the cell that begins "x = 1"'
    assert static.cell_label("  \n") == "an empty cell"
    assert static.cell_label("a" * 40) == f'the cell that begins "{"a" * 40}"'
    assert static.cell_label("a" * 38 + " bcd") == f'the cell that begins "{"a" * 38}…"'
    assert static.cell_label("abcdef", width=4) == 'the cell that begins "abc…"'


def test_unparsed_reads_the_cell_as_ipython_runs_it() -> None:
    assert static.unparsed("%time x = 1\n!ls") is None
    assert static.unparsed("x = 1\ny = (") == "line 2: '(' was never closed"


def _call(source: str) -> ast.AST:
    return ast.parse(source).body[0].value


def test_magic_recognises_ipythons_rewrites_only() -> None:
    assert static._magic(_call("get_ipython().run_line_magic('time', 'x = 1')")) == (
        "run_line_magic",
        ["time", "x = 1"],
    )
    assert static._magic(_call("get_ipython().system('ls')")) == ("system", ["ls"])
    assert static._magic(_call("get_ipython().getoutput('ls')")) == ("getoutput", ["ls"])
    for other in [
        "get_ipython().run_line_magic('time', x)",
        "get_ipython(1).system('ls')",
        "shell().system('ls')",
        "get_ipython().run_cell('x')",
        "f('ls')",
        "get_ipython.system('ls')",
        "x",
    ]:
        assert static._magic(_call(other)) is None, other


def test_strip_options_leaves_the_code() -> None:
    assert static._strip_options("-n 3 -r 2 f(x)") == "f(x)"
    assert static._strip_options("-q f(x) -n") == "f(x) -n"
    assert static._strip_options("-o -n") == ""
    assert static._strip_options("-n") == ""
    assert static._strip_options("-x 3 f(x)") == "3 f(x)"  # -x takes no value
    assert static._strip_options("--n 3") == "3"


def test_parse_turns_magics_into_what_they_run() -> None:
    """Is ``%time stmt`` read as ``stmt``, ``%%timeit`` as its setup then its body, a shell
    escape as nothing, ``x = %time f()`` as ``x = f()``, and a magic that loads code noted?"""
    tree, problems = static.parse("%time y = f(x)\n!ls\nz = %time g()\n%load_ext foo")
    assert ast.unparse(tree) == "y = f(x)\npass\nz = g()\npass"
    assert problems == [(4, "uses the magic %load_ext")]
    tree, problems = static.parse("%%timeit -n 2 a = 1\nb = a + 1")
    assert ast.unparse(tree) == "a = 1\nb = a + 1" and problems == []
    assert [n.lineno for n in tree.body] == [1, 2]
    tree, problems = static.parse("%%time\nx = 1\ny = 2")
    assert ast.unparse(tree) == "x = 1\ny = 2" and [n.lineno for n in tree.body] == [2, 3]
    tree, problems = static.parse("%%bash\nls")
    assert ast.unparse(tree) == "pass" and problems == [(1, "uses the cell magic %%bash")]
    tree, problems = static.parse("%matplotlib inline\n%time (")
    assert ast.unparse(tree) == "pass\npass" and problems == []
    tree, _ = static.parse("v = %time (1, 2)\nw = %ls")
    assert ast.unparse(tree) == "v = (1, 2)\nw = None"
    assert static.parse("x = (") is None


def test_base_is_the_root_name() -> None:
    assert static._base(_call("a.b[0].c")) == "a"
    assert static._base(_call("a().b(1)")) == "a"
    assert static._base(ast.parse("f(*a.b)").body[0].value.args[0]) == "a"
    assert static._base(_call("(1).real")) is None


def test_inner_skips_function_bodies_unless_asked() -> None:
    node = ast.parse("@deco\ndef f(a=d1, *, b=d2, c):\n    return body").body[0]
    names = {n.id for n in static._inner(node, into_functions=False) if isinstance(n, ast.Name)}
    assert names == {"deco", "d1", "d2"}
    names = {n.id for n in static._inner(node, into_functions=True) if isinstance(n, ast.Name)}
    assert names == {"deco", "d1", "d2", "body"}
    assert node not in list(static._inner(node, into_functions=True))


def test_bound_names() -> None:
    source = (
        "import a.b, c as d\nfrom e import f as g, h\nx, y[0] = 1, 2\ndel z\n"
        "def k(p, *q, r=1, **s): pass\nclass C: pass\nasync def m(): pass\n"
        "try:\n    pass\nexcept E as err:\n    pass\nexcept F:\n    pass\nv.w = 1"
    )
    assert static.bound_names(ast.walk(ast.parse(source))) == {
        "a",
        "d",
        "g",
        "h",
        "x",
        "z",
        "k",
        "p",
        "q",
        "r",
        "s",
        "C",
        "m",
        "err",
    }


def test_import_aliases() -> None:
    source = (
        "import sys as s, os\nimport torch.nn as tnn\nfrom rnncourse import rnn as R\n"
        "from torch import nn\nfrom . import local\ndef f():\n    import numpy as np"
    )
    assert static.import_aliases(ast.parse(source).body) == {
        "s": "sys",
        "tnn": "torch.nn",
        "R": "rnncourse.rnn",
        "nn": "torch.nn",
        "np": "numpy",
    }


def test_path_of_follows_aliases_and_constant_getattr() -> None:
    aliases = {"R": "rnncourse.rnn", "nn": "torch.nn"}
    assert static.path_of(_call("R.rnn_cell"), aliases) == "rnncourse.rnn.rnn_cell"
    assert static.path_of(_call("getattr(nn, 'LSTM')"), aliases) == "torch.nn.LSTM"
    assert static.path_of(_call("getattr(getattr(nn, 'a'), 'b', None)"), aliases) == "torch.nn.a.b"
    assert static.path_of(_call("x.y"), aliases) == "x.y"
    for none in [
        "getattr(nn, name)",
        "getattr(nn)",
        "getattr(f(), 'a')",
        "f().a",
        "g(nn, 'a')",
        "getattr(nn, 3)",
    ]:
        assert static.path_of(_call(none), aliases) is None, none


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ("exec('1')", "uses exec"),
        ("getattr(torch, name)", "uses getattr with a computed name"),
        ("getattr(torch, 'x')", None),
        ("getattr(torch)", None),
        ("sys.modules", "uses sys.modules"),
        ("s.settrace", "uses sys.settrace"),
        ("sys.path", None),
        ("os.modules", None),
        ("typing.sys.modules", "uses typing.sys.modules"),  # sys held by another module
        ("os.sys.settrace", "uses os.sys.settrace"),
        ("logging.threading.setprofile", "uses logging.threading.setprofile"),
        ("threading.settrace", "uses threading.settrace"),
        ("threading.settrace(f)", None),  # its attribute is found, in the walk
        ("f.__globals__", "uses the attribute __globals__"),
        ("f.__name__", None),
        ("__builtins__", "uses __builtins__"),
        ("import ctypes.util", "imports ctypes.util"),
        ("from importlib import import_module", "imports importlib"),
        ("from sys import modules", "imports sys.modules"),
        ("from sys import argv", None),
        ("from os import sys", None),
        ("import math", None),
        ("x", None),
    ],
)
def test_hiding_names_the_construct(source: str, said: str | None) -> None:
    node = ast.parse(source).body[0]
    node = node.value if isinstance(node, ast.Expr) else node
    assert static._hiding(node, {"s": "sys"}) == said
