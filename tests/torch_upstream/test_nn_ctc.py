"""PyTorch's CTC loss tests from ``test/test_nn.py``, on ``torch.nn`` (the control) and rnncourse.

Provenance: pytorch/pytorch, ``test/test_nn.py`` at commit
``74f2fa66feec00335f72813782f4802e80bff4cb``: ``TestNN.test_CTCLoss_typechecks``,
``test_CTCLoss_lengthchecks_cpu``/``_cuda``, ``test_CTCLoss_long_targets``,
``test_CTCLoss_critical_target_len``, ``test_CTCLoss_zero_lengths``,
``test_CTCLoss_zero_infinity`` and ``TestNNDeviceType.test_CTCLoss_no_batch_dim``, restated for
pytest with the same inputs and assertions. The substitution: ``torch.nn.functional.ctc_loss``
and ``nn.CTCLoss`` come from the implementation under test. CUDA tests skip without CUDA, as
upstream; ``test_CTCLoss_cudnn`` is not ported (it compares cuDNN's kernel with torch's native
one, and rnncourse has neither).
"""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from rnncourse import ctc

TEST_CUDA = torch.cuda.is_available()
IMPLEMENTATIONS = {
    "torch.nn": SimpleNamespace(ctc_loss=torch.nn.functional.ctc_loss, CTCLoss=torch.nn.CTCLoss),
    "rnncourse": SimpleNamespace(ctc_loss=ctc.ctc_loss, CTCLoss=ctc.CTCLoss),
}
needs_cuda = pytest.mark.skipif(not TEST_CUDA, reason="CUDA not available (as upstream)")
DEVICES = ["cpu"] + (["cuda"] if TEST_CUDA else [])


@pytest.fixture(params=list(IMPLEMENTATIONS))
def impl(request: pytest.FixtureRequest) -> Any:
    return IMPLEMENTATIONS[request.param]


def assert_equal(actual: Any, expected: Any, **kwargs: Any) -> None:
    torch.testing.assert_close(actual, expected, check_device=False, **kwargs)


def test_CTCLoss_typechecks(impl: Any) -> None:
    target_lengths = torch.tensor([30, 25, 20])
    input_lengths = torch.tensor([50, 50, 50])
    targets = torch.randint(1, 15, (sum(target_lengths),), dtype=torch.int)
    log_probs = torch.randn(50, 3, 15, dtype=torch.float).log_softmax(2)
    with pytest.raises(RuntimeError):
        _input_lengths = input_lengths.to(dtype=torch.float)
        impl.ctc_loss(log_probs, targets, _input_lengths, target_lengths)
    with pytest.raises(RuntimeError):
        target_lengths = target_lengths.to(dtype=torch.float)
        impl.ctc_loss(log_probs, targets, input_lengths, target_lengths)


@needs_cuda
def test_CTCLoss_lengthchecks_cuda(impl: Any) -> None:
    for target_lengths in [[30, 25, 20], [-1, -1, -1]]:
        for input_lengths in [[50, 50, 50], [-1, -1, -1]]:
            targets = torch.randint(1, 15, (3, 29), dtype=torch.long, device="cuda")
            log_probs = torch.randn(50, 3, 15, dtype=torch.float, device="cuda").log_softmax(2)
            with pytest.raises(RuntimeError):
                impl.ctc_loss(log_probs, targets, input_lengths, target_lengths)


def test_CTCLoss_lengthchecks_cpu(impl: Any) -> None:
    for target_lengths in [[30, 25, 20], [-1, -1, -1]]:
        for input_lengths in [[50, 50, 50], [-1, -1, -1]]:
            targets = torch.randint(1, 15, (3, 29), dtype=torch.int)
            log_probs = torch.randn(50, 3, 15, dtype=torch.float).log_softmax(2)
            with pytest.raises(RuntimeError):
                impl.ctc_loss(log_probs, targets, input_lengths, target_lengths)


