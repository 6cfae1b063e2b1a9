"""Tests for rnncourse.topologies (chapter 6): shapes, padding, causality, learning."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnncourse._recurrent import unroll
from rnncourse.topologies import (
    CELLS,
    EncoderDecoder,
    ManyToManyAligned,
    ManyToOne,
    OneToMany,
    Readout,
    _generate,
    cell_kind,
    hidden_of,
    init_state,
    make_cell,
    map_state,
)
from tests.conftest import dtype_for, tolerances

TORCH_CELLS = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}
TORCH_LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
SIZES = [(1, 1), (1, 4), (6, 1), (6, 3)]  # (T, N), edges T=1 and N=1 included


pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


def _torch_cell_like(cell: nn.Module) -> nn.Module:
    """A torch.nn cell carrying the same weights as an rnncourse cell."""
    ref = TORCH_CELLS[cell_kind(cell)](
        cell.input_size, cell.hidden_size, dtype=cell.weight_ih.dtype, device=cell.weight_ih.device
    )
    ref.load_state_dict(cell.state_dict())
    return ref


# ----------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", CELLS)
def test_make_cell_builds_rnncourse_cells(kind: str) -> None:
    """Does make_cell build rnncourse's cell of the named kind with the given sizes?"""
    cell = make_cell(kind, 3, 5)
    assert type(cell).__module__ == f"rnncourse.{kind}"
    assert (cell.input_size, cell.hidden_size, cell_kind(cell)) == (3, 5, kind)


@pytest.mark.parametrize("kind", CELLS)
def test_cell_kind_of_torch_cells(kind: str) -> None:
    """Does cell_kind name torch.nn cells correctly from their gate count?"""
    assert cell_kind(TORCH_CELLS[kind](2, 7)) == kind


def test_bad_cells_are_refused() -> None:
    """Do a wrong name, a non-cell and a mis-sized cell raise errors naming `cell`?"""
    with pytest.raises(ValueError, match="cell"):
        make_cell("transformer", 3, 5)
    with pytest.raises(TypeError, match="cell"):
        make_cell(nn.Linear(3, 5), 3, 5)
    with pytest.raises(ValueError, match="cell"):
        ManyToOne(3, 5, 2, cell=nn.GRUCell(4, 5))
    with pytest.raises(ValueError, match="decoder_cell"):
        EncoderDecoder(3, 5, 2, cell="gru", decoder_cell="lstm")


def test_init_state_and_map_state_handle_lstm_tuples() -> None:
    """Is the LSTM state a zero (h, c) pair, and does map_state keep that structure?"""
    like = torch.ones(1, dtype=torch.float64)
    h, c = init_state(make_cell("lstm", 2, 3), 4, like)
    assert h.shape == c.shape == (4, 3) and h.dtype == torch.float64
    assert not h.any() and not c.any()
    assert init_state(make_cell("gru", 2, 3), 4, like).shape == (4, 3)
    doubled = map_state(lambda a, b: a + b, (h + 1, c + 2), (h + 1, c + 2))
    assert isinstance(doubled, tuple)
    torch.testing.assert_close(doubled[1], torch.full((4, 3), 4.0, dtype=torch.float64))
    assert hidden_of(doubled) is doubled[0]


@pytest.mark.parametrize("kind", CELLS)
def test_unroll_matches_torch_layer(kind: str, device: torch.device) -> None:
    """Does unroll give torch.nn.RNN/LSTM/GRU's outputs and final state?"""
    torch.manual_seed(0)
    dtype = dtype_for(device)
    cell = make_cell(kind, 3, 5, device=device, dtype=dtype)
    layer = TORCH_LAYERS[kind](3, 5, device=device, dtype=dtype)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(layer, f"{name}_l0").copy_(getattr(cell, name))
    x = torch.randn(6, 4, 3, device=device, dtype=dtype)
    h, state = unroll(cell, x)
    ref_h, ref_state = layer(x)
    torch.testing.assert_close(h, ref_h, **tolerances(dtype))
    got = state if kind == "lstm" else (state,)
    want = tuple(s[0] for s in ref_state) if kind == "lstm" else (ref_state[0],)
    for got_part, want_part in zip(got, want, strict=True):
        torch.testing.assert_close(got_part, want_part, **tolerances(dtype))


@pytest.mark.parametrize("kind", CELLS)
def test_unroll_lengths_match_packed_sequence(kind: str) -> None:
    """With lengths, is unroll's final state torch's packed-sequence h_n, with zero padding?"""
    torch.manual_seed(1)
    cell = make_cell(kind, 2, 4, dtype=torch.float64)
    layer = TORCH_LAYERS[kind](2, 4, dtype=torch.float64)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(layer, f"{name}_l0").copy_(getattr(cell, name))
    x = torch.randn(5, 3, 2, dtype=torch.float64)
    lengths = torch.tensor([5, 2, 1])
    h, state = unroll(cell, x, lengths=lengths)
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
    ref_out, ref_state = layer(packed)
    ref_h, _ = nn.utils.rnn.pad_packed_sequence(ref_out, total_length=5)
    torch.testing.assert_close(h, ref_h, **tolerances(torch.float64))
    ref_h_n = ref_state[0] if kind == "lstm" else ref_state
    torch.testing.assert_close(hidden_of(state), ref_h_n[0], **tolerances(torch.float64))


