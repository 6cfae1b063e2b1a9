"""Tests for rnncourse.lstm: lstm_cell, LSTMCell and LSTM against torch.nn in float64."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

import rnncourse
from rnncourse.lstm import LSTM, LSTMCell, lstm_cell
from rnncourse.lstm_fused import LSTMRecurrence
from tests._helpers import (
    _BASE,
    GRID,
    Case,
    assert_dropout_behaviour,
    assert_matches_torch,
    assert_no_dropout_after_last_layer,
    assert_same_parameters,
    assert_state_dict_round_trip,
    case_id,
)
from tests.conftest import dtype_for, tolerances

F64 = tolerances(torch.float64)


# ---------------------------------------------------------------------------
# lstm_cell and LSTMCell
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batch_shape", [(3,), ()], ids=["batched", "unbatched"])
def test_lstm_cell_matches_torch(bias: bool, batch_shape: tuple) -> None:
    """Does lstm_cell give torch.nn.LSTMCell's (h_t, c_t) and gradients?"""
    torch.manual_seed(0)
    ref = nn.LSTMCell(3, 4, bias=bias, dtype=torch.float64)
    x = torch.randn(*batch_shape, 3, dtype=torch.float64, requires_grad=True)
    h = torch.randn(*batch_shape, 4, dtype=torch.float64, requires_grad=True)
    c = torch.randn(*batch_shape, 4, dtype=torch.float64, requires_grad=True)
    params = (ref.weight_ih, ref.weight_hh, ref.bias_ih, ref.bias_hh)
    h_ours, c_ours = lstm_cell(x, (h, c), *params)
    h_ref, c_ref = ref(x, (h, c))
    torch.testing.assert_close(h_ours, h_ref, **F64)
    torch.testing.assert_close(c_ours, c_ref, **F64)
    inputs = [x, h, c] + [p for p in params if p is not None]
    grads_ours = torch.autograd.grad((h_ours + 2 * c_ours).sum(), inputs)
    grads_ref = torch.autograd.grad((h_ref + 2 * c_ref).sum(), inputs)
    for a, b in zip(grads_ours, grads_ref, strict=True):
        torch.testing.assert_close(a, b, **F64)


def test_lstm_cell_gate_order_is_i_f_g_o() -> None:
    """With only the forget gate open and the others shut, is c_t = c_{t-1} and h_t = 0?"""
    H = 2
    bias = torch.full((4 * H,), -50.0, dtype=torch.float64)
    bias[H : 2 * H] = 50.0  # f (second block) open; i and o (first, last) shut
    x = torch.zeros(1, 1, dtype=torch.float64)
    h, c = torch.ones(1, H, dtype=torch.float64), torch.tensor([[0.3, -0.7]], dtype=torch.float64)
    w_ih = torch.zeros(4 * H, 1, dtype=torch.float64)
    w_hh = torch.zeros(4 * H, H, dtype=torch.float64)
    h_next, c_next = lstm_cell(x, (h, c), w_ih, w_hh, bias, None)
    torch.testing.assert_close(c_next, c, **F64)
    torch.testing.assert_close(h_next, torch.zeros_like(h), atol=1e-12, rtol=0)


def test_lstm_cell_passes_gradcheck() -> None:
    """Do lstm_cell's autograd gradients match central finite differences?"""
    torch.manual_seed(0)
    x, h, c, w_ih, w_hh, b_ih, b_hh = (
        torch.randn(s, dtype=torch.float64, requires_grad=True)
        for s in [(2, 3), (2, 4), (2, 4), (16, 3), (16, 4), (16,), (16,)]
    )

    def f(x, h, c, w_ih, w_hh, b_ih, b_hh):
        return lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh)

    assert torch.autograd.gradcheck(f, (x, h, c, w_ih, w_hh, b_ih, b_hh))


