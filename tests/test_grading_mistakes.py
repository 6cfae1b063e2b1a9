"""Feedback a grader can trust, for exercises 2-10 (not 8b): every registered mistake loses the
points of the notebook's graded cells and is named there, every stated contract fails the answer
that breaks it, and correct answers written in other styles pass.

The graded cells' cases are read from ``solutions/<assignment>/<assignment>.ipynb`` (the visible
and the hidden tests), so these tests follow the notebooks as they are.
"""

from __future__ import annotations

import ast
import inspect
import json
import math
from pathlib import Path

import numpy as np
import pytest

import rnncourse.bptt
import rnncourse.gradients
from rnncourse import grading
from rnncourse.grading import trained
from tests._helpers import numgrad_shifted as _numgrad_shifted
from tests.alternatives import ALTERNATIVES, TRAINED_ALTERNATIVES

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = [a for a in grading.ASSIGNMENTS if a != "ex08b_speech"]


def _graded_calls(assignment: str) -> list[tuple[str, list | None, int]]:
    """``(task, cases, seed)`` of every ``check(...)`` call in the assignment's graded cells."""
    notebook = json.loads((ROOT / "solutions" / assignment / f"{assignment}.ipynb").read_text())
    calls = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code" or "grading.check(" not in "".join(cell["source"]):
            continue
        for node in ast.walk(ast.parse("".join(cell["source"]))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "check"):
                continue
            name = ast.literal_eval(node.args[0])
            options = {kw.arg: kw.value for kw in node.keywords}
            cases = None
            if "cases" in options:  # literals, and float("inf")
                code = compile(ast.Expression(options["cases"]), "<cases>", "eval")
                cases = eval(code, {"__builtins__": {}, "float": float})  # noqa: S307
            seed = ast.literal_eval(options["seed"]) if "seed" in options else 0
            calls.append((name, cases, seed))
    return calls


GRADED = {a: _graded_calls(a) for a in ASSIGNMENTS}
TASKS = {name: a for a, calls in GRADED.items() for name, _, _ in calls}
MISTAKES = [(name, m.name) for name in TASKS for m in grading.spec(name).mistakes]


def _failure(name, fn, cases, seed, **kwargs) -> str | None:
    # a function from a module: no notebook cells to read
    check = grading._check
    try:
        check(name, fn, cases=cases, seed=seed, **kwargs)
    except AssertionError as error:
        return str(error)
    return None


def test_the_notebooks_grade_every_task_of_the_registry():
    """Does every task registered by exercises 2-10 appear in a graded cell of its notebook?"""
    registered = {
        name
        for a in ASSIGNMENTS
        for name in grading.spec_names()
        if f'"{name}"' in inspect.getsource(getattr(grading, a))
    }
    assert registered <= set(TASKS), sorted(registered - set(TASKS))
    assert len(TASKS) >= 28


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_names_at_least_four_mistakes(name):
    """Does the registry name the mistakes learners make, at least four per task?"""
    assert len(grading.spec(name).mistakes) >= 4


@pytest.mark.parametrize(("name", "mistake"), MISTAKES, ids=[f"{n}-{m}" for n, m in MISTAKES])
def test_graded_cells_fail_and_name_every_mistake(name, mistake):
    """Does each registered mistake lose points in the notebook's graded cells (visible and
    hidden), and does at least one failing cell name it with its own hint, alone?"""
    s = grading.spec(name)
    chosen = next(m for m in s.mistakes if m.name == mistake)
    messages = [
        _failure(name, chosen.variant, cases, seed)
        for task, cases, seed in GRADED[TASKS[name]]
        if task == name
    ]
    failed = [m for m in messages if m is not None]
    assert failed, f"{name}/{mistake} passes every graded cell"
    others = [m.hint for m in s.mistakes if m.hint != chosen.hint and m.hint not in chosen.hint]
    alone = [
        m
        for m in failed
        if f"Likely mistake: {chosen.hint}" in m and not any(o in m for o in others)
    ]
    assert alone, f"{name}/{mistake} is never named alone:\n" + "\n".join(failed)


# -- correct answers in other styles ------------------------------------------------------------


def test_every_task_has_two_alternative_answers():
    """Is there a corpus of at least two differently written correct answers per task?"""
    assert set(ALTERNATIVES) == set(TASKS)
    assert all(len(fns) >= 2 for fns in ALTERNATIVES.values())


ALTERNATIVE_CASES = [(name, fn) for name, fns in ALTERNATIVES.items() for fn in fns]


@pytest.mark.parametrize(
    ("name", "fn"), ALTERNATIVE_CASES, ids=[fn.__name__ for _, fn in ALTERNATIVE_CASES]
)
def test_alternative_correct_answer_passes(name, fn):
    """Does a correct answer written in another style pass every graded cell of its task, the
    default cases and another seed?"""
    for task, cases, seed in GRADED[TASKS[name]]:
        if task == name:
            grading.check(name, fn, cases=cases, seed=seed)
    grading.check(name, fn)
    grading.check(name, fn, seed=3)


TRAINED_CASES = [(name, fn) for name, fns in TRAINED_ALTERNATIVES.items() for fn in fns]


def test_every_trained_task_has_two_alternative_answers():
    """Are there two other ways of training each trained task's model?"""
    assert set(TRAINED_ALTERNATIVES) == set(trained._BENCHMARKS)
    assert all(len(fns) >= 2 for fns in TRAINED_ALTERNATIVES.values())


@pytest.mark.parametrize(
    ("name", "fn"), TRAINED_CASES, ids=[fn.__name__ for _, fn in TRAINED_CASES]
)
def test_trained_alternative_passes(name, fn):
    """Does a model of another architecture, or trained by another loop, pass check_trained?"""
    grading.check_trained(name, fn)


# -- stated contracts: each check fails the answer that breaks only it ---------------------------


def _rel_error_clobbers(a, b):
    result = rnncourse.bptt.rel_error(a, b)
    b[...] = a  # "so that the next check starts equal"
    return result


def _rel_error_unguarded(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(a) + np.abs(b)))


