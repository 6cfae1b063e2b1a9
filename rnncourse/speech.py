r"""Spoken digit strings, made offline: backs the speech-recognition chapter (CTC).

The audio is real audio, synthesised on the learner's machine by the eSpeak NG formant
synthesiser (shipped as a shared library with its voice data by the PyPI package
``espeakng-loader``; eSpeak NG is GPL-3.0 and is only *run*, never copied into the course;
the generated waveforms are ours). Nothing is downloaded.

* :func:`synthesize` speaks a text in one voice, speed (words per minute) and pitch and
  returns a float waveform at :data:`SAMPLE_RATE` Hz; :func:`add_noise` adds seeded white
  noise at a given signal-to-noise ratio.
* :func:`mel_filterbank` builds the triangular mel filter bank and :func:`log_mel` turns a
  waveform into a log-mel spectrogram ``(frames, n_mels)`` with :func:`torch.stft`.
* :func:`spoken_digits` makes a seeded data set of digit strings of length 1-4 in the voices
  of :data:`VOICES`, as (features, label sequences, voice ids), cached on disk under
  ``$RNNCOURSE_CACHE/speech`` (default ``~/.cache/rnncourse/speech``) so that a second call
  only reads a file.
* :func:`load_spoken_digits` reads the fixed set that ships with the package (made by
  ``tools/make_spoken_digits.py``), for the graded training task of exercise 8b: no eSpeak
  needed.

Labels follow :mod:`rnncourse.ctc`: ``BLANK = 0``, digit ``d`` is label ``d + 1`` (so the
labels are 1..10 for the digits 0..9). Provenance and licences: ``rnncourse/datasets/README.md``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnncourse._checks import check_positive_int

__all__ = [
    "SAMPLE_RATE",
    "BLANK",
    "DIGIT_WORDS",
    "VOICES",
    "digits_to_labels",
    "labels_to_text",
    "synthesize",
    "add_noise",
    "hz_to_mel",
    "mel_to_hz",
    "mel_filterbank",
    "log_mel",
    "cache_dir",
    "spoken_digits",
    "load_spoken_digits",
]

SAMPLE_RATE = 22050
"""eSpeak NG's output rate (Hz); :func:`synthesize` returns audio at this rate."""

BLANK = 0
"""The CTC blank label; digit ``d`` is label ``d + 1``."""

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
"""The words spoken for the digits 0..9."""

VOICES = (
    "en+m1",
    "en+f1",
    "en-us+m3",
    "en-us+f2",
    "en-gb-scotland+m2",
    "en-gb-x-rp+f3",
    "en-029+m4",
    "en-us+f4",
    "en-gb-x-gbclan+m5",
    "en+f5",
    "en-us-nyc+m6",
    "en-gb-x-rp+m7",
)
"""eSpeak NG voices ``language+variant``: five accents of English times male/female variants.
A voice id is an index into this tuple."""

_CACHE_VERSION = 1


def digits_to_labels(digits: str) -> list[int]:
    """``"307"`` -> ``[4, 1, 8]``: digit ``d`` is label ``d + 1`` (0 is the blank).

    Examples::

        >>> digits_to_labels("307")
        [4, 1, 8]
    """
    if not digits or not digits.isdigit() or not digits.isascii():
        raise ValueError(f"digits: expected a non-empty string of 0-9, got {digits!r}")
    return [int(c) + 1 for c in digits]


def labels_to_text(labels: Sequence[int]) -> str:
    """``[4, 1, 8]`` -> ``"three zero seven"`` (the words eSpeak was asked to speak).

    Examples::

        >>> labels_to_text([4, 1, 8])
        'three zero seven'
    """
    words = []
    for lab in labels:
        lab = int(lab)
        if not 1 <= lab <= 10:
            raise ValueError(f"labels: expected values in 1..10, got {lab}")
        words.append(DIGIT_WORDS[lab - 1])
    return " ".join(words)


# ----------------------------------------------------------------------------- synthesis


