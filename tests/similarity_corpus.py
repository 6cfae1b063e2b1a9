"""Answers to ``ex07_lstm_gru`` for the similarity tests and benchmark.

:data:`INDEPENDENT` holds three learners who wrote every answer themselves, in different styles
(slices of one matrix product, per-gate weights with ``F.linear``, a loop over chunks; an
``nn.LSTM``, an ``nn.LSTMCell`` loop, an ``nn.GRU`` with a ``DataLoader``). :func:`planted`
derives the copies the report must find: ``dan`` renames every name of ``ann``'s answers and
changes comments and spacing, ``eve`` reorders independent lines of ``bea``'s, and ``fay`` writes
her own LSTM but pastes ``gru_step`` from ``rnncourse/gru.py`` into her GRU answer, and ``hal``
trains his own model with the training loop of chapter 7 pasted from the book.
"""

from __future__ import annotations

import re

ASSIGNMENT = "ex07_lstm_gru"
TASKS = ("lstm_cell", "gru_cell", "train_adding_model")

LSTM: dict[str, str] = {}
GRU: dict[str, str] = {}
TRAIN: dict[str, str] = {}
LSTM["ann"] = '''def lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One LSTM step with PyTorch's gate order i, f, g, o."""
    h_prev, c_prev = state
    H = h_prev.shape[-1]
    z = torch.matmul(x, weight_ih.t()) + torch.matmul(h_prev, weight_hh.t())
    if bias_ih is not None:
        z += bias_ih
    if bias_hh is not None:
        z += bias_hh
    input_gate = torch.sigmoid(z[..., 0:H])
    forget_gate = torch.sigmoid(z[..., H:2 * H])
    candidate = torch.tanh(z[..., 2 * H:3 * H])
    output_gate = torch.sigmoid(z[..., 3 * H:])
    c_new = forget_gate * c_prev + input_gate * candidate
    return output_gate * torch.tanh(c_new), c_new
'''
LSTM["bea"] = '''def lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One LSTM step with PyTorch's gate order i, f, g, o."""
    h, c = state
    b = 0
    for bias in (bias_ih, bias_hh):
        if bias is not None:
            b = b + bias
    w_i, w_f, w_g, w_o = torch.split(weight_ih, weight_ih.shape[0] // 4)
    u_i, u_f, u_g, u_o = torch.split(weight_hh, weight_hh.shape[0] // 4)
    b_i, b_f, b_g, b_o = (torch.split(b, b.shape[0] // 4) if torch.is_tensor(b) else (0, 0, 0, 0))
    i = torch.sigmoid(F.linear(x, w_i) + F.linear(h, u_i) + b_i)
    f = torch.sigmoid(F.linear(x, w_f) + F.linear(h, u_f) + b_f)
    g = torch.tanh(F.linear(x, w_g) + F.linear(h, u_g) + b_g)
    o = torch.sigmoid(F.linear(x, w_o) + F.linear(h, u_o) + b_o)
    c = f * c + i * g
    h = o * c.tanh()
    return h, c
'''
LSTM["cal"] = '''def lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One LSTM step with PyTorch's gate order i, f, g, o."""
    hidden, cell = state
    pre = torch.addmm(torch.zeros(1), x, weight_ih.T) if False else F.linear(x, weight_ih, bias_ih)
    pre = pre + F.linear(hidden, weight_hh, bias_hh)
    acts = []
    for k, gate in enumerate(pre.chunk(4, -1)):
        acts.append(gate.tanh() if k == 2 else gate.sigmoid())
    in_g, forget, cand, out_g = acts
    cell = torch.addcmul(forget * cell, in_g, cand)
    return out_g * cell.tanh(), cell
'''
GRU["ann"] = '''def gru_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One GRU step with PyTorch's gate order r, z, n and reset placement."""
    H = h.shape[-1]
    a = torch.matmul(x, weight_ih.t())
    b = torch.matmul(h, weight_hh.t())
    if bias_ih is not None:
        a += bias_ih
    if bias_hh is not None:
        b += bias_hh
    reset = torch.sigmoid(a[..., :H] + b[..., :H])
    update = torch.sigmoid(a[..., H:2 * H] + b[..., H:2 * H])
    new = torch.tanh(a[..., 2 * H:] + reset * b[..., 2 * H:])
    return new + update * (h - new)
'''
GRU["bea"] = '''def gru_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One GRU step with PyTorch's gate order r, z, n and reset placement."""
    W_ir, W_iz, W_in = weight_ih.chunk(3)
    W_hr, W_hz, W_hn = weight_hh.chunk(3)
    zero = x.new_zeros(3 * h.shape[-1])
    b_ir, b_iz, b_in = (zero if bias_ih is None else bias_ih).chunk(3)
    b_hr, b_hz, b_hn = (zero if bias_hh is None else bias_hh).chunk(3)
    r = torch.sigmoid(x @ W_ir.T + b_ir + h @ W_hr.T + b_hr)
    z = torch.sigmoid(x @ W_iz.T + b_iz + h @ W_hz.T + b_hz)
    n = torch.tanh(x @ W_in.T + b_in + r * (h @ W_hn.T + b_hn))
    return z * h + (1 - z) * n
'''
GRU["cal"] = '''def gru_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One GRU step with PyTorch's gate order r, z, n and reset placement."""
    gx = F.linear(x, weight_ih, bias_ih).chunk(3, dim=-1)
    gh = F.linear(h, weight_hh, bias_hh).chunk(3, dim=-1)
    r, z = [torch.sigmoid(u + v) for u, v in zip(gx[:2], gh[:2])]
    n = torch.tanh(gx[2] + r * gh[2])
    return torch.lerp(n, h, z)
'''
TRAIN["ann"] = '''class AddingModel(nn.Module):
    """An LSTM that reads the sequence; a linear layer reads its last hidden state."""

    def __init__(self, hidden_size=16):
        super().__init__()
        self.lstm = nn.LSTM(input_size=2, hidden_size=hidden_size)
        self.out = nn.Linear(hidden_size, 1)

    def forward(self, x):
        outputs, _ = self.lstm(x)
        return self.out(outputs[-1])


def train_adding_model(x, y):
    """Train an AddingModel on (x, y) and return it."""
    torch.manual_seed(1)
    net = AddingModel()
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    n = x.shape[1]
    for epoch in range(40):
        perm = torch.randperm(n)
        for start in range(0, n, 64):
            idx = perm[start:start + 64]
            opt.zero_grad()
            err = ((net(x[:, idx]) - y[idx]) ** 2).mean()
            err.backward()
            opt.step()
    return net
'''
TRAIN["bea"] = '''class AddingModel(nn.Module):
    """An LSTM that reads the sequence; a linear layer reads its last hidden state."""

    def __init__(self, hidden_size=16):
        super().__init__()
        self.cell = nn.LSTMCell(2, hidden_size)
        self.readout = nn.Linear(hidden_size, 1)

    def forward(self, x):
        h = x.new_zeros(x.shape[1], self.cell.hidden_size)
        c = torch.zeros_like(h)
        for x_t in x:
            h, c = self.cell(x_t, (h, c))
        return self.readout(h)


def train_adding_model(x, y):
    """Train an AddingModel on (x, y) and return it."""
    model = AddingModel(hidden_size=24)
    optim = torch.optim.RMSprop(model.parameters(), lr=3e-3)
    loss_fn = nn.MSELoss()
    step = 0
    while step < 500:
        rows = torch.randint(x.shape[1], (128,))
        loss = loss_fn(model(x[:, rows]), y[rows])
        optim.zero_grad()
        loss.backward()
        optim.step()
        step += 1
    return model
'''
TRAIN["cal"] = '''class AddingModel(nn.Module):
    """An LSTM that reads the sequence; a linear layer reads its last hidden state."""

    def __init__(self, hidden_size=16):
        super().__init__()
        self.body = nn.Sequential()
        self.rnn = nn.GRU(2, hidden_size, num_layers=1)
        self.fc = nn.Linear(hidden_size, 1)

    def forward(self, x):
        _, last = self.rnn(x)
        return self.fc(last.squeeze(0))


def train_adding_model(x, y):
    """Train an AddingModel on (x, y) and return it."""
    model = AddingModel(32)
    sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    data = torch.utils.data.TensorDataset(x.transpose(0, 1), y)
    loader = torch.utils.data.DataLoader(data, batch_size=50, shuffle=True)
    for _ in range(20):
        for xb, yb in loader:
            sgd.zero_grad()
            torch.nn.functional.mse_loss(model(xb.transpose(0, 1)), yb).backward()
            sgd.step()
    return model
'''


