"""Real samples for metrics: draws that never move the training RNG, and which split is held out.

``reference_sample`` is what every metric scores the generator against; ``held_out_split`` is the one place
that decides when a data set's test split stands in for unseen data (a run trained on the training split of
a data set that has one), used by the real-vs-real floor, the copy check and the auto-encoders' code figures.
"""

from __future__ import annotations

from typing import Any

import torch


def reference_sample(dataset: Any, n: int, seed: int) -> torch.Tensor:
    """``n`` data samples for metrics, drawn under ``seed`` without moving torch's global RNG.

    An in-memory image set with at least ``n`` images gives ``n`` distinct ones (a repeated image would
    bias FID and the k-NN metrics); anything else is sampled as in training.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if hasattr(dataset, "images") and hasattr(dataset, "__len__") and n <= len(dataset):
            return dataset.images(torch.randperm(len(dataset))[:n])
        return dataset.sample(n)


def held_out_split(cfg: Any) -> Any | None:
    """The data section of ``cfg`` with ``data.split=test`` when the run trained on the training split of a
    data set that has a test split (MNIST, shapes-captions): the held-out data; None otherwise."""
    from gankit import config as config_mod
    from gankit.registry import DATASETS

    if "test" not in DATASETS.meta(cfg.data.name).get("splits", ()) or cfg.data.split != "train":
        return None
    return config_mod.from_dict(config_mod.apply_overrides(config_mod.to_dict(cfg), ["data.split=test"])).data


def held_out_reference(cfg: Any, dataset: Any, n: int) -> tuple[torch.Tensor, str]:
    """Real data in the generator's place for the real-vs-real floor.

    A data set with a test split drawn like its training split, trained on the training split
    (:func:`held_out_split`): ``n`` test images (MNIST: test vs train, docs/protocols.md). Otherwise (no test
    split, or one that is another distribution on purpose: shapes-captions holds out (kind, colour) pairs,
    ``test_iid=False``) a second independent sample of the training data.
    """
    from gankit.data import build_dataset
    from gankit.registry import DATASETS

    seed = cfg.eval.seed + 4
    held = held_out_split(cfg) if DATASETS.meta(cfg.data.name).get("test_iid", True) else None
    if held is not None:
        return reference_sample(build_dataset(held), n, seed), "held-out test split vs training split"
    return reference_sample(dataset, n, seed), "two independent samples of the training data"
