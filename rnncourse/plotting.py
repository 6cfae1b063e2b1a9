"""Figures for the book: training curves, gradient norms, hidden states, RNN diagrams.

* :func:`plot_history` — loss per epoch from :func:`rnncourse.training.fit` (chapters 4-10);
* :func:`plot_grad_norms` — gradient norm per step or per distance (chapter 5);
* :func:`plot_hidden_heatmap` — hidden states ``(T, H)`` against the tokens that produced
  them (chapters 2, 7, 10);
* :func:`plot_unrolled` — the unrolled computational graph with shared weights (chapter 3);
* :func:`plot_topology` — one-to-one, one-to-many, many-to-one, many-to-many and
  encoder-decoder diagrams (chapter 6);
* :func:`plot_lstm_cell`, :func:`plot_gru_cell` — the gated cells with every gate, the LSTM's
  gradient path through :math:`c_t`, peephole and coupled-gate variants (chapter 7);
* :func:`plot_gate_weights` — PyTorch's stacked weights regrouped as one matrix per gate,
  the :math:`W_f [h_{t-1}, x_t] + b_f` form (chapter 7).

Every function draws on ``ax`` if given (else on a new figure) and returns the ``Axes``;
none calls ``plt.show()``, so they work under the non-interactive Agg backend used when the
book is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.ticker import MaxNLocator

from rnncourse._checks import check_choice, check_positive_int

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from rnncourse.training import History

__all__ = [
    "TOPOLOGIES",
    "plot_history",
    "plot_grad_norms",
    "plot_hidden_heatmap",
    "plot_unrolled",
    "plot_topology",
    "plot_lstm_cell",
    "plot_gru_cell",
    "plot_gate_weights",
    "LSTM_VARIANTS",
]

# colours of the diagrams: inputs, hidden cells, outputs, encoder cells
_C_IN, _C_HID, _C_OUT, _C_ENC = "#dbe9f6", "#fde2b8", "#d5efd5", "#e6dcf2"
_C_FEEDBACK = "#d95f02"  # an output fed back in as the next input

TOPOLOGIES = ("one-to-one", "one-to-many", "many-to-one", "many-to-many", "encoder-decoder")


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _visible(token: str) -> str:
    """A tick label for a token: spaces as ␣, newlines and tabs escaped."""
    if token == " ":
        return "␣"
    return repr(token)[1:-1] if token.isspace() else token


def _as_numpy(values: Sequence[float] | np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().double().numpy()
    return np.asarray(values, dtype=float)


# --------------------------------------------------------------------------------------
# Curves
# --------------------------------------------------------------------------------------


def plot_history(history: History, ax: Axes | None = None, *, log: bool = False) -> Axes:
    """Training (and validation) loss per epoch.

    If the run diverged, the last epoch is marked with a red ``x`` and a note.

    Args:
        history: the :class:`~rnncourse.training.History` returned by ``fit``.
        ax: axes to draw on; a new figure if ``None``.
        log: logarithmic loss axis.

    Returns:
        The ``Axes``, with one line per loss curve and a legend.

    Examples::

        >>> from rnncourse.training import History
        >>> ax = plot_history(History(train_loss=[1.0, 0.5, 0.3], val_loss=[1.1, 0.7, 0.6]))
        >>> [line.get_label() for line in ax.get_lines()]
        ['train', 'validation']
    """
    ax = _axes(ax, (5, 3.2))
    epochs = np.arange(1, len(history.train_loss) + 1)
    ax.plot(epochs, history.train_loss, marker="o", ms=3, label="train")
    if history.val_loss:
        ax.plot(
            epochs[: len(history.val_loss)], history.val_loss, marker="o", ms=3, label="validation"
        )
    if history.diverged:
        finite = [v for v in history.train_loss if np.isfinite(v)]
        y = finite[-1] if finite else 1.0
        ax.plot([epochs[-1]], [y], "rx", ms=10, mew=2, label="diverged (NaN/inf)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if log:
        ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


def plot_grad_norms(
    norms: Sequence[float] | np.ndarray | torch.Tensor | Mapping[str, Sequence[float]],
    ax: Axes | None = None,
    *,
    log: bool = True,
    xlabel: str = "step",
    ylabel: str = "gradient norm",
) -> Axes:
    r"""Gradient norms: per training step, or :math:`\lVert \partial L_T / \partial h_{T-k}
    \rVert` per distance :math:`k`.

    Exploding and vanishing gradients are exponential in the distance, so the default log
    axis turns them into straight lines (chapter 5).

    Args:
        norms: one 1-D sequence (e.g. ``History.grad_norm``), or a mapping
            ``{label: norms}`` to compare several runs on the same axes.
        ax: axes to draw on; a new figure if ``None``.
        log: logarithmic y axis.
        xlabel: label of the x axis (``"step"``, or ``"distance k"``).
        ylabel: label of the y axis.

    Returns:
        The ``Axes``, one line per curve (a legend when a mapping is given).

    Examples::

        >>> ax = plot_grad_norms({"clipped": [1.0, 1.0], "raw": [1.0, 50.0]})
        >>> len(ax.get_lines())
        2
    """
    ax = _axes(ax, (5, 3.2))
    curves = norms.items() if isinstance(norms, Mapping) else [(None, norms)]
    for label, values in curves:
        y = _as_numpy(values)
        if y.ndim != 1:
            raise ValueError(f"norms: expected 1-D sequences, got shape {y.shape}")
        ax.plot(np.arange(len(y)), y, label=label)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if isinstance(norms, Mapping):
        ax.legend()
    ax.grid(alpha=0.3)
    return ax


def plot_hidden_heatmap(
    h: np.ndarray | torch.Tensor,
    tokens: Sequence[str] | None = None,
    ax: Axes | None = None,
    *,
    cmap: str = "RdBu_r",
    colorbar: bool = True,
) -> Axes:
    """Heatmap of hidden states: one column per time step, one row per hidden unit.

    The colour scale is symmetric around 0 (tanh units live in ``[-1, 1]``).

    Args:
        h: ``(T, H)`` hidden states of one sequence (e.g. ``output[:, 0]`` of an RNN).
        tokens: ``T`` labels for the columns (characters or words fed at each step).
        ax: axes to draw on; a new figure if ``None``.
        cmap: a diverging colour map.
        colorbar: add a colour bar.

    Returns:
        The ``Axes``, holding one image of shape ``(H, T)``.

    Examples::

        >>> ax = plot_hidden_heatmap(torch.zeros(3, 4), tokens=["a", "b", "c"])
        >>> [t.get_text() for t in ax.get_xticklabels()]
        ['a', 'b', 'c']
    """
    values = _as_numpy(h)
    if values.ndim != 2:
        raise ValueError(f"h: expected (T, H), got {values.shape}")
    T, H = values.shape
    if tokens is not None and len(tokens) != T:
        raise ValueError(f"tokens: expected T={T} labels, got {len(tokens)}")
    ax = _axes(ax, (max(4.0, 0.35 * T + 1.5), max(2.5, 0.25 * H + 1)))
    vmax = float(np.abs(values).max()) or 1.0
    image = ax.imshow(values.T, aspect="auto", cmap=cmap, vmin=-vmax, vmax=vmax)
    ax.set_xlabel("time step t")
    ax.set_ylabel("hidden unit")
    if tokens is not None:
        ax.set_xticks(np.arange(T))
        ax.set_xticklabels([_visible(t) for t in tokens])
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label="$h_t$")
    return ax


# --------------------------------------------------------------------------------------
# Diagrams
# --------------------------------------------------------------------------------------


def _box(ax: Axes, x: float, y: float, text: str, color: str, w: float = 0.7) -> None:
    """A rounded box centred at (x, y) with ``text`` inside."""
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - 0.3), w, 0.6, boxstyle="round,pad=0.05", fc=color, ec="0.25", lw=1.2
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=11)


def _arrow(
    ax: Axes,
    start: tuple[float, float],
    end: tuple[float, float],
    label: str | None = None,
    offset: tuple[float, float] = (0.0, 0.0),
) -> None:
    """An arrow from ``start`` to ``end``, optionally labelled at its middle."""
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle="-|>",
            mutation_scale=12,
            lw=1.2,
            color="0.2",
            shrinkA=0,
            shrinkB=0,
        )
    )
    if label is not None:
        mx, my = (start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1]
        ax.text(mx, my, label, fontsize=9, color="0.3", ha="center", va="center")


def _finish(ax: Axes, xmin: float, xmax: float, title: str | None) -> None:
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(-1.6, 1.6)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)


def plot_unrolled(
    T: int,
    ax: Axes | None = None,
    cell_label: str = "RNN",
    show_outputs: bool = True,
) -> Axes:
    r"""The computational graph of a recurrent network unrolled over ``T`` steps.

    .. math::
        h_t = \tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}), \qquad
        y_t = W_{hy} h_t + b_y

    Each box is the same cell at a different time step; every arrow of one kind carries the
    *same* weight matrix (:math:`W_{ih}` up from :math:`x_t`, :math:`W_{hh}` from
    :math:`h_{t-1}` to :math:`h_t`, :math:`W_{hy}` up to :math:`y_t`), which is what
    "weights are shared across time" means.

    Args:
        T: number of time steps to draw (1-12 fit on a page).
        ax: axes to draw on; a new figure if ``None``.
        cell_label: name written in the title (``"RNN"``, ``"LSTM"``, ``"GRU"``).
        show_outputs: draw the outputs :math:`y_t` and the :math:`W_{hy}` arrows.

    Returns:
        The ``Axes``: ``T`` cell boxes plus ``T`` input boxes (and ``T`` output boxes),
        ``T`` recurrent arrows (the first from :math:`h_0`), ``T`` input arrows and
        ``T`` output arrows.

    Examples::

        >>> ax = plot_unrolled(4)
        >>> len(ax.patches)  # 3 x 4 boxes + 3 x 4 arrows
        24
    """
    check_positive_int("T", T)
    gap = 1.7  # horizontal distance between time steps
    ax = _axes(ax, (1.6 * T + 1.5, 3.6))
    ax.text(0, 0, "$h_0$", ha="center", va="center", fontsize=11)
    for t in range(1, T + 1):
        x = gap * t
        _box(ax, x, 0, f"$h_{{{t}}}$", _C_HID)
        _box(ax, x, -1.2, f"$x_{{{t}}}$", _C_IN, w=0.5)
        _arrow(ax, (x, -0.9), (x, -0.35), "$W_{ih}$", offset=(0.3, 0))
        left = gap * (t - 1) + (0.4 if t > 1 else 0.2)  # right edge of h_{t-1}
        _arrow(ax, (left, 0), (x - 0.4, 0), "$W_{hh}$", offset=(0, 0.2))
        if show_outputs:
            _box(ax, x, 1.2, f"$y_{{{t}}}$", _C_OUT, w=0.5)
            _arrow(ax, (x, 0.35), (x, 0.9), "$W_{hy}$", offset=(0.3, 0))
    _finish(ax, -0.4, gap * T + 0.6, f"{cell_label} unrolled over T = {T} steps")
    return ax


def _chain(
    ax: Axes,
    n: int,
    inputs: Sequence[int],
    outputs: Sequence[int],
    *,
    start: float = 0.0,
    color: str = _C_HID,
    x_names: str = "x",
    y_names: str = "y",
    feedback: bool = False,
) -> None:
    """``n`` cells at x = start+1 .. start+n, recurrent arrows between them, and inputs
    below / outputs above the cells whose (1-based) positions are listed. With ``feedback``,
    a dashed arrow takes each output to the next cell's input (:math:`y_{t-1}` is fed in)."""
    for k in range(1, n + 1):
        x = start + k
        _box(ax, x, 0, "$h$", color, w=0.5)
        if k > 1:
            _arrow(ax, (x - 0.7, 0), (x - 0.3, 0))
    for i, k in enumerate(inputs, start=1):
        _box(ax, start + k, -1.2, f"${x_names}_{{{i}}}$", _C_IN, w=0.5)
        _arrow(ax, (start + k, -0.9), (start + k, -0.35))
    for i, k in enumerate(outputs, start=1):
        _box(ax, start + k, 1.2, f"${y_names}_{{{i}}}$", _C_OUT, w=0.5)
        _arrow(ax, (start + k, 0.35), (start + k, 0.9))
    if feedback:
        for k in outputs[:-1]:
            ax.add_patch(
                FancyArrowPatch(
                    (start + k + 0.3, 0.95),
                    (start + k + 0.7, -0.2),
                    connectionstyle="arc3,rad=0.1",
                    arrowstyle="-|>",
                    mutation_scale=10,
                    lw=1.1,
                    ls="--",
                    color=_C_FEEDBACK,
                    label="feedback",
                )
            )


