"""k-NN manifolds of feature sets: precision/recall and density/coverage.

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
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from gankit.errors import DataError
from gankit.metrics.arrays import _pair

PR_K = 3
"""Neighbour k of the precision/recall manifolds (Kynkäänniemi et al.)."""
DC_K = 5
"""Neighbour k of density/coverage (Naeem et al.)."""
_ROWS = 512  # rows per distance block: bounds memory at _ROWS * N floats


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

