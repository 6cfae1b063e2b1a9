"""Trusted checks: can anything in a notebook change a grade except what its functions return?

The hook corpus (``tests/hooks/corpus.py``) is graded by ``nbgrader autograde``, two submissions
at a time (``rnncourse autograde --jobs 2``), with the course's configuration
(:class:`rnncourse.instructor.trusted.TrustedExecute`, real bubblewrap): every hook scores
exactly what the honest wrong answers score. The hooks that rewrote grades when the test cells
ran in the learner's kernel are graded that way too (stock nbgrader's ``Execute``, set up by the
test), to show that each is a real attack. Below them: the channel's decoding of hostile
replies, the source checks, and the roles nbgrader's metadata gives cells.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from rnncourse import grading
from rnncourse.grading import channel, static
from rnncourse.instructor.trusted import cell_role
from tests import _nbgrader
from tests.hooks.corpus import ASSIGNMENT, HONEST_WRONG, HOOKS
from tests.hostile import released_course

CELL_TIMEOUT = 10  # seconds: interrupts the hanging call quickly


def _graded_batch(course: Path, hooks) -> dict[str, dict[str, float]]:
    release = _nbgrader.read(course / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    solution = _nbgrader.read(_nbgrader.solution_path(ASSIGNMENT))
    for hook in hooks:
        hook.build(release, solution, course / "submitted" / hook.student / ASSIGNMENT)
    _nbgrader.autograde_batch(course, ASSIGNMENT, CELL_TIMEOUT)
    return _nbgrader.scores(course, ASSIGNMENT)


@pytest.fixture(scope="module")
def trusted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    course = released_course(tmp_path_factory.mktemp("trusted") / "course")
    return course, _graded_batch(course, HOOKS)


#: Appended to the course's nbgrader_config.py: nbgrader's own Execute (sandboxed), so that the
#: test cells run in the learner's kernel, after the learner's code, as in stock nbgrader.
IN_KERNEL_CONFIG = """
from rnncourse.instructor.sandbox import SandboxedExecute
c.Autograde.autograde_preprocessors = [
    SandboxedExecute if pp is Execute else pp for pp in Autograde.autograde_preprocessors.default()
]
"""


@pytest.fixture(scope="module")
def in_kernel(tmp_path_factory: pytest.TempPathFactory) -> dict:
    course = released_course(tmp_path_factory.mktemp("in-kernel") / "course")
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(IN_KERNEL_CONFIG)
    hooks = [HONEST_WRONG, *(h for h in HOOKS if h.worked_in_kernel)]
    return _graded_batch(course, hooks)


def _outputs(course: Path, student: str) -> dict[str, list]:
    path = course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    nb = nbformat.read(path, as_version=4)
    return {
        c.metadata["nbgrader"]["grade_id"]: c.outputs
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
    }


@pytest.mark.slow
@pytest.mark.parametrize("hook", HOOKS, ids=lambda h: h.student)
def test_hook_scores_no_more_than_honest(trusted, hook) -> None:
    """Does each hook score exactly what it should (the honest wrong answers' zero)?"""
    _, got = trusted
    assert got[hook.student] == hook.expected
    assert sum(got[hook.student].values()) <= sum(got[HONEST_WRONG.student].values()) or (
        hook.student in ("good", "exit_mid_call", "hang_mid_call")
    )


@pytest.mark.slow
@pytest.mark.parametrize("hook", [h for h in HOOKS if h.worked_in_kernel], ids=lambda h: h.student)
def test_hook_is_a_real_attack_in_kernel(in_kernel, hook) -> None:
    """With the test cells in the learner's kernel, does the hook win marks it did not earn?"""
    assert sum(in_kernel[HONEST_WRONG.student].values()) == 0
    assert sum(in_kernel[hook.student].values()) > 0


@pytest.mark.slow
def test_verdicts_name_what_went_wrong(trusted) -> None:
    """Do the failures say why: the lie, the garbage, the crash, the hang, the source?"""
    course, _ = trusted
    text = {
        student: json.dumps(_outputs(course, student))
        for student in ("lying_tensor", "garbage", "exit_mid_call", "hang_mid_call", "trace")
    }
    assert "got an object of type _Agreeable" in text["lying_tensor"]
    assert "malformed" in text["garbage"]
    assert "the worker died during the call" in text["exit_mid_call"]
    assert f"did not finish within {CELL_TIMEOUT} s" in text["hang_mid_call"]
    assert "uses sys.settrace" in text["trace"]


@pytest.mark.slow
def test_graded_record_says_trusted(trusted) -> None:
    """Does each graded notebook record that its checks ran in the grader, sandboxed?"""
    course, _ = trusted
    path = course / "autograded" / "good" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    meta = nbformat.read(path, as_version=4).metadata["rnncourse"]
    assert meta == {"sandboxed": True, "trusted_checks": True}


@pytest.mark.slow
def test_same_message_in_kernel_and_trusted(trusted, tmp_path) -> None:
    """Is a wrong answer's verdict word for word the one the learner's own kernel prints?"""
    course, _ = trusted
    graded = _outputs(course, HONEST_WRONG.student)
    nb = _nbgrader.read(
        course / "submitted" / HONEST_WRONG.student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    )
    from tests.test_assignments import execute

    own = execute(nb, tmp_path)
    for cell in own.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in graded:
            mine = [o.evalue for o in cell.outputs if o.output_type == "error"]
            theirs = [o.evalue for o in graded[gid] if o.output_type == "error"]
            assert mine and mine == theirs, gid


# -- the channel: what the trusted side accepts ------------------------------------------------


def _npy(array: np.ndarray, allow_pickle: bool = False) -> str:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return base64.b64encode(buffer.getvalue()).decode()


def test_channel_round_trip_keeps_types_and_aliasing() -> None:
    """Do arrays, tensors, tuples, dicts, nan and shared arrays come back as sent?"""
    a = np.arange(6.0).reshape(2, 3)
    t = torch.arange(4, dtype=torch.int64)
    value = {"a": a, "again": a, "t": t, "pair": (1, 2.5, "x", None, True), "nan": float("nan"),
             "h": torch.ones(2, dtype=torch.float16), 3: [np.float32(1.5)]}  # fmt: skip
    back = channel.decode(channel.encode(value))
    assert back["a"] is back["again"] and back["a"].tolist() == a.tolist()
    assert type(back["t"]) is torch.Tensor and back["t"].dtype == torch.int64
    assert back["pair"] == (1, 2.5, "x", None, True) and type(back["pair"]) is tuple
    assert np.isnan(back["nan"]) and back["h"].dtype == torch.float16
    assert back[3][0] == np.float32(1.5) and type(back[3][0]) is np.float32


def test_channel_keeps_distinct_arrays_lists_and_tensor_flags() -> None:
    """Do two different arrays (and scalars) stay two, lists stay lists, and a tensor keep its
    requires_grad and device?"""
    a, b = np.zeros(2), np.ones(2)
    w = torch.ones(3, requires_grad=True)
    back = channel.decode(channel.encode([a, b, np.float64(1.0), np.float64(2.0), (w, [1])]))
    assert type(back) is list and type(back[4][1]) is list
    assert back[0].tolist() == [0.0, 0.0] and back[1].tolist() == [1.0, 1.0]
    assert (back[2], back[3]) == (1.0, 2.0)
    assert back[4][0].requires_grad and back[4][0].device.type == "cpu"


def test_channel_carries_handles_both_ways() -> None:
    """Does an object the worker keeps travel as its handle, and come back as that handle?"""
    handle = channel.Handle(7, "Net", True, True)
    assert channel.decode(channel.encode({"m": handle}))["m"] == handle
    kept = channel.decode(channel.encode([object()], keep=lambda obj: handle))
    assert kept == [handle]


def test_channel_depth_limit_is_exact() -> None:
    """Is nesting up to MAX_DEPTH sent and read, and one level more refused both ways?"""
    deep: list = []
    for _ in range(channel.MAX_DEPTH):
        deep = [deep]
    assert channel.decode(channel.encode(deep)) == deep
    with pytest.raises(TypeError, match="nested more than"):
        channel.encode([deep])
    text = json.dumps({"body": [deep], "arrays": []})
    with pytest.raises(channel.ChannelError, match="nested more than"):
        channel.decode(text)


def test_channel_sends_only_plain_types() -> None:
    """Is a tensor subclass, an object array or a custom object refused on the way out?"""
    with pytest.raises(TypeError, match="cannot be sent"):
        channel.encode(np.array([object()], dtype=object))
    with pytest.raises(TypeError, match="cannot be sent"):
        channel.encode(object())
    sub = torch.zeros(2).as_subclass(type("Liar", (torch.Tensor,), {}))
    kept = channel.decode(channel.encode(sub, keep=lambda obj: None))
    assert kept == channel.Opaque("Liar")


@pytest.mark.parametrize(
    "message",
    [
        "not json",
        json.dumps([1, 2]),
        json.dumps({"body": 1}),
        json.dumps({"body": {"$array": 0, "kind": "ndarray"}, "arrays": []}),
        json.dumps({"body": {"$array": 0, "kind": "ndarray"}, "arrays": ["!!"]}),
        json.dumps({"body": {"$array": 0, "kind": "ndarray"},
                    "arrays": [_npy(np.array([{"a": 1}], dtype=object), allow_pickle=True)]}),
        json.dumps({"body": {"$array": 0, "kind": "pickle"}, "arrays": [_npy(np.zeros(2))]}),
        json.dumps({"body": {"$ref": 0}, "arrays": []}),
        json.dumps({"body": {"$class": "os.system"}, "arrays": []}),
        json.dumps({"body": {"$float": "1e308"}, "arrays": []}),
        json.dumps({"body": {"$tuple": 5}, "arrays": []}),
        json.dumps({"body": {"$handle": "1", "type": "M", "callable": 1, "module": 0},
                    "arrays": []}),
        json.dumps({"body": json.loads("[" * 40 + "]" * 40), "arrays": []}),
    ],
    ids=["text", "list", "fields", "missing-array", "bad-base64", "pickle", "kind", "ref",
         "class", "float", "tuple", "handle", "deep"],
)  # fmt: skip
def test_channel_refuses_malformed_replies(message: str) -> None:
    """Is every reply the protocol does not allow refused, pickled arrays included?"""
    with pytest.raises(channel.ChannelError):
        channel.decode(message)


# -- source checks -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("exec('x = 1')", "uses exec"),
        ("eval('1')", "uses eval"),
        ("f = compile('1', 'a', 'eval')", "uses compile"),
        ("m = __import__('rnncourse.rnn')", "uses __import__"),
        ("import importlib", "imports importlib"),
        ("from importlib import import_module", "imports importlib"),
        ("get_ipython().run_cell('x')", "uses get_ipython"),
        ("g = globals()", "uses globals"),
        ("import torch\nf = getattr(torch, 'lstm' + '_cell')", "getattr with a computed name"),
        ("import sys\nm = sys.modules['rnncourse.rnn']", "uses sys.modules"),
        ("import torch\nd = torch.__dict__", "__dict__"),
        ("x = ().__class__.__base__.__subclasses__()", "uses the attribute"),
        ("from rnncourse.rnn import rnn_cell", "the reference"),
        ("import rnncourse.rnn\ny = rnncourse.rnn.rnn_cell", "the reference"),
        ("from rnncourse import grading as g", "imports rnncourse.grading"),
        ("import rnncourse.grading", "imports rnncourse.grading"),
        ("import torch\ny = torch.rnn_tanh_cell", "a library implementation"),
        ("from torch import _VF", "_VF"),
        ("import torch\ny = torch.ops.aten.rnn_tanh_cell", "torch's internals"),
        ("from torch import nn\ncell = nn.RNNCell(3, 4)", "a library implementation"),
        ("%%bash\nls", "cell magic %%bash"),
        ("x = __builtins__", "uses __builtins__"),
        ("import torch\nf = torch._C._VariableFunctions.rnn_tanh_cell", "torch's internals"),
        ("import torch\ny = torch._VF", "uses torch._VF"),
        ("import torch\ncell = torch.nn.RNNCell(3, 4)", "uses torch.nn.RNNCell"),
        ("from torch.nn import RNNCell", "imports torch.nn.RNNCell"),
        ("import rnncourse\ny = rnncourse.grading", "uses rnncourse.grading"),
        ("%load_ext mymodule", "uses the magic %load_ext"),
        ("%run other.py", "uses the magic %run"),
        ("%time import importlib", "imports importlib"),
        ("%%writefile helper.py\nx = 1", "cell magic %%writefile"),
    ],
)
def test_source_checks_name_the_construct(source: str, found: str) -> None:
    """Is each construct that can hide the reference or a library kernel found, by line?"""
    problems = static.findings(
        [("cell 4", source)], reference=("rnncourse.rnn.rnn_cell",), library=("rnn_tanh_cell",)
    )
    assert problems and found in problems[0] and problems[0].startswith("cell 4, line ")


