"""The data-only channel (:mod:`rnncourse.grading.channel`), each rule of its module docstring:
what is encoded how, and every malformed message refused with its reason. (Round trips and
the hostile replies of the trusted grader are in ``tests/test_trusted.py``.)"""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
import torch

from rnncourse.grading import channel
from rnncourse.grading.channel import ChannelError, Handle, Opaque, decode, encode


def _npy(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode()


def _msg(body, arrays=()) -> str:
    return json.dumps({"body": body, "arrays": list(arrays)})


def _refused(text, match: str, **kwargs) -> None:
    with pytest.raises(ChannelError, match=match):
        decode(text, **kwargs)


def test_limits() -> None:
    assert channel.MAX_BYTES == 512 * 2**20 and channel.MAX_DEPTH == 32


def test_plain_values_and_floats() -> None:
    """Are plain values sent as JSON, non-finite floats spelled out, tuples and dicts marked,
    and all read back as they were?"""
    body = json.loads(
        encode([None, True, 3, "s", 1.5, float("nan"), float("-inf"), (1,), {2: "a"}])
    )
    assert body == {
        "body": [
            None,
            True,
            3,
            "s",
            1.5,
            {"$float": "nan"},
            {"$float": "-inf"},
            {"$tuple": [1]},
            {"$dict": [[2, "a"]]},
        ],
        "arrays": [],
    }
    back = decode(_msg([{"$float": "inf"}, {"$float": "-inf"}, {"$tuple": []}]))
    assert back == [float("inf"), float("-inf"), ()]


def test_arrays_and_tensors_carry_their_kind_dtype_device_and_grad() -> None:
    """Is a tensor sent as .npy bytes with its device and requires_grad, a half tensor as
    float32 naming its dtype, an array as an array, and a NumPy scalar as a 0-d array?"""
    w = torch.ones(2, requires_grad=True)
    body = json.loads(encode([w, torch.ones(1, dtype=torch.bfloat16), np.arange(2), np.int32(7)]))
    items = body["body"]
    assert items[0] == {"$array": 0, "kind": "tensor", "device": "cpu", "requires_grad": True}
    assert items[1] == {
        "$array": 1,
        "kind": "tensor",
        "device": "cpu",
        "requires_grad": False,
        "dtype": "bfloat16",
    }
    assert items[2] == {"$array": 2, "kind": "ndarray"}
    assert items[3] == {"$scalar": {"$array": 3, "kind": "ndarray"}}
    arrays = [np.load(io.BytesIO(base64.b64decode(a))) for a in body["arrays"]]
    assert arrays[1].dtype == np.float32 and arrays[3].shape == () and arrays[3] == 7
    back = decode(json.dumps(body))
    assert back[0].requires_grad and back[1].dtype == torch.bfloat16
    assert type(back[2]) is np.ndarray and type(back[3]) is np.int32
    conj = torch.tensor([1 + 2j]).conj()
    assert decode(encode(conj)).tolist() == [1 - 2j]
    assert decode(encode(-torch.tensor([1.0]))).tolist() == [-1.0]


def test_what_cannot_be_sent() -> None:
    with pytest.raises(TypeError, match="dict keys must be str or int, got float"):
        encode({1.5: 0})
    with pytest.raises(TypeError, match="arrays of dtype <U1 cannot be sent"):
        encode(np.array(["a"]))
    with pytest.raises(TypeError, match=r"arrays of dtype \[\('a', '<i8'\)\] cannot be sent"):
        encode(np.zeros(1, dtype=[("a", np.int64)]))
    with pytest.raises(TypeError, match="NumPy scalars of dtype <U1 cannot be sent"):
        encode(np.str_("a"))
    with pytest.raises(TypeError, match="Handle objects cannot be sent|object objects cannot"):
        encode(object())


def test_objects_the_worker_keeps() -> None:
    handle = Handle(3, "Net", True, True)
    assert json.loads(encode(handle))["body"] == {
        "$handle": 3,
        "type": "Net",
        "callable": True,
        "module": True,
    }
    assert decode(encode([object()], keep=lambda obj: handle)) == [handle]
    assert decode(encode([object()], keep=lambda obj: None)) == [Opaque("object")]
    long = _msg({"$handle": 1, "type": "N" * 300, "callable": False, "module": False})
    assert decode(long) == Handle(1, "N" * 200, False, False)
    assert decode(_msg({"$opaque": "T" * 300})) == Opaque("T" * 200)


def test_arrays_reached_twice_are_sent_once() -> None:
    a = np.zeros(2)
    body = json.loads(encode([a, (a,), {"k": a}]))
    assert len(body["arrays"]) == 1
    assert body["body"][1] == {"$tuple": [{"$ref": 0}]}
    t = torch.zeros(1)
    back = decode(encode([t, t, a]))
    assert back[0] is back[1] and back[2] is not back[0]


def test_depth() -> None:
    deep: list = []
    for _ in range(channel.MAX_DEPTH):
        deep = [deep]
    with pytest.raises(TypeError, match="nested more than 32 levels deep"):
        encode([deep])
    _refused(_msg([deep]), "the reply is nested more than 32 levels deep")
    assert decode(_msg(deep)) == deep


def test_messages_that_are_not_the_protocol(monkeypatch) -> None:
    _refused(b"{}", "expected a text message, got bytes")
    _refused("{", "the reply is not valid JSON")
    _refused(json.dumps({"body": 1, "arrays": [], "x": 1}), "the reply does not have the protocol")
    _refused(json.dumps({"body": 1, "arrays": {}}), "the reply's arrays are not a list")
    monkeypatch.setattr(channel, "MAX_BYTES", 2 * 2**20)
    fill = 2 * 2**20 - len(_msg(""))
    assert len(_msg("x" * fill)) == 2 * 2**20 and decode(_msg("x" * fill)) == "x" * fill
    _refused(_msg("x" * (fill + 1)), "the reply is larger than 2 MiB")


@pytest.mark.parametrize(
    ("body", "arrays", "why"),
    [
        ({}, [], "a value the protocol does not allow"),
        ({"$set": [1]}, [], "a value the protocol does not allow"),
        ({"$tuple": [1], "x": 1}, [], "a value the protocol does not allow"),
        ({"$dict": {}}, [], "a value the protocol does not allow"),
        ({"$dict": [[1.5, 0]]}, [], "a dict entry is malformed"),
        ({"$dict": [[1]]}, [], "a dict entry is malformed"),
        ({"$dict": [["a", 1, 2]]}, [], "a dict entry is malformed"),
        ({"$dict": ["a"]}, [], "a dict entry is malformed"),
        ({"$float": "1.5"}, [], "a float is malformed"),
        ({"$float": "nan", "x": 1}, [], "a value the protocol does not allow"),
        ({"$array": "0", "kind": "ndarray"}, ["x"], "an array reference is out of range"),
        ({"$array": -1, "kind": "ndarray"}, ["x"], "an array reference is out of range"),
        ({"$array": 1, "kind": "ndarray"}, ["x"], "an array reference is out of range"),
        (
            [{"$array": 0, "kind": "ndarray"}, {"$array": 0, "kind": "ndarray"}],
            ["NPY"],
            "an array reference is out of range",
        ),
        ({"$array": 0, "kind": "ndarray"}, [5], "an array payload is not text"),
        ({"$array": 0, "kind": "ndarray"}, ["@@@"], r"an array payload cannot be read \(Error\)"),
        ({"$array": 0, "kind": "frame"}, ["NPY"], "an array has an unknown kind"),
        ({"$ref": 0}, [], "an array reference points nowhere"),
        ({"$ref": "0"}, [], "an array reference points nowhere"),
        ({"$ref": 0, "x": 1}, [], "a value the protocol does not allow"),
        ({"$scalar": 1}, [], "a value the protocol does not allow"),
        ({"$scalar": {"$tuple": []}}, [], "a scalar is malformed"),
        ({"$handle": 1, "type": "N", "callable": 1, "module": False}, [], "a handle is malformed"),
        (
            {"$handle": 1, "type": "N", "callable": True, "module": None},
            [],
            "a handle is malformed",
        ),
        ({"$handle": 1, "type": 2, "callable": True, "module": True}, [], "a handle is malformed"),
        (
            {"$handle": True, "type": "N", "callable": True, "module": True},
            [],
            "a handle is malformed",
        ),
        ({"$opaque": 3}, [], "a value the protocol does not allow"),
    ],
)
def test_malformed_values_are_refused(body, arrays, why) -> None:
    arrays = [_npy(np.zeros(2)) if a == "NPY" else a for a in arrays]
    _refused(_msg(body, arrays), why)


def test_array_payloads_must_be_numeric_npy() -> None:
    structured = _npy(np.zeros(1, dtype=[("a", np.int64)]))
    _refused(_msg({"$array": 0, "kind": "ndarray"}, [structured]), "a dtype that is not numeric")
    text = _npy(np.array(["a"]))
    _refused(_msg({"$array": 0, "kind": "ndarray"}, [text]), "a dtype that is not numeric")
    not_npy = base64.b64encode(b"plain bytes").decode()
    _refused(_msg({"$array": 0, "kind": "ndarray"}, [not_npy]), "cannot be read")
    scalar = _npy(np.zeros(2))
    _refused(_msg({"$scalar": {"$array": 0, "kind": "ndarray"}}, [scalar]), "a scalar is malformed")
    _refused(
        _msg({"$scalar": {"$array": 0, "kind": "tensor"}}, [_npy(np.zeros(()))]),
        "a scalar is malformed",
    )


def test_tensor_fields() -> None:
    """Are a tensor's dtype, device and requires_grad checked and applied: an unknown dtype
    refused, a device that is not text refused, a device placed only where allowed, and
    gradients only for floating tensors?"""
    payload = [_npy(np.zeros(2, dtype=np.float32))]

    def tensor(**fields):
        return _msg({"$array": 0, "kind": "tensor", **fields}, payload)

    _refused(tensor(dtype="float64"), "a tensor names an unknown dtype")
    _refused(tensor(device=0), "a tensor's device is not text")
    assert decode(tensor(dtype="float16")).dtype == torch.float16
    assert decode(tensor(device="meta")).device.type == "cpu"
    assert decode(tensor(device="meta"), device_ok=lambda d: False).device.type == "cpu"
    asked = []
    assert decode(tensor(device="meta"), device_ok=lambda d: asked.append(d) or True).is_meta
    assert asked == ["meta"]
    assert decode(tensor(), device_ok=lambda d: asked.append(d) or True).device.type == "cpu"
    assert asked == ["meta"]  # the CPU is never asked about
    assert decode(tensor(requires_grad=True)).requires_grad
    assert not decode(tensor(requires_grad=1)).requires_grad
    ints = _msg({"$array": 0, "kind": "tensor", "requires_grad": True}, [_npy(np.arange(2))])
    assert not decode(ints).requires_grad
    back = decode(tensor())
    back += 1
    assert decode(tensor()).tolist() == [0.0, 0.0]  # a tensor of its own
