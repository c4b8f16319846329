"""Image metrics on network features: FID, Inception score, KID, precision/recall, density/coverage, modes.

Everything here except the registered metrics at the bottom takes and returns numpy arrays of features
(N, D) or class probabilities (N, K) (the features come from an extractor, ``metrics/features.py``):
numpy/scipy inside, except KID and the k-NN metrics, whose large products run in float64 torch so that
they follow ``torch.set_num_threads`` (numpy/scipy BLAS calls here are limited to the same count).
docs/protocols.md ("MNIST quality"): always report the sample count, and the real-vs-real floor (e.g. MNIST
test vs train) beside a model's number, computed with the same extractor and the same N.

**Fréchet distance** (Heusel, Ramsauer, Unterthiner, Nessler, Hochreiter, "GANs Trained by a Two
Time-Scale Update Rule Converge to a Local Nash Equilibrium", NeurIPS 2017). Fit a Gaussian to each
feature set; the squared 2-Wasserstein (Fréchet) distance between N(μ1, Σ1) and N(μ2, Σ2) is

    d² = ||μ1 − μ2||² + tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^{1/2}).

For diagonal covariances it reduces to ||μ1 − μ2||² + Σ_i (σ1_i + σ2_i − 2 √(σ1_i σ2_i)) (σ: variances).
FID is biased upward by O(D/N) (finite-sample covariance noise): compare numbers only at equal N.

**Inception score** (Salimans, Goodfellow, Zaremba, Cheung, Radford, Chen, "Improved Techniques for
Training GANs", NeurIPS 2016): IS = exp(E_x KL(p(y|x) ‖ p(y))), p(y) = E_x p(y|x), computed on each of
``splits`` equal parts of the samples; the mean and standard deviation over parts are reported. It lies
in [1, K]: 1 when every sample gets the same prediction, K for confident predictions spread evenly.

**Kernel Inception distance** (Bińkowski, Sutherland, Arbel, Gretton, "Demystifying MMD GANs", ICLR
2018): the unbiased estimate of MMD² with the cubic polynomial kernel k(x, y) = (x·y / D + 1)³,

    MMD²_u = 1/(m(m−1)) Σ_{i≠j} [k(x_i, x_j) + k(y_i, y_j)] − 2/m² Σ_{i,j} k(x_i, y_j),

averaged over ``subsets`` random subsets of size m of each set (mean and std over subsets reported).
Unbiased, so it can be slightly negative when the distributions are equal.

**Precision and recall** (Kynkäänniemi, Karras, Laine, Lehtinen, Aila, "Improved Precision and Recall
Metric for Assessing Generative Models", NeurIPS 2019). The manifold of a set is the union of balls
around each of its points with radius the distance to the point's k-th nearest neighbour in the same set
(k = 3). precision = fraction of fakes inside the real manifold; recall = fraction of reals inside the
fake manifold.

**Density and coverage** (Naeem, Oh, Uh, Choi, Yoo, "Reliable Fidelity and Diversity Metrics for
Generative Models", ICML 2020), with real balls B(r_i, NND_k(r_i)), k = 5:

    density  = 1/(k M) Σ_j Σ_i 1[f_j ∈ B(r_i, NND_k(r_i))]     (M fakes; ~1 when fake ~ real; unbounded)
    coverage = 1/N Σ_i 1[∃ j: f_j ∈ B(r_i, NND_k(r_i))]        (N reals; in [0, 1])

Balls are closed (distance <= radius). Distances are Euclidean, computed in blocks of rows from
|a|² + |b|² − 2 a·b (float64; a point's distance to itself is set to exactly 0). The registered metric
makes three passes (real-real, fake-fake, fake-real); 10,000 x 10,000 points of 128-d features take
~4 s on one idle core (cost grows as N² D).

**Stacked MNIST modes** (docs/protocols.md; VEEGAN, PacGAN): the classifier labels the three channels, the
triple (a, b, c) is mode 100a + 10b + c; report the number of distinct modes and KL(h ‖ uniform over
1,000) = Σ_k h_k ln(1000 h_k) in nats (0 for a perfectly even histogram, ln 1000 = 6.91 at total collapse).

**Bootstrap confidence intervals** (Efron 1979): :func:`bootstrap_ci` recomputes a statistic on
``n_boot`` resamples of the rows (with replacement) and returns quantiles; its cost is ``n_boot`` times
one evaluation. The registered metrics use ``N_BOOT = 20`` resamples (a crude 95 % interval that keeps
evaluation fast; raise it for a paper) and centre the interval on the point estimate (see
:func:`bootstrap_ci`), because FID computed on a resample with duplicated rows is biased upward
relative to the original estimate. KID reports its spread over subsets (``kid_std``) instead.

Registered metrics (they apply to data sets with ``kind == "image"`` that have a feature extractor,
``features.extractor_for(dataset)``; the Inception score also needs class probabilities):

- ``"fid"``              -> ``fid``, ``fid_low``, ``fid_high``, ``fid_n``
- ``"inception-score"``  -> ``is``, ``is_std``, ``is_low``, ``is_high``, ``is_n``
- ``"kid"``              -> ``kid``, ``kid_std``, ``kid_n``
- ``"precision-recall"`` -> ``precision``, ``recall``, ``density``, ``coverage``, each with ``_low`` and
  ``_high``, and ``pr_n``

``*_n`` is the number of generated samples scored.
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from scipy.linalg import LinAlgWarning, sqrtm

from gankit.errors import DataError, TooFewSamples
from gankit.metrics import features
from gankit.metrics.keys import Key
from gankit.registry import METRICS

__all__ = [
    "N_BOOT",
    "bootstrap_ci",
    "conditional_accuracy",
    "density_coverage",
    "digits_to_modes",
    "feature_stats",
    "fid_from_features",
    "frechet_distance",
    "inception_score",
    "kid",
    "mode_histogram_kl",
    "precision_recall",
]

N_BOOT = 20
"""Bootstrap resamples used by the registered metrics (cost: N_BOOT extra evaluations of the statistic)."""
IS_SPLITS = 10
"""Parts of the samples for the Inception score (Salimans et al.)."""
KID_SUBSETS = 100
"""Random subsets for KID (Bińkowski et al.)."""
KID_SUBSET_SIZE = 1000
"""Size of each KID subset (capped at the smaller sample)."""
PR_K = 3
"""Neighbour k of the precision/recall manifolds (Kynkäänniemi et al.)."""
DC_K = 5
"""Neighbour k of density/coverage (Naeem et al.)."""
PR_MAX_POINTS = 10_000
"""The k-NN metrics use at most the first 10,000 rows of each set (cost grows as N²)."""
SQRTM_TOL = 1e-6
"""Largest accepted relative residual ||X X − A||_F / ||A||_F of the matrix square root before retrying."""
_ROWS = 512  # rows per distance block: bounds memory at _ROWS * N floats


# ----------------------------------------------------------------------------------------------------
# BLAS threads
# ----------------------------------------------------------------------------------------------------
# numpy/scipy's OpenBLAS starts one thread per core whatever torch.set_num_threads says; on a busy
# 2-core machine that oversubscription made a 20-replicate FID bootstrap 15x slower (15 s instead of
# 1 s). The heavy numpy/scipy work here (covariances, sqrtm) runs with BLAS limited to torch's count;
# KID and the k-NN metrics use float64 torch directly.

_CONTROLLER: Any = None


def _blas_like_torch() -> Any:
    """Context manager limiting numpy/scipy BLAS threads to ``torch.get_num_threads()``."""
    global _CONTROLLER
    if _CONTROLLER is None:
        try:
            from threadpoolctl import ThreadpoolController  # installed with scikit-learn

            _CONTROLLER = ThreadpoolController()
        except Exception:  # pragma: no cover - no threadpoolctl: leave BLAS as it is
            _CONTROLLER = False
    if _CONTROLLER is False:
        return contextlib.nullcontext()
    return _CONTROLLER.limit(limits=torch.get_num_threads(), user_api="blas")


def _with_blas_like_torch(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with _blas_like_torch():
            return fn(*args, **kwargs)

    return wrapped


# ----------------------------------------------------------------------------------------------------
# input checks
# ----------------------------------------------------------------------------------------------------


def _matrix(x: Any, what: str, min_rows: int = 1) -> np.ndarray:
    """``x`` as a finite float64 (N, D) array with N >= ``min_rows`` (a 1-D array is N values in 1-D)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] < min_rows or arr.shape[1] == 0:
        raise DataError(f"{what} must have shape (N, D) with N >= {min_rows}, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise DataError(f"{what} contain NaN or infinite values")
    return arr


def _pair(f1: Any, f2: Any, min_rows: int, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    a, b = _matrix(f1, names[0], min_rows), _matrix(f2, names[1], min_rows)
    if a.shape[1] != b.shape[1]:
        raise DataError(f"{names[0]} have dimension {a.shape[1]} but {names[1]} have {b.shape[1]}")
    return a, b


def _probs(p: Any) -> np.ndarray:
    arr = _matrix(p, "class probabilities")
    if (arr < -1e-9).any() or not np.allclose(arr.sum(axis=1), 1.0, atol=1e-6):
        raise DataError("class probabilities must be >= 0 with rows summing to 1")
    return np.clip(arr, 0.0, None)


# ----------------------------------------------------------------------------------------------------
# Fréchet distance
# ----------------------------------------------------------------------------------------------------


@_with_blas_like_torch
def feature_stats(f: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of features (N, D), N >= 2."""
    x = _matrix(f, "features", 2)
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def _sqrtm_checked(a: np.ndarray) -> tuple[np.ndarray, bool]:
    """scipy's Schur square root of ``a`` and whether it is finite with a small relative residual."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LinAlgWarning)  # "singular": the residual below is the real test
        warnings.simplefilter("ignore", RuntimeWarning)
        x = np.asarray(sqrtm(a))
    if not np.isfinite(x).all():
        return x, False
    norm = np.linalg.norm(a)
    resid = np.linalg.norm(x @ x - a) / norm if norm > 0 else np.linalg.norm(x)
    return x, bool(resid <= SQRTM_TOL)


@_with_blas_like_torch
def frechet_distance(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any, eps: float = 1e-6) -> float:
    """Fréchet distance d² = ||μ1 − μ2||² + tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^{1/2}) between two Gaussians.

    The square root is ``scipy.linalg.sqrtm`` of Σ1 Σ2 (Heusel et al. 2017, as in their reference code).
    When it fails (non-finite, or a relative residual above ``SQRTM_TOL``: a near-singular product), it
    is recomputed with ``eps * s * I`` added to both covariances, s the larger average variance (the
    usual fix, scaled to the features). Roundoff can make the square root complex: an imaginary part
    on its diagonal below 1e-3 of the real diagonal's scale is dropped; a larger one is an error.
    A result below 0 (for PSD covariances only rounding can give one, e.g. FID(x, x)) returns 0.

    Args:
        mu1, mu2: (D,) means.
        sigma1, sigma2: (D, D) symmetric positive semi-definite covariances (singular ones are fine).
        eps: relative size of the diagonal offset used on failure.

    Returns:
        d² >= 0 (squared feature units; FID is this number, not its square root).

    Raises:
        DataError: mismatched shapes, non-finite input, or a square root with a large imaginary part.
    """
    m1, m2 = np.atleast_1d(np.asarray(mu1, dtype=np.float64)), np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64)), np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    d = m1.shape[0]
    if m1.shape != (d,) or m2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise DataError(f"Fréchet distance needs means (D,) and covariances (D, D); got {m1.shape}, "
                        f"{s1.shape}, {m2.shape}, {s2.shape}")
    if not all(np.isfinite(a).all() for a in (m1, m2, s1, s2)):
        raise DataError("Fréchet distance: means and covariances must be finite")
    diff = m1 - m2
    covmean, ok = _sqrtm_checked(s1 @ s2)
    if not ok:
        scale = max(np.trace(s1) / d, np.trace(s2) / d, np.finfo(np.float64).tiny)
        offset = eps * scale * np.eye(d)
        covmean, ok = _sqrtm_checked((s1 + offset) @ (s2 + offset))
        if not np.isfinite(covmean).all():
            raise DataError("Fréchet distance: the matrix square root of Σ1 Σ2 is not finite")
    if np.iscomplexobj(covmean):
        diag = np.diagonal(covmean)
        ref = max(float(np.abs(diag.real).max()), np.finfo(np.float64).tiny)
        if np.abs(diag.imag).max() > 1e-3 * ref:
            raise DataError(f"Fréchet distance: (Σ1 Σ2)^(1/2) has an imaginary part of "
                            f"{np.abs(diag.imag).max():.3g} (real scale {ref:.3g}); are the covariances PSD?")
        covmean = covmean.real
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))
    return max(value, 0.0)