def test_source_checks_spare_every_solution() -> None:
    """Do the instructor's answers, of every assignment, pass the source checks of their tasks?"""
    for name in _nbgrader.ASSIGNMENTS:
        nb = _nbgrader.read(_nbgrader.solution_path(name))
        answers = [(f"cell {i}", c.source) for i, c in enumerate(nb.cells)
                   if c.cell_type == "code" and cell_role(c) == "learner"]  # fmt: skip
        tested = {n for c in nb.cells for n in grading.spec_names() if f'check("{n}"' in c.source}
        for spec_name in tested:
            s = grading.spec(spec_name)
            reference = [p for p in (s.reference, *s.forbidden) if isinstance(p, str)]
            assert (
                static.findings(answers, reference=reference, library=s.forbidden_library) == []
            ), f"{name}: {spec_name}"


@pytest.mark.parametrize(
    "source",
    [
        "%time x = 1\nimport torch\ny = getattr(torch, 'tanh')(torch.zeros(2))\nz = x.__len__",
        "%%time\nx = 1",
        "!ls\nx = 1",
        "from rnncourse import rnn\nfrom rnncourse.rnn import RNN",
        "import sys\nx = sys.float_info.eps",
        "params = list(model.modules())",
        "from torch import nn\nlayer = nn.Linear(3, 4)",
    ],
)
def test_source_checks_allow_ordinary_code(source: str) -> None:
    """Are magics, getattr with a constant name, other rnncourse names, sys.float_info,
    Module.modules() and nn.Linear left alone?"""
    assert static.findings([("cell 1", source)], reference=("rnncourse.rnn.rnn_cell",),
                           library=("rnn_tanh_cell",)) == []  # fmt: skip


