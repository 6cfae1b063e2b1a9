"""Correct answers written in other styles than the solutions: loops where they vectorise,
vectorised where they loop, other torch or NumPy operations, equivalent formulas.

``ALTERNATIVES[name]`` lists at least two for every graded task of exercises 2-10 (not 8b);
``tests/test_grading_mistakes.py`` checks that each one passes :func:`rnncourse.grading.check`,
and ``tests/grading/test_static.py`` that its source breaks no rule of its task.
``TRAINED_ALTERNATIVES[name]`` lists two other ways to train each trained task's model (other
architectures, other loops), which must pass :func:`rnncourse.grading.check_trained`. None of
them calls a reference from ``rnncourse`` (each is written from the task's equations).
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import torch
import torch.nn.functional as F

from rnncourse.data import BOS, EOS, PAD

# -- exercise 2 ---------------------------------------------------------------------------------


def rnn_cell_linear(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    # F.linear(x, W, b) = x @ W.T + b
    return torch.tanh(F.linear(x, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh))


def rnn_cell_columns(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    # column vectors as in the book, W x, and tanh(a) = 1 - 2 / (exp(2a) + 1)
    a = (weight_ih @ x.unsqueeze(-1)).squeeze(-1) + (weight_hh @ h.unsqueeze(-1)).squeeze(-1)
    for b in (bias_ih, bias_hh):
        if b is not None:
            a = a + b
    return 1 - 2 / (torch.exp(2 * a) + 1)


def output_layer_einsum(h, weight_hy, bias_y):
    return torch.einsum("...h,oh->...o", h, weight_hy) + bias_y


def output_layer_columns(h, weight_hy, bias_y):
    return (weight_hy @ h.unsqueeze(-1)).squeeze(-1) + bias_y


def count_parameters_parts(input_size, hidden_size, output_size):
    shapes = [(hidden_size, input_size), (hidden_size, hidden_size), (hidden_size,),
              (hidden_size,), (output_size, hidden_size), (output_size,)]  # fmt: skip
    return sum(math.prod(s) for s in shapes)


def count_parameters_factored(input_size, hidden_size, output_size):
    return hidden_size * (input_size + hidden_size + 2) + output_size * (hidden_size + 1)


# -- exercise 3 ---------------------------------------------------------------------------------


def _step(x_t, h, p):
    return torch.tanh(x_t @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"])


def rnn_forward_preallocated(x, h_0, params):
    T, N = x.shape[0], x.shape[1]
    H = params["weight_hh"].shape[0]
    h = torch.zeros(N, H, dtype=x.dtype, device=x.device) if h_0 is None else h_0
    output = x.new_empty(T, N, H)
    t = 0
    while t < T:
        h = _step(x[t], h, params)
        output[t] = h
        t += 1
    return output, output[-1]


def rnn_forward_iterating(x, h_0, params):
    h = h_0 if h_0 is not None else x.new_zeros(x.shape[1], params["weight_hh"].shape[0])
    states = []
    for x_t in x.unbind(0):
        # the input term as a column-vector product, the recurrent one with einsum
        a = (params["weight_ih"] @ x_t.T).T + torch.einsum("hk,nk->nh", params["weight_hh"], h)
        h = torch.tanh(a + params["bias_ih"] + params["bias_hh"])
        states.append(h)
    return torch.stack(states, dim=0), h


def many_to_one_addmm(x, h_0, params, weight_hy, bias_y):
    _, h_T = rnn_forward_preallocated(x, h_0, params)
    return torch.addmm(bias_y, h_T, weight_hy.T)


def many_to_one_columns(x, h_0, params, weight_hy, bias_y):
    output, _ = rnn_forward_iterating(x, h_0, params)
    return (weight_hy @ output[-1].T).T + bias_y


def last_hidden_gather(output, lengths):
    T, N, H = output.shape
    index = (lengths - 1).view(1, N, 1).expand(1, N, H)
    return output.gather(0, index)[0]


def last_hidden_mask(output, lengths):
    T = output.shape[0]
    last = torch.arange(T, device=output.device)[:, None] == (lengths - 1)[None, :]  # (T, N)
    return (output * last[..., None].to(output.dtype)).sum(0)


# -- exercise 4 ---------------------------------------------------------------------------------


def numerical_gradient_flat(f, param, eps=1e-6):
    flat = param.reshape(-1)  # a view: writing it writes param
    grad = np.empty(flat.size)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + eps
        up = f()
        flat[i] = saved - eps
        down = f()
        flat[i] = saved
        grad[i] = (up - down) / (2 * eps)
    return grad.reshape(param.shape)


def numerical_gradient_product(f, param, eps=1e-6):
    grad = np.zeros(param.shape)
    for idx in itertools.product(*(range(n) for n in param.shape)):
        old = float(param[idx])
        values = []
        for sign in (1.0, -1.0):
            param[idx] = old + sign * eps
            values.append(f())
        param[idx] = old
        grad[idx] = (values[0] - values[1]) / eps / 2
    return grad


def rel_error_guarded(a, b):
    num = np.max(np.abs(a - b))
    den = np.max(np.abs(a) + np.abs(b))
    return 0.0 if den == 0 else float(num / den)


def rel_error_loop(a, b):
    top = scale = 0.0
    for u, v in zip(np.ravel(a), np.ravel(b), strict=True):
        top = max(top, abs(u - v))
        scale = max(scale, abs(u) + abs(v))
    return top / scale if scale > 0 else 0.0


def _inputs_of(params, cache, dy):
    dy = cache["y"] - cache["targets"] if dy is None else dy
    return cache["x"], cache["h_0"], cache["h"], dy


def rnn_backward_einsum(params, cache, dy=None, dh_T=None):
    # store every dL/da_t, then sum the weight gradients with one einsum each
    x, h_0, h, dy = _inputs_of(params, cache, dy)
    T, N, H = h.shape
    h_prev = np.concatenate([h_0[None], h[:-1]])  # (T, N, H)
    da = np.zeros_like(h)
    dh = np.zeros_like(h)
    carry = np.zeros((N, H)) if dh_T is None else dh_T
    for t in range(T - 1, -1, -1):
        dh[t] = np.einsum("no,oh->nh", dy[t], params["weight_hy"]) + carry
        da[t] = dh[t] * (1 - h[t] * h[t])
        carry = np.einsum("nh,hk->nk", da[t], params["weight_hh"])
    grads = {
        "weight_ih": np.einsum("tnh,tni->hi", da, x),
        "weight_hh": np.einsum("tnh,tnk->hk", da, h_prev),
        "bias_ih": da.sum(axis=(0, 1)),
        "bias_hh": da.sum(axis=(0, 1)),
        "weight_hy": np.einsum("tno,tnh->oh", dy, h),
        "bias_y": dy.sum(axis=(0, 1)),
        "h_0": carry,
    }
    return grads, dh


def rnn_backward_per_example(params, cache, dy=None, dh_T=None):
    # one sequence at a time, outer products, and the batch summed at the end
    x, h_0, h, dy = _inputs_of(params, cache, dy)
    T, N, H = h.shape
    grads = {name: np.zeros_like(value) for name, value in params.items()}
    grads["h_0"] = np.zeros_like(h_0)
    dh = np.zeros_like(h)
    for n in range(N):
        carry = np.zeros(H) if dh_T is None else dh_T[n]
        for t in reversed(range(T)):
            prev = h[t - 1, n] if t else h_0[n]
            total = params["weight_hy"].T @ dy[t, n] + carry
            dh[t, n] = total
            da = (1 - h[t, n] ** 2) * total
            grads["weight_ih"] += np.outer(da, x[t, n])
            grads["weight_hh"] += np.outer(da, prev)
            grads["bias_ih"] += da
            grads["bias_hh"] += da
            grads["weight_hy"] += np.outer(dy[t, n], h[t, n])
            grads["bias_y"] += dy[t, n]
            carry = params["weight_hh"].T @ da
        grads["h_0"][n] = carry
    return grads, dh


def truncated_bptt_grads_accumulated(params, cache, k, dy=None):
    # dL/da_s summed over the losses L_t that reach step s, then one einsum per weight
    x, h_0, h, dy = _inputs_of(params, cache, dy)
    T = h.shape[0]
    da = np.zeros_like(h)
    into_h0 = np.zeros_like(h_0)
    for t in range(T):
        g = dy[t] @ params["weight_hy"]
        s, depth = t, 0
        while s >= 0 and depth < k:
            a = (1 - h[s] ** 2) * g
            da[s] += a
            g = a @ params["weight_hh"]
            if s == 0:
                into_h0 += g
            s, depth = s - 1, depth + 1
    h_prev = np.concatenate([h_0[None], h[:-1]])
    return {
        "weight_ih": np.einsum("tnh,tni->hi", da, x),
        "weight_hh": np.einsum("tnh,tnk->hk", da, h_prev),
        "bias_ih": da.sum(axis=(0, 1)),
        "bias_hh": da.sum(axis=(0, 1)),
        "weight_hy": np.einsum("tno,tnh->oh", dy, h),
        "bias_y": dy.sum(axis=(0, 1)),
        "h_0": into_h0,
    }


def truncated_bptt_grads_windows(params, cache, k, dy=None):
    # for every loss L_t a backward pass over its own window max(0, t-k+1) .. t
    x, h_0, h, dy = _inputs_of(params, cache, dy)
    T = h.shape[0]
    grads = {name: np.zeros_like(value) for name, value in params.items()}
    grads["h_0"] = np.zeros_like(h_0)
    for t in range(T):
        grads["weight_hy"] += dy[t].T @ h[t]
        grads["bias_y"] += dy[t].sum(0)
        g = dy[t] @ params["weight_hy"]
        for s in range(t, max(0, t - k + 1) - 1, -1):
            a = g * (1 - h[s] ** 2)
            grads["weight_ih"] += a.T @ x[s]
            grads["weight_hh"] += a.T @ (h[s - 1] if s > 0 else h_0)
            grads["bias_ih"] += a.sum(0)
            grads["bias_hh"] += a.sum(0)
            g = a @ params["weight_hh"]
        if t - k + 1 <= 0:
            grads["h_0"] += g
    return grads


# -- exercise 5 ---------------------------------------------------------------------------------


def jacobian_product_reduce(h, weight_hh, t, k):
    H = weight_hh.shape[0]
    eye = torch.eye(H, dtype=weight_hh.dtype, device=weight_hh.device)
    steps = [torch.diag(1 - h[j - 1] ** 2) @ weight_hh for j in range(t, k, -1)]  # latest first
    return functools.reduce(torch.matmul, steps, eye)


def jacobian_product_right(h, weight_hh, t, k):
    # J = (D_t W)(D_{t-1} W)...: multiply each new factor on the right, latest first
    J = torch.eye(weight_hh.shape[0], dtype=h.dtype, device=h.device)
    for j in range(t, k, -1):
        J = J @ (weight_hh * (1 - h[j - 1] ** 2).unsqueeze(1))
    return J


def jacobian_norms_numpy(h, weight_hh, t=None, ord=2):
    t = h.shape[0] if t is None else t
    return np.array(
        [np.linalg.norm(jacobian_product_reduce(h, weight_hh, t, k).cpu().numpy(), ord)
         for k in range(t + 1)],
        dtype=np.float64,
    )  # fmt: skip


def jacobian_norms_svd(h, weight_hh, t=None, ord=2):
    t = h.shape[0] if t is None else t
    norms = []
    J = torch.eye(weight_hh.shape[0], dtype=weight_hh.dtype, device=weight_hh.device)
    for k in range(t, -1, -1):
        if k < t:
            J = J @ ((1 - h[k] ** 2)[:, None] * weight_hh)
        value = torch.linalg.svdvals(J).max() if ord == 2 else J.pow(2).sum().sqrt()
        norms.append(value.item())
    return np.asarray(norms[::-1])


def clip_grad_norm_np_concat(grads, max_norm, norm_type=2.0):
    flat = np.concatenate([g.ravel() for g in grads.values()])
    total = float(np.linalg.norm(flat, ord=float(norm_type)))
    coef = min(1.0, max_norm / (total + 1e-6))
    return {name: g * coef for name, g in grads.items()}, total


def clip_grad_norm_np_manual(grads, max_norm, norm_type=2.0):
    p = float(norm_type)
    if p == math.inf:
        total = max(float(np.abs(g).max()) for g in grads.values())
    else:
        total = sum(float((np.abs(g) ** p).sum()) for g in grads.values()) ** (1.0 / p)
    if total > max_norm:
        scale = max_norm / (total + 1e-6)
        return {name: g * scale for name, g in grads.items()}, total
    return {name: g.copy() for name, g in grads.items()}, total


def clip_grad_value_np_minmax(grads, clip_value):
    return {name: np.minimum(np.maximum(g, -clip_value), clip_value) for name, g in grads.items()}


def clip_grad_value_np_where(grads, clip_value):
    out = {}
    for name, g in grads.items():
        out[name] = np.where(g > clip_value, clip_value, np.where(g < -clip_value, -clip_value, g))
    return out


def flag_exploding_loop(grad_norms, threshold):
    flags = [any(not math.isfinite(v) or v > threshold for v in row) for row in grad_norms]
    return np.array(flags, dtype=bool)


def flag_exploding_complement(grad_norms, threshold):
    # a run is fine when every step is finite and at most the threshold
    with np.errstate(invalid="ignore"):
        fine = np.isfinite(grad_norms) & (grad_norms <= threshold)
    return ~fine.all(axis=1)


# -- exercises 6, 8, 9: a GRU cell written out, and torch's -------------------------------------


def _gru(x_t, h, weight_ih, weight_hh, bias_ih, bias_hh):
    r_x, z_x, n_x = F.linear(x_t, weight_ih, bias_ih).chunk(3, dim=-1)
    r_h, z_h, n_h = F.linear(h, weight_hh, bias_hh).chunk(3, dim=-1)
    r, z = torch.sigmoid(r_x + r_h), torch.sigmoid(z_x + z_h)
    n = torch.tanh(n_x + r * n_h)
    return n + z * (h - n)  # (1 - z) n + z h


def _cell(params, suffix=""):
    return tuple(params[f"{k}{suffix}"] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


def tag_sequence_loop(x, params):
    h = x.new_zeros(x.shape[1], params["weight_hh"].shape[1])
    ys = []
    for x_t in x:
        h = _gru(x_t, h, *_cell(params))
        ys.append(torch.einsum("oh,nh->no", params["weight_hy"], h) + params["bias_y"])
    return torch.stack(ys)


def tag_sequence_torch_cell(x, params):
    h = x.new_zeros(x.shape[1], params["weight_hh"].shape[1])
    states = []
    for t in range(x.shape[0]):
        h = torch.gru_cell(x[t], h, *_cell(params))
        states.append(h)
    return F.linear(torch.stack(states), params["weight_hy"], params["bias_y"])


def classify_sequences_gather(x, lengths, params):
    T, N = x.shape[0], x.shape[1]
    h = x.new_zeros(N, params["weight_hh"].shape[1])
    states = []
    for t in range(T):
        h = _gru(x[t], h, *_cell(params))
        states.append(h)
    states = torch.stack(states)  # (T, N, H)
    last = states[lengths - 1, torch.arange(N, device=x.device)]
    return last @ params["weight_hy"].T + params["bias_y"]


def classify_sequences_frozen(x, lengths, params):
    # the state stops changing after each sequence's last real step
    h = x.new_zeros(x.shape[1], params["weight_hh"].shape[1])
    for t in range(x.shape[0]):
        new = torch.gru_cell(x[t], h, *_cell(params))
        h = torch.where((t < lengths)[:, None], new, h)
    return F.linear(h, params["weight_hy"], params["bias_y"])


def generate_loop(x, steps, params, y_teacher=None):
    h = torch.tanh(x @ params["weight_xh"].T + params["bias_xh"])
    y = x.new_zeros(x.shape[0], params["weight_hy"].shape[0])
    outputs = []
    for t in range(steps):
        h = _gru(y, h, *_cell(params))
        out = h @ params["weight_hy"].T + params["bias_y"]
        outputs.append(out)
        y = out if y_teacher is None else y_teacher[t]
    return torch.stack(outputs)


def generate_shifted_inputs(x, steps, params, y_teacher=None):
    h = torch.tanh(F.linear(x, params["weight_xh"], params["bias_xh"]))
    zero = x.new_zeros(1, x.shape[0], params["weight_hy"].shape[0])
    inputs = None if y_teacher is None else torch.cat([zero, y_teacher[: steps - 1]])
    y = zero[0]
    outputs = x.new_empty(steps, x.shape[0], params["weight_hy"].shape[0])
    for t in range(steps):
        h = torch.gru_cell(y if inputs is None else inputs[t], h, *_cell(params))
        outputs[t] = F.linear(h, params["weight_hy"], params["bias_y"])
        y = outputs[t]
    return outputs


# -- exercise 7 ---------------------------------------------------------------------------------


def lstm_cell_split(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    h, c = state
    gates = F.linear(x, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh)
    H = h.shape[-1]
    i, f, g, o = torch.split(gates, H, dim=-1)
    c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_next), c_next


def lstm_cell_per_gate(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    h, c = state
    H = h.shape[-1]

    def gate(k):
        rows = slice(k * H, (k + 1) * H)
        a = x @ weight_ih[rows].T + h @ weight_hh[rows].T
        if bias_ih is not None:
            a = a + bias_ih[rows]
        if bias_hh is not None:
            a = a + bias_hh[rows]
        return a

    i, f, o = (1 / (1 + torch.exp(-gate(k))) for k in (0, 1, 3))
    c_next = f * c + i * torch.tanh(gate(2))
    return o * torch.tanh(c_next), c_next


def gru_cell_chunks(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    return _gru(x, h, weight_ih, weight_hh, bias_ih, bias_hh)


def gru_cell_slices(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    H = h.shape[-1]
    b_ih = bias_ih if bias_ih is not None else x.new_zeros(3 * H)
    b_hh = bias_hh if bias_hh is not None else x.new_zeros(3 * H)
    W_ir, W_iz, W_in = weight_ih[:H], weight_ih[H : 2 * H], weight_ih[2 * H :]
    W_hr, W_hz, W_hn = weight_hh[:H], weight_hh[H : 2 * H], weight_hh[2 * H :]
    r = torch.sigmoid(x @ W_ir.T + b_ih[:H] + h @ W_hr.T + b_hh[:H])
    z = torch.sigmoid(x @ W_iz.T + b_ih[H : 2 * H] + h @ W_hz.T + b_hh[H : 2 * H])
    n = torch.tanh(x @ W_in.T + b_ih[2 * H :] + r * (h @ W_hn.T + b_hh[2 * H :]))
    return (1 - z) * n + z * h


# -- exercise 8 ---------------------------------------------------------------------------------


def reverse_gru_flip(x, h_0, params):
    h, states = h_0, []
    for x_t in x.flip(0):
        h = _gru(x_t, h, *_cell(params))
        states.append(h)
    return torch.stack(states).flip(0), h


def reverse_gru_indexed(x, h_0, params):
    T = x.shape[0]
    output = x.new_empty(T, *h_0.shape)
    h = h_0
    for t in reversed(range(T)):
        h = torch.gru_cell(x[t], h, *_cell(params))
        output[t] = h
    return output, output[0]


def bidirectional_gru_two_loops(x, params):
    T, N, H = x.shape[0], x.shape[1], params["weight_hh_l0"].shape[1]
    h_f = h_b = x.new_zeros(N, H)
    fwd, bwd = [None] * T, [None] * T
    for t in range(T):
        h_f = _gru(x[t], h_f, *_cell(params, "_l0"))
        fwd[t] = h_f
        h_b = _gru(x[T - 1 - t], h_b, *_cell(params, "_l0_reverse"))
        bwd[T - 1 - t] = h_b
    return torch.cat([torch.stack(fwd), torch.stack(bwd)], dim=2), torch.stack([h_f, h_b])


def bidirectional_gru_flipped(x, params):
    N, H = x.shape[1], params["weight_hh_l0"].shape[1]
    out_f, h_f = _run(x, x.new_zeros(N, H), _cell(params, "_l0"))
    out_b, h_b = _run(x.flip(0), x.new_zeros(N, H), _cell(params, "_l0_reverse"))
    output = x.new_empty(x.shape[0], N, 2 * H)
    output[..., :H], output[..., H:] = out_f, out_b.flip(0)
    return output, torch.stack([h_f, h_b])


def _run(x, h, weights):
    states = []
    for x_t in x:
        h = torch.gru_cell(x_t, h, *weights)
        states.append(h)
    return torch.stack(states), h


def bidirectional_gru_padded_each(x, lengths, params):
    T, N, H = x.shape[0], x.shape[1], params["weight_hh_l0"].shape[1]
    output = x.new_zeros(T, N, 2 * H)
    h_n = x.new_zeros(2, N, H)
    for n in range(N):
        L = int(lengths[n])
        out, h = bidirectional_gru_two_loops(x[:L, n : n + 1], params)
        output[:L, n], h_n[:, n] = out[:, 0], h[:, 0]
    return output, h_n


def bidirectional_gru_padded_masked(x, lengths, params):
    T, N, H = x.shape[0], x.shape[1], params["weight_hh_l0"].shape[1]
    zeros = x.new_zeros(N, H)
    h_f, h_b = zeros, zeros
    out_f, out_b = [None] * T, [None] * T
    for t in range(T):
        real = (t < lengths)[:, None]
        h_f = torch.where(real, _gru(x[t], h_f, *_cell(params, "_l0")), h_f)
        out_f[t] = torch.where(real, h_f, zeros)
        s = T - 1 - t
        real_s = (s < lengths)[:, None]  # the backward state stays zero over the padding
        h_b = torch.where(real_s, _gru(x[s], h_b, *_cell(params, "_l0_reverse")), zeros)
        out_b[s] = h_b
    return torch.cat([torch.stack(out_f), torch.stack(out_b)], -1), torch.stack([h_f, h_b])


# -- exercise 9 ---------------------------------------------------------------------------------


def encode_frozen(src, lengths, enc):
    S, N = src.shape
    h = enc["embedding"].new_zeros(N, enc["weight_hh"].shape[1])
    memory = []
    for j in range(S):
        real = (j < lengths)[:, None]
        h = torch.where(real, _gru(enc["embedding"][src[j]], h, *_cell(enc)), h)
        memory.append(h * real)
    return torch.stack(memory), h


def encode_each(src, lengths, enc):
    S, N = src.shape
    H = enc["weight_hh"].shape[1]
    memory = enc["embedding"].new_zeros(S, N, H)
    state = enc["embedding"].new_zeros(N, H)
    for n in range(N):
        h = state[n : n + 1]
        for j in range(int(lengths[n])):
            h = torch.gru_cell(F.embedding(src[j, n : n + 1], enc["embedding"]), h, *_cell(enc))
            memory[j, n] = h[0]
        state[n] = h[0]
    return memory, state


def _logits(dec, s):
    return s @ dec["weight_out"].T + dec["bias_out"]


def decode_teacher_forced_loop(tgt, state, dec):
    y = torch.full_like(tgt[0], BOS)
    logits = []
    for t in range(tgt.shape[0]):
        state = _gru(dec["embedding"][y], state, *_cell(dec))
        logits.append(_logits(dec, state))
        y = tgt[t]
    return torch.stack(logits)


def decode_teacher_forced_shifted(tgt, state, dec):
    inputs = torch.cat([tgt.new_full((1, tgt.shape[1]), BOS), tgt[:-1]])  # (T, N)
    embedded = F.embedding(inputs, dec["embedding"])  # (T, N, E)
    states = []
    for e_t in embedded:
        state = torch.gru_cell(e_t, state, *_cell(dec))
        states.append(state)
    return F.linear(torch.stack(states), dec["weight_out"], dec["bias_out"])


def greedy_translate_masked(src, lengths, params, max_len):
    _, state = encode_frozen(src, lengths, params["encoder"])
    dec = params["decoder"]
    N = src.shape[1]
    tokens = torch.full((max_len, N), PAD, dtype=src.dtype, device=src.device)
    y = torch.full((N,), BOS, dtype=src.dtype, device=src.device)
    done = torch.zeros(N, dtype=torch.bool, device=src.device)
    for t in range(max_len):
        state = _gru(dec["embedding"][y], state, *_cell(dec))
        y = _logits(dec, state).argmax(-1)
        tokens[t] = torch.where(done, torch.full_like(y, PAD), y)
        done = done | (y == EOS)
    return tokens


def greedy_translate_afterwards(src, lengths, params, max_len):
    # decode max_len tokens, then PAD everything after each sequence's first EOS
    _, state = encode_each(src, lengths, params["encoder"])
    dec = params["decoder"]
    y = src.new_full((src.shape[1],), BOS)
    out = []
    for _ in range(max_len):
        state = torch.gru_cell(F.embedding(y, dec["embedding"]), state, *_cell(dec))
        y = torch.argmax(F.linear(state, dec["weight_out"], dec["bias_out"]), dim=1)
        out.append(y)
    tokens = torch.stack(out)
    seen = torch.cumsum((tokens == EOS).long(), dim=0)
    after = torch.cat([torch.zeros_like(seen[:1]), seen[:-1]]) > 0
    return tokens.masked_fill(after, PAD)


# -- exercise 10 --------------------------------------------------------------------------------


def make_windows_loop(series, window, horizon):
    M = series.shape[0] - window - horizon + 1
    X = torch.stack([series[m : m + window] for m in range(M)], dim=1)[..., None]
    y = torch.stack([series[m + window : m + window + horizon] for m in range(M)])
    return X, y


def make_windows_unfold(series, window, horizon):
    pieces = series.unfold(0, window + horizon, 1)  # (M, window + horizon)
    return pieces[:, :window].T.unsqueeze(-1).contiguous(), pieces[:, window:].clone()


def naive_forecast_repeat(X, horizon):
    return X[-1, :, 0].unsqueeze(1).repeat(1, horizon)


def naive_forecast_ones(X, horizon):
    return torch.ones(X.shape[1], horizon, dtype=X.dtype, device=X.device) * X[-1]


# -- exercises 9 and 10: attention, beam search, sampling, perplexity ---------------------------


def attention_loop(query, keys, mask, attn):
    """One sequence at a time, softmax over the real positions only (padding never scored)."""
    S, N, H_k = keys.shape
    context, weights = keys.new_zeros(N, H_k), keys.new_zeros(N, S)
    for n in range(N):
        real = mask[:, n].nonzero().flatten()
        k = keys[real, n]  # (S_n, H_k)
        e = torch.stack([attn["v"] @ torch.tanh(attn["W_q"] @ query[n] + attn["W_k"] @ kj)
                         for kj in k])  # fmt: skip
        a = torch.exp(e - e.max())
        a = a / a.sum()
        weights[n, real] = a
        context[n] = (a[:, None] * k).sum(0)
    return context, weights


def attention_einsum(query, keys, mask, attn):
    """einsum, and a mask applied by multiplication after a stable exp (then renormalised)."""
    pre = torch.einsum("ah,nh->na", attn["W_q"], query)[None] + torch.einsum(
        "ak,snk->sna", attn["W_k"], keys
    )
    e = torch.einsum("sna,a->ns", torch.tanh(pre), attn["v"])  # (N, S)
    e = e - e.max(dim=1, keepdim=True).values
    w = torch.exp(e) * mask.T
    w = w / w.sum(dim=1, keepdim=True)
    return torch.einsum("ns,snk->nk", w, keys), w


def _torch_modules(params, like):
    """The GRU encoder (whole sequence) and decoder cell holding ``params``, written out."""
    enc, dec = params["encoder"], params["decoder"]

    def gru(x):  # x: (T, N, E) -> (None, h_n (1, N, H))
        h = x.new_zeros(x.shape[1], enc["weight_hh"].shape[1])
        for x_t in x:
            h = _gru(x_t, h, *_cell(enc))
        return None, h[None]

    def cell(x, h):
        return _gru(x, h, *_cell(dec))

    return gru, cell


def _step_log_probs(params, like):
    """``(state, token) -> (log-probs (V,), next state)`` and the encoder's final state."""
    enc, dec = params["encoder"], params["decoder"]
    gru, cell = _torch_modules(params, like)

    def start(src):
        _, h_n = gru(F.embedding(src, enc["embedding"])[:, None])
        return h_n[0, 0]  # (H,)

    def step(state, token):
        s = cell(dec["embedding"][token][None], state[None])[0]
        return F.log_softmax(F.linear(s, dec["weight_out"], dec["bias_out"]), -1), s

    return start, step


