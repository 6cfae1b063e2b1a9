"""The worker's side of trusted grading (:mod:`rnncourse.grading.worker`), served in this process:
each request of the protocol in its module docstring, and what a failure of the learner's code
sends back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnncourse import grading
from rnncourse.grading import channel, worker
from rnncourse.grading.specs import build_inputs
from tests.grading._loopback import Loopback


def _double(x):
    return x * 2


class _Net(torch.nn.Module):
    def forward(self, x):
        return x + 1


@pytest.fixture
def link(monkeypatch: pytest.MonkeyPatch) -> Loopback:
    return Loopback({}, monkeypatch)


def test_get_sends_data_as_data(link: Loopback) -> None:
    """Does a name bound to data come back as that data, in one display message?"""
    link.namespace["answer"] = (3, np.arange(3.0), "text")
    reply = link.raw({"op": "get", "name": "answer"}, nonce="abc")
    assert set(reply) == {"ok"}
    n, array, text = reply["ok"]
    assert (n, array.tolist(), text) == (3, [0.0, 1.0, 2.0], "text")


def test_get_of_a_missing_name_says_name_error(link: Loopback) -> None:
    """Is a name the notebook never bound reported as the NameError Python would raise?"""
    reply = link.raw({"op": "get", "name": "nowhere"})
    assert reply == {
        "error": {"kind": "name", "type": "NameError", "message": "name 'nowhere' is not defined"}
    }


def test_objects_stay_in_the_worker_as_handles(link: Loopback) -> None:
    """Do a function and a module travel as handles naming their type, callable and module
    flags, the same object always under the same handle, another under another?"""
    net = _Net()
    link.namespace.update(f=_double, g=_double, net=net, other=_Net())
    f = link.raw({"op": "get", "name": "f"})["ok"]
    assert type(f) is channel.Handle
    assert (f.type_name, f.callable, f.module) == ("function", True, False)
    assert link.raw({"op": "get", "name": "g"})["ok"] == f
    m = link.raw({"op": "get", "name": "net"})["ok"]
    assert (m.type_name, m.callable, m.module) == ("_Net", True, True)
    assert m.id != f.id
    assert worker._HANDLES[m.id] is net and worker._HANDLES[f.id] is _double
    other = link.raw({"op": "get", "name": "other"})["ok"]
    assert other.id not in (f.id, m.id)
    plain = worker._keep(object())
    assert (plain.callable, plain.module) == (False, False)


def test_call_by_name_and_by_handle(link: Loopback) -> None:
    """Does a call by name, with positional and keyword arguments, and a call of a handle's
    method run the learner's code and send back its result?"""
    link.namespace.update(f=lambda x, scale=1: x * scale, net=_Net())
    got = link.request(
        {"op": "call", "target": "f", "attr": None, "args": (np.ones(2),), "kwargs": {"scale": 3}}
    )
    assert got.tolist() == [3.0, 3.0]
    net = link.get("net")
    assert link.request(
        {"op": "call", "target": net._target, "attr": None, "args": (torch.zeros(2),), "kwargs": {}}
    ).tolist() == [1.0, 1.0]
    assert link.request(
        {
            "op": "call",
            "target": net._target,
            "attr": "forward",
            "args": (torch.ones(1),),
            "kwargs": {},
        }
    ).tolist() == [2.0]


def test_handles_in_the_arguments_become_the_objects(link: Loopback) -> None:
    """Does a handle sent back as an argument (alone, in a tuple, a list, a dict) reach the
    learner's function as the object it names?"""
    net = _Net()
    link.namespace.update(
        net=net, kinds=lambda *a, **k: [type(v).__name__ for v in (*a, *k.values())]
    )
    handle = link.raw({"op": "get", "name": "net"})["ok"]
    got = link.request(
        {
            "op": "call",
            "target": "kinds",
            "attr": None,
            "args": (handle, (handle,), [handle]),
            "kwargs": {"k": {"m": handle}},
        }
    )
    assert got == ["_Net", "tuple", "list", "dict"]
    assert worker._resolve((handle, [handle], {"m": handle})) == (net, [net], {"m": net})
    assert worker._resolve([1, (2,)]) == [1, (2,)] and type(worker._resolve((1,))) is tuple


def test_call_of_an_unknown_name_is_a_name_error(link: Loopback) -> None:
    reply = link.raw({"op": "call", "target": "nowhere", "attr": None, "args": (), "kwargs": {}})
    assert reply["error"] == {
        "kind": "name",
        "type": "NameError",
        "message": "name 'nowhere' is not defined",
    }


def test_build_makes_the_inputs_in_the_worker(link: Loopback) -> None:
    """With ``build``, are the arguments the spec's own inputs for that seed, index, case and
    device, whatever was sent?"""
    seen = []
    link.namespace["rnn_cell"] = lambda *a, **k: seen.append((a, k)) or 0
    recipe = {
        "spec": "rnn_cell",
        "seed": 4,
        "index": 1,
        "case": {"N": 2, "H_in": 3, "H": 5},
        "device": "cpu",
    }
    link.request(
        {
            "op": "call",
            "target": "rnn_cell",
            "attr": None,
            "args": (),
            "kwargs": {},
            "build": recipe,
        }
    )
    args, kwargs = seen[0]
    want, _ = build_inputs(grading.spec("rnn_cell"), 4, 1, {"N": 2, "H_in": 3, "H": 5}, "cpu")
    assert kwargs == {} and len(args) == len(want) == 6
    for a, w in zip(args, want, strict=True):
        assert torch.equal(a, w)


