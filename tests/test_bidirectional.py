"""Tests for rnncourse.bidirectional against one-layer bidirectional torch.nn.RNN/LSTM/GRU."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import rnncourse
from rnncourse._recurrent import unroll
from rnncourse.bidirectional import Bidirectional, run_bidirectional
from rnncourse.gru import GRUCell, gru_cell
from rnncourse.lstm import LSTMCell, lstm_cell
from rnncourse.rnn import RNNCell, rnn_cell
from tests.conftest import dtype_for, tolerances

F64 = tolerances(torch.float64)
H_IN, H = 3, 4

# (our cell, torch's cell, functional cell, the bidirectional torch.nn reference)
KINDS = {
    "rnn": (RNNCell, nn.RNNCell, rnn_cell, nn.RNN),
    "lstm": (LSTMCell, nn.LSTMCell, lstm_cell, nn.LSTM),
    "gru": (GRUCell, nn.GRUCell, gru_cell, nn.GRU),
}
SUFFIXES = ("_l0", "_l0_reverse")
NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def reference(kind: str, device: Any = "cpu", dtype: torch.dtype = torch.float64) -> nn.Module:
    torch.manual_seed(0)
    return KINDS[kind][3](H_IN, H, bidirectional=True, device=device, dtype=dtype)


def params(ref: nn.Module, suffix: str) -> list[torch.Tensor]:
    return [getattr(ref, name + suffix) for name in NAMES]


def wrap_copy(ref: nn.Module, cell_cls: type[nn.Module], **kwargs: Any) -> Bidirectional:
    """A Bidirectional layer whose two cells carry ``ref``'s forward and reverse weights."""
    device, dtype = ref.weight_ih_l0.device, ref.weight_ih_l0.dtype
    cells = [cell_cls(H_IN, H, device=device, dtype=dtype) for _ in SUFFIXES]
    for cell, suffix in zip(cells, SUFFIXES, strict=True):
        cell.load_state_dict({name: getattr(ref, name + suffix).detach() for name in NAMES})
    return Bidirectional(cells[0], cells[1], **kwargs)


def outputs_and_grads(model: nn.Module, x: torch.Tensor, hx: Any) -> list[torch.Tensor]:
    """The output, final states, and gradients w.r.t. input, initial states and parameters."""
    x = x.clone().requires_grad_(True)
    states = (hx if isinstance(hx, tuple) else (hx,)) if hx is not None else ()
    states = tuple(s.clone().requires_grad_(True) for s in states)
    call_hx = None if not states else (states if len(states) == 2 else states[0])
    output, final = model(x, call_hx)
    finals = list(final) if isinstance(final, tuple) else [final]
    g = torch.Generator().manual_seed(2)
    loss = sum(
        (o * torch.randn(o.shape, generator=g, dtype=o.dtype).to(o.device)).sum()
        for o in [output, *finals]
    )
    weights = list(model.parameters())  # forward cell first, as torch's l0 before l0_reverse
    grads = torch.autograd.grad(loss, [x, *states, *weights])
    return [output, *finals, *grads]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("torch_cells", [False, True], ids=["our_cells", "torch_cells"])
@pytest.mark.parametrize(
    "T, N, with_hx, unbatched, batch_first",
    [
        (5, 3, False, False, False),
        (5, 3, True, False, True),
        (1, 1, True, False, False),
        (4, 1, True, True, False),
    ],
)
def test_bidirectional_matches_torch(
    kind: str, torch_cells: bool, T: int, N: int, with_hx: bool, unbatched: bool, batch_first: bool
) -> None:
    """Do outputs, h_n (c_n) and all gradients equal torch.nn's bidirectional layer?"""
    ref = reference(kind)
    cell_cls = KINDS[kind][1] if torch_cells else KINDS[kind][0]
    ours = wrap_copy(ref, cell_cls, batch_first=batch_first)
    ref.batch_first = batch_first
    g = torch.Generator().manual_seed(1)
    shape = (T, H_IN) if unbatched else ((N, T, H_IN) if batch_first else (T, N, H_IN))
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    hx = None
    if with_hx:
        state_shape = (2, H) if unbatched else (2, N, H)
        hs = [torch.randn(state_shape, generator=g, dtype=torch.float64) for _ in range(2)]
        hx = tuple(hs) if kind == "lstm" else hs[0]
    got, expected = outputs_and_grads(ours, x, hx), outputs_and_grads(ref, x, hx)
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, **F64)


