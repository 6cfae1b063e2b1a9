"""Exercise 9, sequence to sequence: ``encode``, ``decode_teacher_forced``,
``greedy_translate``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from rnncourse.grading import LIBRARY_LAYERS, Case, Inputs, Mistake, Spec, _register
from rnncourse.grading._cells import _cell_values, _gru_params, _like, _load, _weights

_s2s = importlib.import_module("rnncourse.seq2seq")
_data = importlib.import_module("rnncourse.data")
_BOS, _EOS, _PAD = _data.BOS, _data.EOS, _data.PAD


def _encoder_values(enc: dict) -> dict:
    return {"embedding.weight": enc["embedding"], **_cell_values(enc)}


def _decoder_values(dec: dict) -> dict:
    return {
        "embedding.weight": dec["embedding"],
        **_cell_values(dec),
        "out.weight": dec["weight_out"],
        "out.bias": dec["bias_out"],
    }


def _encoder(enc: dict, like: torch.Tensor) -> Any:
    V, E = enc["embedding"].shape
    model = _s2s.Encoder(V, E, enc["weight_hh"].shape[1], "gru", **_like(like))
    return _load(model, _encoder_values(enc))


def _decoder(dec: dict, like: torch.Tensor) -> Any:
    V, E = dec["embedding"].shape
    model = _s2s.Decoder(V, E, dec["weight_hh"].shape[1], "gru", **_like(like))
    return _load(model, _decoder_values(dec))


def _ref_encode(src: torch.Tensor, lengths: torch.Tensor, enc: dict):
    # h_j = GRU(E x_j, h_{j-1}), frozen after each source's length; memory zero at padding
    return _encoder(enc, enc["embedding"])(src, lengths)  # (S, N, H), (N, H)


def _ref_decode_teacher_forced(tgt: torch.Tensor, state: torch.Tensor, dec: dict):
    # input BOS, tgt[0], ..., tgt[T-2]; logits_t = W_hy s_t + b_y predicts tgt[t]
    decoder = _decoder(dec, state)
    y = tgt.new_full((tgt.shape[1],), _BOS)  # (N,)
    logits = []
    for t in range(tgt.shape[0]):
        out, state, _ = decoder(y, state)
        logits.append(out)
        y = tgt[t]
    return torch.stack(logits)  # (T, N, V)


def _ref_greedy_translate(src: torch.Tensor, lengths: torch.Tensor, params: dict, max_len: int):
    # ŷ_t = argmax logits_t, fed back; EOS is written, PAD after it
    enc, dec = params["encoder"], params["decoder"]
    model = _s2s.Seq2Seq(_encoder(enc, enc["embedding"]), _decoder(dec, enc["embedding"]),
                         _BOS, _EOS, _PAD)  # fmt: skip
    return _s2s.greedy_decode(model, src, max_len, src_lengths=lengths)  # (max_len, N)


def _gru_embed_params(rng: np.random.Generator, V: int, E: int, H: int) -> dict:
    return {"embedding": rng.normal(size=(V, E)), **_gru_params(rng, E, H)}


def _tokens(rng: np.random.Generator, S: int, N: int, V: int) -> tuple[np.ndarray, np.ndarray]:
    lengths = rng.integers(1, S + 1, size=N)
    lengths[0] = S
    if N > 2:
        lengths[1] = 1
    src = rng.integers(_data.FIRST_SYMBOL, V, size=(S, N))
    src[lengths[None, :] <= np.arange(S)[:, None]] = _PAD
    return src.astype(np.int64), lengths.astype(np.int64)


def _encode_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    src, lengths = _tokens(rng, case["S"], case["N"], case["V"])
    return (src, lengths, _gru_embed_params(rng, case["V"], case["E"], case["H"])), {}


def _decoder_params(rng: np.random.Generator, case: Case) -> dict:
    V, H = case["V"], case["H"]
    dec = _gru_embed_params(rng, V, case["E"], H)
    dec["embedding"] *= 3.0  # large weights: the next token depends on the state and input
    dec["weight_out"] = _weights(rng, V, H) * 6.0
    dec["bias_out"] = rng.normal(size=(V,)) * 0.5
    return dec


def _decode_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    T, N, V = case["T"], case["N"], case["V"]
    tgt = rng.integers(_data.FIRST_SYMBOL, V, size=(T, N))
    tgt[-1] = _EOS
    state = np.tanh(rng.normal(size=(N, case["H"])))
    return (tgt.astype(np.int64), state, _decoder_params(rng, case)), {}


def _greedy_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    src, lengths = _tokens(rng, case["S"], case["N"], case["V"])
    enc = _gru_embed_params(rng, case["V"], case["E"], case["H"])
    dec = _decoder_params(rng, case)
    # the encoder's state must reach the tokens (a zero or unmasked state changes them): a
    # smaller embedding and a larger recurrent weight than teacher forcing's decoder
    dec["embedding"] /= 3.0
    dec["weight_hh"] *= 3.0
    dec["bias_out"][_EOS] += 1.0 + case.get("eos_bias", 0.0)
    for special in (_PAD, _BOS, _data.UNK):  # never predicted
        dec["bias_out"][special] -= 20.0
    return (src, lengths, {"encoder": enc, "decoder": dec}, int(case["max_len"])), {}


def _encode_variant(kind: str) -> Callable[..., Any]:
    def variant(src, lengths, enc):
        memory, h = _ref_encode(src, lengths, enc)
        full_memory, h_S = _ref_encode(src, None, enc)
        if kind == "ignored":
            return full_memory, h_S
        if kind == "final-last-step":
            return memory, h_S
        S = src.shape[0]
        batch = torch.arange(src.shape[1], device=src.device)
        if kind == "state-one-early":  # the state after step L - 1 (after step 1 when L = 1)
            return memory, memory[(lengths - 2).clamp(min=0), batch]
        if kind == "memory-mask-off-by-one":  # zeroes the last real step too
            keep = torch.arange(S, device=src.device)[:, None] < (lengths - 1)[None, :]
            return memory * keep[..., None], h
        # "not-zeroed": padded steps hold the frozen state
        valid = (torch.arange(S, device=src.device)[:, None] < lengths[None, :])[..., None]
        return torch.where(valid, memory, h[None]), h

    return variant


def _decode_no_shift(tgt, state, dec):
    decoder = _decoder(dec, state)
    logits = []
    for t in range(tgt.shape[0]):
        out, state, _ = decoder(tgt[t], state)
        logits.append(out)
    return torch.stack(logits)


def _decode_zero_state(tgt, state, dec):
    return _ref_decode_teacher_forced(tgt, state * 0, dec)


def _decode_variant(kind: str) -> Callable[..., Any]:
    def variant(tgt, state, dec):
        decoder = _decoder(dec, state)
        bos = tgt.new_full((tgt.shape[1],), _BOS)  # (N,)
        y, s_0, logits = bos, state, []
        for t in range(tgt.shape[0]):
            out, new, _ = decoder(y, s_0 if kind == "state-not-carried" else state)
            state = new
            logits.append(out.softmax(-1) if kind == "softmax" else out)
            y = bos if kind == "bos-every-step" else tgt[t]
        return torch.stack(logits)

    return variant


def _greedy_variant(kind: str) -> Callable[..., Any]:
    def variant(src, lengths, params, max_len):
        enc, dec = params["encoder"], params["decoder"]
        _, state = _ref_encode(src, None if kind == "ignored" else lengths, enc)
        if kind == "zero-state":
            state = state * 0
        decoder = _decoder(dec, state)
        bos = src.new_full((src.shape[1],), _BOS)  # (N,)
        y, out = bos, []
        for _ in range(max_len):
            logits, state, _ = decoder(y, state)
            y = logits.argmax(-1)  # (N,)
            out.append(y)
            if kind == "bos-every-step":
                y = bos
        tokens = torch.stack(out)  # (max_len, N), not stopped at EOS
        if kind == "no-stop":
            return tokens
        ended = (tokens == _EOS).long().cumsum(0) > 0  # at or after the first EOS
        after = torch.cat([torch.zeros_like(ended[:1]), ended[:-1]])  # strictly after it
        if kind == "eos-dropped":
            return tokens.masked_fill(ended, _PAD)
        return tokens.masked_fill(after, _EOS if kind == "eos-fill" else _PAD)

    return variant


_S2S_FORBIDDEN = (
    "rnncourse.seq2seq.Encoder.forward",
    "rnncourse.seq2seq.Decoder.forward",
    "rnncourse.seq2seq.AttentionDecoder.forward",
    "rnncourse.seq2seq.Seq2Seq.forward",
    "rnncourse.seq2seq.Seq2Seq.encode",
    "rnncourse.seq2seq.greedy_decode",
    "rnncourse.seq2seq.beam_search",
    "rnncourse.topologies.unroll",
    "rnncourse.gru.GRU.forward",
    "torch.nn.GRU.forward",
)

_register(
    Spec(
        "encode",
        _ref_encode,
        _encode_inputs,
        ({"S": 5, "N": 4, "V": 9, "E": 3, "H": 4}, {"S": 2, "N": 2, "V": 6, "E": 2, "H": 3}),
        outputs=('memory', 'state'),
        mistakes=(
            Mistake("ignored", "the lengths are ignored: a source of length L ends at step L; the "
                    "padding after it must not change the state.", _encode_variant("ignored")),
            Mistake("final-last-step", "the final state must be each source's state after its "
                    "last real token (step L), not after the padding.",
                    _encode_variant("final-last-step")),
            Mistake("not-zeroed", "memory must be zero at padded steps.",
                    _encode_variant("not-zeroed")),
            Mistake("state-one-early", "the final state is read one step early: a source of "
                    "length L ends with its state after step L (memory[L - 1]).",
                    _encode_variant("state-one-early")),
            Mistake("memory-mask-off-by-one", "the padding mask is off by one: step L - 1 (the "
                    "last real token, counting from 0) is real and keeps its state in memory.",
                    _encode_variant("memory-mask-off-by-one")),
        ),
        forbidden=_S2S_FORBIDDEN,
        forbidden_library=LIBRARY_LAYERS,
    )
)  # fmt: skip
_register(
    Spec(
        "decode_teacher_forced",
        _ref_decode_teacher_forced,
        _decode_inputs,
        ({"T": 4, "N": 3, "V": 9, "E": 3, "H": 4}, {"T": 1, "N": 2, "V": 6, "E": 2, "H": 3}),
        mistakes=(
            Mistake("no-shift", "the inputs are not shifted: step t reads the token it must "
                    "predict. The input at step 0 is BOS, at step t > 0 it is tgt[t-1].",
                    _decode_no_shift),
            Mistake("zero-state", "the decoder starts from zeros; its first state s_0 is the "
                    "encoder's final state `state`.", _decode_zero_state),
            Mistake("bos-every-step", "every step reads BOS; with teacher forcing step t > 0 "
                    "reads the previous target token tgt[t-1].", _decode_variant("bos-every-step")),
            Mistake("state-not-carried", "every step starts from the initial state; the decoder "
                    "state s_t is carried from step to step.",
                    _decode_variant("state-not-carried")),
            Mistake("softmax", "these are probabilities; return the logits W_hy s_t + b_y "
                    "themselves (the loss applies the softmax).", _decode_variant("softmax")),
        ),
        forbidden=_S2S_FORBIDDEN,
        forbidden_library=LIBRARY_LAYERS,
    )
)  # fmt: skip
_register(
    Spec(
        "greedy_translate",
        _ref_greedy_translate,
        _greedy_inputs,
        ({"S": 5, "N": 6, "V": 9, "E": 3, "H": 4, "max_len": 7},
         {"S": 3, "N": 2, "V": 6, "E": 2, "H": 3, "max_len": 4}),
        mistakes=(
            Mistake("ignored", "the source lengths are ignored: encode with them, so that the "
                    "padding does not reach the encoder's final state.",
                    _greedy_variant("ignored")),
            Mistake("no-stop", "a sequence does not stop at its EOS: after EOS every position "
                    "holds PAD (= 0).", _greedy_variant("no-stop")),
            Mistake("eos-dropped", "the EOS token itself is part of the output; PAD comes "
                    "after it.",
                    _greedy_variant("eos-dropped")),
            Mistake("eos-fill", "after EOS the positions hold PAD (= 0), not EOS.",
                    _greedy_variant("eos-fill")),
            Mistake("zero-state", "the decoder starts from zeros; its first state is the "
                    "encoder's final state.", _greedy_variant("zero-state")),
            Mistake("bos-every-step", "every step reads BOS; greedy decoding feeds back the "
                    "token it has just predicted.", _greedy_variant("bos-every-step")),
        ),
        forbidden=_S2S_FORBIDDEN,
        forbidden_library=LIBRARY_LAYERS,
    )
)  # fmt: skip
