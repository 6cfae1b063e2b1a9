r"""Bidirectional recurrent layers: chapter 8.

A bidirectional layer reads the sequence twice, with two independent cells: one forwards
from :math:`x_1` to :math:`x_T`, one backwards from :math:`x_T` to :math:`x_1`. At every step
the two hidden states are concatenated, so the output at step :math:`t` has seen the whole
sequence, its past through the forward cell and its future through the backward one:

.. math::
    \begin{aligned}
    \overrightarrow{h}_t &= \mathrm{cell}_{\rightarrow}(x_t, \overrightarrow{h}_{t-1}) \\
    \overleftarrow{h}_t &= \mathrm{cell}_{\leftarrow}(x_t, \overleftarrow{h}_{t+1}) \\
    y_t &= [\overrightarrow{h}_t; \overleftarrow{h}_t]
    \end{aligned}

This is what ``torch.nn.RNN/LSTM/GRU(bidirectional=True)`` compute for one layer (and what
:class:`rnncourse.RNN` and friends compute in :mod:`rnncourse._recurrent`); here it is spelled
out for any cell: :class:`Bidirectional` wraps cell modules, :func:`run_bidirectional` takes a
functional cell such as :func:`rnncourse.lstm_cell` and its two sets of parameters.
Because :math:`\overleftarrow{h}_t` needs :math:`x_{t+1}, \dots, x_T`, a bidirectional layer
needs the whole sequence up front: it suits tagging and encoding, not step-by-step generation.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from rnncourse._checks import InputError, check_floating, check_same, check_shape
from rnncourse._recurrent import (
    State,
    cell_sizes,
    finish_sequence,
    map_state,
    pack_like,
    prepare_sequence,
    unpack_sequence,
    unroll,
)

__all__ = ["Bidirectional", "run_bidirectional"]


def run_bidirectional(
    cell_fn: Callable[..., State],
    x: Tensor,
    params_fwd: Sequence[Tensor | None],
    params_bwd: Sequence[Tensor | None],
    state_fwd: State,
    state_bwd: State,
) -> tuple[Tensor, tuple[State, State]]:
    r"""Run a functional cell forwards and backwards over ``x``; concatenate the hidden states.

    .. math::
        y_t = [\overrightarrow{h}_t; \overleftarrow{h}_t], \quad
        \overrightarrow{h}_t = \operatorname{cell}(x_t, \overrightarrow{h}_{t-1};
        \theta_{\rightarrow}), \quad
        \overleftarrow{h}_t = \operatorname{cell}(x_t, \overleftarrow{h}_{t+1};
        \theta_{\leftarrow})

    where :math:`\theta_{\rightarrow}` and :math:`\theta_{\leftarrow}` are the two
    directions' parameters.

    Args:
        cell_fn: a functional cell, called as ``cell_fn(x_t, state, *params)``:
            :func:`rnncourse.rnn_cell`, :func:`rnncourse.lstm_cell`, :func:`rnncourse.gru_cell`
            or one with the same signature.
        x: the sequence, ``(T, N, H_in)``.
        params_fwd: the forward cell's ``(weight_ih, weight_hh, bias_ih, bias_hh)``.
        params_bwd: the backward cell's parameters, in the same order.
        state_fwd: :math:`\overrightarrow{h}_0`, ``(N, H)`` (``(h, c)`` for an LSTM cell).
        state_bwd: :math:`\overleftarrow{h}_{T+1}`, the backward cell's initial state.

    Returns:
        ``(output, (state_fwd, state_bwd))``: ``output (T, N, 2H)`` with the forward states
        first along the last dimension, and each direction's final state (the backward one is
        its state after reading :math:`x_1`).

    Examples::

        >>> from rnncourse import lstm_cell
        >>> lstm = torch.nn.LSTM(3, 5, bidirectional=True)
        >>> fwd = [lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0]
        >>> bwd = [lstm.weight_ih_l0_reverse, lstm.weight_hh_l0_reverse,
        ...        lstm.bias_ih_l0_reverse, lstm.bias_hh_l0_reverse]
        >>> zeros = (torch.zeros(2, 5), torch.zeros(2, 5))
        >>> x = torch.randn(4, 2, 3)
        >>> y, (s_f, s_b) = run_bidirectional(lstm_cell, x, fwd, bwd, zeros, zeros)
        >>> y.shape
        torch.Size([4, 2, 10])
    """
    check_shape("x", x, ("T", "N", "H_in"), (None, None, None))
    check_floating("x", x)
    out_fwd, final_fwd = unroll(lambda x_t, s: cell_fn(x_t, s, *params_fwd), x, state_fwd)
    out_bwd, final_bwd = unroll(
        lambda x_t, s: cell_fn(x_t, s, *params_bwd), x, state_bwd, reverse=True
    )
    # y_t = [→h_t; ←h_t]
    return torch.cat([out_fwd, out_bwd], dim=-1), (final_fwd, final_bwd)  # (T, N, 2H)


class Bidirectional(nn.Module):
    r"""Wrap a cell module into one bidirectional layer, as ``torch.nn.LSTM(bidirectional=True)``.

    .. math::
        \begin{aligned}
        \overrightarrow{h}_t &= \operatorname{cell}(x_t, \overrightarrow{h}_{t-1}) \\
        \overleftarrow{h}_t &= \operatorname{reverse\_cell}(x_t, \overleftarrow{h}_{t+1}) \\
        y_t &= [\overrightarrow{h}_t; \overleftarrow{h}_t]
        \end{aligned}

    where :math:`\overrightarrow{h}_0` and :math:`\overleftarrow{h}_{T+1}` are the initial
    states (zeros by default) and :math:`[\cdot; \cdot]` concatenates along the features.

    Args:
        cell: the forward cell: :class:`rnncourse.RNNCell`, :class:`rnncourse.LSTMCell`,
            :class:`rnncourse.GRUCell`, torch's cells, or any module called as
            ``cell(x_t, state)`` returning ``h_t`` or ``(h_t, c_t)`` and having
            ``input_size`` and ``hidden_size`` attributes.
        reverse_cell: the backward cell. Default: a copy of ``cell`` with freshly initialised
            parameters (the two directions never share weights).
        batch_first: if ``True``, ``input`` and ``output`` are ``(N, T, feature)``.
            Default: ``False``.

    Inputs: input, hx
        - **input**: ``(T, N, H_in)``, ``(N, T, H_in)`` if ``batch_first``, unbatched
          ``(T, H_in)``, or a ``PackedSequence`` of sequences of different lengths (each is
          read backwards from its own last step, as ``torch.nn.LSTM(bidirectional=True)``).
        - **hx**: ``(2, N, H)`` (``(2, H)`` unbatched), the forward then backward initial
          state, or a pair ``(h_0, c_0)`` of them for LSTM cells; zeros if not given.

    Outputs: output, h_n
        - **output**: ``(T, N, 2H)`` (``(N, T, 2H)`` if ``batch_first``, ``(T, 2H)``
          unbatched, packed like the input if it was packed), :math:`y_t` for every step,
          forward states first.
        - **h_n**: ``(2, N, H)`` (``(2, H)`` unbatched), the forward cell's state after
          :math:`x_T` and the backward cell's after :math:`x_1`; a pair ``(h_n, c_n)`` for
          LSTM cells. Same layout as a one-layer bidirectional ``torch.nn.LSTM``.

    Examples::

        >>> from rnncourse import LSTMCell
        >>> layer = Bidirectional(LSTMCell(10, 20))
        >>> x = torch.randn(5, 3, 10)  # (T, N, H_in)
        >>> output, (h_n, c_n) = layer(x)
        >>> output.shape, h_n.shape
        (torch.Size([5, 3, 40]), torch.Size([2, 3, 20]))
    """

    def __init__(
        self, cell: nn.Module, reverse_cell: nn.Module | None = None, batch_first: bool = False
    ) -> None:
        super().__init__()
        sizes = cell_sizes("cell", cell)
        if reverse_cell is None:
            reverse_cell = copy.deepcopy(cell)
            reset = getattr(reverse_cell, "reset_parameters", None)
            if not callable(reset):
                raise TypeError(
                    f"cell: {type(cell).__name__} has no reset_parameters() to initialise a "
                    "fresh reverse cell; pass reverse_cell"
                )
            reset()  # the two directions never share weights
        if cell_sizes("reverse_cell", reverse_cell) != sizes:
            raise ValueError(
                f"reverse_cell: expected (input_size, hidden_size) = {sizes} like cell, got "
                f"{cell_sizes('reverse_cell', reverse_cell)}"
            )
        self.cell = cell
        self.reverse_cell = reverse_cell
        self.batch_first = batch_first
        self.input_size, self.hidden_size = sizes

    def forward(self, input: Any, hx: Any = None) -> tuple[Any, Any]:
        packed = input if isinstance(input, PackedSequence) else None
        lengths = None
        if packed is not None:
            input, lengths = unpack_sequence(packed)  # (T, N, H_in), (N,)
            if self.batch_first:
                input = input.transpose(0, 1)  # prepare_sequence expects the caller's layout
        x, (state_fwd, state_bwd), batched = self._prepare(input, hx)
        out_fwd, final_fwd = unroll(self.cell, x, state_fwd, lengths=lengths)  # (T, N, H)
        out_bwd, final_bwd = unroll(
            self.reverse_cell, x, state_bwd, reverse=True, lengths=lengths
        )  # (T, N, H)
        # y_t = [→h_t; ←h_t]
        output = torch.cat([out_fwd, out_bwd], dim=-1)  # (T, N, 2H)
        # each tensor of the state: [forward; backward], (2, N, H)
        h_n = map_state(lambda f, b: torch.stack([f, b]), final_fwd, final_bwd)
        if packed is not None:
            return pack_like(output, packed), h_n
        output = finish_sequence(output, batched, self.batch_first)  # (T, [N,] 2H)
        if not batched:
            h_n = map_state(lambda s: s.squeeze(1), h_n)  # (2, H)
        return output, h_n

    def _prepare(self, input: Any, hx: Any) -> tuple[Tensor, tuple[Any, Any], bool]:
        """Check the input; return ``x (T, N, H_in)``, each direction's state, batched?"""
        like: Tensor | None = next(self.cell.parameters(), None)
        if like is None:  # a cell without parameters: the input sets device and dtype
            like = input if isinstance(input, Tensor) else torch.empty(0)
        x, batched = prepare_sequence(input, self.input_size, self.batch_first, like, "cell")
        if hx is None:
            return x, (None, None), batched
        states = tuple(hx) if isinstance(hx, tuple | list) else (hx,)
        names = ("h_0", "c_0")[: len(states)]
        symbols: tuple[str, ...] = ("2", "N", "H")
        sizes: tuple[int, ...] = (2, x.shape[1], self.hidden_size)
        if not batched:
            symbols, sizes = ("2", "H"), (2, self.hidden_size)
        for name, s in zip(names, states, strict=False):
            check_shape(name, s, symbols, sizes, error=InputError)
            check_same(name, s, x, "input")
        if not batched:
            states = tuple(s.unsqueeze(1) for s in states)  # (2, 1, H)
        if len(states) == 1:
            return x, (states[0][0], states[0][1]), batched
        return x, ((states[0][0], states[1][0]), (states[0][1], states[1][1])), batched
