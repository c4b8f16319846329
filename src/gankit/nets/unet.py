"""pix2pix's networks: a U-Net generator whose noise is dropout, and a PatchGAN discriminator on (input, output).

Isola, Zhu, Zhou, Efros, "Image-to-Image Translation with Conditional Adversarial Networks" (CVPR 2017),
section 3.2 and appendix 6.1, scaled down to 28/32-pixel images; Hung-yi Lee, GAN lecture (ATDL 14),
"Conditional GAN" (image to image; "dropout as noise").

**Generator (U-Net).** An encoder of ``depth`` 4 x 4 stride-2 convolutions (LeakyReLU 0.2 before each but
the first, batch norm after each but the first and the innermost) and a mirrored decoder of 4 x 4 stride-2
transposed convolutions (ReLU before, batch norm after), where decoder level i also receives encoder
level i (the skip connections: G(x) can copy the low-level structure of x, e.g. the edges, straight to
the output). Channels: ``width`` · min(2^i, 8) at level i; tanh output. An input side that is not a
multiple of 2^depth (28 px) is padded with the background value -1 and the output cropped back.

**Noise = dropout.** Isola et al. found that G learns to ignore a noise vector z, and provide noise only
as dropout, kept on at test time, in the decoder's innermost three layers (p = 0.5). The lecture says the
same of conditional GANs. Here the dropout masks are :class:`~gankit.nets.conditional.SeededDropout`'s:
a hash of a per-sample seed carried in the latent, so dropout is on at sampling time while the same
latent always gives the same image (``gankit sample --seed`` and ``gankit translate --seed`` are
reproducible) and a fresh seed gives a fresh mask. At sampling time (eval mode) batch norm uses its
running statistics, so an output depends on its own input and seed only, never on the rest of the batch
(Isola et al. normalise with the test batch's statistics instead).

**The latent.** ``z = [dropout seed (1) | pair index (1) | input image x (C·H·W)]``. The generator holds
a bank of held-out input images (``set_bank``; saved with its weights as float16 0..255, exact) so that
``net(net.sample_noise(n))`` translates held-out inputs like any other generator draws samples:
figures, the EMA copy, export, ``gankit sample`` and every metric work unchanged. ``labels_of(z)`` is
the held-out pair index (-1 for an input given by the user), which the paired metrics use to find the
target of each output. A net built without a bank (outside the recipe) draws blank inputs.

**Discriminator (PatchGAN).** D sees the pair (x, y) as one image of C_x + C_y channels: ``depth``
4 x 4 stride-2 convolutions, one 4 x 4 stride-1 convolution, then a 4 x 4 stride-1 convolution to one
logit per patch (LeakyReLU 0.2; batch norm on all but the first and last layers). Each logit judges one
receptive field of :func:`receptive_field` pixels (34 px for depth 2, 16 px for depth 1; the paper's
70 x 70 patches are 27 % of a 256-px side). ``patches(x, y)`` returns the (B, P) patch logits that the
recipe's loss averages; ``forward(y, x)`` returns their mean per sample, the raw score of the contract.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.errors import ConfigError, DataError
from gankit.nets.conditional import SEED_RANGE, SeededDropout
from gankit.nets.dcgan import dcgan_init
from gankit.nets.mlp import NetFamily
from gankit.registry import NETWORKS

DROPOUT_LAYERS = 3  # decoder layers with dropout, innermost first (Isola et al.); generator.dropout_layers
MAX_MULT = 8  # channels stop doubling at 8 x width (the paper's 512 for width 64)
BANK_VALUE = 255.0  # bank entries are stored pixel values 0..255 (float16 holds them exactly)


def _square(shape: tuple[int, ...], what: str) -> tuple[int, int]:
    if len(shape) != 3 or int(shape[1]) != int(shape[2]):
        raise ConfigError(f"{what} needs square images (C, S, S), got {tuple(shape)}")
    return int(shape[0]), int(shape[1])


def receptive_field(depth: int) -> int:
    """Pixels seen by one PatchGAN logit: r ← (r - 1)·stride + 4 back through the layers (two stride-1, then
    ``depth`` stride-2)."""
    r = 1
    for stride in [1, 1] + [2] * depth:
        r = (r - 1) * stride + 4
    return r


class UNet(nn.Module):
    """Encoder-decoder with skip connections: (B, C_in, S, S) -> (B, C_out, S, S) in [-1, 1].

    Args:
        in_channels: input channels.
        out_channels: output channels.
        size: image side S (padded internally to a multiple of 2^depth).
        width: channels of the first encoder level.
        depth: stride-2 levels (the bottleneck is ceil(S / 2^depth) pixels wide).
        dropout: seeded dropout probability after the innermost ``dropout_layers`` decoder layers (0: none).
        dropout_layers: how many decoder layers (innermost first) carry dropout; all depth - 1 hidden ones when
            larger (the output layer never does).
    """

    def __init__(self, in_channels: int, out_channels: int, size: int, width: int = 32, depth: int = 4,
                 dropout: float = 0.5, dropout_layers: int = DROPOUT_LAYERS) -> None:
        super().__init__()
        if depth < 1 or width < 1:
            raise ConfigError(f"the U-Net needs generator.depth >= 1 and generator.width >= 1, got {depth} and {width}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"generator.dropout must lie in [0, 1), got {dropout}")
        if dropout_layers < 0:
            raise ConfigError(f"generator.dropout_layers must be >= 0, got {dropout_layers}")
        step = 2**depth
        padded = math.ceil(size / step) * step
        self.size, self.pad = size, ((padded - size) // 2, padded - size - (padded - size) // 2)
        ch = [width * min(2**i, MAX_MULT) for i in range(depth)]
        self.down = nn.ModuleList()
        for i in range(depth):
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(in_channels if i == 0 else ch[i - 1], ch[i], 4, 2, 1, bias=i in (0, depth - 1)))
            if 0 < i < depth - 1:
                layers.append(nn.BatchNorm2d(ch[i]))
            self.down.append(nn.Sequential(*layers))
        self.up = nn.ModuleList()
        self.drops: list[SeededDropout] = []
        for i in reversed(range(depth)):  # decoder level i undoes encoder level i
            c_in = ch[i] if i == depth - 1 else 2 * ch[i]  # the innermost has no skip beside it
            if i == 0:
                layers = [nn.ReLU(), nn.ConvTranspose2d(c_in, out_channels, 4, 2, 1), nn.Tanh()]
            else:
                layers = [nn.ReLU(), nn.ConvTranspose2d(c_in, ch[i - 1], 4, 2, 1, bias=False),
                          nn.BatchNorm2d(ch[i - 1])]
                if dropout > 0 and depth - 1 - i < dropout_layers:
                    self.drops.append(SeededDropout(dropout, salt=len(self.drops) + 1))
                    layers.append(self.drops[-1])
            self.up.append(nn.Sequential(*layers))
        dcgan_init(self)

    def forward(self, x: Tensor, seeds: Tensor | None = None) -> Tensor:
        """x (B, C_in, S, S) -> (B, C_out, S, S); ``seeds`` (B,) pick the dropout masks (needed with dropout)."""
        if self.drops:
            if seeds is None:
                raise RuntimeError("a U-Net with dropout needs the batch's dropout seeds")
            for d in self.drops:
                d.seeds = seeds
        lo, hi = self.pad
        h = F.pad(x, (lo, hi, lo, hi), value=-1.0) if lo or hi else x
        skips = []
        for down in self.down:
            h = down(h)
            skips.append(h)
        skips.pop()  # the innermost output is h itself
        for up in self.up:
            h = up(h)
            if skips:
                h = torch.cat([h, skips.pop()], dim=1)
        return h[:, :, lo: lo + self.size, lo: lo + self.size] if lo or hi else h


class Pix2PixGenerator(nn.Module):
    """G(x, dropout seed): a :class:`UNet` behind the latent ``[seed | pair index | x]``.

    Args:
        source_shape: (C_x, S, S) of the input images.
        out_shape: (C_y, S, S) of the outputs.
        width, depth, dropout, dropout_layers: the U-Net's.
    """

    bank: Tensor  # (B, C_x, S, S) float16 held-out inputs, a buffer registered in __init__

    def __init__(self, source_shape: tuple[int, ...], out_shape: tuple[int, ...], width: int = 32, depth: int = 4,
                 dropout: float = 0.5, dropout_layers: int = DROPOUT_LAYERS) -> None:
        super().__init__()
        c_in, s_in = _square(tuple(source_shape), "pix2pix's input")
        c_out, s_out = _square(tuple(out_shape), "pix2pix's output")
        if s_in != s_out:
            raise ConfigError(f"pix2pix maps images to images of the same side; got inputs {s_in} px, "
                              f"outputs {s_out} px")
        self.source_shape = (c_in, s_in, s_in)
        self.out_shape = (c_out, s_out, s_out)
        self.unet = UNet(c_in, c_out, s_in, width, depth, dropout, dropout_layers)
        self.register_buffer("bank", torch.zeros(0, *self.source_shape, dtype=torch.float16))
        self.latent_dim = 2 + c_in * s_in * s_in

    # ------------------------------------------------------------------ the bank of held-out inputs
    def set_bank(self, pixels: Tensor) -> None:
        """Held-out input images to translate when no inputs are given: (B, C_x, S, S) stored values 0..255."""
        if tuple(pixels.shape[1:]) != self.source_shape:
            raise DataError(f"bank images must have shape {self.source_shape}, got {tuple(pixels.shape[1:])}")
        self.bank = pixels.to(self.bank.device, torch.float16)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        saved = state_dict.get(prefix + "bank")
        if saved is not None:  # a bank of another size (an export loaded into a fresh net): take its shape
            self.bank = torch.zeros_like(saved, dtype=torch.float16, device=self.bank.device)
        super()._load_from_state_dict(state_dict, prefix, *args)

    # ------------------------------------------------------------------ latents
    def sample_noise(self, n: int, device: torch.device | str | None = None, generator: torch.Generator | None = None,
                     labels: Tensor | int | None = None, inputs: Tensor | None = None) -> Tensor:
        """(n, latent_dim) latents: a dropout seed, a pair index and an input image each.

        Args:
            n: number of latents.
            device: where they go.
            generator: private RNG for the seeds and the bank rows.
            labels: bank rows (held-out pair indices), (n,) or one int; None: distinct random rows
                (random rows with repeats when n exceeds the bank).
            inputs: (n, C_x, S, S) images in [-1, 1] to translate instead (pair index -1).
        """
        gen_dev = generator.device if generator is not None else (device if device is not None else self.bank.device)
        seeds = torch.randint(0, SEED_RANGE, (n, 1), generator=generator, device=gen_dev).float()
        if inputs is not None:
            if tuple(inputs.shape) != (n, *self.source_shape):
                raise DataError(f"inputs must have shape {(n, *self.source_shape)}, got {tuple(inputs.shape)}")
            x = inputs.to(gen_dev, torch.float32)
            idx = torch.full((n,), -1, device=gen_dev)
        else:
            b = len(self.bank)
            if labels is not None:
                idx = torch.as_tensor(labels, device=gen_dev).long()
                idx = idx.expand(n) if idx.dim() == 0 else idx
                if idx.shape != (n,) or (n and (int(idx.min()) < 0 or int(idx.max()) >= b)):
                    raise DataError(f"held-out pair indices must be one or {n} numbers in 0..{b - 1}")
            elif b == 0:
                idx = torch.full((n,), -1, device=gen_dev)
            elif n <= b:
                idx = torch.randperm(b, generator=generator, device=gen_dev)[:n]
            else:
                idx = torch.randint(0, b, (n,), generator=generator, device=gen_dev)
            if b == 0:
                x = torch.full((n, *self.source_shape), -1.0, device=gen_dev)  # no bank: blank inputs
            else:
                x = self.bank.to(gen_dev)[idx].float() * (2.0 / BANK_VALUE) - 1.0
        z = torch.cat([seeds, idx.float()[:, None], x.reshape(n, -1)], dim=1)
        return z.to(device) if device is not None else z

    def labels_of(self, z: Tensor) -> Tensor:
        """(n,) held-out pair index of each latent (-1: an input the user gave)."""
        return z[:, 1].round().long()

    def split(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """(dropout seeds (n,), input images (n, C_x, S, S)) of a batch of latents."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise DataError(f"latents must have shape (n, {self.latent_dim}) (seed 1, pair index 1, "
                            f"input {math.prod(self.source_shape)}), got {tuple(z.shape)}")
        return z[:, 0].round().long(), z[:, 2:].reshape(-1, *self.source_shape)

    def forward(self, z: Tensor) -> Tensor:
        seeds, x = self.split(z)
        return self.unet(x, seeds)


