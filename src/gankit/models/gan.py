"""The GAN recipe: the lecture's algorithm for any objective and any registered networks.

Goodfellow et al., "Generative Adversarial Nets" (2014); Hung-yi Lee, Theory behind GAN, "Algorithm":

    Learning D (repeat k times): sample m examples x^i ~ P_data and m noise samples z^i ~ P_prior,
        x̃^i = G(z^i); update θ_d to maximise Ṽ = 1/m Σ log D(x^i) + 1/m Σ log(1 - D(x̃^i)).
    Learning G (only once): sample another m noise samples; update θ_g to minimise the generator
        objective (MMGAN or NSGAN; later WGAN, f-GAN ... through ``model.objective``).

The trainer calls ``d_step`` k times (a fresh data batch each time) and then ``g_step`` once; each step
draws its own fresh noise. GAN, NSGAN, MMGAN (and the objectives of later issues) are this one recipe
with a different objective and networks (docs/architecture.md rule 4).

The remedies of the mode-collapse lectures compose with any objective and net (issue 5):

- instance noise (``reg.instance_noise``) on everything D sees, label smoothing and flipping
  (``reg.label_smoothing``, ``reg.label_flip``; cross-entropy objectives), all three fading to 0 over
  training under ``reg.schedule=linear`` (Sønderby et al. 2017 anneal the noise), the noise to
  ``reg.instance_noise_floor`` where that is set;
- PacGAN packing (``model.pack``), minibatch std / discrimination and spectral norm (``discriminator.*``),
  built by :func:`gankit.nets.remedies.build_discriminator`;
- unrolled GAN (``model.unroll`` = K; Metz, Poole, Pfau, Sohl-Dickstein, "Unrolled Generative
  Adversarial Networks", ICLR 2017): G minimises f(θ_G, θ_D^K), where θ_D^K is D after K more
  differentiable updates (the optimiser's own Adam rule, from its current moments) on the same batch.
  The gradient flows through the K updates (torch.func.functional_call on copies of D's parameters),
  so G sees how D would react to its move. D's real weights are not changed by the look-ahead;
  penalties and clipping are not part of it;
- R1 and the gradient penalty (``reg``), two time-scale learning rates (``g_optim.lr`` ≠ ``d_optim.lr``),
  dropout in D (``discriminator.dropout``) and an EMA of G (``train.ema``) come from the config.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import Tensor, nn

from gankit import regularizers
from gankit.errors import ConfigError
from gankit.evalmode import eval_mode, evaluating
from gankit.models.base import Recipe, balanced_accuracy, build_optimizer, optimizer_step
from gankit.nets.remedies import build_discriminator, pack, twice_differentiable
from gankit.objectives.base import Objective
from gankit.registry import NETWORKS, OBJECTIVES, RECIPES

log = logging.getLogger("gankit")


@RECIPES.register("gan", description="the lecture's GAN: k D steps, then one G step, any objective, nets and remedies")
class GAN(Recipe):
    """Unconditional GAN with separate optimisers for G and D.

    Args:
        cfg: the run's Config.
        data_shape: shape of one data sample, e.g. (2,).
        device: where the networks live.
    """

    objective: Objective

    def __init__(self, cfg: Any, data_shape: tuple[int, ...], device: torch.device | str = "cpu") -> None:
        self.objective = OBJECTIVES.get(cfg.model.objective)
        self.generator = NETWORKS.get(cfg.generator.name).generator(cfg.generator, data_shape).to(device)
        self.discriminator = build_discriminator(cfg, data_shape).to(device)
        self.optimizers = {
            "g": build_optimizer(self.generator.parameters(), cfg.g_optim),
            "d": build_optimizer(self.discriminator.parameters(), cfg.d_optim),
        }
        self.device = torch.device(device)
        self.reg = cfg.reg
        self.pack = cfg.model.pack
        self.unroll = cfg.model.unroll
        self.progress = 0.0  # fraction of training done; the trainer sets it before every step
        self.channels_last = bool(getattr(cfg.run, "channels_last", False)) and len(data_shape) == 3
        if self.channels_last:  # NHWC: oneDNN's faster convolution path on CPU (BENCHMARKS.md, speed)
            self.generator.to(memory_format=torch.channels_last)
            self.discriminator.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs omit it
        if (cfg.reg.label_smoothing > 0 or cfg.reg.label_flip > 0) and self.objective.d_loss_targets is None:
            raise ConfigError(
                f"reg.label_smoothing and reg.label_flip need a cross-entropy objective (mmgan, nsgan), "
                f"not '{cfg.model.objective}'"
            )
        if (cfg.reg.gradient_penalty > 0 or cfg.reg.r1 > 0) and any(
            isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.discriminator.modules()
        ):
            log.warning("the discriminator uses batch norm, which makes the gradient penalty wrong (it mixes "
                        "samples; Gulrajani et al. 2017): set discriminator.norm=layer or none")

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    # ------------------------------------------------------------------ remedies
    def strength(self) -> float:
        """How much of the noise / label remedies is applied now: 1, or 1 - progress under reg.schedule=linear."""
        return 1.0 - self.progress if self.reg.schedule == "linear" else 1.0

    def noise_std(self, strength: float) -> float:
        """σ of the instance noise at ``strength``: σ_min + (σ₀ − σ_min)·strength, σ₀ = ``reg.instance_noise``,
        σ_min = ``reg.instance_noise_floor``; under reg.schedule=linear σ(t) = σ_min + (σ₀ − σ_min)(1 − t) at
        progress t, from σ₀ at the first step to σ_min at the last (σ_min = 0: the plain fade)."""
        sigma, floor = self.reg.instance_noise, self.reg.instance_noise_floor
        return floor + (sigma - floor) * strength

    def d_input(self, x: Tensor, strength: float) -> Tensor:
        """What D sees of a batch: instance noise (σ from :meth:`noise_std`), then PacGAN packing."""
        x = pack(regularizers.add_instance_noise(x, self.noise_std(strength)), self.pack)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _d_loss(self, real_out: Tensor, fake_out: Tensor, strength: float) -> Tensor:
        """The objective's D loss, with smoothed and flipped labels when asked."""
        smooth, flip = self.reg.label_smoothing * strength, self.reg.label_flip * strength
        if smooth == 0 and flip == 0:
            return self.objective.d_loss(real_out, fake_out)
        real_t = torch.full_like(real_out, 1.0 - smooth)  # one-sided smoothing: only the real label moves
        fake_t = torch.zeros_like(fake_out)
        if flip > 0:
            real_t = torch.where(torch.rand_like(real_t) < flip, torch.zeros_like(real_t), real_t)
            fake_t = torch.where(torch.rand_like(fake_t) < flip, torch.full_like(fake_t, 1.0 - smooth), fake_t)
        d_loss_targets = self.objective.d_loss_targets
        assert d_loss_targets is not None  # __init__ refuses the label remedies for objectives without it
        return d_loss_targets(real_out, fake_out, real_t, fake_t)

    def _accuracy(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        """D's balanced accuracy: D(x) > 1/2 on data and < 1/2 on samples (critics: the midpoint of the means)."""
        return balanced_accuracy(real_out, fake_out, self.objective.to_prob)

    def _probability(self, scores: Tensor) -> Tensor:
        to_prob = self.objective.to_prob
        return (to_prob(scores) if to_prob is not None else scores).mean().detach()

    # ------------------------------------------------------------------ steps
    def d_step(self, batch: Tensor) -> dict[str, Tensor]:
        """One discriminator update on a data batch and a fresh batch of generator samples."""
        z = self.generator.sample_noise(batch.shape[0], device=self.device)
        with torch.no_grad():
            fake = self.generator(z)  # G is fixed while D learns
        reg, s = self.reg, self.strength()
        real_in = self.d_input(batch, s)
        fake_in = self.d_input(fake, s)
        real_out = self.discriminator(real_in)  # (B/pack,)
        fake_out = self.discriminator(fake_in)  # (B/pack,)
        loss = self._d_loss(real_out, fake_out, s)
        penalty = regularizers.d_penalty(self.discriminator, real_in, fake_in, reg)
        norm = optimizer_step(self.optimizers["d"], self.discriminator, loss + penalty, self.stats_wanted)
        if reg.clip > 0:
            regularizers.clip_weights_(self.discriminator, reg.clip)
        stats = {"d_penalty": penalty.detach()} if reg.gradient_penalty > 0 or reg.r1 > 0 else {}
        if norm is None:  # a step the trainer does not log (stats_wanted False): the losses only
            return {**stats, "d_loss": loss.detach()}
        return {
            **stats,
            "d_loss": loss.detach(),
            "d_real": self._probability(real_out),  # mean D(x)
            "d_fake": self._probability(fake_out),  # mean D(G(z))
            "d_acc": self._accuracy(real_out, fake_out),
            "d_grad_norm": norm,
        }

    def g_step(self, batch: Tensor) -> dict[str, Tensor]:
        """One generator update on a fresh noise batch of the same size (D is fixed)."""
        z = self.generator.sample_noise(batch.shape[0], device=self.device)
        if self.unroll > 0:
            with twice_differentiable(self.discriminator):
                loss = self._unrolled(z, batch)
        else:
            self.discriminator.requires_grad_(False)  # no gradients wasted on D's weights
            try:
                loss = self.objective.g_loss(self.discriminator(self.d_input(self.generator(z), self.strength())))
            finally:
                self.discriminator.requires_grad_(True)
        norm = optimizer_step(self.optimizers["g"], self.generator, loss, self.stats_wanted)
        return {"g_loss": loss.detach(), "g_grad_norm": norm} if norm is not None else {"g_loss": loss.detach()}

    def _unrolled(self, z: Tensor, batch: Tensor) -> Tensor:
        """f(θ_G, θ_D^K): G's loss against D after K differentiable look-ahead updates (Metz et al. 2017).

        Each look-ahead update is the D optimiser's own rule on the same real batch and the same samples
        G(z): Adam from its current moments (with √(v̂ + ε²) in place of √v̂ + ε, whose derivative is
        finite at v̂ = 0), plain gradient descent for the other optimisers. Buffers (batch-norm statistics,
        spectral-norm vectors) are copies, so the look-ahead leaves D exactly as it was.
        """
        from torch.func import functional_call

        disc, opt = self.discriminator, self.optimizers["d"]
        group = opt.param_groups[0]
        lr = group["lr"]
        adam = isinstance(opt, torch.optim.Adam)
        b1, b2 = group.get("betas", (0.0, 0.0))
        eps = group.get("eps", 1e-8)
        names = [n for n, _ in disc.named_parameters()]
        params = {n: p.detach().requires_grad_(True) for n, p in disc.named_parameters()}
        buffers = {n: b.detach().clone() for n, b in disc.named_buffers()}
        moments: dict[str, tuple[Tensor, Tensor, float]] = {}
        for n, p in disc.named_parameters():
            st = opt.state.get(p, {})
            if adam and "exp_avg" in st:
                moments[n] = (st["exp_avg"].detach(), st["exp_avg_sq"].detach(), float(st["step"]))
            else:
                moments[n] = (torch.zeros_like(p), torch.zeros_like(p), 0.0)
        s = self.strength()
        fake = self.generator(z)
        real_in = self.d_input(batch, s)

        def d_out(p: dict[str, Tensor], x: Tensor) -> Tensor:
            return functional_call(disc, {**p, **buffers}, (x,))

        for _ in range(self.unroll):
            fake_in = self.d_input(fake, s)
            loss = self._d_loss(d_out(params, real_in), d_out(params, fake_in), s)
            grads = torch.autograd.grad(loss, [params[n] for n in names], create_graph=True)
            new = {}
            for n, g in zip(names, grads, strict=True):
                if adam:
                    m, v, t = moments[n]
                    m, v, t = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g, t + 1
                    moments[n] = (m, v, t)
                    step = (m / (1 - b1**t)) / torch.sqrt(v / (1 - b2**t) + eps * eps)
                else:
                    step = g
                new[n] = params[n] - lr * step
            params = new
        return self.objective.g_loss(d_out(params, self.d_input(fake, s)))

    # ------------------------------------------------------------------ figures
    def _packed_copies(self, x: Tensor) -> Tensor:
        """Each point repeated ``pack`` times, packed: D's verdict on a pack of copies of one point."""
        return pack(x.repeat_interleave(self.pack, dim=0), self.pack) if self.pack > 1 else x

    def scores(self, x: Tensor) -> Tensor:
        """Raw discriminator scores (B,) for figures; no gradient. With packing: a pack of copies of x."""
        with evaluating(self.discriminator):
            return self.discriminator(self._packed_copies(x))

    def discriminator_scores(self, real: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """:meth:`scores` of the data batch and of as many fresh samples of the training generator
        (:meth:`Recipe.discriminator_scores`); LAPGAN's whole-image D is the sum of its level scores."""
        return self.scores(real), self.scores(self.sample(len(real), generator=generator, net=self.generator))

    def generator_push(self, fake: Tensor) -> Tensor:
        """-∇_x of the generator loss at fake samples x: where G's update moves each sample (GAN Lab's arrows)."""
        x = fake.detach().clone().requires_grad_(True)
        self.discriminator.requires_grad_(False)
        try:
            with eval_mode(self.discriminator):
                # times the batch size: the mean's gradient per sample is each sample's own gradient
                loss = self.objective.g_loss(self.discriminator(self._packed_copies(x))) * x.shape[0]
                (grad,) = torch.autograd.grad(loss, x)
        finally:
            self.discriminator.requires_grad_(True)
        return -grad