def _clip_norm_in_place_too(grads, max_norm, norm_type=2.0):
    clipped, total = rnncourse.gradients.clip_grad_norm_np(grads, max_norm, norm_type)
    for name, g in grads.items():
        g[...] = clipped[name]  # the caller's arrays are clipped as well
    return clipped, total


def _clip_norm_same_arrays(grads, max_norm, norm_type=2.0):
    clipped, total = rnncourse.gradients.clip_grad_norm_np(grads, max_norm, norm_type)
    return {k: grads[k] if total <= max_norm else v for k, v in clipped.items()}, total


def _clip_norm_divides_by_zero(grads, max_norm, norm_type=2.0):
    total = float(np.linalg.norm(np.concatenate([g.ravel() for g in grads.values()]), norm_type))
    coef = min(1.0, max_norm / total)  # without the 1e-6: 0 / 0 for all-zero gradients
    return {k: g * coef for k, g in grads.items()}, total


def _clip_value_in_place(grads, clip_value):
    for value in grads.values():
        np.clip(value, -clip_value, clip_value, out=value)
    return {k: v.copy() for k, v in grads.items()}


def _clip_value_shared(grads, clip_value):
    return {k: v if np.abs(v).max() <= clip_value else np.clip(v, -clip_value, clip_value)
            for k, v in grads.items()}  # fmt: skip


_ZEROS = f"boundary:{ {'shape': (2, 3), 'zeros': True}!r}"
_ZERO_GRADS = f"boundary:{ {'max_norm': 1.0, 'scale': 0.0}!r}"

#: (task, contract or "boundary:<case>", answer that breaks only it, its case, what is said)
BREAKERS = [
    ("numerical_gradient", "unchanged-inputs", _numgrad_shifted, {"shape": (3, 2)},
     "changes its input param"),
    ("rel_error", "unchanged-inputs", _rel_error_clobbers, {"shape": (3, 4)},
     "changes its input b"),
    ("rel_error", _ZEROS, _rel_error_unguarded, {"shape": (3, 4)}, "the task asks for 0.0 there"),
    ("jacobian_product", "dtype:float64",
     lambda *a: rnncourse.gradients.jacobian_product(*a).float(),
     {"T": 5, "H": 3, "t": 4, "k": 1}, "dtype float32; the task asks for float64"),
    ("jacobian_norms", "dtype:float64",
     lambda *a, **k: rnncourse.gradients.jacobian_norms(*a, **k).astype(np.float32),
     {"T": 5, "H": 3, "t": 4}, "dtype float32; the task asks for float64"),
    ("clip_grad_norm_np", "unchanged-inputs", _clip_norm_in_place_too, {"max_norm": 1.0},
     "changes its input grads"),
    ("clip_grad_norm_np", "new-output", _clip_norm_same_arrays, {"max_norm": 100.0},
     "returns grads['weight_ih'] itself"),
    ("clip_grad_norm_np", _ZERO_GRADS, _clip_norm_divides_by_zero, {"max_norm": 1.0},
     "raised ZeroDivisionError"),
    ("clip_grad_value_np", "unchanged-inputs", _clip_value_in_place, {"clip_value": 0.5},
     "changes its input grads"),
    ("clip_grad_value_np", "new-output", _clip_value_shared, {"clip_value": 10.0, "scale": 0.1},
     "returns grads['weight_ih'] itself"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "contract", "fn", "case", "said"), BREAKERS, ids=[f"{b[0]}-{b[1]}" for b in BREAKERS]
)
def test_each_contract_fails_the_answer_that_breaks_it(name, contract, fn, case, said):
    """Does an answer that breaks one stated contract (inputs left as they were, new arrays,
    float64, the zero case) fail the visible cell's check, saying which, while the reference
    with the same case passes?"""
    grading._check(name, grading.spec(name)._reference, cases=[case])
    message = _failure(name, fn, [case], 0)
    assert message is not None and said in message
    if not contract.startswith("boundary:"):
        assert "gives the right values but" in message