def test_lstm_cell_module_matches_torch() -> None:
    """Does LSTMCell have torch's parameters (same seed, same values) and outputs?"""
    torch.manual_seed(0)
    ref = nn.LSTMCell(3, 4, dtype=torch.float64)
    torch.manual_seed(0)
    ours = LSTMCell(3, 4, dtype=torch.float64)
    assert_same_parameters(ours, ref)
    x = torch.randn(2, 3, dtype=torch.float64)
    state = (torch.randn(2, 4, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64))
    for a, b in zip(ours(x, state), ref(x, state), strict=True):
        torch.testing.assert_close(a, b, **F64)
    for a, b in zip(ours(x), ref(x), strict=True):  # zero state by default
        torch.testing.assert_close(a, b, **F64)
    unbatched = (state[0][0], state[1][0])
    for a, b in zip(ours(x[0], unbatched), ref(x[0], unbatched), strict=True):
        assert a.shape == (4,)
        torch.testing.assert_close(a, b, **F64)


# ---------------------------------------------------------------------------
# LSTM
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", GRID, ids=case_id)
def test_lstm_matches_torch(case: Case) -> None:
    """Do output, (h_n, c_n) and all gradients equal torch.nn.LSTM's?"""
    assert_matches_torch(LSTM, nn.LSTM, case, state_count=2)


class FusedLSTM(LSTM):
    """LSTM through the opt-in fused recurrence of rnncourse.lstm_fused."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs, fused=True)


@pytest.mark.parametrize("case", GRID, ids=case_id)
def test_lstm_fused_matches_torch(case: Case) -> None:
    """With fused=True, do output, (h_n, c_n) and all gradients still equal torch's?"""
    assert_matches_torch(FusedLSTM, nn.LSTM, case, state_count=2)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_fused_equals_the_loop(bidirectional: bool) -> None:
    """Does the fused path give the loop's outputs and gradients, with the same weights?"""
    torch.manual_seed(0)
    # H = 7: 4H does not split evenly into 5 parts, so a wrong chunk count cannot pass
    loop = LSTM(3, 7, 2, bidirectional=bidirectional, dtype=torch.float64)
    fused = LSTM(3, 7, 2, bidirectional=bidirectional, dtype=torch.float64, fused=True)
    fused.load_state_dict(loop.state_dict())
    x = torch.randn(6, 2, 3, dtype=torch.float64, requires_grad=True)
    results = []
    for model in (loop, fused):
        output, (h_n, c_n) = model(x)
        loss = output.sum() + (h_n * c_n).sum()  # every output reaches the loss
        grads = torch.autograd.grad(loss, [x, *model.parameters()])
        results.append((output, h_n, c_n, *grads))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, **F64)


def test_lstm_runs_the_loop_by_default() -> None:
    """Does output come from the readable loop by default, and from the fused node on opt-in?"""
    x = torch.randn(5, 2, 3)
    model = LSTM(3, 4)
    assert model.fused is False
    output, _ = model(x)
    assert type(output.grad_fn).__name__ == "StackBackward0"
    output, _ = FusedLSTM(3, 4)(x)
    assert type(output.grad_fn).__name__ == "LSTMRecurrenceBackward"
    assert repr(LSTM(3, 4, fused=True)) == "LSTM(3, 4, fused=True)"
    assert repr(model) == "LSTM(3, 4)"
    with torch.no_grad():  # inference runs the loop either way
        output, _ = FusedLSTM(3, 4)(x)
    assert output.grad_fn is None


@pytest.mark.parametrize("reverse", [False, True])
def test_lstm_recurrence_passes_gradcheck(reverse: bool) -> None:
    """Does LSTMRecurrence's hand-written backward match central finite differences?"""
    torch.manual_seed(0)
    T, N, H = 4, 2, 3
    xw, h0, c0, w_hh = (
        torch.randn(s, dtype=torch.float64, requires_grad=True)
        for s in [(T, N, 4 * H), (N, H), (N, H), (4 * H, H)]
    )

    def f(xw, h0, c0, w_hh):
        return LSTMRecurrence.apply(xw, h0, c0, w_hh, reverse)

    assert torch.autograd.gradcheck(f, (xw, h0, c0, w_hh))


