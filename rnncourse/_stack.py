"""The machinery shared by the cells and the sequence modules of chapters 2-3 and 7.

``rnn.py``, ``lstm.py`` and ``gru.py`` each write down one *step* of their recurrence;
everything else lives here, once:

* :class:`CellBase` -- parameters, initialisation and input handling of a single cell
  (``RNNCell``, ``LSTMCell``, ``GRUCell``), laid out exactly like ``torch.nn.RNNCellBase``.
* :class:`RNNBase` -- the multi-layer, optionally bidirectional driver behind ``RNN``,
  ``LSTM`` and ``GRU``, with ``torch.nn.RNNBase``'s parameter names, order and shapes.
* :func:`run_direction` -- the explicit loop over time for one layer and one direction.

Speed comes from one observation: the input term ``W_ih x_t + b_ih`` does not depend on
``h_{t-1}``, so it is computed for all ``T`` steps in a single matrix multiplication before
the loop. Only the recurrence ``W_hh h_{t-1} + b_hh`` and the gates remain inside the loop.

``RNNBase.run_one_direction`` calls :func:`run_direction`; a subclass may replace it with a
faster path that computes the same function. ``LSTM`` does (``rnncourse.lstm.LSTMRecurrence``:
one autograd node for the whole sequence, backward written out by hand) unless its attribute
``fused`` is ``False``; ``RNN`` and ``GRU`` always run the loop here.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from rnncourse._checks import (
    check_choice,
    check_device,
    check_floating,
    check_positive_int,
    check_same,
    check_shape,
    check_steps,
)

__all__ = ["State", "StepFn", "CellBase", "RNNBase", "run_direction", "check_nonlinearity"]

State = tuple[Tensor, ...]  # (h,) for RNN/GRU, (h, c) for LSTM
StepFn = Callable[[Tensor, State, Tensor, Tensor | None], State]

_STATE_NAMES = {1: ("h_0",), 2: ("h_0", "c_0")}


# ---------------------------------------------------------------------------
# Checks used by the functional cells
# ---------------------------------------------------------------------------


def check_cell_args(
    x: Any,
    states: Sequence[tuple[str, Any]],
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None,
    bias_hh: Tensor | None,
    gate_count: int,
) -> None:
    """Check the arguments of a functional cell; raise naming the first bad one.

    ``states`` lists ``(name, tensor)`` pairs such as ``[("h", h)]`` or ``[("h", h), ("c", c)]``.
    """
    check_floating("x", _as_tensor("x", x))
    # H is read off weight_hh's columns, H_in off weight_ih's; the rest must agree with them
    check_shape("weight_hh", weight_hh, ("G*H", "H"), (None, None))
    hidden_size = weight_hh.shape[1]
    check_shape("weight_hh", weight_hh, ("G*H", "H"), (gate_count * hidden_size, hidden_size))
    check_shape("weight_ih", weight_ih, ("G*H", "H_in"), (gate_count * hidden_size, None))
    input_size = weight_ih.shape[1]
    for name, bias in (("bias_ih", bias_ih), ("bias_hh", bias_hh)):
        if bias is not None:
            check_shape(name, bias, ("G*H",), (gate_count * hidden_size,))
    if x.dim() == 1:
        check_shape("x", x, ("H_in",), (input_size,))
        batch: tuple[str, ...] = ()
        sizes: tuple[int | None, ...] = ()
    else:
        check_shape("x", x, ("N", "H_in"), (None, input_size))
        batch, sizes = ("N",), (x.shape[0],)
    for name, state in states:
        _as_tensor(name, state)
        check_shape(name, state, (*batch, "H"), (*sizes, hidden_size))
        check_same(name, state, x, "x")
    for name, w in (("weight_ih", weight_ih), ("weight_hh", weight_hh)):
        check_same(name, w, x, "x")


def _as_tensor(name: str, value: Any) -> Tensor:
    if isinstance(value, PackedSequence):
        raise TypeError(
            f"{name}: PackedSequence is not supported by rnncourse; pad the batch "
            "(torch.nn.utils.rnn.pad_packed_sequence) and pass a tensor"
        )
    if not isinstance(value, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(value).__name__}")
    return value


def _unpack_state(name: str, hx: Any, state_count: int) -> tuple[Any, ...]:
    """Turn ``hx`` into a tuple of ``state_count`` tensors, refusing the wrong kind."""
    if state_count == 1:
        if isinstance(hx, tuple | list):
            raise TypeError(f"{name}: expected a tensor h_0, got a {type(hx).__name__}")
        return (hx,)
    if not isinstance(hx, tuple | list) or len(hx) != state_count:
        got = type(hx).__name__ if not isinstance(hx, tuple | list) else f"{len(hx)}-tuple"
        raise TypeError(f"{name}: expected a tuple (h_0, c_0), got {got}")
    return tuple(hx)


# ---------------------------------------------------------------------------
# One cell
# ---------------------------------------------------------------------------


class CellBase(nn.Module):
    r"""Parameters and input handling shared by ``RNNCell``, ``LSTMCell`` and ``GRUCell``.

    Same layout as ``torch.nn.RNNCellBase``: ``weight_ih (G*H, H_in)``, ``weight_hh (G*H, H)``,
    ``bias_ih (G*H,)``, ``bias_hh (G*H,)``, all drawn from
    :math:`\mathcal{U}(-1/\sqrt{H}, 1/\sqrt{H})`.
    """

    gate_count: ClassVar[int]
    state_count: ClassVar[int] = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_positive_int("input_size", input_size)
        check_positive_int("hidden_size", hidden_size)
        check_device("device", device)
        factory = {"device": device, "dtype": dtype}
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        gh = self.gate_count * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(gh, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(gh, hidden_size, **factory))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(gh, **factory))
            self.bias_hh = nn.Parameter(torch.empty(gh, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every parameter from U(-1/sqrt(H), 1/sqrt(H)), as torch does."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        for weight in self.parameters():
            nn.init.uniform_(weight, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity!r}"
        return s

    def prepare(self, input: Any, hx: Any) -> tuple[Tensor, State, bool]:
        """Check ``input``/``hx``; return ``x (N, H_in)``, the state as a tuple, batched?"""
        x = _as_tensor("input", input)
        check_floating("input", x)
        if x.dim() == 1:
            check_shape("input", x, ("H_in",), (self.input_size,))
            x = x.unsqueeze(0)  # (1, H_in)
            batched = False
        else:
            check_shape("input", x, ("N", "H_in"), (None, self.input_size))
            batched = True
        check_same("input", x, self.weight_ih, "weight_ih")
        n = x.shape[0]
        if hx is None:
            zeros = x.new_zeros(n, self.hidden_size)  # (N, H)
            return x, (zeros,) * self.state_count, batched
        states = _unpack_state("hx", hx, self.state_count)
        names = ("h_0", "c_0")[: self.state_count]
        out = []
        for name, s in zip(names, states, strict=True):
            s = _as_tensor(name, s)
            if batched:
                check_shape(name, s, ("N", "H"), (n, self.hidden_size))
            else:
                check_shape(name, s, ("H",), (self.hidden_size,))
                s = s.unsqueeze(0)  # (1, H)
            check_same(name, s, x, "input")
            out.append(s)
        return x, tuple(out), batched


# ---------------------------------------------------------------------------
# The loop over time for one layer and one direction
# ---------------------------------------------------------------------------


def run_direction(
    step: StepFn,
    x: Tensor,
    state: State,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None,
    bias_hh: Tensor | None,
    reverse: bool = False,
) -> tuple[Tensor, State]:
    """Run one layer over ``x (T, N, H_in)`` forwards (or backwards); return ``(h_1..h_T, state)``.

    ``step(xw_t, state, weight_hh, bias_hh)`` computes one recurrence step from the
    precomputed input term ``xw_t = W_ih x_t + b_ih``. The outputs are stored at the step
    they belong to, so a reverse pass returns them in the input's time order, as torch does.
    """
    # W_ih x_t + b_ih for every t at once: one (T*N, H_in) x (H_in, G*H) matmul
    xw = F.linear(x, weight_ih, bias_ih)  # (T, N, G*H)
    # unbind, not xw[t]: its backward stacks the T gradients once instead of summing T
    # full-size (T, N, G*H) tensors that are zero except at one step
    xws = xw.unbind(0)  # T tensors (N, G*H)
    steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    outputs: list[Tensor] = list(xws)  # placeholders, every slot is overwritten
    for t in steps:
        state = step(xws[t], state, weight_hh, bias_hh)
        outputs[t] = state[0]  # h_t
    return torch.stack(outputs), state  # (T, N, H)


# ---------------------------------------------------------------------------
# Stacked, optionally bidirectional sequence modules
# ---------------------------------------------------------------------------


class RNNBase(nn.Module):
    """The multi-layer, optionally bidirectional driver behind ``RNN``, ``LSTM`` and ``GRU``.

    A subclass sets ``gate_count`` (G) and ``state_count`` (1 for ``h``, 2 for ``(h, c)``) and
    implements :meth:`step`. Parameters are registered in ``torch.nn.RNNBase``'s order --
    for each layer ``k``, for each direction, ``weight_ih_l{k}``, ``weight_hh_l{k}``,
    ``bias_ih_l{k}``, ``bias_hh_l{k}`` (suffix ``_reverse`` for the backward direction) --
    so state dicts move between this module and torch's both ways, and the same seed gives
    the same initial weights.
    """

    gate_count: ClassVar[int]
    state_count: ClassVar[int] = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        _check_sizes(input_size, hidden_size, num_layers, dropout)
        check_device("device", device)
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                f"num_layers={num_layers}",
                stacklevel=2,
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = 0
        factory = {"device": device, "dtype": dtype}
        num_directions = 2 if bidirectional else 1
        gh = self.gate_count * hidden_size
        self._all_weights: list[list[str]] = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * num_directions
            for direction in range(num_directions):
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = {
                    "weight_ih": (gh, layer_input),
                    "weight_hh": (gh, hidden_size),
                    "bias_ih": (gh,),
                    "bias_hh": (gh,),
                }
                if not bias:
                    del shapes["bias_ih"], shapes["bias_hh"]
                names = []
                for stem, shape in shapes.items():
                    name = stem + suffix
                    setattr(self, name, nn.Parameter(torch.empty(shape, **factory)))
                    names.append(name)
                self._all_weights.append(names)
        self.reset_parameters()

    # -- parameters ----------------------------------------------------------

    def reset_parameters(self) -> None:
        """Draw every parameter from U(-1/sqrt(H), 1/sqrt(H)), as torch does."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -stdv, stdv)

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        """Parameters grouped per layer and direction, as ``torch.nn.RNNBase.all_weights``."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def flatten_parameters(self) -> None:
        """Does nothing: kept so code written for ``torch.nn.RNNBase`` runs unchanged."""

    def layer_params(
        self, layer: int, direction: int
    ) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """``(weight_ih, weight_hh, bias_ih, bias_hh)`` of one layer and direction."""
        suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
        return (
            getattr(self, "weight_ih" + suffix),
            getattr(self, "weight_hh" + suffix),
            getattr(self, "bias_ih" + suffix) if self.bias else None,
            getattr(self, "bias_hh" + suffix) if self.bias else None,
        )

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity!r}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s

    # -- the recurrence ------------------------------------------------------

    def step(self, xw: Tensor, state: State, weight_hh: Tensor, bias_hh: Tensor | None) -> State:
        """One step from the precomputed input term ``xw = W_ih x_t + b_ih``."""
        raise NotImplementedError

    def run_one_direction(
        self,
        x: Tensor,
        state: State,
        weight_ih: Tensor,
        weight_hh: Tensor,
        bias_ih: Tensor | None,
        bias_hh: Tensor | None,
        reverse: bool,
    ) -> tuple[Tensor, State]:
        """One layer over ``x (T, N, H_in)``: :func:`run_direction` with this module's :meth:`step`.

        Returns ``(h_1..h_T (T, N, H), final state)``. Subclasses may override it with a faster
        path that computes the same function (``LSTM`` does).
        """
        return run_direction(self.step, x, state, weight_ih, weight_hh, bias_ih, bias_hh, reverse)

    def forward(self, input: Tensor, hx: Any = None) -> tuple[Tensor, Any]:
        """Run all layers and directions; see the subclass docstring for shapes."""
        x, states, batched = self._prepare(input, hx)
        num_directions = 2 if self.bidirectional else 1
        finals: list[list[Tensor]] = [[] for _ in range(self.state_count)]
        layer_input = x  # (T, N, H_in)
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(num_directions):
                index = layer * num_directions + direction
                state = tuple(s[index] for s in states)  # each (N, H)
                out, state = self.run_one_direction(
                    layer_input, state, *self.layer_params(layer, direction), direction == 1
                )
                outputs.append(out)  # (T, N, H)
                for kept, s in zip(finals, state, strict=True):
                    kept.append(s)
            # [forward; backward] along the features, as torch concatenates them
            layer_input = torch.cat(outputs, dim=-1) if num_directions == 2 else outputs[0]
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, p=self.dropout, training=True)
        final = tuple(torch.stack(kept) for kept in finals)  # each (D*L, N, H)
        return self._finish(layer_input, final, batched)

    # -- input/output layout ---------------------------------------------------

    def _prepare(self, input: Any, hx: Any) -> tuple[Tensor, State, bool]:
        """Check the inputs; return time-major ``x (T, N, H_in)``, states, batched?"""
        x = _as_tensor("input", input)
        check_floating("input", x)
        if x.dim() == 2:
            check_shape("input", x, ("T", "H_in"), (None, self.input_size))
            check_steps("input", x)
            x = x.unsqueeze(1)  # (T, 1, H_in)
            batched = False
        else:
            symbols = ("N", "T", "H_in") if self.batch_first else ("T", "N", "H_in")
            check_shape("input", x, symbols, (None, None, self.input_size))
            check_steps("input", x, 1 if self.batch_first else 0)
            if self.batch_first:
                x = x.transpose(0, 1)  # (T, N, H_in)
            batched = True
        check_same("input", x, self.weight_ih_l0, "weight_ih_l0")
        n = x.shape[1]
        num_directions = 2 if self.bidirectional else 1
        rows = self.num_layers * num_directions
        if hx is None:
            zeros = x.new_zeros(rows, n, self.hidden_size)  # (D*L, N, H)
            return x, (zeros,) * self.state_count, batched
        states = []
        for name, s in zip(
            _STATE_NAMES[self.state_count], _unpack_state("hx", hx, self.state_count), strict=True
        ):
            s = _as_tensor(name, s)
            if batched:
                check_shape(name, s, ("D*L", "N", "H"), (rows, n, self.hidden_size))
            else:
                check_shape(name, s, ("D*L", "H"), (rows, self.hidden_size))
                s = s.unsqueeze(1)  # (D*L, 1, H)
            check_same(name, s, x, "input")
            states.append(s)
        return x, tuple(states), batched

    def _finish(self, output: Tensor, final: State, batched: bool) -> tuple[Tensor, Any]:
        """Put the outputs back in the caller's layout (batch-first, unbatched)."""
        if not batched:
            output = output.squeeze(1)  # (T, D*H)
            final = tuple(s.squeeze(1) for s in final)  # (D*L, H)
        elif self.batch_first:
            output = output.transpose(0, 1)  # (N, T, D*H)
        return output, (final if self.state_count == 2 else final[0])


def _check_sizes(input_size: Any, hidden_size: Any, num_layers: Any, dropout: Any) -> None:
    check_positive_int("input_size", input_size)
    check_positive_int("hidden_size", hidden_size)
    check_positive_int("num_layers", num_layers)
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout <= 1:
        raise ValueError(
            f"dropout: expected a probability in [0, 1] (the chance to zero an element), "
            f"got {dropout!r}"
        )


def check_nonlinearity(nonlinearity: Any) -> None:
    """Raise unless ``nonlinearity`` is ``"tanh"`` or ``"relu"``."""
    check_choice("nonlinearity", nonlinearity, ("tanh", "relu"))
