"""Folders of your own images: scanning, decoding with a pixel limit, in memory or streamed from disk."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gankit.data.images.datasets import ImageDataset, TensorImages, _option, _size_and_channels
from gankit.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
DEFAULT_MEMORY_MB = 1024  # folders decoded into memory up to this many MiB of uint8 pixels
MAX_PIXELS = 64_000_000  # data.max_pixels: a folder's images with more pixels (width x height) are skipped
logger = logging.getLogger("gankit.data.images")


# ------------------------------------------------------------------------------------------ folders


def scan_folder(path: str | Path, labels: bool = False) -> tuple[list[Path], list[int], tuple[str, ...]]:
    """Image files under ``path`` (recursive, sorted; hidden files and folders skipped).

    Args:
        path: the folder.
        labels: the top-level sub-folder of each image is its class (sorted names -> 0..K-1).

    Returns:
        (files, label per file (all 0 without ``labels``), class names (empty without ``labels``)).

    Raises:
        DataError: a missing or unreadable path, a file, a folder without images, or (with labels)
            images lying directly in ``path``.
    """
    if not str(path):
        raise DataError("the 'folder' data set needs a directory: set data.path=DIR (a folder of PNG/JPEG images)")
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"image folder '{root}' does not exist")
    if not root.is_dir():
        raise DataError(f"'{root}' is a file, not a folder; set data.path to the folder that holds the images")
    if not os.access(root, os.R_OK | os.X_OK):
        raise DataError(f"image folder '{root}' cannot be read (permission denied)")
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS):
                files.append(Path(dirpath) / f)
    if not files:
        raise DataError(f"image folder '{root}' holds no {'/'.join(e[1:].upper() for e in IMAGE_EXTENSIONS)} "
                        "images (sub-folders were searched too)")
    if not labels:
        return files, [0] * len(files), ()
    tops = [f.relative_to(root).parts for f in files]
    loose = [f for f, parts in zip(files, tops) if len(parts) == 1]
    if loose:
        raise DataError(f"data.labels=true needs every image inside a class sub-folder of '{root}', but "
                        f"{len(loose)} lie directly in it (e.g. '{loose[0].name}')")
    names = tuple(sorted({parts[0] for parts in tops}))
    index = {n: i for i, n in enumerate(names)}
    return files, [index[parts[0]] for parts in tops], names


class ImageTooLarge(ValueError):
    """An image with more pixels than ``data.max_pixels``."""


@contextmanager
def open_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> Iterator[Any]:
    """``PIL.Image.open`` (lazy: only the header is read) that refuses an image of more than ``max_pixels``
    pixels before anything is decoded; Pillow's decompression-bomb warning is silenced and its error is
    the same refusal.

    Raises:
        ImageTooLarge: (a ValueError) too many pixels.
        OSError, ValueError, SyntaxError: (Pillow's errors) not a readable image.
    """
    from PIL import Image

    limit = (f"more than data.max_pixels={max_pixels:,} pixels; raise data.max_pixels to use it, or shrink "
             "the file")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(path)
        except Image.DecompressionBombError:
            raise ImageTooLarge(f"image '{path}' has {limit} (also Pillow's decompression-bomb limit)") from None
    with im:
        w, h = im.size
        if w * h > max_pixels:
            raise ImageTooLarge(f"image '{path}' is {w} x {h}: {limit}")
        yield im


def decode_image(path: str | Path, size: int | None, channels: int, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode one image: EXIF-rotated, grey ("L") or RGB, shorter side resized to ``size`` and
    centre-cropped to ``size`` x ``size`` (bicubic; ``size=None``: the image's own size, no resampling).
    Returns uint8 (channels, size, size), or (channels, H, W) with ``size=None``.

    Raises:
        ImageTooLarge: more than ``max_pixels`` pixels (nothing is decoded).
        OSError, ValueError, SyntaxError (Pillow's errors) when the file is not a readable image.
    """
    from PIL import ImageOps

    with open_image(path, max_pixels) as im:
        return fit_image(ImageOps.exif_transpose(im), size, channels)


def fit_image(im: Any, size: int | None, channels: int) -> np.ndarray:
    """A Pillow image as :func:`decode_image` returns it: uint8 (channels, size, size), transparency on white
    (``size`` None: the image's own size)."""
    from PIL import Image, ImageOps

    if im.mode in ("RGBA", "LA", "P") and channels == 3:
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))  # transparent -> white
        im = Image.alpha_composite(background, im)
    im = im.convert("L" if channels == 1 else "RGB")
    if size is not None:
        im = ImageOps.fit(im, (size, size), method=Image.Resampling.BICUBIC, centering=(0.5, 0.5))
    arr = np.array(im, dtype=np.uint8)  # a writable copy
    return arr[None] if channels == 1 else np.ascontiguousarray(arr.transpose(2, 0, 1))


