"""Similarity of learners' answers: with each other, the reference package and the book.

``rnncourse similarity ASSIGNMENT`` reads every ``submitted/<student>/<assignment>/*.ipynb``,
keeps the **answer cells** only (nbgrader solution cells, by the ``grade_id`` of the instructor
version, plus code cells a learner added), and compares them pairwise and with three kinds of
reference:

* ``reference``: the modules of the ``rnncourse`` package (``rnncourse/*.py``), the
  implementations every exercise mirrors;
* ``book``: the code cells of the chapters (``book/*.md``), the commonest shortcut;
* ``solution``: the instructor's answers in ``solutions/`` (public in an open course).

The fingerprints are `copydetect <https://github.com/blingenf/copydetect>`_'s: the code is
tokenised with Pygments, names, strings and comments are normalised away (a renamed variable or
a reworded comment changes nothing), every ``k``-gram of the normalised text is hashed and the
winnowing algorithm of MOSS keeps a subset that still finds every match of ``guarantee``
characters (Schleimer, Wilkerson and Aiken, *Winnowing: local algorithms for document
fingerprinting*, SIGMOD 2003). Answers are short, so the default keeps every k-gram (window 1,
copydetect's own default), which also makes the scores the same from run to run. The
**released** notebook (stubs, docstrings, ``raise NotImplementedError()``, tests) is
copydetect's *boilerplate*: its fingerprints are removed from every answer, so code everyone
was given never counts.

Each answer is compared on its own: a learner's answer to a task with every other learner's
answer to the same task, and with every reference. For one answer, ``share_a`` is the fraction
of ``a``'s fingerprinted code found in ``b`` (``share_b`` the converse); the answer's score is
the larger of the two for two learners (one copied from the other, whoever wrote more) and the
learner's share for a reference (a reference module is far longer than any answer). Answers
whose matched code is shorter than ``min_overlap`` normalised characters score zero: a
three-token answer that everyone writes the same way is no evidence. A pair's **score** is that
of its most-copied answer, so one answer copied into an otherwise original notebook counts in
full (code pasted into an answer is diluted by the rest of that answer), and the pair is
**flagged** from ``threshold`` on. A flag is a prompt for a human to read
both notebooks; nothing here reads or writes the gradebook.

Examples::

    >>> a = fingerprint("def f(x):\\n    return x * 2 + 1\\n", k=5, guarantee=5)
    >>> b = fingerprint("def g(y):  # mine\\n    return y*2 + 1\\n", k=5, guarantee=5)
    >>> pair_shares(a, b)
    (1.0, 1.0)
"""

from __future__ import annotations

import csv
import html
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnncourse.instructor.course import folder

__all__ = [
    "Document",
    "Pair",
    "Result",
    "SimilarityError",
    "answer_documents",
    "reference_documents",
    "fingerprint",
    "Fingerprint",
    "pair_shares",
    "Match",
    "compare",
    "similarity",
    "write_outputs",
    "DEFAULT_THRESHOLD",
    "DEFAULT_MIN_OVERLAP",
    "DEFAULT_NOISE",
    "DEFAULT_GUARANTEE",
]

#: A pair is flagged from this score on (fraction of the learner's answer code matched).
DEFAULT_THRESHOLD = 0.5
#: ... and when at least this many normalised characters match (a short answer is no evidence).
DEFAULT_MIN_OVERLAP = 80
#: copydetect's noise threshold: the k of the k-grams, in normalised characters.
DEFAULT_NOISE = 25
#: copydetect's guarantee threshold: a match this long is always found (window = g - k + 1).
#: Equal to the noise threshold (copydetect's default), every k-gram is kept: above it, the
#: winnowed subset depends on Python's per-process string hashing and scores vary a little
#: from run to run.
DEFAULT_GUARANTEE = 25


class SimilarityError(ValueError):
    """Bad input to the similarity report: the message names the argument."""


