"""What the ``rnncourse`` subcommands share: the plain-text table they print and the argument
types of their options."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

__all__ = ["at_least", "format_table", "positive_float"]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table with left-aligned text and right-aligned numbers.

    Examples::

        >>> print(format_table(["status", "n"], [["graded", 3]]))
        status  n
        ------  -
        graded  3
    """
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], int | float) for row in rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out = [line(list(headers)), line(["-" * w for w in widths])]
    out += [line(row) for row in cells]
    return "\n".join(out)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}" if value != int(value) or abs(value) >= 1e6 else f"{value:g}"
    return str(value)


def at_least(minimum: int) -> Callable[[str], int]:
    """The argument type of an integer option that is ``minimum`` or more."""

    def integer(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {text!r}")
        return value

    return integer


def positive_float(text: str) -> float:
    """The argument type of a number of seconds: positive (not NaN), ``inf`` for no limit."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value