def plot_topology(kind: str, ax: Axes | None = None) -> Axes:
    r"""Diagram of one input/output topology of a recurrent network (chapter 6).

    * ``"one-to-one"``: one input, one output, no recurrence (a feed-forward net);
    * ``"one-to-many"``: one input, a sequence out (image captioning, music generation);
    * ``"many-to-one"``: a sequence in, one output at the end (sentiment classification);
    * ``"many-to-many"``: one output per input, aligned in time (tagging, next-step
      forecasting);
    * ``"encoder-decoder"``: a sequence in, a sequence of another length out, through the
      encoder's final state (translation; chapter 9).

    In one-to-many and in the decoder each output is fed back as the next step's input
    (:math:`h_t = \mathrm{cell}(y_{t-1}, h_{t-1})`): the dashed arrows.

    Args:
        kind: one of :data:`TOPOLOGIES`.
        ax: axes to draw on; a new figure if ``None``.

    Returns:
        The ``Axes``, titled with ``kind``.

    Examples::

        >>> ax = plot_topology("many-to-one")
        >>> ax.get_title()
        'many-to-one'
    """
    check_choice("kind", kind, TOPOLOGIES)
    ax = _axes(ax, (5.5, 3.4))
    if kind == "one-to-one":
        _chain(ax, 1, inputs=[1], outputs=[1])
        width = 1
    elif kind == "one-to-many":
        _chain(ax, 4, inputs=[1], outputs=[1, 2, 3, 4], feedback=True)
        width = 4
    elif kind == "many-to-one":
        _chain(ax, 4, inputs=[1, 2, 3, 4], outputs=[4])
        width = 4
    elif kind == "many-to-many":
        _chain(ax, 4, inputs=[1, 2, 3, 4], outputs=[1, 2, 3, 4])
        width = 4
    else:  # encoder-decoder: 3 steps in, 4 steps out
        _chain(ax, 3, inputs=[1, 2, 3], outputs=[], color=_C_ENC)
        _chain(ax, 4, inputs=[], outputs=[1, 2, 3, 4], start=3, feedback=True)
        _arrow(ax, (3.3, 0), (3.7, 0))  # the encoder's last state starts the decoder
        ax.text(2, 0.55, "encoder", ha="center", fontsize=9, color="0.3")
        ax.text(5.5, -0.6, "decoder", ha="center", fontsize=9, color="0.3")
        ax.text(3.5, 0.22, "$s_0$", ha="center", fontsize=10, color="0.3")
        width = 7
    _finish(ax, 0.3, width + 0.7, kind)
    return ax


