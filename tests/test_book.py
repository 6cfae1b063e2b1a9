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
from tests.claims import GLUE_PREFIX, Claim, chapter_claims, claim_problems, glued_values

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


# --- numbers in the prose and what the prose claims about them ----------------------------------

EXECUTION_CACHE = BOOK_ROOT / "_build" / ".jupyter_cache"  # as execute.cache in _config.yml
# A decimal number in the prose ("0.515", "97.6"), not inside math, code or a glue role.
_DECIMAL = re.compile(r"(?<![\w.$])\d+\.\d+(?![\w.])")
_NOT_PROSE = re.compile(
    r"```\{code-cell\}.*?```|\$\$.*?\$\$|\$[^$\n]+\$|`[^`\n]+`|^---\n.*?\n---\n",
    re.DOTALL | re.MULTILINE,
)


def executed_cells(docname: str, folder: Path | None = None) -> list:
    """The cells of a chapter as the build executed them, with their outputs.

    From the build's execution cache (the notebooks in ``_build/jupyter_execute`` are
    rewritten without outputs when a rebuild takes them from the cache), or from executed
    ``<folder>/<stem>.ipynb`` files when ``folder`` is given.
    """
    if folder is not None:
        stem = docname.rsplit("/", 1)[-1]
        return json.loads((folder / f"{stem}.ipynb").read_text(encoding="utf-8"))["cells"]
    from jupyter_cache import get_cache

    cache = get_cache(str(EXECUTION_CACHE))
    record = cache.match_cache_notebook(jupytext.read(BOOK_ROOT / f"{docname}.md"))
    return cache.get_cache_bundle(record.pk).nb.cells


def printed_text(cells: list) -> str:
    """Everything the cells printed or displayed, glued values left out."""
    parts = []
    for cell in cells:
        for out in cell.get("outputs", []):
            if out.get("metadata", {}).get("scrapbook"):
                continue  # a glued value: the prose may paste it
            data = out.get("data", {})
            text = out.get("text") or data.get("text/markdown") or data.get("text/plain") or ""
            parts.append("".join(text) if isinstance(text, list) else text)
    return "\n".join(parts)


def retyped_numbers(source: str, printed: str) -> list[str]:
    """Decimal numbers of the prose of ``source`` that ``printed`` shows too."""
    prose = _NOT_PROSE.sub(" ", source)
    shown = set(_DECIMAL.findall(printed))
    return sorted({n for n in _DECIMAL.findall(prose) if n in shown})


def test_retyped_numbers_are_found() -> None:
    """Does the retyped-number check see a printed number in prose, and only there?"""
    source = (
        "The loss fell to 0.515 in 3.5 epochs.\n\n```{code-cell} ipython3\nprint(0.515)\n```\n"
        "Pasted: {glue:text}`loss:.3f`, math $0.515$, code `0.515`.\n"
    )
    assert retyped_numbers(source, "loss 0.515\nlr 0.01") == ["0.515"]
    assert retyped_numbers(source, "loss 0.516") == []


@pytest.mark.slow
def test_prose_retypes_no_printed_number(built_site: Path) -> None:  # noqa: F811
    """Is every decimal number the outputs print that the prose quotes pasted by the build?"""
    problems = []
    for path in chapter_sources():
        source = path.read_text(encoding="utf-8")
        if not _CODE_CELL.search(source):
            continue
        found = retyped_numbers(source, printed_text(executed_cells(f"book/{path.stem}")))
        if found:
            problems.append(f"{path.name}: retypes {found} (glue them)")
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_prose_claims_hold_in_the_build(built_site: Path) -> None:  # noqa: F811
    """Does every claim of tests/claims hold for the values the build glued?"""
    claims = chapter_claims()
    assert claims, "no claims found in tests/claims"
    stems = {p.stem for p in chapter_sources()}
    assert set(claims) <= stems, f"claims for no chapter: {sorted(set(claims) - stems)}"
    problems = []
    for chapter in claims:
        glued = glued_values(executed_cells(f"book/{chapter}"))
        problems += claim_problems(chapter, glued)
    assert not problems, "\n".join(problems)


def test_claims_can_fail() -> None:
    """Does a claim that does not hold, or reads a value never glued, get reported?"""
    cells = [
        {
            "outputs": [
                {
                    "metadata": {"scrapbook": {"name": "bleu", "mime_prefix": GLUE_PREFIX}},
                    "data": {GLUE_PREFIX + "text/plain": "38.25"},
                },
                {"metadata": {}, "data": {"text/plain": "97.5"}},
            ]
        }
    ]
    glued = glued_values(cells)
    assert glued == {"bleu": 38.25}
    claims = [
        Claim("BLEU above 30", lambda g: g["bleu"] > 30),
        Claim("BLEU above 90", lambda g: g["bleu"] > 90),
        Claim("beats the plain decoder", lambda g: g["bleu"] > g["bleu_plain"]),
    ]
    problems = claim_problems("09_test", glued, claims)
    assert problems == [
        "09_test: 'BLEU above 90' does not hold for {'bleu': 38.25}",
        "09_test: 'beats the plain decoder': nothing glued as 'bleu_plain'",
    ]


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
