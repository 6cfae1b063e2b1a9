"""A small, readable training loop and the helpers around it; used by every chapter from 4 on.

* :func:`seed_everything` seeds Python, NumPy and torch in one call.
* :func:`choose_device` picks CUDA, then Apple's MPS, then the CPU (or checks your choice).
* :func:`fit` trains a model and returns a :class:`History` (losses per epoch, gradient norm
  per step, wall time, and ``diverged`` when the loss became NaN or infinite, as in the
  exploding-gradient demonstration of chapter 5).
* :func:`evaluate` computes the mean loss of a model on a data set.

How data is given (``train_data``, ``val_data``, ``data``)
----------------------------------------------------------
Either

1. a pair of tensors ``(X, y)`` together with ``batch_size``. ``X`` is time-major
   ``(T, N, ...)`` (``(N, T, ...)`` with ``batch_first=True``) and is cut into mini-batches
   along its batch dimension. ``y`` is cut along its own batch dimension, found like this:
   dim 1 when ``y`` is time-major too (``y.shape[:2] == (T, N)``, per-step targets such as
   :func:`rnncourse.data.noisy_sine`'s); else dim 0 when ``y.shape[0] == N`` (one target
   per sequence such as :func:`rnncourse.data.adding_problem`'s); else dim 1 when
   ``y.shape[1] == N`` (a target sequence ``(T_out, N)`` of another length, such as a
   sequence-to-sequence target with ``<eos>`` appended, ``T_out = T + 1``). With
   ``batch_first=True`` both are dim 0. Pass ``target_batch_dim`` to say it explicitly when
   ``T == N`` makes this ambiguous. Mini-batches are reshuffled every epoch with a
   generator seeded by ``seed`` (``shuffle=False`` keeps the order);
2. or any re-iterable collection of ``(inputs, targets)`` pairs: a list of pairs or a
   ``torch.utils.data.DataLoader``. It is read once per epoch, as given.

``inputs`` may be a tensor or a tuple of tensors; a tuple is unpacked into the call
``model(*inputs)`` (e.g. ``model(src, tgt_in)`` for teacher forcing in chapter 9).
The loss is ``loss_fn(model(inputs), targets)``, so the model must return the prediction
itself: wrap an ``nn.RNN``-style module that returns ``(output, h_n)`` in a small module
that keeps what the loss needs.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeGuard, cast

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from rnncourse._checks import check_choice, check_positive_int
from rnncourse.gradients import clip_grad_norm_

__all__ = ["History", "seed_everything", "choose_device", "fit", "evaluate"]

Batch = tuple[Any, torch.Tensor]
Data = tuple[torch.Tensor, torch.Tensor] | Iterable[Batch]

_OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}


@dataclass
class History:
    """What :func:`fit` measured, epoch by epoch and step by step."""

    train_loss: list[float] = field(default_factory=list)  # mean training loss, one per epoch
    val_loss: list[float] = field(default_factory=list)  # validation loss per epoch ([] if none)
    step_loss: list[float] = field(default_factory=list)  # loss of every optimizer step
    grad_norm: list[float] = field(default_factory=list)  # total L2 norm before clipping, per step
    seconds: float = 0.0  # wall time of the whole fit
    diverged: bool = False  # True if training stopped on a NaN/inf loss or gradient
    device: str = "cpu"  # where the model was trained

    @property
    def epochs(self) -> int:
        """Number of epochs run (the last one may be partial if ``diverged``)."""
        return len(self.train_loss)


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and all GPUs).

    This makes weight initialisation, dropout and any global-RNG sampling repeatable on one
    machine. With ``deterministic`` (the default) it also asks torch for deterministic
    kernels where it has them (``torch.use_deterministic_algorithms(True, warn_only=True)``:
    an operation with no deterministic version warns instead of failing) and sets
    ``CUBLAS_WORKSPACE_CONFIG`` for CUDA matrix products, unless it is set already.

    Seeding cannot make two *different* machines agree to the last digit: CPUs with AVX2,
    AVX-512 or only the generic kernels (``ATEN_CPU_CAPABILITY=default``), and different
    thread counts, add floating-point numbers in different orders, and training amplifies
    the difference. Expect trained results to differ slightly between machines.

    Args:
        seed: a non-negative int.
        deterministic: also switch torch to deterministic algorithms (``False`` switches
            them off).

    Examples::

        >>> seed_everything(0); a = torch.randn(2)
        >>> seed_everything(0); b = torch.randn(2)
        >>> bool((a == b).all())
        True
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected an int >= 0, got {seed!r}")
    if not isinstance(deterministic, bool):
        raise TypeError(f"deterministic: expected a bool, got {deterministic!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 -- seeding the legacy global RNG on purpose
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        # cuBLAS reads this when it creates its handle; without it deterministic mode
        # refuses CUDA matrix products. Harmless on machines without CUDA.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic, warn_only=True)


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def choose_device(prefer: str | torch.device | None = None) -> torch.device:
    """The device to train on: CUDA if present, else Apple's MPS, else the CPU.

    Args:
        prefer: ``None`` for the automatic choice, or an explicit device (``"cpu"``,
            ``"cuda"``, ``"cuda:1"``, ``"mps"`` or a ``torch.device``), which is checked.

    Returns:
        A ``torch.device``.

    Raises:
        ValueError: if ``prefer`` names an unknown device type or one this machine lacks.

    Examples::

        >>> choose_device("cpu")
        device(type='cpu')
    """
    if prefer is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(prefer)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"prefer: not a device: {prefer!r}") from err
    check_choice("prefer", device.type, ["cpu", "cuda", "mps"])
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"prefer: {prefer!r} requested but CUDA is not available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"prefer: {prefer!r} requested but only {torch.cuda.device_count()} "
                "CUDA device(s) exist"
            )
    if device.type == "mps" and not _mps_available():
        raise ValueError(f"prefer: {prefer!r} requested but MPS is not available")
    return device


# --------------------------------------------------------------------------------------
# Batching
# --------------------------------------------------------------------------------------


def _target_batch_dim(X: torch.Tensor, y: torch.Tensor, batch_first: bool) -> int:
    """Which dimension of ``y`` indexes the sequences (see the module docstring)."""
    if batch_first:
        return 0
    T, N = X.shape[0], X.shape[1]
    if y.dim() >= 2 and y.shape[0] == T and y.shape[1] == N:
        return 1  # per-step targets (T, N, ...)
    if y.shape[0] == N:
        return 0  # one target per sequence (N, ...)
    if y.dim() >= 2 and y.shape[1] == N:
        return 1  # a target sequence of another length (T_out, N, ...), as in seq2seq
    raise ValueError(
        f"y: cannot find the batch dimension N={N} of X {tuple(X.shape)} (time-major "
        f"(T, N, ...)) in y {tuple(y.shape)}; expected (N, ...) or (T, N, ...)"
    )


def _tensor_batches(
    data: tuple[torch.Tensor, torch.Tensor],
    batch_size: int,
    *,
    shuffle: bool,
    generator: torch.Generator | None,
    batch_first: bool,
    target_batch_dim: int | None,
) -> Iterator[Batch]:
    """Yield mini-batches of ``(X, y)`` cut along their batch dimensions."""
    X, y = data
    x_dim = 0 if batch_first else 1
    y_dim = _target_batch_dim(X, y, batch_first) if target_batch_dim is None else target_batch_dim
    N = X.shape[x_dim]
    if y.shape[y_dim] != N:
        raise ValueError(f"y: expected {N} sequences along dim {y_dim}, got {tuple(y.shape)}")
    order = torch.randperm(N, generator=generator) if shuffle else torch.arange(N)
    for start in range(0, N, batch_size):
        idx = order[start : start + batch_size]
        yield X.index_select(x_dim, idx.to(X.device)), y.index_select(y_dim, idx.to(y.device))


def _is_tensor_pair(data: Any) -> TypeGuard[tuple[torch.Tensor, torch.Tensor]]:
    return (
        isinstance(data, tuple)
        and len(data) == 2
        and isinstance(data[0], torch.Tensor)
        and isinstance(data[1], torch.Tensor)
    )


def _batches(
    data: Data,
    batch_size: int | None,
    *,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    batch_first: bool = False,
    target_batch_dim: int | None = None,
    name: str = "data",
) -> Iterable[Batch]:
    """Turn either accepted data format into an iterable of ``(inputs, targets)``."""
    if _is_tensor_pair(data):
        X = data[0]
        if X.dim() < 2:
            raise ValueError(f"{name}: X must be (T, N, ...) or (N, T, ...), got {tuple(X.shape)}")
        if batch_size is None:  # one batch holding everything
            batch_size = X.shape[0 if batch_first else 1]
        check_positive_int("batch_size", batch_size)
        return _tensor_batches(
            data,
            batch_size,
            shuffle=shuffle,
            generator=generator,
            batch_first=batch_first,
            target_batch_dim=target_batch_dim,
        )
    if isinstance(data, Iterator):
        raise TypeError(
            f"{name}: an iterator can be read only once; pass a list of (inputs, targets) "
            "pairs, a DataLoader, or an (X, y) tuple of tensors"
        )
    if not isinstance(data, Iterable):
        raise TypeError(f"{name}: expected (X, y) tensors or an iterable of (inputs, targets)")
    return cast(Iterable[Batch], data)  # not an (X, y) pair, so an iterable of batches


def _to(obj: Any, device: torch.device) -> Any:
    """Move a tensor, or each tensor of a tuple/list, to ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, tuple | list):
        return type(obj)(_to(o, device) for o in obj)
    return obj


