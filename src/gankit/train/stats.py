"""JSON-lines logs (stats.jsonl, metrics.jsonl): one object per line, appended and flushed.

On resume, lines written after the checkpoint's step (by a run that died before its next checkpoint)
are dropped, so the log never holds two histories; a line torn by ``kill -9`` or a full disk is skipped
by :func:`read_jsonl` and dropped by :func:`truncate_after`.

Readers that follow a live log (the dashboard) read it in bounded pieces: :func:`read_page` returns the
records after a byte offset, at most ``max_bytes`` of them, and skips (and counts) a line longer than
``max_line`` without holding it whole; :func:`last_record` reads only the tail.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gankit.fileio import atomic_write_text, write_error


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else (1e308 if value > 0 else -1e308)
    if isinstance(value, dict):  # nested records (gankit eval's "floor")
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _line(record: dict[str, Any]) -> str:
    return json.dumps(_clean(record), allow_nan=False) + "\n"


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
        line = _line(record)
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

    def put(self, record: dict[str, Any], key: Callable[[dict[str, Any]], Any]) -> None:
        """Write ``record`` once: earlier records with the same ``key(record)`` are replaced (the file is
        rewritten atomically), otherwise it is appended as by :meth:`write`.

        For records written after the checkpoint of their own step (the end-of-run metrics): a resumed run
        that repeats them (killed after writing them, or already finished) never holds them twice.

        Raises:
            WriteError: the file could not be written; on a rewrite the old file is intact.
        """
        records = read_jsonl(self.path)
        same = key(record)
        if not any(key(r) == same for r in records):
            self.write(record)
            return
        keep = [r for r in records if key(r) != same]
        atomic_write_text(self.path, "".join(_line(r) for r in [*keep, record]))


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


LINE_BYTES = 1 << 20  # a record longer than this is damage, not a log line (gankit writes a few hundred bytes)
_BLOCK = 1 << 16  # how much of an oversized line is held at a time while skipping it


def _json_size(record: dict[str, Any]) -> int:
    return len(json.dumps(record))


def read_page(path: Path, offset: int = 0, ino: int | None = None, skip: bool = False, *,
              max_line: int = LINE_BYTES, max_bytes: int = 4 * LINE_BYTES,
              size: Callable[[dict[str, Any]], int] = _json_size) -> dict[str, Any]:
    """The complete records of a JSON-lines file after byte ``offset``, one bounded page of them.

    Returns ``{"rows", "offset", "ino", "skip", "reset", "skipped", "more"}``; the next call passes
    ``offset``, ``ino`` and ``skip`` back. A page holds records while the sum of their ``size`` stays within
    ``max_bytes`` and reads about ``max_bytes`` of the file at most; ``more`` says the file has more now.
    A torn last line (still being written) is left for the next call. A line that is not a record, or is
    longer than ``max_line`` (or whose record's ``size`` is), is skipped and counted in ``skipped``; an
    oversized one is read in blocks of 64 KiB, never whole, and when the file ends inside it ``skip`` is
    true: the next call goes on discarding up to its newline. So ``offset`` always advances past a bad line.
    When the file was replaced (another inode, as when a resumed run truncates its stats) or shrank, it is
    read again from the start and ``reset`` is true.

    Raises:
        ValueError: ``max_line`` exceeds ``max_bytes`` (a page could never hold a record of full size).
    """
    if max_line > max_bytes:
        raise ValueError(f"max_line ({max_line}) must not exceed max_bytes ({max_bytes})")
    out: dict[str, Any] = {"rows": [], "offset": 0, "ino": None, "skip": False, "reset": offset > 0,
                           "skipped": 0, "more": False}
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return out
    with f:
        st = os.fstat(f.fileno())
        reset = (ino is not None and ino != st.st_ino) or offset > st.st_size
        if reset:
            offset, skip = 0, False
        f.seek(offset)
        rows: list[dict[str, Any]] = []
        skipped = used = read = 0
        more = False
        while True:
            if read >= max_bytes:
                more = True
                break
            if skip:  # inside an oversized line: discard up to its newline
                chunk = f.readline(_BLOCK)
                if not chunk:
                    break
                offset += len(chunk)
                read += len(chunk)
                skip = not chunk.endswith(b"\n")
                continue
            line = f.readline(max_line + 1)
            if not line.endswith(b"\n"):
                if len(line) <= max_line:
                    break  # the end of the file, or a torn last line: left for the next call
                offset += len(line)
                read += len(line)
                skipped += 1
                skip = True
                continue
            record = parse_record(line)
            cost = size(record) if record is not None else 0
            if record is not None and cost <= max_line:
                if used + cost > max_bytes:
                    more = True
                    break  # the next page starts with it
                rows.append(record)
                used += cost
            elif line.strip():
                skipped += 1
            offset += len(line)
            read += len(line)
    out.update(rows=rows, offset=offset, ino=st.st_ino, skip=skip, reset=reset, skipped=skipped, more=more)
    return out


def last_record(path: Path, max_line: int = LINE_BYTES, block: int = 8192) -> dict[str, Any] | None:
    """The last complete record of a JSON-lines file, reading only its tail (None when there is none).

    The tail read grows from ``block`` bytes fourfold while no complete record is in it, up to about
    ``2 * max_line``: past a damaged tail longer than that it gives up rather than read the whole file.
    """
    try:
        f = open(path, "rb")
    except OSError:
        return None
    with f:
        size = f.seek(0, os.SEEK_END)
        window = block
        while True:
            window = min(window, size)
            f.seek(size - window)
            lines = f.read(window).split(b"\n")[:-1]  # after the last newline: torn or empty
            if window < size:
                lines = lines[1:]  # may begin mid-line
            for line in reversed(lines):
                record = parse_record(line) if len(line) <= max_line else None
                if record is not None:
                    return record
            if window >= size or window >= 2 * max_line:
                return None
            window *= 4


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


def last_logged(path: Path) -> dict[str, float]:
    """The statistics of the last stats.jsonl line (without its step, time and learning rates): the
    trainer's ``last_record`` as it was when that line was written."""
    records = read_jsonl(path)
    if not records:
        return {}
    return {k: v for k, v in records[-1].items() if k not in ("step", "time") and not k.startswith("lr_")}
