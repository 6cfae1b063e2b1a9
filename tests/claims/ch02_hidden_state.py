"""Claims of book/02_hidden_state.md about its printed numbers.

The parameter count and the worked example are deterministic (float64, fixed weights) and are
checked to the digits the prose types; the delayed-recall RNN is trained (200 Adam steps), so
its claims are bounds with margins.
"""

from tests.claims import Claim

H = 16  # hidden units of the delayed-recall RNN (an input of the chapter)

CLAIMS = [
    # parameter counting: deterministic, derived in the prose as 320 + 1024 + 64
    Claim(
        "rnncourse.RNN(10, 32) and torch.nn.RNN(10, 32) both have the formula's 1408 parameters",
        lambda g: g["params_ours"] == g["params_torch"] == 32 * 10 + 32 * 32 + 2 * 32 == 1408,
    ),
    # the worked example: the prose types the terms it works out by hand (4 decimals)
    Claim(
        "worked example: h_2 = (0.3634, 0.7741)",
        lambda g: (
            max(abs(a - b) for a, b in zip(g["hand_h2"], (0.3634, 0.7741), strict=True)) < 1e-9
        ),
    ),
    Claim(
        "worked example, t = 3: the input contributes +1.0000 and the past +1.2505 to unit 2",
        lambda g: abs(g["hand_input3"] - 1.0) < 1e-9 and abs(g["hand_past3"] - 1.2505) < 1e-9,
    ),
    Claim(
        "by hand, rnn_cell and torch.nn.RNN agree to round-off in float64",
        lambda g: g["diff_cell"] < 1e-12 and g["diff_torch"] < 1e-12,
    ),
    # the trained delayed-recall RNN
    Claim(
        "the network solves delayed recall (test accuracy >= 0.98, chance 0.5)",
        lambda g: g["recall_acc"] >= 0.98,
    ),
    Claim(
        "most units (more than half of the 16) follow x_(t-2)",
        lambda g: g["units_d2"] > H // 2,
    ),
    Claim(
        "their median correlation with x_(t-2) is close to 1 (>= 0.9)",
        lambda g: g["median_corr_d2"] >= 0.9,
    ),
    Claim(
        "the other units (at least one) follow x_(t-1) or x_t; no unit follows x_(t-3)",
        lambda g: (
            g["units_d01"] >= 1
            and g["units_d3"] == 0
            and g["units_d0"] + g["units_d1"] == g["units_d01"]
            and g["units_d01"] + g["units_d2"] == H
        ),
    ),
    Claim(
        "no single unit tracks x_(t-3): its largest |correlation| with any unit is small (< 0.3)",
        lambda g: g["max_corr_d3"] < 0.3,
    ),
    Claim(
        "the needed inputs (delays 0 to 2) are read off h_t essentially perfectly (>= 0.99)",
        lambda g: (
            g["probe_needed_min"] >= 0.99
            and g["probe_needed_min"] == min(g["probe_d0"], g["probe_d1"], g["probe_d2"])
        ),
    ),
    Claim(
        "x_(t-3) is recoverable well above chance (>= 0.8)",
        lambda g: g["probe_d3"] >= 0.8,
    ),
    Claim(
        "x_(t-4) less reliably than x_(t-3), but above chance (0.6 <= acc < acc(d=3) - 0.05)",
        lambda g: 0.6 <= g["probe_d4"] < g["probe_d3"] - 0.05,
    ),
    Claim(
        "the accuracy drops steeply after d = 3 (by >= 0.2 within two more delays)",
        lambda g: g["probe_d3"] - g["probe_d5"] >= 0.2,
    ),
    Claim(
        "it is close to the 50 % line at d = 6 and d = 7 (< 0.6)",
        lambda g: g["probe_d6"] < 0.6 and g["probe_d7"] < 0.6,
    ),
]
