"""The GAN recipe with regularisers (clipping, gradient penalty, R1, instance noise) and the WGAN critic schedule."""

from __future__ import annotations

import pytest
import torch

from gankit import api
from gankit.data import build_dataset
from gankit.registry import RECIPES
from gankit.train.stats import read_jsonl
from gankit.train.trainer import d_steps_at


def _recipe(tiny, *overrides):
    cfg = tiny(*overrides)
    ds = build_dataset(cfg.data)
    torch.manual_seed(0)
    return RECIPES.get("gan")(cfg, ds.shape, "cpu"), ds


def test_weight_clipping_bounds_every_critic_parameter(tiny):
    r, ds = _recipe(tiny, "model.objective=wgan", "reg.clip=0.01")
    r.d_step(ds.sample(64))
    assert all(float(p.detach().abs().max()) <= 0.01 for p in r.discriminator.parameters())
    r2, _ = _recipe(tiny, "model.objective=wgan")
    r2.d_step(ds.sample(64))
    assert any(float(p.detach().abs().max()) > 0.01 for p in r2.discriminator.parameters()), "no clipping unless asked"


@pytest.mark.parametrize("key", ["reg.gradient_penalty=10", "reg.r1=1"])
def test_penalties_are_added_and_reported(tiny, key):
    r, ds = _recipe(tiny, "model.objective=wgan", key)
    stats = r.d_step(ds.sample(64))
    assert float(stats["d_penalty"]) > 0
    r0, _ = _recipe(tiny, "model.objective=wgan")
    assert "d_penalty" not in r0.d_step(ds.sample(64))


def test_instance_noise_changes_what_d_sees(tiny):
    a, ds = _recipe(tiny, "reg.instance_noise=0.5")
    b, _ = _recipe(tiny)
    batch = ds.sample(64)
    torch.manual_seed(1)
    sa = a.d_step(batch)
    torch.manual_seed(1)
    sb = b.d_step(batch)
    assert float(sa["d_loss"]) != float(sb["d_loss"])


def test_wgan_critic_schedule():
    assert [d_steps_at("wgan", s, 5) for s in (0, 24, 25, 499, 500, 501, 1000)] == [100, 100, 5, 5, 100, 5, 100]
    assert [d_steps_at("constant", s, 3) for s in (0, 500)] == [3, 3]


@pytest.mark.parametrize("preset", ["ring8-wgan", "ring8-wgan-gp"])
def test_wgan_presets_train(tiny, preset):
    run = api.train(tiny("train.steps=6", "train.log_every=2", preset=preset))
    stats = read_jsonl(run.stats)
    assert stats[-1]["step"] == 6 and all(abs(v) < 1e6 for k, v in stats[-1].items() if isinstance(v, float))
    # critic scores are unbounded: d_real/d_fake are raw mean scores, their gap is the W estimate
    assert "d_real" in stats[-1] and "d_fake" in stats[-1]


def test_gradient_penalty_with_a_batch_norm_critic_is_warned_about(tiny, caplog):
    dc = ["data.name=digits", "generator.name=dcgan", "discriminator.name=dcgan", "generator.width=8",
          "discriminator.width=8", "model.objective=wgan", "reg.gradient_penalty=10"]
    with caplog.at_level("WARNING", logger="gankit"):
        _recipe(tiny, *dc)
    assert "batch norm" in caplog.text and "discriminator.norm=layer" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="gankit"):
        _recipe(tiny, *dc, "discriminator.norm=layer")
        _recipe(tiny, *dc[:-1])  # no penalty: batch norm is the paper's choice
    assert "batch norm" not in caplog.text
