"""``gankit translate``: run an image-to-image generator (pix2pix) on the user's images.

Inputs are an image file, a folder (searched recursively, as image folders are), or a .npy array of
images: (N, C, S, S), (N, S, S) or one (C, S, S) / (S, S) image, uint8 0..255 or floats in [-1, 1].
Images are decoded like the ``folder`` data set (grey or RGB as the translator's inputs, shorter side
resized to the translator's side and centre-cropped). The output is one .npy array (N, C, S, S) of
floats in [-1, 1] (``-o x.npy``), one PNG (``-o x.png``, for a single input image), or a folder of PNGs
(anything else) named after the inputs (a folder's relative paths; ``NAME-00000.png`` for the rows of
an array). Dropout is the translator's noise: ``seed`` picks the masks, so the same seed gives the same
outputs. Bad input is a one-line :class:`~gankit.errors.DataError`; every file is written atomically.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import torch

from gankit.data.images import IMAGE_EXTENSIONS, decode_image, scan_folder
from gankit.errors import ConfigError, DataError, first_line
from gankit.evalmode import eval_mode
from gankit.fileio import atomic_write_bytes

if TYPE_CHECKING:
    from gankit.nets.capabilities import GeneratorNet

__all__ = ["Inputs", "read_inputs", "run_translator", "to_png", "write_outputs"]

BATCH = 256


@dataclass
class Inputs:
    """Images to translate, (N, C, S, S) float32 in [-1, 1], and a relative output name for each (no suffix)."""

    images: torch.Tensor
    names: list[str]


def _array_images(path: Path, channels: int, size: int) -> torch.Tensor:
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"'{path}' is not a readable .npy array ({first_line(exc)})") from None
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[0] == channels and channels == 3):
        arr = arr[None]  # one image
    if arr.ndim == 3:
        arr = arr[:, None]  # (N, S, S): grey
    want = (channels, size, size)
    if arr.ndim != 4 or tuple(arr.shape[1:]) != want or len(arr) == 0:
        raise DataError(f"'{path}' holds an array of shape {arr.shape}; the translator takes images (N, {channels}, "
                        f"{size}, {size})")
    if arr.dtype == np.uint8:
        return torch.from_numpy(arr.astype(np.float32) / 127.5 - 1.0)
    if not np.issubdtype(arr.dtype, np.number) or not np.isfinite(arr).all() or np.abs(arr).max() > 1.0 + 1e-6:
        raise DataError(f"'{path}' must hold uint8 pixels (0..255) or finite numbers in [-1, 1]")
    return torch.from_numpy(np.clip(arr, -1.0, 1.0).astype(np.float32))


def read_inputs(paths: list[str | Path], channels: int, size: int) -> Inputs:
    """Every input image under ``paths`` as the translator sees it.

    Raises:
        DataError: a missing path, a folder without images, an unreadable image, a .npy of the wrong shape.
    """
    if not paths:
        raise DataError("give at least one input: an image, a folder of images or a .npy array")
    images, names = [], []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise DataError(f"input '{path}' does not exist")
        if path.is_dir():
            files = scan_folder(path)[0]
            names += [f.relative_to(path).with_suffix("").as_posix() for f in files]
        elif path.suffix.lower() == ".npy":
            arr = _array_images(path, channels, size)
            images.append(arr)
            names += [f"{path.stem}-{i:05d}" for i in range(len(arr))]
            continue
        elif path.suffix.lower() in IMAGE_EXTENSIONS:
            files = [path]
            names.append(path.stem)
        else:
            raise DataError(f"input '{path}' is not an image ({', '.join(IMAGE_EXTENSIONS)}), a folder or a .npy array")
        decoded = np.empty((len(files), channels, size, size), dtype=np.uint8)
        for i, f in enumerate(files):
            try:
                decoded[i] = decode_image(f, size, channels)
            except (OSError, ValueError, SyntaxError) as exc:
                raise DataError(f"input image '{f}' cannot be read ({first_line(exc)})") from None
        images.append(torch.from_numpy(decoded).float() / 127.5 - 1.0)
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise DataError(f"two inputs would both be written as '{dup}.png'; translate them separately")
    return Inputs(torch.cat(images), names)


@torch.no_grad()
def run_translator(net: torch.nn.Module, images: torch.Tensor, seed: int = 0) -> np.ndarray:
    """G(x) for (N, C, S, S) inputs in [-1, 1] with dropout masks drawn under ``seed``: (N, C_y, S, S)."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    with eval_mode(net):
        noise = cast("GeneratorNet", net).sample_noise
        out = [net(noise(len(x), generator=gen, inputs=x)) for x in images.split(BATCH)]
    return torch.cat(out).numpy()


def to_png(image: np.ndarray) -> bytes:
    """One (C, S, S) image in [-1, 1] as PNG bytes at its own size."""
    from PIL import Image

    pixels = np.round((np.clip(image, -1, 1) + 1) * 127.5).astype(np.uint8)
    if pixels.shape[0] == 1:
        im = Image.fromarray(pixels[0], mode="L")
    else:
        im = Image.fromarray(pixels.transpose(1, 2, 0), mode="RGB")
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def write_outputs(out: str | Path, outputs: np.ndarray, names: list[str]) -> list[Path]:
    """Write translations as one .npy, one .png (one input only) or a folder of PNGs; returns the paths."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix in (".npy", *IMAGE_EXTENSIONS):
        out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".npy":
        buf = io.BytesIO()
        np.save(buf, outputs.astype(np.float32))
        atomic_write_bytes(out, buf.getvalue())
        return [out]
    if suffix in IMAGE_EXTENSIONS:
        if suffix != ".png":
            raise ConfigError(f"output '{out}' must be a .png, a .npy or a folder")
        if len(outputs) != 1:
            raise ConfigError(f"{len(outputs)} inputs cannot go to one image '{out}'; give a folder or a .npy as -o")
        atomic_write_bytes(out, to_png(outputs[0]))
        return [out]
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output '{out}' exists and is not a folder; give a folder, a .png or a .npy as -o")
    paths = []
    for image, name in zip(outputs, names, strict=True):
        path = out / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, to_png(image))
        paths.append(path)
    return paths
