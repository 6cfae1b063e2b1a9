"""Tests for rnncourse.rnn (and the shared driver in rnncourse._recurrent).

The reference is torch.nn.RNN / torch.nn.RNNCell with the same weights, in float64: outputs,
final states, and the gradients of every parameter, of the input and of the initial state
must agree to round-off. The comparison helpers live in tests/_helpers.py.
"""

from __future__ import annotations

import ast
import pathlib
import runpy
import sys
import warnings
from dataclasses import replace

import pytest
import torch
from torch import nn

import rnncourse
from rnncourse.rnn import RNN, RNNCell, rnn_cell
from tests._helpers import (
    _BASE,
    GRID,
    Case,
    assert_dropout_behaviour,
    assert_matches_torch,
    assert_no_dropout_after_last_layer,
    assert_same_parameters,
    assert_state_dict_round_trip,
    case_id,
)
from tests.conftest import dtype_for, tolerances

F64 = tolerances(torch.float64)


# ---------------------------------------------------------------------------
# rnn_cell and RNNCell
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batch_shape", [(3,), ()], ids=["batched", "unbatched"])
def test_rnn_cell_matches_torch(nonlinearity: str, bias: bool, batch_shape: tuple) -> None:
    """Does rnn_cell give torch.nn.RNNCell's h_t and gradients, batched and unbatched?"""
    torch.manual_seed(0)
    ref = nn.RNNCell(3, 4, bias=bias, nonlinearity=nonlinearity, dtype=torch.float64)
    x = torch.randn(*batch_shape, 3, dtype=torch.float64, requires_grad=True)
    h = torch.randn(*batch_shape, 4, dtype=torch.float64, requires_grad=True)
    params = (ref.weight_ih, ref.weight_hh, ref.bias_ih, ref.bias_hh)
    ours = rnn_cell(x, h, *params, nonlinearity=nonlinearity)
    expected = ref(x, h)
    torch.testing.assert_close(ours, expected, **F64)
    inputs = [x, h] + [p for p in params if p is not None]
    grads_ours = torch.autograd.grad(ours.sum(), inputs)
    grads_ref = torch.autograd.grad(expected.sum(), inputs)
    for a, b in zip(grads_ours, grads_ref, strict=True):
        torch.testing.assert_close(a, b, **F64)


def test_rnn_cell_passes_gradcheck() -> None:
    """Do rnn_cell's autograd gradients match central finite differences?"""
    torch.manual_seed(0)
    args = [
        torch.randn(s, dtype=torch.float64, requires_grad=True)
        for s in [(2, 3), (2, 4), (4, 3), (4, 4), (4,), (4,)]
    ]
    assert torch.autograd.gradcheck(rnn_cell, args)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_cell_module_matches_torch(nonlinearity: str) -> None:
    """Does RNNCell have torch's parameters (same seed, same values) and outputs?"""
    torch.manual_seed(0)
    ref = nn.RNNCell(3, 4, nonlinearity=nonlinearity, dtype=torch.float64)
    torch.manual_seed(0)
    ours = RNNCell(3, 4, nonlinearity=nonlinearity, dtype=torch.float64)
    assert_same_parameters(ours, ref)
    x = torch.randn(2, 3, dtype=torch.float64)
    h = torch.randn(2, 4, dtype=torch.float64)
    torch.testing.assert_close(ours(x, h), ref(x, h), **F64)
    torch.testing.assert_close(ours(x), ref(x), **F64)  # hx defaults to zeros
    torch.testing.assert_close(ours(x[0], h[0]), ref(x[0], h[0]), **F64)  # unbatched
    assert ours(x[0]).shape == (4,)


def test_rnn_cell_without_bias_has_no_bias_parameters() -> None:
    """Does bias=False register bias_ih/bias_hh as None, like torch?"""
    cell = RNNCell(3, 4, bias=False)
    assert cell.bias_ih is None and cell.bias_hh is None
    assert [n for n, _ in cell.named_parameters()] == ["weight_ih", "weight_hh"]


