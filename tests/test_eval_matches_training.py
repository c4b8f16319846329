"""The end-of-training metrics and `gankit eval` of the same step and generator are one computation (issue 13:
a conditional run's final FID was 42.66 in metrics.jsonl and 44.04 from gankit eval): the same samples, the
same classes, the same real set, hence the same numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gankit import api
from gankit import config as config_mod
from gankit.models.base import GENERATE_BATCH, generate
from gankit.nets.conditional import build_conditional_generator
from gankit.registry import METRICS

N = GENERATE_BATCH + 404  # more than one batch: a conditional sample_noise draws noise, then classes, per batch


@pytest.fixture
def pairing_metric(monkeypatch):
    """A cheap conditional metric that changes when any sample, class or their pairing changes."""

    def pairing(fake, real, dataset, labels=None):
        return {"pairing": float(np.sum(fake.mean(axis=1) * (labels + 1))), "fake_mean": float(fake.mean()),
                "real_mean": float(real.mean())}

    monkeypatch.setitem(METRICS._entries, "test-pairing", pairing)
    monkeypatch.setitem(METRICS._meta, "test-pairing", {"needs_labels": True, "description": "test only"})
    return "test-pairing"


def test_conditional_run_scores_the_same_at_the_end_of_training_and_in_eval(tmp_path, pairing_metric):
    cfg = config_mod.resolve("cgan-digits", overrides=[
        "generator.width=8", "discriminator.width=8", "data.batch_size=16", "train.steps=2", "train.progress=false",
        "train.sample_every=0", "train.diagnostics_every=0", "train.checkpoint_every=2", "train.ema=0.9",
        f"eval.metrics=[{pairing_metric}]", f"eval.num_samples={N}", f"run.out_dir={tmp_path}"])
    run = api.train(cfg)
    trained = json.loads(run.metrics.read_text().splitlines()[-1])
    evaluated = api.evaluate(run.root, floor=False, write=False)
    assert trained["ema"] and evaluated.ema and evaluated.samples == N
    assert {k: trained[k] for k in evaluated.model} == evaluated.model  # every key, exactly


def test_generate_draws_the_same_samples_whatever_the_caller():
    """api.sample_net_with_labels (gankit sample/eval) and Recipe.sample_with_labels (training) are one sampler."""
    cfg = config_mod.resolve("cgan-digits", overrides=["generator.width=8"])
    torch.manual_seed(0)
    net = build_conditional_generator(cfg, (1, 8, 8), 10)
    x, y = api.sample_net_with_labels(net, 300, seed=5)
    x2, y2 = generate(net, 300, torch.Generator().manual_seed(5))
    assert np.array_equal(x, x2.numpy()) and np.array_equal(y, y2.numpy())
    # the batch size changes which noise goes with which class: a caller with its own batch size would differ
    x3, y3 = generate(net, 300, torch.Generator().manual_seed(5), batch_size=128)
    assert not np.array_equal(y, y3.numpy())
    # asked-for classes and eval mode: the net comes back in the mode it was in
    net.train()
    _, y4 = generate(net, 6, torch.Generator().manual_seed(5), labels=torch.arange(6) % 10)
    assert y4.tolist() == [0, 1, 2, 3, 4, 5] and net.training
