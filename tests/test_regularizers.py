"""Regularisers against their closed forms on critics whose gradients are known (both directions)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from gankit.nets.mlp import MLPDiscriminator
from gankit.regularizers import (
    add_instance_noise,
    clip_weights_,
    gradient_penalty,
    lipschitz_estimate,
    r1_penalty,
)

D64 = torch.float64


class Linear(nn.Module):
    """D(x) = w · vec(x) + b: ∇_x D = w everywhere, so every gradient penalty has a closed form."""

    def __init__(self, w: torch.Tensor, b: float = 0.3) -> None:
        super().__init__()
        self.w = nn.Parameter(w.to(D64).flatten())
        self.b = nn.Parameter(torch.tensor(b, dtype=D64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.w + self.b  # (B,)


def _unit(n: int, seed: int = 0) -> torch.Tensor:
    w = torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=D64)
    return w / w.norm()


# ----------------------------------------------------------------------------------------------------
# Weight clipping
# ----------------------------------------------------------------------------------------------------


def test_clipping_bounds_every_parameter_and_is_idempotent():
    torch.manual_seed(0)
    net = MLPDiscriminator(2, width=16, depth=2)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(10)  # most weights now far outside [−c, c]
    before = [p.detach().clone() for p in net.parameters()]
    c = 0.01
    assert clip_weights_(net, c) is net
    after = [p.detach().clone() for p in net.parameters()]
    for b, a in zip(before, after):
        assert float(a.abs().max()) <= c
        assert_close(a, b.clamp(-c, c), rtol=0, atol=0)  # inside values untouched, outside ones set to ±c
    assert any(bool((a.abs() == c).any()) for a in after)
    clip_weights_(net, c)
    assert all(torch.equal(a, p) for a, p in zip(after, net.parameters()))  # clipping twice = once
    with pytest.raises(ValueError):
        clip_weights_(net, 0.0)


def test_clipping_bounds_the_critics_lipschitz_constant():
    """A clipped linear critic has Lip = ‖w‖ <= c √d; the pairwise estimate sees it."""
    torch.manual_seed(1)
    lin = nn.Linear(8, 1)
    with torch.no_grad():
        lin.weight.normal_(0, 5)
    critic = lambda x: lin(x).squeeze(1)  # noqa: E731
    x, y = torch.randn(200, 8), torch.randn(200, 8)
    assert lipschitz_estimate(critic, x, y) > 1.0
    clip_weights_(lin, 0.01)
    assert lipschitz_estimate(critic, x, y) <= 0.01 * math.sqrt(8) + 1e-6


# ----------------------------------------------------------------------------------------------------
# Gradient penalty (WGAN-GP) and R1
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3,), (2, 3, 3)])
def test_gradient_penalty_vanishes_for_a_unit_gradient_critic(shape):
    n = int(torch.Size(shape).numel())
    critic = Linear(_unit(n).reshape(shape))
    gen = torch.Generator().manual_seed(2)
    real, fake = torch.randn(16, *shape, generator=gen, dtype=D64), torch.randn(16, *shape, generator=gen, dtype=D64)
    gp = gradient_penalty(critic, real, fake)
    assert_close(gp, torch.zeros((), dtype=D64), rtol=0, atol=1e-24)


@pytest.mark.parametrize("norm", [0.0, 0.5, 3.0])
@pytest.mark.parametrize("shape", [(3,), (2, 3, 3)])
def test_gradient_penalty_is_weight_times_squared_norm_gap_for_a_linear_critic(norm, shape):
    n = int(torch.Size(shape).numel())
    critic = Linear(norm * _unit(n, seed=3).reshape(shape))
    gen = torch.Generator().manual_seed(4)
    real, fake = torch.randn(8, *shape, generator=gen, dtype=D64), torch.randn(8, *shape, generator=gen, dtype=D64)
    for weight, target in ((10.0, 1.0), (2.5, 1.0), (1.0, 2.0)):
        gp = gradient_penalty(critic, real, fake, weight=weight, target=target)
        assert_close(gp, torch.tensor(weight * (norm - target) ** 2, dtype=D64))


def test_gradient_penalty_trains_the_critic_not_the_generator():
    """create_graph=True: the penalty has the closed-form gradient 2λ(‖w‖ − 1) w/‖w‖ in w; the fake batch
    is detached, so nothing flows back into the generator."""
    w = 3.0 * _unit(4, seed=5)
    critic = Linear(w)
    real = torch.randn(8, 4, dtype=D64)
    fake = torch.randn(8, 4, dtype=D64, requires_grad=True)
    gp = gradient_penalty(critic, real, fake * 1.0, weight=10.0)
    gp.backward()
    assert_close(critic.w.grad, 2 * 10.0 * (3.0 - 1.0) * w / 3.0)
    assert fake.grad is None


def test_gradient_penalty_uses_per_sample_random_interpolates():
    """With D(x) = ½‖x‖², ∇D(x̂) = x̂: the penalty reproduces x̂ = εx + (1 − ε)x̃ with ε ~ U[0, 1] per sample,
    ε broadcast over the sample's dimensions (same private generator, same draws)."""
    critic = lambda x: 0.5 * x.flatten(1).pow(2).sum(1)  # noqa: E731
    real = torch.randn(32, 2, 2, dtype=D64)
    fake = torch.randn(32, 2, 2, dtype=D64)
    gp = gradient_penalty(critic, real, fake, weight=1.0, generator=torch.Generator().manual_seed(7))
    eps = torch.rand((32, 1, 1), generator=torch.Generator().manual_seed(7), dtype=D64)
    x_hat = eps * real + (1 - eps) * fake
    assert_close(gp, ((x_hat.flatten(1).norm(dim=1) - 1) ** 2).mean())
    # not the endpoints: the interpolates differ from both real and fake
    assert not torch.allclose(gp, ((real.flatten(1).norm(dim=1) - 1) ** 2).mean())
    assert not torch.allclose(gp, ((fake.flatten(1).norm(dim=1) - 1) ** 2).mean())
    with pytest.raises(ValueError):
        gradient_penalty(critic, real, fake[:5])


