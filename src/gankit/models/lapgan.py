"""LAPGAN: one conditional GAN per level of a Laplacian pyramid, sampled coarse to fine.

Denton, Chintala, Szlam, Fergus, "Deep Generative Image Models using a Laplacian Pyramid of Adversarial
Networks" (NeurIPS 2015), section 3.1 "Training"; Lai 2017, GAN survey slides, "LAPGAN":

    Take a real image I = I_0 and build its pyramid: I_{k+1} = d(I_k), l_k = u(I_{k+1}), h_k = I_k - l_k.
    Coarsest level K-1: an ordinary GAN on I_{K-1}:  G_{K-1}(z) vs I_{K-1}.
    Level k < K-1: a conditional GAN on the band given the low-pass image:
        D_k sees (h_k, l_k) as real and (h̃_k = G_k(z_k, l_k), l_k) as fake, the same l_k on both sides;
        G_k is trained to make D_k call (h̃_k, l_k) real.
    Each level is trained independently, all from the pyramid of the same real batch; sampling chains
    them: Ĩ_k = u(Ĩ_{k+1}) + G_k(z_k, u(Ĩ_{k+1})) (gankit.nets.laplacian.LaplacianGenerator).

The levels share nothing, so the sum of their losses under one Adam per side (``g_optim``, ``d_optim``)
is the same as K separate optimisers: Adam keeps per-parameter moments and each parameter's gradient
comes from its own level's loss alone. The objective (any from the registry), instance noise, label
smoothing and flipping, R1, the gradient penalty and weight clipping apply at every level, with the
GAN recipe's code; packing and unrolling are not offered (``model.pack`` and ``model.unroll`` must stay
off). The whole-image D used by diagnostics and figures is the sum of the level scores.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from gankit import regularizers
from gankit.errors import ConfigError
from gankit.models.base import build_optimizer, optimizer_step
from gankit.models.gan import GAN
from gankit.nets.laplacian import LaplacianDiscriminator, LaplacianGenerator, lapgan_discriminator, laplacian_levels
from gankit.nets.remedies import spectral_normalise
from gankit.registry import NETWORKS, OBJECTIVES, RECIPES


@RECIPES.register("lapgan", data="image",
                  description="LAPGAN (Denton 2015): a GAN per Laplacian-pyramid level, sampled coarse to fine")
class LAPGAN(GAN):
    """A coarse GAN and one band GAN per finer pyramid level (networks: ``generator.name=lapgan``).

    Args:
        cfg: the run's Config.
        data_shape: (C, S, S).
        device: where the networks live.
    """

    discriminator: LaplacianDiscriminator

    def __init__(self, cfg: Any, data_shape: tuple[int, ...], device: torch.device | str = "cpu") -> None:
        if cfg.generator.name != "lapgan" or cfg.discriminator.name != "lapgan":
            raise ConfigError(
                f"the lapgan recipe needs generator.name=lapgan and discriminator.name=lapgan, got "
                f"'{cfg.generator.name}' and '{cfg.discriminator.name}' (try the lapgan-digits or lapgan-mnist preset)"
            )
        if cfg.model.pack != 1 or cfg.model.unroll != 0 or cfg.discriminator.minibatch != "none":
            raise ConfigError("the lapgan recipe does not offer model.pack, model.unroll or discriminator.minibatch; "
                              "leave them at 1, 0 and none")
        self.objective = OBJECTIVES.get(cfg.model.objective)
        generator = NETWORKS.get("lapgan").generator(cfg.generator, data_shape)
        assert isinstance(generator, LaplacianGenerator)
        self.generator: LaplacianGenerator = generator.to(device)
        self.levels = generator.levels
        disc = lapgan_discriminator(cfg.discriminator, data_shape, levels=self.levels)
        if cfg.discriminator.spectral_norm:
            disc = spectral_normalise(disc)
        self.discriminator = disc.to(device)
        self.optimizers = {
            "g": build_optimizer(self.generator.parameters(), cfg.g_optim),
            "d": build_optimizer(self.discriminator.parameters(), cfg.d_optim),
        }
        self.device = torch.device(device)
        self.reg = cfg.reg
        self.pack, self.unroll, self.channels_last = 1, 0, False
        self.progress = 0.0
        if (cfg.reg.label_smoothing > 0 or cfg.reg.label_flip > 0) and self.objective.d_loss_targets is None:
            raise ConfigError(
                f"reg.label_smoothing and reg.label_flip need a cross-entropy objective (mmgan, nsgan), "
                f"not '{cfg.model.objective}'"
            )

    # ------------------------------------------------------------------ levels
    def pyramid(self, batch: Tensor) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        """(coarsest image I_{K-1}, bands [h_k], low-pass images [l_k = u(I_{k+1})]) of a real batch."""
        bands, coarse, lows = laplacian_levels(batch, self.levels)
        return coarse, bands, lows

    def _fakes(self, n: int, lows: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """A fresh coarse sample and a generated band for every level, each from the real l_k."""
        z_coarse, planes = self.generator.split(self.generator.sample_noise(n, device=self.device))
        return (self.generator.coarse_image(z_coarse),
                [self.generator.band(k, planes[k], lows[k]) for k in range(self.levels - 1)])

    def _level_d(self, k: int) -> torch.nn.Module:
        """Level k's discriminator (k = levels-1: the coarse one)."""
        return self.discriminator.coarse if k == self.levels - 1 else self.discriminator.bands[k]

    def _pairs(self, coarse: Tensor, bands: list[Tensor], lows: list[Tensor]) -> list[Tensor]:
        """What each level's D sees: the bands stacked with their l_k (levels 0 .. K-2), then the coarse image."""
        return [torch.cat([bands[k], lows[k]], dim=1) for k in range(self.levels - 1)] + [coarse]

    def _penalty(self, disc: torch.nn.Module, real_in: Tensor, fake_in: Tensor) -> Tensor:
        """The gradient penalty and R1 of one level's D (0 when both are off)."""
        reg, out = self.reg, torch.zeros((), device=self.device)
        if reg.gradient_penalty > 0:
            out = out + regularizers.gradient_penalty(disc, real_in, fake_in, weight=reg.gradient_penalty)
        if reg.r1 > 0:
            out = out + regularizers.r1_penalty(disc, real_in, weight=reg.r1)
        return out

    # ------------------------------------------------------------------ steps
    def d_step(self, batch: Tensor) -> dict[str, Tensor]:
        """One update of every level's D on the real pyramid and generated levels (G fixed)."""
        coarse, bands, lows = self.pyramid(batch)
        with torch.no_grad():
            fake_coarse, fake_bands = self._fakes(batch.shape[0], lows)
        reg, s = self.reg, self.strength()
        real_pairs, fake_pairs = self._pairs(coarse, bands, lows), self._pairs(fake_coarse, fake_bands, lows)
        loss = torch.zeros((), device=self.device)
        penalty = torch.zeros((), device=self.device)
        stats: dict[str, Tensor] = {}
        real_all, fake_all, acc = [], [], []
        for k in range(self.levels):
            disc = self._level_d(k)
            real_in, fake_in = self.d_input(real_pairs[k], s), self.d_input(fake_pairs[k], s)
            real_out, fake_out = disc(real_in), disc(fake_in)
            level_loss = self._d_loss(real_out, fake_out, s)
            stats[f"d_loss_level{k}"] = level_loss.detach()
            loss = loss + level_loss
            penalty = penalty + self._penalty(disc, real_in, fake_in)
            real_all.append(real_out.detach())
            fake_all.append(fake_out.detach())
            acc.append(self._accuracy(real_out, fake_out))
        norm = optimizer_step(self.optimizers["d"], self.discriminator, loss + penalty)
        if reg.clip > 0:
            regularizers.clip_weights_(self.discriminator, reg.clip)
        if reg.gradient_penalty > 0 or reg.r1 > 0:
            stats["d_penalty"] = penalty.detach()
        return {
            **stats,
            "d_loss": loss.detach(),  # the sum over levels
            "d_real": self._probability(torch.cat(real_all)),  # mean D_k(real) over levels and samples
            "d_fake": self._probability(torch.cat(fake_all)),
            "d_acc": torch.stack(acc).mean(),
            "d_grad_norm": norm,
        }

    def g_step(self, batch: Tensor) -> dict[str, Tensor]:
        """One update of every level's G against its fixed D (fresh noise; the real batch gives each l_k)."""
        _, _, lows = self.pyramid(batch)
        fake_coarse, fake_bands = self._fakes(batch.shape[0], lows)
        fake_pairs = self._pairs(fake_coarse, fake_bands, lows)
        s = self.strength()
        loss = torch.zeros((), device=self.device)
        stats: dict[str, Tensor] = {}
        self.discriminator.requires_grad_(False)  # no gradients wasted on D's weights
        try:
            for k in range(self.levels):
                level_loss = self.objective.g_loss(self._level_d(k)(self.d_input(fake_pairs[k], s)))
                stats[f"g_loss_level{k}"] = level_loss.detach()
                loss = loss + level_loss
        finally:
            self.discriminator.requires_grad_(True)
        norm = optimizer_step(self.optimizers["g"], self.generator, loss)
        return {**stats, "g_loss": loss.detach(), "g_grad_norm": norm}
