"""Execute book chapters outside the book build, on chosen CPU kernels and thread counts.

    python -m tests.run_chapter book/09_seq2seq.md [more chapters] [--default-kernels]
        [--threads N] [--out DIR]

Each chapter runs in a fresh kernel in the chapter's folder, as the build runs it. With
``--default-kernels`` the kernel runs under ``ATEN_CPU_CAPABILITY=default``: PyTorch's generic
kernels, which round differently from the AVX2 and AVX-512 ones it picks by itself.
``--threads`` sets the intra-op thread count (``OMP_NUM_THREADS``). The executed notebooks
are written to ``--out``; the command prints each chapter's glued values and whether the
claims of ``tests/claims`` hold for them, and exits 1 if a chapter fails or a claim does not
hold. ``tests/test_book_portable.py`` drives it; authors use it to try a chapter on a
second CPU without rebuilding the book.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.claims import claim_problems, glued_values

ROOT = Path(__file__).resolve().parents[1]
CELL_TIMEOUT = 600  # seconds; the generic kernels are slower than the build's


def kernel_env(default_kernels: bool, threads: int | None) -> dict[str, str]:
    """The environment a chapter's kernel gets: ours, plus the CPU settings asked for."""
    env = dict(os.environ)
    if default_kernels:
        env["ATEN_CPU_CAPABILITY"] = "default"
    if threads is not None:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return env


def execute(chapter: Path, out: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Execute ``chapter`` (MyST Markdown) into ``out`` (ipynb) in a child process with ``env``."""
    code = (
        "import sys, jupytext, nbformat\n"
        "from nbclient import NotebookClient\n"
        "nb = jupytext.read(sys.argv[1])\n"
        f"NotebookClient(nb, timeout={CELL_TIMEOUT}, kernel_name='python3',\n"
        "    resources={'metadata': {'path': sys.argv[3]}}).execute()\n"
        "nbformat.write(nb, sys.argv[2])\n"
    )
    args = [sys.executable, "-c", code, str(chapter), str(out), str(chapter.parent)]
    return subprocess.run(args, env=env, capture_output=True, text=True, cwd=ROOT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="+", type=Path, help="book/NN_name.md files")
    parser.add_argument(
        "--default-kernels", action="store_true", help="ATEN_CPU_CAPABILITY=default"
    )
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads")
    parser.add_argument("--out", type=Path, default=Path("_build/run_chapter"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    env = kernel_env(args.default_kernels, args.threads)
    failed = False
    for chapter in args.chapters:
        out = args.out / f"{chapter.stem}.ipynb"
        start = time.perf_counter()
        proc = execute(chapter.resolve(), out, env)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            print(f"{chapter.stem}: FAILED after {seconds:.0f} s\n{proc.stderr[-3000:]}")
            failed = True
            continue
        glued = glued_values(json.loads(out.read_text(encoding="utf-8"))["cells"])
        problems = claim_problems(chapter.stem, glued)
        values = json.dumps(glued, default=str)
        print(f"{chapter.stem}: executed in {seconds:.0f} s; glued {values}")
        for problem in problems:
            print(f"  claim does not hold: {problem}")
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