@pytest.mark.parametrize(
    "make",
    [lambda: RNNCell(8, 25), lambda: RNN(8, 25, num_layers=2, bidirectional=True)],
    ids=["cell", "rnn"],
)
def test_init_range(make) -> None:
    """Is every parameter drawn from U(-1/sqrt(H), 1/sqrt(H)) with H = 25?

    Seeded: unseeded, a 25-element bias has all |values| <= 0.15 with probability 0.75^25.
    """
    torch.manual_seed(0)
    for p in make().parameters():
        assert p.abs().max() <= 1 / 5
        assert p.abs().max() > 0.15  # a spread-out draw, not a constant


# ---------------------------------------------------------------------------
# RNN
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", GRID, ids=case_id)
def test_rnn_matches_torch(case: Case) -> None:
    """Do outputs, final states and all gradients equal torch.nn.RNN's?"""
    assert_matches_torch(RNN, nn.RNN, case, state_count=1)


@pytest.mark.parametrize(
    "case", [replace(_BASE, L=2, bidirectional=True, with_hx=True), _BASE], ids=case_id
)
def test_rnn_relu_matches_torch(case: Case) -> None:
    """Does nonlinearity='relu' match torch.nn.RNN(nonlinearity='relu')?"""
    assert_matches_torch(RNN, nn.RNN, case, state_count=1, nonlinearity="relu")


def test_rnn_matches_torch_on_device(device: torch.device) -> None:
    """Does RNN match torch.nn.RNN on every available device?"""
    case = replace(_BASE, L=2, bidirectional=True, with_hx=True)
    assert_matches_torch(RNN, nn.RNN, case, 1, device=device, dtype=dtype_for(device))


def test_rnn_positional_arguments_follow_torch() -> None:
    """Does RNN(input_size, hidden_size, num_layers, nonlinearity, bias) read like torch's?"""
    ours = RNN(3, 4, 2, "relu", False)
    ref = nn.RNN(3, 4, 2, "relu", False)
    assert (ours.num_layers, ours.nonlinearity, ours.bias) == (2, "relu", False)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]


@pytest.mark.parametrize("bidirectional", [False, True])
def test_rnn_same_seed_same_weights(bidirectional: bool) -> None:
    """Does the same seed give torch.nn.RNN's initial weights (same order, same draws)?"""
    torch.manual_seed(5)
    ref = nn.RNN(3, 4, 3, bidirectional=bidirectional)
    torch.manual_seed(5)
    ours = RNN(3, 4, 3, bidirectional=bidirectional)
    assert_same_parameters(ours, ref)


def test_rnn_all_weights_grouped_like_torch() -> None:
    """Does all_weights group parameters per layer and direction as torch.nn.RNN does?"""
    torch.manual_seed(0)
    ref = nn.RNN(3, 4, 2, bidirectional=True)
    torch.manual_seed(0)
    ours = RNN(3, 4, 2, bidirectional=True)
    assert len(ours.all_weights) == len(ref.all_weights) == 4
    for group_ours, group_ref in zip(ours.all_weights, ref.all_weights, strict=True):
        assert [torch.equal(a, b) for a, b in zip(group_ours, group_ref, strict=True)] == [True] * 4


@pytest.mark.parametrize("bias", [True, False])
def test_rnn_state_dict_both_ways(bias: bool) -> None:
    """Does load_state_dict move weights from torch.nn.RNN to RNN and back?"""
    assert_state_dict_round_trip(
        RNN, nn.RNN, input_size=3, hidden_size=4, num_layers=2, bias=bias, bidirectional=True
    )


def test_rnn_dropout() -> None:
    """Is dropout off in eval mode and reproducible under a seed in training mode?"""
    assert_dropout_behaviour(RNN, nn.RNN, state_count=1)


def test_rnn_no_dropout_after_last_layer() -> None:
    """Does a one-layer RNN ignore dropout (with torch's warning)?"""
    assert_no_dropout_after_last_layer(RNN)


