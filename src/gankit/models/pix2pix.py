"""The pix2pix recipe: a conditional GAN whose condition is an image, plus λ·L1 to the target.

Isola, Zhu, Zhou, Efros, "Image-to-Image Translation with Conditional Adversarial Networks" (CVPR 2017),
eq. 1-4; Hung-yi Lee, GAN lecture (ATDL 14), "Conditional GAN" (image to image: a pixel loss alone gives
blurry images, the discriminator makes them sharp — the lecture's point about auto-encoders too).
Networks: gankit/nets/unet.py (``generator.name=pix2pix``: U-Net with dropout as its noise;
``discriminator.name=pix2pix``: PatchGAN on (input, output)); data: any paired set (data/paired.py).

Batches are (targets y, inputs x) of the same pairs (``uses_labels``). With s(x, y) the (B, P) patch logits:

    D step:  L_D = d_loss(s(x, y), s(x, G(x)))                       [objective's loss, mean over patches]
             with ``model.matching_aware`` (Reed et al. 2016; the lecture's "real image, wrong condition"):
             L_D = ½ [d_loss(s(x, y), s(x, G(x))) + d_loss(s(x, y), s(x', y))],  x' = x rolled by one in the batch
    G step:  L_G = adv_weight · g_loss(s(x, G(x))) + λ · E‖y − G(x)‖₁ / (C·H·W)

λ = ``model.l1_weight`` (paper: 100, on [-1, 1] pixels); nsgan's g_loss is the paper's −log D(x, G(x)).
The paper also halves D's loss (a constant factor Adam all but ignores; not applied here). G's noise is
its dropout (seeded per sample: ``Pix2PixGenerator``), drawn fresh for every step.

``model.adv_weight=0`` is the L1-only baseline on the same U-Net and the same code path: the recipe then
reports ``adversarial = False`` and the trainer makes no D steps (D is built and checkpointed, untouched).

The generator holds the data set's first BANK held-out inputs, so drawing samples means translating
held-out inputs: the figures, metrics (``paired-l1``, ``paired-task``, ``fid``), export and ``gankit
sample`` need nothing else. :class:`TranslationFigure` writes ``translations.png`` (input | output |
target rows of held-out pairs) at the end of training.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from gankit.errors import ConfigError
from gankit.evalmode import evaluating
from gankit.models.base import Recipe, build_optimizer, discriminator_calls, optimizer_step
from gankit.models.cgan import matching_aware_d_loss
from gankit.nets.unet import PatchGAN, Pix2PixGenerator
from gankit.objectives.base import Objective
from gankit.registry import NETWORKS, OBJECTIVES, RECIPES
from gankit.train.callbacks import Callback

BANK = 1000  # held-out inputs kept in the generator (float16: 1.5 MB at 28 px, 6 MB at 32 px RGB)
FIGURE_ROWS = 8


def mismatched(x: Tensor) -> Tensor:
    """x': every target gets another pair's input (the batch rolled by one)."""
    return torch.roll(x, 1, dims=0)


def triples(net: Pix2PixGenerator, dataset: Any, rows: int = FIGURE_ROWS,
            seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """(name, (rows, C, S, S)) for the inputs, outputs and targets of the first ``rows`` held-out pairs.

    The outputs come from ``net`` (its bank rows 0..rows-1) with dropout seeds drawn under ``seed``.
    """
    rows = min(rows, len(net.bank))
    if rows < 1:
        raise ConfigError("the translator holds no held-out inputs to show")
    with evaluating(net):
        gen = torch.Generator(device="cpu").manual_seed(seed)
        z = net.sample_noise(rows, generator=gen, labels=torch.arange(rows))
        out = net(z.to(net.bank.device)).float().cpu().numpy()
        x = net.split(z)[1].numpy()
    return [("input", x), ("output", out), ("target", dataset.held_out_targets(np.arange(rows)).numpy())]


class TranslationFigure(Callback):
    """At the end of training: translations.png, input | output | target of held-out pairs (the EMA G if any)."""

    def on_end(self, trainer: Any) -> None:
        from gankit.viz.stages import plot_stages

        plot_stages(triples(trainer.sampling_net(), trainer.dataset), trainer.run.root / "translations.png",
                    title=f"{trainer.cfg.run.name}: held-out pairs, step {trainer.step}")


def resolve_source_channels(cfg: Any, dataset: Any) -> None:
    """Set ``cfg.model.source_channels`` from a paired data set, or a ConfigError for unpaired data."""
    if getattr(dataset, "held_out", None) is None or not hasattr(dataset, "source_shape"):
        raise ConfigError("model.recipe=pix2pix needs paired images (edges2digits, labels2shapes, masks2shapes or "
                          f"paired-folder), not data.name={cfg.data.name}")
    c = int(dataset.source_shape[0])
    if cfg.model.source_channels not in (0, c):
        raise ConfigError(f"model.source_channels={cfg.model.source_channels} but the inputs of '{dataset.name}' have "
                          f"{c}; set model.source_channels=0 to use the data set's")
    cfg.model.source_channels = c


@RECIPES.register("pix2pix", description="image-to-image translation (Isola 2017): U-Net G with dropout as noise, "
                                         "PatchGAN D on (input, output), GAN + λ·L1 (needs paired data)")
class Pix2Pix(Recipe):
    """pix2pix on (target, input) batches.

    Args:
        cfg: the run's Config (``model.source_channels`` resolved by :func:`resolve_source_channels`).
        data_shape: (C_y, S, S) of the targets.
        device: where the networks live.
        dataset: the paired data set (its held-out inputs fill the generator's bank; built from ``cfg.data``
            when None).
    """

    uses_labels = True
    objective: Objective

    @staticmethod
    def prepare_config(cfg: Any, dataset: Any) -> None:
        resolve_source_channels(cfg, dataset)

    @staticmethod
    def build_generator(cfg: Any, data_shape: tuple[int, ...]) -> nn.Module:
        """The generator alone with an empty bank (its saved weights bring theirs; api.load_generator)."""
        c = int(cfg.model.source_channels)
        if c < 1:
            raise ConfigError("model.source_channels must be resolved (>= 1) to build a pix2pix generator")
        g = cfg.generator
        return Pix2PixGenerator((c, *data_shape[1:]), data_shape, g.width, g.depth, g.dropout, g.dropout_layers)

    def __init__(self, cfg: Any, data_shape: tuple[int, ...], device: torch.device | str = "cpu",
                 dataset: Any = None) -> None:
        if cfg.generator.name != "pix2pix" or cfg.discriminator.name != "pix2pix":
            raise ConfigError("model.recipe=pix2pix needs generator.name=pix2pix and discriminator.name=pix2pix "
                              "(use the preset pix2pix-edges2digits or pix2pix-shapes)")
        m, reg = cfg.model, cfg.reg
        if m.pack != 1 or m.unroll != 0 or reg.clip or reg.gradient_penalty or reg.r1 or reg.instance_noise \
                or reg.label_smoothing or reg.label_flip:
            raise ConfigError("model.recipe=pix2pix does not support model.pack, model.unroll or the reg.* remedies; "
                              "leave them at their defaults")
        if dataset is None:
            from gankit.data import build_dataset

            dataset = build_dataset(cfg.data)
        if m.source_channels == 0:
            resolve_source_channels(cfg, dataset)
        self.device = torch.device(device)
        self.objective = OBJECTIVES.get(m.objective)
        gen = self.build_generator(cfg, data_shape)
        assert isinstance(gen, Pix2PixGenerator)
        gen.set_bank(dataset.held_out.sources[:BANK])
        self.generator = gen.to(device)
        disc = NETWORKS.get("pix2pix").discriminator(cfg.discriminator, data_shape, source_channels=m.source_channels)
        assert isinstance(disc, PatchGAN)
        self.discriminator = disc.to(device)
        self.optimizers = {
            "g": build_optimizer(self.generator.parameters(), cfg.g_optim),
            "d": build_optimizer(self.discriminator.parameters(), cfg.d_optim),
        }
        self.l1_weight = float(m.l1_weight)
        self.adv_weight = float(m.adv_weight)
        self.adversarial = self.adv_weight > 0  # L1 alone: the trainer makes no D steps
        self.matching_aware = bool(m.matching_aware)
        self._pending: tuple[Tensor, Tensor, Tensor] | None = None  # (x, y, G(x) with its graph) from the last d_step

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def callbacks(self) -> list[Any]:
        return [TranslationFigure()]

    def _translate(self, x: Tensor) -> Tensor:
        """G(x) with fresh dropout seeds (global RNG, so a resumed run draws the same)."""
        return self.generator(self.generator.sample_noise(len(x), device=self.device, inputs=x))

    def d_step(self, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        """One D update on real pairs (x, y) against (x, G(x)) and, matching-aware, (x', y)."""
        y, x = batch
        # One G(x) per step serves both updates, as in pix2pix's own training loop: D learns on a detached copy,
        # and the g_step that follows reuses it with its graph (G's weights do not change in between, so the graph
        # is G's at its current weights). This halves the generator's forward passes.
        kept = self._translate(x)
        self._pending = (x, y, kept)
        fake = kept.detach()  # G is fixed while D learns
        real_out = self.discriminator.patches(x, y).flatten()  # (B·P,)
        fake_out = self.discriminator.patches(x, fake).flatten()
        if self.matching_aware:
            wrong_out = self.discriminator.patches(mismatched(x), y).flatten()
            loss = matching_aware_d_loss(self.objective.d_loss, real_out, fake_out, wrong_out)
        else:
            loss = self.objective.d_loss(real_out, fake_out)
        norm = optimizer_step(self.optimizers["d"], self.discriminator, loss, self.stats_wanted)
        if norm is None:  # a step the trainer does not log (stats_wanted False)
            return {"d_loss": loss.detach()}
        right_real, right_fake, _ = discriminator_calls(real_out, fake_out, self.objective.to_prob)
        to_prob = self.objective.to_prob or (lambda s: s)
        return {"d_loss": loss.detach(), "d_real": to_prob(real_out).mean().detach(),
                "d_fake": to_prob(fake_out).mean().detach(),
                "d_acc": 0.5 * (right_real.mean() + right_fake.mean()), "d_grad_norm": norm}

    def g_step(self, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        """One G update: adv_weight · g_loss(s(x, G(x))) + λ · mean |y − G(x)| (D fixed).

        After a d_step, the pair (x, y) and G(x) of that d_step are used (the trainer's fresh batch is not needed);
        without one (L1 alone, no D steps) G translates the batch given.
        """
        if self._pending is not None:
            x, y, fake = self._pending
            self._pending = None
        else:
            y, x = batch
            fake = self._translate(x)
        l1 = (fake - y).abs().mean()
        adv = torch.zeros((), device=self.device)
        if self.adversarial:
            self.discriminator.requires_grad_(False)
            try:
                adv = self.objective.g_loss(self.discriminator.patches(x, fake).flatten())
            finally:
                self.discriminator.requires_grad_(True)
        loss = self.adv_weight * adv + self.l1_weight * l1
        norm = optimizer_step(self.optimizers["g"], self.generator, loss, self.stats_wanted)
        stats = {"g_loss": loss.detach(), "g_adv": adv.detach(), "g_l1": l1.detach()}
        return {**stats, "g_grad_norm": norm} if norm is not None else stats
