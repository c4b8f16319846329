"""Image sample grids (numpy + Pillow, no torch): what image runs write to samples/step-N.png."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gankit.errors import DataError
from gankit.fileio import atomic_write_bytes


def image_grid(images: np.ndarray, nrow: int = 8, pad: int = 2, min_side: int = 256) -> Image.Image:
    """Tile images (N, C, H, W) with values in [-1, 1] into one picture.

    Args:
        images: (N, C, H, W), C = 1 or 3; values outside [-1, 1] are clipped.
        nrow: images per row.
        pad: white pixels between tiles.
        min_side: small images (8x8 digits) are enlarged by an integer factor, nearest neighbour, so the
            grid is at least this many pixels wide.
    """
    x = np.asarray(images, dtype=np.float32)
    if x.ndim != 4 or x.shape[1] not in (1, 3) or len(x) == 0:
        raise DataError(f"image grid needs (N, C, H, W) with C = 1 or 3 and N > 0, got shape {x.shape}")
    n, c, h, w = x.shape
    pixels = np.round((np.clip(x, -1, 1) + 1) * 127.5).astype(np.uint8).transpose(0, 2, 3, 1)  # (N, H, W, C)
    cols = min(nrow, n)
    rows = math.ceil(n / cols)
    scale = max(1, math.ceil(min_side / (cols * (w + pad))))
    canvas = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, dtype=np.uint8)
    for i in range(n):
        r, q = divmod(i, cols)
        canvas[pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = pixels[i]
    im = Image.fromarray(canvas[..., 0] if c == 1 else canvas, mode="L" if c == 1 else "RGB")
    return im.resize((im.width * scale, im.height * scale), Image.NEAREST) if scale > 1 else im


def show_image(ax: Any, img: np.ndarray, limit: float = 1.0) -> None:
    """Draw one (C, H, W) image with values in [-limit, limit] on a matplotlib axis, no ticks."""
    pix = (np.clip(img, -limit, limit) / limit + 1) / 2
    if pix.shape[0] == 1:
        ax.imshow(pix[0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(pix.transpose(1, 2, 0), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def save_image_grid(images: np.ndarray, path: str | Path, nrow: int = 8) -> None:
    """Write :func:`image_grid` as a PNG, atomically."""
    buf = io.BytesIO()
    image_grid(images, nrow=nrow).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
