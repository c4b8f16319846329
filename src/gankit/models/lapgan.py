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

``model.coarse_steps`` = n > 1 gives the coarsest GAN n - 1 more (D, then G) updates of its own after each
training step, all on the G step's real batch (its coarse images): a sample is only as good as its coarse
image (every band is drawn given it), and that level is the cheapest to update (MNIST's 7x7 MLP pair: about
7 ms per extra update on one CPU thread, against ~130 ms for a whole step; BENCHMARKS.md, LAPGAN per unit of
wall time).

``model.chain_fraction`` = f > 0 fine-tunes the band levels on the chain they are sampled in: for the first
round(f B) samples of each batch the band G_k is given l̃_k = u(Ĩ_{k+1}), the coarser level's *generated* image
(detached: Ĩ_{K-1} = G_{K-1}(z), Ĩ_k = clamp(l̃_k + G_k(z_k, l̃_k)), as sampling builds it), instead of the real
l_k. D_k sees (G_k(z_k, l̃_k), l̃_k) among its fakes (there is no real band for a generated low-pass image, so that
pair is a negative only) and G_k gets the adversarial loss on it; real pairs are unchanged. Trained on real l_k
alone, the finest band G met LAPGAN's own 14 px samples only at sampling time (BENCHMARKS.md, LAPGAN's coarse
level judged by a convnet); the cost is nothing extra: the same number of band evaluations per step. Measured
(one seed, under load): f = 0.5 helped with D width 32 (FID at 600 steps 421 -> 377), not with the presets'
width-16 Ds (434 -> 461), so they leave it at 0 (BENCHMARKS.md, LAPGAN ahead of DCGAN at equal wall time).