# Cell diagrams (chapter 7)
# --------------------------------------------------------------------------------------

# one colour per gate, shared by the cell diagrams and the weight-layout figure
_GATE_COLOURS = {
    "i": "#c6dbef",
    "f": "#fdd0a2",
    "g": "#c7e9c0",
    "o": "#dadaeb",
    "r": "#fdd0a2",
    "z": "#c6dbef",
    "n": "#c7e9c0",
}
LSTM_VARIANTS = ("standard", "peephole", "coupled")
_HIGHLIGHT = "#c0392b"


def _line(ax: Axes, xs: Sequence[float], ys: Sequence[float], **kw: Any) -> None:
    style: dict[str, Any] = {"color": "0.2", "lw": 1.4, "solid_capstyle": "round", "zorder": 1}
    style.update(kw)
    ax.plot(xs, ys, **style)


def _op(ax: Axes, x: float, y: float, symbol: str) -> None:
    """A pointwise operation: a small circle with ×, + or 1−."""
    ax.add_patch(plt.Circle((x, y), 0.28, fc="white", ec="0.2", lw=1.3, zorder=3))
    size = 9 if len(symbol) > 1 else 13
    ax.text(x, y, symbol, ha="center", va="center", fontsize=size, zorder=4)


def _gate(ax: Axes, x: float, y: float, fn: str, name: str, colour: str) -> None:
    """A layer box (σ or tanh) with the gate's name under it."""
    ax.add_patch(
        FancyBboxPatch(
            (x - 0.42, y - 0.3),
            0.84,
            0.6,
            boxstyle="round,pad=0.04",
            fc=colour,
            ec="0.25",
            lw=1.2,
            zorder=3,
        )
    )
    ax.text(x, y, fn, ha="center", va="center", fontsize=11, zorder=4)
    if name:
        ax.text(x + 0.5, y - 0.45, name, ha="left", va="center", fontsize=11, zorder=4)


