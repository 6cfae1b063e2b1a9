"""Tests for rnncourse.gradients: Jacobian products, per-step gradient norms, clipping."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnncourse import RNN, bptt
from rnncourse.gradients import (
    clip_grad_norm_,
    clip_grad_norm_np,
    clip_grad_value_,
    clip_grad_value_np,
    hidden_grad_norms,
    hidden_grad_norms_np,
    jacobian_norms,
    jacobian_product,
    scale_to_spectral_radius,
    spectral_radius,
)
from tests.conftest import dtype_for, tolerances

TOL = tolerances(torch.float64)


def tanh_states(T=6, H_in=3, H=4, seed=0):
    """One sequence through a tanh RNN: inputs, weights and the states h_1..h_T."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, H_in, generator=g, dtype=torch.float64)
    W_ih = torch.randn(H, H_in, generator=g, dtype=torch.float64) * 0.5
    W_hh = torch.randn(H, H, generator=g, dtype=torch.float64) * 0.6
    b = torch.randn(H, generator=g, dtype=torch.float64) * 0.1
    h_0 = torch.randn(H, generator=g, dtype=torch.float64) * 0.3

    def run(h, start, stop):
        """h_start -> h_stop, returning every state after h_start."""
        states = []
        for j in range(start + 1, stop + 1):
            h = torch.tanh(W_ih @ x[j - 1] + W_hh @ h + b)  # x_j is x[j - 1]
            states.append(h)
        return states

    h = torch.stack(run(h_0, 0, T))  # (T, H)
    return h, h_0, W_hh, run


# ---------------------------------------------------------------------------------------------
# Jacobian products
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("t", "k"), [(6, 0), (6, 3), (4, 1), (1, 0), (5, 4)])
def test_jacobian_product_matches_autograd(t, k):
    """Is the product of diag(1 - h_j²) W_hh the Jacobian autograd computes for h_k -> h_t?"""
    h, h_0, W_hh, run = tanh_states()
    h_k = h_0 if k == 0 else h[k - 1]
    expected = torch.autograd.functional.jacobian(lambda hk: run(hk, k, t)[-1], h_k)
    J = jacobian_product(h, W_hh, t, k)
    torch.testing.assert_close(J, expected, **TOL)
    # NumPy in, NumPy out, same numbers
    J_np = jacobian_product(h.numpy(), W_hh.numpy(), t, k)
    assert isinstance(J_np, np.ndarray)
    np.testing.assert_allclose(J_np, expected.numpy(), rtol=1e-10, atol=1e-12)


def test_jacobian_product_edges():
    """Is t == k the identity, and are out-of-range steps or mixed array kinds refused?"""
    h, _, W_hh, _ = tanh_states()
    torch.testing.assert_close(jacobian_product(h, W_hh, 3, 3), torch.eye(4, dtype=h.dtype))
    with pytest.raises(ValueError, match="t, k"):
        jacobian_product(h, W_hh, 2, 3)
    with pytest.raises(ValueError, match="t, k"):
        jacobian_product(h, W_hh, 7, 0)
    with pytest.raises(TypeError, match="weight_hh"):
        jacobian_product(h, W_hh.numpy(), 2, 0)
    with pytest.raises(ValueError, match="weight_hh"):
        jacobian_product(h, W_hh[:, :3], 2, 0)


@pytest.mark.parametrize("ord", [2, "fro"])
def test_jacobian_norms_match_products(ord):
    """Is jacobian_norms[k] the norm of jacobian_product(t, k) for every k?"""
    h, _, W_hh, _ = tanh_states(T=7)
    norms = jacobian_norms(h, W_hh, t=5, ord=ord)
    assert norms.shape == (6,)
    expected = [
        torch.linalg.matrix_norm(jacobian_product(h, W_hh, 5, k), ord=ord) for k in range(6)
    ]
    np.testing.assert_allclose(norms, torch.stack(expected).numpy(), rtol=1e-10)
    np.testing.assert_allclose(jacobian_norms(h.numpy(), W_hh.numpy(), 5, ord), norms, rtol=1e-10)


@pytest.mark.parametrize(("rho", "grows"), [(0.5, False), (1.5, True)])
def test_linear_regime_follows_spectral_radius(rho, grows):
    """At h = 0 is ‖∂h_T/∂h_k‖ = ‖W^(T-k)‖, shrinking for ρ < 1 and growing for ρ > 1?"""
    W = scale_to_spectral_radius(torch.randn(5, 5, dtype=torch.float64), rho)
    h = torch.zeros(30, 5, dtype=torch.float64)  # tanh'(0) = 1: the linear recurrence
    norms = jacobian_norms(h, W)
    power = torch.linalg.matrix_power(W, 30)
    assert norms[0] == pytest.approx(float(torch.linalg.matrix_norm(power, ord=2)), rel=1e-9)
    assert (norms[0] > 1e3) if grows else (norms[0] < 1e-3)


