"""What ``gankit list`` prints, without importing torch.

The registries fill themselves by importing every component module, which imports torch (seconds). So the
names, one-line descriptions and metric keys are kept in a generated table, ``listing.json`` (package data),
that ``gankit list`` reads in milliseconds. ``tests/test_listing.py`` checks that the table equals what the
live registries give, so a registered entry that is missing from it fails the suite; regenerate it with
``python -m gankit.listing``. Presets are read live (YAML files: no torch). Where a third-party plugin is
installed (an entry point in the groups of :data:`PLUGIN_GROUPS`, loaded by ``gankit.metrics``), the table
cannot know its entries, so ``gankit list`` asks the live registries instead.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

TABLE = "listing.json"
# The entry-point groups of the metric plugin loader (importing it would import torch; a test compares).
PLUGIN_GROUPS = ("gankit.extractors", "gankit.metrics")


def live() -> dict[str, Any]:
    """The table from the registries themselves (imports every component: slow)."""
    from gankit.registry import ALL

    table: dict[str, Any] = {}
    for kind, reg in ALL.items():
        rows = []
        for name in reg.names():
            row: dict[str, Any] = {"name": name, "description": reg.describe(name)}
            keys = reg.meta(name).get("keys", {})
            if keys:
                row["keys"] = [{"key": key, "direction": info.direction, "unit": info.shown_unit,
                                "meaning": info.meaning} for key, info in keys.items()]
            rows.append(row)
        table[kind] = rows
    from gankit.metrics import features  # image feature extractors (eval.extractor): a dict, not a Registry

    table["extractors"] = [{"name": name, "description": ext.description}
                           for name, ext in sorted(features.EXTRACTORS.items())]
    return table


def plugins_installed() -> bool:
    """Whether any installed package declares a gankit plugin (entry points only: nothing is imported)."""
    from importlib.metadata import entry_points

    return any(entry_points(group=group) for group in PLUGIN_GROUPS)


def current() -> dict[str, Any]:
    """What ``gankit list`` shows: the stored table, or the live registries when plugins add entries."""
    return live() if plugins_installed() else stored()


def stored() -> dict[str, Any]:
    """The generated table shipped with the package."""
    return json.loads(resources.files("gankit").joinpath(TABLE).read_text(encoding="utf-8"))


def lines(kind: str | None, table: dict[str, Any] | None = None) -> list[str]:
    """``gankit list [KIND]``: presets, then each registry (KIND None or "all"); metric keys for "metrics"."""
    from gankit import config as config_mod

    table = current() if table is None else table
    kinds = ["presets", *table] if kind in (None, "all") else [kind]
    out = []
    for k in kinds:
        out.append(f"{k}:")
        if k == "presets":
            out += [f"  {name:<18} {config_mod.preset_description(name)}" for name in config_mod.preset_names()]
            continue
        for row in table[k]:
            out.append(f"  {row['name']:<18} {row['description']}")
            if kind == "metrics":  # each reported number: which way is better, unit, meaning
                for key in row.get("keys", []):
                    unit = f", {key['unit']}" if key["unit"] else ""
                    out.append(f"    {key['key']:<16} {key['direction']}{unit}: {key['meaning']}")
    return out


def write(path: Path | None = None) -> Path:
    """Regenerate the table from the live registries."""
    path = path or Path(__file__).with_name(TABLE)
    path.write_text(json.dumps(live(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    print(f"wrote {write()}")
