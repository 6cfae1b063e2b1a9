"""The worker side of trusted grading: runs inside the learner's sandboxed kernel.

The trusted grader sends one request per call as a cell ``serve(request, nonce)``; the answer
comes back as a display message of type :data:`MIME` holding the nonce and a
:mod:`~rnncourse.grading.channel` message. Nothing here is trusted: the learner's code runs in
this process and may replace any of it. It can only change what the grader *receives*, which is
no more than what the learner's functions could return anyway; the grader checks every reply.

Requests (decoded with :func:`rnncourse.grading.channel.decode`):

- ``{"op": "get", "name": n}``: the value bound to ``n`` in the notebook (data, or a handle);
- ``{"op": "call", "target": n or handle id, "attr": a or None, "args": (...), "kwargs": {...},
  "build": recipe or None, "seed": s or None, "threads": k or None, "no_grad": bool,
  "return_args": bool}``: call the function (or the method ``a`` of a handle), as
  :func:`rnncourse.grading.checks.invoke` calls it locally. ``build`` = ``{"spec", "seed",
  "index", "case", "device"}`` builds the arguments here with
  :func:`rnncourse.grading.specs.build_inputs`, for inputs that cannot travel (a closure ``f``
  over the array it nudges). ``return_args`` answers
  ``{"result", "args", "kwargs"}``, the arguments as the call left them, in the same message
  (so an argument returned as the result arrives as the same object).
"""

from __future__ import annotations

from typing import Any

from rnncourse.grading.channel import Handle, decode, encode

__all__ = ["MIME", "serve"]

MIME = "application/vnd.rnncourse.reply+json"
_HANDLES: dict[int, Any] = {}
_IDS: dict[int, int] = {}  # id(object) -> handle id, so the same object keeps its handle


def _keep(obj: Any) -> Handle:
    import torch

    key = id(obj)
    if key not in _IDS:
        _IDS[key] = len(_HANDLES) + 1
        _HANDLES[_IDS[key]] = obj
    return Handle(_IDS[key], type(obj).__name__, callable(obj), isinstance(obj, torch.nn.Module))


def _resolve(value: Any) -> Any:
    """Handles in the arguments become the objects they name."""
    if type(value) is Handle:
        return _HANDLES[value.id]
    if type(value) in (tuple, list):
        return type(value)(_resolve(v) for v in value)
    if type(value) is dict:
        return {k: _resolve(v) for k, v in value.items()}
    return value


def _error(error: BaseException) -> dict[str, Any]:
    kind = "error"
    if isinstance(error, NotImplementedError):
        kind = "not-implemented"
    elif isinstance(error, SystemExit):
        kind = "exit"
    elif isinstance(error, NameError):
        kind = "name"
    detail = error.args[0] if error.args and isinstance(error.args[0], str) else str(error)
    return {"kind": kind, "type": type(error).__name__, "message": str(detail)[:4000]}


def _call(request: dict[str, Any], namespace: dict[str, Any]) -> Any:
    from rnncourse.grading.checks import _local
    from rnncourse.grading.specs import build_inputs, spec

    target = request["target"]
    if isinstance(target, str):
        if target not in namespace:
            raise NameError(f"name {target!r} is not defined")
        fn = namespace[target]
    else:
        fn = _HANDLES[target]
    recipe = request.get("build")
    if recipe is not None:
        args, kwargs = build_inputs(
            spec(recipe["spec"]), recipe["seed"], recipe["index"], recipe["case"], recipe["device"]
        )
    else:
        args, kwargs = _resolve(request.get("args", ())), _resolve(request.get("kwargs", {}))
    args, kwargs = tuple(args), dict(kwargs)
    result = _local(
        fn,
        args,
        kwargs,
        attr=request.get("attr"),
        seed=request.get("seed"),
        threads=request.get("threads"),
        no_grad=bool(request.get("no_grad")),
    )
    if not request.get("return_args"):
        return result
    # the arguments as the call left them, for the grader's contract checks (functions stay)
    return {
        "result": result,
        "args": tuple(None if callable(a) else a for a in args),
        "kwargs": {k: None if callable(v) else v for k, v in kwargs.items()},
    }


def serve(request_text: str, nonce: str) -> None:
    """Answer one request of the trusted grader (see the module docstring)."""
    from IPython import get_ipython
    from IPython.display import display

    namespace = get_ipython().user_ns
    try:
        request = decode(request_text, device_ok=lambda device: True)
        if request["op"] == "get":
            name = request["name"]
            if name not in namespace:
                raise NameError(f"name {name!r} is not defined")
            value: Any = namespace[name]
        elif request["op"] == "call":
            value = _call(request, namespace)
        else:
            raise ValueError(f"unknown request {request['op']!r}")
        try:
            text = encode({"ok": value}, keep=_keep)
        except (TypeError, ValueError) as error:
            text = encode(
                {
                    "error": {
                        "kind": "unsendable",
                        "type": type(error).__name__,
                        "message": str(error)[:4000],
                    }
                }
            )
    except (Exception, SystemExit) as error:
        text = encode({"error": _error(error)})
    display({MIME: {"nonce": nonce, "text": text}}, raw=True)
