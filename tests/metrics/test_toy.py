"""Mode-coverage metric (docs/protocols.md "2-D mixtures"): hand-built cases and sampled mixtures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gankit.data.toy import GaussianMixture, bimodal1d, grid25, ring8, swissroll
from gankit.metrics.toy import assign_modes, mode_stats, modes_metric
from gankit.registry import METRICS

RING8 = ring8(None)
STD = RING8.mode_std  # 0.01


def test_ring8_means_are_the_protocol_ones() -> None:
    k = np.arange(8)
    expected = np.stack([np.cos(2 * np.pi * k / 8), np.sin(2 * np.pi * k / 8)], axis=1)
    np.testing.assert_allclose(RING8.modes, expected, atol=1e-15)
    assert STD == 0.01


def test_samples_at_every_mean_cover_all_modes_uniformly() -> None:
    fake = np.repeat(RING8.modes, 10, axis=0)  # (80, 2), 10 on each mean
    out = mode_stats(fake, RING8.modes, STD)
    assert out["modes"] == 8.0
    assert out["hq"] == 100.0
    assert abs(out["mode_kl"]) <= 1e-12


def test_all_samples_on_one_mean_is_total_collapse() -> None:
    fake = np.repeat(RING8.modes[3:4], 50, axis=0)
    out = mode_stats(fake, RING8.modes, STD)
    assert out["modes"] == 1.0
    assert out["hq"] == 100.0
    assert out["mode_kl"] == pytest.approx(math.log(8), abs=1e-12)


def test_samples_off_the_ring_are_not_high_quality() -> None:
    angles = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    fake = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)  # radius 2: 1.0 from every mean
    out = mode_stats(fake, RING8.modes, STD)
    assert out["modes"] == 0.0
    assert out["hq"] == 0.0
    assert out["mode_kl"] == pytest.approx(math.log(8), abs=1e-12)  # documented: no HQ = total collapse


@pytest.mark.parametrize("direction", [np.array([1.0, 0.0]), np.array([0.6, -0.8]), np.array([-1.0, 0.0])])
def test_three_std_boundary_both_sides(direction: np.ndarray) -> None:
    mean = RING8.modes[2]
    inside = mean + 2.9 * STD * direction
    outside = mean + 3.1 * STD * direction
    assert mode_stats(inside[None], RING8.modes, STD) == {"modes": 1.0, "hq": 100.0,
                                                          "mode_kl": pytest.approx(math.log(8))}
    assert mode_stats(outside[None], RING8.modes, STD)["hq"] == 0.0
    assert mode_stats(outside[None], RING8.modes, STD)["modes"] == 0.0
    _, hq = assign_modes(np.stack([inside, outside]), RING8.modes, STD)
    assert hq.tolist() == [True, False]


def test_a_sample_belongs_to_its_nearest_mean_only() -> None:
    # 1-D means 0 and 0.05, std 0.01: x = 0.029 is 2.9 std from mean 0 but nearer mean 1 (2.1 std).
    means = np.array([[0.0], [0.05]])
    nearest, hq = assign_modes(np.array([[0.029]]), means, 0.01)
    assert nearest.tolist() == [1] and hq.tolist() == [True]
    # x = -0.029 is nearest mean 0; x = 0.1 is nearest mean 1 but 5 std away, so not HQ.
    out = mode_stats(np.array([[-0.029], [0.1]]), means, 0.01)
    assert out["modes"] == 1.0 and out["hq"] == 50.0


def test_half_high_quality_is_fifty_percent() -> None:
    good = np.repeat(RING8.modes, 5, axis=0)  # 40 HQ, 5 per mode
    bad = np.zeros((40, 2))  # the centre: 1.0 from every mean
    out = mode_stats(np.concatenate([good, bad]), RING8.modes, STD)
    assert out["hq"] == 50.0
    assert out["modes"] == 8.0
    assert abs(out["mode_kl"]) <= 1e-12  # the non-HQ samples do not enter the histogram


def test_uneven_histogram_gives_hand_computed_kl() -> None:
    # 3 HQ samples on mode 0, 1 on mode 5, nothing elsewhere: h = (3/4, 0, 0, 0, 0, 1/4, 0, 0).
    fake = RING8.modes[[0, 0, 0, 5]] + np.array([[0.01, 0.0], [0.0, 0.02], [-0.02, 0.0], [0.0, 0.0]])
    out = mode_stats(fake, RING8.modes, STD)
    by_hand = 0.75 * math.log(8 * 0.75) + 0.25 * math.log(8 * 0.25)  # Σ h log(h / (1/8)), 0 log 0 = 0
    entropy = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert out["mode_kl"] == pytest.approx(by_hand, abs=1e-12)
    assert out["mode_kl"] == pytest.approx(math.log(8) - entropy, abs=1e-12)
    assert out["modes"] == 2.0 and out["hq"] == 100.0
    # and the other direction: moving one sample to a third mode lowers the KL
    fake[1] = RING8.modes[7]
    assert mode_stats(fake, RING8.modes, STD)["mode_kl"] < by_hand


# Probability that an isotropic 2-D Gaussian sample lies within 3 std of its mean: the squared radius
# over std² is chi-square with 2 degrees of freedom, P(R² <= 9) = 1 - exp(-9/2) = 0.98889
# (not the 1-D 99.73 %). Neighbouring means are 40 (grid25) and 77 (ring8) std apart, so the nearest
# mean is the sample's own one with probability 1 - O(1e-300).
HQ_2D = 100.0 * (1.0 - math.exp(-4.5))


@pytest.mark.parametrize("make", [grid25, ring8])
def test_real_samples_cover_every_mode_at_the_chi2_rate(make) -> None:
    ds = make(None)
    torch.manual_seed(0)
    n = 10_000
    real = ds.sample(n).double().numpy()
    out = mode_stats(real, ds.modes, ds.mode_std)
    assert out["modes"] == float(len(ds.modes))
    se = 100.0 * math.sqrt(HQ_2D / 100 * (1 - HQ_2D / 100) / n)  # 0.105 percentage points
    assert abs(out["hq"] - HQ_2D) < 4 * se, (out["hq"], HQ_2D)
    assert out["hq"] < 99.7 - 4 * se  # the 1-D 3-sigma figure would be wrong in 2-D
    # Multinomial noise only: E[KL] ≈ (M - 1) / (2 n_hq), ~1.2e-3 for grid25.
    assert 0.0 <= out["mode_kl"] < 5 * (len(ds.modes) - 1) / (2 * n)


def test_one_dimensional_mixture_and_torch_input() -> None:
    ds = bimodal1d(None)  # means -2, 2, std 0.5
    fake = torch.tensor([-2.0, -1.0, 2.0, 3.6, 0.0])  # 1-D tensor: 5 points in 1-D
    out = modes_metric(fake, np.zeros((1, 1)), ds)
    # -2 (0 std), -1 (2 std), 2 (0 std) are HQ; 3.6 (3.2 std) and 0 (4 std) are not.
    assert out["hq"] == pytest.approx(60.0)
    assert out["modes"] == 2.0
    assert out["mode_kl"] == pytest.approx((2 / 3) * math.log(4 / 3) + (1 / 3) * math.log(2 / 3), abs=1e-12)


def test_modes_metric_is_registered_for_mixtures_only() -> None:
    applies = METRICS.meta("modes")["applies"]
    assert applies(RING8) and applies(grid25(None)) and applies(bimodal1d(None))
    assert not applies(swissroll(None))
    assert METRICS.describe("modes")
    fake = np.repeat(RING8.modes[:4], 3, axis=0)
    assert METRICS.get("modes")(fake, fake, RING8) == mode_stats(fake, RING8.modes, STD)


def test_mode_stats_rejects_mismatched_dimensions() -> None:
    with pytest.raises(ValueError, match="dimension"):
        mode_stats(np.zeros((4, 3)), RING8.modes, STD)
    with pytest.raises(ValueError, match="positive"):
        mode_stats(np.zeros((4, 2)), RING8.modes, 0.0)


def test_custom_mixture() -> None:
    ds = GaussianMixture("two", np.array([[0.0, 0.0], [10.0, 0.0]]), 1.0)
    fake = np.array([[0.5, 0.5], [9.0, 0.0], [5.0, 0.0]])  # HQ, HQ, midway (5 std): not HQ
    out = mode_stats(fake, ds.modes, ds.mode_std)
    assert out == {"modes": 2.0, "hq": pytest.approx(200 / 3), "mode_kl": pytest.approx(0.0, abs=1e-12)}
