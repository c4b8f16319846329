"""Image metrics on features: closed forms and known values both ways, bootstrap, registry and "auto"."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from gankit.data.toy import ring8
from gankit.errors import ConfigError, DataError
from gankit.metrics import METRICS, applicable, evaluate
from gankit.metrics import features as F
from gankit.metrics import images as I


def _gauss(n: int, mu, var, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.asarray(mu) + rng.standard_normal((n, len(mu))) * np.sqrt(var)


def _fd_eig(mu1, s1, mu2, s2) -> float:
    """Fréchet distance with tr (Σ1 Σ2)^{1/2} = Σ √λ(Σ1^{1/2} Σ2 Σ1^{1/2}) (symmetric PSD: no sqrtm)."""
    w, v = np.linalg.eigh(s1)
    r = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    lam = np.clip(np.linalg.eigvalsh(r @ s2 @ r), 0, None)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(lam).sum())


# ----------------------------------------------------------------------------------------------------
# Fréchet distance
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_fid_of_a_set_with_itself_is_zero_and_a_shift_gives_its_squared_length(scale: float) -> None:
    x = _gauss(400, np.zeros(16), np.linspace(0.5, 2, 16), 0) * scale
    total_var = float(np.trace(np.cov(x, rowvar=False)))
    assert I.fid_from_features(x, x) <= 1e-6 * total_var
    # a shifted copy has the same covariance: FID = ||t||² exactly
    t = np.full(16, 0.25 * scale)
    assert I.fid_from_features(x, x + t) == pytest.approx(float(t @ t), rel=1e-8, abs=1e-9 * total_var)
    assert I.fid_from_features(x, x + t) > 1e3 * I.fid_from_features(x, x)


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians() -> None:
    mu1, mu2 = np.array([0.0, 1.0, -2.0, 0.5]), np.array([1.0, 1.0, 0.0, -0.5])
    v1, v2 = np.array([1.0, 4.0, 0.25, 2.0]), np.array([4.0, 1.0, 0.25, 0.5])
    closed = float(np.sum((mu1 - mu2) ** 2) + np.sum(v1 + v2 - 2 * np.sqrt(v1 * v2)))  # = 6 + 1 + 1 + 0 + 0.5
    assert closed == pytest.approx(8.5, abs=1e-12)
    assert I.frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(closed, rel=1e-8)
    assert I.frechet_distance(mu1, np.diag(v1), mu1, np.diag(v1)) == pytest.approx(0.0, abs=1e-12)
    # from samples: the mean term's error has std 2 sqrt(Σ Δμ² (v1 + v2) / n) ≈ 0.04 and the covariance
    # term's error is O(Σ (v1 + v2) sqrt(2 / n)) ≈ 0.1, bias O(D/n); 0.3 covers both at n = 20,000
    n = 20_000
    f1, f2 = _gauss(n, mu1, v1, 1), _gauss(n, mu2, v2, 2)
    assert abs(I.fid_from_features(f1, f2) - closed) < 0.3
    assert I.fid_from_features(f1, _gauss(n, mu1, v1, 3)) < 0.05  # same Gaussian: only the O(D/n) bias


def test_frechet_distance_with_full_covariances_matches_the_symmetric_form() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((8, 8)), rng.standard_normal((8, 8))
    s1, s2 = a @ a.T + 0.1 * np.eye(8), b @ b.T + 0.1 * np.eye(8)
    mu1, mu2 = rng.standard_normal(8), rng.standard_normal(8)
    assert I.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_fd_eig(mu1, s1, mu2, s2), rel=1e-8)
    # symmetric in its arguments, and 1-D is the scalar formula (μ1 − μ2)² + (σ1 − σ2)²
    assert I.frechet_distance(mu2, s2, mu1, s1) == pytest.approx(I.frechet_distance(mu1, s1, mu2, s2), rel=1e-8)
    assert I.frechet_distance(1.0, 4.0, 3.0, 9.0) == pytest.approx(4.0 + 1.0, rel=1e-12)


def test_singular_covariances_are_handled() -> None:
    # a dimension without variance in both sets, and one without variance in one set only
    v1, v2 = np.array([1.0, 0.0, 2.0]), np.array([4.0, 0.0, 0.0])
    closed = float(np.sum(v1 + v2 - 2 * np.sqrt(v1 * v2)))  # 1 + 0 + 2
    assert I.frechet_distance(np.zeros(3), np.diag(v1), np.zeros(3), np.diag(v2)) == pytest.approx(closed, rel=1e-6)
    disjoint = I.frechet_distance(np.zeros(2), np.diag([1.0, 0.0]), np.zeros(2), np.diag([0.0, 1.0]))
    assert disjoint == pytest.approx(2.0, rel=1e-6)  # Σ1 Σ2 = 0
    # features with a constant column, and fewer samples than dimensions (rank-deficient covariances)
    x = _gauss(300, np.zeros(4), np.array([1.0, 1.0, 1.0, 0.0]), 5)
    y = _gauss(300, np.ones(4), np.array([2.0, 1.0, 1.0, 0.0]), 6)
    for f1, f2 in ((x, y), (_gauss(10, np.zeros(40), np.ones(40), 7), _gauss(12, np.ones(40), np.ones(40), 8))):
        (m1, s1), (m2, s2) = I.feature_stats(f1), I.feature_stats(f2)
        assert np.isfinite(I.fid_from_features(f1, f2))
        assert I.fid_from_features(f1, f2) == pytest.approx(_fd_eig(m1, s1, m2, s2), rel=1e-5)


def test_fid_input_errors() -> None:
    # not PSD: (Σ1 Σ2)^{1/2} = diag(1, i), an imaginary part that is no rounding error
    with pytest.raises(DataError, match="imaginary"):
        I.frechet_distance(np.zeros(2), np.diag([1.0, -1.0]), np.zeros(2), np.eye(2))
    with pytest.raises(DataError, match="covariances"):
        I.frechet_distance(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(DataError, match="dimension"):
        I.fid_from_features(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(DataError, match="N >= 2"):
        I.fid_from_features(np.zeros((1, 2)), np.zeros((5, 2)))
    with pytest.raises(DataError, match="NaN"):
        I.fid_from_features(np.full((3, 2), np.nan), np.zeros((5, 2)))


# ----------------------------------------------------------------------------------------------------
# Inception score
# ----------------------------------------------------------------------------------------------------


def test_inception_score_known_values() -> None:
    k = 10
    onehot = np.eye(k)[np.arange(1000) % k]  # confident and evenly spread in every split
    mean, std = I.inception_score(onehot, splits=10)
    assert mean == pytest.approx(k, rel=1e-12) and std == pytest.approx(0.0, abs=1e-12)
    same = np.tile([0.7, 0.2, 0.1], (500, 1))  # identical predictions: p(y|x) = p(y)
    assert I.inception_score(same, splits=5) == pytest.approx((1.0, 0.0), abs=1e-12)
    # two classes, half the samples [0.9, 0.1], half [0.1, 0.9]: p(y) = [0.5, 0.5]
    p = np.array([[0.9, 0.1], [0.1, 0.9]] * 50)
    expected = math.exp(0.9 * math.log(1.8) + 0.1 * math.log(0.2))
    assert I.inception_score(p, splits=1)[0] == pytest.approx(expected, rel=1e-12)
    # collapse onto one of K classes scores 1, onto half of them K/2
    assert I.inception_score(np.eye(k)[np.zeros(100, int)], splits=2)[0] == pytest.approx(1.0)
    assert I.inception_score(np.eye(k)[np.arange(100) % 5], splits=2)[0] == pytest.approx(5.0)


def test_inception_score_errors() -> None:
    with pytest.raises(DataError, match="summing to 1"):
        I.inception_score(np.random.default_rng(0).standard_normal((20, 3)), splits=2)  # logits: rows summing
    with pytest.raises(DataError, match="splits"):
        I.inception_score(np.eye(3), splits=10)


# ----------------------------------------------------------------------------------------------------
# KID
# ----------------------------------------------------------------------------------------------------


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Textbook unbiased MMD² with k(a, b) = (a·b / d + 1)³, double loops over the pairs."""
    d, m = x.shape[1], len(x)
    k = lambda a, b: (a @ b / d + 1.0) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return (xx + yy) / (m * (m - 1)) - 2 * xy / m**2