def test_source_findings_give_the_line() -> None:
    """Is the line of the construct the one reported, in the cell's own numbering?"""
    source = "x = 1\n\ny = eval('2')\n"
    assert static.findings([("cell 9", source)], reference=(), library=()) == [
        "cell 9, line 3: uses eval"
    ]


_SOLUTION = (
    "def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity='tanh'):\n"
    "    return torch.tanh(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh)\n"
)
_COMPARE = (
    "ref = torch.nn.RNNCell(3, 4)\nx = torch.randn(2, 3); h = torch.zeros(2, 4)\n"
    "print(torch.allclose(rnn_cell(x, h, ref.weight_ih, ref.weight_hh, ref.bias_ih,"
    " ref.bias_hh), ref(x, h)))\nprint(torch.rnn_tanh_cell(x, h, ref.weight_ih, ref.weight_hh))"
)
_USES_K = "def rnn_cell(*a):\n    return k(*a)"


@pytest.mark.parametrize(
    "cells",
    [
        [_SOLUTION, _COMPARE],  # checking the answer against torch's cell, beside it
        [
            _SOLUTION,
            "for t in range(3):\n    h = rnn_cell(x, h, W, U)\n"
            "    print(torch.rnn_tanh_cell(x, h, W, U))",
        ],  # fmt: skip
        [_SOLUTION, "def compare():\n    return torch.rnn_tanh_cell(1, 2, 3, 4)"],
        [_SOLUTION, "h = rnn_cell(x, "],  # does not parse: ran nothing
        ["%matplotlib inline\n!pip list\n%time y = 1", _SOLUTION],
    ],
)
def test_source_checks_read_only_what_the_task_reaches(cells: list[str]) -> None:
    """Is code the task cannot reach (a scratch comparison with torch's cell, a cell that does
    not parse, a helper never called) left out of the task's source check?"""
    labelled = [(f"cell {i}", c) for i, c in enumerate(cells)]
    assert static.findings(labelled, reference=("rnncourse.rnn.rnn_cell",),
                           library=("rnn_tanh_cell",), roots={"rnn_cell"}) == []  # fmt: skip


