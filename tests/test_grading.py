"""Tests for rnncourse.grading: comparisons, diagnoses of every registered mistake, tampering."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnncourse.bptt
import rnncourse.rnn
from rnncourse import grading

# -- honest, independent implementations (torch's C++ cells, autograd, torch.nn.utils) ---------


def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    return torch.rnn_tanh_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh)


def lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    return torch.lstm_cell(x, state, weight_ih, weight_hh, bias_ih, bias_hh)


def gru_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    return torch.gru_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh)


def output_layer(h, weight_hy, bias_y):
    return torch.addmm(bias_y, h.reshape(-1, h.shape[-1]), weight_hy.T).reshape(*h.shape[:-1], -1)


def count_parameters(input_size, hidden_size, output_size):
    rnn = torch.nn.RNN(input_size, hidden_size)
    head = torch.nn.Linear(hidden_size, output_size)
    return sum(p.numel() for p in [*rnn.parameters(), *head.parameters()])


def rnn_forward(x, h_0, params):
    h = x.new_zeros(x.shape[1], params["weight_hh"].shape[0]) if h_0 is None else h_0
    states = []
    for x_t in x:
        h = torch.rnn_tanh_cell(x_t, h, *(params[k] for k in rnncourse.bptt.PARAM_NAMES[:4]))
        states.append(h)
    return torch.stack(states), h


def last_hidden(output, lengths):
    return torch.stack([output[int(n) - 1, i] for i, n in enumerate(lengths)])


def rnn_backward(params, cache, dy=None, dh_T=None):
    """Autograd through a torch re-implementation of the forward pass."""
    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    h = h_0 = torch.tensor(cache["h_0"], requires_grad=True)
    states = []
    for x_t in torch.tensor(cache["x"]):
        h = torch.tanh(x_t @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"])
        h.retain_grad()
        states.append(h)
    y = torch.stack(states) @ p["weight_hy"].T + p["bias_y"]
    dy = torch.tensor(cache["y"] - cache["targets"] if dy is None else dy)
    loss = (y * dy).sum() + (0 if dh_T is None else (states[-1] * torch.tensor(dh_T)).sum())
    loss.backward()
    grads = {k: v.grad.numpy() for k, v in p.items()}
    grads["h_0"] = h_0.grad.numpy()
    return grads, torch.stack([s.grad for s in states]).numpy()


def clip_grad_norm_np(grads, max_norm, norm_type=2.0):
    tensors = [
        torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads.values()
    ]
    for t, g in zip(tensors, grads.values(), strict=True):
        t.grad = torch.tensor(g)
    total = torch.nn.utils.clip_grad_norm_(tensors, max_norm, norm_type, foreach=False)
    return {k: t.grad.numpy() for k, t in zip(grads, tensors, strict=True)}, float(total)


def clip_grad_value_np(grads, clip_value):
    tensors = [
        torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads.values()
    ]
    for t, g in zip(tensors, grads.values(), strict=True):
        t.grad = torch.tensor(g)
    torch.nn.utils.clip_grad_value_(tensors, clip_value, foreach=False)
    return {k: t.grad.numpy() for k, t in zip(grads, tensors, strict=True)}


HONEST = {
    "rnn_cell": rnn_cell,
    "lstm_cell": lstm_cell,
    "gru_cell": gru_cell,
    "output_layer": output_layer,
    "count_parameters": count_parameters,
    "rnn_forward": rnn_forward,
    "last_hidden": last_hidden,
    "rnn_backward": rnn_backward,
    "clip_grad_norm_np": clip_grad_norm_np,
    "clip_grad_value_np": clip_grad_value_np,
}

MISTAKES = [(name, m.name) for name in grading.spec_names() for m in grading.spec(name).mistakes]


@pytest.mark.parametrize("name", sorted(HONEST))
def test_independent_implementation_passes(name):
    """Does an independent implementation (torch.nn, autograd, torch.nn.utils) pass check?"""
    spec = grading.spec(name)
    cases = spec.cases
    if name in ("rnn_cell", "gru_cell", "lstm_cell"):
        cases = [*cases, {"N": 2, "H_in": 3, "H": 2, "bias": False}]
    if name == "rnn_backward":
        cases = [*cases, {**cases[0], "dy": True, "dh_T": True}]
    grading.check(name, HONEST[name], cases=cases, seed=5)


@pytest.mark.parametrize(("name", "mistake"), MISTAKES, ids=[f"{n}-{m}" for n, m in MISTAKES])
def test_mistake_is_diagnosed(name, mistake):
    """Does every registered mistaken variant fail check with its own hint?"""
    grading.check_mistake(name, mistake)


def test_every_exercise_function_has_mistakes():
    """Is there at least one recognised mistake for every graded function?"""
    assert all(grading.spec(name).mistakes for name in grading.spec_names())


def test_lstm_gate_orders_and_gru_reset_placements_are_registered():
    """Can exercise 7 reuse the LSTM gate-order and GRU reset-placement diagnoses?"""
    lstm = {m.name for m in grading.spec("lstm_cell").mistakes}
    gru = {m.name for m in grading.spec("gru_cell").mistakes}
    assert len([m for m in lstm if m.startswith("gate-order-")]) == 23
    assert {"reset-outside-bias", "reset-before", "update-flipped"} <= gru


# -- feedback ----------------------------------------------------------------------------------


def _message(name, fn, **kwargs) -> str:
    with pytest.raises(AssertionError) as info:
        grading.check(name, fn, **kwargs)
    return str(info.value)


def test_blank_answer_says_not_implemented():
    """Does an unanswered function get a plain 'not implemented yet'?"""

    def blank(*args):
        raise NotImplementedError()

    assert "rnn_cell is not implemented yet" in _message("rnn_cell", blank)


def test_wrong_shape_names_expected_and_actual_shape():
    """Does a wrong output shape report both shapes and the input shapes?"""
    message = _message("rnn_cell", lambda x, h, *rest: h.T)
    assert "expected shape (3, 4), got shape (4, 3)" in message
    assert "rnn_cell(x=(3, 4), h=(3, 4), weight_ih=(4, 4)" in message


def test_wrong_values_report_largest_error_and_index():
    """Does a wrong value report the largest error, its index and expected vs actual?"""

    def off(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
        out = rnn_cell(x, h, w_ih, w_hh, b_ih, b_hh).clone()
        out[1, 2] += 0.5
        return out

    message = _message("rnn_cell", off)
    assert "largest error 0.5 at index (1, 2)" in message
    assert "Likely mistake" not in message


def test_learner_exception_is_reported_with_shapes_and_hint():
    """Does an error inside the learner's code name the error, the shapes and a hint?"""

    def transposed(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
        return torch.tanh(x @ w_ih + h @ w_hh.T + b_ih + b_hh)

    message = _message("rnn_cell", transposed, cases=[{"N": 2, "H_in": 3, "H": 5}])
    assert "rnn_cell raised RuntimeError" in message
    assert "x=(2, 3)" in message and "x @ W.T" in message


def test_messages_reveal_no_reference_code_or_values_of_inputs():
    """Does feedback stay free of the reference's source and of the hidden inputs' values?"""
    message = _message("rnn_cell", grading.spec("rnn_cell").mistakes[4].variant, seed=123)
    for leak in ("F.linear", "def ", "rnn_step", "seed", "123"):
        assert leak not in message


def test_wrong_container_type_is_explained():
    """Does returning a NumPy array where a tensor is expected say so?"""
    message = _message("rnn_cell", lambda *a: rnn_cell(*a).cpu().numpy())
    assert "expected a torch tensor on cpu, got a NumPy array" in message


def test_sys_exit_in_learner_code_fails_the_check():
    """Does a function that calls sys.exit fail instead of ending the check?"""

    def leave(*args):
        raise SystemExit(0)

    assert "tried to exit" in _message("rnn_cell", leave)


# -- tampering ---------------------------------------------------------------------------------


def wrong_rnn_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    return torch.tanh(x @ w_ih.T + b_ih + b_hh)  # ignores h


@pytest.mark.parametrize(
    ("target", "attr", "label"),
    [
        (np, "allclose", "numpy.allclose"),
        (torch, "allclose", "torch.allclose"),
        (torch.testing, "assert_close", "torch.testing.assert_close"),
        (np.testing, "assert_allclose", "numpy.testing.assert_allclose"),
        (torch, "tanh", "torch.tanh"),
        (rnncourse.rnn, "rnn_cell", "rnncourse.rnn.rnn_cell"),
    ],
)
def test_rebinding_a_library_function_fails_the_check(monkeypatch, target, attr, label):
    """Does rebinding allclose, assert_close or the reference make check fail, not pass?"""
    monkeypatch.setattr(target, attr, lambda *a, **k: True)
    assert f"the notebook rebinds {label}" in _message("rnn_cell", wrong_rnn_cell)


def test_rebinding_tensor_methods_fails_the_check(monkeypatch):
    """Does patching torch.Tensor (e.g. __sub__) make check fail?"""
    monkeypatch.setattr(torch.Tensor, "__sub__", lambda a, b: a.new_zeros(a.shape))
    assert "the notebook rebinds torch.Tensor.__sub__" in _message("rnn_cell", wrong_rnn_cell)


def test_grading_module_is_read_only():
    """Can a notebook replace grading.check? It must not."""
    with pytest.raises(AttributeError, match="read-only"):
        grading.check = lambda *a, **k: None  # type: ignore[misc]
    with pytest.raises(AttributeError, match="read-only"):
        del grading.check


def test_rebinding_names_in_the_notebook_namespace_fails():
    """Does a notebook that rebinds np (e.g. to a fake module) fail the check?"""
    namespace = {"np": object(), "grading": grading, "torch": torch, "f": wrong_rnn_cell}
    with pytest.raises(AssertionError, match="the notebook rebinds np"):
        exec('grading.check("rnn_cell", f)', namespace)


def test_calling_the_reference_is_refused():
    """Does a function that just calls rnncourse.rnn.rnn_cell fail with a clear message?"""
    reference = rnncourse.rnn.rnn_cell

    def copy(*args):
        return reference(*args)

    assert "calls the reference implementation" in _message("rnn_cell", copy)
    with pytest.raises(AssertionError, match="calls the reference"):
        grading.check("rnn_cell", lambda *a: torch.nn.RNNCell.forward(_cell(a), a[0], a[1]))


def _cell(args):
    x, h, w_ih, w_hh, b_ih, b_hh = args
    cell = torch.nn.RNNCell(x.shape[-1], h.shape[-1]).to(x.device, x.dtype)
    with torch.no_grad():
        for p, v in zip(cell.parameters(), (w_ih, w_hh, b_ih, b_hh), strict=True):
            p.copy_(v)
    return cell


def test_checks_run_on_every_device():
    """Do torch checks run on CPU and, when present, CUDA?"""
    assert grading.devices()[0] == "cpu"
    assert ("cuda" in grading.devices()) == torch.cuda.is_available()
    seen = set()

    def spy(x, h, *rest):
        seen.add(x.device.type)
        return rnn_cell(x, h, *rest)

    grading.check("rnn_cell", spy)
    assert seen == {d.split(":")[0] for d in grading.devices()}


SPEC_MODULE = """
from rnncourse.grading import Mistake, Spec


def _double(x):
    return 2 * x


def _inputs(rng, case):
    return (rng.normal(size=(case["N"],)),), {}


def specs():
    mistake = Mistake("triple", "multiply by 2, not 3", lambda x: 3 * x)
    cases = ({"N": 3},)
    return [Spec("double_demo", _double, _inputs, cases, backend="numpy", mistakes=(mistake,))]
"""


def test_specs_from_a_specs_module_are_registered(tmp_path, monkeypatch):
    """Does a rnncourse/_specs_<topic>.py module add graded functions with their mistakes?"""
    import sys

    import rnncourse

    (tmp_path / "_specs_demo_topic.py").write_text(SPEC_MODULE)
    monkeypatch.setattr(rnncourse, "__path__", [*rnncourse.__path__, str(tmp_path)])
    try:
        grading._load_spec_modules()
        grading.check("double_demo", lambda x: x + x)
        grading.check_mistake("double_demo", "triple")
    finally:
        grading._SPECS.pop("double_demo", None)
        grading._SNAPSHOTS.pop("rnncourse._specs_demo_topic", None)
        grading._SPACES.pop("rnncourse._specs_demo_topic", None)
        sys.modules.pop("rnncourse._specs_demo_topic", None)
