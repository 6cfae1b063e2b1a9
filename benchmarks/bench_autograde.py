"""How fast does ``rnncourse autograde`` grade, sequentially and in parallel?

Builds a temporary course with one assignment, K simulated submissions (a third correct, a third
with a diagnosable mistake, a third blank), then autogrades them all with ``--jobs 1`` and with
``--jobs N`` in two copies of the course, and reports submissions per minute and the speed-up.
It also times a bare Jupyter kernel start and a kernel start plus the imports every exercise
notebook makes (torch, ``rnncourse.grading``), to show what dominates one submission's cost.
Both gradebooks are compared at the end (they must be identical). A third copy is graded with
``--jobs N`` and the sandbox off, so that seconds per submission sandboxed and unsandboxed are
measured side by side in one run (the issue's aim: at most 1.1x). A fourth copy is graded with
``--jobs N`` the way stock nbgrader grades (its ``Execute``, sandboxed: the test cells in the
learner's kernel, which the learner's code can rewrite), so that the cost of trusted checks (test
cells in the grader, the learner's functions called over the channel) is measured too (aim: at
most 1.3x).

Usage::

    .venv/bin/python benchmarks/bench_autograde.py              # K = 200, N = os.cpu_count()
    .venv/bin/python benchmarks/bench_autograde.py --n 12 --jobs 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rnncourse.instructor import autograde_parallel as ag  # noqa: E402
from tests import _nbgrader  # noqa: E402
from tests.hostile.corpus import _answers  # noqa: E402

WRONG = (
    "def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity='tanh'):\n"
    "    return torch.tanh(x @ weight_ih.T + bias_ih + bias_hh)  # forgets h\n"
)


#: Appended to a copy's nbgrader_config.py: stock nbgrader's Execute, sandboxed.
STOCK_EXECUTE = """
from rnncourse.instructor.sandbox import SandboxedExecute
c.Autograde.autograde_preprocessors = [
    SandboxedExecute if pp is Execute else pp for pp in Autograde.autograde_preprocessors.default()
]
"""


def kernel_startup(repeats: int, code: str) -> float:
    """Median seconds to start a python3 kernel, run ``code`` and get its reply."""
    from jupyter_client.manager import start_new_kernel

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        km, kc = start_new_kernel(kernel_name="python3")
        try:
            if code:
                kc.execute_interactive(code, timeout=300, output_hook=lambda msg: None)
            times.append(time.perf_counter() - start)
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    return statistics.median(times)


def make_submissions(course: Path, assignment: str, n: int) -> None:
    release = _nbgrader.read(course / "exercises" / assignment / f"{assignment}.ipynb")
    solution = _nbgrader.read(_nbgrader.solution_path(assignment))
    kinds = [_answers(release, solution), _answers(release, solution, rnn_cell=WRONG), release]
    for i in range(n):
        _nbgrader.submit(course, f"s{i:04d}", assignment, kinds[i % 3])


def timed_batch(
    course: Path,
    assignment: str,
    jobs: int,
    timeout: float,
    sandbox: bool = True,
) -> float:
    start = time.perf_counter()
    outcomes = ag.autograde(
        course, assignment, jobs=jobs, timeout=timeout, progress=True, sandbox=sandbox
    )
    wall = time.perf_counter() - start
    bad = [o for o in outcomes if o.status != ag.GRADED]
    if bad:
        print(f"  warning: {len(bad)} not graded: {bad[:3]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="simulated submissions (default 200)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="parallel jobs N")
    parser.add_argument("--assignment", default="ex02_hidden_state")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--kernel-repeats", type=int, default=3)
    args = parser.parse_args()
    ag.tools_on_path()

    with tempfile.TemporaryDirectory(prefix="bench-autograde-") as tmp:
        print(f"generating {args.assignment} and {args.n} submissions ...")
        base = _nbgrader.make_course(Path(tmp), [args.assignment])
        make_submissions(base, args.assignment, args.n)
        parallel = Path(tmp) / "parallel"
        shutil.copytree(base, parallel)
        open_copy = Path(tmp) / "unsandboxed"
        shutil.copytree(base, open_copy)
        in_kernel_copy = Path(tmp) / "in-kernel"
        shutil.copytree(base, in_kernel_copy)
        with open(in_kernel_copy / "nbgrader_config.py", "a") as config:
            config.write(STOCK_EXECUTE)

        bare = kernel_startup(args.kernel_repeats, "")
        loaded = kernel_startup(args.kernel_repeats, "import torch\nfrom rnncourse import grading")
        seq = timed_batch(base, args.assignment, 1, args.timeout)
        par = timed_batch(parallel, args.assignment, args.jobs, args.timeout)
        unsandboxed = timed_batch(open_copy, args.assignment, args.jobs, args.timeout, False)
        in_kernel = timed_batch(in_kernel_copy, args.assignment, args.jobs, args.timeout)
        same_in_kernel = _nbgrader.scores(base, args.assignment) == _nbgrader.scores(
            in_kernel_copy, args.assignment
        )
        same_open = _nbgrader.scores(base, args.assignment) == _nbgrader.scores(
            open_copy, args.assignment
        )
        same = _nbgrader.scores(base, args.assignment) == _nbgrader.scores(
            parallel, args.assignment
        )

    per_sub = seq / args.n
    print()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"kernel start (bare):                        {bare:6.2f} s")
    print(f"kernel start + import torch, grading:       {loaded:6.2f} s")
    print(f"one submission, --jobs 1 (mean):            {per_sub:6.2f} s")
    print(f"  of which kernel start + imports:          {loaded / per_sub:6.0%}")
    print(f"--jobs 1:  {seq:7.1f} s  {60 * args.n / seq:7.1f} submissions/min")
    print(f"--jobs {args.jobs}:  {par:7.1f} s  {60 * args.n / par:7.1f} submissions/min")
    print(f"speed-up: {seq / par:.2f}x with {args.jobs} jobs (ideal {args.jobs}x)")
    print(f"gradebooks identical: {same}")
    n = args.n
    print(f"--jobs {args.jobs}, sandboxed:    {par / n:6.2f} s per submission")
    print(f"--jobs {args.jobs}, unsandboxed:  {unsandboxed / n:6.2f} s per submission")
    print(f"sandbox cost: {par / unsandboxed:.2f}x (aim <= 1.1x); same scores: {same_open}")
    print(f"--jobs {args.jobs}, trusted checks (default): {par / n:6.2f} s per submission")
    print(f"--jobs {args.jobs}, stock nbgrader Execute:  {in_kernel / n:6.2f} s per submission")
    print(
        f"trusted-checks cost: {par / in_kernel:.2f}x (aim <= 1.3x); same scores: {same_in_kernel}"
    )


if __name__ == "__main__":
    main()
