"""Helpers the assignments' specs share (:mod:`rnncourse.grading._cells`): the cells' inputs and
weights, and the GRU pieces the references of exercises 6, 8 and 9 are built from, checked
against torch's own GRU."""

from __future__ import annotations

import math

import numpy as np
import torch

from rnncourse.grading import _cells


def test_weights_are_uniform_and_wider_than_torchs() -> None:
    """Are the weights uniform on (-1.5 s, 1.5 s), s = 1 / sqrt(columns) (torch's s, wider),
    and is a matrix of no columns possible?"""
    w = _cells._weights(np.random.default_rng(0), 300, 16)
    s = 1 / math.sqrt(16)
    assert w.shape == (300, 16)
    assert np.abs(w).max() <= 1.5 * s and np.abs(w).max() > 1.49 * s
    assert w.min() < -1.49 * s and abs(w.mean()) < 0.02
    assert _cells._weights(np.random.default_rng(0), 2, 0).shape == (2, 0)


def test_cell_inputs() -> None:
    """Are the cell's arguments shaped for ``gates`` gates, batched or not, with or without
    biases, with a cell state for the LSTM, from the case's sizes?"""
    rng = np.random.default_rng(0)
    (x, h, w_ih, w_hh, b_ih, b_hh), kwargs = _cells._cell_inputs(3)(
        rng, {"N": 2, "H_in": 5, "H": 4}
    )
    assert kwargs == {}
    assert (x.shape, h.shape, w_ih.shape, w_hh.shape) == ((2, 5), (2, 4), (12, 5), (12, 4))
    assert b_ih.shape == b_hh.shape == (12,)
    assert not np.array_equal(b_ih, b_hh)
    (x, state, *_, b_ih, b_hh), _ = _cells._cell_inputs(4, with_cell_state=True)(
        rng, {"N": None, "H_in": 3, "H": 2, "bias": False}
    )
    h, c = state
    assert (x.shape, h.shape, c.shape) == ((3,), (2,), (2,))
    assert b_ih is None and b_hh is None
    (_, h, *_), _ = _cells._cell_inputs(1)(rng, {"H_in": 3, "H": 2})
    assert h.shape == (2,)  # N missing: unbatched


def test_identity() -> None:
    x = object()
    assert _cells._identity(x) is x


def test_cell_cases_start_square() -> None:
    """Is the first default case square (H_in == H), so that transposed weights are
    diagnosable, and do they cover a one-sequence one-unit case?"""
    first = _cells._CELL_CASES[0]
    assert first["H_in"] == first["H"]
    assert {"N": 1, "H_in": 2, "H": 1} in _cells._CELL_CASES


def test_gru_params_and_their_views() -> None:
    params = _cells._gru_params(np.random.default_rng(0), 3, 2, "_x")
    assert {k: v.shape for k, v in params.items()} == {
        "weight_ih_x": (6, 3),
        "weight_hh_x": (6, 2),
        "bias_ih_x": (6,),
        "bias_hh_x": (6,),
    }
    args = _cells._cell_args(params, "_x")
    assert [
        a is params[f"{k}_x"]
        for a, k in zip(args, ("weight_ih", "weight_hh", "bias_ih", "bias_hh"), strict=True)
    ] == [True] * 4
    stripped = _cells._strip(params, "_x")
    assert list(stripped) == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    assert stripped["bias_hh"] is params["bias_hh_x"]
    values = _cells._cell_values(stripped)
    assert list(values) == ["cell.weight_ih", "cell.weight_hh", "cell.bias_ih", "cell.bias_hh"]
    assert list(_cells._cell_values(stripped, "")) == list(stripped)


def _torch_params(H_in: int = 3, H: int = 2) -> dict:
    params = _cells._gru_params(np.random.default_rng(1), H_in, H)
    return {k: torch.tensor(v) for k, v in params.items()}


def test_gru_loop_is_torchs_gru() -> None:
    """Does the loop give torch.nn.GRU's outputs and last state, and, in reverse step order,
    the outputs of the reversed sequence, still in time order?"""
    params = _torch_params()
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    h = torch.randn(2, 2, dtype=torch.float64)
    gru = torch.nn.GRU(3, 2, dtype=torch.float64)
    _cells._load(gru, {f"{k}_l0": v for k, v in params.items()})
    out, h_n = gru(x, h[None])
    got, last = _cells._gru_loop(x, h, params)
    torch.testing.assert_close(got, out)
    torch.testing.assert_close(last, h_n[0])
    back, h_back = gru(x.flip(0), h[None])
    got, last = _cells._gru_loop(x, h, params, steps=range(3, -1, -1))
    torch.testing.assert_close(got, back.flip(0))
    torch.testing.assert_close(last, h_back[0])


def test_load_and_like() -> None:
    cell = torch.nn.GRUCell(3, 2)
    values = _cells._cell_values({k: v.float() for k, v in _torch_params().items()}, "")
    assert _cells._load(cell, values) is cell
    assert torch.equal(cell.weight_hh, values["weight_hh"]) and not cell.weight_hh.grad
    assert cell.weight_hh.requires_grad
    x = torch.zeros(1, dtype=torch.float64)
    assert _cells._like(x) == {"device": x.device, "dtype": torch.float64}
