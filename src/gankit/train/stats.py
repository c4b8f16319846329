"""JSON-lines logs (stats.jsonl, metrics.jsonl): one object per line, appended and flushed.

On resume, lines written after the checkpoint's step (by a run that died before its next checkpoint)
are dropped, so the log never holds two histories.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterator

from gankit.fileio import atomic_write_text


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else (1e308 if value > 0 else -1e308)
    return value


class JsonlWriter:
    """Appends dicts as JSON lines to ``path`` (created on first write)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def write(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({k: _clean(v) for k, v in record.items()}, allow_nan=False)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """All complete records of a JSON-lines file; a torn last line (crash mid-write) is skipped."""
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def truncate_after(path: Path, step: int) -> None:
    """Keep only records with ``record["step"] <= step`` (atomically)."""
    path = Path(path)
    if not path.is_file():
        return
    keep = [r for r in read_jsonl(path) if int(r.get("step", 0)) <= step]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in keep))


def iter_steps(records: list[dict[str, Any]]) -> Iterator[int]:
    return (int(r["step"]) for r in records if "step" in r)