@_with_blas_like_torch
def fid_from_features(f1: Any, f2: Any, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N1, D) and (N2, D), N >= 2 each."""
    a, b = _pair(f1, f2, 2, ("features", "features"))
    mu1, s1 = feature_stats(a)
    mu2, s2 = feature_stats(b)
    return frechet_distance(mu1, s1, mu2, s2, eps)


# ----------------------------------------------------------------------------------------------------
# Inception score
# ----------------------------------------------------------------------------------------------------


def inception_score(probs: Any, splits: int = IS_SPLITS) -> tuple[float, float]:
    """IS = exp(E_x KL(p(y|x) ‖ p(y))) on each of ``splits`` parts; mean and std over the parts.

    Args:
        probs: (N, K) class probabilities p(y|x) of the samples (rows >= 0 summing to 1), N >= splits.
        splits: number of consecutive equal parts (the last ones take the remainder, as ``np.array_split``).

    Returns:
        ``(mean, std)``; the mean lies in [1, K] (0 log 0 = 0).
    """
    p = _probs(probs)
    if not isinstance(splits, (int, np.integer)) or splits < 1 or splits > len(p):
        raise DataError(f"Inception score needs 1 <= splits <= N; got splits={splits}, N={len(p)}")
    scores = []
    for part in np.array_split(p, int(splits)):
        py = part.mean(axis=0, keepdims=True)  # (1, K) marginal p(y)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(part > 0, part * (np.log(part) - np.log(py)), 0.0)
        scores.append(math.exp(float(terms.sum(axis=1).mean())))
    return float(np.mean(scores)), float(np.std(scores))


# ----------------------------------------------------------------------------------------------------
# kernel Inception distance
# ----------------------------------------------------------------------------------------------------


def _cubic_kernel_sum(a: torch.Tensor, b: torch.Tensor, drop_diagonal: bool) -> float:
    """Σ_{i,j} (a_i·b_j / D + 1)³, without the i = j terms when ``drop_diagonal``."""
    g = a @ b.T
    g.div_(a.shape[1]).add_(1.0)
    k = g * g * g
    total = float(k.sum())
    return total - float(k.diagonal().sum()) if drop_diagonal else total


def kid(f1: Any, f2: Any, subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE,
        seed: int = 0) -> tuple[float, float]:
    """Unbiased MMD² with the kernel (x·y/D + 1)³ over random subsets (Bińkowski et al. 2018).

    Args:
        f1, f2: (N1, D), (N2, D) features.
        subsets: number of subset pairs.
        subset_size: m, rows drawn without replacement from each set (capped at min(N1, N2); m >= 2).
        seed: seed of a private generator choosing the subsets (no global RNG moves).

    Returns:
        ``(mean, std)`` over the subsets; the mean can be slightly negative for equal distributions.
        When both sets have exactly m rows the subsets are the whole sets: one value, std 0.

    Cost: ``subsets`` x 3 products of (m, D) by (D, m) matrices in float64 torch (so it follows
    ``torch.set_num_threads``): 100 subsets of 1,000 x 128-d features take ~2.5 s on one core.
    """
    values = kid_values(f1, f2, subsets, subset_size, seed)
    return float(values.mean()), float(values.std())


def kid_values(f1: Any, f2: Any, subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE,
               seed: int = 0) -> np.ndarray:
    """The per-subset unbiased MMD² estimates behind :func:`kid` (one value when the sets are the subsets)."""
    x, y = _pair(f1, f2, 2, ("features", "features"))
    if subsets < 1:
        raise DataError(f"KID needs subsets >= 1, got {subsets}")
    m = min(int(subset_size), len(x), len(y))
    if m < 2:
        raise DataError(f"KID needs subsets of at least 2 rows, got subset_size={subset_size}")
    if m == len(x) == len(y):
        subsets = 1  # every subset would be a permutation of the whole sets: one value, std 0
    tx, ty = torch.tensor(x), torch.tensor(y)  # copies: cached features are read-only
    rng = np.random.default_rng(seed)
    values = np.empty(int(subsets))
    for s in range(int(subsets)):
        a = tx[torch.from_numpy(rng.choice(len(x), m, replace=False))]
        b = ty[torch.from_numpy(rng.choice(len(y), m, replace=False))]
        within = (_cubic_kernel_sum(a, a, True) + _cubic_kernel_sum(b, b, True)) / (m * (m - 1))
        values[s] = within - 2.0 * _cubic_kernel_sum(a, b, False) / (m * m)
    return values


# ----------------------------------------------------------------------------------------------------
# k-NN manifolds: precision/recall, density/coverage
# ----------------------------------------------------------------------------------------------------
# Computed with float64 torch tensors so that the work follows torch.set_num_threads (numpy's BLAS
# picks its own thread count, and oversubscribes a busy machine).


def _sq_dist_blocks(q: torch.Tensor, ref: torch.Tensor):
    """Yield (start, (B, M) squared distances) for blocks of rows of ``q`` against all of ``ref``."""
    ref_sq = (ref * ref).sum(dim=1)
    for start in range(0, len(q), _ROWS):
        block = q[start : start + _ROWS]
        d2 = block @ ref.T
        d2.mul_(-2.0).add_((block * block).sum(dim=1)[:, None]).add_(ref_sq[None, :]).clamp_(min=0.0)
        yield start, d2


def _knn_sq_radii(x: torch.Tensor, ks: list[int]) -> dict[int, torch.Tensor]:
    """Squared distance from every row to its k-th nearest *other* row, for each k in ``ks``."""
    if max(ks) >= len(x):
        raise DataError(f"k-NN radii need more than k = {max(ks)} points, got {len(x)}")
    out = {k: torch.empty(len(x), dtype=torch.float64) for k in ks}
    for start, d2 in _sq_dist_blocks(x, x):
        rows = torch.arange(len(d2))
        d2[rows, start + rows] = 0.0  # the point itself, exactly (rounding may leave ~1e-12)
        # column k of the ascending k+1 smallest = the k-th nearest other point (torch.topk is ~5x
        # faster than np.partition on 512 x 10,000 blocks)
        part = torch.topk(d2, max(ks) + 1, dim=1, largest=False, sorted=True).values
        for k in ks:
            out[k][start : start + len(d2)] = part[:, k]
    return out


def _manifold_terms(real: np.ndarray, fake: np.ndarray, k_pr: int | None, k_dc: int | None
                    ) -> dict[str, np.ndarray]:
    """Per-sample terms whose means are precision, recall (k_pr) and density, coverage (k_dc)."""
    tr, tf = torch.tensor(real), torch.tensor(fake)  # copies: cached features are read-only
    ks_real = sorted({k for k in (k_pr, k_dc) if k is not None})
    real_r = _knn_sq_radii(tr, ks_real)
    fake_r = _knn_sq_radii(tf, [k_pr])[k_pr] if k_pr is not None else None
    in_real = {k: torch.zeros(len(fake), dtype=torch.int64) for k in ks_real}  # per fake: real balls holding it
    real_in_fake = torch.zeros(len(real), dtype=torch.bool)  # per real: inside some fake ball
    nearest_fake = torch.full((len(real),), math.inf, dtype=torch.float64)  # per real: to its nearest fake
    for start, d2 in _sq_dist_blocks(tf, tr):  # (B fakes, N reals)
        for k in ks_real:
            in_real[k][start : start + len(d2)] = (d2 <= real_r[k][None, :]).sum(dim=1)
        if fake_r is not None:
            real_in_fake |= (d2 <= fake_r[start : start + len(d2), None]).any(dim=0)
        torch.minimum(nearest_fake, d2.amin(dim=0), out=nearest_fake)
    out: dict[str, np.ndarray] = {}
    if k_pr is not None:
        out["precision"] = (in_real[k_pr] > 0).double().numpy()
        out["recall"] = real_in_fake.double().numpy()
    if k_dc is not None:
        out["density"] = in_real[k_dc].double().numpy() / k_dc
        out["coverage"] = (nearest_fake <= real_r[k_dc]).double().numpy()
    return out


def precision_recall(real_f: Any, fake_f: Any, k: int = PR_K) -> tuple[float, float]:
    """Improved precision and recall with k-NN manifolds (Kynkäänniemi et al. 2019).

    Args:
        real_f: (N, D) real features, N > k.
        fake_f: (M, D) generated features, M > k.
        k: the manifold radius of a point is the distance to its k-th nearest neighbour in its own set.

    Returns:
        ``(precision, recall)`` in [0, 1].
    """
    real, fake = _pair(real_f, fake_f, 1, ("real features", "fake features"))
    t = _manifold_terms(real, fake, int(k), None)
    return float(t["precision"].mean()), float(t["recall"].mean())


def density_coverage(real_f: Any, fake_f: Any, k: int = DC_K) -> tuple[float, float]:
    """Density and coverage with real k-NN balls (Naeem et al. 2020).

    Args:
        real_f: (N, D) real features, N > k.
        fake_f: (M, D) generated features.
        k: the ball of a real point reaches its k-th nearest real neighbour.

    Returns:
        ``(density, coverage)``: density >= 0 (about 1 when fake matches real), coverage in [0, 1].
    """
    real, fake = _pair(real_f, fake_f, 1, ("real features", "fake features"))
    t = _manifold_terms(real, fake, None, int(k))
    return float(t["density"].mean()), float(t["coverage"].mean())


# ----------------------------------------------------------------------------------------------------
# Stacked MNIST modes, conditional accuracy
# ----------------------------------------------------------------------------------------------------


def _int_labels(labels: Any, what: str) -> np.ndarray:
    arr = np.asarray(labels.detach().cpu().numpy() if hasattr(labels, "detach") else labels)
    if arr.size == 0:
        raise DataError(f"{what} are empty")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or (arr != np.round(arr)).any():
            raise DataError(f"{what} must be whole numbers")
    elif arr.dtype.kind not in "iub":
        raise DataError(f"{what} must be integers, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def digits_to_modes(digits: Any, base: int = 10) -> np.ndarray:
    """Stacked-MNIST mode index of per-channel labels: (N, C) digits -> (N,) Σ_c digit_c base^(C−1−c).

    For three channels, (a, b, c) -> 100a + 10b + c in 0..999.
    """
    d = _int_labels(digits, "digit labels")
    if d.ndim != 2 or ((d < 0) | (d >= base)).any():
        raise DataError(f"digit labels must have shape (N, C) with values in 0..{base - 1}")
    weights = base ** np.arange(d.shape[1] - 1, -1, -1, dtype=np.int64)
    return d @ weights


def mode_histogram_kl(labels: Any, n_modes: int = 1000) -> tuple[int, float]:
    """Number of distinct modes and KL(histogram ‖ uniform over ``n_modes``) in nats.

    Args:
        labels: (N,) mode index of each sample, integers in 0..n_modes−1 (see :func:`digits_to_modes`).
        n_modes: number of modes (1,000 for Stacked MNIST).

    Returns:
        ``(modes, kl)`` with KL = Σ_k h_k ln(n_modes h_k) (0 log 0 = 0), in [0, ln n_modes]: 0 for an
        even histogram over all modes, ln n_modes (6.91 for 1,000) when every sample is in one mode.
    """
    lab = _int_labels(labels, "mode labels").reshape(-1)
    if n_modes < 1 or ((lab < 0) | (lab >= n_modes)).any():
        raise DataError(f"mode labels must lie in 0..{n_modes - 1}")
    counts = np.bincount(lab, minlength=n_modes).astype(np.float64)
    h = counts / counts.sum()
    filled = h > 0
    kl = float(np.sum(h[filled] * np.log(n_modes * h[filled])))
    return int(np.count_nonzero(counts)), min(max(kl, 0.0), math.log(n_modes))


def conditional_accuracy(probs: Any, target_labels: Any) -> float:
    """Fraction of conditional samples that the classifier assigns to their conditioning label.

    Args:
        probs: (N, K) class probabilities (or scores) of the samples; the prediction is the argmax.
            A 1-D integer array is taken as the predicted labels themselves.
        target_labels: (N,) labels the samples were generated for.

    Returns:
        Accuracy in [0, 1].
    """
    target = _int_labels(target_labels, "target labels").reshape(-1)
    arr = np.asarray(probs.detach().cpu().numpy() if hasattr(probs, "detach") else probs)
    if arr.ndim == 1:
        pred = _int_labels(arr, "predicted labels")
    else:
        pred = _matrix(arr, "class probabilities").argmax(axis=1)
    if len(pred) != len(target):
        raise DataError(f"{len(pred)} predictions but {len(target)} target labels")
    return float(np.mean(pred == target))


# ----------------------------------------------------------------------------------------------------
# bootstrap
# ----------------------------------------------------------------------------------------------------


@_with_blas_like_torch
def bootstrap_ci(
    values_fn: Callable[..., float],
    *arrays: Any,
    n_boot: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
    paired: bool = False,
    centered: bool = False,
    point: float | None = None,
) -> tuple[float, float]:
    """Bootstrap (1 − alpha) confidence interval of ``values_fn(*arrays)``.

    Each of ``n_boot`` replicates draws the rows of every array with replacement (independently per
    array, or with the same row indices when ``paired``, for row-aligned arrays such as predictions and
    their labels) and evaluates ``values_fn`` on them. Cost: ``n_boot`` evaluations of ``values_fn``
    (FID on 10,000 128-d features: ~50 ms each on one core; on 2,048-d Inception features: seconds each).

    - ``centered=False``: the percentile interval (q_{α/2}, q_{1−α/2}) of the replicates.
    - ``centered=True``: the same spread shifted onto the point estimate θ̂:
      (θ̂ + q_{α/2} − θ̄*, θ̂ + q_{1−α/2} − θ̄*), θ̄* the replicates' mean. Use it for statistics whose
      replicates are biased (FID, KID: a resample with duplicated rows has fewer distinct points, and
      their finite-sample bias grows): it reports the sampling spread around θ̂, not a bias correction.

    Args:
        values_fn: statistic of the arrays, returning a number.
        arrays: one or more arrays whose first axis is resampled (numpy arrays or tensors).
        n_boot: number of replicates (>= 2).
        alpha: 1 − coverage (0.05: a 95 % interval).
        seed: seed of a private generator (no global RNG moves).
        paired: resample all arrays with the same row indices (they must have the same length).
        centered: centre the interval on the point estimate (see above).
        point: the point estimate, when already computed (else ``values_fn(*arrays)`` is called).

    Returns:
        ``(low, high)``.
    """
    if n_boot < 2:
        raise DataError(f"bootstrap needs n_boot >= 2, got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise DataError(f"bootstrap alpha must lie in (0, 1), got {alpha}")
    if not arrays:
        raise DataError("bootstrap needs at least one array to resample")
    arrs = [np.asarray(a.detach().cpu().numpy() if hasattr(a, "detach") else a) for a in arrays]
    if any(a.ndim == 0 or len(a) == 0 for a in arrs):
        raise DataError("bootstrap arrays must have at least one row")
    if paired and len({len(a) for a in arrs}) != 1:
        raise DataError(f"paired bootstrap needs arrays of one length, got {[len(a) for a in arrs]}")
    rng = np.random.default_rng(seed)
    reps = np.empty(int(n_boot))
    for b in range(int(n_boot)):
        if paired:
            idx = rng.integers(0, len(arrs[0]), len(arrs[0]))
            sample = [a[idx] for a in arrs]
        else:
            sample = [a[rng.integers(0, len(a), len(a))] for a in arrs]
        reps[b] = float(values_fn(*sample))
    low, high = (float(v) for v in np.quantile(reps, [alpha / 2.0, 1.0 - alpha / 2.0]))
    if centered:
        theta = float(values_fn(*arrs)) if point is None else float(point)
        shift = theta - float(reps.mean())
        low, high = low + shift, high + shift
    return low, high


# ----------------------------------------------------------------------------------------------------
# registered metrics
# ----------------------------------------------------------------------------------------------------


def _keyed(out: dict[str, float], dataset: Any) -> dict[str, float]:
    """The keys of a feature metric with the extractor's prefix (``rand_fid`` on the random embedding)."""
    prefix = features.metric_keys_prefix(dataset)
    return {prefix + k: v for k, v in out.items()}