@pytest.mark.parametrize("norm", [0.0, 1.0, 3.0])
def test_r1_is_half_weight_times_squared_gradient_norm(norm):
    critic = Linear(norm * _unit(5, seed=8))
    real = torch.randn(10, 5, dtype=D64)
    for weight in (1.0, 10.0):
        assert_close(r1_penalty(critic, real, weight), torch.tensor(weight / 2 * norm**2, dtype=D64))


def test_r1_is_on_real_data_and_differentiable():
    critic = lambda x: 0.5 * x.pow(2).sum(1)  # noqa: E731  ∇D(x) = x
    real = torch.randn(64, 3, dtype=D64)
    assert_close(r1_penalty(critic, real, 4.0), 2.0 * real.pow(2).sum(1).mean())
    w = (2.0 * _unit(3)).requires_grad_(True)
    r1 = r1_penalty(lambda x: x @ w, real, 1.0)  # ½ ‖w‖²: gradient w
    (g,) = torch.autograd.grad(r1, w)
    assert_close(g, w.detach())


# ----------------------------------------------------------------------------------------------------
# Instance noise and the Lipschitz estimate
# ----------------------------------------------------------------------------------------------------


def test_instance_noise_has_the_requested_std_and_zero_is_identity():
    x = torch.randn(400, 500, dtype=D64)
    assert add_instance_noise(x, 0.0) is x
    for std in (0.1, 0.5, 2.0):
        noisy = add_instance_noise(x, std, generator=torch.Generator().manual_seed(9))
        assert noisy.shape == x.shape and noisy.dtype == x.dtype
        noise = noisy - x
        n = noise.numel()  # 200,000 draws: the sample std has std err σ/√(2n)
        assert abs(float(noise.std()) - std) < 5 * std / math.sqrt(2 * n)
        assert abs(float(noise.mean())) < 5 * std / math.sqrt(n)
    a = add_instance_noise(x, 0.3, generator=torch.Generator().manual_seed(1))
    b = add_instance_noise(x, 0.3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    with pytest.raises(ValueError):
        add_instance_noise(x, -0.1)


def test_lipschitz_estimate_of_a_linear_critic():
    w = 2.5 * _unit(3, seed=10)
    critic = Linear(w)
    gen = torch.Generator().manual_seed(11)
    x, y = torch.randn(300, 3, generator=gen, dtype=D64), torch.randn(300, 3, generator=gen, dtype=D64)
    est = lipschitz_estimate(critic, x, y)  # max over pairs of ‖w‖ |cos angle(w, x − y)|
    assert est <= 2.5 + 1e-12
    assert est > 0.995 * 2.5
    assert lipschitz_estimate(critic, x[:1], x[:1]) == 0.0  # only coinciding points: no quotient