def _speak(requests: Sequence[tuple[str, str, int, int]]) -> list[np.ndarray]:
    """Speak ``(text, voice, rate, pitch)`` requests in one fresh eSpeak NG process.

    eSpeak NG seeds its noise generator per process and keeps state between utterances that
    re-initialising does not clear, so the same text would not give the same samples twice;
    a fresh worker process per batch (``_espeak_worker.py``), with the generator seeded
    before every request, makes the samples a function of the batch alone.
    """
    try:
        import espeakng_loader  # noqa: F401 - the worker needs it; fail early and clearly
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "rnncourse.speech needs the package espeakng-loader "
            "(pip install espeakng-loader==0.2.4)"
        ) from e
    worker = Path(__file__).with_name("_espeak_worker.py")
    payload = json.dumps([[t, v, int(r), int(p)] for t, v, r, p in requests]).encode()
    proc = subprocess.run(
        [sys.executable, str(worker)], input=payload, capture_output=True, check=False
    )
    if proc.returncode == 3:
        raise ValueError(f"voice: eSpeak NG does not know {proc.stderr.decode()!r}")
    if proc.returncode != 0:
        raise RuntimeError(f"eSpeak NG worker failed ({proc.returncode}): {proc.stderr.decode()}")
    out, pos, waves = proc.stdout, 0, []
    for _ in requests:
        n = int(np.frombuffer(out, "<i8", 1, pos)[0])
        waves.append(np.frombuffer(out, "<i2", n, pos + 8).astype(np.float32) / 32768.0)
        pos += 8 + 2 * n
    return waves


def _check_speech(text: str, rate: int, pitch: int) -> None:
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text: expected a non-empty string, got {text!r}")
    if not 80 <= int(rate) <= 450:
        raise ValueError(f"rate: expected 80..450 words per minute, got {rate}")
    if not 0 <= int(pitch) <= 100:
        raise ValueError(f"pitch: expected 0..100, got {pitch}")


def synthesize(text: str, voice: str = "en", rate: int = 175, pitch: int = 50) -> np.ndarray:
    """Speak ``text`` with eSpeak NG; return a float32 waveform in [-1, 1] at 22,050 Hz.

    ``voice`` is an eSpeak NG voice name, optionally with a variant (``"en-us+f2"``);
    ``rate`` is the speed in words per minute (80-450, eSpeak's default 175); ``pitch`` is
    0-100 (default 50). Each call runs eSpeak in a fresh process (about 0.1 s), so the same
    arguments always give the same samples.
    """
    _check_speech(text, rate, pitch)
    return _speak([(text, voice, int(rate), int(pitch))])[0]


def add_noise(wave: np.ndarray, snr_db: float, seed: int | np.random.Generator = 0) -> np.ndarray:
    """``wave`` plus white Gaussian noise at ``snr_db`` dB signal-to-noise ratio (seeded)."""
    rng = np.random.default_rng(seed)
    wave = np.asarray(wave, dtype=np.float32)
    power = float(np.mean(wave.astype(np.float64) ** 2)) if wave.size else 0.0
    sigma = math.sqrt(power / 10 ** (snr_db / 10))
    return (wave + sigma * rng.standard_normal(wave.shape)).astype(np.float32)


# ----------------------------------------------------------------------------- features