def _flow(ax: Axes, start: tuple[float, float], end: tuple[float, float], **kw: Any) -> None:
    style: dict[str, Any] = {"arrowstyle": "-|>", "mutation_scale": 11, "lw": 1.3, "color": "0.2"}
    style.update(kw)
    ax.add_patch(FancyArrowPatch(start, end, shrinkA=0, shrinkB=0, zorder=2, **style))


def plot_lstm_cell(
    ax: Axes | None = None, *, variant: str = "standard", gradient_path: bool = False
) -> Axes:
    r"""The LSTM cell with every gate, in PyTorch's notation (chapter 7).

    .. math::
        c_t = f_t \odot c_{t-1} + i_t \odot g_t, \qquad h_t = o_t \odot \tanh(c_t)

    where the gates :math:`i_t, f_t, o_t` (sigmoid boxes) and the candidate :math:`g_t`
    (tanh box) all read :math:`x_t` and :math:`h_{t-1}`, entering at the bottom. The cell
    state runs along the top; the circles are element-wise operations.

    Args:
        ax: axes to draw on; a new figure if ``None``.
        variant: ``"standard"``; ``"peephole"`` adds the connections from the cell state to
            the gates (:math:`c_{t-1}` to :math:`i_t, f_t`, :math:`c_t` to :math:`o_t`,
            Gers and Schmidhuber 2000); ``"coupled"`` drops the input gate and writes
            :math:`i_t = 1 - f_t` (Greff et al. 2017).
        gradient_path: draw the path of :math:`\partial c_t / \partial c_{t-1} =
            \operatorname{diag}(f_t)` along the cell state in red.

    Returns:
        The ``Axes``, titled with the variant; ``ax.texts`` hold the gate names.

    Examples::

        >>> ax = plot_lstm_cell()
        >>> gates = {"$i_t$", "$f_t$", "$g_t$", "$o_t$"}
        >>> sorted(t.get_text() for t in ax.texts if t.get_text() in gates)
        ['$f_t$', '$g_t$', '$i_t$', '$o_t$']
    """
    check_choice("variant", variant, LSTM_VARIANTS)
    ax = _axes(ax, (7.5, 4.6))
    ax.add_patch(
        FancyBboxPatch(
            (0, 0), 10, 5.8, boxstyle="round,pad=0.1", fc="#f7f7f7", ec="0.6", lw=1, zorder=0
        )
    )
    cy, by, gy = 5.0, 0.8, 2.2  # heights of the cell state, the input bus and the gates
    gx = {"f": 2.2, "i": 3.8, "g": 5.3, "o": 7.0}
    fx, px, ox = 2.2, 5.3, 8.6  # forget product, the sum, the output product
    # the cell state, c_{t-1} -> c_t
    path = {"color": _HIGHLIGHT, "lw": 3.2} if gradient_path else {}
    _line(ax, [-1.0, fx - 0.28], [cy, cy], **path)
    _line(ax, [fx + 0.28, px - 0.28], [cy, cy], **path)
    _flow(ax, (px + 0.28, cy), (11.0, cy), **path)
    ax.text(-1.1, cy, "$c_{t-1}$", ha="right", va="center", fontsize=12)
    ax.text(11.1, cy, "$c_t$", ha="left", va="center", fontsize=12)
    _op(ax, fx, cy, "×")
    _op(ax, px, cy, "+")
    # the input bus: h_{t-1} from the left, x_t from below
    _line(ax, [-1.0, gx["o"]], [by, by])
    ax.text(-1.1, by, "$h_{t-1}$", ha="right", va="center", fontsize=12)
    _line(ax, [1.0, 1.0], [-0.9, by])
    ax.text(1.0, -1.1, "$x_t$", ha="center", va="top", fontsize=12)
    ax.plot([1.0], [by], "o", color="0.2", ms=4, zorder=2)
    gates = ["f", "g", "o"] if variant == "coupled" else ["f", "i", "g", "o"]
    for name in gates:
        _flow(ax, (gx[name], by), (gx[name], gy - 0.3))
        fn = "tanh" if name == "g" else "σ"
        _gate(ax, gx[name], gy, fn, f"${name}_t$", _GATE_COLOURS[name])
    # forget: f_t ⊙ c_{t-1}
    _flow(ax, (fx, gy + 0.3), (fx, cy - 0.28))
    # write: i_t ⊙ g_t, added to the cell state
    wx, wy = px, 3.7
    _op(ax, wx, wy, "×")
    _flow(ax, (gx["g"], gy + 0.3), (wx, wy - 0.28))
    if variant == "coupled":
        # i_t = 1 - f_t
        _op(ax, 3.8, 3.7, "1−")
        _flow(ax, (fx + 0.3, gy + 0.25), (3.8 - 0.22, 3.7 - 0.18))
        _flow(ax, (3.8 + 0.28, 3.7), (wx - 0.28, wy))
        ax.text(3.8, 4.15, "$i_t = 1 - f_t$", ha="center", va="bottom", fontsize=10)
    else:
        _flow(ax, (gx["i"], gy + 0.3), (wx - 0.22, wy - 0.18))
    _flow(ax, (wx, wy + 0.28), (px, cy - 0.28))
    # read: h_t = o_t ⊙ tanh(c_t)
    _flow(ax, (ox, cy), (ox, 3.95))
    _gate(ax, ox, 3.65, "tanh", "", "#f0f0f0")
    _op(ax, ox, gy, "×")
    _flow(ax, (ox, 3.35), (ox, gy + 0.28))
    _flow(ax, (gx["o"] + 0.42, gy), (ox - 0.28, gy))
    _line(ax, [ox, ox], [gy - 0.28, by])
    _flow(ax, (ox, by), (11.0, by))
    ax.text(11.1, by, "$h_t$", ha="left", va="center", fontsize=12)
    _flow(ax, (9.5, by), (9.5, 6.7))
    ax.plot([9.5], [by], "o", color="0.2", ms=4, zorder=2)
    ax.text(9.5, 6.85, "$h_t$ to $y_t$", ha="center", va="bottom", fontsize=10)
    if variant == "peephole":
        peep = {"color": "#2b8cbe", "ls": "--", "arrowstyle": "-|>"}
        for name, x0 in [("f", 1.2), ("i", 3.0)]:
            _flow(ax, (x0, cy), (gx[name] - 0.3, gy + 0.3), **peep)
        _flow(ax, (7.6, cy), (gx["o"] + 0.2, gy + 0.3), **peep)
        ax.text(0.3, 3.2, "peepholes", color="#2b8cbe", fontsize=10, rotation=90)
    if gradient_path:
        ax.text(
            5.0,
            6.2,
            r"$\partial c_t / \partial c_{t-1} = \mathrm{diag}(f_t)$ along this path",
            color=_HIGHLIGHT,
            ha="center",
            va="bottom",
            fontsize=11,
        )
    ax.set_xlim(-2.2, 12.0)
    ax.set_ylim(-1.7, 7.3)
    ax.set_aspect("equal")
    ax.axis("off")
    title = {
        "standard": "LSTM cell",
        "peephole": "LSTM with peepholes",
        "coupled": "LSTM with coupled input and forget gates",
    }[variant]
    ax.set_title(title)
    return ax


