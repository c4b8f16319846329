"""Shared image-test fixtures: a cache whose MNIST is the shipped 1,000 test digits, a small labels2shapes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gankit.data import images as im
from gankit.data import paired

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "mnist-test-1000.npz"


@pytest.fixture
def mnist_cache(tmp_path, monkeypatch):
    """A cache whose MNIST is the 1,000 shipped test digits: 800 'train', 200 'test'."""
    root = tmp_path / "cache"
    with np.load(FIXTURE) as f:
        x, y = f["x"][:, 0], f["y"]
    for prefix, sl in (("train", slice(0, 800)), ("t10k", slice(800, 1000))):
        im.write_idx(root / "mnist" / f"{prefix}-images-idx3-ubyte.gz", np.ascontiguousarray(x[sl]))
        im.write_idx(root / "mnist" / f"{prefix}-labels-idx1-ubyte.gz", np.ascontiguousarray(y[sl].astype(np.uint8)))
    monkeypatch.setenv(im.DATA_ENV, str(root))
    monkeypatch.setenv(im.OFFLINE_ENV, "1")
    return root


@pytest.fixture
def small_shapes(monkeypatch):
    """labels2shapes with 240 training and 60 held-out pairs (the full set takes seconds to render)."""
    monkeypatch.setitem(paired.SHAPES_SIZE, "train", 240)
    monkeypatch.setitem(paired.SHAPES_SIZE, "held_out", 60)
