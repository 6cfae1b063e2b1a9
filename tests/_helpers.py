"""Shared test helpers: build a pair of modules (ours and torch.nn's) with the same weights and
compare them (test_rnn.py, test_lstm.py, test_gru.py); wrong answers the grading tests share."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from tests.conftest import tolerances

F64 = tolerances(torch.float64)


@dataclass(frozen=True)
class Case:
    """One point of the equivalence grid."""

    T: int = 5  # steps
    N: int = 3  # batch
    H_in: int = 3  # input features
    H: int = 4  # hidden units
    L: int = 1  # layers
    bidirectional: bool = False
    batch_first: bool = False
    bias: bool = True
    with_hx: bool = False  # pass an initial state instead of zeros
    unbatched: bool = False  # (T, H_in) input

    def kwargs(self) -> dict[str, Any]:
        return {
            "input_size": self.H_in,
            "hidden_size": self.H,
            "num_layers": self.L,
            "bias": self.bias,
            "batch_first": self.batch_first,
            "bidirectional": self.bidirectional,
        }


_BASE = Case()
GRID = [
    replace(_BASE, T=1, N=1, H=1),
    replace(_BASE, L=2),
    replace(_BASE, L=3),
    replace(_BASE, bidirectional=True),
    replace(_BASE, L=2, bidirectional=True),
    replace(_BASE, L=3, bidirectional=True, with_hx=True),
    replace(_BASE, L=2, bidirectional=True, batch_first=True),
    replace(_BASE, L=2, bias=False, bidirectional=True),
    replace(_BASE, with_hx=True),
    replace(_BASE, unbatched=True),
    replace(_BASE, L=2, bidirectional=True, unbatched=True, with_hx=True),
    replace(_BASE, T=1, bidirectional=True, with_hx=True),
    replace(_BASE, N=1, H=1, L=2, bidirectional=True, batch_first=True, with_hx=True),
]


def case_id(case: Case) -> str:
    changed = {k: v for k, v in case.__dict__.items() if v != getattr(_BASE, k)}
    return ",".join(f"{k}={v}" for k, v in changed.items()) or "default"


def make_pair(
    ours_cls: type[nn.Module],
    ref_cls: type[nn.Module],
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float64,
    **kwargs: Any,
) -> tuple[nn.Module, nn.Module]:
    """``(ours, reference)`` with the reference's random weights copied into ours."""
    ref = ref_cls(**kwargs, device=device, dtype=dtype)
    ours = ours_cls(**kwargs, device=device, dtype=dtype)
    ours.load_state_dict(ref.state_dict())
    return ours, ref


