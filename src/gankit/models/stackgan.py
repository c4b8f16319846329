"""The StackGAN recipe: text-to-image in two stages with matching-aware discriminators.

Zhang et al., "StackGAN" (ICCV 2017) on top of Reed et al., "Generative Adversarial Text to Image
Synthesis" (ICML 2016); Lai 2017, GAN survey slides (StackGAN) and Hung-yi Lee, GAN lecture (ATDL 14)
(text to image, matching-aware D). Networks: :mod:`gankit.nets.stackgan` (``generator.name=stackgan``,
``discriminator.name=stackgan``); data: any caption set (``shapes-captions``, ``caption-folder``).

Batches are (images (B, C, S, S), caption tokens (B, L)) from ``dataset.sample_with_labels``
(``uses_labels``). The fixed, pretrained text encoder (``model.text_encoder``: a safetensors file from
``benchmarks/pretrain_text_encoder.py``; empty: the shipped one, pretrained on shapes-captions) turns the
captions into φ_t; mismatched captions φ̂ are the batch's captions rolled by one.

D step (GAN-CLS, for each stage s with real images x_s = x down-sampled to the stage's side):

    L_D = BCE(D(x_s, φ), 1) + ½ [BCE(D(x_s, φ̂), 0) + BCE(D(G_s(z, φ), φ), 0)]

(real image + matching text is the only positive; a real image with the wrong text and a generated
image with the right text are negatives). G step (non-saturating, with conditioning augmentation):

    L_G = Σ_s BCE(D(G_s(z, φ), φ), 1) + λ · Σ_s KL(N(μ_s, σ_s²) ‖ N(0, I)) / CONDITION_DIM

with λ = ``model.kl_weight`` (StackGAN: 1; divided by the c dimension as in StackGAN's code, which takes
the mean over dimensions). Both stages train together, stage II on a detached stage-I image, so
stage II's losses never move stage I: the two stages learn as StackGAN's sequential schedule would,
stage I's output just keeps improving under stage II (the joint schedule of StackGAN++, Zhang et al.
2018). One optimiser per side: ``g_optim`` for both generators and CAs, ``d_optim`` for both
discriminators. ``model.objective`` must be nsgan (the papers' cross-entropy).

``model.augment=false`` is the ablation without conditioning augmentation:
c = μ(φ_t), no noise, no KL term.

``model.condition`` picks how D hears the text (:class:`gankit.nets.stackgan.MatchingDiscriminator`):
``concat`` (StackGAN's), ``projection`` (Miyato & Koyama 2018), ``acgan``: concat plus a head reading
the caption embedding back from the image, φ̂(x), or ``projection-acgan``: projection plus that head,
with γ = ``model.class_weight``

    L_D += γ · Σ_s ‖φ̂_s(x_s) − φ‖² / EMBED_DIM      (real pairs only)
    L_G += γ · Σ_s ‖φ̂_s(G_s(z, φ)) − φ‖² / EMBED_DIM

(the auxiliary classifier of Odena et al. 2017 with the caption embedding as its target: G gets a
gradient towards every attribute the caption names, not only through the real/fake score).
``model.readback=complete`` keeps only the captions that name all four attributes in both sums (the
others get no read-back): a caption that leaves the size open ("a red circle at the top") then does not
ask G for the one size whose reading lies nearest its embedding.

Variety within a caption (issue 14): ``model.diversity_weight`` λ_ms adds Mao et al.'s (2019) mode-seeking
term on stage I, for a second draw (z', ε₀') of the same captions (:func:`mode_seeking_loss`; with
``model.diversity_on=open`` only over the captions that leave an attribute unsaid; ``model.diversity_pool`` k:
the image distance between the two draws average-pooled k x k, so that noise in the pixels does not count):

    L_G += λ_ms · mean_i 1 / (mean |G₁(z_i, ε₀,i, φ_i) − G₁(z'_i, ε₀'_i, φ_i)| / mean |(z, ε₀)_i − (z', ε₀')_i| + ε)

Variety by caption groups (issue 14; a departure): ``model.caption_groups`` m > 1 builds every batch of B/m
captions t_1..t_G with m images each (:meth:`gankit.data.captions.CaptionImages.sample_caption_groups`):
real side, m renders that fit t_g (for an open caption such as "a red circle", red circles of any size and
position; for a full caption, the one combination); fake side, G(z_1, t_g) .. G(z_m, t_g) with fresh z and CA
noise; the mismatched captions rolled by one stay one per group. Both stages' D append, before their scoring
head, the group's spread of their 4 x 4 features (Karras et al. 2018's minibatch std, grouped by caption
instead of at random, one map per cell u):

    s_g(u) = mean_c sqrt(Var_{k=1..m} h(x_{g,k})[c, u] + 1e-8),     D(x_{g,k}, φ_g) = head([h(x_{g,k}), s_g], φ_g)

The losses are GAN-CLS's above, unchanged. A generator that draws one image per caption has s_g ≈ 0 where the
real renders of an open caption spread, and D can tell such groups from real ones; one right image per
caption no longer fools it.

Completions of open captions (issue 14; a departure, ``model.completion_weight`` η): the data's captions name
every attribute, so nothing tells G that a caption leaving the size unsaid ("a red circle at the top") means
"either size"; the frozen encoder puts it near the small one's embedding and every draw comes out small. For
a share f (``model.completion_fraction``, ¼) of the batch's full captions t, G draws the caption t° with
``model.completion_on`` (size, position or both) left out k times (``model.completion_draws``), a_1..a_k, and
k different full captions t_1..t_k complete it (for the size and k = 2: one small, one big; for the position,
k of the 9 cells; :func:`gankit.data.captions.completions`). Each draw is scored as G's own sample would be for
the completion it is assigned to, with ℓ(x, t) = Σ_s [BCE(D_s(x_s, φ_t), 1) + γ · ‖φ̂_s(x_s) − φ_t‖² / EMBED_DIM],
under the cheapest one-to-one assignment (:func:`cheapest_assignment`, the Hungarian method):

    L_G += η · (1/k) · mean_t min_π Σ_i ℓ(a_i, t_π(i))      (k = 2: ½ · min(ℓ(a, t₁) + ℓ(b, t₂), ℓ(a, t₂) + ℓ(b, t₁)))

(the optimal transport between the k draws and the k completions). One size for every z costs one draw a
wrong-size image; the k values asked of k z of one caption is what makes z carry the unsaid attribute. D is
not trained on open captions, and no classifier is used.

A prior over full captions (issue 14; a departure, ``model.caption_prior``): the data's captions name every
attribute, and a caption that leaves one unsaid ("a red circle at the top") is embedded near one of its
completions, so every draw gets that one. With the option, the uncertainty is modelled on the text side
instead (the prior of two-stage text-to-image models, Ramesh et al. 2022): a mixture density network
p(φ(full caption) | φ(caption)) (:class:`gankit.nets.caption_prior.CaptionPrior`, K =
``model.caption_prior_components`` diagonal Gaussians) is fitted by its negative log-likelihood
(``model.caption_prior_steps`` Adam steps) on the frozen encoder's embeddings of pairs of captions of one
training image (a full caption with itself, or a caption that leaves out the size, the position or both with a full one)
(:func:`gankit.data.captions.caption_pairs`, :func:`fit_caption_prior`). It is fitted once, at a fresh start
(:meth:`StackGAN.prepare_fresh`, before any training step; a resumed run, ``load_recipe`` and an exported
generator take it from the checkpoint or export instead of fitting it again): the encoder is frozen, so the
pairs' embeddings and hence the prior do not depend on G or D, and interleaving would change nothing; its
initial weights and minibatches come from ``run.seed`` under their own RNG, so G and D train on the full
captions, bit for bit as without the option.
Sampling for any caption (figures, metrics, ``gankit sample``) then draws φ̂ from the prior and G(z, CA(φ̂))
(:meth:`gankit.nets.stackgan.StackGANGenerator.complete`); with ``model.caption_prior_on=open`` only captions that
leave an attribute unsaid are (the grammar's parse: one that names everything keeps its φ). No classifier is used.

Keeping stage I's composition (a departure from StackGAN; BENCHMARKS.md, issue 14): trained long, a stage II
that redraws the image learns the seen (kind, colour) pairs and overrides stage I's right kind on held-out
pairs. ``model.consistency_weight`` β adds

    L_G += β · mean |avgpool₂(G₂) − sg(G₁)|      (sg: stop-gradient; :func:`stage_consistency_loss`)

which is 0 on the data (a real 32 px image pooled is its 16 px one), so it asks stage II to change only
what pooling removes: edges and detail, not which shape is where. ``generator.refine=residual`` makes stage
II's output up(G₁) + a correction (:class:`gankit.nets.stackgan.StageIIGenerator`);
``model.detach_stages=false`` lets stage II's losses train stage I too (through that up(G₁)).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

from gankit.data.captions import (
    caption_pairs,
    complete_captions,
    completion_count,
    completions,
    require_attributes,
)
from gankit.errors import ConfigError
from gankit.evalmode import evaluating
from gankit.models.base import Recipe, balanced_accuracy, build_optimizer, optimizer_step
from gankit.nets.caption_prior import CaptionPrior, fit_prior
from gankit.nets.stackgan import (
    CONDITION_DIM,
    READERS,
    StackGANDiscriminators,
    StackGANGenerator,
    discriminators,
    kl_divergence,
)
from gankit.nets.text import EMBED_DIM, load_text_encoder
from gankit.registry import NETWORKS, OBJECTIVES, RECIPES


def matching_aware_d_loss(real_right: Tensor, real_wrong: Tensor, fake_right: Tensor) -> Tensor:
    """GAN-CLS D loss from raw scores: BCE(s_r, 1) + ½ [BCE(s_w, 0) + BCE(s_f, 0)] (Reed et al. 2016, Alg. 1).

    In probabilities: −log D(x, φ) − ½ [log(1 − D(x, φ̂)) + log(1 − D(G(z, φ), φ))].
    """
    bce = F.binary_cross_entropy_with_logits
    return bce(real_right, torch.ones_like(real_right)) + 0.5 * (
        bce(real_wrong, torch.zeros_like(real_wrong)) + bce(fake_right, torch.zeros_like(fake_right)))


def text_readback_loss(phi_hat: Tensor | None, phi: Tensor, keep: Tensor | None = None) -> Tensor:
    """‖φ̂ − φ‖² / EMBED_DIM averaged over the batch (the mean squared error per component); 0 without a reader.

    ``keep`` (B,) bool: average over those rows only (0 when none is kept)."""
    if phi_hat is None:
        return torch.zeros((), device=phi.device)
    return kept_mean((phi_hat - phi).pow(2).mean(dim=1), keep)


def kept_mean(values: Tensor, keep: Tensor | None) -> Tensor:
    """The mean of (B,) ``values`` over the rows ``keep`` (B,) bool marks (all when None; 0 when none)."""
    if keep is None:
        return values.mean()
    w = keep.to(values.dtype)
    return (values * w).sum() / w.sum().clamp_min(1.0)


MODE_SEEKING_EPS = 1e-5  # Mao et al.'s ε in 1 / (ratio + ε)


def mode_seeking_loss(a: Tensor, b: Tensor, noise_a: Tensor, noise_b: Tensor, keep: Tensor | None = None) -> Tensor:
    """Mao et al. 2019 ("Mode Seeking GANs"), per pair i of draws for the same condition:

        r_i = mean |a_i − b_i| / mean |n_a,i − n_b,i|,     L_ms = mean_i 1 / (r_i + ε)

    (images (B, ...) and their noise (B, k)); G minimises it, i.e. spreads images as far apart as their
    noises are. ``keep`` (B,) bool: the mean over those pairs only (0 when none). () tensor."""
    image = (a - b).abs().flatten(1).mean(dim=1)
    noise = (noise_a - noise_b).abs().flatten(1).mean(dim=1)
    return kept_mean(1.0 / (image / noise + MODE_SEEKING_EPS), keep)


def stage_consistency_loss(high: Tensor, low: Tensor) -> Tensor:
    """mean |avgpool₂(high) − sg(low)| over pixels, channels and the batch: how far stage II's image, pooled to
    stage I's side, is from stage I's (which gets no gradient from it). (B, C, 2S, 2S), (B, C, S, S) -> ()."""
    return F.l1_loss(StackGAN.low(high), low.detach())


def mismatched(phi: Tensor) -> Tensor:
    """φ̂: every row gets another row's caption (the batch rolled by one)."""
    return torch.roll(phi, 1, dims=0)


