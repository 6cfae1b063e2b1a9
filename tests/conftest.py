"""Shared test settings: tolerances (named once, here) and the devices to run on."""

from __future__ import annotations

import pytest
import torch

# Float64 comparisons against torch.nn / autograd: differences are round-off only.
ATOL_F64 = 1e-10
RTOL_F64 = 1e-8
# Float32 comparisons (used on GPUs, where float64 is slow or TF32 may be on).
ATOL_F32 = 1e-5
RTOL_F32 = 1e-4
# Central differences in float64 with eps=1e-6: relative error below this means "correct".
GRADCHECK_REL = 1e-6


def available_devices() -> list[str]:
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")
    return devices


DEVICES = available_devices()


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    """Every test that takes ``device`` runs once per available device (CPU, CUDA, MPS)."""
    return torch.device(request.param)


def tolerances(dtype: torch.dtype) -> dict[str, float]:
    """``assert_close`` keyword arguments for a dtype."""
    if dtype == torch.float64:
        return {"atol": ATOL_F64, "rtol": RTOL_F64}
    return {"atol": ATOL_F32, "rtol": RTOL_F32}


def dtype_for(device: torch.device) -> torch.dtype:
    """float64 where the device supports it (MPS does not)."""
    return torch.float32 if device.type == "mps" else torch.float64


@pytest.fixture
def one_thread():
    """Run torch on one CPU thread for the test: tiny models stepped in a Python loop are
    faster that way than with two intra-op threads fighting over a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


#: Test modules that share the built book (``tests/_site.py``): one pytest-xdist worker runs
#: them all, so the book is built once.
BOOK_MODULES = frozenset({"test_book.py", "test_site.py"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``pytest -n N --dist loadgroup`` (pytest-xdist), keep each slow module's tests on
    one worker, so that its module-scoped fixtures (a course graded end to end, a built book)
    run once; fast tests spread over the workers one by one."""
    for item in items:
        name = item.path.name
        if name in BOOK_MODULES:
            item.add_marker(pytest.mark.xdist_group("book"))
        elif item.get_closest_marker("slow") is not None or _module_is_slow(item):
            item.add_marker(pytest.mark.xdist_group(name))


def _module_is_slow(item: pytest.Item) -> bool:
    """A module with a module- or session-scoped fixture: its tests share state."""
    fixtures = getattr(item, "_fixtureinfo", None)
    if fixtures is None:
        return False
    for names in fixtures.name2fixturedefs.values():
        if any(d.scope in ("module", "session") for d in names):
            return True
    return False
