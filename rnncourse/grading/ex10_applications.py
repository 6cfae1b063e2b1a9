"""Exercise 10, applications: forecasting (``make_windows``, ``naive_forecast``, the trained
``train_forecaster``) and character language models (``tempered_probs``, ``sample_next``,
``perplexity`` and the conceptual question ``ppl_from_bpc``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

import rnncourse.data as _data
from rnncourse.grading.answers import Answer, register_answer
from rnncourse.grading.compare import as_array
from rnncourse.grading.specs import Case, Inputs, Mistake, Spec, mistakes, register
from rnncourse.grading.trained import Benchmark, metric_score, register_benchmark


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


register(
    Spec(
        "make_windows",
        _ref_make_windows,
        _windows_inputs,
        ({"T": 10, "window": 3, "horizon": 1}, {"T": 12, "window": 4, "horizon": 3}),
        outputs=('X', 'y'),
        mistakes=mistakes(_windows_variant, {
            "batch-first": "X is time-major: shape (window, M, 1), window steps first (an RNN "
                           "reads X[t]); yours is (M, window, 1).",
            "overlap": "the target starts one step too early: the first value to predict, "
                       "s_{m+w}, comes right *after* the window's last value s_{m+w-1}.",
            "one-short": "the last window is missing: a series of length T gives M = T - window - "
                         "horizon + 1 windows.",
            "horizon-ignored": "the horizon is ignored: y^(m) holds the next `horizon` values, "
                               "shape (M, horizon), and M = T - window - horizon + 1.",
            "no-feature-dim": "X needs its feature dimension: shape (window, M, 1), one feature "
                              "per step, as an RNN's input (T, N, H_in).",
        }),
        forbidden=("rnncourse.data.sliding_windows",),
    )
)  # fmt: skip
register(
    Spec(
        "naive_forecast",
        _ref_naive_forecast,
        _naive_inputs,
        ({"window": 4, "M": 5, "horizon": 1}, {"window": 3, "M": 2, "horizon": 3}),
        mistakes=mistakes(_naive_variant, {
            "first": "this repeats the window's first value; the naive forecast repeats the last "
                     "one, X[-1].",
            "mean": "this is the window's mean; the naive forecast repeats its last value, X[-1].",
            "not-repeated": "the forecast covers every step of the horizon: repeat the last value "
                            "horizon times, shape (M, horizon).",
            "second-last": "this repeats the window's second-to-last value; the last one is "
                           "X[-1].",
        }),
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
    _, x = as_array(x_test)
    _, y = as_array(y_test)
    return metric_score("mae", x[-1, :, 0][:, None] + y * 0, y)  # last value, repeated


register_benchmark(
    Benchmark(
        "train_forecaster",
        _sunspot_data,
        "mae",
        _naive_mae,
        "the naive forecast (repeat the last value)",
        lambda baseline: 0.8 * baseline,
    )
)


# -- language models: sampling with a temperature, perplexity -----------------------------------

_softmax, _log_softmax, _multinomial = torch.softmax, torch.log_softmax, torch.multinomial
_PAD = _data.PAD


def _ref_tempered_probs(logits: torch.Tensor, tau: float) -> torch.Tensor:
    # p_τ(c) = exp(y_c / τ) / Σ_c' exp(y_c' / τ); τ = 0 is the limit: all mass on the argmax
    if tau == 0:
        return torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).to(logits.dtype)
    return _softmax(logits / tau, dim=-1)  # (N, V)


def _ref_sample_next(logits: torch.Tensor, tau: float, generator: torch.Generator):
    # c ~ p_τ, one draw per row from the given generator
    return _multinomial(_ref_tempered_probs(logits, tau), 1, generator=generator)[:, 0]  # (N,)


def _logits(rng: np.random.Generator, case: Case) -> np.ndarray:
    return rng.normal(size=(case["N"], case["V"])) * case.get("scale", 2.0)


def _tempered_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    return (_logits(rng, case), float(case["tau"])), {}


def _sample_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    # torch values made here (backend "python": CPU only, where the generator lives)
    logits = torch.from_numpy(_logits(rng, case))
    generator = torch.Generator().manual_seed(int(rng.integers(2**31)))
    return (logits, float(case["tau"]), generator), {}


def _tempered_variant(kind: str) -> Callable[..., Any]:
    def variant(logits, tau):
        if kind == "multiplied":
            return _softmax(logits * tau, dim=-1)
        if kind == "ignored":
            return _softmax(logits, dim=-1)
        if kind == "probs-divided":  # τ = 0 handled: "zero" is the mistake that does not
            if tau == 0:
                return _ref_tempered_probs(logits, tau)
            return _softmax(_softmax(logits, dim=-1) / tau, dim=-1)
        if kind == "wrong-axis":
            return _softmax(logits / tau, dim=0) if tau else _ref_tempered_probs(logits, tau)
        return _softmax(logits / tau, dim=-1)  # "zero": τ = 0 divides by zero (nan)

    return variant


def _sample_variant(kind: str) -> Callable[..., Any]:
    def variant(logits, tau, generator):
        if kind == "argmax":
            return logits.argmax(-1)
        probs = _tempered_variant(kind)(logits, tau)
        return _multinomial(probs, 1, generator=generator)[:, 0]

    return variant


def _ref_perplexity(logits: torch.Tensor, targets: torch.Tensor) -> float:
    # PPL = exp(-(1/n) Σ_t ln p(c_t | c_<t)) over the n real (non-PAD) targets; torch's loss
    nats = torch.nn.functional.cross_entropy(
        logits.flatten(0, 1), targets.flatten(), ignore_index=_PAD
    )
    return float(torch.exp(nats))


def _perplexity_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    T, N, V = case["T"], case["N"], case["V"]
    lengths = rng.integers(1, T + 1, size=N)
    lengths[0] = T
    if N > 1:
        lengths[-1] = max(1, T // 2)  # padding in every case with N > 1
    targets = rng.integers(_data.FIRST_SYMBOL, V, size=(T, N))
    targets[np.arange(T)[:, None] >= lengths[None, :]] = _PAD
    logits = rng.normal(size=(T, N, V)) * 1.5
    return (logits, targets.astype(np.int64)), {}


def _perplexity_variant(kind: str) -> Callable[..., Any]:
    def variant(logits, targets):
        logp = logits if kind == "logits" else _log_softmax(logits, dim=-1)
        nll = -logp.gather(-1, targets[..., None])[..., 0]  # (T, N)
        real = targets != _PAD if kind != "padding" else torch.ones_like(targets, dtype=torch.bool)
        mean = nll[real].mean()
        if kind == "sum":
            return float(torch.exp(nll[real].sum()))
        if kind == "base-2":
            return float(2.0**mean)
        if kind == "no-exp":
            return float(mean)
        if kind == "bits":
            return float(mean / math.log(2))
        if kind == "per-sequence":
            per = (nll * real).sum(0) / real.sum(0)  # (N,)
            return float(torch.exp(per).mean())
        return float(torch.exp(mean))  # "padding", "logits"

    return variant


register(
    Spec(
        "tempered_probs",
        _ref_tempered_probs,
        _tempered_inputs,
        ({"N": 3, "V": 5, "tau": 0.5}, {"N": 2, "V": 4, "tau": 2.0}, {"N": 3, "V": 6, "tau": 0.0}),
        mistakes=mistakes(_tempered_variant, {
            "multiplied": "the logits are multiplied by τ; they are divided by it: softmax(logits "
                          "/ tau).",
            "ignored": "τ has no effect: divide the logits by tau before the softmax.",
            "probs-divided": "the probabilities are divided by τ; the logits (scores) are: "
                             "softmax(logits / tau).",
            "wrong-axis": "the softmax runs over the batch; each row (dim=-1, the V characters) "
                          "must sum to 1.",
            "zero": "τ = 0 divides by zero: it is the limit τ → 0, all probability on the largest "
                    "logit (one_hot of the argmax).",
        }),
    )
)  # fmt: skip
register(
    Spec(
        "sample_next",
        _ref_sample_next,
        _sample_inputs,
        ({"N": 64, "V": 5, "tau": 0.5}, {"N": 64, "V": 4, "tau": 2.0}),
        backend="python",
        mistakes=mistakes(_sample_variant, {
            "argmax": "this always takes the most likely token (greedy); draw from the tempered "
                      "distribution with torch.multinomial.",
            "ignored": "the draws come from softmax(logits): use the tempered distribution, "
                       "tempered_probs(logits, tau).",
            "multiplied": "the draws come from softmax(logits * tau): divide by τ (use "
                          "tempered_probs).",
            "probs-divided": "the draws come from probabilities divided by τ; divide the logits: "
                             "softmax(logits / tau) (use tempered_probs).",
        }),
    )
)  # fmt: skip
register(
    Spec(
        "perplexity",
        _ref_perplexity,
        _perplexity_inputs,
        ({"T": 6, "N": 3, "V": 7}, {"T": 4, "N": 2, "V": 5}),
        mistakes=mistakes(_perplexity_variant, {
            "sum": "this is e to the *sum* of the losses; perplexity is e to their mean over the "
                   "real tokens.",
            "base-2": "2 ** (mean loss in nats) mixes the units: perplexity is e ** nats, or 2 ** "
                      "bits.",
            "padding": "the PAD positions are counted: average only over the targets that are not "
                       "PAD.",
            "no-exp": "this is the mean cross-entropy in nats; perplexity is e to it.",
            "bits": "this is bits per token; perplexity is 2 to it (or e to the nats).",
            "per-sequence": "this averages each sequence's perplexity; average the losses of all "
                            "real tokens first, then take e to the mean.",
            "logits": "the logits are used as log-probabilities: take log_softmax first.",
        }),
    )
)  # fmt: skip


# -- conceptual question: perplexity from bits per character ------------------------------------

_BPC = 1.9  # the number the notebook states


def _ppl_expected() -> float:
    # bpc bits are bpc * ln 2 nats; perplexity is e to the loss in nats
    nats = torch.tensor(_BPC, dtype=torch.float64) * torch.log(
        torch.tensor(2.0, dtype=torch.float64)
    )
    return float(torch.exp(nats))


register_answer(
    Answer(
        "ppl_from_bpc",
        _ppl_expected,
        rtol=0.005,
        mistakes=(
            Mistake("base-e", "e ** bpc mixes the units: bits go with base 2, perplexity = "
                    "2 ** bpc (or e ** nats).", lambda: math.exp(_BPC)),
            Mistake("no-exp", "this is the loss itself; perplexity is 2 to the bits per "
                    "character.", lambda: _BPC),
            Mistake("nats", "this is the loss in nats (bpc · ln 2); perplexity is e to it.",
                    lambda: _BPC * math.log(2)),
            Mistake("wrong-conversion", "bits become nats by *multiplying* by ln 2, not "
                    "dividing.", lambda: math.exp(_BPC / math.log(2))),
            Mistake("base-10", "bits go with base 2: perplexity = 2 ** bpc.",
                    lambda: 10**_BPC),
        ),
    )
)  # fmt: skip
