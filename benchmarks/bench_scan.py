"""Time minGRU's sequential loop against its parallel scans as the sequence grows (chapter 11).

For each length T the three computations run on the same inputs in the same process:

- ``sequential``: :func:`rnncourse.scan.min_gru_sequential`, one small step per time step;
- ``log scan``: :func:`rnncourse.scan.min_gru_parallel` with ``activation="g"`` (Heinsen's
  log-space scan: ``cumsum`` + ``logcumsumexp``);
- ``HS scan``: the same with ``activation=None`` (Hillis-Steele scan, ceil(log2 T) rounds).

The table reports the median time of each and the ratio sequential / parallel, which is the
number to compare between machines (absolute times depend on the machine, ratios much less).

Usage::

    python benchmarks/bench_scan.py                      # CPU, forward only
    python benchmarks/bench_scan.py --backward           # forward + backward (training)
    python benchmarks/bench_scan.py --device cuda --lengths 64 256 1024 4096 16384
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from rnncourse.scan import min_gru_parallel, min_gru_sequential


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 256, 1024, 4096])
    parser.add_argument("--batch", type=int, default=8, help="N")
    parser.add_argument("--input-size", type=int, default=32, help="H_in")
    parser.add_argument("--hidden-size", type=int, default=64, help="H")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--backward", action="store_true", help="time forward + backward")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    return parser.parse_args()


def timed(fn: Callable[[], None], device: torch.device, repeats: int) -> float:
    """Median wall time of ``fn`` in seconds, after one warm-up call."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    args = parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    gen = torch.Generator().manual_seed(0)
    N, H_in, H = args.batch, args.input_size, args.hidden_size

    def param(*shape: int) -> torch.Tensor:
        w = torch.randn(*shape, generator=gen, dtype=dtype) / H_in**0.5
        return w.to(device).requires_grad_(args.backward)

    weights = (param(H, H_in), param(H, H_in), param(H), param(H))

    print(
        f"minGRU N={N} H_in={H_in} H={H} {args.dtype} on {device} "
        f"({'forward + backward' if args.backward else 'forward'}, "
        f"median of {args.repeats}, threads={torch.get_num_threads()})"
    )
    header = f"{'T':>6} {'sequential':>12} {'log scan':>10} {'HS scan':>10}"
    print(header + f" {'seq/log':>8} {'seq/HS':>8}")
    for T in args.lengths:
        x = torch.randn(T, N, H_in, generator=gen, dtype=dtype).to(device)

        def run(
            fn: Callable[..., torch.Tensor], activation: str | None, x: torch.Tensor = x
        ) -> Callable[[], None]:
            def call() -> None:
                if args.backward:
                    fn(x, *weights, activation=activation).sum().backward()
                else:
                    with torch.no_grad():
                        fn(x, *weights, activation=activation)

            return call

        seq = timed(run(min_gru_sequential, "g"), device, args.repeats)
        log = timed(run(min_gru_parallel, "g"), device, args.repeats)
        hs = timed(run(min_gru_parallel, None), device, args.repeats)
        print(
            f"{T:>6} {seq * 1e3:>10.2f}ms {log * 1e3:>8.2f}ms {hs * 1e3:>8.2f}ms"
            f" {seq / log:>7.1f}x {seq / hs:>7.1f}x"
        )


if __name__ == "__main__":
    main()