def test_rnn_follows_input_dtype() -> None:
    """Do float32 parameters and input give float32 outputs and states?"""
    model = RNN(3, 4)
    output, h_n = model(torch.randn(5, 2, 3))
    assert output.dtype == h_n.dtype == torch.float32


def test_rnn_is_exported() -> None:
    """Are the names reachable from the package root?"""
    assert rnncourse.RNN is RNN and rnncourse.RNNCell is RNNCell and rnncourse.rnn_cell is rnn_cell


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


def test_rnn_wrong_input_features_names_input() -> None:
    """Does a wrong H_in raise ValueError naming input with the expected shape?"""
    with pytest.raises(
        ValueError, match=r"input: expected \(T, N, H_in\) = \(\*, \*, 8\), got \(5, 3, 7\)"
    ):
        RNN(8, 4)(torch.randn(5, 3, 7))


def test_rnn_wrong_rank_names_input() -> None:
    """Does a 4-D input raise ValueError naming input?"""
    with pytest.raises(ValueError, match="input: expected"):
        RNN(3, 4)(torch.randn(5, 3, 3, 1))


def test_rnn_batch_first_message_uses_batch_first_symbols() -> None:
    """With batch_first, does the message say (N, T, H_in)?"""
    with pytest.raises(ValueError, match=r"input: expected \(N, T, H_in\)"):
        RNN(8, 4, batch_first=True)(torch.randn(5, 3, 7))


def test_rnn_wrong_h0_shape_names_h0() -> None:
    """Does an h_0 with the wrong number of layers raise ValueError naming h_0?"""
    with pytest.raises(ValueError, match=r"h_0: expected \(D\*L, N, H\) = \(4, 3, 4\)"):
        RNN(3, 4, num_layers=2, bidirectional=True)(torch.randn(5, 3, 3), torch.zeros(2, 3, 4))


def test_rnn_tuple_state_is_refused() -> None:
    """Does passing an LSTM-style (h_0, c_0) tuple to RNN raise TypeError naming hx?"""
    h = torch.zeros(1, 3, 4)
    with pytest.raises(TypeError, match="hx: expected a tensor"):
        RNN(3, 4)(torch.randn(5, 3, 3), (h, h))


def test_rnn_integer_input_is_refused() -> None:
    """Does an integer input raise TypeError naming input?"""
    with pytest.raises(TypeError, match="input: expected a floating-point"):
        RNN(3, 4)(torch.ones(5, 3, 3, dtype=torch.long))


def test_rnn_dtype_mismatch_names_input() -> None:
    """Does a float64 input to a float32 module raise TypeError naming input?"""
    with pytest.raises(TypeError, match="input: expected dtype torch.float32"):
        RNN(3, 4)(torch.randn(5, 3, 3, dtype=torch.float64))


