"""Exercise 6, topologies: ``tag_sequence``, ``classify_sequences``, ``generate``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

import rnncourse.topologies as _topo
from rnncourse.grading._cells import (
    _cell_args,
    _cell_values,
    _gru_cell_fn,
    _gru_loop,
    _gru_params,
    _like,
    _linear,
    _load,
    _tanh,
    _weights,
)
from rnncourse.grading.specs import LIBRARY_LAYERS, Case, Inputs, Spec, mistakes, register


def _readout(params: dict) -> dict:
    return {"readout.weight_hy": params["weight_hy"], "readout.bias_y": params["bias_y"]}


def _ref_tag_sequence(x: torch.Tensor, params: dict) -> torch.Tensor:
    # y_t = W_hy h_t + b_y with h_t = GRU(x_t, h_{t-1}), h_0 = 0
    H, H_in = params["weight_hh"].shape[1], x.shape[-1]
    model = _topo.ManyToManyAligned(H_in, H, params["weight_hy"].shape[0], "gru", **_like(x))
    return _load(model, {**_cell_values(params), **_readout(params)})(x)  # (T, N, H_out)


def _ref_classify_sequences(x: torch.Tensor, lengths: torch.Tensor, params: dict) -> torch.Tensor:
    # y = W_hy h_ℓ + b_y, ℓ = lengths[n]
    H, H_in = params["weight_hh"].shape[1], x.shape[-1]
    model = _topo.ManyToOne(H_in, H, params["weight_hy"].shape[0], "gru", **_like(x))
    return _load(model, {**_cell_values(params), **_readout(params)})(x, lengths)  # (N, H_out)


def _ref_generate(x: torch.Tensor, steps: int, params: dict, y_teacher=None) -> torch.Tensor:
    # h_0 = tanh(W_init x + b_init), y_0 = 0, h_t = GRU(y_{t-1}, h_{t-1}), y_t = W_hy h_t + b_y
    H, H_out = params["weight_hh"].shape[1], params["weight_hy"].shape[0]
    model = _topo.OneToMany(x.shape[-1], H, H_out, "gru", "output", **_like(x))
    values = {"to_h0.weight": params["weight_xh"], "to_h0.bias": params["bias_xh"]}
    _load(model, {**_cell_values(params), **_readout(params), **values})
    return model(x, steps, y_teacher)  # (steps, N, H_out)


def _topology_params(rng: np.random.Generator, case: Case, H_cell_in: int) -> dict:
    H, H_out = case["H"], case["H_out"]
    params = _gru_params(rng, H_cell_in, H)
    params["weight_hy"] = _weights(rng, H_out, H)
    params["bias_y"] = rng.normal(size=(H_out,)) * 0.5
    return params


def _tag_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    x = rng.normal(size=(case["T"], case["N"], case["H_in"]))
    return (x, _topology_params(rng, case, case["H_in"])), {}


def _classify_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    T, N = case["T"], case["N"]
    x = rng.normal(size=(T, N, case["H_in"]))
    lengths = rng.integers(1, T + 1, size=N)
    lengths[0] = T  # one full-length sequence and, if there is room, one of length 1
    if N > 2:
        lengths[1] = 1
    x[lengths[None, :] <= np.arange(T)[:, None]] = 0.0  # padding reads as zeros
    return (x, lengths.astype(np.int64), _topology_params(rng, case, case["H_in"])), {}


def _generate_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    N, H_in, H, H_out, steps = case["N"], case["H_in"], case["H"], case["H_out"], case["steps"]
    x = rng.normal(size=(N, H_in))
    params = _topology_params(rng, case, H_out)  # the cell reads the previous output
    params["weight_xh"] = _weights(rng, H, H_in)
    params["bias_xh"] = rng.normal(size=(H,)) * 0.5
    kwargs = {}
    if case.get("teacher"):
        kwargs["y_teacher"] = rng.normal(size=(steps, N, H_out))
    return (x, int(steps), params), kwargs


def _tag_variant(kind: str) -> Callable[..., Any]:
    def variant(x, params):
        T, N = x.shape[0], x.shape[1]
        h_0 = x.new_zeros(N, params["weight_hh"].shape[1])
        if kind == "not-carried":
            h = torch.stack([_gru_cell_fn(x[t], h_0, *_cell_args(params)) for t in range(T)])
        elif kind == "x0-every-step":
            h, _ = _gru_loop(x[:1].expand(T, -1, -1), h_0, params)
        elif kind == "reversed":
            h, _ = _gru_loop(x, h_0, params, range(T - 1, -1, -1))
        else:
            h, _ = _gru_loop(x, h_0, params)
            if kind == "shifted":
                h = torch.cat([h_0[None], h[:-1]])
        bias = None if kind == "no-bias" else params["bias_y"]
        y = _linear(h, params["weight_hy"], bias)
        return _tanh(y) if kind == "tanh-readout" else y

    return variant


def _classify_variant(kind: str) -> Callable[..., Any]:
    def variant(x, lengths, params):
        T, N = x.shape[0], x.shape[1]
        h, h_T = _gru_loop(x, x.new_zeros(N, params["weight_hh"].shape[1]), params)
        batch = torch.arange(N, device=x.device)
        valid = (torch.arange(T, device=x.device)[:, None] < lengths[None, :])[..., None]
        picked = {
            "ignored": lambda: h_T,
            "off-by-one": lambda: h[lengths.clamp(max=T - 1), batch],
            "mean": lambda: (h * valid).sum(0) / lengths[:, None],
            "mean-with-padding": lambda: h.mean(0),
            "first": lambda: h[0],
            "tanh-readout": lambda: h[lengths - 1, batch],
            "no-bias": lambda: h[lengths - 1, batch],
        }[kind]()
        y = _linear(picked, params["weight_hy"], None if kind == "no-bias" else params["bias_y"])
        return _tanh(y) if kind == "tanh-readout" else y

    return variant


def _generate_variant(kind: str) -> Callable[..., Any]:
    def variant(x, steps, params, y_teacher=None):
        pre = _linear(x, params["weight_xh"], params["bias_xh"])
        h = pre if kind == "h0-no-tanh" else _tanh(pre)
        if kind == "h0-zeros":
            h = pre * 0
        y = x.new_zeros(x.shape[0], params["weight_hy"].shape[0])
        ys = []
        for t in range(steps):
            if kind == "teacher-leak" and y_teacher is not None:
                y = y_teacher[t]  # reads the answer of its own step
            h = _gru_cell_fn(y, h, *_cell_args(params))
            out = _linear(h, params["weight_hy"], params["bias_y"])
            if kind == "tanh-readout":
                out = _tanh(out)
            ys.append(out)
            y = y * 0 if kind == "no-feedback" else out
            if y_teacher is not None and kind not in ("teacher-ignored", "teacher-leak"):
                y = y_teacher[t]
        return torch.stack(ys)

    return variant


_TOPO_FORBIDDEN = (
    "rnncourse._recurrent.unroll",
    "rnncourse.topologies._generate",
    "rnncourse.topologies.ManyToManyAligned.forward",
    "rnncourse.topologies.ManyToOne.forward",
    "rnncourse.topologies.OneToMany.forward",
    "rnncourse.topologies.EncoderDecoder.forward",
    "rnncourse.gru.GRU.forward",
    "torch.nn.GRU.forward",
)

register(
    Spec(
        "tag_sequence",
        _ref_tag_sequence,
        _tag_inputs,
        (
            {"T": 5, "N": 3, "H_in": 3, "H": 4, "H_out": 2},
            {"T": 1, "N": 1, "H_in": 2, "H": 3, "H_out": 3},
        ),
        mistakes=mistakes(_tag_variant, {
            "shifted": "the outputs are shifted by one step: y_t reads h_t, the state *after* "
                       "x_t, so y_1 already depends on x_1.",
            "not-carried": "the hidden state is not carried: step t starts from h_{t-1}, not from "
                           "h_0 = 0.",
            "reversed": "the sequence is read backwards; an aligned many-to-many network is "
                        "causal and reads x_1, ..., x_T in order.",
            "no-bias": "the readout bias b_y is missing.",
            "tanh-readout": "the readout is linear, y_t = W_hy h_t + b_y: no tanh on top of it.",
            "x0-every-step": "every step reads x_1; step t reads its own input x_t.",
        }),
        forbidden=_TOPO_FORBIDDEN,
        forbidden_library=LIBRARY_LAYERS,
    )
)  # fmt: skip
register(
    Spec(
        "classify_sequences",
        _ref_classify_sequences,
        _classify_inputs,
        (
            {"T": 6, "N": 4, "H_in": 3, "H": 4, "H_out": 2},
            {"T": 3, "N": 2, "H_in": 2, "H": 3, "H_out": 3},
        ),
        mistakes=mistakes(_classify_variant, {
            "ignored": "the lengths are ignored: a sequence of length L is classified from h_L, "
                       "not from the state after the padding.",
            "off-by-one": "off by one: the state after the last real step of a sequence of length "
                          "L is output[L - 1].",
            "mean": "the readout averages the hidden states; many-to-one reads the last valid "
                    "one, h_L.",
            "first": "this reads the first hidden state; many-to-one reads the last valid one, "
                     "h_L.",
            "mean-with-padding": "the readout averages all T hidden states, padding included; "
                                 "many-to-one reads the last valid one, h_L.",
            "tanh-readout": "the readout is linear, y = W_hy h_L + b_y: no tanh on top of it.",
            "no-bias": "the readout bias b_y is missing.",
        }),
        forbidden=_TOPO_FORBIDDEN,
        forbidden_library=LIBRARY_LAYERS,
    )
)  # fmt: skip
register(
    Spec(
        "generate",
        _ref_generate,
        _generate_inputs,
        (
            {"steps": 4, "N": 2, "H_in": 3, "H": 4, "H_out": 2},
            {"steps": 1, "N": 1, "H_in": 2, "H": 3, "H_out": 1},
            {"steps": 3, "N": 2, "H_in": 2, "H": 3, "H_out": 2, "teacher": True},
        ),
        mistakes=mistakes(_generate_variant, {
            "h0-no-tanh": "the initial state is h_0 = tanh(W_init x + b_init): the tanh is "
                          "missing.",
            "no-feedback": "the outputs are not fed back: the input at step t is the previous "
                           "output y_{t-1} (y_0 = 0).",
            "teacher-ignored": "y_teacher is ignored: with teacher forcing the input at step t is "
                               "y_teacher[t-1], not the model's own output.",
            "teacher-leak": "step t reads y_teacher[t], the answer it must predict; it reads "
                            "y_teacher[t-1] (and y_0 = 0 at the first step).",
            "h0-zeros": "the state starts from zeros, so x is never read: the initial state is "
                        "h_0 = tanh(W_init x + b_init).",
            "tanh-readout": "the readout is linear, y_t = W_hy h_t + b_y: no tanh on top of it "
                            "(and what is fed back is that y_t).",
        }),
        forbidden=_TOPO_FORBIDDEN,
        forbidden_library=LIBRARY_LAYERS,
    )
)  # fmt: skip
