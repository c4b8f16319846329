"""gankit's shipped classifier of scikit-learn's 8x8 digits, as the feature extractor of ``digits``.

The same pattern as the MNIST classifier (``metrics/mnist_classifier.py``): a small CNN trained by
``benchmarks/train_digits_classifier.py`` on a seeded 75 % of the 1,797 digits (it refuses to write
weights below 97 % accuracy on the other 25 %), weights in ``metrics/weights/digits_classifier.safetensors``
with their sha256 beside them, checked on every load (on the extractor's first call, never at import).

:class:`DigitsNet`: conv 3x3 (32) -> conv 3x3 (32) -> max-pool 2 -> fc 64 (the features, after the ReLU)
-> dropout -> fc 10. Input (N, 1, 8, 8) in [-1, 1]; other sizes are resized to 8 x 8 (area), so a
``digits`` run with ``data.image_size=16`` is scored too. The extractor ``digits-classifier`` returns
(64-d features, softmax), so classifier-FID, IS, KID and precision/recall apply to ``digits``
(docs/protocols.md). Its features are not the MNIST classifier's: compare numbers only within one extractor.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gankit.errors import DataError
from gankit.metrics import features
from gankit.weights import load_checked_weights

__all__ = ["EXTRACTOR_NAME", "FEATURE_DIM", "DigitsNet", "load_digits_classifier", "weights_path"]

EXTRACTOR_NAME = "digits-classifier"
FEATURE_DIM = 64
SIDE = 8
WEIGHTS_FILE = "digits_classifier.safetensors"
SHA_FILE = "digits_classifier.sha256"
RETRAIN = "retrain it with `python benchmarks/train_digits_classifier.py`"


class DigitsNet(nn.Module):
    """``forward(x (N, 1, H, W) in [-1, 1]) -> (features (N, 64), logits (N, 10))``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 4 * 4, FEATURE_DIM)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(FEATURE_DIM, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 1:
            raise DataError(f"the digits classifier needs grey images (N, 1, H, W), got {tuple(x.shape)}")
        x = x.to(torch.float32)
        if x.shape[-2:] != (SIDE, SIDE):
            x = F.interpolate(x, size=(SIDE, SIDE), mode="area")
        h = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return torch.relu(self.fc1(torch.max_pool2d(h, 2).flatten(1)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        return f, self.fc2(self.drop(f))


def weights_path() -> Path:
    return Path(str(resources.files("gankit.metrics").joinpath("weights", WEIGHTS_FILE)))


def load_digits_classifier(path: str | Path | None = None) -> DigitsNet:
    """The shipped classifier (sha256 checked) or one from ``path``, in eval mode on the CPU.

    Raises:
        CheckpointError: a missing or unreadable file, a sha256 mismatch, or weights of another shape.
    """
    return load_checked_weights(path, weights_path(), SHA_FILE, DigitsNet(), "digits classifier",
                                RETRAIN)


def _features_and_probs(net: DigitsNet, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    f, logits = net(images)
    return f, torch.softmax(logits.double(), dim=1)


features.register_extractor(
    EXTRACTOR_NAME,
    features.LazyModule(load_digits_classifier, _features_and_probs),
    datasets=["digits"],
    gives_probs=True,
    description="gankit's shipped 8x8-digits CNN: 64-d penultimate features and 10-way softmax",
)