def test_kid_is_the_unbiased_mmd_with_the_cubic_kernel() -> None:
    x, y = _gauss(25, np.zeros(3), np.ones(3), 0), _gauss(25, np.full(3, 0.5), np.ones(3), 1)
    # subsets of the full size are permutations of the sets, on which MMD²_u does not depend
    mean, std = I.kid(x, y, subsets=3, subset_size=25)
    assert mean == pytest.approx(_mmd2_unbiased(x, y), rel=1e-10) and std == pytest.approx(0.0, abs=1e-10)


def test_kid_near_zero_for_one_distribution_and_positive_for_a_shift() -> None:
    var = np.linspace(0.5, 2.0, 8)
    x, y = _gauss(2000, np.zeros(8), var, 0), _gauss(2000, np.zeros(8), var, 1)
    same, same_std = I.kid(x, y, subsets=20, subset_size=500)
    shifted, _ = I.kid(x, y + 0.5, subsets=20, subset_size=500)
    assert abs(same) < 3 * same_std + 1e-3  # unbiased: may be slightly negative
    assert shifted > 0.05 and shifted > 20 * abs(same)
    assert I.kid(x, y, subsets=20, subset_size=500) == (same, same_std)  # private seeded RNG
    with pytest.raises(DataError, match="N >= 2"):
        I.kid(x[:1], y)
    with pytest.raises(DataError, match="at least 2 rows"):
        I.kid(x, y, subset_size=1)


