"""Image metrics on network features: FID, Inception score, KID, precision/recall, density/coverage.

The metrics registered here read features (N, D) and class probabilities (N, K) of the samples and the
real images from the data set's extractor (``metrics/features.py``) and hand them to the closed forms:
:mod:`gankit.metrics.scores` (FID, Inception score, KID), :mod:`gankit.metrics.manifolds` (precision/recall,
density/coverage), :mod:`gankit.metrics.modes` (Stacked MNIST modes, conditional accuracy) and
:mod:`gankit.metrics.bootstrap` (intervals); every name of those stays importable from here.
docs/protocols.md ("MNIST quality"): always report the sample count, and the real-vs-real floor (e.g. MNIST
test vs train) beside a model's number, computed with the same extractor and the same N.

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

from typing import Any

import numpy as np

from gankit.errors import ConfigError, TooFewSamples
from gankit.metrics import features
from gankit.metrics.bootstrap import N_BOOT, bootstrap_ci
from gankit.metrics.keys import Key
from gankit.metrics.manifolds import DC_K, PR_K, _manifold_terms, density_coverage, precision_recall
from gankit.metrics.modes import conditional_accuracy, digits_to_modes, mode_histogram_kl
from gankit.metrics.scores import (
    IS_SPLITS,
    KID_SUBSET_SIZE,
    KID_SUBSETS,
    SQRTM_TOL,
    feature_stats,
    fid_from_features,
    frechet_distance,
    inception_score,
    kid,
    kid_values,
)
from gankit.registry import METRICS

__all__ = [
    "N_BOOT",
    "SQRTM_TOL",
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

PR_MAX_POINTS = 10_000
"""The k-NN metrics use at most the first 10,000 rows of each set (cost grows as N²)."""


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
    ext = features.extractor_for(dataset) if getattr(dataset, "kind", None) == "image" else None
    return ext is not None and ext.gives_probs


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
    if probs is None:  # called directly: the registry applies it only where there are probabilities
        raise ConfigError(f"inception-score needs class probabilities, and the feature extractor of data set "
                          f"'{getattr(dataset, 'name', dataset)}' gives none")
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
