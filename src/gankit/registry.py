"""Registries: one per kind of component (docs/architecture.md rule 6).

Entries are added with ``@REGISTRY.register("name")``. The first look-up in a registry (``get``, ``names``,
``in``, ...) imports every module that registers something (:data:`COMPONENTS`; the theory checks for
``THEORY``), so the contents never depend on import order, and ``import gankit`` alone imports no torch (the
CLI parses its arguments first). ``get`` on an unknown name raises a :class:`ConfigError` listing the known
names; the CLI's choices and ``gankit list`` come from here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from gankit.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object mapping for one kind of component.

    Args:
        kind: what the entries are, used in messages ("dataset", "objective", ...).
    """

    def __init__(self, kind: str, loader: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._meta: dict[str, dict[str, Any]] = {}
        self._loader = loader  # modules whose import registers every entry, imported on first use

    def _load(self) -> None:
        if self._loader:
            modules, self._loader = self._loader, ()
            for module in modules:
                importlib.import_module(module)

    def register(self, name: str, **meta: Any) -> Callable[[T], T]:
        """Decorator (or plain call) that adds ``obj`` under ``name``; ``meta`` is kept for ``meta(name)``."""

        def add(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._entries[name] = obj
            self._meta[name] = dict(meta)
            return obj

        return add

    def get(self, name: str) -> T:
        """The entry called ``name``; an unknown name raises ConfigError naming the allowed ones."""
        self._load()
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise ConfigError(
                f"unknown {self.kind} '{name}'; choose one of: {', '.join(self.names())}"
            ) from None

    def meta(self, name: str) -> dict[str, Any]:
        self.get(name)  # loads
        return self._meta[name]

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def describe(self, name: str) -> str:
        """First line of the entry's docstring (or its ``description`` meta)."""
        meta = self.meta(name)
        if "description" in meta:
            return str(meta["description"])
        entry = self._entries[name]
        description = getattr(entry, "description", None)
        if isinstance(description, str):
            return description
        doc = getattr(entry, "__doc__", None) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._entries)


# Every module that registers a component (they import torch: ~2 s, so only on first use of a registry).
COMPONENTS = ("gankit.data", "gankit.metrics", "gankit.models", "gankit.nets", "gankit.objectives")
DATASETS: Registry[Any] = Registry("dataset", loader=COMPONENTS)
NETWORKS: Registry[Any] = Registry("network", loader=COMPONENTS)
OBJECTIVES: Registry[Any] = Registry("objective", loader=COMPONENTS)
RECIPES: Registry[Any] = Registry("recipe", loader=COMPONENTS)
METRICS: Registry[Any] = Registry("metric", loader=COMPONENTS)
# The theory checks pull in SciPy's statistics and matplotlib (~2 s) on top.
THEORY: Registry[Any] = Registry("theory check", loader=("gankit.theory",))

ALL: dict[str, Registry[Any]] = {
    "datasets": DATASETS,
    "networks": NETWORKS,
    "objectives": OBJECTIVES,
    "recipes": RECIPES,
    "metrics": METRICS,
    "theory": THEORY,
}