@dataclass(frozen=True)
class Document:
    """Code to compare: a learner's answers by task, or one reference (a single part).

    Args:
        name: the student id, or the path of the reference (``rnncourse/rnn.py``).
        kind: one of ``learner``, ``reference``, ``book``, ``solution``.
        parts: ``task -> code``; a learner's answer cells by ``grade_id`` (a cell the learner
            added counts as task ``added``), a reference's whole text under ``""``.
    """

    name: str
    kind: str
    parts: dict[str, str]

    @property
    def code(self) -> str:
        return "\n\n".join(self.parts.values())


@dataclass
class Match:
    """One answer of ``a`` against ``b``: ``b``'s answer to the same task, or a reference."""

    task: str
    share_a: float  # fraction of a's fingerprinted answer matched
    share_b: float
    overlap: int  # matched characters of normalised code
    slices_a: np.ndarray = field(repr=False)  # matched [start, end) in a's raw text
    slices_b: np.ndarray = field(repr=False)


@dataclass
class Pair:
    """A learner (``a``) against another learner or a reference (``b``); ``matches`` holds
    every answer with at least ``min_overlap`` matched characters."""

    a: str
    b: str
    kind: str  # kind of b
    matches: list[Match]
    min_overlap: int = DEFAULT_MIN_OVERLAP
    flagged: bool = False
    page: str = ""

    def score_of(self, m: Match) -> float:
        if m.overlap < self.min_overlap:
            return 0.0
        return max(m.share_a, m.share_b) if self.kind == "learner" else m.share_a

    @property
    def best(self) -> Match:
        """The most-copied answer (by score, then by raw share and overlap)."""
        return max(self.matches, key=lambda m: (self.score_of(m), m.share_a, m.overlap))

    @property
    def score(self) -> float:
        return self.score_of(self.best)

    @property
    def overlap(self) -> int:
        return sum(m.overlap for m in self.matches)


@dataclass
class Result:
    """Every pair with a score above 0, highest score first, and what was compared."""

    assignment: str
    pairs: list[Pair]
    documents: dict[str, Document]  # by name
    threshold: float
    min_overlap: int

    @property
    def flagged(self) -> list[Pair]:
        return [p for p in self.pairs if p.flagged]

    @property
    def learners(self) -> int:
        return sum(d.kind == "learner" for d in self.documents.values())

    @property
    def references(self) -> list[str]:
        return [d.name for d in self.documents.values() if d.kind != "learner"]


# ---------------------------------------------------------------------------------------------
# documents
# ---------------------------------------------------------------------------------------------


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _read(path: Path):
    import nbformat

    return nbformat.read(path, as_version=4)


def answer_ids(source_notebook: Path) -> list[str]:
    """The ``grade_id`` of every solution cell of the instructor's notebook."""
    nb = _read(source_notebook)
    return [_meta(c)["grade_id"] for c in nb.cells if _meta(c).get("solution")]


def answers_of(notebook, ids: Iterable[str], released: Iterable[str] = ()) -> dict[str, str]:
    """``task -> code`` of a notebook: its solution cells (by ``grade_id``), and the code cells
    it added (no nbgrader metadata), joined as task ``added``; a cell left as ``released``
    (one of those sources) is unanswered and left out."""
    ids, released = set(ids), {s.strip() for s in released}
    parts: dict[str, str] = {}
    for cell in notebook.cells:
        if cell.get("cell_type") != "code" or cell.source.strip() in released | {""}:
            continue
        meta = _meta(cell)
        if meta.get("grade_id") in ids:
            task = meta["grade_id"]
        elif not meta:
            task = "added"
        else:
            continue
        parts[task] = f"{parts[task]}\n\n{cell.source}" if task in parts else cell.source
    return parts