def cheapest_assignment(shifted: Tensor) -> Tensor:
    """The cheapest one-to-one assignment of k draws to k completions, for each of n captions (Kuhn's Hungarian
    method, ``scipy.optimize.linear_sum_assignment``, on the detached costs): ``shifted`` (k, k, n) holds
    C_t[i, (i + s) mod k] at [s, i, t], the cost of judging draw i of caption t as completion (i + s) mod k.
    Returns (k, n): the cost of each draw under its caption's cheapest assignment π_t, C_t[i, π_t(i)]
    (differentiable). For k = 2 this is the cheaper of the two pairings, min(C₀₀ + C₁₁, C₀₁ + C₁₀)."""
    k, _, n = shifted.shape
    costs = shifted.detach().cpu().numpy()
    draws = np.arange(k)
    shift = np.empty((k, n), dtype=np.int64)
    for t in range(n):
        matrix = costs[(draws[None, :] - draws[:, None]) % k, draws[:, None], t]  # [i, j] = C_t[i, j]
        rows, cols = linear_sum_assignment(matrix)
        shift[rows, t] = (cols - rows) % k
    index = torch.from_numpy(shift).to(shifted.device)
    return shifted[index, torch.arange(k, device=shifted.device)[:, None], torch.arange(n, device=shifted.device)]


