"""PyTorch's RNN tests from ``test/test_nn.py``, on ``torch.nn`` (the control) and ``rnncourse``.

Provenance: pytorch/pytorch, ``test/test_nn.py`` at commit
``74f2fa66feec00335f72813782f4802e80bff4cb`` (classes ``TestNN`` and ``TestNNDeviceType``), the
tests named below, restated for pytest with the same inputs and the same assertions
(``self.assertEqual`` is ``torch.testing.assert_close``, ``assertRaises(Regex)`` is
``pytest.raises``). The only substitution: ``nn.RNN``, ``nn.LSTM``, ``nn.GRU`` and the three
cells come from the implementation under test. Tests that upstream skips without cuDNN, CUDA or
two GPUs skip here under the same condition.

Not ported: ``test_cudnn_weight_format`` (asserts cuDNN's warning about weights outside its one
contiguous buffer, which only a cuDNN implementation can give) and ``test_variable_sequence``
(its packed-versus-one-by-one comparison is
``tests/test_rnn.py::test_packed_sequence_matches_torch``, against torch's packed results).
"""

from __future__ import annotations

import copy
import io
import warnings
from itertools import product
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch.nn.utils import rnn as rnn_utils

import rnncourse

TEST_CUDA = torch.cuda.is_available()
TEST_CUDNN = TEST_CUDA and torch.backends.cudnn.is_available()
TEST_MULTIGPU = TEST_CUDA and torch.cuda.device_count() >= 2
NAMES = ("RNN", "LSTM", "GRU", "RNNCell", "GRUCell", "LSTMCell")
IMPLEMENTATIONS = {
    "torch.nn": SimpleNamespace(**{n: getattr(torch.nn, n) for n in NAMES}),
    "rnncourse": SimpleNamespace(**{n: getattr(rnncourse, n) for n in NAMES}),
}
needs_cudnn = pytest.mark.skipif(not TEST_CUDNN, reason="needs cudnn (as upstream)")
needs_cuda = pytest.mark.skipif(not TEST_CUDA, reason="CUDA not available (as upstream)")
needs_multigpu = pytest.mark.skipif(not TEST_MULTIGPU, reason="multi-GPU not supported")
# more than 5 s each on two cores, for torch.nn as for rnncourse: with make test, not test-fast
slow = pytest.mark.slow


@pytest.fixture(params=list(IMPLEMENTATIONS))
def nn(request: pytest.FixtureRequest) -> Any:
    """The namespace the test's ``nn.RNN`` etc. come from."""
    return IMPLEMENTATIONS[request.param]


def assert_equal(actual: Any, expected: Any, **kwargs: Any) -> None:
    if isinstance(actual, torch.Tensor | tuple | list) or isinstance(expected, torch.Tensor):
        torch.testing.assert_close(actual, expected, check_dtype=False, **kwargs)
    else:
        assert actual == expected


def assert_not_equal(actual: Any, expected: Any) -> None:
    with pytest.raises(AssertionError):
        assert_equal(actual, expected)


# ---------------------------------------------------------------------------
# TestNN
# ---------------------------------------------------------------------------


def test_RNN_cell(nn: Any) -> None:
    # this is just a smoke test; these modules are implemented through
    # autograd so no Jacobian test is needed
    for module in (nn.RNNCell, nn.GRUCell):
        for bias in (True, False):
            input = torch.randn(3, 10)
            hx = torch.randn(3, 20)
            cell = module(10, 20, bias=bias)
            for _ in range(6):
                hx = cell(input, hx)
            hx.sum().backward()


def test_RNN_cell_forward_zero_hidden_size(nn: Any) -> None:
    input = torch.randn(3, 10)
    hx = torch.randn(3, 0)
    cell_shared_param = (10, 0)
    for cell in (
        nn.RNNCell(*cell_shared_param, nonlinearity="relu"),
        nn.RNNCell(*cell_shared_param, nonlinearity="tanh"),
        nn.GRUCell(*cell_shared_param),
    ):
        assert_equal(cell(input, hx).shape, torch.Size([3, 0]))


def test_RNN_cell_no_broadcasting(nn: Any) -> None:
    def test(cell_module: Any, input: Any, hx: Any, input_size: int, hidden_size: int) -> None:
        cell = cell_module(input_size, hidden_size)
        with pytest.raises(RuntimeError):
            cell(input, hx)

    def test_all(hidden_size: int, bad_hx: Any, good_hx: Any, input_size: int, input: Any) -> None:
        test(nn.RNNCell, input, bad_hx, input_size, hidden_size)
        test(nn.GRUCell, input, bad_hx, input_size, hidden_size)
        test(nn.LSTMCell, input, (bad_hx, good_hx), input_size, hidden_size)
        test(nn.LSTMCell, input, (good_hx, bad_hx), input_size, hidden_size)

    hidden_size = 20
    input_size = 10
    input = torch.randn(3, input_size)
    bad_hx = torch.randn(1, hidden_size)
    good_hx = torch.randn(3, hidden_size)
    # Test hidden/input batch size broadcasting
    test_all(hidden_size, bad_hx, good_hx, input_size, input)
    # Test hx's hidden_size vs module's hidden_size broadcasting
    bad_hx = torch.randn(3, 1)
    test_all(hidden_size, bad_hx, good_hx, input_size, input)
    # Test input's input_size vs module's input_size broadcasting
    bad_input = torch.randn(3, 1)
    test_all(hidden_size, good_hx, good_hx, input_size, bad_input)


