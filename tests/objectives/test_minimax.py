"""The original GAN's objectives against their closed forms (both directions)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from gankit.objectives.minimax import (
    discriminator_loss,
    game_value,
    minimax_g_loss,
    nonsaturating_g_loss,
)
from gankit.registry import OBJECTIVES

LOG2 = math.log(2.0)


def test_value_at_half_is_minus_two_log_two():
    zeros = torch.zeros(16)
    assert_close(game_value(zeros, zeros), torch.tensor(-2 * LOG2))
    assert_close(discriminator_loss(zeros, zeros), torch.tensor(2 * LOG2))  # -V
    assert_close(minimax_g_loss(zeros), torch.tensor(-LOG2))  # log(1 - 1/2)
    assert_close(nonsaturating_g_loss(zeros), torch.tensor(LOG2))  # -log(1/2)


@pytest.mark.parametrize("d_real,d_fake", [(0.9, 0.2), (0.3, 0.6), (0.999, 0.001)])
def test_losses_match_log_formulas(d_real, d_fake):
    logit = lambda p: torch.tensor([math.log(p / (1 - p))], dtype=torch.float64)  # noqa: E731
    r, f = logit(d_real), logit(d_fake)
    v = math.log(d_real) + math.log(1 - d_fake)
    assert_close(game_value(r, f), torch.tensor(v, dtype=torch.float64))
    assert_close(discriminator_loss(r, f), torch.tensor(-v, dtype=torch.float64))
    assert_close(minimax_g_loss(f), torch.tensor(math.log(1 - d_fake), dtype=torch.float64))
    assert_close(nonsaturating_g_loss(f), torch.tensor(-math.log(d_fake), dtype=torch.float64))


def test_stable_for_extreme_logits():
    big = torch.tensor([200.0, -200.0])
    for value in (discriminator_loss(big, -big), minimax_g_loss(big), nonsaturating_g_loss(big)):
        assert torch.isfinite(value)
    # D(G(z)) = σ(-200) ≈ e^-200: -log D = 200 exactly where log(sigmoid + eps) would give ~18
    assert_close(nonsaturating_g_loss(torch.tensor([-200.0])), torch.tensor(200.0))


def _grad_wrt_d(loss_fn, d: float) -> float:
    """d loss / d D at D(G(z)) = d, through the logit."""
    s = torch.tensor([math.log(d / (1 - d))], dtype=torch.float64, requires_grad=True)
    (g_s,) = torch.autograd.grad(loss_fn(s), s)
    return float(g_s) / (d * (1 - d))  # dL/dD = dL/ds * ds/dD


def test_mmgan_flat_and_nsgan_steep_where_d_of_fake_is_small():
    """The lecture's plot: log(1 - D) is flat near D = 0 (slope -1/(1-D)); -log D is steep (slope -1/D)."""
    for d in (1e-4, 1e-2, 0.1):
        mm, ns = _grad_wrt_d(minimax_g_loss, d), _grad_wrt_d(nonsaturating_g_loss, d)
        assert mm == pytest.approx(-1 / (1 - d), rel=1e-6)
        assert ns == pytest.approx(-1 / d, rel=1e-6)
    assert abs(_grad_wrt_d(nonsaturating_g_loss, 1e-4)) > 1000 * abs(_grad_wrt_d(minimax_g_loss, 1e-4))
    # ... and the other way round near D = 1: MMGAN steep, NSGAN flat
    assert abs(_grad_wrt_d(minimax_g_loss, 1 - 1e-4)) > 1000 * abs(_grad_wrt_d(nonsaturating_g_loss, 1 - 1e-4))


def test_mmgan_and_nsgan_are_different_code_paths():
    f = torch.linspace(-8, 8, 33)
    assert not torch.allclose(minimax_g_loss(f), nonsaturating_g_loss(f))
    # in logit space: MMGAN's gradient -σ(s) vanishes as s -> -inf, NSGAN's -(1 - σ(s)) tends to -1
    s = torch.tensor([-10.0], requires_grad=True)
    (g_mm,) = torch.autograd.grad(minimax_g_loss(s), s)
    (g_ns,) = torch.autograd.grad(nonsaturating_g_loss(s), s)
    assert abs(float(g_mm)) < 1e-4 and float(g_ns) == pytest.approx(-1.0, abs=1e-4)


def _expected_g_gradient(loss_fn, mu: float) -> float:
    """∂/∂μ E_{x~N(μ,1)}[loss(s*(x))] with the optimal D* of p_data = N(0, 1), p_G = N(μ, 1) held fixed.

    With x = μ + ε the derivative is E[loss'(s*(x)) · ds*/dx]; s*(x) = log p_data(x) - log p_G(x) = μ²/2 - μx.
    """
    eps = torch.linspace(-8, 8, 4001, dtype=torch.float64)
    w = torch.exp(-0.5 * eps**2)
    w = w / w.sum()
    x = (mu + eps).requires_grad_(True)
    s = mu**2 / 2 - mu * x  # logit of D*(x) = p_data / (p_data + p_G), D fixed (no dependence through μ)
    total = (w * _per_sample(loss_fn, s)).sum()
    (g,) = torch.autograd.grad(total, x)
    return float(g.sum())


def _per_sample(loss_fn, s: torch.Tensor) -> torch.Tensor:
    """Per-sample losses of a mean-reducing objective: loss(s_i) for each i (vmap over one-element batches)."""
    return torch.func.vmap(lambda si: loss_fn(si.reshape(1)))(s)


@pytest.mark.parametrize("loss_fn", [minimax_g_loss, nonsaturating_g_loss])
def test_both_generator_losses_push_toward_the_same_fixed_point(loss_fn):
    """Against the optimal D, both objectives move p_G = N(μ, 1) toward p_data = N(0, 1), from either side,
    and have no gradient at μ = 0 (where D* = 1/2 everywhere)."""
    for mu in (-1.0, -0.3, 0.3, 1.0):
        g = _expected_g_gradient(loss_fn, mu)
        assert g * mu > 0, f"gradient at μ={mu} is {g}: descent must move μ toward 0"
    assert abs(_expected_g_gradient(loss_fn, 0.0)) < 1e-12


def test_registered_objectives():
    assert {"mmgan", "nsgan"} <= set(OBJECTIVES.names())
    assert OBJECTIVES.get("mmgan").g_loss is minimax_g_loss
    assert OBJECTIVES.get("nsgan").g_loss is nonsaturating_g_loss
    assert OBJECTIVES.get("mmgan").d_loss is OBJECTIVES.get("nsgan").d_loss is discriminator_loss