def test_return_args_sends_the_arguments_as_the_call_left_them(link: Loopback) -> None:
    """Does ``return_args`` answer the result with the arguments after the call (a change in
    place shows), functions among them sent as None?"""

    def nudge(a, f=None, b=None, g=None):
        a += 1
        return a.sum()

    link.namespace["nudge"] = nudge
    reply = link.request(
        {
            "op": "call",
            "target": "nudge",
            "attr": None,
            "args": (np.zeros(2),),
            "kwargs": {"b": 5},
            "return_args": True,
            "build": None,
        }
    )
    assert set(reply) == {"result", "args", "kwargs"}
    assert reply["result"] == 2.0 and reply["args"][0].tolist() == [1.0, 1.0]
    assert type(reply["args"]) is tuple and reply["kwargs"] == {"b": 5}
    plain = worker._call(
        {
            "target": "nudge",
            "args": (np.zeros(1), _double),
            "kwargs": {"g": _double, "b": 1},
            "return_args": True,
        },
        link.namespace,
    )
    assert plain["args"][1] is None and plain["kwargs"] == {"g": None, "b": 1}
    assert type(plain["args"]) is tuple and type(plain["kwargs"]) is dict


def test_call_options_seed_threads_and_no_grad(link: Loopback) -> None:
    """Are ``seed`` (torch's generator), ``threads`` and ``no_grad`` applied for the call, and
    the thread count put back after it?"""
    before = torch.get_num_threads()
    link.namespace["probe"] = lambda: (
        torch.rand(3),
        torch.get_num_threads(),
        torch.is_grad_enabled(),
    )
    values, threads, grad = link.request(
        {
            "op": "call",
            "target": "probe",
            "attr": None,
            "args": (),
            "kwargs": {},
            "seed": 7,
            "threads": 1,
            "no_grad": True,
        }
    )
    torch.manual_seed(7)
    assert torch.equal(values, torch.rand(3))
    assert (threads, grad) == (1, False)
    assert torch.get_num_threads() == before
    _, threads, grad = link.request(
        {"op": "call", "target": "probe", "attr": None, "args": (), "kwargs": {}}
    )
    assert (threads, grad) == (before, True)


@pytest.mark.parametrize(
    ("error", "kind", "message"),
    [
        (NotImplementedError(), "not-implemented", ""),
        (SystemExit(3), "exit", "3"),
        (NameError("name 'w' is not defined"), "name", "name 'w' is not defined"),
        (ValueError("bad shape"), "error", "bad shape"),
        (KeyError("h_0"), "error", "h_0"),
    ],
    ids=["not-implemented", "exit", "name", "error", "key"],
)
def test_the_learners_error_is_sent_with_its_kind(link: Loopback, error, kind, message) -> None:
    """Does an exception of the learner's code come back as its kind, type and message (a
    KeyError's key as written, not quoted)?"""

    def fails():
        raise error

    link.namespace["fails"] = fails
    reply = link.raw({"op": "call", "target": "fails", "attr": None, "args": (), "kwargs": {}})
    assert reply == {"error": {"kind": kind, "type": type(error).__name__, "message": message}}


def test_long_messages_are_cut(link: Loopback) -> None:
    """Is a learner's error message longer than 4000 characters cut to 4000?"""

    def fails():
        raise ValueError("x" * 5000)

    link.namespace["fails"] = fails
    reply = link.raw({"op": "call", "target": "fails", "attr": None, "args": (), "kwargs": {}})
    assert reply["error"]["message"] == "x" * 4000
    assert worker._error(ValueError(1, 2))["message"] == "(1, 2)"


def test_what_cannot_be_sent_says_so(link: Loopback) -> None:
    """Is a result the channel cannot carry (a dict with tuple keys) answered as
    "unsendable", with the encoder's reason, instead of breaking the reply?"""
    link.namespace["odd"] = {(1, 2): 3}
    reply = link.raw({"op": "get", "name": "odd"})
    assert reply == {
        "error": {
            "kind": "unsendable",
            "type": "TypeError",
            "message": "dict keys must be str or int, got tuple",
        }
    }


def test_unknown_and_malformed_requests_are_errors(link: Loopback) -> None:
    """Are an unknown operation and a request that is not the channel's JSON answered as
    errors, not raised into the learner's kernel?"""
    reply = link.raw({"op": "delete", "name": "f"})
    assert reply == {
        "error": {"kind": "error", "type": "ValueError", "message": "unknown request 'delete'"}
    }
    reply = link.raw("not json")
    assert reply["error"]["type"] == "ChannelError" and reply["error"]["kind"] == "error"


def test_tensors_for_a_device_are_placed_there(link: Loopback, monkeypatch) -> None:
    """Does the worker accept every device the grader names (it is the grader's choice)?"""
    seen = []
    monkeypatch.setattr(
        worker,
        "decode",
        lambda text, device_ok: seen.append(device_ok) or {"op": "get", "name": "x"},
    )
    link.namespace["x"] = 1
    assert link.raw("ignored") == {"ok": 1}
    assert seen[0]("cuda:1") is True and seen[0]("cpu") is True