def plot_gru_cell(ax: Axes | None = None) -> Axes:
    r"""The GRU cell with every gate, with PyTorch's reset placement (chapter 7).

    .. math::
        n_t = \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})), \qquad
        h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}

    where the reset gate :math:`r_t` and the update gate :math:`z_t` (sigmoid boxes) read
    :math:`x_t` and :math:`h_{t-1}`. The state runs along the top; :math:`z_t` keeps the old
    state, :math:`1 - z_t` lets the candidate :math:`n_t` in.

    Args:
        ax: axes to draw on; a new figure if ``None``.

    Returns:
        The ``Axes``; ``ax.texts`` hold the gate names.

    Examples::

        >>> ax = plot_gru_cell()
        >>> sorted(t.get_text() for t in ax.texts if t.get_text() in {"$r_t$", "$z_t$", "$n_t$"})
        ['$n_t$', '$r_t$', '$z_t$']
    """
    ax = _axes(ax, (7.5, 4.6))
    ax.add_patch(
        FancyBboxPatch(
            (0, 0), 10, 5.8, boxstyle="round,pad=0.1", fc="#f7f7f7", ec="0.6", lw=1, zorder=0
        )
    )
    hy, by, gy = 5.0, 0.8, 2.2
    rx, nx, zx = 1.8, 6.0, 7.6  # reset gate, candidate, update gate
    kx, sx = zx, 9.2  # the keep product z ⊙ h_{t-1} and the sum
    _line(ax, [-1.0, kx - 0.28], [hy, hy])
    _line(ax, [kx + 0.28, sx - 0.28], [hy, hy])
    _flow(ax, (sx + 0.28, hy), (11.0, hy))
    ax.text(-1.1, hy, "$h_{t-1}$", ha="right", va="center", fontsize=12)
    ax.text(11.1, hy, "$h_t$", ha="left", va="center", fontsize=12)
    _op(ax, kx, hy, "×")
    _op(ax, sx, hy, "+")
    # the bus: h_{t-1} comes down on the left, x_t from below
    _line(ax, [0.6, 0.6], [hy, by])
    ax.plot([0.6], [hy], "o", color="0.2", ms=4, zorder=2)
    _line(ax, [0.6, zx], [by, by])
    _line(ax, [1.0, 1.0], [-0.9, by])
    ax.plot([1.0], [by], "o", color="0.2", ms=4, zorder=2)
    ax.text(1.0, -1.1, "$x_t$", ha="center", va="top", fontsize=12)
    for name, x in [("r", rx), ("z", zx)]:
        _flow(ax, (x, by), (x, gy - 0.3))
        _gate(ax, x, gy, "σ", f"${name}_t$", _GATE_COLOURS[name])
    # keep: z_t ⊙ h_{t-1}
    _flow(ax, (zx, gy + 0.3), (kx, hy - 0.28))
    # candidate: r_t gates the recurrent term only (PyTorch's placement)
    hx, hny, mx = 3.1, 3.7, 4.8
    _flow(ax, (hx, hy), (hx, hny + 0.3))
    ax.plot([hx], [hy], "o", color="0.2", ms=4, zorder=2)
    ax.add_patch(
        FancyBboxPatch(
            (hx - 1.0, hny - 0.3),
            2.0,
            0.6,
            boxstyle="round,pad=0.04",
            fc="#f0f0f0",
            ec="0.25",
            lw=1.2,
            zorder=3,
        )
    )
    ax.text(hx, hny, "$W_{hn} h_{t-1} + b_{hn}$", ha="center", va="center", fontsize=8, zorder=4)
    _op(ax, mx, hny, "×")
    _flow(ax, (hx + 1.0, hny), (mx - 0.28, hny))
    _flow(ax, (rx + 0.3, gy + 0.3), (mx - 0.2, hny - 0.2))
    _flow(ax, (mx + 0.2, hny - 0.2), (nx - 0.15, gy + 0.3))
    _flow(ax, (nx, by), (nx, gy - 0.3))
    ax.text(nx - 0.1, 1.35, "$W_{in} x_t + b_{in}$", ha="right", va="center", fontsize=9)
    _gate(ax, nx, gy, "tanh", "$n_t$", _GATE_COLOURS["n"])
    # write: (1 - z_t) ⊙ n_t, added to the kept state
    ux, uy, wx = 8.6, gy, sx
    _op(ax, ux, uy, "1−")
    _flow(ax, (zx + 0.42, gy), (ux - 0.28, uy))
    _op(ax, wx, 3.6, "×")
    _flow(ax, (ux + 0.2, uy + 0.2), (wx - 0.12, 3.6 - 0.26))
    _flow(ax, (nx + 0.3, gy + 0.3), (wx - 0.27, 3.6), connectionstyle="arc3,rad=-0.25")
    _flow(ax, (wx, 3.6 + 0.28), (sx, hy - 0.28))
    ax.set_xlim(-2.2, 12.0)
    ax.set_ylim(-1.7, 6.6)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("GRU cell (PyTorch's reset placement)")
    return ax