# ---------------------------------------------------------------------------------------------
# per-step gradient norms
# ---------------------------------------------------------------------------------------------


def test_hidden_grad_norms_match_jacobian_rows():
    """For one sequence, is ‖∂L/∂h_k‖ = ‖1ᵀ ∂h_T/∂h_k‖ when L = Σ h_T?"""
    torch.manual_seed(0)
    rnn = torch.nn.RNN(3, 5, dtype=torch.float64)
    x = torch.randn(8, 1, 3, dtype=torch.float64)
    h_0 = 0.3 * torch.randn(1, 5, dtype=torch.float64)
    norms = hidden_grad_norms(rnn, x, h_0)
    with torch.no_grad():
        h, _ = rnn(x, h_0[None])
    expected = [
        torch.linalg.vector_norm(
            torch.ones(5, dtype=torch.float64) @ jacobian_product(h[:, 0], rnn.weight_hh_l0, 8, k)
        )
        for k in range(9)
    ]
    torch.testing.assert_close(norms, torch.stack(expected).detach(), **TOL)
    assert all(p.grad is None for p in rnn.parameters())  # parameters untouched


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_hidden_grad_norms_match_retain_grad(nonlinearity):
    """Do the norms equal those of retain_grad on torch.nn.RNN's own forward, step by step?"""
    torch.manual_seed(1)
    rnn = torch.nn.RNN(2, 4, nonlinearity=nonlinearity, batch_first=True, dtype=torch.float64)
    x = torch.randn(3, 6, 2, dtype=torch.float64)  # (N, T, H_in)
    target = torch.randn(3, 4, dtype=torch.float64)

    def loss_fn(h_T):
        return ((h_T - target) ** 2).sum()

    norms = hidden_grad_norms(rnn, x, loss_fn=loss_fn)
    # reference: torch.nn.RNN one step at a time, carrying the state
    h = torch.zeros(1, 3, 4, dtype=torch.float64, requires_grad=True)
    states = [h]
    for t in range(6):
        _, h = rnn(x[:, t : t + 1], h)
        h.retain_grad()
        states.append(h)
    loss_fn(h[0]).backward()
    expected = torch.stack([torch.linalg.vector_norm(s.grad) for s in states])
    torch.testing.assert_close(norms, expected, **TOL)


def test_hidden_grad_norms_torch_and_numpy_agree():
    """Do rnncourse.RNN with autograd and the NumPy BPTT's dh give the same norms (N = 3)?"""
    params = bptt.init_params(3, 6, 2, seed=2, scale=0.7)
    x = np.random.default_rng(2).normal(size=(10, 3, 3))
    h_0 = np.random.default_rng(3).normal(scale=0.4, size=(3, 6))
    rnn = RNN(3, 6, dtype=torch.float64)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(rnn, f"{name}_l0").copy_(torch.from_numpy(params[name]))
    norms = hidden_grad_norms(rnn, torch.from_numpy(x), torch.from_numpy(h_0))
    norms_np = hidden_grad_norms_np(params, x, h_0)
    assert norms_np.shape == (11,)
    np.testing.assert_allclose(norms.numpy(), norms_np, rtol=1e-10)
    assert norms_np[-1] == pytest.approx(np.sqrt(3 * 6))  # dL/dh_T = ones


def test_hidden_grad_norms_refuses_stacked_models():
    """Are multi-layer or bidirectional models and wrong shapes refused with a clear message?"""
    x = torch.randn(4, 2, 3)
    with pytest.raises(ValueError, match="model"):
        hidden_grad_norms(torch.nn.RNN(3, 4, num_layers=2), x)
    with pytest.raises(ValueError, match="model"):
        hidden_grad_norms(torch.nn.RNN(3, 4, bidirectional=True), x)
    with pytest.raises(ValueError, match="x"):
        hidden_grad_norms(torch.nn.RNN(2, 4), x)
    with pytest.raises(ValueError, match="h_0"):
        hidden_grad_norms(torch.nn.RNN(3, 4), x, torch.zeros(2, 5))


def test_hidden_grad_norms_device(device):
    """Does hidden_grad_norms run on every device and return its result there?"""
    dtype = dtype_for(device)
    torch.manual_seed(0)
    rnn = torch.nn.RNN(3, 4, device=device, dtype=dtype)
    x = torch.randn(5, 2, 3, device=device, dtype=dtype)
    norms = hidden_grad_norms(rnn, x)
    assert norms.device.type == device.type and norms.shape == (6,)
    cpu = hidden_grad_norms(rnn.cpu(), x.cpu())
    torch.testing.assert_close(norms.cpu(), cpu, **tolerances(dtype))


