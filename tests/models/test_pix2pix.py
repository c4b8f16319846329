"""The pix2pix recipe: steps and losses, the L1-only path, matching-aware negatives, bit-exact resume, and a
tiny run through the CLI (train, eval, sample's triples figure, translate on an image, a folder and a .npy)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from PIL import Image

from gankit import api
from gankit.cli import main
from gankit.data import build_dataset
from gankit.errors import ConfigError
from gankit.models.pix2pix import Pix2Pix, mismatched
from gankit.train.stats import read_jsonl
from image_helpers import small_shapes  # noqa: F401  (fixture)

SMALL = ["generator.width=8", "generator.depth=3", "discriminator.width=8", "discriminator.depth=1",
         "data.batch_size=8", "eval.num_samples=60", "eval.metrics=[paired-l1,paired-task]"]


@pytest.fixture
def p2p(tiny, small_shapes):  # noqa: F811
    return lambda *overrides: tiny(*SMALL, *overrides, preset="pix2pix-shapes")


def _recipe(cfg):
    ds = build_dataset(cfg.data)
    Pix2Pix.prepare_config(cfg, ds)
    torch.manual_seed(0)
    return Pix2Pix(cfg, ds.shape, "cpu", ds), ds


def _params(m):
    return [p.detach().clone() for p in m.parameters()]


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_steps_move_the_right_nets_and_g_loss_is_adversarial_plus_lambda_l1(p2p):
    r, ds = _recipe(p2p())
    assert r.adversarial and r.uses_labels and r.generator.source_shape == (1, 32, 32)
    torch.manual_seed(1)
    batch = ds.sample_with_labels(8)
    g0, d0 = _params(r.generator), _params(r.discriminator)
    d_stats = r.d_step(batch)
    assert not _same(d0, _params(r.discriminator)) and _same(g0, _params(r.generator))
    assert 0 <= d_stats["d_acc"] <= 1 and torch.isfinite(d_stats["d_loss"])
    d1 = _params(r.discriminator)
    g = r.g_step(batch)
    assert not _same(g0, _params(r.generator)) and _same(d1, _params(r.discriminator))
    assert g["g_loss"] == pytest.approx(float(g["g_adv"] + 100.0 * g["g_l1"]), rel=1e-6)
    assert g["g_adv"] > 0 and g["g_l1"] > 0


def test_one_translation_serves_both_updates_with_the_gradient_of_a_fresh_one(p2p):
    r, ds = _recipe(p2p())
    torch.manual_seed(1)
    batch = ds.sample_with_labels(8)
    other = ds.sample_with_labels(8)  # what the trainer hands g_step: a fresh batch, not needed after a d_step
    calls = []
    r.generator.register_forward_hook(lambda *_: calls.append(1))
    torch.manual_seed(2)
    r.d_step(batch)
    pending, r._pending = r._pending, None
    twin = copy.deepcopy(r)  # the same nets after D's update
    r._pending = pending
    x, y, _ = pending
    r.g_step(other)
    assert len(calls) == 1 and r._pending is None  # one G(x) per step
    # the twin recomputes G(x) on the d_step's pair with the d_step's dropout draw: same update
    torch.manual_seed(2)
    twin.g_step((y, x))
    pairs = zip(_params(r.generator), _params(twin.generator), strict=True)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in pairs)
    # without a d_step before it (L1 alone), g_step translates the batch it is given
    before = len(calls)  # (the twin shares the hook)
    r.g_step(other)
    assert len(calls) == before + 1


def test_l1_only_is_the_same_recipe_without_d(p2p):
    cfg = p2p("model.adv_weight=0", "train.steps=6")
    r, ds = _recipe(cfg)
    assert not r.adversarial
    torch.manual_seed(1)
    g = r.g_step(ds.sample_with_labels(8))
    assert g["g_adv"] == 0 and g["g_loss"] == pytest.approx(100.0 * float(g["g_l1"]), rel=1e-6)
    run = api.train(cfg)
    stats = read_jsonl(run.stats)
    assert stats and all("d_loss" not in s for s in stats)  # the trainer made no D step
    trained = torch.load(run.checkpoint, weights_only=True)["recipe"]["modules"]["discriminator"]
    initial = _recipe(cfg)[0].discriminator.state_dict()  # seed 0, as the run built it
    assert all(torch.equal(v, initial[k]) for k, v in trained.items())


def test_matching_aware_d_loss_adds_real_targets_with_wrong_inputs(p2p):
    r, ds = _recipe(p2p("model.matching_aware=true"))
    torch.manual_seed(1)
    y, x = ds.sample_with_labels(8)
    assert torch.equal(mismatched(x)[1:], x[:-1]) and torch.equal(mismatched(x)[0], x[-1])
    twin = copy.deepcopy(r)
    torch.manual_seed(7)
    with torch.no_grad():
        fake = twin._translate(x)
    d, loss = twin.discriminator, twin.objective.d_loss
    real, neg, wrong = (d.patches(a, b).flatten() for a, b in ((x, y), (x, fake), (mismatched(x), y)))
    expected = (0.5 * (loss(real, neg) + loss(real, wrong))).item()
    torch.manual_seed(7)
    assert float(r.d_step((y, x))["d_loss"]) == pytest.approx(expected, rel=1e-6)
    assert expected != pytest.approx(loss(real, neg).item(), rel=1e-3)


def test_bad_setups_get_one_line_errors(p2p, tiny):
    with pytest.raises(ConfigError, match="needs paired images .* not data.name=ring8"):
        Pix2Pix.prepare_config(tiny(), build_dataset(tiny().data))
    with pytest.raises(ConfigError, match="generator.name=pix2pix and discriminator.name=pix2pix"):
        _recipe(p2p("generator.name=dcgan"))
    with pytest.raises(ConfigError, match="does not support"):
        _recipe(p2p("reg.r1=1"))
    with pytest.raises(ConfigError, match="needs model.recipe=cgan or pix2pix"):
        tiny("generator.dropout=0.5")
    with pytest.raises(ConfigError, match="generator.dropout_layers must be >= 0, got -1"):
        _recipe(p2p("generator.dropout_layers=-1"))


def test_dropout_layers_reaches_the_recipes_generator(p2p):
    def n_drops(r):
        return len(r.generator.unet.drops)

    assert n_drops(_recipe(p2p())[0]) == 2  # depth 3: both hidden decoder layers (Isola et al.'s 3, capped)
    assert n_drops(_recipe(p2p("generator.dropout_layers=1"))[0]) == 1
    assert n_drops(_recipe(p2p("generator.dropout_layers=0"))[0]) == 0


def test_resume_is_bit_exact(p2p):
    fast = ["train.ema=0.9", "eval.metrics=[paired-l1]", "eval.num_samples=16"]  # figures and metrics stay on
    straight = torch.load(api.train(p2p("run.name=straight", "train.steps=12", *fast)).checkpoint, weights_only=True)
    half = api.train(p2p("run.name=half", "train.steps=6", *fast))
    api.resume(half.root, ["train.steps=12"])
    resumed = torch.load(half.checkpoint, weights_only=True)
    assert resumed["step"] == 12
    for net, weights in straight["recipe"]["modules"].items():
        assert all(torch.equal(v, resumed["recipe"]["modules"][net][k]) for k, v in weights.items()), net
    assert all(torch.equal(v, resumed["ema"][k]) for k, v in straight["ema"].items())
    assert torch.equal(straight["rng"]["torch"], resumed["rng"]["torch"])


def test_tiny_run_through_the_cli_and_translate_round_trips(p2p, tmp_path, capsys):
    cfg = p2p("train.steps=8", "train.ema=0.9")
    out_dir = cfg.run.out_dir
    args = [f"{o}" for o in (*SMALL, "train.steps=8", "train.ema=0.9", "train.progress=false", "train.sample_every=0",
                             "train.diagnostics_every=0", "train.log_every=4", f"run.out_dir={out_dir}")]
    assert main(["train", "pix2pix-shapes", *args]) == 0
    run = api.find_run(f"{out_dir}/pix2pix-shapes")
    record = json.loads(run.metrics.read_text().splitlines()[-1])
    assert record["l1_n"] == 60 and 0 <= record["task"] <= 1 and record["ema"] is True
    assert Image.open(run.root / "translations.png").width > 100
    capsys.readouterr()
    assert main(["eval", str(run.root)]) == 0
    assert "l1" in capsys.readouterr().out
    assert main(["sample", str(run.root), "-o", str(tmp_path / "triples.png"), "-n", "3"]) == 0
    assert "input | output | target of 3 held-out pairs" in capsys.readouterr().out

    ds = build_dataset(cfg.data)
    label_maps = ds.held_out.sources[:3].numpy()  # (3, 1, 32, 32) uint8
    (tmp_path / "in" / "sub").mkdir(parents=True)
    for i, name in enumerate(("a", "b", "sub/c")):
        Image.fromarray(label_maps[i, 0]).save(tmp_path / "in" / f"{name}.png")
    np.save(tmp_path / "maps.npy", label_maps)
    assert main(["translate", str(run.root), str(tmp_path / "in"), "-o", str(tmp_path / "out")]) == 0
    assert main(["translate", str(run.root), str(tmp_path / "maps.npy"), "-o", str(tmp_path / "out.npy")]) == 0
    assert main(["translate", str(run.root), str(tmp_path / "in" / "a.png"), "-o", str(tmp_path / "a.png")]) == 0
    arrays = np.load(tmp_path / "out.npy")
    assert arrays.shape == (3, 3, 32, 32) and np.abs(arrays).max() <= 1
    for i, name in enumerate(("a", "b", "sub/c")):  # the PNG of a file in a folder = the .npy row of the same pixels
        png = np.asarray(Image.open(tmp_path / "out" / f"{name}.png")).transpose(2, 0, 1).astype(int)
        assert np.abs(png - np.round((arrays[i] + 1) * 127.5)).max() <= 1
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "out" / "a.png").read_bytes()  # seed 0 both times
    assert main(["translate", str(run.root), str(tmp_path / "maps.npy"), "-o", str(tmp_path / "s1.npy"),
                 "--seed", "1"]) == 0
    assert not np.array_equal(np.load(tmp_path / "s1.npy"), arrays)  # other dropout masks
    capsys.readouterr()

    (tmp_path / "notes.txt").write_text("x")
    np.save(tmp_path / "wrong.npy", np.zeros((2, 3, 32, 32), np.uint8))
    for argv, message in (
        ([str(tmp_path / "missing.png"), "-o", str(tmp_path / "x.npy")], "does not exist"),
        ([str(tmp_path / "notes.txt"), "-o", str(tmp_path / "x.npy")], "is not an image"),
        ([str(tmp_path / "wrong.npy"), "-o", str(tmp_path / "x.npy")], "the translator takes images (N, 1, 32, 32)"),
        ([str(tmp_path / "in"), "-o", str(tmp_path / "x.png")], "3 inputs cannot go to one image"),
    ):
        assert main(["translate", str(run.root), *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("gankit: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "x.npy").exists() and not (tmp_path / "x.png").exists()
