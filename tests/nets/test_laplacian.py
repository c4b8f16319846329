"""The Laplacian pyramid (exact round trip, band statistics) and the LAPGAN networks' shapes."""

from __future__ import annotations

import pytest
import torch

from gankit.config import DiscriminatorConfig, GeneratorConfig
from gankit.errors import ConfigError
from gankit.nets.laplacian import (
    COARSE_MAPS,
    BandGenerator,
    ConvCoarseGenerator,
    LaplacianDiscriminator,
    LaplacianGenerator,
    auto_levels,
    build_pyramid,
    downsample,
    gaussian_pyramid,
    lapgan_discriminator,
    level_sizes,
    reconstruct,
    upsample,
)
from gankit.registry import NETWORKS


@pytest.mark.parametrize("size,levels", [(28, 3), (32, 3), (32, 4), (8, 2), (28, 1)])
def test_pyramid_round_trip_is_exact_in_float64(size, levels):
    gen = torch.Generator().manual_seed(size + levels)
    x = torch.rand(4, 3, size, size, generator=gen, dtype=torch.float64) * 2 - 1
    bands, coarse = build_pyramid(x, levels)
    assert (reconstruct(bands, coarse) - x).abs().max() < 1e-12
    # the band really is detail: dropping it changes the image
    if levels > 1:
        assert (reconstruct([torch.zeros_like(b) for b in bands], coarse) - x).abs().max() > 0.1


def test_shapes_at_each_level():
    x = torch.randn(2, 1, 28, 28)
    bands, coarse = build_pyramid(x, 3)
    assert [tuple(b.shape) for b in bands] == [(2, 1, 28, 28), (2, 1, 14, 14)]
    assert coarse.shape == (2, 1, 7, 7)
    assert [tuple(i.shape[-2:]) for i in gaussian_pyramid(x, 3)] == [(28, 28), (14, 14), (7, 7)]
    assert downsample(x).shape == (2, 1, 14, 14) and upsample(coarse).shape == (2, 1, 14, 14)
    assert level_sizes(32, 3) == [32, 16, 8]
    assert [auto_levels(s) for s in (8, 28, 32, 64)] == [1, 3, 3, 4]


def test_constant_image_has_zero_bands_and_keeps_its_value():
    x = torch.full((1, 2, 32, 32), 0.3, dtype=torch.float64)
    bands, coarse = build_pyramid(x, 4)
    assert all(b.abs().max() < 1e-14 for b in bands)
    torch.testing.assert_close(coarse, torch.full_like(coarse, 0.3))


def test_ramp_has_zero_band_and_checkerboard_is_all_band():
    """d and u agree on where coarse pixels sit: a linear ramp loses nothing to its band (away from the
    replicated borders); the checkerboard, the highest frequency, is removed by the blur and is all band."""
    ramp = (torch.arange(28, dtype=torch.float64) / 28).repeat(28, 1)[None, None]
    bands, _ = build_pyramid(ramp, 3)
    assert bands[0][..., 3:-3, 3:-3].abs().max() < 1e-12 and bands[1][..., 3:-3, 3:-3].abs().max() < 1e-12
    assert bands[0].abs().max() > 1e-3  # the borders are not linear after replicate padding
    idx = torch.arange(28)
    board = ((idx[:, None] + idx[None]) % 2 * 2 - 1).to(torch.float64)[None, None]
    bands, coarse = build_pyramid(board, 2)
    assert coarse[..., 1:-1, 1:-1].abs().max() < 1e-12 and coarse.abs().max() > 0.01  # borders are replicated
    torch.testing.assert_close(bands[0][..., 3:-3, 3:-3], board[..., 3:-3, 3:-3])


@pytest.mark.parametrize("size,levels", [(28, 4), (8, 4), (30, 3)])
def test_sizes_that_cannot_be_halved_are_config_errors(size, levels):
    with pytest.raises(ConfigError, match="cannot be halved"):
        build_pyramid(torch.zeros(1, 1, size, size), levels)
    with pytest.raises(ConfigError, match="generator.levels"):
        NETWORKS.get("lapgan").generator(GeneratorConfig(levels=levels), (1, size, size))