def test_LSTM_cell(nn: Any) -> None:
    # this is just a smoke test; these modules are implemented through
    # autograd so no Jacobian test is needed
    for bias in (True, False):
        input = torch.randn(3, 10)
        hx = torch.randn(3, 20)
        cx = torch.randn(3, 20)
        lstm = nn.LSTMCell(10, 20, bias=bias)
        for _ in range(6):
            hx, cx = lstm(input, (hx, cx))
        (hx + cx).sum().backward()


def test_LSTM_cell_forward_input_size(nn: Any) -> None:
    input = torch.randn(3, 11)
    hx = torch.randn(3, 20)
    cx = torch.randn(3, 20)
    lstm = nn.LSTMCell(10, 20)
    with pytest.raises(Exception):  # noqa: B017 - upstream asserts Exception
        lstm(input, (hx, cx))


def test_LSTM_cell_forward_hidden_size(nn: Any) -> None:
    input = torch.randn(3, 10)
    hx = torch.randn(3, 21)
    cx = torch.randn(3, 20)
    lstm = nn.LSTMCell(10, 20)
    with pytest.raises(Exception):  # noqa: B017 - upstream asserts Exception
        lstm(input, (hx, cx))
    with pytest.raises(Exception):  # noqa: B017
        lstm(input, (cx, hx))


@needs_cuda
def test_pack_sequence_batch_sizes_throw(nn: Any) -> None:
    with pytest.raises(ValueError, match=r"batch_sizes should always be on CPU"):
        nn.LSTM(3, 4, bidirectional=True, num_layers=2).to("cuda")
        a = torch.rand(5, 3, device="cuda")
        b = torch.tensor([1, 1, 1, 1, 1], device="cuda")
        rnn_utils.PackedSequence(a, b)


def test_cudnn_forward_exception(nn: Any) -> None:
    rnns = [
        (nn.LSTM(10, 20, batch_first=True), (torch.zeros(1, 2, 19), torch.zeros(1, 2, 19))),
        (
            nn.LSTM(10, 20, batch_first=True, proj_size=10),
            (torch.zeros(1, 2, 19), torch.zeros(1, 2, 19)),
        ),
        (nn.GRU(10, 20, batch_first=True), torch.zeros(1, 2, 19)),
        (nn.RNN(10, 20, batch_first=True), torch.zeros(1, 2, 19)),
    ]
    x_wrong = torch.randn(2, 3, 3)
    x_right = torch.randn(2, 3, 10)
    for rnn, hidden in rnns:
        with pytest.raises(RuntimeError, match="Expected hidden.*size.*got"):
            rnn(x_right, hidden)
        with pytest.raises(RuntimeError, match=r"input\.size\(-1\) must be equal to input_size"):
            rnn(x_wrong)


@needs_cudnn
def test_cudnn_weight_tying(nn: Any) -> None:
    rnns = [
        nn.LSTM(10, 20, batch_first=True, bidirectional=True),
        nn.LSTM(10, 20, batch_first=True, bidirectional=True, proj_size=10),
        nn.GRU(10, 20, batch_first=True, bidirectional=True),
        nn.RNN(10, 20, batch_first=True, bidirectional=True),
    ]
    for rnn in rnns:
        rnn.bias_ih_l0_reverse = rnn.bias_ih_l0
        rnn.cuda()
        input = torch.randn(5, 4, 10, requires_grad=True, device="cuda")
        hx = torch.randn(2, 5, 20, requires_grad=True, device="cuda")
        opt = torch.optim.SGD(rnn.parameters(), lr=0.1)
        opt.zero_grad()
        if isinstance(rnn, nn.LSTM):
            if rnn.proj_size > 0:
                hx = torch.randn(2, 5, 10, requires_grad=True, device="cuda")
            cx = torch.randn(2, 5, 20, requires_grad=True, device="cuda")
            hx = (hx, cx)
        with warnings.catch_warnings(record=True):
            output = rnn(input, hx)
        output[0].sum().backward()
        opt.step()
        with warnings.catch_warnings(record=True):
            output_cuda = rnn(input, hx)
        rnn.cpu()
        hx = (hx[0].cpu(), hx[1].cpu()) if isinstance(rnn, nn.LSTM) else hx.cpu()
        output_cpu = rnn(input.cpu(), hx)
        assert_equal(output_cuda, output_cpu, check_device=False)


