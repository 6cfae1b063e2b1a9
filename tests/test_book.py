"""The book builds without warnings, every page is there, and chapters stay fast and clean.

The build-dependent tests are ``slow``: the session's first one builds the book
(``jupyter-book build . -W -n --keep-going``, see ``tests/_site.py``). The checks on the
committed sources and on the exercise-page generator need no build.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import jupytext
import nbformat
import pytest

from tests._site import (
    BOOK_ROOT,
    ROOT,
    BuildResult,
    assignment_names,
    book_build,  # noqa: F401 - fixture
    built_site,  # noqa: F401 - fixture
    chapter_sources,
    exercise_page_stem,
    read_execution_report,
    toc_docnames,
)

CHAPTER_SECONDS = 60.0
_CODE_CELL = re.compile(r"^```\{code-cell\}", re.MULTILINE)


def _load_exercise_extension():
    path = ROOT / "book" / "_ext" / "rnncourse_exercises.py"
    spec = importlib.util.spec_from_file_location("rnncourse_exercises", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _committed_notebooks() -> list[Path]:
    """The notebooks of the repository: book pages, assignments, solutions."""
    found = []
    for folder in ("book", "exercises", "solutions"):
        for path in sorted((BOOK_ROOT / folder).rglob("*.ipynb")):
            if ".ipynb_checkpoints" not in path.parts:
                found.append(path)
    return found


# --- the build ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_book_builds_without_warnings(book_build: BuildResult) -> None:  # noqa: F811
    """Does `jupyter-book build -W -n --keep-going` exit 0 with no Sphinx warning?"""
    warnings = "\n".join(book_build.warnings)
    tail = "\n".join(book_build.output.splitlines()[-30:])
    assert book_build.returncode == 0, f"build failed:\n{warnings or tail}"
    assert not book_build.warnings, f"build warnings:\n{warnings}"


@pytest.mark.slow
def test_every_page_is_built(built_site: Path) -> None:  # noqa: F811
    """Does every page of the table of contents have its HTML file?"""
    missing = [d for d in toc_docnames() if not (built_site / f"{d}.html").is_file()]
    assert not missing, f"pages missing from _build/html: {missing}"
    assert (built_site / "searchindex.js").is_file()


@pytest.mark.slow
def test_chapters_execute_within_budget(built_site: Path) -> None:  # noqa: F811
    """Did every chapter with code run successfully in at most 60 s?"""
    report = read_execution_report()
    with_code = [
        f"book/{p.stem}" for p in chapter_sources() if _CODE_CELL.search(p.read_text("utf-8"))
    ]
    assert with_code, "no chapter has code cells"
    problems = []
    for docname in with_code:
        entry = report.get(docname)
        if entry is None or not entry["succeeded"] or entry["runtime_s"] is None:
            problems.append(f"{docname}: not executed successfully ({entry})")
        elif entry["runtime_s"] > CHAPTER_SECONDS:
            problems.append(f"{docname}: {entry['runtime_s']:.1f} s > {CHAPTER_SECONDS:.0f} s")
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_exercise_pages_offer_the_student_notebook(built_site: Path) -> None:  # noqa: F811
    """Does each exercise page exist, without solutions, linking a copy of its notebook?"""
    for name in assignment_names():
        page = built_site / "book" / "exercises" / f"{exercise_page_stem(name)}.html"
        assert page.is_file(), f"no page for exercise {name}"
        html = page.read_text(encoding="utf-8")
        assert "Worked solution" not in html, f"{name}: solutions shown in the default build"
        link = re.search(rf'href="\.\./\.\./(_downloads/[0-9a-f]+/{name}\.ipynb)"', html)
        assert link, f"{name}: no download link"
        copy = built_site / link.group(1)
        source = BOOK_ROOT / "exercises" / name / f"{name}.ipynb"
        assert copy.read_bytes() == source.read_bytes(), f"{name}: download differs from source"


# --- numbers quoted in the prose -----------------------------------------------------------------

EXECUTION_CACHE = BOOK_ROOT / "_build" / ".jupyter_cache"  # as execute.cache in _config.yml

# (chapter, what its executed outputs print, what its prose says about it). Whitespace runs
# (line breaks included) count as one space on both sides. Add a row for every number the
# prose quotes from an output, so a change of seed, data or budget that moves it fails here.
QUOTED = [
    (
        "03_unrolling",
        "T = 400:  1200 saved tensors,   3.93 MiB; under no_grad: 0 (0 B)",
        "counts 0 saved tensors and 0 bytes at every $T$",
    ),
    (
        "03_unrolling",
        "T =  10:    30 saved tensors,   0.12 MiB; under no_grad: 0 (0 B)",
        "counts 0 saved tensors and 0 bytes at every $T$",
    ),
    (
        "06_topologies",
        "| decoder, test MSE | 0.025 | 0.085 | 0.094 | 0.031 |",
        "the first pair and the last pair come out best, the middle two worst",
    ),
    (
        "06_topologies",
        "| linear probe of $h_8$, test MSE | 0.010 | 0.022 | 0.010 | 0.003 |",
        "(0.010 both)",
    ),
    (
        "06_topologies",
        "| ratio decoder / probe | 2.6 | 3.8 | 9.0 | 10.0 |",
        "2.6 at the first output to 10.0 at the last",
    ),
    (
        "09_seq2seq",
        "| r = 1 throughout | 0.685 | 1.200 | 0.515 | 0.37 |",
        "from 0.515 to 0.180, and the free-running loss",
    ),
    (
        "09_seq2seq",
        "| r = 1.00 → 0.88 → 0.75 → 0.62 → 0.50 | 0.878 | 1.058 | 0.180 | 0.28 |",
        "falls from 1.200 to 1.058. It did not buy correct outputs: exact-match accuracy over the"
        " test set drops from 0.37 to 0.28",
    ),
    (
        "10b_applications",
        "GRU false alarms: 6, steps since the last anomaly: [1, 1, 1, 1, 2, 20]",
        "The sixth, 20 steps after a spike",
    ),
    (
        "10b_applications",
        "1 or 2 steps after an anomaly: 5 of 6 (by chance: 5%)",
        "Five of the six false alarms come one or two steps after an injected spike, where only"
        " 5 %",
    ),
    (
        "09_seq2seq",
        "one column left / on / one column right of the anti-diagonal: 0.08 / 0.38 / 0.38",
        "as much weight one column to the *right* of the anti-diagonal as on it (0.38 each), and"
        " little one column to the left (0.08)",
    ),
    ("03_unrolling", "naive mean over padding : 1.5014", "(1.5014 against the right 1.4522 above)"),
    ("03_unrolling", "masked mean : 1.4522", "(1.5014 against the right 1.4522 above)"),
    (
        "10_applications",
        "| GRU, $H = 128$, 6 epochs, state carried | 2.697 | 6.5 |",
        "reaches 2.70 bpc, a perplexity of 6.5",
    ),
    (
        "10_applications",
        "| GRU, $H = 128$, 6 epochs, state reset every 32 characters | 2.788 | 6.9 |",
        "every 32 characters, as a model trained on independent chunks would be used: 2.79 bpc",
    ),
    ("10_applications", "| bigram counts | 3.411 | 10.6 |", "against 10.6 for the bigram table"),
    (
        "10_applications",
        "| uniform guess over 60 characters | 5.907 | 60.0 |",
        "and 60 for the uniform guess",
    ),
    (
        "10_applications",
        "love thy some;\\nThat sublingar poon thought",
        "(*my*, *love*, *thought*, *that*)",
    ),
    ("10_applications", "largest gap between model and corpus: 0.05", "largest gap, 0.05"),
    (
        "10_applications",
        "| *the sky is ___* | blue 0.59 (0.60), grey 0.29 (0.30), clear 0.12 (0.10) |",
        "six times in ten",
    ),
    (
        "10_applications",
        "validation 2.70 bpc",
        "The character model reaches 2.70 bits per character, a perplexity of 6.5",
    ),
    (
        "06_topologies",
        "| [2.5, 3.5, 4.5] | yes | 5.5 | 5.63 |",
        "(5.63 for the half-integer window",
    ),
    ("06_topologies", "| [7.0, 8.0, 9.0] | no | 10 | 8.27 |", "it answers 8.27 instead of 10"),
    ("06_topologies", "| [20.0, 21.0, 22.0] | no | 23 | 8.35 |", "`[20, 21, 22]` gets 8.35"),
    (
        "09_seq2seq",
        "| plain decoder | 38.3 | 0.37 |",
        "38.3 BLEU and 0.37 exact match for the plain decoder",
    ),
    (
        "09_seq2seq",
        "| attention decoder | 97.6 | 0.95 |",
        "97.6 and 0.95 for the attention decoder",
    ),
    (
        "09_seq2seq",
        "| bidirectional GRU (24 + 24) | 0.08 / 0.56 / 0.31 | 0.96 |",
        "more of the weight sits on the right position (0.56 against 0.38) and less one column to"
        " the right (0.31 against 0.38)",
    ),
    (
        "09_seq2seq",
        "| forward GRU (48) | 0.08 / 0.38 / 0.38 | 0.95 |",
        "The exact-match rate barely moves (0.96 against 0.95)",
    ),
]


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _output_text(cells: list) -> str:
    parts = []
    for cell in cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            text = out.get("text") or data.get("text/markdown") or data.get("text/plain") or ""
            parts.append("".join(text) if isinstance(text, list) else text)
    return "\n".join(parts)


def executed_outputs(docname: str, folder: Path | None = None) -> str:
    """Everything a chapter printed or displayed when the build executed it, as one string.

    From the build's execution cache (the notebooks in ``_build/jupyter_execute`` are
    rewritten without outputs when a rebuild takes them from the cache), or from executed
    ``<folder>/<docname>.ipynb`` files when ``folder`` is given.
    """
    if folder is not None:
        nb = json.loads((folder / f"{docname}.ipynb").read_text(encoding="utf-8"))
        return _output_text(nb["cells"])
    import jupytext
    from jupyter_cache import get_cache

    cache = get_cache(str(EXECUTION_CACHE))
    record = cache.match_cache_notebook(jupytext.read(BOOK_ROOT / f"{docname}.md"))
    return _output_text(cache.get_cache_bundle(record.pk).nb.cells)


def quoted_number_problems(folder: Path | None = None) -> list[str]:
    """The rows of ``QUOTED`` whose output or prose is not there."""
    problems = []
    for chapter, printed, prose in QUOTED:
        outputs = _squash(executed_outputs(f"book/{chapter}", folder))
        source = _squash((BOOK_ROOT / "book" / f"{chapter}.md").read_text(encoding="utf-8"))
        if _squash(printed) not in outputs:
            problems.append(f"{chapter}: the outputs no longer print {printed!r}")
        if _squash(prose) not in source:
            problems.append(f"{chapter}: the prose no longer says {prose!r}")
    return problems


@pytest.mark.slow
def test_quoted_numbers_are_the_printed_ones(built_site: Path) -> None:  # noqa: F811
    """Does every number the prose quotes from an output appear in that executed output?"""
    problems = quoted_number_problems()
    assert not problems, "\n".join(problems)


# --- the sources (no build needed) --------------------------------------------------------------


def reading_minutes(path: Path) -> int:
    """A chapter's prose (code cells left out) at 100 words a minute, to the nearest 5 minutes."""
    prose = re.sub(r"```\{code-cell\}.*?```", "", path.read_text("utf-8"), flags=re.DOTALL)
    return 5 * round(len(prose.split()) / 500)


