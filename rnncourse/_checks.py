"""Input checks shared by every module: clear errors in the course's notation.

A wrong input should fail at the boundary with a message that names the argument,
the expected shape in the book's symbols and the actual shape, e.g.::

    ValueError: x: expected (T, N, H_in) = (*, *, 8), got (5, 3, 7)

rather than a bare matrix-multiplication error deep inside a loop.

Where ``torch.nn`` raises a different exception type for the same mistake (its RNNs answer a
wrong size with ``RuntimeError``), the check raises :class:`InputError` or
:class:`InputTypeError`, which are both types at once, and appends torch's own words, so code
written to catch either library's exceptions (and torch's own test suite) keeps working::

    InputError: input: expected (T, N, H_in) = (*, *, 10), got (5, 3, 11)
    [torch.nn: input.size(-1) must be equal to input_size. Expected 10, got 11]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

import numpy as np
import torch

__all__ = [
    "InputError",
    "InputTypeError",
    "with_torch_words",
    "check_shape",
    "check_floating",
    "check_same",
    "check_positive_int",
    "check_bool",
    "check_choice",
    "check_steps",
    "check_device",
    "Factory",
]

Dim = int | None  # None means "any size" and prints as *


class InputError(ValueError, RuntimeError):
    """A bad value (a size, a device) that ``torch.nn`` reports as ``RuntimeError``.

    A ``ValueError`` like every other course check, and a ``RuntimeError`` like torch's.
    """


class InputTypeError(TypeError, ValueError, RuntimeError):
    """A bad type (an ``int`` where a ``bool`` belongs, a dtype) that one library reports as
    ``TypeError`` and the other as ``ValueError`` or ``RuntimeError`` (torch's ``ctc_loss``
    answers float lengths with ``RuntimeError: input_lengths must be integral``); it is all
    three."""


def with_torch_words(message: str, torch_message: str | None) -> str:
    """The course's ``message``, then what ``torch.nn`` says for the same mistake."""
    return message if torch_message is None else f"{message} [torch.nn: {torch_message}]"


class Factory(TypedDict):
    """The ``device=``/``dtype=`` keywords of a tensor factory: ``torch.empty(3, **factory)``."""

    device: torch.device | str | None
    dtype: torch.dtype | None


def _fmt(dims: Sequence[Dim | str]) -> str:
    inner = ", ".join("*" if d is None else str(d) for d in dims)
    return f"({inner}{',' if len(dims) == 1 else ''})"


def _fmt_shape(shape: Sequence[int]) -> str:
    return _fmt(list(shape))


def check_shape(
    name: str,
    value: Any,
    symbols: Sequence[str],
    sizes: Sequence[Dim],
    *,
    error: type[Exception] = ValueError,
    torch_message: str | None = None,
) -> None:
    """Raise unless ``value`` has ``len(symbols)`` dimensions with the given ``sizes``.

    Args:
        name: the argument's name as the caller sees it (``"x"``, ``"h_0"``).
        value: a ``torch.Tensor`` or ``np.ndarray``.
        symbols: the book's names for each dimension, e.g. ``("T", "N", "H_in")``.
        sizes: the required size of each dimension, ``None`` where any size is allowed.
        error: the exception to raise for a wrong shape (:class:`InputError` where torch
            raises ``RuntimeError``).
        torch_message: torch's words for the same mistake, appended to the message.

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
        message = f"{name}: expected {_fmt(symbols)} = {_fmt(sizes)}, got {_fmt_shape(shape)}"
        raise error(with_torch_words(message, torch_message))


def check_floating(name: str, value: torch.Tensor | np.ndarray) -> None:
    """Raise ``TypeError`` unless ``value`` holds floating-point numbers."""
    if isinstance(value, torch.Tensor):
        ok = value.is_floating_point()
    else:
        ok = np.issubdtype(value.dtype, np.floating)
    if not ok:
        raise TypeError(f"{name}: expected a floating-point tensor, got dtype {value.dtype}")


def check_same(
    name: str,
    value: torch.Tensor,
    like: torch.Tensor,
    like_name: str,
    *,
    torch_device: str | None = None,
    torch_dtype: str | None = None,
) -> None:
    """Raise unless ``value`` is on the same device with the same dtype as ``like``.

    A wrong device is an :class:`InputError` (torch raises ``RuntimeError``), a wrong dtype an
    :class:`InputTypeError`; ``torch_device``/``torch_dtype`` are torch's words for them.
    """
    if value.device != like.device:
        raise InputError(
            with_torch_words(
                f"{name}: expected device {like.device} (the device of {like_name}), "
                f"got {value.device}",
                torch_device,
            )
        )
    if value.dtype != like.dtype:
        raise InputTypeError(
            with_torch_words(
                f"{name}: expected dtype {like.dtype} (the dtype of {like_name}), "
                f"got {value.dtype}",
                torch_dtype,
            )
        )


def check_positive_int(
    name: str, value: Any, *, allow_zero: bool = False, like_torch: bool = False
) -> None:
    """Raise unless ``value`` is an ``int`` greater than zero (or zero if ``allow_zero``).

    Not an ``int`` at all is an :class:`InputTypeError` (a ``ValueError`` and a
    ``TypeError``); zero or less a ``ValueError``. Bools are refused. With ``like_torch`` the
    message adds what ``torch.nn.RNNBase`` says (``hidden_size should be of type int, got:
    float``, ``hidden_size must be greater than zero``).
    """
    smallest = "a non-negative" if allow_zero else "a positive"
    message = f"{name}: expected {smallest} int, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, int):
        words = f"{name} should be of type int, got: {type(value).__name__}"
        raise InputTypeError(with_torch_words(message, words if like_torch else None))
    if value < 0 or (value == 0 and not allow_zero):
        words = f"{name} must be greater than zero"
        raise ValueError(with_torch_words(message, words if like_torch else None))


def check_bool(name: str, value: Any) -> None:
    """Raise :class:`InputTypeError` unless ``value`` is a ``bool`` (``batch_first="False"``
    is a truthy string, so a typo would silently flip the layout)."""
    if not isinstance(value, bool):
        raise InputTypeError(
            with_torch_words(
                f"{name}: expected True or False, got {value!r}",
                f"{name} should be of type bool, got: {type(value).__name__}",
            )
        )


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    """Raise unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name}: expected one of {list(choices)!r}, got {value!r}")


def check_steps(name: str, value: torch.Tensor, dim: int = 0) -> None:
    """Raise :class:`InputError` unless ``value`` has a time step along ``dim`` (``T >= 1``).

    A recurrence over zero steps has no ``h_T`` to return; torch refuses it too.

    Examples::

        >>> check_steps("input", torch.zeros(0, 3, 8))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        rnncourse._checks.InputError: input: expected at least one time step (T >= 1), ...
    """
    if value.shape[dim] == 0:
        raise InputError(
            with_torch_words(
                f"{name}: expected at least one time step (T >= 1), "
                f"got shape {_fmt_shape(value.shape)}",
                "Expected sequence length to be larger than 0 in RNN",
            )
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
