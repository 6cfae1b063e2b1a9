"""Tests for rnncourse._checks: each check passes good input and names the argument otherwise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnncourse._checks import (
    check_choice,
    check_floating,
    check_positive_int,
    check_same,
    check_shape,
)


def test_check_shape_message_matches_the_book() -> None:
    """Is the message 'x: expected (T, N, H_in) = (*, *, 8), got (5, 3, 7)'?"""
    with pytest.raises(ValueError) as info:
        check_shape("x", torch.zeros(5, 3, 7), ("T", "N", "H_in"), (None, None, 8))
    assert str(info.value) == "x: expected (T, N, H_in) = (*, *, 8), got (5, 3, 7)"


@pytest.mark.parametrize("shape", [(5, 3, 8), (1, 1, 8)], ids=["typical", "ones"])
def test_check_shape_accepts_matching_shapes(shape: tuple[int, ...]) -> None:
    """Does a tensor of the right rank and sizes pass, with None matching any size?"""
    check_shape("x", torch.zeros(shape), ("T", "N", "H_in"), (None, None, 8))


def test_check_shape_refuses_wrong_rank() -> None:
    """Does a 2-D tensor fail a 3-D check, with a one-element tuple printed as (H,)?"""
    with pytest.raises(ValueError, match=r"^h: expected \(H,\) = \(4,\), got \(2, 4\)$"):
        check_shape("h", torch.zeros(2, 4), ("H",), (4,))


def test_check_shape_accepts_numpy() -> None:
    """Do NumPy arrays get the same check as tensors?"""
    check_shape("x", np.zeros((2, 3)), ("N", "H_in"), (2, 3))
    with pytest.raises(ValueError, match=r"^x: expected \(N, H_in\) = \(2, 3\), got \(2, 4\)$"):
        check_shape("x", np.zeros((2, 4)), ("N", "H_in"), (2, 3))


def test_check_shape_refuses_non_arrays() -> None:
    """Does a list raise TypeError naming the argument and its type?"""
    with pytest.raises(TypeError, match=r"^x: expected a tensor of shape \(N, H_in\), got list$"):
        check_shape("x", [[1.0, 2.0]], ("N", "H_in"), (None, 2))


@pytest.mark.parametrize(
    "value",
    [torch.zeros(2, dtype=torch.float16), torch.zeros(2), np.zeros(2, dtype=np.float32)],
    ids=["torch_f16", "torch_f32", "numpy_f32"],
)
def test_check_floating_accepts_floats(value) -> None:
    """Do half, single and NumPy float arrays pass?"""
    check_floating("x", value)


@pytest.mark.parametrize(
    "value",
    [torch.zeros(2, dtype=torch.long), torch.zeros(2, dtype=torch.bool), np.zeros(2, dtype=int)],
    ids=["torch_long", "torch_bool", "numpy_int"],
)
def test_check_floating_refuses_integers(value) -> None:
    """Do integer and boolean arrays raise TypeError naming the argument and dtype?"""
    with pytest.raises(TypeError, match=r"^x: expected a floating-point tensor, got dtype"):
        check_floating("x", value)


def test_check_same_refuses_other_dtype() -> None:
    """Does a float32 state next to a float64 input raise TypeError naming both?"""
    with pytest.raises(
        TypeError,
        match=r"^h_0: expected dtype torch.float64 \(the dtype of x\), got torch.float32$",
    ):
        check_same("h_0", torch.zeros(2), torch.zeros(2, dtype=torch.float64), "x")


def test_check_same_accepts_same_device_and_dtype() -> None:
    """Do two tensors on the same device with the same dtype pass?"""
    check_same("h_0", torch.zeros(3), torch.ones(2), "x")


def test_check_same_refuses_other_device() -> None:
    """Does a tensor on the meta device next to a CPU one raise ValueError naming both?"""
    with pytest.raises(
        ValueError, match=r"^h_0: expected device cpu \(the device of x\), got meta$"
    ):
        check_same("h_0", torch.zeros(2, device="meta"), torch.zeros(2), "x")


@pytest.mark.parametrize("value", [1, 128])
def test_check_positive_int_accepts(value: int) -> None:
    """Do positive ints pass?"""
    check_positive_int("hidden_size", value)


@pytest.mark.parametrize("value", [0, -3, 2.0, True, "4", None])
def test_check_positive_int_refuses(value) -> None:
    """Do zero, negatives, floats, bools, strings and None raise ValueError naming the argument?"""
    with pytest.raises(ValueError, match=r"^hidden_size: expected a positive int, got"):
        check_positive_int("hidden_size", value)


def test_check_choice() -> None:
    """Does a listed value pass and an unlisted one raise ValueError listing the choices?"""
    check_choice("nonlinearity", "relu", ("tanh", "relu"))
    with pytest.raises(
        ValueError, match=r"^nonlinearity: expected one of \['tanh', 'relu'\], got 'sigmoid'$"
    ):
        check_choice("nonlinearity", "sigmoid", ("tanh", "relu"))


def test_check_steps_names_the_argument_and_the_shape() -> None:
    """Does an empty time axis fail with the argument and the caller's shape?"""
    from rnncourse._checks import check_steps

    check_steps("input", torch.zeros(1, 0, 3))
    with pytest.raises(ValueError, match=r"^input: expected at least one time step .*\(2, 0, 3\)"):
        check_steps("input", torch.zeros(2, 0, 3), dim=1)


@pytest.mark.parametrize("device", [None, "cpu", "cpu:0", torch.device("cpu")])
def test_check_device_accepts_what_torch_accepts(device) -> None:
    """Are None, device strings and torch.device objects accepted?"""
    from rnncourse._checks import check_device

    check_device("device", device)


def test_check_device_names_the_argument() -> None:
    """Does an unknown device string name the argument?"""
    from rnncourse._checks import check_device

    with pytest.raises(ValueError, match=r"^device: expected a device .*'gpu'"):
        check_device("device", "gpu")
