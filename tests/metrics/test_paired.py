"""Translator metrics on held-out pairs: paired-l1 (closed form), paired-task (real targets pass, mismatched fail)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gankit.config import DataConfig
from gankit.data import build_dataset, paired
from gankit.data import captions as C
from gankit.data.images import TensorImages
from gankit.errors import ConfigError, DataError
from gankit.metrics import applicable, evaluate
from gankit.metrics.paired import colour_entropy
from image_helpers import small_shapes  # noqa: F401  (fixture; mnist_cache is in conftest.py)


def test_paired_l1_is_the_mean_absolute_difference(small_shapes):  # noqa: F811
    ds = build_dataset(DataConfig(name="labels2shapes"))
    assert {"paired-l1", "paired-task", "fid"} <= set(applicable(ds, labels=True))
    assert "paired-l1" not in applicable(ds)  # needs the pair behind each output
    idx = np.array([5, 0, 5, 59])
    y = ds.held_out_targets(idx)
    assert evaluate(["paired-l1"], y, y, ds, labels=idx)["l1"] == 0.0
    shifted = (y - 0.25).clamp(-1, 1)
    expected = float((shifted - y).abs().mean())
    out = evaluate(["paired-l1"], shifted, y, ds, labels=idx)
    assert out["l1"] == pytest.approx(expected, rel=1e-6) and out["l1_n"] == 4
    assert out["l1_low"] <= out["l1"] <= out["l1_high"]
    wrong = evaluate(["paired-l1"], y, y, ds, labels=np.roll(idx, 1))["l1"]  # other pairs' targets are far
    assert wrong > 0.05
    with pytest.raises(DataError, match=r"4 pair indices in 0\.\.59"):
        evaluate(["paired-l1"], y, y, ds, labels=np.array([0, 1, 2, -1]))  # an output of a hand-given input
    digits = TensorImages("digits", torch.zeros(2, 1, 8, 8, dtype=torch.uint8))  # unpaired images
    assert "paired-l1" not in applicable(digits, labels=True)
    with pytest.raises(ConfigError, match="does not apply"):
        evaluate(["paired-l1"], np.zeros((2, 64)), np.zeros((2, 64)), digits, labels=np.zeros(2, dtype=np.int64))


def test_paired_task_reads_shape_attributes(small_shapes):  # noqa: F811
    ds = build_dataset(DataConfig(name="labels2shapes"))
    idx = np.arange(60)
    y = ds.held_out_targets(idx)
    right = evaluate(["paired-task"], y, y, ds, labels=idx)
    assert right["task"] >= 0.9 and right["task_n"] == 60
    assert min(right[f"task_{a}"] for a in ("kind", "colour", "size", "position")) >= right["task"]
    wrong = evaluate(["paired-task"], y, y, ds, labels=np.roll(idx, 7))  # the same images judged against other pairs
    assert wrong["task"] < 0.2


def test_colour_entropy_is_in_bits():
    assert colour_entropy(torch.tensor([0, 1, 2, 3])) == pytest.approx(2.0)
    assert colour_entropy(torch.tensor([2, 2, 3, 3])) == pytest.approx(1.0)
    assert colour_entropy(torch.tensor([1, 1, 1])) == 0.0


def test_masks2shapes_task_ignores_the_colour_and_labels2shapes_does_not(small_shapes):  # noqa: F811
    masks, labels = build_dataset(DataConfig(name="masks2shapes")), build_dataset(DataConfig(name="labels2shapes"))
    idx = np.arange(60)
    truth = masks.held_out.task.numpy()
    seed = paired.SHAPES_SEEDS["held_out"] + 1
    assert np.array_equal(C.render(truth, 32, seed), masks.held_out.targets.numpy())  # the renders, redrawn
    recoloured = truth.copy()
    recoloured[:, 1] = (truth[:, 1] + 1) % 4  # every shape in another colour, same kind, size, position, jitter
    other = masks.to_unit(torch.from_numpy(C.render(recoloured, 32, seed)))
    y = masks.held_out_targets(idx)
    real = evaluate(["paired-task"], y, y, masks, labels=idx)
    assert real["task"] >= 0.9 and real["colour_entropy"] > 1.8  # near log2 4 = 2 bits: the colours alike
    assert real["colour_entropy"] == pytest.approx(colour_entropy(masks.held_out.task[:, 1]), abs=0.05)
    assert evaluate(["paired-task"], other, y, masks, labels=idx)["task"] >= 0.9  # the colour is not judged ...
    assert evaluate(["paired-task"], other, y, labels, labels=idx)["task"] < 0.1  # ... unless the input gives it
    assert evaluate(["paired-task"], y, y, masks, labels=np.roll(idx, 7))["task"] < 0.2  # kind/size/position are
    red = truth.copy()
    red[:, 1] = 0
    one = evaluate(["paired-task"], masks.to_unit(torch.from_numpy(C.render(red, 32, seed))), y, masks, labels=idx)
    assert one["task"] >= 0.9 and one["colour_entropy"] < 0.3  # right shapes, no variety of colour


def test_paired_task_reads_the_source_digit(mnist_cache):  # noqa: F811
    ds = build_dataset(DataConfig(name="edges2digits"))
    assert "conditional-accuracy" not in applicable(ds, labels=True)  # pairs, not classes
    idx = np.arange(200)
    y = ds.held_out_targets(idx)
    right = evaluate(["paired-task", "fid"], y, ds.images(torch.arange(200)), ds, labels=idx)
    assert right["task"] >= 0.97 and right["fid_n"] == 200
    assert evaluate(["paired-task"], y, y, ds, labels=np.roll(idx, 1))["task"] < 0.3
