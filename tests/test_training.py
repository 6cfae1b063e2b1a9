"""Tests for rnncourse.training: seeding, device choice, batching, fit, evaluate."""

from __future__ import annotations

import math
import os
import random

import numpy as np
import pytest
import torch
from torch import nn

from rnncourse.data import adding_problem, noisy_sine
from rnncourse.training import History, choose_device, evaluate, fit, seed_everything
from tests.conftest import tolerances

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


class LastStep(nn.Module):
    """Many-to-one reference model built from torch.nn: GRU, then a linear read-out of h_T."""

    def __init__(self, input_size: int = 2, hidden_size: int = 16) -> None:
        super().__init__()
        self.rnn = nn.GRU(input_size, hidden_size)
        self.out = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.rnn(x)[0][-1])  # (N, 1)


class Recorder(nn.Module):
    """Returns a learnable scalar times the input and records every batch it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(()))
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return self.w * x


# --------------------------------------------------------------------------------------
# seeding and devices
# --------------------------------------------------------------------------------------


def test_seed_everything_repeats_python_numpy_torch():
    """Does seeding twice give the same draws from random, numpy and torch?"""

    def draw():
        return random.random(), np.random.rand(), torch.rand(()).item()  # noqa: NPY002

    seed_everything(123)
    first = draw()
    seed_everything(123)
    assert draw() == first
    seed_everything(124)
    assert draw() != first


def test_seed_everything_rejects_bad_seed():
    """Does a negative or non-int seed raise ValueError naming seed?"""
    with pytest.raises(ValueError, match="seed"):
        seed_everything(-1)
    with pytest.raises(ValueError, match="seed"):
        seed_everything(1.5)  # type: ignore[arg-type]


def test_seed_everything_switches_deterministic_algorithms():
    """Does seeding turn torch's deterministic algorithms on (warn-only), and off when asked?"""
    try:
        seed_everything(0)
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert os.environ.get("CUBLAS_WORKSPACE_CONFIG")
        seed_everything(0, deterministic=False)
        assert not torch.are_deterministic_algorithms_enabled()
        with pytest.raises(TypeError, match="deterministic"):
            seed_everything(0, deterministic="yes")  # type: ignore[arg-type]
    finally:
        torch.use_deterministic_algorithms(False)


def test_choose_device_explicit_cpu():
    """Is an explicit CPU request honoured, as a string or a torch.device?"""
    assert choose_device("cpu") == torch.device("cpu")
    assert choose_device(torch.device("cpu")) == torch.device("cpu")


def test_choose_device_automatic_order(monkeypatch):
    """Is the order CUDA, then MPS, then CPU?"""
    import rnncourse.training as training

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(training, "_mps_available", lambda: True)
    assert choose_device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert choose_device() == torch.device("mps")
    monkeypatch.setattr(training, "_mps_available", lambda: False)
    assert choose_device() == torch.device("cpu")


def test_choose_device_refuses_missing_or_unknown(monkeypatch):
    """Does asking for an absent accelerator or a non-device raise ValueError?"""
    import rnncourse.training as training

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(training, "_mps_available", lambda: False)
    for bad in ["cuda", "cuda:0", "mps", "banana", "xpu"]:
        with pytest.raises(ValueError, match="prefer"):
            choose_device(bad)


def test_choose_device_matches_this_machine():
    """Does the automatic choice agree with what torch reports here?"""
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if expected == "cpu" and torch.backends.mps.is_available():
        expected = "mps"
    assert choose_device().type == expected


# --------------------------------------------------------------------------------------
# batching
# --------------------------------------------------------------------------------------


def _sequence_ids(T: int, N: int) -> torch.Tensor:
    """X of shape (T, N, 1) whose values are the sequence index n."""
    return torch.arange(N, dtype=torch.float32).expand(T, N).unsqueeze(-1).clone()


