"""Tests for rnncourse.bptt: NumPy BPTT against torch autograd and central differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnncourse.bptt import (
    PARAM_NAMES,
    chunked_bptt_grads,
    grad_check,
    init_params,
    numerical_gradient,
    rel_error,
    rnn_backward,
    rnn_forward,
    tbptt_chunks,
    truncated_bptt_grads,
)
from tests.conftest import GRADCHECK_REL, tolerances

TOL = tolerances(torch.float64)

# (T, N, H_in, H, H_out), including the edges T=1, N=1, H=1
SHAPES = [(1, 1, 1, 1, 1), (1, 3, 2, 4, 2), (5, 1, 3, 1, 2), (4, 2, 3, 5, 3), (7, 3, 2, 6, 4)]


def make_problem(T, N, H_in, H, H_out, loss="mse", seed=0):
    rng = np.random.default_rng(seed)
    params = init_params(H_in, H, H_out, seed=seed, scale=0.8)
    x = rng.normal(size=(T, N, H_in))
    h_0 = rng.normal(scale=0.5, size=(N, H))
    if loss == "mse":
        targets = rng.normal(size=(T, N, H_out))
    else:
        targets = rng.integers(0, H_out, size=(T, N))
    return params, x, h_0, targets


def torch_reference(params, x, h_0, targets, loss="mse", k=None):
    """Same computation in torch ops; ``k`` cuts the graph between chunks of k steps."""
    p = {n: torch.tensor(v, requires_grad=True) for n, v in params.items()}
    xt = torch.tensor(x)
    h0 = torch.tensor(h_0, requires_grad=True)
    h, hs, total = h0, [], 0.0
    for t in range(x.shape[0]):
        if k is not None and t > 0 and t % k == 0:
            h = h.detach()
        h = torch.tanh(
            xt[t] @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
        )
        h.retain_grad()
        hs.append(h)
        y = h @ p["weight_hy"].T + p["bias_y"]
        if loss == "mse":
            total = total + 0.5 * ((y - torch.tensor(targets[t])) ** 2).sum()
        else:
            total = total + F.cross_entropy(y, torch.tensor(targets[t]), reduction="sum")
    total.backward()
    grads = {n: v.grad.numpy() for n, v in p.items()}
    grads["h_0"] = h0.grad.numpy()
    dh = np.stack([h.grad.numpy() for h in hs])
    return total.item(), grads, dh


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_backward_matches_autograd(shape, loss):
    """Do the loss, every parameter gradient, dL/dh_0 and every dL/dh_t match torch autograd?"""
    params, x, h_0, targets = make_problem(*shape, loss=loss)
    value, cache = rnn_forward(params, x, h_0, targets, loss=loss)
    grads, dh = rnn_backward(params, cache)
    ref_value, ref_grads, ref_dh = torch_reference(params, x, h_0, targets, loss)
    assert value == pytest.approx(ref_value, rel=1e-12)
    assert set(grads) == {*PARAM_NAMES, "h_0"}
    for name, ref in ref_grads.items():
        torch.testing.assert_close(torch.tensor(grads[name]), torch.tensor(ref), **TOL, msg=name)
    torch.testing.assert_close(torch.tensor(dh), torch.tensor(ref_dh), **TOL)


@pytest.mark.parametrize("shape", [(1, 1, 1, 1, 1), (3, 2, 2, 3, 2), (4, 1, 3, 2, 3)])
@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_grad_check_passes(shape, loss):
    """Do the analytic gradients agree with central differences for every array?"""
    params, x, h_0, targets = make_problem(*shape, loss=loss, seed=1)
    errors = grad_check(params, x, targets, h_0, loss=loss)
    assert set(errors) == {*PARAM_NAMES, "h_0"}
    assert max(errors.values()) < GRADCHECK_REL, errors


def test_grad_check_catches_a_wrong_gradient(monkeypatch):
    """Does grad_check flag a backward pass whose dL/dW_hh is 1% off, and only that array?"""
    import rnncourse.bptt as bptt

    params, x, h_0, targets = make_problem(3, 2, 2, 3, 2)
    true_backward = bptt.rnn_backward

    def broken_backward(params, cache, dy=None, dh_T=None):
        grads, dh = true_backward(params, cache, dy, dh_T)
        grads["weight_hh"] = grads["weight_hh"] * 1.01
        return grads, dh

    monkeypatch.setattr(bptt, "rnn_backward", broken_backward)
    errors = bptt.grad_check(params, x, targets, h_0)
    assert errors["weight_hh"] > 1e-3
    assert errors["weight_ih"] < GRADCHECK_REL


def test_forward_without_targets_and_default_h0():
    """Without targets is the loss None, and is a missing h_0 the same as zeros?"""
    params, x, _, _ = make_problem(4, 2, 3, 5, 2)
    loss, cache = rnn_forward(params, x)
    assert loss is None
    _, cache_zero = rnn_forward(params, x, np.zeros((2, 5)))
    np.testing.assert_array_equal(cache["h"], cache_zero["h"])
    with pytest.raises(ValueError, match="targets"):
        rnn_backward(params, cache)


def test_dy_and_dh_T_match_autograd():
    """With a loss on the last output and on h_T, do dy and dh_T give autograd's gradients?"""
    params, x, h_0, _ = make_problem(5, 2, 3, 4, 2)
    _, cache = rnn_forward(params, x, h_0)
    rng = np.random.default_rng(3)
    dy = np.zeros_like(cache["y"])
    dy[-1] = rng.normal(size=dy[-1].shape)
    dh_T = rng.normal(size=h_0.shape)
    grads, _ = rnn_backward(params, cache, dy=dy, dh_T=dh_T)

    p = {n: torch.tensor(v, requires_grad=True) for n, v in params.items()}
    h = torch.tensor(h_0, requires_grad=True)
    h0 = h
    for t in range(x.shape[0]):
        h = torch.tanh(
            torch.tensor(x[t]) @ p["weight_ih"].T
            + p["bias_ih"]
            + h @ p["weight_hh"].T
            + p["bias_hh"]
        )
    y_T = h @ p["weight_hy"].T + p["bias_y"]
    ((y_T * torch.tensor(dy[-1])).sum() + (h * torch.tensor(dh_T)).sum()).backward()
    for name, v in p.items():
        torch.testing.assert_close(torch.tensor(grads[name]), v.grad, **TOL, msg=name)
    torch.testing.assert_close(torch.tensor(grads["h_0"]), h0.grad, **TOL)