def test_rnn_args_check(nn: Any) -> None:
    input_size = 3
    hidden_size = 5
    num_layers = 2
    batch_size = 4
    seq_len = 6
    num_directions = 1
    bad_size = 7  # prime number so that no size can divide it.

    def test(input_shape: tuple, hidden_shape: tuple, mode: str) -> None:
        for input, hidden in get_inputs(input_shape, hidden_shape, mode):
            model = getattr(nn, mode)(input_size, hidden_size, num_layers)
            with pytest.raises(RuntimeError):
                model(input, hidden)

    correct_input_shape = (seq_len, batch_size, input_size)
    correct_hidden_shape = (num_layers * num_directions, batch_size, hidden_size)

    def update_shape(shape: tuple, dim: int, new_dim_size: int) -> tuple:
        new_shape = list(shape)
        new_shape[dim] = new_dim_size
        return tuple(new_shape)

    def get_inputs(input_shape: tuple, hidden_shape: tuple, mode: str) -> list:
        input = torch.randn(input_shape)
        hidden = torch.randn(hidden_shape)
        if mode != "LSTM":
            return [(input, hidden)]
        if hidden_shape == correct_hidden_shape:
            return [(input, (hidden, hidden))]
        good_hidden = torch.randn(correct_hidden_shape)
        return [(input, (hidden, good_hidden)), (input, (good_hidden, hidden))]

    for mode in ["RNN", "GRU", "LSTM"]:
        # Incorrect input batch size
        test(update_shape(correct_input_shape, 1, bad_size), correct_hidden_shape, mode)
        # Incorrect hidden batch size
        test(correct_input_shape, update_shape(correct_hidden_shape, 1, bad_size), mode)
        # Incorrect input size
        test(update_shape(correct_input_shape, 2, bad_size), correct_hidden_shape, mode)
        # Incorrect hidden size
        test(correct_input_shape, update_shape(correct_hidden_shape, 2, bad_size), mode)
        # Incorrect hidden[0]
        test(correct_input_shape, update_shape(correct_hidden_shape, 0, bad_size), mode)


def test_projections_lstm_args_check(nn: Any) -> None:
    input_size = 3
    hidden_size = 5
    proj_size = 2
    num_layers = 2
    batch_size = 4
    seq_len = 6
    num_directions = 1
    bad_size = 7  # prime number so that no size can divide it.

    def test(input_shape: tuple, hidden_h_shape: tuple, hidden_c_shape: tuple) -> None:
        input = torch.randn(input_shape)
        hidden = (torch.randn(hidden_h_shape), torch.randn(hidden_c_shape))
        model = nn.LSTM(input_size, hidden_size, num_layers, proj_size=proj_size)
        with pytest.raises(RuntimeError):
            model(input, hidden)

    correct_input_shape = (seq_len, batch_size, input_size)
    correct_hidden_h_shape = (num_layers * num_directions, batch_size, proj_size)
    correct_hidden_c_shape = (num_layers * num_directions, batch_size, hidden_size)

    def update_shape(shape: tuple, dim: int, new_dim_size: int) -> tuple:
        new_shape = list(shape)
        new_shape[dim] = new_dim_size
        return tuple(new_shape)

    h, c = correct_hidden_h_shape, correct_hidden_c_shape
    # Incorrect input batch size
    test(update_shape(correct_input_shape, 1, bad_size), h, c)
    # Incorrect hidden batch size
    test(correct_input_shape, update_shape(h, 1, bad_size), update_shape(c, 1, bad_size))
    # Incorrect input size
    test(update_shape(correct_input_shape, 2, bad_size), h, c)
    # Incorrect hidden size
    test(correct_input_shape, update_shape(h, 2, bad_size), update_shape(c, 2, bad_size))
    # Incorrect hidden[0]
    test(correct_input_shape, update_shape(h, 0, bad_size), update_shape(c, 0, bad_size))
    # Incorrect proj size = hidden size
    test(correct_input_shape, update_shape(h, 0, hidden_size), c)
    # Incorrect proj size != hidden size
    test(correct_input_shape, update_shape(h, 0, bad_size), c)
    # Incorrect cell size != hidden size
    test(correct_input_shape, h, update_shape(c, 0, bad_size))


