"""The shipped shapes attribute classifier as the feature extractor of ``shapes-captions``.

The classifier (:class:`gankit.metrics.captions.AttributeNet`, sha256-checked weights in
``metrics/weights/shapes_attributes.*``, trained by ``benchmarks/train_shapes_classifier.py``) reads the
four attributes of a shape image (kind, colour, size, position). As an extractor (``shapes-attributes``,
the default of ``shapes-captions``) it gives

- features: its 64-d penultimate layer (after the ReLU), for classifier-FID, KID and precision/recall;
- probabilities over the 216 attribute combinations, p(k, c, s, p | x) = p(k|x) p(c|x) p(s|x) p(p|x)
  (its four heads are separate softmaxes), so the classifier Inception score lies in [1, 216]: high when
  each image is read confidently and the combinations are spread evenly.

Images are resized to 32 px by the network itself; they must have 3 channels. Weights load on first use.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gankit.errors import DataError
from gankit.metrics import features
from gankit.metrics.captions import HEADS, SIDE, AttributeNet, load_attribute_classifier

__all__ = ["CLASSIFIER", "EXTRACTOR_NAME", "joint_probabilities"]

EXTRACTOR_NAME = "shapes-attributes"


def joint_probabilities(logits: list[torch.Tensor]) -> torch.Tensor:
    """(N, prod K_i) probabilities of every combination from independent heads' logits [(N, K_i)], float64."""
    joint = torch.ones(logits[0].shape[0], 1, dtype=torch.float64)
    for head in logits:
        p = torch.softmax(head.double(), dim=1)
        joint = (joint[:, :, None] * p[:, None, :]).flatten(1)
    return joint


def _features_and_probs(net: AttributeNet, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(features (N, 64) after the ReLU, joint probabilities (N, 216)) of RGB images in [-1, 1]."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise DataError(f"the shapes attribute classifier needs RGB images (N, 3, H, W), got {tuple(images.shape)}")
    x = images.to(torch.float32)
    if x.shape[-2:] != (SIDE, SIDE):
        x = F.interpolate(x, size=(SIDE, SIDE), mode="bilinear", align_corners=False, antialias=True)
    h = net.net[:-1](x)
    return h, joint_probabilities(list(net.net[-1](h).split(HEADS, dim=1)))


# the classifier, loaded on first use: this extractor and the paired-task metric share it
CLASSIFIER = features.LazyModule(load_attribute_classifier, _features_and_probs)

features.register_extractor(
    EXTRACTOR_NAME,
    CLASSIFIER,
    datasets=["shapes-captions"],
    gives_probs=True,
    description="gankit's shipped shapes attribute CNN: 64-d features, softmax over the 216 attribute combinations",
)
