"""What every data set provides (the data-set contract), as runtime-checkable protocols.

:class:`Dataset` is what training needs of any set; the others are capabilities a set adds and callers check
once with ``isinstance`` instead of probing attributes: :class:`PointSet` (1-D/2-D figures, mode metrics),
:class:`LabelledDataset` (conditional recipes' ``(x, y)`` batches), :class:`IndexedImages` (stored images
drawn by index: metric references without replacement, neighbour search). ``PointDataset``
(data/toy.py) and ``ImageDataset`` (data/images/datasets.py) implement them; ``tests/test_contracts.py``
checks every registered set.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor


@runtime_checkable
class Dataset(Protocol):
    """A data set: ``sample(n)`` draws (n, *shape) float32 with torch's global RNG (so seeding and
    checkpointing that RNG makes training reproducible). ``kind`` is "points" or "image": figures and
    metrics branch on it, never on the name. ``streamed``: ``sample()`` consumes the training stream (an
    image folder read from disk), so observers (diagnostics, metrics) must never call it."""

    name: str
    kind: str

    @property
    def streamed(self) -> bool: ...

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dim(self) -> int: ...

    def sample(self, n: int, device: torch.device | str | None = None) -> Tensor: ...


@runtime_checkable
class PointSet(Dataset, Protocol):
    """Points: mixture ``modes`` (M, dim) and ``mode_std`` (None: not a mixture), ``log_prob`` (None: no
    known density), and ``bounds()``, a (dim, 2) plotting box that must not move the training RNG."""

    modes: np.ndarray | None
    mode_std: float | None

    @property
    def has_density(self) -> bool: ...

    def log_prob(self, x: np.ndarray) -> np.ndarray | None: ...

    def bounds(self, margin: float = ...) -> np.ndarray: ...


@runtime_checkable
class LabelledDataset(Dataset, Protocol):
    """A set with a condition per sample: ``sample_with_labels(n)`` = (x, y), y (n,) class indices (or
    caption tokens, input images); ``num_classes`` 0 when the condition is not a class."""

    num_classes: int
    class_names: tuple[str, ...]

    def sample_with_labels(self, n: int, device: torch.device | str | None = None) -> tuple[Tensor, Any]: ...


@runtime_checkable
class IndexedImages(Dataset, Protocol):
    """Stored images drawn by index: ``images(index)`` (all when None) and ``len()``; ``labels`` (N,) or None.
    A ``streamed`` set's observers decode images this way."""

    labels: Tensor | None

    def __len__(self) -> int: ...

    def images(self, index: Any = None) -> Tensor: ...


def check_dataset(dataset: Any, name: str = "") -> None:
    """Refuse a data set that does not keep the :class:`Dataset` contract, naming what it lacks.

    Raises:
        TypeError: a member of :class:`Dataset` is missing.
    """
    if isinstance(dataset, Dataset):
        return
    missing = [m for m in ("name", "kind", "shape", "dim", "streamed", "sample") if not hasattr(dataset, m)]
    raise TypeError(f"data set '{name or type(dataset).__name__}' ({type(dataset).__name__}) lacks "
                    f"{', '.join(missing)}: every data set has name, kind, shape, dim, streamed and "
                    "sample(n, device) (gankit.data.base.Dataset)")
