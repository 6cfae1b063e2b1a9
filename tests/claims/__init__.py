"""What the book's prose claims about its own results, as checks that hold on any CPU.

The prose never retypes a number that a code cell computes: the cell glues it
(``glue("bleu_attention", float(bleu), display=False)`` from ``myst_nb``) and the prose pastes
it (``{glue:text}`bleu_attention:.1f```). What the prose *says about* those numbers ("the
attention decoder is far better", "the clipped run ends above the 1/6 baseline") is written
here, one module per chapter (``tests/claims/ch09_seq2seq.py`` for ``book/09_seq2seq.md``),
as a list of :class:`Claim` over the chapter's glued values.

Training runs differ in their last digits between CPUs (AVX2, AVX-512 and the generic kernels
of ``ATEN_CPU_CAPABILITY=default`` sum in different orders) and thread counts, so a claim is an
ordering, a ratio or a bound with a stated margin, never an exact value of a trained model.
``tests/test_book.py`` checks every claim on the build's outputs; ``tests/test_book_portable.py``
executes the chapters that train a second time, on the generic kernels and another thread
count, and checks them again.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GLUE_PREFIX = "application/papermill.record/"  # myst_nb's prefix for glue(..., display=False)


@dataclass(frozen=True)
class Claim:
    """One statement of a chapter's prose, as a test of the chapter's glued values."""

    says: str  # the statement, in the prose's words (or close to them)
    holds: Callable[[Mapping[str, Any]], bool]  # glued name -> value


def glued_values(cells: Iterable[Mapping]) -> dict[str, Any]:
    """``name -> value`` of everything the executed cells glued.

    Values come from their ``text/plain`` form: numbers, strings, tuples and lists are read
    back with ``ast.literal_eval``; anything else stays the text it displayed as.
    """
    values: dict[str, Any] = {}
    for cell in cells:
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is None:
                continue
            data = out.get("data", {})
            text = data.get(GLUE_PREFIX + "text/plain", data.get("text/plain"))
            if text is None:
                continue
            text = "".join(text) if isinstance(text, list) else text
            try:
                values[name] = ast.literal_eval(text)
            except (SyntaxError, ValueError):
                values[name] = text
    return values


def chapter_claims() -> dict[str, list[Claim]]:
    """``chapter stem -> claims``, from the modules ``tests/claims/ch<stem>.py``."""
    found: dict[str, list[Claim]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("ch"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found[info.name.removeprefix("ch")] = list(module.CLAIMS)
    return found


def claim_problems(
    chapter: str, glued: Mapping[str, Any], claims: Iterable[Claim] | None = None
) -> list[str]:
    """The claims of ``chapter`` (or ``claims``) that do not hold for ``glued``.

    A claim that reads a value the chapter did not glue does not hold either.
    """
    problems = []
    for claim in chapter_claims().get(chapter, []) if claims is None else claims:
        read = _Reads(glued)
        try:
            ok = bool(claim.holds(read))
        except KeyError as missing:
            problems.append(f"{chapter}: {claim.says!r}: nothing glued as {missing}")
            continue
        if not ok:
            problems.append(f"{chapter}: {claim.says!r} does not hold for {read.seen}")
    return problems


class _Reads(dict):
    """The glued values, remembering which ones a claim read (for its failure message)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        super().__init__(values)
        self.seen: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        value = super().__getitem__(name)
        self.seen[name] = value
        return value
