"""Samples from outside gankit: arrays and image folders read as gankit's metrics read data.

``gankit eval --fake PATH [--real PATH]`` and ``gankit.api.evaluate_samples`` score samples that no gankit
run made: another GAN's output, a folder of PNGs. This module turns them into what the metrics take:

- **images**: float32 (N, C, H, W) in [-1, 1], from an ``.npy``/``.npz`` array of shape (N, C, H, W),
  (N, H, W, C) or (N, H, W) (C = 1 or 3), or from a folder of PNG/JPEG files (searched recursively:
  a folder's files sorted by name, then its sub-folders in name order; hidden files skipped; unreadable
  ones skipped with one warning). Folder images keep
  their own size unless ``size`` asks for a resize (shorter side to ``size``, centre crop, bicubic), and
  then must all have one size;
- **points**: an (N, D) array, used as it is (the point metrics: Wasserstein, set distances, ...).

**Value range** (:data:`RANGES`): uint8 is 0..255. Floats are read as [-1, 1] when some value is
negative, [0, 1] when all lie in [0, 1], 0..255 when the largest lies in (2, 255]; values up to 2
fit none of these and are refused, as is anything outside the range given explicitly (``value_range``,
``--range``). The mapping to [-1, 1] is x' = 2 (x − lo) / (hi − lo) − 1. Reading [0, 1] pixels as if
they were in [-1, 1] is the silent error this guards against: every metric would be wrong and none
would say so.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.errors import DataError

__all__ = ["RANGES", "OutsideSet", "Samples", "as_samples", "load_samples"]

logger = logging.getLogger("gankit")

RANGES = {"-1,1": (-1.0, 1.0), "0,1": (0.0, 1.0), "0,255": (0.0, 255.0)}
"""The value ranges a user may name (``--range``) and their (lo, hi)."""
TOLERANCE = 1e-3  # relative to the range's span: rounding of saved floats
ARRAY_SUFFIXES = (".npy", ".npz")


@dataclass
class Samples:
    """Samples ready for the metrics.

    Attributes:
        x: images (N, C, H, W) float32 in [-1, 1], or points (N, D) float64.
        kind: "image" or "points".
        source: where they came from, for the output ("folder 'out/' (10000 PNG/JPEG files)").
        value_range: how the values were read ("0,255", "0,1", "-1,1"; "" for points).
        detected: whether the range was detected (False: given).
    """

    x: np.ndarray
    kind: str
    source: str
    value_range: str = ""
    detected: bool = True

    @property
    def shape(self) -> tuple[int, ...]:
        """One sample's shape: (C, H, W) or (D,)."""
        return tuple(self.x.shape[1:])

    def describe(self) -> str:
        what = "x".join(str(s) for s in self.shape)
        if self.kind == "points":
            return f"{self.source}: {len(self.x)} points in {what}-D"
        lo, hi = RANGES[self.value_range]
        how = "detected" if self.detected else "given"
        return f"{self.source}: {len(self.x)} images {what}, values in [{lo:g}, {hi:g}] ({how}; --range to change)"


class OutsideSet:
    """A stand-in data set for samples scored against an outside reference (``--real PATH``): what the
    metrics read (``name``, ``kind``, ``shape``, ``dim``; no modes or density). ``range_checked``: the
    values were mapped to [-1, 1] here. Its default feature extractor is the random embedding."""

    modes = None
    mode_std = None
    has_density = False
    range_checked = True
    num_classes = 0

    def __init__(self, kind: str, shape: tuple[int, ...], name: str = "outside") -> None:
        self.name = name
        self.kind = kind
        self.shape = tuple(shape)
        self.dim = int(math.prod(self.shape))


def _check_range(value_range: str | None) -> str | None:
    if value_range is None or value_range == "":
        return None
    key = str(value_range).replace(" ", "").replace("..", ",").replace("[", "").replace("]", "")
    if key not in RANGES:
        raise DataError(f"unknown value range '{value_range}'; choose one of: {', '.join(RANGES)}")
    return key


def _detect_range(x: np.ndarray, what: str) -> str:
    if x.dtype == np.uint8:
        return "0,255"
    lo, hi = float(x.min()), float(x.max())
    if np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_:
        if lo >= 0 and hi <= 255:
            return "0,255"
        raise DataError(f"{what}: integer values from {lo:g} to {hi:g} are not pixels 0..255")
    tol = TOLERANCE
    if lo >= -tol and hi <= 1 + tol:
        return "0,1"
    if lo >= -1 - 2 * tol and hi <= 1 + 2 * tol:
        return "-1,1"
    if lo >= -255 * tol and 2 < hi <= 255 * (1 + tol):
        return "0,255"
    raise DataError(f"{what}: values from {lo:.4g} to {hi:.4g} fit none of the ranges [-1, 1], [0, 1], 0..255; "
                    "rescale them, or say which range they are in with --range (value_range=) "
                    f"{'|'.join(RANGES)}")


