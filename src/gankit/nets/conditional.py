"""Class-conditional wrappers around any registered backbone (mlp, dcgan): G(z, c) and D(x, c).

The lecture's conditional GAN (Hung-yi Lee, GAN lecture (ATDL 14), "Conditional GAN"): G generates x from the
distribution P(x|c) of the condition c; D takes the pair (c, x), because a D that sees x alone only tells
real from fake and lets G ignore c. Three ways of giving D the class, on the same backbone:

- ``concat`` (Mirza & Osindero, "Conditional Generative Adversarial Nets", 2014): the one-hot class is
  appended to D's input: to the flattened vector (mlp) or as K constant input channels (dcgan).
- ``projection`` (Miyato & Koyama, "cGANs with Projection Discriminator", ICLR 2018, eq. 3):
  D(x, y) = ψ(φ(x)) + embed(y)ᵀ φ(x), φ the backbone up to its scoring head, ψ that head (linear), embed
  a learned vector per class (φ is the flattened penultimate map; for dcgan the head is the s0 x s0
  convolution, a linear map of it).
- ``acgan`` (Odena, Olah, Shlens, "Conditional Image Synthesis with Auxiliary Classifier GANs", ICML
  2017): D sees x alone and returns the real/fake score and K class logits from a second linear head on
  φ(x); the recipe adds the class cross-entropy to both players' losses.

The generator always takes the class as a one-hot vector appended to z (all three papers do; Miyato &
Koyama use conditional batch norm in G instead, not reproduced here). The latent carries everything G
needs: ``z = [noise (noise_dim) | dropout seed (1, with dropout) | class index (1)]``, so ``net(
net.sample_noise(n))`` draws samples like any unconditional generator (figures, EMA, export, metrics).

The lecture's remark: a conditional G tends to ignore its noise, so use dropout in G as the noise
source instead. :class:`SeededDropout` keeps dropout on at sampling time; its masks are a hash of a
per-sample seed stored in the latent, so the same latent gives the same sample (``gankit sample
--seed`` is reproducible) while fresh latents give fresh masks.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.errors import ConfigError, DataError
from gankit.nets.mlp import NoisePrior
from gankit.nets.remedies import build_discriminator, spectral_normalise
from gankit.registry import NETWORKS

SEED_RANGE = 2**24  # dropout seeds are whole numbers below 2^24: exact in a float32 latent
_MASK32 = 0xFFFFFFFF
_ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.ELU, nn.SiLU, nn.GELU, nn.Softplus)


def check_labels(labels: Tensor, num_classes: int) -> Tensor:
    """``labels`` as int64 class indices, or a DataError when one lies outside 0..num_classes-1."""
    y = labels.long()
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise DataError(f"class labels must lie in 0..{num_classes - 1}, got {int(y.min())}..{int(y.max())}")
    return y


def hash_uniform(seeds: Tensor, salt: int, n: int) -> Tensor:
    """(B, n) numbers in [0, 1): a 32-bit integer hash of (seed, salt, index); no RNG state is used.

    Two rounds of xorshift-multiply (constants below 2^31, so every product fits in int64) on
    seed · 0x9E3779B1 + index + salt · 0x85EBCA77, taken modulo 2^32.
    """
    idx = torch.arange(n, device=seeds.device, dtype=torch.int64)
    x = (seeds.long()[:, None] * 0x9E3779B1 + idx[None, :] + salt * 0x85EBCA77) & _MASK32
    for mult in (0x7FEB352D, 0x2C1B3C6D):
        x = x ^ (x >> 16)
        x = (x * mult) & _MASK32
    x = x ^ (x >> 16)
    return x.to(torch.float64).div_(2.0**32).to(torch.float32)


class SeededDropout(nn.Module):
    """Dropout that stays on in eval mode, with masks from :func:`hash_uniform` of per-sample seeds.

    The wrapper sets ``seeds`` (B,) before each forward pass. Kept units are scaled by 1 / (1 - p).

    Args:
        p: drop probability in (0, 1).
        salt: distinguishes the masks of different layers.
    """

    def __init__(self, p: float, salt: int) -> None:
        super().__init__()
        self.p = float(p)
        self.salt = int(salt)
        self.seeds: Tensor | None = None

    def forward(self, h: Tensor) -> Tensor:
        if self.seeds is None or len(self.seeds) != h.shape[0]:
            raise RuntimeError("SeededDropout needs the batch's seeds (set by ConditionalGenerator)")
        u = hash_uniform(self.seeds.to(h.device), self.salt, h[0].numel()).view_as(h)
        return h * (u >= self.p).to(h.dtype) / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}, salt={self.salt}"


def _insert_dropout(backbone: nn.Module, p: float) -> list[SeededDropout]:
    """Put a SeededDropout after every hidden activation of ``backbone.net`` (not after the output)."""
    net = getattr(backbone, "net", None)
    if not isinstance(net, nn.Sequential):
        raise ConfigError("generator.dropout needs a generator whose layers are one nn.Sequential '.net' (mlp, dcgan)")
    layers: list[nn.Module] = []
    drops: list[SeededDropout] = []
    mods = list(net)
    for i, m in enumerate(mods):
        layers.append(m)
        if isinstance(m, _ACTIVATIONS) and i < len(mods) - 1:
            drops.append(SeededDropout(p, salt=len(drops) + 1))
            layers.append(drops[-1])
    backbone.net = nn.Sequential(*layers)
    return drops


class ConditionalGenerator(nn.Module):
    """G(z, c): a backbone generator fed [noise | one-hot(c)], with optional dropout as noise.

    Args:
        backbone: a generator built for noise_dim + num_classes inputs (``sample_noise`` unused).
        noise_dim: dimension of the noise part of the latent (0 allowed with dropout).
        num_classes: K.
        prior: "normal" or "uniform" noise.
        dropout: drop probability of the seeded dropout after each hidden activation (0: none).
    """

    def __init__(self, backbone: nn.Module, noise_dim: int, num_classes: int, prior: str = "normal",
                 dropout: float = 0.0) -> None:
        super().__init__()
        if num_classes < 2:
            raise ConfigError(f"a conditional generator needs at least 2 classes, got {num_classes}")
        if noise_dim == 0 and dropout <= 0:
            raise ConfigError("generator.noise_dim=0 leaves G without noise: set generator.dropout > 0")
        self.backbone = backbone
        self.noise_dim = int(noise_dim)
        self.num_classes = int(num_classes)
        self.dropout = float(dropout)
        self.prior = NoisePrior(prior, self.noise_dim)
        self.drops = _insert_dropout(backbone, dropout) if dropout > 0 else []
        self.out_shape = tuple(getattr(backbone, "out_shape", ()))
        self.latent_dim = self.noise_dim + (1 if self.drops else 0) + 1

    def sample_noise(self, n: int, device: torch.device | str | None = None, generator: torch.Generator | None = None,
                     labels: Tensor | int | None = None) -> Tensor:
        """(n, latent_dim) latents: noise, a dropout seed (with dropout), the class index (last column).

        Args:
            n: number of latents.
            device: where they go.
            generator: private RNG for noise, seeds and (when ``labels`` is None) classes.
            labels: the classes, (n,) or one int for all; None: uniform over the K classes.
        """
        gen_dev = generator.device if generator is not None else device
        parts = [self.prior.sample(n, gen_dev, generator)]
        if self.drops:
            parts.append(torch.randint(0, SEED_RANGE, (n, 1), generator=generator, device=gen_dev).float())
        if labels is None:
            y = torch.randint(0, self.num_classes, (n,), generator=generator, device=gen_dev)
        else:
            y = torch.as_tensor(labels, device=gen_dev).long()
            if y.dim() == 0:  # one class for every sample
                y = y.expand(n)
            if y.shape != (n,):
                raise DataError(f"labels must be one class or {n} classes, got shape {tuple(y.shape)}")
            check_labels(y, self.num_classes)
        parts.append(y.float()[:, None])
        z = torch.cat(parts, dim=1)
        return z.to(device) if device is not None else z

    def labels_of(self, z: Tensor) -> Tensor:
        """The (n,) class indices a batch of latents asks for."""
        return check_labels(z[:, -1].round(), self.num_classes)

    def forward(self, z: Tensor) -> Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise DataError(f"latents must have shape (n, {self.latent_dim}) "
                            f"(noise {self.noise_dim}{', seed 1' if self.drops else ''}, class 1), "
                            f"got {tuple(z.shape)}")
        y = self.labels_of(z)
        if self.drops:
            seeds = z[:, self.noise_dim].round().long()
            for d in self.drops:
                d.seeds = seeds
        h = torch.cat([z[:, : self.noise_dim], F.one_hot(y, self.num_classes).to(z.dtype)], dim=1)
        return self.backbone(h)


def _head(disc: nn.Module) -> tuple[nn.Sequential, nn.Module, int]:
    """(φ, ψ, dim φ) of a backbone whose ``.net`` ends in its linear scoring head (mlp, dcgan)."""
    net = getattr(disc, "net", None)
    if not isinstance(net, nn.Sequential) or not isinstance(net[-1], (nn.Linear, nn.Conv2d)):
        raise ConfigError("model.condition=projection/acgan need a discriminator whose '.net' ends in its "
                          "Linear or Conv2d scoring head (mlp, dcgan)")
    head = net[-1]
    return nn.Sequential(*list(net)[:-1]), head, int(head.weight[0].numel())


class ConditionalDiscriminator(nn.Module):
    """D(x, c) -> (B,) raw scores; with ``condition="acgan"`` also (B, K) class logits (``classify``).

    Args:
        backbone: the data-side network (for ``concat`` built for the input with the class appended).
        num_classes: K.
        condition: "concat", "projection" or "acgan".
        in_shape: shape of one data sample x.
        spectral_norm: also normalise the class embedding / class head (Miyato & Koyama do).
    """

    def __init__(self, backbone: nn.Module, num_classes: int, condition: str, in_shape: tuple[int, ...],
                 spectral_norm: bool = False) -> None:
        super().__init__()
        self.num_classes = int(num_classes)
        self.condition = condition
        self.in_shape = tuple(in_shape)
        self.backbone = backbone
        if condition == "concat":
            return
        self.phi, self.psi, dim = _head(backbone)
        if condition == "projection":
            self.embed = nn.Embedding(self.num_classes, dim)
            nn.init.normal_(self.embed.weight, 0.0, 0.02)
            extra: nn.Module = self.embed
        elif condition == "acgan":
            self.classifier = nn.Linear(dim, self.num_classes)
            extra = self.classifier
        else:
            raise ConfigError(f"unknown model.condition '{condition}'; choose one of: concat, projection, acgan")
        if spectral_norm:
            spectral_normalise(extra)

    def features(self, x: Tensor) -> Tensor:
        """φ(x), (B, dim): the backbone up to its scoring head."""
        if isinstance(self.psi, nn.Linear):  # a vector net (mlp) takes flat rows
            return self.phi(x.flatten(1))
        return self.phi(x.reshape(x.shape[0], *self.in_shape))

    def _score(self, h: Tensor) -> Tensor:
        """ψ(φ) for φ as the head expects it (flat for Linear, maps for Conv2d) -> (B,)."""
        return self.psi(h).flatten()

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        y = check_labels(y, self.num_classes)
        if self.condition == "concat":
            onehot = F.one_hot(y, self.num_classes).to(x.dtype)
            if len(self.in_shape) == 3:  # K constant channels
                maps = onehot[:, :, None, None].expand(-1, -1, *self.in_shape[1:])
                return self.backbone(torch.cat([x, maps], dim=1))
            return self.backbone(torch.cat([x.flatten(1), onehot], dim=1))
        h = self.features(x)
        score = self._score(h)
        if self.condition == "projection":  # Miyato & Koyama eq. 3: ψ(φ(x)) + embed(y)ᵀφ(x)
            score = score + (self.embed(y) * h.flatten(1)).sum(dim=1)
        return score

    def classify(self, x: Tensor) -> Tensor:
        """AC-GAN: (B, K) class logits of x (``condition="acgan"`` only)."""
        return self.classifier(self.features(x).flatten(1))

    def score_and_classes(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor | None]:
        """(scores (B,), class logits (B, K) or None) with one pass through φ."""
        if self.condition != "acgan":
            return self(x, y), None
        h = self.features(x)
        return self._score(h), self.classifier(h.flatten(1))


def build_conditional_generator(cfg: Any, data_shape: tuple[int, ...], num_classes: int,
                                cls: type[ConditionalGenerator] = ConditionalGenerator) -> ConditionalGenerator:
    """G(z, c) on the ``generator.name`` backbone (its noise input widened by K one-hot entries); ``cls``: the
    wrapper class (a subclass may draw its unlabelled classes otherwise, e.g. models/selfcond.py)."""
    gc = cfg.generator
    backbone_cfg = _with(gc, noise_dim=gc.noise_dim + num_classes)
    backbone = NETWORKS.get(gc.name).generator(backbone_cfg, tuple(data_shape))
    return cls(backbone, gc.noise_dim, num_classes, gc.prior, gc.dropout)


def build_conditional_discriminator(cfg: Any, data_shape: tuple[int, ...],
                                    num_classes: int) -> ConditionalDiscriminator:
    """D(x, c) on the ``discriminator.name`` backbone with the config's minibatch layer and spectral norm."""
    shape = tuple(int(s) for s in data_shape)
    condition = cfg.model.condition
    d_shape: tuple[int, ...] = shape
    if condition == "concat" and len(shape) == 3:  # the classes as extra channels
        d_shape = (shape[0] + num_classes, *shape[1:])
    elif condition == "concat":  # the classes as extra features of the flattened input
        d_shape = (int(torch.Size(shape).numel()) + num_classes,)
    backbone = build_discriminator(cfg, d_shape)
    return ConditionalDiscriminator(backbone, num_classes, condition, shape, cfg.discriminator.spectral_norm)


def _with(section: Any, **changes: Any) -> Any:
    """A shallow copy of a config section with some keys replaced (the section itself is left alone)."""
    out = copy.copy(section)
    for key, value in changes.items():
        setattr(out, key, value)
    return out
