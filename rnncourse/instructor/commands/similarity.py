"""``rnncourse similarity``: similar answers across submissions, ranked, with evidence. The work is
in :mod:`rnncourse.instructor.similarity`, imported when the command runs."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from rnncourse.instructor.commands._common import at_least, format_table
from rnncourse.instructor.similarity import (
    DEFAULT_GUARANTEE,
    DEFAULT_MIN_OVERLAP,
    DEFAULT_NOISE,
    DEFAULT_THRESHOLD,
    SimilarityError,
)

HELP = "similar answers, with evidence"


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1], got {text!r}") from None
    if math.isnan(value) or not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1], got {text!r}")
    return value


def add_arguments(parser) -> None:
    """The options of ``rnncourse similarity``."""
    parser.add_argument("assignment")
    parser.add_argument(
        "--threshold",
        type=_share,
        default=DEFAULT_THRESHOLD,
        help=f"flag a pair from this score on (default: {DEFAULT_THRESHOLD})",
    )
    parser.add_argument(
        "--min-overlap",
        type=at_least(0),
        default=DEFAULT_MIN_OVERLAP,
        metavar="N",
        help="an answer counts from N matched normalised "
        f"characters on (default: {DEFAULT_MIN_OVERLAP})",
    )
    parser.add_argument(
        "--noise",
        type=at_least(1),
        default=DEFAULT_NOISE,
        metavar="K",
        help=f"k-gram length, copydetect's noise threshold (default: {DEFAULT_NOISE})",
    )
    parser.add_argument(
        "--guarantee",
        type=at_least(1),
        default=DEFAULT_GUARANTEE,
        metavar="G",
        help=f"matches this long are always found (default {DEFAULT_GUARANTEE})",
    )
    parser.add_argument(
        "--book",
        type=Path,
        default=None,
        help="the book's folder (default: COURSE/book or the repository's)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="default: reports/ASSIGNMENT/similarity"
    )
    parser.add_argument("--top", type=at_least(1), default=20, help="pairs to print (default: 20)")


def run(args) -> int:
    """``rnncourse similarity``: print the ranked pairs, write the CSV and the pages."""
    from rnncourse.instructor.course import check_assignment
    from rnncourse.instructor.similarity import similarity, write_outputs

    check_assignment(args.course, args.assignment)
    if args.guarantee < args.noise:
        raise SimilarityError(
            f"--guarantee: must be at least --noise ({args.noise}), got {args.guarantee}"
        )
    if args.book is not None and not args.book.is_dir():
        raise SimilarityError(f"--book: {args.book} is not a folder")
    result = similarity(args.course, args.assignment, args.threshold, args.min_overlap,
                        args.book, args.noise, args.guarantee)  # fmt: skip
    out = args.out or Path(args.course) / "reports" / args.assignment / "similarity"
    paths = write_outputs(result, out)
    shown = result.pairs[: args.top]
    if shown:
        print(format_table(
            ["rank", "learner", "with", "kind", "score", "answer", "matched", "flagged"],
            [[i, p.a, p.b, p.kind, round(p.score, 2), p.best.task, p.best.overlap,
              "yes" if p.flagged else ""] for i, p in enumerate(shown, 1)],
        ))  # fmt: skip
        print()
    flagged = result.flagged
    print(
        f"{len(flagged)} flagged pairs among {result.learners} submissions and "
        f"{len(result.references)} references (threshold {args.threshold:g}, min overlap "
        f"{args.min_overlap}); a flag is a prompt to read both notebooks, not a verdict"
    )
    print(f"wrote {paths['csv']}, {paths['index']} and {len(flagged)} pages in {out / 'pairs'}")
    return 0
