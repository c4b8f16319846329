"""Image sample grids (numpy + Pillow, no torch): what image runs write to samples/step-N.png, and class
grids with a labelled row per class (classes.png, ``gankit sample --per-class``)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gankit.errors import DataError
from gankit.fileio import atomic_write_bytes

MIN_TILE = 32  # px: tiles smaller than this (8x8 digits) are enlarged so a sample can be made out
CLASS_TILE = 48  # px: the tiles of a class grid, a figure to read class by class


def grid_shape(n: int, max_ratio: float = 2.0) -> tuple[int, int]:
    """(rows, cols) for ``n`` tiles: the fewest empty cells among the shapes no taller than wide and at
    most ``max_ratio`` times wider than tall, then the squarest (8 -> 2 x 4, 9 -> 3 x 3, 5 -> 2 x 3)."""
    if n < 1:
        raise DataError(f"a grid needs at least one tile, got {n}")
    shapes = [(math.ceil(n / c), c) for c in range(1, n + 1)]
    fits = [(r, c) for r, c in shapes if r <= c <= max_ratio * r] or [(1, n)]
    return min(fits, key=lambda rc: (rc[0] * rc[1] - n, rc[1] - rc[0]))


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's default font at ``size`` px (the bitmap default on Pillow builds without FreeType)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # Pillow < 10.1 or no FreeType
        return ImageFont.load_default()


def _tiles(images: np.ndarray) -> np.ndarray:
    """(N, H, W, C) uint8 of (N, C, H, W) values in [-1, 1] (clipped), or a DataError for another shape."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim != 4 or x.shape[1] not in (1, 3) or len(x) == 0:
        raise DataError(f"image grid needs (N, C, H, W) with C = 1 or 3 and N > 0, got shape {x.shape}")
    return np.round((np.clip(x, -1, 1) + 1) * 127.5).astype(np.uint8).transpose(0, 2, 3, 1)


def image_grid(images: np.ndarray, nrow: int | None = 8, pad: int = 2, min_side: int = 256,
               min_tile: int = MIN_TILE) -> Image.Image:
    """Tile images (N, C, H, W) with values in [-1, 1] into one picture.

    Args:
        images: (N, C, H, W), C = 1 or 3; values outside [-1, 1] are clipped.
        nrow: images per row; None: :func:`grid_shape`'s (about square, few empty cells).
        pad: white pixels between tiles.
        min_side: small images (8x8 digits) are enlarged by an integer factor, nearest neighbour, so the
            grid is at least this many pixels wide ...
        min_tile: ... and each tile at least this many pixels on its longer side.
    """
    pixels = _tiles(images)
    n, h, w, c = pixels.shape
    cols = min(nrow, n) if nrow else grid_shape(n)[1]
    rows = math.ceil(n / cols)
    scale = max(1, math.ceil(min_side / (cols * (w + pad))), math.ceil(min_tile / max(h, w)))
    canvas = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, dtype=np.uint8)
    for i in range(n):
        r, q = divmod(i, cols)
        canvas[pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = pixels[i]
    im = Image.fromarray(canvas[..., 0] if c == 1 else canvas, mode="L" if c == 1 else "RGB")
    return im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST) if scale > 1 else im


def class_labels(k: int, names: Sequence[str] = ()) -> list[str]:
    """Row labels of a class grid: the class index (what ``--label`` takes), and its name when the data
    set has one that says more ("3 dress"; digits' names are their indices)."""
    return [f"{i} {names[i]}" if i < len(names) and str(names[i]) != str(i) else str(i) for i in range(k)]


def class_grid(images: np.ndarray, names: Sequence[str] = (), pad: int = 2, min_tile: int = CLASS_TILE) -> Image.Image:
    """One row per class, labelled on the left (:func:`class_labels`), tiles of at least ``min_tile`` px.

    Args:
        images: (K, n, C, H, W): n samples of each of K classes, values in [-1, 1].
        names: the data set's class names (may be empty).
        pad: white pixels between tiles (before enlarging).
        min_tile: the enlarged tiles' longer side, at least.
    """
    x = np.asarray(images)
    if x.ndim != 5:
        raise DataError(f"a class grid needs (K, n, C, H, W) images, got shape {x.shape}")
    k, per, h = x.shape[0], x.shape[1], x.shape[3]
    grid = image_grid(x.reshape(k * per, *x.shape[2:]), nrow=per, pad=pad, min_side=0, min_tile=min_tile)
    scale = grid.height // (k * (h + pad) + pad)
    labels = class_labels(k, names)
    face = font(max(11, min(20, (h * scale) // 3)))
    draw = ImageDraw.Draw(grid)
    boxes = [draw.textbbox((0, 0), t, font=face) for t in labels]  # (left, top, right, bottom)
    margin = max(b[2] for b in boxes) + 2 * pad * scale
    white, black = (255, 0) if grid.mode == "L" else ((255, 255, 255), (0, 0, 0))
    out = Image.new(grid.mode, (grid.width + margin, grid.height), white)
    out.paste(grid, (margin, 0))
    draw = ImageDraw.Draw(out)
    for r, (text, (_left, top, right, bottom)) in enumerate(zip(labels, boxes, strict=True)):
        centre = (pad + r * (h + pad) + h / 2) * scale  # right-aligned beside the row, centred on it
        draw.text((margin - pad * scale - right, round(centre - (top + bottom) / 2)), text, fill=black, font=face)
    return out


def show_image(ax: Any, img: np.ndarray, limit: float = 1.0) -> None:
    """Draw one (C, H, W) image with values in [-limit, limit] on a matplotlib axis, no ticks."""
    pix = (np.clip(img, -limit, limit) / limit + 1) / 2
    if pix.shape[0] == 1:
        ax.imshow(pix[0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(pix.transpose(1, 2, 0), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _save(im: Image.Image, path: str | Path) -> None:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def save_image_grid(images: np.ndarray, path: str | Path, nrow: int | None = 8) -> None:
    """Write :func:`image_grid` as a PNG, atomically."""
    _save(image_grid(images, nrow=nrow), path)


def save_class_grid(images: np.ndarray, path: str | Path, names: Sequence[str] = ()) -> None:
    """Write :func:`class_grid` as a PNG, atomically."""
    _save(class_grid(images, names), path)