def test_every_contract_and_boundary_case_has_a_breaker():
    """Is each declared contract and boundary case of exercises 2-10 exercised above?"""
    declared = set()
    for name in TASKS:
        s = grading.spec(name)
        declared |= {(name, c) for c in s.contracts}
        declared |= {(name, f"boundary:{case!r}") for case in s.boundary_cases}
    covered = {(b[0], b[1]) for b in BREAKERS}
    assert declared <= covered, sorted(declared - covered)


def test_contracts_the_task_texts_state_are_declared():
    """Do the tasks whose text states a contract carry it (inputs not modified, new arrays,
    float64 results, 0.0 for all-zero arrays, all-zero gradients, a norm on the threshold)?"""
    assert "unchanged-inputs" in grading.spec("rel_error").contracts
    assert {"shape": (2, 3), "zeros": True} in grading.spec("rel_error").boundary_cases
    assert "dtype:float64" in grading.spec("jacobian_product").contracts
    assert {"max_norm": 1.0, "scale": 0.0} in grading.spec("clip_grad_norm_np").boundary_cases
    s = grading.spec("flag_exploding")
    (norms, threshold), _ = s.make_inputs(np.random.default_rng(0), {"R": 5, "T": 8})
    assert (norms == threshold).sum() == 1  # a run exactly on the threshold, not flagged
    assert not s._reference(norms, threshold)[4]


def test_boundary_cases_run_with_the_cells_own_cases():
    """Does a check with its own cases= also run the spec's boundary cases (so the visible
    cell of rel_error catches a missing zero guard), counting on from the given cases?"""
    assert _failure("rel_error", _rel_error_unguarded, [{"shape": (3, 4)}], 0) is not None
    assert _failure("rel_error", rnncourse.bptt.rel_error, [{"shape": (3, 4)}], 0) is None


def test_rel_error_cases_separate_the_maxima():
    """Do rel_error's cases put max|a| and max|b| at different entries, so that
    max|a| + max|b| differs from max(|a| + |b|) by more than the tolerance?"""
    s = grading.spec("rel_error")
    for index, case in enumerate([{"shape": (3, 4)}, {"shape": (2, 3), "noise": 1.0}]):
        (a, b), _ = s.make_inputs(np.random.default_rng([0, index]), case)
        assert np.argmax(np.abs(a)) != np.argmax(np.abs(b))
        wrong = np.abs(a).max() + np.abs(b).max()
        right = (np.abs(a) + np.abs(b)).max()
        assert not math.isclose(wrong, right, rel_tol=1e-3)


@pytest.mark.slow
def test_boundary_case_holds_across_the_channel(tmp_path):
    """Graded by nbgrader in the grader's process, does a rel_error without the zero guard lose
    its task (the boundary case runs in the trusted checks too), naming the mistake, while the
    instructor's answers keep every point?"""
    from tests import _nbgrader

    unguarded = (
        "def rel_error(a, b):\n"
        "    return float(np.max(np.abs(a - b)) / np.max(np.abs(a) + np.abs(b)))\n"
    )
    got, full, text = _nbgrader.grade_one_wrong_answer(
        tmp_path, "ex04_bptt", "rel_error", unguarded
    )
    assert got["right"] == full
    assert got["wrong"] == {**full, "test_rel_error": 0.0}
    assert "the task asks for 0.0 there" in text
