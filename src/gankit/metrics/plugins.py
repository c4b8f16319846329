"""Third-party feature extractors and metrics, found through Python entry points.

An installed package adds to gankit by declaring entry points (``pyproject.toml``)::

    [project.entry-points."gankit.extractors"]
    my-net = "mypkg.features:my_features"      # a callable: images (N, C, H, W) in [-1, 1] -> (features, probs or None)

    [project.entry-points."gankit.metrics"]
    my-metric = "mypkg.metrics:my_metric"      # fn(fake, real, dataset) -> dict[str, float]
    more = "mypkg.more_metrics"                # or a module whose import registers with METRICS itself

An extractor object may carry the keyword arguments of :func:`gankit.metrics.features.register_extractor`
as attributes (``gives_probs``, default True; ``datasets``; ``batch_size``; ``description``;
``key_prefix``); it is registered under the entry point's name and chosen with ``eval.extractor=my-net`` or
``gankit eval --extractor my-net``. A metric function is registered under the entry point's name with
its ``applies``, ``keys`` (``{key: metrics.Key(...)}``: direction, meaning), ``needs_labels`` and
``description`` attributes, unless loading it registered that name already.

:func:`load_plugins` runs when ``gankit.metrics`` is imported. A plugin that fails to load or clashes with
a registered name is skipped with one warning naming it; gankit itself keeps working.
"""

from __future__ import annotations

import logging
from importlib import metadata
from typing import Any

from gankit.registry import METRICS

__all__ = ["EXTRACTOR_GROUP", "METRIC_GROUP", "load_plugins"]

EXTRACTOR_GROUP = "gankit.extractors"
METRIC_GROUP = "gankit.metrics"
logger = logging.getLogger("gankit")
_LOADED: set[tuple[str, str, str]] = set()


def _add_extractor(name: str, obj: Any) -> None:
    from gankit.metrics import features

    features.register_extractor(
        name, obj, datasets=tuple(getattr(obj, "datasets", ())), batch_size=int(getattr(obj, "batch_size", 500)),
        gives_probs=bool(getattr(obj, "gives_probs", True)), description=str(getattr(obj, "description", "")),
        key_prefix=str(getattr(obj, "key_prefix", "")))


def _add_metric(name: str, obj: Any) -> None:
    if name in METRICS or not callable(obj) or isinstance(obj, type):
        return  # a module (or class) whose import registered its metrics
    meta = {k: getattr(obj, k) for k in ("applies", "keys", "needs_labels", "description") if hasattr(obj, k)}
    METRICS.register(name, **meta)(obj)


def load_plugins() -> list[str]:
    """Load every ``gankit.extractors`` and ``gankit.metrics`` entry point not loaded yet.

    Returns:
        "group:name" of each plugin loaded by this call (failures are logged and skipped).
    """
    loaded = []
    for group, add in ((EXTRACTOR_GROUP, _add_extractor), (METRIC_GROUP, _add_metric)):
        for ep in metadata.entry_points(group=group):
            ident = (group, ep.name, ep.value)
            if ident in _LOADED:
                continue
            _LOADED.add(ident)
            try:
                add(ep.name, ep.load())
            except Exception as exc:  # a broken plugin must not break gankit
                dist = getattr(getattr(ep, "dist", None), "name", "?")
                logger.warning("plugin %s '%s' (%s, from %s) not loaded: %s", group, ep.name, ep.value, dist,
                               str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                continue
            loaded.append(f"{group}:{ep.name}")
    return loaded