def _to_unit(x: np.ndarray, value_range: str | None, what: str) -> tuple[np.ndarray, str, bool]:
    """Images in any range -> float32 in [-1, 1]; (images, range read, detected?)."""
    if x.size and not np.isfinite(x).all():
        raise DataError(f"{what} contain NaN or infinite values")
    given = _check_range(value_range)
    key = given or _detect_range(x, what)
    lo, hi = RANGES[key]
    if given is not None:
        vmin, vmax = float(x.min()), float(x.max())
        slack = TOLERANCE * (hi - lo) * 2
        if vmin < lo - slack or vmax > hi + slack:
            raise DataError(f"{what}: values from {vmin:.4g} to {vmax:.4g} lie outside the given range "
                            f"[{lo:g}, {hi:g}]; give the right --range or leave it out to detect it")
    if key == "-1,1":  # as they are: a generator's own output scores exactly as it would inside gankit
        out = x.astype(np.float32)
    else:
        out = (x.astype(np.float32) - np.float32(lo)) * np.float32(2.0 / (hi - lo)) - np.float32(1.0)
    return np.clip(out, -1.0, 1.0), key, given is None


def _layout(x: np.ndarray, what: str) -> tuple[np.ndarray, str]:
    """(N, D) points, or images as (N, C, H, W) from (N, C, H, W), (N, H, W, C) or (N, H, W)."""
    if x.ndim == 2:
        return x, "points"
    if x.ndim == 3:
        return x[:, None], "image"
    if x.ndim == 4:
        first, last = x.shape[1] in (1, 3), x.shape[3] in (1, 3)
        if first and not last:
            return x, "image"
        if last and not first:
            return np.ascontiguousarray(x.transpose(0, 3, 1, 2)), "image"
        if first and last:
            raise DataError(f"{what}: shape {x.shape} could be (N, C, H, W) or (N, H, W, C); save them as "
                            "(N, C, H, W) with H, W > 3")
    raise DataError(f"{what} must be points (N, D) or images (N, C, H, W), (N, H, W, C), (N, H, W) with 1 or 3 "
                    f"channels; got shape {x.shape}")


