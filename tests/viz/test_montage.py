"""Choosing the lecture's frames, tiling them into a captioned PNG and animating them as a GIF."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gankit.viz import LECTURE_STEPS, make_montage, montage, pick_steps, plot_snapshot

COLOURS = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240)]


# ------------------------------------------------------------------------------------- pick_steps
def test_pick_steps_finds_the_lecture_steps() -> None:
    assert pick_steps(list(range(100, 50001, 100))) == [100, 1000, 2000, 5000, 10000, 20000, 50000]
    assert tuple(pick_steps(range(100, 50001, 100))) == LECTURE_STEPS


def test_pick_steps_takes_the_nearest_available_step() -> None:
    steps = list(range(0, 60001, 1500))  # 0, 1500, 3000, ...
    # 100 -> 0; 1000 -> 1500; 2000 -> 1500 again (dropped); 5000 -> 4500; 10000 -> 10500;
    # 20000 -> 19500; 50000 -> 49500; and the last step, 60000.
    assert pick_steps(steps) == [0, 1500, 4500, 10500, 19500, 49500, 60000]


def test_pick_steps_always_includes_the_last_step_and_has_no_duplicates() -> None:
    rng = random.Random(0)
    for _ in range(200):
        steps = [rng.randrange(0, 60000) for _ in range(rng.randrange(1, 40))]
        max_frames = rng.randrange(1, 10)
        got = pick_steps(steps, max_frames=max_frames)
        assert got[-1] == max(steps)
        assert got == sorted(set(got)), "sorted, without duplicates"
        assert set(got) <= set(steps)
        assert 1 <= len(got) <= max_frames
        assert len(got) >= min(4, max_frames, len(set(steps)))


@pytest.mark.parametrize("max_frames", [1, 2, 3, 5, 7, 8])
def test_pick_steps_honours_max_frames(max_frames: int) -> None:
    got = pick_steps(range(100, 50001, 100), max_frames=max_frames)
    assert len(got) == min(max_frames, 7)
    assert got[-1] == 50000
    if max_frames >= 2:
        assert got[0] == 100  # thinning keeps both ends
    assert set(got) <= set(LECTURE_STEPS)


def test_pick_steps_fills_short_runs_evenly() -> None:
    assert pick_steps(range(100, 501, 100)) == [100, 200, 300, 500]
    assert pick_steps([10, 20]) == [10, 20]
    assert pick_steps([7]) == [7]
    # A run logged every step up to 300: 100 is found; fill spreads across the run.
    got = pick_steps(range(1, 301))
    assert len(got) == 4 and got[0] == 1 and got[-1] == 300 and 100 in got


def test_pick_steps_edge_cases() -> None:
    assert pick_steps([]) == []
    assert pick_steps([5000, 100, 100, 5000]) == [100, 5000]  # unsorted, repeated input
    assert pick_steps(range(0, 1001, 10), targets=(500,), max_frames=8, min_frames=1) == [500, 1000]
    with pytest.raises(ValueError, match="max_frames"):
        pick_steps([1, 2, 3], max_frames=0)


# ----------------------------------------------------------------------------------- make_montage
def _solid_frames(tmp_path: Path, sizes: list[tuple[int, int]], mode: str = "RGB") -> list[tuple[int, Path]]:
    frames = []
    for k, size in enumerate(sizes):
        path = tmp_path / f"step-{(k + 1) * 100:06d}.png"
        colour = COLOURS[k % len(COLOURS)] + ((255,) if mode == "RGBA" else ())
        Image.new(mode, size, colour).save(path)
        frames.append(((k + 1) * 100, path))
    return frames


def test_montage_layout_size_order_and_captions(tmp_path: Path) -> None:
    sizes = [(120, 100), (80, 160), (120, 100), (100, 100), (60, 40)]  # different sizes
    frames = _solid_frames(tmp_path, sizes)
    out = tmp_path / "out" / "montage.png"
    make_montage(frames, out, columns=4)

    with Image.open(out) as im:
        assert im.format == "PNG"
        sheet = np.asarray(im.convert("RGB")).astype(int)
    tw, th = 120, 160 + montage.CAPTION_HEIGHT  # the largest width and height, under a caption
    pad = montage.PAD
    assert sheet.shape == (2 * th + 3 * pad, 4 * tw + 5 * pad, 3)  # 4 columns, 2 rows

    for k, colour in enumerate(COLOURS[:5]):
        r, c = divmod(k, 4)
        x0, y0 = pad + c * (tw + pad) + (3 * (tw + pad) // 2 if r else 0), pad + r * (th + pad)  # last row centred
        centre = sheet[y0 + montage.CAPTION_HEIGHT + 80, x0 + tw // 2]
        np.testing.assert_array_equal(centre, colour, err_msg=f"tile {k}")
        caption = sheet[y0:y0 + montage.CAPTION_HEIGHT, x0:x0 + tw]
        assert (caption.sum(axis=2) < 200).sum() > 20, f"no caption text on tile {k}"
    # A tile narrower than the box is centred on white, not stretched.
    x0 = pad + 1 * (tw + pad)
    np.testing.assert_array_equal(sheet[pad + montage.CAPTION_HEIGHT + 80, x0 + 5], [255, 255, 255])
    # The last row's one tile is centred: the empty space beside it is split evenly, white.
    left = pad + 3 * (tw + pad) // 2
    assert (sheet[pad + th + pad:, :left] == 255).all() and (sheet[pad + th + pad:, left + tw:] == 255).all()
    assert sheet.shape[1] - (left + tw) == left


@pytest.mark.parametrize(("n", "rows", "cols"), [(1, 1, 1), (3, 1, 3), (4, 2, 2), (5, 2, 3), (6, 2, 3), (7, 2, 4),
                                                  (8, 2, 4)])
def test_automatic_layout_leaves_no_large_empty_margin(tmp_path: Path, n: int, rows: int, cols: int) -> None:
    """5 frames were laid out 4 + 1, three empty tiles of white; now at most one empty cell, split evenly."""
    frames = _solid_frames(tmp_path, [(40, 40)] * n)
    make_montage(frames, tmp_path / "m.png")
    tw, th, pad = 40, 40 + montage.CAPTION_HEIGHT, montage.PAD
    with Image.open(tmp_path / "m.png") as im:
        assert im.size == (cols * tw + (cols + 1) * pad, rows * th + (rows + 1) * pad)
        sheet = np.asarray(im.convert("RGB")).astype(int)
    assert rows * cols - n <= 1
    last = n - (rows - 1) * cols  # tiles on the last row, centred
    y = (rows - 1) * (th + pad) + pad + montage.CAPTION_HEIGHT + 20
    coloured = np.flatnonzero((sheet[y] != 255).any(axis=1))
    assert len(coloured) == last * tw  # the last row's tiles ...
    assert coloured[0] == sheet.shape[1] - 1 - coloured[-1]  # ... with as much white left of them as right


def test_white_margins_of_frames_are_trimmed(tmp_path: Path) -> None:
    """A figure's white margins made large empty bands in the montage; TRIM_KEEP px of them stay."""
    frame = Image.new("RGB", (300, 200), "white")
    frame.paste(COLOURS[0], (100, 40, 160, 140))  # a 60 x 100 picture in wide white margins
    frame.save(tmp_path / "f.png")
    make_montage([(1, tmp_path / "f.png")], tmp_path / "m.png")
    keep, pad = montage.TRIM_KEEP, montage.PAD
    with Image.open(tmp_path / "m.png") as im:
        assert im.size == (60 + 2 * keep + 2 * pad, 100 + 2 * keep + montage.CAPTION_HEIGHT + 2 * pad)
    Image.new("RGB", (30, 20), "white").save(tmp_path / "blank.png")  # all white: kept as it is
    make_montage([(1, tmp_path / "blank.png")], tmp_path / "b.png")
    with Image.open(tmp_path / "b.png") as im:
        assert im.size == (30 + 2 * pad, 20 + montage.CAPTION_HEIGHT + 2 * pad)


