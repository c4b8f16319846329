"""FID, Inception score and KID: the closed forms on features (N, D) or class probabilities (N, K).

numpy/scipy inside (BLAS limited to torch's thread count, :mod:`gankit.metrics.arrays`), except KID, whose
large products run in float64 torch so that it follows ``torch.set_num_threads``.

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
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch
from scipy.linalg import LinAlgWarning, sqrtm

from gankit.errors import DataError
from gankit.metrics.arrays import _matrix, _pair, _probs, _with_blas_like_torch

IS_SPLITS = 10
"""Parts of the samples for the Inception score (Salimans et al.)."""
KID_SUBSETS = 100
"""Random subsets for KID (Bińkowski et al.)."""
KID_SUBSET_SIZE = 1000
"""Size of each KID subset (capped at the smaller sample)."""
SQRTM_TOL = 1e-6
"""Largest accepted relative residual ||X X − A||_F / ||A||_F of the matrix square root before retrying."""


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

