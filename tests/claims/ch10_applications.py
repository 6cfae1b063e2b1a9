"""What ``book/10_applications.md`` says about its own results (see ``tests/claims``)."""

from __future__ import annotations

import math

from tests.claims import Claim

SUNSPOT_MODELS = ("naive", "ar", "gru")
STOCK_MODELS = ("ar", "gru_price", "gru_ret")


def _ppl_words_fit(g) -> bool:
    """'A fair choice among six or seven' names the whole numbers either side of the perplexity."""
    words = "zero one two three four five six seven eight nine ten eleven twelve".split()
    ppl = g["ppl_gru"]
    said = g["ppl_words"]
    if said.startswith("about "):
        return abs(ppl - words.index(said.removeprefix("about "))) < 0.5
    lo, hi = (words.index(w) for w in said.split(" or "))
    return hi == lo + 1 and lo <= ppl <= hi


CLAIMS = [
    # --- the character language model: a ladder of context --------------------------------
    Claim(
        "the count baselines: a uniform guess over 60 characters is log2(60) bpc (perplexity 60)",
        lambda g: g["n_chars"] == 60 and abs(g["bpc_uniform"] - math.log2(60)) < 1e-9,
    ),
    Claim(
        "the bigram table beats the unigram table, which beats the uniform guess (>= 0.5 bpc each)",
        lambda g: g["bpc_bigram"] + 0.5 <= g["bpc_unigram"] <= g["bpc_uniform"] - 0.5,
    ),
    Claim(
        "the perplexity of the bigram table is 2 ** its bpc",
        lambda g: abs(g["ppl_bigram"] - 2 ** g["bpc_bigram"]) < 1e-9,
    ),
    Claim(
        "the GRU with its state carried beats the same GRU reset every 32 characters "
        "(by >= 0.03 bpc)",
        lambda g: g["bpc_gru"] + 0.03 <= g["bpc_reset"],
    ),
    Claim(
        "the reset GRU is still far better than the bigram table (by >= 0.3 bpc)",
        lambda g: g["bpc_reset"] + 0.3 <= g["bpc_bigram"],
    ),
    Claim(
        "both GRUs beat the uniform guess by far (by >= 2.5 bpc)",
        lambda g: max(g["bpc_gru"], g["bpc_reset"]) + 2.5 <= g["bpc_uniform"],
    ),
    Claim(
        "perplexity is 2 ** bpc and the loss in nats is bpc * ln 2 (check-your-understanding 1)",
        lambda g: (
            abs(g["ppl_gru"] - 2 ** g["bpc_gru"]) < 1e-9
            and abs(g["nats_gru"] - g["bpc_gru"] * math.log(2)) < 1e-9
        ),
    ),
    Claim(
        "'as unsure as a fair choice among six or seven': the words bracket the perplexity",
        _ppl_words_fit,
    ),
    # --- the samples ------------------------------------------------------------------------
    Claim(
        "after one epoch the sample has line breaks",
        lambda g: g["ep1_breaks"] >= 1,
    ),
    Claim(
        "after one epoch, capitals after the line breaks (most new lines start with one)",
        lambda g: g["ep1_capital_share"] > 0.5,
    ),
    Claim(
        "after one epoch, word-sized clumps of letters (mean length 2 to 8)",
        lambda g: 2 <= g["ep1_word_len"] <= 8,
    ),
    Claim(
        "by the sixth epoch, short words of the sonnets (at least two, of three letters or "
        "more) are spelled right",
        lambda g: g["ep6_n_real"] >= 2 and len(g["ep6_real_words"].split(", ")) >= 2,
    ),
    Claim(
        "by the sixth epoch, complete lines have a verse-like length "
        "(within 40 % of the sonnets' mean line length)",
        lambda g: 0.6 * g["sonnet_line_len"] <= g["ep6_line_len"] <= 1.4 * g["sonnet_line_len"],
    ),
    Claim(
        "the sonnets' lines average about 42 characters (a fact of the data, no training)",
        lambda g: 40 <= g["sonnet_line_len"] <= 45,
    ),
    Claim(
        "'while all 5 (or 3 of the 5) words of five letters or more are invented': the "
        "sixth epoch's sample has such words, and some of them are invented",
        lambda g: g["ep6_long"] >= 1 and 1 <= g["ep6_long_invented"] <= g["ep6_long"],
    ),
    # --- temperature (measured on 1,000 characters drawn at each) --------------------------
    Claim(
        "the share of words that occur in the sonnets falls as the temperature rises "
        "(0.5 > 1 > 1.5, by >= 0.1 each step)",
        lambda g: g["real_share_05"] - 0.1 >= g["real_share_10"] >= g["real_share_15"] + 0.1,
    ),
    Claim(
        "at tau = 0.5 the same short words come back again and again: few distinct words "
        "(under half), and most words occur in the sonnets (over 70 %)",
        lambda g: g["distinct_share_05"] < 0.5 and g["real_share_05"] > 0.7,
    ),
    Claim(
        "more variety as the temperature rises: the share of distinct words grows "
        "(0.5 < 1 < 1.5, by >= 0.1 each step)",
        lambda g: (
            g["distinct_share_05"] + 0.1 <= g["distinct_share_10"] <= g["distinct_share_15"] - 0.1
        ),
    ),
    Claim(
        "rare characters turn up far more often at tau = 1.5 than at tau = 0.5 (at least "
        "twice as often)",
        lambda g: g["rare_per_100_15"] >= 2 * g["rare_per_100_05"],
    ),
    # --- the word-level model ---------------------------------------------------------------
    Claim(
        "the word model follows the corpus frequencies closely (largest gap <= 0.1)",
        lambda g: 0 <= g["word_max_gap"] <= 0.1,
    ),
    Claim(
        "'the sky is blue' is its answer: blue is the most probable continuation",
        lambda g: g["p_sky_blue"] > max(g["p_sky_grey"], g["p_sky_clear"]),
    ),
    Claim(
        "blue followed 'the sky is' in about six sky sentences in ten (drawn with 6 in 10)",
        lambda g: 0.5 <= g["freq_sky_blue"] <= 0.7,
    ),
    # --- sunspots ---------------------------------------------------------------------------
    Claim(
        "the seasonal-naive forecast is the worst of all (MAE and RMSE)",
        lambda g: all(
            g[f"ss_{m}_seasonal"] > g[f"ss_{m}_{k}"]
            for m in ("mae", "rmse")
            for k in SUNSPOT_MODELS
        ),
    ),
    Claim(
        "the GRU and the linear autoregression both beat the naive forecast by a wide margin "
        "(>= 25 % lower MAE and RMSE)",
        lambda g: all(
            g[f"ss_{m}_{k}"] <= 0.75 * g[f"ss_{m}_naive"]
            for m in ("mae", "rmse")
            for k in ("ar", "gru")
        ),
    ),
    Claim(
        "the GRU-AR difference is small compared with the gap to the naive forecast "
        "(at most half of it, MAE and RMSE)",
        lambda g: all(
            abs(g[f"ss_{m}_gru"] - g[f"ss_{m}_ar"])
            <= 0.5 * (g[f"ss_{m}_naive"] - max(g[f"ss_{m}_gru"], g[f"ss_{m}_ar"]))
            for m in ("mae", "rmse")
        ),
    ),
    Claim(
        "'here the ... is ahead, by ...': the glued name and difference match the MAEs",
        lambda g: (
            (g["ss_ahead"] == "GRU") == (g["ss_mae_gru"] < g["ss_mae_ar"])
            and abs(g["ss_mae_diff"] - abs(g["ss_mae_gru"] - g["ss_mae_ar"])) < 1e-9
        ),
    ),
    # --- simulated stock prices -------------------------------------------------------------
    Claim(
        "no model beats the random walk by a meaningful margin (MAE and RMSE >= 0.99 of naive)",
        lambda g: all(
            g[f"st_{m}_ratio_{k}"] >= 0.99 for m in ("mae", "rmse") for k in STOCK_MODELS
        ),
    ),
    Claim(
        "the GRU on standardised prices is worse than the last price (>= 2 % higher MAE, RMSE)",
        lambda g: g["st_mae_ratio_gru_price"] >= 1.02 and g["st_rmse_ratio_gru_price"] >= 1.02,
    ),
    Claim(
        "the GRU on returns does about as well as the naive forecast (within 1 %)",
        lambda g: (
            abs(g["st_mae_ratio_gru_ret"] - 1) <= 0.01
            and abs(g["st_rmse_ratio_gru_ret"] - 1) <= 0.01
        ),
    ),
    Claim(
        "the linear AR(20) on returns does a little worse than naive (0 to 5 % higher RMSE)",
        lambda g: 1.0 < g["st_rmse_ratio_ar"] <= 1.05 and 1.0 < g["st_mae_ratio_ar"] <= 1.05,
    ),
    Claim(
        "measured on returns: the GRU's RMSE is that of predicting zero to within a fraction "
        "of a percent (relative 0.5 %), and AR(20) is a little worse",
        lambda g: (
            abs(g["ret_rmse_gru"] / g["ret_rmse_zero"] - 1) <= 0.005
            and g["ret_rmse_zero"] < g["ret_rmse_ar"] <= 1.05 * g["ret_rmse_zero"]
        ),
    ),
    Claim(
        "the GRU predicts a return of almost exactly zero: its predictions vary far less than "
        "the actual returns (std < 10 % of theirs)",
        lambda g: g["ret_std_gru"] < 0.1 * g["ret_std_true"],
    ),
    Claim(
        "the GRU's predicted returns hardly correlate with the actual ones (|r| < 0.25)",
        lambda g: abs(g["ret_corr_gru"]) < 0.25,
    ),
]
