"""The recurrence shared by every sequence module: one state type, one loop, one input path.

``rnn.py``, ``lstm.py`` and ``gru.py`` each write down one *step* of their recurrence;
``topologies.py``, ``bidirectional.py``, ``seq2seq.py`` and ``scan.py`` put cells together.
Everything they share lives here, once:

* :data:`State` -- the state of a cell: ``h`` for an RNN or GRU, ``(h, c)`` for an LSTM,
  with :func:`hidden_of` (its ``h``) and :func:`map_state` (apply a function to every tensor).
* :func:`unroll` -- the loop over time, ``state = cell(x_t, state)`` for t = 1..T (or T..1),
  with optional per-sequence ``lengths``. Every module that walks a sequence calls it.
* :func:`prepare_sequence` / :func:`finish_sequence` -- the one input-preparation path
  (tensor, floating dtype, rank, ``batch_first``, unbatched, ``T >= 1``, ``H_in``, the
  parameters' device and dtype), and its inverse for the outputs;
  :func:`unpack_sequence` / :func:`pack_like` -- the same for a ``PackedSequence``, which
  becomes a padded batch with per-sequence ``lengths`` for :func:`unroll`'s masking.
* :class:`CellBase` -- parameters, initialisation and input handling of a single cell
  (``RNNCell``, ``LSTMCell``, ``GRUCell``), laid out exactly like ``torch.nn.RNNCellBase``.
* :class:`RNNBase` -- the multi-layer, optionally bidirectional driver behind ``RNN``,
  ``LSTM`` and ``GRU``, with ``torch.nn.RNNBase``'s parameter names, order and shapes.

Speed comes from one observation: the input term ``W_ih x_t + b_ih`` does not depend on
``h_{t-1}``, so :class:`RNNBase` computes it for all ``T`` steps in a single matrix
multiplication and unrolls only the recurrence ``W_hh h_{t-1} + b_hh`` and the gates.
``RNNBase.run_one_direction`` is that loop; ``LSTM(fused=True)`` replaces it with the opt-in
fused recurrence of :mod:`rnncourse.lstm_fused`, which computes the same function.
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
    Factory,
    InputError,
    InputTypeError,
    check_bool,
    check_choice,
    check_device,
    check_floating,
    check_positive_int,
    check_same,
    check_shape,
    check_steps,
    with_torch_words,
)

__all__ = [
    "State",
    "hidden_of",
    "map_state",
    "unroll",
    "check_lengths",
    "prepare_sequence",
    "finish_sequence",
    "unpack_sequence",
    "pack_like",
    "CellBase",
    "RNNBase",
    "check_cell_args",
    "cell_sizes",
    "check_nonlinearity",
    "reject_proj_size",
]

# h for RNN and GRU cells, (h, c) for LSTM cells
State = Tensor | tuple[Tensor, Tensor]

_STATE_NAMES = {1: ("h_0",), 2: ("h_0", "c_0")}


# ---------------------------------------------------------------------------
# One state type
# ---------------------------------------------------------------------------


def hidden_of(state: State) -> Tensor:
    """The hidden state ``h``: ``state`` itself, or ``state[0]`` for an LSTM's ``(h, c)``."""
    return state[0] if isinstance(state, tuple) else state


def map_state(fn: Callable[..., Tensor], *states: State) -> State:
    """Apply ``fn`` to every tensor of one or more states, keeping the LSTM tuple structure.

    Examples::

        >>> h, c = torch.randn(3, 8), torch.randn(3, 8)  # an LSTM state, N = 3
        >>> pick = map_state(lambda s: s[[0, 0, 2]], (h, c))  # reorder a batch (beam search)
        >>> torch.equal(pick[1][1], c[0])
        True
        >>> new, old = torch.ones(3, 8), torch.zeros(3, 8)  # a GRU state is one tensor
        >>> keep = torch.tensor([[True], [False], [True]])  # (N, 1)
        >>> map_state(lambda a, b: torch.where(keep, a, b), new, old)[:, 0]
        tensor([1., 0., 1.])
    """
    if isinstance(states[0], tuple):
        h, c = (fn(*parts) for parts in zip(*states, strict=True))
        return h, c
    return fn(*states)


