"""Atomic file writes (no torch here, so the figures can use it too).

A write goes to a temporary file in the destination's folder, is flushed to disk, and is renamed over
the destination: readers see the old file or the new one, never half of one. A full disk or any other
failure mid-write leaves the old file intact and no temporary file behind, and raises a one-line
:class:`~gankit.errors.WriteError`. A ``kill -9`` at any moment leaves at worst a hidden
``.NAME.XXXXXXXX.tmp`` file beside the destination (never a half-written destination);
:func:`remove_stale_temporaries` clears those when a run is resumed. The new file gets the usual
permissions (0666 minus the umask), not mkstemp's private 0600.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from gankit.errors import WriteError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a power cut after it keeps the new file); best effort."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a directory
    finally:
        os.close(fd)


def write_error(path: str | Path, exc: OSError, intact: bool = True) -> WriteError:
    """A one-line :class:`WriteError` for ``path`` from the OSError that stopped the write."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    tail = "; its previous version is intact" if intact and Path(path).exists() else ""
    err = WriteError(f"could not write '{path}': {reason}{tail}")
    err.errno, err.strerror, err.filename = exc.errno, exc.strerror, str(path)
    return err


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary file beside ``path`` to write in the ``with`` block; on leaving it normally it is
    flushed to disk and renamed over ``path`` (creating missing parent folders first). For writes too
    large for one ``bytes`` object (a memory-mapped .npy, text written in chunks).

    Raises:
        WriteError: (an OSError) the disk is full, the folder is read-only...; ``path`` is left as it was
            and no temporary file remains (also when the block raises).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise write_error(path, exc) from None
    tmp = Path(name)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)  # the data reaches the disk before the rename makes it the destination
        finally:
            os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            raise write_error(path, exc) from None
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, creating missing parent folders (see :func:`atomic_path`).

    Raises:
        WriteError: (an OSError) the disk is full, the folder is read-only...; ``path`` is left as it was
            and no temporary file remains.
    """
    with atomic_path(path) as tmp, io.open(tmp, "wb") as f:  # io.open: the fault tests' full disk patches it
        f.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


_TEMPORARY = re.compile(r"\..+\.[A-Za-z0-9_]{8}\.tmp")  # what mkstemp(prefix=".NAME.", suffix=".tmp") makes


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files that writes killed mid-way (``kill -9``, power cut) left under ``folder``.

    Only call this when nothing is writing into ``folder`` (e.g. when a run is resumed).

    Returns:
        The files removed.
    """
    removed = []
    for p in sorted(Path(folder).rglob(".*.tmp")):
        if p.is_file() and _TEMPORARY.fullmatch(p.name):
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def sha256_of(source: bytes | str | Path) -> str:
    """The sha256 (hex) of ``source``: bytes, or a file read in 1 MiB blocks (downloads, shipped weights,
    TorchScript extractors)."""
    import hashlib

    if isinstance(source, (bytes, bytearray, memoryview)):
        return hashlib.sha256(source).hexdigest()
    h = hashlib.sha256()
    with open(source, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
