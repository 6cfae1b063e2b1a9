"""Tests for rnncourse._recurrent: one state type, one loop over time, one input path."""

from __future__ import annotations

import sys

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnncourse
from rnncourse import topologies
from rnncourse._recurrent import hidden_of, map_state, pack_like, unpack_sequence, unroll
from rnncourse.bidirectional import Bidirectional
from rnncourse.gru import gru_cell
from rnncourse.scan import MinGRU
from tests.conftest import tolerances

F64 = tolerances(torch.float64)
H_IN, H = 3, 4


def _calls_of_unroll(fn) -> int:
    """How many times ``fn()`` enters rnncourse._recurrent.unroll."""
    calls = 0

    def profile(frame, event, arg) -> None:
        nonlocal calls
        if event == "call" and frame.f_code is unroll.__code__:
            calls += 1

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(previous)
    return calls


MODULES = {
    "RNN": (lambda: rnncourse.RNN(H_IN, H), 1),
    "LSTM": (lambda: rnncourse.LSTM(H_IN, H), 1),
    "GRU-2-layer-bidirectional": (lambda: rnncourse.GRU(H_IN, H, 2, bidirectional=True), 4),
    "Bidirectional": (lambda: Bidirectional(rnncourse.LSTMCell(H_IN, H)), 2),
    "ManyToOne": (lambda: topologies.ManyToOne(H_IN, H, 2, "gru"), 1),
    "ManyToManyAligned": (lambda: topologies.ManyToManyAligned(H_IN, H, 2, "rnn"), 1),
    "MinGRU-sequential": (lambda: MinGRU(H_IN, H, mode="sequential"), 1),
}


@pytest.mark.parametrize("name", MODULES)
def test_every_sequence_module_walks_time_through_unroll(name: str) -> None:
    """Does each sequence module run its loop over time through the one unroll, once a layer?"""
    make, expected = MODULES[name]
    model = make()
    x = torch.randn(5, 2, H_IN)
    assert _calls_of_unroll(lambda: model(x)) == expected


def test_fused_lstm_is_the_one_exception() -> None:
    """Does LSTM(fused=True) skip unroll in training (its own node) but not under no_grad?"""
    model = rnncourse.LSTM(H_IN, H, fused=True)
    x = torch.randn(5, 2, H_IN)
    assert _calls_of_unroll(lambda: model(x)) == 0
    with torch.no_grad():
        assert _calls_of_unroll(lambda: model(x)) == 1


def _gru_params(torch_gru: torch.nn.GRU, suffix: str) -> list[torch.Tensor]:
    return [getattr(torch_gru, f"{stem}_l0{suffix}") for stem in ("weight_ih", "weight_hh")] + [
        getattr(torch_gru, f"{stem}_l0{suffix}") for stem in ("bias_ih", "bias_hh")
    ]


@pytest.mark.parametrize("reverse", [False, True])
def test_unroll_with_lengths_matches_packed_sequences(reverse: bool) -> None:
    """With lengths, forwards and backwards, does unroll give torch's packed-sequence GRU?

    Backwards, each sequence must start at its own last valid step, as torch does.
    """
    torch.manual_seed(0)
    T, N = 6, 3
    ref = torch.nn.GRU(H_IN, H, bidirectional=True, dtype=torch.float64)
    x = torch.randn(T, N, H_IN, dtype=torch.float64)
    lengths = torch.tensor([6, 2, 4])
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    ref_out, ref_h_n = ref(packed)
    ref_out, _ = pad_packed_sequence(ref_out, total_length=T)  # (T, N, 2H), zero padded
    suffix, half = ("_reverse", slice(H, 2 * H)) if reverse else ("", slice(0, H))
    params = _gru_params(ref, suffix)
    h_0 = torch.zeros(N, H, dtype=torch.float64)
    out, h_n = unroll(
        lambda x_t, h: gru_cell(x_t, h, *params), x, h_0, reverse=reverse, lengths=lengths
    )
    torch.testing.assert_close(out, ref_out[..., half], **F64)
    torch.testing.assert_close(h_n, ref_h_n[int(reverse)], **F64)
    # state=None: the cell's own zeros, for a function cell as for a module
    cell = rnncourse.GRUCell(H_IN, H, dtype=torch.float64)
    with torch.no_grad():
        for ours, theirs in zip(cell.parameters(), params, strict=True):
            ours.copy_(theirs)
    out_none, h_none = unroll(cell, x, reverse=reverse, lengths=lengths)
    torch.testing.assert_close(out_none, out, **F64)
    torch.testing.assert_close(h_none, h_n, **F64)


