"""Tests for rnncourse.seq2seq (chapter 9): attention, teacher forcing, decoding, training."""

from __future__ import annotations

import itertools
import math
import random
import time

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnncourse import data
from rnncourse.seq2seq import (
    AdditiveAttention,
    AttentionDecoder,
    Decoder,
    Encoder,
    Seq2Seq,
    add_eos,
    beam_search,
    build_seq2seq,
    corpus_bleu,
    greedy_decode,
    sequence_accuracy,
    sequence_log_prob,
    token_accuracy,
)
from rnncourse.topologies import CELLS
from tests.conftest import dtype_for, tolerances

PAD, BOS, EOS = 0, 1, 2  # the tests' own small vocabularies


pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


def _model(
    seed: int,
    attention: bool = True,
    cell: str = "gru",
    V: int = 9,
    sharpen: float = 1.0,
    **kw,
) -> Seq2Seq:
    """A random untrained model; ``sharpen`` scales the weights to make outputs less uniform."""
    torch.manual_seed(seed)
    model = build_seq2seq(
        V, 6, 10, attention=attention, cell=cell, bos_id=BOS, eos_id=EOS, pad_id=PAD, **kw
    )
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(sharpen)
    return model


def _padded_src(lengths: list[int], V: int = 9, seed: int = 0) -> torch.Tensor:
    """Random right-padded source tokens (S, N) with ids in 3..V-1."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(3, V, (max(lengths), len(lengths)), generator=g)
    for n, length in enumerate(lengths):
        src[length:, n] = PAD
    return src


# ----------------------------------------------------------------------------------------
# encoder and attention
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
def test_encoder_padded_batch_equals_each_sequence_alone(cell: str) -> None:
    """Does the encoder's final state on a padded batch equal each sequence encoded alone?"""
    torch.manual_seed(0)
    enc = Encoder(9, 4, 6, cell, dtype=torch.float64)
    lengths = [5, 2, 1]
    src = _padded_src(lengths)
    memory, state = enc(src, torch.tensor(lengths))
    h = state[0] if isinstance(state, tuple) else state
    assert memory.shape == (5, 3, 6) and h.shape == (3, 6)
    for n, length in enumerate(lengths):
        _, alone = enc(src[:length, n : n + 1])
        alone_h = alone[0] if isinstance(alone, tuple) else alone
        torch.testing.assert_close(h[n : n + 1], alone_h, **tolerances(torch.float64))
        assert not memory[length:, n].any()


def test_additive_attention_matches_the_formula(device: torch.device) -> None:
    """Is AdditiveAttention e_j = v^T tanh(W_q q + W_k k_j), α = softmax over valid j, c = Σα k?"""
    torch.manual_seed(1)
    dtype = dtype_for(device)
    attn = AdditiveAttention(3, 4, 5, device=device, dtype=dtype)
    S, N = 6, 2
    q = torch.randn(N, 3, device=device, dtype=dtype)
    keys = torch.randn(S, N, 4, device=device, dtype=dtype)
    lengths = [6, 3]
    mask = torch.tensor([[j < length for length in lengths] for j in range(S)], device=device)
    context, weights = attn(q, keys, mask)
    W_q, W_k, v = attn.W_q.weight, attn.W_k.weight, attn.v.weight[0]
    for n, length in enumerate(lengths):
        scores = torch.stack([v @ torch.tanh(W_q @ q[n] + W_k @ keys[j, n]) for j in range(length)])
        alpha = scores.exp() / scores.exp().sum()
        want_context = sum(alpha[j] * keys[j, n] for j in range(length))
        torch.testing.assert_close(weights[n, :length], alpha, **tolerances(dtype))
        torch.testing.assert_close(context[n], want_context, **tolerances(dtype))


