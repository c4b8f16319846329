"""benchmarks/ae_reconstruction.py's class read-out: the k-nearest-neighbour vote on codes, on hand-made codes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

_spec = importlib.util.spec_from_file_location(
    "bench_ae_reconstruction", Path(__file__).resolve().parents[1] / "benchmarks" / "ae_reconstruction.py")
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def _clusters(n: int, spread: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n codes per class of 10, around the corners of a regular 10-gon of radius 5, with Gaussian spread."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(10).repeat_interleave(n)
    angle = 2 * torch.pi * y / 10
    centres = 5 * torch.stack([angle.cos(), angle.sin()], 1)
    return centres + spread * torch.randn(len(y), 2, generator=g), y


def test_knn_accuracy_separated_and_mixed():
    train, train_y = _clusters(30, 0.1, 0)
    test, test_y = _clusters(20, 0.1, 1)
    assert bench.knn_accuracy(train, train_y, test, test_y) == 1.0  # far apart classes: every vote right
    assert bench.knn_accuracy(train, train_y, test, (test_y + 1) % 10) == 0.0  # the wrong labels: every vote wrong
    # one point for all: the codes say nothing, the vote picks one class (ties go to the lowest label) for every
    # test code, right for a tenth of them
    same = torch.zeros_like(train)
    assert bench.knn_accuracy(same, train_y, torch.zeros_like(test), test_y) == pytest.approx(0.1)
    # chunks give the same answer as one pass
    assert bench.knn_accuracy(train, train_y, test, test_y, chunk=7) == 1.0


def test_knn_accuracy_k_one_is_the_nearest_label():
    train = torch.tensor([[0.0], [1.0], [10.0]])
    train_y = torch.tensor([3, 3, 7])
    test = torch.tensor([[0.4], [9.0], [6.0]])
    # nearest of 6.0 is 10.0 (distance 4 against 5)
    assert bench.knn_accuracy(train, train_y, test, torch.tensor([3, 7, 7]), k=1) == 1.0
    # with k = 3 all three points vote: 3 wins 2 to 1 everywhere
    assert bench.knn_accuracy(train, train_y, test, torch.tensor([3, 3, 3]), k=3) == 1.0
