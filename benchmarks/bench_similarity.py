"""How long does ``rnncourse similarity`` take for a class?

Builds a temporary course with ``ex07_lstm_gru`` and K submissions (default 300): each answer
cell holds a different synthetic program of the size of a real answer (a dozen statements drawn
at random from the operations the exercise uses), apart from the corpus of
``tests/similarity_corpus.py`` (three independent learners, two renamed or reordered copies and
one answer pasted from the reference package), so that, as in a real class, almost no pair
matches and the planted ones do. Then runs the command's steps R times (default 2), the
tokeniser's cache emptied before each, and prints the seconds of each step: reading the
notebooks and references, tokenising (Pygments), comparing every pair of answers to the same
task and every answer with every reference, and writing the CSV and the pages. The command is
one process: on a shared machine the spread between repeats is the load of the others.

Usage::

    .venv/bin/python benchmarks/bench_similarity.py              # K = 300, R = 2
    .venv/bin/python benchmarks/bench_similarity.py --n 50 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rnncourse.instructor import similarity as sim  # noqa: E402
from tests import similarity_corpus as corpus  # noqa: E402
from tests.test_similarity import make_course  # noqa: E402

CALLS = ["torch.sigmoid", "torch.tanh", "torch.relu", "F.linear", "torch.matmul", "torch.cat",
         "torch.stack", "torch.zeros_like", "torch.clamp", "torch.exp", "len"]  # fmt: skip
METHODS = ["chunk", "split", "sum", "mean", "t", "unsqueeze", "squeeze", "view", "reshape"]
OPS = ["+", "-", "*", "@", "/", "**", "//"]
BUILTINS = ["abs", "min", "max", "sum", "len", "round", "float", "int", "sorted", "list"]
SIGNATURES = {
    "lstm_cell": "def lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):",
    "gru_cell": "def gru_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):",
    "train_adding_model": "def train_adding_model(x, y):",
}


def synthetic_answer(rng: random.Random, task: str, statements: int = 12) -> str:
    """A random program of about a real answer's size, for timing (it need not run).

    Normalisation turns every name into the same token, so what tells two programs apart is
    their structure, operators, built-ins and constants; these are drawn at random.
    """
    names = ["x", "h", "c", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    lines = [SIGNATURES[task]]

    def num() -> str:
        return str(rng.randint(2, 64)) if rng.random() < 0.5 else f"{rng.random():.2f}"

    for i in range(statements):
        a, b, new = rng.choice(names), rng.choice(names), f"v{i}"
        op, builtin = rng.choice(OPS), rng.choice(BUILTINS)
        kind = rng.randrange(6)
        if kind == 0:
            lines.append(f"    {new} = {rng.choice(CALLS)}({a} {op} {num()} * {b})")
        elif kind == 1:
            lines.append(f"    {new} = {a}.{rng.choice(METHODS)}({num()})[{num()}:]")
        elif kind == 2:
            lines += [f"    {new} = {a}", f"    if {b} is not None and {builtin}({b}) > {num()}:",
                      f"        {new} = {new} {op} {b}"]  # fmt: skip
        elif kind == 3:
            lines += [f"    {new} = {a}", f"    for k in range({num()}):",
                      f"        {new} = {builtin}({new}) {op} {b}[k]"]  # fmt: skip
        elif kind == 4:
            lines.append(f"    {new} = [{a}[i] {op} {num()} for i in range({num()})]")
        else:
            lines.append(f"    {new} = {a} if {b} is None else {builtin}({b}, {num()})")
        names.append(new)
    lines.append(f"    return {names[-1]}, {names[-2]}")
    return "\n".join(lines) + "\n"


def learners(n: int, seed: int = 0) -> dict[str, dict[str, str]]:
    rng = random.Random(seed)
    out = dict(corpus.all_learners())
    for i in range(n - len(out)):
        out[f"s{i:04d}"] = {task: synthetic_answer(rng, task) for task in corpus.TASKS}
    return out


def run(course: Path, out: Path) -> tuple[dict[str, float], sim.Result]:
    sim._FILTERED.clear()
    t0 = time.perf_counter()
    docs, boilerplate = sim.answer_documents(course, corpus.ASSIGNMENT)
    refs = sim.reference_documents(course, corpus.ASSIGNMENT, sim.default_book(course))
    t1 = time.perf_counter()
    codes = [boilerplate, *(c for d in docs for c in d.parts.values()), *(d.code for d in refs)]
    sim._filter_all(codes)
    t2 = time.perf_counter()
    result = sim.similarity(course, corpus.ASSIGNMENT)  # tokens cached: the rest
    t3 = time.perf_counter()
    sim.write_outputs(result, out)
    t4 = time.perf_counter()
    times = {"read": t1 - t0, "tokenise": t2 - t1, "compare": t3 - t2, "write": t4 - t3}
    return times, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="submissions (default: 300)")
    parser.add_argument("--repeat", type=int, default=2, help="runs (default: 2)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rnncourse-bench-sim-") as tmp:
        t = time.perf_counter()
        course = make_course(Path(tmp) / "course", learners(args.n))
        print(f"built {args.n} submissions of {corpus.ASSIGNMENT} in "
              f"{time.perf_counter() - t:.1f} s; {os.cpu_count()} CPUs")  # fmt: skip
        for repeat in range(1, args.repeat + 1):
            times, result = run(course, Path(tmp) / f"out{repeat}")
            docs = [d for d in result.documents.values() if d.kind == "learner"]
            answers = sum(len(d.parts) for d in docs)
            refs = len(result.references)
            same_task = sum(
                len(a.parts.keys() & b.parts.keys())
                for i, a in enumerate(docs)
                for b in docs[i + 1 :]
            )
            total = sum(times.values())
            print(
                f"run {repeat}: {total:.1f} s in all for {result.learners} submissions "
                f"({answers} answers; {same_task} answer pairs + {answers * refs} answer x "
                f"reference comparisons; {len(result.pairs)} pairs scored above 0, "
                f"{len(result.flagged)} flagged)"
            )
            print("    " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))
            flagged = sorted((p.a, p.b) for p in result.flagged)
            print(f"    flagged: {flagged}")


if __name__ == "__main__":
    main()
