"""Latent priors p(z): what a generator's ``sample_noise`` draws, and what an adversarial autoencoder's
codes are pushed towards.

- ``normal``: N(0, I) in any dimension (the GAN lectures, Kingma & Welling's VAE).
- ``uniform``: U(0, 1)^d (the lecture's 1-D example).
- ``mixture``: a mixture of 10 two-dimensional Gaussians on a circle, the prior of Makhzani et al.,
  "Adversarial Autoencoders" (ICLR 2016 workshop), Figures 2 and 4: component k is elongated along the
  ray at angle 2πk/10, with its centre at radius 1.4, standard deviation 0.5 along the ray and 0.05
  across it (the petal shape of the paper's figures; ``spread``, ``generator.prior_spread``, widens the petals);
  the components have equal weight.
- ``swissroll``: a 2-D swiss roll, the paper's Figure 4 (right): u ~ U(0, 1), radius 3√u, angle 4π√u.

The two 2-D priors can be conditioned on a class label (the paper's section 2.3, "Incorporating label
information in the adversarial regularization"): class k draws from component k of the mixture, or from
segment k of the roll (u in [k/10, (k+1)/10)). Every sampler takes an optional private
``torch.Generator``, so figures and metrics never move the training RNG.
"""

from __future__ import annotations

import math

import torch
from scipy.special import ndtri
from torch import Tensor

from gankit.errors import ConfigError

PRIORS = ("normal", "uniform", "mixture", "swissroll")
TWO_D = ("mixture", "swissroll")  # priors defined in two dimensions only
COMPONENTS = 10  # mixture components, and swiss-roll segments for labels
MIX_RADIUS, MIX_RADIAL_STD, MIX_TANGENTIAL_STD = 1.4, 0.5, 0.05
ROLL_RADIUS, ROLL_TURNS = 3.0, 2.0  # radius 3√u, angle 2π · turns · √u


def check_prior(kind: str, dim: int) -> None:
    """ConfigError unless ``kind`` is a known prior that exists in ``dim`` dimensions."""
    if kind not in PRIORS:
        raise ConfigError(f"unknown prior '{kind}'; choose one of: {', '.join(PRIORS)}")
    if kind in TWO_D and dim != 2:
        raise ConfigError(f"the '{kind}' prior is two-dimensional: set generator.noise_dim=2 (got {dim})")


def _draw(fn, shape: tuple[int, ...], generator: torch.Generator | None, device) -> Tensor:  # noqa: ANN001
    if generator is not None:
        z = fn(*shape, generator=generator, device=generator.device)
        return z.to(device) if device is not None else z
    return fn(*shape, device=device)


def _labels(labels: Tensor | None, n: int, generator: torch.Generator | None, device) -> Tensor:  # noqa: ANN001
    """The component of each sample: the given labels, or uniform draws (the marginal prior)."""
    if labels is None:
        return _draw(lambda m, **kw: torch.randint(COMPONENTS, (m,), **kw), (n,), generator, device)
    labels = labels.to(device=device, dtype=torch.int64)
    if labels.shape != (n,):
        raise ValueError(f"expected {n} labels, got shape {tuple(labels.shape)}")
    if n and (int(labels.min()) < 0 or int(labels.max()) >= COMPONENTS):
        raise ConfigError(f"a label-conditioned prior has {COMPONENTS} components (classes 0..{COMPONENTS - 1}), "
                          f"got class {int(labels.max())}")
    return labels


def sample_prior(kind: str, n: int, dim: int, generator: torch.Generator | None = None,
                 device: torch.device | str | None = None, labels: Tensor | None = None, spread: float = 0.0) -> Tensor:
    """(n, dim) draws from prior ``kind``; with ``labels`` (mixture, swissroll) class k draws from part k.
    ``spread`` > 0: the mixture's standard deviation across each ray instead of ``MIX_TANGENTIAL_STD``
    (wider petals)."""
    check_prior(kind, dim)
    if kind == "normal":
        return _draw(torch.randn, (n, dim), generator, device)
    if kind == "uniform":
        return _draw(torch.rand, (n, dim), generator, device)
    k = _labels(labels, n, generator, device).to(torch.float32)
    if kind == "mixture":
        eps = _draw(torch.randn, (n, 2), generator, device)
        radial = MIX_RADIUS + MIX_RADIAL_STD * eps[:, 0]
        across = (spread or MIX_TANGENTIAL_STD) * eps[:, 1]
        angle = 2 * math.pi * k / COMPONENTS
        c, s = torch.cos(angle), torch.sin(angle)
        return torch.stack([radial * c - across * s, radial * s + across * c], 1)
    u = (k + _draw(torch.rand, (n,), generator, device)) / COMPONENTS  # segment k: u in [k/10, (k+1)/10)
    root = u.sqrt()
    angle = 2 * math.pi * ROLL_TURNS * root
    return torch.stack([ROLL_RADIUS * root * torch.cos(angle), ROLL_RADIUS * root * torch.sin(angle)], 1)


def component_of(kind: str, z: Tensor) -> Tensor:
    """(n,) the mixture component (nearest ray) or swiss-roll segment that 2-D points ``z`` belong to.

    For the roll the segment follows from the radius alone (u = (r/3)²), exact for points on the roll.
    """
    if kind == "mixture":
        angle = torch.atan2(z[:, 1], z[:, 0]) % (2 * math.pi)
        return torch.round(angle / (2 * math.pi / COMPONENTS)).long() % COMPONENTS
    if kind == "swissroll":
        u = (z.norm(dim=1) / ROLL_RADIUS) ** 2
        return (u * COMPONENTS).floor().long().clamp(0, COMPONENTS - 1)
    raise ConfigError(f"prior '{kind}' has no components; use mixture or swissroll")


def box(kind: str) -> tuple[float, float]:
    """(low, high) of a square holding (nearly) all the prior's mass in each of the first two coordinates."""
    if kind == "uniform":
        return 0.0, 1.0
    if kind == "mixture":
        r = MIX_RADIUS + 3 * MIX_RADIAL_STD
        return -r, r
    if kind == "swissroll":
        return -ROLL_RADIUS, ROLL_RADIUS
    return -3.0, 3.0


def lattice(kind: str, side: int) -> Tensor:
    """(side², 2) an evenly spaced lattice of 2-D codes, row by row from the top (largest z₂) down.

    For the Gaussian prior it is the lattice of Kingma & Welling's Figure 4: evenly spaced points of the
    unit square, (i + 1/2)/side, mapped through the inverse normal CDF, so each cell holds equal prior
    mass. For the other priors: cell centres of an even lattice over the prior's :func:`box`.
    """
    if side < 1:
        raise ConfigError(f"the lattice needs at least 1 point per side, got {side}")
    t = (torch.arange(side, dtype=torch.float64) + 0.5) / side
    if kind == "normal":
        axis = torch.from_numpy(ndtri(t.numpy()))
    else:
        lo, hi = box(kind)
        axis = lo + (hi - lo) * t
    ys, xs = torch.meshgrid(axis.flip(0), axis, indexing="ij")  # rows: z₂ from high to low
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], 1).float()
