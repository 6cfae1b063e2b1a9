"""Exercise 5, vanishing and exploding gradients: ``jacobian_product``, ``jacobian_norms``,
``clip_grad_norm_np``, ``clip_grad_value_np``, ``flag_exploding`` and the conceptual question
``rho``."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from rnncourse.grading.answers import Answer, register_answer
from rnncourse.grading.specs import Case, Inputs, Spec, mistakes, register


def _jacobian_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    T, H = case["T"], case["H"]
    h = np.tanh(rng.normal(size=(T, H)))
    weight_hh = rng.normal(size=(H, H)) * case.get("scale", 1.0) / math.sqrt(H)
    return (h, weight_hh, int(case["t"]), int(case["k"])), {}


def _jacobian_variant(kind: str) -> Callable[..., Any]:
    def variant(h, weight_hh, t, k):
        J = torch.eye(weight_hh.shape[0], dtype=weight_hh.dtype, device=weight_hh.device)
        steps = range(k + 2, t + 2) if kind == "range-shifted" else range(k + 1, t + 1)
        for j in steps:
            d = 1 - h[(j - 2 if kind == "state-shifted" else j - 1)] ** 2  # (H,)
            if kind == "sigmoid-derivative":
                d = h[j - 1] * (1 - h[j - 1])
            if kind == "no-derivative":
                step = weight_hh
            elif kind == "transposed":
                step = d[:, None] * weight_hh.T
            elif kind == "diag-right":
                step = weight_hh * d[None, :]
            else:
                step = d[:, None] * weight_hh
            J = J @ step if kind == "reversed" else step @ J
        return J

    return variant


def _jacobian_norms_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    t = case.get("t")
    (h, weight_hh, _, _), _ = _jacobian_inputs(rng, {**case, "t": case["T"], "k": 0})
    kwargs = {} if case.get("ord") is None else {"ord": case["ord"]}
    return (h, weight_hh, t), kwargs


def _jacobian_norms_variant(kind: str) -> Callable[..., Any]:
    def variant(h, weight_hh, t=None, ord=2):
        t = h.shape[0] if t is None else t
        step = _jacobian_variant("")
        last = t if kind == "one-short" else t + 1
        norms = [
            float(
                torch.linalg.matrix_norm(
                    step(h, weight_hh, t, k), ord="fro" if kind == "frobenius" else ord
                )
            )
            for k in range(last)
        ]
        if kind == "tensor":
            return torch.tensor(norms, dtype=weight_hh.dtype)
        if kind == "ord-ignored":
            norms = [
                float(torch.linalg.matrix_norm(step(h, weight_hh, t, k), ord=2))
                for k in range(t + 1)
            ]
        return np.array(norms[::-1] if kind == "reversed" else norms)

    return variant


def _grads_inputs(rng: np.random.Generator, case: Case) -> dict[str, np.ndarray]:
    scale = case.get("scale", 1.0)
    return {
        "weight_ih": rng.normal(size=(4, 3)) * scale,
        "weight_hh": rng.normal(size=(4, 4)) * scale,
        "bias": rng.normal(size=(4,)) * scale,
    }


def _clip_norm_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    kwargs = {} if case.get("norm_type") is None else {"norm_type": case["norm_type"]}
    return (_grads_inputs(rng, case), float(case["max_norm"])), kwargs


def _joint_norm(arrays: list[np.ndarray], p: float) -> float:
    flat = np.concatenate([a.ravel() for a in arrays])
    return float(abs(flat).max()) if p == math.inf else float((abs(flat) ** p).sum() ** (1 / p))


def _clip_norm_variant(kind: str) -> Callable[..., Any]:
    def variant(grads, max_norm, norm_type=2.0):
        p = 2.0 if kind == "norm-type-ignored" else float(norm_type)
        total = _joint_norm(list(grads.values()), p)
        if kind == "sum-of-norms":
            total = float(sum(_joint_norm([g], p) for g in grads.values()))
        clipped = {}
        for name, g in grads.items():
            if kind in ("norm-after", "sum-of-norms", "norm-type-ignored", "outputs-swapped"):
                clipped[name] = g * min(1.0, max_norm / (total + 1e-6))
            elif kind == "by-value":
                clipped[name] = np.clip(g, -max_norm, max_norm)
            elif kind == "per-tensor":
                own = _joint_norm([g], float(norm_type))
                clipped[name] = g * min(1.0, max_norm / (own + 1e-6))
            else:  # always rescale
                clipped[name] = g * max_norm / (total + 1e-6)
        if kind == "outputs-swapped":
            return total, clipped
        if kind == "norm-after":  # the norm of the clipped gradients
            return clipped, _joint_norm(list(clipped.values()), p)
        return clipped, total

    return variant


def _clip_value_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    return (_grads_inputs(rng, case), float(case["clip_value"])), {}


def _clip_value_variant(kind: str) -> Callable[..., Any]:
    def variant(grads, clip_value):
        if kind == "one-sided":
            return {name: np.minimum(g, clip_value) for name, g in grads.items()}
        if kind == "lower-only":
            return {name: np.maximum(g, -clip_value) for name, g in grads.items()}
        if kind == "sign-lost":
            return {name: np.minimum(abs(g), clip_value) for name, g in grads.items()}
        if kind == "zero-floor":
            return {name: np.clip(g, 0.0, clip_value) for name, g in grads.items()}
        total = _joint_norm(list(grads.values()), 2.0)
        coef = min(1.0, clip_value / (total + 1e-6))
        return {name: g * coef for name, g in grads.items()}

    return variant


def _ref_flag_exploding(grad_norms: np.ndarray, threshold: float) -> np.ndarray:
    # a run explodes if some step's norm is above the threshold or not finite (nan, inf)
    bad = ~np.isfinite(grad_norms) | (grad_norms > threshold)  # (R, T)
    return bad.any(axis=1)  # (R,)


def _flag_inputs(rng: np.random.Generator, case: Case) -> Inputs:
    R, T = case["R"], case["T"]
    norms = np.exp(rng.normal(size=(R, T)))  # well-behaved runs around 1
    growth = np.exp(np.linspace(0.0, 8.0, T))  # an exploding run grows ~e^8 ≈ 3000×
    norms[0] *= growth  # explodes
    if R > 1:
        norms[1, T // 2 :] = np.nan  # blew up to nan half-way
    if R > 2:
        norms[2, T // 2] *= growth[-1]  # one spike, then recovers
    if R > 3:
        norms[3, -2:] = np.inf
    threshold = float(case.get("threshold", 100.0))
    if R > 4:
        norms[4, T // 2] = threshold  # exactly on the threshold: not above it, so no explosion
    return (norms, threshold), {}


def _flag_variant(kind: str) -> Callable[..., Any]:
    def variant(grad_norms, threshold):
        if kind == "nan-missed":
            return (grad_norms > threshold).any(axis=1)
        if kind == "at-threshold":
            return (~np.isfinite(grad_norms) | (grad_norms >= threshold)).any(axis=1)
        if kind == "all-steps":
            return (~np.isfinite(grad_norms) | (grad_norms > threshold)).all(axis=1)
        if kind == "inverted":
            return ~(~np.isfinite(grad_norms) | (grad_norms > threshold)).any(axis=1)
        last = grad_norms[:, -1]
        return ~np.isfinite(last) | (last > threshold)

    return variant


# -- the registry ------------------------------------------------------------------------------

register(
    Spec(
        "jacobian_product",
        "rnncourse.gradients.jacobian_product",
        _jacobian_inputs,
        (
            {"T": 5, "H": 3, "t": 4, "k": 1},
            {"T": 3, "H": 2, "t": 3, "k": 0},
            {"T": 2, "H": 2, "t": 1, "k": 1},
        ),
        contracts=("dtype:float64",),  # torch.eye(H, dtype=..., device=...) for t == k
        mistakes=mistakes(_jacobian_variant, {
            "no-derivative": "the tanh derivative is missing: each step contributes diag(1 - "
                             "h_j²) W_hh, not W_hh alone.",
            "reversed": "the product is in the wrong order: the latest step is on the left, D_t "
                        "W_hh ... D_{k+1} W_hh.",
            "transposed": "W_hh is transposed: ∂h_j/∂h_{j-1} = diag(1 - h_j²) W_hh.",
            "diag-right": "diag(1 - h_j²) multiplies W_hh from the left (it scales rows, not "
                          "columns).",
            "state-shifted": "each step uses the derivative at the wrong state: D_j = diag(1 - "
                             "h_j²) with h_j = h[j - 1] (h[0] is h_1).",
            "range-shifted": "the product runs over the wrong steps: j = k + 1, ..., t (t - k "
                             "factors).",
            "sigmoid-derivative": "h_j(1 - h_j) is the sigmoid's derivative; tanh's is 1 - h_j².",
        }),
    )
)  # fmt: skip
register(
    Spec(
        "jacobian_norms",
        "rnncourse.gradients.jacobian_norms",
        _jacobian_norms_inputs,
        ({"T": 5, "H": 3, "t": 4}, {"T": 3, "H": 2, "t": None, "ord": "fro"}),
        contracts=("dtype:float64",),
        mistakes=mistakes(_jacobian_norms_variant, {
            "frobenius": "ord=2 is the spectral norm (largest singular value), not the Frobenius "
                         "norm.",
            "reversed": "entry k is ‖∂h_t/∂h_k‖, so norms[t] is the identity's norm; yours are in "
                        "reverse order.",
            "one-short": "the array has t + 1 entries, k = 0, ..., t; the last one (k = t) is the "
                         "identity's norm.",
            "ord-ignored": "the argument ord is ignored: pass it on to the matrix norm (ord='fro' "
                           "is the Frobenius norm).",
            "tensor": "the task asks for a NumPy float64 array, not a torch tensor.",
        }),
        forbidden=("rnncourse.gradients.jacobian_product",),
    )
)  # fmt: skip
register(
    Spec(
        "clip_grad_norm_np",
        "rnncourse.gradients.clip_grad_norm_np",
        _clip_norm_inputs,
        (
            {"max_norm": 1.0},
            {"max_norm": 100.0},
            {"max_norm": 0.5, "norm_type": math.inf},
            {"max_norm": 3.0, "norm_type": 1.0},
        ),
        outputs=("clipped", "total_norm"),
        backend="numpy",
        contracts=("unchanged-inputs", "new-output"),
        boundary_cases=({"max_norm": 1.0, "scale": 0.0},),  # all gradients zero: nothing to clip
        mistakes=mistakes(_clip_norm_variant, {
            "by-value": "this clips by value instead of by norm: scale every gradient by the same "
                        "factor min(1, max_norm / ‖g‖) so the direction is kept.",
            "per-tensor": "each gradient is clipped by its own norm; use the joint norm of all "
                          "gradients together.",
            "always": "gradients whose joint norm is already below max_norm must stay unchanged: "
                      "the factor is min(1, max_norm / ‖g‖).",
            "norm-after": "total_norm is the joint norm *before* clipping, not the norm of the "
                          "clipped gradients.",
            "sum-of-norms": "the joint norm is the p-norm of the per-gradient norms, ‖(‖g_1‖, "
                            "..., ‖g_m‖)‖_p, not their sum.",
            "outputs-swapped": "the outputs are in the wrong order: clip_grad_norm_np returns "
                               "(clipped, total_norm).",
            "norm-type-ignored": "norm_type is ignored: use the p-norm it names (inf: the largest "
                                 "absolute entry).",
        }),
    )
)  # fmt: skip
register(
    Spec(
        "clip_grad_value_np",
        "rnncourse.gradients.clip_grad_value_np",
        _clip_value_inputs,
        ({"clip_value": 0.5}, {"clip_value": 10.0, "scale": 0.1}),
        backend="numpy",
        contracts=("unchanged-inputs", "new-output"),
        mistakes=mistakes(_clip_value_variant, {
            "by-norm": "this clips by norm instead of by value: clamp every entry into [-c, c] on "
                       "its own.",
            "one-sided": "only the upper side is clamped; entries below -c must become -c.",
            "lower-only": "only the lower side is clamped; entries above c must become c.",
            "sign-lost": "the signs are lost: clamping keeps a negative entry negative (into [-c, "
                         "c]), it does not take its absolute value.",
            "zero-floor": "the interval is [-c, c]: negative entries stay negative, only those "
                          "below -c become -c.",
        }),
    )
)  # fmt: skip
register(
    Spec(
        "flag_exploding",
        _ref_flag_exploding,
        _flag_inputs,
        ({"R": 5, "T": 8}, {"R": 2, "T": 4, "threshold": 10.0}),
        backend="numpy",
        mistakes=mistakes(_flag_variant, {
            "nan-missed": "runs whose norms became nan are not flagged: nan > threshold is False, "
                          "so test np.isfinite too.",
            "last-only": "only the last step is examined; a run explodes if any step's norm is "
                         "too large or not finite.",
            "at-threshold": "a norm exactly equal to the threshold is not an explosion: the task "
                            "says larger than threshold (>, not >=).",
            "all-steps": "a run is flagged only if every step is bad; one bad step is enough "
                         "(any, not all).",
            "inverted": "the flags are inverted: True marks the runs that exploded.",
        }),
    )
)  # fmt: skip


# -- conceptual question: the spectral radius of a linear recurrence ----------------------------

# h_t = W h_{t-1}: every entry of W is below 1, yet the recurrence explodes (the notebook's W)
_W_LINEAR = ((0.6, 0.8), (0.3, 0.7))


def _rho_expected() -> float:
    W = torch.tensor(_W_LINEAR, dtype=torch.float64)
    return float(torch.linalg.eigvals(W).abs().max())


def _rho_wrong(kind: str) -> Callable[[], float]:
    def value() -> float:
        W = torch.tensor(_W_LINEAR, dtype=torch.float64)
        return float({
            "largest-entry": W.abs().max(),
            "largest-diagonal": W.diagonal().abs().max(),
            "spectral-norm": torch.linalg.matrix_norm(W, 2),
            "row-sum": W.abs().sum(1).max(),
            "column-sum": W.abs().sum(0).max(),
            "trace": W.trace(),
            "determinant": torch.linalg.det(W),
            "smaller-eigenvalue": torch.linalg.eigvals(W).abs().min(),
        }[kind])  # fmt: skip

    return value


register_answer(
    Answer(
        "rho",
        _rho_expected,
        atol=0.005,
        mistakes=mistakes(_rho_wrong, {
            "largest-entry": "the largest entry of W does not decide the growth; the largest "
                             "|eigenvalue| does: solve det(W - λI) = 0.",
            "largest-diagonal": "the diagonal holds the eigenvalues only of a triangular matrix; "
                                "this W is not: solve det(W - λI) = 0.",
            "spectral-norm": "this is the largest singular value (the spectral norm), an upper "
                             "bound on the growth per step; ρ is the largest |eigenvalue|.",
            "row-sum": "the largest row sum bounds ρ from above; ρ itself is the largest "
                       "|eigenvalue|.",
            "column-sum": "the largest column sum bounds ρ from above; ρ itself is the largest "
                          "|eigenvalue|.",
            "trace": "the trace is the *sum* of the eigenvalues; ρ is the largest of their "
                     "magnitudes.",
            "determinant": "the determinant is the *product* of the eigenvalues; ρ is the largest "
                           "of their magnitudes.",
            "smaller-eigenvalue": "this is the smaller eigenvalue; ρ is the largest |eigenvalue|, "
                                  "the one that decides the growth.",
        }),
    )
)  # fmt: skip