@pytest.mark.parametrize(
    ("cells", "line"),
    [
        (["import torch as T\nk = T.rnn_tanh_cell", _USES_K], "cell 0, line 2"),
        (
            [
                "helpers = []\nhelpers.append(torch.rnn_tanh_cell)",
                "def rnn_cell(*a):\n    return helpers[0](*a)",
            ],
            "cell 0, line 2",
        ),  # fmt: skip
        (
            ["def patch():\n    torch.tanh = torch.rnn_tanh_cell\n", "patch()", _SOLUTION],
            "cell 0, line 2",
        ),  # fmt: skip
        (
            [
                "class P:\n    def go(self):\n        global k\n        k = torch.rnn_tanh_cell\n",
                "p = P()\np.go()",
                _USES_K,
            ],
            "cell 0, line 4",
        ),  # fmt: skip
        (
            ["def setup():\n    global k\n    k = torch.rnn_tanh_cell", "setup()", _USES_K],
            "cell 0, line 3",
        ),  # fmt: skip
        (["%time k = torch.rnn_tanh_cell", _USES_K], "cell 0, line 1"),
        (["k = %time torch.rnn_tanh_cell", _USES_K], "cell 0, line 1"),
        (["%timeit -n 3 -r 1 k = torch.rnn_tanh_cell", _USES_K], "cell 0, line 1"),
        (["%%time\nk = torch.rnn_tanh_cell", _USES_K], "cell 0, line 2"),
        (
            ["def rnn_cell(x, h, *a, f=torch.rnn_tanh_cell):\n    return f(x, h, *a)"],
            "cell 0, line 1",
        ),  # fmt: skip
        (
            [
                "def deco(f):\n    return torch.rnn_tanh_cell",
                "@deco\ndef rnn_cell(*a):\n    return 0",
            ],
            "cell 0, line 2",
        ),  # fmt: skip
        (
            [
                "def step(*a):\n    return torch.rnn_tanh_cell(*a)",
                "def rnn_cell(*a):\n    return step(*a)",
            ],
            "cell 0, line 2",
        ),  # fmt: skip
        (
            [
                "class C:\n    def f(self, *a):\n        return torch.rnn_tanh_cell(*a)\nc = C()",
                "def rnn_cell(*a):\n    return c.f(*a)",
            ],
            "cell 0, line 3",
        ),  # fmt: skip
        ([_SOLUTION, "rnn_cell = torch.rnn_tanh_cell"], "cell 1, line 1"),
        ([_SOLUTION, "print(vars(torch.nn.Module()))"], "cell 1, line 1"),  # can rebind anything
        ([_SOLUTION, "%%bash\necho hi"], "cell 1, line 1"),
        # hooks that run on every call reach every task, wherever they are set, however named
        ([_SOLUTION, "import sys\nsys.settrace(lambda *a: None)"], "cell 1, line 2"),
        ([_SOLUTION, "import sys as s\ns.setprofile(None)"], "cell 1, line 2"),
        ([_SOLUTION, "from sys import settrace as st\nst(None)"], "cell 1, line 1"),
        ([_SOLUTION, "import threading\nthreading.settrace(print)"], "cell 1, line 2"),
        # the reference through an aliased module and getattr with a constant name
        (
            [
                "from rnncourse import rnn as R",
                "def rnn_cell(*a):\n    return getattr(R, 'rnn_cell')(*a)",
            ],
            "cell 1, line 2",
        ),  # fmt: skip
        (
            ["import rnncourse.rnn as R", "def rnn_cell(*a):\n    return R.rnn_cell(*a)"],
            "cell 1, line 2",
        ),  # fmt: skip
        (
            ["import torch as T", "def rnn_cell(*a):\n    return getattr(T, 'rnn_tanh_cell')(*a)"],
            "cell 1, line 2",
        ),  # fmt: skip
    ],
)
def test_source_checks_follow_what_the_task_reaches(cells: list[str], line: str) -> None:
    """Is a forbidden kernel found wherever the task can reach it: through an alias, a list,
    a patched module, a global set by a function or a method, a magic, a default argument, a
    decorator, a helper or a later rebinding; and is code that can rebind anything read?"""
    labelled = [(f"cell {i}", c) for i, c in enumerate(cells)]
    problems = static.findings(labelled, reference=("rnncourse.rnn.rnn_cell",),
                               library=("rnn_tanh_cell",), roots={"rnn_cell"})  # fmt: skip
    assert problems and problems[0].startswith(f"{line}: "), problems


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("def f(x)\n    return x", "line 1: expected ':'"),
        ("h = rnn_cell(x, ", "line 1: '(' was never closed"),
        ("%time x = 1\ny = (", "line 2: '(' was never closed"),
    ],
)
def test_unparsed_says_why_as_python_would(source: str, why: str) -> None:
    """Does a cell that cannot run get Python's own reason, and a runnable one (magics
    included) none?"""
    assert static.unparsed(source) == why
    assert static.unparsed("%matplotlib inline\n!ls\nx = 1\nx?") is None


