"""Exercise 7, LSTM and GRU: ``lstm_cell``, ``gru_cell`` and the trained ``train_adding_model``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

import rnncourse.data as _data
from rnncourse import lstm as _lstm
from rnncourse.grading._cells import (
    _BIAS_MISSING,
    _CELL_CASES,
    _cell_inputs,
    _gru_cell_fn,
    _identity,
    _linear,
    _sigmoid,
    _tanh,
)
from rnncourse.grading.compare import as_array
from rnncourse.grading.specs import LIBRARY_CELLS, LIBRARY_LAYERS, Mistake, Spec, register
from rnncourse.grading.trained import Benchmark, metric_score, register_benchmark

_lstm_cell_fn = _lstm.lstm_cell

# -- LSTM and GRU cells (chapter 7) ----------------------------------------------------------------


def _lstm_variant(
    order: str = "ifgo",
    act_g: Callable = _tanh,
    act_c: Callable = _tanh,
    forget: bool = True,
    old_c_out: bool = False,
    biases: bool = True,
    gates_used: str = "ifo",
) -> Callable[..., Any]:
    """A mistaken ``lstm_cell``: ``order`` names the gate each chunk is read as."""

    def variant(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
        h, c = state
        gates = _linear(x, weight_ih, bias_ih if biases else None) + _linear(
            h, weight_hh, bias_hh if biases else None
        )
        chunks = dict(zip(order, gates.chunk(4, dim=-1), strict=True))
        f = _sigmoid(chunks["f"])
        i: torch.Tensor | float = _sigmoid(chunks["i"]) if "i" in gates_used else 1.0
        o: torch.Tensor | float = _sigmoid(chunks["o"]) if "o" in gates_used else 1.0
        g = act_g(chunks["g"])
        c_new = (f * c if forget else c) + i * g
        h_new = o * act_c(c if old_c_out else c_new)
        return h_new, c_new

    return variant


def _swapped(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` returning its two outputs in the other order."""

    def variant(*args: Any, **kwargs: Any) -> Any:
        first, second = fn(*args, **kwargs)
        return second, first

    return variant


def _lstm_mistakes() -> tuple[Mistake, ...]:
    import itertools

    found = []
    for perm in itertools.permutations("ifgo"):
        order = "".join(perm)
        if order == "ifgo":
            continue
        found.append(
            Mistake(
                f"gate-order-{order}",
                f"the gates are in the wrong order: your code reads the four chunks of the "
                f"stacked weights as {', '.join(order)}; PyTorch's order is i, f, g, o.",
                _lstm_variant(order=order),
            )
        )
    found += [
        Mistake("g-sigmoid", "sigmoid and tanh are swapped: the candidate g_t uses tanh, the "
                "gates i, f, o use sigmoid.", _lstm_variant(act_g=_sigmoid)),
        Mistake("h-no-tanh", "h_t = o_t ⊙ tanh(c_t): the tanh of the cell state is missing.",
                _lstm_variant(act_c=_identity)),
        Mistake("no-forget", "the forget gate is not applied: c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t.",
                _lstm_variant(forget=False)),
        Mistake("old-cell-state", "h_t must use the new cell state c_t, not c_{t-1}.",
                _lstm_variant(old_c_out=True)),
        Mistake("no-bias", "the biases are missing: add b_ih and b_hh.",
                _lstm_variant(biases=False)),
        Mistake("no-input-gate", "the input gate is not applied: c_t = f_t ⊙ c_{t-1} + "
                "i_t ⊙ g_t.", _lstm_variant(gates_used="fo")),
        Mistake("outputs-swapped", "the outputs are in the wrong order: lstm_cell returns "
                "(h_next, c_next).", _swapped(_lstm_variant())),
        Mistake("no-output-gate", "the output gate is not applied: h_t = o_t ⊙ tanh(c_t).",
                _lstm_variant(gates_used="if")),
    ]  # fmt: skip
    return tuple(found)


