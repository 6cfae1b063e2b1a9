r"""Connectionist temporal classification (CTC): chapter 8, bidirectional RNNs for speech.

A bidirectional RNN over an utterance gives, at every frame :math:`t`, a distribution
:math:`y_t` over the :math:`C` symbols (the labels plus a *blank*). The transcript
:math:`l` is much shorter than the :math:`T` frames and nobody says which frame holds which
label. CTC (Graves et al., 2006) sums over every alignment instead: a path :math:`\pi` of
:math:`T` symbols maps to a labelling by :math:`\mathcal{B}` (merge repeats, then drop blanks),
and

.. math::
    p(l \mid x) = \sum_{\pi \in \mathcal{B}^{-1}(l)} \prod_{t=1}^{T} y^t_{\pi_t},
    \qquad \mathcal{L} = -\log p(l \mid x).

The sum is computed by dynamic programming over the blank-extended labelling
:math:`l' = (b, l_1, b, l_2, \dots, l_S, b)` of length :math:`2S + 1`: the forward variables
:math:`\alpha_t(s)` (:func:`ctc_loss` in torch, :func:`ctc_forward_np` in NumPy) and the
backward variables :math:`\beta_t(s)` (:func:`ctc_backward_np`), whose product gives the
gradient (:func:`ctc_grad_np`). :func:`greedy_decode` (best path) and
:func:`prefix_beam_search` turn posteriors back into labellings; :func:`edit_distance` and
:func:`error_rate` score them (character or word error rate).

Conventions follow ``torch.nn.functional.ctc_loss``: ``log_probs`` is time-major
``(T, N, C)`` (or unbatched ``(T, C)``), the blank is index ``blank`` (0 by default),
``targets`` is padded ``(N, S)`` or all targets concatenated in one 1-D tensor.
Everything is computed in log space: products of many probabilities underflow.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnncourse._checks import (
    InputError,
    InputTypeError,
    check_choice,
    check_floating,
    check_shape,
    with_torch_words,
)

__all__ = [
    "ctc_loss",
    "CTCLoss",
    "CTCLossFunction",
    "ctc_loss_np",
    "ctc_forward_np",
    "ctc_backward_np",
    "ctc_grad_np",
    "greedy_decode",
    "prefix_beam_search",
    "edit_distance",
    "error_rate",
]

NEG_INF = float("-inf")


# ----------------------------------------------------------------------------- input checks


def _check_blank(blank: Any, C: int) -> None:
    if isinstance(blank, bool) or not isinstance(blank, int) or not 0 <= blank < C:
        raise InputError(
            with_torch_words(
                f"blank: expected an int in [0, C) = [0, {C}), got {blank!r}",
                "blank must be in label range",
            )
        )


def _as_lengths(name: str, value: Any, N: int, unbatched: bool) -> np.ndarray:
    """``input_lengths`` / ``target_lengths`` as an int64 array of shape ``(N,)``.

    A scalar (an int or a 0-d tensor) stands for ``(1,)`` when there is one item, as in torch.
    """
    if isinstance(value, Tensor):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise InputTypeError(
            with_torch_words(
                f"{name}: expected integers, got dtype {arr.dtype}", f"{name} must be integral"
            )
        )
    if unbatched or (arr.ndim == 0 and N == 1):
        arr = arr.reshape(-1)
    if arr.shape != (N,):
        want = "a scalar or (1,)" if unbatched else f"(N,) = ({N},)"
        raise InputError(
            with_torch_words(
                f"{name}: expected {want}, got shape {arr.shape}",
                f"{name} must be of size batch_size",
            )
        )
    if (arr < 0).any():
        raise InputError(
            with_torch_words(
                f"{name}: lengths must be >= 0, got {arr.tolist()}",
                f"Expected {name} to have value at least 0, but got value {int(arr.min())}",
            )
        )
    return arr.astype(np.int64)


def _targets_words(detail: str) -> str:
    return f"{detail} for argument #2 'targets' (while checking arguments for ctc_loss)"


def _prepare(
    log_probs: Any, targets: Any, input_lengths: Any, target_lengths: Any, blank: Any
) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, bool]:
    """Check the CTC inputs; return ``(log_probs (T, N, C), targets (N, S) int64 array,
    input_lengths (N,), target_lengths (N,), unbatched)``. Works for torch and NumPy.

    Each refusal has the type ``torch.nn.functional.ctc_loss`` raises (mostly
    ``RuntimeError``, here :class:`~rnncourse._checks.InputError`, also a ``ValueError``) and
    ends with its words.
    """
    if not isinstance(log_probs, Tensor | np.ndarray):
        raise TypeError(f"log_probs: expected a tensor (T, N, C), got {type(log_probs).__name__}")
    if not (
        log_probs.dtype.is_floating_point
        if isinstance(log_probs, Tensor)
        else np.issubdtype(log_probs.dtype, np.floating)
    ):
        raise InputTypeError(
            with_torch_words(
                f"log_probs: expected a floating-point tensor, got dtype {log_probs.dtype}",
                f"\"ctc_loss\" not implemented for '{log_probs.dtype}'",
            )
        )
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs = log_probs[:, None]  # (T, 1, C)
    check_shape(
        "log_probs",
        log_probs,
        ("T", "N", "C"),
        (None, None, None),
        error=InputError,
        torch_message=f"Expected 3-dimensional tensor, but got {log_probs.ndim}-dimensional "
        "tensor for argument #1 'log_probs'",
    )
    T, N, C = log_probs.shape
    _check_blank(blank, C)
    if not isinstance(targets, Tensor | np.ndarray):
        raise TypeError(f"targets: expected an integer tensor, got {type(targets).__name__}")
    tg = targets.detach().cpu().numpy() if isinstance(targets, Tensor) else np.asarray(targets)
    if tg.dtype == np.bool_ or not np.issubdtype(tg.dtype, np.integer):
        raise InputTypeError(f"targets: expected an integer tensor, got dtype {tg.dtype}")
    il = _as_lengths("input_lengths", input_lengths, N, unbatched)
    tl = _as_lengths("target_lengths", target_lengths, N, unbatched)
    if (il > T).any():
        raise InputError(
            with_torch_words(
                f"input_lengths: expected values <= T = {T}, got {il.tolist()}",
                f"Expected input_lengths to have value at most {T}, but got value {int(il.max())}",
            )
        )
    if unbatched:
        tg = tg.reshape(1, -1) if tg.ndim == 1 else tg
        if tg.ndim != 2 or tg.shape[0] != 1:
            raise InputError(f"targets: expected (S,) for unbatched log_probs, got {tg.shape}")
    if tg.ndim == 1:  # concatenated: split into rows, pad with blank
        if tg.shape[0] != tl.sum():
            raise InputError(
                with_torch_words(
                    f"targets: concatenated targets hold {tg.shape[0]} labels but "
                    f"target_lengths sum to {int(tl.sum())}",
                    _targets_words(
                        f"Expected tensor to have size {int(tl.sum())} at dimension 0, but got "
                        f"size {tg.shape[0]}"
                    ),
                )
            )
        padded = np.full((N, int(tl.max(initial=0))), blank, dtype=np.int64)
        ends = np.cumsum(tl)
        for n in range(N):
            padded[n, : tl[n]] = tg[ends[n] - tl[n] : ends[n]]
        tg = padded
    elif tg.ndim == 2:
        if tg.shape[0] != N:
            raise InputError(
                with_torch_words(
                    f"targets: expected (N, S) = ({N}, *), got {tg.shape}",
                    _targets_words(
                        f"Expected tensor to have size {N} at dimension 0, but got size "
                        f"{tg.shape[0]}"
                    ),
                )
            )
        if (tl > tg.shape[1]).any():
            raise InputError(
                with_torch_words(
                    f"target_lengths: expected values <= S = {tg.shape[1]} (the width of "
                    f"targets), got {tl.tolist()}",
                    _targets_words(
                        f"Expected tensor to have size at least {int(tl.max())} at dimension 1, "
                        f"but got size {tg.shape[1]}"
                    ),
                )
            )
        tg = tg.astype(np.int64)
    else:
        raise InputError(
            with_torch_words(
                f"targets: expected (N, S) or concatenated (sum S_n,), got {tg.shape}",
                _targets_words(f"Expected 1 to 2 dimensions, but got {tg.ndim}-dimensional tensor"),
            )
        )
    for n in range(N):
        row = tg[n, : tl[n]]
        if (row == blank).any():
            raise ValueError(f"targets: item {n} contains the blank index {blank}")
        if ((row < 0) | (row >= C)).any():
            raise ValueError(f"targets: item {n} has labels outside [0, C) = [0, {C})")
        tg[n, tl[n] :] = blank  # padding: any valid index, never read
    return log_probs, tg, il, tl, unbatched


def _extend(target: np.ndarray, blank: int) -> np.ndarray:
    """The blank-extended labelling l' = (b, l_1, b, ..., l_S, b), length 2S + 1 (last axis)."""
    ext = np.full((*target.shape[:-1], 2 * target.shape[-1] + 1), blank, dtype=np.int64)
    ext[..., 1::2] = target
    return ext


