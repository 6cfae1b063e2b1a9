"""Chapter 9: sequence to sequence, with and without attention, and how to decode.

An :class:`Encoder` reads the source tokens; a decoder writes the target one token at a
time, starting from ``BOS`` and from the encoder's final state, until it writes ``EOS``:

* :class:`Decoder` sees the source only through that final state: one fixed-size vector
  for the whole input, the *bottleneck* that hurts on long inputs;
* :class:`AttentionDecoder` (Bahdanau et al., 2015) also looks at every encoder state at every
  step through :class:`AdditiveAttention`, and returns where it looked.

:class:`Seq2Seq` ties them together and trains with teacher forcing (a ratio, seeded through
a ``torch.Generator``); :func:`greedy_decode` and :func:`beam_search` generate;
:func:`sequence_log_prob` scores a given output; :func:`token_accuracy` and
:func:`sequence_accuracy` measure, and :func:`build_seq2seq` makes the attention / no-attention
pair of the chapter's comparison with the same sizes.

Conventions. Token tensors are time-major ``(T, N)`` integers, right-padded; source and target
come without ``BOS``/``EOS`` from :mod:`rnncourse.data`, and :func:`add_eos` appends ``EOS`` to
the targets. The decoder's input at step ``t`` is ``BOS`` for ``t = 0`` and the previous target
token after that; its output at step ``t`` predicts ``tgt[t]``. Any cell works
(``cell="rnn" | "lstm" | "gru"`` or an instance), as in chapter 6's :mod:`rnncourse.topologies`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnncourse._checks import Factory, check_device, check_positive_int, check_shape, check_steps
from rnncourse._recurrent import State, check_lengths, hidden_of, map_state, unroll
from rnncourse.topologies import cell_kind, make_cell

__all__ = [
    "Encoder",
    "Decoder",
    "AdditiveAttention",
    "AttentionDecoder",
    "Seq2Seq",
    "build_seq2seq",
    "add_eos",
    "greedy_decode",
    "beam_search",
    "sequence_log_prob",
    "token_accuracy",
    "sequence_accuracy",
    "corpus_bleu",
]

Lengths = Tensor | Sequence[int]


def _check_tokens(
    name: str, tokens: Tensor, N: int | None = None, vocab_size: int | None = None
) -> None:
    """Raise unless ``tokens`` is a ``(T, N)`` integer tensor, with ids in ``0..V-1`` if
    ``vocab_size`` (``V``) is given."""
    check_shape(name, tokens, ("T", "N"), (None, N))
    if tokens.is_floating_point() or tokens.is_complex() or tokens.dtype == torch.bool:
        raise TypeError(f"{name}: expected integer token ids, got dtype {tokens.dtype}")
    if vocab_size is not None and tokens.numel() > 0:
        low, high = int(tokens.min()), int(tokens.max())
        if low < 0 or high >= vocab_size:
            raise ValueError(
                f"{name}: expected token ids in 0..V-1 = 0..{vocab_size - 1}, "
                f"got ids from {low} to {high}"
            )


# ----------------------------------------------------------------------------------------
# Encoder, attention, decoders
# ----------------------------------------------------------------------------------------


class Encoder(nn.Module):
    r"""Embed the source tokens and run a recurrent cell over them.

    .. math::
        h_j = \mathrm{cell}(E x_j, h_{j-1}), \quad j = 1, \dots, S

    where :math:`E x_j` is the embedding of token :math:`x_j` and :math:`h_0 = 0`. With
    ``lengths`` the state stops at each sequence's last token (see
    :func:`rnncourse._recurrent.unroll`).

    Args:
        vocab_size: number of source tokens ``V_src``.
        emb_size: embedding size ``E``.
        hidden_size: ``H``.
        cell: ``"rnn"``, ``"lstm"``, ``"gru"`` or a cell instance (input ``E``).
        padding_idx: passed to ``nn.Embedding`` (its embedding stays zero).

    Inputs: ``src, lengths=None``
        - **src**: ``(S, N)`` token ids.
        - **lengths**: optional ``(N,)`` unpadded source lengths.

    Outputs: ``(memory, state)``
        - **memory**: ``(S, N, H)``, every :math:`h_j` (zero at padding): the keys for attention.
        - **state**: the final state, ``(N, H)`` or ``(h, c)``; it initialises the decoder.

    Examples::

        >>> enc = Encoder(14, 8, 32)
        >>> memory, state = enc(torch.randint(4, 14, (5, 2)))
        >>> memory.shape, state.shape
        (torch.Size([5, 2, 32]), torch.Size([2, 32]))
    """

    def __init__(
        self,
        vocab_size: int,
        emb_size: int,
        hidden_size: int,
        cell: str | nn.Module = "gru",
        *,
        padding_idx: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_device("device", device)
        check_positive_int("vocab_size", vocab_size)
        check_positive_int("emb_size", emb_size)
        self.vocab_size, self.hidden_size = vocab_size, hidden_size
        kw: Factory = {"device": device, "dtype": dtype}
        self.embedding = nn.Embedding(vocab_size, emb_size, padding_idx=padding_idx, **kw)
        self.cell = make_cell(cell, emb_size, hidden_size, **kw)

    def forward(self, src: Tensor, lengths: Lengths | None = None) -> tuple[Tensor, State]:
        _check_tokens("src", src, vocab_size=self.vocab_size)
        check_steps("src", src)
        x = self.embedding(src)  # (S, N, E)
        return unroll(self.cell, x, lengths=lengths)


class AdditiveAttention(nn.Module):
    r"""Additive (Bahdanau) attention: score every key against one query, average the keys.

    .. math::
        e_{j} = v^\top \tanh(W_q q + W_k k_j), \quad
        \alpha_{j} = \frac{\exp e_{j}}{\sum_{i \in \mathrm{valid}} \exp e_{i}}, \quad
        c = \sum_j \alpha_{j} k_j

    where :math:`q` is the query (the decoder state :math:`s_{t-1}`), :math:`k_j` the keys (the
    encoder states :math:`h_j`), :math:`W_q` ``(A, H_q)``, :math:`W_k` ``(A, H_k)`` and
    :math:`v` ``(A,)`` learned, and padded positions get :math:`\alpha_j = 0` exactly (their
    score is set to :math:`-\infty` before the softmax).

    Args:
        query_size: ``H_q``.
        key_size: ``H_k``.
        attn_size: ``A``, the size of the hidden layer that compares them.

    Inputs: ``query, keys, mask=None``
        - **query**: ``(N, H_q)``.
        - **keys**: ``(S, N, H_k)``, time-major like the encoder's ``memory``.
        - **mask**: optional ``(S, N)`` bool, ``True`` at real tokens, ``False`` at padding;
          every sequence needs at least one ``True``.

    Outputs: ``(context, weights)``
        - **context**: ``(N, H_k)``, :math:`c`.
        - **weights**: ``(N, S)``, :math:`\alpha`; each row sums to 1.

    Examples::

        >>> attn = AdditiveAttention(32, 32, 16)
        >>> context, weights = attn(torch.randn(2, 32), torch.randn(5, 2, 32))
        >>> context.shape, weights.shape
        (torch.Size([2, 32]), torch.Size([2, 5]))
    """

    def __init__(
        self,
        query_size: int,
        key_size: int,
        attn_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_device("device", device)
        for name, size in (("query_size", query_size), ("key_size", key_size)):
            check_positive_int(name, size)
        check_positive_int("attn_size", attn_size)
        self.query_size, self.key_size, self.attn_size = query_size, key_size, attn_size
        kw: Factory = {"device": device, "dtype": dtype}
        self.W_q = nn.Linear(query_size, attn_size, bias=False, **kw)
        self.W_k = nn.Linear(key_size, attn_size, bias=False, **kw)
        self.v = nn.Linear(attn_size, 1, bias=False, **kw)

    def forward(
        self, query: Tensor, keys: Tensor, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        check_shape("keys", keys, ("S", "N", "H_k"), (None, None, self.key_size))
        S, N, _ = keys.shape
        check_shape("query", query, ("N", "H_q"), (N, self.query_size))
        # e_j = v^T tanh(W_q q + W_k k_j)
        scores = self.v(torch.tanh(self.W_q(query) + self.W_k(keys))).squeeze(-1)  # (S, N)
        if mask is not None:
            check_shape("mask", mask, ("S", "N"), (S, N))
            if mask.dtype != torch.bool:
                raise TypeError(f"mask: expected dtype torch.bool, got {mask.dtype}")
            if not mask.any(dim=0).all():
                raise ValueError("mask: every sequence needs at least one valid (True) position")
            scores = scores.masked_fill(~mask, float("-inf"))
        # α_j = softmax_j(e_j), zero where masked
        weights = torch.softmax(scores, dim=0)  # (S, N)
        # c = Σ_j α_j k_j
        context = (weights.unsqueeze(-1) * keys).sum(dim=0)  # (N, H_k)
        return context, weights.T


class Decoder(nn.Module):
    r"""A plain decoder: one step of next-token prediction from its own state only.

    .. math::
        s_t = \mathrm{cell}(E y_{t-1}, s_{t-1}), \quad
        \mathrm{logits}_t = W_{hy} s_t + b_y

    where :math:`y_{t-1}` is the previous token (``BOS`` at the start) and :math:`s_0` the
    encoder's final state. The source reaches the decoder only through :math:`s_0`.

    Args:
        vocab_size: number of target tokens ``V``.
        emb_size: embedding size ``E``.
        hidden_size: ``H``, equal to the encoder's.
        cell: ``"rnn"``, ``"lstm"``, ``"gru"`` or a cell instance (input ``E``), of the
            encoder's kind.

    Inputs: ``y_prev, state, memory=None, mask=None``
        - **y_prev**: ``(N,)`` previous tokens.
        - **state**: ``(N, H)`` or ``(h, c)``, :math:`s_{t-1}`.
        - **memory**, **mask**: ignored (accepted so that both decoders share one interface).

    Outputs: ``(logits, state, weights)``
        - **logits**: ``(N, V)``, unnormalised scores of the next token.
        - **state**: :math:`s_t`.
        - **weights**: ``None`` (no attention).
    """

    def __init__(
        self,
        vocab_size: int,
        emb_size: int,
        hidden_size: int,
        cell: str | nn.Module = "gru",
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_device("device", device)
        check_positive_int("vocab_size", vocab_size)
        check_positive_int("emb_size", emb_size)
        self.vocab_size, self.hidden_size = vocab_size, hidden_size
        kw: Factory = {"device": device, "dtype": dtype}
        self.embedding = nn.Embedding(vocab_size, emb_size, **kw)
        self.cell = make_cell(cell, emb_size, hidden_size, **kw)
        self.out = nn.Linear(hidden_size, vocab_size, **kw)

    def forward(
        self,
        y_prev: Tensor,
        state: State,
        memory: Tensor | None = None,
        mask: Tensor | None = None,
    ) -> tuple[Tensor, State, None]:
        # s_t = cell(E y_{t-1}, s_{t-1})
        state = self.cell(self.embedding(y_prev), state)
        # logits_t = W_hy s_t + b_y
        logits = self.out(hidden_of(state))  # (N, V)
        return logits, state, None


class AttentionDecoder(nn.Module):
    r"""A Bahdanau-style decoder: at every step, attend over all encoder states.

    .. math::
        c_t = \sum_j \alpha_{tj} h_j, \quad
        \alpha_{tj} = \mathrm{softmax}_j\big(v^\top \tanh(W_q s_{t-1} + W_k h_j)\big), \\
        s_t = \mathrm{cell}([E y_{t-1}; c_t], s_{t-1}), \quad
        \mathrm{logits}_t = W_{hy} [s_t; c_t] + b_y

    where :math:`h_j` are the encoder states (``memory``), :math:`s_{t-1}` the decoder's
    previous hidden state (``h`` of the LSTM pair), :math:`y_{t-1}` the previous token and
    :math:`[\cdot;\cdot]` concatenation. Unlike Bahdanau et al. the encoder is unidirectional
    and the output layer is linear (no maxout); the attention is theirs.

    Args:
        vocab_size: number of target tokens ``V``.
        emb_size: embedding size ``E``.
        hidden_size: ``H``, equal to the encoder's.
        key_size: ``H_k``, size of the encoder states (default ``hidden_size``).
        attn_size: ``A`` of :class:`AdditiveAttention` (default ``hidden_size``).
        cell: ``"rnn"``, ``"lstm"``, ``"gru"`` or a cell instance (input ``E + H_k``).

    Inputs: ``y_prev, state, memory, mask=None``
        - **y_prev**: ``(N,)`` previous tokens.
        - **state**: ``(N, H)`` or ``(h, c)``, :math:`s_{t-1}`.
        - **memory**: ``(S, N, H_k)``, the encoder states.
        - **mask**: optional ``(S, N)`` bool, ``False`` at source padding.

    Outputs: ``(logits, state, weights)``
        - **logits**: ``(N, V)``.
        - **state**: :math:`s_t`.
        - **weights**: ``(N, S)``, :math:`\alpha_{t\cdot}`, zero at padding, rows sum to 1.
    """

    def __init__(
        self,
        vocab_size: int,
        emb_size: int,
        hidden_size: int,
        key_size: int | None = None,
        attn_size: int | None = None,
        cell: str | nn.Module = "gru",
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_device("device", device)
        check_positive_int("vocab_size", vocab_size)
        check_positive_int("emb_size", emb_size)
        key_size = hidden_size if key_size is None else key_size
        attn_size = hidden_size if attn_size is None else attn_size
        self.vocab_size, self.hidden_size, self.key_size = vocab_size, hidden_size, key_size
        kw: Factory = {"device": device, "dtype": dtype}
        self.embedding = nn.Embedding(vocab_size, emb_size, **kw)
        self.attention = AdditiveAttention(hidden_size, key_size, attn_size, **kw)
        self.cell = make_cell(cell, emb_size + key_size, hidden_size, **kw)
        self.out = nn.Linear(hidden_size + key_size, vocab_size, **kw)

    def forward(
        self,
        y_prev: Tensor,
        state: State,
        memory: Tensor,
        mask: Tensor | None = None,
    ) -> tuple[Tensor, State, Tensor]:
        # c_t = Σ_j α_tj h_j, with α_t computed from s_{t-1}
        context, weights = self.attention(hidden_of(state), memory, mask)  # (N, H_k), (N, S)
        # s_t = cell([E y_{t-1}; c_t], s_{t-1})
        state = self.cell(torch.cat([self.embedding(y_prev), context], dim=-1), state)
        # logits_t = W_hy [s_t; c_t] + b_y
        logits = self.out(torch.cat([hidden_of(state), context], dim=-1))  # (N, V)
        return logits, state, weights


# ----------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------


class Seq2Seq(nn.Module):
    r"""Encoder + decoder, trained with teacher forcing.

    .. math::
        p(y_1, \dots, y_T \mid x) = \prod_{t=1}^{T} p(y_t \mid y_{<t}, x), \quad
        p(y_t \mid y_{<t}, x) = \mathrm{softmax}(\mathrm{logits}_t)

    where the decoder starts from the encoder's final state and from ``BOS``. With teacher
    forcing ratio :math:`r`, the input at step :math:`t > 0` is the gold token ``tgt[t-1]``
    with probability :math:`r` (drawn per example and step) and the model's own previous
    prediction ``argmax logits_{t-1}`` otherwise: :math:`r = 1` is pure teacher forcing,
    :math:`r = 0` runs free exactly as :func:`greedy_decode` does.

    Args:
        encoder: an :class:`Encoder`.
        decoder: a :class:`Decoder` or :class:`AttentionDecoder` with the encoder's hidden size
            and cell kind (the encoder's final state becomes the decoder's first state).
        bos_id: token that starts decoding.
        eos_id: token that ends a sequence.
        pad_id: padding token, optional. If set, source lengths are read from ``src != pad_id``
            when not given, and :func:`greedy_decode` writes it after ``EOS``.

    Inputs: ``src, tgt, teacher_forcing_ratio=1.0, *, src_lengths=None, generator=None,
    return_attention=False``
        - **src**: ``(S, N)`` source tokens, right-padded.
        - **tgt**: ``(T, N)`` target tokens ending with ``EOS`` (:func:`add_eos`), no ``BOS``.
        - **teacher_forcing_ratio**: :math:`r \in [0, 1]`.
        - **src_lengths**: optional ``(N,)`` source lengths.
        - **generator**: a CPU ``torch.Generator`` for the teacher-forcing draws
          (the global generator if ``None``); no draws are made for :math:`r \in \{0, 1\}`.
        - **return_attention**: also return the attention weights.

    Outputs: ``logits`` ``(T, N, V)``, or ``(logits, attention)`` with attention
    ``(T, N, S)`` (``None`` for a plain :class:`Decoder`).

    Examples::

        >>> model = Seq2Seq(Encoder(14, 8, 32), AttentionDecoder(14, 8, 32), bos_id=2, eos_id=3)
        >>> src, tgt = torch.randint(4, 14, (5, 2)), torch.randint(4, 14, (6, 2))
        >>> model(src, tgt).shape
        torch.Size([6, 2, 14])
        >>> loss = F.cross_entropy(model(src, tgt).flatten(0, 1), tgt.flatten(), ignore_index=0)
    """

    def __init__(
        self,
        encoder: Encoder,
        decoder: Decoder | AttentionDecoder,
        bos_id: int,
        eos_id: int,
        pad_id: int | None = None,
    ) -> None:
        super().__init__()
        if decoder.hidden_size != encoder.hidden_size:
            raise ValueError(
                f"decoder: expected hidden_size {encoder.hidden_size} (the encoder's), "
                f"got {decoder.hidden_size}"
            )
        if cell_kind(decoder.cell) != cell_kind(encoder.cell):
            raise ValueError(
                f"decoder: expected a {cell_kind(encoder.cell)} cell like the encoder, "
                f"got {cell_kind(decoder.cell)}"
            )
        if isinstance(decoder, AttentionDecoder) and decoder.key_size != encoder.hidden_size:
            raise ValueError(
                f"decoder: expected key_size {encoder.hidden_size} (the encoder's hidden_size), "
                f"got {decoder.key_size}"
            )
        for name, token in (("bos_id", bos_id), ("eos_id", eos_id), ("pad_id", pad_id)):
            if token is not None and not 0 <= token < decoder.vocab_size:
                raise ValueError(f"{name}: expected a token id in 0..{decoder.vocab_size - 1}")
        self.encoder, self.decoder = encoder, decoder
        self.bos_id, self.eos_id, self.pad_id = bos_id, eos_id, pad_id

    def encode(
        self, src: Tensor, src_lengths: Lengths | None = None
    ) -> tuple[Tensor, State, Tensor]:
        """Run the encoder; return ``memory`` ``(S, N, H)``, its final state and the source
        ``mask`` ``(S, N)`` (``True`` at real tokens)."""
        _check_tokens("src", src, vocab_size=getattr(self.encoder, "vocab_size", None))
        check_steps("src", src)
        S, N = src.shape
        if src_lengths is None and self.pad_id is not None:
            src_lengths = (src != self.pad_id).sum(dim=0)  # (N,), right padding assumed
        if src_lengths is None:
            mask = torch.ones(S, N, dtype=torch.bool, device=src.device)  # (S, N)
        else:
            src_lengths = check_lengths(src_lengths, S, N, src.device)
            mask = torch.arange(S, device=src.device).unsqueeze(1) < src_lengths  # (S, N)
        memory, state = self.encoder(src, src_lengths)
        return memory, state, mask

    def forward(
        self,
        src: Tensor,
        tgt: Tensor,
        teacher_forcing_ratio: float = 1.0,
        *,
        src_lengths: Lengths | None = None,
        generator: torch.Generator | None = None,
        return_attention: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor | None]:
        if not 0.0 <= teacher_forcing_ratio <= 1.0:
            raise ValueError(
                f"teacher_forcing_ratio: expected a number in [0, 1], got {teacher_forcing_ratio}"
            )
        V = getattr(self.decoder, "vocab_size", None)
        _check_tokens("tgt", tgt, src.shape[1] if src.dim() == 2 else None, vocab_size=V)
        memory, state, mask = self.encode(src, src_lengths)
        T, N = tgt.shape
        y = tgt.new_full((N,), self.bos_id)  # (N,) step 0 reads BOS
        all_logits, all_weights = [], []
        for t in range(T):
            logits, state, weights = self.decoder(y, state, memory, mask)
            all_logits.append(logits)
            all_weights.append(weights)
            if t + 1 < T:
                y = self._next_input(tgt[t], logits, teacher_forcing_ratio, generator)
        logits = torch.stack(all_logits)  # (T, N, V)
        if not return_attention:
            return logits
        attention = None if all_weights[0] is None else torch.stack(all_weights)  # (T, N, S)
        return logits, attention

    @staticmethod
    def _next_input(
        gold: Tensor, logits: Tensor, ratio: float, generator: torch.Generator | None
    ) -> Tensor:
        """The gold token with probability ``ratio``, else the model's own prediction."""
        if ratio == 1.0:
            return gold
        predicted = logits.argmax(dim=-1)  # (N,)
        if ratio == 0.0:
            return predicted
        draw_device = generator.device if generator is not None else torch.device("cpu")
        coin = torch.rand(gold.shape[0], generator=generator, device=draw_device) < ratio
        return torch.where(coin.to(gold.device), gold, predicted)


