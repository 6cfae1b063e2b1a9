r"""Backpropagation through time, written out in NumPy (chapter 4).

A vanilla RNN with an output layer, in the book's notation:

.. math::
    h_t = \tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}), \qquad
    y_t = W_{hy} h_t + b_y, \qquad L = \sum_t L_t

Everything is float64 NumPy with time-major arrays: ``x`` is ``(T, N, H_in)``, ``h_0`` is
``(N, H)``. Rows are examples, so the code computes ``h @ W_hh.T`` where the book writes
``W_hh h_{t-1}``; the two are the same equation.

The backward pass is one explicit loop backward through time with one short comment per
derivative, so it can be read next to the chapter's derivation. ``torch`` is not used here;
the tests check every gradient against ``torch.autograd`` and against central differences.

Indexing: arrays are 0-based, so ``x[t]`` is the book's :math:`x_{t+1}` and ``h[t]`` is the
hidden state after reading ``x[t]`` (as in ``torch.nn.RNN``'s ``output``); ``h_0`` is kept
separately.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np

from rnncourse._checks import check_choice, check_floating, check_positive_int, check_shape

__all__ = [
    "PARAM_NAMES",
    "LOSSES",
    "init_params",
    "rnn_forward",
    "rnn_backward",
    "truncated_bptt_grads",
    "tbptt_chunks",
    "chunked_bptt_grads",
    "numerical_gradient",
    "rel_error",
    "grad_check",
]

PARAM_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hy", "bias_y")
LOSSES = ("mse", "xent")

Params = dict[str, np.ndarray]


# ---------------------------------------------------------------------------------------------
# parameters
# ---------------------------------------------------------------------------------------------


def init_params(
    input_size: int,
    hidden_size: int,
    output_size: int,
    seed: int = 0,
    scale: float | None = None,
) -> Params:
    r"""Random float64 parameters for :func:`rnn_forward`, in PyTorch's layout.

    Every entry is drawn from :math:`\mathcal{U}(-s, s)` with :math:`s = 1/\sqrt{H}` by default,
    the same rule as ``torch.nn.RNN``.

    Args:
        input_size: :math:`H_{in}`, features per input step.
        hidden_size: :math:`H`, hidden units.
        output_size: :math:`H_{out}`, output features (classes for ``loss="xent"``).
        seed: seed for ``numpy.random.default_rng``.
        scale: half-width :math:`s` of the uniform distribution; ``None`` means
            :math:`1/\sqrt{H}`.

    Outputs:
        A dict with ``weight_ih`` ``(H, H_in)``, ``weight_hh`` ``(H, H)``, ``bias_ih`` ``(H,)``,
        ``bias_hh`` ``(H,)``, ``weight_hy`` ``(H_out, H)`` and ``bias_y`` ``(H_out,)``.

    Examples::

        >>> params = init_params(3, 5, 2)
        >>> params["weight_hh"].shape, params["weight_hy"].shape
        ((5, 5), (2, 5))
    """
    check_positive_int("input_size", input_size)
    check_positive_int("hidden_size", hidden_size)
    check_positive_int("output_size", output_size)
    s = 1.0 / np.sqrt(hidden_size) if scale is None else float(scale)
    rng = np.random.default_rng(seed)
    shapes = {
        "weight_ih": (hidden_size, input_size),
        "weight_hh": (hidden_size, hidden_size),
        "bias_ih": (hidden_size,),
        "bias_hh": (hidden_size,),
        "weight_hy": (output_size, hidden_size),
        "bias_y": (output_size,),
    }
    return {name: rng.uniform(-s, s, size=shape) for name, shape in shapes.items()}


def _check_params(params: Params) -> tuple[int, int, int]:
    """Check the six parameters against each other; return ``(H_in, H, H_out)``."""
    if not isinstance(params, dict):
        raise TypeError(f"params: expected a dict of arrays, got {type(params).__name__}")
    missing = [name for name in PARAM_NAMES if name not in params]
    if missing:
        raise ValueError(f"params: missing {missing}")
    for name in PARAM_NAMES:
        check_floating(f"params[{name!r}]", np.asarray(params[name]))
    hidden_size, input_size = np.shape(params["weight_ih"])
    output_size = np.shape(params["weight_hy"])[0]
    check_shape("params['weight_hh']", params["weight_hh"], ("H", "H"), (hidden_size, hidden_size))
    check_shape("params['bias_ih']", params["bias_ih"], ("H",), (hidden_size,))
    check_shape("params['bias_hh']", params["bias_hh"], ("H",), (hidden_size,))
    check_shape("params['weight_hy']", params["weight_hy"], ("H_out", "H"), (None, hidden_size))
    check_shape("params['bias_y']", params["bias_y"], ("H_out",), (output_size,))
    return input_size, hidden_size, output_size


# ---------------------------------------------------------------------------------------------
# forward
# ---------------------------------------------------------------------------------------------


def _softmax(y: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, shifted by the maximum so that ``exp`` cannot overflow."""
    e = np.exp(y - y.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _check_targets(targets: np.ndarray, y_shape: tuple[int, ...], loss: str) -> None:
    T, N, output_size = y_shape
    if loss == "mse":
        check_shape("targets", targets, ("T", "N", "H_out"), (T, N, output_size))
        check_floating("targets", targets)
        return
    check_shape("targets", targets, ("T", "N"), (T, N))
    if not np.issubdtype(targets.dtype, np.integer):
        raise TypeError(f"targets: expected integer class indices, got dtype {targets.dtype}")
    if targets.min() < 0 or targets.max() >= output_size:
        raise ValueError(f"targets: class indices must lie in [0, {output_size}) = [0, H_out)")


def rnn_forward(
    params: Params,
    x: np.ndarray,
    h_0: np.ndarray | None = None,
    targets: np.ndarray | None = None,
    loss: str = "mse",
) -> tuple[float | None, dict[str, Any]]:
    r"""Run the RNN over a sequence, keep everything the backward pass needs, and score it.

    .. math::
        \begin{aligned}
        a_t &= W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh} \\
        h_t &= \tanh(a_t) \\
        y_t &= W_{hy} h_t + b_y \\
        L &= \sum_{t=1}^{T} L_t
        \end{aligned}

    where :math:`a_t` is the pre-activation and the per-step loss :math:`L_t` is either
    ``"mse"``: :math:`L_t = \tfrac12 \sum_n \lVert y_{t,n} - \text{target}_{t,n} \rVert^2`, or
    ``"xent"``: :math:`L_t = -\sum_n \log \operatorname{softmax}(y_{t,n})_{\text{target}_{t,n}}`.
    Both are **summed** over the batch and over time (no averaging), so the gradients are
    exactly the sums the chapter derives.

    Args:
        params: the dict made by :func:`init_params`.
        x: inputs, ``(T, N, H_in)``.
        h_0: initial hidden state ``(N, H)``; zeros if ``None``.
        targets: ``(T, N, H_out)`` floats for ``"mse"``, ``(T, N)`` class indices for ``"xent"``;
            if ``None`` no loss is computed.
        loss: ``"mse"`` or ``"xent"``.

    Outputs: loss, cache
        - **loss**: the scalar :math:`L` as a Python float, or ``None`` without targets.
        - **cache**: a dict with ``x`` ``(T, N, H_in)``, ``h_0`` ``(N, H)``, ``pre`` (the
          :math:`a_t`) ``(T, N, H)``, ``h`` ``(T, N, H)``, ``y`` ``(T, N, H_out)``, ``targets``
          and ``loss`` (the loss name).

    Examples::

        >>> params = init_params(3, 4, 2)
        >>> x = np.random.default_rng(0).normal(size=(6, 5, 3))  # (T, N, H_in)
        >>> L, cache = rnn_forward(params, x, targets=np.zeros((6, 5, 2)))
        >>> cache["h"].shape
        (6, 5, 4)
    """
    input_size, hidden_size, _ = _check_params(params)
    check_choice("loss", loss, LOSSES)
    check_shape("x", x, ("T", "N", "H_in"), (None, None, input_size))
    check_floating("x", x)
    T, N, _ = x.shape
    if h_0 is None:
        h_0 = np.zeros((N, hidden_size))  # (N, H)
    check_shape("h_0", h_0, ("N", "H"), (N, hidden_size))
    check_floating("h_0", h_0)
    if targets is not None:
        targets = np.asarray(targets)
        _check_targets(targets, (T, N, params["weight_hy"].shape[0]), loss)

    W_ih, W_hh = params["weight_ih"], params["weight_hh"]
    b_ih, b_hh = params["bias_ih"], params["bias_hh"]
    W_hy, b_y = params["weight_hy"], params["bias_y"]

    pre = np.empty((T, N, hidden_size))  # (T, N, H)
    h = np.empty((T, N, hidden_size))  # (T, N, H)
    h_prev = h_0
    for t in range(T):
        # a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
        pre[t] = x[t] @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh
        # h_t = tanh(a_t)
        h[t] = np.tanh(pre[t])
        h_prev = h[t]
    # y_t = W_hy h_t + b_y, for every step at once
    y = h @ W_hy.T + b_y  # (T, N, H_out)

    cache = {"x": x, "h_0": h_0, "pre": pre, "h": h, "y": y, "targets": targets, "loss": loss}
    if targets is None:
        return None, cache
    if loss == "mse":
        # L = Σ_t ½ ||y_t - target_t||²
        value = 0.5 * np.sum((y - targets) ** 2)
    else:
        # L = -Σ_t log softmax(y_t)[target_t], with log-softmax computed stably
        shifted = y - y.max(axis=-1, keepdims=True)  # (T, N, H_out)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        value = -np.sum(np.take_along_axis(log_probs, targets[..., None], axis=-1))
    return float(value), cache


# ---------------------------------------------------------------------------------------------
# backward
# ---------------------------------------------------------------------------------------------


def _output_grads(cache: dict[str, Any], dy: np.ndarray | None) -> np.ndarray:
    """dL/dy_t for every step: from the cached loss, or the caller's ``dy``."""
    y = cache["y"]
    if dy is not None:
        check_shape("dy", dy, ("T", "N", "H_out"), y.shape)
        return dy
    targets = cache["targets"]
    if targets is None:
        raise ValueError("cache: has no targets; run rnn_forward with targets or pass dy")
    if cache["loss"] == "mse":
        # L_t = ½||y_t - target_t||²  ⇒  dL/dy_t = y_t - target_t
        return y - targets
    # L_t = -log softmax(y_t)[target]  ⇒  dL/dy_t = softmax(y_t) - onehot(target)
    dy = _softmax(y)  # (T, N, H_out)
    T, N = targets.shape
    dy[np.arange(T)[:, None], np.arange(N), targets] -= 1  # subtract the one-hot target
    return dy


def _zero_grads(params: Params, h_0: np.ndarray) -> Params:
    grads = {name: np.zeros_like(params[name]) for name in PARAM_NAMES}
    grads["h_0"] = np.zeros_like(h_0)
    return grads


def rnn_backward(
    params: Params,
    cache: dict[str, Any],
    dy: np.ndarray | None = None,
    dh_T: np.ndarray | None = None,
) -> tuple[Params, np.ndarray]:
    r"""Backpropagation through time: the gradient of :math:`L` for every parameter and :math:`h_0`.

    The loss reaches :math:`h_t` along two paths, through :math:`y_t` and through
    :math:`h_{t+1}`, so walking backward from :math:`t = T`:

    .. math::
        \begin{aligned}
        \frac{\partial L}{\partial h_t} &= W_{hy}^\top \frac{\partial L}{\partial y_t}
            + W_{hh}^\top \frac{\partial L}{\partial a_{t+1}} \\
        \frac{\partial L}{\partial a_t} &= (1 - h_t^2) \odot \frac{\partial L}{\partial h_t}
            \\
        \frac{\partial L}{\partial W_{hh}} &= \sum_{t=1}^{T}
            \frac{\partial L}{\partial a_t} h_{t-1}^\top, \quad
        \frac{\partial L}{\partial W_{ih}} = \sum_{t=1}^{T}
            \frac{\partial L}{\partial a_t} x_t^\top, \quad
        \frac{\partial L}{\partial b_{ih}} = \frac{\partial L}{\partial b_{hh}}
            = \sum_{t=1}^{T} \frac{\partial L}{\partial a_t}
        \end{aligned}

    where :math:`a_t` is the pre-activation, :math:`\partial L / \partial a_{T+1} = 0` (plus
    ``dh_T`` if given), and the weights are shared across steps, so their gradients are sums
    over time. Batches add a sum over :math:`n` to every weight gradient.

    Args:
        params: the parameters used in :func:`rnn_forward`.
        cache: the cache returned by :func:`rnn_forward`.
        dy: optional ``(T, N, H_out)`` gradient of the loss with respect to every :math:`y_t`;
            it replaces the cached loss (for example, zeros except at the last step).
        dh_T: optional ``(N, H)`` gradient arriving at the last hidden state from outside the
            sequence (for example from the next chunk, or a loss on :math:`h_T` itself).

    Outputs: grads, dh
        - **grads**: dict with the keys of ``params`` plus ``"h_0"``, each the same shape as its
          array.
        - **dh**: ``(T, N, H)``; ``dh[t]`` is the *total* derivative
          :math:`\partial L / \partial h_t` of the hidden state ``cache["h"][t]`` (all paths:
          through its own output and through every later step).

    Examples::

        >>> params = init_params(3, 4, 2)
        >>> x = np.random.default_rng(0).normal(size=(6, 5, 3))
        >>> L, cache = rnn_forward(params, x, targets=np.zeros((6, 5, 2)))
        >>> grads, dh = rnn_backward(params, cache)
        >>> grads["weight_hh"].shape, dh.shape
        ((4, 4), (6, 5, 4))
    """
    _check_params(params)
    dy = _output_grads(cache, dy)  # (T, N, H_out)
    x, h_0, h = cache["x"], cache["h_0"], cache["h"]
    W_hh, W_hy = params["weight_hh"], params["weight_hy"]
    T, N, H = h.shape
    grads = _zero_grads(params, h_0)
    dh = np.zeros_like(h)  # (T, N, H)

    # the output layer does not recur: y_t = W_hy h_t + b_y summed over t and n
    grads["weight_hy"] = np.einsum("tno,tnh->oh", dy, h)  # dL/dW_hy = Σ_t dy_t h_tᵀ
    grads["bias_y"] = dy.sum(axis=(0, 1))  # dL/db_y = Σ_t dy_t

    # gradient reaching h_t from step t+1; nothing comes from beyond the end unless dh_T is given
    dh_next = np.zeros((N, H)) if dh_T is None else dh_T  # (N, H)
    if dh_T is not None:
        check_shape("dh_T", dh_T, ("N", "H"), (N, H))
    for t in reversed(range(T)):
        h_prev = h[t - 1] if t > 0 else h_0  # (N, H)
        dh[t] = dy[t] @ W_hy + dh_next  # through y_t, plus through h_{t+1}
        dpre = (1 - h[t] ** 2) * dh[t]  # back through tanh: tanh'(a) = 1 - tanh(a)²
        grads["weight_ih"] += dpre.T @ x[t]  # a_t = W_ih x_t + ...
        grads["weight_hh"] += dpre.T @ h_prev  # a_t = ... + W_hh h_{t-1}
        grads["bias_ih"] += dpre.sum(axis=0)  # a_t = ... + b_ih
        grads["bias_hh"] += dpre.sum(axis=0)  # a_t = ... + b_hh
        dh_next = dpre @ W_hh  # back into h_{t-1} through W_hh
    grads["h_0"] = dh_next  # what is left after step 1 flows into h_0
    return grads, dh


# ---------------------------------------------------------------------------------------------
# truncated BPTT
# ---------------------------------------------------------------------------------------------


def truncated_bptt_grads(
    params: Params,
    cache: dict[str, Any],
    k: int,
    dy: np.ndarray | None = None,
) -> Params:
    r"""Gradients where each step's loss flows back through at most ``k`` steps.

    Full BPTT sums, for every loss term :math:`L_t`, its contributions through *every* earlier
    hidden state. The k-truncated gradient keeps only the last ``k`` of them:

    .. math::
        g^{(k)}_\theta = \sum_{t=1}^{T} \; \sum_{t'=\max(1,\, t-k+1)}^{t}
            \frac{\partial L_t}{\partial h_{t'}}\,
            \frac{\partial^{+} h_{t'}}{\partial \theta}

    where :math:`\partial L_t / \partial h_{t'}` is the full derivative of the single term
    :math:`L_t` (through :math:`h_{t'+1}, \dots, h_t`) and :math:`\partial^{+} h_{t'} /
    \partial \theta` is the *immediate* derivative of step :math:`t'` alone, holding
    :math:`h_{t'-1}` fixed. So :math:`L_t` reaches :math:`h_t, \dots, h_{t-k+1}`; ``k = 1``
    ignores the recurrence in the gradient entirely, and ``k >= T`` is full BPTT. ``h_0`` is
    treated like a parameter of step 1: it gets a share of :math:`L_t` only when
    :math:`t \le k`. The output layer (:math:`W_{hy}, b_y`) does not recur, so its gradient is
    the full one for every ``k``.

    This is the "every step looks back k steps" definition (Williams and Peng's BPTT(h; 1)),
    costing :math:`O(Tk)`. The cheaper variant used in practice, which cuts the sequence into
    chunks and stops gradients at chunk borders, is :func:`chunked_bptt_grads`.

    Args:
        params: the parameters used in :func:`rnn_forward`.
        cache: the cache returned by :func:`rnn_forward`.
        k: how many hidden states each :math:`L_t` may reach, a positive int.
        dy: optional ``(T, N, H_out)`` output gradients, as in :func:`rnn_backward`.

    Outputs:
        **grads**: dict with the keys of ``params`` plus ``"h_0"``.

    Examples::

        >>> params = init_params(3, 4, 2)
        >>> x = np.random.default_rng(0).normal(size=(6, 5, 3))
        >>> _, cache = rnn_forward(params, x, targets=np.zeros((6, 5, 2)))
        >>> full, _ = rnn_backward(params, cache)
        >>> np.allclose(truncated_bptt_grads(params, cache, k=6)["weight_hh"], full["weight_hh"])
        True
    """
    _check_params(params)
    check_positive_int("k", k)
    dy = _output_grads(cache, dy)  # (T, N, H_out)
    x, h_0, h = cache["x"], cache["h_0"], cache["h"]
    W_hh, W_hy = params["weight_hh"], params["weight_hy"]
    T = h.shape[0]
    grads = _zero_grads(params, h_0)
    grads["weight_hy"] = np.einsum("tno,tnh->oh", dy, h)  # not recurrent: same as full BPTT
    grads["bias_y"] = dy.sum(axis=(0, 1))

    for t in range(T):
        dh = dy[t] @ W_hy  # dL_t/dh_t: only the loss of step t
        for tp in range(t, max(t - k, -1), -1):  # t' = t, t-1, ..., t-k+1 (at most k steps)
            h_prev = h[tp - 1] if tp > 0 else h_0  # (N, H)
            dpre = (1 - h[tp] ** 2) * dh  # back through tanh
            grads["weight_ih"] += dpre.T @ x[tp]
            grads["weight_hh"] += dpre.T @ h_prev
            grads["bias_ih"] += dpre.sum(axis=0)
            grads["bias_hh"] += dpre.sum(axis=0)
            dh = dpre @ W_hh  # dL_t/dh_{t'-1}
            if tp == 0:
                grads["h_0"] += dh  # L_t reached step 1, so it reaches h_0 too
    return grads


def tbptt_chunks(x: np.ndarray, k: int) -> list[slice]:
    """Split the time axis of ``x`` into consecutive chunks of at most ``k`` steps.

    Args:
        x: a time-major sequence ``(T, ...)``; only its length is used.
        k: chunk length, a positive int; the last chunk may be shorter.

    Outputs:
        A list of ``slice`` objects covering ``0..T`` in order.

    Examples::

        >>> tbptt_chunks(np.zeros((7, 1, 1)), 3)
        [slice(0, 3, None), slice(3, 6, None), slice(6, 7, None)]
    """
    check_positive_int("k", k)
    T = len(x)
    return [slice(start, min(start + k, T)) for start in range(0, T, k)]


def chunked_bptt_grads(
    params: Params,
    x: np.ndarray,
    targets: np.ndarray,
    k: int,
    h_0: np.ndarray | None = None,
    loss: str = "mse",
) -> tuple[float, Params, np.ndarray]:
    """Truncated BPTT as used in training: chunks of ``k`` steps, state carried, gradient cut.

    The sequence is cut by :func:`tbptt_chunks`. Each chunk starts from the previous chunk's
    last hidden state, *as a constant*: the forward pass sees the whole history, but no
    gradient crosses a chunk border (``h.detach()`` in PyTorch). In terms of
    :func:`truncated_bptt_grads`, the loss at step :math:`t` reaches back only to the start of
    its own chunk, i.e. between 1 and ``k`` steps depending on where :math:`t` falls. The
    gradients of all chunks are summed, as if one optimizer step were taken per sequence;
    a training loop would instead step after each chunk.

    Args:
        params: the dict made by :func:`init_params`.
        x: inputs, ``(T, N, H_in)``.
        targets: as in :func:`rnn_forward`.
        k: chunk length, a positive int.
        h_0: initial hidden state ``(N, H)``; zeros if ``None``.
        loss: ``"mse"`` or ``"xent"``.

    Outputs: loss, grads, h_T
        - **loss**: the total loss over all chunks (equal to the full sequence's loss).
        - **grads**: summed gradients; ``grads["h_0"]`` is the gradient of the first chunk only.
        - **h_T**: ``(N, H)``, the last hidden state, to carry into the next sequence.

    Examples::

        >>> params = init_params(3, 4, 2)
        >>> x = np.random.default_rng(0).normal(size=(6, 5, 3))
        >>> L, grads, h_T = chunked_bptt_grads(params, x, np.zeros((6, 5, 2)), k=2)
        >>> h_T.shape
        (5, 4)
    """
    check_positive_int("k", k)
    if targets is None:
        raise ValueError("targets: expected an array; a loss needs targets")
    total = 0.0
    grads: Params | None = None
    h = h_0
    for chunk in tbptt_chunks(x, k):
        value, cache = rnn_forward(params, x[chunk], h, targets[chunk], loss)
        chunk_grads, _ = rnn_backward(params, cache)
        total += cast(float, value)  # targets are given, so the loss is a number
        if grads is None:
            grads = chunk_grads  # keeps dL/dh_0 of the first chunk
        else:
            for name in PARAM_NAMES:
                grads[name] += chunk_grads[name]
        h = cache["h"][-1]  # carry the state forward; no gradient flows back through it
    assert grads is not None  # tbptt_chunks returns at least one chunk when T >= 1
    return total, grads, cache["h"][-1]  # h_T, the state carried out of the last chunk


# ---------------------------------------------------------------------------------------------
# gradient checking
# ---------------------------------------------------------------------------------------------


def numerical_gradient(f: Callable[[], float], param: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    r"""Central-difference estimate of the gradient of ``f()`` with respect to ``param``.

    .. math::
        \frac{\partial f}{\partial \theta_i} \approx
            \frac{f(\theta + \varepsilon e_i) - f(\theta - \varepsilon e_i)}{2 \varepsilon}

    where :math:`e_i` is the i-th unit vector. The error is :math:`O(\varepsilon^2)` plus
    round-off of order :math:`10^{-16} |f| / \varepsilon`, so use float64.

    Args:
        f: a function of no arguments that reads ``param`` and returns a scalar.
        param: a float array, nudged **in place** one entry at a time and restored afterwards.
        eps: the step :math:`\varepsilon`.

    Outputs:
        An array shaped like ``param``.

    Examples::

        >>> w = np.array([1.0, 2.0])
        >>> np.round(numerical_gradient(lambda: float(np.sum(w**2)), w), 6)
        array([2., 4.])
    """
    if not isinstance(param, np.ndarray):
        raise TypeError(f"param: expected a NumPy array, got {type(param).__name__}")
    check_floating("param", param)
    grad = np.zeros_like(param)
    for idx in np.ndindex(param.shape):
        old = param[idx]
        param[idx] = old + eps
        f_plus = f()
        param[idx] = old - eps
        f_minus = f()
        param[idx] = old  # restore
        grad[idx] = (f_plus - f_minus) / (2 * eps)
    return grad


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    r"""Largest absolute difference, relative to the largest magnitude of the two arrays.

    .. math::
        \operatorname{rel}(a, b) = \frac{\max_i |a_i - b_i|}
            {\max\left(\max_i (|a_i| + |b_i|),\ \text{tiny}\right)}

    where tiny is the smallest positive float64, so two all-zero arrays give 0. One scale
    for the whole array (rather than an element-wise ratio) keeps entries that are almost
    zero in both gradients from reporting a large error made of round-off. Values are
    between 0 (identical) and 1 (e.g. opposite signs); below about 1e-6 means "equal" for a
    float64 gradient check.

    Examples::

        >>> rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9])) < 1e-9
        True
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"b: expected the shape of a, {a.shape}, got {b.shape}")
    if a.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(a) + np.abs(b))), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(a - b))) / scale


def grad_check(
    params: Params,
    x: np.ndarray,
    targets: np.ndarray,
    h_0: np.ndarray | None = None,
    loss: str = "mse",
    eps: float = 1e-6,
) -> dict[str, float]:
    """Compare :func:`rnn_backward` with central differences, for every parameter and ``h_0``.

    Args:
        params: the dict made by :func:`init_params` (float64); entries are nudged in place
            and restored.
        x, targets, h_0, loss: as in :func:`rnn_forward`.
        eps: the finite-difference step.

    Outputs:
        A dict ``name -> rel_error(analytic, numerical)`` for the six parameters and ``"h_0"``.

    Examples::

        >>> params = init_params(2, 3, 2)
        >>> x = np.random.default_rng(0).normal(size=(4, 2, 2))
        >>> errors = grad_check(params, x, np.zeros((4, 2, 2)))
        >>> max(errors.values()) < 1e-6
        True
    """
    _, hidden_size, _ = _check_params(params)
    if h_0 is None:
        h_0 = np.zeros((x.shape[1], hidden_size))
    h_0 = np.array(h_0, dtype=np.float64)  # a private copy that may be nudged
    _, cache = rnn_forward(params, x, h_0, targets, loss)
    grads, _ = rnn_backward(params, cache)

    def f() -> float:
        value, _ = rnn_forward(params, x, h_0, targets, loss)
        return cast(float, value)  # targets are given, so the loss is a number

    errors = {}
    for name in (*PARAM_NAMES, "h_0"):
        array = h_0 if name == "h_0" else params[name]
        errors[name] = rel_error(grads[name], numerical_gradient(f, array, eps))
    return errors
