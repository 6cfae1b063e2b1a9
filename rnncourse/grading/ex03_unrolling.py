"""Exercise 3, unrolling: ``rnn_forward``, ``many_to_one``, ``last_hidden`` and the conceptual
question ``stacked_params``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from rnncourse import rnn as _rnn
from rnncourse.grading._cells import _linear, _weights
from rnncourse.grading.answers import Answer, register_answer
from rnncourse.grading.specs import LIBRARY_LAYERS, Case, Inputs, Spec, mistakes, register


def _ref_rnn_forward(x: torch.Tensor, h_0: torch.Tensor | None, params: dict):
    # h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) for t = 1..T
    cell = _rnn.rnn_cell
    h = x.new_zeros(x.shape[1], params["weight_hh"].shape[0]) if h_0 is None else h_0
    outputs = []
    for t in range(x.shape[0]):
        h = cell(x[t], h, params["weight_ih"], params["weight_hh"],
                 params.get("bias_ih"), params.get("bias_hh"))  # fmt: skip
        outputs.append(h)
    return torch.stack(outputs), h  # (T, N, H), (N, H)


def _forward_variant(kind: str) -> Callable[..., Any]:
    def variant(x, h_0, params):
        cell = _rnn.rnn_cell
        W = (params["weight_ih"], params["weight_hh"], params.get("bias_ih"), params.get("bias_hh"))
        zeros = x.new_zeros(x.shape[1], W[1].shape[0])
        start = zeros if h_0 is None or kind == "h0-ignored" else h_0
        h, outputs = start, []
        steps = range(x.shape[0] - 1, -1, -1) if kind == "reversed" else range(x.shape[0])
        if kind == "last-skipped":
            steps = range(x.shape[0] - 1)
        for t in steps:
            x_t = x[0] if kind == "x0-every-step" else x[t]
            new = cell(x_t, start if kind == "not-carried" else h, *W)
            outputs.append(h if kind == "shifted" else new)
            h = new
        output = torch.stack(outputs)
        if kind == "h-squashed-again":  # tanh applied a second time to each state
            output, h = torch.tanh(output), torch.tanh(h)
        if kind == "outputs-swapped":
            return h, output
        return output, (output[0] if kind == "h_n-first" else h)

    return variant


def _sequence_inputs(rng: np.random.Generator, case: Case) -> tuple[Any, ...]:
    T, N, H_in, H = case["T"], case["N"], case["H_in"], case["H"]
    x = rng.normal(size=(T, N, H_in))
    h_0 = None if case.get("h_0") is False else rng.normal(size=(N, H)) * 0.5
    params = {
        "weight_ih": _weights(rng, H, H_in),
        "weight_hh": _weights(rng, H, H),
        "bias_ih": rng.normal(size=(H,)) * 0.5,
        "bias_hh": rng.normal(size=(H,)) * 0.5,
    }
    return x, h_0, params


def _rnn_forward_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    return _sequence_inputs(rng, case), {}


def _ref_many_to_one(x, h_0, params, weight_hy, bias_y):
    # y = W_hy h_T + b_y
    _, h_n = _ref_rnn_forward(x, h_0, params)
    return _linear(h_n, weight_hy, bias_y)  # (N, H_out)


def _many_to_one_variant(kind: str) -> Callable[..., Any]:
    def variant(x, h_0, params, weight_hy, bias_y):
        output, h_n = _ref_rnn_forward(x, h_0, params)
        if kind == "h0-ignored":
            _, h_n = _ref_rnn_forward(x, None, params)
        picked = {"first": output[0], "mean": output.mean(0), "sum": output.sum(0)}
        h = picked.get(kind, h_n)
        y = _linear(h, weight_hy, None if kind == "no-bias" else bias_y)
        return torch.tanh(y) if kind == "tanh-readout" else y

    return variant


def _many_to_one_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    x, h_0, params = _sequence_inputs(rng, case)
    H_out = case["H_out"]
    return (x, h_0, params, _weights(rng, H_out, case["H"]), rng.normal(size=(H_out,))), {}


def _ref_last_hidden(output: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    # h_last[n] = output[lengths[n] - 1, n]
    batch = torch.arange(output.shape[1], device=output.device)
    return output[lengths - 1, batch]  # (N, H)


def _last_hidden_variant(kind: str) -> Callable[..., Any]:
    def variant(output, lengths):
        batch = torch.arange(output.shape[1], device=output.device)
        if kind == "ignored":
            return output[-1]
        if kind == "first":
            return output[0]
        if kind == "no-batch-index":
            return output[lengths - 1]  # (N, N, H): every sequence's step for every sequence
        if kind == "off-by-two":
            return output[(lengths - 2).clamp(min=0), batch]
        return output[lengths.clamp(max=output.shape[0] - 1), batch]  # off by one

    return variant


def _last_hidden_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    T, N, H = case["T"], case["N"], case["H"]
    output = np.tanh(rng.normal(size=(T, N, H)))
    lengths = rng.integers(1, T + 1, size=N)
    lengths[0] = T  # one full-length sequence and, if possible, one of length 1
    if N > 1:
        lengths[-1] = 1
    return (output, lengths.astype(np.int64)), {}


# -- the registry ------------------------------------------------------------------------------

register(
    Spec(
        "rnn_forward",
        _ref_rnn_forward,
        _rnn_forward_inputs,
        (
            {"T": 4, "N": 2, "H_in": 3, "H": 5},
            {"T": 1, "N": 1, "H_in": 2, "H": 3},
            {"T": 3, "N": 2, "H_in": 3, "H": 4, "h_0": False},
        ),
        outputs=("output", "h_n"),
        mistakes=mistakes(_forward_variant, {
            "not-carried": "the hidden state is not carried between steps: step t must start from "
                           "h_{t-1}, not from h_0.",
            "shifted": "output is shifted by one step: output[t] is the state *after* reading "
                       "x[t] (h_1..h_T), not before.",
            "h_n-first": "h_n is the state after the *last* step.",
            "reversed": "the sequence is read backwards: t runs 0, 1, ..., T-1.",
            "h0-ignored": "the given initial state h_0 is ignored: start from it, and from zeros "
                          "only when h_0 is None.",
            "last-skipped": "the last step is missing: the loop runs over all T steps, t = 0, "
                            "..., T-1.",
            "x0-every-step": "every step reads x[0]; step t reads its own input x[t].",
            "outputs-swapped": "the outputs are in the wrong order: rnn_forward returns (output, "
                               "h_n).",
            "h-squashed-again": "the states are squashed twice: the cell already applies tanh; "
                                "store its result as it is.",
        }),
        forbidden=("rnncourse.rnn.RNN.forward", "torch.nn.RNN.forward"),
        forbidden_library=LIBRARY_LAYERS,
    )
)  # fmt: skip
register(
    Spec(
        "many_to_one",
        _ref_many_to_one,
        _many_to_one_inputs,
        ({"T": 4, "N": 3, "H_in": 3, "H": 5, "H_out": 2},),
        mistakes=mistakes(_many_to_one_variant, {
            "first": "the readout uses the first hidden state; many-to-one reads the last one, "
                     "h_T.",
            "mean": "the readout averages the hidden states; it reads h_T only.",
            "no-bias": "the bias b_y is missing.",
            "tanh-readout": "the readout is linear, y = W_hy h_T + b_y: no tanh on top of it.",
            "h0-ignored": "the given initial state h_0 is ignored: pass it on to the loop.",
            "sum": "the readout sums the hidden states; it reads h_T only.",
        }),
        forbidden=("rnncourse.rnn.RNN.forward", "torch.nn.RNN.forward"),
        forbidden_library=LIBRARY_LAYERS,
    )
)  # fmt: skip
register(
    Spec(
        "last_hidden",
        _ref_last_hidden,
        _last_hidden_inputs,
        ({"T": 5, "N": 4, "H": 3}, {"T": 3, "N": 2, "H": 2}),
        mistakes=mistakes(_last_hidden_variant, {
            "ignored": "the lengths are ignored: a sequence of length L ends at output[L - 1], "
                       "not at the last padded step.",
            "off-by-one": "off by one: a sequence of length L ends at index L - 1.",
            "first": "this is the first step; take the last *valid* step.",
            "no-batch-index": "output[lengths - 1] picks every sequence's step for every sequence "
                              "(N × N states); index the batch too: output[lengths - 1, "
                              "torch.arange(N)].",
            "off-by-two": "off by two: a sequence of length L ends at index L - 1, not L - 2.",
        }),
    )
)  # fmt: skip


# -- conceptual question: the parameters of a stacked RNN ---------------------------------------

_STACK_H_IN, _STACK_H, _STACK_L, _STACK_T = 10, 16, 2, 50  # the sizes the notebook states


def _stacked_params_expected() -> int:
    # counted on the library's drop-in module (its parameters match torch.nn.RNN's, tested),
    # independently of the formula
    from rnncourse.rnn import RNN

    rnn = RNN(_STACK_H_IN, _STACK_H, num_layers=_STACK_L)
    return sum(p.numel() for p in rnn.parameters())


def _stacked_wrong(kind: str) -> Callable[[], int]:
    H = _STACK_H

    def layer(fan_in: int, biases: int = 2) -> int:
        return H * fan_in + H * H + biases * H

    right = layer(_STACK_H_IN) + layer(H)
    values = {
        "second-layer-input": 2 * layer(_STACK_H_IN),
        "one-bias": layer(_STACK_H_IN, 1) + layer(H, 1),
        "no-biases": layer(_STACK_H_IN, 0) + layer(H, 0),
        "one-layer": layer(_STACK_H_IN),
        "times-T": right * _STACK_T,
    }
    return lambda: values[kind]


register_answer(
    Answer(
        "stacked_params",
        _stacked_params_expected,
        integer=True,
        mistakes=mistakes(_stacked_wrong, {
            "second-layer-input": "the second layer reads the first layer's states, so its W_ih "
                                  "is H x H, not H x H_in.",
            "one-bias": "every layer has two biases, b_ih and b_hh (H each).",
            "no-biases": "the biases b_ih and b_hh of each layer are parameters too.",
            "one-layer": "count both layers: each has its own W_ih, W_hh, b_ih, b_hh.",
            "times-T": "the weights are shared across the T steps: the count does not depend on "
                       "the sequence length.",
        }),
    )
)  # fmt: skip
