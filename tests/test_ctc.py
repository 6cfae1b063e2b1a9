"""Tests for rnncourse.ctc against torch.nn.functional.ctc_loss, autograd and brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnncourse.ctc import (
    ctc_backward_np,
    ctc_forward_np,
    ctc_grad_np,
    ctc_loss,
    ctc_loss_np,
    edit_distance,
    error_rate,
    greedy_decode,
    prefix_beam_search,
)
from tests.conftest import ATOL_F64, GRADCHECK_REL, RTOL_F64, dtype_for, tolerances

F64 = tolerances(torch.float64)  # float64 round-off: atol 1e-10, rtol 1e-8

# A batch of items with different input and target lengths, repeated labels ([1, 1], [2, 2, 2])
# and one target as long as its input allows (S + repeats = 3 + 2 = 5 = T_n).
T, C = 7, 4
TARGETS = [[1, 1], [2, 3, 1], [2, 2, 2], [3], []]
INPUT_LENGTHS = [7, 5, 5, 1, 3]


def logits(T: int = T, N: int = len(TARGETS), C: int = C, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(T, N, C, generator=g, dtype=torch.float64)


def padded(targets: list[list[int]], pad: int = 0) -> torch.Tensor:
    S = max(len(t) for t in targets)
    return torch.tensor([t + [pad] * (S - len(t)) for t in targets], dtype=torch.long)


def concatenated(targets: list[list[int]]) -> torch.Tensor:
    return torch.tensor([k for t in targets for k in t], dtype=torch.long)


def lengths(targets: list[list[int]]) -> list[int]:
    return [len(t) for t in targets]


def loss_and_grad(fn, u: torch.Tensor, *args, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss of ``log_softmax(u)`` and its gradient with respect to the logits ``u``."""
    u = u.clone().requires_grad_(True)
    loss = fn(u.log_softmax(-1), *args, **kwargs)
    loss.sum().backward()
    return loss.detach(), u.grad


# ----------------------------------------------------------------------------- torch loss


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("layout", ["padded", "concatenated"])
def test_loss_and_grad_match_torch(reduction: str, layout: str) -> None:
    """Do the loss and its gradient equal torch's for every reduction and target layout?"""
    targets = padded(TARGETS) if layout == "padded" else concatenated(TARGETS)
    args = (targets, INPUT_LENGTHS, lengths(TARGETS))
    ours, grad = loss_and_grad(ctc_loss, logits(), *args, reduction=reduction)
    theirs, grad_ref = loss_and_grad(F.ctc_loss, logits(), *args, reduction=reduction)
    torch.testing.assert_close(ours, theirs, **F64)
    torch.testing.assert_close(grad, grad_ref, **F64)


def test_repeated_labels_match_torch() -> None:
    """Does ctc_loss equal torch's for repeated labels, with T exactly S + repeats?"""
    targets = [[1, 1, 1], [1, 1, 2, 2]]  # need 3 + 2 = 5 and 4 + 2 = 6 frames
    args = (padded(targets), [5, 6], lengths(targets))
    u = logits(T=6, N=2, C=3)
    ours, grad = loss_and_grad(ctc_loss, u, *args, reduction="none")
    theirs, grad_ref = loss_and_grad(F.ctc_loss, u, *args, reduction="none")
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(ours, theirs, **F64)
    torch.testing.assert_close(grad, grad_ref, **F64)


@pytest.mark.parametrize("blank", [2, 3])
def test_nonzero_blank_matches_torch(blank: int) -> None:
    """Does a blank other than 0 (here in the middle and at the end) give torch's loss?"""
    targets = [[0, 1], [1, 0, 0], [0]]
    targets = [[k if k != blank else 3 - blank for k in t] for t in targets]
    args = (padded(targets, pad=blank), [6, 7, 2], lengths(targets))
    ours, grad = loss_and_grad(ctc_loss, logits(N=3), *args, blank=blank, reduction="none")
    theirs, grad_ref = loss_and_grad(F.ctc_loss, logits(N=3), *args, blank=blank, reduction="none")
    torch.testing.assert_close(ours, theirs, **F64)
    torch.testing.assert_close(grad, grad_ref, **F64)


def test_unbatched_matches_torch() -> None:
    """Does unbatched (T, C) input give torch's scalar loss?"""
    lp = logits(N=1)[:, 0].log_softmax(-1)  # (T, C)
    target = torch.tensor([1, 2, 2])
    ours = ctc_loss(lp, target, torch.tensor(6), torch.tensor(3), reduction="none")
    theirs = F.ctc_loss(lp, target, torch.tensor(6), torch.tensor(3), reduction="none")
    assert ours.shape == theirs.shape == ()
    torch.testing.assert_close(ours, theirs, **F64)


