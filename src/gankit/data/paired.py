"""Paired images for image-to-image translation: two tasks gankit makes itself, and the user's own pairs.

Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks" (CVPR 2017) train on
aligned pairs (x, y): an input image x (edges, a label map) and the image y it should become. A paired
data set keeps its training pairs and a disjoint set of **held-out pairs** (``held_out``) on which a
translator is judged (L1 to the target, FID, the task measure); the generator translates held-out
inputs when it draws "samples" (gankit/nets/unet.py), so every figure shows inputs it never trained on.

- ``edges2digits``: MNIST digits (y) from their edge maps (x). The edges are a fixed morphological
  gradient, max₃ₓ₃(y) − min₃ₓ₃(y) (dilation minus erosion), binarised at half the pixel range: white where
  the ink's boundary is, so the stroke's inside and its grey levels are left to the translator.
  Training pairs come from MNIST's training split, held-out pairs from its test split; the task
  measure is the digit's class. MNIST is read from gankit's cache (``gankit data get mnist``; tests
  use a cache built from the shipped 1,000 test digits).
- ``labels2shapes``: a colour render of gankit's shapes (``data/captions.py``: kind, colour, size,
  position) from its label map: one grey channel that is LEVELS[colour] inside the shape (where the
  render covers at least half the pixel) and 0 outside — the "labels → photo" task of the paper. The
  render's anti-aliased edges and its exact colours are the translator's to fill in. 6,000 training and
  1,000 held-out pairs over all 216 attribute combinations, from fixed seeds; the task measure is the
  four attributes the shipped attribute classifier reads back.
- ``masks2shapes``: the same renders from their silhouettes: one binary channel, 255 inside the shape
  (the label map's support) and 0 outside, so the input says nothing of the colour. Several targets are
  then right for one input, the case where a pixel loss alone averages them (a colour no render has)
  and the adversary must pick one. The task measure is kind, size and position only (``task`` is
  "shape"); the colour's variety is ``colour_entropy`` (metrics/paired.py).
- ``paired-folder`` (``data.path=DIR``): the user's pairs, either side-by-side A|B images (width twice
  the height; A is the input, as in the paper's data sets), or two folders ``DIR/A`` and ``DIR/B`` whose
  images match by relative path and name (extensions may differ). Pairs under a top-level ``test/`` or
  ``val/`` folder are held out; without one, every tenth pair (sorted by name) is. An image without a
  partner, an unreadable image or an A|B image of the wrong shape is a one-line :class:`DataError`.

Batches: ``sample(n)`` gives targets y (what FID compares with), ``sample_with_labels(n)`` gives
(targets y, inputs x) of the same pairs, the conditional-batch hook of the trainer (the "label" is the
input image; ``num_classes`` is 0).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gankit.data import captions as C
from gankit.data.images import (
    ImageDataset,
    _option,
    _size_and_channels,
    data_root,
    fit_image,
    load_arrays,
    resize_square,
    scan_folder,
)
from gankit.errors import ConfigError, DataError, first_line
from gankit.registry import DATASETS

__all__ = ["LEVELS", "PairedImages", "Pairs", "edge_map", "label_map", "read_paired_folder", "silhouette"]

EDGE_THRESHOLD = 128  # gradient (0..255) at which a pixel counts as edge: half the range
LEVELS = (64, 128, 192, 255)  # label-map grey level of red, green, blue, yellow shapes
SHAPES_SEEDS = {"train": 2019, "held_out": 2020}  # apart from shapes-captions' 2017/2018
SHAPES_SIZE = {"train": 6000, "held_out": 1000}
HELD_OUT_FOLDERS = ("test", "val")
HELD_OUT_EVERY = 10  # without a test/ or val/ folder: every tenth pair is held out


class Pairs(NamedTuple):
    """Aligned pairs as stored pixels: inputs (N, C_x, S, S) and targets (N, C_y, S, S) uint8, and the
    task labels (N,) digit classes or (N, 4) shape attributes (None: no task measure)."""

    sources: Tensor
    targets: Tensor
    task: Tensor | None = None


def edge_map(pixels: Tensor) -> Tensor:
    """Binary edge maps of grey images: 255 where max₃ₓ₃ − min₃ₓ₃ (the morphological gradient) ≥ 128.

    Args:
        pixels: (N, 1, S, S) uint8.

    Returns:
        (N, 1, S, S) uint8 in {0, 255}.
    """
    x = pixels.float()
    grad = F.max_pool2d(x, 3, 1, 1) + F.max_pool2d(-x, 3, 1, 1)  # dilation − erosion (zero padding: the background)
    return ((grad >= EDGE_THRESHOLD).to(torch.uint8) * 255)


def label_map(renders: Tensor, colours: Tensor) -> Tensor:
    """Label maps of shape renders: LEVELS[colour] where the shape covers ≥ half a pixel, else 0.

    The coverage of a pixel is its brightest channel over the brightest channel of the shape's colour
    (the renders are one flat colour on black, anti-aliased at the border).

    Args:
        renders: (N, 3, S, S) uint8 from :func:`gankit.data.captions.render`.
        colours: (N,) colour indices into :data:`gankit.data.captions.COLOURS`.
    """
    peak = torch.tensor([max(C.RGB[c]) for c in C.COLOURS], dtype=torch.float32)[colours.long()]  # (N,)
    cover = renders.float().amax(dim=1, keepdim=True) / peak[:, None, None, None]
    level = torch.tensor(LEVELS, dtype=torch.uint8)[colours.long()][:, None, None, None]
    return torch.where(cover >= 0.5, level, torch.zeros_like(level))


def silhouette(labels: Tensor) -> Tensor:
    """Binary masks of label maps: 255 where the label map names a colour, else 0 (the colour dropped).

    Args:
        labels: (N, 1, S, S) uint8 from :func:`label_map`.
    """
    return (labels > 0).to(torch.uint8) * 255


class PairedImages(ImageDataset):
    """Training pairs in memory plus held-out pairs; batches are targets, or (targets, inputs).

    Args:
        name: registry name.
        train: the training pairs.
        held_out: the held-out pairs (never drawn in training).
        task: "digit" (``held_out.task`` are classes), "attributes" (all four shape attributes), "shape"
            (shape attributes but the colour, which the input leaves open) or "" (none).
        feature_extractor: the extractor of the target images for FID (None: no FID).
    """

    def __init__(self, name: str, train: Pairs, held_out: Pairs, task: str = "",
                 feature_extractor: str | None = None) -> None:
        for what, p in (("training", train), ("held-out", held_out)):
            if len(p.sources) == 0 or len(p.sources) != len(p.targets):
                raise DataError(f"data set '{name}' needs at least one {what} pair, got {len(p.sources)} inputs "
                                f"and {len(p.targets)} targets")
        super().__init__(name, tuple(train.targets.shape[1:]), 255.0)  # num_classes = 0: the condition is an image
        self.train = train
        self.held_out = held_out
        self.source_shape = tuple(int(s) for s in train.sources.shape[1:])
        self.task = task
        self.feature_extractor = feature_extractor

    def __len__(self) -> int:
        return len(self.train.targets)

    def images(self, idx: Tensor | None = None) -> Tensor:
        """Training targets (all, or rows ``idx``) in [-1, 1] (real images for FID)."""
        return self.to_unit(self.train.targets if idx is None else self.train.targets[idx])

    def held_out_targets(self, idx: Tensor | np.ndarray | None = None) -> Tensor:
        """Held-out targets (all, or rows ``idx``) in [-1, 1]."""
        t = self.held_out.targets
        return self.to_unit(t if idx is None else t[torch.as_tensor(idx).long()])

    def _draw(self, n: int, device: torch.device | None) -> tuple[Tensor, Tensor | None]:
        idx = torch.randint(len(self), (n,))  # CPU global RNG, as every in-memory set
        x = self.train.targets[idx]
        return (x if device is None else x.to(device)), idx

    def sample_with_labels(self, n: int, device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
        """``n`` random training pairs: (targets (n, C_y, S, S), inputs (n, C_x, S, S)), both in [-1, 1]."""
        y, idx = self._draw(n, None)
        x = self.train.sources[idx]
        if device is not None:
            y, x = y.to(device), x.to(device)
        return self.to_unit(y), self.to_unit(x)


def _side(cfg: Any, native_size: int, channels: int, why: str) -> int:
    """``data.image_size`` (0: ``native_size``) of a built-in pair set whose channels are fixed."""
    size, asked = _size_and_channels(cfg, native_size, channels)
    if asked != channels:
        raise ConfigError(f"{why}; data.channels={asked} is not allowed")
    return size


# ------------------------------------------------------------------------------------------ edges2digits


@functools.lru_cache(maxsize=2)
def _edges2digits(root: str, download: bool, size: int) -> tuple[Pairs, Pairs]:
    out = []
    for split in ("train", "test"):
        x, y = load_arrays("mnist", split, root=root, download=download)
        digits = resize_square(torch.from_numpy(np.ascontiguousarray(x)), size)
        out.append(Pairs(edge_map(digits), digits, torch.from_numpy(y)))
    return out[0], out[1]


@DATASETS.register("edges2digits", kind="image", paired=True, needs="download",
                   description="MNIST digits from their edge maps (paired; held out: the test split; "
                               "fetch MNIST with 'gankit data get mnist')")
def edges2digits(cfg: Any) -> PairedImages:
    size = _side(cfg, 28, 1, "edges2digits is grey (1 channel)")
    train, held = _edges2digits(str(data_root()), bool(_option(cfg, "download", False)), size)
    return PairedImages("edges2digits", train, held, task="digit",
                        feature_extractor="mnist-classifier" if size == 28 else None)


# ----------------------------------------------------------------------------------------- labels2shapes


@functools.lru_cache(maxsize=4)
def _labels2shapes(split: str, size: int, n: int) -> Pairs:
    seed = SHAPES_SEEDS[split]
    combos = C.all_combinations()
    attrs = combos[np.arange(n) % len(combos)][np.random.default_rng(seed).permutation(n)]  # every combination alike
    renders = torch.from_numpy(C.render(attrs, size, seed + 1))
    attrs_t = torch.from_numpy(attrs.astype(np.int64))
    return Pairs(label_map(renders, attrs_t[:, 1]), renders, attrs_t)


@DATASETS.register("labels2shapes", kind="image", paired=True,
                   description="gankit's coloured shapes from their label maps (paired, 32x32; 1,000 held-out pairs)")
def labels2shapes(cfg: Any) -> PairedImages:
    size = _side(cfg, 32, 3, "labels2shapes renders colour (3 channels)")
    if size < 8:
        raise ConfigError(f"labels2shapes needs data.image_size >= 8, got {size}")
    train, held = (_labels2shapes(split, size, SHAPES_SIZE[split]) for split in ("train", "held_out"))
    return PairedImages("labels2shapes", train, held,
                        task="attributes", feature_extractor="shapes-attributes")


# ------------------------------------------------------------------------------------------ masks2shapes


@DATASETS.register("masks2shapes", kind="image", paired=True,
                   description="gankit's coloured shapes from their binary silhouettes: the colour is left open "
                               "(paired, 32x32; 1,000 held-out pairs)")
def masks2shapes(cfg: Any) -> PairedImages:
    size = _side(cfg, 32, 3, "masks2shapes renders colour (3 channels)")
    if size < 8:
        raise ConfigError(f"masks2shapes needs data.image_size >= 8, got {size}")
    train, held = (_labels2shapes(split, size, SHAPES_SIZE[split]) for split in ("train", "held_out"))
    train, held = (p._replace(sources=silhouette(p.sources)) for p in (train, held))  # labels2shapes' renders
    return PairedImages("masks2shapes", train, held, task="shape", feature_extractor="shapes-attributes")


# ----------------------------------------------------------------------------------------- paired-folder


def _key(path: Path, root: Path) -> str:
    """A pair's name: the path below ``root`` without the extension."""
    return path.relative_to(root).with_suffix("").as_posix()