@needs_multigpu
def test_rnn_check_device(nn: Any) -> None:
    input_size, hidden_size, num_layers, batch_size, seq_len = 3, 5, 2, 4, 6
    correct_input_shape = (seq_len, batch_size, input_size)
    correct_hidden_shape = (num_layers, batch_size, hidden_size)
    for mode in ["RNN", "GRU", "LSTM"]:
        model = getattr(nn, mode)(input_size, hidden_size, num_layers)
        model_cuda = copy.deepcopy(model).to("cuda:0")
        input = torch.randn(correct_input_shape)
        hidden = torch.randn(correct_hidden_shape)
        param_words = "Input and parameter tensors are not at the same device"
        hidden_words = "Input and hidden tensors are not at the same device"
        with pytest.raises(RuntimeError, match=param_words):
            model(input.to("cuda:0"))
        with pytest.raises(RuntimeError, match=param_words):
            model_cuda(input)
        with pytest.raises(RuntimeError, match=hidden_words):
            if mode == "LSTM":
                model(input, (hidden.to("cuda:0"), hidden.to("cuda:0")))
            else:
                model(input, (hidden.to("cuda:0")))
        with pytest.raises(RuntimeError, match=hidden_words):
            if mode == "LSTM":
                model_cuda(input.to("cuda:0"), (hidden, hidden))
            else:
                model_cuda(input.to("cuda:0"), (hidden))
        if mode == "LSTM":
            with pytest.raises(RuntimeError, match=hidden_words):
                model(input.to("cuda:0"), (hidden.to("cuda:0"), hidden.to("cuda:1")))


def test_rnn_initial_hidden_state(nn: Any) -> None:
    for mode in ["RNN", "GRU", "LSTM"]:
        rnn = getattr(nn, mode)(30, 20, 2)
        input = torch.randn(10, 32, 30)
        hidden = torch.zeros(2, 32, 20)
        if mode == "LSTM":
            hidden = (hidden, hidden)
        output1, hidden1 = rnn(input, hidden)
        output2, hidden2 = rnn(input)
        assert_equal(output1, output2)
        assert_equal(hidden1, hidden2)


def test_projections_lstm_initial_hidden_state(nn: Any) -> None:
    for bidir in [False, True]:
        rnn = nn.LSTM(30, 20, 2, bidirectional=bidir, proj_size=10)
        num_dirs = 2 if bidir else 1
        input = torch.randn(10, 32, 30)
        hidden_h = torch.zeros(2 * num_dirs, 32, 10)
        hidden_c = torch.zeros(2 * num_dirs, 32, 20)
        output1, hidden1 = rnn(input, (hidden_h, hidden_c))
        output2, hidden2 = rnn(input)
        assert_equal(output1, output2)
        assert_equal(hidden1, hidden2)


def test_projections_errors_on_gru_and_rnn(nn: Any) -> None:
    error_msg = "proj_size argument is only supported for LSTM, not RNN or GRU"
    for mode in ["RNN", "GRU"]:
        with pytest.raises(ValueError, match=error_msg):
            getattr(nn, mode)(30, 20, 2, proj_size=10)


