"""A learned prior over caption embeddings: p(φ(full caption) | φ(caption)), a mixture density network.

A caption that leaves an attribute unsaid ("a red circle at the top": no size) stands for several full
captions ("a small red circle at the top", "a big red circle at the top"). Two-stage text-to-image models
draw the image embedding from a learnt prior given the caption's (Ramesh et al. 2022, "Hierarchical
Text-Conditional Image Generation with CLIP Latents"); here the prior stays on the text side: it maps the
embedding x = φ(t) of any caption to a distribution over the embeddings y = φ(t') of the full captions t'
that complete it, learnt from pairs (x, y) of captions of one training image. It is a mixture density
network (Bishop 1994, "Mixture Density Networks"): an MLP h(x) gives, for each of K components, a logit a_k,
a shift δ_k and a log standard deviation s_k (diagonal Gaussians in φ-space, D = dim φ):

    p(y | x) = Σ_k π_k(x) N(y; μ_k(x), diag σ_k(x)²),     π = softmax(a),   μ_k = x + δ_k,
                                                           log σ_k = clamp(s_k, LOG_STD_MIN, LOG_STD_MAX)

(the means are residual, x + δ_k, so that a caption that already names everything can map to itself with
δ = 0). It is trained by the negative log-likelihood (:func:`mixture_nll`, by log-sum-exp)

    −log p(y | x) = −log Σ_k exp(log π_k − ½ Σ_d ((y_d − μ_kd) / σ_kd)² − Σ_d log σ_kd − (D/2) log 2π)

with Adam on fixed embeddings (:func:`fit_prior`), and sampled as k ~ Categorical(π(x)), y = μ_k(x) + τ σ_k(x) ⊙ ε,
ε ~ N(0, I) (:meth:`CaptionPrior.sample`; τ = ``temperature``, 1: the fitted mixture, 0: the component means).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["COMPONENTS", "HIDDEN", "CaptionPrior", "fit_prior", "mixture_nll"]

COMPONENTS = 24  # K: a caption without size and position has 2 x 9 = 18 completions
HIDDEN = 128  # the MLP's width
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0  # σ in [0.0067, 7.4]: no component collapses onto a single point
FIT_BATCH, FIT_LR = 256, 2e-3  # fit_prior's defaults


def mixture_nll(logits: Tensor, mean: Tensor, log_std: Tensor, target: Tensor) -> Tensor:
    """−log p(y | x) per row for a diagonal-Gaussian mixture (the module docstring's NLL), (B,).

    Args:
        logits: (B, K) unnormalised log weights a (π = softmax(a)).
        mean: (B, K, D) component means μ.
        log_std: (B, K, D) log σ.
        target: (B, D) y.
    """
    z = (target[:, None, :] - mean) * torch.exp(-log_std)
    d = target.shape[1]
    log_normal = -0.5 * z.pow(2).sum(dim=2) - log_std.sum(dim=2) - 0.5 * d * math.log(2 * math.pi)  # (B, K)
    return -torch.logsumexp(F.log_softmax(logits, dim=1) + log_normal, dim=1)


class CaptionPrior(nn.Module):
    """x (B, D) -> the mixture p(y | x) of the module docstring: ``forward`` gives (logits (B, K), means
    (B, K, D), log σ (B, K, D)); ``nll(x, y)`` the per-row negative log-likelihood; ``sample(x)`` draws y.

    Args:
        dim: D, the embedding's size.
        components: K.
        hidden: the MLP's width (two ReLU layers).
    """

    def __init__(self, dim: int, components: int = COMPONENTS, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.dim, self.components = dim, components
        self.body = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        # torch's default initialisation: every component starts with its own small random shift δ_k(x), which
        # is what lets them take different completions (identical components would move together)
        self.head = nn.Linear(hidden, components * (1 + 2 * dim))
        self.temperature = 1.0  # τ: σ's scale when sampling (not saved: a sampling choice, 1 by default)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        out = self.head(self.body(x))
        k = self.components
        logits, rest = out[:, :k], out[:, k:].reshape(len(x), k, 2, self.dim)
        mean = x[:, None, :] + rest[:, :, 0]
        log_std = rest[:, :, 1].clamp(LOG_STD_MIN, LOG_STD_MAX)
        return logits, mean, log_std

    def nll(self, x: Tensor, y: Tensor) -> Tensor:
        """−log p(y | x) per row, (B,)."""
        logits, mean, log_std = self(x)
        return mixture_nll(logits, mean, log_std, y)

    @torch.no_grad()
    def sample(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One draw y ~ p(· | x) per row, (B, D) on x's device; the randomness from ``generator`` (on its
        device) when given, torch's global RNG otherwise."""
        logits, mean, log_std = self(x)
        dev = generator.device if generator is not None else x.device
        logits, mean, log_std = logits.to(dev), mean.to(dev), log_std.to(dev)
        k = torch.multinomial(torch.softmax(logits, dim=1), 1, generator=generator).squeeze(1)
        eps = torch.randn(len(x), self.dim, generator=generator, device=dev)
        rows = torch.arange(len(x), device=dev)
        return (mean[rows, k] + self.temperature * log_std[rows, k].exp() * eps).to(x.device)


def fit_prior(prior: CaptionPrior, x: Tensor, y: Tensor, steps: int, batch: int = FIT_BATCH, lr: float = FIT_LR,
              generator: torch.Generator | None = None) -> list[float]:
    """Fit ``prior`` to pairs (x_i, y_i) (both (N, D)) by Adam on the mean NLL of minibatches of ``batch`` rows
    drawn with replacement (from ``generator``). Returns each step's mean NLL; leaves no gradients behind
    and the prior in eval mode."""
    opt = torch.optim.Adam(prior.parameters(), lr=lr)
    prior.train()
    losses = []
    for _ in range(steps):
        idx = torch.randint(len(x), (min(batch, len(x)),), generator=generator)
        loss = prior.nll(x[idx], y[idx]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    prior.zero_grad(set_to_none=True)
    prior.eval()
    return losses
