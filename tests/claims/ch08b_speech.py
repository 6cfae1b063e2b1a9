"""Claims of book/08b_speech.md about its computed numbers."""

from tests.claims import Claim

CLAIMS = [
    Claim(
        "an utterance is tens to hundreds of frames",
        lambda g: 10 <= g["frames_min"] < 100 <= g["frames_max"] < 1000,
    ),
    Claim(
        "the forward recursion's path count is confirmed by the enumeration",
        lambda g: g["paths_recursion"] == g["paths_enumerated"] > 1,
    ),
    Claim(
        "for the longer inputs p(l|x) underflows to 0, for the shortest it does not",
        lambda g: g["ctc_p_50"] > 0 and g["ctc_p_500"] == 0 and g["ctc_p_5000"] == 0,
    ),
    Claim(
        "the loss stays finite and is the same in all three implementations (to 1e-9)",
        lambda g: g["ctc_loss_5000"] < float("inf") and g["ctc_disagree"] < 1e-9,
    ),
    Claim(
        "the bidirectional recogniser gets most digits right on unseen voices (LER < 0.15)",
        lambda g: g["ler_bi_greedy"] < 0.15 and g["ler_bi_beam"] < 0.15,
    ),
    Claim(
        "the forward-only network is far worse (LER >= 3x and >= 0.15 above the bidirectional)",
        lambda g: g["ler_fwd_greedy"] >= max(3 * g["ler_bi_greedy"], g["ler_bi_greedy"] + 0.15),
    ),
    Claim(
        "on this easy task the beam search changes little (bidirectional: <= 0.02 of LER)",
        lambda g: abs(g["ler_bi_beam"] - g["ler_bi_greedy"]) <= 0.02,
    ),
    Claim(
        "the forward-only network is far worse with beam search too",
        lambda g: g["ler_fwd_beam"] >= g["ler_bi_beam"] + 0.15,
    ),
    Claim(
        "the blank wins almost everywhere: labels win at most a quarter of the example's steps",
        lambda g: g["label_steps"] <= g["example_steps"] / 4,
    ),
    Claim(
        "each label is a short spike, marked once: a few steps per label, at least one",
        lambda g: g["example_labels"] <= g["label_steps"] <= 3 * g["example_labels"],
    ),
]
