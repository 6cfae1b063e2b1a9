"""rnncourse.speech: eSpeak NG synthesis, the mel filter bank, log-mel features, the data set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rnncourse import speech
from rnncourse.speech import (
    SAMPLE_RATE,
    VOICES,
    add_noise,
    digits_to_labels,
    hz_to_mel,
    labels_to_text,
    log_mel,
    mel_filterbank,
    mel_to_hz,
    spoken_digits,
    synthesize,
)


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNCOURSE_CACHE", str(tmp_path))
    return tmp_path / "speech"


# ----------------------------------------------------------------------------- labels


def test_labels_round_trip():
    assert digits_to_labels("3071") == [4, 1, 8, 2]
    assert labels_to_text([4, 1, 8, 2]) == "three zero seven one"
    assert labels_to_text(digits_to_labels("0123456789")).split() == list(speech.DIGIT_WORDS)
    for bad in ("", "3a", "٣"):
        with pytest.raises(ValueError):
            digits_to_labels(bad)
    for bad in ([0], [11]):
        with pytest.raises(ValueError):
            labels_to_text(bad)


# ----------------------------------------------------------------------------- synthesis


def test_synthesize_is_audio_and_deterministic():
    a = synthesize("three seven", "en+m1", 175, 50)
    b = synthesize("three seven", "en+m1", 175, 50)
    assert a.dtype == np.float32 and a.ndim == 1
    assert 0.3 * SAMPLE_RATE < a.size < 3 * SAMPLE_RATE
    assert 0.05 < np.abs(a).max() <= 1.0
    np.testing.assert_array_equal(a, b)


def test_voices_speeds_and_pitches_differ():
    base = synthesize("four", VOICES[0], 175, 50)
    for other in (
        synthesize("four", VOICES[1], 175, 50),
        synthesize("four", VOICES[0], 175, 80),
    ):
        n = min(base.size, other.size)
        assert other.size != base.size or not np.allclose(base[:n], other[:n])
    slow = synthesize("four five six", VOICES[0], 120, 50)
    fast = synthesize("four five six", VOICES[0], 220, 50)
    assert slow.size > 1.3 * fast.size


def test_every_voice_is_known():
    for v in VOICES:
        assert synthesize("one", v).size > 0
    with pytest.raises(ValueError, match="voice"):
        synthesize("one", "no-such-voice")


def test_add_noise_snr():
    wave = synthesize("eight", VOICES[2])
    noisy = add_noise(wave, 10.0, seed=1)
    np.testing.assert_array_equal(noisy, add_noise(wave, 10.0, seed=1))
    noise = noisy.astype(np.float64) - wave
    snr = 10 * np.log10(np.mean(wave.astype(np.float64) ** 2) / np.mean(noise**2))
    assert abs(snr - 10.0) < 0.3


# ----------------------------------------------------------------------------- features


def test_mel_scale_inverse():
    f = np.array([0.0, 100.0, 1000.0, 8000.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(f)), f, atol=1e-9)
    assert abs(hz_to_mel(1000.0) - 1000.0) < 0.1  # the scale is anchored at 1000 Hz = 1000 mel


def test_mel_filterbank_shape_peaks_and_sums():
    n_mels, n_fft = 40, 512
    bank = mel_filterbank(n_mels, n_fft, SAMPLE_RATE).numpy()
    assert bank.shape == (n_mels, n_fft // 2 + 1)
    assert (bank >= 0).all() and (bank <= 1 + 1e-6).all()
    # every triangle is non-empty and peaks close to 1, at increasing frequencies
    assert (bank.max(axis=1) > 0.5).all()
    peaks = bank.argmax(axis=1)
    assert (np.diff(peaks) >= 0).all() and peaks[-1] > peaks[0]
    # the bandwidths (row sums) grow with frequency: the mel scale is compressive
    sums = bank.sum(axis=1)
    assert sums[-1] > 5 * sums[0]
    # the triangles overlap so as to sum to 1 between the first and the last centre
    edges = mel_to_hz(np.linspace(0, hz_to_mel(SAMPLE_RATE / 2), n_mels + 2))
    freqs = np.arange(n_fft // 2 + 1) * SAMPLE_RATE / n_fft
    inside = (freqs >= edges[1]) & (freqs <= edges[-2])
    np.testing.assert_allclose(bank[:, inside].sum(axis=0), 1.0, atol=1e-5)


def test_mel_filterbank_tone_lands_in_its_band():
    bank = mel_filterbank(40, 512, SAMPLE_RATE)
    t = np.arange(SAMPLE_RATE // 2) / SAMPLE_RATE
    for hz in (300.0, 1000.0, 4000.0):
        feats = log_mel(np.sin(2 * np.pi * hz * t).astype(np.float32))
        band = int(feats.mean(0).argmax())
        centre = mel_to_hz(np.linspace(0, hz_to_mel(SAMPLE_RATE / 2), 42))[band + 1]
        assert abs(hz_to_mel(centre) - hz_to_mel(hz)) < 2 * (hz_to_mel(SAMPLE_RATE / 2) / 41)
    with pytest.raises(ValueError, match="empty"):
        mel_filterbank(200, 256, SAMPLE_RATE)
    assert bank.dtype == torch.float32


def test_log_mel_shape():
    wave = synthesize("two", VOICES[3])
    feats = log_mel(wave, n_mels=32, hop_length=256)
    assert feats.shape == (1 + wave.size // 256, 32)
    assert feats.dtype == torch.float32 and torch.isfinite(feats).all()
    with pytest.raises(ValueError):
        log_mel(np.zeros((2, 10), np.float32))


# ----------------------------------------------------------------------------- data set


def test_spoken_digits_shapes_labels_and_voices(tmp_cache):
    feats, labels, voice_ids = spoken_digits(24, seed=3, voices=[1, 4, 7], cache=False)
    assert len(feats) == len(labels) == len(voice_ids) == 24
    assert set(voice_ids) <= {1, 4, 7}
    for f, lab in zip(feats, labels, strict=True):
        assert f.ndim == 2 and f.shape[1] == 40 and f.dtype == torch.float32
        assert 1 <= len(lab) <= 4 and all(1 <= x <= 10 for x in lab)
        assert f.shape[0] >= 2 * len(lab) + 1  # long enough for any CTC alignment
    assert {len(lab) for lab in labels} == {1, 2, 3, 4}
    assert not tmp_cache.exists()


def test_spoken_digits_labels_match_the_spoken_text():
    """Labels are the digits that were spoken: rebuild utterance 0 by hand."""
    feats, labels, voice_ids = spoken_digits(3, seed=5, cache=False)
    rng, digits, voice, rate, pitch, snr = speech._utterance(
        0, 5, range(len(VOICES)), 1, 4, (10, 30)
    )
    assert labels[0] == digits_to_labels(digits) and voice_ids[0] == voice
    wave = add_noise(synthesize(labels_to_text(labels[0]), VOICES[voice], rate, pitch), snr, rng)
    torch.testing.assert_close(feats[0], log_mel(wave))


def test_spoken_digits_seeded_prefix_and_cached(tmp_cache):
    a = spoken_digits(10, seed=0)
    assert len(list(tmp_cache.glob("*.pt"))) == 1
    b = spoken_digits(10, seed=0)  # read back from the cache
    c = spoken_digits(6, seed=0, cache=False)
    d = spoken_digits(10, seed=1, cache=False)
    for x, y in zip(a[0], b[0], strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    assert a[1] == b[1] and a[2] == b[2]
    assert a[1][:6] == c[1] and all(torch.equal(x, y) for x, y in zip(a[0], c[0], strict=False))
    assert a[1] != d[1]


def test_spoken_digits_rejects_bad_arguments():
    with pytest.raises(ValueError):
        spoken_digits(0)
    with pytest.raises(ValueError):
        spoken_digits(2, voices=[len(VOICES)])
    with pytest.raises(ValueError):
        spoken_digits(2, min_len=3, max_len=2)


def test_load_spoken_digits_shapes_padding_and_held_out_voices():
    """Are the shipped splits shaped as documented, zero past each end, in disjoint voices?"""
    from rnncourse.speech import load_spoken_digits

    path = Path(speech.__file__).with_name("datasets") / "spoken_digits.npz"
    with np.load(path) as data:
        assert set(data["train_voices"]) == set(range(9))
        assert set(data["test_voices"]) == {9, 10, 11}
    for split, n in (("train", 800), ("test", 300)):
        x, lengths, labels, label_lengths = load_spoken_digits(split)
        assert x.dtype == torch.float32 and x.shape == (int(lengths.max()), n, 40)
        assert labels.shape == (n, 4) and label_lengths.shape == (n,) and lengths.shape == (n,)
        steps = torch.arange(x.shape[0])[:, None]  # (T, 1)
        assert (x[steps >= lengths] == 0).all() and x[steps < lengths].abs().sum() > 0
        filled = torch.arange(4) < label_lengths[:, None]  # (N, 4)
        assert ((labels >= 1) & (labels <= 10))[filled].all() and (labels[~filled] == 0).all()
        assert ((label_lengths >= 1) & (label_lengths <= 4)).all()
    with pytest.raises(ValueError, match="split"):
        load_spoken_digits("valid")