def test_unroll_rejects_bad_lengths() -> None:
    """Do lengths of 0, above T, of the wrong size or float dtype raise errors naming them?"""
    cell = make_cell("rnn", 2, 3)
    x = torch.randn(4, 2, 2)
    for bad in ([0, 4], [5, 1], [1, 2, 3]):
        with pytest.raises(ValueError, match="lengths"):
            unroll(cell, x, lengths=bad)
    with pytest.raises(TypeError, match="lengths"):
        unroll(cell, x, lengths=torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="x"):
        unroll(cell, torch.randn(4, 2, 3))


def test_readout_is_the_affine_map() -> None:
    """Is Readout y = W_hy h + b_y, as torch.nn.functional.linear computes it?"""
    readout = Readout(4, 3, dtype=torch.float64)
    h = torch.randn(5, 2, 4, dtype=torch.float64)
    want = nn.functional.linear(h, readout.weight_hy, readout.bias_y)
    torch.testing.assert_close(readout(h), want, **tolerances(torch.float64))


# ----------------------------------------------------------------------------------------
# shapes, for every cell and the T=1 / N=1 edges
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize(("T", "N"), SIZES)
def test_shapes(kind: str, T: int, N: int, device: torch.device) -> None:
    """Do all four topologies return their documented shapes for every cell type?"""
    dtype = dtype_for(device)
    kw = {"device": device, "dtype": dtype}
    x = torch.randn(T, N, 3, **kw)
    assert ManyToOne(3, 8, 2, cell=kind, **kw)(x).shape == (N, 2)
    assert ManyToOne(3, 8, 2, cell=kind, **kw)(x, lengths=[T] * N).shape == (N, 2)
    assert ManyToManyAligned(3, 8, 2, cell=kind, **kw)(x).shape == (T, N, 2)
    assert EncoderDecoder(3, 8, 2, cell=kind, **kw)(x, steps=T + 2).shape == (T + 2, N, 2)
    for feed in ("output", "input"):
        gen = OneToMany(3, 8, 2, cell=kind, feed=feed, **kw)
        y = gen(torch.randn(N, 3, **kw), steps=T)
        assert y.shape == (T, N, 2) and y.dtype == dtype and y.device.type == device.type


@pytest.mark.parametrize("kind", CELLS)
def test_accepts_torch_cells(kind: str) -> None:
    """Does a topology built on a torch.nn cell equal the same one on rnncourse's cell?"""
    torch.manual_seed(2)
    ours = ManyToManyAligned(3, 6, 2, cell=kind, dtype=torch.float64)
    theirs = ManyToManyAligned(3, 6, 2, cell=_torch_cell_like(ours.cell), dtype=torch.float64)
    theirs.readout.load_state_dict(ours.readout.state_dict())
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    torch.testing.assert_close(ours(x), theirs(x), **tolerances(torch.float64))


# ----------------------------------------------------------------------------------------
# behaviour
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", CELLS)
def test_many_to_one_padded_batch_equals_each_sequence_alone(kind: str) -> None:
    """Does ManyToOne on a right-padded batch give each sequence's output run alone?"""
    torch.manual_seed(3)
    model = ManyToOne(2, 6, 3, cell=kind, dtype=torch.float64)
    lengths = [4, 1, 3]
    x = torch.randn(4, 3, 2, dtype=torch.float64)
    x_padded = x.clone()
    for n, length in enumerate(lengths):
        x_padded[length:, n] = 1e3  # garbage in the padding must not matter
    batch = model(x_padded, lengths=torch.tensor(lengths))
    alone = torch.cat([model(x[:length, n : n + 1]) for n, length in enumerate(lengths)])
    torch.testing.assert_close(batch, alone, **tolerances(torch.float64))
    # without lengths the padding does leak in: the check above can fail
    assert not torch.allclose(model(x_padded), alone)


@pytest.mark.parametrize("kind", CELLS)
def test_aligned_tagger_is_causal(kind: str) -> None:
    """Does the tagger's y_t depend on x_1..x_t (nonzero gradient) and not on later inputs?"""
    torch.manual_seed(4)
    model = ManyToManyAligned(3, 6, 2, cell=kind, dtype=torch.float64)
    T = 6
    for t in range(T):
        x = torch.randn(T, 2, 3, dtype=torch.float64, requires_grad=True)
        model(x)[t].sum().backward()
        per_step = x.grad.abs().sum(dim=(1, 2))  # (T,)
        assert (per_step[: t + 1] > 0).all(), f"y_{t} ignores an earlier input"
        assert (per_step[t + 1 :] == 0).all(), f"y_{t} sees the future"