def test_impossible_alignment_is_inf_and_zero_infinity_zeroes_it() -> None:
    """Is a too-long target inf, and 0 with zero gradient under zero_infinity?"""
    targets = [[1, 1], [2, 3]]  # [1, 1] needs 3 frames, it gets 2
    args = (padded(targets), [2, 4], lengths(targets))
    lp = logits(N=2).log_softmax(-1)
    ours = ctc_loss(lp, *args, reduction="none")
    assert math.isinf(ours[0].item()) and math.isfinite(ours[1].item())
    torch.testing.assert_close(ours, F.ctc_loss(lp, *args, reduction="none"), **F64)
    ours, grad = loss_and_grad(ctc_loss, logits(N=2), *args, reduction="none", zero_infinity=True)
    theirs, grad_ref = loss_and_grad(
        F.ctc_loss, logits(N=2), *args, reduction="none", zero_infinity=True
    )
    assert ours[0].item() == 0.0
    torch.testing.assert_close(ours, theirs, **F64)
    torch.testing.assert_close(grad, grad_ref, **F64)
    assert (grad[:, 0] == 0).all()


def test_zero_length_input_matches_torch() -> None:
    """Does an input of zero frames give 0 for the empty target and inf for any other?"""
    lp = logits(N=2).log_softmax(-1)
    args = (padded([[1], []]), [0, 0], [1, 0])
    torch.testing.assert_close(
        ctc_loss(lp, *args, reduction="none"), F.ctc_loss(lp, *args, reduction="none"), **F64
    )


def test_loss_follows_device_and_dtype(device: torch.device) -> None:
    """Does the loss stay on the input's device and dtype, and match torch there?"""
    dtype = dtype_for(device)
    lp = logits().log_softmax(-1).to(device=device, dtype=dtype)
    args = (padded(TARGETS).to(device), INPUT_LENGTHS, lengths(TARGETS))
    ours = ctc_loss(lp, *args, reduction="none")
    assert ours.device == lp.device and ours.dtype == dtype
    theirs = F.ctc_loss(lp.cpu().double(), padded(TARGETS), *args[1:], reduction="none")
    torch.testing.assert_close(ours.cpu().double(), theirs, **tolerances(dtype))


@pytest.mark.parametrize("normalised", [True, False], ids=["log_softmax", "raw"])
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_leaf_gradient_is_torchs(normalised: bool, zero_infinity: bool) -> None:
    """Is the gradient for a leaf log_probs torch's exp(log_probs) - posterior, normalised or
    not, with zero past each input length (and for items zero_infinity drops)? Float64, F64."""
    u = logits()
    lp = (u.log_softmax(-1) if normalised else u).requires_grad_(True)
    targets = [[1, 1], [2, 3, 1], [2, 2, 2], [3, 3], []]  # item 3 ([3, 3]) cannot fit in 1 frame
    args = (padded(targets), INPUT_LENGTHS, lengths(targets))
    weights = torch.arange(1.0, 6.0, dtype=torch.float64)  # a different grad_out per item
    ctc_loss(lp, *args, reduction="none", zero_infinity=zero_infinity).mul(weights).sum().backward()
    ours = lp.grad.clone()
    lp.grad = None
    F.ctc_loss(lp, *args, reduction="none", zero_infinity=zero_infinity).mul(
        weights
    ).sum().backward()
    assert torch.equal(ours.isnan(), lp.grad.isnan())
    torch.testing.assert_close(ours.nan_to_num(0.0), lp.grad.nan_to_num(0.0), **F64)


def test_backward_is_one_autograd_node() -> None:
    """Is the loss's backward one node (CTCLossFunction), not a graph of T steps?"""
    lp = logits().log_softmax(-1).detach().requires_grad_(True)
    loss = ctc_loss(lp, padded(TARGETS), INPUT_LENGTHS, lengths(TARGETS), reduction="none")
    assert type(loss.grad_fn).__name__ == "CTCLossFunctionBackward"
    assert loss.grad_fn.next_functions[0][0].variable is lp


def test_scalar_lengths_for_a_batch_of_one() -> None:
    """Do 0-d input/target lengths work for a batch of one, as in torch?"""
    lp = logits(N=1).log_softmax(-1)  # (T, 1, C)
    target = torch.tensor([[1, 2, 2]])
    ours = ctc_loss(lp, target, torch.tensor(T), torch.tensor(3), reduction="none")
    theirs = F.ctc_loss(lp, target, torch.tensor(T), torch.tensor(3), reduction="none")
    torch.testing.assert_close(ours, theirs, **F64)


