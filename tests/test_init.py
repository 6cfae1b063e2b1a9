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
