"""Class-label metrics: Stacked MNIST modes and the accuracy of conditional samples.

**Stacked MNIST modes** (docs/protocols.md; VEEGAN, PacGAN): the classifier labels the three channels, the
triple (a, b, c) is mode 100a + 10b + c; report the number of distinct modes and KL(h ‖ uniform over
1,000) = Σ_k h_k ln(1000 h_k) in nats (0 for a perfectly even histogram, ln 1000 = 6.91 at total collapse).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gankit.errors import DataError
from gankit.metrics.arrays import _matrix

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

