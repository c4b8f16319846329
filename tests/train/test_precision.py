"""run.precision=auto (train/precision.py): the decision from timings in both directions, the per-machine
cache round trip, the explicit settings that skip the probe, and the choice reaching the trainer."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from gankit.train import build, precision
from gankit.train.rundir import RunDir

CPU = torch.device("cpu")


def fake_timer(fp32_s: float, bf16_s: float, calls: list[bool] | None = None):
    def timer(bf16: bool) -> float:
        if calls is not None:
            calls.append(bf16)
        return bf16_s if bf16 else fp32_s
    return timer


def never():
    raise AssertionError("the probe ran although it should not")


def test_decide_both_directions_and_the_margin():
    assert precision.decide(1.0, 0.5) == "bf16"
    assert precision.decide(0.5, 1.0) == "fp32"
    assert precision.decide(1.0, 0.97) == "fp32"  # 3 % faster is within the 5 % noise margin
    assert precision.decide(1.0, 0.94) == "bf16"
    assert precision.decide(1.0, 0.97, margin=0.0) == "bf16"


def test_measure_interleaves_and_takes_medians():
    calls: list[bool] = []
    assert precision.measure(fake_timer(0.2, 0.1, calls), warmup=1, rounds=3) == (0.2, 0.1)
    assert calls == [False, True] * 4  # warm-up, then fp32 and bf16 alternate
    times = iter([9.0, 9.0, 1.0, 5.0, 2.0, 6.0, 3.0, 0.5])  # warm-up pair, then 3 rounds (one outlier each)
    assert precision.measure(lambda bf16: next(times), warmup=1, rounds=3) == (2.0, 5.0)


@pytest.mark.parametrize(("fp32_s", "bf16_s", "want"), [(0.30, 0.18, "bf16"), (0.18, 0.30, "fp32")])
def test_probe_decides_and_the_cache_round_trips(tiny, tmp_path, caplog, fp32_s, bf16_s, want):
    cfg = tiny("run.precision=auto")
    cache = tmp_path / "cache" / precision.CACHE_FILE
    with caplog.at_level(logging.INFO, logger="gankit"):
        assert precision.choose(cfg, (1, 8, 8), "image", CPU, lambda: fake_timer(fp32_s, bf16_s), cache) == want
    said = "bf16 autocast" if want == "bf16" else "fp32"
    assert "start-up probe" in caplog.text and f"precision: {said}" in caplog.text
    entry = json.loads(cache.read_text())[precision.probe_key(cfg, (1, 8, 8), CPU)]
    assert entry["choice"] == want and entry["fp32_s"] == fp32_s and entry["bf16_s"] == bf16_s
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="gankit"):  # later runs read the cache: no probe
        assert precision.choose(cfg, (1, 8, 8), "image", CPU, never, cache) == want
    assert "measured earlier on this machine" in caplog.text
    other = tiny("run.precision=auto", "data.batch_size=32")  # other nets or batch: another key, probed afresh
    assert precision.probe_key(other, (1, 8, 8), CPU) != precision.probe_key(cfg, (1, 8, 8), CPU)
    with pytest.raises(AssertionError, match="the probe ran"):
        precision.choose(other, (1, 8, 8), "image", CPU, never, cache)


@pytest.mark.parametrize("asked", ["fp32", "bf16"])
def test_explicit_precision_skips_the_probe(tiny, tmp_path, asked):
    cache = tmp_path / precision.CACHE_FILE
    assert precision.choose(tiny(f"run.precision={asked}"), (1, 8, 8), "image", CPU, never, cache) == asked
    assert not cache.exists()


def test_points_stay_fp32_and_a_broken_cache_is_probed_again(tiny, tmp_path):
    cache = tmp_path / precision.CACHE_FILE
    assert precision.choose(tiny("run.precision=auto"), (2,), "points", CPU, never, cache) == "fp32"
    cache.write_text("{not json")
    assert precision.read_cache(cache) == {}
    assert precision.choose(tiny("run.precision=auto"), (1, 8, 8), "image", CPU, lambda: fake_timer(1.0, 0.5),
                            cache) == "bf16"
    assert len(json.loads(cache.read_text())) == 1


def test_the_choice_reaches_the_trainer_and_leaves_the_run_untouched(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "data_root", lambda: tmp_path / "cache")
    monkeypatch.setattr(precision, "measure", lambda timer: (timer(False), timer(True)) and (0.3, 0.1))
    cfg = tiny("run.precision=auto", "data.name=digits", "generator.name=dcgan", "discriminator.name=dcgan",
               "data.batch_size=8")
    trainer = build.build_trainer(cfg, RunDir(tmp_path / "run"))
    after_probe = torch.rand(3)
    assert cfg.run.precision == "bf16" and trainer._autocast  # saved with the run: a resume keeps it
    # the probe stepped a copy: the run's weights are the freshly built ones, and the RNG did not move
    fresh = build.build_trainer(tiny("run.precision=fp32", "data.name=digits", "generator.name=dcgan",
                                     "discriminator.name=dcgan", "data.batch_size=8"), RunDir(tmp_path / "run2"))
    for a, b in zip(trainer.recipe.generator.parameters(), fresh.recipe.generator.parameters(), strict=True):
        assert torch.equal(a, b)
    assert not fresh._autocast
    assert torch.equal(torch.rand(3), after_probe)  # both seeded by run.seed; the probe's draws were forked off
