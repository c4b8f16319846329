"""Optional extras in tests: skip with the reason where a package is missing, except in CI
(``GANKIT_REQUIRE_EXTRAS=1``, set by .ci/run), where a missing extra fails the test instead of hiding it."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def require(module: str, extra: str) -> ModuleType:
    """``module`` imported, or a skip (a failure under GANKIT_REQUIRE_EXTRAS) naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        why = f"{module} is not installed ({extra}: pip install -r requirements-dev.txt): {exc}"
        if os.environ.get("GANKIT_REQUIRE_EXTRAS"):
            pytest.fail(why)
        pytest.skip(why, allow_module_level=True)
