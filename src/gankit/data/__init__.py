"""Data sets (registry ``DATASETS``): toy 1-D and 2-D distributions and user point files."""

from gankit.data import toy  # noqa: F401  (registers the toy data sets)
from gankit.data import images  # noqa: F401  (registers the image data sets)
from gankit.data import captions  # noqa: F401  (registers shapes-captions and caption-folder)
from gankit.data import paired  # noqa: F401  (registers edges2digits, labels2shapes and paired-folder)
from gankit.data.toy import PointDataset, build_dataset

__all__ = ["PointDataset", "build_dataset"]
