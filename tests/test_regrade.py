"""Regrade preview: does ``--preview`` show every change without writing, and ``--apply`` commit it?

A course with three submissions of ``ex02_hidden_state`` is graded; then the instructor changes a
test (``test_count_parameters`` now expects the count without the output layer) and records it
with ``nbgrader generate_assignment --force``. The change lowers the correct answer's score and
raises the answer that leaves the output layer out. Real nbgrader, real gradebook, real sandbox.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from rnncourse.instructor import regrade
from rnncourse.instructor.cli import main
from tests import _nbgrader
from tests.hostile import released_course
from tests.hostile.corpus import ASSIGNMENT, FULL, _answers

pytestmark = pytest.mark.slow

NO_READOUT = (
    "def count_parameters(input_size, hidden_size, output_size):\n"
    "    return hidden_size * (input_size + hidden_size + 2)\n"
)
NEW_TEST = (
    '"""Does count_parameters count the recurrent layer (the readout is counted elsewhere)?"""\n'
    "assert count_parameters(3, 4, 3) == 4 * (3 + 4 + 2), 'count the recurrent layer only'\n"
)


def _change_test(course: Path) -> None:
    path = course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_count_parameters":
            cell.source = NEW_TEST
    nbformat.write(nb, path)
    _nbgrader.nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")


@pytest.fixture(scope="module")
def previewed(tmp_path_factory: pytest.TempPathFactory):
    course = released_course(tmp_path_factory.mktemp("regrade") / "course")
    release = _nbgrader.read(course / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    solution = _nbgrader.read(_nbgrader.solution_path(ASSIGNMENT))
    _nbgrader.submit(course, "right", ASSIGNMENT, _answers(release, solution))
    _nbgrader.submit(course, "no_readout", ASSIGNMENT,
                     _answers(release, solution, count_parameters=NO_READOUT))  # fmt: skip
    _nbgrader.submit(course, "blank", ASSIGNMENT, release)
    argv = ["--course", str(course), "autograde", ASSIGNMENT, "--jobs", "2", "--no-progress"]
    assert main(argv) == 0
    before = _nbgrader.scores(course, ASSIGNMENT)
    _change_test(course)
    snapshot = (course / "gradebook.db").read_bytes()
    autograded = {p: p.read_bytes() for p in (course / "autograded").rglob("*.ipynb")}
    assert main([*argv, "--force", "--preview"]) == 0
    return course, before, snapshot, autograded


def test_scores_before_the_change(previewed) -> None:
    """Were the three submissions graded as expected before the test changed?"""
    _, before, *_ = previewed
    assert before["right"] == FULL
    assert before["no_readout"] == {**FULL, "test_count_parameters": 0.0}
    assert sum(before["blank"].values()) == 0


def test_preview_writes_nothing_real(previewed) -> None:
    """Are gradebook.db and every autograded notebook byte for byte as before the preview?"""
    course, _, snapshot, autograded = previewed
    assert (course / "gradebook.db").read_bytes() == snapshot
    assert {p: p.read_bytes() for p in (course / "autograded").rglob("*.ipynb")} == autograded


def test_preview_shows_raised_and_lowered(previewed, capsys) -> None:
    """Does the preview record one score lowered, one raised and one unchanged, by task?"""
    course, *_ = previewed
    record = json.loads((course / regrade.PREVIEW_DIR / ASSIGNMENT / "preview.json").read_text())
    changes = {c["student"]: c for c in record["changes"]}
    assert changes["right"]["tasks"] == {"test_count_parameters": [2.0, 0.0]}
    assert changes["no_readout"]["tasks"] == {"test_count_parameters": [0.0, 2.0]}
    assert changes["blank"]["tasks"] == {}
    assert (changes["right"]["old"], changes["right"]["new"]) == (7.0, 5.0)


def test_apply_commits_exactly_the_preview(previewed) -> None:
    """After --apply, does the gradebook hold the previewed scores, and is the scratch gone?"""
    course, before, *_ = previewed
    assert main(["--course", str(course), "autograde", ASSIGNMENT, "--apply"]) == 0
    after = _nbgrader.scores(course, ASSIGNMENT)
    assert after["right"] == {**FULL, "test_count_parameters": 0.0}
    assert after["no_readout"] == FULL
    assert after["blank"] == before["blank"]
    assert not (course / regrade.PREVIEW_DIR / ASSIGNMENT).exists()
    with pytest.raises(regrade.PreviewError, match="no regrade preview"):
        regrade.apply(course, ASSIGNMENT)


def test_apply_refuses_a_changed_gradebook(tmp_path) -> None:
    """Is a preview refused once the gradebook changed after it was made?"""
    course = released_course(tmp_path / "course")
    scratch = course / regrade.PREVIEW_DIR / ASSIGNMENT
    scratch.mkdir(parents=True)
    (scratch / "preview.json").write_text(json.dumps({"gradebook_sha256": "0" * 64, "changes": []}))
    assert main(["--course", str(course), "autograde", ASSIGNMENT, "--apply"]) == 1
    with pytest.raises(regrade.PreviewError, match="changed since the preview"):
        regrade.apply(course, ASSIGNMENT)
