"""The tasks added to exercises 3, 5, 9 and 10: additive attention, beam search, sampling with a
temperature, perplexity, and the conceptual questions answered with one number.

Every registered mistake of the new specs is also covered by ``tests/test_grading.py``'s
parametrised tests (diagnosed, with its own hint only); here: independent implementations in
two styles per task, exhaustive search against beam search, the conceptual questions' checks
(right numbers computed here by other means, each mistaken number diagnosed alone, the right
number never shown) and the new tasks graded through the real ``nbgrader autograde`` with
trusted checks (values and a ``torch.Generator`` across the channel).
"""

from __future__ import annotations

import ast
import itertools
import json
import math
import pathlib
import re

import nbformat
import numpy as np
import pytest
import torch

from rnncourse import grading
from rnncourse.grading import answers
from rnncourse.grading.specs import build_inputs
from tests import _nbgrader
from tests.alternatives import ALTERNATIVES, _step_log_probs

PAD, BOS, EOS = 0, 2, 3
NEW_SPECS = ("additive_attention", "beam_search", "tempered_probs", "sample_next", "perplexity")
ANSWERS = ("stacked_params", "rho", "encoder_params", "ppl_from_bpc")


HONEST = {name: ALTERNATIVES[name] for name in NEW_SPECS}
EXTRA_CASES = {
    "additive_attention": [{"S": 1, "N": 1, "H": 2, "H_k": 3, "A": 2},
                           {"S": 6, "N": 5, "H": 4, "H_k": 4, "A": 6}],
    "beam_search": [{"S": 2, "V": 6, "E": 2, "H": 3, "B": 1, "max_len": 4},
                    {"S": 3, "V": 8, "E": 3, "H": 4, "B": 2, "max_len": 5, "alpha": 0.6,
                     "eos_bias": 1.5, "sharpness": 0.8}],
    "tempered_probs": [{"N": 1, "V": 3, "tau": 0.1}, {"N": 3, "V": 4, "tau": 5.0}],
    "sample_next": [{"N": 8, "V": 5, "tau": 0.0}, {"N": 32, "V": 6, "tau": 1.0}],
    "perplexity": [{"T": 1, "N": 1, "V": 6}, {"T": 9, "N": 4, "V": 12}],
}  # fmt: skip
HONEST_CASES = [(name, i) for name in NEW_SPECS for i in range(2)]


@pytest.mark.parametrize(("name", "style"), HONEST_CASES, ids=[f"{n}-{i}" for n, i in HONEST_CASES])
def test_independent_implementations_pass(name, style):
    """Do two independent implementations of each new task, in different styles, pass check
    on the default cases, the edges (length 1, beam 1, τ = 0) and two seeds?"""
    cases = [*grading.spec(name).cases, *EXTRA_CASES[name]]
    for seed in (0, 7):
        grading._check(name, HONEST[name][style], cases=cases, seed=seed)


@pytest.mark.parametrize("name", NEW_SPECS)
def test_blank_new_task_says_not_implemented(name):
    """Does an unanswered new task fail with a plain "not implemented yet"?"""

    def blank(*args, **kwargs):
        raise NotImplementedError()

    with pytest.raises(AssertionError, match=f"{name} is not implemented yet"):
        grading.check(name, blank)


def test_every_new_task_has_at_least_its_required_mistakes():
    """Are the mistakes the tasks were written for registered (so tests/test_grading.py checks
    that each is diagnosed with its own hint)?"""
    required = {
        "additive_attention": {"wrong-axis", "mask-ignored", "mask-after", "no-tanh", "swapped",
                               "scores"},
        "beam_search": {"greedy", "product", "no-log", "eos-continues", "first-finished",
                        "no-penalty", "mean", "per-beam"},
        "tempered_probs": {"multiplied", "ignored", "zero"},
        "sample_next": {"ignored", "multiplied", "argmax"},
        "perplexity": {"sum", "base-2", "padding"},
    }  # fmt: skip
    for name, wanted in required.items():
        assert wanted <= {m.name for m in grading.spec(name).mistakes}, name


# -- beam search against exhaustive search and greedy decoding --------------------------------


def _exhaustive(params, src, max_len, length_penalty):
    """The best-scoring output over every token sequence of at most max_len tokens."""
    start, step = _step_log_probs(params, params["encoder"]["embedding"])
    V = params["decoder"]["embedding"].shape[0]
    best = (-math.inf, None)
    with torch.no_grad():
        h = start(src)
        for length in range(1, max_len + 1):
            for seq in itertools.product(range(V), repeat=length):
                if EOS in seq[:-1] or (seq[-1] != EOS and length < max_len):
                    continue
                state, logp, y = h, 0.0, BOS
                for token in seq:
                    log_probs, state = step(state, y)
                    logp, y = logp + float(log_probs[token]), token
                score = logp / ((5 + length) / 6) ** length_penalty
                if score > best[0]:
                    best = (score, list(seq))
    return best