# ---------------------------------------------------------------------------------------------
# truncated BPTT
# ---------------------------------------------------------------------------------------------


def scalar_problem():
    """T=3, N=1 and every size 1, so the gradients can be written out by hand."""
    params = {
        "weight_ih": np.array([[0.7]]),
        "weight_hh": np.array([[-0.9]]),
        "bias_ih": np.array([0.1]),
        "bias_hh": np.array([-0.2]),
        "weight_hy": np.array([[1.3]]),
        "bias_y": np.array([0.05]),
    }
    x = np.array([0.5, -1.0, 2.0]).reshape(3, 1, 1)
    targets = np.array([0.3, -0.4, 0.2]).reshape(3, 1, 1)
    h_0 = np.array([[0.25]])
    return params, x, h_0, targets


def test_truncated_k1_by_hand():
    """With k=1 does each L_t reach only h_t, as the formula written out by hand says?"""
    params, x, h_0, targets = scalar_problem()
    u, w, b = 0.7, -0.9, 0.1 - 0.2
    v, c = 1.3, 0.05
    x1, x2, x3 = 0.5, -1.0, 2.0
    h1 = np.tanh(u * x1 + w * 0.25 + b)
    h2 = np.tanh(u * x2 + w * h1 + b)
    h3 = np.tanh(u * x3 + w * h2 + b)
    # δ_t = dL_t/dh_t = v (y_t - target_t); with k=1 each term uses only its own step
    d1 = v * (v * h1 + c - 0.3) * (1 - h1**2)
    d2 = v * (v * h2 + c + 0.4) * (1 - h2**2)
    d3 = v * (v * h3 + c - 0.2) * (1 - h3**2)
    expected = {
        "weight_hh": d1 * 0.25 + d2 * h1 + d3 * h2,
        "weight_ih": d1 * x1 + d2 * x2 + d3 * x3,
        "bias_ih": d1 + d2 + d3,
        "h_0": d1 * w,  # only L_1 reaches h_0 when k = 1
    }
    _, cache = rnn_forward(params, x, h_0, targets)
    grads = truncated_bptt_grads(params, cache, k=1)
    for name, value in expected.items():
        assert grads[name].item() == pytest.approx(value, rel=1e-12), name


