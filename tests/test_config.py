"""Config: presets, overrides, types, registry names, round trip, and the error each bad input gets."""

from __future__ import annotations

import pytest

from gankit import config as C
from gankit.errors import ConfigError


def test_every_preset_resolves_and_round_trips(tmp_path):
    names = C.preset_names()
    assert {"ring8", "grid25", "gauss1d", "bimodal1d", "ring8-mmgan", "ring8-veegan"} <= set(names)
    for name in names:
        cfg = C.resolve(name)
        assert cfg.preset == name and cfg.run.name == name
        assert C.preset_description(name)
        C.save(cfg, tmp_path / f"{name}.yaml")
        assert C.load(tmp_path / f"{name}.yaml") == cfg


def test_default_is_ring8_nsgan():
    cfg = C.resolve()
    assert (cfg.data.name, cfg.model.objective, cfg.model.recipe) == ("ring8", "nsgan", "gan")


def test_overrides_are_typed():
    cfg = C.resolve("ring8", overrides=[
        "train.steps=123", "g_optim.lr=1e-3", "d_optim.lr=0.5", "train.progress=false",
        "eval.metrics=modes,wasserstein", "g_optim.betas=[0.0, 0.9]", "run.name=abc", "generator.prior=uniform",
    ])
    assert cfg.train.steps == 123 and isinstance(cfg.train.steps, int)
    assert cfg.g_optim.lr == pytest.approx(1e-3) and isinstance(cfg.g_optim.lr, float)  # YAML reads 1e-3 as a string
    assert cfg.d_optim.lr == 0.5 and cfg.train.progress is False
    assert cfg.eval.metrics == ["modes", "wasserstein"]
    assert cfg.g_optim.betas == [0.0, 0.9]
    assert cfg.run.name == "abc" and cfg.generator.prior == "uniform"


def test_config_file(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("data: {name: grid25}\ntrain: {steps: 7}\n")
    cfg = C.resolve(file=f, overrides=["train.d_steps=3"])
    assert (cfg.data.name, cfg.train.steps, cfg.train.d_steps, cfg.run.name) == ("grid25", 7, 3, "mine")


@pytest.mark.parametrize(
    "override,message",
    [
        ("train.stepz=3", "unknown key 'train.stepz'; keys allowed in 'train': steps, d_steps"),
        ("nosuch.key=3", "unknown key 'nosuch'; keys allowed in the config: run, data"),
        ("train.steps=abc", "train.steps must be an integer, got 'abc'"),
        ("train.steps=1.5", "train.steps must be an integer, got 1.5"),
        ("train.progress=maybe", "train.progress must be true or false"),
        ("g_optim.lr=fast", "g_optim.lr must be a number, got 'fast'"),
        ("g_optim.lr=nan", "g_optim.lr must be a finite number"),
        ("data.name=mnist9", "data.name: unknown value 'mnist9'; choose one of: bimodal1d, "),
        ("model.objective=hinge2", "model.objective: unknown value 'hinge2'; choose one of:"),
        ("generator.activation=swish2", "generator.activation: unknown value 'swish2'; choose one of: relu"),
        ("eval.metrics=fid9", "eval.metrics: unknown metric 'fid9'"),
        ("train.steps=0", "train.steps must be > 0"),
        ("train.ema=1.0", "train.ema must be in [0, 1)"),
        ("data.batch_size=-4", "data.batch_size must be > 0"),
        ("train=5", "section 'train' must be a mapping"),
        ("steps", "override 'steps' must look like section.key=value"),
        ("train..steps=1", "must be dotted names"),
    ],
)
def test_bad_input_gets_one_clear_line(override, message):
    with pytest.raises(ConfigError) as info:
        C.resolve("ring8", overrides=[override])
    text = str(info.value)
    assert message in text
    assert "\n" not in text


def test_unknown_preset_and_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="unknown preset 'nope'; choose one of: .*ring8"):
        C.resolve("nope")
    with pytest.raises(ConfigError, match="does not exist"):
        C.resolve(file=tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: {steps: [1, 2\n")
    with pytest.raises(ConfigError, match=r"not valid YAML \(line \d+\)"):
        C.resolve(file=bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        C.resolve(file=scalar)
    with pytest.raises(ConfigError, match="either a preset or a config file"):
        C.resolve("ring8", file=bad)
