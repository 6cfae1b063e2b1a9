"""Input checks shared by every module: clear errors in the course's notation.

A wrong input should fail at the boundary with a message that names the argument,
the expected shape in the book's symbols and the actual shape, e.g.::

    ValueError: x: expected (T, N, H_in) = (*, *, 8), got (5, 3, 7)

rather than a bare matrix-multiplication error deep inside a loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

import numpy as np
import torch

__all__ = [
    "check_shape",
    "check_floating",
    "check_same",
    "check_positive_int",
    "check_choice",
    "check_steps",
    "check_device",
    "Factory",
]

Dim = int | None  # None means "any size" and prints as *


class Factory(TypedDict):
    """The ``device=``/``dtype=`` keywords of a tensor factory: ``torch.empty(3, **factory)``."""

    device: torch.device | str | None
    dtype: torch.dtype | None


def _fmt(dims: Sequence[Dim | str]) -> str:
    inner = ", ".join("*" if d is None else str(d) for d in dims)
    return f"({inner}{',' if len(dims) == 1 else ''})"


def _fmt_shape(shape: Sequence[int]) -> str:
    return _fmt(list(shape))


def check_shape(name: str, value: Any, symbols: Sequence[str], sizes: Sequence[Dim]) -> None:
    """Raise unless ``value`` has ``len(symbols)`` dimensions with the given ``sizes``.

    Args:
        name: the argument's name as the caller sees it (``"x"``, ``"h_0"``).
        value: a ``torch.Tensor`` or ``np.ndarray``.
        symbols: the book's names for each dimension, e.g. ``("T", "N", "H_in")``.
        sizes: the required size of each dimension, ``None`` where any size is allowed.

    Examples::

        >>> check_shape("x", torch.zeros(5, 3, 8), ("T", "N", "H_in"), (None, None, 8))
        >>> check_shape("x", torch.zeros(5, 3, 7), ("T", "N", "H_in"), (None, None, 8))
        Traceback (most recent call last):
        ...
        ValueError: x: expected (T, N, H_in) = (*, *, 8), got (5, 3, 7)
    """
    if not isinstance(value, torch.Tensor | np.ndarray):
        raise TypeError(
            f"{name}: expected a tensor of shape {_fmt(symbols)}, got {type(value).__name__}"
        )
    shape = tuple(value.shape)
    if len(shape) != len(symbols) or any(
        s is not None and s != d for s, d in zip(sizes, shape, strict=False)
    ):
        raise ValueError(
            f"{name}: expected {_fmt(symbols)} = {_fmt(sizes)}, got {_fmt_shape(shape)}"
        )


def check_floating(name: str, value: torch.Tensor | np.ndarray) -> None:
    """Raise ``TypeError`` unless ``value`` holds floating-point numbers."""
    if isinstance(value, torch.Tensor):
        ok = value.is_floating_point()
    else:
        ok = np.issubdtype(value.dtype, np.floating)
    if not ok:
        raise TypeError(f"{name}: expected a floating-point tensor, got dtype {value.dtype}")


def check_same(name: str, value: torch.Tensor, like: torch.Tensor, like_name: str) -> None:
    """Raise unless ``value`` is on the same device with the same dtype as ``like``."""
    if value.device != like.device:
        raise ValueError(
            f"{name}: expected device {like.device} (the device of {like_name}), got {value.device}"
        )
    if value.dtype != like.dtype:
        raise TypeError(
            f"{name}: expected dtype {like.dtype} (the dtype of {like_name}), got {value.dtype}"
        )


def check_positive_int(name: str, value: Any) -> None:
    """Raise unless ``value`` is an ``int`` greater than zero (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    """Raise unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name}: expected one of {list(choices)!r}, got {value!r}")


def check_steps(name: str, value: torch.Tensor, dim: int = 0) -> None:
    """Raise unless ``value`` has at least one time step along ``dim`` (``T >= 1``).

    A recurrence over zero steps has no ``h_T`` to return; torch refuses it too.

    Examples::

        >>> check_steps("input", torch.zeros(0, 3, 8))
        Traceback (most recent call last):
        ...
        ValueError: input: expected at least one time step (T >= 1), got shape (0, 3, 8)
    """
    if value.shape[dim] == 0:
        raise ValueError(
            f"{name}: expected at least one time step (T >= 1), got shape {_fmt_shape(value.shape)}"
        )


def check_device(name: str, device: Any) -> None:
    """Raise unless ``device`` is ``None``, a ``torch.device`` or a string/int torch accepts."""
    if device is None or isinstance(device, torch.device):
        return
    try:
        torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"{name}: expected a device such as 'cpu', 'cuda' or 'cuda:0', got {device!r}"
        ) from None