def hz_to_mel(f: Any) -> Any:
    r"""The HTK mel scale :math:`m = 2595 \log_{10}(1 + f / 700)` (Hz to mel)."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: Any) -> Any:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(
    n_mels: int = 40,
    n_fft: int = 512,
    sample_rate: int = SAMPLE_RATE,
    f_min: float = 0.0,
    f_max: float | None = None,
) -> Tensor:
    r"""Triangular mel filter bank, a float32 tensor ``(n_mels, n_fft // 2 + 1)``.

    ``n_mels + 2`` points are spaced evenly on the mel scale from ``f_min`` to ``f_max``
    (default: the Nyquist frequency ``sample_rate / 2``) and mapped back to Hz:
    :math:`f_0 < f_1 < \dots < f_{M+1}`. Filter :math:`m` (row ``m - 1``) is the triangle
    that rises linearly from 0 at :math:`f_{m-1}` to 1 at its centre :math:`f_m` and falls
    back to 0 at :math:`f_{m+1}`, sampled at the FFT bin frequencies
    :math:`k \cdot \text{sample\_rate} / \text{n\_fft}`. Neighbouring triangles overlap so
    that the filters sum to 1 at every frequency between the first and the last centre:
    the bank redistributes the spectrum's energy without reweighting it (no area
    normalisation). Each row multiplies a power spectrum to give that band's energy.
    """
    check_positive_int("n_mels", n_mels)
    check_positive_int("n_fft", n_fft)
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(
            f"expected 0 <= f_min < f_max <= sample_rate / 2, got {f_min}, {f_max}, {sample_rate}"
        )
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    bins = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    lo, centre, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lo) / (centre - lo)
    falling = (hi - bins) / (hi - centre)
    bank = np.clip(np.minimum(rising, falling), 0.0, None)
    if (bank.max(axis=1) == 0).any():
        raise ValueError(f"n_mels={n_mels} is too many for n_fft={n_fft}: some filters are empty")
    return torch.from_numpy(bank.astype(np.float32))


def log_mel(
    wave: np.ndarray | Tensor,
    sample_rate: int = SAMPLE_RATE,
    n_fft: int = 512,
    hop_length: int = 220,
    n_mels: int = 40,
    eps: float = 1e-6,
) -> Tensor:
    r"""Log-mel spectrogram of a 1-D waveform: a float32 tensor ``(frames, n_mels)``.

    :func:`torch.stft` with a Hann window of ``n_fft`` samples every ``hop_length`` samples
    (defaults: 23 ms windows every 10 ms at 22,050 Hz, centred, so ``frames =
    1 + len(wave) // hop_length``), the power spectrum :math:`|X_t(k)|^2`, the
    :func:`mel_filterbank` energies, then :math:`\log(\cdot + \epsilon)`. Time comes first,
    as the recurrent networks of the course expect.
    """
    x = torch.as_tensor(
        np.asarray(wave, dtype=np.float32) if not isinstance(wave, Tensor) else wave
    )
    if x.ndim != 1 or x.numel() == 0:
        raise ValueError(f"wave: expected a non-empty 1-D waveform, got shape {tuple(x.shape)}")
    spec = torch.stft(
        x.float(),
        n_fft=n_fft,
        hop_length=hop_length,
        window=torch.hann_window(n_fft),
        center=True,
        return_complex=True,
    )
    power = spec.abs() ** 2  # (n_fft // 2 + 1, frames)
    mel = mel_filterbank(n_mels, n_fft, sample_rate) @ power
    return torch.log(mel + eps).T.contiguous()


# ----------------------------------------------------------------------------- data set


def cache_dir() -> Path:
    """Where :func:`spoken_digits` caches: ``$RNNCOURSE_CACHE/speech``, default
    ``~/.cache/rnncourse/speech``."""
    root = os.environ.get("RNNCOURSE_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "rnncourse"
    return base / "speech"


def _utterance(i: int, seed: int, voices: Sequence[int], min_len: int, max_len: int, snr):
    """The random choices for utterance ``i``: its own generator, so a prefix is stable."""
    rng = np.random.default_rng([seed, i])
    length = int(rng.integers(min_len, max_len + 1))
    digits = "".join(str(d) for d in rng.integers(0, 10, size=length))
    voice = int(voices[int(rng.integers(len(voices)))])
    rate = int(rng.integers(130, 211))
    pitch = int(rng.integers(25, 76))
    snr_db = float(rng.uniform(*snr))
    return rng, digits, voice, rate, pitch, snr_db


def spoken_digits(
    n: int,
    seed: int = 0,
    voices: Sequence[int] | None = None,
    min_len: int = 1,
    max_len: int = 4,
    snr_db: tuple[float, float] = (10.0, 30.0),
    n_mels: int = 40,
    hop_length: int = 220,
    n_fft: int = 512,
    cache: bool = True,
) -> tuple[list[Tensor], list[list[int]], list[int]]:
    """``n`` spoken digit strings as ``(features, labels, voice_ids)``.

    Utterance ``i`` draws, from its own generator seeded with ``(seed, i)``: a string of
    ``min_len``-``max_len`` digits, a voice from ``voices`` (indices into :data:`VOICES`,
    default all), a speed of 130-210 words per minute, a pitch of 25-75 and a noise level
    uniform in ``snr_db``. It is spoken by :func:`synthesize` (digits as words, ``"3 0"``
    as ``"three zero"``), noise is added (:func:`add_noise`) and :func:`log_mel` makes the
    features.

    * ``features``: ``n`` float32 tensors ``(T_i, n_mels)`` (``T_i`` varies);
    * ``labels``: ``n`` lists of ints in 1..10 (digit ``d`` is ``d + 1``; 0 is the blank);
    * ``voice_ids``: ``n`` ints, indices into :data:`VOICES` (split by these for held-out
      speakers).

    The same arguments give the same data; ``spoken_digits(m, ...)`` for ``m < n`` is a
    prefix of ``spoken_digits(n, ...)`` (all utterances of one call are spoken by one eSpeak
    process, in order, so an utterance's samples may depend on the ones before it). With
    ``cache=True`` the result is stored in :func:`cache_dir` (a few MB) and read back by
    the next identical call.
    """
    check_positive_int("n", n)
    check_positive_int("max_len", max_len)
    check_positive_int("min_len", min_len)
    if min_len > max_len:
        raise ValueError(f"expected min_len <= max_len, got {min_len} > {max_len}")
    voices = list(range(len(VOICES))) if voices is None else [int(v) for v in voices]
    if not voices or not all(0 <= v < len(VOICES) for v in voices):
        raise ValueError(
            f"voices: expected indices into VOICES (0..{len(VOICES) - 1}), got {voices}"
        )
    key = json.dumps(
        {
            "v": _CACHE_VERSION,
            "n": n,
            "seed": int(seed),
            "voices": voices,
            "len": [min_len, max_len],
            "snr": [float(s) for s in snr_db],
            "feat": [n_mels, hop_length, n_fft],
        },
        sort_keys=True,
    )
    path = cache_dir() / f"digits-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"
    if cache and path.exists():
        try:
            stored = torch.load(path, weights_only=True)
            if stored["key"] == key:
                feats = list(torch.split(stored["features"], stored["lengths"].tolist()))
                return feats, stored["labels"], stored["voice_ids"]
        except Exception:  # noqa: BLE001 - a corrupt cache file is simply rebuilt
            pass

    plans = [_utterance(i, int(seed), voices, min_len, max_len, snr_db) for i in range(n)]
    waves = _speak(
        [(labels_to_text(digits_to_labels(d)), VOICES[v], r, p) for _, d, v, r, p, _ in plans]
    )
    features, labels, voice_ids = [], [], []
    for (rng, digits, voice, _, _, snr), wave in zip(plans, waves, strict=True):
        features.append(log_mel(add_noise(wave, snr, rng), SAMPLE_RATE, n_fft, hop_length, n_mels))
        labels.append(digits_to_labels(digits))
        voice_ids.append(voice)

    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save(
            {
                "key": key,
                "features": torch.cat(features),
                "lengths": torch.tensor([len(f) for f in features]),
                "labels": labels,
                "voice_ids": voice_ids,
            },
            tmp,
        )
        os.replace(tmp, path)
    return features, labels, voice_ids


def load_spoken_digits(split: str = "train") -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The shipped spoken-digit set: ``(features, lengths, labels, label_lengths)``.

    ``split="train"``: 800 utterances in voices 0-8 of :data:`VOICES`; ``split="test"``: 300
    utterances in the unseen voices 9-11. Each is 1-4 digits, 40 log-mel bands every 20 ms,
    stored as 8-bit codes and decoded here (provenance: ``rnncourse/datasets/README.md``).

    * ``features``: float32 ``(T, N, 40)``, time-major, zero after each utterance's end;
    * ``lengths``: int64 ``(N,)``, frames per utterance (``T`` is the longest);
    * ``labels``: int64 ``(N, 4)``, digit ``d`` as ``d + 1``, 0 after the end;
    * ``label_lengths``: int64 ``(N,)``, digits per utterance.

    Examples::

        >>> x, lengths, labels, label_lengths = load_spoken_digits("test")
        >>> x.shape[1:], labels.shape
        (torch.Size([300, 40]), torch.Size([300, 4]))
    """
    if split not in ("train", "test"):
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    path = Path(__file__).with_name("datasets") / "spoken_digits.npz"
    with np.load(path) as data:
        codes = data[f"{split}_codes"]
        scale, offset = float(data["scale"]), float(data["offset"])
        lengths = torch.from_numpy(data[f"{split}_lengths"].astype(np.int64))
        labels = torch.from_numpy(data[f"{split}_labels"].astype(np.int64))
        label_lengths = torch.from_numpy(data[f"{split}_label_lengths"].astype(np.int64))
    values = torch.from_numpy(codes.astype(np.float32) * scale + offset)  # (sum T_n, 40)
    parts = torch.split(values, lengths.tolist())
    features = torch.nn.utils.rnn.pad_sequence(list(parts))  # (T, N, 40)
    return features, lengths, labels, label_lengths