def _test_RNN_cpu_vs_cudnn(nn: Any, dropout: float, dtype: torch.dtype = torch.double) -> None:
    def forward_backward(
        cuda: bool,
        rnn: Any,
        input_val: Any,
        grad_output: Any,
        weights_val: Any,
        hx_val: Any,
        grad_hy: Any,
        cx_val: Any = None,
        grad_cy: Any = None,
    ) -> dict:
        is_lstm = isinstance(rnn, nn.LSTM)
        for x_layer, y_layer in zip(rnn.all_weights, weights_val, strict=True):
            for x, y in zip(x_layer, y_layer, strict=True):
                x.data.copy_(y.data)
        if isinstance(input_val, rnn_utils.PackedSequence):
            input = rnn_utils.PackedSequence(
                input_val.data.data.requires_grad_(True), input_val.batch_sizes
            )
            input_var = input.data
        else:
            input = input_val.clone().requires_grad_(True)
            input_var = input
        if is_lstm:
            if cx_val is None:
                hx = (hx_val.clone().requires_grad_(True), hx_val.add(1).requires_grad_(True))
            else:
                hx = (hx_val.clone().requires_grad_(True), cx_val.add(1).requires_grad_(True))
        else:
            hx = hx_val.clone().requires_grad_(True)
        if cuda:
            rnn.cuda()
            input_var.data = input_var.data.cuda()
            if is_lstm:
                hx[0].data = hx[0].data.cuda()
                hx[1].data = hx[1].data.cuda()
            else:
                hx.data = hx.data.cuda()
            grad_hy = grad_hy.cuda()
            if grad_cy is not None:
                grad_cy = grad_cy.cuda()
            grad_output = grad_output.cuda()
        output, hy = rnn(input, hx)
        if isinstance(output, rnn_utils.PackedSequence):
            output = output.data
        if is_lstm:
            last = grad_hy + 1 if grad_cy is None else grad_cy + 1
            torch.autograd.backward([output, hy[0], hy[1]], [grad_output, grad_hy, last])
        else:
            torch.autograd.backward([output, hy], [grad_output, grad_hy])
        return {
            "output": output.data,
            "hy": hy[0].data if is_lstm else hy.data,
            "weights": rnn.all_weights,
            "grad_input": input_var.grad.data,
            "grad_hx": hx[0].grad.data if is_lstm else hx.grad.data,
            "cy": hy[1].data if is_lstm else None,
            "grad_cx": hx[1].grad.data if is_lstm else None,
        }

    input_size, hidden_size, proj_size, num_layers, seq_length, batch = 10, 6, 3, 2, 7, 6

    def make_noncontig(tensor: torch.Tensor) -> torch.Tensor:
        ndim = tensor.dim()
        return torch.stack([tensor.clone().zero_(), tensor], ndim).select(ndim, 1)

    def compare_cpu_gpu(outputs_cpu: dict, outputs_gpu: dict) -> None:
        assert list(outputs_cpu.keys()) == list(outputs_gpu.keys())
        for key in outputs_cpu:
            if key != "weights" and outputs_cpu[key] is not None:
                assert_equal(
                    outputs_gpu[key], outputs_cpu[key], atol=5e-5, rtol=0, check_device=False
                )
        for cpu_layer, gpu_layer in zip(
            outputs_cpu["weights"], outputs_gpu["weights"], strict=True
        ):
            for cpu_weight, gpu_weight in zip(cpu_layer, gpu_layer, strict=True):
                assert_equal(
                    gpu_weight.grad.data,
                    cpu_weight.grad.data,
                    atol=5e-5,
                    rtol=0,
                    check_device=False,
                )

    for module in (nn.RNN, nn.LSTM, nn.GRU):
        for bias, bidirectional, batch_first, contig, variable_len, lens_as_tensor in product(
            (True, False), repeat=6
        ):
            num_directions = 2 if bidirectional else 1
            if batch_first:
                input_val = torch.randn(batch, seq_length, input_size, dtype=dtype)
                grad_output = torch.randn(
                    batch, seq_length, hidden_size * num_directions, dtype=dtype
                )
            else:
                input_val = torch.randn(seq_length, batch, input_size, dtype=dtype)
                grad_output = torch.randn(
                    seq_length, batch, hidden_size * num_directions, dtype=dtype
                )
            hx_val = torch.randn(num_layers * num_directions, batch, hidden_size, dtype=dtype)
            grad_hy = torch.randn(num_layers * num_directions, batch, hidden_size, dtype=dtype)
            if not contig:
                grad_output = make_noncontig(grad_output)
                grad_hy = make_noncontig(grad_hy)
                make_noncontig(input_val)
                hx_val = make_noncontig(hx_val)
            if variable_len:
                lengths: Any = [7, 5, 5, 2, 1, 1]
                if lens_as_tensor:
                    lengths = torch.tensor(lengths, dtype=torch.long)
                input_val = rnn_utils.pack_padded_sequence(
                    input_val, lengths, batch_first=batch_first
                )
                grad_output = rnn_utils.pack_padded_sequence(
                    grad_output, lengths, batch_first=batch_first
                ).data
            kwargs = {
                "bias": bias,
                "dropout": dropout,
                "bidirectional": bidirectional,
                "batch_first": batch_first,
            }
            rnn = module(input_size, hidden_size, num_layers, **kwargs).to(dtype)
            outputs_cpu = forward_backward(
                False, rnn, input_val, grad_output, rnn.all_weights, hx_val, grad_hy
            )
            rnn_gpu = module(input_size, hidden_size, num_layers, **kwargs).to(dtype)
            outputs_gpu = forward_backward(
                True, rnn_gpu, input_val, grad_output, rnn.all_weights, hx_val, grad_hy
            )
            compare_cpu_gpu(outputs_cpu, outputs_gpu)

    for nonlinearity in ("tanh", "relu"):
        hx_val = torch.randn(num_layers, batch, hidden_size, dtype=dtype)
        input_val = torch.randn(seq_length, batch, input_size, dtype=dtype)
        grad_output = torch.randn(seq_length, batch, hidden_size * num_directions, dtype=dtype)
        grad_hy = torch.randn(num_layers * num_directions, batch, hidden_size, dtype=dtype)
        rnn = nn.RNN(input_size, hidden_size, num_layers, bias=bias, nonlinearity=nonlinearity).to(
            dtype
        )
        outputs_cpu = forward_backward(
            False, rnn, input_val, grad_output, rnn.all_weights, hx_val, grad_hy
        )
        rnn_gpu = nn.RNN(
            input_size, hidden_size, num_layers, bias=bias, nonlinearity=nonlinearity
        ).to(dtype)
        outputs_gpu = forward_backward(
            True, rnn_gpu, input_val, grad_output, rnn.all_weights, hx_val, grad_hy
        )
        compare_cpu_gpu(outputs_cpu, outputs_gpu)

    # checking LSTM with projections
    for bias, bidirectional, batch_first, contig, variable_len, lens_as_tensor in product(
        (True, False), repeat=6
    ):
        num_directions = 2 if bidirectional else 1
        if batch_first:
            input_val = torch.randn(batch, seq_length, input_size, dtype=dtype)
            grad_output = torch.randn(batch, seq_length, proj_size * num_directions, dtype=dtype)
        else:
            input_val = torch.randn(seq_length, batch, input_size, dtype=dtype)
            grad_output = torch.randn(seq_length, batch, proj_size * num_directions, dtype=dtype)
        hx_val = torch.randn(num_layers * num_directions, batch, proj_size, dtype=dtype)
        cx_val = torch.randn(num_layers * num_directions, batch, hidden_size, dtype=dtype)
        grad_hy = torch.randn(num_layers * num_directions, batch, proj_size, dtype=dtype)
        grad_cy = torch.randn(num_layers * num_directions, batch, hidden_size, dtype=dtype)
        if not contig:
            grad_output = make_noncontig(grad_output)
            grad_hy = make_noncontig(grad_hy)
            grad_cy = make_noncontig(grad_cy)
            make_noncontig(input_val)
            hx_val = make_noncontig(hx_val)
            cx_val = make_noncontig(cx_val)
        if variable_len:
            lengths = [7, 5, 5, 2, 1, 1]
            if lens_as_tensor:
                lengths = torch.tensor(lengths, dtype=torch.long)
            input_val = rnn_utils.pack_padded_sequence(input_val, lengths, batch_first=batch_first)
            grad_output = rnn_utils.pack_padded_sequence(
                grad_output, lengths, batch_first=batch_first
            ).data
        kwargs = {
            "bias": bias,
            "dropout": dropout,
            "bidirectional": bidirectional,
            "batch_first": batch_first,
            "proj_size": proj_size,
        }
        rnn = nn.LSTM(input_size, hidden_size, num_layers, **kwargs).to(dtype)
        outputs_cpu = forward_backward(
            False, rnn, input_val, grad_output, rnn.all_weights, hx_val, grad_hy, cx_val, grad_cy
        )
        rnn_gpu = nn.LSTM(input_size, hidden_size, num_layers, **kwargs).to(dtype)
        outputs_gpu = forward_backward(
            True, rnn_gpu, input_val, grad_output, rnn.all_weights, hx_val, grad_hy, cx_val, grad_cy
        )
        compare_cpu_gpu(outputs_cpu, outputs_gpu)