# ---------------------------------------------------------------------------------------------
# spectral radius
# ---------------------------------------------------------------------------------------------


def test_spectral_radius_known_matrices():
    """Is ρ the largest |eigenvalue|, complex ones included, in torch and NumPy?"""
    rotation = np.array([[0.0, -2.0], [2.0, 0.0]])  # eigenvalues ±2i
    assert spectral_radius(rotation) == pytest.approx(2.0)
    assert spectral_radius(torch.tensor([[0.5, 0.0], [0.0, -3.0]])) == pytest.approx(3.0)
    # the largest singular value (4.0...) is not the spectral radius here (1.0)
    shear = np.array([[1.0, 4.0], [0.0, 1.0]])
    assert spectral_radius(shear) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="W"):
        spectral_radius(np.zeros((2, 3)))


def test_scale_to_spectral_radius():
    """Does the rescaled matrix have radius ρ and the same direction?"""
    W = torch.randn(6, 6, dtype=torch.float64)
    scaled = scale_to_spectral_radius(W, 0.9)
    assert spectral_radius(scaled) == pytest.approx(0.9, rel=1e-10)
    torch.testing.assert_close(scaled / scaled.norm(), W / W.norm(), **TOL)
    with pytest.raises(ValueError, match="W"):
        scale_to_spectral_radius(np.zeros((2, 2)), 1.0)
    with pytest.raises(ValueError, match="rho"):
        scale_to_spectral_radius(W, -1.0)


# ---------------------------------------------------------------------------------------------
# clipping
# ---------------------------------------------------------------------------------------------


def make_params(device, dtype, scale, seed=0, with_none=True):
    """Parameters with random gradients of several shapes; one has no gradient."""
    g = torch.Generator().manual_seed(seed)
    shapes = [(4, 3), (4,), (2, 2, 2), (1,)]
    params = []
    for shape in shapes:
        p = torch.zeros(shape, device=device, dtype=dtype, requires_grad=True)
        p.grad = (scale * torch.randn(shape, generator=g, dtype=dtype)).to(device)
        params.append(p)
    if with_none:
        params.append(torch.zeros(3, device=device, dtype=dtype, requires_grad=True))
    return params


def clone_params(params):
    out = []
    for p in params:
        q = p.detach().clone().requires_grad_(True)
        q.grad = None if p.grad is None else p.grad.clone()
        out.append(q)
    return out


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("scale", [0.01, 10.0])  # joint norm below / above max_norm
def test_clip_grad_norm_matches_torch(device, norm_type, scale):
    """Do the returned norm and the clipped gradients equal torch.nn.utils.clip_grad_norm_?"""
    dtype = dtype_for(device)
    ours = make_params(device, dtype, scale)
    theirs = clone_params(ours)
    before = [p.grad.clone() for p in ours[:-1]]
    total = clip_grad_norm_(ours, max_norm=1.0, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm=1.0, norm_type=norm_type)
    tol = tolerances(dtype)
    torch.testing.assert_close(total, expected, **tol)
    assert total.device == expected.device and total.dtype == expected.dtype
    for p, q in zip(ours, theirs, strict=True):
        if q.grad is None:
            assert p.grad is None
        else:
            torch.testing.assert_close(p.grad, q.grad, **tol)
    if scale < 1:  # below the threshold nothing changes
        for p, b in zip(ours[:-1], before, strict=True):
            torch.testing.assert_close(p.grad, b, rtol=0, atol=0)
    else:  # above it the new joint norm is max_norm (up to the 1e-6 in the coefficient)
        grads = torch.cat([p.grad.flatten() for p in ours[:-1]])
        new_norm = float(torch.linalg.vector_norm(grads, norm_type))
        assert new_norm == pytest.approx(1.0, rel=1e-5) and new_norm < 1.0


def test_clip_grad_norm_single_tensor_and_generator():
    """Does a bare tensor or a generator work, and do no gradients give tensor(0.)?"""
    w = torch.zeros(2, requires_grad=True)
    w.grad = torch.tensor([3.0, 4.0])
    assert clip_grad_norm_(w, 1.0).item() == pytest.approx(5.0)
    torch.testing.assert_close(w.grad, torch.tensor([0.6, 0.8]), atol=1e-6, rtol=0)
    module = torch.nn.Linear(3, 2)
    module.weight.grad = torch.ones(2, 3)
    total = clip_grad_norm_(module.parameters(), 100.0)  # bias has grad None
    assert total.item() == pytest.approx(np.sqrt(6.0))
    empty = clip_grad_norm_([torch.zeros(2, requires_grad=True)], 1.0)
    torch.testing.assert_close(empty, torch.nn.utils.clip_grad_norm_([], 1.0))


