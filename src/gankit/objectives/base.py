"""The objective record every recipe consumes.

An objective is a pair of pure functions of discriminator outputs (docs/architecture.md rules 1-2):
``d_loss(real_out, fake_out) -> scalar`` minimised by the discriminator and ``g_loss(fake_out) -> scalar``
minimised by the generator. ``to_prob`` maps a raw score to what figures show as "D(x)" (a
probability for the Jensen-Shannon family; None for critics whose scores are unbounded).
``d_loss_targets(real_out, fake_out, real_targets, fake_targets)``, where present, is the discriminator
loss with per-sample soft labels (label smoothing and flipping); only cross-entropy objectives have it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class Objective:
    name: str
    d_loss: Callable[[Tensor, Tensor], Tensor]
    g_loss: Callable[[Tensor], Tensor]
    to_prob: Callable[[Tensor], Tensor] | None = None
    description: str = ""
    d_loss_targets: Callable[[Tensor, Tensor, Tensor, Tensor], Tensor] | None = None