# ----------------------------------------------------------------------------------------------------
# precision / recall, density / coverage
# ----------------------------------------------------------------------------------------------------


def _manifold_brute(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    drr, dff, dfr = cdist(real, real), cdist(fake, fake), cdist(fake, real)
    rr = np.sort(drr, axis=1)[:, k]  # column 0 is the point itself
    rf = np.sort(dff, axis=1)[:, k]
    inside = dfr <= rr[None, :]
    return {
        "precision": float(inside.any(axis=1).mean()),
        "recall": float((dfr <= rf[:, None]).any(axis=0).mean()),
        "density": float(inside.sum() / (k * len(fake))),
        "coverage": float((dfr.min(axis=0) <= rr).mean()),
    }


def test_known_small_cases_in_one_dimension() -> None:
    real = np.array([[0.0], [1.0], [2.0], [3.0]])  # k = 1: every real ball has radius 1
    assert I.density_coverage(real, np.array([[0.5]]), k=1) == pytest.approx((2.0, 0.5))  # in 2 balls; near 0, 1
    assert I.density_coverage(real, np.array([[10.0]]), k=1) == (0.0, 0.0)
    assert I.density_coverage(real, real, k=1) == pytest.approx((10 / 4, 1.0))  # ball counts 2 + 3 + 3 + 2
    # an outlier fake (10) gives 0.5 a huge fake ball (radius 9.5) that swallows every real: recall 1
    # although the fakes are mostly wrong — the flaw that density/coverage fix (coverage 0.5)
    fake = np.array([[0.5], [10.0], [10.5]])
    assert I.precision_recall(real, fake, k=1) == pytest.approx((1 / 3, 1.0))
    assert I.density_coverage(real, fake, k=1) == pytest.approx((2 / 3, 0.5))
    with pytest.raises(DataError, match="more than k = 5"):
        I.precision_recall(real, fake, k=5)


def test_identical_sets_and_one_cluster_of_two() -> None:
    rng = np.random.default_rng(0)
    centres = np.zeros((2, 3))
    centres[1, 0] = 20.0
    real = centres[rng.integers(0, 2, 600)] + rng.standard_normal((600, 3))
    assert I.precision_recall(real, real) == (1.0, 1.0)
    density, coverage = I.density_coverage(real, real)
    assert coverage == 1.0 and density >= 1.0
    honest = centres[rng.integers(0, 2, 600)] + rng.standard_normal((600, 3))  # the real distribution
    fake = centres[0] + rng.standard_normal((600, 3))  # one mode of two: good samples, half the variety
    p_honest, r_honest = I.precision_recall(real, honest)
    p_fake, r_fake = I.precision_recall(real, fake)
    assert p_honest > 0.9 and r_honest > 0.9
    assert p_fake > p_honest - 0.03 and r_fake < 0.5  # precision stays high, recall halves
    d_honest, c_honest = I.density_coverage(real, honest)
    d_fake, c_fake = I.density_coverage(real, fake)
    assert 0.9 < d_honest < 1.1 and 0.9 < d_fake < 1.1  # each fake sits in ~k real balls either way
    assert c_honest > 0.9 and c_fake < 0.5


def test_blocked_neighbours_match_brute_force_distances() -> None:
    rng = np.random.default_rng(1)
    real, fake = rng.standard_normal((700, 5)), rng.standard_normal((650, 5)) * 1.2 + 0.2  # > one block
    for k in (3, 5):
        ref = _manifold_brute(real, fake, k)
        assert I.precision_recall(real, fake, k) == pytest.approx((ref["precision"], ref["recall"]), abs=1e-12)
        assert I.density_coverage(real, fake, k) == pytest.approx((ref["density"], ref["coverage"]), abs=1e-12)


# ----------------------------------------------------------------------------------------------------
# Stacked MNIST modes, conditional accuracy
# ----------------------------------------------------------------------------------------------------


def test_mode_histogram_kl_known_values() -> None:
    assert I.mode_histogram_kl(np.arange(26_000) % 1000) == (1000, pytest.approx(0.0, abs=1e-12))
    modes, kl = I.mode_histogram_kl(np.full(26_000, 7))
    assert modes == 1 and kl == pytest.approx(math.log(1000), rel=1e-12) and round(kl, 2) == 6.91
    assert I.mode_histogram_kl(np.arange(1000) % 2, 1000) == (2, pytest.approx(math.log(500)))
    digits = np.array([[1, 2, 3], [0, 0, 9], [9, 9, 9]])
    np.testing.assert_array_equal(I.digits_to_modes(digits), [123, 9, 999])
    with pytest.raises(DataError, match="0..999"):
        I.mode_histogram_kl(np.array([1000]))
    with pytest.raises(DataError, match="whole numbers"):
        I.mode_histogram_kl(np.array([1.5]))
    with pytest.raises(DataError, match="values in 0..9"):
        I.digits_to_modes(np.array([[1, 10, 3]]))


def test_conditional_accuracy() -> None:
    probs = np.eye(4)[[0, 1, 2, 3, 0, 1, 2, 3]] * 0.7 + 0.075
    target = np.array([0, 1, 2, 3, 1, 1, 1, 1])  # 5 of 8 match
    assert I.conditional_accuracy(probs, target) == 5 / 8
    assert I.conditional_accuracy(np.array([0, 1, 2]), [0, 1, 1]) == 2 / 3  # predicted labels given directly
    with pytest.raises(DataError, match="target labels"):
        I.conditional_accuracy(probs, target[:3])


# ----------------------------------------------------------------------------------------------------
# bootstrap
# ----------------------------------------------------------------------------------------------------


def test_bootstrap_ci_contains_the_estimate_and_shrinks_with_n() -> None:
    rng = np.random.default_rng(0)
    small, large = rng.standard_normal(100), rng.standard_normal(1600)
    lo_s, hi_s = I.bootstrap_ci(np.mean, small, n_boot=300)
    lo_l, hi_l = I.bootstrap_ci(np.mean, large, n_boot=300)
    assert lo_s < small.mean() < hi_s and lo_l < large.mean() < hi_l
    assert 2.5 < (hi_s - lo_s) / (hi_l - lo_l) < 6.0  # width ~ 1/sqrt(n): ratio ~4
    assert hi_s - lo_s == pytest.approx(2 * 1.96 / math.sqrt(100), rel=0.25)
    assert I.bootstrap_ci(np.mean, small, n_boot=300) == (lo_s, hi_s)  # seeded
    # FID (biased replicates): the centred interval holds the estimate and narrows with n
    widths = []
    for n in (300, 3000):
        f1 = _gauss(n, np.zeros(4), np.ones(4), 1)
        f2 = _gauss(n, np.full(4, 0.5), np.ones(4), 2)
        fid = I.fid_from_features(f1, f2)
        lo, hi = I.bootstrap_ci(I.fid_from_features, f1, f2, n_boot=50, centered=True)
        assert lo < fid < hi
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 2


def test_bootstrap_ci_paired_and_errors() -> None:
    pred = np.array([0, 1, 1, 0, 1, 1, 0, 0, 1, 1])
    target = np.array([0, 1, 0, 0, 1, 1, 1, 0, 1, 1])
    lo, hi = I.bootstrap_ci(I.conditional_accuracy, pred, target, paired=True, n_boot=200)
    assert 0.0 <= lo <= 0.8 <= hi <= 1.0
    with pytest.raises(DataError, match="one length"):
        I.bootstrap_ci(I.conditional_accuracy, pred, target[:5], paired=True)
    with pytest.raises(DataError, match="n_boot"):
        I.bootstrap_ci(np.mean, pred, n_boot=1)
    with pytest.raises(DataError, match="alpha"):
        I.bootstrap_ci(np.mean, pred, alpha=1.5)


# ----------------------------------------------------------------------------------------------------
# registered metrics and evaluate()
# ----------------------------------------------------------------------------------------------------

IMAGE_KEYS = {
    "fid": {"fid", "fid_low", "fid_high", "fid_n"},
    "inception-score": {"is", "is_std", "is_low", "is_high", "is_n"},
    "kid": {"kid", "kid_std", "kid_low", "kid_high", "kid_n"},
    "precision-recall": {"pr_n"} | {f"{m}{s}" for m in ("precision", "recall", "density", "coverage")
                                     for s in ("", "_low", "_high")},
}


class _ImageSet:
    kind = "image"

    def __init__(self, name: str = "test-images") -> None:
        self.name = name
        self.shape = (1, 8, 8)
        self.dim = 64


def _dummy_extractor(images: torch.Tensor):
    """2x2-pooled pixels (16 features) and a softmax over 10 classes of fixed projections."""
    feats = torch.nn.functional.avg_pool2d(images, 2).flatten(1).double()
    w = torch.linspace(-3, 3, 16 * 10, dtype=torch.float64).reshape(16, 10).sin()
    return feats, torch.softmax(feats @ w * 4, dim=1)


@pytest.fixture
def image_set():
    ds = _ImageSet()
    F.register_extractor("test-dummy", _dummy_extractor, datasets=[ds.name], batch_size=128)
    yield ds
    F.unregister_extractor("test-dummy")


def _imgs(n: int, seed: int, shift: float = 0.0) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    x = torch.tanh(torch.randn((n, 1, 8, 8), generator=g) * 0.5 + shift)
    return x.reshape(n, 64).double().numpy()  # evaluate() takes (N, C*H*W) rows


def test_image_metrics_are_registered_and_apply_only_to_images_with_an_extractor(image_set) -> None:
    assert set(IMAGE_KEYS) <= set(METRICS.names())
    assert set(IMAGE_KEYS) <= set(applicable(image_set))
    assert not set(applicable(_ImageSet("no-extractor"))) & set(IMAGE_KEYS)  # no extractor: no image metric
    with pytest.raises(ConfigError, match="'fid' does not apply"):
        evaluate(["fid"], _imgs(20, 0), _imgs(20, 1), _ImageSet("no-extractor"))
    F.register_extractor("test-noprobs", lambda x: (x.flatten(1), None), datasets=["noprobs"], gives_probs=False)
    try:
        names = set(applicable(_ImageSet("noprobs")))  # no class probabilities: no Inception score
        assert {"fid", "kid", "precision-recall"} <= names and "inception-score" not in names
    finally:
        F.unregister_extractor("test-noprobs")


def test_the_inception_score_called_on_features_without_probabilities_is_one_line() -> None:
    F.register_extractor("test-noprobs", lambda x: (x.flatten(1), None), datasets=["noprobs"], gives_probs=False)
    try:
        with pytest.raises(ConfigError, match="inception-score needs class probabilities.*'noprobs' gives none"):
            I.inception_score_metric(_imgs(20, 0), _imgs(20, 1), _ImageSet("noprobs"))
    finally:
        F.unregister_extractor("test-noprobs")


def test_auto_on_a_points_data_set_has_no_image_metric_even_with_an_extractor_named_for_it() -> None:
    ds = ring8(None)
    before = applicable(ds)
    assert not set(before) & set(IMAGE_KEYS)
    torch.manual_seed(0)
    fake = ds.sample(300).double().numpy()
    torch.manual_seed(1)
    real = ds.sample(300).double().numpy()
    keys = set(evaluate(["auto"], fake, real, ds))
    F.register_extractor("test-ring8", lambda x: (x.flatten(1), None), datasets=["ring8"], gives_probs=False)
    try:
        assert applicable(ds) == before  # kind == "points": never image metrics
        assert set(evaluate(["auto"], fake, real, ds)) == keys
    finally:
        F.unregister_extractor("test-ring8")
    assert not keys & set().union(*IMAGE_KEYS.values())


def test_evaluate_fid_and_auto_with_a_dummy_extractor(image_set, monkeypatch) -> None:
    monkeypatch.setattr(I, "KID_SUBSETS", 10)
    monkeypatch.setattr(I, "KID_SUBSET_SIZE", 200)
    fake, real = _imgs(600, 0), _imgs(600, 1)
    out = evaluate(["fid"], fake, real, image_set)
    assert set(out) == IMAGE_KEYS["fid"] and all(type(v) is float for v in out.values())
    assert out["fid_n"] == 600.0 and 0.0 <= out["fid_low"] <= out["fid"] <= out["fid_high"]
    auto = evaluate(["auto"], fake, real, image_set)
    assert set().union(*IMAGE_KEYS.values()) <= set(auto)
    assert auto["fid"] == out["fid"]
    assert auto["is_n"] == auto["kid_n"] == auto["pr_n"] == 600.0
    assert 1.0 <= auto["is"] <= 10.0 and auto["is_low"] <= auto["is"] <= auto["is_high"]
    for m in ("precision", "recall", "coverage"):
        assert 0.0 <= auto[f"{m}_low"] <= auto[m] <= auto[f"{m}_high"] <= 1.0
    # the same distribution scores close to the floor, a shifted one far worse
    shifted = evaluate(["fid", "kid", "precision-recall"], _imgs(600, 2, shift=0.8), real, image_set)
    assert shifted["fid"] > 10 * auto["fid"] and shifted["kid"] > 10 * abs(auto["kid"])
    assert shifted["kid_low"] <= shifted["kid"] <= shifted["kid_high"] and shifted["kid_low"] > auto["kid_high"]
    assert shifted["precision"] < auto["precision"] and shifted["coverage"] < auto["coverage"]
    # identical sets: FID 0, precision = recall = 1; (N, C, H, W) input works when called directly
    same = I.fid_metric(torch.from_numpy(real).reshape(600, 1, 8, 8), real, image_set)
    assert same["fid"] == pytest.approx(0.0, abs=1e-9)
    pr = I.precision_recall_metric(real, real, image_set)
    assert pr["precision"] == pr["recall"] == pr["coverage"] == 1.0
