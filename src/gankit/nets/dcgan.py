"""DCGAN generator and discriminator for square images (8, 28, 32, 64 pixels and other 2^k multiples).

Radford, Metz, Chintala, "Unsupervised Representation Learning with Deep Convolutional Generative
Adversarial Networks" (2015), section 3 "Architecture guidelines for stable Deep Convolutional GANs"
(docs/protocols.md, "Defaults from the papers"):

- no pooling: strided convolutions in D, fractional-strided (transposed) convolutions in G;
- batch norm in G and D (not on G's output layer nor on D's input layer);
- no hidden fully connected layers: z is projected to the first s0 x s0 feature maps by a transposed
  convolution, and D's last convolution maps the s0 x s0 maps to one score;
- ReLU in G with a tanh output; LeakyReLU(0.2) in D;
- weights initialised from N(0, 0.02) (batch-norm scales from N(1, 0.02), biases 0).

The depth follows from the image side S: the resolution is halved from S while it stays even and at
least 4 (2 for S < 16), giving the start size s0 and k stride-2 layers (64 = 4 * 2^4, 32 = 4 * 2^3,
28 = 7 * 2^2, 8 = 2 * 2^2). ``width`` is the number of feature maps at s0 x s0 (the paper's 1024 at
4 x 4 for 64 pixels) and halves at each doubling of the resolution, so G and D mirror each other.

D returns a raw score per sample, never a sigmoid (docs/architecture.md rule 1). ``norm`` chooses the
normalisation: "batch" (the paper), or "layer" (GroupNorm(1, C)) / "none" for a WGAN-GP critic, whose
per-sample gradient penalty is wrong under batch norm (Gulrajani et al. 2017).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from gankit.errors import ConfigError
from gankit.nets.mlp import NetFamily, NoisePrior, activation
from gankit.registry import NETWORKS

NORMS = ("batch", "layer", "none")
SIZES = (8, 28, 32, 64)  # the sizes the tests and presets use; any S = s0 * 2^k with 2 <= s0 <= 8 works


def plan(size: int) -> tuple[int, int]:
    """(s0, k): the start resolution and the number of stride-2 layers for an image side ``size``."""
    s, k = size, 0
    floor = 4 if size >= 16 else 2
    while s % 2 == 0 and s // 2 >= floor:
        s //= 2
        k += 1
    if k == 0 or s > 8:
        raise ConfigError(
            f"dcgan needs square images whose side is 2^k times 2..8 pixels (e.g. 8, 28, 32, 64), got {size}; "
            "set data.image_size to one of those"
        )
    return s, k


def _image_shape(data_shape: tuple[int, ...]) -> tuple[int, int]:
    """(channels, size) of (C, H, W) data, or a ConfigError saying why dcgan cannot model it."""
    if len(data_shape) != 3:
        raise ConfigError(
            f"dcgan needs image data of shape (C, H, W), got {tuple(data_shape)}; use the 'mlp' networks for vectors"
        )
    c, h, w = (int(v) for v in data_shape)
    if h != w:
        raise ConfigError(f"dcgan needs square images, got {h}x{w}; set data.image_size to crop them square")
    plan(h)
    return c, h


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)  # layer norm over (C, H, W) per sample: no batch statistics
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"unknown norm '{kind}'; choose one of: {', '.join(NORMS)}")


def _channels(width: int, i: int) -> int:
    """Feature maps ``i`` doublings of resolution above s0."""
    return max(width >> i, 1)


def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights N(0, 0.02); norm scales N(1, 0.02); biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    """G: z (B, noise_dim) -> image (B, C, S, S) in [-1, 1].

    Args:
        noise_dim: dimension of z.
        channels: image channels C (1 or 3).
        size: image side S.
        width: feature maps at the first (s0 x s0) layer; halved at each upsampling.
        norm: "batch" (paper), "layer" or "none".
        act: hidden activation (ReLU in the paper).
        prior: "normal" or "uniform" noise.
    """

    def __init__(self, noise_dim: int, channels: int, size: int, width: int = 256, norm: str = "batch",
                 act: str = "relu", prior: str = "normal") -> None:
        super().__init__()
        s0, k = plan(size)
        c = _channels(width, 0)
        layers: list[nn.Module] = [
            # project and reshape: z as a 1x1 map -> s0 x s0 x width (no hidden fully connected layer)
            nn.ConvTranspose2d(noise_dim, c, s0, 1, 0, bias=norm == "none"),
            _norm(norm, c),
            activation(act),
        ]
        for i in range(1, k):
            c_next = _channels(width, i)
            layers += [nn.ConvTranspose2d(c, c_next, 4, 2, 1, bias=norm == "none"), _norm(norm, c_next),
                       activation(act)]
            c = c_next
        layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1), nn.Tanh()]  # (B, C, S, S)
        self.net = nn.Sequential(*layers)
        self.noise_dim = noise_dim
        self.out_shape = (channels, size, size)
        self.prior = NoisePrior(prior, noise_dim)
        dcgan_init(self)

    def sample_noise(self, n: int, device: torch.device | str | None = None,
                     generator: torch.Generator | None = None) -> Tensor:
        return self.prior.sample(n, device, generator)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z.reshape(z.shape[0], self.noise_dim, 1, 1))  # (B, C, S, S)


class DCGANDiscriminator(nn.Module):
    """D: image (B, C, S, S) -> raw score (B,); higher means "more real". Never a sigmoid.

    Args:
        channels: image channels C.
        size: image side S.
        width: feature maps at the last (s0 x s0) layer; halved towards the input.
        norm: "batch" (paper; not on the input layer), "layer" or "none" (WGAN-GP critics).
        act: activation (LeakyReLU(0.2) in the paper).
        dropout: dropout probability after each hidden activation (0: none).
    """

    def __init__(self, channels: int, size: int, width: int = 256, norm: str = "batch", act: str = "leaky_relu",
                 dropout: float = 0.0) -> None:
        super().__init__()
        s0, k = plan(size)
        layers: list[nn.Module] = []
        c = channels
        for j in range(k):
            c_next = _channels(width, k - 1 - j)
            first = j == 0
            layers.append(nn.Conv2d(c, c_next, 4, 2, 1, bias=first or norm == "none"))
            if not first:
                layers.append(_norm(norm, c_next))
            layers.append(activation(act))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            c = c_next
        layers.append(nn.Conv2d(c, 1, s0, 1, 0))  # s0 x s0 maps -> one score per sample
        self.net = nn.Sequential(*layers)
        self.in_shape = (channels, size, size)
        dcgan_init(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.reshape(x.shape[0], *self.in_shape)).flatten()  # (B,)


def _norm_option(cfg: Any) -> str:
    norm = str(getattr(cfg, "norm", "auto") or "auto")
    return "batch" if norm == "auto" else norm  # the paper's choice


def _dcgan_generator(cfg: Any, data_shape: tuple[int, ...]) -> nn.Module:
    c, s = _image_shape(data_shape)
    return DCGANGenerator(cfg.noise_dim, c, s, cfg.width, _norm_option(cfg), cfg.activation, cfg.prior)


def _dcgan_discriminator(cfg: Any, data_shape: tuple[int, ...]) -> nn.Module:
    c, s = _image_shape(data_shape)
    return DCGANDiscriminator(c, s, cfg.width, _norm_option(cfg), cfg.activation, getattr(cfg, "dropout", 0.0))


NETWORKS.register("dcgan", kind="image", shapes=[(1, 8, 8), (1, 28, 28), (3, 32, 32), (3, 64, 64)])(
    NetFamily(_dcgan_generator, _dcgan_discriminator,
              "DCGAN (Radford 2015): strided convolutions, batch norm, ReLU/LeakyReLU, tanh; 8/28/32/64 px")
)