# ---------------------------------------------------------------------------
# One loop over time
# ---------------------------------------------------------------------------


def check_lengths(lengths: Tensor | Sequence[int], T: int, N: int, device: torch.device) -> Tensor:
    """``lengths`` as a ``(N,)`` long tensor on ``device``, every entry in ``1..T``."""
    lengths = torch.as_tensor(lengths)
    if lengths.is_floating_point() or lengths.dtype == torch.bool:
        raise TypeError(f"lengths: expected integers, got dtype {lengths.dtype}")
    check_shape("lengths", lengths, ("N",), (N,))
    if N > 0 and (lengths.min() < 1 or lengths.max() > T):
        raise ValueError(f"lengths: every length must lie in 1..T = 1..{T}, got {lengths.tolist()}")
    return lengths.to(device=device, dtype=torch.long)


def unroll(
    cell: Callable[[Tensor, Any], State],
    x: Tensor,
    state: State | None = None,
    *,
    reverse: bool = False,
    lengths: Tensor | Sequence[int] | None = None,
) -> tuple[Tensor, State]:
    r"""Run a cell over a sequence, one step at a time: the loop over time of every module.

    .. math::
        h_t = \begin{cases} \mathrm{cell}(x_t, h_{t-1}) & t \le \ell_n \\
                            h_{t-1} & t > \ell_n \end{cases}

    where :math:`\ell_n` is sequence :math:`n`'s length (``T`` when ``lengths`` is ``None``)
    and :math:`h_t` stands for the whole state (``(h_t, c_t)`` for an LSTM). With
    ``reverse=True`` the steps run from :math:`T` down to 1 (read :math:`h_{t-1}` as
    :math:`h_{t+1}`), and each sequence starts at its own last valid step :math:`\ell_n`.
    Freezing the state outside a sequence makes the final state each sequence's own, exactly
    as running it alone (what ``pack_padded_sequence`` gives ``torch.nn.RNN``); outputs at
    padded steps are zero.

    Args:
        cell: one step, ``cell(x_t, state) -> state``: a cell module (``rnncourse``'s or
            ``torch.nn``'s ``RNNCell``/``LSTMCell``/``GRUCell``) or any function such as
            ``lambda x_t, h: rnn_cell(x_t, h, *params)``.
        x: inputs of shape ``(T, N, H_in)``; checked against ``cell.input_size`` if it has one.
        state: initial state ``h_0`` ``(N, H)`` or ``(h_0, c_0)``; ``None`` is passed to the
            cell at the first step (cell modules then start from zeros).
        reverse: run from the last step to the first.
        lengths: ``(N,)`` valid steps per sequence (padding at the end), each in ``1..T``.

    Outputs: ``(h, state)``
        - **h**: ``(T, N, H)``, :math:`h_t` stored at position ``t`` in the input's time order,
          also when ``reverse`` is true (zero past a sequence's length).
        - **state**: the state after the last step processed (after :math:`x_1` when
          ``reverse``), ``(N, H)`` or ``(h, c)``.

    Examples::

        >>> from rnncourse import LSTMCell
        >>> h, (h_T, c_T) = unroll(LSTMCell(3, 8), torch.randn(5, 2, 3), lengths=[5, 2])
        >>> h.shape, h_T.shape
        (torch.Size([5, 2, 8]), torch.Size([2, 8]))
    """
    x = _as_tensor("x", x)
    input_size = getattr(cell, "input_size", None)
    check_shape("x", x, ("T", "N", "H_in"), (None, None, input_size))
    check_floating("x", x)
    check_steps("x", x)
    T, N = x.shape[0], x.shape[1]
    valid_at = None
    if lengths is not None:
        lengths = check_lengths(lengths, T, N, x.device)
        valid_at = (torch.arange(T, device=x.device)[:, None] < lengths[None, :]).unsqueeze(-1)
    # unbind, not x[t]: its backward stacks the T gradients once instead of summing T
    # full-size (T, N, H_in) tensors that are zero except at one step
    xs = x.unbind(0)  # T tensors (N, H_in)
    hs: list[Tensor] = list(xs)  # placeholders, every slot is overwritten
    for t in range(T - 1, -1, -1) if reverse else range(T):
        new = cell(xs[t], state)
        if valid_at is None:
            state = new
            hs[t] = hidden_of(state)  # (N, H)
            continue
        if state is None:  # the cell's own zeros, needed to hold a sequence not yet started
            state = map_state(torch.zeros_like, new)
        valid = valid_at[t]  # (N, 1)
        # h_t = cell(x_t, h_{t-1}) while t is inside the sequence, else h_{t-1}
        state = map_state(lambda a, b, v=valid: torch.where(v, a, b), new, state)
        hs[t] = hidden_of(state).masked_fill(~valid, 0.0)  # (N, H)
    assert state is not None  # T >= 1 steps ran
    return torch.stack(hs), state  # (T, N, H)


