"""Edges every sequence module handles like torch.nn: empty sequences, empty batches, bad sizes.

One section per behaviour; each is parametrized over the modules it concerns.
"""

from __future__ import annotations

import contextlib

import pytest
import torch

import rnncourse
from rnncourse import seq2seq, topologies
from rnncourse._recurrent import unroll
from rnncourse.bidirectional import Bidirectional, run_bidirectional
from rnncourse.scan import MinGRU, min_gru_parallel, min_gru_sequential

H_IN, H = 3, 4

# name -> a factory for the module; every one takes time-major (T, N, H_IN) input
SEQUENCE_MODULES = {
    "RNN": lambda: rnncourse.RNN(H_IN, H),
    "LSTM": lambda: rnncourse.LSTM(H_IN, H),
    "LSTM-fused": lambda: rnncourse.LSTM(H_IN, H, fused=True),
    "GRU": lambda: rnncourse.GRU(H_IN, H),
    "RNN-2-layer-bidirectional": lambda: rnncourse.RNN(H_IN, H, 2, bidirectional=True),
    "LSTM-bidirectional": lambda: rnncourse.LSTM(H_IN, H, bidirectional=True),
    "Bidirectional": lambda: Bidirectional(rnncourse.GRUCell(H_IN, H)),
    "Bidirectional-LSTMCell": lambda: Bidirectional(rnncourse.LSTMCell(H_IN, H)),
    "ManyToOne": lambda: topologies.ManyToOne(H_IN, H, 2, "lstm"),
    "ManyToManyAligned": lambda: topologies.ManyToManyAligned(H_IN, H, 2, "gru"),
    "EncoderDecoder": lambda: _Steps(topologies.EncoderDecoder(H_IN, H, 2, "rnn")),
    "MinGRU-parallel": lambda: MinGRU(H_IN, H),
    "MinGRU-sequential": lambda: MinGRU(H_IN, H, mode="sequential"),
}

# the torch.nn reference for the modules that have one
TORCH_TWINS = {
    "RNN": lambda: torch.nn.RNN(H_IN, H),
    "LSTM": lambda: torch.nn.LSTM(H_IN, H),
    "LSTM-fused": lambda: torch.nn.LSTM(H_IN, H),
    "GRU": lambda: torch.nn.GRU(H_IN, H),
    "RNN-2-layer-bidirectional": lambda: torch.nn.RNN(H_IN, H, 2, bidirectional=True),
    "LSTM-bidirectional": lambda: torch.nn.LSTM(H_IN, H, bidirectional=True),
    "Bidirectional": lambda: torch.nn.GRU(H_IN, H, bidirectional=True),
    "Bidirectional-LSTMCell": lambda: torch.nn.LSTM(H_IN, H, bidirectional=True),
}


class _Steps(torch.nn.Module):
    """An EncoderDecoder called like the others (three output steps)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x, steps=3)


def _tensors(out) -> list[torch.Tensor]:
    """Every tensor in a module's output, nested tuples flattened."""
    if isinstance(out, torch.Tensor):
        return [out]
    return [t for part in out for t in _tensors(part)]


def _shapes(out) -> list[tuple[int, ...]]:
    return [tuple(t.shape) for t in _tensors(out)]


GRAD_MODES = {"grad": contextlib.nullcontext, "no_grad": torch.no_grad}


# ---------------------------------------------------------------------------
# T = 0: an empty sequence is refused with a ValueError that names the input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("grad", GRAD_MODES)
@pytest.mark.parametrize("name", SEQUENCE_MODULES)
def test_empty_sequence_is_refused(name: str, grad: str) -> None:
    """Does a sequence of zero steps give a ValueError naming the input, with and without grad?"""
    model = SEQUENCE_MODULES[name]()
    argument = "x" if name in {"ManyToOne", "ManyToManyAligned", "EncoderDecoder"} else "input"
    with GRAD_MODES[grad](), pytest.raises(ValueError, match=rf"^{argument}: .*at least one time"):
        model(torch.zeros(0, 2, H_IN))


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU", "Bidirectional", "MinGRU-parallel"])
def test_empty_sequence_is_refused_batch_first_and_unbatched(name: str) -> None:
    """Is T = 0 refused in the batch-first and unbatched layouts too, with the caller's shape?"""
    model = SEQUENCE_MODULES[name]()
    model.batch_first = True
    with pytest.raises(ValueError, match=r"input: .*got shape \(2, 0, 3\)"):
        model(torch.zeros(2, 0, H_IN))
    if not name.startswith("MinGRU"):
        with pytest.raises(ValueError, match=r"input: .*got shape \(0, 3\)"):
            model(torch.zeros(0, H_IN))


