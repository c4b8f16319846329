"""The conditional GAN recipe: G(z, c) and D(x, c) for labelled data, any objective, three conditionings.

The lecture (Hung-yi Lee, GAN lecture (ATDL 14), "Conditional GAN"): G should generate from P(x|c); D must see the
pair (c, x), and its training data are

    positives: real pairs (ĉ, x̂);
    negatives: (ĉ, G(ĉ)) -- generated images for real conditions -- and, with ``model.matching_aware``,
               real images with a wrong condition (ĉ', x̂), so D also learns whether x matches c.

With the matching-aware negatives D's loss is the average of the objective's loss on the two kinds of
negative (Reed et al., "Generative Adversarial Text to Image Synthesis", ICML 2016, Algorithm 1, GAN-CLS):

    L_D = ½ [d_loss(s(ĉ, x̂), s(ĉ, G(ĉ))) + d_loss(s(ĉ, x̂), s(ĉ', x̂))]

which for the cross-entropy objectives is -[log D(ĉ, x̂) + ½ log(1 - D(ĉ, G(ĉ))) + ½ log(1 - D(ĉ', x̂))],
Reed et al.'s L_D exactly; for a WGAN critic it is E s(ĉ, x̂) - ½ E s(ĉ, G(ĉ)) - ½ E s(ĉ', x̂) (negated).
ĉ' is uniform over the K - 1 classes other than ĉ. The generator's loss is the objective's g_loss on
(ĉ, G(ĉ)). Fakes are drawn for the real batch's classes ĉ, so G trains on the data's class frequencies.

``model.condition`` chooses how D sees c (gankit/nets/conditional.py): ``concat``, ``projection``
(Miyato & Koyama 2018), ``acgan`` (Odena et al. 2017). For ``acgan`` D's score ignores c; both players add
``model.class_weight`` times the class cross-entropy (Odena et al.: D maximises L_S + L_C, G maximises
L_C - L_S, with L_C = log P(C = c | x_real) + log P(C = c | x_fake)):

    L_D = d_loss(s(x̂), s(G(ĉ))) + w [CE(classify(x̂), ĉ) + CE(classify(G(ĉ)), ĉ)]
    L_G = g_loss(s(G(ĉ))) + w CE(classify(G(ĉ)), ĉ)

``generator.dropout`` > 0 puts dropout (on at sampling time too) into G as the lecture's noise source;
``generator.noise_dim`` may then be 0. Instance noise, label smoothing and flipping, the gradient penalty
and R1 (at the real classes), spectral norm, minibatch layers, EMA and two time-scale learning rates
compose as in the GAN recipe; PacGAN packing and unrolling do not (they mix or replay samples without
their classes) and are refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit import regularizers
from gankit.errors import ConfigError
from gankit.evalmode import evaluating
from gankit.models.base import build_optimizer, optimizer_step
from gankit.models.gan import GAN
from gankit.nets.conditional import (
    ConditionalDiscriminator,
    build_conditional_discriminator,
    build_conditional_generator,
)
from gankit.registry import OBJECTIVES, RECIPES


def matching_aware_d_loss(d_loss: Callable[[Tensor, Tensor], Tensor], real_out: Tensor, fake_out: Tensor,
                          wrong_out: Tensor) -> Tensor:
    """½ [d_loss(real, fake) + d_loss(real, wrong)]: real pairs against generated and mismatched pairs.

    Args:
        d_loss: the objective's discriminator loss of (real scores, negative scores).
        real_out: (B,) scores of real pairs (ĉ, x̂).
        fake_out: (B,) scores of generated pairs (ĉ, G(ĉ)).
        wrong_out: (B,) scores of mismatched real pairs (ĉ', x̂).
    """
    return 0.5 * (d_loss(real_out, fake_out) + d_loss(real_out, wrong_out))


def mismatched_labels(y: Tensor, num_classes: int) -> Tensor:
    """ĉ': for each label a class drawn uniformly from the K - 1 other classes (global RNG)."""
    shift = torch.randint(1, num_classes, y.shape, device=y.device)
    return (y + shift) % num_classes


def resolve_num_classes(cfg: Any, dataset: Any) -> None:
    """Set ``cfg.model.num_classes`` from the data set (0 = its own), or a ConfigError when it has no labels."""
    k = int(getattr(dataset, "num_classes", 0) or 0)
    name = getattr(dataset, "name", cfg.data.name)
    if k < 2:
        raise ConfigError(
            f"model.recipe={cfg.model.recipe} needs a labelled data set, but '{name}' has no class labels; "
            "use digits, mnist, fashion-mnist, cifar10 or a folder with data.labels=true"
        )
    if cfg.model.num_classes == 0:
        cfg.model.num_classes = k
    elif cfg.model.num_classes != k:
        raise ConfigError(f"model.num_classes={cfg.model.num_classes} but data set '{name}' has {k} classes; "
                          "set model.num_classes=0 to use the data set's")


@RECIPES.register("cgan", description="conditional GAN: G(z, c), D(x, c) by concatenation, projection or AC-GAN; "
                                      "matching-aware negatives, dropout as noise")
class CGAN(GAN):
    """Class-conditional GAN; the trainer hands it ``(images, labels)`` batches.

    Args:
        cfg: the run's Config (``model.num_classes`` resolved, see :func:`resolve_num_classes`).
        data_shape: shape of one data sample.
        device: where the networks live.
    """

    uses_labels = True
    discriminator: ConditionalDiscriminator

    def scores(self, x: Tensor) -> None:  # type: ignore[override]  # D judges (x, class) pairs, not x alone
        """None: the 2-D figures' D(x) map needs a D of x alone (:meth:`Recipe.scores`)."""
        return None

    def generator_push(self, fake: Tensor) -> None:  # type: ignore[override]  # D judges (x, class) pairs
        """None: the figures' arrows need a D of x alone (:meth:`Recipe.generator_push`)."""
        return None

    @staticmethod
    def prepare_config(cfg: Any, dataset: Any) -> None:
        """Fill in the class count from the data set before the recipe is built (api.build_trainer)."""
        resolve_num_classes(cfg, dataset)

    @staticmethod
    def build_generator(cfg: Any, data_shape: tuple[int, ...]) -> nn.Module:
        """The generator alone, as the recipe builds it (api.load_generator rebuilds exports with it)."""
        if cfg.model.num_classes < 2:
            raise ConfigError("model.num_classes must be resolved (>= 2) to build a conditional generator")
        return build_conditional_generator(cfg, data_shape, cfg.model.num_classes)

    def __init__(self, cfg: Any, data_shape: tuple[int, ...], device: torch.device | str = "cpu") -> None:
        m = cfg.model
        if m.pack != 1 or m.unroll != 0:
            raise ConfigError("model.recipe=cgan does not support model.pack or model.unroll (set them to 1 and 0)")
        if m.matching_aware and m.condition == "acgan":
            raise ConfigError("model.matching_aware needs a D that sees the class: model.condition=concat or "
                              "projection (an AC-GAN's score ignores it)")
        self.num_classes = int(m.num_classes)
        self.condition = m.condition
        self.matching_aware = bool(m.matching_aware)
        self.class_weight = float(m.class_weight)
        self.objective = OBJECTIVES.get(m.objective)
        self.generator = self.build_generator(cfg, data_shape).to(device)
        self.discriminator = build_conditional_discriminator(cfg, data_shape, self.num_classes).to(device)
        self.optimizers = {
            "g": build_optimizer(self.generator.parameters(), cfg.g_optim),
            "d": build_optimizer(self.discriminator.parameters(), cfg.d_optim),
        }
        self.device = torch.device(device)
        self.reg = cfg.reg
        self.pack, self.unroll = 1, 0
        self.progress = 0.0
        self.channels_last = bool(getattr(cfg.run, "channels_last", False)) and len(data_shape) == 3
        if self.channels_last:
            self.generator.to(memory_format=torch.channels_last)
            self.discriminator.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs omit it
        if (cfg.reg.label_smoothing > 0 or cfg.reg.label_flip > 0) and self.objective.d_loss_targets is None:
            raise ConfigError(f"reg.label_smoothing and reg.label_flip need a cross-entropy objective (mmgan, nsgan), "
                              f"not '{m.objective}'")

    # ------------------------------------------------------------------ losses
    def class_loss(self, logits: Tensor | None, y: Tensor) -> Tensor:
        """AC-GAN: ``class_weight`` x the mean class cross-entropy; 0 for the other conditionings."""
        if logits is None:
            return torch.zeros((), device=y.device)
        return self.class_weight * F.cross_entropy(logits, y)

    def discriminator_scores(self, real: tuple[Tensor, Tensor], generator: torch.Generator | None = None  # type: ignore[override]  # uses_labels: (x, y) batches
                             ) -> tuple[Tensor, Tensor]:
        """D(x̂, ĉ) of the data batch and D(G(z, ĉ), ĉ) of fresh samples for the same classes ĉ
        (:meth:`Recipe.discriminator_scores`): the pairs D's accuracy in training is measured on."""
        x, y = real
        with evaluating(self.generator, self.discriminator):
            z = self.generator.sample_noise(len(y), device=self.device, generator=generator, labels=y)
            fake = self.generator(z)
            return self.discriminator(x, y), self.discriminator(fake, y)

    # ------------------------------------------------------------------ steps
    def d_step(self, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:  # type: ignore[override]  # uses_labels: (x, y)
        """One D update: real pairs (ĉ, x̂) against (ĉ, G(ĉ)) and, matching-aware, (ĉ', x̂)."""
        x, y = batch
        with torch.no_grad():
            fake = self.generator(self.generator.sample_noise(x.shape[0], device=self.device, labels=y))
        reg, s = self.reg, self.strength()
        real_in, fake_in = self.d_input(x, s), self.d_input(fake, s)
        disc = self.discriminator
        real_out, real_cls = disc.score_and_classes(real_in, y)
        fake_out, fake_cls = disc.score_and_classes(fake_in, y)
        stats: dict[str, Tensor] = {}
        if self.matching_aware:
            wrong_out = disc(real_in, mismatched_labels(y, self.num_classes))
            loss = matching_aware_d_loss(lambda r, f: self._d_loss(r, f, s), real_out, fake_out, wrong_out)
            stats["d_wrong"] = self._probability(wrong_out)  # mean D(ĉ', x̂)
        else:
            loss = self._d_loss(real_out, fake_out, s)
        cls = self.class_loss(real_cls, y) + self.class_loss(fake_cls, y)
        # the penalties differentiate D at the real classes
        penalty = regularizers.d_penalty(lambda inp: disc(inp, y), real_in, fake_in, reg)
        norm = optimizer_step(self.optimizers["d"], disc, loss + cls + penalty)
        if reg.clip > 0:
            regularizers.clip_weights_(disc, reg.clip)
        if reg.gradient_penalty > 0 or reg.r1 > 0:
            stats["d_penalty"] = penalty.detach()
        if real_cls is not None:
            stats["d_class_loss"] = cls.detach()
            stats["d_class_acc"] = (real_cls.argmax(1) == y).float().mean().detach()  # D's classifier on data
        return {
            **stats,
            "d_loss": loss.detach(),
            "d_real": self._probability(real_out),
            "d_fake": self._probability(fake_out),
            "d_acc": self._accuracy(real_out, fake_out),
            "d_grad_norm": norm,
        }

    def g_step(self, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:  # type: ignore[override]  # uses_labels: (x, y)
        """One G update on fresh noise for the batch's classes ĉ (D fixed)."""
        _, y = batch
        z = self.generator.sample_noise(y.shape[0], device=self.device, labels=y)
        self.discriminator.requires_grad_(False)
        try:
            out, cls = self.discriminator.score_and_classes(self.d_input(self.generator(z), self.strength()), y)
            adv = self.objective.g_loss(out)
            class_loss = self.class_loss(cls, y)
        finally:
            self.discriminator.requires_grad_(True)
        norm = optimizer_step(self.optimizers["g"], self.generator, adv + class_loss)
        stats = {"g_class_loss": class_loss.detach()} if cls is not None else {}
        return {**stats, "g_loss": adv.detach(), "g_grad_norm": norm}