def _can_skip(ext: np.ndarray, blank: int) -> np.ndarray:
    """Where alpha_t(s) may come from alpha_{t-1}(s-2): l'_s is a label unlike l'_{s-2}."""
    skip = np.zeros(ext.shape, dtype=bool)
    skip[..., 2:] = (ext[..., 2:] != blank) & (ext[..., 2:] != ext[..., :-2])
    return skip


# ----------------------------------------------------------------------------- torch loss


class CTCLossFunction(torch.autograd.Function):
    r"""Per-item CTC negative log-likelihood as one autograd node: α forward, β backward.

    Forward runs the α recursion of :func:`ctc_loss` for the whole batch (one step per frame,
    log space) and keeps :math:`\log\alpha_t(s)` for every frame. Backward runs the β recursion
    of :func:`ctc_backward_np`, vectorised over the batch, and at each frame turns
    :math:`\alpha_t(s)\beta_t(s)` into the posterior :math:`\gamma_t(k)` of each symbol:

    .. math::
        \gamma_t(k) = \frac{1}{p(l \mid x)} \sum_{s \,:\, l'_s = k} \alpha_t(s)\, \beta_t(s),
        \qquad
        \frac{\partial \mathcal{L}}{\partial\, \text{log\_probs}[t, k]} = y^t_k - \gamma_t(k)

    where :math:`y^t_k = \exp(\text{log\_probs}[t, k])`. That is torch's gradient (Graves et al.
    2006, eq. 16): the gradient with respect to the *logits* of a ``log_softmax``, which
    ``log_softmax``'s own backward maps to the same result as the exact :math:`-\gamma_t(k)`
    (see :func:`ctc_grad_np`). Frames past an item's length, and items whose loss
    ``zero_infinity`` replaced, get zero gradient. One node instead of ``T`` graph steps: the
    graph of the loop over time was the whole cost of autograd here.

    Inputs: ``log_probs (T, N, C)``, ``ext (N, L)`` (the blank-extended targets :math:`l'`),
    ``skip (N, L)`` (may :math:`\alpha_t(s)` come from :math:`s - 2`), ``input_lengths (N,)``,
    ``target_lengths (N,)``, ``zero_infinity``. Output: ``(N,)`` losses.
    """

    @staticmethod
    def forward(
        ctx: Any,
        log_probs: Tensor,
        ext: Tensor,
        skip: Tensor,
        input_len: Tensor,
        target_len: Tensor,
        zero_infinity: bool,
    ) -> Tensor:
        T, N, _ = log_probs.shape
        L = ext.shape[1]
        # y^t_{l'_s} for every frame, item and lattice position, in log space
        emit = log_probs.gather(2, ext.unsqueeze(0).expand(T, N, L))  # (T, N, L)
        # alpha lives in a buffer with two -inf columns on the left, so that alpha_{t-1}(s-1)
        # and alpha_{t-1}(s-2) are views of alpha_{t-1}, not copies
        padded = emit.new_full((T, N, L + 2), NEG_INF)  # (T, N, L + 2)
        log_alpha = padded[:, :, 2:]  # (T, N, L), a view
        no_skip = emit.new_zeros(N, L).masked_fill(~skip, NEG_INF)  # log [skip], (N, L)
        # alpha_1(s) = y^1_{l'_s} for s in {1, 2} (0-based 0 and 1), 0 elsewhere
        log_alpha[0, :, :2] = emit[0, :, :2]
        for t in range(1, T):
            prev = padded[t - 1]  # (N, L + 2)
            # log alpha_t(s) = logsumexp(alpha_{t-1}(s), (s-1), [skip] (s-2)) + log y^t_{l'_s}
            stay_or_step = torch.logaddexp(prev[:, 2:], prev[:, 1:-1])  # (N, L)
            out = torch.logaddexp(stay_or_step, prev[:, :-2] + no_skip)
            torch.add(out, emit[t], out=log_alpha[t])
        # log p(l|x) = logsumexp(alpha_{T_n}(2S+1), alpha_{T_n}(2S)); 0-based 2S and 2S - 1
        last_frame = log_alpha[(input_len - 1).clamp(min=0), torch.arange(N)]  # (N, L)
        last = (2 * target_len).unsqueeze(1)  # (N, 1)
        final = last_frame.gather(1, last)[:, 0]  # (N,)
        before = last_frame.gather(1, (last - 1).clamp(min=0))[:, 0]
        before = torch.where(target_len > 0, before, NEG_INF)
        log_likelihood = torch.logaddexp(final, before)  # (N,)
        # zero frames: p = 1 for the empty target, 0 otherwise
        empty = emit.new_zeros(N).masked_fill(target_len > 0, NEG_INF)
        log_likelihood = torch.where(input_len > 0, log_likelihood, empty)
        nll = -log_likelihood  # (N,)
        dropped = torch.isinf(nll) & zero_infinity  # (N,) losses replaced by 0
        ctx.save_for_backward(log_probs, emit, log_alpha, ext, skip, input_len, target_len, nll)
        ctx.dropped = dropped
        return torch.where(dropped, torch.zeros_like(nll), nll)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        log_probs, emit, log_alpha, ext, skip, input_len, target_len, nll = ctx.saved_tensors
        T, N, C = log_probs.shape
        L = ext.shape[1]
        positions = torch.arange(L, device=ext.device)
        # beta_{T_n}(s) = 1 for the final blank and the last label (s = 2S, 2S - 1 0-based)
        at_end = (positions == 2 * target_len[:, None]) | (
            (positions == 2 * target_len[:, None] - 1) & (target_len[:, None] > 0)
        )  # (N, L)
        start = emit.new_zeros(N, L).masked_fill(~at_end, NEG_INF)  # (N, L)
        # may s jump to s + 2? log [skip_{s+2}]
        no_skip = emit.new_zeros(N, L).masked_fill(~skip, NEG_INF)[:, 2:]  # (N, L - 2)
        # beta_{t+1}(s) y^{t+1}_{l'_s} in a buffer with two -inf columns on the right
        buf = emit.new_full((N, L + 2), NEG_INF)  # (N, L + 2)
        log_beta = emit.new_full((T, N, L), NEG_INF)  # (T, N, L)
        last = input_len - 1  # (N,), each item's last frame
        starts_at = set(last.tolist())
        for t in range(T - 1, -1, -1):
            if t < T - 1:
                torch.add(log_beta[t + 1], emit[t + 1], out=buf[:, :L])
                # log beta_t(s) = logsumexp over s' in {s, s+1, [skip] s+2} of beta_{t+1} y^{t+1}
                stay_or_step = torch.logaddexp(buf[:, :L], buf[:, 1 : L + 1])  # (N, L)
                skip_two = buf[:, 2:].clone()  # (N, L)
                skip_two[:, : L - 2] += no_skip
                torch.logaddexp(stay_or_step, skip_two, out=log_beta[t])
            if t in starts_at:  # items whose beta starts at this, their last, frame
                log_beta[t] = torch.where((last == t)[:, None], start, log_beta[t])
        # gamma_t(s) = alpha_t(s) beta_t(s) / p(l|x), all frames at once
        gamma_s = (log_alpha + log_beta + nll[None, :, None]).exp()  # (T, N, L)
        gamma = log_probs.new_zeros(T, N, C).scatter_add_(
            2, ext.unsqueeze(0).expand(T, N, L), gamma_s
        )  # (T, N, C)
        grad = log_probs.exp() - gamma  # (T, N, C)
        # no alignment (p = 0, loss inf): every gamma is 0/0, NaN for every symbol, as torch's
        grad = grad.masked_fill(torch.isinf(nll)[None, :, None], float("nan"))
        # zero past each item's length and for items zero_infinity replaced
        keep = (torch.arange(T, device=grad.device)[:, None] < input_len) & ~ctx.dropped  # (T, N)
        scale = torch.where(ctx.dropped, torch.zeros_like(grad_out), grad_out)  # (N,)
        grad = torch.where(keep[..., None], grad * scale[:, None], 0.0)
        return grad, None, None, None, None, None


