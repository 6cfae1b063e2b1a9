r"""Graded functions of exercise 8b (chapter 8b, speech recognition with CTC), for
:mod:`rnncourse.grading`.

Learners write, in NumPy, what :mod:`rnncourse.ctc` defines: the forward variables
:math:`\log\alpha_t(s)` of one utterance (``ctc_forward_np``), the batched CTC loss with
``torch.nn.functional.ctc_loss``'s lengths and reductions (``ctc_loss``), best-path decoding
(``greedy_decode``), and the Levenshtein distance and label error rate (``edit_distance``,
``error_rate``), then a trained recogniser (``train_recognizer``, a :class:`Benchmark` on the
shipped spoken digits, graded by the label error rate on unseen voices). The inputs are
seeded and built so that the mistakes show: targets with a
repeated label (which needs a blank between its copies), utterances long enough for the
probabilities to underflow, empty targets, input lengths shorter than ``T``, paths with
``k k - k`` (two labels, not one or three) and all-blank paths.

Every mistake below is ``(name, hint, variant)``, the variant with the reference's signature;
:func:`grading.check` names the mistake whose variant reproduces the learner's answer. The
grading package imports this module while it loads (it is in ``ASSIGNMENTS``), and this
module registers its specs at the end.

Example::

    >>> from rnncourse import grading
    >>> [m.name for m in grading.spec("greedy_decode").mistakes]  # doctest: +NORMALIZE_WHITESPACE
    ['blanks-kept', 'repeats-not-merged', 'blanks-dropped-first', 'lengths-ignored',
     'blank-hard-coded']
    >>> grading.check_mistake("greedy_decode", "blanks-dropped-first")  # caught, and named
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from rnncourse import ctc as _ctc
from rnncourse import speech as _speech
from rnncourse.grading.specs import Mistake, Spec, register
from rnncourse.grading.trained import Benchmark, register_benchmark

# the references
_ref_forward = _ctc.ctc_forward_np
_ref_loss_np = _ctc.ctc_loss_np
_ref_greedy = _ctc.greedy_decode
_ref_edit_distance = _ctc.edit_distance
_ref_error_rate = _ctc.error_rate
_load_spoken_digits = _speech.load_spoken_digits
_logaddexp = np.logaddexp
_NEG_INF = float("-inf")


Case = Mapping[str, Any]
Inputs = tuple[tuple[Any, ...], dict[str, Any]]

# what would compute the CTC loss, its lattice or the skip rule for the learner
_CTC_LOSSES = (
    "rnncourse.ctc.ctc_forward_np",
    "rnncourse.ctc.ctc_loss",
    "rnncourse.ctc.ctc_loss_np",
    "rnncourse.ctc.ctc_grad_np",
    "rnncourse.ctc.ctc_backward_np",
    "rnncourse.ctc._single",  # l' and the skip mask of one utterance
    "rnncourse.ctc._extend",
    "rnncourse.ctc._can_skip",
    "torch.nn.functional.ctc_loss",
)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _random_target(
    rng: np.random.Generator, S: int, C: int, blank: int, repeat: bool = True
) -> np.ndarray:
    """``S`` labels drawn from ``[0, C)`` without ``blank``; with ``repeat`` the second
    repeats the first."""
    labels = np.array([k for k in range(C) if k != blank])
    target = rng.choice(labels, size=S)
    if repeat and S >= 2:
        target[1] = target[0]  # a repeated label needs a blank between its copies
    return target.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# task 1: the forward recursion of one utterance, log alpha (T, 2S + 1)
# ---------------------------------------------------------------------------------------------


def _forward_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    """``case``: ``T``, ``C``, ``blank`` (0), ``target`` (explicit labels) or ``S`` (random,
    the first label repeated), ``scale`` of the logits (1)."""
    T, C, blank = case["T"], case["C"], case.get("blank", 0)
    if "target" in case:
        target = np.array(case["target"], dtype=np.int64)
    else:
        target = _random_target(rng, case["S"], C, blank)
    log_probs = _log_softmax(rng.normal(size=(T, C)) * case.get("scale", 1.0))  # (T, C)
    kwargs = {"blank": blank} if "blank" in case else {}
    return (log_probs, target), kwargs


def _extended(target: np.ndarray, blank: int, trailing: bool = True) -> np.ndarray:
    ext = [blank]
    for label in target:
        ext += [int(label), blank]
    return np.array(ext if trailing else ext[:-1], dtype=np.int64)


def _forward_variant(
    skip: str = "labels", start: int = 2, space: str = "log", trailing: bool = True
) -> Callable[..., np.ndarray]:
    """A mistaken ``ctc_forward_np``.

    ``skip``: where alpha_{t-1}(s-2) may enter: ``"labels"`` (right: a label unlike the one two
    back), ``"equal"`` (also between equal labels), ``"blanks"`` (also into blanks), ``"none"``.
    ``start``: how many positions alpha_1 covers. ``space``: ``"log"``, ``"prob"`` (the
    recursion on probabilities, logged at the end) or ``"naive"`` (log(sum(exp))).
    ``trailing``: whether l' ends in a blank.
    """

    def variant(log_probs: np.ndarray, target: np.ndarray, blank: int = 0) -> np.ndarray:
        ext = _extended(np.asarray(target), blank, trailing)
        T, L = log_probs.shape[0], ext.size
        allowed = np.zeros(L, dtype=bool)
        for s in range(2, L):
            if skip == "labels":
                allowed[s] = ext[s] != blank and ext[s] != ext[s - 2]
            elif skip == "equal":
                allowed[s] = ext[s] != blank
            elif skip == "blanks":
                allowed[s] = ext[s] != ext[s - 2] or ext[s] == blank
        if space == "prob":
            y = np.exp(log_probs)
            alpha = np.zeros((T, L))
            alpha[0, :start] = y[0, ext[:start]]
            for t in range(1, T):
                prev = alpha[t - 1]
                total = prev.copy()
                total[1:] += prev[:-1]
                total[2:] += np.where(allowed[2:], prev[:-2], 0.0)
                alpha[t] = total * y[t, ext]
            with np.errstate(divide="ignore"):
                return np.log(alpha)
        alpha = np.full((T, L), _NEG_INF)
        alpha[0, :start] = log_probs[0, ext[:start]]
        for t in range(1, T):
            prev = alpha[t - 1]
            left = np.concatenate([[_NEG_INF], prev])[:L]  # alpha_{t-1}(s-1)
            left2 = np.concatenate([[_NEG_INF, _NEG_INF], prev])[:L]  # alpha_{t-1}(s-2)
            left2[~allowed] = _NEG_INF
            if space == "naive":
                with np.errstate(divide="ignore"):
                    total = np.log(np.exp(prev) + np.exp(left) + np.exp(left2))
            else:
                total = _logaddexp(_logaddexp(prev, left), left2)
            alpha[t] = total + log_probs[t, ext]
        return alpha

    return variant


_FORWARD_MISTAKES = (
    (
        "skip-between-equal-labels",
        "the skip from s - 2 is also taken between two equal labels. A repeated label needs a "
        "blank between its copies (k k collapses to one k), so alpha_{t-1}(s-2) enters only "
        "when l'_s is a label different from l'_{s-2}.",
        _forward_variant(skip="equal"),
    ),
    (
        "no-skip",
        "the skip transition is missing: a path may jump over the blank between two different "
        "labels, so alpha_t(s) also adds alpha_{t-1}(s-2) when l'_s is a label and "
        "l'_s != l'_{s-2}.",
        _forward_variant(skip="none"),
    ),
    (
        "skip-into-blank",
        "a blank position also receives the skip from s - 2; a blank is only reached from "
        "itself and from the label before it (skipping would drop a label).",
        _forward_variant(skip="blanks"),
    ),
    (
        "probabilities",
        "the recursion runs on probabilities: on a long utterance alpha_t underflows to 0 and "
        "log 0 = -inf. Keep log alpha throughout: products become sums and sums become "
        "np.logaddexp.",
        _forward_variant(space="prob"),
    ),
    (
        "naive-logsumexp",
        "log(exp(a) + exp(b) + exp(c)) underflows once every term is below about -745 (exp "
        "gives 0): use np.logaddexp, which factors out the largest term.",
        _forward_variant(space="naive"),
    ),
    (
        "start-on-blank-only",
        "alpha_1 must cover the first two positions of l': a path may start with the blank "
        "or directly with the first label.",
        _forward_variant(start=1),
    ),
    (
        "no-trailing-blank",
        "l' has 2S + 1 positions, (b, l_1, b, ..., l_S, b): the blank-extended target also ends "
        "with a blank.",
        _forward_variant(trailing=False),
    ),
)

_FORWARD_CASES = (
    {"T": 8, "C": 5, "target": (2, 2, 3)},  # a repeated label
    {"T": 6, "C": 4, "target": (1, 3, 2)},  # different labels: skips allowed everywhere
    {"T": 600, "C": 6, "S": 4},  # long enough for the probabilities to underflow
    {"T": 5, "C": 3, "target": ()},  # the empty target: l' = (b,)
    {"T": 7, "C": 5, "target": (0, 0, 1), "blank": 4},  # the blank is the last class
)

# ---------------------------------------------------------------------------------------------
# task 2: the batched loss with lengths and reductions, as torch.nn.functional.ctc_loss
# ---------------------------------------------------------------------------------------------


def _ref_ctc_loss(
    log_probs: np.ndarray,
    targets: np.ndarray,
    input_lengths: np.ndarray,
    target_lengths: np.ndarray,
    blank: int = 0,
    reduction: str = "mean",
) -> Any:
    # L_n = -log p(l_n | x_n) over the first input_lengths[n] frames and target_lengths[n] labels
    losses = _ref_loss_np(log_probs, targets, input_lengths, target_lengths, blank)  # (N,)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return float(losses.sum())
    # "mean": each loss divided by its target length (at least 1), then the batch mean
    return float((losses / np.maximum(np.asarray(target_lengths), 1)).mean())


def _loss_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    """``case``: ``T``, ``N``, ``C``, ``S`` (width of the padded targets), ``input_lengths``,
    ``target_lengths`` (explicit, default ``T`` and ``S`` for everyone), ``reduction``,
    ``blank`` (0). Item 0 repeats its first label; the padding holds labels, not blanks."""
    T, N, C, S = case["T"], case["N"], case["C"], case["S"]
    blank = case.get("blank", 0)
    log_probs = _log_softmax(rng.normal(size=(T, N, C)))  # (T, N, C)
    targets = np.stack([_random_target(rng, S, C, blank, repeat=n == 0) for n in range(N)])
    input_lengths = np.array(case.get("input_lengths", (T,) * N), dtype=np.int64)
    target_lengths = np.array(case.get("target_lengths", (S,) * N), dtype=np.int64)
    kwargs: dict[str, Any] = {"reduction": case["reduction"]}
    if "blank" in case:
        kwargs["blank"] = blank
    return (log_probs, targets, input_lengths, target_lengths), kwargs


def _end(log_alpha: np.ndarray, S: int, which: str) -> float:
    """log p(l|x) read from the last row of alpha, correctly or by one of the mistakes."""
    last = log_alpha[-1]  # (2S + 1,)
    if S == 0:
        return float(last[0])
    if which == "label":
        return float(last[2 * S - 1])
    if which == "blank":
        return float(last[2 * S])
    if which == "shifted":
        return float(_logaddexp(last[2 * S - 2], last[2 * S - 1]))
    return float(_logaddexp(last[2 * S - 1], last[2 * S]))


def _loss_variant(
    end: str = "both",
    input_lengths_used: bool = True,
    target_lengths_used: bool = True,
    sign: float = -1.0,
    mean: str = "per-target",
    sum_as: str = "sum",
) -> Callable[..., Any]:
    """A mistaken ``ctc_loss``: ``end`` which final states are read, ``mean`` how "mean" is
    taken (``"per-target"`` right, ``"plain"``, ``"pooled"``, ``"sum"``), ``sum_as`` what
    "sum" returns (``"sum"`` right, ``"mean"``)."""

    def variant(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean"):
        T, N, _ = log_probs.shape
        losses = np.empty(N)
        for n in range(N):
            T_n = int(input_lengths[n]) if input_lengths_used else T
            S_n = int(target_lengths[n]) if target_lengths_used else targets.shape[1]
            if T_n == 0:
                losses[n] = 0.0 if S_n == 0 else np.inf
                continue
            log_alpha = _ref_forward(log_probs[:T_n, n], targets[n, :S_n], blank)
            losses[n] = sign * _end(log_alpha, S_n, end)
        lengths = np.maximum(np.asarray(target_lengths), 1)
        if reduction == "none":
            return losses
        if reduction == "sum":
            return float(losses.sum()) if sum_as == "sum" else float((losses / lengths).mean())
        if mean == "plain":
            return float(losses.mean())
        if mean == "pooled":
            return float(losses.sum() / lengths.sum())
        if mean == "sum":
            return float(losses.sum())
        return float((losses / lengths).mean())

    return variant


_LOSS_MISTAKES = (
    (
        "last-label-only",
        "only alpha_T(2S) is read (paths that end on the last label); paths may also end on the "
        "final blank: p(l|x) = alpha_T(2S) + alpha_T(2S + 1), log_alpha[-1, -2:] in 0-based "
        "positions.",
        _loss_variant(end="label"),
    ),
    (
        "final-blank-only",
        "only alpha_T(2S + 1) is read (paths that end on the final blank); paths may also end "
        "on the last label: p(l|x) = alpha_T(2S) + alpha_T(2S + 1).",
        _loss_variant(end="blank"),
    ),
    (
        "final-states-off-by-one",
        "the final states are off by one: you read the last label and the blank before it; "
        "a complete path ends on the last label or the final blank, 0-based positions 2S - 1 "
        "and 2S (log_alpha[-1, -2:]).",
        _loss_variant(end="shifted"),
    ),
    (
        "not-negated",
        "the loss is -log p(l|x): yours has the wrong sign.",
        _loss_variant(sign=1.0),
    ),
    (
        "input-lengths-ignored",
        "the input lengths are ignored: item n uses only its first input_lengths[n] frames "
        "(log_probs[:input_lengths[n], n]); the rest is padding.",
        _loss_variant(input_lengths_used=False),
    ),
    (
        "target-lengths-ignored",
        "the target lengths are ignored: item n's target is targets[n, :target_lengths[n]]; "
        "the rest of the row is padding.",
        _loss_variant(target_lengths_used=False),
    ),
    (
        "sum-for-mean",
        'reduction="mean" returns the sum over the batch; it is the mean over the batch of '
        "each loss divided by its target length.",
        _loss_variant(mean="sum"),
    ),
    (
        "mean-not-per-target",
        'reduction="mean" is the plain mean of the losses; like torch, divide each loss by its '
        "own target length (at least 1) first, then average over the batch.",
        _loss_variant(mean="plain"),
    ),
    (
        "mean-pooled",
        'reduction="mean" divides the total loss by the total target length; torch divides '
        "each loss by its own target length, then averages over the batch.",
        _loss_variant(mean="pooled"),
    ),
    (
        "mean-for-sum",
        'reduction="sum" returns a mean; it is the plain sum of the per-item losses.',
        _loss_variant(sum_as="mean"),
    ),
)

_LOSS_CASES = (
    # item 0 repeats a label; items 1-3 have input lengths < T; item 2's target is empty
    {
        "T": 12,
        "N": 4,
        "C": 5,
        "S": 3,
        "input_lengths": (12, 9, 6, 8),
        "target_lengths": (3, 2, 0, 3),
        "reduction": "none",
    },
    {"T": 10, "N": 3, "C": 4, "S": 3, "target_lengths": (3, 1, 2), "reduction": "mean"},
    {"T": 9, "N": 3, "C": 4, "S": 2, "input_lengths": (9, 7, 5), "reduction": "sum"},
)

# ---------------------------------------------------------------------------------------------
# task 3: greedy (best-path) decoding
# ---------------------------------------------------------------------------------------------


def _path(rng: np.random.Generator, T: int, C: int, blank: int) -> np.ndarray:
    """A random path of runs (1-3 frames) of symbols, about a third of them blanks."""
    path: list[int] = []
    labels = [k for k in range(C) if k != blank]
    while len(path) < T:
        symbol = blank if rng.random() < 0.35 else int(rng.choice(labels))
        path += [symbol] * int(rng.integers(1, 4))
    return np.array(path[:T], dtype=np.int64)


def _greedy_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    """``case``: ``T``, ``N`` (``None``: unbatched), ``C``, ``input_lengths`` (optional),
    ``blank`` (0). Item 0 starts with ``k k - k`` (two labels), the last of three or more
    items is all blank, and the frames past each length hold labels."""
    T, N, C, blank = case["T"], case.get("N"), case["C"], case.get("blank", 0)
    items = 1 if N is None else N
    paths = np.stack([_path(rng, T, C, blank) for _ in range(items)], axis=1)  # (T, items)
    k = int(rng.choice([c for c in range(C) if c != blank]))
    paths[:4, 0] = [k, k, blank, k][:T]
    if items >= 3:
        lengths = case.get("input_lengths", (T,) * items)
        paths[: lengths[-1], -1] = blank
    # the path's symbol is the most probable at every frame: margin 3 over noise in [-1, 1]
    scores = rng.uniform(-1.0, 1.0, size=(T, items, C))
    scores[np.arange(T)[:, None], np.arange(items)[None, :], paths] += 3.0
    log_probs = _log_softmax(scores)  # (T, items, C)
    if N is None:
        log_probs = log_probs[:, 0]  # (T, C)
    kwargs: dict[str, Any] = {}
    if "input_lengths" in case:
        kwargs["input_lengths"] = np.array(case["input_lengths"], dtype=np.int64)
    if "blank" in case:
        kwargs["blank"] = blank
    return (log_probs,), kwargs


def _greedy_variant(kind: str) -> Callable[..., Any]:
    """A mistaken ``greedy_decode``: ``kind`` in ``blanks-kept``, ``no-merge``,
    ``blanks-first``, ``lengths-ignored``, ``blank-zero``."""

    def decode(path: list[int], blank: int) -> list[int]:
        if kind == "blank-zero":
            blank = 0
        if kind == "blanks-first":
            path = [k for k in path if k != blank]
        out: list[int] = []
        prev = None
        for k in path:
            if (k != prev or kind == "no-merge") and (k != blank or kind == "blanks-kept"):
                out.append(int(k))
            prev = k
        return out

    def variant(log_probs, input_lengths=None, blank=0):
        unbatched = log_probs.ndim == 2
        lp = log_probs[:, None] if unbatched else log_probs
        T, N, _ = lp.shape
        lengths = [T] * N if input_lengths is None or kind == "lengths-ignored" else input_lengths
        best = lp.argmax(axis=2)  # (T, N)
        out = [decode(best[: int(lengths[n]), n].tolist(), blank) for n in range(N)]
        return out[0] if unbatched else out

    return variant


_GREEDY_MISTAKES = (
    (
        "blanks-kept",
        "the blanks are still in the output: after merging repeats, drop every blank.",
        _greedy_variant("blanks-kept"),
    ),
    (
        "repeats-not-merged",
        "repeats are not merged: the path 3 3 - 7 decodes to 3 7, one label per run of equal "
        "symbols.",
        _greedy_variant("no-merge"),
    ),
    (
        "blanks-dropped-first",
        "the blanks are dropped before the repeats are merged, so k - k becomes a single k. "
        "Merge repeats first (a blank separates two copies of a label), then drop the blanks.",
        _greedy_variant("blanks-first"),
    ),
    (
        "lengths-ignored",
        "the input lengths are ignored: decode only the first input_lengths[n] frames of item "
        "n; the rest is padding.",
        _greedy_variant("lengths-ignored"),
    ),
    (
        "blank-hard-coded",
        "the blank is taken to be class 0; use the blank argument (here it is another class).",
        _greedy_variant("blank-zero"),
    ),
)

_GREEDY_CASES = (
    {"T": 12, "N": 3, "C": 4},
    {"T": 10, "N": 3, "C": 5, "input_lengths": (10, 7, 4)},
    {"T": 9, "N": 2, "C": 4, "blank": 3},
)

# ---------------------------------------------------------------------------------------------
# task 4: edit distance and label error rate
# ---------------------------------------------------------------------------------------------


def _tokens(rng: np.random.Generator, n: int, vocab: int, as_str: bool) -> Any:
    ids = [int(i) for i in rng.integers(0, vocab, size=n)]
    return "".join("abcdefghij"[i] for i in ids) if as_str else ids


def _edit_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    """``case``: explicit ``a``, ``b``, or random ``len_a``, ``len_b`` over ``vocab`` tokens
    (``as_str``: as strings of letters)."""
    if "a" in case:
        return (case["a"], case["b"]), {}
    as_str, vocab = case.get("as_str", False), case.get("vocab", 3)
    a = _tokens(rng, case["len_a"], vocab, as_str)
    b = _tokens(rng, case["len_b"], vocab, as_str)
    return (a, b), {}


def _edit_variant(kind: str) -> Callable[[Sequence, Sequence], int]:
    """A mistaken ``edit_distance``: ``substitution-2``, ``match-1``, ``zero-border``,
    ``positionwise``."""

    def variant(a: Sequence, b: Sequence) -> int:
        if kind == "positionwise":
            return sum(x != y for x, y in zip(a, b, strict=False)) + abs(len(a) - len(b))
        border = kind != "zero-border"
        prev = [j if border else 0 for j in range(len(b) + 1)]
        for i, x in enumerate(a, start=1):
            row = [i if border else 0]
            for j, y in enumerate(b, start=1):
                cost = {"substitution-2": 2 * (x != y), "match-1": 1}.get(kind, int(x != y))
                row.append(min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost))
            prev = row
        return prev[-1]

    return variant


_EDIT_MISTAKES = (
    (
        "substitution-costs-two",
        "a substitution is one edit: D[i-1, j-1] + (a_i != b_j), not + 2 (that counts it as a "
        "deletion plus an insertion).",
        _edit_variant("substitution-2"),
    ),
    (
        "match-costs-one",
        "a match costs nothing: the diagonal move adds (a_i != b_j), 0 when the tokens agree.",
        _edit_variant("match-1"),
    ),
    (
        "zero-border",
        "the first row and column are D[i, 0] = i and D[0, j] = j (turning i tokens into none "
        "takes i deletions), not zeros.",
        _edit_variant("zero-border"),
    ),
    (
        "position-by-position",
        "comparing the sequences position by position misses insertions and deletions, which "
        "shift everything after them: fill the table D[i, j] of prefix distances.",
        _edit_variant("positionwise"),
    ),
)

_EDIT_CASES = (
    {"a": "kitten", "b": "sitting"},
    {"len_a": 7, "len_b": 5, "vocab": 3},
    {"a": [3, 1, 4, 1, 5], "b": [1, 4, 1, 5, 9]},  # one deletion, one insertion
    {"a": [], "b": [2, 7, 1]},
    {"len_a": 6, "len_b": 6, "vocab": 2, "as_str": True},
)


def _error_rate_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    """``case``: ``N`` utterances of 1..``max_len`` labels over ``vocab``; each hypothesis is
    its reference with random substitutions, deletions and insertions; ``empty_hypothesis``
    makes the last one empty (an all-blank decode)."""
    N, max_len, vocab = case["N"], case["max_len"], case.get("vocab", 5)
    references, hypotheses = [], []
    for _ in range(N):
        ref = [int(k) for k in rng.integers(1, vocab + 1, size=int(rng.integers(1, max_len + 1)))]
        hyp: list[int] = []
        for k in ref:
            u = rng.random()
            if u < 0.15:
                continue  # deleted
            hyp.append(int(rng.integers(1, vocab + 1)) if u < 0.35 else k)
            if rng.random() < 0.1:
                hyp.append(int(rng.integers(1, vocab + 1)))  # inserted
        references.append(ref)
        hypotheses.append(hyp)
    if case.get("empty_hypothesis"):
        hypotheses[-1] = []
    return (hypotheses, references), {}


def _error_rate_variant(kind: str) -> Callable[[Sequence, Sequence], float]:
    """A mistaken ``error_rate``: ``mean-of-rates``, ``hypothesis-length``, ``no-division``,
    ``percent``, ``accuracy``."""

    def variant(hypotheses: Sequence, references: Sequence) -> float:
        edits = [_ref_edit_distance(h, r) for h, r in zip(hypotheses, references, strict=True)]
        if kind == "mean-of-rates":
            return float(np.mean([e / len(r) for e, r in zip(edits, references, strict=True)]))
        if kind == "hypothesis-length":
            return sum(edits) / sum(len(h) for h in hypotheses)
        if kind == "no-division":
            return float(sum(edits))
        rate = sum(edits) / sum(len(r) for r in references)
        return 100 * rate if kind == "percent" else 1 - rate

    return variant


_ERROR_RATE_MISTAKES = (
    (
        "mean-of-rates",
        "this averages each utterance's error rate; the label error rate is the total edit "
        "distance over the total reference length, so long utterances weigh more.",
        _error_rate_variant("mean-of-rates"),
    ),
    (
        "hypothesis-length",
        "divide by the total length of the references (the truth), not of the hypotheses.",
        _error_rate_variant("hypothesis-length"),
    ),
    (
        "not-divided",
        "this is the total edit distance; the error rate divides it by the total reference length.",
        _error_rate_variant("no-division"),
    ),
    (
        "percent",
        "return the rate as a fraction (0.25 for one error in four labels), not as a percentage.",
        _error_rate_variant("percent"),
    ),
    (
        "accuracy",
        "this is one minus the error rate, an accuracy; return the edits per reference label.",
        _error_rate_variant("accuracy"),
    ),
)

_ERROR_RATE_CASES = (
    {"N": 5, "max_len": 6},
    {"N": 3, "max_len": 4, "empty_hypothesis": True},
)


def _mistakes(entries: tuple[tuple[str, str, Callable[..., Any]], ...]) -> tuple:
    return tuple(Mistake(*entry) for entry in entries)


register(
    Spec(
        "ctc_forward_np",
        _ref_forward,
        _forward_inputs,
        _FORWARD_CASES,
        backend="numpy",
        mistakes=_mistakes(_FORWARD_MISTAKES),
        forbidden=_CTC_LOSSES,
    )
)

register(
    Spec(
        "ctc_loss",
        _ref_ctc_loss,
        _loss_inputs,
        _LOSS_CASES,
        backend="numpy",
        mistakes=_mistakes(_LOSS_MISTAKES),
        forbidden=_CTC_LOSSES,
    )
)

register(
    Spec(
        "greedy_decode",
        _ref_greedy,
        _greedy_inputs,
        _GREEDY_CASES,
        backend="numpy",
        mistakes=_mistakes(_GREEDY_MISTAKES),
        forbidden=(
            "rnncourse.ctc.greedy_decode",
            "rnncourse.ctc._collapse",
            "rnncourse.ctc.prefix_beam_search",
        ),
    )
)

register(
    Spec(
        "edit_distance",
        _ref_edit_distance,
        _edit_inputs,
        _EDIT_CASES,
        backend="python",
        mistakes=_mistakes(_EDIT_MISTAKES),
    )
)

register(
    Spec(
        "error_rate",
        _ref_error_rate,
        _error_rate_inputs,
        _ERROR_RATE_CASES,
        backend="python",
        mistakes=_mistakes(_ERROR_RATE_MISTAKES),
        forbidden=("rnncourse.ctc.edit_distance",),
    )
)


# -- trained model: a recogniser of spoken digit strings, on voices it never heard ------------

#: 10 digits (labels 1..10) and the blank (0)
_CLASSES = 11
_LER_THRESHOLD = 0.2


@lru_cache(maxsize=2)
def _spoken(split: str) -> tuple[torch.Tensor, ...]:
    return _load_spoken_digits(split)


def _truth(labels: torch.Tensor, label_lengths: torch.Tensor) -> list[list[int]]:
    return [labels[n, : int(k)].tolist() for n, k in enumerate(label_lengths)]


def _recognizer_data(seed: int) -> tuple[tuple, tuple, tuple]:
    """Train on voices 0-8, test on the unseen voices 9-11 (fresh copies for every check).

    The data are fixed (they ship with the package); ``seed`` only seeds torch's generator
    before training, in ``check_trained``.
    """
    train = tuple(t.clone() for t in _spoken("train"))
    x_test, lengths, labels, label_lengths = (t.clone() for t in _spoken("test"))
    return train, (x_test, lengths), (labels, label_lengths)


def _recognizer_ler(p: np.ndarray, x_test: tuple, y_test: tuple) -> float:
    """Greedy CTC decoding of the model's (T, N, 11) output, then the label error rate."""
    hypotheses: Any = _ref_greedy(p, x_test[1].numpy())  # one list of labels per utterance
    return _ref_error_rate(hypotheses, _truth(*y_test))


