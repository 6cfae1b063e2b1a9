"""Claims of book/03_unrolling.md about its printed numbers.

Nothing in the chapter is trained: its numbers are float64 comparisons of the same computation
(round-off), losses of an untrained RNN on seeded inputs, exact counts of what autograd saves,
and parameter counts. Round-off comparisons are bounded, counts checked exactly.
"""

from tests.claims import Claim

ROUND_OFF = 1e-12  # float64 round-off on these sizes is ~1e-16

N, H_IN, H = 32, 16, 64  # the memory experiment's sizes (inputs of the chapter)


def _linear_in_t(g) -> bool:
    """A fixed number of tensors and of bytes per step, the weights counted once."""
    ts, counts, nbytes = g["saved_lengths"], g["saved_counts"], g["saved_bytes"]
    per_step = g["bytes_per_step"]
    return (
        len({c / t for c, t in zip(counts, ts, strict=True)}) == 1
        and len({b - per_step * t for b, t in zip(nbytes, ts, strict=True)}) == 1
    )


CLAIMS = [
    Claim(
        "the loop, rnncourse.RNN and torch.nn.RNN agree to float64 round-off",
        lambda g: g["loop_diff"] < ROUND_OFF,
    ),
    Claim("h_n is the last row of output", lambda g: g["hn_is_last"] is True),
    Claim(
        "batch_first computes the same thing in another layout",
        lambda g: g["batch_first_diff"] < ROUND_OFF,
    ),
    Claim(
        "padding at the end leaves the outputs at real steps exact up to round-off",
        lambda g: g["real_steps_diff"] < ROUND_OFF,
    ),
    Claim(
        "h_n of the padded run is right for the longest sequence and wrong for the shorter two",
        lambda g: g["hn_diff_0"] < ROUND_OFF and g["hn_diff_1"] > 0.05 and g["hn_diff_2"] > 0.05,
    ),
    Claim(
        "the gathered final states match torch.nn.RNN's packed h_n to round-off",
        lambda g: g["packed_diff"] < ROUND_OFF,
    ),
    Claim(
        "the masked loss equals the loss over the real steps only",
        lambda g: abs(g["loss_masked"] - g["loss_real"]) < ROUND_OFF,
    ),
    Claim(
        "the naive mean over padding is a different number (by >= 0.01, visible at 4 decimals)",
        lambda g: abs(g["loss_naive"] - g["loss_masked"]) >= 0.01,
    ),
    Claim(
        "a fixed number of saved tensors per step; the weights are stored only once",
        _linear_in_t,
    ),
    Claim(
        "the bytes per extra step are one h_t plus one x_t in float32: 4 N (H + H_in) = 10 240",
        lambda g: g["bytes_per_step"] == g["bytes_h_x"] == 4 * N * (H + H_IN) == 10240,
    ),
    Claim(
        "the quoted T = 400 figures are the last measurement",
        lambda g: (
            g["saved_last"] == g["saved_counts"][-1]
            and abs(g["mib_last"] - g["saved_bytes"][-1] / 2**20) < 1e-9
            and g["saved_lengths"][-1] == 400
        ),
    ),
    Claim(
        "under torch.no_grad() autograd saves 0 tensors and 0 bytes at every T",
        lambda g: g["no_grad_saved_max"] == 0 and g["no_grad_bytes_max"] == 0,
    ),
    Claim(
        "a two-layer RNN equals two chained one-layer RNNs and torch.nn.RNN (zero or round-off)",
        lambda g: g["stack_diff"] < ROUND_OFF,
    ),
    Claim(
        "output[-1] is the top layer's last state; h_n[0] is layer 0's",
        lambda g: g["top_is_output"] is True and g["hn0_is_layer0"] is True,
    ),
    Claim(
        "RNN(16, 64, num_layers=3) has 5248, 8320, 8320 parameters per layer, 21 888 in all",
        lambda g: (
            g["layer_counts"] == [5248, 8320, 8320]
            and g["stack_total"] == g["stack_total_torch"] == 21888
        ),
    ),
    Claim(
        "dropout: train-mode passes differ, eval mode equals the no-dropout RNN, the top "
        "output has no exact zeros and layer 0's h_n is unchanged",
        lambda g: (
            g["drop_passes_equal"] is False
            and g["drop_eval_equal"] is True
            and g["drop_output_zeros"] is False
            and g["drop_layer0_unchanged"] is True
        ),
    ),
    Claim(
        "a single-layer RNN with dropout: rnncourse.RNN gives the same warning as PyTorch",
        lambda g: (
            len(g["warnings"]) == 2
            and g["warnings"][0] == g["warnings"][1]
            and g["warnings"][0].startswith("UserWarning")
        ),
    ),
]
