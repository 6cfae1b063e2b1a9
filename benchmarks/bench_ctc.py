"""Forward+backward time of rnncourse.ctc.ctc_loss against torch.nn.functional.ctc_loss, as ratios.

Both are timed in the same run on the same inputs, interleaved, each number the median of the
repeats. The sizes are those of torch's own ``test_CTCLoss_long_targets``: N=4 utterances, C=3
symbols, float64, ``reduction="sum"``, ``zero_infinity=True``, every input and target at full
length; T=4000 frames with S=1200 labels, and T=1000 with S=300 (the same labels per frame).
Run::

    python benchmarks/bench_ctc.py             # both sizes, CPU
    python benchmarks/bench_ctc.py --quick     # one repeat each
    python benchmarks/bench_ctc.py --threads 1

The ratio ``rnncourse / torch`` is what to read: 1.0 means as fast as torch's C++ kernel.
rnncourse's loss is one autograd node, :class:`rnncourse.ctc.CTCLossFunction`: a Python loop
over frames of log-space alpha (forward) and beta (backward) steps, each a few whole-batch
tensor ops on ``(N, 2S + 1)``; the posteriors and the gradient are computed for all frames at
once at the end. Before it, autograd recorded the loop's graph, and one forward+backward took
1097 s at T=4000 against torch's 12.8 s.

Measured on a shared 2-core machine (torch 2.13, load average about 4), median of 3 rounds,
seconds for one forward+backward:

=====  =====  ==================  ==================
T      S      2 threads: ours /   1 thread: ours /
              torch (ratio)       torch (ratio)
=====  =====  ==================  ==================
1000   300    1.03 / 0.63 (1.63)  1.27 / 0.91 (1.40)
4000   1200   14.4 / 11.5 (1.26)  17.2 / 15.0 (1.15)
=====  =====  ==================  ==================
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from rnncourse.ctc import ctc_loss

SIZES = ((1000, 300), (4000, 1200))


def time_fwd_bwd(fn, log_probs: torch.Tensor, targets: torch.Tensor, repeats: int) -> float:
    """Median seconds of ``fn``'s loss and its gradient with respect to ``log_probs``."""
    T, N, _ = log_probs.shape
    S = targets.shape[1]
    times = []
    for _ in range(repeats):
        x = log_probs.detach().clone().requires_grad_(True)
        start = time.perf_counter()
        loss = fn(x, targets, [T] * N, [S] * N, reduction="sum", zero_infinity=True)
        loss.backward()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat per size")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--T", type=int, action="append", help="only these lengths")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats, rounds = (1, 1) if args.quick else (1, 3)
    print(
        f"CTC forward+backward, N=4 C=3 float64, torch {torch.__version__}, "
        f"{torch.get_num_threads()} CPU threads"
    )
    print(f"{'T':>6}{'S':>6}{'rnncourse s':>13}{'torch s':>10}{'ratio':>8}")
    for T, S in SIZES:
        if args.T and T not in args.T:
            continue
        torch.manual_seed(0)
        log_probs = torch.randn(T, 4, 3, dtype=torch.float64).log_softmax(2)
        targets = torch.randint(1, 2, (4, S))
        ours, theirs = [], []
        # interleave rounds so that drifts in machine load hit both alike
        for _ in range(rounds):
            theirs.append(time_fwd_bwd(F.ctc_loss, log_probs, targets, repeats))
            ours.append(time_fwd_bwd(ctc_loss, log_probs, targets, repeats))
        t_ours, t_theirs = statistics.median(ours), statistics.median(theirs)
        print(f"{T:>6}{S:>6}{t_ours:>13.2f}{t_theirs:>10.2f}{t_ours / t_theirs:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
