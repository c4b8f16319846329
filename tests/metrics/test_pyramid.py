"""level-fid: each Gaussian-pyramid level of the samples scored against the real pyramid at that level."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from gankit.errors import ConfigError
from gankit.metrics import evaluate, resolve
from gankit.metrics.pyramid import level_scores
from gankit.nets.laplacian import build_pyramid, reconstruct

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "mnist-test-1000.npz"
MNIST = SimpleNamespace(name="mnist", kind="image", shape=(1, 28, 28), dim=784, range_checked=True)


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    with np.load(FIXTURE) as f:
        x = torch.from_numpy(f["x"][:, :1].astype(np.float32)) / 127.5 - 1.0
    return x[:300], x[300:600]  # 300 each: more than the classifier's 128 feature dimensions


def _with_level(x: torch.Tensor, coarse=None, zero_band: int | None = None) -> torch.Tensor:
    """x rebuilt from its pyramid with the 7x7 level replaced (``coarse``) or one band zeroed."""
    bands, c = build_pyramid(x, 3)
    if zero_band is not None:
        bands[zero_band] = torch.zeros_like(bands[zero_band])
    return reconstruct(bands, c if coarse is None else coarse).clamp(-1, 1)


@pytest.fixture(scope="module")
def floor(digits) -> dict[str, float]:
    real, other = digits
    return level_scores(other, real, MNIST)


def test_a_real_pyramid_scores_near_its_floor_and_a_collapsed_generator_far_above(digits, floor):
    real, other = digits
    assert set(floor) >= {"level0_fid", "level1_fid", "level2_fid", "level2_coverage"}
    # a collapsed generator (one image, over and over): every level far above its floor, coverage near 0
    const = level_scores(other[:1].expand_as(other), real, MNIST)
    for k in range(3):
        assert const[f"level{k}_fid"] > 10 * floor[f"level{k}_fid"]
        assert const[f"level{k}_coverage"] < 0.1 < 0.9 < floor[f"level{k}_coverage"]


def test_a_collapsed_level_shows_at_that_level_and_a_missing_band_at_its_own(digits, floor):
    real, other = digits
    # the 7x7 level alone collapsed to the mean digit's, the real bands kept: the 7x7 numbers move most
    _, coarse = build_pyramid(other, 3)
    coarse_gone = level_scores(_with_level(other, coarse=coarse.mean(0, keepdim=True).expand_as(coarse)), real, MNIST)
    assert coarse_gone["level2_fid"] > 5 * floor["level2_fid"]
    assert coarse_gone["level2_coverage"] < floor["level2_coverage"] - 0.2
    # the other direction: the finest band dropped (a blurred image): level 0 is far off, the 7x7 level is not
    blurred = level_scores(_with_level(other, zero_band=0), real, MNIST)
    assert blurred["level0_fid"] > 10 * floor["level0_fid"]
    assert blurred["level2_fid"] < 3 * floor["level2_fid"] < coarse_gone["level2_fid"]
    assert blurred["level2_coverage"] > 0.85


def test_level0_is_the_image_fid_and_the_metric_is_named_not_auto(digits):
    real, other = digits
    values = evaluate(["fid", "level-fid"], other, real, MNIST)
    assert values["level0_fid"] == pytest.approx(values["fid"], rel=1e-6)
    assert "level-fid" not in resolve("auto", MNIST)  # two feature passes per level: only when named
    digits8 = SimpleNamespace(name="digits", kind="image", shape=(1, 8, 8), dim=64)
    with pytest.raises(ConfigError, match="does not apply"):  # 8 px cannot be halved into a pyramid
        resolve(["level-fid"], digits8)
