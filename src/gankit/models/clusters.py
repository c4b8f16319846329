"""k-means and a principal-components projection: the pseudo-classes of the self-conditioned GAN
(:mod:`gankit.models.selfcond`) and of the adversarial autoencoder's cluster prior (:mod:`gankit.models.autoencoder`,
``model.prior_clusters``).

    assignment:  c(x) = argmin_k ‖x − μ_k‖²;  update: μ_k = mean{x : c(x) = k}   (Lloyd's algorithm)
    seeding:     k-means++ (Arthur & Vassilvitskii 2007), each next centre drawn ∝ D(x)², the squared
                 distance to the nearest centre chosen so far
    projection:  φ(x) = V (x − x̄), x̄ the mean row, V the leading right singular vectors of the centred rows
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

PIXEL_COMPONENTS = 32  # principal components of the pixels that k-means sees (selfcond cluster_on=pixels, aae)
KMEANS_ITERS = 25  # Lloyd iterations per clustering (it stops earlier once no label changes)


def assign(x: Tensor, centres: Tensor) -> Tensor:
    """(N,) index of the nearest centre of each row of ``x`` (N, d) among ``centres`` (K, d)."""
    return torch.cdist(x.float(), centres.float()).argmin(dim=1)


def kmeans_pp_init(x: Tensor, k: int) -> Tensor:
    """k-means++ seeding (Arthur & Vassilvitskii 2007): each next centre drawn with probability ∝ D(x)²,
    the squared distance to the nearest centre chosen so far (global RNG)."""
    centres = [x[int(torch.randint(len(x), ()))]]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        p = d2.clamp(min=0)
        idx = int(torch.multinomial(p / p.sum(), 1)) if float(p.sum()) > 0 else int(torch.randint(len(x), ()))
        centres.append(x[idx])
        d2 = torch.minimum(d2, ((x - x[idx]) ** 2).sum(1))
    return torch.stack(centres)


def kmeans(x: Tensor, init: Tensor, iters: int = KMEANS_ITERS) -> tuple[Tensor, Tensor]:
    """Lloyd's k-means from centres ``init`` (K, d): (centres (K, d), labels (N,)).

    Alternates c(x) = argmin_k ‖x − μ_k‖² and μ_k = mean{x : c(x) = k}; an emptied cluster is re-seeded
    at the point farthest from its centre, so all K clusters stay in use while N ≥ K.
    """
    x = x.float()
    centres = init.float().clone()
    k = len(centres)
    labels = assign(x, centres)
    for _ in range(iters):
        counts = torch.bincount(labels, minlength=k)
        sums = torch.zeros_like(centres).index_add_(0, labels, x)
        centres = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], centres)
        for j in torch.nonzero(counts == 0).flatten().tolist():
            far = int(((x - centres[labels]) ** 2).sum(1).argmax())
            centres[j] = x[far]
            labels[far] = j
        new = assign(x, centres)
        if torch.equal(new, labels):
            break
        labels = new
    return centres, labels


def inertia(x: Tensor, centres: Tensor, labels: Tensor) -> float:
    """Σ_i ‖x_i − μ_{c(x_i)}‖²: the sum of squared distances k-means minimises."""
    return float(((x.float() - centres.float()[labels]) ** 2).sum())


@torch.no_grad()
def kmeans_restarts(x: Tensor, k: int, seed: int, restarts: int = 4, iters: int = 100) -> tuple[Tensor, Tensor]:
    """k-means on the CPU from ``restarts`` k-means++ seedings (the first under ``seed``, the next under ``seed`` + 1,
    ...); the run of least :func:`inertia` wins: (centres (k, d), labels (N,)), on the CPU. Deterministic for a
    seed, and the global RNG does not move (each seeding draws from a forked one)."""
    if restarts < 1:
        raise ValueError(f"restarts must be >= 1, got {restarts}")
    x = x.detach().float().cpu()
    best: tuple[float, Tensor, Tensor] | None = None
    for r in range(restarts):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + r)
            init = kmeans_pp_init(x, k)
        centres, labels = kmeans(x, init, iters)
        score = inertia(x, centres, labels)
        if best is None or score < best[0]:
            best = (score, centres, labels)
    assert best is not None  # restarts >= 1
    return best[1], best[2]


class Clusters(nn.Module):
    """The K cluster centres in the clustered feature space (buffers: checkpointed with D, whose submodule this
    is), and when the pixels are clustered (selfcond's ``model.cluster_on=pixels``, the AAE's
    ``model.prior_clusters=pixels``) the principal axes: φ(x) = basis (flat(x) − mean)."""

    centres: Tensor
    clustered: Tensor
    mean: Tensor
    basis: Tensor

    def __init__(self, k: int, dim: int, pixels: int = 0) -> None:
        super().__init__()
        self.register_buffer("centres", torch.zeros(k, dim))
        self.register_buffer("clustered", torch.zeros((), dtype=torch.long))  # how many clusterings so far
        if pixels:  # only then, so that checkpoints of D-feature runs keep their keys
            self.register_buffer("mean", torch.zeros(pixels))
            self.register_buffer("basis", torch.zeros(dim, pixels))

    def fit_pca(self, x: Tensor) -> None:
        """Principal axes of the rows of ``x`` (N, pixels): x̄ and the leading right singular vectors of x − x̄."""
        self.mean.copy_(x.mean(0))
        _, _, vh = torch.linalg.svd(x - self.mean, full_matrices=False)
        self.basis.copy_(vh[:len(self.basis)])

    def project(self, x: Tensor) -> Tensor:
        """φ(x) = basis (x − x̄) for rows of ``x`` (N, pixels): (N, dim)."""
        return (x - self.mean) @ self.basis.T
