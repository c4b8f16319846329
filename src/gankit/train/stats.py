"""JSON-lines logs (stats.jsonl, metrics.jsonl): one object per line, appended and flushed.

On resume, lines written after the checkpoint's step (by a run that died before its next checkpoint)
are dropped, so the log never holds two histories; a line torn by ``kill -9`` or a full disk is skipped
by :func:`read_jsonl` and dropped by :func:`truncate_after`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterator

from gankit.fileio import atomic_write_text, write_error


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else (1e308 if value > 0 else -1e308)
    return value


class JsonlWriter:
    """Appends dicts as JSON lines to ``path`` (created on first write)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def write(self, record: dict[str, Any]) -> None:
        """Append one record as one line (in a single write).

        A line torn by a crash or a full disk is never glued to the next record: when the file does not
        end in a newline, the new record starts on a fresh line (readers skip the torn one).

        Raises:
            WriteError: (an OSError) the line could not be written, e.g. the disk is full.
        """
        line = json.dumps({k: _clean(v) for k, v in record.items()}, allow_nan=False) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a+b") as f:
                if f.tell() > 0:
                    f.seek(-1, 2)
                    if f.read(1) != b"\n":
                        line = "\n" + line
                f.write(line.encode("utf-8"))
        except OSError as exc:
            raise write_error(self.path, exc, intact=False) from None


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """All complete records of a JSON-lines file: torn lines (a crash mid-write), damaged lines and
    lines that are not objects with an integer "step" are skipped."""
    path = Path(path)
    if not path.is_file():
        return []
    records = (parse_record(line) for line in path.read_text(encoding="utf-8", errors="replace").splitlines())
    return [r for r in records if r is not None]


def parse_record(line: str | bytes) -> dict[str, Any] | None:
    """One JSON-lines record, or None for a blank, torn or damaged line or one that is not an object
    with an integer "step" (the rule of :func:`read_jsonl`, shared with the dashboard's readers)."""
    line = line.strip()
    if not line:
        return None
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, a number over 4,300 digits
        return None
    return record if isinstance(record, dict) and _step_ok(record) else None


def _step_ok(record: dict[str, Any]) -> bool:
    """A record's "step", when it has one, is an integer (a damaged line may hold anything)."""
    step = record.get("step", 0)
    return isinstance(step, int) and not isinstance(step, bool)


def truncate_after(path: Path, step: int) -> None:
    """Keep only records with ``record["step"] <= step`` (atomically)."""
    path = Path(path)
    if not path.is_file():
        return
    keep = [r for r in read_jsonl(path) if int(r.get("step", 0)) <= step]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in keep))


def iter_steps(records: list[dict[str, Any]]) -> Iterator[int]:
    return (int(r["step"]) for r in records if "step" in r)
