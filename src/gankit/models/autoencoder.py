"""Auto-encoders as generators: the AE, the VAE and the adversarial autoencoder (AAE).

Hung-yi Lee, GAN lecture (ATDL 14) ("Review: Auto-encoder", "Review: VAE"): an encoder compresses x to a
code, a decoder rebuilds x from it, and after training the decoder alone is a generator. A plain
auto-encoder's codes follow no known distribution, so drawing codes from a prior gives poor samples;
the VAE (Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014) makes the encoder output a
mean m and a log-variance σ per code dimension, samples c = m + exp(σ/2)·e with e ~ N(0, I) (the
reparameterisation), and adds the lecture's term

    Σ_i (exp(σ_i) − (1 + σ_i) + m_i²)  =  2 · KL(N(m, diag e^σ) ‖ N(0, I)),

twice the usual KL (:func:`kl_lecture`). With the squared reconstruction error Σ (x − x̂)² beside it,
the lecture's loss is exactly twice the negative ELBO of a decoder with unit-variance Gaussian output
(up to a constant), so its minimiser is the VAE's. (The slide writes the sample as exp(σ)·e + m; for
the KL term above σ must be the log-variance, whose standard deviation is exp(σ/2), which is what is
implemented.)

The adversarial autoencoder (Makhzani, Shlens, Jaitly, Goodfellow, Frey, "Adversarial Autoencoders",
2016; Utkin, GAN lecture (SPbPU), "Соперничающие автокодеры - события") matches the aggregated
posterior q(z) = E_x q(z|x) to a prior p(z) with a discriminator on codes. Each minibatch has three
phases: (1) reconstruction: encoder and decoder minimise the squared reconstruction error; (2) the
discriminator learns to tell codes of the batch from samples of p(z) (binary cross-entropy); (3) the
encoder, as the generator, learns to fool it. The priors are N(0, I), a mixture of 10 Gaussians and a
swiss roll (:mod:`gankit.nets.priors`); with ``model.prior_labels`` the label-conditioned prior of the
paper's section 2.3: the discriminator also sees the one-hot label, and prior samples of class k come
from component k, so the encoder must put class k's codes there.

``model.prior_clusters=pixels`` is an unsupervised stand-in for those labels (no label is ever read): before
training, k-means with one cluster per component (K = 10) on the top ``PIXEL_COMPONENTS`` principal components of
``FIT_SAMPLES`` training samples (:mod:`gankit.models.clusters`; k-means++ seeding, the best of
``KMEANS_RESTARTS`` runs by inertia, all under ``run.seed``), fixed from then on:

    φ(x) = V (x − x̄),   c(x) = argmin_k ‖φ(x) − μ_k‖²,

and cluster c(x) takes the place of the label: D sees the one-hot c(x) beside the code, and the prior draws of
phases 2 and 3 for a code of cluster k come from component k. The decoder's own draws (``sample_noise``: export,
``gankit sample``, the metrics) are unchanged: components drawn uniformly, as under the label-conditioned prior,
so an exported decoder carries nothing of the clusters (the clusters' shares of the data are not uniform; the
``code-prior`` metric compares each held-out code with its own cluster's component, as it does with labels).
``model.prior_clusters=encoder`` starts from the same clusters and re-clusters the same samples every
``model.recluster_every`` generator steps on the encoder's last hidden layer h(x) (the code layer's input), Lloyd's
k-means started from the means of the current clusters, μ_k = mean{h(x) : c(x) = k}, so that cluster k keeps its
index, hence its petal; from the first re-clustering on, c(x) = argmin_k ‖h(x) − μ_k‖².

The code discriminator takes three of the ``reg`` section's remedies (:mod:`gankit.regularizers`), which
steady a D on low-dimensional codes: ``reg.r1`` = γ, the R1 penalty γ/2 · E_{z~p(z)} ‖∇_z D(z)‖² on the prior's
side (Mescheder et al. 2018), and ``reg.instance_noise`` = σ, Gaussian noise on every code D sees (prior
draws and codes, in phases 2 and 3). ``reg.gradient_penalty`` = λ, WGAN-GP's λ E_ẑ (‖∇_ẑ D(ẑ)‖ − 1)² at
ẑ = ε z_prior + (1 − ε) E(x), also applies (an f-GAN row's defaults set it: TV's critic needs it). The others
(clipping, label smoothing and flips) are refused. ``discriminator.spectral_norm`` divides each of the code D's
weights by its largest singular value (Miyato et al. 2018).

A D that judges one code at a time can only compare densities point by point: codes whose mean or spread is off
the prior's can still sit where prior draws are common, one by one. Two options let the code D see several codes
at once: ``model.pack`` = m (PacGAN, Lin et al. 2018) scores m codes concatenated, all m prior draws or all m
codes of the batch, D(z_1 ⊕ … ⊕ z_m); ``discriminator.minibatch`` = ``std`` (Karras et al. 2018: the mean over
features of each feature's standard deviation within groups of 4, one more input to D's head) or
``discrimination`` (Salimans et al. 2016: o(z_i)_b = Σ_{j≠i} exp(−‖M_{i,b} − M_{j,b}‖₁), M_i = z_i's features
times a learnt tensor) puts a batch layer before D's scoring head (:mod:`gankit.nets.remedies`).

``model.code_noise`` = s > 0 makes the AAE's encoder the paper's "Gaussian posterior" (section 2.1)
with a fixed spread: q(z|x) = N(E(x), s² I), drawn as z = E(x) + s·e, e ~ N(0, I). All three phases use
these draws: the decoder learns to decode the neighbourhood of each code (as the VAE's decoder does),
and D matches the aggregated posterior q(z) = E_x N(E(x), s² I) — the distribution of exactly the
codes the decoder was trained on — to p(z). s = 0 is the deterministic encoder of the paper's
experiments, whose decoder only ever sees the codes of training images.

``model.posterior`` = ``gaussian`` learns the spread instead (the paper's Gaussian posterior as it states it):
the encoder gives a mean μ(x) and a log-variance σ(x) per code dimension, as the VAE's does, and every phase
uses the reparameterised draws z = μ + exp(σ/2)·e. Nothing in the AAE's loss keeps σ from shrinking to the
deterministic encoder (the reconstruction wants it small, and the adversary only sees q(z)). The VAE's KL term
averaged over x splits into −H(q(z|x)) plus the cross-entropy of q(z) and p(z) (Hoffman & Johnson, "ELBO
surgery", 2016); the AAE's adversary stands in for the second part, and ``model.entropy_weight`` = w restores
the first: the reconstruction phase minimises

    Σ (x − x̂)² − w Σ_i σ_i        (= Σ (x − x̂)² + 2w · (−H(N(μ, diag e^σ))) + const),

so w = 1 is the VAE's own weight on its posterior's entropy, in the lecture's scale (twice the negative ELBO).

How the trainer's steps map onto these (it calls ``d_step`` k = ``train.d_steps`` times, then
``g_step``, each on a fresh batch): for the AAE, ``d_step`` is phase 2 and ``g_step`` is phase 1 then
phase 3 on one batch. The AE and the VAE have no discriminator (``adversarial = False``): the trainer
calls only ``g_step``, draws no batch for D steps and ignores ``train.d_steps``.

The exported "generator" is the decoder, whose ``sample_noise`` draws from ``generator.prior``: EMA,
export, ``gankit sample``, the evaluator and every figure work unchanged. The encoder mirrors the
decoder: the discriminator of the decoder's network family (``generator.name``; MLP or DCGAN) with
the decoder's width, depth and activation, its last layer giving the code (the AAE's code
discriminator is an MLP from the ``discriminator`` section, as codes are vectors).
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit import regularizers
from gankit.errors import ConfigError
from gankit.evalmode import eval_mode, evaluating
from gankit.models.base import Recipe, balanced_accuracy, build_optimizer, optimizer_step
from gankit.models.clusters import PIXEL_COMPONENTS, Clusters, assign, kmeans, kmeans_restarts
from gankit.nets import priors
from gankit.nets.mlp import MLPDiscriminator
from gankit.nets.remedies import add_minibatch_layer, pack, spectral_normalise, twice_differentiable
from gankit.objectives.base import Objective
from gankit.registry import NETWORKS, OBJECTIVES, RECIPES
from gankit.train.callbacks import Callback

log = logging.getLogger("gankit")

FIT_SAMPLES = 10_000  # model.prior_clusters: training samples the principal axes and k-means are fitted on
KMEANS_RESTARTS = 4  # k-means++ seedings; the clustering of least inertia is kept


def kl_lecture(mean: Tensor, logvar: Tensor) -> Tensor:
    """The lecture's VAE term per sample, Σ_i (exp(σ_i) − (1 + σ_i) + m_i²), shape (B,).

    ``logvar`` is σ, the log-variance; the value is 2 · KL(N(m, diag e^σ) ‖ N(0, I)), zero exactly when
    m = 0 and σ = 0 (each term is ≥ 0: e^σ ≥ 1 + σ and m² ≥ 0).
    """
    return (logvar.exp() - (1.0 + logvar) + mean.pow(2)).sum(dim=1)


def squared_error(x: Tensor, x_hat: Tensor) -> Tensor:
    """Σ (x − x̂)² over each sample's values, shape (B,): the reconstruction error."""
    return (x - x_hat).pow(2).flatten(1).sum(dim=1)


