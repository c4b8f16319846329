"""What a resumed run may change: the resume rules on two nested config dicts."""

from __future__ import annotations

from typing import Any

# Sections a resumed run may change: how long and how it is observed, not what is trained.
RESUMABLE = ("train.steps", "train.log_every", "train.sample_every", "train.checkpoint_every",
             "train.eval_every", "train.diagnostics_every", "train.progress", "train.time_limit", "run.device",
             "run.threads", "run.channels_last", "run.compile", "run.distributed_data", "run.max_memory_gb", "eval",
             "train.progress_every_s", "train.tensorboard")


def changed_keys(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two nested config dicts (``gankit sweep`` uses it too)."""
    out = []
    for key in sorted(set(a) | set(b)):
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(a.get(key), dict) and isinstance(b.get(key), dict):
            out += changed_keys(a[key], b[key], full)
        elif a.get(key) != b.get(key):
            out.append(full)
    return out


def non_resumable(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The config keys that differ between ``a`` and ``b`` and are not RESUMABLE (nor under one)."""
    return [k for k in changed_keys(a, b) if not any(k == r or k.startswith(r + ".") for r in RESUMABLE)]