@pytest.mark.parametrize(
    "call",
    [
        lambda x: unroll(rnncourse.GRUCell(H_IN, H), x),
        lambda x: min_gru_parallel(x, torch.randn(H, H_IN), torch.randn(H, H_IN)),
        lambda x: min_gru_sequential(x, torch.randn(H, H_IN), torch.randn(H, H_IN)),
        lambda x: run_bidirectional(
            rnncourse.rnn_cell,
            x,
            [torch.randn(H, H_IN), torch.randn(H, H)],
            [torch.randn(H, H_IN), torch.randn(H, H)],
            torch.zeros(2, H),
            torch.zeros(2, H),
        ),
    ],
    ids=["unroll", "min_gru_parallel", "min_gru_seq", "bidir"],
)
def test_empty_sequence_is_refused_by_the_functions(call) -> None:
    """Do the functional loops refuse T = 0 too, naming ``x``?"""
    with pytest.raises(ValueError, match=r"^x: .*at least one time step"):
        call(torch.zeros(0, 2, H_IN))


def test_empty_source_is_refused_by_seq2seq() -> None:
    """Does an empty source sequence name ``src``?"""
    model = seq2seq.build_seq2seq(10, 4, 8)
    with pytest.raises(ValueError, match=r"^src: .*at least one time step"):
        seq2seq.greedy_decode(model, torch.zeros(0, 2, dtype=torch.long), max_len=3)


# ---------------------------------------------------------------------------
# N = 0: an empty batch runs forwards and backwards, with torch.nn's shapes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("grad", GRAD_MODES)
@pytest.mark.parametrize("name", SEQUENCE_MODULES)
def test_empty_batch_runs_forwards_and_backwards(name: str, grad: str) -> None:
    """Does a batch of zero sequences give empty outputs and (with grad) zero gradients?"""
    torch.manual_seed(0)
    model = SEQUENCE_MODULES[name]()
    x = torch.zeros(5, 0, H_IN, requires_grad=grad == "grad")
    with GRAD_MODES[grad]():
        out = model(x)
    for t in _tensors(out):
        assert t.numel() == 0
    if grad == "grad":
        sum(t.sum() for t in _tensors(out)).backward()
        assert x.grad is not None and x.grad.shape == x.shape
        for p in model.parameters():
            assert p.grad is None or torch.count_nonzero(p.grad) == 0


@pytest.mark.parametrize("name", TORCH_TWINS)
def test_empty_batch_shapes_match_torch(name: str) -> None:
    """Are the N = 0 output and state shapes exactly torch.nn's, and its gradients too?"""
    torch.manual_seed(0)
    ours, theirs = SEQUENCE_MODULES[name](), TORCH_TWINS[name]()
    x = torch.zeros(5, 0, H_IN)
    ours_out, theirs_out = ours(x), theirs(x)
    assert _shapes(ours_out) == _shapes(theirs_out)
    sum(t.sum() for t in _tensors(ours_out)).backward()
    sum(t.sum() for t in _tensors(theirs_out)).backward()
    ours_grads = [tuple(p.grad.shape) for p in ours.parameters() if p.grad is not None]
    theirs_grads = [tuple(p.grad.shape) for p in theirs.parameters() if p.grad is not None]
    assert sorted(ours_grads) == sorted(theirs_grads)


@pytest.mark.parametrize("name", ["MinGRU-parallel", "MinGRU-sequential"])
def test_min_gru_h_n_shape(name: str) -> None:
    """Is MinGRU's h_n the documented (1, N, H), for N = 0 too?"""
    model = SEQUENCE_MODULES[name]()
    for N in (0, 2):
        _, h_n = model(torch.randn(5, N, H_IN))
        assert h_n.shape == (1, N, H)