@pytest.mark.parametrize(
    ("kwargs", "torch_words"),
    [
        (
            {"input_lengths": torch.tensor([7.0, 5.0]), "target_lengths": torch.tensor([2, 1])},
            "input_lengths must be integral",
        ),
        (
            {"input_lengths": torch.tensor([7, 5]), "target_lengths": torch.tensor([2.0, 1.0])},
            "target_lengths must be integral",
        ),
        ({"log_probs": torch.empty(0, 2, 5)}, "log_probs tensor must not be empty"),
        ({"target_lengths": [3, 1]}, "Expected tensor to have size at least 3 at dimension 1"),
        ({"input_lengths": [7, -1]}, "Expected input_lengths to have value at least 0"),
        ({"input_lengths": [8, 5]}, "Expected input_lengths to have value at most 7"),
        (
            {"input_lengths": torch.tensor(7), "target_lengths": torch.tensor([2, 1])},
            "input_lengths must be of size batch_size",
        ),
        ({"blank": 5}, "blank must be in label range"),
    ],
)
def test_errors_have_torchs_type_and_words(kwargs: dict, torch_words: str) -> None:
    """Does each bad input raise torch's exception type (RuntimeError), with torch's words
    after the course's own message, for ctc_loss and torch alike?"""
    args = good() | kwargs
    for fn in (F.ctc_loss, ctc_loss):
        with pytest.raises(RuntimeError, match=torch_words):
            fn(**args)


# ----------------------------------------------------------------------------- NumPy


@pytest.mark.parametrize("blank", [0, 3])
def test_numpy_loss_matches_torch(blank: int) -> None:
    """Does ctc_loss_np give torch's per-item losses, padded and concatenated?"""
    targets = [[k if k != blank else 3 - blank for k in t] for t in TARGETS]
    lp = logits().log_softmax(-1)
    ref = F.ctc_loss(
        lp, padded(targets, pad=blank), INPUT_LENGTHS, lengths(targets), blank, "none"
    ).numpy()
    for tg in (padded(targets, pad=blank).numpy(), concatenated(targets).numpy()):
        got = ctc_loss_np(lp.numpy(), tg, INPUT_LENGTHS, lengths(targets), blank=blank)
        np.testing.assert_allclose(got, ref, rtol=RTOL_F64, atol=ATOL_F64)


def test_alpha_beta_give_the_same_likelihood_at_every_frame() -> None:
    """Does sum_s alpha_t(s) beta_t(s) equal p(l|x) at every frame t?"""
    lp = logits(N=1)[:, 0].log_softmax(-1).numpy()
    target = np.array([1, 1, 2])
    log_ab = ctc_forward_np(lp, target) + ctc_backward_np(lp, target)  # (T, 2S + 1)
    per_frame = np.logaddexp.reduce(log_ab, axis=1)  # (T,)
    loss = ctc_loss_np(lp, target, T, 3)
    np.testing.assert_allclose(-per_frame, np.full(T, loss[0]), rtol=RTOL_F64, atol=ATOL_F64)


def test_numpy_grad_matches_autograd() -> None:
    """Does ctc_grad_np (the exact -posterior) plus exp(log_probs) on valid frames equal the
    gradient ctc_loss gives a raw, unnormalised leaf, torch's y - gamma?"""
    u = logits()  # deliberately not log_softmax-ed: the formula must not assume it
    args = (padded(TARGETS), INPUT_LENGTHS, lengths(TARGETS))
    x = u.clone().requires_grad_(True)
    ctc_loss(x, *args, reduction="sum").backward()
    got = ctc_grad_np(u.numpy(), padded(TARGETS).numpy(), INPUT_LENGTHS, lengths(TARGETS))
    valid = (torch.arange(T)[:, None] < torch.tensor(INPUT_LENGTHS))[..., None]  # (T, N, 1)
    expected = got + (u.exp() * valid).numpy()
    np.testing.assert_allclose(expected, x.grad.numpy(), rtol=RTOL_F64, atol=ATOL_F64)
    # each frame's posterior sums to 1 over the symbols
    np.testing.assert_allclose(got.sum(-1), -valid[..., 0].double().numpy(), atol=ATOL_F64)