class FolderFiles(torch.utils.data.Dataset):
    """A torch Dataset over image files: item i is (i, uint8 (C, S, S) array, or None when unreadable)."""

    def __init__(self, files: list[Path], size: int | None, channels: int, max_pixels: int = MAX_PIXELS) -> None:
        self.files = files
        self.size = size
        self.channels = channels
        self.max_pixels = max_pixels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[int, np.ndarray | None]:
        try:
            return i, decode_image(self.files[i], self.size, self.channels, self.max_pixels)
        except Exception:  # Pillow raises OSError, ValueError, SyntaxError, DecompressionBombError...
            return i, None


def _keep(batch: list[Any]) -> list[Any]:
    """Collate that keeps the list (unreadable images are sorted out by the caller)."""
    return batch


class _RandomIndices(torch.utils.data.Sampler):
    """Endless uniform random indices from a torch.Generator (with replacement, like the in-memory sets)."""

    def __init__(self, n: int, seed: int, block: int = 4096) -> None:
        self.n, self.block = n, block
        self.gen = torch.Generator().manual_seed(seed)

    def __iter__(self) -> Iterator[int]:
        while True:
            yield from torch.randint(self.n, (self.block,), generator=self.gen).tolist()


def _loader(dataset: torch.utils.data.Dataset, workers: int, batch_size: int,
            sampler: Any = None) -> torch.utils.data.DataLoader:
    kwargs: dict[str, Any] = {}
    if workers > 0:
        kwargs.update(num_workers=workers, prefetch_factor=4)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=sampler, shuffle=False,
                                       collate_fn=_keep, **kwargs)


def _warn_unreadable(bad: list[Path], total: int, root: str | Path) -> None:
    if bad:
        logger.warning("skipped %d unreadable image file(s) of %d in '%s' (e.g. '%s')",
                       len(bad), total, root, bad[0])


def check_headers(files: list[Path], labels: list[int], max_pixels: int = MAX_PIXELS, root: str | Path = ""
                  ) -> tuple[list[Path], list[int], list[Path]]:
    """Sort files by their header alone (cheap): (readable files of at most ``max_pixels`` pixels, their
    labels, unreadable files). Larger images are left out with one warning that names one of them."""
    good, good_labels, bad, large = [], [], [], []
    for f, y in zip(files, labels):
        try:
            with open_image(f, max_pixels):
                pass
        except ImageTooLarge as exc:
            large.append(str(exc))
            continue
        except Exception:  # Pillow raises OSError, ValueError, SyntaxError...
            bad.append(f)
            continue
        good.append(f)
        good_labels.append(y)
    if large:
        logger.warning("skipped %d image file(s) of %d in '%s' that are too large: %s", len(large), len(files), root,
                       large[0])
    if not good and not bad:
        raise DataError(f"all {len(files)} image files in '{root}' are too large: {large[0]}")
    return good, good_labels, bad


def load_folder_into_memory(files: list[Path], labels: list[int], size: int, channels: int, workers: int = 0,
                            root: str | Path = "", max_pixels: int = MAX_PIXELS) -> tuple[Tensor, Tensor]:
    """Decode every file once: uint8 (N, C, S, S) and int64 labels (N,), unreadable files and those of
    more than ``max_pixels`` pixels skipped (counted in one warning). Uses DataLoader workers for large
    folders."""
    total = len(files)
    files, labels, unreadable = check_headers(files, labels, max_pixels, root)
    ds = FolderFiles(files, size, channels, max_pixels)
    use_workers = workers if len(files) >= 1000 else 0
    pixels = torch.empty((len(files), channels, size, size), dtype=torch.uint8)
    ok = torch.zeros(len(files), dtype=torch.bool)
    for batch in _loader(ds, use_workers, 256):
        for i, arr in batch:
            if arr is not None:
                pixels[i] = torch.from_numpy(arr)
                ok[i] = True
    bad = unreadable + [files[i] for i in torch.nonzero(~ok).flatten().tolist()]
    _warn_unreadable(bad, total, root)
    if not bool(ok.any()):
        raise DataError(f"none of the {total} image files in '{root}' could be read")
    return pixels[ok], torch.as_tensor(labels, dtype=torch.int64)[ok]


