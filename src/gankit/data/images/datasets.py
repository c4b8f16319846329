"""Image data set classes: in-memory tensors, Stacked MNIST's digit triples, and the pixel helpers
(resize, channels, the data.* options) every image set shares."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gankit.errors import ConfigError, DataError

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
    streamed = False  # sample() draws from stored images (FolderStream: from the training stream)
    modes = None
    mode_std = None
    has_density = False

    def __init__(self, name: str, shape: tuple[int, ...], max_value: float = 255.0,
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
            raise DataError(f"data set '{name}' needs a non-empty (N, C, H, W) array, "
                            f"got shape {tuple(pixels.shape)}")
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
        assert labels is not None  # __init__ refuses unlabelled digits
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
