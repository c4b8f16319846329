"""Shared fixtures: one torch thread per test worker (2 cores, pytest -n 2), tiny configs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

import gankit  # noqa: F401  (fill the registries)
from gankit import config as config_mod

torch.set_num_threads(1)
os.environ.setdefault("MPLBACKEND", "Agg")

TINY = [
    "generator.width=32", "generator.depth=2", "discriminator.width=32", "discriminator.depth=2",
    "data.batch_size=64", "train.steps=20", "train.log_every=5", "train.sample_every=0",
    "train.checkpoint_every=10", "train.progress=false", "train.ema=0", "eval.num_samples=300",
    "train.lr_schedule=constant",
    # its end-of-run figure costs more than a tiny run; tests/train/test_diagnostics.py turns it on
    "train.diagnostics_every=0",
]


def tiny_config(out_dir: Path, *overrides: str, preset: str = "ring8"):
    """A run config that trains in well under a second."""
    return config_mod.resolve(preset, overrides=[*TINY, f"run.out_dir={out_dir}", *overrides])


@pytest.fixture
def tiny(tmp_path: Path):
    return lambda *overrides, preset="ring8": tiny_config(tmp_path / "runs", *overrides, preset=preset)


MNIST_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "mnist-test-1000.npz"


@pytest.fixture
def mnist_cache(tmp_path, monkeypatch):
    """A data cache (GANKIT_DATA, offline) whose MNIST files hold the 1,000 shipped test digits: 800 as
    'train', 200 as 'test'; the MNIST and Stacked-MNIST presets run on it without a download."""
    from gankit.data import images as im

    root = tmp_path / "cache"
    with np.load(MNIST_FIXTURE) as f:
        x, y = f["x"][:, 0], f["y"]
    for prefix, sl in (("train", slice(0, 800)), ("t10k", slice(800, 1000))):
        im.write_idx(root / "mnist" / f"{prefix}-images-idx3-ubyte.gz", np.ascontiguousarray(x[sl]))
        im.write_idx(root / "mnist" / f"{prefix}-labels-idx1-ubyte.gz", np.ascontiguousarray(y[sl].astype(np.uint8)))
    monkeypatch.setenv(im.DATA_ENV, str(root))
    monkeypatch.setenv(im.OFFLINE_ENV, "1")
    return root