def ctc_loss(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Tensor | Sequence[int] | int,
    target_lengths: Tensor | Sequence[int] | int,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    r"""The CTC loss, written out in torch ops: what ``torch.nn.functional.ctc_loss`` computes.

    .. math::
        \begin{aligned}
        \alpha_1(s) &= y^1_{l'_s} \ \text{for}\ s \in \{1, 2\}, \quad 0 \ \text{otherwise} \\
        \alpha_t(s) &= \bigl(\alpha_{t-1}(s) + \alpha_{t-1}(s-1)
            + [l'_s \ne b \wedge l'_s \ne l'_{s-2}]\, \alpha_{t-1}(s-2)\bigr)\, y^t_{l'_s} \\
        \mathcal{L} &= -\log\bigl(\alpha_T(2S+1) + \alpha_T(2S)\bigr)
        \end{aligned}

    where :math:`y^t_k = \exp(\text{log\_probs}[t, k])`, :math:`l'` is the target with a blank
    :math:`b` before, between and after its :math:`S` labels (positions :math:`1..2S+1`), and
    :math:`T`, :math:`S` are the item's input and target lengths. The recursion runs in log
    space (products become sums, sums become ``logsumexp``), one loop over time for the whole
    batch, inside :class:`CTCLossFunction`, whose backward runs the β recursion and returns
    torch's gradient.

    Args:
        log_probs: ``(T, N, C)`` or unbatched ``(T, C)``, log-probabilities over the ``C``
            symbols at each frame (normally ``log_softmax`` outputs).
        targets: ``(N, S)`` padded, or 1-D with every target concatenated
            (``sum(target_lengths)`` labels); for unbatched input ``(S,)``. Integer labels in
            ``[0, C)``, never ``blank``.
        input_lengths: ``(N,)`` frames used per item, each ``<= T`` (a 0-d tensor or an int
            when ``N = 1``).
        target_lengths: ``(N,)`` labels per item, each ``<= S`` (0-d or an int when ``N = 1``).
        blank: the blank's index, in ``[0, C)``.
        reduction: ``"none"`` (``(N,)`` losses), ``"mean"`` (each loss divided by its target
            length, then the mean over the batch) or ``"sum"``.
        zero_infinity: give 0 (and zero gradient) instead of ``inf`` where no alignment exists
            (an item needs at least ``S`` + the number of repeated neighbours frames).

    Returns:
        The loss: a scalar, or ``(N,)`` (``()`` unbatched) for ``reduction="none"``, on the
        device and with the dtype of ``log_probs``.

    Note:
        Values and gradients equal torch's, including for a ``log_probs`` that is a leaf:
        the gradient is :math:`y^t_k - \gamma_t(k)`, the gradient with respect to the logits
        of a ``log_softmax`` (:class:`CTCLossFunction`); :func:`ctc_grad_np` gives the exact
        derivative :math:`-\gamma_t(k)`. The two agree after ``log_softmax``. Bad input raises
        the exception type torch raises (``RuntimeError``, as
        :class:`~rnncourse._checks.InputError`, also a ``ValueError``), with a clearer message.

    Example::

        >>> log_probs = torch.tensor([[0.5, 0.5], [0.5, 0.5]]).log()  # T = 2, C = 2
        >>> # three paths give "1": (1, 1), (1, b), (b, 1), each of probability 1/4
        >>> ctc_loss(log_probs, torch.tensor([1]), 2, 1, reduction="sum")
        tensor(0.2877)
        >>> -math.log(3 / 4)  # doctest: +ELLIPSIS
        0.2876...
    """
    if not isinstance(log_probs, Tensor):
        raise TypeError(f"log_probs: expected a torch.Tensor, got {type(log_probs).__name__}")
    check_choice("reduction", reduction, ("none", "mean", "sum"))
    if log_probs.numel() == 0:
        raise InputError(
            with_torch_words(
                f"log_probs: expected at least one frame, item and symbol, got shape "
                f"{tuple(log_probs.shape)}",
                "log_probs tensor must not be empty",
            )
        )
    lp, tg, il, tl, unbatched = _prepare(log_probs, targets, input_lengths, target_lengths, blank)
    device = lp.device
    ext_np = _extend(tg, blank)  # (N, L), L = 2S + 1
    ext = torch.as_tensor(ext_np, device=device)  # (N, L)
    skip = torch.as_tensor(_can_skip(ext_np, blank), device=device)  # (N, L)
    input_len = torch.as_tensor(il, device=device)  # (N,)
    target_len = torch.as_tensor(tl, device=device)  # (N,)
    loss = CTCLossFunction.apply(lp, ext, skip, input_len, target_len, zero_infinity)  # (N,)
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return (loss / target_len.clamp(min=1).to(loss.dtype)).mean()
    return loss[0] if unbatched else loss


class CTCLoss(torch.nn.Module):
    """:func:`ctc_loss` as a module, as ``torch.nn.CTCLoss``: ``CTCLoss(blank, reduction,
    zero_infinity)(log_probs, targets, input_lengths, target_lengths)``.

    Example::

        >>> criterion = CTCLoss(reduction="sum")
        >>> criterion(torch.full((2, 2), 0.5).log(), torch.tensor([1]), 2, 1)
        tensor(0.2877)
    """

    def __init__(
        self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False
    ) -> None:
        super().__init__()
        check_choice("reduction", reduction, ("none", "mean", "sum"))
        self.blank = blank
        self.reduction = reduction
        self.zero_infinity = zero_infinity

    def forward(
        self,
        log_probs: Tensor,
        targets: Tensor,
        input_lengths: Tensor | Sequence[int] | int,
        target_lengths: Tensor | Sequence[int] | int,
    ) -> Tensor:
        return ctc_loss(
            log_probs,
            targets,
            input_lengths,
            target_lengths,
            self.blank,
            self.reduction,
            self.zero_infinity,
        )


# ----------------------------------------------------------------------------- NumPy


def _lse(*terms: np.ndarray) -> np.ndarray:
    """Elementwise log(sum(exp(terms))), exact at -inf (no warnings, no NaN)."""
    out = terms[0]
    for term in terms[1:]:
        out = np.logaddexp(out, term)
    return out


def _single(log_probs: np.ndarray, target: np.ndarray, blank: int) -> tuple[np.ndarray, ...]:
    """Checked ``(log_probs (T, C), target (S,), l' (L,), skip (L,))`` for one utterance."""
    log_probs = np.asarray(log_probs)
    target = np.asarray(target)
    T = log_probs.shape[0] if log_probs.ndim == 2 else 0
    try:
        lp, tg, _, _, _ = _prepare(log_probs, target, T, target.size, blank)
    except (TypeError, ValueError) as err:  # speak of the one ``target`` this function takes
        message = str(err)
        if message.startswith("targets: item 0"):
            message = "target:" + message.removeprefix("targets: item 0")
        raise type(err)(message.replace("targets:", "target:", 1)) from None
    ext = _extend(tg[0], blank)
    return lp[:, 0], tg[0], ext, _can_skip(ext, blank)


def ctc_forward_np(log_probs: np.ndarray, target: np.ndarray, blank: int = 0) -> np.ndarray:
    r"""The CTC forward variables :math:`\log \alpha_t(s)` of one utterance, in NumPy.

    .. math::
        \alpha_t(s) = \bigl(\alpha_{t-1}(s) + \alpha_{t-1}(s-1)
            + [l'_s \ne b \wedge l'_s \ne l'_{s-2}]\, \alpha_{t-1}(s-2)\bigr)\, y^t_{l'_s}

    where :math:`\alpha_t(s)` is the total probability of the path prefixes
    :math:`\pi_1..\pi_t` that end at position :math:`s` of :math:`l'` (including frame
    :math:`t`'s emission) and :math:`\alpha_1(s) = y^1_{l'_s}` for the first two positions.

    Args:
        log_probs: ``(T, C)`` log-probabilities of one utterance (all ``T`` frames are used).
        target: ``(S,)`` integer labels.
        blank: the blank's index.

    Returns:
        ``(T, 2S + 1)`` array of :math:`\log\alpha_t(s)`; ``-inf`` where unreachable.

    Example::

        >>> lp = np.log(np.full((2, 2), 0.5))
        >>> np.exp(ctc_forward_np(lp, np.array([1])))
        array([[0.5 , 0.5 , 0.  ],
               [0.25, 0.5 , 0.25]])
    """
    lp, _, ext, skip = _single(log_probs, target, blank)
    T, L = lp.shape[0], ext.size
    log_alpha = np.full((T, L), NEG_INF)  # (T, L)
    if T == 0:
        return log_alpha
    # alpha_1(s) = y^1_{l'_s} for the leading blank and the first label
    log_alpha[0, : min(2, L)] = lp[0, ext[: min(2, L)]]
    for t in range(1, T):
        prev = log_alpha[t - 1]  # (L,)
        from_left = np.concatenate([[NEG_INF], prev[:-1]])  # alpha_{t-1}(s-1)
        from_skip = np.where(skip, np.concatenate([[NEG_INF, NEG_INF], prev[:-2]])[:L], NEG_INF)
        # log alpha_t(s) = logsumexp(alpha_{t-1}(s), alpha_{t-1}(s-1), [skip] alpha_{t-1}(s-2))
        #                  + log y^t_{l'_s}
        log_alpha[t] = _lse(prev, from_left, from_skip) + lp[t, ext]
    return log_alpha


def ctc_backward_np(log_probs: np.ndarray, target: np.ndarray, blank: int = 0) -> np.ndarray:
    r"""The CTC backward variables :math:`\log \beta_t(s)` of one utterance, in NumPy.

    .. math::
        \beta_t(s) = \beta_{t+1}(s)\, y^{t+1}_{l'_s} + \beta_{t+1}(s+1)\, y^{t+1}_{l'_{s+1}}
            + [l'_{s+2} \ne b \wedge l'_{s+2} \ne l'_s]\, \beta_{t+1}(s+2)\, y^{t+1}_{l'_{s+2}}

    where :math:`\beta_t(s)` is the probability of the path suffixes
    :math:`\pi_{t+1}..\pi_T` that complete a path at position :math:`s` at frame :math:`t`
    (frame :math:`t`'s own emission *not* included, so :math:`\alpha_t(s)\beta_t(s)` is the
    probability of all paths through :math:`s` at :math:`t`), and :math:`\beta_T(s) = 1` for
    the final blank and the last label.

    Args:
        log_probs: ``(T, C)`` log-probabilities of one utterance.
        target: ``(S,)`` integer labels.
        blank: the blank's index.

    Returns:
        ``(T, 2S + 1)`` array of :math:`\log\beta_t(s)`.

    Example::

        >>> lp = np.log(np.full((2, 2), 0.5))
        >>> np.exp(ctc_backward_np(lp, np.array([1])))
        array([[0.5, 1. , 0.5],
               [0. , 1. , 1. ]])
    """
    lp, _, ext, skip = _single(log_probs, target, blank)
    T, L = lp.shape[0], ext.size
    log_beta = np.full((T, L), NEG_INF)  # (T, L)
    if T == 0:
        return log_beta
    # beta_T(s) = 1 for the final blank and the last label
    log_beta[T - 1, max(L - 2, 0) :] = 0.0
    skip_from = np.concatenate([skip[2:], [False, False]])[:L]  # may s jump to s + 2?
    for t in range(T - 2, -1, -1):
        nxt = log_beta[t + 1] + lp[t + 1, ext]  # beta_{t+1}(s) y^{t+1}_{l'_s}, (L,)
        from_right = np.concatenate([nxt[1:], [NEG_INF]])  # s + 1
        from_skip = np.where(skip_from, np.concatenate([nxt[2:], [NEG_INF, NEG_INF]])[:L], NEG_INF)
        # log beta_t(s) = logsumexp over s' in {s, s+1, [skip] s+2} of beta_{t+1}(s') y^{t+1}
        log_beta[t] = _lse(nxt, from_right, from_skip)
    return log_beta


def ctc_loss_np(
    log_probs: np.ndarray,
    targets: np.ndarray,
    input_lengths: Any,
    target_lengths: Any,
    blank: int = 0,
) -> np.ndarray:
    r"""Per-item CTC losses in NumPy: :math:`-\log p(l \mid x)` from the forward variables.

    .. math::
        \mathcal{L} = -\log\bigl(\alpha_T(2S+1) + \alpha_T(2S)\bigr)

    where :math:`\alpha` comes from :func:`ctc_forward_np` over the item's first
    :math:`T` = ``input_lengths[n]`` frames and :math:`S` = ``target_lengths[n]`` labels.

    Args:
        log_probs: ``(T, N, C)`` (or ``(T, C)``) log-probabilities.
        targets: ``(N, S)`` padded or 1-D concatenated integer labels.
        input_lengths: ``(N,)`` frames per item.
        target_lengths: ``(N,)`` labels per item.
        blank: the blank's index.

    Returns:
        ``(N,)`` float array of losses (``inf`` where no alignment exists), the same as
        ``ctc_loss(..., reduction="none")``.

    Example::

        >>> lp = np.log(np.full((2, 1, 2), 0.5))
        >>> ctc_loss_np(lp, np.array([[1]]), [2], [1])  # -log(3/4)
        array([0.28768207])
    """
    lp, tg, il, tl, _ = _prepare(
        np.asarray(log_probs), targets, input_lengths, target_lengths, blank
    )
    losses = np.empty(lp.shape[1])  # (N,)
    for n in range(lp.shape[1]):
        if il[n] == 0:
            losses[n] = 0.0 if tl[n] == 0 else math.inf
            continue
        log_alpha = ctc_forward_np(lp[: il[n], n], tg[n, : tl[n]], blank)  # (T_n, 2S_n + 1)
        # -log p(l|x) = -logsumexp(alpha_T(2S+1), alpha_T(2S))
        losses[n] = -_lse(*log_alpha[-1, -2:]) if tl[n] > 0 else -log_alpha[-1, 0]
    return losses


def ctc_grad_np(
    log_probs: np.ndarray,
    targets: np.ndarray,
    input_lengths: Any,
    target_lengths: Any,
    blank: int = 0,
) -> np.ndarray:
    r"""Gradient of each item's CTC loss with respect to its log-probabilities, in NumPy.

    .. math::
        \frac{\partial \mathcal{L}}{\partial \log y^t_k}
            = -\gamma_t(k)
            = -\frac{1}{p(l \mid x)} \sum_{s \,:\, l'_s = k} \alpha_t(s)\, \beta_t(s)

    where :math:`\gamma_t(k)` is the posterior probability that frame :math:`t` emits
    :math:`k`. Each path's probability is :math:`\exp \sum_t \log y^t_{\pi_t}`, so its
    derivative with respect to :math:`\log y^t_k` is itself times :math:`[\pi_t = k]`; the
    paths through :math:`(t, s)` sum to :math:`\alpha_t(s)\beta_t(s)`
    (:func:`ctc_forward_np`, :func:`ctc_backward_np`). No normalisation of
    ``log_probs`` is assumed: this is the exact derivative for any input. (If the input is
    ``log_softmax(u)``, the chain rule gives :math:`y^t_k - \gamma_t(k)` for the logits
    :math:`u`, the formula in Graves et al. and in torch's backward.)

    Args:
        log_probs: ``(T, N, C)`` (or ``(T, C)``) log-probabilities.
        targets, input_lengths, target_lengths, blank: as in :func:`ctc_loss_np`.

    Returns:
        ``(T, N, C)`` (or ``(T, C)``) gradient of the per-item loss (``reduction="none"``,
        summed over items); zero for frames past ``input_lengths`` and for impossible items.

    Example::

        >>> lp = np.log(np.full((2, 2), 0.5))
        >>> ctc_grad_np(lp, np.array([1]), 2, 1) * 3  # posteriors: b 1/3, label 2/3
        array([[-1., -2.],
               [-1., -2.]])
    """
    lp, tg, il, tl, unbatched = _prepare(
        np.asarray(log_probs), targets, input_lengths, target_lengths, blank
    )
    grad = np.zeros(lp.shape)  # (T, N, C)
    for n in range(lp.shape[1]):
        if il[n] == 0:
            continue
        frames, target = lp[: il[n], n], tg[n, : tl[n]]
        log_alpha = ctc_forward_np(frames, target, blank)  # (T_n, L)
        log_beta = ctc_backward_np(frames, target, blank)  # (T_n, L)
        log_p = _lse(*log_alpha[-1, -2:]) if tl[n] > 0 else log_alpha[-1, 0]
        if not np.isfinite(log_p):
            continue
        ext = _extend(target, blank)
        for k in np.unique(ext):
            at_k = ext == k  # positions s with l'_s = k
            # dL/dlog y^t_k = -exp(logsumexp_{s: l'_s = k}(alpha_t(s) + beta_t(s)) - log p)
            log_sum = np.logaddexp.reduce((log_alpha + log_beta)[:, at_k], axis=1)  # (T_n,)
            grad[: il[n], n, k] = -np.exp(log_sum - log_p)
    return grad[:, 0] if unbatched else grad


# ----------------------------------------------------------------------------- decoding


def _collapse(path: Sequence[int], blank: int) -> list[int]:
    """B(path): merge repeated symbols, then drop blanks."""
    out: list[int] = []
    prev = None
    for k in path:
        if k != prev and k != blank:
            out.append(int(k))
        prev = k
    return out


def greedy_decode(
    log_probs: Tensor | np.ndarray,
    input_lengths: Tensor | Sequence[int] | None = None,
    blank: int = 0,
) -> list[list[int]] | list[int]:
    r"""Best-path decoding: the most probable symbol at each frame, then :math:`\mathcal{B}`.

    .. math::
        \hat l = \mathcal{B}(\hat\pi), \qquad \hat\pi_t = \arg\max_k y^t_k

    where :math:`\mathcal{B}` merges repeats and drops blanks. The most probable *path* need
    not give the most probable *labelling* (many paths share one); see
    :func:`prefix_beam_search`.

    Args:
        log_probs: ``(T, N, C)`` or ``(T, C)`` (log-)probabilities, torch or NumPy.
        input_lengths: ``(N,)`` frames per item; ``None`` uses all ``T``.
        blank: the blank's index.

    Returns:
        One list of labels per item (a list of lists); for ``(T, C)`` input, one list.

    Example::

        >>> y = torch.tensor([[0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.9, 0.05, 0.05],
        ...                   [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]]).log()  # T = 5, C = 3
        >>> greedy_decode(y)  # path 1 1 b 1 2
        [1, 1, 2]
    """
    if not isinstance(log_probs, Tensor | np.ndarray):
        raise TypeError(f"log_probs: expected a tensor (T, N, C), got {type(log_probs).__name__}")
    lp = torch.as_tensor(log_probs)
    unbatched = lp.ndim == 2
    if unbatched:
        lp = lp.unsqueeze(1)  # (T, 1, C)
    check_shape("log_probs", lp, ("T", "N", "C"), (None, None, None))
    T, N, C = lp.shape
    _check_blank(blank, C)
    il = (
        np.full(N, T)
        if input_lengths is None
        else _as_lengths("input_lengths", input_lengths, N, unbatched)
    )
    if (il > T).any():
        raise ValueError(f"input_lengths: expected values <= T = {T}, got {il.tolist()}")
    best = lp.argmax(dim=2).cpu().numpy()  # (T, N)
    out = [_collapse(best[: il[n], n].tolist(), blank) for n in range(N)]
    return out[0] if unbatched else out


def _add(
    beams: dict[tuple[int, ...], list[float]], prefix: tuple, which: int, value: float
) -> None:
    """Add probability ``exp(value)`` to ``beams[prefix][which]`` (0: ends in blank, 1: not)."""
    entry = beams.setdefault(prefix, [NEG_INF, NEG_INF])
    entry[which] = np.logaddexp(entry[which], value)


def prefix_beam_search(
    log_probs: Tensor | np.ndarray, beam_width: int = 8, blank: int = 0
) -> tuple[list[int], float]:
    r"""CTC prefix beam search for one utterance: the most probable labelling it can find.

    .. math::
        p(\ell \mid x_{1:t}) = p_b^t(\ell) + p_{nb}^t(\ell), \qquad
        p_{nb}^t(\ell k) \mathrel{+}= y^t_k \cdot
            \begin{cases} p_b^{t-1}(\ell) & k = \ell_{\text{last}} \\
            p_b^{t-1}(\ell) + p_{nb}^{t-1}(\ell) & \text{otherwise} \end{cases}

    where :math:`p_b^t(\ell)` and :math:`p_{nb}^t(\ell)` are the probabilities of all paths
    over frames :math:`1..t` that collapse to the prefix :math:`\ell` and end in a blank or in
    a label; a blank or a repeat of the last label keeps the prefix
    (:math:`p_b^t(\ell) \mathrel{+}= (p_b^{t-1} + p_{nb}^{t-1})\, y^t_b`,
    :math:`p_{nb}^t(\ell) \mathrel{+}= p_{nb}^{t-1}\, y^t_{\ell_{\text{last}}}`). After each
    frame only the ``beam_width`` most probable prefixes are kept. Unlike
    :func:`greedy_decode` it sums over the paths of a labelling; with a beam as wide as the
    number of prefixes it is exact.

    Args:
        log_probs: ``(T, C)`` log-probabilities of one utterance, torch or NumPy.
        beam_width: prefixes kept after each frame.
        blank: the blank's index.

    Returns:
        ``(labels, log_prob)``: the best labelling found and :math:`\log p(\text{labels} \mid x)`.

    Example::

        >>> y = np.log([[0.6, 0.4], [0.6, 0.4]])  # best path b b gives "", p = 0.36
        >>> labels, log_p = prefix_beam_search(y)  # but "1" has 0.16 + 0.24 + 0.24
        >>> labels, round(math.exp(log_p), 4)
        ([1], 0.64)
    """
    if isinstance(log_probs, Tensor):
        log_probs = log_probs.detach().cpu().numpy()
    if not isinstance(log_probs, np.ndarray):
        raise TypeError(f"log_probs: expected a tensor (T, C), got {type(log_probs).__name__}")
    check_floating("log_probs", log_probs)
    check_shape("log_probs", log_probs, ("T", "C"), (None, None))
    if isinstance(beam_width, bool) or not isinstance(beam_width, int) or beam_width <= 0:
        raise ValueError(f"beam_width: expected a positive int, got {beam_width!r}")
    T, C = log_probs.shape
    _check_blank(blank, C)
    lp = log_probs.astype(np.float64)
    # prefix -> (log p_b, log p_nb); before any frame the empty prefix "ends in a blank"
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, NEG_INF)}
    for t in range(T):
        nxt: dict[tuple[int, ...], list[float]] = {}  # prefix -> [log p_b, log p_nb]
        for prefix, (p_b, p_nb) in beams.items():
            p_total = np.logaddexp(p_b, p_nb)
            # a blank keeps the prefix: p_b^t(l) += (p_b + p_nb) y^t_b
            _add(nxt, prefix, 0, p_total + lp[t, blank])
            for k in range(C):
                if k == blank:
                    continue
                if prefix and k == prefix[-1]:
                    # a repeat without a blank merges: p_nb^t(l) += p_nb y^t_k
                    _add(nxt, prefix, 1, p_nb + lp[t, k])
                    # after a blank it is a new label: p_nb^t(l k) += p_b y^t_k
                    _add(nxt, (*prefix, k), 1, p_b + lp[t, k])
                else:
                    # p_nb^t(l k) += (p_b + p_nb) y^t_k
                    _add(nxt, (*prefix, k), 1, p_total + lp[t, k])
        ranked = sorted(nxt.items(), key=lambda kv: np.logaddexp(kv[1][0], kv[1][1]), reverse=True)
        beams = {prefix: (pb, pnb) for prefix, (pb, pnb) in ranked[:beam_width]}
    best, (p_b, p_nb) = max(beams.items(), key=lambda kv: np.logaddexp(*kv[1]))
    return list(best), float(np.logaddexp(p_b, p_nb))


