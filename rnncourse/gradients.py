r"""Vanishing and exploding gradients, measured, and gradient clipping (chapter 5).

Backpropagation through time multiplies one Jacobian per step. For the tanh RNN
:math:`h_t = \tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})`,

.. math::
    \frac{\partial h_t}{\partial h_k} = \prod_{j=k+1}^{t} \operatorname{diag}(1 - h_j^2)\, W_{hh},
    \qquad
    \frac{\partial L}{\partial h_k} = \frac{\partial L}{\partial h_t}
        \frac{\partial h_t}{\partial h_k}

so the size of the gradient that reaches step :math:`k` behaves roughly like a power
:math:`t - k` of :math:`\lVert W_{hh} \rVert` (times the tanh derivatives, which are at most 1).
This module measures that product (:func:`jacobian_product`, :func:`jacobian_norms`), the
per-step gradient norms of a real model (:func:`hidden_grad_norms`, and
:func:`hidden_grad_norms_np` for the NumPy BPTT of chapter 4), sets the spectral radius of
:math:`W_{hh}` (:func:`spectral_radius`, :func:`scale_to_spectral_radius`), and clips gradients
(:func:`clip_grad_norm_`, :func:`clip_grad_value_` and their NumPy versions), written out so that
they give exactly what ``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_`` give.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal, TypeVar

import numpy as np
import torch
from torch import Tensor, nn

from rnncourse import bptt
from rnncourse._checks import check_floating, check_shape
from rnncourse.rnn import rnn_cell

__all__ = [
    "jacobian_product",
    "jacobian_norms",
    "hidden_grad_norms",
    "hidden_grad_norms_np",
    "spectral_radius",
    "scale_to_spectral_radius",
    "clip_grad_norm_",
    "clip_grad_value_",
    "clip_grad_norm_np",
    "clip_grad_value_np",
]

Array = TypeVar("Array", Tensor, np.ndarray)


# ---------------------------------------------------------------------------------------------
# the Jacobian product
# ---------------------------------------------------------------------------------------------


def _check_states(h: Tensor | np.ndarray, weight_hh: Tensor | np.ndarray) -> tuple[int, int]:
    check_shape("h", h, ("T", "H"), (None, None))
    T, H = h.shape
    check_shape("weight_hh", weight_hh, ("H", "H"), (H, H))
    if isinstance(h, Tensor) != isinstance(weight_hh, Tensor):
        raise TypeError("weight_hh: expected the same kind of array as h (both torch or NumPy)")
    return T, H


def _eye(like: Array, n: int) -> Array:
    if isinstance(like, Tensor):
        return torch.eye(n, dtype=like.dtype, device=like.device)
    return np.eye(n, dtype=like.dtype)


def _step_jacobian(h_j: Array, weight_hh: Array) -> Array:
    # ∂h_j/∂h_{j-1} = diag(1 - h_j²) W_hh; scaling the rows is the same as the diag product
    return (1 - h_j**2)[:, None] * weight_hh  # (H, H)


def jacobian_product(h: Array, weight_hh: Array, t: int, k: int) -> Array:
    r"""The Jacobian :math:`\partial h_t / \partial h_k` of a tanh RNN along one sequence.

    .. math::
        \frac{\partial h_t}{\partial h_k} = \prod_{j=k+1}^{t} \operatorname{diag}(1 - h_j^2)\,
            W_{hh} = D_t W_{hh}\, D_{t-1} W_{hh} \cdots D_{k+1} W_{hh}

    where :math:`D_j = \operatorname{diag}(1 - h_j^2)` is the derivative of tanh at step
    :math:`j` (the latest step is on the left). The input enters only through the
    :math:`h_j`, so the hidden states are all that is needed. An empty product (``t == k``)
    is the identity.

    Args:
        h: ``(T, H)``, the hidden states :math:`h_1, \dots, h_T` of one sequence (``h[j - 1]``
            is :math:`h_j`, as in the RNN's ``output``), torch or NumPy.
        weight_hh: :math:`W_{hh}`, ``(H, H)``, the same kind of array as ``h``.
        t: the later step, ``0 <= k <= t <= T``.
        k: the earlier step; ``k = 0`` is the initial state :math:`h_0`.

    Outputs:
        ``(H, H)``, entry ``[i, m]`` is :math:`\partial h_{t,i} / \partial h_{k,m}`.

    Examples::

        >>> W = 0.5 * torch.eye(2)
        >>> h = torch.zeros(3, 2)  # at h = 0 tanh' = 1, so the product is W^(t-k)
        >>> jacobian_product(h, W, t=3, k=1)
        tensor([[0.2500, 0.0000],
                [0.0000, 0.2500]])
    """
    T, H = _check_states(h, weight_hh)
    if not (isinstance(t, int) and isinstance(k, int) and 0 <= k <= t <= T):
        raise ValueError(f"t, k: expected integers with 0 <= k <= t <= T = {T}, got t={t}, k={k}")
    J = _eye(h, H)  # (H, H)
    for j in range(k + 1, t + 1):
        # ∂h_j/∂h_k = (∂h_j/∂h_{j-1}) (∂h_{j-1}/∂h_k); h_j is h[j - 1]
        J = _step_jacobian(h[j - 1], weight_hh) @ J
    return J


def _matrix_norm(J: Tensor | np.ndarray, ord: Literal[2, "fro"]) -> float:
    if isinstance(J, Tensor):
        return float(torch.linalg.matrix_norm(J, ord=ord))
    return float(np.linalg.norm(J, ord=ord))


def jacobian_norms(
    h: Array,
    weight_hh: Array,
    t: int | None = None,
    ord: Literal[2, "fro"] = 2,
) -> np.ndarray:
    r"""Norms :math:`\lVert \partial h_t / \partial h_k \rVert` for every :math:`k = 0, \dots, t`.

    .. math::
        n_k = \left\lVert \prod_{j=k+1}^{t} \operatorname{diag}(1 - h_j^2)\, W_{hh} \right\rVert

    where the norm is the spectral norm (largest singular value, ``ord=2``) or the Frobenius
    norm (``ord="fro"``). The products are built backward from :math:`k = t`, one matrix
    multiplication per step, so all :math:`t + 1` norms cost as much as one
    :func:`jacobian_product` with :math:`k = 0`.

    Args:
        h: ``(T, H)`` hidden states of one sequence, torch or NumPy (see
            :func:`jacobian_product`).
        weight_hh: :math:`W_{hh}`, ``(H, H)``.
        t: the later step; ``None`` means ``T``.
        ord: ``2`` (spectral) or ``"fro"`` (Frobenius).

    Outputs:
        A float64 NumPy array ``(t + 1,)``; entry ``k`` is :math:`n_k`, so ``norms[t] == 1``
        for the spectral norm.

    Examples::

        >>> W = 0.5 * torch.eye(2)
        >>> jacobian_norms(torch.zeros(3, 2), W)
        array([0.125, 0.25 , 0.5  , 1.   ])
    """
    T, H = _check_states(h, weight_hh)
    t = T if t is None else t
    if not (isinstance(t, int) and 0 <= t <= T):
        raise ValueError(f"t: expected an integer with 0 <= t <= T = {T}, got {t!r}")
    if ord not in (2, "fro"):
        raise ValueError(f"ord: expected 2 or 'fro', got {ord!r}")
    norms = np.empty(t + 1)
    J = _eye(h, H)  # ∂h_t/∂h_t
    norms[t] = _matrix_norm(J, ord)
    for k in range(t, 0, -1):
        # ∂h_t/∂h_{k-1} = (∂h_t/∂h_k) diag(1 - h_k²) W_hh
        J = J @ _step_jacobian(h[k - 1], weight_hh)
        norms[k - 1] = _matrix_norm(J, ord)
    return norms


# ---------------------------------------------------------------------------------------------
# gradient norms per step
# ---------------------------------------------------------------------------------------------


def _single_layer_weights(model: nn.Module) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    if getattr(model, "num_layers", 1) != 1 or getattr(model, "bidirectional", False):
        raise ValueError("model: expected a single-layer, one-direction RNN")
    if not hasattr(model, "weight_hh_l0"):
        raise TypeError(f"model: expected an RNN with weight_hh_l0, got {type(model).__name__}")
    w_ih, w_hh = (getattr(model, f"{stem}_l0", None) for stem in ("weight_ih", "weight_hh"))
    b_ih, b_hh = (getattr(model, f"{stem}_l0", None) for stem in ("bias_ih", "bias_hh"))
    if not (isinstance(w_ih, Tensor) and isinstance(w_hh, Tensor)):
        raise TypeError(
            f"model: expected tensors weight_ih_l0, weight_hh_l0 in {type(model).__name__}"
        )
    return (
        w_ih,
        w_hh,
        b_ih if isinstance(b_ih, Tensor) else None,
        b_hh if isinstance(b_hh, Tensor) else None,
    )


def hidden_grad_norms(
    model: nn.Module,
    x: Tensor,
    h_0: Tensor | None = None,
    loss_fn: Callable[[Tensor], Tensor] | None = None,
) -> Tensor:
    r"""How large the gradient of a last-step loss is at every hidden state of an RNN.

    .. math::
        g_k = \left\lVert \frac{\partial L}{\partial h_k} \right\rVert_F
            = \left\lVert \frac{\partial L}{\partial h_T}
              \frac{\partial h_T}{\partial h_k} \right\rVert_F, \qquad k = 0, \dots, T

    where :math:`L` = ``loss_fn(h_T)`` depends on the last hidden state only (default
    :math:`L = \sum h_T`, i.e. :math:`\partial L / \partial h_T` all ones) and the norm is
    taken over the whole batch. The model is unrolled step by step with
    :func:`rnncourse.rnn.rnn_cell` using the model's own weights, and ``torch.autograd.grad``
    is asked for the gradient at every intermediate state (the same numbers ``retain_grad``
    would store, without touching the parameters' ``.grad``).

    Args:
        model: a single-layer, one-direction ``torch.nn.RNN`` or :class:`rnncourse.RNN`
            (anything with ``weight_ih_l0``, ``weight_hh_l0``, optional biases,
            ``nonlinearity`` and ``batch_first``).
        x: inputs ``(T, N, H_in)``, or ``(N, T, H_in)`` if ``model.batch_first``.
        h_0: initial state ``(N, H)``; zeros if ``None``.
        loss_fn: maps :math:`h_T` ``(N, H)`` to a scalar; default ``h_T.sum()``.

    Outputs:
        ``(T + 1,)`` tensor on ``x``'s device; entry ``k`` is :math:`g_k` (entry 0 is
        :math:`h_0`, entry ``T`` the last state).

    Examples::

        >>> rnn = torch.nn.RNN(3, 8)
        >>> norms = hidden_grad_norms(rnn, torch.randn(20, 4, 3))
        >>> norms.shape
        torch.Size([21])
    """
    weight_ih, weight_hh, bias_ih, bias_hh = _single_layer_weights(model)
    if getattr(model, "batch_first", False):
        check_shape("x", x, ("N", "T", "H_in"), (None, None, weight_ih.shape[1]))
        x = x.transpose(0, 1)  # (T, N, H_in)
    check_shape("x", x, ("T", "N", "H_in"), (None, None, weight_ih.shape[1]))
    T, N, _ = x.shape
    H = weight_hh.shape[0]
    if h_0 is None:
        h_0 = x.new_zeros(N, H)  # (N, H)
    check_shape("h_0", h_0, ("N", "H"), (N, H))
    nonlinearity = getattr(model, "nonlinearity", "tanh")

    h = h_0.detach().clone().requires_grad_(True)  # (N, H), a leaf so dL/dh_0 exists
    states = [h]
    for t in range(T):
        # h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
        h = rnn_cell(x[t], h, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity)  # (N, H)
        states.append(h)
    loss = h.sum() if loss_fn is None else loss_fn(h)
    grads = torch.autograd.grad(loss, states)  # dL/dh_k for k = 0..T
    return torch.stack([torch.linalg.vector_norm(g) for g in grads]).detach()  # (T + 1,)


def hidden_grad_norms_np(
    params: dict[str, np.ndarray],
    x: np.ndarray,
    h_0: np.ndarray | None = None,
    dh_T: np.ndarray | None = None,
) -> np.ndarray:
    r"""The NumPy twin of :func:`hidden_grad_norms`, read off the BPTT of chapter 4.

    .. math::
        g_k = \left\lVert \frac{\partial L}{\partial h_k} \right\rVert_F, \qquad
        L = \sum_{n, i} (\text{dh}_T)_{n,i}\, h_{T,n,i}

    where :math:`\partial L / \partial h_k` is ``dh`` from :func:`rnncourse.bptt.rnn_backward`
    (and ``grads["h_0"]`` for :math:`k = 0`), run with no output loss and the gradient
    ``dh_T`` (default all ones, i.e. :math:`L = \sum h_T`) entering at the last state.

    Args:
        params: the dict of :func:`rnncourse.bptt.init_params`.
        x: inputs ``(T, N, H_in)``.
        h_0: initial state ``(N, H)``; zeros if ``None``.
        dh_T: :math:`\partial L / \partial h_T`, ``(N, H)``; ones if ``None``.

    Outputs:
        ``(T + 1,)`` float64 array; entry ``k`` is :math:`g_k`.

    Examples::

        >>> params = bptt.init_params(3, 8, 1)
        >>> hidden_grad_norms_np(params, np.random.default_rng(0).normal(size=(20, 4, 3))).shape
        (21,)
    """
    _, cache = bptt.rnn_forward(params, x, h_0)
    if dh_T is None:
        dh_T = np.ones_like(cache["h"][-1])  # (N, H)
    dy = np.zeros_like(cache["y"])  # no loss on the outputs
    grads, dh = bptt.rnn_backward(params, cache, dy=dy, dh_T=dh_T)
    norms = [np.linalg.norm(grads["h_0"])] + [np.linalg.norm(d) for d in dh]
    return np.array(norms)


# ---------------------------------------------------------------------------------------------
# spectral radius
# ---------------------------------------------------------------------------------------------


def spectral_radius(W: Tensor | np.ndarray) -> float:
    r"""The largest absolute eigenvalue of a square matrix.

    .. math::
        \rho(W) = \max_i |\lambda_i(W)|

    where :math:`\lambda_i` are the (possibly complex) eigenvalues of :math:`W`. For the
    linear recurrence :math:`h_t = W h_{t-1}`, :math:`\lVert W^n \rVert` grows like
    :math:`\rho^n` for large :math:`n`: it vanishes if :math:`\rho < 1` and explodes if
    :math:`\rho > 1`. (The largest *singular* value bounds the growth of each single step.)

    Args:
        W: ``(H, H)``, torch or NumPy.

    Outputs:
        :math:`\rho(W)` as a Python float.

    Examples::

        >>> round(spectral_radius(np.array([[0.0, -2.0], [2.0, 0.0]])), 6)  # rotation, scaled by 2
        2.0
    """
    check_shape("W", W, ("H", "H"), (None, None))
    check_shape("W", W, ("H", "H"), (W.shape[0], W.shape[0]))  # square
    if isinstance(W, Tensor):
        return float(torch.linalg.eigvals(W.detach()).abs().max())
    return float(np.max(np.abs(np.linalg.eigvals(W))))


def scale_to_spectral_radius(W: Array, rho: float) -> Array:
    r"""Rescale a square matrix so that its spectral radius is ``rho``.

    .. math::
        W' = \frac{\rho}{\rho(W)}\, W

    where :math:`\rho(W)` is :func:`spectral_radius`; scaling a matrix scales every eigenvalue
    by the same factor.

    Args:
        W: ``(H, H)``, torch or NumPy, with a non-zero eigenvalue.
        rho: the target spectral radius, ``>= 0``.

    Outputs:
        A new array like ``W``.

    Examples::

        >>> W = np.array([[0.0, -2.0], [2.0, 0.0]])
        >>> round(spectral_radius(scale_to_spectral_radius(W, 0.9)), 6)
        0.9
    """
    if rho < 0:
        raise ValueError(f"rho: expected a number >= 0, got {rho!r}")
    current = spectral_radius(W)
    if current == 0:
        raise ValueError("W: has spectral radius 0 (all eigenvalues are zero); cannot rescale")
    return W * (rho / current)


# ---------------------------------------------------------------------------------------------
# clipping, torch
# ---------------------------------------------------------------------------------------------


def _grads_of(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]  # a single tensor is allowed, as in torch
    return [p.grad for p in parameters if p.grad is not None]


@torch.no_grad()
def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> Tensor:
    r"""Scale all gradients down together so that their joint norm is at most ``max_norm``.

    .. math::
        \lVert g \rVert = \Big\lVert \big(\lVert g_1 \rVert_p, \dots, \lVert g_m \rVert_p\big)
            \Big\rVert_p, \qquad
        g_i \leftarrow g_i \cdot \min\!\left(1, \frac{\text{max\_norm}}{\lVert g \rVert +
            10^{-6}}\right)

    where :math:`g_i` is the gradient of parameter :math:`i` and :math:`p` is ``norm_type``
    (``inf`` gives the largest absolute entry). The joint norm is the norm of all gradients
    concatenated into one vector; every gradient is multiplied by the same factor, so the
    update keeps its direction. The :math:`10^{-6}` keeps the division finite; it also makes
    the clipped norm a hair below ``max_norm``. Same results as
    ``torch.nn.utils.clip_grad_norm_`` (written out, without the ``foreach`` fast path).

    Args:
        parameters: a tensor or an iterable of tensors whose ``.grad`` is clipped in place;
            those with ``grad is None`` are skipped.
        max_norm: the largest allowed joint norm.
        norm_type: :math:`p`, e.g. ``2.0``, ``1.0`` or ``float("inf")``.
        error_if_nonfinite: raise ``RuntimeError`` if the joint norm is ``nan`` or ``inf``.

    Outputs:
        The joint norm *before* clipping, a 0-dim tensor (``tensor(0.)`` if there are no
        gradients).

    Examples::

        >>> w = torch.zeros(3, requires_grad=True)
        >>> w.grad = torch.tensor([3.0, 4.0, 0.0])
        >>> clip_grad_norm_([w], max_norm=1.0)
        tensor(5.)
        >>> torch.linalg.vector_norm(w.grad)
        tensor(1.0000)
    """
    grads = _grads_of(parameters)
    norm_type = float(norm_type)
    max_norm = float(max_norm)
    if not grads:
        return torch.tensor(0.0)
    first_device = grads[0].device
    # ||g||_p = || (||g_1||_p, ..., ||g_m||_p) ||_p
    norms = [torch.linalg.vector_norm(g, norm_type).to(first_device) for g in grads]
    total_norm = torch.linalg.vector_norm(torch.stack(norms), norm_type)
    if error_if_nonfinite and (total_norm.isnan() or total_norm.isinf()):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. Pass error_if_nonfinite=False to scale "
            "the gradients by the non-finite norm anyway"
        )
    # coef = min(1, max_norm / (||g|| + 1e-6)); multiplying by 1 avoids a data-dependent branch
    clip_coef = torch.clamp(max_norm / (total_norm + 1e-6), max=1.0)
    for g in grads:
        g.mul_(clip_coef.to(g.device))
    return total_norm


@torch.no_grad()
def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    r"""Clamp every gradient entry into ``[-clip_value, clip_value]``, in place.

    .. math::
        g_{i} \leftarrow \max(-c, \min(c, g_{i}))

    where :math:`c` is ``clip_value``. Unlike :func:`clip_grad_norm_` this changes the
    direction of the gradient. Same results as ``torch.nn.utils.clip_grad_value_``.

    Args:
        parameters: a tensor or an iterable of tensors; those with ``grad is None`` are skipped.
        clip_value: :math:`c`, the largest allowed absolute value.

    Examples::

        >>> w = torch.zeros(3, requires_grad=True)
        >>> w.grad = torch.tensor([-3.0, 0.5, 2.0])
        >>> clip_grad_value_(w, 1.0)
        >>> w.grad
        tensor([-1.0000,  0.5000,  1.0000])
    """
    clip_value = float(clip_value)
    for g in _grads_of(parameters):
        g.clamp_(min=-clip_value, max=clip_value)


# ---------------------------------------------------------------------------------------------
# clipping, NumPy
# ---------------------------------------------------------------------------------------------

Grads = dict[str, np.ndarray] | list[np.ndarray]


def _arrays_of(grads: Grads) -> list[np.ndarray]:
    if isinstance(grads, dict):
        arrays = list(grads.values())
    elif isinstance(grads, list | tuple):
        arrays = list(grads)
    else:
        raise TypeError(f"grads: expected a dict or list of arrays, got {type(grads).__name__}")
    for i, a in enumerate(arrays):
        check_floating(f"grads[{i}]", np.asarray(a))
    return arrays


def _rebuild(grads: Grads, arrays: list[np.ndarray]) -> Grads:
    if isinstance(grads, dict):
        return dict(zip(grads, arrays, strict=True))
    return list(arrays)


def clip_grad_norm_np(grads: Grads, max_norm: float, norm_type: float = 2.0) -> tuple[Grads, float]:
    r"""NumPy :func:`clip_grad_norm_`: the clipped gradients (new arrays) and the joint norm.

    .. math::
        g_i \leftarrow g_i \cdot \min\!\left(1, \frac{\text{max\_norm}}{\lVert g \rVert +
            10^{-6}}\right)

    where :math:`\lVert g \rVert` is the ``norm_type``-norm of all gradients concatenated.

    Args:
        grads: a dict ``name -> array`` (e.g. from :func:`rnncourse.bptt.rnn_backward`) or a
            list of arrays; not modified.
        max_norm: the largest allowed joint norm.
        norm_type: :math:`p`, e.g. ``2.0`` or ``float("inf")``.

    Outputs: clipped, total_norm
        - **clipped**: the same kind of container with new, scaled arrays.
        - **total_norm**: the joint norm before clipping, a float.

    Examples::

        >>> clipped, norm = clip_grad_norm_np({"w": np.array([3.0, 4.0])}, max_norm=1.0)
        >>> norm, np.round(clipped["w"], 6)
        (5.0, array([0.6, 0.8]))
    """
    arrays = _arrays_of(grads)
    norm_type = float(norm_type)
    if not arrays:
        return _rebuild(grads, []), 0.0
    # ||g||_p = || (||g_1||_p, ..., ||g_m||_p) ||_p
    norms = [np.linalg.norm(np.ravel(a), norm_type) for a in arrays]
    total_norm = float(np.linalg.norm(np.array(norms), norm_type))
    # coef = min(1, max_norm / (||g|| + 1e-6))
    clip_coef = min(float(max_norm) / (total_norm + 1e-6), 1.0)
    return _rebuild(grads, [a * clip_coef for a in arrays]), total_norm


def clip_grad_value_np(grads: Grads, clip_value: float) -> Grads:
    r"""NumPy :func:`clip_grad_value_`: every entry clamped into ``[-clip_value, clip_value]``.

    .. math::
        g_i \leftarrow \max(-c, \min(c, g_i))

    where :math:`c` is ``clip_value``.

    Args:
        grads: a dict ``name -> array`` or a list of arrays; not modified.
        clip_value: :math:`c`.

    Outputs:
        The same kind of container with new, clamped arrays.

    Examples::

        >>> clip_grad_value_np([np.array([-3.0, 0.5, 2.0])], 1.0)
        [array([-1. ,  0.5,  1. ])]
    """
    c = float(clip_value)
    return _rebuild(grads, [np.clip(a, -c, c) for a in _arrays_of(grads)])