# ---------------------------------------------------------------------------
# One input-preparation path
# ---------------------------------------------------------------------------


def prepare_sequence(
    input: Any,
    input_size: int,
    batch_first: bool,
    like: Tensor,
    like_name: str,
) -> tuple[Tensor, bool]:
    """Check a sequence module's ``input``; return it time-major ``(T, N, H_in)``, and batched?

    Accepts ``(T, N, H_in)``, ``(N, T, H_in)`` if ``batch_first``, or unbatched ``(T, H_in)``;
    refuses, naming ``input``, anything that is not a floating tensor of that shape with
    ``T >= 1`` on ``like``'s device and dtype (``like`` is a parameter, named ``like_name``).
    Each refusal has the exception type ``torch.nn.RNN`` raises and ends with its words.
    """
    x = _as_tensor("input", input)
    _check_input_dtype(x, like)
    if x.dim() not in (2, 3):
        words = f"Expected input to be 2D or 3D, got {x.dim()}D instead"
        symbols = ("N", "T", "H_in") if batch_first else ("T", "N", "H_in")
        check_shape("input", x, symbols, (None, None, input_size), torch_message=words)
    # the rank is right, so only H_in can be wrong: torch's RuntimeError
    words = _size_words(x, input_size)
    if x.dim() == 2:
        check_shape(
            "input", x, ("T", "H_in"), (None, input_size), error=InputError, torch_message=words
        )
        check_steps("input", x)
        x, batched = x.unsqueeze(1), False  # (T, 1, H_in)
    else:
        symbols = ("N", "T", "H_in") if batch_first else ("T", "N", "H_in")
        check_shape(
            "input", x, symbols, (None, None, input_size), error=InputError, torch_message=words
        )
        check_steps("input", x, 1 if batch_first else 0)
        if batch_first:
            x = x.transpose(0, 1)  # (T, N, H_in)
        batched = True
    check_same("input", x, like, like_name, torch_device=_device_words(x, like, "parameter"))
    return x, batched


def _check_input_dtype(x: Tensor, like: Tensor) -> None:
    """``x`` floating and of ``like``'s dtype, else torch's ``ValueError`` (also a TypeError)."""
    if x.is_floating_point() and x.dtype == like.dtype:
        return
    words = (
        f"RNN input dtype ({x.dtype}) does not match weight dtype ({like.dtype}). "
        f"Convert input: input.to({like.dtype}), or convert model: model.to({x.dtype})"
    )
    if not x.is_floating_point():
        message = f"input: expected a floating-point tensor, got dtype {x.dtype}"
    else:
        message = f"input: expected dtype {like.dtype} (the dtype of the weights), got {x.dtype}"
    raise InputTypeError(with_torch_words(message, words))


