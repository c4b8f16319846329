"""Multi-layer perceptrons for vector data: the generator G(z) and the discriminator D(x).

The lectures' first GANs are MLPs ("GAN - Discriminator"/"GAN - Generator" in Hung-yi Lee, GAN lecture (ATDL 14);
the 1-D example of Utkin, GAN lecture (SPbPU) maps z ~ U(0, 1) to x ~ N(-1, 1)). These are plain
``nn.Module`` s: no losses, no optimisers (docs/architecture.md). D returns a raw score per sample, never a sigmoid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from gankit.nets.priors import check_prior, sample_prior
from gankit.registry import NETWORKS

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "softplus": nn.Softplus,
}


def activation(name: str) -> nn.Module:
    return _ACTIVATIONS[name]()


def _stack(
    n_in: int, width: int, depth: int, act: str, batch_norm: bool = False, dropout: float = 0.0
) -> tuple[list[nn.Module], int]:
    layers: list[nn.Module] = []
    n = n_in
    for _ in range(depth):
        layers.append(nn.Linear(n, width))
        if batch_norm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(activation(act))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        n = width
    return layers, n


class NoisePrior:
    """p(z): N(0, I), U(0, 1)^d (the lecture's 1-D example), or a 2-D prior of the adversarial autoencoder
    (mixture of 10 Gaussians, swiss roll); see :mod:`gankit.nets.priors`. ``spread``: the mixture's petals' width
    across (0: its own)."""

    def __init__(self, kind: str, dim: int, spread: float = 0.0) -> None:
        check_prior(kind, dim)
        self.kind = kind
        self.dim = dim
        self.spread = spread

    def sample(self, n: int, device: torch.device | str | None = None,
               generator: torch.Generator | None = None) -> Tensor:
        """(n, dim) noise; ``generator`` gives an RNG separate from training (evaluation, fixed noise)."""
        return sample_prior(self.kind, n, self.dim, generator=generator, device=device, spread=self.spread)


class MLPGenerator(nn.Module):
    """G: R^noise_dim -> R^out_dim, ``depth`` hidden layers of ``width`` units, linear output."""

    def __init__(
        self, noise_dim: int, out_dim: int, width: int = 256, depth: int = 3, act: str = "relu",
        batch_norm: bool = False, prior: str = "normal", prior_spread: float = 0.0,
    ) -> None:
        super().__init__()
        layers, n = _stack(noise_dim, width, depth, act, batch_norm=batch_norm)
        layers.append(nn.Linear(n, out_dim))
        self.net = nn.Sequential(*layers)
        self.noise_dim = noise_dim
        self.out_shape: tuple[int, ...] = (out_dim,)
        self.prior = NoisePrior(prior, noise_dim, prior_spread)

    def sample_noise(self, n: int, device: torch.device | str | None = None,
                     generator: torch.Generator | None = None) -> Tensor:
        return self.prior.sample(n, device, generator)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(z.shape[0], *self.out_shape)  # (B, *data_shape)


class MLPDiscriminator(nn.Module):
    """D: R^in_dim -> R, a raw score (logit) per sample; higher means "more real"."""

    def __init__(self, in_dim: int, width: int = 256, depth: int = 3, act: str = "leaky_relu", dropout: float = 0.0,
                 batch_norm: bool = False) -> None:
        super().__init__()
        layers, n = _stack(in_dim, width, depth, act, batch_norm=batch_norm, dropout=dropout)
        layers.append(nn.Linear(n, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1)).squeeze(1)  # (B,)


@dataclass(frozen=True)
class NetFamily:
    """A registry entry: how to build the generator and the discriminator of one architecture."""

    generator: Callable[[Any, tuple[int, ...]], nn.Module]
    discriminator: Callable[[Any, tuple[int, ...]], nn.Module]
    description: str = ""


def _mlp_generator(cfg: Any, data_shape: tuple[int, ...]) -> nn.Module:
    out_dim = int(torch.Size(data_shape).numel())
    g = MLPGenerator(cfg.noise_dim, out_dim, cfg.width, cfg.depth, cfg.activation, cfg.batch_norm, cfg.prior,
                     float(getattr(cfg, "prior_spread", 0.0)))
    g.out_shape = tuple(data_shape)  # images come out as (B, C, H, W)
    if len(data_shape) == 3:  # images live in [-1, 1] (as DCGAN's G, a tanh output); the image metrics refuse others
        g.net.append(nn.Tanh())
    return g


def _mlp_discriminator(cfg: Any, data_shape: tuple[int, ...]) -> nn.Module:
    in_dim = int(torch.Size(data_shape).numel())
    return MLPDiscriminator(in_dim, cfg.width, cfg.depth, cfg.activation, cfg.dropout, batch_norm=cfg.norm == "batch")


NETWORKS.register("mlp")(
    NetFamily(_mlp_generator, _mlp_discriminator, "fully connected G and D (width x depth, any activation)")
)
