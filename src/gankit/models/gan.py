"""The GAN recipe: the lecture's algorithm for any objective and any registered networks.

Goodfellow et al., "Generative Adversarial Nets" (2014); 001_b44ae60f0578d301.txt, "Algorithm":

    Learning D (repeat k times): sample m examples x^i ~ P_data and m noise samples z^i ~ P_prior,
        x̃^i = G(z^i); update θ_d to maximise Ṽ = 1/m Σ log D(x^i) + 1/m Σ log(1 - D(x̃^i)).
    Learning G (only once): sample another m noise samples; update θ_g to minimise the generator
        objective (MMGAN or NSGAN; later WGAN, f-GAN ... through ``model.objective``).

The trainer calls ``d_step`` k times (a fresh data batch each time) and then ``g_step`` once; each step
draws its own fresh noise. GAN, NSGAN, MMGAN (and the objectives of later issues) are this one recipe
with a different objective and networks (DESIGN.md rule 4).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import Tensor, nn

from gankit import regularizers
from gankit.models.base import Recipe, build_optimizer, grad_norm
from gankit.registry import NETWORKS, OBJECTIVES, RECIPES

log = logging.getLogger("gankit")


@RECIPES.register("gan", description="the lecture's GAN: k D steps, then one G step, any objective and nets")
class GAN(Recipe):
    """Unconditional GAN with separate optimisers for G and D.

    Args:
        cfg: the run's Config.
        data_shape: shape of one data sample, e.g. (2,).
        device: where the networks live.
    """

    def __init__(self, cfg: Any, data_shape: tuple[int, ...], device: torch.device | str = "cpu") -> None:
        self.objective = OBJECTIVES.get(cfg.model.objective)
        self.generator = NETWORKS.get(cfg.generator.name).generator(cfg.generator, data_shape).to(device)
        self.discriminator = NETWORKS.get(cfg.discriminator.name).discriminator(cfg.discriminator, data_shape).to(device)
        self.optimizers = {
            "g": build_optimizer(self.generator.parameters(), cfg.g_optim),
            "d": build_optimizer(self.discriminator.parameters(), cfg.d_optim),
        }
        self.device = torch.device(device)
        self.reg = cfg.reg
        if (cfg.reg.gradient_penalty > 0 or cfg.reg.r1 > 0) and any(
            isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.discriminator.modules()
        ):
            log.warning("the discriminator uses batch norm, which makes the gradient penalty wrong (it mixes "
                        "samples; Gulrajani et al. 2017): set discriminator.norm=layer or none")

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def _probability(self, scores: Tensor) -> Tensor:
        to_prob = self.objective.to_prob
        return (to_prob(scores) if to_prob is not None else scores).mean().detach()

    def d_step(self, batch: Tensor) -> dict[str, Tensor]:
        """One discriminator update on a data batch and a fresh batch of generator samples."""
        z = self.generator.sample_noise(batch.shape[0], device=self.device)
        with torch.no_grad():
            fake = self.generator(z)  # G is fixed while D learns
        reg = self.reg
        real_in = regularizers.add_instance_noise(batch, reg.instance_noise)
        fake_in = regularizers.add_instance_noise(fake, reg.instance_noise)
        real_out = self.discriminator(real_in)  # (B,)
        fake_out = self.discriminator(fake_in)  # (B,)
        loss = self.objective.d_loss(real_out, fake_out)
        penalty = torch.zeros((), device=self.device)
        if reg.gradient_penalty > 0:
            penalty = penalty + regularizers.gradient_penalty(self.discriminator, real_in, fake_in, weight=reg.gradient_penalty)
        if reg.r1 > 0:
            penalty = penalty + regularizers.r1_penalty(self.discriminator, real_in, weight=reg.r1)
        opt = self.optimizers["d"]
        opt.zero_grad(set_to_none=True)
        (loss + penalty).backward()
        norm = grad_norm(self.discriminator)
        opt.step()
        if reg.clip > 0:
            regularizers.clip_weights_(self.discriminator, reg.clip)
        stats = {"d_penalty": penalty.detach()} if reg.gradient_penalty > 0 or reg.r1 > 0 else {}
        return {
            **stats,
            "d_loss": loss.detach(),
            "d_real": self._probability(real_out),  # mean D(x)
            "d_fake": self._probability(fake_out),  # mean D(G(z))
            "d_grad_norm": norm,
        }

    def g_step(self, batch: Tensor) -> dict[str, Tensor]:
        """One generator update on a fresh noise batch of the same size (D is fixed)."""
        z = self.generator.sample_noise(batch.shape[0], device=self.device)
        self.discriminator.requires_grad_(False)  # no gradients wasted on D's weights
        try:
            fake = regularizers.add_instance_noise(self.generator(z), self.reg.instance_noise)
            loss = self.objective.g_loss(self.discriminator(fake))
            opt = self.optimizers["g"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
        finally:
            self.discriminator.requires_grad_(True)
        norm = grad_norm(self.generator)
        opt.step()
        return {"g_loss": loss.detach(), "g_grad_norm": norm}

    def scores(self, x: Tensor) -> Tensor:
        """Raw discriminator scores (B,) for figures; no gradient."""
        with torch.no_grad():
            was = self.discriminator.training
            self.discriminator.eval()
            out = self.discriminator(x)
            self.discriminator.train(was)
        return out

    def generator_push(self, fake: Tensor) -> Tensor:
        """-∇_x of the generator loss at fake samples x: where G's update moves each sample (GAN Lab's arrows)."""
        x = fake.detach().clone().requires_grad_(True)
        was = self.discriminator.training
        self.discriminator.eval()
        self.discriminator.requires_grad_(False)
        try:
            loss = self.objective.g_loss(self.discriminator(x)) * x.shape[0]  # per-sample gradients
            (grad,) = torch.autograd.grad(loss, x)
        finally:
            self.discriminator.requires_grad_(True)
            self.discriminator.train(was)
        return -grad