def _size_words(x: Tensor, input_size: int) -> str:
    return f"input.size(-1) must be equal to input_size. Expected {input_size}, got {x.shape[-1]}"


def _device_words(x: Tensor, like: Tensor, what: str) -> str:
    return (
        f"Input and {what} tensors are not at the same device, found input tensor at "
        f"{x.device} and {what} tensor at {like.device}"
    )


def unpack_sequence(packed: PackedSequence) -> tuple[Tensor, Tensor]:
    r"""A ``PackedSequence`` as a padded batch ``x (T, N, H_in)`` and its ``lengths (N,)``.

    .. math::
        x_t^{(n)} = \begin{cases} \text{the packed row of sequence } n \text{ at step } t
        & t \le \ell_n \\ 0 & t > \ell_n \end{cases}

    where :math:`\ell_n` is sequence :math:`n`'s length. A packed batch stores, step after
    step, the rows of the sequences still running (``batch_sizes[t]`` of them, longest
    sequence first); ``m_{t,n} = [n < batch_sizes[t]]`` marks them, so scattering the rows
    into the positions where ``m`` is 1 rebuilds the padded batch. Sequences come back in the
    caller's order (``unsorted_indices``), the order ``h_0`` and ``h_n`` use. Differentiable.
    """
    data, batch_sizes = packed.data, packed.batch_sizes
    if data.dim() != 2:
        raise InputError(
            with_torch_words(
                f"input: expected PackedSequence data (sum of lengths, H_in), got shape "
                f"{tuple(data.shape)}",
                f"input must have 2 dimensions, got {data.dim()}",
            )
        )
    T, N = len(batch_sizes), int(batch_sizes[0])
    # m_{t,n}: step t lies inside the n-th longest sequence
    mask = (torch.arange(N)[None, :] < batch_sizes[:, None]).to(data.device)  # (T, N)
    x = data.new_zeros(T, N, data.shape[-1]).index_put((mask,), data)  # (T, N, H_in)
    lengths = mask.sum(0)  # (N,)
    if packed.unsorted_indices is not None:
        x = x.index_select(1, packed.unsorted_indices)  # the caller's order
        lengths = lengths.index_select(0, packed.unsorted_indices)
    return x, lengths


def pack_like(output: Tensor, packed: PackedSequence) -> PackedSequence:
    """Pack a padded ``output (T, N, *)`` the way ``packed`` is packed: the inverse of
    :func:`unpack_sequence` (same ``batch_sizes``, ``sorted_indices``, ``unsorted_indices``)."""
    if packed.sorted_indices is not None:
        output = output.index_select(1, packed.sorted_indices)  # longest sequence first
    N = output.shape[1]
    mask = (torch.arange(N)[None, :] < packed.batch_sizes[:, None]).to(output.device)  # (T, N)
    data = output[mask]  # (sum of lengths, *), step after step
    return PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)


def finish_sequence(output: Tensor, batched: bool, batch_first: bool) -> Tensor:
    """Put a time-major ``output (T, N, *)`` back in the caller's layout."""
    if not batched:
        return output.squeeze(1)  # (T, *)
    return output.transpose(0, 1) if batch_first else output  # (N, T, *) or (T, N, *)


# ---------------------------------------------------------------------------
# Checks used by the functional cells
# ---------------------------------------------------------------------------