class FolderStream(ImageDataset):
    """A folder too large for memory: random images decoded on the fly by DataLoader workers.

    The files' headers are checked once when the data set is built (unreadable ones and those over
    ``max_pixels`` are dropped and counted in one warning each); an image that still fails to decode later is
    replaced by another random one, and a DataError is raised once every file has failed since the last good
    decode (no endless wait).
    """

    streamed = True  # sample() consumes the training stream: observers (diagnostics) must not call it

    def __init__(self, name: str, files: list[Path], labels: list[int], class_names: tuple[str, ...],
                 size: int, channels: int, workers: int = 2, chunk: int = 256, root: str | Path = "",
                 max_pixels: int = MAX_PIXELS) -> None:
        good, good_labels, bad = check_headers(files, labels, max_pixels, root)
        _warn_unreadable(bad, len(files), root)
        if not good:
            raise DataError(f"none of the {len(files)} image files in '{root}' could be read")
        super().__init__(name, (channels, size, size), 255.0,
                         torch.as_tensor(good_labels, dtype=torch.int64) if class_names else None, class_names)
        self.files = good
        self.root = root
        self._all_labels = torch.as_tensor(good_labels, dtype=torch.int64)
        self._source = FolderFiles(good, size, channels, max_pixels)
        self.workers, self.chunk = workers, chunk
        self._it: Iterator[list[Any]] | None = None
        self._buffer: list[tuple[np.ndarray, int]] = []
        self._failed = 0
        self._failing: set[int] = set()  # files that failed since the last good decode

    def __len__(self) -> int:
        return len(self.files)

    def _next_chunk(self) -> None:
        if self._it is None:
            seed = int(torch.randint(0, 2**62, ()).item())  # one draw from the global RNG fixes the stream
            self._it = iter(_loader(self._source, self.workers, self.chunk, _RandomIndices(len(self.files), seed)))
        for i, arr in next(self._it):
            if arr is None:
                self._failed += 1
                self._failing.add(i)
                if self._failed == 1:
                    logger.warning("an image in '%s' could not be decoded and was replaced (%s)",
                                   self.root, self.files[i])
                if len(self._failing) == len(self.files):  # else the stream would wait forever for a good one
                    raise DataError(f"none of the {len(self.files)} image files in '{self.root}' can be decoded "
                                    f"(their headers are readable; e.g. '{self.files[i]}')")
            else:
                self._failing.clear()
                self._buffer.append((arr, int(self._all_labels[i])))

    def _draw(self, n: int, device: torch.device | None) -> tuple[Tensor, Tensor | None]:
        while len(self._buffer) < n:
            self._next_chunk()
        items, self._buffer = self._buffer[:n], self._buffer[n:]
        x = torch.from_numpy(np.stack([a for a, _ in items]))
        y = torch.tensor([c for _, c in items], dtype=torch.int64)
        if device is not None:
            x, y = x.to(device), y.to(device)
        return x, y

    def images(self, index: Tensor | slice | None = None) -> Tensor:
        """The files at ``index`` (all when None) decoded now, float32 in [-1, 1], in index order.

        Reference sets for metrics and nearest neighbours come from here, not from :meth:`sample`, so that
        observing a run never takes images off the training stream. A file that fails to decode is left out.
        """
        if index is None:
            order = list(range(len(self.files)))
        elif isinstance(index, slice):
            order = list(range(len(self.files)))[index]
        else:
            order = torch.as_tensor(index).reshape(-1).tolist()
        subset = torch.utils.data.Subset(self._source, order)
        workers = self.workers if len(order) >= 1000 else 0
        decoded = [arr for batch in _loader(subset, workers, 256) for _, arr in batch if arr is not None]
        if not decoded:
            raise DataError(f"none of the {len(order)} requested images in '{self.root}' could be decoded")
        return self.to_unit(torch.from_numpy(np.stack(decoded)))

    def __getstate__(self) -> dict[str, Any]:  # the live iterator (worker processes) is not copied
        state = dict(self.__dict__)
        state["_it"] = None
        return state


def build_folder(cfg: Any, name: str = "folder") -> ImageDataset:
    """The user's image folder per ``data.path``, ``image_size`` (default 64), ``channels`` (default 3),
    ``labels``, ``workers``, ``memory_mb`` and ``max_pixels``."""
    size, channels = _size_and_channels(cfg, 64, 3)
    path = str(_option(cfg, "path", ""))
    use_labels = bool(_option(cfg, "labels", False))
    workers = int(_option(cfg, "workers", 2))
    files, labels, class_names = scan_folder(path, use_labels)
    budget = int(_option(cfg, "memory_mb", DEFAULT_MEMORY_MB)) * (1 << 20)
    max_pixels = int(_option(cfg, "max_pixels", MAX_PIXELS))
    if len(files) * channels * size * size <= budget:
        pixels, y = load_folder_into_memory(files, labels, size, channels, workers, root=path, max_pixels=max_pixels)
        return TensorImages(name, pixels, y if class_names else None, 255.0, class_names)
    batch = int(_option(cfg, "batch_size", 256))
    return FolderStream(name, files, labels, class_names, size, channels, workers, max(batch, 1), root=path,
                        max_pixels=max_pixels)