def beam_lists(params, src, beam_width, max_len, length_penalty=0.0):
    """Hypotheses as Python lists, one decoder call each, sorted() over all candidates."""
    start, step = _step_log_probs(params, params["encoder"]["embedding"])
    with torch.no_grad():
        beam = [([], 0.0, start(src), BOS)]  # (tokens, log p, state, next input)
        finished = []
        for t in range(max_len):
            candidates = []
            for tokens, logp, state, y in beam:
                log_probs, new_state = step(state, y)
                candidates += [(logp + float(lp), tokens + [v], new_state)
                               for v, lp in enumerate(log_probs)]  # fmt: skip
            candidates.sort(key=lambda c: -c[0])  # stable: ties keep the beam's order
            beam = []
            for logp, tokens, state in candidates[:beam_width]:
                if tokens[-1] == EOS or t == max_len - 1:
                    lp = ((5 + len(tokens)) / 6) ** length_penalty
                    finished.append((logp / lp, tokens))
                else:
                    beam.append((tokens, logp, state, tokens[-1]))
            if not beam:
                break
    score, tokens = max(finished, key=lambda f: f[0])
    return torch.tensor(tokens, device=src.device), score


def beam_batched(params, src, beam_width, max_len, length_penalty=0.0):
    """The beam as one batch through torch.nn.GRUCell; topk over the flattened scores."""
    enc, dec = params["encoder"], params["decoder"]
    gru, cell = _torch_modules(params, enc["embedding"])
    with torch.no_grad():
        _, h_n = gru(F.embedding(src, enc["embedding"])[:, None])
        state, logp = h_n[0], src.new_zeros(1, dtype=enc["embedding"].dtype)
        seqs, y, best = src.new_zeros(1, 0), src.new_full((1,), BOS), (-math.inf, None)
        for t in range(max_len):
            state = cell(F.embedding(y, dec["embedding"]), state)
            scores = logp[:, None] + F.log_softmax(
                F.linear(state, dec["weight_out"], dec["bias_out"]), -1
            )
            V = scores.shape[1]
            logp, flat = scores.flatten().topk(min(beam_width, scores.numel()))
            parent, y = flat // V, flat % V
            seqs, state = torch.cat([seqs[parent], y[:, None]], 1), state[parent]
            done = (y == EOS) | (t == max_len - 1)
            for i in done.nonzero().flatten().tolist():
                score = logp[i].item() / ((6 + t) / 6) ** length_penalty
                if score > best[0]:
                    best = (score, seqs[i])
            seqs, state, logp, y = seqs[~done], state[~done], logp[~done], y[~done]
            if len(y) == 0:
                break
    return best[1], best[0]