PRIOR_PAIRS = 16384  # caption pairs the caption prior is fitted on
ENCODE_CHUNK = 1024  # distinct captions embedded at a time


def new_caption_prior(components: int, seed: int) -> CaptionPrior:
    """An unfitted caption prior of ``components`` Gaussians, its initial weights drawn from ``seed`` under a
    forked RNG (torch's global stream is left as it was: training draws the same numbers with or without one)."""
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)  # the CPU stream only: CUDA's is not forked here
        return CaptionPrior(EMBED_DIM, components)


def fit_caption_prior(generator: StackGANGenerator, dataset: Any, steps: int, seed: int) -> list[float]:
    """Fit ``generator.caption_prior`` (in place) to :data:`PRIOR_PAIRS` caption pairs of ``dataset``
    (:func:`gankit.data.captions.caption_pairs`) embedded by the generator's frozen text encoder, for ``steps``
    Adam steps (:func:`gankit.nets.caption_prior.fit_prior`); pairs and minibatches from ``seed``, never from
    torch's global RNG. Returns each step's mean NLL (nats per embedding).

    Raises:
        ConfigError: a data set without its images' attributes (a caption-folder)."""
    if generator.caption_prior is None:
        raise ValueError("the generator has no caption prior to fit")
    opened, full = caption_pairs(dataset, PRIOR_PAIRS, np.random.default_rng(seed))
    # the grammar repeats itself: each distinct caption is embedded once
    unique, inverse = torch.unique(torch.cat([opened, full]), dim=0, return_inverse=True)
    phi = torch.cat([generator.encode(t) for t in unique.split(ENCODE_CHUNK)])[inverse.to(generator.captions.device)]
    x, y = phi[: len(opened)], phi[len(opened):]
    return fit_prior(generator.caption_prior, x, y, steps, generator=torch.Generator().manual_seed(seed))