def gaussian_draw(mean: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """c = m + exp(σ/2) · e, e ~ N(0, I) under ``generator`` (the global RNG when None): a draw of
    N(m, diag e^σ), σ the log-variance, differentiable in m and σ (the reparameterisation)."""
    if generator is None:
        e = torch.randn_like(mean)
    else:
        e = torch.randn(mean.shape, generator=generator, dtype=mean.dtype).to(mean.device)
    return mean + (0.5 * logvar).exp() * e


class Encoder(nn.Module):
    """x -> (B, out_dim): the discriminator of a network family whose last layer gives ``out_dim`` values.

    Args:
        gen_cfg: the generator section (name, width, depth, activation, norm): the encoder mirrors the decoder.
        data_shape: shape of one sample.
        out_dim: code values per sample (2 · latent for the VAE's mean and log-variance).
    """

    def __init__(self, gen_cfg: Any, data_shape: tuple[int, ...], out_dim: int) -> None:
        super().__init__()
        body_cfg = SimpleNamespace(width=gen_cfg.width, depth=gen_cfg.depth, activation=gen_cfg.activation,
                                   dropout=0.0, norm=getattr(gen_cfg, "norm", "auto"))
        body = NETWORKS.get(gen_cfg.name).discriminator(body_cfg, data_shape)
        seq = body.net if isinstance(getattr(body, "net", None), nn.Sequential) else nn.Sequential()  # its layers
        last = seq[-1] if len(seq) else None
        if isinstance(last, nn.Linear):
            seq[-1] = nn.Linear(last.in_features, out_dim)
        elif isinstance(last, nn.Conv2d):
            geometry: Any = (last.kernel_size, last.stride, last.padding)  # (h, w) pairs; stubs: tuple[int, ...]
            conv = nn.Conv2d(last.in_channels, out_dim, *geometry)  # with a bias
            nn.init.normal_(conv.weight, 0.0, 0.02)
            nn.init.zeros_(conv.bias)  # type: ignore[arg-type]  # bias=True above: never None
            seq[-1] = conv
        else:
            raise ConfigError(f"network '{gen_cfg.name}' cannot be made into an encoder (its discriminator does not "
                              "end in a linear or convolution layer); use generator.name=mlp or dcgan")
        self.body = body
        self.out_dim = out_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x).reshape(x.shape[0], self.out_dim)  # (B, out_dim)


