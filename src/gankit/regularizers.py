"""Regularisers that recipes add to an objective (docs/architecture.md rule 3: they compose; objectives never
hold them).

- :func:`clip_weights_`: weight clipping, Arjovsky, Chintala, Bottou, "Wasserstein GAN" (ICML 2017),
  Algorithm 1 (clip c = 0.01); Lai 2017, GAN survey slides ("Algorithm in WGAN ... Weight clipping").
  Keeps the critic in a compact parameter set, hence K-Lipschitz for some K.
- :func:`gradient_penalty`: Gulrajani, Ahmed, Arjovsky, Dumoulin, Courville, "Improved Training of
  Wasserstein GANs" (NeurIPS 2017), eq. 3 (λ = 10): λ E_x̂[(‖∇_x̂ D(x̂)‖₂ − 1)²] on random interpolates.
- :func:`r1_penalty`: Mescheder, Geiger, Nowozin, "Which Training Methods for GANs do actually
  Converge?" (ICML 2018), eq. 9: γ/2 E_{x~P_data}[‖∇_x D(x)‖²].
- :func:`add_instance_noise`: Gaussian noise on the discriminator's inputs (Sønderby et al.,
  "Amortised MAP Inference for Image Super-resolution", ICLR 2017; Arjovsky & Bottou, "Towards
  Principled Methods for Training Generative Adversarial Networks", ICLR 2017): it makes the supports of
  P_data and P_G overlap, so the discriminator cannot become perfect and its gradients do not vanish.
- :func:`lipschitz_estimate`: a lower estimate of a critic's Lipschitz constant from pairs of points
  (a diagnostic for the two constraints above).

The penalties return a scalar to *add* to the critic's loss; they call the critic themselves, so a
recipe writes ``loss = objective.d_loss(D(x), D(x̃)) + gradient_penalty(D, x, x̃)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn


def clip_weights_(module: nn.Module, c: float) -> nn.Module:
    """Clamp every parameter of ``module`` into [−c, c] in place (WGAN, after each critic update).

    Args:
        module: the critic.
        c: clip value, > 0 (WGAN uses 0.01).
    Returns:
        ``module`` (for chaining). Clipping twice changes nothing.
    """
    if not c > 0:
        raise ValueError(f"clip value c must be positive, got {c}")
    with torch.no_grad():
        for p in module.parameters():
            p.clamp_(-c, c)  # w <- clip(w, −c, c)
    return module


def _per_sample_grad_norm(critic: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """‖∇_x D(x)‖₂ per sample, (B,), with create_graph=True so the penalty can be back-propagated."""
    out = critic(x)  # (B,): each sample's score depends only on its own input
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)  # (B, *sample_shape)
    return torch.linalg.vector_norm(grad.flatten(1), dim=1)  # (B,)


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    weight: float = 10.0,
    target: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """WGAN-GP: λ E_x̂[(‖∇_x̂ D(x̂)‖₂ − target)²], x̂ = ε x + (1 − ε) x̃, ε ~ U[0, 1] per sample.

    Args:
        critic: maps (B, *shape) to (B,) raw scores.
        real: (B, *shape) data samples x.
        fake: (B, *shape) generator samples x̃ (detached here: the penalty trains the critic only).
        weight: λ (Gulrajani et al.: 10).
        target: the gradient norm the penalty pulls towards (1 for a 1-Lipschitz critic).
        generator: optional private RNG for ε.
    Returns:
        Scalar penalty, differentiable in the critic's parameters (create_graph=True).
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake batches must have the same shape, got {tuple(real.shape)} and "
                         f"{tuple(fake.shape)}")
    eps_shape = (real.shape[0],) + (1,) * (real.dim() - 1)  # (B, 1, ..., 1): broadcasts over any sample shape
    eps = torch.rand(eps_shape, generator=generator, dtype=real.dtype, device=real.device)
    x_hat = (eps * real.detach() + (1.0 - eps) * fake.detach()).requires_grad_(True)  # x̂ = εx + (1−ε)x̃
    norm = _per_sample_grad_norm(critic, x_hat)  # ‖∇_x̂ D(x̂)‖₂
    return weight * ((norm - target) ** 2).mean()  # λ (‖∇D(x̂)‖ − 1)²


def r1_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, weight: float) -> Tensor:
    """R1: γ/2 · E_{x~P_data}[‖∇_x D(x)‖²], the gradient penalty on real data only (Mescheder et al. 2018).

    Args:
        critic: maps (B, *shape) to (B,) raw scores.
        real: (B, *shape) data samples.
        weight: γ.
    Returns:
        Scalar penalty, differentiable in the critic's parameters.
    """
    x = real.detach().requires_grad_(True)
    out = critic(x)  # (B,)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)  # (B, *shape)
    return 0.5 * weight * grad.flatten(1).pow(2).sum(dim=1).mean()  # γ/2 ‖∇D(x)‖²


def d_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, reg: Any) -> Tensor:
    """The ``reg`` section's gradient penalties of a critic, summed: WGAN-GP's λ E(‖∇D(x̂)‖ − 1)² with
    λ = ``reg.gradient_penalty`` (:func:`gradient_penalty`) plus R1's γ/2 E‖∇D(x)‖² with γ = ``reg.r1``
    (:func:`r1_penalty`); a zero scalar when both are off. One place for every recipe's D step."""
    penalty = torch.zeros((), device=real.device)
    if reg.gradient_penalty > 0:
        penalty = penalty + gradient_penalty(critic, real, fake, weight=reg.gradient_penalty)
    if reg.r1 > 0:
        penalty = penalty + r1_penalty(critic, real, weight=reg.r1)
    return penalty


def add_instance_noise(x: Tensor, std: float, generator: torch.Generator | None = None) -> Tensor:
    """x + σ·n, n ~ N(0, I): instance noise on the discriminator's inputs (real and fake alike).

    Args:
        x: (B, *shape) inputs.
        std: σ >= 0; 0 returns ``x`` itself (no copy, no RNG draw).
        generator: optional private RNG.
    Returns:
        Tensor of x's shape.
    """
    if std < 0:
        raise ValueError(f"instance noise std must be >= 0, got {std}")
    if std == 0:
        return x
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return x + std * noise  # x + σ n


@torch.no_grad()
def lipschitz_estimate(critic: nn.Module, x: Tensor, y: Tensor) -> float:
    """max_{i,j} |D(x_i) − D(y_j)| / ‖x_i − y_j‖₂ over all pairs with x_i ≠ y_j (a lower bound on Lip(D)).

    Args:
        critic: maps (B, *shape) to (B,) scores.
        x: (N, *shape) points.
        y: (M, *shape) points.
    Returns:
        The largest difference quotient (0.0 when every pair coincides).
    """
    dx = critic(x).flatten().double()  # (N,)
    dy = critic(y).flatten().double()  # (M,)
    dist = torch.cdist(x.flatten(1).double(), y.flatten(1).double(),
                       compute_mode="donot_use_mm_for_euclid_dist")  # (N, M)
    diff = (dx[:, None] - dy[None, :]).abs()  # (N, M)
    ok = dist > 0
    if not ok.any():
        return 0.0
    return float((diff[ok] / dist[ok]).max())


__all__ = ["add_instance_noise", "clip_weights_", "gradient_penalty", "lipschitz_estimate", "r1_penalty"]
