"""The check's one call path and its wording (:mod:`rnncourse.grading.checks`): a call here and
a call in the worker (served in this process, :mod:`tests.grading._loopback`) fail as the same
:class:`CallFailed`, worded once; the contracts, the registry's refusals, and what the
learner's own cells are read for."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from rnncourse import grading
from rnncourse.grading import checks, verdict
from rnncourse.grading.checks import CallFailed, failed_call, invoke
from rnncourse.grading.remote import Remote, RemoteError, WorkerFailure
from rnncourse.grading.specs import Mistake, Spec
from tests.grading._loopback import Loopback


def scratch_rnn_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    return torch.tanh(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh)


@pytest.fixture
def link(monkeypatch: pytest.MonkeyPatch) -> Loopback:
    monkeypatch.setattr(verdict, "LAST_PASS", [None])
    return Loopback({}, monkeypatch)


def _failed(fn, *args, **kwargs) -> CallFailed:
    with pytest.raises(CallFailed) as info:
        invoke(fn, *args, **kwargs)
    return info.value


def _verdict(fn, *args, **kwargs) -> AssertionError:
    with pytest.raises(AssertionError) as info:
        fn(*args, **kwargs)
    return info.value


# -- invoke: here ---------------------------------------------------------------------------------


def test_a_local_call_returns_and_leaves_torch_as_it_was() -> None:
    """Does a call here return the answer (with the arguments, when asked), seed torch, run
    without gradients and on the threads asked, silence warnings, and put the threads back?"""
    before = torch.get_num_threads()

    def probe(x, k=0):
        warnings.warn("noise", stacklevel=1)
        return torch.rand(2), torch.get_num_threads(), torch.is_grad_enabled(), x + k

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values, threads, grad, y = invoke(probe, (1,), {"k": 2}, seed=3, threads=1, no_grad=True)
    torch.manual_seed(3)
    assert torch.equal(values, torch.rand(2)) and (threads, grad, y) == (1, False, 3)
    assert torch.get_num_threads() == before
    _, threads, grad, _ = invoke(probe, (1,), {})
    assert (threads, grad) == (before, True)
    args, kwargs = (np.zeros(1),), {"k": 1}
    result = invoke(lambda x, k: x, args, kwargs, return_args=True)
    assert result[0] is args[0] and result[1] is args and result[2] is kwargs
    assert invoke(torch.nn.Linear(1, 1), (), {}, attr="eval").training is False


def test_a_local_call_puts_the_threads_back_after_an_error() -> None:
    before = torch.get_num_threads()

    def fails():
        raise ValueError("no")

    _failed(fails, (), {}, threads=1)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    ("error", "kind", "type_name"),
    [
        (NotImplementedError("later"), "not-implemented", "NotImplementedError"),
        (SystemExit("bye"), "exit", "SystemExit"),
        (ValueError("bad"), "raised", "ValueError"),
    ],
)
def test_a_local_failure_keeps_the_learners_error(error, kind, type_name) -> None:
    def fails():
        raise error

    failed = _failed(fails, (), {})
    assert (failed.kind, failed.type_name, str(failed), failed.own) == (
        kind,
        type_name,
        str(error),
        error,
    )


# -- invoke: in the worker ------------------------------------------------------------------------


class _Recorder:
    def __init__(self, answer=None) -> None:
        self.calls: list[tuple] = []
        self.answer = answer

    def call(self, target, attr, args, kwargs, **options):
        self.calls.append((target, attr, args, kwargs, options))
        return self.answer


def _proxy(answer=None) -> tuple[Remote, _Recorder]:
    from rnncourse.grading.channel import Handle

    link = _Recorder(answer)
    return Remote(link, 1, "f", Handle(1, "function", True, False)), link


def test_a_remote_call_sends_the_recipe_only_for_what_cannot_travel() -> None:
    """Are data arguments sent as data (no recipe), arguments that cannot travel (a function)
    rebuilt in the worker from the recipe, and a method called as a method?"""
    fn, link = _proxy()
    recipe = {"spec": "rnn_cell"}
    invoke(fn, (np.zeros(1),), {}, recipe=recipe, seed=2)
    invoke(fn, (len,), {}, recipe=recipe)
    invoke(fn, (3,), {}, attr="eval", no_grad=True)
    invoke(fn, (4,), {})
    assert [c[4] for c in link.calls] == [
        {"build": None, "seed": 2},
        {"build": recipe},
        {"no_grad": True},
        {"build": None},
    ]
    assert link.calls[2][:4] == (1, "eval", (3,), {})


def test_a_remote_call_returns_the_arguments_when_asked() -> None:
    args, kwargs = (1,), {"k": 2}
    fn, link = _proxy({"result": 5, "args": (7,), "kwargs": {"k": 8}})
    assert invoke(fn, args, kwargs, return_args=True) == (5, (7,), {"k": 8})
    assert link.calls[0][4] == {"build": None, "return_args": True}
    for bad in (
        None,
        {"result": 5},
        {"result": 5, "args": [7], "kwargs": {}},
        {"result": 5, "args": (7,), "kwargs": []},
        {"result": 5, "args": (7,), "kwargs": {}, "more": 1},
    ):
        fn, _ = _proxy(bad)
        failed = _failed(fn, args, kwargs, return_args=True)
        assert (failed.kind, failed.type_name, str(failed)) == (
            "crashed",
            "WorkerFailure",
            "the worker's answer is malformed (no arguments returned)",
        )


class _Failing:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def call(self, *args, **kwargs):
        raise self.error


@pytest.mark.parametrize(
    ("error", "kind", "type_name", "message"),
    [
        (WorkerFailure("it died", "crashed"), "crashed", "WorkerFailure", "it died"),
        (WorkerFailure("too slow", "timed-out"), "timed-out", "WorkerFailure", "too slow"),
        (
            RemoteError("not-implemented", "NotImplementedError", ""),
            "not-implemented",
            "NotImplementedError",
            "",
        ),
        (RemoteError("exit", "SystemExit", "0"), "exit", "SystemExit", "0"),
        (RemoteError("error", "KeyError", "h"), "raised", "KeyError", "h"),
        (RemoteError("name", "NameError", "name 'w'"), "raised", "NameError", "name 'w'"),
    ],
)
def test_a_remote_failure_is_the_same_call_failure(error, kind, type_name, message) -> None:
    """Does a failure in the worker arrive as the CallFailed a local one would, with the
    learner's type name, and no frames of its own?"""
    from rnncourse.grading.channel import Handle

    fn = Remote(_Failing(error), 1, "f", Handle(1, "function", True, False))
    failed = _failed(fn, (), {})
    assert (failed.kind, failed.type_name, str(failed), failed.own) == (
        kind,
        type_name,
        message,
        None,
    )


