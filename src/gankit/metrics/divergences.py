"""Divergences between a generator and the data: KL both ways and JS (via a KDE), and Wasserstein-1.

Definitions (nats throughout), as in the lectures' seeds and Goodfellow et al., "Generative Adversarial
Nets" (NeurIPS 2014):

- ``KL(p ‖ q) = ∫ p log(p / q)``; 0 log 0 = 0; infinite where p > 0 and q = 0.
- ``JS(p ‖ q) = ½ KL(p ‖ m) + ½ KL(q ‖ m)`` with ``m = (p + q) / 2``; always in [0, ln 2], and exactly
  ln 2 for disjoint supports (docs/protocols.md, "Worked examples": parallel lines).
- ``W1(p, q) = min over couplings γ of E_γ ||x − y||`` (Arjovsky, Chintala, Bottou, "Wasserstein GAN",
  ICML 2017), computed exactly as an optimal-transport linear program with POT (Flamary et al., "POT:
  Python Optimal Transport", JMLR 2021). docs/protocols.md's discrete earth mover example — piles
  P = (3, 2, 1, 4) and Q = (1, 2, 4, 3) one unit apart — costs W = 5 (see :func:`emd`).

Registered metrics:

- ``"kl-js"`` -> ``{"kl_data_model", "kl_model_data", "js"}`` for data sets with a known density in 1-D
  or 2-D. q is a Gaussian kernel density estimate of the fake samples (:func:`kde_divergences`).
- ``"wasserstein"`` -> ``{"w1"}`` for any point data set: exact W1 between the fake and real clouds
  (:func:`wasserstein_1d_exact` on every row in 1-D, :func:`wasserstein_points` otherwise).

Plain helpers reused by the theory lab: :func:`kl_divergence_grid`, :func:`js_divergence_grid`,
:func:`wasserstein_1d_exact`, :func:`emd`, :func:`gaussian_kde_logpdf`, :func:`lcv_bandwidth`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from gankit.errors import DataError
from gankit.metrics.keys import Key
from gankit.registry import METRICS

LN2 = math.log(2.0)

KDE_MAX_POINTS = 2000
"""``kl-js`` uses at most the first 2,000 fake and 2,000 real rows (kernel sums cost N_fake * N_real)."""
BANDWIDTH_MAX_POINTS = 500
"""The bandwidth is selected on at most the first 500 fake rows, then rescaled to the full count."""
GRID_POINTS = 2001
"""Grid size for the 1-D numerical integration in ``kl-js``."""
KDE_SAMPLE_SEED = 0
"""Seed of the private generator that draws from the KDE for 2-D Monte Carlo expectations under q."""
W1_MAX_POINTS = 1000
"""``wasserstein`` uses at most the first 1,000 rows of each cloud (the exact LP is ~O(n³))."""

_ROWS = 1024  # query rows per kernel block: bounds memory at _ROWS * N_data floats


def as_points(x: Any, what: str, nonempty: bool = False) -> np.ndarray:
    """``x`` (an array, a list, a torch tensor on any device) as a float64 array of shape (N, dim); a 1-D
    array is read as N points in 1-D. ``what`` names it in the error; ``nonempty`` refuses N = 0."""
    if hasattr(x, "detach"):  # a torch tensor, possibly on a GPU or requiring grad
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or (nonempty and arr.shape[0] == 0):
        raise DataError(f"{what} must have shape (N, dim){' with N >= 1' if nonempty else ''}, got {arr.shape}")
    return arr


# ----------------------------------------------------------------------------------------------------
# Divergences of densities tabulated on a grid
# ----------------------------------------------------------------------------------------------------


def _grid_densities(p: np.ndarray, q: np.ndarray, dx: float, normalize: bool) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(f"p and q must be tabulated on the same grid, got shapes {p.shape} and {q.shape}")
    if not dx > 0:
        raise ValueError(f"dx (the grid cell size) must be positive, got {dx}")
    for name, d in (("p", p), ("q", q)):
        if not np.all(np.isfinite(d)) or np.any(d < 0):
            raise ValueError(f"{name} must be finite and non-negative on the grid")
        if normalize and d.sum() == 0:
            raise ValueError(f"{name} is zero everywhere on the grid and cannot be normalised")
    if normalize:
        p = p / (p.sum() * dx)
        q = q / (q.sum() * dx)
    return p, q


def kl_divergence_grid(p: np.ndarray, q: np.ndarray, dx: float, normalize: bool = True) -> float:
    """KL(p ‖ q) = Σ p log(p / q) dx for densities tabulated on the same regular grid.

    Args:
        p: densities at the grid points, any shape (e.g. (G,) in 1-D, (G, G) in 2-D), >= 0.
        q: same shape as ``p``.
        dx: volume of one grid cell (the spacing in 1-D, dx * dy in 2-D).
        normalize: rescale p and q to integrate to 1 on the grid first (removes truncation error of a
            finite grid); set False to use the tabulated values as they are.

    Returns:
        KL in nats; 0 log 0 = 0, and ``inf`` when p > 0 at a point where q = 0.
    """
    p, q = _grid_densities(p, q, dx, normalize)
    on = p > 0
    if np.any(q[on] == 0):
        return math.inf
    return float(np.sum(p[on] * (np.log(p[on]) - np.log(q[on]))) * dx)


def js_divergence_grid(p: np.ndarray, q: np.ndarray, dx: float, normalize: bool = True) -> float:
    """JS(p ‖ q) = ½ KL(p ‖ m) + ½ KL(q ‖ m), m = (p + q) / 2, for densities on the same grid.

    Args:
        p: densities at the grid points, any shape, >= 0.
        q: same shape as ``p``.
        dx: volume of one grid cell.
        normalize: rescale p and q to integrate to 1 on the grid first.

    Returns:
        JS in nats, finite and in [0, ln 2]; exactly ln 2 (up to rounding) for disjoint supports.
    """
    p, q = _grid_densities(p, q, dx, normalize)
    m = 0.5 * (p + q)
    on_p, on_q = p > 0, q > 0  # m > 0 wherever p > 0 or q > 0, so every log below is finite
    js = 0.5 * np.sum(p[on_p] * np.log(p[on_p] / m[on_p])) * dx + 0.5 * np.sum(q[on_q] * np.log(q[on_q] / m[on_q])) * dx
    return float(min(max(js, 0.0), LN2))


# ----------------------------------------------------------------------------------------------------
# Optimal transport
# ----------------------------------------------------------------------------------------------------


def wasserstein_1d_exact(
    x: np.ndarray,
    y: np.ndarray,
    x_weights: np.ndarray | None = None,
    y_weights: np.ndarray | None = None,
) -> float:
    """Exact W1 between two 1-D empirical distributions (``scipy.stats.wasserstein_distance``).

    In 1-D, W1 = ∫ |F_x(t) − F_y(t)| dt, the area between the two CDFs.

    Args:
        x: (N,) sample positions of the first distribution.
        y: (N',) sample positions of the second.
        x_weights: (N,) non-negative weights of ``x`` (uniform when None); normalised internally.
        y_weights: (N',) weights of ``y``.

    Returns:
        W1 >= 0.
    """
    from scipy.stats import wasserstein_distance  # lazy: scipy.stats takes ~1 s to import

    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    return float(wasserstein_distance(x, y, x_weights, y_weights))


def emd(a: np.ndarray, b: np.ndarray, M: np.ndarray) -> tuple[float, np.ndarray]:
    """Exact earth mover's problem min_γ Σ γ_ij M_ij with row sums a and column sums b (``ot.emd``).

    The masses need not be normalised, but must have the same total: with docs/protocols.md's piles
    a = (3, 2, 1, 4), b = (1, 2, 4, 3) and M_ij = |i − j|, the cost is 5 (normalised to total 1 it is 0.5).

    Args:
        a: (n,) non-negative source masses.
        b: (m,) non-negative target masses, ``b.sum() == a.sum()``.
        M: (n, m) ground cost of moving one unit of mass from i to j.

    Returns:
        cost: Σ plan * M.
        plan: (n, m) optimal transport plan, ``plan.sum(1) == a`` and ``plan.sum(0) == b``.
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    M = np.asarray(M, dtype=np.float64)
    if M.shape != (len(a), len(b)):
        raise ValueError(f"cost matrix must have shape ({len(a)}, {len(b)}), got {M.shape}")
    if np.any(a < 0) or np.any(b < 0):
        raise ValueError("masses must be non-negative")
    if not math.isclose(a.sum(), b.sum(), rel_tol=1e-9, abs_tol=1e-12):
        raise ValueError(f"source and target masses must have the same total, got {a.sum()} and {b.sum()}")
    import ot  # POT imports scikit-learn and more (~3 s); only pay for it when transport is needed

    plan = ot.emd(a, b, M, numItermax=10_000_000)
    return float(np.sum(plan * M)), np.asarray(plan)


def wasserstein_points(fake: np.ndarray, real: np.ndarray, max_points: int = W1_MAX_POINTS) -> float:
    """Exact W1 between two point clouds with uniform weights and Euclidean ground cost.

    To bound the cost of the linear program (roughly cubic in n), only the **first** ``max_points``
    rows of each cloud are used — deterministic, and an unbiased subsample when the rows are i.i.d.
    The W1 of two finite samples is itself a (positively biased) estimate of W1 between the
    distributions; compare numbers only at the same sample size.

    Args:
        fake: (N, dim) points.
        real: (N', dim) points.
        max_points: subsample size cap for each cloud.

    Returns:
        W1 >= 0 (in the units of the data).
    """
    x = as_points(fake, "fake samples")[:max_points]
    y = as_points(real, "real samples")[:max_points]
    if len(x) == 0 or len(y) == 0:
        raise DataError("wasserstein needs at least one fake and one real sample")
    if x.shape[1] != y.shape[1]:
        raise DataError(f"fake samples have dimension {x.shape[1]} but real samples have {y.shape[1]}")
    import ot  # lazy: see emd()

    a = np.full(len(x), 1.0 / len(x))
    b = np.full(len(y), 1.0 / len(y))
    # Euclidean cost. ot.dist(metric="euclidean") expands |x|² + |y|² − 2x·y, whose square root is off
    # by ~1e-8 for (near-)coincident points; "minkowski" with p=2 sums exact coordinate differences.
    M = ot.dist(x, y, metric="minkowski", p=2)  # (n, n')
    return float(ot.emd2(a, b, M, numItermax=10_000_000))


# ----------------------------------------------------------------------------------------------------
# Gaussian kernel density estimate
# ----------------------------------------------------------------------------------------------------


def _sq_dists(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(m, n) squared Euclidean distances via |x|² + |y|² − 2 x·y (one matmul; clipped at 0).

    Callers centre both sets on the data mean first, so the cancellation error is ~1e-16 times the
    squared spread of the data, far below any bandwidth h² the search can pick.
    """
    sq = x @ y.T  # (m, n); the in-place updates below keep one (m, n) buffer
    sq *= -2.0
    sq += (x * x).sum(1)[:, None]
    sq += (y * y).sum(1)[None, :]
    return np.maximum(sq, 0.0, out=sq)


def _logsumexp_rows(a: np.ndarray) -> np.ndarray:
    """log Σ_j exp(a_ij) for each row of a finite 2-D array; overwrites ``a``."""
    top = a.max(axis=1)  # (R,)
    a -= top[:, None]
    np.exp(a, out=a)
    return np.log(a.sum(axis=1)) + top


def gaussian_kde_logpdf(x: np.ndarray, data: np.ndarray, bandwidth: float) -> np.ndarray:
    """log q(x) for the isotropic Gaussian KDE q = (1/n) Σ_j N(data_j, h² I).

    Args:
        x: (m, dim) query points.
        data: (n, dim) kernel centres.
        bandwidth: kernel standard deviation h > 0.

    Returns:
        (m,) log densities (finite: computed with a log-sum-exp).
    """
    x = as_points(x, "query points")
    data = as_points(data, "KDE data")
    n, dim = data.shape
    centre = data.mean(axis=0)  # distances are translation invariant; centring keeps them accurate
    x, data = x - centre, data - centre
    h2 = float(bandwidth) ** 2
    log_norm = -0.5 * dim * math.log(2 * math.pi * h2) - math.log(n)
    out = np.empty(len(x), dtype=np.float64)
    for start in range(0, len(x), _ROWS):
        block = x[start : start + _ROWS]
        logk = _sq_dists(block, data)  # (R, n)
        logk *= -0.5 / h2
        out[start : start + len(block)] = _logsumexp_rows(logk)
    return out + log_norm


def lcv_bandwidth(data: np.ndarray, scale: float | None = None, max_points: int = BANDWIDTH_MAX_POINTS) -> float:
    """Bandwidth of an isotropic Gaussian KDE by likelihood cross-validation (leave-one-out).

    h maximises (1/n) Σ_i log q_{−i}(x_i) (Habbema, Hermans & van den Broek 1974; Duin 1976) over
    h ∈ [1e-3, 1] · scale: a 13-point log grid, then a bounded Brent search around the best grid point.
    Unlike Scott's or Silverman's rule (≈ n^(−1/(d+4)) times the *overall* spread), this adapts to
    multimodal data: on ring8 (std 0.01 per mode, overall spread ≈ 0.7) Scott's rule gives h ≈ 0.2,
    twenty times the mode width, and the KL estimates would measure the kernel, not the generator.
    The lower end 1e-3 · scale keeps h finite for a collapsed generator whose samples coincide.

    Selection uses the first ``max_points`` rows (the criterion costs n² kernel evaluations) and then
    rescales h by (max_points / n)^(1/(d+4)), the rate at which the optimal bandwidth shrinks with n.

    Args:
        data: (n, dim) samples, n >= 2.
        scale: length scale of the search range; default: the root-mean per-coordinate standard
            deviation of ``data`` (1.0 if that is 0).
        max_points: cap on the rows used for the selection.

    Returns:
        h > 0.
    """
    x = as_points(data, "KDE data")
    n, dim = x.shape
    if n < 2:
        raise DataError(f"a kernel density estimate needs at least 2 samples, got {n}")
    if scale is None:
        scale = float(np.sqrt(np.mean(np.var(x, axis=0))))
    if not scale > 0:
        scale = 1.0
    sel = x[:max_points] - x[:max_points].mean(axis=0)  # centred: see _sq_dists
    k = len(sel)
    sq = _sq_dists(sel, sel)  # (k, k)
    np.fill_diagonal(sq, np.inf)
    row_min = sq.min(axis=1, keepdims=True)  # nearest neighbour: the log-sum-exp shift, once for all h
    excess = sq - row_min  # (k, k), >= 0, inf on the diagonal

    def neg_loo(log_h: float) -> float:
        h2 = math.exp(2.0 * log_h)
        s = np.exp(-0.5 * excess / h2).sum(axis=1)  # (k,) >= 1: the nearest neighbour gives exp(0)
        ll = np.log(s) - 0.5 * row_min[:, 0] / h2 - 0.5 * dim * math.log(2 * math.pi * h2) - math.log(k - 1)
        return -float(ll.mean())

    grid = np.log(scale) + np.linspace(math.log(1e-3), 0.0, 13)
    values = [neg_loo(g) for g in grid]
    best = int(np.argmin(values))
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    res = minimize_scalar(neg_loo, bounds=(lo, hi), method="bounded", options={"xatol": 0.01})
    log_h = float(res.x) if res.fun <= values[best] else float(grid[best])
    return math.exp(log_h) * (k / n) ** (1.0 / (dim + 4))


# ----------------------------------------------------------------------------------------------------
# KL / JS between a known data density and a KDE of the generator
# ----------------------------------------------------------------------------------------------------


def _divergences_from_logs(
    log_p_real: np.ndarray, log_q_real: np.ndarray, log_p_fake: np.ndarray, log_q_fake: np.ndarray
) -> dict[str, float]:
    """Monte Carlo KL/JS: expectations under p are means over samples of p, under q over samples of q.

    ``*_real`` are log p and log q at (N',) samples of p; ``*_fake`` at (N,) samples of q.
    """
    kl_dm = float(np.mean(log_p_real - log_q_real))
    kl_md = float(np.mean(log_q_fake - log_p_fake))
    # log(2p / (p + q)) <= ln 2 pointwise, so each half is <= ln 2 before the clamp.
    js = 0.5 * float(np.mean(LN2 + log_p_real - np.logaddexp(log_p_real, log_q_real)))
    js += 0.5 * float(np.mean(LN2 + log_q_fake - np.logaddexp(log_q_fake, log_p_fake)))
    return {
        "kl_data_model": max(kl_dm, 0.0),
        "kl_model_data": max(kl_md, 0.0),
        "js": min(max(js, 0.0), LN2),
    }


def _divergences_on_grid(log_p: np.ndarray, log_q: np.ndarray, dx: float) -> dict[str, float]:
    """KL both ways and JS by the rectangle rule, in the log domain (no underflow to 0 · log 0)."""

    def normalise(log_d: np.ndarray) -> np.ndarray:
        top = log_d.max()
        return log_d - (top + math.log(np.exp(log_d - top).sum() * dx))

    lp, lq = normalise(log_p), normalise(log_q)
    p, q = np.exp(lp), np.exp(lq)
    log_m = np.logaddexp(lp, lq) - LN2
    kl_dm = float(np.sum(p * (lp - lq)) * dx)
    kl_md = float(np.sum(q * (lq - lp)) * dx)
    js = 0.5 * float(np.sum(p * (lp - log_m)) * dx) + 0.5 * float(np.sum(q * (lq - log_m)) * dx)
    return {
        "kl_data_model": max(kl_dm, 0.0),
        "kl_model_data": max(kl_md, 0.0),
        "js": min(max(js, 0.0), LN2),
    }


def kde_divergences(
    fake: np.ndarray,
    real: np.ndarray,
    log_prob: Callable[[np.ndarray], np.ndarray],
    max_points: int = KDE_MAX_POINTS,
    grid_points: int = GRID_POINTS,
    bandwidth: float | None = None,
) -> dict[str, float]:
    """KL(p_data ‖ q), KL(q ‖ p_data) and JS(p_data ‖ q) with q a Gaussian KDE of the fake samples.

    q uses an isotropic Gaussian kernel whose bandwidth is chosen by likelihood cross-validation on
    the fake samples (:func:`lcv_bandwidth`, with the search range scaled by the spread of the real
    samples). Only the first ``max_points`` rows of ``fake`` and ``real`` are used.

    - 1-D: both densities are tabulated on ``grid_points`` points spanning the real and fake samples
      plus 10 % of that span and 4 bandwidths on each side, normalised on the grid, and integrated by
      the rectangle rule (accurate to ~1e-4 nats for smooth densities); ``real`` only sets the range.
    - 2-D: Monte Carlo. Expectations under p_data are means over ``real``; expectations under q are
      means over N draws from q itself (each fake point plus N(0, h² I) noise, from a private
      ``numpy.random.default_rng(KDE_SAMPLE_SEED)``, so the result is deterministic and no global RNG
      moves). All three numbers are then unbiased estimates of divergences between p_data and the same
      q; statistical error ~ std(log ratio) / sqrt(N).

    The estimates are divergences to the KDE q, not to the generator: smoothing widens q by the
    bandwidth, which biases the numbers slightly upwards (a perfect generator scores ~0.01-0.05 nats on
    ring8/grid25 at N = 2,000). Monte Carlo noise can push an estimate below 0; KLs are clamped at 0 and
    JS to [0, ln 2] (each Monte Carlo term log(2p / (p + q)) is itself <= ln 2).

    Args:
        fake: (N, dim) generated samples, dim 1 or 2, N >= 2.
        real: (N', dim) data samples, N' >= 1.
        log_prob: maps (K, dim) points to (K,) log p_data.
        max_points: row cap for fake and real.
        grid_points: grid size in 1-D.
        bandwidth: q's kernel width when already chosen (gankit lab reuses it for D*); None: selected here.

    Returns:
        ``{"kl_data_model": KL(p ‖ q), "kl_model_data": KL(q ‖ p), "js": JS(p ‖ q)}`` in nats.
    """
    x = as_points(fake, "fake samples")[:max_points]
    y = as_points(real, "real samples")[:max_points]
    dim = x.shape[1]
    if y.shape[1] != dim:
        raise DataError(f"fake samples have dimension {dim} but real samples have {y.shape[1]}")
    if dim > 2:
        raise DataError(f"kl-js estimates densities in 1-D or 2-D only, got dimension {dim}")
    if len(x) < 2 or len(y) < 1:
        raise DataError(f"kl-js needs at least 2 fake and 1 real sample, got {len(x)} and {len(y)}")
    scale = float(np.sqrt(np.mean(np.var(y, axis=0)))) if len(y) > 1 else None
    h = bandwidth if bandwidth is not None else lcv_bandwidth(x, scale=scale)
    if dim == 1:
        both = np.concatenate([x[:, 0], y[:, 0]])
        lo, hi = float(both.min()), float(both.max())
        pad = 0.1 * (hi - lo) + 4.0 * h
        grid = np.linspace(lo - pad, hi + pad, grid_points)  # (G,)
        log_p = np.asarray(log_prob(grid[:, None]), dtype=np.float64)
        log_q = gaussian_kde_logpdf(grid[:, None], x, h)
        return _divergences_on_grid(log_p, log_q, float(grid[1] - grid[0]))
    log_p_real = np.asarray(log_prob(y), dtype=np.float64)
    log_q_real = gaussian_kde_logpdf(y, x, h)
    # Draws from q itself (a fake point plus kernel noise), under a private fixed-seed generator:
    # deterministic, and the global torch/numpy RNGs never move.
    z = x + h * np.random.default_rng(KDE_SAMPLE_SEED).standard_normal(x.shape)  # (N, dim) ~ q
    log_p_z = np.asarray(log_prob(z), dtype=np.float64)
    log_q_z = gaussian_kde_logpdf(z, x, h)
    return _divergences_from_logs(log_p_real, log_q_real, log_p_z, log_q_z)


# ----------------------------------------------------------------------------------------------------
# Registered metrics
# ----------------------------------------------------------------------------------------------------


def _has_low_dim_density(dataset: Any) -> bool:
    return (
        getattr(dataset, "kind", None) == "points"
        and bool(getattr(dataset, "has_density", False))
        and int(getattr(dataset, "dim", 0)) <= 2
    )


def is_points(dataset: Any) -> bool:
    """Whether a data set holds points (the metrics on point clouds apply to it)."""
    return getattr(dataset, "kind", None) == "points"


@METRICS.register(
    "kl-js",
    applies=_has_low_dim_density,
    description="KL(data‖model), KL(model‖data) and JS with a Gaussian KDE of the samples (1-D/2-D, known density)",
    keys={
        "kl_data_model": Key("lower", "KL(p_data ‖ p_model), model density a KDE of the samples: large when the "
                             "samples miss regions of the data (dropped modes)", "nats"),
        "kl_model_data": Key("lower", "KL(p_model ‖ p_data): large when samples fall where the data has little "
                             "mass (samples between or off the modes)", "nats"),
        "js": Key("lower", "Jensen-Shannon divergence of the two densities, from 0 (equal) to ln 2 = 0.693 "
                  "(disjoint): both failures at once", "nats"),
    },
)
def kl_js_metric(fake: np.ndarray, real: np.ndarray, dataset: Any) -> dict[str, float]:
    """KL both ways and JS between the data density and a KDE of ``fake`` (see :func:`kde_divergences`).

    Args:
        fake: (N, dim) generated samples.
        real: (N', dim) independent data samples (Monte Carlo expectations under p_data in 2-D).
        dataset: a points data set with ``log_prob`` and dim <= 2.

    Returns:
        ``{"kl_data_model", "kl_model_data", "js"}`` in nats.
    """
    return kde_divergences(fake, real, dataset.log_prob)


@METRICS.register(
    "wasserstein",
    applies=is_points,
    description="exact Wasserstein-1 between fake and real point clouds (1-D: every row, area between the CDFs; "
                "else POT on the first 1,000 rows of each)",
    keys={"w1": Key("lower", "earth mover's distance: how far, on average, the samples must move to become the "
                    "data (0: the same cloud up to sampling noise, see the floor)", "data units")},
)
def wasserstein_metric(fake: np.ndarray, real: np.ndarray, dataset: Any) -> dict[str, float]:
    """Exact W1 between the fake and real clouds.

    In 1-D, W1 = ∫ |F_fake − F_real| over **all** rows (:func:`wasserstein_1d_exact`, O(n log n)): two
    samples of 1,000 points of N(0, 1) are ~0.05 apart, so the LP's 1,000-row cap would hide any W1
    below that; at 10,000 + 10,000 rows the real-vs-real value is ~0.015. In 2-D and up, the LP on
    the first ``W1_MAX_POINTS`` rows of each (:func:`wasserstein_points`).

    Args:
        fake: (N, dim) generated samples.
        real: (N', dim) data samples.
        dataset: any points data set (unused beyond applicability).

    Returns:
        ``{"w1": W1}`` in data units.
    """
    x, y = as_points(fake, "fake samples"), as_points(real, "real samples")
    if x.shape[1] == 1 and y.shape[1] == 1 and len(x) and len(y):
        return {"w1": wasserstein_1d_exact(x[:, 0], y[:, 0])}
    return {"w1": wasserstein_points(x, y)}