``model.recipe=clapgan`` is the class-conditional LAPGAN of the paper's CIFAR-10 model: every G_k and D_k
also gets the one-hot class c (G_k(z_k, l_k, c), D_k(h_k, l_k, c)), the trainer hands it (images,
labels) batches, fakes are drawn for the real batch's classes, and classes.png shows one row per class.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit import regularizers
from gankit.errors import ConfigError
from gankit.evalmode import evaluating
from gankit.models.base import build_optimizer, optimizer_step
from gankit.models.cgan import resolve_num_classes
from gankit.models.gan import GAN
from gankit.nets.laplacian import (
    ConditionalLaplacianGenerator,
    LaplacianDiscriminator,
    LaplacianGenerator,
    conditional_lapgan_generator,
    lapgan_discriminator,
    laplacian_levels,
    upsample,
)
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
    classes = 0  # K > 0: class-conditional (CLAPGAN)

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
        self.generator: nn.Module = self.build_generator(cfg, data_shape).to(device)
        lap = self.generator.backbone if isinstance(self.generator, ConditionalLaplacianGenerator) else self.generator
        assert isinstance(lap, LaplacianGenerator)
        self.lap: LaplacianGenerator = lap  # the level networks (the conditional sampler's backbone)
        self.levels = lap.levels
        disc = lapgan_discriminator(cfg.discriminator, data_shape, levels=self.levels, classes=self.classes)
        if cfg.discriminator.spectral_norm:
            spectral_normalise(disc)  # in place
        self.level_ds: LaplacianDiscriminator = disc.to(device)  # the per-level discriminators
        self.discriminator = self.level_ds
        self.optimizers = {
            "g": build_optimizer(self.generator.parameters(), cfg.g_optim),
            "d": build_optimizer(self.discriminator.parameters(), cfg.d_optim),
        }
        self.device = torch.device(device)
        self.reg = cfg.reg
        self.pack, self.unroll, self.channels_last = 1, 0, False
        self.progress = 0.0
        self.coarse_steps = int(cfg.model.coarse_steps)
        self.chain_fraction = float(cfg.model.chain_fraction)
        if (cfg.reg.label_smoothing > 0 or cfg.reg.label_flip > 0) and self.objective.d_loss_targets is None:
            raise ConfigError(
                f"reg.label_smoothing and reg.label_flip need a cross-entropy objective (mmgan, nsgan), "
                f"not '{cfg.model.objective}'"
            )

    @staticmethod
    def build_generator(cfg: Any, data_shape: tuple[int, ...]) -> nn.Module:
        """The coarse-to-fine sampler (api.load_generator rebuilds exports with it)."""
        return NETWORKS.get("lapgan").generator(cfg.generator, data_shape)

    # ------------------------------------------------------------------ levels
    def pyramid(self, batch: Tensor) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        """(coarsest image I_{K-1}, bands [h_k], low-pass images [l_k = u(I_{k+1})]) of a real batch."""
        bands, coarse, lows = laplacian_levels(batch, self.levels)
        return coarse, bands, lows

    def _images_and_classes(self, batch: Any) -> tuple[Tensor, Tensor | None]:
        """(images, one-hot classes or None): unconditional batches are images alone."""
        return batch, None

    def _fakes(self, n: int, lows: list[Tensor],
               onehot: Tensor | None) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        """A fresh coarse sample, a generated band for every level and the low-pass images the bands were drawn
        from: the real l_k, except the first round(chain_fraction n) rows, which get l̃_k = u(Ĩ_{k+1}), the
        coarser level's generated image (detached), Ĩ_{K-1} = G_{K-1}(z), Ĩ_k = clamp(l̃_k + h̃_k, -1, 1)."""
        z_coarse, planes = self.lap.split(self.lap.sample_noise(n, device=self.device))
        coarse = self.lap.coarse_image(z_coarse, onehot)
        m = round(self.chain_fraction * n)
        chained = coarse[:m].detach()  # Ĩ_{k+1} of the chained rows
        used, bands = list(lows), {}
        for k in reversed(range(self.levels - 1)):  # coarse to fine, as sampling
            if m:
                low = upsample(chained)
                used[k] = torch.cat([low, lows[k][m:]])
            bands[k] = self.lap.band(k, planes[k], used[k], onehot)
            if m:
                chained = (low + bands[k][:m].detach()).clamp(-1.0, 1.0)
        return coarse, [bands[k] for k in range(self.levels - 1)], used

    def _level_d(self, k: int, onehot: Tensor | None) -> Any:
        """Level k's discriminator as a function of its input (k = levels-1: the coarse one), at the classes."""
        disc = self.level_ds.coarse if k == self.levels - 1 else self.level_ds.bands[k]
        return lambda inp: disc(inp, onehot)

    def _pairs(self, coarse: Tensor, bands: list[Tensor], lows: list[Tensor]) -> list[Tensor]:
        """What each level's D sees: the bands stacked with their l_k (levels 0 .. K-2), then the coarse image."""
        return [torch.cat([bands[k], lows[k]], dim=1) for k in range(self.levels - 1)] + [coarse]

    def _penalty(self, disc: Any, real_in: Tensor, fake_in: Tensor) -> Tensor:
        """The gradient penalty and R1 of one level's D (0 when both are off)."""
        return regularizers.d_penalty(disc, real_in, fake_in, self.reg)

    # ------------------------------------------------------------------ steps
    def d_step(self, batch: Tensor) -> dict[str, Tensor]:
        """One update of every level's D on the real pyramid and generated levels (G fixed)."""
        images, onehot = self._images_and_classes(batch)
        coarse, bands, lows = self.pyramid(images)
        with torch.no_grad():
            fake_coarse, fake_bands, fake_lows = self._fakes(images.shape[0], lows, onehot)
        reg, s = self.reg, self.strength()
        real_pairs, fake_pairs = self._pairs(coarse, bands, lows), self._pairs(fake_coarse, fake_bands, fake_lows)
        loss = torch.zeros((), device=self.device)
        penalty = torch.zeros((), device=self.device)
        stats: dict[str, Tensor] = {}
        real_all, fake_all, acc = [], [], []
        for k in range(self.levels):
            disc = self._level_d(k, onehot)
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
            **({"d_grad_norm": norm} if norm is not None else {}),
        }

    def _coarse_noise(self, n: int) -> Tensor:
        """Fresh noise of the coarsest level's G (the latent's first part)."""
        return self.lap.split(self.lap.sample_noise(n, device=self.device))[0]

    def _coarse_update(self, real: Tensor, onehot: Tensor | None) -> None:
        """One more update of the coarsest level's D, then of its G, alone (``model.coarse_steps``)."""
        disc, s, n = self._level_d(self.levels - 1, onehot), self.strength(), real.shape[0]
        with torch.no_grad():
            fake = self.lap.coarse_image(self._coarse_noise(n), onehot)
        real_in, fake_in = self.d_input(real, s), self.d_input(fake, s)
        loss = self._d_loss(disc(real_in), disc(fake_in), s) + self._penalty(disc, real_in, fake_in)
        optimizer_step(self.optimizers["d"], self.discriminator, loss, norm=False)  # only D_{K-1} has gradients
        if self.reg.clip > 0:
            regularizers.clip_weights_(self.discriminator, self.reg.clip)
        self.discriminator.requires_grad_(False)
        try:
            g_loss = self.objective.g_loss(disc(self.d_input(self.lap.coarse_image(self._coarse_noise(n), onehot), s)))
        finally:
            self.discriminator.requires_grad_(True)
        optimizer_step(self.optimizers["g"], self.generator, g_loss, norm=False)  # only G_{K-1} has gradients

    def g_step(self, batch: Tensor) -> dict[str, Tensor]:
        """One update of every level's G against its fixed D (fresh noise; the real batch gives each l_k),
        then ``model.coarse_steps - 1`` updates of the coarse GAN alone on the batch's coarse images."""
        images, onehot = self._images_and_classes(batch)
        coarse, _, lows = self.pyramid(images)
        fake_coarse, fake_bands, fake_lows = self._fakes(images.shape[0], lows, onehot)
        fake_pairs = self._pairs(fake_coarse, fake_bands, fake_lows)
        s = self.strength()
        loss = torch.zeros((), device=self.device)
        stats: dict[str, Tensor] = {}
        self.discriminator.requires_grad_(False)  # no gradients wasted on D's weights
        try:
            for k in range(self.levels):
                level_loss = self.objective.g_loss(self._level_d(k, onehot)(self.d_input(fake_pairs[k], s)))
                stats[f"g_loss_level{k}"] = level_loss.detach()
                loss = loss + level_loss
        finally:
            self.discriminator.requires_grad_(True)
        norm = optimizer_step(self.optimizers["g"], self.generator, loss)
        for _ in range(self.coarse_steps - 1):
            self._coarse_update(coarse, onehot)
        return {**stats, "g_loss": loss.detach(), **({"g_grad_norm": norm} if norm is not None else {})}


