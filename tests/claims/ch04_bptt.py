"""Claims of book/04_bptt.md about its printed numbers.

Nothing is trained: the gradients are float64 NumPy/PyTorch computations on seeded data, so
agreement claims are round-off bounds and the truncation errors are checked for the orderings
and orders of magnitude the prose reads off the printout. Timings depend on the machine and its
load, and a test of a time would fail on a busy machine: the prose pastes them and states their
expected growth (O(T^2) against O(T)), but no claim here reads a time.
"""

from tests.claims import Claim

ROUND_OFF = 1e-12
VARIANTS = ("default", "scaled")  # the default W_hh, and W_hh scaled by 2


def _before_t(g, name):
    """The truncation errors for k < T (the last k equals T)."""
    return g[name][:-1]


def _exact_at_t(g) -> bool:
    """With k = T = 60 both variants are the full gradient, up to round-off."""
    errors = [g[f"{kind}_{v}"][-1] for kind in ("look_back", "chunked") for v in VARIANTS]
    return g["ks"][-1] == 60 and max(errors) < ROUND_OFF


def _falls_with_k(g) -> bool:
    """The look-back error falls with every k < T, by >= 1e6 from k = 1 to k = 32 (default)."""
    for v in VARIANTS:
        errors = _before_t(g, f"look_back_{v}")
        if any(a <= b for a, b in zip(errors, errors[1:], strict=False)):
            return False
    return g["ks"][-2] == 32 and g["look_back_default"][-2] < 1e-6 * g["look_back_default"][0]


def _scaled_needs_longer_k(g) -> bool:
    """The scaled W_hh has the larger look-back error at every k < T."""
    scaled, default = _before_t(g, "look_back_scaled"), _before_t(g, "look_back_default")
    return all(s > d for s, d in zip(scaled, default, strict=True))


def _chunked_worse(g) -> bool:
    """Chunked >= look-back at every k < T, and >= 3 times look-back for 8 <= k < T."""
    for v in VARIANTS:
        chunked, look_back = _before_t(g, f"chunked_{v}"), _before_t(g, f"look_back_{v}")
        for k, c, lb in zip(g["ks"], chunked, look_back, strict=False):
            if c < lb * (1 - 1e-9) or (k >= 8 and c < 3 * lb):
                return False
    return True


CLAIMS = [
    Claim(
        "the double sum and the recursion give the same gradient to round-off",
        lambda g: g["double_vs_recursion"] < ROUND_OFF,
    ),
    Claim(
        "every error vs finite differences is far below the 1e-6 threshold (< 1e-7)",
        lambda g: g["fd_max_error"] < 1e-7,
    ),
    Claim(
        "the gradients agree with torch.autograd to round-off, and so do the losses",
        lambda g: g["autograd_max_error"] < ROUND_OFF and g["loss_difference"] < ROUND_OFF,
    ),
    Claim(
        "activation memory is proportional to k (k = 200 vs k = 5: 30 to 40 times as much)",
        lambda g: 30 <= g["kib_last"] / g["kib_first"] <= 40,
    ),
    Claim(
        "scaling W_hh by 2 doubles its spectral radius",
        lambda g: abs(g["rho_scaled"] - 2 * g["rho_default"]) < 1e-9,
    ),
    Claim("with k = T both variants are exact up to round-off", _exact_at_t),
    Claim(
        "with k = 1 a large fraction of the gradient is missing (error >= 30 % of its norm)",
        lambda g: all(
            g[f"k1_{v}_percent"] >= 30
            and abs(g[f"k1_{v}_percent"] - 100 * g[f"look_back_{v}"][0]) < 1e-9
            for v in VARIANTS
        ),
    ),
    Claim(
        "the look-back error falls with every k, roughly exponentially "
        "(by a factor >= 1e6 from k = 1 to k = 32 for the default init)",
        _falls_with_k,
    ),
    Claim(
        "the larger W_hh needs a longer k for the same accuracy (its error is larger at every k)",
        _scaled_needs_longer_k,
    ),
    Claim(
        "the chunked variant is biased at least as much as look-back at every k, "
        "and far more (>= 3 times) once k >= 8",
        _chunked_worse,
    ),
    Claim(
        "the chunked error falls slowly, not exponentially (at k = 32 still >= 1/20 of k = 1)",
        lambda g: all(g[f"chunked_{v}"][-2] >= g[f"chunked_{v}"][0] / 20 for v in VARIANTS),
    ),
]