def test_check_through_the_worker(link: Loopback, capsys) -> None:
    """Does a check of a function that lives in the worker pass a right answer, diagnose a
    mistake, and hold the task's contracts across the channel?"""
    link.namespace.update(rnn_cell=scratch_rnn_cell, clip=_clip_in_place)
    grading._check("rnn_cell", link.get("rnn_cell"))
    assert (
        capsys.readouterr().out
        == "rnn_cell passes: it matches the reference on every test input.\n"
    )
    wrong = grading.spec("rnn_cell").mistakes[0]
    link.namespace["wrong"] = wrong.variant
    assert wrong.hint in str(_verdict(grading._check, "rnn_cell", link.get("wrong")))
    message = str(
        _verdict(
            grading._check, "clip_grad_value_np", link.get("clip"), cases=[{"clip_value": 0.5}]
        )
    )
    assert "gives the right values but changes its input grads" in message


def _clip_in_place(grads, clip_value):
    for value in grads.values():
        np.clip(value, -clip_value, clip_value, out=value)
    return grads


# -- the wording of a call that did not return ----------------------------------------------------


def test_failed_call_words_each_kind() -> None:
    where = "rnn_cell(x=(2, 3)) on cpu"
    said = {
        "not-implemented": "f is not implemented yet (it raises NotImplementedError).",
        "exit": f"f tried to exit the interpreter (sys.exit) for {where}.",
        "timed-out": f"f: too slow (for {where}).",
        "crashed": f"f: too slow (for {where}).",
        "raised": f"f raised KeyError: too slow\n  for {where}",
    }
    for kind, text in said.items():
        assert failed_call("f", CallFailed(kind, "KeyError", "too slow"), where) == text


@pytest.mark.parametrize(
    "text",
    [
        "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)",
        "size mismatch, m1: [2 x 3]",
        "shapes (2,3) and (4,5) not aligned: 3 (dim 1) != 4 (dim 0)",
        "shapes cannot be multiplied",
    ],
)
def test_a_shape_error_gets_the_transpose_hint(text: str) -> None:
    message = failed_call("f", CallFailed("raised", "RuntimeError", text), "here")
    assert message == (
        f"f raised RuntimeError: {text}\n  for here\n  Hint: a matrix product got incompatible "
        "shapes. With row vectors the book's W x is written x @ W.T; check which weight "
        "multiplies what."
    )
    other = failed_call("f", CallFailed("raised", "RuntimeError", "other"), "here")
    assert "Hint" not in other