def _recognizer_shape(x_test: tuple, y_test: tuple) -> tuple[int, ...]:
    x = x_test[0]
    return (int(x.shape[0]), int(x.shape[1]), _CLASSES)


def _most_common_sequence(x_test: tuple, y_test: tuple) -> float:
    """The label error rate of answering every test utterance with the commonest training one."""
    train = _spoken("train")
    counts = Counter(tuple(t) for t in _truth(train[2], train[3]))
    best = list(counts.most_common(1)[0][0])
    truth = _truth(*y_test)
    return _ref_error_rate([best] * len(truth), truth)


def _recognizer_advice(p: np.ndarray) -> str | None:
    """What a recogniser's log-probabilities (T, N, 11) show that a regression's cannot."""
    best = p.argmax(axis=-1)  # (T, N)
    if (best == 0).mean() > 0.995:
        return (
            "It outputs the blank at (almost) every frame, so it decodes to empty strings: "
            "CTC training starts there and the model has stopped too early. Train longer or "
            "with a larger learning rate (Adam at about 1e-2), and check that the loss gets "
            "the input lengths and target lengths of each utterance."
        )
    total = np.logaddexp.reduce(p.astype(np.float64), axis=-1)  # log sum_k y_k, 0 for log-probs
    if abs(total).max() > 1e-3:
        return (
            "Its outputs are not log-probabilities (they do not log-sum-exp to 0 over the "
            "11 classes): end the model with log_softmax(dim=-1), which is also what "
            "ctc_loss expects."
        )
    return None


register_benchmark(
    Benchmark(
        "train_recognizer",
        _recognizer_data,
        "ler",
        _most_common_sequence,
        "answering every utterance with the commonest training digit string",
        lambda baseline: _LER_THRESHOLD,
        evaluate=_recognizer_ler,
        output_shape=_recognizer_shape,
        advice=_recognizer_advice,
    )
)
