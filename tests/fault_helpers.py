"""Fault injection for the fault tests: a disk that fills up mid-write, and a check that a run directory
holds only complete, parseable files."""

from __future__ import annotations

import errno
import io
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from PIL import Image
from safetensors import safe_open

from gankit.train.checkpoint import load_checkpoint
from gankit.train.rundir import MARKER


class CodePayload:
    """Unpickling this runs a shell command that creates ``marker`` (every loader must refuse it)."""

    def __init__(self, marker: Path | str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def fd_path(fd: int) -> str:
    """The path an open file descriptor refers to (Linux /proc)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


class _FullDiskFile:
    """A file whose writes store half their bytes and then fail with ENOSPC, as a full disk does."""

    def __init__(self, f: Any) -> None:
        self._f = f

    def write(self, data: Any) -> int:
        half = len(data) // 2
        self._f.write(data[:half])
        self._f.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    def __enter__(self) -> _FullDiskFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._f.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


def fill_disk(monkeypatch: Any, matches: Callable[[str], bool]) -> list[str]:
    """From now on, writing to a file whose path ``matches`` stores half the data and raises ENOSPC.

    Patches ``io.open``, through which ``open``, ``Path.open`` and ``os.fdopen`` (atomic writes) go, so
    the code under test runs unchanged. Returns the list of paths that failed (filled as they do).
    """
    real_open = io.open
    failed: list[str] = []

    def fake_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        f = real_open(file, mode, *args, **kwargs)
        path = fd_path(file) if isinstance(file, int) else os.fspath(file)
        if any(c in mode for c in "wax+") and matches(str(path)):
            failed.append(str(path))
            return _FullDiskFile(f)
        return f

    monkeypatch.setattr(io, "open", fake_open)
    return failed


TEMPORARY = re.compile(r"\..+\.tmp")


def check_run_files(root: Path) -> dict[str, int]:
    """Every file under a run directory parses as what its name says; no temporary file is left.

    Returns:
        How many files of each suffix were checked.
    """
    seen: dict[str, int] = {}
    for p in sorted(Path(root).rglob("*")):
        if not p.is_file():
            continue
        assert not TEMPORARY.fullmatch(p.name), f"temporary file left behind: {p}"
        suffix = p.suffix
        if p.name == MARKER:
            assert p.parent == Path(root), f"a run marker below the run folder: {p}"
        elif suffix == ".pt":
            assert isinstance(load_checkpoint(p)["step"], int)
        elif suffix == ".safetensors":
            with safe_open(str(p), framework="pt") as f:
                assert f.metadata().get("format") == "gankit-generator" and list(f.keys())
        elif suffix == ".json":
            json.loads(p.read_text(encoding="utf-8"))
        elif suffix == ".jsonl":
            text = p.read_text(encoding="utf-8")
            assert text == "" or text.endswith("\n"), f"{p} ends in a torn line"
            for i, line in enumerate(text.splitlines()):
                assert isinstance(json.loads(line), dict), f"{p} line {i + 1}"
        elif suffix == ".yaml":
            assert isinstance(yaml.safe_load(p.read_text(encoding="utf-8")), dict)
        elif suffix in (".png", ".gif"):
            with Image.open(p) as im:
                im.verify()
        else:
            raise AssertionError(f"unexpected file in a run directory: {p}")
        seen[suffix] = seen.get(suffix, 0) + 1
    return seen