def cell_sizes(name: str, cell: Any) -> tuple[int, int]:
    """``(input_size, hidden_size)`` of a cell module; raise naming ``name`` if it has none."""
    sizes = []
    for attribute in ("input_size", "hidden_size"):
        size = getattr(cell, attribute, None)
        if not isinstance(size, int):
            raise TypeError(
                f"{name}: expected a cell module with an int {attribute} attribute, "
                f"got {type(cell).__name__}"
            )
        sizes.append(size)
    return sizes[0], sizes[1]


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
            f"{name}: a PackedSequence goes to RNN, LSTM, GRU or Bidirectional; here pass "
            "the padded tensor and its lengths (rnncourse._recurrent.unpack_sequence)"
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
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_positive_int("input_size", input_size)
        # H = 0 is allowed, as in torch: the state is an empty (N, 0) tensor
        check_positive_int("hidden_size", hidden_size, allow_zero=True)
        check_device("device", device)
        factory: Factory = {"device": device, "dtype": dtype}
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

    def prepare(self, input: Any, hx: Any) -> tuple[Tensor, tuple[Tensor, ...], bool]:
        """Check ``input``/``hx``; return ``x (N, H_in)``, the state tensors as a tuple, batched?

        In ``torch.nn.RNNCell``'s order and with its exception types: the ranks
        (``ValueError``), then ``H_in``, then each state's batch size and ``H``
        (``RuntimeError``, here :class:`~rnncourse._checks.InputError`, also a ``ValueError``).
        """
        owner = type(self).__name__
        x = _as_tensor("input", input)
        check_floating("input", x)
        if x.dim() not in (1, 2):
            check_shape(
                "input",
                x,
                ("N", "H_in"),
                (None, self.input_size),
                torch_message=f"{owner}: Expected input to be 1D or 2D, got {x.dim()}D instead",
            )
        states: tuple[Any, ...] = ()
        names = ("h_0", "c_0")[: self.state_count]
        if hx is not None:
            states = tuple(
                _as_tensor(n, s)
                for n, s in zip(names, _unpack_state("hx", hx, self.state_count), strict=True)
            )
            for index, (name, s) in enumerate(zip(names, states, strict=True)):
                if s.dim() not in (1, 2):
                    what = f"hx[{index}]" if self.state_count == 2 else "hidden"
                    words = f"{owner}: Expected {what} to be 1D or 2D, got {s.dim()}D instead"
                    check_shape(name, s, ("N", "H"), (None, self.hidden_size), torch_message=words)
        batched = x.dim() == 2
        n = x.shape[0] if batched else 1
        words = f"input has inconsistent input_size: got {x.shape[-1]} expected {self.input_size}"
        symbols = ("N", "H_in") if batched else ("H_in",)
        check_shape(
            "input",
            x,
            symbols,
            (None, self.input_size)[-x.dim() :],
            error=InputError,
            torch_message=words,
        )
        x = x if batched else x.unsqueeze(0)  # (N, H_in)
        out = []
        for index, (name, s) in enumerate(zip(names, states, strict=False)):
            if batched:
                if s.dim() == 2 and s.shape[0] != n:
                    words = (
                        f"Input batch size {n} doesn't match hidden{index} batch size {s.shape[0]}"
                    )
                else:
                    words = (
                        f"hidden{index} has inconsistent hidden_size: got {s.shape[-1]}, "
                        f"expected {self.hidden_size}"
                    )
                check_shape(
                    name,
                    s,
                    ("N", "H"),
                    (n, self.hidden_size),
                    error=InputError,
                    torch_message=words,
                )
            else:
                check_shape(name, s, ("H",), (self.hidden_size,), error=InputError)
                s = s.unsqueeze(0)  # (1, H)
            out.append(s)
        # every size first, then devices and dtypes, in torch's order
        words = _device_words(x, self.weight_ih, "parameter")
        check_same("input", x, self.weight_ih, "weight_ih", torch_device=words)
        for name, s in zip(names, out, strict=False):
            check_same(name, s, x, "input", torch_device=_device_words(x, s, "hidden"))
        if hx is None:
            zeros = x.new_zeros(n, self.hidden_size)  # (N, H)
            return x, (zeros,) * self.state_count, batched
        return x, tuple(out), batched


# ---------------------------------------------------------------------------
# Stacked, optionally bidirectional sequence modules
# ---------------------------------------------------------------------------


