"""rnncourse: reference implementations for an open course on recurrent neural networks.

Every module backs one chapter of the book and writes that chapter's equations out:
an explicit loop over time, every gate visible. The torch modules are drop-in compatible
with ``torch.nn.RNN``/``LSTM``/``GRU`` and their cells (same arguments, ``proj_size`` and
``PackedSequence`` included, parameter names, outputs and exception types), and
``rnncourse.ctc.ctc_loss`` with ``torch.nn.functional.ctc_loss`` (values and gradients):
they agree with torch.nn on PyTorch's own test inputs and error cases (its ``ModuleInfo``
entries, ``tests/torch_upstream``).

Names are imported lazily so that ``import rnncourse`` stays fast; ``rnncourse.LSTM``
loads ``rnncourse.lstm`` on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # chapter 2-3: the hidden state, unrolling
    "rnn_cell": "rnn",
    "RNNCell": "rnn",
    "RNN": "rnn",
    # chapter 7: LSTM and GRU
    "lstm_cell": "lstm",
    "LSTMCell": "lstm",
    "LSTM": "lstm",
    "gru_cell": "gru",
    "GRUCell": "gru",
    "GRU": "gru",
    # chapter 8: bidirectional
    "Bidirectional": "bidirectional",
    "run_bidirectional": "bidirectional",
    # chapter 6: topologies
    "OneToMany": "topologies",
    "ManyToOne": "topologies",
    "ManyToManyAligned": "topologies",
    "EncoderDecoder": "topologies",
    # chapter 9: seq2seq
    "Encoder": "seq2seq",
    "Decoder": "seq2seq",
    "AdditiveAttention": "seq2seq",
    "AttentionDecoder": "seq2seq",
    "Seq2Seq": "seq2seq",
    "greedy_decode": "seq2seq",
    "beam_search": "seq2seq",
    # chapter 9-10 training utilities
    "fit": "training",
    "evaluate": "training",
    "History": "training",
    "build_seq2seq": "seq2seq",
    # chapter 11: linear recurrences
    "MinGRU": "scan",
    "choose_device": "training",
    "seed_everything": "training",
}

# the lazily exported names above, plus the modules
__all__ = [
    "AdditiveAttention",
    "AttentionDecoder",
    "Bidirectional",
    "Decoder",
    "Encoder",
    "EncoderDecoder",
    "GRU",
    "GRUCell",
    "History",
    "LSTM",
    "LSTMCell",
    "ManyToManyAligned",
    "ManyToOne",
    "MinGRU",
    "OneToMany",
    "RNN",
    "RNNCell",
    "Seq2Seq",
    "beam_search",
    "bidirectional",
    "bptt",
    "build_seq2seq",
    "choose_device",
    "data",
    "evaluate",
    "fit",
    "gradients",
    "grading",
    "greedy_decode",
    "gru",
    "gru_cell",
    "lstm",
    "lstm_cell",
    "lstm_fused",
    "plotting",
    "rnn",
    "rnn_cell",
    "run_bidirectional",
    "scan",
    "seed_everything",
    "seq2seq",
    "topologies",
    "training",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"rnncourse.{_EXPORTS[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in __all__:
        return importlib.import_module(f"rnncourse.{name}")
    raise AttributeError(f"module 'rnncourse' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # static type checkers see the real names
    from rnncourse.bidirectional import Bidirectional, run_bidirectional
    from rnncourse.gru import GRU, GRUCell, gru_cell
    from rnncourse.lstm import LSTM, LSTMCell, lstm_cell
    from rnncourse.rnn import RNN, RNNCell, rnn_cell
    from rnncourse.scan import MinGRU
    from rnncourse.seq2seq import (
        AdditiveAttention,
        AttentionDecoder,
        Decoder,
        Encoder,
        Seq2Seq,
        beam_search,
        build_seq2seq,
        greedy_decode,
    )
    from rnncourse.topologies import EncoderDecoder, ManyToManyAligned, ManyToOne, OneToMany
    from rnncourse.training import History, choose_device, evaluate, fit, seed_everything
