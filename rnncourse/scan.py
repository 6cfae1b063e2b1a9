r"""minGRU and the parallel scan: an RNN trained without a loop over time (chapter 11).

Feng et al. (2024), "Were RNNs All We Needed?", strip the GRU down until its gates no longer
look at the previous hidden state:

.. math::
    \begin{aligned}
    z_t &= \sigma(W_z x_t + b_z) \\
    \tilde h_t &= W_h x_t + b_h \\
    h_t &= (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t
    \end{aligned}

Because :math:`z_t` and :math:`\tilde h_t` depend on :math:`x_t` alone, they are computed for
all steps at once, and what remains is the *linear* recurrence
:math:`h_t = a_t \odot h_{t-1} + b_t` with :math:`a_t = 1 - z_t`, :math:`b_t = z_t \odot
\tilde h_t`. A linear recurrence can be solved by a parallel scan in :math:`O(\log T)`
sequential steps instead of :math:`T`. (A GRU cannot: its gates depend on :math:`h_{t-1}`
through a non-linearity.)

Two scans are here:

- :func:`heinsen_scan`, the paper's choice: Heinsen's (2023) log-space scan, one
  ``cumsum`` and one ``logcumsumexp``. It needs :math:`b_t > 0` and :math:`h_0 > 0`, so the
  paper's log-space minGRU passes the candidate through :math:`g(x) = x + 0.5` for
  :math:`x \ge 0` and :math:`\sigma(x)` for :math:`x < 0` (``activation="g"``, the default),
  which keeps every :math:`h_t` positive.
- :func:`hillis_steele_scan`, the textbook associative scan in linear space, which works for
  any signs and is used for the plain minGRU (``activation=None``, :math:`\tilde h_t` exactly
  as in the equations above).

:func:`min_gru_sequential` runs the same model with an explicit loop, as a reference and for
step-by-step generation; ``benchmarks/bench_scan.py`` times the two against each other.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnncourse._checks import (
    Factory,
    check_choice,
    check_device,
    check_floating,
    check_positive_int,
    check_same,
    check_shape,
    check_steps,
)
from rnncourse._recurrent import finish_sequence, prepare_sequence, unroll

__all__ = [
    "ACTIVATIONS",
    "MODES",
    "g",
    "log_g",
    "heinsen_scan",
    "hillis_steele_scan",
    "min_gru_sequential",
    "min_gru_parallel",
    "MinGRU",
]

ACTIVATIONS = ("g", None)
MODES = ("parallel", "sequential")


# ---------------------------------------------------------------------------------------------
# the candidate activation g and its logarithm
# ---------------------------------------------------------------------------------------------


def g(x: Tensor) -> Tensor:
    r"""The paper's positive, continuous activation for the log-space minGRU.

    .. math::
        g(x) = \begin{cases} x + \tfrac12 & x \ge 0 \\ \sigma(x) & x < 0 \end{cases}

    where :math:`\sigma` is the logistic sigmoid; both pieces equal :math:`\tfrac12` at 0, and
    :math:`g > 0` everywhere, so :math:`\log g` exists.

    Examples::

        >>> g(torch.tensor([-100.0, 0.0, 1.0]))
        tensor([0.0000, 0.5000, 1.5000])
    """
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: Tensor) -> Tensor:
    r""":math:`\log g(x)`, computed without forming :math:`g(x)` for very negative :math:`x`.

    .. math::
        \log g(x) = \begin{cases} \log(x + \tfrac12) & x \ge 0 \\
            -\operatorname{softplus}(-x) & x < 0 \end{cases}

    where :math:`\log \sigma(x) = -\operatorname{softplus}(-x)` stays accurate where
    :math:`\sigma(x)` underflows. (``relu`` keeps the unused branch finite for :math:`x < 0`.)

    Examples::

        >>> log_g(torch.tensor([0.0, -200.0]))  # log σ(-200): σ itself underflows in float32
        tensor([  -0.6931, -200.0000])
    """
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


# ---------------------------------------------------------------------------------------------
# parallel scans for h_t = a_t ⊙ h_{t-1} + b_t
# ---------------------------------------------------------------------------------------------


def heinsen_scan(log_coeffs: Tensor, log_values: Tensor, log_h_0: Tensor | None = None) -> Tensor:
    r"""Solve :math:`h_t = a_t \odot h_{t-1} + b_t` for every :math:`t` at once, in log space.

    .. math::
        h_t = A_t \odot \Big(h_0 + \sum_{t'=1}^{t} \frac{b_{t'}}{A_{t'}}\Big), \qquad
        \log h_t = a^*_t + \operatorname{logcumsumexp}_{t' \le t}
            \big(\log b_{t'} - a^*_{t'}\big)

    where :math:`A_t = \prod_{j \le t} a_j` and :math:`a^*_t = \log A_t` is a cumulative sum
    of :math:`\log a_j` (Heinsen, 2023), with :math:`h_0` entering as an extra term
    :math:`t' = 0` with :math:`a^*_0 = 0`. Both ``cumsum`` and ``logcumsumexp`` are parallel
    prefix operations. It needs :math:`a_t, b_t, h_0 > 0` (logs of real numbers); in float32
    the subtraction :math:`a^*_t - a^*_{t'}` loses about :math:`10^{-7} |a^*_t|` in
    :math:`\log h_t`, so very long sequences with small :math:`a_t` want float64.

    Args:
        log_coeffs: :math:`\log a_t`, ``(T, *)``, time first.
        log_values: :math:`\log b_t`, ``(T, *)``.
        log_h_0: :math:`\log h_0`, ``(*)``; ``None`` means :math:`h_0 = 0`.

    Outputs:
        :math:`h_1, \dots, h_T`, ``(T, *)``.

    Examples::

        >>> a, b = torch.full((3, 1), 0.5), torch.ones(3, 1)
        >>> heinsen_scan(a.log(), b.log()).squeeze(1)  # 1, 1.5, 1.75
        tensor([1.0000, 1.5000, 1.7500])
    """
    if log_h_0 is not None:
        # h_0 is the term t' = 0, with a*_0 = log 1 = 0
        log_values = torch.cat([log_h_0.unsqueeze(0), log_values])  # (T + 1, *)
        log_coeffs = torch.cat([torch.zeros_like(log_h_0).unsqueeze(0), log_coeffs])
    # a*_t = Σ_{j ≤ t} log a_j
    a_star = torch.cumsum(log_coeffs, dim=0)
    # log(h_0 + Σ_{t' ≤ t} b_t' / A_t')
    log_h0_plus_b_star = torch.logcumsumexp(log_values - a_star, dim=0)
    # log h_t = a*_t + log(h_0 + Σ b_t' / A_t')
    log_h = a_star + log_h0_plus_b_star
    h = torch.exp(log_h)
    return h if log_h_0 is None else h[1:]  # (T, *)


def hillis_steele_scan(coeffs: Tensor, values: Tensor, h_0: Tensor | None = None) -> Tensor:
    r"""Solve :math:`h_t = a_t \odot h_{t-1} + b_t` for every :math:`t` with an associative scan.

    .. math::
        (a, b) \bullet (a', b') = (a' a,\ a' b + b')

    where :math:`(a, b)` stands for the map :math:`h \mapsto a h + b`, and :math:`\bullet`
    applies :math:`(a, b)` first, then :math:`(a', b')`. This composition is associative, so
    the prefix compositions of all :math:`T` maps take :math:`\lceil \log_2 T \rceil` rounds:
    in round :math:`r` every position combines with the one :math:`2^r` steps earlier
    (Hillis and Steele, 1986). Each round is one vectorised operation over all :math:`t`;
    the total work is :math:`O(T \log T)` instead of the loop's :math:`O(T)`. Works in linear
    space, for values of any sign.

    Args:
        coeffs: :math:`a_t`, ``(T, *)``, time first.
        values: :math:`b_t`, ``(T, *)``.
        h_0: the initial state ``(*)``; ``None`` means zeros.

    Outputs:
        :math:`h_1, \dots, h_T`, ``(T, *)``.

    Examples::

        >>> a, b = torch.full((3, 1), 0.5), torch.ones(3, 1)
        >>> hillis_steele_scan(a, b).squeeze(1)
        tensor([1.0000, 1.5000, 1.7500])
    """
    a, b = coeffs, values
    if h_0 is not None:
        # fold h_0 into the first step: h_1 = a_1 h_0 + b_1
        b = torch.cat([(a[0] * h_0 + b[0]).unsqueeze(0), b[1:]])
    T = a.shape[0]
    offset = 1
    while offset < T:
        # position t now composes the maps of steps (t - 2·offset, t]
        b = torch.cat([b[:offset], a[offset:] * b[:-offset] + b[offset:]])
        a = torch.cat([a[:offset], a[offset:] * a[:-offset]])
        offset *= 2
    return b  # b_t is now the composed map applied to h = 0, i.e. h_t


# ---------------------------------------------------------------------------------------------
# minGRU, sequential and parallel
# ---------------------------------------------------------------------------------------------


def _check_min_gru_args(
    x: Tensor,
    weight_z: Tensor,
    weight_h: Tensor,
    bias_z: Tensor | None,
    bias_h: Tensor | None,
    h_0: Tensor | None,
    activation: str | None,
) -> None:
    check_choice("activation", activation, ACTIVATIONS)
    check_shape("weight_z", weight_z, ("H", "H_in"), (None, None))
    H, H_in = weight_z.shape
    check_shape("x", x, ("T", "N", "H_in"), (None, None, H_in))
    check_floating("x", x)
    check_steps("x", x)
    check_shape("weight_h", weight_h, ("H", "H_in"), (H, H_in))
    for name, value in (("weight_z", weight_z), ("weight_h", weight_h)):
        check_same(name, value, x, "x")
    for name, bias in (("bias_z", bias_z), ("bias_h", bias_h)):
        if bias is not None:
            check_shape(name, bias, ("H",), (H,))
            check_same(name, bias, x, "x")
    if h_0 is not None:
        check_shape("h_0", h_0, ("N", "H"), (x.shape[1], H))
        check_same("h_0", h_0, x, "x")


def min_gru_sequential(
    x: Tensor,
    weight_z: Tensor,
    weight_h: Tensor,
    bias_z: Tensor | None = None,
    bias_h: Tensor | None = None,
    h_0: Tensor | None = None,
    activation: str | None = "g",
) -> Tensor:
    r"""minGRU over a whole sequence with an explicit loop over time.

    .. math::
        \begin{aligned}
        z_t &= \sigma(W_z x_t + b_z) \\
        \tilde h_t &= g(W_h x_t + b_h) \\
        h_t &= (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t
        \end{aligned}

    where :math:`z_t` is the update gate, :math:`\tilde h_t` the candidate state, and
    :math:`g` is :func:`g` for ``activation="g"`` or the identity for ``activation=None``.

    Args:
        x: inputs ``(T, N, H_in)``.
        weight_z: :math:`W_z`, ``(H, H_in)``.
        weight_h: :math:`W_h`, ``(H, H_in)``.
        bias_z: :math:`b_z`, ``(H,)``, or ``None``.
        bias_h: :math:`b_h`, ``(H,)``, or ``None``.
        h_0: initial state ``(N, H)``; zeros if ``None``.
        activation: ``"g"`` (the paper's log-space variant) or ``None`` (plain).

    Outputs:
        :math:`h_1, \dots, h_T`, ``(T, N, H)``.

    Examples::

        >>> W_z, W_h = torch.randn(4, 3), torch.randn(4, 3)
        >>> min_gru_sequential(torch.randn(6, 2, 3), W_z, W_h).shape
        torch.Size([6, 2, 4])
    """
    _check_min_gru_args(x, weight_z, weight_h, bias_z, bias_h, h_0, activation)
    N = x.shape[1]
    # the gates see only x_t, so compute them for all steps at once
    z = torch.sigmoid(F.linear(x, weight_z, bias_z))  # (T, N, H)
    h_tilde = F.linear(x, weight_h, bias_h)  # (T, N, H)
    if activation == "g":
        h_tilde = g(h_tilde)
    h = x.new_zeros(N, weight_z.shape[0]) if h_0 is None else h_0  # (N, H)

    def step(zh_t: Tensor, h: Tensor) -> Tensor:
        z_t, h_tilde_t = zh_t.chunk(2, dim=-1)  # each (N, H)
        # h_t = (1 - z_t) ⊙ h_{t-1} + z_t ⊙ h̃_t
        return (1 - z_t) * h + z_t * h_tilde_t  # (N, H)

    # the shared loop over time, over [z_t; h̃_t] side by side
    output, _ = unroll(step, torch.cat([z, h_tilde], dim=-1), h)  # (T, N, H)
    return output


def min_gru_parallel(
    x: Tensor,
    weight_z: Tensor,
    weight_h: Tensor,
    bias_z: Tensor | None = None,
    bias_h: Tensor | None = None,
    h_0: Tensor | None = None,
    activation: str | None = "g",
) -> Tensor:
    r"""minGRU over a whole sequence with a parallel scan: the same outputs, no loop over time.

    With ``activation="g"`` (the paper's log-space minGRU) the recurrence is solved by
    :func:`heinsen_scan` on

    .. math::
        \log a_t = \log(1 - z_t) = -\operatorname{softplus}(k_t), \qquad
        \log b_t = \log z_t + \log g(\tilde k_t) = -\operatorname{softplus}(-k_t)
            + \log g(\tilde k_t)

    where :math:`k_t = W_z x_t + b_z` and :math:`\tilde k_t = W_h x_t + b_h`; computing the
    logs from :math:`k_t` directly avoids :math:`\log 0` when a gate saturates. ``h_0`` must
    then be positive (every state of this variant is); ``None`` means zeros.

    With ``activation=None`` (plain minGRU) :math:`a_t = 1 - z_t`,
    :math:`b_t = z_t \odot \tilde k_t` can have any sign, and :func:`hillis_steele_scan`
    solves it in linear space.

    Args:
        x, weight_z, weight_h, bias_z, bias_h, h_0, activation: as in
            :func:`min_gru_sequential`.

    Outputs:
        :math:`h_1, \dots, h_T`, ``(T, N, H)``, equal to :func:`min_gru_sequential`'s up to
        round-off.

    Examples::

        >>> W_z, W_h, x = torch.randn(4, 3), torch.randn(4, 3), torch.randn(6, 2, 3)
        >>> torch.allclose(min_gru_parallel(x, W_z, W_h), min_gru_sequential(x, W_z, W_h),
        ...                atol=1e-5)
        True
    """
    _check_min_gru_args(x, weight_z, weight_h, bias_z, bias_h, h_0, activation)
    k = F.linear(x, weight_z, bias_z)  # (T, N, H), the gate's pre-activation
    k_tilde = F.linear(x, weight_h, bias_h)  # (T, N, H)
    if activation is None:
        z = torch.sigmoid(k)  # (T, N, H)
        # h_t = (1 - z_t) ⊙ h_{t-1} + z_t ⊙ h̃_t
        return hillis_steele_scan(1 - z, z * k_tilde, h_0)
    if h_0 is not None and bool((h_0 <= 0).any()):
        raise ValueError(
            "h_0: the log-space scan (activation='g') needs h_0 > 0; "
            "pass None for a zero state or use activation=None"
        )
    # log(1 - z_t) = log σ(-k_t) = -softplus(k_t)
    log_coeffs = -F.softplus(k)
    # log(z_t ⊙ g(k̃_t)) = log σ(k_t) + log g(k̃_t)
    log_values = -F.softplus(-k) + log_g(k_tilde)
    log_h_0 = None if h_0 is None else torch.log(h_0)
    return heinsen_scan(log_coeffs, log_values, log_h_0)  # (T, N, H)


class MinGRU(nn.Module):
    r"""A single-layer minGRU that trains with a parallel scan or runs step by step.

    .. math::
        \begin{aligned}
        z_t &= \sigma(W_z x_t + b_z) \\
        \tilde h_t &= g(W_h x_t + b_h) \\
        h_t &= (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t
        \end{aligned}

    where :math:`g` is :func:`g` (``activation="g"``, default) or the identity
    (``activation=None``). ``mode="parallel"`` uses :func:`min_gru_parallel`,
    ``mode="sequential"`` :func:`min_gru_sequential`; both give the same outputs, and
    ``mode`` may be changed at any time.

    Args:
        input_size: :math:`H_{in}`.
        hidden_size: :math:`H`.
        bias: if ``False``, no :math:`b_z`, :math:`b_h`. Default: ``True``.
        activation: ``"g"`` or ``None``. Default: ``"g"``.
        mode: ``"parallel"`` or ``"sequential"``. Default: ``"parallel"``.
        batch_first: if ``True``, ``input`` and ``output`` are ``(N, T, ·)``. Default: ``False``.
        device, dtype: where and in which precision to create the parameters.

    Inputs: input, h_0
        - **input**: ``(T, N, H_in)``, ``(N, T, H_in)`` if ``batch_first``, or unbatched
          ``(T, H_in)``.
        - **h_0**: ``(1, N, H)`` (``(1, H)`` unbatched), as for ``torch.nn.GRU``; zeros if not
          given. Must be positive for ``activation="g"`` in parallel mode.

    Outputs: output, h_n
        - **output**: ``(T, N, H)`` (``(N, T, H)`` if ``batch_first``, ``(T, H)`` unbatched),
          :math:`h_t` for every :math:`t`.
        - **h_n**: ``(1, N, H)`` (``(1, H)`` unbatched), the last state.

    Attributes:
        weight_z, weight_h: ``(H, H_in)``; bias_z, bias_h: ``(H,)``. Initialised from
        :math:`\mathcal{U}(-1/\sqrt{H_{in}}, 1/\sqrt{H_{in}})`, as ``torch.nn.Linear``.

    Examples::

        >>> model = MinGRU(3, 8)
        >>> output, h_n = model(torch.randn(50, 4, 3))
        >>> output.shape, h_n.shape
        (torch.Size([50, 4, 8]), torch.Size([1, 4, 8]))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        activation: str | None = "g",
        mode: str = "parallel",
        batch_first: bool = False,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_positive_int("input_size", input_size)
        check_positive_int("hidden_size", hidden_size)
        check_device("device", device)
        check_choice("activation", activation, ACTIVATIONS)
        check_choice("mode", mode, MODES)
        self.input_size, self.hidden_size = input_size, hidden_size
        self.activation, self.mode, self.batch_first = activation, mode, batch_first
        factory: Factory = {"device": device, "dtype": dtype}
        self.weight_z = nn.Parameter(torch.empty(hidden_size, input_size, **factory))
        self.weight_h = nn.Parameter(torch.empty(hidden_size, input_size, **factory))
        if bias:
            self.bias_z = nn.Parameter(torch.empty(hidden_size, **factory))
            self.bias_h = nn.Parameter(torch.empty(hidden_size, **factory))
        else:
            self.register_parameter("bias_z", None)
            self.register_parameter("bias_h", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.input_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, input: Tensor, h_0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        check_choice("mode", self.mode, MODES)
        x, batched = prepare_sequence(
            input, self.input_size, self.batch_first, self.weight_z, "weight_z"
        )  # (T, N, H_in)
        if h_0 is not None:
            if batched:
                check_shape("h_0", h_0, ("1", "N", "H"), (1, x.shape[1], self.hidden_size))
                h_0 = h_0[0]  # (N, H)
            else:
                check_shape("h_0", h_0, ("1", "H"), (1, self.hidden_size))
        scan = min_gru_parallel if self.mode == "parallel" else min_gru_sequential
        args = (self.weight_z, self.weight_h, self.bias_z, self.bias_h)
        output = scan(x, *args, h_0=h_0, activation=self.activation)  # (T, N, H)
        h_n = output[-1:]  # (1, N, H)
        if not batched:
            h_n = h_n.squeeze(1)  # (1, H)
        return finish_sequence(output, batched, self.batch_first), h_n

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias_z is None:
            s += ", bias=False"
        s += f", activation={self.activation!r}, mode={self.mode!r}"
        if self.batch_first:
            s += ", batch_first=True"
        return s
