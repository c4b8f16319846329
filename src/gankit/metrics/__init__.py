"""Metric registry (``METRICS``) and the entry point that evaluates a set of metrics on samples.

A metric is a registered function ``fn(fake, real, dataset) -> dict[str, float]`` (docs/architecture.md rule 8):
``fake`` is (N, dim) generator samples, ``real`` an independent (N', dim) data sample drawn by the
caller under its own seed (metrics never sample), ``dataset`` the data set object. Each entry is
registered with ``applies=callable(dataset) -> bool`` saying whether it makes sense for that data set,
and ``keys={key: Key(...)}``: which way each reported number is better, its unit and what it means
(metrics/keys.py; the result tables read them).

Registered here (importing this package registers them):

- ``modes``       -> ``modes``, ``hq``, ``mode_kl``          (metrics/toy.py; docs/protocols.md "2-D mixtures")
- ``kl-js``       -> ``kl_data_model``, ``kl_model_data``, ``js``  (metrics/divergences.py)
- ``wasserstein`` -> ``w1``                                    (metrics/divergences.py)
- ``sliced-wasserstein`` -> ``sw``                             (metrics/sets.py)
- ``set-distance`` -> ``nearest_point``, ``chamfer``           (metrics/sets.py; the set distances of
  Generative-model basics 06)
- ``caption-match`` -> ``caption_match``, ``caption_<attribute>`` and ``..._held_out`` (metrics/captions.py)
- ``paired-l1``, ``paired-task`` -> ``l1``, ``task``           (metrics/paired.py; translators on held-out pairs)
- ``level-fid``   -> ``level{k}_fid``, ``level{k}_coverage``   (metrics/pyramid.py; each Gaussian-pyramid level)
- ``code-prior`` -> ``code_mmd2``, ``code_mmd_p``, ``code_sw``, ``code_w1``  (metrics/codes.py; auto-encoders'
  held-out codes against their prior)

A metric registered with ``auto=False`` is left out of ``"auto"`` (it must be named) but applies as usual.

A metric registered with ``needs_labels=True`` scores conditional samples: it is called as
``fn(fake, real, dataset, labels=...)`` with the (N,) classes the samples were generated for, and applies
only when the caller has them (``evaluate(..., labels=...)``: a conditional generator's latents carry them).

A metric registered with ``needs_net=predicate`` scores the generator itself, not the samples it is
handed (``caption-match``: images drawn for captions of the grammar, :mod:`gankit.metrics.captions`): it
is called as ``fn(fake, real, dataset, net=...)`` and applies only when the caller passes a generator
``net`` with ``predicate(net)`` true (``code-prior``: an auto-encoder's decoder with its encoder and prior,
which the recipe's ``metric_net`` hands over).

Image metrics read features from the data set's extractor (``metrics/features.py``): the shipped MNIST
and 8x8-digits classifiers, the shapes attribute classifier, and elsewhere a seeded random embedding
(``metrics/random_embedding.py``, keys prefixed ``rand_``). Installed packages add extractors and metrics
through the entry-point groups ``gankit.extractors`` and ``gankit.metrics`` (``metrics/plugins.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from gankit.errors import ConfigError, DataError, TooFewSamples
from gankit.metrics import (  # noqa: F401  (registers the metrics)  # noqa: F401,E402  (extractors)
    captions,  # noqa: F401,E402  (registers caption-match)
    codes,  # noqa: F401  (registers code-prior)
    digits_classifier,
    divergences,
    features,
    images,
    mnist_classifier,  # noqa: F401,E402  (registers the mnist-classifier extractor and stacked-mnist-modes)
    paired,  # noqa: F401,E402  (registers paired-l1, paired-task, the shapes-attributes extractor)
    plugins,
    pyramid,  # noqa: F401  (registers level-fid)
    random_embedding,
    sets,
    shapes_features,
    toy,
)
from gankit.metrics.keys import Key, key_info
from gankit.registry import METRICS

__all__ = ["METRICS", "Key", "applicable", "evaluate", "key_info", "needs_labels", "needs_net", "none_apply", "resolve"]

logger = logging.getLogger("gankit")
plugins.load_plugins()


def _dataset_name(dataset: Any) -> str:
    return str(getattr(dataset, "name", type(dataset).__name__))


def needs_labels(name: str) -> bool:
    """Whether metric ``name`` scores conditional samples against the classes they were generated for."""
    return bool(METRICS.meta(name).get("needs_labels", False))


def needs_net(name: str) -> bool:
    """Whether metric ``name`` scores the generator itself (it is handed ``net``), not only its samples."""
    return "needs_net" in METRICS.meta(name)


def _net_fits(name: str, net: Any) -> bool:
    return not needs_net(name) or (net is not None and bool(METRICS.meta(name)["needs_net"](net)))


def applicable(dataset: Any, labels: bool = False, net: Any = None) -> list[str]:
    """Names of the registered metrics whose ``applies(dataset)`` is true, sorted.

    Args:
        dataset: a data set object (``.kind``, ``.dim``, ``.modes``, ``.has_density``, ...).
        labels: whether the samples come with the classes they were generated for (conditional
            generators); without them the ``needs_labels`` metrics are left out.
        net: the generator of the samples; without one (or with one a ``needs_net`` metric cannot
            score) the ``needs_net`` metrics are left out.

    Returns:
        Sorted metric names.
    """
    names = []
    for name in METRICS.names():
        applies = METRICS.meta(name).get("applies")
        if (applies is None or applies(dataset)) and (labels or not needs_labels(name)) and _net_fits(name, net):
            names.append(name)
    return names


def none_apply(dataset: Any) -> str:
    """Why no metric applies to ``dataset``, in one phrase (for "auto" lists that expand to nothing)."""
    name = _dataset_name(dataset)
    if getattr(dataset, "kind", None) == "image":
        return (f"no registered metric applies to data set '{name}': image metrics need a feature extractor for "
                "its images (gankit.metrics.features.register_extractor)")
    return f"no registered metric applies to data set '{name}'"


def resolve(names: Iterable[str] | str, dataset: Any, labels: bool = False, net: Any = None) -> list[str]:
    """The metrics :func:`evaluate` would run: "auto" replaced by :func:`applicable`, repeats dropped
    (first occurrence wins), each name checked (ConfigError: unknown, or not applicable here)."""
    if isinstance(names, str):
        names = [names]
    ok = applicable(dataset, labels, net)
    auto = [n for n in ok if METRICS.meta(n).get("auto", True)]
    out: list[str] = []
    for name in names:
        for n in auto if name == "auto" else [name]:
            if n in out:
                continue
            METRICS.get(n)  # unknown name: ConfigError listing the known ones
            if needs_labels(n) and not labels:
                raise ConfigError(f"metric '{n}' scores conditional samples and needs the classes they were "
                                  "generated for (a conditional generator, e.g. model.recipe=cgan)")
            if not _net_fits(n, net):
                raise ConfigError(f"metric '{n}' scores the generator itself and needs one it can drive: "
                                  f"{METRICS.describe(n)}")
            if n not in ok:
                raise ConfigError(
                    f"metric '{n}' does not apply to data set '{_dataset_name(dataset)}'; "
                    f"metrics that apply: {', '.join(ok) if ok else 'none'}"
                )
            out.append(n)
    return out


def _points(x: Any, dim: int | None, what: str) -> np.ndarray:
    """Validate samples: (N, dim) finite numbers with N >= 1, as float64 (a 1-D array is N points in 1-D)."""
    if hasattr(x, "detach"):  # torch tensor, possibly on a GPU or requiring grad
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{what} must be an array of numbers of shape (N, dim)") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    elif arr.ndim > 2 and arr.shape[0] > 0:  # images (N, C, H, W): metrics take flat rows
        arr = arr.reshape(arr.shape[0], -1)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise DataError(f"{what} must have shape (N, dim) with N >= 1, got {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise DataError(f"{what} have dimension {arr.shape[1]} but the data set has dimension {dim}")
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise DataError(f"{what} contain {int(bad.sum())} row(s) with NaN or infinite values")
    return arr


def evaluate(names: Iterable[str] | str, fake: Any, real: Any, dataset: Any, labels: Any = None,
             progress: Callable[[str], None] | None = None, net: Any = None) -> dict[str, float]:
    """Run the named metrics on one set of samples and merge their results.

    Args:
        names: metric names; ``"auto"`` expands to :func:`applicable` ``(dataset)``.
        fake: (N, dim) generator samples (numpy array or torch tensor); images may be (N, C, H, W).
        real: (N', dim) independent data samples, drawn by the caller under its own seed.
        dataset: the data set the samples belong to.
        labels: (N,) classes the fake samples were generated for (conditional generators), or None.
        progress: told which metric starts and on how many samples ("fid (1/4): 10000 samples vs 10000
            real"), so a long evaluation is not silent.
        net: the generator that drew ``fake``, for the ``needs_net`` metrics (caption-match), or None.

    Returns:
        The metrics' keys merged into one dict, e.g. ``{"modes": 8.0, "hq": 97.1, "mode_kl": 0.01,
        "w1": 0.02, ...}``; all values are Python floats.

    A metric that "auto" chose and that cannot run on this few samples (FID with no more samples than
    feature dimensions) is left out with one warning naming the fix; a metric named explicitly raises.

    Raises:
        ConfigError: an unknown metric name, or a metric that does not apply to this data set.
        DataError: samples of the wrong shape or with non-finite values; TooFewSamples (a DataError).
    """
    chosen = resolve(names, dataset, labels is not None, net)
    explicit = {names} if isinstance(names, str) else set(names)
    dim = getattr(dataset, "dim", None)
    fake_arr = _points(fake, dim, "fake samples")
    real_arr = _points(real, dim, "real samples")
    if labels is not None:
        labels = np.asarray(labels.detach().cpu().numpy() if hasattr(labels, "detach") else labels).reshape(-1)
        if len(labels) != len(fake_arr):
            raise DataError(f"{len(fake_arr)} fake samples but {len(labels)} labels")
    merged: dict[str, float] = {}
    owner: dict[str, str] = {}
    for i, name in enumerate(chosen, 1):
        if progress is not None:
            progress(f"{name} ({i}/{len(chosen)}): {len(fake_arr)} samples vs {len(real_arr)} real")
        fn = METRICS.get(name)
        extra = {"labels": labels} if needs_labels(name) else {"net": net} if needs_net(name) else {}
        try:
            result = fn(fake_arr, real_arr, dataset, **extra)
        except TooFewSamples as exc:
            if name in explicit:
                raise
            logger.warning("left out: %s", exc)
            continue
        for key, value in result.items():
            if key in merged:
                raise RuntimeError(f"metrics '{owner[key]}' and '{name}' both report the key '{key}'")
            merged[key] = float(value)
            owner[key] = name
    return merged