class AutoEncoder(Recipe):
    """The plain auto-encoder: minimise the squared reconstruction error; the decoder is the generator.

    Args:
        cfg: the run's Config (``generator.noise_dim`` is the code size, ``g_optim`` the optimiser).
        data_shape: shape of one data sample.
        device: where the networks live.
    """

    adversarial = False
    uses_labels = False  # the AAE's label-conditioned prior (model.prior_labels)
    conditioned = False  # the AAE's prior drawn per component: by label (prior_labels) or cluster (prior_clusters)

    def __init__(self, cfg: Any, data_shape: tuple[int, ...], device: torch.device | str = "cpu") -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        self.latent_dim = cfg.generator.noise_dim
        self.prior = cfg.generator.prior
        self.generator = NETWORKS.get(cfg.generator.name).generator(cfg.generator, data_shape).to(device)
        self.encoder = Encoder(cfg.generator, data_shape, self.code_outputs()).to(device)
        both = [*self.encoder.parameters(), *self.generator.parameters()]
        self.optimizers = {"g": build_optimizer(both, cfg.g_optim)}
        self.figures_side = 20

    def code_outputs(self) -> int:
        return self.latent_dim

    def modules(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "generator": self.generator}

    def callbacks(self) -> list[Any]:
        return [LatentFigures()] if self.latent_dim == 2 else []

    def _images(self, batch: Any) -> tuple[Tensor, Tensor | None]:
        return (batch[0], batch[1]) if isinstance(batch, (tuple, list)) else (batch, None)

    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        """Codes of ``x`` (the VAE: the posterior means), in eval mode, no gradient."""
        with eval_mode(self.encoder):
            return self._code(self.encoder(x.to(self.device)))

    def _code(self, out: Tensor) -> Tensor:
        return out

    @torch.no_grad()
    def aggregate_codes(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Draws of the aggregated posterior q(z) = E_x q(z|x) at the samples ``x``: the codes the decoder
        learned to decode, which should follow the prior. A deterministic encoder (AE, AAE): its codes."""
        return self.encode(x)

    def prior_sample(self, n: int, labels: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """``n`` codes from p(z) (component ``labels[i]`` of it under a conditioned prior: the class, or the cluster,
        :meth:`prior_classes`), the decoder's own (``generator.prior_spread`` included)."""
        return priors.sample_prior(self.prior, n, self.latent_dim, generator=generator, device=self.device,
                                   labels=labels if self.conditioned else None,
                                   spread=float(self.cfg.generator.prior_spread))

    def prior_classes(self, x: Tensor, y: Tensor | None) -> Tensor | None:
        """The prior component of each sample of ``x`` (labels ``y``) under a conditioned prior; None when the prior is
        the same for every sample (this default)."""
        return None

    def metric_net(self, net: nn.Module) -> CodeSource:
        """What the metrics that score a generator are handed (``needs_net``): ``net`` (the decoder) with the
        codes of held-out data and the prior's draws, for the ``code-prior`` metric."""
        return CodeSource(net, self)

    def _reconstruct(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """The loss of one reconstruction pass and its parts."""
        rec = squared_error(x, self.generator(self.encoder(x))).mean()
        return rec, {"recon": rec.detach()}

    def d_step(self, batch: Any) -> dict[str, Tensor]:
        """No discriminator: nothing to do (the trainer does not call it for ``adversarial = False``)."""
        return {}

    def g_step(self, batch: Any) -> dict[str, Tensor]:
        """One update of encoder and decoder on the batch."""
        x, _ = self._images(batch)
        loss, parts = self._reconstruct(x)
        norm = optimizer_step(self.optimizers["g"], self.generator, loss)
        return {"g_loss": loss.detach(), **parts, "g_grad_norm": norm}


class VAE(AutoEncoder):
    """The variational auto-encoder with the lecture's KL term (2 · KL, see :func:`kl_lecture`)."""

    def __init__(self, cfg: Any, data_shape: tuple[int, ...], device: torch.device | str = "cpu") -> None:
        if cfg.generator.prior != "normal":
            raise ConfigError(f"the VAE's KL term is against N(0, I): set generator.prior=normal "
                              f"(got '{cfg.generator.prior}'; the aae recipe takes other priors)")
        super().__init__(cfg, data_shape, device)

    def code_outputs(self) -> int:
        return 2 * self.latent_dim  # mean m and log-variance σ

    def _code(self, out: Tensor) -> Tensor:
        return out[:, : self.latent_dim]

    @torch.no_grad()
    def aggregate_codes(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Posterior samples c = m + exp(σ/2)·e, one per x (e under ``generator``): draws of q(z) = E_x q(z|x),
        the codes the decoder was trained on. (The means alone are under-dispersed: the KL term keeps each
        q(z|x)'s variance, and the means carry only the rest of N(0, I)'s.)"""
        with eval_mode(self.encoder):
            mean, logvar = self.posterior(x.to(self.device))
        return gaussian_draw(mean, logvar, generator)

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(m, σ): mean and log-variance of q(z|x), each (B, latent)."""
        out = self.encoder(x)
        return out[:, : self.latent_dim], out[:, self.latent_dim:]

    @staticmethod
    def reparameterise(mean: Tensor, logvar: Tensor) -> Tensor:
        """c = m + exp(σ/2) · e, e ~ N(0, I): a sample of N(m, diag e^σ) differentiable in m and σ."""
        return gaussian_draw(mean, logvar)

    def _reconstruct(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        mean, logvar = self.posterior(x)
        rec = squared_error(x, self.generator(self.reparameterise(mean, logvar))).mean()
        kl = kl_lecture(mean, logvar).mean()
        return rec + kl, {"recon": rec.detach(), "kl": kl.detach()}


class AAE(AutoEncoder):
    """The adversarial autoencoder: reconstruction, then a discriminator on codes against the prior.

    Optimisers: ``g`` (``g_optim``) for encoder and decoder in the reconstruction phase, ``d``
    (``d_optim``) for the code discriminator, ``enc`` (``g_optim``'s settings, learning rate
    ``model.reg_lr``, betas ``model.reg_betas`` and optimiser ``model.reg_optim`` when set) for the encoder in the
    regularisation phase.
    ``model.code_noise`` = s: every phase uses posterior draws E(x) + s·e; ``model.posterior=gaussian``: draws
    μ(x) + exp(σ(x)/2)·e with ``model.entropy_weight`` on the posterior's entropy (see the module).
    ``model.objective`` is the adversarial loss pair (nsgan: the lecture's binary cross-entropy, with the
    encoder's non-saturating loss).
    """

    adversarial = True
    objective: Objective

    def __init__(self, cfg: Any, data_shape: tuple[int, ...], device: torch.device | str = "cpu") -> None:
        self.gaussian = cfg.model.posterior == "gaussian"  # before the encoder is built: its outputs' count
        super().__init__(cfg, data_shape, device)
        if cfg.discriminator.name != "mlp":
            raise ConfigError(f"the aae's discriminator judges codes (vectors): set discriminator.name=mlp "
                              f"(got '{cfg.discriminator.name}')")
        self.objective = OBJECTIVES.get(cfg.model.objective)
        reg = cfg.reg
        if reg.clip or reg.label_smoothing or reg.label_flip:
            raise ConfigError("the aae's code discriminator takes reg.r1, reg.gradient_penalty and reg.instance_noise "
                              "only (not reg.clip, reg.label_smoothing or reg.label_flip)")
        self.reg, self.instance_noise = reg, float(reg.instance_noise)
        self.uses_labels = bool(cfg.model.prior_labels)
        self.clusters: Clusters | None = None  # model.prior_clusters: the principal axes and the k-means centres
        self.feature_clusters: Clusters | None = None  # prior_clusters=encoder: centres in the encoder's features
        if cfg.model.prior_clusters != "none":
            values = math.prod(data_shape)
            self.clusters = Clusters(priors.COMPONENTS, min(PIXEL_COMPONENTS, values), values).to(device)
        if cfg.model.prior_clusters == "encoder":
            width = cast(nn.Linear, self._feature_layers()[-1]).in_features  # the code layer's input
            self.feature_clusters = Clusters(priors.COMPONENTS, width).to(device)
        self.recluster_every = int(cfg.model.recluster_every)
        self.g_steps = 0  # generator steps of this process (prior_clusters=encoder re-clusters every recluster_every)
        self.fit_x: Tensor | None = None  # prior_clusters=encoder: the samples prepare_data drew, re-clustered
        self.moved = 0.0  # the share of them whose cluster the last re-clustering changed
        self.conditioned = self.uses_labels or self.clusters is not None
        self.code_noise = float(cfg.model.code_noise)  # s of the posterior N(E(x), s² I); 0: deterministic
        self.entropy_weight = float(cfg.model.entropy_weight)  # w on the learned posterior's entropy
        n_in = self.latent_dim + (priors.COMPONENTS if self.conditioned else 0)
        d = cfg.discriminator
        self.pack = int(cfg.model.pack)  # D judges this many codes at once (PacGAN), all prior draws or all codes
        n_in *= self.pack
        self.discriminator = MLPDiscriminator(n_in, d.width, d.depth, d.activation, d.dropout).to(device)
        # a layer that sees the batch (minibatch std or discrimination) before the scoring head, then every layer
        # about 1-Lipschitz (Miyato et al. 2018): as build_discriminator does for D(x)
        add_minibatch_layer(self.discriminator, d.minibatch, (n_in,), d.minibatch_kernels)
        if d.spectral_norm:
            spectral_normalise(self.discriminator)
        if self.clusters is not None:
            self.discriminator.add_module("clusters", self.clusters)  # buffers: saved, loaded and moved with D
        if self.feature_clusters is not None:
            self.discriminator.add_module("feature_clusters", self.feature_clusters)
        self.optimizers["d"] = build_optimizer(self.discriminator.parameters(), cfg.d_optim)
        # the regularisation phase's own learning rate (Makhzani et al. give each phase one): Adam moves every
        # weight by about lr whatever the gradient's size, so this phase's lr is the adversary's pull on the encoder
        self.reg_warmup = float(cfg.model.reg_warmup)  # phase 3 starts once progress (step / train.steps) reaches it
        reg_lr = float(cfg.model.reg_lr) or cfg.g_optim.lr
        reg_betas = list(cfg.model.reg_betas) or cfg.g_optim.betas
        # model.reg_optim=sgd: Δθ = −lr · (momentum-averaged) ∇θ, a step that shrinks with D's gradient, where Adam's
        # Δθ ≈ −lr · sign-like ∇θ/√E[∇θ²] shakes the encoder as hard when D sits at chance as when it wins
        reg_name = cfg.g_optim.name if cfg.model.reg_optim == "g_optim" else str(cfg.model.reg_optim)
        self.optimizers["enc"] = build_optimizer(self.encoder.parameters(),
                                                 replace(cfg.g_optim, name=reg_name, lr=reg_lr, betas=reg_betas))

    def code_outputs(self) -> int:
        return 2 * self.latent_dim if self.gaussian else self.latent_dim  # (μ, σ) or the code

    def _code(self, out: Tensor) -> Tensor:
        return out[:, : self.latent_dim]  # the code, or the posterior's mean μ

    def modules(self) -> dict[str, nn.Module]:
        return {**super().modules(), "discriminator": self.discriminator}

    def _fit_samples(self, dataset: Any) -> Tensor:
        """``FIT_SAMPLES`` training samples drawn under ``run.seed`` (the global RNG does not move): the same on
        every call, so a resumed run draws what the fresh one did."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.cfg.run.seed)
            return dataset.sample(FIT_SAMPLES).cpu()

    @torch.no_grad()
    def prepare_data(self, dataset: Any) -> None:
        """``model.prior_clusters=encoder``: keep the samples it re-clusters (:meth:`_fit_samples`; the checkpoint
        holds the clusters, not the samples, so a resumed run draws them again). Otherwise nothing."""
        if self.feature_clusters is not None:
            self.fit_x = self._fit_samples(dataset)

    @torch.no_grad()
    def prepare_fresh(self, dataset: Any) -> None:
        """``model.prior_clusters``: :meth:`fit_clusters` on :meth:`_fit_samples`, once, before a fresh run's first
        step (a resumed or loaded run takes the clusters from its checkpoint). Otherwise nothing."""
        if self.clusters is not None:
            x = self.fit_x if self.fit_x is not None else self._fit_samples(dataset)
            self.fit_clusters(x, self.cfg.run.seed)

    @torch.no_grad()
    def fit_clusters(self, x: Tensor, seed: int) -> Tensor:
        """The principal axes of samples ``x`` and k-means on their projections (one cluster per prior component;
        the best of ``KMEANS_RESTARTS`` k-means++ seedings under ``seed``): returns the (N,) clusters of ``x``."""
        if self.clusters is None:
            raise ConfigError("fit_clusters needs model.prior_clusters=pixels or encoder")
        flat = x.flatten(1).float().to(self.clusters.mean.device)
        self.clusters.fit_pca(flat)
        centres, labels = kmeans_restarts(self.clusters.project(flat), priors.COMPONENTS, seed, KMEANS_RESTARTS)
        self.clusters.centres.copy_(centres)
        self.clusters.clustered.fill_(1)
        return labels

    @torch.no_grad()
    def clusters_of(self, x: Tensor) -> Tensor:
        """(B,) the cluster of each sample of ``x``: the nearest k-means centre of its principal components, or
        (``prior_clusters=encoder``, once re-clustered) of its encoder features."""
        if self.clusters is None or int(self.clusters.clustered) == 0:
            raise ConfigError("model.prior_clusters: the clusters are not fitted yet; call prepare_fresh(dataset) "
                              "before training (build_trainer does)")
        if self.feature_clusters is not None and int(self.feature_clusters.clustered) > 0:
            return assign(self._encoder_features(x), self.feature_clusters.centres)
        flat = x.flatten(1).float().to(self.clusters.mean.device)
        return assign(self.clusters.project(flat), self.clusters.centres)

    def _feature_layers(self) -> nn.Sequential:
        """The MLP encoder's layers: linear maps and activations, the code layer last."""
        return cast(nn.Sequential, self.encoder.body.net)

    @torch.no_grad()
    def _encoder_features(self, x: Tensor) -> Tensor:
        """(B, width) the encoder's last hidden layer at samples ``x`` (the code layer's input), in eval mode."""
        layers = self._feature_layers()[:-1]
        with eval_mode(self.encoder):
            return torch.cat([layers(c.flatten(1).to(self.device)).float() for c in x.split(1024)])

    @torch.no_grad()
    def recluster(self) -> None:
        """``prior_clusters=encoder``: k-means on the encoder's current features of the samples ``prepare_data`` drew,
        started from the means of their current clusters, so that cluster k (and its petal) keeps its index."""
        if self.feature_clusters is None or self.fit_x is None:
            raise ConfigError("recluster needs model.prior_clusters=encoder and the samples of prepare_data(dataset)")
        current = self.clusters_of(self.fit_x)
        feats = self._encoder_features(self.fit_x)
        k = priors.COMPONENTS
        counts = torch.bincount(current, minlength=k).to(feats)
        sums = torch.zeros(k, feats.shape[1], device=feats.device).index_add_(0, current.to(feats.device), feats)
        # μ_k = mean{h(x) : c(x) = k}; an empty cluster starts at 0, and k-means re-seeds it if it stays empty
        centres, labels = kmeans(feats, sums / counts.clamp(min=1)[:, None])
        self.moved = float((labels != current.to(labels.device)).float().mean())
        self.feature_clusters.centres.copy_(centres)
        self.feature_clusters.clustered += 1

    def prior_classes(self, x: Tensor, y: Tensor | None) -> Tensor | None:
        """Each sample's prior component: its cluster (``model.prior_clusters``), its label ``y``
        (``model.prior_labels``), or None (one prior for all)."""
        if self.clusters is not None:
            return self.clusters_of(x)
        return y if self.uses_labels else None

    def _d_input(self, z: Tensor, y: Tensor | None, noisy: bool = False) -> Tensor:
        """What D sees of codes z (B, latent): z (+ σ·n, n ~ N(0, I), σ = ``reg.instance_noise``, when ``noisy``: in
        training), with the one-hot component ``y`` (class or cluster) beside each code under a conditioned prior,
        then packed: (B/m, m·(latent [+ components])) for ``model.pack`` = m."""
        if noisy:
            z = regularizers.add_instance_noise(z, self.instance_noise)
        if self.conditioned:
            if y is None:
                raise ConfigError("model.prior_labels needs labelled batches (x, y)")
            z = torch.cat([z, F.one_hot(y.long(), priors.COMPONENTS).to(z.dtype)], 1)
        return pack(z, self.pack)

    def _judge(self, z: Tensor, y: Tensor | None, noisy: bool = False) -> Tensor:
        """D's raw scores on codes z: (B/m,), one per pack of m = ``model.pack`` codes (one per code at m = 1)."""
        return self.discriminator(self._d_input(z, y, noisy))

    def _draw(self, out: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """A draw of the posterior q(z|x) from the encoder's output ``out`` (e ~ N(0, I) under ``generator``):
        μ + exp(σ/2)·e for ``model.posterior=gaussian`` (``out`` = (μ, σ)); else code + s·e, s =
        ``model.code_noise``, the code itself for s = 0."""
        if self.gaussian:
            return gaussian_draw(out[:, : self.latent_dim], out[:, self.latent_dim:], generator)
        if not self.code_noise:
            return out
        e = torch.randn(out.shape, generator=generator, dtype=out.dtype).to(out.device)
        return out + self.code_noise * e

    @torch.no_grad()
    def aggregate_codes(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One posterior draw per x (under ``generator``; the codes E(x) themselves for the deterministic
        encoder): draws of q(z), the codes the decoder was trained on and D judged."""
        with eval_mode(self.encoder):
            return self._draw(self.encoder(x.to(self.device)), generator)

    def _reconstruct(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Phase 1 on the posterior draws z (E(x) itself for the deterministic encoder); with a learned Gaussian
        posterior, minus w Σ_i σ_i (w = ``model.entropy_weight``, σ the log-variance: see the module)."""
        out = self.encoder(x)
        rec = squared_error(x, self.generator(self._draw(out))).mean()
        if not self.gaussian:
            return rec, {"recon": rec.detach()}
        logvar = out[:, self.latent_dim:]
        loss = rec - self.entropy_weight * logvar.sum(1).mean() if self.entropy_weight else rec
        return loss, {"recon": rec.detach(), "post_std": (0.5 * logvar.detach()).exp().mean()}

    def discriminator_scores(self, real: Any, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """D on codes (:meth:`Recipe.discriminator_scores`): its "real" side is as many draws from the prior
        p(z) (under ``generator``), its "fake" side the codes of the data batch (with its labels under
        ``model.prior_labels``), as in phase 2. With ``model.pack`` = m: one score per pack of m codes (the batch
        cut to whole packs)."""
        x, y = self._images(real)
        if len(x) % self.pack:  # whole packs of distinct codes, as D is trained on
            keep = len(x) - len(x) % self.pack
            if keep == 0:
                raise ValueError(f"D judges packs of model.pack = {self.pack} codes; got a batch of {len(x)}")
            x, y = x[:keep], (None if y is None else y[:keep])
        with evaluating(self.encoder, self.discriminator):
            c = self.prior_classes(x, y)
            prior = self.prior_sample(len(x), c, generator=generator)
            return self._judge(prior, c), self._judge(self._draw(self.encoder(x), generator), c)

    def d_step(self, batch: Any) -> dict[str, Tensor]:
        """Phase 2: D separates prior samples ("real") from the batch's codes ("fake"); the encoder is fixed."""
        x, y = self._images(batch)
        c = self.prior_classes(x, y)  # the component each code is matched to (None: the whole prior)
        with torch.no_grad():
            fake = self._draw(self.encoder(x))
        real = regularizers.add_instance_noise(self.prior_sample(x.shape[0], c), self.instance_noise)
        real_out, fake_out = self._judge(real, c), self._judge(fake, c, noisy=True)
        loss = self.objective.d_loss(real_out, fake_out)
        # λ (‖∇D(ẑ)‖ − 1)² between prior draws and codes, γ/2 ‖∇_z D(z)‖² at the (noisy) prior draws, per code (with
        # model.pack: the gradient of its pack's score); a minibatch layer's gradient is itself differentiated
        with twice_differentiable(self.discriminator):
            penalty = regularizers.d_penalty(lambda z: self._judge(z, c), real, fake, self.reg)
        norm = optimizer_step(self.optimizers["d"], self.discriminator, loss + penalty)
        to_prob = self.objective.to_prob or (lambda s: s)
        extra = {"d_penalty": penalty.detach()} if self.reg.r1 or self.reg.gradient_penalty else {}
        return {"d_loss": loss.detach(), **extra, "d_real": to_prob(real_out).mean().detach(),
                "d_fake": to_prob(fake_out).mean().detach(),
                "d_acc": balanced_accuracy(real_out, fake_out, self.objective.to_prob), "d_grad_norm": norm}

    def g_step(self, batch: Any) -> dict[str, Tensor]:
        """Phase 1 (reconstruction, encoder + decoder), then phase 3 (the encoder fools D) on the same batch."""
        stats = super().g_step(batch)
        if self.progress < self.reg_warmup:  # model.reg_warmup: a plain auto-encoder first; D keeps learning
            return {**stats, "enc_loss": torch.zeros(())}
        x, y = self._images(batch)
        c = self.prior_classes(x, y)
        self.discriminator.requires_grad_(False)
        try:
            loss = self.objective.g_loss(self._judge(self._draw(self.encoder(x)), c, noisy=True))
        finally:
            self.discriminator.requires_grad_(True)
        optimizer_step(self.optimizers["enc"], self.encoder, loss)
        if self.feature_clusters is not None:
            self.g_steps += 1
            if self.g_steps % self.recluster_every == 0:
                self.recluster()
            stats["clusters_moved"] = torch.tensor(self.moved)  # at the last re-clustering
        return {**stats, "enc_loss": loss.detach()}


RECIPES.register("ae", description="auto-encoder: squared reconstruction error; the decoder is the generator")(
    AutoEncoder)
RECIPES.register("vae", description="VAE (Kingma & Welling 2014) with the lecture's KL term Σ(exp σ − (1 + σ) + m²)")(
    VAE)
RECIPES.register("aae", description="adversarial autoencoder (Makhzani et al. 2016): reconstruction, D on codes vs "
                 "the prior, encoder fools D")(AAE)


class CodeSource:
    """An auto-encoder's decoder as the ``code-prior`` metric sees it (:mod:`gankit.metrics.codes`): every
    attribute is the decoder's, and :meth:`code_samples` gives held-out codes and prior draws.

    Args:
        net: the decoder that drew the scored samples (the EMA one where there is one).
        recipe: the auto-encoder whose encoder and prior give the codes.
    """

    def __init__(self, net: nn.Module, recipe: AutoEncoder) -> None:
        self.net = net
        self.recipe = recipe

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["net"], name)  # only for names not set in __init__

    def code_samples(self, dataset: Any, n: int, seed: int) -> tuple[Tensor, Tensor]:
        """(codes (n', d) of n' <= ``n`` held-out samples (:func:`labelled_sample`; the VAE: posterior samples,
        :meth:`VAE.aggregate_codes`), as many prior draws (of the samples' components under a conditioned prior:
        their classes, or their clusters, :meth:`AutoEncoder.prior_classes`)), all under ``seed``."""
        x, y = labelled_sample(self.recipe.cfg, dataset, n, seed)
        gen = torch.Generator().manual_seed(seed + 1)
        codes = self.recipe.aggregate_codes(x, generator=gen)
        components = self.recipe.prior_classes(x, y)
        return codes.cpu(), self.recipe.prior_sample(len(codes), components, generator=gen).cpu()


# ------------------------------------------------------------------------------------------ figures


def labelled_sample(cfg: Any, dataset: Any, n: int, seed: int) -> tuple[Tensor, Tensor | None]:
    """Up to ``n`` held-out samples and their labels: the test split when the data set has one, else the
    training data (scikit-learn's digits has no test split); labels None for unlabelled data."""
    from gankit.data import build_dataset
    from gankit.data.reference import held_out_split

    held = held_out_split(cfg)
    if held is not None:
        dataset = build_dataset(held)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        labels = getattr(dataset, "labels", None)
        if labels is not None and hasattr(dataset, "images"):
            idx = torch.randperm(len(dataset))[:n]
            return dataset.images(idx), labels[idx]
        return dataset.sample(n), None


def lattice_images(net: nn.Module, prior: str, side: int) -> Tensor:
    """The decoder on an evenly spaced ``side`` x ``side`` lattice of 2-D codes (:func:`priors.lattice`),
    row by row from the top: (side², *data_shape)."""
    dim = getattr(net, "noise_dim", None)
    if dim != 2:
        raise ConfigError(f"the latent lattice needs a 2-D latent space (generator.noise_dim=2), got {dim}")
    z = priors.lattice(prior, side).to(next(net.parameters()).device)
    with evaluating(net):
        return net(z)


def plot_recipe_codes(recipe: AutoEncoder, x: Tensor, y: Tensor | None, path: Path, name: str, seed: int) -> None:
    """The codes figure of samples ``x`` (classes ``y``): their 2-D codes (:meth:`AutoEncoder.aggregate_codes`) by
    class over as many grey draws of the prior, titled with the code-to-prior distance
    (:func:`gankit.metrics.codes.code_prior_distance`) of the two clouds shown."""
    from gankit.metrics.codes import code_prior_distance
    from gankit.viz.latent import plot_codes

    gen = torch.Generator().manual_seed(seed)
    z = recipe.aggregate_codes(x, generator=gen).cpu()
    if z.shape[1] != 2:
        raise ConfigError(f"the codes figure needs 2-D codes (generator.noise_dim=2), got {z.shape[1]}-D; "
                          "use -o FILE.npy for the codes")
    prior = recipe.prior_sample(len(z), recipe.prior_classes(x, y), generator=gen).cpu()
    d = code_prior_distance(z, prior)
    stochastic = isinstance(recipe, VAE) or float(getattr(recipe, "code_noise", 0.0)) > 0 or getattr(
        recipe, "gaussian", False)
    what = "posterior samples" if stochastic else "codes"
    plot_codes(z.numpy(), None if y is None else y.numpy(), path, box=priors.box(recipe.prior), prior=prior.numpy(),
               title=f"{name}: {what} of {len(z)} held-out samples ({recipe.cfg.model.recipe}) on the "
                     f"{recipe.prior} prior (grey)\ncode-to-prior MMD² {d['code_mmd2']:.4f} "
                     f"(p = {d['code_mmd_p']:.3f}), W1 {d['code_w1']:.3f}")


def write_latent_figures(recipe: AutoEncoder, net: nn.Module, cfg: Any, dataset: Any, root: Path,
                         side: int = 20, n: int = 2000) -> list[Path]:
    """latent-grid.png (images: the decoder over the lattice) and latent-codes.png (held-out codes by class
    over the prior, :func:`plot_recipe_codes`)."""
    from gankit.viz import save_image_grid

    written = []
    if len(dataset.shape) == 3:
        save_image_grid(lattice_images(net, recipe.prior, side).cpu().numpy(), root / "latent-grid.png", nrow=side)
        written.append(root / "latent-grid.png")
    x, y = labelled_sample(cfg, dataset, n, cfg.eval.seed + 5)
    plot_recipe_codes(recipe, x, y, root / "latent-codes.png", cfg.run.name, cfg.eval.seed + 6)
    written.append(root / "latent-codes.png")
    return written


class LatentFigures(Callback):
    """At the end of training (2-D codes): the decoder grid over the latent lattice, and held-out codes by class."""

    def on_end(self, trainer: Any) -> None:
        write_latent_figures(trainer.recipe, trainer.sampling_net(), trainer.cfg, trainer.dataset, trainer.run.root)


def load_recipe(run: str | Path) -> tuple[AutoEncoder, Any, Any]:
    """The auto-encoder of a run from its last checkpoint: (recipe, config, data set)."""
    from gankit.train.build import load_recipe as load_any
    from gankit.train.rundir import find_run

    recipe, cfg, dataset = load_any(run)
    if not isinstance(recipe, AutoEncoder):  # model.recipe is not ae, vae or aae
        raise ConfigError(f"'{find_run(run).root}' is a '{cfg.model.recipe}' run; latent codes need an "
                          "auto-encoder (model.recipe ae, vae or aae)")
    return recipe, cfg, dataset
