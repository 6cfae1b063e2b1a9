"""Tests for rnncourse.scan: minGRU, sequential against parallel, and the two scans."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnncourse.scan import (
    MinGRU,
    g,
    heinsen_scan,
    hillis_steele_scan,
    log_g,
    min_gru_parallel,
    min_gru_sequential,
)
from tests.conftest import dtype_for, tolerances

F64 = torch.float64
TOL = tolerances(F64)

# (T, N, H_in, H), including the edges T=1, N=1, H=1 and lengths that are not powers of two
SHAPES = [(1, 1, 1, 1), (1, 3, 2, 4), (2, 1, 3, 1), (5, 2, 3, 4), (16, 3, 2, 5), (37, 2, 4, 3)]


def make_args(T, N, H_in, H, seed=0, dtype=F64, device="cpu", with_h_0=True, bias=True):
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=dtype).to(device)

    x = randn(T, N, H_in)
    weight_z, weight_h = randn(H, H_in), randn(H, H_in)
    bias_z, bias_h = (randn(H), randn(H)) if bias else (None, None)
    # positive, so that the log-space variant accepts it
    h_0 = (0.1 + randn(N, H).abs()) if with_h_0 else None
    return x, weight_z, weight_h, bias_z, bias_h, h_0


def reference_loop(x, weight_z, weight_h, bias_z, bias_h, h_0, activation):
    """The minGRU equations, one step at a time, written independently of rnncourse."""
    T, N, _ = x.shape
    h = torch.zeros(N, weight_z.shape[0], dtype=x.dtype) if h_0 is None else h_0
    out = []
    for t in range(T):
        z = torch.sigmoid(x[t] @ weight_z.T + (0 if bias_z is None else bias_z))
        h_tilde = x[t] @ weight_h.T + (0 if bias_h is None else bias_h)
        if activation == "g":
            h_tilde = torch.where(h_tilde >= 0, h_tilde + 0.5, torch.sigmoid(h_tilde))
        h = (1 - z) * h + z * h_tilde
        out.append(h)
    return torch.stack(out)


# ---------------------------------------------------------------------------------------------
# g and log g
# ---------------------------------------------------------------------------------------------


def test_g_and_log_g():
    """Is g positive and continuous at 0, and is log_g = log(g) even where σ underflows?"""
    x = torch.linspace(-30, 30, 601, dtype=F64)
    assert (g(x) > 0).all()
    torch.testing.assert_close(log_g(x), torch.log(g(x)), **TOL)
    zero = torch.tensor([0.0, -1e-12], dtype=F64)
    torch.testing.assert_close(g(zero), torch.full((2,), 0.5, dtype=F64), **TOL)
    very_negative = torch.tensor([-200.0])  # float32: σ(-200) == 0, log σ(-200) == -200
    assert torch.sigmoid(very_negative).item() == 0.0
    assert log_g(very_negative).item() == pytest.approx(-200.0)


# ---------------------------------------------------------------------------------------------
# the scans
# ---------------------------------------------------------------------------------------------


def loop_scan(a, b, h_0=None):
    h = torch.zeros_like(b[0]) if h_0 is None else h_0
    out = []
    for t in range(a.shape[0]):
        h = a[t] * h + b[t]
        out.append(h)
    return torch.stack(out)


@pytest.mark.parametrize("T", [1, 2, 3, 8, 13, 64])
@pytest.mark.parametrize("with_h_0", [False, True])
def test_scans_solve_the_linear_recurrence(T, with_h_0):
    """Do both scans give h_t = a_t h_{t-1} + b_t (Hillis-Steele also for negative b)?"""
    gen = torch.Generator().manual_seed(T)
    a = torch.rand(T, 3, 2, generator=gen, dtype=F64) * 0.9 + 0.05
    b = torch.rand(T, 3, 2, generator=gen, dtype=F64) + 0.01
    h_0 = torch.rand(3, 2, generator=gen, dtype=F64) + 0.1 if with_h_0 else None
    expected = loop_scan(a, b, h_0)
    log_h_0 = None if h_0 is None else h_0.log()
    torch.testing.assert_close(heinsen_scan(a.log(), b.log(), log_h_0), expected, **TOL)
    torch.testing.assert_close(hillis_steele_scan(a, b, h_0), expected, **TOL)
    signed = b - 0.5
    torch.testing.assert_close(hillis_steele_scan(a, signed, h_0), loop_scan(a, signed, h_0), **TOL)


# ---------------------------------------------------------------------------------------------
# minGRU: sequential and parallel
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("activation", ["g", None])
@pytest.mark.parametrize("with_h_0", [False, True])
def test_sequential_matches_the_equations(shape, activation, with_h_0):
    """Does min_gru_sequential follow the minGRU equations step by step?"""
    args = make_args(*shape, with_h_0=with_h_0)
    out = min_gru_sequential(*args, activation=activation)
    torch.testing.assert_close(out, reference_loop(*args, activation), **TOL)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("activation", ["g", None])
@pytest.mark.parametrize("with_h_0", [False, True])
def test_parallel_equals_sequential(shape, activation, with_h_0):
    """Does the parallel scan give the sequential loop's outputs (float64)?"""
    args = make_args(*shape, seed=1, with_h_0=with_h_0)
    parallel = min_gru_parallel(*args, activation=activation)
    sequential = min_gru_sequential(*args, activation=activation)
    assert parallel.shape == (shape[0], shape[1], shape[3])
    torch.testing.assert_close(parallel, sequential, **TOL)


