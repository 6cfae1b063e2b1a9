"""Forward+backward time of rnncourse.RNN/LSTM/GRU against torch.nn's, as ratios.

Both are timed in the same run on the same inputs, interleaved, after a warm-up; each number
is the median over repeats. Default sizes are the course's benchmark: T=100, N=32, H_in=64,
H=128 (one layer, unidirectional). Run::

    python benchmarks/bench_rnn.py            # CPU, and CUDA where available
    python benchmarks/bench_rnn.py --quick    # fewer repeats, for CI

The ratio ``rnncourse / torch.nn`` is what to read: 1.0 means as fast as torch. The row
``LSTM`` is rnncourse's default, the readable autograd loop over ``lstm_step`` (as ``GRU`` and
``RNN``); ``LSTM-fused`` is the same model with ``fused=True``, the opt-in recurrence
``rnncourse.lstm_fused.LSTMRecurrence`` (one autograd node per layer and direction, backward
written out by hand). On CUDA torch runs cuDNN's fused kernels. On CPU, float32
``torch.nn.LSTM`` runs oneDNN's fused LSTM kernel, while ``torch.nn.GRU``/``RNN`` run ATen's
C++ loop of ordinary ops (the same ops rnncourse issues from Python). The last column times
torch with oneDNN switched off (``torch.backends.mkldnn.flags(enabled=False)``), which
separates "Python loop vs C++ loop" from "separate ops vs one fused kernel".

Measured on a shared 2-core machine (torch 2.13, MKL, ``--threads 1``), default sizes,
medians; ratio to torch.nn / to torch.nn without oneDNN; one run before the readable loop
became the LSTM's default (the fused path was the default then) and one after:

===========================  ==============  ==============
model                        before          after
===========================  ==============  ==============
LSTM, readable loop          1.99 / 0.89     1.92 / 0.97
LSTM, fused recurrence       1.94 / 1.02     1.80 / 1.00
GRU                          1.06 / 1.19     1.17 / 1.11
RNN                          0.99 / 1.00     1.17 / 1.21
===========================  ==============  ==============

``LSTM-proj`` is an LSTM with ``proj_size = H / 4`` (torch.nn runs it without oneDNN, which
has no projections); ``LSTM-packed`` and ``GRU-packed`` take a ``PackedSequence`` of lengths
spread from T to T/4 (rnncourse unpacks it and masks the loop; torch.nn runs its packed kernel,
which skips the finished sequences). One run, ``--threads 1``, same machine: LSTM-proj 1.27 /
1.21, LSTM-packed 0.61 / 0.69, GRU-packed 1.06 / 1.27 (in that run the plain rows read LSTM
3.83 / 0.97, GRU 1.25 / 1.33, RNN 1.03 / 1.14: oneDNN's LSTM kernel was fast that time).

The loop is the default now at a cost of a few percent in training (5-10 % here; run-to-run
noise on a shared machine is of the same size: GRU and RNN, unchanged, moved by 0.1).
Earlier runs on a 2-core AMD EPYC: LSTM fused 2.7-2.9x (1 thread), loop 3.0-3.3x; GRU
0.9-1.25x, RNN 0.8-1.1x. What is left for the LSTM is matrix products: one (N, H) x (H, 4H)
product per step forwards and one backwards through ``torch.mm`` take about as long as
torch.nn.LSTM's whole forward and backward pass, whose oneDNN kernel does the same products
faster.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

import rnncourse


def time_fwd_bwd(
    model: nn.Module, x: torch.Tensor, repeats: int, warmup: int, device: torch.device
) -> float:
    """Median seconds of one forward + backward pass of ``model`` on ``x``."""

    def once() -> None:
        output, _ = model(x)
        data = output.data if isinstance(output, PackedSequence) else output
        data.sum().backward()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        once()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        once()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compare(
    name: str,
    make_ours: Callable[..., nn.Module],
    make_ref: Callable[..., nn.Module],
    args: argparse.Namespace,
    device: torch.device,
) -> tuple[float, float, float]:
    """Time ours and torch's with the same weights and input.

    Returns seconds for (ours, torch.nn, torch.nn without oneDNN); the last is NaN off CPU.
    """
    torch.manual_seed(0)
    ref = make_ref(args.input_size, args.hidden_size, args.num_layers).to(device)
    ours = make_ours(args.input_size, args.hidden_size, args.num_layers).to(device)
    ours.load_state_dict(ref.state_dict())
    x: torch.Tensor | PackedSequence
    x = torch.randn(args.T, args.N, args.input_size, device=device, requires_grad=True)
    if name.endswith("-packed"):
        # lengths spread evenly from T down to T/4 (at least 1), in no particular order
        lengths = torch.linspace(args.T, max(args.T // 4, 1), args.N).long()
        packed = pack_padded_sequence(
            x.detach(), lengths[torch.randperm(args.N)], enforce_sorted=False
        )
        packed.data.requires_grad_(True)  # a leaf, as a caller's packed input is
        x = packed
    ours_times, ref_times, plain_times = [], [], []
    # interleave rounds so that drifts in machine load hit all alike
    for _ in range(args.rounds):
        ref_times.append(time_fwd_bwd(ref, x, args.repeats, args.warmup, device))
        ours_times.append(time_fwd_bwd(ours, x, args.repeats, args.warmup, device))
        if device.type == "cpu":
            with torch.backends.mkldnn.flags(enabled=False):
                plain_times.append(time_fwd_bwd(ref, x, args.repeats, args.warmup, device))
    plain = statistics.median(plain_times) if plain_times else float("nan")
    return statistics.median(ours_times), statistics.median(ref_times), plain


def fused_lstm(input_size: int, hidden_size: int, num_layers: int) -> nn.Module:
    """rnncourse.LSTM on the opt-in fused recurrence (``fused=True``)."""
    return rnncourse.LSTM(input_size, hidden_size, num_layers, fused=True)


def projected(cls: type[nn.Module]) -> Callable[..., nn.Module]:
    """``cls`` (an LSTM) with a projection to P = H / 4, ``proj_size``."""

    def make(input_size: int, hidden_size: int, num_layers: int) -> nn.Module:
        return cls(input_size, hidden_size, num_layers, proj_size=hidden_size // 4)

    return make


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats, for a smoke run")
    parser.add_argument("--T", type=int, default=100)
    parser.add_argument("--N", type=int, default=32)
    parser.add_argument("--input-size", type=int, default=64)
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--num-layers", type=int, default=1)
    parser.add_argument("--device", action="append", help="cpu, cuda (default: all available)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args(argv)
    args.repeats, args.warmup, args.rounds = (3, 1, 1) if args.quick else (10, 3, 3)
    # torch warns about TF32 on oneDNN when its flags are toggled; not relevant here
    warnings.filterwarnings("ignore", message=".*TF32.*")
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.device or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

    print(
        f"forward+backward, T={args.T} N={args.N} H_in={args.input_size} H={args.hidden_size} "
        f"L={args.num_layers}, float32, torch {torch.__version__}, "
        f"{torch.get_num_threads()} CPU threads"
    )
    print(
        f"{'device':<8}{'model':<12}{'rnncourse ms':>14}{'torch.nn ms':>13}{'ratio':>8}"
        f"{'torch.nn w/o oneDNN ms':>24}{'ratio':>8}"
    )
    pairs = [
        ("LSTM", rnncourse.LSTM, nn.LSTM),
        ("LSTM-fused", fused_lstm, nn.LSTM),
        ("GRU", rnncourse.GRU, nn.GRU),
        ("RNN", rnncourse.RNN, nn.RNN),
        ("LSTM-proj", projected(rnncourse.LSTM), projected(nn.LSTM)),
        ("LSTM-packed", rnncourse.LSTM, nn.LSTM),
        ("GRU-packed", rnncourse.GRU, nn.GRU),
    ]
    for name in devices:
        device = torch.device(name)
        for model, ours, ref in pairs:
            t_ours, t_ref, t_plain = compare(model, ours, ref, args, device)
            print(
                f"{name:<8}{model:<12}{t_ours * 1e3:>14.2f}{t_ref * 1e3:>13.2f}"
                f"{t_ours / t_ref:>8.2f}{t_plain * 1e3:>24.2f}{t_ours / t_plain:>8.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
