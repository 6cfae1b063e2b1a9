"""Trained tasks: "does the learner's model beat the baseline on a test set it never saw?"

A task graded by the test score of a model the learner trains is a :class:`Benchmark`,
registered with :func:`register_benchmark` by its assignment's module. :func:`check_trained`
trains with the learner's function, predicts the held-out inputs and, when the score misses the
threshold, gives the advice that fits what the predictions show (diverged, constant, reading
only the first or the last step, no better than the baseline). Library modules
(``torch.nn.LSTM``) are allowed: training is the exercise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rnncourse.grading.checks import CallFailed, fail_call, invoke
from rnncourse.grading.compare import as_array, kind_name, shape_of
from rnncourse.grading.remote import Remote
from rnncourse.grading.verdict import fail, passed

__all__ = ["Benchmark", "benchmark_score", "check_trained", "metric_score", "register_benchmark"]


@dataclass(frozen=True)
class Benchmark:
    """How to grade a learner's training function by its model's score on held-out data.

    Args:
        name: the learner's function name.
        make_data: ``seed -> (train_args, x_test, y_test)``; the learner's function is called
            as ``fn(*train_args)`` and must return a ``torch.nn.Module`` mapping ``x_test`` to
            predictions shaped like ``y_test``. A tuple ``x_test`` is the model's arguments,
            ``model(*x_test)`` (the first is the input sequence the probes vary).
        metric: ``"mse"`` or ``"mae"`` (of the predictions against ``y_test``), or the name of
            what ``evaluate`` computes (``"ler"``); lower is better for every metric.
        baseline: ``(x_test, y_test) -> score`` of the baseline the model must beat.
        baseline_label: what the baseline is ("always predicting 1").
        target: ``baseline_score -> threshold``; the model's score must lie below it.
        evaluate: ``(predictions, x_test, y_test) -> score`` where the predictions are not
            compared with ``y_test`` element by element (a CTC recogniser's log-probabilities,
            decoded first); ``None`` for ``metric``.
        output_shape: ``(x_test, y_test) -> shape`` the predictions must have, where it is
            not ``y_test``'s.
        advice: ``predictions -> hint or None``, advice that only this task can give (a
            recogniser that outputs only blanks), tried after the nan check.
    """

    name: str
    make_data: Callable[[int], tuple[tuple, Any, Any]]
    metric: str
    baseline: Callable[[Any, Any], float]
    baseline_label: str
    target: Callable[[float], float]
    evaluate: Callable[[Any, Any, Any], float] | None = None
    output_shape: Callable[[Any, Any], tuple[int, ...]] | None = None
    advice: Callable[[Any], str | None] | None = None


_BENCHMARKS: dict[str, Benchmark] = {}


def metric_score(metric: str, pred: np.ndarray, target: np.ndarray) -> float:
    err = pred - target
    return float((err * err).mean()) if metric == "mse" else float(abs(err).mean())


def _model_args(x_test: Any) -> tuple:
    """A benchmark's test inputs as the model's positional arguments."""
    return tuple(x_test) if isinstance(x_test, tuple) else (x_test,)


def _benchmark_score(b: Benchmark, p: np.ndarray, x_test: Any, y_test: Any) -> float:
    if b.evaluate is not None:
        return float(b.evaluate(p, x_test, y_test))
    return metric_score(b.metric, p, as_array(y_test)[1])


def benchmark_score(name: str, model: Any, *, seed: int = 0) -> tuple[float, float, float]:
    """``(score, baseline, threshold)`` of a trained ``model`` on benchmark ``name``'s test set."""
    b = _BENCHMARKS[name]
    _, x_test, y_test = b.make_data(seed)
    with torch.no_grad():
        pred = model(*_model_args(x_test))
    kind, p = as_array(pred)
    shape = (
        tuple(b.output_shape(x_test, y_test))
        if b.output_shape
        else tuple(as_array(y_test)[1].shape)
    )
    if not kind.startswith("tensor") or tuple(p.shape) != shape:
        return math.nan, math.nan, math.nan
    baseline = b.baseline(x_test, y_test)
    return _benchmark_score(b, p, x_test, y_test), baseline, b.target(baseline)


