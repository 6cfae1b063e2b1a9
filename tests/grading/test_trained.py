"""Trained tasks (:mod:`rnncourse.grading.trained`) on a toy benchmark registered here: the
scores, every refusal of a training function or its model, and the advice that fits what the
predictions show."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnncourse.grading import trained, verdict
from rnncourse.grading.trained import (
    Benchmark,
    _trained_advice,
    benchmark_score,
    check_trained,
    metric_score,
)

T, N = 3, 4


def _data(seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(T, N, 1, generator=g, dtype=torch.float64)
    y = x.sum(0)  # (N, 1): the sum over time
    return (x, y), x, y


class _Sum(torch.nn.Module):
    def forward(self, x):
        return x.sum(0)


class _Mean(torch.nn.Module):
    def forward(self, x):
        return x.mean(0)


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch):
    """A benchmark "toy": predict the sum over time; the baseline scores 1, the target is half
    of it."""
    monkeypatch.setattr(trained, "_BENCHMARKS", dict(trained._BENCHMARKS))
    monkeypatch.setattr(verdict, "LAST_PASS", [None])

    def register(**fields):
        base = {
            "name": "toy",
            "make_data": _data,
            "metric": "mse",
            "baseline": lambda x, y: 1.0,
            "baseline_label": "predicting 0",
            "target": lambda b: b / 2,
        }
        trained.register_benchmark(Benchmark(**{**base, **fields}))

    register()
    return register


def _verdict(name, fn) -> str:
    with pytest.raises(AssertionError) as info:
        check_trained(name, fn)
    return str(info.value)


def test_metric_score() -> None:
    pred, target = np.array([1.0, -3.0]), np.zeros(2)
    assert metric_score("mse", pred, target) == 5.0
    assert metric_score("mae", pred, target) == 2.0


def test_benchmark_score(toy) -> None:
    """Is a model scored on the seed's test set against the baseline and threshold, and a
    model whose output is not a tensor of the right shape scored nan?"""
    assert benchmark_score("toy", _Sum()) == (0.0, 1.0, 0.5)
    _, x, y = _data(3)
    score, _, _ = benchmark_score("toy", _Mean(), seed=3)
    assert score == pytest.approx(float(((x.mean(0) - y) ** 2).mean()))
    wrong = [lambda x: x.sum(0).numpy(), lambda x: x.sum(0)[:, 0]]
    for model in wrong:
        assert all(math.isnan(v) for v in benchmark_score("toy", model))


def test_benchmark_score_with_tuple_inputs_output_shape_and_evaluate(toy) -> None:
    """Does a tuple of test inputs reach the model as its arguments, and do output_shape and
    evaluate replace the targets' shape and the metric?"""

    def data(seed):
        (x, y), _, _ = _data(seed)
        return (x, y), (x, torch.ones(N)), y

    toy(
        make_data=data,
        output_shape=lambda x, y: (T, N),
        metric="count",
        evaluate=lambda p, x, y: float(p.sum()),
    )
    assert benchmark_score("toy", lambda x, w: x[..., 0] * 0 + w)[0] == T * N
    assert math.isnan(benchmark_score("toy", lambda x, w: x.sum(0))[0])


def test_check_trained_passes_and_says_the_scores(toy, capsys) -> None:
    seen = []

    def train(x, y):
        seen.append((torch.rand(1), torch.get_num_threads()))
        return _Sum()

    before = torch.get_num_threads()
    check_trained("toy", train, seed=5)
    torch.manual_seed(5)
    assert torch.equal(seen[0][0], torch.rand(1)) and seen[0][1] == 1
    assert torch.get_num_threads() == before
    assert capsys.readouterr().out == (
        "toy passes: the trained model's test MSE is 0, below 0.5 (predicting 0 scores 1).\n"
    )


def test_the_model_is_put_in_eval_mode_and_run_without_gradients(toy) -> None:
    modes = []

    class Watch(_Sum):
        def forward(self, x):
            modes.append((self.training, torch.is_grad_enabled()))
            return super().forward(x)

    check_trained("toy", lambda x, y: Watch())
    assert modes == [(False, False)]


def test_check_trained_refusals(toy) -> None:
    """Are an unknown task, a non-function, a training function that fails, a result that is
    not a module, a model that fails on the test inputs, and predictions of the wrong kind or
    shape each refused in their words?"""
    with pytest.raises(KeyError, match=r"no trained task called 'nope'; known: \["):
        check_trained("nope", len)
    assert _verdict("toy", 3) == "toy: expected a function, got int"

    def fails(x, y):
        raise ValueError("no data")

    assert _verdict("toy", fails) == "toy raised ValueError: no data\n  for toy((3, 4, 1), (4, 1))"
    assert _verdict("toy", lambda x, y: _Sum) == (
        "toy must return the trained torch.nn.Module, got type"
    )

    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("bad")

    assert _verdict("toy", lambda x, y: Broken()) == (
        "toy raised RuntimeError: bad\n  for the returned model on the test inputs (3, 4, 1)"
    )

    class AsNumPy(torch.nn.Module):
        def forward(self, x):
            return x.sum(0).numpy()

    assert _verdict("toy", lambda x, y: AsNumPy()) == (
        "toy: for test inputs of shape (3, 4, 1) the model's output is wrong: expected a torch "
        "tensor of predictions, got a NumPy array"
    )

    class Flat(torch.nn.Module):
        def forward(self, x):
            return x.sum(0)[:, 0]

    assert _verdict("toy", lambda x, y: Flat()) == (
        "toy: for test inputs of shape (3, 4, 1) the model's output is wrong: expected "
        "predictions of shape (4, 1), got shape (4,)"
    )