# ---------------------------------------------------------------------------
# Negative or zero sizes: a ValueError naming the size
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls",
    [rnncourse.RNNCell, rnncourse.LSTMCell, rnncourse.GRUCell, MinGRU, rnncourse.RNN],
    ids=lambda c: c.__name__,
)
@pytest.mark.parametrize(("sizes", "argument"), [((-1, 4), "input_size"), ((3, 0), "hidden_size")])
def test_bad_sizes_name_the_argument(cls, sizes: tuple[int, int], argument: str) -> None:
    """Does a negative or zero size give a ValueError naming it, not torch's raw error?

    Cells accept ``hidden_size=0`` as torch's do (see the next test); a sequence module does not.
    """
    if sizes[1] == 0 and cls in (rnncourse.RNNCell, rnncourse.LSTMCell, rnncourse.GRUCell):
        pytest.skip("torch's cells accept hidden_size=0")
    with pytest.raises(ValueError, match=rf"^{argument}: expected a positive int"):
        cls(*sizes)


@pytest.mark.parametrize(
    "cls", [rnncourse.RNNCell, rnncourse.GRUCell, rnncourse.LSTMCell], ids=lambda c: c.__name__
)
def test_cells_with_zero_hidden_units_return_empty_states(cls) -> None:
    """Does a cell with H = 0 return an empty (N, 0) state, as torch's cells do?"""
    cell = cls(10, 0)
    out = cell(torch.randn(3, 10))
    for state in out if isinstance(out, tuple) else (out,):
        assert state.shape == (3, 0)


# ---------------------------------------------------------------------------
# Token ids outside the vocabulary
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad_id", [10, 99, -1])
@pytest.mark.parametrize("attention", [True, False])
def test_out_of_vocabulary_tokens_name_src(bad_id: int, attention: bool) -> None:
    """Does greedy_decode name ``src`` and V when a token id is outside 0..V-1?"""
    model = seq2seq.build_seq2seq(10, 4, 8, attention=attention)
    src = torch.tensor([[3, 4], [bad_id, 5]])
    with pytest.raises(ValueError, match=r"^src: expected token ids in 0..V-1 = 0..9"):
        seq2seq.greedy_decode(model, src, max_len=3)
    with pytest.raises(ValueError, match=r"^src: expected token ids in 0..V-1 = 0..9"):
        model(src, torch.tensor([[1, 2]]))
    with pytest.raises(ValueError, match=r"^tgt: expected token ids in 0..V-1 = 0..9"):
        model(torch.tensor([[3, 4]]), src)


# ---------------------------------------------------------------------------
# Unknown device strings
# ---------------------------------------------------------------------------

DEVICE_TAKERS = {
    "RNNCell": lambda d: rnncourse.RNNCell(H_IN, H, device=d),
    "LSTM": lambda d: rnncourse.LSTM(H_IN, H, device=d),
    "GRU": lambda d: rnncourse.GRU(H_IN, H, device=d),
    "MinGRU": lambda d: MinGRU(H_IN, H, device=d),
    "ManyToOne": lambda d: topologies.ManyToOne(H_IN, H, 2, device=d),
    "ManyToOne-cell-instance": lambda d: topologies.ManyToOne(
        H_IN, H, 2, rnncourse.GRUCell(H_IN, H), device=d
    ),
    "EncoderDecoder": lambda d: topologies.EncoderDecoder(H_IN, H, 2, device=d),
    "OneToMany": lambda d: topologies.OneToMany(H_IN, H, 2, device=d),
    "build_seq2seq": lambda d: seq2seq.build_seq2seq(10, 4, 8, device=d),
    "AdditiveAttention": lambda d: seq2seq.AdditiveAttention(4, 4, 8, device=d),
}


@pytest.mark.parametrize("name", DEVICE_TAKERS)
@pytest.mark.parametrize("device", ["gpu", "cuda:x", "tpu0"])
def test_unknown_device_names_the_argument(name: str, device: str) -> None:
    """Does an unknown device string give a ValueError naming ``device``?"""
    with pytest.raises(ValueError, match=rf"^device: expected a device .*got {device!r}"):
        DEVICE_TAKERS[name](device)


@pytest.mark.parametrize("device", [None, "cpu", torch.device("cpu")])
def test_known_devices_are_accepted(device) -> None:
    """Are None, 'cpu' and a torch.device still accepted?"""
    for make in DEVICE_TAKERS.values():
        make(device)
