"""pix2pix's networks: U-Net shapes and skips, dropout as seeded noise, the bank of held-out inputs, PatchGAN
patches."""

from __future__ import annotations

import pytest
import torch

from gankit.errors import ConfigError, DataError
from gankit.nets.unet import PatchGAN, Pix2PixGenerator, UNet, receptive_field


@pytest.mark.parametrize("shape_in,shape_out", [((1, 28, 28), (1, 28, 28)), ((1, 32, 32), (3, 32, 32)),
                                                ((3, 8, 8), (1, 8, 8))])
def test_unet_maps_images_to_images_of_the_same_side(shape_in, shape_out):
    torch.manual_seed(0)
    g = Pix2PixGenerator(shape_in, shape_out, width=8, depth=3, dropout=0.5)
    z = g.sample_noise(5, inputs=torch.rand(5, *shape_in) * 2 - 1)
    assert z.shape == (5, g.latent_dim) == (5, 2 + shape_in[0] * shape_in[1] * shape_in[2])
    y = g(z)
    assert y.shape == (5, *shape_out) and y.abs().max() <= 1
    assert (g.labels_of(z) == -1).all()  # given inputs have no held-out pair


def test_skip_connections_carry_the_input_to_the_output():
    """Changing one input pixel changes the output near it (the outermost skip), even with a 1x1 bottleneck."""
    torch.manual_seed(0)
    net = UNet(1, 1, 32, width=4, depth=5, dropout=0.0).eval()
    x = (torch.rand(1, 1, 32, 32) * 2 - 1).requires_grad_(True)
    net(x)[0, 0, 3, 3].backward()
    grad = x.grad[0, 0].abs()
    assert grad[2:5, 2:5].sum() > 0
    assert grad[2:5, 2:5].sum() > 0.05 * grad.sum()  # local structure dominates


def test_dropout_is_seeded_noise():
    torch.manual_seed(0)
    g = Pix2PixGenerator((1, 28, 28), (1, 28, 28), width=8, depth=4, dropout=0.5).eval()
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    gen = torch.Generator().manual_seed(3)
    z = g.sample_noise(4, generator=gen, inputs=x)
    a, b = g(z), g(z)
    assert torch.equal(a, b)  # the same latent, the same image (dropout on in eval mode, masks from the seed)
    assert torch.equal(g(z[2:3]), a[2:3])  # whatever else is in the batch
    z2 = z.clone()
    z2[:, 0] += 1  # other seeds: other masks, other images
    assert (g(z2) - a).abs().amax(dim=(1, 2, 3)).min() > 1e-4
    gen.manual_seed(3)
    assert torch.equal(g.sample_noise(4, generator=gen, inputs=x), z)  # reproducible under a seed
    plain = Pix2PixGenerator((1, 28, 28), (1, 28, 28), width=8, depth=4, dropout=0.0).eval()
    assert torch.equal(plain(z), plain(z2))  # without dropout G ignores the seed
    with pytest.raises(ConfigError, match="generator.dropout must lie in"):
        UNet(1, 1, 28, dropout=1.0)


def test_dropout_layers_counts_the_decoder_layers_with_noise_innermost_first():
    def drops(net):  # the decoder positions (innermost = 0) that carry a dropout layer
        return [i for i, up in enumerate(net.up) for m in up if m.__class__.__name__ == "SeededDropout"]

    assert drops(UNet(1, 1, 32, width=4, depth=5, dropout=0.5)) == [0, 1, 2]  # Isola et al.'s three
    assert drops(UNet(1, 1, 32, width=4, depth=5, dropout=0.5, dropout_layers=1)) == [0]  # the bottleneck's only
    assert drops(UNet(1, 1, 32, width=4, depth=5, dropout=0.5, dropout_layers=4)) == [0, 1, 2, 3]
    assert drops(UNet(1, 1, 32, width=4, depth=5, dropout=0.5, dropout_layers=9)) == [0, 1, 2, 3]  # not the output
    assert drops(UNet(1, 1, 32, width=4, depth=5, dropout=0.5, dropout_layers=0)) == []
    with pytest.raises(ConfigError, match="generator.dropout_layers must be >= 0, got -1"):
        UNet(1, 1, 32, width=4, depth=5, dropout=0.5, dropout_layers=-1)


def test_the_bank_draws_distinct_held_out_inputs_and_survives_a_reload():
    torch.manual_seed(0)
    g = Pix2PixGenerator((1, 8, 8), (1, 8, 8), width=4, depth=2)
    bank = torch.randint(0, 256, (10, 1, 8, 8), dtype=torch.uint8)
    g.set_bank(bank)
    z = g.sample_noise(10, generator=torch.Generator().manual_seed(1))
    idx = g.labels_of(z)
    assert sorted(idx.tolist()) == list(range(10))  # n <= bank: every row once
    assert torch.equal(g.split(z)[1], bank[idx].float() * (2 / 255) - 1)  # the data sets' scaling, exact
    z3 = g.sample_noise(3, labels=torch.tensor([7, 7, 2]))
    assert g.labels_of(z3).tolist() == [7, 7, 2] and torch.equal(g.split(z3)[1][0], bank[7].float() * (2 / 255) - 1)
    assert len(g.labels_of(g.sample_noise(25))) == 25  # more than the bank: repeats
    with pytest.raises(DataError, match=r"pair indices must be one or 2 numbers in 0\.\.9"):
        g.sample_noise(2, labels=torch.tensor([0, 10]))
    fresh = Pix2PixGenerator((1, 8, 8), (1, 8, 8), width=4, depth=2)  # an empty bank, as api.load_generator builds it
    assert (fresh.split(fresh.sample_noise(2))[1] == -1).all()  # no bank: blank inputs
    fresh.load_state_dict(g.state_dict())
    assert torch.equal(fresh.bank, g.bank)
    gen = torch.Generator().manual_seed(4)
    za = g.sample_noise(6, generator=gen)
    gen.manual_seed(4)
    assert torch.equal(za, fresh.sample_noise(6, generator=gen)) and torch.equal(g.eval()(za), fresh.eval()(za))


@pytest.mark.parametrize("depth", [1, 2])
def test_patchgan_logits_see_only_their_receptive_field(depth):
    assert receptive_field(1) == 16 and receptive_field(2) == 34  # (r - 1)·stride + 4 through the layers
    torch.manual_seed(0)
    d = PatchGAN(1, 3, width=4, depth=depth).eval()
    src, img = torch.zeros(1, 1, 64, 64), torch.zeros(1, 3, 64, 64, requires_grad=True)
    p = d.net(torch.cat([src, img], dim=1))  # (1, 1, h, w) patch map
    p[0, 0, 0, 0].backward()
    rows = img.grad[0].abs().sum(dim=(0, 2)).nonzero().flatten()
    assert int(rows.max()) + 1 <= d.receptive_field - 1  # the first patch never looks past its field (padding 1)
    assert d(img.detach(), src).shape == (1,)
    assert torch.allclose(d(img.detach(), src), d.patches(src, img.detach()).mean(dim=1))