def test_attention_weights_sum_to_one_and_ignore_padding() -> None:
    """Do weights sum to 1, vanish exactly on padding, and padded keys leave the context alone?"""
    torch.manual_seed(2)
    attn = AdditiveAttention(3, 4, 5, dtype=torch.float64)
    S, N = 5, 3
    q = torch.randn(N, 3, dtype=torch.float64)
    keys = torch.randn(S, N, 4, dtype=torch.float64)
    mask = torch.arange(S).unsqueeze(1) < torch.tensor([5, 2, 1])  # (S, N)
    context, weights = attn(q, keys, mask)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(N, dtype=torch.float64))
    assert (weights.T[~mask] == 0).all() and (weights.T[mask] > 0).all()
    garbage = keys.masked_fill(~mask.unsqueeze(-1), 1e3)
    context_garbage, _ = attn(q, garbage, mask)
    torch.testing.assert_close(context_garbage, context, **tolerances(torch.float64))


def test_attention_rejects_bad_masks() -> None:
    """Do an all-padding column, a wrong shape or a non-bool mask raise errors naming `mask`?"""
    attn = AdditiveAttention(3, 4, 5)
    q, keys = torch.randn(2, 3), torch.randn(4, 2, 4)
    empty = torch.ones(4, 2, dtype=torch.bool)
    empty[:, 1] = False
    for bad, error in ((empty, ValueError), (empty[:3], ValueError), (empty.long(), TypeError)):
        with pytest.raises(error, match="mask"):
            attn(q, keys, bad)


# ----------------------------------------------------------------------------------------
# the model
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("attention", [True, False])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(("S", "T", "N"), [(1, 1, 1), (4, 6, 3)])
def test_forward_shapes(attention: bool, cell: str, S: int, T: int, N: int, device) -> None:
    """Does Seq2Seq return (T, N, V) logits and (T, N, S) attention (None without attention)?"""
    dtype = dtype_for(device)
    model = _model(0, attention, cell, device=device, dtype=dtype)
    src = torch.randint(3, 9, (S, N), device=device)
    tgt = torch.randint(3, 9, (T, N), device=device)
    logits, weights = model(src, tgt, return_attention=True)
    assert logits.shape == (T, N, 9) and logits.dtype == dtype
    if attention:
        assert weights.shape == (T, N, S)
        torch.testing.assert_close(weights.sum(-1), torch.ones(T, N, device=device, dtype=dtype))
    else:
        assert weights is None
    tokens, greedy_weights = greedy_decode(model, src, max_len=T + 1, return_attention=True)
    assert tokens.shape == (T + 1, N) and tokens.device.type == device.type
    assert (greedy_weights is None) == (not attention)


def test_model_attention_is_zero_on_source_padding() -> None:
    """With pad_id set, does the attention put exactly zero weight on padded source tokens?"""
    model = _model(3, attention=True)
    lengths = [4, 2, 1]
    src = _padded_src(lengths)
    tgt = torch.randint(3, 9, (5, 3))
    _, weights = model(src, tgt, return_attention=True)
    for n, length in enumerate(lengths):
        assert (weights[:, n, length:] == 0).all() and (weights[:, n, :length] > 0).all()


def test_bad_configurations_are_refused() -> None:
    """Do mismatched encoder/decoder sizes or cells, and a bad ratio, raise ValueError?"""
    with pytest.raises(ValueError, match="decoder"):
        Seq2Seq(Encoder(9, 4, 6), Decoder(9, 4, 7), BOS, EOS)
    with pytest.raises(ValueError, match="decoder"):
        Seq2Seq(Encoder(9, 4, 6, "gru"), AttentionDecoder(9, 4, 6, cell="lstm"), BOS, EOS)
    with pytest.raises(ValueError, match="decoder"):
        Seq2Seq(Encoder(9, 4, 6), AttentionDecoder(9, 4, 6, key_size=5), BOS, EOS)
    with pytest.raises(ValueError, match="eos_id"):
        Seq2Seq(Encoder(9, 4, 6), Decoder(9, 4, 6), BOS, 9)
    model = _model(0)
    with pytest.raises(ValueError, match="teacher_forcing_ratio"):
        model(torch.randint(3, 9, (3, 2)), torch.randint(3, 9, (3, 2)), 1.5)
    with pytest.raises(TypeError, match="src"):
        model(torch.randn(3, 2), torch.randint(3, 9, (3, 2)))


