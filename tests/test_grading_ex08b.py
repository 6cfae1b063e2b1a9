"""Tests for rnncourse.grading.ex08b_speech: exercise 8b's graded functions and mistakes."""

from __future__ import annotations

import functools
import itertools
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import rnncourse.ctc
from rnncourse import grading
from tests._helpers import kernel_check, source_of

ROOT = Path(__file__).resolve().parents[1]
CTC_SPECS = ("ctc_forward_np", "ctc_loss", "greedy_decode", "edit_distance", "error_rate")

# -- honest, independent implementations (scalar loops, torch's ctc_loss, groupby, memo) -------


def ctc_forward_np(log_probs, target, blank=0):
    """One position at a time, with math.log and a max-shifted log-sum-exp."""
    ext = [blank]
    for label in target:
        ext += [int(label), blank]
    T, L = log_probs.shape[0], len(ext)
    alpha = np.full((T, L), -math.inf)
    for s in range(min(2, L)):
        alpha[0, s] = log_probs[0, ext[s]]
    for t in range(1, T):
        for s in range(L):
            terms = [alpha[t - 1, s]]
            if s >= 1:
                terms.append(alpha[t - 1, s - 1])
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                terms.append(alpha[t - 1, s - 2])
            top = max(terms)
            if top == -math.inf:
                continue
            total = top + math.log(sum(math.exp(v - top) for v in terms))
            alpha[t, s] = total + log_probs[t, ext[s]]
    return alpha


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean"):
    loss = F.ctc_loss(
        torch.from_numpy(log_probs),
        torch.from_numpy(targets),
        torch.from_numpy(input_lengths),
        torch.from_numpy(target_lengths),
        blank=blank,
        reduction=reduction,
    )
    return loss.numpy() if reduction == "none" else float(loss)


def greedy_decode(log_probs, input_lengths=None, blank=0):
    lp = log_probs[:, None] if log_probs.ndim == 2 else log_probs
    lengths = [lp.shape[0]] * lp.shape[1] if input_lengths is None else input_lengths
    out = []
    for n in range(lp.shape[1]):
        runs = [k for k, _ in itertools.groupby(lp[: lengths[n], n].argmax(-1).tolist())]
        out.append([k for k in runs if k != blank])
    return out[0] if log_probs.ndim == 2 else out


def edit_distance(a, b):
    @functools.cache
    def d(i, j):
        if i == 0 or j == 0:
            return i + j
        return min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] != b[j - 1]))

    return d(len(a), len(b))


def error_rate(hypotheses, references):
    pairs = zip(hypotheses, references, strict=True)
    edits = sum(edit_distance(tuple(h), tuple(r)) for h, r in pairs)
    return edits / sum(len(r) for r in references)


HONEST = {
    "ctc_forward_np": ctc_forward_np,
    "ctc_loss": ctc_loss,
    "greedy_decode": greedy_decode,
    "edit_distance": edit_distance,
    "error_rate": error_rate,
}
MISTAKES = [(name, m.name) for name in CTC_SPECS for m in grading.spec(name).mistakes]


@pytest.mark.parametrize("name", CTC_SPECS)
def test_independent_implementation_passes(name):
    """Does an independent implementation (torch's ctc_loss for the loss) pass check?"""
    # torch.nn.functional.ctc_loss is forbidden in a learner's cells, not in a test's
    grading._check(name, HONEST[name], seed=7)


@pytest.mark.parametrize(("name", "mistake"), MISTAKES, ids=[f"{n}-{m}" for n, m in MISTAKES])
def test_mistake_is_diagnosed_with_its_own_hint(name, mistake):
    """Does every mistaken variant of exercise 8b fail check, named by its own hint?"""
    grading.check_mistake(name, mistake)


def test_the_mistakes_a_ta_would_name_are_registered():
    """Are the classic CTC mistakes all registered, each with a hint of its own?"""
    expected = {
        "ctc_forward_np": {
            "skip-between-equal-labels",  # no blank needed between repeated labels
            "no-skip",  # the skip transition forgotten
            "probabilities",  # no log space: underflow on long inputs
            "naive-logsumexp",
        },
        "ctc_loss": {
            "last-label-only",  # only the last label, not the final blank
            "final-states-off-by-one",
            "sum-for-mean",  # mean vs sum over the batch
            "mean-for-sum",
            "input-lengths-ignored",
        },
        "greedy_decode": {"repeats-not-merged", "blanks-dropped-first", "blanks-kept"},
        "edit_distance": {"substitution-costs-two", "zero-border"},
        "error_rate": {"mean-of-rates", "percent", "accuracy"},
    }
    for name, mistakes in expected.items():
        registered = grading.spec(name).mistakes
        assert mistakes <= {m.name for m in registered}, name
        hints = [m.hint for m in registered]
        assert len(set(hints)) == len(hints), f"{name}: two mistakes share a hint"