def _forward(model: nn.Module, inputs: Any) -> Any:
    return model(*inputs) if isinstance(inputs, tuple | list) else model(inputs)


def _model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _grad_norm(params: list[torch.nn.Parameter]) -> torch.Tensor:
    r"""Total L2 norm :math:`\sqrt{\sum_p \lVert \nabla p \rVert^2}` over all gradients."""
    norms = [p.grad.detach().norm(2) for p in params if p.grad is not None]
    if not norms:
        return torch.tensor(0.0)
    return torch.linalg.vector_norm(torch.stack(norms), 2)


def _make_optimizer(
    optimizer: str | torch.optim.Optimizer, params: list[torch.nn.Parameter], lr: float
) -> torch.optim.Optimizer:
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    check_choice("optimizer", optimizer, list(_OPTIMIZERS))
    return _OPTIMIZERS[optimizer](params, lr=lr)


# --------------------------------------------------------------------------------------
# Evaluation and training
# --------------------------------------------------------------------------------------


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: Data,
    loss_fn: Callable[[Any, torch.Tensor], torch.Tensor],
    *,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    batch_first: bool = False,
    target_batch_dim: int | None = None,
) -> float:
    r"""Mean loss of ``model`` over ``data``, without gradients, in evaluation mode.

    .. math::
        \bar L = \frac{\sum_b n_b L_b}{\sum_b n_b}

    where :math:`L_b` is ``loss_fn`` on batch :math:`b` (a mean over its items) and
    :math:`n_b` its number of sequences, so the result does not depend on ``batch_size``
    for mean-reduced losses. The model's train/eval mode is restored afterwards.

    Args:
        model: returns the prediction from ``model(inputs)``.
        data: ``(X, y)`` tensors or an iterable of ``(inputs, targets)``
            (see the module docstring).
        loss_fn: ``loss_fn(prediction, targets) -> scalar`` (e.g. ``nn.MSELoss()``).
        batch_size: mini-batch size for tensor data; ``None`` means one batch.
        device: where to compute; ``None`` keeps the model's device.
        batch_first: ``X`` is ``(N, T, ...)``.
        target_batch_dim: batch dimension of ``y`` if it cannot be inferred.

    Returns:
        The mean loss as a float (``nan`` if any batch gave ``nan``).
    """
    device = _model_device(model) if device is None else choose_device(device)
    model.to(device)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        batches = _batches(
            data, batch_size, batch_first=batch_first, target_batch_dim=target_batch_dim
        )
        for inputs, targets in batches:
            inputs, targets = _to(inputs, device), _to(targets, device)
            n = _batch_len(inputs, batch_first)
            total += float(loss_fn(_forward(model, inputs), targets)) * n
            count += n
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("data: contains no batches")
    return total / count


