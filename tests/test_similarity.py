"""Tests of ``rnncourse similarity`` (``rnncourse/instructor/similarity.py``).

A course folder holds ``ex07_lstm_gru``'s instructor and released notebooks, a real SQLite
gradebook that knows the assignment, and submissions made from the release with the answers of
``tests/similarity_corpus.py`` pasted into its solution cells: three learners who wrote their
own answers in different styles, and planted copies (renamed names, reordered lines, changed
comments and spacing, one function pasted from the reference package). The report must flag
exactly the copies, at the default threshold.
"""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest
import torch

from rnncourse.instructor import similarity as sim
from rnncourse.instructor.cli import main
from rnncourse.instructor.course import gradebook_url, tools_on_path
from tests import _nbgrader
from tests import similarity_corpus as corpus

ROOT = Path(__file__).resolve().parents[1]
A = corpus.ASSIGNMENT

#: The pairs the report must flag at the default threshold, and no others.
COPIES = {("ann", "dan"), ("bea", "eve"), ("fay", "rnncourse/gru.py")}


def make_course(root: Path, learners: dict[str, dict[str, str]]) -> Path:
    """A course with ex07's notebooks, a gradebook that knows it, and one submission per
    learner (the release, each given answer pasted into its solution cell)."""
    from nbgrader.api import Gradebook

    tools_on_path()
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    for folder in ("solutions", "exercises"):
        shutil.copytree(ROOT / folder / A, root / folder / A)
    with Gradebook(gradebook_url(root)) as gb:
        gb.add_assignment(A)
    release = _nbgrader.read(_nbgrader.release_path(A))
    for student, answers in learners.items():
        nb = release
        for task, source in answers.items():
            nb = _nbgrader.with_answer(nb, task, source)
        _nbgrader.submit(root, student, A, nb)
    return root


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    course = make_course(tmp_path_factory.mktemp("similarity") / "course", corpus.all_learners())
    _nbgrader.submit(course, "gus", A, _nbgrader.read(_nbgrader.release_path(A)))  # blank
    return course


@pytest.fixture(scope="module")
def result(course: Path) -> sim.Result:
    return sim.similarity(course, A)


def _pairs(result: sim.Result) -> set[tuple[str, str]]:
    return {(p.a, p.b) for p in result.flagged}


# ---------------------------------------------------------------------------------------------
# what is found and what is not
# ---------------------------------------------------------------------------------------------


def test_corpus_answers_are_correct() -> None:
    """Are the corpus's LSTM and GRU answers correct, so that 'independent correct solutions'
    is what the tests compare?"""
    torch.manual_seed(0)
    lstm, gru = torch.nn.LSTMCell(3, 5), torch.nn.GRUCell(3, 5)
    x, h, c = torch.randn(2, 3), torch.randn(2, 5), torch.randn(2, 5)
    for student, answers in corpus.all_learners().items():
        if "lstm_cell" not in answers:  # hal answered the training task only
            continue
        scope = {"torch": torch, "nn": torch.nn, "F": torch.nn.functional}
        exec(answers["lstm_cell"] + answers["gru_cell"], scope)
        with torch.no_grad():
            got = scope["lstm_cell"](x, (h, c), lstm.weight_ih, lstm.weight_hh, lstm.bias_ih,
                                     lstm.bias_hh)  # fmt: skip
            torch.testing.assert_close(got, lstm(x, (h, c)), msg=student)
            got = scope["gru_cell"](x, h, gru.weight_ih, gru.weight_hh, gru.bias_ih, gru.bias_hh)
            torch.testing.assert_close(got, gru(x, h), msg=student)


def test_flags_exactly_the_copies(result: sim.Result) -> None:
    """Are the renamed, the reordered and the pasted-from-the-reference copies flagged, and
    no pair of independent answers, at the default threshold?"""
    assert _pairs(result) == COPIES