def _need(n: int, least: int, metric: str, why: str, fix: str) -> None:
    """Raise :class:`TooFewSamples` when ``n`` < ``least``: one line naming the fix."""
    if n < least:
        raise TooFewSamples(f"{metric} needs at least {least} samples on each side ({why}), got {n}; {fix}")


def _features_pair(fake: Any, real: Any, dataset: Any) -> tuple[np.ndarray, np.ndarray]:
    return features.extract(fake, dataset)[0], features.extract(real, dataset)[0]


def _has_extractor(dataset: Any) -> bool:
    return getattr(dataset, "kind", None) == "image" and features.extractor_for(dataset) is not None


def _has_probs(dataset: Any) -> bool:
    return _has_extractor(dataset) and features.extractor_for(dataset).gives_probs


@METRICS.register(
    "fid",
    applies=_has_extractor,
    description="Fréchet distance of the data set's extractor features (Heusel 2017), bootstrap 95% interval",
    keys={"fid": Key("lower", "distance between Gaussians fitted to the features of samples and real images: "
                     "fidelity and variety in one number; read it against the real-vs-real floor")},
)
def fid_metric(fake: Any, real: Any, dataset: Any) -> dict[str, float]:
    """FID between the features of ``fake`` and ``real`` with a centred bootstrap interval.

    Args:
        fake: (N, C, H, W) images in [-1, 1], or (N, C*H*W) rows (reshaped to ``dataset.shape``).
        real: (N', ...) real images, same layout.
        dataset: an image data set with a feature extractor.

    Returns:
        ``{"fid", "fid_low", "fid_high", "fid_n"}`` (``fid_n``: number of generated samples).
    """
    ff, fr = _features_pair(fake, real, dataset)
    dim = ff.shape[1]
    _need(min(len(ff), len(fr)), dim + 1, "fid",
          f"more than the {dim} feature dimensions, or the covariance is singular and FID meaningless",
          f"score at least {dim + 1} (-n {dim + 1}), or use kid, which is unbiased at any sample count")
    value = fid_from_features(ff, fr)
    low, high = bootstrap_ci(fid_from_features, ff, fr, n_boot=N_BOOT, centered=True, point=value)
    return _keyed({"fid": value, "fid_low": max(low, 0.0), "fid_high": high, "fid_n": float(len(ff))}, dataset)


