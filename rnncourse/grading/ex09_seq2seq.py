"""Exercise 9, sequence to sequence: ``encode``, ``decode_teacher_forced``,
``greedy_translate``, ``additive_attention``, ``beam_search`` and the conceptual question
``encoder_params``."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

import rnncourse.data as _data
import rnncourse.seq2seq as _s2s
from rnncourse.grading._cells import _cell_values, _gru_params, _like, _load, _weights
from rnncourse.grading.answers import Answer, register_answer
from rnncourse.grading.specs import LIBRARY_LAYERS, Case, Inputs, Mistake, Spec, mistakes, register

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


def _ref_encode(src: torch.Tensor, lengths: torch.Tensor | None, enc: dict):
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
    "rnncourse._recurrent.unroll",
    "rnncourse.gru.GRU.forward",
    "torch.nn.GRU.forward",
)

register(
    Spec(
        "encode",
        _ref_encode,
        _encode_inputs,
        ({"S": 5, "N": 4, "V": 9, "E": 3, "H": 4}, {"S": 2, "N": 2, "V": 6, "E": 2, "H": 3}),
        outputs=('memory', 'state'),
        mistakes=mistakes(_encode_variant, {
            "ignored": "the lengths are ignored: a source of length L ends at step L; the padding "
                       "after it must not change the state.",
            "final-last-step": "the final state must be each source's state after its last real "
                               "token (step L), not after the padding.",
            "not-zeroed": "memory must be zero at padded steps.",
            "state-one-early": "the final state is read one step early: a source of length L ends "
                               "with its state after step L (memory[L - 1]).",
            "memory-mask-off-by-one": "the padding mask is off by one: step L - 1 (the last real "
                                      "token, counting from 0) is real and keeps its state in "
                                      "memory.",
        }),
        forbidden=_S2S_FORBIDDEN,
        forbidden_library=LIBRARY_LAYERS,
    )
)  # fmt: skip
register(
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
register(
    Spec(
        "greedy_translate",
        _ref_greedy_translate,
        _greedy_inputs,
        ({"S": 5, "N": 6, "V": 9, "E": 3, "H": 4, "max_len": 7},
         {"S": 3, "N": 2, "V": 6, "E": 2, "H": 3, "max_len": 4}),
        mistakes=mistakes(_greedy_variant, {
            "ignored": "the source lengths are ignored: encode with them, so that the padding "
                       "does not reach the encoder's final state.",
            "no-stop": "a sequence does not stop at its EOS: after EOS every position holds PAD "
                       "(= 0).",
            "eos-dropped": "the EOS token itself is part of the output; PAD comes after it.",
            "eos-fill": "after EOS the positions hold PAD (= 0), not EOS.",
            "zero-state": "the decoder starts from zeros; its first state is the encoder's final "
                          "state.",
            "bos-every-step": "every step reads BOS; greedy decoding feeds back the token it has "
                              "just predicted.",
        }),
        forbidden=_S2S_FORBIDDEN,
        forbidden_library=LIBRARY_LAYERS,
    )
)  # fmt: skip


# -- additive (Bahdanau) attention --------------------------------------------------------------

_softmax, _log_softmax = torch.softmax, torch.log_softmax


def _attention(attn: dict, like: torch.Tensor) -> Any:
    A, H_q = attn["W_q"].shape
    model = _s2s.AdditiveAttention(H_q, attn["W_k"].shape[1], A, **_like(like))
    return _load(model, {"W_q.weight": attn["W_q"], "W_k.weight": attn["W_k"],
                         "v.weight": attn["v"][None]})  # fmt: skip


def _ref_additive_attention(query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor,
                            attn: dict):  # fmt: skip
    # e_j = v^T tanh(W_q q + W_k k_j), α = softmax_j(e) over the real positions, c = Σ_j α_j k_j
    with torch.no_grad():
        return _attention(attn, keys)(query, keys, mask)  # (N, H_k), (N, S)


def _attention_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    S, N, H, H_k, A = case["S"], case["N"], case["H"], case["H_k"], case["A"]
    lengths = rng.integers(1, S + 1, size=N)
    lengths[0] = S  # every position is real in some sequence
    if N > 2:
        lengths[1] = 1
    mask = np.arange(S)[:, None] < lengths[None, :]  # (S, N) bool
    keys = np.tanh(rng.normal(size=(S, N, H_k)) * 1.5) * mask[..., None]  # zero at padding
    query = np.tanh(rng.normal(size=(N, H)) * 1.5)
    attn = {
        "W_q": _weights(rng, A, H) * 2.0,  # large: the weights are far from uniform
        "W_k": _weights(rng, A, H_k) * 2.0,
        "v": rng.normal(size=(A,)) * 1.5,
    }
    return (query, keys, mask, attn), {}


def _attention_variant(kind: str) -> Callable[..., Any]:
    def variant(query, keys, mask, attn):
        W_q, W_k, v = attn["W_q"], attn["W_k"], attn["v"]
        if kind == "swapped":  # W_q on the keys, W_k on the query (needs H == H_k)
            pre = query @ W_k.T + keys @ W_q.T
        else:
            pre = query @ W_q.T + keys @ W_k.T  # (S, N, A)
        scores = (pre if kind == "no-tanh" else torch.tanh(pre)) @ v  # (S, N)
        masked = scores if kind in ("mask-ignored", "mask-after") else scores.masked_fill(
            ~mask, float("-inf"))  # fmt: skip
        weights = _softmax(masked, dim=1 if kind == "wrong-axis" else 0)  # (S, N)
        if kind == "mask-after":
            weights = weights * mask
        context = (weights[..., None] * keys).sum(0)  # (N, H_k)
        if kind == "scores":
            return context, masked.T
        return context, weights.T

    return variant


# -- beam search --------------------------------------------------------------------------------


def _seq2seq(params: dict, like: torch.Tensor) -> Any:
    enc, dec = params["encoder"], params["decoder"]
    return _s2s.Seq2Seq(_encoder(enc, like), _decoder(dec, like), _BOS, _EOS, _PAD)


def _ref_beam_search(params: dict, src: torch.Tensor, beam_width: int, max_len: int,
                     length_penalty: float = 0.0):  # fmt: skip
    # score(y) = log p(y | x) / ((5 + |y|) / 6)^α over the finished hypotheses
    model = _seq2seq(params, params["encoder"]["embedding"])
    tokens, score = _s2s.beam_search(model, src, beam_width, max_len,
                                     length_penalty=length_penalty)  # fmt: skip
    return tokens, float(score)  # (L,), float


def _beam_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    V, S = case["V"], case["S"]
    src = rng.integers(_data.FIRST_SYMBOL, V, size=S).astype(np.int64)
    enc = _gru_embed_params(rng, V, case["E"], case["H"])
    dec = _decoder_params(rng, case)
    dec["weight_out"] *= case.get("sharpness", 1.0)  # flatter: beams and greedy disagree
    dec["bias_out"][_EOS] += case.get("eos_bias", 0.0)
    for special in (_PAD, _BOS, _data.UNK):  # never predicted
        dec["bias_out"][special] -= 20.0
    kwargs = {"length_penalty": float(case["alpha"])} if "alpha" in case else {}
    return ({"encoder": enc, "decoder": dec}, src, int(case["B"]), int(case["max_len"])), kwargs


def _beam_variant(kind: str) -> Callable[..., Any]:
    """A mistaken beam search over the reference encoder and decoder."""

    def variant(params, src, beam_width, max_len, length_penalty=0.0):
        model = _seq2seq(params, params["encoder"]["embedding"])
        with torch.no_grad():
            _, state, _ = model.encode(src[:, None])  # (1, H)
            B = 1 if kind == "greedy" else beam_width
            alive = src.new_empty(1, 0)  # (B, t)
            total = state.new_zeros(1)  # (B,)
            y = src.new_full((1,), _BOS)
            finished: list[tuple[float, torch.Tensor]] = []
            for t in range(max_len):
                logits, state, _ = model.decoder(y, state)  # (B, V)
                V = logits.shape[-1]
                step = {"logits": logits, "no-log": _softmax(logits, -1)}.get(
                    kind, _log_softmax(logits, -1))  # fmt: skip
                candidates = total[:, None] + step  # (B, V)
                if kind == "per-beam" and t > 0:  # each hypothesis keeps its own best token
                    top, token = candidates.max(-1)
                    parent = torch.arange(token.shape[0], device=src.device)
                else:
                    top, index = candidates.flatten().topk(min(B, candidates.numel()))
                    parent, token = index // V, index % V
                extended = torch.cat([alive[parent], token[:, None]], 1)  # (B, t + 1)
                ends = torch.full_like(token, t == max_len - 1, dtype=torch.bool)
                if kind != "eos-continues":
                    ends |= token == _EOS
                for i in ends.nonzero().flatten().tolist():
                    n, value = t + 1, float(top[i])
                    if kind == "product":
                        value = math.exp(value)
                    if kind == "mean":
                        finished.append((value / n, extended[i]))
                    elif kind == "no-penalty":
                        finished.append((value, extended[i]))
                    else:
                        finished.append((value / ((5 + n) / 6) ** length_penalty, extended[i]))
                keep = ~ends
                if not keep.any() or (kind == "first-finished" and finished):
                    break
                alive, total, y = extended[keep], top[keep], token[keep]
                state = state[parent[keep]]
        score, tokens = max(finished, key=lambda pair: pair[0])
        return tokens, score

    return variant


# -- conceptual question: the encoder's parameters ----------------------------------------------

_ENC_V, _ENC_E, _ENC_H = 1000, 64, 128  # the sizes the notebook states


def _encoder_params_expected() -> int:
    # counted on the library's drop-in GRU (its parameters match torch.nn.GRU's, tested),
    # independently of the formula
    from rnncourse.gru import GRU

    embedding = torch.nn.Embedding(_ENC_V, _ENC_E)
    gru = GRU(_ENC_E, _ENC_H)
    return sum(p.numel() for p in (*embedding.parameters(), *gru.parameters()))


def _encoder_params_wrong(gates: int = 3, biases: int = 2, embedding: bool = True,
                          input_size: int = _ENC_E) -> Callable[[], int]:  # fmt: skip
    H = _ENC_H
    return lambda: (_ENC_V * _ENC_E if embedding else 0) + gates * (
        H * input_size + H * H + biases * H)  # fmt: skip


register(
    Spec(
        "additive_attention",
        _ref_additive_attention,
        _attention_inputs,
        ({"S": 5, "N": 4, "H": 3, "H_k": 3, "A": 4},  # H == H_k: swapped projections fit
         {"S": 4, "N": 3, "H": 2, "H_k": 5, "A": 3}),
        outputs=("context", "weights"),
        mistakes=mistakes(_attention_variant, {
            "wrong-axis": "the softmax runs over the batch; it runs over the source positions j, "
                          "so that each sequence's weights sum to 1 (weights[n].sum() == 1).",
            "mask-ignored": "the mask is ignored: padded positions (mask False) must get weight "
                            "exactly 0; set their scores to -inf before the softmax.",
            "mask-after": "the mask is applied after the softmax, so the weights of a padded "
                          "sequence no longer sum to 1: mask the scores (-inf) before it.",
            "no-tanh": "the tanh is missing: e_j = v^T tanh(W_q q + W_k k_j).",
            "swapped": "W_q and W_k are swapped: W_q projects the query (the decoder state), W_k "
                       "the keys (the encoder states).",
            "scores": "weights holds the scores e_j; return the softmax of them, α_j, which are "
                      ">= 0 and sum to 1.",
        }),
        forbidden=(*_S2S_FORBIDDEN, "rnncourse.seq2seq.AdditiveAttention.forward"),
        forbidden_library=LIBRARY_LAYERS,
    )
)  # fmt: skip
register(
    Spec(
        "beam_search",
        _ref_beam_search,
        _beam_inputs,
        ({"S": 4, "V": 9, "E": 3, "H": 4, "B": 3, "max_len": 5, "alpha": 1.0, "eos_bias": 2.0},
         {"S": 5, "V": 9, "E": 3, "H": 5, "B": 4, "max_len": 6, "alpha": 1.0, "eos_bias": 2.0,
          "sharpness": 0.7}),
        outputs=("tokens", "score"),
        mistakes=mistakes(_beam_variant, {
            "greedy": "this is greedy decoding: keep the beam_width best hypotheses at every "
                      "step, not only the best one.",
            "per-beam": "each hypothesis is extended by its own best token: choose the beam_width "
                        "best extensions over all hypotheses and tokens together (flatten the "
                        "(B, V) scores before topk).",
            "product": "the score is a product of probabilities; it is the sum of the "
                       "log-probabilities, log p(y | x) (a number <= 0).",
            "no-log": "probabilities are added; add log-probabilities: log p(y_1..y_t) = log "
                      "p(y_1..y_{t-1}) + log_softmax(logits_t).",
            "logits": "raw logits are added; turn them into log-probabilities with log_softmax "
                      "first.",
            "eos-continues": "a hypothesis that writes EOS is finished: set it aside and stop "
                             "extending it.",
            "first-finished": "the search stops at the first finished hypothesis; keep searching "
                              "with the live ones and return the best finished one in the end.",
            "no-penalty": "length_penalty is ignored: divide each finished score by ((5 + |y|) / "
                          "6) ** length_penalty.",
            "mean": "the score is divided by the length |y|; the length penalty is ((5 + |y|) / "
                    "6) ** length_penalty.",
        }),
        forbidden=_S2S_FORBIDDEN,
        forbidden_library=LIBRARY_LAYERS,
    )
)  # fmt: skip
register_answer(
    Answer(
        "encoder_params",
        _encoder_params_expected,
        integer=True,
        mistakes=(
            Mistake("lstm-gates", "a GRU has 3 gate blocks (r, z, n); 4 is an LSTM's.",
                    _encoder_params_wrong(gates=4)),
            Mistake("rnn-gates", "a GRU has 3 blocks of weights (r, z, n), not 1 like a plain "
                    "RNN.", _encoder_params_wrong(gates=1)),
            Mistake("one-bias", "each block has two biases, b_ih and b_hh (PyTorch's layout).",
                    _encoder_params_wrong(biases=1)),
            Mistake("no-biases", "the biases b_ih and b_hh (3H each) are parameters too.",
                    _encoder_params_wrong(biases=0)),
            Mistake("no-embedding", "the embedding table (V x E) is a parameter of the encoder "
                    "too.", _encoder_params_wrong(embedding=False)),
            Mistake("one-hot-input", "the GRU reads the E-dimensional embeddings, so W_ih is "
                    "3H x E, not 3H x V.", _encoder_params_wrong(input_size=_ENC_V)),
        ),
    )
)  # fmt: skip