@pytest.mark.parametrize(("alpha", "sharpness"), [(0.0, 1.0), (1.0, 0.8)])
def test_a_beam_wide_enough_is_exhaustive_search(alpha, sharpness):
    """With beam_width = V ** (max_len - 1) every hypothesis is kept: does the reference find
    the best output over all sequences, by brute force (V = 5, max_len = 4), also where greedy
    decoding (beam_width = 1) misses it?"""
    s = grading.spec("beam_search")
    case = {"S": 3, "V": 5, "E": 3, "H": 4, "B": 125, "max_len": 4, "sharpness": sharpness}
    if alpha:
        case["alpha"] = alpha
    greedy_missed = 0
    for index in range(4):
        args, kwargs = build_inputs(s, 0, index, case, "cpu")
        tokens, score = s._reference(*args, **kwargs)
        want_score, want_tokens = _exhaustive(args[0], args[1], 4, alpha)
        assert tokens.tolist() == want_tokens
        assert score == pytest.approx(want_score, rel=1e-9, abs=1e-12)
        greedy, _ = s._reference(args[0], args[1], 1, 4, **kwargs)
        greedy_missed += greedy.tolist() != want_tokens
    assert greedy_missed >= 1  # the cases tell a beam from greedy decoding


def test_beam_of_one_is_greedy_translation():
    """Does the reference with beam_width = 1 write greedy_translate's tokens (up to EOS)?"""
    s = grading.spec("beam_search")
    greedy = grading.spec("greedy_translate")._reference
    for index in range(3):
        case = {"S": 4, "V": 9, "E": 3, "H": 4, "B": 1, "max_len": 6, "eos_bias": 1.0}
        (params, src, _, max_len), _ = build_inputs(s, 0, index, case, "cpu")
        tokens, _ = s._reference(params, src, 1, max_len)
        lengths = torch.tensor([src.shape[0]])
        want = greedy(src[:, None], lengths, params, max_len)[:, 0]
        assert tokens.tolist() == want[: len(tokens)].tolist()
        assert (want[len(tokens) :] == PAD).all()


# -- conceptual questions ------------------------------------------------------------------------

W_LINEAR = np.array([[0.6, 0.8], [0.3, 0.7]])  # as the ex05 notebook states it


def _right_numbers():
    """Each question's number, worked out here from the notebooks' sizes, not from grading."""
    H_in, H = 10, 16  # two layers; the second reads the first's H states
    V, E, H9 = 1000, 64, 128
    return {
        "stacked_params": (H * H_in + H * H + 2 * H) + (H * H + H * H + 2 * H),
        "rho": float(np.abs(np.linalg.eigvals(W_LINEAR)).max()),
        "encoder_params": V * E + 3 * (H9 * E + H9 * H9 + 2 * H9),
        "ppl_from_bpc": 2**1.9,
    }


def test_parameter_counts_match_torch_modules():
    """Are the hand-worked counts the parameters torch.nn's own modules hold?"""
    import torch

    right = _right_numbers()
    stacked = torch.nn.RNN(10, 16, num_layers=2)
    encoder = (torch.nn.Embedding(1000, 64), torch.nn.GRU(64, 128))
    assert sum(p.numel() for p in stacked.parameters()) == right["stacked_params"]
    assert sum(p.numel() for m in encoder for p in m.parameters()) == right["encoder_params"]
    for name in ("stacked_params", "encoder_params"):
        assert answers._ANSWERS[name].expected() == right[name]  # the grader's own count


def test_every_conceptual_question_is_registered():
    assert set(answers.answer_names()) == set(ANSWERS)


@pytest.mark.parametrize("name", ANSWERS)
def test_right_number_passes_in_every_form(name):
    """Does the right number pass as an int or float, a NumPy scalar, a 0-d tensor and a
    one-element array, and a number just inside the stated tolerance too?"""
    right = _right_numbers()[name]
    forms = [right, float(right), np.float64(right), torch.tensor(right), np.array([right])]
    a = answers.answer(name)
    if not a.integer:
        forms.append(right + 0.9 * (a.atol + a.rtol * abs(right)))
    for value in forms:
        grading.check_answer(name, value)


