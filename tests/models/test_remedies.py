"""Mode-collapse remedies: packing, minibatch layers, spectral norm, soft labels, schedules, unrolled GAN."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from gankit import api
from gankit import config as config_mod
from gankit.data import build_dataset
from gankit.errors import ConfigError
from gankit.nets.mlp import MLPDiscriminator
from gankit.nets.remedies import (
    MinibatchDiscrimination,
    MinibatchStd,
    add_minibatch_layer,
    pack,
    packed_shape,
    spectral_normalise,
    twice_differentiable,
)
from gankit.objectives.minimax import discriminator_loss, discriminator_loss_targets
from gankit.registry import RECIPES
from gankit.train.stats import read_jsonl


def _recipe(tiny, *overrides, preset="ring8"):
    cfg = tiny(*overrides, preset=preset)
    ds = build_dataset(cfg.data)
    torch.manual_seed(0)
    return RECIPES.get("gan")(cfg, ds.shape, "cpu"), ds


def test_pack_concatenates_consecutive_samples():
    x = torch.arange(12.0).view(6, 2)
    p = pack(x, 3)
    assert p.shape == (2, 6) and p[0].tolist() == [0, 1, 2, 3, 4, 5] and p[1].tolist() == [6, 7, 8, 9, 10, 11]
    img = torch.randn(4, 1, 8, 8)
    assert pack(img, 2).shape == (2, 2, 8, 8) and torch.equal(pack(img, 2)[1, 1], img[3, 0])
    assert pack(x, 1) is x
    assert packed_shape((2,), 4) == (8,) and packed_shape((3, 32, 32), 2) == (6, 32, 32)
    with pytest.raises(ValueError, match="divisible by model.pack = 4"):
        pack(x, 4)


def test_minibatch_std_known_value_and_collapse():
    h = torch.tensor([[0.0, 0.0], [2.0, 2.0], [0.0, 0.0], [2.0, 2.0]])  # one group of 4: std of each feature is 1
    out = MinibatchStd(group=4)(h)
    assert out.shape == (4, 3) and torch.allclose(out[:, 2], torch.ones(4), atol=1e-6)
    same = MinibatchStd()(torch.ones(8, 5))  # a collapsed batch: no spread at all
    assert float(same[:, 5].max()) < 1e-3
    maps = MinibatchStd()(torch.randn(8, 3, 4, 4))
    assert maps.shape == (8, 4, 4, 4) and torch.all(maps[:, 3] == maps[:, 3, :1, :1])  # constant extra map
    odd = MinibatchStd(group=4)(torch.randn(6, 2))  # 6 is not a multiple of 4: one group of all 6
    assert torch.allclose(odd[:, 2], odd[0, 2].expand(6))


@pytest.mark.parametrize(("shape", "spatial"), [((64, 128, 4, 4), False), ((12, 5, 3, 3), True), ((6, 7), False)])
def test_minibatch_std_is_the_population_std_of_each_group_values_and_gradients(shape, spatial):
    """The layer's written-out σ = sqrt(E[(x − μ)²] + 1e-8) (faster than torch's var on CPU) gives what
    var(unbiased=False) gives, forward and backward, in both modes and when the batch is not a multiple of 4."""
    torch.manual_seed(0)
    h = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    b = shape[0]
    g = 4 if b % 4 == 0 else b
    std = torch.sqrt(h.reshape(g, b // g, *shape[1:]).var(dim=0, unbiased=False) + 1e-8)
    if spatial:
        extra = std.mean(dim=1, keepdim=True).repeat(g, 1, 1, 1)
    else:
        per = std.flatten(1).mean(dim=1).repeat(g)
        extra = per[:, None] if h.dim() == 2 else per[:, None, None, None].expand(-1, 1, *shape[2:])
    want = torch.cat([h, extra], dim=1)
    out = MinibatchStd(spatial=spatial)(h)
    assert out.shape == want.shape and torch.allclose(out, want, rtol=0, atol=1e-12)
    w = torch.randn_like(out)
    (got_grad,) = torch.autograd.grad((out * w).sum(), h)
    (want_grad,) = torch.autograd.grad((want * w).sum(), h)
    assert torch.allclose(got_grad, want_grad, rtol=0, atol=1e-10)


def test_minibatch_discrimination_closeness():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(4, kernels=5, kernel_dim=3)
    same = layer(torch.ones(6, 4))
    assert same.shape == (6, 9) and torch.allclose(same[:, 4:], torch.full((6, 5), 5.0))  # Σ_{j≠i} exp(0) = B - 1
    with torch.no_grad():
        far = layer(torch.arange(6.0)[:, None].repeat(1, 4) * 1000.0)
    assert float(far[:, 4:].max()) < 1e-6  # distant samples are not close
    x = torch.randn(7, 4)
    with twice_differentiable(layer):
        broadcast = layer(x)
    assert torch.allclose(broadcast, layer(x), atol=1e-5)  # the two forms agree


@pytest.mark.parametrize("kind", ["std", "discrimination"])
def test_minibatch_layer_goes_before_the_head_and_keeps_its_weights(kind):
    torch.manual_seed(0)
    d = MLPDiscriminator(2, width=16, depth=2)
    old = d.net[-1].weight.detach().clone()
    add_minibatch_layer(d, kind, (2,), kernels=8)
    assert isinstance(d.net[-2], MinibatchStd if kind == "std" else MinibatchDiscrimination)
    assert torch.equal(d.net[-1].weight[:, :16], old)
    assert d(torch.randn(10, 2)).shape == (10,)


def test_minibatch_layer_on_dcgan(tiny):
    r, ds = _recipe(tiny, "discriminator.minibatch=discrimination", "discriminator.minibatch_kernels=4",
                    "model.pack=2", preset="dcgan-digits")
    convs = [m for m in r.discriminator.net if isinstance(m, nn.Conv2d)]
    assert convs[0].in_channels == 2 and convs[-1].in_channels == convs[-2].out_channels + 4  # packed input, 4 extra
    out = r.discriminator(pack(ds.sample(8), 2))
    assert out.shape == (4,)
    with pytest.raises(ConfigError, match="ends in a Linear or Conv2d head"):
        add_minibatch_layer(nn.Sequential(nn.Linear(2, 1)), "std", (2,))


def test_spectral_norm_makes_each_layer_about_1_lipschitz():
    torch.manual_seed(0)
    d = MLPDiscriminator(2, width=64, depth=2)
    with torch.no_grad():
        for m in d.modules():
            if isinstance(m, nn.Linear):
                m.weight.mul_(10.0)
    before = [torch.linalg.matrix_norm(m.weight, 2).item() for m in d.modules() if isinstance(m, nn.Linear)]
    spectral_normalise(d)
    for _ in range(30):  # power iterations run on each training-mode forward pass
        d(torch.randn(16, 2))
    after = [torch.linalg.matrix_norm(m.weight, 2).item() for m in d.modules() if isinstance(m, nn.Linear)]
    assert max(before) > 5 and all(abs(s - 1.0) < 0.02 for s in after)


def test_soft_label_loss_matches_the_plain_loss_and_known_values():
    torch.manual_seed(0)
    r, f = torch.randn(9), torch.randn(9)
    plain = discriminator_loss(r, f)
    assert torch.allclose(discriminator_loss_targets(r, f, torch.ones(9), torch.zeros(9)), plain)
    z = torch.zeros(5)
    for t in (0.0, 0.3, 0.9):  # at D = 1/2 the cross-entropy is log 2 whatever the target
        loss = discriminator_loss_targets(z, z, torch.full((5,), t), torch.full((5,), t))
        assert math.isclose(float(loss), 2 * math.log(2), rel_tol=1e-6)
    big = torch.full((5,), 20.0)  # a confident D is punished by smoothing: -0.1 log σ(-20) ≈ 2
    assert float(discriminator_loss_targets(big, -big, torch.full((5,), 0.9), torch.zeros(5))) > 1.9
    assert float(discriminator_loss(big, -big)) < 1e-8


def test_label_smoothing_and_flips_change_d_loss_and_need_cross_entropy(tiny):
    plain, ds = _recipe(tiny)
    smooth, _ = _recipe(tiny, "reg.label_smoothing=0.2")
    batch = ds.sample(64)
    with torch.no_grad():
        real_logits = plain.discriminator(batch)
    torch.manual_seed(1)
    a = plain.d_step(batch)
    torch.manual_seed(1)
    b = smooth.d_step(batch)
    # target 1 - α on data: α softplus(s) - α softplus(-s) = α s more loss per sample
    assert math.isclose(float(b["d_loss"]) - float(a["d_loss"]), 0.2 * float(real_logits.mean()), abs_tol=1e-6)
    with pytest.raises(ConfigError, match="need a cross-entropy objective"):
        _recipe(tiny, "model.objective=wgan", "reg.label_flip=0.1")
    with pytest.raises(ConfigError, match="label_flip must be in"):
        tiny("reg.label_flip=0.7")
    with pytest.raises(ConfigError, match="multiple of model.pack"):
        tiny("model.pack=3")


def test_linear_schedule_fades_the_remedies(tiny):
    r, ds = _recipe(tiny, "reg.schedule=linear", "reg.instance_noise=1.0")
    assert r.strength() == 1.0
    r.progress = 0.75
    assert r.strength() == 0.25
    r.progress = 1.0
    x = ds.sample(64)
    assert torch.equal(r.d_input(x, r.strength()), x)  # no noise left at the end
    const, _ = _recipe(tiny, "reg.instance_noise=1.0")
    const.progress = 0.75
    assert const.strength() == 1.0


def test_instance_noise_floor_ends_the_fade_above_zero(tiny):
    """reg.instance_noise_floor = σ_min: σ(t) = σ_min + (σ₀ − σ_min)(1 − t) under reg.schedule=linear, read as the
    std of what D sees of a zero batch; the label remedies still fade to 0 (the floor is the noise's only)."""
    r, _ = _recipe(tiny, "reg.schedule=linear", "reg.instance_noise=2.0", "reg.instance_noise_floor=0.5")
    x = torch.zeros(8192, 2)
    for t, sigma in ((0.0, 2.0), (0.5, 1.25), (0.8, 0.8), (1.0, 0.5)):
        r.progress = t
        assert r.noise_std(r.strength()) == pytest.approx(sigma)
        assert r.d_input(x, r.strength()).std().item() == pytest.approx(sigma, rel=0.03)
    assert r.strength() == 0.0
    plain, _ = _recipe(tiny, "reg.schedule=linear", "reg.instance_noise=2.0")  # no floor: the fade ends at 0
    plain.progress = 0.8
    assert plain.noise_std(plain.strength()) == pytest.approx(0.4)
    seen = []

    class Spy(api.Callback):
        def on_step(self, trainer, step):
            seen.append(trainer.recipe.noise_std(trainer.recipe.strength()))

    api.train(tiny("train.steps=4", "reg.schedule=linear", "reg.instance_noise=2.0", "reg.instance_noise_floor=0.4"),
              callbacks=[Spy()])
    assert seen == pytest.approx([2.0, 1.6, 1.2, 0.8])  # σ at progress 0, 1/4, 1/2, 3/4 of the run


def test_instance_noise_floor_is_checked(tiny):
    with pytest.raises(ConfigError, match=r"reg.instance_noise_floor must be in \[0, reg.instance_noise = 0.5\].*0.8"):
        tiny("reg.schedule=linear", "reg.instance_noise=0.5", "reg.instance_noise_floor=0.8")
    with pytest.raises(ConfigError, match="reg.instance_noise_floor must be in"):
        tiny("reg.schedule=linear", "reg.instance_noise=0.5", "reg.instance_noise_floor=-0.1")
    with pytest.raises(ConfigError, match="set reg.schedule=linear"):
        tiny("reg.instance_noise=0.5", "reg.instance_noise_floor=0.2")
    cfg = tiny("reg.schedule=linear", "reg.instance_noise=0.5", "reg.instance_noise_floor=0.5")  # σ_min = σ₀ is fine
    assert cfg.reg.instance_noise_floor == 0.5


def test_trainer_sets_progress(tiny):
    seen = []

    class Spy(api.Callback):
        def on_step(self, trainer, step):
            seen.append(trainer.recipe.progress)

    api.train(tiny("train.steps=4"), callbacks=[Spy()])
    assert seen == [0.0, 0.25, 0.5, 0.75]


def test_d_accuracy_known_cases(tiny):
    r, _ = _recipe(tiny)
    assert float(r._accuracy(torch.full((4,), 3.0), torch.full((4,), -3.0))) == 1.0
    assert float(r._accuracy(torch.full((4,), -3.0), torch.full((4,), 3.0))) == 0.0
    w, _ = _recipe(tiny, "model.objective=wgan")  # a critic: threshold halfway between the means
    assert float(w._accuracy(torch.tensor([5.0, 6.0]), torch.tensor([1.0, 2.0]))) == 1.0


def test_unrolled_lookahead_is_the_optimisers_own_step(tiny):
    """One look-ahead step equals a real Adam step of D on the same batch (with instance noise off)."""
    r, ds = _recipe(tiny, "model.unroll=1", "discriminator.depth=1")
    for _ in range(3):  # give Adam some moments
        r.d_step(ds.sample(64))
    batch = ds.sample(64)
    z = r.generator.sample_noise(64)
    d_before = copy.deepcopy(r.discriminator.state_dict())
    loss_unrolled = r._unrolled(z, batch)
    assert all(torch.equal(v, r.discriminator.state_dict()[k]) for k, v in d_before.items()), "look-ahead left D alone"
    # the same step for real:
    shadow = copy.deepcopy(r.discriminator)
    opt = torch.optim.Adam(shadow.parameters(), lr=r.optimizers["d"].param_groups[0]["lr"], betas=(0.5, 0.999))
    opt.load_state_dict(r.optimizers["d"].state_dict())
    with torch.no_grad():
        fake = r.generator(z)
    loss = r.objective.d_loss(shadow(batch), shadow(fake))
    opt.zero_grad()
    loss.backward()
    opt.step()
    with torch.no_grad():
        expected = r.objective.g_loss(shadow(fake))
    assert torch.allclose(loss_unrolled.detach(), expected, rtol=1e-4, atol=1e-6)


def test_unrolled_gradient_differs_from_the_plain_one(tiny):
    grads = {}
    for k in (0, 5):
        r, ds = _recipe(tiny, f"model.unroll={k}")
        for _ in range(5):
            r.d_step(ds.sample(64))
        torch.manual_seed(7)
        batch, z = ds.sample(64), r.generator.sample_noise(64)
        loss = r._unrolled(z, batch) if k else r.objective.g_loss(r.discriminator(r.generator(z)))
        grads[k] = torch.autograd.grad(loss, list(r.generator.parameters()))[0]
    assert grads[0].shape == grads[5].shape and not torch.allclose(grads[0], grads[5])


@pytest.mark.parametrize("overrides", [
    ("model.pack=4", "discriminator.minibatch=std"),
    ("model.unroll=2", "discriminator.spectral_norm=true"),
    ("model.unroll=1", "discriminator.minibatch=discrimination", "discriminator.minibatch_kernels=4"),
    ("reg.label_smoothing=0.1", "reg.label_flip=0.05", "reg.instance_noise=0.2", "reg.schedule=linear",
     "discriminator.dropout=0.2", "reg.r1=1"),
])
def test_remedies_train_end_to_end_and_resume(tiny, overrides):
    run = api.train(tiny("train.steps=10", *overrides))
    rows = read_jsonl(run.stats)
    assert rows[-1]["step"] == 10 and 0.0 <= rows[-1]["d_acc"] <= 1.0
    api.resume(run.root, ["train.steps=12"])
    assert read_jsonl(run.stats)[-1]["step"] == 12


def test_pacgan_on_images_trains(tiny):
    run = api.train(tiny("model.pack=2", "discriminator.spectral_norm=true", "train.steps=3", "train.log_every=1",
                         "generator.width=16", "discriminator.width=16", "data.batch_size=16", preset="dcgan-digits"))
    assert read_jsonl(run.stats)[-1]["step"] == 3


def test_channels_last_trains_the_same_game(tiny):
    """NHWC memory order changes the speed, not the maths: same losses up to float rounding."""
    out = {}
    for flag in ("false", "true"):
        r, ds = _recipe(tiny, f"run.channels_last={flag}", "generator.width=16", "discriminator.width=16",
                        preset="dcgan-digits")
        torch.manual_seed(3)
        batch = ds.sample(16)
        out[flag] = {**r.d_step(batch), **r.g_step(batch)}
        if flag == "true":
            w = next(m.weight for m in r.discriminator.modules() if isinstance(m, nn.Conv2d))
            assert w.is_contiguous(memory_format=torch.channels_last)
    for k in ("d_loss", "g_loss", "d_grad_norm"):
        assert math.isclose(float(out["true"][k]), float(out["false"][k]), rel_tol=1e-4), k


def test_dcgan_shapes_preset_noises_what_d_sees_and_fades_it_out():
    """The preset's remedy (BENCHMARKS.md, "dcgan-shapes: a discriminator that stops winning"): Gaussian noise
    of std 2.0 on every image D sees at the start, fading linearly to none at the last step, and a minibatch-std
    layer in D; G stays unconditional (`gankit sample --arithmetic` needs that), D keeps the paper's batch norm."""
    cfg = config_mod.resolve("dcgan-shapes", overrides=["run.threads=1"])
    assert (cfg.model.recipe, cfg.model.objective, cfg.reg.schedule) == ("gan", "nsgan", "linear")
    assert cfg.reg.instance_noise == 2.0 and cfg.discriminator.norm == "auto" and cfg.model.pack == 1
    torch.manual_seed(0)
    r = RECIPES.get("gan")(cfg, (3, 32, 32), "cpu")
    assert any(isinstance(m, nn.BatchNorm2d) for m in r.discriminator.modules())
    assert any(isinstance(m, MinibatchStd) for m in r.discriminator.modules())
    x = torch.zeros(64, 3, 32, 32)
    assert r.d_input(x, r.strength()).std().item() == pytest.approx(2.0, rel=0.02)  # σ at step 0
    r.progress = 0.5
    assert r.d_input(x, r.strength()).std().item() == pytest.approx(1.0, rel=0.02)  # halfway: σ / 2
    r.progress = 1.0
    assert torch.equal(r.d_input(x, r.strength()), x)  # none at the end