class PairChecker:
    """A model and a loss that record which sequences each batch holds, in order."""

    def __init__(self, input_ids, target_ids):
        self.input_ids, self.target_ids = input_ids, target_ids
        self.inputs: list[torch.Tensor] = []
        self.targets: list[torch.Tensor] = []
        self.model = nn.Linear(1, 1)
        check = self

        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.w = nn.Parameter(torch.zeros(()))

            def forward(self, x):
                check.inputs.append(check.input_ids(x))
                return self.w * x.sum()

        self.model = Model()

    def loss(self, pred, target):
        self.targets.append(self.target_ids(target))
        return pred**2


@pytest.mark.parametrize(
    ("layout", "input_ids", "target_ids"),
    [
        ("time-major, one target per sequence", lambda x: x[0, :, 0], lambda y: y[:, 0]),
        ("time-major, one target per step", lambda x: x[0, :, 0], lambda y: y[0, :, 0]),
        ("batch-first, one target per step", lambda x: x[:, 0, 0], lambda y: y[:, 0, 0]),
    ],
)
def test_tensor_batches_keep_inputs_and_targets_paired(layout, input_ids, target_ids):
    """Does every shuffled mini-batch pair each sequence with its own target, all once?"""
    T, N = 5, 23
    X = _sequence_ids(T, N)  # (T, N, 1)
    batch_first = layout.startswith("batch-first")
    if "per sequence" in layout:
        y = X[0].clone()  # (N, 1)
    else:
        y = X.clone()  # (T, N, 1)
    if batch_first:
        X, y = X.transpose(0, 1).contiguous(), y.transpose(0, 1).contiguous()  # (N, T, 1)
    check = PairChecker(input_ids, target_ids)
    fit(
        check.model,
        (X, y),
        check.loss,
        epochs=1,
        batch_size=4,
        progress=False,
        seed=0,
        batch_first=batch_first,
    )
    assert len(check.inputs) == math.ceil(N / 4)
    inputs, targets = torch.cat(check.inputs), torch.cat(check.targets)
    assert torch.equal(inputs, targets)
    assert sorted(inputs.tolist()) == list(range(N))
    assert inputs.tolist() != list(range(N))  # shuffled


def test_shuffle_false_keeps_order_and_seed_repeats_order():
    """Is the order kept without shuffling, and the same shuffled order for the same seed?"""
    X = _sequence_ids(3, 10)
    y = X.clone()
    orders = []
    for shuffle, seed in [(False, None), (True, 7), (True, 7), (True, 8)]:
        model = Recorder()
        fit(
            model,
            (X, y),
            nn.MSELoss(),
            epochs=1,
            batch_size=10,
            shuffle=shuffle,
            seed=seed,
            progress=False,
        )
        orders.append(model.seen[0][0, :, 0].tolist())
    assert orders[0] == list(range(10))
    assert orders[1] == orders[2] != orders[3]


def test_target_sequence_of_another_length_is_batched_along_dim_1():
    """Is a (T_out, N) target (seq2seq with T_out != T) cut along dim 1, paired with X?"""
    X = _sequence_ids(5, 12)  # (T, N, 1)
    y = torch.arange(12.0).expand(3, 12).clone()  # (T_out, N), column n holds n
    check = PairChecker(lambda x: x[0, :, 0], lambda t: t[0])
    fit(check.model, (X, y), check.loss, epochs=1, batch_size=5, seed=0, progress=False)
    assert torch.equal(torch.cat(check.inputs), torch.cat(check.targets))


def test_target_batch_dim_resolves_t_equal_n():
    """With T == N and targets (N, K=T), is the inferred dim wrong and the explicit one right?"""
    T = N = 6
    X = _sequence_ids(T, N)  # (T, N, 1)
    y = X[:, :, 0].T.clone()  # (N, T): row n holds n; looks time-major since T == N
    explicit = PairChecker(lambda x: x[0, :, 0], lambda t: t[:, 0])
    fit(
        explicit.model,
        (X, y),
        explicit.loss,
        epochs=1,
        batch_size=3,
        seed=0,
        progress=False,
        target_batch_dim=0,
    )
    assert torch.equal(torch.cat(explicit.inputs), torch.cat(explicit.targets))
    inferred = PairChecker(lambda x: x[0, :, 0], lambda t: t[:, 0])
    fit(inferred.model, (X, y), inferred.loss, epochs=1, batch_size=3, seed=0, progress=False)
    assert not torch.equal(torch.cat(inferred.inputs), torch.cat(inferred.targets))