def test_truncated_k2_by_hand():
    """With k=2 on T=3 does only the path L_3 → h_1 go missing from dL/dW_hh?"""
    params, x, h_0, targets = scalar_problem()
    _, cache = rnn_forward(params, x, h_0, targets)
    (h1, h2, h3), w = cache["h"].ravel(), -0.9
    e = (cache["y"] - targets).ravel() * 1.3  # dL_t/dh_t through y_t only
    a1, a2, a3 = 1 - h1**2, 1 - h2**2, 1 - h3**2
    # L_1: step 1; L_2: steps 2, 1; L_3: steps 3, 2 (step 1 is cut)
    expected = (
        e[0] * a1 * 0.25
        + e[1] * a2 * h1
        + e[1] * a2 * w * a1 * 0.25
        + e[2] * a3 * h2
        + e[2] * a3 * w * a2 * h1
    )
    full, _ = rnn_backward(params, cache)
    missing = e[2] * a3 * w * a2 * w * a1 * 0.25  # the L_3 → h_1 path, left out by k=2
    grads = truncated_bptt_grads(params, cache, k=2)
    assert grads["weight_hh"].item() == pytest.approx(expected, rel=1e-12)
    assert full["weight_hh"].item() == pytest.approx(expected + missing, rel=1e-12)


@pytest.mark.parametrize("loss", ["mse", "xent"])
@pytest.mark.parametrize("k", [6, 7, 20])
def test_truncated_k_at_least_T_is_full_bptt(loss, k):
    """Is the k-truncated gradient with k >= T exactly full BPTT?"""
    params, x, h_0, targets = make_problem(6, 2, 3, 4, 3, loss=loss)
    _, cache = rnn_forward(params, x, h_0, targets, loss=loss)
    full, _ = rnn_backward(params, cache)
    grads = truncated_bptt_grads(params, cache, k=k)
    for name in full:
        np.testing.assert_allclose(grads[name], full[name], rtol=1e-12, atol=1e-14, err_msg=name)


def test_truncated_small_k_differs_from_full():
    """Does truncation to k < T actually change the recurrent gradients (but not W_hy's)?"""
    params, x, h_0, targets = make_problem(6, 2, 3, 4, 3)
    _, cache = rnn_forward(params, x, h_0, targets)
    full, _ = rnn_backward(params, cache)
    grads = truncated_bptt_grads(params, cache, k=2)
    assert rel_error(grads["weight_hh"], full["weight_hh"]) > 1e-3
    np.testing.assert_array_equal(grads["weight_hy"], full["weight_hy"])


def test_tbptt_chunks():
    """Do the chunks cover 0..T in order with at most k steps each?"""
    assert tbptt_chunks(np.zeros((7, 1)), 3) == [slice(0, 3), slice(3, 6), slice(6, 7)]
    assert tbptt_chunks(np.zeros((2, 1)), 5) == [slice(0, 2)]
    with pytest.raises(ValueError, match="^k: expected a positive int"):
        tbptt_chunks(np.zeros((2, 1)), 0)