# ----------------------------------------------------------------------------- scoring


def edit_distance(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    r"""Levenshtein distance: the fewest insertions, deletions and substitutions from a to b.

    .. math::
        D_{i,j} = \min\bigl(D_{i-1,j} + 1,\ D_{i,j-1} + 1,\ D_{i-1,j-1} + [a_i \ne b_j]\bigr)

    where :math:`D_{i,0} = i`, :math:`D_{0,j} = j` and the distance is :math:`D_{|a|,|b|}`.

    Args:
        a, b: sequences of tokens: strings (characters) or lists (of words, labels, ...).

    Example::

        >>> edit_distance("kitten", "sitting")
        3
        >>> edit_distance("the cat sat".split(), "the cat sat down".split())
        1
    """
    prev = list(range(len(b) + 1))  # D_{i-1, :}
    for i, x in enumerate(a, start=1):
        row = [i]
        for j, y in enumerate(b, start=1):
            # D_ij = min(deletion, insertion, substitution or match)
            row.append(min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = row
    return prev[-1]


def error_rate(
    hypotheses: Sequence[Sequence[Hashable]], references: Sequence[Sequence[Hashable]]
) -> float:
    r"""Character / word / label error rate: total edit distance over total reference length.

    .. math::
        \mathrm{ER} = \frac{\sum_n D(\hat l_n, l_n)}{\sum_n |l_n|}

    where :math:`D` is :func:`edit_distance`. Pass strings for the character error rate and
    ``s.split()`` lists for the word error rate. It can exceed 1 (many insertions).

    Args:
        hypotheses: the decoded sequences.
        references: the true sequences, as many as ``hypotheses``.

    Example::

        >>> error_rate(["kitten", "abc"], ["sitting", "abc"])  # 3 edits / 10 characters
        0.3
    """
    if isinstance(hypotheses, str) or isinstance(references, str):
        raise TypeError("hypotheses, references: expected sequences of sequences, got a str")
    if len(hypotheses) != len(references):
        raise ValueError(
            f"hypotheses: expected as many as references ({len(references)}), got {len(hypotheses)}"
        )
    total = sum(len(r) for r in references)
    if total == 0:
        raise ValueError("references: total length is 0, the error rate is undefined")
    return sum(edit_distance(h, r) for h, r in zip(hypotheses, references, strict=True)) / total
