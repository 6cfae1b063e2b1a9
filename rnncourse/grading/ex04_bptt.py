"""Exercise 4, BPTT in NumPy: ``numerical_gradient``, ``rel_error``, ``rnn_backward``,
``truncated_bptt_grads``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rnncourse import bptt as _bptt
from rnncourse.grading._cells import _weights
from rnncourse.grading.specs import Case, Inputs, Spec, mistakes, register


def _bptt_problem(rng: np.random.Generator, case: Case) -> tuple[dict, dict]:
    T, N, H_in, H, H_out = case["T"], case["N"], case["H_in"], case["H"], case["H_out"]
    params = {
        "weight_ih": _weights(rng, H, H_in),
        "weight_hh": _weights(rng, H, H),
        "bias_ih": rng.normal(size=(H,)) * 0.3,
        "bias_hh": rng.normal(size=(H,)) * 0.3,
        "weight_hy": _weights(rng, H_out, H),
        "bias_y": rng.normal(size=(H_out,)) * 0.3,
    }
    x = rng.normal(size=(T, N, H_in))
    h_0 = rng.normal(size=(N, H)) * 0.5
    targets = rng.normal(size=(T, N, H_out))
    _, cache = _bptt.rnn_forward(params, x, h_0, targets, "mse")
    return params, cache


def _rnn_backward_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    params, cache = _bptt_problem(rng, case)
    T, N = case["T"], case["N"]
    kwargs: dict[str, Any] = {}
    if case.get("dy"):
        kwargs["dy"] = rng.normal(size=(T, N, case["H_out"]))
    if case.get("dh_T"):
        kwargs["dh_T"] = rng.normal(size=(N, case["H"]))
    return (params, cache), kwargs


def _bptt_variant(kind: str) -> Callable[..., Any]:
    """A mistaken ``rnn_backward`` (mse loss or given ``dy``)."""

    def variant(params, cache, dy=None, dh_T=None):
        x, h_0, h, pre = cache["x"], cache["h_0"], cache["h"], cache["pre"]
        dy = cache["y"] - cache["targets"] if dy is None or kind == "dy-ignored" else dy
        dh_T = None if kind == "dh_T-ignored" else dh_T
        W_hh, W_hy = params["weight_hh"], params["weight_hy"]
        T, N, H = h.shape
        grads = {name: np.zeros_like(value) for name, value in params.items()}
        grads["weight_hy"] = np.einsum("tno,tnh->oh", dy, h)
        per = N if kind == "bias-mean" else 1  # a mean over the batch where a sum belongs
        grads["bias_y"] = dy.sum(axis=(0, 1)) / per
        dh = np.zeros_like(h)
        dh_next = np.zeros((N, H)) if dh_T is None else dh_T
        for t in reversed(range(T)):
            h_prev = h[t - 1] if t > 0 else h_0
            dh[t] = dy[t] @ W_hy + (0.0 if kind == "no-recurrence" else dh_next)
            local = 1 - (pre[t] ** 2 if kind == "tanh-of-pre" else h[t] ** 2)
            dpre = local * dh[t]
            paired = h[t] if kind == "h-not-h-prev" else h_prev
            terms = {
                "weight_ih": dpre.T @ x[t],
                "weight_hh": dpre.T @ paired,
                "bias_ih": dpre.sum(axis=0) / per,
                "bias_hh": dpre.sum(axis=0) / per,
            }
            for name, term in terms.items():
                grads[name] = term if kind == "not-accumulated" else grads[name] + term
            if kind == "dh-is-dpre":
                dh[t] = dpre
            dh_next = dpre @ W_hh
        grads["h_0"] = dh_next
        return grads, dh

    return variant


def _truncated_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    params, cache = _bptt_problem(rng, case)
    return (params, cache, int(case["k"])), {}


def _truncated_variant(kind: str) -> Callable[..., Any]:
    def variant(params, cache, k, dy=None):
        if kind == "full":
            grads, _ = _bptt.rnn_backward(params, cache, dy)
            return grads
        if kind == "chunked":
            targets = cache["targets"]
            h_0 = cache["h_0"]
            _, grads, _ = _bptt.chunked_bptt_grads(params, cache["x"], targets, k, h_0)
            return grads
        if kind == "h0-missing":
            grads = _bptt.truncated_bptt_grads(params, cache, k, dy)
            return {**grads, "h_0": grads["h_0"] * 0.0}
        if kind == "output-truncated":  # the output layer sees only the first k steps' losses
            grads = _bptt.truncated_bptt_grads(params, cache, k, dy)
            d = cache["y"] - cache["targets"] if dy is None else dy
            h = cache["h"]
            grads["weight_hy"] = np.einsum("tno,tnh->oh", d[:k], h[:k])
            grads["bias_y"] = d[:k].sum(axis=(0, 1))
            return grads
        shift = 1 if kind == "k+1" else -1
        return _bptt.truncated_bptt_grads(params, cache, k + shift, dy)

    return variant


def _numgrad_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    param = rng.normal(size=tuple(case["shape"]))
    M = rng.normal(size=(3, param.size))

    def f() -> float:
        # a smooth scalar function of param that couples its entries, with sizeable curvature
        p = param.reshape(-1)
        return float(np.tanh(M @ p).sum() + 0.5 * (p**3).sum())

    return (f, param), {"eps": case.get("eps", 1e-4)}


def _numgrad_variant(kind: str) -> Callable[..., Any]:
    def variant(f, param, eps=1e-6):
        eps = 1e-6 if kind == "eps-ignored" else eps
        grad = np.zeros_like(param)
        nudged = param.copy() if kind == "nudges-copy" else param  # f never sees a copy
        for idx in np.ndindex(param.shape):
            old = nudged[idx]
            nudged[idx] = old if kind == "backward" else old + eps
            f_plus = f()
            nudged[idx] = old if kind in ("forward", "minus-not-nudged") else old - eps
            f_minus = f()
            if kind != "no-restore":
                nudged[idx] = old
            one = kind in ("forward", "one-eps", "backward")
            grad[idx] = (f_plus - f_minus) / (eps if one else 2 * eps)
        return grad

    return variant


def _rel_error_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    if case.get("zeros"):  # the task's "0.0 when both arrays are all zeros"
        shape = tuple(case["shape"])
        return (np.zeros(shape), np.zeros(shape)), {}
    a = rng.normal(size=tuple(case["shape"]))
    noise = case.get("noise", 1e-3)
    b = a + rng.normal(size=a.shape) * noise
    if a.size > 1 and noise >= 1e-3:
        # max|a| and max|b| at different entries, so that max|a| + max|b| is not the scale;
        # one entry of opposite signs, so that max(a + b) is not it either
        i, j = rng.choice(a.size, size=2, replace=False)
        a.flat[i], b.flat[i] = 3.0, 2.9
        a.flat[j], b.flat[j] = 2.8, 3.05
        if a.size > 2:
            k = next(n for n in range(a.size) if n not in (i, j))
            a.flat[k], b.flat[k] = 2.5, -2.5
    return (a, b), {}


_TINY = np.finfo(np.float64).tiny


def _rel_error_variant(kind: str) -> Callable[..., float]:
    def variant(a, b):
        diff = abs(a - b).max()
        if kind == "elementwise":
            return float((abs(a - b) / (abs(a) + abs(b) + 1e-300)).max())
        if kind == "sum-of-maxima":
            return float(diff / max(abs(a).max() + abs(b).max(), _TINY))
        if kind == "norms":
            return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), _TINY))
        if kind == "no-abs":
            return float((a - b).max() / max((a + b).max(), _TINY))
        if kind == "nan-at-zero":
            with np.errstate(invalid="ignore", divide="ignore"):
                return float(diff / (abs(a) + abs(b)).max())
        return float(diff / max(abs(a).max(), _TINY))

    return variant


# -- the registry ------------------------------------------------------------------------------

register(
    Spec(
        "numerical_gradient",
        "rnncourse.bptt.numerical_gradient",
        _numgrad_inputs,
        ({"shape": (3, 2)}, {"shape": (4,), "eps": 1e-3}),
        backend="numpy",
        contracts=("unchanged-inputs",),
        atol=1e-7,
        rtol=1e-6,
        mistakes=mistakes(_numgrad_variant, {
            "forward": "this is a forward difference (f(θ+ε) - f(θ))/ε; the central difference "
                       "(f(θ+ε) - f(θ-ε))/(2ε) is much more accurate.",
            "one-eps": "divide the central difference by 2ε, not ε.",
            "no-restore": "each entry must be restored to its old value after nudging it.",
            "nudges-copy": "every entry is zero: f reads the array param itself, so nudge param "
                           "in place; a copy you nudge is never seen by f.",
            "backward": "this is a backward difference (f(θ) - f(θ-ε))/ε; the central difference "
                        "evaluates f at θ+ε and at θ-ε.",
            "minus-not-nudged": "the second evaluation is at θ itself: set the entry to old - ε "
                                "before calling f the second time.",
            "eps-ignored": "the argument eps is ignored: nudge by the eps the caller passes (the "
                           "default 1e-6 only applies when none is given).",
        }),
    )
)  # fmt: skip
register(
    Spec(
        "rel_error",
        "rnncourse.bptt.rel_error",
        _rel_error_inputs,
        ({"shape": (3, 4)}, {"shape": (5,), "noise": 1e-7}),
        backend="numpy",
        contracts=("unchanged-inputs",),
        boundary_cases=({"shape": (2, 3), "zeros": True},),
        atol=1e-12,
        rtol=1e-6,
        mistakes=mistakes(_rel_error_variant, {
            "elementwise": "use one scale for the whole array: max|a - b| divided by max(|a| + "
                           "|b|), not an element-wise ratio.",
            "scale-a": "the scale is max(|a| + |b|), not max|a|.",
            "sum-of-maxima": "the scale is the largest |a_i| + |b_i| of one entry i, not max|a| + "
                             "max|b| (the two maxima may sit at different entries).",
            "norms": "this divides vector norms (‖a - b‖ / (‖a‖ + ‖b‖)); the task's formula uses "
                     "maxima of absolute values.",
            "no-abs": "the absolute values are missing: a difference or a sum of opposite signs "
                      "must count by its size, |a_i - b_i| and |a_i| + |b_i|.",
            "nan-at-zero": "two all-zero arrays give 0 / 0 = nan; the task asks for 0.0 there "
                           "(guard the denominator).",
        }),
    )
)  # fmt: skip
_BPTT_CASES = (
    {"T": 4, "N": 2, "H_in": 3, "H": 4, "H_out": 2},
    {"T": 1, "N": 1, "H_in": 2, "H": 3, "H_out": 1},
    {"T": 3, "N": 2, "H_in": 2, "H": 3, "H_out": 2, "dy": True, "dh_T": True},
)
register(
    Spec(
        "rnn_backward",
        "rnncourse.bptt.rnn_backward",
        _rnn_backward_inputs,
        _BPTT_CASES,
        outputs=("grads", "dh"),
        backend="numpy",
        mistakes=mistakes(_bptt_variant, {
            "not-accumulated": "gradients are not accumulated over time: the weights are shared "
                               "by every step, so dL/dW sums the contributions of all steps (+=, "
                               "not =).",
            "no-recurrence": "the gradient does not flow back through time: dL/dh_t also receives "
                             "W_hhᵀ dL/da_{t+1} from the next step.",
            "tanh-of-pre": "the tanh derivative is 1 - h_t² (h_t = tanh(a_t)), not 1 - a_t².",
            "h-not-h-prev": "dL/dW_hh pairs dL/da_t with the previous state h_{t-1}, not h_t.",
            "bias-mean": "the bias gradients are averaged over the batch; the loss is summed over "
                         "the batch, so every gradient is a sum over the batch and over time.",
            "dh-is-dpre": "dh[t] holds dL/da_t (after the tanh derivative); it is dL/dh_t, the "
                          "gradient reaching h_t through y_t and h_{t+1}, before the tanh "
                          "derivative.",
            "dy-ignored": "a given dy is ignored: it replaces y_t - target_t as dL/dy_t.",
            "dh_T-ignored": "a given dh_T is ignored: it is what arrives at h_T from beyond the "
                            "sequence, where nothing arrives otherwise.",
        }),
        forbidden=("rnncourse.bptt.truncated_bptt_grads",),
    )
)  # fmt: skip
register(
    Spec(
        "truncated_bptt_grads",
        "rnncourse.bptt.truncated_bptt_grads",
        _truncated_inputs,
        (
            {"T": 5, "N": 2, "H_in": 2, "H": 3, "H_out": 2, "k": 2},
            {"T": 4, "N": 1, "H_in": 2, "H": 2, "H_out": 1, "k": 3},
        ),
        backend="numpy",
        mistakes=mistakes(_truncated_variant, {
            "full": "the truncation is ignored: each L_t may flow back through at most k hidden "
                    "states.",
            "k+1": "off by one: L_t reaches h_t, ..., h_{t-k+1}, which is k hidden states, not k "
                   "+ 1.",
            "k-1": "off by one: L_t reaches h_t, ..., h_{t-k+1}, which is k hidden states, not k "
                   "- 1.",
            "chunked": "this cuts the sequence into chunks of k steps; here every L_t looks back "
                       "k steps from its own t.",
            "h0-missing": "grads['h_0'] is zero: the losses L_t that reach step 1 (t < k) flow on "
                          "into h_0.",
            "output-truncated": "the output layer does not recur: dL/dW_hy and dL/db_y are the "
                                "full sums over all T steps.",
        }),
        forbidden=("rnncourse.bptt.rnn_backward", "rnncourse.bptt.chunked_bptt_grads"),
    )
)  # fmt: skip