def test_generator_latent_stages_and_determinism():
    torch.manual_seed(0)
    g = LaplacianGenerator(10, 1, 28, 3, width=8, depth=1).eval()
    assert g.latent_dim == 10 + 14 * 14 + 28 * 28
    gen = torch.Generator().manual_seed(3)
    z = g.sample_noise(5, generator=gen)
    assert z.shape == (5, g.latent_dim)
    gen.manual_seed(3)
    assert torch.equal(z, g.sample_noise(5, generator=gen))
    x = g(z)
    assert x.shape == (5, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    torch.testing.assert_close(g(z), x)
    stages = g.stages(z)
    assert [name for name, _ in stages] == ["coarse 7px", "upsampled coarser image 14px", "band 14px", "image 14px",
                                            "upsampled coarser image 28px", "band 28px", "image 28px"]
    assert [t.shape[-1] for _, t in stages] == [7, 14, 14, 14, 28, 28, 28]
    torch.testing.assert_close(stages[-1][1], x)  # the last stage is the sample
    torch.testing.assert_close(stages[1][1], upsample(stages[0][1]))
    torch.testing.assert_close(stages[3][1], (stages[1][1] + stages[2][1]).clamp(-1, 1))
    # each level's noise changes only that level and the finer ones
    z2 = z.clone()
    z2[:, -28 * 28:] += 1.0  # the finest level's noise plane
    s2 = g.stages(z2)
    torch.testing.assert_close(s2[3][1], stages[3][1])
    assert not torch.allclose(s2[-1][1], x)


@pytest.mark.parametrize("coarse_net", ["mlp", "conv"])
def test_discriminator_scores_sum_the_levels(coarse_net):
    torch.manual_seed(0)
    d = lapgan_discriminator(DiscriminatorConfig(width=8, depth=1, coarse_net=coarse_net), (1, 8, 8), levels=2).eval()
    x = torch.randn(6, 1, 8, 8)
    bands, coarse = build_pyramid(x, 2)
    expected = d.coarse(coarse) + d.band(0, bands[0], upsample(coarse))
    torch.testing.assert_close(d(x), expected)
    assert d(x).shape == (6,)


def _hidden_sides(net: BandGenerator, z: torch.Tensor, low: torch.Tensor) -> list[int]:
    """The side of every hidden convolution's output (batch norm inputs) in one forward pass."""
    sides: list[int] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: sides.append(out.shape[-1]))
             for m in net.net if isinstance(m, torch.nn.BatchNorm2d)]
    net(z, low)
    for h in hooks:
        h.remove()
    return sides


@pytest.mark.parametrize("size", [8, 14, 28])
def test_half_band_net_works_at_half_the_side_and_returns_the_levels_shape(size):
    torch.manual_seed(0)
    z, low = torch.randn(3, size * size), torch.randn(3, 1, size, size)
    full, half = BandGenerator(1, size, 8, depth=3), BandGenerator(1, size, 8, depth=3, net="half")
    assert full(z, low).shape == half(z, low).shape == (3, 1, size, size)
    assert _hidden_sides(full, z, low) == [size] * 3
    assert _hidden_sides(half, z, low) == [size // 2] * 3
    # the noise plane still reaches every pixel's band
    assert not torch.allclose(half(z + 1.0, low), half(z, low))


def test_band_net_reaches_every_band_of_the_generator():
    g = NETWORKS.get("lapgan").generator(GeneratorConfig(width=8, depth=1, band_net="half"), (1, 28, 28))
    assert all(isinstance(b.net[-1], torch.nn.ConvTranspose2d) for b in g.bands)
    x = g(g.sample_noise(4))
    assert x.shape == (4, 1, 28, 28) and x.abs().max() <= 1
    with pytest.raises(ConfigError, match="band net 'quarter'"):
        BandGenerator(1, 8, 8, net="quarter")


def test_conv_coarse_generator_has_the_closed_form_size_and_a_local_output():
    """coarse_net=conv: Linear(z -> m s^2 planes), batch norm, (depth-1) 3x3 convolutions, a 3x3 one to C."""
    torch.manual_seed(0)
    nz, c, s, m, depth = 5, 1, 7, 6, 3
    g = ConvCoarseGenerator(nz, c, s, m, depth).eval()
    expected = (nz + 1) * m * s * s + 2 * m + (depth - 1) * (9 * m * m + 2 * m) + 9 * m * c + c
    assert sum(p.numel() for p in g.parameters()) == expected
    z = torch.randn(4, nz)
    assert g(z).shape == (4, c, s, s)
    # a change of one hidden plane's pixel reaches only its 3x3 neighbourhood per convolution: the corner
    # pixel of the output moves when the fc output near the corner moves, not when the far corner does
    base = g.net(g.fc(z).view(4, m, s, s))
    h = g.fc(z).view(4, m, s, s).clone()
    h[:, :, -1, -1] += 5.0
    moved = (g.net(h) - base).abs()[:, 0]
    assert moved[:, 0, 0].max() == 0 and moved[:, -1, -1].min() > 0


def test_conv_coarse_nets_in_the_whole_pyramid():
    g = LaplacianGenerator(10, 1, 28, 3, width=4, depth=2, batch_norm=True, coarse_net="conv")
    assert isinstance(g.coarse, ConvCoarseGenerator) and g.coarse.maps == COARSE_MAPS * 4
    x = g(g.sample_noise(3))
    assert x.shape == (3, 1, 28, 28) and x.abs().max() <= 1
    d = LaplacianDiscriminator(1, 28, 3, width=4, coarse_net="conv")
    assert d.coarse.net[0].in_channels == 1 and d.coarse.net[0].out_channels == COARSE_MAPS * 4  # the image alone
    assert d.coarse(torch.randn(3, 1, 7, 7)).shape == (3,)
    for make in (lambda: LaplacianGenerator(10, 1, 28, 3, coarse_net="rnn"),
                 lambda: LaplacianDiscriminator(1, 28, 3, coarse_net="rnn")):
        with pytest.raises(ConfigError, match="unknown LAPGAN coarse net 'rnn'; choose one of: mlp, conv"):
            make()
