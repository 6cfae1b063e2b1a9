"""Tests for rnncourse.grading: comparisons, diagnoses of every registered mistake, tampering."""

from __future__ import annotations

import functools
import re

import numpy as np
import pytest
import torch

import rnncourse.bptt
import rnncourse.gradients
import rnncourse.rnn
from rnncourse import grading
from rnncourse.grading import checks as check_module
from rnncourse.grading import specs as spec_module
from rnncourse.grading import trained
from rnncourse.grading.compare import compare
from tests._helpers import kernel_check, source_of
from tests._helpers import numgrad_shifted as _numgrad_shifted
from tests.alternatives import _LeastSquaresAR

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
        weights = (params[k] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        h = torch.rnn_tanh_cell(x_t, h, *weights)
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

# these use torch's C cells, which the cell specs forbid in a learner's cells (their source is read)
LIBRARY_BASED = {"rnn_cell", "lstm_cell", "gru_cell"}

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
    grading._check(name, HONEST[name], cases=cases, seed=5)


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


def scratch_rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """The tanh step written out, for tests of feedback (torch's cell would be refused)."""
    return torch.tanh(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh)


def _message(name, fn, **kwargs) -> str:
    # a function from a module: no notebook cells to read
    check = grading._check
    with pytest.raises(AssertionError) as info:
        check(name, fn, **kwargs)
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
        out = scratch_rnn_cell(x, h, w_ih, w_hh, b_ih, b_hh).clone()
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
    message = _message("rnn_cell", lambda *a: scratch_rnn_cell(*a).cpu().numpy())
    assert "expected a torch tensor on cpu, got a NumPy array" in message


def test_sys_exit_in_learner_code_fails_the_check():
    """Does a function that calls sys.exit fail instead of ending the check?"""

    def leave(*args):
        raise SystemExit(0)

    assert "tried to exit" in _message("rnn_cell", leave)


# -- tampering ---------------------------------------------------------------------------------


def wrong_rnn_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    return torch.tanh(x @ w_ih.T + b_ih + b_hh)  # ignores h


def test_every_assignment_has_its_spec_module():
    """Is there one spec module per assignment folder in solutions/, imported in their order,
    and does each notebook check exactly the functions its own module registers?"""
    import ast
    import json
    import pathlib

    solutions = pathlib.Path(__file__).parents[1] / "solutions"
    folders = sorted(p.name for p in solutions.iterdir() if p.is_dir())
    assert list(grading.ASSIGNMENTS) == folders
    for folder in folders:
        module = pathlib.Path(grading.__file__).with_name(f"{folder}.py")
        registered = {
            node.args[0].value
            for node in ast.walk(ast.parse(module.read_text()))
            if isinstance(node, ast.Call)
            and getattr(node.func, "id", None) in ("Spec", "Benchmark")
            and isinstance(node.args[0], ast.Constant)
        }
        cells = json.loads((solutions / folder / f"{folder}.ipynb").read_text())["cells"]
        code = "\n".join("".join(cell["source"]) for cell in cells)
        checked = set(re.findall(r'check(?:_trained)?\(\s*"(\w+)"', code))
        assert checked == registered, (folder, checked ^ registered)


def test_calling_the_reference_is_refused_in_the_learners_kernel():
    """In a real IPython kernel, does a self-check refuse an answer that hands the work to the
    reference (through an alias) or to torch's cell, naming the cell, line and construct?"""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    run = functools.partial(shell.run_cell, store_history=True)  # as a kernel runs cells
    try:
        run("from rnncourse import grading")
        run("from rnncourse import rnn as R\ndef rnn_cell(*a):\n    return R.rnn_cell(*a)")
        result = run('grading.check("rnn_cell", rnn_cell)')
        message = str(result.error_in_exec)
        assert "rnn_cell cannot be graded as written" in message
        assert 'the cell that begins "from rnncourse import rnn as R' in message
        assert result.error_in_exec.rnncourse_verdict == "refused"
        run("import torch\ndef rnn_cell(x, h, *w):\n    return torch.rnn_tanh_cell(x, h, *w)")
        result = run('grading.check("rnn_cell", rnn_cell)')
        assert "torch.rnn_tanh_cell" in str(result.error_in_exec)
        # the same answer written from the equations passes, whatever the earlier cells did
        run(
            "def rnn_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):\n"
            "    return torch.tanh(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh)"
        )
        assert run('grading.check("rnn_cell", rnn_cell)').error_in_exec is None
    finally:
        InteractiveShell.clear_instance()


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
        return scratch_rnn_cell(x, h, *rest)

    grading.check("rnn_cell", spy)
    assert seen == {d.split(":")[0] for d in grading.devices()}


# -- exercises 6-10: independent implementations built on torch.nn.GRU -------------------------


def _torch_gru(params, suffix="", bidirectional=False, like=None):
    """A torch.nn.GRU holding ``params`` (names without the ``_l0`` of torch's)."""
    H_in = params[f"weight_ih{suffix}"].shape[1]
    H = params[f"weight_hh{suffix}"].shape[1]
    gru = torch.nn.GRU(H_in, H, bidirectional=bidirectional).to(like.device, like.dtype)
    with torch.no_grad():
        for name, p in gru.named_parameters():
            key = name if bidirectional else name.removesuffix("_l0") + suffix
            p.copy_(params[key])
    return gru


def tag_sequence(x, params):
    output, _ = _torch_gru(params, like=x)(x)
    return torch.nn.functional.linear(output, params["weight_hy"], params["bias_y"])


def classify_sequences(x, lengths, params):
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
    _, h_n = _torch_gru(params, like=x)(packed)
    return torch.nn.functional.linear(h_n[0], params["weight_hy"], params["bias_y"])


def generate(x, steps, params, y_teacher=None):
    H_out, H = params["weight_hy"].shape[0], params["weight_hh"].shape[1]
    cell = torch.nn.GRUCell(H_out, H).to(x.device, x.dtype)
    with torch.no_grad():
        for name, p in cell.named_parameters():
            p.copy_(params[name])
    h = torch.tanh(torch.nn.functional.linear(x, params["weight_xh"], params["bias_xh"]))
    y, ys = x.new_zeros(x.shape[0], H_out), []
    for t in range(steps):
        h = cell(y, h)
        ys.append(torch.nn.functional.linear(h, params["weight_hy"], params["bias_y"]))
        y = ys[-1] if y_teacher is None else y_teacher[t]
    return torch.stack(ys)


def reverse_gru(x, h_0, params):
    output, h_n = _torch_gru(params, like=x)(x.flip(0), h_0[None])
    return output.flip(0), h_n[0]


def bidirectional_gru(x, params):
    return _torch_gru(params, "_l0", bidirectional=True, like=x)(x)


def bidirectional_gru_padded(x, lengths, params):
    rnn = torch.nn.utils.rnn
    packed = rnn.pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
    output, h_n = _torch_gru(params, "_l0", bidirectional=True, like=x)(packed)
    return rnn.pad_packed_sequence(output, total_length=x.shape[0])[0], h_n


def encode(src, lengths, enc):
    rnn = torch.nn.utils.rnn
    x = torch.nn.functional.embedding(src, enc["embedding"])
    packed = rnn.pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
    output, h_n = _torch_gru(enc, like=x)(packed)
    return rnn.pad_packed_sequence(output, total_length=src.shape[0])[0], h_n[0]


def decode_teacher_forced(tgt, state, dec):
    inputs = torch.cat([torch.full_like(tgt[:1], 2), tgt[:-1]])  # BOS, tgt[0], ..., tgt[T-2]
    x = torch.nn.functional.embedding(inputs, dec["embedding"])
    output, _ = _torch_gru(dec, like=state)(x, state[None])
    return torch.nn.functional.linear(output, dec["weight_out"], dec["bias_out"])


def greedy_translate(src, lengths, params, max_len):
    _, state = encode(src, lengths, params["encoder"])
    dec = params["decoder"]
    gru = _torch_gru(dec, like=state)
    y = torch.full_like(src[0], 2)
    tokens, done = [], torch.zeros_like(y, dtype=torch.bool)
    for _ in range(max_len):
        out, h = gru(torch.nn.functional.embedding(y, dec["embedding"])[None], state[None])
        state = h[0]
        y = torch.nn.functional.linear(out[0], dec["weight_out"], dec["bias_out"]).argmax(-1)
        tokens.append(torch.where(done, 0, y))
        done = done | (y == 3)
    return torch.stack(tokens)


def make_windows(series, window, horizon):
    s = series.cpu().numpy()
    M = len(s) - window - horizon + 1
    X = np.stack([s[m : m + window] for m in range(M)], axis=1)[..., None]
    y = np.stack([s[m + window : m + window + horizon] for m in range(M)])
    return torch.tensor(X, device=series.device), torch.tensor(y, device=series.device)


def naive_forecast(X, horizon):
    return torch.stack([X[-1, :, 0]] * horizon, dim=1)


HONEST_EX06_10 = {
    "tag_sequence": tag_sequence,
    "classify_sequences": classify_sequences,
    "generate": generate,
    "reverse_gru": reverse_gru,
    "bidirectional_gru": bidirectional_gru,
    "bidirectional_gru_padded": bidirectional_gru_padded,
    "encode": encode,
    "decode_teacher_forced": decode_teacher_forced,
    "greedy_translate": greedy_translate,
    "make_windows": make_windows,
    "naive_forecast": naive_forecast,
}


@pytest.mark.parametrize("name", sorted(HONEST_EX06_10))
def test_independent_implementation_passes_ex06_10(name):
    """Does a torch.nn.GRU-based (or NumPy) implementation pass check, for exercises 6-10?"""
    spec = grading.spec(name)
    cases = list(spec.cases)
    if name == "generate":
        cases.append({"steps": 5, "N": 3, "H_in": 2, "H": 4, "H_out": 3, "teacher": True})
    # torch.nn.GRU is forbidden in a learner's cells (they write the loop); this is a test's
    grading._check(name, HONEST_EX06_10[name], cases=cases, seed=5)


def test_exercise_7_diagnoses_bias_mistakes_and_swapped_activations():
    """Are the extra LSTM/GRU mistakes of exercise 7 registered (and so tested above)?"""
    lstm = {m.name for m in grading.spec("lstm_cell").mistakes}
    gru = {m.name for m in grading.spec("gru_cell").mistakes}
    assert {"all-activations-swapped", "missing-bias-hh", "doubled-bias"} <= lstm
    assert {"missing-bias-hh", "missing-bias-ih", "doubled-bias"} <= gru


# -- trained models -------------------------------------------------------------------------------


class _Adder(torch.nn.Module):
    """Solves the adding problem exactly: sum of value × marker."""

    def forward(self, x):
        return (x[..., 0] * x[..., 1]).sum(0)[:, None]  # (N, 1)


class _Constant(torch.nn.Module):
    def forward(self, x):
        return x.new_ones(x.shape[1], 1)


def test_check_trained_passes_a_model_that_beats_the_baseline(capsys):
    """Do a perfect adder and a least-squares AR(12) forecaster pass check_trained, each
    saying so in one line with the score it reached?"""
    grading.check_trained("train_adding_model", lambda x, y: _Adder())
    grading.check_trained("train_forecaster", _LeastSquaresAR)
    X, y = trained._BENCHMARKS["train_forecaster"].make_data(0)[0]
    score, baseline, threshold = grading.benchmark_score("train_forecaster", _LeastSquaresAR(X, y))
    assert score < threshold == pytest.approx(0.8 * baseline)
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(
        r"train_adding_model passes: the trained model's test MSE is \S+, below 0\.05 "
        r"\(always predicting 1 \(the mean of y\) scores 0\.\d+\)\.",
        lines[0],
    ), lines[0]
    assert lines[1] == (
        f"train_forecaster passes: the trained model's test MAE is {score:.4g}, below "
        f"{threshold:.4g} (the naive forecast (repeat the last value) scores {baseline:.4g})."
    )
    assert len(lines) == 2


def test_a_passing_check_says_so_once(capsys):
    """Does a passing check print one line, and a repeated check in the same cell nothing
    more?"""
    from rnncourse.rnn import rnn_cell

    grading._check("rnn_cell", rnn_cell)
    grading._check("rnn_cell", rnn_cell, seed=3)
    assert capsys.readouterr().out == (
        "rnn_cell passes: it matches the reference on every test input.\n"
    )


def test_check_trained_fails_the_baseline_itself_with_the_scores():
    """Does a model that always predicts 1 fail, naming its MSE, the threshold and 1/6?"""
    message = _message_trained("train_adding_model", lambda x, y: _Constant())
    assert "test MSE is" in message and "must be below 0.05" in message
    assert "always predicting 1" in message
    score, baseline, _ = grading.benchmark_score("train_adding_model", _Constant())
    assert score == baseline and abs(baseline - 1 / 6) < 0.02
    assert f"scores {baseline:.4g}" in message


def test_check_trained_explains_blank_wrong_shape_and_non_module():
    """Are a blank answer, a wrong output shape and a non-module each explained?"""

    def blank(x, y):
        raise NotImplementedError()

    assert "not implemented yet" in _message_trained("train_forecaster", blank)

    class Flat(torch.nn.Module):
        def forward(self, X):
            return X[-1, :, 0]

    message = _message_trained("train_forecaster", lambda X, y: Flat())
    assert "expected predictions of shape (62, 1), got shape (62,)" in message
    message = _message_trained("train_forecaster", lambda X, y: lambda X: X[-1])
    assert "must return the trained torch.nn.Module" in message


def _message_trained(name, fn) -> str:
    with pytest.raises(AssertionError) as info:
        grading.check_trained(name, fn)
    return str(info.value)


def test_training_with_an_optimizer_does_not_look_like_tampering():
    """Does an optimizer step (which imports torch._dynamo) leave check working?"""
    layer = torch.nn.Linear(2, 1)
    optimizer = torch.optim.Adam(layer.parameters())
    layer(torch.randn(3, 2)).sum().backward()
    optimizer.step()
    grading.check("naive_forecast", naive_forecast)


# -- torch's C-level cells and layers are refused where the task is to write them ----------------

LIBRARY_ROUTES = {
    "torch.lstm_cell": "import torch\ndef lstm_cell(*a):\n    return torch.lstm_cell(*a)",
    "torch._VF.lstm_cell": "import torch\ndef lstm_cell(*a):\n    return torch._VF.lstm_cell(*a)",
    "torch.ops.aten.lstm_cell": (
        "import torch\ndef lstm_cell(*a):\n    return torch.ops.aten.lstm_cell(*a)"
    ),
    "torch._C._VariableFunctions.lstm_cell": (
        "import torch\ndef lstm_cell(*a):\n    return torch._C._VariableFunctions.lstm_cell(*a)"
    ),
    "alias": "from torch import lstm_cell as L\ndef lstm_cell(*a):\n    return L(*a)",
    "partial": (
        "import functools\nimport torch\nP = functools.partial(torch.lstm_cell)\n"
        "def lstm_cell(*a):\n    return P(*a)"
    ),
    "map": (
        "import torch\ndef lstm_cell(*a):\n    return next(map(torch.lstm_cell, *([v] for v in a)))"
    ),
    "torch.nn.LSTMCell": (
        "import torch\ndef lstm_cell(x, state, w_ih, w_hh, b_ih, b_hh):\n"
        "    cell = torch.nn.LSTMCell(x.shape[-1], state[0].shape[-1])\n"
        "    return cell(x, state)"
    ),
    "torch.lstm": (
        "import torch\ndef lstm_cell(x, state, *w):\n    return torch.lstm(x[None], state, w)"
    ),
}


@pytest.mark.parametrize("route", sorted(LIBRARY_ROUTES))
def test_library_lstm_cell_is_refused_by_every_route(route):
    """Does an lstm_cell that calls torch's C implementation fail in the learner's own kernel,
    whatever name it uses, naming the cell and line?"""
    verdict = kernel_check("lstm_cell", LIBRARY_ROUTES[route])
    assert "lstm_cell cannot be graded as written" in str(verdict)
    assert verdict.rnncourse_verdict == "refused"
    assert "line " in str(verdict)


def test_library_message_names_the_function_for_each_cell():
    """Do rnn_cell and gru_cell name torch.rnn_tanh_cell and torch.gru_cell when they call them?"""
    verdict = kernel_check("rnn_cell", "import torch\n" + source_of(rnn_cell))
    assert "torch.rnn_tanh_cell" in str(verdict)
    verdict = kernel_check("gru_cell", "import torch\n" + source_of(gru_cell))
    assert "torch.gru_cell" in str(verdict)


def test_library_call_caught_by_the_learner_still_fails():
    """Does wrapping the library call in try/except (then the equations) still fail?"""

    def sneaky(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
        try:
            return torch.rnn_tanh_cell(x, h, w_ih, w_hh, b_ih, b_hh)
        except Exception:
            return torch.tanh(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh)

    verdict = kernel_check("rnn_cell", "import torch\n" + source_of(sneaky), fn="sneaky")
    assert "torch.rnn_tanh_cell" in str(verdict)
    grading.check("rnn_cell", scratch_rnn_cell)  # the fallback alone passes


def test_loop_tasks_refuse_library_layers_but_allow_cells():
    """Do rnn_forward and tag_sequence refuse torch.nn.RNN/GRU, yet allow a loop over a C cell?"""

    def with_module(x, h_0, params):
        rnn = torch.nn.RNN(x.shape[-1], params["weight_hh"].shape[1]).to(x.device, x.dtype)
        with torch.no_grad():
            for name, p in rnn.named_parameters():
                p.copy_(params[name.removesuffix("_l0")])
        return rnn(x, None if h_0 is None else h_0[None])

    verdict = kernel_check("rnn_forward", "import torch\n" + source_of(with_module),
                           fn="with_module")  # fmt: skip
    assert "rnn_forward cannot be graded as written" in str(verdict)
    assert "torch.nn.RNN" in str(verdict)
    cell = "import torch\n" + source_of(_torch_gru) + "\n" + source_of(tag_sequence)
    verdict = kernel_check("tag_sequence", cell)
    assert "torch.nn.GRU" in str(verdict)
    loop = kernel_check("rnn_forward", "import torch\n" + source_of(rnn_forward))
    assert loop is None  # torch.rnn_tanh_cell inside the learner's loop


def test_unknown_library_name_is_refused_at_registration():
    """Does a spec that forbids a misspelt library function fail when it is registered?"""
    bad = grading.Spec(
        "bad_demo", lambda x: x, lambda rng, case: ((rng.normal(size=2),), {}), ({},),
        forbidden_library=("lstmcell",),
    )  # fmt: skip
    with pytest.raises(ValueError, match="lstmcell"):
        spec_module.register(bad)
    assert "bad_demo" not in grading.spec_names()


# -- integers are shown as plain numbers ----------------------------------------------------------


def test_integer_mismatches_print_plain_numbers():
    """Do integer mismatches read 'expected 68, got 0', not 'np.int64(0)'?"""
    message = _message("count_parameters", lambda i, h, o: np.int64(0))
    assert "output: expected 68, got 0" in message
    message = _message(
        "greedy_translate",
        lambda src, lengths, params, max_len: src.new_zeros(max_len, src.shape[1]),
    )
    assert re.search(r"first at index \(\d+, \d+\): expected \d+, got 0\b", message), message
    assert "np." not in message and "int64" not in message


# -- the comparison itself: tests that fail when its tolerances, NaN handling or diagnosis change


def test_errors_just_above_the_tolerances_fail():
    """Does an error of 1e-4 fail (atol 1e-6, rtol 1e-5), where 1000x looser tolerances pass it?"""
    message = _message("rnn_cell", lambda *a, **k: rnncourse.rnn.rnn_cell(*a, **k) + 1e-4)
    assert "largest error 0.0001" in message
    grading._check("rnn_cell", lambda *a, **k: rnncourse.rnn.rnn_cell(*a, **k) + 1e-9)  # fmt: skip


class _NaN(torch.nn.Module):
    def forward(self, x):
        return x.new_full((x.shape[1], 1), float("nan"))


def test_check_trained_fails_a_nan_score():
    """Does a model whose predictions are NaN fail, with its score shown as nan?"""
    assert "test MSE is nan" in _message_trained("train_adding_model", lambda x, y: _NaN())


@pytest.mark.parametrize(("name", "mistake"), MISTAKES, ids=[f"{n}-{m}" for n, m in MISTAKES])
def test_diagnosis_gives_one_hint_of_its_own(name, mistake):
    """Does a mistaken variant get its own hint, once, and no other mistake's hint?"""
    s = grading.spec(name)
    chosen = next(m for m in s.mistakes if m.name == mistake)
    message = _message(name, chosen.variant)
    assert message.count("Likely mistake:") == 1 and chosen.hint in message
    others = [m.hint for m in s.mistakes if m.hint != chosen.hint and m.hint not in chosen.hint]
    assert not [hint for hint in others if hint in message]


@pytest.mark.parametrize("name", grading.spec_names())
def test_each_mistake_has_a_hint_of_its_own(name):
    """Do a task's mistakes have different hints (two biases may share "a bias is missing")?"""
    hints = [m.hint for m in grading.spec(name).mistakes]
    assert len(set(hints)) >= min(len(hints), 2)
    assert len(set(hints)) >= len(hints) - 2


def test_diagnosis_tries_mistakes_in_registered_order():
    """When two registered variants explain the same output, are both hints given, in the
    registered order (the case cannot tell them apart)?"""
    zero = lambda x: x * 0  # noqa: E731
    s = grading.Spec(
        name="toy",
        reference=lambda x: x,
        make_inputs=lambda rng, case: ((rng.normal(size=3),), {}),
        cases=({},),
        backend="numpy",
        mistakes=(grading.Mistake("a", "hint A", zero), grading.Mistake("b", "hint B", zero)),
    )
    assert (
        check_module._diagnose(s, np.zeros(3), 0, 0, {}, "cpu")[0]
        == "one of: (1) hint A | (2) hint B"
    )
    assert check_module._diagnose(s, np.ones(3), 0, 0, {}, "cpu") == (None, ())


def test_a_hint_only_when_the_case_singles_out_the_mistake():
    """count_parameters with W_hh counted as H x H_in: at H - H_in = 1 it equals a missing bias,
    so the visible case says "one of" both; a case where they differ names it alone."""
    wrong = lambda input_size, hidden_size, output_size: (  # noqa: E731
        hidden_size * (2 * input_size + 2) + output_size * (hidden_size + 1)
    )
    tied = _message("count_parameters", wrong, cases=[{"H_in": 3, "H": 4, "H_out": 3}])
    assert "one of:" in tied and "H × H, not H × H_in" in tied and "both biases" in tied
    alone = _message("count_parameters", wrong, cases=[{"H_in": 10, "H": 20, "H_out": 4}])
    assert "one of:" not in alone and "H × H, not H × H_in" in alone


def test_infinities_and_nans_match_only_themselves():
    """Does -inf match -inf and nan match nan, but not +inf, nan or a number, and silently?"""
    import warnings

    e = np.array([-np.inf, np.nan, np.inf, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert compare(e, e.copy(), "", 1e-6, 1e-5) is None
        for wrong in ([np.inf, np.nan, np.inf, 1.0], [-np.inf, np.inf, np.inf, 1.0],
                      [-np.inf, np.nan, 5.0, 1.0]):  # fmt: skip
            assert "at index" in compare(e, np.array(wrong), "", 1e-6, 1e-5)


# -- stated contracts: each check fails the answer that breaks it, however right its values ----


def _clip_value_in_place(grads, clip_value):
    for value in grads.values():
        np.clip(value, -clip_value, clip_value, out=value)
    return grads


def _clip_value_shared(grads, clip_value):
    return {k: v if np.abs(v).max() <= clip_value else np.clip(v, -clip_value, clip_value)
            for k, v in grads.items()}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "fn", "case", "said"),
    [
        ("numerical_gradient", _numgrad_shifted, {"shape": (3, 2)}, "changes its input param"),
        ("clip_grad_value_np", _clip_value_in_place, {"clip_value": 0.5},
         "changes its input grads"),
        ("clip_grad_value_np", _clip_value_shared, {"clip_value": 10.0, "scale": 0.1},
         "returns grads['weight_ih'] itself"),
        ("jacobian_norms", lambda *a, **k: rnncourse.gradients.jacobian_norms(*a, **k).astype(
            np.float32), {"T": 5, "H": 3, "t": 4}, "dtype float32; the task asks for float64"),
    ],
    ids=["not-restored", "in-place", "shared-arrays", "float32"],
)  # fmt: skip
def test_broken_contract_fails_with_right_values(name, fn, case, said):
    """Does an answer whose values are right but which breaks the task's stated contract (put
    the parameter back exactly, do not modify, return new arrays, float64) fail, saying which?"""
    message = _message(name, fn, cases=[case])
    assert said in message and "gives the right values but" in message


def test_contracts_are_declared_where_the_tasks_state_them():
    """Do the tasks whose text states a contract carry it?"""
    assert grading.spec("numerical_gradient").contracts == ("unchanged-inputs",)
    assert "new-output" in grading.spec("clip_grad_value_np").contracts
    assert "new-output" in grading.spec("clip_grad_norm_np").contracts
    assert grading.spec("jacobian_norms").contracts == ("dtype:float64",)


class _FirstStep(torch.nn.Module):
    def forward(self, x):
        return x[0, :, 0:1] * 2.0  # reads step 0 only


class _LastStep(torch.nn.Module):
    def forward(self, x):
        return x[-1, :, 0:1] * x[-1, :, 1:2] + 0.5


class _Partly(torch.nn.Module):
    def forward(self, x):
        return 0.3 * _Adder()(x) + 0.7


@pytest.mark.parametrize(
    ("model", "said"),
    [
        (_NaN(), "training diverged"),
        (_Constant(), "nearly the same for every test sequence"),
        (_FirstStep(), "depend only on the first time step"),
        (_LastStep(), "depend only on the last time step"),
        (_Partly(), "It has learned part of the task"),
    ],
    ids=["nan", "constant", "first-step", "last-step", "partly"],
)
def test_check_trained_gives_the_advice_that_fits(model, said):
    """Does a failed trained model get advice from what its predictions show: diverged, not
    reading its input, reading only the first or last step, or learning only part of it?"""
    message = _message_trained("train_adding_model", lambda x, y: model)
    assert said in message
    others = ["training diverged", "nearly the same", "only on the first", "only on the last",
              "learned part of the task", "hardly better than the baseline"]  # fmt: skip
    assert sum(text in message for text in others) == 1


def test_outputs_are_named_in_the_tasks_words():
    """Is a wrong second output of lstm_cell reported as c_next (output 1), not as [1]?"""
    import rnncourse.lstm

    def wrong_c(*args, **kwargs):
        h, c = rnncourse.lstm.lstm_cell(*args, **kwargs)
        return h, c + 1

    message = _message("lstm_cell", wrong_c)
    assert "c_next (output 1): largest error" in message


def _bidir(*args, **kwargs):
    import rnncourse.bidirectional  # noqa: F401 - the reference module of ex08

    return grading.spec("bidirectional_gru")._reference(*args, **kwargs)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda out, h: (out * 0, h), "your output is all zeros"),
        (lambda out, h: (out * 0.5, h), "exactly half the expected values"),
        (lambda out, h: (out.flip(0), h), "reversed in time"),
        (lambda out, h: (torch.cat([out[:1] * 0, out[:-1]]), h), "shifted one step later"),
        (lambda out, h: (torch.cat([out[..., out.shape[-1] // 2 :], out[..., : out.shape[-1] // 2]],
                                   dim=-1), h), "two halves of its last dimension swapped"),
    ],
    ids=["zeros", "half", "reversed", "shifted", "halves-swapped"],
)  # fmt: skip
def test_a_plain_transformation_is_named(change, said):
    """When no registered mistake matches, is a wrong output that is a plain transformation of
    the expected one (zeros, half, reversed, shifted, halves swapped) described as such?"""
    fn = lambda *a, **k: change(*_bidir(*a, **k))  # noqa: E731
    message = _message("bidirectional_gru", fn)
    assert said in message