def test_a_model_missing_the_target_says_its_score_and_advice(toy) -> None:
    class Off(torch.nn.Module):
        def forward(self, x):
            return x.sum(0) + 0.75  # MSE 0.75 ** 2 = 0.5625

    assert _verdict("toy", lambda x, y: Off()) == (
        "toy: the trained model's test MSE is 0.5625; it must be below 0.5. For comparison, "
        "predicting 0 scores 1. " + trained._TRAIN_MORE
    )


def test_a_model_the_probes_cannot_run_gets_the_general_advice(toy) -> None:
    """Is the general advice given when a probe of the model raises?"""
    calls = []

    class OnceOnly(torch.nn.Module):
        def forward(self, x):
            calls.append(1)
            if len(calls) > 1:
                raise RuntimeError("no more")
            return x.sum(0) * 3

    assert _verdict("toy", lambda x, y: OnceOnly()).endswith(trained._TRAIN_MORE)


def test_a_score_of_nan_is_not_below_the_target(toy) -> None:
    toy(baseline=lambda x, y: 1.0, target=lambda b: math.inf)

    class NaN(torch.nn.Module):
        def forward(self, x):
            return x.sum(0) * math.nan

    assert "test MSE is nan; it must be below inf" in _verdict("toy", lambda x, y: NaN())


# -- the advice -------------------------------------------------------------------------------


def _advice(predict, p, y, score=0.5, baseline=1.0, specific=None, x=None):
    x = torch.arange(float(T * N)).reshape(T, N, 1) if x is None else x
    return _trained_advice(predict, x, np.asarray(p, dtype=float), y, score, baseline, specific)


def _sums(x) -> np.ndarray:
    return np.asarray(x.sum(0), dtype=float)


X = torch.arange(float(T * N)).reshape(T, N, 1)
Y = _sums(X)


def test_advice_for_nan_and_task_specific_hints() -> None:
    p = Y.copy()
    p[0] = np.inf
    assert _advice(_sums, p, Y).startswith("Its predictions contain nan or inf: training diverged.")
    assert _advice(_sums, Y * 0.5, Y, specific=lambda p: "say this") == "say this"
    assert _advice(_sums, Y * 0.5, Y, specific=lambda p: None) == trained._TRAIN_MORE


def test_advice_for_predictions_that_do_not_vary() -> None:
    """Are predictions whose spread is under 5 % of the targets' (or, without targets, the same
    for every sequence) said to be the same for every test sequence?"""
    same = "Its predictions are nearly the same for every test sequence"
    spread = Y.std()
    flat = np.full_like(Y, 3.0) + np.linspace(0, 0.049 * spread, Y.size).reshape(Y.shape)
    assert _advice(_sums, flat, Y).startswith(same)
    varied = np.full_like(Y, 3.0) + np.linspace(0, 0.2 * spread, Y.size).reshape(Y.shape)
    assert not _advice(_sums, varied, Y).startswith(same)
    logits = np.ones((T, N, 2))
    assert _advice(lambda x: logits, logits, None).startswith(same)
    logits[:, 1] += 1.0
    assert not _advice(lambda x: np.ones((T, N, 2)), logits, None).startswith(same)


def test_advice_for_models_that_read_one_step() -> None:
    """Does a model whose predictions do not change when every step but the first (or the
    last) comes from another sequence read only that step?"""
    first, last = (lambda x: np.asarray(x[0], dtype=float)), (lambda x: np.asarray(x[-1], float))
    assert _advice(first, first(X), Y).startswith(
        "Its predictions depend only on the first time step"
    )
    assert _advice(last, last(X), Y).startswith("Its predictions depend only on the last time step")
    assert _advice(_sums, _sums(X), Y) == trained._TRAIN_MORE
    one_step = X[:1]
    assert _advice(first, first(one_step), _sums(one_step), x=one_step) == trained._TRAIN_MORE
    one_sequence = X[:, :1]
    assert _advice(last, last(one_sequence), _sums(one_sequence), x=one_sequence) == (
        trained._TRAIN_MORE
    )


def test_advice_for_a_model_no_better_than_the_baseline() -> None:
    hardly = "It does hardly better than the baseline"
    assert _advice(_sums, _sums(X), Y, score=0.91, baseline=1.0).startswith(hardly)
    assert _advice(_sums, _sums(X), Y, score=0.9, baseline=1.0) == trained._TRAIN_MORE