def test_montage_captions_differ_by_step(tmp_path: Path) -> None:
    frames = _solid_frames(tmp_path, [(100, 100), (100, 100)])
    frames = [(100, frames[0][1]), (50000, frames[0][1])]  # same picture, two steps
    make_montage(frames, tmp_path / "m.png", columns=2)
    sheet = np.asarray(Image.open(tmp_path / "m.png").convert("L")).astype(int)
    pad, cap = montage.PAD, montage.CAPTION_HEIGHT
    first = sheet[pad:pad + cap, pad:pad + 100]
    second = sheet[pad:pad + cap, 2 * pad + 100:2 * pad + 200]
    assert (first < 128).sum() < (second < 128).sum()  # "step 50000" has more ink than "step 100"


def test_large_frames_are_scaled_to_the_tile_cap(tmp_path: Path) -> None:
    frames = _solid_frames(tmp_path, [(1000, 800), (500, 500)], mode="RGBA")
    make_montage(frames, tmp_path / "m.png", columns=1)
    with Image.open(tmp_path / "m.png") as im:
        assert im.size == (500 + 2 * montage.PAD, 2 * (400 + montage.CAPTION_HEIGHT) + 3 * montage.PAD)
        assert im.mode == "RGB"


def test_gif_frames_loop_and_hold_the_last_frame(tmp_path: Path) -> None:
    frames = _solid_frames(tmp_path, [(90, 90)] * 6)
    gif = tmp_path / "anim.gif"
    make_montage(frames[:3], tmp_path / "m.png", gif_path=gif, gif_frames=frames, duration_ms=250)
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.is_animated
        assert im.n_frames == 6
        assert im.info["loop"] == 0  # forever
        assert im.size == (90, 90 + montage.CAPTION_HEIGHT)
        durations, centres = [], []
        for k in range(im.n_frames):
            im.seek(k)
            durations.append(im.info["duration"])
            centres.append(im.convert("RGB").getpixel((45, montage.CAPTION_HEIGHT + 45)))
    assert durations == [250] * 5 + [250 * montage.LAST_FRAME_HOLD]
    assert centres == COLOURS[:6]  # each frame shows its own picture, in order