@pytest.mark.parametrize(
    ("a", "b", "task"),
    [
        ("ann", "dan", "lstm_cell"),
        ("bea", "eve", "gru_cell"),
        ("fay", "rnncourse/gru.py", "gru_cell"),
    ],
)
def test_copy_scores(result: sim.Result, a: str, b: str, task: str) -> None:
    """Does a renamed or reordered copy score 1, and the pasted reference function at least
    the default threshold with its matched code long enough to count?"""
    pair = next(p for p in result.pairs if (p.a, p.b) == (a, b))
    match = next(m for m in pair.matches if m.task == task)
    if pair.kind == "learner":
        assert pair.score == pytest.approx(1.0)
        assert match.share_a == pytest.approx(1.0) and match.share_b == pytest.approx(1.0)
    else:
        assert pair.kind == "reference" and pair.best.task == "gru_cell"
        assert match.share_a >= sim.DEFAULT_THRESHOLD
        assert match.overlap >= sim.DEFAULT_MIN_OVERLAP


def test_book_copy_ranked(result: sim.Result) -> None:
    """Is a training loop pasted from chapter 7 into an answer that also holds the learner's
    own model ranked against that chapter far above any independent answer's match with the
    book (though, diluted by the model, under the default threshold)?"""
    hal = max((p for p in result.pairs if p.a == "hal"), key=lambda p: p.score)
    assert (hal.b, hal.best.task) == ("book/07_lstm_gru.md", "train_adding_model")
    independent = [
        p.score for p in result.pairs if p.a in corpus.independent() and p.kind == "book"
    ]
    assert hal.score > 0.4 > 2 * max(independent, default=0.0)


def test_independent_answers_score_low(result: sim.Result) -> None:
    """Do independently written answers stay under the default threshold, with each
    other and with the package, the book and the instructor's answers?"""
    independent = set(corpus.independent())
    scores = [p.score for p in result.pairs if p.a in independent and p.b not in {"dan", "eve"}]
    assert scores and max(scores) < sim.DEFAULT_THRESHOLD


def test_release_code_does_not_count(result: sim.Result) -> None:
    """Is a blank submission (the release itself) unanswered, matching nothing, though everyone
    shares its stubs, docstrings and scratch cells?"""
    assert not [p for p in result.pairs if "gus" in (p.a, p.b)]
    assert result.documents["gus"].parts == {}


def test_answer_cells_only(tmp_path: Path) -> None:
    """Are test cells and unanswered cells left out, and a cell the learner added counted as an
    answer?"""
    import nbformat

    release = _nbgrader.read(_nbgrader.release_path(A))
    nb = _nbgrader.with_answer(release, "lstm_cell", corpus.LSTM["ann"])
    nb.cells.append(nbformat.v4.new_code_cell("def helper(v):\n    return v * 2\n"))
    released = [c.source for c in release.cells if c.cell_type == "code"]
    parts = sim.answers_of(nb, sim.answer_ids(_nbgrader.solution_path(A)), released)
    assert parts == {"lstm_cell": corpus.LSTM["ann"], "added": "def helper(v):\n    return v * 2\n"}


def test_book_code_cells() -> None:
    """Does the book's reader return a chapter's code cells without MyST options or magics?"""
    code = sim.book_code(ROOT / "book" / "07_lstm_gru.md")
    assert "import torch" in code
    assert not re.search(r"^(:tags:|%)", code, re.M) and "```" not in code


# ---------------------------------------------------------------------------------------------
# outputs and the command
# ---------------------------------------------------------------------------------------------


