"""Delegation routes: answers to from-scratch tasks that call the reference or torch's kernels.

Each :class:`Route` answers one from-scratch task of ``ex02_hidden_state`` (``rnn_cell``) or
``ex07_lstm_gru`` (``lstm_cell``, ``gru_cell``) by handing the work to
``rnncourse.rnn.rnn_cell``/``rnncourse.lstm.lstm_cell``/``rnncourse.gru.gru_cell`` or to one of
torch's recurrent kernels, each by another route; every other task of its submission holds the
instructor's answer (``ex07``'s trained task is left blank: training is not what is tested).
The grader must score the delegated task exactly as it scores the honest blank (0) and every
other task in full: :data:`EXPECTED` per assignment. ``tests/grading/test_static.py`` checks
that the source scanner refuses each route and that each route, with the grader's refusals off,
does compute the right answer (a real delegation); ``tests/test_delegation.py`` grades them all
with plain ``nbgrader autograde``.
"""

from __future__ import annotations

from dataclasses import dataclass

import nbformat
from nbformat.notebooknode import NotebookNode

EX02, EX07 = "ex02_hidden_state", "ex07_lstm_gru"
#: graded cell -> (points, the task it checks), per assignment
TESTS = {
    EX02: {
        "test_rnn_cell_batch": (2.0, "rnn_cell"),
        "test_rnn_cell_unbatched": (1.0, "rnn_cell"),
        "test_output_layer": (2.0, "output_layer"),
        "test_count_parameters": (2.0, "count_parameters"),
    },
    EX07: {
        "test_lstm_cell": (3.0, "lstm_cell"),
        "test_gru_cell": (3.0, "gru_cell"),
        "test_train_adding_model": (3.0, "train_adding_model"),
    },
}
#: answer cells left as released (blank) in every submission
BLANK = {EX02: (), EX07: ("train_adding_model",)}

_RNN = "def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity='tanh'):"
_LSTM = "def lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):"
_GRU = "def gru_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):"
_ARGS = "weight_ih, weight_hh, bias_ih, bias_hh"
# torch's cell kernels take a batch: an unbatched example is made a batch of one
_ONE = "one = x.dim() == 1\n    x, h = (x[None], h[None]) if one else (x, h)\n"


@dataclass(frozen=True)
class Route:
    """One delegation.

    Args:
        student: the student id.
        what: the route, in words.
        assignment: ``ex02_hidden_state`` or ``ex07_lstm_gru``.
        task: the from-scratch task (its answer cell's ``grade_id``) it delegates.
        source: that answer cell.
        helper: a learner cell of its own, placed right after the answer cell.
    """

    student: str
    what: str
    assignment: str
    task: str
    source: str
    helper: str | None = None

    def expected(self) -> dict[str, float]:
        """Score per graded cell: 0 for the delegated task and blank ones, full elsewhere."""
        return {
            test: 0.0 if task == self.task or task in BLANK[self.assignment] else points
            for test, (points, task) in TESTS[self.assignment].items()
        }


