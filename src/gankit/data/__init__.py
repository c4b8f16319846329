"""Data sets (registry ``DATASETS``): toy 1-D and 2-D distributions and user point files, image sets,
caption and paired sets; ``build_dataset`` builds any of them from the ``data`` config section."""

from __future__ import annotations

from typing import Any

from gankit.data import (
    captions,  # noqa: F401  (registers shapes-captions and caption-folder)
    images,  # noqa: F401  (registers the image data sets)
    paired,  # noqa: F401  (registers edges2digits, labels2shapes and paired-folder)
    toy,  # noqa: F401  (registers the toy data sets)
)
from gankit.data.toy import PointDataset
from gankit.registry import DATASETS


def build_dataset(cfg: Any) -> Any:
    """The data set named by ``cfg.name`` (a DataConfig), built by its registered factory (points or images)."""
    return DATASETS.get(cfg.name)(cfg)


__all__ = ["PointDataset", "build_dataset"]
