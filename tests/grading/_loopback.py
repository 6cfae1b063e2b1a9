"""A worker in this process: requests go through :func:`rnncourse.grading.worker.serve` as the
trusted grader sends them (encoded, with a nonce), and replies come back decoded, without a
kernel. :class:`Loopback` is also a :class:`~rnncourse.grading.remote.Link`, so a
:class:`~rnncourse.grading.remote.Remote` it hands out calls the learner's namespace here.
"""

from __future__ import annotations

from typing import Any

import IPython
import IPython.display

from rnncourse.grading import channel, remote, worker


class _Shell:
    def __init__(self, namespace: dict[str, Any]) -> None:
        self.user_ns = namespace


class Loopback:
    """The learner's ``namespace`` behind the worker's protocol; ``shown`` holds every display
    call ``serve`` made, as ``(args, kwargs)``."""

    def __init__(self, namespace: dict[str, Any], monkeypatch: Any) -> None:
        self.namespace = namespace
        self.shown: list[tuple[tuple, dict]] = []
        monkeypatch.setattr(IPython, "get_ipython", lambda: _Shell(namespace))
        monkeypatch.setattr(IPython.display, "display", lambda *a, **k: self.shown.append((a, k)))

    def raw(self, request: Any, nonce: str = "n0") -> Any:
        """The decoded reply to ``request`` (already text, or encoded here)."""
        text = request if isinstance(request, str) else channel.encode(request)
        before = len(self.shown)
        worker.serve(text, nonce)
        assert len(self.shown) == before + 1, "serve displays exactly one reply"
        (data,), options = self.shown[-1]
        assert options == {"raw": True}
        assert set(data) == {worker.MIME} and data[worker.MIME]["nonce"] == nonce
        return channel.decode(data[worker.MIME]["text"])

    def request(self, message: dict[str, Any]) -> Any:
        reply = self.raw(message)
        if "error" in reply:
            e = reply["error"]
            raise remote.RemoteError(e["kind"], e["type"], e["message"])
        value = reply["ok"]
        if type(value) is channel.Handle:
            return remote.Remote(self, value.id, "it", value)
        return value

    def get(self, name: str) -> Any:
        return self.request({"op": "get", "name": name})

    def call(
        self, target: str | int, attr: str | None, args: tuple, kwargs: dict, **options: Any
    ) -> Any:
        message = {
            "op": "call",
            "target": target,
            "attr": attr,
            "args": tuple(args),
            "kwargs": dict(kwargs),
            **options,
        }
        if options.get("build") is not None:
            message["args"], message["kwargs"] = (), {}
        return self.request(message)
