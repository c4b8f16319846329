"""The original GAN game and its two generator objectives.

Goodfellow et al., "Generative Adversarial Nets" (2014); Hung-yi Lee, GAN lecture (ATDL 14)
("Algorithm", "Objective Function for Generator in Real Implementation") and Hung-yi Lee, Theory behind GAN.

With D(x) = σ(s(x)) for the discriminator's raw score (logit) s, the value of the game is

    V(G, D) = E_{x~P_data}[log D(x)] + E_{x~P_G}[log(1 - D(x))]                         (lecture: V)

and its sample estimate Ṽ = 1/m Σ log D(x^i) + 1/m Σ log(1 - D(x̃^i)). The discriminator maximises Ṽ,
i.e. minimises the binary cross-entropy -Ṽ with data labelled 1 and samples labelled 0. At D = 1/2
(every score 0) V = -2 log 2, the value of the game at its equilibrium P_G = P_data.

The generator has two objectives, kept as separate code because they differ exactly where it matters:

- MMGAN (saturating, the minimax game itself): minimise E[log(1 - D(G(z)))]. Its slope in D is -1/(1-D),
  flat (-1) where D(G(z)) ≈ 0, which is where a fresh generator lives: "slow at the beginning".
- NSGAN (non-saturating, the lecture's "real implementation"): minimise E[-log D(G(z))], i.e. label the
  samples as real. Slope -1/D, steep where D(G(z)) ≈ 0; same fixed point.

log σ(s) = -softplus(-s) and log(1 - σ(s)) = -softplus(s) are computed with softplus, never as
log(sigmoid(s) + eps).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from gankit.objectives.base import Objective
from gankit.registry import OBJECTIVES


def game_value(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Ṽ(G, D) = 1/m Σ log D(x^i) + 1/m Σ log(1 - D(x̃^i)) (the quantity D maximises).

    Args:
        real_logits: (B,) scores s(x) of data samples.
        fake_logits: (B,) scores s(G(z)) of generator samples.
    Returns:
        Scalar; -2 log 2 when every score is 0 (D = 1/2).
    """
    log_d_real = -F.softplus(-real_logits)  # log σ(s) = log D(x)
    log_one_minus_d_fake = -F.softplus(fake_logits)  # log(1 - σ(s)) = log(1 - D(G(z)))
    return log_d_real.mean() + log_one_minus_d_fake.mean()


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-Ṽ: binary cross-entropy with data labelled 1 and generator samples labelled 0."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()  # -log D(x) - log(1 - D(G(z)))


def bce_with_logits(logits: Tensor, targets: Tensor) -> Tensor:
    """Per-sample binary cross-entropy −[t log σ(s) + (1 − t) log(1 − σ(s))], (B,), with soft targets t."""
    return targets * F.softplus(-logits) + (1.0 - targets) * F.softplus(logits)


def discriminator_loss_targets(real_logits: Tensor, fake_logits: Tensor, real_targets: Tensor,
                               fake_targets: Tensor) -> Tensor:
    """-Ṽ with soft labels: the cross-entropy of data against ``real_targets`` and of samples against
    ``fake_targets`` (each (B,)); targets 1 and 0 give :func:`discriminator_loss` exactly.

    One-sided label smoothing (Salimans et al. 2016, §3.4) sets the real targets to 1 − α; label flipping
    swaps some samples' targets.
    """
    return bce_with_logits(real_logits, real_targets).mean() + bce_with_logits(fake_logits, fake_targets).mean()


def minimax_g_loss(fake_logits: Tensor) -> Tensor:
    """MMGAN: E[log(1 - D(G(z)))], minimised by G (saturates where D(G(z)) ≈ 0)."""
    return (-F.softplus(fake_logits)).mean()  # log(1 - σ(s))


def nonsaturating_g_loss(fake_logits: Tensor) -> Tensor:
    """NSGAN: E[-log D(G(z))], minimised by G (steep where D(G(z)) ≈ 0)."""
    return F.softplus(-fake_logits).mean()  # -log σ(s)


OBJECTIVES.register("mmgan")(
    Objective(
        "mmgan",
        discriminator_loss,
        minimax_g_loss,
        torch.sigmoid,
        "minimax GAN: D maximises V(G, D), G minimises E log(1 - D(G(z))) (saturating)",
        discriminator_loss_targets,
    )
)
OBJECTIVES.register("nsgan")(
    Objective(
        "nsgan",
        discriminator_loss,
        nonsaturating_g_loss,
        torch.sigmoid,
        "non-saturating GAN: D maximises V(G, D), G minimises E -log D(G(z))",
        discriminator_loss_targets,
    )
)
