"""Paired data sets: edges2digits (MNIST from the shipped fixture), labels2shapes, paired-folder and its errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import MNIST_FIXTURE as FIXTURE
from gankit.config import DataConfig
from gankit.data import build_dataset, paired
from gankit.data import captions as C
from gankit.errors import DataError
from image_helpers import small_shapes  # noqa: F401  (fixture; mnist_cache is in conftest.py)


def test_edge_map_is_the_binarised_morphological_gradient():
    x = torch.zeros(1, 1, 12, 12, dtype=torch.uint8)
    x[0, 0, 3:9, 3:9] = 255  # a 6x6 white square
    e = paired.edge_map(x)[0, 0]
    expected = torch.zeros(12, 12, dtype=torch.uint8)
    expected[2:10, 2:10] = 255  # dilation reaches one pixel out ...
    expected[4:8, 4:8] = 0  # ... erosion one pixel in: a two-pixel ring on the boundary
    assert torch.equal(e, expected)
    faint = (x // 4).to(torch.uint8)  # contrast 63 < 128: no edge
    assert paired.edge_map(faint).sum() == 0


def test_label_map_gives_each_colour_its_level_inside_the_shape():
    attrs = np.array([[0, c, 1, 4] for c in range(4)])  # big circles in the centre, each colour
    renders = torch.from_numpy(C.render(attrs, 32, 0, jitter=False))
    maps = paired.label_map(renders, torch.arange(4))
    for c, level in enumerate(paired.LEVELS):
        assert set(torch.unique(maps[c]).tolist()) == {0, level}
        assert maps[c, 0, 16, 16] == level and maps[c, 0, 0, 0] == 0
    inside = maps[:, 0] > 0
    assert torch.equal(inside[0], inside[3])  # the mask does not depend on the colour
    assert abs(float(inside[0].float().sum()) - np.pi * (0.25 * 32) ** 2) < 12  # the circle's area, r = 8 px


def test_edges2digits_pairs_edges_with_digits_and_holds_out_the_test_split(mnist_cache):
    ds = build_dataset(DataConfig(name="edges2digits"))
    assert ds.kind == "image" and ds.shape == (1, 28, 28) and ds.source_shape == (1, 28, 28) and ds.num_classes == 0
    assert len(ds) == 800 and len(ds.held_out.targets) == 200 and ds.task == "digit"
    with np.load(FIXTURE) as f:
        assert np.array_equal(ds.held_out.targets.numpy(), f["x"][800:])
        assert np.array_equal(ds.held_out.task, f["y"][800:])
    assert torch.equal(ds.train.sources, paired.edge_map(ds.train.targets))
    torch.manual_seed(0)
    y, x = ds.sample_with_labels(16)
    assert y.shape == x.shape == (16, 1, 28, 28) and y.min() >= -1 and y.max() <= 1
    edges = paired.edge_map(((y + 1) * 127.5).round().to(torch.uint8))
    assert torch.equal(edges.float() / 127.5 - 1, x)  # the input is the edge map of its own target
    torch.manual_seed(0)
    assert torch.equal(ds.sample(16), y)  # sample() gives the same targets under the same RNG


@pytest.mark.usefixtures("small_shapes")
def test_labels2shapes_pairs_are_aligned_and_held_out():
    ds = build_dataset(DataConfig(name="labels2shapes"))
    assert ds.shape == (3, 32, 32) and ds.source_shape == (1, 32, 32) and ds.feature_extractor == "shapes-attributes"
    assert len(ds) == 240 and ds.held_out.task.shape == (60, 4)
    assert torch.equal(ds.train.sources, paired.label_map(ds.train.targets, ds.train.task[:, 1]))
    assert not any(torch.equal(a, b) for a in ds.held_out.targets[:10] for b in ds.train.targets)  # other renders
    counts = np.bincount(ds.train.task[:, 1].numpy(), minlength=4)
    assert counts.min() > 0.2 * len(ds)  # every colour alike
    with pytest.raises(Exception, match="3 channels"):
        build_dataset(DataConfig(name="labels2shapes", channels=1))


@pytest.mark.usefixtures("small_shapes")
def test_masks2shapes_pairs_silhouettes_with_the_renders_and_holds_out_others():
    ds = build_dataset(DataConfig(name="masks2shapes"))
    assert ds.shape == (3, 32, 32) and ds.source_shape == (1, 32, 32) and ds.task == "shape"
    assert len(ds) == 240 and ds.held_out.task.shape == (60, 4) and ds.feature_extractor == "shapes-attributes"
    for p in (ds.train, ds.held_out):
        assert set(torch.unique(p.sources).tolist()) == {0, 255}  # binary: no colour level
        peak = torch.tensor([max(C.RGB[c]) for c in C.COLOURS], dtype=torch.float32)[p.task[:, 1]]
        cover = p.targets.float().amax(dim=1, keepdim=True) / peak[:, None, None, None]
        assert torch.equal(p.sources == 255, cover >= 0.5)  # the mask is the render's support
    labels = build_dataset(DataConfig(name="labels2shapes"))
    assert torch.equal(ds.train.targets, labels.train.targets)  # the same renders, another input
    assert torch.equal(ds.train.sources, paired.silhouette(labels.train.sources))
    same = (ds.held_out.targets[:, None] == ds.train.targets[None]).flatten(2).all(dim=2)
    assert not same.any()  # no held-out render is a training render
    with pytest.raises(Exception, match="3 channels"):
        build_dataset(DataConfig(name="masks2shapes", channels=1))


def _png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_paired_folder_reads_side_by_side_pairs_and_holds_out_every_tenth(tmp_path):
    rng = np.random.default_rng(0)
    pairs = []
    for i in range(12):
        a, b = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
        _png(tmp_path / "ab" / f"p{i:02d}.png", np.concatenate([a, b], axis=1))  # A | B
        pairs.append((a, b))
    ds = build_dataset(DataConfig(name="paired-folder", path=str(tmp_path / "ab"), image_size=16))
    assert len(ds) == 11 and len(ds.held_out.sources) == 1 and ds.task == "" and ds.feature_extractor is None
    a9, b9 = pairs[9]  # sorted names: the tenth pair is held out
    assert np.array_equal(ds.held_out.sources[0].numpy(), a9.transpose(2, 0, 1))
    assert np.array_equal(ds.held_out.targets[0].numpy(), b9.transpose(2, 0, 1))
    _png(tmp_path / "ab" / "test" / "q.png", np.concatenate(pairs[0], axis=1))  # a test/ folder: only it is held out
    ds = build_dataset(DataConfig(name="paired-folder", path=str(tmp_path / "ab"), image_size=16))
    assert len(ds) == 12 and len(ds.held_out.sources) == 1


def test_paired_folder_matches_a_and_b_by_name(tmp_path):
    for name, value in (("x", 10), ("sub/y", 200), ("z", 90)):
        _png(tmp_path / "A" / f"{name}.png", np.full((8, 8), value, dtype=np.uint8))
        _png(tmp_path / "B" / f"{name}.jpg", np.full((8, 8, 3), 255 - value, dtype=np.uint8))
    ds = build_dataset(DataConfig(name="paired-folder", path=str(tmp_path), image_size=8, channels=1))
    pairs = torch.cat([torch.cat([p.sources, p.targets], dim=1) for p in (ds.train, ds.held_out)])
    assert pairs.shape == (3, 2, 8, 8)
    assert ((pairs[:, 0].float() + pairs[:, 1].float() - 255).abs() <= 2).all()  # each A with its own B (JPEG: ±2)


def test_paired_folder_errors_are_one_line(tmp_path):
    def error(path, **kw) -> str:
        with pytest.raises(DataError) as exc:
            build_dataset(DataConfig(name="paired-folder", path=str(path), image_size=8, **kw))
        message = str(exc.value)
        assert "\n" not in message
        return message

    assert "needs a directory" in error("")
    assert "does not exist" in error(tmp_path / "missing")
    for name in ("a", "b", "c"):
        _png(tmp_path / "two" / "A" / f"{name}.png", np.zeros((8, 8), np.uint8))
    _png(tmp_path / "two" / "B" / "a.png", np.zeros((8, 8), np.uint8))
    _png(tmp_path / "two" / "B" / "b.png", np.zeros((8, 8), np.uint8))
    assert "1 image(s) in" in error(tmp_path / "two") and "'c'" in error(tmp_path / "two")
    _png(tmp_path / "two" / "B" / "c.png", np.zeros((8, 8), np.uint8))
    _png(tmp_path / "two" / "B" / "d.png", np.zeros((8, 8), np.uint8))
    assert "no partner of the same name in" in error(tmp_path / "two") and "'d'" in error(tmp_path / "two")
    _png(tmp_path / "square" / "s.png", np.zeros((8, 8), np.uint8))
    _png(tmp_path / "square" / "t.png", np.zeros((8, 8), np.uint8))
    assert "is not an A|B pair: 8x8 pixels" in error(tmp_path / "square")
    _png(tmp_path / "bad" / "ok.png", np.zeros((8, 16), np.uint8))
    (tmp_path / "bad" / "broken.png").write_bytes(b"not a png")
    assert "broken.png' cannot be read" in error(tmp_path / "bad")
    _png(tmp_path / "one" / "ok.png", np.zeros((8, 16), np.uint8))
    assert "holds 1 pair(s); it needs at least 2" in error(tmp_path / "one")
