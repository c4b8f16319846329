"""The self-conditioned GAN: a class-conditional GAN on clusters of the discriminator's own features.

Liu, Wang, Zhou, Torralba, Isola, Zhu, "Diverse Image Generation via Self-Conditioned GANs" (CVPR 2020):
unlabelled data get pseudo-classes from k-means on D's features, and the GAN trains as the conditional
GAN of those classes. Conditioning G on a cluster makes it cover every cluster (the fakes of a cluster
are judged against that cluster's real images), which fights mode dropping, and gives D an easier,
more informative task per class, so samples improve faster.

    φ(x): D's features (its backbone up to the scoring head; model.condition=projection or acgan);
    clusters: k-means on φ of the last ``BUFFER`` real images, K = ``model.num_classes`` centres μ_k,
        c(x) = argmin_k ‖φ(x) − μ_k‖²;
    every ``model.recluster_every`` D steps the buffer is re-clustered in D's *current* feature space,
        the new centres initialised at the means of the points under their current labels
        (μ'_k = mean{φ'(x) : c(x) = k}), so cluster k keeps its meaning across re-clusterings;
    the first clustering (on D's features at initialisation, as in the paper) uses k-means++ seeding;
    training: the conditional GAN (models/cgan.py) on pairs (c(x̂), x̂); fakes are drawn for the real
        batch's clusters in D's step and for clusters drawn from the empirical frequencies
        π_k = |{x in buffer : c(x) = k}| / |buffer| in G's step;
    sampling: c ~ π (stored in the generator, so exports and ``gankit sample`` draw like the data).

``model.cluster_on=pixels`` clusters a fixed unsupervised feature instead of D's: the top ``PIXEL_COMPONENTS``
principal components of the pixels, fitted on the buffer at the first clustering (x̄ the buffer's mean image,
V its leading right singular vectors, φ(x) = V (x − x̄)). Early in training D's features are near random;
the principal components are as good at step 16 as at step 5,000 and never move under G's conditioning.

Everything of the cgan recipe composes: projection or AC-GAN conditioning, matching-aware negatives
(real images under a wrong cluster), R1, instance noise, spectral norm, EMA. No label of the data set is
ever read: the trainer hands this recipe images alone.
"""

from __future__ import annotations

import logging
import math
from typing import Any, cast

import torch
import torch.distributed as torch_dist
from torch import Tensor, nn

from gankit.errors import ConfigError
from gankit.evalmode import evaluating
from gankit.models.cgan import CGAN
from gankit.models.clusters import PIXEL_COMPONENTS, Clusters, assign, kmeans, kmeans_pp_init
from gankit.nets.conditional import ConditionalGenerator, build_conditional_generator
from gankit.registry import RECIPES

log = logging.getLogger("gankit")

DEFAULT_CLUSTERS = 20  # K when model.num_classes = 0
BUFFER = 4096  # real images kept for clustering (the most recent ones D has seen)
FIRST = 1024  # real images seen before the first clustering (on D's features near initialisation)


class ClusterGenerator(ConditionalGenerator):
    """G(z, c) whose unlabelled draws take clusters c ~ π, the empirical cluster frequencies (a buffer,
    saved with the weights); before the first clustering π is uniform."""

    cluster_freq: Tensor
    data_classes = False  # its classes are clusters, not the data set's: conditional metrics leave it out

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register_buffer("cluster_freq", torch.full((self.num_classes,), 1.0 / self.num_classes))

    def sample_noise(self, n: int, device: torch.device | str | None = None, generator: torch.Generator | None = None,
                     labels: Tensor | int | None = None) -> Tensor:
        if labels is None:
            gen_dev = generator.device if generator is not None else device
            pi = self.cluster_freq.detach().float().clamp(min=0).to(gen_dev)
            labels = torch.multinomial(pi / pi.sum(), n, replacement=True, generator=generator)
        return super().sample_noise(n, device, generator, labels)


