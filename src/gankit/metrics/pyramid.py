"""Per-level image quality: FID and coverage of each level of the samples' Gaussian pyramid.

A coarse-to-fine generator (LAPGAN: Denton, Chintala, Szlam, Fergus 2015) can fail at one level while
another hides it: a collapsed 7x7 level under a busy 14 px band still gives digit-like strokes. So every
level is scored on its own, against the real pyramid at that level:

    I_0 = x,  I_{k+1} = d(I_k)                       (gankit.nets.laplacian: blur, then every other pixel)
    level k of a set: its images I_k, brought back to the full side by k bilinear upsamplings u(...)
    level{k}_fid      = FID(features(u^k(I_k(fake))), features(u^k(I_k(real))))
    level{k}_coverage = coverage (Naeem et al. 2020, k-NN balls of 5) of the same features

with the data set's feature extractor (the MNIST classifier on MNIST: its features of a 7x7 image
upsampled to 28 px). Both sides are processed alike, so a real pyramid scores its floor at every level;
the numbers of different levels are on different scales (a 7x7 level blurs away what the classifier
reads), so compare each level with its own floor, not with the other levels. Level 0 is the image
itself (``level0_fid`` is ``fid`` without its interval). For a LAPGAN, level k of its samples is its own
level-k sample up to the low frequencies the finer bands add (a band of the real pyramid has almost
none), so a collapsed coarse G shows here however good the bands are.

Not part of ``auto`` (it costs two feature passes per level): name it, as the LAPGAN presets do
(``eval.metrics: [auto, level-fid]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gankit.errors import DataError
from gankit.metrics import features
from gankit.metrics.images import (
    DC_K,
    PR_MAX_POINTS,
    _has_extractor,
    _keyed,
    _need,
    density_coverage,
    fid_from_features,
)
from gankit.metrics.keys import Key
from gankit.nets.laplacian import auto_levels, gaussian_pyramid, upsample
from gankit.registry import METRICS

MAX_LEVELS = 8  # keys registered for levels 0 .. 7 (a 1,024 px image halved down to 8 px)


def pyramid_levels(dataset: Any) -> int:
    """Levels of the data set's images (28 px: 3, 28 -> 14 -> 7), as LAPGAN's ``generator.levels=0``."""
    shape = tuple(getattr(dataset, "shape", ()) or ())
    if len(shape) != 3 or shape[1] != shape[2]:
        return 0
    return auto_levels(int(shape[1]))


def _applies(dataset: Any) -> bool:
    return _has_extractor(dataset) and pyramid_levels(dataset) >= 2


def level_images(images: Any, levels: int) -> list[Any]:
    """[u^k(I_k) for k = 0 .. levels-1]: each level of the Gaussian pyramid, upsampled to the full side."""
    out = []
    for k, level in enumerate(gaussian_pyramid(images, levels)):
        for _ in range(k):
            level = upsample(level)
        out.append(level.clamp(-1.0, 1.0))
    return out


def level_scores(fake: Any, real: Any, dataset: Any, levels: int = 0) -> dict[str, float]:
    """``level{k}_fid`` and ``level{k}_coverage`` for every level k (see the module's equations).

    Args:
        fake, real: (N, C, S, S) images in [-1, 1] or flat rows of ``dataset.shape``.
        dataset: an image data set with a feature extractor.
        levels: pyramid levels (0: :func:`pyramid_levels` of the data set).
    """
    levels = levels or pyramid_levels(dataset)
    if levels < 2:
        raise DataError("level-fid needs square images that can be halved at least once (side even and above 8)")
    fake_levels = level_images(features.as_images(fake, dataset), levels)
    real_levels = level_images(features.as_images(real, dataset), levels)
    out: dict[str, float] = {}
    for k, (f_img, r_img) in enumerate(zip(fake_levels, real_levels, strict=True)):
        ff = features.extract(f_img, dataset)[0]
        fr = features.extract(r_img, dataset)[0]
        dim = ff.shape[1]
        _need(min(len(ff), len(fr)), max(dim + 1, DC_K + 1), "level-fid",
              f"more than the {dim} feature dimensions at every level", f"score at least {dim + 1} samples")
        out[f"level{k}_fid"] = fid_from_features(ff, fr)
        out[f"level{k}_coverage"] = density_coverage(fr[:PR_MAX_POINTS], ff[:PR_MAX_POINTS], DC_K)[1]
    out["level_n"] = float(len(fake_levels[0]))
    return _keyed(out, dataset)


def _keys() -> dict[str, Key]:
    keys: dict[str, Key] = {}
    for k in range(MAX_LEVELS):
        keys[f"level{k}_fid"] = Key("lower", f"FID of pyramid level {k} (side / 2^{k}, upsampled back) of the "
                                    "samples against the real images' level: a collapsed level scores far above "
                                    "its floor")
        keys[f"level{k}_coverage"] = Key("higher", f"coverage (Naeem 2020) of pyramid level {k}: fraction of real "
                                         "level images with a sample nearby; near 0 when the level collapsed",
                                         "fraction")
    return keys


@METRICS.register(
    "level-fid",
    applies=_applies,
    auto=False,
    description="FID and coverage of each Gaussian-pyramid level of the samples against the real pyramid "
                "(LAPGAN's per-level quality: level0 = the image, level2 = 7x7 on MNIST)",
    keys=_keys(),
)
def level_fid_metric(fake: Any, real: Any, dataset: Any) -> dict[str, float]:
    """:func:`level_scores` on the data set's pyramid levels."""
    return level_scores(np.asarray(fake), np.asarray(real), dataset)
