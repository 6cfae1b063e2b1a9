"""What book/05_gradients.md says about its own results."""

from tests.claims import Claim

RHOS = {"05": 0.5, "09": 0.9, "10": 1.0, "15": 1.5, "30": 3.0}

CLAIMS = [
    # the spectral radius, measured
    Claim(
        "the default initialisation sits comfortably inside the unit circle",
        lambda g: g["rho_init"] < 0.8,
    ),
    Claim(
        "its largest singular value is larger than its spectral radius, and above 1",
        lambda g: g["sigma_init"] > 1 > g["rho_init"],
    ),
    Claim(
        "at rho = 1.5 a good share of the 64 eigenvalues lie outside the circle (none at 0.5 or 1)",
        lambda g: g["outside_15"] >= 10 and g["outside_05"] == 0 and g["outside_10"] == 0,
    ),
    # gradient norm against distance
    Claim(
        "at rho = 0.5 and 0.9 the gradient 50 steps back is many orders of magnitude below",
        lambda g: g["back50_05"] < 1e-3 and g["back50_09"] < 1e-3,
    ),
    Claim(
        "at rho = 0.5 the norm 100 steps back underflows to exactly zero",
        lambda g: g["norm100_05"] == 0,
    ),
    Claim(
        "at rho = 1.0 the gradient still decays",
        lambda g: g["rate_10"] < 1 and g["back100_10"] < 1e-2,
    ),
    Claim(
        "the gradient grows going back: more than an order of magnitude over 100 steps at "
        "rho = 1.5, many orders at rho = 3",
        lambda g: g["back100_15"] > 10 and g["back100_30"] > 1e6,
    ),
    Claim(
        "the measured factor per step is below rho in every case",
        lambda g: all(g[f"rate_{key}"] < rho for key, rho in RHOS.items()),
    ),
    # exploding, and clipping
    Claim(
        "without clipping the run is dead within the first epoch (40 steps)",
        lambda g: g["dead_diverged"] is True and g["dead_steps"] < 40,
    ),
    Claim(
        "with clipping training continues for all 80 steps",
        lambda g: g["clip_diverged"] is False and g["clip_steps"] == 80,
    ),
    Claim(
        "the clipped run's largest gradient norm is thousands of times the threshold 1",
        lambda g: g["clip_max_norm"] >= 1e3,
    ),
    Claim(
        "after step 15 most steps of the clipped run are still above the threshold",
        lambda g: g["clip_late_above"] > 0.5,
    ),
    Claim(
        "the clipped run's loss falls from its first step but ends above the 1/6 baseline "
        "(mean of the last 20 steps)",
        lambda g: 1 / 6 < g["clip_last20"] < g["clip_first_loss"],
    ),
    # clipping by norm or by value
    Claim(
        "norm clipping: norm (just under) 1 and cosine 1 to printing precision",
        lambda g: g["cos_norm"] > 0.99995 and 0.99 < g["norm_norm"] <= 1.0 + 1e-6,
    ),
    Claim(
        "value clipping at 1 leaves a much larger vector that points somewhere else",
        lambda g: g["norm_value1"] > 10 * g["norm_norm"] and g["cos_value1"] < 0.9,
    ),
    Claim(
        "value clipping at 0.01: cosine with the original no better than at 1",
        lambda g: g["cos_value001"] < g["cos_value1"] + 0.02,
    ),
    # clipping does not cure vanishing
    Claim(
        "the clipping factor is below one and the share of the term 40 steps back is negligible",
        lambda g: g["vanish_factor"] < 1 and g["share_40_before"] < 1e-8,
    ),
    # vanilla RNN "fast to train"?
    Claim(
        "an LSTM layer has four times the weights of an RNN layer, a GRU three times",
        lambda g: (g["params_gru"], g["params_lstm"]) == (3 * g["params_rnn"], 4 * g["params_rnn"]),
    ),
    Claim(
        "with T = 5 the network gets well below both lines, the half-solution 1/12 included",
        lambda g: g["adding_final_t5"] < 0.6 / 12,
    ),
    Claim(
        "with T = 100 the same network stays at the 1/6 baseline",
        lambda g: g["adding_best_t100"] > 0.85 / 6 and g["adding_final_t100"] < 1.15 / 6,
    ),
    # check your understanding
    Claim(
        "question 1: the prediction from the printed factor and norm matches the printout",
        lambda g: 0.67 < g["q1_predicted"] / g["q1_measured"] < 1.5,
    ),
]