@pytest.mark.parametrize("cls", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("enforce_sorted", [True, False], ids=["sorted", "unsorted"])
@pytest.mark.parametrize("with_hx", [False, True], ids=["zeros", "hx"])
def test_packed_sequence_matches_torch(
    cls: str, bidirectional: bool, enforce_sorted: bool, with_hx: bool
) -> None:
    """Does a PackedSequence give torch's packed output, final states and every gradient?

    Float64, tolerances F64 (round-off only): two layers, lengths 7, 5, 5, 2, 1 (or shuffled).
    """
    torch.manual_seed(0)
    ref = getattr(nn, cls)(3, 4, 2, bidirectional=bidirectional).double()
    mine = getattr(rnncourse, cls)(3, 4, 2, bidirectional=bidirectional).double()
    mine.load_state_dict(ref.state_dict())
    lengths = [7, 5, 5, 2, 1] if enforce_sorted else [2, 7, 1, 5, 5]
    x = torch.randn(7, 5, 3, dtype=torch.float64)
    rows = 2 * (2 if bidirectional else 1)
    h0 = torch.randn(rows, 5, 4, dtype=torch.float64)
    hx = ((h0, h0 + 1) if cls == "LSTM" else h0) if with_hx else None
    results = []
    for module in (ref, mine):
        data = x.clone().requires_grad_()
        packed = nn.utils.rnn.pack_padded_sequence(data, lengths, enforce_sorted=enforce_sorted)
        state = (
            None
            if hx is None
            else torch.utils._pytree.tree_map(lambda t: t.clone().requires_grad_(), hx)
        )
        out, final = module(packed, state)
        assert isinstance(out, nn.utils.rnn.PackedSequence)
        loss = out.data.sin().sum() + sum(
            t.cos().sum() for t in torch.utils._pytree.tree_leaves(final)
        )
        loss.backward()
        grads = [data.grad, *[p.grad for p in module.parameters()]]
        if state is not None:
            grads += [t.grad for t in torch.utils._pytree.tree_leaves(state)]
        results.append((out, final, grads))
    (out_t, fin_t, g_t), (out_m, fin_m, g_m) = results
    torch.testing.assert_close(out_m.data, out_t.data, **F64)
    torch.testing.assert_close(out_m.batch_sizes, out_t.batch_sizes)
    torch.testing.assert_close(out_m.sorted_indices, out_t.sorted_indices)
    torch.testing.assert_close(out_m.unsorted_indices, out_t.unsorted_indices)
    torch.testing.assert_close(fin_m, fin_t, **F64)
    torch.testing.assert_close(g_m, g_t, **F64)


def test_rnn_not_a_tensor_names_input() -> None:
    """Does a list input raise TypeError naming input?"""
    with pytest.raises(TypeError, match="input"):
        RNN(3, 4)([[0.0, 1.0, 2.0]])


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"input_size": 0, "hidden_size": 4}, "input_size"),
        ({"input_size": 3, "hidden_size": 2.5}, "hidden_size"),
        ({"input_size": 3, "hidden_size": 4, "num_layers": 0}, "num_layers"),
        ({"input_size": 3, "hidden_size": 4, "dropout": 1.5}, "dropout"),
        ({"input_size": 3, "hidden_size": 4, "nonlinearity": "sigmoid"}, "nonlinearity"),
    ],
)
def test_rnn_bad_constructor_arguments(kwargs: dict, name: str) -> None:
    """Does each bad constructor argument raise ValueError naming it?"""
    with pytest.raises(ValueError, match=name):
        RNN(**kwargs)


@pytest.mark.parametrize(
    "args, name",
    [
        ((torch.randn(2, 5), torch.zeros(2, 4)), "x"),  # H_in 5 instead of 3
        ((torch.randn(2, 3), torch.zeros(3, 4)), "h"),  # batch 3 instead of 2
        ((torch.ones(2, 3, dtype=torch.long), torch.zeros(2, 4)), "x"),  # integer input
    ],
)
def test_rnn_cell_bad_input_names_argument(args: tuple, name: str) -> None:
    """Does rnn_cell name the bad argument in its error?"""
    w_ih, w_hh = torch.randn(4, 3), torch.randn(4, 4)
    with pytest.raises((ValueError, TypeError), match=rf"^{name}:"):
        rnn_cell(*args, w_ih, w_hh)


def test_rnn_cell_module_wrong_hx_names_h0() -> None:
    """Does RNNCell name h_0 when the state has the wrong size?"""
    with pytest.raises(ValueError, match="h_0: expected"):
        RNNCell(3, 4)(torch.randn(2, 3), torch.zeros(2, 5))


# ---------------------------------------------------------------------------
# The rule: no torch recurrent kernels inside rnncourse
# ---------------------------------------------------------------------------

FORBIDDEN = {
    "RNN",
    "LSTM",
    "GRU",
    "RNNCell",
    "LSTMCell",
    "GRUCell",
    "RNNBase",
    "RNNCellBase",
    "_VF",
    "rnn_tanh",
    "rnn_relu",
    "rnn_tanh_cell",
    "rnn_relu_cell",
    "lstm",
    "gru",
    "lstm_cell",
    "gru_cell",
}
PACKAGE = pathlib.Path(rnncourse.__file__).parent


