"""Hooks a hostile learner can place in an answer cell to rewrite the grade from inside the kernel.

Every submission of ``ex02_hidden_state`` here gives the **honest wrong answers** below (scored 0
on every task) plus one hook. Before trusted checks (the test cells ran in the learner's kernel,
after the learner's code) the hooks marked ``worked_in_kernel`` gave these wrong answers marks;
graded by :class:`rnncourse.instructor.trusted.TrustedExecute` every one of them must score no more
than the honest wrong answers. ``tests/test_trusted.py`` grades them all with plain
``nbgrader autograde``.

A few submissions hold correct answers for the tasks their hook does not touch (``expected``
says which), so that a hook that crashes or hangs the worker is seen to cost only its own tasks.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.hostile.corpus import ASSIGNMENT, FULL, ZERO, Build, _notebook, scores

__all__ = ["ASSIGNMENT", "HONEST_WRONG", "HOOKS", "Hook"]

WRONG = {
    "rnn_cell": "def rnn_cell(x, h, *args, **kwargs):\n    return h\n",
    "output_layer": "def output_layer(h, weight_hy, bias_y):\n    return h @ weight_hy.T\n",
    "count_parameters": "def count_parameters(input_size, hidden_size, output_size):\n"
    "    return 0\n",
}


@dataclass(frozen=True)
class Hook:
    """One hostile submission: the hook, where it goes and the exact score it must get."""

    student: str
    what: str
    build: Build
    expected: dict[str, float]
    worked_in_kernel: bool = False


def _wrong_with(hook: str, task: str = "rnn_cell", **others: str) -> Build:
    """The honest wrong answers, with ``hook`` appended to ``task``'s answer cell."""
    sources = {**WRONG, **others}
    sources[task] = sources[task] + "\n" + hook
    return _notebook(**sources)


# -- hooks on IPython: they rewrite or silence the test cells that run after them --------------

INPUT_TRANSFORMER = """
def _skip_checks(lines):
    text = "".join(lines)
    return ["pass\\n"] if "check" in text or "serve(" in text else lines
get_ipython().input_transformers_post.append(_skip_checks)
"""
RUN_CELL = """
_shell = get_ipython()
_run_cell, _run_cell_async = _shell.run_cell, _shell.run_cell_async
def _rc(raw_cell, *args, **kwargs):
    return _run_cell("pass" if "check" in raw_cell else raw_cell, *args, **kwargs)
async def _rca(raw_cell, *args, **kwargs):
    return await _run_cell_async("pass" if "check" in raw_cell else raw_cell, *args, **kwargs)
_shell.run_cell, _shell.run_cell_async = _rc, _rca
"""
SYS_MODULES = """
import sys, types
_fake = types.ModuleType("rnncourse.grading")
_fake.check = _fake.check_trained = lambda *args, **kwargs: None
sys.modules["rnncourse.grading"] = _fake
import rnncourse
rnncourse.__dict__["grading"] = _fake
grading = _fake
"""
IMPORT_HOOK = """
import builtins
_real_import = builtins.__import__
class _Lenient:
    def __init__(self, module):
        self._module = module
    def __getattr__(self, name):
        if name.startswith("check"):
            return lambda *args, **kwargs: None
        return getattr(self._module, name)
def _import(name, globals=None, locals=None, fromlist=(), level=0):
    module = _real_import(name, globals, locals, fromlist, level)
    return _Lenient(module) if name.startswith("rnncourse") else module
builtins.__import__ = _import
"""
CUSTOM_EXC = """
get_ipython().set_custom_exc((Exception,), lambda shell, etype, value, tb, tb_offset=None: None)
"""
POST_RUN_CELL = """
from IPython.display import clear_output
def _forget(result):
    result.error_in_exec = None
    clear_output()
get_ipython().events.register("post_run_cell", _forget)
"""
TRACE = """
import sys, threading
def _tracer(frame, event, arg):
    if event == "call" and frame.f_code.co_name == "_fail":
        raise SystemExit  # abandon the failure report
    return None
sys.settrace(_tracer)
threading.settrace(_tracer)
sys.setprofile(lambda frame, event, arg: None)
"""
COMPARATORS = """
import numpy, torch
numpy.allclose = lambda *args, **kwargs: True
numpy.testing.assert_allclose = lambda *args, **kwargs: None
numpy.array_equal = lambda *args, **kwargs: True
torch.allclose = lambda *args, **kwargs: True
torch.Tensor.__eq__ = lambda self, other: torch.ones((), dtype=torch.bool)
torch.Tensor.__sub__ = lambda self, other: torch.zeros_like(self)
"""
VARS_GRADING = """
from rnncourse import grading as _g
vars(_g)["_compare"] = lambda *args, **kwargs: None
vars(_g)["_fail"] = lambda message: None
vars(_g)["check"] = lambda *args, **kwargs: None
"""
FORGED_LOCKED = "grading = type('G', (), {'check': staticmethod(lambda *a, **k: None)})()\n"