def test_intro_reading_times_match_the_chapters() -> None:
    """Does the intro's time table list every chapter with the reading time its prose gives?"""
    intro = (BOOK_ROOT / "book" / "intro.md").read_text(encoding="utf-8")
    listed = dict(re.findall(r"^\| \{doc\}`([0-9][0-9]\w*)` \| (\d+) \|$", intro, re.MULTILINE))
    expected = {p.stem: str(reading_minutes(p)) for p in chapter_sources()}
    assert listed == expected


def test_notation_page_covers_the_contributing_table() -> None:
    """Does the book's notation page name every code name of CONTRIBUTING's notation table?"""
    contributing = (BOOK_ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    table = contributing[contributing.index("## Notation") : contributing.index("- Layout is")]
    page = (BOOK_ROOT / "book" / "notation.md").read_text(encoding="utf-8")
    names = [
        name
        for code_column in re.findall(r"^\| .+? \| (.+?) \| .+ \|$", table, re.MULTILINE)
        for name in re.findall(r"`([^`]+)`", code_column)
    ]
    assert len(names) > 15, "the notation table was not found in CONTRIBUTING.md"
    missing = [name for name in names if f"`{name}`" not in page]
    assert not missing, f"book/notation.md does not mention {missing}"


def test_committed_notebooks_carry_no_outputs() -> None:
    """Are all outputs and execution counts stripped from the committed notebooks?"""
    dirty = []
    for path in _committed_notebooks():
        nb = json.loads(path.read_text(encoding="utf-8"))
        for i, cell in enumerate(nb.get("cells", [])):
            if cell.get("cell_type") == "code" and (
                cell.get("outputs") or cell.get("execution_count") is not None
            ):
                dirty.append(f"{path.relative_to(BOOK_ROOT)} cell {i}")
    assert not dirty, f"notebooks with outputs: {dirty}"


def test_chapters_are_myst_notebooks_without_outputs() -> None:
    """Is every chapter a MyST notebook on the python3 kernel, with no pasted outputs?"""
    chapters = chapter_sources()
    assert chapters, "no chapters found"
    problems = []
    for path in chapters:
        text = path.read_text(encoding="utf-8")
        if not _CODE_CELL.search(text):
            continue
        header = re.match(r"^---\n(.*?)\n---\n", text, re.DOTALL)
        if header is None or not re.search(r"kernelspec:(.|\n)*name: python3", header.group(1)):
            problems.append(f"{path.name}: no jupytext header with kernelspec python3")
        if "data:image/" in text or "execution_count" in text:
            problems.append(f"{path.name}: contains pasted output")
    assert not problems, "\n".join(problems)


def _fake_assignment() -> tuple[dict, dict]:
    """A released notebook (as nbgrader generate_assignment blanks it) and its source."""

    def cell(source: str, grade_id: str | None = None, solution: bool = False) -> dict:
        meta = {"nbgrader": {"grade_id": grade_id, "solution": solution}} if grade_id else {}
        return {
            "cell_type": "code",
            "id": grade_id,
            "metadata": meta,
            "source": source,
            "outputs": [{"output_type": "stream", "name": "stdout", "text": "old output"}],
            "execution_count": 3,
        }

    title = {"cell_type": "markdown", "id": "title", "metadata": {}, "source": "# Exercise 9\n"}
    answer = "def f():\n    ### BEGIN SOLUTION\n    return 6 * 7\n    ### END SOLUTION\n"
    blanked = "def f():\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    test = "assert f() == 42\n### BEGIN HIDDEN TESTS\nassert f() + 1 == 43\n### END HIDDEN TESTS"
    solution = {
        "cells": [title, cell(answer, "f", True), cell(test, "test_f")],
        "metadata": {"kernelspec": {"name": "python3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    student = json.loads(json.dumps(solution))
    student["cells"][1]["source"] = blanked
    student["cells"][2]["source"] = "assert f() == 42"
    return student, solution


def _page_cells(ext, name: str, student: dict, solution: dict | None) -> list[tuple[str, str]]:
    """(cell type, source) of the page text the extension writes, as jupytext reads it back."""
    nb = jupytext.reads(ext.to_myst(ext.build_page(name, student, solution)), fmt="md:myst")
    assert nb.metadata["mystnb"] == {"execution_mode": "off"}  # shown, never run
    return [(c.cell_type, c.source) for c in nb.cells]


def test_exercise_page_hides_solutions_by_default() -> None:
    """Is the default page the released cells as they are, after a title and a download box?"""
    ext = _load_exercise_extension()
    student, _ = _fake_assignment()
    cells = _page_cells(ext, "09_test", student, None)
    assert cells[0] == ("markdown", "# Exercise 9")
    assert "{download}" in cells[1][1] and "/exercises/09_test/09_test.ipynb" in cells[1][1]
    assert cells[2:] == [("code", student["cells"][1]["source"]), ("code", "assert f() == 42")]
    text = ext.to_myst(ext.build_page("09_test", student, None))
    for absent in ("6 * 7", "Worked solution", "old output", "HIDDEN", "nbgrader"):
        assert absent not in text


def test_exercise_page_shows_solutions_when_asked() -> None:
    """With a solutions notebook, does a collapsed worked solution follow each solution cell?"""
    ext = _load_exercise_extension()
    student, solution = _fake_assignment()
    cells = _page_cells(ext, "09_test", student, solution)
    sources = [source for _, source in cells]
    block = sources.index(next(s for s in sources if "Worked solution" in s))
    assert "raise NotImplementedError()" in sources[block - 1]  # right after the student's cell
    assert ":class: dropdown" in sources[block] and "return 6 * 7" in sources[block]
    assert "SOLUTION" not in sources[block]  # nbgrader markers dropped
    assert len(sources) == 5  # title, download box, student cell, solution, test cell
    assert not any("43" in s for s in sources)  # the hidden test stays hidden


def _solution_lines(source: str) -> list[str]:
    """Stripped lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION``."""
    regions = re.findall(r"BEGIN SOLUTION[^\n]*\n(.*?)^[ \t#%]*END SOLUTION", source, re.M | re.S)
    return [line.strip() for region in regions for line in region.splitlines() if line.strip()]


def _hidden_only_lines(nb) -> set[str]:  # noqa: ANN001 - an nbformat notebook
    """Stripped lines of ``nb``'s hidden tests that occur nowhere else in ``nb``."""
    hidden, elsewhere = set(), set()
    for cell in nb.cells:
        parts = re.split(r"^[ \t#]*(?:BEGIN|END) HIDDEN TESTS[^\n]*$", cell.source, flags=re.M)
        for i, part in enumerate(parts):  # odd parts lie between BEGIN and END
            (hidden if i % 2 else elsewhere).update(line.strip() for line in part.splitlines())
    return hidden - elsewhere - {""}


@pytest.mark.parametrize("name", assignment_names())
def test_exercise_page_is_the_released_notebook(name: str, tmp_path: Path) -> None:
    """Does each page show every released cell, in order and unchanged, and nothing hidden?

    Both editions are generated from the repository's ``exercises/`` and ``solutions/``;
    jupytext reads the pages back. The solutions edition must differ from the student one
    only by a worked-solution block after each solution cell, holding that cell's solution
    from ``solutions/``. Neither may show a line of a hidden test.
    """
    ext = _load_exercise_extension()
    for folder in ("exercises", "solutions"):
        (tmp_path / folder).symlink_to(BOOK_ROOT / folder)
    released = nbformat.read(BOOK_ROOT / "exercises" / name / f"{name}.ipynb", as_version=4)
    source = nbformat.read(BOOK_ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)
    released_cells = [(c.cell_type, c.source.strip("\n")) for c in released.cells]
    assert released_cells[0][1].startswith("# "), "the release should start with its title"
    hidden = _hidden_only_lines(source)
    assert hidden, f"{name}: no hidden-test lines found in solutions/ (nothing to check)"
    page_path = tmp_path / "book" / "exercises" / f"{exercise_page_stem(name)}.md"

    editions = {}
    for with_solutions in (False, True):
        assert ext.generate_pages(tmp_path, with_solutions)
        nb = jupytext.read(page_path, fmt="md:myst")
        assert nb.metadata["mystnb"] == {"execution_mode": "off"}
        editions[with_solutions] = [(c.cell_type, c.source.strip("\n")) for c in nb.cells]
    student, solutions = editions[False], editions[True]

    download = student.pop(1)
    assert "{download}" in download[1] and f"/exercises/{name}/{name}.ipynb>" in download[1]
    assert student == released_cells

    # The solutions edition: the same cells, each answer cell followed by its worked solution
    # (a grade_id below stands for that block).
    answers = {c.metadata["nbgrader"]["grade_id"]: c for c in source.cells if _is_answer(c)}
    layout: list = []
    for cell, shown_cell in zip(released.cells, released_cells, strict=True):
        layout.append(shown_cell)
        if _is_answer(cell):
            layout.append(cell.metadata["nbgrader"]["grade_id"])
    layout.insert(1, download)
    assert any(isinstance(want, str) for want in layout), f"{name} has no answer cell"
    assert len(solutions) == len(layout)
    for got, want in zip(solutions, layout, strict=True):
        if isinstance(want, tuple):
            assert got == want
            continue
        assert got[0] == "markdown" and "{admonition} Worked solution" in got[1], want
        lines = _solution_lines(answers[want].source)
        assert lines and all(line in got[1] for line in lines), f"{name}/{want}: solution"
        assert "SOLUTION" not in got[1], f"{name}/{want}: nbgrader markers shown"

    for with_solutions, cells in editions.items():
        lines = {line.strip() for _, s in cells for line in s.splitlines()}
        leaked = sorted(lines & hidden)
        assert not leaked, f"{name} (solutions: {with_solutions}): hidden tests shown: {leaked}"


def _is_answer(cell) -> bool:  # noqa: ANN001 - an nbformat cell
    return bool(cell.metadata.get("nbgrader", {}).get("solution"))


def test_stale_generated_pages_are_removed(tmp_path: Path) -> None:
    """Is a generated page of a vanished assignment removed, and a hand-written page kept?"""
    ext = _load_exercise_extension()
    student, _ = _fake_assignment()
    pages = tmp_path / "book" / "exercises"
    pages.mkdir(parents=True)
    (pages / "ex98_gone.md").write_text(ext.to_myst(ext.build_page("98_gone", student, None)))
    (pages / "ex97_by_hand.md").write_text("---\nrnncourse:\n  generated: false\n---\n# Mine\n")
    (tmp_path / "exercises" / "ex09_test").mkdir(parents=True)
    nbformat.write(
        nbformat.from_dict(student), tmp_path / "exercises" / "ex09_test" / "ex09_test.ipynb"
    )
    assert ext.generate_pages(tmp_path, False) == [pages / "ex09_test.md"]
    assert sorted(p.name for p in pages.iterdir()) == ["ex09_test.md", "ex97_by_hand.md"]


def test_every_assignment_gets_an_exercise_page() -> None:
    """Does the extension find every released assignment, ex08b_speech (chapter 8b) included?"""
    ext = _load_exercise_extension()
    found = ext.find_assignments(BOOK_ROOT)
    assert found == assignment_names()
    assert "ex08b_speech" in found


def test_solutions_switch_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Is RNNCOURSE_SHOW_SOLUTIONS off unless set to 1?"""
    ext = _load_exercise_extension()
    monkeypatch.delenv("RNNCOURSE_SHOW_SOLUTIONS", raising=False)
    assert not ext.show_solutions()
    monkeypatch.setenv("RNNCOURSE_SHOW_SOLUTIONS", "1")
    assert ext.show_solutions()
    monkeypatch.setenv("RNNCOURSE_SHOW_SOLUTIONS", "0")
    assert not ext.show_solutions()