@pytest.mark.parametrize("name", ANSWERS)
def test_numbers_just_outside_the_tolerance_fail(name):
    right = _right_numbers()[name]
    a = answers.answer(name)
    step = 1 if a.integer else 1.1 * (a.atol + a.rtol * abs(right))
    for value in (right - step, right + step):
        with pytest.raises(AssertionError, match="is not right"):
            grading.check_answer(name, value)


ANSWER_MISTAKES = [(n, m.name) for n in ANSWERS for m in answers.answer(n).mistakes]


@pytest.mark.parametrize(
    ("name", "mistake"), ANSWER_MISTAKES, ids=[f"{n}-{m}" for n, m in ANSWER_MISTAKES]
)
def test_each_wrong_number_gets_its_own_hint_and_never_the_right_one(name, mistake):
    """Does each registered wrong number fail with its hint alone, and does the message leave
    out the right number?"""
    a = answers.answer(name)
    chosen = next(m for m in a.mistakes if m.name == mistake)
    assert not math.isclose(chosen.variant(), _right_numbers()[name], rel_tol=1e-6)
    with pytest.raises(AssertionError) as info:
        grading.check_answer(name, chosen.variant())
    message = str(info.value)
    assert f"Likely mistake: {chosen.hint}" in message
    assert not [m.hint for m in a.mistakes if m.hint != chosen.hint and m.hint in message]
    right = _right_numbers()[name]
    rest = message.replace(f"{name} = {chosen.variant():g}", "")  # the learner's own number
    for shown in {f"{right:g}", f"{right:.3f}", f"{right:.2f}", str(right)}:
        assert shown not in rest


def test_a_number_two_mistakes_share_names_both(monkeypatch):
    """When the learner's number is two mistakes' number, are both hints given, in order?"""
    toy = answers.Answer("toy", lambda: 1.0, atol=0.01, mistakes=(
        grading.Mistake("a", "hint A", lambda: 2.0), grading.Mistake("b", "hint B", lambda: 2.0),
        grading.Mistake("c", "hint C", lambda: 3.0)))  # fmt: skip
    monkeypatch.setitem(answers._ANSWERS, "toy", toy)
    with pytest.raises(AssertionError) as info:
        grading.check_answer("toy", 2.005)
    assert "Likely mistake: one of: (1) hint A | (2) hint B" in str(info.value)
    assert "hint C" not in str(info.value)
    grading.check_answer("toy", 0.995)


def test_a_wrong_number_that_is_no_known_mistake_gets_no_hint():
    with pytest.raises(AssertionError) as info:
        grading.check_answer("encoder_params", 12345)
    assert "is not right (it must be exact)" in str(info.value)
    assert "Likely mistake" not in str(info.value)


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (None, "stacked_params is not implemented yet (it is None)"),
        ("992", "expected a number, got an object of type str"),
        (True, "expected a number, got a bool"),
        (np.array([992, 1]), "expected a number, got an array of shape (2,)"),
        (lambda: 992, "expected a number, got an object of type function"),
        (math.nan, "expected a finite number, got nan"),
        (992.5, "stacked_params is a count, a whole number; got 992.5"),
    ],
    ids=["none", "str", "bool", "array", "function", "nan", "fraction"],
)
def test_what_is_not_a_number_is_explained(value, said):
    with pytest.raises(AssertionError) as info:
        grading.check_answer("stacked_params", value)
    assert said in str(info.value)


def test_every_notebook_answers_exactly_its_modules_questions():
    """Does each notebook check_answer exactly the questions its spec module registers?"""
    root = pathlib.Path(__file__).parents[1]
    for folder in grading.ASSIGNMENTS:
        module = pathlib.Path(grading.__file__).with_name(f"{folder}.py")
        registered = {
            node.args[0].value
            for node in ast.walk(ast.parse(module.read_text()))
            if isinstance(node, ast.Call)
            and getattr(node.func, "id", None) == "Answer"
            and isinstance(node.args[0], ast.Constant)
        }
        cells = json.loads((root / "solutions" / folder / f"{folder}.ipynb").read_text())["cells"]
        code = "\n".join("".join(cell["source"]) for cell in cells)
        assert set(re.findall(r'check_answer\(\s*"(\w+)"', code)) == registered, folder


# -- graded for real: nbgrader autograde, trusted checks, the sandboxed worker -------------------

