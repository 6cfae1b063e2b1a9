"""Exercise 2, the hidden state: ``rnn_cell``, ``output_layer``, ``count_parameters``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from rnncourse.grading._cells import (
    _BIAS_MISSING,
    _CELL_CASES,
    _cell_inputs,
    _identity,
    _linear,
    _relu,
    _sigmoid,
    _tanh,
    _weights,
)
from rnncourse.grading.specs import (
    LIBRARY_CELLS,
    LIBRARY_LAYERS,
    Case,
    Inputs,
    Mistake,
    Spec,
    register,
)

# -- vanilla RNN cell ---------------------------------------------------------------------------


def _rnn_variant(
    act: Callable = _tanh,
    transpose: str = "",
    biases: str = "ih+hh",
    use_h: bool = True,
    swap: bool = False,
) -> Callable[..., Any]:
    """A mistaken ``rnn_cell``; ``biases`` spells which biases are added (``"ih+ih"``...)."""

    def variant(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
        W_ih, W_hh = (weight_hh, weight_ih) if swap else (weight_ih, weight_hh)
        W_ih = W_ih.T if "ih" in transpose else W_ih
        W_hh = W_hh.T if "hh" in transpose else W_hh
        pre = x @ W_ih.T + (h @ W_hh.T if use_h else 0.0)
        named = {"ih": bias_ih, "hh": bias_hh}
        for part in biases.split("+") if biases else ():
            if named[part] is not None:
                pre = pre + named[part]
        return act(pre)

    return variant


_RNN_MISTAKES = (
    Mistake("transposed-weights", "the weights are transposed: with row vectors the book's "
            "W_ih x_t is x @ W_ih.T (W_ih has shape (H, H_in)).",
            _rnn_variant(transpose="ih+hh")),
    Mistake("transposed-weight-hh", "W_hh is transposed: the recurrent term is h @ W_hh.T.",
            _rnn_variant(transpose="hh")),
    Mistake("swapped-weights", "W_ih and W_hh are swapped: W_ih multiplies the input x_t and "
            "W_hh the previous state h_{t-1}.", _rnn_variant(swap=True)),
    Mistake("no-bias", "the biases are missing: add b_ih and b_hh.", _rnn_variant(biases="")),
    Mistake("missing-bias-hh", _BIAS_MISSING, _rnn_variant(biases="ih")),
    Mistake("missing-bias-ih", _BIAS_MISSING, _rnn_variant(biases="hh")),
    Mistake("bias-ih-twice", "b_ih is added twice and b_hh not at all.",
            _rnn_variant(biases="ih+ih")),
    Mistake("doubled-bias", "the biases are added twice: each of b_ih and b_hh appears once.",
            _rnn_variant(biases="ih+hh+ih+hh")),
    Mistake("hidden-ignored", "the previous hidden state h_{t-1} is not used: add W_hh h_{t-1}.",
            _rnn_variant(use_h=False)),
    Mistake("sigmoid", "sigmoid where tanh belongs: h_t = tanh(...).",
            _rnn_variant(act=_sigmoid)),
    Mistake("relu", "relu where tanh belongs: h_t = tanh(...).", _rnn_variant(act=_relu)),
    Mistake("no-tanh", "the tanh is missing: h_t = tanh(pre-activation).",
            _rnn_variant(act=_identity)),
)  # fmt: skip


# -- output layer and parameter count ---------------------------------------------------------


def _ref_output_layer(h: torch.Tensor, weight_hy: torch.Tensor, bias_y: torch.Tensor):
    # y = W_hy h + b_y, for any leading shape of h
    return _linear(h, weight_hy, bias_y)


def _output_layer_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    lead = tuple(case.get("lead", (2,)))
    H, H_out = case["H"], case["H_out"]
    h = np.tanh(rng.normal(size=(*lead, H)))
    return (h, _weights(rng, H_out, H), rng.normal(size=(H_out,))), {}


def _ref_count_parameters(input_size: int, hidden_size: int, output_size: int) -> int:
    # W_ih, W_hh, b_ih, b_hh, then W_hy, b_y
    H = hidden_size
    return H * input_size + H * H + 2 * H + output_size * H + output_size


def _count_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    return (int(case["H_in"]), int(case["H"]), int(case["H_out"])), {}


def _count_variant(drop: str) -> Callable[..., int]:
    def variant(input_size: int, hidden_size: int, output_size: int) -> int:
        H = hidden_size
        parts = {
            "W_ih": H * input_size,
            "W_hh": H * H,
            "b_ih": H,
            "b_hh": H,
            "W_hy": output_size * H,
            "b_y": output_size,
        }
        for name in drop.split("+"):
            parts.pop(name)
        return sum(parts.values())

    return variant


# -- the registry ------------------------------------------------------------------------------

register(
    Spec(
        "rnn_cell",
        "rnncourse.rnn.rnn_cell",
        _cell_inputs(1),
        _CELL_CASES,
        mistakes=_RNN_MISTAKES,
        forbidden=("rnncourse.rnn.rnn_step", "torch.nn.RNNCell.forward"),
        forbidden_library=(*LIBRARY_CELLS, *LIBRARY_LAYERS),
    )
)
register(
    Spec(
        "output_layer",
        _ref_output_layer,
        _output_layer_inputs,
        ({"lead": (3,), "H": 4, "H_out": 4}, {"lead": (5, 2), "H": 3, "H_out": 2}),
        mistakes=(
            Mistake(
                "transposed", "W_hy is transposed: y = h @ W_hy.T + b_y.", lambda h, w, b: h @ w + b
            ),
            Mistake("no-bias", "the bias b_y is missing.", lambda h, w, b: h @ w.T),
            Mistake(
                "tanh",
                "the output layer is linear: y = W_hy h + b_y, no tanh.",
                lambda h, w, b: _tanh(h @ w.T + b),
            ),
            Mistake(
                "sigmoid",
                "the output layer is linear: y = W_hy h + b_y, no sigmoid (a loss applies its "
                "own squashing later, if it needs one).",
                lambda h, w, b: _sigmoid(h @ w.T + b),
            ),
            Mistake(
                "softmax",
                "the output layer returns the scores themselves, y = W_hy h + b_y; no softmax "
                "here (the loss applies it).",
                lambda h, w, b: torch.softmax(h @ w.T + b, dim=-1),
            ),
            Mistake(
                "bias-subtracted",
                "the bias is subtracted: y = W_hy h + b_y.",
                lambda h, w, b: h @ w.T - b,
            ),
        ),
    )
)
register(
    Spec(
        "count_parameters",
        _ref_count_parameters,
        _count_inputs,
        ({"H_in": 3, "H": 5, "H_out": 3}, {"H_in": 10, "H": 20, "H_out": 4}),
        backend="python",
        mistakes=(
            Mistake(
                "one-bias", "count both biases b_ih and b_hh (H each).", _count_variant("b_hh")
            ),
            Mistake(
                "no-biases",
                "the biases are parameters too (b_ih, b_hh, b_y).",
                _count_variant("b_ih+b_hh+b_y"),
            ),
            Mistake(
                "no-output-layer",
                "count the output layer too (W_hy and b_y).",
                _count_variant("W_hy+b_y"),
            ),
            Mistake(
                "no-recurrent", "count the recurrent weights W_hh (H × H).", _count_variant("W_hh")
            ),
            Mistake(
                "recurrent-like-input",
                "W_hh maps the state to the state: it is H × H, not H × H_in.",
                lambda input_size, hidden_size, output_size: (
                    _ref_count_parameters(input_size, hidden_size, output_size)
                    - hidden_size * hidden_size
                    + hidden_size * input_size
                ),
            ),
            Mistake(
                "input-like-recurrent",
                "W_ih maps the input to the state: it is H × H_in, not H × H.",
                lambda input_size, hidden_size, output_size: (
                    _ref_count_parameters(input_size, hidden_size, output_size)
                    - hidden_size * input_size
                    + hidden_size * hidden_size
                ),
            ),
            Mistake(
                "no-output-bias",
                "count the output bias b_y too (H_out entries).",
                _count_variant("b_y"),
            ),
            Mistake(
                "output-transposed-size",
                "W_hy maps the state to the output: it is H_out × H, not H_out × H_in.",
                lambda input_size, hidden_size, output_size: (
                    _ref_count_parameters(input_size, hidden_size, output_size)
                    - output_size * hidden_size
                    + output_size * input_size
                ),
            ),
        ),
    )
)
