"""What the feature metrics share: checks on their (N, D) inputs, and numpy/scipy BLAS threads held to torch's.

The feature metrics (:mod:`gankit.metrics.scores`, :mod:`gankit.metrics.manifolds`,
:mod:`gankit.metrics.modes`, :mod:`gankit.metrics.bootstrap`) take features (N, D) or class probabilities
(N, K) as numpy arrays or tensors; these turn them into checked float64 arrays.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from gankit.errors import DataError

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

