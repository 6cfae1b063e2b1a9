"""What is graded (:mod:`rnncourse.grading.specs`): resolving references, the registry, the
seeded inputs on each backend and device, and the call as messages show it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnncourse.grading import specs
from rnncourse.grading.specs import (
    LIBRARY_CELLS,
    LIBRARY_LAYERS,
    Spec,
    build_inputs,
    describe_call,
    devices,
    register,
    resolve,
    spec,
    spec_names,
)


@pytest.fixture(autouse=True)
def _own_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(specs, "_SPECS", dict(specs._SPECS))


def _spec(**fields) -> Spec:
    base = {
        "name": "toy",
        "reference": lambda x, y: x,
        "make_inputs": lambda rng, case: ((rng.normal(size=2),), {}),
        "cases": ({},),
    }
    return Spec(**{**base, **fields})


def test_library_names_are_torchs() -> None:
    """Is every name in LIBRARY_CELLS and LIBRARY_LAYERS a function of torch's C module?"""
    for name in (*LIBRARY_CELLS, *LIBRARY_LAYERS):
        assert callable(getattr(torch._C._VariableFunctions, name))
    assert set(LIBRARY_CELLS) == {"rnn_tanh_cell", "rnn_relu_cell", "lstm_cell", "gru_cell"}
    assert set(LIBRARY_LAYERS) == {"rnn_tanh", "rnn_relu", "lstm", "gru"}


def test_resolve() -> None:
    """Are a function, a module attribute (imported on demand), a class attribute and a
    missing path resolved as they should be?"""
    import rnncourse.rnn

    assert resolve(len) is len
    assert resolve("rnncourse.rnn.rnn_cell") is rnncourse.rnn.rnn_cell
    assert resolve("json.dumps").__name__ == "dumps"
    assert resolve("torch.nn.RNNCell.forward") is torch.nn.RNNCell.forward
    assert resolve("rnncourse.rnn.nowhere") is None
    assert resolve("rnncourse.nowhere.f") is None
    assert resolve("torch.nn.Nowhere.forward") is None


def test_register_and_look_up() -> None:
    """Does registering resolve the reference and add the spec; does an unknown name say
    which are known; are the names sorted?"""
    register(_spec(reference="rnncourse.rnn.rnn_cell", forbidden_library=("lstm", "gru_cell")))
    import rnncourse.rnn

    assert spec("toy")._reference is rnncourse.rnn.rnn_cell
    assert "toy" in spec_names() and spec_names() == sorted(spec_names())
    with pytest.raises(KeyError, match=r"no graded function called 'nope'; known: \['"):
        spec("nope")
    with pytest.raises(
        ValueError,
        match=r"toy: forbidden_library names unknown functions "
        r"\['lstmcell', 'rnn'\]",
    ):
        register(_spec(forbidden_library=("rnn", "lstm", "lstmcell")))


def test_devices() -> None:
    assert devices() == (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])


def test_inputs_are_seeded_by_seed_and_index() -> None:
    """Are inputs identical for the same seed and index, different for another of either,
    and built from the case?"""
    s = _spec(make_inputs=lambda rng, case: ((rng.normal(size=case["n"]),), {}), backend="numpy")
    a = build_inputs(s, 1, 0, {"n": 3}, "cpu")[0][0]
    assert a.shape == (3,) and np.array_equal(a, build_inputs(s, 1, 0, {"n": 3}, "cpu")[0][0])
    assert not np.array_equal(a, build_inputs(s, 2, 0, {"n": 3}, "cpu")[0][0])
    assert not np.array_equal(a, build_inputs(s, 1, 1, {"n": 3}, "cpu")[0][0])
    assert np.array_equal(a, np.random.default_rng([1, 0]).normal(size=3))


def test_torch_inputs_are_tensors_on_the_device() -> None:
    """On the torch backend, do float arrays become float64 tensors and integer arrays int64
    tensors, inside tuples, lists and dicts, each a copy; other values and other backends
    unchanged?"""
    shared = np.arange(3.0)

    def make(rng, case):
        return (shared, [np.arange(2)], (1.5, "s")), {"d": {"w": shared}, "n": None}

    args, kwargs = build_inputs(_spec(make_inputs=make), 0, 0, {}, "cpu")
    x, (ints,), pair = args
    assert type(x) is torch.Tensor and x.dtype == torch.float64 and x.device.type == "cpu"
    assert ints.dtype == torch.int64 and type(args[1]) is list and pair == (1.5, "s")
    assert type(args) is tuple and kwargs["n"] is None and torch.equal(kwargs["d"]["w"], x)
    x += 1
    assert shared.tolist() == [0.0, 1.0, 2.0]
    for backend in ("numpy", "python"):
        args, kwargs = build_inputs(_spec(make_inputs=make, backend=backend), 0, 0, {}, "cpu")
        assert args[0] is shared and kwargs["d"]["w"] is shared


def test_describe_call_names_the_shapes() -> None:
    """Is the call written with the reference's parameter names (``argN`` beyond them), the
    keyword arguments, and the device for torch tasks only?"""
    s = _spec(reference=lambda x, h: None, _reference=lambda x, h: None)
    args = (torch.zeros(2, 3), np.zeros(4), 5)
    assert describe_call(s, args, {"k": [np.zeros(1)]}, "cpu") == (
        "toy(x=(2, 3), h=(4,), arg2=5, k=[(1,)]) on cpu"
    )
    numpy_spec = _spec(backend="numpy", _reference=lambda x, h: None)
    assert describe_call(numpy_spec, args[:1], {}, "cuda") == "toy(x=(2, 3))"
    assert describe_call(_spec(_reference=None), (1,), {}, "cuda") == "toy(arg0=1) on cuda"
    no_signature = _spec(_reference=type("Odd", (), {"__signature__": "not one"})())
    assert describe_call(no_signature, (1,), {}, "cpu") == "toy(arg0=1) on cpu"


def test_mistakes_are_built_in_order_from_name_and_hint() -> None:
    """Is one Mistake made per ``name: hint``, in order, its variant made from its name?"""
    made = specs.mistakes(lambda name: f"variant of {name}", {"b": "hint b", "a": "hint a"})
    assert [(m.name, m.hint, m.variant) for m in made] == [
        ("b", "hint b", "variant of b"),
        ("a", "hint a", "variant of a"),
    ]
    assert type(made) is tuple and specs.mistakes(len, {}) == ()
