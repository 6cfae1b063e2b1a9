r"""Gated recurrent units: chapter 7 (gated cells).

A GRU has one state, :math:`h_t`, and two gates: a reset gate :math:`r_t` that decides how
much of the previous state feeds the candidate :math:`n_t`, and an update gate :math:`z_t`
that blends the candidate with the previous state:

.. math::
    \begin{aligned}
    r_t &= \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) \\
    z_t &= \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) \\
    n_t &= \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})) \\
    h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}
    \end{aligned}

This is PyTorch's variant: the reset gate multiplies :math:`W_{hn} h_{t-1} + b_{hn}`, after
the matrix product. Cho et al. (2014) apply it before, :math:`W_{hn} (r_t \odot h_{t-1})`;
the two are different functions, and only PyTorch's lets one matrix product per step serve
all three gates. The weights are stacked in PyTorch's order **r, z, n**, so they copy to and
from ``torch.nn.GRU`` unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from rnncourse._recurrent import CellBase, RNNBase, State, check_cell_args, reject_proj_size

__all__ = ["gru_step", "gru_cell", "GRUCell", "GRU"]


def gru_step(
    xw: Tensor,
    h: Tensor,
    weight_hh: Tensor,
    bias_hh: Tensor | None = None,
) -> Tensor:
    """One GRU step given the input term ``xw = W_ih x_t + b_ih`` (already computed).

    :class:`GRU` computes ``xw`` for every step in one matrix multiplication and calls this
    inside its loop over time; :func:`gru_cell` computes it for one step.
    """
    x_r, x_z, x_n = xw.chunk(3, dim=-1)  # W_i* x_t + b_i*, each (N, H)
    hw = F.linear(h, weight_hh, bias_hh)  # W_hh h_{t-1} + b_hh, (N, 3H)
    h_r, h_z, h_n = hw.chunk(3, dim=-1)  # W_h* h_{t-1} + b_h*, each (N, H)
    # r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
    r = torch.sigmoid(x_r + h_r)
    # z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    z = torch.sigmoid(x_z + h_z)
    # n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
    n = torch.tanh(x_n + r * h_n)
    # h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}
    return (1 - z) * n + z * h  # (N, H)


def gru_cell(
    x: Tensor,
    h: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
) -> Tensor:
    r"""One step of a GRU: the next hidden state from the input and the previous state.

    .. math::
        \begin{aligned}
        r_t &= \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) \\
        z_t &= \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) \\
        n_t &= \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})) \\
        h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}
        \end{aligned}

    where :math:`r_t` is the reset gate, :math:`z_t` the update gate, :math:`n_t` the
    candidate state, :math:`\sigma` the sigmoid and :math:`\odot` the element-wise product.

    Args:
        x: input :math:`x_t`, shape ``(N, H_in)`` or unbatched ``(H_in,)``.
        h: previous hidden state :math:`h_{t-1}`, shape ``(N, H)`` or ``(H,)``.
        weight_ih: :math:`W_{ih} = [W_{ir}; W_{iz}; W_{in}]`, shape ``(3H, H_in)``.
        weight_hh: :math:`W_{hh} = [W_{hr}; W_{hz}; W_{hn}]`, shape ``(3H, H)``.
        bias_ih: :math:`b_{ih}`, shape ``(3H,)``, or ``None``.
        bias_hh: :math:`b_{hh}`, shape ``(3H,)``, or ``None``.

    Returns:
        :math:`h_t`, the shape of ``h``.

    Examples::

        >>> cell = torch.nn.GRUCell(3, 5)
        >>> x, h = torch.randn(2, 3), torch.zeros(2, 5)
        >>> h = gru_cell(x, h, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
        >>> h.shape
        torch.Size([2, 5])
    """
    check_cell_args(x, [("h", h)], weight_ih, weight_hh, bias_ih, bias_hh, gate_count=3)
    # [W_ir; W_iz; W_in] x_t + b_ih
    xw = F.linear(x, weight_ih, bias_ih)  # (N, 3H)
    return gru_step(xw, h, weight_hh, bias_hh)


class GRUCell(CellBase):
    r"""A gated recurrent unit cell; mirrors ``torch.nn.GRUCell``.

    .. math::
        \begin{aligned}
        r &= \sigma(W_{ir} x + b_{ir} + W_{hr} h + b_{hr}) \\
        z &= \sigma(W_{iz} x + b_{iz} + W_{hz} h + b_{hz}) \\
        n &= \tanh(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn})) \\
        h' &= (1 - z) \odot n + z \odot h
        \end{aligned}

    where :math:`\sigma` is the sigmoid function and :math:`\odot` the element-wise product.

    Args:
        input_size: the number of features :math:`H_{in}` in the input ``x``.
        hidden_size: the number of features :math:`H` in the hidden state ``h``.
        bias: if ``False``, the cell has no ``bias_ih`` and ``bias_hh``. Default: ``True``.
        device, dtype: where and in which precision to create the parameters.

    Inputs: input, hx
        - **input**: ``(N, H_in)`` or ``(H_in,)``.
        - **hx**: ``(N, H)`` or ``(H,)``, the initial hidden state; zeros if not given.

    Outputs: h'
        - **h'**: ``(N, H)`` or ``(H,)``, the next hidden state.

    Attributes:
        weight_ih: :math:`[W_{ir}; W_{iz}; W_{in}]`, shape ``(3H, H_in)``.
        weight_hh: :math:`[W_{hr}; W_{hz}; W_{hn}]`, shape ``(3H, H)``.
        bias_ih: :math:`b_{ih}`, shape ``(3H,)``.
        bias_hh: :math:`b_{hh}`, shape ``(3H,)``.

    All are initialised from :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})` with :math:`k = 1/H`.

    Examples::

        >>> cell = GRUCell(10, 20)
        >>> x = torch.randn(6, 3, 10)  # (T, N, H_in)
        >>> h = torch.zeros(3, 20)
        >>> for x_t in x:
        ...     h = cell(x_t, h)
        >>> h.shape
        torch.Size([3, 20])
    """

    gate_count = 3

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

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), batched = self.prepare(input, hx)
        # [W_ir; W_iz; W_in] x + b_ih
        xw = F.linear(x, self.weight_ih, self.bias_ih)  # (N, 3H)
        h = gru_step(xw, h, self.weight_hh, self.bias_hh)
        return h if batched else h.squeeze(0)


class GRU(RNNBase):
    r"""A multi-layer gated recurrent unit network; drop-in for ``torch.nn.GRU``.

    For each element of the input sequence, each layer computes

    .. math::
        \begin{aligned}
        r_t &= \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) \\
        z_t &= \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) \\
        n_t &= \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})) \\
        h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}
        \end{aligned}

    where :math:`h_t` is the hidden state at step :math:`t`, :math:`x_t` the input at step
    :math:`t` (for layer :math:`k > 0`, the hidden state :math:`h^{(k-1)}_t` of the layer
    below, with dropout in training mode if ``dropout > 0``), :math:`h_0` the initial state,
    and :math:`r_t, z_t, n_t` the reset gate, update gate and candidate state.

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
        device, dtype: where and in which precision to create the parameters.

    Inputs: input, hx
        - **input**: ``(T, N, H_in)``, ``(N, T, H_in)`` if ``batch_first``, unbatched
          ``(T, H_in)``, or a ``PackedSequence`` (``torch.nn.utils.rnn.pack_padded_sequence``)
          of sequences of different lengths.
        - **hx**: ``(D*L, N, H)`` or unbatched ``(D*L, H)``; zeros if not given.

    Outputs: output, h_n
        - **output**: ``(T, N, D*H)`` (``(N, T, D*H)`` if ``batch_first``, ``(T, D*H)``
          unbatched, a ``PackedSequence`` packed like a packed input), :math:`h_t` of the
          last layer for every :math:`t`, forward and backward directions concatenated,
          forward first.
        - **h_n**: ``(D*L, N, H)`` (``(D*L, H)`` unbatched), the final hidden state of every
          layer and direction.

    Attributes:
        weight_ih_l[k]: :math:`[W_{ir}; W_{iz}; W_{in}]` of layer k, ``(3H, H_in)`` for k = 0,
            else ``(3H, D*H)``.
        weight_hh_l[k]: :math:`[W_{hr}; W_{hz}; W_{hn}]` of layer k, ``(3H, H)``.
        bias_ih_l[k], bias_hh_l[k]: :math:`b_{ih}`, :math:`b_{hh}` of layer k, ``(3H,)``.
        ``*_reverse``: the same for the backward direction when ``bidirectional=True``.

    All are initialised from :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})` with :math:`k = 1/H`.

    Examples::

        >>> gru = GRU(10, 20, 2)
        >>> x = torch.randn(5, 3, 10)  # (T, N, H_in)
        >>> h0 = torch.randn(2, 3, 20)  # (L, N, H)
        >>> output, hn = gru(x, h0)
        >>> output.shape, hn.shape
        (torch.Size([5, 3, 20]), torch.Size([2, 3, 20]))
    """

    gate_count = 3

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
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
        return gru_step(xw, state, weight_hh, bias_hh)

    def forward(self, input: Any, hx: Tensor | None = None) -> tuple[Any, Tensor]:
        return super().forward(input, hx)
