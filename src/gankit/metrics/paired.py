"""How good is an image-to-image translator? L1 to the target and the task measure, on held-out pairs.

A translator (model.recipe=pix2pix) draws its "samples" by translating held-out inputs, and each
latent carries the held-out pair it came from (gankit/nets/unet.py), so these metrics are registered
with ``needs_labels=True``: the "labels" are pair indices into ``dataset.held_out`` (data/paired.py).
They apply to paired data sets (those with ``held_out``); the classifiers below are measuring
instruments only, never used in training.

- ``paired-l1``   -> ``l1`` (+ ``_low``/``_high``/``_n``): the mean over outputs of the mean absolute
  difference to the target, (1/N) Σᵢ ‖G(xᵢ) − yᵢ‖₁ / (C·H·W), pixels on gankit's [-1, 1] scale (what
  pix2pix's λ·L1 term minimises; halve it for the [0, 1] scale). It rewards the per-pixel median of
  p(y|x), hence blur where the target is uncertain: read it beside FID.
- ``paired-task`` -> ``task`` (+ ``_low``/``_high``/``_n``): how often the output is what its input
  asks for. ``edges2digits``: the shipped MNIST classifier reads the source digit's class;
  ``labels2shapes``: the shipped attribute classifier reads the label map's kind, colour, size and
  position (all four; ``task_kind`` ... ``task_position`` each); ``masks2shapes``: kind, size and
  position only, since a silhouette leaves the colour open. Percentile bootstrap intervals.
  For shapes also ``colour_entropy``: the entropy in bits, H = −Σ_c p_c log₂ p_c, of the colours the
  classifier reads over the outputs (log₂ 4 = 2 when the four colours are alike, 0 when one colour
  is everywhere): the variety an adversary should keep where the input does not fix the colour.

Classifier FID of the outputs against real targets is the registered ``fid`` metric: the paired sets
name their extractor (``mnist-classifier`` for digits; ``shapes-attributes`` below, the attribute
classifier's 64-d penultimate features, for shapes).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gankit.errors import DataError
from gankit.metrics import features
from gankit.metrics.bootstrap import N_BOOT, bootstrap_ci
from gankit.metrics.captions import match_rates
from gankit.metrics.mnist_classifier import class_accuracy
from gankit.metrics.shapes_features import CLASSIFIER  # the shapes-attributes extractor's network
from gankit.registry import METRICS

__all__ = ["colour_entropy", "paired_l1_metric", "paired_task_metric"]

TASKS = ("digit", "attributes", "shape")  # PairedImages.task values with a task measure
COLOUR = 1  # the colour's column in the (N, 4) shape attributes (data/captions.py ATTRIBUTES)


def _is_paired(dataset: Any) -> bool:
    return getattr(dataset, "kind", None) == "image" and getattr(dataset, "held_out", None) is not None


def _has_task(dataset: Any) -> bool:
    return _is_paired(dataset) and getattr(dataset, "task", "") in TASKS \
        and dataset.held_out.task is not None


def pair_indices(labels: Any, dataset: Any, n: int) -> np.ndarray:
    """(n,) held-out pair indices from a metric's ``labels``, or a DataError naming the valid range."""
    if labels is None:
        raise DataError("paired metrics need the held-out pair behind each output (a translator's latents carry it)")
    idx = np.asarray(labels.detach().cpu().numpy() if hasattr(labels, "detach") else labels).reshape(-1)
    m = len(dataset.held_out.targets)
    if len(idx) != n or not np.issubdtype(idx.dtype, np.integer) or idx.min(initial=0) < 0 or idx.max(initial=0) >= m:
        raise DataError(f"paired metrics score translations of held-out inputs: {n} pair indices in 0..{m - 1} "
                        f"were needed (outputs of inputs given by hand have no target)")
    return idx.astype(np.int64)


def _interval(hits: np.ndarray, prefix: str) -> dict[str, float]:
    low, high = bootstrap_ci(np.mean, hits, n_boot=N_BOOT)
    return {prefix: float(hits.mean()), f"{prefix}_low": low, f"{prefix}_high": high, f"{prefix}_n": float(len(hits))}


@METRICS.register(
    "paired-l1", applies=_is_paired, needs_labels=True,
    description="mean absolute difference between each translation and its held-out target (pixels in [-1, 1])",
)
def paired_l1_metric(fake: Any, real: Any, dataset: Any, labels: Any = None) -> dict[str, float]:
    """L1 to the targets of the held-out pairs the outputs were made from (``real`` unused).

    Returns:
        ``{"l1", "l1_low", "l1_high" (percentile bootstrap), "l1_n"}``.
    """
    x = features.as_images(fake, dataset)
    idx = pair_indices(labels, dataset, len(x))
    y = dataset.held_out_targets(idx)
    return _interval((x - y).abs().flatten(1).mean(dim=1).double().numpy(), "l1")


@METRICS.register(
    "paired-task", applies=_has_task, needs_labels=True,
    description="held-out pairs: the digit class (MNIST classifier) or the shape attributes (attribute "
                "classifier; masks2shapes: not the colour) read from each translation equal its input's",
)
def paired_task_metric(fake: Any, real: Any, dataset: Any, labels: Any = None) -> dict[str, float]:
    """The task measure of the outputs (``real`` unused).

    Returns:
        ``{"task", "task_low", "task_high", "task_n"}`` and for shapes also ``task_kind``, ``task_colour``,
        ``task_size``, ``task_position`` (fractions) and ``colour_entropy`` (bits).
    """
    x = features.as_images(fake, dataset)
    idx = pair_indices(labels, dataset, len(x))
    truth = dataset.held_out.task[torch.from_numpy(idx)]
    if dataset.task == "digit":
        acc = class_accuracy(x, truth.numpy())
        return {k.replace("class_accuracy", "task"): v for k, v in acc.items()}
    pred = CLASSIFIER.module.predict(x)
    rates = match_rates(pred, truth)
    judged = [k for k in range(truth.shape[1]) if dataset.task == "attributes" or k != COLOUR]
    out = _interval((pred == truth)[:, judged].all(dim=1).double().numpy(), "task")
    out.update({f"task_{k}": v for k, v in rates.items() if k != "match"})
    out["colour_entropy"] = colour_entropy(pred[:, COLOUR])
    return out


def colour_entropy(colours: torch.Tensor) -> float:
    """H = −Σ_c p_c log₂ p_c (bits) of the empirical distribution of colour indices (N,)."""
    p = torch.bincount(colours.long().flatten()).double()
    p = p[p > 0] / p.sum()
    return 0.0 - float((p * p.log2()).sum())  # 0.0 - 0.0: one colour gives 0, not -0