ROUTES = [
    Route("alias_getattr", "from rnncourse import rnn as R; getattr(R, 'rnn_cell')", EX02,
          "rnn_cell", "from rnncourse import rnn as R\n\n\n"
          "def rnn_cell(*args, **kwargs):\n    return getattr(R, 'rnn_cell')(*args, **kwargs)\n"),
    Route("from_import_as", "from rnncourse.lstm import lstm_cell as f", EX07, "lstm_cell",
          "from rnncourse.lstm import lstm_cell as f\n\n\n"
          "def lstm_cell(*args, **kwargs):\n    return f(*args, **kwargs)\n"),
    Route("importlib", "importlib.import_module('rnncourse.gru')", EX07, "gru_cell",
          "def gru_cell(*args, **kwargs):\n    import importlib\n\n"
          "    return importlib.import_module('rnncourse.gru').gru_cell(*args, **kwargs)\n"),
    Route("dunder_import", "__import__('rnncourse.rnn', fromlist=...)", EX02, "rnn_cell",
          "def rnn_cell(*args, **kwargs):\n"
          "    module = __import__('rnncourse.rnn', fromlist=['rnn_cell'])\n"
          "    return module.rnn_cell(*args, **kwargs)\n"),
    Route("sys_modules", "import sys as s; s.modules['rnncourse.lstm']", EX07, "lstm_cell",
          "import sys as s\n\nimport rnncourse.lstm  # noqa: F401\n\n\n"
          "def lstm_cell(*args, **kwargs):\n"
          "    return s.modules['rnncourse.lstm'].lstm_cell(*args, **kwargs)\n"),
    Route("torch_alias", "import torch as T; T.lstm_cell", EX07, "lstm_cell",
          f"import torch as T\n\n\n{_LSTM}\n    one = x.dim() == 1\n"
          "    if one:\n        x, state = x[None], (state[0][None], state[1][None])\n"
          f"    h, c = T.lstm_cell(x, state, {_ARGS})\n"
          "    return (h[0], c[0]) if one else (h, c)\n"),
    Route("vf", "torch._VF.gru_cell", EX07, "gru_cell",
          f"{_GRU}\n    {_ONE}    out = torch._VF.gru_cell(x, h, {_ARGS})\n"
          "    return out[0] if one else out\n"),
    Route("ops_aten", "torch.ops.aten.rnn_tanh_cell", EX02, "rnn_cell",
          f"{_RNN}\n    {_ONE}    out = torch.ops.aten.rnn_tanh_cell(x, h, {_ARGS})\n"
          "    return out[0] if one else out\n"),
    Route("partial", "functools.partial(torch.gru_cell)", EX07, "gru_cell",
          "import functools\n\n_kernel = functools.partial(torch.gru_cell)\n\n\n"
          f"{_GRU}\n    {_ONE}    out = _kernel(x, h, {_ARGS})\n"
          "    return out[0] if one else out\n"),
    Route("getattr_computed", "getattr(torch, 'rnn_tanh' + '_cell')", EX02, "rnn_cell",
          f"{_RNN}\n    {_ONE}    kernel = getattr(torch, 'rnn_tanh' + '_cell')\n"
          f"    out = kernel(x, h, {_ARGS})\n    return out[0] if one else out\n"),
    Route("vars", "vars(torch)['gru_cell']", EX07, "gru_cell",
          f"{_GRU}\n    {_ONE}    out = vars(torch)['gru_cell'](x, h, {_ARGS})\n"
          "    return out[0] if one else out\n"),
    Route("nn_lstmcell", "an nn.LSTMCell with the given weights copied in", EX07, "lstm_cell",
          f"{_LSTM}\n"
          "    cell = nn.LSTMCell(weight_ih.shape[1], weight_hh.shape[1],\n"
          "                       bias=bias_ih is not None, dtype=x.dtype, device=x.device)\n"
          "    with torch.no_grad():\n"
          "        cell.weight_ih.copy_(weight_ih)\n        cell.weight_hh.copy_(weight_hh)\n"
          "        if bias_ih is not None:\n"
          "            cell.bias_ih.copy_(bias_ih)\n            cell.bias_hh.copy_(bias_hh)\n"
          "    return cell(x, state)\n"),
    Route("attrgetter", "operator.attrgetter('rnn_tanh_cell')(torch)", EX02, "rnn_cell",
          f"import operator\n\n\n{_RNN}\n    {_ONE}"
          f"    out = operator.attrgetter('rnn_tanh_cell')(torch)(x, h, {_ARGS})\n"
          "    return out[0] if one else out\n"),
    Route("helper_cell", "a helper in another learner cell calls the reference", EX07,
          "gru_cell", f"{_GRU}\n    return _step(x, h, {_ARGS})\n",
          helper="def _step(*args):\n    from rnncourse.gru import gru_cell as reference\n\n"
          "    return reference(*args)\n"),
    Route("class_method", "a class whose method calls torch.lstm_cell", EX07, "lstm_cell",
          "class _Cell:\n    def step(self, x, state, *weights):\n"
          "        one = x.dim() == 1\n        if one:\n"
          "            x, state = x[None], (state[0][None], state[1][None])\n"
          "        h, c = torch.lstm_cell(x, state, *weights)\n"
          "        return (h[0], c[0]) if one else (h, c)\n\n\n_cell = _Cell()\n\n\n"
          f"{_LSTM}\n    return _cell.step(x, state, {_ARGS})\n"),
    Route("eval", "eval('torch.gru_cell')", EX07, "gru_cell",
          f"{_GRU}\n    {_ONE}    out = eval('torch.gru_cell')(x, h, {_ARGS})\n"
          "    return out[0] if one else out\n"),
    Route("setprofile", "import sys as s; s.setprofile(None), then the reference", EX02,
          "rnn_cell", "def rnn_cell(*args, **kwargs):\n    import sys as s\n\n"
          "    s.setprofile(None)\n    from rnncourse.rnn import rnn_cell as reference\n\n"
          "    return reference(*args, **kwargs)\n"),
    # routes no name-based rule saw: each goes through a name that is allowed on its own
    Route("grading_spec", "grading.spec('rnn_cell')._reference: the grader's own copy", EX02,
          "rnn_cell", "def rnn_cell(*args, **kwargs):\n"
          "    return grading.spec('rnn_cell')._reference(*args, **kwargs)\n"),
    Route("typing_sys", "typing.sys.modules['rnncourse.rnn'].rnn_cell: sys through typing",
          EX02, "rnn_cell", "import typing\n\n\ndef rnn_cell(*args, **kwargs):\n"
          "    return typing.sys.modules['rnncourse.rnn'].rnn_cell(*args, **kwargs)\n"),
    Route("reduce_getattr", "functools.reduce(getattr, ['gru_cell'], torch)", EX07, "gru_cell",
          f"import functools\n\n\n{_GRU}\n    {_ONE}"
          "    kernel = functools.reduce(getattr, ['gru_cell'], torch)\n"
          f"    out = kernel(x, h, {_ARGS})\n    return out[0] if one else out\n"),
]  # fmt: skip

#: an honest submission per assignment, in the same batch: the instructor's answers
HONEST = "honest"


def expected_honest(assignment: str) -> dict[str, float]:
    return {
        test: 0.0 if task in BLANK[assignment] else points
        for test, (points, task) in TESTS[assignment].items()
    }


def _grade_id(cell: NotebookNode) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def notebook(
    assignment: str, release: NotebookNode, solution: NotebookNode, route: Route | None
) -> NotebookNode:
    """The submission of ``route`` (``None``: the honest one) of ``assignment``, from the
    release and the instructor's answers."""
    nb = nbformat.from_dict(release)
    correct = {
        _grade_id(c): c.source
        for c in solution.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    cells = []
    for cell in nb.cells:
        gid = _grade_id(cell)
        if gid in correct:
            if route is not None and gid == route.task:
                cell.source = route.source
            elif gid not in BLANK[assignment]:
                cell.source = correct[gid]
        cells.append(cell)
        if route is not None and gid == route.task and route.helper:
            cells.append(nbformat.v4.new_code_cell(route.helper))
    nb.cells = cells
    return nb
