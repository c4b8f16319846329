"""The conditional GAN (issue 6): G(z, c) and D(x, c) by concatenation, projection and AC-GAN on the mlp and
dcgan backbones; the lecture's matching-aware loss; dropout as G's noise; labels through the latent."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gankit import api
from gankit import config as C
from gankit.cli import main
from gankit.data import build_dataset
from gankit.data.images import TensorImages
from gankit.errors import ConfigError, DataError
from gankit.metrics import applicable, evaluate
from gankit.models.cgan import CGAN, matching_aware_d_loss, mismatched_labels
from gankit.nets.conditional import SEED_RANGE, hash_uniform
from gankit.objectives.minimax import discriminator_loss
from gankit.objectives.wasserstein import hinge_d_loss, wgan_d_loss

STYLES = ("concat", "projection", "acgan")


def _cfg(tiny, *overrides: str):
    return tiny("data.name=digits", "model.recipe=cgan", "generator.noise_dim=8", *overrides)


def _recipe(cfg, seed: int = 0) -> tuple[CGAN, object]:
    ds = build_dataset(cfg.data)
    CGAN.prepare_config(cfg, ds)
    torch.manual_seed(seed)
    return CGAN(cfg, ds.shape, "cpu"), ds


@pytest.mark.parametrize("net", ["mlp", "dcgan"])
@pytest.mark.parametrize("style", STYLES)
def test_shapes_and_steps(tiny, net, style):
    cfg = _cfg(tiny, f"model.condition={style}", f"generator.name={net}", f"discriminator.name={net}")
    r, ds = _recipe(cfg)
    assert cfg.model.num_classes == 10  # from the data set
    z = r.generator.sample_noise(6)
    assert z.shape == (6, 8 + 1)  # noise | class
    x = r.generator(z)
    assert x.shape == (6, 1, 8, 8)
    y = torch.arange(6)
    assert r.discriminator(x, y).shape == (6,)
    score, logits = r.discriminator.score_and_classes(x, y)
    assert torch.allclose(score, r.discriminator(x, y))
    assert (logits is None) == (style != "acgan")
    if style == "acgan":
        assert logits.shape == (6, 10)
    d_stats = r.d_step(ds.sample_with_labels(16))
    g_stats = r.g_step(ds.sample_with_labels(16))
    assert all(torch.isfinite(v) for v in {**d_stats, **g_stats}.values())
    assert ("g_class_loss" in g_stats) == ("d_class_acc" in d_stats) == (style == "acgan")


@pytest.mark.parametrize("style", STYLES)
def test_the_discriminator_sees_the_class_except_acgan(tiny, style):
    r, _ = _recipe(_cfg(tiny, f"model.condition={style}"))
    x = torch.randn(5, 1, 8, 8)
    a, b = r.discriminator(x, torch.full((5,), 2)), r.discriminator(x, torch.full((5,), 7))
    if style == "acgan":  # the score is of x alone; the class goes to the auxiliary head
        assert torch.equal(a, b)
    else:
        assert (a - b).abs().min() > 0


def test_projection_equals_the_formula(tiny):
    """Miyato & Koyama eq. 3: D(x, y) = ψ(φ(x)) + embed(y)ᵀ φ(x), ψ∘φ the unconditional backbone."""
    r, _ = _recipe(_cfg(tiny, "model.condition=projection"))
    d = r.discriminator
    x, y = torch.randn(7, 1, 8, 8), torch.tensor([0, 1, 2, 3, 9, 9, 5])
    phi = d.backbone.net[:-1](x.flatten(1))
    psi = d.backbone.net[-1](phi).squeeze(1)
    expected = psi + (d.embed.weight[y] * phi).sum(1)
    assert torch.allclose(d(x, y), expected, atol=1e-6)
    with torch.no_grad():
        d.embed.weight.zero_()
    assert torch.allclose(d(x, y), d.backbone(x), atol=1e-6)  # no embedding: the plain backbone's score


def test_concat_appends_one_hot_channels_for_dcgan(tiny):
    r, _ = _recipe(_cfg(tiny, "model.condition=concat", "generator.name=dcgan", "discriminator.name=dcgan"))
    d = r.discriminator
    assert d.backbone.in_shape == (1 + 10, 8, 8)
    x, y = torch.randn(3, 1, 8, 8), torch.tensor([4, 0, 9])
    maps = F.one_hot(y, 10).float()[:, :, None, None].expand(-1, -1, 8, 8)
    assert torch.allclose(d(x, y), d.backbone(torch.cat([x, maps], 1)))


def test_matching_aware_loss_is_the_closed_form():
    """Reed et al. (GAN-CLS): -[log D(ĉ, x̂) + ½ log(1 - D(ĉ, G(ĉ))) + ½ log(1 - D(ĉ', x̂))]."""
    r, f, w = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([-3.0, 0.0, 1.0]), torch.tensor([0.2, -0.7, 4.0])
    sig = torch.sigmoid
    closed = -(torch.log(sig(r)).mean() + 0.5 * torch.log(1 - sig(f)).mean() + 0.5 * torch.log(1 - sig(w)).mean())
    assert matching_aware_d_loss(discriminator_loss, r, f, w) == pytest.approx(float(closed), rel=1e-6)
    # a critic: -(E s(ĉ, x̂) - ½ E s(ĉ, G(ĉ)) - ½ E s(ĉ', x̂))
    want = -(r.mean() - f.mean() / 2 - w.mean() / 2)
    assert matching_aware_d_loss(wgan_d_loss, r, f, w) == pytest.approx(float(want))
    hinge = F.relu(1 - r).mean() + 0.5 * F.relu(1 + f).mean() + 0.5 * F.relu(1 + w).mean()
    assert matching_aware_d_loss(hinge_d_loss, r, f, w) == pytest.approx(float(hinge))
    # the mismatched pairs count: a D that rates them real pays for it
    assert matching_aware_d_loss(discriminator_loss, r, f, w + 5) > matching_aware_d_loss(discriminator_loss, r, f, w)


def test_mismatched_labels_are_uniform_over_the_other_classes():
    torch.manual_seed(0)
    y = torch.full((20000,), 3)
    wrong = mismatched_labels(y, 10)
    assert not torch.any(wrong == y)
    counts = torch.bincount(wrong, minlength=10).float() / len(y)
    assert counts[3] == 0 and torch.allclose(counts[torch.arange(10) != 3], torch.full((9,), 1 / 9), atol=0.01)


def test_matching_aware_training_teaches_d_which_class_fits(tiny):
    """After D steps with mismatched real pairs as negatives, D rates real digits higher with their own class
    than with a wrong one; at initialisation it has no such preference."""
    r, ds = _recipe(_cfg(tiny, "model.condition=projection", "model.matching_aware=true", "d_optim.lr=2e-3"))
    torch.manual_seed(1)
    x, y = ds.sample_with_labels(512)
    wrong = mismatched_labels(y, 10)

    def gap() -> float:
        with torch.no_grad():
            return float((r.discriminator(x, y) - r.discriminator(x, wrong)).mean())

    assert abs(gap()) < 0.05
    for _ in range(40):
        stats = r.d_step(ds.sample_with_labels(64))
    assert "d_wrong" in stats
    assert gap() > 0.25


def test_acgan_class_loss():
    """Odena et al.: both players add the class cross-entropy, here weighted by model.class_weight."""
    r = CGAN.__new__(CGAN)
    r.class_weight = 2.0
    logits = torch.tensor([[0.0, np.log(3.0)], [0.0, 0.0]])
    y = torch.tensor([1, 0])
    assert float(r.class_loss(logits, y)) == pytest.approx(2.0 * 0.5 * (np.log(4 / 3) + np.log(2)), rel=1e-6)
    assert float(r.class_loss(None, y)) == 0.0


def test_acgan_steps_train_the_auxiliary_classifier(tiny):
    r, ds = _recipe(_cfg(tiny, "model.condition=acgan", "model.class_weight=1.0", "d_optim.lr=2e-3"))
    torch.manual_seed(2)
    first = r.d_step(ds.sample_with_labels(128))
    for _ in range(40):
        last = r.d_step(ds.sample_with_labels(128))
    assert float(first["d_class_acc"]) < 0.3 and float(last["d_class_acc"]) > 0.5  # from chance (0.1) to most digits
    g = r.g_step(ds.sample_with_labels(64))
    assert float(g["g_class_loss"]) > 0


def test_latent_label_round_trip(tiny):
    r, _ = _recipe(_cfg(tiny))
    g = r.generator
    y = torch.tensor([0, 9, 4, 4, 1])
    z = g.sample_noise(5, labels=y)
    assert torch.equal(g.labels_of(z), y)
    assert torch.equal(g.labels_of(g.sample_noise(4, labels=7)), torch.full((4,), 7))
    gen = torch.Generator().manual_seed(3)
    a = g.sample_noise(3000, generator=gen)
    gen.manual_seed(3)
    assert torch.equal(a, g.sample_noise(3000, generator=gen))  # deterministic under a private RNG
    counts = torch.bincount(g.labels_of(a), minlength=10).float() / 3000
    assert torch.all((counts > 0.07) & (counts < 0.13))  # uniform classes when none are given
    with pytest.raises(DataError, match="0..9"):
        g.sample_noise(2, labels=torch.tensor([3, 10]))
    with pytest.raises(DataError, match="shape"):
        g.sample_noise(3, labels=torch.tensor([1, 2]))
    with pytest.raises(DataError, match=r"latents must have shape \(n, 9\)"):
        g(torch.zeros(2, 8))
    with pytest.raises(DataError, match="0..9"):
        r.discriminator(torch.zeros(1, 1, 8, 8), torch.tensor([-1]))


def test_hash_uniform_is_uniform_and_seeded():
    seeds = torch.arange(4)
    u = hash_uniform(seeds, 1, 5000)
    assert u.shape == (4, 5000) and u.min() >= 0 and u.max() < 1
    assert abs(float(u.mean()) - 0.5) < 0.01 and abs(float((u < 0.3).float().mean()) - 0.3) < 0.01
    assert torch.equal(u, hash_uniform(seeds, 1, 5000))
    assert not torch.equal(u[0], u[1]) and not torch.equal(u, hash_uniform(seeds, 2, 5000))
    assert (hash_uniform(torch.tensor([SEED_RANGE - 1]), 3, 10) < 1).all()


def test_dropout_is_the_noise_source(tiny):
    """noise_dim=0: only the seeded dropout varies the samples, also in eval mode; the latent fixes them."""
    cfg = _cfg(tiny, "generator.noise_dim=0", "generator.dropout=0.5")
    r, _ = _recipe(cfg)
    g = r.generator.eval()
    assert len(g.drops) == cfg.generator.depth
    z = g.sample_noise(6, labels=3)
    assert z.shape == (6, 2)  # seed | class
    x = g(z)
    assert torch.equal(x, g(z))  # the same latent: the same sample
    assert (x[0] - x[1]).abs().max() > 1e-3  # same class, other seeds: other samples
    a = r.sample(5, generator=torch.Generator().manual_seed(1))
    b = r.sample(5, generator=torch.Generator().manual_seed(1))
    c = r.sample(5, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    drop = g.drops[0]
    drop.seeds = torch.tensor([5, 6])
    kept = drop(torch.ones(2, 4000))
    assert abs(float((kept > 0).float().mean()) - 0.5) < 0.03 and float(kept.max()) == pytest.approx(2.0)


def test_bad_configs_get_clear_errors(tiny, tmp_path):
    with pytest.raises(ConfigError, match="needs a labelled data set, but 'ring8' has no class labels"):
        api.train(tiny("model.recipe=cgan"))
    assert not (tmp_path / "runs" / "ring8").exists()
    with pytest.raises(ConfigError, match="matching_aware needs a D that sees the class"):
        _recipe(_cfg(tiny, "model.condition=acgan", "model.matching_aware=true"))
    with pytest.raises(ConfigError, match="model.pack or model.unroll"):
        _recipe(_cfg(tiny, "model.pack=2"))
    with pytest.raises(ConfigError, match="model.num_classes=5 but data set 'digits' has 10 classes"):
        _recipe(_cfg(tiny, "model.num_classes=5"))
    with pytest.raises(ConfigError, match="generator.dropout .* needs model.recipe=cgan"):
        tiny("generator.dropout=0.3")
    with pytest.raises(ConfigError, match="noise_dim must be > 0"):
        _cfg(tiny, "generator.noise_dim=0")
    with pytest.raises(ConfigError, match="model.condition: unknown value 'film'"):
        _cfg(tiny, "model.condition=film")


def test_run_exports_round_trip_and_per_class_samples(tiny, tmp_path, capsys):
    cfg = _cfg(tiny, "model.condition=projection", "generator.dropout=0.2", "train.sample_every=20", "train.ema=0.9")
    run = api.train(cfg)
    assert run.classes_png.is_file()
    saved = C.load(run.config)
    assert saved.model.num_classes == 10  # resolved and saved, so the export rebuilds without the data
    net, cfg2, meta = api.load_generator(run.root)
    assert cfg2.model.recipe == "cgan" and meta["ema"] == "true"
    assert api.sample(run.root, 7, seed=4).shape == (7, 1, 8, 8)
    assert np.array_equal(api.sample(run.root, 7, seed=4), api.sample(run.root, 7, seed=4))
    grid = api.per_class(run.root, 3, seed=1)
    assert grid.shape == (10, 3, 1, 8, 8)
    z = net.sample_noise(3, generator=torch.Generator().manual_seed(0), labels=torch.tensor([2, 2, 2]))
    with torch.no_grad():
        assert torch.equal(net(z), net(z))
    assert main(["sample", str(run.root), "--per-class", "-n", "4", "-o", str(tmp_path / "pc.png")]) == 0
    assert "4 samples of each of 10 classes" in capsys.readouterr().out
    # class grids: labelled rows of 8 px digits enlarged to 48 px tiles (were 300 x 300 px, unlabelled)
    from PIL import Image

    from gankit.viz.images import class_grid

    for path, per in ((run.classes_png, 10), (tmp_path / "pc.png", 4)):
        with Image.open(path) as im:
            assert im.height == 10 * 60 + 12 and im.width > per * 60 + 12  # the labels' margin on the left
    with Image.open(tmp_path / "pc.png") as im:
        assert np.array_equal(np.asarray(im), np.asarray(class_grid(api.per_class(run.root, 4, seed=0))))
    # a plain sample grid is wider than tall: 8 -> 2 rows of 4 (was 4 rows of 2)
    assert main(["sample", str(run.root), "-n", "8", "-o", str(tmp_path / "eight.png")]) == 0
    with Image.open(tmp_path / "eight.png") as im:
        assert im.size == ((4 * 10 + 2) * 7, (2 * 10 + 2) * 7)  # x7: at least 256 px wide
    assert main(["sample", str(run.root), "--per-class", "-o", str(tmp_path / "pc.csv")]) == 2
    assert "not .csv" in capsys.readouterr().err
    assert main(["sample", str(run.root), "-n", "5", "--label", "3", "-o", str(tmp_path / "threes.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "threes.npy"), api.sample(run.root, 5, labels=3))
    assert main(["sample", str(run.root), "-n", "5", "--label", "10", "-o", str(tmp_path / "bad.npy")]) == 2
    assert "class labels must lie in 0..9" in capsys.readouterr().err and not (tmp_path / "bad.npy").exists()
    lines = [json.loads(s) for s in run.metrics.read_text().splitlines()]
    assert lines and "class_accuracy" not in lines[-1]  # digits are 8x8: the MNIST classifier does not apply


def test_per_class_needs_a_conditional_generator(tiny):
    run = api.train(tiny("data.name=digits"))
    with pytest.raises(ConfigError, match="conditional generator"):
        api.per_class(run.root, 2)
    net, _, _ = api.load_generator(run.root)
    with pytest.raises(ConfigError, match="not conditional"):
        api.sample(run.root, 3, labels=1)


FIXTURE = __import__("pathlib").Path(__file__).resolve().parents[1] / "fixtures" / "mnist-test-1000.npz"


def test_conditional_accuracy_metric_on_real_digits():
    with np.load(FIXTURE) as f:
        pixels, y = torch.from_numpy(f["x"][:400]), f["y"][:400].astype(np.int64)
    ds = TensorImages("mnist", pixels, y)
    x = ds.images().reshape(400, -1).double().numpy()
    assert "conditional-accuracy" in applicable(ds, labels=True) and "conditional-accuracy" not in applicable(ds)
    right = evaluate(["conditional-accuracy"], x, x, ds, labels=y)
    assert right["class_accuracy"] >= 0.98 and right["class_accuracy_n"] == 400
    assert right["class_accuracy_low"] <= right["class_accuracy"] <= right["class_accuracy_high"]
    assert evaluate(["conditional-accuracy"], x, x, ds, labels=(y + 3) % 10)["class_accuracy"] < 0.03
    with pytest.raises(ConfigError, match="needs the classes they were generated for"):
        evaluate(["conditional-accuracy"], x, x, ds)
    with pytest.raises(DataError, match="400 fake samples but 5 labels"):
        evaluate(["conditional-accuracy"], x, x, ds, labels=y[:5])
    digits = build_dataset(C.DataConfig(name="digits"))
    assert "conditional-accuracy" not in applicable(digits, labels=True)
