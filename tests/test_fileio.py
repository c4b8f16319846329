"""Atomic writes: old file kept on failure, no temporary left behind, ordinary permissions."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from gankit.fileio import atomic_write_bytes, atomic_write_text


def test_replaces_content_and_creates_folders(tmp_path):
    p = tmp_path / "a" / "b" / "f.txt"
    atomic_write_text(p, "one")
    atomic_write_text(p, "two")
    assert p.read_text() == "two"
    assert sorted(x.name for x in p.parent.iterdir()) == ["f.txt"]


def test_permissions_follow_the_umask_not_mkstemp(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "f", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o644


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    p = tmp_path / "f"
    atomic_write_bytes(p, b"old")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        atomic_write_bytes(p, b"new")
    monkeypatch.undo()
    assert p.read_bytes() == b"old" and [x.name for x in tmp_path.iterdir()] == ["f"]