EX09, EX10 = "ex09_seq2seq", "ex10_applications"
WRONG_EX10 = {
    "ppl_from_bpc": "ppl_from_bpc = 2.718281828459045 ** 1.9\n",
    "perplexity": (
        "def perplexity(logits, targets):\n"
        "    nll = -torch.log_softmax(logits, -1).gather(-1, targets[..., None])\n"
        "    return float(torch.exp(nll.mean()))\n"
    ),
    "tempered_probs": (
        "def tempered_probs(logits, tau):\n"
        "    return torch.softmax(logits * tau, dim=-1)\n\n\n"
        "def sample_next(logits, tau, generator):\n"
        "    return torch.multinomial(tempered_probs(logits, tau), 1, generator=generator)[:, 0]\n"
    ),
}
WRONG_EX09 = {
    "encoder_params": "encoder_params = 1000 * 64 + 4 * (128 * 64 + 128 * 128 + 2 * 128)\n",
    "beam_search": ("min(beam_width, candidates.numel())", "min(1, candidates.numel())"),
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "wrong", "lost"),
    [
        (EX10, WRONG_EX10, ("test_ppl_from_bpc", "test_perplexity", "test_temperature")),
        (EX09, WRONG_EX09, ("test_encoder_params", "test_beam_search")),
    ],
    ids=[EX10, EX09],
)
def test_new_tasks_graded_by_nbgrader_with_trusted_checks(tmp_path, name, wrong, lost):
    """Through the real nbgrader autograde (checks in the grader, learner code in the sandboxed
    worker): do the instructor's answers earn every point, numbers and a torch.Generator included,
    and do wrong answers lose exactly their tasks, with the diagnosis in the feedback?"""
    from tests.hostile.corpus import _answers

    course = _nbgrader.make_course(tmp_path, [name])
    solution = _nbgrader.read(_nbgrader.solution_path(name))
    release = _nbgrader.read(course / "exercises" / name / f"{name}.ipynb")
    _nbgrader.submit(course, "right", name, _answers(release, solution))
    wrong = {  # (old, new): the instructor's answer with one change
        gid: src if isinstance(src, str) else _nbgrader.answer_source(solution, gid).replace(*src)
        for gid, src in wrong.items()
    }
    _nbgrader.submit(course, "wrong", name, _answers(release, solution, **wrong))
    _nbgrader.submit(course, "blank", name, release)
    _nbgrader.nbgrader(course, "autograde", name)
    got = _nbgrader.scores(course, name)
    full = _nbgrader.grade_cells(solution)
    assert got["right"] == full
    assert got["wrong"] == {**full, **dict.fromkeys(lost, 0.0)}
    assert set(got["blank"].values()) == {0.0}
    path = course / "autograded" / "wrong" / name / f"{name}.ipynb"
    nb = _nbgrader.read(path)
    assert nb.metadata["rnncourse"]["trusted_checks"] is True
    text = json.dumps([c.outputs for c in nb.cells if c.cell_type == "code"])
    assert "Likely mistake" in text
    if name == EX10:
        assert "e ** bpc mixes the units" in text
        assert "PAD positions are counted" in text
        assert "multiplied by" in text
    else:
        assert "4 is an LSTM" in text
        assert "this is greedy decoding" in text


# -- the book's exercise pages show the new tasks ----------------------------------------------

NEW_ANSWER_CELLS = {
    "ex03_unrolling": ("stacked_params",),
    "ex05_gradients": ("rho",),
    "ex09_seq2seq": ("additive_attention", "beam_search", "encoder_params"),
    "ex10_applications": ("tempered_probs", "perplexity", "ppl_from_bpc"),
}


@pytest.mark.parametrize("name", sorted(NEW_ANSWER_CELLS))
def test_exercise_pages_show_the_new_tasks(name):
    """Does book/_ext/rnncourse_exercises.py put the new answer cells on the page, blank by
    default, with the worked solution in the self-learner edition?"""
    import importlib.util

    root = pathlib.Path(__file__).parents[1]
    path = root / "book" / "_ext" / "rnncourse_exercises.py"
    spec = importlib.util.spec_from_file_location("rnncourse_exercises", path)
    ext = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ext)
    student = nbformat.read(_nbgrader.release_path(name), as_version=4)
    solution = nbformat.read(_nbgrader.solution_path(name), as_version=4)
    for with_solutions in (False, True):
        page = ext.build_page(name, student, solution if with_solutions else None)
        text = "\n".join(c.source for c in page.cells)
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
        for grade_id in NEW_ANSWER_CELLS[name]:
            source = _nbgrader.answer_source(_nbgrader.read(_nbgrader.solution_path(name)),
                                             grade_id)  # fmt: skip
            solved = source.split("### BEGIN SOLUTION\n")[1].split("### END SOLUTION")[0]
            last = solved.strip().splitlines()[-1].strip()
            assert (last in text) is with_solutions, (grade_id, last)
        assert text.count("raise NotImplementedError()") >= len(NEW_ANSWER_CELLS[name])
