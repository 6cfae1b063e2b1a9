"""The book's claims hold on another CPU: the chapters that train, on the generic kernels.

PyTorch picks its CPU kernels by what the processor offers (AVX-512, AVX2, ...), and
``ATEN_CPU_CAPABILITY=default`` forces the generic ones, which add floating-point numbers in
another order. Thread counts change the order of reductions too. A few hundred training
steps turn such last-digit differences into a visibly different model, so the prose of a
chapter that trains may only claim what holds for every such run (``tests/claims``).

Here every chapter that trains a model is executed once more, outside the build, under
``ATEN_CPU_CAPABILITY=default`` and with another intra-op thread count than the build's,
and its claims are checked on what it glued. Chapters that train nothing give the same
results on every kernel setting up to rounding, and keep the build's run (``test_book``
checks their claims there).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from tests._site import chapter_sources
from tests.claims import claim_problems, glued_values
from tests.run_chapter import execute, kernel_env

# A chapter trains if its code takes optimizer steps: fit(), opt.step(), train_*().
_TRAINS = re.compile(r"\bfit\(|\.step\(\)|\btrain_\w+\(")
_CODE = re.compile(r"```\{code-cell\}[^\n]*\n(.*?)```", re.DOTALL)
# The build runs with torch's own thread count; this run uses another one.
THREADS = 1 if torch.get_num_threads() != 1 else 2


def training_chapters() -> list[Path]:
    """The chapters whose code cells train a model."""
    return [
        p
        for p in chapter_sources()
        if any(_TRAINS.search(code) for code in _CODE.findall(p.read_text(encoding="utf-8")))
    ]


def test_training_chapters_are_found() -> None:
    """Are the chapters that train models the ones this module re-runs (and no others)?"""
    stems = {p.stem for p in training_chapters()}
    assert {"05_gradients", "07_lstm_gru", "09_seq2seq", "10_applications"} <= stems
    assert not {"01_sequences", "03_unrolling"} & stems


def test_kernel_env_selects_generic_kernels_and_threads() -> None:
    """Does a child process started with kernel_env run torch's generic kernels, N threads?"""
    env = kernel_env(default_kernels=True, threads=THREADS)
    code = "import torch; print(torch.backends.cpu.get_cpu_capability(), torch.get_num_threads())"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["DEFAULT", str(THREADS)]


@pytest.mark.slow
def test_claims_hold_on_generic_kernels(tmp_path: Path) -> None:
    """Does every chapter that trains run, and keep its claims, on the generic kernels?"""
    env = kernel_env(default_kernels=True, threads=THREADS)
    chapters = training_chapters()
    # Two chapters at a time: each kernel uses THREADS threads (1 on a multi-core machine).
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda p: execute(p, tmp_path / f"{p.stem}.ipynb", env), chapters))
    problems = []
    for chapter, run in zip(chapters, runs, strict=True):
        if run.returncode != 0:
            problems.append(f"{chapter.stem}: did not execute:\n{run.stderr[-2000:]}")
            continue
        cells = json.loads((tmp_path / f"{chapter.stem}.ipynb").read_text("utf-8"))["cells"]
        glued = glued_values(cells)
        values = json.dumps(glued, default=str)
        print(f"{chapter.stem} (generic kernels, {THREADS} thread(s)): {values}")
        problems += claim_problems(chapter.stem, glued)
    assert not problems, "\n".join(problems)