def test_numpy_grad_matches_finite_differences() -> None:
    """Does ctc_grad_np agree with central differences (eps = 1e-6) of ctc_loss_np?"""
    rng = np.random.default_rng(3)
    lp = rng.normal(size=(5, 2, 3))  # unnormalised
    targets, il, tl = np.array([[1, 1], [2, 0]]), [5, 4], [2, 1]
    grad = ctc_grad_np(lp, targets, il, tl)
    numeric = np.zeros_like(lp)
    eps = 1e-6
    for idx in np.ndindex(lp.shape):
        plus, minus = lp.copy(), lp.copy()
        plus[idx] += eps
        minus[idx] -= eps
        diff = ctc_loss_np(plus, targets, il, tl) - ctc_loss_np(minus, targets, il, tl)
        numeric[idx] = diff.sum() / (2 * eps)
    rel = np.abs(grad - numeric).max() / max(np.abs(grad).max(), np.abs(numeric).max())
    assert rel < GRADCHECK_REL
    assert (grad[4, 1] == 0).all()  # past the second item's input length


# ----------------------------------------------------------------------------- decoding


def test_greedy_decode_on_hand_made_posteriors() -> None:
    """Does best-path decoding merge repeats, keep repeats split by a blank, and drop blanks?"""
    b, x, y = 0, 1, 2
    paths = [[x, x, b, x, y, y], [b, b, y, b, b, b], [b, b, b, b, b, b]]
    probs = torch.full((6, 3, 3), 0.1, dtype=torch.float64)
    for n, path in enumerate(paths):
        for t, k in enumerate(path):
            probs[t, n, k] = 0.8
    assert greedy_decode(probs.log()) == [[1, 1, 2], [2], []]
    assert greedy_decode(probs.log(), input_lengths=[3, 6, 6]) == [[1], [2], []]
    assert greedy_decode(probs[:, 0].log().numpy()) == [1, 1, 2]
    assert greedy_decode(probs.log(), blank=1) == [[0, 2], [0, 2, 0], [0]]


def brute_force(lp: np.ndarray, blank: int = 0) -> dict[tuple[int, ...], float]:
    """p(l|x) for every labelling l, summing the probability of every one of the C^T paths."""
    T, C = lp.shape
    totals: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(C), repeat=T):
        merged = [k for i, k in enumerate(path) if i == 0 or k != path[i - 1]]
        label = tuple(k for k in merged if k != blank)
        totals[label] = totals.get(label, 0.0) + math.exp(sum(lp[t, k] for t, k in enumerate(path)))
    return totals


def test_beam_search_beats_greedy_when_best_path_is_not_best_labelling() -> None:
    """Does prefix beam search find "1" (p = 0.64) where the best path b b gives "" (0.36)?"""
    lp = np.log([[0.6, 0.4], [0.6, 0.4]])
    assert greedy_decode(lp) == []
    labels, log_p = prefix_beam_search(lp)
    assert labels == [1]
    assert abs(log_p - math.log(0.64)) < ATOL_F64
    truth = brute_force(lp)
    assert truth[tuple(labels)] > truth[tuple(greedy_decode(lp))]


@pytest.mark.parametrize("seed", range(5))
def test_beam_search_matches_brute_force(seed: int) -> None:
    """Does prefix beam search agree with enumerating every labelling on T=4, C=3?"""
    lp = F.log_softmax(torch.randn(4, 3, generator=torch.Generator().manual_seed(seed)), -1)
    lp = lp.double().numpy()
    truth = brute_force(lp)
    best = max(truth, key=truth.get)
    labels, log_p = prefix_beam_search(lp, beam_width=64)  # wider than all 31 prefixes: exact
    assert tuple(labels) == best
    assert abs(log_p - math.log(truth[best])) < ATOL_F64
    # the CTC loss of the found labelling is its -log p as well
    assert abs(ctc_loss_np(lp, np.array(labels, dtype=np.int64), 4, len(labels))[0] + log_p) < 1e-10
    # the default beam does at least as well as greedy
    _, log_p_default = prefix_beam_search(lp)
    assert math.exp(log_p_default) >= truth.get(tuple(greedy_decode(lp)), 0.0) - ATOL_F64


def test_edit_distance_and_error_rate_on_known_strings() -> None:
    """Do edit_distance and error_rate give the textbook values for characters and words?"""
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3
    assert edit_distance("abc", "abc") == 0
    assert edit_distance([1, 2, 3], [1, 3]) == 1
    assert error_rate(["kitten", "abc"], ["sitting", "abc"]) == pytest.approx(0.3)
    hyp, ref = "the cat sat on mat".split(), "the cat sat on the mat".split()
    assert error_rate([hyp], [ref]) == pytest.approx(1 / 6)


# ----------------------------------------------------------------------------- bad input