def test_command_writes_csv_and_pages(course: Path, capsys: pytest.CaptureFixture) -> None:
    """Does `rnncourse similarity` print the ranked pairs and write the CSV, an index and one
    self-contained side-by-side page per flagged pair, leaving the gradebook as it was?"""
    gradebook = (course / "gradebook.db").read_bytes()
    out = course / "reports" / A / "similarity"
    assert main(["--course", str(course), "similarity", A]) == 0
    text = capsys.readouterr().out
    assert "3 flagged pairs among 8 submissions" in text
    with open(out / "similarity.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == sim.CSV_HEADER
    assert [float(r["score"]) for r in rows] == sorted(
        (float(r["score"]) for r in rows), reverse=True
    )
    flagged = [r for r in rows if r["flagged"] == "1"]
    assert {(r["a"], r["b"]) for r in flagged} == COPIES
    pages = sorted((out / "pairs").glob("*.html"))
    assert len(pages) == 3 and all((out / r["page"]).is_file() for r in flagged)
    for page in [*pages, out / "index.html"]:
        html = page.read_text()
        assert "<script" not in html and "<link" not in html and "@import" not in html
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    page = (out / next(r["page"] for r in flagged if r["b"] == "rnncourse/gru.py")).read_text()
    assert "<mark>" in page and "gru_step" in page and "changes no grade" in page
    assert (course / "gradebook.db").read_bytes() == gradebook


def test_thresholds_are_options(course: Path, tmp_path: Path, capsys) -> None:
    """Does a lower --threshold flag more pairs and --threshold 1 fewer, as the CSV says?"""
    assert main(["--course", str(course), "similarity", A, "--threshold", "0.3",
                 "--min-overlap", "50", "--out", str(tmp_path / "low")]) == 0  # fmt: skip
    assert main(["--course", str(course), "similarity", A, "--threshold", "1",
                 "--out", str(tmp_path / "high")]) == 0  # fmt: skip
    capsys.readouterr()

    def flagged(folder: str) -> set[tuple[str, str]]:
        with open(tmp_path / folder / "similarity.csv", newline="") as f:
            return {(r["a"], r["b"]) for r in csv.DictReader(f) if r["flagged"] == "1"}

    assert flagged("low") > COPIES
    assert flagged("high") == {("ann", "dan"), ("bea", "eve")}


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--threshold", "0"], "--threshold: must be a number in (0, 1], got '0'"),
        (["--threshold", "1.5"], "--threshold: must be a number in (0, 1]"),
        (["--threshold", "lots"], "--threshold: must be a number in (0, 1], got 'lots'"),
        (["--min-overlap", "-1"], "--min-overlap: must be at least 0"),
        (["--noise", "0"], "--noise: must be at least 1"),
    ],
)
def test_bad_threshold_exit_2(course: Path, argv: list[str], needle: str, capsys) -> None:
    """Does a bad threshold stop the parser (exit 2) with a message naming the option?"""
    with pytest.raises(SystemExit) as stop:
        main(["--course", str(course), "similarity", A, *argv])
    assert stop.value.code == 2
    assert needle in capsys.readouterr().err


def test_guarantee_below_noise(course: Path, capsys: pytest.CaptureFixture) -> None:
    """Is a --guarantee shorter than --noise refused, naming both?"""
    assert (
        main(["--course", str(course), "similarity", A, "--noise", "30", "--guarantee", "20"]) == 1
    )
    assert "--guarantee: must be at least --noise (30), got 20" in capsys.readouterr().err


def test_unknown_assignment(course: Path, capsys: pytest.CaptureFixture) -> None:
    """Does an assignment the gradebook does not know exit 1, naming it?"""
    assert main(["--course", str(course), "similarity", "ex99_nothing"]) == 1
    assert "unknown assignment 'ex99_nothing'" in capsys.readouterr().err


def test_no_submissions(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Does an assignment without submissions exit 1 and say where it looked?"""
    course = make_course(tmp_path / "course", {})
    assert main(["--course", str(course), "similarity", A]) == 1
    err = capsys.readouterr().err
    assert f"assignment '{A}': no submissions in" in err and "submitted" in err


def test_no_release(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Without the released notebook (whose stubs must not count), does the command refuse,
    naming the folder?"""
    course = make_course(tmp_path / "course", {"ann": {}})
    shutil.rmtree(course / "exercises" / A)
    assert main(["--course", str(course), "similarity", A]) == 1
    assert f"no released notebook in {course / 'exercises' / A}" in capsys.readouterr().err


def test_library_checks_thresholds() -> None:
    """Does the library refuse thresholds out of range, naming the argument?"""
    with pytest.raises(sim.SimilarityError, match="threshold: must be in"):
        sim.compare([], threshold=0.0)
    with pytest.raises(sim.SimilarityError, match="min_overlap"):
        sim.compare([], min_overlap=-3)
    with pytest.raises(sim.SimilarityError, match="guarantee: must be an integer >= noise"):
        sim.compare([], k=30, guarantee=10)


def test_docstring_examples() -> None:
    """Do the module's docstring examples run and print what they claim?"""
    import doctest

    result = doctest.testmod(sim, verbose=False, report=False)
    assert result.attempted > 0 and result.failed == 0