@pytest.mark.parametrize("activation", ["g", None])
@pytest.mark.parametrize("bias", [True, False])
def test_parallel_gradients_equal_sequential(activation, bias):
    """Are the gradients for x, every weight and h_0 the same through both computations?"""
    args = make_args(9, 2, 3, 4, seed=2, bias=bias)
    leaves = [a.clone().requires_grad_(True) if a is not None else None for a in args]
    target = torch.randn(9, 2, 4, dtype=F64)

    def grads(fn):
        out = fn(*leaves, activation=activation)
        used = [leaf for leaf in leaves if leaf is not None]
        return torch.autograd.grad(((out - target) ** 2).sum(), used)

    for gp, gs in zip(grads(min_gru_parallel), grads(min_gru_sequential), strict=True):
        torch.testing.assert_close(gp, gs, **TOL)


def test_long_sequence_log_space_is_stable():
    """Over T = 2000 with a_t = 1 - z_t ≈ 0.02 does the log-space scan still match the loop?"""
    x, weight_z, weight_h, bias_z, bias_h, h_0 = make_args(2000, 2, 3, 4, seed=3)
    bias_z = bias_z + 4.0  # z ≈ 0.98: A_t = Π a_j ≈ e^(-4t) underflows float64 long before t = T
    args = (x, weight_z, weight_h, bias_z, bias_h, h_0)
    log_a = -F.softplus(F.linear(x, weight_z, bias_z))
    assert torch.exp(log_a.cumsum(0))[-1].max() == 0  # the linear-space prefix product is gone
    parallel = min_gru_parallel(*args)
    assert torch.isfinite(parallel).all()
    torch.testing.assert_close(parallel, min_gru_sequential(*args), atol=1e-9, rtol=1e-8)


def test_float32_agrees_loosely():
    """In float32 do parallel and sequential agree to float32 tolerances (T = 200)?"""
    args = make_args(200, 3, 4, 8, seed=4, dtype=torch.float32)
    parallel = min_gru_parallel(*args)
    torch.testing.assert_close(parallel, min_gru_sequential(*args), atol=1e-4, rtol=1e-4)


def test_bad_inputs_name_the_argument():
    """Are wrong shapes, a non-positive h_0 for the log scan and bad options refused by name?"""
    x, weight_z, weight_h, bias_z, bias_h, h_0 = make_args(4, 2, 3, 5)
    with pytest.raises(ValueError, match="x"):
        min_gru_parallel(x[..., :2], weight_z, weight_h)
    with pytest.raises(ValueError, match="weight_h"):
        min_gru_parallel(x, weight_z, weight_h[:4])
    with pytest.raises(ValueError, match="bias_z"):
        min_gru_sequential(x, weight_z, weight_h, bias_z[:2])
    with pytest.raises(ValueError, match="h_0"):
        min_gru_parallel(x, weight_z, weight_h, h_0=h_0[:1])
    with pytest.raises(ValueError, match="h_0"):
        min_gru_parallel(x, weight_z, weight_h, h_0=-h_0)
    with pytest.raises(ValueError, match="activation"):
        min_gru_parallel(x, weight_z, weight_h, activation="relu")
    with pytest.raises(TypeError, match="weight_z"):
        min_gru_parallel(x, weight_z.float(), weight_h)
    # a negative h_0 is fine for the plain variant
    plain = min_gru_parallel(x, weight_z, weight_h, h_0=-h_0, activation=None)
    expected = min_gru_sequential(x, weight_z, weight_h, h_0=-h_0, activation=None)
    torch.testing.assert_close(plain, expected, **TOL)


