r"""The LSTM recurrence as one autograd node, backward by hand: chapter 7's speed section.

Opt-in: ``rnncourse.LSTM(..., fused=True)`` runs each layer and direction through
:class:`LSTMRecurrence` instead of the readable default, the loop
:func:`rnncourse._recurrent.unroll` over :func:`rnncourse.lstm.lstm_step`. Both compute the
same outputs and gradients (``tests/test_lstm.py`` checks both against ``torch.nn.LSTM`` in
float64, and the hand-written backward against finite differences); only the loop supports
double backward (``create_graph=True``).

Why it is faster: the loop records about a dozen autograd nodes per step, this records one
per sequence, and its backward computes every factor that does not depend on
:math:`\delta h_t, \delta c_t` for all steps at once. ``benchmarks/bench_rnn.py`` (CPU,
forward + backward) measures both against ``torch.nn.LSTM``, which runs oneDNN's fused kernel;
what is left is the two per-step matrix products through ``torch.mm``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from rnncourse._recurrent import State

__all__ = ["LSTMRecurrence", "lstm_direction_fused"]


class LSTMRecurrence(torch.autograd.Function):
    r"""The LSTM recurrence over all ``T`` steps, with its backward pass written out by hand.

    The plain loop (:func:`rnncourse._recurrent.unroll` over :func:`rnncourse.lstm.lstm_step`)
    records about a dozen autograd nodes per step; this records one for the whole sequence.
    Forward runs the same equations as :func:`rnncourse.lstm.lstm_step` without building a
    graph and keeps the activated gates and cell states; backward is backpropagation through
    time:

    .. math::
        \begin{aligned}
        \delta h_t &= \partial L / \partial h_t \text{ (from above)} + \delta a_{t+1} W_{hh} \\
        \delta c_t &= \delta c_{t+1} \odot f_{t+1} + \delta h_t \odot o_t \odot (1 - \tanh^2 c_t) \\
        \delta a_t &= [\delta c_t \odot g_t \odot i_t (1 - i_t);\;
            \delta c_t \odot c_{t-1} \odot f_t (1 - f_t);\;
            \delta c_t \odot i_t \odot (1 - g_t^2);\;
            \delta h_t \odot \tanh c_t \odot o_t (1 - o_t)] \\
        \delta W_{hh} &= \textstyle\sum_t \delta a_t^\top h_{t-1}
        \end{aligned}

    where :math:`a_t = [a_i; a_f; a_g; a_o]` are the gate pre-activations. The input term
    ``xw`` gets :math:`\delta a_t`, so autograd carries the gradient on to ``W_ih``, the
    biases and the input. With ``reverse=True`` the steps run from :math:`T` down to 1, so
    read :math:`t+1` as :math:`t-1` and vice versa. Double backward is not supported.

    Inputs: xw, h_0, c_0, weight_hh, reverse
        - **xw**: ``(T, N, 4H)``, :math:`W_{ih} x_t + b_{ih} + b_{hh}` for every step.
        - **h_0**, **c_0**: ``(N, H)`` each, the initial states.
        - **weight_hh**: ``(4H, H)``.
        - **reverse**: run from ``t = T`` down to ``t = 1``.

    Outputs: hs, h_T, c_T
        - **hs**: ``(T, N, H)``, :math:`h_t` stored at step :math:`t` in either direction.
        - **h_T**, **c_T**: ``(N, H)`` each, the states after the last step taken.

    Examples::

        >>> xw, h0, c0 = torch.randn(6, 2, 20), torch.zeros(2, 5), torch.zeros(2, 5)
        >>> weight_hh = torch.randn(20, 5, requires_grad=True)
        >>> hs, h_T, c_T = LSTMRecurrence.apply(xw, h0, c0, weight_hh, False)
        >>> hs.shape, torch.equal(hs[-1], h_T)
        (torch.Size([6, 2, 5]), True)
        >>> hs.sum().backward()
        >>> weight_hh.grad.shape
        torch.Size([20, 5])
    """

    @staticmethod
    def forward(
        ctx: Any, xw: Tensor, h0: Tensor, c0: Tensor, weight_hh: Tensor, reverse: bool
    ) -> tuple[Tensor, Tensor, Tensor]:
        T, N, G = xw.shape
        H = G // 4
        acts = torch.empty_like(xw)  # (T, N, 4H): i, f, g, o after their activations
        hs = xw.new_empty(T, N, H)  # h_t
        cs = xw.new_empty(T, N, H)  # c_t
        tanh_cs = xw.new_empty(T, N, H)  # tanh(c_t)
        h, c = h0, c0
        w_hh_t = weight_hh.t()  # (H, 4H)
        for t in range(T - 1, -1, -1) if reverse else range(T):
            act = acts[t]  # (N, 4H), filled in place below
            # a_t = W_ih x_t + b_ih + b_hh + W_hh h_{t-1}, one fused multiply-add
            a = torch.addmm(xw[t], h, w_hh_t)  # (N, 4H)
            # one sigmoid for all four gates, then tanh for g over the sigmoid's g slot
            torch.sigmoid(a, out=act)
            torch.tanh(a[:, 2 * H : 3 * H], out=act[:, 2 * H : 3 * H])
            i, f, g, o = act.chunk(4, dim=-1)  # each (N, H)
            # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
            c = torch.mul(f, c, out=cs[t]).addcmul_(i, g)
            # h_t = o_t ⊙ tanh(c_t)
            h = torch.mul(o, torch.tanh(c, out=tanh_cs[t]), out=hs[t])
        ctx.save_for_backward(weight_hh, h0, c0, acts, hs, cs, tanh_cs)
        ctx.reverse = reverse
        return hs, h.clone(), c.clone()

    @staticmethod
    def backward(
        ctx: Any, grad_hs: Tensor, grad_h: Tensor, grad_c: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor | None, None]:
        if torch.is_grad_enabled():
            raise RuntimeError(
                "rnncourse.LSTM's fused recurrence has no double backward "
                "(create_graph=True); use LSTM(..., fused=False) (model.fused = False), "
                "the autograd loop"
            )
        weight_hh, h0, c0, acts, hs, cs, tanh_cs = ctx.saved_tensors
        T, N, G = acts.shape
        # h_{t-1} and c_{t-1} for every step: the neighbour in the direction of travel
        if ctx.reverse:
            h_prev = torch.cat([hs[1:], h0.unsqueeze(0)])  # (T, N, H)
            c_prev = torch.cat([cs[1:], c0.unsqueeze(0)])  # (T, N, H)
        else:
            h_prev = torch.cat([h0.unsqueeze(0), hs[:-1]])  # (T, N, H)
            c_prev = torch.cat([c0.unsqueeze(0), cs[:-1]])  # (T, N, H)
        i, f, g, o = acts.chunk(4, dim=-1)  # each (T, N, H)
        # everything that does not depend on δh_t, δc_t, for all steps at once:
        # ∂c_t/∂h_t through tanh, and ∂a/∂c (for i, f, g) and ∂a/∂h (for o)
        dc_dh = o * (1 - tanh_cs**2)  # (T, N, H)
        da_dc = torch.stack(
            [g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g**2)], dim=2
        )  # (T, N, 3, H)
        da_dh = tanh_cs * o * (1 - o)  # (T, N, H)
        grad_a = torch.empty_like(acts).view(T, N, 4, G // 4)  # δa_t, (T, N, 4, H)
        dh, dc = grad_h, grad_c  # δh, δc flowing back from step t+1
        for t in range(T) if ctx.reverse else range(T - 1, -1, -1):
            grad_a_t = grad_a[t]  # (N, 4, H), filled in place below
            # δh_t = ∂L/∂h_t from above + δa_{t+1} W_hh (already in dh)
            dh = dh + grad_hs[t]
            # δc_t = δc_{t+1} ⊙ f_{t+1} (already in dc) + δh_t ⊙ o_t ⊙ (1 - tanh² c_t)
            dc = torch.addcmul(dc, dh, dc_dh[t])
            # δa_t for i, f, g (through c_t) and for o (through h_t)
            torch.mul(dc.unsqueeze(1), da_dc[t], out=grad_a_t[:, :3])
            torch.mul(dh, da_dh[t], out=grad_a_t[:, 3])
            # what step t-1 receives: δc_t ⊙ f_t and δa_t W_hh
            dc = dc * f[t]
            dh = grad_a_t.view(N, G) @ weight_hh
        grad_a = grad_a.view(T, N, G)
        grad_w = None
        if ctx.needs_input_grad[3]:
            # δW_hh = Σ_t δa_t^T h_{t-1}: one (4H, T*N) x (T*N, H) matmul for all steps
            grad_w = grad_a.reshape(T * N, G).t() @ h_prev.reshape(T * N, G // 4)  # (4H, H)
        return grad_a, dh, dc, grad_w, None


def lstm_direction_fused(
    x: Tensor,
    state: State,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None,
    bias_hh: Tensor | None,
    reverse: bool,
) -> tuple[Tensor, State]:
    """One LSTM layer over ``x (T, N, H_in)`` through :class:`LSTMRecurrence`.

    Same inputs and outputs as :meth:`rnncourse._recurrent.RNNBase.run_one_direction`:
    ``(h_1..h_T (T, N, H), (h, c))``, the outputs in the input's time order.
    """
    # W_ih x_t + b_ih + b_hh for every t at once; only W_hh h_{t-1} is left for the loop
    xw = F.linear(x, weight_ih, bias_ih)  # (T, N, 4H)
    if bias_hh is not None:
        xw = xw + bias_hh
    if not isinstance(state, tuple):
        raise TypeError(f"state: expected a tuple (h, c), got {type(state).__name__}")
    h, c = state
    hs, h, c = LSTMRecurrence.apply(xw, h, c, weight_hh, reverse)
    return hs, (h, c)