def test_fail_call_records_the_kind_and_the_learners_frames() -> None:
    """Is a learner's own exception the verdict's cause ("raised"), while an exit is recorded
    as "raised" without frames and a timeout keeps its kind?"""
    own = ValueError("no")
    raised = _verdict(checks.fail_call, "f", CallFailed("raised", "ValueError", "no", own), "w")
    assert (raised.rnncourse_verdict, raised.__cause__, raised.rnncourse_task) == (
        "raised",
        own,
        "f",
    )
    exit_ = _verdict(checks.fail_call, "f", CallFailed("exit", "SystemExit", "", SystemExit()), "w")
    assert (exit_.rnncourse_verdict, exit_.__cause__) == ("raised", None)
    late = _verdict(checks.fail_call, "f", CallFailed("timed-out", "WorkerFailure", "slow"), "w")
    assert (late.rnncourse_verdict, late.__cause__) == ("timed-out", None)
    blank = _verdict(
        checks.fail_call, "f", CallFailed("not-implemented", "NotImplementedError", "", own), "w"
    )
    assert (blank.rnncourse_verdict, blank.__cause__) == ("not-implemented", None)


# -- the check's refusals and its registry ---------------------------------------------------------


def _toy(**fields) -> Spec:
    base = {
        "name": "toy",
        "reference": lambda x: x * 2,
        "make_inputs": lambda rng, case: ((rng.normal(size=3),), {}),
        "cases": ({},),
        "backend": "numpy",
    }
    return Spec(**{**base, **fields})


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch):
    """Register toy specs for one test only."""
    from rnncourse.grading import specs

    monkeypatch.setattr(specs, "_SPECS", dict(specs._SPECS))
    monkeypatch.setattr(verdict, "LAST_PASS", [None])
    return specs.register


def test_check_refuses_what_it_cannot_grade(toy) -> None:
    toy(_toy(reference="rnncourse.nowhere.f"))
    assert str(_verdict(grading._check, "toy", len)) == (
        "grading: the reference for toy is not available (rnncourse.nowhere.f)"
    )
    toy(_toy())
    assert str(_verdict(grading._check, "toy", 3)) == "toy: expected a function, got int"


def test_check_runs_the_given_cases_then_the_boundary_cases(toy, capsys) -> None:
    """Does check run the cases given (or the spec's), then always the boundary cases, each
    with its own index, and say it passed once?"""
    seen = []
    toy(
        _toy(
            make_inputs=lambda rng, case: seen.append(case) or ((np.ones(1),), {}),
            cases=({"c": 1},),
            boundary_cases=({"b": 1},),
        )
    )
    grading._check("toy", lambda x: x * 2)
    assert seen[::3] == [{"c": 1}, {"b": 1}]  # args, the reference's, the contract's copy
    seen.clear()
    grading._check("toy", lambda x: x * 2, cases=[{"g": 1}, {"g": 2}])
    assert [s for s in seen[::3]] == [{"g": 1}, {"g": 2}, {"b": 1}]
    assert capsys.readouterr().out.count("toy passes") == 1


def test_check_names_the_input_shapes_and_device(toy) -> None:
    toy(_toy(backend="torch", make_inputs=lambda rng, case: ((rng.normal(size=(2, 3)),), {})))
    message = str(_verdict(grading._check, "toy", lambda x: x))
    assert message.startswith("toy is wrong for toy(x=(2, 3)) on cpu:\n  output: largest error")


def test_check_mistake_says_when_the_diagnosis_is_wrong_or_missing(toy) -> None:
    calls = []

    def once(x):  # zero when checked, then not expressible: diagnosed as "zero" only
        calls.append(x)
        if len(calls) > 1:
            raise ValueError("not expressible")
        return x * 0

    toy(
        _toy(
            mistakes=(
                Mistake("same", "hint", lambda x: x * 2),
                Mistake("zero", "all zero", lambda x: x * 0),
                Mistake("once", "once zero", once),
            )
        )
    )
    with pytest.raises(KeyError, match="toy has no mistake 'nope'"):
        grading.check_mistake("toy", "nope")
    with pytest.raises(AssertionError, match="toy/same: the mistaken variant passes the check"):
        grading.check_mistake("toy", "same")
    grading.check_mistake("toy", "zero")
    calls.clear()
    with pytest.raises(AssertionError, match="toy/once: wrong diagnosis:\ntoy is wrong"):
        grading.check_mistake("toy", "once")


