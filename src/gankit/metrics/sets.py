"""Distances between point sets: the sliced Wasserstein distance, the nearest-point and chamfer distances.

Generative-model basics 06 (GAN) ("Difference metrics") measures how far two *sets* of points are
before it turns to distances between distributions:

- **nearest-point distance** — the distance between the closest pair, one point from each set:
  ``d_min(F, R) = min_{f∈F, r∈R} ||f − r||``. The lecture notes its flaw: as soon as the sets partly
  overlap it is 0, however different the rest of the sets are.
- **symmetric sum of nearest-neighbour distances** (the lecture's fix; known as the chamfer distance):
  ``d_ch(F, R) = 1/|F| Σ_f min_r ||f − r|| + 1/|R| Σ_r min_f ||f − r||`` — every point of either set
  must be near the other set. Both terms are means, so sets of different sizes compare fairly; it is
  symmetric, 0 iff the sets are equal (as sets), and a single far outlier raises it (by its distance
  / |F|) while ``d_min`` does not move.

Both are distances between *samples*: two independent samples of the same distribution are at a
chamfer distance > 0 that shrinks as the sample size grows (roughly like N^(-1/dim)), so compare
numbers only at the same sample size.

**Sliced Wasserstein** (Bonneel, Rabin, Peyré, Pfister, "Sliced and Radon Wasserstein Barycenters of
Measures", JMIV 2015), computed with POT's ``ot.sliced_wasserstein_distance`` (Flamary et al., "POT:
Python Optimal Transport", JMLR 2021):

    SW_p(μ, ν) = ( E_{θ ~ U(S^{d−1})} W_p^p(θ#μ, θ#ν) )^(1/p),

estimated with ``SW_PROJECTIONS`` directions drawn once from a private
``numpy.random.default_rng(SW_SEED)`` (deterministic; no global RNG moves). For clouds of equal size
each slice is computed by sorting (the i-th smallest projection of one cloud is moved to the i-th
smallest of the other: the exact 1-D optimal plan, the same number as POT's, ~10x faster); for
different sizes POT's quantile-function route is used. gankit uses **p = 1**
(POT's default is p = 2), so ``sw`` is in the units of W1 and comparable to the ``w1`` metric:

- every slice is 1-Lipschitz, hence ``sw <= w1`` (exact W1 of the same clouds);
- in 1-D the only directions are ±1 and ``sw`` *equals* the exact W1;
- for a set and its copy shifted by t: each slice is W1 = |⟨θ, t⟩| exactly, so
  ``sw = mean_k |⟨θ_k, t⟩|``, whose expectation over directions is E|cos φ|·|t| = (2/π)|t| in 2-D
  (with p = 2 it would be sqrt(E cos² φ)·|t| = |t|/√2).

Registered metrics (both apply to every points data set, any dimension):

- ``"sliced-wasserstein"`` -> ``{"sw"}``
- ``"set-distance"`` -> ``{"nearest_point", "chamfer"}``

Cost: evaluate("auto") runs these for every points data set, so both stay well under 0.3 s for 2,500
points in 2-D. Beyond ``SETS_MAX_POINTS`` rows, only the **first** rows of each set are used
(deterministic, and an unbiased subsample when rows are i.i.d.).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gankit.errors import DataError
from gankit.metrics.divergences import as_points, is_points
from gankit.metrics.keys import Key
from gankit.registry import METRICS

SW_PROJECTIONS = 200
"""Number of random directions in the sliced Wasserstein estimate."""
SW_SEED = 0
"""Seed of the private generator that draws the directions."""
SW_P = 1
"""Order p of the sliced distance (1: same units as ``w1``)."""
SETS_MAX_POINTS = 10_000
"""Both metrics use at most the first 10,000 rows of each set."""


KDTREE_MAX_DIM = 8
"""Up to this dimension nearest neighbours come from a k-d tree; above it, from blocked brute force."""
_ROWS = 1024  # query rows per brute-force block: bounds memory at _ROWS * N_ref floats


def nearest_distances(query: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Euclidean distance from every row of ``query`` to its nearest row of ``ref``.

    A k-d tree (``scipy.spatial.cKDTree``) in low dimension; in high dimension, where trees degrade
    to slower than brute force (27 s for 2 x 2,500 points in 784-D), the nearest row is found with
    |r|² − 2 q·r in blocks and its distance then recomputed from the exact coordinate differences
    (so coincident points give exactly 0, with no cancellation error).

    Args:
        query: (N, dim) points.
        ref: (M, dim) points, M >= 1.

    Returns:
        (N,) distances >= 0.
    """
    if query.shape[1] <= KDTREE_MAX_DIM:
        from scipy.spatial import cKDTree

        dist, _ = cKDTree(ref).query(query, k=1)
        return np.asarray(dist, dtype=np.float64)
    ref_sq = np.einsum("ij,ij->i", ref, ref)  # (M,)
    out = np.empty(len(query), dtype=np.float64)
    for start in range(0, len(query), _ROWS):
        block = query[start : start + _ROWS]  # (B, dim)
        nearest = np.argmin(ref_sq[None, :] - 2.0 * block @ ref.T, axis=1)  # (B,) |q − r|² − |q|²
        out[start : start + len(block)] = np.sqrt(((block - ref[nearest]) ** 2).sum(axis=1))
    return out