def test_accepts_torch_cells() -> None:
    """Do Encoder and AttentionDecoder run on torch.nn cell instances?"""
    enc = Encoder(9, 4, 6, cell=nn.LSTMCell(4, 6))
    dec = AttentionDecoder(9, 4, 6, cell=nn.LSTMCell(4 + 6, 6))
    model = Seq2Seq(enc, dec, BOS, EOS)
    assert model(torch.randint(3, 9, (3, 2)), torch.randint(3, 9, (4, 2))).shape == (4, 2, 9)


# ----------------------------------------------------------------------------------------
# teacher forcing
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("attention", [True, False])
def test_ratio_one_feeds_the_gold_previous_token(attention: bool) -> None:
    """At ratio 1, do logits at step t change with tgt[t-1], but never with tgt[t:]?"""
    model = _model(4, attention)
    src = torch.randint(3, 9, (4, 2))
    tgt = torch.randint(3, 8, (5, 2))
    base = model(src, tgt, 1.0)
    for t in range(1, 5):
        changed = tgt.clone()
        changed[t - 1] += 1
        out = model(src, changed, 1.0)
        torch.testing.assert_close(out[:t], base[:t])  # the past cannot see tgt[t-1]
        assert not torch.allclose(out[t], base[t])  # step t reads tgt[t-1]


@pytest.mark.parametrize("attention", [True, False])
def test_ratio_zero_ignores_targets_and_matches_greedy(attention: bool) -> None:
    """At ratio 0, are logits independent of tgt, with argmax equal to greedy decoding?"""
    model = _model(5, attention, sharpen=3.0)
    src = _padded_src([4, 3, 2])
    tgt = torch.randint(3, 9, (6, 3))
    logits = model(src, tgt, 0.0)
    torch.testing.assert_close(model(src, torch.randint(3, 9, (6, 3)), 0.0), logits)
    free = logits.argmax(-1)  # (T, N)
    greedy = greedy_decode(model, src, max_len=6)
    for n in range(3):
        stop = (greedy[:, n] == EOS).nonzero()
        end = stop[0].item() + 1 if len(stop) else 6
        assert torch.equal(greedy[:end, n], free[:end, n])
        assert (greedy[end:, n] == PAD).all()


