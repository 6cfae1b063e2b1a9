"""Claims of book/10b_applications.md about its computed numbers."""

from tests.claims import Claim

KINDS = ("no_not", "with_not", "agree", "disagree")  # the four kinds of review
NOISE = 0.1  # standard deviation of the sine's noise in the anomaly section

CLAIMS = [
    # sentiment
    Claim(
        "the bag of words does best on reviews without 'not' (by >= 10 points over other kinds)",
        lambda g: all(g["acc_bow_no_not"] >= g[f"acc_bow_{k}"] + 0.10 for k in KINDS[1:]),
    ),
    Claim(
        "the bag of words fails on almost every negated review (< 20 % right)",
        lambda g: g["acc_bow_with_not"] < 0.20,
    ),
    Claim(
        "bigrams repair only part of negation (>= 20 points better than words, < 90 %)",
        lambda g: g["acc_bow_with_not"] + 0.20 <= g["acc_bigram_with_not"] < 0.90,
    ),
    Claim(
        "around 'but' bigrams are hardly better than a coin where the clauses disagree (<= 62 %)",
        lambda g: g["acc_bigram_disagree"] <= 0.62,
    ),
    Claim(
        "the GRU handles all four kinds (>= 90 % on each, better than bigrams on each)",
        lambda g: all(
            g[f"acc_gru_{k}"] >= 0.90 and g[f"acc_gru_{k}"] > g[f"acc_bigram_{k}"] for k in KINDS
        ),
    ),
    Claim(
        "swapping the clauses around 'but' leaves the bag of words unchanged",
        lambda g: g["same_bag"] is True,
    ),
    # anomalies
    Claim(
        "the last-value threshold sits above most injected jumps (0.4 to 0.7) and misses most "
        "anomalies (recall <= 50 %)",
        lambda g: g["theta_naive"] > 0.55 and g["recall_naive"] <= 0.50,
    ),
    Claim(
        "the GRU's errors are close to the noise level (RMS <= 1.5 x 0.1 on the training steps)",
        lambda g: g["rms_gru_fit"] <= 1.5 * NOISE,
    ),
    Claim(
        "the same rule with the GRU catches far more anomalies (recall >= 25 points higher)",
        lambda g: g["recall_gru"] >= g["recall_naive"] + 0.25,
    ),
    Claim(
        "the GRU raises false alarms, most of them 1 or 2 steps after an injected spike",
        lambda g: g["fa_total"] >= 1 and g["fa_close"] > g["fa_total"] / 2,
    ),
    Claim(
        "only a small share of the monitored normal steps lie 1 or 2 steps after a spike (<= 10 %)",
        lambda g: 0 < g["fa_chance"] <= 0.10,
    ),
    Claim(
        "the counts add up: explained + unexplained = all false alarms",
        lambda g: g["fa_close"] + g["fa_others"] == g["fa_total"],
    ),
    Claim(
        "the unexplained false alarms are few, of the order of the one in a thousand expected "
        "(at most expected + 2)",
        lambda g: g["fa_others"] <= g["fa_expected"] + 2,
    ),
    # churn
    Claim(
        "the static snapshot is well short of the best possible accuracy (>= 5 points)",
        lambda g: g["acc_static"] <= g["acc_bayes"] - 0.05,
    ),
    Claim(
        "the static snapshot beats the majority answer (>= 3 points)",
        lambda g: g["acc_static"] >= g["acc_majority"] + 0.03,
    ),
    Claim(
        "the GRU gets close to the best possible accuracy (within 3 points)",
        lambda g: abs(g["acc_gru"] - g["acc_bayes"]) <= 0.03,
    ),
    Claim(
        "the logistic regression with the slope does about as well as the GRU (within 2 points), "
        "and also within a few points of the best possible",
        lambda g: (
            abs(g["acc_slope"] - g["acc_gru"]) <= 0.02
            and abs(g["acc_slope"] - g["acc_bayes"]) <= 0.03
        ),
    ),
]
