"""The Wasserstein GAN critic game, and the hinge loss (which is a different game).

Arjovsky, Chintala, Bottou, "Wasserstein GAN" (ICML 2017); Lai 2017, GAN survey slides ("Ideas in
WGAN", "Earth Mover's Distance", "Algorithm in WGAN: output layer of D do not use sigmoid, eliminate
the log in G and D loss, weight clipping"), with Utkin, GAN lecture (SPbPU) for the earth mover's
distance itself; it replaces the log-loss game V(G, D) of Hung-yi Lee, GAN lecture (ATDL 14).

WGAN (``"wgan"``). The Kantorovich-Rubinstein duality writes the earth mover's distance as

    W(P_r, P_g) = sup_{‖f‖_L <= 1} E_{x~P_r}[f(x)] − E_{x~P_g}[f(x)],

so the critic f (the discriminator's raw score, no sigmoid, no log; docs/architecture.md rule 1) maximises
E[f(x)] − E[f(G(z))] and the generator minimises −E[f(G(z))]:

    d_loss(real, fake) = mean f(fake) − mean f(real)        (= −Ŵ, the negated dual objective)
    g_loss(fake)       = −mean f(fake)

Both are linear in the scores: their gradients are the constants ∓1/B whatever the scores, so the critic
never saturates. The Lipschitz constraint is *not* in the loss: it is a regulariser that the recipe adds
(docs/architecture.md rule 3): weight clipping (``gankit.regularizers.clip_weights_``, Arjovsky et al.) or the
gradient penalty (``gankit.regularizers.gradient_penalty``, Gulrajani et al. 2017). Without one of
them the critic's loss is unbounded below. ``to_prob`` is None: a critic's score is no probability.

Hinge (``hinge``, functions :func:`hinge_d_loss` / :func:`hinge_g_loss`; Lim & Ye, "Geometric GAN",
2017; Miyato et al., "Spectral Normalization for Generative Adversarial Networks", 2018):

    d_loss(real, fake) = mean relu(1 − real) + mean relu(1 + fake)
    g_loss(fake)       = −mean fake

This is NOT WGAN (docs/architecture.md lists "a 'WGAN' loss that is really hinge" as a known defect): the critic
stops being pushed once a real score exceeds +1 or a fake score falls below −1 (zero gradient there), a
margin (SVM) objective, not an estimate of the earth mover's distance; it agrees with WGAN's critic
gradient only where |score| < 1. Its generator loss happens to be WGAN's.

The shared contract test (tests/test_contracts.py) asks of every objective that D's loss is
non-increasing in real scores and non-decreasing in fake scores, strictly inside the margin, which
hinge satisfies (its gradient is zero beyond the margin, by design).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from gankit.objectives.base import Objective
from gankit.registry import OBJECTIVES


def wasserstein_estimate(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """Ŵ = mean f(x) − mean f(x̃): the dual objective, an estimate of W1 when f is 1-Lipschitz and optimal.

    Args:
        real_scores: (B,) critic scores f(x) of data samples.
        fake_scores: (B',) critic scores f(G(z)) of generator samples.
    Returns:
        Scalar (it is a lower bound on W1 for any 1-Lipschitz f, in expectation).
    """
    return real_scores.mean() - fake_scores.mean()  # E_Pr[f] − E_Pg[f]


def wgan_d_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """Critic loss −Ŵ = mean f(fake) − mean f(real) (no log, no sigmoid), minimised by the critic."""
    return fake_scores.mean() - real_scores.mean()  # −(E_Pr[f(x)] − E_Pg[f(x)])


def wgan_g_loss(fake_scores: Tensor) -> Tensor:
    """Generator loss −mean f(G(z)): the part of Ŵ that depends on G, minimised by G."""
    return -fake_scores.mean()  # −E_z[f(G(z))]


def hinge_d_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """Hinge critic loss mean relu(1 − real) + mean relu(1 + fake) (margin 1; NOT WGAN's critic loss)."""
    return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()  # max(0, 1 − f(x)) + max(0, 1 + f(x̃))


def hinge_g_loss(fake_scores: Tensor) -> Tensor:
    """Hinge generator loss −mean f(G(z)) (same expression as WGAN's)."""
    return -fake_scores.mean()  # −E_z[f(G(z))]


WGAN = OBJECTIVES.register("wgan")(
    Objective(
        "wgan",
        wgan_d_loss,
        wgan_g_loss,
        None,
        "Wasserstein GAN: critic maximises E f(x) − E f(G(z)) (KR dual of W1; add clipping or a gradient penalty)",
    )
)

HINGE = OBJECTIVES.register("hinge")(Objective(
    "hinge",
    hinge_d_loss,
    hinge_g_loss,
    None,
    "hinge loss (Lim & Ye 2017, Miyato 2018): critic relu(1 − f(x)) + relu(1 + f(G(z))), G −f(G(z)); not WGAN",
))

__all__ = [
    "HINGE",
    "WGAN",
    "hinge_d_loss",
    "hinge_g_loss",
    "wasserstein_estimate",
    "wgan_d_loss",
    "wgan_g_loss",
]