def tempered_numpy(logits, tau):
    z = logits.cpu().numpy()
    if tau == 0:
        p = (z == z.max(-1, keepdims=True)).astype(z.dtype)
    else:
        p = np.exp((z - z.max(-1, keepdims=True)) / tau)
        p = p / p.sum(-1, keepdims=True)
    return torch.tensor(p, device=logits.device)


def tempered_power(logits, tau):
    """softmax(logits) ** (1 / tau), renormalised: the same distribution, in log space."""
    if tau == 0:
        return F.one_hot(logits.argmax(-1), logits.shape[-1]).to(logits.dtype)
    logp = F.log_softmax(logits, -1) / tau
    return torch.exp(logp - torch.logsumexp(logp, -1, keepdim=True))


def sample_numpy_probs(logits, tau, generator):
    return torch.multinomial(tempered_numpy(logits, tau), 1, generator=generator).flatten()


def sample_unnormalised(logits, tau, generator):
    """torch.multinomial takes unnormalised weights: exp((y - max) / tau)."""
    if tau == 0:
        weights = (logits == logits.max(-1, keepdim=True).values).to(logits.dtype)
    else:
        weights = torch.exp((logits - logits.max(-1, keepdim=True).values) / tau)
    return torch.multinomial(weights, 1, generator=generator)[:, 0]