def plot_gate_weights(kind: str = "lstm", ax: Axes | None = None) -> Axes:
    r"""PyTorch's stacked weights next to the one-matrix-per-gate form (chapter 7).

    .. math::
        W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}
        \quad	ext{block } f: \quad
        W_{if} x_t + W_{hf} h_{t-1} + b_{if} + b_{hf} = W_f [h_{t-1}, x_t] + b_f

    where :math:`W_f = [W_{hf}, W_{if}]` puts a gate's recurrent and input blocks side by
    side, and :math:`b_f = b_{if} + b_{hf}`. On the left, ``weight_ih`` ``(G*H, H_in)`` and
    ``weight_hh`` ``(G*H, H)`` as PyTorch stores them, one row block per gate; on the right,
    the same numbers regrouped as one ``(H, H + H_in)`` matrix per gate (Olah's diagrams).

    Args:
        kind: ``"lstm"`` (gates i, f, g, o) or ``"gru"`` (r, z, n).
        ax: axes to draw on; a new figure if ``None``.

    Returns:
        The ``Axes``; one rectangle per block: ``G`` in each stacked matrix and ``2 G`` on
        the right.

    Examples::

        >>> ax = plot_gate_weights("gru")
        >>> len([p for p in ax.patches if p.get_label().startswith("block")])
        12
    """
    check_choice("kind", kind, ("lstm", "gru"))
    gates = ["i", "f", "g", "o"] if kind == "lstm" else ["r", "z", "n"]
    G = len(gates)
    ax = _axes(ax, (9.0, 0.9 * G + 2.2))
    w_in, w_h, row = 1.2, 1.8, 0.8  # widths of an H_in and an H column, height of H rows

    def block(x: float, y: float, w: float, text: str, gate: str) -> None:
        ax.add_patch(
            plt.Rectangle(
                (x, y), w, row, fc=_GATE_COLOURS[gate], ec="0.25", lw=1.1, label=f"block {text}"
            )
        )
        ax.text(x + w / 2, y + row / 2, text, ha="center", va="center", fontsize=10)

    top = G * row
    for k, gate in enumerate(gates):
        y = top - (k + 1) * row
        block(0.0, y, w_in, f"$W_{{i{gate}}}$", gate)
        block(w_in + 0.9, y, w_h, f"$W_{{h{gate}}}$", gate)
        # right: [W_hg, W_ig] as one matrix, acting on [h_{t-1}, x_t]
        xr = w_in + w_h + 3.2
        block(xr, y, w_h, f"$W_{{h{gate}}}$", gate)
        block(xr + w_h, y, w_in, f"$W_{{i{gate}}}$", gate)
        merged = f"$= W_{gate}$" if gate != "n" else "not merged"
        ax.text(xr + w_h + w_in + 0.2, y + row / 2, merged, va="center", fontsize=11)
    ax.text(
        w_in / 2, top + 0.25, f"weight_ih\n$({G}H, H_{{in}})$", ha="center", va="bottom", fontsize=9
    )
    ax.text(
        w_in + 0.9 + w_h / 2,
        top + 0.25,
        f"weight_hh\n$({G}H, H)$",
        ha="center",
        va="bottom",
        fontsize=9,
    )
    xr = w_in + w_h + 3.2
    ax.text(
        xr + (w_h + w_in) / 2,
        top + 0.25,
        "one $(H, H + H_{in})$ matrix per gate,\ntimes $[h_{t-1}, x_t]$",
        ha="center",
        va="bottom",
        fontsize=9,
    )
    _flow(ax, (w_in + w_h + 1.2, top / 2), (xr - 0.3, top / 2))
    ax.text(
        w_in + w_h + 2.05,
        top / 2 + 0.2,
        "regroup",
        ha="center",
        va="bottom",
        fontsize=9,
        color="0.35",
    )
    ax.text(
        (xr + w_h + w_in) / 2,
        -0.45,
        "bias of gate $f$: $b_f = b_{if} + b_{hf}$"
        if kind == "lstm"
        else "biases: $b_r = b_{ir} + b_{hr}$, $b_z = b_{iz} + b_{hz}$; "
        "$n$ cannot merge: $r_t$ multiplies $W_{hn} h_{t-1} + b_{hn}$ only",
        ha="center",
        va="top",
        fontsize=9,
    )
    ax.set_xlim(-0.3, xr + w_h + w_in + 1.3)
    ax.set_ylim(-1.1, top + 1.2)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"{kind.upper()}: PyTorch's stacked weights and the per-gate form")
    return ax
