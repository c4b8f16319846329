"""Objectives (registry ``OBJECTIVES``): pure functions of discriminator outputs, one file per paper."""

from gankit.objectives import (  # noqa: F401
    fgan,
    minimax,  # noqa: F401  (registers mmgan, nsgan)
    wasserstein,
)
from gankit.objectives.base import Objective

__all__ = ["Objective"]
