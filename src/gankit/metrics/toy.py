"""Mode coverage on Gaussian mixtures: modes covered, % high-quality samples, KL to uniform modes.

The protocol of VEEGAN (Srivastava et al., "VEEGAN: Reducing Mode Collapse in GANs using Implicit
Variational Learning", NeurIPS 2017, Table 1) and PacGAN (Lin et al., "PacGAN: The power of two samples
in generative adversarial networks", NeurIPS 2018, Table 1), as written in ``docs/protocols.md``,
section "2-D mixtures":

- a generated sample is *high quality* (HQ) if its Euclidean distance to its **nearest** mixture mean is
  at most ``3 * std`` (the per-mode standard deviation);
- a mode is *covered* if it is the nearest mean of at least one HQ sample;
- ``mode_kl`` = KL(h ‖ u) in nats, where h is the histogram of the HQ samples over the M modes
  (normalised to sum to 1) and u is uniform over all M modes:
  ``KL(h ‖ u) = Σ_k h_k log(M h_k) = ln M − H(h)``, with the convention 0 log 0 = 0 for empty modes.
  It is 0 when the HQ samples are spread evenly over all modes and ln M when they all sit on one mode.
  When there is **no** HQ sample at all the histogram is undefined; we return ln M, the value of a total
  collapse, so that "no good samples" never scores better than "one good mode".

docs/protocols.md scores 2,500 generator samples and averages >= 5 seeds; that is the caller's job (the
benchmarks call :func:`mode_stats` directly).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gankit.errors import DataError
from gankit.metrics.divergences import as_points
from gankit.metrics.keys import MODE_KL, MODES, Key
from gankit.registry import METRICS

HQ_STDS = 3.0
"""A sample is high quality when it lies within ``HQ_STDS * std`` of its nearest mean."""

_CHUNK = 8192  # rows per distance block: bounds memory at _CHUNK * M * dim floats


def assign_modes(fake: np.ndarray, means: np.ndarray, std: float) -> tuple[np.ndarray, np.ndarray]:
    """Nearest mean of every sample and whether the sample is high quality.

    Args:
        fake: (N, dim) generated samples.
        means: (M, dim) mixture means.
        std: per-mode standard deviation; HQ means ``||x - nearest mean|| <= 3 * std``.

    Returns:
        nearest: (N,) int index of the nearest mean (ties go to the lowest index).
        hq: (N,) bool, True for high-quality samples.
    """
    x = as_points(fake, "fake samples")
    mu = as_points(means, "mode means")
    if x.shape[1] != mu.shape[1]:
        raise DataError(f"samples have dimension {x.shape[1]} but the mode means have {mu.shape[1]}")
    if not std > 0:
        raise DataError(f"mode std must be positive, got {std}")
    nearest = np.empty(len(x), dtype=np.int64)
    dist = np.empty(len(x), dtype=np.float64)
    for start in range(0, len(x), _CHUNK):
        block = x[start : start + _CHUNK]
        # Plain differences, not |x|² - 2x·m + |m|²: the 3-std boundary must not move by cancellation.
        sq = ((block[:, None, :] - mu[None, :, :]) ** 2).sum(-1)  # (B, M)
        k = sq.argmin(axis=1)  # (B,)
        nearest[start : start + len(block)] = k
        dist[start : start + len(block)] = np.sqrt(sq[np.arange(len(block)), k])
    hq = dist <= HQ_STDS * float(std)
    return nearest, hq


def mode_stats(fake: np.ndarray, means: np.ndarray, std: float) -> dict[str, float]:
    """Modes covered, % high-quality samples and KL(HQ mode histogram ‖ uniform), the docs/protocols.md rule.

    Args:
        fake: (N, dim) generated samples.
        means: (M, dim) mixture means.
        std: per-mode standard deviation (ring8: 0.01, grid25: 0.05).

    Returns:
        ``{"modes": covered count in 0..M, "hq": percent of HQ samples in 0..100,
        "mode_kl": KL(h ‖ uniform over M) in nats, in [0, ln M]}``; with no HQ sample ``mode_kl = ln M``.
        With N = 0 samples, hq is 0 (and modes 0, mode_kl ln M).
    """
    nearest, hq = assign_modes(fake, means, std)
    m = as_points(means, "mode means").shape[0]
    counts = np.bincount(nearest[hq], minlength=m).astype(np.float64)  # (M,)
    n_hq = counts.sum()
    if n_hq == 0:
        mode_kl = math.log(m)  # no HQ sample: scored as a total collapse
    else:
        h = counts / n_hq
        filled = h > 0  # 0 log 0 = 0
        mode_kl = float(np.sum(h[filled] * np.log(m * h[filled])))
        mode_kl = min(max(mode_kl, 0.0), math.log(m))  # rounding only; KL to uniform lies in [0, ln M]
    return {
        "modes": float(np.count_nonzero(counts)),
        "hq": 100.0 * float(n_hq) / len(hq) if len(hq) else 0.0,
        "mode_kl": mode_kl,
    }


def has_modes(dataset: Any) -> bool:
    return (
        getattr(dataset, "kind", None) == "points"
        and getattr(dataset, "modes", None) is not None
        and getattr(dataset, "mode_std", None) is not None
    )


@METRICS.register(
    "modes",
    applies=has_modes,
    description="modes covered, % high-quality samples (3 std) and KL to uniform modes (VEEGAN/PacGAN)",
    keys={"modes": MODES, "mode_kl": MODE_KL,
          "hq": Key("higher", "% of samples within 3 std of a mode: how many samples look like the data (fidelity)",
                    "%")},
)
def modes_metric(fake: np.ndarray, real: np.ndarray, dataset: Any) -> dict[str, float]:
    """Mode coverage of ``fake`` on the data set's mixture (``real`` is not used).

    Args:
        fake: (N, dim) generated samples (docs/protocols.md scores N = 2,500).
        real: (N', dim) data samples; unused, the rule needs only the known means and std.
        dataset: a points data set with ``modes`` (M, dim) and ``mode_std``.

    Returns:
        ``{"modes", "hq", "mode_kl"}`` as in :func:`mode_stats`.
    """
    return mode_stats(fake, dataset.modes, dataset.mode_std)
