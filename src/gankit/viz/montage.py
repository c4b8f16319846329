"""Montages and animations of training frames.

The lecture shows a GAN learning a 2-D mixture as a row of frames at steps 100, 1000, 2000, 5000,
10000, 20000 and 50000. :func:`pick_steps` chooses such frames from the steps a run actually saved,
:func:`make_montage` tiles them into one captioned PNG and, optionally, an animated GIF.

Pillow only (no matplotlib, no torch).
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops, ImageDraw, ImageFont, UnidentifiedImageError

from gankit.errors import DataError
from gankit.fileio import atomic_write_bytes
from gankit.viz.images import font, grid_shape

__all__ = ["LECTURE_STEPS", "pick_steps", "make_montage"]

logger = logging.getLogger(__name__)

LECTURE_STEPS: tuple[int, ...] = (100, 1000, 2000, 5000, 10000, 20000, 50000)
MIN_FRAMES = 4
MAX_TILE = 500  # px, the larger side of a tile; 2-D snapshots are 500 x 500 and stay unscaled
CAPTION_HEIGHT = 22  # px
PAD = 6  # px between tiles
LAST_FRAME_HOLD = 4  # the GIF's last frame shows this many times longer
TRIM_KEEP = 8  # px of a frame's white margin kept (the rest is trimmed: no large empty margins)
MAX_RATIO = 3  # the automatic layout is at most this many times wider than tall (in tiles)


# ------------------------------------------------------------------------------------------- steps
def pick_steps(
    steps: Sequence[int],
    targets: Sequence[int] = LECTURE_STEPS,
    max_frames: int = 8,
    min_frames: int = MIN_FRAMES,
) -> list[int]:
    """Choose the steps to show: the ones nearest the lecture's, the last one, and fill for short runs.

    1. For each target, the available step nearest to it (ties: the earlier step); a step already
       chosen is not chosen twice.
    2. The last available step, always.
    3. While fewer than ``min_frames`` are chosen (a short run, where many targets fall on the last
       step), add the available step farthest (in position) from those chosen, so the fill is evenly
       spread.
    4. More than ``max_frames``: keep the first and the last and evenly spaced ones in between.

    Args:
        steps: the steps that have a frame (any order, duplicates allowed).
        targets: the steps one would like to show.
        max_frames: at most this many steps are returned (>= 1).
        min_frames: fill up to this many when the run has that many steps.

    Returns:
        Sorted distinct steps, a subset of ``steps``; empty when ``steps`` is.

    Raises:
        ValueError: ``max_frames`` < 1.
    """
    if max_frames < 1:
        raise ValueError(f"max_frames must be at least 1; got {max_frames}.")
    avail = sorted({int(s) for s in steps})
    if not avail:
        return []
    chosen: set[int] = set()
    for target in targets:
        best = min(avail, key=lambda s: (abs(s - target), s))
        chosen.add(best)
    chosen.add(avail[-1])

    want = min(min_frames, max_frames, len(avail))
    if len(chosen) < want:
        index = {s: i for i, s in enumerate(avail)}
        picked = [index[s] for s in chosen]
        while len(picked) < want:
            # Farthest-point fill in index space: evenly spaced, deterministic.
            best_i = max((i for i in range(len(avail)) if i not in picked),
                         key=lambda i: (min(abs(i - j) for j in picked), -i))
            picked.append(best_i)
        chosen = {avail[i] for i in picked}

    out = sorted(chosen)
    if len(out) > max_frames:
        if max_frames == 1:
            return [out[-1]]
        keep = sorted({round(k * (len(out) - 1) / (max_frames - 1)) for k in range(max_frames)})
        out = [out[k] for k in keep]
    return out


# ------------------------------------------------------------------------------------------ images
def _trim(im: Image.Image) -> Image.Image:
    """The frame without its white border (a figure's margins), ``TRIM_KEEP`` px of it kept."""
    box = ImageChops.difference(im, Image.new("RGB", im.size, "white")).getbbox()
    if box is None:  # all white: nothing to trim to
        return im
    left, top, right, bottom = box
    return im.crop((max(0, left - TRIM_KEEP), max(0, top - TRIM_KEEP),
                    min(im.width, right + TRIM_KEEP), min(im.height, bottom + TRIM_KEEP)))


def _load(step: int, path: str | Path) -> Image.Image:
    """Open a frame as RGB, compositing transparency over white, its white margins trimmed."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"frame for step {step} not found: {p} (was it written?).")
    try:
        with Image.open(p) as im:
            im.load()
            if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                bg = Image.new("RGB", rgba.size, "white")
                bg.paste(rgba, mask=rgba.getchannel("A"))
                return _trim(bg)
            return _trim(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"frame for step {step} is not a readable image: {p} ({exc}).") from None


def _tile_size(images: Sequence[Image.Image]) -> tuple[int, int]:
    """One size for every tile: the largest frame's box, scaled so its larger side is <= MAX_TILE."""
    w = max(im.width for im in images)
    h = max(im.height for im in images)
    scale = min(1.0, MAX_TILE / max(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def _captioned(im: Image.Image, step: int, size: tuple[int, int],
               face: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> Image.Image:
    """The frame fitted (aspect kept, centred on white) into ``size`` under a "step N" caption."""
    w, h = size
    tile = Image.new("RGB", (w, h + CAPTION_HEIGHT), "white")
    scale = min(w / im.width, h / im.height)
    fitted = im if scale == 1.0 else im.resize(
        (max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.LANCZOS)
    tile.paste(fitted, ((w - fitted.width) // 2, CAPTION_HEIGHT + (h - fitted.height) // 2))
    draw = ImageDraw.Draw(tile)
    text = f"step {step}"
    left, top, right, bottom = draw.textbbox((0, 0), text, font=face)
    draw.text(((w - (right - left)) // 2 - left, (CAPTION_HEIGHT - (bottom - top)) // 2 - top),
              text, fill="black", font=face)
    return tile


def _atomic_save(im: Image.Image, path: Path, **kwargs: Any) -> None:
    """Save through a temporary file in the same folder, then rename (no half-written output)."""
    buf = io.BytesIO()
    im.save(buf, **kwargs)
    atomic_write_bytes(path, buf.getvalue())


def make_montage(
    frames: list[tuple[int, str | Path]],
    png_path: str | Path,
    gif_path: str | Path | None = None,
    columns: int | None = None,
    gif_frames: list[tuple[int, Path]] | None = None,
    duration_ms: int = 400,
) -> None:
    """Tile captioned frames into one PNG and, optionally, animate them into a looping GIF.

    Every frame, its white margins trimmed, is fitted (aspect kept) into a common tile, the largest frame's size
    capped at 500 px, under a "step N" caption in Pillow's default font. Tiles go in the given order, ``PAD`` px of
    white between them, on the rows and columns of :func:`gankit.viz.images.grid_shape` (the fewest empty cells,
    at most 3 times wider than tall: 5 frames are 3 + 2, not 4 + 1) unless ``columns`` is given; a
    shorter last row is centred, so the empty space is split evenly rather than left as one margin.

    Args:
        frames: (step, PNG path) pairs for the montage, in display order.
        png_path: the montage PNG to write (atomically; parent directories are created).
        gif_path: if given, an animated GIF to write (loops forever).
        columns: tiles per row (>= 1); None: chosen from the number of frames.
        gif_frames: (step, PNG path) pairs for the GIF; default ``frames`` (e.g. pass every saved
            snapshot here and a handful of :func:`pick_steps` in ``frames``).
        duration_ms: display time of each GIF frame; the last is held ``LAST_FRAME_HOLD`` times longer.

    Raises:
        DataError: (a ValueError) an empty frame list, a missing or unreadable frame file, or a
            non-positive ``columns`` / ``duration_ms``.
    """
    if not frames:
        raise DataError("make_montage needs at least one (step, path) frame; got none.")
    if columns is not None and columns < 1:
        raise DataError(f"columns must be at least 1; got {columns}.")
    if duration_ms < 1:
        raise DataError(f"duration_ms must be positive; got {duration_ms}.")
    if gif_frames is not None and not gif_frames:
        raise DataError("gif_frames is empty; pass None to animate the montage frames.")

    face = font(15)
    images = [_load(step, path) for step, path in frames]
    size = _tile_size(images)
    tiles = [_captioned(im, step, size, face) for (step, _), im in zip(frames, images, strict=True)]

    cols = min(columns, len(tiles)) if columns else grid_shape(len(tiles), max_ratio=MAX_RATIO)[1]
    rows = math.ceil(len(tiles) / cols)
    tw, th = tiles[0].size
    sheet = Image.new("RGB", (cols * tw + (cols + 1) * PAD, rows * th + (rows + 1) * PAD), "white")
    for k, tile in enumerate(tiles):
        r, c = divmod(k, cols)
        in_row = min(cols, len(tiles) - r * cols)
        indent = (cols - in_row) * (tw + PAD) // 2  # a shorter last row, centred
        sheet.paste(tile, (PAD + indent + c * (tw + PAD), PAD + r * (th + PAD)))
    _atomic_save(sheet, Path(png_path), format="PNG")
    logger.debug("wrote montage of %d frames to %s", len(tiles), png_path)

    if gif_path is None:
        return
    if gif_frames is None:
        gif_tiles = tiles
    else:
        gif_images = [_load(step, path) for step, path in gif_frames]
        gif_size = _tile_size(gif_images)
        gif_tiles = [_captioned(im, step, gif_size, face)
                     for (step, _), im in zip(gif_frames, gif_images, strict=True)]
    durations = [duration_ms] * len(gif_tiles)
    durations[-1] = duration_ms * LAST_FRAME_HOLD
    # One adaptive palette per frame; the captions differ, so Pillow keeps every frame.
    palette_frames = [t.quantize(colors=255, method=Image.Quantize.MEDIANCUT) for t in gif_tiles]
    _atomic_save(palette_frames[0], Path(gif_path), format="GIF", save_all=True,
                 append_images=palette_frames[1:], duration=durations, loop=0, disposal=1)
    logger.debug("wrote %d-frame animation to %s", len(gif_tiles), gif_path)
