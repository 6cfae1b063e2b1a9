r"""The vanilla (Elman) recurrent network: chapter 2 (the hidden state) and chapter 3 (unrolling).

Chapter 2 builds :func:`rnn_cell`, one step of

.. math::
    h_t = \tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}),

chapter 3 unrolls it over a sequence with :class:`RNN`, a drop-in replacement for
``torch.nn.RNN`` (same arguments, parameter names and outputs) whose loop over time is
written out in :mod:`rnncourse._recurrent`.

The book writes column vectors (:math:`W_{hh} h_{t-1}`); the code keeps a batch of row
vectors, ``h @ weight_hh.T``. Both are the same equation.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from rnncourse._recurrent import (
    CellBase,
    RNNBase,
    State,
    check_cell_args,
    check_nonlinearity,
    reject_proj_size,
)

__all__ = ["rnn_step", "rnn_cell", "RNNCell", "RNN"]


def rnn_step(
    xw: Tensor,
    h: Tensor,
    weight_hh: Tensor,
    bias_hh: Tensor | None = None,
    nonlinearity: str = "tanh",
) -> Tensor:
    """One recurrence step given the input term ``xw = W_ih x_t + b_ih`` (already computed).

    :class:`RNN` computes ``xw`` for every step in one matrix multiplication and calls this
    inside its loop over time; :func:`rnn_cell` computes it for one step.
    """
    # W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
    pre = xw + F.linear(h, weight_hh, bias_hh)  # (N, H)
    # h_t = tanh(...)  (or relu)
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


def rnn_cell(
    x: Tensor,
    h: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    nonlinearity: str = "tanh",
) -> Tensor:
    r"""One step of a vanilla RNN: the next hidden state from the input and the previous state.

    .. math::
        h_t = \tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})

    where :math:`x_t` is the input at step :math:`t`, :math:`h_{t-1}` the previous hidden
    state and :math:`h_t` the new one. With ``nonlinearity="relu"`` the :math:`\tanh` is
    replaced by :math:`\max(0, \cdot)`.

    Args:
        x: input :math:`x_t`, shape ``(N, H_in)`` or unbatched ``(H_in,)``.
        h: previous hidden state :math:`h_{t-1}`, shape ``(N, H)`` or ``(H,)``.
        weight_ih: :math:`W_{ih}`, shape ``(H, H_in)``.
        weight_hh: :math:`W_{hh}`, shape ``(H, H)``.
        bias_ih: :math:`b_{ih}`, shape ``(H,)``, or ``None`` for no bias.
        bias_hh: :math:`b_{hh}`, shape ``(H,)``, or ``None`` for no bias.
        nonlinearity: ``"tanh"`` (default) or ``"relu"``.

    Returns:
        :math:`h_t`, shape ``(N, H)`` or ``(H,)``, the same as ``h``.

    Examples::

        >>> cell = torch.nn.RNNCell(3, 5)
        >>> x, h = torch.randn(2, 3), torch.zeros(2, 5)
        >>> h = rnn_cell(x, h, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
        >>> h.shape
        torch.Size([2, 5])
    """
    check_nonlinearity(nonlinearity)
    check_cell_args(x, [("h", h)], weight_ih, weight_hh, bias_ih, bias_hh, gate_count=1)
    # W_ih x_t + b_ih
    xw = F.linear(x, weight_ih, bias_ih)  # (N, H)
    return rnn_step(xw, h, weight_hh, bias_hh, nonlinearity)


class RNNCell(CellBase):
    r"""An Elman RNN cell with tanh or ReLU non-linearity; mirrors ``torch.nn.RNNCell``.

    .. math::
        h' = \tanh(W_{ih} x + b_{ih} + W_{hh} h + b_{hh})

    where :math:`x` is the input, :math:`h` the hidden state and :math:`h'` the next hidden
    state. If ``nonlinearity`` is ``"relu"``, ReLU is used instead of tanh.

    Args:
        input_size: the number of features :math:`H_{in}` in the input ``x``.
        hidden_size: the number of features :math:`H` in the hidden state ``h``.
        bias: if ``False``, the cell has no ``bias_ih`` and ``bias_hh``. Default: ``True``.
        nonlinearity: ``"tanh"`` or ``"relu"``. Default: ``"tanh"``.
        device, dtype: where and in which precision to create the parameters.

    Inputs: input, hx
        - **input**: ``(N, H_in)`` or ``(H_in,)``.
        - **hx**: ``(N, H)`` or ``(H,)``, the initial hidden state; zeros if not given.

    Outputs: h'
        - **h'**: ``(N, H)`` or ``(H,)``, the next hidden state.

    Attributes:
        weight_ih: :math:`W_{ih}`, shape ``(H, H_in)``.
        weight_hh: :math:`W_{hh}`, shape ``(H, H)``.
        bias_ih: :math:`b_{ih}`, shape ``(H,)``.
        bias_hh: :math:`b_{hh}`, shape ``(H,)``.

    All are initialised from :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})` with :math:`k = 1/H`.

    Examples::

        >>> cell = RNNCell(10, 20)
        >>> x = torch.randn(6, 3, 10)  # (T, N, H_in)
        >>> h = torch.zeros(3, 20)
        >>> for x_t in x:
        ...     h = cell(x_t, h)
        >>> h.shape
        torch.Size([3, 20])
    """

    gate_count = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        check_nonlinearity(nonlinearity)
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), batched = self.prepare(input, hx)
        # W_ih x + b_ih
        xw = F.linear(x, self.weight_ih, self.bias_ih)  # (N, H)
        h = rnn_step(xw, h, self.weight_hh, self.bias_hh, self.nonlinearity)
        return h if batched else h.squeeze(0)


class RNN(RNNBase):
    r"""A multi-layer Elman RNN with tanh or ReLU non-linearity; drop-in for ``torch.nn.RNN``.

    For each element of the input sequence, each layer computes

    .. math::
        h_t = \tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})

    where :math:`h_t` is the hidden state at step :math:`t`, :math:`x_t` the input at step
    :math:`t` (for layer :math:`k > 0`, the hidden state :math:`h^{(k-1)}_t` of the layer
    below, with dropout applied in training mode if ``dropout > 0``), and :math:`h_{t-1}` the
    layer's hidden state at step :math:`t-1`, or its initial state :math:`h_0` at :math:`t=1`.
    If ``nonlinearity`` is ``"relu"``, ReLU is used instead of tanh.

    Args:
        input_size: the number of features :math:`H_{in}` in the input ``x``.
        hidden_size: the number of features :math:`H` in the hidden state ``h``.
        num_layers: the number :math:`L` of stacked layers. Default: 1.
        nonlinearity: ``"tanh"`` or ``"relu"``. Default: ``"tanh"``.
        bias: if ``False``, no layer has ``b_ih`` and ``b_hh``. Default: ``True``.
        batch_first: if ``True``, ``input`` and ``output`` are ``(N, T, feature)`` instead of
            ``(T, N, feature)``; the states are never batch-first. Default: ``False``.
        dropout: if non-zero, dropout with this probability on the outputs of every layer
            except the last, in training mode only. Default: 0.
        bidirectional: if ``True``, each layer also runs backwards over the sequence
            (:math:`D = 2`). Default: ``False``.
        device, dtype: where and in which precision to create the parameters.

    Inputs: input, hx
        - **input**: ``(T, N, H_in)``, ``(N, T, H_in)`` if ``batch_first``, unbatched
          ``(T, H_in)``, or a ``PackedSequence`` (``torch.nn.utils.rnn.pack_padded_sequence``)
          of sequences of different lengths.
        - **hx**: ``(D*L, N, H)`` or unbatched ``(D*L, H)``, the initial hidden state of
          every layer and direction; zeros if not given.

    Outputs: output, h_n
        - **output**: ``(T, N, D*H)`` (``(N, T, D*H)`` if ``batch_first``, ``(T, D*H)``
          unbatched, a ``PackedSequence`` packed like a packed input), :math:`h_t` of the
          last layer for every :math:`t`; with two directions the forward and backward states
          are concatenated, forward first.
        - **h_n**: ``(D*L, N, H)`` (``(D*L, H)`` unbatched), the final hidden state of every
          layer and direction, ordered layer by layer, forward before backward.

    Attributes:
        weight_ih_l[k]: :math:`W_{ih}` of layer k, ``(H, H_in)`` for k = 0, else ``(H, D*H)``.
        weight_hh_l[k]: :math:`W_{hh}` of layer k, ``(H, H)``.
        bias_ih_l[k], bias_hh_l[k]: :math:`b_{ih}`, :math:`b_{hh}` of layer k, ``(H,)``.
        ``*_reverse``: the same for the backward direction when ``bidirectional=True``.

    All are initialised from :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})` with :math:`k = 1/H`.

    Examples::

        >>> rnn = RNN(10, 20, 2)
        >>> x = torch.randn(5, 3, 10)  # (T, N, H_in)
        >>> h0 = torch.randn(2, 3, 20)  # (L, N, H)
        >>> output, hn = rnn(x, h0)
        >>> output.shape, hn.shape
        (torch.Size([5, 3, 20]), torch.Size([2, 3, 20]))
    """

    gate_count = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        proj_size: int | None = None,
    ) -> None:
        reject_proj_size(proj_size)
        check_nonlinearity(nonlinearity)
        self.nonlinearity = nonlinearity
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            device=device,
            dtype=dtype,
        )

    def step(
        self,
        xw: Tensor,
        state: State,
        weight_hh: Tensor,
        bias_hh: Tensor | None,
        weight_hr: Tensor | None = None,
    ) -> State:
        assert isinstance(state, Tensor)
        return rnn_step(xw, state, weight_hh, bias_hh, self.nonlinearity)

    def forward(self, input: Any, hx: Tensor | None = None) -> tuple[Any, Tensor]:
        return super().forward(input, hx)