def _resize(x: np.ndarray, size: int) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> (N, C, size, size): shorter side to ``size`` (bicubic, antialiased), centre crop."""
    t = torch.from_numpy(x)
    h, w = t.shape[-2:]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    t = torch.nn.functional.interpolate(t, size=(nh, nw), mode="bicubic", align_corners=False, antialias=True)
    top, left = (nh - size) // 2, (nw - size) // 2
    return t[..., top:top + size, left:left + size].clamp(-1, 1).contiguous().numpy()


def _channels(x: np.ndarray, channels: int | None, what: str) -> np.ndarray:
    if channels is None or x.shape[1] == channels:
        return x
    if channels == 3 and x.shape[1] == 1:
        return np.repeat(x, 3, axis=1)
    if channels == 1 and x.shape[1] == 3:  # ITU-R 601 luma, as Pillow's convert("L")
        return (x * np.array([0.299, 0.587, 0.114], np.float32)[None, :, None, None]).sum(1, keepdims=True)
    raise DataError(f"{what} have {x.shape[1]} channels; the reference needs {channels}")


def as_samples(array: Any, value_range: str | None = None, size: int | None = None, channels: int | None = None,
               what: str = "samples", source: str = "array") -> Samples:
    """An array or tensor of points or images as :class:`Samples` (layout and range as the module says).

    Args:
        array: (N, D) points; images (N, C, H, W), (N, H, W, C) or (N, H, W).
        value_range: "-1,1", "0,1" or "0,255" (None: detect).
        size: resize images to ``size`` x ``size`` (None: keep).
        channels: convert images to 1 or 3 channels (None: keep).

    Raises:
        DataError: an unreadable layout, a range that cannot be told or does not fit, no rows.
    """
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    try:
        x = np.asarray(array)
    except (TypeError, ValueError):
        raise DataError(f"{what} must be an array of numbers") from None
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise DataError(f"{what} must be an array of numbers, got dtype {x.dtype}")
    if x.ndim < 2 or x.shape[0] == 0:
        raise DataError(f"{what} must hold at least one sample: shape (N, ...), got {x.shape}")
    x, kind = _layout(x, what)
    if kind == "points":
        if value_range or size:
            raise DataError(f"{what} are points (N, D): --range and --size apply to images only")
        x = x.astype(np.float64)
        if not np.isfinite(x).all():
            raise DataError(f"{what} contain NaN or infinite values")
        return Samples(x, "points", source)
    x, key, detected = _to_unit(x, value_range, what)
    x = _channels(x, channels, what)
    if size:
        x = _resize(x, int(size))
    return Samples(np.ascontiguousarray(x, dtype=np.float32), "image", source, key, detected)


def _load_array(path: Path, what: str) -> np.ndarray:
    key = None
    if not path.exists() and ":" in path.name:  # PATH.npz:KEY
        name, _, key = path.name.rpartition(":")
        path = path.with_name(name)
    if not path.is_file():
        raise DataError(f"{what} file '{path}' does not exist")
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, allow_pickle=False)
        with np.load(path, allow_pickle=False) as z:
            names = list(z.keys())
            if key is None and len(names) == 1:
                key = names[0]
            if key not in names:
                raise DataError(f"{what} file '{path}' holds the arrays {', '.join(names) or 'none'}; name one as "
                                f"'{path}:NAME'")
            return z[key]
    except DataError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{what} file '{path}' is not a readable numpy array ({str(exc).splitlines()[0]})") from None


def _load_folder(root: Path, size: int | None, channels: int | None, workers: int, what: str) -> tuple[np.ndarray, int]:
    """uint8 (N, C, H, W) of every readable image under ``root`` (sorted), and the number of files found."""
    from gankit.data.images import FolderFiles, _loader, _warn_unreadable, check_headers, open_image, scan_folder

    files, labels, _ = scan_folder(root)
    total = len(files)
    files, _, unreadable = check_headers(files, labels, root=root)
    if channels is None:  # the first image decides: grey stays grey
        with open_image(files[0]) as im:
            channels = 1 if im.mode in ("1", "L", "I", "I;16", "F") else 3
    ds = FolderFiles(files, size, channels)
    arrays: list[np.ndarray | None] = [None] * len(files)
    for batch in _loader(ds, workers if len(files) >= 1000 else 0, 256):
        for i, arr in batch:
            arrays[i] = arr
    bad = unreadable + [f for f, a in zip(files, arrays) if a is None]
    _warn_unreadable(bad, total, root)
    kept = [(f, a) for f, a in zip(files, arrays) if a is not None]
    if not kept:
        raise DataError(f"none of the {total} image files in '{root}' could be read")
    first_file, first = kept[0]
    for f, a in kept:
        if a.shape != first.shape:
            raise DataError(f"{what}: images differ in size ('{first_file.name}' is {first.shape[2]}x{first.shape[1]}, "
                            f"'{f.name}' is {a.shape[2]}x{a.shape[1]}); resize them with --size S")
    return np.stack([a for _, a in kept]), total


def load_samples(path: str | Path, value_range: str | None = None, size: int | None = None,
                 channels: int | None = None, workers: int = 2, what: str = "samples") -> Samples:
    """Read samples from an ``.npy``/``.npz`` file (``FILE.npz:NAME`` picks one array) or an image folder.

    Args:
        path: the file or folder.
        value_range: arrays: "-1,1", "0,1" or "0,255" (None: detect); image files are always 0..255.
        size: resize images to ``size`` x ``size`` (None: keep their size, which must then be one size).
        channels: 1 or 3 (None: keep; a folder takes the first image's: grey or RGB).
        workers: decoding processes for folders of 1,000 images or more.

    Raises:
        DataError: a missing path, an unreadable file, images of several sizes, a range that does not fit.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        pixels, total = _load_folder(p, size, channels, workers, what)
        if value_range and _check_range(value_range) != "0,255":
            raise DataError(f"{what}: image files hold pixels 0..255; --range {value_range} does not apply to them")
        s = as_samples(pixels, "0,255", None, None, what, f"folder '{p}' ({total} PNG/JPEG files)")
        s.detected = True
        return s
    if p.suffix.lower() in ARRAY_SUFFIXES or p.name.rpartition(":")[0].lower().endswith(".npz"):
        return as_samples(_load_array(p, what), value_range, size, channels, what, f"array '{p}'")
    if not p.exists():
        raise DataError(f"{what} '{p}' does not exist (give a run folder, an .npy/.npz file or a folder of images)")
    raise DataError(f"{what} '{p}' is neither a folder of images nor an .npy/.npz file")
