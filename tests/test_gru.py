"""Tests for rnncourse.gru: gru_cell, GRUCell and GRU against torch.nn in float64."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

import rnncourse
from rnncourse.gru import GRU, GRUCell, gru_cell
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
# gru_cell and GRUCell
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batch_shape", [(3,), ()], ids=["batched", "unbatched"])
def test_gru_cell_matches_torch(bias: bool, batch_shape: tuple) -> None:
    """Does gru_cell give torch.nn.GRUCell's h_t and gradients?"""
    torch.manual_seed(0)
    ref = nn.GRUCell(3, 4, bias=bias, dtype=torch.float64)
    x = torch.randn(*batch_shape, 3, dtype=torch.float64, requires_grad=True)
    h = torch.randn(*batch_shape, 4, dtype=torch.float64, requires_grad=True)
    params = (ref.weight_ih, ref.weight_hh, ref.bias_ih, ref.bias_hh)
    ours = gru_cell(x, h, *params)
    expected = ref(x, h)
    torch.testing.assert_close(ours, expected, **F64)
    inputs = [x, h] + [p for p in params if p is not None]
    grads_ours = torch.autograd.grad(ours.sum(), inputs)
    grads_ref = torch.autograd.grad(expected.sum(), inputs)
    for a, b in zip(grads_ours, grads_ref, strict=True):
        torch.testing.assert_close(a, b, **F64)


def test_gru_reset_gate_multiplies_after_the_matmul() -> None:
    """Is n_t = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), not Cho et al.'s W_hn (r ⊙ h) + b_hn?

    With r = 1/2 (zero pre-activation) and b_hn = 1, PyTorch's placement gives
    tanh(r * (W_hn h + b_hn)) and Cho's gives tanh(W_hn (r h) + b_hn): different numbers.
    """
    H = 1
    w_ih = torch.zeros(3 * H, 1, dtype=torch.float64)
    w_hh = torch.zeros(3 * H, H, dtype=torch.float64)
    w_hh[2 * H :] = 1.0  # W_hn = 1; W_hr = W_hz = 0, so r = z = sigmoid(0) = 1/2
    b_hh = torch.zeros(3 * H, dtype=torch.float64)
    b_hh[2 * H :] = 1.0  # b_hn = 1
    x = torch.zeros(1, 1, dtype=torch.float64)
    h = torch.full((1, H), 0.8, dtype=torch.float64)
    r = z = 0.5
    n_pytorch = torch.tanh(torch.tensor(r * (0.8 + 1.0), dtype=torch.float64))
    n_cho = torch.tanh(torch.tensor(0.8 * r + 1.0, dtype=torch.float64))
    expected = (1 - z) * n_pytorch + z * h
    h_next = gru_cell(x, h, w_ih, w_hh, None, b_hh)
    torch.testing.assert_close(h_next, expected, **F64)
    assert not torch.allclose(h_next, (1 - z) * n_cho + z * h)


def test_gru_cell_passes_gradcheck() -> None:
    """Do gru_cell's autograd gradients match central finite differences?"""
    torch.manual_seed(0)
    args = tuple(
        torch.randn(s, dtype=torch.float64, requires_grad=True)
        for s in [(2, 3), (2, 4), (12, 3), (12, 4), (12,), (12,)]
    )
    assert torch.autograd.gradcheck(gru_cell, args)


def test_gru_cell_module_matches_torch() -> None:
    """Does GRUCell have torch's parameters (same seed, same values) and outputs?"""
    torch.manual_seed(0)
    ref = nn.GRUCell(3, 4, dtype=torch.float64)
    torch.manual_seed(0)
    ours = GRUCell(3, 4, dtype=torch.float64)
    assert_same_parameters(ours, ref)
    x = torch.randn(2, 3, dtype=torch.float64)
    h = torch.randn(2, 4, dtype=torch.float64)
    torch.testing.assert_close(ours(x, h), ref(x, h), **F64)
    torch.testing.assert_close(ours(x), ref(x), **F64)
    torch.testing.assert_close(ours(x[0], h[0]), ref(x[0], h[0]), **F64)
    assert ours(x[0]).shape == (4,)


