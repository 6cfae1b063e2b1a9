"""Claims of book/01_sequences.md about its printed numbers (no training: seeded draws only)."""

from tests.claims import Claim

CLAIMS = [
    Claim(
        "the shuffled series has the same values as the original (identical histograms)",
        lambda g: g["same_values"] is True,
    ),
    Claim(
        "the lag-1 correlation of the shuffled series is close to 0 (|r| < 0.2)",
        lambda g: abs(g["lag1_shuffled"]) < 0.2,
    ),
    Claim(
        "the original series has a strong lag-1 correlation that shuffling destroys (r > 0.6)",
        lambda g: g["lag1_series"] > 0.6 and g["lag1_series"] > abs(g["lag1_shuffled"]) + 0.4,
    ),
    Claim(
        "the feedforward outputs for the two bags of words are exactly equal",
        lambda g: g["ff_difference"] == 0.0,
    ),
    Claim(
        "even with random weights the two reviews end in clearly different states (distance > 0.1)",
        lambda g: g["state_distance"] > 0.1,
    ),
]