class PatchGAN(nn.Module):
    """D(y, x): the mean of PatchGAN logits over the pair (x, y); ``patches`` gives each logit.

    Args:
        source_channels: C_x.
        channels: C_y.
        width: channels of the first layer (doubling, at most 8 x width).
        depth: stride-2 layers (see :func:`receptive_field`).
    """

    def __init__(self, source_channels: int, channels: int, width: int = 32, depth: int = 2) -> None:
        super().__init__()
        if depth < 1 or width < 1:
            raise ConfigError(f"the PatchGAN needs discriminator.depth >= 1 and width >= 1, got {depth} and {width}")
        layers: list[nn.Module] = []
        c_in = source_channels + channels
        for i in range(depth + 1):  # depth stride-2 convolutions, then one stride-1
            c = width * min(2**i, MAX_MULT)
            layers.append(nn.Conv2d(c_in, c, 4, 2 if i < depth else 1, 1, bias=i == 0))
            if i > 0:
                layers.append(nn.BatchNorm2d(c))
            layers.append(nn.LeakyReLU(0.2))
            c_in = c
        layers.append(nn.Conv2d(c_in, 1, 4, 1, 1))  # one raw logit per patch
        self.net = nn.Sequential(*layers)
        self.source_channels = int(source_channels)
        self.receptive_field = receptive_field(depth)
        dcgan_init(self)

    def patches(self, source: Tensor, image: Tensor) -> Tensor:
        """(B, P) raw logits, one per patch of the pair (x = ``source``, y = ``image``)."""
        return self.net(torch.cat([source, image], dim=1)).flatten(1)

    def forward(self, image: Tensor, source: Tensor) -> Tensor:
        """(B,) raw scores: the mean patch logit (the raw-score contract of every discriminator)."""
        return self.patches(source, image).mean(dim=1)


def _unet_generator(cfg: Any, data_shape: tuple[int, ...], source_shape: tuple[int, ...] | None = None) -> nn.Module:
    return Pix2PixGenerator(source_shape or data_shape, data_shape, cfg.width, cfg.depth, cfg.dropout,
                            cfg.dropout_layers)


def _patchgan_discriminator(cfg: Any, data_shape: tuple[int, ...], source_channels: int | None = None) -> nn.Module:
    c, _ = _square(tuple(data_shape), "the PatchGAN")
    return PatchGAN(c if source_channels is None else source_channels, c, cfg.width, cfg.depth)


# One family (generator.name=pix2pix, discriminator.name=pix2pix): G is the U-Net, D the PatchGAN on
# (input, output) pairs; the condition is the input image.
NETWORKS.register("pix2pix", kind="image", shapes=[(1, 28, 28), (3, 32, 32)], conditional=True)(
    NetFamily(_unet_generator, _patchgan_discriminator,
              "pix2pix (Isola 2017): U-Net G with dropout as its noise, PatchGAN D on (input, output) pairs")
)