@METRICS.register(
    "inception-score",
    applies=_has_probs,
    description="Inception score exp E[KL(p(y|x) || p(y))] with the data set's classifier (Salimans 2016)",
    keys={"is": Key("higher", "high when the classifier is sure of each sample's class and the classes are "
                    "balanced (at most the number of classes); blind to the real images themselves")},
)
def inception_score_metric(fake: Any, real: Any, dataset: Any) -> dict[str, float]:
    """Inception score of ``fake`` (``real`` unused: score real samples the same way for the floor).

    Returns:
        ``{"is", "is_std" (over IS_SPLITS parts), "is_low", "is_high" (bootstrap), "is_n"}``.
    """
    _, probs = features.extract(fake, dataset)
    _need(len(probs), IS_SPLITS, "inception-score", f"it is computed on {IS_SPLITS} parts",
          f"score at least {IS_SPLITS} samples")
    mean, std = inception_score(probs, IS_SPLITS)
    low, high = bootstrap_ci(lambda p: inception_score(p, IS_SPLITS)[0], probs, n_boot=N_BOOT,
                             centered=True, point=mean)
    return _keyed({"is": mean, "is_std": std, "is_low": low, "is_high": high, "is_n": float(len(probs))}, dataset)


@METRICS.register(
    "kid",
    applies=_has_extractor,
    description="kernel Inception distance: unbiased MMD² with a cubic kernel (Bińkowski 2018)",
    keys={"kid": Key("lower", "like FID (a distance between the feature distributions) but unbiased, so "
                     "comparable across sample counts; 0 for matching distributions, may dip below 0", scale=1e3)},
)
def kid_metric(fake: Any, real: Any, dataset: Any) -> dict[str, float]:
    """KID between the features of ``fake`` and ``real`` (KID_SUBSETS subsets of KID_SUBSET_SIZE).

    Returns:
        ``{"kid", "kid_std" (over subsets; 0 when both sets have <= KID_SUBSET_SIZE rows and the
        subsets are the whole sets), "kid_low", "kid_high" (2.5 and 97.5 percentiles of the subset
        estimates: where an m-sample KID falls; the mean over subsets is tighter), "kid_n"}``.
    """
    ff, fr = _features_pair(fake, real, dataset)
    _need(min(len(ff), len(fr)), 2, "kid", "its unbiased estimate leaves each sample's pair with itself out",
          "score at least 2 samples")
    values = kid_values(ff, fr, KID_SUBSETS, KID_SUBSET_SIZE)
    low, high = np.percentile(values, [2.5, 97.5]) if len(values) > 1 else (values[0], values[0])
    return _keyed({"kid": float(values.mean()), "kid_std": float(values.std()), "kid_low": float(low),
                   "kid_high": float(high), "kid_n": float(len(ff))}, dataset)