def _decode(path: Path, size: int, channels: int, halves: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """One image (or, with ``halves``, the A and B halves of an A|B image) as uint8 (channels, size, size)."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as f:
            im = ImageOps.exif_transpose(f)
            if not halves:
                return fit_image(im, size, channels), None
            w, h = im.size
            if abs(w - 2 * h) > 1:
                raise DataError(f"'{path}' is not an A|B pair: {w}x{h} pixels, but a side-by-side pair is twice as "
                                "wide as high (or put the inputs in A/ and the targets in B/ with matching names)")
            half = w // 2
            return (fit_image(im.crop((0, 0, half, h)), size, channels),
                    fit_image(im.crop((w - half, 0, w, h)), size, channels))
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"pair image '{path}' cannot be read ({first_line(exc)})") from None


def _match(a_root: Path, b_root: Path) -> list[tuple[str, Path, Path]]:
    """(name, A file, B file) for every name in both folders; an unmatched name is a DataError."""
    a = {_key(f, a_root): f for f in scan_folder(a_root)[0]}
    b = {_key(f, b_root): f for f in scan_folder(b_root)[0]}
    for here, there, names in ((a_root, b_root, sorted(set(a) - set(b))), (b_root, a_root, sorted(set(b) - set(a)))):
        if names:
            raise DataError(f"{len(names)} image(s) in '{here}' have no partner of the same name in '{there}' "
                            f"(e.g. '{names[0]}')")
    return [(k, a[k], b[k]) for k in sorted(a)]


def read_paired_folder(path: str | Path, size: int, channels: int) -> PairedImages:
    """The user's pairs under ``path``: folders A/ and B/ with matching names, or A|B side-by-side images.

    Raises:
        DataError: a missing or empty folder, an unmatched name, an unreadable image, an A|B image that is
            not twice as wide as high, fewer than two pairs.
    """
    if not str(path):
        raise DataError("the 'paired-folder' data set needs a directory: set data.path=DIR (A|B images, or A/ and B/)")
    root = Path(path).expanduser()
    halves = not ((root / "A").is_dir() and (root / "B").is_dir())
    if halves:
        items = [(_key(f, root), f, f) for f in scan_folder(root)[0]]
    else:
        items = _match(root / "A", root / "B")
    if len(items) < 2:
        raise DataError(f"paired folder '{root}' holds {len(items)} pair(s); it needs at least 2 (one to train on, "
                        "one held out)")
    src = np.empty((len(items), channels, size, size), dtype=np.uint8)
    tgt = np.empty_like(src)
    for i, (_, a, b) in enumerate(items):
        if halves:
            src[i], tgt[i] = _decode(a, size, channels, True)  # type: ignore[assignment]
        else:
            src[i], tgt[i] = _decode(a, size, channels, False)[0], _decode(b, size, channels, False)[0]
    held = np.array([k.split("/", 1)[0] in HELD_OUT_FOLDERS for k, _, _ in items])
    if not held.any() or held.all():
        held = np.arange(len(items)) % HELD_OUT_EVERY == HELD_OUT_EVERY - 1
        held[-1] |= not held.any()  # fewer than ten pairs: the last one
    s, t = torch.from_numpy(src), torch.from_numpy(tgt)
    keep, out = torch.from_numpy(~held), torch.from_numpy(held)
    return PairedImages("paired-folder", Pairs(s[keep], t[keep]), Pairs(s[out], t[out]))


@DATASETS.register("paired-folder", kind="image", paired=True, needs="path",
                   description="your own pairs: data.path=DIR of A|B side-by-side images, or DIR/A and DIR/B "
                               "with matching names (held out: test/ or val/, else every tenth)")
def paired_folder(cfg: Any) -> PairedImages:
    size, channels = _size_and_channels(cfg, 32, 3)
    return read_paired_folder(str(_option(cfg, "path", "")), size, channels)