@pytest.mark.parametrize("kind", KINDS)
def test_bidirectional_matches_torch_on_device(kind: str, device: torch.device) -> None:
    """Does Bidirectional match torch.nn's bidirectional layer on every available device?"""
    dtype = dtype_for(device)
    ref = reference(kind, device, dtype)
    ours = wrap_copy(ref, KINDS[kind][0])
    x = torch.randn(5, 2, H_IN, dtype=dtype, device=device)
    got, expected = ours(x), ref(x)
    torch.testing.assert_close(got[0], expected[0], **tolerances(dtype))


@pytest.mark.parametrize("kind", KINDS)
def test_functional_bidirectional_matches_torch(kind: str) -> None:
    """Does run_bidirectional(cell_fn, ...) give torch's output and final states?"""
    ref = reference(kind)
    cell_fn = KINDS[kind][2]
    x = torch.randn(5, 3, H_IN, dtype=torch.float64)
    zeros = torch.zeros(3, H, dtype=torch.float64)
    state = (zeros, zeros) if kind == "lstm" else zeros
    output, (final_fwd, final_bwd) = run_bidirectional(
        cell_fn, x, params(ref, "_l0"), params(ref, "_l0_reverse"), state, state
    )
    expected_output, expected_final = ref(x)
    torch.testing.assert_close(output, expected_output, **F64)
    h_n = expected_final[0] if kind == "lstm" else expected_final
    h_fwd = final_fwd[0] if kind == "lstm" else final_fwd
    h_bwd = final_bwd[0] if kind == "lstm" else final_bwd
    torch.testing.assert_close(torch.stack([h_fwd, h_bwd]), h_n, **F64)


def test_output_puts_forward_states_first() -> None:
    """Is output[..., :H] the forward cell's run alone, and output[..., H:] the reversed run?"""
    torch.manual_seed(0)
    layer = Bidirectional(GRUCell(H_IN, H)).double()
    x = torch.randn(6, 2, H_IN, dtype=torch.float64)
    output, _ = layer(x)
    forward_only, _ = unroll(layer.cell, x)
    backward_only, _ = unroll(layer.reverse_cell, x.flip(0))
    torch.testing.assert_close(output[..., :H], forward_only, **F64)
    torch.testing.assert_close(output[..., H:], backward_only.flip(0), **F64)


def test_default_reverse_cell_has_its_own_weights() -> None:
    """Does the default reverse cell get fresh parameters rather than share the forward ones?"""
    layer = Bidirectional(LSTMCell(H_IN, H))
    assert layer.reverse_cell is not layer.cell
    assert not torch.equal(layer.cell.weight_hh, layer.reverse_cell.weight_hh)
    assert len(list(layer.parameters())) == 8


def test_bidirectional_wrong_input_names_input() -> None:
    """Does a wrong H_in raise ValueError naming input with the expected shape?"""
    with pytest.raises(
        ValueError, match=r"input: expected \(T, N, H_in\) = \(\*, \*, 3\), got \(5, 2, 7\)"
    ):
        Bidirectional(RNNCell(H_IN, H))(torch.randn(5, 2, 7))


def test_bidirectional_wrong_h0_names_h0() -> None:
    """Does an h_0 without the direction axis raise ValueError naming h_0?"""
    with pytest.raises(ValueError, match=r"h_0: expected \(2, N, H\)"):
        Bidirectional(GRUCell(H_IN, H))(torch.randn(5, 2, H_IN), torch.zeros(2, H))


