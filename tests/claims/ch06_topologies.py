"""What book/06_topologies.md says about its own results."""

from tests.claims import Claim

BASELINE = 1 / 6  # predicting the mean 1 for a sum of two uniform numbers


def _outputs(g, kind):
    return [g[f"{kind}_{i}"] for i in range(1, 5)]


CLAIMS = [
    Claim(
        "a one-step RNN reduces exactly to a one-hidden-layer network",
        lambda g: g["one_step_diff"] < 1e-5,
    ),
    # one-to-many
    Claim(
        "the teacher-forced error falls quickly while the free-running error stays high "
        "(after 100 updates: free-running more than 10 times the teacher-forced)",
        lambda g: g["free_mid"] > 10 * g["forced_mid"],
    ),
    Claim(
        "once the teacher-forced error is very small the free-running error follows it down",
        lambda g: g["forced_final"] < 1e-3 and g["free_final"] < g["free_mid"] / 10,
    ),
    Claim(
        "the three generated waves have the three different periods (each closer to its own "
        "target than to another class's)",
        lambda g: g["free_worst_class"] < g["free_nearest_other"] / 10,
    ),
    # many-to-one
    Claim(
        "the bag-of-words model is no better than the majority guess (within 5 points)",
        lambda g: g["bow_acc"] < g["majority_acc"] + 0.05,
    ),
    Claim(
        '"not" occurs in a large share of the reviews',
        lambda g: g["has_not"] >= 0.3,
    ),
    Claim(
        "the GRU classifies nearly all test reviews correctly and beats bag of words by far",
        lambda g: g["rnn_acc"] >= 0.95 and g["rnn_acc"] >= g["bow_acc"] + 0.3,
    ),
    # the next-number toy
    Claim(
        "the network fits its five examples exactly",
        lambda g: g["toy_train_mse"] < 1e-4 and abs(g["toy_123"] - 4) < 0.05,
    ),
    Claim(
        "it interpolates reasonably: the half-integer window gets close to 5.5",
        lambda g: abs(g["toy_half"] - 5.5) < 0.5,
    ),
    Claim(
        "asked about [7, 8, 9] it answers well short of 10",
        lambda g: g["toy_789"] < 9,
    ),
    Claim(
        "[20, 21, 22] gets about the same: the answers stop growing",
        lambda g: abs(g["toy_202122"] - g["toy_789"]) < 1 and g["toy_202122"] < 10,
    ),
    # many-to-many, aligned
    Claim(
        "the always-0 baseline is high: most words are outside any negation",
        lambda g: g["tag_zero_acc"] > 0.7,
    ),
    Claim(
        'the tagger gets the scope right, including where it ends at "but"',
        lambda g: (
            g["tag_acc"] >= 0.98 and g["tag_acc"] > g["tag_zero_acc"] and g["tag_but_acc"] >= 0.95
        ),
    ),
    # encoder-decoder
    Claim(
        "the decoder has learned something for every output (each well below 1/6)",
        lambda g: max(_outputs(g, "dec")) < 0.8 * BASELINE,
    ),
    Claim(
        "the decoder is not equally good at all outputs",
        lambda g: max(_outputs(g, "dec")) > 2 * min(_outputs(g, "dec")),
    ),
    Claim(
        "the errors form a U: the first and last pairs come out best, the middle two worst",
        lambda g: max(g["dec_1"], g["dec_4"]) < 0.67 * min(g["dec_2"], g["dec_3"]),
    ),
    Claim(
        "every pair sum can be read from h_8 with a smaller error than the decoder's; most of the "
        "decoder's error is made while reading it out (ratio above 2)",
        lambda g: all(g[f"ratio_{i}"] > 2 for i in range(1, 5)),
    ),
    Claim(
        "the probe's best pair is the last one",
        lambda g: g["probe_4"] < 0.7 * min(g["probe_1"], g["probe_2"], g["probe_3"]),
    ),
    Claim(
        "the third pair is read from h_8 as well as the first (within 25 %)",
        lambda g: 0.8 < g["probe_3"] / g["probe_1"] < 1.25,
    ),
    Claim(
        "yet the decoder gets the third pair worst",
        lambda g: g["dec_3"] == max(_outputs(g, "dec")),
    ),
    Claim(
        "the ratio decoder / probe grows steadily from the first output to the last",
        lambda g: (
            g["ratio_1"] < g["ratio_2"] < g["ratio_3"] < g["ratio_4"]
            and g["ratio_4"] > 2 * g["ratio_1"]
        ),
    ),
]