def perplexity_torch(logits, targets):
    total = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=PAD,
                            reduction="sum")  # fmt: skip
    return math.exp(total.item() / int((targets != PAD).sum()))


def perplexity_bits(logits, targets):
    """Token by token in Python, in bits: 2 ** bits."""
    z, y = logits.cpu().numpy(), targets.cpu().numpy()
    bits, n = 0.0, 0
    for t, i in itertools.product(range(y.shape[0]), range(y.shape[1])):
        if y[t, i] != PAD:
            row = z[t, i]
            log_z = row.max() + math.log(np.exp(row - row.max()).sum())
            bits += (log_z - row[y[t, i]]) / math.log(2)
            n += 1
    return 2 ** (bits / n)


ALTERNATIVES = {
    "rnn_cell": [rnn_cell_linear, rnn_cell_columns],
    "output_layer": [output_layer_einsum, output_layer_columns],
    "count_parameters": [count_parameters_parts, count_parameters_factored],
    "rnn_forward": [rnn_forward_preallocated, rnn_forward_iterating],
    "many_to_one": [many_to_one_addmm, many_to_one_columns],
    "last_hidden": [last_hidden_gather, last_hidden_mask],
    "numerical_gradient": [numerical_gradient_flat, numerical_gradient_product],
    "rel_error": [rel_error_guarded, rel_error_loop],
    "rnn_backward": [rnn_backward_einsum, rnn_backward_per_example],
    "truncated_bptt_grads": [truncated_bptt_grads_accumulated, truncated_bptt_grads_windows],
    "jacobian_product": [jacobian_product_reduce, jacobian_product_right],
    "jacobian_norms": [jacobian_norms_numpy, jacobian_norms_svd],
    "clip_grad_norm_np": [clip_grad_norm_np_concat, clip_grad_norm_np_manual],
    "clip_grad_value_np": [clip_grad_value_np_minmax, clip_grad_value_np_where],
    "flag_exploding": [flag_exploding_loop, flag_exploding_complement],
    "tag_sequence": [tag_sequence_loop, tag_sequence_torch_cell],
    "classify_sequences": [classify_sequences_gather, classify_sequences_frozen],
    "generate": [generate_loop, generate_shifted_inputs],
    "lstm_cell": [lstm_cell_split, lstm_cell_per_gate],
    "gru_cell": [gru_cell_chunks, gru_cell_slices],
    "reverse_gru": [reverse_gru_flip, reverse_gru_indexed],
    "bidirectional_gru": [bidirectional_gru_two_loops, bidirectional_gru_flipped],
    "bidirectional_gru_padded": [bidirectional_gru_padded_each, bidirectional_gru_padded_masked],
    "encode": [encode_frozen, encode_each],
    "decode_teacher_forced": [decode_teacher_forced_loop, decode_teacher_forced_shifted],
    "greedy_translate": [greedy_translate_masked, greedy_translate_afterwards],
    "make_windows": [make_windows_loop, make_windows_unfold],
    "naive_forecast": [naive_forecast_repeat, naive_forecast_ones],
    "additive_attention": [attention_loop, attention_einsum],
    "beam_search": [beam_lists, beam_batched],
    "tempered_probs": [tempered_numpy, tempered_power],
    "sample_next": [sample_numpy_probs, sample_unnormalised],
    "perplexity": [perplexity_torch, perplexity_bits],
}