def test_a_mistake_that_cannot_run_is_skipped(toy) -> None:
    """Is a variant that raises for these inputs passed over, and a later one still found?"""

    def broken(x):
        raise ValueError("not expressible")

    toy(
        _toy(
            mistakes=(
                Mistake("broken", "never", broken),
                Mistake("zero", "all zero", lambda x: x * 0),
            )
        )
    )
    message = str(_verdict(grading._check, "toy", lambda x: x * 0))
    assert message.endswith("\n  Likely mistake: all zero") and "never" not in message
    assert _verdict(grading._check, "toy", lambda x: x * 0).rnncourse_mistakes == ("zero",)


def test_a_wrong_answer_with_a_broken_contract_says_both(toy) -> None:
    def shifted_in_place(x):
        x += 1
        return x

    toy(_toy(contracts=("unchanged-inputs",)))
    message = str(_verdict(grading._check, "toy", shifted_in_place))
    assert message.endswith(
        "\n  Also: it changes its input x; it must leave it exactly as it was (copy it, or put "
        "back what you change)."
    )


# -- the stated contracts --------------------------------------------------------------------------


def _broken(contracts, actual, after, before, reference=lambda a, b=None: None):
    return checks._broken_contract(
        _toy(contracts=contracts, _reference=reference), actual, after, before
    )


def test_contracts_name_the_argument() -> None:
    """Is a changed argument named by the reference's parameter, "argument i" past them, and
    by its keyword; are functions and what the worker kept (None) skipped?"""
    x, y = np.zeros(2), np.ones(2)
    said = "; it must leave it exactly as it was (copy it, or put back what you change)"
    assert (
        _broken(("unchanged-inputs",), 0, ((x, x), {}), ((y, x), {}))
        == f"changes its input a{said}"
    )
    assert _broken(("unchanged-inputs",), 0, ((x, x, y), {}), ((x, x, x), {})) == (
        f"changes its input argument 2{said}"
    )
    assert _broken(("unchanged-inputs",), 0, ((), {"k": y}), ((), {"k": x})) == (
        f"changes its input k{said}"
    )
    assert _broken(("unchanged-inputs",), 0, ((None, len), {}), ((x, len), {})) is None
    assert _broken(("unchanged-inputs",), 0, ((x,), {}), ((x.copy(),), {})) is None
    assert _broken(("unchanged-inputs",), 0, ((x,), {}), ((x + 1e-9,), {})) is not None
    assert _broken((), 0, ((x,), {}), ((y,), {})) is None
    assert _broken(("unchanged-inputs",), 0, ((x,), {}), ((y,), {}), reference=None) == (
        f"changes its input argument 0{said}"
    )


def test_new_output_and_dtype_contracts() -> None:
    x = np.zeros(3)
    inputs = ((x,), {"k": {"w": x[1:]}})
    said = "; return new arrays"
    assert _broken(("new-output",), (np.ones(1), x), inputs, inputs) == (
        f"returns a itself in output[1] (or an array sharing its memory){said}"
    )
    assert _broken(
        ("new-output",),
        {"o": x[:1]},
        ((np.ones(1),), {"k": {"w": x}}),
        ((np.ones(1),), {"k": {"w": x}}),
    ) == (f"returns k['w'] itself in output['o'] (or an array sharing its memory){said}")
    assert _broken(("new-output",), x.copy(), inputs, inputs) is None
    f32 = np.zeros(2, dtype=np.float32)
    assert _broken(("dtype:float64",), (np.zeros(2), f32), inputs, inputs) == (
        "returns output[1] of dtype float32; the task asks for float64"
    )
    assert _broken(("dtype:float32",), torch.zeros(2), inputs, inputs) is None
    assert _broken(("dtype:float64",), torch.zeros(2), inputs, inputs) == (
        "returns output of dtype float32; the task asks for float64"
    )


# -- what the source of a from-scratch answer is read from ----------------------------------------


