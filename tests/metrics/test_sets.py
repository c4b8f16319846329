"""Set distances (lecture 002) and the sliced Wasserstein distance, against closed forms both ways."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from scipy.stats import wasserstein_distance

from gankit.data.toy import gauss1d, ring8, swissroll
from gankit.errors import DataError
from gankit.metrics import METRICS, applicable, evaluate
from gankit.metrics.divergences import wasserstein_points
from gankit.metrics.sets import (
    SW_PROJECTIONS,
    nearest_distances,
    set_distance_metric,
    set_distances,
    sliced_directions,
    sliced_wasserstein,
    sliced_wasserstein_metric,
)


def _cloud(n: int, dim: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim))


# ----------------------------------------------------------------------------------------------------
# sliced Wasserstein
# ----------------------------------------------------------------------------------------------------


def test_sw_of_identical_sets_is_zero_and_of_different_sets_positive() -> None:
    x = _cloud(300, 2, 0)
    assert sliced_wasserstein(x, x) == 0.0
    assert sliced_wasserstein(x, x[::-1].copy()) == pytest.approx(0.0, abs=1e-12)  # order does not matter
    assert sliced_wasserstein(x, _cloud(300, 2, 1)) > 0.0


@pytest.mark.parametrize("n_fake,n_real", [(200, 200), (150, 320)])
def test_sw_in_1d_equals_exact_w1(n_fake: int, n_real: int) -> None:
    """In 1-D the directions are ±1 and every slice is the exact W1 (both code paths: equal and unequal sizes)."""
    x = _cloud(n_fake, 1, 2) * 2.0 + 0.5
    y = _cloud(n_real, 1, 3)
    exact = wasserstein_distance(x[:, 0], y[:, 0])
    assert sliced_wasserstein(x, y) == pytest.approx(exact, rel=1e-10)
    assert sliced_wasserstein(y, x) == pytest.approx(exact, rel=1e-10)


@pytest.mark.parametrize("dim", [2, 5])
@pytest.mark.parametrize("p", [1, 2])
def test_equal_size_fast_path_matches_pot(dim: int, p: int) -> None:
    import ot

    x, y = _cloud(400, dim, 4), _cloud(400, dim, 5) + 0.3
    proj = sliced_directions(dim)
    assert proj.shape == (dim, SW_PROJECTIONS)
    np.testing.assert_allclose(np.linalg.norm(proj, axis=0), 1.0, rtol=1e-12)
    ref = ot.sliced_wasserstein_distance(x, y, projections=proj, p=p)
    assert sliced_wasserstein(x, y, p=p) == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("theta", [0.5, -3.0])
def test_sw_of_a_shifted_copy_closed_form(theta: float) -> None:
    """Shift by t = (θ, 0): each slice is exactly |θ cos φ_k|, so SW_1 = mean_k |cos φ_k|·|θ| (E: 2|θ|/π)
    and SW_2 = sqrt(mean_k cos² φ_k)·|θ| (E: |θ|/√2); both lie in (0, |θ|] = (0, W1]."""
    x = _cloud(500, 2, 6)
    y = x + np.array([theta, 0.0])
    cos = sliced_directions(2)[0]  # (K,) cos φ_k of the directions actually used
    sw1 = sliced_wasserstein(x, y)
    assert sw1 == pytest.approx(np.mean(np.abs(cos)) * abs(theta), rel=1e-10)
    assert 0.0 < sw1 <= abs(theta)
    assert sw1 == pytest.approx(2.0 / math.pi * abs(theta), rel=0.05)  # Monte Carlo over 200 directions
    sw2 = sliced_wasserstein(x, y, p=2)
    assert sw2 == pytest.approx(math.sqrt(np.mean(cos**2)) * abs(theta), rel=1e-10)
    assert sw2 == pytest.approx(abs(theta) / math.sqrt(2.0), rel=0.05)
    assert sliced_wasserstein(x, y) == sliced_wasserstein(y, x)  # symmetric


def test_sw_is_at_most_w1_and_scales_linearly() -> None:
    x, y = _cloud(300, 2, 7), _cloud(300, 2, 8) * 0.5 + 1.0
    sw, w1 = sliced_wasserstein(x, y), wasserstein_points(x, y)
    assert 0.0 < sw <= w1  # every projection is 1-Lipschitz
    assert sliced_wasserstein(3.0 * x, 3.0 * y) == pytest.approx(3.0 * sw, rel=1e-10)


def test_sw_is_deterministic_and_moves_no_global_rng() -> None:
    x, y = _cloud(300, 3, 9), _cloud(250, 3, 10)
    np.random.seed(123)
    torch.manual_seed(123)
    np_state, torch_state = np.random.get_state()[1].copy(), torch.get_rng_state().clone()
    a, b = sliced_wasserstein(x, y), sliced_wasserstein(x, y)
    assert a == b
    assert np.array_equal(np.random.get_state()[1], np_state)
    assert torch.equal(torch.get_rng_state(), torch_state)


# ----------------------------------------------------------------------------------------------------
# nearest-point and chamfer distances (hand-made sets)
# ----------------------------------------------------------------------------------------------------

REAL = np.array([[0.0, 0.0], [1.0, 0.0]])
FAKE = np.array([[0.0, 0.5], [1.0, 0.5]])


def test_set_distances_hand_made() -> None:
    out = set_distances(FAKE, REAL)
    assert out["nearest_point"] == pytest.approx(0.5, abs=1e-15)
    assert out["chamfer"] == pytest.approx(0.5 + 0.5, abs=1e-15)  # mean 0.5 each way
    assert set_distances(REAL, FAKE) == out  # symmetric
    same = set_distances(REAL, REAL.copy())
    assert same == {"nearest_point": 0.0, "chamfer": 0.0}


def test_outlier_raises_chamfer_but_not_nearest_point() -> None:
    with_outlier = np.vstack([FAKE, [[10.0, 0.5]]])
    out = set_distances(with_outlier, REAL)
    far = math.hypot(9.0, 0.5)  # the outlier's nearest real point is (1, 0)
    assert out["nearest_point"] == pytest.approx(0.5, abs=1e-15)  # unchanged
    assert out["chamfer"] == pytest.approx((0.5 + 0.5 + far) / 3 + 0.5, rel=1e-14)  # raised
    assert out["chamfer"] > set_distances(FAKE, REAL)["chamfer"]
    assert set_distances(REAL, with_outlier) == out


def test_partial_overlap_zeroes_nearest_point_but_not_chamfer() -> None:
    """The lecture's objection to the nearest-point distance: sets that share one point are 'at 0'."""
    real = np.array([0.0, 1.0, 2.0, 3.0])
    fake = np.array([0.0, 10.0, 11.0, 12.0])
    out = set_distances(fake, real)
    assert out["nearest_point"] == 0.0
    # fakes -> nearest real: 0, 7, 8, 9 (mean 6); reals -> nearest fake: 0, 1, 2, 3 (mean 1.5)
    assert out["chamfer"] == pytest.approx(6.0 + 1.5, abs=1e-14)