def test_lstm_double_backward_is_refused_with_a_hint() -> None:
    """Does create_graph=True through the fused path raise, naming the fused=False escape?"""
    model = LSTM(3, 4, dtype=torch.float64, fused=True)
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    output, _ = model(x)
    message = (
        r"^rnncourse.LSTM's fused recurrence has no double backward \(create_graph=True\); "
        r"use LSTM\(\.\.\., fused=False\) \(model.fused = False\), the autograd loop$"
    )
    with pytest.raises(RuntimeError, match=message):
        torch.autograd.grad(output.sum(), x, create_graph=True)
    model.fused = False
    output, _ = model(x)
    (grad,) = torch.autograd.grad(output.sum(), x, create_graph=True)
    assert grad.requires_grad  # the plain loop supports double backward


def test_lstm_matches_torch_on_device(device: torch.device) -> None:
    """Does LSTM match torch.nn.LSTM on every available device?"""
    case = replace(_BASE, L=2, bidirectional=True, with_hx=True)
    assert_matches_torch(LSTM, nn.LSTM, case, 2, device=device, dtype=dtype_for(device))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_same_seed_same_weights(bidirectional: bool) -> None:
    """Does the same seed give torch.nn.LSTM's initial weights?"""
    torch.manual_seed(5)
    ref = nn.LSTM(3, 4, 2, bidirectional=bidirectional)
    torch.manual_seed(5)
    ours = LSTM(3, 4, 2, bidirectional=bidirectional)
    assert_same_parameters(ours, ref)


@pytest.mark.parametrize("bias", [True, False])
def test_lstm_state_dict_both_ways(bias: bool) -> None:
    """Does load_state_dict move weights from torch.nn.LSTM to LSTM and back?"""
    assert_state_dict_round_trip(
        LSTM, nn.LSTM, input_size=3, hidden_size=4, num_layers=3, bias=bias, bidirectional=True
    )


def test_lstm_dropout() -> None:
    """Is dropout off in eval mode and reproducible under a seed in training mode?"""
    assert_dropout_behaviour(LSTM, nn.LSTM, state_count=2)


def test_lstm_no_dropout_after_last_layer() -> None:
    """Does a one-layer LSTM ignore dropout (with torch's warning)?"""
    assert_no_dropout_after_last_layer(LSTM)


def test_lstm_is_exported() -> None:
    """Are the names reachable from the package root?"""
    assert (rnncourse.LSTM, rnncourse.LSTMCell, rnncourse.lstm_cell) == (LSTM, LSTMCell, lstm_cell)


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


def test_lstm_tensor_state_is_refused() -> None:
    """Does a single tensor hx (GRU-style) raise TypeError asking for (h_0, c_0)?"""
    with pytest.raises(TypeError, match=r"hx: expected a tuple \(h_0, c_0\)"):
        LSTM(3, 4)(torch.randn(5, 2, 3), torch.zeros(1, 2, 4))


def test_lstm_wrong_c0_shape_names_c0() -> None:
    """Does a c_0 of the wrong size raise ValueError naming c_0?"""
    h0, c0 = torch.zeros(1, 2, 4), torch.zeros(1, 2, 5)
    with pytest.raises(
        ValueError, match=r"c_0: expected \(D\*L, N, H\) = \(1, 2, 4\), got \(1, 2, 5\)"
    ):
        LSTM(3, 4)(torch.randn(5, 2, 3), (h0, c0))


def test_lstm_wrong_input_names_input() -> None:
    """Does a wrong H_in raise ValueError naming input?"""
    with pytest.raises(
        ValueError, match=r"input: expected \(T, N, H_in\) = \(\*, \*, 8\), got \(5, 3, 7\)"
    ):
        LSTM(8, 4)(torch.randn(5, 3, 7))