def test_partial_ratio_is_reproducible_with_a_generator() -> None:
    """Does ratio 0.5 give the same logits for the same generator seed, and mix both regimes?"""
    model = _model(6, sharpen=3.0)
    src = torch.randint(3, 9, (5, 8))
    tgt = torch.randint(3, 9, (7, 8))
    first = model(src, tgt, 0.5, generator=torch.Generator().manual_seed(0))
    again = model(src, tgt, 0.5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert not torch.allclose(first, model(src, tgt, 1.0))
    assert not torch.allclose(first, model(src, tgt, 0.0))


def test_ratio_is_the_fraction_of_gold_inputs() -> None:
    """Is the gold token fed back with probability r (checked on 20,000 draws at r = 0.8)?"""
    N = 20_000
    gold = torch.full((N,), 5)
    logits = F.one_hot(torch.full((N,), 6), 9).float()  # the model would predict 6
    fed = Seq2Seq._next_input(gold, logits, 0.8, torch.Generator().manual_seed(0))
    assert set(fed.unique().tolist()) == {5, 6}
    assert abs((fed == 5).float().mean().item() - 0.8) < 0.01  # 3.5 standard deviations


def test_ratios_zero_and_one_draw_no_random_numbers() -> None:
    """Do ratios 0 and 1 leave the global random state untouched?"""
    model = _model(7)
    src, tgt = torch.randint(3, 9, (3, 2)), torch.randint(3, 9, (4, 2))
    before = torch.get_rng_state()
    model(src, tgt, 1.0)
    model(src, tgt, 0.0)
    assert torch.equal(torch.get_rng_state(), before)


# ----------------------------------------------------------------------------------------
# decoding
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("attention", [True, False])
@pytest.mark.parametrize("cell", CELLS)
def test_beam_width_one_is_greedy(attention: bool, cell: str) -> None:
    """Does beam search with beam_width=1 return greedy decoding's output?"""
    for seed in range(4):
        model = _model(seed, attention, cell, sharpen=3.0)
        src = _padded_src([5], seed=seed)
        greedy = greedy_decode(model, src, max_len=7)[:, 0]
        tokens, _ = beam_search(model, src[:, 0], beam_width=1, max_len=7)
        assert torch.equal(tokens, greedy[: len(tokens)])
        assert (greedy[len(tokens) :] == PAD).all()


def test_beam_score_is_the_sequence_log_prob() -> None:
    """Is the score beam search reports (α = 0) the log-probability of the tokens it returns?"""
    model = _model(8, sharpen=3.0)
    src = _padded_src([4])
    tokens, score = beam_search(model, src[:, 0], beam_width=3, max_len=6)
    log_prob = sequence_log_prob(model, src, tokens.unsqueeze(1))
    assert abs(log_prob.item() - score) < 1e-5


def test_beam_search_beats_greedy_on_random_models() -> None:
    """On 30 seeded random models, is beam search's output at least as probable as greedy's?

    Not a theorem (a greedy prefix dropped from the beam can have a likely continuation;
    with beam_width=2 and max_len=8 it happens in about 2% of random models); these seeded
    cases are scored independently with sequence_log_prob.
    """
    strictly_better = 0
    for seed in range(30):
        model = _model(seed, attention=seed % 2 == 0, cell=CELLS[seed % 3], sharpen=3.0)
        src = _padded_src([5], seed=seed)
        greedy = greedy_decode(model, src, max_len=6)
        tokens, _ = beam_search(model, src[:, 0], beam_width=3, max_len=6)
        greedy_lp = sequence_log_prob(model, src, greedy).item()
        beam_lp = sequence_log_prob(model, src, tokens.unsqueeze(1)).item()
        assert beam_lp >= greedy_lp - 1e-6
        strictly_better += beam_lp > greedy_lp + 1e-6
    assert strictly_better > 0  # the comparison is not vacuous


def _all_outputs(V: int, max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every output: ending in EOS within max_len, or max_len tokens without EOS (PAD after)."""
    outputs = []
    non_eos = [v for v in range(V) if v != EOS]
    for length in range(1, max_len + 1):
        for prefix in itertools.product(non_eos, repeat=length - 1):
            outputs.append(list(prefix) + [EOS] + [PAD] * (max_len - length))
    outputs += [list(seq) for seq in itertools.product(non_eos, repeat=max_len)]
    lengths = [seq.index(EOS) + 1 if EOS in seq else max_len for seq in outputs]
    return torch.tensor(outputs).T, torch.tensor(lengths)  # (max_len, M), (M,)


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_wide_beam_is_exhaustive_search(length_penalty: float) -> None:
    """With a beam wide enough to keep everything, is beam search's output the best of all?"""
    V, max_len = 5, 4
    src = torch.tensor([[3], [4], [3]])
    tgt, lengths = _all_outputs(V, max_len)  # 341 candidate outputs
    best_lengths, narrow_misses = set(), 0
    for seed in range(8):
        model = _model(seed, V=V, sharpen=2.0)
        with torch.no_grad():
            model.decoder.out.bias[EOS] -= 1.0  # make long outputs competitive
        log_p = sequence_log_prob(model, src.expand(-1, tgt.shape[1]), tgt)  # (M,)
        # score = log p / ((5 + |y|) / 6)^α
        scores = log_p / ((5 + lengths) / 6) ** length_penalty
        best = scores.argmax().item()
        tokens, score = beam_search(
            model, src[:, 0], beam_width=10_000, max_len=max_len, length_penalty=length_penalty
        )
        assert tokens.tolist() == tgt[: lengths[best], best].tolist()
        assert abs(score - scores[best].item()) < 1e-5
        best_lengths.add(lengths[best].item())
        _, narrow_score = beam_search(
            model, src[:, 0], beam_width=2, max_len=max_len, length_penalty=length_penalty
        )
        narrow_misses += narrow_score < score - 1e-6
    # not vacuous: optima of several lengths, and a narrow beam does miss some of them
    assert len(best_lengths) > 1
    assert narrow_misses > 0


def test_beam_search_rejects_batches() -> None:
    """Does beam search refuse a batch of several sources, naming `src`?"""
    with pytest.raises(ValueError, match="src"):
        beam_search(_model(0), torch.randint(3, 9, (4, 2)), beam_width=2, max_len=4)


# ----------------------------------------------------------------------------------------
# helpers and metrics
# ----------------------------------------------------------------------------------------


def test_add_eos_places_eos_after_each_sequence() -> None:
    """Does add_eos write EOS right after each sequence's last token, padding after it?"""
    tgt = torch.tensor([[5, 6, 7], [8, 0, 9], [4, 0, 0]])  # (T=3, N=3), lengths 3, 1, 2
    out = add_eos(tgt, [3, 1, 2], eos_id=EOS, pad_id=PAD)
    assert out.T.tolist() == [[5, 8, 4, EOS], [6, EOS, 0, 0], [7, 9, EOS, 0]]


def test_accuracies_on_hand_made_examples() -> None:
    """Do token and sequence accuracy count non-padding positions, logits and short outputs?"""
    tgt = torch.tensor([[5, 6], [7, EOS], [EOS, PAD]])  # (3, 2)
    pred = torch.tensor([[5, 6], [8, EOS], [EOS, 4]])  # one token wrong in sequence 0
    assert token_accuracy(pred, tgt, PAD) == pytest.approx(4 / 5)
    assert sequence_accuracy(pred, tgt, PAD) == pytest.approx(1 / 2)
    assert token_accuracy(pred, tgt) == pytest.approx(4 / 6)  # padding counted without pad_id
    logits = F.one_hot(tgt, 9).double()  # (3, 2, 9): a perfect prediction as logits
    assert token_accuracy(logits, tgt, PAD) == 1.0 and sequence_accuracy(logits, tgt, PAD) == 1.0
    short = pred[:1]  # stopped after one token: the missing ones count as wrong
    assert token_accuracy(short, tgt, PAD) == pytest.approx(2 / 5)
    assert sequence_accuracy(short, tgt, PAD) == 0.0


# ----------------------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------------------


def test_learns_to_reverse_digit_strings() -> None:
    """Does a tiny attention GRU reverse 3-5 digit strings to > 90% token accuracy in ~10 s?"""
    torch.manual_seed(0)
    V = data.FIRST_SYMBOL + 10
    model = build_seq2seq(V, 16, 32, attention=True, cell="gru")
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    test = data.reverse_task(500, 5, seed=123, min_len=3)
    test_tgt = add_eos(test.tgt, test.lengths, data.EOS, data.PAD)
    start = time.perf_counter()
    for step in range(120):
        batch = data.reverse_task(64, 5, seed=1000 + step, min_len=3)
        tgt = add_eos(batch.tgt, batch.lengths, data.EOS, data.PAD)
        logits = model(batch.src, tgt)
        loss = F.cross_entropy(logits.flatten(0, 1), tgt.flatten(), ignore_index=data.PAD)
        opt.zero_grad()
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - start
    pred = greedy_decode(model, test.src, max_len=6)
    accuracy = token_accuracy(pred, test_tgt, data.PAD)
    print(f"reverse 3-5 digits: token accuracy {accuracy:.3f} after {seconds:.1f} s")
    assert accuracy > 0.9


# Reference values: sacrebleu 2.6.0, corpus_bleu on the space-joined tokens, tokenize="none"
# (defaults otherwise: smooth_method="exp", 4-grams, one reference per hypothesis).
BLEU_CASES = [
    (
        [[0, 4, 1], [2], [4, 2, 0, 4, 0, 0, 3], [2, 1]],
        [[0, 2, 4, 3, 3, 2, 3], [4, 4, 1, 2, 0], [3, 2, 4, 1, 4, 3], [4]],
        4.979510283661857,
    ),
    (
        [
            [0, 0, 2, 4, 3, 0, 2, 4, 0, 4],
            [3, 0, 4, 3, 2, 1, 2],
            [3, 4, 2, 4, 1, 1, 4, 3],
            [1, 1, 0, 2, 0],
            [0, 4, 4],
        ],
        [
            [0, 0, 2, 4, 3, 0, 2, 4],
            [3, 0, 4, 3, 2],
            [1, 0, 0],
            [3, 2, 0, 2, 4, 0, 3, 4],
            [1, 2, 3, 0, 0, 1],
        ],
        44.30686517162785,
    ),
    ([[0, 4, 4]], [[0]], 0.0),
    ([[]], [[4]], 0.0),
    (
        [
            [],
            [4, 0, 2, 0, 1, 0],
            [0, 3, 1, 2, 2, 3, 4, 1, 1],
            [1, 2, 4],
            [4, 2, 2, 3, 2, 1, 4, 0, 3],
            [0, 4, 4, 2],
        ],
        [[3, 1], [4], [3, 1, 0, 4, 3, 0], [1], [0, 3, 3], [0, 4, 2, 1, 1, 3]],
        6.999383015977285,
    ),
    (
        [[3, 3, 4], [3, 0, 1, 3, 0, 2, 1, 3, 4], [4, 0, 1], [3, 2, 0, 1, 0, 0, 0, 1]],
        [[0, 0, 4, 1, 2, 1, 1], [3], [4, 0, 0, 3, 2, 2, 3, 0, 3], [3, 2, 0, 1, 0, 0, 4]],
        30.26630540385759,
    ),
    ([[1, 2, 3, 4, 6]], [[1, 2, 3, 4, 5]], 66.87403049764218),
]


@pytest.mark.parametrize(("hyps", "refs", "expected"), BLEU_CASES)
def test_corpus_bleu_matches_sacrebleu(hyps, refs, expected):
    """Does corpus_bleu give sacrebleu's score (smoothing, brevity penalty, clipping included)?"""
    assert corpus_bleu(hyps, refs) == pytest.approx(expected, abs=1e-9)


def test_corpus_bleu_matches_sacrebleu_live():
    """Where sacrebleu is installed, does corpus_bleu agree with it on random corpora?"""
    sacrebleu = pytest.importorskip("sacrebleu")
    rng = random.Random(1)
    for _ in range(50):
        refs = [[rng.randint(0, 4) for _ in range(rng.randint(1, 9))] for _ in range(4)]
        hyps = [r[: rng.randint(0, len(r))] + [rng.randint(0, 4)] for r in refs]
        theirs = sacrebleu.corpus_bleu(
            [" ".join(map(str, h)) for h in hyps],
            [[" ".join(map(str, r)) for r in refs]],
            tokenize="none",
        ).score
        assert corpus_bleu(hyps, refs) == pytest.approx(theirs, abs=1e-9)


def test_corpus_bleu_edges():
    """Is a perfect corpus 100, a clipped repeat penalised, and a length mismatch rejected?"""
    assert corpus_bleu([[1, 2, 3, 4]], [[1, 2, 3, 4]]) == pytest.approx(100.0)
    # "the the the the" against "the cat": one "the" counts, not four
    assert corpus_bleu([["the"] * 4], [["the", "cat"]], max_order=1) == pytest.approx(25.0)
    # a correct but short hypothesis pays the brevity penalty exp(1 - r/c)
    assert corpus_bleu([[1, 2]], [[1, 2, 3, 4]], max_order=1) == pytest.approx(100 * math.exp(-1))
    with pytest.raises(ValueError, match="references"):
        corpus_bleu([[1]], [[1], [2]])