@pytest.mark.parametrize("dim", [3, 12])
def test_nearest_distances_match_brute_force_in_low_and_high_dim(dim: int) -> None:
    """The k-d tree (dim <= 8) and blocked brute-force (dim > 8) paths agree with scipy's cdist."""
    x, y = _cloud(70, dim, 11), _cloud(90, dim, 12)
    y[5] = x[3]  # one coincident pair: exactly 0 on both paths
    ref = cdist(x, y).min(axis=1)
    got = nearest_distances(x, y)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=0.0)
    assert got[3] == 0.0
    out = set_distances(x, y)
    assert out["nearest_point"] == 0.0
    assert out["chamfer"] == pytest.approx(ref.mean() + cdist(y, x).min(axis=1).mean(), rel=1e-12)


def test_mismatched_dimensions_raise_data_error() -> None:
    with pytest.raises(DataError, match="dimension"):
        set_distances(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(DataError, match="dimension"):
        sliced_wasserstein(np.zeros((3, 2)), np.zeros((3, 3)))


# ----------------------------------------------------------------------------------------------------
# registry and cost
# ----------------------------------------------------------------------------------------------------


def test_registered_for_every_points_data_set_and_run_by_auto() -> None:
    for ds in (ring8(None), swissroll(None), gauss1d(None)):
        names = applicable(ds)
        assert "sliced-wasserstein" in names and "set-distance" in names
    ds = ring8(None)
    torch.manual_seed(0)
    fake = ds.sample(500).double().numpy()
    torch.manual_seed(1)
    real = ds.sample(500).double().numpy()
    out = evaluate(["auto"], fake, real, ds)
    assert {"sw", "nearest_point", "chamfer"} <= set(out)
    assert out["sw"] <= out["w1"]
    assert set(METRICS.get("sliced-wasserstein")(fake, real, ds)) == {"sw"}
    assert set(METRICS.get("set-distance")(fake, real, ds)) == {"nearest_point", "chamfer"}


def test_each_metric_is_fast_on_2500_points_in_2d() -> None:
    """evaluate("auto") runs both on every 2-D run: each must stay well under 0.3 s for 2,500 points."""
    x, y = _cloud(2500, 2, 13), _cloud(2500, 2, 14)
    for fn in (sliced_wasserstein_metric, set_distance_metric):
        fn(x, y, None)  # warm up (imports)
        best = math.inf
        for _ in range(3):
            t = time.perf_counter()
            fn(x, y, None)
            best = min(best, time.perf_counter() - t)
        assert best < 0.3, f"{fn.__name__} took {best:.3f} s"
