"""Tests for the package's lazy top-level namespace (rnncourse/__init__.py)."""

import importlib
import subprocess
import sys

import pytest

import rnncourse


def test_every_export_is_listed_and_resolves():
    """Is every lazily exported name in __all__, and does each name in __all__ import?"""
    assert set(rnncourse._EXPORTS) <= set(rnncourse.__all__)
    for name in rnncourse.__all__:
        assert getattr(rnncourse, name) is not None


def test_exports_are_the_module_objects():
    """Is rnncourse.LSTM the very class defined in rnncourse.lstm (no copies)?"""
    for name, module in rnncourse._EXPORTS.items():
        assert getattr(rnncourse, name) is getattr(
            importlib.import_module(f"rnncourse.{module}"), name
        )


def test_unknown_attribute_raises_attribute_error():
    """Does a misspelt name fail with AttributeError naming it?"""
    with pytest.raises(AttributeError, match="LTSM"):
        rnncourse.LTSM  # noqa: B018


def test_import_is_lazy():
    """Does a bare `import rnncourse` avoid loading matplotlib and the model modules?"""
    code = (
        "import sys, rnncourse; "
        "mods = ('matplotlib', 'rnncourse.lstm', 'rnncourse.seq2seq'); "
        "print(any(m in sys.modules for m in mods))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


_CALL_BIDIRECTIONAL = """
import types
import torch
{first}
import rnncourse
lstm = torch.nn.LSTM(3, 5, bidirectional=True)
fwd = [lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0]
bwd = [lstm.weight_ih_l0_reverse, lstm.weight_hh_l0_reverse,
       lstm.bias_ih_l0_reverse, lstm.bias_hh_l0_reverse]
zeros = (torch.zeros(2, 5), torch.zeros(2, 5))
x = torch.randn(4, 2, 3)
y, _ = rnncourse.run_bidirectional(rnncourse.lstm_cell, x, fwd, bwd, zeros, zeros)
torch.testing.assert_close(y, lstm(x)[0])
assert type(rnncourse.bidirectional) is types.ModuleType and not callable(rnncourse.bidirectional)
assert rnncourse.bidirectional.Bidirectional is rnncourse.Bidirectional
assert rnncourse.bidirectional.run_bidirectional is rnncourse.run_bidirectional
from rnncourse import bidirectional
assert bidirectional is rnncourse.bidirectional
print("ok")
"""


@pytest.mark.parametrize(
    "first",
    [
        "",
        "import rnncourse.bidirectional",
        "import rnncourse.grading",
        "import rnncourse.topologies",
    ],
)
def test_bidirectional_names_a_plain_module_in_any_import_order(first: str) -> None:
    """Is rnncourse.bidirectional the chapter 8 module and rnncourse.run_bidirectional its
    function, whatever was imported first (the submodule itself included)?"""
    code = _CALL_BIDIRECTIONAL.format(first=first)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def _public_signatures():
    """(where, parameter) for every parameter of a public function, method or constructor."""
    import ast
    import pathlib

    package = pathlib.Path(rnncourse.__file__).parent
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        scopes = [(tree, "")]
        scopes += [
            (node, f"{node.name}.")
            for node in tree.body
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_")
        ]
        for scope, prefix in scopes:
            for node in scope.body:
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                if node.name.startswith("_") and node.name not in ("__init__", "__call__"):
                    continue
                a = node.args
                for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs]:
                    where = f"{path.relative_to(package)}:{node.lineno} {prefix}{node.name}"
                    yield where, arg.arg


def test_public_functions_take_no_private_parameters():
    """Does no public function have a ``_name`` parameter (a private switch on a public API)?"""
    found = [f"{where}({name})" for where, name in _public_signatures() if name.startswith("_")]
    assert found == []
    checked = {where.split(" ")[1] for where, _ in _public_signatures()}
    assert {"check", "check_trained", "RNN.__init__"} <= checked  # the scan does see them
