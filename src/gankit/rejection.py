"""Discriminator rejection sampling: the optimal discriminator turned into a sampler.

The lecture's optimal discriminator D*(x) = p_data(x) / (p_data(x) + p_g(x)) (Hung-yi Lee, Theory behind GAN,
"the optimal D") gives the density ratio in closed form:

    p_data(x) / p_g(x) = D*(x) / (1 - D*(x)) = exp(l*(x)),   l* = logit D*.

So generator samples x ~ p_g accepted with probability exp(l*(x) - M), where M >= max_x l*(x), are
distributed exactly as p_data: rejection sampling with proposal p_g and envelope e^M p_g. Azadi, Olsson,
Darrell, Goodfellow and Odena, "Discriminator Rejection Sampling" (ICLR 2019) make it practical:

1. the D of a finished run was trained against a moving G, so it is first *calibrated*: trained further,
   alone, against the final (EMA) generator with the cross-entropy loss whose minimiser is l*;
2. M is estimated as the largest logit among a burn-in sample of generator outputs, and raised whenever a
   larger logit is seen while sampling. gankit's option ``quantile`` < 1 fixes M at that quantile of the
   burn-in logits instead and accepts every sample with l >= M: the samples then follow
   p ∝ min(p_data, e^M p_g) exactly (the ratio capped at e^M), and one over-estimated logit no longer sets
   the acceptance of all the others (on grid25 the largest logit sat 2.6 nats above the 99.99 % quantile:
   acceptance 0.03 % with the max, 1.7 % with the 99.9 % quantile; BENCHMARKS.md);
3. acceptance is σ(F(x) - γ) with F(x) = l - M - log(1 - exp(l - M - ε)), the logit of exp(l - M):
   γ = 0 (the default here) is exact rejection sampling given M; γ > 0 accepts more (biased towards p_g).

Samples in the bridges between modes (where p_data ≈ 0) get l ≪ M and are rejected; modes the generator
under-covers get l > 0 and are kept more often. Applies to discriminators whose raw score is a logit of
D* (``objective.to_prob`` set: nsgan, mmgan, fgan-gan, fgan-js), one sample per score (``model.pack=1``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from gankit.errors import ConfigError
from gankit.evalmode import evaluating

if TYPE_CHECKING:
    from gankit.nets.capabilities import GeneratorNet

EPS = 1e-6  # ε of Azadi et al.: keeps log(1 - exp(l - M - ε)) finite at l = M
BURN_IN = 10_000  # generator samples whose largest logit starts M (the paper's 10,000)


def check_applies(recipe: Any) -> None:
    """ConfigError unless ``recipe``'s discriminator outputs one logit of D* per sample."""
    objective = getattr(recipe, "objective", None)
    if getattr(recipe, "discriminator", None) is None or objective is None:
        raise ConfigError("rejection sampling needs a recipe with a discriminator (the gan recipe)")
    if objective.to_prob is None:
        raise ConfigError(
            f"rejection sampling needs a discriminator whose score is a logit of D* = p/(p+q) "
            f"(objectives nsgan, mmgan, fgan-gan, fgan-js), not '{objective.name}' (a critic has no density ratio)"
        )
    if getattr(recipe, "uses_labels", False):
        raise ConfigError("rejection sampling of conditional recipes is not supported (D needs the condition)")
    if getattr(recipe, "pack", 1) != 1:
        raise ConfigError(f"rejection sampling needs one sample per discriminator score; model.pack={recipe.pack}")


def acceptance_logit(logits: Tensor, bound: float, gamma: float = 0.0) -> Tensor:
    """F(x) - γ of Azadi et al.: the logit of the acceptance probability exp(l - M) shifted by γ."""
    d = (logits.double() - bound).clamp(max=0.0)  # l ≤ M after the bound update; clamp guards rounding
    return d - torch.log(-torch.expm1(d - EPS)) - gamma


def calibrate(
    disc: nn.Module, fake: Callable[[int], Tensor], real: Callable[[int], Tensor], steps: int,
    batch_size: int, lr: float, betas: tuple[float, float] = (0.5, 0.999),
) -> list[float]:
    """Train ``disc`` alone (G fixed) with binary cross-entropy on its raw outputs as logits.

    Its minimiser over all functions is l*(x) = log p_data(x) / p_g(x). Returns the loss every step.
    ``fake(n)`` and ``real(n)`` draw batches; the caller controls the RNG.
    """
    opt = torch.optim.Adam(disc.parameters(), lr=lr, betas=betas)
    disc.train()
    losses = []
    for _ in range(steps):
        xr, xf = real(batch_size), fake(batch_size)
        lr_, lf = disc(xr).reshape(-1), disc(xf).reshape(-1)
        loss = F.binary_cross_entropy_with_logits(lr_, torch.ones_like(lr_)) + \
            F.binary_cross_entropy_with_logits(lf, torch.zeros_like(lf))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    disc.eval()
    return losses


@dataclass
class RejectionResult:
    """Samples drawn by rejection and what it cost.

    Attributes:
        samples: (n, *shape) accepted generator samples.
        acceptance: accepted / proposed.
        proposed: generator samples drawn (burn-in excluded).
        bound: M at the end (the largest logit seen).
    """

    samples: Tensor
    acceptance: float
    proposed: int
    bound: float