def test_bidirectional_integer_input_is_refused() -> None:
    """Does an integer input raise TypeError naming input?"""
    with pytest.raises(TypeError, match="input: expected a floating-point"):
        Bidirectional(RNNCell(H_IN, H))(torch.ones(5, 2, H_IN, dtype=torch.long))


def test_bidirectional_mismatched_cells_are_refused() -> None:
    """Does a reverse cell of another size raise ValueError naming reverse_cell?"""
    with pytest.raises(ValueError, match="reverse_cell"):
        Bidirectional(RNNCell(H_IN, H), RNNCell(H_IN, H + 1))


def test_bidirectional_refuses_a_non_cell() -> None:
    """Does wrapping a module without input_size/hidden_size raise TypeError naming cell?"""
    with pytest.raises(TypeError, match="cell: expected a cell module"):
        Bidirectional(nn.Linear(3, 4))


def test_functional_bidirectional_wrong_rank_names_x() -> None:
    """Does run_bidirectional() name x when the sequence is not (T, N, H_in)?"""
    zeros = torch.zeros(2, H)
    with pytest.raises(ValueError, match=r"x: expected \(T, N, H_in\)"):
        run_bidirectional(rnn_cell, torch.randn(5, H_IN), [], [], zeros, zeros)


class _FixedCell(nn.Module):
    """A cell with sizes but no reset_parameters(): its copy could not be re-initialised."""

    input_size, hidden_size = 3, 4

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(4, 3))

    def forward(self, x: torch.Tensor, h: Any) -> torch.Tensor:
        return torch.tanh(x @ self.weight.T)


def test_bidirectional_needs_a_way_to_initialise_the_reverse_cell() -> None:
    """Without reset_parameters and without reverse_cell, is it a TypeError naming cell?

    A plain copy would start both directions from the same weights.
    """
    with pytest.raises(TypeError, match="^cell: _FixedCell has no reset_parameters"):
        Bidirectional(_FixedCell())
    layer = Bidirectional(_FixedCell(), reverse_cell=_FixedCell())
    output, h_n = layer(torch.randn(5, 2, 3))
    assert output.shape == (5, 2, 8) and h_n.shape == (2, 2, 4)
    with pytest.raises(TypeError, match="^cell: expected a cell module with an int input_size"):
        Bidirectional(nn.Linear(3, 4))


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["time-major", "batch-first"])
def test_bidirectional_module_takes_and_returns_packed_sequences(
    kind: str, batch_first: bool
) -> None:
    """Does Bidirectional(cell) give a one-layer bidirectional torch module's packed output,
    final states and gradients for a PackedSequence? Float64, tolerances of tests/conftest.py."""
    torch.manual_seed(0)
    ref = getattr(torch.nn, kind)(3, 4, bidirectional=True, batch_first=batch_first).double()
    cells = [getattr(rnncourse, f"{kind}Cell")(3, 4).double() for _ in range(2)]
    for cell, suffix in zip(cells, ["", "_reverse"], strict=True):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).data.copy_(getattr(ref, f"{name}_l0{suffix}"))
    layer = Bidirectional(cells[0], cells[1], batch_first=batch_first)
    shape = (4, 6, 3) if batch_first else (6, 4, 3)
    x = torch.randn(shape, dtype=torch.float64)
    results = []
    for module in (ref, layer):
        data = x.clone().requires_grad_()
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            data, [3, 6, 1, 4], batch_first=batch_first, enforce_sorted=False
        )
        out, final = module(packed)
        finals = final if isinstance(final, tuple) else (final,)
        (out.data.sin().sum() + sum(f.cos().sum() for f in finals)).backward()
        params = [p.grad for p in module.parameters()]
        results.append((out.data, finals, data.grad, params))
    torch.testing.assert_close(results[1][:3], results[0][:3], **tolerances(torch.float64))
    torch.testing.assert_close(results[1][3], results[0][3], **tolerances(torch.float64))