def planted() -> dict[str, dict[str, str]]:
    """``student -> {task: answer}`` of the copies (see the module docstring)."""
    out = {}
    # dan: ann's answers with every local name changed, other comments, other spacing
    names = {
        "h_prev": "hp", "c_prev": "cp", "input_gate": "ig", "forget_gate": "fg",
        "candidate": "cand", "output_gate": "og", "c_new": "cell_next", "z": "pre", "H": "size",
        "net": "mdl", "opt": "adam", "perm": "order", "idx": "sel", "err": "loss_value",
        "epoch": "_ep", "start": "lo", "n": "count", "a": "xi", "b": "hi", "reset": "rr",
        "update": "uu", "new": "cand_n", "lstm": "recurrent", "out": "head", "outputs": "ys",
    }  # fmt: skip

    def rename(src: str) -> str:
        return re.sub(r"\b\w+\b", lambda m: names.get(m.group(0), m.group(0)), src)

    out["dan"] = {
        "lstm_cell": rename(LSTM["ann"]).replace(
            "    size = hp.shape[-1]\n", "    # hidden size\n    size  =  hp.shape[ -1 ]\n\n"
        ),
        "gru_cell": rename(GRU["ann"]).replace(
            "    if bias_hh", "    # second bias\n    if bias_hh"
        ),
        "train_adding_model": rename(TRAIN["ann"]).replace(
            "    count = x.shape[1]", "    count = x.shape[1]  # examples"
        ),
    }

    # eve: bea's answers with independent lines swapped
    def swap(lines, i, j):
        lines[i], lines[j] = lines[j], lines[i]

    lstm_lines = LSTM["bea"].split("\n")
    # w/u split lines, and gates i..o
    iw = next(n for n, l in enumerate(lstm_lines) if l.strip().startswith("w_i"))
    swap(lstm_lines, iw, iw + 1)
    ig = next(n for n, l in enumerate(lstm_lines) if l.strip().startswith("i = "))
    swap(lstm_lines, ig, ig + 3)
    swap(lstm_lines, ig + 1, ig + 2)
    gru_lines = GRU["bea"].split("\n")
    r = next(n for n, l in enumerate(gru_lines) if l.strip().startswith("W_ir"))
    swap(gru_lines, r, r + 1)
    swap(gru_lines, r + 3, r + 4)
    r = next(n for n, l in enumerate(gru_lines) if l.strip().startswith("r = "))
    swap(gru_lines, r, r + 1)
    train_lines = TRAIN["bea"].split("\n")
    o = next(n for n, l in enumerate(train_lines) if "RMSprop" in l)
    swap(train_lines, o, o + 1)
    out["eve"] = {
        "lstm_cell": "\n".join(lstm_lines),
        "gru_cell": "\n".join(gru_lines),
        "train_adding_model": "\n".join(train_lines),
    }
    return out