def make_inputs(
    case: Case, state_count: int, device: torch.device | str = "cpu", dtype=torch.float64
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
    """A random input in the case's layout and, if asked for, random initial states."""
    g = torch.Generator().manual_seed(1)
    shape = (case.N, case.T, case.H_in) if case.batch_first else (case.T, case.N, case.H_in)
    if case.unbatched:
        shape = (case.T, case.H_in)
    x = torch.randn(shape, generator=g, dtype=dtype).to(device)
    if not case.with_hx:
        return x, None
    rows = case.L * (2 if case.bidirectional else 1)
    state_shape = (rows, case.H) if case.unbatched else (rows, case.N, case.H)
    states = tuple(
        torch.randn(state_shape, generator=g, dtype=dtype).to(device) for _ in range(state_count)
    )
    return x, states


def run_with_grads(
    model: nn.Module, x: torch.Tensor, states: tuple[torch.Tensor, ...] | None
) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
    """Forward, then backward of a random linear function of every output.

    Returns the outputs (output, then each final state) and the gradients of every
    parameter, of the input and of each initial state.
    """
    x = x.clone().requires_grad_(True)
    leaves = {"input": x}
    hx: Any = None
    if states is not None:
        states = tuple(s.clone().requires_grad_(True) for s in states)
        leaves.update({f"state{i}": s for i, s in enumerate(states)})
        hx = states if len(states) == 2 else states[0]
    output, final = model(x, hx)
    finals = list(final) if isinstance(final, tuple) else [final]
    outs = [output, *finals]
    g = torch.Generator().manual_seed(2)
    loss = sum(
        (o * torch.randn(o.shape, generator=g, dtype=o.dtype).to(o.device)).sum() for o in outs
    )
    model.zero_grad()
    loss.backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    grads.update({name: leaf.grad for name, leaf in leaves.items()})
    return outs, grads


def assert_matches_torch(
    ours_cls: type[nn.Module],
    ref_cls: type[nn.Module],
    case: Case,
    state_count: int,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float64,
    **extra: Any,
) -> None:
    """Outputs, final states and all gradients of ours equal torch's for this case."""
    torch.manual_seed(0)
    ours, ref = make_pair(ours_cls, ref_cls, device, dtype, **case.kwargs(), **extra)
    x, states = make_inputs(case, state_count, device, dtype)
    outs_ours, grads_ours = run_with_grads(ours, x, states)
    outs_ref, grads_ref = run_with_grads(ref, x, states)
    tol = tolerances(dtype)
    assert len(outs_ours) == len(outs_ref)
    for a, b in zip(outs_ours, outs_ref, strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, **tol)
    assert grads_ours.keys() == grads_ref.keys()
    for name in grads_ref:
        torch.testing.assert_close(grads_ours[name], grads_ref[name], **tol, msg=name)


def assert_same_parameters(ours: nn.Module, ref: nn.Module) -> None:
    """Same names, in the same order, with the same shapes and values."""
    named_ours = list(ours.named_parameters())
    named_ref = list(ref.named_parameters())
    assert [n for n, _ in named_ours] == [n for n, _ in named_ref]
    for (name, a), (_, b) in zip(named_ours, named_ref, strict=True):
        assert a.shape == b.shape, name
        assert torch.equal(a, b), name


def assert_state_dict_round_trip(ours_cls, ref_cls, **kwargs: Any) -> None:
    """load_state_dict works from torch to ours and from ours to torch, strictly."""
    torch.manual_seed(0)
    ref = ref_cls(**kwargs)
    ours = ours_cls(**kwargs)
    ours.load_state_dict(ref.state_dict())  # strict: same keys and shapes
    assert_same_parameters(ours, ref)
    with torch.no_grad():
        for p in ours.parameters():
            p.add_(1.0)
    ref.load_state_dict(ours.state_dict())
    assert_same_parameters(ours, ref)


def assert_dropout_behaviour(ours_cls, ref_cls, state_count: int) -> None:
    """Eval mode ignores dropout; training mode drops between layers, reproducibly."""
    kwargs = {"input_size": 3, "hidden_size": 4, "num_layers": 3, "dropout": 0.5}
    ours, ref = make_pair(ours_cls, ref_cls, **kwargs)
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    ours.eval()
    ref.eval()
    torch.testing.assert_close(ours(x)[0], ref(x)[0], **F64)
    ours.train()
    torch.manual_seed(3)
    first = ours(x)[0]
    torch.manual_seed(3)
    second = ours(x)[0]
    torch.manual_seed(4)
    third = ours(x)[0]
    torch.testing.assert_close(first, second, atol=0, rtol=0)  # same seed, same masks
    assert not torch.allclose(first, third)  # another seed, other masks
    assert not torch.allclose(first, ours.eval()(x)[0])  # training differs from eval


def assert_no_dropout_after_last_layer(ours_cls) -> None:
    """With one layer, dropout has nowhere to go: training output equals eval output."""
    with pytest.warns(UserWarning, match="dropout"):
        model = ours_cls(3, 4, num_layers=1, dropout=0.9, dtype=torch.float64)
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    torch.testing.assert_close(model.train()(x)[0], model.eval()(x)[0], atol=0, rtol=0)


def numgrad_shifted(f, param, eps=1e-6):
    """Right values, but each entry is put back as (old + eps) - eps, not as old."""
    grad = np.zeros_like(param)
    for idx in np.ndindex(param.shape):
        param[idx] += eps
        f_plus = f()
        param[idx] -= 2 * eps
        f_minus = f()
        param[idx] += eps
        grad[idx] = (f_plus - f_minus) / (2 * eps)
    return grad


def kernel_check(task: str, *cells: str, fn: str | None = None) -> BaseException | None:
    """Run ``cells`` in a fresh IPython shell as a Jupyter kernel runs them (history kept),
    then the test cell ``grading.check(task, fn)``; the verdict it raised, or ``None``.

    This is the learner's own self-check, which reads their cells' source the way the trusted
    grader does (:func:`rnncourse.grading.checks.source_findings`)."""
    from IPython.core.interactiveshell import InteractiveShell

    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance()
    try:
        for source in ("from rnncourse import grading", *cells):
            result = shell.run_cell(source, store_history=True)
            if result.error_before_exec or result.error_in_exec:
                raise AssertionError(f"the cell failed: {source}") from (
                    result.error_before_exec or result.error_in_exec
                )
        test = f"grading.check({task!r}, {fn or task})"
        return shell.run_cell(test, store_history=True).error_in_exec
    finally:
        InteractiveShell.clear_instance()


def source_of(fn: Any) -> str:
    """The source of a function defined in a test, dedented, to run as a notebook cell."""
    import inspect
    import textwrap

    return textwrap.dedent(inspect.getsource(fn))
