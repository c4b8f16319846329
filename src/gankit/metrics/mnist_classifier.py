"""gankit's shipped MNIST evaluator: a small CNN, its weights, the ``mnist-classifier`` extractor, and
Stacked-MNIST mode counting (docs/protocols.md "MNIST quality").

No Inception weights can be downloaded here, and Inception features are a poor fit for digits anyway, so
gankit ships its own digit classifier, trained by ``benchmarks/train_mnist_classifier.py`` (>= 99.0 %
test accuracy, or the script refuses to write weights). The weights live in the package as
``metrics/weights/mnist_classifier.safetensors``; their sha256 is in ``mnist_classifier.sha256`` beside
them and is checked on every load.

- :class:`MnistNet`: conv5x5 32 -> pool -> conv5x5 64 -> pool -> dropout -> fc 128 (the penultimate features,
  after the ReLU, used for classifier-FID/KID/precision-recall) -> fc 10. Input (N, 1, 28, 28) in
  [-1, 1], gankit's image scaling.
- The extractor ``mnist-classifier`` (the default for the ``mnist`` data set only: a digit classifier says
  nothing about clothes) returns (128-d features, softmax probabilities). The weights are loaded on its
  first call, never at import time.
- :func:`stacked_mnist_modes` classifies each of the three channels of Stacked-MNIST images and returns
  the mode 100 a + 10 b + c; the metric ``stacked-mnist-modes`` reports the modes covered and the KL of
  their histogram to uniform over 1,000 (Metz et al. 2017, VEEGAN, PacGAN).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gankit.errors import DataError
from gankit.evalmode import evaluating
from gankit.metrics import features
from gankit.metrics.bootstrap import N_BOOT, bootstrap_ci
from gankit.metrics.keys import MODE_KL, MODES, Key
from gankit.metrics.modes import mode_histogram_kl
from gankit.registry import METRICS
from gankit.weights import load_checked_weights, recorded_sha256

__all__ = [
    "EXTRACTOR_NAME",
    "FEATURE_DIM",
    "MnistNet",
    "class_accuracy",
    "expected_sha256",
    "load_classifier",
    "stacked_mnist_modes",
    "weights_path",
]

EXTRACTOR_NAME = "mnist-classifier"
FEATURE_DIM = 128
WEIGHTS_FILE = "mnist_classifier.safetensors"
SHA_FILE = "mnist_classifier.sha256"
RETRAIN = "retrain it with `python benchmarks/train_mnist_classifier.py`"


class MnistNet(nn.Module):
    """A small digit classifier; ``forward`` returns (features (N, 128), logits (N, 10)).

    Input: (N, 1, 28, 28) images in [-1, 1].
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
        self.drop1 = nn.Dropout(0.25)
        self.fc1 = nn.Linear(64 * 7 * 7, FEATURE_DIM)
        self.drop2 = nn.Dropout(0.5)
        self.fc2 = nn.Linear(FEATURE_DIM, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate features (after the ReLU), (N, 128)."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise DataError(f"the MNIST classifier needs images of shape (N, 1, 28, 28), got {tuple(x.shape)}")
        h = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        h = torch.max_pool2d(torch.relu(self.conv2(h)), 2)
        return torch.relu(self.fc1(self.drop1(h).flatten(1)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        return f, self.fc2(self.drop2(f))


def weights_path() -> Path:
    """Where the shipped weights live inside the installed package."""
    return Path(str(resources.files("gankit.metrics").joinpath("weights", WEIGHTS_FILE)))


def expected_sha256(path: Path | None = None) -> str:
    """The sha256 recorded beside the weights (``mnist_classifier.sha256``).

    Raises:
        CheckpointError: the file is missing or does not hold a sha256.
    """
    return recorded_sha256((path or weights_path()).with_name(SHA_FILE), "MNIST classifier", RETRAIN)


def load_classifier(path: str | Path | None = None, sha256: str | None = None) -> MnistNet:
    """The shipped (or given) MNIST classifier, in eval mode on the CPU, its sha256 checked.

    Args:
        path: a safetensors file (default: the weights shipped in the package).
        sha256: the expected sha256 (default: the one recorded beside the weights).

    Raises:
        CheckpointError: a missing or unreadable file, a sha256 mismatch, or tensors that do not fit.
    """
    return load_checked_weights(path, weights_path(), SHA_FILE, MnistNet(), "MNIST classifier", RETRAIN,
                                sha256=sha256, check_given=True)


class _LazyClassifier:
    """The extractor callable: loads the shipped weights on first use; returns (features, softmax)."""

    def __init__(self) -> None:
        self._net: MnistNet | None = None

    @property
    def net(self) -> MnistNet:
        if self._net is None:
            self._net = load_classifier()
        return self._net

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        net = self.net
        with evaluating(net):
            f, logits = net(images.to(torch.float32))
        return f, torch.softmax(logits.double(), dim=1)


_CLASSIFIER = _LazyClassifier()

features.register_extractor(
    EXTRACTOR_NAME,
    _CLASSIFIER,
    datasets=["mnist"],
    gives_probs=True,
    description="gankit's shipped MNIST CNN: 128-d penultimate features and 10-way softmax",
)


def stacked_mnist_modes(images: Any) -> np.ndarray:
    """Mode index 100 a + 10 b + c (0..999) of Stacked-MNIST images, a, b, c the digits the shipped
    classifier reads in channels 0, 1, 2.

    Args:
        images: (N, 3, 28, 28) images in [-1, 1] (tensor or array), or flat (N, 2352) rows.

    Raises:
        DataError: images that are not (N, 3, 28, 28).
    """
    x = features.as_images(images, _StackedShape)
    if tuple(x.shape[1:]) != (3, 28, 28):
        raise DataError(f"Stacked-MNIST images must have shape (N, 3, 28, 28), got {tuple(x.shape)}")
    n = x.shape[0]
    digits = x.reshape(n * 3, 1, 28, 28)  # channel-major within each image: a, b, c
    ext = features.get_extractor(EXTRACTOR_NAME)
    _, probs = ext(digits)
    assert probs is not None  # the shipped classifier is registered with gives_probs=True
    d = probs.argmax(axis=1).reshape(n, 3).astype(np.int64)
    return d @ np.array([100, 10, 1], dtype=np.int64)


def class_accuracy(images: Any, labels: Any, n_boot: int = N_BOOT) -> dict[str, float]:
    """How often the shipped classifier reads the intended digit: the accuracy of conditional samples
    (docs/protocols.md "MNIST quality"), with a percentile bootstrap interval.

    Args:
        images: (N, 1, 28, 28) images in [-1, 1] (tensor or array), or flat (N, 784) rows.
        labels: (N,) the digits they were generated for (the conditioning labels).

    Returns:
        ``{"class_accuracy", "class_accuracy_low", "class_accuracy_high", "class_accuracy_n"}``, fractions.

    Raises:
        DataError: images that are not MNIST-shaped, or labels of the wrong length or outside 0..9.
    """
    x = features.as_images(images, _MnistShape)
    y = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels).reshape(-1)
    if len(y) != len(x):
        raise DataError(f"{len(x)} images but {len(y)} labels")
    if len(y) == 0 or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() > 9:
        raise DataError("labels must be integers in 0..9, one per image")
    _, probs = features.get_extractor(EXTRACTOR_NAME)(x)
    assert probs is not None  # the shipped classifier is registered with gives_probs=True
    hits = (probs.argmax(axis=1) == y).astype(np.float64)
    low, high = bootstrap_ci(np.mean, hits, n_boot=n_boot)
    return {"class_accuracy": float(hits.mean()), "class_accuracy_low": low, "class_accuracy_high": high,
            "class_accuracy_n": float(len(hits))}


class _MnistShape:
    shape = (1, 28, 28)


class _StackedShape:
    shape = (3, 28, 28)


def _is_stacked_mnist(dataset: Any) -> bool:
    return (
        getattr(dataset, "kind", None) == "image"
        and str(getattr(dataset, "name", "")) == "stacked-mnist"
        and tuple(getattr(dataset, "shape", ())) == (3, 28, 28)
    )


@METRICS.register(
    "stacked-mnist-modes",
    applies=_is_stacked_mnist,
    description="Stacked-MNIST modes covered (of 1,000) and KL of the mode histogram to uniform",
    keys={"modes": MODES, "mode_kl": MODE_KL},
)
def stacked_mnist_modes_metric(fake: Any, real: Any, dataset: Any) -> dict[str, float]:
    """Modes of ``fake`` read by the shipped classifier (``real`` unused).

    The keys ``modes``/``mode_kl`` are shared with the 2-D ``modes`` metric, which applies only to points
    data sets (``kind == "points"``), so both never apply to one data set.

    Returns:
        ``{"modes", "mode_kl", "mode_kl_low", "mode_kl_high" (centred bootstrap), "modes_n"}``.
    """
    labels = stacked_mnist_modes(features.as_images(fake, dataset))
    modes, kl = mode_histogram_kl(labels, 1000)
    low, high = bootstrap_ci(lambda lab: mode_histogram_kl(lab, 1000)[1], labels, n_boot=N_BOOT,
                             centered=True, point=kl)
    return {"modes": float(modes), "mode_kl": kl, "mode_kl_low": max(low, 0.0), "mode_kl_high": high,
            "modes_n": float(len(labels))}


def _is_mnist_digits(dataset: Any) -> bool:
    """MNIST-shaped (1, 28, 28) images whose extractor is the shipped digit classifier, 10 classes."""
    ext = features.extractor_for(dataset) if getattr(dataset, "kind", None) == "image" else None
    return (ext is not None and ext.name == EXTRACTOR_NAME and tuple(getattr(dataset, "shape", ())) == (1, 28, 28)
            and int(getattr(dataset, "num_classes", 0) or 0) == 10)


@METRICS.register(
    "conditional-accuracy",
    applies=_is_mnist_digits,
    needs_labels=True,
    description="how often the shipped MNIST classifier reads the digit a conditional sample was generated for",
    keys={"class_accuracy": Key("higher", "fraction of conditional samples the classifier reads as the class they "
                                "were generated for: does the condition steer the generator", "fraction")},
)
def conditional_accuracy_metric(fake: Any, real: Any, dataset: Any, labels: Any = None) -> dict[str, float]:
    """Accuracy of conditional samples: the classifier's digit against the conditioning digit (``real`` unused).

    Returns:
        ``{"class_accuracy", "class_accuracy_low", "class_accuracy_high" (percentile bootstrap),
        "class_accuracy_n"}``.
    """
    if labels is None:
        raise DataError("conditional-accuracy needs the classes the samples were generated for")
    return class_accuracy(features.as_images(fake, dataset), np.asarray(labels).astype(np.int64))
