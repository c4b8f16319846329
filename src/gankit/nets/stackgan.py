"""StackGAN's networks: conditioning augmentation, the stage-I and stage-II generators, matching-aware discriminators.

Zhang, Xu, Li, Zhang, Wang, Huang, Metaxas, "StackGAN: Text to Photo-realistic Image Synthesis with
Stacked Generative Adversarial Networks" (ICCV 2017); Lai 2017, GAN survey slides:

- Conditioning augmentation (CA): the fixed text embedding φ_t is mapped by a fully connected layer to
  μ(φ_t) and log σ²(φ_t); the generator is conditioned on c = μ + σ ⊙ ε, ε ~ N(0, I), and its loss
  gets λ · KL(N(μ, diag σ²) ‖ N(0, I)) (:func:`kl_divergence`), which smooths the conditioning manifold.
  Departure: log σ² starts at ``INIT_LOGVAR`` = −4 (the layer's bias) instead of ≈ 0. From StackGAN's
  start c is nearly pure noise (σ ≈ 1 against a small μ) and a first 800-step run on the CPU ignored
  the text entirely (attribute match at chance, one collapsed shape); the KL term still pulls σ up.
- Stage I: [c₀, z] -> a fully connected layer -> 4 x 4 maps -> nearest-neighbour up-sampling + 3x3
  convolutions -> a low-resolution image (half the data's side; 16 px for shapes-captions).
- Stage II: the stage-I image, down-sampled by convolutions, joined with its own CA sample ĉ replicated
  over space -> residual blocks -> up-sampling to twice the stage-I side (the data's side). Stage II
  sees no z: the randomness is in the stage-I image (and ĉ). ``generator.refine=residual`` (a departure)
  makes its output a correction added to the bilinearly up-sampled stage-I image instead of a new image.
- Matching-aware discriminators (Reed et al. 2016, GAN-CLS): image -> stride-2 convolutions down to
  4 x 4 maps; the text embedding, compressed by a fully connected layer, is replicated over the 4 x 4
  grid and joined; a 1x1 convolution and a 4x4 one give one raw score for the pair (image, text).
  A departure (``model.caption_groups``): the head can also see how the images of one caption spread
  (:class:`MatchingDiscriminator`), so one image per caption no longer fools it.

Latent layout (conditional generators carry their condition in the latent, models/base.py):
``[z (noise_dim) | φ_t (EMBED_DIM) | ε₀ (CONDITION_DIM) | ε̂ (CONDITION_DIM)]``. ``sample_noise(n)`` draws
captions from the generator's caption bank (training captions the recipe stores in it), encodes them
with the frozen text encoder it holds and appends fresh z and CA noise; ``sample_noise(n, text=...)``
encodes the given caption(s) instead — ``gankit sample RUN --text "a big blue square at the bottom"``.
So ``net(net.sample_noise(n))`` works everywhere (figures, EMA, export, metrics) and an exported
generator is self-contained: its text encoder and caption bank are in ``generator.safetensors``.
A generator may also hold a caption prior (``model.caption_prior``; :mod:`gankit.nets.caption_prior`): sampling
then puts φ̂ ~ p(φ(full caption) | φ_t) in the latent instead of φ_t (:meth:`StackGANGenerator.complete`), so
"a red circle at the top" is drawn as a small or a big one; it is saved and exported with the generator.

Batch norm follows StackGAN (G and D, not on D's first layer nor on G's output); D returns raw scores
(docs/architecture.md rule 1). Widths: ``generator.width`` = feature maps of stage I's last block and of stage II's
middle; ``generator.depth`` = stage II's residual blocks; ``discriminator.width`` = D's first layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.data.captions import MAX_LEN, check_readable, complete_captions, tokenize, vocabulary
from gankit.errors import ConfigError, DataError
from gankit.nets.caption_prior import CaptionPrior
from gankit.nets.dcgan import dcgan_init
from gankit.nets.laplacian import upsample  # bilinear by 2: each output a convex mix of inputs, so the range stays
from gankit.nets.mlp import NetFamily, NoisePrior
from gankit.nets.remedies import MinibatchStd
from gankit.nets.text import EMBED_DIM, CharCNNRNN
from gankit.registry import NETWORKS

__all__ = ["BANK", "CONDITIONS", "READERS", "REFINES", "CONDITION_DIM", "ConditioningAugmentation",
           "MatchingDiscriminator", "StackGANDiscriminators", "StackGANGenerator", "StageIGenerator",
           "StageIIGenerator", "discriminators", "kl_divergence", "upsample"]

CONDITION_DIM = 32  # c (StackGAN: 128 for 64-256 px birds; 32 is plenty for 216 combinations)
TEXT_DIM_D = 32  # the text embedding compressed for D (StackGAN: 128)
BANK = 1024  # captions kept in the generator for unconditional draws
INIT_LOGVAR = -4.0  # CA's log σ² starts here (σ ≈ 0.14): the text is heard from the first step


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(μ, diag exp(logvar)) ‖ N(0, I)) per sample, (B,): ½ Σ_k (μ_k² + σ_k² − 1 − log σ_k²)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


class ConditioningAugmentation(nn.Module):
    """φ_t -> (c = μ + σ ⊙ ε, μ, log σ²), with ε given (so the draw lives in the latent)."""

    def __init__(self, embed_dim: int = EMBED_DIM, cond_dim: int = CONDITION_DIM,
                 init_logvar: float = INIT_LOGVAR) -> None:
        super().__init__()
        self.fc = nn.Linear(embed_dim, 2 * cond_dim)
        with torch.no_grad():
            self.fc.bias[cond_dim:] = init_logvar
        self.cond_dim = cond_dim

    def forward(self, phi: Tensor, eps: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        h = self.fc(phi)
        mu, logvar = h[:, : self.cond_dim], h[:, self.cond_dim:]
        return mu + torch.exp(0.5 * logvar) * eps, mu, logvar


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose scale and shift come from the condition (de Vries et al. 2017; Dumoulin et al. 2017's
    conditional instance norm): y = (1 + γ(c)) ⊙ BN(x) + β(c), γ and β linear in c and zero at the start
    (then it is plain batch norm, whose own affine parameters stay). The text can then set each feature
    map's gain directly (e.g. a colour on a shape's mask) at every resolution, not only through the first
    layer."""

    def __init__(self, channels: int, cond_dim: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)
        self.gamma = nn.Linear(cond_dim, channels)
        self.beta = nn.Linear(cond_dim, channels)
        for lin in (self.gamma, self.beta):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        return (1 + self.gamma(c))[:, :, None, None] * self.bn(x) + self.beta(c)[:, :, None, None]


