"""Code-to-prior distance: do an auto-encoder's codes of held-out data follow the prior it samples from?

An auto-encoder is a generator only if the codes its decoder learned to decode are distributed like the
prior p(z) it is sampled from (Makhzani et al., "Adversarial Autoencoders", 2016: the AAE matches the
aggregated posterior q(z) = E_x q(z|x) to p(z) with a discriminator; the VAE pushes each q(z|x) towards
N(0, I) with its KL term). This module measures that match on two samples — n codes of held-out data
and n draws of the prior — with:

**A kernel two-sample test** (Gretton, Borgwardt, Rasch, Schölkopf, Smola, "A Kernel Two-Sample Test",
JMLR 2012). With the Gaussian kernel k(a, b) = exp(−|a − b|² / (2h²)) the unbiased estimate of the squared
maximum mean discrepancy between X = {x_i} (m codes) and Y = {y_j} (n prior draws) is

    MMD²_u = 1/(m(m−1)) Σ_{i≠j} k(x_i, x_j) + 1/(n(n−1)) Σ_{i≠j} k(y_i, y_j) − 2/(mn) Σ_{i,j} k(x_i, y_j),

zero in expectation when the two distributions are equal (so a value may be slightly negative), and
positive otherwise (the Gaussian kernel is characteristic). The bandwidth h is the median of the pairwise
distances of the pooled sample (the median heuristic). Its **permutation p-value**: the pooled sample is
split at random into sets of sizes m and n ``PERMUTATIONS`` times, and

    p = (1 + #{permutations whose MMD²_u ≥ the observed one}) / (1 + PERMUTATIONS),

a valid p-value under H0 "codes ~ prior" (at least 1 / (1 + PERMUTATIONS)). A small p says the codes
are told apart from the prior; a large one says this many samples cannot tell them apart. All permutations
reuse one kernel matrix K (diagonal set to 0): with a the 0/1 indicator of X and b = 1 − a,
Σ_{i≠j∈X} k = aᵀKa, Σ_{i≠j∈Y} k = bᵀKb, Σ_{X×Y} k = aᵀKb, so P permutations cost one (m+n) × P matmul.

**Wasserstein-1** between the two samples, in code units: the sliced W1 (:func:`gankit.metrics.sets.
sliced_wasserstein`, 200 fixed directions; comparable across code sizes) always, and for codes of at most 2
dimensions also the exact W1 (:func:`gankit.metrics.divergences.wasserstein_points`, first 1,000 rows).

Registered as the metric ``code-prior``, which scores the generator's run rather than its samples
(``needs_net``): it applies when the net it is handed can give codes and prior draws, ``net.code_samples(
dataset, n, seed) -> (codes (n, d), prior (n, d))`` (an auto-encoder run, :mod:`gankit.models.autoencoder`,
which says how each recipe forms its codes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gankit.errors import DataError
from gankit.metrics.divergences import wasserstein_points
from gankit.metrics.keys import Key
from gankit.metrics.sets import sliced_wasserstein
from gankit.registry import METRICS

__all__ = ["CODE_POINTS", "PERMUTATIONS", "MMDTest", "code_prior_distance", "gaussian_kernel", "has_codes",
           "median_bandwidth", "mmd2_unbiased", "mmd_test"]

CODE_POINTS = 2000
"""At most this many held-out codes (and as many prior draws) per evaluation."""
PERMUTATIONS = 200
"""Random splits of the pooled sample behind the p-value (its smallest value is 1/201)."""
CODE_SEED = 21
"""Held-out data, posterior noise and prior draws of the metric (fixed: the metric of a run is one number)."""
EXACT_W1_MAX_DIM = 2
"""Up to this code size the exact W1 is reported beside the sliced one."""


def _tensor(x: Any, what: str) -> Tensor:
    t = torch.as_tensor(np.asarray(x.detach().cpu() if isinstance(x, Tensor) else x, dtype=np.float64))
    if t.ndim != 2 or len(t) < 2:
        raise DataError(f"{what} must have shape (N, dim) with N >= 2, got {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise DataError(f"{what} contain NaN or infinite values")
    return t


def _pair(x: Any, y: Any) -> tuple[Tensor, Tensor]:
    a, b = _tensor(x, "codes"), _tensor(y, "prior samples")
    if a.shape[1] != b.shape[1]:
        raise DataError(f"codes have dimension {a.shape[1]} but prior samples have {b.shape[1]}")
    return a, b


def median_bandwidth(z: Tensor) -> float:
    """h = the median of the pairwise Euclidean distances |z_i − z_j|, i < j, of the (pooled) sample ``z``."""
    d = torch.pdist(z)
    h = float(np.median(d.numpy())) if len(d) else 0.0  # the mean of the middle two (torch.median takes the lower)
    return h if h > 0 else 1.0  # all points equal: any bandwidth gives MMD² 0


def gaussian_kernel(a: Tensor, b: Tensor, h: float) -> Tensor:
    """k(a_i, b_j) = exp(−|a_i − b_j|² / (2h²)), shape (len(a), len(b))."""
    return torch.exp(-torch.cdist(a, b).pow(2) / (2.0 * h * h))


def mmd2_unbiased(x: Any, y: Any, h: float) -> float:
    """MMD²_u between samples ``x`` (m, d) and ``y`` (n, d) with the Gaussian kernel of bandwidth ``h``."""
    a, b = _pair(x, y)
    m, n = len(a), len(b)
    kxx, kyy, kxy = gaussian_kernel(a, a, h), gaussian_kernel(b, b, h), gaussian_kernel(a, b, h)
    within_x = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    within_y = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * kxy.mean())


@dataclass(frozen=True)
class MMDTest:
    """One kernel two-sample test: ``mmd2`` (MMD²_u), its permutation ``p_value``, the ``bandwidth`` h used."""

    mmd2: float
    p_value: float
    bandwidth: float


def mmd_test(x: Any, y: Any, permutations: int = PERMUTATIONS, seed: int = 0,
             bandwidth: float | None = None) -> MMDTest:
    """MMD²_u of ``x`` against ``y`` at the median-distance bandwidth (or ``bandwidth``) and its permutation p-value.

    The permutations are drawn from a private ``torch.Generator`` seeded with ``seed`` (no global RNG moves).
    """
    a, b = _pair(x, y)
    m, n = len(a), len(b)
    z = torch.cat([a, b])  # (N, d), N = m + n
    h = median_bandwidth(z) if bandwidth is None else float(bandwidth)
    k = gaussian_kernel(z, z, h)
    k.fill_diagonal_(0.0)
    gen = torch.Generator().manual_seed(seed)
    split = torch.zeros(len(z), permutations + 1, dtype=torch.float64)  # column 0: the observed split
    split[:m, 0] = 1.0
    for p in range(1, permutations + 1):
        split[torch.randperm(len(z), generator=gen)[:m], p] = 1.0
    ka = k @ split  # (N, P + 1): K a for every split a
    row = k.sum(1, keepdim=True)  # (N, 1): K 1
    total = row.sum()  # 1ᵀ K 1
    xx = (split * ka).sum(0)  # aᵀ K a
    x_all = (split * row).sum(0)  # aᵀ K 1
    xy = x_all - xx  # aᵀ K b
    yy = total - 2.0 * x_all + xx  # bᵀ K b
    stats = xx / (m * (m - 1)) + yy / (n * (n - 1)) - 2.0 * xy / (m * n)  # (P + 1,) MMD²_u of each split
    observed = float(stats[0])
    p_value = (1.0 + float((stats[1:] >= stats[0]).sum())) / (1.0 + permutations)
    return MMDTest(observed, p_value, h)


def code_prior_distance(codes: Any, prior: Any, permutations: int = PERMUTATIONS,
                        seed: int = CODE_SEED) -> dict[str, float]:
    """The ``code-prior`` metric's numbers for codes (m, d) and prior draws (n, d): ``code_mmd2``,
    ``code_mmd_p``, ``code_sw`` and, for d <= 2, ``code_w1``."""
    a, b = _pair(codes, prior)
    test = mmd_test(a, b, permutations, seed)
    x, y = a.numpy(), b.numpy()
    out = {"code_mmd2": test.mmd2, "code_mmd_p": test.p_value, "code_sw": sliced_wasserstein(x, y)}
    if a.shape[1] <= EXACT_W1_MAX_DIM:
        out["code_w1"] = wasserstein_points(x, y)
    out["code_mmd2_n"] = float(len(a))
    return out


def has_codes(net: Any) -> bool:
    """Whether ``net`` gives codes of held-out data and prior draws (``code_samples``): an auto-encoder run."""
    return callable(getattr(net, "code_samples", None))


@METRICS.register(
    "code-prior",
    needs_net=has_codes,
    description="auto-encoders: held-out data's codes against draws of the prior (MMD² two-sample test with its "
                "permutation p-value, sliced and exact W1)",
    keys={
        "code_mmd2": Key("lower", "unbiased MMD² (Gaussian kernel, median-distance bandwidth) between held-out "
                         "codes and prior draws: ~0 when the codes follow the prior"),
        "code_mmd_p": Key("higher", "permutation p-value of the MMD test: small (≤ 0.05) when the codes are told "
                          "apart from the prior, large when this many samples cannot", "fraction"),
        "code_sw": Key("lower", "sliced Wasserstein-1 between held-out codes and prior draws", "code units"),
        "code_w1": Key("lower", "exact Wasserstein-1 between held-out codes and prior draws (codes of ≤ 2 "
                       "dimensions, first 1,000 of each)", "code units"),
    },
)
def code_prior_metric(fake: Any, real: Any, dataset: Any, net: Any = None) -> dict[str, float]:
    """:func:`code_prior_distance` of ``min(len(fake), CODE_POINTS)`` held-out codes from ``net`` and as many
    prior draws; ``fake`` and ``real`` only set the count."""
    if not has_codes(net):
        raise DataError("code-prior needs an auto-encoder run that gives codes and prior draws")
    n = max(2, min(len(fake), CODE_POINTS))
    codes, prior = net.code_samples(dataset, n, CODE_SEED)
    return code_prior_distance(codes, prior)
