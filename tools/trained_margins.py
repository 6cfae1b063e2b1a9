"""How far each trained task's solution is from its pass mark, on this CPU's kernels.

    python tools/trained_margins.py                      # the kernels torch picks here
    ATEN_CPU_CAPABILITY=default python tools/trained_margins.py   # torch's generic kernels

For every benchmark of ``rnncourse.grading`` (``check_trained``), the instructor's solution
in ``solutions/`` trains its model exactly as the grader has it train (the benchmark's
training data, torch seeded, one thread) for each seed its graded cell uses, and the model's
test score is printed against the threshold: ``margin`` is ``threshold / score``, how many
times below the pass mark the solution lands (> 1 passes). A solution that passes on one CPU
only by a hair would fail on another. Exits 1 if any solution fails its check here.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import nbformat
import torch

from rnncourse import grading
from rnncourse.grading import trained

ROOT = Path(__file__).resolve().parents[1]
_CALL = re.compile(r"check_trained\(\s*\"(\w+)\",\s*(\w+)(?:,\s*seed=(\d+))?\)")


def solution_namespace(path: Path) -> dict:
    """Run the notebook's setup and answer cells (not its test cells) in a fresh namespace."""
    namespace: dict = {"__name__": "__solution__"}
    for cell in nbformat.read(path, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("grade"):
            continue  # markdown, or a test cell
        if not (meta.get("solution") or meta.get("locked")):
            continue  # an ungraded scratch cell
        source = "\n".join(
            line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))
        )
        exec(compile(source, f"{path.name}:{meta.get('grade_id')}", "exec"), namespace)  # noqa: S102
    return namespace


def trained_calls() -> list[tuple[Path, str, str, int]]:
    """(solution notebook, benchmark, function name, seed) of every graded trained check."""
    calls = []
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.metadata.get("nbgrader", {}).get("grade"):
                for name, fn, seed in _CALL.findall(cell.source):
                    calls.append((path, name, fn, int(seed or 0)))
    return calls


def main() -> int:
    print(f"kernels: {torch.backends.cpu.get_cpu_capability()}")
    print(f"{'benchmark':<20} {'seed':>4} {'score':>9} {'threshold':>9} {'baseline':>9} "
          f"{'margin':>6} {'seconds':>7}")  # fmt: skip
    namespaces: dict[Path, dict] = {}
    worst = float("inf")
    for path, name, fn_name, seed in trained_calls():
        namespace = namespaces.setdefault(path, solution_namespace(path))
        train_args, _, _ = trained._BENCHMARKS[name].make_data(seed)
        torch.manual_seed(seed)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as check_trained trains
        start = time.perf_counter()
        try:
            model = namespace[fn_name](*train_args)
        finally:
            torch.set_num_threads(threads)
        seconds = time.perf_counter() - start
        model.eval()
        score, baseline, threshold = grading.benchmark_score(name, model, seed=seed)
        margin = threshold / score if score > 0 else float("inf")
        worst = min(worst, margin)
        print(f"{name:<20} {seed:>4} {score:>9.4g} {threshold:>9.4g} {baseline:>9.4g} "
              f"{margin:>6.2f} {seconds:>7.1f}")  # fmt: skip
    return 0 if worst > 1 else 1


if __name__ == "__main__":
    sys.exit(main())
