"""The Laplacian pyramid and LAPGAN's per-level networks.

Denton, Chintala, Szlam, Fergus, "Deep Generative Image Models using a Laplacian Pyramid of Adversarial
Networks" (NeurIPS 2015), section 3; Lai 2017, GAN survey slides, "LAPGAN":

    d(·): blur, then downsample by 2;  u(·): upsample by 2.
    Gaussian pyramid  I_0 = I,  I_{k+1} = d(I_k);   Laplacian bands  h_k = I_k - u(I_{k+1}).
    Reconstruction  I_k = u(I_{k+1}) + h_k  from the coarsest image I_{K-1} up to I_0 (exact by construction).
    Sampling        Ĩ_{K-1} = G_{K-1}(z_{K-1});  Ĩ_k = u(Ĩ_{k+1}) + G_k(z_k, u(Ĩ_{k+1})).

Level 0 is the full image, level K-1 the coarsest. ``d`` is the 4-tap binomial blur [1, 3, 3, 1] / 8
in each direction (replicated borders) taken at every other pixel pair, so coarse pixel i sits at fine
position 2i + 1/2, exactly where bilinear upsampling ``u`` (half-pixel centres) puts it: away from the
borders a linear ramp has a zero band, as does a constant image everywhere, while a checkerboard (the
highest frequency, which the blur removes) is all band. (An odd kernel sampled at 2i would shift every
band by half a pixel against ``u``.) Any ``u`` makes the reconstruction exact; the pair only decides
which frequencies fall in which band.

The networks, after the paper's CIFAR-10 models (section 4): the coarsest level is an ordinary GAN with
fully connected G and D (``COARSE_UNITS * width`` hidden units: 512 at width 32; the paper used 600-1200;
batch norm in G with ``generator.batch_norm``, without which the MNIST 7x7 GAN collapsed; ``coarse_net:
conv`` in the generator or discriminator section makes that side a small convnet instead,
:class:`ConvCoarseGenerator` or a :class:`BandDiscriminator` of the image alone: lapgan-mnist's D, whose
spatial prior the 7x7 level needed); each finer level's G is a small convnet that sees the upsampled
coarser image ``l = u(I_{k+1})`` with its noise as one more channel (a noise plane of the level's size, as
in the paper) and outputs the band h̃ (no output nonlinearity: bands are signed); its D sees the band and
``l`` stacked as channels. Every D returns a raw score (docs/architecture.md rule 1).

:class:`LaplacianGenerator` is the whole coarse-to-fine sampler as one module: its latent is the
concatenation (coarse noise, noise plane of level K-2, ..., noise plane of level 0), so EMA, export,
``gankit sample`` and every metric use it like any generator. Each level's image is clamped to
[-1, 1], the range of every real pyramid level (the blur's weights are positive and sum to 1).
:class:`LaplacianDiscriminator` holds the per-level discriminators; as a whole-image D its score is the
sum of the level scores on the image's pyramid: for the cross-entropy objectives each optimal level
logit is log p(h_k | l_k) / q(h_k | l_k), and these add up (chain rule over the pyramid) to the log
density ratio of the whole image.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.errors import ConfigError
from gankit.nets.conditional import ConditionalGenerator
from gankit.nets.dcgan import _norm, dcgan_init
from gankit.nets.mlp import MLPDiscriminator, MLPGenerator, NetFamily, NoisePrior, activation
from gankit.registry import NETWORKS

_BINOMIAL = (1.0, 3.0, 3.0, 1.0)  # binomial blur of even length: centred between two pixels
COARSE_UNITS = 16
"""Hidden units of the coarse MLPs per unit of ``width``: the coarse level costs little next to the band nets'
full-resolution convolutions, and 128 units (4 per unit, before) collapsed on MNIST's 7x7 level where 512 with
batch norm in G did not (BENCHMARKS.md, LAPGAN per level)."""


# ----------------------------------------------------------------------------------------- the pyramid


def _blur_kernel(channels: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    k1 = torch.tensor(_BINOMIAL, dtype=dtype, device=device)
    k2 = torch.outer(k1, k1) / k1.sum() ** 2  # separable 4x4, sums to 1
    return k2.expand(channels, 1, 4, 4).contiguous()  # depthwise


def downsample(x: Tensor) -> Tensor:
    """d(x): 4x4 binomial blur (replicated borders) at stride 2. (B, C, S, S) -> (B, C, S/2, S/2)."""
    c = x.shape[1]
    padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
    return F.conv2d(padded, _blur_kernel(c, x.dtype, x.device), stride=2, groups=c)


def upsample(x: Tensor) -> Tensor:
    """u(x): bilinear upsampling by 2. (B, C, s, s) -> (B, C, 2s, 2s)."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def level_sizes(size: int, levels: int) -> list[int]:
    """Image sides of levels 0 (full) .. levels-1 (coarsest); a ConfigError when ``size`` cannot be halved so often."""
    if levels < 1:
        raise ConfigError(f"a Laplacian pyramid needs at least 1 level, got {levels}")
    if size % (2 ** (levels - 1)) != 0 or size // 2 ** (levels - 1) < 2:
        raise ConfigError(
            f"an image side of {size} cannot be halved {levels - 1} times into a {levels}-level Laplacian pyramid "
            f"(it must be a multiple of {2 ** (levels - 1)} and leave at least 2 pixels); lower generator.levels "
            "or change data.image_size"
        )
    return [size // 2**k for k in range(levels)]


def auto_levels(size: int) -> int:
    """generator.levels=0: halve while the side is even and above 8 (28 -> 14 -> 7, 32 -> 16 -> 8, 64 -> ... -> 8)."""
    levels = 1
    while size % 2 == 0 and size > 8:
        size //= 2
        levels += 1
    return levels


def gaussian_pyramid(x: Tensor, levels: int) -> list[Tensor]:
    """[I_0 = x, I_1 = d(I_0), ..., I_{levels-1}] for images x (B, C, S, S)."""
    level_sizes(x.shape[-1], levels)
    images = [x]
    for _ in range(levels - 1):
        images.append(downsample(images[-1]))
    return images


def laplacian_levels(x: Tensor, levels: int) -> tuple[list[Tensor], Tensor, list[Tensor]]:
    """:func:`build_pyramid` and the low-pass images ``lows[k] = u(I_{k+1})`` its bands are added to."""
    images = gaussian_pyramid(x, levels)
    lows = [upsample(images[k + 1]) for k in range(levels - 1)]
    return [images[k] - lows[k] for k in range(levels - 1)], images[-1], lows


def build_pyramid(x: Tensor, levels: int) -> tuple[list[Tensor], Tensor]:
    """The Laplacian pyramid of images x (B, C, S, S).

    Returns:
        (bands, coarse): ``bands[k] = I_k - u(I_{k+1})`` at side S / 2^k for k = 0 .. levels-2, and the
        coarsest Gaussian level ``I_{levels-1}``.
    """
    bands, coarse, _ = laplacian_levels(x, levels)
    return bands, coarse


def reconstruct(bands: list[Tensor], coarse: Tensor) -> Tensor:
    """Invert :func:`build_pyramid`: I_k = u(I_{k+1}) + h_k from the coarsest level up."""
    image = coarse
    for band in reversed(bands):
        image = upsample(image) + band
    return image


# ----------------------------------------------------------------------------------------- level nets


def class_planes(onehot: Tensor | None, size: int) -> list[Tensor]:
    """[] without a class; else the one-hot (B, K) as K constant planes (B, K, size, size) in a list."""
    if onehot is None:
        return []
    return [onehot[:, :, None, None].expand(-1, -1, size, size)]


BAND_NETS = ("full", "half")
COARSE_NETS = ("mlp", "conv")
COARSE_MAPS = 2
"""Feature maps of the convolutional coarse G and D (``coarse_net: conv``) per unit of ``width``."""


class BandGenerator(nn.Module):
    """G_k: (noise plane (B, S*S), l = u(I_{k+1}) (B, C, S, S)) -> band h̃ (B, C, S, S).

    Args:
        channels: image channels C.
        size: the level's side S.
        width: feature maps of the hidden convolutions.
        depth: hidden convolutions (each followed by ``norm`` and the activation).
        norm: "batch", "layer" or "none".
        act: hidden activation.
        classes: K > 0: the one-hot class as K more constant input planes (Denton et al.'s class-conditional
            CIFAR-10 model); 0: unconditional.
        net: "full": 3x3 convolutions at the level's side S, then a 3x3 one to the band (the paper's);
            "half": a 4x4 stride-2 convolution to S/2, ``depth - 1`` 3x3 ones there, a 4x4 stride-2
            transposed convolution back to S (the hidden maps have a quarter of the pixels: a 3x3 layer of
            w maps costs 9 w^2 S^2 / 4 multiply-adds per sample instead of 9 w^2 S^2).
    """

    def __init__(self, channels: int, size: int, width: int, depth: int = 2, norm: str = "batch",
                 act: str = "relu", classes: int = 0, net: str = "full") -> None:
        super().__init__()
        if net not in BAND_NETS:
            raise ConfigError(f"unknown LAPGAN band net '{net}'; choose one of: {', '.join(BAND_NETS)}")
        layers: list[nn.Module] = []
        c = channels + 1 + classes  # l, the noise plane and the class planes
        half = net == "half"
        for i in range(max(depth, 1)):
            conv = nn.Conv2d(c, width, 4, 2, 1, bias=norm == "none") if half and i == 0 else \
                nn.Conv2d(c, width, 3, 1, 1, bias=norm == "none")
            layers += [conv, _norm(norm, width), activation(act)]
            c = width
        # the band: signed, no output nonlinearity
        layers.append(nn.ConvTranspose2d(c, channels, 4, 2, 1) if half else nn.Conv2d(c, channels, 3, 1, 1))
        self.net = nn.Sequential(*layers)
        self.size = size
        dcgan_init(self)

    def forward(self, z: Tensor, low: Tensor, onehot: Tensor | None = None) -> Tensor:
        plane = z.reshape(z.shape[0], 1, self.size, self.size)
        return self.net(torch.cat([low, plane, *class_planes(onehot, self.size)], dim=1))  # (B, C, S, S)


class BandDiscriminator(nn.Module):
    """D_k: (band h (B, C, S, S), l (B, C, S, S)) stacked as 2C channels -> raw score (B,).

    A 3x3 convolution at the level's resolution, a 4x4 stride-2 one, then a linear score. With ``classes``
    K > 0 the one-hot class comes in as K more constant planes (``forward(pair, onehot)``). ``stacked`` = 1:
    the input is one image of C channels, not a (band, l) pair: the convolutional coarse D (``coarse_net: conv``).
    """

    def __init__(self, channels: int, size: int, width: int, norm: str = "batch", act: str = "leaky_relu",
                 dropout: float = 0.0, classes: int = 0, stacked: int = 2) -> None:
        super().__init__()
        drop: list[nn.Module] = [nn.Dropout(dropout)] if dropout > 0 else []
        self.net = nn.Sequential(
            nn.Conv2d(stacked * channels + classes, width, 3, 1, 1), activation(act), *drop,  # no norm on input
            nn.Conv2d(width, width, 4, 2, 1, bias=norm == "none"), _norm(norm, width), activation(act), *drop,
            nn.Flatten(),
            nn.Linear(width * (size // 2) ** 2, 1),
        )
        self.in_shape = (stacked * channels, size, size)
        dcgan_init(self)

    def forward(self, pair: Tensor, onehot: Tensor | None = None) -> Tensor:
        pair = pair.reshape(pair.shape[0], *self.in_shape)
        return self.net(torch.cat([pair, *class_planes(onehot, self.in_shape[-1])], dim=1)).flatten()  # (B,)


class CoarseDiscriminator(MLPDiscriminator):
    """D_{K-1}: the coarsest image (B, C, s, s), with the one-hot class appended when ``classes`` > 0 -> (B,)."""

    def __init__(self, in_dim: int, width: int, depth: int, act: str, dropout: float, classes: int = 0) -> None:
        super().__init__(in_dim + classes, width, depth, act, dropout)

    def forward(self, x: Tensor, onehot: Tensor | None = None) -> Tensor:
        x = x.flatten(1)
        return super().forward(x if onehot is None else torch.cat([x, onehot.to(x.dtype)], dim=1))


class ConvCoarseGenerator(nn.Module):
    """G_{K-1} as a small convnet (``coarse_net: conv``): z (B, noise_dim) -> (B, C, s, s) before the tanh.

    A linear layer to ``maps`` planes of s x s, then ``depth - 1`` 3x3 convolutions (each after batch norm
    (with ``batch_norm``) and the activation) and a 3x3 one to the C channels: every output pixel is drawn
    from its neighbourhood, the spatial prior that the fully connected G lacks (its samples' speckled
    backgrounds). The class, if any, is part of z (``LaplacianGenerator.coarse_image`` appends it).
    """

    def __init__(self, noise_dim: int, channels: int, size: int, maps: int, depth: int = 2, act: str = "relu",
                 batch_norm: bool = True) -> None:
        super().__init__()
        norm = "batch" if batch_norm else "none"
        self.fc = nn.Linear(noise_dim, maps * size * size)
        layers: list[nn.Module] = [_norm(norm, maps), activation(act)]
        for _ in range(max(depth, 1) - 1):
            layers += [nn.Conv2d(maps, maps, 3, 1, 1, bias=norm == "none"), _norm(norm, maps), activation(act)]
        layers.append(nn.Conv2d(maps, channels, 3, 1, 1))
        self.net = nn.Sequential(*layers)
        self.maps, self.size = maps, size
        dcgan_init(self)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(self.fc(z).view(z.shape[0], self.maps, self.size, self.size))  # (B, C, s, s)


def _check_coarse_net(net: str) -> None:
    if net not in COARSE_NETS:
        raise ConfigError(f"unknown LAPGAN coarse net '{net}'; choose one of: {', '.join(COARSE_NETS)}")


# ----------------------------------------------------------------------------------------- whole pyramid


def _image_shape(data_shape: tuple[int, ...]) -> tuple[int, int]:
    if len(data_shape) != 3 or data_shape[1] != data_shape[2]:
        raise ConfigError(f"lapgan needs square image data of shape (C, S, S), got {tuple(data_shape)}")
    return int(data_shape[0]), int(data_shape[1])


def _norm_option(cfg: Any) -> str:
    norm = str(getattr(cfg, "norm", "auto") or "auto")
    return "batch" if norm == "auto" else norm


class LaplacianGenerator(nn.Module):
    """The coarse-to-fine LAPGAN sampler: latent (B, latent_dim) -> image (B, C, S, S) in [-1, 1].

    Args:
        noise_dim: noise of the coarsest level's GAN.
        channels: image channels C.
        size: image side S.
        levels: pyramid levels K (1: a plain fully connected GAN on the image).
        width: band-net feature maps; the coarse MLP has ``COARSE_UNITS * width`` hidden units.
        depth: hidden layers of the coarse MLP and hidden convolutions of the band nets.
        norm: band nets' normalisation ("batch", "layer", "none").
        act: hidden activation.
        prior: "normal" or "uniform" (for every level's noise).
        batch_norm: batch norm after each hidden layer of the coarse MLP (``generator.batch_norm``).
        classes: K > 0: every level also sees the one-hot class (the latent ends in it: K more columns;
            :class:`ConditionalLaplacianGenerator` draws such latents); 0: unconditional.
        band_net: the band generators' ``net`` (:class:`BandGenerator`; ``generator.band_net``).
        coarse_net: "mlp" (the paper's fully connected G, ``COARSE_UNITS * width`` units) or "conv"
            (:class:`ConvCoarseGenerator`, ``COARSE_MAPS * width`` maps; ``generator.coarse_net``).
    """

    def __init__(self, noise_dim: int, channels: int, size: int, levels: int, width: int = 64, depth: int = 2,
                 norm: str = "batch", act: str = "relu", prior: str = "normal", batch_norm: bool = False,
                 classes: int = 0, band_net: str = "full", coarse_net: str = "mlp") -> None:
        super().__init__()
        _check_coarse_net(coarse_net)
        self.sizes = level_sizes(size, levels)
        self.levels = levels
        s = self.sizes[-1]
        self.coarse: nn.Module
        if coarse_net == "conv":
            self.coarse = ConvCoarseGenerator(noise_dim + classes, channels, s, COARSE_MAPS * width, depth, act,
                                              batch_norm)
        else:
            mlp = MLPGenerator(noise_dim + classes, channels * s * s, COARSE_UNITS * width, depth, act, batch_norm,
                               prior)
            mlp.out_shape = (channels, s, s)
            self.coarse = mlp
        self.bands = nn.ModuleList(
            BandGenerator(channels, self.sizes[k], width, depth, norm, act, classes, band_net)
            for k in range(levels - 1)
        )
        self.noise_dims = [noise_dim] + [self.sizes[k] ** 2 for k in reversed(range(levels - 1))]
        self.noise_dim = noise_dim  # the coarse GAN's noise
        self.classes = classes
        self.latent_dim = sum(self.noise_dims) + classes  # the latent's width (noise, then the one-hot class)
        self.out_shape = (channels, size, size)
        self.prior = NoisePrior(prior, sum(self.noise_dims))

    def sample_noise(self, n: int, device: torch.device | str | None = None,
                     generator: torch.Generator | None = None) -> Tensor:
        return self.prior.sample(n, device, generator)

    def split(self, z: Tensor) -> tuple[Tensor, list[Tensor]]:
        """latent -> (coarse noise, [noise plane of level k for k = 0 .. K-2]); the one-hot: :meth:`onehot`."""
        parts = list(torch.split(z[:, : sum(self.noise_dims)], self.noise_dims, dim=1))
        return parts[0], list(reversed(parts[1:]))

    def onehot(self, z: Tensor) -> Tensor | None:
        """The one-hot class (B, K) a latent ends in; None for an unconditional sampler."""
        return z[:, sum(self.noise_dims):] if self.classes else None

    def coarse_image(self, z: Tensor, onehot: Tensor | None = None) -> Tensor:
        """Ĩ_{K-1} = G_{K-1}(z_{K-1}, c): (B, C, s, s) in [-1, 1]."""
        return torch.tanh(self.coarse(z if onehot is None else torch.cat([z, onehot.to(z.dtype)], dim=1)))

    def band(self, k: int, z: Tensor, low: Tensor, onehot: Tensor | None = None) -> Tensor:
        """h̃_k = G_k(z_k, l_k, c) for level k (0 = finest)."""
        return self.bands[k](z, low, onehot)

    def stages(self, z: Tensor) -> list[tuple[str, Tensor]]:
        """Every stage of sampling, coarse to fine: the coarse image, then for each finer level the
        upsampled image l, the generated band h̃ and their (clamped) sum. Named (B, C, s, s) batches."""
        z_coarse, planes = self.split(z)
        onehot = self.onehot(z)
        image = self.coarse_image(z_coarse, onehot)
        out = [(f"coarse {self.sizes[-1]}px", image)]
        for k in reversed(range(self.levels - 1)):
            low = upsample(image)
            band = self.band(k, planes[k], low, onehot)
            image = (low + band).clamp(-1.0, 1.0)
            s = self.sizes[k]
            out += [(f"upsampled coarser image {s}px", low), (f"band {s}px", band), (f"image {s}px", image)]
        return out

    def forward(self, z: Tensor) -> Tensor:
        z_coarse, planes = self.split(z)
        onehot = self.onehot(z)
        image = self.coarse_image(z_coarse, onehot)
        for k in reversed(range(self.levels - 1)):
            low = upsample(image)
            image = (low + self.band(k, planes[k], low, onehot)).clamp(-1.0, 1.0)
        return image  # (B, C, S, S)


class ConditionalLaplacianGenerator(ConditionalGenerator):
    """A class-conditional LAPGAN sampler (Denton et al. 2015's CIFAR-10 model): every level sees the class.

    The latent is a :class:`gankit.nets.conditional.ConditionalGenerator`'s ``[noise | class index]`` (so
    ``labels_of``, ``sample_noise(labels=...)``, classes.png and the conditional metrics work as for cgan);
    the backbone is a :class:`LaplacianGenerator` with ``classes=K`` that gets ``[noise | one-hot]``.
    """

    backbone: LaplacianGenerator

    def backbone_input(self, z: Tensor) -> Tensor:
        """[noise | one-hot class]: what the Laplacian sampler takes."""
        return torch.cat([z[:, : self.noise_dim], F.one_hot(self.labels_of(z), self.num_classes).to(z.dtype)], dim=1)

    def stages(self, z: Tensor) -> list[tuple[str, Tensor]]:
        """:meth:`LaplacianGenerator.stages` for the classes the latents ask for."""
        return self.backbone.stages(self.backbone_input(z))


class LaplacianDiscriminator(nn.Module):
    """One discriminator per pyramid level; as a whole-image D, the sum of the level scores.

    Args:
        channels, size, levels: as for :class:`LaplacianGenerator`.
        width: band-net feature maps; the coarse MLP has ``COARSE_UNITS * width`` hidden units.
        depth: hidden layers of the coarse MLP.
        norm: band nets' normalisation (not on their input layer).
        act: activation.
        dropout: dropout after each hidden activation.
        classes: K > 0: every level's D also sees the one-hot class (``forward(x, y)``).
        coarse_net: "mlp" (fully connected) or "conv" (a :class:`BandDiscriminator` of the coarse image alone,
            ``COARSE_MAPS * width`` maps; ``discriminator.coarse_net``).
    """

    def __init__(self, channels: int, size: int, levels: int, width: int = 64, depth: int = 2, norm: str = "batch",
                 act: str = "leaky_relu", dropout: float = 0.0, classes: int = 0, coarse_net: str = "mlp") -> None:
        super().__init__()
        _check_coarse_net(coarse_net)
        self.sizes = level_sizes(size, levels)
        self.levels = levels
        self.classes = classes
        self.coarse: nn.Module
        if coarse_net == "conv":
            self.coarse = BandDiscriminator(channels, self.sizes[-1], COARSE_MAPS * width, norm, act, dropout, classes,
                                            stacked=1)
        else:
            self.coarse = CoarseDiscriminator(channels * self.sizes[-1] ** 2, COARSE_UNITS * width, depth, act,
                                              dropout, classes)
        self.bands = nn.ModuleList(
            BandDiscriminator(channels, self.sizes[k], width, norm, act, dropout, classes) for k in range(levels - 1)
        )

    def band(self, k: int, band: Tensor, low: Tensor, onehot: Tensor | None = None) -> Tensor:
        """D_k's raw scores (B,) of bands h at level k given the upsampled coarser images l (and the class)."""
        return self.bands[k](torch.cat([band, low], dim=1), onehot)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        onehot = F.one_hot(y.long(), self.classes).to(x.dtype) if self.classes and y is not None else None
        if self.classes and onehot is None:
            raise ConfigError("this LAPGAN discriminator is class-conditional: call it with the classes, D(x, y)")
        images = gaussian_pyramid(x, self.levels)
        score = self.coarse(images[-1], onehot)
        for k in range(self.levels - 1):
            low = upsample(images[k + 1])
            score = score + self.band(k, images[k] - low, low, onehot)  # h_k = I_k - u(I_{k+1}), l_k = u(I_{k+1})
        return score  # (B,)


def _levels(cfg: Any, size: int) -> int:
    levels = int(getattr(cfg, "levels", 0) or 0)
    return levels if levels > 0 else auto_levels(size)


def _lapgan_generator(cfg: Any, data_shape: tuple[int, ...], classes: int = 0) -> LaplacianGenerator:
    c, s = _image_shape(data_shape)
    return LaplacianGenerator(cfg.noise_dim, c, s, _levels(cfg, s), cfg.width, cfg.depth, _norm_option(cfg),
                              cfg.activation, cfg.prior, bool(getattr(cfg, "batch_norm", False)), classes,
                              str(getattr(cfg, "band_net", "full")), str(getattr(cfg, "coarse_net", "mlp")))


def conditional_lapgan_generator(cfg: Any, data_shape: tuple[int, ...], classes: int) -> ConditionalLaplacianGenerator:
    """The class-conditional sampler from a GeneratorConfig (``generator.dropout`` is not offered)."""
    if getattr(cfg, "dropout", 0.0):
        raise ConfigError("the class-conditional LAPGAN takes its noise from every level's noise, not dropout: "
                          "leave generator.dropout at 0")
    lap = _lapgan_generator(cfg, data_shape, classes)
    return ConditionalLaplacianGenerator(lap, sum(lap.noise_dims), classes, cfg.prior)


def lapgan_discriminator(cfg: Any, data_shape: tuple[int, ...], levels: int = 0,
                         classes: int = 0) -> LaplacianDiscriminator:
    """Per-level discriminators from a DiscriminatorConfig; ``levels`` 0: the automatic count for the size;
    ``classes`` K > 0: class-conditional."""
    c, s = _image_shape(data_shape)
    return LaplacianDiscriminator(c, s, levels or auto_levels(s), cfg.width, cfg.depth, _norm_option(cfg),
                                  cfg.activation, getattr(cfg, "dropout", 0.0), classes,
                                  str(getattr(cfg, "coarse_net", "mlp")))


NETWORKS.register("lapgan", kind="image", shapes=[(1, 8, 8), (1, 28, 28), (3, 32, 32)])(
    NetFamily(_lapgan_generator, lapgan_discriminator,
              "LAPGAN (Denton 2015): a GAN per Laplacian-pyramid level, sampled coarse to fine (generator.levels)")
)
