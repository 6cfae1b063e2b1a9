"""Exercise 8, bidirectional RNNs: ``reverse_gru``, ``bidirectional_gru``,
``bidirectional_gru_padded``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

import rnncourse._recurrent as _recurrent
import rnncourse.bidirectional as _bidir
from rnncourse.grading._cells import _cell_args, _gru_cell_fn, _gru_loop, _gru_params, _strip
from rnncourse.grading.ex06_topologies import _classify_inputs
from rnncourse.grading.specs import LIBRARY_LAYERS, Case, Inputs, Spec, mistakes, register


def _ref_reverse_gru(x: torch.Tensor, h_0: torch.Tensor, params: dict):
    # ←h_t = GRU(x_t, ←h_{t+1}) for t = T..1; output[t] = ←h_t, final state after x_1
    step = lambda x_t, h: _gru_cell_fn(x_t, h, *_cell_args(params))  # noqa: E731
    return _recurrent.unroll(step, x, h_0, reverse=True)


def _reverse_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    T, N, H_in, H = case["T"], case["N"], case["H_in"], case["H"]
    x = rng.normal(size=(T, N, H_in))
    h_0 = rng.normal(size=(N, H)) * 0.5
    return (x, h_0, _gru_params(rng, H_in, H)), {}


def _reverse_variant(kind: str) -> Callable[..., Any]:
    def variant(x, h_0, params):
        T = x.shape[0]
        if kind == "forward":
            return _gru_loop(x, h_0, params)
        if kind == "h0-ignored":
            return _gru_loop(x, h_0 * 0, params, range(T - 1, -1, -1))
        if kind == "first-skipped":  # t runs T-1, ..., 1: x_1 is never read
            out, h = _gru_loop(x[1:], h_0, params, range(T - 2, -1, -1))
            return out, h
        out, h = _gru_loop(x, h_0, params, range(T - 1, -1, -1))
        if kind == "not-realigned":
            return out.flip(0), h
        return out, out[-1]  # "h_n-last-step"

    return variant


def _bidir_params(rng: np.random.Generator, H_in: int, H: int) -> dict:
    return {**_gru_params(rng, H_in, H, "_l0"), **_gru_params(rng, H_in, H, "_l0_reverse")}


def _ref_bidirectional_gru(x: torch.Tensor, params: dict):
    # y_t = [→h_t; ←h_t]; h_n = (→h_T, ←h_1)
    N, H = x.shape[1], params["weight_hh_l0"].shape[1]
    zeros = x.new_zeros(N, H)
    fwd, bwd = _cell_args(params, "_l0"), _cell_args(params, "_l0_reverse")
    output, (h_f, h_b) = _bidir.run_bidirectional(_gru_cell_fn, x, fwd, bwd, zeros, zeros)
    # (T, N, 2H), (2, N, H); a GRU's states are tensors, not (h, c) pairs
    return output, torch.stack([h_f, h_b])  # type: ignore[list-item]


def _bidir_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    x = rng.normal(size=(case["T"], case["N"], case["H_in"]))
    return (x, _bidir_params(rng, case["H_in"], case["H"])), {}


def _bidir_variant(kind: str) -> Callable[..., Any]:
    def variant(x, params):
        T, N, H = x.shape[0], x.shape[1], params["weight_hh_l0"].shape[1]
        zeros = x.new_zeros(N, H)
        fwd, bwd = _strip(params, "_l0"), _strip(params, "_l0_reverse")
        if kind == "shared-weights":
            bwd = fwd
        out_f, h_f = _gru_loop(x, zeros, fwd)
        steps = range(T) if kind == "bwd-forwards" else range(T - 1, -1, -1)
        start = h_f if kind == "bwd-from-fwd" else zeros
        out_b, h_b = _gru_loop(x, start, bwd, steps)
        if kind == "summed":
            return out_f + out_b, torch.stack([h_f, h_b])
        if kind == "not-realigned":
            out_b = out_b.flip(0)
        if kind == "h_n-last-step":
            h_b = out_b[-1]
        parts = [out_b, out_f] if kind == "bwd-first" else [out_f, out_b]
        h_n = [h_b, h_f] if kind in ("bwd-first", "h_n-swapped") else [h_f, h_b]
        return torch.cat(parts, dim=-1), torch.stack(h_n)

    return variant


def _ref_bidirectional_gru_padded(x: torch.Tensor, lengths: torch.Tensor, params: dict):
    # each sequence on its own: the backward direction starts at its last real step x_L
    T, N, H = x.shape[0], x.shape[1], params["weight_hh_l0"].shape[1]
    output = x.new_zeros(T, N, 2 * H)  # (T, N, 2H), zero at padding
    h_n = x.new_zeros(2, N, H)  # (2, N, H)
    for n in range(N):
        L = int(lengths[n])
        out, h = _ref_bidirectional_gru(x[:L, n : n + 1], params)
        output[:L, n] = out[:, 0]
        h_n[:, n] = h[:, 0]
    return output, h_n


def _padded_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    (x, lengths, _), _ = _classify_inputs(rng, {**case, "H": 1, "H_out": 1})
    return (x, lengths, _bidir_params(rng, case["H_in"], case["H"])), {}


def _padded_variant(kind: str) -> Callable[..., Any]:
    def variant(x, lengths, params):
        T, N, H = x.shape[0], x.shape[1], params["weight_hh_l0"].shape[1]
        if kind == "ignored":
            return _ref_bidirectional_gru(x, params)
        output, h_n = _ref_bidirectional_gru_padded(x, lengths, params)
        if kind == "fwd-h_n-after-padding":  # the forward final state read after step T
            _, h_T = _gru_loop(x, x.new_zeros(N, H), _strip(params, "_l0"))
            return output, torch.stack([h_T, h_n[1]])
        if kind == "h_n-from-output-end":  # h_n[1] read at the last real step, not at step 1
            batch = torch.arange(N, device=x.device)
            return output, torch.stack([h_n[0], output[lengths - 1, batch, H:]])
        if kind == "not-zeroed":  # padding steps keep the last forward state / zero backward
            for n in range(N):
                L = int(lengths[n])
                output[L:, n, :H] = output[L - 1, n, :H]
            return output, h_n
        # "bwd-from-padding": the backward cell starts at step T, reading the padding
        out_b, h_b = _gru_loop(x, x.new_zeros(N, H), _strip(params, "_l0_reverse"),
                               range(T - 1, -1, -1))  # fmt: skip
        valid = (torch.arange(T, device=x.device)[:, None] < lengths[None, :])[..., None]
        output = torch.cat([output[..., :H], out_b * valid], dim=-1)
        return output, torch.stack([h_n[0], h_b])

    return variant


_BIDIR_FORBIDDEN = (
    "rnncourse.bidirectional.run_bidirectional",
    "rnncourse.bidirectional.Bidirectional.forward",
    "rnncourse._recurrent.unroll",
    "rnncourse.gru.GRU.forward",
    "torch.nn.GRU.forward",
)

register(
    Spec(
        "reverse_gru",
        _ref_reverse_gru,
        _reverse_inputs,
        ({"T": 5, "N": 3, "H_in": 3, "H": 4}, {"T": 2, "N": 1, "H_in": 2, "H": 3}),
        outputs=('output', 'h_n'),
        mistakes=mistakes(_reverse_variant, {
            "forward": "the sequence is read forwards; the backward cell reads x_T first and x_1 "
                       "last.",
            "not-realigned": "the outputs are in the order they were computed; store ←h_t at "
                             "position t, so output[0] is the state after reading x_1 (the last "
                             "step computed).",
            "h_n-last-step": "the final state is the state after the *last step processed*, x_1, "
                             "which sits at output[0], not output[-1].",
            "h0-ignored": "the given initial state h_0 is ignored: the backward cell starts from "
                          "h_0 at step T.",
            "first-skipped": "the first step is missing: the backward loop runs t = T-1, ..., 0 "
                             "and reads x[0] last.",
        }),
        forbidden=_BIDIR_FORBIDDEN,
        forbidden_library=LIBRARY_LAYERS,
    )
)  # fmt: skip
_BIDIR_MISTAKES = mistakes(_bidir_variant, {
    "bwd-first": "the directions are in the wrong order: torch puts the forward states first, y_t "
                 "= [→h_t; ←h_t], and h_n[0] is the forward one.",
    "h_n-swapped": "h_n is in the wrong order: h_n[0] is the forward final state, h_n[1] the "
                   "backward one.",
    "h_n-last-step": "h_n[1] is the backward state after reading x_1 (output[0, :, H:]), not "
                     "output[-1, :, H:].",
    "not-realigned": "the backward outputs are in the order they were computed; ←h_t belongs at "
                     "position t.",
    "shared-weights": "both directions use the forward weights; the backward cell has its own "
                      "(the *_reverse parameters).",
    "bwd-forwards": "the backward cell reads the sequence forwards; it starts at x_T.",
    "bwd-from-fwd": "the backward cell starts from the forward final state; both directions start "
                    "from zeros.",
    "summed": "the two directions are added; y_t concatenates them, [→h_t; ←h_t] (2H features).",
})  # fmt: skip
register(
    Spec(
        "bidirectional_gru",
        _ref_bidirectional_gru,
        _bidir_inputs,
        ({"T": 5, "N": 3, "H_in": 3, "H": 4}, {"T": 1, "N": 2, "H_in": 2, "H": 3}),
        outputs=("output", "h_n"),
        mistakes=_BIDIR_MISTAKES,
        forbidden=_BIDIR_FORBIDDEN,
        forbidden_library=LIBRARY_LAYERS,
    )
)
register(
    Spec(
        "bidirectional_gru_padded",
        _ref_bidirectional_gru_padded,
        _padded_inputs,
        ({"T": 5, "N": 4, "H_in": 3, "H": 4}, {"T": 3, "N": 2, "H_in": 2, "H": 2}),
        outputs=('output', 'h_n'),
        mistakes=mistakes(_padded_variant, {
            "ignored": "the lengths are ignored: padding must neither reach a state nor appear in "
                       "the output (zeros there).",
            "bwd-from-padding": "the backward direction starts at the padded end; for a sequence "
                                "of length L it must start at x_L, its last real step.",
            "not-zeroed": "the outputs at padded steps must be zero (as pack_padded_sequence "
                          "gives).",
            "fwd-h_n-after-padding": "h_n[0] is read after the padding; the forward final state "
                                     "of a sequence of length L is its state after step L.",
            "h_n-from-output-end": "h_n[1] is the backward state after reading x_1 (output[0, n, "
                                   "H:]), not the one at the sequence's last real step.",
        }),
        forbidden=_BIDIR_FORBIDDEN,
        forbidden_library=LIBRARY_LAYERS,
    )
)  # fmt: skip
