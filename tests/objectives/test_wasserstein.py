"""WGAN's critic game against its definition (both directions), its constant gradients, and the hinge loss
that is not WGAN."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from gankit.metrics.divergences import wasserstein_1d_exact
from gankit.objectives.minimax import discriminator_loss
from gankit.objectives.wasserstein import (
    HINGE,
    WGAN,
    hinge_d_loss,
    hinge_g_loss,
    wasserstein_estimate,
    wgan_d_loss,
    wgan_g_loss,
)
from gankit.registry import OBJECTIVES

D64 = torch.float64


def test_registered_wgan_is_the_kantorovich_rubinstein_dual():
    assert OBJECTIVES.get("wgan") is WGAN
    assert WGAN.d_loss is wgan_d_loss and WGAN.g_loss is wgan_g_loss and WGAN.to_prob is None
    assert OBJECTIVES.get("hinge").d_loss is hinge_d_loss
    assert OBJECTIVES.get("hinge").d_loss is not OBJECTIVES.get("wgan").d_loss


def test_critic_loss_is_minus_the_difference_of_means():
    gen = torch.Generator().manual_seed(0)
    real, fake = 5 * torch.randn(37, generator=gen, dtype=D64), 5 * torch.randn(53, generator=gen, dtype=D64)
    expected = -(real.sum() / 37 - fake.sum() / 53)  # −(E[D(real)] − E[D(fake)])
    assert_close(wgan_d_loss(real, fake), expected, rtol=1e-15, atol=1e-15)
    assert_close(wasserstein_estimate(real, fake), -expected, rtol=1e-15, atol=1e-15)
    assert_close(wgan_g_loss(fake), -fake.sum() / 53, rtol=1e-15, atol=1e-15)
    # no log, no sigmoid: shifting every score by c changes nothing, scaling by k scales the loss by k
    assert_close(wgan_d_loss(real + 3.0, fake + 3.0), wgan_d_loss(real, fake))
    assert_close(wgan_d_loss(7 * real, 7 * fake), 7 * wgan_d_loss(real, fake))


def test_gradients_are_constant_in_the_scores():
    """No saturation: ∂/∂real_i = −1/B and ∂/∂fake_i = +1/B whatever the scores (a log loss's slope vanishes
    once the discriminator is confident)."""
    real = torch.tensor([-1e4, -3.0, 0.0, 2.0, 1e4], dtype=D64, requires_grad=True)
    fake = torch.tensor([-1e4, -1.0, 0.5, 9.0, 1e4], dtype=D64, requires_grad=True)
    g_real, g_fake = torch.autograd.grad(wgan_d_loss(real, fake), (real, fake))
    assert_close(g_real, torch.full_like(g_real, -1 / 5))
    assert_close(g_fake, torch.full_like(g_fake, 1 / 5))
    (g_g,) = torch.autograd.grad(wgan_g_loss(fake), fake)
    assert_close(g_g, torch.full_like(g_g, -1 / 5))
    # the minimax loss's slope in a confident real score is ~0 where WGAN's is still −1/B
    (g_log,) = torch.autograd.grad(discriminator_loss(real, fake.detach()), real)
    assert abs(float(g_log[-1])) < 1e-12 and float(g_real[-1]) == pytest.approx(-0.2)


def test_dual_with_a_1_lipschitz_critic_lower_bounds_the_earth_movers_distance():
    """Kantorovich-Rubinstein: for any 1-Lipschitz f, Ŵ = mean f(x) − mean f(y) <= W1 of the two samples,
    with equality for the optimal f (a translation in 1-D: f(x) = −x)."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2000, generator=gen, dtype=D64)
    y = x + 0.7  # the same cloud shifted by θ = 0.7: W1 = 0.7 exactly
    w1 = wasserstein_1d_exact(x.numpy(), y.numpy())
    assert w1 == pytest.approx(0.7, abs=1e-12)
    assert float(wasserstein_estimate(-x, -y)) == pytest.approx(w1, abs=1e-12)  # optimal critic f(x) = −x
    for critic in (torch.tanh, lambda t: -torch.abs(t), lambda t: -torch.sin(t)):  # 1-Lipschitz, not optimal
        assert float(wasserstein_estimate(critic(x), critic(y))) <= w1 + 1e-12
        assert float(wasserstein_estimate(critic(x), critic(y))) < w1 - 1e-3


def test_hinge_differs_from_wgan_exactly_outside_the_margin():
    inside = torch.tensor([-0.9, -0.2, 0.0, 0.4, 0.99], dtype=D64)
    # inside the margin hinge = 2 + WGAN (relu(1 − r) = 1 − r and relu(1 + f) = 1 + f): same gradients
    assert_close(hinge_d_loss(inside, inside.flip(0)), 2 + wgan_d_loss(inside, inside.flip(0)))
    real = torch.tensor([-2.0, 0.5, 1.5, 4.0], dtype=D64, requires_grad=True)
    fake = torch.tensor([-4.0, -1.5, -0.5, 2.0], dtype=D64, requires_grad=True)
    g_real, g_fake = torch.autograd.grad(hinge_d_loss(real, fake), (real, fake))
    assert_close(g_real, torch.tensor([-0.25, -0.25, 0.0, 0.0], dtype=D64))  # real > 1: no push any more
    assert_close(g_fake, torch.tensor([0.0, 0.0, 0.25, 0.25], dtype=D64))  # fake < −1: no push any more
    w_real, w_fake = torch.autograd.grad(wgan_d_loss(real, fake), (real, fake))
    assert not torch.allclose(g_real, w_real) and not torch.allclose(g_fake, w_fake)
    # and the loss values separate once a score leaves the margin: hinge > 2 + WGAN
    assert float(hinge_d_loss(real, fake).detach()) > float(2 + wgan_d_loss(real, fake).detach()) + 0.5
    assert_close(hinge_g_loss(fake), wgan_g_loss(fake))  # the generator losses do coincide


def test_hinge_follows_the_sign_convention_where_it_has_a_slope():
    """Higher = more real, in the weak form a margin loss can satisfy: non-increasing in real scores,
    non-decreasing in fake ones, strictly inside the margin."""
    real = torch.linspace(-3, 3, 13, requires_grad=True)
    fake = torch.linspace(-3, 3, 13, requires_grad=True)
    g_real, g_fake = torch.autograd.grad(HINGE.d_loss(real, fake), (real, fake))
    assert bool((g_real <= 0).all()) and bool((g_fake >= 0).all())
    assert bool((g_real[real.detach() < 1] < 0).all()) and bool((g_fake[fake.detach() > -1] > 0).all())
    (g_g,) = torch.autograd.grad(HINGE.g_loss(fake), fake)
    assert bool((g_g < 0).all())