def _gru_variant(
    order: str = "rzn",
    reset: str = "inside",
    update_flipped: bool = False,
    act_n: Callable = _tanh,
    update: bool = True,
) -> Callable[..., Any]:
    """A mistaken ``gru_cell``; ``reset`` is where r_t is applied."""

    def variant(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
        xw = dict(zip(order, _linear(x, weight_ih, bias_ih).chunk(3, dim=-1), strict=True))
        W = dict(zip(order, weight_hh.chunk(3, dim=0), strict=True))
        b = dict(zip(order, bias_hh.chunk(3) if bias_hh is not None else (None,) * 3, strict=True))
        r = _sigmoid(xw["r"] + _linear(h, W["r"], b["r"]))
        z = _sigmoid(xw["z"] + _linear(h, W["z"], b["z"]))
        b_n = b["n"] if b["n"] is not None else 0.0
        if reset == "inside":  # PyTorch: r ⊙ (W_hn h + b_hn)
            n = act_n(xw["n"] + r * (_linear(h, W["n"]) + b_n))
        elif reset == "outside-bias":  # r ⊙ (W_hn h) + b_hn
            n = act_n(xw["n"] + r * _linear(h, W["n"]) + b_n)
        elif reset == "before":  # Cho et al.: W_hn (r ⊙ h) + b_hn
            n = act_n(xw["n"] + _linear(r * h, W["n"]) + b_n)
        else:  # no reset at all
            n = act_n(xw["n"] + _linear(h, W["n"]) + b_n)
        if not update:
            return n
        return z * n + (1 - z) * h if update_flipped else (1 - z) * n + z * h

    return variant


def _gru_mistakes() -> tuple[Mistake, ...]:
    import itertools

    found = [
        Mistake("reset-outside-bias", "the reset gate is applied in the wrong place: PyTorch "
                "computes n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn)); your b_hn "
                "is outside the product with r_t.", _gru_variant(reset="outside-bias")),
        Mistake("reset-before", "the reset gate is applied in the wrong place: you reset h_{t-1} "
                "before multiplying by W_hn (Cho et al.'s version); PyTorch multiplies r_t with "
                "(W_hn h_{t-1} + b_hn).", _gru_variant(reset="before")),
        Mistake("no-reset", "the reset gate r_t is not used in the candidate n_t.",
                _gru_variant(reset="none")),
        Mistake("update-flipped", "the update gate is flipped: h_t = (1 - z_t) ⊙ n_t + "
                "z_t ⊙ h_{t-1}.", _gru_variant(update_flipped=True)),
        Mistake("n-sigmoid", "sigmoid and tanh are swapped: the candidate n_t uses tanh.",
                _gru_variant(act_n=_sigmoid)),
        Mistake("no-update-gate", "the update gate is not applied: h_t = (1 - z_t) ⊙ n_t + "
                "z_t ⊙ h_{t-1} mixes the candidate with the previous state.",
                _gru_variant(update=False)),
    ]  # fmt: skip
    for perm in itertools.permutations("rzn"):
        order = "".join(perm)
        if order != "rzn":
            found.append(
                Mistake(
                    f"gate-order-{order}",
                    f"the gates are in the wrong order: your code reads the three chunks as "
                    f"{', '.join(order)}; PyTorch's order is r, z, n.",
                    _gru_variant(order=order),
                )
            )
    return tuple(found)


# -- more LSTM and GRU cell mistakes ------------------------------------------------------------


def _cell_bias_variant(cell: Callable[..., Any], kind: str) -> Callable[..., Any]:
    """``cell`` with one bias dropped (``"ih"``/``"hh"``) or both counted twice (``"double"``)."""

    def variant(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
        if kind == "ih":
            return cell(x, state, weight_ih, weight_hh, None, bias_hh)
        if kind == "hh":
            return cell(x, state, weight_ih, weight_hh, bias_ih, None)
        if kind == "both":
            return cell(x, state, weight_ih, weight_hh, None, None)
        return cell(x, state, weight_ih, weight_hh, 2 * bias_ih, 2 * bias_hh)

    return variant


def _lstm_all_swapped(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    # gates i, f, o through tanh and the candidate g through sigmoid
    h, c = state
    gates = _linear(x, weight_ih, bias_ih) + _linear(h, weight_hh, bias_hh)
    i, f, g, o = gates.chunk(4, dim=-1)
    c_new = _tanh(f) * c + _tanh(i) * _sigmoid(g)
    return _tanh(o) * _tanh(c_new), c_new


# the bias mistakes and swapped activations, diagnosed after the gate orders and the rest
_LSTM_MORE_MISTAKES = (
    Mistake("all-activations-swapped", "sigmoid and tanh are swapped: the gates i, f, o use "
            "sigmoid (values in (0, 1)), the candidate g uses tanh.", _lstm_all_swapped),
    Mistake("missing-bias-hh", _BIAS_MISSING, _cell_bias_variant(_lstm_cell_fn, "hh")),
    Mistake("missing-bias-ih", _BIAS_MISSING, _cell_bias_variant(_lstm_cell_fn, "ih")),
    Mistake("doubled-bias", "the biases are added twice: each of b_ih and b_hh appears "
            "once.", _cell_bias_variant(_lstm_cell_fn, "double")),
)  # fmt: skip
_GRU_MORE_MISTAKES = (
    Mistake("missing-bias-hh", _BIAS_MISSING + " (In the GRU, b_hn sits inside r_t ⊙ (...).)",
            _cell_bias_variant(_gru_cell_fn, "hh")),
    Mistake("missing-bias-ih", _BIAS_MISSING, _cell_bias_variant(_gru_cell_fn, "ih")),
    Mistake("doubled-bias", "the biases are added twice: each of b_ih and b_hh appears "
            "once.", _cell_bias_variant(_gru_cell_fn, "double")),
    Mistake("no-bias", "the biases are missing: add b_ih and b_hh (b_hn inside "
            "r_t ⊙ (...)).", _cell_bias_variant(_gru_cell_fn, "both")),
)  # fmt: skip

# -- the registry ------------------------------------------------------------------------------

register(
    Spec(
        "lstm_cell",
        "rnncourse.lstm.lstm_cell",
        _cell_inputs(4, True),
        _CELL_CASES,
        outputs=("h_next", "c_next"),
        mistakes=_lstm_mistakes() + _LSTM_MORE_MISTAKES,
        forbidden=("rnncourse.lstm.lstm_step", "torch.nn.LSTMCell.forward"),
        forbidden_library=(*LIBRARY_CELLS, *LIBRARY_LAYERS),
    )
)
register(
    Spec(
        "gru_cell",
        "rnncourse.gru.gru_cell",
        _cell_inputs(3),
        _CELL_CASES,
        mistakes=_gru_mistakes() + _GRU_MORE_MISTAKES,
        forbidden=("rnncourse.gru.gru_step", "torch.nn.GRUCell.forward"),
        forbidden_library=(*LIBRARY_CELLS, *LIBRARY_LAYERS),
    )
)


# -- trained model: the adding problem with T = 10 ---------------------------------------------

_ADDING_T = 10


def _adding_data(seed: int) -> tuple[tuple, torch.Tensor, torch.Tensor]:
    x, y = _data.adding_problem(2000, _ADDING_T, seed=np.random.default_rng([seed, 1]))
    x_test, y_test = _data.adding_problem(1000, _ADDING_T, seed=np.random.default_rng([seed, 2]))
    return (x, y), x_test, y_test


def _always_one(x_test: torch.Tensor, y_test: torch.Tensor) -> float:
    _, y = as_array(y_test)
    return metric_score("mse", y * 0 + 1.0, y)


register_benchmark(
    Benchmark(
        "train_adding_model",
        _adding_data,
        "mse",
        _always_one,
        "always predicting 1 (the mean of y)",
        lambda baseline: 0.05,
    )
)
