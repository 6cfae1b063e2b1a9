"""The comparison of outputs (:mod:`rnncourse.grading.compare`), read directly: every kind of
difference it names, in its words, with hand-made values; the plain transformations; shapes in
messages; which arrays share memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnncourse.grading.channel import Handle, Opaque
from rnncourse.grading.compare import (
    ATOL,
    RTOL,
    as_array,
    compare,
    kind_name,
    leaves,
    name_outputs,
    shape_of,
    shares,
    transformation,
)

TOL = "(tolerance atol=1e-06, rtol=1e-05)"


def _cmp(expected, actual, path: str = "") -> str | None:
    return compare(expected, actual, path, ATOL, RTOL)


def test_default_tolerances() -> None:
    assert (ATOL, RTOL) == (1e-6, 1e-5)


@pytest.mark.parametrize(
    ("value", "shape"),
    [
        (torch.zeros(2, 3), "(2, 3)"),
        (np.zeros(4), "(4,)"),
        (np.zeros(()), "()"),
        ({"a": np.zeros(2), "b": 3}, "{'a': (2,), 'b': 3}"),
        ((np.zeros(1), [torch.zeros(2, 1)]), "((1,), [(2, 1)])"),
        (len, "a function"),
        (None, "None"),
        (True, "True"),
        (2.5, "2.5"),
        ("s", "'s'"),
        (object(), "object"),
    ],
    ids=lambda v: repr(v)[:15],
)
def test_shape_of(value, shape) -> None:
    assert shape_of(value) == shape


def test_as_array_reads_each_kind() -> None:
    """Are tensors (as float64 copies on the CPU, their device named), arrays, bools and
    numbers read, and proxies, tensor subclasses and text refused by type name?"""
    kind, a = as_array(torch.tensor([1.5, 2.0], dtype=torch.float32))
    assert kind == "tensor:cpu" and a.dtype == np.float64 and a.tolist() == [1.5, 2.0]
    kind, a = as_array(torch.tensor([1, 2]))
    assert kind == "tensor:cpu" and a.dtype == np.int64
    w = torch.nn.Parameter(torch.ones(2))
    assert as_array(w)[0] == "tensor:cpu"
    t = torch.zeros(2)
    kind, a = as_array(t)
    a[0] = 5.0
    assert t[0] == 0.0  # a copy
    x = np.zeros(2)
    kind, a = as_array(x)
    assert kind == "ndarray" and not np.shares_memory(a, x)
    assert as_array(np.ma.masked_array([1.0]))[1].__class__ is np.ndarray
    assert as_array(True) == ("bool", True) and as_array(np.bool_(False)) == ("bool", False)
    assert as_array(3) == ("number", 3.0) and as_array(np.int32(3)) == ("number", 3.0)
    assert as_array(np.float32(0.5)) == ("number", 0.5)
    assert as_array(np.str_("x")) == ("unsupported", "str_")
    assert as_array("x") == ("unsupported", "str")
    assert as_array(Handle(1, "Net")) == ("unsupported", "Net")
    assert as_array(Opaque("Gen")) == ("unsupported", "Gen")
    sub = torch.zeros(2).as_subclass(type("Liar", (torch.Tensor,), {}))
    assert as_array(sub) == ("unsupported", "Liar")


def test_kind_names() -> None:
    assert kind_name("tensor:cuda:0") == "a torch tensor on cuda:0"
    assert kind_name("ndarray") == "a NumPy array"
    assert kind_name("number") == "a number" and kind_name("bool") == "a bool"
    assert kind_name("str") == "str"


def test_containers() -> None:
    """Are a missing dict, missing keys, a wrong container, a wrong length and a difference
    deep inside named with the path to it?"""
    e = {"a": np.zeros(2), "b": (1, 2)}
    assert _cmp(e, [1]) == "output: expected a dict with keys ['a', 'b'], got list"
    assert _cmp(e, {"a": np.zeros(2)}) == "output: missing keys ['b']"
    assert _cmp(e, {"a": np.zeros(2), "b": (1, 3), "c": 0}) == "['b'][1]: expected 2, got 3"
    assert _cmp(e, {"a": np.zeros(2), "b": [1, 2]}) is None
    assert _cmp((1, 2), 5) == "output: expected a tuple of 2 items, got int"
    assert _cmp([1, 2], (1,)) == "output: expected 2 items, got 1"
    assert _cmp([1, 2], [1, 2], "h") is None
    assert _cmp([1, [2]], [1, [4]], "h") == "h[1][0]: expected 2, got 4"
    assert _cmp((np.zeros(1), np.zeros(1)), (np.zeros(1), np.ones(1)))[:4] == "[1]:"


def test_types_and_devices() -> None:
    t, a = torch.zeros(2), np.zeros(2)
    assert _cmp(t, "x") == "output: expected a torch tensor on cpu, got an object of type str"
    assert _cmp(t, a) == "output: expected a torch tensor on cpu, got a NumPy array"
    assert _cmp(a, t) == "output: expected a NumPy array, got a torch tensor on cpu"
    assert _cmp(a, [0.0, 0.0]) == "output: expected a NumPy array, got an object of type list"
    assert _cmp(2.0, a) == "output: expected a single number, got a NumPy array (2,)"
    assert _cmp(2.0, np.array(2.0)) is None
    assert _cmp(2.0, "2") == "output: expected a number, got an object of type str"


def test_numbers() -> None:
    """Are ints and bools compared exactly (shown as plain numbers), floats within
    ``atol + rtol * |expected|``, nan matching nan and an infinity only itself?"""
    assert _cmp(3, 3.0) is None and _cmp(3, 3.0000001) == "output: expected 3, got 3.0000001"
    assert _cmp(3, np.int64(4)) == "output: expected 3, got 4"
    assert _cmp(True, False) == "output: expected True, got False"
    assert _cmp(True, 1) is None
    assert _cmp(np.bool_(True), np.bool_(False)) == "output: expected True, got False"
    assert _cmp(float("nan"), float("nan")) is None
    assert _cmp(float("inf"), float("inf")) is None
    assert _cmp(float("inf"), float("-inf")) == "output: expected inf, got -inf"
    assert _cmp(float("-inf"), 5.0) == "output: expected -inf, got 5.0"
    assert _cmp(float("nan"), 5.0) == "output: expected nan, got 5.0"
    assert _cmp(1.0, float("nan")) == "output: expected 1, got nan"
    assert _cmp(1.0, float("inf")) == "output: expected 1, got inf"
    assert _cmp(100.0, 100.0 + 1e-6 + 1e-3 - 1e-9) is None
    assert _cmp(100.0, 100.0 + 1e-6 + 1e-3 + 1e-9) == f"output: expected 100, got 100.001 {TOL}"
    assert _cmp(-100.0, -100.0 - 1e-3) is None  # rtol of |expected|
    assert _cmp(0.5, 0.75, "p") == f"p: expected 0.5, got 0.75 {TOL}"


def test_integer_arrays() -> None:
    e = np.array([[1, 2], [3, 4]])
    assert _cmp(e, e.astype(np.float64)) is None
    assert _cmp(e, np.array([[1, 5], [3, 6]])) == (
        "output: 2 of 4 entries differ; first at index (0, 1): expected 2, got 5"
    )
    assert _cmp(e, np.array([["a", "b"], ["c", "d"]])) == (
        "output: expected numbers, got dtype <U1"
    )
    assert _cmp(e, np.zeros((2, 3))) == "output: expected shape (2, 2), got shape (2, 3)"
    assert _cmp(np.array([True, False]), np.array([True, True])) == (
        "output: 1 of 2 entries differ; first at index (1,): expected False, got True"
    )
    assert _cmp(np.array([1], dtype=np.uint8), np.array([True])) is None


def test_float_arrays() -> None:
    """Is the largest error named with its index, nan or inf where a number is expected
    refused, and a non-finite expected entry matched only by the same value?"""
    e = np.array([[0.0, 1.0], [2.0, 3.0]])
    a = e.copy()
    a[0, 1] += 0.25
    a[1, 0] += 0.5
    assert _cmp(e, a) == (f"output: largest error 0.5 at index (1, 0): expected 2, got 2.5 {TOL}")
    three = np.array([3.0, -3.0])  # atol + rtol * 3 is 3.1e-5
    assert _cmp(three, three + [3.1e-5 - 1e-9, -3.1e-5 + 1e-9]) is None
    assert _cmp(three, three + [3.1e-5 + 1e-9, 0.0]) is not None
    assert _cmp(three, three + [0.0, -3.1e-5 - 1e-9]) is not None
    b = e.copy()
    b[1, 1] = np.nan
    assert _cmp(e, b) == "output: contains nan/inf, first at index (1, 1)"
    b[1, 1] = -np.inf
    assert _cmp(e, b) == "output: contains nan/inf, first at index (1, 1)"
    special = np.array([1.0, np.inf, np.nan])
    assert _cmp(special, np.array([1.0, np.inf, np.nan])) is None
    assert (
        _cmp(special, np.array([1.0, 5.0, np.nan])) == "output: at index (1,): expected inf, got 5"
    )
    assert (
        _cmp(special, np.array([1.0, np.inf, 2.0])) == "output: at index (2,): expected nan, got 2"
    )
    assert _cmp(special, np.array([1.0, -np.inf, np.nan])).startswith("output: at index (1,)")
    assert _cmp(np.zeros((0, 3)), np.zeros((0, 3))) is None
    assert _cmp(torch.zeros(2, dtype=torch.float32), torch.zeros(2)) is None


def test_name_outputs() -> None:
    names = ("h_next", "c_next")
    assert name_outputs(None, names) is None
    assert name_outputs("[1]: wrong", ()) == "[1]: wrong"
    assert name_outputs("output: wrong", names) == "output: wrong"
    assert name_outputs("[1][0]: wrong", names) == "c_next (output 1)[0]: wrong"
    assert name_outputs("[0]: wrong", names) == "h_next (output 0): wrong"
    assert name_outputs("[2]: wrong", names) == "[2]: wrong"
    assert name_outputs("['a']: wrong", names) == "['a']: wrong"


def _seq(T: int = 4, N: int = 2, H: int = 4) -> np.ndarray:
    return np.arange(1.0, T * N * H + 1).reshape(T, N, H)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda e: e * 0, "is all zeros"),
        (lambda e: -e, "is the expected values negated"),
        (lambda e: e * 0.5, "is exactly half the expected values"),
        (lambda e: e * 2, "is exactly twice the expected values"),
        (lambda e: e.swapaxes(-1, -2), None),
        (lambda e: e[::-1], "is the expected one reversed in time (along the first axis)"),
        (lambda e: np.concatenate([e[:1] * 0, e[:-1]]),
         "is the expected one shifted one step later in time"),
        (lambda e: np.concatenate([e[:1] * 7, e[:-1]]),
         "is the expected one shifted one step later in time"),
        (lambda e: np.concatenate([e[1:], e[-1:] * 5]),
         "is the expected one shifted one step earlier in time"),
        (lambda e: np.concatenate([e[..., 2:], e[..., :2]], axis=-1),
         "has the two halves of its last dimension swapped"),
        (lambda e: e + 1, None),
    ],
    ids=["zeros", "negated", "half", "twice", "not-square", "reversed", "later", "later-any",
         "earlier", "halves", "other"],
)  # fmt: skip
def test_plain_transformations_are_named(change, said) -> None:
    e = _seq()
    got = transformation(e, np.ascontiguousarray(change(e)))
    assert got == (None if said is None else f"your output {said}")


def test_transposed_square_and_named_outputs() -> None:
    """Is a square output's transpose named, and a tuple's item by the task's name for it
    (or its index when the names run out)?"""
    e = np.arange(1.0, 10.0).reshape(3, 3)
    assert transformation(e, e.T.copy()) == "your output is the expected one transposed"
    pair = (e, e)
    assert transformation(pair, (e, -e), ("h", "c")) == "your c is the expected values negated"
    assert transformation(pair, (e, -e), ("h",)) == "your [1] is the expected values negated"
    assert transformation(pair, (e, -e)) == "your [1] is the expected values negated"
    assert transformation({"k": e}, {"k": -e}) == "your ['k'] is the expected values negated"


def test_what_is_not_a_transformation() -> None:
    """Are outputs that are right, of another shape, of one entry, not float, unsupported, or
    whose expected values are all zero left undescribed?"""
    e = _seq()
    assert transformation(e, e.copy()) is None
    assert transformation(e, e[:2].copy()) is None
    assert transformation(np.array([2.0]), np.array([4.0])) is None
    assert transformation(np.arange(4), np.arange(4) * 2) is None
    assert transformation(e, "text") is None
    assert transformation(e * 0, e) is None
    t = torch.tensor(e)
    assert transformation(t, -t) == "your output is the expected values negated"
    assert transformation((e, e), (e, e * 2)) == "your [1] is exactly twice the expected values"
    assert transformation(np.ones((1, 4)), np.array([[1.0, 1.0, 0.0, 0.0]])) is None


def test_leaves_name_every_array() -> None:
    a, t = np.zeros(1), torch.zeros(1)
    got = leaves({"x": (a, [t, 3]), "n": None}, "output")
    assert got == [("output['x'][0]", a), ("output['x'][1][0]", t)]
    assert leaves(a) == [("", a)] and leaves(3) == []


def test_shares() -> None:
    """Do an array and its view share memory, two copies not, a tensor and its view share,
    empty tensors never, and tensors on different devices or of different libraries not?"""
    a = np.zeros(4)
    assert shares(a, a) and shares(a, a[1:]) and not shares(a, a.copy())
    t = torch.zeros(4)
    assert shares(t, t[1:]) and not shares(t, t.clone())
    assert not shares(t[:0], t) and not shares(t, t[:0])
    assert not shares(t, a) and not shares(a, t)
    n = torch.from_numpy(a)
    assert not shares(n, a)  # not both arrays, not both tensors
    assert shares([1], [1]) is False


class _Sub(torch.Tensor):
    """A tensor subclass: compare refuses to read one."""


def test_transformations_at_their_edges() -> None:
    """The smallest shapes each description applies to (two entries, two steps, two columns,
    one dimension), a subclass left unread, a first output that cannot be read before a second
    that can, and a task's name for an item of a nested output."""
    two = np.array([1.0, 2.0])
    assert transformation(two, -two) == "your output is the expected values negated"
    steps = np.arange(1.0, 7.0).reshape(2, 3)
    assert transformation(steps, steps[::-1].copy()) == (
        "your output is the expected one reversed in time (along the first axis)"
    )
    rows = np.arange(1.0, 13.0).reshape(4, 3)
    assert transformation(rows, rows[::-1].copy()) == (
        "your output is the expected one reversed in time (along the first axis)"
    )
    line = np.array([1.0, 2.0, 3.0, 4.0])
    assert transformation(line, np.array([3.0, 4.0, 1.0, 2.0])) == (
        "your output has the two halves of its last dimension swapped"
    )
    assert transformation(line, np.array([4.0, 3.0, 2.0, 1.0])) is None  # 1-D has no time axis
    odd = np.array([1.0, 2.0, 3.0])
    assert transformation(odd, np.array([2.0, 3.0, 1.0])) is None  # no halves in 3 columns
    cols = np.array([[1.0, 2.0], [3.0, 5.0], [7.0, 11.0]])
    assert transformation(cols, cols[:, ::-1].copy()) == (
        "your output has the two halves of its last dimension swapped"
    )
    cube = np.arange(1.0, 19.0).reshape(2, 3, 3)
    assert transformation(cube, cube.swapaxes(-1, -2).copy()) == (
        "your output is the expected one transposed"
    )
    t = torch.tensor(_seq())
    assert transformation(t, (-t).as_subclass(_Sub)) is None
    ints = np.arange(4)
    assert transformation((ints, _seq()), (ints, -_seq())) == (
        "your [1] is the expected values negated"
    )
    e = _seq()
    assert transformation(e, -e, ("h",)) == "your output is the expected values negated"
    nested = ((e, e),)
    assert transformation(nested, ((e, -e),), ("state",)) == (
        "your state[1] is the expected values negated"
    )


def test_shifts_use_the_expected_scale() -> None:
    """A shift is named when the steps match within atol + rtol * (largest expected value of
    the steps compared), the largest being anywhere in them; an all-zero expected output is
    never described, even when the answer looks shifted."""
    e = np.ones((4, 2))
    e[2] = 1000.0  # the largest value, in the last step compared by a later shift
    later = np.concatenate([np.full((1, 2), 9.0), e[:-1] + 5e-3])  # 5e-6 of 1000
    assert (
        transformation(e, later) == "your output is the expected one shifted one step later in time"
    )
    e = np.ones((4, 2))
    e[1] = 1000.0  # the largest value, in the first step compared by an earlier shift
    earlier = np.concatenate([e[1:] + 5e-3, np.full((1, 2), 9.0)])
    assert transformation(e, earlier) == (
        "your output is the expected one shifted one step earlier in time"
    )
    zeros = np.zeros((4, 2))
    looks_shifted = np.concatenate([np.ones((1, 2)), zeros[:-1]])
    assert transformation(zeros, looks_shifted) is None