# -- trained tasks: other architectures and other training loops --------------------------------


class _LastStep(torch.nn.Module):
    """A recurrent layer over the sequence and a linear head on its last output."""

    def __init__(self, rnn, hidden, batch_first=False):
        super().__init__()
        self.rnn, self.head, self.batch_first = rnn, torch.nn.Linear(hidden, 1), batch_first

    def forward(self, x):  # x: (T, N, H_in)
        out, _ = self.rnn(x.transpose(0, 1) if self.batch_first else x)
        return self.head(out[:, -1] if self.batch_first else out[-1])  # (N, 1)


def _fit_minibatches(model, x, y, steps, batch, lr, seed=0):
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        index = torch.randint(0, x.shape[1], (batch,), generator=generator)
        loss = F.mse_loss(model(x[:, index]), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def adding_gru_batch_first(x, y):
    # a GRU reading (N, T, 2), Adam on mini-batches
    torch.manual_seed(1)
    rnn = torch.nn.GRU(2, 24, batch_first=True)
    return _fit_minibatches(_LastStep(rnn, 24, batch_first=True), x, y, 400, 64, 1e-2)


def adding_plain_rnn_relu(x, y):
    # a plain (Elman) ReLU RNN with identity initial recurrence (Le et al. 2015), T = 10 is short
    torch.manual_seed(2)
    rnn = torch.nn.RNN(2, 32, nonlinearity="relu")
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(torch.eye(32))
        rnn.bias_hh_l0.zero_()
    return _fit_minibatches(_LastStep(rnn, 32), x, y, 800, 100, 3e-3)


def forecaster_lstm_minibatches(X, y):
    # an LSTM, mini-batches of 32 windows instead of full batch
    torch.manual_seed(3)
    return _fit_minibatches(_LastStep(torch.nn.LSTM(1, 16), 16), X, y, 400, 32, 1e-2)


class _LeastSquaresAR(torch.nn.Module):
    """No training loop: a linear autoregression on the window, fitted by least squares."""

    def __init__(self, X, y):
        super().__init__()
        A = torch.cat([X[:, :, 0].T, torch.ones(X.shape[1], 1)], dim=1)  # (M, w + 1)
        self.coef = torch.nn.Parameter(torch.linalg.lstsq(A, y).solution)  # (w + 1, 1)

    def forward(self, X):
        return torch.cat([X[:, :, 0].T, X.new_ones(X.shape[1], 1)], dim=1) @ self.coef


def forecaster_least_squares(X, y):
    return _LeastSquaresAR(X, y)


class _Transcriber(torch.nn.Module):
    """Standardised frames -> a bidirectional recurrent layer -> log-probabilities (T, N, 11)."""

    def __init__(self, rnn, hidden, mean, std, packed):
        super().__init__()
        self.rnn, self.head, self.packed = rnn, torch.nn.Linear(2 * hidden, 11), packed
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x, lengths):
        z = (x - self.mean) / self.std
        if self.packed:  # each direction sees only its utterance's frames
            packed = torch.nn.utils.rnn.pack_padded_sequence(z, lengths, enforce_sorted=False)
            out, _ = torch.nn.utils.rnn.pad_packed_sequence(
                self.rnn(packed)[0], total_length=x.shape[0]
            )
        else:
            out, _ = self.rnn(z)
        return self.head(out).log_softmax(-1)


