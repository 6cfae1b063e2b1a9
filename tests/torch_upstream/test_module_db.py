"""rnncourse's recurrent modules on PyTorch's own test inputs, with torch.nn as the control.

The inputs and the error cases are PyTorch's: the ``module_db`` entries of RNN, GRU, LSTM and
the three cells in the installed torch's ``common_modules.py`` (loaded by :mod:`._module_db`).
The checks are ours: every error case raises the error type torch's entry names (matching its
message), and every input gives the same outputs, final states and gradients as torch.nn with
the same weights (float64; ``torch.testing.assert_close``'s float64 tolerances, rtol 1e-7,
atol 1e-7).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

import rnncourse
from tests.torch_upstream._module_db import (
    ENTRIES,
    ModuleErrorEnum,
    module_error_inputs,
    module_inputs,
)

IMPLEMENTATIONS = {"torch.nn": torch.nn, "rnncourse": rnncourse}


def _cases(kind: str) -> list[Any]:
    out = []
    for entry in ENTRIES:
        if kind == "errors":
            items = module_error_inputs(entry, "cpu", torch.float64)
        else:
            items = module_inputs(entry, "cpu", torch.float64, True, True)
        out += [
            pytest.param(entry, i, item, id=f"{entry.name}-{i}") for i, item in enumerate(items)
        ]
    return out


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize(("entry", "index", "case"), _cases("errors"))
def test_error_inputs_raise_torchs_error(impl: str, entry: Any, index: int, case: Any) -> None:
    """Does each of torch's error cases raise the type (and words) its entry names?"""
    cls = getattr(IMPLEMENTATIONS[impl], entry.name)
    made = case.module_error_input
    with pytest.raises(case.error_type, match=case.error_regex):
        module = cls(*made.constructor_input.args, **made.constructor_input.kwargs)
        assert case.error_on == ModuleErrorEnum.FORWARD_ERROR, "construction should have failed"
        module(*made.forward_input.args, **made.forward_input.kwargs)


def _leaves(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, torch.nn.utils.rnn.PackedSequence):
        return [value.data]
    if isinstance(value, tuple | list):
        return [leaf for item in value for leaf in _leaves(item)]
    return []


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize(("entry", "index", "case"), _cases("inputs"))
def test_same_outputs_and_gradients_as_torch(entry: Any, index: int, case: Any,
                                             training: bool) -> None:  # fmt: skip
    """Does rnncourse give torch.nn's outputs, states and parameter gradients on each input?"""
    args, kwargs = case.constructor_input.args, case.constructor_input.kwargs
    torch.manual_seed(index)
    theirs = getattr(torch.nn, entry.name)(*args, **kwargs).to(torch.float64)
    ours = getattr(rnncourse, entry.name)(*args, **kwargs).to(torch.float64)
    ours.load_state_dict(theirs.state_dict())
    theirs.train(training)
    ours.train(training)
    results = []
    for module in (theirs, ours):
        inputs = copy.deepcopy((case.forward_input.args, case.forward_input.kwargs))
        out = module(*inputs[0], **inputs[1])
        leaves = _leaves(out)
        total = sum(leaf.sum() for leaf in leaves if leaf.requires_grad)
        grads = (torch.autograd.grad(total, list(module.parameters()), allow_unused=True)
                 if torch.is_tensor(total) and total.requires_grad else ())  # fmt: skip
        results.append((leaves, grads))
    (want, want_grads), (got, got_grads) = results
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-7)
    for a, b in zip(got_grads, want_grads, strict=True):
        if b is not None:
            torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-7)