def _up(cin: int, cout: int, cond_dim: int = 0) -> list[nn.Module]:
    """Nearest-neighbour x2, 3x3 convolution, batch norm (conditional on c when ``cond_dim``), ReLU (StackGAN's
    up-sampling block)."""
    norm = ConditionalBatchNorm2d(cout, cond_dim) if cond_dim else nn.BatchNorm2d(cout)
    return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1, bias=False), norm,
            nn.ReLU(True)]


def _run(blocks: nn.Sequential, h: Tensor, c: Tensor) -> Tensor:
    """``blocks`` on h, handing c to the conditional batch norms."""
    for m in blocks:
        h = m(h, c) if isinstance(m, ConditionalBatchNorm2d) else m(h)
    return h


class StageIGenerator(nn.Module):
    """[c₀, z] -> (B, C, S, S) in [-1, 1], S = 4 · 2^k."""

    def __init__(self, noise_dim: int, cond_dim: int, channels: int, size: int, width: int,
                 conditional_norm: bool = False) -> None:
        super().__init__()
        k = int(round(math.log2(size / 4)))
        top = width * 2**k
        self.fc = nn.Sequential(nn.Linear(noise_dim + cond_dim, top * 16, bias=False), nn.BatchNorm1d(top * 16),
                                nn.ReLU(True))
        blocks: list[nn.Module] = []
        for i in range(k):
            blocks += _up(top // 2**i, top // 2 ** (i + 1), cond_dim if conditional_norm else 0)
        self.up = nn.Sequential(*blocks)
        self.out = nn.Sequential(nn.Conv2d(width, channels, 3, 1, 1), nn.Tanh())
        self.top = top

    def forward(self, z: Tensor, c: Tensor) -> Tensor:
        h = self.fc(torch.cat([c, z], dim=1)).reshape(len(z), self.top, 4, 4)
        return self.out(_run(self.up, h, c))


class ResBlock(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(ch, ch, 3, 1, 1, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True),
                                  nn.Conv2d(ch, ch, 3, 1, 1, bias=False), nn.BatchNorm2d(ch))

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x + self.body(x))