def _train_transcriber(rnn, hidden, packed, features, lengths, targets, target_lengths, steps):
    frames = torch.cat([features[: int(n), i] for i, n in enumerate(lengths)])  # (sum T_n, 40)
    model = _Transcriber(rnn, hidden, frames.mean(0), frames.std(0), packed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        batch = torch.randperm(features.shape[1])[:32]
        T = int(lengths[batch].max())
        loss = F.ctc_loss(
            model(features[:T, batch], lengths[batch]),
            targets[batch],
            lengths[batch],
            target_lengths[batch],
            zero_infinity=True,
        )
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
    return model


def recognizer_bilstm(features, lengths, targets, target_lengths):
    # a bidirectional LSTM, statistics over the real frames only, clipped gradients
    torch.manual_seed(4)
    rnn = torch.nn.LSTM(40, 40, bidirectional=True)
    return _train_transcriber(rnn, 40, False, features, lengths, targets, target_lengths, 300)


def recognizer_packed_bigru(features, lengths, targets, target_lengths):
    # a bidirectional GRU over packed sequences, so the backward direction skips the padding
    torch.manual_seed(5)
    rnn = torch.nn.GRU(40, 48, bidirectional=True)
    return _train_transcriber(rnn, 48, True, features, lengths, targets, target_lengths, 150)


TRAINED_ALTERNATIVES = {
    "train_adding_model": [adding_gru_batch_first, adding_plain_rnn_relu],
    "train_forecaster": [forecaster_lstm_minibatches, forecaster_least_squares],
    "train_recognizer": [recognizer_bilstm, recognizer_packed_bigru],
}
