"""Helpers shared by several assignments' specs: cell weights and inputs, GRU loops.

The recurrent cells' inputs (:func:`_cell_inputs`, used by ``rnn_cell`` in exercise 2 and
``lstm_cell``, ``gru_cell`` in exercise 7), their default shapes and the pieces of their
mistakes that recur (:data:`_BIAS_MISSING`, :func:`_identity`), and the GRU parameters, loops
and module loading that the references of exercises 6, 8 and 9 are built from.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rnncourse import gru as _gru
from rnncourse.grading.specs import Case, Inputs

_linear = F.linear
_tanh, _sigmoid, _relu = torch.tanh, torch.sigmoid, torch.relu
_gru_cell_fn = _gru.gru_cell


def _weights(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    # U(-s, s) with s = 1/sqrt(H) as in torch, but wider so that mistakes move the output
    return rng.uniform(-1.0, 1.0, size=(rows, cols)) / math.sqrt(max(cols, 1)) * 1.5


def _cell_inputs(gates: int, with_cell_state: bool = False) -> Callable[..., Inputs]:
    """Inputs for ``cell(x, h or (h, c), weight_ih, weight_hh, bias_ih, bias_hh)``.

    ``case`` keys: ``N`` (``None`` for unbatched), ``H_in``, ``H``, ``bias`` (default True).
    """

    def make(rng: np.random.Generator, case: Case) -> Inputs:
        N, H_in, H = case.get("N"), case["H_in"], case["H"]
        batch = () if N is None else (N,)
        x = rng.normal(size=(*batch, H_in))
        h = rng.normal(size=(*batch, H)) * 0.5
        weight_ih = _weights(rng, gates * H, H_in)
        weight_hh = _weights(rng, gates * H, H)
        bias = case.get("bias", True)
        bias_ih = rng.normal(size=(gates * H,)) * 0.5 if bias else None
        bias_hh = rng.normal(size=(gates * H,)) * 0.5 if bias else None
        state: Any = (h, rng.normal(size=(*batch, H))) if with_cell_state else h
        return (x, state, weight_ih, weight_hh, bias_ih, bias_hh), {}

    return make


def _identity(t: Any) -> Any:
    return t


_BIAS_MISSING = "a bias is missing: the step adds both b_ih and b_hh."

_CELL_CASES = (
    {"N": 3, "H_in": 4, "H": 4},  # square first, so that transposed weights are diagnosable
    {"N": 2, "H_in": 3, "H": 5},
    {"N": 1, "H_in": 2, "H": 1},
)


# -- GRU parameters and loops (exercises 6, 8, 9) ----------------------------------------------


def _gru_params(rng: np.random.Generator, H_in: int, H: int, suffix: str = "") -> dict:
    """GRU weights ``weight_ih (3H, H_in)``, ``weight_hh (3H, H)`` and biases ``(3H,)``."""
    return {
        f"weight_ih{suffix}": _weights(rng, 3 * H, H_in),
        f"weight_hh{suffix}": _weights(rng, 3 * H, H),
        f"bias_ih{suffix}": rng.normal(size=(3 * H,)) * 0.5,
        f"bias_hh{suffix}": rng.normal(size=(3 * H,)) * 0.5,
    }


def _cell_args(params: dict, suffix: str = "") -> tuple:
    return tuple(params[f"{k}{suffix}"] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


def _strip(params: dict, suffix: str) -> dict:
    """One direction's cell weights, without the name suffix (``"_l0_reverse"``)."""
    return {k: params[f"{k}{suffix}"] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}


def _load(module: Any, values: Mapping[str, Any]) -> Any:
    """Copy ``values`` (parameter name -> tensor) into ``module``'s parameters."""
    with torch.no_grad():
        for name, value in values.items():
            module.get_parameter(name).copy_(value)
    return module


def _like(x: torch.Tensor) -> dict:
    """Keyword arguments that build a reference module on ``x``'s device, in its dtype."""
    return {"device": x.device, "dtype": x.dtype}


def _gru_loop(x, h, params, steps=None):
    """Run the GRU cell over ``x`` in the order ``steps``; (outputs in time order, h)."""
    order = range(x.shape[0]) if steps is None else steps
    outputs: list[Any] = [None] * x.shape[0]
    for t in order:
        h = _gru_cell_fn(x[t], h, *_cell_args(params))
        outputs[t] = h
    return torch.stack(outputs), h


def _cell_values(params: dict, prefix: str = "cell.") -> dict:
    keys = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    return {f"{prefix}{k}": params[k] for k in keys}