def check_trained(name: str, fn: Callable[..., Any], *, seed: int = 0) -> None:
    """Train with the learner's ``fn`` and check that its model beats the benchmark's baseline.

    The training data and a held-out test set are built here from ``seed``; the learner's
    function only sees the training data. Runs on CPU on one thread, torch's generator seeded
    first, so that the result does not depend on what ran before.

    Raises:
        AssertionError: with the model's test score, the threshold and the baseline's score.
    """
    __tracebackhide__ = True
    if name not in _BENCHMARKS:
        raise KeyError(f"no trained task called {name!r}; known: {sorted(_BENCHMARKS)}")
    b = _BENCHMARKS[name]
    if not callable(fn):
        fail(f"{name}: expected a function, got {type(fn).__name__}")
    train_args, x_test, y_test = b.make_data(seed)
    test_args = _model_args(x_test)
    where = ", ".join(shape_of(a) for a in train_args)
    try:  # tiny models train faster on one thread, also on a busy machine
        model = invoke(fn, train_args, {}, seed=seed, threads=1)
    except CallFailed as error:
        fail_call(name, error, f"{name}({where})")
    is_module = model.is_module if isinstance(model, Remote) else isinstance(model, torch.nn.Module)
    if not is_module:
        fail(f"{name} must return the trained torch.nn.Module, got {type(model).__name__}")
    try:
        invoke(model, (), {}, attr="eval")
        pred = invoke(model, test_args, {}, no_grad=True)
    except CallFailed as error:
        fail_call(name, error, f"the returned model on the test inputs {shape_of(x_test)}")
    problem = None
    kind, p = as_array(pred)
    y = as_array(y_test)[1] if b.output_shape is None else None
    shape = (
        tuple(b.output_shape(x_test, y_test))
        if b.output_shape
        else tuple(as_array(y_test)[1].shape)
    )
    if not kind.startswith("tensor"):
        problem = f"expected a torch tensor of predictions, got {kind_name(kind)}"
    elif tuple(p.shape) != shape:
        problem = f"expected predictions of shape {shape_of(shape)}, got shape {shape_of(p)}"
    if problem:
        fail(
            f"{name}: for test inputs of shape {shape_of(x_test)} the model's output is wrong: "
            f"{problem}"
        )
    score = _benchmark_score(b, p, x_test, y_test)
    baseline = b.baseline(x_test, y_test)
    threshold = b.target(baseline)
    if not (score < threshold):  # also catches nan

        def predict(x: Any) -> Any:
            return as_array(invoke(model, (x, *test_args[1:]), {}, no_grad=True))[1]

        try:
            advice = _trained_advice(predict, test_args[0], p, y, score, baseline, b.advice)
        except Exception:  # a probe the model cannot take: give the general advice
            advice = _TRAIN_MORE
        fail(
            f"{name}: the trained model's test {b.metric.upper()} is {score:.4g}; it must be "
            f"below {threshold:.4g}. For comparison, {b.baseline_label} scores {baseline:.4g}. "
            + advice
        )
    passed(
        f"{name} passes: the trained model's test {b.metric.upper()} is {score:.4g}, below "
        f"{threshold:.4g} ({b.baseline_label} scores {baseline:.4g})."
    )


_TRAIN_MORE = (
    "It has learned part of the task: train longer, with a larger learning rate or a larger "
    "hidden size."
)


def _trained_advice(
    predict: Callable[[Any], Any],
    x_test: Any,
    p: Any,
    y: Any,
    score: float,
    baseline: float,
    specific: Callable[[Any], str | None] | None = None,
) -> str:
    """Advice that fits what the trained model's predictions show, most telling first.

    ``y`` is ``None`` where the predictions are not shaped like the targets (a recogniser's
    log-probabilities); then "the same for every sequence" compares the sequences'
    predictions with each other.
    """
    if not np.isfinite(p).all():
        return (
            "Its predictions contain nan or inf: training diverged. Lower the learning "
            "rate, or clip the gradient norm (chapter 5)."
        )
    if specific is not None:
        hint = specific(p)
        if hint:
            return hint
    if y is None:  # (T, N, ...): compare the N sequences' predictions with each other
        same = p.std(axis=1).mean() < 1e-3 * (abs(p).max() + 1e-12)
    else:
        same = p.std() < 0.05 * y.std()
    if same:
        return (
            "Its predictions are nearly the same for every test sequence, so it has not "
            "learned to read its input: check that each batch calls loss.backward() and "
            "optimizer.step() (after optimizer.zero_grad()), and that the loss compares the "
            "model's output with the targets."
        )
    T, N = x_test.shape[0], x_test.shape[1]
    if T > 1 and N > 1:
        other = torch.roll(torch.arange(N), 1)  # every sequence's steps from another sequence
        scale = 1e-4 * (abs(p).max() + 1e-12)
        first_only = x_test.clone()
        first_only[1:] = x_test[1:, other]
        if abs(predict(first_only) - p).max() <= scale:
            return (
                "Its predictions depend only on the first time step: read the state after "
                "the last step (output[-1] or h_n), not output[0]."
            )
        last_only = x_test.clone()
        last_only[:-1] = x_test[:-1, other]
        if abs(predict(last_only) - p).max() <= scale:
            return (
                "Its predictions depend only on the last time step: the recurrence carries "
                "nothing from the earlier steps (is the state passed from step to step?)."
            )
    if score > 0.9 * baseline:
        return (
            "It does hardly better than the baseline: it may not be training (check "
            "zero_grad, backward and optimizer.step() in every batch), or the learning rate "
            "is far too small for the number of steps."
        )
    return _TRAIN_MORE


def register_benchmark(b: Benchmark) -> None:
    """Add ``b`` to the trained tasks (an assignment module calls this at import)."""
    _BENCHMARKS[b.name] = b