REFINES = ("redraw", "residual")  # how stage II makes its image (``generator.refine``)


class StageIIGenerator(nn.Module):
    """(stage-I image (B, C, S, S), ĉ) -> (B, C, 2S, 2S): down x2, join ĉ, residual blocks, up x4.

    ``refine``: ``redraw`` (StackGAN's) makes the image from these features, tanh(conv(h)); ``residual``
    adds them to the up-sampled stage-I image, clamp(up(I) + tanh(conv(h)), −1, 1), with that last
    convolution zero at the start (:meth:`init_weights`), so an untrained stage II returns up(I) exactly
    and its training learns a correction of stage I (sharper edges), not a new drawing.
    """

    def __init__(self, cond_dim: int, channels: int, width: int, blocks: int, conditional_norm: bool = False,
                 refine: str = "redraw") -> None:
        super().__init__()
        if refine not in REFINES:
            raise ConfigError(f"unknown generator.refine '{refine}' for stackgan; choose one of: {', '.join(REFINES)}")
        self.refine = refine
        w2 = 2 * width
        self.encode = nn.Sequential(nn.Conv2d(channels, width, 3, 1, 1), nn.ReLU(True),
                                    nn.Conv2d(width, w2, 4, 2, 1, bias=False), nn.BatchNorm2d(w2), nn.ReLU(True))
        self.joint = nn.Sequential(nn.Conv2d(w2 + cond_dim, w2, 3, 1, 1, bias=False), nn.BatchNorm2d(w2), nn.ReLU(True))
        self.res = nn.Sequential(*[ResBlock(w2) for _ in range(blocks)])
        half = max(width // 2, 8)
        k = cond_dim if conditional_norm else 0
        self.up = nn.Sequential(*_up(w2, width, k), *_up(width, half, k))
        self.out = nn.Sequential(nn.Conv2d(half, channels, 3, 1, 1), nn.Tanh())

    def init_weights(self) -> None:
        """DCGAN's initialisation; with ``refine=residual`` the last convolution zero (stage II = up(I))."""
        self.apply(dcgan_init)
        if self.refine == "residual":
            for param in self.out[0].parameters():  # the convolution's weight and bias
                nn.init.zeros_(param)

    def forward(self, image: Tensor, c: Tensor) -> Tensor:
        h = self.encode(image)
        h = self.joint(torch.cat([h, c[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])], dim=1))
        out = self.out(_run(self.up, self.res(h), c))
        return (upsample(image) + out).clamp(-1.0, 1.0) if self.refine == "residual" else out


