"""What book/09_seq2seq.md says about its own results (see tests/claims/__init__.py)."""

from tests.claims import Claim

LENGTHS = range(2, 11)  # the source lengths of the bottleneck table

CLAIMS = [
    # Training table and the bottleneck discussion.
    Claim(
        "after 5 epochs the plain model's training loss was still falling (by at least 0.05)",
        lambda g: g["train_last_plain"] <= g["train_prev_plain"] - 0.05,
    ),
    # Exposure bias.
    Claim(
        "the free-running loss is higher than the teacher-forced one for both models",
        lambda g: g["free_plain"] > g["forced_plain"] and g["free_attn"] > g["forced_attn"],
    ),
    Claim(
        "the gap is largest for the model that makes the most mistakes (plain: >= 3x the gap, "
        "fewer exact matches)",
        lambda g: g["gap_plain"] >= 3 * g["gap_attn"] and g["exact_plain"] < g["exact_attn"],
    ),
    # Scheduled sampling.
    Claim(
        "scheduled sampling shrinks the gap between free-running and teacher-forced loss "
        "(to at most two thirds)",
        lambda g: g["gap_sched"] <= 2 / 3 * g["gap_r1"],
    ),
    Claim(
        "the free-running loss falls with scheduled sampling",
        lambda g: g["free_sched"] < g["free_r1"],
    ),
    Claim(
        "it did not buy correct outputs: exact match drops, and the teacher-forced loss rises",
        lambda g: g["exact_sched"] < g["exact_r1"] and g["forced_sched"] > g["forced_r1"],
    ),
    Claim(
        "the r = 1 row of the scheduled-sampling table is the plain model of the table above",
        lambda g: (
            abs(g["gap_r1"] - g["gap_plain"]) < 1e-9
            and abs(g["exact_r1"] - g["exact_plain"]) < 1e-9
        ),
    ),
    Claim(
        "5 epochs of 2000 strings in batches of 64 are 160 updates",
        lambda g: g["sched_updates"] == 5 * -(-2000 // 64),
    ),
    # Greedy against beam search.
    Claim(
        "the beam counts cover the strings searched, 60 of length 10",
        lambda g: (
            g["long_n"] == 60 and g["beam_better"] + g["beam_same"] + g["beam_worse"] == g["long_n"]
        ),
    ),
    Claim(
        "beam search found the more probable output far more often than greedy (>= 3x, and for "
        "at least half of the strings)",
        lambda g: g["beam_better"] >= 3 * g["beam_worse"] and 2 * g["beam_better"] >= g["long_n"],
    ),
    Claim(
        "in the example, beam beats greedy and the correct reversal is less probable than both "
        "(so both outputs are wrong and no search returns the correct one)",
        lambda g: g["ex_logp_correct"] < g["ex_logp_greedy"] < g["ex_logp_beam"],
    ),
    # The bottleneck.
    Claim(
        "the plain model reverses short strings almost always (>= 0.9 at lengths 2 and 3)",
        lambda g: min(g["acc_plain_2"], g["acc_plain_3"]) >= 0.9,
    ),
    Claim(
        "... and long strings almost never (<= 0.05 at lengths 9 and 10)",
        lambda g: max(g["acc_plain_9"], g["acc_plain_10"]) <= 0.05,
    ),
    Claim(
        "the plain model's exact match falls with source length (each length >= the next - 0.05)",
        lambda g: all(g[f"acc_plain_{L}"] >= g[f"acc_plain_{L + 1}"] - 0.05 for L in LENGTHS[:-1]),
    ),
    Claim(
        "the attention model's accuracy stays high across the lengths (never below 0.75)",
        lambda g: (
            g["acc_attn_min"] >= 0.75
            and g["acc_attn_min"] == min(g[f"acc_attn_{L}"] for L in LENGTHS)
        ),
    ),
    # BLEU and exact match.
    Claim(
        "the two measures tell the same story: attention is far ahead on both "
        "(>= 30 BLEU, >= 0.3 exact match)",
        lambda g: (
            g["bleu_attn"] >= g["bleu_plain"] + 30 and g["exact_attn"] >= g["exact_plain"] + 0.3
        ),
    ),
    # The attention heatmap.
    Claim(
        "the weight concentrates in a band along the anti-diagonal (>= 0.7 within one position, "
        ">= 3x the uniform 0.1 on it)",
        lambda g: g["near_anti"] >= 0.7 and g["mass_on"] >= 0.3,
    ),
    Claim(
        "the band is about two cells wide: anti-diagonal and its right neighbour hold >= 0.6",
        lambda g: g["mass_on"] + g["mass_right"] >= 0.6,
    ),
    Claim(
        "about as much weight one column right of the anti-diagonal as on it (ratio 2/3 to 3/2)",
        lambda g: 2 / 3 <= g["mass_right"] / g["mass_on"] <= 3 / 2,
    ),
    Claim(
        "the band is lopsided: little weight one column left (<= 0.15, <= 1/2.5 of the right)",
        lambda g: g["mass_left"] <= 0.15 and 2.5 * g["mass_left"] <= g["mass_right"],
    ),
    # The bidirectional encoder.
    Claim(
        "with the bidirectional encoder the column to the left still gets little weight "
        "(<= 0.15, within 0.05 of the forward encoder's)",
        lambda g: g["bi_mass_left"] <= 0.15 and abs(g["bi_mass_left"] - g["mass_left"]) <= 0.05,
    ),
    Claim(
        "... far less than the column to the right: the band is still lopsided (>= 2x)",
        lambda g: g["bi_mass_right"] >= 2 * g["bi_mass_left"],
    ),
    Claim(
        "the second encoder moves weight between the anti-diagonal and its right neighbour: "
        "the two change in opposite directions, by >= 0.05 and >= 0.03",
        lambda g: (
            abs(g["bi_mass_on"] - g["mass_on"]) >= 0.05
            and abs(g["bi_mass_right"] - g["mass_right"]) >= 0.03
            and (g["bi_mass_on"] - g["mass_on"]) * (g["bi_mass_right"] - g["mass_right"]) < 0
        ),
    ),
    Claim(
        "the glued directions say how the bidirectional weights compare at two decimals",
        lambda g: all(
            g[f"bi_{side}_direction"]
            == (
                "higher"
                if round(g[f"bi_mass_{side}"], 2) > round(g[f"mass_{side}"], 2)
                else "lower"
                if round(g[f"bi_mass_{side}"], 2) < round(g[f"mass_{side}"], 2)
                else "unchanged"
            )
            for side in ("on", "right")
        ),
    ),
    Claim(
        "both attention models reverse most test strings exactly (>= 0.85)",
        lambda g: min(g["bi_exact"], g["uni_exact"]) >= 0.85,
    ),
]