def test_iterable_of_pairs_and_tuple_inputs():
    """Does fit accept a list of ((a, b), y) pairs and call model(a, b)?"""

    class Sum(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(()))

        def forward(self, a, b):
            return a + b + self.w

    g = torch.Generator().manual_seed(0)
    pairs = []
    for _ in range(4):
        a, b = torch.randn(3, 8, 1, generator=g), torch.randn(3, 8, 1, generator=g)
        pairs.append(((a, b), a + b + 2.0))
    history = fit(Sum(), pairs, nn.MSELoss(), epochs=30, lr=0.1, progress=False)
    assert len(history.step_loss) == 4 * 30
    assert history.train_loss[-1] < 1e-3 < history.train_loss[0]


def test_iterator_is_refused():
    """Does a one-shot iterator raise TypeError rather than silently train one epoch?"""
    pairs = iter([(torch.zeros(2, 3, 1), torch.zeros(2, 3, 1))])
    with pytest.raises(TypeError, match="train_data"):
        fit(nn.Linear(1, 1), pairs, nn.MSELoss(), epochs=2, progress=False)


def test_fit_rejects_bad_arguments():
    """Do a bad optimizer name, epochs, lr or clip_norm raise ValueError naming them?"""
    data = noisy_sine(4, 5)
    for kwargs, name in [
        ({"epochs": 0}, "epochs"),
        ({"epochs": 1, "optimizer": "adagrad2"}, "optimizer"),
        ({"epochs": 1, "lr": -1.0}, "lr"),
        ({"epochs": 1, "clip_norm": 0.0}, "clip_norm"),
        ({"epochs": 1, "batch_size": 0}, "batch_size"),
    ]:
        with pytest.raises(ValueError, match=name):
            fit(nn.Linear(1, 1), data, nn.MSELoss(), progress=False, **kwargs)


# --------------------------------------------------------------------------------------
# fit and evaluate
# --------------------------------------------------------------------------------------


