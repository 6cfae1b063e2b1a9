"""Figures for the book: training curves, gradient norms, hidden states, RNN diagrams.

* :func:`plot_history` — loss per epoch from :func:`rnncourse.training.fit` (chapters 4-10);
* :func:`plot_grad_norms` — gradient norm per step or per distance (chapter 5);
* :func:`plot_hidden_heatmap` — hidden states ``(T, H)`` against the tokens that produced
  them (chapters 2, 7, 10);
* :func:`plot_unrolled` — the unrolled computational graph with shared weights (chapter 3);
* :func:`plot_topology` — one-to-one, one-to-many, many-to-one, many-to-many and
  encoder-decoder diagrams (chapter 6).

Every function draws on ``ax`` if given (else on a new figure) and returns the ``Axes``;
none calls ``plt.show()``, so they work under the non-interactive Agg backend used when the
book is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

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
]

# colours of the diagrams: inputs, hidden cells, outputs, encoder cells
_C_IN, _C_HID, _C_OUT, _C_ENC = "#dbe9f6", "#fde2b8", "#d5efd5", "#e6dcf2"

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
) -> None:
    """``n`` cells at x = start+1 .. start+n, recurrent arrows between them, and inputs
    below / outputs above the cells whose (1-based) positions are listed."""
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


def plot_topology(kind: str, ax: Axes | None = None) -> Axes:
    """Diagram of one input/output topology of a recurrent network (chapter 6).

    * ``"one-to-one"``: one input, one output, no recurrence (a feed-forward net);
    * ``"one-to-many"``: one input, a sequence out (image captioning, music generation);
    * ``"many-to-one"``: a sequence in, one output at the end (sentiment classification);
    * ``"many-to-many"``: one output per input, aligned in time (tagging, next-step
      forecasting);
    * ``"encoder-decoder"``: a sequence in, a sequence of another length out, through the
      encoder's final state (translation; chapter 9).

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
        _chain(ax, 4, inputs=[1], outputs=[1, 2, 3, 4])
        width = 4
    elif kind == "many-to-one":
        _chain(ax, 4, inputs=[1, 2, 3, 4], outputs=[4])
        width = 4
    elif kind == "many-to-many":
        _chain(ax, 4, inputs=[1, 2, 3, 4], outputs=[1, 2, 3, 4])
        width = 4
    else:  # encoder-decoder: 3 steps in, 4 steps out
        _chain(ax, 3, inputs=[1, 2, 3], outputs=[], color=_C_ENC)
        _chain(ax, 4, inputs=[], outputs=[1, 2, 3, 4], start=3)
        _arrow(ax, (3.3, 0), (3.7, 0))  # the encoder's last state starts the decoder
        ax.text(2, 0.55, "encoder", ha="center", fontsize=9, color="0.3")
        ax.text(5.5, -0.6, "decoder", ha="center", fontsize=9, color="0.3")
        ax.text(3.5, 0.22, "$c$", ha="center", fontsize=10, color="0.3")
        width = 7
    _finish(ax, 0.3, width + 0.7, kind)
    return ax