@needs_cudnn
def test_RNN_cpu_vs_cudnn_no_dropout(nn: Any) -> None:
    _test_RNN_cpu_vs_cudnn(nn, 0, torch.double)


@needs_cudnn
def test_RNN_cpu_vs_cudnn_with_dropout(nn: Any) -> None:
    # Because of dropout randomness, can only compare dropout=0 and dropout=1
    _test_RNN_cpu_vs_cudnn(nn, 1)


@needs_cudnn
def test_RNN_cudnn_weight_norm(nn: Any) -> None:
    input_size, hidden_size, num_layers, seq_length, batch = 10, 6, 2, 7, 6

    def check_weight_norm(m: Any, name: str) -> None:
        input = torch.randn(seq_length, batch, input_size)
        expected_output = m(input)
        m = torch.nn.utils.weight_norm(m, name=name)
        m = m.cuda()
        input = input.cuda()
        warnings.simplefilter("always")
        assert_equal(m(input), expected_output, check_device=False)
        m = torch.nn.utils.remove_weight_norm(m, name=name)
        assert_equal(m(input), expected_output, check_device=False)

    check_weight_norm(nn.LSTM(input_size, hidden_size, num_layers), "weight_hh_l0")
    check_weight_norm(nn.LSTM(input_size, hidden_size, num_layers, proj_size=3), "weight_hr_l0")


@needs_cuda
def test_partial_flat_weights(nn: Any) -> None:
    m = nn.LSTM(10, 6, 2)
    inp = torch.randn(3, 2, 10)
    out_expected = m(inp)
    # deletes an attribute of original LSTM
    weight_orig = m.weight_hh_l0
    del m.weight_hh_l0
    assert not hasattr(m, "weight_hh_l0")
    # moving to CUDA with only some attributes defined does not throw an error
    m.cuda()
    m.weight_hh_l0 = weight_orig.cuda()
    inp = inp.cuda()
    warnings.simplefilter("always")
    assert_equal(m(inp)[0].cpu(), out_expected[0])