def test_probabilities_underflow_on_the_long_case():
    """Does the 600-frame case make the probability-space recursion give -inf where log alpha
    is finite (so the mistake shows), while a log-space answer stays finite?"""
    args, kwargs = grading.spec("ctc_forward_np").make_inputs(
        np.random.default_rng(0), {"T": 600, "C": 6, "S": 4}
    )
    log_alpha = rnncourse.ctc.ctc_forward_np(*args, **kwargs)
    assert np.isfinite(log_alpha[-1, -2:]).all() and log_alpha[-1, -1] < -745
    with np.errstate(under="ignore"):
        alpha = np.exp(log_alpha)
    assert (alpha[-1] == 0).all()


def test_inputs_show_the_edge_cases():
    """Do the default cases hold a repeated label, an empty target, lengths < T, k - k paths
    and an all-blank item?"""
    forward = grading.spec("ctc_forward_np")
    targets = [forward.make_inputs(np.random.default_rng(0), c)[0][1] for c in forward.cases]
    assert any(len(t) >= 2 and t[0] == t[1] for t in targets)
    assert any(len(t) == 0 for t in targets)
    loss = grading.spec("ctc_loss")
    (_, _, input_lengths, target_lengths), _ = loss.make_inputs(
        np.random.default_rng(0), loss.cases[0]
    )
    assert (input_lengths < 12).any() and (target_lengths == 0).any()
    greedy = grading.spec("greedy_decode")
    (log_probs,), _ = greedy.make_inputs(np.random.default_rng(0), greedy.cases[0])
    path = log_probs.argmax(-1)  # (T, N)
    assert path[0, 0] == path[1, 0] == path[3, 0] != 0 and path[2, 0] == 0  # k k - k
    assert (path[:, -1] == 0).all()  # all blank
    assert greedy_decode(log_probs)[-1] == []


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("ctc_forward_np", "ctc_forward_np"),
        ("ctc_loss", "ctc_loss_np"),
        ("greedy_decode", "greedy_decode"),
        ("edit_distance", "edit_distance"),
        ("error_rate", "error_rate"),
    ],
)
def test_calling_the_reference_is_refused(name, target):
    """Does a learner function that calls rnncourse.ctc fail, whatever it returns?"""
    cell = f"import rnncourse.ctc\ndef {name}(*args, **kwargs):\n"
    cell += f"    return rnncourse.ctc.{target}(*args, **kwargs)"
    verdict = kernel_check(name, cell)
    assert f"{name} cannot be graded as written" in str(verdict)
    assert f"rnncourse.ctc.{target}" in str(verdict)


def test_calling_torch_ctc_loss_or_the_reference_helpers_is_refused():
    """Are torch.nn.functional.ctc_loss, ctc_forward_np inside the loss, the skip rule and
    collapse helpers and the reference edit distance inside error_rate refused too?"""
    ctc = "import rnncourse.ctc\nimport torch\nimport torch.nn.functional as F\n"
    assert "cannot be graded as written" in str(kernel_check("ctc_loss", ctc + source_of(ctc_loss)))

    # each returns a wrong answer, so only the refused call can explain the message
    def loss_from_reference_alpha(log_probs, targets, input_lengths, target_lengths, **kwargs):
        rnncourse.ctc.ctc_forward_np(log_probs[:, 0], targets[0, :1])
        return 0.0

    def alpha_with_reference_skip_rule(log_probs, target, blank=0):
        rnncourse.ctc._can_skip(rnncourse.ctc._extend(target, blank), blank)
        return log_probs

    def greedy_with_collapse(log_probs, input_lengths=None, blank=0):
        rnncourse.ctc._collapse([1, 1, 0], blank)
        return []

    def rate_with_reference_distance(hypotheses, references):
        pairs = zip(hypotheses, references, strict=True)
        edits = sum(rnncourse.ctc.edit_distance(h, r) for h, r in pairs)
        return edits / sum(len(r) for r in references)

    for task, fn in [
        ("ctc_loss", loss_from_reference_alpha),
        ("ctc_forward_np", alpha_with_reference_skip_rule),
        ("greedy_decode", greedy_with_collapse),
        ("error_rate", rate_with_reference_distance),
    ]:
        verdict = kernel_check(task, ctc + source_of(fn), fn=fn.__name__)
        assert f"{task} cannot be graded as written" in str(verdict), (task, verdict)


NO_WARNING_SCRIPT = """
import numpy as np
from rnncourse import grading
from rnncourse.ctc import ctc_forward_np, ctc_loss_np

def loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean"):
    return ctc_loss_np(log_probs, targets, input_lengths, target_lengths, blank)

grading._check("ctc_forward_np", lambda *a, **k: ctc_forward_np(*a, **k))
impossible = {"T": 2, "N": 2, "C": 3, "S": 3, "reduction": "none"}  # 3 labels, 2 frames: inf
grading._check("ctc_loss", loss, cases=[impossible])
print("no warning")
"""


def test_right_answer_with_minus_infinity_warns_nothing():
    """Does a right log alpha, -inf where unreachable (or a loss of inf), pass without a
    RuntimeWarning, which a notebook prints to stderr and nbgrader scores 0?"""
    # a fresh interpreter: grading is imported at top level, as in a notebook's setup cell
    result = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c", NO_WARNING_SCRIPT],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert result.returncode == 0 and "no warning" in result.stdout, result.stderr[-2000:]
    assert "RuntimeWarning" not in result.stderr


