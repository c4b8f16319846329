"""Outside samples (gankit/data/samples.py): layouts, value ranges detected or given, image folders, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.data.samples import as_samples, load_samples
from gankit.errors import DataError


def _u8(n: int = 6, c: int = 1, h: int = 5, w: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, c, h, w)).astype(np.uint8)


def test_each_range_maps_onto_minus_one_one_exactly() -> None:
    u = _u8()
    want = u.astype(np.float32) * np.float32(2 / 255) - 1
    s = as_samples(u)
    assert s.kind == "image" and s.value_range == "0,255" and s.detected
    np.testing.assert_allclose(s.x, want, atol=1e-6)
    unit = u / 255.0  # floats in [0, 1]
    s01 = as_samples(unit)
    assert s01.value_range == "0,1"
    np.testing.assert_allclose(s01.x, want, atol=1e-6)
    s11 = as_samples(unit * 2 - 1)  # already [-1, 1]: unchanged
    assert s11.value_range == "-1,1"
    np.testing.assert_allclose(s11.x, want, atol=1e-6)
    s255 = as_samples(u.astype(np.float64))  # floats 0..255
    assert s255.value_range == "0,255"
    np.testing.assert_allclose(s255.x, want, atol=1e-6)
    # the same values given explicitly: not detected
    given = as_samples(unit, value_range="0,1")
    assert not given.detected and np.array_equal(given.x, s01.x)
    # a torch tensor is read like an array
    assert np.array_equal(as_samples(torch.from_numpy(unit)).x, s01.x)


def test_a_range_that_cannot_be_told_or_does_not_fit_is_one_clear_error() -> None:
    x = np.linspace(0, 1.5, 6 * 25).reshape(6, 1, 5, 5)  # up to 1.5: neither [0, 1], [-1, 1] nor 0..255
    with pytest.raises(DataError, match=r"fit none of the ranges .* --range"):
        as_samples(x)
    with pytest.raises(DataError, match=r"outside the given range \[0, 1\]"):
        as_samples(np.linspace(-1, 1, 150).reshape(6, 1, 5, 5), value_range="0,1")
    with pytest.raises(DataError, match="unknown value range '0,2'"):
        as_samples(x, value_range="0,2")
    with pytest.raises(DataError, match="NaN"):
        as_samples(np.full((2, 1, 4, 4), np.nan))
    with pytest.raises(DataError, match="integer values from -3"):
        as_samples(np.full((2, 1, 4, 4), -3, dtype=np.int32))


def test_layouts_channels_last_grey_points_and_ambiguous() -> None:
    u = _u8(c=3, h=6, w=7)
    nhwc = np.ascontiguousarray(u.transpose(0, 2, 3, 1))
    assert np.array_equal(as_samples(nhwc).x, as_samples(u).x)  # (N, H, W, C) -> (N, C, H, W)
    assert as_samples(u[:, 0]).shape == (1, 6, 7)  # (N, H, W): grey
    pts = np.random.default_rng(1).normal(size=(10, 2))
    p = as_samples(pts)
    assert p.kind == "points" and p.shape == (2,) and np.array_equal(p.x, pts)
    with pytest.raises(DataError, match=r"--range and --size apply to images only"):
        as_samples(pts, value_range="0,1")
    with pytest.raises(DataError, match=r"could be \(N, C, H, W\) or \(N, H, W, C\)"):
        as_samples(np.zeros((2, 3, 9, 3), np.uint8))
    with pytest.raises(DataError, match="got shape"):
        as_samples(np.zeros((2, 5, 9, 9), np.uint8))
    # channels converted on request: grey -> RGB repeats, RGB -> grey is the luma
    assert np.array_equal(as_samples(u[:, :1], channels=3).x, np.repeat(as_samples(u[:, :1]).x, 3, axis=1))
    assert as_samples(u, channels=1).shape == (1, 6, 7)


def test_resize_only_when_asked() -> None:
    u = _u8(c=1, h=8, w=12)
    assert as_samples(u).shape == (1, 8, 12)
    r = as_samples(u, size=4)  # shorter side to 4, centre crop
    assert r.shape == (1, 4, 4) and r.x.min() >= -1 and r.x.max() <= 1
    flat = np.full((2, 1, 8, 8), 200, np.uint8)
    np.testing.assert_allclose(as_samples(flat, size=4).x, as_samples(flat).x[..., :4, :4], atol=1e-5)


def test_folder_equals_the_array_of_its_files_in_scan_order(tmp_path) -> None:
    u = _u8(n=5, c=3, h=6, w=6)
    (tmp_path / "imgs" / "b").mkdir(parents=True)
    # a folder before its sub-folders
    paths = ["imgs/a0.png", "imgs/a1.png", "imgs/z.png", "imgs/b/c0.png", "imgs/b/c1.png"]
    for a, p in zip(u, paths):
        Image.fromarray(a.transpose(1, 2, 0)).save(tmp_path / p)
    (tmp_path / "imgs" / "notes.txt").write_text("not an image")
    s = load_samples(tmp_path / "imgs")
    assert s.source.startswith("folder") and s.value_range == "0,255"
    assert np.array_equal(s.x, as_samples(u).x)
    np.save(tmp_path / "u.npy", u)
    assert np.array_equal(load_samples(tmp_path / "u.npy").x, s.x)
    np.savez(tmp_path / "two.npz", a=u, b=u[:2])
    with pytest.raises(DataError, match=r"holds the arrays a, b; name one as '.*two.npz:NAME'"):
        load_samples(tmp_path / "two.npz")
    assert len(load_samples(f"{tmp_path / 'two.npz'}:b").x) == 2
    Image.fromarray(np.zeros((9, 6, 3), np.uint8)).save(tmp_path / "imgs" / "zz.png")  # another size
    with pytest.raises(DataError, match=r"images differ in size .* --size S"):
        load_samples(tmp_path / "imgs")
    assert load_samples(tmp_path / "imgs", size=4).shape == (3, 4, 4)
    with pytest.raises(DataError, match="does not exist"):
        load_samples(tmp_path / "missing.npy")
    with pytest.raises(DataError, match="neither a folder of images nor an .npy/.npz file"):
        load_samples(tmp_path / "imgs" / "notes.txt")