def test_clip_grad_norm_nonfinite():
    """Is a non-finite norm returned like torch does, or refused with error_if_nonfinite?"""
    w = torch.zeros(2, requires_grad=True)
    w.grad = torch.tensor([float("inf"), 1.0])
    v = torch.zeros(2, requires_grad=True)
    v.grad = w.grad.clone()
    total = clip_grad_norm_(w, 1.0)
    expected = torch.nn.utils.clip_grad_norm_(v, 1.0)
    assert torch.isinf(total) and torch.isinf(expected)
    torch.testing.assert_close(w.grad, v.grad, equal_nan=True)
    w.grad = torch.tensor([float("nan"), 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(w, 1.0, error_if_nonfinite=True)


def test_clip_grad_value_matches_torch(device):
    """Are gradients clamped exactly like torch.nn.utils.clip_grad_value_, skipping None?"""
    dtype = dtype_for(device)
    ours = make_params(device, dtype, scale=2.0)
    theirs = clone_params(ours)
    clip_grad_value_(ours, 0.5)
    torch.nn.utils.clip_grad_value_(theirs, 0.5)
    for p, q in zip(ours, theirs, strict=True):
        if q.grad is None:
            assert p.grad is None
        else:
            torch.testing.assert_close(p.grad, q.grad, rtol=0, atol=0)
    assert max(float(p.grad.abs().max()) for p in ours[:-1]) == pytest.approx(0.5)
    single = torch.zeros(3, requires_grad=True)
    single.grad = torch.tensor([-3.0, 0.1, 3.0])
    clip_grad_value_(single, 1.0)
    assert single.grad.tolist() == pytest.approx([-1.0, 0.1, 1.0])


@pytest.mark.parametrize("norm_type", [2.0, float("inf")])
@pytest.mark.parametrize("scale", [0.01, 10.0])
def test_clip_grad_norm_np_matches_torch(norm_type, scale):
    """Do the NumPy clipped arrays and norm equal torch's, for dicts and lists, inputs untouched?"""
    params = make_params("cpu", torch.float64, scale, seed=4, with_none=False)
    grads = {f"p{i}": p.grad.numpy().copy() for i, p in enumerate(params)}
    originals = {n: g.copy() for n, g in grads.items()}
    clipped, total = clip_grad_norm_np(grads, 1.0, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(params, 1.0, norm_type)
    assert total == pytest.approx(expected.item(), rel=1e-12)
    assert list(clipped) == list(grads)
    for (name, c), p in zip(clipped.items(), params, strict=True):
        np.testing.assert_allclose(c, p.grad.numpy(), rtol=1e-12)
        np.testing.assert_array_equal(grads[name], originals[name])
    as_list, total_list = clip_grad_norm_np(list(originals.values()), 1.0, norm_type)
    assert isinstance(as_list, list) and total_list == total
    if scale < 1:
        for c, o in zip(as_list, originals.values(), strict=True):
            np.testing.assert_array_equal(c, o)


def test_clip_grad_value_np_matches_torch():
    """Does the NumPy value clipping equal torch.nn.utils.clip_grad_value_?"""
    params = make_params("cpu", torch.float64, 2.0, seed=5, with_none=False)
    grads = [p.grad.numpy().copy() for p in params]
    clipped = clip_grad_value_np(grads, 0.3)
    torch.nn.utils.clip_grad_value_(params, 0.3)
    for c, p in zip(clipped, params, strict=True):
        np.testing.assert_array_equal(c, p.grad.numpy())
    assert np.abs(grads[0]).max() > 0.3  # input not modified
    with pytest.raises(TypeError, match="grads"):
        clip_grad_value_np(np.zeros(3), 1.0)


def test_clipping_names_follow_torch():
    """Do the in-place clippers carry torch's trailing underscore, under that one name only?"""
    from rnncourse import gradients

    assert {"clip_grad_norm_", "clip_grad_value_"} <= set(gradients.__all__)
    assert not hasattr(gradients, "clip_grad_norm") and not hasattr(gradients, "clip_grad_value")


@pytest.mark.parametrize(
    "module", ["bptt", "gradients", "scan", "rnn", "lstm", "gru", "bidirectional", "topologies"]
)
def test_public_modules_list_their_names(module):
    """Does each public module have an __all__ whose every name exists?"""
    import importlib

    mod = importlib.import_module(f"rnncourse.{module}")
    assert mod.__all__
    for name in mod.__all__:
        assert hasattr(mod, name), name
