"""Tests for rnncourse.plotting: every figure draws under Agg and holds what it should."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

from rnncourse.plotting import (  # noqa: E402
    TOPOLOGIES,
    plot_gate_weights,
    plot_grad_norms,
    plot_gru_cell,
    plot_hidden_heatmap,
    plot_history,
    plot_lstm_cell,
    plot_topology,
    plot_unrolled,
)
from rnncourse.training import History  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    """Close every figure a test opened, and check that none was shown."""
    yield
    plt.close("all")


def _count(ax, kind) -> int:
    return sum(isinstance(p, kind) for p in ax.patches)


def _texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_backend_is_agg():
    """Do the tests really run without a display?"""
    assert matplotlib.get_backend().lower() == "agg"


def test_plot_history_curves_and_divergence_marker():
    """Are there train and validation curves with the right values, and a diverged marker?"""
    history = History(train_loss=[1.0, 0.5, float("nan")], val_loss=[1.2, 0.6], diverged=True)
    ax = plot_history(history)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"train", "validation", "diverged (NaN/inf)"}
    np.testing.assert_array_equal(lines["train"].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(lines["validation"].get_ydata(), [1.2, 0.6])
    assert ax.get_xlabel() == "epoch"
    assert plot_history(History(train_loss=[1.0, 0.1]), log=True).get_yscale() == "log"


def test_plot_history_draws_on_given_axes():
    """Is the given Axes used rather than a new figure?"""
    fig, (left, right) = plt.subplots(1, 2)
    assert plot_history(History(train_loss=[1.0]), ax=right) is right
    assert len(left.get_lines()) == 0 and len(plt.get_fignums()) == 1


def test_plot_grad_norms_single_and_several():
    """Does one sequence give one line, a mapping one labelled line each, log by default?"""
    ax = plot_grad_norms(torch.tensor([1.0, 10.0, 100.0]))
    assert len(ax.get_lines()) == 1 and ax.get_yscale() == "log"
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), [1.0, 10.0, 100.0])
    ax = plot_grad_norms({"tanh": [1, 0.1], "relu": [1, 5]}, log=False, xlabel="distance k")
    assert [line.get_label() for line in ax.get_lines()] == ["tanh", "relu"]
    assert ax.get_yscale() == "linear" and ax.get_xlabel() == "distance k"
    with pytest.raises(ValueError, match="norms"):
        plot_grad_norms(np.ones((2, 2)))


def test_plot_hidden_heatmap_image_and_token_labels():
    """Is h shown transposed (units as rows) with one token label per step, symmetric colours?"""
    h = torch.linspace(-0.5, 0.9, 5 * 3).reshape(5, 3)  # (T, H)
    ax = plot_hidden_heatmap(h, tokens=["a", " ", "b", "\n", "c"])
    image = ax.get_images()[0]
    np.testing.assert_allclose(image.get_array(), h.T.numpy(), rtol=1e-6)
    assert image.get_clim() == pytest.approx((-0.9, 0.9))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "␣", "b", "\\n", "c"]
    assert len(ax.figure.axes) == 2  # the heatmap and its colour bar
    with pytest.raises(ValueError, match="tokens"):
        plot_hidden_heatmap(h, tokens=["a"])
    with pytest.raises(ValueError, match="h"):
        plot_hidden_heatmap(torch.zeros(2, 3, 4))


@pytest.mark.parametrize("T", [1, 3, 6])
@pytest.mark.parametrize("show_outputs", [True, False])
def test_plot_unrolled_has_one_cell_and_arrows_per_step(T, show_outputs):
    """Are there T cells, T inputs, (T outputs) and one labelled arrow per edge?"""
    ax = plot_unrolled(T, cell_label="GRU", show_outputs=show_outputs)
    per_step = 3 if show_outputs else 2  # boxes (= arrows) per step
    assert _count(ax, FancyBboxPatch) == per_step * T
    assert _count(ax, FancyArrowPatch) == per_step * T
    texts = _texts(ax)
    assert texts.count("$W_{hh}$") == T and texts.count("$W_{ih}$") == T
    assert texts.count("$W_{hy}$") == (T if show_outputs else 0)
    assert "$h_0$" in texts and f"$h_{{{T}}}$" in texts and f"$x_{{{T}}}$" in texts
    assert ax.get_title().startswith("GRU")


EXPECTED_BOXES = {  # kind: (cells, inputs, outputs)
    "one-to-one": (1, 1, 1),
    "one-to-many": (4, 1, 4),
    "many-to-one": (4, 4, 1),
    "many-to-many": (4, 4, 4),
    "encoder-decoder": (7, 3, 4),
}


@pytest.mark.parametrize("kind", TOPOLOGIES)
def test_plot_topology_counts(kind):
    """Does each topology have its number of cells, inputs and outputs?"""
    cells, inputs, outputs = EXPECTED_BOXES[kind]
    ax = plot_topology(kind)
    texts = _texts(ax)
    assert texts.count("$h$") == cells
    assert sum(t.startswith("$x_") for t in texts) == inputs
    assert sum(t.startswith("$y_") for t in texts) == outputs
    assert _count(ax, FancyBboxPatch) == cells + inputs + outputs
    # recurrent arrows between consecutive cells, plus one per input and per output, plus the
    # dashed feedback arrows y_{t-1} -> cell t of one-to-many and of the decoder
    feedback = outputs - 1 if kind in ("one-to-many", "encoder-decoder") else 0
    assert _count(ax, FancyArrowPatch) == (cells - 1) + inputs + outputs + feedback
    assert sum(p.get_label() == "feedback" for p in ax.patches) == feedback
    assert ax.get_title() == kind


def test_plot_topology_rejects_unknown_kind():
    """Does an unknown topology raise ValueError naming kind?"""
    with pytest.raises(ValueError, match="kind"):
        plot_topology("many-to-few")


def test_figures_render_to_png(tmp_path):
    """Do all figures render to a PNG file under Agg without plt.show?"""
    fig, axes = plt.subplots(2, 4, figsize=(16, 6))
    plot_unrolled(3, ax=axes[0, 0])
    for ax, kind in zip(axes.flat[1:6], TOPOLOGIES, strict=True):
        plot_topology(kind, ax=ax)
    plot_history(History(train_loss=[1.0, 0.5]), ax=axes[1, 2])
    plot_hidden_heatmap(np.zeros((4, 2)), ax=axes[1, 3], colorbar=False)
    path = tmp_path / "all.png"
    fig.savefig(path)
    assert path.stat().st_size > 10_000


_GATES = {"$i_t$", "$f_t$", "$g_t$", "$o_t$", "$r_t$", "$z_t$", "$n_t$"}


def _gate_names(ax) -> set[str]:
    return set(_texts(ax)) & _GATES


@pytest.mark.parametrize("variant", ["standard", "peephole", "coupled"])
def test_plot_lstm_cell_draws_every_gate(variant):
    """Does the LSTM diagram name every gate it has, and drop i_t only when coupled?"""
    ax = plot_lstm_cell(variant=variant)
    expected = {"$f_t$", "$g_t$", "$o_t$"} | ({"$i_t$"} if variant != "coupled" else set())
    assert _gate_names(ax) == expected
    assert {"$c_{t-1}$", "$c_t$", "$h_{t-1}$", "$x_t$", "$h_t$"} <= set(_texts(ax))
    if variant == "coupled":
        assert "$i_t = 1 - f_t$" in _texts(ax)
    dashed = [p for p in ax.patches if isinstance(p, FancyArrowPatch) and p.get_linestyle() == "--"]
    assert len(dashed) == (3 if variant == "peephole" else 0)  # c to f, i and o


def test_plot_lstm_cell_gradient_path_is_marked():
    """Is the path through c_t drawn in red and labelled with diag(f_t) only when asked?"""
    plain = plot_lstm_cell()
    marked = plot_lstm_cell(gradient_path=True)
    assert not any("diag" in t for t in _texts(plain))
    assert any(r"\mathrm{diag}(f_t)" in t for t in _texts(marked))
    red = [ln for ln in marked.lines if ln.get_color() == "#c0392b"]
    assert len(red) == 2  # c_{t-1} to the product, the product to the sum (then an arrow)


def test_plot_lstm_cell_rejects_unknown_variant():
    """Does an unknown variant raise a ValueError that names the argument?"""
    with pytest.raises(ValueError, match="variant"):
        plot_lstm_cell(variant="gated")


def test_plot_gru_cell_draws_every_gate():
    """Does the GRU diagram name r_t, z_t and n_t, and show the reset inside the candidate?"""
    ax = plot_gru_cell()
    assert _gate_names(ax) == {"$r_t$", "$z_t$", "$n_t$"}
    assert "$W_{hn} h_{t-1} + b_{hn}$" in _texts(ax)
    assert "1−" in _texts(ax)


@pytest.mark.parametrize(("kind", "G"), [("lstm", 4), ("gru", 3)])
def test_plot_gate_weights_has_every_block(kind, G):
    """Are there G blocks in each stacked matrix and 2 G regrouped ones, one colour per gate?"""
    ax = plot_gate_weights(kind)
    blocks = [p for p in ax.patches if p.get_label().startswith("block")]
    assert len(blocks) == 4 * G
    assert len({p.get_facecolor() for p in blocks}) == G
    merged = [t for t in _texts(ax) if t.startswith("$= W_")]
    assert len(merged) == (4 if kind == "lstm" else 2)  # the GRU's n block does not merge
