r"""Long short-term memory: chapter 7 (gated cells).

An LSTM keeps two states, the hidden state :math:`h_t` and the cell state :math:`c_t`.
Gates between 0 and 1 decide what the cell forgets, what it writes and what it shows:

.. math::
    \begin{aligned}
    i_t &= \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}) \\
    f_t &= \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}) \\
    g_t &= \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) \\
    o_t &= \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}) \\
    c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
    h_t &= o_t \odot \tanh(c_t)
    \end{aligned}

The four gate weights are stacked in PyTorch's order **i, f, g, o**:
``W_ih = [W_ii; W_if; W_ig; W_io]`` of shape ``(4H, H_in)``, so weights copy to and from
``torch.nn.LSTM`` unchanged. :func:`lstm_cell` is one step; :class:`LSTMCell` and
:class:`LSTM` mirror ``torch.nn.LSTMCell`` and ``torch.nn.LSTM``.

:class:`LSTM` runs these equations step by step: the shared loop
:func:`rnncourse._recurrent.unroll` over :func:`lstm_step`, differentiated by autograd op by
op, as :class:`rnncourse.GRU` and :class:`rnncourse.RNN` do. ``LSTM(..., fused=True)`` opts in
to :mod:`rnncourse.lstm_fused`, the same recurrence as one autograd node per layer and
direction with backpropagation through time written out by hand (chapter 7's section on
speed); it is equal to the loop in the tests, and faster only in training.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from rnncourse import lstm_fused
from rnncourse._recurrent import CellBase, RNNBase, State, check_cell_args

__all__ = ["lstm_step", "lstm_cell", "LSTMCell", "LSTM"]


def lstm_step(
    xw: Tensor,
    state: tuple[Tensor, Tensor],
    weight_hh: Tensor,
    bias_hh: Tensor | None = None,
    weight_hr: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """One LSTM step given the input term ``xw = W_ih x_t + b_ih`` (already computed).

    :class:`LSTM` computes ``xw`` for every step in one matrix multiplication and calls this
    inside its loop over time; :func:`lstm_cell` computes it for one step. With a projection
    ``weight_hr`` ``(P, H)`` (Sak et al., 2014) the hidden state is projected down to ``P``
    features, ``h_t = W_hr (o_t ⊙ tanh(c_t))``, and ``weight_hh`` is ``(4H, P)``.
    """
    h, c = state
    # [i; f; g; o] pre-activations: W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
    gates = xw + F.linear(h, weight_hh, bias_hh)  # (N, 4H)
    i, f, g, o = gates.chunk(4, dim=-1)  # each (N, H)
    i = torch.sigmoid(i)  # input gate: how much of g_t to write
    f = torch.sigmoid(f)  # forget gate: how much of c_{t-1} to keep
    g = torch.tanh(g)  # candidate values
    o = torch.sigmoid(o)  # output gate: how much of the cell to show
    # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    c = f * c + i * g  # (N, H)
    # h_t = o_t ⊙ tanh(c_t)
    h = o * torch.tanh(c)  # (N, H)
    if weight_hr is not None:
        # h_t = W_hr (o_t ⊙ tanh(c_t)): the projection, P < H features
        h = F.linear(h, weight_hr)  # (N, P)
    return h, c


def lstm_cell(
    x: Tensor,
    state: tuple[Tensor, Tensor],
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    r"""One step of an LSTM: the next ``(h_t, c_t)`` from ``x_t`` and ``(h_{t-1}, c_{t-1})``.

    .. math::
        \begin{aligned}
        [i_t; f_t; g_t; o_t] &= W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}
            \quad\text{(then } \sigma, \sigma, \tanh, \sigma\text{)} \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
        h_t &= o_t \odot \tanh(c_t)
        \end{aligned}

    where :math:`i_t, f_t, o_t` are the input, forget and output gates, :math:`g_t` the
    candidate cell values, :math:`\sigma` the logistic sigmoid and :math:`\odot` the
    element-wise product.

    Args:
        x: input :math:`x_t`, shape ``(N, H_in)`` or unbatched ``(H_in,)``.
        state: ``(h, c)``, the previous hidden and cell states, each ``(N, H)`` or ``(H,)``.
        weight_ih: :math:`W_{ih} = [W_{ii}; W_{if}; W_{ig}; W_{io}]`, shape ``(4H, H_in)``.
        weight_hh: :math:`W_{hh} = [W_{hi}; W_{hf}; W_{hg}; W_{ho}]`, shape ``(4H, H)``.
        bias_ih: :math:`b_{ih}`, shape ``(4H,)``, or ``None``.
        bias_hh: :math:`b_{hh}`, shape ``(4H,)``, or ``None``.

    Returns:
        ``(h_t, c_t)``, each the shape of ``h``.

    Examples::

        >>> cell = torch.nn.LSTMCell(3, 5)
        >>> x = torch.randn(2, 3)
        >>> state = (torch.zeros(2, 5), torch.zeros(2, 5))
        >>> h, c = lstm_cell(x, state, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
        >>> h.shape, c.shape
        (torch.Size([2, 5]), torch.Size([2, 5]))
    """
    if not isinstance(state, tuple | list) or len(state) != 2:
        raise TypeError(f"state: expected a tuple (h, c), got {type(state).__name__}")
    h, c = state
    check_cell_args(x, [("h", h), ("c", c)], weight_ih, weight_hh, bias_ih, bias_hh, gate_count=4)
    # W_ih x_t + b_ih
    xw = F.linear(x, weight_ih, bias_ih)  # (N, 4H)
    return lstm_step(xw, (h, c), weight_hh, bias_hh)


class LSTMCell(CellBase):
    r"""A long short-term memory cell; mirrors ``torch.nn.LSTMCell``.

    .. math::
        \begin{aligned}
        i &= \sigma(W_{ii} x + b_{ii} + W_{hi} h + b_{hi}) \\
        f &= \sigma(W_{if} x + b_{if} + W_{hf} h + b_{hf}) \\
        g &= \tanh(W_{ig} x + b_{ig} + W_{hg} h + b_{hg}) \\
        o &= \sigma(W_{io} x + b_{io} + W_{ho} h + b_{ho}) \\
        c' &= f \odot c + i \odot g \\
        h' &= o \odot \tanh(c')
        \end{aligned}

    where :math:`\sigma` is the sigmoid function and :math:`\odot` the element-wise product.

    Args:
        input_size: the number of features :math:`H_{in}` in the input ``x``.
        hidden_size: the number of features :math:`H` in the hidden state ``h``.
        bias: if ``False``, the cell has no ``bias_ih`` and ``bias_hh``. Default: ``True``.
        device, dtype: where and in which precision to create the parameters.

    Inputs: input, (h_0, c_0)
        - **input**: ``(N, H_in)`` or ``(H_in,)``.
        - **h_0**, **c_0**: each ``(N, H)`` or ``(H,)``; both zeros if ``hx`` is not given.

    Outputs: (h_1, c_1)
        - **h_1**, **c_1**: each ``(N, H)`` or ``(H,)``, the next hidden and cell states.

    Attributes:
        weight_ih: :math:`[W_{ii}; W_{if}; W_{ig}; W_{io}]`, shape ``(4H, H_in)``.
        weight_hh: :math:`[W_{hi}; W_{hf}; W_{hg}; W_{ho}]`, shape ``(4H, H)``.
        bias_ih: :math:`b_{ih}`, shape ``(4H,)``.
        bias_hh: :math:`b_{hh}`, shape ``(4H,)``.

    All are initialised from :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})` with :math:`k = 1/H`.

    Examples::

        >>> cell = LSTMCell(10, 20)
        >>> x = torch.randn(6, 3, 10)  # (T, N, H_in)
        >>> h, c = torch.zeros(3, 20), torch.zeros(3, 20)
        >>> for x_t in x:
        ...     h, c = cell(x_t, (h, c))
        >>> h.shape
        torch.Size([3, 20])
    """

    gate_count = 4
    state_count = 2

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, device=device, dtype=dtype)

    def forward(
        self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        x, (h, c), batched = self.prepare(input, hx)
        # W_ih x + b_ih
        xw = F.linear(x, self.weight_ih, self.bias_ih)  # (N, 4H)
        h, c = lstm_step(xw, (h, c), self.weight_hh, self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class LSTM(RNNBase):
    r"""A multi-layer long short-term memory network; drop-in for ``torch.nn.LSTM``.

    For each element of the input sequence, each layer computes

    .. math::
        \begin{aligned}
        i_t &= \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}) \\
        f_t &= \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}) \\
        g_t &= \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) \\
        o_t &= \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
        h_t &= o_t \odot \tanh(c_t)
        \end{aligned}

    where :math:`h_t` and :math:`c_t` are the hidden and cell states at step :math:`t`,
    :math:`x_t` the input at step :math:`t` (for layer :math:`k > 0`, the hidden state
    :math:`h^{(k-1)}_t` of the layer below, with dropout in training mode if ``dropout > 0``),
    :math:`h_0, c_0` the initial states, and :math:`i_t, f_t, g_t, o_t` the input, forget,
    cell-candidate and output gates. With ``proj_size`` :math:`P > 0` (an LSTM with a
    projection layer, Sak et al. 2014) the hidden state is projected to :math:`P` features,
    :math:`h_t = W_{hr} (o_t \odot \tanh(c_t))`, so :math:`W_{hh}` is ``(4H, P)`` and the
    layers above read :math:`P` features per direction; :math:`c_t` keeps :math:`H`.

    Args:
        input_size: the number of features :math:`H_{in}` in the input ``x``.
        hidden_size: the number of features :math:`H` in the hidden state ``h``.
        num_layers: the number :math:`L` of stacked layers. Default: 1.
        bias: if ``False``, no layer has ``b_ih`` and ``b_hh``. Default: ``True``.
        batch_first: if ``True``, ``input`` and ``output`` are ``(N, T, feature)`` instead of
            ``(T, N, feature)``; the states are never batch-first. Default: ``False``.
        dropout: if non-zero, dropout with this probability on the outputs of every layer
            except the last, in training mode only. Default: 0.
        bidirectional: if ``True``, each layer also runs backwards over the sequence
            (:math:`D = 2`). Default: ``False``.
        proj_size: if ``P > 0``, project each layer's hidden state to ``P < H`` features
            with ``weight_hr_l[k]``, as ``torch.nn.LSTM``. Default: 0 (no projection).
        device, dtype: where and in which precision to create the parameters.
        fused: if ``True``, train through the fused recurrence of :mod:`rnncourse.lstm_fused`
            (one autograd node per layer and direction, hand-written backward, no double
            backward) instead of the loop over :func:`lstm_step`; same outputs and gradients.
            Stored as the attribute ``fused``. Default: ``False``.

    Inputs: input, (h_0, c_0)
        - **input**: ``(T, N, H_in)``, ``(N, T, H_in)`` if ``batch_first``, unbatched
          ``(T, H_in)``, or a ``PackedSequence`` (``torch.nn.utils.rnn.pack_padded_sequence``)
          of sequences of different lengths.
        - **h_0**: ``(D*L, N, H_out)`` or unbatched ``(D*L, H_out)``, with ``H_out = P`` if
          ``proj_size > 0`` else ``H``; **c_0**: ``(D*L, N, H)`` or ``(D*L, H)``; both zeros if
          ``hx`` is not given.

    Outputs: output, (h_n, c_n)
        - **output**: ``(T, N, D*H_out)`` (``(N, T, D*H_out)`` if ``batch_first``,
          ``(T, D*H_out)`` unbatched, a ``PackedSequence`` packed like a packed input),
          :math:`h_t` of the last layer for every :math:`t`, forward and backward directions
          concatenated, forward first.
        - **h_n** ``(D*L, N, H_out)``, **c_n** ``(D*L, N, H)`` (without ``N`` unbatched): the
          final states of every layer and direction, each sequence's own final state for a
          packed input.

    Attributes:
        weight_ih_l[k]: :math:`[W_{ii}; W_{if}; W_{ig}; W_{io}]` of layer k, ``(4H, H_in)`` for
            k = 0, else ``(4H, D*H)``.
        weight_hh_l[k]: :math:`[W_{hi}; W_{hf}; W_{hg}; W_{ho}]` of layer k, ``(4H, H_out)``.
        bias_ih_l[k], bias_hh_l[k]: :math:`b_{ih}`, :math:`b_{hh}` of layer k, ``(4H,)``.
        weight_hr_l[k]: :math:`W_{hr}` of layer k, ``(P, H)``, only if ``proj_size > 0``.
        ``*_reverse``: the same for the backward direction when ``bidirectional=True``.

    All are initialised from :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})` with :math:`k = 1/H`.

    Examples::

        >>> lstm = LSTM(10, 20, 2)
        >>> x = torch.randn(5, 3, 10)  # (T, N, H_in)
        >>> h0, c0 = torch.randn(2, 3, 20), torch.randn(2, 3, 20)  # (L, N, H)
        >>> output, (hn, cn) = lstm(x, (h0, c0))
        >>> output.shape, hn.shape
        (torch.Size([5, 3, 20]), torch.Size([2, 3, 20]))
    """

    gate_count = 4
    state_count = 2

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        fused: bool = False,
    ) -> None:
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device=device,
            dtype=dtype,
        )
        self.fused = fused

    def step(
        self,
        xw: Tensor,
        state: State,
        weight_hh: Tensor,
        bias_hh: Tensor | None,
        weight_hr: Tensor | None = None,
    ) -> State:
        assert isinstance(state, tuple)
        return lstm_step(xw, state, weight_hh, bias_hh, weight_hr)

    def run_one_direction(
        self,
        x: Tensor,
        state: State,
        weight_ih: Tensor,
        weight_hh: Tensor,
        bias_ih: Tensor | None,
        bias_hh: Tensor | None,
        reverse: bool,
        lengths: Tensor | None = None,
        weight_hr: Tensor | None = None,
    ) -> tuple[Tensor, State]:
        """The loop over :func:`lstm_step`, or the fused recurrence if :attr:`fused`.

        Without autograd (``torch.no_grad()``, inference) the loop runs either way: the fused
        path only pays off in the backward pass, and its forward stores more. Packed input
        (``lengths``) and projections (``weight_hr``) always take the loop.
        """
        if self.fused and torch.is_grad_enabled() and lengths is None and weight_hr is None:
            return lstm_fused.lstm_direction_fused(
                x, state, weight_ih, weight_hh, bias_ih, bias_hh, reverse
            )
        return super().run_one_direction(
            x, state, weight_ih, weight_hh, bias_ih, bias_hh, reverse, lengths, weight_hr
        )

    def extra_repr(self) -> str:
        return super().extra_repr() + (", fused=True" if self.fused else "")

    def forward(
        self, input: Any, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Any, tuple[Tensor, Tensor]]:
        return super().forward(input, hx)
