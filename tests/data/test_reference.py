"""The real-vs-real floor's held-out side: the test split only where it is drawn like the training split."""

from __future__ import annotations

import torch

from gankit import config as config_mod
from gankit.data import build_dataset
from gankit.data.reference import held_out_reference, reference_sample


def test_shapes_floor_is_two_training_samples_not_the_held_out_pairs(monkeypatch):
    # shapes-captions' test split holds out (kind, colour) pairs: another distribution, no floor for training
    from gankit.data import captions

    monkeypatch.setitem(captions.SPLIT_SIZE, "train", 64)
    monkeypatch.setitem(captions.SPLIT_SIZE, "test", 64)
    cfg = config_mod.resolve("stackgan-shapes")
    dataset = build_dataset(cfg.data)
    other, kind = held_out_reference(cfg, dataset, 16)
    assert kind == "two independent samples of the training data"
    assert torch.equal(other, reference_sample(dataset, 16, cfg.eval.seed + 4))


def test_mnist_floor_is_the_test_split(mnist_cache):
    cfg = config_mod.resolve("dcgan-mnist")
    dataset = build_dataset(cfg.data)
    other, kind = held_out_reference(cfg, dataset, 16)
    assert kind == "held-out test split vs training split"
    test = build_dataset(config_mod.resolve("dcgan-mnist", overrides=["data.split=test"]).data)
    assert torch.equal(other, reference_sample(test, 16, cfg.eval.seed + 4))