@RECIPES.register("selfcond", description="self-conditioned GAN (Liu et al. 2020): the conditional GAN on k-means "
                                          "clusters of D's own features; no labels needed", data="image")
class SelfConditionedGAN(CGAN):
    """Unlabelled images in, a conditional GAN on D-feature clusters inside (see the module docstring).

    Args:
        cfg: the run's Config (``model.num_classes`` = the number of clusters K, resolved by
            :meth:`prepare_config`; ``model.recluster_every``).
        data_shape: shape of one image.
        device: where the networks live.
    """

    uses_labels = False  # the data's labels are never read

    @staticmethod
    def prepare_config(cfg: Any, dataset: Any) -> None:
        """K = ``model.num_classes``; 0 picks ``DEFAULT_CLUSTERS`` (the data set's labels are not consulted)."""
        if cfg.model.num_classes == 0:
            cfg.model.num_classes = DEFAULT_CLUSTERS
        if cfg.model.num_classes < 2:
            raise ConfigError(f"model.recipe=selfcond needs model.num_classes >= 2 clusters, "
                              f"got {cfg.model.num_classes}")

    @staticmethod
    def build_generator(cfg: Any, data_shape: tuple[int, ...]) -> nn.Module:
        """The generator alone (api.load_generator rebuilds exports with it): G(z, c), c ~ π when unlabelled."""
        if cfg.model.num_classes < 2:
            raise ConfigError("model.num_classes must be resolved (>= 2 clusters) to build a self-conditioned "
                              "generator")
        return build_conditional_generator(cfg, data_shape, cfg.model.num_classes, ClusterGenerator)

    def __init__(self, cfg: Any, data_shape: tuple[int, ...], device: torch.device | str = "cpu") -> None:
        if cfg.model.condition not in ("projection", "acgan"):
            raise ConfigError("model.recipe=selfcond clusters D's features φ(x), which D(x, c) by concatenation does "
                              "not have: set model.condition=projection or acgan")
        pixels = math.prod(data_shape)
        if cfg.model.cluster_on == "pixels" and pixels < PIXEL_COMPONENTS:
            raise ConfigError(f"model.cluster_on=pixels keeps {PIXEL_COMPONENTS} principal components, but an "
                              f"image has only {pixels} pixels: use model.cluster_on=features")
        super().__init__(cfg, data_shape, device)
        self.recluster_every = int(cfg.model.recluster_every)
        self.on_pixels = cfg.model.cluster_on == "pixels"
        self.phi = self.discriminator.features  # φ, D up to its scoring head
        if self.on_pixels:
            dim = PIXEL_COMPONENTS
        else:
            dim = int(self.phi(torch.zeros(1, *data_shape, device=self.device)).flatten(1).shape[1])
        self.clusters = Clusters(self.num_classes, dim, pixels if self.on_pixels else 0).to(self.device)
        self.discriminator.add_module("clusters", self.clusters)  # saved, loaded and moved with D
        self.buffer = torch.zeros(0, *data_shape, device=self.device)  # recent real images (not checkpointed)
        self.buffer_labels = torch.zeros(0, dtype=torch.long, device=self.device)
        self.d_steps = 0

    # ------------------------------------------------------------------ clusters
    @property
    def cluster_freq(self) -> Tensor:
        """π (K,), held by the generator."""
        return cast(ClusterGenerator, self.generator).cluster_freq

    @torch.no_grad()
    def features(self, x: Tensor) -> Tensor:
        """φ(x) (B, dim), float32: D's features with D in eval mode (per-sample features, no batch statistics),
        or with ``model.cluster_on=pixels`` the principal components of the pixels."""
        if self.on_pixels:
            return self.clusters.project(x.flatten(1).float())
        with evaluating(self.discriminator):
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            return torch.cat([self.phi(c).flatten(1).float() for c in x.split(256)])

    @torch.no_grad()
    def clusters_of(self, x: Tensor) -> Tensor:
        """(B,) cluster of each real image: the nearest centre in D's feature space (0 before any clustering)."""
        if int(self.clusters.clustered) == 0:
            return torch.zeros(len(x), dtype=torch.long, device=x.device)
        return assign(self.features(x), self.clusters.centres)

    @torch.no_grad()
    def recluster(self) -> None:
        """k-means on φ of the buffer (k-means++ the first time, then from the means under the current labels);
        sets the centres and the generator's cluster frequencies π (``cluster_on=pixels``: the first one fits
        the principal axes on the buffer)."""
        if self.on_pixels and int(self.clusters.clustered) == 0:
            self.clusters.fit_pca(self.buffer.flatten(1).float())
            if torch_dist.is_available() and torch_dist.is_initialized():  # every rank projects on rank 0's axes
                torch_dist.broadcast(self.clusters.mean, 0)
                torch_dist.broadcast(self.clusters.basis, 0)
        feats = self.features(self.buffer)
        k = self.num_classes
        if int(self.clusters.clustered) == 0:
            init = kmeans_pp_init(feats, k)
        else:
            counts = torch.bincount(self.buffer_labels, minlength=k)
            sums = torch.zeros(k, feats.shape[1], device=feats.device).index_add_(0, self.buffer_labels, feats)
            init = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], kmeans_pp_init(feats, k))
        centres, labels = kmeans(feats, init)
        freq = torch.bincount(labels, minlength=k).float() / len(labels)
        if torch_dist.is_available() and torch_dist.is_initialized():  # every rank conditions on rank 0's clusters
            torch_dist.broadcast(centres, 0)
            torch_dist.broadcast(freq, 0)
            labels = assign(feats, centres)
        self.clusters.centres.copy_(centres)
        self.clusters.clustered += 1
        self.cluster_freq.copy_(freq.to(self.cluster_freq))
        self.buffer_labels = labels

    def _remember(self, x: Tensor, y: Tensor) -> None:
        """Keep the newest ``BUFFER`` real images and the clusters they were trained under."""
        self.buffer = torch.cat([self.buffer, x.detach().float()])[-BUFFER:]
        self.buffer_labels = torch.cat([self.buffer_labels, y])[-BUFFER:]

    def _draw_clusters(self, n: int) -> Tensor:
        """(n,) clusters c ~ π for the generator's step."""
        pi = self.cluster_freq.float()
        return torch.multinomial(pi / pi.sum(), n, replacement=True).to(self.device)

    # ------------------------------------------------------------------ steps
    def d_step(self, batch: Tensor) -> dict[str, Tensor]:  # type: ignore[override]  # images, not (images, labels)
        """Label the real batch by its nearest cluster, then the conditional GAN's D step on the pairs."""
        y = self.clusters_of(batch)
        self._remember(batch, y)
        self.d_steps += 1
        stats = super().d_step((batch, y))
        first = int(self.clusters.clustered) == 0 and len(self.buffer) >= min(BUFFER, max(FIRST, self.num_classes))
        if first or (self.d_steps % self.recluster_every == 0 and len(self.buffer) >= self.num_classes):
            self.recluster()
        if self.stats_wanted:
            pi = self.cluster_freq.float().clamp(min=1e-12)
            stats["clusters_used"] = (pi > 0.5 / self.num_classes).float().sum()
            stats["cluster_entropy"] = -(pi * pi.log()).sum() / torch.log(torch.tensor(float(self.num_classes)))
        return stats

    def g_step(self, batch: Tensor) -> dict[str, Tensor]:  # type: ignore[override]  # images, not (images, labels)
        """The conditional GAN's G step for clusters drawn from π."""
        return super().g_step((batch, self._draw_clusters(len(batch))))

    def discriminator_scores(self, real: Tensor, generator: torch.Generator | None = None  # type: ignore[override]
                             ) -> tuple[Tensor, Tensor]:
        """D(x̂, c(x̂)) and D(G(z, c(x̂)), c(x̂)): the conditional scores at the real images' clusters."""
        return super().discriminator_scores((real, self.clusters_of(real)), generator)