def test_encoder_decoder_sees_input_only_through_final_state() -> None:
    """Is EncoderDecoder's output a function of the encoder's final state only (the bottleneck)?"""
    torch.manual_seed(5)
    model = EncoderDecoder(2, 6, 3, cell="lstm", dtype=torch.float64)
    x = torch.randn(4, 2, 2, dtype=torch.float64)
    _, state = unroll(model.encoder, x)

    want = _generate(model.decoder, model.readout, state, 5, None)
    torch.testing.assert_close(model(x, steps=5), want, **tolerances(torch.float64))
    # and padding: lengths make the final state the last valid one
    short = model(x[:2], steps=5)
    torch.testing.assert_close(
        model(x, steps=5, lengths=[2, 2]), short, **tolerances(torch.float64)
    )


def test_teacher_forcing_feeds_targets_back() -> None:
    """Under teacher forcing, does output t depend on y_teacher[t-1] and not on y_teacher[t:]?"""
    torch.manual_seed(6)
    gen = OneToMany(3, 5, 2, cell="gru", dtype=torch.float64)
    x = torch.randn(2, 3, dtype=torch.float64)
    teacher = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    gen(x, steps=4, y_teacher=teacher)[2].sum().backward()
    per_step = teacher.grad.abs().sum(dim=(1, 2))
    assert per_step[1] > 0 and per_step[0] > 0
    assert (per_step[2:] == 0).all()
    with pytest.raises(ValueError, match="y_teacher"):
        gen(x, steps=3, y_teacher=teacher)
    with pytest.raises(ValueError, match="y_teacher"):
        OneToMany(3, 5, 2, feed="input")(x.float(), steps=4, y_teacher=teacher.float())


# ----------------------------------------------------------------------------------------
# learning tiny tasks (a few seconds each on CPU)
# ----------------------------------------------------------------------------------------


def _train(model: nn.Module, loss_fn, steps: int, lr: float = 0.02) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
    return loss.item()


@pytest.mark.parametrize("kind", CELLS)
def test_many_to_one_learns_sum_sign(kind: str) -> None:
    """Does ManyToOne learn whether a padded sequence's sum is positive (> 90% accuracy)?"""
    torch.manual_seed(7)
    T, N = 8, 256
    x = torch.randn(T, N, 1)
    lengths = torch.randint(1, T + 1, (N,))
    valid = (torch.arange(T)[:, None] < lengths).unsqueeze(-1)  # (T, N, 1)
    labels = ((x * valid).sum(dim=(0, 2)) > 0).long()  # (N,)
    model = ManyToOne(1, 16, 2, cell=kind)
    _train(model, lambda: nn.functional.cross_entropy(model(x, lengths), labels), steps=120)
    x_test = torch.randn(T, N, 1)
    test_labels = ((x_test * valid).sum(dim=(0, 2)) > 0).long()
    accuracy = (model(x_test, lengths).argmax(-1) == test_labels).float().mean().item()
    assert accuracy > 0.9


@pytest.mark.parametrize("kind", CELLS)
def test_one_to_many_learns_patterns(kind: str) -> None:
    """Does OneToMany learn to draw one of three fixed waves from a one-hot (MSE < 0.01)?"""
    torch.manual_seed(8)
    T = 10
    t = torch.arange(1, T + 1, dtype=torch.float32)
    waves = torch.stack([torch.sin(0.3 * (k + 1) * t) for k in range(3)], dim=1)  # (T, 3)
    target = waves.unsqueeze(-1)  # (T, 3, 1): example k draws wave k
    model = OneToMany(3, 24, 1, cell=kind)
    loss = _train(
        model, lambda: nn.functional.mse_loss(model(torch.eye(3), steps=T), target), steps=200
    )
    assert loss < 0.01


def test_aligned_tagger_learns_a_causal_tag() -> None:
    """Does ManyToManyAligned learn the tag [x_{t-1} + x_t > 0] (> 90% accuracy)?"""
    torch.manual_seed(9)
    T, N = 10, 128
    x = torch.randn(T, N, 1)
    previous = torch.cat([torch.zeros(1, N, 1), x[:-1]])
    tags = ((previous + x) > 0).long().squeeze(-1)  # (T, N)
    model = ManyToManyAligned(1, 16, 2, cell="gru")
    _train(
        model,
        lambda: nn.functional.cross_entropy(model(x).reshape(-1, 2), tags.reshape(-1)),
        steps=120,
    )
    accuracy = (model(x).argmax(-1) == tags).float().mean().item()
    assert accuracy > 0.9


def test_encoder_decoder_learns_first_and_last() -> None:
    """Does EncoderDecoder learn to emit (x_T, x_1) from a 4-step input (MSE < 0.05)?"""
    torch.manual_seed(10)
    N = 256
    x = torch.randn(4, N, 1)
    target = torch.stack([x[-1], x[0]])  # (2, N, 1)
    model = EncoderDecoder(1, 24, 1, cell="gru")
    loss = _train(
        model,
        lambda: nn.functional.mse_loss(model(x, steps=2, y_teacher=target), target),
        steps=200,
    )
    free_running = nn.functional.mse_loss(model(x, steps=2), target).item()
    assert loss < 0.05 and free_running < 0.05