def forbidden_uses(source: str) -> list[str]:
    """Names from FORBIDDEN reached through torch (``nn.LSTM``, ``torch._VF``, imports)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN:
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in {"torch", "nn", "F", "_VF"}:
                found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("torch"):
            found += [
                f"line {node.lineno}: import {a.name}" for a in node.names if a.name in FORBIDDEN
            ]
    return found


def test_forbidden_use_scanner_catches_calls() -> None:
    """Does the scanner flag torch.nn.LSTM, nn.GRUCell, torch._VF and imports of them?"""
    source = "\n".join(
        [
            "import torch",
            "from torch import _VF",
            "torch.nn.LSTM(1, 2)",
            "nn.GRUCell(1, 2)",
            "torch._VF.lstm",
        ]
    )
    flagged_lines = {entry.split(":")[0] for entry in forbidden_uses(source)}
    assert flagged_lines == {"line 2", "line 3", "line 4", "line 5"}
    assert forbidden_uses('"""torch.nn.LSTM in a docstring is fine"""\nrnn_cell(x)\n') == []


# The grader's engine and the audit name torch's recurrent kernels in order to *forbid* them in
# learners' code (tripwires, audit patterns); they implement nothing with them. Paths are
# relative to the package; the assignments' spec modules (grading/exNN_*.py) name none.
POLICING = {"grading/__init__.py", "instructor/audit.py"}


def _package_path(path: pathlib.Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


@pytest.mark.parametrize(
    "path",
    sorted(p for p in PACKAGE.rglob("*.py") if _package_path(p) not in POLICING),
    ids=_package_path,
)
def test_package_never_calls_torch_recurrent_kernels(path: pathlib.Path) -> None:
    """Does no rnncourse module use torch.nn.RNN/LSTM/GRU, their cells or torch._VF?"""
    assert forbidden_uses(path.read_text()) == []


def test_policing_modules_compute_nothing_with_the_kernels() -> None:
    """Do the grader's references (the modules it compares against) avoid torch's kernels?"""
    import rnncourse.grading as grading

    checked = set()
    for name in grading.spec_names():
        reference = grading.spec(name).reference
        if isinstance(reference, str):  # dotted path: its longest importable module prefix
            parts = reference.split(".")
            module = next(
                ".".join(parts[:i])
                for i in range(len(parts), 0, -1)
                if ".".join(parts[:i]) in sys.modules
            )
        else:
            module = reference.__module__
        if module.startswith("rnncourse.") and module != "rnncourse.grading":
            source = pathlib.Path(sys.modules[module].__file__).read_text()
            assert forbidden_uses(source) == [], (name, module)
            checked.add(module)
    assert {"rnncourse.rnn", "rnncourse.lstm", "rnncourse.gru"} <= checked


def test_no_warning_without_dropout() -> None:
    """Does a plain multi-layer RNN construct without warnings?"""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RNN(3, 4, num_layers=2)


def test_benchmark_script_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """Does benchmarks/bench_rnn.py --quick run end to end and print a ratio per model?"""
    script = pathlib.Path(__file__).parents[1] / "benchmarks" / "bench_rnn.py"
    namespace = runpy.run_path(str(script))
    sizes = ["--T", "3", "--N", "2", "--input-size", "3", "--hidden-size", "4"]
    namespace["main"](["--quick", "--device", "cpu", *sizes])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines[2:]] == [
        "LSTM",
        "LSTM-fused",
        "GRU",
        "RNN",
        "LSTM-proj",
        "LSTM-packed",
        "GRU-packed",
    ]


def test_rnn_step_default_nonlinearity_is_tanh() -> None:
    """Is rnn_step's default nonlinearity tanh, as chapter 2's equation (relu only on request)?"""
    from rnncourse.rnn import rnn_step

    xw, h, w = torch.randn(2, 4), torch.randn(2, 4), torch.randn(4, 4)
    torch.testing.assert_close(rnn_step(xw, h, w), torch.tanh(xw + h @ w.T))
    torch.testing.assert_close(rnn_step(xw, h, w, nonlinearity="relu"), torch.relu(xw + h @ w.T))
