"""Build ``rnncourse/datasets/spoken_digits.npz``, the spoken-digit set the ex08b grader trains on.

Run from the repository root (about a minute; eSpeak NG via ``espeakng-loader``, no download)::

    python tools/make_spoken_digits.py

The grader and the learner's sandbox cannot synthesise audio (no eSpeak process inside the
sandbox, and synthesis is too slow for a graded cell), so the features ship with the package.
Everything is seeded: the same environment rebuilds the same file.

* ``train``: 800 utterances from voices 0-8 of :data:`rnncourse.speech.VOICES`;
* ``test``: 300 utterances from the unseen voices 9-11.

Each utterance is a string of 1-4 digits (:func:`rnncourse.speech.spoken_digits`, noise at
10-30 dB SNR) turned into 40 log-mel bands every 20 ms (``hop_length=441``, ``n_fft=1024``).
Features are stored as 8-bit codes, ``value = offset + scale * code``, with one ``scale`` and
``offset`` computed on the training split.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rnncourse import speech  # noqa: E402

OUT = ROOT / "rnncourse" / "datasets" / "spoken_digits.npz"
FEATURES = {"n_mels": 40, "hop_length": 441, "n_fft": 1024}
SPLITS = {"train": (800, 1, range(0, 9)), "test": (300, 2, range(9, 12))}
MAX_LEN = 4


def main() -> None:
    raw = {}
    for split, (n, seed, voices) in SPLITS.items():
        feats, labels, voice_ids = speech.spoken_digits(
            n, seed=seed, voices=list(voices), min_len=1, max_len=MAX_LEN, cache=False, **FEATURES
        )
        raw[split] = ([f.numpy() for f in feats], labels, voice_ids)
    train = np.concatenate(raw["train"][0])
    offset = float(np.floor(train.min()))
    scale = float((train.max() - offset) / 255.0)
    arrays: dict[str, np.ndarray] = {
        "scale": np.float32(scale),
        "offset": np.float32(offset),
        "max_label_length": np.int64(MAX_LEN),
    }
    for split, (feats, labels, voice_ids) in raw.items():
        codes = np.clip(np.rint((np.concatenate(feats) - offset) / scale), 0, 255)
        padded = np.zeros((len(labels), MAX_LEN), dtype=np.int8)
        for i, lab in enumerate(labels):
            padded[i, : len(lab)] = lab
        arrays[f"{split}_codes"] = codes.astype(np.uint8)  # (sum of T_i, 40)
        arrays[f"{split}_lengths"] = np.array([len(f) for f in feats], dtype=np.int16)
        arrays[f"{split}_labels"] = padded  # (N, MAX_LEN), 0 after the end
        arrays[f"{split}_label_lengths"] = np.array([len(lab) for lab in labels], dtype=np.int8)
        arrays[f"{split}_voices"] = np.array(voice_ids, dtype=np.int8)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes)")
    for split in SPLITS:
        lengths = arrays[f"{split}_lengths"]
        print(f"{split}: {len(lengths)} utterances, frames {lengths.min()}-{lengths.max()}")


if __name__ == "__main__":
    main()