@pytest.mark.parametrize("k", [1, 2, 3, 8])
def test_chunked_bptt_matches_detach_in_torch(k):
    """Does chunked BPTT equal torch with h.detach() every k steps (loss, gradients)?"""
    params, x, h_0, targets = make_problem(8, 2, 3, 4, 2)
    value, grads, h_T = chunked_bptt_grads(params, x, targets, k, h_0)
    ref_value, ref_grads, _ = torch_reference(params, x, h_0, targets, k=k)
    assert value == pytest.approx(ref_value, rel=1e-12)
    for name in (*PARAM_NAMES, "h_0"):
        torch.testing.assert_close(
            torch.tensor(grads[name]), torch.tensor(ref_grads[name]), **TOL, msg=name
        )
    _, cache = rnn_forward(params, x, h_0)
    np.testing.assert_allclose(h_T, cache["h"][-1], rtol=1e-14)


# ---------------------------------------------------------------------------------------------
# numerical gradient and rel_error
# ---------------------------------------------------------------------------------------------


def test_numerical_gradient_restores_and_is_accurate():
    """Is the central difference of a known function accurate, and is param left unchanged?"""
    w = np.array([[0.3, -1.2], [2.0, 0.1]])
    before = w.copy()
    grad = numerical_gradient(lambda: float(np.sum(np.sin(w) * w)), w)
    np.testing.assert_allclose(grad, np.cos(before) * before + np.sin(before), rtol=1e-8)
    np.testing.assert_array_equal(w, before)
    with pytest.raises(TypeError, match="param"):
        numerical_gradient(lambda: 0.0, np.array([1, 2]))


def test_rel_error_definition():
    """Is rel_error max|a-b| / max(|a|+|b|), zero for equal arrays and safe for all zeros?"""
    a = np.array([1.0, -2.0, 0.0])
    b = np.array([1.5, -2.0, 0.0])
    assert rel_error(a, b) == pytest.approx(0.5 / 4.0)
    assert rel_error(a, a) == 0.0
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error(np.array([1.0]), np.array([-1.0])) == 1.0
    with pytest.raises(ValueError):
        rel_error(np.zeros(2), np.zeros(3))


# ---------------------------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------------------------


def test_bad_inputs_name_the_argument():
    """Do wrong shapes, dtypes and names fail with errors that name the argument?"""
    params, x, h_0, targets = make_problem(3, 2, 3, 4, 2)
    with pytest.raises(ValueError, match="x"):
        rnn_forward(params, x[..., :2])
    with pytest.raises(ValueError, match="h_0"):
        rnn_forward(params, x, h_0[:, :3])
    with pytest.raises(ValueError, match="targets"):
        rnn_forward(params, x, h_0, targets[:, :, :1])
    with pytest.raises(ValueError, match="loss"):
        rnn_forward(params, x, h_0, targets, loss="l1")
    with pytest.raises(TypeError, match="targets"):
        rnn_forward(params, x, h_0, np.zeros((3, 2)), loss="xent")
    with pytest.raises(ValueError, match="targets"):
        rnn_forward(params, x, h_0, np.full((3, 2), 2), loss="xent")
    with pytest.raises(ValueError, match="params"):
        rnn_forward({k: v for k, v in params.items() if k != "bias_y"}, x)
    with pytest.raises(ValueError, match="weight_hh"):
        rnn_forward({**params, "weight_hh": np.zeros((4, 3))}, x)
    _, cache = rnn_forward(params, x, h_0, targets)
    with pytest.raises(ValueError, match="k"):
        truncated_bptt_grads(params, cache, k=0)


def test_init_params_layout():
    """Are the parameters in PyTorch's layout, seeded, and within the default bound 1/sqrt(H)?"""
    params = init_params(3, 4, 2, seed=5)
    shapes = {n: v.shape for n, v in params.items()}
    assert shapes == {
        "weight_ih": (4, 3),
        "weight_hh": (4, 4),
        "bias_ih": (4,),
        "bias_hh": (4,),
        "weight_hy": (2, 4),
        "bias_y": (2,),
    }
    assert all(v.dtype == np.float64 for v in params.values())
    assert max(np.abs(v).max() for v in params.values()) <= 0.5
    again = init_params(3, 4, 2, seed=5)
    assert all(np.array_equal(params[n], again[n]) for n in params)


