"""Exercise 10, applications (forecasting): ``make_windows``, ``naive_forecast`` and the
trained ``train_forecaster``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from rnncourse.grading import (
    Benchmark,
    Case,
    Inputs,
    Mistake,
    Spec,
    _add_benchmark,
    _as_array,
    _register,
    _score,
)

_data = importlib.import_module("rnncourse.data")


def _ref_make_windows(series: torch.Tensor, window: int, horizon: int):
    # X^(m) = (s_m, ..., s_{m+w-1}), y^(m) = (s_{m+w}, ..., s_{m+w+h-1})
    return _data.sliding_windows(series, window, horizon)  # (w, M, 1), (M, h)


def _windows_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    series = np.cumsum(rng.normal(size=case["T"]))
    return (series, int(case["window"]), int(case["horizon"])), {}


def _windows_variant(kind: str) -> Callable[..., Any]:
    def variant(series, window, horizon):
        if kind == "batch-first":
            return _data.sliding_windows(series, window, horizon, batch_first=True)
        if kind == "horizon-ignored":
            return _data.sliding_windows(series, window, 1)
        X, y = _data.sliding_windows(series, window, horizon)
        if kind == "no-feature-dim":
            return X[..., 0], y
        if kind == "overlap":  # y^(m) = (s_{m+w-1}, ...): starts at the window's last value
            M = X.shape[1]
            steps = torch.arange(M)[:, None] + torch.arange(horizon)  # (M, h)
            return X, series[steps.to(series.device) + window - 1]
        return X[:, :-1], y[:-1]  # "one-short"

    return variant


def _ref_naive_forecast(X: torch.Tensor, horizon: int) -> torch.Tensor:
    # ŷ_{t+k} = s_t for k = 1..h: the last value of each window, repeated
    return X[-1, :, 0, None].expand(-1, horizon).clone()  # (M, h)


def _naive_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    w, M = case["window"], case["M"]
    X = np.cumsum(rng.normal(size=(w, M, 1)), axis=0)
    return (X, int(case["horizon"])), {}


def _naive_variant(kind: str) -> Callable[..., Any]:
    def variant(X, horizon):
        if kind == "not-repeated":
            return X[-1, :, 0, None].clone()  # (M, 1) whatever the horizon
        value = {"first": X[0, :, 0], "mean": X[:, :, 0].mean(0), "second-last": X[-2, :, 0]}[kind]
        return value[:, None].expand(-1, horizon).clone()

    return variant


_register(
    Spec(
        "make_windows",
        _ref_make_windows,
        _windows_inputs,
        ({"T": 10, "window": 3, "horizon": 1}, {"T": 12, "window": 4, "horizon": 3}),
        outputs=('X', 'y'),
        mistakes=(
            Mistake("batch-first", "X is time-major: shape (window, M, 1), window steps first "
                    "(an RNN reads X[t]); yours is (M, window, 1).",
                    _windows_variant("batch-first")),
            Mistake("overlap", "the target starts one step too early: the first value to "
                    "predict, s_{m+w}, comes right *after* the window's last value s_{m+w-1}.",
                    _windows_variant("overlap")),
            Mistake("one-short", "the last window is missing: a series of length T gives "
                    "M = T - window - horizon + 1 windows.", _windows_variant("one-short")),
            Mistake("horizon-ignored", "the horizon is ignored: y^(m) holds the next `horizon` "
                    "values, shape (M, horizon), and M = T - window - horizon + 1.",
                    _windows_variant("horizon-ignored")),
            Mistake("no-feature-dim", "X needs its feature dimension: shape (window, M, 1), "
                    "one feature per step, as an RNN's input (T, N, H_in).",
                    _windows_variant("no-feature-dim")),
        ),
        forbidden=("rnncourse.data.sliding_windows",),
    )
)  # fmt: skip
_register(
    Spec(
        "naive_forecast",
        _ref_naive_forecast,
        _naive_inputs,
        ({"window": 4, "M": 5, "horizon": 1}, {"window": 3, "M": 2, "horizon": 3}),
        mistakes=(
            Mistake("first", "this repeats the window's first value; the naive forecast repeats "
                    "the last one, X[-1].", _naive_variant("first")),
            Mistake("mean", "this is the window's mean; the naive forecast repeats its last "
                    "value, X[-1].", _naive_variant("mean")),
            Mistake("not-repeated", "the forecast covers every step of the horizon: repeat the "
                    "last value horizon times, shape (M, horizon).",
                    _naive_variant("not-repeated")),
            Mistake("second-last", "this repeats the window's second-to-last value; the last "
                    "one is X[-1].", _naive_variant("second-last")),
        ),
    )
)  # fmt: skip


# -- trained model: one-step-ahead forecasts of the yearly sunspot numbers -------------------

_SUNSPOT_WINDOW = 12


def _sunspot_data(seed: int) -> tuple[tuple, torch.Tensor, torch.Tensor]:
    # standardised with the training part's statistics; the test part is the last 20 %
    _, counts = _data.load_sunspots(torch.float32)
    train, test = _data.train_test_split_series(counts, 0.2)
    mean, std = train.mean(), train.std()
    z_train, z_all = (train - mean) / std, (counts - mean) / std
    X, y = _data.sliding_windows(z_train, _SUNSPOT_WINDOW)
    # test windows: inputs may reach back into the training years, targets are test years
    start = z_all.shape[0] - test.shape[0] - _SUNSPOT_WINDOW
    X_test, y_test = _data.sliding_windows(z_all[start:], _SUNSPOT_WINDOW)
    return (X, y), X_test, y_test


def _naive_mae(x_test: torch.Tensor, y_test: torch.Tensor) -> float:
    _, x = _as_array(x_test)
    _, y = _as_array(y_test)
    return _score("mae", x[-1, :, 0][:, None] + y * 0, y)  # last value, repeated


_add_benchmark(
    Benchmark(
        "train_forecaster",
        _sunspot_data,
        "mae",
        _naive_mae,
        "the naive forecast (repeat the last value)",
        lambda baseline: 0.8 * baseline,
    )
)