def test_gif_defaults_to_the_montage_frames(tmp_path: Path) -> None:
    frames = _solid_frames(tmp_path, [(64, 48), (48, 64), (64, 64)])
    make_montage(frames, tmp_path / "m.png", gif_path=tmp_path / "a.gif")
    with Image.open(tmp_path / "a.gif") as im:
        assert im.n_frames == 3 and im.size == (64, 64 + montage.CAPTION_HEIGHT)


def test_montage_of_real_snapshots(tmp_path: Path, make_snapshot_2d, make_snapshot_1d) -> None:
    frames = []
    for step in (100, 1000, 5000):
        snap = make_snapshot_2d(n_fake=100, n_grid=20, seed=step)
        snap["step"] = step
        plot_snapshot(snap, tmp_path / f"step-{step:06d}.png")
        frames.append((step, tmp_path / f"step-{step:06d}.png"))
    plot_snapshot(make_snapshot_1d(), tmp_path / "one-d.png")  # 600 x 400 among 500 x 500 frames
    frames.append((50000, tmp_path / "one-d.png"))
    make_montage(frames, tmp_path / "m.png", gif_path=tmp_path / "m.gif", columns=2)
    tw, th = montage._tile_size([montage._load(s, p) for s, p in frames])  # white margins trimmed
    assert tw == 500 and th < 417  # the wide 1-D frame sets the width (capped); the height lost its margins
    with Image.open(tmp_path / "m.png") as im:
        assert im.size == (2 * tw + 3 * montage.PAD, 2 * (th + montage.CAPTION_HEIGHT) + 3 * montage.PAD)
    with Image.open(tmp_path / "m.gif") as im:
        assert im.n_frames == 4


def test_errors_are_value_errors_naming_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one"):
        make_montage([], tmp_path / "m.png")
    missing = tmp_path / "nope.png"
    with pytest.raises(ValueError, match="step 300 not found: .*nope.png"):
        make_montage([(300, missing)], tmp_path / "m.png")
    junk = tmp_path / "junk.png"
    junk.write_text("not a png")
    with pytest.raises(ValueError, match="not a readable image"):
        make_montage([(1, junk)], tmp_path / "m.png")
    good = _solid_frames(tmp_path, [(10, 10)])
    with pytest.raises(ValueError, match="gif_frames"):
        make_montage(good, tmp_path / "m.png", gif_path=tmp_path / "a.gif", gif_frames=[])
    with pytest.raises(ValueError, match="columns"):
        make_montage(good, tmp_path / "m.png", columns=0)
    assert not (tmp_path / "m.png").exists()  # nothing half-written by a failed call