def test_forbidden_paths() -> None:
    """Is a reference given by path kept, one given as a course function named by its module
    and qualified name, and a grading helper or an outside function left out?"""
    import rnncourse.rnn
    from rnncourse.grading import _cells

    s = _toy(
        reference=rnncourse.rnn.rnn_cell,
        forbidden=("rnncourse.gru.gru_cell", _cells._identity, np.tanh, 3),
    )
    assert checks.forbidden_paths(s) == ["rnncourse.rnn.rnn_cell", "rnncourse.gru.gru_cell"]


def test_setup_cells_and_what_they_bind() -> None:
    assert checks._is_setup("import torch\nfrom rnncourse import grading")
    assert checks._is_setup("from rnncourse import grading, rnn")
    assert not checks._is_setup("from rnncourse import grading as g")
    assert not checks._is_setup("from rnncourse.grading import check")
    assert not checks._is_setup("if True:\n    from rnncourse import grading")
    assert not checks._is_setup("%matplotlib inline")
    import math

    assert checks.provided_names({"np": np, "x": 1, "__name__": "m", "_m": math}) == {
        "np": "numpy",
        "x": None,
        "_m": "math",
    }


def test_current_blanks_what_was_replaced_and_the_checks() -> None:
    cells = [
        ("a", "def f():\n    return 1\n\nx = 1"),
        ("b", "@deco\ndef f():\n    return 2"),
        ("c", 'grading.check("f", f)\nprint(f())\ny = 2'),
        ("d", "%%time\nx"),
    ]
    got = checks.current(cells)
    assert got[0] == ("a", "x = 1")
    assert got[1] == cells[1] and got[3] == cells[3]
    assert got[2] == ("c", "print(f())\ny = 2")


@pytest.mark.parametrize(
    ("later", "replaced"),
    [
        (["f = 2"], True),
        (["f = g(f)"], False),
        (["print(f)", "f = 2"], True),
        (["y = f", "f = 2"], False),
        (["def f(a=f): pass"], False),
        (["@f\ndef f(): pass"], False),
        (["def f(): return f"], True),
        (["class f(f): pass"], False),
        (["class f:\n    x = f"], False),
        (["class f: pass"], True),
        (["x = 1"], False),
        (["grading.check_answer('f', f)", "f = 1"], True),
        (["other.check('f', f)", "f = 1"], False),
        (["grading.run(f)", "f = 1"], False),
    ],
)
def test_replaced(later: list[str], replaced: bool) -> None:
    import ast

    nodes = [node for source in later for node in ast.parse(source).body]
    assert checks._replaced("f", nodes) is replaced


def test_binds() -> None:
    import ast

    def binds(source):
        return checks._binds(ast.parse(source).body[0])

    assert binds("def f(): pass") == {"f"} and binds("async def g(): pass") == {"g"}
    assert binds("class C: pass") == {"C"} and binds("a = b = 1") == {"a", "b"}
    assert binds("a.x = 1") == set() and binds("a, b = 1, 2") == set() and binds("x") == set()


def test_source_findings_read_the_kernels_cells(monkeypatch) -> None:
    """In a kernel, are the learner's cells read (the setup cell's names as given), and the
    name the learner bound the function to taken as the task's root; outside, nothing?"""
    import sys
    import types

    s = grading.spec("rnn_cell")
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert checks.source_findings(s, len) == []

    def answer(*a):
        return None

    import rnncourse.rnn

    setup, mine = "from rnncourse import grading", "def mine(*a):\n    return R.rnn_cell(*a)"
    namespace = {"In": ["", setup, "import rnncourse.rnn as R\n" + mine, None],
                 "mine": answer, "_mine": answer}  # fmt: skip
    shell = types.SimpleNamespace(user_ns=namespace)
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    found = checks.source_findings(s, answer)
    label = 'the cell that begins "import rnncourse.rnn as R"'
    assert [f.split(":")[0] for f in found] == [f"{label}, line 3", f"{label}, line 1"]
    assert "rnncourse.rnn.rnn_cell, the reference" in found[0]
    # the setup cell's names are given: R is the module it bound, and only its use is found
    namespace.update(In=["", setup + "\nimport rnncourse.rnn as R", mine], R=rnncourse.rnn)
    found = checks.source_findings(s, answer)
    assert len(found) == 1 and found[0].startswith('the cell that begins "def mine(*a):", line 2')
    assert "uses rnncourse.rnn," in found[0]
    namespace["mine"] = None  # the function bound to no name: the task's own name is read
    assert checks.source_findings(s, answer) == []
    namespace["In"] = []
    assert checks.source_findings(s, answer) == []
