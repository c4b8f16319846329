"""The objective record every recipe consumes.

An objective is a pair of pure functions of discriminator outputs (DESIGN.md rules 1-2):
``d_loss(real_out, fake_out) -> scalar`` minimised by the discriminator and ``g_loss(fake_out) -> scalar``
minimised by the generator. ``to_prob`` maps a raw score to what figures show as "D(x)" (a
probability for the Jensen-Shannon family; None for critics whose scores are unbounded).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from torch import Tensor


@dataclass(frozen=True)
class Objective:
    name: str
    d_loss: Callable[[Tensor, Tensor], Tensor]
    g_loss: Callable[[Tensor], Tensor]
    to_prob: Optional[Callable[[Tensor], Tensor]] = None
    description: str = ""