class StackGANGenerator(nn.Module):
    """Text encoder (frozen) + CA + stage I + CA + stage II; ``forward(latent)`` is the stage-II image.

    Args:
        noise_dim: z's size.
        channels, size: the data's (C, S, S); stage I draws S/2.
        width: feature maps (see the module docstring).
        blocks: stage II's residual blocks.
        prior: z's prior ("normal" or "uniform").
        conditional_norm: batch norm scaled and shifted by c in both stages' up-sampling blocks.
        refine: stage II's output, ``redraw`` or ``residual`` (:class:`StageIIGenerator`).
    """

    captions: Tensor  # buffers (typed for the checker)
    ca_scale: Tensor
    caption_prior: CaptionPrior | None  # p(φ(full caption) | φ(caption)) (``model.caption_prior``); None: off

    def __init__(self, noise_dim: int, channels: int, size: int, width: int, blocks: int,
                 prior: str = "normal", conditional_norm: bool = False, refine: str = "redraw") -> None:
        super().__init__()
        self.text_encoder = CharCNNRNN().requires_grad_(False)
        self.ca1 = ConditioningAugmentation()
        self.ca2 = ConditioningAugmentation()
        self.stage1 = StageIGenerator(noise_dim, CONDITION_DIM, channels, size // 2, width, conditional_norm)
        self.stage2 = StageIIGenerator(CONDITION_DIM, channels, width, blocks, conditional_norm, refine)
        self.stage1.apply(dcgan_init)
        self.stage2.init_weights()
        # token ids as floats: an EMA copy (torch's AveragedModel) lerps buffers, exact for equal floats
        self.register_buffer("captions", torch.zeros(BANK, MAX_LEN))
        # 1: conditioning augmentation (c = μ + σ ⊙ ε); 0: its ablation, c = μ(φ_t) (``model.augment=false``)
        self.register_buffer("ca_scale", torch.ones(()))
        self.prior = NoisePrior(prior, noise_dim)
        self.noise_dim = noise_dim
        self.latent_dim = noise_dim + EMBED_DIM + 2 * CONDITION_DIM
        self.out_shape = (channels, size, size)
        # set by the recipe (``model.caption_prior``): a submodule then, saved and exported with G; while None a
        # plain attribute, so a generator without one keeps its state's keys
        self.caption_prior = None

    def trainable(self) -> list[nn.Parameter]:
        """G's optimised parameters: everything but the fixed text encoder and the caption prior (fitted apart)."""
        return [p for n, p in self.named_parameters() if not n.startswith(("text_encoder.", "caption_prior."))]

    def set_captions(self, tokens: Tensor) -> None:
        """Fill the caption bank with (k, L) tokens (repeated cyclically to BANK rows)."""
        if len(tokens) == 0:
            raise DataError("the caption bank needs at least one caption")
        idx = torch.arange(BANK) % len(tokens)
        self.captions.copy_(tokens[idx, :MAX_LEN].to(self.captions))

    @torch.no_grad()
    def encode(self, tokens: Tensor) -> Tensor:
        """φ_t (B, EMBED_DIM) of (B, L) caption tokens, from the fixed encoder, scaled to norm √EMBED_DIM.

        The contrastive loss only fixes directions; unit-variance components suit the CA layer and D.
        """
        phi = self.text_encoder(tokens.to(self.captions.device).long())
        return F.normalize(phi, dim=1) * math.sqrt(phi.shape[1])

    def sample_noise(self, n: int, device: torch.device | str | None = None, generator: torch.Generator | None = None,
                     text: str | Sequence[str] | Tensor | None = None, through_prior: bool = True) -> Tensor:
        """(n, latent_dim) latents: random bank captions, or ``text`` (one caption for all, n captions, or tokens).

        With a caption prior (``model.caption_prior``) and ``through_prior``, φ in the latent is a draw φ̂ from
        it given the caption's φ (:meth:`complete`), drawn after z and ε from the same RNG (so with and
        without a prior, one seed gives the same z and ε); the recipe trains on the captions themselves
        (``through_prior=False``).

        Raises:
            DataError: an empty caption, a caption with words that none of the bank's training captions
                uses (the text encoder has never seen them), or a list of captions whose length is neither
                1 nor n.
        """
        gdev = generator.device if generator is not None else torch.device("cpu")
        if text is None:
            idx = torch.randint(BANK, (n,), generator=generator, device=gdev).cpu()
            tokens = self.captions.cpu()[idx]
        else:
            tokens = text if isinstance(text, Tensor) else tokenize(text)
            if len(tokens) == 1:
                tokens = tokens.expand(n, -1)
            if len(tokens) != n:
                raise DataError(f"got {len(tokens)} captions for {n} samples; give one caption or one per sample")
            if not isinstance(text, Tensor):
                known = vocabulary(self.captions)
                if known:  # an empty bank (a generator never given captions) knows no words to check against
                    check_readable(text, known)
        phi = self.encode(tokens)
        z = self.prior.sample(n, generator=generator)
        eps = torch.randn(n, 2 * CONDITION_DIM, generator=generator, device=gdev)
        if through_prior and self.caption_prior is not None:
            phi = self.complete(phi, generator, tokens)
        latent = torch.cat([z.cpu(), phi.cpu(), eps.cpu()], dim=1)
        return latent.to(device if device is not None else self.captions.device)

    def attach_prior(self, prior: CaptionPrior, open_only: bool = False) -> None:
        """Hold ``prior`` (saved and exported with G). ``open_only`` (``model.caption_prior_on=open``): captions
        that name every attribute (:func:`gankit.data.captions.complete_captions`) keep their own φ when drawn."""
        self.caption_prior = prior
        self.register_buffer("prior_open_only", torch.tensor(float(open_only)))

    @torch.no_grad()
    def complete(self, phi: Tensor, generator: torch.Generator | None = None, tokens: Tensor | None = None) -> Tensor:
        """φ̂ ~ the caption prior given φ (B, EMBED_DIM), scaled to norm √EMBED_DIM as :meth:`encode` scales φ
        (a Gaussian draw leaves the sphere the captions' embeddings lie on); with ``open_only``
        (:meth:`attach_prior`) the rows of ``tokens`` that name every attribute keep φ (drawn all the same, so
        the RNG moves alike). ValueError without a prior."""
        if self.caption_prior is None:
            raise ValueError("this generator has no caption prior (model.caption_prior=false)")
        draw = self.caption_prior.sample(phi.to(self.captions.device), generator)
        out = F.normalize(draw, dim=1) * math.sqrt(draw.shape[1])
        gate = getattr(self, "prior_open_only", None)
        if tokens is not None and isinstance(gate, Tensor) and bool(gate):
            keep = complete_captions(tokens.cpu()).to(out.device)
            out[keep] = phi.to(out.device)[keep]
        return out

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kw: Any) -> None:
        # generators saved before the CA ablation existed have no ca_scale: they used CA
        state_dict.setdefault(prefix + "ca_scale", torch.ones(()))
        super()._load_from_state_dict(state_dict, prefix, *args, **kw)

    def split(self, latent: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """latent -> (z, φ_t, ε₀, ε̂)."""
        a, b = self.noise_dim, self.noise_dim + EMBED_DIM
        return latent[:, :a], latent[:, a:b], latent[:, b:b + CONDITION_DIM], latent[:, b + CONDITION_DIM:]

    def first_stage(self, latent: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Stage I alone: (its image (B, C, S/2, S/2), μ₀, log σ₀²) from z, φ_t and ε₀."""
        z, phi, e1, _ = self.split(latent)
        c1, mu1, lv1 = self.ca1(phi, e1 * self.ca_scale)
        return self.stage1(z, c1), mu1, lv1

    def outputs(self, latent: Tensor, detach: bool = True) -> dict[str, Tensor]:
        """What training needs of both stages: 'low' (stage I), 'high' (stage II), 'mu1', 'logvar1', 'mu2', 'logvar2'.

        ``detach``: stage II refines a detached stage-I image, so stage II's losses train stage II only
        (StackGAN trains stage II with stage I fixed).
        """
        low, mu1, lv1 = self.first_stage(latent)
        _, phi, _, e2 = self.split(latent)
        c2, mu2, lv2 = self.ca2(phi, e2 * self.ca_scale)
        high = self.stage2(low.detach() if detach else low, c2)
        return {"low": low, "high": high, "mu1": mu1, "logvar1": lv1, "mu2": mu2, "logvar2": lv2}

    def stages(self, latent: Tensor) -> list[tuple[str, Tensor]]:
        """The images of sampling, first to last, as every multi-stage generator names them (the stages
        figure, ``gankit sample --stages``): stage I's (B, C, S/2, S/2), then stage II's (B, C, S, S)."""
        out = self.outputs(latent)
        low, high = out["low"], out["high"]
        return [(f"stage I {low.shape[-1]}px", low), (f"stage II {high.shape[-1]}px", high)]

    def forward(self, latent: Tensor) -> Tensor:
        return self.outputs(latent)["high"]


CONDITIONS = ("concat", "projection", "acgan", "projection-acgan")  # how D hears the text (``model.condition``)
READERS = ("acgan", "projection-acgan")  # the conditions with a text read-back head


class MatchingDiscriminator(nn.Module):
    """D(x, φ_t) -> (B,) raw scores for image-text pairs, images of side ``size`` (4 · 2^k).

    ``condition`` (image features h = the 4 x 4 maps of the stride-2 convolutions, flattened):

    - ``concat`` (Reed et al. 2016, StackGAN): the compressed text replicated over the 4 x 4 grid, joined
      to h; a 1x1 and a 4x4 convolution score the pair.
    - ``projection`` (Miyato & Koyama 2018, eq. 3 with φ_t in place of a class embedding):
      D(x, φ) = ψ(h) + (V φ)ᵀ h, ψ a 4x4 convolution of h, V a linear map (no bias) of the text.
    - ``acgan``: ``concat`` plus an auxiliary head that reads the caption embedding back from the image,
      φ̂(x) = W h (:meth:`read_text`; Odena et al. 2017's auxiliary classifier with the text embedding as
      its target, trained by the recipe on real pairs only).
    - ``projection-acgan``: ``projection`` with that head.

    ``groups`` m > 1 (``model.caption_groups``; a batch of B/m captions, sample i of caption i mod B/m): the
    scoring head also sees its caption group's spread, one more 4 x 4 map (:class:`MinibatchStd`, spatial)

        s_g(u) = mean_c sqrt(Var_{k=1..m} h_{g,k}[c, u] + 1e-8)      (u: a cell of the 4 x 4 grid)

    joined to h before the text; the read-back head reads h alone.
    """

    def __init__(self, channels: int, size: int, width: int, condition: str = "concat", groups: int = 1) -> None:
        super().__init__()
        if condition not in CONDITIONS:
            raise ConfigError(f"unknown model.condition '{condition}' for stackgan; "
                              f"choose one of: {', '.join(CONDITIONS)}")
        k = int(round(math.log2(size / 4)))
        layers: list[nn.Module] = []
        ch = channels
        for i in range(k):
            out = width * 2**i
            layers += [nn.Conv2d(ch, out, 4, 2, 1, bias=i == 0)]
            if i > 0:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.LeakyReLU(0.2, True))
            ch = out
        self.image = nn.Sequential(*layers)
        self.condition = condition
        # the caption group's spread, appended to h before scoring (absent, not an identity, at groups=1: the
        # default D keeps its parameters and its saved state's keys)
        self.spread = MinibatchStd(groups, spatial=True) if groups > 1 else None
        scored = ch + (MinibatchStd.extra if self.spread is not None else 0)
        if condition.startswith("projection"):
            self.psi = nn.Conv2d(scored, 1, 4)
            self.embed = nn.Linear(EMBED_DIM, scored * 16, bias=False)
        else:
            self.text = nn.Sequential(nn.Linear(EMBED_DIM, TEXT_DIM_D), nn.LeakyReLU(0.2, True))
            self.joint = nn.Sequential(nn.Conv2d(scored + TEXT_DIM_D, ch, 1, bias=False), nn.BatchNorm2d(ch),
                                       nn.LeakyReLU(0.2, True), nn.Conv2d(ch, 1, 4))
        if condition in READERS:
            self.reader = nn.Linear(ch * 16, EMBED_DIM)
        self.apply(dcgan_init)

    def _score(self, h: Tensor, phi: Tensor) -> Tensor:
        if self.spread is not None:
            h = self.spread(h)
        if self.condition.startswith("projection"):  # ψ(h) + (V φ)ᵀ h
            return self.psi(h).flatten() + (self.embed(phi) * h.flatten(1)).sum(dim=1)
        t = self.text(phi)[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])
        return self.joint(torch.cat([h, t], dim=1)).flatten()

    def forward(self, x: Tensor, phi: Tensor) -> Tensor:
        return self._score(self.image(x), phi)

    def features(self, x: Tensor) -> Tensor:
        """h: the image's 4 x 4 maps (what :meth:`score_features` and :meth:`read_features` take)."""
        return self.image(x)

    def score_features(self, h: Tensor, phi: Tensor) -> Tensor:
        """Raw scores (B,) of image features h with captions φ: one image pass scored against several captions."""
        return self._score(h, phi)

    def read_features(self, h: Tensor) -> Tensor | None:
        """φ̂ (B, EMBED_DIM) read back from image features h; None without a reader."""
        return self.reader(h.flatten(1)) if self.condition in READERS else None

    def score_and_text(self, x: Tensor, phi: Tensor) -> tuple[Tensor, Tensor | None]:
        """(scores (B,), φ̂(x) (B, EMBED_DIM) or None without a reader) with one pass through the image layers."""
        h = self.features(x)
        return self._score(h, phi), self.read_features(h)


class StackGANDiscriminators(nn.Module):
    """Stage I's and stage II's matching-aware discriminators; ``forward(x, φ)`` picks one by x's side."""

    def __init__(self, channels: int, size: int, width: int, condition: str = "concat", groups: int = 1) -> None:
        super().__init__()
        self.stage1 = MatchingDiscriminator(channels, size // 2, width, condition, groups)
        self.stage2 = MatchingDiscriminator(channels, size, width, condition, groups)
        self.size = size

    def forward(self, x: Tensor, phi: Tensor) -> Tensor:
        return (self.stage2 if x.shape[-1] == self.size else self.stage1)(x, phi)


def _image_shape(data_shape: tuple[int, ...]) -> tuple[int, int]:
    if len(data_shape) != 3 or data_shape[1] != data_shape[2]:
        raise ConfigError(f"stackgan needs square images (C, S, S), got {tuple(data_shape)}; "
                          "train it on shapes-captions or a caption-folder")
    c, s = int(data_shape[0]), int(data_shape[1])
    k = math.log2(max(s, 1) / 8)
    if s < 16 or k != int(k):
        raise ConfigError(f"stackgan needs an image side of 16, 32, 64, ... (stage I draws half of it), got {s}; "
                          "set data.image_size")
    return c, s


def _generator(cfg: Any, data_shape: tuple[int, ...]) -> nn.Module:
    c, s = _image_shape(data_shape)
    return StackGANGenerator(cfg.noise_dim, c, s, cfg.width, max(int(cfg.depth), 0), cfg.prior,
                             conditional_norm=cfg.norm == "conditional", refine=cfg.refine)


def discriminators(cfg: Any, data_shape: tuple[int, ...], condition: str = "concat",
                   groups: int = 1) -> StackGANDiscriminators:
    """Both stages' discriminators for ``cfg`` (a DiscriminatorConfig), D's ``condition`` (model.condition) and
    caption ``groups`` (model.caption_groups: the head sees each group's spread; 1: off)."""
    c, s = _image_shape(data_shape)
    return StackGANDiscriminators(c, s, cfg.width, condition, groups)


NETWORKS.register("stackgan", kind="image", shapes=[(3, 16, 16), (3, 32, 32)], conditional=True,
                  condition_dim=EMBED_DIM + 2 * CONDITION_DIM)(
    NetFamily(_generator, discriminators,
              "StackGAN (Zhang 2017): text encoder + CA, stage I at S/2, stage II to S, matching-aware D(x, text)")
)
