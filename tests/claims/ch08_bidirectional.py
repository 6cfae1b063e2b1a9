"""Claims of book/08_bidirectional.md about its computed numbers."""

from tests.claims import Claim

FLOOR = 0.5**2  # sigma^2 of the noisy sine: no forecaster's MSE can be lower
T_MARK, Q = 20, 0.1  # the marker task


def _causal_bound() -> float:
    """Mean over positions of max(p_t, 1 - p_t), p_t = 1 - (1 - q)^(T - t): the exact bound."""
    p = [1 - (1 - Q) ** (T_MARK - t) for t in range(1, T_MARK + 1)]
    return sum(max(pt, 1 - pt) for pt in p) / T_MARK


CLAIMS = [
    Claim(
        "the one-directional layer's Jacobian map is exactly zero above the diagonal",
        lambda g: g["jac_uni_future"] == 0.0,
    ),
    Claim(
        "the bidirectional map is full: every output depends on every input",
        lambda g: g["jac_bi_min"] > 0.0,
    ),
    Claim(
        "the bidirectional map is strongest near the diagonal (each row peaks within 1 step)",
        lambda g: g["jac_bi_peak_offset"] <= 1,
    ),
    Claim(
        "Bidirectional matches torch.nn.GRU and the h_n layout (differences at round-off)",
        lambda g: g["layout_max_diff"] < 1e-12,
    ),
    Claim(
        "packed, each final state equals the sequence's own, and torch.nn.GRU's (round-off)",
        lambda g: g["pack_vs_alone"] < 1e-12 and g["pack_vs_torch"] < 1e-12,
    ),
    Claim(
        "padded without packing, the backward final states are visibly wrong (error > 0.01)",
        lambda g: g["padded_backward_error"] > 0.01,
    ),
    Claim(
        "the bidirectional 'forecaster' is far below the noise floor on steps 1..T-1 (< floor/5)",
        lambda g: g["mse_bi_inner"] < FLOOR / 5,
    ),
    Claim(
        "the honest one-directional forecaster does not beat the noise floor",
        lambda g: g["mse_uni_inner"] >= FLOOR and g["mse_uni_last"] >= FLOOR * 0.9,
    ),
    Claim(
        "at the last position the bidirectional error jumps above the floor and above the "
        "one-directional model's (by >= 20 %)",
        lambda g: g["mse_bi_last"] > FLOOR and g["mse_bi_last"] > 1.2 * g["mse_uni_last"],
    ),
    Claim(
        "the printed bound is the exact mean of max(p_t, 1 - p_t) (73.2 %)",
        lambda g: abs(g["best_causal"] - _causal_bound()) < 1e-9,
    ),
    Claim(
        "the one-directional tagger ends up close to the bound (within 4 points below, "
        "at most 2 above from test-set noise)",
        lambda g: g["best_causal"] - 0.04 <= g["acc_uni"] <= g["best_causal"] + 0.02,
    ),
    Claim(
        "the bidirectional tagger is nearly perfect (>= 97 %), far past the bound",
        lambda g: g["acc_bi"] >= 0.97 and g["acc_bi"] >= g["best_causal"] + 0.15,
    ),
]