def build_seq2seq(
    vocab_size: int,
    emb_size: int,
    hidden_size: int,
    *,
    attention: bool = True,
    cell: str = "gru",
    bos_id: int | None = None,
    eos_id: int | None = None,
    pad_id: int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Seq2Seq:
    """A :class:`Seq2Seq` with or without attention, the same sizes otherwise.

    One vocabulary serves source and target (the toy tasks of :mod:`rnncourse.data`); the
    special token ids default to that module's ``BOS``, ``EOS`` and ``PAD``.

    Examples::

        >>> with_attn = build_seq2seq(14, 16, 64, attention=True)
        >>> without = build_seq2seq(14, 16, 64, attention=False)
    """
    from rnncourse import data

    bos_id = data.BOS if bos_id is None else bos_id
    eos_id = data.EOS if eos_id is None else eos_id
    pad_id = data.PAD if pad_id is None else pad_id
    kw: Factory = {"device": device, "dtype": dtype}
    encoder = Encoder(vocab_size, emb_size, hidden_size, cell, padding_idx=pad_id, **kw)
    if attention:
        decoder: Decoder | AttentionDecoder = AttentionDecoder(
            vocab_size, emb_size, hidden_size, cell=cell, **kw
        )
    else:
        decoder = Decoder(vocab_size, emb_size, hidden_size, cell, **kw)
    return Seq2Seq(encoder, decoder, bos_id, eos_id, pad_id)


def add_eos(tgt: Tensor, lengths: Lengths, eos_id: int, pad_id: int = 0) -> Tensor:
    """Append ``EOS`` after each target sequence: ``(T, N)`` → ``(T + 1, N)``.

    Examples::

        >>> add_eos(torch.tensor([[5, 6], [7, 0]]), [2, 1], eos_id=3).T.tolist()
        [[5, 7, 3], [6, 3, 0]]
    """
    _check_tokens("tgt", tgt)
    T, N = tgt.shape
    lengths = check_lengths(lengths, T, N, tgt.device)
    out = torch.cat([tgt, tgt.new_full((1, N), pad_id)])  # (T + 1, N)
    out[lengths, torch.arange(N, device=tgt.device)] = eos_id
    return out


# ----------------------------------------------------------------------------------------
# Decoding and scoring
# ----------------------------------------------------------------------------------------


@torch.no_grad()
def greedy_decode(
    model: Seq2Seq,
    src: Tensor,
    max_len: int,
    *,
    src_lengths: Lengths | None = None,
    return_attention: bool = False,
) -> Tensor | tuple[Tensor, Tensor | None]:
    r"""Decode a batch greedily: feed back the most likely token until ``EOS``.

    .. math::
        \hat y_t = \arg\max_v \, p(v \mid \hat y_{<t}, x)

    where :math:`\hat y_0 = ` ``BOS``. A sequence stops at its first ``EOS`` (kept in the
    output); later positions hold ``model.pad_id`` (``eos_id`` if there is none).

    Args:
        model: a :class:`Seq2Seq`.
        src: ``(S, N)`` source tokens.
        max_len: at most this many output tokens (``EOS`` included).
        src_lengths: optional ``(N,)`` source lengths.
        return_attention: also return the ``(max_len, N, S)`` attention weights.

    Outputs: ``tokens`` ``(max_len, N)``, or ``(tokens, attention)``.

    Examples::

        >>> model = build_seq2seq(14, 16, 32).eval()
        >>> src = torch.tensor([[3, 4], [5, 6], [7, 8]])  # (S, N) = (3, 2)
        >>> tokens = greedy_decode(model, src, max_len=8)
        >>> tokens.shape
        torch.Size([8, 2])
        >>> tokens, attention = greedy_decode(model, src, max_len=8, return_attention=True)
        >>> attention.shape  # (max_len, N, S)
        torch.Size([8, 2, 3])
    """
    check_positive_int("max_len", max_len)
    memory, state, mask = model.encode(src, src_lengths)
    N = src.shape[1]
    fill = model.eos_id if model.pad_id is None else model.pad_id
    tokens = src.new_full((max_len, N), fill)  # (max_len, N)
    y = src.new_full((N,), model.bos_id)  # (N,)
    done = torch.zeros(N, dtype=torch.bool, device=src.device)  # (N,)
    all_weights = []
    for t in range(max_len):
        logits, state, weights = model.decoder(y, state, memory, mask)
        all_weights.append(weights)
        # ŷ_t = argmax_v p(v | ŷ_<t, x)
        y = logits.argmax(dim=-1)  # (N,)
        tokens[t] = torch.where(done, fill, y)
        done |= y == model.eos_id
        if done.all():
            break
    if not return_attention:
        return tokens
    if all_weights[0] is None:
        return tokens, None
    attention = memory.new_zeros(max_len, N, memory.shape[0])  # (max_len, N, S)
    attention[: len(all_weights)] = torch.stack(all_weights)
    return tokens, attention


@torch.no_grad()
def beam_search(
    model: Seq2Seq,
    src: Tensor,
    beam_width: int,
    max_len: int,
    *,
    length_penalty: float = 0.0,
) -> tuple[Tensor, float]:
    r"""Decode one source sequence with beam search.

    .. math::
        \mathrm{score}(y) = \frac{\log p(y \mid x)}{\mathrm{lp}(y)}, \quad
        \mathrm{lp}(y) = \left(\frac{5 + |y|}{6}\right)^{\alpha}

    where :math:`|y|` counts the tokens including ``EOS`` and :math:`\alpha` is
    ``length_penalty`` (Wu et al., 2016). :math:`\alpha = 0` ranks by log-probability, which
    favours short outputs; :math:`\alpha > 0` lets longer outputs compete.

    At every step the ``beam_width`` best one-token extensions of the live hypotheses are kept;
    those ending in ``EOS`` are finished and leave the beam; after ``max_len`` steps the live ones
    finish unterminated. The best finished hypothesis by score is returned. With
    :math:`\alpha = 0` the search stops early once no live hypothesis can beat the best finished
    one (log-probabilities only fall). ``beam_width=1`` is :func:`greedy_decode`; a beam wide
    enough to keep every hypothesis is exhaustive search. Beam search is **not** guaranteed to
    find a more probable output than greedy decoding: a greedy prefix dropped from the beam may
    have had a likely continuation.

    Args:
        model: a :class:`Seq2Seq`.
        src: one source sequence, ``(S,)`` or ``(S, 1)`` (loop over a batch example by example).
        beam_width: :math:`B`, hypotheses kept per step.
        max_len: at most this many output tokens (``EOS`` included).
        length_penalty: :math:`\alpha \ge 0`.

    Outputs: ``(tokens, score)``
        - **tokens**: ``(L,)`` the best output, ending with ``EOS`` unless it ran out of length.
        - **score**: its score (its log-probability when :math:`\alpha = 0`).

    Examples::

        >>> model = build_seq2seq(14, 16, 32).eval()
        >>> src = torch.tensor([[3, 4], [5, 6], [7, 8]])  # (S, N) = (3, 2)
        >>> tokens, score = beam_search(model, src[:, 0], beam_width=5, max_len=8)
        >>> tokens.dim(), len(tokens) <= 8, score <= 0.0  # a log-probability
        (1, True, True)
    """
    check_positive_int("beam_width", beam_width)
    check_positive_int("max_len", max_len)
    if length_penalty < 0:
        raise ValueError(f"length_penalty: expected a number >= 0, got {length_penalty}")
    if src.dim() == 1:
        src = src.unsqueeze(1)  # (S, 1)
    _check_tokens("src", src, 1)
    memory, state, mask = model.encode(src)  # (S, 1, H), (1, H), (S, 1)

    def normalised(log_prob: float, length: int) -> float:
        # score = log p(y|x) / ((5 + |y|) / 6)^α
        return log_prob / ((5 + length) / 6) ** length_penalty

    alive = src.new_empty(1, 0)  # (B, t) tokens of the live hypotheses
    alive_logp = memory.new_zeros(1)  # (B,)
    finished: list[tuple[float, Tensor]] = []  # (score, tokens)
    y = src.new_full((1,), model.bos_id)  # (B,)
    for t in range(max_len):
        B = alive.shape[0]
        logits, state, _ = model.decoder(y, state, memory.expand(-1, B, -1), mask.expand(-1, B))
        V = logits.shape[-1]
        # log p(y_1..y_t) = log p(y_1..y_{t-1}) + log p(y_t | y_<t, x)
        candidates = (alive_logp.unsqueeze(1) + F.log_softmax(logits, dim=-1)).flatten()  # (B*V,)
        top_logp, top_index = candidates.topk(min(beam_width, candidates.numel()))
        parent, token = top_index // V, top_index % V  # (B,), (B,)
        extended = torch.cat([alive[parent], token.unsqueeze(1)], dim=1)  # (B, t + 1)
        ends = (token == model.eos_id) | (t == max_len - 1)
        for i in ends.nonzero().flatten().tolist():
            finished.append((normalised(top_logp[i].item(), t + 1), extended[i]))
        keep = ~ends
        if not keep.any():
            break
        alive, alive_logp, y = extended[keep], top_logp[keep], token[keep]
        state = map_state(partial(torch.index_select, dim=0, index=parent[keep]), state)
        best_finished = max((score for score, _ in finished), default=-math.inf)
        if length_penalty == 0 and best_finished >= alive_logp.max().item():
            break  # every live hypothesis already scores below the best finished one
    score, tokens = max(finished, key=lambda pair: pair[0])
    return tokens, score


@torch.no_grad()
def sequence_log_prob(
    model: Seq2Seq, src: Tensor, tgt: Tensor, *, src_lengths: Lengths | None = None
) -> Tensor:
    r"""Log-probability the model gives each target sequence.

    .. math::
        \log p(y \mid x) = \sum_{t=1}^{L} \log p(y_t \mid y_{<t}, x)

    where :math:`L` is the position of the first ``EOS`` in ``tgt`` (all of ``tgt`` if it has
    none); tokens after it do not count. This is the score :func:`beam_search` maximises
    (with ``length_penalty=0``), computed independently with teacher forcing.

    Inputs: ``src`` ``(S, N)``, ``tgt`` ``(T, N)``. Outputs: ``(N,)``.
    """
    logits = model(src, tgt, 1.0, src_lengths=src_lengths)  # (T, N, V)
    token_logp = F.log_softmax(logits, dim=-1).gather(-1, tgt.unsqueeze(-1)).squeeze(-1)  # (T, N)
    is_eos = (tgt == model.eos_id).long()
    after_eos = (is_eos.cumsum(dim=0) - is_eos) > 0  # (T, N), strictly after the first EOS
    return token_logp.masked_fill(after_eos, 0.0).sum(dim=0)  # (N,)


# ----------------------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------------------


def _aligned(pred: Tensor, tgt: Tensor) -> Tensor:
    """Token predictions ``(T, N)`` aligned to ``tgt``: argmax of logits, cut or padded."""
    if pred.is_floating_point():
        pred = pred.argmax(dim=-1)  # (T', N)
    _check_tokens("pred", pred, tgt.shape[1])
    T = tgt.shape[0]
    if pred.shape[0] >= T:
        return pred[:T]
    missing = pred.new_full((T - pred.shape[0], pred.shape[1]), -1)  # never a token
    return torch.cat([pred, missing])


def token_accuracy(pred: Tensor, tgt: Tensor, pad_id: int | None = None) -> float:
    """Fraction of target tokens (padding excluded) predicted at the right position.

    Args:
        pred: ``(T', N)`` token ids (e.g. from :func:`greedy_decode`) or ``(T', N, V)`` logits;
            cut or padded to ``T`` (a missing position counts as wrong).
        tgt: ``(T, N)`` target ids, ending with ``EOS`` (which counts as a token).
        pad_id: positions where ``tgt == pad_id`` are ignored.

    Examples::

        >>> token_accuracy(torch.tensor([[5], [9], [3]]), torch.tensor([[5], [6], [3]]))
        0.6666666666666666
    """
    _check_tokens("tgt", tgt)
    hits = _aligned(pred, tgt) == tgt  # (T, N)
    counted = torch.ones_like(hits) if pad_id is None else tgt != pad_id
    return (hits & counted).sum().item() / max(counted.sum().item(), 1)


def sequence_accuracy(pred: Tensor, tgt: Tensor, pad_id: int | None = None) -> float:
    """Fraction of sequences whose every target token (padding excluded) is right.

    Same arguments as :func:`token_accuracy`. Since targets end with ``EOS``, an output that
    stops early or runs on past the end is wrong.
    """
    _check_tokens("tgt", tgt)
    hits = _aligned(pred, tgt) == tgt  # (T, N)
    if pad_id is not None:
        hits |= tgt == pad_id
    return hits.all(dim=0).float().mean().item()


def corpus_bleu(
    hypotheses: Sequence[Sequence[int | str]],
    references: Sequence[Sequence[int | str]],
    max_order: int = 4,
) -> float:
    r"""Corpus-level BLEU of token sequences, one reference each, on sacrebleu's 0-100 scale.

    .. math::
        \mathrm{BLEU} = 100 \cdot \mathrm{BP} \cdot
            \exp\Big(\frac{1}{M} \sum_{n=1}^{M} \log p_n\Big), \qquad
        \mathrm{BP} = \begin{cases} 1 & c \ge r \\ e^{1 - r / c} & c < r \end{cases}

    where :math:`p_n` is the modified n-gram precision pooled over the corpus (each n-gram of a
    hypothesis counts at most as often as it occurs in its reference, divided by the number of
    n-grams in all hypotheses), :math:`M` is ``max_order``, :math:`c` the total hypothesis
    length and :math:`r` the total reference length (Papineni et al., 2002). An order with no
    match at all is smoothed as sacrebleu's default ``smooth_method="exp"`` does: the k-th such
    order gets :math:`p_n = 1 / (2^k \cdot \text{n-grams of order } n)`. With the tokens given
    (sacrebleu's ``tokenize="none"`` on the space-joined tokens) the result equals
    ``sacrebleu.corpus_bleu(...).score``.

    Args:
        hypotheses: the system outputs, each a sequence of tokens (ids or strings).
        references: one reference per hypothesis, same token type.
        max_order: the longest n-gram, :math:`M` (4 is standard).

    Returns:
        BLEU between 0 and 100.

    Examples::

        >>> round(corpus_bleu([[1, 2, 3, 4, 5]], [[1, 2, 3, 4, 5]]), 6)
        100.0
        >>> round(corpus_bleu([[1, 2, 3, 4, 6]], [[1, 2, 3, 4, 5]]), 2)  # p = 4/5, 3/4, 2/3, 1/2
        66.87
    """
    check_positive_int("max_order", max_order)
    if len(hypotheses) != len(references):
        raise ValueError(
            f"references: expected one per hypothesis ({len(hypotheses)}), got {len(references)}"
        )
    correct, total = [0] * max_order, [0] * max_order
    hyp_len = ref_len = 0
    for hyp, ref in zip(hypotheses, references, strict=True):
        hyp, ref = list(hyp), list(ref)
        hyp_len, ref_len = hyp_len + len(hyp), ref_len + len(ref)
        for n in range(1, max_order + 1):
            ref_counts: dict[tuple, int] = {}
            for i in range(len(ref) - n + 1):
                gram = tuple(ref[i : i + n])
                ref_counts[gram] = ref_counts.get(gram, 0) + 1
            hyp_counts: dict[tuple, int] = {}
            for i in range(len(hyp) - n + 1):
                gram = tuple(hyp[i : i + n])
                hyp_counts[gram] = hyp_counts.get(gram, 0) + 1
            # clipped matches: a hypothesis n-gram counts at most as often as in the reference
            correct[n - 1] += sum(min(k, ref_counts.get(g, 0)) for g, k in hyp_counts.items())
            total[n - 1] += max(len(hyp) - n + 1, 0)
    if not any(correct) or hyp_len == 0 or 0 in total:
        return 0.0
    # BP = exp(1 - r / c) when the hypotheses are shorter than the references
    brevity = math.exp(1 - ref_len / hyp_len) if hyp_len < ref_len else 1.0
    log_p, halvings = 0.0, 0
    for c, t in zip(correct, total, strict=True):
        if c == 0:
            halvings += 1  # sacrebleu's "exp" smoothing
            log_p += math.log(1 / (2**halvings * t))
        else:
            log_p += math.log(c / t)
    return 100 * brevity * math.exp(log_p / max_order)
