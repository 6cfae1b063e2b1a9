"""Chapter 6: input/output topologies built from one recurrent cell.

The same cell, ``h_t = cell(x_t, h_{t-1})``, gives every topology; what changes is what goes
in at each step and which hidden states are read out:

=====================  ================================  =================================
topology               reads                             example
=====================  ================================  =================================
``OneToMany``          one vector ``(N, H_in)``          captioning: image → words
``ManyToOne``          ``h_T`` (last valid step)         sentiment: words → label
``ManyToManyAligned``  every ``h_t``                     tagging: word → tag, same ``T``
``EncoderDecoder``     encoder ``h_T`` → decoder         translation: other length
=====================  ================================  =================================

Every module takes ``cell="rnn" | "lstm" | "gru"`` (built from :mod:`rnncourse.rnn`,
:mod:`rnncourse.lstm`, :mod:`rnncourse.gru`) or a ready cell instance (``rnncourse``'s or
``torch.nn``'s), and works with the LSTM's ``(h, c)`` state through four small helpers that
chapter 9 reuses: :func:`make_cell`, :func:`init_state`, :func:`hidden_of`, :func:`map_state`.
The state type, :func:`hidden_of` and :func:`map_state` are :mod:`rnncourse._recurrent`'s,
shared by every sequence module; they are re-exported here. The loop over time, with optional
per-sequence ``lengths`` for padded batches, is :func:`rnncourse._recurrent.unroll`.

Inputs are time-major, ``(T, N, H_in)``, as everywhere in the course. Each module returns its
outputs only (not the final state): ``(N, H_out)`` or ``(T, N, H_out)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from rnncourse._checks import (
    Factory,
    check_choice,
    check_device,
    check_floating,
    check_positive_int,
    check_shape,
)
from rnncourse._recurrent import State, cell_sizes, hidden_of, map_state, unroll

__all__ = [
    "CELLS",
    "State",
    "make_cell",
    "cell_kind",
    "init_state",
    "hidden_of",
    "map_state",
    "Readout",
    "OneToMany",
    "ManyToOne",
    "ManyToManyAligned",
    "EncoderDecoder",
]

CELLS = ("rnn", "lstm", "gru")
CellName = Literal["rnn", "lstm", "gru"]
# gates per cell: rows of weight_ih are G * H
_KIND_BY_GATES = {1: "rnn", 4: "lstm", 3: "gru"}


# ----------------------------------------------------------------------------------------
# Helpers: any cell, any state
# ----------------------------------------------------------------------------------------


def make_cell(
    cell: str | nn.Module,
    input_size: int,
    hidden_size: int,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> nn.Module:
    """Build a recurrent cell from its name, or check that a given cell fits.

    Args:
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"`` builds ``rnncourse.RNNCell``/``LSTMCell``/
            ``GRUCell``; a cell instance (``rnncourse``'s or ``torch.nn``'s) is returned as is
            after checking its ``input_size`` and ``hidden_size``.
        input_size: ``H_in``, features of the cell's input ``x_t``.
        hidden_size: ``H``, size of ``h_t``.
        device, dtype: where a newly built cell's parameters live.

    Examples::

        >>> make_cell("gru", 3, 8)
        GRUCell(3, 8)
    """
    check_positive_int("input_size", input_size)
    check_positive_int("hidden_size", hidden_size)
    check_device("device", device)
    if isinstance(cell, str):
        check_choice("cell", cell, CELLS)
        from rnncourse import gru, lstm, rnn  # here, not at the top: they are loaded lazily

        kinds: dict[str, type[nn.Module]] = {
            "rnn": rnn.RNNCell,
            "lstm": lstm.LSTMCell,
            "gru": gru.GRUCell,
        }
        return kinds[cell](input_size, hidden_size, device=device, dtype=dtype)
    if not isinstance(cell, nn.Module):
        raise TypeError(
            f"cell: expected one of {list(CELLS)!r} or an nn.Module cell, got {type(cell).__name__}"
        )
    cell_kind(cell)  # raises unless it looks like an RNN/LSTM/GRU cell
    if cell_sizes("cell", cell) != (input_size, hidden_size):
        raise ValueError(
            f"cell: expected (input_size, hidden_size) = ({input_size}, {hidden_size}), "
            f"got {cell_sizes('cell', cell)}"
        )
    return cell


def cell_kind(cell: nn.Module) -> CellName:
    """Name a cell ``"rnn"``, ``"lstm"`` or ``"gru"`` from its gate count.

    ``weight_ih`` has ``G * H`` rows with ``G = 1`` (RNN), ``4`` (LSTM), ``3`` (GRU); this works
    for ``rnncourse`` cells and ``torch.nn`` cells alike.
    """
    weight_ih = getattr(cell, "weight_ih", None)
    hidden_size = getattr(cell, "hidden_size", None)
    if not isinstance(weight_ih, Tensor) or not isinstance(hidden_size, int):
        raise TypeError(
            f"cell: expected a recurrent cell with weight_ih and hidden_size, "
            f"got {type(cell).__name__}"
        )
    gates = weight_ih.shape[0] // hidden_size
    if gates not in _KIND_BY_GATES or weight_ih.shape[0] != gates * hidden_size:
        raise ValueError(
            f"cell: weight_ih has {weight_ih.shape[0]} rows, not 1, 3 or 4 times "
            f"hidden_size={hidden_size}"
        )
    return _KIND_BY_GATES[gates]  # type: ignore[return-value]


def init_state(cell: nn.Module, N: int, like: Tensor) -> State:
    """Zero initial state for ``cell``: ``h_0`` of shape ``(N, H)``, or ``(h_0, c_0)`` for LSTM.

    The state takes ``like``'s device and dtype (pass a parameter or the input).
    """
    _, H = cell_sizes("cell", cell)
    h = like.new_zeros(N, H)  # (N, H)
    if cell_kind(cell) == "lstm":
        return h, like.new_zeros(N, H)  # (N, H) each
    return h


class Readout(nn.Module):
    r"""The output layer shared by every topology.

    .. math::
        y_t = W_{hy} h_t + b_y

    where :math:`W_{hy}` is ``weight_hy`` of shape ``(H_out, H)`` and :math:`b_y` is ``bias_y``
    of shape ``(H_out,)``, both initialised from :math:`\mathcal{U}(-1/\sqrt{H}, 1/\sqrt{H})`.

    Inputs: ``h`` of shape ``(*, H)``. Outputs: ``y`` of shape ``(*, H_out)``.
    """

    def __init__(
        self,
        hidden_size: int,
        output_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_device("device", device)
        check_positive_int("hidden_size", hidden_size)
        check_positive_int("output_size", output_size)
        kw: Factory = {"device": device, "dtype": dtype}
        self.weight_hy = nn.Parameter(torch.empty(output_size, hidden_size, **kw))
        self.bias_y = nn.Parameter(torch.empty(output_size, **kw))
        bound = 1.0 / math.sqrt(hidden_size)
        nn.init.uniform_(self.weight_hy, -bound, bound)
        nn.init.uniform_(self.bias_y, -bound, bound)

    def forward(self, h: Tensor) -> Tensor:
        # y_t = W_hy h_t + b_y
        return h @ self.weight_hy.T + self.bias_y  # (*, H_out)

    def extra_repr(self) -> str:
        return f"{self.weight_hy.shape[1]}, {self.weight_hy.shape[0]}"


def _generate(
    cell: nn.Module,
    readout: Readout,
    state: State,
    steps: int,
    y_teacher: Tensor | None,
) -> Tensor:
    """Feed each output back as the next input: ``y_0 = 0`` or teacher values ``y_teacher[t-1]``."""
    N = hidden_of(state).shape[0]
    H_out = readout.weight_hy.shape[0]
    y = hidden_of(state).new_zeros(N, H_out)  # (N, H_out): nothing generated yet
    ys = []
    for t in range(steps):
        state = cell(y, state)
        # y_t = W_hy h_t + b_y
        y = readout(hidden_of(state))  # (N, H_out)
        ys.append(y)
        if y_teacher is not None:
            y = y_teacher[t]  # teacher forcing: the true y_t is the next input
    return torch.stack(ys)  # (steps, N, H_out)


def _check_teacher(y_teacher: Tensor | None, steps: int, N: int, H_out: int) -> None:
    if y_teacher is not None:
        check_shape("y_teacher", y_teacher, ("T", "N", "H_out"), (steps, N, H_out))
        check_floating("y_teacher", y_teacher)


# ----------------------------------------------------------------------------------------
# The four topologies
# ----------------------------------------------------------------------------------------


class OneToMany(nn.Module):
    r"""One vector in, a sequence out: a generator (think image → caption).

    With ``feed="output"`` (the default) the vector sets the initial state and the network
    then feeds its own previous output back in:

    .. math::
        h_0 = \tanh(W_\text{init} x + b_\text{init}), \quad y_0 = 0, \quad
        h_t = \mathrm{cell}(y_{t-1}, h_{t-1}), \quad y_t = W_{hy} h_t + b_y

    With ``feed="input"`` the state starts at zero and the same vector is the input at every
    step, :math:`h_t = \mathrm{cell}(x, h_{t-1})`.

    where :math:`x` is the input vector, :math:`W_\text{init}, b_\text{init}` the layer
    ``to_h0`` (LSTM: :math:`c_0 = 0`), and :math:`y_{t-1}` the raw output vector (no sampling,
    so the loop stays differentiable). During training, ``y_teacher`` replaces the fed-back
    :math:`y_{t-1}` by the true one (teacher forcing, chapter 9).

    Args:
        input_size: ``H_in``, size of the input vector.
        hidden_size: ``H``.
        output_size: ``H_out``, size of each output ``y_t``.
        cell: ``"rnn"``, ``"lstm"``, ``"gru"`` or a cell instance (its input size is ``H_out``
            for ``feed="output"``, ``H_in`` for ``feed="input"``).
        feed: ``"output"`` (autoregressive) or ``"input"`` (the vector at every step).

    Inputs: ``x, steps, y_teacher=None``
        - **x**: ``(N, H_in)``, one vector per example.
        - **steps**: ``T``, how many outputs to generate.
        - **y_teacher**: optional ``(T, N, H_out)`` targets fed back instead of the outputs
          (``feed="output"`` only).

    Outputs: ``y`` of shape ``(T, N, H_out)``.

    Examples::

        >>> gen = OneToMany(4, 16, 2, cell="gru")
        >>> gen(torch.eye(4), steps=6).shape
        torch.Size([6, 4, 2])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        cell: str | nn.Module = "rnn",
        feed: Literal["output", "input"] = "output",
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_device("device", device)
        check_positive_int("input_size", input_size)
        check_choice("feed", feed, ("output", "input"))
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, output_size
        self.feed = feed
        kw: Factory = {"device": device, "dtype": dtype}
        cell_input = output_size if feed == "output" else input_size
        self.cell = make_cell(cell, cell_input, hidden_size, **kw)
        self.to_h0 = nn.Linear(input_size, hidden_size, **kw) if feed == "output" else None
        self.readout = Readout(hidden_size, output_size, **kw)

    def forward(self, x: Tensor, steps: int, y_teacher: Tensor | None = None) -> Tensor:
        check_shape("x", x, ("N", "H_in"), (None, self.input_size))
        check_floating("x", x)
        check_positive_int("steps", steps)
        N = x.shape[0]
        if self.feed == "input":
            if y_teacher is not None:
                raise ValueError('y_teacher: only used with feed="output"')
            return self.readout(unroll(self.cell, x.expand(steps, *x.shape))[0])
        _check_teacher(y_teacher, steps, N, self.output_size)
        state = init_state(self.cell, N, x)
        # h_0 = tanh(W_init x + b_init)
        assert self.to_h0 is not None  # built for feed="output"
        h0 = torch.tanh(self.to_h0(x))  # (N, H)
        state = (h0, state[1]) if isinstance(state, tuple) else h0
        return _generate(self.cell, self.readout, state, steps, y_teacher)