def _batch_len(inputs: Any, batch_first: bool) -> int:
    """Number of sequences in a batch (dim 1 of time-major inputs)."""
    x = inputs[0] if isinstance(inputs, tuple | list) else inputs
    if x.dim() < 2:
        return 1
    return x.shape[0] if batch_first else x.shape[1]


def fit(
    model: nn.Module,
    train_data: Data,
    loss_fn: Callable[[Any, torch.Tensor], torch.Tensor],
    *,
    epochs: int,
    lr: float = 1e-3,
    optimizer: str | torch.optim.Optimizer = "adam",
    batch_size: int | None = 32,
    shuffle: bool = True,
    clip_norm: float | None = None,
    val_data: Data | None = None,
    device: str | torch.device | None = None,
    seed: int | None = None,
    progress: bool = True,
    log_grad_norm: bool = True,
    batch_first: bool = False,
    target_batch_dim: int | None = None,
) -> History:
    r"""Train ``model`` with mini-batch gradient descent and return what happened.

    One optimizer step per mini-batch:

    .. math::
        g = \nabla_\theta L_b, \qquad
        g \leftarrow g \cdot \min\!\left(1, \frac{c}{\lVert g \rVert}\right), \qquad
        \theta \leftarrow \text{optimizer}(\theta, g)

    where :math:`L_b` is ``loss_fn`` on the batch, :math:`\lVert g \rVert` the L2 norm of
    all gradients together (logged in ``History.grad_norm`` before clipping), and :math:`c`
    is ``clip_norm`` (no clipping when ``None``; done by chapter 5's
    :func:`rnncourse.gradients.clip_grad_norm_`, which matches
    ``torch.nn.utils.clip_grad_norm_``).

    If a loss or gradient norm is NaN or infinite, training stops at once, without applying
    that step, and the returned history has ``diverged=True``; the non-finite value is
    recorded in ``step_loss``/``grad_norm`` and the partial epoch's mean in ``train_loss``.

    Args:
        model: a module; ``model(inputs)`` (or ``model(*inputs)`` for a tuple) returns the
            prediction given to ``loss_fn``.
        train_data: ``(X, y)`` tensors, time-major, or an iterable of ``(inputs, targets)``
            pairs (see the module docstring for how batches are cut).
        loss_fn: ``loss_fn(prediction, targets) -> scalar``, e.g. ``nn.MSELoss()``.
        epochs: number of passes over ``train_data``.
        lr: learning rate (ignored when ``optimizer`` is an optimizer object).
        optimizer: ``"adam"``, ``"adamw"``, ``"sgd"``, ``"rmsprop"``, or a ready
            ``torch.optim.Optimizer`` over the model's parameters.
        batch_size: mini-batch size for tensor data (``None``: the whole set at once).
        shuffle: reshuffle tensor data every epoch.
        clip_norm: maximum total gradient norm :math:`c`, or ``None``.
        val_data: evaluated with :func:`evaluate` after every epoch, same formats.
        device: ``None`` keeps the model where it is; otherwise the model and each batch
            are moved there (e.g. ``device=choose_device()``).
        seed: if given, :func:`seed_everything` is called first and the shuffling
            generator is seeded with it, so two calls with the same seed (and a model
            initialised the same way) give the same history on the CPU.
        progress: show a tqdm progress bar over epochs (``tqdm.auto``).
        log_grad_norm: record the gradient norm of every step.
        batch_first: ``X`` is ``(N, T, ...)`` rather than ``(T, N, ...)``.
        target_batch_dim: batch dimension of ``y``, if it cannot be inferred.

    Returns:
        A :class:`History`.

    Examples::

        >>> from rnncourse.data import noisy_sine
        >>> x, y = noisy_sine(N=64, T=20, seed=0)  # (T, N, 1) each
        >>> model = nn.Linear(1, 1)  # applied at every step: (T, N, 1) -> (T, N, 1)
        >>> history = fit(model, (x, y), nn.MSELoss(), epochs=3, lr=1e-2, batch_size=16,
        ...               progress=False, seed=0)
        >>> history.epochs, len(history.grad_norm), history.diverged
        (3, 12, False)
    """
    check_positive_int("epochs", epochs)
    if not (isinstance(lr, int | float) and lr > 0):
        raise ValueError(f"lr: expected a positive number, got {lr!r}")
    if clip_norm is not None and not clip_norm > 0:
        raise ValueError(f"clip_norm: expected a positive number or None, got {clip_norm!r}")
    generator = None
    if seed is not None:
        seed_everything(seed)
        generator = torch.Generator().manual_seed(seed)

    device = _model_device(model) if device is None else choose_device(device)
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = _make_optimizer(optimizer, params, lr)
    history = History(device=str(device))
    start = time.perf_counter()

    bar = tqdm(range(epochs), desc="fit", unit="epoch", disable=not progress)
    for _epoch in bar:
        model.train()
        total, count = 0.0, 0
        batches = _batches(
            train_data,
            batch_size,
            shuffle=shuffle,
            generator=generator,
            batch_first=batch_first,
            target_batch_dim=target_batch_dim,
            name="train_data",
        )
        for inputs, targets in batches:
            inputs, targets = _to(inputs, device), _to(targets, device)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(_forward(model, inputs), targets)
            n = _batch_len(inputs, batch_first)
            loss_value = loss.item()
            total, count = total + loss_value * n, count + n
            history.step_loss.append(loss_value)
            if not math.isfinite(loss_value):
                history.diverged = True
                break
            loss.backward()
            if clip_norm is not None:
                # g <- g · min(1, c / ||g||); returns ||g|| before clipping
                norm = clip_grad_norm_(params, clip_norm)
            else:
                norm = _grad_norm(params)
            if log_grad_norm:
                history.grad_norm.append(float(norm))
            if not math.isfinite(float(norm)):
                history.diverged = True
                break
            opt.step()
        history.train_loss.append(total / count if count else math.nan)
        if val_data is not None and not history.diverged:
            history.val_loss.append(
                evaluate(
                    model,
                    val_data,
                    loss_fn,
                    batch_size=batch_size,
                    batch_first=batch_first,
                    target_batch_dim=target_batch_dim,
                )
            )
        postfix = {"loss": f"{history.train_loss[-1]:.4g}"}
        if history.val_loss:
            postfix["val"] = f"{history.val_loss[-1]:.4g}"
        bar.set_postfix(postfix)
        if history.diverged:
            break
    bar.close()
    history.seconds = time.perf_counter() - start
    return history