@METRICS.register(
    "precision-recall",
    applies=_has_extractor,
    description="k-NN precision/recall (Kynkäänniemi 2019, k=3) and density/coverage (Naeem 2020, k=5)",
    keys={
        "precision": Key("higher", "fidelity: fraction of samples inside the real images' feature manifold (k-NN "
                         "balls); high means plausible samples, and says nothing about their variety", "fraction"),
        "recall": Key("higher", "variety: fraction of real images inside the samples' manifold; 0 when the "
                      "samples are too alike (blurred averages, collapse) to reach the real spread", "fraction"),
        "density": Key("floor", "fidelity robust to outliers: real neighbourhoods per sample, / k; about 1 when "
                       "samples match the data, > 1 when they crowd into its densest part"),
        "coverage": Key("higher", "variety robust to outliers: fraction of real images whose k-NN ball holds at "
                        "least one sample", "fraction"),
    },
)
def precision_recall_metric(fake: Any, real: Any, dataset: Any) -> dict[str, float]:
    """Precision, recall, density and coverage on the extractor's features (first PR_MAX_POINTS rows).

    The intervals are percentile bootstrap intervals of the per-sample terms (each metric is a mean of
    them) with the k-NN radii held fixed: they show the spread from the scored samples only (cheap;
    narrower than a full bootstrap that rebuilds the manifolds).

    Returns:
        ``{"precision", "recall", "density", "coverage"}``, each with ``_low`` and ``_high``, and ``pr_n``.
    """
    ff, fr = _features_pair(fake, real, dataset)
    k = max(PR_K, DC_K)
    _need(min(len(ff), len(fr)), k + 1, "precision-recall", f"each point's {k}-th nearest neighbour in its own set",
          f"score at least {k + 1} samples")
    ff, fr = ff[:PR_MAX_POINTS], fr[:PR_MAX_POINTS]
    terms = _manifold_terms(fr, ff, PR_K, DC_K)
    out: dict[str, float] = {}
    for key in ("precision", "recall", "density", "coverage"):
        value = float(terms[key].mean())
        low, high = bootstrap_ci(np.mean, terms[key], n_boot=N_BOOT)  # a mean: unbiased replicates
        out[key] = value
        out[f"{key}_low"], out[f"{key}_high"] = low, high
    out["pr_n"] = float(len(ff))
    return _keyed(out, dataset)