def _as_pair(fake: Any, real: Any, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Both sets as float64 (N, dim) arrays (a 1-D array is N points in 1-D), capped at ``max_points`` rows."""
    out = []
    for x, what in ((fake, "fake samples"), (real, "real samples")):
        out.append(as_points(x, what, nonempty=True)[:max_points])
    if out[0].shape[1] != out[1].shape[1]:
        raise DataError(f"fake samples have dimension {out[0].shape[1]} but real samples have {out[1].shape[1]}")
    return out[0], out[1]


def sliced_directions(dim: int, n_projections: int = SW_PROJECTIONS, seed: int = SW_SEED) -> np.ndarray:
    """``n_projections`` unit vectors uniform on the sphere S^(dim−1), from a private generator.

    Returns:
        (dim, n_projections) array, each column of norm 1 (POT's layout).
    """
    g = np.random.default_rng(seed).standard_normal((dim, n_projections))
    return g / np.linalg.norm(g, axis=0, keepdims=True)


def sliced_wasserstein(
    fake: np.ndarray,
    real: np.ndarray,
    n_projections: int = SW_PROJECTIONS,
    p: int = SW_P,
    seed: int = SW_SEED,
    max_points: int = SETS_MAX_POINTS,
) -> float:
    """Monte Carlo sliced Wasserstein-p distance between two point clouds (uniform weights).

    Args:
        fake: (N, dim) points.
        real: (N', dim) points (N' may differ from N).
        n_projections: number of random directions.
        p: order of the distance (1 by default; POT's own default is 2).
        seed: seed of the directions.
        max_points: only the first ``max_points`` rows of each cloud are used.

    Returns:
        SW_p >= 0, in data units; 0 for identical clouds.
    """
    x, y = _as_pair(fake, real, max_points)
    proj = sliced_directions(x.shape[1], n_projections, seed)  # (dim, K)
    if len(x) == len(y):
        # Equal sizes, uniform weights: on each slice the optimal 1-D plan matches the i-th smallest
        # projections, W_p^p = mean_i |x_(i) − y_(i)|^p. This is the number POT computes (the tests
        # compare them), ~10x faster than its quantile-function route (0.3 s for 2 x 2,500 points).
        xs = np.sort(x @ proj, axis=0)  # (N, K)
        ys = np.sort(y @ proj, axis=0)
        per_slice = np.mean(np.abs(xs - ys) ** p, axis=0)  # (K,) W_p^p of each slice
        return float(np.mean(per_slice) ** (1.0 / p))
    import ot  # POT imports scikit-learn and more (~3 s); only pay for it when the sizes differ

    return float(ot.sliced_wasserstein_distance(x, y, projections=proj, p=p))


def set_distances(fake: np.ndarray, real: np.ndarray, max_points: int = SETS_MAX_POINTS) -> dict[str, float]:
    """Nearest-point distance and symmetric mean nearest-neighbour (chamfer) distance between two sets.

    Args:
        fake: (N, dim) points.
        real: (N', dim) points.
        max_points: only the first ``max_points`` rows of each set are used.

    Returns:
        ``{"nearest_point": min over pairs ||f − r||,
        "chamfer": mean_f min_r ||f − r|| + mean_r min_f ||f − r||}`` (Euclidean, data units).
    """
    x, y = _as_pair(fake, real, max_points)
    d_fake_to_real = nearest_distances(x, y)  # (N,) each fake's distance to its nearest real point
    d_real_to_fake = nearest_distances(y, x)  # (N',)
    return {
        "nearest_point": float(d_fake_to_real.min()),  # = d_real_to_fake.min(): the same closest pair
        "chamfer": float(d_fake_to_real.mean() + d_real_to_fake.mean()),
    }


@METRICS.register(
    "sliced-wasserstein",
    applies=is_points,
    description="sliced Wasserstein-1 between fake and real clouds (POT, 200 fixed random directions)",
    keys={"sw": Key("lower", "Wasserstein-1 averaged over random 1-D projections: a cheaper, smaller stand-in "
                    "for w1", "data units")},
)
def sliced_wasserstein_metric(fake: np.ndarray, real: np.ndarray, dataset: Any) -> dict[str, float]:
    """Sliced W1 between the fake and real clouds (see :func:`sliced_wasserstein`).

    Args:
        fake: (N, dim) generated samples.
        real: (N', dim) data samples.
        dataset: any points data set (unused beyond applicability).

    Returns:
        ``{"sw": SW_1}`` in data units.
    """
    return {"sw": sliced_wasserstein(fake, real)}


@METRICS.register(
    "set-distance",
    applies=is_points,
    description="nearest-point distance and symmetric mean nearest-neighbour (chamfer) distance between the sets",
    keys={
        "nearest_point": Key("floor", "distance of the closest sample-data pair: near 0 as soon as one sample "
                             "touches the data, so it says little about the rest", "data units"),
        "chamfer": Key("lower", "mean distance from each sample to its nearest data point plus from each data "
                       "point to its nearest sample: fidelity and coverage together", "data units"),
    },
)
def set_distance_metric(fake: np.ndarray, real: np.ndarray, dataset: Any) -> dict[str, float]:
    """The lecture's two distances between point sets (see :func:`set_distances`).

    Args:
        fake: (N, dim) generated samples.
        real: (N', dim) data samples.
        dataset: any points data set (unused beyond applicability).

    Returns:
        ``{"nearest_point", "chamfer"}`` in data units.
    """
    return set_distances(fake, real)