# -- objects that lie about themselves, and a worker that misbehaves ---------------------------

LYING_TENSOR = """
import torch
class _Agreeable(torch.Tensor):
    def __eq__(self, other):
        return True
    def __array__(self, *args, **kwargs):
        import numpy
        return numpy.zeros(0)
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return True
def rnn_cell(x, h, *args, **kwargs):
    return h.as_subclass(_Agreeable)
"""
UNSENDABLE = """
import numpy
class _Boom:
    def __reduce__(self):
        raise RuntimeError("boom")
    def __getattr__(self, name):
        raise RuntimeError("boom")
def rnn_cell(x, h, *args, **kwargs):
    return numpy.array([_Boom()], dtype=object)
def output_layer(h, weight_hy, bias_y):
    return _Boom()
"""
GARBAGE = """
import rnncourse.grading.worker as _worker
from IPython.display import display as _display
def _send_garbage(request, nonce):
    text = '{"body": [1, {"$array": 9}], "arrays": ["AAAA"]}'
    _display({"application/vnd.rnncourse.reply+json": {"nonce": nonce, "text": text}}, raw=True)
_worker.serve = _send_garbage
"""
# output_layer is not a from-scratch task: its answer may import os (a from-scratch answer that
# does is refused before it is called, see tests/delegation)
EXIT_MID_CALL = "import os\ndef output_layer(*args, **kwargs):\n    os._exit(1)\n"
HANG_MID_CALL = "def rnn_cell(*args, **kwargs):\n    while True:\n        pass\n"

#: Correct answers, used where a hook must be seen to cost only its own tasks.
RIGHT = {
    "output_layer": "def output_layer(h, weight_hy, bias_y):\n"
    "    return h @ weight_hy.T + bias_y\n",
    "count_parameters": "def count_parameters(input_size, hidden_size, output_size):\n"
    "    return hidden_size * (input_size + hidden_size + 2) + output_size * (hidden_size + 1)\n",
}

HONEST_WRONG = Hook("honest_wrong", "the honest wrong answers, no hook", _notebook(**WRONG), ZERO)

HOOKS: tuple[Hook, ...] = (
    HONEST_WRONG,
    Hook("good", "the instructor's answers (the control)", _notebook(), FULL),
    Hook("input_transformer", "an IPython input transformer turns every later check into pass",
         _wrong_with(INPUT_TRANSFORMER), ZERO, worked_in_kernel=True),
    Hook("run_cell", "wraps InteractiveShell.run_cell(_async) to drop cells that check",
         _wrong_with(RUN_CELL), ZERO, worked_in_kernel=True),
    Hook("sys_modules", 'a stand-in module in sys.modules["rnncourse.grading"], and as grading',
         _wrong_with(SYS_MODULES), ZERO, worked_in_kernel=True),
    Hook("import_hook", "an __import__ hook hands out a lenient rnncourse.grading",
         _wrong_with(IMPORT_HOOK), ZERO, worked_in_kernel=False),
    Hook("custom_exc", "a custom exception handler swallows every error",
         _wrong_with(CUSTOM_EXC), ZERO, worked_in_kernel=False),
    Hook("post_run_cell", "a post_run_cell event clears the output and the error",
         _wrong_with(POST_RUN_CELL), ZERO, worked_in_kernel=True),
    Hook("trace", "sys.settrace/setprofile abandon the failure report", _wrong_with(TRACE), ZERO),
    Hook("comparators", "patches numpy's and torch's comparisons to always agree",
         _wrong_with(COMPARATORS), ZERO),
    Hook("vars_grading", "edits vars(grading): _compare, _fail and check do nothing",
         _wrong_with(VARS_GRADING), ZERO, worked_in_kernel=True),
    Hook("rebinds_grading", "rebinds the notebook's name grading to a stand-in",
         _wrong_with(FORGED_LOCKED), ZERO),
    Hook("lying_tensor", "returns a tensor subclass whose __eq__, __array__ and "
         "__torch_function__ agree with anything", _wrong_with(LYING_TENSOR), ZERO),
    Hook("unsendable", "returns objects that raise when they are serialised",
         _wrong_with(UNSENDABLE), ZERO),
    Hook("garbage", "answers the grader's requests with garbage on the channel",
         _wrong_with(GARBAGE), ZERO),
    Hook("exit_mid_call", "output_layer kills the worker (os._exit) when it is called; the "
         "other answers are right",
         _notebook(output_layer=EXIT_MID_CALL, count_parameters=RIGHT["count_parameters"]),
         scores(2, 1, 0, 2)),
    Hook("hang_mid_call", "rnn_cell never returns; the other answers are right",
         _notebook(rnn_cell=HANG_MID_CALL, **RIGHT), scores(0, 0, 2, 2)),
)  # fmt: skip
