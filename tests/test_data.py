"""Tests for rnncourse.data: seeded generators, windows, vocabularies and shipped data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnncourse import data
from rnncourse.data import (
    BOS,
    EOS,
    FIRST_SYMBOL,
    PAD,
    UNK,
    CharVocab,
    WordVocab,
    adding_problem,
    ar_series,
    copy_task,
    load_co2,
    load_sonnets,
    load_sunspots,
    noisy_sine,
    pad_sequences,
    reverse_task,
    sliding_windows,
    sort_task,
    standardize,
    toy_sentiment,
    train_test_split_series,
)


def _same(a, b) -> bool:
    """Are two outputs (tensors, tuples of tensors, lists) identical?"""
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


GENERATORS = {
    "adding_problem": lambda seed: adding_problem(8, 12, seed=seed),
    "copy_task": lambda seed: copy_task(8, 6, 10, seed=seed, min_len=2),
    "reverse_task": lambda seed: reverse_task(8, 6, 10, seed=seed),
    "sort_task": lambda seed: sort_task(8, 6, 10, seed=seed),
    "noisy_sine": lambda seed: noisy_sine(8, 12, seed=seed),
    "ar_series": lambda seed: ar_series(50, [0.5], 1.0, seed=seed),
    "toy_sentiment": lambda seed: toy_sentiment(20, seed=seed),
}


@pytest.mark.parametrize("name", list(GENERATORS))
def test_generators_are_deterministic_under_a_seed(name):
    """Does the same seed give the same data, and a different seed different data?"""
    make = GENERATORS[name]
    assert _same(make(0), make(0))
    assert not _same(make(0), make(1))


def test_generator_object_is_accepted_and_advanced():
    """Does passing one numpy Generator to two calls give two different draws?"""
    rng = np.random.default_rng(0)
    x1, _ = adding_problem(4, 10, seed=rng)
    x2, _ = adding_problem(4, 10, seed=rng)
    assert not torch.equal(x1, x2)
    assert torch.equal(adding_problem(4, 10, seed=np.random.default_rng(0))[0], x1)


@pytest.mark.parametrize("T", [2, 3, 10, 101])
def test_adding_problem_shapes_and_markers(T):
    """Are there exactly two markers, one in each half, and is y their values' sum?"""
    N = 64
    x, y = adding_problem(N, T, seed=3)
    assert x.shape == (T, N, 2) and y.shape == (N, 1)
    markers = x[..., 1]
    assert set(markers.unique().tolist()) <= {0.0, 1.0}
    assert (markers.sum(0) == 2).all()
    assert (markers[: T // 2].sum(0) == 1).all() and (markers[T // 2 :].sum(0) == 1).all()
    expected = (x[..., 0] * markers).sum(0, keepdim=True).T
    torch.testing.assert_close(y, expected)
    assert ((x[..., 0] >= 0) & (x[..., 0] < 1)).all()


def test_adding_problem_batch_first():
    """Is batch_first the same data with the first two axes swapped?"""
    x, y = adding_problem(5, 7, seed=1)
    xb, yb = adding_problem(5, 7, seed=1, batch_first=True)
    assert xb.shape == (5, 7, 2)
    assert torch.equal(xb, x.transpose(0, 1)) and torch.equal(yb, y)


def test_adding_problem_constant_baseline_mse_is_one_sixth():
    """Does always predicting 1 give MSE 1/6 (Var of a sum of two U(0,1))?

    S - 1 is triangular on [-1, 1], so Var((S-1)^2) = E(S-1)^4 - (1/6)^2 = 1/15 - 1/36 = 7/180;
    with n = 200,000 the standard error of the MSE estimate is sqrt(7/180 / n) = 4.4e-4 and
    the tolerance 3e-3 is about 7 standard errors.
    """
    _, y = adding_problem(200_000, 2, seed=0, dtype=torch.float64)
    mse = float(((y - 1.0) ** 2).mean())
    assert abs(mse - 1 / 6) < 3e-3
    assert abs(float(y.mean()) - 1.0) < 5e-3


def test_adding_problem_rejects_bad_arguments():
    """Do a too-short T and a non-positive N raise ValueError naming the argument?"""
    with pytest.raises(ValueError, match="^T: expected at least 2"):
        adding_problem(4, 1)
    with pytest.raises(ValueError, match="^N: expected a positive int"):
        adding_problem(0, 5)
    with pytest.raises(TypeError, match="seed"):
        adding_problem(4, 5, seed=1.5)


@pytest.mark.parametrize("task", [copy_task, reverse_task, sort_task])
def test_symbol_tasks_shapes_symbols_and_padding(task):
    """Do the seq2seq tasks use symbols >= FIRST_SYMBOL, PAD after each end, (T, N) layout?"""
    src, tgt, lengths = task(50, 9, n_symbols=5, seed=0, min_len=3)
    assert src.shape == tgt.shape == (9, 50) and lengths.shape == (50,)
    assert src.dtype == tgt.dtype == torch.int64
    assert lengths.min() >= 3 and lengths.max() <= 9 and len(lengths.unique()) > 1
    for i, length in enumerate(lengths.tolist()):
        body = src[:length, i]
        assert ((body >= FIRST_SYMBOL) & (body < FIRST_SYMBOL + 5)).all()
        assert (src[length:, i] == PAD).all() and (tgt[length:, i] == PAD).all()
    src_b, _, _ = task(50, 9, n_symbols=5, seed=0, min_len=3, batch_first=True)
    assert torch.equal(src_b, src.T)


def test_symbol_task_targets():
    """Is the copy target the source, the reverse target the flipped source, the sort
    target the sorted source, within each sequence's length?"""
    kwargs = {"N": 20, "T": 7, "n_symbols": 10, "seed": 5, "min_len": 1}
    for task, transform in [
        (copy_task, lambda s: s),
        (reverse_task, lambda s: s.flip(0)),
        (sort_task, lambda s: s.sort().values),
    ]:
        src, tgt, lengths = task(**kwargs)
        for i, length in enumerate(lengths.tolist()):
            assert torch.equal(tgt[:length, i], transform(src[:length, i]))


def test_symbol_task_fixed_length_by_default():
    """Without min_len, does every sequence have length T and contain no PAD?"""
    src, _, lengths = copy_task(10, 6)
    assert (lengths == 6).all() and (src != PAD).all()


def test_noisy_sine_next_step_targets_and_noise_level():
    """Is y the next value of x, and is the residual around the sine of the stated size?"""
    x, y = noisy_sine(200, 50, seed=0, noise=0.1)
    assert x.shape == y.shape == (50, 200, 1)
    assert torch.equal(y[:-1], x[1:])
    clean_x, _ = noisy_sine(200, 50, seed=0, noise=0.0)
    # same seed: same periods and phases, so the difference is the noise
    residual = x - clean_x
    assert abs(float(residual.std()) - 0.1) < 0.01
    assert clean_x.abs().max() <= 1.0


def test_ar_series_recovers_its_coefficients():
    """Does least squares on the AR(2) output recover a_1, a_2 and the noise level?"""
    a = [0.6, -0.3]
    x = ar_series(20_000, a, noise=0.5, seed=0, dtype=torch.float64).numpy()
    design = np.stack([x[1:-1], x[:-2]], axis=1)  # (x_{t-1}, x_{t-2})
    coef, *_ = np.linalg.lstsq(design, x[2:], rcond=None)
    np.testing.assert_allclose(coef, a, atol=0.02)
    residual = x[2:] - design @ coef
    assert abs(residual.std() - 0.5) < 0.01


def test_sliding_windows_values_1d():
    """Does window m hold s[m:m+w] and its target s[m+w:m+w+h]?"""
    s = torch.arange(10.0)
    X, y = sliding_windows(s, window=4, horizon=2)
    M = 10 - 4 - 2 + 1
    assert X.shape == (4, M, 1) and y.shape == (M, 2)
    for m in range(M):
        assert torch.equal(X[:, m, 0], s[m : m + 4])
        assert torch.equal(y[m], s[m + 4 : m + 6])
    Xb, _ = sliding_windows(s, window=4, horizon=2, batch_first=True)
    assert torch.equal(Xb, X.transpose(0, 1))


def test_sliding_windows_multivariate():
    """Does a (T, F) series give X (w, M, F) and y (M, h, F) with matching values?"""
    s = torch.arange(24.0).reshape(12, 2)
    X, y = sliding_windows(s, window=3, horizon=1)
    assert X.shape == (3, 9, 2) and y.shape == (9, 1, 2)
    assert torch.equal(X[:, 5], s[5:8]) and torch.equal(y[5, 0], s[8])


def test_sliding_windows_too_short():
    """Does a series shorter than window + horizon raise ValueError?"""
    with pytest.raises(ValueError, match="series"):
        sliding_windows(torch.arange(4.0), window=4)


def test_train_test_split_series_is_chronological():
    """Is the split ordered (train first) and complete?"""
    s = torch.arange(100)
    train, test = train_test_split_series(s, 0.25)
    assert len(train) == 75 and len(test) == 25
    assert torch.equal(torch.cat([train, test]), s)
    with pytest.raises(ValueError, match="test_fraction"):
        train_test_split_series(s, 1.0)


def test_standardize_uses_reference_statistics():
    """Is the reference scaled to mean 0 / std 1, and other data with the reference's stats?"""
    train, test = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([5.0])
    z, mean, std = standardize(train)
    assert abs(float(z.mean())) < 1e-6 and abs(float(z.std()) - 1) < 1e-6
    z_test, mean_t, std_t = standardize(test, reference=train)
    assert (mean_t, std_t) == (mean, std) == (2.0, 1.0)
    assert float(z_test[0]) == 3.0


def test_toy_sentiment_labels_follow_negation_and_but():
    """Do labels match an independent re-derivation from the words?"""
    positive = {"good", "great", "excellent", "fun", "lovely", "brilliant", "tasty", "nice"}
    texts, labels = toy_sentiment(500, seed=2)
    assert labels.shape == (500,) and labels.dtype == torch.int64
    for text, label in zip(texts, labels.tolist(), strict=True):
        clause = text.split(" but ")[-1].split()
        expected = (clause[-1] in positive) != ("not" in clause)
        assert label == int(expected), text
    assert 0.35 < float(labels.float().mean()) < 0.65
    assert 0.3 < np.mean([" not " in t for t in texts]) < 0.6
    assert 0.2 < np.mean([" but " in t for t in texts]) < 0.4


def test_char_vocab_round_trip():
    """Does decode(encode(text)) give the text back, with specials first?"""
    text = load_sonnets()[:2000]
    vocab = CharVocab.build(text)
    assert vocab.itos[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    assert len(vocab) == 4 + len(set(text))
    ids = vocab.encode(text, add_bos=True, add_eos=True)
    assert ids.dtype == torch.int64 and ids[0] == BOS and ids[-1] == EOS
    assert vocab.decode(ids) == text
    assert vocab.encode("Z@")[1] == UNK  # '@' never occurs in the sonnets


def test_word_vocab_round_trip_and_order():
    """Does WordVocab lower-case, order by frequency and round-trip known words?"""
    vocab = WordVocab.build(["The film was good .", "the film was not good !"])
    assert vocab.itos[4:8] == ["film", "good", "the", "was"]
    ids = vocab.encode("the film was not good")
    assert vocab.decode(ids) == "the film was not good"
    assert vocab.decode(vocab.encode("the pasta")) == "the <unk>"
    assert vocab.decode(torch.tensor([BOS, 6, PAD, EOS])) == "the"
    small = WordVocab.build(["a a a b b c"], max_size=2)
    assert small.itos[4:] == ["a", "b"]
    assert len(WordVocab.build(["a a b"], min_freq=2)) == 5


def test_pad_sequences():
    """Are sequences padded with PAD to the longest one, and lengths returned?"""
    seqs = [torch.tensor([5, 6, 7]), torch.tensor([8]), torch.tensor([9, 10])]
    padded, lengths = pad_sequences(seqs)
    assert padded.shape == (3, 3) and lengths.tolist() == [3, 1, 2]
    assert padded.T.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    padded_b, _ = pad_sequences(seqs, batch_first=True)
    assert torch.equal(padded_b, padded.T)
    feats, _ = pad_sequences([torch.ones(2, 3), torch.ones(4, 3)], padding_value=-1.0)
    assert feats.shape == (4, 2, 3) and (feats[2:, 0] == -1).all()
    with pytest.raises(ValueError, match="sequences"):
        pad_sequences([torch.ones(2, 3), torch.ones(2, 4)])


def test_pad_sequences_matches_torch():
    """Does it agree with torch.nn.utils.rnn.pad_sequence?"""
    g = torch.Generator().manual_seed(0)
    seqs = [torch.randint(4, 20, (int(k),), generator=g) for k in [3, 7, 1, 5]]
    padded, _ = pad_sequences(seqs)
    assert torch.equal(padded, torch.nn.utils.rnn.pad_sequence(seqs, padding_value=PAD))


def test_load_sonnets():
    """Are there 154 sonnets with the documented length and line counts (99: 15, 126: 12)?"""
    text = load_sonnets()
    assert len(text) == 93_718 and text.count("\n") + 1 == 2_308
    assert "Gutenberg" not in text
    sonnets = load_sonnets(as_list=True)
    assert len(sonnets) == 154
    lines = [s.count("\n") + 1 for s in sonnets]
    assert lines[98] == 15 and lines[125] == 12
    assert all(k == 14 for i, k in enumerate(lines) if i not in (98, 125))
    assert sonnets[17].startswith("Shall I compare thee to a summer's day?")


def test_load_sunspots():
    """Are there 309 yearly values 1700-2008, no NaN, in the documented range?"""
    years, counts = load_sunspots()
    assert years.shape == counts.shape == (309,)
    assert torch.equal(years, torch.arange(1700, 2009))
    assert not counts.isnan().any()
    assert float(counts.min()) == 0.0 and abs(float(counts.max()) - 190.2) < 1e-4


def test_load_co2():
    """Are there 526 monthly values, no NaN, monotone time, and a rising trend?"""
    time, ppm = load_co2()
    assert time.shape == ppm.shape == (526,)
    assert not ppm.isnan().any()
    assert (time.diff() > 0).all()
    assert abs(float(time[0]) - (1958 + 2.5 / 12)) < 1e-9
    assert 310 < float(ppm[:12].mean()) < 320 and 365 < float(ppm[-12:].mean()) < 375


def test_datasets_are_small():
    """Is the shipped data under its budget: 0.2 MB of text series and sonnets, 1.8 MB for the
    spoken digits (8-bit log-mel codes of 1,100 noisy utterances, which do not compress)?"""
    from importlib import resources

    folder = resources.files("rnncourse") / "datasets"
    sizes = {f.name: f.stat().st_size for f in folder.iterdir()}  # type: ignore[attr-defined]
    speech = sizes.pop("spoken_digits.npz")
    assert speech < 1_800_000
    assert sum(sizes.values()) < 200_000


def test_module_exports_exist():
    """Does every name in data.__all__ exist?"""
    for name in data.__all__:
        assert hasattr(data, name), name


def test_sliding_windows_default_horizon_is_one_step():
    """Without ``horizon``, is the target the single next value (what the book's forecasting
    chapter and the sunspot benchmark rely on)?"""
    import inspect

    assert inspect.signature(sliding_windows).parameters["horizon"].default == 1
    s = torch.arange(10.0)
    X, y = sliding_windows(s, window=4)
    assert X.shape == (4, 6, 1)
    assert y.shape == (6, 1)
    torch.testing.assert_close(y[:, 0], s[4:])
    torch.testing.assert_close(y, sliding_windows(s, window=4, horizon=1)[1])


GENERATORS_WITH_DEVICE = {
    "adding_problem": lambda **kw: adding_problem(4, 6, **kw),
    "copy_task": lambda **kw: copy_task(4, 6, **kw),
    "noisy_sine": lambda **kw: noisy_sine(4, 6, **kw),
    "ar_series": lambda **kw: ar_series(20, [0.5], **kw),
    "toy_sentiment": lambda **kw: toy_sentiment(4, **kw)[1],
}


@pytest.mark.parametrize("name", GENERATORS_WITH_DEVICE)
def test_generators_put_the_same_values_on_any_device(name, device):
    """Does device= give the CPU's values on that device (drawn on the CPU, then moved)?"""
    make = GENERATORS_WITH_DEVICE[name]
    on_cpu = make(seed=5)
    on_device = make(seed=5, device=device)
    for a, b in zip(_tensors(on_cpu), _tensors(on_device), strict=True):
        assert b.device.type == device.type
        assert torch.equal(a, b.cpu())


@pytest.mark.parametrize("name", GENERATORS_WITH_DEVICE)
def test_generators_refuse_an_unknown_device_by_name(name):
    """Is device="gpu" a ValueError naming device, not torch's list of 20 device types?"""
    with pytest.raises(ValueError, match="^device: expected a device such as"):
        GENERATORS_WITH_DEVICE[name](device="gpu")


@pytest.mark.parametrize(
    "call",
    [
        lambda: adding_problem(4, 6, 0),
        lambda: copy_task(4, 6, 10, 0),
        lambda: noisy_sine(4, 6, 0),
        lambda: ar_series(20, [0.5], 1.0, 0),
        lambda: toy_sentiment(4, 0),
    ],
    ids=["adding_problem", "copy_task", "noisy_sine", "ar_series", "toy_sentiment"],
)
def test_seed_is_keyword_only(call):
    """Is a positional seed refused, so every call site reads seed=...?"""
    with pytest.raises(TypeError, match="positional argument"):
        call()


def _tensors(out) -> list[torch.Tensor]:
    return [out] if isinstance(out, torch.Tensor) else [t for t in out]