@needs_cuda
def test_CTCLoss_long_targets(impl: Any) -> None:
    input_length, vocab_size, batch_size, target_length = 4000, 3, 4, 1200
    log_probs = (
        torch.randn(input_length, batch_size, vocab_size, dtype=torch.double)
        .log_softmax(2)
        .requires_grad_()
    )
    targets = torch.randint(
        low=1, high=vocab_size - 1, size=(batch_size, target_length), dtype=torch.long
    )
    input_lengths = batch_size * [input_length]
    target_lengths = batch_size * [target_length]
    res_cpu = impl.ctc_loss(
        log_probs, targets, input_lengths, target_lengths, reduction="sum", zero_infinity=True
    )
    grad_out = torch.randn_like(res_cpu)
    (grad_cpu,) = torch.autograd.grad(res_cpu, log_probs, grad_out)
    with torch.backends.cudnn.flags(enabled=False):
        res_gpu = impl.ctc_loss(
            log_probs.cuda(),
            targets.cuda(),
            input_lengths,
            target_lengths,
            reduction="sum",
            zero_infinity=True,
        )
        (grad_gpu,) = torch.autograd.grad(res_gpu, log_probs, grad_out.cuda())
    assert_equal(res_cpu, res_gpu.cpu(), atol=1e-4, rtol=0)
    assert_equal(grad_cpu, grad_gpu.cpu(), atol=1e-4, rtol=0)


@needs_cuda
def test_CTCLoss_critical_target_len(impl: Any) -> None:
    # cudnn has an unexpected problem with target length 256, see issue #53505
    N, S, C, T = 1, 256, 10, 500
    target = torch.randint(low=1, high=C, size=(S,), dtype=torch.int)
    input_lengths = torch.full(size=(N,), fill_value=T, dtype=torch.int)
    target_lengths = torch.tensor(S, dtype=torch.int)
    inp = torch.randn(T, N, C, dtype=torch.float, device="cuda").log_softmax(2).requires_grad_()
    with torch.backends.cudnn.flags(enabled=True):
        res_gpu = impl.ctc_loss(inp, target, input_lengths, target_lengths, reduction="none")
    res_cpu = impl.ctc_loss(inp.cpu(), target, input_lengths, target_lengths, reduction="none")
    assert_equal(res_cpu, res_gpu.cpu(), atol=1e-3, rtol=0)


def test_CTCLoss_zero_lengths(impl: Any) -> None:
    N, S, C, T = 3, 2, 200, 1
    target = torch.randint(low=1, high=C, size=(N, S), dtype=torch.int)
    input_lengths = torch.full(size=(N,), fill_value=0, dtype=torch.int)
    target_lengths = torch.full(size=(N,), fill_value=0, dtype=torch.int)
    for device in DEVICES:
        inp = torch.randn(T, N, C, dtype=torch.float, device=device).log_softmax(2).requires_grad_()
        res = impl.ctc_loss(inp, target, input_lengths, target_lengths, reduction="none")
        assert (res == 0).all().item()
        res.sum().backward()
        assert (inp.grad == 0).all().item()
    target_lengths = torch.full(size=(N,), fill_value=1, dtype=torch.int)
    for device in DEVICES:
        inp = torch.randn(T, N, C, dtype=torch.float, device=device).log_softmax(2).requires_grad_()
        res = impl.ctc_loss(inp, target, input_lengths, target_lengths, reduction="none")
        assert (res == torch.inf).all().item()
        res.sum().backward()
        assert (inp.grad == 0).all().item()


@needs_cuda
def test_CTCLoss_zero_infinity(impl: Any) -> None:
    target_lengths = [60, 25, 20]
    input_lengths = [50, 50, 50]
    targets = torch.randint(1, 15, (sum(target_lengths),), dtype=torch.int, device="cuda")
    log_probs = (
        torch.randn(50, 3, 15, dtype=torch.float, device="cuda").log_softmax(2).requires_grad_()
    )
    res = impl.ctc_loss(
        log_probs, targets, input_lengths, target_lengths, reduction="sum", zero_infinity=True
    )
    with torch.backends.cudnn.flags(enabled=False):
        res2 = impl.ctc_loss(
            log_probs,
            targets.cuda().long(),
            input_lengths,
            target_lengths,
            reduction="sum",
            zero_infinity=True,
        )
    res_cpu = impl.ctc_loss(
        log_probs.cpu(),
        targets.cpu(),
        input_lengths,
        target_lengths,
        reduction="sum",
        zero_infinity=True,
    )
    assert_equal(res2, res, atol=1e-4, rtol=0)
    assert_equal(res_cpu, res.cpu(), atol=1e-4, rtol=0)
    (g1,) = torch.autograd.grad(res, log_probs)
    (g2,) = torch.autograd.grad(res2, log_probs)
    (g3,) = torch.autograd.grad(res_cpu, log_probs)
    assert_equal(g2, g3, atol=1e-4, rtol=0)
    assert_equal(g1, g2, atol=1e-4, rtol=0)
    assert (g1 == g1).all().item()  # check that we don't have NaN