def test_blank_answers_say_not_implemented():
    """Does an unimplemented answer fail with "not implemented yet" for every function?"""

    def blank(*args, **kwargs):
        raise NotImplementedError()

    for name in CTC_SPECS:
        with pytest.raises(AssertionError, match="not implemented yet"):
            grading.check(name, blank)


def test_importing_the_specs_module_first_works():
    """Can rnncourse.grading.ex08b_speech be imported first (no circular import)?"""
    code = (
        "import rnncourse.grading.ex08b_speech\n"
        "from rnncourse import grading\n"
        "print(sorted(set(grading.spec_names()) & set(" + repr(CTC_SPECS) + ")))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == repr(sorted(CTC_SPECS))


# -- the trained recogniser (train_recognizer) ----------------------------------------------


class _Fixed(torch.nn.Module):
    """A 'trained' model whose output is chosen by the test: (T, N, 11) log-probabilities."""

    def __init__(self, make):
        super().__init__()
        self.make = make

    def forward(self, x, lengths):
        return self.make(x, lengths)


def _trained_failure(model_fn) -> str:
    with pytest.raises(AssertionError) as info:
        grading.check_trained("train_recognizer", lambda *data: _Fixed(model_fn))
    return str(info.value)


def test_recognizer_blank_fails_cleanly():
    """Does an unimplemented train_recognizer fail with 'not implemented'?"""

    def blank(features, lengths, targets, target_lengths):
        raise NotImplementedError()

    with pytest.raises(AssertionError, match="not implemented yet"):
        grading.check_trained("train_recognizer", blank)


def test_recognizer_all_blank_output_says_train_longer():
    """Does a model that outputs only blanks hear 'train longer'?"""

    def all_blank(x, lengths):
        z = torch.zeros(*x.shape[:2], 11)
        z[..., 0] = 5.0 + 0.01 * x[..., :1].squeeze(-1)  # depends on the input, still blank
        return z.log_softmax(-1)

    message = _trained_failure(all_blank)
    assert "blank at (almost) every frame" in message and "Train longer" in message


def test_recognizer_input_blind_output_is_named():
    """Does a model whose output ignores its input hear that it has not learned to read it?"""
    torch.manual_seed(0)
    row = torch.randn(11)
    row[3] = 5.0  # the same digit at every frame (not the blank, which has its own hint)
    row = row.log_softmax(-1)

    message = _trained_failure(lambda x, lengths: row.expand(*x.shape[:2], 11).clone())
    assert "nearly the same for every test sequence" in message


def test_recognizer_wrong_shape_is_named():
    """Does a model that returns (N, 11) hear the shape it should return?"""
    message = _trained_failure(lambda x, lengths: torch.zeros(x.shape[1], 11))
    assert "expected predictions of shape (" in message and ", 300, 11)" in message


def test_recognizer_most_common_sequence_baseline_scores_high():
    """Is the baseline (the commonest training string for every utterance) far above 0.2?"""
    from rnncourse.grading import ex08b_speech as spec_module
    from rnncourse.speech import load_spoken_digits

    _, _, labels, label_lengths = load_spoken_digits("test")
    truth = [labels[n, : int(k)].tolist() for n, k in enumerate(label_lengths)]
    score = spec_module._most_common_sequence(None, (labels, label_lengths))
    # an independent count: every answer of one fixed string is at least 0.7 wrong here
    for guess in ([1], [5, 5], [2, 3, 4]):
        assert rnncourse.ctc.error_rate([guess] * len(truth), truth) > 0.7
    assert 0.7 < score < 1.2


def _train_recognizer(features, lengths, targets, target_lengths, bidirectional=True):
    """The solution's recipe (a BiGRU, CTC, Adam), written here so the test needs no notebook."""
    torch.manual_seed(0)
    mask = (torch.arange(features.shape[0])[:, None] < lengths)[..., None]
    mean = (features * mask).sum(dim=(0, 1)) / mask.sum()
    std = (((features - mean) ** 2 * mask).sum(dim=(0, 1)) / mask.sum()).sqrt()
    rnn = torch.nn.GRU(40, 48, bidirectional=bidirectional)
    head = torch.nn.Linear(96 if bidirectional else 48, 11)

    def forward(x, lengths):
        return head(rnn((x - mean) / std)[0]).log_softmax(-1)

    model = _Fixed(forward)
    model.rnn, model.head = rnn, head
    optimizer = torch.optim.Adam(model.parameters(), lr=1.5e-2)
    for _ in range(250):
        batch = torch.randint(0, features.shape[1], (32,))
        T = int(lengths[batch].max())
        loss = torch.nn.functional.ctc_loss(
            model(features[:T, batch], lengths[batch]),
            targets[batch],
            lengths[batch],
            target_lengths[batch],
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


@pytest.mark.slow
def test_recognizer_solution_recipe_passes():
    """Does a small BiGRU trained with CTC for 250 steps pass (label error rate < 0.2)?"""
    grading.check_trained("train_recognizer", _train_recognizer)
