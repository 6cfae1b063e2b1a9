"""The instructor workflow, end to end, with the real nbgrader CLI and its SQLite gradebook.

generate_assignment -> submissions of four students -> autograde -> generate_feedback ->
export, in a temporary copy of the course, for ex02 (the fastest notebook).
"""

from __future__ import annotations

import csv
import html as htmllib

import pytest

from tests._nbgrader import (
    answer_source,
    make_course,
    nbgrader,
    read,
    scores,
    solution_cells,
    solution_path,
    submit,
    with_answer,
)

pytestmark = pytest.mark.slow

EX02 = "ex02_hidden_state"
MAX_SCORE = 7.0
# output_layer without its bias: wrong; count_parameters that forgets the output layer: wrong
WRONG = {
    "output_layer": "def output_layer(h, weight_hy, bias_y):\n    return h @ weight_hy.T\n",
    "count_parameters": "def count_parameters(input_size, hidden_size, output_size):\n"
    "    return hidden_size * (input_size + hidden_size + 2)\n",
}
RAISES = "def output_layer(h, weight_hy, bias_y):\n    raise ValueError('shapes?')\n"
EXPECTED = {
    "full": {
        "test_rnn_cell_batch": 2,
        "test_rnn_cell_unbatched": 1,
        "test_output_layer": 2,
        "test_count_parameters": 2,
    },
    "untouched": {
        "test_rnn_cell_batch": 0,
        "test_rnn_cell_unbatched": 0,
        "test_output_layer": 0,
        "test_count_parameters": 0,
    },
    "one_right": {  # rnn_cell right (both of its tasks), the other two wrong
        "test_rnn_cell_batch": 2,
        "test_rnn_cell_unbatched": 1,
        "test_output_layer": 0,
        "test_count_parameters": 0,
    },
    "raises": {  # all right except output_layer, which raises
        "test_rnn_cell_batch": 2,
        "test_rnn_cell_unbatched": 1,
        "test_output_layer": 0,
        "test_count_parameters": 2,
    },
}


def _submissions(blank, solution):
    full = blank
    for grade_id in solution_cells(blank):
        full = with_answer(full, grade_id, answer_source(solution, grade_id))
    one_right = full
    for grade_id, source in WRONG.items():
        one_right = with_answer(one_right, grade_id, source)
    return {
        "full": full,
        "untouched": blank,
        "one_right": one_right,
        "raises": with_answer(full, "output_layer", RAISES),
    }


def test_generate_autograde_feedback_export(tmp_path):
    """Does the CLI workflow give every student the exact score of every task, and safe feedback?"""
    course = make_course(tmp_path, [EX02])  # nbgrader generate_assignment
    blank = read(course / "exercises" / EX02 / f"{EX02}.ipynb")
    for student, nb in _submissions(blank, read(solution_path(EX02))).items():
        submit(course, student, EX02, nb)

    nbgrader(course, "autograde", EX02)
    assert scores(course, EX02) == EXPECTED

    nbgrader(course, "generate_feedback", EX02)
    hidden_source = [
        line.strip()
        for cell in read(solution_path(EX02)).cells
        if "### BEGIN HIDDEN TESTS" in cell.source
        for line in cell.source.split("### BEGIN HIDDEN TESTS")[1].splitlines()
        if len(line.strip()) > 12 and "END HIDDEN" not in line
    ]
    assert hidden_source
    for student in EXPECTED:
        html = htmllib.unescape((course / "feedback" / student / EX02 / f"{EX02}.html").read_text())
        assert "HIDDEN TESTS" not in html and "_grading" not in html
        assert "seed=" not in html and "seed=2026" not in html
        for line in hidden_source:
            assert line not in html, (student, line)
    feedback = htmllib.unescape(
        (course / "feedback" / "one_right" / EX02 / f"{EX02}.html").read_text()
    )
    assert "output_layer is wrong for" in feedback and "Likely mistake" in feedback

    nbgrader(course, "export", "--to", str(tmp_path / "grades.csv"))
    with open(tmp_path / "grades.csv", newline="") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    assert set(rows) == set(EXPECTED)
    for student, tasks in EXPECTED.items():
        assert float(rows[student]["score"]) == sum(tasks.values())
        assert float(rows[student]["max_score"]) == MAX_SCORE