@needs_cudnn
def test_RNN_dropout(nn: Any) -> None:
    # checking the assumption that cuDNN sticks dropout in between RNN layers
    for p in (0, 0.276, 0.731, 1):
        for train in (True, False):
            for cuda in (True, False):
                rnn = nn.RNN(10, 1000, 2, bias=False, dropout=p, nonlinearity="relu").double()
                if cuda:
                    rnn.cuda()
                rnn.train(train)
                rnn.weight_ih_l0.data.fill_(1)
                rnn.weight_hh_l0.data.fill_(1)
                rnn.weight_ih_l1.data.fill_(1)
                rnn.weight_hh_l1.data.fill_(1)
                input = torch.ones(1, 1, 10, dtype=torch.double)
                hx = torch.zeros(2, 1, 1000, dtype=torch.double)
                if cuda:
                    input, hx = input.cuda(), hx.cuda()
                output, hy = rnn(input, hx)
                assert_equal(output.data.min(), output.data.max())
                output_val = output.data[0][0][0]
                if p == 0 or not train:
                    assert_equal(
                        output_val,
                        torch.tensor(10000.0, dtype=torch.double, device=output_val.device),
                    )
                elif p == 1:
                    assert_equal(
                        output_val, torch.tensor(0.0, dtype=torch.double, device=output_val.device)
                    )
                else:
                    assert 8000 < output_val < 12000
                    denorm_mod = (output_val * (1 - p)) % 10
                    assert min(denorm_mod, 10 - denorm_mod) < 1e-2
                assert_equal(hy[0].data.min(), hy[0].data.max())
                assert_equal(hy[1].data.min(), hy[1].data.max())
                assert_equal(
                    hy.data[0][0][0], torch.tensor(10.0, dtype=torch.double, device=hy.device)
                )
                assert_equal(hy.data[1][0][0], output_val)


@needs_cudnn
def test_error_RNN_seq_len_zero(nn: Any) -> None:
    # checking error message when RNN has seq_len = 0
    for module in (nn.RNN, nn.LSTM, nn.GRU):
        for bidirectional in [True, False]:
            for device in ["cpu", "cuda"]:
                input = torch.ones(0, 10, 5, dtype=torch.double)
                rnn = module(5, 6, bidirectional=bidirectional).double()
                if device == "cuda":
                    rnn.cuda()
                    input = input.cuda()
                with pytest.raises(
                    RuntimeError, match="Expected sequence length to be larger than 0 in RNN"
                ):
                    rnn(input)


def test_RNN_input_size_zero(nn: Any) -> None:
    for module in (nn.RNN, nn.LSTM, nn.GRU):
        for device in ["cpu"] + (["cuda"] if TEST_CUDA else []):
            input = torch.zeros((5, 0, 3))
            rnn = module(input_size=3, hidden_size=4)
            if device == "cuda":
                rnn.cuda()
                input = input.cuda()
            outs = rnn(input)
            assert_equal(outs[0].shape, torch.Size([5, 0, 4]))
            # Check that backward does not cause a hard error
            outs[0].sum().backward()


@needs_cudnn
def test_RNN_dropout_state(nn: Any) -> None:
    for p in (0, 0.1234):
        for train in (True, False):
            for cuda in (True, False):
                rnn = nn.RNN(100, 100, 2, bias=False, dropout=p, nonlinearity="relu")
                if cuda:
                    rnn.cuda()
                rnn.train(train)
                input = torch.rand(1, 1, 100)
                hx = torch.rand(2, 1, 100)
                if cuda:
                    input, hx = input.cuda(), hx.cuda()
                output1, hy1 = rnn(input, hx)
                output2, hy2 = rnn(input, hx)
                buf = io.BytesIO()
                torch.save(rnn, buf)
                buf.seek(0)
                rnn2 = torch.load(buf, weights_only=False)
                rnn2.flatten_parameters()
                output3, hy3 = rnn2(input, hx)
                if p == 0 or not train:
                    assert_equal(output1, output2)
                    assert_equal(output1, output3)
                    assert_equal(hy1, hy2)
                    assert_equal(hy1, hy3)
                else:
                    assert_not_equal(output1, output2)
                    assert_not_equal(output1, output3)
                    assert_not_equal(hy1, hy2)
                    assert_not_equal(hy1, hy3)


@needs_cudnn
def test_RNN_change_dropout(nn: Any) -> None:
    for train, cuda in product((True, False), repeat=2):
        rnn = nn.RNN(100, 100, 2, dropout=0, nonlinearity="relu").double()
        input = torch.rand(3, 2, 100, dtype=torch.double)
        if cuda:
            input.data = input.data.cuda()
            rnn.cuda()
        rnn.train(train)
        prev_output = None
        for p in (0, 0.5, 0, 0.7, 0.2, 1, 0.2, 0):
            rnn.dropout = p
            output1, hy1 = rnn(input)
            output2, hy2 = rnn(input)
            if p == 0 or p == 1 or not train:
                assert_equal(output1, output2)
                assert_equal(hy1, hy2)
            else:
                assert_not_equal(output1, output2)
                assert_not_equal(hy1, hy2)
            if prev_output is not None:
                if not train:
                    assert_equal(output1.data, prev_output)
                    assert_equal(output2.data, prev_output)
                else:
                    assert_not_equal(output1.data, prev_output)
                    assert_not_equal(output2.data, prev_output)
            prev_output = output1.data


# ---------------------------------------------------------------------------
# TestNNDeviceType (CPU here; CUDA as well where it exists)
# ---------------------------------------------------------------------------

DEVICES = ["cpu"] + (["cuda"] if TEST_CUDA else [])


