"""What each reported metric number means: its direction, unit and a one-line reading.

A metric registers the keys it reports with ``@METRICS.register(name, keys={key: Key(...)})``; the tables
of ``gankit train``'s summary and ``gankit eval`` read them from there (:func:`key_info`), so a metric's
meaning lives beside the code that computes it. Interval and count keys (``fid_low``, ``fid_high``,
``fid_n``, ``kid_std``) belong to their metric's key and need no entry. A key reported by two metrics
(``modes`` and ``mode_kl``: 2-D mixtures and Stacked MNIST) shares one :class:`Key` object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gankit.registry import METRICS

__all__ = ["Key", "MODES", "MODE_KL", "PREFIXES", "base_key", "brief", "cell", "floor_key", "key_info", "reported_keys"]

PREFIXES = ("drs_", "rand_")
"""Prefixes of keys that report a registered key on other samples (``drs_``: rejection samples) or on other
features (``rand_``: the seeded random embedding, metrics/random_embedding.py; never Inception-FID)."""
SUFFIXES = ("_low", "_high", "_std", "_n")
"""A key's interval, spread and sample count: ``fid_low``, ``fid_high``, ``kid_std``, ``fid_n``."""

SYMBOLS = {"higher": "↑ higher", "lower": "↓ lower", "floor": "≈ floor"}


@dataclass(frozen=True)
class Key:
    """One reported number.

    Attributes:
        better: "higher", "lower", or "floor" (best near the real-vs-real value, neither high nor low).
        meaning: one line: what it measures and how to read a value.
        unit: what the shown value counts ("nats", "%", "fraction", "data units", "" for none).
        scale: the shown value is ``value * scale`` (KID: 1e3, shown in units of 10⁻³).
    """

    better: str
    meaning: str
    unit: str = ""
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.better not in SYMBOLS:
            raise ValueError(f"Key.better must be one of {', '.join(SYMBOLS)}, got '{self.better}'")

    @property
    def direction(self) -> str:
        """"↑ higher", "↓ lower" or "≈ floor": which way is better."""
        return SYMBOLS[self.better]

    @property
    def shown_unit(self) -> str:
        """The unit of the shown (scaled) value: "×1e-3" for scale 1e3."""
        scaled = f"×1e-{round(math.log10(self.scale))}" if self.scale > 1 else ""
        return " ".join(u for u in (scaled, self.unit) if u)


MODES = Key("higher", "modes the samples reach (2-D mixtures: a sample within 3 std of the mode; Stacked MNIST: "
            "digit triples the classifier reads); compare with the real-vs-real floor", "count")
MODE_KL = Key("lower", "KL of the samples' mode histogram to uniform: 0 when every mode gets its share, large when "
              "a few modes take most samples (collapse)", "nats")


def base_key(key: str) -> str:
    """``key`` without its :data:`PREFIXES` prefixes (``drs_fid`` -> ``fid``, ``drs_rand_fid`` -> ``fid``)."""
    stripped = True
    while stripped:
        stripped = False
        for prefix in PREFIXES:
            if key.startswith(prefix):
                key, stripped = key[len(prefix):], True
    return key


def floor_key(key: str, floor: dict[str, Any]) -> str:
    """The key of ``floor`` (real data scored the same way) that sits beside the model's ``key``: the key
    itself, else without ``drs_`` (rejection samples share the plain floor), else :func:`base_key`."""
    for k in (key, key.removeprefix("drs_"), base_key(key)):
        if k in floor:
            return k
    return key


def key_info(key: str) -> Key | None:
    """The :class:`Key` a registered metric declares for ``key`` (or its base key), None if none does."""
    key = base_key(key)
    for name in METRICS.names():
        info = METRICS.meta(name).get("keys", {}).get(key)
        if info is not None:
            return info
    return None


def reported_keys(values: dict[str, Any]) -> list[str]:
    """The metrics of a result, in order: its numeric keys less the interval and count fields of
    :data:`SUFFIXES` (``fid_low``, ``pr_n``) and the record's ``step`` and ``samples``."""
    keys = [k for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    keys = [k for k in keys if not (k.endswith(SUFFIXES) and k.rsplit("_", 1)[0] in values)]
    return [k for k in keys if not k.endswith("_n") and k not in ("step", "samples")]


def cell(values: dict[str, Any], key: str, scale: float = 1.0) -> str:
    """'v [low, high]', 'v ± std' or 'v' for one metric key, each number times ``scale``; '-' if absent."""
    if not isinstance(values.get(key), (int, float)):
        return "-"
    v = values[key] * scale
    if f"{key}_low" in values and f"{key}_high" in values:
        return f"{v:.4g} [{values[key + '_low'] * scale:.4g}, {values[key + '_high'] * scale:.4g}]"
    if f"{key}_std" in values:
        return f"{v:.4g} ± {values[key + '_std'] * scale:.2g}"
    return f"{v:.4g}"


def brief(values: dict[str, Any]) -> str:
    """One short line of a result: each metric with its interval and which way is better
    ("fid 12.3 [11.8, 12.9] ↓, precision 0.61 [0.58, 0.64] ↑"; KID in units of 1e-3)."""
    parts = []
    for k in reported_keys(values):
        info = key_info(k)
        unit = f" {info.shown_unit}" if info and info.scale != 1 else ""
        arrow = f" {info.direction[0]}" if info else ""
        parts.append(f"{k} {cell(values, k, info.scale if info else 1.0)}{unit}{arrow}")
    return ", ".join(parts)