# ---------------------------------------------------------------------------------------------
# the module
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["g", None])
@pytest.mark.parametrize("batch_first", [False, True])
def test_module_modes_agree(activation, batch_first):
    """Do MinGRU's parallel and sequential modes give the same output and h_n?"""
    torch.manual_seed(0)
    model = MinGRU(3, 6, activation=activation, batch_first=batch_first, dtype=F64)
    x = torch.randn(4, 11, 3, dtype=F64) if batch_first else torch.randn(11, 4, 3, dtype=F64)
    h_0 = torch.rand(1, 4, 6, dtype=F64) + 0.1
    out_p, h_p = model(x, h_0)
    model.mode = "sequential"
    out_s, h_s = model(x, h_0)
    assert out_p.shape == ((4, 11, 6) if batch_first else (11, 4, 6))
    assert h_p.shape == (1, 4, 6)
    torch.testing.assert_close(out_p, out_s, **TOL)
    torch.testing.assert_close(h_p, h_s, **TOL)
    last = out_p[:, -1] if batch_first else out_p[-1]
    torch.testing.assert_close(h_p[0], last, rtol=0, atol=0)


def test_module_is_the_functional_form():
    """Does the module compute min_gru_parallel with its own parameters, and train?"""
    torch.manual_seed(1)
    model = MinGRU(2, 3, dtype=F64)
    assert [n for n, _ in model.named_parameters()] == ["weight_z", "weight_h", "bias_z", "bias_h"]
    bound = 1 / 2**0.5
    assert all(p.abs().max() <= bound for p in model.parameters())
    x = torch.randn(5, 2, 2, dtype=F64)
    out, _ = model(x)
    expected = reference_loop(
        x, model.weight_z, model.weight_h, model.bias_z, model.bias_h, None, "g"
    )
    torch.testing.assert_close(out, expected, **TOL)
    F.mse_loss(out, torch.zeros_like(out)).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    assert "bias=False" in repr(MinGRU(2, 3, bias=False))
    with pytest.raises(ValueError, match="mode"):
        MinGRU(2, 3, mode="fast")


def test_module_device(device):
    """Do both modes run on every device and agree there?"""
    dtype = dtype_for(device)
    torch.manual_seed(2)
    model = MinGRU(3, 5, device=device, dtype=dtype)
    x = torch.randn(40, 2, 3, device=device, dtype=dtype)
    out_p, _ = model(x)
    model.mode = "sequential"
    out_s, _ = model(x)
    assert out_p.device.type == device.type
    tol = tolerances(dtype) if dtype == F64 else {"atol": 1e-4, "rtol": 1e-4}
    torch.testing.assert_close(out_p, out_s, **tol)


@pytest.mark.parametrize(("H_in", "H"), [(4, 64), (64, 4)])
def test_init_bound_is_one_over_sqrt_input_size(H_in: int, H: int) -> None:
    """Are all parameters drawn from U(-1/sqrt(H_in), 1/sqrt(H_in)), the bound chapter 11
    states (not torch's recurrent 1/sqrt(H))? Pinned draw for draw against the same seed."""
    bound = 1.0 / H_in**0.5
    torch.manual_seed(3)
    model = MinGRU(H_in, H, dtype=F64)
    torch.manual_seed(3)
    for name, p in model.named_parameters():
        expected = torch.empty(p.shape, dtype=F64).uniform_(-bound, bound)
        torch.testing.assert_close(p.detach(), expected, rtol=0, atol=0, msg=name)
    weights = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert weights.abs().max() <= bound
    assert weights.abs().max() > 0.9 * bound  # the range is used, not a narrower one