#: fay's own LSTM: one gate at a time from row blocks of the weights
FAY_LSTM = '''def lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One LSTM step with PyTorch's gate order i, f, g, o."""
    h0, c0 = state
    size = h0.size(-1)

    def gate(k):
        rows = slice(k * size, (k + 1) * size)
        total = x @ weight_ih[rows].T + h0 @ weight_hh[rows].T
        for bias in (bias_ih, bias_hh):
            if bias is not None:
                total = total + bias[rows]
        return total

    c1 = torch.sigmoid(gate(1)) * c0 + torch.sigmoid(gate(0)) * torch.tanh(gate(2))
    h1 = torch.sigmoid(gate(3)) * torch.tanh(c1)
    return h1, c1
'''

GRU_FROM_REFERENCE = '''def gru_step(xw, h, weight_hh, bias_hh=None):
    x_r, x_z, x_n = xw.chunk(3, dim=-1)  # W_i* x_t + b_i*, each (N, H)
    hw = F.linear(h, weight_hh, bias_hh)  # W_hh h_{t-1} + b_hh, (N, 3H)
    h_r, h_z, h_n = hw.chunk(3, dim=-1)  # W_h* h_{t-1} + b_h*, each (N, H)
    # r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
    r = torch.sigmoid(x_r + h_r)
    # z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    z = torch.sigmoid(x_z + h_z)
    # n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
    n = torch.tanh(x_n + r * h_n)
    # h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}
    return (1 - z) * n + z * h  # (N, H)


def gru_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One GRU step with PyTorch's gate order r, z, n and reset placement."""
    return gru_step(F.linear(x, weight_ih, bias_ih), h, weight_hh, bias_hh)
'''


#: hal's own model, trained by the adding-problem loop of chapter 7 pasted from the book
HAL = '''class AddingModel(nn.Module):
    """An LSTM that reads the sequence; a linear layer reads its last hidden state."""

    def __init__(self, hidden_size=16):
        super().__init__()
        self.cell = nn.LSTM(2, hidden_size)
        self.out = nn.Linear(hidden_size, 1)

    def forward(self, x):
        return self.out(self.cell(x)[0][-1])


def train_adding_model(x, y):
    """Train an AddingModel on (x, y) and return it."""
    T, H, N, STEPS = x.shape[0], 16, 64, 400
    seed_everything(0)
    model = AddingModel(H)
    with torch.no_grad():
        model.cell.bias_ih_l0[H : 2 * H].fill_(1.0)  # forget-gate block of (i, f, g, o)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(1, STEPS + 1):
        x, y = adding_problem(N, T, seed=step)  # a fresh batch every update
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return model
'''


def independent() -> dict[str, dict[str, str]]:
    """``student -> {task: answer}`` of the three independent learners."""
    return {
        name: dict(zip(TASKS, (LSTM[name], GRU[name], TRAIN[name]), strict=True)) for name in LSTM
    }


def all_learners() -> dict[str, dict[str, str]]:
    """The independent learners, the planted copies, ``fay`` and ``hal``."""
    return {
        **independent(),
        **planted(),
        "fay": {"lstm_cell": FAY_LSTM, "gru_cell": GRU_FROM_REFERENCE},
        "hal": {"train_adding_model": HAL},
    }