def test_lstm_integer_input_is_refused() -> None:
    """Does an integer input raise TypeError naming input?"""
    with pytest.raises(TypeError, match="input: expected a floating-point"):
        LSTM(3, 4)(torch.ones(5, 2, 3, dtype=torch.int32))


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["time-major", "batch-first"])
@pytest.mark.parametrize("packed", [False, True], ids=["padded", "packed"])
def test_lstm_projections_match_torch(bidirectional: bool, batch_first: bool, packed: bool) -> None:
    """Does LSTM(proj_size=P) have torch's parameters (weight_hr_l{k}, (P, H)) and give its
    outputs, final states and gradients? Float64, tolerances F64."""
    torch.manual_seed(0)
    kwargs = {"bidirectional": bidirectional, "batch_first": batch_first, "proj_size": 2}
    ref = torch.nn.LSTM(3, 5, 2, **kwargs).double()
    mine = LSTM(3, 5, 2, **kwargs).double()
    assert [(n, p.shape) for n, p in mine.named_parameters()] == [
        (n, p.shape) for n, p in ref.named_parameters()
    ]
    assert mine._flat_weights_names == ref._flat_weights_names
    mine.load_state_dict(ref.state_dict())
    x = (
        torch.randn(4, 6, 3, dtype=torch.float64)
        if batch_first
        else torch.randn(6, 4, 3, dtype=torch.float64)
    )
    rows = 4 if bidirectional else 2
    h0 = torch.randn(rows, 4, 2, dtype=torch.float64)
    c0 = torch.randn(rows, 4, 5, dtype=torch.float64)
    results = []
    for module in (ref, mine):
        inputs = [t.clone().requires_grad_() for t in (x, h0, c0)]
        data = inputs[0]
        if packed:
            data = torch.nn.utils.rnn.pack_padded_sequence(
                data, [6, 3, 5, 1], batch_first=batch_first, enforce_sorted=False
            )
        out, (h_n, c_n) = module(data, (inputs[1], inputs[2]))
        out = out.data if packed else out
        (out.tanh().sum() + h_n.sin().sum() + c_n.cos().sum()).backward()
        results.append(
            (out, h_n, c_n, [t.grad for t in inputs] + [p.grad for p in module.parameters()])
        )
    torch.testing.assert_close(results[1], results[0], **F64)


def test_lstm_proj_size_must_be_smaller_than_hidden_size() -> None:
    """Does proj_size >= hidden_size raise torch's ValueError, naming proj_size?"""
    with pytest.raises(ValueError, match="proj_size.*proj_size has to be smaller than hidden_size"):
        LSTM(3, 4, proj_size=4)


@pytest.mark.parametrize("cls", [rnncourse.RNN, rnncourse.GRU], ids=lambda c: c.__name__)
def test_proj_size_belongs_to_lstm(cls) -> None:
    """Do RNN and GRU refuse proj_size with torch's ValueError and words?"""
    with pytest.raises(
        ValueError, match="proj_size argument is only supported for LSTM, not RNN or GRU"
    ):
        cls(3, 4, proj_size=2)


def test_lstm_cell_state_must_be_a_pair() -> None:
    """Does lstm_cell refuse a bare tensor state, naming state?"""
    with pytest.raises(TypeError, match="state: expected a tuple"):
        lstm_cell(torch.randn(2, 3), torch.zeros(2, 4), torch.randn(16, 3), torch.randn(16, 4))


def test_lstm_cell_wrong_c_names_c() -> None:
    """Does lstm_cell name c when the cell state has the wrong size?"""
    with pytest.raises(ValueError, match=r"^c: expected"):
        lstm_cell(
            torch.randn(2, 3),
            (torch.zeros(2, 4), torch.zeros(2, 3)),
            torch.randn(16, 3),
            torch.randn(16, 4),
        )


def test_lstm_cell_weight_not_multiple_of_four_names_weight() -> None:
    """Does a weight_hh whose rows are not 4H raise ValueError naming weight_hh?"""
    with pytest.raises(ValueError, match=r"^weight_hh: expected"):
        lstm_cell(
            torch.randn(2, 3),
            (torch.zeros(2, 4), torch.zeros(2, 4)),
            torch.randn(16, 3),
            torch.randn(12, 4),
        )


def test_lstm_fused_with_a_frozen_weight_hh() -> None:
    """With weight_hh frozen (no gradient asked for it), does the fused backward still give the
    loop's gradients for the input and the other parameters?"""
    torch.manual_seed(0)
    loop = LSTM(3, 7, dtype=torch.float64)
    fused = LSTM(3, 7, dtype=torch.float64, fused=True)
    fused.load_state_dict(loop.state_dict())
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    grads = []
    for model in (loop, fused):
        model.weight_hh_l0.requires_grad_(False)
        output, _ = model(x)
        wanted = [x, model.weight_ih_l0, model.bias_hh_l0]
        grads.append(torch.autograd.grad(output.sum(), wanted))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, **F64)
