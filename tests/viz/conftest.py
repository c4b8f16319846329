"""Shared snapshots for the viz tests (small, deterministic, JSON-serialisable like the trainer's)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest


def ring_snapshot(n_fake: int = 500, n_grid: int = 60, seed: int = 0) -> dict[str, Any]:
    """A 2-D snapshot as the trainer writes it: ring8 data, Gaussian fakes, D on a grid, arrows."""
    rng = np.random.default_rng(seed)
    angles = rng.integers(0, 8, 400) * 2 * math.pi / 8
    real = np.c_[np.cos(angles), np.sin(angles)] + 0.02 * rng.normal(size=(400, 2))
    fake = 0.5 * rng.normal(size=(n_fake, 2))
    xs = np.linspace(-1.5, 1.5, n_grid)
    ys = np.linspace(-1.5, 1.5, n_grid)
    gx, gy = np.meshgrid(xs, ys)  # (ny, nx)
    d = 1.0 / (1.0 + np.exp(-(3.0 * (gx**2 + gy**2) - 2.0)))
    snap = {
        "step": 1000, "dim": 2, "dataset": "ring8", "objective": "nsgan",
        "bounds": [[-1.5, 1.5], [-1.5, 1.5]],
        "real": real.tolist(), "fake": fake.tolist(),
        "grid": {"x": xs.tolist(), "y": ys.tolist(), "d": d.tolist()},
        "d_label": "D(x)",
        "arrows": (fake * 3.0).tolist(),
        "density": None,
    }
    return json.loads(json.dumps(snap))  # exactly what a reader of snapshots/*.json gets


def gauss_snapshot(with_density: bool = True, with_grid: bool = True) -> dict[str, Any]:
    """A 1-D snapshot: N(-1, 1) data, N(0.5, 0.7^2) generator, a sigmoid discriminator."""
    rng = np.random.default_rng(1)
    xs = np.linspace(-5.0, 5.0, 201)
    snap = {
        "step": 500, "dim": 1, "dataset": "gauss1d", "objective": "mmgan",
        "bounds": [[-5.0, 5.0]],
        "real": rng.normal(-1.0, 1.0, (400, 1)).tolist(),
        "fake": rng.normal(0.5, 0.7, (400, 1)).tolist(),
        "grid": {"x": xs.tolist(), "d": (1.0 / (1.0 + np.exp(xs))).tolist()} if with_grid else None,
        "d_label": "D(x)",
        "arrows": None,
        "density": ({"x": xs.tolist(), "p": (np.exp(-((xs + 1) ** 2) / 2) / math.sqrt(2 * math.pi)).tolist()}
                    if with_density else None),
    }
    return json.loads(json.dumps(snap))


@pytest.fixture
def snapshot_2d() -> dict[str, Any]:
    return ring_snapshot()


@pytest.fixture
def snapshot_1d() -> dict[str, Any]:
    return gauss_snapshot()


@pytest.fixture
def make_snapshot_2d():
    """The factory itself, for tests that vary the size (conftest is not importable in importlib mode)."""
    return ring_snapshot


@pytest.fixture
def make_snapshot_1d():
    return gauss_snapshot


@pytest.fixture
def legends_beside():
    """A check that every legend of a figure lies right of its panel (and of a twin axis sharing it), inside
    the figure; returns how many legends there are."""
    def check(fig) -> int:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        legends = 0
        for ax in fig.axes:
            legend = ax.get_legend()
            if legend is None:
                continue
            box = legend.get_window_extent(renderer)
            row = [a for a in fig.axes if a.get_position().bounds == ax.get_position().bounds and a is not ax]
            right = max([ax.get_window_extent(renderer).x1] + [a.get_tightbbox(renderer).x1 for a in row])
            assert right - 1 <= box.x0 and box.x1 <= fig.bbox.x1, ax.get_ylabel()  # clear of the panel, not cut off
            legends += 1
        return legends
    return check
