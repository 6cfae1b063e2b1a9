"""Old name of :mod:`rnncourse._recurrent`, kept so that existing imports keep working.

``_stack.py`` held the base classes and the loop over time, not stacking code; they live in
:mod:`rnncourse._recurrent` now. :func:`run_direction` is the old one-layer loop, written
over :func:`rnncourse._recurrent.unroll`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor

from rnncourse._recurrent import (
    CellBase,
    RNNBase,
    State,
    check_cell_args,
    check_nonlinearity,
    unroll,
)

__all__ = ["State", "CellBase", "RNNBase", "run_direction", "check_cell_args", "check_nonlinearity"]


def run_direction(
    step: Callable[[Tensor, State, Tensor, Tensor | None], State],
    x: Tensor,
    state: State,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None,
    bias_hh: Tensor | None,
    reverse: bool = False,
) -> tuple[Tensor, State]:
    """One layer over ``x (T, N, H_in)``: ``step(W_ih x_t + b_ih, state, W_hh, b_hh)`` unrolled."""
    xw = F.linear(x, weight_ih, bias_ih)  # (T, N, G*H)
    return unroll(lambda xw_t, s: step(xw_t, s, weight_hh, bias_hh), xw, state, reverse=reverse)