def _CTCLoss_gen_losses(
    impl: Any,
    device: str,
    input_length: int,
    vocab_size: int,
    target_length: int,
    reduction: str,
    use_module_form: bool,
) -> tuple:
    batch_size = 1
    log_probs = (
        torch.randn(input_length, batch_size, vocab_size, dtype=torch.float, device=device)
        .log_softmax(2)
        .requires_grad_()
    )
    targets = torch.randint(
        low=1,
        high=vocab_size - 1,
        size=(batch_size, target_length),
        dtype=torch.int,
        device=device,
    )
    input_lengths = batch_size * [input_length]
    target_lengths = batch_size * [target_length]
    log_probs_no_bd = log_probs.squeeze(1).detach().clone().requires_grad_()
    targets_no_bd = targets.squeeze(0).detach().clone()
    input_lengths_no_bd = torch.tensor(input_length)
    target_lengths_no_bd = torch.tensor(target_length)
    log_probs_refs = [log_probs.detach().clone().requires_grad_() for _ in range(2)]
    log_probs_no_bd_refs = [log_probs_no_bd.detach().clone().requires_grad_() for _ in range(1)]
    losses = []
    losses_no_bd = []
    ctc_loss = (
        impl.CTCLoss(reduction=reduction, zero_infinity=True)
        if use_module_form
        else partial(impl.ctc_loss, reduction=reduction, zero_infinity=True)
    )
    with torch.backends.cudnn.flags(enabled=False):
        # batched: log_probs (T, N, C), targets (N, S), lengths (N,)
        losses.append(ctc_loss(log_probs_refs[0], targets, input_lengths, target_lengths))
        # batched: log_probs (T, N, C), targets (S,), lengths (N,)
        losses.append(ctc_loss(log_probs_refs[1], targets_no_bd, input_lengths, target_lengths))
        # unbatched: log_probs (T, C), targets (S,), lengths 0-d
        losses_no_bd.append(
            ctc_loss(
                log_probs_no_bd_refs[0], targets_no_bd, input_lengths_no_bd, target_lengths_no_bd
            )
        )
        for loss in losses + losses_no_bd:
            loss.backward()
    return losses, losses_no_bd, log_probs_refs, log_probs_no_bd_refs


def _assertEqual_list(expected: Any, list_to_compare: list, **kwargs: Any) -> None:
    for ele in list_to_compare:
        if isinstance(expected, tuple):
            assert expected == ele
        else:
            assert_equal(ele, expected, **kwargs)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("use_module_form", [True, False])
def test_CTCLoss_no_batch_dim(
    impl: Any, device: str, reduction: str, use_module_form: bool
) -> None:
    input_length, vocab_size, target_length = 40, 3, 12
    args = _CTCLoss_gen_losses(
        impl, device, input_length, vocab_size, target_length, reduction, use_module_form
    )
    losses, losses_no_bd, log_probs_refs, log_probs_no_bd_refs = args
    # test output values
    _assertEqual_list(losses[0], losses[1:], atol=1e-4, rtol=0)
    _assertEqual_list(losses[0].squeeze(0), losses_no_bd, atol=1e-4, rtol=0)
    # test gradient values
    _assertEqual_list(
        log_probs_refs[0].grad, [t.grad for t in log_probs_refs[1:]], atol=1e-4, rtol=0
    )
    _assertEqual_list(
        log_probs_refs[0].grad.squeeze(1),
        [t.grad for t in log_probs_no_bd_refs],
        atol=1e-4,
        rtol=0,
    )
    # the output's shape: (N,) with a batch dimension, () without
    _assertEqual_list((1,) if reduction == "none" else (), [tuple(loss.shape) for loss in losses])
    _assertEqual_list((), [tuple(loss.shape) for loss in losses_no_bd])
    # the gradient's shape: (T, N, C) with a batch dimension, (T, C) without
    _assertEqual_list((input_length, 1, vocab_size), [tuple(t.grad.shape) for t in log_probs_refs])
    _assertEqual_list(
        (input_length, vocab_size), [tuple(t.grad.shape) for t in log_probs_no_bd_refs]
    )