@torch.no_grad()
def rejection_sample(
    propose: Callable[[int], Tensor], logit: Callable[[Tensor], Tensor], n: int, generator: torch.Generator,
    gamma: float = 0.0, batch: int = 4096, burn_in: int = BURN_IN, min_acceptance: float = 1e-4,
    quantile: float = 1.0,
) -> RejectionResult:
    """``n`` samples of ``propose`` accepted with probability σ(F(x) - γ) (exactly exp(l - M) at γ = 0).

    Args:
        propose: draws a batch of generator samples.
        logit: raw discriminator scores (logits of D*) of a batch.
        n: samples wanted.
        generator: the RNG of the acceptance draws (the proposals use ``propose``'s own).
        gamma: acceptance shift; 0 is exact rejection sampling given the bound.
        batch: proposals per round.
        burn_in: proposals whose largest logit starts the bound M (not returned).
        min_acceptance: give up with a ConfigError when fewer than this fraction is accepted.
        quantile: 1 (Azadi et al.): M is the largest logit seen, burn-in and sampling; q < 1: M is the
            q-quantile of the burn-in logits, kept fixed (samples follow p ∝ min(p_data, e^M p_g)).
    """
    if n <= 0:
        raise ConfigError(f"the number of samples must be > 0, got {n}")
    if not 0.0 < quantile <= 1.0:
        raise ConfigError(f"the rejection bound's quantile must be in (0, 1], got {quantile}")
    if quantile < 1.0 and burn_in <= 0:
        raise ConfigError("a quantile bound needs burn-in samples (burn_in > 0)")
    burned = torch.cat([logit(propose(min(batch, burn_in - start))).reshape(-1).double().cpu()
                        for start in range(0, burn_in, batch)] or [torch.full((1,), -math.inf, dtype=torch.float64)])
    bound = float(torch.quantile(burned, quantile)) if quantile < 1.0 else float(burned.max())
    kept: list[Tensor] = []
    have = proposed = 0
    max_proposed = max(int(n / min_acceptance), burn_in)
    while have < n:
        if proposed >= max_proposed:
            raise ConfigError(
                f"rejection sampling accepted {have} of {proposed} samples (< {min_acceptance:g}): the "
                "discriminator separates the generator from the data almost perfectly; train longer"
            )
        x = propose(batch)
        scores = logit(x).reshape(-1).double().cpu()
        if quantile == 1.0:
            bound = max(bound, float(scores.max()))  # Azadi et al.: M follows the largest logit seen
        p = torch.sigmoid(acceptance_logit(scores, bound, gamma))
        keep = torch.rand(len(p), generator=generator, dtype=torch.float64) < p
        kept.append(x[keep.to(x.device)])
        have += int(keep.sum())
        proposed += len(p)
    samples = torch.cat(kept)[:n]
    return RejectionResult(samples, have / proposed, proposed, bound)


def recipe_sampler(
    recipe: Any, dataset: Any, net: nn.Module, steps: int, seed: int, batch_size: int, lr: float,
    gamma: float = 0.0, quantile: float = 1.0,
) -> Callable[[int], RejectionResult]:
    """A DRS sampler for a trained recipe: calibrate a copy of its D against ``net`` (e.g. the EMA G).

    The recipe's own discriminator and every RNG the training uses are left untouched: calibration runs
    on a deep copy under ``torch.random.fork_rng`` seeded with ``seed``. Returns ``draw(n)``.
    """
    check_applies(recipe)
    disc = copy.deepcopy(recipe.discriminator).requires_grad_(True)
    device = next(disc.parameters()).device
    prepare = getattr(recipe, "d_input", None)

    def fake(k: int, gen: torch.Generator | None = None) -> Tensor:
        with evaluating(net):
            x = net(cast("GeneratorNet", net).sample_noise(k, device=device, generator=gen))
        return x

    def to_d(x: Tensor) -> Tensor:
        return prepare(x, 0.0) if prepare is not None else x  # no instance noise: D* of the clean data

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if steps > 0:
            calibrate(disc, lambda k: to_d(fake(k)), lambda k: to_d(dataset.sample(k, device)), steps, batch_size, lr)
    disc.eval()

    def draw(n: int) -> RejectionResult:
        gen = torch.Generator(device="cpu").manual_seed(seed + 1)
        prop_gen = torch.Generator(device="cpu").manual_seed(seed + 2)
        return rejection_sample(lambda k: fake(k, prop_gen), lambda x: disc(to_d(x)), n, gen, gamma=gamma,
                                quantile=quantile)

    return draw


def config_sampler(recipe: Any, dataset: Any, net: nn.Module, cfg: Any, steps: int | None = None,
                   seed: int = 0) -> Callable[[int], RejectionResult]:
    """:func:`recipe_sampler` with a run's ``eval.rejection*`` settings (``steps`` defaults to eval.rejection)."""
    ev = cfg.eval
    return recipe_sampler(recipe, dataset, net, ev.rejection if steps is None else steps, ev.seed + 5 + seed,
                          cfg.data.batch_size, ev.rejection_lr, ev.rejection_gamma, ev.rejection_quantile)