class RNNBase(nn.Module):
    """The multi-layer, optionally bidirectional driver behind ``RNN``, ``LSTM`` and ``GRU``.

    A subclass sets ``gate_count`` (G) and ``state_count`` (1 for ``h``, 2 for ``(h, c)``) and
    implements :meth:`step`. Parameters are registered in ``torch.nn.RNNBase``'s order --
    for each layer ``k``, for each direction, ``weight_ih_l{k}``, ``weight_hh_l{k}``,
    ``bias_ih_l{k}``, ``bias_hh_l{k}`` and, for an LSTM with ``proj_size > 0``,
    ``weight_hr_l{k}`` (suffix ``_reverse`` for the backward direction) -- so state dicts move
    between this module and torch's both ways, and the same seed gives the same initial
    weights. ``_flat_weights_names`` and ``_flat_weights`` list them in that order, as torch's.

    ``forward`` takes a padded tensor or a ``PackedSequence``; a packed batch is unpacked into
    a padded one and its lengths (:func:`unpack_sequence`), run through the same loop with
    :func:`unroll`'s masking, and packed again (:func:`pack_like`).
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
        proj_size: int = 0,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        _check_args(input_size, hidden_size, num_layers, bias, batch_first, dropout, proj_size)
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
        self.proj_size = proj_size
        factory: Factory = {"device": device, "dtype": dtype}
        num_directions = 2 if bidirectional else 1
        gh = self.gate_count * hidden_size
        h_out = proj_size if proj_size > 0 else hidden_size  # what a layer outputs: H or P
        self._all_weights: list[list[str]] = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else h_out * num_directions
            for direction in range(num_directions):
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = {
                    "weight_ih": (gh, layer_input),
                    "weight_hh": (gh, h_out),
                    "bias_ih": (gh,),
                    "bias_hh": (gh,),
                    "weight_hr": (proj_size, hidden_size),
                }
                if not bias:
                    del shapes["bias_ih"], shapes["bias_hh"]
                if proj_size == 0:
                    del shapes["weight_hr"]
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

    @property
    def _flat_weights_names(self) -> list[str]:
        """Every parameter name in registration order, as ``torch.nn.RNNBase``'s."""
        return [name for names in self._all_weights for name in names]

    @property
    def _flat_weights(self) -> list[Tensor | None]:
        """Every parameter in registration order (``None`` for one deleted), as torch's;
        read afresh each time, so it follows ``module.weight_hh_l0 = ...``."""
        return [getattr(self, name, None) for name in self._flat_weights_names]

    def flatten_parameters(self) -> None:
        """Does nothing: kept so code written for ``torch.nn.RNNBase`` runs unchanged."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        # modules pickled before projections existed have no proj_size (torch's rule too)
        super().__setstate__(state)
        if "proj_size" not in self.__dict__:
            self.proj_size = 0

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

    def projection(self, layer: int, direction: int) -> Tensor | None:
        """``weight_hr`` of one layer and direction (an LSTM with ``proj_size > 0``), or None."""
        if self.proj_size == 0:
            return None
        suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
        weight_hr: Tensor = getattr(self, "weight_hr" + suffix)
        return weight_hr

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
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

    def step(
        self,
        xw: Tensor,
        state: State,
        weight_hh: Tensor,
        bias_hh: Tensor | None,
        weight_hr: Tensor | None = None,
    ) -> State:
        """One step from the precomputed input term ``xw = W_ih x_t + b_ih``: ``h`` or ``(h, c)``.

        Subclasses implement it; only an LSTM with projections receives ``weight_hr``.
        """
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
        lengths: Tensor | None = None,
        weight_hr: Tensor | None = None,
    ) -> tuple[Tensor, State]:
        """One layer over ``x (T, N, H_in)``: :func:`unroll` of this module's :meth:`step`.

        Returns ``(h_1..h_T (T, N, H), final state)``, the outputs in the input's time order
        also when ``reverse``; with ``lengths``, each sequence stops (or, reversed, starts) at
        its own last step and its outputs past it are zero. ``LSTM(fused=True)`` overrides it
        with a path that computes the same function.
        """
        # W_ih x_t + b_ih for every t at once: one (T*N, H_in) x (H_in, G*H) matmul
        xw = F.linear(x, weight_ih, bias_ih)  # (T, N, G*H)
        return unroll(
            lambda xw_t, s: self.step(xw_t, s, weight_hh, bias_hh, weight_hr),
            xw,
            state,
            reverse=reverse,
            lengths=lengths,
        )

    def forward(self, input: Any, hx: Any = None) -> tuple[Any, Any]:
        """Run all layers and directions; see the subclass docstring for shapes."""
        packed = input if isinstance(input, PackedSequence) else None
        lengths = None
        if packed is not None:
            x, lengths = self._prepare_packed(packed)
            batched = True
        else:
            x, batched = prepare_sequence(
                input, self.input_size, self.batch_first, self.layer_params(0, 0)[0], "weight_ih_l0"
            )
        states = self._initial_states(x, hx, batched)
        if lengths is not None and x.shape[1] > 0:
            lengths = check_lengths(lengths, x.shape[0], x.shape[1], x.device)
        num_directions = 2 if self.bidirectional else 1
        finals: list[list[Tensor]] = [[] for _ in range(self.state_count)]
        layer_input = x  # (T, N, H_in)
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(num_directions):
                index = layer * num_directions + direction
                initial = tuple(s[index] for s in states)  # each (N, H)
                state: State = (initial[0], initial[1]) if self.state_count == 2 else initial[0]
                out, state = self.run_one_direction(
                    layer_input,
                    state,
                    *self.layer_params(layer, direction),
                    direction == 1,
                    lengths=lengths,
                    weight_hr=self.projection(layer, direction),
                )
                outputs.append(out)  # (T, N, H)
                for kept, s in zip(finals, _tensors(state), strict=True):
                    kept.append(s)
            # [forward; backward] along the features, as torch concatenates them
            layer_input = torch.cat(outputs, dim=-1) if num_directions == 2 else outputs[0]
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, p=self.dropout, training=True)
        final = tuple(torch.stack(kept) for kept in finals)  # each (D*L, N, H)
        if packed is not None:
            return pack_like(layer_input, packed), (final if self.state_count == 2 else final[0])
        return self._finish(layer_input, final, batched)

    # -- input/output layout ---------------------------------------------------

    def _prepare_packed(self, packed: PackedSequence) -> tuple[Tensor, Tensor]:
        """Check a packed ``input``; return it padded, ``x (T, N, H_in)``, and its lengths."""
        like = self.layer_params(0, 0)[0]
        data = packed.data
        _check_input_dtype(data, like)
        x, lengths = unpack_sequence(packed)
        check_shape(
            "input",
            x,
            ("T", "N", "H_in"),
            (None, None, self.input_size),
            error=InputError,
            torch_message=_size_words(x, self.input_size),
        )
        check_same(
            "input", x, like, "weight_ih_l0", torch_device=_device_words(x, like, "parameter")
        )
        return x, lengths

    def _initial_states(self, x: Tensor, hx: Any, batched: bool) -> tuple[Tensor, ...]:
        """``h_0`` (and ``c_0``) as ``(D*L, N, *)`` tensors: ``hx`` checked, or zeros.

        Refusals in ``torch.nn.RNNBase``'s words: a state of the wrong rank, then of the
        wrong size (``RuntimeError``, here :class:`~rnncourse._checks.InputError`).
        """
        n = x.shape[1]
        rows = self.num_layers * (2 if self.bidirectional else 1)
        h_out = self.proj_size if self.proj_size > 0 else self.hidden_size
        sizes = (h_out, self.hidden_size)[: self.state_count]  # h is (.., P) with projections
        if hx is None:
            return tuple(x.new_zeros(rows, n, size) for size in sizes)  # (D*L, N, H)
        raw = _unpack_state("hx", hx, self.state_count)
        tensors = [
            _as_tensor(name, s) for name, s in zip(_STATE_NAMES[self.state_count], raw, strict=True)
        ]
        rank = 3 if batched else 2
        dims = ", ".join(f"{s.dim()}-D" for s in tensors)
        what = "hx and cx" if self.state_count == 2 else "hx"
        kind = "batched 3-D" if batched else "unbatched 2-D"
        tail = f"({dims}) tensors" if self.state_count == 2 else f"{dims} tensor"
        rank_words = f"For {kind} input, {what} should also be {rank}-D but got {tail}"
        states = []
        for index, (name, s, size) in enumerate(
            zip(_STATE_NAMES[self.state_count], tensors, sizes, strict=True)
        ):
            words = rank_words
            if s.dim() == rank:
                label = f"hidden[{index}]" if self.state_count == 2 else "hidden"
                expected = (rows, n, size) if batched else (rows, 1, size)
                got = list(s.shape) if batched else [s.shape[0], 1, *s.shape[1:]]
                words = f"Expected {label} size {expected}, got {got}"
            if batched:
                check_shape(
                    name,
                    s,
                    ("D*L", "N", "H"),
                    (rows, n, size),
                    error=InputError,
                    torch_message=words,
                )
            else:
                check_shape(
                    name, s, ("D*L", "H"), (rows, size), error=InputError, torch_message=words
                )
                s = s.unsqueeze(1)  # (D*L, 1, H)
            check_same(name, s, x, "input", torch_device=_device_words(x, s, "hidden"))
            states.append(s)
        return tuple(states)

    def _finish(
        self, output: Tensor, final: tuple[Tensor, ...], batched: bool
    ) -> tuple[Tensor, Any]:
        """Put the outputs back in the caller's layout (batch-first, unbatched)."""
        output = finish_sequence(output, batched, self.batch_first)  # (T, [N,] D*H)
        if not batched:
            final = tuple(s.squeeze(1) for s in final)  # (D*L, H)
        return output, (final if self.state_count == 2 else final[0])


