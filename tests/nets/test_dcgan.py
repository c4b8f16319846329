"""DCGAN networks: Radford et al.'s guidelines as checks (shapes, depth from the size, init N(0, 0.02),
no pooling or hidden linear layers, tanh output, raw scores), the critic variant without batch norm,
and one training step of the GAN recipe with every objective on 8x8 digits."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gankit import config as C
from gankit.config import DiscriminatorConfig, GeneratorConfig
from gankit.data import build_dataset
from gankit.errors import ConfigError
from gankit.nets.dcgan import DCGANDiscriminator, DCGANGenerator, plan
from gankit.registry import NETWORKS, OBJECTIVES, RECIPES

SHAPES = [(c, s, s) for s in (8, 28, 32, 64) for c in (1, 3)]


def nets(shape, width=16, noise_dim=5, **d_kw):
    fam = NETWORKS.get("dcgan")
    g = fam.generator(GeneratorConfig(noise_dim=noise_dim, width=width), shape)
    d = fam.discriminator(DiscriminatorConfig(width=width, **d_kw), shape)
    return g, d


def test_depth_follows_the_image_size():
    assert [plan(s) for s in (8, 28, 32, 64, 12, 128)] == [(2, 2), (7, 2), (4, 3), (4, 4), (3, 2), (4, 5)]
    for bad in (27, 100, 9, 3):
        with pytest.raises(ConfigError, match="data.image_size"):
            plan(bad)


@pytest.mark.parametrize("shape", SHAPES)
def test_shapes_range_and_raw_scores(shape):
    torch.manual_seed(0)
    g, d = nets(shape)
    z = g.sample_noise(6)
    assert z.shape == (6, 5) and g.noise_dim == 5 and g.out_shape == shape
    x = g(z)
    assert x.shape == (6, *shape) and x.min() >= -1 and x.max() <= 1  # tanh output
    assert isinstance(g.net[-1], nn.Tanh)
    out = d(x)
    assert out.shape == (6,) and torch.isfinite(out).all()
    # a raw score, not a probability: a sigmoid would squash large inputs into [0, 1]
    big = d(50 * torch.randn(16, *shape))
    assert big.min() < 0 or big.max() > 1
    assert d(x.flatten(1)).shape == (6,)  # flattened images are accepted too


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 64, 64)])
def test_radford_guidelines(shape):
    g, d = nets(shape, width=32)
    for net in (g, d):
        kinds = {type(m) for m in net.modules()}
        assert not kinds & {nn.Linear, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d}, "no pooling, no FC"
    s0, k = plan(shape[1])
    up = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert up[0].kernel_size == (s0, s0) and [m.stride for m in up[1:]] == [(2, 2)] * k  # project, then upsample
    down = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert [m.stride for m in down[:-1]] == [(2, 2)] * k and down[-1].kernel_size == (s0, s0)
    # batch norm everywhere except G's output and D's input layer
    assert sum(isinstance(m, nn.BatchNorm2d) for m in g.modules()) == k
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.modules()) == k - 1
    assert isinstance(d.net[1], nn.LeakyReLU) and d.net[1].negative_slope == 0.2
    assert any(isinstance(m, nn.ReLU) for m in g.modules())
    # G widens towards low resolution, D mirrors it
    assert up[0].out_channels == 32 and up[-1].out_channels == shape[0]
    assert down[-2].out_channels == 32 and down[0].in_channels == shape[0]


def test_dcgan_init_statistics():
    torch.manual_seed(0)
    g, d = nets((3, 64, 64), width=128, noise_dim=100)
    weights = torch.cat([m.weight.detach().flatten() for net in (g, d) for m in net.modules()
                         if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
    assert abs(float(weights.mean())) < 1e-3 and float(weights.std()) == pytest.approx(0.02, rel=0.02)
    scales = torch.cat([m.weight.detach() for net in (g, d) for m in net.modules() if isinstance(m, nn.BatchNorm2d)])
    assert float(scales.mean()) == pytest.approx(1.0, abs=0.01) and float(scales.std()) == pytest.approx(0.02, rel=0.2)
    biases = [m.bias for net in (g, d) for m in net.modules() if getattr(m, "bias", None) is not None]
    assert all(torch.count_nonzero(b) == 0 for b in biases)


def test_parameter_counts_follow_the_closed_form():
    """64 px, width w, z in R^100: convolutions (k x k x c_in x c_out), biases where no norm follows,
    two parameters per batch-norm channel."""
    w, nz = 128, 100
    g, d = nets((3, 64, 64), width=w, noise_dim=nz)
    g_expected = (nz * w * 16 + w * (w // 2) * 16 + (w // 2) * (w // 4) * 16 + (w // 4) * (w // 8) * 16
                  + (w // 8) * 3 * 16 + 3 + 2 * (w + w // 2 + w // 4 + w // 8))
    d_expected = (3 * (w // 8) * 16 + w // 8 + (w // 8) * (w // 4) * 16 + (w // 4) * (w // 2) * 16
                  + (w // 2) * w * 16 + w * 16 + 1 + 2 * (w // 4 + w // 2 + w))
    assert sum(p.numel() for p in g.parameters()) == g_expected
    assert sum(p.numel() for p in d.parameters()) == d_expected
    # the paper's 64-px generator (width 1024) has about 12.7 M parameters
    big = DCGANGenerator(100, 3, 64, width=1024)
    assert 12.6e6 < sum(p.numel() for p in big.parameters()) < 12.7e6


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32)])
def test_one_adam_step_moves_every_parameter(shape):
    torch.manual_seed(0)
    g, d = nets(shape)
    opt = torch.optim.Adam([*g.parameters(), *d.parameters()], lr=2e-4, betas=(0.5, 0.999))
    before = [p.detach().clone() for p in [*g.parameters(), *d.parameters()]]
    loss = (nn.functional.softplus(-d(g(g.sample_noise(8)))).mean()
            + nn.functional.softplus(d(torch.rand(8, *shape) * 2 - 1)).mean())
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    after = [p.detach() for p in [*g.parameters(), *d.parameters()]]
    assert all(not torch.equal(a, b) for a, b in zip(before, after))


@pytest.mark.parametrize("norm", ["none", "layer"])
def test_critic_variant_has_no_batch_norm_and_scores_each_sample_alone(norm):
    torch.manual_seed(0)
    critic = DCGANDiscriminator(1, 28, width=16, norm=norm)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in critic.modules())
    assert any(isinstance(m, nn.GroupNorm) for m in critic.modules()) == (norm == "layer")
    x = torch.randn(5, 1, 28, 28)
    y = x.clone()
    y[0] += 1.0
    assert torch.equal(critic(x)[1:], critic(y)[1:])  # the gradient penalty needs per-sample scores
    batch = DCGANDiscriminator(1, 28, width=16, norm="batch")
    assert not torch.allclose(batch(x)[1:], batch(y)[1:])  # batch norm mixes the samples


def test_norm_comes_from_the_config_when_present():
    fam = NETWORKS.get("dcgan")
    d_cfg = DiscriminatorConfig(width=8)
    d_cfg.norm = "none"  # the field the lead adds; read with getattr until then
    d = fam.discriminator(d_cfg, (1, 8, 8))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d.modules())
    with pytest.raises(ConfigError, match="unknown norm"):
        DCGANDiscriminator(1, 8, norm="instance")


def test_noise_is_reproducible_with_a_generator_and_uniform_prior_works():
    g = NETWORKS.get("dcgan").generator(GeneratorConfig(noise_dim=4, width=8, prior="uniform"), (1, 8, 8))
    gen = torch.Generator().manual_seed(3)
    a = g.sample_noise(5, generator=gen)
    gen.manual_seed(3)
    assert torch.equal(a, g.sample_noise(5, generator=gen)) and a.min() >= 0 and a.max() < 1


@pytest.mark.parametrize("shape,match", [((2,), r"\(C, H, W\)"), ((1, 28, 32), "square"), ((1, 27, 27), "27")])
def test_shapes_dcgan_cannot_model_are_config_errors(shape, match):
    fam = NETWORKS.get("dcgan")
    with pytest.raises(ConfigError, match=match):
        fam.generator(GeneratorConfig(), shape)
    with pytest.raises(ConfigError, match=match):
        fam.discriminator(DiscriminatorConfig(), shape)


def test_registered_with_its_image_shapes():
    meta = NETWORKS.meta("dcgan")
    assert meta["kind"] == "image" and (1, 28, 28) in meta["shapes"] and NETWORKS.describe("dcgan")


@pytest.mark.parametrize("objective", OBJECTIVES.names())
def test_gan_recipe_steps_with_dcgan_on_digits(objective):
    """Every objective trains the DCGAN nets: one D and one G step move them with finite losses."""
    cfg = C.resolve("ring8", overrides=[
        "data.name=digits", "generator.name=dcgan", "discriminator.name=dcgan", f"model.objective={objective}",
        "generator.width=16", "discriminator.width=16", "generator.noise_dim=8",
    ])
    ds = build_dataset(cfg.data)
    torch.manual_seed(0)
    r = RECIPES.get(cfg.model.recipe)(cfg, ds.shape, "cpu")
    d0 = [p.detach().clone() for p in r.discriminator.parameters()]
    g0 = [p.detach().clone() for p in r.generator.parameters()]
    batch = ds.sample(16)
    assert all(torch.isfinite(v).all() for v in r.d_step(batch).values())
    assert all(torch.isfinite(v).all() for v in r.g_step(batch).values())
    assert any(not torch.equal(a, b) for a, b in zip(d0, r.discriminator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(g0, r.generator.parameters()))
    assert r.sample(3).shape == (3, 1, 8, 8)
