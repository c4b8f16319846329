"""The one loader of shipped weights (gankit/weights.py) and the one sha256 helper (fileio.sha256_of)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from torch import nn

from gankit.errors import CheckpointError
from gankit.fileio import sha256_of
from gankit.weights import load_checked_weights, recorded_sha256, save_weights

REMAKE = "remake it with `python make.py`"


def _ship(tmp_path: Path) -> tuple[nn.Module, Path]:
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    path = tmp_path / "w.safetensors"
    sha = save_weights(net, path, {"format": "test"})
    (tmp_path / "w.sha256").write_text(f"{sha}  w.safetensors\n")
    return net, path


def test_sha256_of_bytes_and_of_a_file_agree_with_hashlib(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000  # > one 1 MiB block
    (tmp_path / "f").write_bytes(data)
    assert sha256_of(data) == sha256_of(tmp_path / "f") == hashlib.sha256(data).hexdigest()


def test_saved_weights_load_back_in_eval_mode(tmp_path: Path) -> None:
    net, path = _ship(tmp_path)
    got = load_checked_weights(None, path, "w.sha256", nn.Linear(3, 2).train(), "test net", REMAKE)
    assert not got.training and torch.equal(got.weight, net.weight)
    assert recorded_sha256(tmp_path / "w.sha256", "test net", REMAKE) == sha256_of(path)


def test_a_changed_byte_a_missing_checksum_and_foreign_weights_are_one_line_errors(tmp_path: Path) -> None:
    _, path = _ship(tmp_path)
    load = lambda p=None, **kw: load_checked_weights(p, path, "w.sha256", nn.Linear(3, 2), "test net", REMAKE, **kw)  # noqa: E731
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"does not match its sha256 .*w\.sha256.*make\.py"):
        load()
    assert load(sha256=sha256_of(path)) is not None  # the sha256 given wins over the file's
    other = tmp_path / "other" / "w.safetensors"
    other.parent.mkdir()
    save_weights(nn.Linear(3, 2), other)
    assert load(other) is not None  # a file of one's own: checked only when asked to
    with pytest.raises(CheckpointError, match="checksum file .* is missing; remake"):
        load(other, check_given=True)
    with pytest.raises(CheckpointError, match="cannot be read: the file is missing; remake"):
        load(tmp_path / "none.safetensors")
    save_weights(nn.Linear(4, 2), other)
    with pytest.raises(CheckpointError, match="does not hold test net weights"):
        load(other)