def test_losses_without_targets_are_refused_by_name() -> None:
    """Do grad_check and chunked_bptt_grads refuse targets=None with an error about targets
    (rnn_forward's loss is None without them), not a TypeError from None + float?"""
    params = init_params(2, 3, 2)
    x = np.zeros((4, 2, 2))
    with pytest.raises(ValueError, match="^cache: has no targets"):
        grad_check(params, x, None)
    with pytest.raises(ValueError, match="^targets: expected an array; a loss needs targets$"):
        chunked_bptt_grads(params, x, None, k=2)


def test_truncation_length_is_refused_by_name():
    """Is k = 0 refused naming k by truncated_bptt_grads and chunked_bptt_grads?"""
    params, x, h_0, targets = make_problem(4, 2, 3, 4, 2)
    _, cache = rnn_forward(params, x, h_0, targets)
    with pytest.raises(ValueError, match="^k: expected a positive int"):
        truncated_bptt_grads(params, cache, k=0)
    with pytest.raises(ValueError, match="^k: expected a positive int"):
        chunked_bptt_grads(params, x, targets, 0, h_0)


def test_truncated_uses_the_given_output_gradient():
    """With dy given (no targets in the cache) and k >= T, is it rnn_backward's gradient for dy?"""
    params, x, h_0, _ = make_problem(5, 2, 3, 4, 2)
    _, cache = rnn_forward(params, x, h_0)
    dy = np.random.default_rng(1).normal(size=(5, 2, 2))  # (T, N, H_out)
    full, _ = rnn_backward(params, cache, dy)
    grads = truncated_bptt_grads(params, cache, k=5, dy=dy)
    for name in full:
        np.testing.assert_allclose(grads[name], full[name], rtol=1e-12, atol=1e-14, err_msg=name)


def test_chunked_bptt_passes_the_loss_on():
    """With loss="xent" and one chunk (k >= T), are loss and gradients full BPTT's for xent?"""
    params, x, h_0, targets = make_problem(6, 2, 3, 4, 3, loss="xent")
    value, grads, _ = chunked_bptt_grads(params, x, targets, 6, h_0, loss="xent")
    ref_value, cache = rnn_forward(params, x, h_0, targets, loss="xent")
    full, _ = rnn_backward(params, cache)
    assert value == pytest.approx(ref_value, rel=1e-12)
    for name in PARAM_NAMES:
        np.testing.assert_allclose(grads[name], full[name], rtol=1e-12, atol=1e-14, err_msg=name)


def test_grad_check_defaults_and_integer_h_0():
    """Without h_0, and with an integer h_0 (nudged by eps, so it must be copied as float), does
    grad_check still agree with the analytic gradient?"""
    params, x, _, targets = make_problem(4, 2, 3, 4, 2)  # N = 2 differs from H_in = 3
    for h_0 in (None, np.zeros((2, 4), dtype=np.int64)):
        errors = grad_check(params, x, targets, h_0)
        assert max(errors.values()) < 1e-6, (h_0, errors)


def test_numerical_gradient_and_rel_error_refuse_by_name():
    """Are a non-array param and mismatched shapes refused, naming the argument?"""
    with pytest.raises(TypeError, match="^param: expected a NumPy array, got list"):
        numerical_gradient(lambda: 0.0, [1.0, 2.0])
    with pytest.raises(TypeError, match="^param: expected a floating"):
        numerical_gradient(lambda: 0.0, np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match=r"^b: expected the shape of a, \(2,\), got \(3,\)"):
        rel_error(np.zeros(2), np.zeros(3))


def test_rel_error_of_two_zero_arrays_is_zero():
    """Is the relative error of identical all-zero arrays, and of two empty ones, 0 (not 0/0, not
    the max of nothing)?"""
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error(np.zeros((0, 2)), np.zeros((0, 2))) == 0.0
    assert rel_error(np.array([1.0, -2.0]), np.array([1.0, -2.0])) == 0.0
