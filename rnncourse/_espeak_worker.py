"""Run eSpeak NG in a fresh process: the worker behind :func:`rnncourse.speech.synthesize`.

Two things make eSpeak NG's samples vary for the same text: its noise generator (used by
the breathy variants) is seeded differently in every process unless
``espeak_ng_SetRandSeed`` is called, and it keeps synthesis state in globals that
``espeak_Initialize`` does not reset, so an utterance depends on what the same process spoke
before. The worker seeds the generator before every request and is started afresh for each
batch, which makes the output a function of the batch alone.

Protocol: a JSON list of ``[text, voice, rate, pitch]`` on stdin; for each request, an
8-byte little-endian sample count then the int16 samples on stdout. An unknown voice exits
with status 3 and the voice on stderr.

Run by path (``python _espeak_worker.py``), it imports only the standard library, NumPy and
``espeakng_loader``.
"""

from __future__ import annotations

import ctypes
import json
import sys

import numpy as np

AUDIO_OUTPUT_SYNCHRONOUS = 2
POS_CHARACTER = 1
ESPEAK_RATE = 1
ESPEAK_PITCH = 3
SAMPLE_RATE = 22050
SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


def load() -> ctypes.CDLL:
    """The eSpeak NG library from ``espeakng_loader``, with its C signatures (speak_lib.h)."""
    import espeakng_loader

    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetSynthCallback.argtypes = [SYNTH_CALLBACK]
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    data = espeakng_loader.get_data_path().encode()
    rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data, 0)
    if rate != SAMPLE_RATE:
        raise RuntimeError(f"eSpeak NG failed to initialise (returned {rate})")
    return lib


def main() -> int:
    requests = json.load(sys.stdin)
    lib = load()
    chunks: list[np.ndarray] = []

    def collect(wav, n, events):  # called by eSpeak with each buffer of samples
        if n > 0 and wav:
            chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0  # 0 = continue

    callback = SYNTH_CALLBACK(collect)
    lib.espeak_SetSynthCallback(callback)
    out = sys.stdout.buffer
    for text, voice, rate, pitch in requests:
        lib.espeak_ng_SetRandSeed(1)  # its noise sources (breathy voices) are random
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            sys.stderr.write(voice)
            return 3
        lib.espeak_SetParameter(ESPEAK_RATE, int(rate), 0)
        lib.espeak_SetParameter(ESPEAK_PITCH, int(pitch), 0)
        raw = text.encode()
        chunks.clear()
        err = lib.espeak_Synth(raw, len(raw) + 1, 0, POS_CHARACTER, 0, 0, None, None)
        if err != 0:
            sys.stderr.write(f"espeak_Synth failed with error {err}")
            return 4
        samples = np.concatenate(chunks).astype("<i2") if chunks else np.zeros(0, "<i2")
        out.write(np.int64(samples.size).astype("<i8").tobytes())
        out.write(samples.tobytes())
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