@RECIPES.register("stackgan", description="StackGAN text to image: CA + KL, stage I at S/2, stage II to S, "
                                          "matching-aware D (needs caption data)")
class StackGAN(Recipe):
    """StackGAN on (image, caption) batches.

    Args:
        cfg: the run's Config (``generator.name`` and ``discriminator.name`` must be ``stackgan``).
        data_shape: (C, S, S) of the data; stage I works at S/2.
        device: where the networks live.
        dataset: the training data set, for the generator's caption bank (built from ``cfg.data`` when
            None).
    """

    uses_labels = True
    generator: StackGANGenerator
    discriminator: StackGANDiscriminators

    def __init__(self, cfg: Any, data_shape: tuple[int, ...], device: torch.device | str = "cpu",
                 dataset: Any = None) -> None:
        if cfg.generator.name != "stackgan" or cfg.discriminator.name != "stackgan":
            raise ConfigError("model.recipe=stackgan needs generator.name=stackgan and discriminator.name=stackgan "
                              "(use the preset stackgan-shapes)")
        if cfg.model.objective != "nsgan":
            raise ConfigError(f"model.recipe=stackgan uses the papers' cross-entropy losses; "
                              f"set model.objective=nsgan, not '{cfg.model.objective}'")
        if dataset is None:
            from gankit.data import build_dataset

            dataset = build_dataset(cfg.data)
        if not hasattr(dataset, "caption_bank"):
            raise ConfigError(f"model.recipe=stackgan needs captioned images (shapes-captions or caption-folder), "
                              f"not data.name={cfg.data.name}")
        self.device = torch.device(device)
        gen = self.build_generator(cfg, data_shape)
        assert isinstance(gen, StackGANGenerator)
        gen.text_encoder.load_state_dict(load_text_encoder(cfg.model.text_encoder).state_dict())
        gen.set_captions(dataset.caption_bank(len(gen.captions), seed=cfg.run.seed))
        self.prior_nll: list[float] = []  # the caption prior's fitting curve (model.caption_prior; prepare_fresh)
        self.prior_steps, self.prior_seed = int(cfg.model.caption_prior_steps), int(cfg.run.seed)
        if cfg.model.caption_prior:  # fitted by prepare_fresh (a fresh run only: resumed or loaded, a checkpoint's)
            require_attributes(dataset, "model.caption_prior", "false", "to know its images' attributes")
        self.generator = gen.to(device)
        if not cfg.model.augment:
            gen.ca_scale.fill_(0.0)
        self.caption_groups = int(cfg.model.caption_groups)
        self.discriminator = discriminators(cfg.discriminator, data_shape, cfg.model.condition,
                                            self.caption_groups).to(device)
        if self.caption_groups > 1:
            require_attributes(dataset)
        self.group_data = dataset if self.caption_groups > 1 else None  # where grouped batches come from
        self.optimizers = {
            "g": build_optimizer(self.generator.trainable(), cfg.g_optim),
            "d": build_optimizer(self.discriminator.parameters(), cfg.d_optim),
        }
        self.kl_weight = float(cfg.model.kl_weight) if cfg.model.augment else 0.0
        self.text_weight = float(cfg.model.class_weight) if cfg.model.condition in READERS else 0.0
        self.consistency_weight = float(cfg.model.consistency_weight)
        self.detach_stages = bool(cfg.model.detach_stages)
        self.readback_complete = cfg.model.readback == "complete"
        self.diversity_weight = float(cfg.model.diversity_weight)
        self.diversity_open = cfg.model.diversity_on == "open"
        self.diversity_pool = int(cfg.model.diversity_pool)
        self.completion_weight = float(cfg.model.completion_weight)
        self.completion_on = str(cfg.model.completion_on)
        self.completion_draws = int(cfg.model.completion_draws)
        self.completion_fraction = float(cfg.model.completion_fraction)
        if self.completion_weight:
            require_attributes(dataset, "model.completion_weight", "0", "captions that name every attribute",
                               named=False)
            most = completion_count(self.completion_on)
            if self.completion_draws > most:
                raise ConfigError(f"model.completion_draws={self.completion_draws}: a caption without its "
                                  f"{self.completion_on} has {most} completions; set model.completion_draws <= {most}")
        self.objective = OBJECTIVES.get("nsgan")  # the losses below are its cross-entropy; to_prob: the sigmoid

    def prepare_fresh(self, dataset: Any) -> None:
        """``model.caption_prior``: fit G's prior to ``dataset``'s caption pairs (:func:`fit_caption_prior`, where
        G is) before a fresh run's first step; a resumed run and a loaded one take the fitted prior from their
        checkpoint. The global RNGs do not move. Otherwise nothing."""
        if self.generator.caption_prior is not None:
            self.prior_nll = fit_caption_prior(self.generator, dataset, self.prior_steps, self.prior_seed)

    @staticmethod
    def build_generator(cfg: Any, data_shape: tuple[int, ...]) -> nn.Module:
        """The family's generator, with an unfitted caption prior when ``model.caption_prior`` (what
        ``generator.safetensors`` holds and ``api.load_generator`` rebuilds)."""
        gen = NETWORKS.get(cfg.generator.name).generator(cfg.generator, data_shape)
        if cfg.model.caption_prior and isinstance(gen, StackGANGenerator):
            gen.attach_prior(new_caption_prior(int(cfg.model.caption_prior_components), int(cfg.run.seed)),
                             open_only=cfg.model.caption_prior_on == "open")
        return gen

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def _latent(self, tokens: Tensor) -> Tensor:
        """Training latents for the batch's own captions (never through the caption prior)."""
        return self.generator.sample_noise(len(tokens), device=self.device, text=tokens, through_prior=False)

    def _read_rows(self, tokens: Tensor) -> Tensor | None:
        """Which rows the text read-back trains on: None (all), or (``model.readback=complete``) the captions
        that name every attribute, so a caption that leaves the size or position open asks for none."""
        return complete_captions(tokens).to(self.device) if self.readback_complete else None

    def _grouped(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """(images, tokens) for D: n // m captions with m real images each that fit them (model.caption_groups)."""
        m = self.caption_groups
        assert self.group_data is not None  # set in __init__ whenever caption_groups > 1
        return self.group_data.sample_caption_groups(max(n // m, 2), m, self.device, generator)

    def _group_tokens(self, tokens: Tensor) -> Tensor:
        """G's captions: each of the first B / m of the batch m times (row i: caption i mod B/m); as is at m = 1."""
        m = self.caption_groups
        return tokens if m == 1 else tokens[: max(len(tokens) // m, 2)].repeat(m, 1)

    @staticmethod
    def low(x: Tensor) -> Tensor:
        """Real images at stage I's side (2 x 2 average pooling)."""
        return F.avg_pool2d(x, 2)

    def d_step(self, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        """One update of both discriminators on real-right, real-wrong and fake-right pairs (with
        ``model.caption_groups``, a grouped batch of the same size in place of the trainer's)."""
        x, tokens = batch if self.caption_groups == 1 else self._grouped(len(batch[1]))
        latent = self._latent(tokens)
        with torch.no_grad():
            out = self.generator.outputs(latent)
        phi = self.generator.split(latent)[1]
        wrong = mismatched(phi)
        keep = self._read_rows(tokens) if self.text_weight else None
        stats: dict[str, Tensor] = {}
        total = torch.zeros((), device=self.device)
        acc = []
        for s, real, fake in (("1", self.low(x), out["low"]), ("2", x, out["high"])):
            d = getattr(self.discriminator, f"stage{s}")
            sr, read = d.score_and_text(real, phi)
            sw, sf = d(real, wrong), d(fake, phi)
            loss = matching_aware_d_loss(sr, sw, sf)
            total = total + loss
            if self.text_weight:
                aux = text_readback_loss(read, phi, keep)
                total = total + self.text_weight * aux
                stats[f"d{s}_text"] = aux.detach()
            stats[f"d{s}_loss"] = loss.detach()
            stats[f"d{s}_real"] = torch.sigmoid(sr).mean().detach()
            stats[f"d{s}_wrong"] = torch.sigmoid(sw).mean().detach()
            stats[f"d{s}_fake"] = torch.sigmoid(sf).mean().detach()
            acc.append(balanced_accuracy(sr, sf, torch.sigmoid))  # real-right pairs against generated ones
        norm = optimizer_step(self.optimizers["d"], self.discriminator, total)
        return {**stats, "d_loss": total.detach(), "d_real": 0.5 * (stats["d1_real"] + stats["d2_real"]),
                "d_fake": 0.5 * (stats["d1_fake"] + stats["d2_fake"]), "d_acc": 0.5 * (acc[0] + acc[1]),
                "d_grad_norm": norm}

    def discriminator_scores(self, real: tuple[Tensor, Tensor], generator: torch.Generator | None = None
                             ) -> tuple[Tensor, Tensor]:
        """Both stages' D on (x_s, φ) of the data batch and on (G_s(z, φ), φ) of fresh samples for the same
        captions, stage I's N scores then stage II's (:meth:`Recipe.discriminator_scores`): the accuracy
        over the 2N calls is the mean of the two stages', as ``d_acc`` in training."""
        x, tokens = real
        if self.caption_groups > 1:  # D's head needs whole caption groups: a grouped real batch of the same size
            seed = 0 if generator is None else int(generator.initial_seed())
            x, tokens = self._grouped(len(tokens), torch.Generator().manual_seed(seed))
        with evaluating(self.generator, self.discriminator):
            latent = self.generator.sample_noise(len(tokens), device=self.device, generator=generator, text=tokens,
                                                 through_prior=False)  # D judges the data's own captions
            out, phi = self.generator.outputs(latent), self.generator.split(latent)[1]
            d1, d2 = self.discriminator.stage1, self.discriminator.stage2
            return (torch.cat([d1(self.low(x), phi), d2(x, phi)]),
                    torch.cat([d1(out["low"], phi), d2(out["high"], phi)]))

    def g_step(self, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        """One update of both generators and CAs on the batch's captions with fresh z and CA noise."""
        tokens = self._group_tokens(batch[1])
        latent = self._latent(tokens)
        phi = self.generator.split(latent)[1]
        out = self.generator.outputs(latent, detach=self.detach_stages)
        self.discriminator.requires_grad_(False)
        try:
            s1, read1 = self.discriminator.stage1.score_and_text(out["low"], phi)
            s2, read2 = self.discriminator.stage2.score_and_text(out["high"], phi)
        finally:
            self.discriminator.requires_grad_(True)
        adv1, adv2 = F.softplus(-s1).mean(), F.softplus(-s2).mean()  # BCE(D(G), 1)
        complete = complete_captions(tokens).to(self.device) if self.readback_complete or self.diversity_open else None
        keep = complete if self.text_weight and self.readback_complete else None
        text = text_readback_loss(read1, phi, keep) + text_readback_loss(read2, phi, keep)
        kl = (kl_divergence(out["mu1"], out["logvar1"]) + kl_divergence(out["mu2"], out["logvar2"])).mean()
        loss = adv1 + adv2 + self.kl_weight * kl / CONDITION_DIM + self.text_weight * text
        if self.diversity_weight:  # a second draw of stage I for the same captions: fresh z and ε₀
            other = self._latent(tokens)
            low2 = self.generator.first_stage(other)[0]
            z1, _, e1, _ = self.generator.split(latent)
            z2, _, e2, _ = self.generator.split(other)
            spread = ~complete if complete is not None and self.diversity_open else None
            k = self.diversity_pool  # pooled: the distance sees where and how big the shape is, not pixel noise
            diversity = mode_seeking_loss(F.avg_pool2d(out["low"], k), F.avg_pool2d(low2, k), torch.cat([z1, e1], 1),
                                          torch.cat([z2, e2], 1), spread)
            loss = loss + self.diversity_weight * diversity
        if self.consistency_weight:
            consistency = stage_consistency_loss(out["high"], out["low"])
            loss = loss + self.consistency_weight * consistency
        if self.completion_weight:
            completion = self._completion_loss(tokens)
            loss = loss + self.completion_weight * completion
        norm = optimizer_step(self.optimizers["g"], self.generator, loss)
        stats = {"g_loss": loss.detach(), "g1_loss": adv1.detach(), "g2_loss": adv2.detach(), "kl": kl.detach(),
                 "g_grad_norm": norm}
        if self.text_weight:
            stats["g_text"] = text.detach()
        if self.consistency_weight:
            stats["g_consistency"] = consistency.detach()
        if self.diversity_weight:
            stats["g_diversity"] = diversity.detach()
        if self.completion_weight:
            stats["g_completion"] = completion.detach()
        return stats

    def _completion_loss(self, tokens: Tensor) -> Tensor:
        """The completion term (``model.completion_weight``; the module docstring) for a fraction
        (``model.completion_fraction``) of the full captions of ``tokens``, with D frozen: k draws of each caption
        with ``model.completion_on`` left out, assigned to its k completions the cheapest way (k =
        ``model.completion_draws``). () tensor; 0 when no caption of the batch is full."""
        full = tokens[complete_captions(tokens)][: max(int(self.completion_fraction * len(tokens)), 1)]
        if len(full) == 0:
            return torch.zeros((), device=self.device)
        rng = np.random.default_rng(int(torch.randint(1 << 30, ()).item()))  # from torch's seeded stream
        k, n = self.completion_draws, len(full)
        opened, completed = completions(full.cpu(), self.completion_on, k, rng)
        out = self.generator.outputs(self._latent(opened.repeat(k, 1)), detach=self.detach_stages)  # row i·n + t
        phis = [self.generator.encode(c).to(self.device) for c in completed]
        shifted = []  # shifted[s][i, t]: draw i of caption t judged as completion (i + s) mod k
        self.discriminator.requires_grad_(False)
        try:
            feats = []  # per stage: D, its image features, and the caption read back from them (once)
            for d, x in ((self.discriminator.stage1, out["low"]), (self.discriminator.stage2, out["high"])):
                h = d.features(x)
                feats.append((d, h, d.read_features(h) if self.text_weight else None))
            for s in range(k):  # one D call per shift: each holds every completion once per caption
                targets = torch.cat([phis[(i + s) % k] for i in range(k)])
                cost = torch.zeros(k * n, device=self.device)
                for d, h, read in feats:
                    cost = cost + F.softplus(-d.score_features(h, targets))
                    if read is not None:
                        cost = cost + self.text_weight * (read - targets).pow(2).mean(dim=1)
                shifted.append(cost.view(k, n))
        finally:
            self.discriminator.requires_grad_(True)
        return cheapest_assignment(torch.stack(shifted)).sum(dim=0).mean() / k  # per draw