@RECIPES.register("clapgan", description="class-conditional LAPGAN (Denton 2015, CIFAR-10 model): every level's G "
                                         "and D also see the class", data="image")
class CLAPGAN(LAPGAN):
    """LAPGAN with the class at every level; the trainer hands it ``(images, labels)`` batches."""

    uses_labels = True
    def scores(self, x: Tensor) -> None:  # type: ignore[override]  # D judges (x, class) pairs, not x alone
        """None: the figures' D(x) map needs a D of x alone (:meth:`Recipe.scores`)."""
        return None

    def generator_push(self, fake: Tensor) -> None:  # type: ignore[override]  # (the same)
        """None: the push of D on generated samples needs their classes (:meth:`Recipe.generator_push`)."""
        return None

    prepare_config = staticmethod(resolve_num_classes)  # the class count from the data set, as cgan's

    @staticmethod
    def build_generator(cfg: Any, data_shape: tuple[int, ...]) -> nn.Module:
        """The conditional sampler (a ConfigError while model.num_classes is unresolved, < 2)."""
        return conditional_lapgan_generator(cfg.generator, data_shape, cfg.model.num_classes)

    def __init__(self, cfg: Any, data_shape: tuple[int, ...], device: torch.device | str = "cpu") -> None:
        self.classes = int(cfg.model.num_classes)
        super().__init__(cfg, data_shape, device)

    def _images_and_classes(self, batch: Any) -> tuple[Tensor, Tensor | None]:
        x, y = batch
        return x, F.one_hot(y.long(), self.classes).to(x.dtype)

    def discriminator_scores(self, real: Any, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """D(x̂, ĉ) of the data batch and D(G(z, ĉ), ĉ) of fresh samples for the same classes ĉ."""
        x, y = real
        g = self.generator
        assert isinstance(g, ConditionalLaplacianGenerator)
        with evaluating(g, self.discriminator):
            fake = g(g.sample_noise(len(y), device=self.device, generator=generator, labels=y))
            return self.discriminator(x, y), self.discriminator(fake, y)