def test_unroll_refuses_bad_input_by_name() -> None:
    """Are a list, a wrong rank, a wrong H_in and T = 0 refused, naming x?"""
    cell = rnncourse.RNNCell(H_IN, H)
    with pytest.raises(TypeError, match="^x: expected a torch.Tensor"):
        unroll(cell, [[1.0]])
    with pytest.raises(ValueError, match="^x: expected"):
        unroll(cell, torch.randn(5, H_IN))
    with pytest.raises(ValueError, match="^x: expected"):
        unroll(cell, torch.randn(5, 2, H_IN + 1))
    with pytest.raises(ValueError, match="^x: expected at least one time step"):
        unroll(cell, torch.randn(0, 2, H_IN))


def test_state_helpers_keep_the_lstm_pair() -> None:
    """Do hidden_of and map_state treat h and (h, c) alike?"""
    h, c = torch.randn(2, H), torch.randn(2, H)
    assert hidden_of(h) is h and hidden_of((h, c)) is h
    doubled = map_state(lambda s: 2 * s, (h, c))
    assert isinstance(doubled, tuple) and len(doubled) == 2
    torch.testing.assert_close(doubled[1], 2 * c)


def test_min_gru_shares_the_input_path() -> None:
    """Does MinGRU refuse a list by name (it raised AttributeError) and accept unbatched input?"""
    model = MinGRU(H_IN, H, batch_first=True)
    with pytest.raises(TypeError, match="^input: expected a torch.Tensor, got list"):
        model([[0.0] * H_IN])
    with pytest.raises(TypeError, match="^input: expected dtype torch.float32"):
        model(torch.randn(2, 5, H_IN, dtype=torch.float64))
    x = torch.randn(5, H_IN)  # (T, H_in)
    output, h_n = model(x)
    ref_output, ref_h_n = model(x.unsqueeze(0))  # (1, T, H_in), batch first
    assert output.shape == (5, H) and h_n.shape == (1, H)
    torch.testing.assert_close(output, ref_output[0])
    torch.testing.assert_close(h_n, ref_h_n[:, 0])


@pytest.mark.parametrize(
    "cls",
    [
        rnncourse.RNN,
        rnncourse.LSTM,
        rnncourse.GRU,
        rnncourse.RNNCell,
        rnncourse.LSTMCell,
        rnncourse.GRUCell,
        MinGRU,
    ],
    ids=lambda c: c.__name__,
)
def test_device_and_dtype_are_keyword_only(cls) -> None:
    """Are device= and dtype= keyword-only in every constructor, as in topologies and seq2seq?"""
    import inspect

    params = inspect.signature(cls.__init__).parameters
    for name in ("device", "dtype"):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, name
    model = cls(H_IN, H, dtype=torch.float64)
    assert all(p.dtype == torch.float64 for p in model.parameters())


