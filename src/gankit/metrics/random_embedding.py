"""A fixed, seeded, randomly initialised convolutional embedding: image features where no trained network fits.

Naeem, Oh, Uh, Choi, Yoo, "Reliable Fidelity and Diversity Metrics for Generative Models", ICML 2020,
score images with the features of a *randomly initialised* network (a random VGG16) where no trained
network exists for the domain: the features are untrained but fixed, so FID, KID and the k-NN metrics
computed on them still compare two sets of images (they move when the distributions differ), though
their values are on another scale than Inception-FID and are comparable only with numbers from the same
embedding, the same image shape and the same sample count.

gankit's embedding (extractor ``random-conv``, the default of every image data set without a trained
network: ``folder``, ``cifar10``, ``fashion-mnist``, ``stacked-mnist``, ``caption-folder`` and outside
samples): a grey image is repeated to 3 channels, then

    conv 3x3 (3 -> 32), ReLU
    [conv 4x4 stride 2 (-> 64), ReLU] while the side is above 4        (8 px: once; 32 px: 3 times; 64 px: 4)
    adaptive average pool to 2 x 2  ->  256-d features (64 channels x 4 cells); no class probabilities

Weights are drawn from numpy's PCG64 under :data:`SEED` (He initialisation, N(0, 2 / fan_in); biases
0), so they are the same on every machine and torch version and nothing is shipped or downloaded.
Its metric keys carry the prefix ``rand_`` (``rand_fid``, ``rand_kid``, ``rand_precision``, ...): a
"random-embedding FID" is never mistaken for Inception-FID in a table or a metrics.jsonl line.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gankit.errors import DataError
from gankit.metrics import features

__all__ = ["EXTRACTOR_NAME", "FEATURE_DIM", "KEY_PREFIX", "RandomConvEmbedding", "SEED"]

EXTRACTOR_NAME = "random-conv"
KEY_PREFIX = "rand_"
SEED = 20200
"""Seed of the weights (fixed: changing it changes every random-embedding number)."""
WIDTH = 64
FEATURE_DIM = WIDTH * 4
MAX_DOWN = 8  # stride-2 layers available: enough for 1,024 px images


def _he(rng: np.random.Generator, shape: tuple[int, ...]) -> torch.Tensor:
    fan_in = int(np.prod(shape[1:]))
    return torch.from_numpy(rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).to(torch.float32)


class RandomConvEmbedding(nn.Module):
    """(N, 1 or 3, H, W) images in [-1, 1] -> (N, 256) features of the fixed random network above."""

    def __init__(self, seed: int = SEED) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        self.stem = nn.Conv2d(3, 32, 3, padding=1)
        self.down = nn.ModuleList(nn.Conv2d(32 if i == 0 else WIDTH, WIDTH, 4, stride=2, padding=1)
                                  for i in range(MAX_DOWN))
        with torch.no_grad():
            for conv in [self.stem, *self.down]:
                conv.weight.copy_(_he(rng, tuple(conv.weight.shape)))
                conv.bias.zero_()
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise DataError(f"the random embedding needs images (N, 1 or 3, H, W), got {tuple(x.shape)}")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        h = F.relu(self.stem(x.to(torch.float32)))
        # one stride-2 layer at least, so an 8 px image is pooled from 4 x 4 like a large one from <= 4 x 4
        for i, conv in enumerate(self.down):
            if i > 0 and min(h.shape[-2:]) <= 4:
                break
            h = F.relu(conv(h))
        return F.adaptive_avg_pool2d(h, 2).flatten(1)  # (N, 256)


features.register_extractor(
    EXTRACTOR_NAME,
    features.module_extractor(RandomConvEmbedding()),
    datasets=["folder", "cifar10", "fashion-mnist", "stacked-mnist", "caption-folder", "outside"],
    gives_probs=False,
    key_prefix=KEY_PREFIX,
    description="a fixed seeded random conv net (Naeem et al. 2020): 256-d features, NOT Inception; keys rand_*",
)
