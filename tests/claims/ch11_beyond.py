"""Claims of book/11_beyond.md about its computed numbers.

The chapter's timings change with the machine and with its load (on a shared two-core machine
one block of measurements came out two to three times slower than the next), and a test of a
time fails on a busy machine. So the prose pastes the times it measured, says "in this run",
and leaves the comparison to the sentences its cells write from the measurement and to
``benchmarks/bench_scan.py``; no claim here reads a time. The claims are about precision.
"""

from tests.claims import Claim

CLAIMS = [
    Claim(
        "in double precision the scan and the loop agree to round-off (relative < 1e-9)",
        lambda g: g["rel64_max"] < 1e-9,
    ),
    Claim(
        "in single precision the relative difference grows with T (T = 4000 >= 10x T = 10)",
        lambda g: g["rel32_4000"] >= 10 * g["rel32_10"] and g["rel32_4000"] > 100 * g["rel64_max"],
    ),
    Claim(
        "the MinGRU module's parallel and sequential modes agree (float32 round-off, < 1e-4)",
        lambda g: g["module_diff"] < 1e-4,
    ),
]