def _tensors(state: State) -> tuple[Tensor, ...]:
    """The tensors of a state, ``(h,)`` or ``(h, c)``."""
    return state if isinstance(state, tuple) else (state,)


def _check_args(
    input_size: Any,
    hidden_size: Any,
    num_layers: Any,
    bias: Any,
    batch_first: Any,
    dropout: Any,
    proj_size: Any,
) -> None:
    """The constructor's arguments, in ``torch.nn.RNNBase``'s order and with its types."""
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout <= 1:
        raise ValueError(
            with_torch_words(
                f"dropout: expected a probability in [0, 1] (the chance to zero an element), "
                f"got {dropout!r}",
                "dropout should be a number in range [0, 1] representing the probability of "
                "an element being zeroed",
            )
        )
    check_bool("bias", bias)
    check_bool("batch_first", batch_first)
    check_positive_int("input_size", input_size, like_torch=True)
    check_positive_int("hidden_size", hidden_size, like_torch=True)
    check_positive_int("num_layers", num_layers, like_torch=True)
    check_positive_int("proj_size", proj_size, allow_zero=True, like_torch=True)
    if proj_size >= hidden_size:
        raise ValueError(
            with_torch_words(
                f"proj_size: expected P < H = {hidden_size} (a projection makes h_t smaller "
                f"than c_t), got {proj_size}",
                "proj_size has to be smaller than hidden_size",
            )
        )


def reject_proj_size(proj_size: Any) -> None:
    """``RNN``/``GRU`` take no ``proj_size``: refuse it with torch's ``ValueError``."""
    if proj_size is not None:
        raise ValueError(
            with_torch_words(
                f"proj_size: projections (h_t = W_hr (o_t ⊙ tanh(c_t))) belong to LSTM, "
                f"got proj_size={proj_size!r}",
                "proj_size argument is only supported for LSTM, not RNN or GRU",
            )
        )


def check_nonlinearity(nonlinearity: Any) -> None:
    """Raise unless ``nonlinearity`` is ``"tanh"`` or ``"relu"``."""
    check_choice("nonlinearity", nonlinearity, ("tanh", "relu"))
