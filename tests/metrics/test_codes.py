"""Code-to-prior distance: the unbiased MMD² against closed forms and a direct O(n²) formula, its permutation
p-value both ways, the W1 parts, the errors bad input gets, and the ``code-prior`` metric's plumbing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist

from gankit.errors import DataError
from gankit.metrics import METRICS, applicable, evaluate
from gankit.metrics.codes import (
    CODE_POINTS,
    code_prior_distance,
    gaussian_kernel,
    has_codes,
    median_bandwidth,
    mmd2_unbiased,
    mmd_test,
)
from gankit.metrics.divergences import wasserstein_points
from gankit.metrics.sets import sliced_wasserstein


def _normal(n: int, dim: int, seed: int, shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)) + shift


def _mmd2_by_loops(x: np.ndarray, y: np.ndarray, h: float) -> float:
    """MMD²_u term by term, straight from its definition."""
    k = lambda a, b: math.exp(-float(np.sum((a - b) ** 2)) / (2 * h * h))  # noqa: E731
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd2_agrees_with_the_direct_formula_and_a_closed_form():
    x, y = _normal(17, 3, 0), _normal(23, 3, 1, shift=0.4)
    for h in (0.5, 1.7):
        assert mmd2_unbiased(x, y, h) == pytest.approx(_mmd2_by_loops(x, y, h), rel=1e-10, abs=1e-13)
        assert mmd_test(x, y, permutations=5, bandwidth=h).mmd2 == pytest.approx(_mmd2_by_loops(x, y, h), rel=1e-10)
    # two copies of one point against two of another, t apart: 1 + 1 − 2 exp(−t²/(2h²))
    t, h = 1.3, 0.8
    x2, y2 = np.zeros((2, 1)), np.full((2, 1), t)
    assert mmd2_unbiased(x2, y2, h) == pytest.approx(2 - 2 * math.exp(-t * t / (2 * h * h)), rel=1e-12)
    # a set against itself: the unbiased estimate drops the diagonal within but not across, so it is
    # 2(S − m)/(m(m−1)) − 2S/m² < 0, with S the sum of the full kernel matrix
    s = float(gaussian_kernel(torch.as_tensor(x), torch.as_tensor(x), 1.0).sum())
    m = len(x)
    assert mmd2_unbiased(x, x, 1.0) == pytest.approx(2 * (s - m) / (m * (m - 1)) - 2 * s / m**2, rel=1e-12)


def test_median_bandwidth_is_the_median_pairwise_distance():
    z = _normal(41, 4, 2)
    assert median_bandwidth(torch.as_tensor(z)) == pytest.approx(float(np.median(pdist(z))), rel=1e-12)
    assert median_bandwidth(torch.zeros(5, 2, dtype=torch.float64)) == 1.0  # all equal: no scale, MMD² is 0 anyway


def test_permutation_p_value_matches_splits_scored_one_by_one():
    x, y = _normal(12, 2, 3), _normal(15, 2, 4, shift=0.3)
    test = mmd_test(x, y, permutations=40, seed=9)
    z = np.concatenate([x, y])
    gen = torch.Generator().manual_seed(9)  # the same splits as mmd_test draws
    stats = []
    for _ in range(40):
        inside = np.zeros(len(z), bool)
        inside[torch.randperm(len(z), generator=gen)[: len(x)].numpy()] = True
        stats.append(_mmd2_by_loops(z[inside], z[~inside], test.bandwidth))
    assert test.p_value == pytest.approx((1 + sum(s >= test.mmd2 - 1e-12 for s in stats)) / 41)


def test_same_distribution_gives_mmd_near_zero_and_a_large_p_shifted_gives_a_small_p():
    same = mmd_test(_normal(400, 2, 5), _normal(400, 2, 6), seed=1)
    assert abs(same.mmd2) < 3e-3 and same.p_value > 0.1
    shifted = mmd_test(_normal(400, 2, 5), _normal(400, 2, 6, shift=0.5), seed=1)
    assert shifted.mmd2 > 10 * abs(same.mmd2) and shifted.p_value == pytest.approx(1 / 201)
    # under H0 the p-value is about uniform: over 30 pairs of samples, about 30 % fall below 0.3
    ps = [mmd_test(_normal(60, 2, 100 + i), _normal(60, 2, 200 + i), permutations=50, seed=i).p_value
          for i in range(30)]
    assert 3 <= sum(p < 0.3 for p in ps) <= 17


def test_code_prior_distance_reports_mmd_and_both_wasserstein_distances():
    x, y = _normal(300, 2, 7), _normal(300, 2, 8, shift=1.0)
    d = code_prior_distance(x, y)
    assert d["code_sw"] == pytest.approx(sliced_wasserstein(x, y))
    assert d["code_w1"] == pytest.approx(wasserstein_points(x, y))
    assert d["code_w1"] > 1.0 > d["code_sw"] > 0.4  # shift (1, 1): W1 ≈ √2, sliced ≈ mean |cos| · √2
    assert d["code_mmd2_n"] == 300 and d["code_mmd_p"] < 0.01
    eight = code_prior_distance(_normal(200, 8, 9), _normal(200, 8, 10))
    assert "code_w1" not in eight and eight["code_mmd_p"] > 0.05  # 8-D: sliced only


@pytest.mark.parametrize("x, y, message", [
    (np.zeros((10, 2)), np.zeros((10, 3)), "codes have dimension 2 but prior samples have 3"),
    (np.zeros((1, 2)), np.zeros((10, 2)), "codes must have shape"),
    (np.full((10, 2), np.nan), np.zeros((10, 2)), "codes contain NaN"),
    (np.zeros(10), np.zeros((10, 1)), "codes must have shape"),
])
def test_bad_samples_get_one_clear_error(x, y, message):
    with pytest.raises(DataError, match=message):
        code_prior_distance(x, y)


class _Coded:
    """A stand-in auto-encoder run: codes N(shift, I) against a N(0, I) prior."""

    def __init__(self, shift: float) -> None:
        self.shift, self.calls = shift, []

    def code_samples(self, dataset, n, seed):
        self.calls.append(n)
        return torch.as_tensor(_normal(n, 2, seed, self.shift)), torch.as_tensor(_normal(n, 2, seed + 1))


def test_code_prior_metric_needs_a_net_with_codes(tiny):
    from gankit.data import build_dataset

    ds = build_dataset(tiny().data)
    assert "code-prior" not in applicable(ds) and "code-prior" not in applicable(ds, net=torch.nn.Linear(2, 2))
    assert "code-prior" in applicable(ds, net=_Coded(0.0)) and has_codes(_Coded(0.0))
    fake, real = _normal(300, 2, 0), _normal(300, 2, 1)
    near, far = _Coded(0.0), _Coded(1.0)
    a = evaluate(["code-prior"], fake, real, ds, net=near)
    b = evaluate(["code-prior"], fake, real, ds, net=far)
    assert near.calls == [300] and a["code_mmd_p"] > 0.05 > b["code_mmd_p"] and b["code_w1"] > a["code_w1"]
    big = _Coded(0.0)
    METRICS.get("code-prior")(np.zeros((CODE_POINTS + 5, 2)), None, ds, net=big)
    assert big.calls == [CODE_POINTS]
    with pytest.raises(DataError, match="needs an auto-encoder run"):
        METRICS.get("code-prior")(fake, real, ds, net=None)