class ManyToOne(nn.Module):
    r"""A sequence in, one output: a sequence classifier (think review → sentiment).

    .. math::
        h_t = \mathrm{cell}(x_t, h_{t-1}), \quad y = W_{hy} h_{\ell} + b_y

    where :math:`h_0 = 0` and :math:`\ell` is the sequence's length: ``T``, or ``lengths[n]``
    for a right-padded batch, so padding never reaches the output.

    Args:
        input_size: ``H_in``.
        hidden_size: ``H``.
        output_size: ``H_out`` (number of classes for a classifier: ``y`` are logits).
        cell: ``"rnn"``, ``"lstm"``, ``"gru"`` or a cell instance.

    Inputs: ``x, lengths=None``
        - **x**: ``(T, N, H_in)``.
        - **lengths**: optional ``(N,)`` valid steps per sequence, each in ``1..T``.

    Outputs: ``y`` of shape ``(N, H_out)``.

    Examples::

        >>> clf = ManyToOne(1, 16, 2, cell="lstm")
        >>> clf(torch.randn(7, 3, 1), lengths=[7, 4, 1]).shape
        torch.Size([3, 2])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        cell: str | nn.Module = "rnn",
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_device("device", device)
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, output_size
        kw: Factory = {"device": device, "dtype": dtype}
        self.cell = make_cell(cell, input_size, hidden_size, **kw)
        self.readout = Readout(hidden_size, output_size, **kw)

    def forward(self, x: Tensor, lengths: Tensor | Sequence[int] | None = None) -> Tensor:
        _, state = unroll(self.cell, x, lengths=lengths)
        # y = W_hy h_ℓ + b_y
        return self.readout(hidden_of(state))  # (N, H_out)


class ManyToManyAligned(nn.Module):
    r"""A sequence in, one output per step: a tagger (think word → part of speech).

    .. math::
        h_t = \mathrm{cell}(x_t, h_{t-1}), \quad y_t = W_{hy} h_t + b_y

    where :math:`h_0 = 0`. The network is causal: :math:`y_t` depends on
    :math:`x_1, \dots, x_t` only (chapter 8's bidirectional layer lifts this).

    Args:
        input_size: ``H_in``.
        hidden_size: ``H``.
        output_size: ``H_out`` (number of tags: ``y_t`` are logits).
        cell: ``"rnn"``, ``"lstm"``, ``"gru"`` or a cell instance.

    Inputs: ``x`` of shape ``(T, N, H_in)``.

    Outputs: ``y`` of shape ``(T, N, H_out)``.

    Examples::

        >>> tagger = ManyToManyAligned(5, 16, 3, cell="gru")
        >>> tagger(torch.randn(9, 2, 5)).shape
        torch.Size([9, 2, 3])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        cell: str | nn.Module = "rnn",
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_device("device", device)
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, output_size
        kw: Factory = {"device": device, "dtype": dtype}
        self.cell = make_cell(cell, input_size, hidden_size, **kw)
        self.readout = Readout(hidden_size, output_size, **kw)

    def forward(self, x: Tensor) -> Tensor:
        h, _ = unroll(self.cell, x)  # (T, N, H)
        # y_t = W_hy h_t + b_y
        return self.readout(h)  # (T, N, H_out)


class EncoderDecoder(nn.Module):
    r"""A sequence in, a sequence of another length out: encoder–decoder (think translation).

    .. math::
        h_t = \mathrm{enc}(x_t, h_{t-1}), \quad s_0 = h_{\ell}, \quad y_0 = 0, \quad
        s_t = \mathrm{dec}(y_{t-1}, s_{t-1}), \quad y_t = W_{hy} s_t + b_y

    where :math:`h_0 = 0`, :math:`\ell` is the input's length (``T_in`` or ``lengths[n]``) and
    the decoder feeds its previous output :math:`y_{t-1}` back in (or the true one,
    ``y_teacher[t-1]``, under teacher forcing). Everything the decoder knows about the input
    passes through the single vector :math:`h_\ell`: the bottleneck that chapter 9's attention
    removes (:mod:`rnncourse.seq2seq` is the token-level version with attention).

    Args:
        input_size: ``H_in``.
        hidden_size: ``H``, shared by encoder and decoder.
        output_size: ``H_out``.
        cell: encoder cell, ``"rnn"``, ``"lstm"``, ``"gru"`` or a cell instance (input ``H_in``).
        decoder_cell: decoder cell (input ``H_out``); by default a new cell of the same kind.

    Inputs: ``x, steps, lengths=None, y_teacher=None``
        - **x**: ``(T_in, N, H_in)``.
        - **steps**: ``T_out``, the output length.
        - **lengths**: optional ``(N,)`` valid input steps per sequence.
        - **y_teacher**: optional ``(T_out, N, H_out)`` targets fed back instead of outputs.

    Outputs: ``y`` of shape ``(T_out, N, H_out)``.

    Examples::

        >>> model = EncoderDecoder(1, 32, 1, cell="gru")
        >>> model(torch.randn(5, 4, 1), steps=3).shape
        torch.Size([3, 4, 1])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        cell: str | nn.Module = "rnn",
        decoder_cell: str | nn.Module | None = None,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_device("device", device)
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, output_size
        kw: Factory = {"device": device, "dtype": dtype}
        self.encoder = make_cell(cell, input_size, hidden_size, **kw)
        if decoder_cell is None:
            decoder_cell = cell_kind(self.encoder)
        self.decoder = make_cell(decoder_cell, output_size, hidden_size, **kw)
        if cell_kind(self.decoder) != cell_kind(self.encoder):
            raise ValueError(
                f"decoder_cell: expected a {cell_kind(self.encoder)} cell like the encoder, "
                f"got {cell_kind(self.decoder)}"
            )
        self.readout = Readout(hidden_size, output_size, **kw)

    def forward(
        self,
        x: Tensor,
        steps: int,
        lengths: Tensor | Sequence[int] | None = None,
        y_teacher: Tensor | None = None,
    ) -> Tensor:
        check_positive_int("steps", steps)
        _, state = unroll(self.encoder, x, lengths=lengths)  # s_0 = h_ℓ
        _check_teacher(y_teacher, steps, x.shape[1], self.output_size)
        return _generate(self.decoder, self.readout, state, steps, y_teacher)