def answer_documents(course: str | Path, assignment: str) -> tuple[list[Document], str]:
    """``(learners, boilerplate)``: one document per submission of ``assignment``, and the
    released notebooks' code, shared by everyone.

    Raises:
        SimilarityError: no instructor or released notebook, or no submission.
    """
    import json

    import nbformat

    source, release = folder(course, "source") / assignment, folder(course, "release") / assignment
    sources = sorted(source.glob("*.ipynb"))
    if not sources:
        raise SimilarityError(
            f"assignment {assignment!r}: no instructor notebook in {source} to tell the answer "
            "cells from the rest"
        )
    ids = [gid for path in sources for gid in answer_ids(path)]
    releases = sorted(release.glob("*.ipynb"))
    if not releases:  # without it the stubs everyone was given would count as answers
        raise SimilarityError(
            f"assignment {assignment!r}: no released notebook in {release}; run "
            f"`nbgrader generate_assignment {assignment}` first"
        )
    released = [c.source for path in releases for c in _read(path).cells if c.cell_type == "code"]
    boilerplate = "\n\n".join(released)
    learners = []
    submitted = folder(course, "submitted")
    for learner in sorted(submitted.glob(f"*/{assignment}")):
        parts: dict[str, str] = {}
        for path in sorted(learner.glob("*.ipynb")):
            try:
                for task, code in answers_of(_read(path), ids, released).items():
                    parts[task] = f"{parts[task]}\n\n{code}" if task in parts else code
            except (json.JSONDecodeError, nbformat.reader.NotJSONError, UnicodeDecodeError):
                continue  # the audit reports unreadable notebooks
        learners.append(Document(learner.parent.name, "learner", parts))
    if not learners:
        raise SimilarityError(
            f"assignment {assignment!r}: no submissions in {submitted}/<student>/{assignment}/"
        )
    return learners, boilerplate


_CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```", re.S | re.M)


def book_code(path: Path) -> str:
    """The code cells of a MyST Markdown chapter, joined (cell options and magics dropped)."""
    cells = []
    for match in _CODE_CELL.finditer(path.read_text(encoding="utf-8")):
        lines = match.group(1).splitlines()
        if lines and lines[0].strip() == "---":  # options as a YAML block
            end = next((i for i, s in enumerate(lines[1:], 1) if s.strip() == "---"), 0)
            lines = lines[end + 1 :]
        while lines and lines[0].startswith(":"):  # options as ':key: value' lines
            lines = lines[1:]
        cells.append("\n".join(line for line in lines if not line.lstrip().startswith("%")))
    return "\n\n".join(cells)


def default_book(course: str | Path) -> Path | None:
    """``course/book`` if it exists, else the book beside the installed package, else None."""
    import rnncourse

    for candidate in (Path(course) / "book", Path(rnncourse.__file__).parents[1] / "book"):
        if candidate.is_dir():
            return candidate
    return None


def reference_documents(
    course: str | Path, assignment: str, book: Path | None = None
) -> list[Document]:
    """The package's modules, the book's chapters and the instructor's answers, one document
    each (those without code are left out)."""
    import rnncourse

    package = Path(rnncourse.__file__).parent
    docs = [
        Document(f"rnncourse/{p.name}", "reference", {"": p.read_text(encoding="utf-8")})
        for p in sorted(package.glob("*.py"))
    ]
    if book is not None:
        docs += [
            Document(f"book/{p.name}", "book", {"": book_code(p)})
            for p in sorted(book.glob("*.md"))
        ]
    source = folder(course, "source")
    for path in sorted((source / assignment).glob("*.ipynb")):
        code = "\n\n".join(answers_of(_read(path), answer_ids(path)).values())
        docs.append(Document(f"{source.name}/{assignment}/{path.name}", "solution", {"": code}))
    return [d for d in docs if d.code.strip()]


# ---------------------------------------------------------------------------------------------
# fingerprints and comparison (copydetect)
# ---------------------------------------------------------------------------------------------


@dataclass
class Fingerprint:
    """What copydetect's ``compare_files`` reads of a ``CodeFingerprint``, built from the same
    copydetect functions (``filter_code``, ``get_document_fingerprints``,
    ``get_token_coverage``), so that a code's tokens are computed once per process however
    often it is compared (the references, in the tests and the benchmark)."""

    raw_code: str
    filtered_code: str
    offsets: np.ndarray = field(repr=False)
    hashes: set
    hash_idx: dict = field(repr=False)
    k: int
    token_coverage: int


_FILTERED: dict[str, tuple[str, np.ndarray]] = {}  # code -> copydetect.utils.filter_code(code)


def _filter(code: str) -> tuple[str, np.ndarray]:
    from copydetect.utils import filter_code

    return filter_code(code, "answer.py", "python")


def _filter_all(codes: Iterable[str]) -> None:
    """Tokenise and normalise every code not yet in the cache (Pygments: the slow part)."""
    for code in dict.fromkeys(codes):
        if code not in _FILTERED:
            _FILTERED[code] = _filter(code)


def fingerprint(
    code: str,
    k: int = DEFAULT_NOISE,
    guarantee: int = DEFAULT_GUARANTEE,
    boilerplate: np.ndarray | None = None,
) -> Fingerprint:
    """The winnowed fingerprints of ``code`` as copydetect computes them, tokenised as Python,
    less those in ``boilerplate``."""
    from copydetect.utils import get_document_fingerprints, get_token_coverage

    _filter_all([code])
    filtered, offsets = _FILTERED[code]
    window = max(1, guarantee - k + 1)
    hashes, idx = get_document_fingerprints(filtered, k, window, boilerplate)
    return Fingerprint(
        code, filtered, offsets, hashes, idx, k, get_token_coverage(idx, k, len(filtered))
    )


def boilerplate_hashes(code: str, k: int = DEFAULT_NOISE) -> np.ndarray:
    """Every k-gram hash of ``code`` (copydetect's boilerplate: window 1, nothing skipped)."""
    return np.array(sorted(fingerprint(code, k=k, guarantee=k).hashes))


def pair_shares(fa, fb) -> tuple[float, float]:
    """``(share_a, share_b)``: the fraction of each fingerprinted text matched by the other."""
    match = _compare("", fa, fb)
    return (match.share_a, match.share_b) if match else (0.0, 0.0)


_EMPTY = np.zeros((2, 0), dtype=int)


def _compare(task: str, fa, fb, min_overlap: int = 0) -> Match | None:
    """copydetect's comparison of two fingerprints, or None when no ``min_overlap``
    characters of ``a`` can match (the common case, decided without copydetect's array work)."""
    from copydetect import compare_files

    shared = fa.hashes & fb.hashes
    if not shared:
        return None
    if min_overlap > 1:  # a's matched length, as copydetect will count it: k-grams merged
        covered, end = 0, -1
        for start in sorted(i for h in shared for i in fa.hash_idx[h]):
            covered += max(0, start + fa.k - max(start, end))
            end = max(end, start + fa.k)
        if covered < min_overlap:
            return None
    overlap, (share_a, share_b), (slices_a, slices_b) = compare_files(fa, fb)
    if overlap < max(min_overlap, 1):
        return None
    # copydetect measures the overlap against the fingerprinted text, which winnowing can
    # make a little shorter than the matched slices: a share is at most 1
    return Match(task, min(1.0, float(share_a)), min(1.0, float(share_b)), int(overlap),
                 slices_a, slices_b)  # fmt: skip


def compare(
    learners: Sequence[Document],
    references: Sequence[Document] = (),
    boilerplate: str = "",
    threshold: float = DEFAULT_THRESHOLD,
    min_overlap: int = DEFAULT_MIN_OVERLAP,
    k: int = DEFAULT_NOISE,
    guarantee: int = DEFAULT_GUARANTEE,
) -> list[Pair]:
    """Every learner-learner and learner-reference pair with a score above 0 (an answer with
    at least ``min_overlap`` matched characters), highest score first.

    Learners' answers are compared task by task (the same ``grade_id``); every answer is
    compared with every reference as a whole.
    """
    check_thresholds(threshold, min_overlap, k, guarantee)
    codes = [boilerplate, *(c for d in learners for c in d.parts.values())]
    _filter_all([*codes, *(d.code for d in references)])
    common = boilerplate_hashes(boilerplate, k) if boilerplate.strip() else None
    prints = [
        {t: fingerprint(c, k, guarantee, common) for t, c in d.parts.items()} for d in learners
    ]
    refs = [fingerprint(d.code, k, guarantee, common) for d in references]
    pairs = []

    def add(a: Document, b: Document, compared: list[Match | None]) -> None:
        matches = [m for m in compared if m is not None]
        if matches:
            pair = Pair(a.name, b.name, b.kind, matches, min_overlap)
            pair.flagged = pair.score >= threshold
            pairs.append(pair)

    for i, (doc_a, fa) in enumerate(zip(learners, prints, strict=True)):
        for doc_b, fb in zip(learners[i + 1 :], prints[i + 1 :], strict=True):
            add(doc_a, doc_b, [_compare(t, fa[t], fb[t], min_overlap) for t in fa if t in fb])
        for doc_b, ref_print in zip(references, refs, strict=True):
            add(doc_a, doc_b, [_compare(t, fp, ref_print, min_overlap) for t, fp in fa.items()])
    pairs.sort(key=lambda p: (-p.score, -p.best.share_a, -p.overlap, p.a, p.b))
    return pairs


def check_thresholds(threshold: float, min_overlap: int, k: int, guarantee: int) -> None:
    """Raise :class:`SimilarityError` naming the first argument out of range."""
    if not isinstance(threshold, int | float) or math.isnan(threshold) or not 0 < threshold <= 1:
        raise SimilarityError(f"threshold: must be in (0, 1], got {threshold!r}")
    if not isinstance(min_overlap, int) or min_overlap < 0:
        raise SimilarityError(f"min_overlap: must be a non-negative integer, got {min_overlap!r}")
    if not isinstance(k, int) or k < 1:
        raise SimilarityError(f"noise: must be a positive integer, got {k!r}")
    if not isinstance(guarantee, int) or guarantee < k:
        raise SimilarityError(f"guarantee: must be an integer >= noise ({k}), got {guarantee!r}")


def similarity(
    course: str | Path,
    assignment: str,
    threshold: float = DEFAULT_THRESHOLD,
    min_overlap: int = DEFAULT_MIN_OVERLAP,
    book: Path | None = None,
    k: int = DEFAULT_NOISE,
    guarantee: int = DEFAULT_GUARANTEE,
) -> Result:
    """Compare every submission of ``assignment`` in ``course`` (see the module docstring)."""
    check_thresholds(threshold, min_overlap, k, guarantee)
    learners, boilerplate = answer_documents(course, assignment)
    references = reference_documents(course, assignment, book if book else default_book(course))
    pairs = compare(learners, references, boilerplate, threshold, min_overlap, k, guarantee)
    docs = {d.name: d for d in [*learners, *references]}
    return Result(assignment, pairs, docs, threshold, min_overlap)


# ---------------------------------------------------------------------------------------------
# outputs: CSV, an index page and one self-contained page per flagged pair
# ---------------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
table { border-collapse: collapse; } td, th { padding: .2rem .6rem; border-bottom: 1px solid #ddd; }
th { text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.sides { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
pre { background: #f7f7f7; padding: .6rem; overflow-x: auto; font-size: 13px; line-height: 1.35; }
mark { background: #ffd7a8; } .note { color: #555; max-width: 60rem; }
"""


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def _highlighted(code: str, slices: np.ndarray, truncate: bool = False) -> str:
    from copydetect.utils import highlight_overlap

    if slices.size == 0:
        return html.escape(code)
    text, _ = highlight_overlap(
        code, slices, "<mark>", "</mark>", truncate=6 if truncate else -1, escape_html=True
    )
    return text


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def pair_page(result: Result, pair: Pair, rank: int) -> str:
    """The HTML page of one pair: for each matching answer, both texts side by side
    with the matched regions marked (a long reference is cut to the lines around them)."""
    title = f"{result.assignment}: {pair.a} and {pair.b}"
    a, b = result.documents[pair.a], result.documents[pair.b]
    sections = []
    for m in sorted(pair.matches, key=lambda m: -pair.score_of(m)):
        text_b = b.parts[m.task] if pair.kind == "learner" else b.code
        sections.append(
            f"<h2>{html.escape(m.task)}: score {pair.score_of(m):.2f}</h2>\n"
            f"<p>{m.share_a:.0%} of {html.escape(pair.a)}'s answer and {m.share_b:.0%} of "
            f"{html.escape(pair.b)}'s {'answer' if pair.kind == 'learner' else 'code'} match; "
            f"{m.overlap} matched characters of normalised code.</p>\n"
            f'<div class="sides">\n'
            f"<div><h3>{html.escape(pair.a)}</h3>"
            f"<pre>{_highlighted(a.parts[m.task], m.slices_a)}</pre></div>\n"
            f"<div><h3>{html.escape(pair.b)} ({pair.kind})</h3>"
            f"<pre>{_highlighted(text_b, m.slices_b, pair.kind != 'learner')}</pre></div>\n"
            f"</div>"
        )
    body = (
        f"<h1>{html.escape(title)}</h1>\n"
        f"<p>Rank {rank}, score {pair.score:.2f} (answer {html.escape(pair.best.task)}).</p>\n"
        f'<p class="note">Marked: regions whose normalised form (names, strings and comments '
        f"replaced, whitespace dropped) both texts share, found by copydetect's "
        f"fingerprints; code from the released notebook is ignored. A flag is a prompt to read "
        f"both notebooks, not a verdict, and it changes no grade.</p>\n" + "\n".join(sections)
    )
    return _page(title, body)


CSV_HEADER = [
    "rank", "a", "b", "kind", "score", "task", "share_a", "share_b", "overlap", "flagged", "page",
]  # fmt: skip


def write_outputs(result: Result, out: str | Path) -> dict[str, Path]:
    """Write ``similarity.csv`` (every pair with a score above 0), ``index.html`` (the flagged
    pairs) and ``pairs/<rank>_<a>__<b>.html`` per flagged pair into ``out``."""
    out = Path(out)
    (out / "pairs").mkdir(parents=True, exist_ok=True)
    for old in (out / "pairs").glob("*.html"):
        old.unlink()  # pages of an earlier run would look current
    rows: list[list[Any]] = []  # the CSV's columns: numbers and names
    for rank, pair in enumerate(result.pairs, 1):
        if pair.flagged:
            pair.page = f"pairs/{rank:04d}_{_slug(pair.a)}__{_slug(pair.b)}.html"
            (out / pair.page).write_text(pair_page(result, pair, rank), encoding="utf-8")
        best = pair.best
        rows.append([rank, pair.a, pair.b, pair.kind, f"{pair.score:.3f}", best.task,
                     f"{best.share_a:.3f}", f"{best.share_b:.3f}", best.overlap,
                     int(pair.flagged), pair.page])  # fmt: skip
    paths = {"csv": out / "similarity.csv", "index": out / "index.html"}
    with open(paths["csv"], "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_HEADER)
        writer.writerows(rows)
    flagged = [r for r in rows if r[9]]
    table = "".join(
        f'<tr><td class="num">{r[0]}</td><td>{html.escape(r[1])}</td><td>{html.escape(r[2])}</td>'
        f'<td>{r[3]}</td><td class="num">{r[4]}</td><td>{html.escape(r[5])}</td>'
        f'<td class="num">{r[8]}</td><td><a href="{r[10]}">side by side</a></td></tr>\n'
        for r in flagged
    )
    body = (
        f"<h1>Similarity of answers: {html.escape(result.assignment)}</h1>\n"
        f"<p>{result.learners} submissions compared with each other and with "
        f"{len(result.references)} references (package modules, book chapters, the instructor's "
        f"answers). Flagged: an answer with score at least {result.threshold:g} (and at "
        f"least {result.min_overlap} matched characters); {len(flagged)} pairs. Every pair "
        f"with a score above 0 is in <code>similarity.csv</code>.</p>\n"
        f'<p class="note">A flag is a prompt to read both notebooks; it changes no grade.</p>\n'
        f"<table>\n<tr><th>rank</th><th>learner</th><th>with</th><th>kind</th><th>score</th>"
        f"<th>answer</th><th>matched</th><th></th></tr>\n{table}</table>"
    )
    paths["index"].write_text(_page(f"Similarity: {result.assignment}", body), encoding="utf-8")
    return paths