# ---------------------------------------------------------------------------
# GRU
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", GRID, ids=case_id)
def test_gru_matches_torch(case: Case) -> None:
    """Do output, h_n and all gradients equal torch.nn.GRU's?"""
    assert_matches_torch(GRU, nn.GRU, case, state_count=1)


def test_gru_matches_torch_on_device(device: torch.device) -> None:
    """Does GRU match torch.nn.GRU on every available device?"""
    case = replace(_BASE, L=2, bidirectional=True, with_hx=True)
    assert_matches_torch(GRU, nn.GRU, case, 1, device=device, dtype=dtype_for(device))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_gru_same_seed_same_weights(bidirectional: bool) -> None:
    """Does the same seed give torch.nn.GRU's initial weights?"""
    torch.manual_seed(5)
    ref = nn.GRU(3, 4, 2, bidirectional=bidirectional)
    torch.manual_seed(5)
    ours = GRU(3, 4, 2, bidirectional=bidirectional)
    assert_same_parameters(ours, ref)


@pytest.mark.parametrize("bias", [True, False])
def test_gru_state_dict_both_ways(bias: bool) -> None:
    """Does load_state_dict move weights from torch.nn.GRU to GRU and back?"""
    assert_state_dict_round_trip(
        GRU, nn.GRU, input_size=3, hidden_size=4, num_layers=2, bias=bias, bidirectional=True
    )


def test_gru_dropout() -> None:
    """Is dropout off in eval mode and reproducible under a seed in training mode?"""
    assert_dropout_behaviour(GRU, nn.GRU, state_count=1)


def test_gru_no_dropout_after_last_layer() -> None:
    """Does a one-layer GRU ignore dropout (with torch's warning)?"""
    assert_no_dropout_after_last_layer(GRU)


def test_gru_is_exported() -> None:
    """Are the names reachable from the package root?"""
    assert (rnncourse.GRU, rnncourse.GRUCell, rnncourse.gru_cell) == (GRU, GRUCell, gru_cell)


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


def test_gru_tuple_state_is_refused() -> None:
    """Does an LSTM-style (h_0, c_0) tuple raise TypeError naming hx?"""
    h = torch.zeros(1, 2, 4)
    with pytest.raises(TypeError, match="hx: expected a tensor h_0"):
        GRU(3, 4)(torch.randn(5, 2, 3), (h, h))


def test_gru_wrong_h0_names_h0() -> None:
    """Does a batched h_0 with an unbatched input raise ValueError naming h_0?"""
    with pytest.raises(ValueError, match=r"h_0: expected \(D\*L, H\) = \(1, 4\), got \(1, 2, 4\)"):
        GRU(3, 4)(torch.randn(5, 3), torch.zeros(1, 2, 4))


def test_gru_wrong_input_names_input() -> None:
    """Does a wrong H_in raise ValueError naming input?"""
    with pytest.raises(
        ValueError, match=r"input: expected \(T, N, H_in\) = \(\*, \*, 8\), got \(5, 3, 7\)"
    ):
        GRU(8, 4)(torch.randn(5, 3, 7))


def test_gru_cell_wrong_h_names_h() -> None:
    """Does gru_cell name h when the state has the wrong size?"""
    with pytest.raises(ValueError, match=r"^h: expected \(N, H\) = \(2, 4\), got \(2, 5\)"):
        gru_cell(torch.randn(2, 3), torch.zeros(2, 5), torch.randn(12, 3), torch.randn(12, 4))


def test_gru_cell_device_or_dtype_mismatch_names_argument() -> None:
    """Does a float32 state with a float64 input raise TypeError naming h?"""
    with pytest.raises(TypeError, match=r"^h: expected dtype torch.float64"):
        gru_cell(
            torch.randn(2, 3, dtype=torch.float64),
            torch.zeros(2, 4),
            torch.randn(12, 3, dtype=torch.float64),
            torch.randn(12, 4, dtype=torch.float64),
        )
