"""Shared paired-image test fixtures: a small labels2shapes (the MNIST cache fixture is in conftest.py)."""

from __future__ import annotations

import pytest

from gankit.data import paired


@pytest.fixture
def small_shapes(monkeypatch):
    """labels2shapes with 240 training and 60 held-out pairs (the full set takes seconds to render)."""
    monkeypatch.setitem(paired.SHAPES_SIZE, "train", 240)
    monkeypatch.setitem(paired.SHAPES_SIZE, "held_out", 60)