# -- which cells are the instructor's ---------------------------------------------------------


@pytest.mark.parametrize(
    ("meta", "role"),
    [
        ({"grade_id": "t", "locked": True, "grade": True, "solution": False}, "test"),
        ({"grade_id": "s", "locked": True, "grade": False, "solution": False}, "setup"),
        ({"grade_id": "a", "locked": False, "grade": False, "solution": True}, "learner"),
        ({"locked": True, "grade": True}, "learner"),  # its id was dropped: not in the gradebook
        ({"grade_id": "t", "locked": False, "grade": True}, "learner"),
        ({"grade_id": "t", "locked": True, "grade": True, "solution": True}, "learner"),
        ({}, "learner"),
    ],
)
def test_cell_roles_follow_nbgrader(meta: dict, role: str) -> None:
    """Does only a cell that nbgrader keeps locked, under a known id, run in the grader?"""
    cell = nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": meta} if meta else {})
    assert cell_role(cell) == role


@pytest.mark.slow
def test_contracts_hold_across_the_channel(tmp_path) -> None:
    """Graded in the grader, does an in-place clip_grad_value_np lose its task, saying it
    changes grads, while the instructor's answers keep every point (arguments come back)?"""
    in_place = (
        "def clip_grad_value_np(grads, clip_value):\n"
        "    for value in grads.values():\n"
        "        np.clip(value, -clip_value, clip_value, out=value)\n"
        "    return grads\n"
    )
    got, full, text = _nbgrader.grade_one_wrong_answer(
        tmp_path, "ex05_gradients", "clip_grad_value_np", in_place
    )
    assert got["right"] == full
    assert got["wrong"] == {**full, "test_clip_grad_value_np": 0.0}
    assert "changes its input grads" in text
