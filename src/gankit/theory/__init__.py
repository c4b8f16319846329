"""The lectures' results as executable checks (registry ``THEORY``; ``gankit theory NAME``).

Every module in this package registers its checks with ``@THEORY.register("name", description=...)``:
a function ``check(out_dir: Path, quick: bool = False) -> TheoryReport``. All modules are imported
here, so the registry's contents never depend on import order.
"""

from __future__ import annotations

import importlib
import pkgutil

from gankit.theory.base import TheoryReport

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _mod != "base" and not _mod.startswith("_"):
        importlib.import_module(f"{__name__}.{_mod}")

__all__ = ["TheoryReport"]