def good() -> dict:
    return {
        "log_probs": logits(N=2).log_softmax(-1),
        "targets": padded([[1, 2], [3]]),
        "input_lengths": [7, 5],
        "target_lengths": [2, 1],
    }


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"targets": padded([[1, 0], [3]])}, ValueError, "targets: item 0 contains the blank"),
        ({"targets": padded([[1, 4], [3]])}, ValueError, r"targets: item 0 has labels outside"),
        ({"targets": padded([[1, 2], [3]]).double()}, TypeError, "targets: expected an integer"),
        ({"input_lengths": [7, -1]}, ValueError, "input_lengths: lengths must be >= 0"),
        ({"target_lengths": [-1, 1]}, ValueError, "target_lengths: lengths must be >= 0"),
        ({"input_lengths": [8, 5]}, ValueError, r"input_lengths: expected values <= T = 7"),
        ({"input_lengths": [7]}, ValueError, r"input_lengths: expected \(N,\)"),
        ({"target_lengths": [3, 1]}, ValueError, r"target_lengths: expected values <= S = 2"),
        ({"log_probs": torch.zeros(7, 2, 5, 1)}, ValueError, r"log_probs: expected \(T, N, C\)"),
        ({"log_probs": torch.zeros(7, 2, 5).long()}, TypeError, "log_probs: expected a floating"),
        ({"targets": torch.zeros(2, 2, 2).long()}, ValueError, r"targets: expected \(N, S\)"),
        ({"targets": concatenated([[1, 2], [3, 3]])}, ValueError, "targets: concatenated"),
        ({"blank": 5}, ValueError, r"blank: expected an int in \[0, C\) = \[0, 4\)"),
        ({"blank": -1}, ValueError, r"blank: expected an int in \[0, C\)"),
        ({"reduction": "avg"}, ValueError, "reduction: expected one of"),
    ],
)
def test_bad_input_names_the_argument(change: dict, error: type, match: str) -> None:
    """Does each bad input raise an error that names the argument?"""
    kwargs = good() | change
    with pytest.raises(error, match=match):
        ctc_loss(**kwargs)
    if "reduction" not in change:
        np_kwargs = {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
        with pytest.raises(error, match=match):
            ctc_loss_np(**np_kwargs)


def test_forward_backward_name_the_target() -> None:
    """Do ctc_forward_np and ctc_backward_np name their ``target`` argument?"""
    lp = logits(N=1)[:, 0].log_softmax(-1).numpy()
    for fn in (ctc_forward_np, ctc_backward_np):
        with pytest.raises(ValueError, match="target: contains the blank index 0"):
            fn(lp, np.array([1, 0]))
        with pytest.raises(TypeError, match="target: expected an integer"):
            fn(lp, np.array([1.0]))


def test_decoders_reject_bad_input() -> None:
    """Do the decoders and error_rate name the bad argument?"""
    lp = logits(N=2).log_softmax(-1)
    with pytest.raises(ValueError, match=r"blank: expected an int in \[0, C\)"):
        greedy_decode(lp, blank=4)
    with pytest.raises(ValueError, match=r"input_lengths: expected values <= T"):
        greedy_decode(lp, input_lengths=[8, 1])
    with pytest.raises(ValueError, match=r"log_probs: expected \(T, N, C\)"):
        greedy_decode(lp[0, 0])
    with pytest.raises(ValueError, match=r"log_probs: expected \(T, C\)"):
        prefix_beam_search(lp)
    with pytest.raises(ValueError, match="beam_width: expected a positive int"):
        prefix_beam_search(lp[:, 0], beam_width=0)
    with pytest.raises(ValueError, match=r"blank: expected an int in \[0, C\)"):
        prefix_beam_search(lp[:, 0], blank=-1)
    with pytest.raises(ValueError, match="hypotheses: expected as many as references"):
        error_rate(["a"], ["a", "b"])
    with pytest.raises(TypeError, match="log_probs: expected a torch.Tensor"):
        ctc_loss([[0.0]], torch.tensor([1]), 1, 1)


def test_benchmark_script_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """Does benchmarks/bench_ctc.py run and print a ratio row (no timing is asserted)?"""
    import pathlib
    import runpy

    script = pathlib.Path(__file__).parents[1] / "benchmarks" / "bench_ctc.py"
    runpy.run_path(str(script))["main"](["--quick", "--T", "1000"])
    rows = capsys.readouterr().out.splitlines()[2:]
    assert [row.split()[:2] for row in rows] == [["1000", "300"]]
    assert float(rows[0].split()[-1]) > 0