def _cell_call(name: str, **broken):
    """A call of one functional cell (N = 2, H_in = 3, H = 4) with some arguments replaced."""
    from rnncourse.lstm import lstm_cell
    from rnncourse.rnn import rnn_cell

    cell, G = {"rnn": (rnn_cell, 1), "lstm": (lstm_cell, 4), "gru": (gru_cell, 3)}[name]
    h = torch.zeros(2, H)
    args = {
        "state": (h, torch.zeros(2, H)) if name == "lstm" else h,
        "weight_ih": torch.randn(G * H, H_IN),
        "weight_hh": torch.randn(G * H, H),
        "bias_ih": torch.randn(G * H),
        "bias_hh": torch.randn(G * H),
    }
    args.update(broken)
    state = args.pop("state")
    return lambda: cell(torch.randn(2, H_IN), state, *args.values())


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bias", ["bias_ih", "bias_hh"])
def test_functional_cells_name_a_wrong_bias(cell: str, bias: str) -> None:
    """Is a bias of the wrong length refused by every cell, naming that bias?"""
    with pytest.raises(ValueError, match=rf"^{bias}: expected \(G\*H,\)"):
        _cell_call(cell, **{bias: torch.randn(5)})()


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_functional_cells_name_a_wrong_hidden_state(cell: str) -> None:
    """Is an h of the wrong size refused naming h (and, for the LSTM, c named for c)?"""
    wrong = torch.zeros(2, H + 1)
    state = (wrong, torch.zeros(2, H)) if cell == "lstm" else wrong
    with pytest.raises(ValueError, match=r"^h: expected \(N, H\) = \(2, 4\)"):
        _cell_call(cell, state=state)()
    if cell == "lstm":
        with pytest.raises(ValueError, match=r"^c: expected \(N, H\) = \(2, 4\)"):
            _cell_call(cell, state=(torch.zeros(2, H), wrong))()
        with pytest.raises(TypeError, match=r"^state: expected a tuple \(h, c\), got Tensor"):
            _cell_call(cell, state=torch.zeros(2, H))()


def test_fused_direction_refuses_a_tensor_state() -> None:
    """Does the fused LSTM recurrence refuse a bare h as its state, naming state?"""
    from rnncourse.lstm_fused import lstm_direction_fused

    x = torch.randn(5, 2, H_IN)
    weights = (torch.randn(4 * H, H_IN), torch.randn(4 * H, H), None, None)
    with pytest.raises(TypeError, match=r"^state: expected a tuple \(h, c\), got Tensor"):
        lstm_direction_fused(x, torch.zeros(2, H), *weights, reverse=False)


CONSTRUCTORS = [
    rnncourse.RNN,
    rnncourse.LSTM,
    rnncourse.GRU,
    rnncourse.RNNCell,
    rnncourse.LSTMCell,
    rnncourse.GRUCell,
]


@pytest.mark.parametrize("cls", CONSTRUCTORS, ids=lambda c: c.__name__)
def test_constructors_pass_bias_and_device_on(cls) -> None:
    """Do bias=False and device= reach the parameters (no biases; every parameter on meta)?"""
    without = cls(H_IN, H, bias=False)
    names = [name for name, _ in without.named_parameters()]
    assert names and not any(name.startswith("bias") for name in names)
    on_meta = cls(H_IN, H, device="meta")
    assert all(p.device.type == "meta" for p in on_meta.parameters())
    assert any(name.startswith("bias") for name, _ in on_meta.named_parameters())


@pytest.mark.parametrize("enforce_sorted", [True, False], ids=["sorted", "unsorted"])
def test_unpack_and_pack_like_invert_torchs_packing(enforce_sorted: bool) -> None:
    """Does unpack_sequence give torch's padded batch and lengths (caller's order), and
    pack_like pack it back to the same data, batch_sizes and indices?"""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    lengths = [5, 3, 3, 1] if enforce_sorted else [3, 5, 1, 3]
    x = torch.randn(5, 4, H_IN, dtype=torch.float64)
    packed = pack_padded_sequence(x, lengths, enforce_sorted=enforce_sorted)
    padded, got_lengths = unpack_sequence(packed)
    ref, ref_lengths = pad_packed_sequence(packed)
    torch.testing.assert_close(padded, ref)
    assert got_lengths.tolist() == ref_lengths.tolist() == lengths
    again = pack_like(padded, packed)
    torch.testing.assert_close(again.data, packed.data)
    assert torch.equal(again.batch_sizes, packed.batch_sizes)