def test_fit_learns_the_adding_problem_below_baseline():
    """Does a small GRU get well below the constant-prediction MSE 1/6 in a few seconds,
    with a History that has one entry per epoch and per step?"""
    torch.manual_seed(0)
    train = adding_problem(1024, 10, seed=0)
    val = adding_problem(256, 10, seed=1)
    model = LastStep()
    epochs, batch_size = 10, 64
    history = fit(
        model,
        train,
        nn.MSELoss(),
        epochs=epochs,
        lr=1e-2,
        batch_size=batch_size,
        val_data=val,
        seed=0,
        progress=False,
    )
    steps = epochs * (1024 // batch_size)
    assert isinstance(history, History) and not history.diverged
    assert history.epochs == epochs and len(history.val_loss) == epochs
    assert len(history.step_loss) == len(history.grad_norm) == steps
    assert all(g > 0 and math.isfinite(g) for g in history.grad_norm)
    assert 0 < history.seconds < 60 and history.device == "cpu"
    assert history.train_loss[-1] < 0.3 * history.train_loss[0]
    assert history.val_loss[-1] < 0.25 * (1 / 6)
    assert evaluate(model, val, nn.MSELoss()) == pytest.approx(history.val_loss[-1])


def test_fit_is_repeatable_with_a_seed():
    """Do two runs from the same initial weights and seed give identical histories?"""
    data = adding_problem(128, 6, seed=0)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = LastStep(hidden_size=4)
        runs.append(
            fit(
                model, data, nn.MSELoss(), epochs=2, batch_size=32, seed=3, progress=False
            ).step_loss
        )
    assert runs[0] == runs[1]


def test_logged_grad_norm_is_the_autograd_norm_before_clipping():
    """Is the first logged norm the total L2 norm of the autograd gradient, and does
    clipping limit the first SGD step to lr * clip_norm?"""
    torch.manual_seed(0)
    X, y = noisy_sine(16, 8, seed=0)
    model = nn.Linear(1, 1)
    w0 = [p.detach().clone() for p in model.parameters()]
    reference = nn.Linear(1, 1)
    reference.load_state_dict(model.state_dict())
    nn.MSELoss()(reference(X), y).backward()
    expected = torch.sqrt(sum((p.grad**2).sum() for p in reference.parameters()))

    lr, c = 0.5, 1e-3
    history = fit(
        model,
        (X, y),
        nn.MSELoss(),
        epochs=1,
        lr=lr,
        optimizer="sgd",
        batch_size=None,
        clip_norm=c,
        progress=False,
    )
    assert history.grad_norm[0] == pytest.approx(float(expected), rel=1e-5)
    assert history.grad_norm[0] > 10 * c  # so clipping was active
    step = torch.sqrt(
        sum(((p.detach() - q) ** 2).sum() for p, q in zip(model.parameters(), w0, strict=True))
    )
    assert float(step) == pytest.approx(lr * c, rel=1e-3)


def test_nan_loss_stops_training_without_crashing():
    """Does a NaN in the data stop fit at once with diverged=True and no update applied?"""
    X, y = noisy_sine(8, 5, seed=0)
    X[0, 0, 0] = float("nan")
    model = nn.Linear(1, 1)
    before = [p.detach().clone() for p in model.parameters()]
    history = fit(model, (X, y), nn.MSELoss(), epochs=5, batch_size=None, progress=False)
    assert history.diverged
    assert len(history.step_loss) == 1 and math.isnan(history.step_loss[0])
    assert history.epochs == 1 and math.isnan(history.train_loss[0])
    for p, q in zip(model.parameters(), before, strict=True):
        assert torch.equal(p.detach(), q)


def test_exploding_sgd_is_flagged_as_diverged():
    """Does plain SGD with a far too large step blow up to inf/NaN and get flagged?"""
    g = torch.Generator().manual_seed(0)
    X = 10 * torch.randn(1, 64, 1, generator=g)  # E[x^2] = 100: stable only for lr < 0.01
    y = 3 * X
    model = nn.Linear(1, 1)
    history = fit(
        model,
        (X, y),
        nn.MSELoss(),
        epochs=500,
        lr=1.0,
        optimizer="sgd",
        batch_size=None,
        progress=False,
    )
    assert history.diverged
    assert history.epochs < 500
    assert not (math.isfinite(history.step_loss[-1]) and math.isfinite(history.grad_norm[-1]))
    assert all(math.isfinite(v) for v in history.step_loss[:-1])


def test_evaluate_is_batch_size_independent_and_restores_mode():
    """Is the mean loss the same in one batch or many, equal to a direct computation,
    and is the model's training mode restored?"""
    torch.manual_seed(0)
    X, y = adding_problem(50, 7, seed=2)
    model = LastStep(hidden_size=5)
    with torch.no_grad():
        direct = float(nn.MSELoss()(model(X), y))
    model.train()
    for batch_size in [None, 7, 50]:
        got = evaluate(model, (X, y), nn.MSELoss(), batch_size=batch_size)
        assert got == pytest.approx(direct, rel=1e-5)
    assert model.training


def test_progress_bar_can_be_disabled(capsys):
    """Does progress=False print nothing?"""
    fit(nn.Linear(1, 1), noisy_sine(4, 5), nn.MSELoss(), epochs=2, progress=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_fit_on_device(device):
    """Does fit move the model and batches to the requested device and train there?"""
    dtype = torch.float64 if device.type != "mps" else torch.float32
    X, y = noisy_sine(32, 10, seed=0, dtype=dtype)
    torch.manual_seed(0)
    model = nn.Linear(1, 1).to(dtype)
    history = fit(model, (X, y), nn.MSELoss(), epochs=3, lr=0.05, device=device, progress=False)
    assert next(model.parameters()).device.type == device.type
    assert history.device.startswith(device.type)
    assert history.train_loss[-1] < history.train_loss[0]
    on_device = evaluate(model, (X, y), nn.MSELoss())
    on_cpu = evaluate(model.cpu(), (X, y), nn.MSELoss())
    assert on_cpu == pytest.approx(on_device, rel=tolerances(dtype)["rtol"])