@slow
@pytest.mark.parametrize("device", DEVICES)
def test_rnn_retain_variables(nn: Any, device: str) -> None:
    dtype = torch.double
    rnns = [
        nn.LSTM(10, 20, num_layers=2).to(device, dtype),
        nn.GRU(10, 20, num_layers=2).to(device, dtype),
        nn.RNN(10, 20, num_layers=2).to(device, dtype),
    ]
    for rnn in rnns:
        input = torch.randn(5, 6, 10, device=device, dtype=dtype, requires_grad=True)
        output = rnn(input)
        output[0].sum().backward(retain_graph=True)
        grads = [input.grad.data.clone()] + [p.grad.data.clone() for p in rnn.parameters()]
        for _ in range(4):
            rnn.zero_grad()
            input.grad.data.zero_()
            output[0].sum().backward(retain_graph=True)
            grads2 = [input.grad.data] + [p.grad.data for p in rnn.parameters()]
            assert_equal(grads, grads2)


@needs_cuda
def test_lstmcell_backward_only_one_output_grad(nn: Any) -> None:
    # checks that undefined gradients doesn't hamper the backward, see #11872
    l = nn.LSTMCell(2, 3).to("cuda").to(dtype=torch.double)  # noqa: E741 - upstream's name
    s = torch.randn(1, 2, device="cuda", dtype=torch.double, requires_grad=True)
    for i in range(2):
        out = l(s)[i]
        out.sum().backward()
        assert not (s.grad is None or s.grad.abs().sum().item() == 0)


def _test_rnn_mod(mod: Any, inp: torch.Tensor) -> None:
    def flatten_out(mod: Any, inp: torch.Tensor) -> tuple:
        out = mod(inp)
        return tuple([t if isinstance(t, torch.Tensor) else tt for t in out for tt in t])

    def gradcheckfunc(inp: torch.Tensor) -> tuple:
        return flatten_out(mod, inp)

    with torch.backends.cudnn.flags(enabled=False):
        torch.autograd.gradcheck(gradcheckfunc, inp, check_batched_grad=False)
        torch.autograd.gradgradcheck(gradcheckfunc, inp, check_batched_grad=False)


@pytest.mark.parametrize("device", DEVICES)
def test_LSTM_grad_and_gradgrad(nn: Any, device: str) -> None:
    hsize = 4
    inp = torch.rand(1, 3, hsize, device=device, dtype=torch.double, requires_grad=True)
    for bias in [True, False]:
        mod = nn.LSTM(hsize, hsize, bias=bias).to(device).to(torch.double)
        _test_rnn_mod(mod, inp)


@pytest.mark.parametrize("device", DEVICES)
def test_GRU_grad_and_gradgrad(nn: Any, device: str) -> None:
    hsize = 4
    inp = torch.rand(1, 3, hsize, device=device, dtype=torch.double, requires_grad=True)
    for bias in [True, False]:
        mod = nn.GRU(hsize, hsize, bias=bias).to(device).to(torch.double)
        _test_rnn_mod(mod, inp)


@slow
def test_LSTM_differentiable_backward_using_oneDNN(nn: Any) -> None:
    batch, seq_len, input = 10, 12, 3
    Net = nn.LSTM(input, 3, 20, batch_first=True)
    Net_clone = copy.deepcopy(Net)
    x = torch.rand(batch, seq_len, input)
    x1 = x.clone().requires_grad_(True)
    x2 = x.clone().requires_grad_(True)
    enabled = torch._C._get_mkldnn_enabled()
    try:
        torch._C._set_mkldnn_enabled(False)
        out1, _ = Net(x1)
        der_out1 = torch.autograd.grad(
            out1, x1, grad_outputs=torch.ones_like(out1), retain_graph=True, create_graph=True
        )[0]
        loss1 = der_out1.sum()
        loss1.backward(retain_graph=True)
        torch._C._set_mkldnn_enabled(True)
        out2, _ = Net(x2)
        der_out2 = torch.autograd.grad(
            out2, x2, grad_outputs=torch.ones_like(out2), retain_graph=True, create_graph=True
        )[0]
        loss2 = der_out2.sum()
        loss2.backward(retain_graph=True)
    finally:
        torch._C._set_mkldnn_enabled(enabled)
    assert torch.allclose(der_out1, der_out2)
    assert torch.allclose(x1.grad, x2.grad)
    del Net_clone


def test_save_lstm_compatibility(nn: Any) -> None:
    # Test that saving an LSTM in PyTorch 1.7 and older can still be
    # loaded in newer versions of PyTorch.
    model = nn.LSTM(2, 3)
    x = torch.randn(32, 5, 2)
    expected = model(x)
    # Get a state dict for PyTorch 1.7 LSTM. Before PyTorch 1.8, proj_size didn't exist.
    assert model.proj_size == 0
    state_dict = model.__dict__
    del state_dict["proj_size"]
    # load a model
    loaded_model = nn.LSTM(2, 3)
    loaded_model.__setstate__(state_dict)
    result = loaded_model(x)
    assert_equal(result, expected)
